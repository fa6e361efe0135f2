//! Passwords through the real `aws-sdk-iam` client (and boto3 for a user changing its own):
//! the account's password policy set, read and deleted with IAM's limits (nothing stored when
//! refused), the file's policy served and read-only, weak passwords refused naming every rule
//! broken, reuse prevention, `ChangePassword`'s conditions, `DeleteUser` refused while a login
//! profile exists, a change on one replica seen on another (real Redis), and the password in
//! no stored value and no log: only `$argon2id$` hashes are stored.

use aws_credential_types::Credentials;
use serde_json::{Value, json};

use crate::harness::broker::{ACCOUNT, TestBroker, iam_client};
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;
use crate::iam_roles::{ADMIN_KEY_ID, ADMIN_SECRET, PROPAGATION, broker, refused, within};

const GOOD: &str = "Correct-Horse-42-Battery";
const OTHER: &str = "Another-Horse-43-Staple!";

/// The strict policy of the issue's example: 14 characters, every kind, 90 days, 24 kept.
async fn set_strict_policy(iam: &aws_sdk_iam::Client, allow_change: bool) {
    iam.update_account_password_policy()
        .minimum_password_length(14)
        .require_symbols(true)
        .require_numbers(true)
        .require_uppercase_characters(true)
        .require_lowercase_characters(true)
        .allow_users_to_change_password(allow_change)
        .max_password_age(90)
        .password_reuse_prevention(24)
        .send()
        .await
        .unwrap();
}

/// An API user that may change its own password and read its profile, and its access key.
async fn user_with_key(iam: &aws_sdk_iam::Client, name: &str) -> (String, String) {
    iam.create_user().user_name(name).send().await.unwrap();
    iam.put_user_policy()
        .user_name(name)
        .policy_name("own-password")
        .policy_document(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["iam:ChangePassword","iam:GetLoginProfile","iam:GetAccountPasswordPolicy"],"Resource":["arn:aws:iam::{ACCOUNT}:user/{name}","*"]}}]}}"#
        ))
        .send()
        .await
        .unwrap();
    let out = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap();
    let key = out.access_key().unwrap();
    (
        key.access_key_id().to_owned(),
        key.secret_access_key().to_owned(),
    )
}

async fn create_profile(iam: &aws_sdk_iam::Client, user: &str, password: &str) {
    iam.create_login_profile()
        .user_name(user)
        .password(password)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_password_policy_is_set_read_and_deleted_with_iams_limits() {
    let idp = TestIdp::start().await;
    let b = broker(&idp, "url = \"memory://\"", None).await;
    let iam = b.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);

    let (code, status, message) = refused(iam.get_account_password_policy().send().await);
    assert_eq!((code.as_str(), status), ("NoSuchEntity", 404), "{message}");
    assert!(message.contains(ACCOUNT), "{message}");

    set_strict_policy(&iam, true).await;
    let got = iam.get_account_password_policy().send().await.unwrap();
    let p = got.password_policy().unwrap();
    assert_eq!(p.minimum_password_length(), Some(14));
    assert!(p.require_symbols() && p.require_numbers());
    assert!(p.require_uppercase_characters() && p.require_lowercase_characters());
    assert!(p.allow_users_to_change_password() && p.expire_passwords());
    assert_eq!(p.max_password_age(), Some(90));
    assert_eq!(p.password_reuse_prevention(), Some(24));
    assert_eq!(p.hard_expiry(), Some(false));

    // Every value out of IAM's range: ValidationError, and the policy stays as it was.
    for (param, value) in [
        ("minimum", 5),
        ("minimum", 129),
        ("age", 0),
        ("age", 1096),
        ("reuse", 0),
        ("reuse", 25),
    ] {
        let call = iam.update_account_password_policy();
        let call = match param {
            "minimum" => call.minimum_password_length(value),
            "age" => call.max_password_age(value),
            _ => call.password_reuse_prevention(value),
        };
        let (code, status, message) = refused(call.send().await);
        assert_eq!(
            (code.as_str(), status),
            ("ValidationError", 400),
            "{param}={value}: {message}"
        );
        assert!(message.contains(&format!("Value '{value}'")), "{message}");
        let kept = iam.get_account_password_policy().send().await.unwrap();
        assert_eq!(
            kept.password_policy().unwrap().minimum_password_length(),
            Some(14)
        );
    }

    // Unset values take IAM's defaults: a length of 6, no expiry, no reuse prevention.
    iam.update_account_password_policy().send().await.unwrap();
    let defaults = iam.get_account_password_policy().send().await.unwrap();
    let p = defaults.password_policy().unwrap();
    assert_eq!(p.minimum_password_length(), Some(6));
    assert!(!p.expire_passwords() && !p.allow_users_to_change_password());
    assert_eq!(
        (p.max_password_age(), p.password_reuse_prevention()),
        (None, None)
    );

    // Another account's administrator changes its own account, not this one.
    let foreign = b.iam_as(
        crate::iam_roles::FOREIGN_KEY_ID,
        crate::iam_roles::FOREIGN_SECRET,
    );
    let (code, ..) = refused(foreign.get_account_password_policy().send().await);
    assert_eq!(code, "NoSuchEntity");
    // A caller without iam:UpdateAccountPasswordPolicy is refused.
    let bob = b.iam_as(
        crate::harness::broker::BOB_KEY_ID,
        crate::harness::broker::BOB_SECRET,
    );
    let (code, status, _) = refused(
        bob.update_account_password_policy()
            .minimum_password_length(8)
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("AccessDenied", 403));

    iam.delete_account_password_policy().send().await.unwrap();
    let (code, ..) = refused(iam.get_account_password_policy().send().await);
    assert_eq!(code, "NoSuchEntity");
    let (code, status, _) = refused(iam.delete_account_password_policy().send().await);
    assert_eq!((code.as_str(), status), ("NoSuchEntity", 404));
}

/// The IAM tests' configuration with `password_policy` set on the first account.
async fn broker_with_file_policy(idp: &TestIdp, policy: &str) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let toml = crate::iam_roles::config(dir.path(), idp, "url = \"memory://\"").replacen(
        &format!("[[accounts]]\nid = \"{ACCOUNT}\"\n"),
        &format!("[[accounts]]\nid = \"{ACCOUNT}\"\npassword_policy = {policy}\n"),
        1,
    );
    assert!(toml.contains("password_policy"));
    TestBroker::from_toml(dir, &toml).await
}

#[tokio::test]
async fn the_files_policy_is_served_and_cannot_be_changed_through_the_api() {
    let idp = TestIdp::start().await;
    let b = broker_with_file_policy(
        &idp,
        "{ minimum_length = 14, require_symbols = true, require_numbers = true, \
         require_uppercase = true, require_lowercase = true, max_age_days = 90, \
         reuse_prevention = 24, hard_expiry = false, allow_users_to_change = true }",
    )
    .await;
    let iam = b.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let got = iam.get_account_password_policy().send().await.unwrap();
    let p = got.password_policy().unwrap();
    assert_eq!(p.minimum_password_length(), Some(14));
    assert_eq!(p.max_password_age(), Some(90));
    assert!(p.allow_users_to_change_password());
    let (code, status, message) = refused(
        iam.update_account_password_policy()
            .minimum_password_length(8)
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("UnmodifiableEntity", 400));
    assert!(message.contains("configuration file"), "{message}");
    let (code, ..) = refused(iam.delete_account_password_policy().send().await);
    assert_eq!(code, "UnmodifiableEntity");
    // The file's policy holds passwords set through the API.
    iam.create_user().user_name("carol").send().await.unwrap();
    let (code, _, message) = refused(
        iam.create_login_profile()
            .user_name("carol")
            .password("Short1!")
            .send()
            .await,
    );
    assert_eq!(code, "PasswordPolicyViolation");
    assert!(message.contains("minimum length of 14"), "{message}");
}

#[test]
fn check_config_reports_each_policy_value_out_of_range_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let toml = r#"[[accounts]]
id = "111122223333"

[[accounts]]
id = "444455556666"
alias = "other"
password_policy = { minimum_length = 5, max_age_days = 2000, reuse_prevention = 25 }
"#;
    let path = dir.path().join("broker.toml");
    std::fs::write(&path, toml).unwrap();
    let out = sts_broker::cli::broker::check_config(sts_broker::config::Config::load(&path));
    assert_eq!(out.status, 1);
    let at = format!("{}:7:", path.display());
    for key in ["minimum_length", "max_age_days", "reuse_prevention"] {
        assert!(
            out.stderr
                .lines()
                .any(|l| l.contains(&at) && l.contains(key)),
            "{key}: {}",
            out.stderr
        );
    }
    // Unknown keys are refused too.
    std::fs::write(
        &path,
        "[[accounts]]\nid = \"111122223333\"\npassword_policy = { min_length = 8 }\n",
    )
    .unwrap();
    let out = sts_broker::cli::broker::check_config(sts_broker::config::Config::load(&path));
    assert_eq!(out.status, 1, "{}", out.stderr);
}

#[tokio::test]
async fn weak_passwords_are_refused_naming_every_rule_broken() {
    let idp = TestIdp::start().await;
    let b = broker(&idp, "url = \"memory://\"", None).await;
    let iam = b.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    set_strict_policy(&iam, true).await;
    let (key, secret) = user_with_key(&iam, "dave").await;

    let (code, status, message) = refused(
        iam.create_login_profile()
            .user_name("dave")
            .password("weakling")
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("PasswordPolicyViolation", 400));
    for rule in [
        "minimum length of 14",
        "at least one symbol",
        "at least one number",
        "at least one uppercase letter",
    ] {
        assert!(message.contains(rule), "{rule}: {message}");
    }
    assert!(!message.contains("lowercase"), "{message}");
    assert!(!message.contains("weakling"), "{message}");
    let (code, status, _) = refused(iam.get_login_profile().user_name("dave").send().await);
    assert_eq!(
        (code.as_str(), status),
        ("NoSuchEntity", 404),
        "nothing stored"
    );

    // Bounds of the parameter itself: never echoed.
    let long = "Aa1!".repeat(33);
    let (code, _, message) = refused(
        iam.create_login_profile()
            .user_name("dave")
            .password(&long)
            .send()
            .await,
    );
    assert_eq!(code, "ValidationError");
    assert!(!message.contains("Aa1!"), "{message}");
    let (code, ..) = refused(
        iam.create_login_profile()
            .user_name("nobody")
            .password(GOOD)
            .send()
            .await,
    );
    assert_eq!(code, "NoSuchEntity");

    iam.create_login_profile()
        .user_name("dave")
        .password(GOOD)
        .password_reset_required(true)
        .send()
        .await
        .unwrap();
    let profile = iam
        .get_login_profile()
        .user_name("dave")
        .send()
        .await
        .unwrap();
    let profile = profile.login_profile().unwrap();
    assert_eq!(profile.user_name(), "dave");
    assert!(profile.password_reset_required());
    let (code, status, _) = refused(
        iam.create_login_profile()
            .user_name("dave")
            .password(GOOD)
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("EntityAlreadyExists", 409));

    // The user's own change is held to the same rules.
    let own = iam_client(
        &b.endpoint,
        Credentials::new(&key, &secret, None, None, "t"),
    );
    let (code, status, message) = refused(
        own.change_password()
            .old_password(GOOD)
            .new_password("alllowercaseletters")
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("PasswordPolicyViolation", 400));
    for rule in ["symbol", "number", "uppercase"] {
        assert!(message.contains(rule), "{rule}: {message}");
    }
    // A good change clears the reset requirement.
    own.change_password()
        .old_password(GOOD)
        .new_password(OTHER)
        .send()
        .await
        .unwrap();
    let profile = own.get_login_profile().send().await.unwrap();
    assert!(!profile.login_profile().unwrap().password_reset_required());
    // An administrator may ask for a reset again.
    iam.update_login_profile()
        .user_name("dave")
        .password_reset_required(true)
        .send()
        .await
        .unwrap();
    let profile = iam
        .get_login_profile()
        .user_name("dave")
        .send()
        .await
        .unwrap();
    assert!(profile.login_profile().unwrap().password_reset_required());
}

#[tokio::test]
async fn change_password_needs_the_policy_the_old_password_and_a_user() {
    let idp = TestIdp::start().await;
    let b = broker(&idp, "url = \"memory://\"", None).await;
    let iam = b.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let (key, secret) = user_with_key(&iam, "erin").await;
    let own = iam_client(
        &b.endpoint,
        Credentials::new(&key, &secret, None, None, "t"),
    );

    // No profile yet, no policy: users may not change their password.
    let (code, status, _) = refused(
        own.change_password()
            .old_password(GOOD)
            .new_password(OTHER)
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("AccessDenied", 403));
    set_strict_policy(&iam, false).await;
    create_profile(&iam, "erin", GOOD).await;
    let (code, _, message) = refused(
        own.change_password()
            .old_password(GOOD)
            .new_password(OTHER)
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied");
    assert!(message.contains("AllowUsersToChangePassword"), "{message}");

    set_strict_policy(&iam, true).await;
    let (code, status, message) = refused(
        own.change_password()
            .old_password("Wrong-Horse-42-Battery")
            .new_password(OTHER)
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("AccessDenied", 403));
    assert!(message.contains("old password"), "{message}");

    // A role session is not an IAM user.
    let creds = crate::iam_roles::assume(&b, &idp, "arn:aws:iam::111122223333:role/ci/deploy")
        .await
        .unwrap();
    let session = iam_client(
        &b.endpoint,
        Credentials::new(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token().to_owned()),
            None,
            "t",
        ),
    );
    let (code, status, _) = refused(
        session
            .change_password()
            .old_password(GOOD)
            .new_password(OTHER)
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("InvalidUserType", 400));

    // Through boto3: the user changes its own password, then reads the policy.
    let out = boto3(
        &b,
        &key,
        &secret,
        &json!([
            {"op": "change_password", "args": {"OldPassword": GOOD, "NewPassword": OTHER}},
            {"op": "change_password", "args": {"OldPassword": GOOD, "NewPassword": OTHER}},
            {"op": "get_account_password_policy", "args": {}},
        ]),
    )
    .await;
    assert_eq!(out[0], json!({"ok": true}), "{out:?}");
    assert_eq!(out[1]["error"]["Code"], "AccessDenied", "{out:?}");
    assert_eq!(
        out[2]["PasswordPolicy"]["MinimumPasswordLength"], 14,
        "{out:?}"
    );
    assert_eq!(out[2]["PasswordPolicy"]["ExpirePasswords"], true, "{out:?}");
}

/// Runs IAM calls with boto3 (one attempt each) as `key`: each result is the answer without
/// its metadata (`{"ok": true}` when empty) or `{"error": …}`.
async fn boto3(broker: &TestBroker, key: &str, secret: &str, calls: &Value) -> Vec<Value> {
    const SCRIPT: &str = r#"
import json, sys
import boto3, botocore
from botocore.config import Config

endpoint, key, secret = sys.argv[1], sys.argv[2], sys.argv[3]
client = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id=key, aws_secret_access_key=secret,
                      config=Config(retries={"max_attempts": 1, "mode": "standard"}))
out = []
for call in json.load(sys.stdin):
    try:
        r = getattr(client, call["op"])(**call["args"])
        r.pop("ResponseMetadata", None)
        out.append(r or {"ok": True})
    except botocore.exceptions.ClientError as e:
        out.append({"error": e.response["Error"]})
print(json.dumps(out, default=str))
"#;
    let mut python = crate::analyzer::isolated("python3");
    python
        .arg("-c")
        .arg(SCRIPT)
        .arg(&broker.endpoint)
        .arg(key)
        .arg(secret);
    let out = crate::analyzer::run(python, calls.to_string()).await;
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn reuse_prevention_refuses_the_last_24_passwords_and_allows_older_ones() {
    let idp = TestIdp::start().await;
    let b = broker(&idp, "url = \"memory://\"", None).await;
    let iam = b.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    set_strict_policy(&iam, true).await;
    let (key, secret) = user_with_key(&iam, "frank").await;
    let own = iam_client(
        &b.endpoint,
        Credentials::new(&key, &secret, None, None, "t"),
    );
    let password = |i: usize| format!("Password-Number-{i:02}!");
    create_profile(&iam, "frank", &password(1)).await;
    for i in 2..=24 {
        own.change_password()
            .old_password(password(i - 1))
            .new_password(password(i))
            .send()
            .await
            .unwrap();
    }
    // The current password and the 24th-last are refused.
    for old in [24, 1] {
        let (code, _, message) = refused(
            own.change_password()
                .old_password(password(24))
                .new_password(password(old))
                .send()
                .await,
        );
        assert_eq!(code, "PasswordPolicyViolation", "{old}: {message}");
        assert!(message.contains("used before"), "{message}");
    }
    // An administrator's reset is held to it too.
    let (code, ..) = refused(
        iam.update_login_profile()
            .user_name("frank")
            .password(password(2))
            .send()
            .await,
    );
    assert_eq!(code, "PasswordPolicyViolation");
    own.change_password()
        .old_password(password(24))
        .new_password(password(25))
        .send()
        .await
        .unwrap();
    // Now the first is the 25th-last: allowed again; the second is still refused.
    let (code, ..) = refused(
        own.change_password()
            .old_password(password(25))
            .new_password(password(2))
            .send()
            .await,
    );
    assert_eq!(code, "PasswordPolicyViolation");
    own.change_password()
        .old_password(password(25))
        .new_password(password(1))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_user_with_a_login_profile_cannot_be_deleted() {
    let idp = TestIdp::start().await;
    let b = broker(&idp, "url = \"memory://\"", None).await;
    let iam = b.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    iam.create_user().user_name("gina").send().await.unwrap();
    create_profile(&iam, "gina", GOOD).await;
    let (code, status, message) = refused(iam.delete_user().user_name("gina").send().await);
    assert_eq!((code.as_str(), status), ("DeleteConflict", 409));
    assert!(message.contains("login profile"), "{message}");
    iam.delete_login_profile()
        .user_name("gina")
        .send()
        .await
        .unwrap();
    let (code, ..) = refused(iam.delete_login_profile().user_name("gina").send().await);
    assert_eq!(code, "NoSuchEntity");
    iam.delete_user().user_name("gina").send().await.unwrap();
    // A file user gets a profile too (kept with the account's document).
    create_profile(&iam, "alice", GOOD).await;
    let got = iam
        .get_login_profile()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(got.login_profile().unwrap().user_name(), "alice");
}

#[tokio::test]
async fn a_change_on_one_replica_is_seen_on_another_and_only_hashes_are_stored() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let a = broker(&idp, &redis.url(), Some(keys.path())).await;
    let b = broker(&idp, &redis.url(), Some(keys.path())).await;
    let on_a = a.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let on_b = b.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    set_strict_policy(&on_a, true).await;
    let (key, secret) = user_with_key(&on_a, "hank").await;
    create_profile(&on_a, "hank", GOOD).await;
    within(PROPAGATION, || async {
        on_b.get_login_profile()
            .user_name("hank")
            .send()
            .await
            .is_ok()
    })
    .await;
    let policy = on_b.get_account_password_policy().send().await.unwrap();
    assert_eq!(
        policy.password_policy().unwrap().minimum_password_length(),
        Some(14)
    );
    // The user changes its password on B; the old one no longer verifies on A.
    let own_b = iam_client(
        &b.endpoint,
        Credentials::new(&key, &secret, None, None, "t"),
    );
    let own_a = iam_client(
        &a.endpoint,
        Credentials::new(&key, &secret, None, None, "t"),
    );
    own_b
        .change_password()
        .old_password(GOOD)
        .new_password(OTHER)
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async {
        let r = own_a
            .change_password()
            .old_password(GOOD)
            .new_password("Third-Horse-44-Battery!")
            .send()
            .await;
        matches!(refused(r), (code, ..) if code == "AccessDenied")
    })
    .await;

    // Only Argon2id hashes are stored: neither password is in any value.
    let values = crate::iam_access_keys::all_values(&redis).await;
    let stored = values
        .iter()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .find(|v| v.contains("login_profiles"))
        .expect("the profile is stored");
    assert!(
        stored.contains("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    for v in &values {
        for password in [GOOD, OTHER] {
            assert!(
                !v.windows(password.len()).any(|w| w == password.as_bytes()),
                "a password is stored in clear: {}",
                String::from_utf8_lossy(v)
            );
        }
    }

    on_a.delete_login_profile()
        .user_name("hank")
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async {
        on_b.get_login_profile()
            .user_name("hank")
            .send()
            .await
            .is_err()
    })
    .await;
}

#[tokio::test]
async fn passwords_never_reach_the_log_or_the_audit_log() {
    use crate::serve::{serve, stop, wait_ready};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("admin.json"),
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}"#,
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
password_policy = {{ minimum_length = 12, allow_users_to_change = true }}
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
    let (key, secret) = user_with_key(&admin, "ivy").await;
    admin
        .create_login_profile()
        .user_name("ivy")
        .password(GOOD)
        .send()
        .await
        .unwrap();
    let own = iam_client(
        &server.endpoint,
        Credentials::new(&key, &secret, None, None, "test"),
    );
    let wrong = "Wrong-But-Long-Enough-Password";
    assert!(
        own.change_password()
            .old_password(wrong)
            .new_password(OTHER)
            .send()
            .await
            .is_err()
    );
    let weak = "too-weak";
    assert!(
        admin
            .update_login_profile()
            .user_name("ivy")
            .password(weak)
            .send()
            .await
            .is_err()
    );
    own.change_password()
        .old_password(GOOD)
        .new_password(OTHER)
        .send()
        .await
        .unwrap();
    let log = stop(server);
    let audit = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
    assert!(audit.contains("ChangePassword"), "{audit}");
    for (what, text) in [("log", &log), ("audit log", &audit)] {
        for password in [GOOD, OTHER, wrong, weak] {
            assert!(!text.contains(password), "a password is in the {what}");
        }
        assert!(!text.contains("$argon2id$"), "a hash is in the {what}");
    }
}
