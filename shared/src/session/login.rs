//! Hosted login rules: safe `return_to`, password check with throttling, the session it
//! creates, and the end of another user's session in the same browser. The form's CSRF pair
//! is [`crate::http::csrf::LOGIN`]. The `login` function only parses and renders.

use crate::app::App;
use crate::platform::crypto;
use crate::platform::time::now_s;
use crate::session::{Created, Terminated};
use crate::store::schema::{ActorKind, EndReason, EndedBy, SessionItem};
use crate::store::StoreError;
use crate::store::{Reservation, ThrottleSubject};
use http::HeaderMap;
use std::sync::OnceLock;

/// Where a login without (or with an unsafe) `return_to` lands.
pub const DEFAULT_RETURN_TO: &str = "/myaccount";
/// Failed-login counting window (seconds). The limits per window are configuration
/// ([`crate::config::Config::login_max_failures`], [`crate::config::Config::login_max_failures_per_ip`]).
pub const THROTTLE_WINDOW_SECS: i64 = 15 * 60;
/// Longest username / password accepted (longer ones fail without hashing).
pub const MAX_USERNAME: usize = 128;
/// Longest password accepted (bytes); a longer one fails without hashing, like a long username.
pub const MAX_PASSWORD: usize = 1024;

/// A same-origin relative path to continue to after login, or [`DEFAULT_RETURN_TO`].
/// Accepted: starts with `/`, not `//` or `/\`, no backslash, no control characters or
/// spaces, at most 4096 characters. Anything else (absolute URLs, scheme-relative URLs)
/// would be an open redirect.
pub fn safe_return_to(v: Option<&str>) -> String {
    match v {
        Some(p) if is_safe_return_to(p) => p.to_string(),
        _ => DEFAULT_RETURN_TO.to_string(),
    }
}

/// Whether `p` is a same-origin relative path [`safe_return_to`] accepts as it is.
pub fn is_safe_return_to(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && p.len() <= 4096
        && !p
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
}

/// What a login attempt came to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Authenticated: the new session and the `warden_session` cookie value.
    Success(Box<SessionItem>, String),
    /// Unknown user, wrong password or disabled user (indistinguishable to the caller).
    Invalid,
    /// Too many recent failures for this username from this address, or from this address;
    /// the password was not checked. `retry_after`: seconds until the window ends.
    Throttled {
        /// Seconds until the window ends (`Retry-After`).
        retry_after: i64,
    },
    /// The password was right but the user already has the configured number of live
    /// sessions and the policy is `deny`: no session. The login page lists `sessions` and
    /// offers to sign one out there and then ([`continue_after_limit`], with a
    /// [`limit_ticket`] standing in for the password).
    SessionLimit {
        /// The user who signed in.
        user_id: String,
        /// "Remember me" as asked, for the session the page goes on to create.
        remember_me: bool,
        /// The user's live sessions (the limit's number of them).
        sessions: Vec<SessionItem>,
    },
}

/// How long the session-limit page's ticket stands in for the password (seconds).
pub const LIMIT_TICKET_SECS: i64 = 300;

/// The session-limit page's proof that its user signed in a moment ago: the user id,
/// "remember me", an expiry, and an HMAC over them and the page's CSRF field (so it only
/// works with that browser's login CSRF cookie, which a completed login clears). Never
/// stored. 0 round trips (cached signing keys).
pub async fn limit_ticket(
    app: &App,
    user_id: &str,
    remember_me: bool,
    csrf_field: &str,
) -> Result<String, StoreError> {
    let exp = now_s() + LIMIT_TICKET_SECS;
    let body = format!("{exp}.{}.{user_id}", u8::from(remember_me));
    let mac = ticket_mac(app, &body, csrf_field).await?;
    Ok(format!("{}.{mac}", crypto::b64(body.as_bytes())))
}

async fn ticket_mac(app: &App, body: &str, csrf_field: &str) -> Result<String, StoreError> {
    let keys = app.keys().await?;
    let key = keys
        .derivation_key(keys.signer_kid())
        .ok_or_else(|| StoreError::Backend("no derivation key".into()))?;
    Ok(crypto::hmac_b64(
        &key,
        format!("warden-session-limit|{body}|{csrf_field}").as_bytes(),
    ))
}

/// A [`limit_ticket`]'s user id and "remember me", if it is genuine, unexpired and bound to
/// `csrf_field`.
async fn open_ticket(app: &App, ticket: &str, csrf_field: &str) -> Option<(String, bool)> {
    let (body, mac) = ticket.split_once('.')?;
    let body = String::from_utf8(crypto::b64_decode(body)?).ok()?;
    let want = ticket_mac(app, &body, csrf_field).await.ok()?;
    if !crypto::ct_eq(want.as_bytes(), mac.as_bytes()) {
        return None;
    }
    let mut parts = body.splitn(3, '.');
    let exp: i64 = parts.next()?.parse().ok()?;
    let remember = parts.next()? == "1";
    let user_id = parts.next()?.to_string();
    (exp > now_s()).then_some((user_id, remember))
}

/// The choice made on the session-limit page: which session to sign out to make room.
#[derive(Debug, Clone, Copy)]
pub struct LimitChoice<'a> {
    /// The page's [`limit_ticket`].
    pub ticket: &'a str,
    /// The CSRF field the form carried (already checked against its cookie).
    pub csrf_field: &'a str,
    /// The session to sign out (one of the user's own).
    pub end_sid: &'a str,
    /// The browser's `User-Agent`, for the new session.
    pub user_agent: &'a str,
    /// The client address, for the new session.
    pub ip: &'a str,
}

/// Sign out the session the person chose on the session-limit page (reason
/// `session_limit`, actor the user: its tokens revoked, its apps told), then create the
/// session the login asked for. A ticket that is forged, expired or from another browser,
/// or a session that is not the user's, is [`LoginOutcome::Invalid`]; no room yet (another
/// login took it) shows the page again.
/// Round trips: 1 GetItem (user) + those of [`crate::session::terminate()`] + those of
/// [`crate::session::create_releasing`].
pub async fn continue_after_limit(
    app: &App,
    c: &LimitChoice<'_>,
) -> Result<LoginOutcome, StoreError> {
    let Some((user_id, remember_me)) = open_ticket(app, c.ticket, c.csrf_field).await else {
        return Ok(LoginOutcome::Invalid);
    };
    let Some(user) = app.store.get_user(&user_id).await? else {
        return Ok(LoginOutcome::Invalid);
    };
    if user.disabled {
        return Ok(LoginOutcome::Invalid);
    }
    let by = EndedBy::person(ActorKind::User, &user_id, None);
    if let Terminated::NotFound = crate::session::terminate::terminate_by(
        app,
        c.end_sid,
        Some(&user_id),
        EndReason::SessionLimit,
        Some(&by),
    )
    .await?
    {
        return Ok(LoginOutcome::Invalid);
    }
    created(
        crate::session::create_releasing(
            app,
            &user,
            remember_me,
            c.user_agent,
            c.ip,
            &Reservation::none(),
        )
        .await?,
        &user_id,
        remember_me,
    )
}

/// A login outcome from what [`crate::session::create_releasing`] did.
fn created(c: Created, user_id: &str, remember_me: bool) -> Result<LoginOutcome, StoreError> {
    Ok(match c {
        Created::Session(s, cookie) => LoginOutcome::Success(s, cookie),
        Created::UserChanged => LoginOutcome::Invalid,
        Created::LimitReached(sessions) => LoginOutcome::SessionLimit {
            user_id: user_id.to_string(),
            remember_me,
            sessions,
        },
    })
}

/// One sign-in attempt as the login form sent it.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// The username as typed (trimmed, and matched regardless of case).
    pub username: &'a str,
    /// The password as typed.
    pub password: &'a str,
    /// "Remember me" was ticked: the session gets the remember-me lifetime.
    pub remember_me: bool,
    /// The browser's `User-Agent`, recorded on the session.
    pub user_agent: &'a str,
    /// The client address: recorded on the session and counted by the per-address limits.
    pub ip: &'a str,
}

/// A PHC hash to verify against for unknown users, so both paths cost one argon2 run.
fn dummy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| {
        crypto::hash_password(&crypto::random_token()).unwrap_or_else(|_| {
            // Never happens with a valid salt; a malformed hash only skips the timing pad.
            String::new()
        })
    })
}

/// The counters an attempt counts against: the (username, address) pair, and the address.
/// Not the username alone: that would let anyone lock a person out from everywhere.
pub fn throttle_subjects(app: &App, user_key: &str, ip: &str) -> Vec<ThrottleSubject> {
    let cfg = &app.config;
    let mut out = Vec::with_capacity(2);
    if !user_key.is_empty() {
        // Length-prefixed so that no username/address pair can name another pair's counter.
        out.push(ThrottleSubject {
            kind: "userip",
            subject: format!("{}:{user_key}|{ip}", user_key.len()),
            limit: cfg.login_max_failures,
        });
    }
    if !ip.is_empty() {
        out.push(ThrottleSubject {
            kind: "ip",
            subject: ip.to_string(),
            limit: cfg.login_max_failures_per_ip,
        });
    }
    out
}

/// Seconds from `now` to the end of its throttle window.
pub fn retry_after(now: i64) -> i64 {
    THROTTLE_WINDOW_SECS - now.rem_euclid(THROTTLE_WINDOW_SECS)
}

/// Check credentials and, on success, create the session.
///
/// The attempt is reserved against its counters *before* the password is checked (see
/// [`crate::store::Store::reserve_login_attempt`]), so parallel attempts get at most the
/// limit checked; a success gives its reservation back when its session is written.
/// Round trips: 1 TransactWriteItems (reserve); then 2 GetItem (username → user); then on
/// success 1 TransactWriteItems (session + release). A failure stays counted: nothing more.
/// At a session limit, those of [`crate::session::limit::make_room`] per try, and under
/// `deny` + 1 TransactWriteItems giving the reservation back.
pub async fn authenticate(app: &App, a: &Attempt<'_>) -> Result<LoginOutcome, StoreError> {
    let now = now_s();
    let user_key = a.username.trim().to_lowercase();
    let valid_shape = !user_key.is_empty()
        && user_key.len() <= MAX_USERNAME
        && !a.password.is_empty()
        && a.password.len() <= MAX_PASSWORD;
    let subjects = throttle_subjects(app, if valid_shape { &user_key } else { "" }, a.ip);
    let Some(reservation) = app
        .store
        .reserve_login_attempt(&subjects, THROTTLE_WINDOW_SECS, now)
        .await?
    else {
        crate::platform::telemetry::metric("Logins", ("Outcome", "throttled"), 1.0);
        return Ok(LoginOutcome::Throttled {
            retry_after: retry_after(now),
        });
    };
    let user = if valid_shape {
        app.store.user_by_username(&user_key).await?
    } else {
        None
    };
    let ok = match &user {
        Some(u) => {
            // Verify even for disabled users: same cost on every failing path.
            let good = crypto::verify_password(a.password, &u.password_hash);
            good && !u.disabled
        }
        None => {
            let _ = crypto::verify_password(a.password, dummy_hash());
            false
        }
    };
    match user {
        Some(u) if ok => {
            let c = crate::session::create_releasing(
                app,
                &u,
                a.remember_me,
                a.user_agent,
                a.ip,
                &reservation,
            )
            .await?;
            if !matches!(c, Created::Session(..)) {
                // A right password does not count as a failure.
                app.store.release_reservation(&reservation).await?;
            }
            created(c, &u.user_id, a.remember_me)
        }
        _ => {
            crate::platform::telemetry::metric("Logins", ("Outcome", "failure"), 1.0);
            Ok(LoginOutcome::Invalid)
        }
    }
}

/// A login through the hosted page: [`authenticate`], then, when the browser still carried
/// a live session of *another* user, that session ends through the termination path
/// (reason [`EndReason::UserSwitch`]: its tokens revoked, its apps told), so the previous
/// user's session neither survives in the browser nor answers `prompt=none` for them. The
/// same user signing in again (re-authentication) keeps their earlier session.
/// Round trips: those of [`authenticate`]; with a session cookie + 1 GetItem, and on a
/// switch those of [`crate::session::terminate()`].
pub async fn sign_in(
    app: &App,
    headers: &HeaderMap,
    a: &Attempt<'_>,
) -> Result<LoginOutcome, StoreError> {
    let outcome = authenticate(app, a).await?;
    if let LoginOutcome::Success(new, _) = &outcome {
        if let Some(prev) = crate::session::from_cookie(app, headers).await? {
            if prev.user_id != new.user_id {
                crate::session::terminate(app, &prev.sid, None, EndReason::UserSwitch).await?;
            }
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_is_never_an_open_redirect() {
        assert_eq!(
            safe_return_to(Some("/oauth2/authorize?a=b")),
            "/oauth2/authorize?a=b"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "javascript:alert(1)",
            "evil",
            "/a\nb",
            "/a b",
            "",
        ] {
            assert_eq!(safe_return_to(Some(bad)), DEFAULT_RETURN_TO, "{bad:?}");
        }
        assert_eq!(safe_return_to(None), DEFAULT_RETURN_TO);
    }
}
