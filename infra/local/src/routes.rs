//! The local stack's routing: the core's route table (`warden_core::http::routes`, the same
//! routes as `template.yaml`; a test compares the two) and the handler of each function.

use futures::future::BoxFuture;
use lambda_http::Request;
use std::sync::Arc;
use warden_core::app::App;
pub use warden_core::http::routes::{find, Match, Params, Route, ROUTES};
use warden_core::http::Resp;

/// A function's HTTP handler.
pub type Handler = fn(Arc<App>, Request) -> BoxFuture<'static, Resp>;

macro_rules! h {
    ($f:path) => {{
        fn handler(app: Arc<App>, req: Request) -> BoxFuture<'static, Resp> {
            Box::pin(async move {
                let mut resp = $f(&app, req).await;
                warden_core::http::transport_headers(&app.config, &mut resp);
                resp
            })
        }
        handler as Handler
    }};
}

/// The handler of each HTTP function.
pub fn handler(function: &str) -> Option<Handler> {
    Some(match function {
        "discovery" => h!(warden_fn_discovery::handle),
        "jwks" => h!(warden_fn_jwks::handle),
        "login" => h!(warden_fn_login::handle),
        "authorize" => h!(warden_fn_authorize::handle),
        "token" => h!(warden_fn_token::handle),
        "userinfo" => h!(warden_fn_userinfo::handle),
        "introspect" => h!(warden_fn_introspect::handle),
        "revoke" => h!(warden_fn_revoke::handle),
        "me-sessions" => h!(warden_fn_me_sessions::handle),
        "admin-sessions" => h!(warden_fn_admin_sessions::handle),
        "api-docs" => h!(warden_fn_api_docs::handle),
        "myaccount" => h!(warden_fn_myaccount::handle),
        "console" => h!(warden_fn_console::handle),
        "end-session" => h!(warden_fn_end_session::handle),
        "check-session" => h!(warden_fn_check_session::handle),
        "ssf" => h!(warden_fn_ssf::handle),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_beats_param() {
        match find("GET", "/api/users/v1/me/sessions") {
            Match::Found(r, p) => {
                assert_eq!(r.function, "me-sessions");
                assert!(p.is_empty());
            }
            _ => panic!("no match"),
        }
        match find("GET", "/api/users/v1/u-1/sessions/s%201") {
            Match::Found(r, p) => {
                assert_eq!(r.function, "admin-sessions");
                assert_eq!(p[1], ("session-id".into(), "s 1".into()));
            }
            _ => panic!("no match"),
        }
        assert!(matches!(find("PUT", "/oauth2/token"), Match::WrongMethod));
        assert!(matches!(find("GET", "/nope"), Match::NotFound));
        assert!(matches!(
            find("GET", "/api/users/v1//sessions"),
            Match::NotFound
        ));
        match find("GET", "/.well-known/openid-configuration") {
            Match::Found(r, _) => assert_eq!(r.key, "GET /.well-known/openid-configuration"),
            _ => panic!("no match"),
        }
        for r in ROUTES {
            assert!(handler(r.function).is_some(), "{}", r.function);
        }
    }
}
