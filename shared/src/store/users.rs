//! Users and usernames.

use super::{bld, item_key, n, s, Store};
use crate::store::schema::{from_item, keys, to_item, SignalItem, UserItem, UsernameItem};
use crate::store::StoreError;
use aws_sdk_dynamodb::types::{Delete, Put, ReturnValue, TransactWriteItem, Update};

/// A password change: the new hash, and the credential version one higher (a login racing
/// the change fails on it).
const PASSWORD_UPDATE: &str = "SET #h = :h, #v = if_not_exists(#v, :zero) + :one";

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

    /// Set a user's password hash and bump its `credential_version` (an UpdateItem, so a
    /// concurrent write of other fields is not clobbered). Returns the new version; an unknown
    /// user is `ConditionFailed`. 1 round trip (UpdateItem).
    pub async fn set_password_hash(&self, user_id: &str, hash: &str) -> Result<i64, StoreError> {
        let (pk, sk) = keys::user(user_id);
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(pk, sk)))
            .update_expression(PASSWORD_UPDATE)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#h", "password_hash")
            .expression_attribute_names("#v", "credential_version")
            .expression_attribute_values(":h", s(hash))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let version = out
            .attributes
            .as_ref()
            .and_then(|a| a.get("credential_version"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(version)
    }

    /// [`Store::set_password_hash`] and, with `signal`, the Shared Signals record of the
    /// change in the same transaction (so the change is never without its signal). 1 round
    /// trip (UpdateItem, or TransactWriteItems with a signal).
    pub async fn set_password_hash_signalled(
        &self,
        user_id: &str,
        hash: &str,
        signal: Option<&SignalItem>,
    ) -> Result<(), StoreError> {
        let Some(sig) = signal else {
            return self.set_password_hash(user_id, hash).await.map(|_| ());
        };
        let (pk, sk) = keys::user(user_id);
        let u = bld(Update::builder()
            .table_name(&self.table)
            .set_key(Some(item_key(pk, sk)))
            .update_expression(PASSWORD_UPDATE)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#h", "password_hash")
            .expression_attribute_names("#v", "credential_version")
            .expression_attribute_values(":h", s(hash))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .build())?;
        self.with_signal(TransactWriteItem::builder().update(u).build(), sig)
            .await
    }

    /// Set or clear a user's `disabled` flag (an UpdateItem: no other field is rewritten). An
    /// unknown user is `ConditionFailed`. 1 round trip (UpdateItem).
    pub async fn set_user_disabled(&self, user_id: &str, disabled: bool) -> Result<(), StoreError> {
        self.set_user_disabled_signalled(user_id, disabled, None)
            .await
    }

    /// [`Store::set_user_disabled`] and, with `signal`, the Shared Signals record of the
    /// change in the same transaction. 1 round trip (UpdateItem, or TransactWriteItems).
    pub async fn set_user_disabled_signalled(
        &self,
        user_id: &str,
        disabled: bool,
        signal: Option<&SignalItem>,
    ) -> Result<(), StoreError> {
        if let Some(sig) = signal {
            let (pk, sk) = keys::user(user_id);
            let u = bld(Update::builder()
                .table_name(&self.table)
                .set_key(Some(item_key(pk, sk)))
                .update_expression("SET #d = :d")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#d", "disabled")
                .expression_attribute_values(
                    ":d",
                    aws_sdk_dynamodb::types::AttributeValue::Bool(disabled),
                )
                .build())?;
            return self
                .with_signal(TransactWriteItem::builder().update(u).build(), sig)
                .await;
        }
        let (pk, sk) = keys::user(user_id);
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(pk, sk)))
            .update_expression("SET #d = :d")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#d", "disabled")
            .expression_attribute_values(
                ":d",
                aws_sdk_dynamodb::types::AttributeValue::Bool(disabled),
            )
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Delete a user and free its username, together: the user item (it must exist) and the
    /// username item (only while it still names this user). Either condition failing is
    /// `ConditionFailed`. 1 round trip (TransactWriteItems).
    pub async fn delete_user(&self, user: &UserItem) -> Result<(), StoreError> {
        self.delete_user_signalled(user, None).await
    }

    /// [`Store::delete_user`] and, with `signal`, the Shared Signals record of the deletion in
    /// the same transaction. 1 round trip (TransactWriteItems).
    pub async fn delete_user_signalled(
        &self,
        user: &UserItem,
        signal: Option<&SignalItem>,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::user(&user.user_id);
        let (upk, usk) = keys::username(&user.username);
        let user_del = bld(Delete::builder()
            .table_name(&self.table)
            .set_key(Some(item_key(pk, sk)))
            .condition_expression("attribute_exists(pk)")
            .build())?;
        let name_del = bld(Delete::builder()
            .table_name(&self.table)
            .set_key(Some(item_key(upk, usk)))
            .condition_expression("user_id = :uid")
            .expression_attribute_values(":uid", s(&user.user_id))
            .build())?;
        // The session limit's live set goes too (its ids ended with the user's sessions).
        let (lpk, lsk) = keys::live_sessions(&user.user_id);
        let live_del = bld(Delete::builder()
            .table_name(&self.table)
            .set_key(Some(item_key(lpk, lsk)))
            .build())?;
        let mut tx = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(user_del).build())
            .transact_items(TransactWriteItem::builder().delete(name_del).build())
            .transact_items(TransactWriteItem::builder().delete(live_del).build());
        if let Some(sig) = signal {
            tx = tx.transact_items(super::tokens::put_tx(
                &self.table,
                self.signal_item(sig)?,
                false,
            )?);
        }
        tx.send()
            .await
            .map_err(super::transact_error)
            .map_err(|e| match e {
                StoreError::TransactionCancelled(_) => StoreError::ConditionFailed,
                other => other,
            })?;
        Ok(())
    }

    /// `change` and the put of `sig` in one transaction; a refused condition is
    /// `ConditionFailed`.
    async fn with_signal(
        &self,
        change: TransactWriteItem,
        sig: &SignalItem,
    ) -> Result<(), StoreError> {
        let put = super::tokens::put_tx(&self.table, self.signal_item(sig)?, false)?;
        self.transact(vec![change, put]).await.map_err(|e| match e {
            StoreError::TransactionCancelled(_) => StoreError::ConditionFailed,
            other => other,
        })
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
