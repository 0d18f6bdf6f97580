//! The account operations, each in the order that leaves no live session behind:
//!
//! * **change** (the user, My Account): the current password is verified against the login
//!   throttle's counters, the policy checked, the new hash set with `credential_version`
//!   bumped, then every other session ends (`credential_change`, actor the user) and the
//!   current one too if asked;
//! * **reset** (an administrator): new hash + version, then every session ends
//!   (`credential_change`, actor the administrator);
//! * **disable**: `disabled` set first (no new session can start), then every session ends
//!   (`user_disabled`); **enable** clears the flag;
//! * **delete**: disabled first, every session ended (`user_deleted`), then the user and
//!   username items removed together (the username is free again).
//!
//! Users are named by id here; the CLI resolves a username first.

use super::password::{check_policy, PolicyError};
use crate::app::App;
use crate::outbound::queue::{send_all, SignalMessage};
use crate::platform::crypto;
use crate::platform::time::{now_ms, now_s};
use crate::session::login::{retry_after, throttle_subjects, THROTTLE_WINDOW_SECS};
use crate::session::terminate::{terminate_all_by, terminate_by};
use crate::store::schema::{ActorKind, EndReason, EndedBy, SignalItem, SignalKind, UserItem};
use crate::store::StoreError;

/// Why an account operation did not happen.
#[derive(Debug)]
pub enum AccountError {
    /// No user with this id.
    NotFound,
    /// The new password breaks the policy.
    Policy(PolicyError),
    /// The current password given to a change is wrong (counted against the throttle).
    WrongPassword,
    /// Too many wrong attempts in this window; retry after this many seconds.
    Throttled {
        /// Seconds to the end of the throttle window.
        retry_after: i64,
    },
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        AccountError::Store(e)
    }
}

/// What an operation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// The user it applied to (as read before the change).
    pub user_id: String,
    /// How many sessions it ended.
    pub sessions_ended: usize,
}

/// A password change asked for by the user themself.
#[derive(Debug, Clone, Copy)]
pub struct PasswordChange<'a> {
    /// The user (the bearer token's subject).
    pub user_id: &'a str,
    /// The client the user acts through (recorded as the actor's client).
    pub client_id: &'a str,
    /// The sessions the caller's token is mapped to ("this session").
    pub current_sessions: &'a [String],
    /// The password now in force.
    pub current_password: &'a str,
    /// The password to set.
    pub new_password: &'a str,
    /// End every other session of the user.
    pub sign_out_others: bool,
    /// End the current session(s) too.
    pub sign_out_this: bool,
    /// The caller's address, for the throttle's per-address counter.
    pub ip: &'a str,
}

/// Which sessions a change ends: `None` = all but `keep`; `Some(list)` = exactly `list`.
/// Pure, unit-tested.
pub fn sessions_to_end(
    sign_out_others: bool,
    sign_out_this: bool,
    current: &[String],
) -> (Option<Vec<String>>, Vec<String>) {
    match (sign_out_others, sign_out_this) {
        (true, true) => (None, Vec::new()),
        (true, false) => (None, current.to_vec()),
        (false, true) => (Some(current.to_vec()), Vec::new()),
        (false, false) => (Some(Vec::new()), Vec::new()),
    }
}

async fn user(app: &App, user_id: &str) -> Result<UserItem, AccountError> {
    match app.store.get_user(user_id).await? {
        Some(u) => Ok(u),
        None => Err(AccountError::NotFound),
    }
}

fn not_found_on_condition(e: StoreError) -> AccountError {
    match e {
        StoreError::ConditionFailed => AccountError::NotFound,
        other => AccountError::Store(other),
    }
}

/// Hash and store a new password (version bumped). 1 round trip (UpdateItem).
/// The Shared Signals record of an account change (CAEP credential-change, RISC
/// account-*), while some stream may receive it ([`App::signals_wanted`], cached): written
/// in the same write as the change itself (its transaction), so a change is never without
/// its signal; `None` without streams (the change is then the plain UpdateItem it always
/// was).
async fn signal_record(
    app: &App,
    kind: SignalKind,
    user_id: &str,
    by: Option<&EndedBy>,
) -> Result<Option<SignalItem>, AccountError> {
    Ok(app
        .signals_wanted()
        .await?
        .then(|| SignalItem::new(kind, user_id, by.cloned(), now_ms())))
}

/// After the change committed: queue the record's fan-out (a lost send leaves it due: the
/// relay sends it). 1 SQS send, none without a record.
async fn signal_sent(app: &App, sig: Option<SignalItem>) {
    if let Some(sig) = sig {
        let msg = SignalMessage::FanOut { signal: sig.id };
        for (_, why) in send_all(app.queue.as_ref(), &[msg]).await.failed {
            tracing::warn!(error = %why, "signal enqueue failed; the relay will resend");
        }
    }
}

/// Check the policy and store the new hash, with the change's signal record (`by`: who).
async fn store_password(
    app: &App,
    u: &UserItem,
    password: &str,
    by: &EndedBy,
) -> Result<(), AccountError> {
    check_policy(&u.username, password).map_err(AccountError::Policy)?;
    let hash = crypto::hash_password(password).map_err(StoreError::Backend)?;
    let sig = signal_record(app, SignalKind::PasswordChanged, &u.user_id, Some(by)).await?;
    app.store
        .set_password_hash_signalled(&u.user_id, &hash, sig.as_ref())
        .await
        .map_err(not_found_on_condition)?;
    signal_sent(app, sig).await;
    Ok(())
}

/// The user's own password change. Round trips: 1 GetItem (user), 1 TransactWriteItems (the
/// throttle reservation, as at login), 1 TransactWriteItems (the reservation given back: the
/// current password was right), 1 UpdateItem (hash + version), then the termination's. A
/// wrong current password stays counted like a failed login.
pub async fn change_password(app: &App, c: &PasswordChange<'_>) -> Result<Changed, AccountError> {
    let u = user(app, c.user_id).await?;
    let now = now_s();
    let subjects = throttle_subjects(app, &u.username.trim().to_lowercase(), c.ip);
    let Some(reservation) = app
        .store
        .reserve_login_attempt(&subjects, THROTTLE_WINDOW_SECS, now)
        .await?
    else {
        return Err(AccountError::Throttled {
            retry_after: retry_after(now),
        });
    };
    let shape_ok = !c.current_password.is_empty()
        && c.current_password.len() <= crate::session::login::MAX_PASSWORD;
    if !shape_ok || !crypto::verify_password(c.current_password, &u.password_hash) || u.disabled {
        return Err(AccountError::WrongPassword);
    }
    // A right current password does not count as a failure, as at login (whether or not the
    // new one passes the policy).
    app.store.release_reservation(&reservation).await?;
    let by = EndedBy::person(ActorKind::User, &u.user_id, Some(c.client_id));
    store_password(app, &u, c.new_password, &by).await?;
    let (only, keep) = sessions_to_end(c.sign_out_others, c.sign_out_this, c.current_sessions);
    let ended = match only {
        None => {
            terminate_all_by(
                app,
                &u.user_id,
                &keep,
                EndReason::CredentialChange,
                Some(&by),
            )
            .await?
        }
        Some(list) => {
            let mut n = 0;
            for sid in &list {
                let t = terminate_by(
                    app,
                    sid,
                    Some(&u.user_id),
                    EndReason::CredentialChange,
                    Some(&by),
                )
                .await?;
                if matches!(t, crate::session::Terminated::Ended { .. }) {
                    n += 1;
                }
            }
            n
        }
    };
    Ok(Changed {
        user_id: u.user_id,
        sessions_ended: ended,
    })
}

/// An administrator's password reset: policy, new hash + version, then every session ends
/// (`credential_change`, actor `by`). Round trips: 1 GetItem, 1 UpdateItem, then the
/// termination's.
pub async fn set_password(
    app: &App,
    user_id: &str,
    password: &str,
    by: &EndedBy,
) -> Result<Changed, AccountError> {
    let u = user(app, user_id).await?;
    store_password(app, &u, password, by).await?;
    let ended = terminate_all_by(app, user_id, &[], EndReason::CredentialChange, Some(by)).await?;
    Ok(Changed {
        user_id: u.user_id,
        sessions_ended: ended,
    })
}

/// Disable a user: the flag first, then every session ends (`user_disabled`). Round trips:
/// 1 UpdateItem, then the termination's.
pub async fn disable(app: &App, user_id: &str, by: &EndedBy) -> Result<Changed, AccountError> {
    let sig = signal_record(app, SignalKind::AccountDisabled, user_id, Some(by)).await?;
    app.store
        .set_user_disabled_signalled(user_id, true, sig.as_ref())
        .await
        .map_err(not_found_on_condition)?;
    signal_sent(app, sig).await;
    let ended = terminate_all_by(app, user_id, &[], EndReason::UserDisabled, Some(by)).await?;
    Ok(Changed {
        user_id: user_id.to_string(),
        sessions_ended: ended,
    })
}

/// Enable a user again (sessions ended by the disable stay ended). 1 round trip (UpdateItem).
pub async fn enable(app: &App, user_id: &str) -> Result<Changed, AccountError> {
    let sig = signal_record(app, SignalKind::AccountEnabled, user_id, None).await?;
    app.store
        .set_user_disabled_signalled(user_id, false, sig.as_ref())
        .await
        .map_err(not_found_on_condition)?;
    signal_sent(app, sig).await;
    Ok(Changed {
        user_id: user_id.to_string(),
        sessions_ended: 0,
    })
}

/// Delete a user: disabled first, every session ended (`user_deleted`), then the user and
/// username items removed in one transaction. Round trips: 1 GetItem, 1 UpdateItem, the
/// termination's, 1 TransactWriteItems.
pub async fn delete(app: &App, user_id: &str, by: &EndedBy) -> Result<Changed, AccountError> {
    let u = user(app, user_id).await?;
    app.store
        .set_user_disabled(user_id, true)
        .await
        .map_err(not_found_on_condition)?;
    let ended = terminate_all_by(app, user_id, &[], EndReason::UserDeleted, Some(by)).await?;
    let sig = signal_record(app, SignalKind::AccountPurged, user_id, Some(by)).await?;
    app.store
        .delete_user_signalled(&u, sig.as_ref())
        .await
        .map_err(not_found_on_condition)?;
    signal_sent(app, sig).await;
    Ok(Changed {
        user_id: u.user_id,
        sessions_ended: ended,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkboxes_choose_which_sessions_end() {
        let cur = vec!["s1".to_string()];
        assert_eq!(sessions_to_end(true, false, &cur), (None, cur.clone()));
        assert_eq!(sessions_to_end(true, true, &cur), (None, vec![]));
        assert_eq!(
            sessions_to_end(false, true, &cur),
            (Some(cur.clone()), vec![])
        );
        assert_eq!(sessions_to_end(false, false, &cur), (Some(vec![]), vec![]));
    }
}
