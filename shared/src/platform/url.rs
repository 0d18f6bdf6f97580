//! URL helpers that know nothing of Warden.

/// RFC 6454 ASCII serialisation of a URL's origin: lowercase scheme and host, default port
/// dropped. `None` for opaque origins.
pub fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    match u.origin() {
        url::Origin::Tuple(..) => Some(u.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}
