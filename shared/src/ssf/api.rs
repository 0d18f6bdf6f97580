//! The stream-management operations (SSF 1.0 §8), each authenticated by an OAuth 2.0 bearer
//! token Warden issued (`authorization_schemes`: RFC 6749), and each confined to the
//! streams of the token's client:
//!
//! * `POST /ssf/streams` — create (201); the ninth stream of one receiver is 409
//!   ([`streams::MAX_STREAMS_PER_CLIENT`]). Scope `ssf.manage`.
//! * `GET /ssf/streams[?stream_id=]` — one stream, or all of the caller's (an array).
//!   Scope `ssf.read` or `ssf.manage`.
//! * `PATCH /ssf/streams` — update the members the body names; `PUT` — replace them all
//!   (200 with the stream). `DELETE /ssf/streams?stream_id=` — 204. Scope `ssf.manage`.
//! * `GET /ssf/status?stream_id=` (read scope), `POST /ssf/status` with
//!   `{"stream_id","status","reason"?}` (`ssf.manage`).
//! * `POST /ssf/subjects/add` `{"stream_id","subject","verified"?}` — 200;
//!   `POST /ssf/subjects/remove` `{"stream_id","subject"}` — 204. Scope `ssf.manage`.
//! * `POST /ssf/verify` `{"stream_id","state"?}` — 204: the request is recorded on the
//!   stream and as a signal record whose fan-out makes the verification SET an event of the
//!   stream (pushed, or kept for the next poll: [`super::delivery::request_verification`]);
//!   one sooner than `min_verification_interval` after the last is 429 with `Retry-After`.
//! * `POST /ssf/poll/{stream-id}` — RFC 8936 poll of a poll stream
//!   ([`super::delivery::poll`]): `{"maxEvents"?, "returnImmediately"?, "ack"?, "setErrs"?}`
//!   → 200 `{"sets", "moreAvailable"}`. Scope `ssf.read` or `ssf.manage`; a push stream is
//!   404 here.
//!
//! Enabling a paused push stream (status, or an update that makes it a push stream) queues
//! its held events at once ([`super::delivery::release_held`]).
//!
//! Only a receiver's own token (`client_credentials`) of a client still registered and
//! enabled is accepted: a user's token is 403 whatever its scopes.
//!
//! Errors are the REST shape (`{"code","message","description","traceId"}`): 400 for a
//! broken body or value, 401 (with `WWW-Authenticate`) without a valid token, 403 without
//! the scope, 404 for a stream the caller does not own (whether or not it exists), 409, 429.
//!
//! Round trips (`docs/round-trips.md`): a read 1 (GetItem or Query); create 2 (Query to
//! count, PutItem; + 1 KMS Encrypt with a push authorization header under KMS); update,
//! replace and status change 2 (GetItem, PutItem conditioned on the version read; + 1
//! Query and the SQS sends when held events are released); verification request 3 (those
//! two and the signal record's PutItem) and an SQS send; poll 2 (GetItem, Query; + 1
//! BatchGetItem and 1 BatchWriteItem with acknowledgements); delete 2 (Query of its
//! subjects, TransactWriteItems); add or remove a subject 1 (TransactWriteItems with the
//! stream's check). The bearer token's GetItem is
//! one more on each.

use super::{delivery, metadata, streams, subjects};
use crate::api::Answer;
use crate::app::App;
use crate::http::error::ApiError;
use crate::http::routes::route;
use crate::oauth::bearer::{authenticate, require_scope, REALM};
use crate::oauth::oidc::{SSF_MANAGE, SSF_READ};
use crate::platform::crypto;
use crate::platform::time::now_ms;
use crate::store::schema::{
    keys, DeliveryMethod, StreamItem, StreamStatus, SubjectItem, TokenItem, VerificationRequest,
};
use crate::store::StoreError;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};
use streams::HeaderChange;

/// The purpose a push stream's authorization header is sealed for (its context: the
/// stream id).
pub const AUTHORIZATION_PURPOSE: &str = "ssf-authorization";
/// The largest request body accepted.
const MAX_BODY: usize = 64 * 1024;

/// A stream-management request as the handler parsed it.
#[derive(Debug, Clone, Copy)]
pub struct SsfRequest<'a> {
    /// The request headers (the bearer token).
    pub headers: &'a HeaderMap,
    /// API Gateway's route key (found in the route table when the request carries none).
    pub route_key: &'a str,
    /// The raw query string (`stream_id` on GET and DELETE).
    pub raw_query: &'a str,
    /// The `{stream-id}` path parameter (poll); empty when the route has none.
    pub path_stream_id: &'a str,
    /// The request body (JSON).
    pub body: &'a str,
}

/// What an operation needs of the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Read,
    Manage,
}

/// The transmitter metadata, for the public route.
pub fn metadata(app: &App) -> Value {
    metadata::configuration(&app.config)
}

/// Run one operation: authenticate, check the scope, decide, answer.
pub async fn run(app: &App, r: &SsfRequest<'_>) -> Result<Answer, ApiError> {
    let op = r.route_key;
    let need = match op {
        k if k == route::SSF_STREAMS_GET.key
            || k == route::SSF_STATUS_GET.key
            || k == route::SSF_POLL.key =>
        {
            Need::Read
        }
        _ => Need::Manage,
    };
    let token = authenticate(app, r.headers).await?;
    authorize(&token, need)?;
    receiver(app, &token).await?;
    let client = token.client_id.as_str();
    if r.body.len() > MAX_BODY {
        return Err(bad("The body is too large."));
    }
    match op {
        k if k == route::SSF_STREAMS_POST.key => create(app, client, r.body).await,
        k if k == route::SSF_STREAMS_GET.key => read(app, client, r.raw_query).await,
        k if k == route::SSF_STREAMS_PATCH.key => change(app, client, r.body, false).await,
        k if k == route::SSF_STREAMS_PUT.key => change(app, client, r.body, true).await,
        k if k == route::SSF_STREAMS_DELETE.key => delete(app, client, r.raw_query).await,
        k if k == route::SSF_STATUS_GET.key => status(app, client, r.raw_query).await,
        k if k == route::SSF_STATUS_POST.key => set_status(app, client, r.body).await,
        k if k == route::SSF_SUBJECTS_ADD.key => add_subject(app, client, r.body).await,
        k if k == route::SSF_SUBJECTS_REMOVE.key => remove_subject(app, client, r.body).await,
        k if k == route::SSF_VERIFY.key => verify(app, client, r.body).await,
        k if k == route::SSF_POLL.key => poll(app, client, r.path_stream_id, r.body).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// Reads need `ssf.read` or `ssf.manage`; writes `ssf.manage` (403 `insufficient_scope`).
fn authorize(token: &TokenItem, need: Need) -> Result<(), ApiError> {
    match need {
        Need::Manage => require_scope(token, SSF_MANAGE),
        Need::Read => require_scope(token, SSF_READ)
            .or_else(|_| require_scope(token, SSF_MANAGE))
            .map_err(|_| ApiError::insufficient_scope(REALM, SSF_READ)),
    }
}

/// The token must be its client's own (`client_credentials`: a user's token, even with an
/// SSF scope, acts for that user, not for the receiver), and the client must still be
/// registered and enabled (a disabled receiver's tokens stop working at once, not at
/// their expiry). The client is cached: no round trip when warm.
async fn receiver(app: &App, token: &TokenItem) -> Result<(), ApiError> {
    if !token.is_clients_own() {
        let mut e = ApiError::insufficient_scope(REALM, SSF_MANAGE);
        e.description = "Stream management takes the receiver's own client_credentials token, \
                         not a user's."
            .into();
        return Err(e);
    }
    match app.client(&token.client_id).await? {
        Some(c) if !c.disabled => Ok(()),
        _ => Err(ApiError::invalid_token(REALM)),
    }
}

fn bad(d: impl Into<String>) -> ApiError {
    let mut e = ApiError::new(StatusCode::BAD_REQUEST, "SSF-40001", "Invalid request.", "");
    e.description = d.into();
    e
}

fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "SSF-40401",
        "Not found.",
        "No such stream for this receiver.",
    )
}

fn poll_url(app: &App, stream_id: &str) -> String {
    streams::poll_url(|p| app.config.url(p), stream_id)
}

/// `stream_id` of a query string: at most once; `None` when absent.
fn query_stream_id(raw: &str) -> Result<Option<String>, ApiError> {
    let mut found = None;
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        if k == "stream_id" {
            if found.is_some() || v.is_empty() {
                return Err(bad("stream_id must be given once, not empty."));
            }
            found = Some(v.into_owned());
        }
    }
    Ok(found)
}

fn required_query_stream_id(raw: &str) -> Result<String, ApiError> {
    query_stream_id(raw)?.ok_or_else(|| bad("stream_id is required."))
}

fn body_stream_id(obj: &Map<String, Value>) -> Result<String, ApiError> {
    streams::optional_string(obj, "stream_id")
        .map_err(bad)?
        .ok_or_else(|| bad("stream_id is required."))
}

/// The caller's stream, or 404. 1 GetItem.
async fn owned(app: &App, client: &str, stream_id: &str) -> Result<StreamItem, ApiError> {
    if stream_id.len() > 256 {
        return Err(not_found());
    }
    app.store
        .get_stream(client, stream_id)
        .await?
        .ok_or_else(not_found)
}

/// Seal (or clear) the authorization header as `change` says. KMS: 1 Encrypt.
async fn seal_header(app: &App, s: &mut StreamItem, change: HeaderChange) -> Result<(), ApiError> {
    match change {
        HeaderChange::Keep => {}
        HeaderChange::Clear => s.authorization_header_sealed = None,
        HeaderChange::Seal(h) => {
            let sealed = app
                .key_protector
                .seal(AUTHORIZATION_PURPOSE, &s.stream_id, h.as_bytes())
                .await
                .map_err(|e| {
                    // The error names the stream, never the header.
                    tracing::error!(stream_id = %s.stream_id, error = %e, "sealing a push authorization header");
                    if e.is_temporary() {
                        ApiError::unavailable()
                    } else {
                        ApiError::internal()
                    }
                })?;
            s.authorization_header_sealed = Some(sealed);
        }
    }
    Ok(())
}

/// A write conditioned on the version read: a concurrent change or delete is a 409 the
/// receiver may retry.
fn write_error(e: StoreError) -> ApiError {
    match e {
        StoreError::ConditionFailed => ApiError::new(
            StatusCode::CONFLICT,
            "SSF-40902",
            "Conflict.",
            "The stream changed meanwhile; read it and try again.",
        ),
        e => e.into(),
    }
}

async fn create(app: &App, client: &str, body: &str) -> Result<Answer, ApiError> {
    let req = streams::parse(body, app.http.policy()).map_err(bad)?;
    let existing = app.store.list_streams(client).await?;
    if existing.len() >= streams::MAX_STREAMS_PER_CLIENT {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "SSF-40901",
            "Conflict.",
            "This receiver has as many streams as it may have; delete one first.",
        ));
    }
    let stream_id = crypto::random_id();
    let (mut s, header) = streams::new_stream(
        client,
        &stream_id,
        &req,
        poll_url(app, &stream_id),
        now_ms(),
    );
    seal_header(app, &mut s, header).await?;
    app.store.put_stream(&s, None).await.map_err(write_error)?;
    app.forget_signal_streams();
    tracing::info!(client_id = %client, stream_id = %s.stream_id, method = %s.delivery_method, "ssf stream created");
    Ok(Answer {
        status: StatusCode::CREATED,
        body: Some(streams::render(&s, &app.config.issuer)),
        next: None,
    })
}

async fn read(app: &App, client: &str, raw_query: &str) -> Result<Answer, ApiError> {
    match query_stream_id(raw_query)? {
        Some(id) => {
            let s = owned(app, client, &id).await?;
            Ok(Answer::json(streams::render(&s, &app.config.issuer)))
        }
        None => {
            let all = app.store.list_streams(client).await?;
            Ok(Answer::json(Value::Array(
                all.iter()
                    .map(|s| streams::render(s, &app.config.issuer))
                    .collect(),
            )))
        }
    }
}

async fn change(app: &App, client: &str, body: &str, replace: bool) -> Result<Answer, ApiError> {
    let req = streams::parse(body, app.http.policy()).map_err(bad)?;
    let id = req
        .stream_id
        .clone()
        .ok_or_else(|| bad("stream_id is required."))?;
    let mut s = owned(app, client, &id).await?;
    let read_v = s.v;
    let was_push = s.delivery_method == DeliveryMethod::Push;
    let header = streams::apply(&mut s, &req, replace, poll_url(app, &id), now_ms());
    seal_header(app, &mut s, header).await?;
    app.store
        .put_stream(&s, Some(read_v))
        .await
        .map_err(write_error)?;
    app.forget_signal_streams();
    if !was_push {
        delivery::release_held(app, &s).await?;
    }
    Ok(Answer::json(streams::render(&s, &app.config.issuer)))
}

async fn delete(app: &App, client: &str, raw_query: &str) -> Result<Answer, ApiError> {
    let id = required_query_stream_id(raw_query)?;
    if id.len() > 256 {
        return Err(not_found());
    }
    match app.store.delete_stream(client, &id).await {
        Ok(()) => {
            app.forget_signal_streams();
            Ok(Answer::empty(StatusCode::NO_CONTENT))
        }
        Err(StoreError::ConditionFailed) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

async fn status(app: &App, client: &str, raw_query: &str) -> Result<Answer, ApiError> {
    let id = required_query_stream_id(raw_query)?;
    let s = owned(app, client, &id).await?;
    Ok(Answer::json(streams::render_status(&s)))
}

async fn set_status(app: &App, client: &str, body: &str) -> Result<Answer, ApiError> {
    let obj = streams::object(body).map_err(bad)?;
    let id = body_stream_id(&obj)?;
    let (status, reason) = streams::parse_status(&obj).map_err(bad)?;
    let mut s = owned(app, client, &id).await?;
    let read_v = s.v;
    let was = s.status;
    s.status = status;
    s.status_reason = reason;
    s.updated_ms = now_ms();
    s.v += 1;
    app.store
        .put_stream(&s, Some(read_v))
        .await
        .map_err(write_error)?;
    app.forget_signal_streams();
    tracing::info!(client_id = %client, stream_id = %id, status = %status, "ssf stream status");
    if was != StreamStatus::Enabled {
        delivery::release_held(app, &s).await?;
    }
    Ok(Answer::json(streams::render_status(&s)))
}

fn subject_of(obj: &Map<String, Value>) -> Result<subjects::Subject, ApiError> {
    let v = obj
        .get("subject")
        .ok_or_else(|| bad("subject is required."))?;
    subjects::parse(v).map_err(bad)
}

async fn add_subject(app: &App, client: &str, body: &str) -> Result<Answer, ApiError> {
    let obj = streams::object(body).map_err(bad)?;
    let id = body_stream_id(&obj)?;
    let subject = subject_of(&obj)?;
    let verified = match obj.get("verified") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("verified must be a boolean.")),
    };
    let (pk, sk) = keys::stream_subject(&id, &subject.key_hash());
    let item = SubjectItem {
        pk,
        sk,
        subject: subject.canonical,
        verified,
        added_ms: now_ms(),
    };
    match app.store.put_subject(client, &id, &item).await {
        Ok(()) => Ok(Answer::empty(StatusCode::OK)),
        Err(StoreError::ConditionFailed) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

async fn remove_subject(app: &App, client: &str, body: &str) -> Result<Answer, ApiError> {
    let obj = streams::object(body).map_err(bad)?;
    let id = body_stream_id(&obj)?;
    let subject = subject_of(&obj)?;
    let key = keys::stream_subject(&id, &subject.key_hash());
    match app.store.delete_subject(client, &id, key).await {
        Ok(()) => Ok(Answer::empty(StatusCode::NO_CONTENT)),
        Err(StoreError::ConditionFailed) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

async fn verify(app: &App, client: &str, body: &str) -> Result<Answer, ApiError> {
    let obj = streams::object(body).map_err(bad)?;
    let id = body_stream_id(&obj)?;
    let state = match obj.get("state") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= 1024 => Some(s.clone()),
        Some(_) => return Err(bad("state must be a string of at most 1024 bytes.")),
    };
    let mut s = owned(app, client, &id).await?;
    let now = now_ms();
    let wait = streams::verification_wait_s(&s, now);
    if wait > 0 {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "SSF-42901",
            "Too many requests.",
            "A verification was requested less than min_verification_interval ago.",
        );
        e.retry_after = Some(wait);
        return Err(e);
    }
    let read_v = s.v;
    s.verification = Some(VerificationRequest {
        state,
        requested_ms: now,
    });
    s.last_verification_ms = now;
    s.v += 1;
    app.store
        .put_stream(&s, Some(read_v))
        .await
        .map_err(write_error)?;
    app.forget_signal_streams();
    let state = s.verification.as_ref().and_then(|v| v.state.as_deref());
    delivery::request_verification(app, &s, state).await?;
    Ok(Answer::empty(StatusCode::NO_CONTENT))
}

/// RFC 8936 poll of one of the caller's poll streams.
async fn poll(app: &App, client: &str, stream_id: &str, body: &str) -> Result<Answer, ApiError> {
    let s = owned(app, client, stream_id).await?;
    if s.delivery_method != DeliveryMethod::Poll {
        return Err(not_found());
    }
    let req = delivery::parse_poll(body).map_err(bad)?;
    let answer = delivery::poll(app, &s, &req).await?;
    Ok(Answer::json(answer.json()))
}
