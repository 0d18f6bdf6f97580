//! What leaves Warden: the logout queue (SQS, or an in-process channel locally).

pub mod queue;
