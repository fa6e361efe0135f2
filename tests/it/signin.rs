//! Signing in with a password (`POST /signin`, `sts-broker login`) through real parts: users and
//! login profiles made with the real `aws-sdk-iam` client, brokers on a real Redis, the
//! credentials used with `aws-sdk-sts` and the AWS CLI. A password and a code give the user's
//! credentials with `aws:MultiFactorAuthPresent` (a trust policy requiring MFA lets them in and
//! keeps a sign-in without MFA out); every wrong name or password gets one answer; an expired
//! or reset password must be changed at sign-in; wrong passwords lock a user across two
//! replicas until the window passes; the last sign-in is `PasswordLastUsed` on the other
//! replica; and no password reaches the log, the audit log or the store.

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use serde_json::{Value, json};
use sts_broker::clock::{Clock, ManualClock};
use sts_broker::totp::{STEP_SECONDS, Seed, code_at};
use time::OffsetDateTime;

use crate::harness::broker::{ACCOUNT, ALICE_MFA_SEED, ALICE_MFA_SERIAL, TestBroker, iam_client};
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;
use crate::iam_roles::{ADMIN_KEY_ID, ADMIN_SECRET, PROPAGATION, refused, within};

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::111122223333:user/bob";
const GOOD: &str = "Correct-Horse-42-Battery";
const OTHER: &str = "Another-Horse-43-Staple!";
const THIRD: &str = "Third-Horse-44-Paperclip";
const WRONG: &str = "Wrong-Horse-00-Guess!!";
const ALIAS: &str = "acme";

/// The IAM tests' configuration with the first account's alias and `[signin]` (3 failures,
/// a minute), plus `extra`.
fn config(dir: &std::path::Path, idp: &TestIdp, store: &str, extra: &str) -> String {
    let toml = crate::iam_roles::config(dir, idp, store).replacen(
        &format!("[[accounts]]\nid = \"{ACCOUNT}\"\n"),
        &format!("[[accounts]]\nid = \"{ACCOUNT}\"\nalias = \"{ALIAS}\"\n"),
        1,
    );
    assert!(toml.contains("alias = "));
    toml + "\n[signin]\nmax_failures = 3\nlockout_seconds = 60\n" + extra
}

/// One replica on `store`, sharing `keys` and `clock` with the test's others.
async fn replica(
    idp: &TestIdp,
    store: &str,
    keys: &std::path::Path,
    clock: Arc<ManualClock>,
    extra: &str,
) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let toml = config(dir.path(), idp, store, extra).replace(
        "dir = \"keys\"",
        &format!("dir = {:?}", keys.to_str().unwrap()),
    );
    TestBroker::from_toml_with_clock(dir, &toml, clock).await
}

/// A clock at the start of a TOTP step a little ahead of now, so codes computed with it are
/// those the broker expects and SDK signatures stay within their fifteen minutes.
fn step_clock() -> Arc<ManualClock> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let step = i64::try_from(STEP_SECONDS).unwrap();
    Arc::new(ManualClock::new(
        OffsetDateTime::from_unix_timestamp((now / step + 1) * step).unwrap(),
    ))
}

fn code(clock: &ManualClock, steps: i64) -> String {
    let seed = Seed::from_base32(ALICE_MFA_SEED).unwrap();
    let offset = steps * i64::try_from(STEP_SECONDS).unwrap();
    code_at(&seed, clock.now() + time::Duration::seconds(offset))
}

/// One sign-in: the status and the JSON answer. Every refusal carries the request id of its
/// `x-amzn-RequestId` header.
pub(crate) async fn sign_in(endpoint: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{endpoint}/signin"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let id = r
        .headers()
        .get("x-amzn-requestid")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap();
    let v: Value = r.json().await.unwrap();
    if status != 200 {
        assert_eq!(v["request_id"].as_str(), Some(id.as_str()), "{v}");
    }
    (status, v)
}

fn error(v: &Value) -> (&str, &str) {
    (
        v["error"]["code"].as_str().unwrap_or_default(),
        v["error"]["message"].as_str().unwrap_or_default(),
    )
}

fn body(account: &str, user: &str, password: &str) -> Value {
    json!({ "account": account, "user": user, "password": password })
}

/// An STS client with the credentials of a sign-in's answer.
fn sts_of(broker: &TestBroker, answer: &Value) -> aws_sdk_sts::Client {
    let c = &answer["Credentials"];
    broker.sts_as(
        c["AccessKeyId"].as_str().unwrap(),
        c["SecretAccessKey"].as_str().unwrap(),
        Some(c["SessionToken"].as_str().unwrap()),
    )
}

fn iam_of(broker: &TestBroker, answer: &Value) -> aws_sdk_iam::Client {
    let c = &answer["Credentials"];
    iam_client(
        &broker.endpoint,
        Credentials::new(
            c["AccessKeyId"].as_str().unwrap(),
            c["SecretAccessKey"].as_str().unwrap(),
            Some(c["SessionToken"].as_str().unwrap().to_owned()),
            None,
            "test",
        ),
    )
}

/// Whether `broker` serves a login profile for `user` (of the first account) now.
fn serves_profile(broker: &TestBroker, user: &str) -> bool {
    broker
        .live
        .current()
        .iam_layer
        .accounts
        .get(ACCOUNT)
        .is_some_and(|r| r.document.login_profiles.contains_key(user))
}

/// When `broker` last saw `user`'s password set (its served login profile).
fn changed_at(broker: &TestBroker, user: &str) -> Option<i64> {
    broker
        .live
        .current()
        .iam_layer
        .accounts
        .get(ACCOUNT)
        .and_then(|r| {
            r.document
                .login_profiles
                .get(user)
                .map(|p| p.password_last_changed)
        })
}

/// A role of the first account that alice and bob may assume only with MFA.
async fn mfa_role(iam: &aws_sdk_iam::Client) -> String {
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":["{ALICE}","{BOB}"]}},"Action":"sts:AssumeRole","Condition":{{"Bool":{{"aws:MultiFactorAuthPresent":"true"}}}}}}]}}"#
    );
    iam.create_role()
        .role_name("needs-mfa")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_owned()
}

#[tokio::test]
async fn a_password_and_a_code_give_the_users_credentials_with_mfa_on_another_replica() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let clock = step_clock();
    let a = replica(&idp, &redis.url(), keys.path(), Arc::clone(&clock), "").await;
    let b = replica(&idp, &redis.url(), keys.path(), Arc::clone(&clock), "").await;
    let iam_a = a.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    // Alice (a user of the file, with the file's MFA device) and bob (no device).
    for user in ["alice", "bob"] {
        iam_a
            .create_login_profile()
            .user_name(user)
            .password(GOOD)
            .send()
            .await
            .unwrap();
    }
    let role = mfa_role(&iam_a).await;
    within(PROPAGATION, || async {
        serves_profile(&b, "alice") && serves_profile(&b, "bob")
    })
    .await;

    // The password alone: right, so the answer may say what is missing.
    let (status, v) = sign_in(&b.endpoint, &body(ALIAS, "alice", GOOD)).await;
    assert_eq!((status, error(&v).0), (401, "MfaRequired"), "{v}");
    assert!(error(&v).1.contains("mfa_code"), "{v}");

    // With a code, by the account's alias or id: the user's credentials, MFA recorded.
    let mut ask = body(ALIAS, "ALICE", GOOD);
    ask["mfa_code"] = json!(code(&clock, 0));
    ask["duration_seconds"] = json!(3600);
    let (status, alice) = sign_in(&b.endpoint, &ask).await;
    assert_eq!(status, 200, "{alice}");
    assert_eq!(alice["User"]["Arn"], ALICE);
    assert_eq!(alice["MfaAuthenticated"], true);
    assert_eq!(alice["PasswordChanged"], false);
    let expiration = OffsetDateTime::parse(
        alice["Credentials"]["Expiration"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(expiration, clock.now() + time::Duration::hours(1));
    let me = sts_of(&a, &alice)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.arn(), Some(ALICE));
    // aws:MultiFactorAuthPresent is true: the trust policy requiring it lets alice in.
    let assumed = sts_of(&a, &alice)
        .assume_role()
        .role_arn(&role)
        .role_session_name("alice-mfa")
        .send()
        .await
        .unwrap();
    assert!(assumed.credentials().is_some());

    // The code is spent, on every replica.
    let (status, v) = sign_in(&a.endpoint, &ask).await;
    assert_eq!((status, error(&v).0), (403, "AccessDenied"), "{v}");

    // Bob has no device: a password alone signs in, without MFA.
    let (status, bob) = sign_in(&a.endpoint, &body(ACCOUNT, "bob", GOOD)).await;
    assert_eq!(status, 200, "{bob}");
    assert_eq!(bob["MfaAuthenticated"], false);
    let e = sts_of(&b, &bob)
        .assume_role()
        .role_arn(&role)
        .role_session_name("bob-no-mfa")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.into_service_error().meta().code(), Some("AccessDenied"));
    // Such a session may not call IAM, as GetSessionToken's without MFA may not.
    let (code, status, message) = refused(iam_of(&b, &bob).get_user().send().await);
    assert_eq!((code.as_str(), status), ("AccessDenied", 403));
    assert!(
        message.contains("password sign-in made without MFA"),
        "{message}"
    );

    // The sign-ins on B (and A) are PasswordLastUsed on A once written (a second at most);
    // a user who never signed in has none.
    let took = within(PROPAGATION * 3, || async {
        let got = iam_a.get_user().user_name("alice").send().await.unwrap();
        got.user().unwrap().password_last_used().is_some()
    })
    .await;
    eprintln!("PasswordLastUsed on the other replica after {took:?}");
    let got = iam_a.get_user().user_name("alice").send().await.unwrap();
    let used = got.user().unwrap().password_last_used().unwrap();
    assert_eq!(used.secs(), clock.now().unix_timestamp());
    let listed = iam_a.list_users().send().await.unwrap();
    let by_name = |n: &str| {
        listed
            .users()
            .iter()
            .find(|u| u.user_name() == n)
            .unwrap()
            .password_last_used()
            .map(|d| d.secs())
    };
    assert_eq!(by_name("alice"), Some(clock.now().unix_timestamp()));
    within(PROPAGATION * 3, || async {
        let got = iam_a.get_user().user_name("bob").send().await.unwrap();
        got.user().unwrap().password_last_used().is_some()
    })
    .await;
    let never = iam_a.get_user().user_name("ops").send().await.unwrap();
    assert_eq!(never.user().unwrap().password_last_used(), None);
}

#[tokio::test]
async fn every_wrong_name_or_password_gets_the_same_refusal_and_stores_no_session() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let b = replica(&idp, &redis.url(), keys.path(), clock, "").await;
    let iam = b.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    iam.create_user().user_name("carol").send().await.unwrap();
    iam.create_login_profile()
        .user_name("carol")
        .password(GOOD)
        .send()
        .await
        .unwrap();
    iam.create_user().user_name("dan").send().await.unwrap();
    within(PROPAGATION, || async { serves_profile(&b, "carol") }).await;

    let cases = [
        ("wrong password", body(ALIAS, "carol", WRONG)),
        ("unknown user", body(ALIAS, "nobody", GOOD)),
        ("unknown account", body("999988887777", "carol", GOOD)),
        ("unknown alias", body("no-such-alias", "carol", GOOD)),
        (
            "user of another account",
            body("444455556666", "carol", GOOD),
        ),
        ("user without a login profile", body(ALIAS, "dan", GOOD)),
        (
            "file user without a login profile",
            body(ACCOUNT, "bob", GOOD),
        ),
    ];
    let mut answers = Vec::new();
    for (what, ask) in &cases {
        let (status, v) = sign_in(&b.endpoint, ask).await;
        answers.push((what, status, error(&v).0.to_owned(), error(&v).1.to_owned()));
        let text = v.to_string();
        assert!(!text.contains(GOOD) && !text.contains(WRONG), "{text}");
    }
    for (what, status, code, message) in &answers {
        assert_eq!(
            (*status, code.as_str(), message.as_str()),
            (401, "InvalidCredentials", answers[0].3.as_str()),
            "{what}"
        );
    }
    // No session was stored for any of them.
    assert!(
        redis
            .keys()
            .await
            .iter()
            .all(|k| !k.starts_with("sts-broker:session:")),
        "{:?}",
        redis.keys().await
    );

    // Bad input: its own error, never quoting a value, nothing counted or stored.
    let long = "x".repeat(129);
    let bad: [(&str, Value, u16, &str); 8] = [
        (
            "no password",
            json!({"account": ALIAS, "user": "carol"}),
            400,
            "InvalidRequest",
        ),
        (
            "unknown member",
            json!({"account": ALIAS, "user": "carol", "password": GOOD, "role": "x"}),
            400,
            "InvalidRequest",
        ),
        (
            "password too long",
            body(ALIAS, "carol", &long),
            400,
            "ValidationError",
        ),
        (
            "account shape",
            body("Acme Corp!", "carol", GOOD),
            400,
            "ValidationError",
        ),
        (
            "user shape",
            body(ALIAS, "carol smith", GOOD),
            400,
            "ValidationError",
        ),
        (
            "code shape",
            json!({"account": ALIAS, "user": "carol", "password": GOOD, "mfa_code": "12ab56"}),
            400,
            "ValidationError",
        ),
        (
            "duration",
            json!({"account": ALIAS, "user": "carol", "password": GOOD, "duration_seconds": 129_601}),
            400,
            "ValidationError",
        ),
        (
            "serial without code",
            json!({"account": ALIAS, "user": "carol", "password": GOOD, "mfa_serial": ALICE_MFA_SERIAL}),
            400,
            "ValidationError",
        ),
    ];
    for (what, ask, status, code) in bad {
        let (got, v) = sign_in(&b.endpoint, &ask).await;
        assert_eq!((got, error(&v).0), (status, code), "{what}: {v}");
        assert!(!v.to_string().contains(GOOD), "{what}: {v}");
    }
    let http = reqwest::Client::new();
    // A body that is not JSON, or not said to be, and one past the bound.
    let r = http
        .post(format!("{}/signin", b.endpoint))
        .header("content-type", "application/json")
        .body(format!("{{\"password\": \"{GOOD}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(!r.text().await.unwrap().contains(GOOD));
    let r = http
        .post(format!("{}/signin", b.endpoint))
        .body(body(ALIAS, "carol", GOOD).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = http
        .post(format!("{}/signin", b.endpoint))
        .header("content-type", "application/json")
        .body(format!(
            "{{\"account\":\"{ALIAS}\",\"user\":\"carol\",\"password\":\"{}\"}}",
            "x".repeat(9000)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let v: Value = r.json().await.unwrap();
    assert_eq!(error(&v).0, "RequestEntityTooLarge");
    let r = http
        .get(format!("{}/signin", b.endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let v: Value = r.json().await.unwrap();
    assert_eq!(error(&v).0, "MethodNotAllowed");

    // One wrong password above, none from the bad input: carol still signs in (3 would lock).
    let (status, v) = sign_in(&b.endpoint, &body(ALIAS, "carol", GOOD)).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn an_expired_or_reset_password_is_changed_at_sign_in_as_the_policy_says() {
    let idp = TestIdp::start().await;
    let keys = tempfile::tempdir().unwrap();
    let start = OffsetDateTime::now_utc();
    let clock = Arc::new(ManualClock::new(start));
    let b = replica(&idp, "memory://", keys.path(), Arc::clone(&clock), "").await;
    let iam = b.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    // Users may not change their own password, yet must change an expired or reset one.
    let policy = |hard: bool| {
        iam.update_account_password_policy()
            .minimum_password_length(14)
            .require_numbers(true)
            .require_symbols(true)
            .max_password_age(90)
            .password_reuse_prevention(2)
            .hard_expiry(hard)
            .send()
    };
    policy(false).await.unwrap();
    iam.create_user().user_name("erin").send().await.unwrap();
    iam.create_login_profile()
        .user_name("erin")
        .password(GOOD)
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async { serves_profile(&b, "erin") }).await;
    let (status, v) = sign_in(&b.endpoint, &body(ALIAS, "erin", GOOD)).await;
    assert_eq!(status, 200, "{v}");
    // Not asked for, and the policy does not let users change theirs: refused.
    let mut change = body(ALIAS, "erin", GOOD);
    change["new_password"] = json!(OTHER);
    let (status, v) = sign_in(&b.endpoint, &change).await;
    assert_eq!((status, error(&v).0), (403, "AccessDenied"), "{v}");

    // An administrator requires a new one.
    iam.update_login_profile()
        .user_name("erin")
        .password_reset_required(true)
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async {
        sign_in(&b.endpoint, &body(ALIAS, "erin", GOOD)).await.0 == 403
    })
    .await;
    let (status, v) = sign_in(&b.endpoint, &body(ALIAS, "erin", GOOD)).await;
    assert_eq!((status, error(&v).0), (403, "PasswordResetRequired"), "{v}");
    assert!(error(&v).1.contains("new_password"), "{v}");
    // The new password follows the policy, reuse included; the refusals name the rule.
    for (new, rule) in [("short", "minimum length of 14"), (GOOD, "used before")] {
        let mut ask = body(ALIAS, "erin", GOOD);
        ask["new_password"] = json!(new);
        let (status, v) = sign_in(&b.endpoint, &ask).await;
        assert_eq!(
            (status, error(&v).0),
            (400, "PasswordPolicyViolation"),
            "{v}"
        );
        assert!(error(&v).1.contains(rule), "{v}");
    }
    let mut ask = body(ALIAS, "erin", GOOD);
    ask["new_password"] = json!(OTHER);
    let (status, v) = sign_in(&b.endpoint, &ask).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["PasswordChanged"], true);
    within(PROPAGATION, || async {
        let p = iam
            .get_login_profile()
            .user_name("erin")
            .send()
            .await
            .unwrap();
        !p.login_profile().unwrap().password_reset_required()
    })
    .await;
    let (status, _) = sign_in(&b.endpoint, &body(ALIAS, "erin", OTHER)).await;
    assert_eq!(status, 200);

    // 91 days on: expired, changed at sign-in (never to one of the last two).
    clock.set(start + time::Duration::days(91));
    let (status, v) = sign_in(&b.endpoint, &body(ALIAS, "erin", OTHER)).await;
    assert_eq!((status, error(&v).0), (403, "PasswordExpired"), "{v}");
    let mut ask = body(ALIAS, "erin", OTHER);
    ask["new_password"] = json!(GOOD);
    let (status, v) = sign_in(&b.endpoint, &ask).await;
    assert_eq!(
        (status, error(&v).0),
        (400, "PasswordPolicyViolation"),
        "{v}"
    );
    ask["new_password"] = json!(THIRD);
    let (status, v) = sign_in(&b.endpoint, &ask).await;
    assert_eq!(status, 200, "{v}");
    let expired_at = (start + time::Duration::days(91)).unix_timestamp();
    within(PROPAGATION, || async {
        changed_at(&b, "erin") == Some(expired_at)
    })
    .await;
    let (status, _) = sign_in(&b.endpoint, &body(ALIAS, "erin", THIRD)).await;
    assert_eq!(status, 200);
    let (status, v) = sign_in(&b.endpoint, &body(ALIAS, "erin", OTHER)).await;
    assert_eq!((status, error(&v).0), (401, "InvalidCredentials"), "{v}");

    // With HardExpiry, an expired password cannot be changed by its user.
    clock.set(start);
    policy(true).await.unwrap();
    within(PROPAGATION, || async {
        b.live
            .current()
            .iam_layer
            .accounts
            .get(ACCOUNT)
            .and_then(|r| r.document.password_policy)
            .is_some_and(|p| p.hard_expiry)
    })
    .await;
    clock.set(start + time::Duration::days(200));
    let mut ask = body(ALIAS, "erin", THIRD);
    ask["new_password"] = json!("Fourth-Horse-45-Stapler");
    let (status, v) = sign_in(&b.endpoint, &ask).await;
    assert_eq!((status, error(&v).0), (403, "PasswordExpired"), "{v}");
    assert!(error(&v).1.contains("HardExpiry"), "{v}");
}

/// Audit reasons of the sign-in lines written to `path` so far.
fn audit_reasons(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["action"] == "signin:SignIn")
        .map(|l| l["reason"].as_str().unwrap_or("allowed").to_owned())
        .collect()
}

#[tokio::test]
async fn wrong_passwords_lock_a_user_on_every_replica_until_the_window_passes() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let audit = "\n[audit]\noutput = \"audit.log\"\n";
    let a = replica(&idp, &redis.url(), keys.path(), Arc::clone(&clock), audit).await;
    let b = replica(&idp, &redis.url(), keys.path(), Arc::clone(&clock), audit).await;
    let iam = a.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    iam.update_account_password_policy()
        .allow_users_to_change_password(true)
        .send()
        .await
        .unwrap();
    iam.create_user().user_name("frank").send().await.unwrap();
    iam.put_user_policy()
        .user_name("frank")
        .policy_name("own-password")
        .policy_document(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iam:ChangePassword","Resource":"arn:aws:iam::{ACCOUNT}:user/frank"}}]}}"#
        ))
        .send()
        .await
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name("frank")
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();
    let frank = a.iam_as(key.access_key_id(), key.secret_access_key());
    iam.create_login_profile()
        .user_name("frank")
        .password(GOOD)
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async {
        serves_profile(&a, "frank") && serves_profile(&b, "frank")
    })
    .await;
    let wrong = body(ALIAS, "frank", WRONG);
    let right = body(ALIAS, "frank", GOOD);

    // Two failures, then a success: the count starts over.
    assert_eq!(sign_in(&a.endpoint, &wrong).await.0, 401);
    assert_eq!(sign_in(&b.endpoint, &wrong).await.0, 401);
    assert_eq!(sign_in(&a.endpoint, &right).await.0, 200);
    // Three failures split across A and B (by id and by alias: one name) lock frank.
    assert_eq!(sign_in(&b.endpoint, &wrong).await.0, 401);
    assert_eq!(
        sign_in(&a.endpoint, &body(ACCOUNT, "Frank", WRONG)).await.0,
        401
    );
    assert_eq!(sign_in(&b.endpoint, &wrong).await.0, 401);
    let lock = format!("sts-broker:signin-failures:{ACCOUNT}:frank");
    assert!(redis.all_keys().await.contains(&lock));
    // The right password is refused on both, with the one answer, and is not verified.
    for broker in [&a, &b] {
        let (status, v) = sign_in(&broker.endpoint, &right).await;
        assert_eq!((status, error(&v).0), (401, "InvalidCredentials"), "{v}");
    }
    let a_audit = a.dir.path().join("audit.log");
    within(PROPAGATION, || async {
        audit_reasons(&a_audit).last().map(String::as_str) == Some("signInLocked")
    })
    .await;
    assert_eq!(
        audit_reasons(&a_audit),
        ["wrongPassword", "allowed", "wrongPassword", "signInLocked"]
    );

    // A minute on (the broker's clock): frank signs in again.
    clock.advance(time::Duration::seconds(61));
    let (status, v) = sign_in(&b.endpoint, &right).await;
    assert_eq!(status, 200, "{v}");

    // Wrong old passwords given to ChangePassword count too.
    for _ in 0..2 {
        let (code, status, message) = refused(
            frank
                .change_password()
                .old_password(WRONG)
                .new_password(OTHER)
                .send()
                .await,
        );
        assert_eq!((code.as_str(), status), ("AccessDenied", 403), "{message}");
        assert!(message.contains("old password is incorrect"), "{message}");
    }
    assert_eq!(sign_in(&b.endpoint, &wrong).await.0, 401);
    assert_eq!(sign_in(&a.endpoint, &right).await.0, 401);
    let (code, _, message) = refused(
        frank
            .change_password()
            .old_password(GOOD)
            .new_password(OTHER)
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied");
    assert!(message.contains("lockout"), "{message}");

    // An unknown name locks after as many tries, so locks say nothing about who exists.
    for _ in 0..3 {
        assert_eq!(
            sign_in(&a.endpoint, &body(ALIAS, "nobody", WRONG)).await.0,
            401
        );
    }
    assert!(
        redis
            .all_keys()
            .await
            .contains(&format!("sts-broker:signin-failures:{ACCOUNT}:nobody"))
    );
    clock.advance(time::Duration::seconds(61));
    let before = changed_at(&a, "frank");
    frank
        .change_password()
        .old_password(GOOD)
        .new_password(OTHER)
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async { changed_at(&a, "frank") != before }).await;
    let (status, v) = sign_in(&a.endpoint, &body(ALIAS, "frank", OTHER)).await;
    assert_eq!(status, 200, "{v}");

    // Guesses sent at once on both replicas cannot outrun the count: an attempt is taken
    // before its password is verified, so exactly the limit (3) are verified, the rest refused
    // as locked without any.
    let b_audit = b.dir.path().join("audit.log");
    // The sign-in just made is audited (after its answer) before the lines are counted.
    within(PROPAGATION, || async {
        audit_reasons(&a_audit).last().map(String::as_str) == Some("allowed")
    })
    .await;
    let (seen_a, seen_b) = (audit_reasons(&a_audit).len(), audit_reasons(&b_audit).len());
    let guesses = (0..12).map(|i| {
        let endpoint = if i % 2 == 0 { &a.endpoint } else { &b.endpoint };
        let guess = body(ALIAS, "frank", &format!("{WRONG}{i}"));
        async move { sign_in(endpoint, &guess).await.0 }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let burst = || {
        let mut all = audit_reasons(&a_audit).split_off(seen_a);
        all.extend(audit_reasons(&b_audit).split_off(seen_b));
        all
    };
    within(PROPAGATION, || async { burst().len() == 12 }).await;
    let verified = burst().iter().filter(|r| *r == "wrongPassword").count();
    let locked = burst().iter().filter(|r| *r == "signInLocked").count();
    assert_eq!((verified, locked), (3, 9), "{:?}", burst());
}

#[tokio::test]
async fn lockout_settings_are_checked() {
    for (line, problem) in [
        ("max_failures = 0", "max_failures must be 1 to 100 (got 0)"),
        ("max_failures = 101", "max_failures must be 1 to 100"),
        (
            "lockout_seconds = 59",
            "lockout_seconds must be 60 to 86400 (got 59)",
        ),
        (
            "lockout_seconds = -1",
            "lockout_seconds must be 60 to 86400",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let toml = format!("[keys]\ndir = \"keys\"\n\n[signin]\n{line}\n");
        let e = sts_broker::config::Config::from_toml(&toml, "broker.toml", dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains(problem), "{line}: {e}");
        assert!(e.contains("broker.toml:5"), "{line}: {e}");
    }
    let dir = tempfile::tempdir().unwrap();
    let config = sts_broker::config::Config::from_toml(
        "[keys]\ndir = \"keys\"\n\n[signin]\nmax_failures = 10\nlockout_seconds = 3600\n",
        "broker.toml",
        dir.path(),
    )
    .unwrap();
    assert_eq!(config.signin.max_failures, 10);
    assert_eq!(config.signin.lockout, Duration::from_secs(3600));
}

const BIN: &str = env!("CARGO_BIN_EXE_sts-broker");

/// `sts-broker login ARGS` with `stdin` piped (not a terminal: one line per prompt), off the
/// runtime; its exit status, stdout and stderr.
async fn login(args: Vec<String>, stdin: String) -> (bool, String, String) {
    let done = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(BIN)
            .arg("login")
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    });
    let out = tokio::time::timeout(Duration::from_secs(60), done)
        .await
        .expect("login hung")
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test]
async fn the_login_command_signs_in_for_the_aws_cli_and_no_password_is_logged_or_stored() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = config(
        dir.path(),
        &idp,
        &redis.url(),
        "\n[audit]\noutput = \"audit.log\"\n",
    );
    let path = dir.path().join("broker.toml");
    std::fs::write(&path, toml).unwrap();
    let server = crate::serve::serve(path.to_str().unwrap());
    let endpoint = server.endpoint.clone();
    crate::serve::wait_ready(&endpoint).await;
    let iam = iam_client(
        &endpoint,
        Credentials::new(ADMIN_KEY_ID, ADMIN_SECRET, None, None, "test"),
    );
    iam.create_login_profile()
        .user_name("alice")
        .password(GOOD)
        .send()
        .await
        .unwrap();
    iam.create_login_profile()
        .user_name("bob")
        .password(OTHER)
        .password_reset_required(true)
        .send()
        .await
        .unwrap();
    // Served once the broker's next poll swapped them in (its reads show the same state).
    within(PROPAGATION * 2, || async {
        let got = iam.get_login_profile().user_name("bob").send().await;
        got.is_ok()
    })
    .await;
    let args = |user: &str, extra: &[&str]| {
        let mut a: Vec<String> = ["--endpoint", &endpoint, "--account", ALIAS, "--user", user]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    let sts_with = |c: &Value| {
        crate::harness::broker::sts_client(
            &endpoint,
            Some(Credentials::new(
                c["AccessKeyId"].as_str().unwrap(),
                c["SecretAccessKey"].as_str().unwrap(),
                Some(c["SessionToken"].as_str().unwrap().to_owned()),
                None,
                "test",
            )),
        )
    };

    // Alice: the password, then (asked for) a code; credential_process JSON.
    let seed = Seed::from_base32(ALICE_MFA_SEED).unwrap();
    let code = code_at(&seed, OffsetDateTime::now_utc());
    let (ok, out, err) = login(
        args(
            "alice",
            &["--credential-process", "--duration-seconds", "900"],
        ),
        format!("{GOOD}\n{code}\n"),
    )
    .await;
    assert!(ok, "{err}");
    let process: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(process["Version"], 1);
    assert!(
        process["AccessKeyId"].as_str().unwrap().starts_with("ASIA"),
        "{process}"
    );
    OffsetDateTime::parse(
        process["Expiration"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let me = sts_with(&process)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.arn(), Some(ALICE));

    // Bob must set a new password: asked twice, then signed in; export lines by default.
    let (ok, out, err) = login(args("bob", &[]), format!("{OTHER}\n{THIRD}\n{THIRD}\n")).await;
    assert!(ok, "{err}");
    assert!(
        err.contains("new password"),
        "the broker's reason is shown: {err}"
    );
    let exported: std::collections::HashMap<&str, &str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k, v.trim_matches('\'')))
        .collect();
    let c = json!({
        "AccessKeyId": exported["AWS_ACCESS_KEY_ID"],
        "SecretAccessKey": exported["AWS_SECRET_ACCESS_KEY"],
        "SessionToken": exported["AWS_SESSION_TOKEN"],
    });
    let me = sts_with(&c).get_caller_identity().send().await.unwrap();
    assert_eq!(me.arn(), Some(BOB));

    // Refusals: a clear sentence on stderr, a non-zero exit, nothing on stdout.
    let (ok, out, err) = login(args("bob", &[]), format!("{WRONG}\n")).await;
    assert!(!ok && out.is_empty(), "{out}");
    assert!(
        err.starts_with("error: sign-in refused: ") && err.contains("(InvalidCredentials;"),
        "{err}"
    );
    let (ok, _, err) = login(args("alice", &[]), format!("{GOOD}\n")).await;
    assert!(!ok);
    assert!(
        err.contains("standard input ended before the MFA code"),
        "{err}"
    );
    let (ok, _, err) = login(
        ["--endpoint", "ftp://x", "--account", ALIAS, "--user", "bob"]
            .map(str::to_owned)
            .to_vec(),
        String::new(),
    )
    .await;
    assert!(!ok && err.contains("http:// or https://"), "{err}");

    // The AWS CLI with a profile whose credential_process signs bob in from a password file.
    let password_file = dir.path().join("bob.password");
    std::fs::write(&password_file, format!("{THIRD}\n")).unwrap();
    let aws_config = dir.path().join("aws-config");
    std::fs::write(
        &aws_config,
        format!(
            "[profile signin]\nregion = us-east-1\ncredential_process = {BIN} login \
             --endpoint {endpoint} --account {ACCOUNT} --user bob --credential-process \
             --password-file {}\n",
            password_file.display()
        ),
    )
    .unwrap();
    let mut aws = crate::analyzer::isolated("aws");
    aws.args([
        "sts",
        "get-caller-identity",
        "--profile",
        "signin",
        "--endpoint-url",
        &endpoint,
        "--output",
        "json",
    ])
    .env("AWS_CONFIG_FILE", &aws_config);
    let out: Value = serde_json::from_str(&crate::analyzer::run(aws, String::new()).await).unwrap();
    assert_eq!(out["Arn"], BOB);

    // No password in the broker's log, its audit log or the store.
    let stored = crate::iam_mfa::redis_contents(&redis).await;
    assert!(stored.contains("$argon2id$"), "the hashes are stored");
    let log = crate::serve::stop(server);
    let audit = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
    assert!(audit.contains("signin:SignIn"), "{audit}");
    for password in [GOOD, OTHER, THIRD, WRONG] {
        for (place, text) in [("log", &log), ("audit log", &audit), ("store", &stored)] {
            assert!(!text.contains(password), "a password is in the {place}");
        }
    }
}

#[tokio::test]
async fn the_accounts_root_signs_in_with_its_configured_password_and_mfa() {
    const SEED_VAR: &str = "STS_BROKER_TEST_SIGNIN_ROOT_SEED";
    const ROOT_SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    const ROOT_PASSWORD: &str = "Root-Horse-99-Vault!";
    let idp = TestIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let hash = sts_broker::iam::passwords::hash_password(
        &sts_broker::secret::Secret::new(ROOT_PASSWORD.to_owned()),
        b"root-salt-16byte",
        sts_broker::iam::passwords::CURRENT_PARAMS,
    )
    .unwrap();
    std::fs::write(dir.path().join("root.hash"), hash.as_str()).unwrap();
    let toml = config(dir.path(), &idp, "memory://", "").replacen(
        &format!("alias = \"{ALIAS}\"\n"),
        &format!(
            "alias = \"{ALIAS}\"\nroot = {{ password_file = \"root.hash\", mfa_secret_env = \"{SEED_VAR}\" }}\n"
        ),
        1,
    );
    let path = dir.path().join("broker.toml");
    std::fs::write(&path, toml).unwrap();
    let server = crate::serve::serve_with_env(path.to_str().unwrap(), &[(SEED_VAR, ROOT_SEED)]);
    let endpoint = server.endpoint.clone();
    crate::serve::wait_ready(&endpoint).await;
    let root = |password: &str| json!({"account": ALIAS, "root": true, "password": password});

    let (status, v) = sign_in(&endpoint, &root(ROOT_PASSWORD)).await;
    assert_eq!((status, error(&v).0), (401, "MfaRequired"), "{v}");
    let (status, v) = sign_in(&endpoint, &root(WRONG)).await;
    assert_eq!((status, error(&v).0), (401, "InvalidCredentials"), "{v}");
    // A user and the root at once, or neither: bad input.
    let mut both = root(ROOT_PASSWORD);
    both["user"] = json!("alice");
    let (status, v) = sign_in(&endpoint, &both).await;
    assert_eq!((status, error(&v).0), (400, "ValidationError"), "{v}");
    // The root of an account without one configured: the one refusal.
    let (status, v) = sign_in(
        &endpoint,
        &json!({"account": "444455556666", "root": true, "password": ROOT_PASSWORD}),
    )
    .await;
    assert_eq!((status, error(&v).0), (401, "InvalidCredentials"), "{v}");

    // `login --root`: the password, then the code of the root's device.
    let seed = Seed::from_base32(ROOT_SEED).unwrap();
    let code = code_at(&seed, OffsetDateTime::now_utc());
    let (ok, out, err) = login(
        [
            "--endpoint",
            &endpoint,
            "--account",
            ALIAS,
            "--root",
            "--credential-process",
        ]
        .map(str::to_owned)
        .to_vec(),
        format!("{ROOT_PASSWORD}\n{code}\n"),
    )
    .await;
    assert!(ok, "{err}");
    let c: Value = serde_json::from_str(&out).unwrap();
    // The root's session lasts an hour at most (the default 12 hours asked for).
    let expires = OffsetDateTime::parse(
        c["Expiration"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(
        expires <= OffsetDateTime::now_utc() + time::Duration::seconds(3600),
        "{expires}"
    );
    let sts = crate::harness::broker::sts_client(
        &endpoint,
        Some(Credentials::new(
            c["AccessKeyId"].as_str().unwrap(),
            c["SecretAccessKey"].as_str().unwrap(),
            Some(c["SessionToken"].as_str().unwrap().to_owned()),
            None,
            "test",
        )),
    );
    let me = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::111122223333:root"));
    assert_eq!(me.user_id(), Some(ACCOUNT));
    let log = crate::serve::stop(server);
    assert!(!log.contains(ROOT_PASSWORD) && !log.contains(ROOT_SEED));
}
