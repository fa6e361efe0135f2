//! Minting temporary credentials and checking session tokens.
//!
//! A session token is `base64(version | key id | access key id | issued | expires | nonce |
//! HMAC-SHA256)`, authenticated with the broker's session key it names, so tampering is detected
//! and keys can rotate. It carries no secret: the secret access key is derived from the key, the
//! access key id and the nonce, so neither the token nor the session store ever holds it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use time::OffsetDateTime;

use super::keyring::{KeyRing, SessionKey};
use crate::secret::{SecretAccessKey, SessionToken};

const VERSION: u8 = 1;
const ACCESS_KEY_ID_LEN: usize = 20;
const NONCE_LEN: usize = 16;
const TAG_LEN: usize = 32;
const SECRET_LABEL: &[u8] = b"sts-broker/secret-access-key/v1";
/// Longest token accepted for decoding (well above what we mint).
pub const MAX_SESSION_TOKEN_LEN: usize = 512;

/// A freshly minted set of temporary credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: SecretAccessKey,
    pub session_token: SessionToken,
    pub expiration: OffsetDateTime,
    /// The session key that signed the token.
    pub key_id: String,
    pub issued_at: OffsetDateTime,
}

/// What an authentic session token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub key_id: String,
    pub access_key_id: String,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    nonce: [u8; NONCE_LEN],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("no session key is loaded")]
    NoKey,
    #[error("the system random generator failed")]
    Random,
    #[error("the session token is malformed")]
    Malformed,
    #[error("the session token names an unknown key")]
    UnknownKey,
    #[error("the session token is not authentic")]
    BadSignature,
}

/// Mints credentials valid from `issued_at` to `expires_at`, signed with the newest key.
pub fn mint(
    keys: &KeyRing,
    issued_at: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<Credentials, CredentialError> {
    let key = keys.signing(issued_at).ok_or(CredentialError::NoKey)?;
    let mut random = [0u8; 10 + NONCE_LEN];
    crate::random::fill(&mut random).map_err(|_| CredentialError::Random)?;
    let mut access_key_id = String::with_capacity(ACCESS_KEY_ID_LEN);
    access_key_id.push_str("ASIA");
    access_key_id.push_str(&crate::encoding::base32(&random[..10]));
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&random[10..]);

    let mut body =
        Vec::with_capacity(2 + key.id.len() + ACCESS_KEY_ID_LEN + 16 + NONCE_LEN + TAG_LEN);
    body.push(VERSION);
    body.push(u8::try_from(key.id.len()).map_err(|_| CredentialError::NoKey)?);
    body.extend_from_slice(key.id.as_bytes());
    body.extend_from_slice(access_key_id.as_bytes());
    body.extend_from_slice(&issued_at.unix_timestamp().to_be_bytes());
    body.extend_from_slice(&expires_at.unix_timestamp().to_be_bytes());
    body.extend_from_slice(&nonce);
    let tag = hmac::sign(&key.hmac, &body);
    body.extend_from_slice(tag.as_ref());

    let secret = derive_secret(key, &access_key_id, &nonce);
    Ok(Credentials {
        access_key_id,
        secret_access_key: secret,
        session_token: SessionToken::new(STANDARD.encode(&body)),
        expiration: expires_at,
        key_id: key.id.clone(),
        issued_at,
    })
}

/// Checks a session token's authenticity (in constant time) and reads it. Expiry is the
/// caller's business: the claims say when the session ends.
pub fn verify_token(keys: &KeyRing, token: &str) -> Result<TokenClaims, CredentialError> {
    if token.len() > MAX_SESSION_TOKEN_LEN {
        return Err(CredentialError::Malformed);
    }
    let bytes = STANDARD
        .decode(token)
        .map_err(|_| CredentialError::Malformed)?;
    let (&version, rest) = bytes.split_first().ok_or(CredentialError::Malformed)?;
    let (&kid_len, rest) = rest.split_first().ok_or(CredentialError::Malformed)?;
    if version != VERSION
        || rest.len() != usize::from(kid_len) + ACCESS_KEY_ID_LEN + 16 + NONCE_LEN + TAG_LEN
    {
        return Err(CredentialError::Malformed);
    }
    let (kid, rest) = rest.split_at(usize::from(kid_len));
    let key_id = std::str::from_utf8(kid).map_err(|_| CredentialError::Malformed)?;
    let key = keys.get(key_id).ok_or(CredentialError::UnknownKey)?;
    let (signed, tag) = bytes.split_at(bytes.len() - TAG_LEN);
    hmac::verify(&key.hmac, signed, tag).map_err(|_| CredentialError::BadSignature)?;

    let (akid, rest) = rest.split_at(ACCESS_KEY_ID_LEN);
    let (issued, rest) = rest.split_at(8);
    let (expires, rest) = rest.split_at(8);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&rest[..NONCE_LEN]);
    let time = |b: &[u8]| -> Result<OffsetDateTime, CredentialError> {
        let secs = i64::from_be_bytes(b.try_into().map_err(|_| CredentialError::Malformed)?);
        OffsetDateTime::from_unix_timestamp(secs).map_err(|_| CredentialError::Malformed)
    };
    Ok(TokenClaims {
        key_id: key_id.to_owned(),
        access_key_id: std::str::from_utf8(akid)
            .map_err(|_| CredentialError::Malformed)?
            .to_owned(),
        issued_at: time(issued)?,
        expires_at: time(expires)?,
        nonce,
    })
}

/// The session key id a token names, unverified: for loading that key before
/// [`verify_token`], never to trust anything.
pub fn token_key_id(token: &str) -> Option<String> {
    if token.len() > MAX_SESSION_TOKEN_LEN {
        return None;
    }
    let bytes = STANDARD.decode(token).ok()?;
    let (&kid_len, rest) = bytes.get(1..)?.split_first()?;
    let kid = rest.get(..usize::from(kid_len))?;
    std::str::from_utf8(kid).ok().map(str::to_owned)
}

/// The secret access key of the session an authentic token describes.
pub fn secret_for(
    keys: &KeyRing,
    claims: &TokenClaims,
) -> Result<SecretAccessKey, CredentialError> {
    let key = keys
        .get(&claims.key_id)
        .ok_or(CredentialError::UnknownKey)?;
    Ok(derive_secret(key, &claims.access_key_id, &claims.nonce))
}

fn derive_secret(key: &SessionKey, access_key_id: &str, nonce: &[u8]) -> SecretAccessKey {
    let mut ctx = hmac::Context::with_key(&key.hmac);
    ctx.update(SECRET_LABEL);
    ctx.update(access_key_id.as_bytes());
    ctx.update(nonce);
    let tag = ctx.sign();
    // 30 bytes encode to exactly 40 base64 characters, the length of an AWS secret key.
    SecretAccessKey::new(STANDARD.encode(&tag.as_ref()[..30]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys() -> KeyRing {
        KeyRing::from_material(&[("k1", [1; 32]), ("k2", [2; 32])])
    }

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).unwrap()
    }

    #[test]
    fn a_token_names_its_key_before_verification() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let creds = mint(&keys(), now, now + time::Duration::hours(1)).unwrap();
        assert_eq!(
            token_key_id(creds.session_token.expose()).as_deref(),
            Some(creds.key_id.as_str())
        );
        assert_eq!(token_key_id("AQ=="), None);
        assert_eq!(token_key_id("not base64!"), None);
    }

    #[test]
    fn minted_credentials_have_aws_shapes() {
        let c = mint(&keys(), at(1_700_000_000), at(1_700_003_600)).unwrap();
        assert_eq!(c.access_key_id.len(), 20);
        assert!(c.access_key_id.starts_with("ASIA"));
        assert!(
            c.access_key_id[4..]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        );
        assert_eq!(c.secret_access_key.expose().len(), 40);
        assert_eq!(c.key_id, "k2");
        assert!(
            !c.session_token
                .expose()
                .contains(c.secret_access_key.expose())
        );
    }

    #[test]
    fn tokens_verify_and_give_back_the_secret() {
        let keys = keys();
        let c = mint(&keys, at(1_700_000_000), at(1_700_003_600)).unwrap();
        let claims = verify_token(&keys, c.session_token.expose()).unwrap();
        assert_eq!(claims.access_key_id, c.access_key_id);
        assert_eq!(claims.key_id, "k2");
        assert_eq!(claims.issued_at, at(1_700_000_000));
        assert_eq!(claims.expires_at, at(1_700_003_600));
        assert_eq!(secret_for(&keys, &claims).unwrap(), c.secret_access_key);
    }

    #[test]
    fn each_mint_is_distinct() {
        let keys = keys();
        let a = mint(&keys, at(0), at(900)).unwrap();
        let b = mint(&keys, at(0), at(900)).unwrap();
        assert_ne!(a.access_key_id, b.access_key_id);
        assert_ne!(a.secret_access_key, b.secret_access_key);
    }

    #[test]
    fn retired_key_invalidates_its_tokens() {
        let c = mint(&keys(), at(0), at(900)).unwrap();
        let only_k1 = KeyRing::from_material(&[("k1", [1; 32])]);
        assert_eq!(
            verify_token(&only_k1, c.session_token.expose()),
            Err(CredentialError::UnknownKey)
        );
        let other_material = KeyRing::from_material(&[("k2", [9; 32])]);
        assert_eq!(
            verify_token(&other_material, c.session_token.expose()),
            Err(CredentialError::BadSignature)
        );
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let keys = keys();
        for token in ["", "not base64!", "AAAA", &"A".repeat(600)] {
            assert_eq!(verify_token(&keys, token), Err(CredentialError::Malformed));
        }
    }

    proptest! {
        // A tampered token never verifies: flipping any bit of any byte is detected.
        #[test]
        fn tampered_tokens_never_verify(index in 0usize..200, bit in 0u8..8) {
            let keys = keys();
            let c = mint(&keys, at(1_700_000_000), at(1_700_003_600)).unwrap();
            let mut bytes = STANDARD.decode(c.session_token.expose()).unwrap();
            let i = index % bytes.len();
            bytes[i] ^= 1 << bit;
            let tampered = STANDARD.encode(&bytes);
            prop_assert!(verify_token(&keys, &tampered).is_err());
        }
    }
}
