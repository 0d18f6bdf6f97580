//! The route table: the same routes (method, path) and functions as `template.yaml`.
//! A test compares the two.

use futures::future::BoxFuture;
use lambda_http::Request;
use std::sync::{Arc, LazyLock};
use warden_core::http::Resp;
use warden_core::App;

/// A function's HTTP handler.
pub type Handler = fn(Arc<App>, Request) -> BoxFuture<'static, Resp>;

/// One API Gateway route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    /// API Gateway path template (`{name}` segments are path parameters).
    pub path: &'static str,
    /// The function (its folder under `functions/`).
    pub function: &'static str,
    /// API Gateway's route key, `"<method> <path>"`.
    pub key: &'static str,
}

macro_rules! r {
    ($m:literal, $p:literal, $f:literal) => {
        Route {
            method: $m,
            path: $p,
            function: $f,
            key: concat!($m, " ", $p),
        }
    };
}

pub const ROUTES: &[Route] = &[
    r!("GET", "/.well-known/openid-configuration", "discovery"),
    r!("GET", "/oauth2/jwks", "jwks"),
    r!("GET", "/login", "login"),
    r!("POST", "/login", "login"),
    r!("GET", "/oauth2/authorize", "authorize"),
    r!("POST", "/oauth2/authorize", "authorize"),
    r!("POST", "/oauth2/token", "token"),
    r!("OPTIONS", "/oauth2/token", "token"),
    r!("GET", "/oauth2/userinfo", "userinfo"),
    r!("POST", "/oauth2/userinfo", "userinfo"),
    r!("OPTIONS", "/oauth2/userinfo", "userinfo"),
    r!("POST", "/oauth2/introspect", "introspect"),
    r!("POST", "/oauth2/revoke", "revoke"),
    r!("OPTIONS", "/oauth2/revoke", "revoke"),
    r!("GET", "/oidc/logout", "end-session"),
    r!("POST", "/oidc/logout", "end-session"),
    r!("GET", "/oauth2/connect/endSession", "end-session"),
    r!("POST", "/oauth2/connect/endSession", "end-session"),
    r!("GET", "/oidc/checksession", "check-session"),
    r!("GET", "/oauth2/connect/checkSession", "check-session"),
    r!("GET", "/api/users/v1/me/sessions", "me-sessions"),
    r!("DELETE", "/api/users/v1/me/sessions", "me-sessions"),
    r!(
        "DELETE",
        "/api/users/v1/me/sessions/{session-id}",
        "me-sessions"
    ),
    r!("GET", "/api/users/v1/sessions", "admin-sessions"),
    r!("GET", "/api/users/v1/{user-id}/sessions", "admin-sessions"),
    r!(
        "DELETE",
        "/api/users/v1/{user-id}/sessions",
        "admin-sessions"
    ),
    r!(
        "GET",
        "/api/users/v1/{user-id}/sessions/{session-id}",
        "admin-sessions"
    ),
    r!(
        "DELETE",
        "/api/users/v1/{user-id}/sessions/{session-id}",
        "admin-sessions"
    ),
    r!(
        "GET",
        "/api/users/v1/{user-id}/sessions/{session-id}/logout-deliveries",
        "admin-sessions"
    ),
    r!(
        "POST",
        "/api/users/v1/{user-id}/sessions/{session-id}/logout-deliveries/{client-id}/replay",
        "admin-sessions"
    ),
    r!("GET", "/api/users/v1/openapi.yaml", "api-docs"),
    r!("GET", "/myaccount", "myaccount"),
];

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
        "end-session" => h!(warden_fn_end_session::handle),
        "check-session" => h!(warden_fn_check_session::handle),
        _ => return None,
    })
}

/// Path parameters, in template order.
pub type Params = Vec<(String, String)>;

/// What matching a request found.
pub enum Match {
    Found(&'static Route, Params),
    /// The path exists for other methods.
    WrongMethod,
    NotFound,
}

/// The routes' path templates split into segments once (`None` marks a `{param}`).
static TEMPLATES: LazyLock<Vec<Vec<Option<&'static str>>>> = LazyLock::new(|| {
    ROUTES
        .iter()
        .map(|r| {
            r.path
                .trim_start_matches('/')
                .split('/')
                .map(|t| (!(t.starts_with('{') && t.ends_with('}'))).then_some(t))
                .collect()
        })
        .collect()
});

/// Match like API Gateway: literal segments win over `{param}` segments. Allocates only
/// for the path parameters of the route found.
pub fn find(method: &str, path: &str) -> Match {
    let path = path.trim_start_matches('/');
    let n_segs = path.split('/').count();
    let mut best: Option<(usize, usize)> = None;
    let mut path_exists = false;
    for (i, tpl) in TEMPLATES.iter().enumerate() {
        if tpl.len() != n_segs {
            continue;
        }
        let mut literals = 0;
        let ok = tpl.iter().zip(path.split('/')).all(|(t, s)| match t {
            None => !s.is_empty(),
            Some(lit) => {
                literals += 1;
                *lit == s
            }
        });
        if !ok {
            continue;
        }
        path_exists = true;
        if ROUTES[i].method != method {
            continue;
        }
        if best.is_none_or(|(l, _)| literals > l) {
            best = Some((literals, i));
        }
    }
    let Some((_, i)) = best else {
        return if path_exists {
            Match::WrongMethod
        } else {
            Match::NotFound
        };
    };
    let route = &ROUTES[i];
    let names = route
        .path
        .trim_start_matches('/')
        .split('/')
        .filter_map(|t| t.strip_prefix('{').and_then(|t| t.strip_suffix('}')));
    let values = TEMPLATES[i]
        .iter()
        .zip(path.split('/'))
        .filter(|(t, _)| t.is_none())
        .map(|(_, s)| {
            url::form_urlencoded::parse(format!("v={}", s.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        });
    let params = names.map(str::to_string).zip(values).collect();
    Match::Found(route, params)
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
