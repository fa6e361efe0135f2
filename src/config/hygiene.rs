//! Credential hygiene as IAM's best practices teach it, checked on the configuration file:
//! what `check-config` warns about (exit status 0) without refusing the file. One function per
//! rule, listed in [`warnings`]: root access keys, active access keys older than
//! `[hygiene] max_key_age_days`, and users keeping two active keys longer than
//! `second_key_grace_days` (a rotation left unfinished). A file key without `created` has no
//! known age and is not aged. Each warning names the entity and its line in the file.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::file::{ConfigFile, HygieneSection};
use super::{Checker, Config, Issue};
use crate::iam::{AccessKey, User};

/// The `[hygiene]` limits, and where the file's users, roots and keys are (for warnings).
#[derive(Debug, Clone, Default)]
pub struct Hygiene {
    pub max_key_age_days: u32,
    pub second_key_grace_days: u32,
    /// The line of each file user and root (by ARN) and access key (by id).
    lines: HashMap<String, usize>,
}

impl Checker<'_> {
    /// `[hygiene]` checked, and the lines warnings point at.
    pub(super) fn hygiene(&mut self, raw: &ConfigFile) -> Hygiene {
        let HygieneSection {
            max_key_age_days,
            second_key_grace_days,
        } = raw.hygiene;
        if max_key_age_days == 0 {
            self.issue(
                self.key_line("[hygiene]", "max_key_age_days"),
                "[hygiene] max_key_age_days must be at least 1".to_owned(),
            );
        }
        let mut lines = HashMap::new();
        let mut holders = Vec::new();
        for (i, u) in raw.users.iter().enumerate() {
            let arn = crate::iam::user_arn(&u.account, &u.path, &u.name);
            holders.push((arn, self.entry_line("users", i), &u.access_keys));
        }
        for (i, a) in raw.accounts.iter().enumerate() {
            if let Some(root) = &a.root {
                let arn = crate::iam::root::root_arn(&a.id);
                holders.push((arn, self.entry_line("accounts", i), &root.access_keys));
            }
        }
        for (arn, line, keys) in holders {
            for k in keys {
                if let Some(at) = self.line_after(line, &format!("\"{}\"", k.id)) {
                    lines.insert(k.id.clone(), at);
                }
            }
            if let Some(at) = line {
                lines.insert(arn, at);
            }
        }
        Hygiene {
            max_key_age_days,
            second_key_grace_days,
            lines,
        }
    }
}

/// Every hygiene warning about `config` as of `now`, in the file's order. Add a rule here.
pub fn warnings(config: &Config, now: OffsetDateTime) -> Vec<Issue> {
    let mut out = Vec::new();
    root_access_keys(config, &mut out);
    old_access_keys(config, now, &mut out);
    second_active_keys(config, now, &mut out);
    out.sort_by_key(|i| i.line);
    out
}

fn warn(config: &Config, at: &str, message: String, out: &mut Vec<Issue>) {
    out.push(Issue {
        file: config.source.clone(),
        line: config.hygiene.lines.get(at).copied(),
        message,
    });
}

/// The file's users and roots, with what a warning calls them.
fn holders(config: &Config) -> Vec<(String, &User)> {
    let mut out: Vec<(String, &User)> = config
        .iam
        .users()
        .filter(|u| matches!(u.about.origin, crate::iam::Origin::File(_)))
        .map(|u| (format!("user {}", u.arn), &**u))
        .collect();
    out.extend(
        config
            .iam
            .roots()
            .map(|r| (format!("root of account {}", r.account), &*r.user)),
    );
    out
}

/// Root access keys: IAM's guidance is that the root user has none.
fn root_access_keys(config: &Config, out: &mut Vec<Issue>) {
    for root in config.iam.roots() {
        for key in &root.user.access_keys {
            warn(
                config,
                &key.id,
                format!(
                    "root of account {} has access key {} ({}): a root access key can do \
                     anything in the account and no policy limits it; delete it and use an IAM \
                     user or role",
                    root.account,
                    key.id,
                    if key.active { "Active" } else { "Inactive" }
                ),
                out,
            );
        }
    }
}

fn age_days(key: &AccessKey, now: OffsetDateTime) -> Option<i64> {
    key.created.map(|c| (now - c).whole_days())
}

/// Active keys created longer ago than `max_key_age_days`.
fn old_access_keys(config: &Config, now: OffsetDateTime, out: &mut Vec<Issue>) {
    let max = i64::from(config.hygiene.max_key_age_days);
    for (who, user) in holders(config) {
        for key in user.access_keys.iter().filter(|k| k.active) {
            if let Some(days) = age_days(key, now).filter(|d| *d > max) {
                warn(
                    config,
                    &key.id,
                    format!(
                        "access key {} of {who} is {days} days old (more than [hygiene] \
                         max_key_age_days = {max}): rotate it",
                        key.id
                    ),
                    out,
                );
            }
        }
    }
}

/// Two active keys whose newer one is older than `second_key_grace_days`.
fn second_active_keys(config: &Config, now: OffsetDateTime, out: &mut Vec<Issue>) {
    let grace = i64::from(config.hygiene.second_key_grace_days);
    for (who, user) in holders(config) {
        let active: Vec<&AccessKey> = user.access_keys.iter().filter(|k| k.active).collect();
        let [a, b] = active.as_slice() else {
            continue;
        };
        let (Some(age_a), Some(age_b)) = (age_days(a, now), age_days(b, now)) else {
            continue;
        };
        let (newer, days) = if age_a <= age_b {
            (a, age_a)
        } else {
            (b, age_b)
        };
        if days > grace {
            warn(
                config,
                &newer.id,
                format!(
                    "{who} has had two active access keys ({} and {}) for {days} days (more \
                     than [hygiene] second_key_grace_days = {grace}): deactivate the older one \
                     to finish the rotation",
                    a.id, b.id
                ),
                out,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn load(text: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let env = |v: &str| (v == "S").then(|| SECRET.to_owned());
        Config::from_toml_with_env(text, "c.toml", dir.path(), &env).unwrap()
    }

    const FILE: &str = r#"[[accounts]]
id = "111122223333"
root = { access_keys = [{ id = "AKIAROOTROOTROOTROOT", secret_env = "S" }] }

[hygiene]
max_key_age_days = 30
second_key_grace_days = 7

[[users]]
account = "111122223333"
name = "old"
access_keys = [
  { id = "AKIAOLDOLDOLDOLDOLDA", secret_env = "S", created = "2026-01-01T00:00:00Z" },
]

[[users]]
account = "111122223333"
name = "rotating"
access_keys = [
  { id = "AKIAROTATEAAAAAAAAAA", secret_env = "S", created = "2026-02-20T00:00:00Z" },
  { id = "AKIAROTATEBBBBBBBBBB", secret_env = "S", created = "2026-02-25T00:00:00Z" },
]

[[users]]
account = "111122223333"
name = "fine"
access_keys = [
  { id = "AKIAFINEAAAAAAAAAAAA", secret_env = "S", created = "2026-02-20T00:00:00Z", status = "Inactive" },
  { id = "AKIAFINEBBBBBBBBBBBB", secret_env = "S", created = "2026-03-01T00:00:00Z" },
  ]
"#;

    #[test]
    fn each_rule_warns_on_the_line_of_what_it_names() {
        let config = load(FILE);
        let found = warnings(&config, datetime!(2026-03-05 00:00 UTC));
        let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(found.len(), 3, "{shown:#?}");
        assert!(shown[0].starts_with("c.toml:3: root of account 111122223333 has access key AKIAROOTROOTROOTROOT (Active)"), "{shown:#?}");
        assert!(shown[1].starts_with("c.toml:13: access key AKIAOLDOLDOLDOLDOLDA of user arn:aws:iam::111122223333:user/old is 63 days old"), "{shown:#?}");
        assert!(shown[2].starts_with("c.toml:21: user arn:aws:iam::111122223333:user/rotating has had two active access keys"), "{shown:#?}");
        assert!(shown.iter().all(|s| !s.contains(SECRET)));
        // Within the limits: nothing.
        assert!(
            warnings(&config, datetime!(2026-01-15 00:00 UTC))
                .iter()
                .all(|i| i.message.starts_with("root of account"))
        );
    }

    #[test]
    fn the_limits_default_to_iams_guidance_and_zero_is_refused() {
        let config = load("[[accounts]]\nid = \"111122223333\"\n");
        assert_eq!(config.hygiene.max_key_age_days, 90);
        assert_eq!(config.hygiene.second_key_grace_days, 14);
        let dir = tempfile::tempdir().unwrap();
        let err = Config::from_toml("[hygiene]\nmax_key_age_days = 0\n", "c.toml", dir.path())
            .unwrap_err();
        assert_eq!(err.issues[0].line, Some(2), "{err}");
    }
}
