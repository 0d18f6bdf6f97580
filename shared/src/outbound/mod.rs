//! What leaves Warden: the logout queue (SQS, or an in-process channel locally), and the one
//! HTTP client for outbound calls (`client`) with its address policy (`policy`).

pub mod client;
pub mod policy;
pub mod queue;
