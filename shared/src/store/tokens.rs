//! Codes and tokens. Only hashes are stored: the `pk` of a token or code is the
//! base64url SHA-256 of the value the client holds.

use super::sessions::token_link;
use super::{bld, item_key, n, s, Resend, Store};
use crate::store::schema::{
    from_item, keys, to_item, HeldGrant, SessionItem, SessionStatus, SessionTokenLink,
    SharedGrantItem, TokenItem, TokenStatus,
};
use crate::store::StoreError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};
use std::collections::{BTreeMap, HashMap};

/// Where a token's state is kept, for writes that change it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum TokenRef {
    /// A `TOKEN#` item, by the token's hash.
    Item(String),
    /// Tokens held by the link `key` of session `sid`: both of them, or (`access_only`,
    /// an RFC 7009 revocation of the access token) the access token alone.
    Held {
        /// The session whose partition holds the link.
        sid: String,
        /// The link's key (`TOKEN#<key>`): a code's hash, the first token's hash or a random id.
        key: String,
        /// Revoke only the access token (the refresh token is already rotated, revoked or was never
        /// issued).
        access_only: bool,
    },
}

impl TokenRef {
    /// The `(pk, sk)` of the item that keeps this token's state.
    fn item_key(&self) -> (String, String) {
        match self {
            TokenRef::Item(hash) => keys::token(hash),
            TokenRef::Held { sid, key, .. } => (keys::session_pk(sid), keys::session_token_sk(key)),
        }
    }

    /// What revoking the tokens `link` holds must change: both states, or the access
    /// token's alone once the refresh token is rotated, revoked or was never issued (a
    /// rotated token stays `rotated`).
    pub fn held(link: &SessionTokenLink) -> Self {
        let refresh_done = link.refresh_status.is_some()
            || link.grant.as_ref().is_some_and(|g| g.refresh.is_none());
        TokenRef::Held {
            sid: link.sid().to_string(),
            key: link.key().to_string(),
            access_only: refresh_done,
        }
    }
}

/// A token found by its value: its state as a token item, and where that state is kept.
#[derive(Debug, Clone)]
pub struct FoundToken {
    /// The token's state; for a held token, assembled from its link and the link's grant.
    pub item: TokenItem,
    /// Where that state is kept, for a later revocation or rotation.
    pub at: TokenRef,
}

/// One token-issuing write: new tokens (all of `family`), existing shared tokens to map to
/// more sessions, the sessions they map to, and an optional refresh token being rotated.
#[derive(Debug, Default)]
pub struct Issue {
    /// `(hash, token)`. With `hold`, these are held by the link and written as no items.
    pub new_tokens: Vec<(String, TokenItem)>,
    /// The new tokens are held by their link (one session only), which carries the grant
    /// they share ([`HeldGrant::of`] them).
    pub hold: bool,
    /// The link's key when it is neither a code's hash nor the first new token's hash: a
    /// random id for held tokens issued without a code (a refresh's, a fixture's), which
    /// name their link before they exist.
    pub link_key: Option<String>,
    /// The new tokens' grant family.
    pub family: String,
    /// Existing (shared) tokens `(hash, family, expires_at)` to map to `sessions` too.
    pub link_existing: Vec<(String, String, i64)>,
    /// The sessions (`sid`) the new tokens and `link_existing` are mapped to, each checked to be
    /// active in the same transaction. Held tokens need exactly one.
    pub sessions: Vec<String>,
    /// The refresh token this issuance rotates (it must still be active).
    pub rotate_refresh: Option<TokenRef>,
    /// The shared grant to write (put unconditionally, replacing an older one) when the issuance
    /// mints a new shared access token (`cookie` or `none` binding), so later issuances for the
    /// same user and client find and reuse it.
    pub shared_grant: Option<SharedGrantItem>,
    /// A code exchange: the code's hash and how long its link must outlive the code. The
    /// new tokens' link is then keyed by the code's hash and put first, only if absent: the
    /// code's single use.
    pub code: Option<(String, i64)>,
    /// The new tokens belong to an offline grant of this user: its registration
    /// ([`crate::store::schema::OfflineGrantItem`]) is rewritten with them (a refresh:
    /// only if it still exists, so a user-wide revocation that deleted it refuses the
    /// refresh), and the session link names the new refresh token as offline.
    pub offline_user: Option<String>,
    /// A refresh of an offline grant whose session has ended: `sessions` is empty (no link,
    /// no session check); instead the user must still exist and be enabled.
    pub detached: bool,
}

impl Store {
    /// The link an exchanged code left in its session, if any. 1 round trip (GetItem).
    pub async fn get_code_link(
        &self,
        sid: &str,
        code_hash: &str,
    ) -> Result<Option<SessionTokenLink>, StoreError> {
        self.get(&keys::session_pk(sid), &keys::session_token_sk(code_hash))
            .await?
            .map(from_item)
            .transpose()
    }

    /// A `TOKEN#` item by its token's hash. 1 round trip (GetItem). Returns the item
    /// whatever its status or expiry.
    pub async fn get_token(&self, token_hash: &str) -> Result<Option<TokenItem>, StoreError> {
        let (pk, sk) = keys::token(token_hash);
        self.get(&pk, &sk).await?.map(from_item).transpose()
    }

    /// A token by the value the client holds, held by a link or a `TOKEN#` item, whatever
    /// its status or expiry. 1 round trip: BatchGetItem of the link the token names and its
    /// session, or GetItem of the token's item.
    ///
    /// A held token is never more alive than its session: if the session has ended or
    /// expired, an `active` held token reads as `revoked`. Termination revokes held tokens
    /// anyway; this also covers a session ended by a function from before held tokens
    /// (which revoked only token items) during a rolling deploy, and an expiry the relay has
    /// yet to act on.
    pub async fn find_token(&self, token: &str) -> Result<Option<FoundToken>, StoreError> {
        let hash = crate::platform::crypto::hash_secret(token);
        if let Some((sid, key)) = crate::store::held_token::parse(token) {
            let pk = keys::session_pk(sid);
            let mut got = self
                .get_many(&[
                    (pk.clone(), keys::SESSION_SK.to_string()),
                    (pk, keys::session_token_sk(key)),
                ])
                .await?
                .into_iter();
            let session: Option<SessionItem> = got.next().flatten().map(from_item).transpose()?;
            let link: Option<SessionTokenLink> = got.next().flatten().map(from_item).transpose()?;
            let Some((l, mut item)) = link.and_then(|l| l.held_token(&hash).map(|t| (l, t))) else {
                return Ok(None);
            };
            let now = crate::platform::time::now_s();
            if item.status == TokenStatus::Active
                && !session.as_ref().is_some_and(|s| s.is_live(now))
            {
                item.status = TokenStatus::Revoked;
                let why = match session {
                    Some(s) if s.status == SessionStatus::Active => "session_expired".to_string(),
                    Some(s) => s.ended_reason.unwrap_or_else(|| "session_ended".into()),
                    None => "session_ended".into(),
                };
                item.revoked_reason = Some(why);
            }
            return Ok(Some(FoundToken {
                item,
                at: TokenRef::held(&l),
            }));
        }
        Ok(self.get_token(&hash).await?.map(|item| FoundToken {
            item,
            at: TokenRef::Item(hash),
        }))
    }

    /// 1 round trip (GetItem).
    pub async fn get_shared_grant(
        &self,
        discriminator: &str,
    ) -> Result<Option<SharedGrantItem>, StoreError> {
        let (pk, sk) = keys::shared_grant(discriminator);
        self.get(&pk, &sk).await?.map(from_item).transpose()
    }

    /// Write an issuance in one transaction (1 round trip): the new tokens' link in each
    /// session (first, and only if absent for a code exchange), for every session a check
    /// that it is active and neither idle- nor absolute-expired (so no token is ever mapped
    /// to an ended session, nor to one the relay has yet to end) and a bump of its
    /// [`crate::store::schema::IssuedCounter`], the token items (none when the link holds the new
    /// tokens), links of existing shared tokens, the rotated refresh token and the
    /// shared-grant pointer. A code exchange with binding `sso-session` is 3 items: the link
    /// holding both tokens, the session check and the counter; a refresh 4 (the rotated
    /// token's state too).
    /// `AlreadyUsed` = the code was exchanged before; `ConditionFailed` = a session ended or
    /// the refresh token was already rotated. A code exchange's transaction carries no
    /// `ClientRequestToken` ([`Resend::OwnMarker`]): its link is the single-use marker and
    /// names the family, which tells a lost-answer re-send from a replay.
    pub async fn issue(&self, issue: &Issue) -> Result<(), StoreError> {
        let held =
            match issue.hold {
                // A held token names one link in one session.
                true if issue.sessions.len() != 1 => {
                    return Err(StoreError::Backend(
                        "held tokens map to exactly one session".into(),
                    ))
                }
                true => Some(HeldGrant::of(&issue.new_tokens).ok_or_else(|| {
                    StoreError::Backend("held tokens need an access token".into())
                })?),
                false => None,
            };
        let mut tx: Vec<TransactWriteItem> = Vec::new();
        let (link_key, keep_until) = match (&issue.code, &issue.link_key, issue.new_tokens.first())
        {
            (Some((code_hash, keep)), _, _) => (Some(code_hash), *keep),
            (None, Some(key), _) => (Some(key), 0),
            (None, None, Some((hash, _))) => (Some(hash), 0),
            (None, None, None) => (None, 0),
        };
        if let Some(key) = link_key {
            let tokens: BTreeMap<String, i64> = issue
                .new_tokens
                .iter()
                .map(|(h, t)| (h.clone(), t.expires_at))
                .collect();
            for sid in &issue.sessions {
                let mut l = token_link(sid, key, tokens.clone(), &issue.family, keep_until);
                if let Some(TokenRef::Item(old)) = &issue.rotate_refresh {
                    l.rotated = Some(old.clone());
                }
                l.grant = held.clone();
                if issue.offline_user.is_some() {
                    l.offline_refresh = issue
                        .new_tokens
                        .iter()
                        .find(|(_, t)| t.kind == crate::store::schema::TokenKind::Refresh)
                        .map(|(h, _)| h.clone());
                }
                tx.push(put_tx(&self.table, to_item(&l)?, issue.code.is_some())?);
            }
        }
        let keep = issue
            .new_tokens
            .iter()
            .map(|(_, t)| t.expires_at)
            .chain(issue.link_existing.iter().map(|(_, _, exp)| *exp))
            .fold(keep_until, i64::max);
        let now = crate::platform::time::now_s();
        for sid in &issue.sessions {
            tx.push(
                TransactWriteItem::builder()
                    .condition_check(bld(ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(item_key(keys::session_pk(sid), keys::SESSION_SK)))
                        // Live, not merely not yet swept: an idle or absolute expiry
                        // that passed counts as ended even before the relay ends it.
                        .condition_expression(
                            "#st = :active AND idle_expires_at > :now \
                             AND absolute_expires_at > :now",
                        )
                        .expression_attribute_names("#st", "status")
                        .expression_attribute_values(":active", s(TokenStatus::Active))
                        .expression_attribute_values(":now", n(now))
                        .build())?)
                    .build(),
            );
            tx.push(
                TransactWriteItem::builder()
                    .update(bld(Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(item_key(keys::session_pk(sid), keys::ISSUED_SK)))
                        .update_expression(
                            "SET v = if_not_exists(v, :zero) + :one, expires_at = :keep",
                        )
                        .expression_attribute_values(":zero", n(0))
                        .expression_attribute_values(":one", n(1))
                        .expression_attribute_values(":keep", n(keep))
                        .build())?)
                    .build(),
            );
        }
        if !issue.hold {
            for (_, tok) in &issue.new_tokens {
                tx.push(put_tx(&self.table, to_item(tok)?, true)?);
            }
        }
        for (hash, family, exp) in &issue.link_existing {
            let (pk, sk) = keys::token(hash);
            let sids: Vec<AttributeValue> = issue.sessions.iter().map(|x| s(x.clone())).collect();
            tx.push(
                TransactWriteItem::builder()
                    .update(bld(Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(item_key(pk, sk)))
                        .update_expression("SET sessions = list_append(sessions, :sids)")
                        .condition_expression("#st = :active AND exp > :now")
                        .expression_attribute_names("#st", "status")
                        .expression_attribute_values(":active", s(TokenStatus::Active))
                        .expression_attribute_values(":now", n(crate::platform::time::now_s()))
                        .expression_attribute_values(":sids", AttributeValue::L(sids))
                        .build())?)
                    .build(),
            );
            let tokens = BTreeMap::from([(hash.clone(), *exp)]);
            for sid in &issue.sessions {
                let l = token_link(sid, hash, tokens.clone(), family, 0);
                tx.push(put_tx(&self.table, to_item(&l)?, false)?);
            }
        }
        if let Some(old) = &issue.rotate_refresh {
            tx.push(rotate_tx(&self.table, old)?);
        }
        if let Some(g) = &issue.shared_grant {
            tx.push(put_tx(&self.table, to_item(g)?, false)?);
        }
        if let Some(uid) = &issue.offline_user {
            tx.push(offline_grant_tx(&self.table, uid, issue, keep)?);
            if issue.detached {
                let (pk, sk) = keys::user(uid);
                tx.push(
                    TransactWriteItem::builder()
                        .condition_check(bld(ConditionCheck::builder()
                            .table_name(&self.table)
                            .set_key(Some(item_key(pk, sk)))
                            .condition_expression(
                                "attribute_exists(pk) AND (attribute_not_exists(disabled) OR disabled = :no)",
                            )
                            .expression_attribute_values(":no", AttributeValue::Bool(false))
                            .build())?)
                        .build(),
                );
            }
        }
        let resend = match issue.code {
            Some(_) => Resend::OwnMarker,
            None => Resend::ClientRequestToken,
        };
        match (self.transact_with(tx, resend).await, &issue.code) {
            // The code's link (the first item) exists. If it names this issuance's family,
            // the SDK sent the transaction again after its first answer was lost and the
            // first attempt was applied: the issuance succeeded. Otherwise the code was
            // exchanged before, and the family that exchange created is returned for
            // revocation. 1 GetItem, only on this path.
            (Err(StoreError::TransactionCancelled(r)), Some((code_hash, _)))
                if r.first().is_some_and(|c| c == "ConditionalCheckFailed") =>
            {
                let link = match issue.sessions.first() {
                    Some(sid) => self.get_code_link(sid, code_hash).await?,
                    None => None,
                };
                match link {
                    Some(l) if l.family == issue.family => Ok(()),
                    l => Err(StoreError::AlreadyUsed {
                        family: l.map(|l| l.family),
                    }),
                }
            }
            (Err(StoreError::TransactionCancelled(r)), _)
                if r.iter().any(|c| c == "ConditionalCheckFailed") =>
            {
                Err(StoreError::ConditionFailed)
            }
            (r, _) => r,
        }
    }

    /// Every token of a grant family: the links of the family's sessions that name it (a
    /// held link once for all its tokens, a `TOKEN#` item by its hash). 1 round trip (Query
    /// of the token links) per session.
    pub async fn family_tokens(
        &self,
        sessions: &[String],
        family: &str,
    ) -> Result<Vec<TokenRef>, StoreError> {
        let mut out: Vec<TokenRef> = Vec::new();
        for sid in sessions {
            for it in self
                .query_partition(&keys::session_pk(sid), Some(keys::TOKEN_LINK_PREFIX))
                .await?
            {
                let l: SessionTokenLink = from_item(it)?;
                if l.family != family {
                    continue;
                }
                if l.grant.is_some() {
                    out.push(TokenRef::held(&l));
                    continue;
                }
                for h in l.tokens.into_keys() {
                    let r = TokenRef::Item(h);
                    if !out.contains(&r) {
                        out.push(r);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Mark tokens revoked, idempotently, in transactions of up to 100 items
    /// (1 round trip per 100 token items or held links). Tokens that no longer exist are
    /// skipped.
    pub async fn revoke_tokens(&self, refs: &[TokenRef], reason: &str) -> Result<(), StoreError> {
        for chunk in refs.chunks(100) {
            let mut pending: Vec<&TokenRef> = chunk.iter().collect();
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

/// Rewrite an offline grant's registration with the issuance's tokens and bump its `v`; a
/// refresh (`rotate_refresh`) only if the registration still exists.
fn offline_grant_tx(
    table: &str,
    user_id: &str,
    issue: &Issue,
    keep: i64,
) -> Result<TransactWriteItem, StoreError> {
    let (pk, sk) = keys::offline_grant(user_id, &issue.family);
    let tokens: HashMap<String, AttributeValue> = issue
        .new_tokens
        .iter()
        .map(|(h, t)| (h.clone(), n(t.expires_at)))
        .collect();
    let mut u = Update::builder()
        .table_name(table)
        .set_key(Some(item_key(pk, sk)))
        .update_expression(
            "SET t = :t, v = if_not_exists(v, :zero) + :one, expires_at = :keep, sid = if_not_exists(sid, :sid)",
        )
        .expression_attribute_values(":t", AttributeValue::M(tokens))
        .expression_attribute_values(
            ":sid",
            s(issue
                .new_tokens
                .first()
                .and_then(|(_, t)| t.sessions.first().cloned())
                .unwrap_or_default()),
        )
        .expression_attribute_values(":zero", n(0))
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":keep", n(keep));
    if issue.rotate_refresh.is_some() {
        u = u.condition_expression("attribute_exists(pk)");
    }
    Ok(TransactWriteItem::builder().update(bld(u.build())?).build())
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

/// Revoke a token item, or the tokens a link holds (both, or its access token alone).
/// Conditioned on the item existing, so a token that TTL removed is reported, not recreated.
pub(crate) fn revoke_tx(
    table: &str,
    at: &TokenRef,
    reason: &str,
) -> Result<TransactWriteItem, StoreError> {
    let expr = match at {
        TokenRef::Item(_) => {
            "SET #st = :revoked, revoked_reason = if_not_exists(revoked_reason, :why)"
        }
        TokenRef::Held {
            access_only: true, ..
        } => "SET sa = :revoked, rr = if_not_exists(rr, :why)",
        TokenRef::Held { .. } => "SET sa = :revoked, sr = :revoked, rr = if_not_exists(rr, :why)",
    };
    let (pk, sk) = at.item_key();
    let mut u = Update::builder()
        .table_name(table)
        .set_key(Some(item_key(pk, sk)))
        .update_expression(expr)
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(":revoked", s(TokenStatus::Revoked))
        .expression_attribute_values(":why", s(reason));
    if matches!(at, TokenRef::Item(_)) {
        u = u.expression_attribute_names("#st", "status");
    }
    Ok(TransactWriteItem::builder().update(bld(u.build())?).build())
}

/// Rotate a refresh token that must still be active: a `TOKEN#` item's `status`, or a
/// held one's `sr` (absent while active).
fn rotate_tx(table: &str, at: &TokenRef) -> Result<TransactWriteItem, StoreError> {
    let (pk, sk) = at.item_key();
    let u = Update::builder()
        .table_name(table)
        .set_key(Some(item_key(pk, sk)));
    let u = match at {
        TokenRef::Item(_) => u
            .update_expression("SET #st = :rotated")
            .condition_expression("#st = :active")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":active", s(TokenStatus::Active)),
        TokenRef::Held { .. } => u
            .update_expression("SET sr = :rotated")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(sr)"),
    };
    Ok(TransactWriteItem::builder()
        .update(bld(u
            .expression_attribute_values(":rotated", s(TokenStatus::Rotated))
            .build())?)
        .build())
}

impl Store {
    /// A user's offline grants ([`crate::store::schema::OfflineGrantItem`]). 1 round trip
    /// (Query of the user's partition, `OFFLINE#` prefix) per 1 MB.
    pub async fn offline_grants(
        &self,
        user_id: &str,
    ) -> Result<Vec<crate::store::schema::OfflineGrantItem>, StoreError> {
        let (pk, _) = keys::user(user_id);
        self.query_partition(&pk, Some(keys::OFFLINE_PREFIX))
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// Delete an offline grant's registration if no issuance rewrote it since it was read
    /// (`ConditionFailed` otherwise: read it again, its new tokens too must go). 1 round
    /// trip (DeleteItem).
    pub async fn drop_offline_grant(
        &self,
        g: &crate::store::schema::OfflineGrantItem,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(item_key(g.pk.clone(), g.sk.clone())))
            .condition_expression("v = :v")
            .expression_attribute_values(":v", n(g.v))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }
}
