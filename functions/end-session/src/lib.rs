//! `end-session`: RP-Initiated Logout 1.0 (`GET|POST /oidc/logout`, alias
//! `/oauth2/connect/endSession`), with the confirmation form, Front-Channel Logout iframes
//! and back-channel deliveries queued (by `session::terminate`) before the response.
//!
//! Parse → `warden_core::logout::rp::decide` (validation, the confirm/decline/CSRF rules and
//! the termination) → render.
//! Every validation error is an HTML error page (400) and never a redirect.

use lambda_http::http::{Method, StatusCode};
use lambda_http::Request;
use warden_core::http::{self as h, esc, html_response, redirect, set_cookie, Resp};
use warden_core::logout::rp::{
    self, EndSessionRequest, LogoutError, Outcome, Validated, CONFIRM_FIELD, RESUBMIT_FIELD,
};
use warden_core::session;
use warden_core::{http::csrf, App, StoreError};

pub async fn handle(app: &App, req: Request) -> Resp {
    let params = match h::params(&req) {
        Ok(p) => p,
        Err(h::ParamsError::Duplicate(k)) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &format!("The parameter {k} was sent more than once."),
            )
        }
        Err(h::ParamsError::Malformed) => {
            return error_page(StatusCode::BAD_REQUEST, "The request could not be read.")
        }
    };
    let is_post = req.method() == Method::POST;
    let action = req.uri().path();
    match rp::decide(app, &params, is_post, req.headers()).await {
        Ok(Outcome::Resubmit(er)) => resubmit_page(action, &er),
        Ok(Outcome::Confirm(er, v)) => confirmation_page(app, action, &er, &v).await,
        Ok(Outcome::Stay(v)) => {
            let mut resp = still_signed_in(&v);
            set_cookie(&mut resp, &csrf::LOGOUT.clear(app));
            resp
        }
        Ok(Outcome::FormExpired) => error_page(
            StatusCode::BAD_REQUEST,
            "The sign-out form expired or was not sent from this site. Start again from the application.",
        ),
        Ok(Outcome::SignedOut {
            v,
            iframes,
            clear_cookies,
            ended,
        }) => {
            let mut resp = finish(&v, &iframes);
            if clear_cookies {
                for c in session::logout_cookies(app) {
                    set_cookie(&mut resp, &c);
                }
            }
            if ended {
                set_cookie(&mut resp, &csrf::LOGOUT.clear(app));
            }
            resp
        }
        Err(LogoutError::Store(e)) => store_failure(e),
        Err(e) => {
            tracing::info!(reason = %e, "end_session request refused");
            error_page(StatusCode::BAD_REQUEST, &e.to_string())
        }
    }
}

/// After a logout (or with nothing to end): front-channel page, redirect, or signed-out page.
fn finish(v: &Validated, iframes: &[String]) -> Resp {
    if iframes.is_empty() {
        return match &v.redirect {
            Some(u) => redirect(u),
            None => html_response(
                StatusCode::OK,
                rp::page("Signed out", "<p>You are signed out.</p>"),
                false,
            ),
        };
    }
    let next = v.redirect.as_deref();
    let frames: String = iframes
        .iter()
        .map(|u| format!("<iframe src=\"{}\" title=\"logout\"></iframe>", esc(u)))
        .collect();
    let next_json = json_for_script(&serde_json::json!(next));
    let link = next
        .map(|u| format!("<p><a id=\"continue\" href=\"{}\">Continue</a></p>", esc(u)))
        .unwrap_or_default();
    // The script follows the frames and listens for their loads (no inline handlers: the
    // page's CSP admits this script by its hash only).
    let body = format!(
        "<p>You are signed out.</p>{link}{frames}\
         <script>var wardenNext={next_json},wardenLeft={n},wardenDone=false;\
         function wardenGo(){{if(wardenDone)return;wardenDone=true;if(wardenNext)location.replace(wardenNext);}}\
         function wardenFrameDone(){{wardenLeft-=1;if(wardenLeft<=0)wardenGo();}}\
         document.querySelectorAll('iframe').forEach(function(f){{f.addEventListener('load',wardenFrameDone);f.addEventListener('error',wardenFrameDone);}});\
         setTimeout(wardenGo,5000);</script>",
        n = iframes.len()
    );
    html_response(StatusCode::OK, rp::page("Signed out", &body), false)
}

async fn confirmation_page(app: &App, action: &str, er: &EndSessionRequest, v: &Validated) -> Resp {
    let (cookie, token) = match csrf::LOGOUT.issue(app).await {
        Ok(pair) => pair,
        Err(e) => return store_failure(e),
    };
    let app_name = v
        .client
        .as_ref()
        .map(|c| format!(" requested by <strong>{}</strong>", esc(&c.name)))
        .unwrap_or_default();
    let mut fields = er.pairs();
    fields.push((csrf::LOGOUT.field, &token));
    let body = format!(
        "<p>Do you want to sign out{app_name}? You will be signed out of every application \
         that uses this sign-in.</p>\
         <form method=\"post\" action=\"{action}\">{hidden}\
         <button type=\"submit\" name=\"{cf}\" value=\"yes\">Sign out</button>\
         <button type=\"submit\" name=\"{cf}\" value=\"no\">Stay signed in</button></form>",
        action = esc(action),
        hidden = rp::hidden_fields(&fields),
        cf = CONFIRM_FIELD,
    );
    let mut resp = html_response(StatusCode::OK, rp::page("Sign out?", &body), false);
    set_cookie(&mut resp, &cookie);
    resp
}

fn still_signed_in(v: &Validated) -> Resp {
    let link = v
        .redirect
        .as_deref()
        .map(|u| {
            format!(
                "<p><a href=\"{}\">Return to the application</a></p>",
                esc(u)
            )
        })
        .unwrap_or_default();
    html_response(
        StatusCode::OK,
        rp::page(
            "Still signed in",
            &format!("<p>You are still signed in.</p>{link}"),
        ),
        false,
    )
}

fn resubmit_page(action: &str, er: &EndSessionRequest) -> Resp {
    let mut fields = er.pairs();
    fields.push((RESUBMIT_FIELD, "1"));
    let body = format!(
        "<form method=\"post\" action=\"{}\">{}<noscript><button type=\"submit\">Continue</button></noscript></form>\
         <script>document.forms[0].submit();</script>",
        esc(action),
        rp::hidden_fields(&fields)
    );
    html_response(StatusCode::OK, rp::page("Signing out…", &body), false)
}

fn error_page(status: StatusCode, message: &str) -> Resp {
    html_response(
        status,
        rp::page(
            "Sign-out request rejected",
            &format!("<p>{}</p>", esc(message)),
        ),
        false,
    )
}

fn store_failure(e: StoreError) -> Resp {
    tracing::error!(error = %e, "end_session store failure");
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Signing out is temporarily unavailable. Try again in a moment.",
    )
}

/// JSON safe inside a `<script>` element.
fn json_for_script(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}
