//! `GetCallerIdentity` signed by the real SDK with credentials the broker minted, on any
//! replica sharing the store and keys, and with a configured user's long-term access key;
//! tampered, forged, inactive and wrong-secret requests refused.

use aws_sdk_sts::config::Credentials;
use aws_sdk_sts::error::ProvideErrorMetadata as _;

use crate::harness::broker::{
    ACCOUNT, ALICE_ARN, ALICE_INACTIVE_KEY_ID, ALICE_INACTIVE_SECRET, ALICE_KEY_ID, ALICE_MFA_SEED,
    ALICE_MFA_SERIAL, ALICE_SECRET, DEPLOY_ROLE, TestBroker, standard_config, sts_client,
};
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;

fn client(endpoint: &str, akid: &str, secret: &str, token: Option<&str>) -> aws_sdk_sts::Client {
    let credentials = Credentials::new(akid, secret, token.map(str::to_owned), None, "test");
    sts_client(endpoint, Some(credentials))
}

async fn mint(broker: &TestBroker, idp: &TestIdp) -> (String, String, String) {
    let token = idp.token(
        "rsa-1",
        &idp.claims("repo:octo-org/app:ref:refs/heads/main"),
    );
    let out = broker
        .sts()
        .assume_role_with_web_identity()
        .role_arn(DEPLOY_ROLE)
        .role_session_name("who-am-i")
        .web_identity_token(token)
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    (
        c.access_key_id().to_owned(),
        c.secret_access_key().to_owned(),
        c.session_token().to_owned(),
    )
}

#[tokio::test]
async fn minted_session_credentials_identify_their_session_on_every_replica() {
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let first = TestBroker::start(&idp, &redis.url()).await;
    let (akid, secret, token) = mint(&first, &idp).await;

    // A second replica: same Redis, same keys folder contents.
    let dir = tempfile::tempdir().unwrap();
    let toml = standard_config(dir.path(), &idp, &redis.url(), 0);
    let keys = dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    for entry in std::fs::read_dir(first.dir.path().join("keys")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), keys.join(entry.file_name())).unwrap();
    }
    let second = TestBroker::from_toml(dir, &toml).await;

    for broker in [&first, &second] {
        let out = client(&broker.endpoint, &akid, &secret, Some(&token))
            .get_caller_identity()
            .send()
            .await
            .unwrap();
        assert_eq!(
            out.arn(),
            Some(format!("arn:aws:sts::{ACCOUNT}:assumed-role/deploy/who-am-i").as_str())
        );
        assert_eq!(out.account(), Some(ACCOUNT));
        let user_id = out.user_id().unwrap();
        assert!(
            user_id.starts_with("AROA") && user_id.ends_with(":who-am-i"),
            "{user_id}"
        );
    }
}

#[tokio::test]
async fn bad_credentials_get_the_right_codes() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let (akid, secret, token) = mint(&broker, &idp).await;
    let code = |c: aws_sdk_sts::Client| async move {
        c.get_caller_identity()
            .send()
            .await
            .unwrap_err()
            .into_service_error()
            .code()
            .map(str::to_owned)
    };

    // Wrong secret.
    let last = if secret.ends_with('A') { 'B' } else { 'A' };
    let wrong = format!("{}{last}", &secret[..39]);
    assert_eq!(
        code(client(&broker.endpoint, &akid, &wrong, Some(&token)))
            .await
            .as_deref(),
        Some("SignatureDoesNotMatch")
    );
    // Tampered session token.
    let mut tampered = token.clone().into_bytes();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(
        code(client(&broker.endpoint, &akid, &secret, Some(&tampered)))
            .await
            .as_deref(),
        Some("InvalidClientTokenId")
    );
    // No session token at all, and another session's token.
    assert_eq!(
        code(client(&broker.endpoint, &akid, &secret, None))
            .await
            .as_deref(),
        Some("InvalidClientTokenId")
    );
    let (_, _, other_token) = mint(&broker, &idp).await;
    assert_eq!(
        code(client(&broker.endpoint, &akid, &secret, Some(&other_token)))
            .await
            .as_deref(),
        Some("InvalidClientTokenId")
    );
    // A key id we never issued.
    assert_eq!(
        code(client(
            &broker.endpoint,
            "AKIAIOSFODNN7EXAMPLE",
            "secret",
            None
        ))
        .await
        .as_deref(),
        Some("InvalidClientTokenId")
    );
}

#[tokio::test]
async fn unsigned_get_caller_identity_is_refused() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let r = broker
        .http()
        .post(format!("{}/", broker.endpoint))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("Action=GetCallerIdentity&Version=2011-06-15")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let xml = r.text().await.unwrap();
    assert!(
        xml.contains("<Code>MissingAuthenticationToken</Code>")
            || xml.contains("<Code>IncompleteSignature</Code>"),
        "{xml}"
    );
}

/// The identity proof Vault's AWS auth and aws-iam-authenticator use: a presigned
/// GetCallerIdentity URL, fetched by someone else with a plain HTTP client.
#[tokio::test]
async fn presigned_get_caller_identity_url_works_with_a_plain_client() {
    use aws_sigv4::http_request::{
        SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
    };
    use aws_sigv4::sign::v4;

    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let (akid, secret, token) = mint(&broker, &idp).await;
    let identity = Credentials::new(&akid, &secret, Some(token.clone()), None, "test").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(std::time::Duration::from_secs(60));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sts")
        .time(std::time::SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let url = format!(
        "{}/?Action=GetCallerIdentity&Version=2011-06-15",
        broker.endpoint
    );
    let signable =
        SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[])).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut presigned = reqwest::Url::parse(&url).unwrap();
    for (k, v) in instructions.params() {
        presigned.query_pairs_mut().append_pair(k, v);
    }
    let r = broker.http().get(presigned.clone()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let xml = r.text().await.unwrap();
    assert!(xml.contains("assumed-role/deploy/who-am-i"), "{xml}");

    // The same URL with its action changed no longer verifies.
    let tampered = presigned
        .as_str()
        .replace("Version=2011-06-15", "Version=2011-06-15&Extra=1");
    let r = broker.http().get(tampered).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
}

async fn error_code(c: aws_sdk_sts::Client) -> Option<String> {
    c.get_caller_identity()
        .send()
        .await
        .unwrap_err()
        .into_service_error()
        .code()
        .map(str::to_owned)
}

#[tokio::test]
async fn a_users_long_term_key_identifies_the_user() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let out = client(&broker.endpoint, ALICE_KEY_ID, ALICE_SECRET, None)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(out.arn(), Some(ALICE_ARN));
    assert_eq!(out.account(), Some(ACCOUNT));
    let alice = broker.state.config.iam.user(ALICE_ARN).unwrap();
    assert_eq!(out.user_id(), Some(alice.user_id.as_str()));
    assert!(alice.user_id.starts_with("AIDA"), "{}", alice.user_id);
    // Own managed policy, then the group's inline policy.
    assert_eq!(alice.identity_policies.len(), 2);

    // The MFA device's seed was read from its file.
    let device = broker
        .state
        .config
        .iam
        .mfa_device(ALICE_MFA_SERIAL)
        .unwrap();
    assert_eq!(device.user_arn, ALICE_ARN);
    let now = time::OffsetDateTime::now_utc();
    let seed = sts_broker::totp::Seed::from_base32(ALICE_MFA_SEED).unwrap();
    let code = sts_broker::totp::code_at(&seed, now);
    assert!(
        sts_broker::totp::check(
            &device
                .seed(&sts_broker::session::keyring::KeyRing::default())
                .unwrap(),
            &code,
            now
        )
        .is_ok()
    );
}

#[tokio::test]
async fn bad_long_term_credentials_get_the_right_codes() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let endpoint = &broker.endpoint;
    // An inactive key, even with its right secret.
    assert_eq!(
        error_code(client(
            endpoint,
            ALICE_INACTIVE_KEY_ID,
            ALICE_INACTIVE_SECRET,
            None
        ))
        .await
        .as_deref(),
        Some("InvalidClientTokenId")
    );
    // The active key with a wrong secret.
    let wrong = format!("{}x", &ALICE_SECRET[..ALICE_SECRET.len() - 1]);
    assert_eq!(
        error_code(client(endpoint, ALICE_KEY_ID, &wrong, None))
            .await
            .as_deref(),
        Some("SignatureDoesNotMatch")
    );
    // The right secret, but a session token alongside a long-term key.
    assert_eq!(
        error_code(client(endpoint, ALICE_KEY_ID, ALICE_SECRET, Some("token")))
            .await
            .as_deref(),
        Some("InvalidClientTokenId")
    );
}

/// The broker's clock moves; the SDK keeps signing with the real time.
#[tokio::test]
async fn stale_signatures_and_ended_sessions_are_refused() {
    use std::sync::Arc;
    use sts_broker::clock::ManualClock;

    let idp = TestIdp::start().await;
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let broker = TestBroker::start_with_clock(&idp, clock.clone()).await;
    let (akid, secret, token) = mint(&broker, &idp).await;
    let sts = client(&broker.endpoint, &akid, &secret, Some(&token));
    assert!(sts.get_caller_identity().send().await.is_ok());

    // Sixteen minutes later the same signing time is outside the 15-minute window: a replay.
    clock.advance(time::Duration::minutes(16));
    let e = sts
        .get_caller_identity()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e.code(), Some("RequestExpired"));

    // Past the session's end the token is expired, whatever the signature.
    clock.advance(time::Duration::hours(2));
    let e = sts
        .get_caller_identity()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e.code(), Some("ExpiredToken"));
}

/// A signature scoped to another service (here `s3`) is refused, even with the right secret.
#[tokio::test]
async fn signatures_for_another_service_are_refused() {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;

    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let (akid, secret, token) = mint(&broker, &idp).await;
    let identity = Credentials::new(&akid, &secret, Some(token), None, "test").into();
    let body = "Action=GetCallerIdentity&Version=2011-06-15";
    let url = format!("{}/", broker.endpoint);
    let content_type = ("content-type", "application/x-www-form-urlencoded");
    let mut statuses = Vec::new();
    for service in ["sts", "s3"] {
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name(service)
            .time(std::time::SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            "POST",
            &url,
            [content_type].into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut request = broker
            .http()
            .post(&url)
            .header(content_type.0, content_type.1)
            .body(body);
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        let r = request.send().await.unwrap();
        statuses.push((r.status().as_u16(), r.text().await.unwrap()));
    }
    assert_eq!(statuses[0].0, 200, "{}", statuses[0].1);
    assert_eq!(statuses[1].0, 403);
    assert!(
        statuses[1].1.contains("scoped to correct service"),
        "{}",
        statuses[1].1
    );
}

/// The largest `Authorization` header the HTTP server lets through, naming tens of thousands
/// of distinct signed headers, is refused before any key lookup (a 4xx, no CPU stall).
#[tokio::test]
async fn a_maximal_hostile_authorization_header_is_refused() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let names: Vec<String> = (0..55_000).map(|i| format!("h{i}")).collect();
    let header = format!(
        "AWS4-HMAC-SHA256 Credential={ALICE_KEY_ID}/20250101/us-east-1/sts/aws4_request, \
         SignedHeaders=host;{}, Signature={}",
        names.join(";"),
        "0".repeat(64)
    );
    assert!(header.len() > 300_000, "{}", header.len());
    let r = broker
        .http()
        .post(&broker.endpoint)
        .header("authorization", header)
        .header("x-amz-date", "20250101T000000Z")
        .form(&[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let xml = r.text().await.unwrap();
    assert!(xml.contains("<Code>IncompleteSignature</Code>"), "{xml}");
    // Just under the length bound, too many names are refused the same way.
    let names: Vec<String> = (0..1_200).map(|i| format!("h{i}")).collect();
    let header = format!(
        "AWS4-HMAC-SHA256 Credential={ALICE_KEY_ID}/20250101/us-east-1/sts/aws4_request, \
         SignedHeaders={}, Signature={}",
        names.join(";"),
        "0".repeat(64)
    );
    assert!(header.len() <= sts_broker::sigv4::MAX_AUTHORIZATION_LEN);
    let r = broker
        .http()
        .post(&broker.endpoint)
        .header("authorization", header)
        .header("x-amz-date", "20250101T000000Z")
        .form(&[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

/// SigV4 reads `+` as itself, form decoding as a space: a presigned URL signed (by the SDK's
/// presigner) for `a+b` must not also verify with `a+b` sent unencoded, which the query
/// decoder would read as `a b`.
#[tokio::test]
async fn an_unencoded_plus_in_a_presigned_query_is_refused() {
    use aws_sigv4::http_request::{
        SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
    };
    use aws_sigv4::sign::v4;

    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let identity = Credentials::new(ALICE_KEY_ID, ALICE_SECRET, None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(std::time::Duration::from_secs(60));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sts")
        .time(std::time::SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let url = format!(
        "{}/?Action=GetCallerIdentity&Version=2011-06-15&Note=a%2Bb",
        broker.endpoint
    );
    let signable =
        SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[])).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut presigned = reqwest::Url::parse(&url).unwrap();
    for (k, v) in instructions.params() {
        presigned.query_pairs_mut().append_pair(k, v);
    }
    assert!(presigned.as_str().contains("Note=a%2Bb"));
    assert!(!presigned.query().unwrap().contains('+'));
    let r = broker.http().get(presigned.clone()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains(ALICE_ARN));

    let tampered = presigned.as_str().replace("Note=a%2Bb", "Note=a+b");
    let r = broker.http().get(&tampered).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let xml = r.text().await.unwrap();
    assert!(xml.contains("<Code>IncompleteSignature</Code>"), "{xml}");
    assert!(xml.contains("'+'"), "{xml}");
}
