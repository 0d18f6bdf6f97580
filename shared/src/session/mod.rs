//! The session lifecycle: create (login), resolve from the cookie, touch, terminate.
//! Every way a session ends — Me API, Admin API, end_session, expiry — goes through
//! [`terminate()`].

pub mod browser_state;
pub mod history;
pub mod limit;
pub mod login;
pub mod terminate;

pub use terminate::{terminate, terminate_all, Terminated};

use crate::app::App;
use crate::http::{host_cookie, CookieSpec};
use crate::platform::crypto;
use crate::platform::text::{is_b64url, truncate};
use crate::platform::time::{now_ms, now_s};
use crate::store::schema::{keys, SessionApp, SessionItem, SessionStatus, UserItem};
use crate::store::StoreError;
use crate::store::{Reservation, SessionWrite};
use http::HeaderMap;
use std::collections::BTreeMap;

/// `warden_session` = `<sid>.<secret>.<user id>`: HttpOnly, SameSite=Lax. The user id lets
/// authorize read the session and its user in one BatchGetItem; it is checked against the
/// session item, and the secret (only its hash is stored) is what proves the session.
/// Cookies of the older `<sid>.<secret>` form are still accepted.
pub const SESSION_COOKIE: &str = "warden_session";
/// `warden_bs`: the OP browser state for check_session (not HttpOnly, SameSite=None), bound
/// to its session after a login ([`browser_state`]), a bare random value after a logout.
pub const BROWSER_STATE_COOKIE: &str = "warden_bs";
/// A pending delivery not finished within this many seconds is re-sent by the relay.
pub const RELAY_AFTER_SECS: i64 = 120;
/// Ended sessions (and their delivery receipts) stay readable this long.
pub const RECEIPT_RETENTION_SECS: i64 = 14 * 86400;
/// `last_seen` is written at most this often per session.
pub const TOUCH_EVERY_MS: i64 = 60_000;

/// Create a session for an authenticated user. Returns the item and the cookie value.
/// 1 round trip (TransactWriteItems). A user gone or disabled meanwhile, or at the session
/// limit under the `deny` policy, is `ConditionFailed` here; the login flow tells them apart
/// through [`create_releasing`].
pub async fn create(
    app: &App,
    user: &UserItem,
    remember_me: bool,
    user_agent: &str,
    ip: &str,
) -> Result<(SessionItem, String), StoreError> {
    match create_releasing(app, user, remember_me, user_agent, ip, &Reservation::none()).await? {
        Created::Session(s, cookie) => Ok((*s, cookie)),
        Created::UserChanged | Created::LimitReached(_) => Err(StoreError::ConditionFailed),
    }
}

/// What [`create_releasing`] came to.
#[derive(Debug)]
pub enum Created {
    /// The new session and its `warden_session` cookie value.
    Session(Box<SessionItem>, String),
    /// The user was deleted or disabled since they were read: no session.
    UserChanged,
    /// The user has [`crate::config::Config::session_limit`] live sessions and the policy is
    /// `deny`: no session; these are the live ones, to offer signing one out.
    LimitReached(Vec<SessionItem>),
}

/// Tries of a login's session write that each found no room and made some (a concurrent
/// login may take the room made): enough for the limit's worth of logins at once.
const ROOM_TRIES: usize = 32;

/// [`create`] for a login whose attempt was reserved against the throttle counters: the
/// session is written and the reservation given back in 1 round trip (TransactWriteItems),
/// which also checks that the user still exists and is enabled and, under a session limit,
/// counts the session in the user's live set. A login that finds no room asks
/// [`limit::make_room`] and tries again.
pub async fn create_releasing(
    app: &App,
    user: &UserItem,
    remember_me: bool,
    user_agent: &str,
    ip: &str,
    reservation: &Reservation,
) -> Result<Created, StoreError> {
    let sid = crypto::random_id();
    let secret = crypto::random_token();
    let now = now_ms();
    let now_s = now / 1000;
    let cfg = &app.config;
    let (idle, absolute) = if remember_me {
        (
            cfg.remember_me.as_secs() as i64,
            cfg.remember_me.as_secs() as i64,
        )
    } else {
        (
            cfg.session_idle.as_secs() as i64,
            cfg.session_absolute.as_secs() as i64,
        )
    };
    let absolute_exp = now_s + absolute;
    let idle_exp = (now_s + idle).min(absolute_exp);
    let s = SessionItem {
        pk: keys::session_pk(&sid),
        sk: keys::SESSION_SK.into(),
        sid: sid.clone(),
        user_id: user.user_id.clone(),
        username: user.username.clone(),
        secret_hash: crypto::hash_secret(&secret),
        created_ms: now,
        last_seen_ms: now,
        auth_time: now_s,
        idle_expires_at: idle_exp,
        absolute_expires_at: absolute_exp,
        remember_me,
        user_agent: truncate(user_agent, 512),
        ip: truncate(ip, 64),
        status: SessionStatus::Active,
        ended_reason: None,
        ended_at_ms: None,
        ended_by: None,
        version: 0,
        apps: BTreeMap::new(),
        gsi1pk: Some(keys::user_sessions_gsi(&user.user_id)),
        gsi1sk: Some(keys::user_sessions_sort(now, &sid)),
        gsi2pk: Some(keys::due_session_gsi(keys::due_shard(&sid, cfg.shards))),
        gsi2sk: Some(keys::due_sort(idle_exp, &sid)),
        gsi3pk: Some(keys::live_gsi(keys::live_shard(&sid, cfg.shards))),
        gsi3sk: Some(keys::live_sort(now, &sid)),
        expires_at: absolute_exp + RECEIPT_RETENTION_SECS,
    };
    let limit = cfg.session_limit;
    let mut tries = 0;
    loop {
        match app
            .store
            .put_session_releasing(&s, user, reservation, limit)
            .await?
        {
            SessionWrite::Written => break,
            SessionWrite::UserChanged => return Ok(Created::UserChanged),
            SessionWrite::NoRoom => {
                tries += 1;
                let Some(max) = limit.filter(|_| tries < ROOM_TRIES) else {
                    return Err(StoreError::Throttled);
                };
                match limit::make_room(app, &user.user_id, max, cfg.session_limit_policy).await? {
                    limit::Room::Retry => continue,
                    limit::Room::Full(live) => {
                        crate::platform::telemetry::metric(
                            "Logins",
                            ("Outcome", "session_limit"),
                            1.0,
                        );
                        return Ok(Created::LimitReached(live));
                    }
                }
            }
        }
    }
    crate::platform::telemetry::metric("Logins", ("Outcome", "success"), 1.0);
    let value = if cookie_safe(&user.user_id) {
        format!("{sid}.{secret}.{}", user.user_id)
    } else {
        format!("{sid}.{secret}")
    };
    Ok(Created::Session(Box::new(s), value))
}

/// The `Set-Cookie` values after a login: the session cookie and a fresh browser state.
pub fn login_cookies(app: &App, cookie_value: &str, session: &SessionItem) -> Vec<String> {
    let secure = app.config.cookie_secure;
    let max_age = if session.remember_me {
        Some(session.absolute_expires_at - now_s())
    } else {
        None
    };
    vec![
        CookieSpec {
            name: SESSION_COOKIE,
            value: cookie_value,
            http_only: true,
            secure,
            same_site: "Lax",
            max_age,
        }
        .render(),
        browser_state_cookie(app, &browser_state::mint(session)),
    ]
}

/// A new `warden_bs` cookie (changes on login and logout only).
pub fn browser_state_cookie(app: &App, value: &str) -> String {
    CookieSpec {
        name: BROWSER_STATE_COOKIE,
        value,
        http_only: false,
        // SameSite=None requires Secure; on plain-http local runs fall back to Lax.
        secure: app.config.cookie_secure,
        same_site: if app.config.cookie_secure {
            "None"
        } else {
            "Lax"
        },
        max_age: None,
    }
    .render()
}

/// `Set-Cookie` values after a logout: the session cookie cleared, the browser state changed.
pub fn logout_cookies(app: &App) -> Vec<String> {
    vec![
        CookieSpec {
            name: SESSION_COOKIE,
            value: "",
            http_only: true,
            secure: app.config.cookie_secure,
            same_site: "Lax",
            max_age: Some(0),
        }
        .render(),
        browser_state_cookie(app, &crypto::random_id()),
    ]
}

/// The parts of a `warden_session` cookie value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCookie<'a> {
    /// The session id.
    pub sid: &'a str,
    /// The session secret; only its SHA-256 is stored, compared in constant time.
    pub secret: &'a str,
    /// Absent in cookies of the older two-part form.
    pub user_id: Option<&'a str>,
}

fn cookie_safe(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && is_b64url(s)
}

/// Split a `warden_session` cookie value: `<sid>.<secret>` or `<sid>.<secret>.<user id>`.
pub fn parse_cookie_value(v: &str) -> Option<SessionCookie<'_>> {
    let mut parts = v.split('.');
    let sid = parts.next()?;
    let secret = parts.next()?;
    let user_id = parts.next();
    if parts.next().is_some() || !cookie_safe(sid) || !cookie_safe(secret) {
        return None;
    }
    if user_id.is_some_and(|u| !cookie_safe(u)) {
        return None;
    }
    Some(SessionCookie {
        sid,
        secret,
        user_id,
    })
}

/// Does the stored session answer this cookie: the secret matches and it is live?
fn answers(s: SessionItem, c: &SessionCookie<'_>) -> Option<SessionItem> {
    let secret_ok = crypto::ct_eq(
        s.secret_hash.as_bytes(),
        crypto::hash_secret(c.secret).as_bytes(),
    );
    let user_ok = c.user_id.is_none_or(|u| u == s.user_id);
    (secret_ok && user_ok && s.is_live(now_s())).then_some(s)
}

/// The live session named by the request's cookie, if its secret matches. 1 round trip
/// (GetItem) when a well-formed cookie is present, 0 otherwise.
pub async fn from_cookie(
    app: &App,
    headers: &HeaderMap,
) -> Result<Option<SessionItem>, StoreError> {
    let Some(c) =
        host_cookie(headers, SESSION_COOKIE, app.config.cookie_secure).and_then(parse_cookie_value)
    else {
        return Ok(None);
    };
    Ok(app
        .store
        .get_session(c.sid)
        .await?
        .and_then(|s| answers(s, &c)))
}

/// The live session named by the cookie and its user (`None` for a disabled or deleted
/// user). 1 round trip (BatchGetItem) for a cookie that carries the user id, 2 (GetItem
/// session → GetItem user) for an older cookie, 0 without a well-formed cookie.
pub async fn with_user_from_cookie(
    app: &App,
    headers: &HeaderMap,
) -> Result<Option<(SessionItem, Option<UserItem>)>, StoreError> {
    let Some(c) =
        host_cookie(headers, SESSION_COOKIE, app.config.cookie_secure).and_then(parse_cookie_value)
    else {
        return Ok(None);
    };
    let (session, user) = match c.user_id {
        Some(uid) => app.store.get_session_and_user(c.sid, uid).await?,
        None => match app.store.get_session(c.sid).await? {
            Some(s) => {
                let u = app.store.get_user(&s.user_id).await?;
                (Some(s), u)
            }
            None => (None, None),
        },
    };
    let Some(s) = session.and_then(|s| answers(s, &c)) else {
        return Ok(None);
    };
    let user = user.filter(|u| u.user_id == s.user_id && !u.disabled);
    Ok(Some((s, user)))
}

/// Record use of the session (and the app joining it). Writes at most once a minute unless
/// an app joins; 0 or 1 round trip. Returns the current item (`None` if it ended meanwhile).
pub async fn touch(
    app: &App,
    s: &SessionItem,
    client: Option<(&str, &str, bool)>,
) -> Result<Option<SessionItem>, StoreError> {
    let now = now_ms();
    let entry = client.map(|(id, name, backchannel)| {
        let first = s.apps.get(id).map(|a| a.first_auth_ms).unwrap_or(now);
        (
            id,
            SessionApp {
                name: name.to_string(),
                first_auth_ms: first,
                last_auth_ms: now,
                backchannel,
            },
        )
    });
    let app_is_new_or_changed = entry.as_ref().is_some_and(|(id, a)| {
        s.apps
            .get(*id)
            .is_none_or(|old| old.backchannel != a.backchannel || old.name != a.name)
    });
    if !app_is_new_or_changed && now - s.last_seen_ms < TOUCH_EVERY_MS {
        return Ok(Some(s.clone()));
    }
    let idle = if s.remember_me {
        app.config.remember_me.as_secs() as i64
    } else {
        app.config.session_idle.as_secs() as i64
    };
    match app
        .store
        .touch_session(s, now, idle, entry.as_ref().map(|(id, a)| (*id, a)))
        .await
    {
        Ok(s) => Ok(Some(s)),
        Err(StoreError::ConditionFailed) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_value_parsing() {
        let two = parse_cookie_value("abc.def").unwrap();
        assert_eq!((two.sid, two.secret, two.user_id), ("abc", "def", None));
        let three = parse_cookie_value("a.b.u-1").unwrap();
        assert_eq!(
            (three.sid, three.secret, three.user_id),
            ("a", "b", Some("u-1"))
        );
        assert_eq!(parse_cookie_value("abc"), None);
        assert_eq!(parse_cookie_value(".def"), None);
        assert_eq!(parse_cookie_value("a b.c"), None);
        assert_eq!(parse_cookie_value("a.b."), None);
        assert_eq!(parse_cookie_value("a.b.c.d"), None);
        assert_eq!(parse_cookie_value("a.b.c d"), None);
    }
}
