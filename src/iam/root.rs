//! The root user of an account (`[[accounts]] root = { ... }`), as IAM's best practices treat
//! it: a password kept only as an Argon2id hash, an MFA seed, and long-term access keys only
//! when the configuration lists them (and then reported loudly).
//!
//! A root access key signs as `arn:aws:iam::ACCOUNT:root` with the account id as its user id,
//! as in AWS. Root is not subject to identity policies: its one identity policy
//! ([`root_policy`]) allows every action on the resources of its own account, and nothing on a
//! resource that names no account (`*`, an S3 ARN), which the engine would otherwise take for
//! the caller's own, except the account-level actions of IAM, STS and Access Analyzer (they act
//! on the caller's account). Signing in with the password is not done here;
//! [`Iam::root_sign_in`](super::Iam::root_sign_in) gives what it needs.

use std::sync::Arc;

use super::passwords::{CURRENT_PARAMS, HashParams, MAX_VERIFY_PARAMS, hash_params};
use super::{HeldSecret, User};
use crate::policy::{self, NamedPolicy, PolicyType};
use crate::secret::Secret;

/// The longest session of the root user (its GetSessionToken sessions and sign-ins), as AWS
/// limits the root's: one hour.
pub const MAX_SESSION_SECONDS: u32 = 3600;
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

/// The services whose actions on `*` act on the caller's own account (IAM's account-level
/// actions such as `ListUsers` or `GenerateCredentialReport`, `sts:DecodeAuthorizationMessage`,
/// which refuses another account's message, and `access-analyzer:ValidatePolicy`): root may call
/// them without naming a resource.
pub const ACCOUNT_LEVEL_ACTIONS: [&str; 3] = ["iam:*", "sts:*", "access-analyzer:*"];

/// Root's identity policy: every action on a resource whose ARN names its account; and the
/// [`ACCOUNT_LEVEL_ACTIONS`] on any resource (the engine refuses another account's unless its
/// own policy grants them too, as across accounts in AWS). Nothing else on a resource that
/// names no account: no `broker:` administration of the whole broker (`broker:ReloadConfig`,
/// `broker:Authorize` about a resource of no account), and no resource server's request on such
/// a resource (an S3 object): those stay with the principals explicitly granted them.
pub fn root_policy(account: &str) -> Option<NamedPolicy> {
    if !policy::is_account_id(account) {
        return None;
    }
    let document = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OwnAccount",
                "Effect": "Allow",
                "Action": "*",
                "Resource": format!("arn:*:*:*:{account}:*"),
            },
            {
                "Sid": "AccountLevelActions",
                "Effect": "Allow",
                "Action": ACCOUNT_LEVEL_ACTIONS,
                "Resource": "*",
            },
        ],
    })
    .to_string();
    let parsed = policy::parse(&document, PolicyType::Identity).ok()?;
    Some(NamedPolicy::new(
        format!(
            "{} (root user: not subject to identity policies)",
            root_arn(account)
        ),
        parsed,
    ))
}

/// Why `text` is not a password hash the broker can verify and accept (`None` when it is one):
/// an Argon2id PHC string of version 19 (`$argon2id$v=19$m=..,t=..,p=..$SALT$HASH`), with a salt
/// and a hash, costs at least [`CURRENT_PARAMS`] (what the broker hashes new passwords with)
/// and at most [`MAX_VERIFY_PARAMS`] (what it verifies at all). Never quotes `text`.
pub fn password_hash_problem(text: &str) -> Option<String> {
    let Ok(parsed) = argon2::PasswordHash::new(text) else {
        return Some("is not a PHC password hash string".to_owned());
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return Some("is not an Argon2id hash ($argon2id$...)".to_owned());
    }
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Some("has no salt or no hash".to_owned());
    }
    if parsed.version != Some(0x13) {
        return Some("is not of Argon2 version 19 ($argon2id$v=19$...)".to_owned());
    }
    let Some(params) = hash_params(text) else {
        return Some("holds Argon2 parameters out of range".to_owned());
    };
    let shown =
        |p: HashParams| format!("m={},t={},p={}", p.memory_kib, p.iterations, p.parallelism);
    if !params.at_least(CURRENT_PARAMS) {
        return Some(format!(
            "has costs below {} (too cheap against guessing): hash the password again",
            shown(CURRENT_PARAMS)
        ));
    }
    if !MAX_VERIFY_PARAMS.at_least(params) {
        return Some(format!(
            "has costs above {} (the broker would refuse to verify it)",
            shown(MAX_VERIFY_PARAMS)
        ));
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

    /// Hashes the broker could never verify, or too cheap to resist guessing, are refused; the
    /// costs are compared with `passwords`' own bounds.
    #[test]
    fn a_root_hash_is_one_the_broker_verifies_at_costs_it_would_use() {
        let salt_hash = "c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
        let with = |version_and_params: &str| format!("$argon2id${version_and_params}${salt_hash}");
        for (text, problem) in [
            (with("v=19$m=8,t=1,p=1"), "costs below m=19456,t=2,p=1"),
            (with("v=19$m=19456,t=1,p=1"), "costs below"),
            (with("v=16$m=19456,t=2,p=1"), "version 19"),
            (with("m=19456,t=2,p=1"), "version 19"),
            (
                with("v=19$m=4194304,t=2,p=1"),
                "costs above m=262144,t=16,p=4",
            ),
            (with("v=19$m=19456,t=17,p=1"), "costs above"),
            (with("v=19$m=19456,t=2,p=5"), "costs above"),
        ] {
            let found = password_hash_problem(&text).unwrap_or_default();
            assert!(found.contains(problem), "{text}: {found}");
            assert!(!found.contains(salt_hash), "{found}");
        }
        for text in [
            with("v=19$m=19456,t=2,p=1"),
            with("v=19$m=65536,t=3,p=4"),
            with("v=19$m=262144,t=16,p=4"),
        ] {
            assert_eq!(password_hash_problem(&text), None, "{text}");
        }
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
        assert!(root_policy("1111:*").is_none());
    }

    /// What root may do: anything on its account's resources and the account-level actions;
    /// not the broker's administration nor a resource that names no account.
    #[test]
    fn root_is_confined_to_its_account() {
        use crate::policy::{Context, PolicySet, Principal, Request, Resource, decide};
        const ACCOUNT: &str = "111122223333";
        let policy = root_policy(ACCOUNT).unwrap();
        let identity = [policy];
        let principal = Principal::parse(&root_arn(ACCOUNT)).unwrap();
        let allowed = |action: &str, resource: &str| {
            // As the broker asks for root: `*` literally (`Permissions::request`).
            let request = Request::new(
                principal.clone(),
                action,
                Resource::new(resource),
                Context::new(),
            )
            .with_wildcard_only_action(resource == "*");
            let set = PolicySet {
                identity: &identity,
                ..PolicySet::default()
            };
            decide(&request, &set).decision.is_allowed()
        };
        for (action, resource) in [
            ("iam:CreateUser", "arn:aws:iam::111122223333:user/x"),
            ("iam:ListUsers", "*"),
            ("iam:GenerateCredentialReport", "*"),
            ("sts:DecodeAuthorizationMessage", "*"),
            ("access-analyzer:ValidatePolicy", "*"),
            ("broker:RevokeUser", "arn:aws:iam::111122223333:user/x"),
            (
                "broker:Authorize",
                "arn:aws:dynamodb:us-east-1:111122223333:table/t",
            ),
            (
                "dynamodb:GetItem",
                "arn:aws:dynamodb:us-east-1:111122223333:table/t",
            ),
        ] {
            assert!(allowed(action, resource), "{action} on {resource}");
        }
        for (action, resource) in [
            ("broker:ReloadConfig", "*"),
            ("broker:Authorize", "*"),
            ("broker:Authorize", "arn:aws:s3:::bucket/key"),
            ("broker:ExplainAuthorization", "arn:aws:s3:::bucket/key"),
            ("s3:GetObject", "arn:aws:s3:::bucket/key"),
            ("s3:ListAllMyBuckets", "*"),
            ("iam:CreateUser", "arn:aws:iam::444455556666:user/x"),
            ("broker:RevokeUser", "arn:aws:iam::444455556666:user/x"),
            (
                "dynamodb:GetItem",
                "arn:aws:dynamodb:us-east-1:444455556666:table/t",
            ),
        ] {
            assert!(!allowed(action, resource), "{action} on {resource}");
        }
    }
}
