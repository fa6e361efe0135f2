//! IAM's access key actions through the real `aws-sdk-iam` and `aws-sdk-sts` clients: a key
//! made on one replica signs on another within a second (real Redis), rotation (a second key,
//! the first deactivated, then deleted), `GetAccessKeyLastUsed` with the service and region
//! used, sessions made with a key ending when it is deactivated while a reactivated key makes
//! working ones, the quota, every bad input with IAM's error and nothing stored, the last use
//! written a bounded number of times, and the secret in no stored value and no log.

use std::time::{Duration, Instant};

use aws_sdk_iam::types::StatusType;
use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sts::error::ProvideErrorMetadata as _;

use crate::harness::broker::{
    ACCOUNT, ALICE_INACTIVE_KEY_ID, ALICE_KEY_ID, ALICE_SECRET, BOB_KEY_ID, BOB_SECRET, TestBroker,
    iam_client,
};
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;
use crate::harness::signer::Signer;
use crate::iam_roles::{
    ADMIN_KEY_ID, ADMIN_SECRET, FOREIGN_KEY_ID, FOREIGN_SECRET, PROPAGATION, assume, broker,
    refused, within,
};

/// Longest a replica takes to write a use it saw (one flush), plus the store's round trip.
const LAST_USE_WRITTEN: Duration = Duration::from_secs(3);

fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}")
}

/// An STS client signing with `key` in `region`.
fn sts_in(
    broker: &TestBroker,
    region: &str,
    key: (&str, &str, Option<&str>),
) -> aws_sdk_sts::Client {
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(&broker.endpoint)
        .retry_config(RetryConfig::disabled())
        .credentials_provider(Credentials::new(
            key.0,
            key.1,
            key.2.map(str::to_owned),
            None,
            "test",
        ))
        .build();
    aws_sdk_sts::Client::from_conf(conf)
}

/// Who `GetCallerIdentity` says signed with `key`, or the error code.
async fn identity(broker: &TestBroker, key: (&str, &str, Option<&str>)) -> Result<String, String> {
    broker
        .sts_as(key.0, key.1, key.2)
        .get_caller_identity()
        .send()
        .await
        .map(|o| o.arn().unwrap_or_default().to_owned())
        .map_err(|e| e.into_service_error().code().unwrap_or_default().to_owned())
}

/// A new key for `user` on `broker`: its id and secret.
async fn new_key(iam: &aws_sdk_iam::Client, user: &str) -> (String, String) {
    let out = iam
        .create_access_key()
        .user_name(user)
        .send()
        .await
        .unwrap();
    let key = out.access_key().unwrap();
    (
        key.access_key_id().to_owned(),
        key.secret_access_key().to_owned(),
    )
}

/// The user's keys as `ListAccessKeys` shows them: id and status.
async fn listed(iam: &aws_sdk_iam::Client, user: &str) -> Vec<(String, String)> {
    let out = iam.list_access_keys().user_name(user).send().await.unwrap();
    out.access_key_metadata()
        .iter()
        .map(|k| {
            (
                k.access_key_id().unwrap_or_default().to_owned(),
                k.status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_key_made_on_one_replica_signs_on_another_and_is_rotated() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let a = broker(&idp, &redis.url(), Some(keys.path())).await;
    let b = broker(&idp, &redis.url(), Some(keys.path())).await;
    let iam_a = a.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let iam_b = b.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    iam_a
        .create_user()
        .user_name("ci-bot")
        .send()
        .await
        .unwrap();

    let created = iam_a
        .create_access_key()
        .user_name("CI-BOT")
        .send()
        .await
        .unwrap();
    let first = created.access_key().unwrap();
    assert_eq!(first.user_name(), "ci-bot");
    assert_eq!(first.status(), &StatusType::Active);
    assert!(first.create_date().unwrap().secs() > 0);
    let (k1, s1) = (
        first.access_key_id().to_owned(),
        first.secret_access_key().to_owned(),
    );
    assert!(k1.starts_with("AKIA") && k1.len() == 20, "{k1}");
    assert_eq!(s1.len(), 40);
    // Served by A at once, by B within a second.
    assert_eq!(identity(&a, (&k1, &s1, None)).await, Ok(user_arn("ci-bot")));
    let took = within(PROPAGATION, || async {
        identity(&b, (&k1, &s1, None)).await.is_ok()
    })
    .await;
    eprintln!("key made on A signed on B after {took:?}");
    // A wrong secret is refused as any wrong signature.
    assert_eq!(
        identity(&b, (&k1, &"x".repeat(40), None)).await,
        Err("SignatureDoesNotMatch".to_owned())
    );
    assert_eq!(
        listed(&iam_b, "ci-bot").await,
        [(k1.clone(), "Active".to_owned())]
    );

    // Never used in eu-west-1 yet: a second key not used at all answers N/A.
    let (k2, s2) = new_key(&iam_a, "ci-bot").await;
    let unused = iam_a
        .get_access_key_last_used()
        .access_key_id(&k2)
        .send()
        .await
        .unwrap();
    assert_eq!(unused.user_name(), Some("ci-bot"));
    let never = unused.access_key_last_used().unwrap();
    assert_eq!(
        (never.service_name(), never.region(), never.last_used_date()),
        ("N/A", "N/A", None)
    );
    // Used on B for STS in eu-west-1: A reads it back from the store.
    let before = time::OffsetDateTime::now_utc().unix_timestamp();
    within(PROPAGATION, || async {
        sts_in(&b, "eu-west-1", (&k2, &s2, None))
            .get_caller_identity()
            .send()
            .await
            .is_ok()
    })
    .await;
    let took = within(LAST_USE_WRITTEN, || async {
        let out = iam_a
            .get_access_key_last_used()
            .access_key_id(&k2)
            .send()
            .await
            .unwrap();
        let used = out.access_key_last_used().unwrap();
        used.last_used_date().is_some()
    })
    .await;
    eprintln!("a use on B read on A after {took:?}");
    let out = iam_a
        .get_access_key_last_used()
        .access_key_id(&k2)
        .send()
        .await
        .unwrap();
    let used = out.access_key_last_used().unwrap();
    assert_eq!((used.service_name(), used.region()), ("sts", "eu-west-1"));
    assert!(used.last_used_date().unwrap().secs() >= before - 1);

    // Rotation: the first key deactivated is refused everywhere; the second works.
    iam_a
        .update_access_key()
        .user_name("ci-bot")
        .access_key_id(&k1)
        .status(StatusType::Inactive)
        .send()
        .await
        .unwrap();
    assert_eq!(
        identity(&a, (&k1, &s1, None)).await,
        Err("InvalidClientTokenId".to_owned())
    );
    within(PROPAGATION, || async {
        identity(&b, (&k1, &s1, None)).await == Err("InvalidClientTokenId".to_owned())
    })
    .await;
    assert_eq!(identity(&b, (&k2, &s2, None)).await, Ok(user_arn("ci-bot")));
    let mut both = listed(&iam_b, "ci-bot").await;
    both.sort();
    let mut want = vec![
        (k1.clone(), "Inactive".to_owned()),
        (k2.clone(), "Active".to_owned()),
    ];
    want.sort();
    assert_eq!(both, want);
    iam_a
        .delete_access_key()
        .user_name("ci-bot")
        .access_key_id(&k1)
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async {
        listed(&iam_b, "ci-bot").await == [(k2.clone(), "Active".to_owned())]
    })
    .await;
    assert_eq!(
        identity(&b, (&k1, &s1, None)).await,
        Err("InvalidClientTokenId".to_owned())
    );

    // A user with a key is not deleted; without, it is, and its key is gone everywhere.
    let (code, status, message) = refused(iam_a.delete_user().user_name("ci-bot").send().await);
    assert_eq!(
        (code.as_str(), status),
        ("DeleteConflict", 409),
        "{message}"
    );
    iam_a
        .delete_access_key()
        .user_name("ci-bot")
        .access_key_id(&k2)
        .send()
        .await
        .unwrap();
    iam_a
        .delete_user()
        .user_name("ci-bot")
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async {
        identity(&b, (&k2, &s2, None)).await == Err("InvalidClientTokenId".to_owned())
    })
    .await;
}

#[tokio::test]
async fn sessions_made_with_a_key_end_when_it_is_deactivated_and_a_reactivated_key_makes_working_ones()
 {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let a = broker(&idp, &redis.url(), Some(keys.path())).await;
    let b = broker(&idp, &redis.url(), Some(keys.path())).await;
    let iam_a = a.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    iam_a
        .create_user()
        .user_name("builder")
        .send()
        .await
        .unwrap();
    iam_a
        .put_user_policy()
        .user_name("builder")
        .policy_name("assume")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let role = iam_a
        .create_role()
        .role_name("builder-target")
        .assume_role_policy_document(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"sts:AssumeRole"}}]}}"#,
            user_arn("builder")
        ))
        .send()
        .await
        .unwrap();
    let role_arn = role.role().unwrap().arn().to_owned();
    let (k1, s1) = new_key(&iam_a, "builder").await;
    within(PROPAGATION, || async {
        identity(&b, (&k1, &s1, None)).await.is_ok()
    })
    .await;
    let long_term = b.sts_as(&k1, &s1, None);
    // Made with the key on B: a GetSessionToken session, a role session, and a role session
    // chained from the first.
    let gst = long_term
        .get_session_token()
        .send()
        .await
        .unwrap()
        .credentials()
        .unwrap()
        .clone();
    let assumed = long_term
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("with-key")
        .send()
        .await
        .unwrap()
        .credentials()
        .unwrap()
        .clone();
    let chained = b
        .sts_as(
            gst.access_key_id(),
            gst.secret_access_key(),
            Some(gst.session_token()),
        )
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("from-gst")
        .send()
        .await
        .unwrap()
        .credentials()
        .unwrap()
        .clone();
    let sessions = [&gst, &assumed, &chained];
    let as_key = |c: &aws_sdk_sts::types::Credentials| {
        (
            c.access_key_id().to_owned(),
            c.secret_access_key().to_owned(),
            c.session_token().to_owned(),
        )
    };
    for s in sessions {
        let (id, secret, token) = as_key(s);
        assert!(identity(&a, (&id, &secret, Some(&token))).await.is_ok());
    }
    // An unrelated session of the standard configuration stays.
    let bystander = assume(&b, &idp, crate::harness::broker::DEPLOY_ROLE)
        .await
        .unwrap();

    iam_a
        .update_access_key()
        .user_name("builder")
        .access_key_id(&k1)
        .status(StatusType::Inactive)
        .send()
        .await
        .unwrap();
    for broker in [&a, &b] {
        for s in sessions {
            let (id, secret, token) = as_key(s);
            within(PROPAGATION, || async {
                identity(broker, (&id, &secret, Some(&token))).await
                    == Err("InvalidClientTokenId".to_owned())
            })
            .await;
        }
    }
    let (id, secret, token) = as_key(&bystander);
    assert!(identity(&b, (&id, &secret, Some(&token))).await.is_ok());
    // The revocation may reach B before the change does: B refuses the key itself once it
    // serves the change. (A session B made with the key before then is of the deactivated
    // activation, and refused too.)
    within(PROPAGATION, || async {
        identity(&b, (&k1, &s1, None)).await == Err("InvalidClientTokenId".to_owned())
    })
    .await;

    // Active again: the key signs, and a session made now works; the old ones stay ended.
    iam_a
        .update_access_key()
        .user_name("builder")
        .access_key_id(&k1)
        .status(StatusType::Active)
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async {
        identity(&b, (&k1, &s1, None)).await.is_ok()
    })
    .await;
    let fresh = long_term
        .get_session_token()
        .send()
        .await
        .unwrap()
        .credentials()
        .unwrap()
        .clone();
    let (id, secret, token) = as_key(&fresh);
    assert_eq!(
        identity(&a, (&id, &secret, Some(&token))).await,
        Ok(user_arn("builder"))
    );
    let (id, secret, token) = as_key(&gst);
    assert_eq!(
        identity(&b, (&id, &secret, Some(&token))).await,
        Err("InvalidClientTokenId".to_owned())
    );

    // Deleted: its sessions end too, on every replica.
    iam_a
        .delete_access_key()
        .user_name("builder")
        .access_key_id(&k1)
        .send()
        .await
        .unwrap();
    let (id, secret, token) = as_key(&fresh);
    for broker in [&a, &b] {
        within(PROPAGATION, || async {
            identity(broker, (&id, &secret, Some(&token))).await
                == Err("InvalidClientTokenId".to_owned())
        })
        .await;
    }
}

#[tokio::test]
async fn a_user_manages_its_own_keys_without_naming_itself_and_a_third_is_refused() {
    let idp = TestIdp::start().await;
    let broker = broker(&idp, "memory://", None).await;
    let admin = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    admin.create_user().user_name("self").send().await.unwrap();
    admin
        .put_user_policy()
        .user_name("self")
        .policy_name("own-keys")
        .policy_document(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["iam:*AccessKey*","iam:GetUser"],"Resource":"{}"}}]}}"#,
            user_arn("self")
        ))
        .send()
        .await
        .unwrap();
    let (k1, s1) = new_key(&admin, "self").await;
    let me = broker.iam_as(&k1, &s1);
    let second = me.create_access_key().send().await.unwrap();
    let second = second.access_key().unwrap();
    assert_eq!(second.user_name(), "self");
    let mine = me.list_access_keys().send().await.unwrap();
    assert_eq!(mine.access_key_metadata().len(), 2);
    assert!(
        mine.access_key_metadata()
            .iter()
            .all(|k| k.user_name() == Some("self"))
    );
    let version = broker.state.store.iam_version().await.unwrap();
    let (code, status, message) = refused(me.create_access_key().send().await);
    assert_eq!((code.as_str(), status), ("LimitExceeded", 409));
    assert_eq!(message, "Cannot exceed quota for AccessKeysPerUser: 2");
    assert_eq!(broker.state.store.iam_version().await.unwrap(), version);
    // Its policy names itself only.
    let (code, status, _) = refused(me.list_access_keys().user_name("alice").send().await);
    assert_eq!((code.as_str(), status), ("AccessDenied", 403));
    // The new key works; the user deactivates its first key with the second.
    let (k2, s2) = (
        second.access_key_id().to_owned(),
        second.secret_access_key().to_owned(),
    );
    broker
        .iam_as(&k2, &s2)
        .update_access_key()
        .access_key_id(&k1)
        .status(StatusType::Inactive)
        .send()
        .await
        .unwrap();
    assert_eq!(
        identity(&broker, (&k1, &s1, None)).await,
        Err("InvalidClientTokenId".to_owned())
    );
}

#[tokio::test]
async fn every_bad_input_gets_iams_error_and_stores_nothing() {
    let idp = TestIdp::start().await;
    let broker = broker(&idp, "memory://", None).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    iam.create_user().user_name("kept").send().await.unwrap();
    iam.create_user().user_name("other").send().await.unwrap();
    let (kept_key, _) = new_key(&iam, "kept").await;
    let version = broker.state.store.iam_version().await.unwrap();

    let admin = Signer::new(ADMIN_KEY_ID, ADMIN_SECRET, None);
    let url = format!("{}/", broker.endpoint);
    let raw = |signer: Signer, body: String| {
        let broker = &broker;
        let url = url.clone();
        async move {
            let ct = ("content-type", "application/x-www-form-urlencoded");
            let mut req = broker
                .http()
                .post(&url)
                .header(ct.0, ct.1)
                .body(body.clone());
            for (k, v) in signer.sign("iam", "POST", &url, &[ct], body.as_bytes()) {
                req = req.header(k, v);
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            let code = text
                .split("<Code>")
                .nth(1)
                .and_then(|t| t.split("</Code>").next())
                .unwrap_or_default()
                .to_owned();
            (code, status, text)
        }
    };
    let base = "Version=2010-05-08&Action=";
    let long_user = "u".repeat(129);
    let unknown = "AKIAUNKNOWNUNKNOWN22";
    let cases: Vec<(String, &str, u16)> = vec![
        (
            format!("{base}CreateAccessKey&UserName={long_user}"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}CreateAccessKey&UserName=a%2Fb"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}CreateAccessKey&UserName=nobody"),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}CreateAccessKey&UserName=alice"),
            "UnmodifiableEntity",
            400,
        ),
        // The caller itself is a file user.
        (format!("{base}CreateAccessKey"), "UnmodifiableEntity", 400),
        (
            format!("{base}ListAccessKeys&UserName=nobody"),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}ListAccessKeys&UserName=kept&MaxItems=0"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}UpdateAccessKey&UserName=kept&Status=Active"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}UpdateAccessKey&UserName=kept&AccessKeyId=AKIA&Status=Active"),
            "ValidationError",
            400,
        ),
        (
            format!(
                "{base}UpdateAccessKey&UserName=kept&AccessKeyId=AKIA-NOT-A-KEY-ID-X&Status=Active"
            ),
            "ValidationError",
            400,
        ),
        (
            format!("{base}UpdateAccessKey&UserName=kept&AccessKeyId={kept_key}"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}UpdateAccessKey&UserName=kept&AccessKeyId={kept_key}&Status=Enabled"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}UpdateAccessKey&UserName=kept&AccessKeyId={kept_key}&Status=inactive"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}UpdateAccessKey&UserName=kept&AccessKeyId={unknown}&Status=Inactive"),
            "NoSuchEntity",
            404,
        ),
        // Another user's key, in the same account.
        (
            format!("{base}UpdateAccessKey&UserName=other&AccessKeyId={kept_key}&Status=Inactive"),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}UpdateAccessKey&UserName=nobody&AccessKeyId={kept_key}&Status=Inactive"),
            "NoSuchEntity",
            404,
        ),
        (
            format!(
                "{base}UpdateAccessKey&UserName=alice&AccessKeyId={ALICE_KEY_ID}&Status=Inactive"
            ),
            "UnmodifiableEntity",
            400,
        ),
        (
            format!("{base}DeleteAccessKey&UserName=kept"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}DeleteAccessKey&UserName=kept&AccessKeyId={unknown}"),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}DeleteAccessKey&UserName=other&AccessKeyId={kept_key}"),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}DeleteAccessKey&UserName=alice&AccessKeyId={ALICE_KEY_ID}"),
            "UnmodifiableEntity",
            400,
        ),
        (
            format!("{base}GetAccessKeyLastUsed"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}GetAccessKeyLastUsed&AccessKeyId=short"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}GetAccessKeyLastUsed&AccessKeyId={unknown}"),
            "AccessDenied",
            403,
        ),
        (
            format!("{base}DeleteUser&UserName=kept"),
            "DeleteConflict",
            409,
        ),
    ];
    for (body, code, status) in cases {
        let (got, got_status, text) = raw(admin.clone(), body.clone()).await;
        assert_eq!((got.as_str(), got_status), (code, status), "{body}: {text}");
        if code == "UnmodifiableEntity" {
            assert!(text.contains("configuration file"), "{text}");
        }
        assert_eq!(
            broker.state.store.iam_version().await.unwrap(),
            version,
            "{body} stored something"
        );
    }

    // A file user's keys are listed, read-only, never with a secret.
    let (code, _, text) = raw(
        admin.clone(),
        format!("{base}ListAccessKeys&UserName=alice"),
    )
    .await;
    assert_eq!(code, "", "{text}");
    assert!(
        text.contains(ALICE_KEY_ID) && text.contains(ALICE_INACTIVE_KEY_ID),
        "{text}"
    );
    assert!(
        !text.contains("SecretAccessKey") && !text.contains(ALICE_SECRET),
        "{text}"
    );
    let alice = listed(&iam, "alice").await;
    assert!(alice.contains(&(ALICE_INACTIVE_KEY_ID.to_owned(), "Inactive".to_owned())));

    // Another account's caller: the user is none of its own, and the key's last use is
    // refused without naming its user or account.
    let foreign = broker.iam_as(FOREIGN_KEY_ID, FOREIGN_SECRET);
    let (code, status, _) = refused(
        foreign
            .update_access_key()
            .user_name("kept")
            .access_key_id(&kept_key)
            .status(StatusType::Inactive)
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("NoSuchEntity", 404));
    let (code, status, message) = refused(
        foreign
            .get_access_key_last_used()
            .access_key_id(&kept_key)
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("AccessDenied", 403));
    assert!(
        !message.contains("kept") && !message.contains(ACCOUNT),
        "{message}"
    );
    let (_, _, unknown_message) = refused(
        foreign
            .get_access_key_last_used()
            .access_key_id(unknown)
            .send()
            .await,
    );
    assert_eq!(
        message.replace(&kept_key, "KEY"),
        unknown_message.replace(unknown, "KEY"),
        "another account's key and no key look alike"
    );
    // A caller without iam: rights; a role session without a user name.
    let bob = broker.iam_as(BOB_KEY_ID, BOB_SECRET);
    let (code, status, _) = refused(bob.create_access_key().user_name("kept").send().await);
    assert_eq!((code.as_str(), status), ("AccessDenied", 403));
    let (code, _, _) = refused(
        bob.get_access_key_last_used()
            .access_key_id(&kept_key)
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied");
    let c = assume(&broker, &idp, crate::harness::broker::DEPLOY_ROLE)
        .await
        .unwrap();
    let session = iam_client(
        &broker.endpoint,
        Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "test",
        ),
    );
    let (code, status, message) = refused(session.create_access_key().send().await);
    assert_eq!((code.as_str(), status), ("ValidationError", 400));
    assert_eq!(
        message,
        "Must specify userName when calling with non-User credentials"
    );
    assert_eq!(broker.state.store.iam_version().await.unwrap(), version);
}

#[tokio::test]
async fn many_signed_requests_write_the_last_use_a_bounded_number_of_times() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let a = broker(&idp, &redis.url(), Some(keys.path())).await;
    let b = broker(&idp, &redis.url(), Some(keys.path())).await;
    let iam_a = a.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    iam_a.create_user().user_name("busy").send().await.unwrap();
    let (key, secret) = new_key(&iam_a, "busy").await;
    within(PROPAGATION, || async {
        identity(&b, (&key, &secret, None)).await.is_ok()
    })
    .await;
    // Let the first use's write land, then count from here.
    within(LAST_USE_WRITTEN, || async {
        a.state.store.key_use(&key).await.unwrap().is_some()
    })
    .await;
    let writes_before = (a.state.key_use.writes(), b.state.key_use.writes());
    let hset_before = redis.command_calls("hset").await;
    let started = Instant::now();
    let started_unix = time::OffsetDateTime::now_utc().unix_timestamp();
    const REQUESTS: u64 = 60;
    let sts = b.sts_as(&key, &secret, None);
    for _ in 0..REQUESTS {
        sts.get_caller_identity().send().await.unwrap();
    }
    // The uses are written (read back on the other replica)...
    within(LAST_USE_WRITTEN, || async {
        b.state.key_use.writes() > writes_before.1
            && a.state.store.key_use(&key).await.unwrap().unwrap().at >= started_unix
    })
    .await;
    // ...in at most one write per second since the first request, and one under way then.
    let elapsed = started.elapsed();
    let bound = elapsed.as_secs() + 2;
    let writes = b.state.key_use.writes() - writes_before.1;
    // A writes too (the administrator's key, used before), one key a write.
    let others = a.state.key_use.writes() - writes_before.0;
    let hsets = redis.command_calls("hset").await - hset_before;
    eprintln!(
        "{REQUESTS} signed requests, their last use stored after {elapsed:?}: {writes} writes, \
         {hsets} HSETs in Redis"
    );
    assert!(writes >= 1);
    assert!(writes <= bound, "{writes} writes in {elapsed:?}");
    // At most one HSET per key a write holds (none when that second was already stored).
    assert!(
        hsets <= writes + others,
        "{hsets} HSETs for {writes} + {others} writes"
    );
    assert!(writes < REQUESTS);
}

/// Every value of every key in `redis`, as bytes.
pub(crate) async fn all_values(redis: &RedisServer) -> Vec<Vec<u8>> {
    let client = ::redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let mut out = Vec::new();
    for key in redis.all_keys().await {
        let kind: String = ::redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut c)
            .await
            .unwrap();
        let values: Vec<Vec<u8>> = match kind.as_str() {
            "string" => vec![
                ::redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut c)
                    .await
                    .unwrap(),
            ],
            "hash" => ::redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut c)
                .await
                .unwrap(),
            "set" => ::redis::cmd("SMEMBERS")
                .arg(&key)
                .query_async(&mut c)
                .await
                .unwrap(),
            "zset" => ::redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut c)
                .await
                .unwrap(),
            "list" => ::redis::cmd("LRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut c)
                .await
                .unwrap(),
            other => panic!("{key} is a {other}"),
        };
        out.push(key.into_bytes());
        out.extend(values);
    }
    out
}

#[tokio::test]
async fn the_secret_is_stored_sealed_only() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let a = broker(&idp, &redis.url(), None).await;
    let iam = a.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    iam.create_user().user_name("sealed").send().await.unwrap();
    let (key, secret) = new_key(&iam, "sealed").await;
    identity(&a, (&key, &secret, None)).await.unwrap();
    within(LAST_USE_WRITTEN, || async {
        a.state.store.key_use(&key).await.unwrap().is_some()
    })
    .await;
    let values = all_values(&redis).await;
    let document = values
        .iter()
        .find(|v| v.windows(key.len()).any(|w| w == key.as_bytes()) && v.starts_with(b"{"))
        .expect("the key is stored");
    let text = String::from_utf8_lossy(document);
    assert!(text.contains("sb1:"), "sealed under a session key: {text}");
    for v in &values {
        assert!(
            !v.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is stored in clear: {}",
            String::from_utf8_lossy(v)
        );
    }
}

#[tokio::test]
async fn the_secret_never_reaches_the_log_or_the_audit_log() {
    use crate::serve::{serve, stop, wait_ready};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("admin.json"),
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["iam:*", "sts:*"], "Resource": "*"}]}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("admin.secret"), ADMIN_SECRET).unwrap();
    let config = dir.path().join("broker.toml");
    std::fs::write(
        &config,
        format!(
            r#"[server]
listen = "127.0.0.1:0"
[store]
url = "memory://"
[keys]
dir = "keys"
[audit]
output = "audit.log"
[[accounts]]
id = "{ACCOUNT}"
[[users]]
account = "{ACCOUNT}"
name = "admin"
policy_files = ["admin.json"]
access_keys = [{{ id = "{ADMIN_KEY_ID}", secret_file = "admin.secret" }}]
"#
        ),
    )
    .unwrap();
    let server = serve(config.to_str().unwrap());
    wait_ready(&server.endpoint).await;
    let admin = iam_client(
        &server.endpoint,
        Credentials::new(ADMIN_KEY_ID, ADMIN_SECRET, None, None, "test"),
    );
    admin
        .create_user()
        .user_name("logged")
        .send()
        .await
        .unwrap();
    admin
        .put_user_policy()
        .user_name("logged")
        .policy_name("sts")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:*","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let (key, secret) = new_key(&admin, "logged").await;
    let sts = crate::harness::broker::sts_client(
        &server.endpoint,
        Some(Credentials::new(&key, &secret, None, None, "test")),
    );
    sts.get_caller_identity().send().await.unwrap();
    let session = sts.get_session_token().send().await.unwrap();
    let session_secret = session
        .credentials()
        .unwrap()
        .secret_access_key()
        .to_owned();
    // A wrong signature with the key, and the key's metadata read back.
    let wrong = crate::harness::broker::sts_client(
        &server.endpoint,
        Some(Credentials::new(&key, "x".repeat(40), None, None, "test")),
    );
    assert!(wrong.get_caller_identity().send().await.is_err());
    admin
        .list_access_keys()
        .user_name("logged")
        .send()
        .await
        .unwrap();
    admin
        .get_access_key_last_used()
        .access_key_id(&key)
        .send()
        .await
        .unwrap();
    admin
        .update_access_key()
        .user_name("logged")
        .access_key_id(&key)
        .status(StatusType::Inactive)
        .send()
        .await
        .unwrap();
    let log = stop(server);
    let audit = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
    assert!(log.contains("access key created"), "{log}");
    assert!(log.contains(&key), "the key id is public and logged");
    assert!(
        audit.contains("iam:CreateAccessKey") || audit.contains("CreateAccessKey"),
        "{audit}"
    );
    for (what, text) in [("log", &log), ("audit log", &audit)] {
        assert!(!text.contains(&secret), "the secret is in the {what}");
        assert!(
            !text.contains(&session_secret),
            "a session secret is in the {what}"
        );
        assert!(
            !text.contains(ADMIN_SECRET),
            "the admin's secret is in the {what}"
        );
    }
}
