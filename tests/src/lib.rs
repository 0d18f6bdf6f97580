//! The end-to-end harness: one call starts the whole local stack in-process on an ephemeral
//! port with its own in-memory engine, so every test talks HTTP to a fresh Warden.
//!
//! Real engines only: the embedded dynoxide engine, and moto server (started by the test
//! command, found through `MOTO_ENDPOINT`). A test that needs moto and does not find it
//! fails loudly — it never skips.

use std::sync::Arc;
use warden_core::admin::{self, ClientSpec};
use warden_core::oauth::tokens::Issued;
use warden_core::store::dynamodb_client;
use warden_core::store::schema::{
    keys, ClientItem, CodeGrant, IdClaims, SessionItem, SessionStatus, Shards, UserItem,
};
use warden_core::{App, Store};
pub use warden_local::{Options, Running};

pub mod browser;
pub mod faults;
pub mod flow;
pub mod rp;
pub mod ssf_receiver;

/// A running Warden for one test.
pub struct Stack {
    pub running: Running,
    pub base: String,
    /// An HTTP client that does not follow redirects and keeps no cookies.
    pub http: reqwest::Client,
}

/// Start a fresh stack (in-memory engine, ephemeral port, seeded My Account client).
pub async fn spawn() -> Stack {
    spawn_with(Options::default()).await
}

/// Start a fresh stack with options (address and storage are always ephemeral).
pub async fn spawn_with(mut opts: Options) -> Stack {
    opts.addr = "127.0.0.1:0".parse().expect("addr");
    // Tests never touch the developer's `.warden/`: unless a test names its own data
    // directory, the engine is in memory.
    if opts.dynamodb_endpoint.is_none() && opts.data_dir == std::path::Path::new(".warden") {
        opts.memory = true;
    }
    let running = warden_local::start(opts).await.expect("local stack starts");
    Stack {
        base: running.base_url.clone(),
        running,
        http: no_redirect_client(),
    }
}

/// A stack whose DynamoDB client is metered by `rt` (requests, and capacity units when made
/// with [`RoundTrips::measuring_units`](warden_core::store::RoundTrips::measuring_units)),
/// prepared for measuring one operation at a time: queue sends fail, so deliveries stay in
/// the outbox (no background dispatcher writes); `username` (password
/// [`METERED_PASSWORD`], may view and end any session); a confidential client `client_name`
/// redirecting to `redirect_uri`, with a back-channel URI; and warm caches (the client and
/// the signing keys, through one login and one authorization). Returns the stack, the client
/// and its secret.
pub async fn metered_stack(
    rt: &warden_core::store::RoundTrips,
    username: &str,
    client_name: &str,
    redirect_uri: &str,
) -> (Stack, ClientItem, String) {
    let s = spawn_with(Options {
        round_trips: Some(rt.clone()),
        ..Default::default()
    })
    .await;
    s.running
        .queue
        .as_ref()
        .expect("the in-process queue")
        .fail_sends
        .store(true, std::sync::atomic::Ordering::SeqCst);
    s.user(
        username,
        METERED_PASSWORD,
        &["internal_session_view", "internal_session_delete"],
    )
    .await;
    let (c, secret) = s
        .client(ClientSpec {
            name: client_name.into(),
            redirect_uris: vec![redirect_uri.into()],
            backchannel_logout_uri: Some("http://127.0.0.1:9/bc".into()),
            scopes: vec![
                "openid".into(),
                "profile".into(),
                "offline_access".into(),
                "internal_login".into(),
            ],
            ..Default::default()
        })
        .await;
    let secret = secret.expect("a confidential client's secret");
    let cookie = flow::login(&s, username, METERED_PASSWORD).await;
    flow::authorize_code(&s, &cookie, &c.client_id, redirect_uri, &[]).await;
    (s, c, secret)
}

/// The password of [`metered_stack`]'s user.
pub const METERED_PASSWORD: &str = "correct horse battery";

/// An HTTP client that neither follows redirects nor stores cookies.
pub fn no_redirect_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

impl Stack {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
    pub fn app(&self) -> &Arc<App> {
        &self.running.app
    }
    pub fn store(&self) -> &Store {
        &self.running.app.store
    }
    /// Create a user with the given roles (extra scopes it may be granted).
    pub async fn user(&self, username: &str, password: &str, roles: &[&str]) -> UserItem {
        let roles: Vec<String> = roles.iter().map(|s| s.to_string()).collect();
        admin::create_user(
            self.store(),
            username,
            password,
            username,
            &format!("{username}@example.com"),
            &roles,
        )
        .await
        .expect("user created")
    }
    /// A live session for `user` created directly in the store (no login page), and the
    /// `Cookie` header value a browser would send for it.
    pub async fn session_for(&self, user: &UserItem, user_agent: &str) -> (SessionItem, String) {
        let (s, cookie) =
            warden_core::session::create(self.app(), user, false, user_agent, "127.0.0.1")
                .await
                .expect("session created");
        let header = format!(
            "{}={}; {}=bs-{}",
            warden_core::session::SESSION_COOKIE,
            cookie,
            warden_core::session::BROWSER_STATE_COOKIE,
            s.sid
        );
        (s, header)
    }

    /// Tokens for `client` mapped to `session` exactly as a code exchange would issue them
    /// (the app joins the session's app list too). `scope` is space-separated.
    pub async fn tokens_for(
        &self,
        session: &SessionItem,
        client: &ClientItem,
        scope: &str,
    ) -> Issued {
        let s = warden_core::session::touch(
            self.app(),
            session,
            Some((
                &client.client_id,
                &client.name,
                client.backchannel_logout_uri.is_some(),
            )),
        )
        .await
        .expect("touch")
        .expect("session live");
        let code = CodeGrant::for_session(
            &s,
            &client.client_id,
            &client.redirect_uris[0],
            scope,
            IdClaims::default(),
            warden_core::platform::time::now_s() + 60,
        );
        warden_core::oauth::tokens::issue_for_code(
            self.app(),
            client,
            &code,
            None,
            &warden_core::platform::crypto::random_id(),
        )
        .await
        .expect("tokens issued")
    }

    /// Assert that session `sid` was ended by an RP-initiated logout.
    pub async fn assert_rp_logged_out(&self, sid: &str) {
        let sess = self
            .store()
            .get_session(sid)
            .await
            .expect("read the session")
            .unwrap_or_else(|| panic!("no session {sid}"));
        assert_eq!(sess.status, "ended", "the RP's logout ended the session");
        assert_eq!(sess.ended_reason.as_deref(), Some("rp_logout"));
    }

    /// Register a client; returns it and its secret (confidential clients).
    pub async fn client(&self, spec: ClientSpec) -> (ClientItem, Option<String>) {
        admin::create_client(self.store(), &spec)
            .await
            .expect("client created")
    }
}

/// The `warden-local` binary next to the test executable (target/debug); the test command
/// builds it first.
pub fn warden_local_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join(format!("warden-local{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: build it first (`cargo build -p warden-local`, or run the workspace \
         tests, which build every workspace binary)",
        bin.display()
    );
    bin
}

/// The moto server the test command started. Panics (fails the test) if it is not there.
pub fn moto_endpoint() -> String {
    match std::env::var("MOTO_ENDPOINT") {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "MOTO_ENDPOINT is not set: these tests need moto server. Run them through the \
             test command (./test.sh), which installs and starts it."
        ),
    }
}

/// A store on a new, uniquely named table in moto.
pub async fn moto_store() -> Store {
    let ep = moto_endpoint();
    let client = dynamodb_client(Some(&ep), None).await;
    let table = format!(
        "t{}",
        warden_core::platform::crypto::random_id().replace(['-', '_'], "x")
    );
    warden_core::store::create_table(&client, &table)
        .await
        .expect("moto create table");
    Store::new(client, table)
}

/// An embedded dynoxide engine on an ephemeral port (its own thread), and a store on it.
pub struct Dynoxide {
    pub endpoint: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn dynoxide_store() -> (Store, Dynoxide) {
    let db = dynoxide::Database::memory().expect("dynoxide");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).expect("listener");
            let _ = dynoxide::server::serve_with_shutdown(l, db, async move {
                let _ = rx.await;
            })
            .await;
        });
    });
    let endpoint = format!("http://{addr}");
    let client = dynamodb_client(Some(&endpoint), None).await;
    warden_core::store::create_table(&client, "warden")
        .await
        .expect("dynoxide create table");
    (
        Store::new(client, "warden"),
        Dynoxide {
            endpoint,
            _stop: tx,
        },
    )
}

/// A live session of user `uid` as a login writes it (user agent `Mozilla/5.0 Firefox`,
/// address `10.0.0.1`, no apps), created and last used at `created_ms`, idle expiry
/// `idle_exp` (its absolute expiry 1,000 s later), its index keys hashed into `shards`.
pub fn live_session_item(
    uid: &str,
    sid: &str,
    created_ms: i64,
    idle_exp: i64,
    shards: Shards,
) -> SessionItem {
    SessionItem {
        pk: keys::session_pk(sid),
        sk: keys::SESSION_SK.into(),
        sid: sid.into(),
        user_id: uid.into(),
        username: uid.into(),
        secret_hash: "h".into(),
        created_ms,
        last_seen_ms: created_ms,
        auth_time: created_ms / 1000,
        idle_expires_at: idle_exp,
        absolute_expires_at: idle_exp + 1000,
        remember_me: false,
        user_agent: "Mozilla/5.0 Firefox".into(),
        ip: "10.0.0.1".into(),
        status: SessionStatus::Active,
        ended_reason: None,
        ended_at_ms: None,
        ended_by: None,
        version: 0,
        apps: std::collections::BTreeMap::new(),
        gsi1pk: Some(keys::user_sessions_gsi(uid)),
        gsi1sk: Some(keys::user_sessions_sort(created_ms, sid)),
        gsi2pk: Some(keys::due_session_gsi(keys::due_shard(sid, shards))),
        gsi2sk: Some(keys::due_sort(idle_exp, sid)),
        gsi3pk: Some(keys::live_gsi(keys::live_shard(sid, shards))),
        gsi3sk: Some(keys::live_sort(created_ms, sid)),
        expires_at: idle_exp + 100_000,
    }
}

/// `both_engines!(name, body)`: module `name` with two tests running `body(&Store)`, one on a
/// fresh embedded dynoxide, one on a fresh moto table.
#[macro_export]
macro_rules! both_engines {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn dynoxide() {
                let (store, _engine) = $crate::dynoxide_store().await;
                super::$body(&store).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn moto() {
                let store = $crate::moto_store().await;
                super::$body(&store).await;
            }
        }
    };
}
