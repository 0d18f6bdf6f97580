//! Termination: the one path every way a session ends goes through — the Me API, the Admin
//! API, end_session, a login as another user, code replay and refresh reuse families, expiry.
//!
//! [`plan`] decides, from the session partition one Query read, which token links and
//! token items to revoke and which deliveries to write; it is pure, so its cases are unit
//! tests below. [`terminate`] runs it: the read, one conditional transaction
//! (`Store::commit_termination`), then the queue.

use crate::app::App;
use crate::outbound::queue::{DeliveryMessage, QueueMessage, SignalMessage};
use crate::platform::time::{now_ms, now_s};
use crate::session::{RECEIPT_RETENTION_SECS, RELAY_AFTER_SECS};
use crate::store::bulk::{ending_items, pack, Ending, BULK_RESERVED};
use crate::store::schema::{
    keys, DeliveryItem, DeliveryStatus, EndReason, EndedBy, SessionItem, SessionStatus,
    SessionTokenLink, SignalItem,
};
use crate::store::{StoreError, TokenRef, TX_LIMIT};
use std::collections::BTreeSet;

/// What [`terminate`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Terminated {
    /// The session was live and is now ended; `deliveries` logout notifications queued.
    Ended {
        /// How many back-channel deliveries were written (and sent to the queue).
        deliveries: usize,
    },
    /// It had already ended (idempotent success).
    AlreadyEnded,
    /// No such session (or, with an owner, not that owner's).
    NotFound,
}

/// What ending one session writes besides the session itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Every token to revoke, each once: a link holding live tokens as one item, a token
    /// item by its hash (a shared token linked by several issuances appears once).
    pub tokens: Vec<TokenRef>,
    /// One new delivery per app of the session with a back-channel URI that has none yet.
    pub deliveries: Vec<DeliveryItem>,
}

/// Decide a termination (no I/O). `links` and `existing` are the session partition's token
/// links and deliveries; `now_ms` the time of the decision; `relay_grace` how long the relay
/// leaves the new deliveries to the queue ([`App::relay_grace_secs`]).
///
/// * Tokens whose expiry passed are inactive already (and may be gone through TTL): skipped.
/// * Refresh tokens a later refresh rotated are unusable already: skipped (a held one's link
///   says so itself; a `TOKEN#` one is named by that refresh's link's `rotated`).
/// * A link holding a live token is revoked as one item ([`TokenRef::held`]); a token item
///   linked by several issuances (a shared token of binding `none`/`cookie`) once.
/// * An offline grant's refresh token (its client keeps `offline_access` tokens through
///   logout) stays active when the reason allows it ([`EndReason::keeps_offline_tokens`]):
///   it is registered under the user, who can still lose it to a credential change, a
///   disabled or deleted account or an administrator ([`revoke_offline_grant`]).
/// * An app without a back-channel URI gets no delivery; an app that has one already (a
///   termination retried after a conflict) gets no second.
///
/// How many transactions the result takes is the store's business
/// (`Store::commit_termination` chunks what does not fit in one).
pub fn plan(
    s: &SessionItem,
    links: &[SessionTokenLink],
    existing: &[DeliveryItem],
    reason: EndReason,
    now_ms: i64,
    relay_grace: i64,
) -> Plan {
    let now_s = now_ms / 1000;
    let rotated: BTreeSet<&String> = links.iter().filter_map(|l| l.rotated.as_ref()).collect();
    let tokens: BTreeSet<TokenRef> = links
        .iter()
        .flat_map(|l| -> Vec<TokenRef> {
            if l.grant.is_some() {
                return if l.holds_live_token(now_s) {
                    vec![TokenRef::held(l)]
                } else {
                    vec![]
                };
            }
            let kept = l
                .offline_refresh
                .as_ref()
                .filter(|_| reason.keeps_offline_tokens());
            l.tokens
                .iter()
                .filter(|(h, exp)| **exp > now_s && !rotated.contains(h) && kept != Some(*h))
                .map(|(h, _)| TokenRef::Item(h.clone()))
                .collect()
        })
        .collect();
    let deliveries = s
        .apps
        .iter()
        .filter(|(_, a)| a.backchannel)
        .filter(|(cid, _)| !existing.iter().any(|d| &d.client_id == *cid))
        .map(|(cid, _)| DeliveryItem {
            pk: keys::session_pk(&s.sid),
            sk: keys::delivery_sk(cid),
            sid: s.sid.clone(),
            client_id: cid.clone(),
            user_id: s.user_id.clone(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            last_http_status: None,
            last_error: None,
            created_ms: now_ms,
            updated_ms: now_ms,
            delivered_ms: None,
            reason: reason.to_string(),
            gsi2pk: Some(keys::due_logout_gsi(s.due_shard())),
            gsi2sk: Some(keys::delivery_due_sort(now_s + relay_grace, &s.sid, cid)),
            expires_at: now_s + RECEIPT_RETENTION_SECS,
        })
        .collect();
    Plan {
        tokens: tokens.into_iter().collect(),
        deliveries,
    }
}

/// End a session: one conditional transaction marks it ended, revokes every mapped token and
/// writes one delivery per app with a back-channel URI ([`plan`]); then the deliveries are
/// sent to the queue. If sending fails the deliveries stay pending and the relay sends them.
///
/// Round trips: 1 Query (session partition) + 1 TransactWriteItems (+1 per extra 100
/// live tokens; refresh tokens a later refresh rotated are not revoked again, so a long
/// session that refreshes often stays in one transaction) + 1 SQS SendMessageBatch per 10
/// deliveries. A concurrent token issuance bumps the session's issued counter and makes
/// the transaction's condition on it fail; it is then re-read and retried.
pub async fn terminate(
    app: &App,
    sid: &str,
    owner: Option<&str>,
    reason: EndReason,
) -> Result<Terminated, StoreError> {
    terminate_by(app, sid, owner, reason, None).await
}

/// [`terminate`], recording who ended the session: `by`, or without it the actor the reason
/// implies ([`EndReason::implied_actor`]: the system for expiry, the user for their own
/// logout, an unnamed administrator for the CLI).
pub async fn terminate_by(
    app: &App,
    sid: &str,
    owner: Option<&str>,
    reason: EndReason,
    by: Option<&EndedBy>,
) -> Result<Terminated, StoreError> {
    for _ in 0..5 {
        let part = app.store.session_partition(sid).await?;
        let Some(s) = part.session else {
            return Ok(Terminated::NotFound);
        };
        if owner.is_some_and(|o| o != s.user_id) {
            return Ok(Terminated::NotFound);
        }
        if s.status != SessionStatus::Active {
            return Ok(Terminated::AlreadyEnded);
        }
        let now = now_ms();
        let Plan { tokens, deliveries } = plan(
            &s,
            &part.links,
            &part.deliveries,
            reason,
            now,
            app.relay_grace_secs(RELAY_AFTER_SECS),
        );
        let actor = by
            .cloned()
            .unwrap_or_else(|| reason.implied_actor(&s.user_id));
        let signal = signal_record(app, &s.user_id, &[s.sid.as_str()], reason, &actor, now).await?;
        match app
            .store
            .commit_termination_signalled(
                &s,
                &tokens,
                &deliveries,
                signal.as_ref(),
                reason.as_str(),
                Some(&actor),
                now,
            )
            .await
        {
            Ok(()) => {}
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e),
        }
        tracing::info!(sid = %sid, reason = %reason, tokens = tokens.len(), deliveries = deliveries.len(), "session ended");
        let signals: Vec<String> = signal.into_iter().map(|g| g.id).collect();
        after_commit(
            app,
            &s.user_id,
            std::slice::from_ref(&s.sid),
            &deliveries,
            &signals,
            reason,
        )
        .await;
        return Ok(Terminated::Ended {
            deliveries: deliveries.len(),
        });
    }
    Err(StoreError::Backend(
        "session kept changing during termination".into(),
    ))
}

/// The Shared Signals outbox record of a termination of `sids`, when some stream may
/// receive it ([`App::signals_wanted`]: cached, 0 round trips when warm); `None` leaves the
/// termination exactly as it is without streams.
async fn signal_record(
    app: &App,
    user_id: &str,
    sids: &[&str],
    reason: EndReason,
    actor: &EndedBy,
    now: i64,
) -> Result<Option<SignalItem>, StoreError> {
    Ok(app
        .signals_wanted()
        .await?
        .then(|| SignalItem::termination(user_id, sids, reason, actor, now)))
}

/// What follows a committed termination of `sids` (all of `user_id`): the metric, the
/// ended-session markers for "Recently ended" (1 BatchWriteItem per 25; a failure is only
/// logged) and the deliveries and signal records (`signals`: their ids, for the fan-out)
/// sent to the queue (1 SendMessageBatch per 10; a failed send leaves them pending for the
/// relay).
async fn after_commit(
    app: &App,
    user_id: &str,
    sids: &[String],
    deliveries: &[DeliveryItem],
    signals: &[String],
    reason: EndReason,
) {
    crate::platform::telemetry::metric(
        "Terminations",
        ("Reason", reason.as_str()),
        sids.len() as f64,
    );
    let mut msgs: Vec<QueueMessage> = deliveries
        .iter()
        .map(|d| DeliveryMessage::for_delivery(d).into())
        .collect();
    msgs.extend(
        signals
            .iter()
            .map(|id| QueueMessage::from(SignalMessage::FanOut { signal: id.clone() })),
    );
    let send = async {
        if !msgs.is_empty() {
            let report = app.queue.send(&msgs).await;
            for (m, why) in &report.failed {
                tracing::warn!(message = ?m, error = %why, "enqueue failed; the relay will resend");
            }
        }
    };
    // Independent writes: side by side.
    tokio::join!(crate::session::history::remember(app, user_id, sids), send);
}

/// End every live session of a user, except those in `keep` (the caller's own sessions for
/// "sign out everywhere else"). Returns how many ended. Round trips: 1 Query for the list,
/// then those of [`terminate_many`].
pub async fn terminate_all(
    app: &App,
    user_id: &str,
    keep: &[String],
    reason: EndReason,
) -> Result<usize, StoreError> {
    terminate_all_by(app, user_id, keep, reason, None).await
}

/// [`terminate_all`], recording who ended the sessions ([`terminate_by`]). A reason that
/// does not keep offline grants ([`EndReason::keeps_offline_tokens`]: a credential change, a
/// disabled or deleted account, an administrator) also revokes the user's offline grants
/// that outlived their sessions ([`revoke_offline_grants`]: + 1 Query, and per grant found
/// its revocation).
pub async fn terminate_all_by(
    app: &App,
    user_id: &str,
    keep: &[String],
    reason: EndReason,
    by: Option<&EndedBy>,
) -> Result<usize, StoreError> {
    let sessions = app.store.all_user_sessions(user_id, now_s()).await?;
    if !reason.keeps_offline_tokens() {
        revoke_offline_grants(app, user_id, keep, None, reason).await?;
    }
    let sids: Vec<String> = sessions
        .into_iter()
        .map(|s| s.sid)
        .filter(|sid| !keep.contains(sid))
        .collect();
    terminate_many(app, user_id, &sids, reason, by).await
}

/// How many session partitions bulk termination reads at once.
const BULK_READS: usize = 32;
/// How many of its shared transactions run at once (without a session limit).
const BULK_COMMITS: usize = 4;

/// End many sessions of one user at once, as [`terminate_by`] would one by one but in shared
/// transactions. Returns how many ended (sessions of another user, unknown or already
/// ended ones are skipped).
///
/// Each session's partition is read (`BULK_READS` Queries at once) and planned
/// ([`plan`]); the endings are packed into transactions of at most 99 items
/// ([`crate::store::bulk::pack`]) and committed `BULK_COMMITS` at once — one after another
/// with a session limit, when each also writes the user's live-set item, which two
/// concurrent transactions may not both write; a token shared by several sessions is
/// revoked in one transaction only. Every session stays
/// conditioned on its own, so a token issued meanwhile is never left active: a transaction
/// refused for any of its sessions is not retried as a whole — each of its sessions is then
/// ended on its own by [`terminate_by`], which reads it again. A session too big for one
/// shared transaction (over ~95 live tokens) goes that way at once.
///
/// Round trips, n sessions that fit: n Queries (in parallel) + 1 TransactWriteItems per 99
/// items (a session with 1 app and 1 held token pair is 4) + 1 BatchWriteItem per 25
/// ended markers + 1 SendMessageBatch per 10 deliveries. Ending 50 such sessions: 50
/// Queries, 3 transactions, 2 BatchWriteItem, 5 SendMessageBatch.
pub async fn terminate_many(
    app: &App,
    user_id: &str,
    sids: &[String],
    reason: EndReason,
    by: Option<&EndedBy>,
) -> Result<usize, StoreError> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    let reads = sids
        .iter()
        .cloned()
        .map(|sid| async move { app.store.session_partition(&sid).await });
    let parts: Vec<_> = stream::iter(reads)
        .buffer_unordered(BULK_READS)
        .try_collect()
        .await?;
    let now = now_ms();
    let grace = app.relay_grace_secs(RELAY_AFTER_SECS);
    let planned: Vec<(SessionItem, Plan)> = parts
        .into_iter()
        .filter_map(|p| p.session.map(|s| (s, p.links, p.deliveries)))
        .filter(|(s, _, _)| s.user_id == user_id && s.status == SessionStatus::Active)
        .map(|(s, links, existing)| {
            let p = plan(&s, &links, &existing, reason, now, grace);
            (s, p)
        })
        .collect();
    // Packed by each session's own size (an upper bound once shared tokens are counted
    // once below).
    let sizes: Vec<usize> = planned
        .iter()
        .map(|(_, p)| ending_items(p.tokens.len(), p.deliveries.len()))
        .collect();
    let signalled = app.signals_wanted().await?;
    // With streams, each transaction also holds its group's signal record.
    let groups = pack(&sizes, TX_LIMIT - BULK_RESERVED - usize::from(signalled));
    let grouped: BTreeSet<usize> = groups.iter().flat_map(|g| g.clone()).collect();
    // A token shared by several packed sessions (binding `none`/`cookie`) is revoked once,
    // in the first transaction that has it: a transaction may not name an item twice, and
    // two running at once may not both write it. Should that transaction be refused, its
    // sessions are ended one by one, each planned again with the token. A session left to
    // the one-by-one path keeps all its tokens.
    let mut seen: BTreeSet<&TokenRef> = BTreeSet::new();
    let unique: Vec<Vec<TokenRef>> = planned
        .iter()
        .enumerate()
        .map(|(i, (_, p))| {
            if !grouped.contains(&i) {
                return p.tokens.clone();
            }
            p.tokens
                .iter()
                .filter(|t| seen.insert(*t))
                .cloned()
                .collect()
        })
        .collect();
    let endings: Vec<Ending<'_>> = planned
        .iter()
        .zip(&unique)
        .map(|((s, p), tokens)| Ending {
            session: s,
            tokens,
            deliveries: &p.deliveries,
        })
        .collect();
    let actor = by.cloned().unwrap_or_else(|| reason.implied_actor(user_id));
    // With a session limit every transaction writes the user's live set, and DynamoDB
    // refuses two transactions on one item at once: then one after another.
    let at_once = if app.store.tracks_live() {
        1
    } else {
        BULK_COMMITS
    };
    // One `txn` for every group's signal record: the SETs of one termination.
    let txn = crate::platform::crypto::random_id();
    let mut commits = Vec::with_capacity(groups.len());
    for g in &groups {
        let group = &endings[g.clone()];
        let (actor, txn) = (&actor, &txn);
        let commit = async move {
            let sids: Vec<&str> = group.iter().map(|e| e.session.sid.as_str()).collect();
            let signal = signalled.then(|| SignalItem {
                txn: txn.clone(),
                ..SignalItem::termination(user_id, &sids, reason, actor, now)
            });
            let r = app
                .store
                .commit_terminations_signalled(
                    user_id,
                    group,
                    signal.as_ref(),
                    reason.as_str(),
                    Some(actor),
                    now,
                )
                .await;
            (r, signal.map(|g| g.id))
        };
        commits.push(async move { (group, commit.await) });
    }
    let results: Vec<_> = stream::iter(commits)
        .buffer_unordered(at_once)
        .collect()
        .await;
    let mut alone: Vec<&str> = Vec::new();
    let mut ended: Vec<String> = Vec::new();
    let mut deliveries: Vec<DeliveryItem> = Vec::new();
    let mut signals: Vec<String> = Vec::new();
    for (group, (r, signal)) in results {
        match r {
            Ok(()) => {
                signals.extend(signal);
                for e in group {
                    ended.push(e.session.sid.clone());
                    deliveries.extend(e.deliveries.iter().cloned());
                }
            }
            // A session changed (ended, a token issued), a token vanished, or a delivery
            // exists already: each of them on its own, read again.
            Err(StoreError::TransactionCancelled(_) | StoreError::ConditionFailed) => {
                alone.extend(group.iter().map(|e| e.session.sid.as_str()));
            }
            Err(e) => return Err(e),
        }
    }
    alone.extend(
        endings
            .iter()
            .enumerate()
            .filter(|(i, _)| !grouped.contains(i))
            .map(|(_, e)| e.session.sid.as_str()),
    );
    tracing::info!(user_id = %user_id, reason = %reason, sessions = ended.len(), transactions = groups.len(), one_by_one = alone.len(), "sessions ended in bulk");
    if !ended.is_empty() {
        after_commit(app, user_id, &ended, &deliveries, &signals, reason).await;
    }
    let mut count = ended.len();
    for sid in alone {
        match terminate_by(app, sid, Some(user_id), reason, by).await? {
            Terminated::Ended { .. } => count += 1,
            Terminated::AlreadyEnded => {
                if ended_by_this(app, user_id, sid, reason, now).await? {
                    count += 1;
                }
            }
            Terminated::NotFound => {}
        }
    }
    Ok(count)
}

/// Whether `sid`, found already ended after its shared transaction was refused, was ended
/// by that very transaction (its time and reason are this termination's): a transaction
/// applied, then re-sent after its answer was lost by an engine that does not honour
/// `ClientRequestToken`, is refused as a whole. Then its deliveries are queued and its
/// marker written here, as the commit would have. 1 Query (a rare path only).
async fn ended_by_this(
    app: &App,
    user_id: &str,
    sid: &str,
    reason: EndReason,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let part = app.store.session_partition(sid).await?;
    let Some(s) = part.session else {
        return Ok(false);
    };
    let ours = s.ended_at_ms == Some(now_ms) && s.ended_reason.as_deref() == Some(reason.as_str());
    if ours {
        let pending: Vec<DeliveryItem> = part
            .deliveries
            .into_iter()
            .filter(|d| d.status == DeliveryStatus::Pending)
            .collect();
        // Its group's signal record is not known here: the relay sends it from the due
        // index.
        after_commit(
            app,
            user_id,
            std::slice::from_ref(&s.sid),
            &pending,
            &[],
            reason,
        )
        .await;
    }
    Ok(ours)
}

/// Revoke one offline grant of `user_id` (the family of a refresh token being revoked or
/// replayed), wherever its tokens are. See [`revoke_offline_grants`].
pub async fn revoke_offline_grant(
    app: &App,
    user_id: &str,
    family: &str,
    reason: EndReason,
) -> Result<(), StoreError> {
    revoke_offline_grants(app, user_id, &[], Some(family), reason).await
}

/// Revoke the user's offline grants (all, or the one of `family`), except those that started
/// in a session of `keep`: their registered tokens are revoked, then the registration is
/// deleted only at the version read, so a refresh that slipped in between (it rewrites the
/// registration) is read again and its new tokens revoked too; a refresh after the deletion
/// finds no registration and is refused. Round trips: 1 Query (the user's `OFFLINE#` items),
/// then per grant 1 TransactWriteItems per 100 tokens + 1 DeleteItem.
pub async fn revoke_offline_grants(
    app: &App,
    user_id: &str,
    keep: &[String],
    family: Option<&str>,
    reason: EndReason,
) -> Result<(), StoreError> {
    for _ in 0..5 {
        let grants: Vec<_> = app
            .store
            .offline_grants(user_id)
            .await?
            .into_iter()
            .filter(|g| !keep.contains(&g.sid))
            .filter(|g| family.is_none_or(|f| g.sk.ends_with(&format!("#{f}"))))
            .collect();
        let mut changed = false;
        for g in &grants {
            let refs: Vec<TokenRef> = g.tokens.keys().cloned().map(TokenRef::Item).collect();
            app.store.revoke_tokens(&refs, reason.as_str()).await?;
            match app.store.drop_offline_grant(g).await {
                Ok(()) => {}
                Err(StoreError::ConditionFailed) => changed = true,
                Err(e) => return Err(e),
            }
        }
        if !changed {
            return Ok(());
        }
    }
    Err(StoreError::Backend(
        "offline grants kept changing during revocation".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::{HeldGrant, SessionApp, TokenStatus};
    use crate::store::token_link;
    use std::collections::BTreeMap;

    const NOW_MS: i64 = 1_000_000_000;
    const NOW: i64 = NOW_MS / 1000;

    fn session(apps: &[(&str, bool)]) -> SessionItem {
        let app = |bc| SessionApp {
            name: "App".into(),
            first_auth_ms: 0,
            last_auth_ms: 0,
            backchannel: bc,
        };
        SessionItem {
            pk: keys::session_pk("s1"),
            sk: keys::SESSION_SK.into(),
            sid: "s1".into(),
            user_id: "u1".into(),
            username: "alice".into(),
            secret_hash: String::new(),
            created_ms: 0,
            last_seen_ms: 0,
            auth_time: 0,
            idle_expires_at: NOW + 600,
            absolute_expires_at: NOW + 3600,
            remember_me: false,
            user_agent: String::new(),
            ip: String::new(),
            status: SessionStatus::Active,
            ended_reason: None,
            ended_at_ms: None,
            ended_by: None,
            version: 0,
            apps: apps
                .iter()
                .map(|(id, bc)| (id.to_string(), app(*bc)))
                .collect(),
            gsi1pk: None,
            gsi1sk: None,
            gsi2pk: None,
            gsi2sk: None,
            gsi3pk: None,
            gsi3sk: None,
            expires_at: NOW + 3600,
        }
    }

    /// A link of token items (`(hash, expiry)`), as shared tokens and older issuances have.
    fn items_link(key: &str, tokens: &[(&str, i64)]) -> SessionTokenLink {
        let t: BTreeMap<String, i64> = tokens.iter().map(|(h, e)| (h.to_string(), *e)).collect();
        token_link("s1", key, t, "fam", NOW)
    }

    /// A link holding an access token `a` (and a refresh token `r`) until `exp`.
    fn held_link(key: &str, a: &str, r: Option<&str>, exp: i64) -> SessionTokenLink {
        let mut t = BTreeMap::from([(a.to_string(), exp)]);
        if let Some(r) = r {
            t.insert(r.to_string(), exp);
        }
        let mut l = token_link("s1", key, t, "fam", NOW);
        l.grant = Some(HeldGrant {
            client_id: "rp".into(),
            user_id: "u1".into(),
            scope: "openid".into(),
            refresh_scope: None,
            iat: NOW,
            auth_time: NOW,
            access: a.into(),
            refresh: r.map(str::to_string),
        });
        l
    }

    fn planned(s: &SessionItem, links: &[SessionTokenLink]) -> Plan {
        plan(s, links, &[], EndReason::Admin, NOW_MS, RELAY_AFTER_SECS)
    }

    #[test]
    fn a_shared_token_linked_twice_is_revoked_once() {
        let links = [
            items_link("k1", &[("shared", NOW + 60), ("rt1", NOW + 60)]),
            items_link("k2", &[("shared", NOW + 60), ("rt2", NOW + 60)]),
        ];
        let p = planned(&session(&[]), &links);
        assert_eq!(
            p.tokens,
            vec![
                TokenRef::Item("rt1".into()),
                TokenRef::Item("rt2".into()),
                TokenRef::Item("shared".into()),
            ]
        );
    }

    #[test]
    fn expired_and_rotated_tokens_are_left_alone() {
        let mut refreshed = items_link("k2", &[]);
        refreshed.rotated = Some("old-rt".into());
        let links = [
            items_link("k1", &[("old-rt", NOW + 60), ("gone", NOW - 1)]),
            refreshed,
        ];
        assert!(planned(&session(&[]), &links).tokens.is_empty());
    }

    #[test]
    fn a_link_holding_live_tokens_is_one_revocation() {
        let live = held_link("k1", "a1", Some("r1"), NOW + 60);
        let expired = held_link("k2", "a2", None, NOW - 1);
        let mut rotated = held_link("k3", "a3", Some("r3"), NOW + 60);
        rotated.refresh_status = Some(TokenStatus::Rotated);
        let p = planned(&session(&[]), &[live.clone(), expired, rotated.clone()]);
        assert_eq!(
            p.tokens,
            vec![TokenRef::held(&live), TokenRef::held(&rotated)]
        );
        // The link whose refresh token was rotated gets only its access token revoked.
        assert!(matches!(
            TokenRef::held(&rotated),
            TokenRef::Held {
                access_only: true,
                ..
            }
        ));
        assert!(matches!(
            TokenRef::held(&live),
            TokenRef::Held {
                access_only: false,
                ..
            }
        ));
    }

    #[test]
    fn only_apps_with_a_back_channel_get_a_delivery_and_only_once() {
        let s = session(&[("bcl", true), ("spa", false), ("done", true)]);
        let already = plan(&s, &[], &[], EndReason::Admin, NOW_MS, 0).deliveries;
        let existing: Vec<DeliveryItem> = already
            .into_iter()
            .filter(|d| d.client_id == "done")
            .collect();
        let p = plan(
            &s,
            &[],
            &existing,
            EndReason::Admin,
            NOW_MS,
            RELAY_AFTER_SECS,
        );
        let ids: Vec<&str> = p.deliveries.iter().map(|d| d.client_id.as_str()).collect();
        assert_eq!(ids, vec!["bcl"]);
        let d = &p.deliveries[0];
        assert_eq!((d.status.as_str(), d.reason.as_str()), ("pending", "admin"));
        assert_eq!(
            d.gsi2sk.as_deref(),
            Some(keys::due_sort(NOW + RELAY_AFTER_SECS, "s1#bcl").as_str())
        );
        assert_eq!(d.expires_at, NOW + RECEIPT_RETENTION_SECS);
    }

    #[test]
    fn without_a_queue_the_deliveries_are_due_at_once() {
        let p = plan(
            &session(&[("bcl", true)]),
            &[],
            &[],
            EndReason::Admin,
            NOW_MS,
            0,
        );
        assert_eq!(
            p.deliveries[0].gsi2sk.as_deref(),
            Some(keys::due_sort(NOW, "s1#bcl").as_str())
        );
    }

    #[test]
    fn an_offline_refresh_token_survives_logout_and_expiry_but_not_an_admin() {
        let mut l = items_link("k1", &[("at", NOW + 60), ("offline-rt", NOW + 600)]);
        l.offline_refresh = Some("offline-rt".into());
        let s = session(&[]);
        let revoked = |reason| plan(&s, std::slice::from_ref(&l), &[], reason, NOW_MS, 0).tokens;
        for keeps in [
            EndReason::User,
            EndReason::UserAll,
            EndReason::RpLogout,
            EndReason::IdleTimeout,
            EndReason::AbsoluteTimeout,
        ] {
            assert_eq!(revoked(keeps), vec![TokenRef::Item("at".into())], "{keeps}");
        }
        for ends in [
            EndReason::Admin,
            EndReason::CredentialChange,
            EndReason::UserDisabled,
            EndReason::UserDeleted,
            EndReason::SessionLimit,
            EndReason::RefreshReuse,
        ] {
            assert_eq!(revoked(ends).len(), 2, "{ends}");
        }
    }

    #[test]
    fn more_than_one_transactions_worth_is_planned_whole() {
        // 150 live token items and 120 held links: the plan lists them all; the store splits
        // them into transactions of at most 100 (`Store::commit_termination`).
        let many: Vec<(String, i64)> = (0..150).map(|i| (format!("t{i:03}"), NOW + 60)).collect();
        let refs: Vec<(&str, i64)> = many.iter().map(|(h, e)| (h.as_str(), *e)).collect();
        let mut links = vec![items_link("k0", &refs)];
        links.extend(
            (0..120).map(|i| held_link(&format!("h{i}"), &format!("a{i}"), None, NOW + 60)),
        );
        let p = planned(&session(&[("bcl", true)]), &links);
        assert_eq!(p.tokens.len(), 270);
        assert_eq!(p.deliveries.len(), 1);
    }
}
