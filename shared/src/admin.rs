//! Administration rules shared by `warden-admin` and the local stack's seed: validating
//! client metadata, creating users and clients.

use crate::platform::crypto;
use crate::platform::time::now_ms;
use crate::store::schema::{keys, ClientItem, TokenBinding, UserItem};
use crate::store::Store;
use crate::store::StoreError;

/// The token bindings a client may have (see [`crate::oauth::tokens`]); `sso-session` when none is
/// given.
/// The binding names `--token-binding` accepts.
pub const BINDINGS: &[TokenBinding] = TokenBinding::ALL;
/// The grant types Warden serves.
pub const GRANT_TYPES: &[&str] = crate::oauth::oidc::GRANT_TYPES;
/// A new client's grant types when its spec names none.
pub const DEFAULT_GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token"];
/// The scopes a client may request when its spec names none.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// What an administrator says about a client.
#[derive(Debug, Clone, Default)]
pub struct ClientSpec {
    /// The client id; `None`: a random one (never starting with `-` or `_`). Ignored on update.
    pub client_id: Option<String>,
    /// Display name.
    pub name: String,
    /// A public client (no secret, PKCE required), e.g. a single-page or native app.
    pub public: bool,
    /// Redirect URIs, matched exactly ([`uri_problem`] states the rules).
    pub redirect_uris: Vec<String>,
    /// CORS origins for token, userinfo and revoke; empty: the redirect URIs' origins.
    pub web_origins: Vec<String>,
    /// Where RP-Initiated Logout may return the browser.
    pub post_logout_redirect_uris: Vec<String>,
    /// Back-Channel Logout endpoint.
    pub backchannel_logout_uri: Option<String>,
    /// The client wants `sid` in logout tokens.
    pub backchannel_logout_session_required: bool,
    /// Front-Channel Logout page; must share the scheme, host and port of a redirect URI.
    pub frontchannel_logout_uri: Option<String>,
    /// Add `iss` and `sid` to the front-channel logout URI.
    pub frontchannel_logout_session_required: bool,
    /// Scopes it may request; empty: [`DEFAULT_SCOPES`].
    pub scopes: Vec<String>,
    /// Grant types (of [`GRANT_TYPES`]); empty: [`DEFAULT_GRANT_TYPES`] (none for an
    /// introspection-only resource server). `client_credentials` only for a confidential
    /// client (an SSF receiver: no redirect URI needed).
    pub grant_types: Vec<String>,
    /// One of [`BINDINGS`]; `None`: `sso-session`.
    pub token_binding: Option<String>,
    /// May introspect other clients' tokens ([`ClientItem::resource_server`]).
    pub resource_server: bool,
    /// `offline_access` refresh tokens outlive logout and expiry
    /// ([`ClientItem::keep_offline_tokens`]).
    pub keep_offline_tokens: bool,
}

/// Why a client URI breaks the registration rules. Redirect, post-logout redirect and
/// logout URIs and web origins are matched exactly and sent to browsers, so they must be
/// plain, exact `https` URLs (OAuth 2.1 §2.3.1, BCP 212 / RFC 8252 §7.3 and §8.3): plain
/// `http` only on a loopback host, where nothing leaves the machine. Private-use schemes
/// for native apps (RFC 8252 §7.1) are not accepted: the authorize, CORS and front-channel
/// checks all assume an http(s) origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UriProblem {
    /// Not an absolute URL in plain form (`scheme://host…`, no spaces, control characters
    /// or backslashes, which parsers repair differently).
    Malformed,
    /// A scheme other than http or https.
    Scheme,
    /// No host.
    NoHost,
    /// `user:pass@` before the host (a look-alike: `https://rp.example@evil.example`).
    Userinfo,
    /// A `*` anywhere: no wildcards, every URI is matched exactly.
    Wildcard,
    /// A `#fragment` (OAuth 2.1 §2.3.1: the redirect URI must not include one).
    Fragment,
    /// Plain http on a host other than `127.0.0.1`, `[::1]` or `localhost`.
    PlainHttp,
    /// A back-channel URI whose host the outbound address policy refuses by default: an IP
    /// literal in a loopback, private, link-local, metadata or other special range, or a
    /// `localhost` name ([`crate::outbound::policy`]). A warning, not a refusal: a VPC
    /// deployment may allow the network (`WARDEN_OUTBOUND_ALLOW`), the local stack allows
    /// loopback.
    RefusedAddress,
}

impl UriProblem {
    /// The rule, as the end of a sentence for the administrator.
    pub fn rule(self) -> &'static str {
        match self {
            UriProblem::Malformed => {
                "is not a plain absolute URL (scheme://host…, no spaces, control characters \
                 or backslashes)"
            }
            UriProblem::Scheme => "must be http or https",
            UriProblem::NoHost => "has no host",
            UriProblem::Userinfo => "must not contain a user name or password (user:pass@)",
            UriProblem::Wildcard => "must not contain '*' (no wildcards: URIs are matched exactly)",
            UriProblem::Fragment => "must not contain a fragment",
            UriProblem::PlainHttp => {
                "must use https (plain http only on a loopback host: 127.0.0.1, [::1] or \
                 localhost; RFC 8252 §8.3)"
            }
            UriProblem::RefusedAddress => {
                "names an address Warden does not send to by default (loopback, private, \
                 link-local, metadata, …): its deliveries are rejected unless \
                 WARDEN_OUTBOUND_ALLOW covers it (loopback: unless the issuer is loopback, as \
                 in the local stack)"
            }
        }
    }
}

/// The hosts on which plain http is allowed (RFC 8252 §7.3, §8.3), exactly as written
/// (`localhost.evil.example`, `127.0.0.2` or `localhost.` are not loopback here).
const LOOPBACK_HOSTS: &[&str] = &["127.0.0.1", "[::1]", "localhost"];

/// The authority of `u` as written (between `scheme://` and the path, query or fragment).
fn raw_authority(u: &str) -> Option<&str> {
    let (_, rest) = u.split_once("://")?;
    Some(rest.split(['/', '?', '#']).next().unwrap_or(rest))
}

/// The host of an authority without userinfo, as written: `[v6]` or up to the port.
fn raw_host(authority: &str) -> &str {
    if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        }
    } else {
        authority.split(':').next().unwrap_or(authority)
    }
}

/// What is wrong with client URI `u`, if anything: its parsed form, or the broken rule and
/// the parser's complaint, if any.
fn parse_client_uri(u: &str) -> Result<url::Url, (UriProblem, Option<url::ParseError>)> {
    let parsed = url::Url::parse(u).map_err(|e| (UriProblem::Malformed, Some(e)))?;
    // As written, not as the parser repaired it: `scheme://` first, nothing it would drop
    // or turn into a slash.
    let scheme = parsed.scheme();
    let plain = !u
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
        && u.get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
        && u[scheme.len()..].starts_with("://");
    let authority = raw_authority(u).filter(|_| plain);
    let Some(authority) = authority else {
        return Err((UriProblem::Malformed, None));
    };
    if u.contains('*') {
        return Err((UriProblem::Wildcard, None));
    }
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err((UriProblem::Scheme, None));
    }
    if parsed.host_str().is_none() || authority.is_empty() {
        return Err((UriProblem::NoHost, None));
    }
    if authority.contains('@') || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err((UriProblem::Userinfo, None));
    }
    if parsed.fragment().is_some() {
        return Err((UriProblem::Fragment, None));
    }
    let host = raw_host(authority).to_ascii_lowercase();
    if parsed.scheme() == "http" && !LOOPBACK_HOSTS.contains(&host.as_str()) {
        return Err((UriProblem::PlainHttp, None));
    }
    Ok(parsed)
}

/// The rule client URI `u` breaks, if any ([`UriProblem`]).
pub fn uri_problem(u: &str) -> Option<UriProblem> {
    parse_client_uri(u).err().map(|(p, _)| p)
}

fn check_uri(field: &str, u: &str) -> Result<url::Url, String> {
    parse_client_uri(u).map_err(|(p, e)| match e {
        Some(e) => format!("{field}: {u:?} {} ({e})", p.rule()),
        None => format!("{field}: {u:?} {}", p.rule()),
    })
}

/// A stored client's URI that breaks today's rules (registered before they applied): the
/// client keeps working, `warden-admin client list` names it. Also a back-channel URI the
/// outbound policy will refuse ([`UriProblem::RefusedAddress`]), which `client create` and
/// `client update` warn about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UriFinding {
    /// The metadata field (`redirect_uris`, `backchannel_logout_uri`, …).
    pub field: &'static str,
    /// The URI as stored.
    pub uri: String,
    /// The rule it breaks.
    pub problem: UriProblem,
}

/// [`UriProblem::RefusedAddress`] when back-channel URI `u`'s host is one the default
/// outbound policy refuses before any lookup (an IP literal or a `localhost` name; other
/// names are judged when they are resolved, at delivery).
pub fn refused_address(u: &str) -> Option<UriProblem> {
    let parsed = url::Url::parse(u).ok()?;
    let host = parsed.host()?;
    crate::outbound::policy::AddressPolicy::default()
        .check_host(&host)
        .err()
        .map(|_| UriProblem::RefusedAddress)
}

/// Every URI of `c` that breaks the registration rules ([`uri_problem`]), field by field,
/// and a back-channel URI the outbound policy refuses by default ([`refused_address`]; the
/// front-channel URI is loaded by the browser, not by Warden).
pub fn client_uri_findings(c: &ClientItem) -> Vec<UriFinding> {
    let fields: [(&'static str, Vec<&String>); 5] = [
        ("redirect_uris", c.redirect_uris.iter().collect()),
        (
            "post_logout_redirect_uris",
            c.post_logout_redirect_uris.iter().collect(),
        ),
        ("web_origins", c.web_origins.iter().collect()),
        (
            "backchannel_logout_uri",
            c.backchannel_logout_uri.iter().collect(),
        ),
        (
            "frontchannel_logout_uri",
            c.frontchannel_logout_uri.iter().collect(),
        ),
    ];
    fields
        .into_iter()
        .flat_map(|(field, uris)| {
            uris.into_iter().filter_map(move |u| {
                let refused = || match field {
                    "backchannel_logout_uri" => refused_address(u),
                    _ => None,
                };
                uri_problem(u).or_else(refused).map(|problem| UriFinding {
                    field,
                    uri: u.clone(),
                    problem,
                })
            })
        })
        .collect()
}

/// The grant types a spec gives its client, checked against its redirect URIs. Only the
/// authorization_code grant redirects, so only it needs a redirect URI. A confidential
/// resource server given neither redirect URIs nor grant types only introspects: it gets
/// no grant at all (it cannot start an authorization: no redirect URI is registered, so
/// authorize shows its error page; nor obtain tokens). Any other spec without grant types
/// gets the defaults ([`DEFAULT_GRANT_TYPES`]). A public client always needs a redirect URI: without
/// a secret it can do nothing else.
fn grant_types(spec: &ClientSpec) -> Result<Vec<String>, String> {
    let no_redirect = spec.redirect_uris.is_empty();
    let grant_types: Vec<String> = if !spec.grant_types.is_empty() {
        spec.grant_types.clone()
    } else if no_redirect && spec.resource_server && !spec.public {
        Vec::new()
    } else {
        DEFAULT_GRANT_TYPES.iter().map(|s| s.to_string()).collect()
    };
    if let Some(g) = grant_types
        .iter()
        .find(|g| !GRANT_TYPES.contains(&g.as_str()))
    {
        return Err(format!("grant_types: unsupported grant type {g:?}"));
    }
    if spec.public && grant_types.iter().any(|g| g == "client_credentials") {
        return Err(
            "grant_types: client_credentials is for confidential clients only (RFC 6749 §4.4)"
                .into(),
        );
    }
    if no_redirect && spec.public {
        return Err("redirect_uris: a public client needs at least one".into());
    }
    if no_redirect && grant_types.iter().any(|g| g == "authorization_code") {
        return Err(
            "redirect_uris: at least one is required for the authorization_code \
                    grant (a resource server that only introspects: a confidential client \
                    with resource_server, no redirect URI and no grant type)"
                .into(),
        );
    }
    Ok(grant_types)
}

/// Validate a spec into a client item (with its new secret for confidential clients).
/// Errors are sentences for the administrator.
pub fn build_client(
    spec: &ClientSpec,
    existing: Option<&ClientItem>,
) -> Result<(ClientItem, Option<String>), String> {
    let client_id = match (&spec.client_id, existing) {
        (_, Some(e)) => e.client_id.clone(),
        (Some(id), None) => id.clone(),
        // Never starting with '-' or '_': a client id is typed into command lines, where
        // a leading '-' reads as a flag.
        (None, None) => loop {
            let id = crypto::random_id();
            if id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
                break id;
            }
        },
    };
    if client_id.is_empty()
        || client_id.len() > 128
        || !client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err("client_id: 1-128 characters of letters, digits, '-', '_' or '.'".into());
    }
    let grant_types = grant_types(spec)?;
    let mut redirect_origins = Vec::new();
    for u in &spec.redirect_uris {
        let p = check_uri("redirect_uris", u)?;
        redirect_origins.push((
            p.scheme().to_string(),
            p.host_str().map(str::to_string),
            p.port_or_known_default(),
        ));
    }
    for u in &spec.post_logout_redirect_uris {
        check_uri("post_logout_redirect_uris", u)?;
    }
    for o in &spec.web_origins {
        if crate::http::cors::origin_of(o).as_deref() != Some(o.as_str()) {
            return Err(format!(
                "web_origins: {o:?} is not an origin (scheme://host[:port], lower case, \
                 no path, no default port)"
            ));
        }
        check_uri("web_origins", o)?;
    }
    if let Some(u) = &spec.backchannel_logout_uri {
        let p = check_uri("backchannel_logout_uri", u)?;
        if spec.public && p.scheme() != "https" {
            return Err(
                "backchannel_logout_uri: a public client's logout URI must use https".into(),
            );
        }
    }
    if let Some(u) = &spec.frontchannel_logout_uri {
        let p = check_uri("frontchannel_logout_uri", u)?;
        if spec.public && p.scheme() != "https" {
            return Err(
                "frontchannel_logout_uri: a public client's logout URI must use https".into(),
            );
        }
        let o = (
            p.scheme().to_string(),
            p.host_str().map(str::to_string),
            p.port_or_known_default(),
        );
        if !redirect_origins.contains(&o) {
            return Err(
                "frontchannel_logout_uri: must have the scheme, host and port of a redirect URI"
                    .into(),
            );
        }
    }
    let binding = match spec.token_binding.as_deref() {
        None => TokenBinding::SsoSession,
        Some(b) => TokenBinding::parse(b).ok_or_else(|| {
            format!("token_binding: {b:?} is not one of sso-session, cookie, none")
        })?,
    };
    let scopes: Vec<String> = if spec.scopes.is_empty() {
        DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect()
    } else {
        spec.scopes.clone()
    };
    for s in &scopes {
        if !crate::oauth::oidc::SCOPES.contains(&s.as_str()) {
            return Err(format!("scopes: unknown scope {s:?}"));
        }
    }
    let (secret_hash, secret) = match (spec.public, existing) {
        (true, _) => (None, None),
        (false, Some(e)) if e.secret_hash.is_some() => (e.secret_hash.clone(), None),
        (false, _) => {
            let s = crypto::random_token();
            (Some(crypto::hash_secret(&s)), Some(s))
        }
    };
    let (pk, sk) = keys::client(&client_id);
    Ok((
        ClientItem {
            pk,
            sk,
            client_id,
            name: if spec.name.is_empty() {
                "Unnamed app".into()
            } else {
                spec.name.clone()
            },
            secret_hash,
            redirect_uris: spec.redirect_uris.clone(),
            web_origins: spec.web_origins.clone(),
            post_logout_redirect_uris: spec.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: spec.backchannel_logout_uri.clone(),
            backchannel_logout_session_required: spec.backchannel_logout_session_required,
            frontchannel_logout_uri: spec.frontchannel_logout_uri.clone(),
            frontchannel_logout_session_required: spec.frontchannel_logout_session_required,
            scopes,
            grant_types,
            token_binding: binding,
            disabled: false,
            created_ms: existing.map(|e| e.created_ms).unwrap_or_else(now_ms),
            resource_server: spec.resource_server,
            keep_offline_tokens: spec.keep_offline_tokens,
        },
        secret,
    ))
}

/// Errors of the create operations.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The spec breaks a rule; the text is a sentence for the administrator.
    #[error("{0}")]
    Invalid(String),
    /// The client id or username is taken.
    #[error("already exists")]
    Exists,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Register a new client; returns it and its secret (confidential clients only; shown once).
pub async fn create_client(
    store: &Store,
    spec: &ClientSpec,
) -> Result<(ClientItem, Option<String>), AdminError> {
    let (c, secret) = build_client(spec, None).map_err(AdminError::Invalid)?;
    match store.put_client(&c, true).await {
        Ok(()) => Ok((c, secret)),
        Err(StoreError::ConditionFailed) => Err(AdminError::Exists),
        Err(e) => Err(e.into()),
    }
}

/// Create a user with an argon2id password hash.
pub async fn create_user(
    store: &Store,
    username: &str,
    password: &str,
    name: &str,
    email: &str,
    roles: &[String],
) -> Result<UserItem, AdminError> {
    if username.is_empty()
        || username.len() > 128
        || username
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(AdminError::Invalid(
            "username: 1-128 characters, no spaces".into(),
        ));
    }
    if password.len() < 8 {
        return Err(AdminError::Invalid(
            "password: at least 8 characters".into(),
        ));
    }
    for r in roles {
        if !crate::oauth::oidc::SCOPES.contains(&r.as_str()) {
            return Err(AdminError::Invalid(format!("roles: unknown scope {r:?}")));
        }
    }
    let user_id = crypto::random_id();
    let (pk, sk) = keys::user(&user_id);
    let u = UserItem {
        pk,
        sk,
        user_id,
        username: username.to_string(),
        password_hash: crypto::hash_password(password).map_err(AdminError::Invalid)?,
        name: name.to_string(),
        email: email.to_string(),
        disabled: false,
        credential_version: 0,
        roles: roles.to_vec(),
        created_ms: now_ms(),
    };
    match store.create_user(&u).await {
        Ok(()) => Ok(u),
        Err(StoreError::ConditionFailed) => Err(AdminError::Exists),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ClientSpec {
        ClientSpec {
            name: "x".into(),
            redirect_uris: vec!["https://rp.example/cb".into()],
            ..Default::default()
        }
    }

    #[test]
    fn uris_follow_rfc_8252_and_oauth_2_1() {
        for good in [
            "https://rp.example/cb",
            "https://rp.example:8443/cb?tenant=a",
            "HTTPS://rp.example/cb",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51004/cb",
            "http://[::1]:8080/cb",
            "http://[::1]/cb",
            "http://localhost/cb",
            "http://localhost:9000/callback",
            "http://LOCALHOST:3000",
        ] {
            assert_eq!(uri_problem(good), None, "{good}");
        }
        for (bad, want) in [
            ("http://rp.example/cb", UriProblem::PlainHttp),
            ("http://localhost.evil.example/cb", UriProblem::PlainHttp),
            ("http://localhost./cb", UriProblem::PlainHttp),
            ("http://127.0.0.2/cb", UriProblem::PlainHttp),
            ("http://127.1/cb", UriProblem::PlainHttp),
            ("http://2130706433/cb", UriProblem::PlainHttp),
            ("http://[::ffff:127.0.0.1]/cb", UriProblem::PlainHttp),
            ("http://10.0.0.5:8080/cb", UriProblem::PlainHttp),
            ("https://user:pass@rp.example/cb", UriProblem::Userinfo),
            ("https://rp.example@evil.example/cb", UriProblem::Userinfo),
            ("https://@rp.example/cb", UriProblem::Userinfo),
            ("http://user@localhost/cb", UriProblem::Userinfo),
            ("https://*.rp.example/cb", UriProblem::Wildcard),
            ("https://rp.example/*", UriProblem::Wildcard),
            ("https://rp.example/cb?next=*", UriProblem::Wildcard),
            ("https://rp.example/cb#x", UriProblem::Fragment),
            ("https://rp.example/cb#", UriProblem::Fragment),
            ("ftp://rp.example/cb", UriProblem::Scheme),
            ("com.example.app:/cb", UriProblem::Malformed),
            ("com.example.app://cb", UriProblem::Scheme),
            ("javascript://x/%0aalert(1)", UriProblem::Scheme),
            ("https:rp.example/cb", UriProblem::Malformed),
            ("https:/rp.example/cb", UriProblem::Malformed),
            (
                "https://evil.example\\@rp.example/cb",
                UriProblem::Malformed,
            ),
            ("https://rp.exa\tmple/cb", UriProblem::Malformed),
            (" https://rp.example/cb", UriProblem::Malformed),
            ("/cb", UriProblem::Malformed),
            ("not a url", UriProblem::Malformed),
        ] {
            assert_eq!(uri_problem(bad), Some(want), "{bad}");
        }
    }

    #[test]
    fn every_uri_field_is_checked() {
        let mut s = spec();
        s.redirect_uris = vec!["http://rp.example/cb".into()];
        let e = build_client(&s, None).unwrap_err();
        assert!(
            e.starts_with("redirect_uris:") && e.contains("https"),
            "{e}"
        );
        let mut s = spec();
        s.post_logout_redirect_uris = vec!["https://u:p@rp.example/bye".into()];
        let e = build_client(&s, None).unwrap_err();
        assert!(e.starts_with("post_logout_redirect_uris:"), "{e}");
        assert!(e.contains("user name or password"), "{e}");
        let mut s = spec();
        s.web_origins = vec!["http://app.example".into()];
        let e = build_client(&s, None).unwrap_err();
        assert!(e.starts_with("web_origins:") && e.contains("https"), "{e}");
        let mut s = spec();
        s.backchannel_logout_uri = Some("https://rp.example/*".into());
        let e = build_client(&s, None).unwrap_err();
        assert!(
            e.starts_with("backchannel_logout_uri:") && e.contains("'*'"),
            "{e}"
        );
        let mut s = spec();
        s.backchannel_logout_uri = Some("http://rp.example/bc".into());
        let e = build_client(&s, None).unwrap_err();
        assert!(e.starts_with("backchannel_logout_uri:"), "{e}");
        let mut s = spec();
        s.redirect_uris = vec!["http://localhost.evil.example/cb".into()];
        s.frontchannel_logout_uri = Some("http://localhost.evil.example/fc".into());
        assert!(build_client(&s, None).is_err());
        // Loopback http stays valid everywhere (the local stack, the tests, native apps).
        let mut s = spec();
        s.redirect_uris = vec!["http://127.0.0.1:4000/cb".into()];
        s.post_logout_redirect_uris = vec!["http://127.0.0.1:4000/bye".into()];
        s.web_origins = vec!["http://127.0.0.1:4000".into()];
        s.backchannel_logout_uri = Some("http://127.0.0.1:4001/backchannel".into());
        s.frontchannel_logout_uri = Some("http://127.0.0.1:4000/fc".into());
        assert!(build_client(&s, None).is_ok());
    }

    #[test]
    fn stored_clients_that_break_the_rules_are_found() {
        let (mut c, _) = build_client(&spec(), None).unwrap();
        assert!(client_uri_findings(&c).is_empty());
        c.redirect_uris.push("http://rp.example/cb".into());
        c.web_origins.push("http://127.0.0.1:3000".into());
        c.backchannel_logout_uri = Some("https://*.rp.example/bc".into());
        assert_eq!(
            client_uri_findings(&c),
            vec![
                UriFinding {
                    field: "redirect_uris",
                    uri: "http://rp.example/cb".into(),
                    problem: UriProblem::PlainHttp,
                },
                UriFinding {
                    field: "backchannel_logout_uri",
                    uri: "https://*.rp.example/bc".into(),
                    problem: UriProblem::Wildcard,
                },
            ]
        );
    }

    #[test]
    fn a_back_channel_uri_the_outbound_policy_refuses_is_a_finding_not_an_error() {
        for uri in [
            "https://169.254.169.254/latest",
            "https://10.0.0.1/bc",
            "https://[::1]:8443/bc",
            "https://[::ffff:192.168.1.5]/bc",
            "https://localhost/bc",
            "http://localhost:9001/bc",
            "http://127.0.0.1:4001/backchannel",
            "https://100.64.0.9/bc",
        ] {
            let mut s = spec();
            s.backchannel_logout_uri = Some(uri.into());
            let (c, _) = build_client(&s, None).unwrap_or_else(|e| panic!("{uri}: {e}"));
            assert_eq!(
                client_uri_findings(&c),
                vec![UriFinding {
                    field: "backchannel_logout_uri",
                    uri: uri.into(),
                    problem: UriProblem::RefusedAddress,
                }],
                "{uri}"
            );
        }
        for uri in [
            "https://rp.example/bc",
            "https://93.184.216.34/bc",
            "https://private.example.test/bc",
        ] {
            let mut s = spec();
            s.backchannel_logout_uri = Some(uri.into());
            assert!(
                client_uri_findings(&build_client(&s, None).unwrap().0).is_empty(),
                "{uri}"
            );
        }
        // Only the back-channel URI: the browser loads the front-channel one.
        let mut s = spec();
        s.redirect_uris = vec!["http://127.0.0.1:4000/cb".into()];
        s.frontchannel_logout_uri = Some("http://127.0.0.1:4000/fc".into());
        assert!(client_uri_findings(&build_client(&s, None).unwrap().0).is_empty());
        let rule = UriProblem::RefusedAddress.rule();
        assert!(rule.contains("WARDEN_OUTBOUND_ALLOW"), "{rule}");
        assert_eq!(
            serde_json::to_value(UriProblem::RefusedAddress).unwrap(),
            "refused_address"
        );
    }

    #[test]
    fn validation() {
        let (c, secret) = build_client(&spec(), None).unwrap();
        assert_eq!(c.token_binding, "sso-session");
        for _ in 0..200 {
            let id = build_client(&spec(), None).unwrap().0.client_id;
            assert!(id.starts_with(|c: char| c.is_ascii_alphanumeric()), "{id}");
        }
        assert!(secret.is_some());
        let mut s = spec();
        s.redirect_uris = vec!["https://rp.example/cb#x".into()];
        assert!(build_client(&s, None).unwrap_err().contains("fragment"));
        let mut s = spec();
        s.token_binding = Some("weird".into());
        assert!(build_client(&s, None).is_err());
        for bad in [
            "https://app.example/",
            "https://app.example/path",
            "https://App.example",
            "https://app.example:443",
            "null",
            "ftp://app.example",
        ] {
            let mut s = spec();
            s.web_origins = vec![bad.into()];
            assert!(build_client(&s, None).is_err(), "{bad}");
        }
        let mut s = spec();
        s.web_origins = vec!["https://app.example".into(), "http://localhost:3000".into()];
        assert_eq!(build_client(&s, None).unwrap().0.web_origins.len(), 2);
        let mut s = spec();
        s.public = true;
        s.backchannel_logout_uri = Some("http://rp.example/bc".into());
        assert!(build_client(&s, None).unwrap_err().contains("https"));
        let mut s = spec();
        s.frontchannel_logout_uri = Some("https://other.example/fc".into());
        assert!(build_client(&s, None).is_err());
        let mut s = spec();
        s.frontchannel_logout_uri = Some("https://rp.example/fc".into());
        assert!(build_client(&s, None).is_ok());
    }

    #[test]
    fn only_the_authorization_code_grant_needs_a_redirect_uri() {
        let no_redirect = |f: fn(&mut ClientSpec)| {
            let mut s = ClientSpec {
                name: "api".into(),
                ..Default::default()
            };
            f(&mut s);
            build_client(&s, None)
        };
        // A confidential resource server with no redirect URI and no grant type: introspection only.
        let (c, secret) = no_redirect(|s| s.resource_server = true).unwrap();
        assert!(c.grant_types.is_empty() && c.redirect_uris.is_empty());
        assert!(c.resource_server && secret.is_some());
        // Without the resource server flag it would get the code grant, which redirects.
        let e = no_redirect(|_| {}).unwrap_err();
        assert!(
            e.starts_with("redirect_uris:") && e.contains("authorization_code"),
            "{e}"
        );
        let e = no_redirect(|s| {
            s.resource_server = true;
            s.grant_types = vec!["authorization_code".into()];
        })
        .unwrap_err();
        assert!(e.starts_with("redirect_uris:"), "{e}");
        // Public clients always need one.
        let e = no_redirect(|s| {
            s.resource_server = true;
            s.public = true;
        })
        .unwrap_err();
        assert!(
            e.starts_with("redirect_uris:") && e.contains("public"),
            "{e}"
        );
        // With a redirect URI a resource server keeps the default grants.
        let mut s = spec();
        s.resource_server = true;
        assert_eq!(
            build_client(&s, None).unwrap().0.grant_types,
            DEFAULT_GRANT_TYPES
        );
        // A front-channel URI needs a redirect URI's origin, so none without one.
        assert!(no_redirect(|s| {
            s.resource_server = true;
            s.frontchannel_logout_uri = Some("https://api.example/fc".into());
        })
        .is_err());
    }

    #[test]
    fn an_ssf_receiver_is_a_confidential_client_with_the_client_credentials_grant() {
        let receiver = ClientSpec {
            name: "Receiver".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["ssf.manage".into(), "ssf.read".into()],
            ..Default::default()
        };
        let (c, secret) = build_client(&receiver, None).unwrap();
        assert_eq!(c.grant_types, ["client_credentials"]);
        assert!(secret.is_some() && c.redirect_uris.is_empty());
        let mut public = receiver.clone();
        public.public = true;
        public.redirect_uris = vec!["https://rp.example/cb".into()];
        let e = build_client(&public, None).unwrap_err();
        assert!(e.contains("confidential"), "{e}");
        let mut bogus = receiver;
        bogus.grant_types = vec!["password".into()];
        assert!(build_client(&bogus, None).is_err());
    }
}
