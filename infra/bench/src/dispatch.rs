//! Dispatcher throughput: the local stack in-process (memory engine, in-process queue and
//! the local dispatcher: batches of up to 10, 64 deliveries in flight), a sink RP (axum)
//! that records when each logout token arrives, sessions each joined by M apps with
//! back-channel URIs, ended through `session::terminate` (the path every termination takes).
//! Three phases: *capacity* (sessions ended with the queue paused, then every message
//! released at once: the dispatcher alone), *steady load* (terminations started at a fixed
//! pace; each delivery's latency runs from the start of its session's terminate call to the
//! RP receiving the POST) and *all at once* (terminations as fast as possible while the
//! dispatcher delivers). A fourth, *Shared Signals*, adds S push streams whose subject is
//! the user (a complex subject, so each SET names its session) and ends sessions without
//! apps as fast as the terminators go: SETs per second pushed to a local receiver (which
//! answers 202), and each SET's latency from its session's terminate call to its arrival —
//! the termination's one record, the dispatcher's fan-out, signing, the push and its receipt.

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
    /// Sessions ended at a steady pace for the latency phase.
    #[arg(long, default_value_t = 1000)]
    paced_sessions: usize,
    /// Terminations per second in the latency phase (× apps = deliveries offered per second).
    #[arg(long, default_value_t = 250)]
    paced_rate: u64,
    /// Shared Signals push streams matching the user, for the last phase (0: skip it).
    #[arg(long, default_value_t = 4)]
    ssf_streams: usize,
    /// Sessions ended in the Shared Signals phase (one SET per stream each), paced and then
    /// all at once.
    #[arg(long, default_value_t = 500)]
    ssf_sessions: usize,
    /// Terminations per second in the paced part of the Shared Signals phase.
    #[arg(long, default_value_t = 100)]
    ssf_rate: u64,
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

/// The session a pushed SET names (its complex subject's `session`).
fn set_sid_of(body: &str) -> Option<String> {
    use base64::Engine;
    let payload = body.trim().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v["sub_id"]["session"]["id"].as_str().map(str::to_string)
}

/// Phase 4: `a.ssf_streams` push streams to the sink's `/ssf`, each with the user as a
/// complex subject; `a.ssf_sessions` sessions (no apps) ended by `a.terminators` at once.
async fn ssf_phase(
    app: &Arc<warden_core::App>,
    setup: &Setup,
    a: &Args,
    sink: std::net::SocketAddr,
    arrivals: &Arrivals,
) -> Result<serde_json::Value, String> {
    use warden_core::store::schema::{
        keys, DeliveryMethod, EventType, StreamItem, StreamStatus, SubjectItem,
    };
    let now = warden_core::platform::time::now_ms();
    let subject = warden_core::ssf::subjects::parse(&json!({"user": {
        "format": "iss_sub", "iss": app.config.issuer, "sub": setup.user.user_id}}))?;
    for i in 0..a.ssf_streams {
        let (client_id, stream_id) = (format!("rx-{i}"), format!("bench-stream-{i}"));
        let (pk, sk) = keys::stream(&client_id, &stream_id);
        let stream = StreamItem {
            pk,
            sk,
            stream_id: stream_id.clone(),
            client_id: client_id.clone(),
            aud: vec![client_id.clone()],
            events_requested: vec![EventType::SessionRevoked.as_str().into()],
            events_delivered: vec![EventType::SessionRevoked],
            delivery_method: DeliveryMethod::Push,
            endpoint_url: format!("http://{sink}/ssf"),
            authorization_header_sealed: None,
            description: None,
            min_verification_interval: 30,
            status: StreamStatus::Enabled,
            status_reason: None,
            verification: None,
            last_verification_ms: 0,
            created_ms: now,
            updated_ms: now,
            v: 1,
        };
        app.store
            .put_stream(&stream, None)
            .await
            .map_err(|e| format!("stream: {e}"))?;
        let (pk, sk) = keys::stream_subject(&stream_id, &subject.key_hash());
        let item = SubjectItem {
            pk,
            sk,
            subject: subject.canonical.clone(),
            verified: true,
            added_ms: now,
        };
        app.store
            .put_subject(&client_id, &stream_id, &item)
            .await
            .map_err(|e| format!("subject: {e}"))?;
    }
    app.forget_signal_streams();
    let bare_sessions = |n: usize| async move {
        eprintln!("dispatch: preparing {n} sessions for the Shared Signals phase");
        let mut sids = Vec::with_capacity(n);
        for _ in 0..n {
            let (s, _) =
                warden_core::session::create(app, &setup.user, false, "bench", "127.0.0.1")
                    .await
                    .map_err(|e| e.to_string())?;
            sids.push(s.sid);
        }
        Ok::<_, String>(sids)
    };
    // Paced: terminations at a fixed rate, each SET timed from its session's terminate call.
    let sids = bare_sessions(a.ssf_sessions).await?;
    eprintln!("dispatch: Shared Signals, paced (load {})", util::loadavg());
    let starts: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / a.ssf_rate.max(1) as f64));
    let mut tasks = Vec::new();
    for sid in sids.clone() {
        tick.tick().await;
        let (app, st) = (app.clone(), starts.clone());
        tasks.push(tokio::spawn(async move {
            if let Ok(mut m) = st.lock() {
                m.insert(sid.clone(), Instant::now());
            }
            warden_core::session::terminate(
                &app,
                &sid,
                None,
                warden_core::store::schema::EndReason::Admin,
            )
            .await
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let paced_starts = starts.lock().map(|m| m.clone()).unwrap_or_default();
    let paced = collect(
        arrivals,
        sids.len() * a.ssf_streams,
        &paced_starts,
        Instant::now(),
    )
    .await;
    // All at once.
    let sids = bare_sessions(a.ssf_sessions).await?;
    eprintln!(
        "dispatch: Shared Signals, all at once (load {})",
        util::loadavg()
    );
    let starts: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let (app2, st2) = (app.clone(), starts.clone());
    let t0 = Instant::now();
    let (term_lat, errs, wall, first) = util::drive(sids.clone(), a.terminators, move |sid| {
        let (app, st) = (app2.clone(), st2.clone());
        async move {
            if let Ok(mut m) = st.lock() {
                m.insert(sid.clone(), Instant::now());
            }
            warden_core::session::terminate(
                &app,
                &sid,
                None,
                warden_core::store::schema::EndReason::Admin,
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
        }
    })
    .await;
    if errs > 0 {
        return Err(format!("terminate failed: {first:?}"));
    }
    let starts = starts.lock().map(|m| m.clone()).unwrap_or_default();
    let expected = sids.len() * a.ssf_streams;
    let got = collect(arrivals, expected, &starts, t0).await;
    let span = got.last.saturating_duration_since(t0).as_secs_f64();
    Ok(json!({
        "streams": a.ssf_streams,
        "sessions": a.ssf_sessions,
        "paced": {
            "terminations_per_s": a.ssf_rate,
            "offered_sets_per_s": a.ssf_rate as usize * a.ssf_streams,
            "expected": a.ssf_sessions * a.ssf_streams,
            "delivered": paced.delivered,
            "latency_p50_ms": pct(&paced.latencies, 50.0),
            "latency_p99_ms": pct(&paced.latencies, 99.0),
            "latency_max_ms": pct(&paced.latencies, 100.0),
        },
        "expected": expected,
        "delivered": got.delivered,
        "terminations_per_s": term_lat.len() as f64 / wall.as_secs_f64().max(1e-9),
        "terminate_p50_ms": pct(&term_lat, 50.0),
        "terminate_p99_ms": pct(&term_lat, 99.0),
        "span_s": span,
        "sets_per_s": if span > 0.0 { got.delivered as f64 / span } else { 0.0 },
        "latency_p50_ms": pct(&got.latencies, 50.0),
        "latency_p99_ms": pct(&got.latencies, 99.0),
        "latency_max_ms": pct(&got.latencies, 100.0),
    }))
}

/// What a phase's deliveries looked like at the sink.
struct Collected {
    delivered: usize,
    /// The last arrival (or `since` if none).
    last: Instant,
    /// Per delivery, from its session's start in `starts` to its arrival (sorted).
    latencies: Vec<Duration>,
}

/// Wait (bounded) until `expected` deliveries arrived, then take them out of `arrivals`.
async fn collect(
    arrivals: &Arrivals,
    expected: usize,
    starts: &HashMap<String, Instant>,
    since: Instant,
) -> Collected {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let n = arrivals.lock().map(|v| v.len()).unwrap_or(0);
        if n >= expected || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let got: Vec<(Instant, String)> = arrivals
        .lock()
        .map(|mut v| std::mem::take(&mut *v))
        .unwrap_or_default();
    let mut latencies: Vec<Duration> = got
        .iter()
        .filter_map(|(t, sid)| starts.get(sid).map(|s| t.saturating_duration_since(*s)))
        .collect();
    latencies.sort();
    Collected {
        delivered: got.len(),
        last: got.iter().map(|(t, _)| *t).max().unwrap_or(since),
        latencies,
    }
}

/// The user and apps sessions are made for.
struct Setup {
    app: Arc<warden_core::App>,
    user: Arc<warden_core::store::schema::UserItem>,
    clients: Arc<Vec<warden_core::store::schema::ClientItem>>,
}

impl Setup {
    /// `n` live sessions, each joined by every app (untimed).
    async fn sessions(&self, n: usize) -> Result<Vec<String>, String> {
        eprintln!(
            "dispatch: preparing {n} sessions × {} apps",
            self.clients.len()
        );
        let sids = Arc::new(Mutex::new(Vec::new()));
        let (app2, user2, clients2, sids2) = (
            self.app.clone(),
            self.user.clone(),
            self.clients.clone(),
            sids.clone(),
        );
        let (_, errs, _, first) = util::drive((0..n).collect(), 16, move |_| {
            let (app, user, clients, sids) =
                (app2.clone(), user2.clone(), clients2.clone(), sids2.clone());
            async move {
                let (mut s, _) =
                    warden_core::session::create(&app, &user, false, "bench", "127.0.0.1")
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
        let v = sids.lock().map(|v| v.clone()).unwrap_or_default();
        Ok(v)
    }
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
    let set_arrivals: Arrivals = Arc::new(Mutex::new(Vec::new()));
    let sets = set_arrivals.clone();
    let rp = rp.route(
        "/ssf",
        axum::routing::post(move |body: String| {
            let sets = sets.clone();
            async move {
                let now = Instant::now();
                if let Some(sid) = set_sid_of(&body) {
                    if let Ok(mut v) = sets.lock() {
                        v.push((now, sid));
                    }
                }
                http::StatusCode::ACCEPTED
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

    let setup = Setup {
        app: app.clone(),
        user: Arc::new(user),
        clients: Arc::new(clients),
    };
    let queue = running
        .queue
        .clone()
        .ok_or("the in-process queue is missing")?;

    // Phase 1, capacity: the sessions are ended with the queue paused (their deliveries wait
    // in the outbox), then every message is released at once; the dispatcher alone drains
    // them.
    let sids = setup.sessions(a.sessions).await?;
    eprintln!("dispatch: capacity phase (load {})", util::loadavg());
    queue
        .fail_sends
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let app2 = app.clone();
    let (_, errs, _, first) = util::drive(sids.clone(), a.terminators, move |sid| {
        let app = app2.clone();
        async move {
            warden_core::session::terminate(
                &app,
                &sid,
                None,
                warden_core::store::schema::EndReason::Admin,
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
        }
    })
    .await;
    if errs > 0 {
        return Err(format!("terminate failed: {first:?}"));
    }
    queue
        .fail_sends
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let msgs: Vec<warden_core::outbound::queue::DeliveryMessage> = sids
        .iter()
        .flat_map(|sid| {
            setup
                .clients
                .iter()
                .map(|c| warden_core::outbound::queue::DeliveryMessage {
                    sid: sid.clone(),
                    client_id: c.client_id.clone(),
                    user_id: setup.user.user_id.clone(),
                    resent: false,
                })
        })
        .collect();
    let cap_expected = msgs.len();
    eprintln!("dispatch: releasing {cap_expected} messages");
    let released = Instant::now();
    let _ = warden_core::outbound::queue::send_all(queue.as_ref(), &msgs).await;
    let cap = collect(&arrivals, cap_expected, &HashMap::new(), released).await;
    let cap_span = cap.last.saturating_duration_since(released).as_secs_f64();

    // Phase 2, latency at a steady load: terminations started at a fixed pace, each
    // delivery timed from the start of its session's terminate call.
    let sids = setup.sessions(a.paced_sessions).await?;
    eprintln!("dispatch: paced phase (load {})", util::loadavg());
    let starts: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let every = Duration::from_secs_f64(1.0 / a.paced_rate.max(1) as f64);
    let mut tick = tokio::time::interval(every);
    let mut tasks = Vec::new();
    for sid in sids.clone() {
        tick.tick().await;
        let (app, st) = (app.clone(), starts.clone());
        tasks.push(tokio::spawn(async move {
            if let Ok(mut m) = st.lock() {
                m.insert(sid.clone(), Instant::now());
            }
            warden_core::session::terminate(
                &app,
                &sid,
                None,
                warden_core::store::schema::EndReason::Admin,
            )
            .await
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let paced_starts = starts.lock().map(|m| m.clone()).unwrap_or_default();
    let paced = collect(
        &arrivals,
        sids.len() * a.apps,
        &paced_starts,
        Instant::now(),
    )
    .await;

    // Phase 3, everything at once: terminations as fast as the terminators go, the
    // dispatcher delivering meanwhile (both share the two cores).
    let sids = setup.sessions(a.sessions).await?;
    eprintln!("dispatch: all-at-once phase (load {})", util::loadavg());
    let starts: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let (app2, st2) = (app.clone(), starts.clone());
    let t0 = Instant::now();
    let (term_lat, term_errs, term_wall, first) =
        util::drive(sids.clone(), a.terminators, move |sid| {
            let (app, st) = (app2.clone(), st2.clone());
            async move {
                if let Ok(mut m) = st.lock() {
                    m.insert(sid.clone(), Instant::now());
                }
                match warden_core::session::terminate(
                    &app,
                    &sid,
                    None,
                    warden_core::store::schema::EndReason::Admin,
                )
                .await
                {
                    Ok(_) => Ok(()),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await;
    let all_starts = starts.lock().map(|m| m.clone()).unwrap_or_default();
    let all = collect(&arrivals, sids.len() * a.apps, &all_starts, t0).await;
    let span = all.last.saturating_duration_since(t0).as_secs_f64();
    let expected = sids.len() * a.apps;
    let delivered = all.delivered;
    let lat = all.latencies;

    // Phase 4, Shared Signals: S push streams, sessions without apps ended at once.
    let ssf = if a.ssf_streams > 0 {
        ssf_phase(&app, &setup, &a, rp_addr, &set_arrivals).await?
    } else {
        json!(null)
    };
    let doc = json!({
        "date": warden_core::platform::time::now_s(),
        "load_before": load_before,
        "build_profile": std::env::var("WARDEN_BENCH_PROFILE").unwrap_or_else(|_| "?".into()),
        "load_after": util::loadavg(),
        "sessions": a.sessions,
        "apps_per_session": a.apps,
        "terminators": a.terminators,
        "dispatcher_concurrency": 64,
        "capacity": {
            "expected": cap_expected,
            "delivered": cap.delivered,
            "span_s": cap_span,
            "deliveries_per_s": if cap_span > 0.0 { cap.delivered as f64 / cap_span } else { 0.0 },
        },
        "paced": {
            "sessions": a.paced_sessions,
            "terminations_per_s": a.paced_rate,
            "offered_deliveries_per_s": a.paced_rate as usize * a.apps,
            "expected": a.paced_sessions * a.apps,
            "delivered": paced.delivered,
            "latency_p50_ms": pct(&paced.latencies, 50.0),
            "latency_p99_ms": pct(&paced.latencies, 99.0),
            "latency_max_ms": pct(&paced.latencies, 100.0),
        },
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
        "ssf": ssf,
    });
    eprintln!("{doc:#}");
    util::write_out(
        &a.out,
        &serde_json::to_string_pretty(&doc).unwrap_or_default(),
    )?;
    running.shutdown().await;
    Ok(())
}
