//! The transmitter configuration metadata (SSF 1.0 §7.1) served at
//! `/.well-known/ssf-configuration`: every value true of Warden, as the CAEP
//! Interoperability Profile 1.0 expects of a transmitter (push and poll, OAuth 2.0 bearer
//! authorization, the stream-management endpoints).

use crate::config::Config;
use crate::store::schema::DeliveryMethod;
use serde_json::{json, Value};

/// `spec_version` of SSF 1.0 (§7.1: `1_0` for the final specification).
pub const SPEC_VERSION: &str = "1_0";
/// The stream configuration endpoint (SSF 1.0 §8.1.1).
pub const CONFIGURATION_PATH: &str = "/ssf/streams";
/// The stream status endpoint (SSF 1.0 §8.1.2).
pub const STATUS_PATH: &str = "/ssf/status";
/// The add-subject endpoint (SSF 1.0 §8.1.3.2).
pub const ADD_SUBJECT_PATH: &str = "/ssf/subjects/add";
/// The remove-subject endpoint (SSF 1.0 §8.1.3.3).
pub const REMOVE_SUBJECT_PATH: &str = "/ssf/subjects/remove";
/// The verification endpoint (SSF 1.0 §8.1.4.2).
pub const VERIFICATION_PATH: &str = "/ssf/verify";
/// Where a poll stream's receiver will poll (RFC 8936): `<this>/<stream_id>`. Assigned at
/// creation; served by the delivery work that follows.
pub const POLL_PATH: &str = "/ssf/poll";

/// The metadata document. `default_subjects` is `NONE`: a stream carries events only about
/// the subjects its receiver added, so a receiver learns nothing of users it never named.
pub fn configuration(cfg: &Config) -> Value {
    let u = |p: &str| cfg.url(p);
    json!({
        "spec_version": SPEC_VERSION,
        "issuer": cfg.issuer,
        "jwks_uri": u("/oauth2/jwks"),
        "delivery_methods_supported": DeliveryMethod::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        "configuration_endpoint": u(CONFIGURATION_PATH),
        "status_endpoint": u(STATUS_PATH),
        "add_subject_endpoint": u(ADD_SUBJECT_PATH),
        "remove_subject_endpoint": u(REMOVE_SUBJECT_PATH),
        "verification_endpoint": u(VERIFICATION_PATH),
        "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],
        "default_subjects": "NONE",
    })
}
