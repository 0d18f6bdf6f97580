//! The one HTTP client for everything Warden sends (back-channel logout now, SSF push next),
//! built once per cold start: it never follows a redirect, has a connect and a total
//! time-out, reads at most [`Limits::max_body`] bytes of a body, uses no proxy, and applies
//! the [`AddressPolicy`] where it cannot be got around.
//!
//! - A host name is resolved by the client's own resolver ([`reqwest::dns::Resolve`]),
//!   which hands the connector only the addresses the policy allows: the address the socket
//!   connects to is the one that was checked, so DNS rebinding (a name that answers a
//!   public address to a first check and a private one to the connection) gets nowhere.
//! - An IP-literal URL never reaches a resolver, so [`OutboundClient::post`] checks the URL
//!   (scheme and literal host, [`AddressPolicy::check_url`]) before the request starts.
//! - A redirect is answered as it is (its 3xx status): a `Location` naming a refused address
//!   is never requested.
//!
//! The name lookup behind the resolver is a [`Lookup`]: the system's ([`SystemLookup`],
//! tokio's `lookup_host`), or a fixed map in tests ([`StaticLookup`]).

use super::policy::{AddressPolicy, Refusal};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The user agent of every outbound request.
pub const USER_AGENT: &str = "Warden/1";

/// How long and how much: the connect and total time-outs and the body cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Name lookup plus TCP (and TLS) connect.
    pub connect_timeout: Duration,
    /// The whole request, from connecting until the body was read.
    pub timeout: Duration,
    /// The most bytes of a response body [`Answer::body`] reads.
    pub max_body: usize,
}

impl Default for Limits {
    /// 2 s to connect, 5 s in all, 64 KiB of body.
    fn default() -> Limits {
        Limits {
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            max_body: 64 * 1024,
        }
    }
}

impl Limits {
    /// The defaults with a total time-out of `timeout` (the connect time-out at most that).
    pub fn with_timeout(timeout: Duration) -> Limits {
        let d = Limits::default();
        Limits {
            connect_timeout: d.connect_timeout.min(timeout),
            timeout,
            ..d
        }
    }
}

/// Resolves a host name to its addresses: the base lookup behind the policy's resolver.
pub trait Lookup: Send + Sync + std::fmt::Debug {
    /// Every address `host` resolves to.
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

/// The system resolver (tokio's `lookup_host`, getaddrinfo on a blocking thread).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let host = host.to_string();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// Fixed answers (tests: `private.example.test` → 10.0.0.1 without real DNS); any other
/// name is not found.
#[derive(Debug, Clone, Default)]
pub struct StaticLookup(HashMap<String, Vec<IpAddr>>);

impl StaticLookup {
    /// Answer each name (lower case) with its addresses.
    pub fn new<'a>(names: impl IntoIterator<Item = (&'a str, Vec<IpAddr>)>) -> StaticLookup {
        StaticLookup(
            names
                .into_iter()
                .map(|(n, a)| (n.to_ascii_lowercase(), a))
                .collect(),
        )
    }
}

impl Lookup for StaticLookup {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let found = self.0.get(&host.to_ascii_lowercase()).cloned();
        let host = host.to_string();
        Box::pin(async move {
            found.ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, format!("{host}: not found"))
            })
        })
    }
}

/// The resolver the client connects through: the lookup's addresses that the policy allows,
/// or the policy's refusal (which [`OutboundError::Refused`] carries back out).
struct PolicyResolver {
    policy: Arc<AddressPolicy>,
    lookup: Arc<dyn Lookup>,
    deadline: Duration,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let lookup = self.lookup.clone();
        let deadline = self.deadline;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found = tokio::time::timeout(deadline, lookup.lookup(&host))
                .await
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "name lookup timed out")
                })??;
            let allowed = policy.allowed_addresses(&host, &found)?;
            if allowed.is_empty() {
                return Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no address").into());
            }
            // Port 0: the connector puts the URL's port (or the scheme's) in.
            let addrs: reqwest::dns::Addrs =
                Box::new(allowed.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The policy refused the URL or every address its host resolved to: final, nothing
    /// was sent.
    #[error("{0}")]
    Refused(Refusal),
    /// A time-out (connect or total).
    #[error("timeout")]
    Timeout,
    /// The connection failed (refused, reset, TLS, name not found).
    #[error("connection failed")]
    Connect,
    /// The body was longer than [`Limits::max_body`] (bytes).
    #[error("response body over {0} bytes")]
    TooLarge(usize),
    /// A request header value Warden was given (a receiver's `Authorization`) is not a
    /// valid header value: final, nothing was sent.
    #[error("a request header value is not valid")]
    BadHeader,
    /// Any other failure of the request.
    #[error("request failed")]
    Failed,
}

impl OutboundError {
    fn from_reqwest(e: &reqwest::Error) -> OutboundError {
        if let Some(r) = refusal_in(e) {
            OutboundError::Refused(r)
        } else if e.is_timeout() {
            OutboundError::Timeout
        } else if e.is_connect() {
            OutboundError::Connect
        } else {
            OutboundError::Failed
        }
    }
}

/// The policy's refusal somewhere in `e`'s chain of causes (the resolver's error, wrapped
/// by the connector and the client).
fn refusal_in(e: &(dyn std::error::Error + 'static)) -> Option<Refusal> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<Refusal>() {
            return Some(r.clone());
        }
        cur = err.source();
    }
    None
}

/// An answer: its status at once, its body only when asked for, and then at most
/// [`Limits::max_body`] bytes of it.
#[derive(Debug)]
pub struct Answer {
    response: reqwest::Response,
    max_body: usize,
}

impl Answer {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.response.status().as_u16()
    }

    /// The body, read chunk by chunk and refused ([`OutboundError::TooLarge`]) as soon as
    /// it passes the cap (a declared `Content-Length` over it is refused before reading).
    pub async fn body(mut self) -> Result<Vec<u8>, OutboundError> {
        let max = self.max_body;
        if self
            .response
            .content_length()
            .is_some_and(|n| n > max as u64)
        {
            return Err(OutboundError::TooLarge(max));
        }
        let mut body = Vec::new();
        while let Some(chunk) = self
            .response
            .chunk()
            .await
            .map_err(|e| OutboundError::from_reqwest(&e))?
        {
            if body.len() + chunk.len() > max {
                return Err(OutboundError::TooLarge(max));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The outbound HTTP client and its policy (cheap to clone: both are shared).
#[derive(Debug, Clone)]
pub struct OutboundClient {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
    max_body: usize,
}

impl OutboundClient {
    /// Build the client: `policy` applied at connect time through `lookup`, no redirects,
    /// no proxy, `limits`' time-outs.
    pub fn new(policy: AddressPolicy, limits: Limits, lookup: Arc<dyn Lookup>) -> OutboundClient {
        let policy = Arc::new(policy);
        let resolver = PolicyResolver {
            policy: policy.clone(),
            lookup,
            deadline: limits.connect_timeout,
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(resolver)
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.timeout)
            .user_agent(USER_AGENT)
            .build()
            // Only a TLS backend that cannot start fails here: a broken binary. Falling back
            // to a default client would drop the policy, so this stops the cold start.
            .expect("the outbound HTTP client (TLS backend)");
        OutboundClient {
            client,
            policy,
            max_body: limits.max_body,
        }
    }

    /// The address policy the client applies.
    pub fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    /// POST `body` as `content_type` to `url`, if the policy allows it. Never follows a
    /// redirect (a 3xx is the answer). The body of the answer is not read unless asked for.
    pub async fn post(
        &self,
        url: &str,
        content_type: &str,
        body: String,
    ) -> Result<Answer, OutboundError> {
        self.post_with(url, content_type, &[], body).await
    }

    /// [`OutboundClient::post`] with more request headers (`name`, `value`: an SSF push's
    /// `Accept` and the receiver's `Authorization`). A value that is not a valid header
    /// value is refused before anything is sent.
    pub async fn post_with(
        &self,
        url: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> Result<Answer, OutboundError> {
        let url = url::Url::parse(url).map_err(|_| OutboundError::Refused(Refusal::Url))?;
        self.policy
            .check_url(&url)
            .map_err(OutboundError::Refused)?;
        let mut req = self.client.post(url).header("content-type", content_type);
        for (name, value) in headers {
            let v = reqwest::header::HeaderValue::from_str(value)
                .map_err(|_| OutboundError::BadHeader)?;
            req = req.header(*name, v);
        }
        let response = req
            .body(body)
            .send()
            .await
            .map_err(|e| OutboundError::from_reqwest(&e))?;
        Ok(Answer {
            response,
            max_body: self.max_body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::policy::parse_allow_list;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A loopback server answering every request with `response`; counts the requests.
    async fn server(response: String) -> (SocketAddr, Arc<AtomicUsize>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                h.fetch_add(1, Ordering::SeqCst);
                let response = response.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let _ = s.write_all(response.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        (addr, hits)
    }

    fn ok(body: &str) -> String {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    fn names(pairs: &[(&str, &str)]) -> Arc<dyn Lookup> {
        Arc::new(StaticLookup::new(
            pairs.iter().map(|(n, a)| (*n, vec![a.parse().unwrap()])),
        ))
    }

    fn local(lookup: Arc<dyn Lookup>) -> OutboundClient {
        OutboundClient::new(AddressPolicy::new(true, vec![]), Limits::default(), lookup)
    }

    /// A client with `policy` and `limits` on the system resolver.
    fn system(policy: AddressPolicy, limits: Limits) -> OutboundClient {
        OutboundClient::new(policy, limits, Arc::new(SystemLookup))
    }

    #[tokio::test]
    async fn a_name_connects_to_the_address_the_resolver_checked() {
        let (addr, hits) = server(ok("fine")).await;
        let c = local(names(&[("rp.example.test", "127.0.0.1")]));
        let url = format!("http://rp.example.test:{}/bc", addr.port());
        let a = c.post(&url, "text/plain", "x".into()).await.unwrap();
        assert_eq!(a.status(), 200);
        assert_eq!(a.body().await.unwrap(), b"fine");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_name_resolving_to_a_refused_address_is_refused_before_connecting() {
        let (addr, hits) = server(ok("")).await;
        // Not in local mode: loopback is refused, even behind an innocent name.
        let c = OutboundClient::new(
            AddressPolicy::default(),
            Limits::default(),
            names(&[
                ("private.example.test", "10.0.0.1"),
                ("rebind.example.test", "127.0.0.1"),
            ]),
        );
        for (host, want) in [
            ("private.example.test", "10.0.0.1 is private"),
            ("rebind.example.test", "127.0.0.1 is loopback"),
        ] {
            let url = format!("https://{host}:{}/bc", addr.port());
            match c.post(&url, "text/plain", "x".into()).await {
                Err(OutboundError::Refused(r)) => assert!(r.to_string().contains(want), "{r}"),
                other => panic!("{host}: {other:?}"),
            }
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        // A name that does not resolve is a connection failure (retried), not a refusal.
        let e = c
            .post("https://nowhere.example.test/", "text/plain", "x".into())
            .await
            .unwrap_err();
        assert!(matches!(e, OutboundError::Connect), "{e:?}");
    }

    #[tokio::test]
    async fn ip_literals_are_refused_before_the_request() {
        let (addr, hits) = server(ok("")).await;
        let c = system(AddressPolicy::default(), Limits::default());
        for url in [
            format!("https://127.0.0.1:{}/bc", addr.port()),
            format!("https://[::ffff:127.0.0.1]:{}/bc", addr.port()),
            "https://169.254.169.254/latest/meta-data/".to_string(),
            format!("http://127.0.0.1:{}/bc", addr.port()),
            "not a url".to_string(),
        ] {
            let e = c.post(&url, "text/plain", "x".into()).await.unwrap_err();
            assert!(matches!(e, OutboundError::Refused(_)), "{url}: {e:?}");
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        // Outside local mode the allow-list opens an address for https (this server has no
        // TLS: the request is made and fails, it is not refused) ...
        let c = system(
            AddressPolicy::new(false, parse_allow_list("127.0.0.0/8").unwrap()),
            Limits::default(),
        );
        let url = format!("https://127.0.0.1:{}/bc", addr.port());
        let e = c.post(&url, "text/plain", "x".into()).await.unwrap_err();
        assert!(!matches!(e, OutboundError::Refused(_)), "{e:?}");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        // ... and local mode allows loopback over plain http.
        let c = system(AddressPolicy::new(true, vec![]), Limits::default());
        let url = format!("http://127.0.0.1:{}/bc", addr.port());
        assert_eq!(
            c.post(&url, "text/plain", "x".into())
                .await
                .unwrap()
                .status(),
            200
        );
    }

    #[tokio::test]
    async fn a_redirect_is_the_answer_and_its_target_is_never_requested() {
        let (target, target_hits) = server(ok("")).await;
        let (addr, _) = server(format!(
            "HTTP/1.1 302 Found\r\nlocation: http://{target}/\r\ncontent-length: 0\r\n\r\n"
        ))
        .await;
        let c = local(Arc::new(SystemLookup));
        let a = c
            .post(&format!("http://{addr}/bc"), "text/plain", "x".into())
            .await
            .unwrap();
        assert_eq!(a.status(), 302);
        assert_eq!(target_hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_body_is_read_up_to_the_cap_only() {
        let big = "x".repeat(2000);
        let limits = Limits {
            max_body: 1000,
            ..Limits::default()
        };
        let c = system(AddressPolicy::new(true, vec![]), limits);
        // Declared too long.
        let (addr, _) = server(ok(&big)).await;
        let a = c
            .post(&format!("http://{addr}/"), "text/plain", "x".into())
            .await;
        assert!(matches!(
            a.unwrap().body().await,
            Err(OutboundError::TooLarge(1000))
        ));
        // Not declared (read until close): refused once it passes the cap.
        let (addr, _) = server(format!("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{big}")).await;
        let a = c
            .post(&format!("http://{addr}/"), "text/plain", "x".into())
            .await;
        assert!(matches!(
            a.unwrap().body().await,
            Err(OutboundError::TooLarge(1000))
        ));
        // Within the cap: the whole body.
        let (addr, _) = server(ok(&big[..1000])).await;
        let a = c
            .post(&format!("http://{addr}/"), "text/plain", "x".into())
            .await;
        assert_eq!(a.unwrap().body().await.unwrap().len(), 1000);
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                held.push(s);
            }
        });
        let c = system(
            AddressPolicy::new(true, vec![]),
            Limits::with_timeout(Duration::from_millis(300)),
        );
        let e = c
            .post(&format!("http://{addr}/"), "text/plain", "x".into())
            .await
            .unwrap_err();
        assert!(matches!(e, OutboundError::Timeout), "{e:?}");
    }
}
