//! HTTP helpers shared by every handler: responses, cookies, forms, query strings, bearer
//! tokens, origins. Nothing here panics on input. Its modules: [`error`] (the REST and OAuth
//! error shapes), [`cors`], [`csrf`].

pub mod cors;
pub mod csrf;
pub mod error;
pub mod response;
pub mod routes;

use http::{header, HeaderMap, HeaderValue};
use lambda_http::{Body, Request, RequestExt};
use std::collections::BTreeMap;

pub use response::*;

/// Add a `Set-Cookie` header.
pub fn set_cookie(resp: &mut Resp, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Attributes for a cookie Warden sets.
pub struct CookieSpec<'a> {
    /// The bare name; [`CookieSpec::render`] adds the `__Host-` prefix when `secure`.
    pub name: &'a str,
    /// The value, already safe for a cookie (no `;`, `,` or whitespace).
    pub value: &'a str,
    /// `HttpOnly`: scripts cannot read it.
    pub http_only: bool,
    /// `Secure` (and the `__Host-` name); false only on a plain-http issuer.
    pub secure: bool,
    /// `Lax`, `Strict` or `None` (None forces Secure in browsers).
    pub same_site: &'a str,
    /// Seconds; `None` = session cookie; `Some(0)` deletes.
    pub max_age: Option<i64>,
}

/// The name a cookie at `Path=/` is set and read under: `__Host-<name>` when it is
/// `Secure` (the prefix makes browsers refuse it from a sub-domain or over plain http, so a
/// neighbour cannot plant one), the bare name on plain-http local runs.
pub fn cookie_name(name: &str, secure: bool) -> std::borrow::Cow<'_, str> {
    if secure {
        std::borrow::Cow::Owned(format!("__Host-{name}"))
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// The value of a cookie Warden set with [`CookieSpec`] (at `Path=/`), under the name it
/// was set with ([`cookie_name`]). With `secure`, a cookie without the prefix is ignored.
pub fn host_cookie<'a>(headers: &'a HeaderMap, name: &str, secure: bool) -> Option<&'a str> {
    cookie(headers, &cookie_name(name, secure))
}

impl CookieSpec<'_> {
    /// The `Set-Cookie` value, always at `Path=/`.
    pub fn render(&self) -> String {
        let mut s = format!(
            "{}={}; Path=/",
            cookie_name(self.name, self.secure),
            self.value
        );
        if let Some(age) = self.max_age {
            s.push_str(&format!("; Max-Age={age}"));
        }
        if self.http_only {
            s.push_str("; HttpOnly");
        }
        if self.secure || self.same_site == "None" {
            s.push_str("; Secure");
        }
        s.push_str("; SameSite=");
        s.push_str(self.same_site);
        s
    }
}

/// The value of the named cookie, if the request carries it (first occurrence wins).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A header as a string, if present and valid.
pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Parameters from a query string or an `application/x-www-form-urlencoded` body.
/// Repeated parameters are an error (RFC 6749 §3.1: "parameters MUST NOT be included more
/// than once"); empty values count as absent.
#[derive(Debug, Default, Clone)]
pub struct Params(pub BTreeMap<String, String>);

/// Why parameters were refused (either is a 400).
#[derive(Debug, PartialEq, Eq)]
pub enum ParamsError {
    /// A parameter (named) occurred more than once.
    Duplicate(String),
    /// Not valid `application/x-www-form-urlencoded`, or not UTF-8.
    Malformed,
}

impl Params {
    /// Parse a query string or form body: empty values dropped, repeats refused.
    pub fn parse(input: &str) -> Result<Self, ParamsError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(input).map_err(|_| ParamsError::Malformed)?;
        let mut map = BTreeMap::new();
        for (k, v) in pairs {
            if v.is_empty() {
                continue;
            }
            if map.insert(k.clone(), v).is_some() {
                return Err(ParamsError::Duplicate(k));
            }
        }
        Ok(Params(map))
    }
    /// The parameter's value, if given and non-empty.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }
    /// The names of the parameters given, in sorted order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// The raw query string of a request.
pub fn raw_query(req: &Request) -> &str {
    req.uri().query().unwrap_or("")
}

/// The request body as UTF-8 text (empty for none or non-UTF-8).
pub fn body_text(req: &Request) -> &str {
    match req.body() {
        Body::Text(s) => s.as_str(),
        Body::Binary(b) => std::str::from_utf8(b).unwrap_or(""),
        _ => "",
    }
}

/// True if the request's Content-Type is form-urlencoded.
pub fn is_form(req: &Request) -> bool {
    header_str(req.headers(), "content-type")
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
        .unwrap_or(false)
}

/// The parameters of a form body. A body that is not UTF-8 is `Malformed` (a 400), never
/// read as empty.
pub fn form_body(req: &Request) -> Result<Params, ParamsError> {
    match req.body() {
        Body::Binary(b) => {
            Params::parse(std::str::from_utf8(b).map_err(|_| ParamsError::Malformed)?)
        }
        _ => Params::parse(body_text(req)),
    }
}

/// Query parameters merged with a form body for POST (query wins nothing: duplicates across
/// the two are an error too).
pub fn params(req: &Request) -> Result<Params, ParamsError> {
    let mut p = Params::parse(raw_query(req))?;
    if req.method() == http::Method::POST && is_form(req) {
        let body = form_body(req)?;
        for (k, v) in body.0 {
            if p.0.insert(k.clone(), v).is_some() {
                return Err(ParamsError::Duplicate(k));
            }
        }
    }
    Ok(p)
}

/// The form body of an OAuth endpoint (token, introspection, revocation): the Content-Type
/// must be form-urlencoded and no parameter may repeat (RFC 6749 §3.2, RFC 7009, RFC 7662).
pub fn oauth_form(req: &Request) -> Result<Params, crate::http::error::OAuthError> {
    if !is_form(req) {
        return Err(crate::http::error::OAuthError::invalid_request(
            "The body must be application/x-www-form-urlencoded.",
        ));
    }
    form_body(req).map_err(|e| match e {
        ParamsError::Duplicate(p) => {
            crate::http::error::OAuthError::invalid_request(format!("Parameter {p} repeated."))
        }
        ParamsError::Malformed => crate::http::error::OAuthError::invalid_request(
            "Malformed form body (it must be UTF-8).",
        ),
    })
}

/// A path parameter set by API Gateway (or the local stack).
pub fn path_param(req: &Request, name: &str) -> Option<String> {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_string)
}

/// The bearer token of an `Authorization` header, per RFC 6750 §2.1.
pub enum Bearer<'a> {
    /// No `Authorization` header, or one with another scheme (e.g. `Basic`).
    Missing,
    /// A `Bearer` header whose token is not a `b64token`, or a header that is not visible ASCII.
    Malformed,
    /// The token.
    Token(&'a str),
}

/// RFC 6750 §2.1's `b64token`: one or more of ALPHA / DIGIT / "-" / "." / "_" / "~" /
/// "+" / "/", then "=" padding (padding is accepted anywhere, as before).
pub fn is_b64token(tok: &str) -> bool {
    !tok.is_empty()
        && tok
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
}

/// The bearer token of the request's `Authorization` header (RFC 6750 §2.1; the scheme is
/// case-insensitive).
pub fn bearer(headers: &HeaderMap) -> Bearer<'_> {
    let Some(v) = header_str(headers, "authorization") else {
        return if headers.contains_key(header::AUTHORIZATION) {
            Bearer::Malformed
        } else {
            Bearer::Missing
        };
    };
    match v.split_once(' ') {
        Some((scheme, tok)) if scheme.eq_ignore_ascii_case("bearer") => {
            let tok = tok.trim();
            if is_b64token(tok) {
                Bearer::Token(tok)
            } else {
                Bearer::Malformed
            }
        }
        _ => Bearer::Missing,
    }
}

/// HTTP Basic credentials (RFC 6749 §2.3.1: both parts form-urlencoded).
pub fn basic_auth(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    let v = header_str(headers, "authorization")?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    let Some(decoded) = decoded else {
        return Some(Err(()));
    };
    let Some((id, secret)) = decoded.split_once(':') else {
        return Some(Err(()));
    };
    let dec = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    match (dec(id), dec(secret)) {
        (Some(i), Some(s)) => Some(Ok((i, s))),
        _ => Some(Err(())),
    }
}

pub use crate::platform::url::origin_of;

/// The caller's IP as API Gateway reports it.
pub fn source_ip(req: &Request) -> String {
    use lambda_http::request::RequestContext;
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// The request's route key (`"GET /api/users/v1/{user-id}/sessions"`) as API Gateway
/// reports it; for a request that came another way, the route its method and path match in
/// the table ([`routes::key_of`]).
pub fn route_key(req: &Request) -> String {
    use lambda_http::request::RequestContext;
    let from_gateway = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone().unwrap_or_default(),
        _ => String::new(),
    };
    if from_gateway.is_empty() {
        routes::key_of(req.method().as_str(), req.uri().path()).to_string()
    } else {
        from_gateway
    }
}

/// The request id API Gateway assigned (used as the error `traceId`).
pub fn request_id(req: &Request) -> String {
    use lambda_http::request::RequestContext;
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// HTML-escape text for pages.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Append query parameters to a URL that may already have a query.
pub fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    let mut s = base.to_string();
    let mut sep = if base.contains('?') { '&' } else { '?' };
    for (k, v) in params {
        s.push(sep);
        sep = '&';
        s.push_str(&url::form_urlencoded::byte_serialize(k.as_bytes()).collect::<String>());
        s.push('=');
        s.push_str(&url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_reject_duplicates() {
        assert_eq!(
            Params::parse("a=1&a=2").unwrap_err(),
            ParamsError::Duplicate("a".into())
        );
        let p = Params::parse("a=1&b=&c=x%20y").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("HTTPS://Client.Example.org:443/cb?x=1").as_deref(),
            Some("https://client.example.org")
        );
        assert_eq!(
            origin_of("http://localhost:8080/x").as_deref(),
            Some("http://localhost:8080")
        );
        assert_eq!(origin_of("data:text/plain,x"), None);
    }

    #[test]
    fn page_csp_admits_exactly_the_pages_own_scripts() {
        let page = "<p>x</p><script>go()</script><script type=\"x\">b()</script>";
        let csp = page_csp(page, false);
        assert!(csp.contains(&csp_hash("go()")));
        assert!(csp.contains(&csp_hash("b()")));
        assert!(!csp.contains("unsafe-inline"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(
            page_csp("<p>none</p>", true),
            "script-src 'none'; object-src 'none'; base-uri 'none'"
        );
    }

    #[test]
    fn secure_cookies_carry_the_host_prefix() {
        let spec = |secure| CookieSpec {
            name: "warden_session",
            value: "v",
            http_only: true,
            secure,
            same_site: "Lax",
            max_age: None,
        };
        assert!(spec(true)
            .render()
            .starts_with("__Host-warden_session=v; Path=/"));
        assert!(spec(false).render().starts_with("warden_session=v; Path=/"));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("warden_session=planted; __Host-warden_session=real"),
        );
        assert_eq!(host_cookie(&h, "warden_session", true), Some("real"));
        assert_eq!(host_cookie(&h, "warden_session", false), Some("planted"));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("warden_session=planted"),
        );
        assert_eq!(host_cookie(&h, "warden_session", true), None);
    }

    #[test]
    fn cookies_parse() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; warden_session=x.y; b"),
        );
        assert_eq!(cookie(&h, "warden_session"), Some("x.y"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
