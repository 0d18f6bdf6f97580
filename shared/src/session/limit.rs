//! The concurrent session limit (`WARDEN_SESSION_LIMIT`, `WARDEN_SESSION_LIMIT_POLICY`).
//!
//! The count is exact: a login's session write adds its id to the user's live set only while
//! the set is below the limit, in the same transaction ([`crate::store::LiveSessions`]); every
//! end removes it in the termination's transaction. When a login finds no room,
//! [`make_room`] looks at the set with consistent reads and either frees room that is not
//! really taken (ids of sessions already ended, sessions past their expiry that the sweep has
//! not reached yet: ended now, as timeouts), or applies the policy: `deny` hands the live
//! sessions back for the login page to offer, the eviction policies end one session through
//! termination (reason `session_limit`, actor the system, its apps told) and the login tries
//! again. A victim that a concurrent login evicted first only means another try; the
//! transaction's condition, not this code, is what keeps the fourth session out.

use crate::app::App;
use crate::config::SessionLimitPolicy;
use crate::platform::time::now_s;
use crate::session::terminate::terminate_by;
use crate::store::schema::{EndReason, EndedBy, SessionItem, SessionStatus};
use crate::store::StoreError;

/// The most session ids one [`make_room`] reads (one BatchGetItem).
const READ_AT_MOST: usize = 100;

/// What [`make_room`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Room {
    /// Room was made (or the set changed meanwhile): write the session again.
    Retry,
    /// The user has the limit's number of live sessions and the policy is `deny`: these.
    Full(Vec<SessionItem>),
}

/// The live set's ids sorted by what their sessions really are (no I/O).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Census {
    /// Ids whose session is gone or ended: to drop from the set.
    pub stale: Vec<String>,
    /// Sessions still active but past their expiry: to end now (as timeouts).
    pub expired: Vec<SessionItem>,
    /// Live sessions.
    pub live: Vec<SessionItem>,
}

/// Sort the set's ids (`sids`, with their sessions `found` in the same order) at `now_s`.
pub fn census(sids: &[String], found: Vec<Option<SessionItem>>, now_s: i64) -> Census {
    let mut c = Census::default();
    for (sid, s) in sids.iter().zip(found) {
        match s {
            Some(s) if s.is_live(now_s) => c.live.push(s),
            Some(s) if s.status == SessionStatus::Active => c.expired.push(s),
            _ => c.stale.push(sid.clone()),
        }
    }
    c
}

/// The session an eviction policy ends: the one that started first (`evict_oldest`) or the
/// one used least recently (`evict_idlest`); ties go to the smaller id. `None` for `deny`
/// or no sessions.
pub fn victim(policy: SessionLimitPolicy, live: &[SessionItem]) -> Option<&SessionItem> {
    match policy {
        SessionLimitPolicy::Deny => None,
        SessionLimitPolicy::EvictOldest => live
            .iter()
            .min_by(|a, b| (a.created_ms, &a.sid).cmp(&(b.created_ms, &b.sid))),
        SessionLimitPolicy::EvictIdlest => live
            .iter()
            .min_by(|a, b| (a.last_seen_ms, &a.sid).cmp(&(b.last_seen_ms, &b.sid))),
    }
}

/// Make room for one more session of `user_id`, or say there is none (see the module doc).
///
/// Round trips: 1 GetItem (the set). Not seeded yet (the first login with no room after a
/// limit was configured): + the user's session list (1 Query) + 1 UpdateItem. Otherwise
/// + 1 BatchGetItem (the set's sessions), + 1 UpdateItem when stale ids are dropped, + one
///   termination per expired session or the evicted one ([`terminate_by`]).
pub async fn make_room(
    app: &App,
    user_id: &str,
    limit: u32,
    policy: SessionLimitPolicy,
) -> Result<Room, StoreError> {
    let now = now_s();
    let set = app.store.live_sessions(user_id).await?;
    if !set.seeded {
        let live: Vec<String> = app
            .store
            .all_user_sessions(user_id, now)
            .await?
            .into_iter()
            .filter(|s| s.is_live(now))
            .map(|s| s.sid)
            .collect();
        app.store.seed_live_sessions(user_id, &live).await?;
        return Ok(Room::Retry);
    }
    let sids: Vec<String> = set.sids.into_iter().take(READ_AT_MOST).collect();
    let found = app.store.get_sessions(&sids).await?;
    let c = census(&sids, found, now);
    let mut freed = !c.stale.is_empty();
    app.store.forget_live_sessions(user_id, &c.stale).await?;
    for s in &c.expired {
        terminate_by(app, &s.sid, Some(user_id), s.expiry_reason(now), None).await?;
        freed = true;
    }
    if freed || c.live.len() < limit as usize {
        return Ok(Room::Retry);
    }
    match victim(policy, &c.live) {
        None => Ok(Room::Full(c.live)),
        Some(v) => {
            tracing::info!(sid = %v.sid, user_id = %user_id, policy = policy.as_str(), "session limit: evicting");
            terminate_by(
                app,
                &v.sid,
                Some(user_id),
                EndReason::SessionLimit,
                Some(&EndedBy::system()),
            )
            .await?;
            Ok(Room::Retry)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::keys;
    use std::collections::BTreeMap;

    const NOW: i64 = 1_000_000;

    fn session(sid: &str, created_ms: i64, last_seen_ms: i64, idle_exp: i64) -> SessionItem {
        SessionItem {
            pk: keys::session_pk(sid),
            sk: keys::SESSION_SK.into(),
            sid: sid.into(),
            user_id: "u".into(),
            username: "u".into(),
            secret_hash: String::new(),
            created_ms,
            last_seen_ms,
            auth_time: 0,
            idle_expires_at: idle_exp,
            absolute_expires_at: NOW + 3600,
            remember_me: false,
            user_agent: String::new(),
            ip: String::new(),
            status: SessionStatus::Active,
            ended_reason: None,
            ended_at_ms: None,
            ended_by: None,
            version: 0,
            apps: BTreeMap::new(),
            gsi1pk: None,
            gsi1sk: None,
            gsi2pk: None,
            gsi2sk: None,
            gsi3pk: None,
            gsi3sk: None,
            expires_at: NOW + 7200,
        }
    }

    #[test]
    fn the_census_tells_live_from_expired_from_stale() {
        let mut ended = session("c", 3, 3, NOW + 60);
        ended.status = SessionStatus::Ended;
        let sids: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let c = census(
            &sids,
            vec![
                Some(session("a", 1, 1, NOW + 60)),
                Some(session("b", 2, 2, NOW - 1)),
                Some(ended),
                None,
            ],
            NOW,
        );
        assert_eq!(
            c.live.iter().map(|s| s.sid.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        assert_eq!(
            c.expired.iter().map(|s| s.sid.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        assert_eq!(c.stale, ["c", "d"]);
    }

    #[test]
    fn oldest_is_by_start_and_idlest_by_last_use() {
        let live = [
            session("a", 10, 500, NOW + 60),
            session("b", 20, 100, NOW + 60),
            session("c", 30, 900, NOW + 60),
        ];
        let pick = |p| victim(p, &live).map(|s| s.sid.as_str());
        assert_eq!(pick(SessionLimitPolicy::EvictOldest), Some("a"));
        assert_eq!(pick(SessionLimitPolicy::EvictIdlest), Some("b"));
        assert_eq!(pick(SessionLimitPolicy::Deny), None);
    }

    #[test]
    fn ties_go_to_the_smaller_id() {
        let live = [session("y", 5, 5, NOW + 60), session("x", 5, 5, NOW + 60)];
        assert_eq!(
            victim(SessionLimitPolicy::EvictOldest, &live).map(|s| s.sid.as_str()),
            Some("x")
        );
    }
}
