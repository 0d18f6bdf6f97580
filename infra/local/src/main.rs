//! `cargo run -p warden-local`: Warden on this machine. It reads the `WARDEN_*` settings the
//! functions read (README, Configuration); the flags below win over them.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "warden-local",
    about = "Run Warden locally (embedded DynamoDB-compatible storage, no AWS account)",
    after_help = "Reads the WARDEN_* settings the functions read (lifetimes, \
                  WARDEN_COOKIE_SECURE, login limits, WARDEN_DELIVERY_MAX_ATTEMPTS, \
                  WARDEN_QUEUE_URL, key protection, …; see the README's Configuration); a \
                  malformed one stops the start with its name. The flags win over them."
)]
struct Cli {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Throwaway in-memory storage (nothing survives a restart).
    #[arg(long)]
    memory: bool,
    /// Where the embedded engine keeps its SQLite file.
    #[arg(long, default_value = ".warden")]
    data_dir: PathBuf,
    /// Use this DynamoDB endpoint (moto, AWS) instead of the embedded engine.
    #[arg(long)]
    dynamodb_endpoint: Option<String>,
    /// Use this SQS queue for logout deliveries instead of the in-process queue.
    #[arg(long)]
    sqs_queue_url: Option<String>,
    /// SQS endpoint (moto) for --sqs-queue-url.
    #[arg(long)]
    sqs_endpoint: Option<String>,
    /// Issuer URL (default http://<addr>).
    #[arg(long, env = "WARDEN_ISSUER")]
    issuer: Option<String>,
    /// Table name.
    #[arg(long, env = "WARDEN_TABLE", default_value = "warden")]
    table: String,
    /// Access token lifetime in seconds (WARDEN_ACCESS_TOKEN_SECONDS; default 3600).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    access_token_seconds: Option<u64>,
    /// Refresh token lifetime in seconds (WARDEN_REFRESH_TOKEN_SECONDS; default 1209600).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    refresh_token_seconds: Option<u64>,
    /// Session idle timeout in seconds (WARDEN_SESSION_IDLE_SECONDS; default 900).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    session_idle_seconds: Option<u64>,
    /// Session absolute lifetime in seconds (WARDEN_SESSION_ABSOLUTE_SECONDS; default 28800).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    session_absolute_seconds: Option<u64>,
    /// How often the relay runs, in seconds (sessions past their expiry, deliveries left
    /// due, e.g. by `warden-admin user disable`). The deployed relay runs once a minute.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    relay_seconds: u64,
}

impl Cli {
    /// The settings the stack reads: the process environment's `WARDEN_*` variables, then
    /// the flags that stand for one of them (the last of a name wins).
    fn settings(&self) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| {
                let k = k.into_string().ok()?;
                // Not UTF-8: kept (lossily), so that it is refused with its name.
                k.starts_with("WARDEN_")
                    .then(|| (k, v.to_string_lossy().into_owned()))
            })
            .collect();
        let flags = [
            ("WARDEN_ACCESS_TOKEN_SECONDS", self.access_token_seconds),
            ("WARDEN_REFRESH_TOKEN_SECONDS", self.refresh_token_seconds),
            ("WARDEN_SESSION_IDLE_SECONDS", self.session_idle_seconds),
            (
                "WARDEN_SESSION_ABSOLUTE_SECONDS",
                self.session_absolute_seconds,
            ),
        ];
        for (name, value) in flags {
            if let Some(v) = value {
                pairs.push((name.to_string(), v.to_string()));
            }
        }
        pairs
    }
}

#[tokio::main]
async fn main() {
    warden_core::platform::telemetry::init();
    let cli = Cli::parse();
    let opts = warden_local::Options {
        env: Some(cli.settings()),
        relay_every: std::time::Duration::from_secs(cli.relay_seconds),
        addr: cli.addr,
        memory: cli.memory,
        data_dir: cli.data_dir,
        dynamodb_endpoint: cli.dynamodb_endpoint,
        sqs_queue_url: cli.sqs_queue_url,
        sqs_endpoint: cli.sqs_endpoint,
        issuer: cli.issuer,
        table: cli.table,
        ..Default::default()
    };
    let running = match warden_local::start(opts).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("warden-local: {e}");
            std::process::exit(1);
        }
    };
    let base = &running.base_url;
    println!("Warden is running at {base}");
    println!("  discovery:   {base}/.well-known/openid-configuration");
    println!("  my account:  {base}/myaccount");
    println!("  console:     {base}/console");
    println!("  storage:     {}", running.dynamodb_endpoint);
    match &running.seeded {
        Some(s) => {
            println!("First start: seeded demo credentials (shown once; only hashes are stored):");
            println!("  user:          {} / {}", s.username, s.password);
            println!("  client:        {} / {}", s.client_id, s.client_secret);
            println!("  redirect_uri:  {}", s.redirect_uri);
        }
        None => println!("Existing data loaded (demo credentials were printed on first start)."),
    }
    let _ = tokio::signal::ctrl_c().await;
    println!("shutting down");
    running.shutdown().await;
}
