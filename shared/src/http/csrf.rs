//! One CSRF guard for Warden's own forms: the login form and the end_session confirmation.
//!
//! Double submit, bound to the browser and to the server: the cookie carries a random value
//! that only Warden mints, and the form field carries an HMAC of it (keyed by the signing
//! key's derivation secret, and by the form's purpose). A request passes only if its field is
//! the MAC of its cookie, so an attacker who can plant a cookie of his choosing (a sibling
//! sub-domain, a man in the middle on plain http) still cannot make a pair that passes, and a
//! pair minted for one form does not pass the other. The login form also refuses a request
//! whose `Origin` is present and is not Warden's own ([`same_origin_or_none`]).
//!
//! Each form keeps its cookie as it always was: the login cookie at `<issuer path>/login`
//! for an hour, the logout cookie at `/` for ten minutes (capped at 128 characters).

use crate::app::App;
use crate::http::{cookie, host_cookie, CookieSpec};
use crate::platform::crypto;
use crate::store::StoreError;
use http::HeaderMap;

/// Where a form's cookie lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CookiePath {
    /// `<issuer path>/login` (API Gateway stages and base paths included).
    Login,
    /// `/`, set through [`CookieSpec`] (so `__Host-` on https).
    Root,
}

/// A form protected by a CSRF pair.
#[derive(Debug, Clone, Copy)]
pub struct CsrfForm {
    /// The cookie's name.
    pub cookie: &'static str,
    /// The form field's name.
    pub field: &'static str,
    /// Bound into the MAC: a pair for one form never passes another.
    purpose: &'static str,
    path: CookiePath,
    max_age: i64,
}

/// The login form.
pub const LOGIN: CsrfForm = CsrfForm {
    cookie: "warden_csrf",
    field: "csrf_token",
    purpose: "login",
    path: CookiePath::Login,
    max_age: 3600,
};

/// The end_session confirmation form.
pub const LOGOUT: CsrfForm = CsrfForm {
    cookie: "warden_logout_csrf",
    field: "logout_csrf",
    purpose: "logout",
    path: CookiePath::Root,
    max_age: 600,
};

/// Longest cookie value accepted (a minted one is 43 characters).
const MAX_COOKIE: usize = 128;

fn mac(key: &[u8], purpose: &str, value: &str) -> String {
    crypto::hmac_b64(key, format!("warden-csrf|{purpose}|{value}").as_bytes())
}

impl CsrfForm {
    /// A fresh pair: the `Set-Cookie` value and the form field's value.
    /// 0 round trips (cached signing keys).
    pub async fn issue(&self, app: &App) -> Result<(String, String), StoreError> {
        let keys = app.keys().await?;
        let key = keys
            .derivation_key(keys.signer_kid())
            .ok_or_else(|| StoreError::Backend("no derivation key".into()))?;
        let value = crypto::random_token();
        let field = mac(&key, self.purpose, &value);
        Ok((self.set_cookie(app, &value), field))
    }

    /// The `Set-Cookie` value that deletes the cookie.
    pub fn clear(&self, app: &App) -> String {
        self.set_cookie(app, "")
    }

    /// Does the request carry a pair minted by [`CsrfForm::issue`] for this form? Constant
    /// time; both halves must be present and the cookie at most 128 characters.
    pub async fn check(&self, app: &App, headers: &HeaderMap, field: Option<&str>) -> bool {
        let value = match self.path {
            CookiePath::Login => cookie(headers, self.cookie),
            CookiePath::Root => host_cookie(headers, self.cookie, app.config.cookie_secure),
        };
        let (Some(value), Some(field)) = (value, field) else {
            return false;
        };
        if value.is_empty() || value.len() > MAX_COOKIE || field.is_empty() {
            return false;
        }
        let Ok(keys) = app.keys().await else {
            return false;
        };
        let Some(key) = keys.derivation_key(keys.signer_kid()) else {
            return false;
        };
        crypto::ct_eq(mac(&key, self.purpose, value).as_bytes(), field.as_bytes())
    }

    fn set_cookie(&self, app: &App, value: &str) -> String {
        let max_age = if value.is_empty() { 0 } else { self.max_age };
        match self.path {
            CookiePath::Root => CookieSpec {
                name: self.cookie,
                value,
                http_only: true,
                secure: app.config.cookie_secure,
                same_site: "Strict",
                max_age: Some(max_age),
            }
            .render(),
            CookiePath::Login => {
                let base = url::Url::parse(&app.config.issuer)
                    .map(|u| u.path().trim_end_matches('/').to_string())
                    .unwrap_or_default();
                let mut s = format!(
                    "{}={value}; Path={base}/login; Max-Age={max_age}; HttpOnly",
                    self.cookie
                );
                if app.config.cookie_secure {
                    s.push_str("; Secure");
                }
                s.push_str("; SameSite=Strict");
                s
            }
        }
    }
}

/// True unless the request names an origin other than Warden's own: no `Origin` header (a
/// server-side client, an older browser) passes; `null` (a sandboxed or opaque context) and
/// any other origin do not. Browsers send `Origin` on every cross-site form POST.
pub fn same_origin_or_none(app: &App, headers: &HeaderMap) -> bool {
    match crate::http::header_str(headers, "origin") {
        None => true,
        Some(o) => o == app.config.issuer_origin(),
    }
}
