//! The OP browser state of Session Management 1.0 (`warden_bs`), bound to the session it
//! stands for, so that the check_session iframe also learns of a session that ended without
//! the browser (Admin API, Me API from another browser, expiry, a logout elsewhere).
//!
//! A login sets `<sid>.<nonce>.<mac>`: the session's id, a random 128-bit nonce and
//! `HMAC-SHA256(key = the session's stored secret hash, "warden-bs|<sid>|<nonce>")`. The sid
//! is no secret (every app of the session gets it as the ID token's `sid`); the MAC is what
//! a guesser lacks: only Warden, which wrote the session, can make a value that names it, so
//! the status answer ([`look_up`]) is no oracle for sids learnt elsewhere. A value whose MAC
//! fails gets the same answer as one naming no session at all.
//!
//! A logout sets a bare random value: a signed-out browser has no session to ask about, and
//! neither has a value set before sessions were bound (both are compared by cookie alone).
//!
//! What the status says is [`Status`]: live, or not live since a moment. The moment lets the
//! iframe tell a `session_state` issued while the session lived (its salt starts with its
//! issue time, `oauth::oidc::new_session_state`) — `changed` — from one the app got after
//! the end, from the `prompt=none` re-check that answered `login_required` — `unchanged`: the
//! app already knows, and asking it to check again would loop.

use crate::app::App;
use crate::platform::crypto;
use crate::platform::text::is_b64url;
use crate::store::schema::SessionItem;
use crate::store::StoreError;

/// Characters of a nonce (`crypto::random_id`) and of a MAC (`crypto::hmac_b64`).
const NONCE_LEN: usize = 22;
const MAC_LEN: usize = 43;
/// The longest sid accepted (session ids are 22 characters; the session cookie allows 64).
const MAX_SID: usize = 64;

/// A session-bound browser state, split into its parts (not yet verified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound<'a> {
    /// The session the value names.
    pub sid: &'a str,
    nonce: &'a str,
    mac: &'a str,
}

/// What a browser state's session is, as far as check_session may tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Active and not expired.
    Live,
    /// Not live since `since_ms` (epoch ms): when it ended, or when it expired if the relay
    /// has not ended it yet. A value naming no session, or whose MAC fails, reads as ended
    /// at the moment of the answer (nothing tells it from a session that just ended).
    Ended {
        /// Epoch milliseconds.
        since_ms: i64,
    },
}

fn mac(secret_hash: &str, sid: &str, nonce: &str) -> String {
    crypto::hmac_b64(
        secret_hash.as_bytes(),
        format!("warden-bs|{sid}|{nonce}").as_bytes(),
    )
}

/// A fresh browser state for a browser that just signed in to `session`.
pub fn mint(session: &SessionItem) -> String {
    let nonce = crypto::random_id();
    let m = mac(&session.secret_hash, &session.sid, &nonce);
    format!("{}.{nonce}.{m}", session.sid)
}

fn token(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && is_b64url(s)
}

/// The parts of a session-bound value; `None` for anything else (a signed-out browser's
/// random value, an older value, garbage).
pub fn parse(value: &str) -> Option<Bound<'_>> {
    let mut parts = value.split('.');
    let (sid, nonce, mac) = (parts.next()?, parts.next()?, parts.next()?);
    let ok = parts.next().is_none()
        && token(sid, 1, MAX_SID)
        && token(nonce, NONCE_LEN, NONCE_LEN)
        && token(mac, MAC_LEN, MAC_LEN);
    ok.then_some(Bound { sid, nonce, mac })
}

/// The status rule, without I/O: `session` is what the table holds under `bound.sid`.
pub fn status(bound: &Bound<'_>, session: Option<&SessionItem>, now_ms: i64) -> Status {
    let Some(s) = session.filter(|s| {
        s.sid == bound.sid
            && crypto::ct_eq(
                mac(&s.secret_hash, bound.sid, bound.nonce).as_bytes(),
                bound.mac.as_bytes(),
            )
    }) else {
        return Status::Ended { since_ms: now_ms };
    };
    if s.is_live(now_ms.div_euclid(1000)) {
        return Status::Live;
    }
    // Only a termination sets `ended_at_ms`; one that came after the expiry (the relay's)
    // counts from the expiry.
    let expired_ms = s.effective_expiry() * 1000;
    let since_ms = s
        .ended_at_ms
        .map_or(expired_ms, |ended| ended.min(expired_ms));
    Status::Ended {
        since_ms: since_ms.min(now_ms),
    }
}

/// The status of a session-bound browser state. 1 round trip (GetItem of the session); it
/// does not count as use of the session (no touch: polling never keeps a session alive).
pub async fn look_up(app: &App, bound: &Bound<'_>) -> Result<Status, StoreError> {
    let session = app.store.get_session(bound.sid).await?;
    Ok(status(
        bound,
        session.as_ref(),
        crate::platform::time::now_ms(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_700_000_000_000;

    /// A session item as the table holds it (built from its stored form, so the test does
    /// not depend on the Rust types of its fields), with `changes` applied.
    fn session_with(sid: &str, changes: serde_json::Value) -> SessionItem {
        let mut v = serde_json::json!({
            "pk": format!("SESSION#{sid}"),
            "sk": "SESSION",
            "sid": sid,
            "user_id": "u",
            "username": "u",
            "secret_hash": crypto::hash_secret("the cookie secret"),
            "created_ms": NOW_MS - 60_000,
            "last_seen_ms": NOW_MS - 60_000,
            "auth_time": NOW_MS / 1000 - 60,
            "idle_expires_at": NOW_MS / 1000 + 600,
            "absolute_expires_at": NOW_MS / 1000 + 3600,
            "status": "active",
            "expires_at": 0,
        });
        for (k, x) in changes.as_object().expect("an object") {
            v[k] = x.clone();
        }
        serde_json::from_value(v).expect("a session item")
    }

    fn session(sid: &str) -> SessionItem {
        session_with(sid, serde_json::json!({}))
    }

    #[test]
    fn a_minted_value_parses_and_names_its_session() {
        let s = session("sid-1");
        let v = mint(&s);
        let b = parse(&v).expect("bound");
        assert_eq!(b.sid, "sid-1");
        assert_eq!(status(&b, Some(&s), NOW_MS), Status::Live);
        assert_ne!(mint(&s), v, "a fresh nonce each time");
    }

    #[test]
    fn values_that_are_not_session_bound_do_not_parse() {
        let good = mint(&session("sid-1"));
        let (_, rest) = good.split_once('.').unwrap();
        let (nonce, m) = rest.split_once('.').unwrap();
        let bad = [
            String::new(),
            "bs-sid-1".into(),
            crypto::random_id(),
            "a.b.c".into(),
            format!("{good}.x"),
            format!(".{rest}"),
            format!("{}.{rest}", "s".repeat(65)),
            format!("sid-1.{nonce}x.{m}"),
            format!("sid-1.{nonce}.{}+", &m[1..]),
            format!("sid 1.{rest}"),
        ];
        for v in &bad {
            assert!(parse(v).is_none(), "{v:?}");
        }
        assert!(parse(&format!("{}.{rest}", "s".repeat(64))).is_some());
    }

    #[test]
    fn a_value_whose_mac_fails_reads_like_one_naming_no_session() {
        let s = session("sid-1");
        let other = session("sid-2");
        let forged = format!("sid-1.{}.{}", crypto::random_id(), crypto::random_token());
        let b = parse(&forged).unwrap();
        let unknown = status(&b, None, NOW_MS);
        assert_eq!(unknown, Status::Ended { since_ms: NOW_MS });
        assert_eq!(
            status(&b, Some(&s), NOW_MS),
            unknown,
            "a live sid, a wrong MAC"
        );
        // Another session's value re-pointed at this sid, and a session under another key.
        let theirs = mint(&other);
        let repointed = theirs.replacen("sid-2", "sid-1", 1);
        assert_eq!(
            status(&parse(&repointed).unwrap(), Some(&s), NOW_MS),
            unknown
        );
        let mine = mint(&s);
        assert_eq!(
            status(&parse(&mine).unwrap(), Some(&other), NOW_MS),
            unknown
        );
        // A session whose secret changed (a new item under the same sid) does not answer.
        let rewritten = session_with(
            "sid-1",
            serde_json::json!({ "secret_hash": crypto::hash_secret("another secret") }),
        );
        assert_eq!(
            status(&parse(&mine).unwrap(), Some(&rewritten), NOW_MS),
            unknown
        );
    }

    #[test]
    fn an_ended_session_is_ended_since_it_ended() {
        let v = mint(&session("sid-1"));
        let s = session_with(
            "sid-1",
            serde_json::json!({ "status": "ended", "ended_at_ms": NOW_MS - 5_000 }),
        );
        assert_eq!(
            status(&parse(&v).unwrap(), Some(&s), NOW_MS),
            Status::Ended {
                since_ms: NOW_MS - 5_000
            }
        );
    }

    #[test]
    fn an_expired_session_is_ended_before_the_relay_ends_it() {
        let v = mint(&session("sid-1"));
        let b = parse(&v).unwrap();
        // Idle expiry passed; the item still says active.
        let idle = NOW_MS / 1000 - 3;
        let s = session_with("sid-1", serde_json::json!({ "idle_expires_at": idle }));
        assert_eq!(
            status(&b, Some(&s), NOW_MS),
            Status::Ended {
                since_ms: NOW_MS - 3_000
            }
        );
        // The relay ended it later, with the reason `expired`: still since the expiry.
        let s = session_with(
            "sid-1",
            serde_json::json!({
                "idle_expires_at": idle,
                "status": "ended",
                "ended_reason": "expired",
                "ended_at_ms": NOW_MS + 50_000,
            }),
        );
        assert_eq!(
            status(&b, Some(&s), NOW_MS + 60_000),
            Status::Ended {
                since_ms: NOW_MS - 3_000
            }
        );
        // Absolute expiry counts the same; the exact second of expiry is no longer live.
        let a = session_with(
            "sid-1",
            serde_json::json!({ "absolute_expires_at": NOW_MS / 1000 }),
        );
        assert_eq!(
            status(&b, Some(&a), NOW_MS),
            Status::Ended { since_ms: NOW_MS }
        );
    }
}
