//! `cargo run -p warden-local`: Warden on this machine.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "warden-local",
    about = "Run Warden locally (embedded DynamoDB-compatible storage, no AWS account)"
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
}

#[tokio::main]
async fn main() {
    warden_core::platform::telemetry::init();
    let cli = Cli::parse();
    let opts = warden_local::Options {
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
