//! Secrets the broker stores and must read back (an API access key's secret, a virtual MFA
//! device's seed), sealed with AES-256-GCM under a key derived from a session key with its own
//! label, and bound to what they are the secret of.
//!
//! `sb1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`. The additional data is the format,
//! the key id and the caller's `context` (which entity the secret belongs to, e.g.
//! `access-key:111122223333:AKIA…`): a sealed secret copied to another entity in the store does
//! not open there. The key id lets `keys rotate` move secrets to a new key while the old one
//! still opens them ([`key_id`]). Pure: the nonce is an argument (12 random bytes, never
//! reused under one key), no I/O, no clock.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroizing;

use super::keyring::{KeyRing, SessionKey, is_key_id};

const FORMAT: &str = "sb1";
/// What the sealing key is derived with (HMAC-SHA256 of it under the session key).
pub(crate) const KEY_LABEL: &[u8] = b"sts-broker/sealed-secret/v1";
/// Longest secret sealed: access-key secrets are 40 bytes, MFA seeds 64 at most.
pub const MAX_SECRET_BYTES: usize = 256;
/// Longest sealed text opened: the format, a key id and the base64 of the largest secret.
const MAX_SEALED_BYTES: usize = 4 + 32 + 1 + (NONCE_LEN + MAX_SECRET_BYTES + 16) * 4 / 3 + 4;

/// Why a sealed secret could not be opened (or sealed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealedError {
    #[error("the stored secret is not in the sealed format")]
    Malformed,
    #[error("the stored secret names a session key that is not loaded")]
    UnknownKey,
    #[error("the stored secret does not open under its key for this entity")]
    NotAuthentic,
    #[error("the secret is longer than {MAX_SECRET_BYTES} bytes")]
    TooLong,
}

/// `secret` sealed under `key` for `context`, with `nonce` (fresh random bytes).
pub fn seal(
    secret: &[u8],
    context: &str,
    key: &SessionKey,
    nonce: [u8; NONCE_LEN],
) -> Result<String, SealedError> {
    if secret.len() > MAX_SECRET_BYTES {
        return Err(SealedError::TooLong);
    }
    let mut body = Zeroizing::new(Vec::with_capacity(NONCE_LEN + secret.len() + 16));
    body.extend_from_slice(&nonce);
    body.extend_from_slice(secret);
    let tag = aead_key(key)?
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(&key.id, context)),
            &mut body[NONCE_LEN..],
        )
        .map_err(|_| SealedError::TooLong)?;
    body.extend_from_slice(tag.as_ref());
    Ok(format!(
        "{FORMAT}:{}:{}",
        key.id,
        URL_SAFE_NO_PAD.encode(body.as_slice())
    ))
}

/// The secret `sealed` holds, if it opens under the key it names for `context`.
pub fn open(
    sealed: &str,
    context: &str,
    keys: &KeyRing,
) -> Result<Zeroizing<Vec<u8>>, SealedError> {
    let (id, body) = split(sealed).ok_or(SealedError::Malformed)?;
    let key = keys.get(id).ok_or(SealedError::UnknownKey)?;
    let mut body = Zeroizing::new(
        URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealedError::Malformed)?,
    );
    if body.len() < NONCE_LEN + 16 {
        return Err(SealedError::Malformed);
    }
    let nonce =
        Nonce::try_assume_unique_for_key(&body[..NONCE_LEN]).map_err(|_| SealedError::Malformed)?;
    let plain_len = aead_key(key)?
        .open_in_place(nonce, Aad::from(aad(id, context)), &mut body[NONCE_LEN..])
        .map_err(|_| SealedError::NotAuthentic)?
        .len();
    Ok(Zeroizing::new(
        body[NONCE_LEN..NONCE_LEN + plain_len].to_vec(),
    ))
}

/// The session key id `sealed` names (unverified: for choosing the key, or for finding the
/// secrets still sealed under a key about to be retired).
pub fn key_id(sealed: &str) -> Option<&str> {
    split(sealed).map(|(id, _)| id)
}

fn split(sealed: &str) -> Option<(&str, &str)> {
    if sealed.len() > MAX_SEALED_BYTES {
        return None;
    }
    let rest = sealed.strip_prefix(FORMAT)?.strip_prefix(':')?;
    let (id, body) = rest.split_once(':')?;
    is_key_id(id).then_some((id, body))
}

fn aead_key(key: &SessionKey) -> Result<LessSafeKey, SealedError> {
    UnboundKey::new(&AES_256_GCM, key.sealing.as_slice())
        .map(LessSafeKey::new)
        .map_err(|_| SealedError::UnknownKey)
}

/// The format, the key id and the context, NUL-separated (key ids hold no NUL byte).
fn aad(key_id: &str, context: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(FORMAT.len() + key_id.len() + context.len() + 2);
    m.extend_from_slice(FORMAT.as_bytes());
    m.push(0);
    m.extend_from_slice(key_id.as_bytes());
    m.push(0);
    m.extend_from_slice(context.as_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTEXT: &str = "access-key:111122223333:AKIAAAAAAAAAAAAAAAAA";

    fn ring() -> KeyRing {
        KeyRing::from_material(&[("k1", [1; 32]), ("k2", [2; 32])])
    }

    #[test]
    fn a_sealed_secret_opens_under_its_key_for_its_entity_only() {
        let keys = ring();
        let sealed = seal(b"wJalrXUtnFEMI", CONTEXT, keys.get("k1").unwrap(), [7; 12]).unwrap();
        assert!(sealed.starts_with("sb1:k1:"));
        assert!(!sealed.contains("wJalr"));
        assert_eq!(key_id(&sealed), Some("k1"));
        assert_eq!(
            open(&sealed, CONTEXT, &keys).unwrap().as_slice(),
            b"wJalrXUtnFEMI"
        );
        // Another entity, the same text: refused.
        assert_eq!(
            open(
                &sealed,
                "access-key:111122223333:AKIABBBBBBBBBBBBBBBB",
                &keys
            ),
            Err(SealedError::NotAuthentic)
        );
        // Naming the other key: refused (the key id is authenticated).
        let renamed = sealed.replacen("sb1:k1:", "sb1:k2:", 1);
        assert_eq!(
            open(&renamed, CONTEXT, &keys),
            Err(SealedError::NotAuthentic)
        );
        // A key that is not loaded.
        let gone = KeyRing::from_material(&[("k2", [2; 32])]);
        assert_eq!(open(&sealed, CONTEXT, &gone), Err(SealedError::UnknownKey));
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        let keys = ring();
        let sealed = seal(b"seed", CONTEXT, keys.get("k2").unwrap(), [9; 12]).unwrap();
        let body = sealed.rsplit_once(':').unwrap().1;
        let mut raw = URL_SAFE_NO_PAD.decode(body).unwrap();
        for i in 0..raw.len() {
            raw[i] ^= 1;
            let forged = format!("sb1:k2:{}", URL_SAFE_NO_PAD.encode(&raw));
            assert_eq!(
                open(&forged, CONTEXT, &keys),
                Err(SealedError::NotAuthentic)
            );
            raw[i] ^= 1;
        }
    }

    #[test]
    fn malformed_text_is_refused_without_a_key_lookup() {
        let keys = ring();
        for bad in [
            "",
            "sb1",
            "sb1:k1",
            "sb1:k1:",
            "sb1:k1:!!!",
            "sb2:k1:AAAA",
            "sb1:k 1:AAAA",
            "sb1:k1:AAAA",
        ] {
            assert_eq!(
                open(bad, CONTEXT, &keys),
                Err(SealedError::Malformed),
                "{bad}"
            );
        }
        let long = format!("sb1:k1:{}", "A".repeat(MAX_SEALED_BYTES));
        assert_eq!(open(&long, CONTEXT, &keys), Err(SealedError::Malformed));
        assert_eq!(
            seal(
                &[0; MAX_SECRET_BYTES + 1],
                CONTEXT,
                keys.get("k1").unwrap(),
                [0; 12]
            ),
            Err(SealedError::TooLong)
        );
        // The largest secret seals into text that opens.
        let big = seal(
            &[5; MAX_SECRET_BYTES],
            CONTEXT,
            keys.get("k1").unwrap(),
            [0; 12],
        )
        .unwrap();
        assert_eq!(open(&big, CONTEXT, &keys).unwrap().len(), MAX_SECRET_BYTES);
    }

    #[test]
    fn the_sealing_key_is_not_the_session_key() {
        // The same material as a record or token key must not open as a sealed secret key:
        // the derived key differs from the HMAC key, so sealing under raw material fails.
        let keys = ring();
        let k = keys.get("k1").unwrap();
        let raw = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[1; 32]).unwrap());
        let mut body = b"secret".to_vec();
        let tag = raw
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key([3; 12]),
                Aad::from(aad("k1", CONTEXT)),
                &mut body,
            )
            .unwrap();
        let mut all = vec![3; 12];
        all.extend_from_slice(&body);
        all.extend_from_slice(tag.as_ref());
        let forged = format!("sb1:{}:{}", k.id, URL_SAFE_NO_PAD.encode(&all));
        assert_eq!(
            open(&forged, CONTEXT, &keys),
            Err(SealedError::NotAuthentic)
        );
    }
}
