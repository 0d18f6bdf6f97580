//! Shared Signals outbox records ([`SignalItem`], issue 21) and the events they fan out to
//! ([`StreamEventItem`]): records are written inside a termination's transaction
//! (`Store::commit_termination_signalled`, `Store::commit_terminations_signalled`) or with
//! an account change, each with a due key so that the relay sends it again if its queue
//! message is lost; the dispatcher fans a record out into one event per matching stream and
//! cause, pushes or holds them for a poll, and moves each to its receipt once final.

use super::{item_key, n, s, Item, Store};
use crate::store::schema::{
    from_item, keys, to_item, DeliveryStatus, SignalItem, StreamEventItem, StreamIndexItem,
    StreamItem, StreamStatus,
};
use crate::store::StoreError;
use aws_sdk_dynamodb::types::AttributeValue;

/// Shared Signals work the relay found due.
#[derive(Debug, Clone)]
pub enum DueSignalWork {
    /// A signal record not fanned out.
    Signal(SignalItem),
    /// A push event not final.
    Event(StreamEventItem),
}

impl Store {
    /// A signal record as stored: with its due keys in its due shard.
    pub(crate) fn signal_item(&self, sig: &SignalItem) -> Result<Item, StoreError> {
        let shard = keys::due_shard(&sig.id, self.shards);
        to_item(&sig.clone().due_in(shard, SignalItem::RESEND_AFTER_SECS))
    }

    /// Write a signal record on its own (an account change). 1 round trip (PutItem).
    pub async fn put_signal(&self, sig: &SignalItem) -> Result<(), StoreError> {
        self.put(self.signal_item(sig)?, None).await
    }

    /// One signal record. 1 round trip (GetItem).
    pub async fn get_signal(&self, id: &str) -> Result<Option<SignalItem>, StoreError> {
        let (pk, sk) = keys::signal(id);
        self.get(&pk, &sk).await?.map(from_item).transpose()
    }

    /// Mark a signal record fanned out into `events` events: out of the due index. 1 round
    /// trip (UpdateItem); `ConditionFailed` if it was not pending.
    pub async fn finish_signal(&self, id: &str, events: u32) -> Result<(), StoreError> {
        let (pk, sk) = keys::signal(id);
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(pk, sk)))
            .update_expression("SET #st = :done, events = :n REMOVE gsi2pk, gsi2sk")
            .condition_expression("#st = :pending")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":done", s(DeliveryStatus::Delivered))
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending))
            .expression_attribute_values(":n", n(i64::from(events)))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Move a pending item's due time to `due_s` (the relay sent it again). 1 round trip
    /// (UpdateItem); `ConditionFailed` if it is no longer pending (or gone).
    pub async fn reschedule_signal_work(
        &self,
        key: (String, String),
        due_id: &str,
        due_s: i64,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(key.0, key.1)))
            .update_expression("SET gsi2sk = :due")
            .condition_expression("#st = :pending AND attribute_exists(gsi2pk)")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending))
            .expression_attribute_values(":due", s(keys::due_sort(due_s, due_id)))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Signal records and push events due at `now_s` (for the relay). 1 Query per due
    /// shard.
    pub async fn due_signal_work(
        &self,
        now_s: i64,
        limit: usize,
    ) -> Result<Vec<DueSignalWork>, StoreError> {
        let items: Vec<Item> = self
            .due_items_raw(keys::due_signal_gsi, now_s, limit)
            .await?;
        items
            .into_iter()
            .map(|i| {
                let signal =
                    matches!(i.get("sk"), Some(AttributeValue::S(v)) if v == keys::SIGNAL_SK);
                if signal {
                    from_item(i).map(DueSignalWork::Signal)
                } else {
                    from_item(i).map(DueSignalWork::Event)
                }
            })
            .collect()
    }

    /// The streams, of those `index` lists, that are not `disabled` and have a subject keyed
    /// by one of `subject_hashes` (the forms that name the user:
    /// `crate::ssf::fanout::subject_hashes`), in `index` order, each with the last of
    /// `subject_hashes` it matched (the complex forms come last: a receiver that registered
    /// both gets the richer subject). Round trips: 1 BatchGetItem per 100 keys (streams ×
    /// forms; a few streams × up to 6 forms is one).
    pub async fn streams_matching<'a>(
        &self,
        index: &'a [StreamIndexItem],
        subject_hashes: &[String],
    ) -> Result<Vec<(&'a StreamIndexItem, usize)>, StoreError> {
        let live: Vec<&StreamIndexItem> = index
            .iter()
            .filter(|s| s.status != StreamStatus::Disabled)
            .collect();
        let wanted: Vec<(usize, usize, (String, String))> = live
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                subject_hashes
                    .iter()
                    .enumerate()
                    .map(move |(h, hash)| (i, h, keys::stream_subject(&s.stream_id, hash)))
            })
            .collect();
        let mut hit: Vec<Option<usize>> = vec![None; live.len()];
        for chunk in wanted.chunks(100) {
            let ks: Vec<(String, String)> = chunk.iter().map(|(_, _, k)| k.clone()).collect();
            for ((i, h, _), found) in chunk.iter().zip(self.get_many(&ks).await?) {
                if found.is_some() && hit[*i].is_none_or(|prev| *h > prev) {
                    hit[*i] = Some(*h);
                }
            }
        }
        Ok(live
            .into_iter()
            .zip(hit)
            .filter_map(|(s, h)| h.map(|h| (s, h)))
            .collect())
    }

    /// The streams named by `(client_id, stream_id)`, in order (`None`: gone). 1 round trip
    /// (BatchGetItem) per 100.
    pub async fn get_streams(
        &self,
        which: &[(&str, &str)],
    ) -> Result<Vec<Option<StreamItem>>, StoreError> {
        let mut out = Vec::with_capacity(which.len());
        for chunk in which.chunks(100) {
            let ks: Vec<(String, String)> =
                chunk.iter().map(|(c, id)| keys::stream(c, id)).collect();
            for found in self.get_many(&ks).await? {
                out.push(found.map(from_item).transpose()?);
            }
        }
        Ok(out)
    }

    /// Write new pending events (a fan-out, a verification request). A fan-out run twice
    /// writes the same keys and bytes. 1 round trip (BatchWriteItem) per 25, 1–2 write
    /// units each (a SET is about 1 KB), + 1 for each push event's due copy.
    pub async fn put_stream_events(&self, events: &[StreamEventItem]) -> Result<(), StoreError> {
        let puts = events.iter().map(to_item).collect::<Result<Vec<_>, _>>()?;
        self.write_many(puts, Vec::new()).await
    }

    /// One event by its sort key (pending or receipt). 1 round trip (GetItem).
    pub async fn get_stream_event(
        &self,
        stream_id: &str,
        sk: &str,
    ) -> Result<Option<StreamEventItem>, StoreError> {
        self.get(&keys::stream_events_pk(stream_id), sk)
            .await?
            .map(from_item)
            .transpose()
    }

    /// Move pending events to their receipts (each already [`StreamEventItem::finished`]):
    /// the receipt is put before the pending item goes, so a crash in between leaves the
    /// event pending (sent again: receivers tell repeats by `jti`), never lost. 1 round trip
    /// (BatchWriteItem) per 12 events.
    pub async fn finish_stream_events(&self, done: &[StreamEventItem]) -> Result<(), StoreError> {
        for chunk in done.chunks(12) {
            let mut puts = Vec::with_capacity(chunk.len());
            let mut deletes = Vec::with_capacity(chunk.len());
            for r in chunk {
                puts.push(to_item(r)?);
                deletes.push((r.pk.clone(), keys::stream_event_pending(&r.jti)));
            }
            self.write_many(puts, deletes).await?;
        }
        Ok(())
    }

    /// Put a receipt back to pending (a replay): the pending item is written before the
    /// receipt goes. 1 round trip (BatchWriteItem).
    pub async fn reopen_stream_event(&self, reopened: &StreamEventItem) -> Result<(), StoreError> {
        let receipt = (
            reopened.pk.clone(),
            keys::stream_event_receipt(&reopened.jti),
        );
        self.write_many(vec![to_item(reopened)?], vec![receipt])
            .await
    }

    /// Record a failed push attempt that will be retried: attempts, the answer, and when the
    /// relay should send it again. 1 round trip (UpdateItem); `ConditionFailed` if it is no
    /// longer pending.
    pub async fn record_stream_event_retry(
        &self,
        ev: &StreamEventItem,
        http_status: Option<u16>,
        error: &str,
        due_s: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut u = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(ev.pk.clone(), ev.sk.clone())))
            .condition_expression("#st = :pending")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":err", s(error))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":due", s(keys::due_sort(due_s, &ev.jti)));
        u = match http_status {
            Some(h) => u
                .update_expression(
                    "SET attempts = attempts + :one, last_error = :err, updated_ms = :now, \
                     gsi2sk = :due, last_http_status = :h",
                )
                .expression_attribute_values(":h", n(i64::from(h))),
            None => u.update_expression(
                "SET attempts = attempts + :one, last_error = :err, updated_ms = :now, \
                 gsi2sk = :due REMOVE last_http_status",
            ),
        };
        u.send().await.map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Up to `limit` of a stream's pending events, oldest first, and whether more wait.
    /// 1 round trip (Query of the pending range only: receipts are never read).
    pub async fn pending_stream_events(
        &self,
        stream_id: &str,
        limit: usize,
    ) -> Result<(Vec<StreamEventItem>, bool), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
            .expression_attribute_values(":pk", s(keys::stream_events_pk(stream_id)))
            .expression_attribute_values(":p", s(keys::EVENT_PENDING_PREFIX))
            .limit(limit.saturating_add(1).min(1001) as i32)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let mut items: Vec<StreamEventItem> = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<_, _>>()?;
        let more = items.len() > limit || out.last_evaluated_key.is_some_and(|k| !k.is_empty());
        items.truncate(limit);
        Ok((items, more))
    }

    /// A stream's pending events with these `jti`s (`None`: not pending — acknowledged
    /// already, or unknown). 1 round trip (BatchGetItem) per 100.
    pub async fn pending_stream_events_by_jti(
        &self,
        stream_id: &str,
        jtis: &[&str],
    ) -> Result<Vec<Option<StreamEventItem>>, StoreError> {
        let pk = keys::stream_events_pk(stream_id);
        let mut out = Vec::with_capacity(jtis.len());
        for chunk in jtis.chunks(100) {
            let ks: Vec<(String, String)> = chunk
                .iter()
                .map(|j| (pk.clone(), keys::stream_event_pending(j)))
                .collect();
            for found in self.get_many(&ks).await? {
                out.push(found.map(from_item).transpose()?);
            }
        }
        Ok(out)
    }

    /// Every event of a stream, pending and final, newest receipts included (the Admin
    /// API's receipts). Round trips: 1 Query per MB page.
    pub async fn stream_events(&self, stream_id: &str) -> Result<Vec<StreamEventItem>, StoreError> {
        self.query_partition(&keys::stream_events_pk(stream_id), None)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// Every signal record (admin tooling and tests only: a Scan, never on a request path).
    pub async fn list_signals(&self) -> Result<Vec<SignalItem>, StoreError> {
        self.scan_kind(keys::SIGNAL_SK)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }
}
