//! Codes and tokens. Only hashes are stored: the `pk` of a token or code is the
//! base64url SHA-256 of the value the client holds.

use super::{n, s, Store};
use crate::error::StoreError;
use crate::schema::{
    from_item, keys, to_item, CodeMarker, SessionTokenLink, SharedGrantItem, TokenItem,
};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};

/// One token-issuing write: new tokens, existing shared tokens to map to more sessions,
/// the sessions they map to, and an optional refresh token being rotated.
#[derive(Debug, Default)]
pub struct Issue {
    pub new_tokens: Vec<(String, TokenItem)>,
    /// Existing (shared) tokens `(hash, kind, family, expires_at)` to map to `sessions` too.
    pub link_existing: Vec<(String, String, String, i64)>,
    pub sessions: Vec<String>,
    pub rotate_refresh: Option<String>,
    pub shared_grant: Option<SharedGrantItem>,
    /// A code exchange: the code's use marker, put first and only if absent.
    pub code_marker: Option<CodeMarker>,
}

fn bld<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Backend(e.to_string()))
}

impl Store {
    /// The use marker of an exchanged code, if any. 1 round trip (GetItem).
    pub async fn get_code_marker(&self, code_hash: &str) -> Result<Option<CodeMarker>, StoreError> {
        let (pk, sk) = keys::code(code_hash);
        self.get(&pk, &sk).await?.map(from_item).transpose()
    }

    /// 1 round trip (GetItem). Returns the item whatever its status or expiry.
    pub async fn get_token(&self, token_hash: &str) -> Result<Option<TokenItem>, StoreError> {
        let (pk, sk) = keys::token(token_hash);
        self.get(&pk, &sk).await?.map(from_item).transpose()
    }

    /// 1 round trip (GetItem).
    pub async fn get_shared_grant(
        &self,
        discriminator: &str,
    ) -> Result<Option<SharedGrantItem>, StoreError> {
        let (pk, sk) = keys::shared_grant(discriminator);
        self.get(&pk, &sk).await?.map(from_item).transpose()
    }

    /// Write an issuance in one transaction (1 round trip): the code's use marker, token
    /// items, session links (which carry each token's family), the rotated refresh token, the shared-grant
    /// pointer, and a version bump on every session, conditioned on the session being
    /// active (so no token is ever mapped to an ended session). `AlreadyUsed` = the code was
    /// exchanged before; `ConditionFailed` = a session ended or the refresh token was
    /// already rotated.
    pub async fn issue(&self, issue: &Issue) -> Result<(), StoreError> {
        let mut tx: Vec<TransactWriteItem> = Vec::new();
        if let Some(m) = &issue.code_marker {
            tx.push(put_tx(&self.table, to_item(m)?, true)?);
        }
        for sid in &issue.sessions {
            tx.push(
                TransactWriteItem::builder()
                    .update(bld(Update::builder()
                        .table_name(&self.table)
                        .key("pk", s(keys::session_pk(sid)))
                        .key("sk", s(keys::SESSION_SK))
                        .update_expression("SET version = if_not_exists(version, :zero) + :one")
                        .condition_expression("#st = :active")
                        .expression_attribute_names("#st", "status")
                        .expression_attribute_values(":active", s("active"))
                        .expression_attribute_values(":zero", n(0))
                        .expression_attribute_values(":one", n(1))
                        .build())?)
                    .build(),
            );
        }
        for (hash, tok) in &issue.new_tokens {
            tx.push(put_tx(&self.table, to_item(tok)?, true)?);
            for sid in &issue.sessions {
                let l =
                    super::sessions::token_link(sid, hash, &tok.kind, &tok.family, tok.expires_at);
                tx.push(put_tx(&self.table, super::sessions::link_item(&l)?, false)?);
            }
        }
        for (hash, kind, family, exp) in &issue.link_existing {
            let (pk, sk) = keys::token(hash);
            let sids: Vec<AttributeValue> = issue.sessions.iter().map(|x| s(x.clone())).collect();
            tx.push(
                TransactWriteItem::builder()
                    .update(bld(Update::builder()
                        .table_name(&self.table)
                        .key("pk", s(pk))
                        .key("sk", s(sk))
                        .update_expression("SET sessions = list_append(sessions, :sids)")
                        .condition_expression("#st = :active AND exp > :now")
                        .expression_attribute_names("#st", "status")
                        .expression_attribute_values(":active", s("active"))
                        .expression_attribute_values(":now", n(crate::time::now_s()))
                        .expression_attribute_values(":sids", AttributeValue::L(sids))
                        .build())?)
                    .build(),
            );
            for sid in &issue.sessions {
                let l = super::sessions::token_link(sid, hash, kind, family, *exp);
                tx.push(put_tx(&self.table, super::sessions::link_item(&l)?, false)?);
            }
        }
        if let Some(old) = &issue.rotate_refresh {
            let (pk, sk) = keys::token(old);
            tx.push(
                TransactWriteItem::builder()
                    .update(bld(Update::builder()
                        .table_name(&self.table)
                        .key("pk", s(pk))
                        .key("sk", s(sk))
                        .update_expression("SET #st = :rotated")
                        .condition_expression("#st = :active")
                        .expression_attribute_names("#st", "status")
                        .expression_attribute_values(":active", s("active"))
                        .expression_attribute_values(":rotated", s("rotated"))
                        .build())?)
                    .build(),
            );
        }
        if let Some(g) = &issue.shared_grant {
            tx.push(put_tx(&self.table, to_item(g)?, false)?);
        }
        self.transact(tx).await.map_err(|e| match e {
            StoreError::TransactionCancelled(r)
                if issue.code_marker.is_some()
                    && r.first().is_some_and(|c| c == "ConditionalCheckFailed") =>
            {
                StoreError::AlreadyUsed
            }
            StoreError::TransactionCancelled(r)
                if r.iter().any(|c| c == "ConditionalCheckFailed") =>
            {
                StoreError::ConditionFailed
            }
            other => other,
        })?;
        Ok(())
    }

    /// Hashes of every token of a grant family: the links of the family's sessions that
    /// name it. 1 round trip (Query of the token links) per session.
    pub async fn family_tokens(
        &self,
        sessions: &[String],
        family: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut out: Vec<String> = Vec::new();
        for sid in sessions {
            for it in self
                .query_partition(&keys::session_pk(sid), Some(keys::TOKEN_LINK_PREFIX))
                .await?
            {
                let l: SessionTokenLink = from_item(it)?;
                if l.family == family && !out.contains(&l.token_hash) {
                    out.push(l.token_hash);
                }
            }
        }
        Ok(out)
    }

    /// Mark tokens revoked, idempotently, in transactions of up to 100 items
    /// (1 round trip per 100 tokens). Tokens that no longer exist are skipped.
    pub async fn revoke_tokens(&self, hashes: &[String], reason: &str) -> Result<(), StoreError> {
        for chunk in hashes.chunks(100) {
            let mut pending: Vec<&String> = chunk.iter().collect();
            for _attempt in 0..4 {
                if pending.is_empty() {
                    break;
                }
                let tx = pending
                    .iter()
                    .map(|h| revoke_tx(&self.table, h, reason))
                    .collect::<Result<Vec<_>, _>>()?;
                match self.transact(tx).await {
                    Ok(()) => {
                        pending.clear();
                    }
                    Err(StoreError::TransactionCancelled(reasons)) => {
                        // Drop the tokens that no longer exist, retry the rest.
                        let before = pending.len();
                        pending = pending
                            .into_iter()
                            .zip(reasons.iter().chain(std::iter::repeat(&String::new())))
                            .filter(|(_, r)| r.as_str() != "ConditionalCheckFailed")
                            .map(|(h, _)| h)
                            .collect();
                        if pending.len() == before {
                            return Err(StoreError::TransactionCancelled(reasons));
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn put_tx(
    table: &str,
    item: super::Item,
    must_be_new: bool,
) -> Result<TransactWriteItem, StoreError> {
    let mut p = Put::builder().table_name(table).set_item(Some(item));
    if must_be_new {
        p = p.condition_expression("attribute_not_exists(pk)");
    }
    Ok(TransactWriteItem::builder().put(bld(p.build())?).build())
}

pub(crate) fn revoke_tx(
    table: &str,
    hash: &str,
    reason: &str,
) -> Result<TransactWriteItem, StoreError> {
    let (pk, sk) = keys::token(hash);
    Ok(TransactWriteItem::builder()
        .update(bld(Update::builder()
            .table_name(table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(
                "SET #st = :revoked, revoked_reason = if_not_exists(revoked_reason, :why)",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":revoked", s("revoked"))
            .expression_attribute_values(":why", s(reason))
            .build())?)
        .build())
}
