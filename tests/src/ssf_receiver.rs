//! A Shared Signals receiver written from the specifications, not from Warden's code: it
//! learns the transmitter from its metadata (SSF 1.0 §7.1: `issuer`, `jwks_uri`), takes
//! pushed SETs (RFC 8935 §2: `POST` with `Content-Type: application/secevent+jwt`, the
//! `Authorization` it registered, 202 on success, 400 with `{"err","description"}` on a SET
//! it refuses), polls (RFC 8936 §2.4: `maxEvents`, `returnImmediately`, `ack`, `setErrs`),
//! and validates every SET with the third-party `jsonwebtoken` crate against the published
//! keys: RFC 8417 §2.3 header `typ: secevent+jwt`, the signature, `iss`, `aud`, `iat`,
//! `jti`, and SSF 1.0 §4 — `sub_id` and exactly one event.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the receiver knows of the transmitter and itself.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The transmitter's `issuer` (its metadata).
    pub issuer: String,
    /// The transmitter's keys (its metadata's `jwks_uri`).
    pub jwks: JwkSet,
    /// The `aud` the receiver answers to.
    pub audience: String,
}

impl Expect {
    /// Read the transmitter's metadata and keys from `base` (the transmitter's origin).
    pub async fn discover(http: &reqwest::Client, base: &str, audience: &str) -> Expect {
        let meta: Value = http
            .get(format!("{base}/.well-known/ssf-configuration"))
            .send()
            .await
            .expect("metadata")
            .json()
            .await
            .expect("metadata JSON");
        let jwks_uri = meta["jwks_uri"].as_str().expect("jwks_uri");
        let jwks: JwkSet = http
            .get(jwks_uri)
            .send()
            .await
            .expect("jwks")
            .json()
            .await
            .expect("a JWK set");
        Expect {
            issuer: meta["issuer"].as_str().expect("issuer").to_string(),
            jwks,
            audience: audience.to_string(),
        }
    }

    /// Validate one SET; its claims, or why it is refused as an RFC 8935 §2.4 `err`.
    pub fn validate(&self, set: &str) -> Result<Value, (&'static str, String)> {
        let header = decode_header(set).map_err(|e| ("invalid_request", e.to_string()))?;
        if header.typ.as_deref() != Some("secevent+jwt") {
            return Err(("invalid_request", format!("typ {:?}", header.typ)));
        }
        let kid = header.kid.ok_or(("invalid_key", "no kid".to_string()))?;
        let jwk = self
            .jwks
            .find(&kid)
            .ok_or(("invalid_key", format!("unknown kid {kid}")))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| ("invalid_key", e.to_string()))?;
        let mut v = Validation::new(Algorithm::RS256);
        // A SET is not an access token: no `exp` is required (RFC 8417 §2.2).
        v.required_spec_claims = HashSet::new();
        v.validate_exp = false;
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        let claims = decode::<Value>(set, &key, &v)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::InvalidIssuer => ("invalid_issuer", e.to_string()),
                    ErrorKind::InvalidAudience => ("invalid_audience", e.to_string()),
                    ErrorKind::InvalidSignature => ("invalid_key", e.to_string()),
                    _ => ("invalid_request", e.to_string()),
                }
            })?
            .claims;
        for c in ["jti", "iat", "sub_id", "events"] {
            if claims.get(c).is_none() {
                return Err(("invalid_request", format!("no {c}")));
            }
        }
        if claims["events"].as_object().map(|o| o.len()) != Some(1) {
            return Err(("invalid_request", "not exactly one event".into()));
        }
        Ok(claims)
    }
}

/// The event type of a validated SET (its one `events` member).
pub fn event_type(claims: &Value) -> &str {
    claims["events"]
        .as_object()
        .and_then(|o| o.keys().next())
        .map(String::as_str)
        .unwrap_or("")
}

/// The body of a validated SET's one event.
pub fn event(claims: &Value) -> &Value {
    &claims["events"][event_type(claims)]
}

struct Inner {
    expect: Expect,
    authorization: Option<String>,
    /// Accepted SETs' claims, one per `jti` (RFC 8935 §2: a repeat is the same SET).
    accepted: Mutex<Vec<Value>>,
    /// Every push that arrived, refused or not.
    pushes: Mutex<usize>,
    /// 202, or the status to answer every push with (400: refuse the SET; 503: down).
    answer: AtomicU16,
}

/// A running push receiver.
#[derive(Clone)]
pub struct PushReceiver {
    /// Where it listens.
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: String) -> Response {
    if let Ok(mut n) = inner.pushes.lock() {
        *n += 1;
    }
    let refuse = |err: &str, d: String| {
        (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/json")],
            json!({"err": err, "description": d}).to_string(),
        )
            .into_response()
    };
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct != "application/secevent+jwt" {
        return refuse("invalid_request", format!("content type {ct}"));
    }
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != inner.authorization.as_deref() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match inner.answer.load(Ordering::SeqCst) {
        202 => {}
        400 => return refuse("invalid_request", "this receiver refuses every SET".into()),
        other => {
            return StatusCode::from_u16(other)
                .unwrap_or(StatusCode::OK)
                .into_response()
        }
    }
    match inner.expect.validate(body.trim()) {
        Ok(claims) => {
            if let Ok(mut a) = inner.accepted.lock() {
                if !a.iter().any(|c| c["jti"] == claims["jti"]) {
                    a.push(claims);
                }
            }
            StatusCode::ACCEPTED.into_response()
        }
        Err((err, d)) => refuse(err, d),
    }
}

impl PushReceiver {
    /// Start a receiver on `addr` (port 0: any) expecting `authorization` on every push.
    pub async fn start_on(addr: SocketAddr, expect: Expect, authorization: Option<&str>) -> Self {
        let inner = Arc::new(Inner {
            expect,
            authorization: authorization.map(str::to_string),
            accepted: Mutex::new(Vec::new()),
            pushes: Mutex::new(0),
            answer: AtomicU16::new(202),
        });
        let app = axum::Router::new()
            .route("/events", axum::routing::post(receive))
            .with_state(inner.clone());
        let l = tokio::net::TcpListener::bind(addr).await.expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(l, app).await;
        });
        PushReceiver { addr, inner }
    }

    /// Start one on any port.
    pub async fn start(expect: Expect, authorization: Option<&str>) -> Self {
        Self::start_on("127.0.0.1:0".parse().expect("addr"), expect, authorization).await
    }

    /// The push endpoint to register.
    pub fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    /// Answer every push with `status` from now on (202: accept).
    pub fn answer(&self, status: u16) {
        self.inner.answer.store(status, Ordering::SeqCst);
    }

    /// The accepted SETs' claims, in arrival order.
    pub fn accepted(&self) -> Vec<Value> {
        self.inner
            .accepted
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default()
    }

    /// How many pushes arrived.
    pub fn pushes(&self) -> usize {
        self.inner.pushes.lock().map(|n| *n).unwrap_or(0)
    }

    /// Wait (up to `within`) until at least `n` SETs were accepted; the accepted SETs.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Value> {
        let until = tokio::time::Instant::now() + within;
        loop {
            let got = self.accepted();
            if got.len() >= n || tokio::time::Instant::now() >= until {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// One RFC 8936 poll: `body` to `url` with `token`; the status and the answer.
pub async fn poll(http: &reqwest::Client, url: &str, token: &str, body: Value) -> (u16, Value) {
    let r = http
        .post(url)
        .bearer_auth(token)
        .header("accept", "application/json")
        .json(&body)
        .send()
        .await
        .expect("poll");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}
