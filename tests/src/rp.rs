//! A test relying party: an HTTP server that records back-channel logout POSTs and answers
//! with a programmable status.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the RP received.
#[derive(Debug, Clone)]
pub struct Received {
    pub content_type: String,
    pub body: String,
}

#[derive(Default)]
struct Inner {
    received: Mutex<Vec<Received>>,
    status: AtomicU16,
    delay_ms: AtomicU64,
}

/// The running RP. `uri()` is its back-channel logout URI.
#[derive(Clone)]
pub struct TestRp {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: String) -> StatusCode {
    let delay = inner.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if let Ok(mut r) = inner.received.lock() {
        r.push(Received {
            content_type: headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string(),
            body,
        });
    }
    StatusCode::from_u16(inner.status.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK)
}

impl TestRp {
    /// Start an RP answering 200.
    pub async fn start() -> TestRp {
        let inner = Arc::new(Inner::default());
        inner.status.store(200, Ordering::SeqCst);
        let app = axum::Router::new()
            .route("/backchannel", axum::routing::post(receive))
            .with_state(inner.clone());
        let addr = serve(app).await;
        TestRp { addr, inner }
    }
    pub fn uri(&self) -> String {
        format!("http://{}/backchannel", self.addr)
    }
    pub fn set_status(&self, s: u16) {
        self.inner.status.store(s, Ordering::SeqCst);
    }
    pub fn set_delay(&self, d: Duration) {
        self.inner
            .delay_ms
            .store(d.as_millis() as u64, Ordering::SeqCst);
    }
    pub fn received(&self) -> Vec<Received> {
        self.inner
            .received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
    /// The logout tokens received so far.
    pub fn logout_tokens(&self) -> Vec<String> {
        self.received()
            .iter()
            .filter_map(|r| {
                url::form_urlencoded::parse(r.body.as_bytes())
                    .find(|(k, _)| k == "logout_token")
                    .map(|(_, v)| v.into_owned())
            })
            .collect()
    }
    /// Forget what was received so far (a test checking a second termination on its own).
    pub fn clear(&self) {
        if let Ok(mut r) = self.inner.received.lock() {
            r.clear();
        }
    }
    /// Wait until `n` requests arrived (or the timeout passes); returns how many did.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> usize {
        let start = std::time::Instant::now();
        loop {
            let got = self.received().len();
            if got >= n || start.elapsed() > timeout {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A bare web server for an app's pages (every path serves an empty HTML page) on its own
/// port, so its own origin: browser tests load it and act from there.
pub async fn page_server() -> SocketAddr {
    serve(axum::Router::new().fallback(|| async {
        axum::response::Html(
            "<!doctype html><html><head><title>RP</title></head><body></body></html>",
        )
    }))
    .await
}

/// Serve `app` on an ephemeral loopback port (its own origin) until the test ends.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    addr
}
