//! The `warden-admin` binary: parse the flags, run the command, print its JSON lines on
//! standard output and its warnings (e.g. stored URIs that break today's rules) on standard
//! error.

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = warden_admin::Cli::parse();
    let stdin = std::io::stdin();
    let mut lock = stdin.lock();
    match warden_admin::run(cli, &mut lock).await {
        Ok(lines) => {
            for w in warden_admin::warnings(&lines) {
                eprintln!("{w}");
            }
            for l in lines {
                println!("{l}");
            }
        }
        Err(e) => {
            eprintln!("{}", serde_json::json!({"error": e.to_string()}));
            std::process::exit(1);
        }
    }
}
