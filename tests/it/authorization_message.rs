//! Denials carry an encoded authorization failure message that only an administrator can
//! decode (`sts:DecodeAuthorizationMessage`) into the full evaluation trace.

use aws_sdk_sts::error::ProvideErrorMetadata as _;
use serde_json::Value;

use crate::harness::broker::{
    ADMIN_ROLE, ALICE_KEY_ID, ALICE_SECRET, GATEWAY_KEY_ID, GATEWAY_SECRET, OPS_KEY_ID, OPS_SECRET,
    TestBroker,
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
