//! Security Event Tokens (RFC 8417, SSF 1.0 §4), pure: the claims of the one SET a stream
//! receives for one signal, and its signing with Warden's signing keys (as ID and logout
//! tokens are), header `typ: secevent+jwt`. No I/O here: the dispatcher reads the signal's
//! outbox record and the stream, and calls [`set_claims`] once per matching stream.
//!
//! * Claims (RFC 8417 §2.2, SSF 1.0 §4): `iss`, `jti` (fresh per SET), `iat`, `aud` (the
//!   stream's `aud`: a string for one, an array for more), `txn` (RFC 8417 §2.2: the same
//!   for every SET one termination or account change produced, so a receiver can tell the
//!   SETs of one cause apart from repeats of another), `sub_id` (RFC 9493, SSF 1.0 §4.1),
//!   and `events` with exactly one event (SSF 1.0 §4.1.8). No `exp` (RFC 8417 §2.2: SETs
//!   are not access tokens).
//! * Subject ([`SubjectShape`]): the user as the stream registered them — `iss_sub`
//!   {`iss`, `sub`}, or `email` when the stream added the user by e-mail; a complex
//!   subject (SSF 1.0 §3.2) with that `user` and `session` (`{"format":"opaque","id":sid}`)
//!   when the stream added a complex subject and the signal names a session.
//! * Events (field names checked against CAEP 1.0 §2, §3.1 "Session Revoked", §3.3
//!   "Credential Change" on openid.net; RISC 1.0 §2.3–§2.5 from memory):
//!   - CAEP `session-revoked`: `event_timestamp`, `initiating_entity` (`admin`, `user`,
//!     `policy`, `system`) from the termination's actor and reason, `reason_admin` and
//!     `reason_user` (`{"en": …}`) from its reason;
//!   - CAEP `credential-change`: `credential_type: "password"`, `change_type: "update"`,
//!     `event_timestamp`, `initiating_entity`;
//!   - RISC `account-disabled`, `account-enabled`, `account-purged`: `{}` (RISC's optional
//!     `reason` for a disabled account — `hijacking`, `bulk-account` — is not something
//!     Warden knows, so it is left out).

use crate::keys::signing::{KeyError, KeySet};
use crate::store::schema::{ActorKind, EndReason, EventType, SignalItem, SignalKind};
use serde_json::{json, Map, Value};

/// The JWS `typ` of a SET (RFC 8417 §2.3).
pub const SET_TYP: &str = "secevent+jwt";

/// What happened, as a signal's outbox record says it: the cause of one SET per stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalEvent {
    /// A session ended (one termination; for bulk terminations one per session).
    SessionRevoked {
        /// The ended session.
        sid: String,
        /// Why it ended.
        reason: EndReason,
        /// Who ended it.
        actor: ActorKind,
    },
    /// The user's password was changed (`actor` user) or reset (`actor` admin).
    PasswordChanged {
        /// Who changed it.
        actor: ActorKind,
    },
    /// The account was disabled.
    AccountDisabled,
    /// The account was enabled again.
    AccountEnabled,
    /// The account was deleted.
    AccountPurged,
    /// A verification event (SSF 1.0 §8.1.4) for `stream_id`, echoing the receiver's
    /// `state`; its subject is the stream (`{"format":"opaque","id":stream_id}`).
    Verification {
        /// The stream.
        stream_id: String,
        /// The receiver's `state`.
        state: Option<String>,
    },
}

impl SignalEvent {
    /// The event type a SET for this signal carries (what `events_delivered` must name).
    pub fn event_type(&self) -> EventType {
        match self {
            SignalEvent::SessionRevoked { .. } => EventType::SessionRevoked,
            SignalEvent::PasswordChanged { .. } => EventType::CredentialChange,
            SignalEvent::AccountDisabled => EventType::AccountDisabled,
            SignalEvent::AccountEnabled => EventType::AccountEnabled,
            SignalEvent::AccountPurged => EventType::AccountPurged,
            SignalEvent::Verification { .. } => EventType::Verification,
        }
    }

    /// The session the signal is about, if any.
    pub fn sid(&self) -> Option<&str> {
        match self {
            SignalEvent::SessionRevoked { sid, .. } => Some(sid),
            _ => None,
        }
    }
}

/// The events an outbox record stands for: one per ended session for a termination, one
/// otherwise. A termination record without a reason (never written so) reads as the
/// system's. Each becomes one SET per matching stream.
pub fn events_of(sig: &SignalItem) -> Vec<SignalEvent> {
    let actor = sig
        .actor
        .as_ref()
        .map(|a| a.kind)
        .unwrap_or(ActorKind::System);
    match sig.kind {
        SignalKind::SessionRevoked => sig
            .sids
            .iter()
            .map(|sid| SignalEvent::SessionRevoked {
                sid: sid.clone(),
                reason: sig.reason.unwrap_or(EndReason::Revoked),
                actor,
            })
            .collect(),
        SignalKind::PasswordChanged => vec![SignalEvent::PasswordChanged { actor }],
        SignalKind::AccountDisabled => vec![SignalEvent::AccountDisabled],
        SignalKind::AccountEnabled => vec![SignalEvent::AccountEnabled],
        SignalKind::AccountPurged => vec![SignalEvent::AccountPurged],
        SignalKind::Verification => match &sig.stream {
            Some((_, stream_id)) => vec![SignalEvent::Verification {
                stream_id: stream_id.clone(),
                state: sig.state.clone(),
            }],
            None => Vec::new(),
        },
    }
}

/// How a SET names its subject (`sub_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubjectShape {
    /// RFC 9493 `iss_sub` for the user.
    #[default]
    User,
    /// SSF 1.0 §3.2 complex subject: `user` (iss_sub) and, when the signal names one,
    /// `session` (opaque, the sid); without a session it falls back to [`SubjectShape::User`].
    UserAndSession,
    /// RFC 9493 `email` for the user (the stream registered the user by e-mail); `iss_sub`
    /// when the user has no e-mail address (any more).
    Email,
    /// [`SubjectShape::UserAndSession`] with the user as `email`.
    EmailAndSession,
}

/// Everything one SET says besides its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetContext<'a> {
    /// Warden's issuer (`iss`, and the subject's `iss`).
    pub issuer: &'a str,
    /// The stream's `aud`.
    pub aud: &'a [String],
    /// The user the signal is about (`sub` of the subject: Warden's user id, as in ID
    /// tokens).
    pub user_id: &'a str,
    /// The signal's transaction id (`txn`).
    pub txn: &'a str,
    /// When the event happened (epoch ms; `event_timestamp` in seconds).
    pub event_ms: i64,
    /// When the SET is issued (epoch s; `iat`).
    pub iat: i64,
    /// `jti`: unique per SET.
    pub jti: &'a str,
    /// How to name the subject.
    pub shape: SubjectShape,
    /// The user's e-mail address, for the `email` shapes.
    pub email: Option<&'a str>,
}

/// The claims of one SET (RFC 8417 §2.2, SSF 1.0 §4).
pub fn set_claims(ctx: &SetContext<'_>, event: &SignalEvent) -> Value {
    let aud = match ctx.aud {
        [one] => json!(one),
        many => json!(many),
    };
    let mut events = Map::new();
    events.insert(
        event.event_type().as_str().to_string(),
        event_body(event, ctx.event_ms),
    );
    json!({
        "iss": ctx.issuer,
        "jti": ctx.jti,
        "iat": ctx.iat,
        "aud": aud,
        "txn": ctx.txn,
        "sub_id": match event {
            SignalEvent::Verification { stream_id, .. } => {
                json!({"format": "opaque", "id": stream_id})
            }
            _ => sub_id(ctx, event.sid()),
        },
        "events": events,
    })
}

/// Sign SET claims as a compact JWS (RS256, the active `kid`, `typ: secevent+jwt`).
pub fn sign_set(keys: &KeySet, claims: &Value) -> Result<String, KeyError> {
    keys.sign(SET_TYP, claims)
}

fn sub_id(ctx: &SetContext<'_>, sid: Option<&str>) -> Value {
    let by_email = matches!(
        ctx.shape,
        SubjectShape::Email | SubjectShape::EmailAndSession
    );
    let user = match ctx.email {
        Some(e) if by_email => json!({"format": "email", "email": e}),
        _ => json!({"format": "iss_sub", "iss": ctx.issuer, "sub": ctx.user_id}),
    };
    match (ctx.shape, sid) {
        (SubjectShape::UserAndSession | SubjectShape::EmailAndSession, Some(sid)) => json!({
            "format": "complex",
            "user": user,
            "session": {"format": "opaque", "id": sid},
        }),
        _ => user,
    }
}

fn event_body(event: &SignalEvent, event_ms: i64) -> Value {
    let ts = event_ms.div_euclid(1000);
    match event {
        SignalEvent::SessionRevoked { reason, actor, .. } => {
            let (admin, user) = reason_texts(*reason);
            json!({
                "event_timestamp": ts,
                "initiating_entity": initiating_entity(*actor, *reason),
                "reason_admin": {"en": admin},
                "reason_user": {"en": user},
            })
        }
        SignalEvent::PasswordChanged { actor } => json!({
            "event_timestamp": ts,
            "initiating_entity": initiating_entity(*actor, EndReason::CredentialChange),
            "credential_type": "password",
            "change_type": "update",
        }),
        SignalEvent::AccountDisabled | SignalEvent::AccountEnabled | SignalEvent::AccountPurged => {
            json!({})
        }
        SignalEvent::Verification { state, .. } => match state {
            Some(st) => json!({"state": st}),
            None => json!({}),
        },
    }
}

/// CAEP 1.0 §2 `initiating_entity`: the termination's actor; for Warden itself, `policy`
/// when a configured rule ended it (timeouts, the session limit), `system` otherwise
/// (replays, revocation).
pub fn initiating_entity(actor: ActorKind, reason: EndReason) -> &'static str {
    match actor {
        ActorKind::Admin => "admin",
        ActorKind::User => "user",
        ActorKind::System => match reason {
            EndReason::IdleTimeout
            | EndReason::AbsoluteTimeout
            | EndReason::Expired
            | EndReason::SessionLimit => "policy",
            _ => "system",
        },
    }
}

/// `reason_admin` and `reason_user` (English) for a termination's reason.
pub fn reason_texts(reason: EndReason) -> (&'static str, &'static str) {
    match reason {
        EndReason::User => ("session ended by the user", "You signed out."),
        EndReason::UserAll => (
            "all sessions ended by the user",
            "You signed out everywhere.",
        ),
        EndReason::Admin => (
            "session ended by an administrator",
            "An administrator signed you out.",
        ),
        EndReason::RpLogout => (
            "session ended by an application's logout",
            "You signed out of an application.",
        ),
        EndReason::Expired => ("session expired", "Your session expired."),
        EndReason::IdleTimeout => ("idle timeout", "Your session expired after inactivity."),
        EndReason::AbsoluteTimeout => (
            "absolute session lifetime reached",
            "Your session reached its maximum lifetime.",
        ),
        EndReason::CredentialChange => (
            "password changed or reset",
            "Your password was changed, so you were signed out.",
        ),
        EndReason::SessionLimit => (
            "concurrent session limit",
            "You signed in elsewhere, so this session ended.",
        ),
        EndReason::UserDisabled => ("account disabled", "Your account was disabled."),
        EndReason::UserDeleted => ("account deleted", "Your account was deleted."),
        EndReason::UserSwitch => (
            "another user signed in in the same browser",
            "Another user signed in in this browser.",
        ),
        EndReason::CodeReplay => (
            "authorization code replayed",
            "You were signed out for your security.",
        ),
        EndReason::RefreshReuse => (
            "refresh token reused",
            "You were signed out for your security.",
        ),
        EndReason::Revoked => (
            "token revoked by the application",
            "You were signed out of an application.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::signing::generate_key_item;

    fn ctx<'a>(aud: &'a [String], shape: SubjectShape) -> SetContext<'a> {
        SetContext {
            issuer: "https://idp",
            aud,
            user_id: "u1",
            txn: "t1",
            event_ms: 1_700_000_000_999,
            iat: 1_700_000_001,
            jti: "j1",
            shape,
            email: Some("a@example.com"),
        }
    }

    fn revoked(reason: EndReason, actor: ActorKind) -> SignalEvent {
        SignalEvent::SessionRevoked {
            sid: "s1".into(),
            reason,
            actor,
        }
    }

    #[test]
    fn a_stream_that_registered_the_user_by_email_gets_email_subjects() {
        let aud = vec!["rx".to_string()];
        let ev = revoked(EndReason::User, ActorKind::User);
        let c = set_claims(&ctx(&aud, SubjectShape::Email), &ev);
        assert_eq!(
            c["sub_id"],
            json!({"format": "email", "email": "a@example.com"})
        );
        let c = set_claims(&ctx(&aud, SubjectShape::EmailAndSession), &ev);
        assert_eq!(
            c["sub_id"],
            json!({"format": "complex", "user": {"format": "email", "email": "a@example.com"},
                "session": {"format": "opaque", "id": "s1"}})
        );
        // No address known (a deleted user): iss_sub.
        let mut no_mail = ctx(&aud, SubjectShape::Email);
        no_mail.email = None;
        assert_eq!(set_claims(&no_mail, &ev)["sub_id"]["format"], "iss_sub");
    }

    #[test]
    fn a_session_revoked_set_carries_rfc_8417_and_caep_claims() {
        let aud = vec!["rx".to_string()];
        let c = set_claims(
            &ctx(&aud, SubjectShape::User),
            &revoked(EndReason::Admin, ActorKind::Admin),
        );
        assert_eq!(c["iss"], "https://idp");
        assert_eq!(c["jti"], "j1");
        assert_eq!(c["iat"], 1_700_000_001);
        assert_eq!(c["aud"], "rx");
        assert_eq!(c["txn"], "t1");
        assert!(c.get("exp").is_none());
        assert_eq!(
            c["sub_id"],
            json!({"format": "iss_sub", "iss": "https://idp", "sub": "u1"})
        );
        let events = c["events"].as_object().unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[EventType::SessionRevoked.as_str()];
        assert_eq!(e["event_timestamp"], 1_700_000_000);
        assert_eq!(e["initiating_entity"], "admin");
        assert_eq!(e["reason_admin"]["en"], "session ended by an administrator");
        assert!(e["reason_user"]["en"].is_string());
    }

    #[test]
    fn session_subjects_are_complex_only_when_asked_for_and_a_session_is_named() {
        let aud = vec!["rx".to_string(), "rx2".to_string()];
        let c = set_claims(
            &ctx(&aud, SubjectShape::UserAndSession),
            &revoked(EndReason::User, ActorKind::User),
        );
        assert_eq!(c["aud"], json!(["rx", "rx2"]));
        assert_eq!(
            c["sub_id"],
            json!({"format": "complex",
                "user": {"format": "iss_sub", "iss": "https://idp", "sub": "u1"},
                "session": {"format": "opaque", "id": "s1"}})
        );
        let c = set_claims(
            &ctx(&aud, SubjectShape::UserAndSession),
            &SignalEvent::AccountDisabled,
        );
        assert_eq!(c["sub_id"]["format"], "iss_sub");
    }

    #[test]
    fn initiating_entity_follows_the_actor_and_warden_s_own_rules_are_policy() {
        assert_eq!(
            initiating_entity(ActorKind::User, EndReason::RpLogout),
            "user"
        );
        assert_eq!(
            initiating_entity(ActorKind::Admin, EndReason::UserDisabled),
            "admin"
        );
        for r in [
            EndReason::IdleTimeout,
            EndReason::AbsoluteTimeout,
            EndReason::Expired,
            EndReason::SessionLimit,
        ] {
            assert_eq!(initiating_entity(ActorKind::System, r), "policy", "{r}");
        }
        for r in [EndReason::CodeReplay, EndReason::RefreshReuse] {
            assert_eq!(initiating_entity(ActorKind::System, r), "system", "{r}");
        }
        for r in EndReason::ALL {
            let (a, u) = reason_texts(*r);
            assert!(!a.is_empty() && !u.is_empty());
        }
    }

    #[test]
    fn credential_and_account_events_name_their_types() {
        let aud = vec!["rx".to_string()];
        let c = set_claims(
            &ctx(&aud, SubjectShape::User),
            &SignalEvent::PasswordChanged {
                actor: ActorKind::User,
            },
        );
        let e = &c["events"][EventType::CredentialChange.as_str()];
        assert_eq!(e["credential_type"], "password");
        assert_eq!(e["change_type"], "update");
        assert_eq!(e["initiating_entity"], "user");
        for (ev, ty) in [
            (SignalEvent::AccountDisabled, EventType::AccountDisabled),
            (SignalEvent::AccountEnabled, EventType::AccountEnabled),
            (SignalEvent::AccountPurged, EventType::AccountPurged),
        ] {
            let c = set_claims(&ctx(&aud, SubjectShape::User), &ev);
            assert_eq!(c["events"][ty.as_str()], json!({}));
            assert_eq!(c["events"].as_object().unwrap().len(), 1);
        }
    }

    #[test]
    fn an_outbox_record_stands_for_one_event_per_ended_session() {
        use crate::store::schema::EndedBy;
        let by = EndedBy::person(ActorKind::Admin, "admin1", None);
        let sig = SignalItem::termination("u1", &["s1", "s2"], EndReason::Admin, &by, 5_000);
        assert_eq!(sig.pk, format!("SIGNAL#{}", sig.id));
        assert_eq!(sig.txn, sig.id);
        assert_eq!(sig.expires_at, 5 + SignalItem::RETENTION_SECS);
        assert_eq!(
            events_of(&sig),
            [
                revoked(EndReason::Admin, ActorKind::Admin),
                SignalEvent::SessionRevoked {
                    sid: "s2".into(),
                    reason: EndReason::Admin,
                    actor: ActorKind::Admin,
                },
            ]
        );
        let pw = SignalItem::new(
            SignalKind::PasswordChanged,
            "u1",
            Some(EndedBy::person(ActorKind::User, "u1", None)),
            1,
        );
        assert_eq!(
            events_of(&pw),
            [SignalEvent::PasswordChanged {
                actor: ActorKind::User
            }]
        );
        let purged = SignalItem::new(SignalKind::AccountPurged, "u1", None, 1);
        assert_eq!(events_of(&purged), [SignalEvent::AccountPurged]);
    }

    #[test]
    fn a_set_is_signed_with_the_signing_key_and_typed_secevent_jwt() {
        let ks = KeySet::from_items(&[generate_key_item(1).unwrap()]).unwrap();
        let aud = vec!["rx".to_string()];
        let claims = set_claims(&ctx(&aud, SubjectShape::User), &SignalEvent::AccountEnabled);
        let jws = sign_set(&ks, &claims).unwrap();
        let header = jsonwebtoken::decode_header(&jws).unwrap();
        assert_eq!(header.typ.as_deref(), Some(SET_TYP));
        assert_eq!(header.kid.as_deref(), Some(ks.signer_kid()));
        let back = ks.verify(&jws, "https://idp", false).unwrap();
        assert_eq!(back, claims);
    }
}
