//! `logout-relay`: scheduled every minute. Re-sends deliveries pending too long and ends
//! expired sessions (reason `expired`).

use serde_json::{json, Value};
use warden_core::App;

pub async fn handle(app: &App) -> Result<Value, warden_core::StoreError> {
    let r = warden_core::logout::relay::relay(app, warden_core::platform::time::now_s()).await?;
    tracing::info!(resent = r.resent, expired = r.expired, "relay run");
    Ok(json!({"resent": r.resent, "expired": r.expired}))
}
