//! The Shared Signals transmitter (issue 21), over HTTP against the local stack: receivers
//! as `client_credentials` clients (the grant's refusals, introspection and revocation of
//! its tokens), the transmitter metadata, and stream management (SSF 1.0 §8) with the
//! negative cases the OpenID conformance suite's SSF transmitter tests check: missing or
//! bad token, wrong scope, unknown stream, another receiver's stream, malformed body, a
//! push endpoint the outbound address policy refuses.

use reqwest::{Method, Response};
use serde_json::{json, Value};
use warden_core::admin::ClientSpec;
use warden_core::store::schema::{keys, ClientItem, EventType, StreamItem};
use warden_tests::{spawn, Stack};

const PUSH: &str = "urn:ietf:rfc:8935";
const POLL: &str = "urn:ietf:rfc:8936";
const REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const CHANGED: &str = "https://schemas.openid.net/secevent/caep/event-type/credential-change";

/// A receiver: a confidential client registered for `client_credentials` with `scopes`.
async fn receiver(s: &Stack, id: &str, scopes: &[&str]) -> (ClientItem, String) {
    let (c, secret) = s
        .client(ClientSpec {
            client_id: Some(id.into()),
            name: format!("Receiver {id}"),
            grant_types: vec!["client_credentials".into()],
            scopes: scopes.iter().map(|x| x.to_string()).collect(),
            ..Default::default()
        })
        .await;
    (c, secret.expect("a confidential client's secret"))
}

async fn token_request(s: &Stack, id: &str, secret: &str, scope: Option<&str>) -> Response {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(sc) = scope {
        form.push(("scope", sc));
    }
    s.http
        .post(s.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&form)
        .send()
        .await
        .expect("token request")
}

/// A client-credentials access token.
async fn token(s: &Stack, id: &str, secret: &str, scope: Option<&str>) -> String {
    let r = token_request(s, id, secret, scope).await;
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    b["access_token"].as_str().unwrap().to_string()
}

/// A manage-scoped token of a fresh receiver `id`.
async fn manager(s: &Stack, id: &str) -> String {
    let (c, secret) = receiver(s, id, &["ssf.manage", "ssf.read"]).await;
    token(s, &c.client_id, &secret, Some("ssf.manage")).await
}

async fn call(
    s: &Stack,
    m: Method,
    path: &str,
    tok: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut r = s.http.request(m, s.url(path));
    if let Some(t) = tok {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.expect("request")
}

async fn create(s: &Stack, tok: &str, body: Value) -> Value {
    let r = call(s, Method::POST, "/ssf/streams", Some(tok), Some(body)).await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn introspect(s: &Stack, id: &str, secret: &str, tok: &str) -> Value {
    s.http
        .post(s.url("/oauth2/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", tok)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn challenge(r: &Response) -> String {
    r.headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_gets_a_token_of_only_its_allowed_scopes_with_no_refresh_or_id_token() {
    let s = spawn().await;
    let (c, secret) = receiver(&s, "rx", &["ssf.manage", "ssf.read"]).await;
    let r = token_request(&s, "rx", &secret, None).await;
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(
        b["scope"], "ssf.manage ssf.read",
        "no scope: all it may hold"
    );
    assert!(b["expires_in"].as_i64().unwrap() > 0);
    assert!(
        b.get("refresh_token").is_none() && b.get("id_token").is_none(),
        "{b}"
    );
    let at = b["access_token"].as_str().unwrap();
    // Stored only as its hash.
    let hash = warden_core::platform::crypto::hash_secret(at);
    let item = s
        .store()
        .get_token(&hash)
        .await
        .unwrap()
        .expect("the token's item");
    assert_eq!(item.pk, keys::token(&hash).0);
    assert!(item.is_clients_own() && item.client_id == c.client_id);
    assert!(s.store().get_token(at).await.unwrap().is_none());
    // A narrower request gets what it asked for.
    let r = token_request(&s, "rx", &secret, Some("ssf.read")).await;
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["scope"], "ssf.read");
    // Discovery says the grant is served.
    let d: Value = s
        .http
        .get(s.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(d["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("client_credentials")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_credentials_grant_refuses_wrong_secrets_public_and_unregistered_clients_and_bad_scopes(
) {
    let s = spawn().await;
    let (_, secret) = receiver(&s, "rx", &["ssf.read"]).await;
    let err = |r: Response| async move {
        let st = r.status().as_u16();
        let b: Value = r.json().await.unwrap();
        (st, b["error"].as_str().unwrap_or_default().to_string())
    };
    // Wrong secret.
    let r = token_request(&s, "rx", "not-the-secret", None).await;
    assert_eq!(err(r).await, (401, "invalid_client".into()));
    // A scope it is not registered for, an unknown one, a user scope.
    for scope in [
        "ssf.manage",
        "bogus",
        "openid",
        "internal_login",
        "ssf.read openid",
    ] {
        let r = token_request(&s, "rx", &secret, Some(scope)).await;
        assert_eq!(err(r).await, (400, "invalid_scope".into()), "{scope}");
    }
    // A confidential client not registered for the grant.
    let (rp, rp_secret) = s
        .client(ClientSpec {
            client_id: Some("rp".into()),
            name: "RP".into(),
            redirect_uris: vec!["https://rp.example/cb".into()],
            scopes: vec!["openid".into(), "ssf.manage".into()],
            ..Default::default()
        })
        .await;
    let r = token_request(&s, &rp.client_id, &rp_secret.unwrap(), Some("ssf.manage")).await;
    assert_eq!(err(r).await, (400, "unauthorized_client".into()));
    // A public client: registration refuses it the grant, and an item that names it anyway
    // is still refused at the token endpoint.
    let refused = warden_core::admin::build_client(
        &ClientSpec {
            name: "SPA".into(),
            public: true,
            redirect_uris: vec!["https://spa.example/cb".into()],
            grant_types: vec!["client_credentials".into()],
            ..Default::default()
        },
        None,
    );
    assert!(refused.is_err());
    let (mut spa, _) = s
        .client(ClientSpec {
            client_id: Some("spa".into()),
            name: "SPA".into(),
            public: true,
            redirect_uris: vec!["https://spa.example/cb".into()],
            scopes: vec!["openid".into(), "ssf.read".into()],
            ..Default::default()
        })
        .await;
    spa.grant_types.push("client_credentials".into());
    s.store().put_client(&spa, false).await.unwrap();
    s.app().invalidate_client("spa");
    let r = s
        .http
        .post(s.url("/oauth2/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", "spa")])
        .send()
        .await
        .unwrap();
    assert_eq!(err(r).await, (400, "unauthorized_client".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_credentials_token_introspects_as_the_clients_own_and_is_revocable() {
    let s = spawn().await;
    let (_, secret) = receiver(&s, "rx", &["ssf.manage"]).await;
    let at = token(&s, "rx", &secret, None).await;
    let i = introspect(&s, "rx", &secret, &at).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], "rx");
    assert_eq!(i["scope"], "ssf.manage");
    assert_eq!(i["sub"], "rx", "RFC 9068 §2.2: the client is the subject");
    assert!(
        i.get("sid").is_none() && i.get("auth_time").is_none(),
        "{i}"
    );
    // Another client learns nothing of it.
    let (_, other) = receiver(&s, "other", &["ssf.read"]).await;
    assert_eq!(
        introspect(&s, "other", &other, &at).await,
        json!({"active": false})
    );
    // Usable, then revoked (RFC 7009), then refused.
    let r = call(&s, Method::GET, "/ssf/streams", Some(&at), None).await;
    assert_eq!(r.status(), 200);
    let r = s
        .http
        .post(s.url("/oauth2/revoke"))
        .basic_auth("rx", Some(&secret))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        introspect(&s, "rx", &secret, &at).await,
        json!({"active": false})
    );
    let r = call(&s, Method::GET, "/ssf/streams", Some(&at), None).await;
    assert_eq!(r.status(), 401);
    assert!(challenge(&r).contains("invalid_token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transmitter_metadata_names_every_endpoint_and_both_delivery_methods() {
    let s = spawn().await;
    let r = s
        .http
        .get(s.url("/.well-known/ssf-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("application/json"), "{ct}");
    let m: Value = r.json().await.unwrap();
    let issuer = s.app().config.issuer.clone();
    assert_eq!(m["spec_version"], "1_0");
    assert_eq!(m["issuer"], issuer.as_str());
    assert_eq!(m["jwks_uri"], format!("{issuer}/oauth2/jwks"));
    assert_eq!(m["delivery_methods_supported"], json!([PUSH, POLL]));
    for (k, p) in [
        ("configuration_endpoint", "/ssf/streams"),
        ("status_endpoint", "/ssf/status"),
        ("add_subject_endpoint", "/ssf/subjects/add"),
        ("remove_subject_endpoint", "/ssf/subjects/remove"),
        ("verification_endpoint", "/ssf/verify"),
    ] {
        assert_eq!(m[k], format!("{issuer}{p}"), "{k}");
    }
    assert_eq!(
        m["authorization_schemes"],
        json!([{"spec_urn": "urn:ietf:rfc:6749"}])
    );
    assert_eq!(m["default_subjects"], "NONE");
    // The JWKS it names is served: public RSA keys only, each usable, distinct kids.
    let r = s.http.get(s.url("/oauth2/jwks")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let jwks: Value = r.json().await.unwrap();
    let keys = jwks["keys"].as_array().expect("keys");
    assert!(!keys.is_empty());
    let mut kids = std::collections::BTreeSet::new();
    for k in keys {
        assert_eq!(k["kty"], "RSA", "{k}");
        for private in ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] {
            assert!(k.get(private).is_none(), "{private} in {k}");
        }
        for part in ["n", "e"] {
            let v = k[part].as_str().expect(part);
            assert!(warden_core::platform::crypto::b64_decode(v).is_some_and(|b| !b.is_empty()));
        }
        assert!(
            kids.insert(k["kid"].as_str().expect("kid").to_string()),
            "{k}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_creates_reads_updates_replaces_and_deletes_its_streams() {
    let s = spawn().await;
    let tok = manager(&s, "rx").await;
    let issuer = s.app().config.issuer.clone();
    // Create: push, with an authorization header; an unknown event type is not delivered.
    let created = create(
        &s,
        &tok,
        json!({
            "events_requested": [REVOKED, CHANGED, "urn:example:unknown"],
            "delivery": {"method": PUSH, "endpoint_url": "http://127.0.0.1:9/events",
                "authorization_header": "Bearer receiver-secret-1"},
            "description": "first",
        }),
    )
    .await;
    let id = created["stream_id"].as_str().unwrap().to_string();
    assert_eq!(created["iss"], issuer.as_str());
    assert_eq!(created["aud"], "rx");
    assert_eq!(created["events_delivered"], json!([REVOKED, CHANGED]));
    assert_eq!(created["events_requested"].as_array().unwrap().len(), 3);
    assert_eq!(
        created["events_supported"],
        json!([
            "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
            "https://schemas.openid.net/secevent/caep/event-type/credential-change",
            "https://schemas.openid.net/secevent/risc/event-type/account-disabled",
            "https://schemas.openid.net/secevent/risc/event-type/account-enabled",
            "https://schemas.openid.net/secevent/risc/event-type/account-purged",
            "https://schemas.openid.net/secevent/ssf/event-type/verification",
        ])
    );
    assert_eq!(created["delivery"]["method"], PUSH);
    assert_eq!(
        created["delivery"]["endpoint_url"],
        "http://127.0.0.1:9/events"
    );
    assert_eq!(created["min_verification_interval"], 30);
    assert_eq!(created["description"], "first");
    assert!(!created.to_string().contains("receiver-secret-1"));
    // Stored sealed, never in the clear; opens for this stream only.
    let item: StreamItem = s.store().get_stream("rx", &id).await.unwrap().unwrap();
    let sealed = item
        .authorization_header_sealed
        .clone()
        .expect("sealed header");
    assert!(!sealed.contains("receiver-secret-1"));
    let opened = s
        .app()
        .key_protector
        .open_sealed("ssf-authorization", &id, &sealed)
        .await
        .unwrap();
    assert_eq!(opened, b"Bearer receiver-secret-1");
    assert!(!format!("{item:?}").contains(&sealed));
    // Read: one, and all.
    let r = call(
        &s,
        Method::GET,
        &format!("/ssf/streams?stream_id={id}"),
        Some(&tok),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    let one: Value = r.json().await.unwrap();
    assert_eq!(one, created);
    let second = create(&s, &tok, json!({"delivery": {"method": POLL}})).await;
    let poll_id = second["stream_id"].as_str().unwrap();
    assert_eq!(
        second["delivery"]["endpoint_url"],
        format!("{issuer}/ssf/poll/{poll_id}"),
        "Warden assigns a poll endpoint"
    );
    assert_eq!(second["events_delivered"], json!([]));
    let r = call(&s, Method::GET, "/ssf/streams", Some(&tok), None).await;
    let all: Value = r.json().await.unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2);
    // Update (PATCH): only what it names; transmitter-supplied members are ignored.
    let r = call(
        &s,
        Method::PATCH,
        "/ssf/streams",
        Some(&tok),
        Some(
            json!({"stream_id": id, "description": "patched", "iss": "https://evil.example",
            "events_delivered": ["urn:example:unknown"]}),
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["description"], "patched");
    assert_eq!(p["iss"], issuer.as_str());
    assert_eq!(p["events_delivered"], json!([REVOKED, CHANGED]));
    assert_eq!(p["delivery"]["method"], PUSH);
    let kept = s.store().get_stream("rx", &id).await.unwrap().unwrap();
    assert_eq!(
        kept.authorization_header_sealed,
        Some(sealed),
        "PATCH kept the header"
    );
    // Replace (PUT): everything, absent members to their defaults.
    let r = call(
        &s,
        Method::PUT,
        "/ssf/streams",
        Some(&tok),
        Some(json!({"stream_id": id, "events_requested": [REVOKED],
            "delivery": {"method": POLL}})),
    )
    .await;
    assert_eq!(r.status(), 200);
    let put: Value = r.json().await.unwrap();
    assert_eq!(put["iss"], issuer.as_str());
    assert_eq!(put["events_delivered"], json!([REVOKED]));
    assert_eq!(put["delivery"]["method"], POLL);
    assert!(put.get("description").is_none());
    let replaced = s.store().get_stream("rx", &id).await.unwrap().unwrap();
    assert!(replaced.authorization_header_sealed.is_none());
    assert_eq!(replaced.events_delivered, [EventType::SessionRevoked]);
    // Delete: 204, then 404 everywhere.
    let r = call(
        &s,
        Method::DELETE,
        &format!("/ssf/streams?stream_id={id}"),
        Some(&tok),
        None,
    )
    .await;
    assert_eq!(r.status(), 204);
    let r = call(
        &s,
        Method::GET,
        &format!("/ssf/streams?stream_id={id}"),
        Some(&tok),
        None,
    )
    .await;
    assert_eq!(r.status(), 404);
    let r = call(
        &s,
        Method::DELETE,
        &format!("/ssf/streams?stream_id={id}"),
        Some(&tok),
        None,
    )
    .await;
    assert_eq!(r.status(), 404);
    let r = call(&s, Method::GET, "/ssf/streams", Some(&tok), None).await;
    let all: Value = r.json().await.unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_status_changes_and_its_subjects_are_added_and_removed() {
    let s = spawn().await;
    let tok = manager(&s, "rx").await;
    let id = create(&s, &tok, json!({"events_requested": [REVOKED]})).await["stream_id"]
        .as_str()
        .unwrap()
        .to_string();
    let status = |tok: String, id: String| {
        let s = &s;
        async move {
            let r = call(
                s,
                Method::GET,
                &format!("/ssf/status?stream_id={id}"),
                Some(&tok),
                None,
            )
            .await;
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(
        status(tok.clone(), id.clone()).await,
        json!({"stream_id": id, "status": "enabled"})
    );
    for (st, reason) in [
        ("paused", Some("maintenance")),
        ("disabled", None),
        ("enabled", Some("back")),
    ] {
        let mut body = json!({"stream_id": id, "status": st});
        if let Some(r) = reason {
            body["reason"] = json!(r);
        }
        let r = call(&s, Method::POST, "/ssf/status", Some(&tok), Some(body)).await;
        assert_eq!(r.status(), 200);
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["status"], st);
        assert_eq!(b.get("reason").and_then(Value::as_str), reason);
        assert_eq!(status(tok.clone(), id.clone()).await["status"], st);
    }
    let r = call(
        &s,
        Method::POST,
        "/ssf/status",
        Some(&tok),
        Some(json!({"stream_id": id, "status": "sleeping"})),
    )
    .await;
    assert_eq!(r.status(), 400);

    // Subjects of every accepted format.
    let subjects = [
        json!({"format": "iss_sub", "iss": s.app().config.issuer, "sub": "user-1"}),
        json!({"format": "email", "email": "alice@example.com"}),
        json!({"format": "opaque", "id": "abc"}),
        json!({"user": {"format": "email", "email": "alice@example.com"},
               "session": {"format": "opaque", "id": "s1"}}),
    ];
    for sub in &subjects {
        let r = call(
            &s,
            Method::POST,
            "/ssf/subjects/add",
            Some(&tok),
            Some(json!({"stream_id": id, "subject": sub, "verified": true})),
        )
        .await;
        assert_eq!(r.status(), 200, "{sub}");
    }
    assert_eq!(s.store().list_subjects(&id).await.unwrap().len(), 4);
    // Members in another order are the same subject.
    let r = call(
        &s,
        Method::POST,
        "/ssf/subjects/remove",
        Some(&tok),
        Some(json!({"stream_id": id, "subject": {"sub": "user-1", "iss": s.app().config.issuer, "format": "iss_sub"}})),
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(s.store().list_subjects(&id).await.unwrap().len(), 3);
    for bad in [
        json!({"stream_id": id}),
        json!({"stream_id": id, "subject": {"format": "phone_number", "phone_number": "+1"}}),
        json!({"stream_id": id, "subject": {"format": "email"}}),
        json!({"stream_id": id, "subject": subjects[1], "verified": "yes"}),
    ] {
        let r = call(
            &s,
            Method::POST,
            "/ssf/subjects/add",
            Some(&tok),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(r.status(), 400, "{bad}");
    }
    let r = call(
        &s,
        Method::POST,
        "/ssf/subjects/add",
        Some(&tok),
        Some(json!({"stream_id": "no-such-stream", "subject": subjects[1]})),
    )
    .await;
    assert_eq!(r.status(), 404);
    // Deleting the stream deletes its subjects.
    let r = call(
        &s,
        Method::DELETE,
        &format!("/ssf/streams?stream_id={id}"),
        Some(&tok),
        None,
    )
    .await;
    assert_eq!(r.status(), 204);
    assert!(s.store().list_subjects(&id).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_request_is_recorded_on_the_stream_and_rate_limited() {
    let s = spawn().await;
    let tok = manager(&s, "rx").await;
    let id = create(&s, &tok, json!({})).await["stream_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = call(
        &s,
        Method::POST,
        "/ssf/verify",
        Some(&tok),
        Some(json!({"stream_id": id, "state": "state-1"})),
    )
    .await;
    assert_eq!(r.status(), 204);
    let item = s.store().get_stream("rx", &id).await.unwrap().unwrap();
    let v = item
        .verification
        .expect("the request, recorded for the dispatcher");
    assert_eq!(v.state.as_deref(), Some("state-1"));
    // Again within min_verification_interval: 429 with Retry-After.
    let r = call(
        &s,
        Method::POST,
        "/ssf/verify",
        Some(&tok),
        Some(json!({"stream_id": id})),
    )
    .await;
    assert_eq!(r.status(), 429);
    let wait: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&wait));
    let r = call(
        &s,
        Method::POST,
        "/ssf/verify",
        Some(&tok),
        Some(json!({"stream_id": "nope"})),
    )
    .await;
    assert_eq!(r.status(), 404);
    let r = call(
        &s,
        Method::POST,
        "/ssf/verify",
        Some(&tok),
        Some(json!({"stream_id": id, "state": 3})),
    )
    .await;
    assert_eq!(r.status(), 400);
}

/// Every SSF management route (the route table's `ssf` function, but the public
/// metadata), with a body that would otherwise be fine.
fn ssf_routes() -> Vec<(&'static str, &'static str)> {
    warden_local::routes::ROUTES
        .iter()
        .filter(|r| r.function == "ssf" && r.path.starts_with("/ssf/"))
        .map(|r| (r.method, r.path))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ssf_route_refuses_missing_bad_and_wrong_scope_tokens() {
    let s = spawn().await;
    let manage = manager(&s, "rx").await;
    let id = create(&s, &manage, json!({})).await["stream_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, secret) = receiver(&s, "reader", &["ssf.read"]).await;
    let read = token(&s, "reader", &secret, None).await;
    // A user's token from a browser session, without SSF scopes.
    let (console, _) = s
        .client(ClientSpec {
            client_id: Some("console".into()),
            name: "Console".into(),
            redirect_uris: vec!["https://console.example/cb".into()],
            scopes: vec!["openid".into(), "internal_login".into()],
            ..Default::default()
        })
        .await;
    let user = s
        .user("alice", "alice password 1", &["internal_login"])
        .await;
    let (sess, cookie) = s.session_for(&user, "ua").await;
    let user_tok = s
        .tokens_for(&sess, &console, "openid internal_login")
        .await
        .access_token;

    let routes = ssf_routes();
    assert_eq!(routes.len(), 11, "{routes:?}");
    for (m, path) in routes {
        let what = format!("{m} {path}");
        let method = Method::from_bytes(m.as_bytes()).unwrap();
        let url = format!("{}?stream_id={id}", path.replace("{stream-id}", &id));
        let body = Some(json!({"stream_id": id, "status": "enabled",
            "subject": {"format": "opaque", "id": "x"}}));
        let send = |tok: Option<String>, cookie: Option<&str>| {
            let mut r = s.http.request(method.clone(), s.url(&url));
            if let Some(t) = tok {
                r = r.header("authorization", t);
            }
            if let Some(c) = cookie {
                r = r.header("cookie", c);
            }
            if let Some(b) = &body {
                r = r.json(b);
            }
            r.send()
        };
        let r = send(None, None).await.unwrap();
        assert_eq!(r.status(), 401, "{what}: no token");
        assert_eq!(challenge(&r), "Bearer realm=\"warden\"", "{what}");
        let r = send(None, Some(&cookie)).await.unwrap();
        assert_eq!(r.status(), 401, "{what}: cookie only");
        for bad in [
            "Bearer ".to_string(),
            "Bearer not-a-token".to_string(),
            format!("Bearer {}", warden_core::platform::crypto::random_token()),
            format!("Basic {}", "cng6c2VjcmV0"),
        ] {
            let r = send(Some(bad.clone()), None).await.unwrap();
            assert_eq!(r.status(), 401, "{what}: {bad:?}");
            assert!(challenge(&r).starts_with("Bearer"), "{what}");
        }
        // A user's token without SSF scopes: 403.
        let r = send(Some(format!("Bearer {user_tok}")), None)
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{what}: no SSF scope");
        assert!(challenge(&r).contains("insufficient_scope"), "{what}");
        // ssf.read reads, and writes nothing.
        let r = send(Some(format!("Bearer {read}")), None).await.unwrap();
        if m == "GET" || path.starts_with("/ssf/poll/") {
            // The reader is another client: the stream is not its own (a poll is a read).
            assert_eq!(r.status(), 404, "{what}: read scope, another's stream");
        } else {
            assert_eq!(r.status(), 403, "{what}: read scope on a write");
            assert!(challenge(&r).contains("ssf.manage"), "{what}");
        }
    }
    // Nothing was changed by any refused request.
    let item = s.store().get_stream("rx", &id).await.unwrap().unwrap();
    assert_eq!(item.v, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_receivers_stream_is_404_and_unknown_streams_are_404() {
    let s = spawn().await;
    let mine = manager(&s, "rx").await;
    let theirs = manager(&s, "rx2").await;
    let id = create(&s, &mine, json!({})).await["stream_id"]
        .as_str()
        .unwrap()
        .to_string();
    for stream in [id.as_str(), "unknown-stream"] {
        let q = format!("?stream_id={stream}");
        let body = json!({"stream_id": stream, "status": "paused", "description": "x",
            "subject": {"format": "opaque", "id": "x"}});
        // Every route that names a stream (all but create).
        for (m, path) in ssf_routes() {
            if (m, path) == ("POST", "/ssf/streams") {
                continue;
            }
            let method = Method::from_bytes(m.as_bytes()).unwrap();
            let r = call(
                &s,
                method,
                &format!("{}{q}", path.replace("{stream-id}", stream)),
                Some(&theirs),
                Some(body.clone()),
            )
            .await;
            assert_eq!(r.status(), 404, "{m} {path} {stream}");
        }
    }
    let r = call(&s, Method::GET, "/ssf/streams", Some(&theirs), None).await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!([]));
    let item = s.store().get_stream("rx", &id).await.unwrap().unwrap();
    assert_eq!((item.v, item.status.as_str()), (1, "enabled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_and_refused_push_endpoints_are_400() {
    let s = spawn().await;
    let tok = manager(&s, "rx").await;
    let send_raw = |m: Method, path: &'static str, raw: &'static str| {
        let tok = tok.clone();
        let s = &s;
        async move {
            s.http
                .request(m, s.url(path))
                .bearer_auth(tok)
                .header("content-type", "application/json")
                .body(raw)
                .send()
                .await
                .unwrap()
        }
    };
    for (m, path) in [
        (Method::POST, "/ssf/streams"),
        (Method::PATCH, "/ssf/streams"),
        (Method::PUT, "/ssf/streams"),
        (Method::POST, "/ssf/status"),
        (Method::POST, "/ssf/subjects/add"),
        (Method::POST, "/ssf/subjects/remove"),
        (Method::POST, "/ssf/verify"),
    ] {
        for raw in ["", "{", "[1]", "\"x\"", "{\"stream_id\": 5}"] {
            let r = send_raw(m.clone(), path, raw).await;
            assert_eq!(r.status(), 400, "{m} {path} {raw:?}");
            let b: Value = r.json().await.unwrap();
            assert!(b["code"].is_string() && b["message"].is_string(), "{b}");
        }
    }
    for body in [
        json!({"delivery": {"method": "urn:example:pigeon"}}),
        json!({"delivery": {"method": PUSH}}),
        json!({"events_requested": "all"}),
        json!({"delivery": {"method": POLL, "authorization_header": "Bearer x"}}),
        // The outbound address policy: private, link-local (metadata), not https (ftp).
        json!({"delivery": {"method": PUSH, "endpoint_url": "https://10.0.0.1/events"}}),
        json!({"delivery": {"method": PUSH, "endpoint_url": "https://169.254.169.254/latest"}}),
        json!({"delivery": {"method": PUSH, "endpoint_url": "https://[fd00::1]/events"}}),
        json!({"delivery": {"method": PUSH, "endpoint_url": "ftp://rx.example/events"}}),
    ] {
        let r = call(
            &s,
            Method::POST,
            "/ssf/streams",
            Some(&tok),
            Some(body.clone()),
        )
        .await;
        assert_eq!(r.status(), 400, "{body}");
    }
    // An update to a refused endpoint is refused too, and changes nothing.
    let id = create(&s, &tok, json!({})).await["stream_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = call(
        &s,
        Method::PATCH,
        "/ssf/streams",
        Some(&tok),
        Some(json!({"stream_id": id, "delivery": {"method": PUSH,
            "endpoint_url": "https://192.168.1.1/events"}})),
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = call(
        &s,
        Method::PATCH,
        "/ssf/streams",
        Some(&tok),
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status(), 400, "stream_id is required");
    let r = call(&s, Method::DELETE, "/ssf/streams", Some(&tok), None).await;
    assert_eq!(r.status(), 400, "stream_id is required");
    let r = call(&s, Method::GET, "/ssf/status", Some(&tok), None).await;
    assert_eq!(r.status(), 400, "stream_id is required");
    let item = s.store().get_stream("rx", &id).await.unwrap().unwrap();
    assert_eq!(item.v, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_has_at_most_eight_streams() {
    let s = spawn().await;
    let tok = manager(&s, "rx").await;
    for _ in 0..8 {
        create(&s, &tok, json!({})).await;
    }
    let r = call(
        &s,
        Method::POST,
        "/ssf/streams",
        Some(&tok),
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status(), 409);
    // Another receiver is not affected.
    let other = manager(&s, "rx2").await;
    create(&s, &other, json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_live_receivers_own_token_manages_streams_never_a_users() {
    let s = spawn().await;
    let (rx, secret) = receiver(&s, "rx", &["openid", "ssf.manage", "ssf.read"]).await;
    let tok = token(&s, "rx", &secret, None).await;
    let id = create(&s, &tok, json!({})).await["stream_id"]
        .as_str()
        .unwrap()
        .to_string();
    // A user's token issued to the receiver's client id, with the SSF scopes: 403.
    let user = s.user("bob", "bob password 1", &[]).await;
    let (sess, _) = s.session_for(&user, "ua").await;
    let mut as_rp = rx.clone();
    as_rp.redirect_uris = vec!["https://rx.example/cb".into()];
    let user_tok = s
        .tokens_for(&sess, &as_rp, "openid ssf.manage ssf.read")
        .await
        .access_token;
    for (m, path) in ssf_routes() {
        let method = Method::from_bytes(m.as_bytes()).unwrap();
        let body = json!({"stream_id": id, "status": "paused"});
        let r = call(
            &s,
            method,
            &format!("{path}?stream_id={id}"),
            Some(&user_tok),
            Some(body),
        )
        .await;
        assert_eq!(r.status(), 403, "{m} {path}");
    }
    // A disabled receiver's token stops at once.
    let mut disabled = rx.clone();
    disabled.disabled = true;
    s.store().put_client(&disabled, false).await.unwrap();
    s.app().invalidate_client("rx");
    let r = call(&s, Method::GET, "/ssf/streams", Some(&tok), None).await;
    assert_eq!(r.status(), 401);
    assert!(challenge(&r).contains("invalid_token"));
    let item = s.store().get_stream("rx", &id).await.unwrap().unwrap();
    assert_eq!(item.v, 1);
}
