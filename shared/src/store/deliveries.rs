//! The termination transaction and the logout-delivery outbox.

use super::tokens::TokenRef;
use super::{bld, item_key, n, s, Store};
use crate::platform::text::truncate;
use crate::store::schema::{
    from_item, keys, to_item, DeliveryItem, DeliveryStatus, EndedBy, SessionItem, SessionStatus,
    SignalItem,
};
use crate::store::StoreError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem, Update};
use std::collections::HashMap;

/// Items per TransactWriteItems request (DynamoDB's limit).
pub const TX_LIMIT: usize = 100;

/// What the dispatcher learned from one POST.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    /// 200 or 204.
    Delivered(u16),
    /// Final, never retried (an admin may replay it): the app answered 400, or the attempt
    /// was refused before anything was sent (the outbound address policy, no back-channel
    /// URI).
    Rejected {
        /// The status the app answered (400), or `None` when nothing was sent.
        http_status: Option<u16>,
        /// Why nothing was sent, as stored in the receipt's `last_error` (`None` for a 400,
        /// which clears an earlier attempt's error).
        error: Option<String>,
    },
    /// Network error, timeout, 5xx, 429 or another status: SQS will retry.
    Retry {
        /// The status the app answered, if it answered at all.
        http_status: Option<u16>,
        /// Why the attempt failed, as stored in the receipt's `last_error`.
        error: String,
    },
    /// Retries exhausted: the message goes (or went) to the DLQ.
    Dead {
        /// The status of the last attempt, if the app answered at all.
        http_status: Option<u16>,
        /// Why the last attempt failed, as stored in the receipt's `last_error`.
        error: String,
    },
    /// Not attempted: a redelivered message whose delivery is already final (`delivered`,
    /// `rejected` or `dead`, named here). Nothing is posted or recorded.
    AlreadyFinal(DeliveryStatus),
    /// Not attempted, kept pending: an SSF event of a paused stream (SSF 1.0 §8.1.2: held
    /// and sent when the stream is enabled again), or of a stream that now polls.
    Held,
}

/// The same failure for each of `n` records.
fn fail_all(n: usize, msg: &str) -> Vec<Result<(), StoreError>> {
    (0..n)
        .map(|_| Err(StoreError::Backend(msg.to_string())))
        .collect()
}

/// One delivery outcome to record (see [`Store::record_deliveries`]).
#[derive(Debug, Clone, Copy)]
pub struct DeliveryRecord<'a> {
    /// The session the delivery belongs to (its partition).
    pub sid: &'a str,
    /// The app the logout token was posted to.
    pub client_id: &'a str,
    /// What the attempt achieved.
    pub outcome: &'a DeliveryOutcome,
    /// When a retried delivery becomes due for the relay again (epoch s).
    pub retry_due_s: i64,
}

impl DeliveryRecord<'_> {
    /// The update expression and its values (condition: still `pending`, as `#st`).
    fn update(&self, now_ms: i64) -> (String, HashMap<String, AttributeValue>) {
        let mut values: HashMap<String, AttributeValue> = HashMap::new();
        values.insert(":pending".into(), s(DeliveryStatus::Pending));
        values.insert(":now".into(), n(now_ms));
        values.insert(":one".into(), n(1));
        let (status, http, err) = match self.outcome {
            DeliveryOutcome::Delivered(c) => (DeliveryStatus::Delivered, Some(*c), None),
            DeliveryOutcome::Rejected { http_status, error } => {
                (DeliveryStatus::Rejected, *http_status, error.as_ref())
            }
            DeliveryOutcome::Retry { http_status, error } => {
                (DeliveryStatus::Pending, *http_status, Some(error))
            }
            DeliveryOutcome::Dead { http_status, error } => {
                (DeliveryStatus::Dead, *http_status, Some(error))
            }
            // Never recorded (`deliver_batch` leaves it out); were it, the `pending`
            // condition would refuse it.
            DeliveryOutcome::AlreadyFinal(_) | DeliveryOutcome::Held => {
                (DeliveryStatus::Pending, None, None)
            }
        };
        let mut expr =
            String::from("SET #st = :status, attempts = attempts + :one, updated_ms = :now");
        values.insert(":status".into(), s(status));
        if let Some(h) = http {
            expr.push_str(", last_http_status = :http");
            values.insert(":http".into(), n(h as i64));
        }
        let mut remove: Vec<&str> = Vec::new();
        match err {
            Some(e) => {
                expr.push_str(", last_error = :err");
                values.insert(":err".into(), s(truncate(e, 300)));
            }
            // The receipt describes the last attempt: an error from an earlier one would
            // read as the reason of a delivery that went through (or was refused with 400).
            None => remove.push("last_error"),
        }
        if status == DeliveryStatus::Delivered {
            expr.push_str(", delivered_ms = :now");
        }
        if status == DeliveryStatus::Pending {
            expr.push_str(", gsi2sk = :due");
            values.insert(
                ":due".into(),
                s(keys::delivery_due_sort(
                    self.retry_due_s,
                    self.sid,
                    self.client_id,
                )),
            );
        } else {
            remove.extend(["gsi2pk", "gsi2sk"]);
        }
        if !remove.is_empty() {
            expr.push_str(" REMOVE ");
            expr.push_str(&remove.join(", "));
        }
        (expr, values)
    }
}

/// The `:by` value of a termination's update, when it names who ended the session.
fn ended_values(by: Option<&EndedBy>) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let mut v = HashMap::new();
    if let Some(by) = by {
        let item =
            serde_dynamo::to_attribute_value(by).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        v.insert(":by".to_string(), item);
    }
    Ok(v)
}

impl Store {
    /// Commit a termination. Round trips: 1 TransactWriteItems when the session's tokens and
    /// deliveries fit in one transaction (≤ 97 token items or held links with 1 app);
    /// otherwise the extra tokens are revoked first in idempotent chunks of 100 (1 round trip each) and the last
    /// transaction ends the session. `ConditionFailed` = the session changed since it was
    /// read (ended, or a token was mapped meanwhile): re-read and retry.
    pub async fn commit_termination(
        &self,
        session: &SessionItem,
        tokens: &[TokenRef],
        deliveries: &[DeliveryItem],
        reason: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.commit_termination_by(session, tokens, deliveries, reason, None, now_ms)
            .await
    }

    /// [`Store::commit_termination`], recording who ended the session (`ended_by`) in the
    /// same update. Same round trips.
    pub async fn commit_termination_by(
        &self,
        session: &SessionItem,
        tokens: &[TokenRef],
        deliveries: &[DeliveryItem],
        reason: &str,
        by: Option<&EndedBy>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.commit_termination_signalled(session, tokens, deliveries, None, reason, by, now_ms)
            .await
    }

    /// [`Store::commit_termination_by`], writing the termination's Shared Signals outbox
    /// record (`signal`, when some stream exists) in the same transaction: one more item
    /// (1 write unit, 2 in a transaction), no more round trips. Its put has no condition (a
    /// retried transaction writes the same record again), so it never cancels one.
    #[allow(clippy::too_many_arguments)]
    pub async fn commit_termination_signalled(
        &self,
        session: &SessionItem,
        tokens: &[TokenRef],
        deliveries: &[DeliveryItem],
        signal: Option<&SignalItem>,
        reason: &str,
        by: Option<&EndedBy>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let room = TX_LIMIT.saturating_sub(3 + deliveries.len() + usize::from(signal.is_some()));
        let (early, last) = if tokens.len() > room {
            tokens.split_at(tokens.len() - room)
        } else {
            (&tokens[..0], tokens)
        };
        if !early.is_empty() {
            self.revoke_tokens(early, reason).await?;
        }
        let mut tx = self.session_end_items(session, last, deliveries, reason, by, now_ms)?;
        // Last, so the cancellation reasons above keep their positions; neither has a
        // condition.
        tx.extend(self.ending_tail_items(signal, &session.user_id, &[session.sid.as_str()])?);
        match self.transact(tx).await {
            Ok(()) => Ok(()),
            Err(StoreError::TransactionCancelled(reasons)) => {
                if reasons
                    .iter()
                    .take(2)
                    .any(|r| r == "ConditionalCheckFailed")
                {
                    return Err(StoreError::ConditionFailed);
                }
                // A token item vanished (TTL) or a delivery already exists: revoke what
                // exists on its own, then retry the session part without those tokens.
                let tokens_failed: Vec<TokenRef> = last
                    .iter()
                    .zip(reasons.iter().skip(2))
                    .filter(|(_, r)| r.as_str() == "ConditionalCheckFailed")
                    .map(|(h, _)| h.clone())
                    .collect();
                let deliveries_failed = reasons
                    .iter()
                    .skip(2 + last.len())
                    .any(|r| r == "ConditionalCheckFailed");
                if tokens_failed.is_empty() && !deliveries_failed {
                    return Err(StoreError::TransactionCancelled(reasons));
                }
                let remaining: Vec<TokenRef> = last
                    .iter()
                    .filter(|h| !tokens_failed.contains(h))
                    .cloned()
                    .collect();
                self.revoke_tokens(&remaining, reason).await?;
                let fresh: Vec<DeliveryItem> = if deliveries_failed {
                    let existing = self.session_partition(&session.sid).await?.deliveries;
                    deliveries
                        .iter()
                        .filter(|d| !existing.iter().any(|e| e.sk == d.sk))
                        .cloned()
                        .collect()
                } else {
                    deliveries.to_vec()
                };
                Box::pin(self.commit_termination_signalled(
                    session,
                    &[],
                    &fresh,
                    signal,
                    reason,
                    by,
                    now_ms,
                ))
                .await
            }
            Err(e) => Err(e),
        }
    }

    /// The transaction items of ending one session, in this order (a cancellation's reasons
    /// are read by position): its update ([`Store::end_session_tx`]), the check of its issued
    /// counter ([`Store::issued_check_tx`]), one revocation per token of `tokens`, one put
    /// per delivery (only if absent).
    pub(crate) fn session_end_items<'t>(
        &self,
        session: &SessionItem,
        tokens: impl IntoIterator<Item = &'t TokenRef>,
        deliveries: &[DeliveryItem],
        reason: &str,
        by: Option<&EndedBy>,
        now_ms: i64,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut tx = vec![
            self.end_session_tx(session, reason, by, now_ms)?,
            // No token was mapped since the links were read.
            self.issued_check_tx(session)?,
        ];
        for h in tokens {
            tx.push(super::tokens::revoke_tx(&self.table, h, reason)?);
        }
        for d in deliveries {
            tx.push(super::tokens::put_tx(&self.table, to_item(d)?, true)?);
        }
        Ok(tx)
    }

    /// The unconditioned items that close a termination's transaction: its Shared Signals
    /// record, if any, and the release of `sids` from `user_id`'s live set, if one is kept.
    pub(crate) fn ending_tail_items(
        &self,
        signal: Option<&SignalItem>,
        user_id: &str,
        sids: &[&str],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut tx = Vec::new();
        if let Some(sig) = signal {
            tx.push(super::tokens::put_tx(
                &self.table,
                self.signal_item(sig)?,
                false,
            )?);
        }
        tx.extend(self.live_set_release_tx(user_id, sids)?);
        Ok(tx)
    }

    /// The transaction item ending `session`: status `ended` with why, when and by whom,
    /// out of every index; only if it is still active.
    pub(crate) fn end_session_tx(
        &self,
        session: &SessionItem,
        reason: &str,
        by: Option<&EndedBy>,
        now_ms: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        Ok(TransactWriteItem::builder()
            .update(bld(Update::builder()
                .table_name(&self.table)
                .set_key(Some(item_key(
                    keys::session_pk(&session.sid),
                    keys::SESSION_SK,
                )))
                .update_expression(if by.is_some() {
                    "SET #st = :ended, ended_reason = :why, ended_at_ms = :now, ended_by = :by \
                     REMOVE gsi1pk, gsi1sk, gsi2pk, gsi2sk, gsi3pk, gsi3sk"
                } else {
                    "SET #st = :ended, ended_reason = :why, ended_at_ms = :now \
                     REMOVE gsi1pk, gsi1sk, gsi2pk, gsi2sk, gsi3pk, gsi3sk"
                })
                .condition_expression("#st = :active")
                .expression_attribute_names("#st", "status")
                .set_expression_attribute_values(Some(ended_values(by)?))
                .expression_attribute_values(":ended", s(SessionStatus::Ended))
                .expression_attribute_values(":active", s(SessionStatus::Active))
                .expression_attribute_values(":why", s(reason))
                .expression_attribute_values(":now", n(now_ms))
                .build())?)
            .build())
    }

    /// The transaction item checking that no token was mapped to `session` since it was
    /// read: its issued counter is still the version read.
    pub(crate) fn issued_check_tx(
        &self,
        session: &SessionItem,
    ) -> Result<TransactWriteItem, StoreError> {
        Ok(TransactWriteItem::builder()
            .condition_check(bld(ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(item_key(
                    keys::session_pk(&session.sid),
                    keys::ISSUED_SK,
                )))
                .condition_expression("v = :v OR (attribute_not_exists(v) AND :v = :zero)")
                .expression_attribute_values(":v", n(session.version))
                .expression_attribute_values(":zero", n(0))
                .build())?)
            .build())
    }

    /// The deliveries named by `(sid, client_id)`, in order (`None`: no such delivery).
    /// 1 round trip (BatchGetItem, strongly consistent; at most 100).
    pub async fn get_deliveries(
        &self,
        which: &[(&str, &str)],
    ) -> Result<Vec<Option<DeliveryItem>>, StoreError> {
        let keys: Vec<(String, String)> = which
            .iter()
            .map(|(sid, c)| (keys::session_pk(sid), keys::delivery_sk(c)))
            .collect();
        self.get_many(&keys)
            .await?
            .into_iter()
            .map(|i| i.map(from_item).transpose())
            .collect()
    }

    /// 1 round trip (GetItem).
    pub async fn get_delivery(
        &self,
        sid: &str,
        client_id: &str,
    ) -> Result<Option<DeliveryItem>, StoreError> {
        self.get(&keys::session_pk(sid), &keys::delivery_sk(client_id))
            .await?
            .map(from_item)
            .transpose()
    }

    /// Record what a delivery attempt found. 1 round trip (UpdateItem). Final outcomes take
    /// the delivery out of the due index; a retry pushes its due time to `retry_due_s`.
    /// Returns `ConditionFailed` if the delivery is no longer pending (already final).
    pub async fn record_delivery(
        &self,
        sid: &str,
        client_id: &str,
        outcome: &DeliveryOutcome,
        now_ms: i64,
        retry_due_s: i64,
    ) -> Result<(), StoreError> {
        let r = DeliveryRecord {
            sid,
            client_id,
            outcome,
            retry_due_s,
        };
        let (expr, values) = r.update(now_ms);
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(
                keys::session_pk(sid),
                keys::delivery_sk(client_id),
            )))
            .condition_expression("#st = :pending")
            .expression_attribute_names("#st", "status")
            .set_expression_attribute_values(Some(values))
            .update_expression(expr)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Record several outcomes (a dispatcher batch) in 1 round trip: one TransactWriteItems
    /// of conditional updates (at most [`TX_LIMIT`]). If the transaction is refused (a
    /// delivery already final: a duplicate message) each is recorded on its own, so only
    /// that one is refused; a batch of one, or one naming a delivery twice, goes that way
    /// at once. Returns one result per record, in order.
    pub async fn record_deliveries(
        &self,
        records: &[DeliveryRecord<'_>],
        now_ms: i64,
    ) -> Vec<Result<(), StoreError>> {
        let distinct = records.iter().enumerate().all(|(i, a)| {
            records[..i]
                .iter()
                .all(|b| (a.sid, a.client_id) != (b.sid, b.client_id))
        });
        if records.len() > 1 && records.len() <= TX_LIMIT && distinct {
            let mut items = Vec::with_capacity(records.len());
            for r in records {
                let (expr, values) = r.update(now_ms);
                let u = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(item_key(
                        keys::session_pk(r.sid),
                        keys::delivery_sk(r.client_id),
                    )))
                    .condition_expression("#st = :pending")
                    .expression_attribute_names("#st", "status")
                    .set_expression_attribute_values(Some(values))
                    .update_expression(expr)
                    .build();
                match u {
                    Ok(u) => items.push(TransactWriteItem::builder().update(u).build()),
                    Err(e) => return fail_all(records.len(), &e.to_string()),
                }
            }
            match self.transact(items).await {
                Ok(()) => return records.iter().map(|_| Ok(())).collect(),
                // Refused as a whole (an already-final delivery, a conflict): one by one.
                Err(StoreError::TransactionCancelled(_)) | Err(StoreError::ConditionFailed) => {}
                // Throttling or an outage: every message stays in the queue for a retry.
                Err(e) => return fail_all(records.len(), &e.to_string()),
            }
        }
        let futs = records
            .iter()
            .map(|r| self.record_delivery(r.sid, r.client_id, r.outcome, now_ms, r.retry_due_s));
        futures::future::join_all(futs).await
    }

    /// Pending deliveries due at `now_s` (for the relay). 1 Query per due shard.
    pub async fn due_deliveries(
        &self,
        now_s: i64,
        limit: usize,
    ) -> Result<Vec<DeliveryItem>, StoreError> {
        self.due_items(keys::due_logout_gsi, now_s, limit).await
    }

    /// Push a pending delivery's due time (after the relay re-sent it). 1 round trip.
    pub async fn reschedule_delivery(
        &self,
        sid: &str,
        client_id: &str,
        due_s: i64,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(
                keys::session_pk(sid),
                keys::delivery_sk(client_id),
            )))
            .update_expression("SET gsi2sk = :due")
            .condition_expression("#st = :pending")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending))
            .expression_attribute_values(":due", s(keys::delivery_due_sort(due_s, sid, client_id)))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Put a `dead` or `rejected` delivery back to `pending` for a replay. 1 round trip.
    /// `ConditionFailed` if it is not dead or rejected.
    pub async fn reopen_delivery(
        &self,
        sid: &str,
        client_id: &str,
        now_ms: i64,
        due_s: i64,
    ) -> Result<DeliveryItem, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(keys::session_pk(sid), keys::delivery_sk(client_id))))
            .update_expression(
                "SET #st = :pending, attempts = :zero, updated_ms = :now, gsi2pk = :g2pk, gsi2sk = :g2sk",
            )
            .condition_expression("#st IN (:dead, :rejected)")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending))
            .expression_attribute_values(":dead", s(DeliveryStatus::Dead))
            .expression_attribute_values(":rejected", s(DeliveryStatus::Rejected))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":g2pk", s(keys::due_logout_gsi(keys::due_shard(sid, self.shards))))
            .expression_attribute_values(
                ":g2sk",
                s(keys::delivery_due_sort(due_s, sid, client_id)),
            )
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        from_item(out.attributes.unwrap_or_default())
    }
}
