//! Configuration from environment variables, checked once at start.

use crate::keys::protection::KeyProtection;
use crate::store::schema::{Shards, MAX_SHARDS};
use std::env;
use std::time::Duration;

/// Back-channel attempts per delivery by default: the fewest whose retry schedule
/// ([`crate::logout::backchannel::retry_delay`]) spans a day — 34 waits of 2 s … 2048 s and then 1 h,
/// 86 894 s ≈ 24.1 h in all ([`crate::logout::backchannel::retry_window`]). The template's
/// `MaxReceiveCount` default is the same number.
pub const DEFAULT_DELIVERY_MAX_ATTEMPTS: u32 = 35;
/// The most `WARDEN_DELIVERY_MAX_ATTEMPTS` may say (SQS's maxReceiveCount limit, the
/// template's `MaxValue`).
pub const MAX_DELIVERY_ATTEMPTS: u32 = 1000;

/// The most `WARDEN_SESSION_LIMIT` may say: the per-user set of live session ids is one
/// item, rewritten at every login and end, so it stays small (≈ 40 bytes a session).
pub const MAX_SESSION_LIMIT: u32 = 100;

/// Everything a function needs to know about its deployment.
#[derive(Clone, Debug)]
pub struct Config {
    /// `WARDEN_ISSUER`: the issuer URL, no trailing slash (e.g. `https://id.example.com`).
    pub issuer: String,
    /// `WARDEN_TABLE`: the DynamoDB table name.
    pub table: String,
    /// `WARDEN_QUEUE_URL`: the SQS logout queue (optional: empty means in-process/none).
    pub queue_url: Option<String>,
    /// `WARDEN_SESSION_IDLE_SECONDS` (default 900).
    pub session_idle: Duration,
    /// `WARDEN_SESSION_ABSOLUTE_SECONDS` (default 28800).
    pub session_absolute: Duration,
    /// `WARDEN_REMEMBER_ME_SECONDS` (default 1209600): absolute and idle lifetime with remember-me.
    pub remember_me: Duration,
    /// `WARDEN_ACCESS_TOKEN_SECONDS` (default 3600).
    pub access_token_ttl: Duration,
    /// `WARDEN_REFRESH_TOKEN_SECONDS` (default 86400 * 14).
    pub refresh_token_ttl: Duration,
    /// `WARDEN_COOKIE_SECURE` (default true; the local stack on plain http sets false).
    pub cookie_secure: bool,
    /// `WARDEN_LOGIN_MAX_FAILURES` (default 5): failed sign-ins for one username from one
    /// address within 15 minutes before that pair is refused for the rest of the window.
    /// Keyed by username *and* address, so nobody can lock a person out from everywhere.
    pub login_max_failures: u32,
    /// `WARDEN_LOGIN_MAX_FAILURES_PER_IP` (default 100): failed sign-ins from one address
    /// (any usernames) within 15 minutes; high enough for an office or a carrier NAT.
    pub login_max_failures_per_ip: u32,
    /// `WARDEN_DELIVERY_MAX_ATTEMPTS` (default [`DEFAULT_DELIVERY_MAX_ATTEMPTS`], at most
    /// [`MAX_DELIVERY_ATTEMPTS`]): back-channel attempts before a delivery is `dead`;
    /// matches the queue's maxReceiveCount.
    pub delivery_max_attempts: u32,
    /// `WARDEN_CHECK_SESSION_INTERVAL_SECONDS` (default 10, 1 to 30): how often the
    /// check_session iframe asks about its browser state's session (and how long the browser
    /// may cache the answer), so the bound within which it reports a session ended by any
    /// cause.
    pub check_session_interval: Duration,
    /// `WARDEN_LOGOUT_WAIT_MS` (default [`DEFAULT_LOGOUT_WAIT_MS`], at most
    /// [`MAX_LOGOUT_WAIT_MS`]; `0` redirects at once): how long end_session waits, after the
    /// session ended, for the back-channel receipts of its apps before it shows the page
    /// listing them ([`crate::config`] only reads it; `logout::rp` waits).
    pub logout_wait: Duration,
    /// How private signing keys are wrapped at rest: `WARDEN_KMS_KEY_ID` (a KMS key; the
    /// deployed stack) or `WARDEN_KEY_ENCRYPTION_KEY` (a base64url 256-bit key, outside
    /// AWS). One of them is required; [`Config::new`] uses a random local key.
    pub key_protection: KeyProtection,
    /// `WARDEN_KMS_ENDPOINT`: a KMS emulator's URL (tests).
    pub kms_endpoint: Option<String>,
    /// `WARDEN_OUTBOUND_ALLOW` (default none): networks outbound calls may reach although
    /// the address policy refuses them by default (private, link-local, …; metadata
    /// endpoints never), as CIDRs separated by commas, e.g. `10.1.0.0/16,192.168.5.0/24`,
    /// for deployments that deliver inside their VPC ([`crate::outbound::policy`]).
    pub outbound_allow: Vec<crate::outbound::policy::Cidr>,
    /// `WARDEN_SESSION_LIMIT` (default none; `0` also means none): the most live sessions one user may have at
    /// once. Held exactly under concurrency by a per-user set of live session ids that every
    /// login and every end update in their own transactions ([`crate::session::limit`]).
    pub session_limit: Option<u32>,
    /// `WARDEN_SESSION_LIMIT_POLICY` (default `deny`): what a login beyond
    /// [`Config::session_limit`] does.
    pub session_limit_policy: SessionLimitPolicy,
    /// `WARDEN_LIVE_SHARDS` and `WARDEN_DUE_SHARDS` (defaults [`Shards::DEFAULT`], 1 to
    /// [`MAX_SHARDS`]): the write shards of the live-session search index and of the due
    /// index, sized by the capacity model (`docs/scale.md`). Either may be raised or lowered
    /// without a migration: the shard is stored in each item's index key, and readers read
    /// up to the highest count ever recorded ([`Shards::ceiling`]).
    pub shards: Shards,
}

/// What a sign-in does when its user already has [`Config::session_limit`] live sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionLimitPolicy {
    /// Refuse the new session: the login page says why and offers to sign out one of the
    /// other sessions there and then (Keycloak's "deny new session").
    Deny,
    /// End the session that started first (reason `session_limit`), then sign in.
    EvictOldest,
    /// End the session used least recently (reason `session_limit`), then sign in.
    EvictIdlest,
}

impl SessionLimitPolicy {
    /// The setting's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionLimitPolicy::Deny => "deny",
            SessionLimitPolicy::EvictOldest => "evict_oldest",
            SessionLimitPolicy::EvictIdlest => "evict_idlest",
        }
    }

    /// Parse the setting (`deny`, `evict_oldest`, `evict_idlest`).
    pub fn parse(v: &str) -> Option<Self> {
        [Self::Deny, Self::EvictOldest, Self::EvictIdlest]
            .into_iter()
            .find(|p| p.as_str() == v.trim())
    }
}

/// [`KeyProtection`] from its two settings, `WARDEN_KMS_KEY_ID` (wins when both are set)
/// and `WARDEN_KEY_ENCRYPTION_KEY`, however they were given (environment, CLI flags).
/// `None` when neither is set; blank counts as unset.
pub fn key_protection_from(
    kms_key_id: Option<&str>,
    key_encryption_key: Option<&str>,
) -> Result<Option<KeyProtection>, ConfigError> {
    fn set(v: Option<&str>) -> Option<&str> {
        v.map(str::trim).filter(|s| !s.is_empty())
    }
    match (set(kms_key_id), set(key_encryption_key)) {
        (Some(key_id), _) => Ok(Some(KeyProtection::Kms {
            key_id: key_id.to_string(),
        })),
        (None, Some(text)) => KeyProtection::local_from_text(text)
            .map(Some)
            .ok_or(ConfigError {
                var: "WARDEN_KEY_ENCRYPTION_KEY",
                problem:
                    "expected 32 bytes in base64url (e.g. `openssl rand 32 | basenc --base64url`)"
                        .into(),
            }),
        (None, None) => Ok(None),
    }
}

/// [`KeyProtection`] from the environment; one of the two settings is required.
pub fn key_protection_from_env() -> Result<KeyProtection, ConfigError> {
    key_protection_from(
        env::var("WARDEN_KMS_KEY_ID").ok().as_deref(),
        env::var("WARDEN_KEY_ENCRYPTION_KEY").ok().as_deref(),
    )?
    .ok_or(ConfigError {
        var: "WARDEN_KMS_KEY_ID",
        problem: "required: the KMS key that wraps the signing keys (outside AWS, set \
                  WARDEN_KEY_ENCRYPTION_KEY to a base64url 256-bit key instead)"
            .into(),
    })
}

/// A configuration error names the variable and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {var}: {problem}")]
pub struct ConfigError {
    /// The environment variable (e.g. `WARDEN_ISSUER`).
    pub var: &'static str,
    /// What is wrong with it, in words an operator can act on.
    pub problem: String,
}

/// A positive number of seconds from `value` (variable `var`'s).
fn seconds(var: &'static str, value: &str) -> Result<Duration, ConfigError> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .map(Duration::from_secs)
        .ok_or(ConfigError {
            var,
            problem: format!("expected a positive number of seconds, got {value:?}"),
        })
}

/// A variable of the process environment; unset, blank or not UTF-8 is `None`.
pub fn env_var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Apply the optional settings onto `cfg`, each read through `var` (a variable's value;
/// `None` when unset): `WARDEN_QUEUE_URL`, the lifetimes, `WARDEN_COOKIE_SECURE`, the
/// login limits, `WARDEN_DELIVERY_MAX_ATTEMPTS`, `WARDEN_CHECK_SESSION_INTERVAL_SECONDS`,
/// `WARDEN_LOGOUT_WAIT_MS`, `WARDEN_KMS_ENDPOINT`, `WARDEN_OUTBOUND_ALLOW` and the session
/// limit (`WARDEN_SESSION_LIMIT`, `WARDEN_SESSION_LIMIT_POLICY`) and the shard counts
/// (`WARDEN_LIVE_SHARDS`, `WARDEN_DUE_SHARDS`). A setting not given (or blank) keeps
/// `cfg`'s value, [`Config::new`]'s default. The one reading of these variables:
/// [`Config::from_env`] passes [`env_var`]; the local stack, which fills in the issuer, table
/// and key protection itself, passes the environment or the pairs its caller gave. A
/// malformed value is an error naming its variable.
pub fn apply_settings(
    cfg: &mut Config,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let given = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let lifetimes = [
        ("WARDEN_SESSION_IDLE_SECONDS", &mut cfg.session_idle),
        ("WARDEN_SESSION_ABSOLUTE_SECONDS", &mut cfg.session_absolute),
        ("WARDEN_REMEMBER_ME_SECONDS", &mut cfg.remember_me),
        ("WARDEN_ACCESS_TOKEN_SECONDS", &mut cfg.access_token_ttl),
        ("WARDEN_REFRESH_TOKEN_SECONDS", &mut cfg.refresh_token_ttl),
    ];
    for (name, field) in lifetimes {
        if let Some(v) = given(name) {
            *field = seconds(name, &v)?;
        }
    }
    let counts = [
        (
            "WARDEN_DELIVERY_MAX_ATTEMPTS",
            &mut cfg.delivery_max_attempts,
            MAX_DELIVERY_ATTEMPTS,
        ),
        (
            "WARDEN_LOGIN_MAX_FAILURES",
            &mut cfg.login_max_failures,
            u32::MAX,
        ),
        (
            "WARDEN_LOGIN_MAX_FAILURES_PER_IP",
            &mut cfg.login_max_failures_per_ip,
            u32::MAX,
        ),
    ];
    for (name, field, max) in counts {
        *field = count(name, given(name), *field, max)?;
    }
    let shards = [
        ("WARDEN_LIVE_SHARDS", &mut cfg.shards.live),
        ("WARDEN_DUE_SHARDS", &mut cfg.shards.due),
    ];
    for (name, field) in shards {
        *field = count(name, given(name), *field, MAX_SHARDS)?;
    }
    if let Some(v) = given("WARDEN_CHECK_SESSION_INTERVAL_SECONDS") {
        cfg.check_session_interval = check_session_interval(Some(v))?;
    }
    if let Some(v) = given("WARDEN_LOGOUT_WAIT_MS") {
        cfg.logout_wait = logout_wait(&v)?;
    }
    if let Some(v) = given("WARDEN_COOKIE_SECURE") {
        cfg.cookie_secure = match v.trim() {
            "true" | "1" => true,
            "false" | "0" => false,
            other => {
                return Err(ConfigError {
                    var: "WARDEN_COOKIE_SECURE",
                    problem: format!("expected true or false, got {other:?}"),
                })
            }
        };
    }
    if let Some(v) = given("WARDEN_QUEUE_URL") {
        cfg.queue_url = Some(v.trim().to_string());
    }
    if let Some(v) = given("WARDEN_KMS_ENDPOINT") {
        cfg.kms_endpoint = Some(v.trim().to_string());
    }
    if let Some(v) = given("WARDEN_SESSION_LIMIT") {
        // `0` is the template's "no limit".
        cfg.session_limit = match v.trim() {
            "0" => None,
            _ => Some(count(
                "WARDEN_SESSION_LIMIT",
                Some(v),
                1,
                MAX_SESSION_LIMIT,
            )?),
        };
    }
    if let Some(v) = given("WARDEN_SESSION_LIMIT_POLICY") {
        cfg.session_limit_policy = SessionLimitPolicy::parse(&v).ok_or(ConfigError {
            var: "WARDEN_SESSION_LIMIT_POLICY",
            problem: format!("expected deny, evict_oldest or evict_idlest, got {v:?}"),
        })?;
    }
    if let Some(v) = given("WARDEN_OUTBOUND_ALLOW") {
        cfg.outbound_allow =
            crate::outbound::policy::parse_allow_list(&v).map_err(|problem| ConfigError {
                var: "WARDEN_OUTBOUND_ALLOW",
                problem,
            })?;
    }
    Ok(())
}

/// A count between 1 and `max` from `value` (variable `var`'s), or `default` when unset or
/// blank.
fn count(
    var: &'static str,
    value: Option<String>,
    default: u32,
    max: u32,
) -> Result<u32, ConfigError> {
    match value {
        Some(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or(ConfigError {
                var,
                problem: format!("expected a whole number from 1 to {max}, got {v:?}"),
            }),
        _ => Ok(default),
    }
}

/// `WARDEN_CHECK_SESSION_INTERVAL_SECONDS`: 1 to 30 seconds, 10 when unset or blank.
fn check_session_interval(value: Option<String>) -> Result<Duration, ConfigError> {
    count("WARDEN_CHECK_SESSION_INTERVAL_SECONDS", value, 10, 30)
        .map(|n| Duration::from_secs(n.into()))
}

/// The default of `WARDEN_LOGOUT_WAIT_MS`: 2 s.
pub const DEFAULT_LOGOUT_WAIT_MS: u64 = 2000;
/// The most `WARDEN_LOGOUT_WAIT_MS` may be: 10 s (API Gateway gives a function 30 s; a
/// person should not stare at a blank tab longer).
pub const MAX_LOGOUT_WAIT_MS: u64 = 10_000;

/// `WARDEN_LOGOUT_WAIT_MS`: 0 to [`MAX_LOGOUT_WAIT_MS`] milliseconds.
fn logout_wait(v: &str) -> Result<Duration, ConfigError> {
    v.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n <= MAX_LOGOUT_WAIT_MS)
        .map(Duration::from_millis)
        .ok_or(ConfigError {
            var: "WARDEN_LOGOUT_WAIT_MS",
            problem: format!("expected milliseconds from 0 to {MAX_LOGOUT_WAIT_MS}, got {v:?}"),
        })
}

impl Config {
    /// Read the configuration from the environment: the required `WARDEN_ISSUER`,
    /// `WARDEN_TABLE` and key protection, then [`apply_settings`]. Missing required variables
    /// and malformed values are reported with the variable's name.
    pub fn from_env() -> Result<Self, ConfigError> {
        let issuer = env::var("WARDEN_ISSUER").map_err(|_| ConfigError {
            var: "WARDEN_ISSUER",
            problem: "required (the issuer URL, e.g. https://id.example.com)".into(),
        })?;
        let table = env::var("WARDEN_TABLE").map_err(|_| ConfigError {
            var: "WARDEN_TABLE",
            problem: "required (the DynamoDB table name)".into(),
        })?;
        let mut cfg = Config::new(&issuer, &table)?;
        apply_settings(&mut cfg, &env_var)?;
        cfg.key_protection = key_protection_from_env()?;
        Ok(cfg)
    }

    /// A configuration with defaults for everything but the issuer and table.
    pub fn new(issuer: &str, table: &str) -> Result<Self, ConfigError> {
        let issuer = issuer.trim_end_matches('/').to_string();
        let parsed = url::Url::parse(&issuer).map_err(|e| ConfigError {
            var: "WARDEN_ISSUER",
            problem: format!("not a URL: {e}"),
        })?;
        if !matches!(parsed.scheme(), "https" | "http")
            || parsed.query().is_some()
            || parsed.fragment().is_some()
        {
            return Err(ConfigError {
                var: "WARDEN_ISSUER",
                problem: "must be an http(s) URL without query or fragment".into(),
            });
        }
        if table.trim().is_empty() {
            return Err(ConfigError {
                var: "WARDEN_TABLE",
                problem: "must not be empty".into(),
            });
        }
        Ok(Config {
            issuer,
            table: table.to_string(),
            queue_url: None,
            session_idle: Duration::from_secs(900),
            session_absolute: Duration::from_secs(8 * 3600),
            remember_me: Duration::from_secs(14 * 86400),
            access_token_ttl: Duration::from_secs(3600),
            refresh_token_ttl: Duration::from_secs(14 * 86400),
            cookie_secure: parsed.scheme() == "https",
            login_max_failures: 5,
            login_max_failures_per_ip: 100,
            delivery_max_attempts: DEFAULT_DELIVERY_MAX_ATTEMPTS,
            check_session_interval: Duration::from_secs(10),
            logout_wait: Duration::from_millis(DEFAULT_LOGOUT_WAIT_MS),
            key_protection: KeyProtection::random_local(),
            kms_endpoint: None,
            outbound_allow: Vec::new(),
            session_limit: None,
            session_limit_policy: SessionLimitPolicy::Deny,
            shards: Shards::DEFAULT,
        })
    }

    /// The issuer's origin (`scheme://host[:port]`), for same-origin checks.
    pub fn issuer_origin(&self) -> String {
        crate::platform::url::origin_of(&self.issuer).unwrap_or_else(|| self.issuer.clone())
    }

    /// An absolute URL under the issuer.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_protection_settings() {
        assert!(key_protection_from(None, Some("  ")).unwrap().is_none());
        assert!(key_protection_from(None, Some("not-a-key")).is_err());
        let kek = KeyProtection::random_local().local_text().unwrap();
        assert!(matches!(
            key_protection_from(Some("alias/k"), Some(&kek)).unwrap(),
            Some(KeyProtection::Kms { .. })
        ));
        assert!(matches!(
            key_protection_from(Some(" "), Some(&kek)).unwrap(),
            Some(KeyProtection::Local(_))
        ));
    }

    #[test]
    fn delivery_attempts_are_a_bounded_count() {
        let v = |s: &str| Some(s.to_string());
        let attempts = |value| count("WARDEN_DELIVERY_MAX_ATTEMPTS", value, 35, 1000);
        assert_eq!(attempts(None).unwrap(), 35);
        assert_eq!(attempts(v(" ")).unwrap(), 35);
        assert_eq!(attempts(v(" 7 ")).unwrap(), 7);
        assert_eq!(attempts(v("1000")).unwrap(), 1000);
        for bad in ["0", "1001", "-1", "5.5", "five", "4294967296"] {
            let e = attempts(v(bad)).unwrap_err();
            assert_eq!(e.var, "WARDEN_DELIVERY_MAX_ATTEMPTS", "{bad}");
        }
        let c = Config::new("https://x.example", "t").unwrap();
        assert_eq!(c.delivery_max_attempts, DEFAULT_DELIVERY_MAX_ATTEMPTS);
    }

    #[test]
    fn shard_counts_are_settings_with_model_sized_defaults() {
        let mut c = Config::new("https://x.example", "t").unwrap();
        assert_eq!(c.shards, Shards::DEFAULT);
        let given = |name: &str| match name {
            "WARDEN_LIVE_SHARDS" => Some("8".to_string()),
            "WARDEN_DUE_SHARDS" => Some(" 3 ".to_string()),
            _ => None,
        };
        apply_settings(&mut c, &given).unwrap();
        assert_eq!(c.shards, Shards { live: 8, due: 3 });
        for bad in ["0", "1025", "x"] {
            let given = |name: &str| (name == "WARDEN_DUE_SHARDS").then(|| bad.to_string());
            let e = apply_settings(&mut c, &given).unwrap_err();
            assert_eq!(e.var, "WARDEN_DUE_SHARDS", "{bad}");
        }
    }

    #[test]
    fn settings_apply_onto_a_config_and_name_a_malformed_variable() {
        let pairs = |kv: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                kv.iter()
                    .rev()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let mut c = Config::new("http://127.0.0.1:8080", "t").unwrap();
        apply_settings(
            &mut c,
            &pairs(&[
                ("WARDEN_ACCESS_TOKEN_SECONDS", " 30 "),
                ("WARDEN_SESSION_IDLE_SECONDS", "2"),
                ("WARDEN_LOGIN_MAX_FAILURES", "3"),
                ("WARDEN_DELIVERY_MAX_ATTEMPTS", "7"),
                ("WARDEN_REFRESH_TOKEN_SECONDS", ""),
            ]),
        )
        .unwrap();
        assert_eq!(c.access_token_ttl, Duration::from_secs(30));
        assert_eq!(c.session_idle, Duration::from_secs(2));
        assert_eq!(c.login_max_failures, 3);
        assert_eq!(c.delivery_max_attempts, 7);
        // Not given (or blank): the value stays, here Config::new's defaults.
        assert_eq!(c.refresh_token_ttl, Duration::from_secs(14 * 86400));
        assert_eq!(c.session_absolute, Duration::from_secs(8 * 3600));
        assert_eq!(c.login_max_failures_per_ip, 100);
        assert!(!c.cookie_secure, "an http issuer's default stays");
        assert_eq!(c.queue_url, None);

        for (var, bad) in [
            ("WARDEN_ACCESS_TOKEN_SECONDS", "30s"),
            ("WARDEN_SESSION_IDLE_SECONDS", "0"),
            ("WARDEN_LOGIN_MAX_FAILURES", "-1"),
            ("WARDEN_LOGIN_MAX_FAILURES_PER_IP", "many"),
            ("WARDEN_COOKIE_SECURE", "yes"),
            ("WARDEN_DELIVERY_MAX_ATTEMPTS", "1001"),
        ] {
            let e = apply_settings(&mut c, &|name: &str| (name == var).then(|| bad.to_string()))
                .unwrap_err();
            assert_eq!(e.var, var, "{bad}");
            assert!(e.to_string().contains(var), "{e}");
        }
        apply_settings(
            &mut c,
            &pairs(&[("WARDEN_COOKIE_SECURE", "true"), ("WARDEN_QUEUE_URL", "q")]),
        )
        .unwrap();
        assert!(c.cookie_secure);
        assert_eq!(c.queue_url.as_deref(), Some("q"));
    }

    #[test]
    fn the_outbound_allow_list_is_a_list_of_cidrs() {
        let mut c = Config::new("https://id.example", "t").unwrap();
        assert!(c.outbound_allow.is_empty());
        let allow =
            |v: &'static str| move |n: &str| (n == "WARDEN_OUTBOUND_ALLOW").then(|| v.to_string());
        apply_settings(&mut c, &allow("10.1.0.0/16, 192.168.5.0/24")).unwrap();
        let shown: Vec<String> = c.outbound_allow.iter().map(|n| n.to_string()).collect();
        assert_eq!(shown, ["10.1.0.0/16", "192.168.5.0/24"]);
        let e = apply_settings(&mut c, &allow("10.1.0.0/16,intranet")).unwrap_err();
        assert_eq!(e.var, "WARDEN_OUTBOUND_ALLOW");
        assert!(e.problem.contains("intranet"), "{e}");
    }

    #[test]
    fn rejects_bad_issuer() {
        assert!(Config::new("not a url", "t").is_err());
        assert!(Config::new("https://x.example/#f", "t").is_err());
        assert!(Config::new("https://x.example", "").is_err());
        let c = Config::new("https://x.example/", "t").unwrap();
        assert_eq!(c.issuer, "https://x.example");
        assert!(c.cookie_secure);
    }

    #[test]
    fn the_check_session_interval_is_one_to_thirty_seconds() {
        let c = Config::new("https://x.example", "t").unwrap();
        assert_eq!(c.check_session_interval, Duration::from_secs(10));
        let v = |s: &str| Some(s.to_string());
        assert_eq!(
            check_session_interval(None).unwrap(),
            Duration::from_secs(10)
        );
        assert_eq!(
            check_session_interval(v(" 3 ")).unwrap(),
            Duration::from_secs(3)
        );
        for bad in ["0", "31", "ten", "-1"] {
            let e = check_session_interval(v(bad)).unwrap_err();
            assert_eq!(e.var, "WARDEN_CHECK_SESSION_INTERVAL_SECONDS", "{bad}");
        }
    }

    #[test]
    fn the_logout_wait_is_zero_to_ten_seconds() {
        let c = Config::new("https://x.example", "t").unwrap();
        assert_eq!(c.logout_wait, Duration::from_millis(2000));
        assert_eq!(logout_wait("0").unwrap(), Duration::ZERO);
        assert_eq!(logout_wait(" 250 ").unwrap(), Duration::from_millis(250));
        for bad in ["10001", "-1", "2s", ""] {
            assert_eq!(
                logout_wait(bad).unwrap_err().var,
                "WARDEN_LOGOUT_WAIT_MS",
                "{bad}"
            );
        }
    }
}
