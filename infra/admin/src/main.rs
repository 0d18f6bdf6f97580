use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = warden_admin::Cli::parse();
    let stdin = std::io::stdin();
    let mut lock = stdin.lock();
    match warden_admin::run(cli, &mut lock).await {
        Ok(lines) => {
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
