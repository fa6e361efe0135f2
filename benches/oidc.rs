//! Web identity token verification speed with a cached key: `cargo bench --bench oidc`.
//!
//! - `verify_rs256` / `verify_es256`: `Registry::verify` of a GitHub Actions shaped token whose
//!   key is already held (parsing, key lookup, signature, claims), on a current-thread runtime.
//! - `rs256_signature_only`: the JWT library's RS256 check alone, for scale.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use sts_broker::clock::SystemClock;
use sts_broker::oidc::{FetchClients, Registry, install_crypto_provider};

fn bench(c: &mut Criterion) {
    install_crypto_provider();
    let f = common::Fixture::new();
    let registry = Registry::new(
        vec![f.provider.clone()],
        FetchClients::new(reqwest::Client::new()).unwrap(),
        Arc::new(SystemClock),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime
        .block_on(registry.verify(&f.rs_token, common::ACCOUNT))
        .unwrap();
    runtime
        .block_on(registry.verify(&f.es_token, common::ACCOUNT))
        .unwrap();

    c.bench_function("verify_rs256", |b| {
        b.iter(|| {
            runtime
                .block_on(registry.verify(black_box(&f.rs_token), common::ACCOUNT))
                .unwrap()
        })
    });
    c.bench_function("verify_es256", |b| {
        b.iter(|| {
            runtime
                .block_on(registry.verify(black_box(&f.es_token), common::ACCOUNT))
                .unwrap()
        })
    });
    let key = jsonwebtoken::DecodingKey::from_rsa_raw_components(&f.rsa_n, &f.rsa_e);
    let (message, sig) = f.rs_token.rsplit_once('.').unwrap();
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
