//! `console`: the sessions console for operators (`GET /console`), plain HTML/CSS/JS with
//! no build step and no external asset (issue 20).
//!
//! The page signs in to Warden as the seeded first-party public client `warden-console` (redirect
//! URI `<issuer>/console`, code + PKCE S256, scopes `internal_session_view` and
//! `internal_session_delete`) and then calls only the Admin API — the global search with its
//! filters and paging, a user's sessions, ending one or all, a session's logout deliveries
//! and their replay — so it has no path of its own into the store. A token without
//! `internal_session_view` gets the "not allowed" panel; without `internal_session_delete`
//! the console is read-only. The same URL receives the authorization response, so any query
//! is accepted here.
//!
//! Security headers as My Account's: a Content-Security-Policy without `unsafe-inline` (the
//! inline script and style by their SHA-256), `connect-src 'self'`, no framing.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::Request;
use std::sync::OnceLock;
use warden_core::http::{esc, html_response, Resp};
use warden_core::App;

const TEMPLATE: &str = include_str!("page/console.html");
/// The page's script, inlined verbatim (its hash is in the CSP).
pub const SCRIPT: &str = include_str!("page/console.js");
/// The console's own style rules (after the hosted pages' shared stylesheet).
pub const PAGE_STYLE: &str = include_str!("page/console.css");

/// The page's style sheet: [`warden_core::http::STYLE`], then the console's rules.
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
        assert!(!csp().contains("unsafe-inline"));
        assert!(csp().contains(&csp_hash(SCRIPT)) && csp().contains(&csp_hash(style())));
        assert_eq!(p.matches("<script").count(), 1);
        assert_eq!(p.matches("<style").count(), 1);
        assert!(
            !p.contains("http://") && !p.contains("src=\"http"),
            "no external asset"
        );
        let evil = page("https://x\"><script>alert(1)</script>");
        assert_eq!(evil.matches("<script").count(), 1);
    }
}
