//! One authorize decision, in process: `cargo bench --bench authorize`.
//!
//! - `decision`: `authz::authorize` of an S3-style `GET` signed by the AWS SDK's signer with a
//!   role session's credentials: SigV4 parse and verify (signing key cached), the session token,
//!   the session from the `AuthCache` (its policies compiled once), and the decision with a
//!   realistic role policy (12 statements, conditions, variables), a permissions boundary and
//!   an inline session policy. Everything but HTTP.
//! - `sigv4_verify`: parse + verify of the same request alone, the ratio's baseline.
//!
//! Goal: 100,000 decisions per second per core (10 µs each).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use criterion::{Criterion, criterion_group, criterion_main};
use sts_broker::authz::{Forwarded, Question, authorize};
use sts_broker::broker::Broker;
use sts_broker::broker::role_session::{self, NewSession};
use sts_broker::broker::throttle::Throttle;
use sts_broker::broker::{RawRequest, RequestMeta};
use sts_broker::clock::ManualClock;
use sts_broker::config::Config;
use sts_broker::keys::SessionKeys;
use sts_broker::oidc::{FetchClients, Registry};
use sts_broker::policy::{Context, Resource};
use sts_broker::revocation::{Principals, Revocations};
use sts_broker::session::{Lineage, Origin};
use sts_broker::sigv4::{self, DEFAULT_MAX_SKEW, Payload, SignedRequest, SigningKey};
use sts_broker::store::{MemoryStore, Store};

const SIGNED_AT: u64 = 1_700_000_000;

const CONFIG: &str = r#"
[[accounts]]
id = "111122223333"

[[policies]]
account = "111122223333"
name = "boundary"
file = "/dev/null"

[[roles]]
account = "111122223333"
name = "app"
trust_policy = '''{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole"}]}'''
tags = { team = "payments" }
"#;

/// A role policy of the size services attach: a dozen statements, some with conditions.
const ROLE_POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "arn:aws:logs:*:111122223333:log-group:/app/*"},
  {"Sid": "Queue", "Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage"], "Resource": "arn:aws:sqs:us-east-1:111122223333:orders-*"},
  {"Sid": "Table", "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"], "Resource": "arn:aws:dynamodb:us-east-1:111122223333:table/orders"},
  {"Sid": "Secrets", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "arn:aws:secretsmanager:us-east-1:111122223333:secret:app/*"},
  {"Sid": "Kms", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*", "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}},
  {"Sid": "ListBucket", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::app-bucket", "Condition": {"StringLike": {"s3:prefix": ["home/${aws:PrincipalTag/team}/*"]}}},
  {"Sid": "TeamObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::app-bucket/home/${aws:PrincipalTag/team}/*"},
  {"Sid": "Shared", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::app-bucket/shared/*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
  {"Sid": "Metrics", "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*", "Condition": {"StringEquals": {"cloudwatch:namespace": "App"}}},
  {"Sid": "NoDeletes", "Effect": "Deny", "Action": ["s3:DeleteObject", "s3:DeleteBucket"], "Resource": "*"},
  {"Sid": "OnlyFromVpc", "Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}, "Bool": {"aws:ViaAWSService": "false"}}},
  {"Sid": "Params", "Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "arn:aws:ssm:us-east-1:111122223333:parameter/app/*"}
]}"#;

const BOUNDARY: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["s3:*", "logs:*", "sqs:*", "dynamodb:*", "kms:*", "secretsmanager:GetSecretValue", "cloudwatch:PutMetricData", "ssm:Get*"], "Resource": "*"}]}"#;

const SESSION_POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"},
  {"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}"#;

fn state(dir: &std::path::Path) -> Broker {
    std::fs::write(dir.join("boundary.json"), BOUNDARY).unwrap();
    std::fs::write(dir.join("role.json"), ROLE_POLICY).unwrap();
    let toml = CONFIG.replace("/dev/null", "boundary.json")
        + "policy_files = [\"role.json\"]\npermissions_boundary = \"arn:aws:iam::111122223333:policy/boundary\"\n";
    let config = Config::from_toml(&toml, "bench.toml", dir).unwrap();
    let clock = Arc::new(ManualClock::new(
        time::OffsetDateTime::from_unix_timestamp(SIGNED_AT as i64).unwrap(),
    ));
    let store = Store::Memory(MemoryStore::default());
    let revocations = Revocations::new(store.clone(), clock.clone(), Principals::of(&config));
    let throttle = Throttle::new(config.rate_limits, store.clone(), clock.clone());
    Broker {
        config,
        oidc: Registry::new(
            Vec::new(),
            FetchClients::new(reqwest::Client::new()).unwrap(),
            clock.clone(),
        )
        .unwrap(),
        store,
        keys: SessionKeys::from_material(&[("bench", [7; 32])]),
        dev_issuer: None,
        clock,
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
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let meta = RequestMeta {
        request_id: "bench".to_owned(),
        source_ip: None,
        user_agent: None,
        secure_transport: true,
        raw: RawRequest::default(),
    };
    let role = state
        .config
        .iam
        .role("arn:aws:iam::111122223333:role/app")
        .unwrap();
    let issued = rt
        .block_on(role_session::issue(
            &state,
            &meta,
            NewSession {
                principal: role_session::role_principal(role, "bench"),
                account: "111122223333",
                duration: 3600,
                max_duration: 3600,
                now: state.clock.now(),
                origin: Origin::AssumeRole,
                provider: None,
                subject: None,
                audience: None,
                source_identity: Some("alice".to_owned()),
                context: BTreeMap::new(),
                session_policy: Some(SESSION_POLICY),
                policy_arns: &[],
                tags: BTreeMap::new(),
                transitive_tag_keys: Vec::new(),
                mfa_authenticated_at: None,
                chained: false,
                lineage: Lineage::default(),
            },
        ))
        .unwrap();
    let creds = &issued.credentials;

    // The client's request, signed as the SDK signs it.
    let host = "objects.example.com";
    let path = "/app-bucket/home/payments/report.csv";
    let mut headers: Vec<(String, String)> = vec![
        ("host".to_owned(), host.to_owned()),
        (
            "user-agent".to_owned(),
            "aws-sdk-rust/1.3.9 os/linux lang/rust/1.95.0".to_owned(),
        ),
    ];
    let identity = aws_credential_types::Credentials::new(
        &creds.access_key_id,
        creds.secret_access_key.expose(),
        Some(creds.session_token.expose().to_owned()),
        None,
        "bench",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(UNIX_EPOCH + Duration::from_secs(SIGNED_AT))
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "GET",
        format!("https://{host}{path}"),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(b""),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    for (n, v) in instructions.headers() {
        headers.push((n.to_owned(), v.to_owned()));
    }
    let forwarded = Forwarded {
        request: SignedRequest {
            method: "GET",
            path,
            query: "",
            headers: &headers,
            body: b"",
        },
        payload: Payload::Declared,
        service: "s3",
        allow_presigned: false,
    };
    let mut context = Context::new();
    context.insert("aws:SourceIp", "10.1.2.3");
    context.insert("aws:SecureTransport", "true");
    context.insert("aws:ViaAWSService", "false");
    let question = Question {
        action: "s3:GetObject".to_owned(),
        resource: Resource::new("arn:aws:s3:::app-bucket/home/payments/report.csv"),
        context,
        resource_policy: None,
    };
    let first = rt
        .block_on(authorize(&state, &forwarded, question.clone(), "bench"))
        .unwrap();
    assert!(first.allowed(), "{:?}", first.explanation());

    let mut group = c.benchmark_group("authorize");
    group.bench_function("decision", |b| {
        b.iter(|| {
            let answer = rt
                .block_on(authorize(
                    &state,
                    black_box(&forwarded),
                    question.clone(),
                    "bench",
                ))
                .unwrap();
            black_box(answer.allowed())
        });
    });
    let parsed = sigv4::parse(&forwarded.request).unwrap();
    let key = SigningKey::derive(creds.secret_access_key.expose(), &parsed.credential);
    let now = state.clock.now();
    group.bench_function("sigv4_verify", |b| {
        b.iter(|| {
            let parsed = sigv4::parse(black_box(&forwarded.request)).unwrap();
            sigv4::verify_payload(
                &forwarded.request,
                &parsed,
                &key,
                now,
                DEFAULT_MAX_SKEW,
                Payload::Declared,
            )
            .unwrap();
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
