//! HTTP helpers for the browser side of the flows: sign in through the hosted login page,
//! and run `/oauth2/authorize` to a code. Everything goes over HTTP to the stack.

use crate::Stack;
use std::collections::BTreeMap;

/// `name=value` of every `Set-Cookie` header of a response (attributes dropped).
pub fn set_cookies(headers: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|nv| nv.split_once('='))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The value of one cookie set by a response.
pub fn set_cookie_value(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    set_cookies(headers)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

/// The value of a hidden input `name` in an HTML page.
pub fn hidden_input(html: &str, name: &str) -> Option<String> {
    let needle = format!(r#"name="{name}" value=""#);
    let start = html.find(&needle)? + needle.len();
    let end = html[start..].find('"')?;
    Some(html_unescape(&html[start..start + end]))
}

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A fresh login form: `(csrf cookie value, csrf form token)`.
pub async fn login_form(stack: &Stack) -> (String, String) {
    let r = stack
        .http
        .get(stack.url("/login"))
        .send()
        .await
        .expect("GET /login");
    assert_eq!(r.status(), 200, "GET /login");
    let cookie = set_cookie_value(r.headers(), "warden_csrf").expect("warden_csrf cookie");
    let html = r.text().await.expect("login page");
    let token = hidden_input(&html, "csrf_token").expect("csrf_token field");
    (cookie, token)
}

/// POST the login form (with a valid CSRF pair) and return the raw response.
pub async fn post_login(
    stack: &Stack,
    username: &str,
    password: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let (csrf_cookie, csrf_token) = login_form(stack).await;
    let mut form: Vec<(&str, &str)> = vec![
        ("username", username),
        ("password", password),
        ("csrf_token", &csrf_token),
    ];
    form.extend_from_slice(extra);
    stack
        .http
        .post(stack.url("/login"))
        .header("cookie", format!("warden_csrf={csrf_cookie}"))
        .form(&form)
        .send()
        .await
        .expect("POST /login")
}

/// Sign in through the hosted login page. Returns the `Cookie` header value carrying
/// `warden_session` and `warden_bs`. Panics unless the login succeeds (303).
pub async fn login(stack: &Stack, username: &str, password: &str) -> String {
    let r = post_login(stack, username, password, &[]).await;
    assert_eq!(r.status(), 303, "login of {username} should succeed");
    cookie_header_from(r.headers())
}

/// The `Cookie` header value (`warden_session=…; warden_bs=…`) from a login response.
pub fn cookie_header_from(headers: &reqwest::header::HeaderMap) -> String {
    let session = set_cookie_value(headers, "warden_session").expect("warden_session cookie");
    let bs = set_cookie_value(headers, "warden_bs").expect("warden_bs cookie");
    format!("warden_session={session}; warden_bs={bs}")
}

/// The value of a cookie in a `Cookie` header value.
pub fn cookie_value(cookie_header: &str, name: &str) -> Option<String> {
    cookie_header
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A PKCE pair `(verifier, S256 challenge)`.
pub fn pkce() -> (String, String) {
    let v = warden_core::platform::crypto::random_token();
    let c = warden_core::platform::crypto::pkce_s256(&v);
    (v, c)
}

/// An authorization response, whatever it was.
#[derive(Debug)]
pub struct AuthzResponse {
    pub status: u16,
    pub location: Option<String>,
    /// Query parameters of `location` (empty when there is none).
    pub params: BTreeMap<String, String>,
    pub set_cookies: Vec<(String, String)>,
    pub body: String,
}

impl AuthzResponse {
    pub fn param(&self, k: &str) -> Option<&str> {
        self.params.get(k).map(String::as_str)
    }
}

/// An absolute URL of the stack with query parameters (reqwest here has no `query`).
pub fn url_with<K: AsRef<str>, V: AsRef<str>>(
    stack: &Stack,
    path: &str,
    params: &[(K, V)],
) -> String {
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    warden_core::http::with_query(&stack.url(path), &pairs)
}

/// GET `/oauth2/authorize` with exactly `params` and the given `Cookie` header (may be "").
pub async fn authorize(stack: &Stack, cookie: &str, params: &[(&str, &str)]) -> AuthzResponse {
    let mut req = stack.http.get(url_with(stack, "/oauth2/authorize", params));
    if !cookie.is_empty() {
        req = req.header("cookie", cookie);
    }
    let r = req.send().await.expect("GET /oauth2/authorize");
    authz_response(r).await
}

/// Read an authorization response (used for GET and POST variants).
pub async fn authz_response(r: reqwest::Response) -> AuthzResponse {
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let set_cookies = set_cookies(r.headers());
    let params = location
        .as_deref()
        .and_then(|l| url::Url::parse(l).ok())
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let body = r.text().await.unwrap_or_default();
    AuthzResponse {
        status,
        location,
        params,
        set_cookies,
        body,
    }
}

/// Run `/oauth2/authorize` (response_type=code) for a signed-in browser and return
/// `(code, state, session_state)`. Defaults `response_type=code`, `scope=openid` and a random
/// `state`; `extra_params` add to or override them (e.g. `code_challenge`, `nonce`). Panics
/// unless the answer is a redirect to `redirect_uri` with a code.
pub async fn authorize_code(
    stack: &Stack,
    cookie: &str,
    client_id: &str,
    redirect_uri: &str,
    extra_params: &[(&str, &str)],
) -> (String, String, String) {
    let state = warden_core::platform::crypto::random_id();
    let mut p: BTreeMap<&str, &str> = BTreeMap::new();
    p.insert("response_type", "code");
    p.insert("scope", "openid");
    p.insert("state", &state);
    p.insert("client_id", client_id);
    p.insert("redirect_uri", redirect_uri);
    for (k, v) in extra_params {
        p.insert(k, v);
    }
    let params: Vec<(&str, &str)> = p.into_iter().collect();
    let r = authorize(stack, cookie, &params).await;
    assert_eq!(r.status, 302, "authorize should redirect: {r:?}");
    let loc = r.location.clone().unwrap_or_default();
    assert!(
        loc.starts_with(redirect_uri),
        "authorize should redirect to {redirect_uri}: {loc}"
    );
    let code = r
        .param("code")
        .unwrap_or_else(|| panic!("no code in {loc}"))
        .to_string();
    let st = r.param("state").unwrap_or_default().to_string();
    let ss = r
        .param("session_state")
        .unwrap_or_else(|| panic!("no session_state in {loc}"))
        .to_string();
    (code, st, ss)
}

/// `POST /oauth2/token` with `grant_type=authorization_code`, the client authenticated with
/// HTTP Basic (`client_secret_basic`); `code_verifier` is sent when given.
pub async fn exchange_code(
    stack: &Stack,
    client_id: &str,
    secret: &str,
    code: &str,
    redirect_uri: &str,
    code_verifier: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(v) = code_verifier {
        form.push(("code_verifier", v));
    }
    stack
        .http
        .post(stack.url("/oauth2/token"))
        .basic_auth(client_id, Some(secret))
        .form(&form)
        .send()
        .await
        .expect("token request")
}

/// `POST /oauth2/token` with `grant_type=refresh_token`, the client authenticated with HTTP
/// Basic.
pub async fn refresh(
    stack: &Stack,
    client_id: &str,
    secret: &str,
    refresh_token: &str,
) -> reqwest::Response {
    stack
        .http
        .post(stack.url("/oauth2/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .expect("refresh request")
}

/// `POST /oauth2/introspect` (RFC 7662) by the token's own client; the JSON answer.
pub async fn introspect(
    stack: &Stack,
    client_id: &str,
    secret: &str,
    token: &str,
) -> serde_json::Value {
    let r = stack
        .http
        .post(stack.url("/oauth2/introspect"))
        .basic_auth(client_id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspection request");
    assert_eq!(r.status(), 200, "introspection answers 200");
    r.json().await.expect("introspection JSON")
}

/// A JWT's claims (its payload, not verified: for tests that verify elsewhere or only read).
pub fn jwt_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    let part = jwt.split('.').nth(1).expect("a JWT payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}
