use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_core::platform::telemetry::init();
    let app = warden_core::App::from_env().await?;
    let queue_url = app.config.queue_url.clone();
    let sqs_ep = std::env::var("WARDEN_SQS_ENDPOINT").ok();
    let d: &'static warden_fn_logout_dispatcher::Dispatcher =
        Box::leak(Box::new(warden_fn_logout_dispatcher::Dispatcher {
            app,
            sqs: Some(warden_core::app::sqs_client(sqs_ep.as_deref()).await),
            queue_url,
            concurrency: 16,
        }));
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<SqsEvent>| async move {
        Ok::<_, std::convert::Infallible>(warden_fn_logout_dispatcher::handle(d, ev.payload).await)
    }))
    .await
}
