//! The audit log: one JSON line per Query API call with who, what, on which role and the
//! outcome, never a secret; writing never holds up requests.

use aws_sdk_sts::error::ProvideErrorMetadata as _;
use serde_json::Value;

use crate::harness::broker::{
    ADMIN_ROLE, ALICE_ARN, ALICE_KEY_ID, ALICE_SECRET, DEPLOY_ROLE, PROVIDER_ARN, TestBroker,
    standard_config,
};
use crate::harness::idp::TestIdp;

/// The broker on the standard configuration with `[audit] output = output`.
async fn with_audit(idp: &TestIdp, output: &str) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let toml = standard_config(dir.path(), idp, "memory://", 0)
        + &format!("\n[audit]\noutput = \"{output}\"\n");
    TestBroker::from_toml(dir, &toml).await
}

#[tokio::test]
async fn every_call_is_one_line_without_secrets() {
    let idp = TestIdp::start().await;
    let broker = with_audit(&idp, "audit.log").await;
    let token = idp.token(
        "rsa-1",
        &idp.claims("repo:octo-org/app:ref:refs/heads/main"),
    );

    let minted = broker
        .sts()
        .assume_role_with_web_identity()
        .role_arn(DEPLOY_ROLE)
        .role_session_name("gha-7")
        .web_identity_token(&token)
        .send()
        .await
        .unwrap();
    let creds = minted.credentials().unwrap();
    let alice = broker.sts_as(ALICE_KEY_ID, ALICE_SECRET, None);
    let denied = alice
        .assume_role()
        .role_arn(ADMIN_ROLE)
        .role_session_name("no-mfa")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(denied.code(), Some("AccessDenied"));
    let session = broker.sts_as(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token()),
    );
    session.get_caller_identity().send().await.unwrap();

    broker.state.audit.flush().await;
    let text = std::fs::read_to_string(broker.dir.path().join("audit.log")).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");

    let web = &lines[0];
    assert_eq!(web["action"], "sts:AssumeRoleWithWebIdentity");
    assert_eq!(web["decision"], "Allow");
    assert_eq!(web["principal"], PROVIDER_ARN);
    assert_eq!(web["role"], DEPLOY_ROLE);
    assert_eq!(web["session_name"], "gha-7");
    assert_eq!(web["subject"], "repo:octo-org/app:ref:refs/heads/main");
    assert_eq!(web["access_key_id"], creds.access_key_id());
    assert_eq!(web["reason"], Value::Null);
    assert_eq!(web["source_ip"], "127.0.0.1");
    assert!(web["request_id"].as_str().is_some_and(|id| id.len() == 36));
    assert!(web["time"].as_str().unwrap().ends_with('Z'));

    let refused = &lines[1];
    assert_eq!(refused["action"], "sts:AssumeRole");
    assert_eq!(refused["decision"], "Deny");
    assert_eq!(refused["reason"], "implicitDeny");
    assert_eq!(refused["principal"], ALICE_ARN);
    assert_eq!(refused["role"], ADMIN_ROLE);
    assert_eq!(refused["session_name"], "no-mfa");
    assert_eq!(refused["access_key_id"], ALICE_KEY_ID);

    let who = &lines[2];
    assert_eq!(who["action"], "sts:GetCallerIdentity");
    assert_eq!(who["decision"], "Allow");
    assert_eq!(
        who["principal"],
        "arn:aws:sts::111122223333:assumed-role/deploy/gha-7"
    );
    assert_eq!(who["access_key_id"], creds.access_key_id());

    for secret in [
        creds.secret_access_key(),
        creds.session_token(),
        token.as_str(),
        ALICE_SECRET,
        "Signature=",
        "AWS4-HMAC-SHA256",
    ] {
        assert!(
            !text.contains(secret),
            "the audit log holds {secret:.12}..."
        );
    }
    // No signature (64 hex digits) either.
    let hex_run = text
        .split(|c: char| !c.is_ascii_hexdigit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(hex_run < 64, "{text}");
}

#[tokio::test]
async fn a_failing_audit_target_does_not_hold_up_requests() {
    let idp = TestIdp::start().await;
    // Every write to /dev/full fails (ENOSPC).
    let broker = with_audit(&idp, "/dev/full").await;
    let alice = broker.sts_as(ALICE_KEY_ID, ALICE_SECRET, None);
    for _ in 0..3 {
        alice.get_caller_identity().send().await.unwrap();
    }
    broker.state.audit.flush().await;
    assert_eq!(broker.state.audit.failed(), 3);
    assert_eq!(broker.state.audit.dropped(), 0);
}

#[tokio::test]
async fn an_audit_file_that_cannot_be_opened_stops_the_start() {
    let idp = TestIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = standard_config(dir.path(), &idp, "memory://", 0)
        + "\n[audit]\noutput = \"no-such-folder/audit.log\"\n";
    let config = sts_broker::config::Config::from_toml(&toml, "broker.toml", dir.path()).unwrap();
    let e = sts_broker::app::AppState::build(
        config,
        std::sync::Arc::new(sts_broker::clock::SystemClock),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("no-such-folder/audit.log"), "{e}");
}
