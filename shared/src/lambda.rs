//! The thin `main` of every HTTP function: build [`App`] once per cold start, then serve.

use crate::app::App;
use crate::http::Resp;
use lambda_http::{service_fn, Request};
use std::convert::Infallible;
use std::future::Future;

/// Run an HTTP handler on the Lambda runtime. The `App` (config, SDK clients, caches) is
/// built once and lives for the whole execution environment.
pub async fn run_http<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App, Request) -> Fut,
    Fut: Future<Output = Resp> + Send,
{
    crate::platform::telemetry::init();
    let app: &'static App = Box::leak(Box::new(App::from_env().await?));
    lambda_http::run(service_fn(move |req| {
        let fut = handler(app, req);
        async move {
            let mut resp = fut.await;
            crate::http::transport_headers(&app.config, &mut resp);
            Ok::<_, Infallible>(resp)
        }
    }))
    .await
}
