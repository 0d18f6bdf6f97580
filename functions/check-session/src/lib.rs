//! `check-session`: the OP iframe of OpenID Connect Session Management 1.0 §3.2
//! (`GET /oidc/checksession?client_id=<id>`, alias `/oauth2/connect/checkSession`).
//!
//! The RP may load the iframe as published in discovery (no query) or with its
//! `client_id` in the query. With `client_id` the page embeds that client's registered
//! redirect-URI origins; without it, the page learns the origins of the client named in the
//! first message from `GET /oidc/checksession?origins_for=<client_id>` (same origin, JSON,
//! cached by the page). Either way it only answers the frame's parent origin, and only
//! when that origin is registered for the client. To `postMessage("<client_id> <session_state>")`
//! it answers `unchanged`, `changed` or `error`:
//!
//! 1. It recomputes the session_state from the `warden_bs` cookie exactly as
//!    `warden_core::oauth::oidc::session_state` does:
//!    `base64url(SHA-256(client_id + " " + origin + " " + browser_state + " " + salt)) + "." + salt`;
//!    a mismatch (the browser signed out or in since) is `changed` at once.
//! 2. A browser state bound to a session (`warden_core::session::browser_state`) is also
//!    asked about: `GET /oidc/checksession?browser_state=<value>&slot=<n>` answers
//!    `{"live": true}` or `{"live": false, "since": <epoch ms>}` with
//!    `Cache-Control: private, max-age=<2 × interval>`. The page asks at most once per interval
//!    (`WARDEN_CHECK_SESSION_INTERVAL_SECONDS`, default 10) per browser state — `slot`
//!    numbers the interval, offset per browser state so that browsers do not all ask at
//!    the same second — and answers the messages in between from what it learnt; the
//!    browser's cache shares one answer between the iframes of one site's pages. An ended
//!    session is `changed` for a session_state issued before the end and `unchanged` for
//!    one issued after it (the `prompt=none` re-check that told the app so); a browser state
//!    without a session, or an answer that did not come, leaves the cookie to decide.
//!
//! So a session that ends by any cause is `changed` for every message posted more than one
//! interval after the end, at a cost of at most one request (one GetItem) per interval per
//! open RP page, and none while no page asks. Messages from any other origin get no answer.
//! The page is frameable (no X-Frame-Options).

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::Request;
use warden_core::http::{self as h, esc, html_response, Resp};
use warden_core::session::browser_state::{self, Status};
use warden_core::session::BROWSER_STATE_COOKIE;
use warden_core::App;

pub async fn handle(app: &App, req: Request) -> Resp {
    let params = match h::Params::parse(h::raw_query(&req)) {
        Ok(p) => p,
        Err(_) => return problem(StatusCode::BAD_REQUEST, "Malformed query string."),
    };
    if let Some(cid) = params.get("origins_for") {
        return origins_json(app, cid).await;
    }
    if let Some(value) = params.get("browser_state") {
        return status_json(app, value, params.get("slot")).await;
    }
    let Some(client_id) = params.get("client_id") else {
        return html_response(StatusCode::OK, page(app, None, &[]), true);
    };
    let client = match app.client(client_id).await {
        Ok(Some(c)) if !c.disabled => c,
        Ok(_) => return problem(StatusCode::BAD_REQUEST, "Unknown client_id."),
        Err(e) => {
            tracing::error!(error = %e, "check_session client lookup failed");
            return problem(StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable.");
        }
    };
    let origins = registered_origins(&client);
    html_response(
        StatusCode::OK,
        page(app, Some(&client.client_id), &origins),
        true,
    )
}

/// The RFC 6454 origins of a client's redirect URIs, sorted, without repeats.
fn registered_origins(client: &warden_core::store::schema::ClientItem) -> Vec<String> {
    let mut o: Vec<String> = client
        .redirect_uris
        .iter()
        .filter_map(|u| h::origin_of(u))
        .collect();
    o.sort();
    o.dedup();
    o
}

/// The registered origins of one client, for the generic iframe page. Unknown clients get an
/// empty list (no existence oracle beyond what the authorize endpoint already shows).
async fn origins_json(app: &App, client_id: &str) -> Resp {
    let origins: Vec<String> = match app.client(client_id).await {
        Ok(Some(c)) if !c.disabled => registered_origins(&c),
        Ok(_) => Vec::new(),
        Err(e) => {
            tracing::error!(error = %e, "check_session client lookup failed");
            return problem(StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable.");
        }
    };
    private_json(&serde_json::json!({ "origins": origins }), 60)
}

/// A 200 JSON answer the browser may keep for `max_age` seconds (and share with no one
/// else): `Cache-Control: private, max-age=…` and no `Pragma: no-cache`, which Chromium
/// takes as "revalidate every time" whatever Cache-Control says.
fn private_json(body: &serde_json::Value, max_age: u64) -> Resp {
    let mut r = h::json_response(StatusCode::OK, body);
    r.headers_mut().remove(header::PRAGMA);
    if let Ok(v) = HeaderValue::from_str(&format!("private, max-age={max_age}")) {
        r.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    r
}

/// Whether a session-bound browser state's session is live: parse → one core call →
/// render. Nothing else about the session is told (no user, no sid beyond the one in the
/// value); a value whose MAC fails reads like one naming no session. `slot` only keys the
/// browser's cache (digits). 1 GetItem; malformed input is a 400 without any.
async fn status_json(app: &App, value: &str, slot: Option<&str>) -> Resp {
    let slot_ok =
        slot.is_none_or(|s| (1..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()));
    let Some(bound) = browser_state::parse(value).filter(|_| slot_ok) else {
        return h::json_response(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({
                "error": "invalid_request",
                "error_description":
                    "browser_state is not a session-bound browser state, or slot is not a number.",
            }),
        );
    };
    let body = match browser_state::look_up(app, &bound).await {
        Ok(Status::Live) => serde_json::json!({ "live": true }),
        Ok(Status::Ended { since_ms }) => serde_json::json!({ "live": false, "since": since_ms }),
        Err(e) => {
            tracing::error!(error = %e, "check_session status lookup failed");
            return h::json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({ "error": "temporarily_unavailable" }),
            );
        }
    };
    // The slot in the URL already confines an answer to its interval; twice the interval as
    // max-age keeps it fresh for the whole slot despite Date's whole seconds and clock skew.
    private_json(&body, 2 * app.config.check_session_interval.as_secs())
}

/// JSON safe inside a `<script>` element.
fn js(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn page(app: &App, client_id: Option<&str>, origins: &[String]) -> String {
    let cookie_name = h::cookie_name(BROWSER_STATE_COOKIE, app.config.cookie_secure);
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>check_session</title></head><body><script>
(function () {{
  "use strict";
  var CLIENT_ID = {cid};
  var ORIGINS = {origins};
  var COOKIE = {cookie};
  // How often the OP is asked about a browser state's session (ms), and how much later than
  // the end a session_state must have been issued to be the app's re-check (clock skew).
  var INTERVAL = {interval};
  var SKEW = 1000;
  // A browser state bound to a session: "<sid>.<nonce>.<mac>" (session::browser_state).
  var BOUND = /^[A-Za-z0-9_-]{{1,64}}\.[A-Za-z0-9_-]{{22}}\.[A-Za-z0-9_-]{{43}}$/;
  function browserState() {{
    var parts = document.cookie ? document.cookie.split(";") : [];
    for (var i = 0; i < parts.length; i++) {{
      var p = parts[i].trim(), eq = p.indexOf("=");
      if (eq > 0 && p.slice(0, eq) === COOKIE) return p.slice(eq + 1);
    }}
    return "";
  }}
  function b64url(buf) {{
    var b = new Uint8Array(buf), s = "";
    for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }}
  var KNOWN = {{}};
  if (CLIENT_ID) KNOWN[CLIENT_ID] = Promise.resolve(ORIGINS);
  function originsFor(cid) {{
    if (!KNOWN[cid]) {{
      KNOWN[cid] = fetch("?origins_for=" + encodeURIComponent(cid), {{ credentials: "omit" }})
        .then(function (r) {{ return r.ok ? r.json() : {{ origins: [] }}; }})
        .then(function (j) {{ return Array.isArray(j.origins) ? j.origins : []; }}, function () {{ delete KNOWN[cid]; return []; }});
    }}
    return KNOWN[cid];
  }}
  function parentOrigin() {{
    try {{
      if (location.ancestorOrigins && location.ancestorOrigins.length) return location.ancestorOrigins[0];
      if (document.referrer) return new URL(document.referrer).origin;
    }} catch (x) {{}}
    return null;
  }}
  var PARENT = parentOrigin();
  // The OP's answer about one browser state's session, asked at most once per interval:
  // {{live: true}}, {{live: false, since: <ms>}}, or null when no answer came. The interval's
  // number (offset by the browser state, so browsers do not all ask at the same second) is
  // in the URL, so the browser's cache shares the answer with the other iframes of this
  // site's pages and never serves one from an earlier interval.
  var ASKED = null;
  function sessionStatus(bs) {{
    var h = 0;
    for (var i = 0; i < bs.length; i++) h = (h * 31 + bs.charCodeAt(i)) >>> 0;
    var slot = Math.floor((Date.now() + h % INTERVAL) / INTERVAL);
    if (ASKED && ASKED.bs === bs && ASKED.slot === slot) return ASKED.answer;
    var answer = fetch("?browser_state=" + encodeURIComponent(bs) + "&slot=" + slot, {{ credentials: "omit" }})
      .then(function (r) {{ return r.ok ? r.json() : null; }})
      .then(function (j) {{ return j && typeof j.live === "boolean" ? j : null; }}, function () {{ return null; }});
    ASKED = {{ bs: bs, slot: slot, answer: answer }};
    return answer;
  }}
  // The issue time (ms) a session_state salt starts with (oauth::oidc::new_salt); 0 if none.
  function issuedAt(salt) {{
    var m = /^([0-9]{{1,15}})-/.exec(salt);
    return m ? Number(m[1]) : 0;
  }}
  function check(e, clientId, sessionState, reply) {{
    var dot = sessionState.lastIndexOf(".");
    if (dot <= 0 || dot === sessionState.length - 1) return reply("error");
    var salt = sessionState.slice(dot + 1);
    var bs = browserState();
    if (!bs) return reply("changed");
    if (!window.crypto || !window.crypto.subtle) return reply("error");
    var input = new TextEncoder().encode(clientId + " " + e.origin + " " + bs + " " + salt);
    window.crypto.subtle.digest("SHA-256", input).then(function (d) {{
      if (b64url(d) + "." + salt !== sessionState) return reply("changed");
      // Signed out, or a value from before sessions were bound: the cookie decides.
      if (!BOUND.test(bs)) return reply("unchanged");
      return sessionStatus(bs).then(function (st) {{
        if (!st || st.live) return reply("unchanged");
        // Ended: a session_state from before the end is stale; one issued after it is the
        // app's own re-check (prompt=none answered login_required) and stands.
        reply(issuedAt(salt) > st.since + SKEW ? "unchanged" : "changed");
      }});
    }}, function () {{ reply("error"); }});
  }}
  window.addEventListener("message", function (e) {{
    if (!e.source) return;
    // Session Management §3.2: only the parent frame's origin may ask.
    if (PARENT && e.origin !== PARENT) return;
    if (CLIENT_ID && ORIGINS.indexOf(e.origin) < 0) return;
    var reply = function (r) {{ e.source.postMessage(r, e.origin); }};
    var data = e.data;
    if (typeof data !== "string" || data.length > 4096) return reply("error");
    var sp = data.lastIndexOf(" ");
    if (sp <= 0) return reply("error");
    var clientId = data.slice(0, sp), sessionState = data.slice(sp + 1);
    if (CLIENT_ID && clientId !== CLIENT_ID) return reply("error");
    originsFor(clientId).then(function (origins) {{
      // Origins not registered for the client get no answer at all.
      if (origins.indexOf(e.origin) < 0) return;
      check(e, clientId, sessionState, reply);
    }});
  }}, false);
}})();
</script></body></html>"#,
        cid = js(&serde_json::json!(client_id)),
        origins = js(&serde_json::json!(origins)),
        cookie = js(&serde_json::json!(cookie_name)),
        interval = app.config.check_session_interval.as_millis(),
    )
}

fn problem(status: StatusCode, message: &str) -> Resp {
    html_response(
        status,
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>check_session</title></head><body><p>{}</p></body></html>",
            esc(message)
        ),
        true,
    )
}
