//! `warden-bench`: the benchmarks of docs/benchmarks.md. Run through `infra/bench/run.sh`.
//!
//! * `ceiling` — a minimal hyper server answering a fixed JSON body (the loopback ceiling).
//! * `sink` — a back-channel logout sink RP answering 200 (counts POSTs at `GET /count`).
//! * `side` — the side-by-side load run against a running warden-local and
//!   node-oidc-provider (wrk for fixed requests, a Rust driver where every request needs a
//!   fresh fixture), results to JSON.
//! * `dispatch` — back-channel delivery throughput and termination→delivery latency on
//!   an in-process local stack.
//! * `coldstart` — each function binary against a minimal Lambda Runtime API emulator.
//! * `report` — render docs/benchmarks.md from the JSON results.
//! * `heat` — the partition-heat simulation of docs/scale.md (no AWS; exit 1 when a
//!   partition key value exceeds a per-partition limit).

mod coldstart;
mod dispatch;
mod heat;
mod report;
mod servers;
mod side;
mod util;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "warden-bench")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Minimal hyper server answering a fixed JSON body.
    Ceiling {
        #[arg(long, default_value = "127.0.0.1:9098")]
        addr: SocketAddr,
    },
    /// Back-channel sink RP (POST /backchannel → 200; GET /count).
    Sink {
        #[arg(long, default_value = "127.0.0.1:9099")]
        addr: SocketAddr,
    },
    /// Side-by-side run against running servers.
    Side(Box<side::Args>),
    /// Dispatcher throughput on an in-process local stack.
    Dispatch(dispatch::Args),
    /// Cold start of each function binary.
    Coldstart(coldstart::Args),
    /// Partition-heat simulation of the capacity model (docs/scale.md).
    Heat(heat::Args),
    /// Render docs/benchmarks.md from the results directory.
    Report {
        #[arg(long, default_value = "infra/bench/results")]
        results: PathBuf,
        #[arg(long, default_value = "docs/benchmarks.md")]
        out: PathBuf,
    },
}

fn main() {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("warden-bench: runtime: {e}");
            std::process::exit(1);
        }
    };
    let r: Result<(), String> = rt.block_on(async move {
        match cli.cmd {
            Cmd::Ceiling { addr } => servers::ceiling(addr).await,
            Cmd::Sink { addr } => servers::sink(addr).await,
            Cmd::Side(a) => side::run(*a).await,
            Cmd::Dispatch(a) => dispatch::run(a).await,
            Cmd::Coldstart(a) => coldstart::run(a).await,
            Cmd::Report { results, out } => report::run(&results, &out),
            Cmd::Heat(a) => heat::run(a),
        }
    });
    if let Err(e) = r {
        eprintln!("warden-bench: {e}");
        std::process::exit(1);
    }
}
