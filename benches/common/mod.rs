//! What the web identity benchmarks share: a GitHub Actions shaped token signed with fresh
//! RSA-2048 and EC P-256 keys, and a provider configuration that holds those keys.

// Each benchmark binary uses a different part of the fixture.
#![allow(dead_code)]

use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::json;
use sts_broker::oidc::ProviderConfig;

pub const ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The account whose provider of [`ISSUER`] the benches verify with.
pub const ACCOUNT: &str = "111122223333";

pub struct Fixture {
    pub rs_token: String,
    pub es_token: String,
    /// RSA modulus and exponent, big-endian.
    pub rsa_n: Vec<u8>,
    pub rsa_e: Vec<u8>,
    pub provider: ProviderConfig,
}

fn claims() -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    json!({
        "iss": ISSUER, "aud": "sts.amazonaws.com", "exp": now + 3600, "iat": now, "nbf": now - 5,
        "sub": "repo:acme/app:ref:refs/heads/main", "repository": "acme/app",
        "repository_owner": "acme", "ref": "refs/heads/main", "sha": "0123456789abcdef0123456789abcdef01234567",
        "workflow": "deploy", "job_workflow_ref": "acme/app/.github/workflows/deploy.yml@refs/heads/main",
        "actor": "octocat", "event_name": "push", "runner_environment": "github-hosted",
    })
    .to_string()
}

impl Fixture {
    pub fn new() -> Fixture {
        let rng = SystemRandom::new();
        let rsa = signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let rsa_public = signature::RsaPublicKeyComponents::<Vec<u8>>::from(rsa.public_key());
        let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = ec.public_key().as_ref().to_vec();
        let jwks = json!({"keys": [
            {"kty": "RSA", "kid": "rsa", "use": "sig", "n": B64.encode(&rsa_public.n), "e": B64.encode(&rsa_public.e)},
            {"kty": "EC", "kid": "ec", "use": "sig", "crv": "P-256", "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..])},
        ]});
        let input = |alg: &str, kid: &str| {
            let header = json!({"alg": alg, "kid": kid, "typ": "JWT"}).to_string();
            format!("{}.{}", B64.encode(header), B64.encode(claims()))
        };
        let rs_input = input("RS256", "rsa");
        let mut rs_sig = vec![0; rsa.public_modulus_len()];
        rsa.sign(
            &signature::RSA_PKCS1_SHA256,
            &rng,
            rs_input.as_bytes(),
            &mut rs_sig,
        )
        .unwrap();
        let es_input = input("ES256", "ec");
        let es_sig = ec.sign(&rng, es_input.as_bytes()).unwrap();
        Fixture {
            rs_token: format!("{rs_input}.{}", B64.encode(&rs_sig)),
            es_token: format!("{es_input}.{}", B64.encode(es_sig.as_ref())),
            rsa_n: rsa_public.n,
            rsa_e: rsa_public.e,
            provider: ProviderConfig {
                account: ACCOUNT.to_owned(),
                issuer: ISSUER.to_owned(),
                accepted_issuers: Vec::new(),
                client_ids: vec!["sts.amazonaws.com".to_owned()],
                jwks_uri: None,
                allow_http: false,
                public_only: false,
                leeway: Duration::from_secs(60),
                refetch_interval: Duration::from_secs(10),
                max_key_age: Duration::from_secs(3600),
                fetch_timeout: None,
                static_keys: Some(serde_json::from_value(jwks).unwrap()),
            },
        }
    }
}
