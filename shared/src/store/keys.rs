//! Signing keys, all in the `KEYS` partition.

use super::{item_key, s, Store};
use crate::store::schema::{from_item, keys, to_item, KeyStatus, SigningKeyItem};
use crate::store::StoreError;
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

    /// Add `new` (wrapped: `KeyProtector::wrap`; a key in the clear is refused) as the
    /// active key; the current active key becomes `previous` and any older
    /// `previous` key `retired`. 1 round trip (TransactWriteItems). When `expect_none` is
    /// set the write fails with `ConditionFailed` if any key exists (first start races).
    pub async fn rotate_signing_key(
        &self,
        new: &SigningKeyItem,
        existing: &[SigningKeyItem],
    ) -> Result<(), StoreError> {
        if new.private_pkcs8.is_some() || new.private_wrapped.is_none() {
            return Err(StoreError::Backend(
                "refusing to store a signing key that is not wrapped".into(),
            ));
        }
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
            let next = match k.status {
                KeyStatus::Active => KeyStatus::Previous,
                KeyStatus::Previous => KeyStatus::Retired,
                KeyStatus::Retired => continue,
            };
            tx.push(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(&self.table)
                            .set_key(Some(item_key(keys::KEYS_PK, keys::signing_key_sk(&k.kid))))
                            .update_expression("SET #st = :next")
                            .condition_expression("#st = :cur")
                            .expression_attribute_names("#st", "status")
                            .expression_attribute_values(":next", s(next))
                            .expression_attribute_values(":cur", s(k.status))
                            .build()
                            .map_err(|e| StoreError::Backend(e.to_string()))?,
                    )
                    .build(),
            );
        }
        self.transact(tx).await?;
        Ok(())
    }

    /// Replace an older key's clear private key with its wrapped form (`wrapped` from
    /// `KeyProtector::wrap`). 1 round trip (UpdateItem, only if the clear key is still
    /// there: `ConditionFailed` when another run did it first).
    pub async fn protect_signing_key(&self, kid: &str, wrapped: &str) -> Result<(), StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(keys::KEYS_PK, keys::signing_key_sk(kid))))
            .update_expression("SET private_wrapped = :w REMOVE private_pkcs8")
            .condition_expression("attribute_exists(private_pkcs8)")
            .expression_attribute_values(":w", s(wrapped))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }
}
