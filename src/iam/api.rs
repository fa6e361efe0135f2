//! Entities created through IAM's management API (docs/operations.md, "Managing roles through
//! IAM's API"): what is stored per account (one [`AccountDocument`], serde JSON), the checks on every input (IAM's bounds and messages;
//! policies through [`crate::policy::parse`], as file policies are), the changes as pure
//! functions on a document ([`apply`]), and the merge of the stored layer over the file's
//! entities ([`merged`]). No I/O: the store and the broker call these.
//!
//! The file is the read-only base layer: a name it defines cannot be created here, and its
//! entities cannot be changed or deleted here. Names compare without case, as in IAM.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Iam, Origin, Role, RoleAbout, is_name_byte, is_valid_path, role_arn};
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
}

/// Everything created through the API in one account: one stored document, changed whole.
/// Later kinds of entity (managed policies, providers, users) get fields of their own here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountDocument {
    /// By name in lowercase (IAM's names do not differ by case alone).
    #[serde(default)]
    pub roles: BTreeMap<String, StoredRole>,
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
            | RoleChange::Untag { role, .. } => role,
        }
    }
}

/// The file's roles of one account, as [`apply`] needs them.
#[derive(Debug, Clone, Default)]
pub struct FileRoles {
    /// The configuration file that defines them.
    pub source: String,
    /// Their names in lowercase.
    pub names: HashSet<String>,
}

impl FileRoles {
    /// The file roles of `account` in `iam`.
    pub fn of(iam: &Iam, account: &str) -> FileRoles {
        let mut out = FileRoles::default();
        for r in iam.roles().filter(|r| r.account == account) {
            if let Origin::File(source) = &r.about.origin {
                out.source.clone_from(source);
                out.names.insert(r.name.to_ascii_lowercase());
            }
        }
        out
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
        next.roles.remove(&key);
        return Ok((next, None));
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
        RoleChange::Tag { tags, .. } => {
            for t in tags {
                // Keys compare without case, as in IAM: the tag is replaced.
                match role.tags.iter_mut().find(|o| same_tag_key(&o.key, &t.key)) {
                    Some(old) => *old = t.clone(),
                    None => role.tags.push(t.clone()),
                }
            }
            if role.tags.len() > MAX_TAGS {
                return Err(IamApiError::LimitExceeded(
                    "The number of tags has reached the maximum limit.".to_owned(),
                ));
            }
        }
        RoleChange::Untag { keys, .. } => role
            .tags
            .retain(|t| !keys.iter().any(|k| same_tag_key(k, &t.key))),
    }
    let after = role.clone();
    Ok((bounded(next)?, Some(after)))
}

/// `doc`, if its serialized size is within [`MAX_ACCOUNT_DOCUMENT`].
fn bounded(doc: AccountDocument) -> Result<AccountDocument, IamApiError> {
    let size = serde_json::to_vec(&doc).map_or(usize::MAX, |b| b.len());
    if size > MAX_ACCOUNT_DOCUMENT {
        return Err(IamApiError::LimitExceeded(format!(
            "Cannot exceed the size of the IAM entities stored for one account: \
             {MAX_ACCOUNT_DOCUMENT} bytes (policy documents count whitespace included)."
        )));
    }
    Ok(doc)
}

fn non_blank(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
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
    /// (they passed [`check_policy`] when written).
    pub fn to_role(&self, account: &str) -> Result<Role, policy::PolicyError> {
        let arn = role_arn(account, &self.path, &self.name);
        let trust = policy::parse(&self.trust_policy, PolicyType::Trust)?;
        let mut identity = Vec::with_capacity(self.inline_policies.len());
        for (name, text) in &self.inline_policies {
            let p = policy::parse(text, PolicyType::Identity)?;
            identity.push(NamedPolicy::new(format!("{arn} (inline {name})"), p));
        }
        Ok(Role {
            account: account.to_owned(),
            name: self.name.clone(),
            path: self.path.clone(),
            role_id: self.role_id.clone(),
            trust_policy: NamedPolicy::new(format!("{arn} (trust policy)"), trust),
            arn,
            identity_policies: identity,
            permissions_boundary: None,
            max_session_duration: self.max_session_duration,
            tags: self
                .tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect(),
            about: RoleAbout {
                origin: Origin::Api,
                description: self.description.clone(),
                created: OffsetDateTime::from_unix_timestamp(self.created)
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                trust_document: self.trust_policy.clone(),
                inline_documents: self
                    .inline_policies
                    .iter()
                    .map(|(n, d)| (n.clone(), d.clone()))
                    .collect(),
            },
        })
    }
}

/// What [`merged`] left out, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    /// The account is not configured (any more).
    UnknownAccount(String),
    /// The file defines a role of that name (added to the file after the API created it).
    Shadowed(String),
    /// A stored policy no longer parses.
    Unparsable { role: String, problem: String },
}

/// The file's entities of `base` (API-made ones it holds are dropped) with `layer` over them.
/// `previous` is the merged view the layer replaces: roles stored identically are shared
/// from it rather than parsed again.
pub fn merged(base: &Iam, layer: &Layer, previous: Option<(&Iam, &Layer)>) -> (Iam, Vec<Skipped>) {
    let mut iam = base.clone();
    iam.retain_roles(|r| r.about.origin != Origin::Api);
    let file_names: HashSet<(String, String)> = iam
        .roles()
        .map(|r| (r.account.clone(), r.name.to_ascii_lowercase()))
        .collect();
    let mut skipped = Vec::new();
    for (account, revisioned) in &layer.accounts {
        if !iam.accounts.contains_key(account) {
            if !revisioned.document.roles.is_empty() {
                skipped.push(Skipped::UnknownAccount(account.clone()));
            }
            continue;
        }
        for (key, stored) in &revisioned.document.roles {
            let arn = role_arn(account, &stored.path, &stored.name);
            if file_names.contains(&(account.clone(), key.clone())) {
                skipped.push(Skipped::Shadowed(arn));
                continue;
            }
            // Only the same API role is shared: a file role of that ARN (which hid this one)
            // is not it.
            let reused = previous.and_then(|(iam_before, layer_before)| {
                (layer_before.role(account, &stored.name) == Some(stored))
                    .then(|| iam_before.role(&arn))
                    .flatten()
                    .filter(|r| r.about.origin == Origin::Api && r.role_id == stored.role_id)
                    .cloned()
            });
            match reused {
                Some(role) => iam.insert_role(role),
                None => match stored.to_role(account) {
                    Ok(role) => iam.add_role(role),
                    Err(e) => skipped.push(Skipped::Unparsable {
                        role: arn,
                        problem: e.to_string(),
                    }),
                },
            }
        }
    }
    (iam, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    const S3: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;

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
        }
    }

    fn file() -> FileRoles {
        FileRoles {
            source: "/etc/sts-broker/broker.toml".to_owned(),
            names: ["deploy".to_owned()].into(),
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
