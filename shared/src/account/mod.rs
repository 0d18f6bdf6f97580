//! The account's lifecycle: password change by its user, password reset, disable, enable
//! and delete by an administrator. Each of them ends the user's sessions through the one
//! termination path ([`crate::session::terminate`]) with its own reason, so tokens are
//! revoked and apps told exactly as for any other end. It sits above `session` (it calls
//! termination and the login throttle) and below `api` and `admin` (which render it).

pub mod lifecycle;
pub mod password;

pub use lifecycle::{AccountError, Changed};
pub use password::{check_policy, PolicyError};
