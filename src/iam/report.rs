//! IAM's credential report (IAM User Guide, "Getting credential reports"): one CSV row per
//! user of an account, the root user (`<root_account>`) first, then every IAM user (the file's
//! and the API's) by name, in IAM's exact columns ([`COLUMNS`]). Pure: the entities, the
//! account's stored document (login profiles, the API's password policy) and the last uses
//! (access keys' and passwords') come in as arguments; `GetCredentialReport`
//! (`query/iam/report.rs`) and `sts-broker report credentials` (`cli/report.rs`) both write
//! their CSV with [`csv_text`].
//!
//! Values as IAM writes them: `true`/`false`, times in ISO 8601 with an offset
//! (`2026-01-02T03:04:05+00:00`), `N/A` for what does not apply (no key, a key never used, no
//! password), `no_information` for a password never used (no sign-in recorded),
//! `not_supported` for the root's password fields IAM does not report. Users from the file (and
//! root) have no creation time of their own: `N/A`. Signing certificates are not supported:
//! `cert_*` are `false`/`N/A`.

use std::collections::HashMap;

use time::OffsetDateTime;
use time::macros::format_description;

use super::api::AccountDocument;
use super::passwords::{self, PasswordPolicy, StoredLoginProfile};
use super::root::{ROOT_NAME, Root};
use super::{AccessKey, Iam, Origin, User};

/// The report's columns, in IAM's order.
pub const COLUMNS: [&str; 22] = [
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
    "cert_1_active",
    "cert_1_last_rotated",
    "cert_2_active",
    "cert_2_last_rotated",
];

/// What IAM writes for a value that does not apply.
pub const NOT_APPLICABLE: &str = "N/A";
/// What IAM writes for a password never used.
pub const NO_INFORMATION: &str = "no_information";
/// What IAM writes for the root's password fields it does not report.
pub const NOT_SUPPORTED: &str = "not_supported";

/// The last use of an access key (when, and the region and service its signature named), or
/// of a password (a sign-in: service `signin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUsed {
    pub at: OffsetDateTime,
    pub region: String,
    pub service: String,
}

/// One row, in [`COLUMNS`]' order.
pub type Row = [String; 22];

/// `password_enabled`, `password_last_used`, `password_last_changed`,
/// `password_next_rotation` of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordColumns {
    pub enabled: String,
    pub last_used: String,
    pub last_changed: String,
    pub next_rotation: String,
}

/// The password columns of an IAM user from its login profile (if it has one), the last use
/// of its password (a sign-in, recorded by the user's id) and the account's password policy:
/// `true`, the last use or `no_information`, when the password was last set, and when the
/// policy's `max_age_days` makes it expire (`N/A` without a maximum age). Without a profile:
/// `false` and `N/A` (IAM's words for a user without a password).
pub fn password_columns(
    profile: Option<&StoredLoginProfile>,
    last_used: Option<OffsetDateTime>,
    policy: Option<&PasswordPolicy>,
) -> PasswordColumns {
    let Some(profile) = profile else {
        return PasswordColumns {
            enabled: "false".to_owned(),
            last_used: NOT_APPLICABLE.to_owned(),
            last_changed: NOT_APPLICABLE.to_owned(),
            next_rotation: NOT_APPLICABLE.to_owned(),
        };
    };
    let time_or =
        |t: Option<OffsetDateTime>, none: &str| t.map_or_else(|| none.to_owned(), report_time);
    PasswordColumns {
        enabled: "true".to_owned(),
        last_used: time_or(last_used, NO_INFORMATION),
        last_changed: time_or(
            OffsetDateTime::from_unix_timestamp(profile.password_last_changed).ok(),
            NOT_APPLICABLE,
        ),
        next_rotation: time_or(
            passwords::password_next_rotation(profile, policy),
            NOT_APPLICABLE,
        ),
    }
}

/// The root's password columns: IAM reports only its last use (a root sign-in, recorded by
/// the account id; `no_information` until one is recorded; `N/A` without a password).
fn root_password_columns(root: &Root, last_used: Option<OffsetDateTime>) -> PasswordColumns {
    PasswordColumns {
        enabled: NOT_SUPPORTED.to_owned(),
        last_used: match last_used {
            _ if !root.has_password() => NOT_APPLICABLE.to_owned(),
            Some(at) => report_time(at),
            None => NO_INFORMATION.to_owned(),
        },
        last_changed: NOT_SUPPORTED.to_owned(),
        next_rotation: NOT_SUPPORTED.to_owned(),
    }
}

/// A time as the report writes it: UTC, whole seconds, `+00:00`.
pub fn report_time(t: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+00:00");
    t.to_offset(time::UtcOffset::UTC)
        .format(format)
        .unwrap_or_else(|_| NOT_APPLICABLE.to_owned())
}

/// Every row of `account`: the root's (configured or not, as IAM always lists it), then its
/// users by name. `doc` is the account's document in the store (its login profiles and the
/// API's password policy; none when the store serves none); `last_used` holds the last uses by
/// id: access keys' by key id, passwords' by user id (the root's by account id).
pub fn account_rows(
    iam: &Iam,
    account: &str,
    doc: Option<&AccountDocument>,
    last_used: &HashMap<String, LastUsed>,
) -> Vec<Row> {
    let policy = passwords::served_policy(iam, account, doc);
    let used_at = |id: &str| last_used.get(id).map(|u| u.at);
    let mut rows = Vec::new();
    rows.push(root_row(iam, account, used_at(account), last_used));
    let mut users: Vec<_> = iam.users().filter(|u| u.account == account).collect();
    users.sort_by(|a, b| {
        a.name
            .to_ascii_lowercase()
            .cmp(&b.name.to_ascii_lowercase())
            .then_with(|| a.arn.cmp(&b.arn))
    });
    for user in users {
        let mfa = iam.mfa_devices().any(|d| d.user_arn == user.arn);
        let profile = doc.and_then(|d| passwords::profile_of(d, &user.name, &user.user_id));
        rows.push(row(
            &user.name,
            &user.arn,
            created(user),
            password_columns(profile, used_at(&user.user_id), policy.as_ref()),
            mfa,
            &user.access_keys,
            last_used,
        ));
    }
    rows
}

/// The ids whose last use the rows of `account` show: every access key's (the root's too),
/// every user's id (its password's sign-ins) and the account id (the root's).
pub fn last_use_ids(iam: &Iam, account: &str) -> Vec<String> {
    let root = iam.root(account).map(|r| &r.user);
    let users: Vec<_> = iam.users().filter(|u| u.account == account).collect();
    let keys = users
        .iter()
        .copied()
        .chain(root)
        .flat_map(|u| u.access_keys.iter().map(|k| k.id.clone()));
    let user_ids = users.iter().map(|u| u.user_id.clone());
    keys.chain(user_ids)
        .chain(std::iter::once(account.to_owned()))
        .collect()
}

fn root_row(
    iam: &Iam,
    account: &str,
    password_used: Option<OffsetDateTime>,
    last_used: &HashMap<String, LastUsed>,
) -> Row {
    let arn = super::root::root_arn(account);
    match iam.root(account) {
        Some(root) => row(
            ROOT_NAME,
            &arn,
            None,
            root_password_columns(root, password_used),
            root.has_mfa(),
            &root.user.access_keys,
            last_used,
        ),
        None => {
            let mut r = row_of(ROOT_NAME, &arn, NOT_APPLICABLE.to_owned());
            r[3] = NOT_SUPPORTED.to_owned();
            r[4] = NOT_APPLICABLE.to_owned();
            r[5] = NOT_SUPPORTED.to_owned();
            r[6] = NOT_SUPPORTED.to_owned();
            r
        }
    }
}

/// A row with no password, MFA, key or certificate.
fn row_of(name: &str, arn: &str, created: String) -> Row {
    let mut r: Row = std::array::from_fn(|_| NOT_APPLICABLE.to_owned());
    r[0] = name.to_owned();
    r[1] = arn.to_owned();
    r[2] = created;
    r[3] = "false".to_owned();
    for i in [7, 8, 13, 18, 20] {
        r[i] = "false".to_owned();
    }
    r
}

/// When an API user was created; a file user (or root) has no creation time of its own (what
/// `GetUser` shows for it is when the replica read its file), so the report says `N/A`.
fn created(user: &User) -> Option<OffsetDateTime> {
    match user.about.origin {
        Origin::Api => Some(user.about.created),
        Origin::File(_) => None,
    }
}

fn row(
    name: &str,
    arn: &str,
    created: Option<OffsetDateTime>,
    password: PasswordColumns,
    mfa: bool,
    keys: &[AccessKey],
    last_used: &HashMap<String, LastUsed>,
) -> Row {
    let created = created.map_or_else(|| NOT_APPLICABLE.to_owned(), report_time);
    let mut r = row_of(name, arn, created);
    r[3] = password.enabled;
    r[4] = password.last_used;
    r[5] = password.last_changed;
    r[6] = password.next_rotation;
    r[7] = mfa.to_string();
    for (key, first) in keys.iter().take(2).zip([8, 13]) {
        r[first] = key.active.to_string();
        // A file key without `created`: when it was made is not known.
        r[first + 1] = key
            .created
            .map_or_else(|| NOT_APPLICABLE.to_owned(), report_time);
        if let Some(u) = last_used.get(&key.id) {
            r[first + 2] = report_time(u.at);
            r[first + 3] = u.region.clone();
            r[first + 4] = u.service.clone();
        }
    }
    r
}

/// The CSV text of `rows` under the header row: what `GetCredentialReport` encodes and
/// `sts-broker report credentials` prints.
pub fn csv_text(rows: &[Row]) -> Result<String, csv::Error> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    writer.write_record(COLUMNS)?;
    for r in rows {
        writer.write_record(r)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    // Every field is UTF-8 (names, ARNs, times, fixed words), so the text is too.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::{HeldSecret, PrincipalAbout};
    use crate::secret::Secret;
    use time::macros::datetime;

    fn user(name: &str, keys: Vec<AccessKey>) -> User {
        User {
            account: "111122223333".into(),
            name: name.into(),
            path: "/".into(),
            arn: crate::iam::user_arn("111122223333", "/", name),
            user_id: format!("AIDA{name}"),
            groups: Vec::new(),
            identity_policies: Vec::new(),
            permissions_boundary: None,
            tags: Default::default(),
            access_keys: keys,
            about: PrincipalAbout {
                origin: Origin::Api,
                created: datetime!(2026-01-02 03:04:05.678 UTC),
                inline_documents: Vec::new(),
                attached_policies: Vec::new(),
                permissions_boundary: None,
            },
        }
    }

    fn key(id: &str, active: bool, created: Option<OffsetDateTime>) -> AccessKey {
        AccessKey {
            id: id.into(),
            secret: HeldSecret::File(Secret::new("s".into())),
            active,
            created,
            generation: 0,
        }
    }

    #[test]
    fn rows_follow_iams_columns_and_words() {
        let mut iam = Iam::default();
        iam.add_user(user("zed", Vec::new()));
        iam.add_user(user(
            "Amy",
            vec![
                key(
                    "AKIAAAAAAAAAAAAAAAA2",
                    true,
                    Some(datetime!(2026-01-01 00:00 UTC)),
                ),
                key("AKIAAAAAAAAAAAAAAAA3", false, None),
            ],
        ));
        iam.add_user(User {
            account: "444455556666".into(),
            ..user("other", Vec::new())
        });
        let used = HashMap::from([(
            "AKIAAAAAAAAAAAAAAAA2".to_owned(),
            LastUsed {
                at: datetime!(2026-02-03 04:05:06 +01:00),
                region: "eu-west-1".into(),
                service: "sts".into(),
            },
        )]);
        let rows = account_rows(&iam, "111122223333", None, &used);
        assert_eq!(rows.len(), 3, "root, then the account's two users");
        assert_eq!(
            rows[0].join(","),
            "<root_account>,arn:aws:iam::111122223333:root,N/A,not_supported,N/A,not_supported,\
             not_supported,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
        );
        assert_eq!(
            rows[1].join(","),
            "Amy,arn:aws:iam::111122223333:user/Amy,2026-01-02T03:04:05+00:00,false,N/A,N/A,N/A,\
             false,true,2026-01-01T00:00:00+00:00,2026-02-03T03:05:06+00:00,eu-west-1,sts,\
             false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
        );
        assert_eq!(rows[2][0], "zed");
        assert_eq!(rows[2][8], "false");

        let text = csv_text(&rows).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(
            reader.headers().unwrap(),
            &csv::StringRecord::from(COLUMNS.to_vec())
        );
        assert_eq!(reader.records().count(), 3);
    }

    fn profile(user: &User, changed: OffsetDateTime) -> StoredLoginProfile {
        StoredLoginProfile {
            user: user.name.clone(),
            user_id: user.user_id.clone(),
            hash: passwords::PasswordHash::from_stored("$argon2id$v=19$m=19456,t=2,p=1$x$y".into()),
            previous: Vec::new(),
            created: changed.unix_timestamp() - 60,
            password_last_changed: changed.unix_timestamp(),
            reset_required: false,
        }
    }

    fn policy(max_age_days: Option<u32>) -> PasswordPolicy {
        PasswordPolicy {
            minimum_length: 8,
            require_symbols: false,
            require_numbers: false,
            require_uppercase: false,
            require_lowercase: false,
            allow_users_to_change: true,
            max_age_days,
            reuse_prevention: None,
            hard_expiry: false,
        }
    }

    #[test]
    fn password_columns_follow_iams_words() {
        let amy = user("amy", Vec::new());
        let changed = datetime!(2026-01-02 03:04:05 UTC);
        let p = profile(&amy, changed);
        let used = datetime!(2026-02-01 10:00:00 UTC);
        let cols = |profile, used, policy: Option<&PasswordPolicy>| {
            let c = password_columns(profile, used, policy);
            [c.enabled, c.last_used, c.last_changed, c.next_rotation].join(",")
        };
        assert_eq!(cols(None, None, None), "false,N/A,N/A,N/A");
        // A last use recorded for a user without a password is not shown.
        assert_eq!(
            cols(None, Some(used), Some(&policy(Some(90)))),
            "false,N/A,N/A,N/A"
        );
        assert_eq!(
            cols(Some(&p), None, None),
            "true,no_information,2026-01-02T03:04:05+00:00,N/A"
        );
        assert_eq!(
            cols(Some(&p), Some(used), Some(&policy(None))),
            "true,2026-02-01T10:00:00+00:00,2026-01-02T03:04:05+00:00,N/A"
        );
        assert_eq!(
            cols(Some(&p), Some(used), Some(&policy(Some(90)))),
            "true,2026-02-01T10:00:00+00:00,2026-01-02T03:04:05+00:00,2026-04-02T03:04:05+00:00"
        );
    }

    #[test]
    fn rows_read_profiles_and_sign_ins_by_user_id_and_the_roots_by_account() {
        let mut iam = Iam::default();
        let amy = user("amy", Vec::new());
        let bob = user("bob", Vec::new());
        let changed = datetime!(2026-01-02 03:04:05 UTC);
        let mut doc = AccountDocument {
            password_policy: Some(policy(Some(30))),
            ..AccountDocument::default()
        };
        doc.login_profiles
            .insert("amy".into(), profile(&amy, changed));
        // A profile of an earlier user of that name (another id) is not bob's.
        let mut stale = profile(&bob, changed);
        stale.user_id = "AIDAEARLIERBOB".into();
        doc.login_profiles.insert("bob".into(), stale);
        iam.add_user(amy);
        iam.add_user(bob);
        let sign_in = |at| LastUsed {
            at,
            region: "us-east-1".into(),
            service: "signin".into(),
        };
        let used = HashMap::from([
            (
                "AIDAamy".to_owned(),
                sign_in(datetime!(2026-01-05 00:00 UTC)),
            ),
            (
                "AIDAEARLIERBOB".to_owned(),
                sign_in(datetime!(2026-01-06 00:00 UTC)),
            ),
            (
                "111122223333".to_owned(),
                sign_in(datetime!(2026-01-07 00:00 UTC)),
            ),
        ]);
        let rows = account_rows(&iam, "111122223333", Some(&doc), &used);
        let password = |r: &Row| r[3..7].join(",");
        assert_eq!(
            password(&rows[1]),
            "true,2026-01-05T00:00:00+00:00,2026-01-02T03:04:05+00:00,2026-02-01T03:04:05+00:00"
        );
        assert_eq!(password(&rows[2]), "false,N/A,N/A,N/A");
        // No root configured: no password, whatever is recorded for the account.
        assert_eq!(
            password(&rows[0]),
            "not_supported,N/A,not_supported,not_supported"
        );
        let ids = last_use_ids(&iam, "111122223333");
        assert!(
            ["AIDAamy", "AIDAbob", "111122223333"]
                .iter()
                .all(|id| ids.contains(&(*id).to_owned())),
            "{ids:?}"
        );
    }

    #[test]
    fn the_roots_password_shows_its_last_sign_in() {
        let hash = Some(Secret::new("h".into()));
        let with = Root::new("111122223333", user("root", Vec::new()), hash, None);
        let without = Root::new("111122223333", user("root", Vec::new()), None, None);
        let at = datetime!(2026-01-07 00:00 UTC);
        assert_eq!(
            root_password_columns(&with, Some(at)).last_used,
            "2026-01-07T00:00:00+00:00"
        );
        assert_eq!(
            root_password_columns(&with, None).last_used,
            "no_information"
        );
        assert_eq!(root_password_columns(&without, Some(at)).last_used, "N/A");
        assert_eq!(root_password_columns(&with, None).enabled, "not_supported");
    }

    #[test]
    fn a_field_with_a_comma_is_quoted() {
        let mut r: Row = std::array::from_fn(|_| "x".to_owned());
        r[0] = "a,b".into();
        let text = csv_text(&[r]).unwrap();
        assert!(text.lines().nth(1).unwrap().starts_with("\"a,b\",x"));
    }
}
