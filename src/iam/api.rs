//! Entities created through IAM's management API (docs/operations.md, "Managing roles through
//! IAM's API"): what is stored per account (one [`AccountDocument`], serde JSON), the checks on every input (IAM's bounds and messages;
//! policies through [`crate::policy::parse`], as file policies are), the changes as pure
//! functions on a document ([`apply`]), and the merge of the stored layer over the file's
//! entities ([`merged`]). No I/O: the store and the broker call these.
//!
//! The file is the read-only base layer: a name it defines cannot be created here, and its
//! entities cannot be changed or deleted here. Names compare without case, as in IAM.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{
    Iam, ManagedPolicy, Origin, PolicyVersion, Role, RoleAbout, is_name_byte, is_valid_path,
    policy_arn_at, role_arn,
};
use crate::encoding::shorten;
use crate::policy::{self, NamedPolicy, PolicyType};

/// Roles an account may hold, file and API together (IAM's default quota).
pub const MAX_ROLES_PER_ACCOUNT: usize = 1000;
/// Tags on one entity.
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_KEY: usize = 128;
pub const MAX_TAG_VALUE: usize = 256;
pub const MAX_DESCRIPTION: usize = 1000;
/// A policy document parameter, as IAM's model bounds it (characters), and its bytes.
pub const MAX_POLICY_DOCUMENT: usize = 131_072;
/// A role's trust policy, non-whitespace characters (IAM's `ACLSizePerRole`).
pub const MAX_TRUST_POLICY: usize = 2048;
/// A role's inline policies together, non-whitespace characters.
pub const MAX_ROLE_INLINE_POLICIES: usize = 10_240;
/// A managed policy's document, non-whitespace characters (IAM's `PolicySize`).
pub const MAX_MANAGED_POLICY: usize = 6144;
/// Versions one managed policy keeps.
pub const MAX_POLICY_VERSIONS: usize = 5;
/// The stored versions of an account's managed policies together, bytes as written (IAM
/// counts a policy without whitespace; what is stored also keeps its whitespace).
pub const MAX_POLICY_BYTES_PER_ACCOUNT: usize = 2 * 1024 * 1024;
/// Managed policies attached to one role (IAM's default `PoliciesPerRole`).
pub const MAX_ATTACHED_PER_ROLE: usize = 10;
/// Customer-managed policies an account may hold, file and API together.
pub const MAX_POLICIES_PER_ACCOUNT: usize = 1500;
/// One account's stored document, serialized: every replica reads all of them at each change
/// within the store's deadline, so a change that would make it larger is refused.
pub const MAX_ACCOUNT_DOCUMENT: usize = 4 * 1024 * 1024;
/// `MaxSessionDuration`'s range, seconds.
pub const SESSION_DURATION: std::ops::RangeInclusive<u32> = 3600..=43200;

/// Why a change or an input was refused; becomes IAM's error of the same name at the front
/// door (`broker/error.rs`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IamApiError {
    /// `ValidationError`: a parameter breaks its model constraint.
    #[error("{0}")]
    Validation(String),
    /// `InvalidInput`.
    #[error("{0}")]
    InvalidInput(String),
    /// `NoSuchEntity`.
    #[error("{0}")]
    NoSuchEntity(String),
    /// `EntityAlreadyExists`.
    #[error("{0}")]
    AlreadyExists(String),
    /// `LimitExceeded`.
    #[error("{0}")]
    LimitExceeded(String),
    /// `DeleteConflict`.
    #[error("{0}")]
    DeleteConflict(String),
    /// `UnmodifiableEntity`: defined in the configuration file.
    #[error("{0}")]
    Unmodifiable(String),
    /// `MalformedPolicyDocument`, with the message a file policy gets.
    #[error("{0}")]
    MalformedPolicy(String),
    /// `ConcurrentModification`: the entity stored is no longer the one the call was
    /// authorized on ([`apply_expecting`]).
    #[error("{0}")]
    ConcurrentModification(String),
    /// `PasswordPolicyViolation`: a password breaks the account's password policy
    /// ([`super::passwords`]).
    #[error("{0}")]
    PasswordPolicyViolation(String),
    /// `InvalidUserType`: the call needs an IAM user's credentials (`ChangePassword`).
    #[error("{0}")]
    InvalidUserType(String),
}

/// A tag as IAM keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A role created through the API, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRole {
    pub name: String,
    pub path: String,
    /// `AROA` + 17 random characters, new on every creation.
    pub role_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub max_session_duration: u32,
    pub trust_policy: String,
    /// Inline policies by name.
    #[serde(default)]
    pub inline_policies: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Unix seconds.
    pub created: i64,
    /// ARNs of its attached customer-managed policies (the file's or the API's, of the same
    /// account), in the order attached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached_policies: Vec<String>,
    /// The ARN of the customer-managed policy that bounds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<String>,
}

/// A customer-managed policy created through the API, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPolicy {
    pub name: String,
    pub path: String,
    /// `ANPA` + 17 random characters, new on every creation.
    pub policy_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// One of `versions`.
    pub default_version: String,
    /// Oldest first, at most [`MAX_POLICY_VERSIONS`].
    pub versions: Vec<StoredVersion>,
    /// The number the next version gets (IAM does not reuse them).
    pub next_version: u32,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Unix seconds.
    pub created: i64,
}

/// One version of a [`StoredPolicy`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredVersion {
    /// `v1`, `v2`...
    pub id: String,
    pub document: String,
    /// Unix seconds.
    pub created: i64,
}

impl StoredPolicy {
    /// A new policy whose only version, `v1`, is its default.
    pub fn new(
        name: &str,
        path: &str,
        policy_id: String,
        document: &str,
        created: i64,
    ) -> StoredPolicy {
        StoredPolicy {
            name: name.to_owned(),
            path: path.to_owned(),
            policy_id,
            description: None,
            default_version: "v1".to_owned(),
            versions: vec![StoredVersion {
                id: "v1".to_owned(),
                document: document.to_owned(),
                created,
            }],
            next_version: 2,
            tags: Vec::new(),
            created,
        }
    }

    pub fn arn(&self, account: &str) -> String {
        policy_arn_at(account, &self.path, &self.name)
    }

    /// The document of its default version.
    pub fn default_document(&self) -> Option<&str> {
        self.versions
            .iter()
            .find(|v| v.id == self.default_version)
            .map(|v| v.document.as_str())
    }
}

/// The format of the account documents this build writes and understands. A document of a
/// later format was written by a newer build (it may hold what this one would drop): it is
/// neither served nor changed here ([`AccountDocument::decode`]).
pub const FORMAT: u32 = 4;

/// An account document's format: [`FORMAT`] for a new one; 1 when absent (documents written
/// before it was recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Format(pub u32);

impl Format {
    fn first() -> Format {
        Format(1)
    }
}

impl Default for Format {
    fn default() -> Format {
        Format(FORMAT)
    }
}

/// Everything created through the API in one account: one stored document, changed whole.
/// Later kinds of entity (providers, users) get fields of their own here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountDocument {
    /// By name in lowercase (IAM's names do not differ by case alone).
    #[serde(default)]
    pub roles: BTreeMap<String, StoredRole>,
    /// Customer-managed policies by name in lowercase.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policies: BTreeMap<String, StoredPolicy>,
    /// OpenID Connect providers by the host and path of their ARN ([`super::providers`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub oidc_providers: BTreeMap<String, super::providers::StoredOidcProvider>,
    /// SAML providers by name in lowercase ([`super::providers`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub saml_providers: BTreeMap<String, super::providers::StoredSamlProvider>,
    /// Users by name in lowercase ([`super::users`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub users: BTreeMap<String, super::users::StoredUser>,
    /// Groups by name in lowercase ([`super::users`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, super::users::StoredGroup>,
    /// The account's alias ([`super::users`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(default = "Format::first")]
    pub format: Format,
    /// Set when the stored bytes did not decode (never stored): served as empty and never
    /// overwritten, like a newer format's ([`Self::is_unusable`]).
    #[serde(skip)]
    pub unreadable: bool,
    /// Virtual MFA devices by name in lowercase ([`super::mfa`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mfa_devices: BTreeMap<String, super::mfa::StoredMfaDevice>,
    /// The password policy set through the API ([`super::passwords`]; the file's, when it
    /// sets one, is served instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_policy: Option<super::passwords::PasswordPolicy>,
    /// Users' login profiles (password hashes only) by user name in lowercase
    /// ([`super::passwords`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub login_profiles: BTreeMap<String, super::passwords::StoredLoginProfile>,
}

impl AccountDocument {
    /// The stored document `bytes`. One of a later [`FORMAT`] comes back empty but for its
    /// format, even when this build cannot read the rest ([`Self::is_newer`]), and one that
    /// does not decode comes back empty and [`Self::unreadable`]: nothing of either is served
    /// (fail closed: the last good layer is not kept in force), and no write may replace it.
    pub fn decode(bytes: &[u8]) -> AccountDocument {
        match Self::decode_known(bytes) {
            Ok(doc) => doc,
            Err(_) => AccountDocument {
                unreadable: true,
                ..AccountDocument::default()
            },
        }
    }

    /// Whether nothing of it may be served or written back: a newer build's, or unreadable.
    pub fn is_unusable(&self) -> bool {
        self.is_newer() || self.unreadable
    }

    fn decode_known(bytes: &[u8]) -> Result<AccountDocument, serde_json::Error> {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(default = "Format::first")]
            format: Format,
        }
        let newer = |format: Format| AccountDocument {
            format,
            ..AccountDocument::default()
        };
        match serde_json::from_slice::<AccountDocument>(bytes) {
            Ok(doc) if doc.is_newer() => Ok(newer(doc.format)),
            Ok(doc) => Ok(doc),
            Err(e) => match serde_json::from_slice::<Probe>(bytes) {
                Ok(probe) if probe.format > Format(FORMAT) => Ok(newer(probe.format)),
                _ => Err(e),
            },
        }
    }

    /// Every secret it holds sealed (access keys' secrets, virtual MFA devices' seeds), with
    /// what each is bound to ([`super::access_key_context`], [`super::mfa_context`]): for
    /// sealing them again under a new session key.
    pub fn sealed_secrets_mut(&mut self, account: &str) -> Vec<(&mut String, String)> {
        let mut out = Vec::new();
        for user in self.users.values_mut() {
            for key in &mut user.access_keys {
                let context = super::access_key_context(account, &key.id);
                out.push((&mut key.sealed, context));
            }
        }
        for device in self.mfa_devices.values_mut() {
            let context = super::mfa_context(&device.serial(account));
            out.push((&mut device.seed, context));
        }
        out
    }

    /// The sealed texts of [`Self::sealed_secrets_mut`], read only.
    pub fn sealed_texts(&self) -> impl Iterator<Item = &str> {
        let keys = self
            .users
            .values()
            .flat_map(|u| u.access_keys.iter().map(|k| k.sealed.as_str()));
        keys.chain(self.mfa_devices.values().map(|d| d.seed.as_str()))
    }

    /// Whether a newer build wrote it.
    pub fn is_newer(&self) -> bool {
        self.format > Format(FORMAT)
    }

    /// The document with the oldest format that holds all it has: 4 once it has a password
    /// policy or login profiles (a build of format 3 would drop them when writing it back), 3
    /// once a user has access keys or it has virtual MFA devices (a build of format 2 would
    /// drop them), 2 once it has users, groups or an alias (a build of format 1 would drop
    /// those), else 1 (such builds still serve and change it).
    pub fn with_needed_format(mut self) -> AccountDocument {
        let needs_four = self.password_policy.is_some() || !self.login_profiles.is_empty();
        let needs_three = self.users.values().any(|u| !u.access_keys.is_empty());
        let needs_two = !self.users.is_empty() || !self.groups.is_empty() || self.alias.is_some();
        let needs_three = needs_three || !self.mfa_devices.is_empty();
        self.format = Format(if needs_four {
            4
        } else if needs_three {
            3
        } else if needs_two {
            2
        } else {
            1
        });
        self
    }

    /// The key of the stored policy `arn` names in `account`, if any.
    fn policy_key(&self, account: &str, arn: &str) -> Option<String> {
        self.policies
            .iter()
            .find(|(_, p)| p.arn(account) == arn)
            .map(|(k, _)| k.clone())
    }
}

/// One account's document with the revision it was read at (0: none stored yet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revisioned {
    pub revision: u64,
    pub document: AccountDocument,
}

/// The API layer as a replica last read it: every account's document, and the store's
/// version counter at that read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    pub version: u64,
    pub accounts: BTreeMap<String, Revisioned>,
}

impl Layer {
    /// The stored role `name` of `account` (any case).
    pub fn role(&self, account: &str, name: &str) -> Option<&StoredRole> {
        self.accounts
            .get(account)?
            .document
            .roles
            .get(&name.to_ascii_lowercase())
    }
}

/// A change to an account's roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleChange {
    Create(StoredRole),
    /// `UpdateRole` / `UpdateRoleDescription`: what is given is set; an empty description
    /// removes it.
    Update {
        name: String,
        description: Option<String>,
        max_session_duration: Option<u32>,
    },
    UpdateTrust {
        name: String,
        document: String,
    },
    Delete {
        name: String,
    },
    PutPolicy {
        role: String,
        policy: String,
        document: String,
    },
    DeletePolicy {
        role: String,
        policy: String,
    },
    Tag {
        role: String,
        tags: Vec<Tag>,
    },
    Untag {
        role: String,
        keys: Vec<String>,
    },
    /// `AttachRolePolicy`: a managed policy's ARN (attaching it again changes nothing).
    Attach {
        role: String,
        policy_arn: String,
    },
    Detach {
        role: String,
        policy_arn: String,
    },
    PutBoundary {
        role: String,
        policy_arn: String,
    },
    DeleteBoundary {
        role: String,
    },
}

impl RoleChange {
    /// The role it changes.
    pub fn role_name(&self) -> &str {
        match self {
            RoleChange::Create(r) => &r.name,
            RoleChange::Update { name, .. }
            | RoleChange::UpdateTrust { name, .. }
            | RoleChange::Delete { name } => name,
            RoleChange::PutPolicy { role, .. }
            | RoleChange::DeletePolicy { role, .. }
            | RoleChange::Tag { role, .. }
            | RoleChange::Untag { role, .. }
            | RoleChange::Attach { role, .. }
            | RoleChange::Detach { role, .. }
            | RoleChange::PutBoundary { role, .. }
            | RoleChange::DeleteBoundary { role } => role,
        }
    }
}

/// The file's roles and managed policies of one account, as [`apply`] and [`apply_policy`]
/// need them.
#[derive(Debug, Clone, Default)]
pub struct FileRoles {
    pub account: String,
    /// The configuration file that defines them.
    pub source: String,
    /// Their names in lowercase.
    pub names: HashSet<String>,
    /// The file's managed policies: ARN by name in lowercase.
    pub policies: HashMap<String, String>,
}

impl FileRoles {
    /// The file roles and policies of `account` in `iam`.
    pub fn of(iam: &Iam, account: &str) -> FileRoles {
        let mut out = FileRoles {
            account: account.to_owned(),
            ..FileRoles::default()
        };
        for r in iam.roles().filter(|r| r.account == account) {
            if let Origin::File(source) = &r.about.origin {
                out.source.clone_from(source);
                out.names.insert(r.name.to_ascii_lowercase());
            }
        }
        for p in iam
            .managed_policies
            .values()
            .filter(|p| p.account == account)
        {
            if let Origin::File(source) = &p.origin {
                out.source.clone_from(source);
                out.policies
                    .insert(p.name.to_ascii_lowercase(), p.arn.clone());
            }
        }
        out
    }

    fn defines_policy(&self, arn: &str) -> bool {
        self.policies.values().any(|a| a == arn)
    }

    fn defines(&self, name: &str) -> bool {
        self.names.contains(&name.to_ascii_lowercase())
    }
}

/// IAM's `NoSuchEntity` message for a role.
pub fn no_such_role(name: &str) -> IamApiError {
    IamApiError::NoSuchEntity(format!(
        "The role with name {} cannot be found.",
        shorten(name)
    ))
}

/// IAM's `NoSuchEntity` message for a managed policy.
pub fn no_such_policy(arn: &str) -> IamApiError {
    IamApiError::NoSuchEntity(format!(
        "Policy {} does not exist or is not attachable.",
        shorten(arn)
    ))
}

/// Whether `arn` names a managed policy of the file's account: the file's or one in `doc`.
fn policy_exists(doc: &AccountDocument, file: &FileRoles, arn: &str) -> bool {
    file.defines_policy(arn) || doc.policy_key(&file.account, arn).is_some()
}

/// Applies `change` to `doc`: the next document and the role as it is after the change (none
/// after a deletion). Refused changes leave nothing behind (the caller keeps `doc`).
pub fn apply(
    doc: &AccountDocument,
    change: &RoleChange,
    file: &FileRoles,
) -> Result<(AccountDocument, Option<StoredRole>), IamApiError> {
    let name = change.role_name();
    if file.defines(name) {
        return Err(match change {
            RoleChange::Create(_) => IamApiError::AlreadyExists(format!(
                "Role with name {name} already exists: it is defined in the configuration file {}.",
                file.source
            )),
            _ => IamApiError::Unmodifiable(format!(
                "Cannot modify role {name}: it is defined in the configuration file {}; change it there.",
                file.source
            )),
        });
    }
    let mut next = doc.clone();
    let key = name.to_ascii_lowercase();
    if let RoleChange::Create(role) = change {
        if next.roles.contains_key(&key) {
            return Err(IamApiError::AlreadyExists(format!(
                "Role with name {name} already exists."
            )));
        }
        if next.roles.len() + file.names.len() >= MAX_ROLES_PER_ACCOUNT {
            return Err(IamApiError::LimitExceeded(format!(
                "Cannot exceed quota for RolesPerAccount: {MAX_ROLES_PER_ACCOUNT}."
            )));
        }
        if let Some(boundary) = &role.permissions_boundary
            && !policy_exists(&next, file, boundary)
        {
            return Err(no_such_policy(boundary));
        }
        next.roles.insert(key, role.clone());
        return Ok((bounded(next)?, Some(role.clone())));
    }
    if let RoleChange::Delete { .. } = change {
        let role = next.roles.get(&key).ok_or_else(|| no_such_role(name))?;
        if !role.inline_policies.is_empty() {
            return Err(IamApiError::DeleteConflict(
                "Cannot delete entity, must delete policies first.".to_owned(),
            ));
        }
        if !role.attached_policies.is_empty() {
            return Err(IamApiError::DeleteConflict(
                "Cannot delete entity, must detach all policies first.".to_owned(),
            ));
        }
        next.roles.remove(&key);
        return Ok((next, None));
    }
    if !next.roles.contains_key(&key) {
        return Err(no_such_role(name));
    }
    if let RoleChange::Attach { policy_arn, .. } | RoleChange::PutBoundary { policy_arn, .. } =
        change
        && !policy_exists(&next, file, policy_arn)
    {
        return Err(no_such_policy(policy_arn));
    }
    let role = next.roles.get_mut(&key).ok_or_else(|| no_such_role(name))?;
    match change {
        RoleChange::Create(_) | RoleChange::Delete { .. } => {}
        RoleChange::Update {
            description,
            max_session_duration,
            ..
        } => {
            if let Some(d) = description {
                role.description = (!d.is_empty()).then(|| d.clone());
            }
            if let Some(m) = max_session_duration {
                role.max_session_duration = *m;
            }
        }
        RoleChange::UpdateTrust { document, .. } => role.trust_policy.clone_from(document),
        RoleChange::PutPolicy {
            policy, document, ..
        } => {
            role.inline_policies
                .insert(policy.clone(), document.clone());
            let size: usize = role.inline_policies.values().map(|d| non_blank(d)).sum();
            if size > MAX_ROLE_INLINE_POLICIES {
                return Err(IamApiError::LimitExceeded(format!(
                    "Maximum policy size of {MAX_ROLE_INLINE_POLICIES} bytes exceeded for role {name}"
                )));
            }
        }
        RoleChange::DeletePolicy { policy, .. } => {
            if role.inline_policies.remove(policy).is_none() {
                return Err(IamApiError::NoSuchEntity(format!(
                    "The role policy with name {} cannot be found.",
                    shorten(policy)
                )));
            }
        }
        RoleChange::Tag { tags, .. } => add_tags(&mut role.tags, tags)?,
        RoleChange::Untag { keys, .. } => remove_tags(&mut role.tags, keys),
        RoleChange::Attach { policy_arn, .. } => {
            if !role.attached_policies.contains(policy_arn) {
                if role.attached_policies.len() >= MAX_ATTACHED_PER_ROLE {
                    return Err(IamApiError::LimitExceeded(format!(
                        "Cannot exceed quota for PoliciesPerRole: {MAX_ATTACHED_PER_ROLE}"
                    )));
                }
                role.attached_policies.push(policy_arn.clone());
            }
        }
        RoleChange::Detach { policy_arn, .. } => {
            let before = role.attached_policies.len();
            role.attached_policies.retain(|a| a != policy_arn);
            if role.attached_policies.len() == before {
                return Err(IamApiError::NoSuchEntity(format!(
                    "Policy {} was not found.",
                    shorten(policy_arn)
                )));
            }
        }
        RoleChange::PutBoundary { policy_arn, .. } => {
            role.permissions_boundary = Some(policy_arn.clone());
        }
        RoleChange::DeleteBoundary { .. } => role.permissions_boundary = None,
    }
    let after = role.clone();
    Ok((bounded(next)?, Some(after)))
}

/// Adds `new` to an entity's `tags`; keys compare without case, as in IAM, and a tag of the
/// same key is replaced. More than [`MAX_TAGS`] is `LimitExceeded`.
pub(crate) fn add_tags(tags: &mut Vec<Tag>, new: &[Tag]) -> Result<(), IamApiError> {
    for t in new {
        match tags.iter_mut().find(|o| same_tag_key(&o.key, &t.key)) {
            Some(old) => *old = t.clone(),
            None => tags.push(t.clone()),
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(IamApiError::LimitExceeded(
            "The number of tags has reached the maximum limit.".to_owned(),
        ));
    }
    Ok(())
}

/// Removes the tags of `keys` (any case) from an entity's `tags`.
pub(crate) fn remove_tags(tags: &mut Vec<Tag>, keys: &[String]) {
    tags.retain(|t| !keys.iter().any(|k| same_tag_key(k, &t.key)));
}

/// `doc`, if its serialized size is within [`MAX_ACCOUNT_DOCUMENT`].
pub(crate) fn bounded(doc: AccountDocument) -> Result<AccountDocument, IamApiError> {
    let size = serde_json::to_vec(&doc).map_or(usize::MAX, |b| b.len());
    if size > MAX_ACCOUNT_DOCUMENT {
        return Err(IamApiError::LimitExceeded(format!(
            "Cannot exceed the size of the IAM entities stored for one account: \
             {MAX_ACCOUNT_DOCUMENT} bytes (policy documents count whitespace included)."
        )));
    }
    Ok(doc)
}

/// What a call that changes a role was authorized on: the role as this replica's snapshot
/// had it. [`apply_expecting`] refuses the change when the stored role is another one, so a
/// decision made on a stale snapshot is never applied to a newer role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The entity's id (`RoleId`, `UserId`, `GroupId`): one deleted and created again since
    /// is another entity.
    pub id: String,
    /// The boundary the decision saw as `iam:PermissionsBoundary` (none: the decision did not
    /// depend on it, any boundary will do).
    pub boundary: Option<Option<String>>,
}

impl Expected {
    fn holds(&self, stored: &StoredRole) -> bool {
        self.holds_entity(&stored.role_id, &stored.permissions_boundary)
    }

    /// Whether a stored entity of id `id` and boundary `boundary` is the expected one.
    pub(crate) fn holds_entity(&self, id: &str, boundary: &Option<String>) -> bool {
        id == self.id && self.boundary.as_ref().is_none_or(|b| b == boundary)
    }
}

/// [`apply`] to a role that must still be the one `expected` describes: a role of the
/// configuration file is refused by [`apply`] as always; a stored one that is absent, of
/// another id, or (when the decision depended on it) of another boundary is
/// `ConcurrentModification` and nothing changes.
pub fn apply_expecting(
    doc: &AccountDocument,
    change: &RoleChange,
    expected: &Expected,
    file: &FileRoles,
) -> Result<(AccountDocument, Option<StoredRole>), IamApiError> {
    let name = change.role_name();
    let stored = doc.roles.get(&name.to_ascii_lowercase());
    if !file.defines(name) && !stored.is_some_and(|r| expected.holds(r)) {
        return Err(IamApiError::ConcurrentModification(format!(
            "The role {} changed while this request was handled. Submit your request again.",
            shorten(name)
        )));
    }
    apply(doc, change, file)
}

/// A change to an account's customer-managed policies, each named by its ARN but `Create`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyChange {
    Create(StoredPolicy),
    /// Refused while attached or bounding a role, or while it has other versions than the
    /// default.
    Delete {
        arn: String,
    },
    CreateVersion {
        arn: String,
        document: String,
        set_as_default: bool,
        created: i64,
    },
    SetDefault {
        arn: String,
        version: String,
    },
    /// Refused for the default version.
    DeleteVersion {
        arn: String,
        version: String,
    },
    Tag {
        arn: String,
        tags: Vec<Tag>,
    },
    Untag {
        arn: String,
        keys: Vec<String>,
    },
}

/// Applies `change` to `doc`'s policies: the next document and the policy as it is after the
/// change (none after a deletion). Refused changes leave nothing behind.
pub fn apply_policy(
    doc: &AccountDocument,
    change: &PolicyChange,
    file: &FileRoles,
) -> Result<(AccountDocument, Option<StoredPolicy>), IamApiError> {
    let mut next = doc.clone();
    let arn = match change {
        PolicyChange::Create(policy) => {
            let key = policy.name.to_ascii_lowercase();
            if file.policies.contains_key(&key) {
                return Err(IamApiError::AlreadyExists(format!(
                    "A policy called {} already exists: it is defined in the configuration file {}.",
                    policy.name, file.source
                )));
            }
            if next.policies.contains_key(&key) {
                return Err(IamApiError::AlreadyExists(format!(
                    "A policy called {} already exists. Duplicate names are not allowed.",
                    policy.name
                )));
            }
            if next.policies.len() + file.policies.len() >= MAX_POLICIES_PER_ACCOUNT {
                return Err(IamApiError::LimitExceeded(format!(
                    "Cannot exceed quota for PoliciesPerAccount: {MAX_POLICIES_PER_ACCOUNT}"
                )));
            }
            next.policies.insert(key, policy.clone());
            check_policy_bytes(&next)?;
            return Ok((bounded(next)?, Some(policy.clone())));
        }
        PolicyChange::Delete { arn }
        | PolicyChange::CreateVersion { arn, .. }
        | PolicyChange::SetDefault { arn, .. }
        | PolicyChange::DeleteVersion { arn, .. }
        | PolicyChange::Tag { arn, .. }
        | PolicyChange::Untag { arn, .. } => arn,
    };
    if file.defines_policy(arn) {
        return Err(IamApiError::Unmodifiable(format!(
            "Cannot modify policy {arn}: it is defined in the configuration file {}; change it there.",
            file.source
        )));
    }
    let key = next
        .policy_key(&file.account, arn)
        .ok_or_else(|| no_such_policy(arn))?;
    if let PolicyChange::Delete { .. } = change {
        let used = next.roles.values().any(|r| {
            r.attached_policies.iter().any(|a| a == arn)
                || r.permissions_boundary.as_deref() == Some(arn)
        }) || super::users::uses_policy(&next, arn);
        if used {
            return Err(IamApiError::DeleteConflict(
                "Cannot delete a policy attached to entities.".to_owned(),
            ));
        }
        if next
            .policies
            .get(&key)
            .is_some_and(|p| p.versions.len() > 1)
        {
            return Err(IamApiError::DeleteConflict(
                "This policy has more than one version. Before you delete a policy, you must \
                 delete the policy's versions. The default version is deleted with the policy."
                    .to_owned(),
            ));
        }
        next.policies.remove(&key);
        return Ok((next, None));
    }
    let policy = next
        .policies
        .get_mut(&key)
        .ok_or_else(|| no_such_policy(arn))?;
    let no_version = |version: &str| {
        IamApiError::NoSuchEntity(format!(
            "Policy {} version {} does not exist or is not attachable.",
            shorten(arn),
            shorten(version)
        ))
    };
    match change {
        PolicyChange::Create(_) | PolicyChange::Delete { .. } => {}
        PolicyChange::CreateVersion {
            document,
            set_as_default,
            created,
            ..
        } => {
            if policy.versions.len() >= MAX_POLICY_VERSIONS {
                return Err(IamApiError::LimitExceeded(format!(
                    "A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you \
                     create a new version, you must delete an existing version."
                )));
            }
            let id = format!("v{}", policy.next_version);
            policy.next_version += 1;
            policy.versions.push(StoredVersion {
                id: id.clone(),
                document: document.clone(),
                created: *created,
            });
            if *set_as_default {
                policy.default_version = id;
            }
        }
        PolicyChange::SetDefault { version, .. } => {
            if !policy.versions.iter().any(|v| &v.id == version) {
                return Err(no_version(version));
            }
            policy.default_version.clone_from(version);
        }
        PolicyChange::DeleteVersion { version, .. } => {
            if !policy.versions.iter().any(|v| &v.id == version) {
                return Err(no_version(version));
            }
            if &policy.default_version == version {
                return Err(IamApiError::DeleteConflict(
                    "Cannot delete the default version of a policy.".to_owned(),
                ));
            }
            policy.versions.retain(|v| &v.id != version);
        }
        PolicyChange::Tag { tags, .. } => add_tags(&mut policy.tags, tags)?,
        PolicyChange::Untag { keys, .. } => remove_tags(&mut policy.tags, keys),
    }
    let after = policy.clone();
    if let PolicyChange::CreateVersion { .. } = change {
        check_policy_bytes(&next)?;
    }
    Ok((bounded(next)?, Some(after)))
}

/// [`MAX_POLICY_BYTES_PER_ACCOUNT`], checked when a version is added (an account over it may
/// still delete).
fn check_policy_bytes(doc: &AccountDocument) -> Result<(), IamApiError> {
    let bytes: usize = doc
        .policies
        .values()
        .flat_map(|p| &p.versions)
        .map(|v| v.document.len())
        .sum();
    if bytes > MAX_POLICY_BYTES_PER_ACCOUNT {
        return Err(IamApiError::LimitExceeded(format!(
            "Cannot exceed quota for PolicyVersionBytesPerAccount: {MAX_POLICY_BYTES_PER_ACCOUNT} \
             bytes of stored managed policy versions. Delete versions or policies first."
        )));
    }
    Ok(())
}

/// Characters that count toward IAM's policy size limits: all but IAM's whitespace, which is
/// ASCII's space, tab, line feed and carriage return only (U+00A0 and U+0085 count).
fn non_blank(text: &str) -> usize {
    text.chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\n' | '\r'))
        .count()
}

/// IAM's message for a parameter that breaks its model constraint.
pub fn constraint(param: &str, value: &str, constraint: &str) -> IamApiError {
    IamApiError::Validation(format!(
        "1 validation error detected: Value '{}' at '{param}' failed to satisfy constraint: \
         Member must {constraint}",
        shorten(value)
    ))
}

/// IAM's message for a required parameter that is absent.
pub fn missing(param: &str) -> IamApiError {
    IamApiError::Validation(format!(
        "1 validation error detected: Value null at '{param}' failed to satisfy constraint: \
         Member must not be null"
    ))
}

fn length(param: &str, value: &str, min: usize, max: usize) -> Result<(), IamApiError> {
    let n = value.chars().count();
    if n < min {
        return Err(constraint(
            param,
            value,
            &format!("have length greater than or equal to {min}"),
        ));
    }
    if n > max {
        return Err(constraint(
            param,
            value,
            &format!("have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// A role or inline policy name: `[\w+=,.@-]+`, 1 to `max` characters (64 for roles, 128 for
/// policies).
pub fn check_name(param: &str, value: &str, max: usize) -> Result<(), IamApiError> {
    length(param, value, 1, max)?;
    if !value.bytes().all(is_name_byte) {
        return Err(constraint(
            param,
            value,
            r"satisfy regular expression pattern: [\w+=,.@-]+",
        ));
    }
    Ok(())
}

/// An entity path: `/` or `/a/b/`, printable ASCII, at most 512.
pub fn check_path(param: &str, value: &str) -> Result<(), IamApiError> {
    length(param, value, 1, 512)?;
    if !is_valid_path(value) {
        return Err(constraint(
            param,
            value,
            r"satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)",
        ));
    }
    Ok(())
}

/// A `PathPrefix`: starts with `/`, printable ASCII, at most 512.
pub fn check_path_prefix(value: &str) -> Result<(), IamApiError> {
    length("pathPrefix", value, 1, 512)?;
    if !value.starts_with('/') || !value.bytes().all(|b| (0x21..=0x7f).contains(&b)) {
        return Err(constraint(
            "pathPrefix",
            value,
            r"satisfy regular expression pattern: \u002F[\u0021-\u007F]*",
        ));
    }
    Ok(())
}

/// A role description: at most 1000 of IAM's allowed characters.
pub fn check_description(value: &str) -> Result<(), IamApiError> {
    length("description", value, 0, MAX_DESCRIPTION)?;
    let allowed =
        |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{a1}'..='\u{ff}');
    if !value.chars().all(allowed) {
        return Err(constraint(
            "description",
            value,
            r"satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*",
        ));
    }
    Ok(())
}

/// `MaxSessionDuration`: an integer from 3600 to 43200.
pub fn check_max_session_duration(value: &str) -> Result<u32, IamApiError> {
    let n: i64 = value.parse().map_err(|_| {
        IamApiError::InvalidInput(format!(
            "MaxSessionDuration {} is not an integer",
            shorten(value)
        ))
    })?;
    if n < i64::from(*SESSION_DURATION.start()) {
        return Err(constraint(
            "maxSessionDuration",
            value,
            "have value greater than or equal to 3600",
        ));
    }
    u32::try_from(n)
        .ok()
        .filter(|n| SESSION_DURATION.contains(n))
        .ok_or_else(|| {
            constraint(
                "maxSessionDuration",
                value,
                "have value less than or equal to 43200",
            )
        })
}

/// A policy document parameter: bounded and allowed characters, then exactly the checks a
/// file policy of the same kind gets ([`policy::parse`]; the same message). At most
/// [`MAX_POLICY_DOCUMENT`] characters and as many bytes; a trust policy is also held to
/// [`MAX_TRUST_POLICY`].
pub fn check_policy(param: &str, text: &str, kind: PolicyType) -> Result<(), IamApiError> {
    length(param, text, 1, MAX_POLICY_DOCUMENT)?;
    if text.len() > MAX_POLICY_DOCUMENT {
        return Err(constraint(
            param,
            text,
            &format!("have length less than or equal to {MAX_POLICY_DOCUMENT} bytes"),
        ));
    }
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}');
    if !text.chars().all(allowed) {
        return Err(constraint(
            param,
            text,
            r"satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u00FF]+",
        ));
    }
    if kind == PolicyType::Trust && non_blank(text) > MAX_TRUST_POLICY {
        return Err(IamApiError::LimitExceeded(format!(
            "Cannot exceed quota for ACLSizePerRole: {MAX_TRUST_POLICY} (IAM's default quota: \
             characters of the trust policy, whitespace not counted)."
        )));
    }
    policy::parse(text, kind)
        .map(|_| ())
        .map_err(|e| IamApiError::MalformedPolicy(e.to_string()))
}

/// A managed policy's document: [`check_policy`] as an identity policy, and at most
/// [`MAX_MANAGED_POLICY`] non-whitespace characters.
pub fn check_managed_policy(param: &str, text: &str) -> Result<(), IamApiError> {
    length(param, text, 1, MAX_POLICY_DOCUMENT)?;
    if non_blank(text) > MAX_MANAGED_POLICY {
        return Err(IamApiError::LimitExceeded(format!(
            "Cannot exceed quota for PolicySize: {MAX_MANAGED_POLICY}"
        )));
    }
    check_policy(param, text, PolicyType::Identity)
}

/// A managed policy's ARN as a parameter: 20–2048 characters, and the shape
/// `arn:aws:iam::ACCOUNT:policy/PATH/NAME` (IAM's `InvalidInput` otherwise). Returns the
/// account.
pub fn check_policy_arn(param: &str, arn: &str) -> Result<String, IamApiError> {
    length(param, arn, 20, 2048)?;
    let invalid = || IamApiError::InvalidInput(format!("ARN {} is not valid.", shorten(arn)));
    let rest = arn.strip_prefix("arn:aws:iam::").ok_or_else(invalid)?;
    let (account, resource) = rest.split_once(':').ok_or_else(invalid)?;
    let path_and_name = resource.strip_prefix("policy").ok_or_else(invalid)?;
    let (path, name) = path_and_name
        .rsplit_once('/')
        .map(|(p, n)| (format!("{p}/"), n))
        .ok_or_else(invalid)?;
    let account_ok = account == "aws" || policy::is_account_id(account);
    if !account_ok || !is_valid_path(&path) || !super::is_valid_name(name, 128) {
        return Err(invalid());
    }
    Ok(account.to_owned())
}

/// A policy version id as IAM's pattern `v[1-9][0-9]*(\.[A-Za-z0-9-]*)?` has it: one that
/// fits but names no version is not found, not invalid.
pub fn check_version_id(value: &str) -> Result<(), IamApiError> {
    let ok = value.strip_prefix('v').is_some_and(|rest| {
        let (number, suffix) = rest.split_once('.').unwrap_or((rest, ""));
        number.starts_with(|c: char| ('1'..='9').contains(&c))
            && number.bytes().all(|b| b.is_ascii_digit())
            && suffix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if !ok {
        return Err(constraint(
            "versionId",
            value,
            r"satisfy regular expression pattern: v[1-9][0-9]*(\.[A-Za-z0-9-]*)?",
        ));
    }
    Ok(())
}

/// Tags given in one call: at most 50, keys 1–128 and values 0–256 of IAM's characters, no
/// key twice, none under the reserved `aws:` prefix.
pub fn check_tags(tags: &[Tag]) -> Result<(), IamApiError> {
    if tags.len() > MAX_TAGS {
        return Err(IamApiError::Validation(format!(
            "1 validation error detected: Value at 'tags' failed to satisfy constraint: \
             Member must have length less than or equal to {MAX_TAGS}"
        )));
    }
    let mut seen = HashSet::new();
    for t in tags {
        check_tag_key(&t.key)?;
        length("tags.member.value", &t.value, 0, MAX_TAG_VALUE)?;
        if !tag_text(&t.value) {
            return Err(constraint(
                "tags.member.value",
                &t.value,
                r"satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*",
            ));
        }
        if !seen.insert(t.key.to_lowercase()) {
            return Err(IamApiError::InvalidInput(format!(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive: {}",
                shorten(&t.key)
            )));
        }
    }
    Ok(())
}

/// A tag key: 1–128 of IAM's characters, not under `aws:`.
pub fn check_tag_key(key: &str) -> Result<(), IamApiError> {
    length("tags.member.key", key, 1, MAX_TAG_KEY)?;
    if !tag_text(key) {
        return Err(constraint(
            "tags.member.key",
            key,
            r"satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+",
        ));
    }
    if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
        return Err(IamApiError::InvalidInput(
            "User is not authorized to perform tag operations with the reserved aws: prefix."
                .to_owned(),
        ));
    }
    Ok(())
}

/// Whether `text` is of IAM's tag characters, `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`: letters, digits,
/// separators (no control character such as a newline or a tab) and these signs.
fn tag_text(text: &str) -> bool {
    regex::Regex::new(r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$").is_ok_and(|r| r.is_match(text))
}

/// Whether two tag keys are the same key: IAM's tag keys do not differ by case alone.
fn same_tag_key(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

impl StoredRole {
    /// The role sessions are minted for, built from what was stored: policies parsed again
    /// (they passed [`check_policy`] when written), attached policies and the boundary taken
    /// from `policies` (the account's managed policies by ARN, their default versions).
    pub fn to_role(
        &self,
        account: &str,
        policies: &HashMap<String, NamedPolicy>,
    ) -> Result<Role, Skipped> {
        let arn = role_arn(account, &self.path, &self.name);
        let unparsable = |e: policy::PolicyError| Skipped::Unparsable {
            role: arn.clone(),
            problem: e.to_string(),
        };
        let missing = |p: &str| Skipped::MissingPolicy {
            role: arn.clone(),
            policy: p.to_owned(),
        };
        let trust = policy::parse(&self.trust_policy, PolicyType::Trust).map_err(unparsable)?;
        let mut identity =
            Vec::with_capacity(self.inline_policies.len() + self.attached_policies.len());
        for (name, text) in &self.inline_policies {
            let p = policy::parse(text, PolicyType::Identity).map_err(unparsable)?;
            identity.push(NamedPolicy::new(format!("{arn} (inline {name})"), p));
        }
        for attached in &self.attached_policies {
            identity.push(
                policies
                    .get(attached)
                    .ok_or_else(|| missing(attached))?
                    .clone(),
            );
        }
        let boundary = match &self.permissions_boundary {
            Some(b) => Some(policies.get(b).ok_or_else(|| missing(b))?.clone()),
            None => None,
        };
        Ok(Role {
            account: account.to_owned(),
            name: self.name.clone(),
            path: self.path.clone(),
            role_id: self.role_id.clone(),
            trust_policy: NamedPolicy::new(format!("{arn} (trust policy)"), trust),
            arn,
            identity_policies: identity,
            permissions_boundary: boundary,
            max_session_duration: self.max_session_duration,
            tags: self
                .tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect(),
            about: RoleAbout {
                origin: Origin::Api,
                description: self.description.clone(),
                created: at(self.created),
                trust_document: self.trust_policy.clone(),
                inline_documents: self
                    .inline_policies
                    .iter()
                    .map(|(n, d)| (n.clone(), d.clone()))
                    .collect(),
                attached_policies: self.attached_policies.clone(),
                permissions_boundary: self.permissions_boundary.clone(),
            },
        })
    }
}

impl StoredPolicy {
    /// What IAM's API shows of it, and its default version for decisions.
    pub fn to_managed(&self, account: &str) -> Result<(ManagedPolicy, NamedPolicy), Skipped> {
        let arn = self.arn(account);
        let unparsable = |problem: String| Skipped::UnparsablePolicy {
            policy: arn.clone(),
            problem,
        };
        let document = self
            .default_document()
            .ok_or_else(|| unparsable("its default version is missing".to_owned()))?;
        let parsed =
            policy::parse(document, PolicyType::Identity).map_err(|e| unparsable(e.to_string()))?;
        let updated = self
            .versions
            .iter()
            .map(|v| v.created)
            .max()
            .unwrap_or(self.created);
        let about = ManagedPolicy {
            account: account.to_owned(),
            name: self.name.clone(),
            path: self.path.clone(),
            arn: arn.clone(),
            policy_id: self.policy_id.clone(),
            origin: Origin::Api,
            description: self.description.clone(),
            created: at(self.created),
            updated: at(updated),
            default_version: self.default_version.clone(),
            versions: self
                .versions
                .iter()
                .map(|v| PolicyVersion {
                    id: v.id.clone(),
                    document: v.document.clone(),
                    created: at(v.created),
                })
                .collect(),
            tags: self
                .tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect(),
        };
        Ok((about, NamedPolicy::new(arn, parsed)))
    }
}

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// What [`merged`] left out, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    /// The account is not configured (any more).
    UnknownAccount(String),
    /// The file defines a role or policy of that name (added to the file after the API
    /// created it).
    Shadowed(String),
    /// A stored policy of a role no longer parses.
    Unparsable { role: String, problem: String },
    /// A stored managed policy's default version no longer parses.
    UnparsablePolicy { policy: String, problem: String },
    /// A role's attached policy or boundary is no longer defined (a file policy removed by a
    /// reload): the role is not served rather than served with more than it had.
    MissingPolicy { role: String, policy: String },
    /// The account's document was written by a newer build: none of its entities are served.
    NewerFormat { account: String, format: u32 },
    /// The account's document does not decode (damaged in the store): none of its entities are
    /// served until an operator repairs or removes it.
    Unreadable(String),
    /// A user or group created through the API cannot be served as stored (a policy that no
    /// longer parses, an attached policy, boundary or group that is gone): it is left out
    /// rather than served with other permissions.
    Principal { entity: String, problem: String },
    /// A virtual MFA device enabled through the API cannot be served (its user is gone or is
    /// another user now): it accepts no code.
    MfaDevice { serial: String, problem: String },
    /// An access key stored through the API whose id is stored more than once or configured
    /// in the file: its user is served without it.
    AccessKey { access_key_id: String, user: String },
}

/// The file's entities of `base` (API-made ones it holds are dropped) with `layer` over them.
/// `previous` is the merged view the layer replaces: roles stored identically, without
/// managed policies, are shared from it rather than parsed again.
pub fn merged(base: &Iam, layer: &Layer, previous: Option<(&Iam, &Layer)>) -> (Iam, Vec<Skipped>) {
    let mut iam = base.clone();
    iam.retain_roles(|r| r.about.origin != Origin::Api);
    super::users::file_only(&mut iam);
    super::mfa::file_only(&mut iam);
    let api_policies: Vec<String> = iam
        .managed_policies
        .values()
        .filter(|p| p.origin == Origin::Api)
        .map(|p| p.arn.clone())
        .collect();
    for arn in &api_policies {
        iam.managed_policies.remove(arn);
        iam.policies.remove(arn);
    }
    let file_names: HashSet<(String, String)> = iam
        .roles()
        .map(|r| (r.account.clone(), r.name.to_ascii_lowercase()))
        .collect();
    let file_policy_names: HashSet<(String, String)> = iam
        .managed_policies
        .values()
        .map(|p| (p.account.clone(), p.name.to_ascii_lowercase()))
        .collect();
    let mut skipped = Vec::new();
    let duplicate_keys = super::access_keys::duplicates(layer);
    for (account, revisioned) in &layer.accounts {
        let document = &revisioned.document;
        if document.unreadable {
            skipped.push(Skipped::Unreadable(account.clone()));
            continue;
        }
        if document.is_newer() {
            skipped.push(Skipped::NewerFormat {
                account: account.clone(),
                format: document.format.0,
            });
            continue;
        }
        if !iam.accounts.contains_key(account) {
            if !document.roles.is_empty()
                || !document.policies.is_empty()
                || !document.users.is_empty()
                || !document.groups.is_empty()
                || !document.mfa_devices.is_empty()
            {
                skipped.push(Skipped::UnknownAccount(account.clone()));
            }
            continue;
        }
        for (key, stored) in &document.policies {
            if file_policy_names.contains(&(account.clone(), key.clone())) {
                skipped.push(Skipped::Shadowed(stored.arn(account)));
                continue;
            }
            match stored.to_managed(account) {
                Ok((about, policy)) => {
                    iam.policies.insert(about.arn.clone(), policy);
                    iam.managed_policies
                        .insert(about.arn.clone(), Arc::new(about));
                }
                Err(s) => skipped.push(s),
            }
        }
        for (key, stored) in &document.roles {
            let arn = role_arn(account, &stored.path, &stored.name);
            if file_names.contains(&(account.clone(), key.clone())) {
                skipped.push(Skipped::Shadowed(arn));
                continue;
            }
            // Only the same API role is shared (a file role of that ARN, which hid this one,
            // is not it), and only one that uses no managed policy (those may have changed).
            let standalone =
                stored.attached_policies.is_empty() && stored.permissions_boundary.is_none();
            let reused = previous
                .filter(|_| standalone)
                .and_then(|(iam_before, layer_before)| {
                    (layer_before.role(account, &stored.name) == Some(stored))
                        .then(|| iam_before.role(&arn))
                        .flatten()
                        .filter(|r| r.about.origin == Origin::Api && r.role_id == stored.role_id)
                        .cloned()
                });
            match reused {
                Some(role) => iam.insert_role(role),
                None => match stored.to_role(account, &iam.policies) {
                    Ok(role) => iam.add_role(role),
                    Err(s) => skipped.push(s),
                },
            }
        }
        super::users::merge_into(&mut iam, account, document, &duplicate_keys, &mut skipped);
        super::mfa::merge_into(&mut iam, account, document, &mut skipped);
    }
    (iam, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    const S3: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    const ACCOUNT: &str = "111122223333";
    const FILE_POLICY: &str = "arn:aws:iam::111122223333:policy/readonly";

    fn role(name: &str) -> StoredRole {
        StoredRole {
            name: name.to_owned(),
            path: "/".to_owned(),
            role_id: super::super::new_unique_id("AROA").unwrap(),
            description: None,
            max_session_duration: 3600,
            trust_policy: TRUST.to_owned(),
            inline_policies: BTreeMap::new(),
            tags: Vec::new(),
            created: 1_700_000_000,
            attached_policies: Vec::new(),
            permissions_boundary: None,
        }
    }

    fn file() -> FileRoles {
        FileRoles {
            account: ACCOUNT.to_owned(),
            source: "/etc/sts-broker/broker.toml".to_owned(),
            names: ["deploy".to_owned()].into(),
            policies: [("readonly".to_owned(), FILE_POLICY.to_owned())].into(),
        }
    }

    fn applied(doc: &AccountDocument, change: RoleChange) -> AccountDocument {
        apply(doc, &change, &file()).unwrap().0
    }

    #[test]
    fn create_then_change_then_delete() {
        let doc = applied(&AccountDocument::default(), RoleChange::Create(role("App")));
        // Names compare without case.
        let again = apply(&doc, &RoleChange::Create(role("app")), &file());
        assert!(matches!(again, Err(IamApiError::AlreadyExists(_))));
        let doc = applied(
            &doc,
            RoleChange::Update {
                name: "APP".into(),
                description: Some("d".into()),
                max_session_duration: Some(7200),
            },
        );
        let doc = applied(
            &doc,
            RoleChange::PutPolicy {
                role: "app".into(),
                policy: "s3".into(),
                document: S3.into(),
            },
        );
        let stored = &doc.roles["app"];
        assert_eq!(
            (stored.description.as_deref(), stored.max_session_duration),
            (Some("d"), 7200)
        );
        let refused = apply(&doc, &RoleChange::Delete { name: "app".into() }, &file());
        assert!(matches!(refused, Err(IamApiError::DeleteConflict(_))));
        let doc = applied(
            &doc,
            RoleChange::DeletePolicy {
                role: "app".into(),
                policy: "s3".into(),
            },
        );
        let (doc, after) =
            apply(&doc, &RoleChange::Delete { name: "app".into() }, &file()).unwrap();
        assert!(after.is_none() && doc.roles.is_empty());
        let gone = apply(&doc, &RoleChange::Delete { name: "app".into() }, &file());
        assert_eq!(gone, Err(no_such_role("app")));
    }

    #[test]
    fn a_refused_change_leaves_the_document_as_it_was() {
        let mut r = role("app");
        r.tags = (0..50)
            .map(|i| Tag {
                key: format!("k{i}"),
                value: String::new(),
            })
            .collect();
        let doc = applied(&AccountDocument::default(), RoleChange::Create(r));
        let before = doc.clone();
        let more = RoleChange::Tag {
            role: "app".into(),
            tags: vec![Tag {
                key: "new".into(),
                value: "v".into(),
            }],
        };
        assert!(matches!(
            apply(&doc, &more, &file()),
            Err(IamApiError::LimitExceeded(_))
        ));
        assert_eq!(doc, before);
        // Replacing a value is no new tag.
        let same = RoleChange::Tag {
            role: "app".into(),
            tags: vec![Tag {
                key: "k1".into(),
                value: "v".into(),
            }],
        };
        let doc = applied(&doc, same);
        assert_eq!(doc.roles["app"].tags[1].value, "v");
        let doc = applied(
            &doc,
            RoleChange::Untag {
                role: "app".into(),
                keys: vec!["k1".into(), "absent".into()],
            },
        );
        assert_eq!(doc.roles["app"].tags.len(), 49);
        // Keys compare without case: `K2` replaces `k2`, and untagging `k3` removes `K3`.
        let doc = applied(
            &doc,
            RoleChange::Tag {
                role: "app".into(),
                tags: vec![Tag {
                    key: "K2".into(),
                    value: "w".into(),
                }],
            },
        );
        let tags = &doc.roles["app"].tags;
        assert_eq!(tags.len(), 49);
        assert!(tags.iter().any(|t| t.key == "K2" && t.value == "w"));
        assert!(!tags.iter().any(|t| t.key == "k2"));
        let doc = applied(
            &doc,
            RoleChange::Untag {
                role: "app".into(),
                keys: vec!["K3".into()],
            },
        );
        assert_eq!(doc.roles["app"].tags.len(), 48);
    }

    #[test]
    fn file_roles_cannot_be_created_changed_or_deleted() {
        let doc = AccountDocument::default();
        let Err(IamApiError::AlreadyExists(m)) =
            apply(&doc, &RoleChange::Create(role("Deploy")), &file())
        else {
            panic!("a file role was created");
        };
        assert!(m.contains("/etc/sts-broker/broker.toml"), "{m}");
        let Err(IamApiError::Unmodifiable(m)) = apply(
            &doc,
            &RoleChange::Delete {
                name: "deploy".into(),
            },
            &file(),
        ) else {
            panic!("a file role was deleted");
        };
        assert!(m.contains("/etc/sts-broker/broker.toml"), "{m}");
    }

    #[test]
    fn at_most_a_thousand_roles_with_the_files() {
        let mut doc = AccountDocument::default();
        for i in 0..MAX_ROLES_PER_ACCOUNT - 1 {
            doc.roles.insert(format!("r{i}"), role(&format!("r{i}")));
        }
        let refused = apply(&doc, &RoleChange::Create(role("one-more")), &file());
        assert!(matches!(refused, Err(IamApiError::LimitExceeded(_))));
    }

    #[test]
    fn inputs_are_bounded_as_iam_bounds_them() {
        assert!(check_name("roleName", "ok_name+=,.@-", 64).is_ok());
        assert!(matches!(
            check_name("roleName", &"a".repeat(65), 64),
            Err(IamApiError::Validation(_))
        ));
        assert!(check_name("roleName", "a/b", 64).is_err());
        assert!(check_path("path", "/a/b/").is_ok());
        assert!(check_path("path", "/a").is_err());
        assert!(check_path_prefix("/a").is_ok());
        assert!(check_path_prefix("a").is_err());
        assert!(check_description(&"d".repeat(1000)).is_ok());
        assert!(check_description(&"d".repeat(1001)).is_err());
        assert_eq!(check_max_session_duration("43200"), Ok(43200));
        assert!(check_max_session_duration("3599").is_err());
        assert!(check_max_session_duration("43201").is_err());
        assert!(check_max_session_duration("x").is_err());
        let tag = |k: &str, v: &str| Tag {
            key: k.into(),
            value: v.into(),
        };
        assert!(check_tags(&[tag("team", "a b:c")]).is_ok());
        assert!(matches!(
            check_tags(&[tag("aws:x", "")]),
            Err(IamApiError::InvalidInput(_))
        ));
        assert!(check_tags(&[tag("a", ""), tag("A", "")]).is_err());
        assert!(check_tags(&[tag(&"k".repeat(129), "")]).is_err());
        assert!(check_tags(&[tag("k", &"v".repeat(257))]).is_err());
        assert!(check_tags(&[tag("k", "<>")]).is_err());
        assert!(check_tags(&[tag("k", "a\nb")]).is_err());
        assert!(check_tags(&[tag("k\tk", "v")]).is_err());
        assert!(check_tags(&[tag("k", "caf\u{e9} \u{a0}1:/=+-@_.")]).is_ok());
        // A multi-byte character across the fourth byte is a key like another.
        assert!(check_tag_key("abc\u{e9}").is_ok());
        assert!(check_tags(&[tag("abc\u{e9}", "v"), tag("\u{e9}\u{e9}x", "v")]).is_ok());
    }

    #[test]
    fn policies_get_the_file_checks_and_message() {
        assert!(check_policy("assumeRolePolicyDocument", TRUST, PolicyType::Trust).is_ok());
        let bad = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#;
        let expected = policy::parse(bad, PolicyType::Identity)
            .unwrap_err()
            .to_string();
        assert_eq!(
            check_policy("policyDocument", bad, PolicyType::Identity),
            Err(IamApiError::MalformedPolicy(expected))
        );
        let long = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}","Effect":"Allow","Principal":{{"Service":"ec2.amazonaws.com"}},"Action":"sts:AssumeRole"}}]}}"#,
            "a".repeat(2048)
        );
        assert!(matches!(
            check_policy("assumeRolePolicyDocument", &long, PolicyType::Trust),
            Err(IamApiError::LimitExceeded(_))
        ));
    }

    fn policy(name: &str) -> StoredPolicy {
        StoredPolicy::new(name, "/", new_id("ANPA"), S3, 1_700_000_000)
    }

    fn new_id(prefix: &str) -> String {
        super::super::new_unique_id(prefix).unwrap()
    }

    fn arn(name: &str) -> String {
        policy_arn_at(ACCOUNT, "/", name)
    }

    fn policy_applied(doc: &AccountDocument, change: PolicyChange) -> AccountDocument {
        apply_policy(doc, &change, &file()).unwrap().0
    }

    #[test]
    fn policy_versions_are_numbered_bounded_and_the_default_is_kept() {
        let mut doc = policy_applied(
            &AccountDocument::default(),
            PolicyChange::Create(policy("P")),
        );
        let again = apply_policy(&doc, &PolicyChange::Create(policy("p")), &file());
        assert!(matches!(again, Err(IamApiError::AlreadyExists(_))));
        for i in 2..=5 {
            doc = policy_applied(
                &doc,
                PolicyChange::CreateVersion {
                    arn: arn("P"),
                    document: S3.into(),
                    set_as_default: i == 3,
                    created: 1_700_000_000 + i64::from(i),
                },
            );
        }
        let stored = &doc.policies["p"];
        assert_eq!(stored.default_version, "v3");
        assert_eq!(stored.versions.len(), 5);
        let sixth = PolicyChange::CreateVersion {
            arn: arn("P"),
            document: S3.into(),
            set_as_default: false,
            created: 0,
        };
        let before = doc.clone();
        assert!(matches!(
            apply_policy(&doc, &sixth, &file()),
            Err(IamApiError::LimitExceeded(_))
        ));
        assert_eq!(doc, before);
        let default = PolicyChange::DeleteVersion {
            arn: arn("P"),
            version: "v3".into(),
        };
        assert!(matches!(
            apply_policy(&doc, &default, &file()),
            Err(IamApiError::DeleteConflict(_))
        ));
        // Numbers are not reused after a deletion.
        doc = policy_applied(
            &doc,
            PolicyChange::DeleteVersion {
                arn: arn("P"),
                version: "v5".into(),
            },
        );
        let (doc2, after) = apply_policy(&doc, &sixth, &file()).unwrap();
        assert_eq!(after.unwrap().versions.last().unwrap().id, "v6");
        let missing = PolicyChange::SetDefault {
            arn: arn("P"),
            version: "v5".into(),
        };
        assert!(matches!(
            apply_policy(&doc2, &missing, &file()),
            Err(IamApiError::NoSuchEntity(_))
        ));
        // Deleting needs the other versions gone first.
        let delete = PolicyChange::Delete { arn: arn("P") };
        assert!(matches!(
            apply_policy(&doc2, &delete, &file()),
            Err(IamApiError::DeleteConflict(_))
        ));
        let mut doc3 = doc2;
        for v in ["v1", "v2", "v4", "v6"] {
            doc3 = policy_applied(
                &doc3,
                PolicyChange::DeleteVersion {
                    arn: arn("P"),
                    version: v.into(),
                },
            );
        }
        let (gone, none) = apply_policy(&doc3, &delete, &file()).unwrap();
        assert!(none.is_none() && gone.policies.is_empty());
    }

    #[test]
    fn an_accounts_stored_policy_versions_are_bounded_in_bytes() {
        // Documents of IAM's largest size, padded: the account's bytes fill up.
        let padded = format!("{S3}{}", " ".repeat(MAX_POLICY_DOCUMENT - S3.len()));
        let mut doc = AccountDocument::default();
        for i in 0..MAX_POLICY_BYTES_PER_ACCOUNT / padded.len() {
            let p = StoredPolicy::new(&format!("p{i}"), "/", new_id("ANPA"), &padded, 0);
            doc = policy_applied(&doc, PolicyChange::Create(p));
        }
        let before = doc.clone();
        let version = PolicyChange::CreateVersion {
            arn: arn("p0"),
            document: S3.into(),
            set_as_default: false,
            created: 0,
        };
        let one_more = PolicyChange::Create(policy("small"));
        for refused in [version, one_more] {
            let Err(IamApiError::LimitExceeded(m)) = apply_policy(&doc, &refused, &file()) else {
                panic!("stored past the bound: {refused:?}");
            };
            assert!(m.contains("2097152"), "{m}");
        }
        assert_eq!(doc, before);
        // Deleting still works, and makes room.
        let doc = policy_applied(&doc, PolicyChange::Delete { arn: arn("p0") });
        policy_applied(&doc, PolicyChange::Create(policy("small")));
    }

    #[test]
    fn attachments_and_boundaries_need_existing_policies_and_hold_them() {
        let doc = policy_applied(
            &AccountDocument::default(),
            PolicyChange::Create(policy("api")),
        );
        let doc = applied(&doc, RoleChange::Create(role("r")));
        let attach = |p: &str| RoleChange::Attach {
            role: "r".into(),
            policy_arn: p.to_owned(),
        };
        // Unknown, or of another account: not found.
        for unknown in [
            arn("absent"),
            "arn:aws:iam::444455556666:policy/api".to_owned(),
        ] {
            assert!(matches!(
                apply(&doc, &attach(&unknown), &file()),
                Err(IamApiError::NoSuchEntity(_))
            ));
        }
        let doc = applied(&doc, attach(&arn("api")));
        let doc = applied(&doc, attach(FILE_POLICY));
        // Attaching again changes nothing.
        let doc = applied(&doc, attach(&arn("api")));
        assert_eq!(
            doc.roles["r"].attached_policies,
            [arn("api"), FILE_POLICY.to_owned()]
        );
        let doc = applied(
            &doc,
            RoleChange::PutBoundary {
                role: "r".into(),
                policy_arn: arn("api"),
            },
        );
        // The policy cannot go while used; the role cannot go while policies are attached.
        let delete = PolicyChange::Delete { arn: arn("api") };
        assert!(matches!(
            apply_policy(&doc, &delete, &file()),
            Err(IamApiError::DeleteConflict(_))
        ));
        assert!(matches!(
            apply(&doc, &RoleChange::Delete { name: "r".into() }, &file()),
            Err(IamApiError::DeleteConflict(_))
        ));
        let detach = RoleChange::Detach {
            role: "r".into(),
            policy_arn: arn("api"),
        };
        let doc = applied(&doc, detach.clone());
        assert!(matches!(
            apply(&doc, &detach, &file()),
            Err(IamApiError::NoSuchEntity(_))
        ));
        // Still the boundary.
        assert!(matches!(
            apply_policy(&doc, &delete, &file()),
            Err(IamApiError::DeleteConflict(_))
        ));
        let doc = applied(&doc, RoleChange::DeleteBoundary { role: "r".into() });
        let doc = policy_applied(&doc, delete);
        assert!(doc.policies.is_empty());
        // At most ten attached.
        let mut doc = doc;
        for i in 0..10 {
            doc = policy_applied(&doc, PolicyChange::Create(policy(&format!("p{i}"))));
            if i < 9 {
                doc = applied(&doc, attach(&arn(&format!("p{i}"))));
            }
        }
        assert_eq!(doc.roles["r"].attached_policies.len(), 10);
        let before = doc.clone();
        assert!(matches!(
            apply(&doc, &attach(&arn("p9")), &file()),
            Err(IamApiError::LimitExceeded(_))
        ));
        assert_eq!(doc, before);
        // A role created with a boundary that does not exist is refused.
        let mut bounded = role("b");
        bounded.permissions_boundary = Some(arn("absent"));
        assert!(matches!(
            apply(&doc, &RoleChange::Create(bounded), &file()),
            Err(IamApiError::NoSuchEntity(_))
        ));
    }

    #[test]
    fn a_change_authorized_on_another_role_or_boundary_is_refused_and_changes_nothing() {
        let doc = policy_applied(
            &AccountDocument::default(),
            PolicyChange::Create(policy("b")),
        );
        let mut bounded = role("r");
        bounded.permissions_boundary = Some(arn("b"));
        let id = bounded.role_id.clone();
        let doc = applied(&doc, RoleChange::Create(bounded));
        let drop_boundary = RoleChange::DeleteBoundary { role: "r".into() };
        let before = doc.clone();
        let stale = [
            // Decided on a snapshot without the boundary (or without the role at all).
            Expected {
                id: id.clone(),
                boundary: Some(None),
            },
            // Decided on a role of that name deleted since.
            Expected {
                id: new_id("AROA"),
                boundary: None,
            },
        ];
        for expected in &stale {
            assert!(
                matches!(
                    apply_expecting(&doc, &drop_boundary, expected, &file()),
                    Err(IamApiError::ConcurrentModification(_))
                ),
                "{expected:?}"
            );
            assert_eq!(doc, before);
        }
        // The role is gone from the store.
        let gone = apply_expecting(
            &AccountDocument::default(),
            &drop_boundary,
            &Expected {
                id: id.clone(),
                boundary: None,
            },
            &file(),
        );
        assert!(matches!(gone, Err(IamApiError::ConcurrentModification(_))));
        // The role and boundary the decision saw: applied.
        let current = Expected {
            id,
            boundary: Some(Some(arn("b"))),
        };
        let (next, after) = apply_expecting(&doc, &drop_boundary, &current, &file()).unwrap();
        assert_eq!(after.unwrap().permissions_boundary, None);
        assert_eq!(next.roles["r"].permissions_boundary, None);
        // A file role is refused as such, whatever was expected.
        let file_role = RoleChange::Delete {
            name: "deploy".into(),
        };
        assert!(matches!(
            apply_expecting(&doc, &file_role, &current, &file()),
            Err(IamApiError::Unmodifiable(_))
        ));
    }

    #[test]
    fn file_policies_cannot_be_created_changed_or_deleted() {
        let doc = AccountDocument::default();
        let Err(IamApiError::AlreadyExists(m)) =
            apply_policy(&doc, &PolicyChange::Create(policy("ReadOnly")), &file())
        else {
            panic!("a file policy was created");
        };
        assert!(m.contains("/etc/sts-broker/broker.toml"), "{m}");
        for change in [
            PolicyChange::Delete {
                arn: FILE_POLICY.into(),
            },
            PolicyChange::CreateVersion {
                arn: FILE_POLICY.into(),
                document: S3.into(),
                set_as_default: true,
                created: 0,
            },
            PolicyChange::Tag {
                arn: FILE_POLICY.into(),
                tags: Vec::new(),
            },
        ] {
            let Err(IamApiError::Unmodifiable(m)) = apply_policy(&doc, &change, &file()) else {
                panic!("a file policy was changed: {change:?}");
            };
            assert!(m.contains("/etc/sts-broker/broker.toml"), "{m}");
        }
    }

    #[test]
    fn managed_policy_inputs() {
        let big = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}","Effect":"Allow","Action":"s3:*","Resource":"*"}}]}}"#,
            "a".repeat(6100)
        );
        assert_eq!(
            check_managed_policy("policyDocument", &big),
            Err(IamApiError::LimitExceeded(
                "Cannot exceed quota for PolicySize: 6144".into()
            ))
        );
        assert!(check_managed_policy("policyDocument", S3).is_ok());
        // Only ASCII's blanks are free: other whitespace the input check lets in counts.
        for blank in ['\u{a0}', '\u{85}'] {
            let padded = S3.replace("s3:*", &format!("s3:*{}", blank.to_string().repeat(6100)));
            assert!(
                matches!(
                    check_managed_policy("policyDocument", &padded),
                    Err(IamApiError::LimitExceeded(_))
                ),
                "{blank:?}"
            );
        }
        let spaced = S3.replace("s3:*", &format!("s3:*{}", " \t\r\n".repeat(6000)));
        assert!(!matches!(
            check_managed_policy("policyDocument", &spaced),
            Err(IamApiError::LimitExceeded(_))
        ));
        assert_eq!(
            check_policy_arn("policyArn", "arn:aws:iam::111122223333:policy/a/b/name"),
            Ok("111122223333".to_owned())
        );
        assert_eq!(
            check_policy_arn("policyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess"),
            Ok("aws".to_owned())
        );
        for bad in [
            "arn:aws:iam::111122223333:role/name",
            "arn:aws:iam::1111:policy/name",
            "arn:aws:s3:::bucket/policy/x-long-enough",
            "arn:aws:iam::111122223333:policy/",
        ] {
            assert!(
                matches!(
                    check_policy_arn("policyArn", bad),
                    Err(IamApiError::InvalidInput(_))
                ),
                "{bad}"
            );
        }
        for good in ["v12", "v1.x", "v2.0-a", "v3."] {
            assert!(check_version_id(good).is_ok(), "{good}");
        }
        for bad in ["v0", "1", "v", "vx", "v01", "v1.x_y", "v1.2.3", "v.1"] {
            assert!(check_version_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn merged_roles_take_their_policies_default_version_and_fail_closed_without_one() {
        let mut iam = Iam::default();
        iam.accounts.insert(
            ACCOUNT.to_owned(),
            super::super::Account {
                id: ACCOUNT.to_owned(),
                alias: None,
                api_alias: None,
            },
        );
        let doc = policy_applied(
            &AccountDocument::default(),
            PolicyChange::Create(policy("api")),
        );
        let mut r = role("r");
        r.attached_policies = vec![arn("api")];
        r.permissions_boundary = Some(arn("api"));
        let mut doc = applied(&doc, RoleChange::Create(r));
        let mut lost = role("lost");
        lost.permissions_boundary = Some(FILE_POLICY.to_owned());
        doc.roles.insert("lost".into(), lost);
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
        let (merged_iam, skipped) = merged(&iam, &layer, None);
        let served = merged_iam.role_named(ACCOUNT, "r").unwrap();
        assert_eq!(&*served.identity_policies[0].name, arn("api"));
        assert!(served.permissions_boundary.is_some());
        assert!(merged_iam.managed_policies.contains_key(&arn("api")));
        // The file policy its boundary names is gone: not served at all.
        assert!(merged_iam.role_named(ACCOUNT, "lost").is_none());
        assert!(matches!(&skipped[..], [Skipped::MissingPolicy { .. }]));
        // Merged again over the merged view: the API policy is replaced, not doubled.
        let (again, _) = merged(&merged_iam, &layer, Some((&merged_iam, &layer)));
        assert_eq!(again.managed_policies.len(), 1);
    }

    /// Whitespace does not count toward IAM's quotas, but it is stored: each document is
    /// bounded in bytes, and so is the whole account's.
    #[test]
    fn whitespace_padded_policies_are_bounded_and_refused_ones_store_nothing() {
        let pad = |doc: &str, to: usize| format!("{doc}{}", " ".repeat(to - doc.len()));
        let padded = pad(S3, MAX_POLICY_DOCUMENT);
        assert!(check_policy("policyDocument", &padded, PolicyType::Identity).is_ok());
        // Characters within the bound, bytes beyond it.
        let wide = format!("{S3}{}", "\u{a0}".repeat(MAX_POLICY_DOCUMENT - S3.len()));
        assert!(matches!(
            check_policy("policyDocument", &wide, PolicyType::Identity),
            Err(IamApiError::Validation(_))
        ));
        let Err(IamApiError::LimitExceeded(m)) = check_policy(
            "assumeRolePolicyDocument",
            &TRUST.replace("sts:AssumeRole", &"a".repeat(2048)),
            PolicyType::Trust,
        ) else {
            panic!("a trust policy over the quota passed");
        };
        assert!(m.contains("2048") && m.contains("default quota"), "{m}");

        let mut doc = applied(&AccountDocument::default(), RoleChange::Create(role("app")));
        let mut stored = 0;
        let refused = loop {
            let put = RoleChange::PutPolicy {
                role: "app".into(),
                policy: format!("p{stored}"),
                document: padded.clone(),
            };
            match apply(&doc, &put, &file()) {
                Ok((next, _)) => {
                    doc = next;
                    stored += 1;
                }
                Err(e) => break e,
            }
        };
        assert!(
            matches!(refused, IamApiError::LimitExceeded(_)),
            "{refused:?}"
        );
        assert!(serde_json::to_vec(&doc).unwrap().len() <= MAX_ACCOUNT_DOCUMENT);
        assert_eq!(stored, MAX_ACCOUNT_DOCUMENT / MAX_POLICY_DOCUMENT - 1);
        // The same many roles with padded trust policies.
        let mut doc = AccountDocument::default();
        let refused = (0..).find_map(|i| {
            let mut r = role(&format!("r{i}"));
            r.trust_policy = pad(TRUST, MAX_POLICY_DOCUMENT);
            match apply(&doc, &RoleChange::Create(r), &file()) {
                Ok((next, _)) => {
                    doc = next;
                    None
                }
                Err(e) => Some(e),
            }
        });
        assert!(matches!(refused, Some(IamApiError::LimitExceeded(_))));
        assert!(doc.roles.len() < 40);
    }

    #[test]
    fn a_document_of_a_newer_format_is_read_as_nothing_but_its_format() {
        let mut r = role("app");
        r.permissions_boundary = Some(FILE_POLICY.into());
        let doc = applied(&AccountDocument::default(), RoleChange::Create(r));
        // Roles only: written as format 1, which builds before users and groups still read.
        let mut json = serde_json::to_value(doc.clone().with_needed_format()).unwrap();
        assert_eq!(json["format"], 1);
        let mut with_user = doc.clone();
        with_user.alias = Some("my-co".into());
        assert_eq!(with_user.with_needed_format().format, Format(2));
        // Virtual MFA devices: format 3 (a build of format 2 would drop them).
        let mut with_device = doc.clone();
        with_device.mfa_devices.insert(
            "d".into(),
            super::super::mfa::StoredMfaDevice {
                name: "d".into(),
                path: "/".into(),
                seed: "sb1:k1:sealed".into(),
                enabled: None,
                tags: Vec::new(),
                created: 0,
            },
        );
        assert_eq!(with_device.clone().with_needed_format().format, Format(3));
        // A password policy or login profiles: format 4 (a build of format 3 would drop them).
        let mut with_policy = with_device;
        with_policy.password_policy = Some(
            super::super::passwords::PolicyInput::default()
                .checked()
                .unwrap(),
        );
        assert_eq!(with_policy.with_needed_format().format, Format(4));
        // Written before the format was recorded: format 1, read whole.
        json.as_object_mut().unwrap().remove("format");
        let old = AccountDocument::decode(json.to_string().as_bytes());
        assert_eq!((old.format, old.roles.len()), (Format(1), 1));
        // Format 5, readable or not by this build: nothing but its format.
        json["format"] = 5.into();
        let readable = AccountDocument::decode(json.to_string().as_bytes());
        json["roles"] = "a shape this build does not know".into();
        let unreadable = AccountDocument::decode(json.to_string().as_bytes());
        for newer in [readable, unreadable] {
            assert!(newer.is_newer());
            assert!(newer.roles.is_empty() && newer.policies.is_empty());
        }
        // A document of this format that does not decode: empty and unusable, not an error
        // (an error would keep the last layer read in force).
        json["format"] = 1.into();
        let damaged = AccountDocument::decode(json.to_string().as_bytes());
        assert!(damaged.unreadable && damaged.is_unusable() && damaged.roles.is_empty());
        assert!(AccountDocument::decode(b"\xff not json").unreadable);
        // Merged: the account's entities are left out, once, with the reason.
        let mut iam = Iam::default();
        iam.accounts.insert(
            ACCOUNT.to_owned(),
            super::super::Account {
                id: ACCOUNT.to_owned(),
                alias: None,
                api_alias: None,
            },
        );
        let layer = Layer {
            version: 1,
            accounts: [(
                ACCOUNT.to_owned(),
                Revisioned {
                    revision: 1,
                    document: AccountDocument {
                        format: Format(5),
                        ..doc
                    },
                },
            )]
            .into(),
        };
        let (merged_iam, skipped) = merged(&iam, &layer, None);
        assert!(merged_iam.role_named(ACCOUNT, "app").is_none());
        assert_eq!(
            skipped,
            [Skipped::NewerFormat {
                account: ACCOUNT.to_owned(),
                format: 5
            }]
        );
    }

    #[test]
    fn every_sealed_secret_is_found_with_what_it_is_bound_to() {
        let mut doc = AccountDocument::default();
        let mut user = super::super::users::StoredUser::new("ci", "/", "AIDAX".into(), 0);
        user.access_keys
            .push(super::super::access_keys::StoredAccessKey {
                id: "AKIAAAAAAAAAAAAAAAA2".into(),
                sealed: "sb1:k:one".into(),
                status: super::super::access_keys::AccessKeyStatus::Active,
                created: 0,
                generation: 0,
            });
        doc.users.insert("ci".into(), user);
        doc.mfa_devices.insert(
            "phone".into(),
            super::super::mfa::StoredMfaDevice {
                name: "phone".into(),
                path: "/".into(),
                seed: "sb1:k:two".into(),
                enabled: None,
                tags: Vec::new(),
                created: 0,
            },
        );
        assert_eq!(
            doc.sealed_texts().collect::<Vec<_>>(),
            ["sb1:k:one", "sb1:k:two"]
        );
        let found: Vec<(String, String)> = doc
            .sealed_secrets_mut(ACCOUNT)
            .into_iter()
            .map(|(t, c)| (t.clone(), c))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "sb1:k:one".to_owned(),
                    format!("access-key:{ACCOUNT}:AKIAAAAAAAAAAAAAAAA2")
                ),
                (
                    "sb1:k:two".to_owned(),
                    format!("mfa:arn:aws:iam::{ACCOUNT}:mfa/phone")
                ),
            ]
        );
    }

    #[test]
    fn the_document_round_trips_through_json() {
        let mut r = role("app");
        r.inline_policies.insert("s3".into(), S3.into());
        let doc = applied(&AccountDocument::default(), RoleChange::Create(r));
        let json = serde_json::to_vec(&doc).unwrap();
        assert_eq!(
            serde_json::from_slice::<AccountDocument>(&json).unwrap(),
            doc
        );
    }
}
