//! Sessions ended by `warden-admin` outside the serving process reach the apps within
//! seconds: without a queue the CLI writes its deliveries due at once and the local stack's
//! relay (every 5 s) sends them; with a queue (`--queue-url`) the CLI enqueues them at once,
//! as the functions do. The CLI runs as the binary would (`run`: its own DynamoDB client on
//! the stack's engine).

mod logout_common;

use logout_common::own_checks;
use std::time::{Duration, Instant};
use warden_core::admin::ClientSpec;
use warden_tests::flow::{authorize_code, cookie_value, exchange_code, login};
use warden_tests::rp::TestRp;
use warden_tests::{spawn_with, Options, Stack};

const PW: &str = "correct horse battery";
const RP: &str = "https://rp.example/cb";
/// How long an app may wait for its logout after the CLI returns.
const WITHIN: Duration = Duration::from_secs(10);

/// `warden-admin <global flags> <words>` against the stack's engine and table.
async fn admin(s: &Stack, global: &[&str], words: &[&str]) -> Vec<serde_json::Value> {
    let ep = s.running.dynamodb_endpoint.clone();
    let mut args = vec![
        "warden-admin",
        "--dynamodb-endpoint",
        &ep,
        "--table",
        "warden",
    ];
    args.extend_from_slice(global);
    args.extend_from_slice(words);
    let cli = warden_admin::parse_from(args).expect("flags parse");
    let mut none = std::io::Cursor::new(Vec::new());
    warden_admin::run(cli, &mut none)
        .await
        .expect("command runs")
}

/// Alice signed in, and an app with a back-channel URI joined her session through the code
/// flow. Returns the RP, alice's user id and the session id.
async fn alice_in_an_app(s: &Stack) -> (TestRp, String, String) {
    let rp = TestRp::start().await;
    let alice = s.user("alice", PW, &[]).await;
    let (_, secret) = s
        .client(ClientSpec {
            client_id: Some("app1".into()),
            name: "App".into(),
            redirect_uris: vec![RP.into()],
            backchannel_logout_uri: Some(rp.uri()),
            backchannel_logout_session_required: true,
            ..Default::default()
        })
        .await;
    let cookie = login(s, "alice", PW).await;
    let sid = cookie_value(&cookie, "warden_session")
        .and_then(|v| v.split_once('.').map(|(sid, _)| sid.to_string()))
        .expect("session id");
    let (code, _, _) = authorize_code(s, &cookie, "app1", RP, &[]).await;
    let r = exchange_code(s, "app1", secret.as_deref().unwrap(), &code, RP, None).await;
    assert_eq!(r.status(), 200, "the app joins the session");
    (rp, alice.user_id, sid)
}

/// Disable alice from the CLI and check that the app gets her logout token within
/// [`WITHIN`].
async fn disable_and_expect_the_logout(s: &Stack, global: &[&str]) {
    let (rp, user_id, sid) = alice_in_an_app(s).await;
    let out = admin(s, global, &["user", "disable", "--username", "alice"]).await;
    assert_eq!(out[0]["sessions_ended"], 1);
    let start = Instant::now();
    assert_eq!(
        rp.wait_for(1, WITHIN).await,
        1,
        "the app got its logout within {WITHIN:?}"
    );
    let tokens = rp.logout_tokens();
    own_checks(&tokens[0], &s.base, "app1", &user_id, &sid);
    eprintln!(
        "logout arrived {:?} after the CLI returned",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_disabled_from_the_cli_without_a_queue_is_logged_out_of_apps_within_seconds() {
    // The default local stack: in-process queue, the relay every few seconds.
    let s = spawn_with(Options::default()).await;
    disable_and_expect_the_logout(&s, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_queue_the_cli_enqueues_its_logouts_at_once() {
    let moto = warden_tests::moto_endpoint();
    let sqs = warden_core::app::sqs_client(Some(&moto)).await;
    let name = warden_core::platform::crypto::random_id().replace(['-', '_'], "x");
    let url = sqs
        .create_queue()
        .queue_name(format!("logout-{name}"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    // The relay never runs during the test: only the queue can carry the logout.
    let s = spawn_with(Options {
        sqs_queue_url: Some(url.clone()),
        sqs_endpoint: Some(moto.clone()),
        relay_every: Duration::from_secs(3600),
        ..Default::default()
    })
    .await;
    disable_and_expect_the_logout(&s, &["--queue-url", &url, "--sqs-endpoint", &moto]).await;
}
