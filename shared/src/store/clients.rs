//! Registered clients (relying parties).

use super::Store;
use crate::store::schema::{from_item, keys, to_item, ClientItem};
use crate::store::StoreError;

impl Store {
    /// Create (`create = true`, fails with `ConditionFailed` if it exists) or replace a
    /// client. 1 round trip.
    pub async fn put_client(&self, client: &ClientItem, create: bool) -> Result<(), StoreError> {
        let cond = if create {
            "attribute_not_exists(pk)"
        } else {
            "attribute_exists(pk)"
        };
        self.put(to_item(client)?, Some(cond)).await
    }

    /// 1 round trip.
    pub async fn get_client(&self, client_id: &str) -> Result<Option<ClientItem>, StoreError> {
        let (pk, sk) = keys::client(client_id);
        self.get(&pk, &sk).await?.map(from_item).transpose()
    }

    /// Every client (admin CLI only).
    pub async fn list_clients(&self) -> Result<Vec<ClientItem>, StoreError> {
        self.scan_kind("CLIENT")
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }
}
