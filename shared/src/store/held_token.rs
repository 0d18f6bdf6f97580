//! The format of a token held by its session link ([`crate::store::schema::HeldGrant`]):
//! `<sid>.<link key>.<secret>`. The first two parts name the link that holds the token, so
//! one GetItem finds it; the table keeps only the hash of the whole string, so neither a
//! secret nor a usable token is stored, and a token pointed at another link (its parts
//! swapped) hashes to nothing that link holds. Tokens without this shape (43 characters,
//! no dots) are `TOKEN#` items.

use crate::platform::crypto;
use crate::platform::text::is_b64url;

/// A new held token for the link `key` in session `sid`.
pub fn mint(sid: &str, key: &str) -> String {
    format!("{sid}.{key}.{}", crypto::random_token())
}

/// The link a held token names: `(sid, key)`. `None` for any other shape, which callers
/// treat as a `TOKEN#` item's token.
pub fn parse(token: &str) -> Option<(&str, &str)> {
    let mut parts = token.split('.');
    let (sid, key, secret) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let ok = |p: &str, max: usize| !p.is_empty() && p.len() <= max && is_b64url(p);
    (ok(sid, 64) && ok(key, 64) && ok(secret, 64)).then_some((sid, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = mint("sid123", "key456");
        assert_eq!(parse(&t), Some(("sid123", "key456")));
        assert_eq!(t.len(), "sid123.key456.".len() + 43);
    }

    #[test]
    fn other_shapes_are_not_held() {
        for t in [
            "",
            "abc",
            crypto::random_token().as_str(),
            "a.b",
            "a.b.c.d",
            "a..c",
            ".b.c",
            "a.b.",
            "a/b.c.d",
            "a.b=.c",
            "a.b.c\n",
        ] {
            assert_eq!(parse(t), None, "{t:?}");
        }
        let long = "x".repeat(65);
        assert_eq!(parse(&format!("a.{long}.c")), None);
    }
}
