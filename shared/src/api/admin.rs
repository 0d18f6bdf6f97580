//! The Admin session API (WSO2 paths). `internal_session_view` reads,
//! `internal_session_delete` ends sessions and replays logout deliveries.
//!
//! * `GET /api/users/v1/sessions` — global search (filters, keyset paging, newest activity
//!   first; no Scan: the sharded live-session index).
//! * `GET|DELETE /api/users/v1/{user-id}/sessions` — a user's live sessions / end them all.
//! * `GET|DELETE /api/users/v1/{user-id}/sessions/{session-id}` — one session / end it. An
//!   ended session still reads, with `status: ended`, `endedReason`, `endedAt` and
//!   `endedBy` (an expired one not yet swept is 404 until the relay ends it).
//! * `GET …/{session-id}/logout-deliveries` — back-channel logout receipts (also for ended
//!   sessions).
//! * `POST …/logout-deliveries/{client-id}/replay` — re-send a `dead` or `rejected` delivery
//!   (202); any other state is 409.
//!
//! * `GET /api/ssf/v1/streams/{stream-id}/events` — a Shared Signals stream's events and
//!   their receipts (pending, delivered, rejected, dead; never the SETs themselves), whoever
//!   owns the stream; `POST …/events/{jti}/replay` — re-send a `dead` or `rejected` event
//!   (202; any other state 409).
//!
//! * `POST /api/users/v1/{user-id}/password` (`{"password"}`), `POST …/{user-id}/disable`,
//!   `POST …/{user-id}/enable` (scope `internal_user_mgt_update`) and
//!   `DELETE /api/users/v1/{user-id}` (scope `internal_user_mgt_delete`): the account's
//!   lifecycle ([`crate::account::lifecycle`]); each answers `{"userId","sessionsEnded"}`.
//!
//! Ownership: a session (and its deliveries) is found only under the user it belongs to;
//! any other combination is the same 404 as an unknown id.

use super::sessions::{self as api, Query, LIST_PARAMS, SEARCH_PARAMS};
use super::Answer;
use crate::account::{lifecycle, AccountError};
use crate::app::App;
use crate::http::error::ApiError;
use crate::http::routes::{route, Route};
use crate::logout::relay::replay;
use crate::oauth::bearer::{authenticate, require_scope};
use crate::platform::time::now_s;
use crate::session::terminate::terminate_all_by;
use crate::session::terminate::terminate_by;
use crate::session::Terminated;
use crate::store::schema::{
    ActorKind, DeliveryItem, DeliveryStatus, EndReason, EndedBy, SessionStatus,
};
use crate::store::StoreError;
use http::{HeaderMap, StatusCode};
use serde_json::json;

/// Reading sessions and receipts.
pub const VIEW: &str = "internal_session_view";
/// Ending sessions and replaying deliveries.
pub const DELETE: &str = "internal_session_delete";
/// Resetting a user's password, disabling and enabling a user.
pub const USER_UPDATE: &str = "internal_user_mgt_update";
/// Deleting a user.
pub const USER_DELETE: &str = "internal_user_mgt_delete";

/// The operations, by route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `GET /sessions`: the global search over live sessions, keyset-paged.
    Search,
    /// `GET /{user-id}/sessions`: one user's sessions.
    ListUser,
    /// `DELETE /{user-id}/sessions`: end every session of one user.
    EndUser,
    /// `GET /{user-id}/sessions/{session-id}`: one session of a user.
    GetOne,
    /// `DELETE /{user-id}/sessions/{session-id}`: end one session.
    EndOne,
    /// `GET .../logout-deliveries`: the back-channel receipts of an ended session.
    Deliveries,
    /// `POST .../logout-deliveries/{client-id}/replay`: queue a dead or rejected delivery again.
    Replay,
    /// `POST /{user-id}/password`: reset the user's password.
    SetPassword,
    /// `POST /{user-id}/disable`: disable the user.
    Disable,
    /// `POST /{user-id}/enable`: enable the user again.
    Enable,
    /// `DELETE /{user-id}`: delete the user.
    DeleteUser,
    /// `GET /api/ssf/v1/streams/{stream-id}/events`: a stream's events and receipts.
    StreamEvents,
    /// `POST …/events/{jti}/replay`: queue a dead or rejected event again.
    StreamReplay,
}

/// Every operation and its route: the one mapping from the route table to this API.
const OPS: [(Route, Op); 13] = [
    (route::ADMIN_SEARCH, Op::Search),
    (route::ADMIN_LIST_USER, Op::ListUser),
    (route::ADMIN_END_USER, Op::EndUser),
    (route::ADMIN_GET_ONE, Op::GetOne),
    (route::ADMIN_END_ONE, Op::EndOne),
    (route::ADMIN_DELIVERIES, Op::Deliveries),
    (route::ADMIN_REPLAY, Op::Replay),
    (route::ADMIN_SET_PASSWORD, Op::SetPassword),
    (route::ADMIN_DISABLE, Op::Disable),
    (route::ADMIN_ENABLE, Op::Enable),
    (route::ADMIN_DELETE_USER, Op::DeleteUser),
    (route::ADMIN_STREAM_EVENTS, Op::StreamEvents),
    (route::ADMIN_STREAM_REPLAY, Op::StreamReplay),
];

impl Op {
    /// The operation of a route key.
    pub fn of(route_key: &str) -> Option<Op> {
        OPS.iter()
            .find(|(r, _)| r.key == route_key)
            .map(|(_, op)| *op)
    }

    /// The scope it needs.
    pub fn scope(self) -> &'static str {
        match self {
            Op::Search | Op::ListUser | Op::GetOne | Op::Deliveries | Op::StreamEvents => VIEW,
            Op::EndUser | Op::EndOne | Op::Replay | Op::StreamReplay => DELETE,
            Op::SetPassword | Op::Disable | Op::Enable => USER_UPDATE,
            Op::DeleteUser => USER_DELETE,
        }
    }
}

/// An Admin API request as the handler parsed it.
#[derive(Debug, Clone, Copy)]
pub struct AdminRequest<'a> {
    /// The request headers (the bearer token).
    pub headers: &'a HeaderMap,
    /// API Gateway's route key; from [`crate::http::routes::key_of`] without one.
    pub route_key: &'a str,
    /// The `{user-id}` path parameter; empty when the route has none.
    pub user_id: &'a str,
    /// The `{session-id}` path parameter; empty when the route has none.
    pub session_id: &'a str,
    /// The `{client-id}` path parameter (replay); empty when the route has none.
    pub client_id: &'a str,
    /// The `{stream-id}` path parameter (stream events); empty when the route has none.
    pub stream_id: &'a str,
    /// The `{jti}` path parameter (event replay); empty when the route has none.
    pub jti: &'a str,
    /// The raw query string; each operation refuses parameters it does not take.
    pub raw_query: &'a str,
    /// The request body (JSON for the password reset; ignored by the other operations).
    pub body: &'a str,
}

fn no_session() -> ApiError {
    ApiError::not_found("No session with this id belongs to this user.")
}

fn no_user() -> ApiError {
    ApiError::not_found("No user with this id.")
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

/// Who ended a session, as the API shows it: `{"type": "user"|"admin"|"system", "userId"?,
/// "clientId"?}`.
pub fn ended_by_json(by: &EndedBy) -> serde_json::Value {
    let mut v = json!({"type": by.kind.as_str()});
    if let Some(u) = &by.user_id {
        v["userId"] = json!(u);
    }
    if let Some(c) = &by.client_id {
        v["clientId"] = json!(c);
    }
    v
}

/// May this delivery be replayed? Only a final failure: `dead` (retries ran out) or
/// `rejected` (the app answered 400, or the client has no back-channel URI any more).
pub fn replayable(d: &DeliveryItem) -> bool {
    matches!(d.status, DeliveryStatus::Dead | DeliveryStatus::Rejected)
}

/// Run an Admin operation. Round trips: the bearer check (1) plus the operation's
/// (`docs/round-trips.md`).
pub async fn run(app: &App, r: &AdminRequest<'_>) -> Result<Answer, ApiError> {
    let token = authenticate(app, r.headers).await?;
    let Some(op) = Op::of(r.route_key) else {
        return Err(ApiError::method_not_allowed());
    };
    require_scope(&token, op.scope())?;
    let (uid, sid) = (r.user_id, r.session_id);
    if matches!(
        op,
        Op::SetPassword | Op::Disable | Op::Enable | Op::DeleteUser
    ) {
        Query::parse(r.raw_query, &[])?;
        if !api::valid_id(uid) {
            return Err(no_user());
        }
        let by = EndedBy::person(ActorKind::Admin, &token.user_id, Some(&token.client_id));
        return account_op(app, op, uid, r.body, &by).await;
    }
    match op {
        Op::Search => {
            let q = Query::parse(r.raw_query, SEARCH_PARAMS)?;
            let s = api::parse_search(&q)?;
            let now = now_s();
            let page = app
                .store
                .search_sessions(&s.filter, now, s.limit, s.cursor.as_ref())
                .await?;
            let sessions: Vec<_> = page
                .items
                .iter()
                .filter(|x| x.is_live(now))
                .map(|x| api::session_json(x, token.sessions.contains(&x.sid)))
                .collect();
            let next = page
                .next
                .map(|c| api::next_url(app, route::ADMIN_SEARCH.path, &q, &c));
            Ok(Answer::page(json!({"sessions": sessions}), next))
        }
        Op::ListUser => {
            let q = Query::parse(r.raw_query, LIST_PARAMS)?;
            let limit = q.limit()?;
            if !api::valid_id(uid) {
                return Err(no_user());
            }
            let cursor = api::user_list_cursor(q.get("cursor"), uid)?;
            if app.store.get_user(uid).await?.is_none() {
                return Err(no_user());
            }
            let (sessions, next) =
                api::list_user(app, uid, limit, cursor.as_ref(), &token.sessions).await?;
            let path = format!("/api/users/v1/{}/sessions", api::path_segment(uid));
            let next = next.map(|c| api::next_url(app, &path, &q, &c));
            Ok(Answer::page(
                json!({"userId": uid, "sessions": sessions}),
                next,
            ))
        }
        Op::EndUser => {
            Query::parse(r.raw_query, &[])?;
            if !api::valid_id(uid) || app.store.get_user(uid).await?.is_none() {
                return Err(no_user());
            }
            let by = EndedBy::person(ActorKind::Admin, &token.user_id, Some(&token.client_id));
            terminate_all_by(app, uid, &[], EndReason::Admin, Some(&by)).await?;
            Ok(Answer::empty(StatusCode::NO_CONTENT))
        }
        Op::GetOne => {
            Query::parse(r.raw_query, &[])?;
            if !api::valid_id(uid) || !api::valid_id(sid) {
                return Err(no_session());
            }
            match app.store.get_session(sid).await? {
                Some(s) if s.user_id == uid && s.is_live(now_s()) => Ok(Answer::json(
                    api::session_json(&s, token.sessions.contains(&s.sid)),
                )),
                // An ended session reads with why, when and by whom it ended (issue 19.4).
                Some(s) if s.user_id == uid && s.status == SessionStatus::Ended => {
                    let mut v = api::session_json(&s, false);
                    v["status"] = json!(s.status);
                    v["endedReason"] = json!(s.ended_reason);
                    v["endedAt"] = json!(s.ended_at_ms.map(|t| t.to_string()));
                    v["endedBy"] = json!(s.ended_by.as_ref().map(ended_by_json));
                    Ok(Answer::json(v))
                }
                _ => Err(no_session()),
            }
        }
        Op::EndOne => {
            Query::parse(r.raw_query, &[])?;
            if !api::valid_id(uid) || !api::valid_id(sid) {
                return Err(no_session());
            }
            let by = EndedBy::person(ActorKind::Admin, &token.user_id, Some(&token.client_id));
            match terminate_by(app, sid, Some(uid), EndReason::Admin, Some(&by)).await? {
                Terminated::NotFound => Err(no_session()),
                Terminated::Ended { .. } => Ok(Answer::empty(StatusCode::NO_CONTENT)),
                Terminated::AlreadyEnded => Ok(Answer::empty(StatusCode::NO_CONTENT)),
            }
        }
        Op::Deliveries => {
            Query::parse(r.raw_query, &[])?;
            if !api::valid_id(uid) || !api::valid_id(sid) {
                return Err(no_session());
            }
            let part = app.store.session_partition(sid).await?;
            match &part.session {
                Some(s) if s.user_id == uid => {
                    let mut ds = part.deliveries.clone();
                    ds.sort_by(|a, b| a.client_id.cmp(&b.client_id));
                    let deliveries: Vec<_> = ds.iter().map(api::delivery_json).collect();
                    Ok(Answer::json(json!({
                        "sessionId": s.sid,
                        "userId": s.user_id,
                        "status": s.status,
                        "endedReason": s.ended_reason,
                        "endedAt": s.ended_at_ms.map(|t| t.to_string()),
                        "endedBy": s.ended_by.as_ref().map(ended_by_json),
                        "deliveries": deliveries,
                    })))
                }
                _ => Err(no_session()),
            }
        }
        Op::Replay => {
            Query::parse(r.raw_query, &[])?;
            let cid = r.client_id;
            if !api::valid_id(uid) || !api::valid_id(sid) || !api::valid_id(cid) {
                return Err(no_delivery());
            }
            let part = app.store.session_partition(sid).await?;
            if part.session.as_ref().is_none_or(|s| s.user_id != uid) {
                return Err(no_delivery());
            }
            let Some(d) = part.deliveries.iter().find(|d| d.client_id == cid) else {
                return Err(no_delivery());
            };
            if !replayable(d) {
                return Err(not_replayable(d.status.as_str()));
            }
            match replay(app, sid, cid).await {
                Ok(()) => Ok(Answer::empty(StatusCode::ACCEPTED)),
                // Its state changed since it was read (replayed or finished meanwhile).
                Err(StoreError::ConditionFailed) => Err(not_replayable("no longer replayable")),
                Err(e) => Err(e.into()),
            }
        }
        Op::StreamEvents => {
            Query::parse(r.raw_query, &[])?;
            let events = if api::valid_id(r.stream_id) {
                app.store.stream_events(r.stream_id).await?
            } else {
                Vec::new()
            };
            if events.is_empty() && !stream_exists(app, r.stream_id).await? {
                return Err(no_stream());
            }
            let events: Vec<_> = events
                .iter()
                .map(crate::ssf::delivery::event_json)
                .collect();
            Ok(Answer::json(
                json!({"streamId": r.stream_id, "events": events}),
            ))
        }
        Op::StreamReplay => {
            Query::parse(r.raw_query, &[])?;
            if !api::valid_id(r.stream_id) {
                return Err(no_event());
            }
            match crate::ssf::delivery::replay(app, r.stream_id, r.jti).await {
                Ok(Some(())) => Ok(Answer::empty(StatusCode::ACCEPTED)),
                Ok(None) => Err(no_event()),
                Err(StoreError::ConditionFailed) => Err(not_replayable("not dead or rejected")),
                Err(e) => Err(e.into()),
            }
        }
        Op::SetPassword | Op::Disable | Op::Enable | Op::DeleteUser => {
            Err(ApiError::method_not_allowed())
        }
    }
}

fn no_stream() -> ApiError {
    ApiError::not_found("No Shared Signals stream with this id.")
}

fn no_event() -> ApiError {
    ApiError::not_found("No event receipt with this id in this stream.")
}

/// Whether a stream with this id is registered (any owner). 1 GetItem (the registry).
async fn stream_exists(app: &App, stream_id: &str) -> Result<bool, StoreError> {
    if !api::valid_id(stream_id) {
        return Ok(false);
    }
    Ok(app
        .store
        .stream_index()
        .await?
        .iter()
        .any(|s| s.stream_id == stream_id))
}

/// The body of `POST /{user-id}/password`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    password: String,
}

/// The account operations ([`crate::account::lifecycle`]), answering
/// `{"userId","sessionsEnded"}`.
async fn account_op(
    app: &App,
    op: Op,
    uid: &str,
    body: &str,
    by: &EndedBy,
) -> Result<Answer, ApiError> {
    let done = match op {
        Op::SetPassword => {
            let b: NewPassword = serde_json::from_str(body).map_err(|_| {
                ApiError::bad_request("The body must be a JSON object `{\"password\": \"…\"}`.")
            })?;
            lifecycle::set_password(app, uid, &b.password, by).await
        }
        Op::Disable => lifecycle::disable(app, uid, by).await,
        Op::Enable => lifecycle::enable(app, uid).await,
        _ => lifecycle::delete(app, uid, by).await,
    };
    match done {
        Ok(c) => Ok(Answer::json(
            json!({"userId": c.user_id, "sessionsEnded": c.sessions_ended}),
        )),
        Err(AccountError::NotFound) => Err(no_user()),
        Err(e) => Err(account_error(e)),
    }
}

/// The REST answer to an account operation's failure.
pub fn account_error(e: AccountError) -> ApiError {
    match e {
        AccountError::NotFound => ApiError::not_found("No user with this id."),
        AccountError::Policy(p) => ApiError::new(
            StatusCode::BAD_REQUEST,
            p.code(),
            "Invalid password.",
            &p.message(),
        ),
        AccountError::WrongPassword => ApiError::new(
            StatusCode::FORBIDDEN,
            "ACC-40301",
            "Wrong password.",
            "The current password is not right.",
        ),
        AccountError::Throttled { retry_after } => {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "ACC-42901",
                "Too many attempts.",
                "",
            );
            e.description = format!("Too many attempts; retry after {retry_after} seconds.");
            e.retry_after = Some(retry_after);
            e
        }
        AccountError::Store(s) => s.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::routes::ROUTES;

    #[test]
    fn every_admin_route_is_an_operation_with_its_scope() {
        let admin: Vec<&str> = ROUTES
            .iter()
            .filter(|r| r.function == "admin-sessions")
            .map(|r| r.key)
            .collect();
        assert_eq!(admin.len(), OPS.len());
        for k in admin {
            let op = Op::of(k).unwrap_or_else(|| panic!("{k}"));
            let reads = k.starts_with("GET ");
            assert_eq!(op.scope() == VIEW, reads, "{k}");
            let account = !k.contains("/sessions") && !k.contains("/api/ssf/");
            assert_eq!(
                [USER_UPDATE, USER_DELETE].contains(&op.scope()),
                account,
                "{k}"
            );
        }
        assert_eq!(Op::of("GET /nope"), None);
    }
}
