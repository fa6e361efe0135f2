//! Splitting a web identity token into its parts, before anything is trusted (RFC 7515 §7.1
//! compact serialization, RFC 7519 §7.2 steps 1–8).
//!
//! Pure and cheap: refuses oversized input, anything but three unpadded base64url segments,
//! a header or payload that is not a JSON object with unique member names, `crit` (no extension
//! is understood here), and an empty or non-string `kid`. It verifies nothing: the result is only
//! good for choosing the provider and the key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::error::OidcError;

/// Longest token accepted, in bytes (STS's limit for `WebIdentityToken`).
pub const MAX_TOKEN_BYTES: usize = 20_000;

/// A token split into its parts, not verified.
#[derive(Debug)]
pub(crate) struct Jws<'a> {
    alg: String,
    kid: Option<String>,
    claims: Map<String, Value>,
    /// `BASE64URL(header) '.' BASE64URL(payload)`, the bytes the signature covers.
    signing_input: &'a str,
    /// The third segment, still base64url.
    signature: &'a str,
}

impl<'a> Jws<'a> {
    /// The header's algorithm, if it is one STS accepts: RS256/384/512 or ES256/384.
    ///
    /// AWS also lists ES512, which the JWT library used here cannot verify; `none`, HS*, PS* and
    /// EdDSA are refused as AWS refuses them.
    pub(crate) fn algorithm(&self) -> Result<Algorithm, OidcError> {
        match self.alg.as_str() {
            "RS256" => Ok(Algorithm::RS256),
            "RS384" => Ok(Algorithm::RS384),
            "RS512" => Ok(Algorithm::RS512),
            "ES256" => Ok(Algorithm::ES256),
            "ES384" => Ok(Algorithm::ES384),
            other => Err(OidcError::unsupported_algorithm(other)),
        }
    }

    pub(crate) fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The unverified `iss`, used only to pick the provider.
    pub(crate) fn issuer(&self) -> Result<&str, OidcError> {
        match self.claims.get("iss") {
            Some(Value::String(iss)) => Ok(iss),
            Some(_) => Err(OidcError::InvalidClaim {
                claim: "iss",
                reason: "is not a string",
            }),
            None => Err(OidcError::MissingClaim("iss")),
        }
    }

    pub(crate) fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The claims and the key id, for a verified token.
    pub(crate) fn into_parts(self) -> (Map<String, Value>, Option<String>) {
        (self.claims, self.kid)
    }

    pub(crate) fn signing_input(&self) -> &'a str {
        self.signing_input
    }

    pub(crate) fn signature(&self) -> &'a str {
        self.signature
    }
}

/// Splits and decodes `token`. See the module documentation for what is refused.
pub(crate) fn parse(token: &str) -> Result<Jws<'_>, OidcError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(OidcError::TooLarge {
            max: MAX_TOKEN_BYTES,
        });
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(OidcError::Malformed(
            "expected three base64url segments separated by '.'",
        ));
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(OidcError::Malformed("a segment is empty"));
    }
    if !signature.bytes().all(is_base64url) {
        return Err(OidcError::Malformed("the signature is not base64url"));
    }

    let mut header = decode_object(header).ok_or(OidcError::Malformed(
        "the header is not a base64url JSON object",
    ))?;
    let claims = decode_object(payload).ok_or(OidcError::Malformed(
        "the payload is not a base64url JSON object",
    ))?;

    if header.contains_key("crit") {
        return Err(OidcError::Malformed(
            "critical header parameters (crit) are not supported",
        ));
    }
    let alg = match header.remove("alg") {
        Some(Value::String(alg)) => alg,
        Some(_) => return Err(OidcError::Malformed("the header's alg is not a string")),
        None => return Err(OidcError::Malformed("the header has no alg")),
    };
    let kid = match header.remove("kid") {
        None => None,
        Some(Value::String(kid)) if !kid.is_empty() => Some(kid),
        Some(Value::String(_)) => return Err(OidcError::Malformed("the header's kid is empty")),
        Some(_) => return Err(OidcError::Malformed("the header's kid is not a string")),
    };

    let signing_len = token.len() - signature.len() - 1;
    Ok(Jws {
        alg,
        kid,
        claims,
        signing_input: &token[..signing_len],
        signature,
    })
}

fn is_base64url(b: u8) -> bool {
    BASE64URL[usize::from(b)]
}

/// The base64url alphabet, one lookup per byte (a signature is hundreds of bytes).
const BASE64URL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    table
};

/// Unpadded base64url → UTF-8 JSON object with unique member names (RFC 7519 §4 lets a parser
/// either refuse duplicates or keep the last; refusing leaves no room for two parsers to
/// disagree about `sub` or `aud`).
fn decode_object(segment: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    serde_json::from_slice::<UniqueObject>(&bytes)
        .ok()
        .map(|o| o.0)
}

struct UniqueObject(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(UniqueObjectVisitor)
    }
}

struct UniqueObjectVisitor;

impl<'de> Visitor<'de> for UniqueObjectVisitor {
    type Value = UniqueObject;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<UniqueObject, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let value: Value = access.next_value()?;
            if map.insert(key, value).is_some() {
                return Err(A::Error::custom("duplicate member name"));
            }
        }
        Ok(UniqueObject(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::testkit::{b64, testdata};

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(payload))
    }

    const HEADER: &str = r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#;
    const PAYLOAD: &str = r#"{"iss":"https://idp.example","sub":"s"}"#;

    #[test]
    fn splits_a_well_formed_token() {
        let t = token(HEADER, PAYLOAD);
        let jws = parse(&t).unwrap();
        assert_eq!(jws.algorithm().unwrap(), Algorithm::RS256);
        assert_eq!(jws.kid(), Some("k1"));
        assert_eq!(jws.issuer().unwrap(), "https://idp.example");
        assert_eq!(jws.signature(), "c2ln");
        assert_eq!(
            jws.signing_input(),
            format!("{}.{}", b64(HEADER), b64(PAYLOAD))
        );
    }

    #[test]
    fn refuses_malformed_tokens_early() {
        let good_h = b64(HEADER);
        let good_p = b64(PAYLOAD);
        let cases: Vec<(&str, String)> = vec![
            (
                "too large",
                format!("{good_h}.{}.c2ln", "A".repeat(MAX_TOKEN_BYTES)),
            ),
            ("two segments", format!("{good_h}.{good_p}")),
            ("four segments", format!("{good_h}.{good_p}.c2ln.c2ln")),
            ("empty signature", format!("{good_h}.{good_p}.")),
            ("empty payload", format!("{good_h}..c2ln")),
            ("padded header", format!("{good_h}=.{good_p}.c2ln")),
            (
                "standard base64 signature",
                format!("{good_h}.{good_p}.c2+n/A"),
            ),
            ("header not base64", format!("{good_h}!.{good_p}.c2ln")),
            ("header is an array", token(r#"["RS256"]"#, PAYLOAD)),
            ("payload is a string", token(HEADER, r#""hello""#)),
            ("payload is not JSON", token(HEADER, "iss=x")),
            ("trailing garbage", token(HEADER, r#"{"a":1} x"#)),
            ("no alg", token(r#"{"kid":"k1"}"#, PAYLOAD)),
            ("alg not a string", token(r#"{"alg":1}"#, PAYLOAD)),
            ("crit", token(r#"{"alg":"RS256","crit":["exp"]}"#, PAYLOAD)),
            ("empty crit", token(r#"{"alg":"RS256","crit":[]}"#, PAYLOAD)),
            ("empty kid", token(r#"{"alg":"RS256","kid":""}"#, PAYLOAD)),
            ("numeric kid", token(r#"{"alg":"RS256","kid":7}"#, PAYLOAD)),
            (
                "duplicate claim",
                token(HEADER, r#"{"sub":"a","sub":"admin"}"#),
            ),
            (
                "duplicate header member",
                token(r#"{"alg":"RS256","alg":"none"}"#, PAYLOAD),
            ),
        ];
        for (name, t) in cases {
            let err = parse(&t).expect_err(name);
            assert!(
                matches!(err, OidcError::Malformed(_) | OidcError::TooLarge { .. }),
                "{name}: {err:?}"
            );
        }
    }

    #[test]
    fn accepts_only_rs_and_es_algorithms() {
        for alg in ["RS256", "RS384", "RS512", "ES256", "ES384"] {
            let t = token(&format!(r#"{{"alg":"{alg}"}}"#), PAYLOAD);
            assert!(parse(&t).unwrap().algorithm().is_ok(), "{alg}");
        }
        for alg in [
            "none", "None", "HS256", "HS384", "HS512", "PS256", "PS512", "EdDSA", "ES512", "rs256",
            "",
        ] {
            let t = token(&format!(r#"{{"alg":"{alg}"}}"#), PAYLOAD);
            let err = parse(&t).unwrap().algorithm().unwrap_err();
            assert!(
                matches!(err, OidcError::UnsupportedAlgorithm { .. }),
                "{alg}: {err:?}"
            );
        }
    }

    #[test]
    fn issuer_must_be_a_string() {
        let t = token(HEADER, r#"{"iss":7}"#);
        assert!(matches!(
            parse(&t).unwrap().issuer(),
            Err(OidcError::InvalidClaim { claim: "iss", .. })
        ));
        let t = token(HEADER, r#"{"sub":"x"}"#);
        assert!(matches!(
            parse(&t).unwrap().issuer(),
            Err(OidcError::MissingClaim("iss"))
        ));
    }

    /// Tink's cross-language JOSE edge cases that concern the token's structure (the claim
    /// cases are in `verify.rs`). Tink signs with HS256, which is refused later, so only
    /// parsing is checked here.
    #[test]
    fn tink_structure_vectors() {
        let Some(dir) = testdata("jwt/tink-jwt-validation") else {
            return;
        };
        let text = std::fs::read_to_string(dir.join("cases.json")).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        let cases = doc["cases"].as_array().unwrap();
        let expected = [
            ("valid", true),
            ("unknown_header_ok", true),
            ("empty_crit_invalid", false),
            ("nonempty_crit_invalid", false),
            ("invalid_utf8_header", false),
            ("invalid_utf8_payload", false),
            ("utf8_gclef_payload_ok", true),
            ("json_escaped_surrogate_pair_ok", true),
            ("json_lone_surrogate_invalid", false),
            ("json_lone_surrogates_claim_name_invalid", false),
            ("iss_duplicated_key", false),
            ("payload_utf16_invalid", false),
            ("payload_utf32_invalid", false),
            ("nesting_10_ok", true),
            ("nesting_10000_invalid", false),
        ];
        for (name, ok) in expected {
            let case = cases
                .iter()
                .find(|c| c["name"] == name)
                .unwrap_or_else(|| panic!("tink case {name} missing"));
            let token = case["token"].as_str().unwrap();
            assert_eq!(parse(token).is_ok(), ok, "tink case {name}");
        }
    }
}
