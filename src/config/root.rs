//! `[[accounts]] root = { ... }` checked into an [`iam::root::Root`]: the password file must
//! hold an Argon2id PHC hash, the MFA seed comes from an environment variable and must be
//! base32 (as `[[mfa_devices]]` seeds), root access keys are read as users' are. A problem
//! names the account, the file or variable and the line, never a value read.

use std::collections::HashSet;
use std::io::Read as _;

use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::Checker;
use super::file::{ConfigFile, RootEntry};
use crate::iam::root::{self, ROOT_NAME, Root};
use crate::iam::{HeldSecret, Iam, Origin, PrincipalAbout, User};
use crate::secret::Secret;
use crate::totp::Seed;

/// Longest password file read: a PHC string is far shorter.
const MAX_PASSWORD_FILE: u64 = 4096;

impl Checker<'_> {
    /// The root users of the accounts that configure one; access key ids are unique with the
    /// users' (`key_ids`).
    pub(super) fn check_roots(
        &mut self,
        raw: &ConfigFile,
        iam: &mut Iam,
        key_ids: &mut HashSet<String>,
    ) {
        for (i, a) in raw.accounts.iter().enumerate() {
            let Some(entry) = &a.root else {
                continue;
            };
            let line = self.entry_line("accounts", i);
            if let Some(root) = self.check_root(&a.id, entry, line, key_ids) {
                iam.add_root(root);
            }
        }
    }

    fn check_root(
        &mut self,
        account: &str,
        entry: &RootEntry,
        line: Option<usize>,
        key_ids: &mut HashSet<String>,
    ) -> Option<Root> {
        let before = self.issues.len();
        let password_hash = entry.password_file.as_deref().and_then(|file| {
            let at = self.line_after(line, "password_file");
            self.password_hash(account, file, at)
        });
        let mfa_seed = entry.mfa_secret_env.as_deref().and_then(|var| {
            let at = self.line_after(line, "mfa_secret_env");
            let what = format!("root of account {account}: MFA seed");
            let secret = self.secret(&what, Some(var), None, at)?;
            if Seed::from_base32(secret.expose()).is_err() {
                self.issue(
                    at,
                    format!("{what} in {var} is not base32 of at least 16 characters"),
                );
                return None;
            }
            Some(HeldSecret::File(secret))
        });
        if entry.access_keys.len() > crate::config::MAX_ACCESS_KEYS_PER_USER {
            self.issue(
                line,
                format!(
                    "root of account {account} has more than {} access keys",
                    crate::config::MAX_ACCESS_KEYS_PER_USER
                ),
            );
        }
        let access_keys = self.access_keys(&entry.access_keys, line, key_ids);
        if self.issues.len() > before {
            return None;
        }
        let user = User {
            account: account.to_owned(),
            name: ROOT_NAME.to_owned(),
            path: "/".to_owned(),
            arn: root::root_arn(account),
            // As AWS: the root's user id is its account id.
            user_id: account.to_owned(),
            groups: Vec::new(),
            identity_policies: root::root_policy(account).into_iter().collect(),
            permissions_boundary: None,
            tags: Default::default(),
            access_keys,
            about: PrincipalAbout {
                origin: Origin::File(self.name.to_owned()),
                created: OffsetDateTime::now_utc(),
                inline_documents: Vec::new(),
                attached_policies: Vec::new(),
                permissions_boundary: None,
            },
        };
        Some(Root::new(account, user, password_hash, mfa_seed))
    }

    /// The password file's Argon2id hash, trimmed; anything else is refused naming the file.
    fn password_hash(&mut self, account: &str, file: &str, line: Option<usize>) -> Option<Secret> {
        let path = self.path(file);
        let what = format!(
            "root of account {account}: password_file {}",
            path.display()
        );
        let mut text = Zeroizing::new(String::new());
        let read = std::fs::File::open(&path)
            .and_then(|f| f.take(MAX_PASSWORD_FILE + 1).read_to_string(&mut text));
        if let Err(e) = read {
            self.issue(line, format!("{what}: cannot read: {e}"));
            return None;
        }
        if text.len() as u64 > MAX_PASSWORD_FILE {
            self.issue(
                line,
                format!("{what}: longer than {MAX_PASSWORD_FILE} bytes"),
            );
            return None;
        }
        let trimmed = text.trim();
        if let Some(problem) = root::password_hash_problem(trimmed) {
            self.issue(line, format!("{what} {problem}"));
            return None;
        }
        Some(Secret::new(trimmed.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
    const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn env(var: &str) -> Option<String> {
        match var {
            "ROOT_SEED" => Some(SEED.to_owned()),
            "ROOT_SECRET" => Some(SECRET.to_owned()),
            "NOT_BASE32" => Some("0189018901890189018901".to_owned()),
            _ => None,
        }
    }

    fn load(root: &str, hash: &str) -> Result<Config, crate::config::ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("root.hash"), format!("{hash}\n")).unwrap();
        let text = format!("[[accounts]]\nid = \"111122223333\"\nroot = {root}\n");
        Config::from_toml_with_env(&text, "c.toml", dir.path(), &env)
    }

    #[test]
    fn a_root_with_a_password_mfa_and_a_key_loads() {
        let config = load(
            r#"{ password_file = "root.hash", mfa_secret_env = "ROOT_SEED", access_keys = [{ id = "AKIAROOTROOTROOTROOT", secret_env = "ROOT_SECRET", created = "2026-01-01T00:00:00Z" }] }"#,
            HASH,
        )
        .unwrap();
        let iam = &config.iam;
        let sign_in = iam.root_sign_in("111122223333").unwrap();
        assert_eq!(sign_in.password_hash.unwrap().expose(), HASH);
        assert!(sign_in.mfa_seed.is_some());
        let (user, key) = iam.user_by_access_key("AKIAROOTROOTROOTROOT").unwrap();
        assert_eq!(user.arn, "arn:aws:iam::111122223333:root");
        assert_eq!(user.user_id, "111122223333");
        assert!(key.active);
        // Not an IAM user: not listed with them.
        assert_eq!(iam.users().count(), 0);
        assert!(iam.root_sign_in("444455556666").is_none());
        let shown = format!("{:?}", iam.root("111122223333").unwrap());
        assert!(!shown.contains(HASH) && !shown.contains(SEED) && !shown.contains(SECRET));
    }

    #[test]
    fn a_bad_root_is_refused_on_its_line_without_its_secret() {
        let cases = [
            (
                r#"{ password_file = "root.hash" }"#,
                "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
                "password_file",
                "is not a PHC password hash string",
            ),
            (
                r#"{ password_file = "root.hash" }"#,
                "$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
                "root.hash",
                "is not an Argon2id hash",
            ),
            (
                r#"{ password_file = "missing.hash" }"#,
                HASH,
                "missing.hash",
                "cannot read",
            ),
            (
                r#"{ mfa_secret_env = "NOT_SET" }"#,
                HASH,
                "NOT_SET",
                "is not set",
            ),
            (
                r#"{ mfa_secret_env = "NOT_BASE32" }"#,
                HASH,
                "NOT_BASE32",
                "is not base32",
            ),
        ];
        for (root, hash, names, message) in cases {
            let err = load(root, hash).unwrap_err();
            let shown = err.to_string();
            assert!(
                err.issues
                    .iter()
                    .any(|i| i.line == Some(3) && i.message.contains(message)),
                "{root}: {shown}"
            );
            assert!(shown.contains(names), "{shown}");
            assert!(
                !shown.contains(hash) && !shown.contains("01890189"),
                "{shown}"
            );
        }
    }
}
