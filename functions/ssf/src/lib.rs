//! `ssf`: the Shared Signals transmitter's metadata (`GET /.well-known/ssf-configuration`)
//! and stream management (`/ssf/...`, SSF 1.0 §8) and the RFC 8936 poll endpoint
//! (`/ssf/poll/{stream-id}`): parse → `warden_core::ssf::api` →
//! render. The operations, their scopes and ownership rules are documented there.

use lambda_http::Request;
use warden_core::app::App;
use warden_core::http::routes::route;
use warden_core::http::{
    body_text, path_param, public_json, raw_query, request_id, route_key, Resp,
};
use warden_core::ssf::api::{self, SsfRequest};

pub async fn handle(app: &App, req: Request) -> Resp {
    let route_key = route_key(&req);
    if route_key == route::SSF_CONFIGURATION.key {
        return public_json(&api::metadata(app), 300);
    }
    let stream_id = path_param(&req, "stream-id").unwrap_or_default();
    let r = SsfRequest {
        headers: req.headers(),
        route_key: &route_key,
        raw_query: raw_query(&req),
        path_stream_id: &stream_id,
        body: body_text(&req),
    };
    match api::run(app, &r).await {
        Ok(a) => a.render(),
        Err(e) => e.into_response(&request_id(&req)),
    }
}
