//! The per-user set of live session ids (`USER#<uid>` / `LIVE`) that makes a session limit
//! exact. Every login adds its session id in the transaction that writes the session, on
//! the condition that the set is complete (`seeded`) and smaller than the limit; every end
//! removes it in the termination's transaction. DynamoDB serialises transactions on one
//! item, so no race lets a login past the limit: of 20 concurrent logins with a limit of 3,
//! exactly as many succeed as there is room.
//!
//! The set only grows through logins under the limit and only shrinks through ends, so it
//! can hold a stale id only when the limit was switched off and on again (an end while off
//! removed nothing); [`Store::forget_live_sessions`] drops those after a consistent read
//! shows them ended. Written only while a limit is configured ([`Store::track_live`]):
//! without one, logins and ends cost nothing more.
//!
//! Write units: the item is ≈ 60 bytes + 40 per session id, 1 WCU (2 in a transaction)
//! for any limit up to 20.

use super::throttle::Reservation;
use super::{bld, item_key, n, Store};
use crate::store::schema::{keys, to_item, SessionItem, UserItem};
use crate::store::StoreError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};

/// What the set says (one consistent read).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveSessions {
    /// The set was filled from the user's sessions once (so every live session is in it).
    pub seeded: bool,
    /// The session ids in the set.
    pub sids: Vec<String>,
}

/// How writing a new session went ([`Store::put_session_releasing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionWrite {
    /// The session is stored (and counted in the live set, when one is kept).
    Written,
    /// The user was deleted or disabled, or their password changed, since they were read:
    /// no session.
    UserChanged,
    /// The live set is full, or not seeded yet: no session. See
    /// [`crate::session::limit::make_room`].
    NoRoom,
}

fn ss(v: impl IntoIterator<Item = impl Into<String>>) -> AttributeValue {
    AttributeValue::Ss(v.into_iter().map(Into::into).collect())
}

impl Store {
    /// Whether a live set is kept per user (a session limit is configured): then every
    /// termination's transaction also writes the user's live-set item.
    pub fn tracks_live(&self) -> bool {
        self.track_live
    }

    /// The transaction item removing `sids` from `user_id`'s live set, or `None` when no
    /// set is kept (no session limit). One item for many sessions of one user: a
    /// transaction may not name an item twice.
    pub(crate) fn live_set_release_tx(
        &self,
        user_id: &str,
        sids: &[&str],
    ) -> Result<Option<TransactWriteItem>, StoreError> {
        if !self.track_live || sids.is_empty() {
            return Ok(None);
        }
        let (pk, sk) = keys::live_sessions(user_id);
        let u = bld(Update::builder()
            .table_name(&self.table)
            .set_key(Some(item_key(pk, sk)))
            .update_expression("DELETE sids :gone")
            .expression_attribute_values(":gone", ss(sids.iter().copied()))
            .build())?;
        Ok(Some(TransactWriteItem::builder().update(u).build()))
    }

    /// Write a new session and give back the attempt that created it, in 1 TransactWriteItems:
    /// the session (put only if absent); a check that the user still exists, is not disabled
    /// and has the password version the login checked; with a session limit, the session id added to the user's live set if the
    /// set is seeded and below `limit`; one decrement per reserved counter.
    pub async fn put_session_releasing(
        &self,
        session: &SessionItem,
        user: &UserItem,
        reservation: &Reservation,
        limit: Option<u32>,
    ) -> Result<SessionWrite, StoreError> {
        let mut tx = vec![TransactWriteItem::builder()
            .put(bld(Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item(session)?))
                .condition_expression("attribute_not_exists(pk)")
                .build())?)
            .build()];
        let (upk, usk) = keys::user(&user.user_id);
        // The password checked at login must still be the user's: a change or reset between
        // the check and this write would otherwise leave a session its termination missed.
        // Users stored before `credential_version` existed read as version 0.
        let version = if user.credential_version == 0 {
            "(attribute_not_exists(credential_version) OR credential_version = :cv)"
        } else {
            "credential_version = :cv"
        };
        tx.push(
            TransactWriteItem::builder()
                .condition_check(bld(ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(item_key(upk, usk)))
                    .condition_expression(format!(
                        "attribute_exists(pk) AND (attribute_not_exists(disabled) OR disabled = :no) AND {version}"
                    ))
                    .expression_attribute_values(":no", AttributeValue::Bool(false))
                    .expression_attribute_values(":cv", n(user.credential_version))
                    .build())?)
                .build(),
        );
        let counted = self.track_live && limit.is_some();
        if let (true, Some(limit)) = (counted, limit) {
            let (pk, sk) = keys::live_sessions(&user.user_id);
            tx.push(
                TransactWriteItem::builder()
                    .update(bld(Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(item_key(pk, sk)))
                        .update_expression("ADD sids :sid")
                        .condition_expression(
                            "attribute_exists(seeded) AND (attribute_not_exists(sids) OR size(sids) < :limit)",
                        )
                        .expression_attribute_values(":sid", ss([session.sid.as_str()]))
                        .expression_attribute_values(":limit", n(i64::from(limit)))
                        .build())?)
                    .build(),
            );
        }
        tx.extend(reservation.release_items(&self.table)?);
        match self.transact(tx).await {
            Ok(()) => Ok(SessionWrite::Written),
            Err(StoreError::TransactionCancelled(r)) => {
                let failed = |i: usize| r.get(i).is_some_and(|c| c == "ConditionalCheckFailed");
                if failed(1) {
                    Ok(SessionWrite::UserChanged)
                } else if counted && failed(2) {
                    Ok(SessionWrite::NoRoom)
                } else {
                    Err(StoreError::TransactionCancelled(r))
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The user's live set. 1 round trip (GetItem, strongly consistent).
    pub async fn live_sessions(&self, user_id: &str) -> Result<LiveSessions, StoreError> {
        let (pk, sk) = keys::live_sessions(user_id);
        let Some(item) = self.get(&pk, &sk).await? else {
            return Ok(LiveSessions::default());
        };
        let seeded = matches!(item.get("seeded"), Some(AttributeValue::Bool(true)));
        let mut sids = match item.get("sids") {
            Some(AttributeValue::Ss(v)) => v.clone(),
            _ => Vec::new(),
        };
        sids.sort();
        Ok(LiveSessions { seeded, sids })
    }

    /// Fill the live set once from the user's live sessions (`sids`, read from `gsi1`), and
    /// mark it complete. A concurrent seeding wins harmlessly (its condition keeps the first).
    /// 1 round trip (UpdateItem).
    pub async fn seed_live_sessions(
        &self,
        user_id: &str,
        sids: &[String],
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::live_sessions(user_id);
        let mut u = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(pk, sk)))
            .condition_expression("attribute_not_exists(seeded)")
            .expression_attribute_values(":yes", AttributeValue::Bool(true));
        u = if sids.is_empty() {
            u.update_expression("SET seeded = :yes")
        } else {
            u.update_expression("SET seeded = :yes ADD sids :sids")
                .expression_attribute_values(":sids", ss(sids.iter().cloned()))
        };
        match u.send().await.map_err(StoreError::from_sdk) {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Drop ids of sessions that are no longer live from the user's set (a consistent read
    /// showed them ended or gone). 1 round trip (UpdateItem).
    pub async fn forget_live_sessions(
        &self,
        user_id: &str,
        sids: &[String],
    ) -> Result<(), StoreError> {
        if sids.is_empty() {
            return Ok(());
        }
        let (pk, sk) = keys::live_sessions(user_id);
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(pk, sk)))
            .update_expression("DELETE sids :gone")
            .expression_attribute_values(":gone", ss(sids.iter().cloned()))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Sessions by id, in order (`None`: no such session). 1 round trip (BatchGetItem,
    /// strongly consistent; at most 100).
    pub async fn get_sessions(
        &self,
        sids: &[String],
    ) -> Result<Vec<Option<SessionItem>>, StoreError> {
        let keys: Vec<(String, String)> = sids
            .iter()
            .map(|sid| (keys::session_pk(sid), keys::SESSION_SK.to_string()))
            .collect();
        self.get_many(&keys)
            .await?
            .into_iter()
            .map(|i| i.map(crate::store::schema::from_item).transpose())
            .collect()
    }
}
