//! `docs/openapi.yaml`: it describes exactly the `/api/` routes of the route table and the
//! SSF transmitter's (function `ssf`) (both directions), the API serves it, and schemathesis (PyPI) finds no 5xx and no response
//! that violates it, against a live local stack with a real admin token.
//!
//! Schemathesis comes from the repo's venv (`WARDEN_VENV`, else `<repo>/.venv`), which
//! `infra/test.sh` installs; if it is missing this test fails — it never skips.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use warden_core::admin::ClientSpec;
use warden_local::routes::ROUTES;
use warden_tests::spawn;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

fn spec_path() -> PathBuf {
    repo().join("docs/openapi.yaml")
}

fn spec() -> Value {
    let text = std::fs::read_to_string(spec_path()).expect("docs/openapi.yaml");
    serde_norway::from_str(&text).expect("docs/openapi.yaml is YAML")
}

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

#[test]
fn document_and_route_table_match() {
    let doc = spec();
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "OpenAPI 3.1"
    );
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(*m) {
                documented.insert(format!("{} {path}", m.to_uppercase()));
                // Every protected operation documents the RFC 6750 answers.
                let public = op
                    .get("security")
                    .is_some_and(|s| s == &serde_json::json!([]));
                if !public {
                    for code in ["400", "401", "403"] {
                        assert!(
                            op["responses"].get(code).is_some(),
                            "{m} {path} lacks a {code} response"
                        );
                    }
                }
                assert!(
                    op["operationId"].is_string(),
                    "{m} {path} lacks an operationId"
                );
            }
        }
    }
    let routed: BTreeSet<String> = ROUTES
        .iter()
        .filter(|r| r.path.starts_with("/api/") || r.function == "ssf")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty(),
        "routes missing from docs/openapi.yaml: {missing:?}"
    );
    assert!(extra.is_empty(), "documented but not routed: {extra:?}");
    // Every $ref resolves.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "$ref" {
                        if let Some(s) = x.as_str() {
                            out.push(s.to_string());
                        }
                    }
                    refs(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let ptr = r.strip_prefix('#').expect("local refs only");
        assert!(doc.pointer(ptr).is_some(), "dangling $ref {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_serves_the_document() {
    let s = spawn().await;
    let r = s
        .http
        .get(s.url("/api/users/v1/openapi.yaml"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers().get("content-type").unwrap().to_str().unwrap(),
        "application/yaml"
    );
    let body = r.text().await.unwrap();
    assert_eq!(body, std::fs::read_to_string(spec_path()).unwrap());
}

fn schemathesis() -> PathBuf {
    let venv = std::env::var("WARDEN_VENV")
        .ok()
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"));
    let bin = venv.join("bin/schemathesis");
    assert!(
        bin.exists(),
        "schemathesis not found at {}: run the tests through ./infra/test.sh, which installs \
         it into the repo's .venv (or set WARDEN_VENV)",
        bin.display()
    );
    bin
}

/// Run schemathesis once; panics with its output unless it passes.
async fn run_schemathesis(args: Vec<String>, workdir: PathBuf) -> String {
    let bin = schemathesis();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&bin)
            .args(&args)
            .current_dir(&workdir)
            .env("NO_COLOR", "1")
            .env("SCHEMATHESIS_HOOKS", "")
            .output()
    })
    .await
    .expect("join")
    .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "schemathesis found problems\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_errors_or_schema_violations() {
    let bin = schemathesis();
    assert!(bin.exists());
    let s = spawn().await;
    let rp = warden_tests::rp::TestRp::start().await;
    rp.set_status(400);
    let console = s
        .client(ClientSpec {
            client_id: Some("console".into()),
            name: "Admin console".into(),
            redirect_uris: vec!["http://localhost:9999/cb".into()],
            scopes: vec![
                "openid".into(),
                "internal_login".into(),
                "internal_session_view".into(),
                "internal_session_delete".into(),
            ],
            ..Default::default()
        })
        .await
        .0;
    let rp_app = s
        .client(ClientSpec {
            client_id: Some("rp-app".into()),
            name: "RP".into(),
            redirect_uris: vec!["http://localhost:9998/cb".into()],
            backchannel_logout_uri: Some(rp.uri()),
            ..Default::default()
        })
        .await
        .0;
    let all = [
        "internal_login",
        "internal_session_view",
        "internal_session_delete",
    ];
    let admin = s.user("admin", "password-admin", &all).await;
    let alice = s.user("alice", "password-alice", &["internal_login"]).await;
    // Real data for the fuzzed path parameters: alice's sessions (one ended with a rejected
    // delivery, so receipts and replay have something to show).
    let mut alice_sids = Vec::new();
    for ua in [
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0",
        "curl/8.0",
        "",
    ] {
        let (a, _) = s.session_for(&alice, ua).await;
        let _ = s.tokens_for(&a, &rp_app, "openid").await;
        alice_sids.push(a.sid);
    }
    warden_core::session::terminate(
        s.app(),
        &alice_sids[0],
        None,
        warden_core::store::schema::EndReason::Admin,
    )
    .await
    .expect("terminate");
    // Three admin sessions, one token per schemathesis run (see below).
    let (sa1, _) = s.session_for(&admin, "Mozilla/5.0 Chrome/120.0").await;
    let (sa2, _) = s.session_for(&admin, "Mozilla/5.0 Chrome/120.0").await;
    let (sa3, _) = s.session_for(&admin, "Mozilla/5.0 Chrome/120.0").await;
    let t1 = s
        .tokens_for(
            &sa1,
            &console,
            "openid internal_login internal_session_view internal_session_delete",
        )
        .await;
    let t2 = s
        .tokens_for(
            &sa2,
            &console,
            "openid internal_login internal_session_view internal_session_delete",
        )
        .await;
    let t3 = s
        .tokens_for(
            &sa3,
            &console,
            "openid internal_login internal_session_view internal_session_delete",
        )
        .await;
    // Let the rejected delivery settle.
    let start = std::time::Instant::now();
    while rp.received().is_empty() && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let work = std::env::temp_dir().join(format!(
        "warden-st-{}",
        warden_core::platform::crypto::random_id()
    ));
    std::fs::create_dir_all(&work).unwrap();
    let q = |v: &[String]| {
        v.iter()
            .map(|x| format!("{x:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let config = format!(
        "[dictionaries.users]\nvalues = [{}]\n\n[dictionaries.sessions]\nvalues = [{}]\n\n\
         [dictionaries.clients]\nvalues = [\"rp-app\"]\n\n[parameters]\n\
         \"path.user-id\" = {{ dictionary = \"users\", probability = 0.6 }}\n\
         \"path.session-id\" = {{ dictionary = \"sessions\", probability = 0.6 }}\n\
         \"path.client-id\" = {{ dictionary = \"clients\", probability = 0.6 }}\n",
        q(std::slice::from_ref(&alice.user_id)),
        q(&alice_sids),
    );
    // Reads: every phase, and values seen in responses feed later requests.
    let read_cfg = work.join("read.toml");
    std::fs::write(&read_cfg, &config).unwrap();
    // Writes: values seen in responses (the admin's own user and session ids) must not be
    // fed back, or the run would end the admin's session and revoke its own token; path
    // parameters come from the dictionaries (alice) or are random.
    let write_cfg = work.join("write.toml");
    std::fs::write(
        &write_cfg,
        format!(
            "{config}\n[phases.coverage]\nextra-data-sources = {{ responses = false }}\n\n\
             [phases.fuzzing]\nextra-data-sources = {{ responses = false }}\n\n\
             [phases.stateful]\nenabled = false\n"
        ),
    )
    .unwrap();
    let common = |cfg: &PathBuf, token: &str| -> Vec<String> {
        vec![
            "--config-file".into(),
            cfg.display().to_string(),
            "run".into(),
            spec_path().display().to_string(),
            "--url".into(),
            s.base.clone(),
            "-H".into(),
            format!("Authorization: Bearer {token}"),
            "--checks".into(),
            "not_a_server_error,response_schema_conformance".into(),
            "--max-examples".into(),
            "20".into(),
            "--generation-database".into(),
            "none".into(),
            "--workers".into(),
            "1".into(),
            "--seed".into(),
            "1".into(),
            "--report".into(),
            "har".into(),
            "--report-dir".into(),
            work.display().to_string(),
        ]
    };
    let mut runs = Vec::new();
    // 1. Every read operation.
    let mut a = common(&read_cfg, &t1.access_token);
    a.extend(["--include-method".into(), "GET".into()]);
    runs.push(a);
    // 2. Every write operation but "end all my sessions".
    let mut b = common(&write_cfg, &t2.access_token);
    b.extend([
        "--exclude-method".into(),
        "GET".into(),
        "--exclude-operation-id".into(),
        "endMySessions".into(),
    ]);
    runs.push(b);
    // 3. "End all my sessions" (it ends the admin's own session: its own token).
    let mut c = common(&write_cfg, &t3.access_token);
    c.extend(["--include-operation-id".into(), "endMySessions".into()]);
    runs.push(c);
    let mut outs = Vec::new();
    for args in runs {
        outs.push(run_schemathesis(args, work.clone()).await);
    }
    // `KEEP_ST=1` keeps the configs and HAR reports of the runs for inspection.
    if std::env::var("KEEP_ST").is_err() {
        let _ = std::fs::remove_dir_all(&work);
    } else {
        println!("schemathesis reports kept in {}", work.display());
    }
    println!("{}", outs.join("\n"));
}
