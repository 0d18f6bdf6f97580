//! Login attempt counters in fixed windows. An attempt is *reserved* before the password is
//! checked: one conditional transaction adds it to every counter it counts against, and only
//! if each counter is still below its limit. Parallel attempts therefore cannot all pass the
//! check before any of them is counted (the race a read-then-count design had). A successful
//! login gives its reservation back in the transaction that writes its session, so only
//! failures stay counted.

use super::{bld, item_key, n, Store};
use crate::store::schema::keys;
use crate::store::StoreError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

/// One counter an attempt counts against: its key (`kind`, `subject`) and its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleSubject {
    /// Which counter family: `userip` (a username from one address) or `ip` (an address, any
    /// username).
    pub kind: &'static str,
    /// Whom it counts within the family (for `userip` a length-prefixed username and address, so no
    /// pair can name another pair's counter).
    pub subject: String,
    /// Attempts allowed in one window; the reservation fails once the counter has reached it.
    pub limit: u32,
}

/// The counters one reserved attempt was added to (the window it was reserved in), to give
/// back when the attempt succeeds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reservation {
    keys: Vec<(String, String)>,
}

impl Reservation {
    /// A reservation that holds nothing (nothing to give back).
    pub fn none() -> Self {
        Reservation::default()
    }

    /// The transaction items giving the reservation back: one decrement per counter.
    pub(crate) fn release_items(&self, table: &str) -> Result<Vec<TransactWriteItem>, StoreError> {
        self.keys
            .iter()
            .map(|(pk, sk)| {
                let u = bld(Update::builder()
                    .table_name(table)
                    .set_key(Some(item_key(pk.clone(), sk.clone())))
                    .update_expression("ADD failures :minus")
                    .condition_expression("attribute_exists(failures)")
                    .expression_attribute_values(":minus", AttributeValue::N("-1".into()))
                    .build())?;
                Ok(TransactWriteItem::builder().update(u).build())
            })
            .collect()
    }
}

impl Store {
    /// Reserve one attempt on every subject, in the window of `now_s`. `Ok(Some(_))` when each
    /// counter was below its limit (all were incremented), `Ok(None)` when any was at it
    /// (none was). 1 round trip (TransactWriteItems; concurrent reservations of one counter
    /// that DynamoDB cancels as conflicting are sent again, see [`Store::transact`]).
    pub async fn reserve_login_attempt(
        &self,
        subjects: &[ThrottleSubject],
        window: i64,
        now_s: i64,
    ) -> Result<Option<Reservation>, StoreError> {
        if subjects.is_empty() {
            return Ok(Some(Reservation::none()));
        }
        let win = now_s / window;
        let mut tx = Vec::with_capacity(subjects.len());
        let mut reserved = Reservation::default();
        for t in subjects {
            let (pk, sk) = keys::throttle(t.kind, &format!("{}#{win}", t.subject));
            let u = bld(Update::builder()
                .table_name(&self.table)
                .set_key(Some(item_key(pk.clone(), sk.clone())))
                .update_expression("ADD failures :one SET window_start = :ws, expires_at = :exp")
                .condition_expression("attribute_not_exists(failures) OR failures < :limit")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(":limit", n(i64::from(t.limit)))
                .expression_attribute_values(":ws", n(win * window))
                .expression_attribute_values(":exp", n((win + 2) * window))
                .build())?;
            tx.push(TransactWriteItem::builder().update(u).build());
            reserved.keys.push((pk, sk));
        }
        match self.transact(tx).await {
            Ok(()) => Ok(Some(reserved)),
            Err(StoreError::TransactionCancelled(r))
                if r.iter().any(|c| c == "ConditionalCheckFailed") =>
            {
                Ok(None)
            }
            Err(StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Give back a reserved attempt without writing a session (a right password whose
    /// login could not complete, e.g. refused by the session limit): it must not count as a
    /// failure. 1 round trip (TransactWriteItems), none when nothing was reserved.
    pub async fn release_reservation(&self, reservation: &Reservation) -> Result<(), StoreError> {
        let tx = reservation.release_items(&self.table)?;
        if tx.is_empty() {
            return Ok(());
        }
        self.transact(tx).await
    }
}
