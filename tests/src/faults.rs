//! A fault-injecting HTTP proxy for DynamoDB: it sits between the SDK and a real engine
//! (dynoxide), forwards every request unchanged, and answers chosen requests itself with a
//! DynamoDB error instead — throttling (`ThrottlingException`,
//! `ProvisionedThroughputExceededException`, both HTTP 400 with the awsJson 1.0 error body)
//! or a server error (HTTP 500 `InternalServerError`) — or holds it past the client's
//! timeout, before forwarding (a stalled connection) or after (an answer lost on the way back,
//! the work done). Rules match on the operation (the
//! `X-Amz-Target` header, e.g. `DynamoDB_20120810.TransactWriteItems` → `TransactWriteItems`)
//! and fire for the next N matching requests, for every one, or for a fraction of them
//! (deterministic pseudo-random sequence, so a failing run can be replayed).
//!
//! The SDK retries throttling and 5xx by itself (standard retry mode: 3 attempts with
//! jittered exponential backoff), so "the next 2 requests" is a transient fault the caller
//! never sees, and "every request" is a persistent one.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use std::sync::{Arc, Mutex};

/// What the proxy answers instead of forwarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 400 `ThrottlingException` (retryable throttling error).
    Throttling,
    /// 400 `ProvisionedThroughputExceededException` (retryable throttling error).
    ProvisionedThroughputExceeded,
    /// 500 `InternalServerError` (retryable transient error).
    InternalServerError,
    /// 400 `TransactionCanceledException` with a `TransactionConflict` reason (another
    /// transaction was writing one of the items; nothing was applied).
    TransactionConflict,
    /// The request is held and never forwarded (a stalled connection): the SDK's attempt
    /// timeout fires; nothing was applied.
    Stall,
    /// The request is forwarded and applied, but the answer is held back (lost): the SDK's
    /// attempt timeout fires although the engine did the work.
    LoseResponse,
}

/// How long [`Fault::Stall`] and [`Fault::LoseResponse`] hold a request (far past any
/// attempt timeout; the SDK has given up by then).
const HOLD: std::time::Duration = std::time::Duration::from_secs(30);

impl Fault {
    fn response(self) -> (StatusCode, String) {
        let (status, ty, msg) = match self {
            Fault::Stall | Fault::LoseResponse => (
                StatusCode::SERVICE_UNAVAILABLE,
                "com.amazonaws.dynamodb.v20120810#ServiceUnavailable",
                "held past the client's timeout",
            ),
            Fault::Throttling => (
                StatusCode::BAD_REQUEST,
                "com.amazon.coral.availability#ThrottlingException",
                "Rate of requests exceeds the allowed throughput.",
            ),
            Fault::ProvisionedThroughputExceeded => (
                StatusCode::BAD_REQUEST,
                "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded.",
            ),
            Fault::InternalServerError => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "com.amazonaws.dynamodb.v20120810#InternalServerError",
                "Internal server error",
            ),
            Fault::TransactionConflict => {
                return (
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({
                        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                        "message": "Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]",
                        "CancellationReasons": [
                            {"Code": "None"},
                            {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
                        ]
                    })
                    .to_string(),
                )
            }
        };
        (
            status,
            serde_json::json!({"__type": ty, "message": msg}).to_string(),
        )
    }
}

#[derive(Debug, Clone)]
struct Rule {
    /// Operation name (`TransactWriteItems`); `None` matches every operation.
    op: Option<String>,
    /// How many more times it fires; `None` = no limit.
    remaining: Option<usize>,
    /// Probability that a matching request is hit (1.0 = every one).
    fraction: f64,
    fault: Fault,
}

#[derive(Debug, Default)]
struct Inner {
    rules: Vec<Rule>,
    /// Every request seen: its operation, the fault injected (None when forwarded), and
    /// whether it carried a `ClientRequestToken`.
    log: Vec<(String, Option<Fault>, bool)>,
    rng: u64,
}

impl Inner {
    fn next_f64(&mut self) -> f64 {
        // xorshift64*: deterministic, good enough for spreading faults.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Decide whether this request gets a fault (and consume the rule's budget).
    fn decide(&mut self, op: &str) -> Option<Fault> {
        let idx = self.rules.iter().position(|r| {
            r.op.as_deref().is_none_or(|o| o == op) && r.remaining.is_none_or(|n| n > 0)
        })?;
        let fraction = self.rules[idx].fraction;
        if fraction < 1.0 && self.next_f64() >= fraction {
            return None;
        }
        let r = &mut self.rules[idx];
        if let Some(n) = r.remaining.as_mut() {
            *n -= 1;
        }
        Some(r.fault)
    }
}

/// The running proxy. Cheap to clone; stops when the test's runtime ends.
#[derive(Clone)]
pub struct FaultProxy {
    pub addr: std::net::SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

struct Shared {
    upstream: String,
    http: reqwest::Client,
    inner: Arc<Mutex<Inner>>,
    /// Forward one request at a time ([`FaultProxy::start_serialized`]).
    one_at_a_time: Option<tokio::sync::Mutex<()>>,
}

/// `X-Amz-Target: DynamoDB_20120810.GetItem` → `GetItem`.
fn operation(headers: &HeaderMap) -> String {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.rsplit('.').next().unwrap_or(t).to_string())
        .unwrap_or_default()
}

async fn forward(
    State(sh): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = operation(&headers);
    let fault = sh.inner.lock().map(|mut i| i.decide(&op)).unwrap_or(None);
    let tokened = body
        .windows(b"\"ClientRequestToken\"".len())
        .any(|w| w == b"\"ClientRequestToken\"");
    if let Ok(mut i) = sh.inner.lock() {
        i.log.push((op, fault, tokened));
    }
    if fault == Some(Fault::Stall) {
        tokio::time::sleep(HOLD).await;
    }
    if let Some(f) = fault.filter(|f| *f != Fault::LoseResponse) {
        let (status, body) = f.response();
        return Response::builder()
            .status(status)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amzn-requestid", "fault-proxy")
            .body(Body::from(body))
            .unwrap_or_default();
    }
    let _turn = match &sh.one_at_a_time {
        Some(m) => Some(m.lock().await),
        None => None,
    };
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req = sh.http.request(method, format!("{}{}", sh.upstream, path));
    for (k, v) in headers.iter() {
        let name = k.as_str();
        if matches!(
            name,
            "host" | "content-length" | "connection" | "transfer-encoding"
        ) {
            continue;
        }
        req = req.header(k, v);
    }
    let resp = match req.body(body).send().await {
        Ok(r) => r,
        Err(_) => {
            return Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .body(Body::empty())
                .unwrap_or_default()
        }
    };
    let mut out = Response::builder().status(resp.status());
    for (k, v) in resp.headers().iter() {
        if matches!(
            k.as_str(),
            "content-length" | "connection" | "transfer-encoding"
        ) {
            continue;
        }
        out = out.header(k, v);
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    if fault == Some(Fault::LoseResponse) {
        tokio::time::sleep(HOLD).await;
    }
    out.body(Body::from(bytes)).unwrap_or_default()
}

impl FaultProxy {
    /// Start a proxy on an ephemeral loopback port forwarding to `upstream`
    /// (`http://127.0.0.1:<port>` of the engine).
    pub async fn start(upstream: &str) -> FaultProxy {
        Self::start_with(upstream, false).await
    }

    /// [`FaultProxy::start`], forwarding one request at a time. moto server handles requests
    /// on threads and checks a transaction's conditions without a lock, so two concurrent
    /// conditional writes can both pass a condition only one should; DynamoDB (and dynoxide)
    /// apply each atomically. A test of what concurrent conditional writes let through puts
    /// this in front of moto, so that it tests Warden's conditions, not moto's threading.
    pub async fn start_serialized(upstream: &str) -> FaultProxy {
        Self::start_with(upstream, true).await
    }

    async fn start_with(upstream: &str, serialized: bool) -> FaultProxy {
        let inner = Arc::new(Mutex::new(Inner {
            rng: 0x9E37_79B9_7F4A_7C15,
            ..Default::default()
        }));
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("proxy client"),
            inner: inner.clone(),
            one_at_a_time: serialized.then(|| tokio::sync::Mutex::new(())),
        });
        let app = axum::Router::new().fallback(forward).with_state(shared);
        let addr = crate::rp::serve(app).await;
        FaultProxy { addr, inner }
    }

    /// The endpoint to give the SDK (`Options::dynamodb_endpoint`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn push(&self, op: Option<&str>, remaining: Option<usize>, fraction: f64, fault: Fault) {
        if let Ok(mut i) = self.inner.lock() {
            i.rules.push(Rule {
                op: op.map(str::to_string),
                remaining,
                fraction,
                fault,
            });
        }
    }

    /// Answer the next `n` requests for `op` (e.g. `"TransactWriteItems"`) with `fault`.
    pub fn fail_next(&self, op: &str, n: usize, fault: Fault) {
        self.push(Some(op), Some(n), 1.0, fault);
    }

    /// Answer every request for `op` (`None`: every operation) with `fault` until
    /// [`FaultProxy::clear`].
    pub fn fail_always(&self, op: Option<&str>, fault: Fault) {
        self.push(op, None, 1.0, fault);
    }

    /// Answer about `fraction` (0..=1) of the requests for `op` (`None`: every operation)
    /// with `fault`, on a deterministic pseudo-random sequence seeded with `seed`.
    pub fn fail_fraction(&self, op: Option<&str>, fraction: f64, fault: Fault, seed: u64) {
        if let Ok(mut i) = self.inner.lock() {
            i.rng = seed.max(1);
        }
        self.push(op, None, fraction, fault);
    }

    /// Remove every rule: from now on every request is forwarded.
    pub fn clear(&self) {
        if let Ok(mut i) = self.inner.lock() {
            i.rules.clear();
        }
    }

    /// How many requests for `op` (`None`: all) the proxy has seen.
    pub fn requests(&self, op: Option<&str>) -> usize {
        self.count(op, |_, _| true)
    }

    /// How many requests for `op` (`None`: all) it answered with a fault.
    pub fn injected(&self, op: Option<&str>) -> usize {
        self.count(op, |f, _| f.is_some())
    }

    /// How many requests for `op` (`None`: all) carried a `ClientRequestToken`.
    pub fn with_client_request_token(&self, op: Option<&str>) -> usize {
        self.count(op, |_, tokened| tokened)
    }

    fn count(&self, op: Option<&str>, pred: impl Fn(&Option<Fault>, bool) -> bool) -> usize {
        self.inner
            .lock()
            .map(|i| {
                i.log
                    .iter()
                    .filter(|(o, f, t)| op.is_none_or(|x| x == o) && pred(f, *t))
                    .count()
            })
            .unwrap_or(0)
    }
}
