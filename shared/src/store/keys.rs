//! Signing keys, all in the `KEYS` partition.

use super::{s, Store};
use crate::error::StoreError;
use crate::schema::{from_item, keys, to_item, SigningKeyItem};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};

impl Store {
    /// Every signing key. 1 round trip (Query).
    pub async fn list_signing_keys(&self) -> Result<Vec<SigningKeyItem>, StoreError> {
        self.query_partition(keys::KEYS_PK, Some("KEY#"))
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// Add `new` as the active key; the current active key becomes `previous` and any older
    /// `previous` key `retired`. 1 round trip (TransactWriteItems). When `expect_none` is
    /// set the write fails with `ConditionFailed` if any key exists (first start races).
    pub async fn rotate_signing_key(
        &self,
        new: &SigningKeyItem,
        existing: &[SigningKeyItem],
    ) -> Result<(), StoreError> {
        let mut tx = vec![TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_item(new)?))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .map_err(|e| StoreError::Backend(e.to_string()))?,
            )
            .build()];
        for k in existing {
            let next = match k.status.as_str() {
                "active" => "previous",
                "previous" => "retired",
                _ => continue,
            };
            tx.push(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(&self.table)
                            .key("pk", s(keys::KEYS_PK))
                            .key("sk", s(keys::signing_key_sk(&k.kid)))
                            .update_expression("SET #st = :next")
                            .condition_expression("#st = :cur")
                            .expression_attribute_names("#st", "status")
                            .expression_attribute_values(":next", s(next))
                            .expression_attribute_values(":cur", s(k.status.clone()))
                            .build()
                            .map_err(|e| StoreError::Backend(e.to_string()))?,
                    )
                    .build(),
            );
        }
        self.transact(tx).await?;
        Ok(())
    }
}
