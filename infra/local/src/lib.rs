//! `warden-local`: the whole of Warden on one machine, no AWS account needed.
//!
//! An embedded DynamoDB-compatible engine (dynoxide) on a loopback port, the table created
//! from `warden_core::store::schema`, every HTTP function mounted with the routes of
//! `template.yaml`, and the dispatcher and relay as background tasks on an in-process queue
//! (or SQS when `--sqs-queue-url` is given).

pub mod apigw;
pub mod routes;
pub mod seed;

use bytes::Bytes;
use futures::FutureExt;
use http::StatusCode;
use http_body_util::{BodyExt, Full, Limited};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::Body;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use warden_core::keys::protection::KeyProtection;
use warden_core::outbound::client::{Lookup, OutboundClient};
use warden_core::outbound::policy::AddressPolicy;
use warden_core::outbound::queue::{
    DeliveryMessage, InProcessQueue, LogoutQueue, QueueMessage, SqsQueue,
};
use warden_core::store::DeliveryOutcome;
use warden_core::store::{dynamodb_client_with, RoundTrips};
use warden_core::{ApiError, App, Config, Store};

/// How to start the stack.
#[derive(Debug, Clone)]
pub struct Options {
    pub addr: SocketAddr,
    /// Throwaway in-memory engine instead of `.warden/warden.db`.
    pub memory: bool,
    pub data_dir: PathBuf,
    /// Use this DynamoDB endpoint (moto, AWS) instead of the embedded engine.
    pub dynamodb_endpoint: Option<String>,
    /// Use this SQS queue instead of the in-process queue.
    pub sqs_queue_url: Option<String>,
    pub sqs_endpoint: Option<String>,
    /// Issuer URL; default `http://<addr>`.
    pub issuer: Option<String>,
    pub table: String,
    /// Create the demo user and client on first start.
    pub seed: bool,
    /// Relay period: 5 s, so that deliveries another process left due (`warden-admin user
    /// disable` without a queue) go out within seconds. The deployed relay runs once a
    /// minute (its schedule in `template.yaml`).
    pub relay_every: Duration,
    /// First retry delay of the local dispatcher: it follows the deployed retry schedule
    /// (`warden_core::logout::backchannel::retry_delay`, 2 s doubling to a 1 h cap, ±10 %) scaled so
    /// that this takes the place of its first 2 s (production: 2 s; tests shorten it).
    pub retry_base: Duration,
    /// Back-channel POST timeout.
    pub delivery_timeout: Duration,
    /// The `WARDEN_*` settings to read instead of the process environment (`None`: the
    /// environment), as name/value pairs, the last of a name winning: the same variables the
    /// functions read ([`warden_core::config::apply_settings`], `WARDEN_KMS_KEY_ID` /
    /// `WARDEN_KEY_ENCRYPTION_KEY`, `WARDEN_SQS_ENDPOINT`). The issuer and table come from
    /// [`Options::issuer`] and [`Options::table`]. Tests give them here, so that no test
    /// depends on process-global state.
    pub env: Option<Vec<(String, String)>>,
    /// Change the configuration before the app is built (tests).
    pub configure: Option<fn(&mut Config)>,
    /// The outbound client's address policy and name lookup instead of the configuration's
    /// (tests: a deployment's policy, which refuses loopback, although this stack's issuer
    /// is loopback; host names answered from a fixed map).
    pub outbound: Option<(AddressPolicy, Arc<dyn Lookup>)>,
    /// Count DynamoDB round trips (tests).
    pub round_trips: Option<RoundTrips>,
    /// Per-attempt DynamoDB timeout (tests shorten it).
    pub dynamodb_attempt_timeout: Duration,
    /// How long a client may take to send a request's headers before the connection is
    /// closed (hyper's `header_read_timeout`): a slow sender holds no connection longer.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's body once its headers arrived; after
    /// that it gets a 408 and the connection is closed. API Gateway buffers bodies itself,
    /// so no handler ever waits for one; here nothing else bounds a slowly sent body.
    pub body_read_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            memory: false,
            data_dir: PathBuf::from(".warden"),
            dynamodb_endpoint: None,
            sqs_queue_url: None,
            sqs_endpoint: None,
            issuer: None,
            table: "warden".into(),
            seed: true,
            relay_every: Duration::from_secs(5),
            retry_base: Duration::from_secs(2),
            delivery_timeout: Duration::from_secs(5),
            env: None,
            configure: None,
            outbound: None,
            round_trips: None,
            dynamodb_attempt_timeout: warden_core::store::ATTEMPT_TIMEOUT,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
        }
    }
}

impl Options {
    /// Setting `name`: from [`Options::env`] when given, else from the process environment.
    /// Blank counts as unset.
    pub fn setting(&self, name: &str) -> Option<String> {
        let value = match &self.env {
            Some(pairs) => pairs
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone()),
            None => std::env::var(name).ok(),
        };
        value.filter(|v| !v.trim().is_empty())
    }

    /// The configuration the stack runs with: the issuer (default `http://<addr>`) and
    /// table, then every optional setting the functions read
    /// ([`warden_core::config::apply_settings`]), then the queue (`--sqs-queue-url`, else
    /// `WARDEN_QUEUE_URL`). Key protection is added by [`start`]. A malformed setting is an
    /// error naming its variable.
    pub fn config(&self, addr: SocketAddr) -> Result<Config, String> {
        let issuer = self
            .issuer
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let mut config = Config::new(&issuer, &self.table).map_err(|e| e.to_string())?;
        warden_core::config::apply_settings(&mut config, &|name| self.setting(name))
            .map_err(|e| e.to_string())?;
        if self.sqs_queue_url.is_some() {
            config.queue_url = self.sqs_queue_url.clone();
        }
        Ok(config)
    }
}

/// A running stack.
pub struct Running {
    pub addr: SocketAddr,
    pub base_url: String,
    pub app: Arc<App>,
    /// The in-process queue (absent when SQS is used).
    pub queue: Option<Arc<InProcessQueue>>,
    /// Seeded demo credentials (first start only).
    pub seeded: Option<seed::Seeded>,
    pub dynamodb_endpoint: String,
    stop: watch::Sender<bool>,
    engine_thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Stop the listener, the background tasks and the embedded engine.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.engine_thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Start the embedded engine on its own thread and runtime (its requests run behind one
/// SQLite lock). Returns its endpoint URL and the thread.
fn start_engine(
    opts: &Options,
    stop: watch::Receiver<bool>,
) -> Result<(String, std::thread::JoinHandle<()>), String> {
    let db = if opts.memory {
        dynoxide::Database::memory().map_err(|e| format!("dynoxide: {e}"))?
    } else {
        create_private_dir(&opts.data_dir)?;
        let path = opts.data_dir.join(DB_FILE);
        // dynoxide would create the SQLite file with the umask's mode (usually 0644, the
        // users, sessions and wrapped keys readable by everyone on the machine). Created
        // here first, owner-only; SQLite gives its -wal/-shm files the database's mode.
        create_private_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let db = dynoxide::Database::new(&path.to_string_lossy())
            .map_err(|e| format!("dynoxide: {e}"))?;
        restrict_data_files(&opts.data_dir)?;
        db
    };
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| e.to_string())?;
    let addr = std_listener.local_addr().map_err(|e| e.to_string())?;
    let t = std::thread::Builder::new()
        .name("dynoxide".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(_) => return,
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
                    return;
                };
                // TTL: dynoxide does not expire items by itself; sweep every 30 s.
                let sweeper_db = db.clone();
                let sweep_stop = stop.clone();
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(Duration::from_secs(30));
                    loop {
                        tokio::select! {
                            _ = tick.tick() => { let _ = sweeper_db.sweep_ttl(); }
                            _ = stopped(sweep_stop.clone()) => return,
                        }
                    }
                });
                let _ = dynoxide::server::serve_with_shutdown(listener, db, stopped(stop)).await;
            });
        })
        .map_err(|e| e.to_string())?;
    Ok((format!("http://{addr}"), t))
}

/// How the local stack wraps its signing keys: `WARDEN_KMS_KEY_ID` or
/// `WARDEN_KEY_ENCRYPTION_KEY` when set; otherwise, with the embedded engine on disk, a
/// key-encryption key kept beside the data (`<data dir>/key-encryption-key`, created once,
/// mode 0600), so the keys open again after a restart; otherwise (in memory, or an outside
/// engine) a random one for this process.
fn local_key_protection(opts: &Options) -> Result<KeyProtection, String> {
    let from_env = warden_core::config::key_protection_from(
        opts.setting("WARDEN_KMS_KEY_ID").as_deref(),
        opts.setting("WARDEN_KEY_ENCRYPTION_KEY").as_deref(),
    )
    .map_err(|e| e.to_string())?;
    if let Some(p) = from_env {
        return Ok(p);
    }
    if opts.memory || opts.dynamodb_endpoint.is_some() {
        return Ok(KeyProtection::random_local());
    }
    let path = opts.data_dir.join(KEK_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => KeyProtection::local_from_text(&text)
            .ok_or_else(|| format!("{}: not a base64url 256-bit key", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let p = KeyProtection::random_local();
            let text = p.local_text().unwrap_or_default();
            create_private_dir(&opts.data_dir)?;
            write_private(&path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(p)
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The embedded engine's SQLite file in the data directory.
const DB_FILE: &str = "warden.db";
/// The local key-encryption key's file in the data directory.
const KEK_FILE: &str = "key-encryption-key";

/// Create the data directory (and its parents) accessible by its owner only (0700). One
/// that already exists keeps its mode — it may be a directory the user shares on purpose —
/// with a warning when others may read it; the files in it are owner-only either way.
fn create_private_dir(dir: &std::path::Path) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot create {}: {e}", dir.display());
    if dir.is_dir() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir).map_err(fail)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(dir = %dir.display(), mode = format!("{:o}", mode & 0o777),
                    "the data directory is open to other users; its files are owner-only");
            }
        }
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(fail)
}

/// Create `path` empty and owner-only (0600) if it does not exist; an existing file (an
/// older stack's database) is left as it is, for [`restrict_data_files`]. Never truncates.
fn create_private_file(path: &std::path::Path) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path).map(drop)
}

/// Make `path` readable and writable by its owner only (0600).
fn restrict_file(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Make the stack's files in `dir` owner-only: `warden.db` and its `-wal`, `-shm` and
/// `-journal` companions (an older stack created them with the umask's mode) and the
/// key-encryption key.
fn restrict_data_files(dir: &std::path::Path) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = name.starts_with(DB_FILE) || name == KEK_FILE;
        if ours && entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            let path = entry.path();
            restrict_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// Create `path` readable by its owner only, with `text`.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)?.write_all(text.as_bytes())
}

/// Start the stack: engine, table, app, background tasks, HTTP listener.
pub async fn start(opts: Options) -> Result<Running, String> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", opts.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // Checked before anything starts: a malformed setting stops the stack here.
    let mut config = opts.config(addr)?;
    config.key_protection = local_key_protection(&opts)?;
    let sqs_endpoint = opts
        .sqs_endpoint
        .clone()
        .or_else(|| opts.setting("WARDEN_SQS_ENDPOINT"));
    let (endpoint, engine_thread) = match &opts.dynamodb_endpoint {
        Some(ep) => (ep.clone(), None),
        None => {
            let (ep, t) = start_engine(&opts, stop_rx.clone())?;
            (ep, Some(t))
        }
    };
    let client = dynamodb_client_with(
        Some(&endpoint),
        opts.round_trips.clone(),
        opts.dynamodb_attempt_timeout,
    )
    .await;
    warden_core::store::create_table(&client, &opts.table)
        .await
        .map_err(|e| format!("cannot create the table: {e}"))?;
    if engine_thread.is_some() && !opts.memory {
        // The first writes may have created the -wal and -shm files.
        restrict_data_files(&opts.data_dir)?;
    }
    if let Some(f) = opts.configure {
        f(&mut config);
    }
    let store = Store::new(client, &opts.table);
    let queue_url = config.queue_url.clone();
    let (queue, in_proc, rx): (Arc<dyn LogoutQueue>, Option<Arc<InProcessQueue>>, _) =
        match &queue_url {
            Some(url) => (
                Arc::new(SqsQueue {
                    client: warden_core::app::sqs_client(sqs_endpoint.as_deref()).await,
                    url: url.clone(),
                }),
                None,
                None,
            ),
            None => {
                let (q, rx) = InProcessQueue::new();
                let q = Arc::new(q);
                (q.clone(), Some(q), Some(rx))
            }
        };
    let mut app = App::new(config, store, queue);
    let outbound = warden_core::outbound::client::Limits::with_timeout(opts.delivery_timeout);
    app.http = match &opts.outbound {
        Some((policy, lookup)) => OutboundClient::new(policy.clone(), outbound, lookup.clone()),
        None => warden_core::app::outbound_client(&app.config, outbound, None),
    };
    // Every stream change of this stack goes through this process, which forgets the
    // answer then: it is read once here and again only after a change.
    app.signal_streams_ttl = Duration::MAX;
    let app = Arc::new(app);
    app.keys().await.map_err(|e| format!("signing keys: {e}"))?;
    app.signals_wanted()
        .await
        .map_err(|e| format!("ssf streams: {e}"))?;
    let seeded = if opts.seed {
        seed::seed(&app).await.map_err(|e| format!("seed: {e}"))?
    } else {
        None
    };

    if let Some(rx) = rx {
        tokio::spawn(local_dispatcher(
            app.clone(),
            rx,
            opts.retry_base,
            stop_rx.clone(),
        ));
    }
    if let (Some(url), None) = (&queue_url, &in_proc) {
        tokio::spawn(sqs_poller(
            app.clone(),
            url.clone(),
            sqs_endpoint.clone(),
            stop_rx.clone(),
        ));
    }
    tokio::spawn(relay_loop(app.clone(), opts.relay_every, stop_rx.clone()));

    let discovery = Arc::new(CachedDocument::new(warden_fn_discovery::document(&app)));
    let limits = Limits {
        header_read: opts.header_read_timeout,
        body_read: opts.body_read_timeout,
    };
    tokio::spawn(accept_loop(
        listener,
        app.clone(),
        discovery,
        limits,
        stop_rx.clone(),
    ));
    Ok(Running {
        addr,
        base_url: format!("http://{addr}"),
        app,
        queue: in_proc,
        seeded,
        dynamodb_endpoint: endpoint,
        stop: stop_tx,
        engine_thread,
    })
}

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(0);

/// A request id like API Gateway's (unique per process).
fn request_id() -> String {
    format!(
        "local-{}-{}",
        warden_core::platform::time::now_ms(),
        REQUEST_SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

type HttpResponse = http::Response<Full<Bytes>>;

/// A response that is the same for every request, kept as the function produced it (status,
/// headers, body): each answer clones the headers and shares the body's bytes.
struct CachedDocument {
    path: Option<&'static str>,
    /// The JWKS route's path: answered early too (from the key set the app caches).
    jwks_path: Option<&'static str>,
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl CachedDocument {
    /// The discovery document, answered at the discovery route's path.
    fn new(resp: warden_core::http::Resp) -> Self {
        let (parts, body) = to_http(resp).into_parts();
        CachedDocument {
            path: get_path_of("discovery"),
            jwks_path: get_path_of("jwks"),
            status: parts.status,
            headers: parts.headers,
            body: body_bytes(body),
        }
    }

    fn answers(&self, method: &http::Method, path: &str) -> bool {
        method == http::Method::GET && Some(path) == self.path
    }

    fn is_jwks(&self, method: &http::Method, path: &str) -> bool {
        method == http::Method::GET && Some(path) == self.jwks_path
    }

    fn response(&self) -> HttpResponse {
        let mut r = http::Response::new(Full::new(self.body.clone()));
        *r.status_mut() = self.status;
        *r.headers_mut() = self.headers.clone();
        r
    }
}

/// The path of `function`'s GET route.
fn get_path_of(function: &str) -> Option<&'static str> {
    routes::ROUTES
        .iter()
        .find(|r| r.function == function && r.method == "GET")
        .map(|r| r.path)
}

/// The bytes of a `Full` body (it yields them in one frame).
fn body_bytes(body: Full<Bytes>) -> Bytes {
    use hyper::body::Body as _;
    let mut body = std::pin::pin!(body);
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    match body.as_mut().poll_frame(&mut cx) {
        std::task::Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
    }
}

/// How long the listener waits for a client ([`Options::header_read_timeout`],
/// [`Options::body_read_timeout`]).
#[derive(Debug, Clone, Copy)]
struct Limits {
    header_read: Duration,
    body_read: Duration,
}

/// Accept connections and serve HTTP/1.1 on each (hyper directly: the stack does its own
/// routing, like API Gateway). On stop, open connections finish their request and close.
/// A client gets `limits.header_read` for a request's headers (then the connection is
/// closed) and `limits.body_read` for its body (then a 408).
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    discovery: Arc<CachedDocument>,
    limits: Limits,
    stop: watch::Receiver<bool>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(_) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = stopped(stop.clone()) => return,
        };
        let _ = stream.set_nodelay(true);
        let (app, discovery, stop) = (app.clone(), discovery.clone(), stop.clone());
        tokio::spawn(async move {
            let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let (app, discovery) = (app.clone(), discovery.clone());
                async move {
                    Ok::<_, std::convert::Infallible>(
                        serve(app, &discovery, peer, limits.body_read, req).await,
                    )
                }
            });
            let conn = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_read)
                .serve_connection(TokioIo::new(stream), svc);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stopped(stop) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}

async fn serve(
    app: Arc<App>,
    discovery: &CachedDocument,
    peer: SocketAddr,
    body_read: Duration,
    req: http::Request<hyper::body::Incoming>,
) -> HttpResponse {
    // Discovery and JWKS read nothing of the request: answered before routing and before
    // any event is built.
    if discovery.answers(req.method(), req.uri().path()) {
        return discovery.response();
    }
    if discovery.is_jwks(req.method(), req.uri().path()) {
        return to_http(warden_fn_jwks::document(&app, &request_id()).await);
    }
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let method = parts.method.as_str();
    let request_id = request_id();
    if path == "/health" && method == "GET" {
        return to_http(warden_core::http::json_response(
            StatusCode::OK,
            &serde_json::json!({"status": "ok"}),
        ));
    }
    let (route, params) = match routes::find(method, &path) {
        routes::Match::Found(r, p) => (r, p),
        routes::Match::WrongMethod => {
            return to_http(ApiError::method_not_allowed().into_response(&request_id))
        }
        routes::Match::NotFound => {
            return to_http(
                ApiError::not_found("No route matches the request's path.")
                    .into_response(&request_id),
            )
        }
    };
    // Discovery and JWKS at a path the early answer does not match exactly (routing is more
    // lenient, e.g. a trailing slash): still answered without building an event.
    if method == "GET" {
        match route.function {
            "discovery" => return to_http(warden_fn_discovery::document(&app)),
            "jwks" => return to_http(warden_fn_jwks::document(&app, &request_id).await),
            _ => {}
        }
    }
    // API Gateway's payload limit is 10 MB; nothing Warden accepts comes near 1 MB.
    let read = tokio::time::timeout(body_read, Limited::new(body, 1024 * 1024).collect());
    let bytes = match read.await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(_)) => {
            let mut e = ApiError::bad_request("The request body is too large or was cut off.");
            e.status = StatusCode::PAYLOAD_TOO_LARGE;
            return to_http(e.into_response(&request_id));
        }
        Err(_) => return body_timeout(body_read, &request_id),
    };
    let lreq = apigw::request(apigw::gateway_event(&apigw::Incoming {
        method: &parts.method,
        path: &path,
        raw_query: &raw_query,
        headers: &parts.headers,
        body: &bytes,
        route_key: route.key,
        path_params: &params,
        peer,
        request_id: &request_id,
    }));
    let Some(h) = routes::handler(route.function) else {
        return to_http(ApiError::internal().into_response(&request_id));
    };
    // A panic in a handler is a 500 (as Lambda would report), never a dead listener.
    match AssertUnwindSafe(h(app, lreq)).catch_unwind().await {
        Ok(resp) => to_http(resp),
        Err(_) => to_http(ApiError::internal().into_response(&request_id)),
    }
}

/// 408 for a body that did not arrive within `limit`, closing the connection (the rest of
/// the body will not be read).
fn body_timeout(limit: Duration, request_id: &str) -> HttpResponse {
    let e = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "SES-40801",
        "Request timeout.",
        &format!(
            "The request body did not arrive within {} s.",
            limit.as_secs_f64()
        ),
    );
    let mut resp = to_http(e.into_response(request_id));
    resp.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    resp
}

fn to_http(resp: warden_core::http::Resp) -> HttpResponse {
    let (parts, body) = resp.into_parts();
    let bytes: Bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(s) => Bytes::from(s),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    http::Response::from_parts(parts, Full::new(bytes))
}

/// The local stand-in for SQS + the dispatcher Lambda: messages are taken in batches of up
/// to 10 (what is waiting, as an SQS receive would give them) and delivered with
/// [`warden_core::logout::backchannel::deliver_batch`], at most 64 deliveries in flight. Retryable
/// failures are retried on the deployed schedule (scaled by `retry_base`, see [`retry`])
/// until the attempts run out (`dead`).
async fn local_dispatcher(
    app: Arc<App>,
    mut rx: mpsc::UnboundedReceiver<QueueMessage>,
    retry_base: Duration,
    stop: watch::Receiver<bool>,
) {
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    loop {
        let first = tokio::select! {
            m = rx.recv() => match m { Some(m) => m, None => return },
            _ = stopped(stop.clone()) => return,
        };
        let mut batch = vec![first];
        while batch.len() < 10 {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let Ok(permits) = sem.clone().acquire_many_owned(batch.len() as u32).await else {
            return;
        };
        let app = app.clone();
        tokio::spawn(async move {
            let (logouts, signals): (Vec<QueueMessage>, Vec<QueueMessage>) = batch
                .into_iter()
                .partition(|m| matches!(m, QueueMessage::Logout(_)));
            let logouts: Vec<DeliveryMessage> = logouts
                .into_iter()
                .filter_map(|m| match m {
                    QueueMessage::Logout(d) => Some(d),
                    QueueMessage::Signal(_) => None,
                })
                .collect();
            let items: Vec<(&DeliveryMessage, u32)> = logouts.iter().map(|m| (m, 1)).collect();
            let mut signal_runs = Vec::with_capacity(signals.len());
            for m in &signals {
                if let QueueMessage::Signal(s) = m {
                    signal_runs.push(warden_fn_logout_dispatcher::dispatch_signal(&app, s, 1));
                }
            }
            let (outcomes, signal_outcomes) = tokio::join!(
                warden_core::logout::backchannel::deliver_batch(&app, &items, 10),
                futures::future::join_all(signal_runs)
            );
            drop(permits);
            let all = logouts
                .into_iter()
                .map(QueueMessage::Logout)
                .zip(outcomes)
                .chain(signals.into_iter().zip(signal_outcomes));
            for (msg, outcome) in all {
                if matches!(outcome, Ok(DeliveryOutcome::Retry { .. }) | Err(_))
                    && app.config.delivery_max_attempts > 1
                {
                    tokio::spawn(retry(app.clone(), msg, retry_base));
                }
            }
        });
    }
}

/// Attempts 2.. of one delivery. The wait before attempt `n` is the deployed schedule's
/// after failure `n − 1` ([`warden_core::logout::backchannel::retry_backoff`], as the SQS dispatcher's
/// visibility timeout), scaled by `retry_base` / 2 s: with the default 2 s exactly the
/// deployed waits, with a test's 10 ms a day's schedule in about 3 minutes.
async fn retry(app: Arc<App>, msg: QueueMessage, retry_base: Duration) {
    let mut attempt = 2u32;
    loop {
        tokio::time::sleep(scaled_wait(
            warden_core::logout::backchannel::retry_backoff(attempt - 1),
            retry_base,
        ))
        .await;
        let outcome = match &msg {
            QueueMessage::Logout(d) => {
                warden_core::logout::backchannel::deliver(&app, d, attempt).await
            }
            QueueMessage::Signal(s) => {
                warden_fn_logout_dispatcher::dispatch_signal(&app, s, attempt).await
            }
        };
        match outcome {
            Ok(DeliveryOutcome::Retry { .. }) | Err(_)
                if attempt < app.config.delivery_max_attempts =>
            {
                attempt += 1;
            }
            _ => return,
        }
    }
}

/// A wait of the deployed retry schedule scaled so that its first wait (2 s) becomes
/// `retry_base`.
fn scaled_wait(wait: Duration, retry_base: Duration) -> Duration {
    let first = warden_core::logout::backchannel::RETRY_FIRST.as_secs_f64();
    retry_base.mul_f64(wait.as_secs_f64() / first)
}

/// With `--sqs-queue-url`: poll the queue and hand batches to the dispatcher function's
/// handler, as the Lambda event source mapping would.
async fn sqs_poller(
    app: Arc<App>,
    url: String,
    endpoint: Option<String>,
    stop: watch::Receiver<bool>,
) {
    let sqs = warden_core::app::sqs_client(endpoint.as_deref()).await;
    let d = warden_fn_logout_dispatcher::Dispatcher {
        app: App::new(app.config.clone(), app.store.clone(), app.queue.clone()),
        sqs: Some(sqs.clone()),
        queue_url: Some(url.clone()),
        concurrency: 16,
    };
    loop {
        let recv = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .send();
        let out = tokio::select! {
            r = recv => r,
            _ = stopped(stop.clone()) => return,
        };
        let Ok(out) = out else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        let msgs = out.messages.unwrap_or_default();
        if msgs.is_empty() {
            continue;
        }
        let ev = warden_fn_logout_dispatcher::sqs_event_from(&msgs);
        let resp = warden_fn_logout_dispatcher::handle(&d, ev).await;
        for m in &msgs {
            let id = m.message_id().unwrap_or_default();
            if resp
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == id)
            {
                continue;
            }
            if let Some(h) = m.receipt_handle() {
                let _ = sqs
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(h)
                    .send()
                    .await;
            }
        }
    }
}

async fn relay_loop(app: Arc<App>, every: Duration, stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = warden_core::logout::relay::relay(&app, warden_core::platform::time::now_s()).await {
                    tracing::warn!(error = %e, "relay run failed");
                }
            }
            _ = stopped(stop.clone()) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_retries_are_the_deployed_schedule_scaled() {
        use warden_core::logout::backchannel::retry_delay;
        let base = Duration::from_millis(10);
        assert_eq!(scaled_wait(retry_delay(1, 0.0), base), base);
        assert_eq!(scaled_wait(retry_delay(3, 0.0), base), base * 4);
        assert_eq!(scaled_wait(retry_delay(34, 0.0), base), base * 1800);
        assert_eq!(
            scaled_wait(retry_delay(34, 0.0), Duration::from_secs(2)),
            Duration::from_secs(3600),
            "the default retry_base is the deployed schedule"
        );
    }

    #[test]
    fn a_cached_document_answers_exactly_what_the_function_returned() {
        let body = r#"{"issuer":"http://x"}"#;
        let resp = warden_core::http::public_json_text(body.into(), 3600);
        let want_headers = resp.headers().clone();
        let d = CachedDocument::new(resp);
        assert!(d.answers(&http::Method::GET, "/.well-known/openid-configuration"));
        assert!(!d.answers(&http::Method::POST, "/.well-known/openid-configuration"));
        assert!(!d.answers(&http::Method::GET, "/oauth2/jwks"));
        assert!(d.is_jwks(&http::Method::GET, "/oauth2/jwks"));
        assert!(!d.is_jwks(&http::Method::GET, "/oauth2/jwks/x"));
        for _ in 0..2 {
            let (parts, full) = d.response().into_parts();
            assert_eq!(parts.status, StatusCode::OK);
            assert_eq!(parts.headers, want_headers);
            assert_eq!(body_bytes(full), Bytes::from_static(body.as_bytes()));
        }
    }
}
