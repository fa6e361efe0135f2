//! IAM's credential report (IAM User Guide, "Getting credential reports"): one CSV row per
//! user of an account, the root user (`<root_account>`) first, then every IAM user (the file's
//! and the API's) by name, in IAM's exact columns ([`COLUMNS`]). Pure: the entities, the
//! access keys' last uses and the time come in as arguments; `GetCredentialReport`
//! (`query/iam/report.rs`) and `sts-broker report credentials` (`cli/report.rs`) both write
//! their CSV with [`csv_text`].
//!
//! Values as IAM writes them: `true`/`false`, times in ISO 8601 with an offset
//! (`2026-01-02T03:04:05+00:00`), `N/A` for what does not apply (no key, a key never used),
//! `no_information` for a password never used, `not_supported` for the root's password fields
//! IAM does not report. Users from the file (and root) have no creation time of their own:
//! `N/A`. Signing certificates are not supported: `cert_*` are `false`/`N/A`.

use std::collections::HashMap;

use time::OffsetDateTime;
use time::macros::format_description;

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

/// The last use of an access key: when, and the region and service its signature named.
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

/// The password columns of an IAM user: the one place a user's password (a login profile) is
/// read for the report. Users have no password on this broker yet, so every user reports
/// `false` and `N/A`; once they can have one, this reports `true`, its last use (or
/// `no_information`), when it was set, and when the account's password policy makes it expire
/// (`N/A` without a maximum age), as of `now`.
pub fn password_columns(_user: &User, _now: OffsetDateTime) -> PasswordColumns {
    PasswordColumns {
        enabled: "false".to_owned(),
        last_used: NOT_APPLICABLE.to_owned(),
        last_changed: NOT_APPLICABLE.to_owned(),
        next_rotation: NOT_APPLICABLE.to_owned(),
    }
}

/// The root's password columns: IAM reports only its last use (`no_information` until a
/// sign-in is recorded; `N/A` without a password).
fn root_password_columns(root: &Root) -> PasswordColumns {
    PasswordColumns {
        enabled: NOT_SUPPORTED.to_owned(),
        last_used: if root.has_password() {
            NO_INFORMATION
        } else {
            NOT_APPLICABLE
        }
        .to_owned(),
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
/// users by name. `last_used` holds the access keys' last uses by key id.
pub fn account_rows(
    iam: &Iam,
    account: &str,
    last_used: &HashMap<String, LastUsed>,
    now: OffsetDateTime,
) -> Vec<Row> {
    let mut rows = Vec::new();
    rows.push(root_row(iam, account, last_used));
    let mut users: Vec<_> = iam.users().filter(|u| u.account == account).collect();
    users.sort_by(|a, b| {
        a.name
            .to_ascii_lowercase()
            .cmp(&b.name.to_ascii_lowercase())
            .then_with(|| a.arn.cmp(&b.arn))
    });
    for user in users {
        let mfa = iam.mfa_devices().any(|d| d.user_arn == user.arn);
        rows.push(row(
            &user.name,
            &user.arn,
            created(user),
            password_columns(user, now),
            mfa,
            &user.access_keys,
            last_used,
        ));
    }
    rows
}

fn root_row(iam: &Iam, account: &str, last_used: &HashMap<String, LastUsed>) -> Row {
    let arn = super::root::root_arn(account);
    match iam.root(account) {
        Some(root) => row(
            ROOT_NAME,
            &arn,
            None,
            root_password_columns(root),
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
        let rows = account_rows(&iam, "111122223333", &used, datetime!(2026-03-01 00:00 UTC));
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

    #[test]
    fn a_field_with_a_comma_is_quoted() {
        let mut r: Row = std::array::from_fn(|_| "x".to_owned());
        r[0] = "a,b".into();
        let text = csv_text(&[r]).unwrap();
        assert!(text.lines().nth(1).unwrap().starts_with("\"a,b\",x"));
    }
}
