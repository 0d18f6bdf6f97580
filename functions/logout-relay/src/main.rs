use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_core::platform::telemetry::init();
    let app: &'static warden_core::App = Box::leak(Box::new(warden_core::App::from_env().await?));
    lambda_runtime::run(service_fn(move |_ev: LambdaEvent<Value>| async move {
        warden_fn_logout_relay::handle(app)
            .await
            .map_err(|e| lambda_runtime::Error::from(e.to_string()))
    }))
    .await
}
