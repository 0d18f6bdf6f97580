//! `warden-admin` through its library, against the embedded engine (dynoxide) and against a
//! running local stack's engine (then checked over HTTP).

use serde_json::Value;
use warden_admin::{execute, parse_from, run};
use warden_core::keys::protection::{KeyProtection, KeyProtector};
use warden_core::Store;
use warden_tests::flow::{login, post_login};
use warden_tests::{dynoxide_store, spawn};

/// Run `warden-admin <words>` against `store` (flags parsed exactly as the binary does).
async fn cli(store: &Store, words: &[&str]) -> Result<Vec<Value>, String> {
    cli_stdin(store, words, "").await
}

/// The key-encryption key these tests wrap signing keys with (as WARDEN_KEY_ENCRYPTION_KEY).
static KEK: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    KeyProtection::random_local()
        .local_text()
        .expect("local key")
});

async fn cli_stdin(store: &Store, words: &[&str], stdin: &str) -> Result<Vec<Value>, String> {
    // `=`: a base64url key may start with '-'.
    let kek_flag = format!("--key-encryption-key={}", KEK.as_str());
    let mut args = vec![
        "warden-admin",
        "--table",
        store.table.as_str(),
        kek_flag.as_str(),
    ];
    args.extend_from_slice(words);
    let parsed = parse_from(args).map_err(|e| e.to_string())?;
    let mut input = std::io::Cursor::new(stdin.as_bytes().to_vec());
    execute(store, parsed, &mut input)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_created_listed_and_disabled() {
    let (store, _engine) = dynoxide_store().await;
    let out = cli(
        &store,
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--password",
            "s3cret-pass",
            "--name",
            "Alice",
            "--email",
            "alice@example.com",
            "--role",
            "internal_session_view",
        ],
    )
    .await
    .unwrap();
    assert_eq!(out.len(), 1);
    let u = &out[0];
    assert_eq!(u["username"], "alice");
    assert_eq!(u["roles"][0], "internal_session_view");
    assert!(u.get("password_hash").is_none(), "never print the hash");
    let stored = store.user_by_username("alice").await.unwrap().unwrap();
    assert!(stored.password_hash.starts_with("$argon2id$"));
    assert!(warden_core::platform::crypto::verify_password(
        "s3cret-pass",
        &stored.password_hash
    ));

    // --password-stdin reads the first line.
    cli_stdin(
        &store,
        &["user", "create", "--username", "bob", "--password-stdin"],
        "another-pass\nignored\n",
    )
    .await
    .unwrap();
    let bob = store.user_by_username("bob").await.unwrap().unwrap();
    assert!(warden_core::platform::crypto::verify_password(
        "another-pass",
        &bob.password_hash
    ));

    // Refusals with clear messages.
    let e = cli(
        &store,
        &[
            "user",
            "create",
            "--username",
            "ALICE",
            "--password",
            "xxxxxxxxx",
        ],
    )
    .await
    .unwrap_err();
    assert!(e.contains("taken"), "{e}");
    let e = cli(
        &store,
        &[
            "user",
            "create",
            "--username",
            "carol",
            "--password",
            "short",
        ],
    )
    .await
    .unwrap_err();
    assert!(e.contains("at least 8"), "{e}");
    let e = cli(
        &store,
        &[
            "user",
            "create",
            "--username",
            "carol",
            "--password",
            "long-enough",
            "--role",
            "root",
        ],
    )
    .await
    .unwrap_err();
    assert!(e.contains("unknown scope"), "{e}");
    let e = cli(&store, &["user", "create", "--username", "carol"])
        .await
        .unwrap_err();
    assert!(e.contains("password"), "{e}");

    let list = cli(&store, &["user", "list"]).await.unwrap();
    let names: Vec<&str> = list.iter().filter_map(|u| u["username"].as_str()).collect();
    assert_eq!(names, vec!["alice", "bob"]);

    let out = cli(&store, &["user", "disable", "--username", "bob"])
        .await
        .unwrap();
    assert_eq!(out[0]["disabled"], true);
    assert!(
        store
            .user_by_username("bob")
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    let e = cli(&store, &["user", "disable", "--username", "nobody"])
        .await
        .unwrap_err();
    assert!(e.contains("no user"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_created_validated_updated_and_listed() {
    let (store, _engine) = dynoxide_store().await;
    let out = cli(
        &store,
        &[
            "client",
            "create",
            "--name",
            "Shop",
            "--client-id",
            "shop",
            "--redirect-uri",
            "https://shop.example/cb",
            "--redirect-uri",
            "https://shop.example/cb2",
            "--post-logout-redirect-uri",
            "https://shop.example/",
            "--backchannel-logout-uri",
            "https://shop.example/bc?x=1",
            "--backchannel-logout-session-required",
            "--frontchannel-logout-uri",
            "https://shop.example/fc",
            "--frontchannel-logout-session-required",
            "--scope",
            "openid email",
            "--scope",
            "offline_access",
            "--grant-type",
            "authorization_code",
            "--token-binding",
            "none",
        ],
    )
    .await
    .unwrap();
    let c = &out[0];
    assert_eq!(c["client_id"], "shop");
    assert_eq!(
        c["web_origins"],
        serde_json::json!(["https://shop.example"]),
        "without --web-origin: the redirect URIs' origins"
    );
    assert_eq!(c["public"], false);
    assert_eq!(c["token_binding"], "none");
    assert_eq!(c["backchannel_logout_session_required"], true);
    assert_eq!(c["frontchannel_logout_session_required"], true);
    assert_eq!(
        c["scopes"],
        serde_json::json!(["openid", "email", "offline_access"])
    );
    assert_eq!(c["grant_types"], serde_json::json!(["authorization_code"]));
    assert!(c.get("secret_hash").is_none());
    let secret = c["client_secret"].as_str().expect("secret printed once");
    let stored = store.get_client("shop").await.unwrap().unwrap();
    assert_eq!(
        stored.secret_hash.as_deref(),
        Some(warden_core::platform::crypto::hash_secret(secret).as_str())
    );
    assert_eq!(
        stored.backchannel_logout_uri.as_deref(),
        Some("https://shop.example/bc?x=1")
    );

    // Public client: no secret; default binding sso-session; random id.
    let out = cli(
        &store,
        &[
            "client",
            "create",
            "--name",
            "SPA",
            "--public",
            "--redirect-uri",
            "https://spa.example/cb",
        ],
    )
    .await
    .unwrap();
    assert_eq!(out[0]["public"], true);
    assert_eq!(out[0]["token_binding"], "sso-session");
    assert!(out[0].get("client_secret").is_none());
    let spa_id = out[0]["client_id"].as_str().unwrap().to_string();

    // Invalid metadata is refused with a clear message.
    for (words, want) in [
        (
            vec!["--redirect-uri", "https://x.example/cb#frag"],
            "fragment",
        ),
        (
            vec![
                "--redirect-uri",
                "https://x.example/cb",
                "--token-binding",
                "browser",
            ],
            "token_binding",
        ),
        (
            vec![
                "--public",
                "--redirect-uri",
                "https://x.example/cb",
                "--backchannel-logout-uri",
                "http://x.example/bc",
            ],
            "https",
        ),
        (
            vec![
                "--redirect-uri",
                "https://x.example/cb",
                "--frontchannel-logout-uri",
                "https://other.example/fc",
            ],
            "frontchannel_logout_uri",
        ),
        (vec![], "redirect_uris"),
        (
            vec!["--redirect-uri", "https://x.example/cb", "--scope", "admin"],
            "unknown scope",
        ),
        (
            vec![
                "--redirect-uri",
                "https://x.example/cb",
                "--grant-type",
                "password",
            ],
            "grant type",
        ),
    ] {
        let mut w = vec!["client", "create", "--name", "Bad"];
        w.extend(words);
        let e = cli(&store, &w).await.unwrap_err();
        assert!(e.contains(want), "{want}: {e}");
    }
    let e = cli(
        &store,
        &[
            "client",
            "create",
            "--name",
            "Dup",
            "--client-id",
            "shop",
            "--redirect-uri",
            "https://x.example/cb",
        ],
    )
    .await
    .unwrap_err();
    assert!(e.contains("exists"), "{e}");

    // Update: given flags change, others stay; the secret is kept (not re-issued).
    let out = cli(
        &store,
        &[
            "client",
            "update",
            "--client-id",
            "shop",
            "--name",
            "Shop 2",
            "--token-binding",
            "cookie",
            "--backchannel-logout-session-required=false",
            "--frontchannel-logout-uri",
            "",
        ],
    )
    .await
    .unwrap();
    let u = &out[0];
    assert_eq!(u["name"], "Shop 2");
    assert_eq!(u["token_binding"], "cookie");
    assert_eq!(u["backchannel_logout_session_required"], false);
    assert_eq!(u["frontchannel_logout_uri"], Value::Null);
    assert_eq!(u["redirect_uris"].as_array().unwrap().len(), 2);
    assert!(u.get("client_secret").is_none());
    let after = store.get_client("shop").await.unwrap().unwrap();
    assert_eq!(after.secret_hash, stored.secret_hash);
    assert_eq!(after.created_ms, stored.created_ms);
    let e = cli(
        &store,
        &[
            "client",
            "update",
            "--client-id",
            "shop",
            "--token-binding",
            "x",
        ],
    )
    .await
    .unwrap_err();
    assert!(e.contains("token_binding"), "{e}");
    // Web origins (CORS): listed ones replace the redirect URIs' origins; paths refused.
    let out = cli(
        &store,
        &[
            "client",
            "update",
            "--client-id",
            "shop",
            "--web-origin",
            "https://app.shop.example",
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        out[0]["web_origins"],
        serde_json::json!(["https://app.shop.example"])
    );
    let e = cli(
        &store,
        &[
            "client",
            "update",
            "--client-id",
            "shop",
            "--web-origin",
            "https://app.shop.example/path",
        ],
    )
    .await
    .unwrap_err();
    assert!(e.contains("web_origins"), "{e}");
    let e = cli(&store, &["client", "update", "--client-id", "nope"])
        .await
        .unwrap_err();
    assert!(e.contains("no client"), "{e}");
    // A public client made confidential gets a secret, printed once.
    let out = cli(
        &store,
        &["client", "update", "--client-id", &spa_id, "--confidential"],
    )
    .await
    .unwrap();
    assert!(out[0]["client_secret"].as_str().is_some());
    assert_eq!(out[0]["public"], false);

    let list = cli(&store, &["client", "list"]).await.unwrap();
    assert_eq!(list.len(), 2);
    for c in &list {
        assert!(c.get("client_secret").is_none() && c.get("secret_hash").is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_uris_must_be_https_except_on_loopback_and_exact() {
    let (store, _engine) = dynoxide_store().await;
    let create = |uri_flag: &'static str, uri: &'static str| {
        let store = store.clone();
        async move {
            let mut w = vec!["client", "create", "--name", "X"];
            if uri_flag != "--redirect-uri" {
                w.extend(["--redirect-uri", "https://x.example/cb"]);
            }
            w.extend([uri_flag, uri]);
            cli(&store, &w).await
        }
    };
    for (flag, uri, want) in [
        ("--redirect-uri", "http://x.example/cb", "must use https"),
        (
            "--redirect-uri",
            "http://localhost.evil.com/cb",
            "must use https",
        ),
        (
            "--redirect-uri",
            "https://user:pass@x.example/cb",
            "user name or password",
        ),
        (
            "--redirect-uri",
            "https://x.example@evil.com/cb",
            "user name or password",
        ),
        ("--redirect-uri", "https://*.x.example/cb", "'*'"),
        ("--redirect-uri", "https://x.example/*", "'*'"),
        ("--redirect-uri", "https://x.example/cb#top", "fragment"),
        (
            "--post-logout-redirect-uri",
            "http://x.example/bye",
            "must use https",
        ),
        ("--post-logout-redirect-uri", "https://x.example/*", "'*'"),
        ("--web-origin", "http://x.example", "must use https"),
        ("--web-origin", "https://*.x.example", "web_origins"),
        (
            "--backchannel-logout-uri",
            "http://x.example/bc",
            "must use https",
        ),
        (
            "--backchannel-logout-uri",
            "https://u@x.example/bc",
            "user name or password",
        ),
        (
            "--frontchannel-logout-uri",
            "http://x.example/fc",
            "must use https",
        ),
    ] {
        let field = match flag {
            "--redirect-uri" => "redirect_uris",
            "--post-logout-redirect-uri" => "post_logout_redirect_uris",
            "--web-origin" => "web_origins",
            "--backchannel-logout-uri" => "backchannel_logout_uri",
            _ => "frontchannel_logout_uri",
        };
        let e = create(flag, uri).await.unwrap_err();
        assert!(e.starts_with(field), "{uri}: {e}");
        assert!(e.contains(want), "{uri}: {e}");
    }
    assert!(
        store.list_clients().await.unwrap().is_empty(),
        "none stored"
    );
    // Loopback http, any port: 127.0.0.1, [::1] and localhost exactly (RFC 8252 §7.3).
    let out = cli(
        &store,
        &[
            "client",
            "create",
            "--name",
            "Native",
            "--redirect-uri",
            "http://127.0.0.1:51004/cb",
            "--redirect-uri",
            "http://[::1]:51004/cb",
            "--redirect-uri",
            "http://localhost/cb",
            "--post-logout-redirect-uri",
            "http://localhost:9000/",
            "--web-origin",
            "http://localhost:9000",
            "--backchannel-logout-uri",
            "http://127.0.0.1:9001/backchannel",
            "--frontchannel-logout-uri",
            "http://localhost/fc",
        ],
    )
    .await
    .unwrap();
    assert_eq!(out[0]["redirect_uris"].as_array().map(Vec::len), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_stored_before_the_uri_rules_are_listed_with_their_problems() {
    let (store, _engine) = dynoxide_store().await;
    cli(
        &store,
        &[
            "client",
            "create",
            "--name",
            "Good",
            "--client-id",
            "good",
            "--redirect-uri",
            "https://good.example/cb",
        ],
    )
    .await
    .unwrap();
    // An item written before the rules (as an older warden-admin accepted it).
    let spec = warden_core::admin::ClientSpec {
        client_id: Some("legacy".into()),
        name: "Legacy".into(),
        redirect_uris: vec!["https://legacy.example/cb".into()],
        ..Default::default()
    };
    let (mut legacy, _) = warden_core::admin::build_client(&spec, None).unwrap();
    legacy.redirect_uris = vec![
        "https://legacy.example/cb".into(),
        "http://legacy.example/cb".into(),
    ];
    legacy.post_logout_redirect_uris = vec!["https://*.legacy.example/bye".into()];
    legacy.backchannel_logout_uri = Some("https://ops:pw@legacy.example/bc".into());
    store.put_client(&legacy, true).await.unwrap();

    let list = cli(&store, &["client", "list"]).await.unwrap();
    assert_eq!(list.len(), 2);
    let good = list.iter().find(|c| c["client_id"] == "good").unwrap();
    assert!(good.get("uri_problems").is_none(), "{good}");
    let legacy_line = list.iter().find(|c| c["client_id"] == "legacy").unwrap();
    let problems = legacy_line["uri_problems"]
        .as_array()
        .expect("uri_problems");
    let got: Vec<(&str, &str, &str)> = problems
        .iter()
        .map(|p| {
            (
                p["field"].as_str().unwrap(),
                p["uri"].as_str().unwrap(),
                p["problem"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("redirect_uris", "http://legacy.example/cb", "plain_http"),
            (
                "post_logout_redirect_uris",
                "https://*.legacy.example/bye",
                "wildcard"
            ),
            (
                "backchannel_logout_uri",
                "https://ops:pw@legacy.example/bc",
                "userinfo"
            ),
        ]
    );
    for p in problems {
        let m = p["message"].as_str().unwrap();
        assert!(m.contains(p["uri"].as_str().unwrap()), "{m}");
    }
    // The binary prints one warning line per problem on standard error.
    let warnings = warden_admin::warnings(&list);
    assert_eq!(warnings.len(), 3);
    assert!(warnings.iter().all(|w| w["client_id"] == "legacy"));
    assert!(
        warnings[0]["warning"]
            .as_str()
            .unwrap()
            .contains("must use https"),
        "{}",
        warnings[0]
    );
    // The stored client still works as it is (nothing rewrote it) ...
    let stored = store.get_client("legacy").await.unwrap().unwrap();
    assert_eq!(stored.redirect_uris, legacy.redirect_uris);
    // ... and an update that keeps the bad URIs is refused with the rule.
    let e = cli(
        &store,
        &["client", "update", "--client-id", "legacy", "--name", "L2"],
    )
    .await
    .unwrap_err();
    assert!(
        e.contains("http://legacy.example/cb") && e.contains("https"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_and_list_without_private_material() {
    let (store, _engine) = dynoxide_store().await;
    assert!(cli(&store, &["keys", "list"]).await.unwrap().is_empty());
    let first = cli(&store, &["keys", "rotate"]).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["status"], "active");
    let second = cli(&store, &["keys", "rotate"]).await.unwrap();
    assert_eq!(second.len(), 2);
    assert_eq!(second[0]["status"], "active");
    assert_eq!(second[1]["status"], "previous");
    assert_eq!(second[1]["kid"], first[0]["kid"]);
    cli(&store, &["keys", "rotate"]).await.unwrap();
    let all = cli(&store, &["keys", "list"]).await.unwrap();
    let statuses: Vec<&str> = all.iter().filter_map(|k| k["status"].as_str()).collect();
    assert_eq!(statuses, vec!["active", "previous", "retired"]);
    let text = serde_json::to_string(&all).unwrap();
    for secret in ["private_pkcs8", "private_wrapped", "pkcs8", "\"d\""] {
        assert!(!text.contains(secret), "{secret} printed");
    }
    assert!(all.iter().all(|k| k["private_key"] == "local"), "{all:?}");
    // Stored wrapped only, and only this key-encryption key opens them.
    let stored = store.list_signing_keys().await.unwrap();
    let mine = KeyProtector::new(KeyProtection::local_from_text(&KEK).unwrap(), None);
    let other = KeyProtector::new(KeyProtection::random_local(), None);
    for k in &stored {
        assert!(k.private_pkcs8.is_none(), "{} stored in the clear", k.kid);
        assert!(k.private_wrapped.as_deref().unwrap().starts_with("local:"));
        assert!(mine.open(k).await.unwrap().private_pkcs8.is_some());
        assert!(other.open(k).await.is_err());
    }
    // Without a key-encryption key or KMS key, rotation is refused, not done in the clear.
    let parsed = parse_from([
        "warden-admin",
        "--table",
        store.table.as_str(),
        "keys",
        "rotate",
    ])
    .unwrap();
    let mut none = std::io::Cursor::new(Vec::new());
    if std::env::var("WARDEN_KMS_KEY_ID").is_err()
        && std::env::var("WARDEN_KEY_ENCRYPTION_KEY").is_err()
    {
        let e = execute(&store, parsed, &mut none).await.unwrap_err();
        assert!(e.to_string().contains("WARDEN_KMS_KEY_ID"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_stored_in_the_clear_before_wrapping_are_read_and_then_protected() {
    let (store, _engine) = dynoxide_store().await;
    // A key as written before wrapping existed: the private key in the clear.
    let old = warden_core::keys::signing::generate_key_item(1).unwrap();
    store
        .client
        .put_item()
        .table_name(&store.table)
        .set_item(Some(warden_core::store::schema::to_item(&old).unwrap()))
        .send()
        .await
        .unwrap();
    let listed = cli(&store, &["keys", "list"]).await.unwrap();
    assert_eq!(listed[0]["private_key"], "clear");
    // Still usable as it is.
    let ks =
        warden_core::keys::signing::KeySet::from_items(&store.list_signing_keys().await.unwrap())
            .unwrap();
    assert_eq!(ks.signer_kid(), old.kid);
    // `keys protect` wraps it in place; the same key then opens from its wrapped form.
    let out = cli(&store, &["keys", "protect"]).await.unwrap();
    assert_eq!(out.len(), 1);
    let stored = store.list_signing_keys().await.unwrap();
    assert!(stored[0].private_pkcs8.is_none());
    let mine = KeyProtector::new(KeyProtection::local_from_text(&KEK).unwrap(), None);
    assert_eq!(
        mine.open(&stored[0]).await.unwrap().private_pkcs8,
        old.private_pkcs8
    );
    assert!(
        cli(&store, &["keys", "protect"]).await.unwrap().is_empty(),
        "nothing left"
    );
    assert_eq!(
        cli(&store, &["keys", "list"]).await.unwrap()[0]["private_key"],
        "local"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_against_a_running_stack() {
    let s = spawn().await;
    let ep = s.running.dynamodb_endpoint.clone();
    // The stack's own key-encryption key, as an operator would export it.
    let kek = s.app().config.key_protection.local_text().unwrap();
    let kek_flag = format!("--key-encryption-key={kek}");
    let go = |words: Vec<&str>| {
        let mut args = vec![
            "warden-admin",
            "--dynamodb-endpoint",
            ep.as_str(),
            "--table",
            "warden",
            kek_flag.as_str(),
        ];
        args.extend(words);
        let parsed = parse_from(args).expect("flags parse");
        async move {
            let mut none = std::io::Cursor::new(Vec::new());
            run(parsed, &mut none).await.expect("command runs")
        }
    };
    go(vec![
        "user",
        "create",
        "--username",
        "dave",
        "--password",
        "dave-password",
    ])
    .await;
    let cookie = login(&s, "dave", "dave-password").await;
    let sid = warden_tests::flow::cookie_value(&cookie, "warden_session")
        .unwrap()
        .split_once('.')
        .unwrap()
        .0
        .to_string();
    // Disabling ends the user's sessions and refuses new logins.
    let out = go(vec!["user", "disable", "--username", "dave"]).await;
    assert_eq!(out[0]["sessions_ended"], 1);
    let sess = s.store().get_session(&sid).await.unwrap().unwrap();
    assert_eq!(sess.status, "ended");
    let r = post_login(&s, "dave", "dave-password", &[]).await;
    assert_eq!(r.status(), 200);
    assert!(warden_tests::flow::set_cookie_value(r.headers(), "warden_session").is_none());
    // A rotated key is published next to the previous one.
    let before: Value = s
        .http
        .get(s.url("/oauth2/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rotated = go(vec!["keys", "rotate"]).await;
    s.app().invalidate_keys();
    let after: Value = s
        .http
        .get(s.url("/oauth2/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = after["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(kids[0], rotated[0]["kid"].as_str().unwrap());
    assert_eq!(kids[1], before["keys"][0]["kid"].as_str().unwrap());
    // Clients registered by the CLI are usable at once.
    go(vec![
        "client",
        "create",
        "--name",
        "CLI app",
        "--client-id",
        "cli-app",
        "--redirect-uri",
        "https://cli.example/cb",
    ])
    .await;
    go(vec![
        "user",
        "create",
        "--username",
        "erin",
        "--password",
        "erin-password",
    ])
    .await;
    let cookie = login(&s, "erin", "erin-password").await;
    let (code, _, _) =
        warden_tests::flow::authorize_code(&s, &cookie, "cli-app", "https://cli.example/cb", &[])
            .await;
    let keys = s.app().keys().await.unwrap();
    let grant = warden_core::oauth::code::open(&keys, &code).expect("a sealed code");
    assert_eq!(grant.client_id, "cli-app");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_server_needs_no_redirect_uri_and_cannot_start_an_authorization() {
    let s = spawn().await;
    // An introspection-only client: confidential, --resource-server, no redirect URI.
    let out = cli(
        s.store(),
        &[
            "client",
            "create",
            "--client-id",
            "orders-api",
            "--name",
            "Orders API",
            "--resource-server",
        ],
    )
    .await
    .expect("a resource server without redirect URIs is created");
    let api = &out[0];
    assert_eq!(api["redirect_uris"], serde_json::json!([]));
    assert_eq!(api["grant_types"], serde_json::json!([]), "no grant at all");
    assert_eq!(api["resource_server"], true);
    let api_secret = api["client_secret"].as_str().expect("a secret").to_string();
    // Without --resource-server (or as a public client) a redirect URI is still required.
    let e = cli(s.store(), &["client", "create", "--name", "Plain"])
        .await
        .unwrap_err();
    assert!(e.contains("redirect_uris"), "{e}");
    let e = cli(
        s.store(),
        &[
            "client",
            "create",
            "--name",
            "SPA",
            "--public",
            "--resource-server",
        ],
    )
    .await
    .unwrap_err();
    assert!(e.contains("redirect_uris") && e.contains("public"), "{e}");

    // It introspects another client's access token.
    let rp = "https://shop.example/cb";
    let shop = cli(
        s.store(),
        &[
            "client",
            "create",
            "--client-id",
            "shop",
            "--name",
            "Shop",
            "--redirect-uri",
            rp,
        ],
    )
    .await
    .unwrap();
    let shop_secret = shop[0]["client_secret"].as_str().unwrap().to_string();
    s.user("frank", "frank-password", &[]).await;
    let cookie = login(&s, "frank", "frank-password").await;
    let (code, _, _) = warden_tests::flow::authorize_code(&s, &cookie, "shop", rp, &[]).await;
    let t: Value = warden_tests::flow::exchange_code(&s, "shop", &shop_secret, &code, rp, None)
        .await
        .json()
        .await
        .unwrap();
    let r = s
        .http
        .post(s.url("/oauth2/introspect"))
        .basic_auth("orders-api", Some(&api_secret))
        .form(&[("token", t["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let i: Value = r.json().await.unwrap();
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["client_id"], "shop");

    // It cannot start an authorization: the error page, never a redirect.
    for redirect in [Some(rp), Some("https://orders.example/cb"), None] {
        let mut p = vec![
            ("response_type", "code"),
            ("client_id", "orders-api"),
            ("scope", "openid"),
            ("state", "s"),
        ];
        if let Some(u) = redirect {
            p.push(("redirect_uri", u));
        }
        let r = warden_tests::flow::authorize(&s, &cookie, &p).await;
        assert_eq!(r.status, 400, "{redirect:?}: {r:?}");
        assert!(r.location.is_none(), "{redirect:?}: never a redirect");
        assert!(
            r.body.contains("<html") || r.body.contains("<!doctype"),
            "{r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssf_receiver_is_created_with_the_client_credentials_grant_and_gets_a_token() {
    let s = spawn().await;
    let out = cli(
        s.store(),
        &[
            "client",
            "create",
            "--client-id",
            "receiver",
            "--name",
            "Receiver",
            "--grant-type",
            "client_credentials",
            "--scope",
            "ssf.manage ssf.read",
        ],
    )
    .await
    .expect("a receiver without redirect URIs is created");
    let rx = &out[0];
    assert_eq!(rx["grant_types"], serde_json::json!(["client_credentials"]));
    assert_eq!(rx["scopes"], serde_json::json!(["ssf.manage", "ssf.read"]));
    let secret = rx["client_secret"].as_str().expect("a secret").to_string();
    // A public client may not have the grant.
    let e = cli(
        s.store(),
        &[
            "client",
            "create",
            "--name",
            "SPA",
            "--public",
            "--redirect-uri",
            "https://spa.example/cb",
            "--grant-type",
            "client_credentials",
        ],
    )
    .await
    .unwrap_err();
    assert!(e.contains("confidential"), "{e}");
    let r = s
        .http
        .post(s.url("/oauth2/token"))
        .basic_auth("receiver", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["scope"], "ssf.manage ssf.read");
}
