//! `/oauth2/authorize` (OIDC Core §3.1.2, RFC 6749 §4.1, RFC 7636, Session Management §3,
//! OAuth 2.0 Form Post Response Mode, Multiple Response Types §5 `none`).
//!
//! [`authorize`] decides; the `authorize` function renders the [`Outcome`]. The rules:
//! * An unknown or disabled client, or a redirect_uri that is not registered exactly (or is
//!   missing while the client has several) is an error page: never a redirect.
//! * Every other error is redirected to the client (query or form_post) with `error`,
//!   `error_description`, `state` and `session_state`.
//! * `response_type=none` without a redirect_uri answers 204 (valid session) or a 400 JSON
//!   error (Ping AM behaviour).
//! * A browser that must (re-)authenticate goes to `/login?return_to=<this request as a
//!   relative GET URL>`. The return URL carries a MAC'd timestamp (`warden_reauth`): a
//!   session authenticated after it satisfies `prompt=login` and `max_age`, so coming back
//!   from the login page never loops.

use crate::app::App;
use crate::http::error::OAuthError;
use crate::http::{self, host_cookie, CookieSpec, Params, ParamsError};
use crate::oauth::code;
use crate::platform::crypto;
use crate::platform::text::is_b64url;
use crate::platform::time::now_s;
use crate::session::{self, BROWSER_STATE_COOKIE};
use crate::store::schema::{ClientItem, CodeGrant, IdClaims};
use ::http::{HeaderMap, StatusCode};
use std::sync::Arc;

/// The per-browser binding cookie of clients with token binding `cookie`.
pub const BINDING_COOKIE: &str = "warden_atbv";
/// Lifetime of [`BINDING_COOKIE`] (one year).
pub const BINDING_COOKIE_MAX_AGE: i64 = 365 * 86400;
/// Internal parameter carried through the login round trip (see the module docs).
pub const REAUTH_PARAM: &str = "warden_reauth";
/// How long a [`REAUTH_PARAM`] marker stays usable.
pub const REAUTH_MARKER_SECS: i64 = 600;
/// The browser a [`REAUTH_PARAM`] marker was issued to (a random value, HttpOnly, as long
/// as a marker): the marker's MAC covers it, so a marker copied into another browser does
/// not count there.
pub const REAUTH_COOKIE: &str = "warden_reauth_binding";
/// A code can be redeemed this long.
pub const CODE_VALID_SECS: i64 = 60;
/// Scopes granted only to users whose `roles` contain them.
pub const ROLE_SCOPES: &[&str] = &[
    "internal_session_view",
    "internal_session_delete",
    "internal_user_mgt_update",
    "internal_user_mgt_delete",
];

/// What the handler must send.
#[derive(Debug)]
pub enum Outcome {
    /// An HTML error page; never a redirect (the client or redirect_uri cannot be trusted).
    ErrorPage {
        /// The status (today always 400: the request named no usable client or redirect URI).
        status: StatusCode,
        /// The sentence the page shows.
        message: String,
    },
    /// Send the browser back to the client: a 302 with the parameters in the query, or an
    /// auto-submitting form (`form_post`).
    Respond {
        /// The registered redirect URI the request named.
        redirect_uri: String,
        /// `response_mode=form_post` (OAuth 2.0 Form Post Response Mode): an auto-submitting form
        /// instead of a 302.
        form_post: bool,
        /// The response parameters (`code`, `state`, `session_state`, or `error` and
        /// `error_description`).
        params: Vec<(&'static str, String)>,
        /// Extra `Set-Cookie` values (the `warden_atbv` binding cookie).
        cookies: Vec<String>,
    },
    /// 302 to the hosted login, which returns to `return_to` (a relative URL); `cookies`:
    /// the [`REAUTH_COOKIE`] when the browser had none.
    Login {
        /// Where the login sends the browser afterwards: this authorization request again.
        return_to: String,
        /// `Set-Cookie` values to send with the redirect.
        cookies: Vec<String>,
    },
    /// `response_type=none` without redirect_uri and a valid session.
    NoContent,
    /// `response_type=none` without redirect_uri and an error (400 JSON).
    JsonError(OAuthError),
}

fn page(status: StatusCode, message: impl Into<String>) -> Outcome {
    Outcome::ErrorPage {
        status,
        message: message.into(),
    }
}

fn store_page(e: crate::store::StoreError) -> Outcome {
    let o: OAuthError = e.into();
    page(
        o.status,
        "The server could not complete the request. Try again later.",
    )
}

/// Where errors and results go once the client and redirect_uri are trusted.
struct Target {
    client: Arc<ClientItem>,
    /// `None`: `response_type=none` without redirect_uri (answers are 204 / JSON).
    redirect_uri: Option<String>,
    form_post: bool,
    state: Option<String>,
    browser_state: String,
}

impl Target {
    fn session_state(&self, redirect_uri: &str) -> String {
        crate::oauth::oidc::new_session_state(
            &self.client.client_id,
            redirect_uri,
            &self.browser_state,
        )
    }

    fn respond(
        &self,
        mut params: Vec<(&'static str, String)>,
        cookies: Vec<String>,
    ) -> Option<Outcome> {
        let uri = self.redirect_uri.as_ref()?;
        if let Some(s) = &self.state {
            params.push(("state", s.clone()));
        }
        params.push(("session_state", self.session_state(uri)));
        Some(Outcome::Respond {
            redirect_uri: uri.clone(),
            form_post: self.form_post,
            params,
            cookies,
        })
    }

    fn error(&self, e: OAuthError) -> Outcome {
        let params = vec![
            ("error", e.error.to_string()),
            ("error_description", e.description.clone()),
        ];
        self.respond(params, Vec::new())
            .unwrap_or(Outcome::JsonError(e))
    }
}

/// Parameters with the first value of each name, for the error path of a request that
/// repeats one (so the error can still be redirected when client and redirect_uri are sane).
fn first_values(req: &lambda_http::Request) -> Params {
    let mut map = std::collections::BTreeMap::new();
    let mut add = |input: &str| {
        for (k, v) in url::form_urlencoded::parse(input.as_bytes()) {
            if !v.is_empty() {
                map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
            }
        }
    };
    add(http::raw_query(req));
    if req.method() == ::http::Method::POST && http::is_form(req) {
        add(http::body_text(req));
    }
    Params(map)
}

/// The parsed, validated request.
struct Checked {
    response_type_code: bool,
    scopes: Vec<String>,
    prompt_none: bool,
    prompt_login: bool,
    max_age: Option<i64>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    hint: Option<(String, Option<String>)>,
}

fn check(p: &Params, client: &ClientItem) -> Result<Checked, OAuthError> {
    if p.get("request").is_some() {
        return Err(OAuthError::new(
            "request_not_supported",
            "Request objects are not supported.",
        ));
    }
    if p.get("request_uri").is_some() {
        return Err(OAuthError::new(
            "request_uri_not_supported",
            "request_uri is not supported.",
        ));
    }
    if p.get("registration").is_some() {
        return Err(OAuthError::new(
            "registration_not_supported",
            "The registration parameter is not supported.",
        ));
    }
    let code = match p.get("response_type") {
        None => return Err(OAuthError::invalid_request("response_type is required.")),
        Some("code") => true,
        Some("none") => false,
        Some(_) => {
            return Err(OAuthError::new(
                "unsupported_response_type",
                "Only response_type code and none are supported.",
            ))
        }
    };
    if code && !client.grant_types.iter().any(|g| g == "authorization_code") {
        return Err(OAuthError::new(
            "unauthorized_client",
            "This client may not use the authorization code grant.",
        ));
    }
    let scopes = crate::oauth::oidc::parse_scope(p.get("scope").unwrap_or(""))
        .ok_or_else(|| OAuthError::new("invalid_scope", "The scope contains an unknown value."))?;
    if !scopes.iter().any(|s| s == "openid") {
        return Err(OAuthError::new(
            "invalid_scope",
            "The scope must include openid.",
        ));
    }
    if let Some(s) = scopes.iter().find(|s| !client.scopes.contains(s)) {
        return Err(OAuthError::new(
            "invalid_scope",
            format!("This client may not request the scope {s}."),
        ));
    }
    let mut prompt_none = false;
    let mut prompt_login = false;
    let mut prompts = 0;
    for v in p
        .get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|v| !v.is_empty())
    {
        prompts += 1;
        match v {
            "none" => prompt_none = true,
            "login" => prompt_login = true,
            // No consent or account-selection screens exist: clients are registered by an
            // administrator, and one browser has one session.
            "consent" | "select_account" => {}
            _ => {
                return Err(OAuthError::invalid_request(
                    "prompt may only contain none, login, consent or select_account.",
                ))
            }
        }
    }
    if prompt_none && prompts > 1 {
        return Err(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values.",
        ));
    }
    let max_age = match p.get("max_age") {
        None => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            OAuthError::invalid_request("max_age must be a non-negative integer.")
        })?),
    };
    let nonce = p.get("nonce").map(str::to_string);
    if nonce.as_ref().is_some_and(|n| n.len() > 512) {
        return Err(OAuthError::invalid_request("nonce is too long."));
    }
    let method = p.get("code_challenge_method");
    let challenge = p.get("code_challenge");
    let code_challenge = match (challenge, method) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method without code_challenge.",
            ))
        }
        (Some(_), None) | (Some(_), Some("plain")) => {
            return Err(OAuthError::invalid_request(
                "PKCE method plain is not allowed; use S256.",
            ))
        }
        (Some(_), Some(m)) if m != "S256" => {
            return Err(OAuthError::invalid_request(
                "Unsupported code_challenge_method; use S256.",
            ))
        }
        (Some(c), Some(_)) => {
            if c.len() != 43 || !is_b64url(c) {
                return Err(OAuthError::invalid_request(
                    "code_challenge must be the base64url SHA-256 of the verifier (43 characters).",
                ));
            }
            Some(c.to_string())
        }
    };
    if code && client.is_public() && code_challenge.is_none() {
        return Err(OAuthError::invalid_request(
            "PKCE (code_challenge with S256) is required for public clients.",
        ));
    }
    Ok(Checked {
        response_type_code: code,
        scopes,
        prompt_none,
        prompt_login,
        max_age,
        nonce,
        code_challenge,
        hint: None,
    })
}

fn marker_mac(key: &[u8], client_id: &str, ts: i64, browser: &str) -> String {
    crypto::hmac_b64(
        key,
        format!(
            "warden-reauth|{client_id}|{ts}|{}",
            crypto::hash_secret(browser)
        )
        .as_bytes(),
    )
}

/// A well-formed random cookie value (43 base64url characters, as `random_token` makes).
fn random_cookie_value(v: &str) -> bool {
    v.len() == 43 && is_b64url(v)
}

/// Does a verified ID token name `client_id` among its audiences?
fn hint_names_audience(claims: &serde_json::Value, client_id: &str) -> bool {
    match &claims["aud"] {
        serde_json::Value::String(a) => a == client_id,
        serde_json::Value::Array(a) => a.iter().any(|v| v.as_str() == Some(client_id)),
        _ => false,
    }
}

/// The relative GET URL of this request for the login page to return to, with a fresh
/// re-authentication marker.
fn return_to(p: &Params, marker: Option<String>) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &p.0 {
        if k != REAUTH_PARAM {
            ser.append_pair(k, v);
        }
    }
    if let Some(m) = marker {
        ser.append_pair(REAUTH_PARAM, &m);
    }
    format!("/oauth2/authorize?{}", ser.finish())
}

/// Decide the answer to an authorization request (GET query or POST form).
///
/// Round trips (code issued, warm caches): 1 GetItem (session), 1 GetItem (user),
/// 0–1 UpdateItem (session touch / app join), 1 PutItem (code). A cold start adds 1 for
/// the client and 1 for the keys.
pub async fn authorize(app: &App, req: &lambda_http::Request) -> Outcome {
    let headers: &HeaderMap = req.headers();
    let (p, repeated) = match http::params(req) {
        Ok(p) => (p, None),
        Err(ParamsError::Malformed) => {
            return page(
                StatusCode::BAD_REQUEST,
                "The request's parameters could not be read.",
            )
        }
        Err(ParamsError::Duplicate(k)) => (first_values(req), Some(k)),
    };
    if let Some(k) = repeated
        .as_deref()
        .filter(|k| *k == "client_id" || *k == "redirect_uri")
    {
        return page(
            StatusCode::BAD_REQUEST,
            format!("The parameter {k} is repeated."),
        );
    }
    let Some(client_id) = p.get("client_id") else {
        return page(StatusCode::BAD_REQUEST, "The request has no client_id.");
    };
    let client = match app.client(client_id).await {
        Ok(Some(c)) if !c.disabled => c,
        Ok(_) => {
            return page(
                StatusCode::BAD_REQUEST,
                "The application that sent you here is not registered.",
            )
        }
        Err(e) => return store_page(e),
    };
    let redirect_uri = match p.get("redirect_uri") {
        Some(u) if client.redirect_uris.iter().any(|r| r == u) => Some(u.to_string()),
        Some(_) => {
            return page(
                StatusCode::BAD_REQUEST,
                "The redirect_uri is not registered for this application.",
            )
        }
        None if p.get("response_type") == Some("none") => None,
        // OIDC Core §3.1.2.1: redirect_uri is REQUIRED in an OpenID request. (RFC 6749 lets
        // a client with one registered URI omit it; every request here is an OpenID one.)
        None => {
            return page(
                StatusCode::BAD_REQUEST,
                "The request has no redirect_uri (an OpenID Connect request must send it).",
            )
        }
    };
    let (form_post, mode_ok) = match p.get("response_mode") {
        None | Some("query") => (false, true),
        Some("form_post") => (true, true),
        Some(_) => (false, false),
    };
    let target = Target {
        client: client.clone(),
        redirect_uri,
        form_post,
        state: p.get("state").map(str::to_string),
        browser_state: host_cookie(headers, BROWSER_STATE_COOKIE, app.config.cookie_secure)
            .unwrap_or("")
            .to_string(),
    };
    if let Some(k) = repeated {
        return target.error(OAuthError::invalid_request(format!(
            "The parameter {k} is repeated."
        )));
    }
    if !mode_ok {
        return target.error(OAuthError::invalid_request(
            "response_mode must be query or form_post.",
        ));
    }
    let mut c = match check(&p, &client) {
        Ok(c) => c,
        Err(e) => return target.error(e),
    };
    let keys = match app.keys().await {
        Ok(k) => k,
        Err(e) => return target.error(e.into()),
    };
    if let Some(hint) = p.get("id_token_hint") {
        match keys.verify(hint, &app.config.issuer, false) {
            // OIDC Core §3.1.2.1: the hint is an ID token this OP issued *to this client*.
            Ok(claims) if hint_names_audience(&claims, client_id) => {
                let sub = claims["sub"].as_str().unwrap_or("").to_string();
                let sid = claims["sid"].as_str().map(str::to_string);
                c.hint = Some((sub, sid));
            }
            Ok(_) => {
                return target.error(OAuthError::invalid_request(
                    "id_token_hint was not issued to this client.",
                ))
            }
            Err(_) => {
                return target.error(OAuthError::invalid_request(
                    "id_token_hint is not a valid ID token issued by this server.",
                ))
            }
        }
    }
    let now = now_s();
    let mac_key = keys.derivation_key(keys.signer_kid());
    let secure = app.config.cookie_secure;
    let browser = host_cookie(headers, REAUTH_COOKIE, secure).filter(|v| random_cookie_value(v));
    let marker_ts = p.get(REAUTH_PARAM).and_then(|m| {
        let (ts, mac) = m.split_once('.')?;
        let ts: i64 = ts.parse().ok()?;
        let key = mac_key.as_ref()?;
        let ok = crypto::ct_eq(
            mac.as_bytes(),
            marker_mac(key, client_id, ts, browser?).as_bytes(),
        );
        (ok && now - ts <= REAUTH_MARKER_SECS && ts <= now + 5).then_some(ts)
    });
    // The browser value a new marker is bound to: the one the browser has, or a new one
    // set with the hop to the login page.
    let (browser_value, browser_cookie) = match browser {
        Some(v) => (v.to_string(), Vec::new()),
        None => {
            let v = crypto::random_token();
            let c = CookieSpec {
                name: REAUTH_COOKIE,
                value: &v,
                http_only: true,
                secure,
                same_site: "Lax",
                max_age: Some(REAUTH_MARKER_SECS),
            }
            .render();
            (v, vec![c])
        }
    };
    let to_login = || Outcome::Login {
        return_to: return_to(
            &p,
            mac_key
                .as_ref()
                .map(|k| format!("{now}.{}", marker_mac(k, client_id, now, &browser_value))),
        ),
        cookies: browser_cookie.clone(),
    };
    let login_required = |target: &Target, why: &str| -> Outcome {
        target.error(OAuthError::new("login_required", why))
    };
    // The session, its user, and whether they satisfy the request: 1 BatchGetItem.
    let (session, user) = match session::with_user_from_cookie(app, headers).await {
        Ok(Some((s, u))) => (Some(s), u),
        Ok(None) => (None, None),
        Err(e) => return target.error(e.into()),
    };
    let (s, user) = match (session, user) {
        (Some(s), Some(u)) => (s, u),
        _ => {
            if c.prompt_none || target.redirect_uri.is_none() {
                return login_required(&target, "The user is not signed in.");
            }
            return to_login();
        }
    };
    let fresh = marker_ts.is_some_and(|ts| s.auth_time >= ts);
    let too_old = c.max_age.is_some_and(|m| now - s.auth_time > m);
    if !fresh && (c.prompt_login || too_old) {
        if c.prompt_none || target.redirect_uri.is_none() {
            return login_required(&target, "The authentication is older than max_age.");
        }
        return to_login();
    }
    if let Some((sub, sid)) = &c.hint {
        if *sub != s.user_id {
            return login_required(
                &target,
                "The id_token_hint names a user other than the signed-in one.",
            );
        }
        // A session created by this very request (the user signed in after being sent to
        // the login page) replaces the hinted one: that is the positive case of Core
        // §3.1.2.1 ("is logged in by the request").
        if sid.as_ref().is_some_and(|sid| *sid != s.sid) && !fresh {
            return login_required(&target, "The id_token_hint belongs to another session.");
        }
    }
    if !c.response_type_code {
        return match target.respond(Vec::new(), Vec::new()) {
            Some(o) => o,
            None => Outcome::NoContent,
        };
    }
    let redirect_uri = target.redirect_uri.clone().unwrap_or_default();
    let granted: Vec<String> = c
        .scopes
        .iter()
        .filter(|sc| !ROLE_SCOPES.contains(&sc.as_str()) || user.roles.contains(sc))
        .cloned()
        .collect();
    let s = match session::touch(
        app,
        &s,
        Some((
            &client.client_id,
            &client.name,
            client.backchannel_logout_uri.is_some(),
        )),
    )
    .await
    {
        Ok(Some(s)) => s,
        Ok(None) => {
            if c.prompt_none {
                return login_required(&target, "The session has ended.");
            }
            return to_login();
        }
        Err(e) => return target.error(e.into()),
    };
    let mut cookies = Vec::new();
    let browser_binding = if client.token_binding == "cookie" {
        let existing = host_cookie(headers, BINDING_COOKIE, app.config.cookie_secure)
            .filter(|v| random_cookie_value(v));
        let value = match existing {
            Some(v) => v.to_string(),
            None => {
                let v = crypto::random_token();
                cookies.push(
                    CookieSpec {
                        name: BINDING_COOKIE,
                        value: &v,
                        http_only: true,
                        secure: app.config.cookie_secure,
                        same_site: "Lax",
                        max_age: Some(BINDING_COOKIE_MAX_AGE),
                    }
                    .render(),
                );
                v
            }
        };
        Some(crypto::hash_secret(&value))
    } else {
        None
    };
    // The grant is sealed into the code: nothing is written for it (see `code`).
    let scope = granted.join(" ");
    let mut grant = CodeGrant::for_session(
        &s,
        &client.client_id,
        &redirect_uri,
        &scope,
        IdClaims::for_scope(&user, &scope),
        now + CODE_VALID_SECS,
    );
    grant.nonce = c.nonce.take();
    grant.code_challenge = c.code_challenge.take();
    grant.browser_binding = browser_binding;
    let code = match app.keys().await.map(|k| code::seal(&k, &grant)) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot seal a code");
            return target.error(OAuthError::server_error());
        }
        Err(e) => return target.error(e.into()),
    };
    target
        .respond(vec![("code", code)], cookies)
        .unwrap_or(Outcome::NoContent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_replaces_the_marker_and_is_relative() {
        let p = Params::parse("client_id=a&scope=openid%20email&warden_reauth=old").unwrap();
        let r = return_to(&p, Some("1.x".into()));
        assert!(r.starts_with("/oauth2/authorize?"));
        assert!(r.contains("scope=openid+email"));
        assert!(r.ends_with("warden_reauth=1.x"));
        assert!(!r.contains("old"));
        assert!(crate::session::login::is_safe_return_to(&r));
    }
}
