//! The in-process `AssumeRoleWithWebIdentity` path: `cargo bench --bench mint`.
//!
//! - `assume_role_with_web_identity`: `sts::dispatch` of a GitHub Actions RS256 token for a role
//!   with a typical GitHub trust policy: parameter checks, token verification (cached key),
//!   trust decision, minting, recording in the memory store, XML. Everything but HTTP and Redis.
//! - its parts, measured alone for the ratio: `verify_rs256` (token), `mint` (credentials only).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use sts_broker::broker::Broker;
use sts_broker::broker::RequestMeta;
use sts_broker::broker::throttle::Throttle;
use sts_broker::clock::SystemClock;
use sts_broker::config::Config;
use sts_broker::keys::SessionKeys;
use sts_broker::oidc::{FetchClients, Registry, install_crypto_provider};
use sts_broker::query::{self, Params};
use sts_broker::revocation::{Principals, Revocations};
use sts_broker::session::credentials;
use sts_broker::store::{MemoryStore, Store};

const CONFIG: &str = r#"
[[accounts]]
id = "111122223333"

[[oidc_providers]]
account = "111122223333"
issuer = "https://token.actions.githubusercontent.com"
client_ids = ["sts.amazonaws.com"]

[[roles]]
account = "111122223333"
name = "deploy"
trust_policy = '''
{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow",
   "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},
   "Action": "sts:AssumeRoleWithWebIdentity",
   "Condition": {
     "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
     "StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/app:*"},
     "ForAnyValue:StringEquals": {"token.actions.githubusercontent.com:repository_owner": ["acme", "acme-labs"]}}}
]}
'''
"#;

fn bench(c: &mut Criterion) {
    install_crypto_provider();
    let f = common::Fixture::new();
    let dir = std::env::temp_dir();
    let config = Config::from_toml(CONFIG, "bench.toml", &dir).unwrap();
    let keys = SessionKeys::from_material(&[("bench", [7; 32])]);
    let oidc = Registry::new(
        vec![f.provider.clone()],
        FetchClients::new(reqwest::Client::new()).unwrap(),
        Arc::new(SystemClock),
    )
    .unwrap();
    let store = Store::Memory(MemoryStore::default());
    let revocations = Revocations::new(
        store.clone(),
        Arc::new(SystemClock),
        Principals::of(&config),
    );
    let throttle = Throttle::new(config.rate_limits, store.clone(), Arc::new(SystemClock));
    let state = Broker {
        config,
        oidc,
        store,
        keys: keys.clone(),
        dev_issuer: None,
        clock: Arc::new(SystemClock),
        signing_keys: Default::default(),
        auth_cache: Default::default(),
        audit: Default::default(),
        revocations,
        saml_slots: sts_broker::broker::saml::slots(),
        password_slots: sts_broker::broker::passwords::slots(),
        simulation_slots: sts_broker::broker::simulation_slots(),
        stats: Default::default(),
        throttle: Arc::new(throttle),
        iam_layer: Default::default(),
        iam_sync: Default::default(),
        key_use: Default::default(),
    };
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "AssumeRoleWithWebIdentity")
        .append_pair("Version", "2011-06-15")
        .append_pair("RoleArn", "arn:aws:iam::111122223333:role/deploy")
        .append_pair("RoleSessionName", "gha-1234")
        .append_pair("WebIdentityToken", &f.rs_token)
        .finish();
    let meta = RequestMeta {
        request_id: "bench".to_owned(),
        source_ip: None,
        user_agent: Some("aws-sdk-rust".to_owned()),
        secure_transport: false,
        raw: Default::default(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let once = || {
        let params = Params::parse(body.as_bytes()).unwrap();
        runtime
            .block_on(query::dispatch(&state, &params, &meta))
            .unwrap()
    };
    assert!(once().contains("<AccessKeyId>ASIA"));

    c.bench_function("assume_role_with_web_identity", |b| {
        b.iter(|| black_box(once()))
    });
    c.bench_function("verify_rs256", |b| {
        b.iter(|| {
            runtime
                .block_on(state.oidc.verify(black_box(&f.rs_token), common::ACCOUNT))
                .unwrap()
        })
    });
    let now = time::OffsetDateTime::now_utc();
    c.bench_function("mint", |b| {
        b.iter(|| credentials::mint(&keys.ring(), now, now + time::Duration::hours(1)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
