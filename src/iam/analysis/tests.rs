use std::collections::BTreeMap;

use super::*;
use crate::iam::api::{AccountDocument, Revisioned};
use crate::iam::passwords::{PasswordHash, StoredLoginProfile};
use crate::iam::{AccessKey, HeldSecret, MfaDevice, PrincipalAbout, Role, RoleAbout, User};
use crate::policy::{NamedPolicy, PolicyType, parse};
use crate::secret::Secret;

const ACCOUNT: &str = "111122223333";

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap()
}

fn days_ago(days: i64) -> OffsetDateTime {
    now() - Duration::days(days)
}

fn role(name: &str, origin: Origin, created: OffsetDateTime, trust: &str) -> Role {
    let arn = crate::iam::role_arn(ACCOUNT, "/", name);
    Role {
        account: ACCOUNT.to_owned(),
        name: name.to_owned(),
        path: "/".to_owned(),
        role_id: format!("AROA{name}"),
        trust_policy: NamedPolicy::new("trust", parse(trust, PolicyType::Trust).unwrap()),
        arn,
        identity_policies: Vec::new(),
        permissions_boundary: None,
        max_session_duration: 3600,
        tags: BTreeMap::new(),
        about: RoleAbout {
            origin,
            description: None,
            created,
            trust_document: trust.to_owned(),
            inline_documents: Vec::new(),
            attached_policies: Vec::new(),
            permissions_boundary: None,
        },
    }
}

fn user(name: &str, origin: Origin, keys: Vec<AccessKey>) -> User {
    User {
        account: ACCOUNT.to_owned(),
        name: name.to_owned(),
        path: "/".to_owned(),
        arn: crate::iam::user_arn(ACCOUNT, "/", name),
        user_id: format!("AIDA{name}"),
        groups: Vec::new(),
        identity_policies: Vec::new(),
        permissions_boundary: None,
        tags: BTreeMap::new(),
        access_keys: keys,
        about: PrincipalAbout {
            origin,
            created: now(),
            inline_documents: Vec::new(),
            attached_policies: Vec::new(),
            permissions_boundary: None,
        },
    }
}

fn key(id: &str, active: bool, created: Option<OffsetDateTime>) -> AccessKey {
    AccessKey {
        id: id.to_owned(),
        secret: HeldSecret::File(Secret::new("s".into())),
        active,
        created,
        generation: 0,
    }
}

const OWN: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}}"#;

#[test]
fn roles_not_assumed_in_the_window() {
    let mut iam = Iam::default();
    let file = Origin::File("broker.toml".into());
    iam.add_role(role("used", Origin::Api, days_ago(400), OWN));
    iam.add_role(role("stale", Origin::Api, days_ago(400), OWN));
    iam.add_role(role("never", Origin::Api, days_ago(91), OWN));
    iam.add_role(role("new", Origin::Api, days_ago(89), OWN));
    // A file role's `created` is only when the file was read: unknown, so never used counts.
    iam.add_role(role("file-never", file.clone(), now(), OWN));
    iam.add_role(role("file-used", file, now(), OWN));
    let uses: HashMap<String, i64> = [
        ("AROAused", days_ago(10)),
        ("AROAstale", days_ago(120)),
        ("AROAfile-used", days_ago(1)),
    ]
    .into_iter()
    .map(|(k, t)| (k.to_owned(), t.unix_timestamp()))
    .collect();
    let got = unused(&iam, &HashMap::new(), &uses, now(), Duration::days(90));
    let names: Vec<(&str, &str)> = got
        .iter()
        .map(|u| (u.kind.code(), u.arn.rsplit('/').next().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("role_not_assumed", "file-never"),
            ("role_not_assumed", "never"),
            ("role_not_assumed", "stale"),
        ]
    );
    assert!(got[0].created.is_none() && got[0].reason.contains("not known"));
    assert!(
        got[1]
            .reason
            .contains("never assumed, and created 91 days ago"),
        "{}",
        got[1].reason
    );
    assert_eq!(got[2].last_used, Some(days_ago(120)));
    assert!(got[2].reason.contains("last assumed 120 days ago"));
    assert_eq!(
        last_use_ids(&iam, &HashMap::new()).len(),
        6,
        "every role's id is read, whatever its age"
    );
}

#[test]
fn access_keys_not_used_and_users_without_mfa() {
    let mut iam = Iam::default();
    iam.add_user(user(
        "alice",
        Origin::File("broker.toml".into()),
        vec![
            key("AKIAUSED", true, Some(days_ago(500))),
            key("AKIAOLD", true, Some(days_ago(500))),
            key("AKIANEW", true, Some(days_ago(3))),
            key("AKIAUNDATED", true, None),
            // Inactive keys cannot be used: not reviewed.
            key("AKIAINACTIVE", false, Some(days_ago(500))),
        ],
    ));
    iam.add_user(user(
        "bob",
        Origin::Api,
        vec![key("AKIABOB", true, Some(days_ago(100)))],
    ));
    iam.add_mfa_device(MfaDevice {
        serial: format!("arn:aws:iam::{ACCOUNT}:mfa/alice"),
        user_arn: crate::iam::user_arn(ACCOUNT, "/", "alice"),
        secret: HeldSecret::File(Secret::new("s".into())),
        drift_steps: 0,
        origin: Origin::Api,
        enabled: now(),
    });
    let uses: HashMap<String, i64> = [("AKIAUSED", days_ago(2)), ("AKIAOLD", days_ago(200))]
        .into_iter()
        .map(|(k, t)| (k.to_owned(), t.unix_timestamp()))
        .collect();
    let got = unused(&iam, &HashMap::new(), &uses, now(), Duration::days(90));
    let found: Vec<(&str, &str, Option<&str>)> = got
        .iter()
        .map(|u| {
            (
                u.kind.code(),
                u.arn.rsplit('/').next().unwrap(),
                u.access_key_id.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("access_key_not_used", "alice", Some("AKIAOLD")),
            ("access_key_not_used", "alice", Some("AKIAUNDATED")),
            ("access_key_not_used", "bob", Some("AKIABOB")),
            ("user_without_mfa", "bob", None),
        ]
    );
    assert!(
        got[0]
            .reason
            .starts_with("active access key last used 200 days ago"),
        "{}",
        got[0].reason
    );
    let mut ids = last_use_ids(&iam, &HashMap::new());
    ids.sort();
    assert_eq!(
        ids,
        ["AKIABOB", "AKIANEW", "AKIAOLD", "AKIAUNDATED", "AKIAUSED"]
    );
}

#[test]
fn external_findings_carry_their_statement_as_written() {
    let mut iam = Iam::default();
    let partner = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"},
        {"Sid":"Partner","Effect":"Allow","Principal":{"AWS":"999988887777"},"Action":"sts:AssumeRole"}]}"#;
    iam.add_role(role("partner", Origin::Api, now(), partner));
    let open = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}}"#;
    iam.add_role(role("open", Origin::File("f".into()), now(), open));
    iam.add_role(role("own", Origin::Api, now(), OWN));
    let zone = ZoneOfTrust {
        accounts: [ACCOUNT.to_owned()].into(),
        organizations: Default::default(),
    };
    let got = external(&iam, &zone, &PublicIdps::default());
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].role_arn, "arn:aws:iam::111122223333:role/open");
    assert_eq!(got[0].access.kind.code(), "any_principal");
    assert_eq!(got[0].sid, None);
    assert_eq!(got[0].statement["Principal"], "*");
    assert_eq!(got[1].access.statement, 1);
    assert_eq!(got[1].sid.as_deref(), Some("Partner"));
    assert_eq!(got[1].statement["Principal"]["AWS"], "999988887777");
}

#[test]
fn statements_are_read_back_from_the_document() {
    let one = r#"{"Statement":{"Effect":"Allow"}}"#;
    let read = statements_json(one);
    assert_eq!(read.len(), 1);
    assert_eq!(read[0]["Effect"], "Allow");
    assert!(statements_json("not json").is_empty());
    assert!(statements_json(r#"{"Statement":"x"}"#).is_empty());
    let two = r#"{"Statement":[{"Sid":"a"},{"Sid":"b"}]}"#;
    let read = statements_json(two);
    assert_eq!(read.len(), 2);
    assert_eq!(read[1]["Sid"], "b");
}

#[test]
fn findings_of_one_statement_share_its_document() {
    let mut iam = Iam::default();
    let entries: Vec<String> = (0..40).map(|i| format!(r#""9999888877{i:02}""#)).collect();
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":[{}]}},"Action":"sts:AssumeRole"}}]}}"#,
        entries.join(",")
    );
    iam.add_role(role("wide", Origin::Api, now(), &trust));
    let zone = ZoneOfTrust {
        accounts: [ACCOUNT.to_owned()].into(),
        organizations: Default::default(),
    };
    let got = external(&iam, &zone, &PublicIdps::default());
    assert_eq!(got.len(), 40);
    assert!(
        got.iter()
            .all(|f| Arc::ptr_eq(&f.statement, &got[0].statement))
    );
    assert_eq!(got[39].statement["Principal"]["AWS"][39], "999988887739");
}

fn login_profile(user: &User, created: OffsetDateTime) -> StoredLoginProfile {
    StoredLoginProfile {
        user: user.name.clone(),
        user_id: user.user_id.clone(),
        hash: PasswordHash::from_stored("$argon2id$v=19$m=19456,t=2,p=1$x$y".into()),
        previous: Vec::new(),
        created: created.unix_timestamp(),
        password_last_changed: created.unix_timestamp(),
        reset_required: false,
    }
}

#[test]
fn passwords_not_used_in_the_window() {
    let mut iam = Iam::default();
    let file = Origin::File("broker.toml".into());
    let mut doc = AccountDocument::default();
    for (name, origin, created) in [
        ("never-old", file.clone(), Some(days_ago(100))),
        ("never-new", Origin::Api, Some(days_ago(10))),
        ("stale", Origin::Api, Some(days_ago(300))),
        ("recent", file, Some(days_ago(300))),
        ("no-password", Origin::Api, None),
    ] {
        let u = user(name, origin, Vec::new());
        if let Some(created) = created {
            doc.login_profiles
                .insert(name.to_owned(), login_profile(&u, created));
        }
        iam.add_user(u);
    }
    // A profile left by an earlier user of the same name is not this one's.
    let mut earlier = login_profile(&user("reused", Origin::Api, Vec::new()), days_ago(300));
    earlier.user_id = "AIDAEARLIER".into();
    doc.login_profiles.insert("reused".into(), earlier);
    iam.add_user(user("reused", Origin::Api, Vec::new()));
    let layer = Layer {
        version: 1,
        accounts: [(
            ACCOUNT.to_owned(),
            Revisioned {
                revision: 1,
                document: doc,
            },
        )]
        .into(),
    };
    let profiles = login_profiles(&iam, &layer);
    assert_eq!(profiles.len(), 4, "{profiles:?}");
    assert_eq!(profiles["AIDAnever-old"], days_ago(100));

    let uses: HashMap<String, i64> = [("AIDAstale", days_ago(120)), ("AIDArecent", days_ago(5))]
        .into_iter()
        .map(|(k, t)| (k.to_owned(), t.unix_timestamp()))
        .collect();
    let mut ids = last_use_ids(&iam, &profiles);
    ids.sort();
    assert_eq!(
        ids,
        ["AIDAnever-new", "AIDAnever-old", "AIDArecent", "AIDAstale"]
    );
    let got = unused(&iam, &profiles, &uses, now(), Duration::days(90));
    let passwords: Vec<&Unused> = got
        .iter()
        .filter(|u| u.kind == UnusedKind::PasswordNotUsed)
        .collect();
    let names: Vec<&str> = passwords
        .iter()
        .map(|u| u.arn.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(names, ["never-old", "stale"]);
    assert_eq!(passwords[0].kind.code(), "password_not_used");
    assert_eq!(passwords[0].created, Some(days_ago(100)));
    assert_eq!(passwords[0].last_used, None);
    assert!(
        passwords[0].reason.starts_with(
            "password (login profile) never used to sign in, and created 100 days ago"
        ),
        "{}",
        passwords[0].reason
    );
    assert_eq!(passwords[1].last_used, Some(days_ago(120)));
    assert!(
        passwords[1]
            .reason
            .contains("last used to sign in 120 days ago"),
        "{}",
        passwords[1].reason
    );
    // Without MFA, a user who can sign in with a password is told apart.
    let mfa = |name: &str| {
        got.iter()
            .find(|u| u.kind == UnusedKind::UserWithoutMfa && u.arn.ends_with(&format!("/{name}")))
            .unwrap()
            .reason
            .clone()
    };
    assert!(mfa("recent").contains("can sign in with a password"));
    assert!(!mfa("no-password").contains("password"));
    assert!(!mfa("reused").contains("password"));
}
