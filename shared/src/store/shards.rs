//! The shard counts readers read ([`Shards::ceiling`]): the configured counts, or the highest
//! counts ever recorded in the table (`SHARDS` / `SHARDS`) when those are higher, so lowering
//! `WARDEN_LIVE_SHARDS` or `WARDEN_DUE_SHARDS` never hides an item a higher count wrote. The
//! record only grows: a reader whose configured counts exceed it raises it (a conditional
//! UpdateItem that fails harmlessly when another reader raised it further).
//!
//! Round trips: 1 GetItem (eventually consistent, 0.5 read unit) per process per 5 minutes,
//! and 1 UpdateItem (1 write unit) only when the configured counts exceed the record (once
//! after a raise). Only the readers pay it — the global search and the relay's due sweeps —
//! never a login, an authorize or a termination.

use super::{item_key, n, Store, StoreError};
use crate::store::schema::{keys, Shards};
use aws_sdk_dynamodb::types::AttributeValue;
use std::time::{Duration, Instant};

/// How long a process trusts the record it read. The record only grows, and every writer
/// writes below its own configured counts, which its readers include anyway.
const RECORD_TTL: Duration = Duration::from_secs(300);

impl Store {
    /// The shard counts new index keys are hashed into.
    pub fn shard_counts(&self) -> Shards {
        self.shards
    }

    /// The same store writing new index keys over `shards` shards.
    pub fn with_shards(mut self, shards: Shards) -> Self {
        self.shards = shards;
        self.shard_ceiling = Default::default();
        self
    }

    /// The configured shard counts (what writers hash new items into).
    pub fn shards(&self) -> Shards {
        self.shards
    }

    /// The shard counts readers read: [`Shards::ceiling`] of the configured counts and the
    /// table's record, raising the record first when the configured counts exceed it.
    /// Cached per process for 5 minutes. See the module doc for its round trips.
    pub async fn read_shards(&self) -> Result<Shards, StoreError> {
        if let Ok(cached) = self.shard_ceiling.lock() {
            if let Some((at, c)) = *cached {
                if at.elapsed() < RECORD_TTL {
                    return Ok(c);
                }
            }
        }
        // Boxed: the SDK's futures are deep, and the relay's future (which awaits this inside
        // every due-index read) would otherwise outgrow the compiler's layout depth limit.
        let c = Box::pin(self.record_shards()).await?;
        if let Ok(mut cached) = self.shard_ceiling.lock() {
            *cached = Some((Instant::now(), c));
        }
        Ok(c)
    }

    /// Read the record, raise it when the configured counts exceed it, and answer the
    /// ceiling. 1 GetItem, + 1 UpdateItem after a raise.
    async fn record_shards(&self) -> Result<Shards, StoreError> {
        let recorded = self.shard_record().await?;
        if self.shards.exceeds(recorded) {
            self.raise_shard_record(self.shards.ceiling(recorded))
                .await?;
        }
        Ok(self.shards.ceiling(recorded))
    }

    /// The recorded counts, if any were recorded. 1 GetItem (eventually consistent: a stale
    /// answer is at worst a count this process's configuration already covers, or one just
    /// raised by a reader of the same deployment).
    async fn shard_record(&self) -> Result<Option<Shards>, StoreError> {
        let (pk, sk) = keys::shard_record();
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item_key(pk, sk)))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let count = |item: &super::Item, name: &str| match item.get(name) {
            Some(AttributeValue::N(v)) => v.parse::<u32>().ok(),
            _ => None,
        };
        Ok(out.item.and_then(|it| {
            Some(Shards {
                live: count(&it, "live")?,
                due: count(&it, "due")?,
            })
        }))
    }

    /// Raise the record to `to`, only if nothing higher was recorded meanwhile. 1 UpdateItem;
    /// a lost race (another reader recorded more) is not an error.
    async fn raise_shard_record(&self, to: Shards) -> Result<(), StoreError> {
        let (pk, sk) = keys::shard_record();
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(pk, sk)))
            .update_expression("SET live = :live, due = :due")
            .condition_expression(
                "(attribute_not_exists(live) OR live <= :live) \
                 AND (attribute_not_exists(due) OR due <= :due)",
            )
            .expression_attribute_values(":live", n(to.live.into()))
            .expression_attribute_values(":due", n(to.due.into()))
            .send()
            .await
            .map_err(StoreError::from_sdk);
        match r {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
