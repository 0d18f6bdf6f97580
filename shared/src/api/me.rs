//! The Me API: the caller's own sessions (scope `internal_login`).
//!
//! * `GET /api/users/v1/me/sessions?limit&cursor` — live sessions, newest login first;
//!   `current` marks the session(s) the caller's token is mapped to.
//! * `DELETE /api/users/v1/me/sessions[?exclude=current]` — end all (or all others).
//! * `DELETE /api/users/v1/me/sessions/{session-id}` — end one; another user's or an unknown
//!   id is 404, an already ended one 204.
//! * `GET /api/users/v1/me/ended-sessions?limit` — the caller's recently ended sessions
//!   (newest first, until they expire from the table), each with why and by whom it ended
//!   and, per app, whether it was told (its back-channel receipt). Only the caller's own:
//!   the markers are read under the caller's user id and each session's owner is checked.
//! * `POST /api/users/v1/me/password` — change the caller's password
//!   (`{"currentPassword","newPassword","signOutOtherSessions"?: true,
//!   "signOutThisSession"?: false}`): the current password is checked against the login
//!   throttle (403 when wrong, 429 + `Retry-After` over the limit), the policy's failures are
//!   400 with a code each; the other sessions end with reason `credential_change`
//!   ([`crate::account::lifecycle::change_password`]). Answers `{"userId","sessionsEnded"}`.
//!
//! Ending a session revokes its tokens at once: ending the caller's own session makes the
//! next call with the same token a 401. Every ending through this API is remembered for
//! "Recently ended" ([`crate::session::history`]).

use super::admin::account_error;
use super::sessions::{self as api, Query, LIST_PARAMS};
use super::Answer;
use crate::account::lifecycle::{change_password, PasswordChange};
use crate::app::App;
use crate::http::error::ApiError;
use crate::http::routes::route;
use crate::oauth::bearer::{authenticate, require_scope};
use crate::platform::time::now_s;
use crate::session::terminate::{terminate_all_by, terminate_by};
use crate::session::Terminated;
use crate::store::schema::{ActorKind, DeliveryItem, EndReason, EndedBy};
use crate::store::EndedSession;
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
    /// The request body (JSON for the password change).
    pub body: &'a str,
    /// The caller's address (the throttle's per-address counter).
    pub ip: &'a str,
}

/// The body of `POST /me/password`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PasswordBody {
    current_password: String,
    new_password: String,
    #[serde(default = "yes")]
    sign_out_other_sessions: bool,
    #[serde(default)]
    sign_out_this_session: bool,
}

fn yes() -> bool {
    true
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
                Terminated::Ended { .. } => Ok(Answer::empty(StatusCode::NO_CONTENT)),
                Terminated::AlreadyEnded => Ok(Answer::empty(StatusCode::NO_CONTENT)),
            }
        }
        k if k == route::ME_ENDED.key => {
            let q = Query::parse(r.raw_query, &["limit"])?;
            let limit = q.limit()?.min(ENDED_LIMIT);
            let ended = app.store.recently_ended(user_id, now_s(), limit).await?;
            let sessions: Vec<_> = ended.iter().map(ended_json).collect();
            Ok(Answer::json(
                json!({"userId": user_id, "sessions": sessions}),
            ))
        }
        k if k == route::ME_PASSWORD.key => {
            Query::parse(r.raw_query, &[])?;
            let b: PasswordBody = serde_json::from_str(r.body).map_err(|_| {
                ApiError::bad_request(
                    "The body must be a JSON object with `currentPassword` and `newPassword` \
                     (strings) and optionally `signOutOtherSessions`, `signOutThisSession` \
                     (booleans).",
                )
            })?;
            let change = PasswordChange {
                user_id,
                client_id: &token.client_id,
                current_sessions: &token.sessions,
                current_password: &b.current_password,
                new_password: &b.new_password,
                sign_out_others: b.sign_out_other_sessions,
                sign_out_this: b.sign_out_this_session,
                ip: r.ip,
            };
            match change_password(app, &change).await {
                Ok(c) => Ok(Answer::json(
                    json!({"userId": c.user_id, "sessionsEnded": c.sessions_ended}),
                )),
                Err(e) => Err(account_error(e)),
            }
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

// --- Recently ended (issue 20) ---

/// At most this many ended sessions are listed.
pub const ENDED_LIMIT: usize = 25;

/// Who ended a session, as its user is told: `you`, `administrator`, `app` (the app's
/// RP-initiated logout), `timeout` (idle or absolute expiry) or `system` (anything else
/// Warden did itself). The administrator's identity is not shown.
pub fn ended_by_label(reason: Option<EndReason>, by: Option<&EndedBy>) -> &'static str {
    match (reason, by.map(|b| b.kind)) {
        (Some(EndReason::IdleTimeout | EndReason::AbsoluteTimeout | EndReason::Expired), _) => {
            "timeout"
        }
        (Some(EndReason::RpLogout), _) => "app",
        (_, Some(ActorKind::Admin)) => "administrator",
        (Some(EndReason::UserDisabled | EndReason::UserDeleted | EndReason::Admin), _) => {
            "administrator"
        }
        (_, Some(ActorKind::User)) => "you",
        _ => "system",
    }
}

/// Whether an app of an ended session was told, as its user sees it: `signed-out`,
/// `trying`, `failed` ([`crate::logout::rp::ReceiptState`]) or `not-needed` (the app has no
/// back-channel URI, so nothing was to be sent).
fn told(d: Option<&DeliveryItem>) -> &'static str {
    d.map_or("not-needed", |d| {
        crate::logout::rp::ReceiptState::of(d.status).as_str()
    })
}

/// One ended session for its user: the live-session shape without `current`, the end
/// (`endedReason`, `endedAt`, `endedBy` as [`ended_by_label`]) and per app its receipt
/// (`told`, `status`, `attempts`, `deliveredAt`; no error text).
pub fn ended_json(e: &EndedSession) -> serde_json::Value {
    let s = &e.session;
    let mut v = api::session_json(s, false);
    if let Some(o) = v.as_object_mut() {
        o.remove("current");
    }
    let reason = s.ended_reason.as_deref().and_then(EndReason::parse);
    v["endedReason"] = json!(s.ended_reason);
    v["endedAt"] = json!(s.ended_at_ms.map(|t| t.to_string()));
    v["endedBy"] = json!(ended_by_label(reason, s.ended_by.as_ref()));
    let apps: Vec<_> = s
        .apps
        .iter()
        .map(|(cid, a)| {
            let d = e.deliveries.iter().find(|d| &d.client_id == cid);
            json!({
                "appId": cid,
                "appName": a.name,
                "told": told(d),
                "status": d.map(|d| d.status),
                "attempts": d.map(|d| d.attempts),
                "deliveredAt": d.and_then(|d| d.delivered_ms).map(|t| t.to_string()),
            })
        })
        .collect();
    v["applications"] = json!(apps);
    v
}

// --- end of Recently ended.

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
                    route::ME_END_ONE.key,
                    route::ME_ENDED.key,
                    route::ME_PASSWORD.key
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

    #[test]
    fn the_user_is_told_who_ended_a_session_without_the_administrators_name() {
        let admin = EndedBy::person(ActorKind::Admin, "admin-1", Some("console"));
        let me = EndedBy::person(ActorKind::User, "u1", Some("myaccount"));
        let l = ended_by_label;
        assert_eq!(l(Some(EndReason::Admin), Some(&admin)), "administrator");
        assert_eq!(l(Some(EndReason::UserDisabled), None), "administrator");
        assert_eq!(l(Some(EndReason::User), Some(&me)), "you");
        assert_eq!(l(Some(EndReason::UserAll), Some(&me)), "you");
        assert_eq!(l(Some(EndReason::RpLogout), Some(&me)), "app");
        assert_eq!(
            l(Some(EndReason::IdleTimeout), Some(&EndedBy::system())),
            "timeout"
        );
        assert_eq!(l(Some(EndReason::AbsoluteTimeout), None), "timeout");
        assert_eq!(
            l(Some(EndReason::CodeReplay), Some(&EndedBy::system())),
            "system"
        );
        assert_eq!(l(None, None), "system");
    }
}
