//! Who signed a request: SigV4 verification ([`crate::sigv4`]) of session credentials the broker
//! minted or of a configured user's long-term access key.
//!
//! Sessions (`ASIA...`): the access key id finds the session in the store; the session token
//! must be authentic (our key), name that same access key id and be unexpired; the secret is
//! derived from the broker key, and the signature must verify with it.
//! Users (`AKIA...`): the key must be configured and `Active`, no session token may accompany
//! it, and the signature must verify with its secret.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::RequestMeta;
use super::auth_cache::Authenticated;
use super::error::{ApiError, ErrorCode};
use crate::broker::Broker;
use crate::iam::User;
use crate::secret::SecretAccessKey;
use crate::session::credentials;
use crate::session::credentials::CredentialError;
use crate::session::{LongTermKey, SessionPrincipal, SessionRecord};
use crate::sigv4::{self, Payload, SignedRequest, SigningKey};
use crate::store::StoreError;
use crate::totp;

impl Caller {
    /// The ARN the caller acts as.
    pub fn arn(&self) -> &str {
        match self {
            Caller::Session(record) => record.principal.arn(),
            Caller::User(user) => &user.arn,
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A session this broker minted.
    Session(Box<SessionRecord>),
    /// An IAM user, by a long-term access key.
    User(Arc<User>),
}

/// Signing keys derived today, by access key id and credential scope, so a busy key derives its
/// key once a day rather than on every request. An entry is only ever derived from the secret
/// the broker holds for that access key id, and is used only after the key or session has been
/// checked; when full, the cache starts over. Looked up without allocating: by access key id,
/// then among that key's few scopes.
#[derive(Debug, Default)]
pub struct SigningKeyCache {
    keys: RwLock<HashMap<String, Vec<ScopedKey>>>,
}

/// A signing key with the scope (date, region, service) it was derived for.
#[derive(Debug)]
struct ScopedKey {
    date: String,
    region: String,
    service: String,
    key: Arc<SigningKey>,
}

impl ScopedKey {
    fn is_for(&self, credential: &sigv4::Credential) -> bool {
        self.date == credential.date
            && self.region == credential.region
            && self.service == credential.service
    }
}

/// Access keys kept before the cache starts over.
const SIGNING_KEY_CACHE_MAX: usize = 50_000;
/// Scopes kept per access key before its list starts over (days, regions, services).
const SIGNING_KEY_SCOPES_MAX: usize = 16;

impl SigningKeyCache {
    /// Verifies the request's signature with the day's signing key for its access key and
    /// scope, derived from `secret()` when not cached. A key enters the cache only once a
    /// signature has verified with it.
    pub fn verify(
        &self,
        signed: &SignedRequest<'_>,
        parsed: &sigv4::Parsed,
        payload: Payload<'_>,
        now: time::OffsetDateTime,
        secret: impl FnOnce() -> Result<SecretAccessKey, ApiError>,
    ) -> Result<(), ApiError> {
        let credential = &parsed.credential;
        let cached = self
            .read()
            .get(credential.access_key_id.as_str())
            .and_then(|scopes| scopes.iter().find(|s| s.is_for(credential)))
            .map(|s| Arc::clone(&s.key));
        let check = |key: &SigningKey| {
            // AWS's 15 minutes between the signer's clock and ours.
            sigv4::verify_payload(signed, parsed, key, now, sigv4::DEFAULT_MAX_SKEW, payload)
                .map_err(ApiError::from)
        };
        if let Some(key) = cached {
            return check(&key);
        }
        let key = SigningKey::derive(secret()?.expose(), credential);
        check(&key)?;
        let mut keys = self.write();
        if keys.len() >= SIGNING_KEY_CACHE_MAX
            && !keys.contains_key(credential.access_key_id.as_str())
        {
            keys.clear();
        }
        let scopes = keys.entry(credential.access_key_id.clone()).or_default();
        if scopes.len() >= SIGNING_KEY_SCOPES_MAX {
            scopes.clear();
        }
        scopes.retain(|s| !s.is_for(credential));
        scopes.push(ScopedKey {
            date: credential.date.clone(),
            region: credential.region.clone(),
            service: credential.service.clone(),
            key: Arc::new(key),
        });
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Vec<ScopedKey>>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Vec<ScopedKey>>> {
        self.keys.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Verifies an STS request's signature (scoped to the `sts` service) and returns who made it.
pub async fn authenticate(state: &Broker, meta: &RequestMeta) -> Result<Caller, ApiError> {
    authenticate_for(state, meta, "sts")
        .await
        .map(|a| a.caller().clone())
}

/// Verifies the signature of a request received by the broker, which must be scoped to
/// `service` (`sts` for the STS and admin Query actions, `iam` for IAM's), and returns who made
/// it with its permissions at hand.
pub async fn authenticate_for(
    state: &Broker,
    meta: &RequestMeta,
    service: &str,
) -> Result<Authenticated, ApiError> {
    let signed = meta.raw.signed();
    let authenticated = authenticate_request(
        state,
        &signed,
        Payload::Body(signed.body),
        Some(service),
        &meta.request_id,
    )
    .await?;
    // For the audit log: who called, with which (public) access key id.
    crate::audit::note(|n| {
        n.principal = Some(authenticated.caller().arn().to_owned());
        n.access_key_id = Some(authenticated.access_key_id().to_owned());
    });
    Ok(authenticated)
}

/// The one SigV4 authentication: verifies `signed` (whose payload is described by `payload`)
/// and returns who signed it. `expected_service` is the service the credential scope must name;
/// `None` accepts any (requests forwarded by a resource server, signed for that service).
///
/// Sessions (`ASIA`): the token must be ours, name this key and be unexpired; the record comes
/// from the [`AuthCache`](super::auth_cache::AuthCache) or the store, and the session's role or
/// user must still be configured. Users (`AKIA`): the key must be configured and active, with
/// no session token.
pub async fn authenticate_request(
    state: &Broker,
    signed: &SignedRequest<'_>,
    payload: Payload<'_>,
    expected_service: Option<&str>,
    request_id: &str,
) -> Result<Authenticated, ApiError> {
    let parsed = sigv4::parse(signed).map_err(ApiError::from)?;
    if let Some(service) = expected_service
        && parsed.credential.service != service
    {
        // A signature for another service must not be usable here (AWS's wording).
        return Err(ApiError::new(
            ErrorCode::SignatureDoesNotMatch,
            format!("Credential should be scoped to correct service: '{service}'. "),
        ));
    }
    let access_key_id = parsed.credential.access_key_id.as_str();
    let now = state.clock.now();
    let unix_now = now.unix_timestamp();
    if access_key_id.starts_with("AKIA") {
        let (user, key) = state
            .config
            .iam
            .user_by_access_key(access_key_id)
            .ok_or_else(ApiError::invalid_client_token_id)?;
        // An inactive key is refused exactly like an unknown one; a long-term key never comes
        // with a session token.
        if !key.active || parsed.security_token.is_some() {
            return Err(ApiError::invalid_client_token_id());
        }
        load_sealing_key(state, &key.secret).await;
        let ring = state.keys.ring();
        state.signing_keys.verify(signed, &parsed, payload, now, || {
            let secret = key.secret.open(&ring).map_err(|e| {
                // The key exists but its secret cannot be read here: an operator's problem
                // (a retired session key), refused like a wrong signature would be.
                tracing::error!(access_key_id, error = %e, "an access key's stored secret could not be opened");
                ApiError::invalid_client_token_id()
            })?;
            Ok(SecretAccessKey::new(secret.expose().to_owned()))
        })?;
        // Its last use, for GetAccessKeyLastUsed: noted here, written once a second.
        state.key_use.record(
            access_key_id,
            unix_now,
            &parsed.credential.service,
            &parsed.credential.region,
        );
        if let Some(cached) = state.auth_cache.get(access_key_id, unix_now) {
            return Ok(cached);
        }
        let authenticated = Authenticated::new(access_key_id, Caller::User(Arc::clone(user)));
        state
            .auth_cache
            .insert(access_key_id, authenticated.clone(), unix_now);
        return Ok(authenticated);
    }
    if !access_key_id.starts_with("ASIA") {
        return Err(ApiError::invalid_client_token_id());
    }
    let token = parsed
        .security_token
        .as_ref()
        .map(crate::secret::SessionToken::expose)
        .ok_or_else(ApiError::invalid_client_token_id)?;
    let claims = match credentials::verify_token(&state.keys.ring(), token) {
        // A key another replica may just have added: load it (off the runtime, at most once
        // a second, one reload for every request waiting) and try once more.
        Err(CredentialError::UnknownKey) => match credentials::token_key_id(token) {
            Some(kid) if state.keys.find(&kid).await.is_some() => {
                credentials::verify_token(&state.keys.ring(), token)
            }
            _ => Err(CredentialError::UnknownKey),
        },
        other => other,
    }
    .map_err(|_| ApiError::invalid_client_token_id())?;
    if claims.access_key_id != access_key_id {
        return Err(ApiError::invalid_client_token_id());
    }
    if claims.expires_at <= now {
        return Err(ApiError::expired_token());
    }
    let (authenticated, from_store) = match state.auth_cache.get(access_key_id, unix_now) {
        Some(cached) => (cached, false),
        None => {
            let record = state
                .store
                .get_session(access_key_id, &state.keys.snapshot())
                .await
                .map_err(|e| match e {
                    // Someone wrote the record who does not hold the broker's keys: refuse
                    // the session as if its token were forged (fail closed), loudly.
                    StoreError::NotAuthentic(why) => {
                        tracing::error!(
                            request_id = %request_id,
                            access_key_id,
                            error = %why,
                            "stored session record refused: not written by this broker"
                        );
                        crate::audit::note(|n| n.refusal = Some("sessionRecordNotAuthentic"));
                        ApiError::invalid_client_token_id()
                    }
                    other => {
                        tracing::error!(request_id = %request_id, error = %other, "store lookup failed");
                        ApiError::service_unavailable()
                    }
                })?
                // Authentic and unexpired, but gone from the store: treat as expired.
                .ok_or_else(ApiError::expired_token)?;
            // The record verified under the key it names; it must be the token's key too.
            if record.key_id != claims.key_id {
                tracing::error!(request_id = %request_id, access_key_id, "stored session record names another key than its token");
                crate::audit::note(|n| n.refusal = Some("sessionRecordNotAuthentic"));
                return Err(ApiError::invalid_client_token_id());
            }
            (
                Authenticated::new(access_key_id, Caller::Session(Box::new(record))),
                true,
            )
        }
    };
    let Caller::Session(record) = authenticated.caller() else {
        return Err(ApiError::invalid_client_token_id());
    };
    // The session's principal must still be configured (a removed role or user ends its
    // sessions), and the same one (its id), not one re-created under its name.
    let live = match &record.principal {
        SessionPrincipal::Role {
            role_arn, role_id, ..
        } => state
            .config
            .iam
            .role(role_arn)
            .is_some_and(|r| &r.role_id == role_id),
        SessionPrincipal::User { user_arn, user_id } => state
            .config
            .iam
            .user(user_arn)
            .is_some_and(|u| &u.user_id == user_id),
    };
    if !live {
        return Err(ApiError::invalid_client_token_id());
    }
    // A revoked session (or one chained from a revoked session) is refused like a token we
    // never issued: it is not merely old, and clients must not treat it as refreshable.
    state.revocations.check(record).map_err(|r| {
        tracing::info!(request_id = %request_id, access_key_id, reason = %r, "session refused");
        ApiError::from(r)
    })?;
    state
        .signing_keys
        .verify(signed, &parsed, payload, now, || {
            credentials::secret_for(&state.keys.ring(), &claims)
                .map_err(|_| ApiError::invalid_client_token_id())
        })?;
    if from_store {
        // Only once a signature verified with the session's secret.
        state
            .auth_cache
            .insert(access_key_id, authenticated.clone(), unix_now);
    }
    Ok(authenticated)
}

/// The long-term access key a user signed with, as the sessions it creates remember it (its
/// id and generation: deactivating or deleting the key revokes them); none for a session.
pub fn long_term_key(state: &Broker, authenticated: &Authenticated) -> Option<LongTermKey> {
    match authenticated.caller() {
        Caller::User(_) => state
            .config
            .iam
            .user_by_access_key(authenticated.access_key_id())
            .map(|(_, key)| LongTermKey {
                id: key.id.clone(),
                generation: key.generation,
            }),
        Caller::Session(_) => None,
    }
}

/// Wrong MFA codes accepted per device within [`MFA_LOCKOUT`] before it refuses every code.
pub const MFA_MAX_FAILURES: u64 = 5;
/// How long a device stays locked after its first wrong code.
pub const MFA_LOCKOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Loads the session key a sealed secret names when this replica has not loaded it yet (another
/// replica sealed it just after a rotation): at most once a second, off the runtime.
async fn load_sealing_key(state: &Broker, held: &crate::iam::HeldSecret) {
    if let Some(kid) = held.key_id()
        && state.keys.ring().get(kid).is_none()
    {
        state.keys.find(kid).await;
    }
}

/// Guessing is bounded: a code is evaluated only with one of [`MFA_MAX_FAILURES`] attempts
/// taken from the store first, check and count in one atomic step, so concurrent requests on
/// every replica together get no more; a right code used for the first time gives its attempt
/// back. Without an attempt left the device accepts no code until the window ends, and the
/// answer (`refused`) looks the same as for a wrong code.
async fn take_mfa_attempt(
    state: &Broker,
    serial: &str,
    refused: fn() -> ApiError,
) -> Result<(), ApiError> {
    let taken = state
        .store
        .take_attempt(&failures_key(serial), MFA_MAX_FAILURES, MFA_LOCKOUT)
        .await
        .map_err(|e: StoreError| {
            tracing::error!(error = %e, "store refused the MFA guard");
            ApiError::service_unavailable()
        })?;
    if taken.is_none() {
        tracing::warn!(serial, "MFA device locked after repeated wrong codes");
        crate::audit::note(|n| n.refusal = Some("mfaDeviceLocked"));
        return Err(refused());
    }
    Ok(())
}

/// Marks the code of `step` used; whether this was its first use (the replay guard, on every
/// replica, for as long as the code could still be accepted).
async fn used_first(state: &Broker, serial: &str, step: u64) -> Result<bool, ApiError> {
    state
        .store
        .use_once(&used_key(serial, step), replay_window())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "store refused the MFA replay guard");
            ApiError::service_unavailable()
        })
}

/// A right code used for the first time gives its attempt back; if the store does not take it,
/// it stays counted (the device locks one code earlier, never later).
async fn give_back_attempt(state: &Broker, serial: &str) {
    if let Err(e) = state.store.give_back_attempt(&failures_key(serial)).await {
        tracing::warn!(error = %e, "store did not take back a good MFA attempt");
    }
}

pub fn mfa_failed() -> ApiError {
    ApiError::access_denied("MultiFactorAuthentication failed with invalid MFA one time pass code.")
}

/// What counts a device's wrong codes in the store.
fn failures_key(serial: &str) -> String {
    format!("mfa:{serial}")
}

/// What marks a device's code of time step `step` used in the store.
fn used_key(serial: &str, step: u64) -> String {
    format!("mfa:{serial}:{step}")
}

/// How long a used code stays marked: as long as any drift a device may have
/// ([`totp::RESYNC_WINDOW_STEPS`] either way, and it may be changed by a resync) could still
/// accept its step, one step either side.
fn replay_window() -> std::time::Duration {
    let steps = 2 * (totp::RESYNC_WINDOW_STEPS + totp::ALLOWED_DRIFT_STEPS) + 1;
    std::time::Duration::from_secs(totp::STEP_SECONDS * steps)
}

/// The user's own virtual MFA device must accept the code now (one step either side).
pub async fn check_mfa(
    state: &Broker,
    user: &User,
    serial: &str,
    code: &str,
    now: time::OffsetDateTime,
) -> Result<i64, ApiError> {
    let device = state
        .config
        .iam
        .mfa_device(serial)
        .filter(|d| d.user_arn == user.arn)
        .ok_or_else(mfa_failed)?;
    take_mfa_attempt(state, serial, mfa_failed).await?;
    load_sealing_key(state, &device.secret).await;
    let seed = device.seed(&state.keys.ring()).map_err(|e| {
        tracing::error!(serial, error = %e, "an MFA device's seed could not be opened");
        mfa_failed()
    })?;
    // Checked at the time the device's clock shows (its drift, as enabling or resynchronizing
    // it found it).
    let Ok(step) = totp::check(&seed, code, device.device_time(now)) else {
        return Err(mfa_failed());
    };
    // A code is good once: remember its step for as long as it could still be accepted.
    if !used_first(state, serial, step).await? {
        // A replayed code is a failed attempt: its attempt stays counted.
        return Err(mfa_failed());
    }
    give_back_attempt(state, serial).await;
    Ok(now.unix_timestamp())
}

/// The serial an account root's MFA device is guarded under (AWS's name for it).
pub fn root_mfa_serial(account: &str) -> String {
    format!("arn:aws:iam::{account}:mfa/root-account-mfa-device")
}

/// A code of an account root's MFA device (`[[accounts]] root.mfa_secret_env`, no drift),
/// checked with [`check_mfa`]'s guards (attempts, single use) under [`root_mfa_serial`].
pub async fn check_root_mfa(
    state: &Broker,
    account: &str,
    secret: &crate::iam::HeldSecret,
    code: &str,
    now: time::OffsetDateTime,
) -> Result<i64, ApiError> {
    let serial = root_mfa_serial(account);
    take_mfa_attempt(state, &serial, mfa_failed).await?;
    let seed = secret
        .open(&state.keys.ring())
        .map_err(|_| totp::TotpError::BadSeed)
        .and_then(|s| totp::Seed::from_base32(s.expose()))
        .map_err(|e| {
            tracing::error!(account, error = %e, "a root's MFA seed could not be read");
            mfa_failed()
        })?;
    let Ok(step) = totp::check(&seed, code, now) else {
        return Err(mfa_failed());
    };
    if !used_first(state, &serial, step).await? {
        return Err(mfa_failed());
    }
    give_back_attempt(state, &serial).await;
    Ok(now.unix_timestamp())
}

/// Two consecutive codes `first` and `second` of the device `serial` whose seed is `secret`,
/// given to enable or resynchronize it: found within [`totp::RESYNC_WINDOW_STEPS`] of `now`
/// ([`totp::find_consecutive`]); returns the device's drift, in steps, to record (0 when the
/// codes are where [`check_mfa`] accepts them anyway). Guessing is bounded by the same attempts
/// as [`check_mfa`]'s, and both codes are marked used with its replay guard, so neither can
/// also be used to assume a role. Anything else is `InvalidAuthenticationCode`.
pub async fn check_mfa_pair(
    state: &Broker,
    serial: &str,
    secret: &crate::iam::HeldSecret,
    (first, second): (&str, &str),
    now: time::OffsetDateTime,
) -> Result<i64, ApiError> {
    take_mfa_attempt(state, serial, ApiError::invalid_authentication_code).await?;
    load_sealing_key(state, secret).await;
    let seed = secret
        .open(&state.keys.ring())
        .map_err(|_| totp::TotpError::BadSeed)
        .and_then(|s| totp::Seed::from_base32(s.expose()))
        .map_err(|e| {
            tracing::error!(serial, error = %e, "an MFA device's seed could not be opened");
            ApiError::invalid_authentication_code()
        })?;
    let Ok(second_step) = totp::find_consecutive(&seed, first, second, now) else {
        return Err(ApiError::invalid_authentication_code());
    };
    for step in [second_step.saturating_sub(1), second_step] {
        if !used_first(state, serial, step).await? {
            // A code used already: a failed attempt, as in check_mfa.
            return Err(ApiError::invalid_authentication_code());
        }
    }
    give_back_attempt(state, serial).await;
    let drift = i64::try_from(second_step).unwrap_or(i64::MAX)
        - i64::try_from(totp::step(now)).unwrap_or(i64::MAX);
    let in_step = drift.unsigned_abs() <= totp::ALLOWED_DRIFT_STEPS;
    Ok(if in_step { 0 } else { drift })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keys_that_verified_are_cached() {
        use crate::sigv4::{Parsed, SignedRequest};
        // A request whose signature cannot verify: the derived key must not be kept.
        let headers = vec![
            ("host".to_owned(), "sts.example".to_owned()),
            ("x-amz-date".to_owned(), "20261123T120000Z".to_owned()),
            (
                "authorization".to_owned(),
                "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEEXAMPLE23/20261123/us-east-1/sts/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=".to_owned()
                    + &"0".repeat(64),
            ),
        ];
        let signed = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: b"",
        };
        let parsed: Parsed = sigv4::parse(&signed).unwrap();
        let now = time::macros::datetime!(2026-11-23 12:00 UTC);
        let cache = SigningKeyCache::default();
        let secret = || Ok(SecretAccessKey::new("secret".to_owned()));
        let body = Payload::Body(b"");
        assert!(cache.verify(&signed, &parsed, body, now, secret).is_err());
        assert!(cache.read().is_empty());
        // A failing secret source is an error, not a panic or an accepted request.
        assert!(
            cache
                .verify(&signed, &parsed, body, now, || Err(ApiError::internal()))
                .is_err()
        );
    }
}
