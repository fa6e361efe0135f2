//! SigV4 verification speed: `cargo bench --bench sigv4`.
//!
//! - `verify_sts_post`: `parse` + `verify` of a `GetCallerIdentity` form POST signed by the AWS
//!   SDK's signer (`aws-sigv4`) with the headers an SDK sends (ten, seven of them signed).
//! - `parse_only`: reading the `Authorization` header alone, for scale.
//! - `revocation_check_10k`: `Revocations::check` of a session chained from two others (three
//!   sets of lookups, none revoked) against 10,000 revoked sessions, subjects and roles: the
//!   cost revocation adds to every authenticated request.
//! - `cpu/*`: thread CPU time (not wall time) of `parse` + `verify` for hostile requests an
//!   unauthenticated client can send, next to `cpu/verify_sts_post`, the ordinary request, in
//!   the same run: `cpu/hostile_header_400k` (an `Authorization` header as large as the HTTP
//!   server admits, naming ~55,000 signed headers), `cpu/hostile_header_8k_names` (just under
//!   the length bound, ~1,200 names), `cpu/hostile_max_signed` (128 signed headers of the
//!   longest names that fit, all present, verified to the end) and `cpu/hostile_max_query`
//!   (1,024 query parameters, presigned).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, criterion_group, criterion_main};
use sts_broker::clock::ManualClock;
use sts_broker::revocation::{Principals, Revocation, Revocations};
use sts_broker::session::{Lineage, Origin, SessionPrincipal, SessionRecord};
use sts_broker::sigv4::{self, DEFAULT_MAX_SKEW, SignedRequest};
use sts_broker::store::Store;
use time::OffsetDateTime;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const BODY: &[u8] = b"Action=GetCallerIdentity&Version=2011-06-15";
const SIGNED_AT: u64 = 1_700_000_000;

/// An SDK-shaped GetCallerIdentity request, signed as the SDK signs it.
fn signed_request() -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = [
        ("host", "sts.us-east-1.amazonaws.com"),
        ("content-type", "application/x-www-form-urlencoded"),
        ("content-length", "43"),
        ("user-agent", "aws-sdk-rust/1.3.9 os/linux lang/rust/1.95.0"),
        (
            "x-amz-user-agent",
            "aws-sdk-rust/1.3.9 api/sts/1.124.0 os/linux lang/rust/1.95.0",
        ),
        (
            "amz-sdk-invocation-id",
            "4a1b7c5e-2f0d-4d8e-9c7a-3b6f1e2d0a9c",
        ),
        ("amz-sdk-request", "attempt=1; max=3"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let identity = aws_credential_types::Credentials::new(
        "AKIDEXAMPLE",
        SECRET,
        Some("FwoGZXIvYXdzEXAMPLEsessiontoken".to_owned()),
        None,
        "bench",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sts")
        .time(UNIX_EPOCH + Duration::from_secs(SIGNED_AT))
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        "https://sts.us-east-1.amazonaws.com/",
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(BODY),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    for (name, value) in instructions.headers() {
        headers.push((name.to_owned(), value.to_owned()));
    }
    headers
}

fn bench(c: &mut Criterion) {
    let headers = signed_request();
    assert_eq!(headers.len(), 10, "{headers:?}");
    let req = SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: BODY,
    };
    let now = OffsetDateTime::from_unix_timestamp(SIGNED_AT as i64).unwrap();
    let parsed = sigv4::parse(&req).unwrap();
    sigv4::verify(&req, &parsed, SECRET, now, DEFAULT_MAX_SKEW).unwrap();

    c.bench_function("verify_sts_post", |b| {
        b.iter(|| {
            let req = black_box(&req);
            let parsed = sigv4::parse(req).unwrap();
            sigv4::verify(req, &parsed, black_box(SECRET), now, DEFAULT_MAX_SKEW).unwrap()
        })
    });
    // As the service runs it: the day's signing key is cached per access key and scope.
    let key = sigv4::SigningKey::derive(SECRET, &parsed.credential);
    c.bench_function("verify_sts_post_cached_key", |b| {
        b.iter(|| {
            let req = black_box(&req);
            let parsed = sigv4::parse(req).unwrap();
            sigv4::verify_with_key(req, &parsed, &key, now, DEFAULT_MAX_SKEW).unwrap()
        })
    });
    c.bench_function("parse_only", |b| {
        b.iter(|| sigv4::parse(black_box(&req)).unwrap())
    });

    let revocations = revocations_10k();
    let mut record = session_record("ASIAQQQQQQQQQQQQQQQA", 0);
    for last in ["B", "C"] {
        record.lineage = Lineage::chained_from(&record).unwrap();
        record.access_key_id = format!("ASIAQQQQQQQQQQQQQQQ{last}");
    }
    assert_eq!(revocations.len(), 10_000);
    assert!(revocations.check(&record).is_ok());
    c.bench_function("revocation_check_10k", |b| {
        b.iter(|| revocations.check(black_box(&record)).unwrap())
    });
}

/// CPU time of the calling thread, in nanoseconds: what a request costs a runtime worker,
/// whatever else the machine is doing.
struct ThreadCpu;

impl Measurement for ThreadCpu {
    type Intermediate = u128;
    type Value = u128;

    fn start(&self) -> u128 {
        thread_cpu_nanos()
    }
    fn end(&self, start: u128) -> u128 {
        thread_cpu_nanos() - start
    }
    fn add(&self, a: &u128, b: &u128) -> u128 {
        a + b
    }
    fn zero(&self) -> u128 {
        0
    }
    fn to_f64(&self, v: &u128) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WallTime.formatter()
    }
}

fn thread_cpu_nanos() -> u128 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as u128 * 1_000_000_000 + t.tv_nsec as u128
}

fn authorization(names: &[String]) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/sts/aws4_request, \
         SignedHeaders={}, Signature={}",
        names.join(";"),
        "0".repeat(64)
    )
}

/// `parse` then `verify` as the service runs them; the outcome (always a refusal here) is
/// returned so it is not optimized away.
fn parse_and_verify(req: &SignedRequest, now: OffsetDateTime) -> bool {
    match sigv4::parse(req) {
        Ok(parsed) => sigv4::verify(req, &parsed, SECRET, now, DEFAULT_MAX_SKEW).is_ok(),
        Err(_) => false,
    }
}

fn bench_hostile(c: &mut Criterion<ThreadCpu>) {
    let now = OffsetDateTime::from_unix_timestamp(SIGNED_AT as i64).unwrap();
    let date = ("x-amz-date".to_owned(), "20231114T221320Z".to_owned());
    let host = ("host".to_owned(), "sts.us-east-1.amazonaws.com".to_owned());
    let request = |headers: &[(String, String)], query: &str| -> bool {
        parse_and_verify(
            &SignedRequest {
                method: "POST",
                path: "/",
                query,
                headers,
                body: BODY,
            },
            now,
        )
    };
    let mut group = c.benchmark_group("cpu");

    let ordinary = signed_request();
    group.bench_function("verify_sts_post", |b| {
        b.iter(|| {
            assert!(request(black_box(&ordinary), ""));
        })
    });

    let names: Vec<String> = (0..55_000).map(|i| format!("h{i}")).collect();
    let huge = vec![
        host.clone(),
        date.clone(),
        ("authorization".to_owned(), authorization(&names)),
    ];
    assert!(huge[2].1.len() > 300_000);
    group.bench_function("hostile_header_400k", |b| {
        b.iter(|| assert!(!request(black_box(&huge), "")))
    });

    let names: Vec<String> = (0..1_200).map(|i| format!("h{i}")).collect();
    let under = vec![
        host.clone(),
        date.clone(),
        ("authorization".to_owned(), authorization(&names)),
    ];
    assert!(under[2].1.len() <= sigv4::MAX_AUTHORIZATION_LEN);
    group.bench_function("hostile_header_8k_names", |b| {
        b.iter(|| assert!(!request(black_box(&under), "")))
    });

    // As many signed headers as allowed, names as long as the length bound leaves room for,
    // each present with a long value: parse succeeds and verification builds the whole
    // canonical request before refusing the signature.
    let name_len = (sigv4::MAX_AUTHORIZATION_LEN - 200) / sigv4::MAX_SIGNED_HEADERS - 1;
    let mut names: Vec<String> = vec!["host".to_owned(), "x-amz-date".to_owned()];
    for i in 0..sigv4::MAX_SIGNED_HEADERS - 2 {
        names.push(format!("x-{i:04}-{}", "a".repeat(name_len - 7)));
    }
    let mut full = vec![host.clone(), date.clone()];
    for name in &names[2..] {
        full.push((name.clone(), "v ".repeat(256)));
    }
    full.push(("authorization".to_owned(), authorization(&names)));
    assert!(full.last().unwrap().1.len() <= sigv4::MAX_AUTHORIZATION_LEN);
    assert!(
        sigv4::parse(&SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &full,
            body: BODY,
        })
        .is_ok()
    );
    group.bench_function("hostile_max_signed", |b| {
        b.iter(|| assert!(!request(black_box(&full), "")))
    });

    // A presigned request with the most query parameters allowed, each with a long value
    // (a URI holds at most 64 KiB).
    let mut query = String::from(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20231114%2Fus-east-1%2Fsts%2Faws4_request\
         &X-Amz-Date=20231114T221320Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host\
         &X-Amz-Signature=0000000000000000000000000000000000000000000000000000000000000000",
    );
    for i in 0..sigv4::MAX_QUERY_PARAMS - 6 {
        query.push_str(&format!("&p{i:04}=%7E%7E%7E%7E%7E%7E%7E%7E%7E%7E%7E"));
    }
    assert!(query.len() < 65_535);
    let presigned_headers = vec![host.clone()];
    assert!(
        sigv4::parse(&SignedRequest {
            method: "GET",
            path: "/",
            query: &query,
            headers: &presigned_headers,
            body: b"",
        })
        .is_ok()
    );
    group.bench_function("hostile_max_query", |b| {
        b.iter(|| assert!(!request(black_box(&presigned_headers), black_box(&query))))
    });
    group.finish();
}

fn session_record(access_key_id: &str, n: usize) -> SessionRecord {
    SessionRecord {
        access_key_id: access_key_id.to_owned(),
        key_id: "k".to_owned(),
        origin: Origin::AssumeRoleWithWebIdentity,
        account: "111122223333".to_owned(),
        principal: SessionPrincipal::Role {
            role_arn: format!("arn:aws:iam::111122223333:role/role-{n}"),
            role_id: "AROAEXAMPLE".to_owned(),
            session_name: "s".to_owned(),
            assumed_role_arn: "arn:aws:sts::111122223333:assumed-role/r/s".to_owned(),
        },
        issued_at: 1_700_000_000,
        expires_at: 1_700_003_600,
        provider: Some("arn:aws:iam::111122223333:oidc-provider/idp.example".to_owned()),
        subject: Some(format!("repo:org/app-{n}:ref:refs/heads/main")),
        audience: None,
        source_identity: None,
        context: BTreeMap::new(),
        session_policy: None,
        policy_arns: Vec::new(),
        tags: BTreeMap::new(),
        transitive_tag_keys: Vec::new(),
        mfa_authenticated_at: None,
        chained: false,
        lineage: Lineage::default(),
    }
}

/// 10,000 rules: 2,000 sessions, 4,000 subjects, 4,000 roles (none matching the probe).
fn revocations_10k() -> Revocations {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::open("memory://").await.unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_100).unwrap();
        let clock = Arc::new(ManualClock::new(now));
        // Revocations name configured principals only.
        let mut principals = Principals::default();
        principals.providers.insert(
            "arn:aws:iam::111122223333:oidc-provider/idp.example".to_owned(),
            86_400,
        );
        for i in 0..4_000 {
            principals
                .roles
                .insert(format!("arn:aws:iam::111122223333:role/revoked-{i}"), 3600);
        }
        let revocations = Revocations::new(store.clone(), clock, principals);
        let keys = sts_broker::keys::SessionKeys::from_material(&[("k", [7; 32])]);
        revocations.set_session_keys(keys.clone());
        let mut all = Vec::new();
        for i in 0..2_000 {
            let letters: String = format!("{i:09}")
                .bytes()
                .map(|d| char::from(b'A' + (d - b'0')))
                .collect();
            let akid = format!("ASIAREVOKED{letters}");
            store
                .put_session(
                    &session_record(&akid, i),
                    &keys.snapshot(),
                    Duration::from_secs(3600),
                )
                .await
                .unwrap();
            all.push(Revocation::Session {
                access_key_id: akid,
            });
        }
        for i in 0..4_000 {
            all.push(Revocation::Subject {
                provider: "arn:aws:iam::111122223333:oidc-provider/idp.example".to_owned(),
                subject: format!("repo:org/revoked-{i}:ref:refs/heads/main"),
            });
            all.push(Revocation::Role {
                role_arn: format!("arn:aws:iam::111122223333:role/revoked-{i}"),
            });
        }
        for r in all {
            revocations.revoke(r, now).await.unwrap();
        }
        revocations
    })
}

criterion_group!(benches, bench);
criterion_group! {
    name = hostile;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = bench_hostile
}
criterion_main!(benches, hostile);
