//! `authorize`: `GET|POST /oauth2/authorize`. The decision is
//! `warden_core::oauth::authorize::authorize`; this renders it: 302 redirects (query mode), the
//! form_post auto-submit page, the error page, the hop to `/login`, 204 and JSON errors.
//! Every answer carries `Cache-Control: no-store`.

use lambda_http::http::{Method, StatusCode};
use lambda_http::Request;
use warden_core::http::{self, esc, html_response, Resp};
use warden_core::oauth::authorize::{authorize, Outcome};
use warden_core::App;

pub async fn handle(app: &App, req: Request) -> Resp {
    if !matches!(*req.method(), Method::GET | Method::POST) {
        return warden_core::ApiError::method_not_allowed().into_response(&http::request_id(&req));
    }
    render(app, authorize(app, &req).await)
}

fn render(app: &App, o: Outcome) -> Resp {
    match o {
        Outcome::ErrorPage { status, message } => error_page(status, &message),
        Outcome::Respond {
            redirect_uri,
            form_post,
            params,
            cookies,
        } => {
            let mut r = if form_post {
                form_post_page(&redirect_uri, &params)
            } else {
                let pairs: Vec<(&str, &str)> =
                    params.iter().map(|(k, v)| (*k, v.as_str())).collect();
                http::redirect(&http::with_query(&redirect_uri, &pairs))
            };
            for c in &cookies {
                http::set_cookie(&mut r, c);
            }
            r
        }
        Outcome::Login { return_to, cookies } => {
            let mut r = http::redirect(&http::with_query(
                &app.config.url("/login"),
                &[("return_to", &return_to)],
            ));
            for c in &cookies {
                http::set_cookie(&mut r, c);
            }
            r
        }
        Outcome::NoContent => http::empty(StatusCode::NO_CONTENT),
        Outcome::JsonError(e) => e.into_response(),
    }
}

fn error_page(status: StatusCode, message: &str) -> Resp {
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign-in request rejected — Warden</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}</style>
</head>
<body>
<main>
<h1>This sign-in request cannot be completed</h1>
<p role="alert">{}</p>
<p>Go back to the application and try again. If the problem persists, contact its administrator.</p>
</main>
</body>
</html>
"#,
        esc(message)
    );
    html_response(status, html, false)
}

/// OAuth 2.0 Form Post Response Mode: an auto-submitting form (with a button for browsers
/// without JavaScript).
fn form_post_page(action: &str, params: &[(&'static str, String)]) -> Resp {
    let inputs: String = params
        .iter()
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                esc(k),
                esc(v)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Continuing — Warden</title></head>
<body>
<form method="post" action="{}">
{inputs}
<noscript><p>JavaScript is off. Press the button to continue.</p><button type="submit">Continue</button></noscript>
</form>
<script>document.forms[0].submit()</script>
</body>
</html>
"#,
        esc(action)
    );
    html_response(StatusCode::OK, html, false)
}
