//! `warden-core`: everything the Lambda functions share.
//!
//! Handlers in `functions/` parse a request, call into this crate, and render the answer;
//! the business rules (sessions, tokens, termination, logout tokens) live here.

/// Every binary linking warden-core allocates with mimalloc (see the `mimalloc` feature).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod admin;
pub mod app;
pub mod authorize;
pub mod bearer;
pub mod client_auth;
pub mod code;
pub mod config;
pub mod cors;
pub mod crypto;
pub mod csrf;
pub mod error;
pub mod grant;
pub mod held_token;
pub mod http;
pub mod key_protection;
pub mod lambda;
pub mod login;
pub mod logout;
pub mod oidc;
pub mod queue;
pub mod rp_logout;
pub mod schema;
pub mod session;
pub mod sessions_api;
pub mod signing;
pub mod store;
pub mod telemetry;
pub mod time;

pub use app::App;
pub use config::Config;
pub use error::{ApiError, OAuthError, StoreError};
pub use store::Store;
