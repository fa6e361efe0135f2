//! IAM's credential report and the root user through the real `aws-sdk-iam` and `aws-sdk-sts`
//! clients, on two replicas sharing a real Redis and one manual clock (the SDK clients sign
//! with it too): `ReportNotPresent` before any report, `STARTED` then `COMPLETE`, a report made
//! on one replica read on the other, parsed with the `csv` crate against IAM's exact columns
//! for users in every state this broker has, the same CSV printed by `sts-broker report
//! credentials`, `ReportExpired` 4 hours later; a root access key signing as the account's
//! root, allowed in its account and refused in another; `check-config`'s hygiene warnings and
//! its refusal of a bad root; the startup warning about root access keys.

use std::sync::Arc;
use std::time::SystemTime;

use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sts::config::retry::RetryConfig;
use sts_broker::clock::{Clock, ManualClock};
use sts_broker::config::Config;
use sts_broker::iam::report::COLUMNS;

use crate::harness::broker::{TestBroker, store_toml};
use crate::harness::redis::RedisServer;
use crate::iam_roles::refused;

const ACCOUNT: &str = "111122223333";
const OTHER: &str = "444455556666";
const ADMIN_KEY: &str = "AKIAREPORTADMINAAAAA";
const ADMIN_SECRET: &str = "reportAdminSecretAccessKey/EXAMPLE+01234";
const DAVE_KEY: &str = "AKIAREPORTDAVEAAAAAA";
const DAVE_OLD_KEY: &str = "AKIAREPORTDAVEBBBBBB";
const DAVE_SECRET: &str = "reportDaveSecretAccessKey/EXAMPLE+012345";
const ROOT_KEY: &str = "AKIAREPORTROOTAAAAAA";
const ROOT_SECRET: &str = "reportRootSecretAccessKey/EXAMPLE+012345";
const FOREIGN_KEY: &str = "AKIAREPORTFOREIGNAAA";
const FOREIGN_SECRET: &str = "reportForeignSecretAccessKey/EXAMPLE+012";
const CAROL_SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
/// An Argon2id PHC string (RFC 9106's second recommended parameters).
const ROOT_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";

/// The SDK clients' clock: the broker's manual clock, so requests stay within SigV4's skew
/// when the test moves time.
#[derive(Debug)]
struct Follows(Arc<ManualClock>);

impl aws_smithy_async::time::TimeSource for Follows {
    fn now(&self) -> SystemTime {
        SystemTime::from(self.0.now())
    }
}

fn iam(
    broker: &TestBroker,
    clock: &Arc<ManualClock>,
    key: &str,
    secret: &str,
) -> aws_sdk_iam::Client {
    let conf = aws_sdk_iam::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&broker.endpoint)
        .retry_config(RetryConfig::disabled())
        .time_source(Follows(Arc::clone(clock)))
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
        .build();
    aws_sdk_iam::Client::from_conf(conf)
}

fn sts(
    broker: &TestBroker,
    clock: &Arc<ManualClock>,
    key: &str,
    secret: &str,
) -> aws_sdk_sts::Client {
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&broker.endpoint)
        .retry_config(RetryConfig::disabled())
        .time_source(Follows(Arc::clone(clock)))
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
        .build();
    aws_sdk_sts::Client::from_conf(conf)
}

/// The fixture: in account A an IAM administrator whose key is used, carol with an MFA device
/// and no key, dave with an active and an inactive key, the root with a password and an access
/// key; in account B an administrator and a role trusting account A. Files are written to
/// `dir`; `keys` is the replicas' shared keys folder.
fn config(dir: &std::path::Path, store: &str, keys: &std::path::Path) -> String {
    let admin = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["iam:*", "sts:*"], "Resource": "*"}]}"#;
    std::fs::write(dir.join("admin.json"), admin).unwrap();
    for (file, secret) in [
        ("admin.secret", ADMIN_SECRET),
        ("dave.secret", DAVE_SECRET),
        ("root.secret", ROOT_SECRET),
        ("foreign.secret", FOREIGN_SECRET),
        ("carol.seed", CAROL_SEED),
        ("root.hash", ROOT_HASH),
    ] {
        std::fs::write(dir.join(file), secret).unwrap();
    }
    let store = store_toml(dir, store);
    let toml = format!(
        r#"[server]
listen = "127.0.0.1:0"

[store]
{store}

[keys]
dir = {keys:?}

[[accounts]]
id = "{ACCOUNT}"
root = {{ password_file = "root.hash", access_keys = [{{ id = "{ROOT_KEY}", secret_file = "root.secret", created = "2026-03-01T00:00:00Z" }}] }}

[[accounts]]
id = "{OTHER}"

[[users]]
account = "{ACCOUNT}"
name = "admin"
policy_files = ["admin.json"]
access_keys = [{{ id = "{ADMIN_KEY}", secret_file = "admin.secret", created = "2026-01-01T00:00:00Z" }}]

[[users]]
account = "{ACCOUNT}"
name = "carol"

[[mfa_devices]]
account = "{ACCOUNT}"
user = "carol"
serial = "arn:aws:iam::{ACCOUNT}:mfa/carol"
secret_file = "carol.seed"

[[users]]
account = "{ACCOUNT}"
name = "dave"
access_keys = [
  {{ id = "{DAVE_KEY}", secret_file = "dave.secret", created = "2026-02-01T00:00:00Z" }},
  {{ id = "{DAVE_OLD_KEY}", secret_file = "dave.secret", status = "Inactive" }},
]

[[users]]
account = "{OTHER}"
name = "foreign-admin"
policy_files = ["admin.json"]
access_keys = [{{ id = "{FOREIGN_KEY}", secret_file = "foreign.secret" }}]

[[roles]]
account = "{OTHER}"
name = "vendor"
trust_policy = '{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{ACCOUNT}:root"}}, "Action": "sts:AssumeRole"}}]}}'
"#,
        keys = keys.to_str().unwrap(),
    );
    std::fs::write(dir.join("broker.toml"), &toml).unwrap();
    toml
}

async fn replica(redis: &str, keys: &std::path::Path, clock: &Arc<ManualClock>) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let toml = config(dir.path(), redis, keys);
    TestBroker::from_toml_with_clock(dir, &toml, Arc::clone(clock) as Arc<dyn Clock>).await
}

/// The report's rows, parsed as CSV, after checking its header is IAM's.
fn parsed(csv_text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header, COLUMNS.to_vec(), "IAM's columns, in order");
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

fn iso(t: time::OffsetDateTime) -> String {
    sts_broker::iam::report::report_time(t)
}

#[tokio::test]
async fn the_report_lists_every_credential_state_on_every_replica_and_expires() {
    let redis = RedisServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let t0 = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let a = replica(&redis.url(), keys.path(), &clock).await;
    let b = replica(&redis.url(), keys.path(), &clock).await;
    let admin_a = iam(&a, &clock, ADMIN_KEY, ADMIN_SECRET);
    let admin_b = iam(&b, &clock, ADMIN_KEY, ADMIN_SECRET);

    // Nothing generated yet: IAM's 410.
    let (code, status, _) = refused(admin_b.get_credential_report().send().await);
    assert_eq!((code.as_str(), status), ("ReportNotPresent", 410));
    // A caller not allowed to generate one is refused, and nothing is stored.
    let dave = iam(&a, &clock, DAVE_KEY, DAVE_SECRET);
    let (code, status, _) = refused(dave.generate_credential_report().send().await);
    assert_eq!((code.as_str(), status), ("AccessDenied", 403));
    let (code, _, _) = refused(dave.get_credential_report().send().await);
    assert_eq!(code, "AccessDenied");
    let (code, _, _) = refused(admin_a.get_credential_report().send().await);
    assert_eq!(code, "ReportNotPresent");

    // API users: one without keys, one with a key never used.
    admin_a
        .create_user()
        .user_name("nokeys")
        .send()
        .await
        .unwrap();
    admin_a
        .create_user()
        .user_name("neverused")
        .send()
        .await
        .unwrap();
    let created = admin_a
        .create_access_key()
        .user_name("neverused")
        .send()
        .await
        .unwrap();
    let unused_key = created.access_key().unwrap().access_key_id().to_owned();

    // The root's key signs as the account's root: an STS call, then an IAM one in its account.
    let root_sts = sts(&a, &clock, ROOT_KEY, ROOT_SECRET);
    let me = root_sts.get_caller_identity().send().await.unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::111122223333:root"));
    assert_eq!(me.user_id(), Some(ACCOUNT));
    assert_eq!(me.account(), Some(ACCOUNT));
    let root_iam = iam(&a, &clock, ROOT_KEY, ROOT_SECRET);
    let users = root_iam.list_users().send().await.unwrap();
    assert_eq!(users.users().len(), 5, "{users:?}");

    // Every use noted so far is written (what the replicas' task does once a second).
    for r in [&a, &b] {
        r.state.key_use.flush(&r.state.store).await.unwrap();
    }

    let started = admin_a.generate_credential_report().send().await.unwrap();
    assert_eq!(started.state().map(|s| s.as_str()), Some("STARTED"));
    assert!(started.description().is_some());
    let again = admin_a.generate_credential_report().send().await.unwrap();
    assert_eq!(again.state().map(|s| s.as_str()), Some("COMPLETE"));

    // Read on the other replica.
    let got = admin_b.get_credential_report().send().await.unwrap();
    assert_eq!(got.report_format().map(|f| f.as_str()), Some("text/csv"));
    assert_eq!(got.generated_time().unwrap().secs(), t0.unix_timestamp());
    let content = got.content().unwrap().as_ref().to_vec();
    let text = String::from_utf8(content).unwrap();
    let t = iso(t0);
    let expected: Vec<String> = vec![
        format!(
            "<root_account>,arn:aws:iam::{ACCOUNT}:root,N/A,not_supported,no_information,not_supported,not_supported,false,true,2026-03-01T00:00:00+00:00,{t},us-east-1,iam,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
        ),
        format!(
            "admin,arn:aws:iam::{ACCOUNT}:user/admin,N/A,false,N/A,N/A,N/A,false,true,2026-01-01T00:00:00+00:00,{t},us-east-1,iam,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
        ),
        format!(
            "carol,arn:aws:iam::{ACCOUNT}:user/carol,N/A,false,N/A,N/A,N/A,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
        ),
        format!(
            "dave,arn:aws:iam::{ACCOUNT}:user/dave,N/A,false,N/A,N/A,N/A,false,true,2026-02-01T00:00:00+00:00,{t},us-east-1,iam,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
        ),
        format!(
            "neverused,arn:aws:iam::{ACCOUNT}:user/neverused,{t},false,N/A,N/A,N/A,false,true,{t},N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
        ),
        format!(
            "nokeys,arn:aws:iam::{ACCOUNT}:user/nokeys,{t},false,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
        ),
    ];
    let rows: Vec<String> = parsed(&text).iter().map(|r| r.join(",")).collect();
    assert_eq!(rows, expected, "{text}");
    assert!(!text.contains(&unused_key), "keys are not named");
    assert!(!text.contains("foreign-admin"), "only the caller's account");

    // The command prints the same CSV from the store (the report's rows as of now).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sts-broker"))
        .args(["report", "credentials", "--account", ACCOUNT, "--config"])
        .arg(a.dir.path().join("broker.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let printed_rows: Vec<String> = parsed(&printed).iter().map(|r| r.join(",")).collect();
    assert_eq!(printed_rows, expected);
    // Every account, each with its header.
    let config = Config::load(&a.dir.path().join("broker.toml")).unwrap();
    let all = sts_broker::cli::report::credentials(&config, None, t0).await;
    assert_eq!(all.status, 0, "{}", all.stderr);
    let (first, second) = all.stdout.split_once("\n\n").unwrap();
    assert_eq!(format!("{first}\n"), text);
    assert_eq!(parsed(second)[1][0], "foreign-admin");
    let unknown = sts_broker::cli::report::credentials(&config, Some("999999999999"), t0).await;
    assert_eq!(unknown.status, 1);

    // Four hours on, the report has expired; generating again starts a new one. (New
    // clients: one that has had an answer corrects its clock by the answer's `Date`.)
    clock.advance(time::Duration::hours(4));
    let later = |r: &TestBroker| iam(r, &clock, ADMIN_KEY, ADMIN_SECRET);
    let (code, status, _) = refused(later(&b).get_credential_report().send().await);
    assert_eq!((code.as_str(), status), ("ReportExpired", 410));
    let started = later(&b).generate_credential_report().send().await.unwrap();
    assert_eq!(started.state().map(|s| s.as_str()), Some("STARTED"));
    let got = later(&a).get_credential_report().send().await.unwrap();
    assert_eq!(
        got.generated_time().unwrap().secs(),
        (t0 + time::Duration::hours(4)).unix_timestamp()
    );
}

#[tokio::test]
async fn a_root_access_key_is_allowed_in_its_account_only() {
    let redis = RedisServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let a = replica(&redis.url(), keys.path(), &clock).await;
    let root_iam = iam(&a, &clock, ROOT_KEY, ROOT_SECRET);
    let root_sts = sts(&a, &clock, ROOT_KEY, ROOT_SECRET);

    // No identity policy is needed in its own account: it made a user and its report.
    root_iam
        .create_user()
        .user_name("made-by-root")
        .send()
        .await
        .unwrap();
    root_iam.generate_credential_report().send().await.unwrap();

    // Another account's key is not its to read, and no role is assumed with root's key, even
    // one whose trust names the account's root (AWS's rule).
    let (code, status, _) = refused(
        root_iam
            .get_access_key_last_used()
            .access_key_id(FOREIGN_KEY)
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("AccessDenied", 403));
    let (code, status, message) = refused(
        root_sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{OTHER}:role/vendor"))
            .role_session_name("root")
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("AccessDenied", 403));
    assert_eq!(message, "Roles may not be assumed by root accounts.");
    // The other account's administrator sees nothing of it in its own report.
    let foreign = iam(&a, &clock, FOREIGN_KEY, FOREIGN_SECRET);
    foreign.generate_credential_report().send().await.unwrap();
    let text = String::from_utf8(
        foreign
            .get_credential_report()
            .send()
            .await
            .unwrap()
            .content()
            .unwrap()
            .as_ref()
            .to_vec(),
    )
    .unwrap();
    let rows = parsed(&text);
    assert_eq!(rows[0][1], format!("arn:aws:iam::{OTHER}:root"));
    assert_eq!(rows[0][8], "false", "no root configured there: no key");
    assert!(!text.contains("made-by-root"));
}

/// A configuration for `check-config` with a root key, an old key and a rotation left
/// unfinished.
const HYGIENE: &str = r#"[[accounts]]
id = "111122223333"
root = { access_keys = [{ id = "AKIAREPORTROOTAAAAAA", secret_file = "s" }] }

[hygiene]
max_key_age_days = 30

[[users]]
account = "111122223333"
name = "old"
access_keys = [{ id = "AKIAREPORTOLDAAAAAAA", secret_file = "s", created = "2026-01-01T00:00:00Z" }]

[[users]]
account = "111122223333"
name = "rotating"
access_keys = [
  { id = "AKIAREPORTROTATEAAAA", secret_file = "s", created = "2026-03-01T00:00:00Z" },
  { id = "AKIAREPORTROTATEBBBB", secret_file = "s", created = "2026-03-10T00:00:00Z" },
]
"#;

#[test]
fn check_config_warns_about_each_hygiene_rule_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s"), ROOT_SECRET).unwrap();
    let path = dir.path().join("broker.toml");
    std::fs::write(&path, HYGIENE).unwrap();
    let now = time::macros::datetime!(2026-04-01 00:00 UTC);
    let out = sts_broker::cli::broker::check_config_at(Config::load(&path), now);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let file = path.display().to_string();
    let warnings: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("warning:"))
        .collect();
    assert_eq!(warnings.len(), 4, "{}", out.stdout);
    assert!(
        warnings[0].starts_with(&format!(
            "{file}:3: warning: root of account 111122223333 has access key AKIAREPORTROOTAAAAAA"
        )),
        "{warnings:#?}"
    );
    assert!(warnings[1].starts_with(&format!("{file}:11: warning: access key AKIAREPORTOLDAAAAAAA of user arn:aws:iam::111122223333:user/old is 90 days old")), "{warnings:#?}");
    // rotating's keys are 31 and 22 days old: the first is past 30 days, and the two have
    // been active together for 22 days (more than the default 14).
    assert!(warnings[2].starts_with(&format!("{file}:17: warning: access key AKIAREPORTROTATEAAAA of user arn:aws:iam::111122223333:user/rotating is 31 days old")), "{warnings:#?}");
    assert!(warnings[3].starts_with(&format!("{file}:18: warning: user arn:aws:iam::111122223333:user/rotating has had two active access keys")), "{warnings:#?}");
    assert!(!out.stdout.contains(ROOT_SECRET));
}

#[test]
fn check_config_refuses_a_bad_root_naming_file_and_line_not_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let bcrypt = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
    std::fs::write(dir.path().join("root.hash"), bcrypt).unwrap();
    let path = dir.path().join("broker.toml");
    std::fs::write(
        &path,
        "[[accounts]]\nid = \"111122223333\"\nroot = { password_file = \"root.hash\", mfa_secret_env = \"STS_BROKER_TEST_ROOT_SEED_NOT_SET\" }\n",
    )
    .unwrap();
    let out = sts_broker::cli::broker::check_config(Config::load(&path));
    assert_eq!(out.status, 1);
    let file = path.display().to_string();
    assert!(
        out.stderr.contains(&format!(
            "{file}:3: root of account 111122223333: password_file"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("root.hash is not a PHC password hash string"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(&format!("{file}:3: root of account 111122223333: MFA seed: environment variable STS_BROKER_TEST_ROOT_SEED_NOT_SET is not set")), "{}", out.stderr);
    assert!(
        !out.stderr.contains(bcrypt) && !out.stderr.contains("R9h/"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn the_broker_warns_at_start_about_root_access_keys_without_their_secret() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.hash"), ROOT_HASH).unwrap();
    let path = dir.path().join("broker.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[keys]\ndir = \"keys\"\n\n[[accounts]]\nid = \"{ACCOUNT}\"\nroot = {{ password_file = \"root.hash\", mfa_secret_env = \"ROOT_MFA_SEED\", access_keys = [{{ id = \"{ROOT_KEY}\", secret_env = \"ROOT_SECRET\" }}] }}\n"
        ),
    )
    .unwrap();
    let server = crate::serve::serve_with_env(
        path.to_str().unwrap(),
        &[("ROOT_MFA_SEED", CAROL_SEED), ("ROOT_SECRET", ROOT_SECRET)],
    );
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    // Its key signs on the real binary too.
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&server.endpoint)
        .retry_config(RetryConfig::disabled())
        .time_source(Follows(Arc::clone(&clock)))
        .credentials_provider(Credentials::new(ROOT_KEY, ROOT_SECRET, None, None, "test"))
        .build();
    let me = aws_sdk_sts::Client::from_conf(conf)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::111122223333:root"));
    let log = crate::serve::stop(server);
    let warning = log
        .lines()
        .find(|l| l.contains("ROOT ACCESS KEY CONFIGURED"))
        .unwrap_or_else(|| panic!("no root key warning in:\n{log}"));
    assert!(
        warning.contains("WARN") && warning.contains(ROOT_KEY),
        "{warning}"
    );
    for secret in [ROOT_SECRET, CAROL_SEED, ROOT_HASH] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
}
