//! `revoke`: not implemented yet.

use lambda_http::Request;
use warden_core::http::Resp;
use warden_core::{ApiError, App};

pub async fn handle(_app: &App, req: Request) -> Resp {
    let mut e = ApiError::new(
        lambda_http::http::StatusCode::NOT_IMPLEMENTED,
        "SES-50101",
        "Not implemented.",
        "This endpoint is not implemented yet.",
    );
    e.description = format!("{} is not implemented yet.", req.uri().path());
    e.into_response(&warden_core::http::request_id(&req))
}
