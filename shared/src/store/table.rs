//! Creating the table from [`crate::store::schema::table_def`], and checking a live table against it.

use crate::store::schema::{table_def, TableDef};
use crate::store::StoreError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

fn key(name: &str, kt: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kt)
        .build()
        .map_err(|e| StoreError::Backend(e.to_string()))
}

fn attr(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| StoreError::Backend(e.to_string()))
}

/// Create the table if it does not exist (idempotent), wait until it is active, and enable
/// TTL on `expires_at`. Returns true if it created the table.
pub async fn create_table(client: &Client, name: &str) -> Result<bool, StoreError> {
    let def: TableDef = table_def();
    let mut attrs = vec![attr(def.pk)?, attr(def.sk)?];
    let mut gsis = Vec::new();
    for g in &def.gsis {
        attrs.push(attr(g.pk)?);
        attrs.push(attr(g.sk)?);
        gsis.push(
            GlobalSecondaryIndex::builder()
                .index_name(g.name)
                .key_schema(key(g.pk, KeyType::Hash)?)
                .key_schema(key(g.sk, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(g.projection))
                        .build(),
                )
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))?,
        );
    }
    let created = match client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attrs))
        .key_schema(key(def.pk, KeyType::Hash)?)
        .key_schema(key(def.sk, KeyType::Range)?)
        .set_global_secondary_indexes(Some(gsis))
        .send()
        .await
    {
        Ok(_) => true,
        Err(e) => {
            use aws_sdk_dynamodb::error::ProvideErrorMetadata;
            if e.code() == Some("ResourceInUseException") {
                false
            } else {
                return Err(StoreError::from_sdk(e));
            }
        }
    };
    for _ in 0..100 {
        let d = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        if d.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    if created {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(def.ttl_attribute)
                    .enabled(true)
                    .build()
                    .map_err(|e| StoreError::Backend(e.to_string()))?,
            )
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
    }
    Ok(created)
}

/// Compare a live table with the definition: keys, GSIs (keys and projection), TTL.
/// Returns the differences (empty = matches).
pub async fn describe_matches(client: &Client, name: &str) -> Result<Vec<String>, StoreError> {
    let def = table_def();
    let mut diffs = Vec::new();
    let d = client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .map_err(StoreError::from_sdk)?;
    let Some(t) = d.table() else {
        return Ok(vec!["no table description".into()]);
    };
    let ks: Vec<(String, String)> = t
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_string(),
                k.key_type().as_str().to_string(),
            )
        })
        .collect();
    if ks
        != vec![
            (def.pk.into(), "HASH".into()),
            (def.sk.into(), "RANGE".into()),
        ]
    {
        diffs.push(format!("key schema {ks:?}"));
    }
    for g in &def.gsis {
        match t
            .global_secondary_indexes()
            .iter()
            .find(|x| x.index_name() == Some(g.name))
        {
            None => diffs.push(format!("missing GSI {}", g.name)),
            Some(x) => {
                let ks: Vec<String> = x
                    .key_schema()
                    .iter()
                    .map(|k| k.attribute_name().to_string())
                    .collect();
                if ks != vec![g.pk.to_string(), g.sk.to_string()] {
                    diffs.push(format!("GSI {} keys {ks:?}", g.name));
                }
                let p = x
                    .projection()
                    .and_then(|p| p.projection_type())
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default();
                if p != g.projection {
                    diffs.push(format!("GSI {} projection {p}", g.name));
                }
            }
        }
    }
    if t.global_secondary_indexes().len() != def.gsis.len() {
        diffs.push("extra GSIs".into());
    }
    let ttl = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(StoreError::from_sdk)?;
    let attr = ttl
        .time_to_live_description()
        .and_then(|d| d.attribute_name())
        .unwrap_or_default();
    if attr != def.ttl_attribute {
        diffs.push(format!("TTL attribute {attr:?}"));
    }
    Ok(diffs)
}
