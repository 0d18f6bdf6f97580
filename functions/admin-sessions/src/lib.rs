//! `admin-sessions`: the Admin session API (WSO2 paths): parse → `warden_core::api::admin::run`
//! → render. The operations, their scopes and ownership rules are documented there.

use lambda_http::Request;
use warden_core::api::admin::{self, AdminRequest};
use warden_core::app::App;
use warden_core::http::{body_text, path_param, raw_query, request_id, route_key, Resp};

pub use warden_core::api::admin::{DELETE, USER_DELETE, USER_UPDATE, VIEW};

pub async fn handle(app: &App, req: Request) -> Resp {
    let route_key = route_key(&req);
    let (uid, sid, cid) = (
        path_param(&req, "user-id").unwrap_or_default(),
        path_param(&req, "session-id").unwrap_or_default(),
        path_param(&req, "client-id").unwrap_or_default(),
    );
    let (stream_id, jti) = (
        path_param(&req, "stream-id").unwrap_or_default(),
        path_param(&req, "jti").unwrap_or_default(),
    );
    let r = AdminRequest {
        headers: req.headers(),
        route_key: &route_key,
        user_id: &uid,
        session_id: &sid,
        client_id: &cid,
        stream_id: &stream_id,
        jti: &jti,
        raw_query: raw_query(&req),
        body: body_text(&req),
    };
    match admin::run(app, &r).await {
        Ok(a) => a.render(),
        Err(e) => e.into_response(&request_id(&req)),
    }
}
