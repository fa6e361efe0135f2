//! Users, groups and the account alias created through IAM's management API (docs/operations.md,
//! "Users and groups through IAM's API"): stored in the account's [`AccountDocument`] next to
//! its roles, policies and providers; the checks on every input (IAM's bounds); the changes as
//! pure functions ([`apply`]); and the users and groups served, merged over the file's
//! ([`merge_into`]) with the effective permissions a file user gets ([`super::user_identity`]).
//! No I/O.
//!
//! Group membership is kept on the user (a user lists its groups, as a file user does): an API
//! user may join a file group; a file user's groups are the file's. The file's users, groups and
//! alias are the read-only base layer.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::access_keys::{self, AccessKeyStatus, StoredAccessKey};
use super::api::{
    AccountDocument, Expected, FileRoles, IamApiError, Skipped, Tag, add_tags, bounded, constraint,
    no_such_policy, remove_tags,
};
use super::{Group, Iam, Origin, PrincipalAbout, User, group_arn_at, user_arn};
use crate::encoding::shorten;
use crate::policy::{self, NamedPolicy, PolicyType};

/// Users one account may hold, file and API together (IAM's default quota).
pub const MAX_USERS_PER_ACCOUNT: usize = 5000;
/// Groups one account may hold, file and API together (IAM's default quota).
pub const MAX_GROUPS_PER_ACCOUNT: usize = 300;
/// Groups one user belongs to (IAM's quota).
pub const MAX_GROUPS_PER_USER: usize = 10;
/// Managed policies attached to one user or one group (IAM's default quota).
pub const MAX_ATTACHED_PER_PRINCIPAL: usize = 10;
/// A user's inline policies together, non-whitespace characters (IAM's).
pub const MAX_USER_INLINE_POLICIES: usize = 2048;
/// A group's inline policies together, non-whitespace characters (IAM's).
pub const MAX_GROUP_INLINE_POLICIES: usize = 5120;

/// A user created through the API, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredUser {
    pub name: String,
    pub path: String,
    /// `AIDA` + 17 random characters, new on every creation.
    pub user_id: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inline_policies: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached_policies: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<String>,
    /// The names of its groups (the API's or the file's), in the order joined.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Unix seconds.
    pub created: i64,
    /// Its access keys, oldest first ([`super::access_keys`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_keys: Vec<StoredAccessKey>,
}

/// A group created through the API, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredGroup {
    pub name: String,
    pub path: String,
    /// `AGPA` + 17 random characters, new on every creation.
    pub group_id: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inline_policies: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached_policies: Vec<String>,
    /// Unix seconds.
    pub created: i64,
}

impl StoredUser {
    pub fn new(name: &str, path: &str, user_id: String, created: i64) -> StoredUser {
        StoredUser {
            name: name.to_owned(),
            path: path.to_owned(),
            user_id,
            inline_policies: BTreeMap::new(),
            attached_policies: Vec::new(),
            permissions_boundary: None,
            groups: Vec::new(),
            tags: Vec::new(),
            created,
            access_keys: Vec::new(),
        }
    }
}

impl StoredGroup {
    pub fn new(name: &str, path: &str, group_id: String, created: i64) -> StoredGroup {
        StoredGroup {
            name: name.to_owned(),
            path: path.to_owned(),
            group_id,
            inline_policies: BTreeMap::new(),
            attached_policies: Vec::new(),
            created,
        }
    }
}

/// The file's users, groups and aliases, as [`apply`] needs them.
#[derive(Debug, Clone, Default)]
pub struct FileUsers {
    /// The configuration file that defines them.
    pub source: String,
    /// The account's file users' names, in lowercase.
    pub users: HashSet<String>,
    /// The account's file groups' names, in lowercase.
    pub groups: HashSet<String>,
    /// The account's alias when the file sets it.
    pub alias: Option<String>,
    /// The aliases other accounts have (file or API), as this replica serves them.
    pub other_aliases: HashSet<String>,
}

impl FileUsers {
    /// The file's users and groups of `account` in `iam` (a merged view: API ones are told
    /// apart by their origin), and the aliases of `iam`'s accounts.
    pub fn of(iam: &Iam, account: &str, source: &str) -> FileUsers {
        let mut out = FileUsers {
            source: source.to_owned(),
            alias: iam.accounts.get(account).and_then(|a| a.alias.clone()),
            ..FileUsers::default()
        };
        for u in iam.users().filter(|u| u.account == account) {
            if let Origin::File(s) = &u.about.origin {
                out.source.clone_from(s);
                out.users.insert(u.name.to_ascii_lowercase());
            }
        }
        for g in iam.groups.values().filter(|g| g.account == account) {
            if let Origin::File(s) = &g.about.origin {
                out.source.clone_from(s);
                out.groups.insert(g.name.to_ascii_lowercase());
            }
        }
        out.other_aliases = iam
            .accounts
            .values()
            .filter(|a| a.id != account)
            .filter_map(|a| a.served_alias().map(str::to_owned))
            .collect();
        out
    }
}

/// A change to an account's users, groups or alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserChange {
    CreateUser(StoredUser),
    /// Refused while it has access keys, policies or groups, or an MFA device enabled.
    DeleteUser {
        name: String,
    },
    /// At most two per user; the secret comes sealed.
    CreateAccessKey {
        user: String,
        key: StoredAccessKey,
    },
    UpdateAccessKey {
        user: String,
        id: String,
        status: AccessKeyStatus,
    },
    DeleteAccessKey {
        user: String,
        id: String,
    },
    PutUserPolicy {
        user: String,
        policy: String,
        document: String,
    },
    DeleteUserPolicy {
        user: String,
        policy: String,
    },
    AttachUserPolicy {
        user: String,
        policy_arn: String,
    },
    DetachUserPolicy {
        user: String,
        policy_arn: String,
    },
    PutUserBoundary {
        user: String,
        policy_arn: String,
    },
    DeleteUserBoundary {
        user: String,
    },
    TagUser {
        user: String,
        tags: Vec<Tag>,
    },
    UntagUser {
        user: String,
        keys: Vec<String>,
    },
    AddUserToGroup {
        user: String,
        group: String,
    },
    RemoveUserFromGroup {
        user: String,
        group: String,
    },
    CreateGroup(StoredGroup),
    /// Refused while it has members or policies.
    DeleteGroup {
        name: String,
    },
    PutGroupPolicy {
        group: String,
        policy: String,
        document: String,
    },
    DeleteGroupPolicy {
        group: String,
        policy: String,
    },
    AttachGroupPolicy {
        group: String,
        policy_arn: String,
    },
    DetachGroupPolicy {
        group: String,
        policy_arn: String,
    },
    CreateAlias {
        alias: String,
    },
    DeleteAlias {
        alias: String,
    },
}

/// What a change names: a user, a group, or the account.
enum Target<'a> {
    User(&'a str),
    Group(&'a str),
    Account,
}

impl UserChange {
    fn target(&self) -> Target<'_> {
        match self {
            UserChange::CreateUser(u) => Target::User(&u.name),
            UserChange::DeleteUser { name } => Target::User(name),
            UserChange::PutUserPolicy { user, .. }
            | UserChange::DeleteUserPolicy { user, .. }
            | UserChange::AttachUserPolicy { user, .. }
            | UserChange::DetachUserPolicy { user, .. }
            | UserChange::PutUserBoundary { user, .. }
            | UserChange::DeleteUserBoundary { user }
            | UserChange::TagUser { user, .. }
            | UserChange::UntagUser { user, .. }
            | UserChange::CreateAccessKey { user, .. }
            | UserChange::UpdateAccessKey { user, .. }
            | UserChange::DeleteAccessKey { user, .. } => Target::User(user),
            UserChange::AddUserToGroup { group, .. }
            | UserChange::RemoveUserFromGroup { group, .. } => Target::Group(group),
            UserChange::CreateGroup(g) => Target::Group(&g.name),
            UserChange::DeleteGroup { name } => Target::Group(name),
            UserChange::PutGroupPolicy { group, .. }
            | UserChange::DeleteGroupPolicy { group, .. }
            | UserChange::AttachGroupPolicy { group, .. }
            | UserChange::DetachGroupPolicy { group, .. } => Target::Group(group),
            UserChange::CreateAlias { .. } | UserChange::DeleteAlias { .. } => Target::Account,
        }
    }
}

/// IAM's `NoSuchEntity` message for a user.
pub fn no_such_user(name: &str) -> IamApiError {
    IamApiError::NoSuchEntity(format!(
        "The user with name {} cannot be found.",
        shorten(name)
    ))
}

/// IAM's `NoSuchEntity` message for a group.
pub fn no_such_group(name: &str) -> IamApiError {
    IamApiError::NoSuchEntity(format!(
        "The group with name {} cannot be found.",
        shorten(name)
    ))
}

fn unmodifiable(kind: &str, name: &str, file: &FileUsers) -> IamApiError {
    IamApiError::Unmodifiable(format!(
        "Cannot modify {kind} {name}: it is defined in the configuration file {}; change it there.",
        file.source
    ))
}

/// [`apply`] to an entity that must still be the one `expected` describes (its id, and its
/// boundary when the decision depended on it): absent or another one is
/// `ConcurrentModification`. Creations and the alias need none ([`apply`]).
pub fn apply_expecting(
    doc: &AccountDocument,
    change: &UserChange,
    expected: &Expected,
    roles: &FileRoles,
    file: &FileUsers,
) -> Result<(AccountDocument, ()), IamApiError> {
    let holds = match change.target() {
        Target::User(name) => {
            file.users.contains(&name.to_ascii_lowercase())
                || doc
                    .users
                    .get(&name.to_ascii_lowercase())
                    .is_some_and(|u| expected.holds_entity(&u.user_id, &u.permissions_boundary))
        }
        Target::Group(name) => {
            let key = name.to_ascii_lowercase();
            file.groups.contains(&key)
                || doc
                    .groups
                    .get(&key)
                    .is_some_and(|g| expected.holds_entity(&g.group_id, &None))
        }
        Target::Account => true,
    };
    if !holds {
        return Err(IamApiError::ConcurrentModification(
            "The entity changed while this request was handled. Submit your request again."
                .to_owned(),
        ));
    }
    apply(doc, change, roles, file)
}

/// Applies `change` to `doc`. Refused changes leave nothing behind (the caller keeps `doc`).
pub fn apply(
    doc: &AccountDocument,
    change: &UserChange,
    roles: &FileRoles,
    file: &FileUsers,
) -> Result<(AccountDocument, ()), IamApiError> {
    let mut next = doc.clone();
    let policy_exists = |next: &AccountDocument, arn: &str| {
        roles.policies.values().any(|a| a == arn)
            || next.policies.values().any(|p| p.arn(&roles.account) == arn)
    };
    match change.target() {
        Target::User(name) if file.users.contains(&name.to_ascii_lowercase()) => {
            return Err(match change {
                UserChange::CreateUser(_) => IamApiError::AlreadyExists(format!(
                    "User with name {name} already exists: it is defined in the configuration file {}.",
                    file.source
                )),
                _ => unmodifiable("user", name, file),
            });
        }
        Target::Group(name) if file.groups.contains(&name.to_ascii_lowercase()) => {
            // A file group gets API members (kept on the user); nothing else changes it.
            let membership = matches!(
                change,
                UserChange::AddUserToGroup { .. } | UserChange::RemoveUserFromGroup { .. }
            );
            if !membership {
                return Err(match change {
                    UserChange::CreateGroup(_) => IamApiError::AlreadyExists(format!(
                        "Group with name {name} already exists: it is defined in the configuration file {}.",
                        file.source
                    )),
                    _ => unmodifiable("group", name, file),
                });
            }
        }
        _ => {}
    }
    match change {
        UserChange::CreateUser(user) => {
            let key = user.name.to_ascii_lowercase();
            if next.users.contains_key(&key) {
                return Err(IamApiError::AlreadyExists(format!(
                    "User with name {} already exists.",
                    user.name
                )));
            }
            if next.users.len() + file.users.len() >= MAX_USERS_PER_ACCOUNT {
                return Err(IamApiError::LimitExceeded(format!(
                    "Cannot exceed quota for UsersPerAccount: {MAX_USERS_PER_ACCOUNT}"
                )));
            }
            if let Some(b) = &user.permissions_boundary
                && !policy_exists(&next, b)
            {
                return Err(no_such_policy(b));
            }
            next.users.insert(key, user.clone());
        }
        UserChange::DeleteUser { name } => {
            let user = next
                .users
                .get(&name.to_ascii_lowercase())
                .ok_or_else(|| no_such_user(name))?;
            if !user.access_keys.is_empty() {
                return Err(IamApiError::DeleteConflict(
                    "Cannot delete entity, must delete access keys first.".to_owned(),
                ));
            }
            if !user.inline_policies.is_empty() {
                return Err(IamApiError::DeleteConflict(
                    "Cannot delete entity, must delete policies first.".to_owned(),
                ));
            }
            if !user.attached_policies.is_empty() {
                return Err(IamApiError::DeleteConflict(
                    "Cannot delete entity, must detach all policies first.".to_owned(),
                ));
            }
            if !user.groups.is_empty() {
                return Err(IamApiError::DeleteConflict(
                    "Cannot delete entity, must remove users from group first.".to_owned(),
                ));
            }
            if super::mfa::enabled_for(&next, &user.user_id) {
                return Err(IamApiError::DeleteConflict(
                    "Cannot delete entity, must deactivate MFA devices first.".to_owned(),
                ));
            }
            if super::passwords::has_profile(&next, &user.user_id) {
                return Err(IamApiError::DeleteConflict(
                    "Cannot delete entity, must delete login profile first.".to_owned(),
                ));
            }
            next.users.remove(&name.to_ascii_lowercase());
            return Ok((next, ()));
        }
        UserChange::CreateGroup(group) => {
            let key = group.name.to_ascii_lowercase();
            if next.groups.contains_key(&key) {
                return Err(IamApiError::AlreadyExists(format!(
                    "Group with name {} already exists.",
                    group.name
                )));
            }
            if next.groups.len() + file.groups.len() >= MAX_GROUPS_PER_ACCOUNT {
                return Err(IamApiError::LimitExceeded(format!(
                    "Cannot exceed quota for GroupsPerAccount: {MAX_GROUPS_PER_ACCOUNT}"
                )));
            }
            next.groups.insert(key, group.clone());
        }
        UserChange::DeleteGroup { name } => {
            let key = name.to_ascii_lowercase();
            let group = next.groups.get(&key).ok_or_else(|| no_such_group(name))?;
            if next
                .users
                .values()
                .any(|u| u.groups.iter().any(|g| g.eq_ignore_ascii_case(name)))
            {
                return Err(IamApiError::DeleteConflict(
                    "Cannot delete entity, must remove users from group first.".to_owned(),
                ));
            }
            if !group.inline_policies.is_empty() {
                return Err(IamApiError::DeleteConflict(
                    "Cannot delete entity, must delete policies first.".to_owned(),
                ));
            }
            if !group.attached_policies.is_empty() {
                return Err(IamApiError::DeleteConflict(
                    "Cannot delete entity, must detach all policies first.".to_owned(),
                ));
            }
            next.groups.remove(&key);
            return Ok((next, ()));
        }
        UserChange::AddUserToGroup { user, group }
        | UserChange::RemoveUserFromGroup { user, group } => {
            let gkey = group.to_ascii_lowercase();
            let shown_group = match next.groups.get(&gkey) {
                Some(g) => g.name.clone(),
                None if file.groups.contains(&gkey) => group.clone(),
                None => return Err(no_such_group(group)),
            };
            if file.users.contains(&user.to_ascii_lowercase()) {
                return Err(unmodifiable("user", user, file));
            }
            let stored = next
                .users
                .get_mut(&user.to_ascii_lowercase())
                .ok_or_else(|| no_such_user(user))?;
            let position = stored
                .groups
                .iter()
                .position(|g| g.eq_ignore_ascii_case(group));
            match (change, position) {
                (UserChange::AddUserToGroup { .. }, None) => {
                    if stored.groups.len() >= MAX_GROUPS_PER_USER {
                        return Err(IamApiError::LimitExceeded(format!(
                            "Cannot exceed quota for GroupsPerUser: {MAX_GROUPS_PER_USER}"
                        )));
                    }
                    stored.groups.push(shown_group);
                }
                (UserChange::RemoveUserFromGroup { .. }, Some(i)) => {
                    stored.groups.remove(i);
                }
                (UserChange::RemoveUserFromGroup { .. }, None) => {
                    return Err(IamApiError::NoSuchEntity(format!(
                        "The user with name {} cannot be found in group {}.",
                        shorten(user),
                        shorten(group)
                    )));
                }
                _ => {}
            }
        }
        UserChange::CreateAlias { alias } => {
            if let Some(a) = &file.alias {
                return Err(IamApiError::Unmodifiable(format!(
                    "Cannot modify the account alias {a}: it is set in the configuration file {}; change it there.",
                    file.source
                )));
            }
            if file.other_aliases.contains(alias) || next.alias.as_ref().is_some_and(|a| a != alias)
            {
                return Err(IamApiError::AlreadyExists(format!(
                    "The account alias {alias} already exists."
                )));
            }
            next.alias = Some(alias.clone());
        }
        UserChange::DeleteAlias { alias } => {
            if file.alias.is_some() {
                return Err(IamApiError::Unmodifiable(format!(
                    "Cannot modify the account alias: it is set in the configuration file {}; change it there.",
                    file.source
                )));
            }
            if next.alias.as_ref() != Some(alias) {
                return Err(IamApiError::NoSuchEntity(format!(
                    "The account alias {} cannot be found.",
                    shorten(alias)
                )));
            }
            next.alias = None;
        }
        UserChange::PutUserPolicy {
            user,
            policy,
            document,
        } => {
            let u = user_mut(&mut next, user)?;
            u.inline_policies.insert(policy.clone(), document.clone());
            inline_size(&u.inline_policies, MAX_USER_INLINE_POLICIES, "user", user)?;
        }
        UserChange::DeleteUserPolicy { user, policy } => {
            let u = user_mut(&mut next, user)?;
            if u.inline_policies.remove(policy).is_none() {
                return Err(IamApiError::NoSuchEntity(format!(
                    "The user policy with name {} cannot be found.",
                    shorten(policy)
                )));
            }
        }
        UserChange::AttachUserPolicy { user, policy_arn } => {
            if !policy_exists(&next, policy_arn) {
                return Err(no_such_policy(policy_arn));
            }
            let u = user_mut(&mut next, user)?;
            attach(&mut u.attached_policies, policy_arn, "PoliciesPerUser")?;
        }
        UserChange::DetachUserPolicy { user, policy_arn } => {
            let u = user_mut(&mut next, user)?;
            detach(&mut u.attached_policies, policy_arn)?;
        }
        UserChange::PutUserBoundary { user, policy_arn } => {
            if !policy_exists(&next, policy_arn) {
                return Err(no_such_policy(policy_arn));
            }
            user_mut(&mut next, user)?.permissions_boundary = Some(policy_arn.clone());
        }
        UserChange::DeleteUserBoundary { user } => {
            user_mut(&mut next, user)?.permissions_boundary = None;
        }
        UserChange::TagUser { user, tags } => add_tags(&mut user_mut(&mut next, user)?.tags, tags)?,
        UserChange::UntagUser { user, keys } => {
            remove_tags(&mut user_mut(&mut next, user)?.tags, keys);
        }
        UserChange::CreateAccessKey { user, key } => {
            let mut stored = user_mut(&mut next, user)?.clone();
            access_keys::create(&next, &mut stored, key)?;
            *user_mut(&mut next, user)? = stored;
        }
        UserChange::UpdateAccessKey { user, id, status } => {
            access_keys::update(user_mut(&mut next, user)?, id, *status)?;
        }
        UserChange::DeleteAccessKey { user, id } => {
            access_keys::delete(user_mut(&mut next, user)?, id)?;
        }
        UserChange::PutGroupPolicy {
            group,
            policy,
            document,
        } => {
            let g = group_mut(&mut next, group)?;
            g.inline_policies.insert(policy.clone(), document.clone());
            inline_size(
                &g.inline_policies,
                MAX_GROUP_INLINE_POLICIES,
                "group",
                group,
            )?;
        }
        UserChange::DeleteGroupPolicy { group, policy } => {
            let g = group_mut(&mut next, group)?;
            if g.inline_policies.remove(policy).is_none() {
                return Err(IamApiError::NoSuchEntity(format!(
                    "The group policy with name {} cannot be found.",
                    shorten(policy)
                )));
            }
        }
        UserChange::AttachGroupPolicy { group, policy_arn } => {
            if !policy_exists(&next, policy_arn) {
                return Err(no_such_policy(policy_arn));
            }
            let g = group_mut(&mut next, group)?;
            attach(&mut g.attached_policies, policy_arn, "PoliciesPerGroup")?;
        }
        UserChange::DetachGroupPolicy { group, policy_arn } => {
            let g = group_mut(&mut next, group)?;
            detach(&mut g.attached_policies, policy_arn)?;
        }
    }
    Ok((bounded(next)?, ()))
}

fn user_mut<'a>(
    doc: &'a mut AccountDocument,
    name: &str,
) -> Result<&'a mut StoredUser, IamApiError> {
    doc.users
        .get_mut(&name.to_ascii_lowercase())
        .ok_or_else(|| no_such_user(name))
}

fn group_mut<'a>(
    doc: &'a mut AccountDocument,
    name: &str,
) -> Result<&'a mut StoredGroup, IamApiError> {
    doc.groups
        .get_mut(&name.to_ascii_lowercase())
        .ok_or_else(|| no_such_group(name))
}

fn attach(attached: &mut Vec<String>, arn: &str, quota: &str) -> Result<(), IamApiError> {
    if !attached.iter().any(|a| a == arn) {
        if attached.len() >= MAX_ATTACHED_PER_PRINCIPAL {
            return Err(IamApiError::LimitExceeded(format!(
                "Cannot exceed quota for {quota}: {MAX_ATTACHED_PER_PRINCIPAL}"
            )));
        }
        attached.push(arn.to_owned());
    }
    Ok(())
}

fn detach(attached: &mut Vec<String>, arn: &str) -> Result<(), IamApiError> {
    let before = attached.len();
    attached.retain(|a| a != arn);
    if attached.len() == before {
        return Err(IamApiError::NoSuchEntity(format!(
            "Policy {} was not found.",
            shorten(arn)
        )));
    }
    Ok(())
}

fn inline_size(
    policies: &BTreeMap<String, String>,
    max: usize,
    kind: &str,
    name: &str,
) -> Result<(), IamApiError> {
    let size: usize = policies
        .values()
        .map(|d| {
            d.chars()
                .filter(|c| !matches!(c, ' ' | '\t' | '\n' | '\r'))
                .count()
        })
        .sum();
    if size > max {
        return Err(IamApiError::LimitExceeded(format!(
            "Maximum policy size of {max} bytes exceeded for {kind} {}",
            shorten(name)
        )));
    }
    Ok(())
}

/// Whether the document uses a managed policy `arn` for a user or group (DeletePolicy is
/// refused while it does).
pub fn uses_policy(doc: &AccountDocument, arn: &str) -> bool {
    doc.users.values().any(|u| {
        u.attached_policies.iter().any(|a| a == arn)
            || u.permissions_boundary.as_deref() == Some(arn)
    }) || doc
        .groups
        .values()
        .any(|g| g.attached_policies.iter().any(|a| a == arn))
}

/// An account alias as IAM's pattern has it: `^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$`.
pub fn check_alias(value: &str) -> Result<(), IamApiError> {
    let bytes = value.as_bytes();
    let ok = (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
        && !value.contains("--");
    if !ok {
        return Err(constraint(
            "accountAlias",
            value,
            r"satisfy regular expression pattern: ^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$",
        ));
    }
    Ok(())
}

fn parsed_inline(
    owner: &str,
    policies: &BTreeMap<String, String>,
) -> Result<Vec<NamedPolicy>, Skipped> {
    policies
        .iter()
        .map(|(name, text)| {
            policy::parse(text, PolicyType::Identity)
                .map(|p| NamedPolicy::new(format!("{owner} (inline {name})"), p))
                .map_err(|e| Skipped::Principal {
                    entity: owner.to_owned(),
                    problem: format!("its inline policy {name} does not parse: {e}"),
                })
        })
        .collect()
}

fn attached(
    owner: &str,
    arns: &[String],
    policies: &HashMap<String, NamedPolicy>,
) -> Result<Vec<NamedPolicy>, Skipped> {
    arns.iter()
        .map(|a| {
            policies.get(a).cloned().ok_or_else(|| Skipped::Principal {
                entity: owner.to_owned(),
                problem: format!("its attached policy {a} is not defined"),
            })
        })
        .collect()
}

fn about(
    created: i64,
    inline: &BTreeMap<String, String>,
    attached_policies: &[String],
    boundary: Option<&String>,
) -> PrincipalAbout {
    PrincipalAbout {
        origin: Origin::Api,
        created: time::OffsetDateTime::from_unix_timestamp(created)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        inline_documents: inline.iter().map(|(n, d)| (n.clone(), d.clone())).collect(),
        attached_policies: attached_policies.to_vec(),
        permissions_boundary: boundary.cloned(),
    }
}

impl StoredGroup {
    /// The group as decisions use it: inline policies, then attached ones.
    pub fn to_group(
        &self,
        account: &str,
        policies: &HashMap<String, NamedPolicy>,
    ) -> Result<Group, Skipped> {
        let arn = group_arn_at(account, &self.path, &self.name);
        let mut all = parsed_inline(&arn, &self.inline_policies)?;
        all.extend(attached(&arn, &self.attached_policies, policies)?);
        Ok(Group {
            account: account.to_owned(),
            name: self.name.clone(),
            path: self.path.clone(),
            group_id: self.group_id.clone(),
            arn,
            policies: all,
            about: about(
                self.created,
                &self.inline_policies,
                &self.attached_policies,
                None,
            ),
        })
    }
}

impl StoredUser {
    /// The user as decisions use it, with exactly a file user's composition: its own
    /// policies, then its groups' ([`super::user_identity`]); `groups` finds a group of its
    /// account by name (any case). A group it lists that is not served, or a policy that is
    /// gone, leaves the user out rather than served with other permissions.
    pub fn to_user(
        &self,
        account: &str,
        policies: &HashMap<String, NamedPolicy>,
        groups: &dyn Fn(&str) -> Option<Group>,
    ) -> Result<User, Skipped> {
        let arn = user_arn(account, &self.path, &self.name);
        let mut own = parsed_inline(&arn, &self.inline_policies)?;
        own.extend(attached(&arn, &self.attached_policies, policies)?);
        let mut member_of = Vec::with_capacity(self.groups.len());
        for name in &self.groups {
            member_of.push(groups(name).ok_or_else(|| Skipped::Principal {
                entity: arn.clone(),
                problem: format!("its group {name} is not served"),
            })?);
        }
        let boundary = match &self.permissions_boundary {
            Some(b) => Some(policies.get(b).cloned().ok_or_else(|| Skipped::Principal {
                entity: arn.clone(),
                problem: format!("its permissions boundary {b} is not defined"),
            })?),
            None => None,
        };
        Ok(User {
            account: account.to_owned(),
            name: self.name.clone(),
            path: self.path.clone(),
            user_id: self.user_id.clone(),
            groups: member_of.iter().map(|g| g.name.clone()).collect(),
            identity_policies: super::user_identity(own, &member_of),
            permissions_boundary: boundary,
            tags: self
                .tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect(),
            access_keys: access_keys::served(account, self),
            about: about(
                self.created,
                &self.inline_policies,
                &self.attached_policies,
                self.permissions_boundary.as_ref(),
            ),
            arn,
        })
    }
}

/// Drops the API users and groups `iam` holds (a merged view's), so that only the file's
/// remain.
pub fn file_only(iam: &mut Iam) {
    iam.retain_users(|u| u.about.origin != Origin::Api);
    iam.groups.retain(|_, g| g.about.origin != Origin::Api);
    for a in iam.accounts.values_mut() {
        a.api_alias = None;
    }
}

/// Merges one account's stored users, groups and alias into `iam` (whose managed policies are
/// already merged). Groups first (users name them); a name the file defines is shadowed. A
/// stored access key whose id is in `duplicate_keys` (stored more than once) or already served
/// (the file's) is left out, its user served without it.
pub fn merge_into(
    iam: &mut Iam,
    account: &str,
    doc: &AccountDocument,
    duplicate_keys: &HashSet<String>,
    skipped: &mut Vec<Skipped>,
) {
    if let Some(a) = iam.accounts.get_mut(account)
        && a.alias.is_none()
    {
        a.api_alias.clone_from(&doc.alias);
    }
    for stored in doc.groups.values() {
        if iam.group_named(account, &stored.name).is_some() {
            skipped.push(Skipped::Shadowed(group_arn_at(
                account,
                &stored.path,
                &stored.name,
            )));
            continue;
        }
        match stored.to_group(account, &iam.policies) {
            Ok(g) => {
                iam.groups.insert(g.arn.clone(), g);
            }
            Err(s) => skipped.push(s),
        }
    }
    for stored in doc.users.values() {
        if iam.user_named(account, &stored.name).is_some() {
            skipped.push(Skipped::Shadowed(user_arn(
                account,
                &stored.path,
                &stored.name,
            )));
            continue;
        }
        let groups = |name: &str| iam.group_named(account, name).cloned();
        match stored.to_user(account, &iam.policies, &groups) {
            Ok(mut u) => {
                u.access_keys.retain(|k| {
                    let taken = duplicate_keys.contains(&k.id) || iam.has_access_key(&k.id);
                    if taken {
                        skipped.push(Skipped::AccessKey {
                            access_key_id: k.id.clone(),
                            user: u.arn.clone(),
                        });
                    }
                    !taken
                });
                iam.add_user(u);
            }
            Err(s) => skipped.push(s),
        }
    }
}

/// The users and groups `iam` serves in `account`, and those of them that are in `group`
/// (any case).
pub fn members<'a>(iam: &'a Iam, account: &str, group: &str) -> Vec<&'a Arc<User>> {
    iam.users()
        .filter(|u| u.account == account && u.groups.iter().any(|g| g.eq_ignore_ascii_case(group)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "111122223333";
    const FILE_POLICY: &str = "arn:aws:iam::111122223333:policy/readonly";
    const S3: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;

    fn roles() -> FileRoles {
        FileRoles {
            account: ACCOUNT.to_owned(),
            source: "/etc/sts-broker/broker.toml".to_owned(),
            names: HashSet::new(),
            policies: [("readonly".to_owned(), FILE_POLICY.to_owned())].into(),
        }
    }

    fn file() -> FileUsers {
        FileUsers {
            source: "/etc/sts-broker/broker.toml".to_owned(),
            users: ["alice".to_owned()].into(),
            groups: ["admins".to_owned()].into(),
            alias: None,
            other_aliases: ["taken".to_owned()].into(),
        }
    }

    fn applied(doc: &AccountDocument, change: UserChange) -> AccountDocument {
        apply(doc, &change, &roles(), &file()).unwrap().0
    }

    fn refused(doc: &AccountDocument, change: UserChange) -> IamApiError {
        let before = doc.clone();
        let e = apply(doc, &change, &roles(), &file()).unwrap_err();
        assert_eq!(*doc, before);
        e
    }

    fn user(name: &str) -> StoredUser {
        StoredUser::new(name, "/", super::super::new_unique_id("AIDA").unwrap(), 1)
    }

    fn group(name: &str) -> StoredGroup {
        StoredGroup::new(name, "/", super::super::new_unique_id("AGPA").unwrap(), 1)
    }

    #[test]
    fn users_groups_and_membership() {
        let doc = applied(
            &AccountDocument::default(),
            UserChange::CreateUser(user("Bob")),
        );
        assert!(matches!(
            refused(&doc, UserChange::CreateUser(user("bob"))),
            IamApiError::AlreadyExists(_)
        ));
        assert!(matches!(
            refused(&doc, UserChange::CreateUser(user("ALICE"))),
            IamApiError::AlreadyExists(m) if m.contains("broker.toml")
        ));
        let doc = applied(&doc, UserChange::CreateGroup(group("devs")));
        let add = |g: &str| UserChange::AddUserToGroup {
            user: "bob".into(),
            group: g.into(),
        };
        let doc = applied(&doc, add("DEVS"));
        // Joining twice changes nothing; a file group takes API members.
        assert_eq!(applied(&doc, add("devs")), doc);
        let doc = applied(&doc, add("admins"));
        assert_eq!(doc.users["bob"].groups, vec!["devs", "admins"]);
        assert!(matches!(
            refused(&doc, add("nope")),
            IamApiError::NoSuchEntity(_)
        ));
        assert!(matches!(
            refused(
                &doc,
                UserChange::AddUserToGroup {
                    user: "alice".into(),
                    group: "devs".into()
                }
            ),
            IamApiError::Unmodifiable(_)
        ));
        assert!(matches!(
            refused(&doc, UserChange::DeleteUser { name: "bob".into() }),
            IamApiError::DeleteConflict(_)
        ));
        assert!(matches!(
            refused(
                &doc,
                UserChange::DeleteGroup {
                    name: "devs".into()
                }
            ),
            IamApiError::DeleteConflict(_)
        ));
        assert!(matches!(
            refused(&doc, UserChange::PutGroupPolicy { group: "admins".into(), policy: "p".into(), document: S3.into() }),
            IamApiError::Unmodifiable(m) if m.contains("broker.toml")
        ));
        let doc = applied(
            &doc,
            UserChange::RemoveUserFromGroup {
                user: "bob".into(),
                group: "devs".into(),
            },
        );
        let doc = applied(
            &doc,
            UserChange::RemoveUserFromGroup {
                user: "bob".into(),
                group: "admins".into(),
            },
        );
        let doc = applied(
            &doc,
            UserChange::DeleteGroup {
                name: "devs".into(),
            },
        );
        let doc = applied(&doc, UserChange::DeleteUser { name: "bob".into() });
        assert!(doc.users.is_empty() && doc.groups.is_empty());
    }

    #[test]
    fn at_most_ten_groups_per_user() {
        let mut doc = applied(
            &AccountDocument::default(),
            UserChange::CreateUser(user("u")),
        );
        for i in 0..10 {
            doc = applied(&doc, UserChange::CreateGroup(group(&format!("g{i}"))));
            doc = applied(
                &doc,
                UserChange::AddUserToGroup {
                    user: "u".into(),
                    group: format!("g{i}"),
                },
            );
        }
        assert!(matches!(
            refused(
                &doc,
                UserChange::AddUserToGroup {
                    user: "u".into(),
                    group: "admins".into()
                }
            ),
            IamApiError::LimitExceeded(_)
        ));
    }

    #[test]
    fn policies_of_users_and_groups() {
        let doc = applied(
            &AccountDocument::default(),
            UserChange::CreateUser(user("u")),
        );
        let doc = applied(&doc, UserChange::CreateGroup(group("g")));
        let doc = applied(
            &doc,
            UserChange::AttachGroupPolicy {
                group: "g".into(),
                policy_arn: FILE_POLICY.into(),
            },
        );
        let doc = applied(
            &doc,
            UserChange::AttachUserPolicy {
                user: "u".into(),
                policy_arn: FILE_POLICY.into(),
            },
        );
        let doc = applied(
            &doc,
            UserChange::PutUserPolicy {
                user: "u".into(),
                policy: "s3".into(),
                document: S3.into(),
            },
        );
        assert!(uses_policy(&doc, FILE_POLICY));
        assert!(matches!(
            refused(
                &doc,
                UserChange::AttachUserPolicy {
                    user: "u".into(),
                    policy_arn: "arn:aws:iam::111122223333:policy/none".into()
                }
            ),
            IamApiError::NoSuchEntity(_)
        ));
        let doc = applied(
            &doc,
            UserChange::DetachGroupPolicy {
                group: "g".into(),
                policy_arn: FILE_POLICY.into(),
            },
        );
        let doc = applied(
            &doc,
            UserChange::DetachUserPolicy {
                user: "u".into(),
                policy_arn: FILE_POLICY.into(),
            },
        );
        assert!(!uses_policy(&doc, FILE_POLICY));
        assert!(matches!(
            refused(
                &doc,
                UserChange::DetachUserPolicy {
                    user: "u".into(),
                    policy_arn: FILE_POLICY.into()
                }
            ),
            IamApiError::NoSuchEntity(_)
        ));
        let doc = applied(
            &doc,
            UserChange::PutUserBoundary {
                user: "u".into(),
                policy_arn: FILE_POLICY.into(),
            },
        );
        assert!(uses_policy(&doc, FILE_POLICY));
        let big = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}"}}]}}"#,
            "a".repeat(2100)
        );
        assert!(matches!(
            refused(
                &doc,
                UserChange::PutUserPolicy {
                    user: "u".into(),
                    policy: "big".into(),
                    document: big
                }
            ),
            IamApiError::LimitExceeded(_)
        ));
    }

    #[test]
    fn aliases() {
        let doc = applied(
            &AccountDocument::default(),
            UserChange::CreateAlias {
                alias: "my-co".into(),
            },
        );
        // The same alias again is no change; another one is refused (one per account).
        assert_eq!(
            applied(
                &doc,
                UserChange::CreateAlias {
                    alias: "my-co".into()
                }
            ),
            doc
        );
        assert!(matches!(
            refused(
                &doc,
                UserChange::CreateAlias {
                    alias: "other".into()
                }
            ),
            IamApiError::AlreadyExists(_)
        ));
        assert!(matches!(
            refused(
                &AccountDocument::default(),
                UserChange::CreateAlias {
                    alias: "taken".into()
                }
            ),
            IamApiError::AlreadyExists(_)
        ));
        assert!(matches!(
            refused(
                &doc,
                UserChange::DeleteAlias {
                    alias: "other".into()
                }
            ),
            IamApiError::NoSuchEntity(_)
        ));
        let doc = applied(
            &doc,
            UserChange::DeleteAlias {
                alias: "my-co".into(),
            },
        );
        assert_eq!(doc.alias, None);
        let mut fixed = file();
        fixed.alias = Some("from-file".into());
        let e = apply(
            &AccountDocument::default(),
            &UserChange::CreateAlias {
                alias: "x-y".into(),
            },
            &roles(),
            &fixed,
        );
        assert!(matches!(e, Err(IamApiError::Unmodifiable(_))));
        for good in ["abc", "a-b-c", "0a9"] {
            assert!(check_alias(good).is_ok(), "{good}");
        }
        for bad in ["ab", "-ab", "ab-", "a--b", "ABC", "a_b", &"a".repeat(64)] {
            assert!(check_alias(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn changes_apply_only_to_the_entity_authorized_on() {
        let u = user("u");
        let id = u.user_id.clone();
        let doc = applied(&AccountDocument::default(), UserChange::CreateUser(u));
        let tag = UserChange::TagUser {
            user: "u".into(),
            tags: vec![Tag {
                key: "k".into(),
                value: "v".into(),
            }],
        };
        let stale = Expected {
            id: "AIDAOTHER".into(),
            boundary: None,
        };
        assert!(matches!(
            apply_expecting(&doc, &tag, &stale, &roles(), &file()),
            Err(IamApiError::ConcurrentModification(_))
        ));
        let current = Expected {
            id,
            boundary: Some(None),
        };
        assert!(apply_expecting(&doc, &tag, &current, &roles(), &file()).is_ok());
        let bounded = Expected {
            boundary: Some(Some(FILE_POLICY.into())),
            ..current
        };
        assert!(matches!(
            apply_expecting(&doc, &tag, &bounded, &roles(), &file()),
            Err(IamApiError::ConcurrentModification(_))
        ));
    }

    fn key(id: &str) -> StoredAccessKey {
        StoredAccessKey {
            id: id.to_owned(),
            sealed: "sb1:k1:AAAA".to_owned(),
            status: AccessKeyStatus::Active,
            created: 1,
            generation: 0,
        }
    }

    #[test]
    fn access_keys_are_the_api_users_and_hold_the_user() {
        let doc = applied(
            &AccountDocument::default(),
            UserChange::CreateUser(user("u")),
        );
        let create = |user: &str, id: &str| UserChange::CreateAccessKey {
            user: user.into(),
            key: key(id),
        };
        let doc = applied(&doc, create("U", "AKIAAAAAAAAAAAAAAAA2"));
        assert_eq!(doc.users["u"].access_keys.len(), 1);
        assert_eq!(doc.clone().with_needed_format().format.0, 3);
        // A file user's keys are the file's; an unknown user has none; two per user.
        assert!(matches!(
            refused(&doc, create("alice", "AKIAAAAAAAAAAAAAAAA3")),
            IamApiError::Unmodifiable(m) if m.contains("broker.toml")
        ));
        assert!(matches!(
            refused(&doc, create("nobody", "AKIAAAAAAAAAAAAAAAA3")),
            IamApiError::NoSuchEntity(_)
        ));
        assert!(matches!(
            refused(&doc, create("u", "AKIAAAAAAAAAAAAAAAA2")),
            IamApiError::AlreadyExists(_)
        ));
        let doc = applied(&doc, create("u", "AKIAAAAAAAAAAAAAAAA3"));
        assert!(matches!(
            refused(&doc, create("u", "AKIAAAAAAAAAAAAAAAA4")),
            IamApiError::LimitExceeded(_)
        ));
        assert!(matches!(
            refused(&doc, UserChange::DeleteUser { name: "u".into() }),
            IamApiError::DeleteConflict(m) if m.contains("access keys")
        ));
        let doc = applied(
            &doc,
            UserChange::UpdateAccessKey {
                user: "u".into(),
                id: "AKIAAAAAAAAAAAAAAAA2".into(),
                status: AccessKeyStatus::Inactive,
            },
        );
        assert_eq!(
            doc.users["u"].access_keys[0].status,
            AccessKeyStatus::Inactive
        );
        assert!(matches!(
            refused(
                &doc,
                UserChange::DeleteAccessKey {
                    user: "alice".into(),
                    id: "AKIAAAAAAAAAAAAAAAA2".into()
                }
            ),
            IamApiError::Unmodifiable(_)
        ));
        let mut doc = doc;
        for id in ["AKIAAAAAAAAAAAAAAAA2", "AKIAAAAAAAAAAAAAAAA3"] {
            doc = applied(
                &doc,
                UserChange::DeleteAccessKey {
                    user: "u".into(),
                    id: id.into(),
                },
            );
        }
        assert_eq!(doc.clone().with_needed_format().format.0, 2);
        let doc = applied(&doc, UserChange::DeleteUser { name: "u".into() });
        assert!(doc.users.is_empty());
    }

    #[test]
    fn stored_keys_are_served_sealed_and_a_duplicated_id_for_no_stored_key() {
        let mut iam = Iam::default();
        iam.accounts.insert(
            ACCOUNT.into(),
            super::super::Account {
                id: ACCOUNT.into(),
                alias: None,
                api_alias: None,
            },
        );
        let mut doc = AccountDocument::default();
        let mut u = user("u");
        u.access_keys.push(key("AKIAAAAAAAAAAAAAAAA2"));
        u.access_keys.push(key("AKIAAAAAAAAAAAAAAAA3"));
        doc.users.insert("u".into(), u);
        let duplicated: HashSet<String> = ["AKIAAAAAAAAAAAAAAAA3".to_owned()].into();
        let mut skipped = Vec::new();
        merge_into(&mut iam, ACCOUNT, &doc, &duplicated, &mut skipped);
        let (user, key) = iam.user_by_access_key("AKIAAAAAAAAAAAAAAAA2").unwrap();
        assert_eq!(user.name, "u");
        assert!(matches!(
            &key.secret,
            super::super::HeldSecret::Sealed { context, .. }
                if *context == super::super::access_key_context(ACCOUNT, "AKIAAAAAAAAAAAAAAAA2")
        ));
        assert!(iam.user_by_access_key("AKIAAAAAAAAAAAAAAAA3").is_none());
        assert_eq!(user.access_keys.len(), 1);
        assert_eq!(
            skipped,
            [Skipped::AccessKey {
                access_key_id: "AKIAAAAAAAAAAAAAAAA3".into(),
                user: user_arn(ACCOUNT, "/", "u"),
            }]
        );
    }

    #[test]
    fn a_key_stored_twice_in_any_accounts_or_also_in_the_file_is_served_for_no_stored_user() {
        use super::super::api::{Layer, Revisioned, merged};
        let other = "444455556666";
        let mut file = Iam::default();
        for a in [ACCOUNT, other] {
            file.accounts.insert(
                a.into(),
                super::super::Account {
                    id: a.into(),
                    alias: None,
                    api_alias: None,
                },
            );
        }
        let file_key = "AKIAFILEFILEFILEFIL2";
        let mut alice = User {
            account: ACCOUNT.into(),
            name: "alice".into(),
            path: "/".into(),
            arn: user_arn(ACCOUNT, "/", "alice"),
            user_id: "AIDAALICE".into(),
            groups: Vec::new(),
            identity_policies: Vec::new(),
            permissions_boundary: None,
            tags: BTreeMap::new(),
            access_keys: Vec::new(),
            about: about(0, &BTreeMap::new(), &[], None),
        };
        alice.about.origin = Origin::File("broker.toml".into());
        alice.access_keys.push(super::super::AccessKey {
            id: file_key.into(),
            secret: super::super::HeldSecret::File(crate::secret::Secret::new("s".into())),
            active: true,
            created: None,
            generation: 0,
        });
        file.add_user(alice);
        let with_keys = |name: &str, ids: &[&str]| {
            let mut u = user(name);
            u.access_keys = ids.iter().map(|i| key(i)).collect();
            let mut doc = AccountDocument::default();
            doc.users.insert(name.into(), u);
            Revisioned {
                revision: 1,
                document: doc,
            }
        };
        let planted = "AKIAPLANTEDPLANTED22";
        let layer = Layer {
            version: 1,
            accounts: [
                (
                    ACCOUNT.to_owned(),
                    with_keys("victim", &[planted, "AKIAVICTIMVICTIMVI2"]),
                ),
                (other.to_owned(), with_keys("mallory", &[planted, file_key])),
            ]
            .into(),
        };
        let (iam, skipped) = merged(&file, &layer, None);
        assert!(iam.user_by_access_key(planted).is_none());
        assert_eq!(
            iam.user_by_access_key(file_key).unwrap().0.name,
            "alice",
            "the file's key stays the file user's"
        );
        assert_eq!(
            iam.user_by_access_key("AKIAVICTIMVICTIMVI2")
                .unwrap()
                .0
                .name,
            "victim"
        );
        assert_eq!(skipped.len(), 3, "{skipped:?}");
    }

    #[test]
    fn an_api_user_is_composed_as_a_file_user_is() {
        let mut iam = Iam::default();
        iam.accounts.insert(
            ACCOUNT.into(),
            super::super::Account {
                id: ACCOUNT.into(),
                alias: None,
                api_alias: None,
            },
        );
        let p = NamedPolicy::new(
            FILE_POLICY.to_owned(),
            policy::parse(S3, PolicyType::Identity).unwrap(),
        );
        iam.policies.insert(FILE_POLICY.into(), p);
        let mut doc = AccountDocument::default();
        let mut g = group("g");
        g.attached_policies.push(FILE_POLICY.into());
        doc.groups.insert("g".into(), g);
        let mut u = user("u");
        u.groups.push("G".into());
        u.inline_policies.insert("own".into(), S3.into());
        doc.users.insert("u".into(), u);
        doc.alias = Some("my-co".into());
        let mut skipped = Vec::new();
        merge_into(&mut iam, ACCOUNT, &doc, &HashSet::new(), &mut skipped);
        assert!(skipped.is_empty(), "{skipped:?}");
        let user = iam.user_named(ACCOUNT, "U").unwrap();
        let names: Vec<&str> = user.identity_policies.iter().map(|p| &*p.name).collect();
        assert_eq!(
            names,
            ["arn:aws:iam::111122223333:user/u (inline own)", FILE_POLICY]
        );
        assert_eq!(iam.accounts[ACCOUNT].served_alias(), Some("my-co"));
        // A user in a group that is not served is left out.
        let mut doc2 = doc.clone();
        doc2.groups.clear();
        let mut iam2 = iam.clone();
        file_only(&mut iam2);
        let mut skipped = Vec::new();
        merge_into(&mut iam2, ACCOUNT, &doc2, &HashSet::new(), &mut skipped);
        assert!(iam2.user_named(ACCOUNT, "u").is_none());
        assert_eq!(skipped.len(), 1);
    }
}
