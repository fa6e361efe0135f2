//! Who signed a request: SigV4 verification ([`crate::sigv4`]) of session credentials the broker
//! minted or of a configured user's long-term access key.
//!
//! Sessions (`ASIA...`): the access key id finds the session in the store; the session token
//! must be authentic (our key), name that same access key id and be unexpired; the secret is
//! derived from the broker key, and the signature must verify with it.
//! Users (`AKIA...`): the key must be configured and `Active`, no session token may accompany
//! it, and the signature must verify with its secret.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::RequestMeta;
use super::error::StsError;
use super::params::Violations;
use super::query::Params;
use crate::app::AppState;
use crate::iam::User;
use crate::session::SessionRecord;
use crate::session::credentials;
use crate::session::credentials::Secret;
use crate::sigv4::{self, Credential, SignedRequest, SigningKey};
use crate::totp;

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
/// checked; when full, the cache starts over.
#[derive(Debug, Default)]
pub struct SigningKeyCache {
    keys: Mutex<HashMap<String, Arc<SigningKey>>>,
}

/// Entries kept before the cache starts over.
const SIGNING_KEY_CACHE_MAX: usize = 50_000;

impl SigningKeyCache {
    /// The signing key for `credential`'s access key and scope, derived from `secret()` when
    /// not cached.
    pub fn get_or_derive(
        &self,
        credential: &Credential,
        secret: impl FnOnce() -> Result<Secret, StsError>,
    ) -> Result<Arc<SigningKey>, StsError> {
        let id = format!("{}/{}", credential.access_key_id, credential.scope());
        if let Some(key) = self.lock().get(&id) {
            return Ok(Arc::clone(key));
        }
        let key = Arc::new(SigningKey::derive(secret()?.expose(), credential));
        let mut keys = self.lock();
        if keys.len() >= SIGNING_KEY_CACHE_MAX {
            keys.clear();
        }
        keys.insert(id, Arc::clone(&key));
        Ok(key)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<SigningKey>>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Verifies the request's signature and returns who made it.
pub async fn authenticate(state: &AppState, meta: &RequestMeta) -> Result<Caller, StsError> {
    let raw = &meta.raw;
    let signed = SignedRequest {
        method: &raw.method,
        path: &raw.path,
        query: &raw.query,
        headers: &raw.headers,
        body: &raw.body,
    };
    let parsed = sigv4::parse(&signed).map_err(|e| signature_error(&e))?;
    if parsed.credential.service != "sts" {
        // A signature for another service must not be usable here (AWS's wording).
        return Err(StsError::from_aws(
            "SignatureDoesNotMatch",
            403,
            "Credential should be scoped to correct service: 'sts'. ",
        ));
    }
    let access_key_id = parsed.credential.access_key_id.as_str();
    let now = state.clock.now();
    if access_key_id.starts_with("AKIA") {
        let (user, key) = state
            .config
            .iam
            .user_by_access_key(access_key_id)
            .ok_or_else(StsError::invalid_client_token_id)?;
        // An inactive key is refused exactly like an unknown one; a long-term key never comes
        // with a session token.
        if !key.active || parsed.security_token.is_some() {
            return Err(StsError::invalid_client_token_id());
        }
        let signing_key = state
            .signing_keys
            .get_or_derive(&parsed.credential, || Ok(key.secret.clone()))?;
        sigv4::verify_with_key(&signed, &parsed, &signing_key, now, sigv4::DEFAULT_MAX_SKEW)
            .map_err(|e| signature_error(&e))?;
        return Ok(Caller::User(Arc::clone(user)));
    }
    if !access_key_id.starts_with("ASIA") {
        return Err(StsError::invalid_client_token_id());
    }
    let token = parsed
        .security_token
        .as_deref()
        .ok_or_else(StsError::invalid_client_token_id)?;
    let claims = credentials::verify_token(&state.keys, token)
        .map_err(|_| StsError::invalid_client_token_id())?;
    if claims.access_key_id != access_key_id {
        return Err(StsError::invalid_client_token_id());
    }
    if claims.expires_at <= now {
        return Err(StsError::expired_token());
    }
    let record = state
        .store
        .get_session(access_key_id)
        .await
        .map_err(|e| {
            tracing::error!(request_id = %meta.request_id, error = %e, "store lookup failed");
            StsError::service_unavailable()
        })?
        // Authentic and unexpired, but gone from the store: treat as expired.
        .ok_or_else(StsError::expired_token)?;
    let signing_key = state.signing_keys.get_or_derive(&parsed.credential, || {
        credentials::secret_for(&state.keys, &claims)
            .map_err(|_| StsError::invalid_client_token_id())
    })?;
    // AWS's 15 minutes between the signer's clock and ours.
    sigv4::verify_with_key(&signed, &parsed, &signing_key, now, sigv4::DEFAULT_MAX_SKEW)
        .map_err(|e| signature_error(&e))?;
    Ok(Caller::Session(Box::new(record)))
}

fn signature_error(e: &sigv4::SigV4Error) -> StsError {
    StsError::from_aws(e.aws_code(), e.http_status(), e.to_string())
}

/// `SerialNumber` and `TokenCode`, checked for shape (violations go to `v`); both or neither.
pub fn mfa_params<'a>(
    params: &'a Params,
    v: &mut Violations,
) -> Result<Option<(&'a str, &'a str)>, StsError> {
    let serial = params.get("SerialNumber");
    let code = params.get("TokenCode");
    if let Some(s) = serial {
        v.length("SerialNumber", s, 9, 256, false);
        v.pattern("SerialNumber", s, "[\\w+=/:,.@-]*", |c| {
            c.is_ascii_alphanumeric() || "_+=/:,.@-".contains(c)
        });
    }
    if let Some(c) = code {
        v.length("TokenCode", c, 6, 6, true);
        v.pattern("TokenCode", c, "[\\d]*", |c| c.is_ascii_digit());
    }
    match (serial, code) {
        (Some(s), Some(c)) => Ok(Some((s, c))),
        (None, None) => Ok(None),
        _ => Err(StsError::validation(
            "SerialNumber and TokenCode must be given together",
        )),
    }
}

pub fn mfa_failed() -> StsError {
    StsError::access_denied("MultiFactorAuthentication failed with invalid MFA one time pass code.")
}

/// The user's own virtual MFA device must accept the code now (one step either side).
pub async fn check_mfa(
    state: &AppState,
    user: &User,
    serial: &str,
    code: &str,
    now: time::OffsetDateTime,
) -> Result<i64, StsError> {
    let device = state
        .config
        .iam
        .mfa_device(serial)
        .filter(|d| d.user_arn == user.arn)
        .ok_or_else(mfa_failed)?;
    let seed = device.seed().map_err(|_| mfa_failed())?;
    let step = totp::check(&seed, code, now).map_err(|_| mfa_failed())?;
    // A code is good once: remember its step for as long as it could still be accepted.
    let window =
        std::time::Duration::from_secs(totp::STEP_SECONDS * (2 * totp::ALLOWED_DRIFT_STEPS + 1));
    let fresh = state
        .store
        .use_once(&format!("mfa:{serial}:{step}"), window)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "store refused the MFA replay guard");
            StsError::service_unavailable()
        })?;
    if !fresh {
        return Err(mfa_failed());
    }
    Ok(now.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_keys_are_derived_once_per_key_and_scope() {
        let cache = SigningKeyCache::default();
        let credential = |date: &str| Credential {
            access_key_id: "ASIAEXAMPLEEXAMPLE23".to_owned(),
            date: date.to_owned(),
            region: "us-east-1".to_owned(),
            service: "sts".to_owned(),
        };
        let secret = || Ok(Secret::new("secret".to_owned()));
        let first = cache
            .get_or_derive(&credential("20261123"), secret)
            .unwrap();
        let again = cache
            .get_or_derive(&credential("20261123"), || Err(StsError::internal()))
            .unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second lookup must not derive"
        );
        // Another day is another scope: derived afresh, and a failing secret is an error.
        assert!(
            cache
                .get_or_derive(&credential("20261124"), || Err(StsError::internal()))
                .is_err()
        );
    }
}
