//! Subjects a receiver adds to or removes from a stream (SSF 1.0 §8.1.3): RFC 9493 subject
//! identifiers of the formats Warden can name its users by — `iss_sub`, `email`, `opaque` —
//! and SSF 1.0 §3.2 complex subjects made of them. A subject is stored as its canonical
//! JSON (members sorted), keyed by that text's hash, so the same subject added twice is
//! one item and removing it finds it whatever order its members came in.

use crate::platform::crypto::hash_secret;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The subject identifier formats Warden accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectFormat {
    /// RFC 9493 §3.2.4: `iss` and `sub`.
    IssSub,
    /// RFC 9493 §3.2.2: `email`.
    Email,
    /// RFC 9493 §3.2.5: `id`.
    Opaque,
    /// SSF 1.0 §3.2: members `user`, `device`, `session`, `application`, `tenant`,
    /// `org_unit`, `group`, each a simple identifier.
    Complex,
}

impl SubjectFormat {
    /// The format name (`format` member).
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectFormat::IssSub => "iss_sub",
            SubjectFormat::Email => "email",
            SubjectFormat::Opaque => "opaque",
            SubjectFormat::Complex => "complex",
        }
    }

    /// The format a `format` member names, if Warden accepts it.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "iss_sub" => SubjectFormat::IssSub,
            "email" => SubjectFormat::Email,
            "opaque" => SubjectFormat::Opaque,
            "complex" => SubjectFormat::Complex,
            _ => return None,
        })
    }

    /// The members a simple identifier of this format must have besides `format`.
    fn members(self) -> &'static [&'static str] {
        match self {
            SubjectFormat::IssSub => &["iss", "sub"],
            SubjectFormat::Email => &["email"],
            SubjectFormat::Opaque => &["id"],
            SubjectFormat::Complex => &[],
        }
    }
}

/// The members of a complex subject (SSF 1.0 §3.2).
pub const COMPLEX_MEMBERS: &[&str] = &[
    "user",
    "device",
    "session",
    "application",
    "tenant",
    "org_unit",
    "group",
];

/// The longest value a subject member may have.
const MAX_MEMBER: usize = 512;

/// A checked subject: its format and canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Its format.
    pub format: SubjectFormat,
    /// Canonical JSON (members sorted, nothing else).
    pub canonical: String,
}

impl Subject {
    /// The hash that keys its item.
    pub fn key_hash(&self) -> String {
        hash_secret(&self.canonical)
    }
}

/// Check a subject identifier; `Err` says what is wrong, for a 400.
pub fn parse(v: &Value) -> Result<Subject, String> {
    let obj = v
        .as_object()
        .ok_or("subject must be a JSON object (RFC 9493 subject identifier)")?;
    let format = match obj.get("format") {
        Some(Value::String(f)) => SubjectFormat::parse(f).ok_or_else(|| {
            format!("subject format {f:?} is not supported (iss_sub, email, opaque, complex)")
        })?,
        Some(_) => return Err("subject format must be a string".into()),
        // SSF 1.0 §3.2: a complex subject has no `format` of its own.
        None if obj.keys().any(|k| COMPLEX_MEMBERS.contains(&k.as_str())) => SubjectFormat::Complex,
        None => return Err("subject needs a format".into()),
    };
    let canonical = match format {
        SubjectFormat::Complex => complex(obj)?,
        f => canonical(&simple(obj, f)?),
    };
    Ok(Subject { format, canonical })
}

fn simple(obj: &Map<String, Value>, f: SubjectFormat) -> Result<BTreeMap<String, Value>, String> {
    let mut out = BTreeMap::new();
    out.insert("format".to_string(), Value::String(f.as_str().into()));
    for (k, v) in obj {
        if k == "format" {
            continue;
        }
        if !f.members().contains(&k.as_str()) {
            return Err(format!(
                "subject member {k:?} is not part of format {}",
                f.as_str()
            ));
        }
        let s = v
            .as_str()
            .filter(|s| !s.is_empty() && s.len() <= MAX_MEMBER && !s.chars().any(char::is_control))
            .ok_or_else(|| {
                format!(
                    "subject member {k:?} must be a non-empty string of at most {MAX_MEMBER} bytes"
                )
            })?;
        out.insert(k.clone(), Value::String(s.into()));
    }
    for m in f.members() {
        if !out.contains_key(*m) {
            return Err(format!("format {} needs member {m:?}", f.as_str()));
        }
    }
    if f == SubjectFormat::Email {
        let e = out.get("email").and_then(Value::as_str).unwrap_or_default();
        let ok = e
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'));
        if !ok {
            return Err("email must be an addr-spec (RFC 5322)".into());
        }
    }
    Ok(out)
}

fn complex(obj: &Map<String, Value>) -> Result<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        if k == "format" {
            out.insert(k.clone(), Value::String("complex".into()));
            continue;
        }
        if !COMPLEX_MEMBERS.contains(&k.as_str()) {
            return Err(format!(
                "complex subject member {k:?} is not one of {COMPLEX_MEMBERS:?}"
            ));
        }
        let inner = v
            .as_object()
            .ok_or_else(|| format!("complex subject member {k:?} must be a subject identifier"))?;
        let f = inner
            .get("format")
            .and_then(Value::as_str)
            .and_then(SubjectFormat::parse)
            .filter(|f| *f != SubjectFormat::Complex)
            .ok_or_else(|| {
                format!(
                    "complex subject member {k:?} needs a simple format (iss_sub, email, opaque)"
                )
            })?;
        let m = simple(inner, f)?;
        out.insert(k.clone(), Value::Object(m.into_iter().collect()));
    }
    if !out.keys().any(|k| k != "format") {
        return Err("a complex subject needs at least one member".into());
    }
    Ok(canonical(&out))
}

fn canonical(m: &BTreeMap<String, Value>) -> String {
    // Members in key order; nested objects were built from BTreeMaps too.
    let mut s = String::from("{");
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&Value::String(k.clone()).to_string());
        s.push(':');
        match v {
            Value::Object(o) => {
                let inner: BTreeMap<String, Value> =
                    o.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                s.push_str(&canonical(&inner));
            }
            other => s.push_str(&other.to_string()),
        }
    }
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc_9493_formats_are_checked_and_canonical() {
        let a = parse(&json!({"sub": "u1", "format": "iss_sub", "iss": "https://idp"})).unwrap();
        let b = parse(&json!({"format": "iss_sub", "iss": "https://idp", "sub": "u1"})).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.format, SubjectFormat::IssSub);
        assert_eq!(
            a.canonical,
            r#"{"format":"iss_sub","iss":"https://idp","sub":"u1"}"#
        );
        assert_eq!(a.key_hash(), b.key_hash());
        assert!(parse(&json!({"format": "email", "email": "a@example.com"})).is_ok());
        assert!(parse(&json!({"format": "opaque", "id": "x"})).is_ok());
        for bad in [
            json!("u1"),
            json!({}),
            json!({"format": "iss_sub", "iss": "https://idp"}),
            json!({"format": "iss_sub", "iss": "https://idp", "sub": ""}),
            json!({"format": "iss_sub", "iss": "https://idp", "sub": 7}),
            json!({"format": "email", "email": "not-an-address"}),
            json!({"format": "email", "email": "a@example.com", "extra": "x"}),
            json!({"format": "phone_number", "phone_number": "+1"}),
            json!({"format": 1}),
        ] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn complex_subjects_are_made_of_simple_ones() {
        let c = parse(&json!({
            "user": {"format": "email", "email": "a@example.com"},
            "session": {"format": "opaque", "id": "s1"},
        }))
        .unwrap();
        assert_eq!(c.format, SubjectFormat::Complex);
        let with_format = parse(&json!({
            "format": "complex",
            "session": {"id": "s1", "format": "opaque"},
            "user": {"format": "email", "email": "a@example.com"},
        }))
        .unwrap();
        assert_eq!(with_format.format, SubjectFormat::Complex);
        assert!(c
            .canonical
            .starts_with(r#"{"session":{"format":"opaque","id":"s1"}"#));
        for bad in [
            json!({"format": "complex"}),
            json!({"user": "a@example.com"}),
            json!({"user": {"format": "complex", "user": {}}}),
            json!({"user": {"format": "email", "email": "a@example.com"}, "pet": {}}),
        ] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
    }
}
