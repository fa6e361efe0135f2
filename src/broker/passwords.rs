//! Hashing and verifying passwords without stalling the runtime: Argon2id is CPU- and
//! memory-heavy by design, so every hash and verification runs on tokio's blocking pool, at
//! most as many at once as its slots allow ([`slots`]). A request that finds every slot taken
//! waits a little, then is answered `ServiceUnavailable` with `Retry-After`: bulk or hostile
//! callers can neither exhaust the blocking pool nor hold memory without bound. Passwords
//! travel as [`Secret`]s (wiped when dropped) and are never logged.

use super::slots::Slots;
use super::{ApiError, Broker};
use crate::iam::passwords::{
    self, CURRENT_PARAMS, NewPassword, PasswordHash, PasswordPolicy, Rule, SALT_BYTES,
    StoredLoginProfile,
};
use crate::secret::Secret;

/// How many password hashes or verifications may run at once: one per core the process may
/// use, at most 4 (each holds [`CURRENT_PARAMS`]' memory while it runs).
pub fn slots() -> Slots {
    Slots::per_core(4)
}

/// Runs `work` on the blocking pool in one of the password slots.
async fn off_runtime<T: Send + 'static>(
    state: &Broker,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    state
        .password_slots
        .run_within_wait("a password hash or verification", work)
        .await
}

/// A fresh salt from the system's CSPRNG.
fn salt() -> Result<[u8; SALT_BYTES], ApiError> {
    let mut salt = [0u8; SALT_BYTES];
    crate::random::fill(&mut salt).map_err(|_| ApiError::internal())?;
    Ok(salt)
}

/// The Argon2id hash of `password` at [`CURRENT_PARAMS`], with a fresh salt.
pub async fn hash(state: &Broker, password: Secret) -> Result<PasswordHash, ApiError> {
    let salt = salt()?;
    off_runtime(state, move || {
        passwords::hash_password(&password, &salt, CURRENT_PARAMS)
    })
    .await?
    .map_err(|e| {
        tracing::error!(error = %e, "a password could not be hashed");
        ApiError::internal()
    })
}

/// Whether `candidate` is `profile`'s password, verified off the runtime; with `rehash`, when
/// it is and its hash has lower costs than [`CURRENT_PARAMS`], the hash made again at them (to
/// store as a [`passwords::PasswordChange::Rehash`]).
pub async fn verify(
    state: &Broker,
    profile: &StoredLoginProfile,
    candidate: Secret,
    rehash: bool,
) -> Result<(bool, Option<PasswordHash>), ApiError> {
    let salt = salt()?;
    let hash = profile.hash.clone();
    off_runtime(state, move || {
        let ok = passwords::verify_hash(&hash, &candidate);
        let again = (ok && rehash)
            .then(|| passwords::rehash_if_weaker(&hash, &candidate, &salt, CURRENT_PARAMS))
            .flatten();
        (ok, again)
    })
    .await
}

/// Whether `candidate` is one of the last `n` passwords of `profile`, checked off the runtime
/// in one slot (every kept hash is tried).
pub async fn reused(
    state: &Broker,
    profile: &StoredLoginProfile,
    candidate: Secret,
    n: u32,
) -> Result<bool, ApiError> {
    if n == 0 {
        return Ok(false);
    }
    let profile = profile.clone();
    off_runtime(state, move || passwords::reused(&profile, &candidate, n)).await
}

/// A new password for an existing profile (`UpdateLoginProfile`, `ChangePassword`, a sign-in
/// that must set one): not one of the policy's last `reuse_prevention` passwords (checked off
/// the runtime), then hashed; with the hash it replaces and the history to keep. The policy's
/// other rules are the caller's to check first.
pub async fn replacing(
    state: &Broker,
    profile: &StoredLoginProfile,
    policy: Option<&PasswordPolicy>,
    new: Secret,
) -> Result<NewPassword, ApiError> {
    let n = policy.and_then(|p| p.reuse_prevention).unwrap_or(0);
    if reused(state, profile, new.clone(), n).await? {
        return Err(passwords::violation(&[Rule::Reused(n)]).into());
    }
    Ok(NewPassword {
        hash: hash(state, new).await?,
        replaces: Some(profile.hash.clone()),
        keep_previous: usize::try_from(n.saturating_sub(1)).unwrap_or(0),
    })
}
