//! IAM's role management API through the real `aws-sdk-iam` client: roles created on one
//! replica are assumed on another within a second (real Redis), trust changes and deletions
//! reach every replica and end sessions, the embedded store serves every action in one
//! process, and every bad input gets IAM's error with nothing stored.

use std::time::{Duration, Instant};

use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::Tag;

use crate::harness::broker::{ACCOUNT, BOB_KEY_ID, BOB_SECRET, TestBroker, standard_config};
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;
use crate::harness::signer::Signer;

pub(crate) const ADMIN_KEY_ID: &str = "AKIAIAMADMINEXAMPLE2";
pub(crate) const ADMIN_SECRET: &str = "iamAdminSecretAccessKey/EXAMPLE+012345678";
/// An administrator of the other account (444455556666).
pub(crate) const FOREIGN_KEY_ID: &str = "AKIAFOREIGNADMINEXA2";
pub(crate) const FOREIGN_SECRET: &str = "foreignAdminSecretAccessKey/EXAMPLE+0123";
const S3_READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","s3:List*"],"Resource":"*"}]}"#;
/// A policy a file policy with the same text is refused for: no `Resource`.
const NO_RESOURCE: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#;
/// Longest a change may take to reach another replica.
pub(crate) const PROPAGATION: Duration = Duration::from_secs(1);

/// The standard configuration with two IAM administrators (one per account) added.
pub(crate) fn config(dir: &std::path::Path, idp: &TestIdp, store: &str) -> String {
    std::fs::write(
        dir.join("iam-admin.json"),
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}"#,
    )
    .unwrap();
    std::fs::write(dir.join("iam-admin.secret"), ADMIN_SECRET).unwrap();
    std::fs::write(dir.join("foreign-admin.secret"), FOREIGN_SECRET).unwrap();
    standard_config(dir, idp, store, 0)
        + &format!(
            r#"
[[users]]
account = "{ACCOUNT}"
name = "iam-admin"
policy_files = ["iam-admin.json"]
access_keys = [{{ id = "{ADMIN_KEY_ID}", secret_file = "iam-admin.secret" }}]

[[users]]
account = "444455556666"
name = "foreign-admin"
policy_files = ["iam-admin.json"]
access_keys = [{{ id = "{FOREIGN_KEY_ID}", secret_file = "foreign-admin.secret" }}]
"#
        )
}

pub(crate) async fn broker(
    idp: &TestIdp,
    store: &str,
    keys: Option<&std::path::Path>,
) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let mut toml = config(dir.path(), idp, store);
    if let Some(keys) = keys {
        toml = toml.replace(
            "dir = \"keys\"",
            &format!("dir = {:?}", keys.to_str().unwrap()),
        );
    }
    TestBroker::from_toml(dir, &toml).await
}

/// The trust policy of the standard `deploy` role: the test IdP's tokens for `octo-org/app`.
pub(crate) fn ci_trust(broker: &TestBroker) -> String {
    std::fs::read_to_string(broker.dir.path().join("ci-trust.json")).unwrap()
}

pub(crate) fn refused<O, E: ProvideErrorMetadata>(
    r: Result<O, SdkError<E, HttpResponse>>,
) -> (String, u16, String) {
    let Err(e) = r else {
        panic!("must be refused");
    };
    let status = e.raw_response().map_or(0, |r| r.status().as_u16());
    (
        e.code().unwrap_or_default().to_owned(),
        status,
        e.message().unwrap_or_default().to_owned(),
    )
}

/// Percent-decodes a policy document as Terraform's `url.QueryUnescape` does.
pub(crate) fn unescape(text: &str) -> String {
    form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned()
}

/// Polls `check` until it holds, at most `bound`; the time it took.
pub(crate) async fn within<F, Fut>(bound: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < bound, "not within {bound:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) async fn assume(
    broker: &TestBroker,
    idp: &TestIdp,
    role_arn: &str,
) -> Result<aws_sdk_sts::types::Credentials, String> {
    let token = idp.token(
        "rsa-1",
        &idp.claims("repo:octo-org/app:ref:refs/heads/main"),
    );
    broker
        .sts()
        .assume_role_with_web_identity()
        .role_arn(role_arn)
        .role_session_name("api-role")
        .web_identity_token(token)
        .send()
        .await
        .map(|o| o.credentials().unwrap().clone())
        .map_err(|e| e.into_service_error().code().unwrap_or_default().to_owned())
}

pub(crate) async fn caller_identity(
    broker: &TestBroker,
    c: &aws_sdk_sts::types::Credentials,
) -> Result<String, String> {
    broker
        .sts_as(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token()),
        )
        .get_caller_identity()
        .send()
        .await
        .map(|o| o.arn().unwrap_or_default().to_owned())
        .map_err(|e| e.into_service_error().code().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn a_role_made_on_one_replica_is_served_by_another_and_its_removal_ends_its_sessions() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let a = broker(&idp, &redis.url(), Some(keys.path())).await;
    let b = broker(&idp, &redis.url(), Some(keys.path())).await;
    let iam_a = a.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);

    let created = iam_a
        .create_role()
        .role_name("api-deploy")
        .path("/ci/")
        .assume_role_policy_document(ci_trust(&a))
        .send()
        .await
        .unwrap();
    let role = created.role().unwrap();
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/ci/api-deploy");
    assert_eq!(role.arn(), arn);
    let first_id = role.role_id().to_owned();
    assert!(first_id.starts_with("AROA") && first_id.len() == 21);
    // The replica that made it serves it at once.
    assume(&a, &idp, &arn).await.unwrap();
    let took = within(PROPAGATION, || async {
        assume(&b, &idp, &arn).await.is_ok()
    })
    .await;
    eprintln!("created on A, assumed on B after {took:?}");
    let session = assume(&b, &idp, &arn).await.unwrap();
    assert!(
        caller_identity(&b, &session)
            .await
            .unwrap()
            .contains("assumed-role/api-deploy/api-role")
    );
    // The stored document and version, under one hash tag.
    let keys_now = redis.keys().await;
    assert!(
        keys_now.contains(&format!("sts-broker:{{iam}}:account:{ACCOUNT}"))
            && keys_now.contains(&"sts-broker:{iam}:version".to_owned()),
        "{keys_now:?}"
    );

    // A trust policy that refuses: B refuses too.
    let refusing = ci_trust(&a).replace("repo:octo-org/app:*", "repo:nobody/none:*");
    iam_a
        .update_assume_role_policy()
        .role_name("api-deploy")
        .policy_document(refusing)
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async {
        assume(&b, &idp, &arn).await == Err("AccessDenied".to_owned())
    })
    .await;

    // Policies first (DeleteConflict while one is there), then the role: its session ends.
    iam_a
        .put_role_policy()
        .role_name("api-deploy")
        .policy_name("read")
        .policy_document(S3_READ)
        .send()
        .await
        .unwrap();
    let (code, status, _) = refused(iam_a.delete_role().role_name("api-deploy").send().await);
    assert_eq!((code.as_str(), status), ("DeleteConflict", 409));
    iam_a
        .delete_role_policy()
        .role_name("api-deploy")
        .policy_name("read")
        .send()
        .await
        .unwrap();
    iam_a
        .delete_role()
        .role_name("api-deploy")
        .send()
        .await
        .unwrap();
    assert_eq!(
        caller_identity(&a, &session).await,
        Err("InvalidClientTokenId".to_owned())
    );
    within(PROPAGATION, || async {
        caller_identity(&b, &session).await == Err("InvalidClientTokenId".to_owned())
    })
    .await;

    // Created again under the same name: a new id, and the old session stays ended.
    let again = iam_a
        .create_role()
        .role_name("api-deploy")
        .path("/ci/")
        .assume_role_policy_document(ci_trust(&a))
        .send()
        .await
        .unwrap();
    assert_ne!(again.role().unwrap().role_id(), first_id);
    let b_iam = b.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    within(PROPAGATION, || async {
        b_iam
            .get_role()
            .role_name("api-deploy")
            .send()
            .await
            .is_ok_and(|r| r.role().unwrap().role_id() != first_id)
    })
    .await;
    for replica in [&a, &b] {
        assert_eq!(
            caller_identity(replica, &session).await,
            Err("InvalidClientTokenId".to_owned())
        );
    }
}

#[tokio::test]
async fn every_role_action_on_the_embedded_store() {
    let idp = TestIdp::start().await;
    let broker = broker(&idp, "memory://", None).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let trust = ci_trust(&broker);

    let created = iam
        .create_role()
        .role_name("app-runner")
        .description("runs the app")
        .max_session_duration(7200)
        .assume_role_policy_document(&trust)
        .tags(
            Tag::builder()
                .key("team")
                .value("payments")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let role = created.role().unwrap();
    assert_eq!(
        (role.path(), role.role_name(), role.max_session_duration()),
        ("/", "app-runner", Some(7200))
    );
    assert_eq!(unescape(role.assume_role_policy_document().unwrap()), trust);
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/app-runner");
    assume(&broker, &idp, &arn).await.unwrap();

    let got = iam.get_role().role_name("APP-RUNNER").send().await.unwrap();
    let role = got.role().unwrap();
    assert_eq!(role.arn(), arn);
    assert_eq!(role.description(), Some("runs the app"));
    assert_eq!(role.tags().len(), 1);
    // Assumed just now: GetRole says when and where (the broker's region).
    let used = role.role_last_used().unwrap();
    let used_at = used.last_used_date().unwrap().secs();
    assert!((time::OffsetDateTime::now_utc().unix_timestamp() - used_at).abs() < 60);
    assert_eq!(used.region(), Some("us-east-1"));
    let created_at = role.create_date().secs();
    assert!((time::OffsetDateTime::now_utc().unix_timestamp() - created_at).abs() < 60);

    // A file role is shown, read-only; never assumed, its last use is empty.
    let deploy = iam.get_role().role_name("deploy").send().await.unwrap();
    assert_eq!(deploy.role().unwrap().path(), "/ci/");
    let never = deploy.role().unwrap().role_last_used().unwrap();
    assert!(never.last_used_date().is_none() && never.region().is_none());
    let listed = iam
        .list_role_policies()
        .role_name("deploy")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.policy_names(), ["deploy.json"]);

    // Updates.
    iam.update_role()
        .role_name("app-runner")
        .max_session_duration(3600)
        .send()
        .await
        .unwrap();
    let described = iam
        .update_role_description()
        .role_name("app-runner")
        .description("new words")
        .send()
        .await
        .unwrap();
    let role = described.role().unwrap();
    assert_eq!(
        (role.description(), role.max_session_duration()),
        (Some("new words"), Some(3600))
    );

    // Inline policies.
    iam.put_role_policy()
        .role_name("app-runner")
        .policy_name("read")
        .policy_document(S3_READ)
        .send()
        .await
        .unwrap();
    let names = iam
        .list_role_policies()
        .role_name("app-runner")
        .send()
        .await
        .unwrap();
    assert_eq!(names.policy_names(), ["read"]);
    let policy = iam
        .get_role_policy()
        .role_name("app-runner")
        .policy_name("read")
        .send()
        .await
        .unwrap();
    assert_eq!(unescape(policy.policy_document()), S3_READ);

    // Tags.
    iam.tag_role()
        .role_name("app-runner")
        .tags(Tag::builder().key("env").value("prod").build().unwrap())
        .send()
        .await
        .unwrap();
    iam.untag_role()
        .role_name("app-runner")
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = iam
        .list_role_tags()
        .role_name("app-runner")
        .send()
        .await
        .unwrap();
    let tags: Vec<_> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("env", "prod")]);

    let profiles = iam
        .list_instance_profiles_for_role()
        .role_name("app-runner")
        .send()
        .await
        .unwrap();
    assert!(profiles.instance_profiles().is_empty() && !profiles.is_truncated());

    // Delete: refused while the inline policy is there, then gone.
    let (code, status, message) = refused(iam.delete_role().role_name("app-runner").send().await);
    assert_eq!(
        (code.as_str(), status),
        ("DeleteConflict", 409),
        "{message}"
    );
    iam.delete_role_policy()
        .role_name("app-runner")
        .policy_name("read")
        .send()
        .await
        .unwrap();
    iam.delete_role()
        .role_name("app-runner")
        .send()
        .await
        .unwrap();
    let (code, status, message) = refused(iam.get_role().role_name("app-runner").send().await);
    assert_eq!((code.as_str(), status), ("NoSuchEntity", 404));
    assert_eq!(message, "The role with name app-runner cannot be found.");
    assert_eq!(
        assume(&broker, &idp, &arn).await,
        Err("AccessDenied".to_owned())
    );
}

#[tokio::test]
async fn list_roles_walks_every_role_once_through_markers() {
    let idp = TestIdp::start().await;
    let broker = broker(&idp, "memory://", None).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    for name in ["p1", "p2", "p3"] {
        iam.create_role()
            .role_name(name)
            .path("/made/")
            .assume_role_policy_document(ci_trust(&broker))
            .send()
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = iam
            .list_roles()
            .max_items(1)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(page.roles().len(), 1);
        seen.push(page.roles()[0].role_name().to_owned());
        if !page.is_truncated() {
            break;
        }
        marker = page.marker().map(str::to_owned);
        assert!(marker.is_some());
    }
    let mut expected = vec![
        "p1",
        "p2",
        "p3",
        "deploy",
        "prod-deploy",
        "hub",
        "admin",
        "app",
    ];
    expected.sort_unstable();
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, expected, "every role of the account once: {seen:?}");
    // Only the caller's account; PathPrefix filters.
    let made = iam.list_roles().path_prefix("/made/").send().await.unwrap();
    assert_eq!(made.roles().len(), 3);
    let (code, status, _) = refused(iam.list_roles().marker("not-a-marker").send().await);
    assert_eq!((code.as_str(), status), ("InvalidInput", 400));
    let (code, status, _) = refused(iam.list_roles().max_items(1001).send().await);
    assert_eq!((code.as_str(), status), ("ValidationError", 400));
}

/// The IAM document of the account as stored (the embedded store's through its API).
async fn stored_roles(broker: &TestBroker) -> Vec<String> {
    let (_, docs) = broker
        .state
        .store
        .iam_documents(&[ACCOUNT.to_owned(), "444455556666".to_owned()])
        .await
        .unwrap();
    docs.iter()
        .filter_map(|d| d.bytes.as_ref())
        .flat_map(|b| {
            let doc: serde_json::Value = serde_json::from_slice(b).unwrap();
            doc["roles"]
                .as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test]
async fn every_bad_input_gets_iams_error_and_stores_nothing() {
    let idp = TestIdp::start().await;
    let broker = broker(&idp, "memory://", None).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let trust = ci_trust(&broker);
    iam.create_role()
        .role_name("kept")
        .assume_role_policy_document(&trust)
        .send()
        .await
        .unwrap();
    let before = stored_roles(&broker).await;
    let version = broker.state.store.iam_version().await.unwrap();

    // Missing and invalid parameters, over raw signed requests.
    let admin = Signer::new(ADMIN_KEY_ID, ADMIN_SECRET, None);
    let url = format!("{}/", broker.endpoint);
    let raw = |body: String| {
        let signer = &admin;
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
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let base = "Version=2010-05-08&Action=";
    let cases: Vec<(String, &str)> = vec![
        (format!("{base}CreateRole&RoleName=x"), "ValidationError"),
        (
            format!("{base}CreateRole&AssumeRolePolicyDocument={}", enc(&trust)),
            "ValidationError",
        ),
        (
            format!(
                "{base}CreateRole&RoleName=a%2Fb&AssumeRolePolicyDocument={}",
                enc(&trust)
            ),
            "ValidationError",
        ),
        (
            format!(
                "{base}CreateRole&RoleName={}&AssumeRolePolicyDocument={}",
                "r".repeat(65),
                enc(&trust)
            ),
            "ValidationError",
        ),
        (
            format!(
                "{base}CreateRole&RoleName=x&Path=nopath&AssumeRolePolicyDocument={}",
                enc(&trust)
            ),
            "ValidationError",
        ),
        (
            format!(
                "{base}CreateRole&RoleName=x&MaxSessionDuration=60&AssumeRolePolicyDocument={}",
                enc(&trust)
            ),
            "ValidationError",
        ),
        (
            format!(
                "{base}CreateRole&RoleName=x&Description={}&AssumeRolePolicyDocument={}",
                "d".repeat(1001),
                enc(&trust)
            ),
            "ValidationError",
        ),
        (
            format!(
                "{base}CreateRole&RoleName=x&Tags.member.1.Key=aws%3Ax&Tags.member.1.Value=v&AssumeRolePolicyDocument={}",
                enc(&trust)
            ),
            "InvalidInput",
        ),
        (
            format!("{base}CreateRole&RoleName=x&AssumeRolePolicyDocument=%7Bnot"),
            "MalformedPolicyDocument",
        ),
        (format!("{base}GetRole"), "ValidationError"),
        (
            format!("{base}UpdateRole&RoleName=kept&MaxSessionDuration=50000"),
            "ValidationError",
        ),
        (
            format!("{base}UpdateRoleDescription&RoleName=kept"),
            "ValidationError",
        ),
        (
            format!("{base}UpdateAssumeRolePolicy&RoleName=kept"),
            "ValidationError",
        ),
        (
            format!(
                "{base}UpdateAssumeRolePolicy&RoleName=kept&PolicyDocument={}",
                enc(NO_RESOURCE)
            ),
            "MalformedPolicyDocument",
        ),
        (format!("{base}DeleteRole"), "ValidationError"),
        (
            format!("{base}PutRolePolicy&RoleName=kept&PolicyName=p"),
            "ValidationError",
        ),
        (
            format!(
                "{base}PutRolePolicy&RoleName=kept&PolicyName=a%20b&PolicyDocument={}",
                enc(S3_READ)
            ),
            "ValidationError",
        ),
        (
            format!(
                "{base}PutRolePolicy&RoleName=kept&PolicyName=p&PolicyDocument={}",
                enc(NO_RESOURCE)
            ),
            "MalformedPolicyDocument",
        ),
        (
            format!("{base}GetRolePolicy&RoleName=kept"),
            "ValidationError",
        ),
        (
            format!("{base}GetRolePolicy&RoleName=kept&PolicyName=absent"),
            "NoSuchEntity",
        ),
        (
            format!("{base}DeleteRolePolicy&RoleName=kept&PolicyName=absent"),
            "NoSuchEntity",
        ),
        (
            format!("{base}ListRolePolicies&RoleName=kept&MaxItems=0"),
            "ValidationError",
        ),
        (format!("{base}TagRole&RoleName=kept"), "ValidationError"),
        (
            format!("{base}TagRole&RoleName=kept&Tags.member.1.Key=k"),
            "ValidationError",
        ),
        (format!("{base}UntagRole&RoleName=kept"), "ValidationError"),
        (
            format!("{base}ListRoleTags&RoleName=kept&Marker=zz"),
            "InvalidInput",
        ),
        (
            format!("{base}ListRoles&PathPrefix=nope"),
            "ValidationError",
        ),
        // Unknown roles.
        (format!("{base}GetRole&RoleName=absent"), "NoSuchEntity"),
        (
            format!("{base}UpdateRole&RoleName=absent&Description=d"),
            "NoSuchEntity",
        ),
        (
            format!("{base}UpdateRoleDescription&RoleName=absent&Description=d"),
            "NoSuchEntity",
        ),
        (
            format!(
                "{base}UpdateAssumeRolePolicy&RoleName=absent&PolicyDocument={}",
                enc(&trust)
            ),
            "NoSuchEntity",
        ),
        (format!("{base}DeleteRole&RoleName=absent"), "NoSuchEntity"),
        (
            format!(
                "{base}PutRolePolicy&RoleName=absent&PolicyName=p&PolicyDocument={}",
                enc(S3_READ)
            ),
            "NoSuchEntity",
        ),
        (
            format!("{base}ListRolePolicies&RoleName=absent"),
            "NoSuchEntity",
        ),
        (
            format!("{base}TagRole&RoleName=absent&Tags.member.1.Key=k&Tags.member.1.Value=v"),
            "NoSuchEntity",
        ),
        (
            format!("{base}UntagRole&RoleName=absent&TagKeys.member.1=k"),
            "NoSuchEntity",
        ),
        (
            format!("{base}ListRoleTags&RoleName=absent"),
            "NoSuchEntity",
        ),
        (
            format!("{base}ListInstanceProfilesForRole&RoleName=absent"),
            "NoSuchEntity",
        ),
        // Duplicates (any case) and file roles.
        (
            format!(
                "{base}CreateRole&RoleName=KEPT&AssumeRolePolicyDocument={}",
                enc(&trust)
            ),
            "EntityAlreadyExists",
        ),
        (
            format!(
                "{base}CreateRole&RoleName=deploy&AssumeRolePolicyDocument={}",
                enc(&trust)
            ),
            "EntityAlreadyExists",
        ),
        (
            format!("{base}UpdateRole&RoleName=deploy&Description=d"),
            "UnmodifiableEntity",
        ),
        (
            format!("{base}UpdateRoleDescription&RoleName=deploy&Description=d"),
            "UnmodifiableEntity",
        ),
        (
            format!(
                "{base}UpdateAssumeRolePolicy&RoleName=deploy&PolicyDocument={}",
                enc(&trust)
            ),
            "UnmodifiableEntity",
        ),
        (
            format!("{base}DeleteRole&RoleName=deploy"),
            "UnmodifiableEntity",
        ),
        (
            format!(
                "{base}PutRolePolicy&RoleName=deploy&PolicyName=p&PolicyDocument={}",
                enc(S3_READ)
            ),
            "UnmodifiableEntity",
        ),
        (
            format!("{base}DeleteRolePolicy&RoleName=deploy&PolicyName=deploy.json"),
            "UnmodifiableEntity",
        ),
        (
            format!("{base}TagRole&RoleName=deploy&Tags.member.1.Key=k&Tags.member.1.Value=v"),
            "UnmodifiableEntity",
        ),
        (
            format!("{base}UntagRole&RoleName=deploy&TagKeys.member.1=k"),
            "UnmodifiableEntity",
        ),
    ];
    for (body, expected) in &cases {
        let (code, status, text) = raw(body.clone()).await;
        assert_eq!(&code, expected, "{body}: {text}");
        let want = match *expected {
            "NoSuchEntity" => 404,
            "EntityAlreadyExists" => 409,
            _ => 400,
        };
        assert_eq!(status, want, "{body}");
        assert!(
            text.contains("<Type>Sender</Type>") && text.contains("<RequestId>"),
            "{text}"
        );
        if *expected == "UnmodifiableEntity" || body.contains("RoleName=deploy&Assume") {
            assert!(text.contains("broker.toml"), "names the file: {text}");
        }
    }
    // The message of a malformed policy is the one the same policy gets in a file.
    let (_, _, text) = raw(format!(
        "{base}PutRolePolicy&RoleName=kept&PolicyName=p&PolicyDocument={}",
        enc(NO_RESOURCE)
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.json"), NO_RESOURCE).unwrap();
    let file_issue = sts_broker::config::Config::from_toml(
        &format!(
            "[store]\nurl = \"memory://\"\n[keys]\ndir = \"k\"\n[[accounts]]\nid = \"{ACCOUNT}\"\n[[policies]]\naccount = \"{ACCOUNT}\"\nname = \"bad\"\nfile = \"bad.json\"\n"
        ),
        "broker.toml",
        dir.path(),
    )
    .unwrap_err()
    .issues[0]
        .message
        .clone();
    let api_message = text
        .split("<Message>")
        .nth(1)
        .and_then(|t| t.split("</Message>").next())
        .unwrap();
    assert!(
        file_issue.ends_with(api_message),
        "file: {file_issue:?}, api: {api_message:?}"
    );

    // Another account's administrator sees none of these roles and changes none.
    let foreign = broker.iam_as(FOREIGN_KEY_ID, FOREIGN_SECRET);
    let (code, status, _) = refused(foreign.get_role().role_name("kept").send().await);
    assert_eq!((code.as_str(), status), ("NoSuchEntity", 404));
    let (code, _, _) = refused(foreign.delete_role().role_name("kept").send().await);
    assert_eq!(code, "NoSuchEntity");
    let listed = foreign.list_roles().send().await.unwrap();
    assert!(
        listed
            .roles()
            .iter()
            .all(|r| r.arn().starts_with("arn:aws:iam::444455556666:")),
        "{:?}",
        listed.roles()
    );

    // A caller without iam: permissions is refused every call.
    let bob = broker.iam_as(BOB_KEY_ID, BOB_SECRET);
    let (code, status, message) = refused(
        bob.create_role()
            .role_name("bobs")
            .assume_role_policy_document(&trust)
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("AccessDenied", 403), "{message}");
    assert!(
        message.contains(&format!(
            "is not authorized to perform: iam:CreateRole on resource: arn:aws:iam::{ACCOUNT}:role/bobs"
        )),
        "{message}"
    );
    for (code, _, _) in [
        refused(bob.get_role().role_name("kept").send().await),
        refused(bob.list_roles().send().await),
        refused(bob.delete_role().role_name("kept").send().await),
        refused(
            bob.update_role()
                .role_name("kept")
                .description("d")
                .send()
                .await,
        ),
        refused(
            bob.tag_role()
                .role_name("kept")
                .tags(Tag::builder().key("k").value("v").build().unwrap())
                .send()
                .await,
        ),
    ] {
        assert_eq!(code, "AccessDenied");
    }

    assert_eq!(stored_roles(&broker).await, before);
    assert_eq!(broker.state.store.iam_version().await.unwrap(), version);
    let kept = iam.get_role().role_name("kept").send().await.unwrap();
    assert_eq!(kept.role().unwrap().description(), None);
    assert!(kept.role().unwrap().tags().is_empty());
}

#[tokio::test]
async fn with_the_store_down_a_change_is_503_and_nothing_changes() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let broker = broker(&idp, &redis.url(), None).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    iam.create_role()
        .role_name("before")
        .assume_role_policy_document(ci_trust(&broker))
        .send()
        .await
        .unwrap();
    drop(redis);
    let (code, status, _) = refused(
        iam.create_role()
            .role_name("during")
            .assume_role_policy_document(ci_trust(&broker))
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("ServiceUnavailable", 503));
    // The layer served is kept: the first role is there, the second is not.
    iam.get_role().role_name("before").send().await.unwrap();
    let (code, _, _) = refused(iam.get_role().role_name("during").send().await);
    assert_eq!(code, "NoSuchEntity");
    let failures: u64 = broker
        .state
        .store
        .errors_by_operation()
        .iter()
        .filter(|(op, _)| op.name().starts_with("iam_"))
        .map(|(_, n)| n)
        .sum();
    assert!(failures > 0);
}

/// An API role hidden by a file role of the same name, then shown again when the file drops
/// it: the API role is served again with its stored id (not the file's role), and neither the
/// file role's sessions nor those of the API role from before it was hidden come back.
#[tokio::test]
async fn a_role_the_file_defined_for_a_while_is_the_api_one_again_and_no_session_comes_back() {
    let idp = TestIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let base = config(dir.path(), &idp, "memory://");
    let broker = TestBroker::reloadable(dir, &base).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let made = iam
        .create_role()
        .role_name("ci")
        .assume_role_policy_document(ci_trust(&broker))
        .send()
        .await
        .unwrap();
    let stored_id = made.role().unwrap().role_id().to_owned();
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/ci");
    let api_session = assume(&broker, &idp, &arn).await.unwrap();
    let role_id = |iam: aws_sdk_iam::Client| async move {
        let got = iam.get_role().role_name("ci").send().await.unwrap();
        got.role().unwrap().role_id().to_owned()
    };

    // The file defines `ci` now: its role is served.
    let file = broker.dir.path().join("broker.toml");
    std::fs::write(
        &file,
        format!(
            "{base}\n[[roles]]\naccount = \"{ACCOUNT}\"\nname = \"ci\"\ntrust_policy_file = \"ci-trust.json\"\n"
        ),
    )
    .unwrap();
    broker.live.reload("test").await.unwrap();
    assert_ne!(role_id(iam.clone()).await, stored_id);
    let file_session = usable_session(&broker, &idp, &arn).await;

    // The file drops it: the API role, as stored, is served again and can be changed.
    std::fs::write(&file, &base).unwrap();
    broker.live.reload("test").await.unwrap();
    assert_eq!(role_id(iam.clone()).await, stored_id);
    iam.update_role()
        .role_name("ci")
        .description("the API's")
        .send()
        .await
        .unwrap();
    for session in [&file_session, &api_session] {
        assert_eq!(
            caller_identity(&broker, session).await,
            Err("InvalidClientTokenId".to_owned())
        );
    }
    usable_session(&broker, &idp, &arn).await;
}

/// A session of `arn` that works: a rule cuts at a whole second, so one issued in the second
/// a role was replaced is refused; polled until the next second at most.
async fn usable_session(
    broker: &TestBroker,
    idp: &TestIdp,
    arn: &str,
) -> aws_sdk_sts::types::Credentials {
    let start = Instant::now();
    loop {
        let session = assume(broker, idp, arn).await.unwrap();
        if caller_identity(broker, &session).await.is_ok() {
            return session;
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "no usable session"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A deletion that is refused or not stored ends no session: the rule is written only once
/// the deletion is stored.
#[tokio::test]
async fn a_delete_that_is_refused_or_not_stored_ends_no_session() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let broker = broker(&idp, &redis.url(), None).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    iam.create_role()
        .role_name("kept")
        .assume_role_policy_document(ci_trust(&broker))
        .send()
        .await
        .unwrap();
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/kept");
    let session = assume(&broker, &idp, &arn).await.unwrap();
    iam.put_role_policy()
        .role_name("kept")
        .policy_name("read")
        .policy_document(S3_READ)
        .send()
        .await
        .unwrap();
    let (code, _, _) = refused(iam.delete_role().role_name("kept").send().await);
    assert_eq!(code, "DeleteConflict");
    caller_identity(&broker, &session).await.unwrap();

    // The document's write fails (the store refuses HSET), revocation entries still work.
    iam.delete_role_policy()
        .role_name("kept")
        .policy_name("read")
        .send()
        .await
        .unwrap();
    let client = ::redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let acl = |rule: &'static str| {
        ::redis::cmd("ACL")
            .arg("SETUSER")
            .arg("default")
            .arg(rule)
            .clone()
    };
    acl("-hset").query_async::<()>(&mut c).await.unwrap();
    let (_, status, _) = refused(iam.delete_role().role_name("kept").send().await);
    acl("+hset").query_async::<()>(&mut c).await.unwrap();
    assert_eq!(status, 503);
    iam.get_role().role_name("kept").send().await.unwrap();
    caller_identity(&broker, &session).await.unwrap();
}

/// Calls of each write command Redis has answered so far (`INFO commandstats`).
async fn redis_writes(redis: &RedisServer) -> u64 {
    redis.command_calls("set").await + redis.command_calls("zadd").await
}

/// A change through the API swaps the configuration on every replica; the swap registers only
/// the roles and users that are new, not every one again: a `TagRole` with 60 roles costs no
/// registry write, a `CreateRole` one.
#[tokio::test]
async fn a_change_writes_to_the_registry_only_what_is_new() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let broker = broker(&idp, &redis.url(), None).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    for i in 0..60 {
        iam.create_role()
            .role_name(format!("r{i}"))
            .assume_role_policy_document(ci_trust(&broker))
            .send()
            .await
            .unwrap();
    }
    let before = redis_writes(&redis).await;
    let version = broker.state.store.iam_version().await.unwrap();
    iam.tag_role()
        .role_name("r1")
        .tags(Tag::builder().key("k").value("v").build().unwrap())
        .send()
        .await
        .unwrap();
    assert!(broker.live.current().iam_layer.version > version);
    assert_eq!(redis_writes(&redis).await - before, 0);
    iam.create_role()
        .role_name("one-more")
        .assume_role_policy_document(ci_trust(&broker))
        .send()
        .await
        .unwrap();
    // One registry entry: the entry and its index.
    assert_eq!(redis_writes(&redis).await - before, 2);
}

/// Users of the account whose policies use the tag condition keys of IAM's role actions.
pub(crate) fn tag_policies_config(dir: &std::path::Path, idp: &TestIdp) -> String {
    let users = [
        (
            "guarded",
            r#"{"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "iam:*", "Resource": "*",
                 "Condition": {"StringEquals": {"aws:ResourceTag/protected": "true"}}}]}"#,
        ),
        (
            "tagger",
            r#"{"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["iam:CreateRole", "iam:TagRole", "iam:CreatePolicy",
                 "iam:TagPolicy", "iam:UntagPolicy", "iam:CreateOpenIDConnectProvider",
                 "iam:TagOpenIDConnectProvider", "iam:UntagOpenIDConnectProvider"], "Resource": "*",
                 "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}}]}"#,
        ),
        (
            "creator",
            r#"{"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["iam:CreateRole", "iam:CreatePolicy",
                 "iam:CreateOpenIDConnectProvider"], "Resource": "*"}]}"#,
        ),
    ];
    let mut toml = config(dir, idp, "memory://");
    for (i, (name, policy)) in users.iter().enumerate() {
        std::fs::write(dir.join(format!("{name}.json")), policy).unwrap();
        std::fs::write(
            dir.join(format!("{name}.secret")),
            format!("{name}SecretAccessKey/EXAMPLE+0123456789"),
        )
        .unwrap();
        toml += &format!(
            "\n[[users]]\naccount = \"{ACCOUNT}\"\nname = \"{name}\"\npolicy_files = [\"{name}.json\"]\naccess_keys = [{{ id = \"AKIATAGTESTUSERAAAA{}\", secret_file = \"{name}.secret\" }}]\n",
            key_letter(i)
        );
    }
    toml
}

/// The last letter of the access key id of the `i`th user of [`tag_policies_config`].
pub(crate) fn key_letter(i: usize) -> char {
    char::from(b'B' + u8::try_from(i).unwrap())
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().unwrap()
}

/// Managed policies' tags decide as roles' do: `aws:RequestTag/KEY` and `aws:TagKeys` for
/// CreatePolicy, TagPolicy and UntagPolicy, and tags at creation need `iam:TagPolicy`.
#[tokio::test]
async fn tag_condition_keys_decide_policy_tagging_as_in_iam() {
    let idp = TestIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = tag_policies_config(dir.path(), &idp);
    let broker = TestBroker::from_toml(dir, &toml).await;
    let as_user = |i: usize, name: &str| {
        broker.iam_as(
            &format!("AKIATAGTESTUSERAAAA{}", key_letter(i)),
            &format!("{name}SecretAccessKey/EXAMPLE+0123456789"),
        )
    };
    let (tagger, creator) = (as_user(1, "tagger"), as_user(2, "creator"));
    let admin = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let create = |iam: &aws_sdk_iam::Client, name: &str, tags: Vec<Tag>| {
        iam.create_policy()
            .policy_name(name)
            .policy_document(S3_READ)
            .set_tags(Some(tags))
            .send()
    };
    let made = create(&tagger, "team-only", vec![tag("team", "a")])
        .await
        .unwrap();
    let arn = made.policy().unwrap().arn().unwrap().to_owned();
    let (code, _, _) = refused(
        create(
            &tagger,
            "extra-key",
            vec![tag("team", "a"), tag("env", "b")],
        )
        .await,
    );
    assert_eq!(code, "AccessDenied");
    let (code, _, _) = refused(
        tagger
            .tag_policy()
            .policy_arn(&arn)
            .tags(tag("env", "b"))
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied");
    let (code, _, _) = refused(
        tagger
            .untag_policy()
            .policy_arn(&arn)
            .tag_keys("env")
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied");
    tagger
        .tag_policy()
        .policy_arn(&arn)
        .tags(tag("team", "b"))
        .send()
        .await
        .unwrap();

    let (code, _, message) = refused(create(&creator, "tagged", vec![tag("team", "a")]).await);
    assert_eq!(code, "AccessDenied");
    assert!(message.contains("iam:TagPolicy"), "{message}");
    create(&creator, "untagged", vec![]).await.unwrap();

    let listed = admin.list_policies().send().await.unwrap();
    let names: Vec<&str> = listed
        .policies()
        .iter()
        .filter_map(|p| p.policy_name())
        .collect();
    // Refused creations stored nothing (the file's policies are listed too).
    for (name, stored) in [
        ("team-only", true),
        ("untagged", true),
        ("extra-key", false),
        ("tagged", false),
    ] {
        assert_eq!(names.contains(&name), stored, "{name}: {names:?}");
    }
    let tags = admin
        .list_policy_tags()
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    let tags: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("team", "b")]);
}

/// Identity providers' tags decide as roles' and policies' do.
#[tokio::test]
async fn tag_condition_keys_decide_provider_tagging_as_in_iam() {
    let idp = TestIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = tag_policies_config(dir.path(), &idp);
    let broker = TestBroker::from_toml(dir, &toml).await;
    let as_user = |i: usize, name: &str| {
        broker.iam_as(
            &format!("AKIATAGTESTUSERAAAA{}", key_letter(i)),
            &format!("{name}SecretAccessKey/EXAMPLE+0123456789"),
        )
    };
    let (tagger, creator) = (as_user(1, "tagger"), as_user(2, "creator"));
    let admin = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let create = |iam: &aws_sdk_iam::Client, host: &str, tags: Vec<Tag>| {
        iam.create_open_id_connect_provider()
            .url(format!("https://{host}"))
            .client_id_list("sts.amazonaws.com")
            .set_tags(Some(tags))
            .send()
    };
    let made = create(&tagger, "team.example.com", vec![tag("team", "a")])
        .await
        .unwrap();
    let arn = made.open_id_connect_provider_arn().unwrap().to_owned();
    let (code, _, _) = refused(
        create(
            &tagger,
            "extra.example.com",
            vec![tag("team", "a"), tag("env", "b")],
        )
        .await,
    );
    assert_eq!(code, "AccessDenied");
    let (code, _, _) = refused(
        tagger
            .tag_open_id_connect_provider()
            .open_id_connect_provider_arn(&arn)
            .tags(tag("env", "b"))
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied");
    let (code, _, _) = refused(
        tagger
            .untag_open_id_connect_provider()
            .open_id_connect_provider_arn(&arn)
            .tag_keys("env")
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied");
    let (code, _, message) =
        refused(create(&creator, "tagged.example.com", vec![tag("team", "a")]).await);
    assert_eq!(code, "AccessDenied");
    assert!(
        message.contains("iam:TagOpenIDConnectProvider"),
        "{message}"
    );
    create(&creator, "untagged.example.com", vec![])
        .await
        .unwrap();

    let listed = admin.list_open_id_connect_providers().send().await.unwrap();
    let arns: Vec<&str> = listed
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .collect();
    for (host, stored) in [
        ("team.example.com", true),
        ("untagged.example.com", true),
        ("extra.example.com", false),
        ("tagged.example.com", false),
    ] {
        let arn = format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{host}");
        assert_eq!(arns.contains(&arn.as_str()), stored, "{host}: {arns:?}");
    }
}

#[tokio::test]
async fn tag_condition_keys_decide_role_actions_as_in_iam() {
    let idp = TestIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = tag_policies_config(dir.path(), &idp);
    let broker = TestBroker::from_toml(dir, &toml).await;
    let trust = ci_trust(&broker);
    let as_user = |i: usize, name: &str| {
        broker.iam_as(
            &format!("AKIATAGTESTUSERAAAA{}", key_letter(i)),
            &format!("{name}SecretAccessKey/EXAMPLE+0123456789"),
        )
    };
    let (guarded, tagger, creator) = (
        as_user(0, "guarded"),
        as_user(1, "tagger"),
        as_user(2, "creator"),
    );
    let admin = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    for (name, tags) in [("vault", vec![tag("protected", "true")]), ("open", vec![])] {
        admin
            .create_role()
            .role_name(name)
            .assume_role_policy_document(&trust)
            .set_tags(Some(tags))
            .send()
            .await
            .unwrap();
    }

    // Deny by the role's tag.
    let put = |iam: &aws_sdk_iam::Client, role: &str| {
        iam.put_role_policy()
            .role_name(role)
            .policy_name("read")
            .policy_document(S3_READ)
            .send()
    };
    let (code, status, _) = refused(put(&guarded, "vault").await);
    assert_eq!((code.as_str(), status), ("AccessDenied", 403));
    put(&guarded, "open").await.unwrap();
    let vault_policies = admin
        .list_role_policies()
        .role_name("vault")
        .send()
        .await
        .unwrap();
    assert!(vault_policies.policy_names().is_empty());

    // Only the tag keys allowed, at creation and after.
    let create = |iam: &aws_sdk_iam::Client, role: &str, tags: Vec<Tag>| {
        iam.create_role()
            .role_name(role)
            .assume_role_policy_document(&trust)
            .set_tags(Some(tags))
            .send()
    };
    create(&tagger, "team-only", vec![tag("team", "a")])
        .await
        .unwrap();
    let (code, _, _) = refused(
        create(
            &tagger,
            "extra-key",
            vec![tag("team", "a"), tag("env", "b")],
        )
        .await,
    );
    assert_eq!(code, "AccessDenied");
    let (code, _, _) = refused(
        tagger
            .tag_role()
            .role_name("team-only")
            .tags(tag("env", "b"))
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied");

    // Tags at creation need iam:TagRole too.
    let (code, _, message) = refused(create(&creator, "tagged", vec![tag("team", "a")]).await);
    assert_eq!(code, "AccessDenied");
    assert!(message.contains("iam:TagRole"), "{message}");
    create(&creator, "untagged", vec![]).await.unwrap();

    for gone in ["extra-key", "tagged"] {
        let (code, _, _) = refused(admin.get_role().role_name(gone).send().await);
        assert_eq!(code, "NoSuchEntity");
    }
    let team_only = admin
        .list_role_tags()
        .role_name("team-only")
        .send()
        .await
        .unwrap();
    assert_eq!(team_only.tags().len(), 1);
}

/// A tag key with a multi-byte character across its fourth byte (`abc%C3%A9` on the wire) is a
/// key like any other, wherever a tag key is read.
#[tokio::test]
async fn a_multi_byte_tag_key_is_a_key_like_another() {
    let idp = TestIdp::start().await;
    let broker = broker(&idp, "memory://", None).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    iam.create_role()
        .role_name("wide")
        .assume_role_policy_document(ci_trust(&broker))
        .tags(tag("abc\u{e9}", "v"))
        .send()
        .await
        .unwrap();
    iam.tag_role()
        .role_name("wide")
        .tags(tag("\u{e9}\u{e9}x", "w"))
        .send()
        .await
        .unwrap();
    iam.untag_role()
        .role_name("wide")
        .tag_keys("abc\u{e9}")
        .send()
        .await
        .unwrap();
    let tags = iam.list_role_tags().role_name("wide").send().await.unwrap();
    let keys: Vec<_> = tags.tags().iter().map(|t| t.key()).collect();
    assert_eq!(keys, ["\u{e9}\u{e9}x"]);
}

/// A caller refused a role action learns neither whether the role exists nor its path: the
/// denial names the role as the request did, at path `/`.
#[tokio::test]
async fn a_refused_caller_is_told_the_role_as_it_named_it() {
    let idp = TestIdp::start().await;
    let broker = broker(&idp, "memory://", None).await;
    let bob = broker.iam_as(BOB_KEY_ID, BOB_SECRET);
    // `deploy` is the file's, at `/ci/`; `absent` does not exist.
    for name in ["deploy", "DEPLOY", "absent"] {
        for (code, status, message) in [
            refused(bob.get_role().role_name(name).send().await),
            refused(
                bob.tag_role()
                    .role_name(name)
                    .tags(tag("k", "v"))
                    .send()
                    .await,
            ),
        ] {
            assert_eq!((code.as_str(), status), ("AccessDenied", 403), "{message}");
            assert!(
                message.contains(&format!("on resource: arn:aws:iam::{ACCOUNT}:role/{name}:")),
                "{message}"
            );
            assert!(!message.contains("/ci/"), "{message}");
        }
    }
}
