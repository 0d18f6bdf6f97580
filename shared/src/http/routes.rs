//! The HTTP API's route table: every route API Gateway serves (method, path template, the
//! function behind it, the route key), and matching a request to it as API Gateway does.
//! The one copy in code: the local stack routes with it, `admin-sessions` finds its
//! operation by it when a request carries no route key, and `tests/tests/template.rs`
//! checks `template.yaml`'s routes against it.

use std::sync::LazyLock;

/// One API Gateway route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The HTTP method (`GET`, `POST`, `PATCH`, `PUT`, `DELETE`, `OPTIONS`).
    pub method: &'static str,
    /// API Gateway path template (`{name}` segments are path parameters).
    pub path: &'static str,
    /// The function (its folder under `functions/`).
    pub function: &'static str,
    /// API Gateway's route key, `"<method> <path>"`.
    pub key: &'static str,
}

/// Declares each route once, as a named constant (`route::GET_LOGIN`, …), and the table of
/// them all in API Gateway's order.
macro_rules! routes {
    ($($name:ident = $m:literal $p:literal => $f:literal;)*) => {
        /// Every route by name, for code that must know one (e.g. an operation's route key).
        pub mod route {
            use super::Route;
            $(
                #[doc = concat!("`", $m, " ", $p, "` → `", $f, "`")]
                pub const $name: Route = Route {
                    method: $m,
                    path: $p,
                    function: $f,
                    key: concat!($m, " ", $p),
                };
            )*
        }
        /// Every route, as `template.yaml` declares them.
        pub const ROUTES: &[Route] = &[$(route::$name),*];
    };
}

routes! {
    GET_DISCOVERY = "GET" "/.well-known/openid-configuration" => "discovery";
    GET_OAUTH2_JWKS = "GET" "/oauth2/jwks" => "jwks";
    GET_LOGIN = "GET" "/login" => "login";
    POST_LOGIN = "POST" "/login" => "login";
    GET_OAUTH2_AUTHORIZE = "GET" "/oauth2/authorize" => "authorize";
    POST_OAUTH2_AUTHORIZE = "POST" "/oauth2/authorize" => "authorize";
    POST_OAUTH2_TOKEN = "POST" "/oauth2/token" => "token";
    OPTIONS_OAUTH2_TOKEN = "OPTIONS" "/oauth2/token" => "token";
    GET_OAUTH2_USERINFO = "GET" "/oauth2/userinfo" => "userinfo";
    POST_OAUTH2_USERINFO = "POST" "/oauth2/userinfo" => "userinfo";
    OPTIONS_OAUTH2_USERINFO = "OPTIONS" "/oauth2/userinfo" => "userinfo";
    POST_OAUTH2_INTROSPECT = "POST" "/oauth2/introspect" => "introspect";
    POST_OAUTH2_REVOKE = "POST" "/oauth2/revoke" => "revoke";
    OPTIONS_OAUTH2_REVOKE = "OPTIONS" "/oauth2/revoke" => "revoke";
    GET_OIDC_LOGOUT = "GET" "/oidc/logout" => "end-session";
    POST_OIDC_LOGOUT = "POST" "/oidc/logout" => "end-session";
    GET_OAUTH2_CONNECT_ENDSESSION = "GET" "/oauth2/connect/endSession" => "end-session";
    POST_OAUTH2_CONNECT_ENDSESSION = "POST" "/oauth2/connect/endSession" => "end-session";
    GET_OIDC_CHECKSESSION = "GET" "/oidc/checksession" => "check-session";
    GET_OAUTH2_CONNECT_CHECKSESSION = "GET" "/oauth2/connect/checkSession" => "check-session";
    ME_LIST = "GET" "/api/users/v1/me/sessions" => "me-sessions";
    ME_END_ALL = "DELETE" "/api/users/v1/me/sessions" => "me-sessions";
    ME_END_ONE = "DELETE" "/api/users/v1/me/sessions/{session-id}" => "me-sessions";
    // --- issue 20 (logout you can see): recently ended sessions; the sessions console.
    ME_ENDED = "GET" "/api/users/v1/me/ended-sessions" => "me-sessions";
    GET_CONSOLE = "GET" "/console" => "console";
    // --- end of issue 20.
    ME_PASSWORD = "POST" "/api/users/v1/me/password" => "me-sessions";
    ADMIN_SEARCH = "GET" "/api/users/v1/sessions" => "admin-sessions";
    ADMIN_LIST_USER = "GET" "/api/users/v1/{user-id}/sessions" => "admin-sessions";
    ADMIN_END_USER = "DELETE" "/api/users/v1/{user-id}/sessions" => "admin-sessions";
    ADMIN_GET_ONE = "GET" "/api/users/v1/{user-id}/sessions/{session-id}" => "admin-sessions";
    ADMIN_END_ONE = "DELETE" "/api/users/v1/{user-id}/sessions/{session-id}" => "admin-sessions";
    ADMIN_DELIVERIES = "GET" "/api/users/v1/{user-id}/sessions/{session-id}/logout-deliveries" => "admin-sessions";
    ADMIN_REPLAY = "POST" "/api/users/v1/{user-id}/sessions/{session-id}/logout-deliveries/{client-id}/replay" => "admin-sessions";
    ADMIN_SET_PASSWORD = "POST" "/api/users/v1/{user-id}/password" => "admin-sessions";
    ADMIN_DISABLE = "POST" "/api/users/v1/{user-id}/disable" => "admin-sessions";
    ADMIN_ENABLE = "POST" "/api/users/v1/{user-id}/enable" => "admin-sessions";
    ADMIN_DELETE_USER = "DELETE" "/api/users/v1/{user-id}" => "admin-sessions";
    ADMIN_STREAM_EVENTS = "GET" "/api/ssf/v1/streams/{stream-id}/events" => "admin-sessions";
    ADMIN_STREAM_REPLAY = "POST" "/api/ssf/v1/streams/{stream-id}/events/{jti}/replay" => "admin-sessions";
    GET_API_DOCS = "GET" "/api/users/v1/openapi.yaml" => "api-docs";
    GET_MYACCOUNT = "GET" "/myaccount" => "myaccount";
    // --- issue 21 (SSF transmitter): the metadata and stream management (`crate::ssf`).
    SSF_CONFIGURATION = "GET" "/.well-known/ssf-configuration" => "ssf";
    SSF_STREAMS_POST = "POST" "/ssf/streams" => "ssf";
    SSF_STREAMS_GET = "GET" "/ssf/streams" => "ssf";
    SSF_STREAMS_PATCH = "PATCH" "/ssf/streams" => "ssf";
    SSF_STREAMS_PUT = "PUT" "/ssf/streams" => "ssf";
    SSF_STREAMS_DELETE = "DELETE" "/ssf/streams" => "ssf";
    SSF_STATUS_GET = "GET" "/ssf/status" => "ssf";
    SSF_STATUS_POST = "POST" "/ssf/status" => "ssf";
    SSF_SUBJECTS_ADD = "POST" "/ssf/subjects/add" => "ssf";
    SSF_SUBJECTS_REMOVE = "POST" "/ssf/subjects/remove" => "ssf";
    SSF_VERIFY = "POST" "/ssf/verify" => "ssf";
    SSF_POLL = "POST" "/ssf/poll/{stream-id}" => "ssf";
    // --- end of issue 21.
}

/// Path parameters, in template order.
pub type Params = Vec<(String, String)>;

/// What matching a request found.
pub enum Match {
    /// The route and its path parameters.
    Found(&'static Route, Params),
    /// The path exists for other methods.
    WrongMethod,
    /// No route has this path.
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

/// The route key of a request that carries none (not through API Gateway): its method and
/// path matched against the table; `""` when no route matches.
pub fn key_of(method: &str, path: &str) -> &'static str {
    match find(method, path) {
        Match::Found(r, _) => r.key,
        _ => "",
    }
}
