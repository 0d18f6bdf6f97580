//! Users and usernames.

use super::{s, Store};
use crate::store::schema::{from_item, keys, to_item, UserItem, UsernameItem};
use crate::store::StoreError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

impl Store {
    /// Create a user and claim the username. 1 round trip (TransactWriteItems).
    /// A taken username is `ConditionFailed`.
    pub async fn create_user(&self, user: &UserItem) -> Result<(), StoreError> {
        let (upk, usk) = keys::username(&user.username);
        let name = UsernameItem {
            pk: upk,
            sk: usk,
            user_id: user.user_id.clone(),
        };
        let put = |item| -> Result<TransactWriteItem, StoreError> {
            Ok(TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .map_err(|e| StoreError::Backend(e.to_string()))?,
                )
                .build())
        };
        self.client
            .transact_write_items()
            .transact_items(put(to_item(user)?)?)
            .transact_items(put(to_item(&name)?)?)
            .send()
            .await
            .map_err(super::transact_error)
            .map_err(|e| match e {
                StoreError::TransactionCancelled(_) => StoreError::ConditionFailed,
                other => other,
            })?;
        Ok(())
    }

    /// 1 round trip.
    pub async fn get_user(&self, user_id: &str) -> Result<Option<UserItem>, StoreError> {
        let (pk, sk) = keys::user(user_id);
        self.get(&pk, &sk).await?.map(from_item).transpose()
    }

    /// 2 round trips (username → id, id → user).
    pub async fn user_by_username(&self, username: &str) -> Result<Option<UserItem>, StoreError> {
        let (pk, sk) = keys::username(username);
        let Some(item) = self.get(&pk, &sk).await? else {
            return Ok(None);
        };
        let name: UsernameItem = from_item(item)?;
        self.get_user(&name.user_id).await
    }

    /// Replace a user item (username unchanged). 1 round trip.
    pub async fn update_user(&self, user: &UserItem) -> Result<(), StoreError> {
        self.put(to_item(user)?, Some("attribute_exists(pk)")).await
    }

    /// Every user (admin CLI only: a Scan, never on a request path).
    pub async fn list_users(&self) -> Result<Vec<UserItem>, StoreError> {
        self.scan_kind("USER")
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// Scan for items with the given `sk` (admin tooling only).
    pub(crate) async fn scan_kind(&self, sk: &str) -> Result<Vec<super::Item>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :sk")
                .expression_attribute_values(":sk", s(sk))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }
}
