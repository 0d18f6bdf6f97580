//! `warden-admin`: manage users, clients and signing keys in Warden's table, locally
//! (`--dynamodb-endpoint http://127.0.0.1:…`, the local stack's engine or moto) or in AWS
//! (no endpoint: the normal AWS credential chain).
//!
//! Every command prints JSON lines. Secrets (client secrets) are printed once, at creation;
//! private keys and password hashes are never printed.

use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};
use std::io::BufRead;
use std::sync::Arc;
use warden_core::account::{lifecycle, AccountError};
use warden_core::admin::{self, AdminError, ClientSpec};
use warden_core::keys::protection::{KeyProtection, KeyProtector};
use warden_core::outbound::queue::{LogoutQueue, NoQueue, SqsQueue};
use warden_core::store::dynamodb_client;
use warden_core::store::schema::{ActorKind, ClientItem, EndedBy, UserItem};
use warden_core::{App, Config, Store};

#[derive(Parser, Debug)]
#[command(
    name = "warden-admin",
    version,
    about = "Manage Warden users, clients and signing keys"
)]
pub struct Cli {
    /// DynamoDB table name.
    #[arg(long, env = "WARDEN_TABLE", default_value = "warden", global = true)]
    pub table: String,
    /// DynamoDB endpoint (local stack engine, moto). Without it the normal AWS credential
    /// chain and region are used.
    #[arg(long, env = "WARDEN_DYNAMODB_ENDPOINT", global = true)]
    pub dynamodb_endpoint: Option<String>,
    /// The KMS key that wraps signing keys (the stack's `SigningKeyWrapKeyArn` output).
    /// Needed by `keys rotate` and `keys protect`.
    #[arg(long, env = "WARDEN_KMS_KEY_ID", global = true)]
    pub kms_key_id: Option<String>,
    /// KMS endpoint (an emulator).
    #[arg(long, env = "WARDEN_KMS_ENDPOINT", global = true)]
    pub kms_endpoint: Option<String>,
    /// Outside AWS: the base64url 256-bit key that wraps signing keys (prefer the
    /// environment variable to the flag).
    #[arg(
        long,
        env = "WARDEN_KEY_ENCRYPTION_KEY",
        hide_env_values = true,
        global = true
    )]
    pub key_encryption_key: Option<String>,
    /// The SQS logout queue (the stack's `LogoutQueueUrl`, or the local stack's
    /// `--sqs-queue-url`): `user disable` enqueues its back-channel logouts there at once,
    /// as the functions do. Without one they are written due at once and the relay sends
    /// them (the local stack's within seconds, the deployed one within a minute).
    #[arg(long, env = "WARDEN_QUEUE_URL", global = true)]
    pub queue_url: Option<String>,
    /// SQS endpoint (moto) for --queue-url.
    #[arg(long, env = "WARDEN_SQS_ENDPOINT", global = true)]
    pub sqs_endpoint: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Users: create, list, disable.
    #[command(subcommand)]
    User(UserCmd),
    /// Clients (relying parties): create, update, list.
    #[command(subcommand)]
    Client(ClientCmd),
    /// Signing keys: rotate, list.
    #[command(subcommand)]
    Keys(KeysCmd),
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create a user (argon2id password hash).
    Create {
        #[arg(long)]
        username: String,
        /// The password (visible in the process list; prefer --password-stdin).
        #[arg(
            long,
            conflicts_with = "password_stdin",
            required_unless_present = "password_stdin"
        )]
        password: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "")]
        email: String,
        /// A scope the user may be granted beyond the defaults (repeatable), e.g.
        /// internal_session_view.
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// List users.
    List,
    /// Disable a user: no more logins, and every live session ends (back-channel logouts go
    /// out through --queue-url at once, or, without a queue, through the relay's next run).
    Disable {
        #[arg(long)]
        username: String,
    },
    /// Enable a disabled user again (sessions ended by the disable stay ended).
    Enable {
        #[arg(long)]
        username: String,
    },
    /// Reset a user's password, read from the first line of standard input (never from the
    /// command line); every session of the user ends (reason credential_change).
    SetPassword {
        #[arg(long)]
        username: String,
    },
    /// Delete a user: every session ends (reason user_deleted), then the user and its
    /// username are removed (the name is free again).
    Delete {
        #[arg(long)]
        username: String,
    },
}

/// Client metadata flags shared by `client create` and `client update`. On update, a flag
/// that is not given keeps the stored value; an empty URI value clears it.
#[derive(Args, Debug, Default, Clone)]
pub struct ClientFlags {
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// A public client (no secret; PKCE required).
    #[arg(long)]
    pub public: bool,
    /// (update) Turn a public client into a confidential one (a secret is generated).
    #[arg(long, conflicts_with = "public")]
    pub confidential: bool,
    /// Redirect URI (repeatable; on update, replaces the list).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// Origin whose pages may call token, userinfo and revoke (CORS), e.g.
    /// `https://app.example.com` (repeatable; on update, replaces the list). Without any:
    /// the origins of the redirect URIs.
    #[arg(long = "web-origin")]
    pub web_origins: Vec<String>,
    /// Post-logout redirect URI (repeatable; on update, replaces the list).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    #[arg(long)]
    pub backchannel_logout_uri: Option<String>,
    /// Send `sid` in logout tokens (`--backchannel-logout-session-required[=true|false]`).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub backchannel_logout_session_required: Option<bool>,
    #[arg(long)]
    pub frontchannel_logout_uri: Option<String>,
    /// Send `iss` and `sid` to the front-channel URI (`[=true|false]`).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub frontchannel_logout_session_required: Option<bool>,
    /// Allowed scope (repeatable or space-separated; default openid profile email
    /// offline_access).
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// Allowed grant type (repeatable; default authorization_code refresh_token;
    /// `client_credentials` for a confidential client acting on its own behalf, e.g. an SSF
    /// receiver with `--scope ssf.manage --scope ssf.read`, no redirect URI needed).
    #[arg(long = "grant-type")]
    pub grant_types: Vec<String>,
    /// Token binding: sso-session (default), cookie or none.
    #[arg(long)]
    pub token_binding: Option<String>,
    /// A resource server: may introspect tokens issued to other clients
    /// (`--resource-server[=true|false]`; without it a client introspects only its own).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub resource_server: Option<bool>,
    /// Refresh tokens granted `offline_access` outlive the user's logout, the RP's logout
    /// and expiry (Back-Channel Logout 1.0 §2.7), never a credential change, a disabled or
    /// deleted account or an admin's termination (`--keep-offline-tokens[=true|false]`).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub keep_offline_tokens: Option<bool>,
}

#[derive(Subcommand, Debug)]
pub enum ClientCmd {
    /// Register a client. A confidential client's secret is printed once.
    Create {
        /// Client id (default: random).
        #[arg(long)]
        client_id: Option<String>,
        #[command(flatten)]
        flags: ClientFlags,
    },
    /// Change a client's metadata (flags not given keep their value).
    Update {
        #[arg(long)]
        client_id: String,
        #[command(flatten)]
        flags: ClientFlags,
    },
    /// List clients (never their secrets).
    List,
}

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Create a new active key; the active one becomes previous (still published), an
    /// older previous one is retired.
    Rotate,
    /// List keys (ids, status, creation time, how the private key is stored; never
    /// private material).
    List,
    /// Wrap the private keys still stored in the clear (keys from before wrapping).
    Protect,
}

/// A command failure, printed as one sentence.
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

impl From<AdminError> for CliError {
    fn from(e: AdminError) -> Self {
        CliError(match e {
            AdminError::Invalid(m) => m,
            AdminError::Exists => "already exists".into(),
            AdminError::Store(s) => format!("storage: {s}"),
        })
    }
}

impl From<warden_core::StoreError> for CliError {
    fn from(e: warden_core::StoreError) -> Self {
        CliError(format!("storage: {e}"))
    }
}

/// The store the flags name.
pub async fn connect(table: &str, endpoint: Option<&str>) -> Store {
    Store::new(dynamodb_client(endpoint, None).await, table)
}

/// Parse-free entry point: connect as the flags say and run the command.
pub async fn run(cli: Cli, stdin: &mut dyn BufRead) -> Result<Vec<Value>, CliError> {
    let store = connect(&cli.table, cli.dynamodb_endpoint.as_deref()).await;
    execute(&store, cli, stdin).await
}

/// Run one command against a store; returns the JSON lines to print.
pub async fn execute(
    store: &Store,
    cli: Cli,
    stdin: &mut dyn BufRead,
) -> Result<Vec<Value>, CliError> {
    let protection = key_protection(&cli);
    let queue = QueueFlags {
        url: cli.queue_url.filter(|u| !u.trim().is_empty()),
        endpoint: cli.sqs_endpoint.filter(|e| !e.trim().is_empty()),
    };
    match cli.command {
        Command::User(c) => user(store, c, &queue, stdin).await,
        Command::Client(c) => client(store, c).await,
        Command::Keys(c) => keys(store, c, protection, cli.kms_endpoint).await,
    }
}

/// How signing keys are wrapped, from the flags / environment (as the functions read it).
fn key_protection(cli: &Cli) -> Result<KeyProtection, CliError> {
    warden_core::config::key_protection_from(
        cli.kms_key_id.as_deref(),
        cli.key_encryption_key.as_deref(),
    )
    .map_err(|e| CliError(e.to_string()))?
    .ok_or_else(|| {
        CliError(
            "signing keys are stored wrapped: give --kms-key-id (WARDEN_KMS_KEY_ID, the stack's \
             SigningKeyWrapKeyArn output) or, outside AWS, WARDEN_KEY_ENCRYPTION_KEY"
                .into(),
        )
    })
}

fn user_json(u: &UserItem) -> Value {
    json!({
        "user_id": u.user_id,
        "username": u.username,
        "name": u.name,
        "email": u.email,
        "roles": u.roles,
        "disabled": u.disabled,
        "created_ms": u.created_ms,
    })
}

fn client_json(c: &ClientItem) -> Value {
    json!({
        "client_id": c.client_id,
        "name": c.name,
        "public": c.is_public(),
        "redirect_uris": c.redirect_uris,
        "web_origins": warden_core::http::cors::client_origins(c),
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "backchannel_logout_uri": c.backchannel_logout_uri,
        "backchannel_logout_session_required": c.backchannel_logout_session_required,
        "frontchannel_logout_uri": c.frontchannel_logout_uri,
        "frontchannel_logout_session_required": c.frontchannel_logout_session_required,
        "scopes": c.scopes,
        "grant_types": c.grant_types,
        "token_binding": c.token_binding,
        "resource_server": c.resource_server,
        "keep_offline_tokens": c.keep_offline_tokens,
        "disabled": c.disabled,
        "created_ms": c.created_ms,
    })
}

/// A client as `client list` (and `client create` / `client update`) shows it:
/// [`client_json`], plus `uri_problems` when a stored URI breaks today's registration rules
/// (a client registered before they applied keeps working; `client update` refuses to store
/// it again until the URI is fixed) or its back-channel URI names an address the outbound
/// policy refuses by default (`refused_address`: a warning only). Each names the field, the
/// URI, the rule (`problem`, e.g. `plain_http`) and a sentence.
fn listed_client_json(c: &ClientItem) -> Value {
    let mut v = client_json(c);
    let findings = admin::client_uri_findings(c);
    if !findings.is_empty() {
        v["uri_problems"] = findings
            .iter()
            .map(|f| {
                json!({
                    "field": f.field,
                    "uri": f.uri,
                    "problem": f.problem,
                    "message": format!("{}: {:?} {}", f.field, f.uri, f.problem.rule()),
                })
            })
            .collect();
    }
    v
}

async fn user(
    store: &Store,
    cmd: UserCmd,
    queue: &QueueFlags,
    stdin: &mut dyn BufRead,
) -> Result<Vec<Value>, CliError> {
    match cmd {
        UserCmd::Create {
            username,
            password,
            password_stdin,
            name,
            email,
            roles,
        } => {
            let password = match (password, password_stdin) {
                (Some(p), false) => p,
                (None, true) => read_password(stdin)?,
                _ => return Err(CliError("give --password or --password-stdin".into())),
            };
            let roles = split_words(&roles);
            let u = admin::create_user(store, &username, &password, &name, &email, &roles)
                .await
                .map_err(|e| match e {
                    AdminError::Exists => CliError(format!("username {username:?} is taken")),
                    other => other.into(),
                })?;
            Ok(vec![user_json(&u)])
        }
        UserCmd::List => {
            let mut users = store.list_users().await?;
            users.sort_by(|a, b| a.username.cmp(&b.username));
            Ok(users.iter().map(user_json).collect())
        }
        UserCmd::Disable { username } => {
            let u = named_user(store, &username).await?;
            let app = cli_app(store, queue).await?;
            let done = lifecycle::disable(&app, &u.user_id, &cli_admin()).await;
            lifecycle_json(&u, done, true)
        }
        UserCmd::Enable { username } => {
            let u = named_user(store, &username).await?;
            let app = cli_app(store, queue).await?;
            let done = lifecycle::enable(&app, &u.user_id).await;
            lifecycle_json(&u, done, false)
        }
        UserCmd::SetPassword { username } => {
            let u = named_user(store, &username).await?;
            let password = read_password(stdin)?;
            let app = cli_app(store, queue).await?;
            let done = lifecycle::set_password(&app, &u.user_id, &password, &cli_admin()).await;
            lifecycle_json(&u, done, u.disabled)
        }
        UserCmd::Delete { username } => {
            let u = named_user(store, &username).await?;
            let app = cli_app(store, queue).await?;
            let done = lifecycle::delete(&app, &u.user_id, &cli_admin()).await;
            let mut out = lifecycle_json(&u, done, true)?;
            out[0]["deleted"] = json!(true);
            Ok(out)
        }
    }
}

/// The user of a username, or a clear error.
async fn named_user(store: &Store, username: &str) -> Result<UserItem, CliError> {
    store
        .user_by_username(username)
        .await?
        .ok_or_else(|| CliError(format!("no user named {username:?}")))
}

/// The first line of standard input, without its line ending.
fn read_password(stdin: &mut dyn BufRead) -> Result<String, CliError> {
    let mut line = String::new();
    stdin
        .read_line(&mut line)
        .map_err(|e| CliError(format!("cannot read the password: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// The CLI acts as an unnamed administrator (no user id, no client).
fn cli_admin() -> EndedBy {
    EndedBy {
        kind: ActorKind::Admin,
        user_id: None,
        client_id: None,
    }
}

/// The user's JSON after a lifecycle operation, with `sessions_ended`.
fn lifecycle_json(
    u: &UserItem,
    done: Result<lifecycle::Changed, AccountError>,
    disabled: bool,
) -> Result<Vec<Value>, CliError> {
    let c = done.map_err(|e| match e {
        AccountError::NotFound => CliError(format!("no user named {:?}", u.username)),
        AccountError::Policy(p) => CliError(format!("password refused: {}", p.message())),
        AccountError::Store(s) => s.into(),
        other => CliError(format!("{other:?}")),
    })?;
    let mut v = user_json(u);
    v["disabled"] = json!(disabled);
    v["sessions_ended"] = json!(c.sessions_ended);
    Ok(vec![v])
}

/// Where the CLI's back-channel logouts go: `--queue-url` / `WARDEN_QUEUE_URL` (blank:
/// none) and its endpoint.
struct QueueFlags {
    url: Option<String>,
    endpoint: Option<String>,
}

/// An `App` for session termination from the CLI. With a queue its deliveries are enqueued
/// at once (SQS, as the functions send them); without one ([`NoQueue`]) they are written
/// due at once ([`App::relay_grace_secs`]), for the relay's next run.
async fn cli_app(store: &Store, queue: &QueueFlags) -> Result<App, CliError> {
    let issuer = std::env::var("WARDEN_ISSUER").unwrap_or_else(|_| "http://localhost".to_string());
    let mut config = Config::new(&issuer, &store.table).map_err(|e| CliError(e.to_string()))?;
    // The deployment's settings: the session limit's live set is kept by every end.
    warden_core::config::apply_settings(&mut config, &warden_core::config::env_var)
        .map_err(|e| CliError(e.to_string()))?;
    config.queue_url = queue.url.clone();
    let logout_queue: Arc<dyn LogoutQueue> = match &queue.url {
        Some(url) => Arc::new(SqsQueue {
            client: warden_core::app::sqs_client(queue.endpoint.as_deref()).await,
            url: url.clone(),
        }),
        None => Arc::new(NoQueue),
    };
    Ok(App::new(config, store.clone(), logout_queue))
}

/// Values given repeatedly or space/comma separated.
fn split_words(v: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in v
        .iter()
        .flat_map(|s| s.split([' ', ',']))
        .filter(|w| !w.is_empty())
    {
        if !out.iter().any(|x| x == w) {
            out.push(w.to_string());
        }
    }
    out
}

fn opt_uri(v: Option<String>, keep: Option<&String>) -> Option<String> {
    match v {
        Some(s) if s.is_empty() => None,
        Some(s) => Some(s),
        None => keep.cloned(),
    }
}

async fn client(store: &Store, cmd: ClientCmd) -> Result<Vec<Value>, CliError> {
    match cmd {
        ClientCmd::Create { client_id, flags } => {
            let Some(name) = flags.name.clone().filter(|n| !n.trim().is_empty()) else {
                return Err(CliError("--name is required".into()));
            };
            let spec = ClientSpec {
                client_id,
                name,
                public: flags.public,
                redirect_uris: flags.redirect_uris,
                web_origins: flags.web_origins,
                post_logout_redirect_uris: flags.post_logout_redirect_uris,
                backchannel_logout_uri: opt_uri(flags.backchannel_logout_uri, None),
                backchannel_logout_session_required: flags
                    .backchannel_logout_session_required
                    .unwrap_or(false),
                frontchannel_logout_uri: opt_uri(flags.frontchannel_logout_uri, None),
                frontchannel_logout_session_required: flags
                    .frontchannel_logout_session_required
                    .unwrap_or(false),
                scopes: split_words(&flags.scopes),
                grant_types: split_words(&flags.grant_types),
                token_binding: flags.token_binding,
                resource_server: flags.resource_server.unwrap_or(false),
                keep_offline_tokens: flags.keep_offline_tokens.unwrap_or(false),
            };
            let (c, secret) = admin::create_client(store, &spec)
                .await
                .map_err(|e| match e {
                    AdminError::Exists => CliError(format!(
                        "a client with id {:?} exists",
                        spec.client_id.clone().unwrap_or_default()
                    )),
                    other => other.into(),
                })?;
            // With `uri_problems` (a back-channel URI the outbound policy will refuse), which
            // the binary prints as warnings: a VPC deployment may allow it, so no refusal.
            let mut v = listed_client_json(&c);
            if let Some(s) = secret {
                v["client_secret"] = json!(s);
            }
            Ok(vec![v])
        }
        ClientCmd::Update { client_id, flags } => {
            let Some(old) = store.get_client(&client_id).await? else {
                return Err(CliError(format!("no client with id {client_id:?}")));
            };
            let public = if flags.public {
                true
            } else if flags.confidential {
                false
            } else {
                old.is_public()
            };
            let or = |new: Vec<String>, old: &Vec<String>| {
                if new.is_empty() {
                    old.clone()
                } else {
                    new
                }
            };
            let spec = ClientSpec {
                client_id: Some(old.client_id.clone()),
                name: flags.name.unwrap_or_else(|| old.name.clone()),
                public,
                redirect_uris: or(flags.redirect_uris, &old.redirect_uris),
                web_origins: or(flags.web_origins, &old.web_origins),
                post_logout_redirect_uris: or(
                    flags.post_logout_redirect_uris,
                    &old.post_logout_redirect_uris,
                ),
                backchannel_logout_uri: opt_uri(
                    flags.backchannel_logout_uri,
                    old.backchannel_logout_uri.as_ref(),
                ),
                backchannel_logout_session_required: flags
                    .backchannel_logout_session_required
                    .unwrap_or(old.backchannel_logout_session_required),
                frontchannel_logout_uri: opt_uri(
                    flags.frontchannel_logout_uri,
                    old.frontchannel_logout_uri.as_ref(),
                ),
                frontchannel_logout_session_required: flags
                    .frontchannel_logout_session_required
                    .unwrap_or(old.frontchannel_logout_session_required),
                scopes: or(split_words(&flags.scopes), &old.scopes),
                grant_types: or(split_words(&flags.grant_types), &old.grant_types),
                token_binding: Some(
                    flags
                        .token_binding
                        .unwrap_or_else(|| old.token_binding.to_string()),
                ),
                resource_server: flags.resource_server.unwrap_or(old.resource_server),
                keep_offline_tokens: flags.keep_offline_tokens.unwrap_or(old.keep_offline_tokens),
            };
            let (mut c, secret) = admin::build_client(&spec, Some(&old)).map_err(CliError)?;
            c.disabled = old.disabled;
            store.put_client(&c, false).await?;
            // With `uri_problems` (a back-channel URI the outbound policy will refuse), which
            // the binary prints as warnings: a VPC deployment may allow it, so no refusal.
            let mut v = listed_client_json(&c);
            if let Some(s) = secret {
                v["client_secret"] = json!(s);
            }
            Ok(vec![v])
        }
        ClientCmd::List => {
            let mut clients = store.list_clients().await?;
            clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
            Ok(clients.iter().map(listed_client_json).collect())
        }
    }
}

async fn keys(
    store: &Store,
    cmd: KeysCmd,
    protection: Result<KeyProtection, CliError>,
    kms_endpoint: Option<String>,
) -> Result<Vec<Value>, CliError> {
    let key_json = |k: &warden_core::store::schema::SigningKeyItem| {
        let stored = match (&k.private_wrapped, &k.private_pkcs8) {
            (Some(w), _) => w.split_once(':').map(|(s, _)| s).unwrap_or("wrapped"),
            (None, Some(_)) => "clear",
            (None, None) => "missing",
        };
        json!({"kid": k.kid, "alg": "RS256", "status": k.status, "created_ms": k.created_ms,
               "private_key": stored})
    };
    let protector = || protection.map(|p| KeyProtector::new(p, kms_endpoint.clone()));
    let wrap_err = |e: warden_core::keys::protection::KeyProtectionError| CliError(e.to_string());
    match cmd {
        KeysCmd::Rotate => {
            let protector = protector()?;
            let existing = store.list_signing_keys().await?;
            let mut new = warden_core::keys::signing::generate_key_item(
                warden_core::platform::time::now_ms(),
            )
            .map_err(|e| CliError(e.to_string()))?;
            protector.wrap(&mut new).await.map_err(wrap_err)?;
            store.rotate_signing_key(&new, &existing).await?;
            let mut after = store.list_signing_keys().await?;
            after.sort_by_key(|k| std::cmp::Reverse(k.created_ms));
            Ok(after
                .iter()
                .filter(|k| k.status != "retired")
                .map(key_json)
                .collect())
        }
        KeysCmd::List => {
            let mut ks = store.list_signing_keys().await?;
            ks.sort_by_key(|k| std::cmp::Reverse(k.created_ms));
            Ok(ks.iter().map(key_json).collect())
        }
        KeysCmd::Protect => {
            let protector = protector()?;
            let mut out = Vec::new();
            for mut k in store.list_signing_keys().await? {
                if k.private_pkcs8.is_some() {
                    protector.wrap(&mut k).await.map_err(wrap_err)?;
                    let wrapped = k.private_wrapped.clone().unwrap_or_default();
                    match store.protect_signing_key(&k.kid, &wrapped).await {
                        Ok(()) | Err(warden_core::StoreError::ConditionFailed) => {}
                        Err(e) => return Err(e.into()),
                    }
                    out.push(key_json(&k));
                }
            }
            Ok(out)
        }
    }
}

/// Warning lines for standard error about the printed lines: one `{"warning": …}` per
/// stored URI that breaks the registration rules or that the outbound policy will refuse
/// (`uri_problems` of `client list`, `create`, `update`), so an operator reading the
/// terminal sees them without reading every client.
pub fn warnings(lines: &[Value]) -> Vec<Value> {
    lines
        .iter()
        .flat_map(|l| {
            let client_id = l["client_id"].clone();
            l["uri_problems"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |p| json!({"warning": p["message"], "client_id": client_id}))
        })
        .collect()
}

/// Parse command-line words (the first is the program name), as the binary does.
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    Cli::try_parse_from(args)
}
