//! The IAM entities the broker knows, compiled from configuration: accounts, roles with their
//! trust, identity and boundary policies, customer-managed policies, and users with their
//! groups, access keys and MFA devices ([`user`]). Read-only after start.
//!
//! Names and ARNs follow IAM's identifiers reference: role ARNs carry their path
//! (`arn:aws:iam::ACCOUNT:role/PATH/NAME`), role ids are `AROA` + 17 characters.
//!
//! Roles may also come from IAM's management API ([`api`]): stored per account, merged over
//! the file's, told apart by [`Origin`]; so may users and groups ([`users`]) and virtual MFA
//! devices ([`mfa`]).

pub mod access_keys;
pub mod analysis;
pub mod api;
pub mod mfa;
pub mod passwords;
pub mod providers;
pub mod report;
pub mod root;
mod user;

pub mod users;

pub use user::{
    AccessKey, Group, HeldSecret, MfaDevice, PrincipalAbout, User, access_key_context, group_arn,
    group_arn_at, is_access_key_id, is_mfa_serial, mfa_context, user_arn, user_identity,
};

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ring::digest;
use time::OffsetDateTime;

use crate::policy::NamedPolicy;

/// An account the broker serves.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    /// The alias the configuration file sets (read-only through the API).
    pub alias: Option<String>,
    /// The alias set through IAM's API ([`users`]), when the file sets none.
    pub api_alias: Option<String>,
}

impl Account {
    /// The alias served: the file's, else the API's.
    pub fn served_alias(&self) -> Option<&str> {
        self.alias.as_deref().or(self.api_alias.as_deref())
    }
}

/// A role that sessions can be minted for.
#[derive(Debug)]
pub struct Role {
    pub account: String,
    pub name: String,
    pub path: String,
    pub arn: String,
    /// `AROA...`, stable for the same account and name on every replica.
    pub role_id: String,
    pub trust_policy: NamedPolicy,
    /// Inline policies and attached customer-managed policies, in that order.
    pub identity_policies: Vec<NamedPolicy>,
    pub permissions_boundary: Option<NamedPolicy>,
    pub max_session_duration: u32,
    pub tags: BTreeMap<String, String>,
    /// What IAM's management API shows of it, and where it is defined.
    pub about: RoleAbout,
}

/// Where a role is defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The configuration file of this path: read-only through the API.
    File(String),
    /// Created through IAM's management API, kept in the store.
    Api,
}

/// What IAM's `GetRole` and `GetRolePolicy` show of a role beyond what decisions use.
#[derive(Debug, Clone)]
pub struct RoleAbout {
    pub origin: Origin,
    pub description: Option<String>,
    /// Creation time (API roles); for a file role, when this replica read its file.
    pub created: OffsetDateTime,
    /// The trust policy as written.
    pub trust_document: String,
    /// Inline policies as written, by name (a file role's: its policy files' names).
    pub inline_documents: Vec<(String, String)>,
    /// The ARNs of its attached customer-managed policies, in order.
    pub attached_policies: Vec<String>,
    /// The ARN of its permissions boundary.
    pub permissions_boundary: Option<String>,
}

/// A customer-managed policy as IAM's management API shows it (`GetPolicy`,
/// `GetPolicyVersion`); decisions use its default version from [`Iam::policies`].
#[derive(Debug, Clone)]
pub struct ManagedPolicy {
    pub account: String,
    pub name: String,
    pub path: String,
    pub arn: String,
    /// `ANPA...`: stable for a file policy, new on every creation through the API.
    pub policy_id: String,
    pub origin: Origin,
    pub description: Option<String>,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
    pub default_version: String,
    /// Oldest first.
    pub versions: Vec<PolicyVersion>,
    pub tags: Vec<(String, String)>,
}

/// One version of a customer-managed policy.
#[derive(Debug, Clone)]
pub struct PolicyVersion {
    /// `v1`, `v2`...
    pub id: String,
    /// As written.
    pub document: String,
    pub created: OffsetDateTime,
}

/// Everything IAM-shaped in the configuration.
#[derive(Debug, Default, Clone)]
pub struct Iam {
    pub accounts: BTreeMap<String, Account>,
    roles: HashMap<String, Arc<Role>>,
    /// Customer-managed policies by ARN (their default version).
    pub policies: HashMap<String, NamedPolicy>,
    /// What IAM's API shows of each of [`Self::policies`], by ARN.
    pub managed_policies: HashMap<String, Arc<ManagedPolicy>>,
    /// Groups by ARN.
    pub groups: HashMap<String, Group>,
    users: HashMap<String, Arc<User>>,
    /// Access key id to the ARN of the user holding it.
    access_keys: HashMap<String, String>,
    mfa_devices: HashMap<String, MfaDevice>,
    /// The password policies the configuration file sets, by account id (read-only through
    /// the API; [`passwords`]).
    pub password_policies: BTreeMap<String, passwords::PasswordPolicy>,
    /// Root users, by account ([`root`]).
    roots: HashMap<String, Arc<root::Root>>,
}

impl Iam {
    pub fn add_role(&mut self, role: Role) {
        self.roles.insert(role.arn.clone(), Arc::new(role));
    }

    /// The role an ARN names, exactly as configured.
    pub fn role(&self, arn: &str) -> Option<&Arc<Role>> {
        self.roles.get(arn)
    }

    pub fn roles(&self) -> impl Iterator<Item = &Arc<Role>> {
        self.roles.values()
    }

    /// Adds a role already shared with another view.
    pub fn insert_role(&mut self, role: Arc<Role>) {
        self.roles.insert(role.arn.clone(), role);
    }

    /// Keeps only the roles `keep` accepts.
    pub fn retain_roles(&mut self, mut keep: impl FnMut(&Role) -> bool) {
        self.roles.retain(|_, r| keep(r));
    }

    /// The role of `account` named `name`, whatever its path, names compared without case
    /// (as IAM compares them).
    pub fn role_named(&self, account: &str, name: &str) -> Option<&Arc<Role>> {
        self.roles
            .values()
            .find(|r| r.account == account && r.name.eq_ignore_ascii_case(name))
    }

    /// Adds a user and indexes its access keys (the configuration checks keep ids unique).
    pub fn add_user(&mut self, user: User) {
        for key in &user.access_keys {
            self.access_keys.insert(key.id.clone(), user.arn.clone());
        }
        self.users.insert(user.arn.clone(), Arc::new(user));
    }

    /// Keeps only the users `keep` accepts (and their access keys; root users are kept).
    pub fn retain_users(&mut self, mut keep: impl FnMut(&User) -> bool) {
        self.users.retain(|_, u| keep(u));
        let users = &self.users;
        self.access_keys
            .retain(|_, arn| users.contains_key(arn) || root::is_root_arn(arn));
    }

    /// Adds an account's root user and indexes its access keys.
    pub fn add_root(&mut self, root: root::Root) {
        for key in &root.user.access_keys {
            self.access_keys
                .insert(key.id.clone(), root.user.arn.clone());
        }
        self.roots.insert(root.account.clone(), Arc::new(root));
    }

    /// The root user of `account`, when configured.
    pub fn root(&self, account: &str) -> Option<&Arc<root::Root>> {
        self.roots.get(account)
    }

    pub fn roots(&self) -> impl Iterator<Item = &Arc<root::Root>> {
        self.roots.values()
    }

    /// What signing in as the root of `account` checks: its password's hash and MFA seed.
    pub fn root_sign_in(&self, account: &str) -> Option<root::RootSignIn<'_>> {
        self.roots.get(account).map(|r| r.sign_in())
    }

    /// The user of `account` named `name`, whatever its path, names compared without case.
    pub fn user_named(&self, account: &str, name: &str) -> Option<&Arc<User>> {
        self.users
            .values()
            .find(|u| u.account == account && u.name.eq_ignore_ascii_case(name))
    }

    /// The group of `account` named `name`, whatever its path, names compared without case.
    pub fn group_named(&self, account: &str, name: &str) -> Option<&Group> {
        self.groups
            .values()
            .find(|g| g.account == account && g.name.eq_ignore_ascii_case(name))
    }

    /// The user an ARN names, exactly as configured; an account's root user as a caller
    /// (`arn:aws:iam::ACCOUNT:root`) too. [`Self::users`] lists IAM users only.
    pub fn user(&self, arn: &str) -> Option<&Arc<User>> {
        match self.users.get(arn) {
            Some(user) => Some(user),
            None => self.roots.get(root::root_account(arn)?).map(|r| &r.user),
        }
    }

    pub fn users(&self) -> impl Iterator<Item = &Arc<User>> {
        self.users.values()
    }

    /// The user holding access key `id`, and the key, active or not.
    pub fn user_by_access_key(&self, id: &str) -> Option<(&Arc<User>, &AccessKey)> {
        let user = self.user(self.access_keys.get(id)?)?;
        let key = user.access_keys.iter().find(|k| k.id == id)?;
        Some((user, key))
    }

    /// Whether any user holds access key `id`.
    pub fn has_access_key(&self, id: &str) -> bool {
        self.access_keys.contains_key(id)
    }

    pub fn add_mfa_device(&mut self, device: MfaDevice) {
        self.mfa_devices.insert(device.serial.clone(), device);
    }

    /// Keeps only the MFA devices `keep` accepts.
    pub fn retain_mfa_devices(&mut self, mut keep: impl FnMut(&MfaDevice) -> bool) {
        self.mfa_devices.retain(|_, d| keep(d));
    }

    /// The MFA device with this serial number (ARN).
    pub fn mfa_device(&self, serial: &str) -> Option<&MfaDevice> {
        self.mfa_devices.get(serial)
    }

    pub fn mfa_devices(&self) -> impl Iterator<Item = &MfaDevice> {
        self.mfa_devices.values()
    }
}

/// `arn:aws:iam::ACCOUNT:role/PATH/NAME`.
pub fn role_arn(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:role{path}{name}")
}

/// `arn:aws:iam::ACCOUNT:policy/NAME`.
pub fn policy_arn(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:policy/{name}")
}

/// `arn:aws:iam::ACCOUNT:policy/PATH/NAME`.
pub fn policy_arn_at(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:policy{path}{name}")
}

/// A stable unique id: `prefix` followed by 17 characters of base32 of a digest of `seed`.
pub fn stable_id(prefix: &str, seed: &str) -> String {
    let hash = digest::digest(&digest::SHA256, seed.as_bytes());
    let mut id = String::with_capacity(prefix.len() + 17);
    id.push_str(prefix);
    id.push_str(&crate::encoding::base32(hash.as_ref())[..17]);
    id
}

/// A new unique id: `prefix` followed by 17 random base32 characters. Configured roles and users
/// keep [`stable_id`]s (every replica derives the same one, and a removed one's sessions are
/// revoked by [`crate::revocation::Revocations::reconcile`]); a role or user created through an
/// API must take one of these on every creation, as IAM's `AROA`/`AIDA` ids are, so sessions of
/// an earlier entity of the same name never match it.
pub fn new_unique_id(prefix: &str) -> Option<String> {
    let mut bytes = [0u8; 16];
    crate::random::fill(&mut bytes).ok()?;
    let mut id = String::with_capacity(prefix.len() + 17);
    id.push_str(prefix);
    id.push_str(crate::encoding::base32(&bytes).get(..17)?);
    Some(id)
}

/// Whether `name` is a valid role or policy name: 1–64 of `[\w+=,.@-]`.
pub fn is_valid_name(name: &str, max: usize) -> bool {
    !name.is_empty() && name.len() <= max && name.bytes().all(is_name_byte)
}

/// `[\w+=,.@-]`, the character class of IAM names and role session names.
pub fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'=' | b',' | b'.' | b'@' | b'-')
}

/// Whether `path` is a valid IAM path: `/` or `/a/b/`, printable ASCII without spaces.
pub fn is_valid_path(path: &str) -> bool {
    path.len() <= 512
        && path.starts_with('/')
        && path.ends_with('/')
        && path.bytes().all(|b| (0x21..=0x7e).contains(&b))
        && !path.contains("//")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_differ_on_every_creation() {
        let a = new_unique_id("AROA").unwrap();
        assert_eq!(a.len(), 21);
        assert!(a.starts_with("AROA"));
        assert_ne!(a, new_unique_id("AROA").unwrap());
    }

    #[test]
    fn stable_ids_are_stable_and_distinct() {
        let a = stable_id("AROA", "111122223333/deploy");
        assert_eq!(a, stable_id("AROA", "111122223333/deploy"));
        assert_ne!(a, stable_id("AROA", "111122223333/Deploy"));
        assert_eq!(a.len(), 21);
        assert!(a.starts_with("AROA"));
    }

    #[test]
    fn names_and_paths() {
        assert!(is_valid_name("deploy-role_1+=,.@", 64));
        assert!(!is_valid_name("", 64));
        assert!(!is_valid_name("a/b", 64));
        assert!(!is_valid_name(&"a".repeat(65), 64));
        assert!(is_valid_path("/"));
        assert!(is_valid_path("/ci/github/"));
        assert!(!is_valid_path("ci/"));
        assert!(!is_valid_path("/ci"));
        assert!(!is_valid_path("/a//b/"));
    }
}
