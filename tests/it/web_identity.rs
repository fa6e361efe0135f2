//! `AssumeRoleWithWebIdentity` end to end: the real server, a loopback OIDC provider, the real
//! `aws-sdk-sts` client and web-identity credential provider, on both store backends.

use aws_sdk_sts::error::ProvideErrorMetadata as _;
use serde_json::json;
use sts_broker::session::credentials;

use crate::harness::broker::{
    ACCOUNT, DEPLOY_ROLE, FOREIGN_ROLE, PROD_ROLE, PROVIDER_ARN, READONLY_POLICY, TestBroker,
};
use crate::harness::idp::{TestIdp, TestKey, sign_jwt};
use crate::harness::redis::RedisServer;

/// Calls AssumeRoleWithWebIdentity through the SDK; `Ok(output)` or `Err((code, message))`.
async fn assume(
    broker: &TestBroker,
    role: &str,
    session: &str,
    token: &str,
) -> Result<
    aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityOutput,
    (String, String),
> {
    broker
        .sts()
        .assume_role_with_web_identity()
        .role_arn(role)
        .role_session_name(session)
        .web_identity_token(token)
        .send()
        .await
        .map_err(|e| {
            let e = e.into_service_error();
            (
                e.code().unwrap_or_default().to_owned(),
                e.message().unwrap_or_default().to_owned(),
            )
        })
}

async fn check_success(broker: &TestBroker, idp: &TestIdp, kid: &str) -> String {
    let token = idp.token(kid, &idp.claims("repo:octo-org/app:ref:refs/heads/main"));
    let before = time::OffsetDateTime::now_utc().unix_timestamp();
    let out = assume(broker, DEPLOY_ROLE, "gha-run-42", &token)
        .await
        .unwrap();
    let creds = out.credentials().unwrap();
    assert!(creds.access_key_id().starts_with("ASIA"));
    assert_eq!(creds.access_key_id().len(), 20);
    assert_eq!(creds.secret_access_key().len(), 40);
    let expiration = creds.expiration().secs();
    assert!(
        (before + 3600..=before + 3602).contains(&expiration),
        "{expiration}"
    );
    let user = out.assumed_role_user().unwrap();
    assert_eq!(
        user.arn(),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/deploy/gha-run-42")
    );
    assert!(user.assumed_role_id().starts_with("AROA"));
    assert!(user.assumed_role_id().ends_with(":gha-run-42"));
    assert_eq!(
        out.subject_from_web_identity_token(),
        Some("repo:octo-org/app:ref:refs/heads/main")
    );
    assert_eq!(out.audience(), Some("sts.amazonaws.com"));
    assert_eq!(out.provider(), Some(PROVIDER_ARN));
    #[allow(deprecated)] // STS still returns it; the SDK prefers a newer field.
    let packed = out.packed_policy_size();
    assert_eq!(packed, None);

    // The session token is ours, authentic, and gives back the same secret.
    let claims =
        credentials::verify_token(&broker.state.keys.snapshot(), creds.session_token()).unwrap();
    assert_eq!(claims.access_key_id, creds.access_key_id());
    assert_eq!(
        credentials::secret_for(&broker.state.keys.snapshot(), &claims)
            .unwrap()
            .expose(),
        creds.secret_access_key()
    );
    // The session is recorded, with no secret in it.
    let record = broker
        .state
        .store
        .get_session(creds.access_key_id(), &broker.state.keys.snapshot())
        .await
        .unwrap()
        .unwrap();
    let sts_broker::session::SessionPrincipal::Role { role_arn, .. } = &record.principal else {
        panic!("a web identity session is a role session");
    };
    assert_eq!(role_arn, DEPLOY_ROLE);
    assert_eq!(
        record.subject.as_deref(),
        Some("repo:octo-org/app:ref:refs/heads/main")
    );
    assert_eq!(record.expires_at, expiration);
    let stored = serde_json::to_string(&record).unwrap();
    assert!(!stored.contains(creds.secret_access_key()));
    assert!(!stored.contains(creds.session_token()));
    creds.access_key_id().to_owned()
}

#[tokio::test]
async fn sdk_gets_credentials_with_rsa_and_ec_keys_on_the_memory_store() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    check_success(&broker, &idp, "rsa-1").await;
    check_success(&broker, &idp, "ec-1").await;
}

#[tokio::test]
async fn sdk_gets_credentials_on_redis_with_ttl_equal_to_the_lifetime() {
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, &redis.url()).await;
    let akid = check_success(&broker, &idp, "rsa-1").await;
    let key = format!("sts-broker:session:{akid}");
    let ttl = redis.ttl(&key).await;
    // The lifetime less the seconds this test took since the session was stored (a minute
    // of slack: a loaded machine is slow, a wrong TTL is off by far more).
    assert!((3540..=3600).contains(&ttl), "ttl {ttl}");
    let raw = redis.get(&key).await.unwrap();
    assert!(raw.contains("\"role_arn\""));
    // A second replica sharing the store sees the session (verified with the session keys
    // the replicas share).
    let replica = TestBroker::start(&idp, &redis.url()).await;
    assert!(
        replica
            .state
            .store
            .get_session(&akid, &broker.state.keys.snapshot())
            .await
            .unwrap()
            .is_some()
    );
}

/// A profile as a pod or CI job would have it: role, token file and the broker as endpoint.
#[tokio::test]
async fn sdk_web_identity_credential_provider_works_against_the_broker() {
    use aws_credential_types::provider::ProvideCredentials as _;
    use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};

    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let token_file = broker.dir.path().join("token");
    std::fs::write(
        &token_file,
        idp.token("rsa-1", &idp.claims("repo:octo-org/app:pull_request")),
    )
    .unwrap();
    let profile = broker.dir.path().join("aws-config");
    std::fs::write(
        &profile,
        format!(
            "[default]\nregion = us-east-1\nendpoint_url = {}\nrole_arn = {DEPLOY_ROLE}\n\
             web_identity_token_file = {}\nrole_session_name = pod-1\n",
            broker.endpoint,
            token_file.display()
        ),
    )
    .unwrap();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .profile_files(
            EnvConfigFiles::builder()
                .with_file(EnvConfigFileKind::Config, &profile)
                .build(),
        )
        .load()
        .await;
    let creds = sdk
        .credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap();
    assert!(creds.access_key_id().starts_with("ASIA"));
    assert!(creds.session_token().is_some());
    assert!(creds.expiry().is_some());
    let record = broker
        .state
        .store
        .get_session(creds.access_key_id(), &broker.state.keys.snapshot())
        .await
        .unwrap()
        .unwrap();
    assert!(record.principal.arn().ends_with("/deploy/pod-1"));
}

#[tokio::test]
async fn claims_beyond_sub_and_aud_are_condition_keys() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let mut claims = idp.claims("repo:octo-org/app:environment:production");
    claims["environment"] = json!("production");
    claims["job_workflow_ref"] =
        json!("octo-org/workflows/.github/workflows/deploy.yml@refs/heads/main");
    let out = assume(&broker, PROD_ROLE, "deploy", &idp.token("rsa-1", &claims)).await;
    assert!(out.is_ok(), "{out:?}");

    claims["environment"] = json!("staging");
    let (code, message) = assume(&broker, PROD_ROLE, "deploy", &idp.token("rsa-1", &claims))
        .await
        .unwrap_err();
    assert_eq!(code, "AccessDenied");
    assert!(message.contains("127.0.0.1/idp:environment"), "{message}");
    assert!(
        !message.contains("production"),
        "policy values must not leak: {message}"
    );
    assert!(
        !message.contains("staging"),
        "request values must not leak: {message}"
    );
}

#[tokio::test]
async fn session_policy_and_policy_arns_are_recorded_with_packed_size() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let token = idp.token(
        "rsa-1",
        &idp.claims("repo:octo-org/app:ref:refs/heads/main"),
    );
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let out = broker
        .sts()
        .assume_role_with_web_identity()
        .role_arn(DEPLOY_ROLE)
        .role_session_name("scoped")
        .web_identity_token(token)
        .policy(policy)
        .policy_arns(
            aws_sdk_sts::types::PolicyDescriptorType::builder()
                .arn(READONLY_POLICY)
                .build(),
        )
        .duration_seconds(900)
        .send()
        .await
        .unwrap();
    #[allow(deprecated)]
    let size = out.packed_policy_size().unwrap();
    assert!((1..=100).contains(&size), "{size}");
    let akid = out.credentials().unwrap().access_key_id();
    let record = broker
        .state
        .store
        .get_session(akid, &broker.state.keys.snapshot())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.session_policy.as_deref(), Some(policy));
    assert_eq!(record.policy_arns, vec![READONLY_POLICY.to_owned()]);
    assert_eq!(record.expires_at - record.issued_at, 900);
}

/// Every refused request: its AWS code, and nothing stored.
#[tokio::test]
async fn each_bad_input_gets_its_aws_error_and_stores_nothing() {
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, &redis.url()).await;
    let good = idp.claims("repo:octo-org/app:ref:refs/heads/main");
    let token = idp.token("rsa-1", &good);

    let expect = |r: Result<_, (String, String)>, code: &str, needle: &str| {
        let (c, m) = r.expect_err("must be refused");
        assert_eq!(c, code, "{m}");
        assert!(m.contains(needle), "{code}: {m:?} lacks {needle:?}");
    };

    // Parameters.
    expect(
        assume(&broker, DEPLOY_ROLE, "bad:name", &token).await,
        "ValidationError",
        "regular expression pattern",
    );
    expect(
        assume(&broker, DEPLOY_ROLE, &"x".repeat(65), &token).await,
        "ValidationError",
        "less than or equal to 64",
    );
    let over_max = broker
        .sts()
        .assume_role_with_web_identity()
        .role_arn(DEPLOY_ROLE)
        .role_session_name("ci-run")
        .web_identity_token(&token)
        .duration_seconds(7201)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(over_max.code(), Some("ValidationError"));
    let too_long = broker
        .sts()
        .assume_role_with_web_identity()
        .role_arn(DEPLOY_ROLE)
        .role_session_name("session")
        .web_identity_token(&token)
        .duration_seconds(7201)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(too_long.code(), Some("ValidationError"));
    assert!(too_long.message().unwrap().contains("MaxSessionDuration"));
    let too_short = broker
        .sts()
        .assume_role_with_web_identity()
        .role_arn(DEPLOY_ROLE)
        .role_session_name("session")
        .web_identity_token(&token)
        .duration_seconds(899)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(too_short.code(), Some("ValidationError"));
    let malformed = broker
        .sts()
        .assume_role_with_web_identity()
        .role_arn(DEPLOY_ROLE)
        .role_session_name("session")
        .web_identity_token(&token)
        .policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(malformed.code(), Some("MalformedPolicyDocument"));
    let long_resource = format!("arn:aws:s3:::{}", "b".repeat(1900));
    let big = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"{long_resource}"}}]}}"#
    );
    let packed = broker
        .sts()
        .assume_role_with_web_identity()
        .role_arn(DEPLOY_ROLE)
        .role_session_name("session")
        .web_identity_token(&token)
        .policy(big)
        .policy_arns(
            aws_sdk_sts::types::PolicyDescriptorType::builder()
                .arn(READONLY_POLICY)
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(packed.code(), Some("PackedPolicyTooLarge"));
    let mut many = broker
        .sts()
        .assume_role_with_web_identity()
        .role_arn(DEPLOY_ROLE)
        .role_session_name("session")
        .web_identity_token(&token);
    for _ in 0..11 {
        many = many.policy_arns(
            aws_sdk_sts::types::PolicyDescriptorType::builder()
                .arn(READONLY_POLICY)
                .build(),
        );
    }
    let many = many.send().await.unwrap_err().into_service_error();
    assert_eq!(many.code(), Some("ValidationError"));

    // Tokens.
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    expect(
        assume(&broker, DEPLOY_ROLE, "ci-run", &tampered).await,
        "InvalidIdentityToken",
        "",
    );
    expect(
        assume(&broker, DEPLOY_ROLE, "ci-run", &"a".repeat(20_001)).await,
        "ValidationError",
        "Value at 'webIdentityToken' failed to satisfy constraint: Member must have length less than or equal to 20000",
    );
    expect(
        assume(&broker, DEPLOY_ROLE, "ci-run", "not-a-jwt").await,
        "InvalidIdentityToken",
        "",
    );
    let mut other_issuer = good.clone();
    other_issuer["iss"] = json!("https://unknown.example.com");
    expect(
        assume(
            &broker,
            DEPLOY_ROLE,
            "ci-run",
            &idp.token("rsa-1", &other_issuer),
        )
        .await,
        "InvalidIdentityToken",
        "No OpenIDConnect provider found in your account for https://unknown.example.com",
    );
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("someone-else");
    expect(
        assume(
            &broker,
            DEPLOY_ROLE,
            "ci-run",
            &idp.token("rsa-1", &wrong_aud),
        )
        .await,
        "InvalidIdentityToken",
        "Incorrect token audience",
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut expired = good.clone();
    expired["exp"] = json!(now - 120);
    expect(
        assume(
            &broker,
            DEPLOY_ROLE,
            "ci-run",
            &idp.token("rsa-1", &expired),
        )
        .await,
        "ExpiredTokenException",
        "expired",
    );
    let mut early = good.clone();
    early["nbf"] = json!(now + 600);
    early["exp"] = json!(now + 1200);
    expect(
        assume(&broker, DEPLOY_ROLE, "ci-run", &idp.token("rsa-1", &early)).await,
        "InvalidIdentityToken",
        "",
    );
    // alg "none", and HS256 keyed with the RSA public key: never accepted.
    let b64 = |v: &serde_json::Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": "rsa-1"})),
        b64(&good)
    );
    expect(
        assume(&broker, DEPLOY_ROLE, "ci-run", &none).await,
        "InvalidIdentityToken",
        "",
    );
    let hs = {
        let jwk = TestKey::rsa().jwk("rsa-1");
        let key = ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            jwk["n"].as_str().unwrap().as_bytes(),
        );
        let input = format!(
            "{}.{}",
            b64(&json!({"alg": "HS256", "kid": "rsa-1"})),
            b64(&good)
        );
        let tag = ring::hmac::sign(&key, input.as_bytes());
        use base64::Engine as _;
        format!(
            "{input}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
    };
    expect(
        assume(&broker, DEPLOY_ROLE, "ci-run", &hs).await,
        "InvalidIdentityToken",
        "",
    );
    // A key the IdP never published.
    idp.add_key("rogue", TestKey::rsa(), false);
    expect(
        assume(&broker, DEPLOY_ROLE, "ci-run", &idp.token("rogue", &good)).await,
        "InvalidIdentityToken",
        "",
    );
    // A published kid, signed by another key.
    let forged = sign_jwt(
        &TestKey::rsa(),
        &json!({"alg": "RS256", "kid": "rsa-1"}),
        &good,
    );
    expect(
        assume(&broker, DEPLOY_ROLE, "ci-run", &forged).await,
        "InvalidIdentityToken",
        "",
    );

    // A claim differing from `sub` only in case must not stand in for it.
    let mut spoof = idp.claims("repo:evil-org/app:ref:refs/heads/main");
    spoof["SUB"] = json!("repo:octo-org/app:ref:refs/heads/main");
    expect(
        assume(&broker, DEPLOY_ROLE, "ci-run", &idp.token("rsa-1", &spoof)).await,
        "InvalidIdentityToken",
        "differ only in case",
    );
    // A role trusts only the providers of its own account: the token's issuer is looked up
    // there, as IAM does, and that account has none (its role trusting this account's provider
    // changes nothing). The answer is the same whether the role exists or not.
    for role in [
        FOREIGN_ROLE,
        "arn:aws:iam::444455556666:role/does-not-exist",
    ] {
        expect(
            assume(&broker, role, "ci-run", &token).await,
            "InvalidIdentityToken",
            "No OpenIDConnect provider found in your account for http://127.0.0.1:",
        );
    }
    // Session tags from the IdP are checked like STS session tags.
    for bad_tags in [
        json!({"principal_tags": {"aws:team": ["x"]}}),
        json!({"principal_tags": {"Team": ["a"], "team": ["b"]}}),
        json!({"principal_tags": {"team": ["a", "b"]}}),
        json!({"principal_tags": {"team": ["a"]}, "transitive_tag_keys": ["other"]}),
    ] {
        let mut tagged = good.clone();
        tagged["https://aws.amazon.com/tags"] = bad_tags;
        expect(
            assume(&broker, DEPLOY_ROLE, "ci-run", &idp.token("rsa-1", &tagged)).await,
            "InvalidIdentityToken",
            "session tags",
        );
    }

    // Trust.
    let other_repo = idp.token(
        "rsa-1",
        &idp.claims("repo:evil-org/app:ref:refs/heads/main"),
    );
    let (code, message) = assume(&broker, DEPLOY_ROLE, "ci-run", &other_repo)
        .await
        .unwrap_err();
    assert_eq!(code, "AccessDenied");
    assert!(message.contains("127.0.0.1/idp:sub"), "{message}");
    assert!(
        !message.contains("octo-org"),
        "policy values must not leak: {message}"
    );
    expect(
        assume(
            &broker,
            "arn:aws:iam::111122223333:role/does-not-exist",
            "ci-run",
            &token,
        )
        .await,
        "AccessDenied",
        "Not authorized to perform sts:AssumeRoleWithWebIdentity",
    );

    assert!(
        redis.keys().await.is_empty(),
        "a refused request stored something"
    );
    // And the good token still works afterwards.
    assert!(assume(&broker, DEPLOY_ROLE, "ci-run", &token).await.is_ok());
    assert_eq!(redis.keys().await.len(), 1);
}

#[tokio::test]
async fn session_tags_from_the_token_need_tag_session_and_are_recorded() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let mut claims = idp.claims("repo:octo-org/app:ref:refs/heads/main");
    claims["https://aws.amazon.com/tags"] = json!({
        "principal_tags": {"team": ["payments"], "cost-center": ["42"]},
        "transitive_tag_keys": ["team"],
    });
    let out = assume(&broker, DEPLOY_ROLE, "tagged", &idp.token("rsa-1", &claims))
        .await
        .unwrap();
    let akid = out.credentials().unwrap().access_key_id();
    let record = broker
        .state
        .store
        .get_session(akid, &broker.state.keys.snapshot())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.tags.get("team").map(String::as_str),
        Some("payments")
    );
    assert_eq!(record.transitive_tag_keys, vec!["team".to_owned()]);
    #[allow(deprecated)]
    let packed = out.packed_policy_size();
    assert!(packed.is_some_and(|p| p > 0));

    // The production role's trust policy does not allow sts:TagSession.
    claims["environment"] = json!("production");
    claims["job_workflow_ref"] =
        json!("octo-org/workflows/.github/workflows/deploy.yml@refs/heads/main");
    let (code, message) = assume(&broker, PROD_ROLE, "tagged", &idp.token("rsa-1", &claims))
        .await
        .unwrap_err();
    assert_eq!(code, "AccessDenied");
    assert!(message.contains("sts:TagSession"), "{message}");
}

#[tokio::test]
async fn key_rotation_at_the_idp_needs_no_restart() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let sub = "repo:octo-org/app:ref:refs/heads/main";
    assert!(
        assume(
            &broker,
            DEPLOY_ROLE,
            "ci-run",
            &idp.token("rsa-1", &idp.claims(sub))
        )
        .await
        .is_ok()
    );
    idp.add_key("rsa-2", TestKey::rsa(), true);
    idp.publish_only(&["rsa-2"]);
    assert!(
        assume(
            &broker,
            DEPLOY_ROLE,
            "ci-run",
            &idp.token("rsa-2", &idp.claims(sub))
        )
        .await
        .is_ok()
    );
    // Keys were found through OIDC discovery (no jwks_uri is configured).
    assert!(idp.discovery_hits() >= 1);
    assert!(idp.jwks_hits() >= 2);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_fetches_keys_at_most_once_per_interval() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start_with(&idp, "memory://", 60).await;
    let claims = idp.claims("repo:octo-org/app:ref:refs/heads/main");
    assert!(
        assume(&broker, DEPLOY_ROLE, "ci-run", &idp.token("rsa-1", &claims))
            .await
            .is_ok()
    );
    let before = idp.jwks_hits();
    let mut calls = Vec::new();
    for i in 0..40 {
        let kid = format!("bogus-{i}");
        idp.add_key(&kid, TestKey::ec(), false);
        let token = idp.token(&kid, &claims);
        let client = broker.sts();
        calls.push(tokio::spawn(async move {
            client
                .assume_role_with_web_identity()
                .role_arn(DEPLOY_ROLE)
                .role_session_name("flood")
                .web_identity_token(token)
                .send()
                .await
                .unwrap_err()
                .into_service_error()
                .code()
                .map(str::to_owned)
        }));
    }
    for call in calls {
        assert_eq!(call.await.unwrap().as_deref(), Some("InvalidIdentityToken"));
    }
    assert!(
        idp.jwks_hits() - before <= 1,
        "{} fetches",
        idp.jwks_hits() - before
    );
}

#[tokio::test]
async fn idp_outage_keeps_cached_keys_serving_and_new_keys_get_a_retryable_error() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let claims = idp.claims("repo:octo-org/app:ref:refs/heads/main");
    assert!(
        assume(&broker, DEPLOY_ROLE, "ci-run", &idp.token("rsa-1", &claims))
            .await
            .is_ok()
    );
    idp.set_down(true);
    assert!(
        assume(&broker, DEPLOY_ROLE, "ci-run", &idp.token("rsa-1", &claims))
            .await
            .is_ok()
    );
    idp.add_key("rsa-new", TestKey::rsa(), true);
    let (code, _) = assume(
        &broker,
        DEPLOY_ROLE,
        "ci-run",
        &idp.token("rsa-new", &claims),
    )
    .await
    .unwrap_err();
    assert_eq!(code, "IDPCommunicationError");
    idp.set_down(false);
    assert!(
        assume(
            &broker,
            DEPLOY_ROLE,
            "ci-run",
            &idp.token("rsa-new", &claims)
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn an_unreachable_idp_on_first_use_is_a_communication_error() {
    let idp = TestIdp::start().await;
    idp.set_down(true);
    let broker = TestBroker::start(&idp, "memory://").await;
    let claims = idp.claims("repo:octo-org/app:ref:refs/heads/main");
    let (code, _) = assume(&broker, DEPLOY_ROLE, "ci-run", &idp.token("rsa-1", &claims))
        .await
        .unwrap_err();
    assert_eq!(code, "IDPCommunicationError");
}

/// OIDC Core: `iss` must be exactly the configured issuer; a spelling differing by a trailing
/// slash is refused unless the provider lists it in `accepted_issuers`.
#[tokio::test]
async fn the_issuer_must_match_exactly_unless_a_spelling_is_listed() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let mut claims = idp.claims("repo:octo-org/app:ref:refs/heads/main");
    claims["iss"] = json!(format!("{}/", idp.issuer));
    let slashed = idp.token("rsa-1", &claims);
    let (code, message) = assume(&broker, DEPLOY_ROLE, "ci-run", &slashed)
        .await
        .unwrap_err();
    assert_eq!(code, "InvalidIdentityToken");
    assert!(message.contains("No OpenIDConnect provider"), "{message}");

    let dir = tempfile::tempdir().unwrap();
    let toml = crate::harness::broker::standard_config(dir.path(), &idp, "memory://", 0);
    let issuer_line = format!("issuer = \"{}\"", idp.issuer);
    let toml = toml.replacen(
        &issuer_line,
        &format!("{issuer_line}\naccepted_issuers = [\"{}/\"]", idp.issuer),
        1,
    );
    let listed = TestBroker::from_toml(dir, &toml).await;
    let out = assume(&listed, DEPLOY_ROLE, "ci-run", &slashed)
        .await
        .unwrap();
    // The session names the provider as configured.
    assert_eq!(out.provider(), Some(PROVIDER_ARN));
    let exact = idp.token(
        "rsa-1",
        &idp.claims("repo:octo-org/app:ref:refs/heads/main"),
    );
    assert!(assume(&listed, DEPLOY_ROLE, "ci-run", &exact).await.is_ok());
}
