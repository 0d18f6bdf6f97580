//! Cold start: each function binary is started against a minimal Lambda Runtime API
//! emulator (`GET /2018-06-01/runtime/invocation/next` hands out one event; `POST
//! …/invocation/{id}/response` or `…/error` ends the measurement). Time-to-first-response
//! runs from spawning the process to the emulator receiving the response; peak RSS is
//! `VmHWM` from `/proc/<pid>/status` read right then. The storage is the embedded engine of
//! an in-process local stack (memory, seeded), as `warden-local --memory` would give.

use crate::util;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Where the function binaries are (`warden-<function>`).
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Starts per function.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Only these functions (comma-separated).
    #[arg(long)]
    only: Option<String>,
    #[arg(long, default_value = "infra/bench/results/coldstart.json")]
    out: PathBuf,
}

struct Emu {
    event: String,
    handed: Mutex<bool>,
    done: Mutex<Option<oneshot::Sender<(Instant, &'static str)>>>,
}

async fn next(State(emu): State<Arc<Emu>>) -> axum::response::Response {
    let first = emu
        .handed
        .lock()
        .map(|mut h| !std::mem::replace(&mut *h, true))
        .unwrap_or(false);
    if !first {
        // One invocation per start: later polls wait until the process is killed.
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let deadline = warden_core::platform::time::now_ms() + 30_000;
    (
        [
            ("lambda-runtime-aws-request-id", "cold-start-1".to_string()),
            ("lambda-runtime-deadline-ms", deadline.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:000000000000:function:warden-bench".to_string(),
            ),
            (
                "lambda-runtime-trace-id",
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
                    .to_string(),
            ),
            ("content-type", "application/json".to_string()),
        ],
        emu.event.clone(),
    )
        .into_response()
}

fn finish(emu: &Emu, what: &'static str) {
    let now = Instant::now();
    if let Some(tx) = emu.done.lock().ok().and_then(|mut d| d.take()) {
        let _ = tx.send((now, what));
    }
}

async fn response(State(emu): State<Arc<Emu>>, Path(_id): Path<String>) -> http::StatusCode {
    finish(&emu, "response");
    http::StatusCode::ACCEPTED
}

async fn error(State(emu): State<Arc<Emu>>, Path(_id): Path<String>) -> http::StatusCode {
    finish(&emu, "error");
    http::StatusCode::ACCEPTED
}

async fn init_error(State(emu): State<Arc<Emu>>) -> http::StatusCode {
    finish(&emu, "init_error");
    http::StatusCode::ACCEPTED
}

/// The event each function gets: an API Gateway v2 request on its first route, an SQS
/// batch of one delivery for the dispatcher, a scheduled event for the relay.
fn event_for(function: &str, client_id: &str) -> Option<Value> {
    match function {
        "logout-dispatcher" => {
            let body = json!({"sid": "no-such-session", "client_id": client_id, "user_id": "no-such-user"}).to_string();
            return Some(json!({"Records": [{
                "messageId": "m-1",
                "receiptHandle": "r-1",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000",
                    "SenderId": "000000000000", "ApproximateFirstReceiveTimestamp": "1700000000000"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:warden-logout",
                "awsRegion": "us-east-1"
            }]}));
        }
        "logout-relay" => {
            return Some(json!({
                "version": "0", "id": "e-1", "detail-type": "Scheduled Event",
                "source": "aws.events", "account": "000000000000",
                "time": "2026-01-01T00:00:00Z", "region": "us-east-1",
                "resources": ["arn:aws:events:us-east-1:000000000000:rule/warden-relay"],
                "detail": {}
            }));
        }
        _ => {}
    }
    let route = warden_local::routes::ROUTES
        .iter()
        .find(|r| r.function == function)?;
    let mut params = Vec::new();
    let path: String = route
        .path
        .split('/')
        .map(|seg| {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                params.push((name.to_string(), "bench-1".to_string()));
                "bench-1".to_string()
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let query = match function {
        "authorize" => format!(
            "response_type=code&client_id={client_id}&redirect_uri=http%3A%2F%2Flocalhost%3A9000%2Fcallback&scope=openid&state=s"
        ),
        _ => String::new(),
    };
    let body: &[u8] = match function {
        "token" => b"grant_type=authorization_code&code=no-such-code&redirect_uri=x",
        "introspect" | "revoke" => b"token=no-such-token",
        _ => b"",
    };
    let mut headers = http::HeaderMap::new();
    if !body.is_empty() {
        headers.insert(
            "content-type",
            http::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
    }
    let method: http::Method = route.method.parse().ok()?;
    Some(warden_local::apigw::event(&warden_local::apigw::Incoming {
        method: &method,
        path: &path,
        raw_query: &query,
        headers: &headers,
        body,
        route_key: &format!("{} {}", route.method, route.path),
        path_params: &params,
        peer: "127.0.0.1:40000".parse().ok()?,
        request_id: "cold-start-1",
    }))
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

async fn one_start(
    bin: &std::path::Path,
    function: &str,
    event: &Value,
    issuer: &str,
    ddb: &str,
    kek: &str,
) -> Result<(f64, u64, &'static str), String> {
    let (tx, rx) = oneshot::channel();
    let emu = Arc::new(Emu {
        event: event.to_string(),
        handed: Mutex::new(false),
        done: Mutex::new(Some(tx)),
    });
    let router = axum::Router::new()
        .route(
            "/2018-06-01/runtime/invocation/next",
            axum::routing::get(next),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            axum::routing::post(response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            axum::routing::post(error),
        )
        .route(
            "/2018-06-01/runtime/init/error",
            axum::routing::post(init_error),
        )
        .with_state(emu);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(l, router).await;
    });
    let log = std::fs::File::create(format!("/tmp/warden-coldstart-{function}.log"))
        .map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let mut child = std::process::Command::new(bin)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", format!("warden-{function}"))
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/warden-{function}"),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("WARDEN_ISSUER", issuer)
        .env("WARDEN_TABLE", "warden")
        .env("WARDEN_DYNAMODB_ENDPOINT", ddb)
        .env("WARDEN_KEY_ENCRYPTION_KEY", kek)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
    let pid = child.id();
    let got = tokio::time::timeout(Duration::from_secs(15), rx).await;
    let hwm = vm_hwm_kb(pid).unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    server.abort();
    match got {
        Ok(Ok((t, what))) => Ok((
            t.saturating_duration_since(t0).as_secs_f64() * 1000.0,
            hwm,
            what,
        )),
        _ => Err(format!(
            "{function}: no response within 15 s (see /tmp/warden-coldstart-{function}.log)"
        )),
    }
}

pub async fn run(a: Args) -> Result<(), String> {
    let load_before = util::loadavg();
    let running = warden_local::start(warden_local::Options {
        addr: "127.0.0.1:0".parse().map_err(|_| "addr")?,
        memory: true,
        ..Default::default()
    })
    .await?;
    // The functions open the stack's signing keys with its key-encryption key (on Lambda:
    // one KMS Decrypt per key at cold start, which this local measurement does not include).
    let kek = running
        .app
        .config
        .key_protection
        .local_text()
        .ok_or("the local stack wraps keys locally")?;
    let client_id = running
        .seeded
        .as_ref()
        .map(|s| s.client_id.clone())
        .unwrap_or_else(|| "demo-app".into());
    let mut functions: Vec<String> = std::fs::read_dir("functions")
        .map_err(|e| format!("functions/: {e} (run from the repository root)"))?
        .filter_map(|d| d.ok())
        .filter(|d| d.path().join("src/main.rs").exists())
        .filter_map(|d| d.file_name().into_string().ok())
        .collect();
    functions.sort();
    if let Some(only) = &a.only {
        functions.retain(|f| only.split(',').any(|o| o.trim() == f));
    }
    let mut rows = Vec::new();
    for f in &functions {
        let bin = a.bin_dir.join(format!("warden-{f}"));
        let size = std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0);
        let Some(ev) = event_for(f, &client_id) else {
            return Err(format!("no event for {f}"));
        };
        let mut times = Vec::new();
        let mut hwms = Vec::new();
        let mut outcome = "";
        for _ in 0..a.runs {
            let (ms, kb, what) = one_start(
                &bin,
                f,
                &ev,
                &running.base_url,
                &running.dynamodb_endpoint,
                &kek,
            )
            .await?;
            times.push(ms);
            hwms.push(kb);
            outcome = what;
        }
        times.sort_by(|x, y| x.total_cmp(y));
        let median = times[times.len() / 2];
        let row = json!({
            "function": f,
            "binary_bytes": size,
            "runs": a.runs,
            "first_response_ms_median": median,
            "first_response_ms_min": times.first(),
            "first_response_ms_max": times.last(),
            "peak_rss_kb_max": hwms.iter().max(),
            "outcome": outcome,
            "event": if f == "logout-dispatcher" { "SQS (1 record)".to_string() }
                else if f == "logout-relay" { "EventBridge scheduled".to_string() }
                else { format!("{} {}", ev["requestContext"]["http"]["method"].as_str().unwrap_or(""), ev["rawPath"].as_str().unwrap_or("")) },
        });
        eprintln!("{row}");
        rows.push(row);
    }
    let doc = json!({
        "date": warden_core::platform::time::now_s(),
        "load_before": load_before,
        "load_after": util::loadavg(),
        "bin_dir": a.bin_dir,
        "functions": rows,
    });
    util::write_out(
        &a.out,
        &serde_json::to_string_pretty(&doc).unwrap_or_default(),
    )?;
    running.shutdown().await;
    Ok(())
}
