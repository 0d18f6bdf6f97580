#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    warden_core::lambda::run_http(warden_fn_ssf::handle).await
}
