//! What knows nothing of Warden: crypto primitives, time, telemetry, AWS SDK configuration
//! and URL helpers. Imports nothing of the crate.

pub mod crypto;
pub mod sdk;
pub mod telemetry;
pub mod text;
pub mod time;
pub mod url;
