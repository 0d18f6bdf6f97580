//! The ceiling server (hyper, fixed JSON) and the back-channel sink RP.

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The fixed body (95 bytes): the size of a small OIDC JSON answer.
const BODY: &str = r#"{"issuer":"http://127.0.0.1:9098","jwks_uri":"http://127.0.0.1:9098/oauth2/jwks","status":"ok"}"#;

/// A fixed JSON body of exactly `n` bytes (at least the size of [`BODY`]).
fn body_of(n: usize) -> String {
    let pad = n.saturating_sub(BODY.len() + 9);
    format!(r#"{{"pad":"{}",{}"#, "x".repeat(pad), &BODY[1..])
}

/// The body of `n` bytes, built once per size.
fn sized(n: usize) -> bytes::Bytes {
    static CACHE: std::sync::Mutex<Vec<(usize, bytes::Bytes)>> = std::sync::Mutex::new(Vec::new());
    let Ok(mut c) = CACHE.lock() else {
        return bytes::Bytes::from(body_of(n));
    };
    if let Some((_, b)) = c.iter().find(|(m, _)| *m == n) {
        return b.clone();
    }
    let b = bytes::Bytes::from(body_of(n));
    c.push((n, b.clone()));
    b
}

/// A minimal hyper HTTP/1.1 server answering every request with the same JSON; a request
/// with `?bytes=N` gets a fixed JSON body of N bytes instead (built once per size).
pub async fn ceiling(addr: SocketAddr) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("bind {addr}: {e}"))?;
    println!("ceiling listening on http://{addr}");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let want = req
                    .uri()
                    .query()
                    .and_then(|q| q.strip_prefix("bytes="))
                    .and_then(|n| n.parse::<usize>().ok());
                let body = match want {
                    None => bytes::Bytes::from_static(BODY.as_bytes()),
                    Some(n) => sized(n.min(1 << 20)),
                };
                async move {
                    Ok::<_, Infallible>(
                        hyper::Response::builder()
                            .header("content-type", "application/json")
                            .body(http_body_util::Full::new(body))
                            .unwrap_or_default(),
                    )
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// A back-channel logout sink: `POST /backchannel` → 200, `GET /count` → POSTs so far.
pub async fn sink(addr: SocketAddr) -> Result<(), String> {
    let count = Arc::new(AtomicU64::new(0));
    let c1 = count.clone();
    let c2 = count.clone();
    let app = axum::Router::new()
        .route(
            "/backchannel",
            axum::routing::post(move |_body: String| {
                let c = c1.clone();
                async move {
                    c.fetch_add(1, Ordering::Relaxed);
                    http::StatusCode::OK
                }
            }),
        )
        .route(
            "/count",
            axum::routing::get(move || {
                let c = c2.clone();
                async move { c.load(Ordering::Relaxed).to_string() }
            }),
        );
    let l = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("bind {addr}: {e}"))?;
    println!("sink listening on http://{addr}");
    axum::serve(l, app).await.map_err(|e| e.to_string())
}
