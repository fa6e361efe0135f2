//! Password guessing is bounded per user across replicas (`[signin]`, docs/operations.md,
//! "Signing in with a password"): every wrong password given to sign in, or as
//! `ChangePassword`'s old password, counts against the (account, user name) it named in the
//! store ([`crate::store::Store::sign_in_failed`], one atomic step); the `max_failures`-th
//! within `lockout_seconds` locks that name for `lockout_seconds`, and while it is locked no
//! password of it is verified at all (no Argon2 cost). A successful sign-in clears the count.
//!
//! Names are counted whether or not such a user exists (the account as given when it is not
//! one this broker serves): an unknown name locks after as many tries as a real one, so the
//! answers and their timing say no more about which users exist. Store failures fail closed:
//! `ServiceUnavailable`, no password verified.

use super::{ApiError, Broker};

/// The name counted for `user` of `account` (an account id, or the account as given when no
/// account matched): user names are compared without case, as IAM does.
pub fn name(account: &str, user: &str) -> String {
    format!(
        "{}:{}",
        account.to_ascii_lowercase(),
        user.to_ascii_lowercase()
    )
}

/// Whether `name` is locked now. A store that does not answer refuses (fail closed).
pub async fn is_locked(state: &Broker, name: &str) -> Result<bool, ApiError> {
    let now = state.clock.now().unix_timestamp();
    state
        .store
        .sign_in_locked(name, now)
        .await
        .map(|until| until.is_some())
        .map_err(|e| {
            tracing::error!(error = %e, "store refused the sign-in lockout check");
            ApiError::service_unavailable()
        })
}

/// Counts one wrong password for `name`; logs (not the password) when this locks it.
pub async fn failed(state: &Broker, name: &str) -> Result<(), ApiError> {
    let now = state.clock.now().unix_timestamp();
    let settings = state.config.signin;
    let locked = state
        .store
        .sign_in_failed(name, settings.max_failures, settings.lockout, now)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "store refused to count a failed sign-in");
            ApiError::service_unavailable()
        })?;
    if let Some(until) = locked {
        tracing::warn!(
            name,
            until = %time::OffsetDateTime::from_unix_timestamp(until)
                .map(crate::encoding::timestamp)
                .unwrap_or_default(),
            "user locked after repeated wrong passwords"
        );
    }
    Ok(())
}

/// Clears `name`'s count after a successful sign-in (best effort: a count left behind only
/// locks a little earlier, never later).
pub async fn succeeded(state: &Broker, name: &str) {
    if let Err(e) = state.store.sign_in_succeeded(name).await {
        tracing::warn!(error = %e, "store did not clear a user's failed sign-ins");
    }
}
