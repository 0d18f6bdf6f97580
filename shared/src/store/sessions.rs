//! Session items and their partition (session, token links, deliveries).

use super::{item_key, n, s, sk_of, Cursor, Item, Page, Store};
use crate::store::schema::{
    from_item, keys, to_item, DeliveryItem, IssuedCounter, SessionApp, SessionItem, SessionStatus,
    SessionTokenLink, UserItem, GSI_DUE, GSI_LIVE, GSI_USER,
};
use crate::store::StoreError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use std::collections::HashMap;

/// Everything stored under `SESSION#<sid>`.
#[derive(Debug, Default)]
pub struct SessionPartition {
    /// The session item itself (`SESSION#<sid>` / `SESSION`), with its issued counter folded into
    /// `version`; `None` if the session was never written or is gone.
    pub session: Option<SessionItem>,
    /// The session's token links (`TOKEN#…`): the tokens issued to it, held or mapped.
    pub links: Vec<SessionTokenLink>,
    /// The back-channel logout deliveries written when it ended (`LOGOUT#<client>`).
    pub deliveries: Vec<DeliveryItem>,
}

/// Filters of the global session search; all optional and combined with AND.
#[derive(Debug, Default, Clone)]
pub struct SessionFilter {
    /// Sessions of this user only.
    pub user_id: Option<String>,
    /// Sessions this app has joined (`apps` holds it).
    pub client_id: Option<String>,
    /// Sessions signed in from exactly this address.
    pub ip: Option<String>,
    /// Sessions whose user agent contains this text (case-sensitive, DynamoDB `contains`).
    pub user_agent_contains: Option<String>,
    /// Signed in at or after this time (epoch ms, `created_ms`).
    pub login_from_ms: Option<i64>,
    /// Signed in at or before this time (epoch ms, `created_ms`).
    pub login_to_ms: Option<i64>,
    /// Last used at or after this time (epoch ms, `last_seen_ms`).
    pub access_from_ms: Option<i64>,
    /// Last used at or before this time (epoch ms, `last_seen_ms`).
    pub access_to_ms: Option<i64>,
}

impl Store {
    /// Create a session. 1 round trip (PutItem, condition: new id).
    pub async fn put_session(&self, session: &SessionItem) -> Result<(), StoreError> {
        self.put(to_item(session)?, Some("attribute_not_exists(pk)"))
            .await
    }

    /// 1 round trip (GetItem). Returns the item whatever its status; callers check
    /// [`SessionItem::is_live`].
    pub async fn get_session(&self, sid: &str) -> Result<Option<SessionItem>, StoreError> {
        self.get(&keys::session_pk(sid), keys::SESSION_SK)
            .await?
            .map(from_item)
            .transpose()
    }

    /// A session and a user in 1 round trip (BatchGetItem), for callers that know both ids
    /// (the session cookie carries the user id). Each is `None` if absent.
    pub async fn get_session_and_user(
        &self,
        sid: &str,
        user_id: &str,
    ) -> Result<(Option<SessionItem>, Option<UserItem>), StoreError> {
        let wanted = [
            (keys::session_pk(sid), keys::SESSION_SK.to_string()),
            keys::user(user_id),
        ];
        let mut got = self.get_many(&wanted).await?.into_iter();
        let session = got.next().flatten().map(from_item).transpose()?;
        let user = got.next().flatten().map(from_item).transpose()?;
        Ok((session, user))
    }

    /// The whole session partition. 1 round trip (Query) for any realistic session.
    pub async fn session_partition(&self, sid: &str) -> Result<SessionPartition, StoreError> {
        let items = self.query_partition(&keys::session_pk(sid), None).await?;
        let mut p = SessionPartition::default();
        let mut issued = 0;
        for it in items {
            let sk = sk_of(&it).to_string();
            if sk == keys::SESSION_SK {
                p.session = Some(from_item(it)?);
            } else if sk == keys::ISSUED_SK {
                issued = from_item::<IssuedCounter>(it)?.v;
            } else if sk.starts_with(keys::TOKEN_LINK_PREFIX) {
                p.links.push(from_item(it)?);
            } else if sk.starts_with(keys::DELIVERY_PREFIX) {
                p.deliveries.push(from_item(it)?);
            }
        }
        if let Some(s) = p.session.as_mut() {
            s.version = issued;
        }
        Ok(p)
    }

    /// Record activity (and optionally an app) on a live session: last access, idle expiry,
    /// and the index keys that sort by them. 1 round trip (UpdateItem). Fails with
    /// `ConditionFailed` if the session is no longer active.
    pub async fn touch_session(
        &self,
        session: &SessionItem,
        now_ms: i64,
        idle_secs: i64,
        app: Option<(&str, &SessionApp)>,
    ) -> Result<SessionItem, StoreError> {
        let idle_exp = (now_ms / 1000 + idle_secs).min(session.absolute_expires_at);
        let mut expr = String::from(
            "SET last_seen_ms = :now, idle_expires_at = :idle, gsi3sk = :g3, gsi2sk = :g2",
        );
        let mut u = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(
                keys::session_pk(&session.sid),
                keys::SESSION_SK,
            )))
            .condition_expression("#st = :active")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":active", s(SessionStatus::Active))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":idle", n(idle_exp))
            .expression_attribute_values(":g3", s(keys::live_sort(now_ms, &session.sid)))
            .expression_attribute_values(
                ":g2",
                s(keys::due_sort(
                    idle_exp.min(session.absolute_expires_at),
                    &session.sid,
                )),
            )
            .return_values(ReturnValue::AllNew);
        if let Some((client_id, a)) = app {
            expr.push_str(", apps.#cid = :app");
            u = u
                .expression_attribute_names("#cid", client_id)
                .expression_attribute_values(
                    ":app",
                    AttributeValue::M(
                        serde_dynamo::to_item(a).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    ),
                );
        }
        let out = u
            .update_expression(expr)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        from_item(out.attributes.unwrap_or_default())
    }

    /// A user's live sessions, newest login first, with keyset paging.
    /// Round trips: 1 Query per page of the index (1 in practice: a user has few sessions).
    pub async fn list_user_sessions(
        &self,
        user_id: &str,
        now_s: i64,
        limit: usize,
        cursor: Option<&Cursor>,
    ) -> Result<Page<SessionItem>, StoreError> {
        let mut start = cursor.and_then(|c| c.get("u"));
        let mut items: Vec<SessionItem> = Vec::new();
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI_USER)
                .key_condition_expression("gsi1pk = :pk")
                .filter_expression(
                    "#st = :active AND idle_expires_at > :now AND absolute_expires_at > :now",
                )
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":pk", s(keys::user_sessions_gsi(user_id)))
                .expression_attribute_values(":active", s(SessionStatus::Active))
                .expression_attribute_values(":now", n(now_s))
                .scan_index_forward(false)
                .limit((limit - items.len()) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            for it in out.items.unwrap_or_default() {
                items.push(from_item(it)?);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => {
                    if items.len() >= limit {
                        let mut c = Cursor::default();
                        // Keyset position = the last item returned.
                        let last = items.last().map(user_index_key).unwrap_or(k);
                        c.set("u", &last);
                        return Ok(Page {
                            items,
                            next: Some(c.encode()),
                        });
                    }
                    start = Some(k);
                }
                _ => return Ok(Page { items, next: None }),
            }
        }
    }

    /// Every live session of a user (for "end all"). Round trips: 1 Query per 1 MB page.
    pub async fn all_user_sessions(
        &self,
        user_id: &str,
        now_s: i64,
    ) -> Result<Vec<SessionItem>, StoreError> {
        let mut out = Vec::new();
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = self
                .list_user_sessions(user_id, now_s, 500, cursor.as_ref())
                .await?;
            out.extend(page.items);
            match page.next.and_then(|c| Cursor::decode(&c)) {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// The global session search: live sessions, newest activity first, filtered, with a
    /// keyset cursor that carries each shard's position. No Scan: one Query per shard per
    /// round, the shards queried in parallel.
    ///
    /// Each shard is read until it yields `limit + 1` matches or ends, so a shard that keeps
    /// a place in the cursor always has a match left: a `next` cursor never leads to an
    /// empty page (DynamoDB returns a LastEvaluatedKey whenever `Limit` is reached, even when
    /// nothing follows).
    pub async fn search_sessions(
        &self,
        filter: &SessionFilter,
        now_s: i64,
        limit: usize,
        cursor: Option<&Cursor>,
    ) -> Result<Page<SessionItem>, StoreError> {
        let mut expr = vec![
            "#st = :active".to_string(),
            "idle_expires_at > :now".into(),
            "absolute_expires_at > :now".into(),
        ];
        let mut names: HashMap<String, String> = HashMap::new();
        names.insert("#st".into(), "status".into());
        let mut values: HashMap<String, AttributeValue> = HashMap::new();
        values.insert(":active".into(), s(SessionStatus::Active));
        values.insert(":now".into(), n(now_s));
        if let Some(u) = &filter.user_id {
            expr.push("user_id = :uid".into());
            values.insert(":uid".into(), s(u.clone()));
        }
        if let Some(c) = &filter.client_id {
            expr.push("attribute_exists(apps.#app)".into());
            names.insert("#app".into(), c.clone());
        }
        if let Some(ip) = &filter.ip {
            expr.push("ip = :ip".into());
            values.insert(":ip".into(), s(ip.clone()));
        }
        if let Some(ua) = &filter.user_agent_contains {
            expr.push("contains(user_agent, :ua)".into());
            values.insert(":ua".into(), s(ua.clone()));
        }
        for (v, attr, op, name) in [
            (filter.login_from_ms, "created_ms", ">=", ":lf"),
            (filter.login_to_ms, "created_ms", "<=", ":lt"),
            (filter.access_from_ms, "last_seen_ms", ">=", ":af"),
            (filter.access_to_ms, "last_seen_ms", "<=", ":at"),
        ] {
            if let Some(v) = v {
                expr.push(format!("{attr} {op} {name}"));
                values.insert(name.into(), n(v));
            }
        }
        let filter_expr = expr.join(" AND ");

        // Per shard: the items of its next page and whether it has more. Every shard up to
        // the highest count ever written ([`Store::read_shards`]).
        let ceiling = self.read_shards().await?.live;
        let shards: Vec<u32> = (0..ceiling)
            .filter(|sh| {
                // A cursor marks exhausted shards by leaving them out; a fresh search uses all.
                cursor.is_none_or(|c| c.0.contains_key(&sh.to_string()))
            })
            .collect();
        let futs = shards.iter().map(|sh| {
            let start = cursor.and_then(|c| c.get(&sh.to_string()));
            let filter_expr = filter_expr.clone();
            let names = names.clone();
            let values = values.clone();
            async move {
                let mut got: Vec<Item> = Vec::new();
                let mut start = start;
                loop {
                    let out = self
                        .client
                        .query()
                        .table_name(&self.table)
                        .index_name(GSI_LIVE)
                        .key_condition_expression("gsi3pk = :shard")
                        .filter_expression(filter_expr.clone())
                        .set_expression_attribute_names(Some(names.clone()))
                        .set_expression_attribute_values(Some({
                            let mut v = values.clone();
                            v.insert(":shard".into(), s(keys::live_gsi(*sh)));
                            v
                        }))
                        .scan_index_forward(false)
                        .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(StoreError::from_sdk)?;
                    got.extend(out.items.unwrap_or_default());
                    match out.last_evaluated_key {
                        Some(k) if !k.is_empty() => {
                            if got.len() > limit {
                                return Ok::<_, StoreError>((*sh, got));
                            }
                            start = Some(k);
                        }
                        _ => return Ok((*sh, got)),
                    }
                }
            }
        });
        let results = futures::future::try_join_all(futs).await?;
        // Merge by gsi3sk descending, take `limit`.
        let mut all: Vec<(u32, String, Item)> = Vec::new();
        let mut got: HashMap<u32, usize> = HashMap::new();
        for (sh, items) in results {
            got.insert(sh, items.len());
            for it in items {
                let k = match it.get("gsi3sk") {
                    Some(AttributeValue::S(v)) => v.clone(),
                    _ => String::new(),
                };
                all.push((sh, k, it));
            }
        }
        all.sort_by(|a, b| b.1.cmp(&a.1));
        let taken: Vec<(u32, String, Item)> = all.into_iter().take(limit).collect();
        let mut next = Cursor::default();
        for sh in &shards {
            let key = sh.to_string();
            let n_got = got.remove(sh).unwrap_or(0);
            let mine: Vec<&Item> = taken.iter().filter(|t| t.0 == *sh).map(|t| &t.2).collect();
            if mine.len() < n_got {
                // Some of this shard's items were not taken: resume after the last taken one,
                // or where this shard started if none was taken.
                match mine.last() {
                    Some(last) => next.set(&key, &live_index_key(last)),
                    None => match cursor.and_then(|c| c.get(&key)) {
                        Some(start) => next.set(&key, &start),
                        None => next.set(&key, &HashMap::new()),
                    },
                }
            }
            // else: every match this shard yielded was taken. It yields `limit + 1` matches
            // whenever it has them, and at most `limit` are taken, so it is exhausted and
            // leaves the cursor.
        }
        let items = taken
            .into_iter()
            .map(|t| from_item(t.2))
            .collect::<Result<Vec<SessionItem>, _>>()?;
        Ok(Page {
            items,
            next: if next.is_empty() {
                None
            } else {
                Some(next.encode())
            },
        })
    }

    /// Live sessions whose expiry has passed (for the relay's sweep), oldest first.
    /// 1 Query per shard.
    pub async fn due_sessions(
        &self,
        now_s: i64,
        limit: usize,
    ) -> Result<Vec<SessionItem>, StoreError> {
        self.due_items(keys::due_session_gsi, now_s, limit).await
    }

    /// The items of one `gsi2` key family (`shard → partition key`) due by `now_s`, across
    /// every due shard: 1 Query per shard, at most `limit` items each. The expiry sweep and
    /// the relay's re-send both read the due index this way.
    pub(crate) async fn due_items<T: serde::de::DeserializeOwned>(
        &self,
        partition_of: fn(u32) -> String,
        now_s: i64,
        limit: usize,
    ) -> Result<Vec<T>, StoreError> {
        self.due_items_raw(partition_of, now_s, limit)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// [`Store::due_items`] as the items read.
    pub(crate) async fn due_items_raw(
        &self,
        partition_of: fn(u32) -> String,
        now_s: i64,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let shards = self.read_shards().await?.due;
        let mut reads = Vec::with_capacity(shards as usize);
        for sh in 0..shards {
            let pk = partition_of(sh);
            reads.push(async move { self.due_query(&pk, now_s, limit).await });
        }
        // The shards side by side (16 at a time), in shard order.
        let pages: Vec<Vec<Item>> = stream::iter(reads).buffered(16).try_collect().await?;
        Ok(pages.into_iter().flatten().collect())
    }

    async fn due_query(&self, pk: &str, now_s: i64, limit: usize) -> Result<Vec<Item>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI_DUE)
            .key_condition_expression("gsi2pk = :pk AND gsi2sk <= :upto")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":upto", s(keys::due_sort(now_s, "~")))
            .limit(limit as i32)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.items.unwrap_or_default())
    }
}

fn user_index_key(s_: &SessionItem) -> Item {
    let mut k = item_key(s_.pk.clone(), s_.sk.clone());
    if let (Some(a), Some(b)) = (&s_.gsi1pk, &s_.gsi1sk) {
        k.insert("gsi1pk".into(), s(a.clone()));
        k.insert("gsi1sk".into(), s(b.clone()));
    }
    k
}

fn live_index_key(it: &Item) -> Item {
    ["pk", "sk", "gsi3pk", "gsi3sk"]
        .iter()
        .filter_map(|k| it.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

/// Build the link mapping `tokens` (hash → expiry) of `family` to a session, keyed by `key`
/// (an exchanged code's hash, or a hash of one of the tokens). Kept until the latest expiry
/// and at least until `keep_until`.
pub fn token_link(
    sid: &str,
    key: &str,
    tokens: std::collections::BTreeMap<String, i64>,
    family: &str,
    keep_until: i64,
) -> SessionTokenLink {
    let expires_at = tokens.values().copied().fold(keep_until, i64::max);
    SessionTokenLink {
        pk: keys::session_pk(sid),
        sk: keys::session_token_sk(key),
        tokens,
        family: family.to_string(),
        expires_at,
        rotated: None,
        grant: None,
        access_status: None,
        refresh_status: None,
        revoked_reason: None,
        offline_refresh: None,
    }
}
