//! Turning a plain HTTP request into exactly what API Gateway (HTTP API, payload v2) hands a
//! Lambda function: the event JSON is built and parsed by `lambda_http` itself.

use base64::Engine;
use http::HeaderMap;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;

/// Build the payload-v2 event for a request.
#[allow(clippy::too_many_arguments)]
pub fn event(
    method: &str,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    route_key: &str,
    path_params: &[(String, String)],
    peer: SocketAddr,
    request_id: &str,
) -> Value {
    let mut hs: Map<String, Value> = Map::new();
    let mut cookies: Vec<Value> = Vec::new();
    for (name, value) in headers {
        let Ok(v) = value.to_str() else { continue };
        let n = name.as_str().to_ascii_lowercase();
        if n == "cookie" {
            for c in v.split(';') {
                let c = c.trim();
                if !c.is_empty() {
                    cookies.push(Value::String(c.to_string()));
                }
            }
            continue;
        }
        match hs.get_mut(&n) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(v);
            }
            _ => {
                hs.insert(n, Value::String(v.to_string()));
            }
        }
    }
    let mut qs: Map<String, Value> = Map::new();
    for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        match qs.get_mut(k.as_ref()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                qs.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
    }
    let pp: Map<String, Value> = path_params
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let ct = hs
        .get("content-type")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let textual = ct.starts_with("text/")
        || ct.contains("json")
        || ct.contains("x-www-form-urlencoded")
        || ct.contains("xml");
    let (body_v, b64) = if body.is_empty() {
        (Value::Null, false)
    } else if textual && std::str::from_utf8(body).is_ok() {
        (
            Value::String(String::from_utf8_lossy(body).into_owned()),
            false,
        )
    } else {
        (
            Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
            true,
        )
    };
    let host = hs
        .get("host")
        .and_then(|v| v.as_str())
        .unwrap_or("localhost")
        .to_string();
    let ua = hs
        .get("user-agent")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let now = warden_core::time::now_ms();
    let mut ev = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": hs,
        "requestContext": {
            "accountId": "local",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": ua,
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": "",
            "timeEpoch": now,
        },
        "isBase64Encoded": b64,
    });
    if !cookies.is_empty() {
        ev["cookies"] = Value::Array(cookies);
    }
    if !qs.is_empty() {
        ev["queryStringParameters"] = Value::Object(qs);
    }
    if !pp.is_empty() {
        ev["pathParameters"] = Value::Object(pp);
    }
    if !body_v.is_null() {
        ev["body"] = body_v;
    }
    ev
}
