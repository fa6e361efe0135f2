//! `sts-broker export`: entities created through the real `aws-sdk-iam` client on a broker with
//! a real Redis, exported, appended to the configuration file and loaded from it alone, serve
//! exactly what they served from the store (policies, trust, attachments, boundaries, groups,
//! paths, descriptions, tags, providers); what the file cannot hold is reported, nothing is
//! overwritten, and the embedded store is refused.

use std::collections::BTreeMap;

use aws_sdk_iam::types::Tag;
use sts_broker::broker::iam_api;
use sts_broker::config::Config;
use sts_broker::iam::Iam;

use crate::harness::broker::{ACCOUNT, TestBroker};
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;
use crate::harness::saml::TestSamlIdp;
use crate::iam_roles::{ADMIN_KEY_ID, ADMIN_SECRET, broker, ci_trust};

const S3_READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","s3:List*"],"Resource":"*"}]}"#;
const S3_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
const SQS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:*","Resource":"*"}]}"#;

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().unwrap()
}

/// Creates one of every exportable entity through the API.
async fn create_entities(b: &TestBroker, saml: &TestSamlIdp) {
    let iam = b.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let policy = iam
        .create_policy()
        .policy_name("s3-read")
        .path("/team/")
        .description("read the team's buckets")
        .policy_document(S3_READ)
        .tags(tag("cost", "team"))
        .send()
        .await
        .unwrap();
    let policy_arn = policy.policy().unwrap().arn().unwrap().to_owned();
    assert_eq!(
        policy_arn,
        format!("arn:aws:iam::{ACCOUNT}:policy/team/s3-read")
    );
    iam.create_policy_version()
        .policy_arn(&policy_arn)
        .policy_document(S3_ALL)
        .set_as_default(true)
        .send()
        .await
        .unwrap();
    iam.create_role()
        .role_name("exported-app")
        .path("/svc/")
        .description("deploys the app")
        .max_session_duration(7200)
        .assume_role_policy_document(ci_trust(b))
        .tags(tag("team", "app"))
        .tags(tag("tier", "prod web"))
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name("exported-app")
        .policy_name("queue.access")
        .policy_document(SQS)
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name("exported-app")
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    iam.put_role_permissions_boundary()
        .role_name("exported-app")
        .permissions_boundary(&policy_arn)
        .send()
        .await
        .unwrap();
    iam.create_open_id_connect_provider()
        .url("https://tokens.partner.example/oidc")
        .client_id_list("sts.amazonaws.com")
        .client_id_list("partner-app")
        .thumbprint_list("9E99A48A9960B14926BB7F3B02E22DA2B0AB7280")
        .send()
        .await
        .unwrap();
    iam.create_saml_provider()
        .name("partner")
        .saml_metadata_document(saml.metadata())
        .send()
        .await
        .unwrap();
    iam.create_group()
        .group_name("exported-readers")
        .path("/data/")
        .send()
        .await
        .unwrap();
    iam.put_group_policy()
        .group_name("exported-readers")
        .policy_name("sqs")
        .policy_document(SQS)
        .send()
        .await
        .unwrap();
    iam.attach_group_policy()
        .group_name("exported-readers")
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    iam.create_user()
        .user_name("exported-user")
        .path("/people/")
        .tags(tag("team", "data"))
        .send()
        .await
        .unwrap();
    iam.add_user_to_group()
        .user_name("exported-user")
        .group_name("exported-readers")
        .send()
        .await
        .unwrap();
    iam.put_user_policy()
        .user_name("exported-user")
        .policy_name("own")
        .policy_document(S3_READ)
        .send()
        .await
        .unwrap();
    iam.attach_user_policy()
        .user_name("exported-user")
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    iam.put_user_permissions_boundary()
        .user_name("exported-user")
        .permissions_boundary(&policy_arn)
        .send()
        .await
        .unwrap();
    iam.create_account_alias()
        .account_alias("exported-alias")
        .send()
        .await
        .unwrap();
}

/// What IAM's API shows of every role, user, group, policy and provider of `iam` whose name
/// starts with "exported" or that is one of the test's, without ids, dates and origins (a file
/// entity's differ by design).
fn view(config: &Config) -> BTreeMap<String, String> {
    let iam: &Iam = &config.iam;
    let mut out = BTreeMap::new();
    for r in iam.roles().filter(|r| r.name.starts_with("exported")) {
        let mut inline = r.about.inline_documents.clone();
        inline.sort();
        out.insert(
            r.arn.clone(),
            format!(
                "path={} description={:?} trust={} inline={inline:?} attached={:?} boundary={:?} max={} tags={:?}",
                r.path,
                r.about.description,
                r.about.trust_document,
                r.about.attached_policies,
                r.about.permissions_boundary,
                r.max_session_duration,
                r.tags
            ),
        );
    }
    for u in iam.users().filter(|u| u.name.starts_with("exported")) {
        let mut inline = u.about.inline_documents.clone();
        inline.sort();
        out.insert(
            u.arn.clone(),
            format!(
                "path={} groups={:?} inline={inline:?} attached={:?} boundary={:?} tags={:?} policies={}",
                u.path,
                u.groups,
                u.about.attached_policies,
                u.about.permissions_boundary,
                u.tags,
                u.identity_policies.len()
            ),
        );
    }
    for g in iam
        .groups
        .values()
        .filter(|g| g.name.starts_with("exported"))
    {
        out.insert(
            g.arn.clone(),
            format!(
                "path={} inline={:?} attached={:?} policies={}",
                g.path,
                g.about.inline_documents,
                g.about.attached_policies,
                g.policies.len()
            ),
        );
    }
    for p in iam
        .managed_policies
        .values()
        .filter(|p| p.name == "s3-read")
    {
        let default = p
            .versions
            .iter()
            .find(|v| v.id == p.default_version)
            .unwrap();
        out.insert(
            p.arn.clone(),
            format!(
                "path={} description={:?} document={}",
                p.path, p.description, default.document
            ),
        );
    }
    for p in config
        .oidc_providers
        .iter()
        .filter(|p| p.issuer.contains("partner"))
    {
        out.insert(
            p.arn.clone(),
            format!(
                "issuer={} clients={:?} public_only={}",
                p.issuer, p.client_ids, p.public_only
            ),
        );
    }
    for p in config
        .saml_providers
        .iter()
        .filter(|p| p.arn.ends_with("/partner"))
    {
        out.insert(p.arn.clone(), format!("{:?}", p.account));
    }
    out
}

#[tokio::test]
async fn exported_entities_serve_from_the_file_exactly_as_from_the_store() {
    let idp = TestIdp::start().await;
    let saml = TestSamlIdp::new();
    let redis = RedisServer::start().await;
    let b = broker(&idp, &redis.url(), None).await;
    create_entities(&b, &saml).await;

    let base = &b.state.config;
    let store = sts_broker::store::Store::connect(&base.store)
        .await
        .unwrap();
    let layer = iam_api::read_layer(&store, &iam_api::accounts(base))
        .await
        .unwrap();
    let from_store = iam_api::merge(base, &layer, None);
    let before = view(&from_store);
    assert_eq!(before.len(), 6, "{before:#?}");

    let folder = b.dir.path().join("exported");
    let out = sts_broker::cli::export::export(base, &folder).await;
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(out.stderr.contains("wrote 6 files"), "{}", out.stderr);
    for left_out in [
        "only its default version v2",
        "policy s3-read of account 111122223333: its 1 tag(s)",
        "its thumbprints",
        "alias \"exported-alias\"",
    ] {
        assert!(out.stderr.contains(left_out), "{left_out}: {}", out.stderr);
    }

    // The file alone (a fresh memory store: nothing from the API) serves the same.
    let mut file_only = crate::iam_roles::config(b.dir.path(), &idp, "memory://");
    file_only.push('\n');
    file_only.push_str(&out.stdout);
    let loaded = Config::from_toml(&file_only, "broker.toml", b.dir.path())
        .unwrap_or_else(|e| panic!("{e}\n{}", out.stdout));
    assert_eq!(view(&loaded), before);

    // A second export into the same folder overwrites nothing.
    let again = sts_broker::cli::export::export(base, &folder).await;
    assert_eq!(again.status, 1);
    assert!(again.stderr.contains("empty folder"), "{}", again.stderr);
    assert_eq!(
        std::fs::read_to_string(folder.join(ACCOUNT).join("policies/s3-read")).unwrap(),
        S3_ALL
    );
}

#[tokio::test]
async fn the_embedded_store_has_nothing_to_export() {
    let idp = TestIdp::start().await;
    let b = broker(&idp, "memory://", None).await;
    let folder = b.dir.path().join("exported");
    let out = sts_broker::cli::export::export(&b.state.config, &folder).await;
    assert_eq!(out.status, 1);
    assert!(out.stderr.contains("memory://"), "{}", out.stderr);
    assert!(!folder.exists());
}
