//! The Me API: the caller's own sessions (scope `internal_login`).
//!
//! * `GET /api/users/v1/me/sessions?limit&cursor` — live sessions, newest login first;
//!   `current` marks the session(s) the caller's token is mapped to.
//! * `DELETE /api/users/v1/me/sessions[?exclude=current]` — end all (or all others).
//! * `DELETE /api/users/v1/me/sessions/{session-id}` — end one; another user's or an unknown
//!   id is 404, an already ended one 204.
//!
//! Ending a session revokes its tokens at once: ending the caller's own session makes the
//! next call with the same token a 401.

use super::sessions::{self as api, Query, LIST_PARAMS};
use super::Answer;
use crate::app::App;
use crate::http::error::ApiError;
use crate::http::routes::route;
use crate::oauth::bearer::{authenticate, require_scope};
use crate::session::terminate::{terminate_all_by, terminate_by};
use crate::session::Terminated;
use crate::store::schema::{ActorKind, EndReason, EndedBy};
use http::{HeaderMap, StatusCode};
use serde_json::json;

/// The scope every Me operation needs.
pub const SCOPE: &str = "internal_login";

/// A Me API request as the handler parsed it.
#[derive(Debug, Clone, Copy)]
pub struct MeRequest<'a> {
    /// The request headers (the bearer token).
    pub headers: &'a HeaderMap,
    /// API Gateway's route key (`"DELETE /api/users/v1/me/sessions"`); found from the method
    /// and path in the route table when the request carries none.
    pub route_key: &'a str,
    /// The `{session-id}` path parameter, for ending one session.
    pub session_id: Option<&'a str>,
    /// The raw query string (`exclude` on "end all").
    pub raw_query: &'a str,
}

/// What `?exclude=` on "end all" keeps: nothing, or (`current`) the caller's own sessions.
/// Any other value — an empty one included — is refused: it must not silently mean "end
/// everything, mine included".
pub fn kept_by_exclude(q: &Query, caller_sessions: &[String]) -> Result<Vec<String>, ApiError> {
    let refuse = || {
        ApiError::bad_request("`exclude` accepts only `current` (keep the caller's own session).")
    };
    match q.get("exclude") {
        None if q.has("exclude") => Err(refuse()),
        None => Ok(Vec::new()),
        Some("current") => Ok(caller_sessions.to_vec()),
        Some(_) => Err(refuse()),
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("No session with this id belongs to the caller.")
}

/// Run a Me operation. Round trips: the bearer check (1) plus those of the operation
/// (`docs/round-trips.md`).
pub async fn run(app: &App, r: &MeRequest<'_>) -> Result<Answer, ApiError> {
    let token = authenticate(app, r.headers).await?;
    require_scope(&token, SCOPE)?;
    let user_id = token.user_id.as_str();
    match r.route_key {
        k if k == route::ME_LIST.key => {
            let q = Query::parse(r.raw_query, LIST_PARAMS)?;
            let limit = q.limit()?;
            let cursor = api::user_list_cursor(q.get("cursor"), user_id)?;
            let (sessions, next) =
                api::list_user(app, user_id, limit, cursor.as_ref(), &token.sessions).await?;
            let next = next.map(|c| api::next_url(app, route::ME_LIST.path, &q, &c));
            Ok(Answer::page(
                json!({"userId": user_id, "sessions": sessions}),
                next,
            ))
        }
        k if k == route::ME_END_ALL.key => {
            let q = Query::parse(r.raw_query, &["exclude"])?;
            let keep = kept_by_exclude(&q, &token.sessions)?;
            let by = EndedBy::person(ActorKind::User, user_id, Some(&token.client_id));
            terminate_all_by(app, user_id, &keep, EndReason::UserAll, Some(&by)).await?;
            Ok(Answer::empty(StatusCode::NO_CONTENT))
        }
        k if k == route::ME_END_ONE.key => {
            Query::parse(r.raw_query, &[])?;
            let sid = r.session_id.unwrap_or_default();
            if !api::valid_id(sid) {
                return Err(not_found());
            }
            let by = EndedBy::person(ActorKind::User, user_id, Some(&token.client_id));
            match terminate_by(app, sid, Some(user_id), EndReason::User, Some(&by)).await? {
                Terminated::NotFound => Err(not_found()),
                Terminated::Ended { .. } | Terminated::AlreadyEnded => {
                    Ok(Answer::empty(StatusCode::NO_CONTENT))
                }
            }
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::routes;

    #[test]
    fn exclude_keeps_nothing_or_the_callers_sessions() {
        let mine = vec!["s1".to_string()];
        let q = |raw| Query::parse(raw, &["exclude"]).unwrap();
        assert!(kept_by_exclude(&q(""), &mine).unwrap().is_empty());
        assert_eq!(kept_by_exclude(&q("exclude=current"), &mine).unwrap(), mine);
        assert!(kept_by_exclude(&q("exclude="), &mine).is_err());
        assert!(kept_by_exclude(&q("exclude=all"), &mine).is_err());
    }

    #[test]
    fn every_me_route_is_an_operation() {
        for r in routes::ROUTES
            .iter()
            .filter(|r| r.function == "me-sessions")
        {
            assert!(
                [
                    route::ME_LIST.key,
                    route::ME_END_ALL.key,
                    route::ME_END_ONE.key
                ]
                .contains(&r.key),
                "{}",
                r.key
            );
        }
        assert_eq!(
            routes::key_of("DELETE", "/api/users/v1/me/sessions/abc"),
            route::ME_END_ONE.key
        );
    }
}
