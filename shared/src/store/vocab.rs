//! The table's vocabularies: every status, kind and binding a stored item names, as an enum
//! whose serde names are the exact strings stored (no data migration: an item written
//! before these enums reads back the same, and writes back byte for byte — see the test
//! below). Termination reasons are the API's enum [`EndReason`]; items keep a reason as
//! the string it names, so that reasons of older versions still read.

use serde::{Deserialize, Serialize};

macro_rules! vocabulary {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $v),+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$v),+];

            /// The stored string.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$v => $s),+
                }
            }

            /// The value a stored string names.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($s => Some($name::$v),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Reads as its stored string (`status.as_deref() == Some("revoked")`, `&*kind`).
        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                self.as_str()
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_string()
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
    };
}

vocabulary! {
    /// A session's state.
    SessionStatus {
        /// Live until its idle or absolute expiry.
        Active = "active",
        /// Ended by a termination (its reason on the item).
        Ended = "ended",
    }
}

vocabulary! {
    /// Which token a token item or a held grant's token is.
    TokenKind {
        /// An access token (RFC 6749 §1.4): presented to userinfo and resource servers.
        Access = "access",
        /// A refresh token (RFC 6749 §1.5): exchanged at the token endpoint for new tokens.
        Refresh = "refresh",
    }
}

vocabulary! {
    /// A token's state.
    TokenStatus {
        /// Usable until its expiry.
        Active = "active",
        /// Revoked (RFC 7009, a termination, a replayed code's or reused refresh's family).
        Revoked = "revoked",
        /// A refresh token a refresh replaced; presenting it again revokes its family.
        Rotated = "rotated",
    }
}

vocabulary! {
    /// A back-channel delivery's state.
    DeliveryStatus {
        /// Committed with its termination; not delivered yet (the queue or the relay sends it).
        Pending = "pending",
        /// The app answered 200 or 204.
        Delivered = "delivered",
        /// The app answered 400, or it has no back-channel URI any more: final, replayable.
        Rejected = "rejected",
        /// Every retry failed: final, replayable.
        Dead = "dead",
    }
}

vocabulary! {
    /// How a client's access tokens map to sessions (README, "Token binding").
    TokenBinding {
        /// Each browser session gets its own token pair.
        SsoSession = "sso-session",
        /// One access token per browser, user, client and scope.
        Cookie = "cookie",
        /// One access token per user, client and scope, shared by every session.
        None = "none",
    }
}

vocabulary! {
    /// A signing key's place in rotation.
    KeyStatus {
        /// Signs.
        Active = "active",
        /// Still verifies (and opens codes) after a rotation.
        Previous = "previous",
        /// Kept for the record; verifies nothing.
        Retired = "retired",
    }
}

vocabulary! {
    /// Why a session ended, or a token was revoked: what a termination records.
    EndReason {
        /// The user ended it (My Account, the Me API).
        User = "user",
        /// The user ended all their sessions (or all others) at once.
        UserAll = "user_all",
        /// An administrator ended it (Admin API, `warden-admin`).
        Admin = "admin",
        /// The app's RP-initiated logout.
        RpLogout = "rp_logout",
        /// Its idle or absolute expiry passed: what the relay recorded before the two were
        /// told apart (still read from older items, no longer written).
        Expired = "expired",
        /// Unused longer than its idle timeout (the relay).
        IdleTimeout = "idle_timeout",
        /// Its absolute lifetime ended (the relay).
        AbsoluteTimeout = "absolute_timeout",
        /// The user's password was changed or reset.
        CredentialChange = "credential_change",
        /// Evicted by the concurrent-session limit.
        SessionLimit = "session_limit",
        /// The user's account was disabled.
        UserDisabled = "user_disabled",
        /// The user's account was deleted.
        UserDeleted = "user_deleted",
        /// Another user signed in in its browser.
        UserSwitch = "user_switch",
        /// A code was presented again: its family is revoked (RFC 6749 §4.1.2).
        CodeReplay = "code_replay",
        /// A rotated refresh token was presented again (RFC 9700 §4.14.2).
        RefreshReuse = "refresh_reuse",
        /// RFC 7009 revocation by the client.
        Revoked = "revoked",
    }
}

vocabulary! {
    /// Who ended a session.
    ActorKind {
        /// The session's own user.
        User = "user",
        /// An administrator (a user with `internal_session_delete`, or `warden-admin`).
        Admin = "admin",
        /// Warden itself: expiry, a replayed code, a reused refresh token, an app's logout.
        System = "system",
    }
}

/// Who ended a session: the actor's kind, and for a person their user id and the client
/// they acted through (absent for the CLI and for the system). Stored on the ended session
/// (`ended_by`) and shown by the Admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndedBy {
    /// Whether a user, an administrator or Warden itself ended it.
    pub kind: ActorKind,
    /// The person who acted (the session's user or the administrator); `None` for the system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The client they acted through (a bearer token's client); `None` for the CLI and the
    /// system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl EndedBy {
    /// The system (no person).
    pub fn system() -> Self {
        EndedBy {
            kind: ActorKind::System,
            user_id: None,
            client_id: None,
        }
    }

    /// A person of `kind` acting through `client_id` (a bearer token's client).
    pub fn person(kind: ActorKind, user_id: &str, client_id: Option<&str>) -> Self {
        EndedBy {
            kind,
            user_id: Some(user_id.to_string()),
            client_id: client_id.map(str::to_string),
        }
    }
}

impl EndReason {
    /// Whether an end for this reason leaves the refresh tokens of offline grants
    /// ([`crate::store::schema::ClientItem::keep_offline_tokens`]) active: the user's own
    /// logouts, the RP's logout and expiry (Back-Channel Logout 1.0 §2.7), never a
    /// credential change, a disabled or deleted account, an administrator, the session
    /// limit or a replay.
    pub fn keeps_offline_tokens(self) -> bool {
        matches!(
            self,
            EndReason::User
                | EndReason::UserAll
                | EndReason::UserSwitch
                | EndReason::RpLogout
                | EndReason::IdleTimeout
                | EndReason::AbsoluteTimeout
                | EndReason::Expired
        )
    }

    /// Who a reason implies when the caller names nobody: the system for everything Warden
    /// does itself, an administrator (unnamed: the CLI) for the administrative causes, the
    /// session's user for the user's own.
    pub fn implied_actor(self, session_user: &str) -> EndedBy {
        match self {
            EndReason::User
            | EndReason::UserAll
            | EndReason::UserSwitch
            | EndReason::RpLogout
            | EndReason::CredentialChange => EndedBy::person(ActorKind::User, session_user, None),
            EndReason::Admin | EndReason::UserDisabled | EndReason::UserDeleted => EndedBy {
                kind: ActorKind::Admin,
                user_id: None,
                client_id: None,
            },
            _ => EndedBy::system(),
        }
    }
}

// --- SSF (issue 21): the vocabularies a stream item names.

vocabulary! {
    /// How a stream's SETs reach its receiver (SSF 1.0 §6.1.1, `delivery.method`).
    DeliveryMethod {
        /// Push: Warden POSTs each SET to the receiver's `endpoint_url` (RFC 8935).
        Push = "urn:ietf:rfc:8935",
        /// Poll: the receiver polls the `endpoint_url` Warden assigns (RFC 8936).
        Poll = "urn:ietf:rfc:8936",
    }
}

vocabulary! {
    /// A stream's status (SSF 1.0 §8.1.2).
    StreamStatus {
        /// SETs are transmitted.
        Enabled = "enabled",
        /// SETs are kept for the receiver but not transmitted until it is enabled again.
        Paused = "paused",
        /// SETs are neither transmitted nor kept.
        Disabled = "disabled",
    }
}

vocabulary! {
    /// The event types Warden can transmit (SSF 1.0 §6.1 `events_supported`): CAEP 1.0
    /// §3.1, §3.3; RISC 1.0 §2.3, §2.4, §2.5; SSF 1.0 §8.1.4.1.
    EventType {
        /// CAEP session revoked: a session of the subject ended.
        SessionRevoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
        /// CAEP credential change: the subject's password changed or was reset.
        CredentialChange = "https://schemas.openid.net/secevent/caep/event-type/credential-change",
        /// RISC account disabled.
        AccountDisabled = "https://schemas.openid.net/secevent/risc/event-type/account-disabled",
        /// RISC account enabled.
        AccountEnabled = "https://schemas.openid.net/secevent/risc/event-type/account-enabled",
        /// RISC account purged (deleted).
        AccountPurged = "https://schemas.openid.net/secevent/risc/event-type/account-purged",
        /// SSF verification: the answer to a receiver's verification request.
        Verification = "https://schemas.openid.net/secevent/ssf/event-type/verification",
    }
}

vocabulary! {
    /// What a Shared Signals outbox record ([`crate::store::schema::SignalItem`]) is about:
    /// the cause the dispatcher turns into one SET per matching stream.
    SignalKind {
        /// Sessions ended (a termination; `sids`, `reason`, `actor` say which and why).
        SessionRevoked = "session_revoked",
        /// The user's password was changed or reset.
        PasswordChanged = "password_changed",
        /// The account was disabled.
        AccountDisabled = "account_disabled",
        /// The account was enabled again.
        AccountEnabled = "account_enabled",
        /// The account was deleted.
        AccountPurged = "account_purged",
        /// A receiver asked for a verification event (SSF 1.0 §8.1.4.2) on one stream.
        Verification = "verification",
    }
}

// --- end of SSF.

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_as_its_stored_string() {
        fn check<
            T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug + Copy,
        >(
            all: &[T],
            name: impl Fn(T) -> &'static str,
            parse: impl Fn(&str) -> Option<T>,
        ) {
            for v in all {
                let json = serde_json::to_string(v).unwrap();
                assert_eq!(json, format!("\"{}\"", name(*v)));
                assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *v);
                assert_eq!(parse(name(*v)), Some(*v));
            }
            assert_eq!(parse("no-such-value"), None);
        }
        check(
            SessionStatus::ALL,
            SessionStatus::as_str,
            SessionStatus::parse,
        );
        check(TokenKind::ALL, TokenKind::as_str, TokenKind::parse);
        check(TokenStatus::ALL, TokenStatus::as_str, TokenStatus::parse);
        check(
            DeliveryStatus::ALL,
            DeliveryStatus::as_str,
            DeliveryStatus::parse,
        );
        check(TokenBinding::ALL, TokenBinding::as_str, TokenBinding::parse);
        check(KeyStatus::ALL, KeyStatus::as_str, KeyStatus::parse);
        check(EndReason::ALL, EndReason::as_str, EndReason::parse);
        check(ActorKind::ALL, ActorKind::as_str, ActorKind::parse);
        check(
            DeliveryMethod::ALL,
            DeliveryMethod::as_str,
            DeliveryMethod::parse,
        );
        check(StreamStatus::ALL, StreamStatus::as_str, StreamStatus::parse);
        check(EventType::ALL, EventType::as_str, EventType::parse);
        check(SignalKind::ALL, SignalKind::as_str, SignalKind::parse);
        assert_eq!(TokenBinding::SsoSession, "sso-session");
    }
}

#[cfg(test)]
mod stored_items {
    use super::*;
    use crate::store::schema::{from_item, to_item, DeliveryItem, TokenItem};
    use aws_sdk_dynamodb::types::AttributeValue;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }
    fn n(v: i64) -> AttributeValue {
        AttributeValue::N(v.to_string())
    }

    /// A token item and a delivery as the code before these enums wrote them (every
    /// attribute spelled out, statuses as bare strings): they read into the enums, and write
    /// back byte for byte.
    #[test]
    fn items_written_before_the_enums_read_and_write_back_unchanged() {
        let token = std::collections::HashMap::from([
            ("pk".to_string(), s("TOKEN#h")),
            ("sk".to_string(), s("TOKEN")),
            ("kind".to_string(), s("refresh")),
            ("client_id".to_string(), s("rp")),
            ("user_id".to_string(), s("u1")),
            ("scope".to_string(), s("openid")),
            ("iat".to_string(), n(1)),
            ("exp".to_string(), n(2)),
            ("status".to_string(), s("rotated")),
            ("sessions".to_string(), AttributeValue::L(vec![s("s1")])),
            ("family".to_string(), s("f")),
            ("auth_time".to_string(), n(1)),
            ("expires_at".to_string(), n(2)),
        ]);
        let t: TokenItem = from_item(token.clone()).unwrap();
        assert_eq!(
            (t.kind, t.status),
            (TokenKind::Refresh, TokenStatus::Rotated)
        );
        let mut back = to_item(&t).unwrap();
        back.remove("revoked_reason"); // absent before, written as NULL only if set
        assert_eq!(back.get("kind"), Some(&s("refresh")));
        assert_eq!(back.get("status"), Some(&s("rotated")));
        for (k, v) in &token {
            assert_eq!(back.get(k), Some(v), "{k}");
        }

        for (stored, want) in [
            ("pending", DeliveryStatus::Pending),
            ("delivered", DeliveryStatus::Delivered),
            ("rejected", DeliveryStatus::Rejected),
            ("dead", DeliveryStatus::Dead),
        ] {
            let d = std::collections::HashMap::from([
                ("pk".to_string(), s("SESSION#s1")),
                ("sk".to_string(), s("DELIVERY#rp")),
                ("sid".to_string(), s("s1")),
                ("client_id".to_string(), s("rp")),
                ("user_id".to_string(), s("u1")),
                ("status".to_string(), s(stored)),
                ("attempts".to_string(), n(1)),
                ("created_ms".to_string(), n(1)),
                ("updated_ms".to_string(), n(1)),
                ("reason".to_string(), s("admin")),
                ("expires_at".to_string(), n(2)),
            ]);
            let item: DeliveryItem = from_item(d.clone()).unwrap();
            assert_eq!(item.status, want);
            let back = to_item(&item).unwrap();
            for (k, v) in &d {
                assert_eq!(back.get(k), Some(v), "{stored}: {k}");
            }
        }
    }
}
