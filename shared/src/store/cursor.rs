//! Keyset pagination: an opaque cursor carries DynamoDB's LastEvaluatedKey (one per shard
//! for sharded searches). Cursors are validated on the way in; a bad one is a 400, never a
//! 500.

use super::Item;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, HashMap};

/// One page of results and the cursor for the next, if any.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// This page's results, in the order of the query.
    pub items: Vec<T>,
    /// The encoded [`Cursor`] of the next page; `None` on the last page.
    pub next: Option<String>,
}

/// An opaque position: named positions (e.g. shard number) each holding a key of string
/// attributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cursor(pub BTreeMap<String, BTreeMap<String, String>>);

/// Attribute names allowed in cursors (the table's and indexes' key attributes).
const ALLOWED: &[&str] = &[
    "pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk",
];

impl Cursor {
    /// The opaque form handed to clients: base64url of the positions as JSON.
    pub fn encode(&self) -> String {
        crate::platform::crypto::b64(
            serde_json::to_string(&self.0)
                .unwrap_or_default()
                .as_bytes(),
        )
    }

    /// Decode and validate; `None` for anything malformed.
    pub fn decode(s: &str) -> Option<Self> {
        if s.len() > 4096 {
            return None;
        }
        let raw = crate::platform::crypto::b64_decode(s)?;
        let map: BTreeMap<String, BTreeMap<String, String>> = serde_json::from_slice(&raw).ok()?;
        for key in map.values() {
            if key.keys().any(|k| !ALLOWED.contains(&k.as_str())) {
                return None;
            }
        }
        Some(Cursor(map))
    }

    /// Remember where `position` stopped: its LastEvaluatedKey (string attributes only; every key
    /// attribute of the table and its indexes is a string).
    pub fn set(&mut self, position: &str, key: &Item) {
        let k: BTreeMap<String, String> = key
            .iter()
            .filter_map(|(k, v)| match v {
                AttributeValue::S(s) => Some((k.clone(), s.clone())),
                _ => None,
            })
            .collect();
        self.0.insert(position.to_string(), k);
    }

    /// The key stored for a position; `None` if absent or "from the start" (empty).
    pub fn get(&self, position: &str) -> Option<Item> {
        self.0.get(position).filter(|k| !k.is_empty()).map(|k| {
            k.iter()
                .map(|(k, v)| (k.clone(), AttributeValue::S(v.clone())))
                .collect::<HashMap<_, _>>()
        })
    }

    /// No position left: every shard is exhausted, so there is no next page.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_rejects_garbage() {
        let mut c = Cursor::default();
        let mut k = HashMap::new();
        k.insert("pk".to_string(), AttributeValue::S("SESSION#a".into()));
        k.insert("gsi1sk".to_string(), AttributeValue::S("1#a".into()));
        c.set("0", &k);
        let enc = c.encode();
        assert_eq!(Cursor::decode(&enc), Some(c));
        assert_eq!(Cursor::decode("!!!"), None);
        assert_eq!(
            Cursor::decode(&crate::platform::crypto::b64(b"{\"0\":{\"evil\":\"x\"}}")),
            None
        );
        assert_eq!(
            Cursor::decode(&crate::platform::crypto::b64(b"[1,2]")),
            None
        );
    }
}
