//! `check-session`: the OP iframe of OpenID Connect Session Management 1.0 §3.2
//! (`GET /oidc/checksession?client_id=<id>`, alias `/oauth2/connect/checkSession`).
//!
//! The RP may load the iframe as published in discovery (no query) or with its
//! `client_id` in the query. With `client_id` the page embeds that client's registered
//! redirect-URI origins; without it, the page learns the origins of the client named in the
//! first message from `GET /oidc/checksession?origins_for=<client_id>` (same origin, JSON,
//! cached by the page). Either way it only answers the frame's parent origin, and only
//! when that origin is registered for the client, with `postMessage("<client_id> <session_state>")` from those origins with
//! `unchanged`, `changed` or `error`, recomputing the session_state from the `warden_bs`
//! cookie exactly as `warden_core::oauth::oidc::session_state` does:
//! `base64url(SHA-256(client_id + " " + origin + " " + browser_state + " " + salt)) + "." + salt`.
//! Messages from any other origin get no answer. The page is frameable (no X-Frame-Options).

use lambda_http::http::StatusCode;
use lambda_http::Request;
use warden_core::http::{self as h, esc, html_response, Resp};
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
    let mut r = h::json_response(StatusCode::OK, &serde_json::json!({ "origins": origins }));
    if let Ok(v) = lambda_http::http::HeaderValue::from_str("private, max-age=60") {
        r.headers_mut()
            .insert(lambda_http::http::header::CACHE_CONTROL, v);
    }
    r
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
  function check(e, clientId, sessionState, reply) {{
    var dot = sessionState.lastIndexOf(".");
    if (dot <= 0 || dot === sessionState.length - 1) return reply("error");
    var salt = sessionState.slice(dot + 1);
    var bs = browserState();
    if (!bs) return reply("changed");
    if (!window.crypto || !window.crypto.subtle) return reply("error");
    var input = new TextEncoder().encode(clientId + " " + e.origin + " " + bs + " " + salt);
    window.crypto.subtle.digest("SHA-256", input).then(function (d) {{
      reply(b64url(d) + "." + salt === sessionState ? "unchanged" : "changed");
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
