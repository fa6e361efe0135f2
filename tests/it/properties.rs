//! Property tests for invariants a fuzzer cannot see, because they relate two computations:
//! a request signed by the AWS SDK's signer verifies with `sigv4`; a policy printed and parsed
//! again decides like the original; an ext_authz route's resource is its template filled with
//! exactly the path segments the pattern's variables stand on.

use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use proptest::prelude::*;
use serde_json::{Value, json};
use sts_broker::fuzzing;
use sts_broker::policy::{
    self, Context, NamedPolicy, PolicySet, PolicyType, Principal, Request, Resource,
};
use sts_broker::routes::Route;
use sts_broker::sigv4::{self, DEFAULT_MAX_SKEW, SignedRequest};
use time::OffsetDateTime;

use crate::harness::signer::Signer;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SIGNED_AT: u64 = 1_700_000_000;

/// Percent-encodes every byte outside the unreserved set.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A path segment as a client writes it: unreserved text, sometimes with encoded characters.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_~-]{1,8}",
        "[A-Za-z0-9 +=@:,]{1,8}".prop_map(|s| encode(&s)),
    ]
}

fn query() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[A-Za-z0-9_.-]{1,6}", "[A-Za-z0-9 _.+/=-]{0,8}"), 0..4)
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        ("x-amz-meta-[a-z]{1,6}", "[!-~]{1,6}( {1,3}[!-~]{1,6}){0,2}"),
        0..3,
    )
}

fn url(path: &[String], query: &[(String, String)]) -> (String, String) {
    let path = format!("/{}", path.join("/"));
    let query = query
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    (path, query)
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(SIGNED_AT as i64).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// canonicalize(sign(x)) verifies: header-signed by the SDK's signer, for any method, path,
    /// query, extra headers and body, with or without a declared payload hash.
    #[test]
    fn header_signed_requests_verify(
        method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE"]),
        path in prop::collection::vec(segment(), 0..4),
        query in query(),
        extra in headers(),
        body in prop::collection::vec(any::<u8>(), 0..64),
        declare in any::<bool>(),
    ) {
        let (path, query) = url(&path, &query);
        let target = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
        let full = format!("https://service.example.com{target}");
        let mut headers: Vec<(String, String)> = vec![("host".into(), "service.example.com".into())];
        headers.extend(extra);
        let borrowed: Vec<(&str, &str)> =
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let signer = Signer::new("AKIDEXAMPLE", SECRET, Some("token-value"));
        let time = UNIX_EPOCH + Duration::from_secs(SIGNED_AT);
        headers.extend(signer.sign_at("execute-api", method, &full, &borrowed, &body, declare, time));
        let req = SignedRequest { method, path: &path, query: &query, headers: &headers, body: &body };
        let parsed = sigv4::parse(&req).unwrap();
        prop_assert_eq!(parsed.security_token.as_ref().map(sts_broker::secret::SessionToken::expose), Some("token-value"));
        prop_assert!(sigv4::verify(&req, &parsed, SECRET, now(), DEFAULT_MAX_SKEW).is_ok());
        prop_assert!(sigv4::verify(&req, &parsed, "other", now(), DEFAULT_MAX_SKEW).is_err());
    }

    /// The same for presigned URLs: the signature in the query verifies.
    #[test]
    fn presigned_requests_verify(
        path in prop::collection::vec(segment(), 0..4),
        query in query(),
    ) {
        let (path, query) = url(&path, &query);
        let target = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
        let full = format!("https://service.example.com{target}");
        let identity = Credentials::new("AKIDEXAMPLE", SECRET, None, None, "test").into();
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(900));
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("sts")
            .time(UNIX_EPOCH + Duration::from_secs(SIGNED_AT))
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let headers = vec![("host".to_owned(), "service.example.com".to_owned())];
        let signable = SignableRequest::new(
            "GET",
            &full,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(b""),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut signed_query = query.clone();
        for (name, value) in instructions.params() {
            if !signed_query.is_empty() {
                signed_query.push('&');
            }
            signed_query.push_str(&format!("{}={}", encode(name), encode(value)));
        }
        let req = SignedRequest { method: "GET", path: &path, query: &signed_query, headers: &headers, body: b"" };
        let parsed = sigv4::parse(&req).unwrap();
        prop_assert!(parsed.presigned);
        prop_assert!(sigv4::verify(&req, &parsed, SECRET, now(), DEFAULT_MAX_SKEW).is_ok());
    }
}

fn statement() -> impl Strategy<Value = Value> {
    let actions = prop::sample::subsequence(
        vec![
            "s3:GetObject",
            "s3:Get*",
            "s3:*",
            "*",
            "sts:AssumeRole",
            "ec2:Describe?nstances",
            "S3:getobject",
        ],
        1..3,
    );
    let resources = prop::sample::subsequence(
        vec![
            "*",
            "arn:aws:s3:::data/*",
            "arn:aws:s3:::data/${aws:username}/*",
            "arn:aws:s3:::other/*",
            "arn:aws:iam::111122223333:role/deploy",
            "arn:aws:s3:::da?a/al*",
        ],
        1..3,
    );
    let conditions = prop::sample::select(vec![
        Value::Null,
        json!({"StringEquals": {"aws:username": "alice"}}),
        json!({"StringLike": {"aws:PrincipalTag/team": ["d*", "x"]}}),
        json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        json!({"Bool": {"aws:SecureTransport": false}}),
        json!({"NumericLessThan": {"s3:max-keys": 10.0}}),
        json!({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}),
        json!({"Null": {"aws:MultiFactorAuthAge": "true"}}),
    ]);
    (
        any::<bool>(),
        any::<bool>(),
        actions,
        any::<bool>(),
        resources,
        conditions,
    )
        .prop_map(
            |(allow, not_action, actions, not_resource, resources, condition)| {
                let mut s = serde_json::Map::new();
                s.insert("Effect".into(), json!(if allow { "Allow" } else { "Deny" }));
                s.insert(
                    (if not_action { "NotAction" } else { "Action" }).into(),
                    json!(actions),
                );
                s.insert(
                    (if not_resource {
                        "NotResource"
                    } else {
                        "Resource"
                    })
                    .into(),
                    json!(resources),
                );
                if !condition.is_null() {
                    s.insert("Condition".into(), condition);
                }
                Value::Object(s)
            },
        )
}

fn decide(policy: &policy::Policy, action: &str, resource: &str, user: &str, ip: &str) -> String {
    let identity = vec![NamedPolicy::new("p", policy.clone())];
    let mut ctx = Context::new();
    ctx.insert("aws:username", user);
    ctx.insert("aws:SourceIp", ip);
    ctx.insert("aws:SecureTransport", "true");
    ctx.insert("aws:PrincipalTag/team", "data");
    let request = Request::new(
        Principal::parse(&format!("arn:aws:iam::111122223333:user/{user}")).unwrap(),
        action,
        Resource::new(resource).with_account("111122223333"),
        ctx,
    );
    let set = PolicySet {
        identity: &identity,
        ..PolicySet::default()
    };
    format!("{:?}", policy::decide(&request, &set).decision)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A policy printed (minified, as a stored session policy is) and parsed again is the same
    /// compiled policy and decides every request alike.
    #[test]
    fn printed_policy_decides_alike(
        statements in prop::collection::vec(statement(), 1..4),
        pretty in any::<bool>(),
        action in prop::sample::select(vec!["s3:GetObject", "s3:PutObject", "sts:AssumeRole", "ec2:DescribeInstances"]),
        resource in prop::sample::select(vec!["arn:aws:s3:::data/alice/x", "arn:aws:s3:::other/y", "arn:aws:iam::111122223333:role/deploy", "arn:aws:s3:::data/bob/x"]),
        user in prop::sample::select(vec!["alice", "bob"]),
        ip in prop::sample::select(vec!["10.1.2.3", "192.0.2.1"]),
    ) {
        let doc = json!({"Version": "2012-10-17", "Statement": statements});
        let text = if pretty { serde_json::to_string_pretty(&doc).unwrap() } else { doc.to_string() };
        let first = policy::parse(&text, PolicyType::Identity).unwrap();
        let printed = fuzzing::minify(&text).unwrap();
        let again = policy::parse(&printed, PolicyType::Identity).unwrap();
        prop_assert_eq!(&first, &again);
        prop_assert_eq!(
            decide(&first, action, resource, user, ip),
            decide(&again, action, resource, user, ip)
        );
        for policy_type in [PolicyType::Identity, PolicyType::Session, PolicyType::PermissionsBoundary] {
            if let Ok(p) = policy::parse(&text, policy_type) {
                prop_assert_eq!(fuzzing::decisions(&p, policy_type), fuzzing::decisions(&again, policy_type));
            }
        }
    }
}

/// One pattern segment: a literal, `{vN}`, or (last only) `{rest+}`.
#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    One,
}

fn pattern() -> impl Strategy<Value = (Vec<Part>, bool)> {
    (
        prop::collection::vec(
            prop_oneof![
                prop::sample::select(vec!["objects", "v1", "a"])
                    .prop_map(|l| Part::Literal(l.to_owned())),
                Just(Part::One),
            ],
            0..4,
        ),
        any::<bool>(),
    )
}

/// A path segment as it may arrive: anything printable, encoded or not, dot segments included.
fn raw_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "objects",
            "v1",
            "a",
            ".",
            "..",
            "",
            "%7Brest%7D",
            "{v2}"
        ])
        .prop_map(str::to_owned),
        // A variable's name as text: it must stay text in the resource.
        (0usize..4).prop_map(|i| format!("%7Bv{i}%7D")),
        "[A-Za-z0-9._~-]{1,6}",
        "[ -~]{1,6}".prop_map(|s| encode(&s)),
        "[A-Za-z0-9%]{1,8}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// An ext_authz route never yields a resource outside its pattern: whatever matches gives
    /// the template filled with the decoded path segments its variables stand on, and nothing
    /// else; literals match only themselves.
    #[test]
    fn routes_fill_only_their_own_segments(
        (parts, rest) in pattern(),
        segments in prop::collection::vec(raw_segment(), 0..6),
        from_pattern in any::<bool>(),
    ) {
        let mut pattern = String::new();
        let mut template = "arn:aws:s3:::".to_owned();
        for (i, part) in parts.iter().enumerate() {
            match part {
                Part::Literal(l) => pattern.push_str(&format!("/{l}")),
                Part::One => {
                    pattern.push_str(&format!("/{{v{i}}}"));
                    template.push_str(&format!("{{v{i}}}/"));
                }
            }
        }
        if rest {
            pattern.push_str("/{rest+}");
            template.push_str("{rest}");
        } else {
            template.push_str("end");
        }
        if pattern.is_empty() {
            pattern.push('/');
        }
        let route = Route::compile("GET", &pattern, "s3:GetObject", &template).unwrap();
        // Paths built from the pattern match far more often than random ones.
        let segments: Vec<String> = if from_pattern {
            parts.iter().zip(segments.iter().chain(std::iter::repeat(&"x".to_owned())))
                .map(|(p, s)| match p { Part::Literal(l) => l.clone(), Part::One => s.clone() })
                .chain(segments.iter().skip(parts.len()).cloned())
                .collect()
        } else {
            segments
        };
        let path = format!("/{}", segments.join("/"));
        // `/` is the path with no segments.
        let segments = if path == "/" { Vec::new() } else { segments };
        // Paths the rule refuses are never matched.
        let Ok(checked) = sts_broker::routes::path::check(&path) else {
            return Ok(());
        };
        let Some(target) = route.matches("GET", &checked) else {
            return Ok(());
        };
        // The reference: each variable is the decoded segment at its own position; the rest
        // variable, every remaining segment.
        let decode = |s: &str| String::from_utf8(percent_decode(s)).unwrap();
        let mut expected = "arn:aws:s3:::".to_owned();
        for (i, part) in parts.iter().enumerate() {
            match part {
                Part::Literal(l) => prop_assert_eq!(&segments[i], l),
                Part::One => {
                    prop_assert!(!segments[i].is_empty());
                    expected.push_str(&decode(&segments[i]));
                    expected.push('/');
                }
            }
        }
        if rest {
            expected.push_str(&decode(&segments[parts.len()..].join("/")));
        } else {
            prop_assert_eq!(segments.len(), parts.len());
            expected.push_str("end");
        }
        prop_assert_eq!(&target.resource, &expected);
        prop_assert!(fuzzing::resource_within_template(&target.resource, &template).is_ok());
    }
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|c| hex(*c)),
            b.get(i + 2).and_then(|c| hex(*c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}
