//! `myaccount`: the My Account page (`GET /myaccount`), plain HTML/CSS/JS with no build step.
//!
//! The page signs in to Warden as the seeded first-party public client `myaccount`
//! (redirect URI `<issuer>/myaccount`, code + PKCE S256), uses the Me session API (and
//! `POST /api/users/v1/me/password` for its "Change password" section), and signs in again
//! on any 401. The same URL receives the authorization response (`?code&state` or
//! `?error`); the script handles it, so any query is accepted here.
//!
//! Security headers: a strict Content-Security-Policy with no `unsafe-inline` — the inline
//! script and style are allowed by their SHA-256 hashes (computed here from the exact text
//! served); `connect-src 'self'` (token endpoint and Me API only); no framing; no referrer.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::Request;
use std::sync::OnceLock;
use warden_core::http::{esc, html_response, Resp};
use warden_core::App;

const TEMPLATE: &str = include_str!("page/page.html");
/// The page's script, inlined verbatim (its hash is in the CSP): the page itself, then
/// "Recently ended" (`page/ended.js`, issue 20).
pub const SCRIPT: &str = concat!(
    include_str!("page/page.js"),
    "\n",
    include_str!("page/ended.js")
);
/// The page's own style rules (after the hosted pages' shared stylesheet).
pub const PAGE_STYLE: &str = include_str!("page/page.css");

/// The page's style sheet, inlined verbatim (its hash is in the CSP): the one stylesheet of
/// the hosted pages ([`warden_core::http::STYLE`]), then the page's own rules.
pub fn style() -> &'static str {
    static STYLE: OnceLock<String> = OnceLock::new();
    STYLE.get_or_init(|| format!("{}{}", warden_core::http::STYLE, PAGE_STYLE))
}

/// The Content-Security-Policy of the page.
pub fn csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| warden_core::http::first_party_csp(SCRIPT, style()))
}

/// The page for an issuer.
pub fn page(issuer: &str) -> String {
    // The issuer goes into an attribute (escaped); the script and style are constant.
    TEMPLATE
        .replacen("{{ISSUER}}", &esc(issuer), 1)
        .replacen("{{STYLE}}", style(), 1)
        .replacen("{{SCRIPT}}", SCRIPT, 1)
}

pub async fn handle(app: &App, _req: Request) -> Resp {
    let mut r = html_response(StatusCode::OK, page(&app.config.issuer), false);
    if let Ok(v) = HeaderValue::from_str(csp()) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::http::csp_hash;

    #[test]
    fn page_inlines_exactly_what_the_csp_hashes() {
        let p = page("https://id.example.com");
        assert!(p.contains(&format!("<script>{SCRIPT}</script>")));
        assert!(p.contains(&format!("<style>{}</style>", style())));
        assert!(csp().contains(&csp_hash(style())));
        assert!(p.contains("data-issuer=\"https://id.example.com\""));
        assert!(!csp().contains("unsafe-inline"));
        assert!(csp().contains(&csp_hash(SCRIPT)));
        // The templates carry no other script or style.
        assert_eq!(p.matches("<script").count(), 1);
        assert_eq!(p.matches("<style").count(), 1);
        assert!(!SCRIPT.contains("{{") && !style().contains("{{"));
        let evil = page("https://x\"><script>alert(1)</script>");
        assert_eq!(evil.matches("<script").count(), 1);
    }
}
