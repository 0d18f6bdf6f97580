//! Typed storage failures: a condition that fails is a domain outcome callers match on,
//! not a string.

/// A storage failure. Conditions that fail are not strings: callers match on them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found the item in a state it did not expect.
    #[error("condition failed")]
    ConditionFailed,
    /// A transaction was cancelled; the reasons are DynamoDB's codes per item.
    #[error("transaction cancelled: {0:?}")]
    TransactionCancelled(Vec<String>),
    /// A single-use item (an authorization code's link) already exists; `family` is the
    /// grant family it names, when it was read.
    #[error("already used")]
    AlreadyUsed {
        /// The family the earlier use created, if the link was read.
        family: Option<String>,
    },
    /// The engine throttled us; retrying later is safe.
    #[error("throttled")]
    Throttled,
    /// The engine did not answer within the attempt timeouts, or could not be reached;
    /// retrying later is safe (a transaction's retries carry its ClientRequestToken).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored item could not be read back into its shape.
    #[error("corrupt item: {0}")]
    Corrupt(String),
    /// Anything else the SDK reported (network, 5xx, validation).
    #[error("store: {0}")]
    Backend(String),
}

impl StoreError {
    /// Classify an SDK failure: a timeout or unreachable engine is `Unavailable`, a failed
    /// condition `ConditionFailed`, throttling `Throttled`, anything else `Backend` with
    /// DynamoDB's code and message. (A cancelled transaction's reasons per item are read by
    /// `transact_error`, which falls back to this for everything else.)
    pub fn from_sdk<E, R>(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> Self
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
        if matches!(e, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)) {
            return StoreError::Unavailable(
                aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
            );
        }
        let code = e.code().unwrap_or_default().to_string();
        match code.as_str() {
            "ConditionalCheckFailedException" => StoreError::ConditionFailed,
            "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded" => StoreError::Throttled,
            _ => {
                let msg = e.message().map(str::to_string).unwrap_or_else(|| {
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string()
                });
                StoreError::Backend(format!("{code} {msg}"))
            }
        }
    }
}
