//! RP-Initiated Logout 1.0 (end_session) and Front-Channel Logout 1.0 rules.
//!
//! The handler in `functions/end-session` parses the request, calls [`decide`] and renders
//! its [`Outcome`]. `decide` runs [`validate`], decides with [`needs_confirmation`] whether
//! the user must confirm (a CSRF-protected form, [`crate::http::csrf::LOGOUT`]), ends the
//! session through [`crate::session::terminate()`] and lists the front-channel iframes from
//! [`frontchannel_iframes`].
//!
//! Rules (checklist items 11–18):
//! * `id_token_hint` must be an RS256 JWT signed by one of our published keys with our
//!   issuer; an expired hint is accepted; `alg: none`, a foreign signature or a modified
//!   token is an error (no redirect).
//! * `client_id`, when sent with a hint, must be one of the hint's audiences.
//! * `post_logout_redirect_uri` must equal (byte for byte) one of the client's registered
//!   `post_logout_redirect_uris`; it needs a valid hint or `client_id`. `state` is returned
//!   unchanged.
//! * `ui_locales` and `logout_hint` are accepted; unknown locales are not an error.
//!
//! **The bounded wait** (issue 20). RPIL §3 redirects to the `post_logout_redirect_uri`
//! "after a logout has been performed"; back-channel delivery is asynchronous (outbox →
//! queue → dispatcher), so a redirect at once can land on an app that has not heard yet, and
//! a logout that waits for every app blocks on a slow one. After the session ended, [`decide`] polls the new deliveries' receipts
//! ([`wait_for_receipts`]) for at most `WARDEN_LOGOUT_WAIT_MS` (default 2 s, `0` = no wait);
//! [`finish`] then decides, from the receipts alone, between today's redirect and a page
//! listing each app (signed out, still trying, failed) with a Continue link. The wait only
//! reads: whatever is still pending stays in the outbox and the dispatcher finishes it.

use crate::app::App;
use crate::http::{esc, with_query, Params};
use crate::store::schema::{ClientItem, DeliveryStatus, EndReason, SessionItem};
use crate::store::StoreError;
use serde_json::Value;
use std::sync::Arc;

/// Form field set by the confirmation form's buttons: `yes` (sign out) or `no` (stay).
pub const CONFIRM_FIELD: &str = "logout_confirm";
/// Form field set when Warden re-submits a cross-site POST from its own origin, so that
/// the SameSite=Lax session cookie is sent (a cross-site POST does not carry it).
pub const RESUBMIT_FIELD: &str = "logout_resubmit";

/// The end_session request parameters (RPIL §2).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndSessionRequest {
    /// An ID token Warden issued, naming the user, session and client to sign out (RECOMMENDED,
    /// RPIL §2).
    pub id_token_hint: Option<String>,
    /// A hint about the user to sign out; accepted and kept for the confirmation form, not
    /// otherwise used.
    pub logout_hint: Option<String>,
    /// The requesting client; must match the hint's audience when both are sent.
    pub client_id: Option<String>,
    /// Where to send the browser afterwards; must be registered for the client (exact match).
    pub post_logout_redirect_uri: Option<String>,
    /// Opaque value returned to the client on that redirect.
    pub state: Option<String>,
    /// Preferred languages for the pages; accepted, not used (Warden's pages are English only).
    pub ui_locales: Option<String>,
}

impl EndSessionRequest {
    /// The request's parameters (query or form); unknown ones are ignored.
    pub fn from_params(p: &Params) -> Self {
        let g = |k: &str| p.get(k).map(str::to_string);
        EndSessionRequest {
            id_token_hint: g("id_token_hint"),
            logout_hint: g("logout_hint"),
            client_id: g("client_id"),
            post_logout_redirect_uri: g("post_logout_redirect_uri"),
            state: g("state"),
            ui_locales: g("ui_locales"),
        }
    }

    /// The parameters as `(name, value)` pairs, for hidden form fields.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("id_token_hint", &self.id_token_hint),
            ("logout_hint", &self.logout_hint),
            ("client_id", &self.client_id),
            ("post_logout_redirect_uri", &self.post_logout_redirect_uri),
            ("state", &self.state),
            ("ui_locales", &self.ui_locales),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }
}

/// What a verified `id_token_hint` says.
#[derive(Debug, Clone, PartialEq)]
pub struct Hint {
    /// The user the hint was issued for.
    pub sub: String,
    /// The session it was issued in, if it names one.
    pub sid: Option<String>,
    /// Its audience: the client(s) it was issued to.
    pub aud: Vec<String>,
}

/// Why an end_session request is refused. Every variant means: error page, no redirect.
#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    /// The hint is not an ID token of this issuer (signature, key or issuer); the text says why.
    #[error("The id_token_hint is not a valid ID token issued by this server ({0}).")]
    InvalidHint(String),
    /// `client_id` is not in the hint's audience.
    #[error("The client_id does not match the audience of the id_token_hint.")]
    ClientMismatch,
    /// `client_id` (or the hint's audience) names no registered client, or a disabled one.
    #[error("The client_id does not name a registered application.")]
    UnknownClient,
    /// A `post_logout_redirect_uri` without anything naming the client it must be registered for.
    #[error("A post_logout_redirect_uri needs an id_token_hint or a client_id.")]
    RedirectWithoutClient,
    /// The `post_logout_redirect_uri` is not one the client registered.
    #[error("The post_logout_redirect_uri is not registered for this application.")]
    UnregisteredRedirect,
    /// The store failed (the handler renders a 503 page).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A request that passed validation.
#[derive(Debug, Clone, Default)]
pub struct Validated {
    /// The application named by `client_id` or the hint's audience.
    pub client: Option<Arc<ClientItem>>,
    /// The verified `id_token_hint`, if one was sent.
    pub hint: Option<Hint>,
    /// Where to send the browser afterwards: the registered URI with `state` appended.
    pub redirect: Option<String>,
}

/// Verify an `id_token_hint`: our signature (RS256, published key), our issuer; expiry is
/// not checked (RPIL §2: an expired hint is fine). Logout tokens are not ID tokens.
pub fn verify_hint(
    app_keys: &crate::keys::signing::KeySet,
    issuer: &str,
    hint: &str,
) -> Result<Hint, LogoutError> {
    let claims = app_keys
        .verify(hint, issuer, false)
        .map_err(|e| LogoutError::InvalidHint(e.to_string()))?;
    if claims.get("events").is_some() {
        return Err(LogoutError::InvalidHint(
            "a logout token is not an ID token".into(),
        ));
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| LogoutError::InvalidHint("no sub".into()))?
        .to_string();
    let aud: Vec<String> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if aud.is_empty() {
        return Err(LogoutError::InvalidHint("no aud".into()));
    }
    let sid = claims
        .get("sid")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(Hint { sub, sid, aud })
}

/// True if `uri` is exactly one of the client's registered post-logout redirect URIs (no
/// normalisation: an added query string, a trailing slash or a different case is not a
/// match).
pub fn redirect_registered(client: &ClientItem, uri: &str) -> bool {
    client.post_logout_redirect_uris.iter().any(|u| u == uri)
}

/// Validate an end_session request (checklist items 12–14). Round trips: 0–2 (cached
/// signing keys and client).
pub async fn validate(app: &App, req: &EndSessionRequest) -> Result<Validated, LogoutError> {
    let hint = match &req.id_token_hint {
        Some(h) => Some(verify_hint(&*app.keys().await?, &app.config.issuer, h)?),
        None => None,
    };
    let client_id: Option<String> = match (&req.client_id, &hint) {
        (Some(c), Some(h)) => {
            if !h.aud.iter().any(|a| a == c) {
                return Err(LogoutError::ClientMismatch);
            }
            Some(c.clone())
        }
        (Some(c), None) => Some(c.clone()),
        // A hint for exactly one audience names the client; several need client_id.
        (None, Some(h)) if h.aud.len() == 1 => Some(h.aud[0].clone()),
        _ => None,
    };
    let client = match &client_id {
        Some(id) => match app.client(id).await? {
            Some(c) if !c.disabled => Some(c),
            _ => return Err(LogoutError::UnknownClient),
        },
        None => None,
    };
    let redirect = match (&req.post_logout_redirect_uri, &client) {
        (None, _) => None,
        (Some(_), None) => return Err(LogoutError::RedirectWithoutClient),
        (Some(u), Some(c)) => {
            if !redirect_registered(c, u) {
                return Err(LogoutError::UnregisteredRedirect);
            }
            Some(match &req.state {
                Some(st) => with_query(u, &[("state", st)]),
                None => u.clone(),
            })
        }
    };
    Ok(Validated {
        client,
        hint,
        redirect,
    })
}

/// The user must confirm unless a valid hint names this very session (its `sid`, or with a
/// hint without `sid`, its user). RPIL §2 and §4: without a hint, or with a hint for
/// another session or user, ask.
pub fn needs_confirmation(hint: Option<&Hint>, session: &SessionItem) -> bool {
    match hint {
        None => true,
        Some(h) => {
            h.sub != session.user_id || h.sid.as_deref().is_some_and(|sid| sid != session.sid)
        }
    }
}

/// The front-channel logout URL of one client for a session (Front-Channel Logout §2):
/// `iss` and `sid` are added together when the client requires them, never one alone.
pub fn frontchannel_url(issuer: &str, client: &ClientItem, sid: &str) -> Option<String> {
    let uri = client.frontchannel_logout_uri.as_deref()?;
    Some(if client.frontchannel_logout_session_required {
        with_query(uri, &[("iss", issuer), ("sid", sid)])
    } else {
        uri.to_string()
    })
}

/// One iframe URL per app in the session that registered a `frontchannel_logout_uri`.
/// Round trips: 1 GetItem per app not in the client cache.
pub async fn frontchannel_iframes(
    app: &App,
    session: &SessionItem,
) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for cid in session.apps.keys() {
        if let Some(c) = app.client(cid).await? {
            if let Some(u) = frontchannel_url(&app.config.issuer, &c, &session.sid) {
                out.push(u);
            }
        }
    }
    Ok(out)
}

/// What end_session must render, once [`decide`] has run.
#[derive(Debug)]
pub enum Outcome {
    /// A cross-site POST arrived without the SameSite=Lax session cookie: re-submit the same
    /// form once from Warden's own origin, so a signed-in user is really signed out.
    Resubmit(EndSessionRequest),
    /// Ask the user (the CSRF-guarded confirmation form, [`crate::http::csrf::LOGOUT`]).
    Confirm(EndSessionRequest, Validated),
    /// The user declined: still signed in.
    Stay(Validated),
    /// The confirmation answer's CSRF pair or origin did not pass: nothing ends.
    FormExpired,
    /// Signed out — now (`ended`), or there was no live session — then front-channel iframes
    /// and the redirect. `clear_cookies`: the browser's session cookie is to be dropped (it
    /// named this session, or a stale one).
    SignedOut {
        /// The validated request (its client and redirect).
        v: Validated,
        /// Front-channel logout URLs to load in hidden iframes ([`frontchannel_iframes`]).
        iframes: Vec<String>,
        /// Drop the browser's session cookie.
        clear_cookies: bool,
        /// A live session was ended by this request (not only found already gone).
        ended: bool,
        /// The back-channel receipts of the session's apps at the end of the wait (empty
        /// without a wait or without back-channel apps); [`finish`] decides from them.
        receipts: Vec<AppReceipt>,
    },
}

/// What one app's back-channel receipt says, as the logout page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptState {
    /// `delivered`: the app answered 200/204.
    SignedOut,
    /// `pending` (or not readable yet): the dispatcher is still trying.
    Trying,
    /// `rejected` or `dead`: the app refused, or the retries ran out (an operator can replay).
    Failed,
}

impl ReceiptState {
    /// The state a delivery status shows as.
    pub fn of(status: DeliveryStatus) -> Self {
        match status {
            DeliveryStatus::Delivered => ReceiptState::SignedOut,
            DeliveryStatus::Pending => ReceiptState::Trying,
            DeliveryStatus::Rejected | DeliveryStatus::Dead => ReceiptState::Failed,
        }
    }

    /// Final: no further attempt will change it without a replay.
    pub fn is_final(self) -> bool {
        self != ReceiptState::Trying
    }

    /// A stable name for markup and tests (`signed-out`, `trying`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptState::SignedOut => "signed-out",
            ReceiptState::Trying => "trying",
            ReceiptState::Failed => "failed",
        }
    }
}

/// One app of the ended session and its receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppReceipt {
    /// The client id.
    pub client_id: String,
    /// Its display name when it joined the session (user-controlled: render escaped).
    pub name: String,
    /// What its delivery says.
    pub state: ReceiptState,
}

/// How end_session finishes after a logout (or with nothing to end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Every app that needed telling was told (or none did) and there is no front-channel
    /// iframe: redirect at once to the `post_logout_redirect_uri`, or without one show the
    /// plain signed-out page.
    Direct,
    /// Every app was told; front-channel iframes still have to load (today's page, which
    /// continues by itself).
    FrontChannel,
    /// Some app is still being tried or failed: the page listing each app, with a Continue
    /// link (and the front-channel iframes, if any).
    Receipts,
}

/// Decide how to finish from the receipts at the end of the wait and whether iframes must
/// load. Pure.
pub fn finish(receipts: &[AppReceipt], has_iframes: bool) -> Finish {
    if receipts.iter().any(|r| r.state != ReceiptState::SignedOut) {
        Finish::Receipts
    } else if has_iframes {
        Finish::FrontChannel
    } else {
        Finish::Direct
    }
}

/// The poll intervals of the wait: short first (a fast app answers within tens of
/// milliseconds), then every 100 ms.
pub fn poll_delay(poll: u32) -> std::time::Duration {
    std::time::Duration::from_millis(match poll {
        0 => 20,
        1 => 40,
        2 => 60,
        _ => 100,
    })
}

/// The session's back-channel apps, in client-id order, with no receipt yet (`Trying`).
pub fn backchannel_apps(s: &SessionItem) -> Vec<AppReceipt> {
    s.apps
        .iter()
        .filter(|(_, a)| a.backchannel)
        .map(|(cid, a)| AppReceipt {
            client_id: cid.clone(),
            name: a.name.clone(),
            state: ReceiptState::Trying,
        })
        .collect()
}

/// Poll the receipts of `apps` (deliveries of session `sid`) until every one is final or
/// `wait` has passed. Reads only. Round trips: 1 BatchGetItem (strongly consistent, one read
/// unit per delivery) per poll, at most about `wait` / 100 ms + 3 polls (a 2 s wait: ≤ 22).
/// A store error ends the wait with what is known (the page then says "still trying").
pub async fn wait_for_receipts(
    app: &App,
    sid: &str,
    mut apps: Vec<AppReceipt>,
    wait: std::time::Duration,
) -> Vec<AppReceipt> {
    if apps.is_empty() {
        return apps;
    }
    let deadline = tokio::time::Instant::now() + wait;
    let mut poll = 0;
    loop {
        let pause = poll_delay(poll).min(deadline - tokio::time::Instant::now());
        tokio::time::sleep(pause).await;
        poll += 1;
        let which: Vec<(&str, &str)> = apps.iter().map(|a| (sid, a.client_id.as_str())).collect();
        match app.store.get_deliveries(&which).await {
            Ok(found) => {
                for (a, d) in apps.iter_mut().zip(found) {
                    if let Some(d) = d {
                        a.state = ReceiptState::of(d.status);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "logout receipts could not be read; not waiting");
                return apps;
            }
        }
        if apps.iter().all(|a| a.state.is_final()) || tokio::time::Instant::now() >= deadline {
            return apps;
        }
    }
}

/// Decide an end_session request (RPIL §2–§4): validate it, find the browser's session, and
/// end it when the user need not confirm, or confirmed through the form. Round trips: those
/// of [`validate`], 1 GetItem for the session cookie, and on a logout those of
/// [`frontchannel_iframes`], [`crate::session::terminate()`] and [`wait_for_receipts`].
pub async fn decide(
    app: &App,
    params: &Params,
    is_post: bool,
    headers: &http::HeaderMap,
) -> Result<Outcome, LogoutError> {
    let er = EndSessionRequest::from_params(params);
    let v = validate(app, &er).await?;
    let has_cookie = crate::http::host_cookie(
        headers,
        crate::session::SESSION_COOKIE,
        app.config.cookie_secure,
    )
    .is_some();
    let confirm = if is_post {
        params.get(CONFIRM_FIELD)
    } else {
        None
    };
    let Some(s) = crate::session::from_cookie(app, headers).await? else {
        if is_post && !has_cookie && confirm.is_none() && params.get(RESUBMIT_FIELD).is_none() {
            return Ok(Outcome::Resubmit(er));
        }
        return Ok(Outcome::SignedOut {
            v,
            iframes: Vec::new(),
            clear_cookies: has_cookie,
            ended: false,
            receipts: Vec::new(),
        });
    };
    match confirm {
        Some(answer) => {
            let guard = crate::http::csrf::LOGOUT;
            if !crate::http::csrf::same_origin_or_none(app, headers)
                || !guard.check(app, headers, params.get(guard.field)).await
            {
                return Ok(Outcome::FormExpired);
            }
            if answer != "yes" {
                return Ok(Outcome::Stay(v));
            }
        }
        None if needs_confirmation(v.hint.as_ref(), &s) => return Ok(Outcome::Confirm(er, v)),
        None => {}
    }
    // The apps' front-channel URIs are read before the session ends (its app list).
    let iframes = match frontchannel_iframes(app, &s).await {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "front-channel clients could not be read");
            Vec::new()
        }
    };
    // The user signs out through the app: the actor is the user, acting through that app.
    let by = crate::store::schema::EndedBy::person(
        crate::store::schema::ActorKind::User,
        &s.user_id,
        v.client.as_ref().map(|c| c.client_id.as_str()),
    );
    let ended =
        crate::session::terminate::terminate_by(app, &s.sid, None, EndReason::RpLogout, Some(&by))
            .await?;
    // Wait only for what this request queued (a session another request ended meanwhile
    // has its own logout page).
    let receipts = match ended {
        crate::session::Terminated::Ended { deliveries } => {
            if deliveries > 0 && !app.config.logout_wait.is_zero() {
                wait_for_receipts(app, &s.sid, backchannel_apps(&s), app.config.logout_wait).await
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    };
    Ok(Outcome::SignedOut {
        v,
        iframes,
        clear_cookies: true,
        ended: true,
        receipts,
    })
}

/// A page frame shared by the end_session pages, with the hosted pages' one stylesheet
/// ([`crate::http::STYLE`]).
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{style}</style></head><body class=\"narrow\"><main>\
         <h1>{t}</h1>{body}</main></body></html>",
        t = esc(title),
        style = crate::http::STYLE,
    )
}

/// Hidden inputs for `(name, value)` pairs.
pub fn hidden_fields(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                esc(k),
                esc(v)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ClientItem {
        let spec = crate::admin::ClientSpec {
            client_id: Some("rp".into()),
            name: "RP".into(),
            redirect_uris: vec!["https://rp.example/cb".into()],
            web_origins: vec![],
            post_logout_redirect_uris: vec!["https://rp.example/bye".into()],
            frontchannel_logout_uri: Some("https://rp.example/fc?x=1".into()),
            frontchannel_logout_session_required: true,
            ..Default::default()
        };
        crate::admin::build_client(&spec, None).unwrap().0
    }

    #[test]
    fn exact_redirect_match() {
        let c = client();
        assert!(redirect_registered(&c, "https://rp.example/bye"));
        assert!(!redirect_registered(&c, "https://rp.example/bye?x=1"));
        assert!(!redirect_registered(&c, "https://rp.example/bye/"));
        assert!(!redirect_registered(&c, "https://RP.example/bye"));
        assert!(!redirect_registered(&c, "https://rp.example.evil/bye"));
    }

    #[test]
    fn frontchannel_params_together() {
        let mut c = client();
        assert_eq!(
            frontchannel_url("https://op", &c, "s1").unwrap(),
            "https://rp.example/fc?x=1&iss=https%3A%2F%2Fop&sid=s1"
        );
        c.frontchannel_logout_session_required = false;
        assert_eq!(
            frontchannel_url("https://op", &c, "s1").unwrap(),
            "https://rp.example/fc?x=1"
        );
    }

    fn r(state: ReceiptState) -> AppReceipt {
        AppReceipt {
            client_id: "c".into(),
            name: "C".into(),
            state,
        }
    }

    #[test]
    fn the_end_of_the_wait_is_decided_by_the_receipts() {
        use ReceiptState::*;
        assert_eq!(finish(&[], false), Finish::Direct);
        assert_eq!(finish(&[], true), Finish::FrontChannel);
        assert_eq!(finish(&[r(SignedOut), r(SignedOut)], false), Finish::Direct);
        assert_eq!(finish(&[r(SignedOut)], true), Finish::FrontChannel);
        assert_eq!(finish(&[r(SignedOut), r(Trying)], false), Finish::Receipts);
        assert_eq!(finish(&[r(Failed)], true), Finish::Receipts);
    }

    #[test]
    fn delivery_statuses_show_as_three_states() {
        assert_eq!(
            ReceiptState::of(DeliveryStatus::Delivered),
            ReceiptState::SignedOut
        );
        assert_eq!(
            ReceiptState::of(DeliveryStatus::Pending),
            ReceiptState::Trying
        );
        assert_eq!(
            ReceiptState::of(DeliveryStatus::Rejected),
            ReceiptState::Failed
        );
        assert_eq!(ReceiptState::of(DeliveryStatus::Dead), ReceiptState::Failed);
        assert!(!ReceiptState::Trying.is_final() && ReceiptState::Failed.is_final());
        let total: u128 = (0..25).map(|n| poll_delay(n).as_millis()).sum();
        assert!(total >= 2000, "25 polls cover a 2 s wait");
    }
}
