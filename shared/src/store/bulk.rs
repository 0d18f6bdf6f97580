//! Bulk termination's transactions: several sessions of one user ended in one
//! TransactWriteItems, each still conditioned on its own (active, issued counter unchanged).
//!
//! [`pack`] decides which sessions share a transaction (pure, unit-tested below);
//! [`Store::commit_terminations`] writes one such group.

use super::tokens::TokenRef;
use super::Store;
use crate::store::schema::{DeliveryItem, EndedBy, SessionItem, SignalItem};
use crate::store::{StoreError, TX_LIMIT};
use std::collections::BTreeSet;
use std::ops::Range;

/// One session's part of a bulk termination: the session as read, and what its
/// [`crate::session::terminate::plan`] decided.
#[derive(Debug, Clone)]
pub struct Ending<'a> {
    /// The session as read (its `version` is the issued counter the transaction checks).
    pub session: &'a SessionItem,
    /// The tokens to revoke.
    pub tokens: &'a [TokenRef],
    /// The deliveries to write.
    pub deliveries: &'a [DeliveryItem],
}

impl Ending<'_> {
    /// Transaction items this ending needs on its own ([`ending_items`]).
    pub fn items(&self) -> usize {
        ending_items(self.tokens.len(), self.deliveries.len())
    }
}

/// Transaction items ending one session takes: the session's update, the check of its
/// issued counter, one per token and one per delivery.
pub fn ending_items(tokens: usize, deliveries: usize) -> usize {
    2 + tokens + deliveries
}

/// Items a bulk transaction keeps free for the user's live-set release (one item for all
/// its sessions).
pub const BULK_RESERVED: usize = 1;

/// Group consecutive endings of `sizes` items into transactions of at most `limit` items
/// (greedy, in order). An ending larger than `limit` is not packed: it is left out of every
/// range, for the one-session path (which revokes the overflow in chunks first).
pub fn pack(sizes: &[usize], limit: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut used = 0;
    for (i, &n) in sizes.iter().enumerate() {
        if n > limit {
            if start < i {
                out.push(start..i);
            }
            start = i + 1;
            used = 0;
            continue;
        }
        if used + n > limit {
            out.push(start..i);
            start = i;
            used = 0;
        }
        used += n;
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

impl Store {
    /// End the sessions of `endings` — all of one user, together at most
    /// [`TX_LIMIT`] − [`BULK_RESERVED`] items ([`pack`]) — in 1 TransactWriteItems: per
    /// session its update (only if still active) and the check of its issued counter (no
    /// token was mapped since it was read), its tokens' revocations, its deliveries (only if
    /// absent); a token shared by several of them is revoked once; then one release of the
    /// user's live set. All or nothing: any failed condition (a session ended or a token
    /// issued meanwhile, a token gone through TTL) cancels the whole transaction and is
    /// returned as it is, for the caller to end those sessions one by one.
    pub async fn commit_terminations(
        &self,
        user_id: &str,
        endings: &[Ending<'_>],
        reason: &str,
        by: Option<&EndedBy>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.commit_terminations_signalled(user_id, endings, None, reason, by, now_ms)
            .await
    }

    /// [`Store::commit_terminations`] with the group's Shared Signals outbox record
    /// (`signal`: one for the group, naming its sessions) in the same transaction: one more
    /// item (the caller packs with [`BULK_RESERVED`] + 1 free), no more round trips.
    pub async fn commit_terminations_signalled(
        &self,
        user_id: &str,
        endings: &[Ending<'_>],
        signal: Option<&SignalItem>,
        reason: &str,
        by: Option<&EndedBy>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = Vec::new();
        let mut revoked: BTreeSet<&TokenRef> = BTreeSet::new();
        for e in endings {
            let tokens = e.tokens.iter().filter(|t| revoked.insert(*t));
            tx.extend(self.session_end_items(
                e.session,
                tokens,
                e.deliveries,
                reason,
                by,
                now_ms,
            )?);
        }
        let sids: Vec<&str> = endings.iter().map(|e| e.session.sid.as_str()).collect();
        tx.extend(self.ending_tail_items(signal, user_id, &sids)?);
        if tx.len() > TX_LIMIT {
            return Err(StoreError::Backend(format!(
                "a bulk termination of {} items does not fit one transaction",
                tx.len()
            )));
        }
        self.transact(tx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_each_transaction_in_order() {
        assert_eq!(pack(&[5; 50], 99), vec![0..19, 19..38, 38..50]);
        assert_eq!(pack(&[], 99), Vec::<Range<usize>>::new());
        assert_eq!(pack(&[99, 1], 99), vec![0..1, 1..2]);
    }

    #[test]
    fn an_ending_too_big_for_one_transaction_is_left_out() {
        assert_eq!(pack(&[3, 120, 4, 5], 99), vec![0..1, 2..4]);
        assert_eq!(pack(&[120], 99), Vec::<Range<usize>>::new());
        assert_eq!(pack(&[120, 2], 99), vec![1..2]);
    }

    #[test]
    fn no_group_exceeds_the_limit_and_every_small_ending_is_in_one() {
        let sizes: Vec<usize> = (0..200).map(|i| 2 + (i * 37) % 110).collect();
        let groups = pack(&sizes, 99);
        let mut seen = vec![0; sizes.len()];
        for g in &groups {
            assert!(sizes[g.clone()].iter().sum::<usize>() <= 99);
            for i in g.clone() {
                seen[i] += 1;
            }
        }
        for (i, n) in sizes.iter().enumerate() {
            assert_eq!(seen[i], usize::from(*n <= 99), "ending {i} of {n} items");
        }
    }
}
