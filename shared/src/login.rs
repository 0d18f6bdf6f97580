//! Hosted login rules: CSRF (double-submit cookie), safe `return_to`, password check with
//! throttling, and the session it creates. The `login` function only parses and renders.

use crate::crypto;
use crate::error::StoreError;
use crate::http::cookie;
use crate::schema::SessionItem;
use crate::time::now_s;
use crate::App;
use http::HeaderMap;
use std::sync::OnceLock;

/// The double-submit CSRF cookie of the login form (HttpOnly, SameSite=Strict, Path=/login).
pub const CSRF_COOKIE: &str = "warden_csrf";
/// The form field that must carry the same value as [`CSRF_COOKIE`].
pub const CSRF_FIELD: &str = "csrf_token";
/// Where a login without (or with an unsafe) `return_to` lands.
pub const DEFAULT_RETURN_TO: &str = "/myaccount";
/// Failed-login counting window (seconds).
pub const THROTTLE_WINDOW_SECS: i64 = 15 * 60;
/// Failures per user within the window before logins for that user are refused.
pub const MAX_FAILURES_PER_USER: u32 = 5;
/// Failures per source IP within the window before logins from that IP are refused.
pub const MAX_FAILURES_PER_IP: u32 = 20;
/// Longest username / password accepted (longer ones fail without hashing).
pub const MAX_USERNAME: usize = 128;
pub const MAX_PASSWORD: usize = 1024;

/// A fresh CSRF token for a login form.
pub fn new_csrf_token() -> String {
    crypto::random_token()
}

/// The `Set-Cookie` value carrying the CSRF token (`Max-Age=0` with an empty value deletes).
pub fn csrf_cookie(app: &App, value: &str) -> String {
    // `/login` under the issuer's path (API Gateway stages or custom-domain base paths).
    let base = url::Url::parse(&app.config.issuer)
        .map(|u| u.path().trim_end_matches('/').to_string())
        .unwrap_or_default();
    let mut s = format!("{CSRF_COOKIE}={value}; Path={base}/login");
    if value.is_empty() {
        s.push_str("; Max-Age=0");
    } else {
        s.push_str("; Max-Age=3600");
    }
    s.push_str("; HttpOnly");
    if app.config.cookie_secure {
        s.push_str("; Secure");
    }
    s.push_str("; SameSite=Strict");
    s
}

/// True if the form's token equals the cookie's (constant time; both must be present).
pub fn csrf_ok(headers: &HeaderMap, form_token: Option<&str>) -> bool {
    match (cookie(headers, CSRF_COOKIE), form_token) {
        (Some(c), Some(f)) if !c.is_empty() && !f.is_empty() => {
            crypto::ct_eq(c.as_bytes(), f.as_bytes())
        }
        _ => false,
    }
}

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
    /// Too many recent failures for this user or IP; the password was not checked.
    Throttled,
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

/// Check credentials and, on success, create the session.
///
/// Round trips: 1 BatchGetItem (throttle counters); then 2 GetItem (username → user);
/// then 1 PutItem (session) on success, or 1 UpdateItem per subject (user, IP) on failure.
pub async fn authenticate(
    app: &App,
    username: &str,
    password: &str,
    remember_me: bool,
    user_agent: &str,
    ip: &str,
) -> Result<LoginOutcome, StoreError> {
    let now = now_s();
    let user_key = username.trim().to_lowercase();
    let mut subjects: Vec<(&str, &str)> = Vec::with_capacity(2);
    let valid_shape = !user_key.is_empty()
        && user_key.len() <= MAX_USERNAME
        && !password.is_empty()
        && password.len() <= MAX_PASSWORD;
    if valid_shape {
        subjects.push(("user", user_key.as_str()));
    }
    if !ip.is_empty() {
        subjects.push(("ip", ip));
    }
    if !subjects.is_empty() {
        let counts = app
            .store
            .login_failures(&subjects, THROTTLE_WINDOW_SECS, now)
            .await?;
        let throttled = subjects
            .iter()
            .zip(&counts)
            .any(|((kind, _), n)| match *kind {
                "user" => *n >= MAX_FAILURES_PER_USER,
                _ => *n >= MAX_FAILURES_PER_IP,
            });
        if throttled {
            crate::telemetry::metric("Logins", ("Outcome", "throttled"), 1.0);
            return Ok(LoginOutcome::Throttled);
        }
    }
    let user = if valid_shape {
        app.store.user_by_username(&user_key).await?
    } else {
        None
    };
    let ok = match &user {
        Some(u) => {
            // Verify even for disabled users: same cost on every failing path.
            let good = crypto::verify_password(password, &u.password_hash);
            good && !u.disabled
        }
        None => {
            let _ = crypto::verify_password(password, dummy_hash());
            false
        }
    };
    match user {
        Some(u) if ok => {
            let (s, cookie) = crate::session::create(app, &u, remember_me, user_agent, ip).await?;
            Ok(LoginOutcome::Success(Box::new(s), cookie))
        }
        _ => {
            if !subjects.is_empty() {
                app.store
                    .record_login_failure(&subjects, THROTTLE_WINDOW_SECS, now)
                    .await?;
            }
            crate::telemetry::metric("Logins", ("Outcome", "failure"), 1.0);
            Ok(LoginOutcome::Invalid)
        }
    }
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
