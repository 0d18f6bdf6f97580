//! Dispatcher throughput: the local stack in-process (memory engine, in-process queue and
//! the local dispatcher with its concurrency of 64), a sink RP (axum) that records when each
//! logout token arrives, N sessions each joined by M apps with back-channel URIs. The
//! sessions are ended through `session::terminate` (the path every termination takes) with
//! a number of concurrent terminators; each delivery's latency runs from the start of its
//! session's terminate call to the RP receiving the POST.

use crate::util::{self, pct};
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Sessions to end.
    #[arg(long, default_value_t = 2000)]
    sessions: usize,
    /// Apps with a back-channel URI per session (deliveries per termination).
    #[arg(long, default_value_t = 4)]
    apps: usize,
    /// Concurrent terminate calls.
    #[arg(long, default_value_t = 16)]
    terminators: usize,
    #[arg(long, default_value = "infra/bench/results/dispatch.json")]
    out: PathBuf,
}

type Arrivals = Arc<Mutex<Vec<(Instant, String)>>>;

fn sid_of(body: &str) -> Option<String> {
    use base64::Engine;
    let tok = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())?;
    let payload = tok.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v["sid"].as_str().map(str::to_string)
}

pub async fn run(a: Args) -> Result<(), String> {
    let load_before = util::loadavg();
    let running = warden_local::start(warden_local::Options {
        addr: "127.0.0.1:0".parse().map_err(|_| "addr")?,
        memory: true,
        seed: false,
        ..Default::default()
    })
    .await?;
    let app = running.app.clone();

    let arrivals: Arrivals = Arc::new(Mutex::new(Vec::new()));
    let arr = arrivals.clone();
    let rp = axum::Router::new().route(
        "/backchannel",
        axum::routing::post(move |body: String| {
            let arr = arr.clone();
            async move {
                let now = Instant::now();
                if let Some(sid) = sid_of(&body) {
                    if let Ok(mut v) = arr.lock() {
                        v.push((now, sid));
                    }
                }
                http::StatusCode::OK
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let rp_addr = l.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = axum::serve(l, rp).await;
    });

    let mut clients = Vec::new();
    for i in 0..a.apps {
        let (c, _) = warden_core::admin::create_client(
            &app.store,
            &warden_core::admin::ClientSpec {
                client_id: Some(format!("rp-{i}")),
                name: format!("RP {i}"),
                redirect_uris: vec!["http://localhost:9000/callback".into()],
                backchannel_logout_uri: Some(format!("http://{rp_addr}/backchannel")),
                backchannel_logout_session_required: true,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("client: {e}"))?;
        clients.push(c);
    }
    let user = warden_core::admin::create_user(
        &app.store,
        "dispatch-bench",
        "dispatch-bench-password",
        "Dispatch",
        "d@example.com",
        &[],
    )
    .await
    .map_err(|e| format!("user: {e}"))?;

    eprintln!(
        "dispatch: preparing {} sessions × {} apps",
        a.sessions, a.apps
    );
    let sids = Arc::new(Mutex::new(Vec::new()));
    let (app2, user2, clients2, sids2) =
        (app.clone(), Arc::new(user), Arc::new(clients), sids.clone());
    let (_, errs, _, first) = util::drive((0..a.sessions).collect(), 16, move |_| {
        let (app, user, clients, sids) =
            (app2.clone(), user2.clone(), clients2.clone(), sids2.clone());
        async move {
            let (mut s, _) = warden_core::session::create(&app, &user, false, "bench", "127.0.0.1")
                .await
                .map_err(|e| e.to_string())?;
            for c in clients.iter() {
                s = warden_core::session::touch(&app, &s, Some((&c.client_id, &c.name, true)))
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or("ended")?;
            }
            if let Ok(mut v) = sids.lock() {
                v.push(s.sid);
            }
            Ok(())
        }
    })
    .await;
    if errs > 0 {
        return Err(format!("setup failed: {first:?}"));
    }
    let sids: Vec<String> = sids.lock().map(|v| v.clone()).unwrap_or_default();
    let expected = sids.len() * a.apps;

    eprintln!("dispatch: terminating (load {})", util::loadavg());
    let starts: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let (app2, st2) = (app.clone(), starts.clone());
    let t0 = Instant::now();
    let (term_lat, term_errs, term_wall, first) = util::drive(sids, a.terminators, move |sid| {
        let (app, st) = (app2.clone(), st2.clone());
        async move {
            if let Ok(mut m) = st.lock() {
                m.insert(sid.clone(), Instant::now());
            }
            match warden_core::session::terminate(&app, &sid, None, "bench").await {
                Ok(_) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        }
    })
    .await;
    // Wait for every delivery (bounded).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = arrivals.lock().map(|v| v.len()).unwrap_or(0);
        if n >= expected || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let arrivals: Vec<(Instant, String)> = arrivals.lock().map(|v| v.clone()).unwrap_or_default();
    let starts = starts.lock().map(|m| m.clone()).unwrap_or_default();
    let mut lat: Vec<Duration> = arrivals
        .iter()
        .filter_map(|(t, sid)| starts.get(sid).map(|s| t.saturating_duration_since(*s)))
        .collect();
    lat.sort();
    let last = arrivals.iter().map(|(t, _)| *t).max().unwrap_or(t0);
    let span = last.saturating_duration_since(t0).as_secs_f64();
    let delivered = arrivals.len();
    let doc = json!({
        "date": warden_core::time::now_s(),
        "load_before": load_before,
        "load_after": util::loadavg(),
        "sessions": a.sessions,
        "apps_per_session": a.apps,
        "terminators": a.terminators,
        "dispatcher_concurrency": 64,
        "expected": expected,
        "delivered": delivered,
        "terminate_errors": term_errs,
        "terminate_first_error": first,
        "terminations_per_s": term_lat.len() as f64 / term_wall.as_secs_f64().max(1e-9),
        "terminate_p50_ms": pct(&term_lat, 50.0),
        "terminate_p99_ms": pct(&term_lat, 99.0),
        "span_s": span,
        "deliveries_per_s": if span > 0.0 { delivered as f64 / span } else { 0.0 },
        "latency_p50_ms": pct(&lat, 50.0),
        "latency_p99_ms": pct(&lat, 99.0),
        "latency_max_ms": pct(&lat, 100.0),
    });
    eprintln!("{doc:#}");
    if let Some(p) = a.out.parent() {
        let _ = std::fs::create_dir_all(p);
    }
    std::fs::write(
        &a.out,
        serde_json::to_string_pretty(&doc).unwrap_or_default(),
    )
    .map_err(|e| format!("write: {e}"))?;
    running.shutdown().await;
    Ok(())
}
