//! A user's recently ended sessions (issue 20, My Account's "Recently ended"): ending a
//! session removes its `gsi1` keys, so the user's list only ever shows live sessions. Each
//! termination a person can see is followed by an [`EndedMarker`] in the user's partition;
//! this file writes the markers and reads them back with the sessions and receipts they point
//! at.

use super::{n, s, Store};
use crate::store::schema::{
    from_item, keys, to_item, DeliveryItem, EndedMarker, SessionItem, ENDED_MARKER_PREFIX,
};
use crate::store::StoreError;

/// One ended session as the reader found it: the session item and the receipts of its
/// back-channel apps (in client-id order; an app whose delivery is gone is absent).
#[derive(Debug, Clone)]
pub struct EndedSession {
    /// The session item (status `ended`).
    pub session: SessionItem,
    /// Its back-channel deliveries.
    pub deliveries: Vec<DeliveryItem>,
}

impl Store {
    /// Write markers for ended sessions. 1 round trip (BatchWriteItem) per 25 markers, 1
    /// write unit each; unprocessed items are sent again (up to 4 attempts).
    pub async fn put_ended_markers(&self, markers: &[EndedMarker]) -> Result<(), StoreError> {
        let puts = markers.iter().map(to_item).collect::<Result<Vec<_>, _>>()?;
        self.write_many(puts, Vec::new()).await
    }

    /// The user's most recently ended sessions (newest first, at most `limit`, ≤ 25), each
    /// with its receipts. Only sessions that are the user's and ended are returned (a marker
    /// is only a pointer; the session item decides). Round trips: 1 Query (the markers) +
    /// 1 BatchGetItem (the sessions) + 1 BatchGetItem (their apps' deliveries; none when no
    /// session had a back-channel app) — 3 at most.
    pub async fn recently_ended(
        &self,
        user_id: &str,
        now_s: i64,
        limit: usize,
    ) -> Result<Vec<EndedSession>, StoreError> {
        let limit = limit.clamp(1, 25);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
            .filter_expression("expires_at > :now")
            .expression_attribute_values(":pk", s(keys::user(user_id).0))
            .expression_attribute_values(":p", s(ENDED_MARKER_PREFIX))
            .expression_attribute_values(":now", n(now_s))
            .scan_index_forward(false)
            .limit(limit as i32)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let mut markers: Vec<EndedMarker> = Vec::new();
        for it in out.items.unwrap_or_default() {
            let m: EndedMarker = from_item(it)?;
            if !markers.iter().any(|x| x.sid == m.sid) {
                markers.push(m);
            }
        }
        if markers.is_empty() {
            return Ok(Vec::new());
        }
        let session_keys: Vec<(String, String)> = markers
            .iter()
            .map(|m| (keys::session_pk(&m.sid), keys::SESSION_SK.to_string()))
            .collect();
        let sessions: Vec<SessionItem> = self
            .get_many(&session_keys)
            .await?
            .into_iter()
            .flatten()
            .map(from_item::<SessionItem>)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|s| s.user_id == user_id && s.ended_at_ms.is_some())
            .collect();
        let delivery_keys: Vec<(String, String)> = sessions
            .iter()
            .flat_map(|s| {
                s.apps
                    .iter()
                    .filter(|(_, a)| a.backchannel)
                    .map(|(cid, _)| (keys::session_pk(&s.sid), keys::delivery_sk(cid)))
            })
            .take(100)
            .collect();
        let mut deliveries: Vec<DeliveryItem> = if delivery_keys.is_empty() {
            Vec::new()
        } else {
            self.get_many(&delivery_keys)
                .await?
                .into_iter()
                .flatten()
                .map(from_item::<DeliveryItem>)
                .collect::<Result<Vec<_>, _>>()?
        };
        let mut found: Vec<EndedSession> = sessions
            .into_iter()
            .map(|session| {
                let (mine, rest): (Vec<_>, Vec<_>) = deliveries
                    .drain(..)
                    .partition(|d| d.sid == session.sid && d.user_id == session.user_id);
                deliveries = rest;
                let mut mine = mine;
                mine.sort_by(|a, b| a.client_id.cmp(&b.client_id));
                EndedSession {
                    session,
                    deliveries: mine,
                }
            })
            .collect();
        found.sort_by_key(|e| std::cmp::Reverse(e.session.ended_at_ms));
        Ok(found)
    }
}
