//! `admin::require`: admin calls are signed (SigV4) by a principal whose own policies allow the
//! action; everyone else gets AWS's `AccessDenied` wording with a caller-safe reason.

use sts_broker::broker::admin;
use sts_broker::broker::{RawRequest, RequestMeta};

use crate::harness::broker::{
    ALICE_KEY_ID, ALICE_SECRET, APP_ROLE, GATEWAY_ARN, GATEWAY_KEY_ID, GATEWAY_SECRET, OPS_ARN,
    OPS_KEY_ID, OPS_SECRET, TestBroker,
};
use crate::harness::idp::TestIdp;
use crate::harness::signer::Signer;

const BODY: &str = "Action=RevokeSession&Version=2011-06-15";

/// A POST to the broker's `/` as it arrives, signed by `signer` for `service` (unsigned when
/// `None`).
fn meta(broker: &TestBroker, signer: Option<&Signer>, service: &str) -> RequestMeta {
    let host = broker.endpoint.trim_start_matches("http://").to_owned();
    let url = format!("{}/", broker.endpoint);
    let content_type = ("content-type", "application/x-www-form-urlencoded");
    let mut headers = vec![
        ("host".to_owned(), host),
        (content_type.0.to_owned(), content_type.1.to_owned()),
    ];
    if let Some(s) = signer {
        headers.extend(s.sign(service, "POST", &url, &[content_type], BODY.as_bytes()));
    }
    RequestMeta {
        request_id: "test".to_owned(),
        source_ip: None,
        user_agent: None,
        secure_transport: false,
        raw: RawRequest {
            method: "POST".to_owned(),
            path: "/".to_owned(),
            query: String::new(),
            headers,
            body: bytes::Bytes::from_static(BODY.as_bytes()),
        },
    }
}

#[tokio::test]
async fn admin_calls_need_a_signer_whose_policies_allow_them() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let state = &broker.state;
    let ops = Signer::new(OPS_KEY_ID, OPS_SECRET, None);
    let gateway = Signer::new(GATEWAY_KEY_ID, GATEWAY_SECRET, None);

    // Allowed: the operator's policy allows broker:*.
    let (caller, permissions) = admin::require(
        state,
        &meta(&broker, Some(&ops), "sts"),
        "broker:RevokeSession",
        "*",
    )
    .await
    .unwrap();
    assert_eq!(caller.arn(), OPS_ARN);
    assert_eq!(permissions.arn(), OPS_ARN);
    // The gateway may authorize, nothing else.
    admin::require(
        state,
        &meta(&broker, Some(&gateway), "sts"),
        "broker:Authorize",
        "*",
    )
    .await
    .unwrap();
    let e = admin::require(
        state,
        &meta(&broker, Some(&gateway), "sts"),
        "broker:RevokeSession",
        "*",
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.status().as_u16()),
        ("AccessDenied", 403)
    );
    // The caller-safe reason, then the trace only an administrator can decode.
    assert!(
        e.message.starts_with(&format!(
            "User: {GATEWAY_ARN} is not authorized to perform: broker:RevokeSession on resource: *: \
             the identity-based policies has no statement that allows this action. \
             Encoded authorization failure message: "
        )),
        "{}",
        e.message
    );
    // A user with broad s3 rights but none on the broker.
    let alice = Signer::new(ALICE_KEY_ID, ALICE_SECRET, None);
    let e = admin::require(
        state,
        &meta(&broker, Some(&alice), "sts"),
        "sts:DecodeAuthorizationMessage",
        "*",
    )
    .await
    .unwrap_err();
    assert_eq!(e.code.as_str(), "AccessDenied");

    // An explicit deny wins over broker:*.
    let e = admin::require(
        state,
        &meta(&broker, Some(&ops), "sts"),
        "broker:PurgeEverything",
        "*",
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.status().as_u16()),
        ("AccessDenied", 403)
    );
    assert!(
        e.message
            .contains(": an explicit deny in an identity policy applies. Encoded authorization failure message: "),
        "{}",
        e.message
    );

    // Unsigned.
    let e = admin::require(state, &meta(&broker, None, "sts"), "broker:Authorize", "*")
        .await
        .unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.status().as_u16()),
        ("MissingAuthenticationToken", 403)
    );

    // IAM actions are signed for iam; an sts signature does not do.
    admin::require(
        state,
        &meta(&broker, Some(&ops), "iam"),
        "iam:SimulatePrincipalPolicy",
        "*",
    )
    .await
    .unwrap();
    let e = admin::require(
        state,
        &meta(&broker, Some(&ops), "sts"),
        "iam:SimulatePrincipalPolicy",
        "*",
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.status().as_u16()),
        ("SignatureDoesNotMatch", 403)
    );
    assert_eq!(
        e.message,
        "Credential should be scoped to correct service: 'iam'. "
    );

    // A wrong secret.
    let forger = Signer::new(OPS_KEY_ID, GATEWAY_SECRET, None);
    let e = admin::require(
        state,
        &meta(&broker, Some(&forger), "sts"),
        "broker:Authorize",
        "*",
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.status().as_u16()),
        ("SignatureDoesNotMatch", 403)
    );
}

/// A role session (minted by AssumeRole through the SDK) is judged by its role's policies:
/// the `app` role has no broker rights; the cached session answers the same the second time.
#[tokio::test]
async fn role_sessions_are_judged_by_their_policies() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let out = broker
        .sts_as(ALICE_KEY_ID, ALICE_SECRET, None)
        .assume_role()
        .role_arn(APP_ROLE)
        .role_session_name("admin-test")
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    let session = Signer::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token()),
    );
    for _ in 0..2 {
        let e = admin::require(
            &broker.state,
            &meta(&broker, Some(&session), "sts"),
            "broker:Authorize",
            "*",
        )
        .await
        .unwrap_err();
        assert_eq!(e.code.as_str(), "AccessDenied");
        assert!(
            e.message.starts_with(
                "User: arn:aws:sts::111122223333:assumed-role/app/admin-test is not authorized"
            ),
            "{}",
            e.message
        );
    }
    assert!(broker.state.auth_cache.get(c.access_key_id(), 0).is_some());
}

/// An account's root user is confined to its account: it may do anything on a resource whose
/// ARN names its account and IAM's account-level actions, but not administer the broker
/// (`POST /admin/reload`: `broker:ReloadConfig` on `*`), not ask the authorize API about a
/// resource that names no account, and a request it signs on such a resource (an S3 object) is
/// not allowed. Operators explicitly granted these keep them.
#[tokio::test]
async fn a_root_user_is_confined_to_its_account() {
    use crate::revocation::{ROOT_KEY, ROOT_SECRET, root_config};
    let dir = tempfile::tempdir().unwrap();
    let toml = root_config(dir.path(), Some("Active"), Some("Active"));
    let broker = TestBroker::reloadable(dir, &toml).await;
    let root = Signer::new(ROOT_KEY, ROOT_SECRET, None);
    let ops = Signer::new(
        "AKIAOPSREVOKEAAAAAAA",
        "opsRevokeSecretAccessKey/EXAMPLE+012345",
        None,
    );

    let (status, _, v) = broker
        .post_json("/admin/reload", Some(&root), &serde_json::json!({}))
        .await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["code"], "AccessDenied", "{v}");
    let (status, _, v) = broker
        .post_json("/admin/reload", Some(&ops), &serde_json::json!({}))
        .await;
    assert_eq!(status, 200, "{v}");

    // A request the root signs, as a resource server forwards it.
    let forwarded = |service: &str, resource: &str, action: &str| {
        let url = "https://objects.example.com/bucket/key";
        let mut headers = vec![("host".to_owned(), "objects.example.com".to_owned())];
        headers.extend(root.sign(service, "GET", url, &[], b""));
        serde_json::json!({
            "request": {"method": "GET", "path": "/bucket/key", "headers": headers},
            "action": action,
            "resource": resource,
        })
    };
    let object = forwarded("s3", "arn:aws:s3:::bucket/key", "s3:GetObject");
    let (status, _, v) = broker.post_json("/authorize", Some(&root), &object).await;
    assert_eq!(status, 403, "{v}");
    for (question, allowed) in [
        (object, false),
        (forwarded("s3", "*", "s3:ListAllMyBuckets"), false),
        (
            forwarded(
                "dynamodb",
                "arn:aws:dynamodb:us-east-1:111122223333:table/t",
                "dynamodb:GetItem",
            ),
            true,
        ),
    ] {
        let (status, _, v) = broker.post_json("/authorize", Some(&ops), &question).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["authenticated"], true, "{v}");
        assert_eq!(v["allowed"], allowed, "{question}: {v}");
    }

    // Its own account's IAM, resource `*` included.
    let iam = broker.iam_as(ROOT_KEY, ROOT_SECRET);
    iam.list_users().send().await.unwrap();
    iam.generate_credential_report().send().await.unwrap();
}
