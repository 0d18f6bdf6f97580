//! `check-session`: the OP iframe of OpenID Connect Session Management 1.0 §3.2
//! (`GET /oidc/checksession?client_id=<id>`, alias `/oauth2/connect/checkSession`).
//!
//! The RP loads the iframe with its `client_id` in the query. The page embeds only that
//! client's registered redirect-URI origins (never other clients' origins, nothing secret)
//! and answers `postMessage("<client_id> <session_state>")` from those origins with
//! `unchanged`, `changed` or `error`, recomputing the session_state from the `warden_bs`
//! cookie exactly as `warden_core::oidc::session_state` does:
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
    let Some(client_id) = params.get("client_id") else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Load this iframe with ?client_id=<your client_id>.",
        );
    };
    let client = match app.client(client_id).await {
        Ok(Some(c)) if !c.disabled => c,
        Ok(_) => return problem(StatusCode::BAD_REQUEST, "Unknown client_id."),
        Err(e) => {
            tracing::error!(error = %e, "check_session client lookup failed");
            return problem(StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable.");
        }
    };
    let mut origins: Vec<String> = client
        .redirect_uris
        .iter()
        .filter_map(|u| h::origin_of(u))
        .collect();
    origins.sort();
    origins.dedup();
    html_response(StatusCode::OK, page(&client.client_id, &origins), true)
}

/// JSON safe inside a `<script>` element.
fn js(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn page(client_id: &str, origins: &[String]) -> String {
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
  window.addEventListener("message", function (e) {{
    if (ORIGINS.indexOf(e.origin) < 0 || !e.source) return;
    var reply = function (r) {{ e.source.postMessage(r, e.origin); }};
    var data = e.data;
    if (typeof data !== "string" || data.length > 4096) return reply("error");
    var sp = data.lastIndexOf(" ");
    if (sp <= 0) return reply("error");
    var clientId = data.slice(0, sp), sessionState = data.slice(sp + 1);
    var dot = sessionState.lastIndexOf(".");
    if (clientId !== CLIENT_ID || dot <= 0 || dot === sessionState.length - 1) return reply("error");
    var salt = sessionState.slice(dot + 1);
    var bs = browserState();
    if (!bs) return reply("changed");
    if (!window.crypto || !window.crypto.subtle) return reply("error");
    var input = new TextEncoder().encode(clientId + " " + e.origin + " " + bs + " " + salt);
    window.crypto.subtle.digest("SHA-256", input).then(function (d) {{
      reply(b64url(d) + "." + salt === sessionState ? "unchanged" : "changed");
    }}, function () {{ reply("error"); }});
  }}, false);
}})();
</script></body></html>"#,
        cid = js(&serde_json::json!(client_id)),
        origins = js(&serde_json::json!(origins)),
        cookie = js(&serde_json::json!(BROWSER_STATE_COOKIE)),
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
