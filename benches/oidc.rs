//! Web identity token verification speed with a cached key: `cargo bench --bench oidc`.
//!
//! - `verify_rs256` / `verify_es256`: `Registry::verify` of a GitHub Actions shaped token whose
//!   key is already held (parsing, key lookup, signature, claims), on a current-thread runtime.
//! - `rs256_signature_only`: the JWT library's RS256 check alone, for scale.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use sts_broker::clock::SystemClock;
use sts_broker::oidc::{ProviderConfig, Registry, install_crypto_provider};

const ISSUER: &str = "https://token.actions.githubusercontent.com";

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

fn bench(c: &mut Criterion) {
    install_crypto_provider();
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
    let rs_token = format!("{rs_input}.{}", B64.encode(&rs_sig));
    let es_input = input("ES256", "ec");
    let es_sig = ec.sign(&rng, es_input.as_bytes()).unwrap();
    let es_token = format!("{es_input}.{}", B64.encode(es_sig.as_ref()));

    let config = ProviderConfig {
        issuer: ISSUER.to_owned(),
        client_ids: vec!["sts.amazonaws.com".to_owned()],
        jwks_uri: None,
        allow_http: false,
        leeway: Duration::from_secs(60),
        refetch_interval: Duration::from_secs(10),
        max_key_age: Duration::from_secs(3600),
        static_keys: Some(serde_json::from_value(jwks).unwrap()),
    };
    let registry =
        Registry::new(vec![config], reqwest::Client::new(), Arc::new(SystemClock)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(registry.verify(&rs_token)).unwrap();
    runtime.block_on(registry.verify(&es_token)).unwrap();

    c.bench_function("verify_rs256", |b| {
        b.iter(|| {
            runtime
                .block_on(registry.verify(black_box(&rs_token)))
                .unwrap()
        })
    });
    c.bench_function("verify_es256", |b| {
        b.iter(|| {
            runtime
                .block_on(registry.verify(black_box(&es_token)))
                .unwrap()
        })
    });
    let key = jsonwebtoken::DecodingKey::from_rsa_raw_components(&rsa_public.n, &rsa_public.e);
    let (message, sig) = rs_token.rsplit_once('.').unwrap();
    c.bench_function("rs256_signature_only", |b| {
        b.iter(|| {
            jsonwebtoken::crypto::verify(
                black_box(sig),
                black_box(message.as_bytes()),
                &key,
                jsonwebtoken::Algorithm::RS256,
            )
            .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
