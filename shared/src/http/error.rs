//! The error shapes of Warden's HTTP answers. Storage failures are
//! [`crate::store::StoreError`]; each converts into both shapes here.
//!
//! * [`ApiError`]: the REST API's `{"code","message","description","traceId"}` body.
//! * [`OAuthError`]: RFC 6749 §5.2 `{"error","error_description"}` for OAuth endpoints, and
//!   RFC 6750 `WWW-Authenticate` challenges for resource endpoints.

use crate::http::response::{json_response, Resp};
use crate::store::StoreError;
use http::StatusCode;
use serde_json::json;

/// A REST API error.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Warden's error code (`SES-<status><nn>`, WSO2's style), stable for clients to match on.
    pub code: &'static str,
    /// A short summary (`Invalid request.`).
    pub message: String,
    /// What exactly was wrong, for the developer reading it.
    pub description: String,
    /// RFC 6750 challenge for 401/403 on bearer-protected routes.
    pub www_authenticate: Option<String>,
    /// `Retry-After` seconds, for a 429.
    pub retry_after: Option<i64>,
}

impl ApiError {
    /// An error with every field given (no `WWW-Authenticate`).
    pub fn new(status: StatusCode, code: &'static str, message: &str, description: &str) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            description: description.into(),
            www_authenticate: None,
            retry_after: None,
        }
    }
    /// 400 `SES-40001`: the request breaks the API's rules; `description` says how.
    pub fn bad_request(description: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "SES-40001", "Invalid request.", "");
        e.description = description.into();
        e
    }
    /// 404 `SES-40401`: no such resource (also for one the caller may not see, so existence does
    /// not leak).
    pub fn not_found(description: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::NOT_FOUND, "SES-40401", "Not found.", "");
        e.description = description.into();
        e
    }
    /// 405 `SES-40501`: the path exists, the method does not.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "SES-40501",
            "Method not allowed.",
            "This resource does not support the request's method.",
        )
    }
    /// 500 `SES-50001`: an unexpected failure (logged with the trace id); safe to retry.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "SES-50001",
            "Internal error.",
            "The server could not complete the request; it is safe to retry.",
        )
    }
    /// 503 `SES-50301`: the store was throttled or unreachable; retry later.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SES-50301",
            "Temporarily unavailable.",
            "The server is busy; retry later.",
        )
    }
    /// 401 without a token: a bare challenge (RFC 6750 §3.1: no error code).
    pub fn unauthenticated(realm: &str) -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "SES-40101",
            "Unauthorized.",
            "A bearer access token is required.",
        );
        e.www_authenticate = Some(format!("Bearer realm=\"{realm}\""));
        e
    }
    /// 400 for a malformed resource request (RFC 6750 §3.1 `invalid_request`).
    pub fn bearer_invalid_request(realm: &str, description: &str) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "SES-40003",
            "Invalid request.",
            description,
        );
        e.www_authenticate = Some(format!(
            "Bearer realm=\"{realm}\", error=\"invalid_request\""
        ));
        e
    }
    /// 401 with a bad, expired or revoked token.
    pub fn invalid_token(realm: &str) -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "SES-40102",
            "Unauthorized.",
            "The access token is invalid, expired or revoked.",
        );
        e.www_authenticate = Some(format!(
            "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"The access token is invalid, expired or revoked\""
        ));
        e
    }
    /// 403 when the token lacks a scope.
    pub fn insufficient_scope(realm: &str, scope: &str) -> Self {
        let mut e = Self::new(
            StatusCode::FORBIDDEN,
            "SES-40301",
            "Forbidden.",
            "The access token lacks the scope this operation needs.",
        );
        e.description = format!("The access token lacks the scope `{scope}`.");
        e.www_authenticate = Some(format!(
            "Bearer realm=\"{realm}\", error=\"insufficient_scope\", scope=\"{scope}\""
        ));
        e
    }

    /// The JSON response, with `traceId` (the request id, so a report can be found in the logs) and
    /// the `WWW-Authenticate` challenge if any.
    pub fn into_response(self, trace_id: &str) -> Resp {
        let mut resp = json_response(
            self.status,
            &json!({
                "code": self.code,
                "message": self.message,
                "description": self.description,
                "traceId": trace_id,
            }),
        );
        if let Some(ch) = self.www_authenticate {
            if let Ok(v) = http::HeaderValue::from_str(&ch) {
                resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
            }
        }
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from(secs.max(1)),
            );
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Throttled => ApiError::unavailable(),
            StoreError::Unavailable(why) => {
                tracing::warn!(error = %why, "store unavailable");
                ApiError::unavailable()
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::internal()
            }
        }
    }
}

/// An OAuth 2.0 error (RFC 6749 §4.1.2.1, §5.2; RFC 7009; RFC 7662).
#[derive(Debug, Clone)]
pub struct OAuthError {
    /// The HTTP status (derived from `error` by [`OAuthError::new`]).
    pub status: StatusCode,
    /// The RFC 6749 §5.2 error code (`invalid_request`, `invalid_client`, `invalid_grant`, ...).
    pub error: &'static str,
    /// `error_description`: human-readable, ASCII, no secrets.
    pub description: String,
}

impl OAuthError {
    /// An error with its status: 401 for `invalid_client` (RFC 6749 §5.2), 500 for `server_error`,
    /// 503 for `temporarily_unavailable`, else 400.
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        let status = match error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }
    /// `invalid_request`: a parameter is missing, repeated, malformed or unsupported.
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", d)
    }
    /// `invalid_client`: client authentication failed (401 with a Basic challenge).
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new("invalid_client", d)
    }
    /// `invalid_grant`: the code or refresh token is invalid, expired, revoked, used, or issued to
    /// another client or redirect URI.
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", d)
    }
    /// `server_error` (500): an unexpected failure, logged.
    pub fn server_error() -> Self {
        Self::new("server_error", "The server could not complete the request.")
    }

    /// The JSON response; `invalid_client` carries a Basic challenge (RFC 6749 §5.2).
    pub fn into_response(self) -> Resp {
        let mut resp = json_response(
            self.status,
            &json!({"error": self.error, "error_description": self.description}),
        );
        if self.error == "invalid_client" {
            resp.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Basic realm=\"warden\""),
            );
        }
        resp
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Throttled => OAuthError::new(
                "temporarily_unavailable",
                "The server is busy; retry later.",
            ),
            StoreError::Unavailable(why) => {
                tracing::warn!(error = %why, "store unavailable");
                OAuthError::new(
                    "temporarily_unavailable",
                    "The server is busy; retry later.",
                )
            }
            other => {
                tracing::error!(error = %other, "store error");
                OAuthError::server_error()
            }
        }
    }
}
