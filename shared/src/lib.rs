//! `warden-core`: everything the Lambda functions share.
//!
//! Handlers in `functions/` parse a request, call into this crate, and render the answer;
//! the business rules live here, grouped by domain. Each folder is a layer that imports only
//! the layers below it (`tests/layers.rs` checks it):
//!
//! 1. [`platform`] — crypto, time, telemetry, SDK configuration, URL helpers;
//! 2. [`store`] — the only code that talks to DynamoDB: the table's keys and item shapes
//!    ([`store::schema`]), [`store::StoreError`], the held-token address format;
//! 3. [`keys`] — signing keys and how they are protected;
//! 4. [`outbound`] — what leaves Warden (the logout queue);
//! 5. [`config`] and [`app`] — the configuration and the composition root every domain
//!    receives as `&App`;
//! 6. [`http`] — responses, cookies, forms, the REST and OAuth error shapes, CORS, CSRF;
//! 7. [`session`] — the session's lifecycle, termination and login;
//! 8. [`oauth`] — authorize, codes, token issuance, client authentication, bearer tokens;
//! 9. [`logout`] — back-channel delivery and the relay, RP-initiated and front-channel logout;
//! 10. [`account`] — password change and reset, disable, enable, delete (ending sessions
//!     through termination);
//! 11. [`api`], [`ssf`], [`admin`] and [`lambda`] — the session REST API (Me and Admin), the
//!     Shared Signals transmitter's stream management, administration rules, and the Lambda
//!     entry point.

/// Every binary linking warden-core allocates with mimalloc (see the `mimalloc` feature).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod account;
pub mod admin;
pub mod api;
pub mod app;
pub mod config;
pub mod http;
pub mod keys;
pub mod lambda;
pub mod logout;
pub mod oauth;
pub mod outbound;
pub mod platform;
pub mod session;
pub mod ssf;
pub mod store;

pub use app::App;
pub use config::Config;
pub use http::error::{ApiError, OAuthError};
pub use store::{Store, StoreError};
