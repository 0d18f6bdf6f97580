//! Shard counts are configuration (`WARDEN_LIVE_SHARDS`, `WARDEN_DUE_SHARDS`): changing them
//! needs no migration. Items keep the shard they were written into (it is part of their
//! index key); readers read every shard up to the highest count ever recorded, so a lowered
//! count still finds what a higher one wrote, and a search cursor stays valid across the
//! change. On both engines.

use warden_core::platform::time::{now_ms, now_s};
use warden_core::store::schema::{keys, SessionItem, Shards};
use warden_core::store::{Cursor, SessionFilter};
use warden_core::Store;
use warden_tests::both_engines;

/// A live session written the way a login writes it, into `store`'s configured shards.
fn session(store: &Store, uid: &str, sid: &str, last_ms: i64, idle_exp: i64) -> SessionItem {
    warden_tests::live_session_item(uid, sid, last_ms, idle_exp, store.shards())
}

/// Every page of the global search from `cursor` on, on `store`.
async fn search_all(store: &Store, cursor: Option<Cursor>, now: i64) -> Vec<String> {
    let mut sids = Vec::new();
    let mut cursor = cursor;
    loop {
        let page = store
            .search_sessions(&SessionFilter::default(), now, 3, cursor.as_ref())
            .await
            .unwrap();
        sids.extend(page.items.into_iter().map(|s| s.sid));
        match page.next {
            Some(n) => cursor = Some(Cursor::decode(&n).unwrap()),
            None => return sids,
        }
    }
}

async fn lowering_a_count_still_reads_what_the_higher_count_wrote(base: &Store) {
    let now = now_s();
    let t0 = now_ms();
    let wide = base.clone().with_shards(Shards { live: 16, due: 16 });
    let narrow = base.clone().with_shards(Shards { live: 2, due: 2 });
    // Written under 16 shards: most land in shards the narrow count never writes.
    let wide_sids: Vec<String> = (0..12).map(|i| format!("wide-{i:02}")).collect();
    for (i, sid) in wide_sids.iter().enumerate() {
        let live = session(&wide, "u1", sid, t0 + i as i64, now + 600);
        wide.put_session(&live).await.unwrap();
    }
    let above = wide_sids
        .iter()
        .filter(|sid| keys::live_shard(sid, wide.shards()) >= 2)
        .count();
    assert!(above >= 6, "the test needs sessions above the narrow count");
    // The wide deployment's search records its count; its first page's cursor is kept.
    let first = wide
        .search_sessions(&SessionFilter::default(), now, 3, None)
        .await
        .unwrap();
    assert_eq!(first.items.len(), 3);
    let cursor = Cursor::decode(&first.next.expect("more pages")).unwrap();
    assert_eq!(
        wide.read_shards().await.unwrap(),
        Shards { live: 16, due: 16 }
    );

    // The count is lowered: new sessions go to the two shards, readers still read 16.
    assert_eq!(
        narrow.read_shards().await.unwrap(),
        Shards { live: 16, due: 16 }
    );
    let narrow_sid = "narrow-00".to_string();
    let s = session(&narrow, "u1", &narrow_sid, t0 + 100, now + 600);
    assert!(keys::shard_in(s.gsi3pk.as_deref().unwrap()).unwrap() < 2);
    narrow.put_session(&s).await.unwrap();
    let mut all = search_all(&narrow, None, now).await;
    all.sort();
    let mut expected = wide_sids.clone();
    expected.push(narrow_sid.clone());
    expected.sort();
    assert_eq!(all, expected, "every session, whichever count wrote it");

    // The wide deployment's cursor goes on under the narrow one, from where it stopped:
    // every wide session not on the first page, none twice, none of the first page again
    // (a shard that had yielded nothing yet resumes from its start, so the session written
    // since may appear too).
    let rest = search_all(&narrow, Some(cursor), now).await;
    let shown: Vec<String> = first.items.iter().map(|s| s.sid.clone()).collect();
    let mut once = rest.clone();
    once.sort();
    once.dedup();
    assert_eq!(once.len(), rest.len(), "no session twice: {rest:?}");
    assert!(rest.iter().all(|sid| !shown.contains(sid)), "{rest:?}");
    for sid in wide_sids.iter().filter(|sid| !shown.contains(sid)) {
        assert!(rest.contains(sid), "{sid} is on a later page");
    }

    // The expiry sweep reads every due shard a wider count wrote.
    let expired: Vec<String> = (0..6).map(|i| format!("exp-{i}")).collect();
    for sid in &expired {
        let s = session(&wide, "u2", sid, t0, now - 5);
        wide.put_session(&s).await.unwrap();
    }
    let mut due: Vec<String> = narrow
        .due_sessions(now, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.sid)
        .collect();
    due.sort();
    assert_eq!(due, expired);
}
both_engines!(
    lowered,
    lowering_a_count_still_reads_what_the_higher_count_wrote
);

async fn a_raised_count_is_recorded_by_its_first_reader_and_never_lowered(base: &Store) {
    let small = base.clone().with_shards(Shards { live: 3, due: 5 });
    assert_eq!(
        small.read_shards().await.unwrap(),
        Shards { live: 3, due: 5 }
    );
    let raised = base.clone().with_shards(Shards { live: 8, due: 4 });
    // Per family the larger: live raised to 8, due stays at the recorded 5.
    assert_eq!(
        raised.read_shards().await.unwrap(),
        Shards { live: 8, due: 5 }
    );
    let lowered = base.clone().with_shards(Shards { live: 1, due: 1 });
    assert_eq!(
        lowered.read_shards().await.unwrap(),
        Shards { live: 8, due: 5 }
    );
}
both_engines!(
    recorded,
    a_raised_count_is_recorded_by_its_first_reader_and_never_lowered
);
