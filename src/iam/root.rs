//! The root user of an account (`[[accounts]] root = { ... }`), as IAM's best practices treat
//! it: a password kept only as an Argon2id hash, an MFA seed, and long-term access keys only
//! when the configuration lists them (and then reported loudly).
//!
//! A root access key signs as `arn:aws:iam::ACCOUNT:root` with the account id as its user id,
//! as in AWS. Root is not subject to identity policies: its one identity policy allows every
//! action, which the policy engine confines to its own account (a resource of another account
//! needs that account's resource policy too, as across accounts in AWS). Signing in with the
//! password is not done here; [`Iam::root_sign_in`](super::Iam::root_sign_in) gives what it
//! needs.

use std::sync::Arc;

use super::{HeldSecret, User};
use crate::policy::{self, NamedPolicy, PolicyType};
use crate::secret::Secret;

/// What the credential report and messages call the root user.
pub const ROOT_NAME: &str = "<root_account>";

/// An account's root user.
#[derive(Debug)]
pub struct Root {
    pub account: String,
    /// The root as a caller: ARN `arn:aws:iam::ACCOUNT:root`, user id the account id, its
    /// access keys, and [`root_policy`] as its only identity policy.
    pub user: Arc<User>,
    /// The password's Argon2id PHC string (`$argon2id$v=19$m=...`).
    pub(super) password_hash: Option<Secret>,
    /// The virtual MFA device's seed (base32).
    pub(super) mfa_seed: Option<HeldSecret>,
}

/// What a root sign-in checks: the password's hash and the MFA seed, when configured.
#[derive(Debug, Clone, Copy)]
pub struct RootSignIn<'a> {
    /// An Argon2id PHC string, checked as such when the configuration was read.
    pub password_hash: Option<&'a Secret>,
    pub mfa_seed: Option<&'a HeldSecret>,
}

impl Root {
    /// The root of `account` with `user` as its caller (see [`root_user`]).
    pub fn new(
        account: &str,
        user: User,
        password_hash: Option<Secret>,
        mfa_seed: Option<HeldSecret>,
    ) -> Root {
        Root {
            account: account.to_owned(),
            user: Arc::new(user),
            password_hash,
            mfa_seed,
        }
    }

    /// Whether a password is configured.
    pub fn has_password(&self) -> bool {
        self.password_hash.is_some()
    }

    /// Whether an MFA device is configured.
    pub fn has_mfa(&self) -> bool {
        self.mfa_seed.is_some()
    }

    pub fn sign_in(&self) -> RootSignIn<'_> {
        RootSignIn {
            password_hash: self.password_hash.as_ref(),
            mfa_seed: self.mfa_seed.as_ref(),
        }
    }
}

/// `arn:aws:iam::ACCOUNT:root`.
pub fn root_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// The account whose root `arn` names, if it names one.
pub fn root_account(arn: &str) -> Option<&str> {
    let account = arn.strip_prefix("arn:aws:iam::")?.strip_suffix(":root")?;
    policy::is_account_id(account).then_some(account)
}

/// Whether `arn` is an account's root user.
pub fn is_root_arn(arn: &str) -> bool {
    root_account(arn).is_some()
}

/// Root's identity policy: every action on every resource. The engine still refuses resources
/// of another account unless their own policy grants them.
pub fn root_policy(account: &str) -> Option<NamedPolicy> {
    let document =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let parsed = policy::parse(document, PolicyType::Identity).ok()?;
    Some(NamedPolicy::new(
        format!(
            "{} (root user: not subject to identity policies)",
            root_arn(account)
        ),
        parsed,
    ))
}

/// Why `text` is not an Argon2id password hash in PHC form (`$argon2id$v=19$m=..,t=..,p=..$SALT$HASH`
/// with parameters Argon2 accepts), or `None` when it is one. Never quotes `text`.
pub fn password_hash_problem(text: &str) -> Option<&'static str> {
    let Ok(parsed) = argon2::PasswordHash::new(text) else {
        return Some("is not a PHC password hash string");
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return Some("is not an Argon2id hash ($argon2id$...)");
    }
    if argon2::Params::try_from(&parsed).is_err() {
        return Some("holds Argon2 parameters out of range");
    }
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Some("has no salt or no hash");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9106's Argon2id parameters, a 16-byte salt and a 32-byte output.
    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";

    #[test]
    fn only_argon2id_phc_strings_are_password_hashes() {
        assert_eq!(password_hash_problem(HASH), None);
        let argon2i = HASH.replace("argon2id", "argon2i");
        assert!(
            password_hash_problem(&argon2i)
                .unwrap()
                .contains("Argon2id")
        );
        assert!(password_hash_problem("hunter2").is_some());
        assert!(password_hash_problem("$2b$12$abcdefghijklmnopqrstuv").is_some());
        assert!(password_hash_problem(&HASH.replace("m=19456", "m=1")).is_some());
        assert!(password_hash_problem("$argon2id$v=19$m=19456,t=2,p=1").is_some());
    }

    #[test]
    fn root_arns() {
        assert_eq!(root_arn("111122223333"), "arn:aws:iam::111122223333:root");
        assert_eq!(
            root_account("arn:aws:iam::111122223333:root"),
            Some("111122223333")
        );
        assert!(!is_root_arn("arn:aws:iam::111122223333:user/root"));
        assert!(!is_root_arn("arn:aws:iam::1111:root"));
        assert!(root_policy("111122223333").is_some());
    }
}
