//! Shared Signals delivery (SSF 1.0, RFC 8935 push, RFC 8936 poll): what the dispatcher does
//! with a signal record and with each stream's events, with the same promise as
//! back-channel logout — nothing committed is lost, everything ends delivered or visibly
//! `rejected` / `dead`.
//!
//! * **Fan-out** ([`fan_out`]): a termination or account change commits one outbox record
//!   (`SIGNAL#<id>`, in the termination's own transaction) and queues a
//!   [`SignalMessage::FanOut`]. The dispatcher matches the record against the stream
//!   registry and the streams' subjects (key lookups, never a scan), builds and signs one
//!   SET per matching stream and cause ([`super::events`]), writes them as pending events
//!   of their streams (`SSFEV#<stream>` / `Q#<jti>`), marks the record done and queues one
//!   [`SignalMessage::Push`] per push event. Each step can be repeated: the events' `jti`s
//!   (and so their keys and bytes) derive from the record, the stream and the cause
//!   ([`event_jti`]), so a fan-out run twice writes the same events. A record whose message
//!   is lost is found by the relay in the due index (`DUE#SIGNAL#<n>`).
//! * **Push** ([`push`]): one POST of the SET (`application/secevent+jwt`, the receiver's
//!   sealed `Authorization` header opened for the attempt) through the outbound client (its
//!   address policy, no redirects, time-outs). [`classify`] reads the answer per RFC 8935
//!   §2.2–§2.4; retryable failures follow the back-channel schedule and end `dead` after
//!   `WARDEN_DELIVERY_MAX_ATTEMPTS`; final outcomes move the event to its receipt (`R#<jti>`).
//!   A paused stream's events are held (kept pending, looked at again hourly by the relay,
//!   and queued at once when the stream is enabled again); a disabled or deleted stream's
//!   are dropped (receipt `rejected`, with why).
//! * **Poll** ([`poll`]): RFC 8936 — acknowledgements and `setErrs` first, then up to
//!   `maxEvents` pending SETs oldest first; unacknowledged ones are returned again on the
//!   next poll. With `returnImmediately` false and nothing pending, the request waits up to
//!   [`LONG_POLL_WAIT`] for events.

use super::events::{self, SetContext, SignalEvent, SubjectShape};
use super::fanout::{self, Route};
use crate::app::App;
use crate::logout::backchannel::{classify_failure, relay_due_after_retry};
use crate::outbound::client::OutboundError;
use crate::outbound::queue::{send_all, SignalMessage};
use crate::platform::crypto;
use crate::platform::time::now_ms;
use crate::store::schema::{
    keys, DeliveryMethod, DeliveryStatus, EventType, SignalItem, SignalKind, StreamEventItem,
    StreamItem, StreamStatus,
};
use crate::store::{DeliveryOutcome, StoreError};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// The media type of a pushed SET (RFC 8935 §2).
pub const SET_MEDIA_TYPE: &str = "application/secevent+jwt";
/// How long a held event (its stream paused) waits before the relay looks at it again; a
/// stream enabled again queues its held events at once.
pub const HOLD_RECHECK_SECS: i64 = 3600;
/// The longest a poll with `returnImmediately: false` waits for an event.
pub const LONG_POLL_WAIT: Duration = Duration::from_secs(5);
/// The most SETs one poll returns, whatever `maxEvents` asks.
pub const MAX_POLL_EVENTS: usize = 100;

/// The `jti` of a stream's event: the event's time (zero-padded epoch ms, so pending events
/// sort oldest first and an acknowledgement finds its item by key), then a hash of `seed`
/// (the signal, the stream and the cause: the same for a repeated fan-out, different for
/// every other event).
pub fn event_jti(created_ms: i64, seed: &str) -> String {
    let h = crypto::sha256(seed.as_bytes());
    let hex: String = h[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("{:013}.{hex}", created_ms.max(0))
}

/// Is `jti` one Warden could have issued (so that it may name a key)?
pub fn plausible_jti(jti: &str) -> bool {
    jti.len() == 38
        && jti.as_bytes()[13] == b'.'
        && jti[..13].bytes().all(|b| b.is_ascii_digit())
        && jti[14..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Build one stream's pending event for `event` of `sig` (the `at`-th of the record): its
/// SET signed now with the active key, its key, and (push) its due key; `due_after_s` when
/// the relay should look at it if nothing else does. `stream` with the subject shape its
/// SETs take.
fn stream_event(
    app: &App,
    keyset: &crate::keys::signing::KeySet,
    (sig, email): (&SignalItem, Option<&str>),
    (stream, shape): (&StreamItem, SubjectShape),
    (at, event): (usize, &SignalEvent),
    due_after_s: i64,
) -> Result<StreamEventItem, StoreError> {
    let jti = event_jti(
        sig.created_ms,
        &format!("{}#{}#{at}", sig.id, stream.stream_id),
    );
    let claims = events::set_claims(
        &SetContext {
            issuer: &app.config.issuer,
            aud: &stream.aud,
            user_id: &sig.user_id,
            txn: &sig.txn,
            event_ms: sig.created_ms,
            iat: sig.created_ms / 1000,
            jti: &jti,
            shape,
            email,
        },
        event,
    );
    let set = events::sign_set(keyset, &claims)
        .map_err(|e| StoreError::Backend(format!("signing a SET: {e}")))?;
    Ok(new_event(
        app,
        stream,
        jti,
        set,
        event.event_type(),
        (&sig.id, &sig.txn, &sig.user_id),
        event.sid().map(str::to_string),
        sig.created_ms,
        due_after_s,
    ))
}

#[allow(clippy::too_many_arguments)]
fn new_event(
    app: &App,
    stream: &StreamItem,
    jti: String,
    set: String,
    event_type: EventType,
    (signal_id, txn, user_id): (&str, &str, &str),
    sid: Option<String>,
    created_ms: i64,
    due_after_s: i64,
) -> StreamEventItem {
    let now = now_ms();
    let push = stream.delivery_method == DeliveryMethod::Push;
    let shard = keys::due_shard(&jti, app.store.shard_counts());
    StreamEventItem {
        pk: keys::stream_events_pk(&stream.stream_id),
        sk: keys::stream_event_pending(&jti),
        stream_id: stream.stream_id.clone(),
        client_id: stream.client_id.clone(),
        signal_id: signal_id.to_string(),
        txn: txn.to_string(),
        event_type,
        user_id: user_id.to_string(),
        sid,
        set,
        delivery_method: stream.delivery_method,
        status: DeliveryStatus::Pending,
        attempts: 0,
        last_http_status: None,
        last_error: None,
        created_ms,
        updated_ms: now,
        delivered_ms: None,
        gsi2pk: push.then(|| keys::due_signal_gsi(shard)),
        gsi2sk: push.then(|| keys::due_sort(now / 1000 + due_after_s, &jti)),
        jti,
        expires_at: now / 1000 + SignalItem::RETENTION_SECS,
    }
}

/// Queue pushes; a failed send is only logged (each event has its due key: the relay sends
/// it again).
async fn queue_pushes(app: &App, events: &[&StreamEventItem]) {
    let msgs: Vec<SignalMessage> = events.iter().map(|e| SignalMessage::push(e)).collect();
    for (m, why) in send_all(app.queue.as_ref(), &msgs).await.failed {
        tracing::warn!(message = ?m, error = %why, "SSF push enqueue failed; the relay will resend");
    }
}

/// Fan signal record `signal_id` out to the streams it matches. Returns how many events it
/// wrote (0 for a record already fanned out or gone). Nothing per stream is done in the
/// request that ended the session. Round trips: the record (GetItem); the stream registry
/// (Query), the user's e-mail (GetItem, when some stream is live), the subjects and the
/// matched streams (a BatchGetItem each) — for a verification record one GetItem of its
/// stream instead of those four; the events (BatchWriteItem per 25); the record marked
/// done (UpdateItem); the pushes (SQS SendMessageBatch per 10).
pub async fn fan_out(app: &App, signal_id: &str) -> Result<usize, StoreError> {
    let Some(sig) = app.store.get_signal(signal_id).await? else {
        return Ok(0);
    };
    if sig.status != DeliveryStatus::Pending {
        return Ok(0);
    }
    let (targets, email) = targets(app, &sig).await?;
    let mut out: Vec<StreamEventItem> = Vec::new();
    // Per event: push it now (a push stream's event that is not held).
    let mut push_now: Vec<bool> = Vec::new();
    if !targets.is_empty() {
        let keyset = app.keys().await?;
        let evs = events::events_of(&sig);
        for (stream, shape) in &targets {
            for (at, ev) in evs.iter().enumerate() {
                // A verification event is sent whatever the stream asked for (SSF 1.0
                // §8.1.4); the others only as `events_delivered` says.
                let delivered: &[EventType] = match ev {
                    SignalEvent::Verification { .. } => &[EventType::Verification],
                    _ => &stream.events_delivered,
                };
                let route = fanout::route(stream.status, delivered, ev.event_type());
                let due = match route {
                    Route::Deliver => SignalItem::RESEND_AFTER_SECS,
                    Route::Hold => HOLD_RECHECK_SECS,
                    Route::Drop | Route::Skip => continue,
                };
                push_now.push(
                    route == Route::Deliver && stream.delivery_method == DeliveryMethod::Push,
                );
                out.push(stream_event(
                    app,
                    &keyset,
                    (&sig, email.as_deref()),
                    (stream, *shape),
                    (at, ev),
                    due,
                )?);
            }
        }
    }
    app.store.put_stream_events(&out).await?;
    match app.store.finish_signal(&sig.id, out.len() as u32).await {
        Ok(()) | Err(StoreError::ConditionFailed) => {}
        Err(e) => return Err(e),
    }
    // Only events not held are pushed now.
    let pushes: Vec<&StreamEventItem> = out
        .iter()
        .zip(&push_now)
        .filter_map(|(e, now)| now.then_some(e))
        .collect();
    queue_pushes(app, &pushes).await;
    crate::platform::telemetry::metric(
        "SignalEvents",
        ("Kind", sig.kind.as_str()),
        out.len() as f64,
    );
    tracing::info!(signal = %sig.id, kind = %sig.kind, events = out.len(), "ssf signal fanned out");
    Ok(out.len())
}

/// The streams a record goes to, each with the subject shape its SETs take: a
/// verification request's own stream; otherwise every live stream with a subject naming
/// the user (the registry, then key lookups of the user's subject forms).
/// Also the user's e-mail address, when known (for streams that name the user by it).
async fn targets(
    app: &App,
    sig: &SignalItem,
) -> Result<(Vec<(StreamItem, SubjectShape)>, Option<String>), StoreError> {
    if sig.kind == SignalKind::Verification {
        let Some((client, stream_id)) = &sig.stream else {
            return Ok((Vec::new(), None));
        };
        let s = app.store.get_stream(client, stream_id).await?;
        return Ok((
            s.into_iter().map(|s| (s, SubjectShape::User)).collect(),
            None,
        ));
    }
    let index = app.store.stream_index().await?;
    if index.iter().all(|s| s.status == StreamStatus::Disabled) {
        return Ok((Vec::new(), None));
    }
    // A deleted user's e-mail is gone with the user: their streams match by iss_sub.
    let email = app
        .store
        .get_user(&sig.user_id)
        .await?
        .map(|u| u.email)
        .filter(|e| !e.is_empty());
    let forms = fanout::subject_forms(&app.config.issuer, &sig.user_id, email.as_deref());
    let hashes: Vec<String> = forms.iter().map(|(h, _)| h.clone()).collect();
    let matched = app.store.streams_matching(&index, &hashes).await?;
    let which: Vec<(&str, &str)> = matched
        .iter()
        .map(|(s, _)| (s.client_id.as_str(), s.stream_id.as_str()))
        .collect();
    let streams = app.store.get_streams(&which).await?;
    let targets = matched
        .iter()
        .zip(streams)
        .filter_map(|((_, form), s)| s.map(|s| (s, forms[*form].1)))
        .collect();
    Ok((targets, email))
}

/// What a push's answer means (RFC 8935): any 2xx is delivered (§2.2 asks for 202; a
/// receiver that says 200 or 204 has the SET too); 400 is the receiver's refusal of this SET
/// (§2.3, with its `err` and `description`, §2.4) — final, never retried (the same bytes
/// would be refused again; an admin replays it once the cause is fixed); 401, 403 and the
/// other 4xx but 408 and 429 are final too (the receiver refuses the transmitter, its
/// endpoint or the request, which a retry does not change); 408, 429, 3xx (redirects are
/// never followed) and 5xx are retried.
pub fn classify(status: u16, body: &[u8]) -> DeliveryOutcome {
    match status {
        200..=299 => DeliveryOutcome::Delivered(status),
        408 | 429 => DeliveryOutcome::Retry {
            http_status: Some(status),
            error: format!("HTTP {status}"),
        },
        400 => DeliveryOutcome::Rejected {
            http_status: Some(status),
            error: Some(receiver_error(body).unwrap_or_else(|| "HTTP 400".into())),
        },
        s @ 401..=499 => DeliveryOutcome::Rejected {
            http_status: Some(s),
            error: Some(format!("HTTP {s}")),
        },
        s @ 300..=399 => DeliveryOutcome::Retry {
            http_status: Some(s),
            error: format!("HTTP {s} (redirects are not followed)"),
        },
        s => DeliveryOutcome::Retry {
            http_status: Some(s),
            error: format!("HTTP {s}"),
        },
    }
}

/// The receiver's RFC 8935 §2.3 error (`{"err": …, "description": …}`) as one line,
/// `err: description`, capped (it lands in the receipt).
pub fn receiver_error(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let err = v.get("err")?.as_str()?;
    let line = match v.get("description").and_then(Value::as_str) {
        Some(d) => format!("{err}: {d}"),
        None => err.to_string(),
    };
    Some(line.chars().filter(|c| !c.is_control()).take(300).collect())
}

/// POST one SET to a push stream's endpoint.
async fn post_set(app: &App, stream: &StreamItem, set: &str) -> DeliveryOutcome {
    let header = match &stream.authorization_header_sealed {
        None => None,
        Some(sealed) => match app
            .key_protector
            .open_sealed(super::api::AUTHORIZATION_PURPOSE, &stream.stream_id, sealed)
            .await
        {
            Ok(h) => String::from_utf8(h).ok(),
            Err(e) => {
                return DeliveryOutcome::Retry {
                    http_status: None,
                    error: format!("opening the authorization header failed: {e}"),
                }
            }
        },
    };
    let mut headers = vec![("accept", "application/json")];
    if let Some(h) = header.as_deref() {
        headers.push(("authorization", h));
    }
    match app
        .http
        .post_with(
            &stream.endpoint_url,
            SET_MEDIA_TYPE,
            &headers,
            set.to_string(),
        )
        .await
    {
        Ok(answer) => {
            let status = answer.status();
            let body = if status == 400 {
                answer.body().await.unwrap_or_default()
            } else {
                Vec::new()
            };
            classify(status, &body)
        }
        Err(OutboundError::BadHeader) => DeliveryOutcome::Rejected {
            http_status: None,
            error: Some("the stream's authorization header is not a valid header value".into()),
        },
        Err(e) => classify_failure(&e),
    }
}

/// One push attempt of a pending event (`stream_id`, its sort key `event`); `receive_count`
/// is how often the queue handed the message out. Round trips: 1 GetItem (the event) + 1
/// GetItem (the stream) + the POST (+ 1 KMS Decrypt under KMS for a sealed header) + 1
/// BatchWriteItem (a final outcome: receipt in, pending out) or 1 UpdateItem (a retry).
pub async fn push(
    app: &App,
    stream_id: &str,
    event: &str,
    receive_count: u32,
) -> Result<DeliveryOutcome, StoreError> {
    let Some(ev) = app.store.get_stream_event(stream_id, event).await? else {
        // Final already (moved to its receipt) or expired.
        return Ok(DeliveryOutcome::AlreadyFinal(DeliveryStatus::Delivered));
    };
    if ev.status != DeliveryStatus::Pending {
        return Ok(DeliveryOutcome::AlreadyFinal(ev.status));
    }
    let stream = app.store.get_stream(&ev.client_id, stream_id).await?;
    let outcome = match &stream {
        None => DeliveryOutcome::Rejected {
            http_status: None,
            error: Some("the stream was deleted".into()),
        },
        Some(s) if s.status == StreamStatus::Disabled => DeliveryOutcome::Rejected {
            http_status: None,
            error: Some("the stream is disabled: its events are dropped".into()),
        },
        Some(s)
            if s.status == StreamStatus::Paused || s.delivery_method != DeliveryMethod::Push =>
        {
            DeliveryOutcome::Held
        }
        Some(s) => post_set(app, s, &ev.set).await,
    };
    let outcome = match outcome {
        DeliveryOutcome::Retry { http_status, error }
            if receive_count >= app.config.delivery_max_attempts =>
        {
            DeliveryOutcome::Dead { http_status, error }
        }
        o => o,
    };
    record(app, &ev, &outcome, receive_count).await?;
    let label = outcome_label(&outcome);
    crate::platform::telemetry::metric("SignalPushes", ("Outcome", label), 1.0);
    tracing::info!(stream_id = %stream_id, jti = %ev.jti, outcome = label, attempt = receive_count, "ssf push");
    Ok(outcome)
}

fn outcome_label(o: &DeliveryOutcome) -> &'static str {
    match o {
        DeliveryOutcome::Delivered(_) => "delivered",
        DeliveryOutcome::Rejected { .. } => "rejected",
        DeliveryOutcome::Retry { .. } => "retried",
        DeliveryOutcome::Dead { .. } => "dead",
        DeliveryOutcome::AlreadyFinal(_) => "duplicate",
        DeliveryOutcome::Held => "held",
    }
}

/// Record one attempt's outcome on the event.
async fn record(
    app: &App,
    ev: &StreamEventItem,
    outcome: &DeliveryOutcome,
    count: u32,
) -> Result<(), StoreError> {
    let now = now_ms();
    let attempted = StreamEventItem {
        attempts: ev.attempts + 1,
        ..ev.clone()
    };
    let done = |status, http: Option<u16>, error: Option<String>| {
        let mut r = attempted.finished(status, now);
        r.last_http_status = http;
        r.last_error = error;
        r
    };
    let finished = match outcome {
        DeliveryOutcome::Delivered(h) => done(DeliveryStatus::Delivered, Some(*h), None),
        DeliveryOutcome::Rejected { http_status, error } => {
            done(DeliveryStatus::Rejected, *http_status, error.clone())
        }
        DeliveryOutcome::Dead { http_status, error } => {
            done(DeliveryStatus::Dead, *http_status, Some(error.clone()))
        }
        DeliveryOutcome::Retry { http_status, error } => {
            let due = relay_due_after_retry(now / 1000, count);
            return match app
                .store
                .record_stream_event_retry(ev, *http_status, error, due, now)
                .await
            {
                Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
                Err(e) => Err(e),
            };
        }
        DeliveryOutcome::Held => {
            // Looked at again hourly; enabling the stream queues it at once.
            let key = (ev.pk.clone(), ev.sk.clone());
            return match app
                .store
                .reschedule_signal_work(key, &ev.jti, now / 1000 + HOLD_RECHECK_SECS)
                .await
            {
                Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
                Err(e) => Err(e),
            };
        }
        DeliveryOutcome::AlreadyFinal(_) => return Ok(()),
    };
    app.store.finish_stream_events(&[finished]).await
}

/// A stream was enabled again (or became a push stream): queue its held events now.
/// Round trips: 1 Query (its pending events, up to 1,000; the relay finds any others
/// within the hour) + 1 SQS SendMessageBatch per 10.
pub async fn release_held(app: &App, stream: &StreamItem) -> Result<usize, StoreError> {
    if stream.delivery_method != DeliveryMethod::Push || stream.status != StreamStatus::Enabled {
        return Ok(0);
    }
    let (pending, _) = app
        .store
        .pending_stream_events(&stream.stream_id, 1000)
        .await?;
    let refs: Vec<&StreamEventItem> = pending.iter().collect();
    queue_pushes(app, &refs).await;
    Ok(pending.len())
}

/// Record a verification request (SSF 1.0 §8.1.4.2) as a signal record for `stream` and
/// queue its fan-out: the dispatcher signs the verification SET (`state` echoed, the
/// stream as its subject) like every other, so the function serving the request never
/// opens a signing key, and a lost message is found by the relay. Sent whatever
/// `events_delivered` says; held while the stream is paused, dropped while it is
/// disabled. Round trips: 1 PutItem + 1 SQS send.
pub async fn request_verification(
    app: &App,
    stream: &StreamItem,
    state: Option<&str>,
) -> Result<(), StoreError> {
    let sig = SignalItem::verification(&stream.client_id, &stream.stream_id, state, now_ms());
    app.store.put_signal(&sig).await?;
    let msg = SignalMessage::FanOut { signal: sig.id };
    for (_, why) in send_all(app.queue.as_ref(), &[msg]).await.failed {
        tracing::warn!(stream_id = %stream.stream_id, error = %why, "verification enqueue failed; the relay will resend");
    }
    Ok(())
}

/// An RFC 8936 §2.4 poll request, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollRequest {
    /// `maxEvents`: how many SETs to return at most (0: only acknowledge).
    pub max_events: usize,
    /// `returnImmediately`: answer at once even with nothing to return (default false: a
    /// long poll).
    pub return_immediately: bool,
    /// `ack`: the `jti`s the receiver took.
    pub ack: Vec<String>,
    /// `setErrs`: the `jti`s the receiver refused, with its `err` and `description`.
    pub set_errs: Vec<(String, String)>,
}

/// Parse a poll body (RFC 8936 §2.4). An empty body is a default poll. Members of the wrong
/// type are refused (400); unknown members are ignored.
pub fn parse_poll(body: &str) -> Result<PollRequest, String> {
    let obj: Map<String, Value> = if body.trim().is_empty() {
        Map::new()
    } else {
        match serde_json::from_str::<Value>(body) {
            Ok(Value::Object(o)) => o,
            _ => return Err("The body must be a JSON object.".into()),
        }
    };
    let max_events = match obj.get("maxEvents") {
        None => MAX_POLL_EVENTS,
        Some(v) => match v.as_u64() {
            Some(n) => (n as usize).min(MAX_POLL_EVENTS),
            None => return Err("maxEvents must be a non-negative integer.".into()),
        },
    };
    let return_immediately = match obj.get("returnImmediately") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("returnImmediately must be a boolean.".into()),
    };
    let ack = match obj.get("ack") {
        None => Vec::new(),
        Some(Value::Array(a)) if a.len() <= 1000 => a
            .iter()
            .map(|j| j.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or("ack must be an array of strings.")?,
        Some(_) => return Err("ack must be an array of at most 1000 strings.".into()),
    };
    let set_errs = match obj.get("setErrs") {
        None => Vec::new(),
        Some(Value::Object(m)) if m.len() <= 1000 => m
            .iter()
            .map(|(jti, e)| {
                let err = e.get("err").and_then(Value::as_str)?;
                let line = match e.get("description").and_then(Value::as_str) {
                    Some(d) => format!("{err}: {d}"),
                    None => err.to_string(),
                };
                Some((jti.clone(), line.chars().take(300).collect()))
            })
            .collect::<Option<Vec<_>>>()
            .ok_or("each setErrs member must be an object with a string err.")?,
        Some(_) => return Err("setErrs must be an object.".into()),
    };
    Ok(PollRequest {
        max_events,
        return_immediately,
        ack,
        set_errs,
    })
}

/// What a poll answers: `sets` (`jti` → SET) and `moreAvailable`.
#[derive(Debug, Clone, PartialEq)]
pub struct PollAnswer {
    /// The SETs returned, oldest first.
    pub sets: Vec<(String, String)>,
    /// Whether more pending SETs wait.
    pub more_available: bool,
}

impl PollAnswer {
    /// The RFC 8936 §2.5 response body.
    pub fn json(&self) -> Value {
        let sets: Map<String, Value> = self
            .sets
            .iter()
            .map(|(j, s)| (j.clone(), json!(s)))
            .collect();
        json!({"sets": sets, "moreAvailable": self.more_available})
    }
}

/// Serve one poll of `stream` (its owner checked by the caller): record acknowledgements
/// (`delivered`) and errors (`rejected`, with the receiver's `err`), then return pending
/// SETs — none while the stream is paused (held) or disabled. Round trips: a BatchGetItem
/// and a BatchWriteItem per 12 acknowledged or refused SETs (none without), and 1 Query per
/// look (one for a short poll; a long poll looks again every 250 ms, up to
/// [`LONG_POLL_WAIT`]).
pub async fn poll(
    app: &App,
    stream: &StreamItem,
    req: &PollRequest,
) -> Result<PollAnswer, StoreError> {
    let now = now_ms();
    let mut named: Vec<(&str, DeliveryStatus, Option<&str>)> = req
        .ack
        .iter()
        .map(|j| (j.as_str(), DeliveryStatus::Delivered, None))
        .collect();
    named.extend(
        req.set_errs
            .iter()
            .map(|(j, e)| (j.as_str(), DeliveryStatus::Rejected, Some(e.as_str()))),
    );
    // Only ids Warden could have issued, each once (a batch naming a key twice is refused
    // by DynamoDB): the first mention wins.
    let mut seen = std::collections::HashSet::new();
    named.retain(|(j, _, _)| plausible_jti(j) && seen.insert(*j));
    if !named.is_empty() {
        let jtis: Vec<&str> = named.iter().map(|(j, _, _)| *j).collect();
        let found = app
            .store
            .pending_stream_events_by_jti(&stream.stream_id, &jtis)
            .await?;
        let done: Vec<StreamEventItem> = named
            .iter()
            .zip(found)
            .filter_map(|((_, status, err), ev)| {
                let mut r = ev?.finished(*status, now);
                r.last_error = err.map(str::to_string);
                Some(r)
            })
            .collect();
        app.store.finish_stream_events(&done).await?;
    }
    if req.max_events == 0 || stream.status != StreamStatus::Enabled {
        return Ok(PollAnswer {
            sets: Vec::new(),
            more_available: false,
        });
    }
    let until = tokio::time::Instant::now() + LONG_POLL_WAIT;
    loop {
        let (pending, more) = app
            .store
            .pending_stream_events(&stream.stream_id, req.max_events)
            .await?;
        if !pending.is_empty() || req.return_immediately || tokio::time::Instant::now() >= until {
            return Ok(PollAnswer {
                sets: pending.into_iter().map(|e| (e.jti, e.set)).collect(),
                more_available: more,
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Re-open a `dead` or `rejected` event for a replay (Admin API) and queue it (push) or
/// leave it for the next poll. `ConditionFailed` (as the Admin API's 409) if it is not
/// replayable; `None` if there is no such receipt.
pub async fn replay(app: &App, stream_id: &str, jti: &str) -> Result<Option<()>, StoreError> {
    if !plausible_jti(jti) {
        return Ok(None);
    }
    let Some(r) = app
        .store
        .get_stream_event(stream_id, &keys::stream_event_receipt(jti))
        .await?
    else {
        return Ok(None);
    };
    if !matches!(r.status, DeliveryStatus::Dead | DeliveryStatus::Rejected) {
        return Err(StoreError::ConditionFailed);
    }
    let now = now_ms();
    let shard = keys::due_shard(jti, app.store.shard_counts());
    let reopened = r.reopened(shard, now / 1000 + SignalItem::RESEND_AFTER_SECS, now);
    app.store.reopen_stream_event(&reopened).await?;
    if reopened.delivery_method == DeliveryMethod::Push {
        queue_pushes(app, &[&reopened]).await;
    }
    Ok(Some(()))
}

/// The Admin API's view of one event (never the SET itself: receipts, not content).
pub fn event_json(e: &StreamEventItem) -> Value {
    json!({
        "jti": e.jti,
        "eventType": e.event_type.as_str(),
        "txn": e.txn,
        "userId": (!e.user_id.is_empty()).then_some(&e.user_id),
        "sessionId": e.sid,
        "deliveryMethod": e.delivery_method.as_str(),
        "status": e.status.as_str(),
        "attempts": e.attempts,
        "lastHttpStatus": e.last_http_status,
        "lastError": e.last_error,
        "createdAt": e.created_ms.to_string(),
        "updatedAt": e.updated_ms.to_string(),
        "deliveredAt": e.delivered_ms.map(|t| t.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jtis_sort_by_time_and_repeat_for_the_same_event() {
        let a = event_jti(1_700_000_000_000, "sig#st#0");
        assert_eq!(a, event_jti(1_700_000_000_000, "sig#st#0"));
        assert_ne!(a, event_jti(1_700_000_000_000, "sig#st#1"));
        assert!(a < event_jti(1_700_000_000_001, "sig#st#0"));
        assert!(event_jti(999, "x") < event_jti(1_700_000_000_000, "x"));
        assert!(plausible_jti(&a), "{a}");
        for bad in [
            "",
            "x",
            "1700000000000.zz",
            &format!("{a}0"),
            "170000000000a.0123456789abcdef01234567",
        ] {
            assert!(!plausible_jti(bad), "{bad}");
        }
    }

    #[test]
    fn push_answers_are_classified_per_rfc_8935() {
        assert_eq!(classify(202, b""), DeliveryOutcome::Delivered(202));
        assert_eq!(classify(200, b""), DeliveryOutcome::Delivered(200));
        assert_eq!(
            classify(400, br#"{"err":"invalid_audience","description":"not us"}"#),
            DeliveryOutcome::Rejected {
                http_status: Some(400),
                error: Some("invalid_audience: not us".into())
            }
        );
        assert_eq!(
            classify(400, b"<html>"),
            DeliveryOutcome::Rejected {
                http_status: Some(400),
                error: Some("HTTP 400".into())
            }
        );
        for final_ in [401, 403, 404, 413] {
            assert!(
                matches!(classify(final_, b""), DeliveryOutcome::Rejected { .. }),
                "{final_}"
            );
        }
        for retry in [302, 408, 429, 500, 503] {
            assert!(
                matches!(classify(retry, b""), DeliveryOutcome::Retry { .. }),
                "{retry}"
            );
        }
    }

    #[test]
    fn a_receivers_error_is_one_capped_line() {
        assert_eq!(
            receiver_error(br#"{"err":"invalid_key"}"#).as_deref(),
            Some("invalid_key")
        );
        let long = format!(r#"{{"err":"x","description":"{}\n"}}"#, "d".repeat(500));
        assert_eq!(receiver_error(long.as_bytes()).unwrap().len(), 300);
        assert_eq!(receiver_error(br#"{"error":"x"}"#), None);
    }

    #[test]
    fn poll_requests_parse_per_rfc_8936() {
        let p = parse_poll("").unwrap();
        assert_eq!(p.max_events, MAX_POLL_EVENTS);
        assert!(!p.return_immediately);
        let p = parse_poll(
            r#"{"maxEvents":5,"returnImmediately":true,"ack":["a"],
                "setErrs":{"b":{"err":"invalid_request","description":"bad"}}}"#,
        )
        .unwrap();
        assert_eq!(p.max_events, 5);
        assert!(p.return_immediately);
        assert_eq!(p.ack, vec!["a".to_string()]);
        assert_eq!(
            p.set_errs,
            vec![("b".into(), "invalid_request: bad".into())]
        );
        assert_eq!(
            parse_poll(r#"{"maxEvents":100000}"#).unwrap().max_events,
            MAX_POLL_EVENTS
        );
        for bad in [
            "[]",
            "nope",
            r#"{"maxEvents":-1}"#,
            r#"{"maxEvents":"3"}"#,
            r#"{"returnImmediately":"yes"}"#,
            r#"{"ack":"a"}"#,
            r#"{"ack":[1]}"#,
            r#"{"setErrs":{"b":{"description":"no err"}}}"#,
            r#"{"setErrs":[]}"#,
        ] {
            assert!(parse_poll(bad).is_err(), "{bad}");
        }
    }
}
