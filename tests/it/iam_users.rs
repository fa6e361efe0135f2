//! IAM's user, group and account actions through the real `aws-sdk-iam` client: a user's
//! permissions made on one replica (group membership, group and user policies) are what
//! `SimulatePrincipalPolicy` decides on another within a second (real Redis), `GetUser`
//! without a name, deletion conflicts and limits, account aliases, `GetAccountSummary`, and
//! every bad input with IAM's error and nothing stored.

use aws_sdk_iam::types::Tag;

use crate::harness::broker::{ACCOUNT, READONLY_POLICY, iam_client};
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;
use crate::harness::signer::Signer;
use crate::iam_roles::{
    ADMIN_KEY_ID, ADMIN_SECRET, FOREIGN_KEY_ID, FOREIGN_SECRET, PROPAGATION, assume, broker,
    refused, within,
};

const S3_READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","s3:List*"],"Resource":"*"}]}"#;
const SQS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:*","Resource":"*"}]}"#;

fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}")
}

/// What `SimulatePrincipalPolicy` decides for `user` doing `action` on `*`.
async fn decision(iam: &aws_sdk_iam::Client, user: &str, action: &str) -> String {
    match iam
        .simulate_principal_policy()
        .policy_source_arn(user_arn(user))
        .action_names(action)
        .send()
        .await
    {
        Ok(out) => out.evaluation_results()[0]
            .eval_decision()
            .as_str()
            .to_owned(),
        Err(e) => format!("{:?}", e.into_service_error()),
    }
}

#[tokio::test]
async fn a_users_permissions_made_on_one_replica_are_simulated_on_another() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let a = broker(&idp, &redis.url(), Some(keys.path())).await;
    let b = broker(&idp, &redis.url(), Some(keys.path())).await;
    let iam_a = a.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let iam_b = b.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);

    let policy = iam_a
        .create_policy()
        .policy_name("s3-read")
        .policy_document(S3_READ)
        .send()
        .await
        .unwrap();
    let policy_arn = policy.policy().unwrap().arn().unwrap().to_owned();
    let created = iam_a
        .create_user()
        .user_name("carol")
        .tags(Tag::builder().key("team").value("data").build().unwrap())
        .send()
        .await
        .unwrap();
    let user = created.user().unwrap();
    assert_eq!(user.arn(), user_arn("carol"));
    assert!(user.user_id().starts_with("AIDA") && user.user_id().len() == 21);
    let group = iam_a
        .create_group()
        .group_name("readers")
        .path("/data/")
        .send()
        .await
        .unwrap();
    let group = group.group().unwrap();
    assert!(group.group_id().starts_with("AGPA") && group.group_id().len() == 21);
    assert_eq!(
        group.arn(),
        format!("arn:aws:iam::{ACCOUNT}:group/data/readers")
    );
    iam_a
        .add_user_to_group()
        .group_name("readers")
        .user_name("carol")
        .send()
        .await
        .unwrap();
    iam_a
        .attach_group_policy()
        .group_name("readers")
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    // A serves it at once; B within a second.
    assert_eq!(decision(&iam_a, "carol", "s3:GetObject").await, "allowed");
    let took = within(PROPAGATION, || async {
        decision(&iam_b, "carol", "s3:GetObject").await == "allowed"
    })
    .await;
    eprintln!("group policy made on A, simulated on B after {took:?}");
    assert_eq!(
        decision(&iam_b, "carol", "sqs:SendMessage").await,
        "implicitDeny"
    );

    // Read back on B.
    let got = iam_b
        .get_group()
        .group_name("READERS")
        .send()
        .await
        .unwrap();
    let members: Vec<&str> = got.users().iter().map(|u| u.user_name()).collect();
    assert_eq!(members, ["carol"]);
    let groups = iam_b
        .list_groups_for_user()
        .user_name("carol")
        .send()
        .await
        .unwrap();
    assert_eq!(groups.groups()[0].group_name(), "readers");
    let entities = iam_b
        .list_entities_for_policy()
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(entities.policy_groups()[0].group_name(), Some("readers"));
    let p = iam_b
        .get_policy()
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(p.policy().unwrap().attachment_count(), Some(1));
    let tags = iam_b
        .list_user_tags()
        .user_name("carol")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags()[0].key(), "team");

    // A policy in use by a group cannot be deleted; a group with members or policies, and a
    // user in a group, neither.
    let (code, status, _) = refused(iam_a.delete_policy().policy_arn(&policy_arn).send().await);
    assert_eq!((code.as_str(), status), ("DeleteConflict", 409));
    let (code, status, _) = refused(iam_a.delete_group().group_name("readers").send().await);
    assert_eq!((code.as_str(), status), ("DeleteConflict", 409));
    let (code, status, _) = refused(iam_a.delete_user().user_name("carol").send().await);
    assert_eq!((code.as_str(), status), ("DeleteConflict", 409));

    // Out of the group: B stops allowing within a second.
    iam_a
        .remove_user_from_group()
        .group_name("readers")
        .user_name("carol")
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async {
        decision(&iam_b, "carol", "s3:GetObject").await == "implicitDeny"
    })
    .await;
    // Back in, then the policy detached from the group: the same.
    iam_a
        .add_user_to_group()
        .group_name("readers")
        .user_name("carol")
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async {
        decision(&iam_b, "carol", "s3:GetObject").await == "allowed"
    })
    .await;
    iam_a
        .detach_group_policy()
        .group_name("readers")
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async {
        decision(&iam_b, "carol", "s3:GetObject").await == "implicitDeny"
    })
    .await;

    // The user's own inline policy, and a boundary that excludes it.
    iam_a
        .put_user_policy()
        .user_name("carol")
        .policy_name("queues")
        .policy_document(SQS)
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async {
        decision(&iam_b, "carol", "sqs:SendMessage").await == "allowed"
    })
    .await;
    let doc = iam_b
        .get_user_policy()
        .user_name("carol")
        .policy_name("queues")
        .send()
        .await
        .unwrap();
    assert_eq!(crate::iam_roles::unescape(doc.policy_document()), SQS);
    iam_a
        .put_user_permissions_boundary()
        .user_name("carol")
        .permissions_boundary(&policy_arn)
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async {
        decision(&iam_b, "carol", "sqs:SendMessage").await == "implicitDeny"
    })
    .await;
    let got = iam_b.get_user().user_name("carol").send().await.unwrap();
    assert_eq!(
        got.user()
            .unwrap()
            .permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn()),
        Some(policy_arn.as_str())
    );

    // Cleaned up in IAM's order, then gone everywhere.
    iam_a
        .delete_user_permissions_boundary()
        .user_name("carol")
        .send()
        .await
        .unwrap();
    iam_a
        .delete_user_policy()
        .user_name("carol")
        .policy_name("queues")
        .send()
        .await
        .unwrap();
    iam_a
        .remove_user_from_group()
        .group_name("readers")
        .user_name("carol")
        .send()
        .await
        .unwrap();
    iam_a
        .delete_group()
        .group_name("readers")
        .send()
        .await
        .unwrap();
    iam_a.delete_user().user_name("carol").send().await.unwrap();
    iam_a
        .delete_policy()
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async {
        decision(&iam_b, "carol", "s3:GetObject")
            .await
            .contains("NoSuchEntity")
    })
    .await;
}

#[tokio::test]
async fn get_user_without_a_name_is_the_calling_user_and_a_role_session_is_told_so() {
    let idp = TestIdp::start().await;
    let broker = broker(&idp, "memory://", None).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let me = iam.get_user().send().await.unwrap();
    let me = me.user().unwrap();
    assert_eq!(me.user_name(), "iam-admin");
    assert_eq!(me.arn(), user_arn("iam-admin"));
    assert!(me.user_id().starts_with("AIDA"));

    let role = format!("arn:aws:iam::{ACCOUNT}:role/ci/deploy");
    let c = assume(&broker, &idp, &role).await.unwrap();
    let session = iam_client(
        &broker.endpoint,
        aws_sdk_iam::config::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "test",
        ),
    );
    let (code, status, message) = refused(session.get_user().send().await);
    assert_eq!((code.as_str(), status), ("ValidationError", 400));
    assert_eq!(
        message,
        "Must specify userName when calling with non-User credentials"
    );

    // The admin's own GetSessionToken session, made without MFA: no IAM call at all (a leaked
    // session must not make itself a long-term key), as in AWS.
    let s = broker
        .sts_as(ADMIN_KEY_ID, ADMIN_SECRET, None)
        .get_session_token()
        .send()
        .await
        .unwrap();
    let c = s.credentials().unwrap();
    let session = iam_client(
        &broker.endpoint,
        aws_sdk_iam::config::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "test",
        ),
    );
    let version = broker.state.store.iam_version().await.unwrap();
    let (code, status, message) = refused(session.get_user().send().await);
    assert_eq!((code.as_str(), status), ("AccessDenied", 403), "{message}");
    assert!(message.contains("without MFA"), "{message}");
    let (code, _, _) = refused(session.create_access_key().send().await);
    assert_eq!(code, "AccessDenied");
    assert_eq!(broker.state.store.iam_version().await.unwrap(), version);
}

#[tokio::test]
async fn file_users_are_read_only_and_limits_hold() {
    let idp = TestIdp::start().await;
    let broker = broker(&idp, "memory://", None).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let version = broker.state.store.iam_version().await.unwrap();

    // The file's user and group: not created again, not changed.
    let (code, status, message) = refused(iam.create_user().user_name("ALICE").send().await);
    assert_eq!((code.as_str(), status), ("EntityAlreadyExists", 409));
    assert!(message.contains("configuration file"), "{message}");
    let (code, status, message) = refused(
        iam.put_user_policy()
            .user_name("alice")
            .policy_name("p")
            .policy_document(SQS)
            .send()
            .await,
    );
    assert_eq!(
        (code.as_str(), status),
        ("UnmodifiableEntity", 400),
        "{message}"
    );
    assert!(message.contains("configuration file"), "{message}");
    let (code, _, _) = refused(iam.delete_group().group_name("developers").send().await);
    assert_eq!(code, "UnmodifiableEntity");
    assert_eq!(broker.state.store.iam_version().await.unwrap(), version);
    // A file user is read through the API as the file defines it.
    let alice = iam
        .list_attached_user_policies()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(
        alice.attached_policies()[0].policy_arn(),
        Some(READONLY_POLICY)
    );
    let groups = iam
        .list_groups_for_user()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(groups.groups()[0].group_name(), "developers");

    // Ten groups per user; the eleventh is LimitExceeded and stores nothing.
    iam.create_user().user_name("dave").send().await.unwrap();
    for i in 0..10 {
        let name = format!("g{i}");
        iam.create_group().group_name(&name).send().await.unwrap();
        iam.add_user_to_group()
            .group_name(&name)
            .user_name("dave")
            .send()
            .await
            .unwrap();
    }
    let before = broker.state.store.iam_version().await.unwrap();
    let (code, status, _) = refused(
        iam.add_user_to_group()
            .group_name("developers")
            .user_name("dave")
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("LimitExceeded", 409));
    assert_eq!(broker.state.store.iam_version().await.unwrap(), before);

    // The summary counts file and API entities of the caller's account.
    let summary = iam.get_account_summary().send().await.unwrap();
    let map = summary.summary_map().unwrap();
    let users = broker
        .state
        .config
        .iam
        .users()
        .filter(|u| u.account == ACCOUNT)
        .count();
    assert!(users >= 3, "the file's users");
    assert_eq!(
        map.get(&aws_sdk_iam::types::SummaryKeyType::Users),
        Some(&i32::try_from(users + 1).unwrap())
    );
    let file_groups = broker
        .state
        .config
        .iam
        .groups
        .values()
        .filter(|g| g.account == ACCOUNT)
        .count();
    assert_eq!(
        map.get(&aws_sdk_iam::types::SummaryKeyType::Groups),
        Some(&i32::try_from(file_groups + 10).unwrap())
    );
    assert_eq!(
        map.get(&aws_sdk_iam::types::SummaryKeyType::GroupsPerUserQuota),
        Some(&10)
    );
    assert!(map.contains_key(&aws_sdk_iam::types::SummaryKeyType::RolesQuota));
    assert!(map.contains_key(&aws_sdk_iam::types::SummaryKeyType::AttachedPoliciesPerRoleQuota));

    // Another account sees none of it.
    let foreign = broker.iam_as(FOREIGN_KEY_ID, FOREIGN_SECRET);
    let (code, status, _) = refused(foreign.get_user().user_name("dave").send().await);
    assert_eq!((code.as_str(), status), ("NoSuchEntity", 404));
    let listed = foreign.list_users().send().await.unwrap();
    assert!(listed.users().iter().all(|u| u.user_name() != "dave"));
}

#[tokio::test]
async fn account_aliases_are_one_per_account_and_unique() {
    let idp = TestIdp::start().await;
    let broker = broker(&idp, "memory://", None).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let foreign = broker.iam_as(FOREIGN_KEY_ID, FOREIGN_SECRET);
    assert!(
        iam.list_account_aliases()
            .send()
            .await
            .unwrap()
            .account_aliases()
            .is_empty()
    );
    iam.create_account_alias()
        .account_alias("example-co")
        .send()
        .await
        .unwrap();
    assert_eq!(
        iam.list_account_aliases()
            .send()
            .await
            .unwrap()
            .account_aliases(),
        ["example-co"]
    );
    let version = broker.state.store.iam_version().await.unwrap();
    let (code, status, _) = refused(
        foreign
            .create_account_alias()
            .account_alias("example-co")
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("EntityAlreadyExists", 409));
    let (code, _, _) = refused(
        iam.create_account_alias()
            .account_alias("second")
            .send()
            .await,
    );
    assert_eq!(code, "EntityAlreadyExists");
    for bad in ["ab", "Example", "a--b", "-ab", "a_b"] {
        let (code, status, _) = refused(iam.create_account_alias().account_alias(bad).send().await);
        assert_eq!((code.as_str(), status), ("ValidationError", 400), "{bad}");
    }
    let (code, status, _) = refused(
        iam.delete_account_alias()
            .account_alias("other")
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("NoSuchEntity", 404));
    assert_eq!(broker.state.store.iam_version().await.unwrap(), version);
    iam.delete_account_alias()
        .account_alias("example-co")
        .send()
        .await
        .unwrap();
    assert!(
        iam.list_account_aliases()
            .send()
            .await
            .unwrap()
            .account_aliases()
            .is_empty()
    );
    foreign
        .create_account_alias()
        .account_alias("example-co")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn every_bad_input_gets_iams_error_and_stores_nothing() {
    let idp = TestIdp::start().await;
    let broker = broker(&idp, "memory://", None).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    iam.create_user().user_name("kept").send().await.unwrap();
    iam.create_group().group_name("team").send().await.unwrap();
    let version = broker.state.store.iam_version().await.unwrap();

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
    let long_user = "u".repeat(65);
    let long_group = "g".repeat(129);
    let base = "Version=2010-05-08&Action=";
    let policy = READONLY_POLICY;
    let cases: Vec<(String, &str, u16)> = vec![
        (format!("{base}CreateUser"), "ValidationError", 400),
        (
            format!("{base}CreateUser&UserName={long_user}"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}CreateUser&UserName=a%2Fb"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}CreateUser&UserName=x&Path=nope"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}CreateUser&UserName=x&PermissionsBoundary=nope"),
            "ValidationError",
            400,
        ),
        (
            format!(
                "{base}CreateUser&UserName=x&PermissionsBoundary={}",
                enc("arn:aws:iam::111122223333:policy/none")
            ),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}CreateUser&UserName=x&Tags.member.1.Key=aws%3Ax&Tags.member.1.Value=v"),
            "InvalidInput",
            400,
        ),
        (
            format!("{base}CreateUser&UserName=KEPT"),
            "EntityAlreadyExists",
            409,
        ),
        (
            format!("{base}GetUser&UserName=nobody"),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}GetUser&UserName={long_user}"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}ListUsers&PathPrefix=x"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}ListUsers&MaxItems=0"),
            "ValidationError",
            400,
        ),
        (format!("{base}ListUsers&Marker=zz"), "InvalidInput", 400),
        (
            format!("{base}UpdateUser&UserName=kept&NewUserName=other"),
            "InvalidInput",
            400,
        ),
        (
            format!("{base}DeleteUser&UserName=nobody"),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}PutUserPolicy&UserName=kept&PolicyName=p"),
            "ValidationError",
            400,
        ),
        (
            format!(
                "{base}PutUserPolicy&UserName=kept&PolicyName=p&PolicyDocument={}",
                enc(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#)
            ),
            "MalformedPolicyDocument",
            400,
        ),
        (
            format!(
                "{base}PutUserPolicy&UserName=nobody&PolicyName=p&PolicyDocument={}",
                enc(SQS)
            ),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}GetUserPolicy&UserName=kept&PolicyName=none"),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}DeleteUserPolicy&UserName=kept&PolicyName=none"),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}AttachUserPolicy&UserName=kept&PolicyArn=nope"),
            "ValidationError",
            400,
        ),
        (
            format!(
                "{base}AttachUserPolicy&UserName=kept&PolicyArn={}",
                enc("arn:aws:iam::111122223333:policy/none")
            ),
            "NoSuchEntity",
            404,
        ),
        (
            format!(
                "{base}DetachUserPolicy&UserName=kept&PolicyArn={}",
                enc(policy)
            ),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}PutUserPermissionsBoundary&UserName=kept"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}TagUser&UserName=kept"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}TagUser&UserName=kept&Tags.member.1.Key=k%0A&Tags.member.1.Value=v"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}UntagUser&UserName=kept"),
            "ValidationError",
            400,
        ),
        (format!("{base}CreateGroup"), "ValidationError", 400),
        (
            format!("{base}CreateGroup&GroupName={long_group}"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}CreateGroup&GroupName=TEAM"),
            "EntityAlreadyExists",
            409,
        ),
        (
            format!("{base}CreateGroup&GroupName=Developers"),
            "EntityAlreadyExists",
            409,
        ),
        (
            format!("{base}GetGroup&GroupName=nobody"),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}DeleteGroup&GroupName=nobody"),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}AddUserToGroup&GroupName=team"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}AddUserToGroup&GroupName=team&UserName=nobody"),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}AddUserToGroup&GroupName=nobody&UserName=kept"),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}AddUserToGroup&GroupName=team&UserName=alice"),
            "UnmodifiableEntity",
            400,
        ),
        (
            format!("{base}RemoveUserFromGroup&GroupName=team&UserName=kept"),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}PutGroupPolicy&GroupName=team&PolicyName=p"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}GetGroupPolicy&GroupName=team&PolicyName=none"),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}DeleteGroupPolicy&GroupName=team&PolicyName=none"),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}AttachGroupPolicy&GroupName=team&PolicyArn=x"),
            "ValidationError",
            400,
        ),
        (
            format!(
                "{base}DetachGroupPolicy&GroupName=team&PolicyArn={}",
                enc(policy)
            ),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}ListGroups&PathPrefix=x"),
            "ValidationError",
            400,
        ),
        (format!("{base}CreateAccountAlias"), "ValidationError", 400),
        (
            format!("{base}DeleteAccountAlias&AccountAlias=none-set"),
            "NoSuchEntity",
            404,
        ),
    ];
    for (body, code, status) in cases {
        let (got, got_status, text) = raw(body.clone()).await;
        assert_eq!((got.as_str(), got_status), (code, status), "{body}: {text}");
        assert_eq!(
            broker.state.store.iam_version().await.unwrap(),
            version,
            "{body} stored something"
        );
    }

    // Another account's caller cannot read or change this account's entities: its names are
    // its own account's.
    let foreign = broker.iam_as(FOREIGN_KEY_ID, FOREIGN_SECRET);
    let (code, _, _) = refused(foreign.delete_user().user_name("kept").send().await);
    assert_eq!(code, "NoSuchEntity");
    let (code, _, _) = refused(foreign.get_group().group_name("team").send().await);
    assert_eq!(code, "NoSuchEntity");
    // A caller without iam: rights is refused and nothing is stored.
    let bob = broker.iam_as(
        crate::harness::broker::BOB_KEY_ID,
        crate::harness::broker::BOB_SECRET,
    );
    let (code, status, _) = refused(bob.create_user().user_name("mallory").send().await);
    assert_eq!((code.as_str(), status), ("AccessDenied", 403));
    let (code, _, _) = refused(bob.delete_user().user_name("kept").send().await);
    assert_eq!(code, "AccessDenied");
    assert_eq!(broker.state.store.iam_version().await.unwrap(), version);
}

#[tokio::test]
async fn a_users_tags_decide_user_actions_as_a_roles_do() {
    let idp = TestIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = crate::iam_roles::tag_policies_config(dir.path(), &idp);
    let broker = crate::harness::broker::TestBroker::from_toml(dir, &toml).await;
    let as_user = |i: usize, name: &str| {
        broker.iam_as(
            &format!("AKIATAGTESTUSERAAAA{}", crate::iam_roles::key_letter(i)),
            &format!("{name}SecretAccessKey/EXAMPLE+0123456789"),
        )
    };
    // `guarded` may do iam:* but on nothing tagged protected=true; `creator` only CreateRole.
    let (guarded, creator) = (as_user(0, "guarded"), as_user(2, "creator"));
    let admin = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    admin
        .create_user()
        .user_name("vault")
        .tags(
            Tag::builder()
                .key("protected")
                .value("true")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    admin.create_user().user_name("open").send().await.unwrap();
    let version = broker.state.store.iam_version().await.unwrap();
    let put = |user: &'static str| {
        guarded
            .put_user_policy()
            .user_name(user)
            .policy_name("q")
            .policy_document(SQS)
            .send()
    };
    let (code, status, message) = refused(put("vault").await);
    assert_eq!((code.as_str(), status), ("AccessDenied", 403));
    assert!(message.contains(&user_arn("vault")), "{message}");
    let (code, _, _) = refused(
        guarded
            .untag_user()
            .user_name("vault")
            .tag_keys("protected")
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied");
    let (code, _, _) = refused(creator.create_user().user_name("new").send().await);
    assert_eq!(code, "AccessDenied");
    assert_eq!(broker.state.store.iam_version().await.unwrap(), version);
    put("open").await.unwrap();
    let policies = admin
        .list_user_policies()
        .user_name("vault")
        .send()
        .await
        .unwrap();
    assert!(policies.policy_names().is_empty());
}
