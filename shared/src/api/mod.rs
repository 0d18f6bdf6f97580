//! The session REST API (WSO2-shaped, `docs/openapi.yaml`): its query rules and JSON shapes
//! ([`sessions`]), and its operations — the caller's own sessions ([`me`]) and the
//! administrators' ([`admin`]). It sits above every domain it serves: it authenticates
//! bearer tokens (oauth), ends sessions (session) and replays deliveries (logout).

pub mod admin;
pub mod me;
pub mod sessions;

use crate::http::{empty, json_response, Resp};
use http::{header, HeaderValue, StatusCode};
use serde_json::Value;

/// What an operation answers: a status, a JSON body (none for 202/204), and the URL of the
/// next page (sent as `next` in the body by the operation and as a `Link: rel="next"` header
/// here).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body; `None` for 202 and 204.
    pub body: Option<Value>,
    /// The next page's URL, for the `Link: <…>; rel="next"` header.
    pub next: Option<String>,
}

impl Answer {
    /// A bodiless answer (204, 202).
    pub fn empty(status: StatusCode) -> Self {
        Answer {
            status,
            body: None,
            next: None,
        }
    }

    /// A 200 with `body`.
    pub fn json(body: Value) -> Self {
        Answer {
            status: StatusCode::OK,
            body: Some(body),
            next: None,
        }
    }

    /// A 200 list page: `body` gains `next` when there is one, and the answer a `Link`.
    pub fn page(mut body: Value, next: Option<String>) -> Self {
        if let Some(n) = &next {
            body["next"] = Value::String(n.clone());
        }
        Answer {
            status: StatusCode::OK,
            body: Some(body),
            next,
        }
    }

    /// The HTTP response.
    pub fn render(self) -> Resp {
        let mut r = match &self.body {
            Some(b) => json_response(self.status, b),
            None => empty(self.status),
        };
        if let Some(n) = &self.next {
            if let Ok(v) = HeaderValue::from_str(&sessions::link_next(n)) {
                r.headers_mut().insert(header::LINK, v);
            }
        }
        r
    }
}
