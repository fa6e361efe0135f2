//! `[[groups]]`, `[[users]]` and `[[mfa_devices]]` checked into [`crate::iam`] types. Secrets
//! (access keys' secret keys, MFA seeds) are read here, from an environment variable or a file
//! next to the configuration, never from the configuration itself; a problem names the
//! variable or file, never the value.

use std::collections::HashSet;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use super::Checker;
use super::file::{AccessKeyEntry, ConfigFile, GroupEntry, KeyStatus, MfaDeviceEntry, UserEntry};
use crate::iam::{self, AccessKey, Group, HeldSecret, Iam, MfaDevice, User};
use crate::policy::{NamedPolicy, PolicyType};
use crate::secret::Secret;
use crate::totp::Seed;

/// IAM's limit of access keys per user.
pub const MAX_ACCESS_KEYS_PER_USER: usize = 2;
/// IAM's limit of groups a user belongs to.
pub const MAX_GROUPS_PER_USER: usize = 10;
/// IAM's limit of MFA devices per user.
pub const MAX_MFA_DEVICES_PER_USER: usize = iam::mfa::MAX_DEVICES_PER_USER;

impl Checker<'_> {
    /// Groups, then users (who name groups), then MFA devices (which name users).
    pub(super) fn check_principals(&mut self, raw: &ConfigFile, iam: &mut Iam) {
        for (i, g) in raw.groups.iter().enumerate() {
            let line = self.entry_line("groups", i);
            if let Some(group) = self.check_group(g, iam, line) {
                iam.groups.insert(group.arn.clone(), group);
            }
        }
        let mut names = HashSet::new();
        let mut key_ids = HashSet::new();
        for (i, u) in raw.users.iter().enumerate() {
            let line = self.entry_line("users", i);
            if !names.insert((u.account.clone(), u.name.to_ascii_lowercase())) {
                self.issue(
                    line,
                    format!(
                        "user {:?} is defined twice in account {}",
                        u.name, u.account
                    ),
                );
            }
            if let Some(user) = self.check_user(u, iam, line, &mut key_ids) {
                iam.add_user(user);
            }
        }
        for (i, m) in raw.mfa_devices.iter().enumerate() {
            let line = self.entry_line("mfa_devices", i);
            if let Some(device) = self.check_mfa_device(m, iam, line) {
                iam.add_mfa_device(device);
            }
        }
        self.check_roots(raw, iam, &mut key_ids);
    }

    fn check_group(&mut self, g: &GroupEntry, iam: &Iam, line: Option<usize>) -> Option<Group> {
        let before = self.issues.len();
        self.known_account(iam, &g.account, line);
        if !iam::is_valid_name(&g.name, 128) {
            self.issue(line, format!("group name {:?} is not valid", g.name));
        }
        if !iam::is_valid_path(&g.path) {
            self.issue(
                line,
                format!("group path {:?} must start and end with /", g.path),
            );
        }
        let arn = iam::group_arn_at(&g.account, &g.path, &g.name);
        if iam
            .groups
            .values()
            .any(|o| o.account == g.account && o.name.eq_ignore_ascii_case(&g.name))
        {
            self.issue(line, format!("group {arn} is defined twice"));
        }
        let mut policies = Vec::new();
        let inline_documents = self.inline_policies(&arn, &g.policy_files, &mut policies);
        self.managed_policies(iam, &g.managed_policies, line, &mut policies);
        if self.issues.len() > before {
            return None;
        }
        Some(Group {
            account: g.account.clone(),
            name: g.name.clone(),
            path: g.path.clone(),
            group_id: iam::stable_id("AGPA", &format!("{}/{}", g.account, g.name)),
            arn,
            policies,
            about: self.about(inline_documents, g.managed_policies.clone(), None),
        })
    }

    fn check_user(
        &mut self,
        u: &UserEntry,
        iam: &Iam,
        line: Option<usize>,
        key_ids: &mut HashSet<String>,
    ) -> Option<User> {
        let before = self.issues.len();
        self.known_account(iam, &u.account, line);
        if !iam::is_valid_name(&u.name, 64) {
            self.issue(line, format!("user name {:?} is not valid", u.name));
        }
        if !iam::is_valid_path(&u.path) {
            self.issue(
                line,
                format!("user path {:?} must start and end with /", u.path),
            );
        }
        if u.tags.len() > 50 {
            self.issue(line, "a user has at most 50 tags".to_owned());
        }
        let arn = iam::user_arn(&u.account, &u.path, &u.name);

        let mut own = Vec::new();
        let inline_documents = self.inline_policies(&arn, &u.policy_files, &mut own);
        self.managed_policies(iam, &u.managed_policies, line, &mut own);
        let mut groups = Vec::new();
        if u.groups.len() > MAX_GROUPS_PER_USER {
            self.issue(
                line,
                format!("user {arn} is in more than {MAX_GROUPS_PER_USER} groups"),
            );
        }
        let mut seen = HashSet::new();
        for name in &u.groups {
            if !seen.insert(name.as_str()) {
                self.issue(line, format!("user {arn} lists group {name:?} twice"));
                continue;
            }
            match iam.group_named(&u.account, name) {
                Some(group) => groups.push(group),
                None => self.issue(
                    line,
                    format!(
                        "group {name:?} is not defined in [[groups]] of account {}",
                        u.account
                    ),
                ),
            }
        }
        let identity = iam::user_identity(own, groups);
        let boundary = self.boundary(iam, u.permissions_boundary.as_deref(), line);

        if u.access_keys.len() > MAX_ACCESS_KEYS_PER_USER {
            self.issue(
                line,
                format!("user {arn} has more than {MAX_ACCESS_KEYS_PER_USER} access keys"),
            );
        }
        let access_keys = self.access_keys(&u.access_keys, line, key_ids);
        if self.issues.len() > before {
            return None;
        }
        Some(User {
            account: u.account.clone(),
            name: u.name.clone(),
            path: u.path.clone(),
            user_id: iam::stable_id("AIDA", &format!("{}/{}", u.account, u.name)),
            arn,
            groups: u.groups.clone(),
            identity_policies: identity,
            permissions_boundary: boundary,
            tags: u.tags.clone(),
            access_keys,
            about: self.about(
                inline_documents,
                u.managed_policies.clone(),
                u.permissions_boundary.clone(),
            ),
        })
    }

    /// Access keys as configured (a user's or a root's): ids well formed and unique across the
    /// file (`key_ids`), creation times RFC 3339, secrets read from their variable or file;
    /// each problem on the key's line (found from `line`, its entry's).
    pub(super) fn access_keys(
        &mut self,
        keys: &[AccessKeyEntry],
        line: Option<usize>,
        key_ids: &mut HashSet<String>,
    ) -> Vec<AccessKey> {
        let mut access_keys = Vec::new();
        for k in keys {
            let key_line = self.line_after(line, &format!("\"{}\"", k.id));
            if !iam::is_access_key_id(&k.id) {
                self.issue(
                    key_line,
                    format!(
                        "access key id {:?} must be AKIA followed by 16 characters of A-Z and 2-7",
                        k.id
                    ),
                );
            }
            if !key_ids.insert(k.id.clone()) {
                self.issue(
                    key_line,
                    format!("access key id {} is configured twice", k.id),
                );
            }
            let created =
                k.created
                    .as_deref()
                    .and_then(|c| match OffsetDateTime::parse(c, &Rfc3339) {
                        Ok(t) => Some(t),
                        Err(_) => {
                            self.issue(
                                key_line,
                                format!(
                                    "access key {}: created {c:?} is not an RFC 3339 time",
                                    k.id
                                ),
                            );
                            None
                        }
                    });
            let what = format!("access key {}", k.id);
            let secret = self.secret(
                &what,
                k.secret_env.as_deref(),
                k.secret_file.as_deref(),
                key_line,
            );
            if let Some(secret) = secret {
                access_keys.push(AccessKey {
                    id: k.id.clone(),
                    secret: HeldSecret::File(secret),
                    active: k.status == KeyStatus::Active,
                    created,
                    generation: 0,
                });
            }
        }
        access_keys
    }

    fn check_mfa_device(
        &mut self,
        m: &MfaDeviceEntry,
        iam: &Iam,
        line: Option<usize>,
    ) -> Option<MfaDevice> {
        let before = self.issues.len();
        self.known_account(iam, &m.account, line);
        let user = iam
            .users()
            .find(|u| u.account == m.account && u.name == m.user);
        if user.is_none() {
            self.issue(
                line,
                format!(
                    "user {:?} is not defined in [[users]] of account {}",
                    m.user, m.account
                ),
            );
        }
        if !iam::is_mfa_serial(&m.serial, &m.account) {
            self.issue(
                line,
                format!(
                    "serial {:?} must be arn:aws:iam::{}:mfa/NAME",
                    m.serial, m.account
                ),
            );
        }
        if iam.mfa_device(&m.serial).is_some() {
            self.issue(line, format!("MFA device {} is defined twice", m.serial));
        }
        if let Some(user) = user
            && iam.mfa_devices().filter(|d| d.user_arn == user.arn).count()
                >= MAX_MFA_DEVICES_PER_USER
        {
            self.issue(
                line,
                format!(
                    "user {} has more than {MAX_MFA_DEVICES_PER_USER} MFA devices",
                    user.arn
                ),
            );
        }
        let what = format!("MFA device {}", m.serial);
        let secret = self.secret(
            &what,
            m.secret_env.as_deref(),
            m.secret_file.as_deref(),
            line,
        );
        if let Some(secret) = &secret
            && Seed::from_base32(secret.expose()).is_err()
        {
            self.issue(
                line,
                format!("{what}: the seed is not base32 of at least 16 characters"),
            );
        }
        if self.issues.len() > before {
            return None;
        }
        Some(MfaDevice {
            serial: m.serial.clone(),
            user_arn: user?.arn.clone(),
            secret: HeldSecret::File(secret?),
            drift_steps: 0,
            origin: iam::Origin::File(self.name.to_owned()),
            enabled: OffsetDateTime::now_utc(),
        })
    }

    /// Reads a secret from exactly one of an environment variable and a file (relative to the
    /// configuration's folder), trimmed of surrounding whitespace.
    pub(super) fn secret(
        &mut self,
        what: &str,
        env: Option<&str>,
        file: Option<&str>,
        line: Option<usize>,
    ) -> Option<Secret> {
        let value = match (env, file) {
            (Some(var), None) => match (self.env)(var).map(Zeroizing::new) {
                Some(v) => v,
                None => {
                    self.issue(
                        line,
                        format!("{what}: environment variable {var} is not set"),
                    );
                    return None;
                }
            },
            (None, Some(relative)) => {
                let path = self.path(relative);
                match std::fs::read_to_string(&path) {
                    Ok(v) => Zeroizing::new(v),
                    Err(e) => {
                        self.issue(
                            line,
                            format!("{what}: cannot read secret_file {}: {e}", path.display()),
                        );
                        return None;
                    }
                }
            }
            _ => {
                self.issue(
                    line,
                    format!("{what} needs exactly one of secret_env and secret_file"),
                );
                return None;
            }
        };
        let trimmed = value.trim();
        let source = env.or(file).unwrap_or_default();
        if trimmed.is_empty() {
            self.issue(line, format!("{what}: the secret in {source} is empty"));
            return None;
        }
        if trimmed
            .bytes()
            .any(|b| !(0x21..=0x7e).contains(&b) && b != b' ')
        {
            self.issue(
                line,
                format!("{what}: the secret in {source} holds control or non-ASCII characters"),
            );
            return None;
        }
        Some(Secret::new(trimmed.to_owned()))
    }

    /// The policy files' policies into `out`; their texts by file name, as IAM's API shows
    /// them.
    fn inline_policies(
        &mut self,
        owner: &str,
        files: &[String],
        out: &mut Vec<NamedPolicy>,
    ) -> Vec<(String, String)> {
        let mut documents = Vec::new();
        for f in files {
            let name = format!("{owner} (inline {f})");
            if let Some((p, text)) = self.policy_file_with_text(f, PolicyType::Identity, &name) {
                out.push(p);
                let shown = std::path::Path::new(f)
                    .file_name()
                    .map_or_else(|| f.clone(), |n| n.to_string_lossy().into_owned());
                documents.push((shown, text));
            }
        }
        documents
    }

    /// What IAM's API shows of a file user or group.
    fn about(
        &self,
        inline_documents: Vec<(String, String)>,
        attached_policies: Vec<String>,
        permissions_boundary: Option<String>,
    ) -> iam::PrincipalAbout {
        iam::PrincipalAbout {
            origin: iam::Origin::File(self.name.to_owned()),
            created: OffsetDateTime::now_utc(),
            inline_documents,
            attached_policies,
            permissions_boundary,
        }
    }

    fn managed_policies(
        &mut self,
        iam: &Iam,
        arns: &[String],
        line: Option<usize>,
        out: &mut Vec<NamedPolicy>,
    ) {
        for m in arns {
            match iam.policies.get(m) {
                Some(p) => out.push(p.clone()),
                None => self.issue(
                    line,
                    format!("managed policy {m} is not defined in [[policies]]"),
                ),
            }
        }
    }

    fn boundary(
        &mut self,
        iam: &Iam,
        arn: Option<&str>,
        line: Option<usize>,
    ) -> Option<NamedPolicy> {
        let arn = arn?;
        match iam.policies.get(arn) {
            Some(p) => Some(p.clone()),
            None => {
                self.issue(
                    line,
                    format!("permissions boundary {arn} is not defined in [[policies]]"),
                );
                None
            }
        }
    }

    /// The first line at or after `from` containing `needle`, else `from`.
    pub(super) fn line_after(&self, from: Option<usize>, needle: &str) -> Option<usize> {
        let start = from?;
        self.text
            .lines()
            .enumerate()
            .skip(start.saturating_sub(1))
            .find(|(_, l)| l.contains(needle))
            .map(|(n, _)| n + 1)
            .or(from)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

    const BASE: &str = r#"[[accounts]]
id = "111122223333"

[[accounts]]
id = "444455556666"

[[policies]]
account = "111122223333"
name = "readonly"
file = "policy.json"

[[groups]]
account = "111122223333"
name = "developers"
policy_files = ["policy.json"]
managed_policies = ["arn:aws:iam::111122223333:policy/readonly"]
"#;

    fn env(var: &str) -> Option<String> {
        match var {
            "ALICE_SECRET" => Some(SECRET.to_owned()),
            "ALICE_SEED" => Some(SEED.to_owned()),
            "EMPTY" => Some("  \n".to_owned()),
            _ => None,
        }
    }

    fn load(extra: &str) -> Result<Config, crate::config::ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("policy.json"),
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("alice.secret"), format!("{SECRET}\n")).unwrap();
        std::fs::write(dir.path().join("alice.seed"), SEED).unwrap();
        let text = format!("{BASE}{extra}");
        Config::from_toml_with_env(&text, "c.toml", dir.path(), &env)
    }

    #[test]
    fn a_user_with_keys_groups_and_an_mfa_device_loads() {
        let config = load(
            r#"
[[users]]
account = "111122223333"
name = "alice"
path = "/eng/"
groups = ["developers"]
policy_files = ["policy.json"]
permissions_boundary = "arn:aws:iam::111122223333:policy/readonly"
tags = { team = "platform" }
access_keys = [
  { id = "AKIAIOSFODNN7EXAMPLE", secret_file = "alice.secret", created = "2024-05-01T12:00:00Z" },
  { id = "AKIA2345672345672345", secret_env = "ALICE_SECRET", status = "Inactive" },
]

[[mfa_devices]]
account = "111122223333"
user = "alice"
serial = "arn:aws:iam::111122223333:mfa/alice"
secret_env = "ALICE_SEED"
"#,
        )
        .unwrap();
        let iam = &config.iam;
        let arn = "arn:aws:iam::111122223333:user/eng/alice";
        let user = iam.user(arn).unwrap();
        assert!(user.user_id.starts_with("AIDA") && user.user_id.len() == 21);
        // Own inline, then the group's inline and managed policies.
        assert_eq!(user.identity_policies.len(), 3);
        assert!(user.permissions_boundary.is_some());
        let (found, key) = iam.user_by_access_key("AKIAIOSFODNN7EXAMPLE").unwrap();
        assert_eq!(found.arn, arn);
        assert!(key.active);
        assert_eq!(
            key.secret
                .open(&crate::session::keyring::KeyRing::default())
                .unwrap()
                .expose(),
            SECRET
        );
        assert_eq!(key.created.unwrap().unix_timestamp(), 1_714_564_800);
        let (_, inactive) = iam.user_by_access_key("AKIA2345672345672345").unwrap();
        assert!(!inactive.active);
        assert!(iam.user_by_access_key("AKIAAAAAAAAAAAAAAAAA").is_none());
        let device = iam
            .mfa_device("arn:aws:iam::111122223333:mfa/alice")
            .unwrap();
        assert_eq!(device.user_arn, arn);
        assert!(
            device
                .seed(&crate::session::keyring::KeyRing::default())
                .is_ok()
        );
        assert!(!format!("{user:?}{device:?}").contains(SECRET));
        assert!(!format!("{device:?}").contains(SEED));
    }

    #[test]
    fn each_problem_is_reported_on_its_line() {
        let user = |keys: &str| {
            format!(
                "\n[[users]]\naccount = \"111122223333\"\nname = \"u\"\naccess_keys = [\n{keys}\n]\n"
            )
        };
        // The first entry after BASE starts on line 18, its first access key on line 22.
        let cases: Vec<(String, usize, &str)> = vec![
            (
                user(r#"{ id = "AKIAIOSFODNN7EXAMPLE", secret_env = "NOT_SET_ANYWHERE" }"#),
                22,
                "environment variable NOT_SET_ANYWHERE is not set",
            ),
            (
                user(r#"{ id = "AKIAIOSFODNN7EXAMPLE", secret_env = "EMPTY" }"#),
                22,
                "the secret in EMPTY is empty",
            ),
            (
                user(r#"{ id = "AKIAIOSFODNN7EXAMPLE", secret_file = "missing.secret" }"#),
                22,
                "cannot read secret_file",
            ),
            (
                user(r#"{ id = "AKIAIOSFODNN7EXAMPLE" }"#),
                22,
                "needs exactly one of secret_env and secret_file",
            ),
            (
                user(
                    r#"{ id = "AKIAIOSFODNN7EXAMPLE", secret_env = "ALICE_SECRET", secret_file = "alice.secret" }"#,
                ),
                22,
                "needs exactly one of secret_env and secret_file",
            ),
            (
                user(r#"{ id = "AKIAIOSFODNN7EXAMPL1", secret_env = "ALICE_SECRET" }"#),
                22,
                "must be AKIA followed by 16 characters",
            ),
            (
                user(r#"{ id = "ASIAIOSFODNN7EXAMPLE", secret_env = "ALICE_SECRET" }"#),
                22,
                "must be AKIA followed by 16 characters",
            ),
            (
                user(
                    r#"{ id = "AKIAIOSFODNN7EXAMPLE", secret_env = "ALICE_SECRET", created = "yesterday" }"#,
                ),
                22,
                "is not an RFC 3339 time",
            ),
            (
                user(
                    "{ id = \"AKIAIOSFODNN7EXAMPLE\", secret_env = \"ALICE_SECRET\" },\n{ id = \"AKIAIOSFODNN7EXAMPLE\", secret_env = \"ALICE_SECRET\" }",
                ),
                22,
                "access key id AKIAIOSFODNN7EXAMPLE is configured twice",
            ),
            (
                user(
                    "{ id = \"AKIAAAAAAAAAAAAAAAAA\", secret_env = \"ALICE_SECRET\" },\n{ id = \"AKIABBBBBBBBBBBBBBBB\", secret_env = \"ALICE_SECRET\" },\n{ id = \"AKIACCCCCCCCCCCCCCCC\", secret_env = \"ALICE_SECRET\" }",
                ),
                18,
                "has more than 2 access keys",
            ),
            (
                "\n[[users]]\naccount = \"111122223333\"\nname = \"u\"\ngroups = [\"admins\"]\n"
                    .to_owned(),
                18,
                "group \"admins\" is not defined in [[groups]] of account 111122223333",
            ),
            (
                "\n[[users]]\naccount = \"444455556666\"\nname = \"u\"\ngroups = [\"developers\"]\n"
                    .to_owned(),
                18,
                "group \"developers\" is not defined in [[groups]] of account 444455556666",
            ),
            (
                format!(
                    "\n[[users]]\naccount = \"111122223333\"\nname = \"u\"\ngroups = [{}]\n",
                    ["\"developers\""; 11].join(", ")
                ),
                18,
                "is in more than 10 groups",
            ),
            (
                "\n[[users]]\naccount = \"111122223333\"\nname = \"u\"\npath = \"eng\"\n".to_owned(),
                18,
                "user path \"eng\" must start and end with /",
            ),
            (
                "\n[[users]]\naccount = \"111122223333\"\nname = \"u\"\nmanaged_policies = [\"arn:aws:iam::111122223333:policy/nope\"]\n"
                    .to_owned(),
                18,
                "managed policy arn:aws:iam::111122223333:policy/nope is not defined",
            ),
            (
                "\n[[users]]\naccount = \"111122223333\"\nname = \"u\"\n\n[[users]]\naccount = \"111122223333\"\nname = \"U\"\n".to_owned(),
                22,
                "user \"U\" is defined twice in account 111122223333",
            ),
            (
                "\n[[groups]]\naccount = \"111122223333\"\nname = \"Developers\"\n".to_owned(),
                18,
                "group arn:aws:iam::111122223333:group/Developers is defined twice",
            ),
            (
                "\n[[mfa_devices]]\naccount = \"111122223333\"\nuser = \"nobody\"\nserial = \"arn:aws:iam::111122223333:mfa/nobody\"\nsecret_env = \"ALICE_SEED\"\n".to_owned(),
                18,
                "user \"nobody\" is not defined in [[users]] of account 111122223333",
            ),
            (
                "\n[[users]]\naccount = \"111122223333\"\nname = \"u\"\n\n[[mfa_devices]]\naccount = \"111122223333\"\nuser = \"u\"\nserial = \"arn:aws:iam::444455556666:mfa/u\"\nsecret_file = \"alice.seed\"\n".to_owned(),
                22,
                "serial \"arn:aws:iam::444455556666:mfa/u\" must be arn:aws:iam::111122223333:mfa/NAME",
            ),
            (
                "\n[[users]]\naccount = \"111122223333\"\nname = \"u\"\n\n[[mfa_devices]]\naccount = \"111122223333\"\nuser = \"u\"\nserial = \"arn:aws:iam::111122223333:mfa/u\"\nsecret_env = \"ALICE_SECRET\"\n".to_owned(),
                22,
                "MFA device arn:aws:iam::111122223333:mfa/u: the seed is not base32",
            ),
        ];
        for (extra, line, message) in cases {
            let err = load(&extra).unwrap_err();
            assert!(
                err.issues
                    .iter()
                    .any(|i| i.line == Some(line) && i.message.contains(message)),
                "{extra}\nwanted line {line}: {message}\ngot: {err}"
            );
            let shown = err.to_string();
            assert!(!shown.contains(SECRET) && !shown.contains(SEED), "{shown}");
        }
    }

    #[test]
    fn inline_secrets_and_nested_groups_are_refused() {
        for extra in [
            "\n[[users]]\naccount = \"111122223333\"\nname = \"u\"\naccess_keys = [{ id = \"AKIAIOSFODNN7EXAMPLE\", secret = \"inline\" }]\n",
            "\n[[groups]]\naccount = \"111122223333\"\nname = \"g\"\ngroups = [\"developers\"]\n",
            "\n[[mfa_devices]]\naccount = \"111122223333\"\nuser = \"u\"\nserial = \"arn:aws:iam::111122223333:mfa/u\"\nsecret = \"JBSWY3DPEHPK3PXP\"\n",
            "\n[[users]]\naccount = \"111122223333\"\nname = \"u\"\naccess_keys = [{ id = \"AKIAIOSFODNN7EXAMPLE\", secret_env = \"ALICE_SECRET\", status = \"Disabled\" }]\n",
        ] {
            let err = load(extra).unwrap_err();
            assert_eq!(err.issues.len(), 1, "{extra}: {err}");
            assert!(err.issues[0].line.is_some(), "{extra}: {err}");
            assert!(!err.to_string().contains("inline\""), "{err}");
        }
    }
}
