//! Building answers: JSON (private or public), HTML pages with their security headers and
//! script CSP, redirects, empty answers, and the transport headers every answer carries.

use http::{header, HeaderMap, HeaderValue, StatusCode};
use lambda_http::Body;

/// The response type every handler returns.
pub type Resp = http::Response<Body>;

fn build(status: StatusCode, content_type: &'static str, body: Body) -> Resp {
    let mut r = http::Response::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A JSON response with `Cache-Control: no-store` (every Warden JSON answer is private).
pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Resp {
    let mut r = build(status, "application/json", Body::Text(value.to_string()));
    no_store(r.headers_mut());
    r
}

/// A public, cacheable JSON document (discovery, JWKS).
pub fn public_json(value: &serde_json::Value, max_age: u32) -> Resp {
    public_json_text(value.to_string(), max_age)
}

/// [`public_json`] for a body serialised beforehand (discovery and JWKS cache theirs).
pub fn public_json_text(body: String, max_age: u32) -> Resp {
    let mut r = build(StatusCode::OK, "application/json", Body::Text(body));
    let cache = match max_age {
        300 => HeaderValue::from_static("public, max-age=300"),
        3600 => HeaderValue::from_static("public, max-age=3600"),
        _ => match HeaderValue::from_str(&format!("public, max-age={max_age}")) {
            Ok(v) => v,
            Err(_) => HeaderValue::from_static("no-cache"),
        },
    };
    r.headers_mut().insert(header::CACHE_CONTROL, cache);
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

/// An HTML page with security headers. `frameable` is only true for the check-session iframe.
/// Every page gets a Content-Security-Policy whose `script-src` admits exactly the page's
/// own inline scripts, by hash ([`page_csp`]): no `unsafe-inline`, no inline event handlers.
pub fn html_response(status: StatusCode, html: String, frameable: bool) -> Resp {
    let csp = page_csp(&html, frameable);
    let mut r = build(status, "text/html; charset=utf-8", Body::Text(html));
    let h = r.headers_mut();
    no_store(h);
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // `same-origin`, not `no-referrer`: no referrer ever leaves for another site, but a form
    // the page posts to Warden itself carries its real `Origin` (under `no-referrer`
    // browsers send `Origin: null`, which the login and logout forms refuse).
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    if !frameable {
        h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    }
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

/// The texts of a page's inline `<script>` elements (Warden's pages are generated here, so a
/// plain scan finds them all; a script with attributes counts the same).
fn inline_scripts(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<script") {
        let after = &rest[i + 7..];
        let Some(open_end) = after.find('>') else {
            break;
        };
        let body = &after[open_end + 1..];
        let Some(close) = body.find("</script>") else {
            break;
        };
        out.push(&body[..close]);
        rest = &body[close + 9..];
    }
    out
}

/// The CSP `'sha256-…'` source of an inline script or style.
pub fn csp_hash(text: &str) -> String {
    use base64::Engine;
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD
            .encode(crate::platform::crypto::sha256(text.as_bytes()))
    )
}

/// The one stylesheet of every hosted page — login, logout confirmation, signed-out, My
/// Account and the sessions console — inlined in each as `<style>` (no external asset;
/// pages whose CSP restricts styles list its [`csp_hash`]).
pub const STYLE: &str = include_str!("style.css");

/// The Content-Security-Policy of a hosted page: scripts only by the hashes of the page's
/// own inline scripts (`'none'` without any), no plugins, no `<base>`, and no framing
/// unless `frameable`. Styles, images, forms and frames are left to the defaults: the pages
/// style themselves inline, the front-channel page frames the apps' logout URIs, and the
/// form_post page posts to the app.
pub fn page_csp(html: &str, frameable: bool) -> String {
    let hashes: Vec<String> = inline_scripts(html).into_iter().map(csp_hash).collect();
    let scripts = if hashes.is_empty() {
        "'none'".to_string()
    } else {
        hashes.join(" ")
    };
    let mut csp = format!("script-src {scripts}; object-src 'none'; base-uri 'none'");
    if !frameable {
        csp.push_str("; frame-ancestors 'none'");
    }
    csp
}

/// The stricter policy of the first-party script pages (My Account, the sessions console):
/// nothing by default, the page's one inline script and one inline style by their hashes,
/// `connect-src 'self'` (Warden's own token endpoint and APIs), no `<base>`, forms only to
/// Warden, no framing.
pub fn first_party_csp(script: &str, style: &str) -> String {
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; img-src 'self' data:; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        csp_hash(script),
        csp_hash(style)
    )
}

/// Headers every answer of an https deployment carries: `Strict-Transport-Security`
/// (two years; no `includeSubDomains`, which would bind the operator's other hosts).
/// Called by the Lambda wrapper and the local router for every response.
pub fn transport_headers(config: &crate::config::Config, resp: &mut Resp) {
    if config.issuer.starts_with("https://") {
        resp.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000"),
        );
    }
}

/// An empty response with a status.
pub fn empty(status: StatusCode) -> Resp {
    let mut r = http::Response::new(Body::Empty);
    *r.status_mut() = status;
    no_store(r.headers_mut());
    r
}

/// 302 to `location`.
pub fn redirect(location: &str) -> Resp {
    let mut r = empty(StatusCode::FOUND);
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `Cache-Control: no-store` and `Pragma: no-cache`: for every answer that carries a token or a
/// session (RFC 6749 §5.1).
pub fn no_store(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}
