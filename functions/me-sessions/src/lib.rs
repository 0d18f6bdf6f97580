//! `me-sessions`: the caller's own sessions (WSO2 Me API, scope `internal_login`): parse →
//! `warden_core::api::me::run` → render. The operations and their rules are documented
//! there.

use lambda_http::Request;
use warden_core::api::me::{self, MeRequest};
use warden_core::app::App;
use warden_core::http::{body_text, path_param, raw_query, request_id, route_key, source_ip, Resp};

pub use warden_core::api::me::SCOPE;

pub async fn handle(app: &App, req: Request) -> Resp {
    let route_key = route_key(&req);
    let session_id = path_param(&req, "session-id");
    let ip = source_ip(&req);
    let r = MeRequest {
        headers: req.headers(),
        route_key: &route_key,
        session_id: session_id.as_deref(),
        raw_query: raw_query(&req),
        body: body_text(&req),
        ip: &ip,
    };
    match me::run(app, &r).await {
        Ok(a) => a.render(),
        Err(e) => e.into_response(&request_id(&req)),
    }
}
