//! Turning a plain HTTP request into exactly what API Gateway (HTTP API, payload v2) hands a
//! Lambda function.
//!
//! [`gateway_event`] builds the payload-v2 event (headers merged with commas, cookies moved
//! to `cookies`, body base64-encoded unless textual). The local server hands it to
//! `lambda_http`'s own conversion ([`request`]) without a JSON round trip; [`event`] is the
//! same event as the JSON Lambda receives (cold-start benchmark). A test checks that both
//! give the same request.

use aws_lambda_events::apigw::{
    ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
    ApiGatewayV2httpRequestContextHttpDescription,
};
use base64::Engine;
use http::{HeaderMap, HeaderValue, Method};
use lambda_http::request::LambdaRequest;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;

/// What one request carries, as the local server saw it.
pub struct Incoming<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// `"GET /oauth2/authorize"`.
    pub route_key: &'a str,
    pub path_params: &'a [(String, String)],
    pub peer: SocketAddr,
    pub request_id: &'a str,
}

/// Build the payload-v2 event for a request.
pub fn gateway_event(r: &Incoming<'_>) -> ApiGatewayV2httpRequest {
    let mut headers = HeaderMap::with_capacity(r.headers.len());
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in r.headers {
        let Ok(v) = value.to_str() else { continue };
        if name == http::header::COOKIE {
            cookies.extend(
                v.split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string),
            );
            continue;
        }
        // API Gateway joins repeated headers with commas.
        let merged = match headers
            .get(name)
            .and_then(|e: &HeaderValue| e.to_str().ok())
        {
            Some(existing) => HeaderValue::from_str(&format!("{existing},{v}")).ok(),
            None => Some(value.clone()),
        };
        if let Some(m) = merged {
            headers.insert(name.clone(), m);
        }
    }
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let ct = header("content-type").unwrap_or("").to_ascii_lowercase();
    let textual = ct.starts_with("text/")
        || ct.contains("json")
        || ct.contains("x-www-form-urlencoded")
        || ct.contains("xml");
    let (body, b64) = if r.body.is_empty() {
        (None, false)
    } else {
        match std::str::from_utf8(r.body) {
            Ok(text) if textual => (Some(text.to_string()), false),
            _ => (
                Some(base64::engine::general_purpose::STANDARD.encode(r.body)),
                true,
            ),
        }
    };
    let mut http_desc = ApiGatewayV2httpRequestContextHttpDescription::default();
    http_desc.method = r.method.clone();
    http_desc.path = Some(r.path.to_string());
    http_desc.protocol = Some("HTTP/1.1".into());
    http_desc.source_ip = Some(r.peer.ip().to_string());
    http_desc.user_agent = Some(header("user-agent").unwrap_or("").to_string());

    let mut ctx = ApiGatewayV2httpRequestContext::default();
    ctx.route_key = Some(r.route_key.to_string());
    ctx.account_id = Some("local".into());
    ctx.stage = Some("$default".into());
    ctx.request_id = Some(r.request_id.to_string());
    ctx.apiid = Some("local".into());
    ctx.domain_name = Some(header("host").unwrap_or("localhost").to_string());
    ctx.domain_prefix = Some("local".into());
    ctx.time = Some(String::new());
    ctx.time_epoch = warden_core::platform::time::now_ms();
    ctx.http = http_desc;

    let mut ev = ApiGatewayV2httpRequest::default();
    ev.version = Some("2.0".into());
    ev.route_key = Some(r.route_key.to_string());
    ev.raw_path = Some(r.path.to_string());
    ev.raw_query_string = Some(r.raw_query.to_string());
    ev.cookies = (!cookies.is_empty()).then_some(cookies);
    ev.headers = headers;
    ev.path_parameters = r
        .path_params
        .iter()
        .cloned()
        .collect::<HashMap<String, String>>();
    ev.request_context = ctx;
    ev.body = body;
    ev.is_base64_encoded = b64;
    ev
}

/// The request `lambda_http` gives a handler for this event (its own conversion, no JSON).
pub fn request(ev: ApiGatewayV2httpRequest) -> lambda_http::Request {
    LambdaRequest::ApiGatewayV2(ev).into()
}

/// The event as the JSON document Lambda receives.
pub fn event(r: &Incoming<'_>) -> Value {
    serde_json::to_value(gateway_event(r)).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::RequestExt;

    fn sample(method: &Method, path: &str, query: &str, body: &[u8], ct: &str) {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("127.0.0.1:8080"));
        headers.insert("user-agent", HeaderValue::from_static("t/1"));
        headers.append("x-dup", HeaderValue::from_static("a"));
        headers.append("x-dup", HeaderValue::from_static("b"));
        headers.insert("cookie", HeaderValue::from_static("a=1; b=2"));
        if !ct.is_empty() {
            headers.insert("content-type", HeaderValue::from_str(ct).unwrap());
        }
        let params = vec![("user-id".to_string(), "u1".to_string())];
        let inc = Incoming {
            method,
            path,
            raw_query: query,
            headers: &headers,
            body,
            route_key: "GET /x",
            path_params: &params,
            peer: "127.0.0.1:5000".parse().unwrap(),
            request_id: "r1",
        };
        let direct = request(gateway_event(&inc));
        let wire = lambda_http::request::from_str(&event(&inc).to_string()).unwrap();
        assert_eq!(direct.method(), wire.method());
        assert_eq!(direct.uri(), wire.uri());
        assert_eq!(direct.headers(), wire.headers());
        assert_eq!(direct.body().as_ref(), wire.body().as_ref());
        assert_eq!(
            direct.query_string_parameters(),
            wire.query_string_parameters()
        );
        assert_eq!(direct.path_parameters(), wire.path_parameters());
        assert_eq!(direct.headers()["x-dup"], "a,b");
        assert_eq!(direct.headers()["cookie"], "a=1; b=2");
    }

    #[test]
    fn direct_conversion_matches_the_json_event() {
        sample(&Method::GET, "/oauth2/authorize", "a=1&b=%20x&a=2", b"", "");
        sample(
            &Method::POST,
            "/oauth2/token",
            "",
            b"grant_type=x&code=y",
            "application/x-www-form-urlencoded",
        );
        sample(&Method::POST, "/bin", "", &[0, 159, 146, 150], "image/png");
    }
}
