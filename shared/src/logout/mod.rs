//! Telling the apps: back-channel logout (the logout token, one delivery attempt), the relay
//! and replay, and RP-initiated and front-channel logout.

pub mod backchannel;
pub mod relay;
pub mod rp;
