//! The session REST API's rules (Me + Admin, WSO2-compatible): query-parameter parsing and
//! validation, cursor checks, session and delivery JSON, device parsing, and the "end all
//! (but keep these)" operation. Handlers in `functions/me-sessions` and
//! `functions/admin-sessions` parse the request, call into here, and render.
//!
//! Shapes (documented in `docs/openapi.yaml`):
//! * a session: WSO2's `id, userId, applications[{id, subject, appName, appId}], userAgent,
//!   ip, loginTime, lastAccessTime` (epoch-ms strings) plus `current`, `expiresAt`,
//!   `idleExpiresAt` (epoch-ms strings), `rememberMe` and `device{browser, os, type}`;
//! * a user's list (Me and per-user Admin): WSO2's `Sessions` object `{"userId", "sessions"}`
//!   plus `next` (URL of the next page, absent on the last page);
//! * the global search: `{"sessions", "next"}`.
//!
//! Every list answer with a next page also carries `Link: <next-url>; rel="next"`.

use crate::app::App;
use crate::http::error::ApiError;
use crate::platform::time::now_s;
use crate::store::schema::{keys, DeliveryItem, SessionItem, MAX_SHARDS};
use crate::store::StoreError;
use crate::store::{Cursor, SessionFilter};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Page size when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 20;
/// Largest accepted `limit`.
pub const MAX_LIMIT: usize = 100;
/// Longest accepted path identifier (user id, session id, client id).
pub const MAX_ID_LEN: usize = 128;

/// Query parameters of one request: unknown names, repeated names and malformed encoding are
/// a 400. An empty value counts as absent (as everywhere in Warden).
#[derive(Debug, Default, Clone)]
pub struct Query(BTreeMap<String, String>, std::collections::BTreeSet<String>);

impl Query {
    /// Parse `raw` allowing only the names in `allowed`.
    pub fn parse(raw: &str, allowed: &[&str]) -> Result<Query, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|_| ApiError::bad_request("The query string is malformed."))?;
        let mut map = BTreeMap::new();
        let mut seen = std::collections::BTreeSet::new();
        for (k, v) in pairs {
            if !allowed.contains(&k.as_str()) {
                return Err(ApiError::bad_request(if allowed.is_empty() {
                    format!(
                        "Unknown query parameter `{}`: this operation takes none.",
                        short(&k)
                    )
                } else {
                    format!(
                        "Unknown query parameter `{}`; allowed: {}.",
                        short(&k),
                        allowed.join(", ")
                    )
                }));
            }
            if !seen.insert(k.clone()) {
                return Err(ApiError::bad_request(format!(
                    "The query parameter `{k}` is repeated."
                )));
            }
            if !v.is_empty() {
                map.insert(k, v);
            }
        }
        Ok(Query(map, seen))
    }

    /// The parameter's value, if sent non-empty.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// Whether the parameter was sent at all (even with an empty value).
    pub fn has(&self, k: &str) -> bool {
        self.1.contains(k)
    }

    /// `limit`: an integer 1..=100, default 20.
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n) && v.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "`limit` must be an integer from 1 to {MAX_LIMIT}."
                    ))
                }),
        }
    }

    /// An epoch-milliseconds parameter.
    pub fn epoch_ms(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| {
                    (0..=253_402_300_799_999).contains(n) && v.bytes().all(|b| b.is_ascii_digit())
                })
                .map(Some)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "`{name}` must be a time in epoch milliseconds (a non-negative integer)."
                    ))
                }),
        }
    }

    /// A free-text parameter of at most `max` bytes.
    pub fn text(&self, name: &str, max: usize) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.len() <= max && !v.chars().any(char::is_control) => {
                Ok(Some(v.to_string()))
            }
            Some(_) => Err(ApiError::bad_request(format!(
                "`{name}` must be at most {max} bytes without control characters."
            ))),
        }
    }
}

fn short(s: &str) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// A path identifier (user, session or client id) that can name something Warden stores.
/// Anything else cannot exist, so the caller answers 404.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && !id.chars().any(char::is_control)
}

fn bad_cursor() -> ApiError {
    ApiError::bad_request("`cursor` is not a cursor this operation returned.")
}

fn key_names_are(k: &BTreeMap<String, String>, names: &[&str]) -> bool {
    k.len() == names.len()
        && names
            .iter()
            .all(|n| k.get(*n).is_some_and(|v| !v.is_empty() && v.len() <= 1024))
}

/// The cursor of a user's session list: it must be a position in *this* user's index
/// partition (a cursor is opaque, but it is still input).
pub fn user_list_cursor(raw: Option<&str>, user_id: &str) -> Result<Option<Cursor>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let c = Cursor::decode(raw).ok_or_else(bad_cursor)?;
    let ok = c.0.len() == 1
        && c.0.get("u").is_some_and(|k| {
            key_names_are(k, &["pk", "sk", "gsi1pk", "gsi1sk"])
                && k.get("gsi1pk") == Some(&keys::user_sessions_gsi(user_id))
                && k.get("sk").map(String::as_str) == Some(keys::SESSION_SK)
        });
    if ok {
        Ok(Some(c))
    } else {
        Err(bad_cursor())
    }
}

/// The cursor of the global search: one position per live-index shard still to read, each
/// either empty (from the start) or a key in that shard. A position names its shard by
/// number, below [`MAX_SHARDS`]: shards are never renumbered and the count readers read only
/// grows ([`crate::store::Store::read_shards`]), so a cursor stays valid across a change of
/// `WARDEN_LIVE_SHARDS` (a shard added since the first page holds only sessions active
/// since then, which sort before the cursor's positions anyway).
pub fn search_cursor(raw: Option<&str>) -> Result<Option<Cursor>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let c = Cursor::decode(raw).ok_or_else(bad_cursor)?;
    if c.0.is_empty() {
        return Err(bad_cursor());
    }
    for (pos, k) in &c.0 {
        let Some(shard) = pos.parse::<u32>().ok().filter(|s| *s < MAX_SHARDS) else {
            return Err(bad_cursor());
        };
        if pos != &shard.to_string() {
            return Err(bad_cursor());
        }
        if k.is_empty() {
            continue;
        }
        if !key_names_are(k, &["pk", "sk", "gsi3pk", "gsi3sk"])
            || k.get("gsi3pk") != Some(&keys::live_gsi(shard))
            || k.get("sk").map(String::as_str) != Some(keys::SESSION_SK)
        {
            return Err(bad_cursor());
        }
    }
    Ok(Some(c))
}

/// Parameters of the global search (`GET /api/users/v1/sessions`).
pub const SEARCH_PARAMS: &[&str] = &[
    "limit",
    "cursor",
    "userId",
    "appId",
    "ip",
    "userAgent",
    "loginTimeFrom",
    "loginTimeTo",
    "lastAccessTimeFrom",
    "lastAccessTimeTo",
];

/// Parameters of a user's session list.
pub const LIST_PARAMS: &[&str] = &["limit", "cursor"];

/// A validated global search.
#[derive(Debug, Clone)]
pub struct Search {
    /// The filters, combined with AND.
    pub filter: SessionFilter,
    /// Page size (1 to 100, default 20).
    pub limit: usize,
    /// Where the previous page stopped; `None` for the first page.
    pub cursor: Option<Cursor>,
}

/// Validate the global search's query.
pub fn parse_search(q: &Query) -> Result<Search, ApiError> {
    let limit = q.limit()?;
    let cursor = search_cursor(q.get("cursor"))?;
    let user_id = q.text("userId", MAX_ID_LEN)?;
    let client_id = q.text("appId", MAX_ID_LEN)?;
    if let Some(c) = &client_id {
        if !c
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(ApiError::bad_request(
                "`appId` is a client id: letters, digits, '-', '_' or '.'.",
            ));
        }
    }
    let filter = SessionFilter {
        user_id,
        client_id,
        ip: q.text("ip", 64)?,
        user_agent_contains: q.text("userAgent", 512)?,
        login_from_ms: q.epoch_ms("loginTimeFrom")?,
        login_to_ms: q.epoch_ms("loginTimeTo")?,
        access_from_ms: q.epoch_ms("lastAccessTimeFrom")?,
        access_to_ms: q.epoch_ms("lastAccessTimeTo")?,
    };
    for (from, to, name) in [
        (filter.login_from_ms, filter.login_to_ms, "loginTime"),
        (filter.access_from_ms, filter.access_to_ms, "lastAccessTime"),
    ] {
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(ApiError::bad_request(format!(
                    "`{name}From` is after `{name}To`."
                )));
            }
        }
    }
    Ok(Search {
        filter,
        limit,
        cursor,
    })
}

/// The URL of the next page: the same path and query with `cursor` replaced.
pub fn next_url(app: &App, path: &str, q: &Query, cursor: &str) -> String {
    let mut pairs: Vec<(&str, &str)> =
        q.0.iter()
            .filter(|(k, _)| k.as_str() != "cursor")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
    pairs.push(("cursor", cursor));
    crate::http::with_query(&app.config.url(path), &pairs)
}

/// Percent-encode one path segment (RFC 3986: everything but unreserved characters).
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `Link` header value for the next page (RFC 8288).
pub fn link_next(url: &str) -> String {
    format!("<{url}>; rel=\"next\"")
}

/// Browser, OS and device type from a user agent (woothee).
pub fn device(user_agent: &str) -> Value {
    let unknown = |v: &str| {
        if v.is_empty() || v == woothee::woothee::VALUE_UNKNOWN {
            "Unknown".to_string()
        } else {
            v.to_string()
        }
    };
    let parsed = if user_agent.is_empty() {
        None
    } else {
        woothee::parser::Parser::new().parse(user_agent)
    };
    match parsed {
        None => json!({"browser": "Unknown", "os": "Unknown", "type": "unknown"}),
        Some(r) => {
            let kind = match r.category {
                "pc" => "desktop",
                "smartphone" | "mobilephone" => {
                    if r.os == "iPad" || user_agent.contains("Tablet") {
                        "tablet"
                    } else {
                        "mobile"
                    }
                }
                "appliance" => "appliance",
                "crawler" => "bot",
                _ => "unknown",
            };
            let os = match (unknown(r.os).as_str(), r.os_version.as_ref()) {
                ("Unknown", _) => "Unknown".to_string(),
                (os, v) if !v.is_empty() && v != woothee::woothee::VALUE_UNKNOWN => {
                    // woothee names Windows by release ("Windows 10") and gives the NT kernel
                    // version separately; the name alone is what people recognise.
                    if os.contains(v) || os.starts_with("Windows") {
                        os.to_string()
                    } else {
                        format!("{os} {v}")
                    }
                }
                (os, _) => os.to_string(),
            };
            json!({"browser": unknown(r.name), "os": os, "type": kind})
        }
    }
}

/// A session in the API's shape. `current`: the caller's token is mapped to it.
pub fn session_json(s: &SessionItem, current: bool) -> Value {
    let apps: Vec<Value> = s
        .apps
        .iter()
        .map(|(client_id, a)| {
            json!({
                "id": client_id,
                "subject": s.user_id,
                "appName": a.name,
                "appId": client_id,
            })
        })
        .collect();
    json!({
        "id": s.sid,
        "userId": s.user_id,
        "applications": apps,
        "userAgent": s.user_agent,
        "ip": s.ip,
        "loginTime": s.created_ms.to_string(),
        "lastAccessTime": s.last_seen_ms.to_string(),
        "current": current,
        "expiresAt": (s.absolute_expires_at * 1000).to_string(),
        "idleExpiresAt": (s.idle_expires_at.min(s.absolute_expires_at) * 1000).to_string(),
        "rememberMe": s.remember_me,
        "device": device(&s.user_agent),
    })
}

/// A logout delivery receipt.
pub fn delivery_json(d: &DeliveryItem) -> Value {
    json!({
        "clientId": d.client_id,
        "status": d.status,
        "reason": d.reason,
        "attempts": d.attempts,
        "lastHttpStatus": d.last_http_status,
        "lastError": d.last_error,
        "createdAt": d.created_ms.to_string(),
        "updatedAt": d.updated_ms.to_string(),
        "deliveredAt": d.delivered_ms.map(|v| v.to_string()),
    })
}

/// A user's live sessions, one page, rendered; `current` marks those in `current_sids`.
/// Returns the JSON sessions and the next cursor, which is absent on the last page: one
/// item more than the page is read, so a `next` link never leads to an empty page.
/// 1 round trip (Query) in practice.
pub async fn list_user(
    app: &App,
    user_id: &str,
    limit: usize,
    cursor: Option<&Cursor>,
    current_sids: &[String],
) -> Result<(Vec<Value>, Option<String>), StoreError> {
    let now = now_s();
    let mut page = app
        .store
        .list_user_sessions(user_id, now, limit + 1, cursor)
        .await?;
    let next = if page.items.len() > limit {
        page.items.truncate(limit);
        page.items.last().and_then(user_list_position)
    } else {
        None
    };
    let items = page
        .items
        .iter()
        .filter(|s| s.is_live(now))
        .map(|s| session_json(s, current_sids.contains(&s.sid)))
        .collect();
    Ok((items, next))
}

/// The keyset position just after `s` in its user's index (the item's own key attributes).
fn user_list_position(s: &SessionItem) -> Option<String> {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    let mut k = std::collections::HashMap::new();
    k.insert("pk".to_string(), S(s.pk.clone()));
    k.insert("sk".to_string(), S(s.sk.clone()));
    k.insert("gsi1pk".to_string(), S(s.gsi1pk.clone()?));
    k.insert("gsi1sk".to_string(), S(s.gsi1sk.clone()?));
    let mut c = Cursor::default();
    c.set("u", &k);
    Some(c.encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_rejects_unknown_repeated_and_bad_values() {
        assert!(Query::parse("limit=5&cursor=", LIST_PARAMS).is_ok());
        let e = Query::parse("limit=5&foo=1", LIST_PARAMS).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.description.contains("foo"));
        assert!(Query::parse("limit=1&limit=2", LIST_PARAMS).is_err());
        assert!(Query::parse("x", &[]).is_err());
        for bad in ["0", "101", "-1", "+5", "abc", "1.5", "99999999999999999999"] {
            let q = Query::parse(&format!("limit={bad}"), LIST_PARAMS).unwrap();
            assert!(q.limit().is_err(), "{bad}");
        }
        let q = Query::parse("", LIST_PARAMS).unwrap();
        assert_eq!(q.limit().unwrap(), DEFAULT_LIMIT);
        let q = Query::parse("loginTimeFrom=10&loginTimeTo=5", SEARCH_PARAMS).unwrap();
        assert!(parse_search(&q).is_err());
        let q = Query::parse("appId=a%20b", SEARCH_PARAMS).unwrap();
        assert!(parse_search(&q).is_err());
        let q = Query::parse("lastAccessTimeFrom=-3", SEARCH_PARAMS).unwrap();
        assert!(parse_search(&q).is_err());
    }

    #[test]
    fn cursors_are_checked() {
        assert!(user_list_cursor(Some("garbage!"), "u1").is_err());
        let mut c = Cursor::default();
        let mut k = std::collections::HashMap::new();
        for (a, v) in [
            ("pk", keys::session_pk("s")),
            ("sk", keys::SESSION_SK.to_string()),
            ("gsi1pk", keys::user_sessions_gsi("u1")),
            ("gsi1sk", keys::user_sessions_sort(5, "s")),
        ] {
            k.insert(a.to_string(), aws_sdk_dynamodb::types::AttributeValue::S(v));
        }
        c.set("u", &k);
        let enc = c.encode();
        assert!(user_list_cursor(Some(&enc), "u1").is_ok());
        assert!(user_list_cursor(Some(&enc), "someone-else").is_err());
        assert!(search_cursor(Some(&enc)).is_err());
        let mut g = Cursor::default();
        g.set("0", &std::collections::HashMap::new());
        assert!(search_cursor(Some(&g.encode())).is_ok());
        // Any shard a count may have (below MAX_SHARDS) is a position; 1024 is not.
        let mut g = Cursor::default();
        g.set("1023", &std::collections::HashMap::new());
        assert!(search_cursor(Some(&g.encode())).is_ok());
        let mut g = Cursor::default();
        g.set(&MAX_SHARDS.to_string(), &std::collections::HashMap::new());
        assert!(search_cursor(Some(&g.encode())).is_err());
        let mut g = Cursor::default();
        g.set("07", &std::collections::HashMap::new());
        assert!(
            search_cursor(Some(&g.encode())).is_err(),
            "one spelling per shard"
        );
    }

    #[test]
    fn devices() {
        let d = device("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36");
        assert_eq!(d["browser"], "Chrome");
        assert_eq!(d["type"], "desktop");
        assert_eq!(d["os"], "Windows 10");
        let d = device("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1");
        assert_eq!(d["type"], "mobile");
        assert_eq!(d["browser"], "Safari");
        let d = device("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1");
        assert_eq!(d["type"], "tablet");
        assert_eq!(d["os"], "iPad 17.0");
        let d = device("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36");
        assert_eq!(d["os"], "Android 14");
        assert_eq!(d["type"], "mobile");
        let d = device("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)");
        assert_eq!(d["type"], "bot");
        let d = device("");
        assert_eq!(d["browser"], "Unknown");
        assert_eq!(d["type"], "unknown");
        let d = device("\u{0}garbage");
        assert!(d["browser"].is_string());
    }
}
