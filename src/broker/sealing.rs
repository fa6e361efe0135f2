//! The secrets IAM's API stores (an access key's secret, a virtual MFA device's seed): sealed
//! under the session key signing now, with a fresh random nonce ([`seal`]), and sealed again
//! under the new signing key once `keys rotate` has made one ([`reseal_rotated`]), so that the
//! older key can be retired without losing them.

use std::time::Duration;

use super::Broker;
use super::error::ApiError;
use super::iam_api;
use crate::session::keyring::{KeyRing, SessionKey};
use crate::session::sealed;

/// How often each replica looks for secrets sealed under an older key.
pub const RESEAL_EVERY: Duration = Duration::from_secs(5);

/// `secret` sealed for `context` under the key signing now.
pub fn seal(state: &Broker, secret: &[u8], context: &str) -> Result<String, ApiError> {
    let ring = state.keys.ring();
    let key = ring.signing(state.clock.now()).ok_or_else(|| {
        tracing::error!("no session key signs now: a secret cannot be sealed");
        ApiError::service_unavailable()
    })?;
    seal_with(key, secret, context).map_err(|e| {
        tracing::error!(error = %e, "a secret could not be sealed");
        ApiError::internal()
    })
}

/// Why a secret could not be sealed (for the log: it names no secret).
#[derive(Debug, thiserror::Error)]
enum SealFailure {
    #[error("the system's random number generator failed")]
    NoRandomness,
    #[error(transparent)]
    Sealed(#[from] sealed::SealedError),
}

fn seal_with(key: &SessionKey, secret: &[u8], context: &str) -> Result<String, SealFailure> {
    let mut nonce = [0u8; 12];
    crate::random::fill(&mut nonce).map_err(|_| SealFailure::NoRandomness)?;
    Ok(sealed::seal(secret, context, key, nonce)?)
}

/// Whether `text` is sealed under a key this replica has and that signed before `signer`
/// (keys sort by activation, then id): one to move. A key not loaded here, or newer than the
/// one this replica signs with (another replica saw a rotation first), is left alone, so
/// replicas never move secrets back and forth.
fn older_than(text: &str, ring: &KeyRing, signer: &SessionKey) -> bool {
    sealed::key_id(text)
        .and_then(|id| ring.get(id))
        .is_some_and(|k| (k.activates_at, &k.id) < (signer.activates_at, &signer.id))
}

/// Seals again, under the key signing now, every stored secret of the accounts served here
/// that is sealed under an older key; one compare-and-set per account that has any (replicas
/// racing write once: the losers find nothing left to move). Returns how many were moved.
/// A secret that does not open is left as it is (and logged): it is refused where used.
pub async fn reseal_rotated(state: &Broker) -> Result<usize, ApiError> {
    let ring = state.keys.ring();
    let Some(signer) = ring.signing(state.clock.now()).cloned() else {
        return Ok(0);
    };
    let mut moved = 0;
    for (account, stored) in &state.iam_layer.accounts {
        if stored.document.is_unusable() {
            continue;
        }
        if !stored
            .document
            .sealed_texts()
            .any(|text| older_than(text, &ring, &signer))
        {
            continue;
        }
        moved += iam_api::change_sealed(state, account, |doc| {
            let mut count = 0;
            for (text, context) in doc.sealed_secrets_mut(account) {
                if !older_than(text, &ring, &signer) {
                    continue;
                }
                let Ok(secret) = sealed::open(text, &context, &ring) else {
                    tracing::error!(
                        context,
                        "a stored secret does not open under the key it names; left as it is"
                    );
                    continue;
                };
                match seal_with(&signer, &secret, &context) {
                    Ok(again) => {
                        *text = again;
                        count += 1;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "a stored secret could not be sealed again")
                    }
                }
            }
            count
        })
        .await?;
    }
    if moved > 0 {
        tracing::info!(
            moved,
            key = %signer.id,
            "stored secrets sealed again under the session key signing now"
        );
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn only_secrets_under_an_older_loaded_key_move() {
        let ring = KeyRing::new(vec![
            Arc::new(SessionKey::new("old".into(), &[1; 32], 0)),
            Arc::new(SessionKey::new("new".into(), &[2; 32], 100)),
            Arc::new(SessionKey::new("later".into(), &[3; 32], 200)),
        ]);
        let signer = ring.get("new").unwrap();
        let under = |id: &str| seal_with(ring.get(id).unwrap(), b"s", "ctx").unwrap();
        assert!(older_than(&under("old"), &ring, signer));
        assert!(!older_than(&under("new"), &ring, signer));
        // Another replica already signs with a later key: not moved back.
        assert!(!older_than(&under("later"), &ring, signer));
        // A key not loaded here, or text that is not sealed: left alone.
        assert!(!older_than("sb1:gone:AAAA", &ring, signer));
        assert!(!older_than("not sealed", &ring, signer));
        // Two seals of one secret never share a nonce.
        assert_ne!(under("new"), under("new"));
    }
}
