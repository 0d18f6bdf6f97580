//! AWS SDK configuration shared by every client Warden builds (DynamoDB, SQS, KMS).

/// Shared SDK configuration. With an explicit endpoint (dynoxide, moto) and no credentials
/// in the environment, static local credentials and `us-east-1` are used.
pub async fn sdk_config(endpoint: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if endpoint.is_some() {
        if std::env::var("AWS_ACCESS_KEY_ID").is_err() {
            loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "local",
                "local",
                None,
                None,
                "warden-local",
            ));
        }
        if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
            loader = loader.region(aws_config::Region::new("us-east-1"));
        }
    }
    loader.load().await
}
