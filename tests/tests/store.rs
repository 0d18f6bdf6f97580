//! The store against real engines over the wire: every test runs against the embedded
//! dynoxide engine and against moto server.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::BTreeMap;
use warden_core::platform::time::{now_ms, now_s};
use warden_core::session;
use warden_core::store::schema::{keys, table_def, SessionApp, SessionItem, Shards, TokenItem};
use warden_core::store::{Cursor, Issue, SessionFilter, TokenRef};
use warden_core::{Store, StoreError};
use warden_tests::both_engines;
use warden_tests::{dynoxide_store, moto_store};

fn session_item(uid: &str, sid: &str, created: i64, idle_exp: i64) -> SessionItem {
    warden_tests::live_session_item(uid, sid, created, idle_exp, Shards::DEFAULT)
}

fn token(kind: &str, family: &str, sid: &str) -> TokenItem {
    let (pk, sk) = keys::token(&warden_core::platform::crypto::random_id());
    TokenItem {
        pk,
        sk,
        kind: warden_core::store::schema::TokenKind::parse(kind).expect("a token kind"),
        client_id: "c".into(),
        user_id: "u".into(),
        scope: "openid".into(),
        iat: now_s(),
        exp: now_s() + 3600,
        status: warden_core::store::schema::TokenStatus::Active,
        sessions: vec![sid.into()],
        family: family.into(),
        auth_time: now_s(),
        revoked_reason: None,
        offline: false,
        expires_at: now_s() + 3600,
    }
}

async fn table_matches_definition(store: &Store) {
    let diffs = warden_core::store::describe_matches(&store.client, &store.table)
        .await
        .unwrap();
    assert!(diffs.is_empty(), "{diffs:?}");
    assert_eq!(table_def().gsis.len(), 3);
    // Creating again is idempotent.
    assert!(
        !warden_core::store::create_table(&store.client, &store.table)
            .await
            .unwrap()
    );
}
both_engines!(table_definition, table_matches_definition);

async fn sessions_list_page_and_expire(store: &Store) {
    let now = now_s();
    for i in 0..5 {
        store
            .put_session(&session_item(
                "alice",
                &format!("s{i}"),
                now_ms() - 1000 * (10 - i),
                now + 600,
            ))
            .await
            .unwrap();
    }
    // One expired session that TTL has not removed: never listed.
    store
        .put_session(&session_item("alice", "old", now_ms() - 50_000, now - 1))
        .await
        .unwrap();
    store
        .put_session(&session_item("bob", "b1", now_ms(), now + 600))
        .await
        .unwrap();
    // Duplicate id refused.
    assert!(matches!(
        store
            .put_session(&session_item("bob", "b1", now_ms(), now + 600))
            .await,
        Err(StoreError::ConditionFailed)
    ));
    let p1 = store
        .list_user_sessions("alice", now, 2, None)
        .await
        .unwrap();
    assert_eq!(p1.items.len(), 2);
    assert_eq!(p1.items[0].sid, "s4", "newest first");
    let c = Cursor::decode(p1.next.as_deref().unwrap()).unwrap();
    let p2 = store
        .list_user_sessions("alice", now, 2, Some(&c))
        .await
        .unwrap();
    let p3 = store
        .list_user_sessions(
            "alice",
            now,
            2,
            Cursor::decode(p2.next.as_deref().unwrap()).as_ref(),
        )
        .await
        .unwrap();
    let all: Vec<String> = [p1.items, p2.items, p3.items]
        .concat()
        .into_iter()
        .map(|s| s.sid)
        .collect();
    assert_eq!(all, vec!["s4", "s3", "s2", "s1", "s0"]);
    assert!(p3.next.is_none());
    let due = store.due_sessions(now, 100).await.unwrap();
    assert_eq!(
        due.iter().map(|s| s.sid.as_str()).collect::<Vec<_>>(),
        vec!["old"]
    );
}
both_engines!(sessions_paging, sessions_list_page_and_expire);

async fn global_search_pages_across_shards(store: &Store) {
    let now = now_s();
    for i in 0..23 {
        let mut s = session_item(
            if i % 2 == 0 { "u1" } else { "u2" },
            &format!("g{i:02}"),
            now_ms() - 100_000 + i * 1000,
            now + 600,
        );
        if i % 3 == 0 {
            s.apps.insert(
                "app1".into(),
                SessionApp {
                    name: "App".into(),
                    first_auth_ms: 1,
                    last_auth_ms: 1,
                    backchannel: false,
                },
            );
        }
        store.put_session(&s).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor: Option<Cursor> = None;
    for _ in 0..20 {
        let page = store
            .search_sessions(&SessionFilter::default(), now, 5, cursor.as_ref())
            .await
            .unwrap();
        assert!(page.items.len() <= 5);
        assert!(!page.items.is_empty(), "a next cursor led to an empty page");
        seen.extend(page.items.into_iter().map(|s| s.sid));
        match page.next {
            Some(n) => cursor = Some(Cursor::decode(&n).unwrap()),
            None => break,
        }
    }
    let mut expected: Vec<String> = (0..23).rev().map(|i| format!("g{i:02}")).collect();
    assert_eq!(seen, expected, "newest activity first, no gaps, no repeats");
    // A result that fills its last page exactly (u1 has 12 sessions, 4 per page) ends
    // there: no `next` after the third page, so no empty fourth page.
    let f = SessionFilter {
        user_id: Some("u1".into()),
        ..Default::default()
    };
    let mut pages = Vec::new();
    let mut cursor: Option<Cursor> = None;
    for _ in 0..10 {
        let page = store
            .search_sessions(&f, now, 4, cursor.as_ref())
            .await
            .unwrap();
        pages.push(page.items.len());
        match page.next {
            Some(n) => cursor = Some(Cursor::decode(&n).unwrap()),
            None => break,
        }
    }
    assert_eq!(pages, vec![4, 4, 4], "pages of u1's 12 sessions");
    // The case DynamoDB makes easy to get wrong: all of a user's matches in one shard and
    // a page exactly their size. The shard's Query hits `Limit` and answers with a
    // LastEvaluatedKey though nothing follows; that must not become a `next`.
    let same_shard: Vec<String> = (0..2000)
        .map(|i| format!("u3-{i}"))
        .filter(|sid| keys::live_shard(sid, Shards::DEFAULT) == 0)
        .take(3)
        .collect();
    for (i, sid) in same_shard.iter().enumerate() {
        // Newest of all, so they are the first three items the shard's Query reads.
        let s = session_item("u3", sid, now_ms() + 10_000 + i as i64, now + 600);
        store.put_session(&s).await.unwrap();
    }
    let f = SessionFilter {
        user_id: Some("u3".into()),
        ..Default::default()
    };
    let page = store.search_sessions(&f, now, 3, None).await.unwrap();
    assert_eq!(page.items.len(), 3);
    assert!(page.next.is_none(), "no next page when nothing follows");
    let all = store
        .search_sessions(&SessionFilter::default(), now, 26, None)
        .await
        .unwrap();
    assert_eq!(all.items.len(), 26);
    assert!(all.next.is_none(), "everything fits one page: no next");
    let f = SessionFilter {
        user_id: Some("u1".into()),
        client_id: Some("app1".into()),
        ..Default::default()
    };
    let page = store.search_sessions(&f, now, 50, None).await.unwrap();
    expected = (0..23)
        .rev()
        .filter(|i| i % 2 == 0 && i % 3 == 0)
        .map(|i| format!("g{i:02}"))
        .collect();
    assert_eq!(
        page.items.into_iter().map(|s| s.sid).collect::<Vec<_>>(),
        expected
    );
    let f = SessionFilter {
        user_agent_contains: Some("Chrome".into()),
        ..Default::default()
    };
    assert!(store
        .search_sessions(&f, now, 50, None)
        .await
        .unwrap()
        .items
        .is_empty());
}
both_engines!(global_search, global_search_pages_across_shards);

async fn codes_are_single_use(store: &Store) {
    let now = now_s();
    store
        .put_session(&session_item("u", "c1", now_ms(), now + 600))
        .await
        .unwrap();
    let hash = warden_core::platform::crypto::hash_secret("the-code");
    let exchange = |family: &str| {
        let t = token("access", family, "c1");
        Issue {
            new_tokens: vec![(t.pk.trim_start_matches("TOKEN#").to_string(), t)],
            family: family.into(),
            sessions: vec!["c1".into()],
            code: Some((hash.clone(), now + 7200)),
            ..Default::default()
        }
    };
    let first = exchange("f1");
    store.issue(&first).await.unwrap();
    // The second exchange of the same code is refused as a whole: no token, no link.
    let second = exchange("f2");
    assert!(matches!(
        store.issue(&second).await,
        Err(StoreError::AlreadyUsed { .. })
    ));
    assert!(store
        .get_token(&second.new_tokens[0].0)
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.session_partition("c1").await.unwrap().links.len(), 1);
    // The code's link names the family the first exchange created and its tokens, and is
    // kept past the tokens' expiry for as long as the code could be replayed; only the
    // code's hash is stored.
    let l = store.get_code_link("c1", &hash).await.unwrap().unwrap();
    assert_eq!(
        (l.sk, l.family),
        (keys::session_token_sk(&hash), "f1".to_string())
    );
    let (h1, t1) = &first.new_tokens[0];
    assert_eq!(
        l.tokens,
        std::collections::BTreeMap::from([(h1.clone(), t1.expires_at)])
    );
    assert_eq!(l.expires_at, now + 7200);
    assert!(store.get_code_link("c1", "nope").await.unwrap().is_none());
    // The family's tokens are found through the session's links.
    let sessions = vec!["c1".to_string()];
    assert_eq!(
        store.family_tokens(&sessions, "f1").await.unwrap(),
        vec![TokenRef::Item(h1.clone())]
    );
    assert!(store
        .family_tokens(&sessions, "f2")
        .await
        .unwrap()
        .is_empty());
}
both_engines!(codes, codes_are_single_use);

/// A link written before one link per issuance (one token: `token_hash`, `kind`, `family`)
/// is read as a link holding that token, so a session from before still revokes it.
async fn one_token_links_from_before_are_read(store: &Store) {
    let now = now_s();
    store
        .put_session(&session_item("u", "old1", now_ms(), now + 600))
        .await
        .unwrap();
    let old = std::collections::HashMap::from([
        (
            "pk".to_string(),
            AttributeValue::S(keys::session_pk("old1")),
        ),
        (
            "sk".to_string(),
            AttributeValue::S(keys::session_token_sk("h1")),
        ),
        ("token_hash".to_string(), AttributeValue::S("h1".into())),
        ("kind".to_string(), AttributeValue::S("refresh".into())),
        ("family".to_string(), AttributeValue::S("fam".into())),
        (
            "expires_at".to_string(),
            AttributeValue::N((now + 60).to_string()),
        ),
    ]);
    store
        .client
        .put_item()
        .table_name(&store.table)
        .set_item(Some(old))
        .send()
        .await
        .unwrap();
    let links = store.session_partition("old1").await.unwrap().links;
    assert_eq!(links.len(), 1);
    assert_eq!(
        links[0].tokens,
        BTreeMap::from([("h1".to_string(), now + 60)])
    );
    assert_eq!(links[0].family, "fam");
    assert_eq!(
        store
            .family_tokens(&["old1".to_string()], "fam")
            .await
            .unwrap(),
        vec![TokenRef::Item("h1".to_string())]
    );
}
both_engines!(old_links, one_token_links_from_before_are_read);

/// A `pending` delivery of session `sid` to `cid`, due a second ago.
fn pending_delivery(sid: &str, cid: &str, now: i64) -> warden_core::store::schema::DeliveryItem {
    warden_core::store::schema::DeliveryItem {
        pk: keys::session_pk(sid),
        sk: keys::delivery_sk(cid),
        sid: sid.into(),
        client_id: cid.into(),
        user_id: "u".into(),
        status: warden_core::store::schema::DeliveryStatus::Pending,
        attempts: 0,
        last_http_status: None,
        last_error: None,
        created_ms: now_ms(),
        updated_ms: now_ms(),
        delivered_ms: None,
        reason: "user".into(),
        gsi2pk: Some(keys::due_logout_gsi(keys::due_shard(sid, Shards::DEFAULT))),
        gsi2sk: Some(keys::due_sort(now - 1, &format!("{sid}#{cid}"))),
        expires_at: now + 1000,
    }
}

async fn termination_revokes_and_writes_deliveries(store: &Store) {
    let now = now_s();
    let mut s = session_item("u", "t1", now_ms(), now + 600);
    s.apps.insert(
        "rp".into(),
        SessionApp {
            name: "RP".into(),
            first_auth_ms: 1,
            last_auth_ms: 1,
            backchannel: true,
        },
    );
    store.put_session(&s).await.unwrap();
    let a = token("access", "fam", "t1");
    let r = token("refresh", "fam", "t1");
    let ha = a.pk.trim_start_matches("TOKEN#").to_string();
    let hr = r.pk.trim_start_matches("TOKEN#").to_string();
    store
        .issue(&Issue {
            new_tokens: vec![(ha.clone(), a), (hr.clone(), r)],
            family: "fam".into(),
            sessions: vec!["t1".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    // One link maps both tokens of the issuance.
    let part = store.session_partition("t1").await.unwrap();
    assert_eq!(part.links.len(), 1);
    assert_eq!(part.links[0].tokens.len(), 2);
    let s = part.session.unwrap();
    assert_eq!(s.version, 1);
    // A stale version (a token mapped meanwhile) makes the commit fail, not half-apply.
    let mut stale = s.clone();
    stale.version = 0;
    assert!(matches!(
        store
            .commit_termination(&stale, &[], &[], "user", now_ms())
            .await,
        Err(StoreError::ConditionFailed)
    ));
    let d = pending_delivery("t1", "rp", now);
    store
        .commit_termination(
            &s,
            &[TokenRef::Item(ha.clone()), TokenRef::Item(hr.clone())],
            std::slice::from_ref(&d),
            "user",
            now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_token(&ha).await.unwrap().unwrap().status,
        "revoked"
    );
    assert_eq!(
        store.get_token(&hr).await.unwrap().unwrap().status,
        "revoked"
    );
    let ended = store.get_session("t1").await.unwrap().unwrap();
    assert_eq!(ended.status, "ended");
    assert!(ended.gsi3pk.is_none() && ended.gsi1pk.is_none());
    assert!(store
        .list_user_sessions("u", now, 10, None)
        .await
        .unwrap()
        .items
        .is_empty());
    // Issuing to an ended session is refused.
    let late = token("access", "fam2", "t1");
    let hl = late.pk.trim_start_matches("TOKEN#").to_string();
    assert!(matches!(
        store
            .issue(&Issue {
                new_tokens: vec![(hl, late)],
                sessions: vec!["t1".into()],
                ..Default::default()
            })
            .await,
        Err(StoreError::ConditionFailed)
    ));
    let due = store.due_deliveries(now, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    store
        .record_delivery(
            "t1",
            "rp",
            &warden_core::store::DeliveryOutcome::Delivered(204),
            now_ms(),
            now,
        )
        .await
        .unwrap();
    assert!(store.due_deliveries(now, 10).await.unwrap().is_empty());
    let d = store.get_delivery("t1", "rp").await.unwrap().unwrap();
    assert_eq!(
        (d.status.as_str(), d.attempts, d.last_http_status),
        ("delivered", 1, Some(204))
    );
}
both_engines!(termination, termination_revokes_and_writes_deliveries);

/// A dispatcher batch is recorded in one transaction; when one delivery is already final
/// (a duplicate message) the others are still recorded, one by one, and the final one is
/// left as it was.
async fn delivery_batches_record_together(store: &Store) {
    use warden_core::store::{DeliveryOutcome, DeliveryRecord};
    let now = now_s();
    let s = session_item("u", "b1", now_ms(), now + 600);
    store.put_session(&s).await.unwrap();
    let ds: Vec<_> = ["a", "b", "c", "d"]
        .iter()
        .map(|c| pending_delivery("b1", c, now))
        .collect();
    store
        .commit_termination(&s, &[], &ds, "user", now_ms())
        .await
        .unwrap();
    let ok = DeliveryOutcome::Delivered(200);
    let retry = DeliveryOutcome::Retry {
        http_status: Some(503),
        error: "HTTP 503".into(),
    };
    fn rec<'a>(cid: &'a str, outcome: &'a DeliveryOutcome) -> DeliveryRecord<'a> {
        DeliveryRecord {
            sid: "b1",
            client_id: cid,
            outcome,
            retry_due_s: now_s() + 300,
        }
    }
    let (ok, retry) = (&ok, &retry);
    // All pending: one transaction.
    let r = store
        .record_deliveries(&[rec("a", ok), rec("b", retry)], now_ms())
        .await;
    assert!(r.iter().all(|x| x.is_ok()), "{r:?}");
    let a = store.get_delivery("b1", "a").await.unwrap().unwrap();
    let b = store.get_delivery("b1", "b").await.unwrap().unwrap();
    assert_eq!((a.status.as_str(), a.attempts), ("delivered", 1));
    assert_eq!(
        (b.status.as_str(), b.attempts, b.last_http_status),
        ("pending", 1, Some(503))
    );
    // "a" is final: the transaction is refused, the others are recorded one by one.
    let r = store
        .record_deliveries(&[rec("a", retry), rec("b", ok), rec("c", ok)], now_ms())
        .await;
    assert!(matches!(r[0], Err(StoreError::ConditionFailed)), "{r:?}");
    assert!(r[1].is_ok() && r[2].is_ok(), "{r:?}");
    let a = store.get_delivery("b1", "a").await.unwrap().unwrap();
    assert_eq!((a.status.as_str(), a.attempts), ("delivered", 1));
    for cid in ["b", "c"] {
        let d = store.get_delivery("b1", cid).await.unwrap().unwrap();
        assert_eq!(d.status, "delivered", "{cid}");
    }
    // The same delivery twice in one batch never reaches a transaction (DynamoDB refuses
    // those): the first is recorded, the second finds it final.
    let r = store
        .record_deliveries(&[rec("d", ok), rec("d", ok)], now_ms())
        .await;
    assert_eq!(r.iter().filter(|x| x.is_ok()).count(), 1, "{r:?}");
    let d = store.get_delivery("b1", "d").await.unwrap().unwrap();
    assert_eq!((d.status.as_str(), d.attempts), ("delivered", 1));
    assert!(store.due_deliveries(now, 10).await.unwrap().is_empty());
}
both_engines!(delivery_batches, delivery_batches_record_together);

async fn large_sessions_terminate_in_chunks(store: &Store) {
    let now = now_s();
    store
        .put_session(&session_item("u", "big", now_ms(), now + 600))
        .await
        .unwrap();
    let mut hashes = Vec::new();
    for chunk in 0..6 {
        let mut new_tokens = Vec::new();
        for _ in 0..25 {
            let t = token("access", &format!("f{chunk}"), "big");
            let h = t.pk.trim_start_matches("TOKEN#").to_string();
            hashes.push(h.clone());
            new_tokens.push((h, t));
        }
        // 25 tokens + 1 link + 1 session = 27 items per transaction.
        store
            .issue(&Issue {
                new_tokens,
                family: format!("f{chunk}"),
                sessions: vec!["big".into()],
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let part = store.session_partition("big").await.unwrap();
    assert_eq!(part.links.len(), 6);
    assert_eq!(
        part.links.iter().map(|l| l.tokens.len()).sum::<usize>(),
        150
    );
    let s = part.session.unwrap();
    let refs: Vec<TokenRef> = hashes.iter().cloned().map(TokenRef::Item).collect();
    store
        .commit_termination(&s, &refs, &[], "admin", now_ms())
        .await
        .unwrap();
    for h in &hashes {
        assert_eq!(store.get_token(h).await.unwrap().unwrap().status, "revoked");
    }
    assert_eq!(
        store.get_session("big").await.unwrap().unwrap().status,
        "ended"
    );
}
both_engines!(chunked_termination, large_sessions_terminate_in_chunks);

#[test]
fn session_cookie_value_shape() {
    assert!(session::parse_cookie_value("abc.def").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynoxide_round_trip_counter_counts() {
    let (_store, engine) = dynoxide_store().await;
    let counter = warden_core::store::RoundTrips::default();
    let client =
        warden_core::store::dynamodb_client(Some(&engine.endpoint), Some(counter.clone())).await;
    let store = Store::new(client, "warden");
    counter.reset();
    store.get_session("x").await.unwrap();
    assert_eq!(counter.get(), 1);
    let _ = moto_store; // both engines are exercised above
}

/// Tokens held by their link: the exchange writes no token items; `find_token` reads the
/// link and its session in one BatchGetItem; an access-only
/// revocation, a rotation and a termination change the link's states.
async fn held_tokens_live_in_their_link(store: &Store) {
    let now = now_s();
    let s = session_item("u", "h1", now_ms(), now + 600);
    store.put_session(&s).await.unwrap();
    let code_hash = warden_core::platform::crypto::hash_secret("a code");
    let at = warden_core::store::held_token::mint("h1", &code_hash);
    let rt = warden_core::store::held_token::mint("h1", &code_hash);
    let (ha, hr) = (
        warden_core::platform::crypto::hash_secret(&at),
        warden_core::platform::crypto::hash_secret(&rt),
    );
    let (ta, mut tr) = (token("access", "fam", "h1"), token("refresh", "fam", "h1"));
    tr.scope = "openid offline_access".into();
    // The link carries the grant the new tokens share.
    let grant = warden_core::store::schema::HeldGrant {
        client_id: "c".into(),
        user_id: "u".into(),
        scope: "openid".into(),
        refresh_scope: Some(tr.scope.clone()),
        iat: ta.iat,
        auth_time: ta.auth_time,
        access: ha.clone(),
        refresh: Some(hr.clone()),
    };
    store
        .issue(&Issue {
            new_tokens: vec![(hr.clone(), tr), (ha.clone(), ta)],
            hold: true,
            family: "fam".into(),
            sessions: vec!["h1".into()],
            code: Some((code_hash.clone(), now + 600)),
            ..Default::default()
        })
        .await
        .unwrap();
    // No token items: the session partition holds the session, the counter and one link.
    assert!(store.get_token(&ha).await.unwrap().is_none());
    let part = store.session_partition("h1").await.unwrap();
    assert_eq!(part.links.len(), 1);
    assert_eq!(part.links[0].family, "fam");
    assert_eq!(part.links[0].grant.as_ref(), Some(&grant));
    let a = store.find_token(&at).await.unwrap().unwrap();
    let r = store.find_token(&rt).await.unwrap().unwrap();
    assert_eq!(
        (a.item.kind.as_str(), a.item.status.as_str()),
        ("access", "active")
    );
    assert_eq!(a.item.scope, "openid");
    assert_eq!(r.item.kind, "refresh");
    assert_eq!(r.item.scope, "openid offline_access");
    assert_eq!(a.item.sessions, vec!["h1".to_string()]);
    assert!(store
        .find_token(&warden_core::store::held_token::mint("h1", &code_hash))
        .await
        .unwrap()
        .is_none());
    // The access token alone.
    let access_only = TokenRef::Held {
        sid: "h1".into(),
        key: code_hash.clone(),
        access_only: true,
    };
    store
        .revoke_tokens(&[access_only], "revoked")
        .await
        .unwrap();
    let status =
        |t: String| async move { store.find_token(&t).await.unwrap().unwrap().item.status };
    assert_eq!(status(at.clone()).await, "revoked");
    assert_eq!(status(rt.clone()).await, "active");
    // An expiry the relay has yet to act on already makes the held tokens revoked.
    store
        .client
        .update_item()
        .table_name(&store.table)
        .key("pk", AttributeValue::S(keys::session_pk("h1")))
        .key("sk", AttributeValue::S(keys::SESSION_SK.into()))
        .update_expression("SET idle_expires_at = :past")
        .expression_attribute_values(":past", AttributeValue::N((now - 1).to_string()))
        .send()
        .await
        .unwrap();
    let expired = store.find_token(&rt).await.unwrap().unwrap().item;
    assert_eq!(
        (expired.status.as_str(), expired.revoked_reason.as_deref()),
        ("revoked", Some("session_expired"))
    );
    // The session's end (here without touching the link) makes the refresh token revoked.
    let s = store
        .session_partition("h1")
        .await
        .unwrap()
        .session
        .unwrap();
    store
        .commit_termination(&s, &[], &[], "user", now_ms())
        .await
        .unwrap();
    let gone = store.find_token(&rt).await.unwrap().unwrap().item;
    assert_eq!(
        (gone.status.as_str(), gone.revoked_reason.as_deref()),
        ("revoked", Some("user"))
    );
}
both_engines!(held_tokens, held_tokens_live_in_their_link);
