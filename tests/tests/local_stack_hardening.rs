//! The local stack's own exposure, beyond what the functions check: a client that sends a
//! request slowly holds a connection only up to the header and body deadlines, and the data
//! directory (the users, sessions and wrapped keys) is readable by its owner only.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warden_tests::{spawn_with, Options};

/// Read what the server sends until it closes the connection or `limit` passes; returns the
/// bytes and whether the server closed it.
async fn read_until_closed(
    stream: &mut tokio::net::tcp::OwnedReadHalf,
    limit: Duration,
) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into(), false),
        }
    }
}

fn short_deadlines() -> Options {
    Options {
        header_read_timeout: Duration::from_millis(400),
        body_read_timeout: Duration::from_millis(400),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_trickled_past_the_deadline_gets_a_408_and_the_connection_closes() {
    let s = spawn_with(short_deadlines()).await;
    let stream = TcpStream::connect(s.running.addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let head = format!(
        "POST /oauth2/token HTTP/1.1\r\nHost: {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n",
        s.running.addr
    );
    wr.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    // One byte every 50 ms: the connection is never idle, but the body is never complete.
    let trickle = tokio::spawn(async move {
        for _ in 0..200 {
            if wr.write_all(b"a").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let (resp, closed) = read_until_closed(&mut rd, Duration::from_secs(5)).await;
    let took = started.elapsed();
    trickle.abort();
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp:?}");
    assert!(closed, "the connection is closed after the 408");
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(3),
        "answered after {took:?}"
    );
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(body).expect("a JSON error body");
    assert_eq!(v["code"], "SES-40801", "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_gets_a_408() {
    let s = spawn_with(short_deadlines()).await;
    let mut stream = TcpStream::connect(s.running.addr).await.unwrap();
    let req = format!(
        "POST /oauth2/token HTTP/1.1\r\nHost: {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=",
        s.running.addr
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let (mut rd, _wr) = stream.into_split();
    let (resp, _) = read_until_closed(&mut rd, Duration::from_secs(5)).await;
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp:?}");
    assert!(resp.contains("\"code\":\"SES-40801\""), "{resp:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_that_never_end_close_the_connection_at_the_deadline() {
    let s = spawn_with(short_deadlines()).await;
    let mut stream = TcpStream::connect(s.running.addr).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let (mut rd, _wr) = stream.into_split();
    let (resp, closed) = read_until_closed(&mut rd, Duration::from_secs(5)).await;
    assert!(closed, "still open after {:?}: {resp:?}", started.elapsed());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "closed after {:?}",
        started.elapsed()
    );
    assert!(!resp.contains("200 OK"), "{resp:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_sent_in_time_are_served_as_before() {
    let s = spawn_with(short_deadlines()).await;
    let r = s
        .http
        .post(s.url("/oauth2/token"))
        .form(&[("grant_type", "authorization_code"), ("code", "nope")])
        .send()
        .await
        .unwrap();
    assert!(
        matches!(r.status().as_u16(), 400 | 401),
        "an ordinary OAuth error, not a timeout: {}",
        r.status()
    );
    let r = s.http.get(s.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

/// Every entry under `dir` with its permission bits.
#[cfg(unix)]
fn modes(dir: &Path) -> Vec<(PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let mode = e.metadata().unwrap().permissions().mode() & 0o777;
        out.push((e.path(), mode));
        if e.file_type().unwrap().is_dir() {
            out.extend(modes(&e.path()));
        }
    }
    out
}

fn temp_dir(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "warden-{what}-{}",
        warden_core::platform::crypto::random_id().replace(['-', '_'], "x")
    ))
}

/// Start a stack on `data_dir`, write through it, stop it.
async fn run_stack_on(data_dir: &Path) {
    let s = spawn_with(Options {
        data_dir: data_dir.to_path_buf(),
        ..Default::default()
    })
    .await;
    let name = format!("u{}", warden_core::platform::crypto::random_id());
    s.user(&name, "correct horse", &[]).await;
    s.running.shutdown().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_data_dir_and_every_file_in_it_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let root = temp_dir("data");
    let data = root.join("nested").join(".warden");
    run_stack_on(&data).await;
    let dir_mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700, "{}", data.display());
    let entries = modes(&data);
    let names: Vec<String> = entries
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n == "warden.db"), "{names:?}");
    assert!(names.iter().any(|n| n == "key-encryption-key"), "{names:?}");
    for (path, mode) in &entries {
        assert_eq!(*mode, 0o600, "{} is {mode:o}", path.display());
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_stacks_world_readable_files_are_made_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let data = temp_dir("old");
    // As an older stack left them: the directory and the database readable by everyone.
    run_stack_on(&data).await;
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (path, _) in modes(&data) {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    run_stack_on(&data).await;
    for (path, mode) in modes(&data) {
        assert_eq!(mode, 0o600, "{} is {mode:o}", path.display());
    }
    // The directory the user already had keeps its mode (it may be shared on purpose).
    let dir_mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o755);
    std::fs::remove_dir_all(&data).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_http_issuer_off_loopback_still_starts_without_my_account() {
    // My Account's redirect URI is the issuer's own; plain http off loopback breaks the
    // client URI rules, so the seed leaves My Account out (and says so) instead of failing.
    let s = spawn_with(Options {
        issuer: Some("http://192.0.2.10:8080".into()),
        seed: true,
        ..Default::default()
    })
    .await;
    assert!(
        s.running.seeded.is_some(),
        "the demo app and user are seeded"
    );
    let store = s.store();
    assert!(store.get_client("myaccount").await.unwrap().is_none());
    assert!(store.get_client("demo-app").await.unwrap().is_some());
}
