//! Structured JSON logs and CloudWatch Embedded Metric Format metrics.
//!
//! Log fields carry request ids, trace ids and session ids — never a token, code, secret or
//! password. Metrics are EMF lines on stdout, which CloudWatch turns into metrics.

use std::sync::Once;

static INIT: Once = Once::new();

/// Install the JSON log subscriber once (level from `RUST_LOG`, default `info`).
pub fn init() {
    INIT.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_current_span(true)
            .with_span_list(false)
            .with_target(false)
            .without_time()
            .try_init();
    });
}

/// Emit one EMF metric (namespace `Warden`) with one dimension.
pub fn metric(name: &str, dimension: (&str, &str), value: f64) {
    let line = serde_json::json!({
        "_aws": {
            "Timestamp": crate::platform::time::now_ms(),
            "CloudWatchMetrics": [{
                "Namespace": "Warden",
                "Dimensions": [[dimension.0]],
                "Metrics": [{"Name": name, "Unit": "Count"}],
            }],
        },
        dimension.0: dimension.1,
        name: value,
    });
    if std::env::var("WARDEN_METRICS").as_deref() != Ok("off") {
        println!("{line}");
    }
}
