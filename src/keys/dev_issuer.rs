//! The dev issuer's ES256 key: generated on first use, published as a JWKS.

use std::fmt;
use std::fs;
use std::path::Path;

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use zeroize::Zeroizing;

use super::file::{io, write_secret};
use super::{DEV_ISSUER_FILE, KeyError};

/// The dev issuer's signing key, only used when the configuration enables the dev issuer.
pub struct DevIssuerKey {
    pkcs8: Zeroizing<Vec<u8>>,
    /// Uncompressed public point `04 || x || y`.
    public: Vec<u8>,
    pub key_id: String,
}

impl fmt::Debug for DevIssuerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevIssuerKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl DevIssuerKey {
    /// Loads the dev issuer key from `dir`, generating it when missing.
    pub fn load_or_generate(dir: &Path) -> Result<DevIssuerKey, KeyError> {
        let path = dir.join(DEV_ISSUER_FILE);
        if !path.exists() {
            let rng = SystemRandom::new();
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| KeyError::Random)?;
            write_secret(dir, DEV_ISSUER_FILE, doc.as_ref())?;
        }
        let pkcs8 = Zeroizing::new(fs::read(&path).map_err(|e| io(dir, e))?);
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|_| KeyError::BadDevKey(path.clone()))?;
        let public = pair.public_key().as_ref().to_vec();
        let digest = ring::digest::digest(&ring::digest::SHA256, &public);
        let key_id = format!("dev-{}", &hex::encode(digest.as_ref())[..16]);
        Ok(DevIssuerKey {
            pkcs8,
            public,
            key_id,
        })
    }

    /// PKCS#8 DER of the private key, for signing dev tokens.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key as a JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (x, y) = self.public[1..].split_at(32);
        serde_json::json!({
            "keys": [{
                "kty": "EC",
                "crv": "P-256",
                "use": "sig",
                "alg": "ES256",
                "kid": self.key_id,
                "x": b64.encode(x),
                "y": b64.encode(y),
            }]
        })
    }
}
