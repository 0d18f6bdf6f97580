//! Shared Signals outbox records ([`SignalItem`], issue 21): written inside a termination's
//! transaction (`Store::commit_termination_signalled`, `Store::commit_terminations_signalled`)
//! or with an account change; read back here.

use super::Store;
use crate::store::schema::{from_item, keys, to_item, SignalItem};
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

    /// Every signal record (admin tooling and tests only: a Scan, never on a request path).
    pub async fn list_signals(&self) -> Result<Vec<SignalItem>, StoreError> {
        self.scan_kind(keys::SIGNAL_SK)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }
}
