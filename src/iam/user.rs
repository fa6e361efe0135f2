//! IAM users, their groups, long-term access keys and virtual MFA devices, as configured.
//!
//! Follows IAM's identifiers reference: user ARNs carry their path
//! (`arn:aws:iam::ACCOUNT:user/PATH/NAME`), user ids are `AIDA` + 17 characters, access key ids
//! `AKIA` + 16 base32 characters. Secrets are held as [`Secret`] and never printed.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::policy::NamedPolicy;
use crate::secret::Secret;
use crate::session::keyring::KeyRing;
use crate::session::sealed::{self, SealedError};
use crate::totp::{Seed, TotpError};

/// An IAM user with long-term credentials.
#[derive(Debug)]
pub struct User {
    pub account: String,
    pub name: String,
    pub path: String,
    /// `arn:aws:iam::ACCOUNT:user/PATH/NAME`.
    pub arn: String,
    /// `AIDA...`, stable for the same account and name on every replica.
    pub user_id: String,
    /// Group names, as configured.
    pub groups: Vec<String>,
    /// The user's inline and managed policies, then each group's inline and managed policies.
    pub identity_policies: Vec<NamedPolicy>,
    pub permissions_boundary: Option<NamedPolicy>,
    pub tags: BTreeMap<String, String>,
    pub access_keys: Vec<AccessKey>,
    /// What IAM's management API shows of it, and where it is defined.
    pub about: PrincipalAbout,
}

/// What IAM's `GetUser`, `GetGroup` and their policy actions show of a user or group beyond
/// what decisions use.
#[derive(Debug, Clone)]
pub struct PrincipalAbout {
    pub origin: super::Origin,
    /// Creation time (API entities); for a file entity, when this replica read its file.
    pub created: OffsetDateTime,
    /// Its own inline policies as written, by name (a file entity's: its policy files' names).
    pub inline_documents: Vec<(String, String)>,
    /// The ARNs of its own attached customer-managed policies, in order.
    pub attached_policies: Vec<String>,
    /// The ARN of its permissions boundary (users only).
    pub permissions_boundary: Option<String>,
}

/// A long-term access key (`AKIA...`).
#[derive(Debug, Clone)]
pub struct AccessKey {
    pub id: String,
    pub secret: HeldSecret,
    /// `Inactive` keys are refused like unknown ones.
    pub active: bool,
    pub created: Option<OffsetDateTime>,
    /// Times it was made active again (API keys; 0 for the file's): sessions created with it
    /// carry it, so that revoking a deactivated key's sessions spares those of its next
    /// activation.
    pub generation: u32,
}

/// A group: policies shared by its members. Groups do not nest.
#[derive(Debug, Clone)]
pub struct Group {
    pub account: String,
    pub name: String,
    /// `/` for the file's groups.
    pub path: String,
    /// `arn:aws:iam::ACCOUNT:group/PATH/NAME`.
    pub arn: String,
    /// `AGPA...`: stable for a file group, new on every creation through the API.
    pub group_id: String,
    /// Inline policies, then managed ones.
    pub policies: Vec<NamedPolicy>,
    pub about: PrincipalAbout,
}

/// A user's identity policies as decisions use them: its own (inline, then managed), then
/// each of its groups' in the order it lists them. File users and API users alike.
pub fn user_identity<'a>(
    own: Vec<NamedPolicy>,
    groups: impl IntoIterator<Item = &'a Group>,
) -> Vec<NamedPolicy> {
    let mut out = own;
    for g in groups {
        out.extend(g.policies.iter().cloned());
    }
    out
}

/// A virtual (TOTP) MFA device, enabled for a user.
#[derive(Debug, Clone)]
pub struct MfaDevice {
    /// `arn:aws:iam::ACCOUNT:mfa/PATH/NAME`, what callers send as `SerialNumber`.
    pub serial: String,
    pub user_arn: String,
    /// The base32 seed.
    pub secret: HeldSecret,
    /// Steps of [`crate::totp::STEP_SECONDS`] the device's clock is ahead of the broker's
    /// (behind when negative), as `EnableMFADevice` or `ResyncMFADevice` found it; 0 for the
    /// file's devices.
    pub drift_steps: i64,
    /// Where it is defined.
    pub origin: super::Origin,
    /// When it was enabled (a file device: when this replica read its file).
    pub enabled: OffsetDateTime,
}

impl MfaDevice {
    /// The time the device's clock shows when the broker's shows `now`: its codes are checked
    /// at that time.
    pub fn device_time(&self, now: OffsetDateTime) -> OffsetDateTime {
        let seconds = self
            .drift_steps
            .saturating_mul(crate::totp::STEP_SECONDS as i64);
        now.checked_add(time::Duration::seconds(seconds))
            .unwrap_or(now)
    }

    /// The decoded seed, the secret opened with `keys` (a file seed was checked when the
    /// configuration was loaded).
    pub fn seed(&self, keys: &KeyRing) -> Result<Seed, TotpError> {
        let secret = self.secret.open(keys).map_err(|_| TotpError::BadSeed)?;
        Seed::from_base32(secret.expose())
    }
}

/// A secret the broker must read back: from the configuration's files, or created through the
/// IAM API and kept in the store sealed under a session key ([`crate::session::sealed`]).
#[derive(Clone)]
pub enum HeldSecret {
    File(Secret),
    Sealed {
        /// `sb1:<key id>:…`, as stored.
        sealed: String,
        /// What it is bound to ([`access_key_context`], [`mfa_context`]).
        context: String,
    },
}

impl std::fmt::Debug for HeldSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeldSecret::File(_) => f.write_str("HeldSecret::File(<redacted>)"),
            HeldSecret::Sealed { context, .. } => f
                .debug_struct("HeldSecret::Sealed")
                .field("sealed", &"<redacted>")
                .field("context", context)
                .finish(),
        }
    }
}

impl HeldSecret {
    /// The secret in clear, for one use.
    pub fn open(&self, keys: &KeyRing) -> Result<Secret, SealedError> {
        match self {
            HeldSecret::File(secret) => Ok(secret.clone()),
            HeldSecret::Sealed { sealed, context } => {
                let bytes = sealed::open(sealed, context, keys)?;
                let text = std::str::from_utf8(&bytes).map_err(|_| SealedError::Malformed)?;
                Ok(Secret::new(text.to_owned()))
            }
        }
    }

    /// The session key a sealed secret needs (to load it when another replica just added it).
    pub fn key_id(&self) -> Option<&str> {
        match self {
            HeldSecret::File(_) => None,
            HeldSecret::Sealed { sealed, .. } => sealed::key_id(sealed),
        }
    }
}

/// What an API access key's secret is sealed for: its account and id.
pub fn access_key_context(account: &str, access_key_id: &str) -> String {
    format!("access-key:{account}:{access_key_id}")
}

/// What a virtual MFA device's seed is sealed for: its serial (which names its account).
pub fn mfa_context(serial: &str) -> String {
    format!("mfa:{serial}")
}

/// `arn:aws:iam::ACCOUNT:user/PATH/NAME`.
pub fn user_arn(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:user{path}{name}")
}

/// `arn:aws:iam::ACCOUNT:group/NAME`.
pub fn group_arn(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:group/{name}")
}

/// `arn:aws:iam::ACCOUNT:group/PATH/NAME`.
pub fn group_arn_at(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:group{path}{name}")
}

/// Whether `id` has the shape of a long-term access key id: `AKIA[A-Z2-7]{16}`.
pub fn is_access_key_id(id: &str) -> bool {
    id.len() == 20
        && id.starts_with("AKIA")
        && id
            .bytes()
            .skip(4)
            .all(|b| matches!(b, b'A'..=b'Z' | b'2'..=b'7'))
}

/// Whether `serial` is a virtual MFA device ARN of `account`:
/// `arn:aws:iam::ACCOUNT:mfa/PATH/NAME` with `[\w+=,.@-]` names.
pub fn is_mfa_serial(serial: &str, account: &str) -> bool {
    let prefix = format!("arn:aws:iam::{account}:mfa/");
    match serial.strip_prefix(&prefix) {
        Some(rest) => {
            serial.len() <= 256
                && !rest.is_empty()
                && !rest.ends_with('/')
                && !rest.contains("//")
                && rest.bytes().all(|b| b == b'/' || super::is_name_byte(b))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_key_ids() {
        assert!(is_access_key_id("AKIAIOSFODNN7EXAMPLE"));
        assert!(is_access_key_id("AKIA2345672345672345"));
        assert!(!is_access_key_id("ASIAIOSFODNN7EXAMPLE"));
        assert!(!is_access_key_id("AKIAIOSFODNN7EXAMPL"));
        assert!(!is_access_key_id("AKIAIOSFODNN7EXAMPL1"));
        assert!(!is_access_key_id("AKIAiosfodnn7example"));
    }

    #[test]
    fn mfa_serials() {
        assert!(is_mfa_serial(
            "arn:aws:iam::111122223333:mfa/alice",
            "111122223333"
        ));
        assert!(is_mfa_serial(
            "arn:aws:iam::111122223333:mfa/dev/alice-phone",
            "111122223333"
        ));
        assert!(!is_mfa_serial(
            "arn:aws:iam::444455556666:mfa/alice",
            "111122223333"
        ));
        assert!(!is_mfa_serial(
            "arn:aws:iam::111122223333:mfa/",
            "111122223333"
        ));
        assert!(!is_mfa_serial(
            "arn:aws:iam::111122223333:mfa/a b",
            "111122223333"
        ));
        assert!(!is_mfa_serial("GAHT12345678", "111122223333"));
    }

    #[test]
    fn arns() {
        assert_eq!(
            user_arn("111122223333", "/eng/", "alice"),
            "arn:aws:iam::111122223333:user/eng/alice"
        );
        assert_eq!(
            group_arn("111122223333", "developers"),
            "arn:aws:iam::111122223333:group/developers"
        );
    }
}
