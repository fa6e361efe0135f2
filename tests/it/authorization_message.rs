//! Denials carry an encoded authorization failure message that only an administrator can
//! decode (`sts:DecodeAuthorizationMessage`) into the full evaluation trace.

use aws_sdk_sts::error::ProvideErrorMetadata as _;
use serde_json::Value;

use crate::harness::broker::{
    ADMIN_ROLE, ALICE_KEY_ID, ALICE_SECRET, BOB_KEY_ID, BOB_SECRET, GATEWAY_KEY_ID, GATEWAY_SECRET,
    OPS_KEY_ID, OPS_SECRET, TestBroker, VENDOR_EXTERNAL_ID, VENDOR_ROLE,
};
use crate::harness::idp::TestIdp;

const MARKER: &str = "Encoded authorization failure message: ";

/// The encoded message of alice's denied AssumeRole of the MFA-only role.
async fn denial(broker: &TestBroker) -> (String, String) {
    let e = broker
        .sts_as(ALICE_KEY_ID, ALICE_SECRET, None)
        .assume_role()
        .role_arn(ADMIN_ROLE)
        .role_session_name("no-mfa")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e.code(), Some("AccessDenied"));
    let message = e.message().unwrap().to_owned();
    let (safe, blob) = message.split_once(MARKER).expect("an encoded message");
    // The caller-safe part names the failing key but no policy value.
    assert!(safe.contains("aws:MultiFactorAuthPresent"), "{safe}");
    assert!(!safe.contains("3600"), "{safe}");
    (message.clone(), blob.to_owned())
}

#[tokio::test]
async fn an_admin_decodes_a_denial_into_its_trace() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let (_, blob) = denial(&broker).await;
    assert!(!blob.contains("MultiFactor"), "the trace is encrypted");

    let out = broker
        .sts_as(OPS_KEY_ID, OPS_SECRET, None)
        .decode_authorization_message()
        .encoded_message(&blob)
        .send()
        .await
        .unwrap();
    let trace: Value = serde_json::from_str(out.decoded_message().unwrap()).unwrap();
    assert_eq!(trace["allowed"], false);
    assert_eq!(trace["explicitDeny"], false);
    assert_eq!(trace["context"]["action"], "sts:AssumeRole");
    assert_eq!(trace["context"]["resource"], ADMIN_ROLE);
    assert_eq!(
        trace["context"]["principal"]["arn"],
        "arn:aws:iam::111122223333:user/alice"
    );
    // The statement that did not apply, with its failing condition, and the request's keys.
    let failures = trace["failures"]["items"].as_array().unwrap();
    assert!(
        failures.iter().any(|f| {
            f["policyId"]
                .as_str()
                .unwrap()
                .contains("role/admin (trust policy)")
                && f["reason"]
                    .as_str()
                    .unwrap()
                    .contains("aws:MultiFactorAuthPresent")
        }),
        "{trace:#}"
    );
    let keys: Vec<&str> = trace["context"]["conditions"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"aws:principalarn"), "{keys:?}");
}

#[tokio::test]
async fn only_admins_decode_and_only_untouched_messages() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let (_, blob) = denial(&broker).await;

    // Someone whose policies do not allow sts:DecodeAuthorizationMessage.
    let e = broker
        .sts_as(GATEWAY_KEY_ID, GATEWAY_SECRET, None)
        .decode_authorization_message()
        .encoded_message(&blob)
        .send()
        .await
        .unwrap_err();
    let status = e.raw_response().unwrap().status().as_u16();
    let e = e.into_service_error();
    assert_eq!((e.code(), status), (Some("AccessDenied"), 403));
    // Alice may not decode her own denial either.
    let e = broker
        .sts_as(ALICE_KEY_ID, ALICE_SECRET, None)
        .decode_authorization_message()
        .encoded_message(&blob)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e.code(), Some("AccessDenied"));

    let ops = broker.sts_as(OPS_KEY_ID, OPS_SECRET, None);
    // One character changed, cut short, not base64url, and too long.
    let mut tampered: Vec<char> = blob.chars().collect();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    for (bad, code, status) in [
        (
            tampered.as_str(),
            "InvalidAuthorizationMessageException",
            400,
        ),
        (
            &blob[..blob.len() - 4],
            "InvalidAuthorizationMessageException",
            400,
        ),
        ("not*base64", "InvalidAuthorizationMessageException", 400),
        (&"A".repeat(10_241), "ValidationError", 400),
    ] {
        let e = ops
            .decode_authorization_message()
            .encoded_message(bad)
            .send()
            .await
            .unwrap_err();
        let got_status = e.raw_response().unwrap().status().as_u16();
        let e = e.into_service_error();
        assert_eq!((e.code(), got_status), (Some(code), status), "{bad:.40}");
    }
    // A message encoded by another broker (other keys) does not decode here.
    let other = TestBroker::start(&idp, "memory://").await;
    let (_, foreign) = denial(&other).await;
    let e = ops
        .decode_authorization_message()
        .encoded_message(&foreign)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e.code(), Some("InvalidAuthorizationMessageException"));
}

#[tokio::test]
async fn a_missing_role_is_denied_like_a_refusing_one() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let e = broker
        .sts_as(ALICE_KEY_ID, ALICE_SECRET, None)
        .assume_role()
        .role_arn("arn:aws:iam::111122223333:role/does-not-exist")
        .role_session_name("probe")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e.code(), Some("AccessDenied"));
    assert!(e.message().unwrap().contains(MARKER), "{:?}", e.message());
}

/// A message decodes only for principals of the denied request's account: another account's
/// administrator, allowed `sts:DecodeAuthorizationMessage` in its own account, is refused, and
/// decodes its own account's denials.
#[tokio::test]
async fn another_accounts_admin_cannot_decode_a_denial() {
    const VENDOR_ADMIN_ARN: &str = "arn:aws:iam::444455556666:user/vendor-admin";
    const VENDOR_ADMIN_KEY_ID: &str = "AKIAVENDORADMIN23456";
    const VENDOR_ADMIN_SECRET: &str = "vendorAdminSecretKey/EXAMPLE+0123456789ab";
    let idp = TestIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vendor-admin.secret"), VENDOR_ADMIN_SECRET).unwrap();
    std::fs::write(
        dir.path().join("vendor-admin.json"),
        r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "sts:DecodeAuthorizationMessage", "Resource": "*"}]}"#,
    )
    .unwrap();
    // An administrator of the other account the standard configuration serves.
    let toml = crate::harness::broker::standard_config(dir.path(), &idp, "memory://", 0)
        + &format!(
            r#"
[[users]]
account = "444455556666"
name = "vendor-admin"
policy_files = ["vendor-admin.json"]
access_keys = [{{ id = "{VENDOR_ADMIN_KEY_ID}", secret_file = "vendor-admin.secret" }}]
"#
        );
    let broker = TestBroker::from_toml(dir, &toml).await;
    let vendor = broker.sts_as(VENDOR_ADMIN_KEY_ID, VENDOR_ADMIN_SECRET, None);
    let ops = broker.sts_as(OPS_KEY_ID, OPS_SECRET, None);
    let decode = |client: &aws_sdk_sts::Client, blob: &str| {
        let request = client
            .decode_authorization_message()
            .encoded_message(blob)
            .send();
        async move {
            request
                .await
                .map(|out| out.decoded_message().unwrap().to_owned())
                .map_err(|e| {
                    let e = e.into_service_error();
                    (
                        e.code().unwrap_or_default().to_owned(),
                        e.message().unwrap_or_default().to_owned(),
                    )
                })
        }
    };

    // Alice (account 111122223333) is denied: ops decodes it, the vendor's admin may not.
    let (_, blob) = denial(&broker).await;
    let (code, message) = decode(&vendor, &blob).await.unwrap_err();
    assert_eq!(code, "AccessDenied", "{message}");
    assert!(message.contains("another account"), "{message}");
    assert!(!message.contains("MultiFactor"), "{message}");
    decode(&ops, &blob).await.unwrap();

    // The vendor's admin denied an AssumeRole: the vendor's admin decodes it, ops may not.
    let e = vendor
        .assume_role()
        .role_arn(ADMIN_ROLE)
        .role_session_name("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let message = e.message().unwrap().to_owned();
    let (_, own) = message.split_once(MARKER).expect("an encoded message");
    let trace: Value = serde_json::from_str(&decode(&vendor, own).await.unwrap()).unwrap();
    assert_eq!(trace["context"]["principal"]["arn"], VENDOR_ADMIN_ARN);
    assert_eq!(decode(&ops, own).await.unwrap_err().0, "AccessDenied");
}

/// A denial by another account's trust policy decodes for the caller's account without that
/// policy's statements: bob (111122223333) sends a wrong ExternalId to the vendor's role
/// (444455556666); his account's administrator learns that the vendor's trust policy refused,
/// not its ExternalId, Sid or failing condition.
#[tokio::test]
async fn a_denial_by_another_accounts_trust_policy_hides_that_policy() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let e = broker
        .sts_as(BOB_KEY_ID, BOB_SECRET, None)
        .assume_role()
        .role_arn(VENDOR_ROLE)
        .role_session_name("guess")
        .external_id("wrong-id")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e.code(), Some("AccessDenied"));
    let message = e.message().unwrap();
    let (_, blob) = message.split_once(MARKER).expect("an encoded message");
    let out = broker
        .sts_as(OPS_KEY_ID, OPS_SECRET, None)
        .decode_authorization_message()
        .encoded_message(blob)
        .send()
        .await
        .unwrap();
    let text = out.decoded_message().unwrap();
    assert!(!text.contains(VENDOR_EXTERNAL_ID), "{text}");
    assert!(!text.contains("vendor (trust policy)"), "{text}");
    let trace: Value = serde_json::from_str(text).unwrap();
    assert_eq!(trace["context"]["resource"], VENDOR_ROLE);
    let statements: Vec<&Value> = ["matchedStatements", "failures"]
        .iter()
        .flat_map(|list| trace[list]["items"].as_array().unwrap())
        .collect();
    assert!(
        statements.iter().any(|s| s["policyType"] == "trust"),
        "{trace:#}"
    );
    for s in statements.iter().filter(|s| s["policyType"] == "trust") {
        assert!(s.get("reason").is_none(), "{s}");
        assert!(s.get("policyId").is_none(), "{s}");
        assert!(s.get("statementId").is_none(), "{s}");
    }
    // The request's own values stay: they are the caller's.
    assert!(text.contains("wrong-id"), "{text}");
}
