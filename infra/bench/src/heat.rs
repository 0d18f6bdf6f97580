//! `warden-bench heat`: the partition-heat simulation of `docs/scale.md`
//! ([`warden_core::store::capacity::simulate`]) — a synthetic workload replayed through the
//! real key builders, no AWS. Prints the hottest partition key value of each key family on the
//! table and each index, and fails (exit 1) when any key value exceeds a per-partition limit.

use warden_core::store::capacity::{simulate, TARGET};
use warden_core::store::schema::Shards;

/// Options of `warden-bench heat`.
#[derive(clap::Args)]
pub struct Args {
    /// Live-index shards to simulate (default: `WARDEN_LIVE_SHARDS`'s default).
    #[arg(long, default_value_t = Shards::DEFAULT.live)]
    live_shards: u32,
    /// Due-index shards to simulate (default: `WARDEN_DUE_SHARDS`'s default).
    #[arg(long, default_value_t = Shards::DEFAULT.due)]
    due_shards: u32,
    /// Scale every rate of the target workload (1.0: 3,000 logins/s, 20,000 authorizes/s).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Seconds to simulate (the report is the peak second).
    #[arg(long, default_value_t = 5)]
    seconds: u32,
}

/// Run the simulation and print its report; an error when a key is over a limit.
pub fn run(a: Args) -> Result<(), String> {
    let shards = Shards {
        live: a.live_shards.max(1),
        due: a.due_shards.max(1),
    };
    let mut w = TARGET.scaled(a.scale);
    w.seconds = a.seconds.max(1);
    println!(
        "workload: {} logins/s, {} authorizes/s (write share {}), {} exchanges/s, {} refreshes/s, \
         {} introspections/s, {} userinfo/s, {} terminations/s x {} back-channel apps, \
         busiest user {} %, busiest address {} %, {} s simulated",
        w.logins_per_s,
        w.authorizes_per_s,
        w.authorize_write_share,
        w.exchanges_per_s,
        w.refreshes_per_s,
        w.introspections_per_s,
        w.userinfo_per_s,
        w.terminations_per_s,
        w.backchannel_apps,
        w.busiest_user_share * 100.0,
        w.busiest_address_share * 100.0,
        w.seconds
    );
    let r = simulate(&w, shards);
    print!("{}", r.render());
    if r.holds() {
        Ok(())
    } else {
        Err(format!(
            "{} partition key value(s) above a per-partition limit",
            r.over.len()
        ))
    }
}
