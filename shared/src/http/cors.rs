//! CORS for the endpoints a browser app calls itself: token, userinfo and revocation.
//! (Discovery and JWKS are public documents and answer `*`; see `http::public_json`.)
//!
//! The rule, as in node-oidc-provider's `clientBasedCORS` and Keycloak's web origins:
//! * a preflight (`OPTIONS`) is answered for any origin: it carries no client, and it
//!   reveals nothing;
//! * the real request is allowed once its client is known (client authentication on token
//!   and revoke, the access token's client on userinfo) and only from that client's
//!   origins: its `web_origins`, or when it lists none, the origins of its redirect URIs;
//! * a request from another origin is refused before anything happens (token, revoke), or
//!   answered without CORS headers so the page cannot read it (userinfo, which changes
//!   nothing).
//!
//! None of these endpoints reads a cookie, so `Access-Control-Allow-Credentials` is never
//! sent: a page sends its client credentials or bearer token itself.

use crate::http::error::OAuthError;
use crate::http::{header_str, Resp};
use crate::store::schema::ClientItem;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use lambda_http::Body;

/// How long a browser may cache a preflight answer (seconds).
pub const PREFLIGHT_MAX_AGE: &str = "600";
/// Request headers a page may send: client credentials / bearer token, and the form type.
pub const ALLOWED_HEADERS: &str = "Authorization, Content-Type";

pub use crate::http::origin_of;

/// The request's `Origin` when it is a well-formed origin (not `null`, no path), as sent.
pub fn request_origin(headers: &HeaderMap) -> Option<&str> {
    let o = header_str(headers, "origin")?;
    (o.len() <= 512 && origin_of(o).as_deref() == Some(o)).then_some(o)
}

/// The origins a client's pages may call from (each once, in order).
pub fn client_origins(client: &ClientItem) -> Vec<String> {
    if client.web_origins.is_empty() {
        let mut out: Vec<String> = Vec::new();
        for o in client.redirect_uris.iter().filter_map(|u| origin_of(u)) {
            if !out.contains(&o) {
                out.push(o);
            }
        }
        out
    } else {
        client.web_origins.clone()
    }
}

/// The CORS state of one request to token, userinfo or revoke.
#[derive(Debug, Default)]
pub struct Cors {
    /// The `Origin` of a cross-origin request (absent: server-side or same-origin caller).
    origin: Option<String>,
    /// Set once the client is known and allows the origin.
    allowed: bool,
    /// Set once the client is known (whether or not it allows the origin).
    judged: bool,
    /// The request sent an `Origin` that is not an origin: `null` (a sandboxed frame, a
    /// `data:` or `file:` page, a redirect across origins) or garbage. No client can list
    /// it, so token and revoke refuse it ([`Cors::require`]).
    opaque: bool,
}

impl Cors {
    /// Read the request's origin; Warden's own origin (the issuer's) is not cross-origin.
    /// The issuer is parsed only when the request carries an `Origin` (server-side calls
    /// do not), so the common path costs nothing.
    pub fn of(headers: &HeaderMap, issuer: &str) -> Self {
        let opaque = header_str(headers, "origin").is_some() && request_origin(headers).is_none();
        let origin = request_origin(headers)
            .filter(|o| origin_of(issuer).as_deref() != Some(*o))
            .map(str::to_string);
        Cors {
            origin,
            allowed: false,
            judged: false,
            opaque,
        }
    }

    /// Is this a cross-origin browser request?
    pub fn is_cross_origin(&self) -> bool {
        self.origin.is_some()
    }

    /// Does `client` allow this request's origin? (True for non-CORS requests.) Marks the
    /// answer readable when it does.
    pub fn allow(&mut self, client: &ClientItem) -> bool {
        match &self.origin {
            None => true,
            Some(o) => {
                self.judged = true;
                self.allowed = client_origins(client).iter().any(|c| c == o);
                self.allowed
            }
        }
    }

    /// Make an answer that no client was found for readable from any origin: only for
    /// errors that carry nothing but their own code (userinfo's RFC 6750 `invalid_token`),
    /// so that a page learns its token is gone instead of seeing a network error.
    pub fn allow_unjudged(&mut self) {
        if !self.judged {
            self.allowed = true;
        }
    }

    /// [`Cors::allow`], refusing a cross-origin request its client does not allow, and a
    /// request from an opaque origin (before anything is done for it).
    pub fn require(&mut self, client: &ClientItem) -> Result<(), OAuthError> {
        if self.opaque {
            return Err(OAuthError::invalid_request(
                "The request's Origin is not an origin (Origin: null is refused).",
            ));
        }
        if self.allow(client) {
            Ok(())
        } else {
            Err(OAuthError::invalid_request(
                "The request's origin is not one of the client's web origins.",
            ))
        }
    }

    /// Add the CORS headers to the answer: `Vary: Origin` always on a cross-origin request,
    /// `Access-Control-Allow-Origin` only when the client allowed the origin.
    pub fn finish(&self, mut resp: Resp) -> Resp {
        let Some(origin) = &self.origin else {
            return resp;
        };
        let h = resp.headers_mut();
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        if self.allowed {
            if let Ok(v) = HeaderValue::from_str(origin) {
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
                h.insert(
                    header::ACCESS_CONTROL_EXPOSE_HEADERS,
                    HeaderValue::from_static("WWW-Authenticate"),
                );
            }
        }
        resp
    }
}

/// The answer to a preflight: 204 allowing `methods` from the requesting origin.
pub fn preflight(headers: &HeaderMap, methods: &'static str) -> Resp {
    let mut r = http::Response::new(Body::Empty);
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(o) = request_origin(headers).and_then(|o| HeaderValue::from_str(o).ok()) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(methods),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOWED_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(PREFLIGHT_MAX_AGE),
        );
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("origin", HeaderValue::from_str(origin).unwrap());
        h
    }

    #[test]
    fn origins_are_parsed_strictly() {
        assert_eq!(
            origin_of("https://app.example.com:443/cb?x=1").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            origin_of("http://localhost:9000/cb").as_deref(),
            Some("http://localhost:9000")
        );
        for bad in [
            "null",
            "https://app.example.com/",
            "https://app.example.com/path",
            "HTTPS://APP.example.com",
            "https://app.example.com:443",
            "file:///etc/passwd",
            "",
        ] {
            assert_eq!(request_origin(&headers(bad)), None, "{bad}");
        }
        assert_eq!(
            request_origin(&headers("https://app.example.com")),
            Some("https://app.example.com")
        );
    }

    #[test]
    fn the_issuers_own_origin_is_not_cross_origin() {
        let issuer = "https://id.example.com/t1";
        let c = Cors::of(&headers("https://id.example.com"), issuer);
        assert!(!c.is_cross_origin());
        let c = Cors::of(&headers("https://evil.example"), issuer);
        assert!(c.is_cross_origin());
    }
}
