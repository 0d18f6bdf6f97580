//! SSF streams and their subjects (issue 21). A stream lives in its owner's partition
//! (`CLIENT#<client>` / `STREAM#<id>`), so every read is keyed by the calling client and
//! another client's stream is simply not found; its subjects are a partition of their own
//! (`SSF#<stream>` / `SUBJECT#<hash>`). Round trips are stated per method
//! (`docs/round-trips.md`, "SSF stream management").

use super::{bld, item_key, n, Store};
use crate::store::schema::{
    from_item, keys, to_item, StreamIndexItem, StreamItem, StreamStatus, SubjectItem,
};
use crate::store::StoreError;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem};

/// How many items one TransactWriteItems may hold.
const TX_ITEMS: usize = 100;

impl Store {
    /// One of `client_id`'s streams. 1 round trip (GetItem).
    pub async fn get_stream(
        &self,
        client_id: &str,
        stream_id: &str,
    ) -> Result<Option<StreamItem>, StoreError> {
        let (pk, sk) = keys::stream(client_id, stream_id);
        self.get(&pk, &sk).await?.map(from_item).transpose()
    }

    /// Every stream of `client_id`. 1 round trip (Query of its partition's `STREAM#` items).
    pub async fn list_streams(&self, client_id: &str) -> Result<Vec<StreamItem>, StoreError> {
        self.query_partition(&keys::client(client_id).0, Some(keys::STREAM_PREFIX))
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// Write a stream whole: a new one (`read_v = None`: only if absent) or a change of the
    /// version `read_v` it was read at (`ConditionFailed` if it was deleted or changed since),
    /// with its registry entry ([`StreamIndexItem`]). 1 round trip (TransactWriteItems of
    /// the two puts).
    pub async fn put_stream(
        &self,
        stream: &StreamItem,
        read_v: Option<i64>,
    ) -> Result<(), StoreError> {
        let p = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(stream)?));
        let p = match read_v {
            None => p.condition_expression("attribute_not_exists(pk)"),
            Some(v) => p
                .condition_expression("attribute_exists(pk) AND v = :v")
                .expression_attribute_values(":v", n(v)),
        };
        let index = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(&StreamIndexItem::of(stream))?));
        self.transact(vec![
            TransactWriteItem::builder().put(bld(p.build())?).build(),
            TransactWriteItem::builder()
                .put(bld(index.build())?)
                .build(),
        ])
        .await
        .map_err(condition)
    }

    /// Whether any stream may receive signals (one is `enabled` or `paused`; a `disabled`
    /// stream neither receives nor keeps them). 1 round trip (Query of the registry; a
    /// partition of a few items per receiver).
    pub async fn any_signal_streams(&self) -> Result<bool, StoreError> {
        Ok(self
            .stream_index()
            .await?
            .iter()
            .any(|s| s.status != StreamStatus::Disabled))
    }

    /// The registry of every stream. 1 round trip per MB (Query).
    pub async fn stream_index(&self) -> Result<Vec<StreamIndexItem>, StoreError> {
        self.query_partition(keys::STREAMS_PK, Some(keys::STREAM_PREFIX))
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// Delete a stream and its subjects. `ConditionFailed` if the stream is not there.
    /// Its registry entry goes in the first transaction. Round trips: 1 Query (its subjects)
    /// + 1 TransactWriteItems per 100 items.
    pub async fn delete_stream(&self, client_id: &str, stream_id: &str) -> Result<(), StoreError> {
        let subjects = self
            .query_partition(
                &keys::stream_subjects_pk(stream_id),
                Some(keys::SUBJECT_PREFIX),
            )
            .await?;
        let (pk, sk) = keys::stream(client_id, stream_id);
        let mut first = vec![TransactWriteItem::builder()
            .delete(bld(Delete::builder()
                .table_name(&self.table)
                .set_key(Some(item_key(pk, sk)))
                .condition_expression("attribute_exists(pk)")
                .build())?)
            .build()];
        let (ipk, isk) = keys::stream_index(stream_id);
        first.push(
            TransactWriteItem::builder()
                .delete(bld(Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(item_key(ipk, isk)))
                    .build())?)
                .build(),
        );
        let mut rest = Vec::new();
        for it in subjects {
            let s: SubjectItem = from_item(it)?;
            let d = TransactWriteItem::builder()
                .delete(bld(Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(item_key(s.pk, s.sk)))
                    .build())?)
                .build();
            if first.len() < TX_ITEMS {
                first.push(d);
            } else {
                rest.push(d);
            }
        }
        self.transact(first).await.map_err(condition)?;
        for chunk in rest.chunks(TX_ITEMS) {
            self.transact(chunk.to_vec()).await?;
        }
        Ok(())
    }

    /// Add (or re-add) a subject to a stream of `client_id`, only while that stream exists
    /// (`ConditionFailed` otherwise). 1 round trip (TransactWriteItems: the stream's check
    /// and the subject's put).
    pub async fn put_subject(
        &self,
        client_id: &str,
        stream_id: &str,
        subject: &SubjectItem,
    ) -> Result<(), StoreError> {
        let put = TransactWriteItem::builder()
            .put(bld(Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item(subject)?))
                .build())?)
            .build();
        self.transact(vec![self.stream_exists(client_id, stream_id)?, put])
            .await
            .map_err(condition)
    }

    /// Remove a subject (by its key) from a stream of `client_id`; removing one that is not
    /// there succeeds. `ConditionFailed` if the stream does not exist. 1 round trip
    /// (TransactWriteItems: the stream's check and the subject's delete).
    pub async fn delete_subject(
        &self,
        client_id: &str,
        stream_id: &str,
        subject_key: (String, String),
    ) -> Result<(), StoreError> {
        let del = TransactWriteItem::builder()
            .delete(bld(Delete::builder()
                .table_name(&self.table)
                .set_key(Some(item_key(subject_key.0, subject_key.1)))
                .build())?)
            .build();
        self.transact(vec![self.stream_exists(client_id, stream_id)?, del])
            .await
            .map_err(condition)
    }

    /// A stream's subjects. 1 round trip per MB (Query).
    pub async fn list_subjects(&self, stream_id: &str) -> Result<Vec<SubjectItem>, StoreError> {
        self.query_partition(
            &keys::stream_subjects_pk(stream_id),
            Some(keys::SUBJECT_PREFIX),
        )
        .await?
        .into_iter()
        .map(from_item)
        .collect()
    }

    fn stream_exists(
        &self,
        client_id: &str,
        stream_id: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = keys::stream(client_id, stream_id);
        Ok(TransactWriteItem::builder()
            .condition_check(bld(ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(item_key(pk, sk)))
                .condition_expression("attribute_exists(pk)")
                .build())?)
            .build())
    }
}

/// A transaction refused by a failed condition is `ConditionFailed` (the stream is not
/// there); anything else as it was.
fn condition(e: StoreError) -> StoreError {
    match e {
        StoreError::TransactionCancelled(r) if r.iter().any(|c| c == "ConditionalCheckFailed") => {
            StoreError::ConditionFailed
        }
        e => e,
    }
}
