//! Policy engine speed: `cargo bench --bench policy`.
//!
//! - `trust_check`: a GitHub Actions style trust policy of 5 statements with 3 conditions
//!   (`StringEquals` on `aud`, `StringLike` on `sub`, `ForAnyValue:StringLike` on `amr`).
//! - `identity_boundary_session_50`: 50 statements across identity policies, a permissions
//!   boundary and a session policy, with the allowing statements last.
//! - `parse_trust_policy`: compiling the trust policy, for scale (done once per config load).
//! - `validate_trust_policy`: `ValidatePolicy`'s findings for that trust policy.
//! - `validate_largest_policy`: the findings for a 2,200-statement identity policy near the
//!   largest document accepted, whose statement pairs exhaust the redundancy check's budget.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sts_broker::policy::{
    Context, ContextValue, NamedPolicy, PolicySet, PolicyType, Principal, Request, Resource,
    decide, parse, validate_policy,
};

const PROVIDER: &str =
    "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com";

fn trust_policy() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"DenyForks","Effect":"Deny","Principal":{{"Federated":"{PROVIDER}"}},
          "Action":"sts:AssumeRoleWithWebIdentity",
          "Condition":{{"StringLike":{{"token.actions.githubusercontent.com:sub":"repo:evil/*"}}}}}},
        {{"Sid":"Saml","Effect":"Allow","Principal":{{"Federated":"arn:aws:iam::111122223333:saml-provider/adfs"}},
          "Action":"sts:AssumeRoleWithSAML"}},
        {{"Sid":"Ops","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::444455556666:role/ops"}},
          "Action":"sts:AssumeRole"}},
        {{"Sid":"Tags","Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:TagSession"}},
        {{"Sid":"GitHub","Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},
          "Action":"sts:AssumeRoleWithWebIdentity",
          "Condition":{{
            "StringEquals":{{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}},
            "StringLike":{{"token.actions.githubusercontent.com:sub":"repo:acme/app:*"}},
            "ForAnyValue:StringLike":{{"token.actions.githubusercontent.com:amr":["push*","workflow_dispatch"]}}}}}}
        ]}}"#
    )
}

fn trust_request() -> Request {
    let mut ctx = Context::new();
    ctx.insert(
        "token.actions.githubusercontent.com:aud",
        "sts.amazonaws.com",
    );
    ctx.insert(
        "token.actions.githubusercontent.com:sub",
        "repo:acme/app:ref:refs/heads/main",
    );
    ctx.insert_value(
        "token.actions.githubusercontent.com:amr",
        ContextValue::Multi(vec!["push".into(), "ci".into()]),
    );
    Request::new(
        Principal::parse(PROVIDER).unwrap(),
        "sts:AssumeRoleWithWebIdentity",
        Resource::new("arn:aws:iam::111122223333:role/deploy"),
        ctx,
    )
}

/// `n` statements that do not apply (other services), then `allow` as the last statement.
fn policy_with(n: usize, allow: &str, t: PolicyType) -> NamedPolicy {
    let mut statements: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"Sid":"S{i}","Effect":"Allow","Action":["ec2:Describe{i}*","rds:Get{i}"],
                   "Resource":"arn:aws:ec2:*:111122223333:instance/i-{i}*",
                   "Condition":{{"StringEquals":{{"aws:PrincipalTag/team":"t{i}"}}}}}}"#
            )
        })
        .collect();
    statements.push(allow.to_owned());
    let text = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    );
    NamedPolicy::new(format!("{t:?}"), parse(&text, t).unwrap())
}

fn bench(c: &mut Criterion) {
    let text = trust_policy();
    let trust = NamedPolicy::new("trust", parse(&text, PolicyType::Trust).unwrap());
    let request = trust_request();
    let set = PolicySet {
        resource: Some(&trust),
        resource_type: PolicyType::Trust,
        ..PolicySet::default()
    };
    assert!(decide(&request, &set).decision.is_allowed());
    c.bench_function("trust_check", |b| {
        b.iter(|| black_box(decide(black_box(&request), black_box(&set))))
    });

    let allow_get = r#"{"Sid":"Read","Effect":"Allow","Action":"s3:Get*","Resource":"arn:aws:s3:::data/${aws:username}/*",
        "Condition":{"Bool":{"aws:SecureTransport":"true"},"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}}}"#;
    let identity = vec![
        policy_with(19, allow_get, PolicyType::Identity),
        policy_with(9, allow_get, PolicyType::Identity),
    ];
    let boundary = vec![policy_with(
        9,
        r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"}"#,
        PolicyType::PermissionsBoundary,
    )];
    let session = vec![policy_with(
        9,
        r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/*"}"#,
        PolicyType::Session,
    )];
    let statements: usize = identity
        .iter()
        .chain(&boundary)
        .chain(&session)
        .map(|p| p.policy.statements.len())
        .sum();
    assert_eq!(statements, 50);
    let mut ctx = Context::new();
    ctx.insert("aws:username", "alice");
    ctx.insert("aws:SecureTransport", "true");
    ctx.insert("aws:SourceIp", "10.1.2.3");
    ctx.insert("aws:PrincipalTag/team", "data");
    let request = Request::new(
        Principal::parse("arn:aws:sts::111122223333:assumed-role/reader/alice").unwrap(),
        "s3:GetObject",
        Resource::new("arn:aws:s3:::data/alice/report.csv").with_account("111122223333"),
        ctx,
    );
    let set = PolicySet {
        identity: &identity,
        boundary: &boundary,
        session: &session,
        ..PolicySet::default()
    };
    assert!(decide(&request, &set).decision.is_allowed());
    c.bench_function("identity_boundary_session_50", |b| {
        b.iter(|| black_box(decide(black_box(&request), black_box(&set))))
    });

    c.bench_function("parse_trust_policy", |b| {
        b.iter(|| black_box(parse(black_box(&text), PolicyType::Trust).unwrap()))
    });

    c.bench_function("validate_trust_policy", |b| {
        b.iter(|| black_box(validate_policy(black_box(&text), PolicyType::Trust)))
    });

    let statements: Vec<String> = (0..2200)
        .map(|i| format!(r#"{{"Effect":"Allow","Action":"s3:Get{i}x","Resource":"*"}}"#))
        .collect();
    let largest = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    );
    assert!(validate_policy(&largest, PolicyType::Identity).is_empty());
    c.bench_function("validate_largest_policy", |b| {
        b.iter(|| black_box(validate_policy(black_box(&largest), PolicyType::Identity)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
