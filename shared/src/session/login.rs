//! Hosted login rules: safe `return_to`, password check with throttling, the session it
//! creates, and the end of another user's session in the same browser. The form's CSRF pair
//! is [`crate::http::csrf::LOGIN`]. The `login` function only parses and renders.

use crate::app::App;
use crate::platform::crypto;
use crate::platform::time::now_s;
use crate::store::schema::{EndReason, SessionItem};
use crate::store::StoreError;
use crate::store::ThrottleSubject;
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
            let (s, cookie) = crate::session::create_releasing(
                app,
                &u,
                a.remember_me,
                a.user_agent,
                a.ip,
                &reservation,
            )
            .await?;
            Ok(LoginOutcome::Success(Box::new(s), cookie))
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
