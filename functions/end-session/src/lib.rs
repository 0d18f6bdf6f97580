//! `end-session`: RP-Initiated Logout 1.0 (`GET|POST /oidc/logout`, alias
//! `/oauth2/connect/endSession`), with the confirmation form, Front-Channel Logout iframes
//! and back-channel deliveries queued (by `session::terminate`) before the response.
//!
//! Parse → `warden_core::logout::rp::decide` (validation, the confirm/decline/CSRF rules and
//! the termination) → render.
//! Every validation error is an HTML error page (400) and never a redirect. After a logout
//! the core has waited up to `WARDEN_LOGOUT_WAIT_MS` for the apps' back-channel receipts;
//! when one is missing the page lists each app instead of redirecting at once.

use lambda_http::http::{Method, StatusCode};
use lambda_http::Request;
use warden_core::http::{self as h, esc, html_response, redirect, set_cookie, Resp};
use warden_core::logout::rp::{
    self, AppReceipt, EndSessionRequest, Finish, LogoutError, Outcome, ReceiptState, Validated,
    CONFIRM_FIELD, RESUBMIT_FIELD,
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
            receipts,
        }) => {
            let mut resp = finish(&v, &iframes, &receipts);
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

/// After a logout (or with nothing to end): redirect, signed-out page, front-channel page,
/// or — when an app was not told within the wait — the page listing each app's receipt
/// ([`rp::finish`] decides).
fn finish(v: &Validated, iframes: &[String], receipts: &[AppReceipt]) -> Resp {
    let next = v.redirect.as_deref();
    match rp::finish(receipts, !iframes.is_empty()) {
        Finish::Direct => match next {
            Some(u) => redirect(u),
            None => html_response(
                StatusCode::OK,
                rp::page("Signed out", "<p>You are signed out.</p>"),
                false,
            ),
        },
        Finish::FrontChannel => {
            let link = next
                .map(|u| format!("<p><a id=\"continue\" href=\"{}\">Continue</a></p>", esc(u)))
                .unwrap_or_default();
            let body = format!(
                "<p>You are signed out.</p>{link}{}",
                frames_and_script(iframes, next, true)
            );
            html_response(StatusCode::OK, rp::page("Signed out", &body), false)
        }
        Finish::Receipts => receipts_page(next, iframes, receipts),
    }
}

/// The signed-out page that lists each app and whether it was told. It never continues by
/// itself: the person reads it and follows Continue (to the `post_logout_redirect_uri` with
/// `state`). What is still pending stays in the outbox; the dispatcher finishes it.
fn receipts_page(next: Option<&str>, iframes: &[String], receipts: &[AppReceipt]) -> Resp {
    let items: String = receipts
        .iter()
        .map(|r| {
            let text = match r.state {
                ReceiptState::SignedOut => "Signed out \u{2713}",
                ReceiptState::Trying => "Still trying",
                ReceiptState::Failed => "Failed",
            };
            format!(
                "<li data-client-id=\"{cid}\" data-state=\"{st}\"><span class=\"app-name\">{name}</span> \
                 <span class=\"state state-{st}\">{text}</span></li>",
                cid = esc(&r.client_id),
                st = r.state.as_str(),
                name = esc(&r.name),
            )
        })
        .collect();
    let link = match next {
        Some(u) => format!(
            "<p class=\"actions\"><a id=\"continue\" class=\"button primary\" href=\"{}\">Continue</a></p>",
            esc(u)
        ),
        None => String::new(),
    };
    let body = format!(
        "<p>You are signed out of Warden. Not every application has confirmed yet:</p>\
         <ul class=\"receipts\" id=\"receipts\">{items}</ul>\
         <p class=\"hint\">Applications still being tried will be told as soon as they answer; \
         until then they may still show you as signed in.</p>{link}{}",
        frames_and_script(iframes, next, false)
    );
    html_response(StatusCode::OK, rp::page("Signed out", &body), false)
}

/// The front-channel iframes and, when `go`, the script that continues once they loaded
/// (or after 5 s). No inline handlers: the page's CSP admits the script by its hash only.
fn frames_and_script(iframes: &[String], next: Option<&str>, go: bool) -> String {
    let frames: String = iframes
        .iter()
        .map(|u| {
            format!(
                "<iframe src=\"{}\" class=\"frontchannel\" title=\"logout\"></iframe>",
                esc(u)
            )
        })
        .collect();
    if !go || iframes.is_empty() {
        return frames;
    }
    let next_json = json_for_script(&serde_json::json!(next));
    format!(
        "{frames}<script>var wardenNext={next_json},wardenLeft={n},wardenDone=false;\
         function wardenGo(){{if(wardenDone)return;wardenDone=true;if(wardenNext)location.replace(wardenNext);}}\
         function wardenFrameDone(){{wardenLeft-=1;if(wardenLeft<=0)wardenGo();}}\
         document.querySelectorAll('iframe').forEach(function(f){{f.addEventListener('load',wardenFrameDone);f.addEventListener('error',wardenFrameDone);}});\
         setTimeout(wardenGo,5000);</script>",
        n = iframes.len()
    )
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
         <form method=\"post\" action=\"{action}\">{hidden}<p class=\"actions\">\
         <button type=\"submit\" class=\"primary\" name=\"{cf}\" value=\"yes\">Sign out</button>\
         <button type=\"submit\" name=\"{cf}\" value=\"no\">Stay signed in</button></p></form>",
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
