//! The rules of a stream's configuration (SSF 1.0 §8.1.1), pure: what a create, update
//! (PATCH) or replace (PUT) body may say, what Warden fills in, and how a stream reads back.
//! No I/O here: [`super::api`] reads and writes the items these functions decide.
//!
//! * Receiver-supplied (§8.1.1): `events_requested`, `delivery` (`method`, `endpoint_url`
//!   for push, `authorization_header` for push), `description`. A PATCH changes the ones it
//!   names (a `delivery` given is the whole new delivery); a PUT sets them all (absent ones
//!   to their defaults).
//! * Transmitter-supplied: `stream_id`, `iss`, `aud`, `events_supported`,
//!   `events_delivered`, `min_verification_interval`. A body may repeat them (receivers
//!   often send back what they read); they are ignored, except `stream_id`, which names the
//!   stream to change.
//! * A value of the wrong type, an unknown delivery method, a push endpoint the outbound
//!   address policy refuses (https only, no private ranges; loopback in local mode), or an
//!   authorization header for poll is a 400.
//! * `delivery` omitted: poll, at the endpoint Warden assigns.

use crate::outbound::policy::AddressPolicy;
use crate::store::schema::{keys, DeliveryMethod, EventType, StreamItem, StreamStatus};
use serde_json::{json, Map, Value};

/// Seconds a receiver waits between verification requests (SSF 1.0 §8.1.4.2; the stream's
/// `min_verification_interval`).
pub const MIN_VERIFICATION_INTERVAL: i64 = 30;
/// How many streams one receiver may have; one more is 409.
pub const MAX_STREAMS_PER_CLIENT: usize = 8;
/// The longest `description`.
const MAX_DESCRIPTION: usize = 1024;
/// The longest `authorization_header`.
const MAX_AUTHORIZATION: usize = 4096;
/// The longest push `endpoint_url`.
const MAX_URL: usize = 2048;
/// How many event types a request may name.
const MAX_EVENTS: usize = 64;

/// The delivery a receiver asked for, checked.
#[derive(Clone, PartialEq)]
pub struct Delivery {
    /// Push or poll.
    pub method: DeliveryMethod,
    /// Push: the receiver's endpoint. Poll: `None` (Warden assigns it).
    pub endpoint_url: Option<String>,
    /// Push: the `Authorization` header to send, in the clear (sealed before it is stored).
    pub authorization_header: Option<String>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("method", &self.method)
            .field("endpoint_url", &self.endpoint_url)
            .field(
                "authorization_header",
                &self.authorization_header.as_ref().map(|_| "<secret>"),
            )
            .finish()
    }
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            method: DeliveryMethod::Poll,
            endpoint_url: None,
            authorization_header: None,
        }
    }
}

/// The receiver-supplied members a body named (`None`: absent).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Requested {
    /// `stream_id`, when the body names one (PATCH, PUT).
    pub stream_id: Option<String>,
    /// `events_requested`.
    pub events_requested: Option<Vec<String>>,
    /// `delivery`.
    pub delivery: Option<Delivery>,
    /// `description` (`Some(None)`: explicitly `null`).
    pub description: Option<Option<String>>,
}

/// Parse a stream configuration body. `Err` is the 400's description.
pub fn parse(body: &str, policy: &AddressPolicy) -> Result<Requested, String> {
    let obj = object(body)?;
    let mut r = Requested {
        stream_id: optional_string(&obj, "stream_id")?,
        ..Default::default()
    };
    if let Some(v) = obj.get("events_requested") {
        let list = v
            .as_array()
            .filter(|a| a.len() <= MAX_EVENTS)
            .ok_or("events_requested must be an array of event-type URIs")?;
        let mut out: Vec<String> = Vec::new();
        for e in list {
            let s = e
                .as_str()
                .filter(|s| !s.is_empty() && s.len() <= 512)
                .ok_or("events_requested must be an array of event-type URIs")?;
            if !out.iter().any(|x| x == s) {
                out.push(s.to_string());
            }
        }
        r.events_requested = Some(out);
    }
    if let Some(v) = obj.get("delivery") {
        r.delivery = Some(delivery(v, policy)?);
    }
    match obj.get("description") {
        None => {}
        Some(Value::Null) => r.description = Some(None),
        Some(Value::String(s)) if s.len() <= MAX_DESCRIPTION => {
            r.description = Some(Some(s.clone()))
        }
        Some(_) => {
            return Err(format!(
                "description must be a string of at most {MAX_DESCRIPTION} bytes"
            ))
        }
    }
    Ok(r)
}

/// A JSON object body, or why not.
pub fn object(body: &str) -> Result<Map<String, Value>, String> {
    if body.trim().is_empty() {
        return Err("the body must be a JSON object".into());
    }
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("the body must be a JSON object".into()),
        Err(_) => Err("the body is not valid JSON".into()),
    }
}

/// A string member, if present (`Err` when it is there but not a non-empty string).
pub fn optional_string(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 256 => Ok(Some(s.clone())),
        Some(_) => Err(format!("{name} must be a non-empty string")),
    }
}

fn delivery(v: &Value, policy: &AddressPolicy) -> Result<Delivery, String> {
    let d = v.as_object().ok_or("delivery must be an object")?;
    let method = match d.get("method") {
        Some(Value::String(m)) => DeliveryMethod::parse(m).ok_or_else(|| {
            format!(
                "delivery method {m:?} is not supported ({}, {})",
                DeliveryMethod::Push,
                DeliveryMethod::Poll
            )
        })?,
        None => return Err("delivery needs a method".into()),
        Some(_) => return Err("delivery method must be a string".into()),
    };
    let auth = match d.get("authorization_header") {
        None | Some(Value::Null) => None,
        Some(Value::String(h))
            if !h.is_empty()
                && h.len() <= MAX_AUTHORIZATION
                && http::HeaderValue::from_str(h).is_ok() =>
        {
            Some(h.clone())
        }
        Some(_) => return Err("delivery authorization_header must be a valid header value".into()),
    };
    match method {
        DeliveryMethod::Push => {
            let url = match d.get("endpoint_url") {
                Some(Value::String(u)) if u.len() <= MAX_URL => u.clone(),
                _ => return Err("push delivery needs an endpoint_url".into()),
            };
            let parsed = url::Url::parse(&url)
                .map_err(|_| "delivery endpoint_url is not an absolute URL".to_string())?;
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err("delivery endpoint_url must not carry credentials".into());
            }
            if parsed.fragment().is_some() {
                return Err("delivery endpoint_url must not have a fragment".into());
            }
            policy
                .check_url(&parsed)
                .map_err(|e| format!("delivery endpoint_url {e}"))?;
            Ok(Delivery {
                method,
                endpoint_url: Some(url),
                authorization_header: auth,
            })
        }
        DeliveryMethod::Poll => {
            if auth.is_some() {
                return Err(
                    "authorization_header applies to push delivery only (a poll receiver \
                     authenticates with its own token)"
                        .into(),
                );
            }
            // The poll endpoint is the transmitter's (RFC 8936): one the receiver sends is
            // ignored, Warden assigns its own.
            Ok(Delivery::default())
        }
    }
}

/// The event types of `requested` that Warden supports, in Warden's order.
pub fn delivered(requested: &[String]) -> Vec<EventType> {
    EventType::ALL
        .iter()
        .copied()
        .filter(|e| requested.iter().any(|r| r == e.as_str()))
        .collect()
}

/// The endpoint a poll stream's receiver polls.
pub fn poll_url(issuer_url: impl Fn(&str) -> String, stream_id: &str) -> String {
    issuer_url(&format!("{}/{stream_id}", super::metadata::POLL_PATH))
}

/// A new stream of `client_id` with id `stream_id` from a create body, and what to do with
/// its authorization header (the caller seals it). Starts `enabled`.
pub fn new_stream(
    client_id: &str,
    stream_id: &str,
    r: &Requested,
    poll_url: String,
    now_ms: i64,
) -> (StreamItem, HeaderChange) {
    let (pk, sk) = keys::stream(client_id, stream_id);
    let mut s = StreamItem {
        pk,
        sk,
        stream_id: stream_id.into(),
        client_id: client_id.into(),
        aud: vec![client_id.into()],
        events_requested: Vec::new(),
        events_delivered: Vec::new(),
        delivery_method: DeliveryMethod::Poll,
        endpoint_url: String::new(),
        authorization_header_sealed: None,
        description: None,
        min_verification_interval: MIN_VERIFICATION_INTERVAL,
        status: StreamStatus::Enabled,
        status_reason: None,
        verification: None,
        last_verification_ms: 0,
        created_ms: now_ms,
        updated_ms: now_ms,
        v: 0,
    };
    let header = apply(&mut s, r, true, poll_url, now_ms);
    (s, header)
}

/// What a change does to the stream's sealed authorization header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderChange {
    /// Keep it.
    Keep,
    /// Remove it (the delivery changed and names none).
    Clear,
    /// Seal and store this new one.
    Seal(String),
}

/// Apply a body to `s`: `replace` (PUT, and a create) sets every receiver-supplied member,
/// absent ones to their defaults; otherwise (PATCH) only those the body names. Bumps `v`
/// and `updated_ms`. Returns what to do with the authorization header.
pub fn apply(
    s: &mut StreamItem,
    r: &Requested,
    replace: bool,
    poll_url: String,
    now_ms: i64,
) -> HeaderChange {
    if let Some(e) = &r.events_requested {
        s.events_requested = e.clone();
    } else if replace {
        s.events_requested.clear();
    }
    s.events_delivered = delivered(&s.events_requested);
    match &r.description {
        Some(d) => s.description = d.clone(),
        None if replace => s.description = None,
        None => {}
    }
    let delivery = match (&r.delivery, replace) {
        (Some(d), _) => Some(d.clone()),
        (None, true) => Some(Delivery::default()),
        (None, false) => None,
    };
    let header = match delivery {
        None => HeaderChange::Keep,
        Some(d) => {
            s.delivery_method = d.method;
            s.endpoint_url = match d.method {
                DeliveryMethod::Push => d.endpoint_url.unwrap_or_default(),
                DeliveryMethod::Poll => poll_url,
            };
            match d.authorization_header {
                Some(h) => HeaderChange::Seal(h),
                None => HeaderChange::Clear,
            }
        }
    };
    s.updated_ms = now_ms;
    s.v += 1;
    header
}

/// How a stream reads (SSF 1.0 §8.1.1): never its authorization header.
pub fn render(s: &StreamItem, issuer: &str) -> Value {
    let aud = match s.aud.as_slice() {
        [one] => json!(one),
        many => json!(many),
    };
    let mut v = json!({
        "stream_id": s.stream_id,
        "iss": issuer,
        "aud": aud,
        "events_supported": EventType::ALL.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "events_requested": s.events_requested,
        "events_delivered": s.events_delivered.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "delivery": {
            "method": s.delivery_method.as_str(),
            "endpoint_url": s.endpoint_url,
        },
        "min_verification_interval": s.min_verification_interval,
    });
    if let Some(d) = &s.description {
        v["description"] = json!(d);
    }
    v
}

/// A status change's body (SSF 1.0 §8.1.2.2): `status` and an optional `reason`.
pub fn parse_status(obj: &Map<String, Value>) -> Result<(StreamStatus, Option<String>), String> {
    let status = match obj.get("status") {
        Some(Value::String(st)) => StreamStatus::parse(st)
            .ok_or_else(|| format!("status {st:?} is not one of enabled, paused, disabled"))?,
        _ => return Err("status is required: enabled, paused or disabled".into()),
    };
    let reason = match obj.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if r.len() <= MAX_DESCRIPTION => Some(r.clone()),
        Some(_) => {
            return Err(format!(
                "reason must be a string of at most {MAX_DESCRIPTION} bytes"
            ))
        }
    };
    Ok((status, reason))
}

/// How a stream's status reads (SSF 1.0 §8.1.2.1).
pub fn render_status(s: &StreamItem) -> Value {
    let mut v = json!({"stream_id": s.stream_id, "status": s.status.as_str()});
    if let Some(r) = &s.status_reason {
        v["reason"] = json!(r);
    }
    v
}

/// Seconds until `s` may be asked for another verification at `now_ms` (0: now).
pub fn verification_wait_s(s: &StreamItem, now_ms: i64) -> i64 {
    if s.last_verification_ms == 0 {
        return 0;
    }
    let next = s.last_verification_ms + s.min_verification_interval * 1000;
    ((next - now_ms).max(0) + 999) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> AddressPolicy {
        AddressPolicy::new(true, Vec::new())
    }
    fn deployed() -> AddressPolicy {
        AddressPolicy::new(false, Vec::new())
    }
    const PUSH: &str = "urn:ietf:rfc:8935";
    const POLL: &str = "urn:ietf:rfc:8936";
    const REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

    fn body(v: Value) -> String {
        v.to_string()
    }

    #[test]
    fn events_delivered_are_the_requested_ones_warden_supports() {
        let r = parse(
            &body(json!({"events_requested": [REVOKED, "urn:example:unknown", REVOKED]})),
            &deployed(),
        )
        .unwrap();
        let req = r.events_requested.clone().unwrap();
        assert_eq!(req, [REVOKED, "urn:example:unknown"]);
        assert_eq!(delivered(&req), [EventType::SessionRevoked]);
        let (s, header) = new_stream("rp", "s1", &r, "https://idp/ssf/poll/s1".into(), 1);
        assert_eq!(header, HeaderChange::Clear);
        assert_eq!(s.delivery_method, DeliveryMethod::Poll);
        assert_eq!(s.endpoint_url, "https://idp/ssf/poll/s1");
        assert_eq!(s.aud, ["rp"]);
        let out = render(&s, "https://idp");
        assert_eq!(out["aud"], "rp");
        assert_eq!(out["events_delivered"], json!([REVOKED]));
        assert_eq!(out["events_supported"].as_array().unwrap().len(), 6);
    }

    #[test]
    fn push_endpoints_obey_the_outbound_address_policy() {
        let push = |url: &str| json!({"delivery": {"method": PUSH, "endpoint_url": url}});
        assert!(parse(&body(push("https://rx.example/events")), &deployed()).is_ok());
        for refused in [
            "http://rx.example/events",
            "https://10.0.0.1/events",
            "https://169.254.169.254/latest",
            "https://[::1]/events",
            "https://localhost/events",
            "ftp://rx.example/events",
            "https://user:pw@rx.example/events",
            "not a url",
        ] {
            let e = parse(&body(push(refused)), &deployed()).unwrap_err();
            assert!(e.contains("endpoint_url"), "{refused}: {e}");
        }
        // Local mode (loopback issuer) may push to loopback over plain http.
        assert!(parse(&body(push("http://127.0.0.1:9/events")), &local()).is_ok());
        assert!(parse(&body(push("https://10.0.0.1/events")), &local()).is_err());
    }

    #[test]
    fn broken_bodies_and_unknown_values_are_refused() {
        for bad in [
            "".to_string(),
            "[]".into(),
            "{".into(),
            body(json!({"events_requested": "x"})),
            body(json!({"events_requested": [1]})),
            body(json!({"delivery": {"method": "urn:example:carrier-pigeon"}})),
            body(json!({"delivery": {}})),
            body(json!({"delivery": {"method": PUSH}})),
            body(json!({"delivery": {"method": POLL, "authorization_header": "Bearer x"}})),
            body(
                json!({"delivery": {"method": PUSH, "endpoint_url": "https://rx.example/e",
                "authorization_header": "a\r\nb"}}),
            ),
            body(json!({"description": 5})),
            body(json!({"stream_id": 5})),
        ] {
            assert!(parse(&bad, &deployed()).is_err(), "{bad}");
        }
        // Transmitter-supplied members are ignored, not refused.
        let r = parse(
            &body(
                json!({"iss": "https://other", "aud": "x", "events_supported": [],
                "min_verification_interval": 1, "stream_id": "s1"}),
            ),
            &deployed(),
        )
        .unwrap();
        assert_eq!(r.stream_id.as_deref(), Some("s1"));
    }

    #[test]
    fn patch_changes_what_it_names_and_put_replaces_everything() {
        let create = parse(
            &body(json!({"events_requested": [REVOKED], "description": "d",
                "delivery": {"method": PUSH, "endpoint_url": "https://rx.example/e",
                    "authorization_header": "Bearer rx"}})),
            &deployed(),
        )
        .unwrap();
        let (mut s, header) = new_stream("rp", "s1", &create, "poll".into(), 1);
        assert_eq!(header, HeaderChange::Seal("Bearer rx".into()));
        assert_eq!(s.v, 1);
        let patch = parse(&body(json!({"description": "new"})), &deployed()).unwrap();
        assert_eq!(
            apply(&mut s, &patch, false, "poll".into(), 2),
            HeaderChange::Keep
        );
        assert_eq!(s.description.as_deref(), Some("new"));
        assert_eq!(s.events_delivered, [EventType::SessionRevoked]);
        assert_eq!(s.delivery_method, DeliveryMethod::Push);
        assert_eq!(s.v, 2);
        let put = parse(&body(json!({"stream_id": "s1"})), &deployed()).unwrap();
        assert_eq!(
            apply(&mut s, &put, true, "poll".into(), 3),
            HeaderChange::Clear
        );
        assert!(s.events_requested.is_empty() && s.description.is_none());
        assert_eq!(s.delivery_method, DeliveryMethod::Poll);
        assert_eq!(s.endpoint_url, "poll");
        let again = parse(
            &body(
                json!({"delivery": {"method": PUSH, "endpoint_url": "https://rx.example/e",
                "authorization_header": "Bearer rx2"}}),
            ),
            &deployed(),
        )
        .unwrap();
        assert_eq!(
            apply(&mut s, &again, false, "poll".into(), 4),
            HeaderChange::Seal("Bearer rx2".into())
        );
        // The secret is never rendered nor printed.
        s.authorization_header_sealed = Some("local:sealed".into());
        let out = render(&s, "https://idp").to_string();
        assert!(!out.contains("sealed") && !out.contains("authorization"));
        assert!(!format!("{again:?}").contains("rx2"));
    }

    #[test]
    fn status_bodies_and_the_verification_interval() {
        let ok = object(r#"{"status":"paused","reason":"maintenance"}"#).unwrap();
        assert_eq!(
            parse_status(&ok).unwrap(),
            (StreamStatus::Paused, Some("maintenance".into()))
        );
        for bad in [
            r#"{}"#,
            r#"{"status":"off"}"#,
            r#"{"status":"enabled","reason":1}"#,
        ] {
            assert!(parse_status(&object(bad).unwrap()).is_err(), "{bad}");
        }
        let r = Requested::default();
        let (mut s, _) = new_stream("rp", "s1", &r, "poll".into(), 1);
        assert_eq!(verification_wait_s(&s, 10_000), 0);
        s.last_verification_ms = 10_000;
        assert_eq!(verification_wait_s(&s, 10_000), MIN_VERIFICATION_INTERVAL);
        assert_eq!(verification_wait_s(&s, 10_000 + 29_500), 1);
        assert_eq!(verification_wait_s(&s, 10_000 + 30_000), 0);
    }
}
