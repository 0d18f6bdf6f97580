//! The local stack reads the `WARDEN_*` settings the functions read (README, Configuration):
//! given to `warden_local::start` as a map (no process-global state), and to the real
//! `warden-local` binary through its environment, as an outside tester runs it. A malformed
//! setting stops the start with the variable's name.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::time::Duration;
use warden_core::admin::ClientSpec;
use warden_tests::flow::{
    authorize, authorize_code, exchange_code, hidden_input, login, post_login, set_cookie_value,
};
use warden_tests::{spawn_with, Options};

const PW: &str = "correct horse battery";
const RP: &str = "https://rp.example/cb";

fn settings(pairs: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_lifetimes_and_the_idle_timeout_come_from_the_settings() {
    let s = spawn_with(Options {
        env: settings(&[
            ("WARDEN_ACCESS_TOKEN_SECONDS", "30"),
            ("WARDEN_REFRESH_TOKEN_SECONDS", "600"),
            ("WARDEN_SESSION_IDLE_SECONDS", "2"),
            ("WARDEN_SESSION_ABSOLUTE_SECONDS", "7200"),
            ("WARDEN_REMEMBER_ME_SECONDS", "86400"),
            ("WARDEN_DELIVERY_MAX_ATTEMPTS", "4"),
            ("WARDEN_LOGIN_MAX_FAILURES_PER_IP", "50"),
        ]),
        ..Default::default()
    })
    .await;
    let c = &s.app().config;
    assert_eq!(c.session_absolute, Duration::from_secs(7200));
    assert_eq!(c.remember_me, Duration::from_secs(86400));
    assert_eq!(c.delivery_max_attempts, 4);
    assert_eq!(c.login_max_failures_per_ip, 50);

    s.user("alice", PW, &[]).await;
    let (_, secret) = s
        .client(ClientSpec {
            client_id: Some("app1".into()),
            name: "App".into(),
            redirect_uris: vec![RP.into()],
            ..Default::default()
        })
        .await;
    let cookie = login(&s, "alice", PW).await;
    let (code, _, _) = authorize_code(&s, &cookie, "app1", RP, &[]).await;
    let r = exchange_code(&s, "app1", secret.as_deref().unwrap(), &code, RP, None).await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["expires_in"], 30, "WARDEN_ACCESS_TOKEN_SECONDS: {t}");
    let introspected: Value = s
        .http
        .post(s.url("/oauth2/introspect"))
        .basic_auth("app1", secret.as_deref())
        .form(&[("token", t["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true, "{introspected}");
    let lifetime = introspected["exp"].as_i64().unwrap() - introspected["iat"].as_i64().unwrap();
    assert_eq!(
        lifetime, 600,
        "WARDEN_REFRESH_TOKEN_SECONDS: {introspected}"
    );

    // WARDEN_SESSION_IDLE_SECONDS=2: three quiet seconds later the session is over.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = authorize(
        &s,
        &cookie,
        &[
            ("response_type", "code"),
            ("client_id", "app1"),
            ("redirect_uri", RP),
            ("scope", "openid"),
            ("prompt", "none"),
        ],
    )
    .await;
    assert_eq!(r.param("error"), Some("login_required"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_security_and_the_login_limit_come_from_the_settings() {
    let s = spawn_with(Options {
        env: settings(&[
            ("WARDEN_COOKIE_SECURE", "true"),
            ("WARDEN_LOGIN_MAX_FAILURES", "1"),
        ]),
        ..Default::default()
    })
    .await;
    s.user("bob", PW, &[]).await;
    // An http issuer's cookies are plain by default; WARDEN_COOKIE_SECURE=true makes them
    // Secure and __Host- prefixed.
    let r = post_login(&s, "bob", PW, &[]).await;
    assert_eq!(r.status(), 303);
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-warden_session="))
        .expect("a __Host- session cookie")
        .to_string();
    assert!(session.contains("Secure"), "{session}");
    // WARDEN_LOGIN_MAX_FAILURES=1: the second attempt after a failure is refused.
    let r = post_login(&s, "bob", "wrong password", &[]).await;
    assert_eq!(
        r.status(),
        200,
        "the failure itself is the login page again"
    );
    let r = post_login(&s, "bob", "wrong password", &[]).await;
    assert_eq!(r.status(), 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_setting_stops_the_start_with_its_name() {
    let dir = std::env::temp_dir().join(format!(
        "warden-settings-{}",
        warden_core::platform::crypto::random_id()
    ));
    for (var, bad) in [
        ("WARDEN_ACCESS_TOKEN_SECONDS", "soon"),
        ("WARDEN_SESSION_IDLE_SECONDS", "0"),
        ("WARDEN_COOKIE_SECURE", "yes"),
        ("WARDEN_LOGIN_MAX_FAILURES", "-3"),
        ("WARDEN_DELIVERY_MAX_ATTEMPTS", "5000"),
        ("WARDEN_KEY_ENCRYPTION_KEY", "not-a-key"),
    ] {
        let e = warden_local::start(Options {
            addr: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.clone(),
            env: settings(&[(var, bad)]),
            ..Default::default()
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("{var}={bad} must stop the start"));
        assert!(e.contains(var), "{var}={bad}: {e}");
        assert!(!dir.exists(), "nothing was created before the check: {e}");
    }
}

/// The binary with a clean `WARDEN_*` environment (and a key-encryption key) plus `env`.
fn command(args: &[&str], env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = std::process::Command::new(warden_tests::warden_local_bin());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("WARDEN_") {
            cmd.env_remove(k);
        }
    }
    let kek = warden_core::keys::protection::KeyProtection::random_local();
    cmd.args(args)
        .env("WARDEN_KEY_ENCRYPTION_KEY", kek.local_text().unwrap())
        .env("WARDEN_METRICS", "off")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

/// A child process killed (by its handle) when dropped.
struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the binary printed at start: its base URL and the seeded demo credentials.
#[derive(Default)]
struct Banner {
    base: Option<String>,
    user: Option<(String, String)>,
    client: Option<(String, String)>,
    redirect_uri: Option<String>,
}

fn pair(line: &str) -> Option<(String, String)> {
    let (a, b) = line.split_once(" / ")?;
    Some((a.trim().to_string(), b.trim().to_string()))
}

fn read_banner(child: &mut Child) -> Banner {
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut b = Banner::default();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while b.base.is_none() || b.user.is_none() || b.client.is_none() || b.redirect_uri.is_none() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("warden-local prints its banner");
        let line = line.trim();
        if let Some(v) = line.strip_prefix("Warden is running at ") {
            b.base = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("user:") {
            b.user = pair(v);
        } else if let Some(v) = line.strip_prefix("client:") {
            b.client = pair(v);
        } else if let Some(v) = line.strip_prefix("redirect_uri:") {
            b.redirect_uri = Some(v.trim().to_string());
        }
    }
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reads_the_access_token_lifetime_from_its_environment() {
    let mut child = Child(
        command(
            &["--memory", "--addr", "127.0.0.1:0"],
            &[("WARDEN_ACCESS_TOKEN_SECONDS", "30")],
        )
        .spawn()
        .expect("warden-local starts"),
    );
    let b = read_banner(&mut child);
    let (base, (user, password), (client_id, secret), redirect_uri) = (
        b.base.unwrap(),
        b.user.unwrap(),
        b.client.unwrap(),
        b.redirect_uri.unwrap(),
    );
    let http = warden_tests::no_redirect_client();

    // The seeded demo user signs in through the login page, the demo app gets a code.
    let r = http.get(format!("{base}/login")).send().await.unwrap();
    let csrf = set_cookie_value(r.headers(), "warden_csrf").expect("csrf cookie");
    let token = hidden_input(&r.text().await.unwrap(), "csrf_token").expect("csrf field");
    let r = http
        .post(format!("{base}/login"))
        .header("cookie", format!("warden_csrf={csrf}"))
        .form(&[
            ("username", user.as_str()),
            ("password", password.as_str()),
            ("csrf_token", token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "the demo user signs in");
    let cookie = warden_tests::flow::cookie_header_from(r.headers());
    let authorize = warden_core::http::with_query(
        &format!("{base}/oauth2/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("scope", "openid"),
            ("state", "s"),
        ],
    );
    let r = http
        .get(authorize)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    let t: Value = http
        .post(format!("{base}/oauth2/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(t["expires_in"], 30, "WARDEN_ACCESS_TOKEN_SECONDS=30: {t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_refuses_a_malformed_setting_by_name_and_flags_win() {
    let mut child = Child(
        command(
            &["--memory", "--addr", "127.0.0.1:0"],
            &[("WARDEN_SESSION_IDLE_SECONDS", "fifteen minutes")],
        )
        .spawn()
        .expect("warden-local runs"),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "warden-local started despite WARDEN_SESSION_IDLE_SECONDS=\"fifteen minutes\""
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("WARDEN_SESSION_IDLE_SECONDS") && stderr.contains("fifteen minutes"),
        "{stderr}"
    );
    // A flag wins over the variable it stands for (the malformed value is never read).
    let mut child = Child(
        command(
            &[
                "--memory",
                "--addr",
                "127.0.0.1:0",
                "--session-idle-seconds",
                "60",
            ],
            &[("WARDEN_SESSION_IDLE_SECONDS", "fifteen minutes")],
        )
        .spawn()
        .expect("warden-local starts"),
    );
    assert!(read_banner(&mut child).base.is_some());
}
