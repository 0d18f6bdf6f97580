//! The password policy: pure checks, no I/O, so every rule is unit-tested here and the same
//! rules serve the user's own change (My Account) and an administrator's reset.

use crate::session::login::MAX_PASSWORD;

/// Shortest password accepted (characters).
pub const MIN_PASSWORD_CHARS: usize = 8;

/// A username shorter than this is not looked for inside the password (a one- or
/// two-letter name would refuse most passwords).
const MIN_NAME_TO_MATCH: usize = 3;

/// Why a new password was refused. Each has a stable code for the REST API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyError {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    TooShort,
    /// More than [`MAX_PASSWORD`] bytes (bounds the Argon2 work an attacker can ask for).
    TooLong,
    /// Equal to, or containing, the username (case-insensitively).
    ContainsUsername,
}

impl PolicyError {
    /// The REST API's error code (`ACC-400nn`).
    pub fn code(self) -> &'static str {
        match self {
            PolicyError::TooShort => "ACC-40002",
            PolicyError::TooLong => "ACC-40003",
            PolicyError::ContainsUsername => "ACC-40004",
        }
    }

    /// What to tell the person choosing the password.
    pub fn message(self) -> String {
        match self {
            PolicyError::TooShort => {
                format!("The new password must have at least {MIN_PASSWORD_CHARS} characters.")
            }
            PolicyError::TooLong => {
                format!("The new password must have at most {MAX_PASSWORD} bytes.")
            }
            PolicyError::ContainsUsername => {
                "The new password must not contain the username.".to_string()
            }
        }
    }
}

/// Check a new password for `username` against the policy.
pub fn check_policy(username: &str, password: &str) -> Result<(), PolicyError> {
    if password.len() > MAX_PASSWORD {
        return Err(PolicyError::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PolicyError::TooShort);
    }
    let name = username.trim().to_lowercase();
    let pw = password.to_lowercase();
    if pw == name || (name.chars().count() >= MIN_NAME_TO_MATCH && pw.contains(&name)) {
        return Err(PolicyError::ContainsUsername);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_enough_password_without_the_username_passes() {
        assert_eq!(check_policy("alice", "correct horse"), Ok(()));
        assert_eq!(check_policy("al", "xxalxxxxxx"), Ok(()));
    }

    #[test]
    fn short_passwords_are_refused_counting_characters_not_bytes() {
        assert_eq!(check_policy("alice", "1234567"), Err(PolicyError::TooShort));
        assert_eq!(check_policy("alice", ""), Err(PolicyError::TooShort));
        assert_eq!(check_policy("alice", "ééééééé"), Err(PolicyError::TooShort));
        assert_eq!(check_policy("alice", "éééééééé"), Ok(()));
    }

    #[test]
    fn over_long_passwords_are_refused() {
        let long = "a".repeat(MAX_PASSWORD + 1);
        assert_eq!(check_policy("bob", &long), Err(PolicyError::TooLong));
        assert_eq!(check_policy("bob", &"a".repeat(MAX_PASSWORD)), Ok(()));
    }

    #[test]
    fn the_username_is_refused_inside_the_password_whatever_its_case() {
        assert_eq!(
            check_policy("Alice", "alice123!"),
            Err(PolicyError::ContainsUsername)
        );
        assert_eq!(
            check_policy("carol-x", "CAROL-X1"),
            Err(PolicyError::ContainsUsername)
        );
        assert_eq!(
            check_policy("longusername", "longusername"),
            Err(PolicyError::ContainsUsername)
        );
    }

    #[test]
    fn every_failure_has_its_own_code() {
        let all = [
            PolicyError::TooShort,
            PolicyError::TooLong,
            PolicyError::ContainsUsername,
        ];
        let codes: std::collections::BTreeSet<_> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), all.len());
    }
}
