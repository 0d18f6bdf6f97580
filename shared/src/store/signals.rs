//! Shared Signals outbox records ([`SignalItem`], issue 21): written inside a termination's
//! transaction (`Store::commit_termination_signalled`, `Store::commit_terminations_signalled`)
//! or with an account change; read back here.

use super::Store;
use crate::store::schema::{from_item, keys, to_item, SignalItem, StreamIndexItem, StreamStatus};
use crate::store::StoreError;

impl Store {
    /// Write a signal record on its own (an account change). 1 round trip (PutItem).
    pub async fn put_signal(&self, sig: &SignalItem) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(sig)?))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// One signal record. 1 round trip (GetItem).
    pub async fn get_signal(&self, id: &str) -> Result<Option<SignalItem>, StoreError> {
        let (pk, sk) = keys::signal(id);
        self.get(&pk, &sk).await?.map(from_item).transpose()
    }

    /// The streams, of those `index` lists, that are not `disabled` and have a subject keyed
    /// by one of `subject_hashes` (the forms that name the user:
    /// `crate::ssf::fanout::subject_hashes`), in `index` order. Round trips: 1 BatchGetItem
    /// per 100 keys (streams × forms; a few streams × up to 6 forms is one).
    pub async fn streams_matching<'a>(
        &self,
        index: &'a [StreamIndexItem],
        subject_hashes: &[String],
    ) -> Result<Vec<&'a StreamIndexItem>, StoreError> {
        let live: Vec<&StreamIndexItem> = index
            .iter()
            .filter(|s| s.status != StreamStatus::Disabled)
            .collect();
        let wanted: Vec<(usize, (String, String))> = live
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                subject_hashes
                    .iter()
                    .map(move |h| (i, keys::stream_subject(&s.stream_id, h)))
            })
            .collect();
        let mut hit = vec![false; live.len()];
        for chunk in wanted.chunks(100) {
            let ks: Vec<(String, String)> = chunk.iter().map(|(_, k)| k.clone()).collect();
            for ((i, _), found) in chunk.iter().zip(self.get_many(&ks).await?) {
                hit[*i] |= found.is_some();
            }
        }
        Ok(live
            .into_iter()
            .zip(hit)
            .filter_map(|(s, h)| h.then_some(s))
            .collect())
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
