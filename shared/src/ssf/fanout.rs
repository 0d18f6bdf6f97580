//! The dispatcher's decisions for one signal, pure (no I/O): which subject items name the
//! user (so a stream matches by key lookups in its `SSF#<stream>` partition, never a scan),
//! and what a stream's status and `events_delivered` make of an event.
//!
//! * A stream matches a user when one of its subjects is, canonically (the form
//!   [`super::subjects`] stores), the user's `iss_sub` (`iss` Warden's issuer, `sub` the
//!   user id), the user's `email`, or a complex subject (with or without its own `format`)
//!   whose only member `user` is one of those two. A complex subject that also names a session, device or anything else is
//!   narrower than the user and is not matched here.
//! * [`route`]: `enabled` delivers, `paused` holds (SSF 1.0 §8.1.2: kept and transmitted
//!   when it is enabled again), `disabled` drops (neither transmitted nor kept); an event
//!   type not in `events_delivered` is skipped whatever the status.

use super::events::SubjectShape;
use super::subjects;
use crate::store::schema::{EventType, StreamStatus};
use serde_json::json;

/// The hashes ([`subjects::Subject::key_hash`]) of every subject form that names the user
/// `user_id` (with `email`, if known) at `issuer`: the sort keys to look up in a stream's
/// subject partition. The simple forms come first, then the complex ones.
pub fn subject_hashes(issuer: &str, user_id: &str, email: Option<&str>) -> Vec<String> {
    subject_forms(issuer, user_id, email)
        .into_iter()
        .map(|(h, _)| h)
        .collect()
}

/// [`subject_hashes`], each with the shape a SET takes for a stream that registered it: the
/// user named as the receiver named them (`iss_sub` or `email`); a receiver that added the
/// user as a complex subject asked for complex subjects, and gets the session beside the
/// user ([`SubjectShape::UserAndSession`], [`SubjectShape::EmailAndSession`]); one that
/// added a simple form gets the user alone.
pub fn subject_forms(
    issuer: &str,
    user_id: &str,
    email: Option<&str>,
) -> Vec<(String, SubjectShape)> {
    let mut simple = vec![json!({"format": "iss_sub", "iss": issuer, "sub": user_id})];
    if let Some(e) = email {
        simple.push(json!({"format": "email", "email": e}));
    }
    // A complex subject is stored as sent: with or without its own `format` member.
    let shapes = [
        (SubjectShape::User, SubjectShape::UserAndSession),
        (SubjectShape::Email, SubjectShape::EmailAndSession),
    ];
    let complex: Vec<_> = simple
        .iter()
        .zip(shapes)
        .flat_map(|(s, (_, c))| {
            [
                (json!({"user": s}), c),
                (json!({"format": "complex", "user": s}), c),
            ]
        })
        .collect();
    let shaped = simple
        .iter()
        .zip(shapes)
        .map(|(v, (plain, _))| (v, plain))
        .chain(complex.iter().map(|(v, c)| (v, *c)));
    shaped
        // A value Warden cannot store as a subject (an odd e-mail) matches nothing.
        .filter_map(|(v, shape)| subjects::parse(v).ok().map(|s| (s.key_hash(), shape)))
        .collect()
}

/// What becomes of one event for one matching stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Build and send (push) or make available (poll) the SET now.
    Deliver,
    /// Keep it for when the stream is enabled again.
    Hold,
    /// The stream is disabled: nothing is sent or kept.
    Drop,
    /// The receiver did not ask for this event type.
    Skip,
}

/// The route of an event of type `event` for a stream in `status` delivering `delivered`.
pub fn route(status: StreamStatus, delivered: &[EventType], event: EventType) -> Route {
    if !delivered.contains(&event) {
        return Route::Skip;
    }
    match status {
        StreamStatus::Enabled => Route::Deliver,
        StreamStatus::Paused => Route::Hold,
        StreamStatus::Disabled => Route::Drop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_is_matched_by_every_stored_form_of_their_subject() {
        let hashes = subject_hashes("https://idp", "u1", Some("a@example.com"));
        assert_eq!(hashes.len(), 6);
        for added in [
            json!({"sub": "u1", "iss": "https://idp", "format": "iss_sub"}),
            json!({"format": "email", "email": "a@example.com"}),
            json!({"user": {"format": "iss_sub", "iss": "https://idp", "sub": "u1"}}),
            json!({"format": "complex", "user": {"format": "email", "email": "a@example.com"}}),
        ] {
            let h = subjects::parse(&added).unwrap().key_hash();
            assert!(hashes.contains(&h), "{added}");
        }
        for other in [
            json!({"format": "iss_sub", "iss": "https://other", "sub": "u1"}),
            json!({"format": "iss_sub", "iss": "https://idp", "sub": "u2"}),
            json!({"user": {"format": "iss_sub", "iss": "https://idp", "sub": "u1"},
                "session": {"format": "opaque", "id": "s1"}}),
        ] {
            let h = subjects::parse(&other).unwrap().key_hash();
            assert!(!hashes.contains(&h), "{other}");
        }
        assert_eq!(subject_hashes("https://idp", "u1", None).len(), 3);
        assert_eq!(subject_hashes("https://idp", "u1", Some("odd")).len(), 3);
        let forms = subject_forms("https://idp", "u1", Some("a@example.com"));
        let shapes: Vec<SubjectShape> = forms.iter().map(|(_, s)| *s).collect();
        use SubjectShape::*;
        assert_eq!(
            shapes,
            [
                User,
                Email,
                UserAndSession,
                UserAndSession,
                EmailAndSession,
                EmailAndSession
            ]
        );
    }

    #[test]
    fn status_and_events_delivered_decide_the_route() {
        let d = [EventType::SessionRevoked];
        let ev = EventType::SessionRevoked;
        assert_eq!(route(StreamStatus::Enabled, &d, ev), Route::Deliver);
        assert_eq!(route(StreamStatus::Paused, &d, ev), Route::Hold);
        assert_eq!(route(StreamStatus::Disabled, &d, ev), Route::Drop);
        for st in StreamStatus::ALL {
            assert_eq!(
                route(*st, &d, EventType::AccountPurged),
                Route::Skip,
                "{st}"
            );
        }
    }
}
