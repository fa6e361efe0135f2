//! `sts-broker analyze external` and `analyze unused`: the real binary on a configuration over a
//! real Redis, and the command in-process against brokers whose roles, users, keys, MFA
//! devices and login profiles were made through the real `aws-sdk-iam` client and used through
//! `aws-sdk-sts`.
//! Time moves by passing the analysis a later `now`: no sleeps.

use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::Value;
use sts_broker::cli::analyze::{self, ExternalRequest};
use sts_broker::clock::{Clock, ManualClock};
use sts_broker::store::LastUse;
use sts_broker::totp::{STEP_SECONDS, Seed, code_at};
use time::{Duration, OffsetDateTime};

use crate::harness::broker::{
    ACCOUNT, ALICE_ARN, ALICE_KEY_ID, ALICE_SECRET, BOB_KEY_ID, DEPLOY_ROLE, PROD_ROLE, TestBroker,
    standard_config,
};
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;
use crate::iam_roles::{ADMIN_KEY_ID, ADMIN_SECRET};

const BOB_ARN: &str = "arn:aws:iam::111122223333:user/bob";
const GITHUB: &str = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com";

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sts-broker"))
        .args(args)
        .output()
        .unwrap()
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The standard configuration plus the issue's four roles: a partner account's, everyone's, a
/// GitHub trust without a repository restriction and a tight one. Written to `broker.toml`.
fn four_roles(dir: &std::path::Path, idp: &TestIdp, store: &str) -> std::path::PathBuf {
    let trusts = [
        (
            "partner",
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"Partner","Effect":"Allow",
  "Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"sts:AssumeRole",
  "Condition":{"StringEquals":{"sts:ExternalId":"partner-42"}}}]}"#
                .to_owned(),
        ),
        (
            "open",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}]}"#
                .to_owned(),
        ),
        (
            "gh-any-repo",
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{GITHUB}"}},
  "Action":"sts:AssumeRoleWithWebIdentity",
  "Condition":{{"StringEquals":{{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}},
                "StringLike":{{"token.actions.githubusercontent.com:sub":"repo:*"}}}}}}]}}"#
            ),
        ),
        (
            "gh-main",
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{GITHUB}"}},
  "Action":"sts:AssumeRoleWithWebIdentity",
  "Condition":{{"StringEquals":{{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com",
                "token.actions.githubusercontent.com:sub":"repo:myorg/myrepo:ref:refs/heads/main"}}}}}}]}}"#
            ),
        ),
    ];
    let mut toml = standard_config(dir, idp, store, 0);
    for (name, trust) in trusts {
        std::fs::write(dir.join(format!("{name}-trust.json")), trust).unwrap();
        toml.push_str(&format!(
            "\n[[roles]]\naccount = \"{ACCOUNT}\"\nname = \"{name}\"\ntrust_policy_file = \"{name}-trust.json\"\n"
        ));
    }
    let path = dir.join("broker.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

#[tokio::test]
async fn exactly_the_partner_the_open_and_the_unpinned_github_roles_are_external() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = four_roles(dir.path(), &idp, &redis.url());
    let config = config.to_str().unwrap();

    let out = run(&["analyze", "external", "--config", config]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let found = lines(&String::from_utf8_lossy(&out.stdout));
    let got: Vec<(&str, &str, &str)> = found
        .iter()
        .map(|f| {
            (
                f["role"].as_str().unwrap(),
                f["finding"].as_str().unwrap(),
                f["principal"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "arn:aws:iam::111122223333:role/gh-any-repo",
                "public_idp_any_subject",
                GITHUB
            ),
            ("arn:aws:iam::111122223333:role/open", "any_principal", "*"),
            (
                "arn:aws:iam::111122223333:role/partner",
                "external_account",
                "arn:aws:iam::999988887777:root"
            ),
        ],
        "{stderr}"
    );
    // Each names its statement as written and why.
    let partner = &found[2];
    assert_eq!(partner["origin"], "file");
    assert_eq!(partner["statement"]["index"], 0);
    assert_eq!(partner["statement"]["sid"], "Partner");
    assert_eq!(
        partner["statement"]["document"]["Condition"]["StringEquals"]["sts:ExternalId"],
        "partner-42"
    );
    let reason = partner["reason"].as_str().unwrap();
    assert!(
        reason.contains("999988887777 is outside the zone of trust")
            && reason.contains("StringEquals sts:ExternalId"),
        "{reason}"
    );
    assert!(
        found[0]["reason"]
            .as_str()
            .unwrap()
            .contains("token.actions.githubusercontent.com:sub"),
        "{}",
        found[0]
    );
    assert!(stderr.contains("3 findings in 3 of"), "{stderr}");

    // For CI: findings fail the run; a zone of trust holding the partner drops its finding.
    let failing = run(&[
        "analyze",
        "external",
        "--config",
        config,
        "--fail-on-findings",
    ]);
    assert_eq!(failing.status.code(), Some(analyze::FINDINGS_STATUS));
    let zone = run(&[
        "analyze",
        "external",
        "--config",
        config,
        "--zone-of-trust",
        ACCOUNT,
        "444455556666",
        "999988887777",
    ]);
    assert_eq!(zone.status.code(), Some(0));
    let roles: Vec<String> = lines(&String::from_utf8_lossy(&zone.stdout))
        .iter()
        .map(|f| f["role"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        roles,
        [
            "arn:aws:iam::111122223333:role/gh-any-repo",
            "arn:aws:iam::111122223333:role/open"
        ]
    );
}

#[test]
fn bad_flags_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broker.toml");
    let idp_less = r#"
[server]
listen = "127.0.0.1:0"

[store]
url = "memory://"

[keys]
dir = "keys"

[[accounts]]
id = "111122223333"
alias = "prod"
"#;
    std::fs::write(&config, idp_less).unwrap();
    let config = config.to_str().unwrap();
    for (args, status, message) in [
        (
            vec!["analyze", "unused", "--days", "0"],
            2,
            "invalid value '0' for '--days <DAYS>'",
        ),
        (
            vec!["analyze", "unused", "--days", "3651"],
            2,
            "invalid value '3651'",
        ),
        (
            vec!["analyze", "unused", "--days", "ninety"],
            2,
            "invalid value 'ninety'",
        ),
        (
            vec!["analyze", "external", "--zone-of-trust", "staging"],
            1,
            "--zone-of-trust \"staging\": unknown account",
        ),
        (
            vec!["analyze", "external", "--zone-of-trust", "12345"],
            1,
            "unknown account",
        ),
        (
            vec!["analyze", "external", "--public-idp", "*"],
            1,
            "--public-idp \"*\"",
        ),
        // The embedded store holds no last uses of the running brokers.
        (vec!["analyze", "unused"], 1, "memory://"),
    ] {
        let mut all = args.clone();
        all.extend(["--config", config]);
        let out = run(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(status), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // An alias of a configured account is a valid zone (the file's roles only: memory://).
    let ok = run(&[
        "analyze",
        "external",
        "--config",
        config,
        "--zone-of-trust",
        "prod",
    ]);
    let stderr = String::from_utf8_lossy(&ok.stderr);
    assert_eq!(ok.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("only the configuration file's entities"),
        "{stderr}"
    );
    // The API's roles of the embedded store cannot be seen: not analyzed, and for CI a failure.
    let unseen = lines(&String::from_utf8_lossy(&ok.stdout));
    assert_eq!(unseen.len(), 1, "{unseen:?}");
    assert_eq!(unseen[0]["finding"], "not_analyzed");
    assert_eq!(unseen[0]["account"], "111122223333");
    let failing = run(&[
        "analyze",
        "external",
        "--config",
        config,
        "--fail-on-findings",
    ]);
    assert_eq!(
        failing.status.code(),
        Some(analyze::FINDINGS_STATUS),
        "{}",
        String::from_utf8_lossy(&failing.stderr)
    );
}

#[tokio::test]
async fn an_account_whose_api_document_cannot_be_read_is_not_analyzed() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broker.toml");
    std::fs::write(&path, standard_config(dir.path(), &idp, &redis.url(), 0)).unwrap();
    let config = path.to_str().unwrap();
    let clean = run(&[
        "analyze",
        "external",
        "--config",
        config,
        "--fail-on-findings",
    ]);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert!(clean.stdout.is_empty());

    // A damaged document: no broker serves its roles until it is repaired, and none is reviewed.
    let loaded = sts_broker::config::Config::load(&path).unwrap();
    let store = sts_broker::store::Store::connect(&loaded.store)
        .await
        .unwrap();
    assert!(
        store
            .iam_replace(ACCOUNT, 0, b"{damaged".to_vec())
            .await
            .unwrap()
            .is_some()
    );
    let out = run(&[
        "analyze",
        "external",
        "--config",
        config,
        "--fail-on-findings",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(analyze::FINDINGS_STATUS),
        "{stderr}"
    );
    let found = lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["finding"], "not_analyzed");
    assert_eq!(found[0]["account"], ACCOUNT);
    assert!(
        found[0]["reason"]
            .as_str()
            .unwrap()
            .contains("does not decode"),
        "{}",
        found[0]
    );
    assert!(
        stderr.contains("of 1 account were not analyzed (111122223333)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_principal_with_white_space_around_it_is_refused_by_the_api_and_the_file() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let b = crate::iam_roles::broker(&idp, &redis.url(), None).await;
    let iam = b.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    for principal in [r#"" *""#, r#""*\t""#, r#"{"AWS":" *"}"#] {
        let trust = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":"sts:AssumeRoleWithWebIdentity"}}]}}"#
        );
        let e = iam
            .create_role()
            .role_name("spaced")
            .assume_role_policy_document(&trust)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert_eq!(
            e.meta().code(),
            Some("MalformedPolicyDocument"),
            "{principal}"
        );
        assert!(
            e.meta()
                .message()
                .unwrap_or_default()
                .starts_with("Invalid principal in policy"),
            "{principal}: {:?}",
            e.meta().message()
        );
        let gone = iam
            .get_role()
            .role_name("spaced")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(gone.is_no_such_entity_exception(), "{principal}: {gone:?}");

        // The file's role is refused when the configuration is read.
        let dir = tempfile::tempdir().unwrap();
        let mut toml = standard_config(dir.path(), &idp, "memory://", 0);
        std::fs::write(dir.path().join("spaced.json"), &trust).unwrap();
        toml.push_str(&format!(
            "\n[[roles]]\naccount = \"{ACCOUNT}\"\nname = \"spaced\"\ntrust_policy_file = \"spaced.json\"\n"
        ));
        let path = dir.path().join("broker.toml");
        std::fs::write(&path, toml).unwrap();
        let e = sts_broker::config::Config::load(&path)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Invalid principal in policy"),
            "{principal}: {e}"
        );
    }
}

#[tokio::test]
async fn a_role_created_through_the_api_with_an_external_trust_is_reported() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let b = crate::iam_roles::broker(&idp, &redis.url(), None).await;
    let iam = b.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Principal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::777788889999:role/ci"]},
        "Action":"sts:AssumeRole"}]}"#;
    iam.create_role()
        .role_name("shared-with-vendor")
        .path("/vendors/")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();

    let out = analyze::external(&b.state.config, &ExternalRequest::default()).await;
    assert_eq!(out.status, 0, "{}", out.stderr);
    let found = lines(&out.stdout);
    assert_eq!(found.len(), 1, "{}", out.stdout);
    let f = &found[0];
    assert_eq!(
        f["role"],
        "arn:aws:iam::111122223333:role/vendors/shared-with-vendor"
    );
    assert_eq!(f["origin"], "api");
    assert_eq!(f["finding"], "external_account");
    assert_eq!(f["principal"], "arn:aws:iam::777788889999:role/ci");
    assert_eq!(
        f["statement"]["document"]["Principal"]["AWS"][1],
        "arn:aws:iam::777788889999:role/ci"
    );

    // A Deny of that account in the same trust policy cancels it.
    let denied = trust.replace(
        r#""Action":"sts:AssumeRole"}]"#,
        r#""Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":{"AWS":"777788889999"},"Action":"sts:*"}]"#,
    );
    iam.update_assume_role_policy()
        .role_name("shared-with-vendor")
        .policy_document(denied)
        .send()
        .await
        .unwrap();
    let out = analyze::external(&b.state.config, &ExternalRequest::default()).await;
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "", "{}", out.stdout);
}

/// A clock at the start of a time step a little ahead of now (signatures stay within their
/// fifteen minutes; MFA codes are computed for its steps).
fn step_clock() -> Arc<ManualClock> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let step = i64::try_from(STEP_SECONDS).unwrap();
    Arc::new(ManualClock::new(
        OffsetDateTime::from_unix_timestamp((now / step + 1) * step).unwrap(),
    ))
}

/// (finding, ARN, access key id) of each line.
fn unused_findings(stdout: &str) -> Vec<(String, String, Option<String>)> {
    lines(stdout)
        .iter()
        .map(|f| {
            (
                f["finding"].as_str().unwrap().to_owned(),
                f["arn"].as_str().unwrap().to_owned(),
                f["access_key_id"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn has(
    found: &[(String, String, Option<String>)],
    finding: &str,
    arn: &str,
    key: Option<&str>,
) -> bool {
    found
        .iter()
        .any(|(f, a, k)| f == finding && a == arn && k.as_deref() == key)
}

#[tokio::test]
async fn unused_roles_keys_and_users_without_mfa() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let clock = step_clock();
    let dir = tempfile::tempdir().unwrap();
    let toml = crate::iam_roles::config(dir.path(), &idp, &redis.url());
    let b =
        TestBroker::from_toml_with_clock(dir, &toml, Arc::clone(&clock) as Arc<dyn Clock>).await;
    let iam = b.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);

    // Through the API: a role, a user with a key and no MFA, a user with an enabled device.
    let own = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role()
        .role_name("fresh")
        .assume_role_policy_document(own)
        .send()
        .await
        .unwrap();
    iam.create_user().user_name("no-mfa").send().await.unwrap();
    let key = iam
        .create_access_key()
        .user_name("no-mfa")
        .send()
        .await
        .unwrap();
    let api_key = key.access_key().unwrap().access_key_id().to_owned();
    iam.create_user()
        .user_name("with-mfa")
        .send()
        .await
        .unwrap();
    let device = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name("with-mfa-phone")
        .send()
        .await
        .unwrap();
    let device = device.virtual_mfa_device().unwrap();
    let seed = Seed::from_base32(
        std::str::from_utf8(device.base32_string_seed().unwrap().as_ref()).unwrap(),
    )
    .unwrap();
    let step = Duration::seconds(i64::try_from(STEP_SECONDS).unwrap());
    iam.enable_mfa_device()
        .user_name("with-mfa")
        .serial_number(device.serial_number())
        .authentication_code1(code_at(&seed, clock.now() - step))
        .authentication_code2(code_at(&seed, clock.now()))
        .send()
        .await
        .unwrap();
    // Passwords: no-mfa's is never used; with-mfa's is (a sign-in recorded below).
    for user in ["no-mfa", "with-mfa"] {
        iam.create_login_profile()
            .user_name(user)
            .password("correct-Horse-7!")
            .send()
            .await
            .unwrap();
    }
    let with_mfa_id = iam
        .get_user()
        .user_name("with-mfa")
        .send()
        .await
        .unwrap()
        .user()
        .unwrap()
        .user_id()
        .to_owned();

    // Used: the deploy role (a real web identity exchange) and alice's key (a signed call).
    crate::iam_roles::assume(&b, &idp, DEPLOY_ROLE)
        .await
        .unwrap();
    b.sts_as(ALICE_KEY_ID, ALICE_SECRET, None)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    // What this replica noted, written now rather than at its next second.
    b.state.key_use.flush(&b.state.store).await.unwrap();

    let now = clock.now();
    let out = analyze::unused(&b.state.config, 90, now, false).await;
    assert_eq!(out.status, 0, "{}", out.stderr);
    let found = unused_findings(&out.stdout);
    let user = |name: &str| format!("arn:aws:iam::{ACCOUNT}:user/{name}");
    let fresh = format!("arn:aws:iam::{ACCOUNT}:role/fresh");
    // Never assumed, created before records began (a file role): reported; assumed: not.
    assert!(
        has(&found, "role_not_assumed", PROD_ROLE, None),
        "{found:#?}"
    );
    assert!(
        !has(&found, "role_not_assumed", DEPLOY_ROLE, None),
        "{found:#?}"
    );
    // Created inside the window: not unused yet.
    assert!(!has(&found, "role_not_assumed", &fresh, None), "{found:#?}");
    assert!(!has(
        &found,
        "access_key_not_used",
        &user("no-mfa"),
        Some(&api_key)
    ));
    // Keys: used, not; never used (created before records began), reported.
    assert!(!has(
        &found,
        "access_key_not_used",
        ALICE_ARN,
        Some(ALICE_KEY_ID)
    ));
    assert!(
        has(&found, "access_key_not_used", BOB_ARN, Some(BOB_KEY_ID)),
        "{found:#?}"
    );
    // MFA: a file device (alice), an API device; none (bob, no-mfa).
    assert!(!has(&found, "user_without_mfa", ALICE_ARN, None));
    assert!(!has(&found, "user_without_mfa", &user("with-mfa"), None));
    assert!(has(&found, "user_without_mfa", BOB_ARN, None));
    assert!(has(&found, "user_without_mfa", &user("no-mfa"), None));
    // Passwords set inside the window: not unused yet.
    assert!(
        !found.iter().any(|(f, _, _)| f == "password_not_used"),
        "{found:#?}"
    );
    let no_mfa = lines(&out.stdout)
        .into_iter()
        .find(|f| f["finding"] == "user_without_mfa" && f["arn"] == user("no-mfa"))
        .unwrap();
    assert!(
        no_mfa["reason"]
            .as_str()
            .unwrap()
            .contains("can sign in with a password"),
        "{no_mfa}"
    );
    let prod = lines(&out.stdout)
        .into_iter()
        .find(|f| f["arn"] == PROD_ROLE)
        .unwrap();
    assert_eq!(prod["origin"], "file");
    assert!(
        prod["created"].is_null() && prod["last_used"].is_null(),
        "{prod}"
    );

    // A hundred days on, what was used or made today is unused too. with-mfa signed in the
    // day before: recorded as sign-in records it, a last use keyed by the user's id written
    // through the store call the replicas' recorder makes (recording at sign-in is tested
    // with the sign-in endpoint).
    let later = now + Duration::days(100);
    let sign_in = LastUse {
        at: (later - Duration::days(1)).unix_timestamp(),
        service: "signin".into(),
        region: "us-east-1".into(),
    };
    b.state
        .store
        .record_key_uses(&[(with_mfa_id, sign_in)])
        .await
        .unwrap();
    let out = analyze::unused(&b.state.config, 90, later, true).await;
    assert_eq!(out.status, analyze::FINDINGS_STATUS, "{}", out.stderr);
    let found = unused_findings(&out.stdout);
    assert!(
        has(&found, "role_not_assumed", DEPLOY_ROLE, None),
        "{found:#?}"
    );
    assert!(has(&found, "role_not_assumed", &fresh, None), "{found:#?}");
    assert!(has(
        &found,
        "access_key_not_used",
        ALICE_ARN,
        Some(ALICE_KEY_ID)
    ));
    assert!(has(
        &found,
        "access_key_not_used",
        &user("no-mfa"),
        Some(&api_key)
    ));
    assert!(
        has(&found, "password_not_used", &user("no-mfa"), None),
        "{found:#?}"
    );
    assert!(
        !has(&found, "password_not_used", &user("with-mfa"), None),
        "{found:#?}"
    );
    let password = lines(&out.stdout)
        .into_iter()
        .find(|f| f["finding"] == "password_not_used")
        .unwrap();
    assert_eq!(password["origin"], "api");
    assert!(password["last_used"].is_null() && password["created"].is_string());
    assert!(
        password["reason"]
            .as_str()
            .unwrap()
            .contains("never used to sign in, and created 100 days ago"),
        "{password}"
    );
    let deploy = lines(&out.stdout)
        .into_iter()
        .find(|f| f["arn"] == DEPLOY_ROLE)
        .unwrap();
    assert!(
        deploy["reason"]
            .as_str()
            .unwrap()
            .contains("last assumed 100 days ago"),
        "{deploy}"
    );
    // A longer window covers them again.
    let out = analyze::unused(&b.state.config, 365, later, false).await;
    let found = unused_findings(&out.stdout);
    assert!(
        !has(&found, "role_not_assumed", DEPLOY_ROLE, None),
        "{found:#?}"
    );
    assert!(!has(&found, "role_not_assumed", &fresh, None));
}
