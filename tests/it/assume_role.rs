//! `AssumeRole` and `GetSessionToken` through the real SDK, signed with IAM users' long-term keys
//! and with credentials the broker minted: a three-hop chain (web identity -> same-account role
//! -> cross-account role with ExternalId) carrying transitive tags and the source identity, the
//! one-hour chaining cap, users across accounts, MFA with TOTP codes, and each refusal.

use aws_sdk_sts::error::ProvideErrorMetadata as _;
use serde_json::json;

use crate::harness::broker::{
    ADMIN_ROLE, ALICE_KEY_ID, ALICE_MFA_SEED, ALICE_MFA_SERIAL, ALICE_SECRET, BOB_KEY_ID,
    BOB_SECRET, DEPLOY_ROLE, HUB_ROLE, TestBroker, VENDOR_EXTERNAL_ID, VENDOR_ROLE,
};
use crate::harness::idp::TestIdp;

type Creds = (String, String, String);

fn alice(broker: &TestBroker) -> aws_sdk_sts::Client {
    long_term(broker, ALICE_KEY_ID, ALICE_SECRET)
}

fn long_term(broker: &TestBroker, key_id: &str, secret: &str) -> aws_sdk_sts::Client {
    broker.sts_as(key_id, secret, None)
}

fn client(broker: &TestBroker, creds: &Creds) -> aws_sdk_sts::Client {
    broker.sts_as(&creds.0, &creds.1, Some(&creds.2))
}

fn creds_of(c: &aws_sdk_sts::types::Credentials) -> Creds {
    (
        c.access_key_id().to_owned(),
        c.secret_access_key().to_owned(),
        c.session_token().to_owned(),
    )
}

/// A web identity session of the `deploy` role, with a transitive `team` tag.
async fn first_hop(broker: &TestBroker, idp: &TestIdp) -> Creds {
    let mut claims = idp.claims("repo:octo-org/app:ref:refs/heads/main");
    claims["https://aws.amazon.com/tags"] = json!({
        "principal_tags": {"team": ["payments"]},
        "transitive_tag_keys": ["team"],
    });
    let out = broker
        .sts()
        .assume_role_with_web_identity()
        .role_arn(DEPLOY_ROLE)
        .role_session_name("hop1")
        .web_identity_token(idp.token("rsa-1", &claims))
        .send()
        .await
        .unwrap();
    creds_of(out.credentials().unwrap())
}

async fn refused(
    r: Result<
        aws_sdk_sts::operation::assume_role::AssumeRoleOutput,
        aws_sdk_sts::error::SdkError<aws_sdk_sts::operation::assume_role::AssumeRoleError>,
    >,
) -> (String, String) {
    let e = r.unwrap_err().into_service_error();
    (
        e.code().unwrap_or_default().to_owned(),
        e.message().unwrap_or_default().to_owned(),
    )
}

/// Two hours are refused with AWS's role-chaining message.
async fn assert_chaining_cap(broker: &TestBroker, creds: &Creds, role: &str) {
    let (code, message) = refused(
        client(broker, creds)
            .assume_role()
            .role_arn(role)
            .role_session_name("long")
            .duration_seconds(7200)
            .send()
            .await,
    )
    .await;
    assert_eq!(code, "ValidationError");
    assert!(message.contains("1 hour session limit"), "{message}");
}

#[tokio::test]
async fn a_three_hop_chain_carries_tags_and_source_identity() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let hop1 = first_hop(&broker, &idp).await;

    let out = client(&broker, &hop1)
        .assume_role()
        .role_arn(HUB_ROLE)
        .role_session_name("hop2")
        .source_identity("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.assumed_role_user().unwrap().arn(),
        "arn:aws:sts::111122223333:assumed-role/hub/hop2"
    );
    assert_eq!(out.source_identity(), Some("alice"));
    let hop2 = creds_of(out.credentials().unwrap());
    let expiry = out.credentials().unwrap().expiration().secs();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        expiry <= now + 3600 + 2,
        "chained sessions last at most an hour"
    );

    let out = client(&broker, &hop2)
        .assume_role()
        .role_arn(VENDOR_ROLE)
        .role_session_name("hop3")
        .external_id(VENDOR_EXTERNAL_ID)
        .send()
        .await
        .unwrap();
    let hop3 = creds_of(out.credentials().unwrap());
    assert_eq!(out.source_identity(), Some("alice"));
    let record = broker
        .state
        .store
        .get_session(&hop3.0, &broker.state.keys.snapshot())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.tags.get("team").map(String::as_str),
        Some("payments")
    );
    assert_eq!(record.transitive_tag_keys, vec!["team".to_owned()]);
    assert_eq!(record.source_identity.as_deref(), Some("alice"));
    assert!(record.chained);

    let who = client(&broker, &hop3)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(
        who.arn(),
        Some("arn:aws:sts::444455556666:assumed-role/vendor/hop3")
    );
    assert_eq!(who.account(), Some("444455556666"));
}

#[tokio::test]
async fn each_side_of_assume_role_can_refuse() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let hop1 = first_hop(&broker, &idp).await;
    let hop2 = creds_of(
        client(&broker, &hop1)
            .assume_role()
            .role_arn(HUB_ROLE)
            .role_session_name("hop2")
            .source_identity("alice")
            .send()
            .await
            .unwrap()
            .credentials()
            .unwrap(),
    );
    let sessions_before = broker
        .state
        .store
        .get_session(&hop2.0, &broker.state.keys.snapshot())
        .await
        .unwrap()
        .is_some();
    assert!(sessions_before);

    // Role chaining caps the duration at one hour.
    assert_chaining_cap(&broker, &hop1, HUB_ROLE).await;

    // The vendor's trust needs the external id.
    for external_id in [None, Some("wrong-id")] {
        let mut call = client(&broker, &hop2)
            .assume_role()
            .role_arn(VENDOR_ROLE)
            .role_session_name("hop3");
        if let Some(id) = external_id {
            call = call.external_id(id);
        }
        let (code, message) = refused(call.send().await).await;
        assert_eq!(code, "AccessDenied");
        assert!(message.contains("sts:ExternalId"), "{message}");
        assert!(!message.contains("ext-123"), "{message}");
    }
    // Across accounts the caller's identity side must allow it too: `deploy` may not.
    let (code, message) = refused(
        client(&broker, &hop1)
            .assume_role()
            .role_arn(VENDOR_ROLE)
            .role_session_name("direct")
            .external_id(VENDOR_EXTERNAL_ID)
            .send()
            .await,
    )
    .await;
    assert_eq!(code, "AccessDenied");
    assert!(
        message.starts_with(
            "User: arn:aws:sts::111122223333:assumed-role/deploy/hop1 is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::444455556666:role/vendor"
        ),
        "{message}"
    );
    // The source identity of a chain cannot change, nor can a transitive tag be set again.
    let (code, _) = refused(
        client(&broker, &hop2)
            .assume_role()
            .role_arn(VENDOR_ROLE)
            .role_session_name("hop3")
            .external_id(VENDOR_EXTERNAL_ID)
            .source_identity("mallory")
            .send()
            .await,
    )
    .await;
    assert_eq!(code, "AccessDenied");
    let (code, message) = refused(
        client(&broker, &hop2)
            .assume_role()
            .role_arn(VENDOR_ROLE)
            .role_session_name("hop3")
            .external_id(VENDOR_EXTERNAL_ID)
            .tags(
                aws_sdk_sts::types::Tag::builder()
                    .key("team")
                    .value("other")
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
    )
    .await;
    assert_eq!(code, "ValidationError", "{message}");
    // A role that does not exist is a plain denial; a bad external id format a validation error.
    let (code, _) = refused(
        client(&broker, &hop1)
            .assume_role()
            .role_arn("arn:aws:iam::111122223333:role/nope")
            .role_session_name("x1")
            .send()
            .await,
    )
    .await;
    assert_eq!(code, "AccessDenied");
    let (code, _) = refused(
        client(&broker, &hop1)
            .assume_role()
            .role_arn(HUB_ROLE)
            .role_session_name("x1")
            .external_id("has space")
            .send()
            .await,
    )
    .await;
    assert_eq!(code, "ValidationError");
}

#[tokio::test]
async fn an_iam_user_assumes_a_role_with_a_totp_code() {
    use sts_broker::totp::{Seed, code_at};

    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let seed = Seed::from_base32(ALICE_MFA_SEED).unwrap();
    let code = code_at(&seed, time::OffsetDateTime::now_utc());

    let out = alice(&broker)
        .assume_role()
        .role_arn(ADMIN_ROLE)
        .role_session_name("alice-admin")
        .serial_number(ALICE_MFA_SERIAL)
        .token_code(&code)
        .send()
        .await
        .unwrap();
    let creds = creds_of(out.credentials().unwrap());
    let record = broker
        .state
        .store
        .get_session(&creds.0, &broker.state.keys.snapshot())
        .await
        .unwrap()
        .unwrap();
    assert!(record.mfa_authenticated_at.is_some());
    assert!(!record.chained);
    // A code is good once.
    let (replayed, message) = refused(
        alice(&broker)
            .assume_role()
            .role_arn(ADMIN_ROLE)
            .role_session_name("replay")
            .serial_number(ALICE_MFA_SERIAL)
            .token_code(&code)
            .send()
            .await,
    )
    .await;
    assert_eq!(replayed, "AccessDenied");
    assert!(
        message.contains("MultiFactorAuthentication failed"),
        "{message}"
    );
    let who = client(&broker, &creds)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(
        who.arn(),
        Some("arn:aws:sts::111122223333:assumed-role/admin/alice-admin")
    );

    // Without MFA the trust policy's condition fails; with a wrong code MFA itself fails.
    let (code_without, message) = refused(
        alice(&broker)
            .assume_role()
            .role_arn(ADMIN_ROLE)
            .role_session_name("no-mfa")
            .send()
            .await,
    )
    .await;
    assert_eq!(code_without, "AccessDenied");
    assert!(message.contains("aws:MultiFactorAuthPresent"), "{message}");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (code_wrong, message) = refused(
        alice(&broker)
            .assume_role()
            .role_arn(ADMIN_ROLE)
            .role_session_name("bad-mfa")
            .serial_number(ALICE_MFA_SERIAL)
            .token_code(wrong)
            .send()
            .await,
    )
    .await;
    assert_eq!(code_wrong, "AccessDenied");
    assert!(
        message.contains("MultiFactorAuthentication failed"),
        "{message}"
    );

    // Across accounts alice's own policies must allow sts:AssumeRole; they do not.
    let (code_cross, message) = refused(
        alice(&broker)
            .assume_role()
            .role_arn(VENDOR_ROLE)
            .role_session_name("alice-vendor")
            .external_id(VENDOR_EXTERNAL_ID)
            .send()
            .await,
    )
    .await;
    assert_eq!(code_cross, "AccessDenied");
    assert!(
        message.starts_with("User: arn:aws:iam::111122223333:user/alice is not authorized"),
        "{message}"
    );
}

#[tokio::test]
async fn get_session_token_carries_mfa_into_assume_role() {
    use sts_broker::totp::{Seed, code_at};

    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let seed = Seed::from_base32(ALICE_MFA_SEED).unwrap();
    let out = alice(&broker)
        .get_session_token()
        .serial_number(ALICE_MFA_SERIAL)
        .token_code(code_at(&seed, time::OffsetDateTime::now_utc()))
        .duration_seconds(7200)
        .send()
        .await
        .unwrap();
    let with_mfa = creds_of(out.credentials().unwrap());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expiry = out.credentials().unwrap().expiration().secs();
    assert!((now + 7190..=now + 7202).contains(&expiry), "{expiry}");

    let who = client(&broker, &with_mfa)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.arn(), Some("arn:aws:iam::111122223333:user/alice"));
    assert!(who.user_id().unwrap().starts_with("AIDA"));

    // The MFA proof travels with the credentials: no new code is needed for the admin role.
    let admin = client(&broker, &with_mfa)
        .assume_role()
        .role_arn(ADMIN_ROLE)
        .role_session_name("from-gst")
        .send()
        .await
        .unwrap();
    assert!(admin.credentials().is_some());
    // ...and a role assumed with them is capped like a chained one.
    assert_chaining_cap(&broker, &with_mfa, ADMIN_ROLE).await;

    // Without MFA the same credentials kind cannot reach the admin role.
    let plain = creds_of(
        alice(&broker)
            .get_session_token()
            .send()
            .await
            .unwrap()
            .credentials()
            .unwrap(),
    );
    let (code, _) = refused(
        client(&broker, &plain)
            .assume_role()
            .role_arn(ADMIN_ROLE)
            .role_session_name("no-mfa")
            .send()
            .await,
    )
    .await;
    assert_eq!(code, "AccessDenied");

    // Session credentials cannot call GetSessionToken; durations stay within 900..=129600.
    let e = client(&broker, &plain)
        .get_session_token()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e.code(), Some("AccessDenied"));
    let e = alice(&broker)
        .get_session_token()
        .duration_seconds(129_601)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e.code(), Some("ValidationError"));
}

/// Across accounts both sides must allow: bob's group grants sts:AssumeRole on the vendor role
/// and the vendor trusts bob's account (with its external id), so bob gets in; alice, whose
/// policies do not grant it, does not (see `an_iam_user_assumes_a_role_with_a_totp_code`).
#[tokio::test]
async fn a_user_assumes_a_role_in_another_account_when_both_sides_allow() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let bob = long_term(&broker, BOB_KEY_ID, BOB_SECRET);
    let out = bob
        .assume_role()
        .role_arn(VENDOR_ROLE)
        .role_session_name("bob-vendor")
        .external_id(VENDOR_EXTERNAL_ID)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.assumed_role_user().unwrap().arn(),
        "arn:aws:sts::444455556666:assumed-role/vendor/bob-vendor"
    );
    // The trust side still decides: without the external id bob is refused.
    let (code, message) = refused(
        bob.assume_role()
            .role_arn(VENDOR_ROLE)
            .role_session_name("bob-vendor")
            .send()
            .await,
    )
    .await;
    assert_eq!(code, "AccessDenied");
    assert!(message.contains("sts:ExternalId"), "{message}");
}

/// The replay guard lives in the shared store: a code used on one replica is refused on another.
#[tokio::test]
async fn an_mfa_code_is_good_once_across_replicas() {
    use crate::harness::redis::RedisServer;
    use sts_broker::totp::{Seed, code_at};

    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let one = TestBroker::start(&idp, &redis.url()).await;
    let two = TestBroker::start(&idp, &redis.url()).await;
    let seed = Seed::from_base32(ALICE_MFA_SEED).unwrap();
    let code = code_at(&seed, time::OffsetDateTime::now_utc());
    let first = alice(&one)
        .get_session_token()
        .serial_number(ALICE_MFA_SERIAL)
        .token_code(&code)
        .send()
        .await;
    assert!(first.is_ok(), "{first:?}");
    let again = alice(&two)
        .get_session_token()
        .serial_number(ALICE_MFA_SERIAL)
        .token_code(&code)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(again.code(), Some("AccessDenied"));
    assert!(
        redis
            .keys()
            .await
            .iter()
            .any(|k| k.starts_with("sts-broker:used:mfa:"))
    );
}

/// Guessing codes is bounded: after five wrong codes even the right one is refused.
#[tokio::test]
async fn repeated_wrong_mfa_codes_lock_the_device() {
    use sts_broker::totp::{Seed, code_at};

    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let seed = Seed::from_base32(ALICE_MFA_SEED).unwrap();
    let code = code_at(&seed, time::OffsetDateTime::now_utc());
    let wrong = format!(
        "{:06}",
        (code.parse::<u32>().unwrap() + 500_000) % 1_000_000
    );
    let attempt = |token: String| {
        let sts = alice(&broker);
        async move {
            sts.get_session_token()
                .serial_number(ALICE_MFA_SERIAL)
                .token_code(token)
                .send()
                .await
                .map_err(|e| e.into_service_error().code().map(str::to_owned))
        }
    };
    for _ in 0..5 {
        assert_eq!(
            attempt(wrong.clone()).await.unwrap_err().as_deref(),
            Some("AccessDenied")
        );
    }
    assert_eq!(
        attempt(code).await.unwrap_err().as_deref(),
        Some("AccessDenied"),
        "a locked device refuses even the right code"
    );
}

#[tokio::test]
async fn session_policies_are_bounded_checked_after_the_signature_and_stored_minified() {
    use crate::harness::broker::APP_ROLE;
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let compact = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::app-bucket/*"}]}"#;
    let spaced = r#"{
        "Version" : "2012-10-17",
        "Statement" : [ {
            "Effect" : "Allow",
            "Action" : "s3:GetObject",
            "Resource" : "arn:aws:s3:::app-bucket/*"
        } ]
    }"#;
    assert!(spaced.len() < 2048);

    // Stored without its whitespace; the packed size counts the same.
    let out = alice(&broker)
        .assume_role()
        .role_arn(APP_ROLE)
        .role_session_name("spaced")
        .policy(spaced)
        .send()
        .await
        .unwrap();
    let key_id = out.credentials().unwrap().access_key_id();
    let record = broker
        .state
        .store
        .get_session(key_id, &broker.state.keys.snapshot())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.session_policy.as_deref(), Some(compact));

    // STS's limit on the plaintext is 2,048 characters, whitespace included.
    let padded = format!("{compact}{}", " ".repeat(2049 - compact.len()));
    let (code, message) = refused(
        alice(&broker)
            .assume_role()
            .role_arn(APP_ROLE)
            .role_session_name("padded")
            .policy(&padded)
            .send()
            .await,
    )
    .await;
    assert_eq!(code, "ValidationError");
    assert!(
        message.contains("at 'policy' failed to satisfy constraint: Member must have length less than or equal to 2048"),
        "{message}"
    );

    // An unauthenticated caller gets the signature's answer, never the policy parser's.
    let malformed = "{\"Version\": \"2012-10-17\", \"Statement\": [".to_owned() + &"[".repeat(30);
    let (code, _) = refused(
        broker
            .sts_as(ALICE_KEY_ID, "wrong-secret", None)
            .assume_role()
            .role_arn(APP_ROLE)
            .role_session_name("forged")
            .policy(&malformed)
            .send()
            .await,
    )
    .await;
    assert_eq!(code, "SignatureDoesNotMatch");
    let unsigned = broker
        .http()
        .post(&broker.endpoint)
        .form(&[
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", APP_ROLE),
            ("RoleSessionName", "anonymous"),
            ("Policy", malformed.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    let body = unsigned.text().await.unwrap();
    assert!(
        body.contains("<Code>MissingAuthenticationToken</Code>"),
        "{body}"
    );
    // Signed, the same text is a malformed policy.
    let (code, _) = refused(
        alice(&broker)
            .assume_role()
            .role_arn(APP_ROLE)
            .role_session_name("signed")
            .policy(&malformed)
            .send()
            .await,
    )
    .await;
    assert_eq!(code, "MalformedPolicyDocument");
}

/// No role is assumed by an account's root user: not with its access key, nor with the
/// session its key made (`GetSessionToken`), in its own account or another, even by a role
/// whose trust names the account's root.
#[tokio::test]
async fn the_root_user_assumes_no_role_even_through_its_session() {
    use crate::revocation::{
        ROOT_KEY, ROOT_SECRET, ROOT_TRUSTING_ROLES, root_config, user_session,
    };
    let dir = tempfile::tempdir().unwrap();
    let toml = root_config(dir.path(), Some("Active"), Some("Active"));
    let broker = TestBroker::from_toml(dir, &toml).await;
    let (session, _) = user_session(&broker, ROOT_KEY, ROOT_SECRET, None).await;
    for role in ROOT_TRUSTING_ROLES {
        for sts in [
            long_term(&broker, ROOT_KEY, ROOT_SECRET),
            client(&broker, &session),
        ] {
            let (code, status, message) = crate::iam_roles::refused(
                sts.assume_role()
                    .role_arn(role)
                    .role_session_name("root")
                    .send()
                    .await,
            );
            assert_eq!((code.as_str(), status), ("AccessDenied", 403), "{role}");
            assert_eq!(message, "Roles may not be assumed by root accounts.");
        }
    }
}
