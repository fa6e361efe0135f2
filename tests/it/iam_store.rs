//! The IAM API's documents as the store holds them: a damaged document fails closed on every
//! replica (its account's API entities stop being served, the last good copy does not stay in
//! force) and is never overwritten by a change; it holds its sessions rather than ending them,
//! so that they work again once it is repaired.

use crate::harness::broker::{ACCOUNT, DEPLOY_ROLE};
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;
use crate::iam_roles::{
    ADMIN_KEY_ID, ADMIN_SECRET, PROPAGATION, assume, broker, caller_identity, ci_trust, refused,
    within,
};

const DOCUMENT_KEY: &str = "sts-broker:{iam}:account:111122223333";
const GARBAGE: &str = "{\"roles\": \"not what a document holds\"";

async fn redis_cmd(redis: &RedisServer, cmd: &mut ::redis::Cmd) -> ::redis::Value {
    let client = ::redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    cmd.query_async(&mut c).await.unwrap()
}

#[tokio::test]
async fn a_damaged_document_serves_nothing_and_is_never_overwritten() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let a = broker(&idp, &redis.url(), Some(keys.path())).await;
    let b = broker(&idp, &redis.url(), Some(keys.path())).await;
    let iam_a = a.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    iam_a
        .create_role()
        .role_name("stored-app")
        .assume_role_policy_document(ci_trust(&a))
        .send()
        .await
        .unwrap();
    let role = format!("arn:aws:iam::{ACCOUNT}:role/stored-app");
    within(PROPAGATION, || async {
        assume(&b, &idp, &role).await.is_ok()
    })
    .await;
    let session = assume(&b, &idp, &role).await.unwrap();
    let good = redis_cmd(&redis, ::redis::cmd("HGET").arg(DOCUMENT_KEY).arg("doc")).await;
    let ::redis::Value::BulkString(good) = good else {
        panic!("no document stored: {good:?}");
    };

    // The document is damaged in the store (and the version moved, as any write moves it).
    redis_cmd(
        &redis,
        ::redis::cmd("HSET")
            .arg(DOCUMENT_KEY)
            .arg("doc")
            .arg(GARBAGE),
    )
    .await;
    redis_cmd(&redis, ::redis::cmd("INCR").arg("sts-broker:{iam}:version")).await;

    // Neither replica keeps serving the role it can no longer read.
    for replica in [&a, &b] {
        within(PROPAGATION, || async {
            assume(replica, &idp, &role).await.is_err()
        })
        .await;
        assert_eq!(
            assume(replica, &idp, &role).await.unwrap_err(),
            "AccessDenied"
        );
    }
    // A change is refused, and the damaged bytes stay for an operator to look at.
    let (code, status, message) = refused(
        iam_a
            .create_role()
            .role_name("another")
            .assume_role_policy_document(ci_trust(&a))
            .send()
            .await,
    );
    assert_eq!(
        (code.as_str(), status),
        ("ServiceUnavailable", 503),
        "{message}"
    );
    assert!(message.contains("cannot read"), "{message}");
    let doc = redis_cmd(&redis, ::redis::cmd("HGET").arg(DOCUMENT_KEY).arg("doc")).await;
    assert_eq!(doc, ::redis::Value::BulkString(GARBAGE.as_bytes().to_vec()));
    // The file's roles are served as before.
    assert!(assume(&b, &idp, DEPLOY_ROLE).await.is_ok());
    // While unreadable, the role's sessions are refused (the role is not served)...
    assert!(caller_identity(&b, &session).await.is_err());

    // ...and repaired, they work again: they were held, not revoked.
    redis_cmd(
        &redis,
        ::redis::cmd("HSET").arg(DOCUMENT_KEY).arg("doc").arg(good),
    )
    .await;
    redis_cmd(&redis, ::redis::cmd("INCR").arg("sts-broker:{iam}:version")).await;
    for replica in [&a, &b] {
        within(PROPAGATION, || async {
            caller_identity(replica, &session).await.is_ok()
        })
        .await;
    }
    assert!(assume(&a, &idp, &role).await.is_ok());
}
