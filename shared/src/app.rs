//! `App`: what a function builds once per cold start — config, SDK clients, the logout
//! queue, and caches of signing keys and clients.

use crate::config::Config;
use crate::keys::protection::{KeyProtectionError, KeyProtector};
use crate::keys::signing::{generate_key_item, KeySet};
use crate::outbound::client::{Limits, Lookup, OutboundClient, SystemLookup};
use crate::outbound::policy::AddressPolicy;
use crate::outbound::queue::{LogoutQueue, NoQueue, SqsQueue};
use crate::platform::sdk::sdk_config;
use crate::store::schema::{ClientItem, KeyStatus};
use crate::store::StoreError;
use crate::store::{dynamodb_client, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

const KEY_CACHE: Duration = Duration::from_secs(300);
const CLIENT_CACHE: Duration = Duration::from_secs(30);
/// How long a process trusts "some SSF stream exists" (or not): a stream created in
/// another process gets signals of terminations here at most this much later.
pub const SIGNAL_STREAMS_CACHE: Duration = Duration::from_secs(30);

type ClientCache = HashMap<String, (Instant, Option<Arc<ClientItem>>)>;

/// Everything a handler needs, built once per cold start (Lambda) or once per process (local stack,
/// CLI) and shared by every request: the configuration, the store, the logout queue, the delivery
/// HTTP client, and caches of the signing keys (5 minutes) and clients (30 seconds).
pub struct App {
    /// The configuration read at start.
    pub config: Config,
    /// The DynamoDB store.
    pub store: Store,
    /// Where terminations send their back-channel deliveries.
    pub queue: Arc<dyn LogoutQueue>,
    /// The one HTTP client for outbound calls (back-channel deliveries): no redirects,
    /// short time-outs, a body cap and the address policy ([`outbound_client`]).
    pub http: OutboundClient,
    /// Wraps new signing keys and opens stored ones (KMS client built on first use).
    pub key_protector: KeyProtector,
    keys: RwLock<Option<(Instant, Arc<KeySet>)>>,
    clients: Mutex<ClientCache>,
    /// Whether any SSF stream may receive signals, and when that was read.
    signal_streams: RwLock<Option<(Instant, bool)>>,
    /// How long [`App::signals_wanted`] trusts what it read: [`SIGNAL_STREAMS_CACHE`]
    /// (streams change in the `ssf` function, another process); the local stack, whose one
    /// process makes every stream change and forgets the answer then, keeps it until then.
    pub signal_streams_ttl: Duration,
    /// The discovery document, serialised on first use (it depends on the config only).
    discovery: OnceLock<String>,
}

impl App {
    /// How long after a termination its deliveries become due for the relay: the relay's
    /// usual grace ([`crate::session::RELAY_AFTER_SECS`] is the value; it is passed in so
    /// that this composition layer names no domain module) when a queue will carry them,
    /// `0` when this process has none (the CLI without SQS), so the next relay run sends
    /// them instead of minutes later.
    pub fn relay_grace_secs(&self, with_queue: i64) -> i64 {
        if self.queue.delivers() {
            with_queue
        } else {
            0
        }
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("issuer", &self.config.issuer)
            .finish()
    }
}

/// Build an SQS client (optionally against an explicit endpoint, e.g. moto).
pub async fn sqs_client(endpoint: Option<&str>) -> aws_sdk_sqs::Client {
    let sdk = sdk_config(endpoint).await;
    let mut b = aws_sdk_sqs::config::Builder::from(&sdk);
    if let Some(ep) = endpoint {
        b = b.endpoint_url(ep);
    }
    aws_sdk_sqs::Client::from_conf(b.build())
}

/// The outbound HTTP client of `config`'s deployment, the one place its policy is made:
/// local mode when the issuer is loopback, `WARDEN_OUTBOUND_ALLOW`'s networks, `limits`.
/// `lookup` resolves host names (`None`: the system resolver; tests give a fixed map).
pub fn outbound_client(
    config: &Config,
    limits: Limits,
    lookup: Option<Arc<dyn Lookup>>,
) -> OutboundClient {
    let policy = AddressPolicy::for_issuer(&config.issuer, config.outbound_allow.clone());
    OutboundClient::new(
        policy,
        limits,
        lookup.unwrap_or_else(|| Arc::new(SystemLookup)),
    )
}

impl App {
    /// Assemble an app from its parts (the local stack, the tests). No I/O: keys and clients are
    /// read on first use.
    pub fn new(config: Config, store: Store, queue: Arc<dyn LogoutQueue>) -> Self {
        let store = store
            .tracking_live_sessions(config.session_limit.is_some())
            .with_shards(config.shards);
        App {
            key_protector: KeyProtector::new(
                config.key_protection.clone(),
                config.kms_endpoint.clone(),
            ),
            http: outbound_client(&config, Limits::default(), None),
            config,
            store,
            queue,
            keys: RwLock::new(None),
            clients: Mutex::new(HashMap::new()),
            signal_streams: RwLock::new(None),
            signal_streams_ttl: SIGNAL_STREAMS_CACHE,
            discovery: OnceLock::new(),
        }
    }

    /// Build from the environment (Lambda). `WARDEN_DYNAMODB_ENDPOINT` and
    /// `WARDEN_SQS_ENDPOINT` point the SDKs at emulators.
    pub async fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let config = Config::from_env()?;
        let ddb_ep = std::env::var("WARDEN_DYNAMODB_ENDPOINT").ok();
        let sqs_ep = std::env::var("WARDEN_SQS_ENDPOINT").ok();
        let store = Store::new(
            dynamodb_client(ddb_ep.as_deref(), None).await,
            &config.table,
        );
        let queue: Arc<dyn LogoutQueue> = match &config.queue_url {
            Some(url) => Arc::new(SqsQueue {
                client: sqs_client(sqs_ep.as_deref()).await,
                url: url.clone(),
            }),
            None => Arc::new(NoQueue),
        };
        Ok(App::new(config, store, queue))
    }

    /// The discovery document as served: built by `build` (the oauth layer's
    /// `oidc::discovery`) and serialised once per process.
    pub fn discovery_json(&self, build: impl FnOnce(&Config) -> serde_json::Value) -> &str {
        self.discovery
            .get_or_init(|| build(&self.config).to_string())
    }

    /// The signing keys, cached for five minutes; creates the first key if there is none.
    /// 1 round trip on a cache miss.
    pub async fn keys(&self) -> Result<Arc<KeySet>, StoreError> {
        if let Ok(g) = self.keys.read() {
            if let Some((at, ks)) = g.as_ref() {
                if at.elapsed() < KEY_CACHE {
                    return Ok(ks.clone());
                }
            }
        }
        let ks = Arc::new(self.load_keys().await?);
        if let Ok(mut g) = self.keys.write() {
            *g = Some((Instant::now(), ks.clone()));
        }
        Ok(ks)
    }

    /// Whether terminations and account changes should write a Shared Signals outbox record:
    /// some stream is `enabled` or `paused` (`Store::any_signal_streams`). Cached for
    /// [`App::signal_streams_ttl`]: 0 round trips when warm, 1 Query when not.
    pub async fn signals_wanted(&self) -> Result<bool, StoreError> {
        if let Ok(g) = self.signal_streams.read() {
            if let Some((at, any)) = g.as_ref() {
                if at.elapsed() < self.signal_streams_ttl {
                    return Ok(*any);
                }
            }
        }
        let any = self.store.any_signal_streams().await?;
        if let Ok(mut g) = self.signal_streams.write() {
            *g = Some((Instant::now(), any));
        }
        Ok(any)
    }

    /// Forget whether streams exist (after a stream change in this process).
    pub fn forget_signal_streams(&self) {
        if let Ok(mut g) = self.signal_streams.write() {
            *g = None;
        }
    }

    /// Forget cached keys (after a rotation in this process).
    pub fn invalidate_keys(&self) {
        if let Ok(mut g) = self.keys.write() {
            *g = None;
        }
    }

    /// 1 Query; the first key ever: + KMS Encrypt + TransactWriteItems + Query; each live
    /// key not yet opened in this process: 1 KMS Decrypt (concurrently).
    async fn load_keys(&self) -> Result<KeySet, StoreError> {
        let mut items = self.store.list_signing_keys().await?;
        if !items.iter().any(|k| k.status == KeyStatus::Active) {
            let mut new = generate_key_item(crate::platform::time::now_ms())
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            self.key_protector
                .wrap(&mut new)
                .await
                .map_err(protection_error)?;
            self.store.rotate_signing_key(&new, &items).await?;
            items = self.store.list_signing_keys().await?;
        }
        let live = items.iter().filter(|k| k.status != KeyStatus::Retired);
        let opened = futures::future::try_join_all(live.map(|k| self.key_protector.open(k)))
            .await
            .map_err(protection_error)?;
        KeySet::from_items(&opened).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// A client by id, cached for 30 s (negative answers too). 1 round trip on a miss.
    pub async fn client(&self, client_id: &str) -> Result<Option<Arc<ClientItem>>, StoreError> {
        if client_id.is_empty() || client_id.len() > 256 {
            return Ok(None);
        }
        if let Ok(g) = self.clients.lock() {
            if let Some((at, c)) = g.get(client_id) {
                if at.elapsed() < CLIENT_CACHE {
                    return Ok(c.clone());
                }
            }
        }
        let c = self.store.get_client(client_id).await?.map(Arc::new);
        if let Ok(mut g) = self.clients.lock() {
            if g.len() > 10_000 {
                g.clear();
            }
            g.insert(client_id.to_string(), (Instant::now(), c.clone()));
        }
        Ok(c)
    }

    /// Forget a cached client (after an update in this process).
    pub fn invalidate_client(&self, client_id: &str) {
        if let Ok(mut g) = self.clients.lock() {
            g.remove(client_id);
        }
    }
}

/// KMS unreachable → 503 (retry later); a key that does not open → a broken deployment.
fn protection_error(e: KeyProtectionError) -> StoreError {
    tracing::error!(error = %e, "signing key protection");
    if e.is_temporary() {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Corrupt(e.to_string())
    }
}
