//! The Shared Signals Framework transmitter (SSF 1.0, issue 21): what Warden tells receivers
//! about itself ([`metadata`]), the streams receivers manage ([`streams`]: their rules,
//! pure and unit-tested), the RFC 9493 subjects they add and remove ([`subjects`]), the
//! stream-management operations behind the `ssf` function ([`api`]), the events
//! ([`events`], [`fanout`]) and their delivery ([`delivery`]: fan-out, push, poll, replay).
//!
//! Receivers are confidential clients of Warden itself, registered for the
//! `client_credentials` grant with the scopes [`crate::oauth::oidc::SSF_MANAGE`] /
//! [`crate::oauth::oidc::SSF_READ`]; a stream belongs to the client whose token created it,
//! and no other client sees it. Terminations and account changes write a durable signal
//! record while some stream exists ([`crate::store::schema::SignalItem`]); from it the
//! dispatcher builds one Security Event Token per matching stream ([`events`]: the SET,
//! pure) after deciding which streams match and what their status makes of it ([`fanout`],
//! pure), and pushes it or keeps it for the receiver's poll ([`delivery`]).
//!
//! The layer sits with the other APIs (`api`): it authenticates bearer tokens (oauth),
//! applies the outbound address policy (outbound) and seals secrets (keys).

pub mod api;
pub mod delivery;
pub mod events;
pub mod fanout;
pub mod metadata;
pub mod streams;
pub mod subjects;
