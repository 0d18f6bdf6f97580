//! Back-channel logout: the logout token, one delivery attempt, and the relay's sweep.

use crate::app::App;
use crate::outbound::client::OutboundError;
use crate::outbound::queue::DeliveryMessage;
use crate::platform::time::{now_ms, now_s};
use crate::session::RELAY_AFTER_SECS;
use crate::store::schema::{ClientItem, DeliveryStatus};
use crate::store::DeliveryOutcome;
use crate::store::StoreError;
use serde_json::{json, Value};
use std::time::Duration;

/// The back-channel logout event URI (BCL §2.4).
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Logout tokens live two minutes (`exp` = `iat` + 120).
pub const LOGOUT_TOKEN_TTL: i64 = 120;

/// Logout token claims (BCL 1.0 with errata 1): iss, aud, iat, exp, jti, events, sub, sid;
/// never a nonce.
pub fn logout_token_claims(issuer: &str, client_id: &str, sub: &str, sid: &str, iat: i64) -> Value {
    json!({
        "iss": issuer,
        "aud": client_id,
        "iat": iat,
        "exp": iat + LOGOUT_TOKEN_TTL,
        "jti": crate::platform::crypto::random_id(),
        "events": { BACKCHANNEL_EVENT: {} },
        "sub": sub,
        "sid": sid,
    })
}

/// The wait after a delivery's first failed attempt. The retry schedule
/// ([`retry_delay`]) doubles it after each failure up to [`RETRY_CAP`]; the local stack
/// scales the whole schedule so that its `retry_base` takes this place.
pub const RETRY_FIRST: Duration = Duration::from_secs(2);
/// The longest wait between two attempts (SQS allows a visibility timeout of up to 12 h).
pub const RETRY_CAP: Duration = Duration::from_secs(3600);
/// How far each wait is spread either way, as a fraction of it.
pub const RETRY_JITTER: f64 = 0.1;

/// The retry schedule: how long to wait after the `failed`-th failed attempt (1 after the
/// first; 0 counts as 1) before the next one — `min(2^failed s, 1 h)` × (1 + 10 % ×
/// `spread`), `spread` ∈ [-1, 1] (clamped; a random draw in production, so that the
/// deliveries of one outage do not all come back in the same second). Un-spread: 2 s, 4 s,
/// … 2048 s (34 min) after attempts 1–11, then 1 h after each later one; with the default
/// [`crate::config::DEFAULT_DELIVERY_MAX_ATTEMPTS`] (35) an app that is down for about a
/// day still hears of the logout ([`retry_window`]).
pub fn retry_delay(failed: u32, spread: f64) -> Duration {
    let nominal = 1u64
        .checked_shl(failed.max(1))
        .unwrap_or(u64::MAX)
        .min(RETRY_CAP.as_secs());
    let spread = if spread.is_nan() {
        0.0
    } else {
        spread.clamp(-1.0, 1.0)
    };
    Duration::from_secs(nominal).mul_f64(1.0 + RETRY_JITTER * spread)
}

/// How long a delivery keeps being retried when it has at most `max_attempts` attempts: the
/// sum of the un-spread waits between them (attempts 1 … max − 1 fail and wait; the last
/// does not); the spread moves it by at most ±10 %. For 35 attempts: 2 + 4 + … + 2048 s
/// (4094 s) + 23 × 3600 s = 86 894 s ≈ 24.1 h.
pub fn retry_window(max_attempts: u32) -> Duration {
    (1..max_attempts).map(|n| retry_delay(n, 0.0)).sum()
}

/// How long SQS should wait before the next receive after the `receive_count`-th failed
/// receive: [`retry_delay`] with a random spread.
pub fn retry_backoff(receive_count: u32) -> Duration {
    retry_delay(receive_count, random_spread())
}

/// When the relay should re-send a delivery whose `failed`-th attempt failed at `now_s`
/// and that is still pending: after the longest wait the schedule may draw (the queue
/// hands the message out again by then) plus [`RELAY_AFTER_SECS`], so the relay only
/// re-drives a delivery whose message was lost.
pub fn relay_due_after_retry(now_s: i64, failed: u32) -> i64 {
    let wait = retry_delay(failed, 1.0).as_secs_f64().ceil() as i64;
    now_s + wait + RELAY_AFTER_SECS
}

/// A uniform draw in [-1, 1] from the OS generator.
fn random_spread() -> f64 {
    let x = u32::from_le_bytes(crate::platform::crypto::random_bytes::<4>());
    f64::from(x) / f64::from(u32::MAX) * 2.0 - 1.0
}

/// Classify an HTTP status from the RP (BCL §2.8): 200/204 success, 400 final, the rest
/// retried (a 3xx too: redirects are never followed, BCL §2.5).
pub fn classify(status: u16) -> DeliveryOutcome {
    match status {
        200 | 204 => DeliveryOutcome::Delivered(status),
        400 => DeliveryOutcome::Rejected {
            http_status: Some(status),
            error: None,
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

/// What a POST that got no answer means: refused by the outbound address policy → final
/// `rejected` with the refusal as its error (nothing was sent; an admin may replay it once
/// the URI or `WARDEN_OUTBOUND_ALLOW` changed); anything else is retried.
pub fn classify_failure(e: &OutboundError) -> DeliveryOutcome {
    match e {
        OutboundError::Refused(r) => DeliveryOutcome::Rejected {
            http_status: None,
            error: Some(r.to_string()),
        },
        other => DeliveryOutcome::Retry {
            http_status: None,
            error: other.to_string(),
        },
    }
}

/// POST one logout token to the client's back-channel URI through the outbound client
/// ([`crate::outbound::client`]: its address policy, no redirects, time-outs). Only the
/// status is read.
pub async fn post_logout_token(app: &App, uri: &str, token: &str) -> DeliveryOutcome {
    let body = format!(
        "logout_token={}",
        url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
    );
    match app
        .http
        .post(uri, "application/x-www-form-urlencoded", body)
        .await
    {
        Ok(answer) => classify(answer.status()),
        Err(e) => classify_failure(&e),
    }
}

/// One delivery attempt for a queued message: build and sign the logout token, POST it,
/// record the outcome. `receive_count` is how often the queue has handed the message out
/// (1 on the first try); at `max_attempts` a retryable failure becomes `dead`.
/// Round trips: 1 UpdateItem (plus a cached client and key lookup).
pub async fn deliver(
    app: &App,
    msg: &DeliveryMessage,
    receive_count: u32,
) -> Result<DeliveryOutcome, StoreError> {
    deliver_batch(app, &[(msg, receive_count)], 1)
        .await
        .pop()
        .unwrap_or(Err(StoreError::Backend("no outcome".into())))
}

/// [`deliver`] for a batch of messages (an SQS batch): the POSTs run concurrently (at
/// most `concurrency` at once), and the outcomes are recorded in waves: those finished
/// within [`RECORD_WAVE`] of each other in 1 round trip (so 1 for a batch whose apps all
/// answer promptly; one more per app that answers later than the others)
/// ([`crate::store::Store::record_deliveries`]: one TransactWriteItems, or UpdateItems one
/// by one for a batch of one or when a duplicate message makes the transaction fail).
/// Messages that may be duplicates — handed out more than once, or re-sent by the relay —
/// are first checked against their deliveries (1 BatchGetItem for all of them; none on a
/// first, normal receive), and those already final are not posted again.
/// Returns one result per message, in order.
pub async fn deliver_batch(
    app: &App,
    msgs: &[(&DeliveryMessage, u32)],
    concurrency: usize,
) -> Vec<Result<DeliveryOutcome, StoreError>> {
    use futures::stream::{self, StreamExt};
    let finals = already_final(app, msgs).await;
    let futs: Vec<_> = msgs
        .iter()
        .zip(finals)
        .enumerate()
        .map(|(i, (&(msg, count), fin))| async move {
            let outcome = match fin {
                Some(status) => Ok(DeliveryOutcome::AlreadyFinal(status)),
                None => attempt(app, msg, count).await,
            };
            (i, outcome)
        })
        .collect();
    // Outcomes are recorded in waves: everything that finished within RECORD_WAVE of the
    // wave's first outcome together, so a fast app's receipt is not held back by a slow app
    // of the same batch (end_session waits on receipts; issue 20). With every app
    // answering promptly this is the one transaction it always was.
    let mut running = stream::iter(futs).buffer_unordered(concurrency.max(1));
    let mut attempts: Vec<Option<Result<DeliveryOutcome, StoreError>>> =
        msgs.iter().map(|_| None).collect();
    let mut failed: Vec<Option<StoreError>> = msgs.iter().map(|_| None).collect();
    while let Some((i, a)) = running.next().await {
        let mut wave = vec![i];
        attempts[i] = Some(a);
        let until = tokio::time::Instant::now() + RECORD_WAVE;
        while let Ok(Some((j, b))) = tokio::time::timeout_at(until, running.next()).await {
            wave.push(j);
            attempts[j] = Some(b);
        }
        record_wave(app, msgs, &attempts, &wave, &mut failed).await;
    }
    let attempts: Vec<Result<DeliveryOutcome, StoreError>> = attempts
        .into_iter()
        .map(|a| a.unwrap_or(Err(StoreError::Backend("no outcome".into()))))
        .collect();
    attempts
        .into_iter()
        .zip(failed)
        .zip(msgs)
        .map(|((a, f), (msg, count))| {
            let outcome = a?;
            if let Some(e) = f {
                return Err(e);
            }
            let label = match &outcome {
                DeliveryOutcome::Delivered(_) => "delivered",
                DeliveryOutcome::Rejected { .. } => "rejected",
                DeliveryOutcome::Retry { .. } => "retried",
                DeliveryOutcome::Dead { .. } => "dead",
                DeliveryOutcome::AlreadyFinal(_) => "duplicate",
                DeliveryOutcome::Held => "held",
            };
            crate::platform::telemetry::metric("Deliveries", ("Outcome", label), 1.0);
            tracing::info!(sid = %msg.sid, client_id = %msg.client_id, outcome = label, attempt = count, "back-channel logout");
            Ok(outcome)
        })
        .collect()
}

/// How long after a wave's first outcome [`deliver_batch`] waits for more before it records
/// them together.
pub const RECORD_WAVE: std::time::Duration = std::time::Duration::from_millis(100);

/// Record the outcomes of one wave (`wave`: indices into `msgs` and `attempts`) in 1 round
/// trip ([`crate::store::Store::record_deliveries`]); a store error lands in `failed`.
async fn record_wave(
    app: &App,
    msgs: &[(&DeliveryMessage, u32)],
    attempts: &[Option<Result<DeliveryOutcome, StoreError>>],
    wave: &[usize],
    failed: &mut [Option<StoreError>],
) {
    let now = now_ms();
    let mut records = Vec::new();
    let mut which = Vec::new();
    for &i in wave {
        let (msg, count) = msgs[i];
        if let Some(Ok(outcome)) = &attempts[i] {
            if matches!(
                outcome,
                DeliveryOutcome::AlreadyFinal(_) | DeliveryOutcome::Held
            ) {
                continue;
            }
            records.push(crate::store::DeliveryRecord {
                sid: &msg.sid,
                client_id: &msg.client_id,
                outcome,
                retry_due_s: relay_due_after_retry(now / 1000, count),
            });
            which.push(i);
        }
    }
    if records.is_empty() {
        return;
    }
    let recorded = app.store.record_deliveries(&records, now).await;
    for (i, r) in which.into_iter().zip(recorded) {
        match r {
            // Already final (a duplicate message): nothing to record.
            Ok(()) | Err(StoreError::ConditionFailed) => {}
            Err(e) => failed[i] = Some(e),
        }
    }
}

/// For each message: the final status of its delivery when it may be a duplicate (received
/// before, or re-sent by the relay) and its delivery is already final; `None` otherwise —
/// also when the check itself fails, since posting twice is safer than not at all (RPs
/// must accept a repeated logout token). 1 BatchGetItem when any message needs the check.
async fn already_final(app: &App, msgs: &[(&DeliveryMessage, u32)]) -> Vec<Option<DeliveryStatus>> {
    let check: Vec<usize> = (0..msgs.len())
        .filter(|&i| msgs[i].1 > 1 || msgs[i].0.resent)
        .collect();
    let mut out: Vec<Option<DeliveryStatus>> = vec![None; msgs.len()];
    if check.is_empty() {
        return out;
    }
    let which: Vec<(&str, &str)> = check
        .iter()
        .map(|&i| (msgs[i].0.sid.as_str(), msgs[i].0.client_id.as_str()))
        .collect();
    match app.store.get_deliveries(&which).await {
        Ok(found) => {
            for (i, d) in check.into_iter().zip(found) {
                if let Some(d) = d.filter(|d| d.status != DeliveryStatus::Pending) {
                    out[i] = Some(d.status);
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not check redelivered messages; posting them");
        }
    }
    out
}

/// Sign and POST one logout token; a retryable failure at the last attempt is `dead`.
async fn attempt(
    app: &App,
    msg: &DeliveryMessage,
    receive_count: u32,
) -> Result<DeliveryOutcome, StoreError> {
    let client: Option<std::sync::Arc<ClientItem>> = app.client(&msg.client_id).await?;
    let outcome = match client
        .as_ref()
        .and_then(|c| c.backchannel_logout_uri.clone())
    {
        None => DeliveryOutcome::Rejected {
            http_status: None,
            error: Some("the client has no back-channel logout URI".into()),
        },
        Some(uri) => {
            let keys = app.keys().await?;
            let claims = logout_token_claims(
                &app.config.issuer,
                &msg.client_id,
                &msg.user_id,
                &msg.sid,
                now_s(),
            );
            match keys.sign("logout+jwt", &claims) {
                Ok(token) => post_logout_token(app, &uri, &token).await,
                Err(e) => DeliveryOutcome::Retry {
                    http_status: None,
                    error: format!("signing failed: {e}"),
                },
            }
        }
    };
    Ok(match outcome {
        DeliveryOutcome::Retry { http_status, error }
            if receive_count >= app.config.delivery_max_attempts =>
        {
            DeliveryOutcome::Dead { http_status, error }
        }
        o => o,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_follow_the_spec() {
        let c = logout_token_claims("https://op", "rp", "u1", "s1", 1000);
        assert_eq!(c["exp"], 1120);
        assert!(c.get("nonce").is_none());
        assert_eq!(c["events"].as_object().map(|o| o.len()), Some(1));
        assert_eq!(c["events"][BACKCHANNEL_EVENT], json!({}));
    }

    #[test]
    fn classification() {
        assert_eq!(classify(200), DeliveryOutcome::Delivered(200));
        assert_eq!(classify(204), DeliveryOutcome::Delivered(204));
        assert_eq!(
            classify(400),
            DeliveryOutcome::Rejected {
                http_status: Some(400),
                error: None
            }
        );
        assert!(matches!(classify(503), DeliveryOutcome::Retry { .. }));
        assert!(matches!(classify(429), DeliveryOutcome::Retry { .. }));
        assert_eq!(
            classify(302),
            DeliveryOutcome::Retry {
                http_status: Some(302),
                error: "HTTP 302 (redirects are not followed)".into()
            }
        );
    }

    #[test]
    fn a_policy_refusal_is_final_with_its_reason_and_other_failures_are_retried() {
        use crate::outbound::policy::AddressPolicy;
        let refusal = AddressPolicy::default()
            .check_ip("169.254.169.254".parse().unwrap())
            .unwrap_err();
        assert_eq!(
            classify_failure(&OutboundError::Refused(refusal)),
            DeliveryOutcome::Rejected {
                http_status: None,
                error: Some(
                    "address refused by policy: 169.254.169.254 is link-local (metadata)".into()
                ),
            }
        );
        for (e, text) in [
            (OutboundError::Timeout, "timeout"),
            (OutboundError::Connect, "connection failed"),
            (OutboundError::Failed, "request failed"),
        ] {
            assert_eq!(
                classify_failure(&e),
                DeliveryOutcome::Retry {
                    http_status: None,
                    error: text.into()
                }
            );
        }
    }

    #[test]
    fn retries_double_from_two_seconds_to_a_one_hour_cap() {
        let secs = |n| retry_delay(n, 0.0).as_secs();
        assert_eq!(
            secs(0),
            2,
            "a receive count of 0 counts as the first failure"
        );
        assert_eq!(secs(1), 2);
        assert_eq!(secs(2), 4);
        assert_eq!(secs(11), 2048);
        assert_eq!(secs(12), 3600, "2^12 = 4096 s is capped");
        assert_eq!(secs(35), 3600);
        assert_eq!(secs(64), 3600, "no overflow past 2^63");
        assert_eq!(secs(u32::MAX), 3600);
        assert_eq!(retry_delay(1, 0.0), RETRY_FIRST);
    }

    #[test]
    fn the_spread_stays_within_ten_percent_either_way() {
        for n in [1, 2, 5, 11, 12, 34, 1000] {
            let nominal = retry_delay(n, 0.0).as_secs_f64();
            let lo = retry_delay(n, -1.0).as_secs_f64();
            let hi = retry_delay(n, 1.0).as_secs_f64();
            assert!((lo - nominal * 0.9).abs() < 1e-6, "{n}: {lo}");
            assert!((hi - nominal * 1.1).abs() < 1e-6, "{n}: {hi}");
            // Out-of-range and NaN spreads are clamped, never a negative or huge wait.
            assert_eq!(retry_delay(n, -7.0).as_secs_f64(), lo);
            assert_eq!(retry_delay(n, 7.0).as_secs_f64(), hi);
            assert_eq!(retry_delay(n, f64::NAN).as_secs_f64(), nominal);
            for _ in 0..200 {
                let d = retry_backoff(n).as_secs_f64();
                assert!(
                    d >= lo - 1e-9 && d <= hi + 1e-9,
                    "{n}: {d} outside [{lo}, {hi}]"
                );
            }
        }
        // Below SQS's 12 h visibility limit even at the top of the spread.
        assert!(retry_delay(u32::MAX, 1.0) < Duration::from_secs(12 * 3600));
    }

    #[test]
    fn the_default_attempts_cover_a_day() {
        let max = crate::config::DEFAULT_DELIVERY_MAX_ATTEMPTS;
        assert_eq!(max, 35);
        // 2 + 4 + … + 2048 = 4094 s, then 23 waits of an hour (after attempts 12 … 34).
        assert_eq!(retry_window(max).as_secs(), 4094 + 23 * 3600);
        assert!(retry_window(max) >= Duration::from_secs(24 * 3600));
        assert!(
            retry_window(max - 1) < Duration::from_secs(24 * 3600),
            "35 is the fewest attempts that cover a day"
        );
        // Even at the bottom of the spread, far beyond the old 30 s (5 attempts).
        assert!(retry_window(max).mul_f64(0.9) > Duration::from_secs(21 * 3600));
        assert_eq!(retry_window(5).as_secs(), 30);
        assert_eq!(retry_window(1), Duration::ZERO);
    }

    #[test]
    fn the_relay_waits_past_the_longest_retry() {
        for n in [1, 3, 12, 35] {
            let due = relay_due_after_retry(1_000, n);
            let longest = retry_delay(n, 1.0).as_secs_f64();
            assert!(
                due as f64 >= 1_000.0 + longest + RELAY_AFTER_SECS as f64,
                "{n}"
            );
            assert!(due <= 1_000 + longest as i64 + 1 + RELAY_AFTER_SECS, "{n}");
        }
    }
}
