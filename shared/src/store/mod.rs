//! The DynamoDB store. Every operation names its round trips in a comment; the counts are
//! checked by tests through [`RoundTrips`].

pub mod bulk;
pub mod capacity;
mod clients;
mod cursor;
mod deliveries;
mod ended;
mod error;
pub mod held_token;
mod keys;
mod live_sessions;
pub mod schema;
mod sessions;
mod shards;
mod signals;
mod streams;
mod table;
mod throttle;
mod tokens;
mod users;
pub mod vocab;

pub use cursor::{Cursor, Page};
pub use deliveries::TX_LIMIT;
pub use deliveries::{DeliveryOutcome, DeliveryRecord};
pub use ended::EndedSession;
pub use error::StoreError;
pub use live_sessions::{LiveSessions, SessionWrite};
pub use sessions::{token_link, SessionFilter, SessionPartition};
pub use signals::DueSignalWork;
pub use table::{create_table, describe_matches};
pub use throttle::{Reservation, ThrottleSubject};
pub use tokens::{FoundToken, Issue, TokenRef};

use aws_sdk_dynamodb::config::{
    interceptors::{BeforeSerializationInterceptorContextMut, BeforeTransmitInterceptorContextRef},
    ConfigBag, Intercept, RuntimeComponents,
};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One DynamoDB item as the SDK reads and writes it: attribute name → value.
pub type Item = HashMap<String, AttributeValue>;

/// The store: one SDK client (built once per cold start) and the table name.
#[derive(Clone, Debug)]
pub struct Store {
    /// The DynamoDB client (its retry and timeout settings come from `client`).
    pub client: Client,
    /// The one table every item lives in (`WARDEN_TABLE`).
    pub table: String,
    /// Whether logins and ends keep each user's set of live session ids (`USER#<uid>` /
    /// `LIVE`): on when a session limit is configured ([`Store::tracking_live_sessions`]).
    pub(crate) track_live: bool,
    /// The shard counts new index keys are hashed into ([`Store::with_shards`]).
    pub(crate) shards: schema::Shards,
    /// The shard counts readers read, and when they were read ([`Store::read_shards`]).
    pub(crate) shard_ceiling: Arc<std::sync::Mutex<Option<(std::time::Instant, schema::Shards)>>>,
}

/// Counts the DynamoDB requests a client sends (an SDK interceptor), for round-trip tests;
/// made with [`RoundTrips::measuring_units`] it also asks every request for its consumed
/// capacity (`ReturnConsumedCapacity = INDEXES`) and adds up what the engine reports, for the
/// capacity-unit tests.
#[derive(Clone, Debug, Default)]
pub struct RoundTrips {
    count: Arc<AtomicU64>,
    units: Option<Arc<std::sync::Mutex<Units>>>,
}

/// Capacity units consumed, as an engine reports them in `ConsumedCapacity` (table and each
/// global secondary index).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Units {
    /// Read units on the table and its indexes.
    pub read: f64,
    /// Write units on the table and its indexes.
    pub write: f64,
    /// Of `write`, the units spent on index copies.
    pub index_write: f64,
    /// Requests whose answer carried no capacity report (an error, or an engine that does not
    /// report it).
    pub unreported: u64,
}

impl RoundTrips {
    /// A counter that also adds up the capacity units every request consumed.
    pub fn measuring_units() -> Self {
        RoundTrips {
            count: Arc::default(),
            units: Some(Arc::default()),
        }
    }
    /// Requests counted since the counter was made or last [`reset`](Self::reset).
    pub fn get(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }
    /// The units consumed since the last [`reset`](Self::reset) (zero unless
    /// [`measuring_units`](Self::measuring_units)).
    pub fn units(&self) -> Units {
        self.units
            .as_ref()
            .and_then(|u| u.lock().ok().map(|u| u.clone()))
            .unwrap_or_default()
    }
    /// Start counting from zero again (before the operation a test measures).
    pub fn reset(&self) {
        self.count.store(0, Ordering::SeqCst);
        if let Some(Ok(mut u)) = self.units.as_ref().map(|u| u.lock()) {
            *u = Units::default();
        }
    }
    fn add(&self, write: bool, reports: &[aws_sdk_dynamodb::types::ConsumedCapacity]) {
        let Some(Ok(mut u)) = self.units.as_ref().map(|u| u.lock()) else {
            return;
        };
        if reports.is_empty() {
            u.unreported += 1;
        }
        for c in reports {
            let total = c.capacity_units.unwrap_or(0.0);
            let index: f64 = c
                .global_secondary_indexes
                .iter()
                .flatten()
                .map(|(_, i)| i.capacity_units.unwrap_or(0.0))
                .sum();
            if write {
                u.write += total;
                u.index_write += index;
            } else {
                u.read += total;
            }
        }
    }
}

impl Intercept for RoundTrips {
    fn name(&self) -> &'static str {
        "RoundTrips"
    }
    fn modify_before_serialization(
        &self,
        ctx: &mut BeforeSerializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        use aws_sdk_dynamodb::operation as op;
        use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
        if self.units.is_none() {
            return Ok(());
        }
        let want = Some(ReturnConsumedCapacity::Indexes);
        let input = ctx.input_mut();
        macro_rules! ask {
            ($($t:ty),*) => {
                $(if let Some(i) = input.downcast_mut::<$t>() {
                    i.return_consumed_capacity = want.clone();
                })*
            };
        }
        ask!(
            op::get_item::GetItemInput,
            op::batch_get_item::BatchGetItemInput,
            op::query::QueryInput,
            op::scan::ScanInput,
            op::transact_get_items::TransactGetItemsInput,
            op::put_item::PutItemInput,
            op::update_item::UpdateItemInput,
            op::delete_item::DeleteItemInput,
            op::batch_write_item::BatchWriteItemInput,
            op::transact_write_items::TransactWriteItemsInput
        );
        Ok(())
    }
    fn read_before_transmit(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.count.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn read_after_deserialization(
        &self,
        ctx: &aws_sdk_dynamodb::config::interceptors::AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        use aws_sdk_dynamodb::operation as op;
        if self.units.is_none() {
            return Ok(());
        }
        let Ok(out) = ctx.output_or_error() else {
            self.add(false, &[]);
            return Ok(());
        };
        // Per output type: whether it is a write, and its report (one, or one per table).
        macro_rules! report {
            ($write:expr, one: $($t:ty),*) => {
                $(if let Some(o) = out.downcast_ref::<$t>() {
                    let c: Vec<_> = o.consumed_capacity.iter().cloned().collect();
                    return Ok(self.add($write, &c));
                })*
            };
            ($write:expr, many: $($t:ty),*) => {
                $(if let Some(o) = out.downcast_ref::<$t>() {
                    return Ok(self.add($write, o.consumed_capacity.as_deref().unwrap_or_default()));
                })*
            };
        }
        report!(false, one: op::get_item::GetItemOutput, op::query::QueryOutput, op::scan::ScanOutput);
        report!(
            false,
            many: op::batch_get_item::BatchGetItemOutput,
            op::transact_get_items::TransactGetItemsOutput
        );
        report!(
            true,
            one: op::put_item::PutItemOutput,
            op::update_item::UpdateItemOutput,
            op::delete_item::DeleteItemOutput
        );
        report!(
            true,
            many: op::batch_write_item::BatchWriteItemOutput,
            op::transact_write_items::TransactWriteItemsOutput
        );
        Ok(())
    }
}

/// Takes the SDK's generated `ClientRequestToken` off a TransactWriteItems, for a transaction
/// that recognises its own re-send (see [`Resend`]). Runs after the SDK's idempotency-token
/// interceptor: operation customisations are registered after the operation's own plugins.
#[derive(Debug)]
struct NoClientRequestToken;

impl Intercept for NoClientRequestToken {
    fn name(&self) -> &'static str {
        "NoClientRequestToken"
    }
    fn modify_before_serialization(
        &self,
        ctx: &mut BeforeSerializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
        if let Some(input) = ctx.input_mut().downcast_mut::<TransactWriteItemsInput>() {
            input.client_request_token = None;
        }
        Ok(())
    }
}

/// How a transaction that the SDK sends again (its answer was lost) is kept from being
/// applied twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resend {
    /// The SDK's `ClientRequestToken`: DynamoDB answers a re-sent transaction with the first
    /// result for ten minutes.
    ClientRequestToken,
    /// The transaction puts an item only if absent and that item names the transaction, so
    /// the caller recognises its own earlier write when the re-send fails that condition
    /// (the code exchange: its link names the new family). No token is sent: DynamoDB keeps
    /// nothing per transaction, and an engine's idempotency record (dynoxide hashes every
    /// tokened request and walks its ten-minute record on each one) is not paid for.
    OwnMarker,
}

/// How long one DynamoDB attempt may take before the SDK abandons it and tries again
/// (standard retry mode: 3 attempts with jittered backoff). Without a limit a stalled
/// connection would hold the function until its own timeout (10 s). A transaction sent again
/// is not applied twice (see [`Resend`]): it carries the same ClientRequestToken, so
/// DynamoDB answers the retry with the first result, or it is a code exchange, whose link
/// recognises the retry.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Connecting to DynamoDB (per attempt).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Build a DynamoDB client with the default [`ATTEMPT_TIMEOUT`]. `endpoint` points it at
/// dynoxide or moto; with an endpoint and no credentials in the environment, dummy
/// credentials and region are used.
pub async fn dynamodb_client(endpoint: Option<&str>, counter: Option<RoundTrips>) -> Client {
    dynamodb_client_with(endpoint, counter, ATTEMPT_TIMEOUT).await
}

/// [`dynamodb_client`] with another per-attempt timeout (the whole operation, retries
/// included, is limited to four attempts' worth).
pub async fn dynamodb_client_with(
    endpoint: Option<&str>,
    counter: Option<RoundTrips>,
    attempt_timeout: Duration,
) -> Client {
    let sdk = crate::platform::sdk::sdk_config(endpoint).await;
    let mut b = aws_sdk_dynamodb::config::Builder::from(&sdk).timeout_config(
        aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(attempt_timeout))
            .operation_attempt_timeout(attempt_timeout)
            .operation_timeout(attempt_timeout * 4)
            .build(),
    );
    if let Some(ep) = endpoint {
        b = b.endpoint_url(ep);
    }
    if let Some(c) = counter {
        b = b.interceptor(c);
    }
    Client::from_conf(b.build())
}

impl Store {
    /// A store on `table` through `client`. No round trip: nothing is checked until the first
    /// request.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Store {
            client,
            table: table.into(),
            track_live: false,
            shards: schema::Shards::DEFAULT,
            shard_ceiling: Arc::default(),
        }
    }

    /// The same store, keeping (or not) every user's set of live session ids in the
    /// transactions that start and end sessions: what an exact session limit counts
    /// ([`crate::store::LiveSessions`]). Off by default: without a limit nothing is written.
    pub fn tracking_live_sessions(mut self, on: bool) -> Self {
        self.track_live = on;
        self
    }

    /// 1 round trip: GetItem (strongly consistent).
    pub(crate) async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item_key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.item)
    }

    /// Several items by key in 1 round trip (BatchGetItem, strongly consistent; at most
    /// 100 keys). Keys DynamoDB leaves unprocessed (throttling) are asked for again, which
    /// costs a further round trip only then. The answer is in the order of `keys`.
    pub(crate) async fn get_many(
        &self,
        keys: &[(String, String)],
    ) -> Result<Vec<Option<Item>>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found: Vec<Item> = Vec::with_capacity(keys.len());
        let mut pending: Vec<HashMap<String, AttributeValue>> =
            keys.iter().map(|(pk, sk)| item_key(pk, sk)).collect();
        for attempt in 0..4u32 {
            if pending.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
            }
            let ka = KeysAndAttributes::builder()
                .consistent_read(true)
                .set_keys(Some(std::mem::take(&mut pending)))
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, ka)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            found.extend(
                out.responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
        }
        if !pending.is_empty() {
            return Err(StoreError::Throttled);
        }
        Ok(keys
            .iter()
            .map(|(pk, sk)| {
                let i = found.iter().position(|it| {
                    matches!(it.get("pk"), Some(AttributeValue::S(v)) if v == pk) && sk_of(it) == sk
                })?;
                Some(found.swap_remove(i))
            })
            .collect())
    }

    /// 1 round trip: PutItem, optionally conditional.
    pub(crate) async fn put(&self, item: Item, condition: Option<&str>) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Put `puts` and delete `deletes` (keys), unconditionally: 1 round trip
    /// (BatchWriteItem) per 25 requests, 1 write unit per started KB of each item (not
    /// transactional: each applies on its own). Requests DynamoDB leaves unprocessed are
    /// sent again (up to 4 attempts), then [`StoreError::Throttled`].
    pub(crate) async fn write_many(
        &self,
        puts: Vec<Item>,
        deletes: Vec<(String, String)>,
    ) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, WriteRequest};
        let mut all: Vec<WriteRequest> = Vec::with_capacity(puts.len() + deletes.len());
        for item in puts {
            let put = bld(PutRequest::builder().set_item(Some(item)).build())?;
            all.push(WriteRequest::builder().put_request(put).build());
        }
        for (pk, sk) in deletes {
            let del = bld(DeleteRequest::builder()
                .set_key(Some(item_key(pk, sk)))
                .build())?;
            all.push(WriteRequest::builder().delete_request(del).build());
        }
        for chunk in all.chunks(25) {
            let mut pending = chunk.to_vec();
            for attempt in 0..4u32 {
                if pending.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut pending))
                    .send()
                    .await
                    .map_err(StoreError::from_sdk)?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
            }
            if !pending.is_empty() {
                return Err(StoreError::Throttled);
            }
        }
        Ok(())
    }

    /// Query a whole partition (following pages), strongly consistent.
    /// Round trips: 1 per MB page (one for every partition Warden keeps).
    pub(crate) async fn query_partition(
        &self,
        pk: &str,
        sk_prefix: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", s(pk))
                .set_exclusive_start_key(start.take());
            q = match sk_prefix {
                Some(p) => q
                    .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
                    .expression_attribute_values(":p", s(p)),
                None => q.key_condition_expression("pk = :pk"),
            };
            let page = q.send().await.map_err(StoreError::from_sdk)?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }
}

/// A request builder's result as a store result (the SDK's builders fail only on a missing
/// required field, i.e. a bug of ours).
pub(crate) fn bld<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Backend(e.to_string()))
}

/// The primary key of an item, `{pk, sk}`: the one place a store method turns the key that
/// [`schema::keys`] derived into attributes.
pub(crate) fn item_key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

/// A string attribute.
pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute.
pub(crate) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The `sk` of an item, if it has one.
pub(crate) fn sk_of(item: &Item) -> &str {
    match item.get("sk") {
        Some(AttributeValue::S(v)) => v.as_str(),
        _ => "",
    }
}

/// How often a transaction refused with `TransactionConflict` (another transaction held one
/// of its items) is sent again before the caller is told to retry later.
const CONFLICT_RETRIES: u32 = 3;

impl Store {
    /// One TransactWriteItems (1 round trip; more only on conflicts). DynamoDB cancels a
    /// transaction with `TransactionConflict` when another one is writing one of its items
    /// at that moment (two exchanges for one session bump its issued counter); nothing was
    /// applied, so it is sent again after a short jittered pause, up to
    /// [`CONFLICT_RETRIES`] times, then reported as `Throttled` (retry later). Other
    /// cancellations are returned as they are.
    pub(crate) async fn transact(
        &self,
        items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
    ) -> Result<(), StoreError> {
        self.transact_with(items, Resend::ClientRequestToken).await
    }

    /// [`Store::transact`] with a choice of how a re-sent attempt is recognised.
    pub(crate) async fn transact_with(
        &self,
        items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
        resend: Resend,
    ) -> Result<(), StoreError> {
        let mut attempt = 0;
        loop {
            let op = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()));
            let r = match resend {
                Resend::ClientRequestToken => op.send().await,
                Resend::OwnMarker => {
                    op.customize()
                        .interceptor(NoClientRequestToken)
                        .send()
                        .await
                }
            }
            .map_err(transact_error);
            match r {
                Ok(_) => return Ok(()),
                Err(StoreError::TransactionCancelled(reasons)) if only_conflicts(&reasons) => {
                    if attempt == CONFLICT_RETRIES {
                        return Err(StoreError::Throttled);
                    }
                    attempt += 1;
                    let jitter = u64::from(crate::platform::crypto::random_bytes::<1>()[0] % 10);
                    tokio::time::sleep(std::time::Duration::from_millis((5 << attempt) + jitter))
                        .await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// A cancellation caused only by concurrent transactions (no condition failed).
fn only_conflicts(reasons: &[String]) -> bool {
    reasons.iter().any(|r| r == "TransactionConflict")
        && !reasons.iter().any(|r| r == "ConditionalCheckFailed")
}

/// Map a TransactWriteItems error: cancellation reasons become a typed error, a single
/// conditional failure becomes `ConditionFailed`.
pub(crate) fn transact_error(
    e: aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> StoreError {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    if let aws_sdk_dynamodb::error::SdkError::ServiceError(se) = &e {
        if let TransactWriteItemsError::TransactionCanceledException(tc) = se.err() {
            let reasons: Vec<String> = tc
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_string())
                .collect();
            if reasons.iter().any(|r| r == "ThrottlingError") {
                return StoreError::Throttled;
            }
            return StoreError::TransactionCancelled(reasons);
        }
    }
    StoreError::from_sdk(e)
}
