//! Small text rules used in several places.

/// `s` cut to at most `max` bytes, on a character boundary (stored user agents, errors).
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Only base64url characters (`A–Z a–z 0–9 - _`, no padding): the alphabet of every random
/// value Warden mints (ids, secrets, cookie values, PKCE challenges).
pub fn is_b64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("héllo", 2), "h");
        assert!(is_b64url("aZ09-_") && !is_b64url("a=b") && !is_b64url("a.b"));
    }
}
