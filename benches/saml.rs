//! SAML response verification speed: `cargo bench --bench saml`.
//!
//! The fixture is made at start, as the integration tests make theirs: a fresh RSA-2048 key and
//! self-signed certificate from `openssl`, a response whose assertion `xmlsec1` signs with
//! RSA-SHA256 (no key is committed).
//!
//! - `saml_verify_rsa_sha256`: `saml::verify` of the base64 response (decode, bounded parse,
//!   shape rules, xmlsec verification and reduction to the signed subset, re-parse, semantic
//!   checks), as `AssumeRoleWithSAML` runs it on the blocking pool.
//! - `rsa_sha256_signature_only`: OpenSSL's RSA-2048 SHA-256 verification of one signature over
//!   a SignedInfo-sized message with the same key, the ratio baseline.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[allow(dead_code)]
#[path = "../tests/it/harness/saml.rs"]
mod idp;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::{Signer, Verifier};
use sts_broker::saml;
use time::OffsetDateTime;

const PROVIDER: &str = "arn:aws:iam::111122223333:saml-provider/corp";
const ROLE: &str = "arn:aws:iam::111122223333:role/saml";

fn bench(c: &mut Criterion) {
    let idp = idp::TestSamlIdp::new();
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let mut response = idp.response(now, ROLE, PROVIDER);
    response.not_on_or_after = now + time::Duration::hours(6);
    let encoded = idp.encode(&response);
    let metadata = saml::parse_metadata(&idp.metadata()).unwrap();
    let trust = saml::Trust {
        metadata: &metadata,
        audience: idp::AWS_SAML,
        recipient: idp::AWS_SAML,
        leeway_seconds: 0,
        allow_sha1: false,
    };
    let verified = saml::verify(&encoded, &trust, now).unwrap();
    assert_eq!(verified.name_id, response.name_id);
    println!("response: {} base64 characters", encoded.len());

    c.bench_function("saml_verify_rsa_sha256", |b| {
        b.iter(|| saml::verify(black_box(&encoded), &trust, now).unwrap())
    });

    let pem = std::fs::read(idp.dir.path().join("idp.key")).unwrap();
    let key = PKey::private_key_from_pem(&pem).unwrap();
    let message = vec![b'x'; 600];
    let mut signer = Signer::new(MessageDigest::sha256(), &key).unwrap();
    signer.update(&message).unwrap();
    let signature = signer.sign_to_vec().unwrap();
    let public = PKey::public_key_from_pem(&key.public_key_to_pem().unwrap()).unwrap();
    c.bench_function("rsa_sha256_signature_only", |b| {
        b.iter(|| {
            let mut v = Verifier::new(MessageDigest::sha256(), &public).unwrap();
            v.update(black_box(&message)).unwrap();
            assert!(v.verify(black_box(&signature)).unwrap());
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
