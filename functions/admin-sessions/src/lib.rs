//! `admin-sessions`: the Admin session API (WSO2 paths). `internal_session_view` reads,
//! `internal_session_delete` ends sessions and replays logout deliveries.
//!
//! * `GET /api/users/v1/sessions` — global search (filters, keyset paging, newest activity
//!   first; no Scan: the sharded live-session index).
//! * `GET|DELETE /api/users/v1/{user-id}/sessions` — a user's live sessions / end them all.
//! * `GET|DELETE /api/users/v1/{user-id}/sessions/{session-id}` — one session / end it.
//! * `GET …/{session-id}/logout-deliveries` — back-channel logout receipts (also for ended
//!   sessions).
//! * `POST …/logout-deliveries/{client-id}/replay` — re-send a `dead` or `rejected` delivery
//!   (202); any other state is 409.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde_json::json;
use warden_core::http::{empty, json_response, path_param, raw_query, request_id, Resp};
use warden_core::oauth::bearer::{authenticate, require_scope};
use warden_core::platform::time::now_s;
use warden_core::session::api::{self as api, Query, LIST_PARAMS, SEARCH_PARAMS};
use warden_core::session::{terminate, Terminated};
use warden_core::store::StoreError;
use warden_core::{ApiError, App};

pub const VIEW: &str = "internal_session_view";
pub const DELETE: &str = "internal_session_delete";
const SEARCH_PATH: &str = "/api/users/v1/sessions";

/// The operations of this function, by API Gateway route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Search,
    ListUser,
    EndUser,
    GetOne,
    EndOne,
    Deliveries,
    Replay,
}

fn op_of(req: &Request) -> Option<Op> {
    let route_key = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone().unwrap_or_default(),
        _ => String::new(),
    };
    let key = if route_key.is_empty() {
        // Without a route key (not API Gateway): the method and the path's shape.
        let segs = req.uri().path().trim_matches('/').split('/').count();
        let m = req.method().as_str();
        let has_sid = path_param(req, "session-id").is_some();
        let has_uid = path_param(req, "user-id").is_some();
        match (m, has_uid, has_sid, segs) {
            ("GET", false, false, _) => return Some(Op::Search),
            ("GET", true, false, _) => return Some(Op::ListUser),
            ("DELETE", true, false, _) => return Some(Op::EndUser),
            ("GET", true, true, 6) => return Some(Op::GetOne),
            ("DELETE", true, true, 6) => return Some(Op::EndOne),
            ("GET", true, true, 7) => return Some(Op::Deliveries),
            ("POST", true, true, 9) => return Some(Op::Replay),
            _ => return None,
        }
    } else {
        route_key
    };
    Some(match key.as_str() {
        "GET /api/users/v1/sessions" => Op::Search,
        "GET /api/users/v1/{user-id}/sessions" => Op::ListUser,
        "DELETE /api/users/v1/{user-id}/sessions" => Op::EndUser,
        "GET /api/users/v1/{user-id}/sessions/{session-id}" => Op::GetOne,
        "DELETE /api/users/v1/{user-id}/sessions/{session-id}" => Op::EndOne,
        "GET /api/users/v1/{user-id}/sessions/{session-id}/logout-deliveries" => Op::Deliveries,
        "POST /api/users/v1/{user-id}/sessions/{session-id}/logout-deliveries/{client-id}/replay" => {
            Op::Replay
        }
        _ => return None,
    })
}

pub async fn handle(app: &App, req: Request) -> Resp {
    let trace = request_id(&req);
    match route(app, &req).await {
        Ok(r) => r,
        Err(e) => e.into_response(&trace),
    }
}

fn with_link(mut r: Resp, next: Option<&str>) -> Resp {
    if let Some(n) = next {
        if let Ok(v) = HeaderValue::from_str(&api::link_next(n)) {
            r.headers_mut().insert(header::LINK, v);
        }
    }
    r
}

fn no_session() -> ApiError {
    ApiError::not_found("No session with this id belongs to this user.")
}

fn no_user() -> ApiError {
    ApiError::not_found("No user with this id.")
}

async fn route(app: &App, req: &Request) -> Result<Resp, ApiError> {
    let token = authenticate(app, req.headers()).await?;
    let Some(op) = op_of(req) else {
        return Err(ApiError::method_not_allowed());
    };
    require_scope(
        &token,
        match op {
            Op::Search | Op::ListUser | Op::GetOne | Op::Deliveries => VIEW,
            Op::EndUser | Op::EndOne | Op::Replay => DELETE,
        },
    )?;
    let uid = path_param(req, "user-id").unwrap_or_default();
    let sid = path_param(req, "session-id").unwrap_or_default();
    let raw = raw_query(req);
    match op {
        Op::Search => {
            let q = Query::parse(raw, SEARCH_PARAMS)?;
            let s = api::parse_search(&q)?;
            let page = app
                .store
                .search_sessions(&s.filter, now_s(), s.limit, s.cursor.as_ref())
                .await?;
            let now = now_s();
            let sessions: Vec<_> = page
                .items
                .iter()
                .filter(|x| x.is_live(now))
                .map(|x| api::session_json(x, token.sessions.contains(&x.sid)))
                .collect();
            let next = page.next.map(|c| api::next_url(app, SEARCH_PATH, &q, &c));
            let mut body = json!({"sessions": sessions});
            if let Some(n) = &next {
                body["next"] = json!(n);
            }
            Ok(with_link(
                json_response(StatusCode::OK, &body),
                next.as_deref(),
            ))
        }
        Op::ListUser => {
            let q = Query::parse(raw, LIST_PARAMS)?;
            let limit = q.limit()?;
            if !api::valid_id(&uid) {
                return Err(no_user());
            }
            let cursor = api::user_list_cursor(q.get("cursor"), &uid)?;
            if app.store.get_user(&uid).await?.is_none() {
                return Err(no_user());
            }
            let (sessions, next) =
                api::list_user(app, &uid, limit, cursor.as_ref(), &token.sessions).await?;
            let path = format!("/api/users/v1/{}/sessions", api::path_segment(&uid));
            let next = next.map(|c| api::next_url(app, &path, &q, &c));
            let mut body = json!({"userId": uid, "sessions": sessions});
            if let Some(n) = &next {
                body["next"] = json!(n);
            }
            Ok(with_link(
                json_response(StatusCode::OK, &body),
                next.as_deref(),
            ))
        }
        Op::EndUser => {
            Query::parse(raw, &[])?;
            if !api::valid_id(&uid) || app.store.get_user(&uid).await?.is_none() {
                return Err(no_user());
            }
            warden_core::session::terminate_all(app, &uid, &[], "admin").await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Op::GetOne => {
            Query::parse(raw, &[])?;
            if !api::valid_id(&uid) || !api::valid_id(&sid) {
                return Err(no_session());
            }
            match app.store.get_session(&sid).await? {
                Some(s) if s.user_id == uid && s.is_live(now_s()) => Ok(json_response(
                    StatusCode::OK,
                    &api::session_json(&s, token.sessions.contains(&s.sid)),
                )),
                _ => Err(no_session()),
            }
        }
        Op::EndOne => {
            Query::parse(raw, &[])?;
            if !api::valid_id(&uid) || !api::valid_id(&sid) {
                return Err(no_session());
            }
            match terminate(app, &sid, Some(&uid), "admin").await? {
                Terminated::NotFound => Err(no_session()),
                Terminated::Ended { .. } | Terminated::AlreadyEnded => {
                    Ok(empty(StatusCode::NO_CONTENT))
                }
            }
        }
        Op::Deliveries => {
            Query::parse(raw, &[])?;
            if !api::valid_id(&uid) || !api::valid_id(&sid) {
                return Err(no_session());
            }
            let part = app.store.session_partition(&sid).await?;
            match &part.session {
                Some(s) if s.user_id == uid => {
                    let mut ds = part.deliveries.clone();
                    ds.sort_by(|a, b| a.client_id.cmp(&b.client_id));
                    let deliveries: Vec<_> = ds.iter().map(api::delivery_json).collect();
                    Ok(json_response(
                        StatusCode::OK,
                        &json!({
                            "sessionId": s.sid,
                            "userId": s.user_id,
                            "status": s.status,
                            "endedReason": s.ended_reason,
                            "deliveries": deliveries,
                        }),
                    ))
                }
                _ => Err(no_session()),
            }
        }
        Op::Replay => {
            Query::parse(raw, &[])?;
            let cid = path_param(req, "client-id").unwrap_or_default();
            if !api::valid_id(&uid) || !api::valid_id(&sid) || !api::valid_id(&cid) {
                return Err(no_delivery());
            }
            let part = app.store.session_partition(&sid).await?;
            if part.session.as_ref().is_none_or(|s| s.user_id != uid) {
                return Err(no_delivery());
            }
            let Some(d) = part.deliveries.iter().find(|d| d.client_id == cid) else {
                return Err(no_delivery());
            };
            if d.status != "dead" && d.status != "rejected" {
                return Err(not_replayable(&d.status));
            }
            match warden_core::logout::relay::replay(app, &sid, &cid).await {
                Ok(()) => Ok(empty(StatusCode::ACCEPTED)),
                // Its state changed since it was read (replayed or finished meanwhile).
                Err(StoreError::ConditionFailed) => Err(not_replayable("no longer replayable")),
                Err(e) => Err(e.into()),
            }
        }
    }
}

fn no_delivery() -> ApiError {
    ApiError::not_found("No logout delivery for this user, session and client.")
}

fn not_replayable(status: &str) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::CONFLICT,
        "SES-40901",
        "Conflict.",
        "Only a `dead` or `rejected` delivery can be replayed.",
    );
    e.description =
        format!("Only a `dead` or `rejected` delivery can be replayed; this one is `{status}`.");
    e
}
