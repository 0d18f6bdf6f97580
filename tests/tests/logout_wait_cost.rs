//! What end_session's bounded wait costs (issue 20), measured over HTTP against the local
//! stack (in-process dispatcher, embedded engine): p50 / p99 of `GET /oidc/logout` with
//! two back-channel apps that answer in 10 ms, and with one app that never answers, at
//! `WARDEN_LOGOUT_WAIT_MS` = 0 (no wait) and the default 2000. Prints the table that
//! `docs/benchmarks.md` records and checks its shape: with apps that answer the wait adds
//! tens of milliseconds, never the whole wait; with one that never answers the logout takes
//! the wait and not much more.

use reqwest::header::COOKIE;
use std::time::{Duration, Instant};
use warden_core::admin::ClientSpec;
use warden_core::store::schema::ClientItem;
use warden_tests::rp::TestRp;
use warden_tests::{spawn_with, Options, Stack};

const BYE: &str = "http://localhost:9999/bye";

async fn client(s: &Stack, id: &str, rp: &TestRp) -> ClientItem {
    s.client(ClientSpec {
        client_id: Some(id.into()),
        name: id.into(),
        redirect_uris: vec!["http://localhost:9999/cb".into()],
        post_logout_redirect_uris: vec![BYE.into()],
        backchannel_logout_uri: Some(rp.uri()),
        ..Default::default()
    })
    .await
    .0
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// `n` logouts of sessions joined by `apps`, `conc` at a time; sorted latencies.
async fn run(wait_ms: u64, delays: &[Duration], n: usize, conc: usize) -> Vec<Duration> {
    let s = spawn_with(Options {
        env: Some(vec![("WARDEN_LOGOUT_WAIT_MS".into(), wait_ms.to_string())]),
        ..Default::default()
    })
    .await;
    let user = s.user("bench", "password-bench", &[]).await;
    let mut apps = Vec::new();
    for (i, d) in delays.iter().enumerate() {
        let rp = TestRp::start().await;
        rp.set_delay(*d);
        apps.push((client(&s, &format!("app{i}"), &rp).await, rp));
    }
    let mut prepared = Vec::new();
    for _ in 0..n {
        let (sess, cookie) = s.session_for(&user, "bench").await;
        let mut hint = String::new();
        for (i, (c, _)) in apps.iter().enumerate() {
            let issued = s.tokens_for(&sess, c, "openid").await;
            if i == 0 {
                hint = warden_core::oauth::tokens::id_token(
                    s.app(),
                    &c.client_id,
                    Some(&user),
                    &issued,
                    None,
                )
                .await
                .unwrap();
            }
        }
        let url = url::Url::parse_with_params(
            &s.url("/oidc/logout"),
            &[
                ("id_token_hint", hint.as_str()),
                ("post_logout_redirect_uri", BYE),
                ("state", "s"),
            ],
        )
        .unwrap()
        .to_string();
        prepared.push((url, cookie));
    }
    let mut lat = Vec::with_capacity(n);
    for chunk in prepared.chunks(conc) {
        let futs = chunk.iter().map(|(url, cookie)| {
            let http = s.http.clone();
            async move {
                let t0 = Instant::now();
                let r = http.get(url).header(COOKIE, cookie).send().await.unwrap();
                let status = r.status().as_u16();
                let _ = r.bytes().await;
                assert!(status == 302 || status == 200, "{status}");
                t0.elapsed()
            }
        });
        lat.extend(futures::future::join_all(futs).await);
    }
    lat.sort();
    lat
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bounded_wait_costs_tens_of_milliseconds_with_apps_that_answer_and_the_wait_with_one_that_does_not(
) {
    let fast = [Duration::from_millis(10), Duration::from_millis(10)];
    let never = [Duration::from_millis(10), Duration::from_secs(3600)];
    let mut rows = Vec::new();
    for (label, delays, wait, n, conc) in [
        ("two apps answering in 10 ms", &fast[..], 0, 100, 1),
        ("two apps answering in 10 ms", &fast[..], 2000, 100, 1),
        ("one app never answers", &never[..], 0, 20, 4),
        ("one app never answers", &never[..], 2000, 20, 4),
    ] {
        let lat = run(wait, delays, n, conc).await;
        let (p50, p99) = (pct(&lat, 0.5), pct(&lat, 0.99));
        rows.push((label, wait, n, conc, p50, p99));
    }
    println!("| apps | WARDEN_LOGOUT_WAIT_MS | logouts (concurrency) | p50 | p99 |");
    println!("|---|---|---|---|---|");
    for (label, wait, n, conc, p50, p99) in &rows {
        println!(
            "| {label} | {wait} | {n} ({conc}) | {:.1} ms | {:.1} ms |",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    let (fast0, fast2, never0, never2) = (&rows[0], &rows[1], &rows[2], &rows[3]);
    // Apps that answer: the wait ends with their receipts, far before its deadline.
    assert!(
        fast2.4 < fast0.4 + Duration::from_millis(500),
        "fast p50 {:?} vs {:?}",
        fast2.4,
        fast0.4
    );
    assert!(
        fast2.5 < Duration::from_millis(1500),
        "fast p99 {:?}",
        fast2.5
    );
    // One app that never answers: the whole wait, then the page; without the wait, at once.
    assert!(
        never2.4 >= Duration::from_millis(2000),
        "never p50 {:?}",
        never2.4
    );
    assert!(
        never2.5 < Duration::from_millis(3000),
        "never p99 {:?}",
        never2.5
    );
    assert!(
        never0.5 < Duration::from_millis(1000),
        "no wait p99 {:?}",
        never0.5
    );
}
