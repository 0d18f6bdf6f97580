//! `me-sessions`: the caller's own sessions (WSO2 Me API, scope `internal_login`).
//!
//! * `GET /api/users/v1/me/sessions?limit&cursor` — live sessions, newest login first;
//!   `current` marks the session(s) the caller's token is mapped to; a `Link: rel="next"`
//!   header (and `next`) when there are more.
//! * `DELETE /api/users/v1/me/sessions[?exclude=current]` — end all (or all others).
//! * `DELETE /api/users/v1/me/sessions/{session-id}` — end one; another user's or an unknown
//!   id is 404, an already ended one 204.
//!
//! Ending a session revokes its tokens at once: ending the caller's own session makes the
//! next call with the same token a 401.

use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::Request;
use serde_json::json;
use warden_core::http::{empty, json_response, path_param, raw_query, request_id, Resp};
use warden_core::oauth::bearer::{authenticate, require_scope};
use warden_core::session::api::{self as api, Query, LIST_PARAMS};
use warden_core::session::{terminate, Terminated};
use warden_core::{ApiError, App};

pub const SCOPE: &str = "internal_login";
const BASE: &str = "/api/users/v1/me/sessions";

pub async fn handle(app: &App, req: Request) -> Resp {
    let trace = request_id(&req);
    match route(app, &req).await {
        Ok(r) => r,
        Err(e) => e.into_response(&trace),
    }
}

async fn route(app: &App, req: &Request) -> Result<Resp, ApiError> {
    let token = authenticate(app, req.headers()).await?;
    require_scope(&token, SCOPE)?;
    let sid = path_param(req, "session-id");
    let user_id = token.user_id.as_str();
    match (req.method(), sid) {
        (&Method::GET, None) => {
            let q = Query::parse(raw_query(req), LIST_PARAMS)?;
            let limit = q.limit()?;
            let cursor = api::user_list_cursor(q.get("cursor"), user_id)?;
            let (sessions, next) =
                api::list_user(app, user_id, limit, cursor.as_ref(), &token.sessions).await?;
            let next = next.map(|c| api::next_url(app, BASE, &q, &c));
            let mut body = json!({"userId": user_id, "sessions": sessions});
            let mut resp_next = None;
            if let Some(n) = next {
                body["next"] = json!(n);
                resp_next = Some(n);
            }
            let mut r = json_response(StatusCode::OK, &body);
            if let Some(n) = resp_next {
                if let Ok(v) = HeaderValue::from_str(&api::link_next(&n)) {
                    r.headers_mut().insert(header::LINK, v);
                }
            }
            Ok(r)
        }
        (&Method::DELETE, None) => {
            let q = Query::parse(raw_query(req), &["exclude"])?;
            let keep: Vec<String> = match q.get("exclude") {
                // `?exclude=` must not silently mean "end everything, mine included".
                None if q.has("exclude") => {
                    return Err(ApiError::bad_request(
                        "`exclude` accepts only `current` (keep the caller's own session).",
                    ))
                }
                None => Vec::new(),
                Some("current") => token.sessions.clone(),
                Some(_) => {
                    return Err(ApiError::bad_request(
                        "`exclude` accepts only `current` (keep the caller's own session).",
                    ))
                }
            };
            warden_core::session::terminate_all(app, user_id, &keep, "user").await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        (&Method::DELETE, Some(sid)) => {
            Query::parse(raw_query(req), &[])?;
            if !api::valid_id(&sid) {
                return Err(not_found());
            }
            match terminate(app, &sid, Some(user_id), "user").await? {
                Terminated::NotFound => Err(not_found()),
                Terminated::Ended { .. } | Terminated::AlreadyEnded => {
                    Ok(empty(StatusCode::NO_CONTENT))
                }
            }
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("No session with this id belongs to the caller.")
}
