//! IAM's customer-managed policy actions (docs/operations.md, "Managing roles through IAM's
//! API"): `CreatePolicy`, `GetPolicy`, `ListPolicies`, `DeletePolicy`, the version actions,
//! `ListEntitiesForPolicy` and the tag actions. Every call needs `iam:<Action>` on the policy's
//! ARN in the caller's own account (`*` for `ListPolicies`); a policy of another account is
//! not found. The file's policies are shown and read-only; changes go through
//! [`crate::broker::iam_api::change_policy`]. Inputs are checked in the order of
//! [`super::roles`].

use std::collections::HashMap;

use serde::Serialize;

use super::Members;
use super::roles::{
    Nothing, TagXml, calling, date, page, paging, policy_arn_param, request_tags, required,
    tag_keys, tags, untag_keys, url_encoded,
};
use crate::broker::iam_api;
use crate::broker::{ApiError, Broker, RequestMeta};
use crate::iam::api::{self, IamApiError, PolicyChange, StoredPolicy};
use crate::iam::{Iam, ManagedPolicy};
use crate::query::Params;

/// `Policy` as IAM writes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyXml {
    pub policy_name: String,
    pub policy_id: String,
    pub arn: String,
    pub path: String,
    pub default_version_id: String,
    pub attachment_count: usize,
    pub permissions_boundary_usage_count: usize,
    pub is_attachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub create_date: String,
    pub update_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Members<TagXml>>,
}

/// How many roles, users and groups attach a managed policy, and how many it bounds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Usage {
    attached: usize,
    bounding: usize,
}

/// The [`Usage`] of every managed policy `account`'s roles, users and groups use, by ARN: one
/// pass over them, once per request (a policy absent from it is not used).
fn usage<'a>(iam: &'a Iam, account: &str) -> HashMap<&'a str, Usage> {
    let mut out: HashMap<&str, Usage> = HashMap::new();
    for r in iam.roles().filter(|r| r.account == account) {
        for a in &r.about.attached_policies {
            out.entry(a).or_default().attached += 1;
        }
        if let Some(b) = &r.about.permissions_boundary {
            out.entry(b).or_default().bounding += 1;
        }
    }
    for u in iam.users().filter(|u| u.account == account) {
        for a in &u.about.attached_policies {
            out.entry(a).or_default().attached += 1;
        }
        if let Some(b) = &u.about.permissions_boundary {
            out.entry(b).or_default().bounding += 1;
        }
    }
    for g in iam.groups.values().filter(|g| g.account == account) {
        for a in &g.about.attached_policies {
            out.entry(a).or_default().attached += 1;
        }
    }
    out
}

impl PolicyXml {
    /// The policy as `GetPolicy` shows it (`ListPolicies` leaves description and tags out),
    /// used as `usage` says.
    fn of(p: &ManagedPolicy, usage: Usage, full: bool) -> PolicyXml {
        let Usage {
            attached: attachment_count,
            bounding: permissions_boundary_usage_count,
        } = usage;
        let tags: Vec<TagXml> = p
            .tags
            .iter()
            .map(|(k, v)| TagXml {
                key: k.clone(),
                value: v.clone(),
            })
            .collect();
        PolicyXml {
            policy_name: p.name.clone(),
            policy_id: p.policy_id.clone(),
            arn: p.arn.clone(),
            path: p.path.clone(),
            default_version_id: p.default_version.clone(),
            attachment_count,
            permissions_boundary_usage_count,
            is_attachable: true,
            description: p.description.clone().filter(|_| full),
            create_date: date(p.created),
            update_date: date(p.updated),
            tags: (full && !tags.is_empty()).then(|| tags.into()),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyResult {
    pub policy: PolicyXml,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListPoliciesResult {
    pub policies: Members<PolicyXml>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// `PolicyVersion` as IAM writes it; the document only where IAM returns it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyVersionXml {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    pub version_id: String,
    pub is_default_version: bool,
    pub create_date: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyVersionResult {
    pub policy_version: PolicyVersionXml,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListPolicyVersionsResult {
    pub versions: Members<PolicyVersionXml>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyRoleXml {
    pub role_name: String,
    pub role_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyUserXml {
    pub user_name: String,
    pub user_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyGroupXml {
    pub group_name: String,
    pub group_id: String,
}

/// One entity `ListEntitiesForPolicy` lists.
enum PolicyEntity {
    User(PolicyUserXml),
    Group(PolicyGroupXml),
    Role(PolicyRoleXml),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListEntitiesForPolicyResult {
    pub policy_groups: Members<PolicyGroupXml>,
    pub policy_users: Members<PolicyUserXml>,
    pub policy_roles: Members<PolicyRoleXml>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListPolicyTagsResult {
    pub tags: Members<TagXml>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// The caller's managed policy `arn` (file or API), or `NoSuchEntity`.
fn find<'a>(state: &'a Broker, account: &str, arn: &str) -> Result<&'a ManagedPolicy, ApiError> {
    state
        .config
        .iam
        .managed_policies
        .get(arn)
        .filter(|p| p.account == account)
        .map(AsRef::as_ref)
        .ok_or_else(|| api::no_such_policy(arn).into())
}

/// A boolean parameter (`true`/`false`), `default` when absent.
fn flag(params: &Params, name: &str, default: bool) -> Result<bool, ApiError> {
    match params.get(name) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(IamApiError::InvalidInput(format!(
            "{name} {} is not a boolean",
            crate::encoding::shorten(v)
        ))
        .into()),
    }
}

/// A parameter limited to `allowed` values (IAM's enums), if given.
fn one_of<'a>(
    params: &'a Params,
    name: &str,
    allowed: &[&str],
) -> Result<Option<&'a str>, ApiError> {
    match params.get(name) {
        Some(v) if !allowed.contains(&v) => Err(api::constraint(
            &crate::query::params::lower_first(name),
            v,
            &format!("satisfy enum value set: [{}]", allowed.join(", ")),
        )
        .into()),
        v => Ok(v),
    }
}

fn version_id(params: &Params) -> Result<&str, ApiError> {
    let v = required(params, "VersionId")?;
    api::check_version_id(v)?;
    Ok(v)
}

fn policy_xml_of_stored(
    state: &Broker,
    account: &str,
    stored: &StoredPolicy,
) -> Result<PolicyXml, ApiError> {
    let (about, _) = stored
        .to_managed(account)
        .map_err(|_| ApiError::internal())?;
    let used = usage(&state.config.iam, account)
        .get(about.arn.as_str())
        .copied()
        .unwrap_or_default();
    Ok(PolicyXml::of(&about, used, true))
}

/// `CreatePolicy`.
pub async fn create_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<PolicyResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = required(params, "PolicyName")?;
    api::check_name("policyName", name, 128)?;
    let path = params.get("Path").unwrap_or("/");
    api::check_path("path", path)?;
    let document = required(params, "PolicyDocument")?;
    let description = params.get("Description");
    if let Some(d) = description {
        api::check_description(d)?;
    }
    let tags = tags(params)?;
    let arn = crate::iam::policy_arn_at(&caller.account, path, name);
    caller.allow_create(
        state,
        meta,
        ("CreatePolicy", "TagPolicy"),
        &arn,
        &tags,
        None,
    )?;
    api::check_managed_policy("policyDocument", document)?;
    let policy_id = crate::iam::new_unique_id("ANPA").ok_or_else(ApiError::internal)?;
    let mut stored = StoredPolicy::new(
        name,
        path,
        policy_id,
        document,
        state.clock.now().unix_timestamp(),
    );
    stored.description = description.filter(|d| !d.is_empty()).map(str::to_owned);
    stored.tags = tags;
    let created = iam_api::change_policy(state, &caller.account, &PolicyChange::Create(stored))
        .await?
        .ok_or_else(ApiError::internal)?;
    Ok(PolicyResult {
        policy: policy_xml_of_stored(state, &caller.account, &created)?,
    })
}

/// `GetPolicy`.
pub async fn get_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<PolicyResult, ApiError> {
    let caller = calling(state, meta).await?;
    let arn = policy_arn_param(params, "PolicyArn")?;
    caller.allow(state, meta, "GetPolicy", arn)?;
    let policy = find(state, &caller.account, arn)?;
    let used = usage(&state.config.iam, &caller.account)
        .get(arn)
        .copied()
        .unwrap_or_default();
    Ok(PolicyResult {
        policy: PolicyXml::of(policy, used, true),
    })
}

/// `ListPolicies`: the caller's account's customer-managed policies (`Scope` `AWS` lists
/// none: there are no AWS-managed policies here), `OnlyAttached`, `PathPrefix`,
/// `PolicyUsageFilter`, paged.
pub async fn list_policies(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<ListPoliciesResult, ApiError> {
    let caller = calling(state, meta).await?;
    let scope = one_of(params, "Scope", &["All", "AWS", "Local"])?.unwrap_or("All");
    let only_attached = flag(params, "OnlyAttached", false)?;
    let prefix = params.get("PathPrefix").unwrap_or("/");
    api::check_path_prefix(prefix)?;
    let usage_filter = one_of(
        params,
        "PolicyUsageFilter",
        &["PermissionsPolicy", "PermissionsBoundary"],
    )?;
    let paging = paging(params)?;
    caller.allow(state, meta, "ListPolicies", "*")?;
    let usage = usage(&state.config.iam, &caller.account);
    let policies: Vec<(String, (&ManagedPolicy, Usage))> = state
        .config
        .iam
        .managed_policies
        .values()
        .filter(|p| scope != "AWS" && p.account == caller.account && p.path.starts_with(prefix))
        .map(|p| {
            let u = usage.get(p.arn.as_str()).copied().unwrap_or_default();
            (p.arn.clone(), (p.as_ref(), u))
        })
        .filter(|(_, (_, u))| {
            let used_as_filtered = match usage_filter {
                Some("PermissionsPolicy") => u.attached > 0,
                Some(_) => u.bounding > 0,
                None => true,
            };
            used_as_filtered && (!only_attached || u.attached + u.bounding > 0)
        })
        .collect();
    let (policies, marker) = page(policies, &paging);
    let policies: Vec<PolicyXml> = policies
        .into_iter()
        .map(|(p, u)| PolicyXml::of(p, u, false))
        .collect();
    Ok(ListPoliciesResult {
        policies: policies.into(),
        is_truncated: marker.is_some(),
        marker,
    })
}

/// `DeletePolicy`: refused while attached or bounding a role, or while other versions remain.
pub async fn delete_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let arn = policy_arn_param(params, "PolicyArn")?;
    caller.allow(state, meta, "DeletePolicy", arn)?;
    let change = PolicyChange::Delete {
        arn: arn.to_owned(),
    };
    iam_api::change_policy(state, &caller.account, &change).await?;
    Ok(Nothing {})
}

/// `CreatePolicyVersion` (at most five versions; `SetAsDefault`).
pub async fn create_policy_version(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<PolicyVersionResult, ApiError> {
    let caller = calling(state, meta).await?;
    let arn = policy_arn_param(params, "PolicyArn")?;
    let document = required(params, "PolicyDocument")?;
    let set_as_default = flag(params, "SetAsDefault", false)?;
    caller.allow(state, meta, "CreatePolicyVersion", arn)?;
    api::check_managed_policy("policyDocument", document)?;
    let created = state.clock.now().unix_timestamp();
    let change = PolicyChange::CreateVersion {
        arn: arn.to_owned(),
        document: document.to_owned(),
        set_as_default,
        created,
    };
    let policy = iam_api::change_policy(state, &caller.account, &change)
        .await?
        .ok_or_else(ApiError::internal)?;
    let version = policy.versions.last().ok_or_else(ApiError::internal)?;
    Ok(PolicyVersionResult {
        policy_version: PolicyVersionXml {
            document: None,
            version_id: version.id.clone(),
            is_default_version: version.id == policy.default_version,
            create_date: date(
                time::OffsetDateTime::from_unix_timestamp(version.created)
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
            ),
        },
    })
}

/// `GetPolicyVersion`: the document URL-encoded, as IAM returns it.
pub async fn get_policy_version(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<PolicyVersionResult, ApiError> {
    let caller = calling(state, meta).await?;
    let arn = policy_arn_param(params, "PolicyArn")?;
    let id = version_id(params)?;
    caller.allow(state, meta, "GetPolicyVersion", arn)?;
    let policy = find(state, &caller.account, arn)?;
    let version = policy.versions.iter().find(|v| v.id == id).ok_or_else(|| {
        ApiError::from(IamApiError::NoSuchEntity(format!(
            "Policy {} version {} does not exist or is not attachable.",
            crate::encoding::shorten(arn),
            crate::encoding::shorten(id)
        )))
    })?;
    Ok(PolicyVersionResult {
        policy_version: PolicyVersionXml {
            document: Some(url_encoded(&version.document)),
            version_id: version.id.clone(),
            is_default_version: version.id == policy.default_version,
            create_date: date(version.created),
        },
    })
}

/// `ListPolicyVersions` (newest first, paged; no documents).
pub async fn list_policy_versions(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<ListPolicyVersionsResult, ApiError> {
    let caller = calling(state, meta).await?;
    let arn = policy_arn_param(params, "PolicyArn")?;
    let paging = paging(params)?;
    caller.allow(state, meta, "ListPolicyVersions", arn)?;
    let policy = find(state, &caller.account, arn)?;
    let versions = policy
        .versions
        .iter()
        .map(|v| {
            let number: u32 = v.id.trim_start_matches('v').parse().unwrap_or(0);
            (
                format!("{:010}", u32::MAX - number),
                PolicyVersionXml {
                    document: None,
                    version_id: v.id.clone(),
                    is_default_version: v.id == policy.default_version,
                    create_date: date(v.created),
                },
            )
        })
        .collect();
    let (versions, marker) = page(versions, &paging);
    Ok(ListPolicyVersionsResult {
        versions: versions.into(),
        is_truncated: marker.is_some(),
        marker,
    })
}

/// `SetDefaultPolicyVersion`: what the policy grants changes on every role using it.
pub async fn set_default_policy_version(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let arn = policy_arn_param(params, "PolicyArn")?;
    let id = version_id(params)?;
    caller.allow(state, meta, "SetDefaultPolicyVersion", arn)?;
    let change = PolicyChange::SetDefault {
        arn: arn.to_owned(),
        version: id.to_owned(),
    };
    iam_api::change_policy(state, &caller.account, &change).await?;
    Ok(Nothing {})
}

/// `DeletePolicyVersion`: never the default one.
pub async fn delete_policy_version(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let arn = policy_arn_param(params, "PolicyArn")?;
    let id = version_id(params)?;
    caller.allow(state, meta, "DeletePolicyVersion", arn)?;
    let change = PolicyChange::DeleteVersion {
        arn: arn.to_owned(),
        version: id.to_owned(),
    };
    iam_api::change_policy(state, &caller.account, &change).await?;
    Ok(Nothing {})
}

/// `ListEntitiesForPolicy`: the roles, users and groups attaching it (or bounded by it, with
/// `PolicyUsageFilter=PermissionsBoundary`), paged together by ARN.
pub async fn list_entities_for_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<ListEntitiesForPolicyResult, ApiError> {
    let caller = calling(state, meta).await?;
    let arn = policy_arn_param(params, "PolicyArn")?;
    let filter = one_of(
        params,
        "EntityFilter",
        &[
            "User",
            "Role",
            "Group",
            "LocalManagedPolicy",
            "AWSManagedPolicy",
        ],
    )?;
    let prefix = params.get("PathPrefix").unwrap_or("/");
    api::check_path_prefix(prefix)?;
    let usage_filter = one_of(
        params,
        "PolicyUsageFilter",
        &["PermissionsPolicy", "PermissionsBoundary"],
    )?;
    let paging = paging(params)?;
    caller.allow(state, meta, "ListEntitiesForPolicy", arn)?;
    find(state, &caller.account, arn)?;
    let wanted =
        |kind: &str| matches!(filter, None | Some("LocalManagedPolicy")) || filter == Some(kind);
    let uses = |attached: &[String], boundary: Option<&str>| {
        let attached = attached.iter().any(|a| a == arn);
        let bounded = boundary == Some(arn);
        match usage_filter {
            Some("PermissionsPolicy") => attached,
            Some(_) => bounded,
            None => attached || bounded,
        }
    };
    let iam = &state.config.iam;
    let mut entities: Vec<(String, PolicyEntity)> = Vec::new();
    if wanted("Role") {
        entities.extend(
            iam.roles()
                .filter(|r| r.account == caller.account && r.path.starts_with(prefix))
                .filter(|r| {
                    uses(
                        &r.about.attached_policies,
                        r.about.permissions_boundary.as_deref(),
                    )
                })
                .map(|r| {
                    (
                        r.arn.clone(),
                        PolicyEntity::Role(PolicyRoleXml {
                            role_name: r.name.clone(),
                            role_id: r.role_id.clone(),
                        }),
                    )
                }),
        );
    }
    if wanted("User") {
        entities.extend(
            iam.users()
                .filter(|u| u.account == caller.account && u.path.starts_with(prefix))
                .filter(|u| {
                    uses(
                        &u.about.attached_policies,
                        u.about.permissions_boundary.as_deref(),
                    )
                })
                .map(|u| {
                    (
                        u.arn.clone(),
                        PolicyEntity::User(PolicyUserXml {
                            user_name: u.name.clone(),
                            user_id: u.user_id.clone(),
                        }),
                    )
                }),
        );
    }
    if wanted("Group") {
        entities.extend(
            iam.groups
                .values()
                .filter(|g| g.account == caller.account && g.path.starts_with(prefix))
                .filter(|g| uses(&g.about.attached_policies, None))
                .map(|g| {
                    (
                        g.arn.clone(),
                        PolicyEntity::Group(PolicyGroupXml {
                            group_name: g.name.clone(),
                            group_id: g.group_id.clone(),
                        }),
                    )
                }),
        );
    }
    let (entities, marker) = page(entities, &paging);
    let (mut users, mut groups, mut roles) = (Vec::new(), Vec::new(), Vec::new());
    for e in entities {
        match e {
            PolicyEntity::User(u) => users.push(u),
            PolicyEntity::Group(g) => groups.push(g),
            PolicyEntity::Role(r) => roles.push(r),
        }
    }
    Ok(ListEntitiesForPolicyResult {
        policy_groups: groups.into(),
        policy_users: users.into(),
        policy_roles: roles.into(),
        is_truncated: marker.is_some(),
        marker,
    })
}

/// `TagPolicy`.
pub async fn tag_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let arn = policy_arn_param(params, "PolicyArn")?;
    let tags = tags(params)?;
    if tags.is_empty() {
        return Err(api::missing("tags").into());
    }
    caller.allow_as(state, meta, "TagPolicy", arn, arn, request_tags(&tags))?;
    let change = PolicyChange::Tag {
        arn: arn.to_owned(),
        tags,
    };
    iam_api::change_policy(state, &caller.account, &change).await?;
    Ok(Nothing {})
}

/// `UntagPolicy`.
pub async fn untag_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let arn = policy_arn_param(params, "PolicyArn")?;
    let keys = untag_keys(params)?;
    caller.allow_as(
        state,
        meta,
        "UntagPolicy",
        arn,
        arn,
        vec![tag_keys(keys.iter().copied())],
    )?;
    let change = PolicyChange::Untag {
        arn: arn.to_owned(),
        keys: keys.into_iter().map(str::to_owned).collect(),
    };
    iam_api::change_policy(state, &caller.account, &change).await?;
    Ok(Nothing {})
}

/// `ListPolicyTags` (paged).
pub async fn list_policy_tags(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<ListPolicyTagsResult, ApiError> {
    let caller = calling(state, meta).await?;
    let arn = policy_arn_param(params, "PolicyArn")?;
    let paging = paging(params)?;
    caller.allow(state, meta, "ListPolicyTags", arn)?;
    let policy = find(state, &caller.account, arn)?;
    let tags = policy
        .tags
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                TagXml {
                    key: k.clone(),
                    value: v.clone(),
                },
            )
        })
        .collect();
    let (tags, marker) = page(tags, &paging);
    Ok(ListPolicyTagsResult {
        tags: tags.into(),
        is_truncated: marker.is_some(),
        marker,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::api::{self, AccountDocument, Layer, Revisioned, StoredRole};

    const DOC: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

    /// Two accounts, each with policies `a` and `b`; in each, `r1` attaches `a` and is bounded
    /// by `b`, `r2` attaches `a` and `b`.
    fn two_accounts() -> Iam {
        let mut base = Iam::default();
        let mut layer = Layer::default();
        for account in ["111122223333", "444455556666"] {
            base.accounts.insert(
                account.to_owned(),
                crate::iam::Account {
                    id: account.to_owned(),
                    alias: None,
                    api_alias: None,
                },
            );
            let arn = |n: &str| crate::iam::policy_arn_at(account, "/", n);
            let mut doc = AccountDocument::default();
            for name in ["a", "b"] {
                let p = StoredPolicy::new(name, "/", format!("ANPA{name}"), DOC, 0);
                doc.policies.insert(name.to_owned(), p);
            }
            for (name, attached, boundary) in [
                ("r1", vec![arn("a")], Some(arn("b"))),
                ("r2", vec![arn("a"), arn("b")], None),
            ] {
                let role = StoredRole {
                    name: name.to_owned(),
                    path: "/".to_owned(),
                    role_id: format!("AROA{name}"),
                    description: None,
                    max_session_duration: 3600,
                    trust_policy: TRUST.to_owned(),
                    inline_policies: Default::default(),
                    tags: Vec::new(),
                    created: 0,
                    attached_policies: attached,
                    permissions_boundary: boundary,
                };
                doc.roles.insert(name.to_owned(), role);
            }
            layer.accounts.insert(
                account.to_owned(),
                Revisioned {
                    revision: 1,
                    document: doc,
                },
            );
        }
        let (iam, skipped) = api::merged(&base, &layer, None);
        assert!(skipped.is_empty(), "{skipped:?}");
        iam
    }

    #[test]
    fn usage_is_counted_in_one_pass_over_the_callers_account() {
        let iam = two_accounts();
        let used = usage(&iam, "111122223333");
        let arn = |n: &str| crate::iam::policy_arn_at("111122223333", "/", n);
        assert_eq!(used.len(), 2, "{used:?}");
        assert_eq!(
            used[arn("a").as_str()],
            Usage {
                attached: 2,
                bounding: 0
            }
        );
        assert_eq!(
            used[arn("b").as_str()],
            Usage {
                attached: 1,
                bounding: 1
            }
        );
    }
}
