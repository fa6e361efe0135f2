//! IAM's customer-managed policies, attachments and permissions boundaries through the real
//! `aws-sdk-iam` client: a policy made on one replica grants on another at once, and a new
//! default version, a detachment or a boundary takes its grants away there within a second
//! (real Redis, decisions through the authorize API); the `iam:PermissionsBoundary` condition;
//! the calls Terraform's provider makes; every bad input with nothing stored.

use aws_sdk_iam::types::{PermissionsBoundaryAttachmentType, PolicyScopeType, Tag};
use serde_json::Value;

use crate::authorize::{ask, call, forwarded, gateway};
use crate::harness::broker::{ACCOUNT, BOB_KEY_ID, BOB_SECRET, READONLY_POLICY, TestBroker};
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;
use crate::harness::signer::Signer;
use crate::iam_roles::{
    ADMIN_KEY_ID, ADMIN_SECRET, FOREIGN_KEY_ID, FOREIGN_SECRET, PROPAGATION, assume, broker,
    ci_trust, config, refused, unescape, within,
};

const GET_OBJECTS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::app-bucket/*"}]}"#;
const LIST_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#;
/// Refused as a file policy is: no `Resource`.
const NO_RESOURCE: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#;
const ROLE_MAKER_KEY_ID: &str = "AKIAROLEMAKEREXAMPL2";
const ROLE_MAKER_SECRET: &str = "roleMakerSecretAccessKey/EXAMPLE+0123456";

fn policy_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:policy/{name}")
}

/// Whether `session` may `s3:GetObject` `app-bucket/k`, as `broker`'s authorize API decides.
async fn may_get(broker: &TestBroker, session: &Signer) -> bool {
    let (status, v): (u16, Value) = call(
        broker,
        Some(&gateway()),
        &ask(
            forwarded(session, "GET", "/app-bucket/k"),
            "s3:GetObject",
            "arn:aws:s3:::app-bucket/k",
        ),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v["decision"] == "Allow"
}

#[tokio::test]
async fn a_policy_made_on_one_replica_grants_on_another_and_its_changes_take_grants_away() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let a = broker(&idp, &redis.url(), Some(keys.path())).await;
    let b = broker(&idp, &redis.url(), Some(keys.path())).await;
    let iam_a = a.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);

    let created = iam_a
        .create_policy()
        .policy_name("objects")
        .policy_document(GET_OBJECTS)
        .send()
        .await
        .unwrap();
    let policy = created.policy().unwrap();
    let arn = policy_arn("objects");
    assert_eq!(policy.arn(), Some(arn.as_str()));
    assert_eq!(policy.default_version_id(), Some("v1"));
    let first_id = policy.policy_id().unwrap().to_owned();
    assert!(first_id.starts_with("ANPA") && first_id.len() == 21);
    iam_a
        .create_policy()
        .policy_name("list-only")
        .policy_document(LIST_ONLY)
        .send()
        .await
        .unwrap();
    iam_a
        .create_role()
        .role_name("reader")
        .assume_role_policy_document(ci_trust(&a))
        .send()
        .await
        .unwrap();
    let role = format!("arn:aws:iam::{ACCOUNT}:role/reader");
    let c = assume(&a, &idp, &role).await.unwrap();
    let session = Signer::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token()),
    );
    assert!(!may_get(&a, &session).await);

    // Attached on A: the same session may at once on A, and on B within a second.
    iam_a
        .attach_role_policy()
        .role_name("reader")
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    assert!(may_get(&a, &session).await);
    let took = within(PROPAGATION, || may_get(&b, &session)).await;
    eprintln!("attached on A, granted on B after {took:?}");

    // A new default version without the grant: refused on B within a second.
    let v2 = iam_a
        .create_policy_version()
        .policy_arn(&arn)
        .policy_document(LIST_ONLY)
        .set_as_default(true)
        .send()
        .await
        .unwrap();
    let v2 = v2.policy_version().unwrap();
    assert_eq!(
        (v2.version_id(), v2.is_default_version()),
        (Some("v2"), true)
    );
    let took = within(PROPAGATION, || async { !may_get(&b, &session).await }).await;
    eprintln!("new default version on A, refused on B after {took:?}");
    // Back to v1, then v2 deleted: granted again.
    iam_a
        .set_default_policy_version()
        .policy_arn(&arn)
        .version_id("v1")
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || may_get(&b, &session)).await;
    iam_a
        .delete_policy_version()
        .policy_arn(&arn)
        .version_id("v2")
        .send()
        .await
        .unwrap();

    // A boundary without the grant limits the session; removed, the grant is back.
    iam_a
        .put_role_permissions_boundary()
        .role_name("reader")
        .permissions_boundary(policy_arn("list-only"))
        .send()
        .await
        .unwrap();
    assert!(!may_get(&a, &session).await);
    within(PROPAGATION, || async { !may_get(&b, &session).await }).await;
    let b_iam = b.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let shown = b_iam.get_role().role_name("reader").send().await.unwrap();
    let boundary = shown.role().unwrap().permissions_boundary().unwrap();
    assert_eq!(
        boundary.permissions_boundary_arn(),
        Some(policy_arn("list-only").as_str())
    );
    assert_eq!(
        boundary.permissions_boundary_type(),
        Some(&PermissionsBoundaryAttachmentType::Policy)
    );
    iam_a
        .delete_role_permissions_boundary()
        .role_name("reader")
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || may_get(&b, &session)).await;

    // Detached: refused on B within a second.
    iam_a
        .detach_role_policy()
        .role_name("reader")
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    let took = within(PROPAGATION, || async { !may_get(&b, &session).await }).await;
    eprintln!("detached on A, refused on B after {took:?}");

    // Deleted and created again: a new id.
    iam_a.delete_policy().policy_arn(&arn).send().await.unwrap();
    let again = iam_a
        .create_policy()
        .policy_name("objects")
        .policy_document(GET_OBJECTS)
        .send()
        .await
        .unwrap();
    assert_ne!(again.policy().unwrap().policy_id(), Some(first_id.as_str()));
}

/// The test configuration with `role-maker`, who may create roles and set boundaries only
/// with the file's `readonly` policy as the boundary.
async fn with_role_maker(idp: &TestIdp) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("role-maker.json"),
        format!(
            r#"{{"Version": "2012-10-17", "Statement": [
  {{"Effect": "Allow", "Action": ["iam:CreateRole", "iam:PutRolePermissionsBoundary"], "Resource": "*",
    "Condition": {{"StringEquals": {{"iam:PermissionsBoundary": "{READONLY_POLICY}"}}}}}},
  {{"Effect": "Allow", "Action": "iam:AttachRolePolicy", "Resource": "*",
    "Condition": {{"ArnLike": {{"iam:PolicyARN": "arn:aws:iam::{ACCOUNT}:policy/team/*"}}}}}}]}}"#
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("role-maker.secret"), ROLE_MAKER_SECRET).unwrap();
    let toml = config(dir.path(), idp, "memory://")
        + &format!(
            r#"
[[users]]
account = "{ACCOUNT}"
name = "role-maker"
policy_files = ["role-maker.json"]
access_keys = [{{ id = "{ROLE_MAKER_KEY_ID}", secret_file = "role-maker.secret" }}]
"#
        );
    TestBroker::from_toml(dir, &toml).await
}

#[tokio::test]
async fn the_permissions_boundary_condition_key_decides_who_may_create_which_role() {
    let idp = TestIdp::start().await;
    let broker = with_role_maker(&idp).await;
    let maker = broker.iam_as(ROLE_MAKER_KEY_ID, ROLE_MAKER_SECRET);
    let admin = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let trust = ci_trust(&broker);
    let version = broker.state.store.iam_version().await.unwrap();

    // Without a boundary, or with another one: refused, nothing stored.
    let (code, status, message) = refused(
        maker
            .create_role()
            .role_name("free")
            .assume_role_policy_document(&trust)
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("AccessDenied", 403), "{message}");
    let (code, _, _) = refused(
        maker
            .create_role()
            .role_name("free")
            .assume_role_policy_document(&trust)
            .permissions_boundary(policy_arn("app-boundary"))
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied");
    assert_eq!(broker.state.store.iam_version().await.unwrap(), version);

    // With the boundary the condition names: created, and bounded by it.
    let created = maker
        .create_role()
        .role_name("bounded")
        .assume_role_policy_document(&trust)
        .permissions_boundary(READONLY_POLICY)
        .send()
        .await
        .unwrap();
    let shown = created.role().unwrap().permissions_boundary().unwrap();
    assert_eq!(shown.permissions_boundary_arn(), Some(READONLY_POLICY));
    let role = admin.get_role().role_name("bounded").send().await.unwrap();
    assert_eq!(
        role.role()
            .unwrap()
            .permissions_boundary()
            .unwrap()
            .permissions_boundary_arn(),
        Some(READONLY_POLICY)
    );

    // PutRolePermissionsBoundary: the same condition.
    let (code, _, _) = refused(
        maker
            .put_role_permissions_boundary()
            .role_name("bounded")
            .permissions_boundary(policy_arn("app-boundary"))
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied");
    maker
        .put_role_permissions_boundary()
        .role_name("bounded")
        .permissions_boundary(READONLY_POLICY)
        .send()
        .await
        .unwrap();

    // iam:PolicyARN: only policies under /team/ may be attached by the role maker.
    admin
        .create_policy()
        .policy_name("team-read")
        .path("/team/")
        .policy_document(GET_OBJECTS)
        .send()
        .await
        .unwrap();
    let (code, _, message) = refused(
        maker
            .attach_role_policy()
            .role_name("bounded")
            .policy_arn(READONLY_POLICY)
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied", "{message}");
    assert!(
        message.contains(&format!(
            "iam:AttachRolePolicy on resource: arn:aws:iam::{ACCOUNT}:role/bounded"
        )),
        "{message}"
    );
    maker
        .attach_role_policy()
        .role_name("bounded")
        .policy_arn(format!("arn:aws:iam::{ACCOUNT}:policy/team/team-read"))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_calls_terraform_makes_for_roles_policies_and_attachments() {
    let idp = TestIdp::start().await;
    let broker = broker(&idp, "memory://", None).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let trust = ci_trust(&broker);
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();

    // aws_iam_policy: create, read back (GetPolicy with tags, GetPolicyVersion of the default).
    let created = iam
        .create_policy()
        .policy_name("tf-objects")
        .path("/tf/")
        .description("objects for the app")
        .policy_document(GET_OBJECTS)
        .tags(tag("owner", "tf"))
        .send()
        .await
        .unwrap();
    let arn = format!("arn:aws:iam::{ACCOUNT}:policy/tf/tf-objects");
    let p = created.policy().unwrap();
    assert_eq!(
        (
            p.policy_name(),
            p.path(),
            p.arn(),
            p.default_version_id(),
            p.attachment_count(),
            p.is_attachable()
        ),
        (
            Some("tf-objects"),
            Some("/tf/"),
            Some(arn.as_str()),
            Some("v1"),
            Some(0),
            true
        )
    );
    assert!(p.create_date().is_some() && p.update_date().is_some());
    let got = iam.get_policy().policy_arn(&arn).send().await.unwrap();
    let p = got.policy().unwrap();
    assert_eq!(p.description(), Some("objects for the app"));
    assert_eq!(p.tags().len(), 1);
    assert_eq!(p.permissions_boundary_usage_count(), Some(0));
    let version = iam
        .get_policy_version()
        .policy_arn(&arn)
        .version_id(p.default_version_id().unwrap())
        .send()
        .await
        .unwrap();
    let version = version.policy_version().unwrap();
    assert_eq!(unescape(version.document().unwrap()), GET_OBJECTS);
    assert!(version.is_default_version());
    assert!(version.create_date().is_some());

    // aws_iam_role with an inline and an attached policy; aws_iam_role_policy_attachment of
    // a file policy.
    iam.create_role()
        .role_name("tf-role")
        .assume_role_policy_document(&trust)
        .tags(tag("owner", "tf"))
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name("tf-role")
        .policy_name("inline")
        .policy_document(LIST_ONLY)
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name("tf-role")
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name("tf-role")
        .policy_arn(READONLY_POLICY)
        .send()
        .await
        .unwrap();
    let role = iam.get_role().role_name("tf-role").send().await.unwrap();
    assert!(role.role().unwrap().arn().starts_with("arn:aws:iam::"));
    let names = iam
        .list_role_policies()
        .role_name("tf-role")
        .send()
        .await
        .unwrap();
    assert_eq!(names.policy_names(), ["inline"]);
    let inline = iam
        .get_role_policy()
        .role_name("tf-role")
        .policy_name("inline")
        .send()
        .await
        .unwrap();
    assert_eq!(unescape(inline.policy_document()), LIST_ONLY);
    let attached = iam
        .list_attached_role_policies()
        .role_name("tf-role")
        .send()
        .await
        .unwrap();
    let mut listed: Vec<_> = attached
        .attached_policies()
        .iter()
        .map(|p| (p.policy_name().unwrap(), p.policy_arn().unwrap()))
        .collect();
    listed.sort_unstable();
    assert_eq!(
        listed,
        [("readonly", READONLY_POLICY), ("tf-objects", arn.as_str())]
    );
    assert!(!attached.is_truncated());
    let only_tf = iam
        .list_attached_role_policies()
        .role_name("tf-role")
        .path_prefix("/tf/")
        .send()
        .await
        .unwrap();
    assert_eq!(only_tf.attached_policies().len(), 1);
    let got = iam.get_policy().policy_arn(&arn).send().await.unwrap();
    assert_eq!(got.policy().unwrap().attachment_count(), Some(1));
    let entities = iam
        .list_entities_for_policy()
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(entities.policy_roles().len(), 1);
    assert_eq!(entities.policy_roles()[0].role_name(), Some("tf-role"));
    assert!(
        entities.policy_roles()[0]
            .role_id()
            .unwrap()
            .starts_with("AROA")
    );
    assert!(entities.policy_users().is_empty() && entities.policy_groups().is_empty());
    // The file policy counts the file role, this one and the file user attaching it.
    let file_policy = iam
        .get_policy()
        .policy_arn(READONLY_POLICY)
        .send()
        .await
        .unwrap();
    assert_eq!(file_policy.policy().unwrap().attachment_count(), Some(3));
    let local = iam
        .list_policies()
        .scope(PolicyScopeType::Local)
        .send()
        .await
        .unwrap();
    let mut names: Vec<_> = local
        .policies()
        .iter()
        .map(|p| p.policy_name().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["app-boundary", "readonly", "tf-objects"]);
    let aws = iam
        .list_policies()
        .scope(PolicyScopeType::Aws)
        .send()
        .await
        .unwrap();
    assert!(aws.policies().is_empty());
    let attached_only = iam
        .list_policies()
        .only_attached(true)
        .send()
        .await
        .unwrap();
    assert_eq!(attached_only.policies().len(), 3);

    // Update: the policy gets a new version as the provider makes one, the role a boundary
    // and new tags.
    let versions = iam
        .list_policy_versions()
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 1);
    let v2 = iam
        .create_policy_version()
        .policy_arn(&arn)
        .policy_document(LIST_ONLY)
        .set_as_default(false)
        .send()
        .await
        .unwrap();
    assert_eq!(v2.policy_version().unwrap().version_id(), Some("v2"));
    assert!(!v2.policy_version().unwrap().is_default_version());
    iam.set_default_policy_version()
        .policy_arn(&arn)
        .version_id("v2")
        .send()
        .await
        .unwrap();
    iam.delete_policy_version()
        .policy_arn(&arn)
        .version_id("v1")
        .send()
        .await
        .unwrap();
    let got = iam.get_policy().policy_arn(&arn).send().await.unwrap();
    assert_eq!(got.policy().unwrap().default_version_id(), Some("v2"));
    let v2 = iam
        .get_policy_version()
        .policy_arn(&arn)
        .version_id("v2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        unescape(v2.policy_version().unwrap().document().unwrap()),
        LIST_ONLY
    );
    iam.tag_policy()
        .policy_arn(&arn)
        .tags(tag("env", "prod"))
        .send()
        .await
        .unwrap();
    iam.untag_policy()
        .policy_arn(&arn)
        .tag_keys("owner")
        .send()
        .await
        .unwrap();
    let tags = iam
        .list_policy_tags()
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    let tags: Vec<_> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("env", "prod")]);
    iam.put_role_permissions_boundary()
        .role_name("tf-role")
        .permissions_boundary(READONLY_POLICY)
        .send()
        .await
        .unwrap();
    let bounded = iam
        .list_entities_for_policy()
        .policy_arn(READONLY_POLICY)
        .policy_usage_filter(aws_sdk_iam::types::PolicyUsageType::PermissionsBoundary)
        .send()
        .await
        .unwrap();
    assert_eq!(bounded.policy_roles().len(), 1);

    // Destroy, in the provider's order: the policy cannot go while attached, nor the role.
    let (code, status, _) = refused(iam.delete_policy().policy_arn(&arn).send().await);
    assert_eq!((code.as_str(), status), ("DeleteConflict", 409));
    let profiles = iam
        .list_instance_profiles_for_role()
        .role_name("tf-role")
        .send()
        .await
        .unwrap();
    assert!(profiles.instance_profiles().is_empty());
    iam.delete_role_policy()
        .role_name("tf-role")
        .policy_name("inline")
        .send()
        .await
        .unwrap();
    let (code, _, message) = refused(iam.delete_role().role_name("tf-role").send().await);
    assert_eq!(code, "DeleteConflict", "{message}");
    for p in [arn.as_str(), READONLY_POLICY] {
        iam.detach_role_policy()
            .role_name("tf-role")
            .policy_arn(p)
            .send()
            .await
            .unwrap();
    }
    iam.delete_role_permissions_boundary()
        .role_name("tf-role")
        .send()
        .await
        .unwrap();
    iam.delete_role().role_name("tf-role").send().await.unwrap();
    let versions = iam
        .list_policy_versions()
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    for v in versions
        .versions()
        .iter()
        .filter(|v| !v.is_default_version())
    {
        iam.delete_policy_version()
            .policy_arn(&arn)
            .version_id(v.version_id().unwrap())
            .send()
            .await
            .unwrap();
    }
    iam.delete_policy().policy_arn(&arn).send().await.unwrap();
    let (code, status, message) = refused(iam.get_policy().policy_arn(&arn).send().await);
    assert_eq!((code.as_str(), status), ("NoSuchEntity", 404));
    assert_eq!(
        message,
        format!("Policy {arn} does not exist or is not attachable.")
    );
}

/// The account's stored document, as JSON.
pub(crate) async fn stored(broker: &TestBroker) -> Value {
    let (_, docs) = broker
        .state
        .store
        .iam_documents(&[ACCOUNT.to_owned(), "444455556666".to_owned()])
        .await
        .unwrap();
    let docs: Vec<Value> = docs
        .iter()
        .map(|d| {
            d.bytes
                .as_ref()
                .map_or(Value::Null, |b| serde_json::from_slice(b).unwrap())
        })
        .collect();
    Value::Array(docs)
}

/// A signed IAM request with `body`: code, status and the whole answer.
pub(crate) async fn raw(broker: &TestBroker, signer: &Signer, body: &str) -> (String, u16, String) {
    let url = format!("{}/", broker.endpoint);
    let ct = ("content-type", "application/x-www-form-urlencoded");
    let mut req = broker
        .http()
        .post(&url)
        .header(ct.0, ct.1)
        .body(body.to_owned());
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

#[tokio::test]
async fn every_bad_input_gets_iams_error_and_stores_nothing() {
    let idp = TestIdp::start().await;
    let broker = broker(&idp, "memory://", None).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let trust = ci_trust(&broker);
    // A policy with five versions, a role with ten attached policies, a role bounded by one.
    iam.create_policy()
        .policy_name("full")
        .policy_document(GET_OBJECTS)
        .send()
        .await
        .unwrap();
    for _ in 0..4 {
        iam.create_policy_version()
            .policy_arn(policy_arn("full"))
            .policy_document(GET_OBJECTS)
            .send()
            .await
            .unwrap();
    }
    iam.create_role()
        .role_name("busy")
        .assume_role_policy_document(&trust)
        .send()
        .await
        .unwrap();
    for i in 0..10 {
        let name = format!("p{i}");
        iam.create_policy()
            .policy_name(&name)
            .policy_document(GET_OBJECTS)
            .send()
            .await
            .unwrap();
        iam.attach_role_policy()
            .role_name("busy")
            .policy_arn(policy_arn(&name))
            .send()
            .await
            .unwrap();
    }
    iam.create_policy()
        .policy_name("spare")
        .policy_document(GET_OBJECTS)
        .send()
        .await
        .unwrap();
    iam.create_role()
        .role_name("bounded")
        .assume_role_policy_document(&trust)
        .permissions_boundary(policy_arn("spare"))
        .send()
        .await
        .unwrap();
    let before = stored(&broker).await;
    let version = broker.state.store.iam_version().await.unwrap();

    let admin = Signer::new(ADMIN_KEY_ID, ADMIN_SECRET, None);
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let base = "Version=2010-05-08&Action=";
    let full = enc(&policy_arn("full"));
    let spare = enc(&policy_arn("spare"));
    let absent = enc(&policy_arn("absent"));
    let readonly = enc(READONLY_POLICY);
    let foreign = enc("arn:aws:iam::444455556666:policy/full");
    let oversize = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}","Effect":"Allow","Action":"s3:*","Resource":"*"}}]}}"#,
        "a".repeat(6100)
    );
    let cases: Vec<(String, &str)> = vec![
        // Missing and invalid parameters.
        (
            format!("{base}CreatePolicy&PolicyName=x"),
            "ValidationError",
        ),
        (
            format!("{base}CreatePolicy&PolicyDocument={}", enc(GET_OBJECTS)),
            "ValidationError",
        ),
        (
            format!(
                "{base}CreatePolicy&PolicyName=a%2Fb&PolicyDocument={}",
                enc(GET_OBJECTS)
            ),
            "ValidationError",
        ),
        (
            format!(
                "{base}CreatePolicy&PolicyName=x&Path=nopath&PolicyDocument={}",
                enc(GET_OBJECTS)
            ),
            "ValidationError",
        ),
        (
            format!(
                "{base}CreatePolicy&PolicyName=x&Description={}&PolicyDocument={}",
                "d".repeat(1001),
                enc(GET_OBJECTS)
            ),
            "ValidationError",
        ),
        (
            format!(
                "{base}CreatePolicy&PolicyName=x&PolicyDocument={}",
                enc(NO_RESOURCE)
            ),
            "MalformedPolicyDocument",
        ),
        (
            format!(
                "{base}CreatePolicy&PolicyName=x&PolicyDocument={}",
                enc(&oversize)
            ),
            "LimitExceeded",
        ),
        (format!("{base}GetPolicy"), "ValidationError"),
        (
            format!("{base}GetPolicy&PolicyArn=not-an-arn-at-all-really"),
            "InvalidInput",
        ),
        (
            format!(
                "{base}GetPolicy&PolicyArn={}",
                enc(&format!("arn:aws:iam::{ACCOUNT}:role/busy"))
            ),
            "InvalidInput",
        ),
        (format!("{base}ListPolicies&Scope=Mine"), "ValidationError"),
        (
            format!("{base}ListPolicies&OnlyAttached=maybe"),
            "InvalidInput",
        ),
        (format!("{base}ListPolicies&MaxItems=0"), "ValidationError"),
        (
            format!("{base}GetPolicyVersion&PolicyArn={full}"),
            "ValidationError",
        ),
        (
            format!("{base}GetPolicyVersion&PolicyArn={full}&VersionId=1"),
            "ValidationError",
        ),
        (
            format!("{base}CreatePolicyVersion&PolicyArn={full}"),
            "ValidationError",
        ),
        (
            format!(
                "{base}CreatePolicyVersion&PolicyArn={spare}&PolicyDocument={}",
                enc(NO_RESOURCE)
            ),
            "MalformedPolicyDocument",
        ),
        (
            format!(
                "{base}CreatePolicyVersion&PolicyArn={spare}&PolicyDocument={}",
                enc(&oversize)
            ),
            "LimitExceeded",
        ),
        (
            format!("{base}ListEntitiesForPolicy&PolicyArn={full}&EntityFilter=Robot"),
            "ValidationError",
        ),
        (
            format!("{base}TagPolicy&PolicyArn={full}"),
            "ValidationError",
        ),
        (
            format!("{base}UntagPolicy&PolicyArn={full}"),
            "ValidationError",
        ),
        (
            format!("{base}AttachRolePolicy&RoleName=busy"),
            "ValidationError",
        ),
        (
            format!("{base}PutRolePermissionsBoundary&RoleName=busy"),
            "ValidationError",
        ),
        (
            format!(
                "{base}CreateRole&RoleName=x&PermissionsBoundary=nope-this-is-not-an-arn&AssumeRolePolicyDocument={}",
                enc(&trust)
            ),
            "InvalidInput",
        ),
        // Unknown entities, and another account's policies.
        (
            format!("{base}GetPolicy&PolicyArn={absent}"),
            "NoSuchEntity",
        ),
        // Another account's policy: its ARN is outside the caller's account.
        (
            format!("{base}GetPolicy&PolicyArn={foreign}"),
            "AccessDenied",
        ),
        (
            format!("{base}DeletePolicy&PolicyArn={absent}"),
            "NoSuchEntity",
        ),
        (
            format!("{base}GetPolicyVersion&PolicyArn={full}&VersionId=v9"),
            "NoSuchEntity",
        ),
        // IAM's pattern allows a suffix: well formed, but no such version.
        (
            format!("{base}GetPolicyVersion&PolicyArn={full}&VersionId=v1.x"),
            "NoSuchEntity",
        ),
        (
            format!("{base}SetDefaultPolicyVersion&PolicyArn={full}&VersionId=v2.0-a"),
            "NoSuchEntity",
        ),
        (
            format!("{base}DeletePolicyVersion&PolicyArn={full}&VersionId=v1.x"),
            "NoSuchEntity",
        ),
        (
            format!("{base}GetPolicyVersion&PolicyArn={full}&VersionId=v1.x_y"),
            "ValidationError",
        ),
        (
            format!("{base}GetPolicyVersion&PolicyArn={full}&VersionId=v01"),
            "ValidationError",
        ),
        (
            format!("{base}SetDefaultPolicyVersion&PolicyArn={full}&VersionId=v9"),
            "NoSuchEntity",
        ),
        (
            format!("{base}DeletePolicyVersion&PolicyArn={full}&VersionId=v9"),
            "NoSuchEntity",
        ),
        (
            format!("{base}ListPolicyVersions&PolicyArn={absent}"),
            "NoSuchEntity",
        ),
        (
            format!("{base}ListEntitiesForPolicy&PolicyArn={absent}"),
            "NoSuchEntity",
        ),
        (
            format!("{base}TagPolicy&PolicyArn={absent}&Tags.member.1.Key=k&Tags.member.1.Value=v"),
            "NoSuchEntity",
        ),
        (
            format!("{base}AttachRolePolicy&RoleName=bounded&PolicyArn={absent}"),
            "NoSuchEntity",
        ),
        (
            format!("{base}AttachRolePolicy&RoleName=bounded&PolicyArn={foreign}"),
            "NoSuchEntity",
        ),
        (
            format!("{base}AttachRolePolicy&RoleName=absent&PolicyArn={spare}"),
            "NoSuchEntity",
        ),
        (
            format!("{base}DetachRolePolicy&RoleName=bounded&PolicyArn={spare}"),
            "NoSuchEntity",
        ),
        (
            format!("{base}ListAttachedRolePolicies&RoleName=absent"),
            "NoSuchEntity",
        ),
        (
            format!(
                "{base}PutRolePermissionsBoundary&RoleName=bounded&PermissionsBoundary={absent}"
            ),
            "NoSuchEntity",
        ),
        (
            format!(
                "{base}CreateRole&RoleName=x&PermissionsBoundary={absent}&AssumeRolePolicyDocument={}",
                enc(&trust)
            ),
            "NoSuchEntity",
        ),
        // Duplicates (any case) and over-limit lists.
        (
            format!(
                "{base}CreatePolicy&PolicyName=FULL&PolicyDocument={}",
                enc(GET_OBJECTS)
            ),
            "EntityAlreadyExists",
        ),
        (
            format!(
                "{base}CreatePolicyVersion&PolicyArn={full}&PolicyDocument={}",
                enc(GET_OBJECTS)
            ),
            "LimitExceeded",
        ),
        (
            format!("{base}AttachRolePolicy&RoleName=busy&PolicyArn={spare}"),
            "LimitExceeded",
        ),
        // Conflicts.
        (
            format!("{base}DeletePolicy&PolicyArn={full}"),
            "DeleteConflict",
        ),
        (
            format!("{base}DeletePolicy&PolicyArn={}", enc(&policy_arn("p0"))),
            "DeleteConflict",
        ),
        (
            format!("{base}DeletePolicy&PolicyArn={spare}"),
            "DeleteConflict",
        ),
        (
            format!("{base}DeletePolicyVersion&PolicyArn={full}&VersionId=v1"),
            "DeleteConflict",
        ),
        (format!("{base}DeleteRole&RoleName=busy"), "DeleteConflict"),
        // The file's policies and roles.
        (
            format!(
                "{base}CreatePolicy&PolicyName=readonly&PolicyDocument={}",
                enc(GET_OBJECTS)
            ),
            "EntityAlreadyExists",
        ),
        (
            format!("{base}DeletePolicy&PolicyArn={readonly}"),
            "UnmodifiableEntity",
        ),
        (
            format!(
                "{base}CreatePolicyVersion&PolicyArn={readonly}&PolicyDocument={}",
                enc(GET_OBJECTS)
            ),
            "UnmodifiableEntity",
        ),
        (
            format!("{base}SetDefaultPolicyVersion&PolicyArn={readonly}&VersionId=v1"),
            "UnmodifiableEntity",
        ),
        (
            format!(
                "{base}TagPolicy&PolicyArn={readonly}&Tags.member.1.Key=k&Tags.member.1.Value=v"
            ),
            "UnmodifiableEntity",
        ),
        (
            format!("{base}UntagPolicy&PolicyArn={readonly}&TagKeys.member.1=k"),
            "UnmodifiableEntity",
        ),
        (
            format!("{base}AttachRolePolicy&RoleName=deploy&PolicyArn={spare}"),
            "UnmodifiableEntity",
        ),
        (
            format!("{base}DetachRolePolicy&RoleName=prod-deploy&PolicyArn={readonly}"),
            "UnmodifiableEntity",
        ),
        (
            format!("{base}PutRolePermissionsBoundary&RoleName=deploy&PermissionsBoundary={spare}"),
            "UnmodifiableEntity",
        ),
        (
            format!("{base}DeleteRolePermissionsBoundary&RoleName=app"),
            "UnmodifiableEntity",
        ),
    ];
    for (body, expected) in &cases {
        let (code, status, text) = raw(&broker, &admin, body).await;
        assert_eq!(&code, expected, "{body}: {text}");
        let want = match *expected {
            "NoSuchEntity" => 404,
            "AccessDenied" => 403,
            "EntityAlreadyExists" | "LimitExceeded" | "DeleteConflict" => 409,
            _ => 400,
        };
        assert_eq!(status, want, "{body}");
        assert!(
            text.contains("<Type>Sender</Type>") && text.contains("<RequestId>"),
            "{text}"
        );
        if *expected == "UnmodifiableEntity" || body.contains("PolicyName=readonly") {
            assert!(text.contains("broker.toml"), "names the file: {text}");
        }
    }
    let (_, _, text) = raw(
        &broker,
        &admin,
        &format!(
            "{base}CreatePolicy&PolicyName=x&PolicyDocument={}",
            enc(&oversize)
        ),
    )
    .await;
    assert!(
        text.contains("<Message>Cannot exceed quota for PolicySize: 6144</Message>"),
        "{text}"
    );

    // Another account's administrator may not touch these policies, nor list them.
    let foreign_admin = broker.iam_as(FOREIGN_KEY_ID, FOREIGN_SECRET);
    let (code, _, _) = refused(
        foreign_admin
            .get_policy()
            .policy_arn(policy_arn("full"))
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied");
    let (code, _, _) = refused(
        foreign_admin
            .delete_policy()
            .policy_arn(policy_arn("spare"))
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied");
    let listed = foreign_admin.list_policies().send().await.unwrap();
    assert!(listed.policies().is_empty(), "{:?}", listed.policies());

    // A caller without iam: permissions is refused every call.
    let bob = broker.iam_as(BOB_KEY_ID, BOB_SECRET);
    let (code, status, message) = refused(
        bob.create_policy()
            .policy_name("bobs")
            .policy_document(GET_OBJECTS)
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("AccessDenied", 403));
    assert!(
        message.contains(&format!(
            "is not authorized to perform: iam:CreatePolicy on resource: {}",
            policy_arn("bobs")
        )),
        "{message}"
    );
    for (code, _, _) in [
        refused(bob.get_policy().policy_arn(policy_arn("full")).send().await),
        refused(bob.list_policies().send().await),
        refused(
            bob.delete_policy()
                .policy_arn(policy_arn("spare"))
                .send()
                .await,
        ),
        refused(
            bob.attach_role_policy()
                .role_name("bounded")
                .policy_arn(policy_arn("spare"))
                .send()
                .await,
        ),
        refused(
            bob.delete_role_permissions_boundary()
                .role_name("bounded")
                .send()
                .await,
        ),
    ] {
        assert_eq!(code, "AccessDenied");
    }

    assert_eq!(stored(&broker).await, before);
    assert_eq!(broker.state.store.iam_version().await.unwrap(), version);
}

const GUARD_KEY_ID: &str = "AKIAGUARDEDEXAMPLE23";
const GUARD_SECRET: &str = "guardedSecretAccessKey/EXAMPLE+012345678";

/// A replica of the test configuration (keys in `keys`, store `store`) with the user `guarded`
/// under `policy`; `frozen`: one that keeps the IAM layer it read at start.
async fn with_guarded(
    idp: &TestIdp,
    store: &str,
    keys: &std::path::Path,
    policy: &str,
    frozen: bool,
) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("guarded.json"), policy).unwrap();
    std::fs::write(dir.path().join("guarded.secret"), GUARD_SECRET).unwrap();
    let toml = config(dir.path(), idp, store).replace(
        "dir = \"keys\"",
        &format!("dir = {:?}", keys.to_str().unwrap()),
    ) + &format!(
        r#"
[[users]]
account = "{ACCOUNT}"
name = "guarded"
policy_files = ["guarded.json"]
access_keys = [{{ id = "{GUARD_KEY_ID}", secret_file = "guarded.secret" }}]
"#
    );
    if frozen {
        TestBroker::frozen_from_toml(dir, &toml).await
    } else {
        TestBroker::from_toml(dir, &toml).await
    }
}

/// A replica decides on the role as it serves it; a change is applied only to that role: one
/// it does not serve yet is not found, one whose boundary changed since is
/// `ConcurrentModification`, and nothing is stored either way (no way around a boundary or a
/// path guardrail by racing a replica's poll).
#[tokio::test]
async fn a_replica_that_has_not_seen_a_role_change_does_not_apply_changes_to_it() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let boundary = policy_arn("boundary");
    let guard = format!(
        r#"{{"Version": "2012-10-17", "Statement": [
  {{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}},
  {{"Effect": "Deny", "Action": "iam:DeleteRolePermissionsBoundary", "Resource": "*",
    "Condition": {{"StringEquals": {{"iam:PermissionsBoundary": "{boundary}"}}}}}},
  {{"Effect": "Deny", "Action": ["iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary"],
    "Resource": "arn:aws:iam::{ACCOUNT}:role/prod/*"}}]}}"#
    );
    let a = with_guarded(&idp, &redis.url(), keys.path(), &guard, false).await;
    let admin = a.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let trust = ci_trust(&a);
    for name in ["boundary", "extra"] {
        admin
            .create_policy()
            .policy_name(name)
            .policy_document(GET_OBJECTS)
            .send()
            .await
            .unwrap();
    }
    admin
        .create_role()
        .role_name("stale")
        .assume_role_policy_document(&trust)
        .send()
        .await
        .unwrap();
    // B serves what was stored up to here, and nothing later.
    let b = with_guarded(&idp, &redis.url(), keys.path(), &guard, true).await;
    admin
        .put_role_permissions_boundary()
        .role_name("stale")
        .permissions_boundary(&boundary)
        .send()
        .await
        .unwrap();
    admin
        .create_role()
        .role_name("fresh")
        .assume_role_policy_document(&trust)
        .permissions_boundary(&boundary)
        .send()
        .await
        .unwrap();
    admin
        .create_role()
        .role_name("guarded")
        .path("/prod/")
        .assume_role_policy_document(&trust)
        .send()
        .await
        .unwrap();
    let before = stored(&a).await;
    let version = a.state.store.iam_version().await.unwrap();

    let on_b = b.iam_as(GUARD_KEY_ID, GUARD_SECRET);
    // Not served on B yet: not found (its boundary, or its path, never seen).
    let (code, status, message) = refused(
        on_b.delete_role_permissions_boundary()
            .role_name("fresh")
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("NoSuchEntity", 404), "{message}");
    let (code, status, message) = refused(
        on_b.attach_role_policy()
            .role_name("guarded")
            .policy_arn(policy_arn("extra"))
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("NoSuchEntity", 404), "{message}");
    let (code, status, message) = refused(
        on_b.put_role_permissions_boundary()
            .role_name("guarded")
            .permissions_boundary(policy_arn("extra"))
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("NoSuchEntity", 404), "{message}");
    // Served on B without the boundary it has now: refused as changed under the call.
    let (code, status, message) = refused(
        on_b.delete_role_permissions_boundary()
            .role_name("stale")
            .send()
            .await,
    );
    assert_eq!(
        (code.as_str(), status),
        ("ConcurrentModification", 409),
        "{message}"
    );
    assert_eq!(a.state.store.iam_version().await.unwrap(), version);
    assert_eq!(stored(&a).await, before);

    // On A, which serves them as stored, the guard's denials decide.
    let on_a = a.iam_as(GUARD_KEY_ID, GUARD_SECRET);
    for name in ["stale", "fresh"] {
        let (code, _, message) = refused(
            on_a.delete_role_permissions_boundary()
                .role_name(name)
                .send()
                .await,
        );
        assert_eq!(code, "AccessDenied", "{message}");
    }
    let (code, _, message) = refused(
        on_a.attach_role_policy()
            .role_name("guarded")
            .policy_arn(policy_arn("extra"))
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied", "{message}");
    assert_eq!(a.state.store.iam_version().await.unwrap(), version);
}

/// `iam:PermissionsBoundary` is the role's boundary for the actions that change what a role
/// grants, as IAM sets it.
#[tokio::test]
async fn the_roles_boundary_is_in_the_context_of_policy_changes_on_it() {
    let idp = TestIdp::start().await;
    let keys = tempfile::tempdir().unwrap();
    let boundary = policy_arn("boundary");
    let only_bounded = format!(
        r#"{{"Version": "2012-10-17", "Statement": [
  {{"Effect": "Allow", "Resource": "*",
    "Action": ["iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy"],
    "Condition": {{"StringEquals": {{"iam:PermissionsBoundary": "{boundary}"}}}}}}]}}"#
    );
    let broker = with_guarded(&idp, "memory://", keys.path(), &only_bounded, false).await;
    let admin = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let trust = ci_trust(&broker);
    for name in ["boundary", "extra"] {
        admin
            .create_policy()
            .policy_name(name)
            .policy_document(GET_OBJECTS)
            .send()
            .await
            .unwrap();
    }
    admin
        .create_role()
        .role_name("bounded")
        .assume_role_policy_document(&trust)
        .permissions_boundary(&boundary)
        .send()
        .await
        .unwrap();
    admin
        .create_role()
        .role_name("free")
        .assume_role_policy_document(&trust)
        .send()
        .await
        .unwrap();
    let guarded = broker.iam_as(GUARD_KEY_ID, GUARD_SECRET);
    let version = broker.state.store.iam_version().await.unwrap();
    let (code, _, message) = refused(
        guarded
            .attach_role_policy()
            .role_name("free")
            .policy_arn(policy_arn("extra"))
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied", "{message}");
    let (code, _, message) = refused(
        guarded
            .put_role_policy()
            .role_name("free")
            .policy_name("inline")
            .policy_document(GET_OBJECTS)
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied", "{message}");
    assert_eq!(broker.state.store.iam_version().await.unwrap(), version);

    guarded
        .attach_role_policy()
        .role_name("bounded")
        .policy_arn(policy_arn("extra"))
        .send()
        .await
        .unwrap();
    guarded
        .put_role_policy()
        .role_name("bounded")
        .policy_name("inline")
        .policy_document(GET_OBJECTS)
        .send()
        .await
        .unwrap();
    guarded
        .delete_role_policy()
        .role_name("bounded")
        .policy_name("inline")
        .send()
        .await
        .unwrap();
    guarded
        .detach_role_policy()
        .role_name("bounded")
        .policy_arn(policy_arn("extra"))
        .send()
        .await
        .unwrap();
}

/// `PolicyUsageFilter` selects policies by how roles use them, with or without
/// `OnlyAttached`.
#[tokio::test]
async fn list_policies_filters_by_usage_on_its_own() {
    let idp = TestIdp::start().await;
    let broker = broker(&idp, "memory://", None).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    for name in ["attached", "boundary", "unused"] {
        iam.create_policy()
            .policy_name(name)
            .path("/usage/")
            .policy_document(GET_OBJECTS)
            .send()
            .await
            .unwrap();
    }
    let arn = |n: &str| format!("arn:aws:iam::{ACCOUNT}:policy/usage/{n}");
    iam.create_role()
        .role_name("user-of-both")
        .assume_role_policy_document(ci_trust(&broker))
        .permissions_boundary(arn("boundary"))
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name("user-of-both")
        .policy_arn(arn("attached"))
        .send()
        .await
        .unwrap();
    use aws_sdk_iam::types::PolicyUsageType;
    let listed = |filter: Option<PolicyUsageType>, only_attached: bool| {
        let iam = iam.clone();
        async move {
            let out = iam
                .list_policies()
                .path_prefix("/usage/")
                .set_policy_usage_filter(filter)
                .only_attached(only_attached)
                .send()
                .await
                .unwrap();
            out.policies()
                .iter()
                .map(|p| p.policy_name().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        listed(None, false).await,
        ["attached", "boundary", "unused"]
    );
    assert_eq!(listed(None, true).await, ["attached", "boundary"]);
    for only_attached in [false, true] {
        assert_eq!(
            listed(Some(PolicyUsageType::PermissionsPolicy), only_attached).await,
            ["attached"]
        );
        assert_eq!(
            listed(Some(PolicyUsageType::PermissionsBoundary), only_attached).await,
            ["boundary"]
        );
    }
}
