//! SigV4 verification speed: `cargo bench --bench sigv4`.
//!
//! - `verify_sts_post`: `parse` + `verify` of a `GetCallerIdentity` form POST signed by the AWS
//!   SDK's signer (`aws-sigv4`) with the headers an SDK sends (ten, seven of them signed).
//! - `parse_only`: reading the `Authorization` header alone, for scale.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use criterion::{Criterion, criterion_group, criterion_main};
use sts_broker::sigv4::{self, DEFAULT_MAX_SKEW, SignedRequest};
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
