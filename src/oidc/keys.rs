//! A provider's signing keys, prepared once and pinned to the algorithms each may verify
//! (RFC 7517 JWK sets, RFC 7518 §3 algorithms).
//!
//! Pure: no I/O. A key is kept only if it can verify something STS accepts: `kty` RSA (2048 to
//! 8192 bits) for RS256/RS384/RS512, `kty` EC on P-256 for ES256 or P-384 for ES384, with `use`
//! absent or `sig`, `key_ops` absent or containing `verify`, and `alg`, when present, one of
//! those (it then narrows the key to that one algorithm). Symmetric (`oct`), OKP, P-521 and
//! anything else are dropped. The token's header never chooses the key type: it names a key by
//! `kid`, and its `alg` must be one the key allows.

use aws_lc_rs::signature::{self as lc, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use serde_json::Value;

use super::error::OidcError;

/// Most keys accepted in one key set (fetched or configured).
pub const MAX_KEYS: usize = 100;

const RSA_ALGORITHMS: &[Algorithm] = &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512];
/// RSA moduli accepted, in bytes (what the verifier accepts: 2048..=8192 bits).
const RSA_MODULUS_BYTES: std::ops::RangeInclusive<usize> = 256..=1024;

/// Why a whole key set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    #[error("the key set is not a JSON object with a \"keys\" array")]
    NotAKeySet,
    #[error("the key set has {count} keys, more than the {MAX_KEYS} accepted")]
    TooManyKeys { count: usize },
    #[error("the key set has no usable signing key (RSA, or EC P-256/P-384, for signatures)")]
    NoUsableKeys,
}

/// One usable key: its id, the algorithms it may verify, and the key parsed once for each of
/// them (an RSA key keeps its Montgomery constants between verifications).
#[derive(Debug)]
pub(crate) struct VerifyingKey {
    kid: Option<String>,
    algorithms: &'static [Algorithm],
    /// One per entry of `algorithms`, in the same order.
    parsed: Vec<ParsedPublicKey>,
}

impl VerifyingKey {
    /// Checks `signature` (base64url) over `signing_input` with `alg`, which the caller has
    /// already matched against this key through [`KeySet::find`].
    pub(crate) fn verify(
        &self,
        alg: Algorithm,
        signing_input: &str,
        signature: &str,
    ) -> Result<(), OidcError> {
        let index = self
            .algorithms
            .iter()
            .position(|a| *a == alg)
            .ok_or(OidcError::AlgorithmMismatch)?;
        let key = self.parsed.get(index).ok_or(OidcError::AlgorithmMismatch)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| OidcError::BadSignature)?;
        key.verify_sig(signing_input.as_bytes(), &signature)
            .map_err(|_| OidcError::BadSignature)
    }
}

/// The outcome of looking a token's key up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Index of the key to verify with.
    Found(usize),
    /// The token names a `kid` that is not in the set.
    UnknownKid,
    /// The token has no `kid` and the set has more than one key.
    Ambiguous,
    /// The key exists but does not allow the token's algorithm.
    AlgorithmMismatch,
}

/// The usable keys of one provider. Never empty.
#[derive(Debug)]
pub(crate) struct KeySet {
    keys: Vec<VerifyingKey>,
}

impl KeySet {
    /// Parses a fetched JWKS document. Entries that are not usable keys are skipped; a document
    /// with more than [`MAX_KEYS`] entries, or with no usable key, is refused.
    pub(crate) fn from_json(bytes: &[u8]) -> Result<KeySet, KeySetError> {
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<Value>,
        }
        let doc: Document = serde_json::from_slice(bytes).map_err(|_| KeySetError::NotAKeySet)?;
        if doc.keys.len() > MAX_KEYS {
            return Err(KeySetError::TooManyKeys {
                count: doc.keys.len(),
            });
        }
        let jwks = doc.keys.into_iter().filter_map(|value| {
            let parsed = serde_json::from_value::<Jwk>(value);
            if parsed.is_err() {
                tracing::debug!("skipping a JWKS entry that is not a JWK");
            }
            parsed.ok()
        });
        KeySet::prepare(jwks)
    }

    /// Prepares a configured key set, with the same rules as [`KeySet::from_json`].
    pub(crate) fn from_jwk_set(set: &JwkSet) -> Result<KeySet, KeySetError> {
        if set.keys.len() > MAX_KEYS {
            return Err(KeySetError::TooManyKeys {
                count: set.keys.len(),
            });
        }
        KeySet::prepare(set.keys.iter().cloned())
    }

    fn prepare(jwks: impl Iterator<Item = Jwk>) -> Result<KeySet, KeySetError> {
        let keys: Vec<VerifyingKey> = jwks
            .filter_map(|jwk| match prepare_key(&jwk) {
                Ok(key) => Some(key),
                Err(reason) => {
                    tracing::debug!(kid = ?jwk.common.key_id, reason, "skipping JWK");
                    None
                }
            })
            .collect();
        if keys.is_empty() {
            return Err(KeySetError::NoUsableKeys);
        }
        Ok(KeySet { keys })
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn get(&self, index: usize) -> Option<&VerifyingKey> {
        self.keys.get(index)
    }

    /// The key for a token with this `kid` and `alg`: the key with that `kid` that allows `alg`
    /// (a set may hold one `kid` under two algorithms), or with no `kid`, the only key.
    pub(crate) fn find(&self, kid: Option<&str>, alg: Algorithm) -> Lookup {
        match kid {
            Some(kid) => {
                let mut named = false;
                for (index, key) in self.keys.iter().enumerate() {
                    if key.kid.as_deref() == Some(kid) {
                        if key.algorithms.contains(&alg) {
                            return Lookup::Found(index);
                        }
                        named = true;
                    }
                }
                if named {
                    Lookup::AlgorithmMismatch
                } else {
                    Lookup::UnknownKid
                }
            }
            None => match self.keys.as_slice() {
                [only] if only.algorithms.contains(&alg) => Lookup::Found(0),
                [_] => Lookup::AlgorithmMismatch,
                _ => Lookup::Ambiguous,
            },
        }
    }
}

/// The algorithms a JWK may verify and its prepared form, or why it is dropped.
fn prepare_key(jwk: &Jwk) -> Result<VerifyingKey, &'static str> {
    match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => {}
        Some(_) => return Err("use is not sig"),
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.iter().any(|op| matches!(op, KeyOperations::Verify))
    {
        return Err("key_ops does not include verify");
    }
    let by_type: &'static [Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(params) => {
            let n = base64_len_without_leading_zeros(&params.n).ok_or("RSA n is not base64url")?;
            if !RSA_MODULUS_BYTES.contains(&n) {
                return Err("RSA modulus is not 2048 to 8192 bits");
            }
            RSA_ALGORITHMS
        }
        AlgorithmParameters::EllipticCurve(params) => {
            let (algorithms, coordinate): (&'static [Algorithm], usize) = match params.curve {
                EllipticCurve::P256 => (&[Algorithm::ES256], 32),
                EllipticCurve::P384 => (&[Algorithm::ES384], 48),
                _ => return Err("unsupported curve"),
            };
            if decoded_len(&params.x) != Some(coordinate)
                || decoded_len(&params.y) != Some(coordinate)
            {
                return Err("EC coordinates do not fit the curve");
            }
            algorithms
        }
        AlgorithmParameters::OctetKey(_) => return Err("symmetric keys are not accepted"),
        // OKP, unknown `kty`, and whatever later versions of the JWK type add.
        _ => return Err("unsupported key type"),
    };
    let algorithms = match &jwk.common.key_algorithm {
        None => by_type,
        Some(declared) => narrow(by_type, *declared).ok_or("alg does not fit the key type")?,
    };
    let parsed = algorithms
        .iter()
        .map(|alg| parse_key(&jwk.algorithm, *alg))
        .collect::<Option<Vec<_>>>()
        .ok_or("unreadable key parameters")?;
    Ok(VerifyingKey {
        kid: jwk.common.key_id.clone(),
        algorithms,
        parsed,
    })
}

/// The key parsed for verifying `alg` (which fits its type), as jsonwebtoken would verify it:
/// PKCS#1 v1.5 for RS*, fixed-length signatures for ES*. The modulus may carry leading zero
/// bytes, as some providers write it.
fn parse_key(params: &AlgorithmParameters, alg: Algorithm) -> Option<ParsedPublicKey> {
    match params {
        AlgorithmParameters::RSA(rsa) => {
            let scheme: &'static lc::RsaParameters = match alg {
                Algorithm::RS256 => &lc::RSA_PKCS1_2048_8192_SHA256,
                Algorithm::RS384 => &lc::RSA_PKCS1_2048_8192_SHA384,
                Algorithm::RS512 => &lc::RSA_PKCS1_2048_8192_SHA512,
                _ => return None,
            };
            let n = URL_SAFE_NO_PAD.decode(&rsa.n).ok()?;
            let e = URL_SAFE_NO_PAD.decode(&rsa.e).ok()?;
            let components = RsaPublicKeyComponents {
                n: without_leading_zeros(&n),
                e: without_leading_zeros(&e),
            };
            components.to_parsed_public_key(scheme).ok()
        }
        AlgorithmParameters::EllipticCurve(ec) => {
            let scheme: &'static lc::EcdsaVerificationAlgorithm = match alg {
                Algorithm::ES256 => &lc::ECDSA_P256_SHA256_FIXED,
                Algorithm::ES384 => &lc::ECDSA_P384_SHA384_FIXED,
                _ => return None,
            };
            let mut point = vec![0x04];
            point.extend(URL_SAFE_NO_PAD.decode(&ec.x).ok()?);
            point.extend(URL_SAFE_NO_PAD.decode(&ec.y).ok()?);
            ParsedPublicKey::new(scheme, point).ok()
        }
        _ => None,
    }
}

fn without_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// The single algorithm a JWK's `alg` names, if the key type allows it.
fn narrow(allowed: &'static [Algorithm], declared: KeyAlgorithm) -> Option<&'static [Algorithm]> {
    let single: &'static [Algorithm] = match declared {
        KeyAlgorithm::RS256 => &[Algorithm::RS256],
        KeyAlgorithm::RS384 => &[Algorithm::RS384],
        KeyAlgorithm::RS512 => &[Algorithm::RS512],
        KeyAlgorithm::ES256 => &[Algorithm::ES256],
        KeyAlgorithm::ES384 => &[Algorithm::ES384],
        _ => return None,
    };
    single
        .iter()
        .all(|alg| allowed.contains(alg))
        .then_some(single)
}

fn decoded_len(b64url: &str) -> Option<usize> {
    URL_SAFE_NO_PAD.decode(b64url).ok().map(|bytes| bytes.len())
}

/// Length of a big-endian integer given in base64url, leading zero bytes ignored.
fn base64_len_without_leading_zeros(b64url: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(b64url).ok()?;
    Some(without_leading_zeros(&bytes).len())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::oidc::testkit::{TestKey, b64, sign_raw};

    fn set(keys: Value) -> Result<KeySet, KeySetError> {
        KeySet::from_json(json!({ "keys": keys }).to_string().as_bytes())
    }

    #[test]
    fn keeps_only_signing_keys_sts_accepts() {
        let rsa = TestKey::rsa_a().jwk();
        let ec256 = TestKey::es256().jwk();
        let ec384 = TestKey::es384().jwk();
        let mut enc = rsa.clone();
        enc["use"] = json!("enc");
        enc["kid"] = json!("enc");
        let mut wrap = rsa.clone();
        wrap["key_ops"] = json!(["wrapKey"]);
        wrap["kid"] = json!("wrap");
        let mut ps = rsa.clone();
        ps["alg"] = json!("PS256");
        ps["kid"] = json!("ps");
        let keys = set(json!([
            rsa,
            ec256,
            ec384,
            enc,
            wrap,
            ps,
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0", "alg": "HS256"},
            {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "EC", "kid": "p521", "crv": "P-521", "x": "AQ", "y": "AQ"},
            {"kty": "RSA", "kid": "small", "n": b64_bytes(&[0xff; 128]), "e": "AQAB"},
            {"kty": "RSA", "kid": "no-n", "e": "AQAB"},
            "not an object",
        ]))
        .unwrap();
        assert_eq!(keys.len(), 3);
        assert!(matches!(
            keys.find(Some("rsa-a"), Algorithm::RS256),
            Lookup::Found(_)
        ));
        assert!(matches!(
            keys.find(Some("es256"), Algorithm::ES256),
            Lookup::Found(_)
        ));
        assert!(matches!(
            keys.find(Some("es384"), Algorithm::ES384),
            Lookup::Found(_)
        ));
        for dropped in ["enc", "wrap", "ps", "hmac", "ed", "p521", "small", "no-n"] {
            assert_eq!(
                keys.find(Some(dropped), Algorithm::RS256),
                Lookup::UnknownKid,
                "{dropped}"
            );
        }
    }

    #[test]
    fn algorithms_are_pinned_by_key_type_curve_and_alg() {
        let mut rs384_only = TestKey::rsa_b().jwk();
        rs384_only["alg"] = json!("RS384");
        let keys = set(json!([
            TestKey::rsa_a().jwk(),
            rs384_only,
            TestKey::es256().jwk()
        ]))
        .unwrap();
        for alg in [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512] {
            assert!(
                matches!(keys.find(Some("rsa-a"), alg), Lookup::Found(_)),
                "{alg:?}"
            );
        }
        for alg in [Algorithm::ES256, Algorithm::PS256, Algorithm::HS256] {
            assert_eq!(
                keys.find(Some("rsa-a"), alg),
                Lookup::AlgorithmMismatch,
                "{alg:?}"
            );
        }
        assert!(matches!(
            keys.find(Some("rsa-b"), Algorithm::RS384),
            Lookup::Found(_)
        ));
        assert_eq!(
            keys.find(Some("rsa-b"), Algorithm::RS256),
            Lookup::AlgorithmMismatch
        );
        assert_eq!(
            keys.find(Some("es256"), Algorithm::ES384),
            Lookup::AlgorithmMismatch
        );
        assert_eq!(
            keys.find(Some("es256"), Algorithm::RS256),
            Lookup::AlgorithmMismatch
        );

        // An `alg` that contradicts the key type drops the key.
        let mut confused = TestKey::es256().jwk();
        confused["alg"] = json!("RS256");
        assert_eq!(
            set(json!([confused])).unwrap_err(),
            KeySetError::NoUsableKeys
        );
    }

    #[test]
    fn a_missing_kid_is_only_accepted_with_a_single_key() {
        let one = set(json!([TestKey::rsa_a().jwk()])).unwrap();
        assert_eq!(one.find(None, Algorithm::RS256), Lookup::Found(0));
        assert_eq!(one.find(None, Algorithm::ES256), Lookup::AlgorithmMismatch);
        let two = set(json!([TestKey::rsa_a().jwk(), TestKey::rsa_b().jwk()])).unwrap();
        assert_eq!(two.find(None, Algorithm::RS256), Lookup::Ambiguous);
        assert_eq!(two.find(Some("nope"), Algorithm::RS256), Lookup::UnknownKid);
    }

    #[test]
    fn one_kid_under_two_key_types_picks_the_key_for_the_algorithm() {
        let mut rsa = TestKey::rsa_a().jwk();
        rsa["kid"] = json!("shared");
        let mut ec = TestKey::es256().jwk();
        ec["kid"] = json!("shared");
        let keys = set(json!([rsa, ec])).unwrap();
        assert_eq!(
            keys.find(Some("shared"), Algorithm::RS256),
            Lookup::Found(0)
        );
        assert_eq!(
            keys.find(Some("shared"), Algorithm::ES256),
            Lookup::Found(1)
        );
    }

    #[test]
    fn refuses_oversized_and_useless_sets() {
        let many: Vec<Value> = (0..=MAX_KEYS).map(|_| TestKey::rsa_a().jwk()).collect();
        assert_eq!(
            set(Value::Array(many)).unwrap_err(),
            KeySetError::TooManyKeys {
                count: MAX_KEYS + 1
            }
        );
        assert_eq!(set(json!([])).unwrap_err(), KeySetError::NoUsableKeys);
        assert_eq!(
            KeySet::from_json(b"[]").unwrap_err(),
            KeySetError::NotAKeySet
        );
        assert_eq!(
            KeySet::from_json(b"{\"keys\":{}}").unwrap_err(),
            KeySetError::NotAKeySet
        );
    }

    #[test]
    fn verifies_signatures_and_catches_tampering() {
        crate::oidc::install_crypto_provider();
        for key in [TestKey::rsa_a(), TestKey::es256(), TestKey::es384()] {
            let keys = set(json!([key.jwk()])).unwrap();
            let header = json!({"alg": key.alg_name(), "kid": key.kid()}).to_string();
            let token = sign_raw(key, &header, r#"{"sub":"x"}"#);
            let (input, signature) = token.rsplit_once('.').unwrap();
            let Lookup::Found(index) = keys.find(Some(key.kid()), key.alg()) else {
                panic!("key not found");
            };
            let vk = keys.get(index).unwrap();
            vk.verify(key.alg(), input, signature).unwrap();

            let forged_input = format!("{}.{}", b64(&header), b64(r#"{"sub":"admin"}"#));
            assert!(matches!(
                vk.verify(key.alg(), &forged_input, signature),
                Err(OidcError::BadSignature)
            ));
            assert!(matches!(
                vk.verify(key.alg(), input, "AAAA"),
                Err(OidcError::BadSignature)
            ));
        }
    }

    #[test]
    fn a_modulus_written_with_a_leading_zero_verifies_and_a_signature_is_checked_per_algorithm() {
        crate::oidc::install_crypto_provider();
        let key = TestKey::rsa_a();
        let mut jwk = key.jwk();
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        jwk["n"] = json!(b64_bytes(&[&[0u8][..], &n].concat()));
        let keys = set(json!([jwk])).unwrap();
        let header = json!({"alg": "RS256", "kid": key.kid()}).to_string();
        let token = sign_raw(key, &header, r#"{"sub":"x"}"#);
        let (input, signature) = token.rsplit_once('.').unwrap();
        let vk = keys.get(0).unwrap();
        vk.verify(Algorithm::RS256, input, signature).unwrap();
        // The same key may verify RS384, but an RS256 signature is not one.
        assert!(matches!(
            vk.verify(Algorithm::RS384, input, signature),
            Err(OidcError::BadSignature)
        ));
        assert!(matches!(
            vk.verify(Algorithm::ES256, input, signature),
            Err(OidcError::AlgorithmMismatch)
        ));
    }

    fn b64_bytes(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }
}
