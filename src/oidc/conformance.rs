//! nginx-auth-jwt's named tokens and key sets run through the whole [`Registry`] path
//! (`jwt/nginx-auth-jwt` in the shared conformance data), at 2023-01-01T00:00:00Z.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::testkit::{ACCOUNT, config, http_client, testdata};
use super::{OidcError, Registry, install_crypto_provider};
use crate::clock::ManualClock;

const NOW: i64 = 1_672_531_200;

struct Vectors {
    tokens: Value,
    dir: std::path::PathBuf,
}

impl Vectors {
    fn load() -> Option<Vectors> {
        let dir = testdata("jwt/nginx-auth-jwt")?;
        let text = std::fs::read_to_string(dir.join("tokens.json")).unwrap();
        Some(Vectors {
            tokens: serde_json::from_str(&text).unwrap(),
            dir: dir.join("data"),
        })
    }

    fn token(&self, name: &str) -> String {
        self.tokens["tokens"][name]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("token {name} missing"))
            .to_owned()
    }

    fn jwks(&self, file: &str) -> Value {
        read_json(&self.dir.join(file))
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A registry with one provider `https://test{n}.issuer.example.com` (audience
/// `test{n}.audience.example.com`) whose keys are `jwks`.
fn registry(n: &str, jwks: Value) -> Registry {
    install_crypto_provider();
    let mut c = config(&format!("https://test{n}.issuer.example.com"));
    c.client_ids = vec![format!("test{n}.audience.example.com")];
    c.static_keys = Some(serde_json::from_value(jwks).unwrap());
    let clock = Arc::new(ManualClock::new(
        OffsetDateTime::from_unix_timestamp(NOW).unwrap(),
    ));
    Registry::new(vec![c], http_client(), clock).unwrap()
}

#[tokio::test]
async fn rs_and_es_tokens_verify_with_the_shared_key_set() {
    let Some(v) = Vectors::load() else { return };
    for (n, alg) in [
        ("4", jsonwebtoken::Algorithm::RS256),
        ("5", jsonwebtoken::Algorithm::RS384),
        ("6", jsonwebtoken::Algorithm::RS512),
        ("7", jsonwebtoken::Algorithm::ES256),
        ("8", jsonwebtoken::Algorithm::ES384),
    ] {
        let r = registry(n, v.jwks("jwks.json"));
        let verified = r
            .verify(&v.token(&format!("test{n}_jwt")), ACCOUNT)
            .await
            .unwrap_or_else(|e| panic!("test{n}: {e:?}"));
        assert_eq!(verified.subject, format!("test{n}.identifier"));
        assert_eq!(verified.algorithm, alg);
        assert_eq!(
            verified.claims["email"],
            json!(format!("test{n}@example.com"))
        );
        // The per-token key set works as well.
        let r = registry(n, v.jwks(&format!("test{n}.jwks")));
        assert!(
            r.verify(&v.token(&format!("test{n}_jwt")), ACCOUNT)
                .await
                .is_ok(),
            "test{n}.jwks"
        );
    }
}

#[tokio::test]
async fn none_hmac_and_es512_tokens_are_refused() {
    let Some(v) = Vectors::load() else { return };
    let names: Vec<String> = v.tokens["tokens"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|name| {
            ![
                "test4_jwt",
                "test5_jwt",
                "test6_jwt",
                "test7_jwt",
                "test8_jwt",
            ]
            .contains(&name.as_str())
        })
        .cloned()
        .collect();
    assert!(names.len() >= 20, "{names:?}");
    for name in names {
        let r = registry("1", v.jwks("jwks.json"));
        let err = r.verify(&v.token(&name), ACCOUNT).await.unwrap_err();
        assert!(
            matches!(
                err,
                OidcError::UnsupportedAlgorithm { .. } | OidcError::Malformed(_)
            ),
            "{name}: {err:?}"
        );
    }
}

#[tokio::test]
async fn tampering_and_key_mixups_are_refused() {
    let Some(v) = Vectors::load() else { return };
    let token = v.token("test4_jwt");
    let (header, rest) = token.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();

    // A changed payload byte, and a signature from another token.
    let mut bytes = payload.as_bytes().to_vec();
    bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{header}.{}.{signature}", String::from_utf8(bytes).unwrap());
    let other_sig = v.token("test5_jwt").rsplit_once('.').unwrap().1.to_owned();
    let swapped = format!("{header}.{payload}.{other_sig}");
    let r = registry("4", v.jwks("jwks.json"));
    for (name, t) in [
        ("tampered payload", tampered),
        ("foreign signature", swapped),
    ] {
        let err = r.verify(&t, ACCOUNT).await.unwrap_err();
        assert!(
            matches!(err, OidcError::BadSignature | OidcError::Malformed(_)),
            "{name}: {err:?}"
        );
    }

    // test4's kid is not in test5's set; the kid-less set has several keys.
    let err = registry("4", v.jwks("test5.jwks"))
        .verify(&token, ACCOUNT)
        .await
        .unwrap_err();
    assert!(matches!(err, OidcError::UnknownKeyId), "{err:?}");
    let err = registry("4", v.jwks("jwks.no_kid.json"))
        .verify(&token, ACCOUNT)
        .await
        .unwrap_err();
    assert!(matches!(err, OidcError::UnknownKeyId), "{err:?}");

    // The key's own `alg` pins it: test4's key declared RS512 refuses an RS256 token.
    let mut pinned = v.jwks("test4.jwks");
    pinned["keys"][0]["alg"] = json!("RS512");
    let err = registry("4", pinned)
        .verify(&token, ACCOUNT)
        .await
        .unwrap_err();
    assert!(matches!(err, OidcError::AlgorithmMismatch), "{err:?}");

    // A set of symmetric keys only is not a usable configuration.
    install_crypto_provider();
    let mut c = config("https://test1.issuer.example.com");
    c.static_keys = Some(serde_json::from_value(v.jwks("test1.jwks")).unwrap());
    let clock = Arc::new(ManualClock::new(
        OffsetDateTime::from_unix_timestamp(NOW).unwrap(),
    ));
    assert!(matches!(
        Registry::new(vec![c], http_client(), clock),
        Err(OidcError::Config { .. })
    ));
}
