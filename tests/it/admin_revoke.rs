//! Revocation over HTTP (`POST /admin/revoke`): two replicas on one real Redis, sessions minted
//! with the real SDK, revocations signed with the SDK's own signer by the `ops` operator. A
//! revocation made on one replica is refused on the other within a second, by the Query API and
//! by the authorize API; callers without the action are refused and nothing is stored.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use sts_broker::clock::{ManualClock, SystemClock};

use crate::harness::broker::{
    ACCOUNT, ALICE_ARN, ALICE_KEY_ID, ALICE_SECRET, APP_ROLE, BOB_KEY_ID, BOB_SECRET, DEPLOY_ROLE,
    GATEWAY_KEY_ID, GATEWAY_SECRET, OPS_ARN, OPS_KEY_ID, OPS_SECRET, PROVIDER_ARN, TestBroker,
    standard_config,
};
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;
use crate::harness::signer::Signer;
use crate::revocation::{Creds, exchange, probe, refused_within_a_second, token};

const SUB: &str = "repo:octo-org/app:ref:refs/heads/main";
const OTHER_SUB: &str = "repo:octo-org/app:ref:refs/heads/dev";

fn ops() -> Signer {
    Signer::new(OPS_KEY_ID, OPS_SECRET, None)
}

/// A JSON POST to `path` signed by `signer` for `sts` (unsigned when `None`): status and JSON.
async fn post(
    broker: &TestBroker,
    path: &str,
    signer: Option<&Signer>,
    body: &str,
) -> (u16, Value) {
    let (status, _, value) = broker.post_text(path, signer, body).await;
    (status, value)
}

async fn revoke(broker: &TestBroker, signer: Option<&Signer>, body: &Value) -> (u16, Value) {
    post(broker, "/admin/revoke", signer, &body.to_string()).await
}

/// Revocation entries in Redis.
async fn stored(redis: &RedisServer) -> usize {
    redis
        .keys()
        .await
        .iter()
        .filter(|k| k.starts_with("sts-broker:revoked:"))
        .count()
}

async fn two_replicas(
    idp: &TestIdp,
    redis: &RedisServer,
) -> (TestBroker, TestBroker, tempfile::TempDir) {
    let keys = tempfile::tempdir().unwrap();
    let a = TestBroker::replica(idp, &redis.url(), keys.path(), Arc::new(SystemClock)).await;
    let b = TestBroker::replica(idp, &redis.url(), keys.path(), Arc::new(SystemClock)).await;
    (a, b, keys)
}

/// What the authorize API on `broker` says about a request `creds` signed for S3.
async fn authorize_with(broker: &TestBroker, creds: &Creds) -> Value {
    let client = Signer::new(&creds.0, &creds.1, Some(&creds.2));
    let url = "https://objects.example.com/app-bucket/a.txt";
    let mut headers = vec![("host".to_owned(), "objects.example.com".to_owned())];
    headers.extend(client.sign("s3", "GET", url, &[], b""));
    let body = json!({
        "request": {"method": "GET", "path": "/app-bucket/a.txt", "headers": headers},
        "action": "s3:GetObject",
        "resource": "arn:aws:s3:::app-bucket/a.txt",
    });
    let gateway = Signer::new(GATEWAY_KEY_ID, GATEWAY_SECRET, None);
    let (status, v) = post(broker, "/authorize", Some(&gateway), &body.to_string()).await;
    assert_eq!(status, 200, "{v}");
    v
}

#[tokio::test]
async fn a_session_revoked_over_http_on_one_replica_is_refused_on_the_other_within_a_second() {
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let (a, b, _keys) = two_replicas(&idp, &redis).await;
    let doomed = exchange(&a, &token(&idp, SUB, None)).await.unwrap();
    let sibling = exchange(&a, &token(&idp, SUB, None)).await.unwrap();
    probe(&b, &doomed).await.unwrap();
    assert_eq!(authorize_with(&b, &doomed).await["authenticated"], true);

    let since = Instant::now();
    let (status, v) = revoke(
        &a,
        Some(&ops()),
        &json!({"kind": "Session", "access_key_id": doomed.0}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let revoked = v["revoked"].as_array().unwrap();
    // The session and the web identity token it was issued for.
    assert_eq!(revoked.len(), 2, "{v}");
    assert_eq!(revoked[0]["rule"]["kind"], "Session");
    assert_eq!(revoked[0]["rule"]["access_key_id"], doomed.0.as_str());
    assert_eq!(revoked[1]["rule"]["kind"], "WebIdentityToken");
    for e in revoked {
        assert!(e["expires_at"].as_i64().unwrap() > e["revoked_at"].as_i64().unwrap());
    }
    refused_within_a_second(&b, &doomed, since).await;
    probe(&b, &sibling).await.unwrap();
    assert_eq!(stored(&redis).await, 2);

    // The authorize API refuses the revoked session's signature as AWS would.
    let v = authorize_with(&b, &doomed).await;
    assert_eq!(v["authenticated"], false, "{v}");
    assert_eq!(v["allowed"], false);
    assert_eq!(v["error"]["code"], "InvalidClientTokenId");
    assert_eq!(v["status"], 403);
    assert_eq!(authorize_with(&b, &sibling).await["authenticated"], true);
}

#[tokio::test]
async fn callers_without_the_action_are_refused_and_nothing_is_revoked() {
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let (a, b, _keys) = two_replicas(&idp, &redis).await;
    let session = exchange(&a, &token(&idp, SUB, None)).await.unwrap();
    let gateway = Signer::new(GATEWAY_KEY_ID, GATEWAY_SECRET, None);
    let alice = Signer::new(ALICE_KEY_ID, ALICE_SECRET, None);
    let own = Signer::new(&session.0, &session.1, Some(&session.2));
    let asks = [
        (
            json!({"kind": "Session", "access_key_id": session.0}),
            "broker:RevokeSession",
            format!("session {}", session.0),
        ),
        (
            json!({"kind": "Role", "role_arn": DEPLOY_ROLE}),
            "broker:RevokeRole",
            DEPLOY_ROLE.to_owned(),
        ),
        (
            json!({"kind": "RoleIssuedBefore", "role_arn": DEPLOY_ROLE, "before": 1_700_000_000}),
            "broker:RevokeRole",
            DEPLOY_ROLE.to_owned(),
        ),
        (
            json!({"kind": "Subject", "provider": PROVIDER_ARN, "subject": SUB}),
            "broker:RevokeSubject",
            PROVIDER_ARN.to_owned(),
        ),
    ];
    for signer in [&gateway, &alice, &own] {
        for (body, action, resource) in &asks {
            let (status, v) = revoke(&a, Some(signer), body).await;
            assert_eq!(
                (status, v["error"]["code"].as_str()),
                (403, Some("AccessDenied")),
                "{v}"
            );
            let message = v["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("perform: {action} on resource: {resource}"))
                    || message.contains(&format!("perform: {action} on {resource}")),
                "{message}"
            );
        }
    }
    assert_eq!(stored(&redis).await, 0);
    assert!(a.state.revocations.is_empty());
    probe(&b, &session).await.unwrap();
    probe(&a, &session).await.unwrap();
}

#[tokio::test]
async fn bad_calls_get_their_aws_code_and_store_nothing() {
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let (a, _b, _keys) = two_replicas(&idp, &redis).await;
    let ops = ops();

    let (status, v) = revoke(&a, None, &json!({"kind": "Role", "role_arn": DEPLOY_ROLE})).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("MissingAuthenticationToken")),
        "{v}"
    );
    // Signed for another service.
    let url = format!("{}/admin/revoke", a.endpoint);
    let body = json!({"kind": "Role", "role_arn": DEPLOY_ROLE}).to_string();
    let mut request = a.http().post(&url).body(body.clone());
    for (n, v) in ops.sign("iam", "POST", &url, &[], body.as_bytes()) {
        request = request.header(n, v);
    }
    let r = request.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "SignatureDoesNotMatch", "{v}");

    for body in [
        "not json",
        r#"{"kind": "Everything"}"#,
        r#"{"kind": "session", "access_key_id": "ASIAAAAAAAAAAAAAAAAA"}"#,
        r#"{"kind": "Role", "role_arn": "arn:aws:iam::111122223333:role/ci/deploy", "extra": 1}"#,
        r#"{"kind": "Role"}"#,
        r#"{"kind": "Session", "access_key_id": "ASIA-not-a-key"}"#,
        r#"{"kind": "Role", "role_arn": "deploy"}"#,
        r#"{"kind": "Subject", "provider": "arn:aws:iam::111122223333:oidc-provider/x", "subject": ""}"#,
        r#"{"kind": "RoleIssuedBefore", "role_arn": "arn:aws:iam::111122223333:role/ci/deploy", "before": 99999999999}"#,
    ] {
        let (status, v) = post(&a, "/admin/revoke", Some(&ops), body).await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (400, Some("ValidationError")),
            "{body}: {v}"
        );
    }

    let (status, v) = post(&a, "/admin/revoke", Some(&ops), &"x".repeat(20 * 1024)).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (413, Some("RequestEntityTooLarge")),
        "{v}"
    );

    let (status, v) = revoke(
        &a,
        Some(&ops),
        &json!({"kind": "Session", "access_key_id": "ASIAAAAAAAAAAAAAAAAA"}),
    )
    .await;
    // A missing session is answered as one of another account would be (the broker serves
    // two accounts, and ops may not revoke the other's sessions).
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("AccessDenied")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no live session it may revoke has this access key id"),
        "{v}"
    );
    assert_eq!(stored(&redis).await, 0);
    assert!(a.state.revocations.is_empty());

    let r = a.http().get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "MethodNotAllowed");
}

#[tokio::test]
async fn a_role_revoked_over_http_ends_its_sessions_on_every_replica() {
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let keys = tempfile::tempdir().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let clock = Arc::new(ManualClock::new(now.replace_nanosecond(0).unwrap()));
    let a = TestBroker::replica(&idp, &redis.url(), keys.path(), clock.clone()).await;
    let b = TestBroker::replica(&idp, &redis.url(), keys.path(), clock.clone()).await;
    let first = exchange(&a, &token(&idp, SUB, None)).await.unwrap();
    let second = exchange(&b, &token(&idp, OTHER_SUB, None)).await.unwrap();

    let since = Instant::now();
    let (status, v) = revoke(
        &b,
        Some(&ops()),
        &json!({"kind": "Role", "role_arn": DEPLOY_ROLE}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["revoked"][0]["rule"]["kind"], "Role");
    assert_eq!(v["revoked"][0]["rule"]["role_arn"], DEPLOY_ROLE);
    refused_within_a_second(&a, &first, since).await;
    refused_within_a_second(&a, &second, since).await;
    refused_within_a_second(&b, &first, since).await;
    assert_eq!(stored(&redis).await, 1);

    // Sessions issued after the revocation's second work.
    clock.advance(time::Duration::seconds(2));
    let later = exchange(&a, &token(&idp, SUB, None)).await.unwrap();
    probe(&b, &later).await.unwrap();
}

#[tokio::test]
async fn a_subject_revoked_over_http_spares_other_subjects() {
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let (a, b, _keys) = two_replicas(&idp, &redis).await;
    let doomed = exchange(&a, &token(&idp, SUB, None)).await.unwrap();
    let bystander = exchange(&a, &token(&idp, OTHER_SUB, None)).await.unwrap();

    let since = Instant::now();
    let (status, v) = revoke(
        &a,
        Some(&ops()),
        &json!({"kind": "Subject", "provider": PROVIDER_ARN, "subject": SUB}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["revoked"][0]["rule"]["kind"], "Subject");
    assert_eq!(v["revoked"][0]["rule"]["subject"], SUB);
    refused_within_a_second(&b, &doomed, since).await;
    probe(&b, &bystander).await.unwrap();
}

#[tokio::test]
async fn the_resource_scopes_what_an_operator_may_revoke() {
    let idp = TestIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("scoped.secret"), SCOPED_SECRET).unwrap();
    std::fs::write(
        dir.path().join("scoped.json"),
        format!(
            r#"{{"Version": "2012-10-17", "Statement": [
  {{"Effect": "Allow", "Action": "broker:RevokeRole", "Resource": "{DEPLOY_ROLE}"}},
  {{"Effect": "Allow", "Action": "broker:RevokeSession", "Resource": "arn:aws:sts::{ACCOUNT}:session/*"}}]}}"#
        ),
    )
    .unwrap();
    let toml = standard_config(dir.path(), &idp, "memory://", 0)
        + &format!(
            r#"
[[users]]
account = "{ACCOUNT}"
name = "scoped"
policy_files = ["scoped.json"]
access_keys = [{{ id = "{SCOPED_KEY_ID}", secret_file = "scoped.secret" }}]
"#
        );
    let broker = TestBroker::from_toml(dir, &toml).await;
    let scoped = Signer::new(SCOPED_KEY_ID, SCOPED_SECRET, None);

    let other_role = "arn:aws:iam::111122223333:role/hub";
    let (status, v) = revoke(
        &broker,
        Some(&scoped),
        &json!({"kind": "Role", "role_arn": other_role}),
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("AccessDenied")),
        "{v}"
    );
    let (status, v) = revoke(
        &broker,
        Some(&scoped),
        &json!({"kind": "Subject", "provider": PROVIDER_ARN, "subject": SUB}),
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("AccessDenied")),
        "{v}"
    );
    assert!(broker.state.revocations.is_empty());

    let session = exchange(&broker, &token(&idp, SUB, None)).await.unwrap();
    let (status, v) = revoke(
        &broker,
        Some(&scoped),
        &json!({"kind": "Session", "access_key_id": session.0}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        probe(&broker, &session).await.unwrap_err(),
        ("InvalidClientTokenId".to_owned(), 403)
    );
    let (status, v) = revoke(
        &broker,
        Some(&scoped),
        &json!({"kind": "Role", "role_arn": DEPLOY_ROLE}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
}

const SCOPED_KEY_ID: &str = "AKIASCOPEDEXAMPLE234";
const SCOPED_SECRET: &str = "scopedSecretAccessKey/EXAMPLE+0123456789";

const VENDOR_ADMIN_KEY_ID: &str = "AKIAVENDORADMIN23456";
const VENDOR_ADMIN_SECRET: &str = "vendorAdminSecretKey/EXAMPLE+0123456789ab";
const VENDOR_ACCOUNT: &str = "444455556666";
const VENDOR_ADMIN_ARN: &str = "arn:aws:iam::444455556666:user/vendor-admin";

/// The standard configuration on `store_url` plus an administrator of the other account
/// (444455556666) whose policy is `statements`.
fn with_vendor_admin(
    dir: &std::path::Path,
    idp: &TestIdp,
    store_url: &str,
    statements: &str,
) -> String {
    std::fs::write(dir.join("vendor-admin.secret"), VENDOR_ADMIN_SECRET).unwrap();
    std::fs::write(
        dir.join("vendor-admin.json"),
        format!(r#"{{"Version": "2012-10-17", "Statement": [{statements}]}}"#),
    )
    .unwrap();
    standard_config(dir, idp, store_url, 0)
        + &format!(
            r#"
[[users]]
account = "{VENDOR_ACCOUNT}"
name = "vendor-admin"
policy_files = ["vendor-admin.json"]
access_keys = [{{ id = "{VENDOR_ADMIN_KEY_ID}", secret_file = "vendor-admin.secret" }}]
"#
        )
}

/// A session's revocation is asked on `arn:aws:sts::ACCOUNT:session/ID`: an administrator of
/// another account may not revoke it, and cannot tell it from a session that does not exist.
#[tokio::test]
async fn another_accounts_admin_cannot_revoke_a_session_nor_learn_that_it_exists() {
    let idp = TestIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = with_vendor_admin(
        dir.path(),
        &idp,
        "memory://",
        &format!(
            r#"{{"Effect": "Allow", "Action": "broker:RevokeSession",
                "Resource": "arn:aws:sts::{VENDOR_ACCOUNT}:session/*"}}"#
        ),
    );
    let broker = TestBroker::from_toml(dir, &toml).await;
    let vendor = Signer::new(VENDOR_ADMIN_KEY_ID, VENDOR_ADMIN_SECRET, None);
    let session = exchange(&broker, &token(&idp, SUB, None)).await.unwrap();
    let missing = "ASIAAAAAAAAAAAAAAAAA";

    let (status, theirs) = revoke(
        &broker,
        Some(&vendor),
        &json!({"kind": "Session", "access_key_id": session.0}),
    )
    .await;
    assert_eq!(status, 403, "{theirs}");
    let (status, nobody) = revoke(
        &broker,
        Some(&vendor),
        &json!({"kind": "Session", "access_key_id": missing}),
    )
    .await;
    assert_eq!(status, 403, "{nobody}");
    assert_eq!(theirs["error"]["code"], "AccessDenied");
    // The same answer, but for the id asked (each carries its own request id).
    assert_eq!(
        theirs["error"].to_string().replace(&session.0, missing),
        nobody["error"].to_string()
    );
    assert_ne!(theirs["request_id"], nobody["request_id"]);
    assert!(!theirs.to_string().contains(ACCOUNT), "{theirs}");
    assert!(broker.state.revocations.is_empty());
    probe(&broker, &session).await.unwrap();

    // This account's operator (broker:* on *) revokes it. A missing session is answered alike
    // for it too: it may not revoke the other account's sessions either.
    let (status, v) = revoke(
        &broker,
        Some(&ops()),
        &json!({"kind": "Session", "access_key_id": missing}),
    )
    .await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(
        v["error"].to_string().replace(OPS_ARN, VENDOR_ADMIN_ARN),
        nobody["error"].to_string()
    );
    let (status, v) = revoke(
        &broker,
        Some(&ops()),
        &json!({"kind": "Session", "access_key_id": session.0}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
}

/// User revocation: every session of an IAM user — its 36 h GetSessionToken sessions, role
/// sessions its long-term key created, and sessions chained from them — on every replica;
/// other users' sessions and later sessions work. Targets naming no configured principal are
/// refused, and the action is `broker:RevokeUser` on the user ARN.
#[tokio::test]
async fn a_user_revoked_over_http_loses_every_session_on_every_replica() {
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let keys = tempfile::tempdir().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let clock = Arc::new(ManualClock::new(now.replace_nanosecond(0).unwrap()));
    let a = TestBroker::replica(&idp, &redis.url(), keys.path(), clock.clone()).await;
    let b = TestBroker::replica(&idp, &redis.url(), keys.path(), clock.clone()).await;
    let creds = |c: &aws_sdk_sts::types::Credentials| -> Creds {
        (
            c.access_key_id().to_owned(),
            c.secret_access_key().to_owned(),
            c.session_token().to_owned(),
        )
    };
    let alice = a.sts_as(ALICE_KEY_ID, ALICE_SECRET, None);
    let gst = alice
        .get_session_token()
        .duration_seconds(129_600)
        .send()
        .await
        .unwrap();
    let gst = creds(gst.credentials().unwrap());
    let assumed = alice
        .assume_role()
        .role_arn(APP_ROLE)
        .role_session_name("direct")
        .send()
        .await
        .unwrap();
    let assumed = creds(assumed.credentials().unwrap());
    let chained = b
        .sts_as(&gst.0, &gst.1, Some(&gst.2))
        .assume_role()
        .role_arn(APP_ROLE)
        .role_session_name("chained")
        .send()
        .await
        .unwrap();
    let chained = creds(chained.credentials().unwrap());
    let bob = a
        .sts_as(BOB_KEY_ID, BOB_SECRET, None)
        .get_session_token()
        .send()
        .await
        .unwrap();
    let bob = creds(bob.credentials().unwrap());
    for c in [&gst, &assumed, &chained, &bob] {
        probe(&b, c).await.unwrap();
    }

    // Not allowed: the gateway may only authorize.
    let gateway = Signer::new(GATEWAY_KEY_ID, GATEWAY_SECRET, None);
    let user = json!({"kind": "User", "user_arn": ALICE_ARN});
    let (status, v) = revoke(&a, Some(&gateway), &user).await;
    assert_eq!(status, 403, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "perform: broker:RevokeUser on resource: {ALICE_ARN}"
        )),
        "{message}"
    );
    // Names nothing configured: refused, nothing stored.
    for body in [
        json!({"kind": "User", "user_arn": "arn:aws:iam::111122223333:user/nobody"}),
        json!({"kind": "Role", "role_arn": "arn:aws:iam::111122223333:role/nobody"}),
        json!({"kind": "RoleIssuedBefore", "role_arn": "arn:aws:iam::111122223333:role/nobody", "before": 1}),
        json!({"kind": "Subject", "provider": "arn:aws:iam::111122223333:oidc-provider/nowhere", "subject": SUB}),
    ] {
        let (status, v) = revoke(&a, Some(&ops()), &body).await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (404, Some("NoSuchEntity")),
            "{body}: {v}"
        );
    }
    assert_eq!(stored(&redis).await, 0);

    let since = Instant::now();
    let (status, v) = revoke(&a, Some(&ops()), &user).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["revoked"][0]["rule"]["kind"], "User");
    assert_eq!(v["revoked"][0]["rule"]["user_arn"], ALICE_ARN);
    // Covers a 36 hour session.
    let entry = &v["revoked"][0];
    assert_eq!(
        entry["expires_at"].as_i64().unwrap() - entry["revoked_at"].as_i64().unwrap(),
        129_600
    );
    for c in [&gst, &assumed, &chained] {
        refused_within_a_second(&b, c, since).await;
        refused_within_a_second(&a, c, since).await;
    }
    probe(&b, &bob).await.unwrap();

    // Sessions issued after the revocation's second work.
    clock.advance(time::Duration::seconds(2));
    let later = a
        .sts_as(ALICE_KEY_ID, ALICE_SECRET, None)
        .get_session_token()
        .send()
        .await
        .unwrap();
    probe(&b, &creds(later.credentials().unwrap()))
        .await
        .unwrap();
}
