//! Password guessing is bounded per user across replicas (`[signin]`, docs/operations.md,
//! "Signing in with a password"): every password given to sign in, or as `ChangePassword`'s
//! old password, takes an attempt of the (account, user name) it named in the store BEFORE it
//! is verified ([`crate::store::Store::sign_in_attempt`], one atomic step), so concurrent
//! guesses cannot outrun the count; the `max_failures`-th within `lockout_seconds` locks that
//! name for `lockout_seconds`, and while it is locked no password of it is verified at all (no
//! Argon2 cost). A password that verifies clears the count.
//!
//! Names are counted whether or not such a user exists (the account as given when it is not
//! one this broker serves): an unknown name locks after as many tries as a real one, so the
//! answers and their timing say no more about which users exist. Store failures fail closed:
//! `ServiceUnavailable`, no password verified.

use super::{ApiError, Broker};
use crate::store::Attempt;

/// The name counted for `user` of `account` (an account id, or the account as given when no
/// account matched): user names are compared without case, as IAM does.
pub fn name(account: &str, user: &str) -> String {
    format!(
        "{}:{}",
        account.to_ascii_lowercase(),
        user.to_ascii_lowercase()
    )
}

/// Takes one password attempt for `name` before its password is verified (one atomic step on
/// every replica: concurrent guesses get at most `max_failures` verifications per window).
/// `false`: it is locked, verify nothing. A store that does not answer refuses (fail closed).
pub async fn take_attempt(state: &Broker, name: &str) -> Result<bool, ApiError> {
    let now = state.clock.now().unix_timestamp();
    let settings = state.config.signin;
    let attempt = state
        .store
        .sign_in_attempt(name, settings.max_failures, settings.lockout, now)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "store refused to count a sign-in attempt");
            ApiError::service_unavailable()
        })?;
    match attempt {
        Attempt::Taken => Ok(true),
        Attempt::TakenAndLocks(until) => {
            tracing::warn!(
                name,
                until = %time::OffsetDateTime::from_unix_timestamp(until)
                    .map(crate::encoding::timestamp)
                    .unwrap_or_default(),
                "user locked after repeated password attempts"
            );
            Ok(true)
        }
        Attempt::Locked(_) => Ok(false),
    }
}

/// Clears `name`'s attempts once its password verified (best effort: a count left behind only
/// locks a little earlier, never later).
pub async fn succeeded(state: &Broker, name: &str) {
    if let Err(e) = state.store.sign_in_succeeded(name).await {
        tracing::warn!(error = %e, "store did not clear a user's failed sign-ins");
    }
}
