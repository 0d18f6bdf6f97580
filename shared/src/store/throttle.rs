//! Failed-login counters in fixed windows (per user and per IP).

use super::{n, s, Store};
use crate::error::StoreError;
use crate::schema::{keys, ThrottleItem};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use std::collections::HashMap;

impl Store {
    /// Failures recorded in the current window for each subject `(kind, subject)`.
    /// 1 round trip (BatchGetItem).
    pub async fn login_failures(
        &self,
        subjects: &[(&str, &str)],
        window: i64,
        now_s: i64,
    ) -> Result<Vec<u32>, StoreError> {
        let win = now_s / window;
        let mut ka = KeysAndAttributes::builder().consistent_read(true);
        let mut wanted = Vec::new();
        for (kind, subject) in subjects {
            let (pk, sk) = keys::throttle(kind, &format!("{subject}#{win}"));
            let mut k = HashMap::new();
            k.insert("pk".to_string(), s(pk.clone()));
            k.insert("sk".to_string(), s(sk));
            ka = ka.keys(k);
            wanted.push(pk);
        }
        let out = self
            .client
            .batch_get_item()
            .request_items(
                &self.table,
                ka.build().map_err(|e| StoreError::Backend(e.to_string()))?,
            )
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let items = out
            .responses
            .and_then(|mut r| r.remove(&self.table))
            .unwrap_or_default();
        let mut counts = vec![0; wanted.len()];
        for it in items {
            let t: ThrottleItem = crate::schema::from_item(it)?;
            if let Some(i) = wanted.iter().position(|p| *p == t.pk) {
                counts[i] = t.failures;
            }
        }
        Ok(counts)
    }

    /// Count one failure for each subject. 1 round trip per subject (UpdateItem ADD).
    pub async fn record_login_failure(
        &self,
        subjects: &[(&str, &str)],
        window: i64,
        now_s: i64,
    ) -> Result<(), StoreError> {
        let win = now_s / window;
        let futs = subjects.iter().map(|(kind, subject)| {
            let (pk, sk) = keys::throttle(kind, &format!("{subject}#{win}"));
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .update_expression("ADD failures :one SET window_start = :ws, expires_at = :exp")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(":ws", n(win * window))
                .expression_attribute_values(":exp", n((win + 2) * window))
                .send()
        });
        for r in futures::future::join_all(futs).await {
            r.map_err(StoreError::from_sdk)?;
        }
        Ok(())
    }
}
