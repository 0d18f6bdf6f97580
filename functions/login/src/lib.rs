//! `login`: the hosted login page (`GET|POST /login`).
//!
//! GET renders the form with its CSRF pair (`warden_core::http::csrf::LOGIN`); POST checks the
//! request's origin and the pair, then signs in (`warden_core::session::login::sign_in`), sets the session cookies and sends the browser on to
//! `return_to` (a same-origin relative path). Every failure shows the same generic text.

use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::Request;
use warden_core::http::{self, esc, html_response, Resp};
use warden_core::session::login::{self, LoginOutcome};
use warden_core::{http::csrf, session, App, OAuthError};

const GENERIC_FAILURE: &str = "The username or password is incorrect.";
const THROTTLED: &str =
    "The username or password is incorrect, or there were too many attempts. Wait a few minutes and try again.";
const CSRF_FAILURE: &str =
    "Your sign-in form expired or was not sent from this site. Please try again.";

pub async fn handle(app: &App, req: Request) -> Resp {
    match *req.method() {
        Method::GET => get(app, &req).await,
        Method::POST => post(app, &req).await,
        _ => warden_core::ApiError::method_not_allowed().into_response(&http::request_id(&req)),
    }
}

async fn get(app: &App, req: &Request) -> Resp {
    let p = http::Params::parse(http::raw_query(req)).unwrap_or_default();
    let return_to = login::safe_return_to(p.get("return_to"));
    form_page(app, StatusCode::OK, &return_to, "", None).await
}

async fn post(app: &App, req: &Request) -> Resp {
    if !http::is_form(req) {
        return form_page(
            app,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            login::DEFAULT_RETURN_TO,
            "",
            Some(CSRF_FAILURE),
        )
        .await;
    }
    let p = match http::form_body(req) {
        Ok(p) => p,
        Err(_) => {
            return form_page(
                app,
                StatusCode::BAD_REQUEST,
                login::DEFAULT_RETURN_TO,
                "",
                Some(GENERIC_FAILURE),
            )
            .await
        }
    };
    let return_to = login::safe_return_to(p.get("return_to"));
    let username = p.get("username").unwrap_or("");
    if !csrf::same_origin_or_none(app, req.headers())
        || !csrf::LOGIN
            .check(app, req.headers(), p.get(csrf::LOGIN.field))
            .await
    {
        return form_page(
            app,
            StatusCode::FORBIDDEN,
            &return_to,
            username,
            Some(CSRF_FAILURE),
        )
        .await;
    }
    let ua = http::header_str(req.headers(), "user-agent").unwrap_or("");
    let ip = http::source_ip(req);
    let outcome = match (p.get("limit_ticket"), p.get("end_sid")) {
        // The session-limit page: sign one session out, then continue.
        (Some(ticket), Some(end_sid)) => {
            let choice = login::LimitChoice {
                ticket,
                csrf_field: p.get(csrf::LOGIN.field).unwrap_or(""),
                end_sid,
                user_agent: ua,
                ip: &ip,
            };
            login::continue_after_limit(app, &choice).await
        }
        _ => {
            let attempt = login::Attempt {
                username,
                password: p.get("password").unwrap_or(""),
                remember_me: matches!(p.get("remember_me"), Some("on" | "true" | "1")),
                user_agent: ua,
                ip: &ip,
            };
            login::sign_in(app, req.headers(), &attempt).await
        }
    };
    match outcome {
        Ok(LoginOutcome::Success(s, cookie_value)) => {
            tracing::info!(sid = %s.sid, user_id = %s.user_id, "login");
            let mut r = http::empty(StatusCode::SEE_OTHER);
            if let Ok(v) = HeaderValue::from_str(&app.config.url(&return_to)) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            for c in session::login_cookies(app, &cookie_value, &s) {
                http::set_cookie(&mut r, &c);
            }
            http::set_cookie(&mut r, &csrf::LOGIN.clear(app));
            r
        }
        Ok(LoginOutcome::Invalid) => {
            form_page(
                app,
                StatusCode::OK,
                &return_to,
                username,
                Some(GENERIC_FAILURE),
            )
            .await
        }
        Ok(LoginOutcome::SessionLimit {
            user_id,
            remember_me,
            sessions,
        }) => limit_page(app, &return_to, &user_id, remember_me, &sessions).await,
        Ok(LoginOutcome::Throttled { retry_after }) => {
            let mut r = form_page(
                app,
                StatusCode::TOO_MANY_REQUESTS,
                &return_to,
                username,
                Some(THROTTLED),
            )
            .await;
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(e) => {
            let o: OAuthError = e.into();
            form_page(
                app,
                o.status,
                &return_to,
                username,
                Some("Sign-in is temporarily unavailable. Please try again."),
            )
            .await
        }
    }
}

/// The login form with a fresh CSRF token (cookie + hidden field).
async fn form_page(
    app: &App,
    status: StatusCode,
    return_to: &str,
    username: &str,
    error: Option<&str>,
) -> Resp {
    let (csrf_cookie, token) = match csrf::LOGIN.issue(app).await {
        Ok(pair) => pair,
        Err(e) => {
            tracing::error!(error = %e, "cannot issue a login form");
            let o: OAuthError = e.into();
            return html_response(
                o.status,
                "<!doctype html><title>Sign in — Warden</title><p>Sign-in is temporarily unavailable. Please try again.</p>".into(),
                false,
            );
        }
    };
    let error_html = error
        .map(|e| {
            format!(
                r#"<div id="login-error" class="error" role="alert">{}</div>"#,
                esc(e)
            )
        })
        .unwrap_or_default();
    let described = if error.is_some() {
        r#" aria-describedby="login-error""#
    } else {
        ""
    };
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in — Warden</title>
<style>{style}</style>
</head>
<body class="narrow">
<main>
<h1>{heading}</h1>
{error_html}
<form method="post" action="{action}" novalidate>
<input type="hidden" name="{csrf_field}" value="{token}">
<input type="hidden" name="return_to" value="{return_to}">
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required value="{username}"{described} autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required{described}>
<label class="remember"><input type="checkbox" name="remember_me" value="on"> Remember me on this device</label>
<p class="actions"><button type="submit" class="primary">Sign in</button></p>
</form>
</main>
</body>
</html>
"#,
        action = esc(&app.config.url("/login")),
        csrf_field = csrf::LOGIN.field,
        token = esc(&token),
        return_to = esc(return_to),
        username = esc(username),
        style = http::STYLE,
        heading = heading(app, return_to).await,
    );
    let mut r = html_response(status, html, false);
    http::set_cookie(&mut r, &csrf_cookie);
    r
}

// ---- The session-limit page (WARDEN_SESSION_LIMIT with policy `deny`) ----

/// "You are signed in on too many devices": the user's live sessions, each with a button
/// that signs it out and continues the login (`limit_ticket` stands in for the password;
/// see `warden_core::session::login::continue_after_limit`). Status 409: the sign-in
/// conflicts with the limit until the person chooses.
async fn limit_page(
    app: &App,
    return_to: &str,
    user_id: &str,
    remember_me: bool,
    sessions: &[warden_core::store::schema::SessionItem],
) -> Resp {
    let unavailable = || {
        html_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "<!doctype html><title>Sign in — Warden</title><p>Sign-in is temporarily unavailable. Please try again.</p>".into(),
            false,
        )
    };
    let Ok((csrf_cookie, token)) = csrf::LOGIN.issue(app).await else {
        return unavailable();
    };
    let Ok(ticket) = login::limit_ticket(app, user_id, remember_me, &token).await else {
        return unavailable();
    };
    let when = warden_core::platform::time::utc_minute;
    let rows: String = sessions
        .iter()
        .map(|s| {
            format!(
                r#"<li class="card"><form method="post" action="{action}">
<input type="hidden" name="{csrf_field}" value="{token}">
<input type="hidden" name="return_to" value="{return_to}">
<input type="hidden" name="limit_ticket" value="{ticket}">
<input type="hidden" name="end_sid" value="{sid}">
<p><strong class="ua">{ua}</strong><br>from {ip} · signed in {created} · last used {seen}</p>
<button type="submit" class="primary">Sign out this one and continue</button>
</form></li>
"#,
                action = esc(&app.config.url("/login")),
                csrf_field = csrf::LOGIN.field,
                token = esc(&token),
                return_to = esc(return_to),
                ticket = esc(&ticket),
                sid = esc(&s.sid),
                ua = esc(if s.user_agent.is_empty() {
                    "Unknown device"
                } else {
                    &s.user_agent
                }),
                ip = esc(&s.ip),
                created = when(s.created_ms),
                seen = when(s.last_seen_ms),
            )
        })
        .collect();
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Too many sessions — Warden</title>
<style>{style}</style>
</head>
<body class="narrow">
<main>
<h1>You are signed in on too many devices</h1>
<p id="limit-reason" role="alert">Your account may have at most {limit} sessions at once, and it has {n}. Sign out one of them to continue signing in here.</p>
<ul class="receipts" aria-describedby="limit-reason">
{rows}</ul>
<p><a href="{cancel}">Cancel</a></p>
</main>
</body>
</html>
"#,
        style = http::STYLE,
        limit = app.config.session_limit.unwrap_or(0),
        n = sessions.len(),
        cancel = esc(&app
            .config
            .url(&format!("/login?return_to={}", percent_encode(return_to)))),
    );
    let mut r = html_response(StatusCode::CONFLICT, html, false);
    http::set_cookie(&mut r, &csrf_cookie);
    r
}

/// A query-string value: unreserved characters as they are, every other byte `%XX`.
fn percent_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// --- issue 20: "Sign in to <client name>".

/// The client a `return_to` continues to: the `client_id` of an authorization request
/// (`/oauth2/authorize?…&client_id=…`); `None` for anything else.
fn client_in_return_to(return_to: &str) -> Option<String> {
    let (path, query) = return_to.split_once('?')?;
    if path != "/oauth2/authorize" {
        return None;
    }
    http::Params::parse(query)
        .ok()?
        .get("client_id")
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// The page's heading, escaped: "Sign in to <the app's name>" when `return_to` names a
/// registered, enabled client, else "Sign in". Round trips: 0 (cached client) or 1 GetItem.
async fn heading(app: &App, return_to: &str) -> String {
    let Some(id) = client_in_return_to(return_to) else {
        return "Sign in".into();
    };
    match app.client(&id).await {
        Ok(Some(c)) if !c.disabled && !c.name.trim().is_empty() => {
            format!("Sign in to {}", esc(c.name.trim()))
        }
        _ => "Sign in".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_is_named_only_for_an_authorization_request() {
        assert_eq!(
            client_in_return_to("/oauth2/authorize?response_type=code&client_id=my%20app&x=1"),
            Some("my app".into())
        );
        assert_eq!(client_in_return_to("/oauth2/authorize?client_id="), None);
        assert_eq!(client_in_return_to("/myaccount?client_id=x"), None);
        assert_eq!(client_in_return_to("/oauth2/authorize"), None);
    }
}
