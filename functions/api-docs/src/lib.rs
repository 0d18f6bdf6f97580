//! `api-docs`: the OpenAPI 3.1 description of Warden's REST API (`docs/openapi.yaml`,
//! compiled in), served at `GET /api/users/v1/openapi.yaml`.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request};
use warden_core::api::sessions::Query;
use warden_core::http::{raw_query, request_id, Resp};
use warden_core::App;

/// The document, as committed.
pub const OPENAPI_YAML: &str = include_str!("../../../docs/openapi.yaml");

pub async fn handle(_app: &App, req: Request) -> Resp {
    if let Err(e) = Query::parse(raw_query(&req), &[]) {
        return e.into_response(&request_id(&req));
    }
    let mut r = http_response(OPENAPI_YAML);
    *r.status_mut() = StatusCode::OK;
    r
}

fn http_response(doc: &'static str) -> Resp {
    let mut r = lambda_http::http::Response::new(Body::Text(doc.to_string()));
    let h = r.headers_mut();
    // RFC 9512 media type for YAML.
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/yaml"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}
