//! IAM's user, group and account actions (docs/operations.md, "Users and groups through IAM's
//! API"): users (`CreateUser`, `GetUser`, `ListUsers`, `DeleteUser`, inline and attached
//! policies, the boundary, tags), groups (`CreateGroup`, `GetGroup`, `ListGroups`,
//! `DeleteGroup`, membership, inline and attached policies), the account alias and
//! `GetAccountSummary`. Authorized as the role actions are ([`super::roles`]): `iam:<Action>` on
//! the entity's ARN in the caller's own account (`*` for the list and account actions), tag
//! condition keys for the tag actions, `iam:PermissionsBoundary` and `iam:PolicyARN` where IAM
//! sets them; changes go through [`iam_api::change_user_expecting`], which applies them only
//! to the entity they were authorized on. Inputs are checked in this order: signature,
//! parameter shapes, authorization, policy documents, then the change.

use std::sync::Arc;

use serde::Serialize;

use super::Members;
use super::roles::{
    AttachedPolicyXml, BoundaryXml, Calling, Nothing, TagXml, calling, date, page, paging,
    policy_arn_param, policy_name, request_tags, required, single, tag_keys, tags, untag_keys,
    url_encoded,
};
use crate::broker::{ApiError, Broker, RequestMeta, iam_api};
use crate::iam::api::{self, Expected, IamApiError};
use crate::iam::users::{self, StoredGroup, StoredUser, UserChange, no_such_group, no_such_user};
use crate::iam::{Group, User, group_arn_at, user_arn};
use crate::policy::{ContextValue, PolicyType};
use crate::query::Params;

/// A user name parameter: 1–64 of `[\w+=,.@-]`.
pub(super) fn user_name<'a>(params: &'a Params, param: &str) -> Result<&'a str, ApiError> {
    let name = required(params, param)?;
    api::check_name(&crate::query::params::lower_first(param), name, 64)?;
    Ok(name)
}

/// A group name parameter: 1–128 of `[\w+=,.@-]`.
fn group_name(params: &Params) -> Result<&str, ApiError> {
    let name = required(params, "GroupName")?;
    api::check_name("groupName", name, 128)?;
    Ok(name)
}

impl Calling {
    pub(super) fn user<'a>(&self, state: &'a Broker, name: &str) -> Option<&'a Arc<User>> {
        state.config.iam.user_named(&self.account, name)
    }

    fn group<'a>(&self, state: &'a Broker, name: &str) -> Option<&'a Group> {
        state.config.iam.group_named(&self.account, name)
    }

    /// `iam:<action>` on user `name` (its ARN, or at path `/` when absent; a denial names it
    /// at path `/`).
    pub(super) fn allow_user(
        &self,
        state: &Broker,
        meta: &RequestMeta,
        action: &str,
        name: &str,
        extra: Vec<(String, ContextValue)>,
    ) -> Result<(), ApiError> {
        let shown = user_arn(&self.account, "/", name);
        let resource = self
            .user(state, name)
            .map_or_else(|| shown.clone(), |u| u.arn.clone());
        self.allow_as(state, meta, action, &resource, &shown, extra)
    }

    fn allow_group(
        &self,
        state: &Broker,
        meta: &RequestMeta,
        action: &str,
        name: &str,
        extra: Vec<(String, ContextValue)>,
    ) -> Result<(), ApiError> {
        let shown = group_arn_at(&self.account, "/", name);
        let resource = self
            .group(state, name)
            .map_or_else(|| shown.clone(), |g| g.arn.clone());
        self.allow_as(state, meta, action, &resource, &shown, extra)
    }

    /// Authorizes `action` on user `name`, then finds it.
    fn existing_user<'a>(
        &self,
        state: &'a Broker,
        meta: &RequestMeta,
        action: &str,
        name: &str,
    ) -> Result<&'a Arc<User>, ApiError> {
        self.allow_user(state, meta, action, name, Vec::new())?;
        self.user(state, name)
            .ok_or_else(|| no_such_user(name).into())
    }

    fn existing_group<'a>(
        &self,
        state: &'a Broker,
        meta: &RequestMeta,
        action: &str,
        name: &str,
    ) -> Result<&'a Group, ApiError> {
        self.allow_group(state, meta, action, name, Vec::new())?;
        self.group(state, name)
            .ok_or_else(|| no_such_group(name).into())
    }

    /// As the role actions' target: authorizes `action` changing user `name` with the condition keys `extra`, and
    /// its current boundary as `iam:PermissionsBoundary` when `boundary`; returns what the
    /// change must still find stored.
    pub(super) fn user_target(
        &self,
        state: &Broker,
        meta: &RequestMeta,
        action: &str,
        name: &str,
        boundary: bool,
        mut extra: Vec<(String, ContextValue)>,
    ) -> Result<Expected, ApiError> {
        let user = self.user(state, name);
        let current = user.and_then(|u| u.about.permissions_boundary.as_deref());
        if boundary && let Some(b) = current {
            extra.push(single("iam:PermissionsBoundary", b));
        }
        self.allow_user(state, meta, action, name, extra)?;
        let user = user.ok_or_else(|| no_such_user(name))?;
        Ok(Expected {
            id: user.user_id.clone(),
            boundary: boundary.then(|| user.about.permissions_boundary.clone()),
        })
    }

    fn group_target(
        &self,
        state: &Broker,
        meta: &RequestMeta,
        action: &str,
        name: &str,
        keys: &[(&str, &str)],
    ) -> Result<Expected, ApiError> {
        let extra = keys.iter().map(|(k, v)| single(k, v)).collect();
        self.allow_group(state, meta, action, name, extra)?;
        let group = self.group(state, name).ok_or_else(|| no_such_group(name))?;
        Ok(Expected {
            id: group.group_id.clone(),
            boundary: None,
        })
    }
}

/// `User` as IAM writes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserXml {
    pub path: String,
    pub user_name: String,
    pub user_id: String,
    pub arn: String,
    pub create_date: String,
    /// The last successful sign-in with the user's password (`POST /signin`), when one was
    /// recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_last_used: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<BoundaryXml>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Members<TagXml>>,
}

impl UserXml {
    pub(super) fn of(user: &User, full: bool) -> UserXml {
        let tags: Vec<TagXml> = user
            .tags
            .iter()
            .map(|(k, v)| TagXml {
                key: k.clone(),
                value: v.clone(),
            })
            .collect();
        UserXml {
            path: user.path.clone(),
            user_name: user.name.clone(),
            user_id: user.user_id.clone(),
            arn: user.arn.clone(),
            create_date: date(user.about.created),
            password_last_used: None,
            permissions_boundary: BoundaryXml::of(user.about.permissions_boundary.as_ref()),
            tags: (full && !tags.is_empty()).then(|| tags.into()),
        }
    }

    fn stored(account: &str, user: &StoredUser) -> UserXml {
        let tags: Vec<TagXml> = user
            .tags
            .iter()
            .map(|t| TagXml {
                key: t.key.clone(),
                value: t.value.clone(),
            })
            .collect();
        UserXml {
            path: user.path.clone(),
            user_name: user.name.clone(),
            user_id: user.user_id.clone(),
            arn: user_arn(account, &user.path, &user.name),
            create_date: date(
                time::OffsetDateTime::from_unix_timestamp(user.created)
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
            ),
            password_last_used: None,
            permissions_boundary: BoundaryXml::of(user.permissions_boundary.as_ref()),
            tags: (!tags.is_empty()).then(|| tags.into()),
        }
    }
}

/// `Group` as IAM writes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupXml {
    pub path: String,
    pub group_name: String,
    pub group_id: String,
    pub arn: String,
    pub create_date: String,
}

impl GroupXml {
    fn of(group: &Group) -> GroupXml {
        GroupXml {
            path: group.path.clone(),
            group_name: group.name.clone(),
            group_id: group.group_id.clone(),
            arn: group.arn.clone(),
            create_date: date(group.about.created),
        }
    }

    fn stored(account: &str, group: &StoredGroup) -> GroupXml {
        GroupXml {
            path: group.path.clone(),
            group_name: group.name.clone(),
            group_id: group.group_id.clone(),
            arn: group_arn_at(account, &group.path, &group.name),
            create_date: date(
                time::OffsetDateTime::from_unix_timestamp(group.created)
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
            ),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserResult {
    pub user: UserXml,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupResult {
    pub group: GroupXml,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListUsersResult {
    pub users: Members<UserXml>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetGroupResult {
    pub group: GroupXml,
    pub users: Members<UserXml>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListGroupsResult {
    pub groups: Members<GroupXml>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetUserPolicyResult {
    pub user_name: String,
    pub policy_name: String,
    pub policy_document: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetGroupPolicyResult {
    pub group_name: String,
    pub policy_name: String,
    pub policy_document: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyNamesResult {
    pub policy_names: Members<String>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttachedPoliciesResult {
    pub attached_policies: Members<AttachedPolicyXml>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListUserTagsResult {
    pub tags: Members<TagXml>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAccountAliasesResult {
    pub account_aliases: Members<String>,
    pub is_truncated: bool,
}

/// A Query API map entry: `<entry><key>…</key><value>…</value></entry>`, lower case.
#[derive(Debug, Serialize)]
pub struct SummaryEntry {
    pub key: &'static str,
    pub value: usize,
}

#[derive(Debug, Serialize)]
pub struct SummaryMap {
    pub entry: Vec<SummaryEntry>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetAccountSummaryResult {
    pub summary_map: SummaryMap,
}

fn policy_names(
    documents: &[(String, String)],
    params: &Params,
) -> Result<PolicyNamesResult, ApiError> {
    let paging = paging(params)?;
    let names = documents
        .iter()
        .map(|(n, _)| (n.clone(), n.clone()))
        .collect();
    let (names, marker) = page(names, &paging);
    Ok(PolicyNamesResult {
        policy_names: names.into(),
        is_truncated: marker.is_some(),
        marker,
    })
}

fn attached_policies(
    state: &Broker,
    arns: &[String],
    params: &Params,
) -> Result<AttachedPoliciesResult, ApiError> {
    let prefix = params.get("PathPrefix").unwrap_or("/");
    api::check_path_prefix(prefix)?;
    let paging = paging(params)?;
    let attached = arns
        .iter()
        .filter_map(|arn| state.config.iam.managed_policies.get(arn))
        .filter(|p| p.path.starts_with(prefix))
        .map(|p| {
            (
                p.arn.clone(),
                AttachedPolicyXml {
                    policy_name: p.name.clone(),
                    policy_arn: p.arn.clone(),
                },
            )
        })
        .collect();
    let (attached, marker) = page(attached, &paging);
    Ok(AttachedPoliciesResult {
        attached_policies: attached.into(),
        is_truncated: marker.is_some(),
        marker,
    })
}

fn inline_document<'a>(
    documents: &'a [(String, String)],
    policy: &str,
    kind: &str,
) -> Result<&'a str, ApiError> {
    documents
        .iter()
        .find(|(n, _)| n == policy)
        .map(|(_, d)| d.as_str())
        .ok_or_else(|| {
            IamApiError::NoSuchEntity(format!(
                "The {kind} policy with name {} cannot be found.",
                crate::encoding::shorten(policy)
            ))
            .into()
        })
}

/// `CreateUser`: with tags, also `iam:TagUser`; with a boundary, `iam:PermissionsBoundary`.
pub async fn create_user(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<UserResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = user_name(params, "UserName")?;
    let path = params.get("Path").unwrap_or("/");
    api::check_path("path", path)?;
    let boundary = params.get("PermissionsBoundary");
    if let Some(b) = boundary {
        api::check_policy_arn("permissionsBoundary", b)?;
    }
    let tags = tags(params)?;
    let arn = user_arn(&caller.account, path, name);
    caller.allow_create(
        state,
        meta,
        ("CreateUser", "TagUser"),
        &arn,
        &tags,
        boundary,
    )?;
    let user_id = crate::iam::new_unique_id("AIDA").ok_or_else(ApiError::internal)?;
    let mut stored = StoredUser::new(name, path, user_id, state.clock.now().unix_timestamp());
    stored.tags = tags;
    stored.permissions_boundary = boundary.map(str::to_owned);
    iam_api::change_user(
        state,
        &caller.account,
        &UserChange::CreateUser(stored.clone()),
    )
    .await?;
    Ok(UserResult {
        user: UserXml::stored(&caller.account, &stored),
    })
}

/// `GetUser`: without `UserName`, the calling user; a role session gets IAM's
/// `ValidationError`.
pub async fn get_user(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<UserResult, ApiError> {
    let caller = calling(state, meta).await?;
    let user = match params.get("UserName") {
        Some(_) => {
            let name = user_name(params, "UserName")?;
            caller.existing_user(state, meta, "GetUser", name)?
        }
        None => {
            let arn = caller.user.clone().ok_or_else(|| {
                ApiError::from(IamApiError::Validation(
                    "Must specify userName when calling with non-User credentials".to_owned(),
                ))
            })?;
            caller.allow(state, meta, "GetUser", &arn)?;
            state.config.iam.user(&arn).ok_or_else(|| {
                ApiError::from(IamApiError::NoSuchEntity(
                    "The user calling cannot be found.".to_owned(),
                ))
            })?
        }
    };
    let mut xml = UserXml::of(user, true);
    xml.password_last_used = password_last_used(state, &[user.user_id.as_str()])
        .await
        .pop()
        .flatten();
    Ok(UserResult { user: xml })
}

/// When each user of `ids` last signed in with its password, as IAM's dates: what
/// [`crate::signin`] noted by the user's id. While the store cannot be read the users are
/// still answered, their last use left out.
async fn password_last_used(state: &Broker, ids: &[&str]) -> Vec<Option<String>> {
    match state.key_use.newest_of(&state.store, ids).await {
        Ok(uses) => uses
            .into_iter()
            .map(|u| {
                u.and_then(|u| time::OffsetDateTime::from_unix_timestamp(u.at).ok())
                    .map(date)
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "users' password last uses could not be read; left out");
            vec![None; ids.len()]
        }
    }
}

/// `ListUsers` (`PathPrefix`, paged), the caller's account only.
pub async fn list_users(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<ListUsersResult, ApiError> {
    let caller = calling(state, meta).await?;
    let prefix = params.get("PathPrefix").unwrap_or("/");
    api::check_path_prefix(prefix)?;
    let paging = paging(params)?;
    caller.allow(state, meta, "ListUsers", "*")?;
    let found = state
        .config
        .iam
        .users()
        .filter(|u| u.account == caller.account && u.path.starts_with(prefix))
        .map(|u| (u.arn.clone(), UserXml::of(u, false)))
        .collect();
    let (mut found, marker) = page(found, &paging);
    let ids: Vec<&str> = found.iter().map(|u| u.user_id.as_str()).collect();
    let used = password_last_used(state, &ids).await;
    for (u, used) in found.iter_mut().zip(used) {
        u.password_last_used = used;
    }
    Ok(ListUsersResult {
        users: found.into(),
        is_truncated: marker.is_some(),
        marker,
    })
}

/// `UpdateUser`: renaming or moving a user is not supported yet; the call is checked and
/// authorized, then refused with `InvalidInput`, nothing stored.
pub async fn update_user(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = user_name(params, "UserName")?;
    if let Some(n) = params.get("NewUserName") {
        api::check_name("newUserName", n, 64)?;
    }
    if let Some(p) = params.get("NewPath") {
        api::check_path("newPath", p)?;
    }
    caller.existing_user(state, meta, "UpdateUser", name)?;
    Err(IamApiError::InvalidInput(
        "UpdateUser (NewUserName, NewPath) is not supported by this broker yet: create a new \
         user and delete this one."
            .to_owned(),
    )
    .into())
}

/// `DeleteUser`: refused while it has policies or groups, or an MFA device enabled.
pub async fn delete_user(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = user_name(params, "UserName")?;
    let expected = caller.user_target(state, meta, "DeleteUser", name, false, Vec::new())?;
    let change = UserChange::DeleteUser {
        name: name.to_owned(),
    };
    iam_api::change_user_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `PutUserPolicy`.
pub async fn put_user_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = user_name(params, "UserName")?;
    let policy = policy_name(params)?;
    let document = required(params, "PolicyDocument")?;
    let expected = caller.user_target(state, meta, "PutUserPolicy", name, true, Vec::new())?;
    api::check_policy("policyDocument", document, PolicyType::Identity)?;
    let change = UserChange::PutUserPolicy {
        user: name.to_owned(),
        policy: policy.to_owned(),
        document: document.to_owned(),
    };
    iam_api::change_user_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `GetUserPolicy`.
pub async fn get_user_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<GetUserPolicyResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = user_name(params, "UserName")?;
    let policy = policy_name(params)?;
    let user = caller.existing_user(state, meta, "GetUserPolicy", name)?;
    let document = inline_document(&user.about.inline_documents, policy, "user")?;
    Ok(GetUserPolicyResult {
        user_name: user.name.clone(),
        policy_name: policy.to_owned(),
        policy_document: url_encoded(document),
    })
}

/// `ListUserPolicies` (paged).
pub async fn list_user_policies(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<PolicyNamesResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = user_name(params, "UserName")?;
    paging(params)?;
    let user = caller.existing_user(state, meta, "ListUserPolicies", name)?;
    policy_names(&user.about.inline_documents, params)
}

/// `DeleteUserPolicy`.
pub async fn delete_user_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = user_name(params, "UserName")?;
    let policy = policy_name(params)?;
    let expected = caller.user_target(state, meta, "DeleteUserPolicy", name, true, Vec::new())?;
    let change = UserChange::DeleteUserPolicy {
        user: name.to_owned(),
        policy: policy.to_owned(),
    };
    iam_api::change_user_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `AttachUserPolicy`: with `iam:PolicyARN`; at most 10 per user.
pub async fn attach_user_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = user_name(params, "UserName")?;
    let arn = policy_arn_param(params, "PolicyArn")?;
    let expected = caller.user_target(
        state,
        meta,
        "AttachUserPolicy",
        name,
        true,
        vec![single("iam:PolicyARN", arn)],
    )?;
    let change = UserChange::AttachUserPolicy {
        user: name.to_owned(),
        policy_arn: arn.to_owned(),
    };
    iam_api::change_user_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `DetachUserPolicy`.
pub async fn detach_user_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = user_name(params, "UserName")?;
    let arn = policy_arn_param(params, "PolicyArn")?;
    let expected = caller.user_target(
        state,
        meta,
        "DetachUserPolicy",
        name,
        true,
        vec![single("iam:PolicyARN", arn)],
    )?;
    let change = UserChange::DetachUserPolicy {
        user: name.to_owned(),
        policy_arn: arn.to_owned(),
    };
    iam_api::change_user_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `ListAttachedUserPolicies` (`PathPrefix`, paged).
pub async fn list_attached_user_policies(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<AttachedPoliciesResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = user_name(params, "UserName")?;
    let prefix = params.get("PathPrefix").unwrap_or("/");
    api::check_path_prefix(prefix)?;
    paging(params)?;
    let user = caller.existing_user(state, meta, "ListAttachedUserPolicies", name)?;
    attached_policies(state, &user.about.attached_policies, params)
}

/// `PutUserPermissionsBoundary`: with `iam:PermissionsBoundary`.
pub async fn put_user_permissions_boundary(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = user_name(params, "UserName")?;
    let boundary = policy_arn_param(params, "PermissionsBoundary")?;
    let expected = caller.user_target(
        state,
        meta,
        "PutUserPermissionsBoundary",
        name,
        false,
        vec![single("iam:PermissionsBoundary", boundary)],
    )?;
    let change = UserChange::PutUserBoundary {
        user: name.to_owned(),
        policy_arn: boundary.to_owned(),
    };
    iam_api::change_user_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `DeleteUserPermissionsBoundary`: with the boundary removed as `iam:PermissionsBoundary`.
pub async fn delete_user_permissions_boundary(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = user_name(params, "UserName")?;
    let expected = caller.user_target(
        state,
        meta,
        "DeleteUserPermissionsBoundary",
        name,
        true,
        Vec::new(),
    )?;
    let change = UserChange::DeleteUserBoundary {
        user: name.to_owned(),
    };
    iam_api::change_user_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `TagUser`.
pub async fn tag_user(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = user_name(params, "UserName")?;
    let tags = tags(params)?;
    if tags.is_empty() {
        return Err(api::missing("tags").into());
    }
    let expected = caller.user_target(state, meta, "TagUser", name, false, request_tags(&tags))?;
    let change = UserChange::TagUser {
        user: name.to_owned(),
        tags,
    };
    iam_api::change_user_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `UntagUser`.
pub async fn untag_user(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = user_name(params, "UserName")?;
    let keys = untag_keys(params)?;
    let expected = caller.user_target(
        state,
        meta,
        "UntagUser",
        name,
        false,
        vec![tag_keys(keys.iter().copied())],
    )?;
    let change = UserChange::UntagUser {
        user: name.to_owned(),
        keys: keys.into_iter().map(str::to_owned).collect(),
    };
    iam_api::change_user_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `ListUserTags` (paged).
pub async fn list_user_tags(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<ListUserTagsResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = user_name(params, "UserName")?;
    let paging = paging(params)?;
    let user = caller.existing_user(state, meta, "ListUserTags", name)?;
    let found = user
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
    let (found, marker) = page(found, &paging);
    Ok(ListUserTagsResult {
        tags: found.into(),
        is_truncated: marker.is_some(),
        marker,
    })
}

/// `CreateGroup`.
pub async fn create_group(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<GroupResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = group_name(params)?;
    let path = params.get("Path").unwrap_or("/");
    api::check_path("path", path)?;
    let arn = group_arn_at(&caller.account, path, name);
    caller.allow_as(state, meta, "CreateGroup", &arn, &arn, Vec::new())?;
    let group_id = crate::iam::new_unique_id("AGPA").ok_or_else(ApiError::internal)?;
    let stored = StoredGroup::new(name, path, group_id, state.clock.now().unix_timestamp());
    iam_api::change_user(
        state,
        &caller.account,
        &UserChange::CreateGroup(stored.clone()),
    )
    .await?;
    Ok(GroupResult {
        group: GroupXml::stored(&caller.account, &stored),
    })
}

/// `GetGroup`: the group and its users (paged).
pub async fn get_group(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<GetGroupResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = group_name(params)?;
    let paging = paging(params)?;
    let group = caller.existing_group(state, meta, "GetGroup", name)?;
    let members = users::members(&state.config.iam, &caller.account, &group.name)
        .into_iter()
        .map(|u| (u.arn.clone(), UserXml::of(u, false)))
        .collect();
    let (members, marker) = page(members, &paging);
    Ok(GetGroupResult {
        group: GroupXml::of(group),
        users: members.into(),
        is_truncated: marker.is_some(),
        marker,
    })
}

/// `ListGroups` (`PathPrefix`, paged).
pub async fn list_groups(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<ListGroupsResult, ApiError> {
    let caller = calling(state, meta).await?;
    let prefix = params.get("PathPrefix").unwrap_or("/");
    api::check_path_prefix(prefix)?;
    let paging = paging(params)?;
    caller.allow(state, meta, "ListGroups", "*")?;
    let found = state
        .config
        .iam
        .groups
        .values()
        .filter(|g| g.account == caller.account && g.path.starts_with(prefix))
        .map(|g| (g.arn.clone(), GroupXml::of(g)))
        .collect();
    let (found, marker) = page(found, &paging);
    Ok(ListGroupsResult {
        groups: found.into(),
        is_truncated: marker.is_some(),
        marker,
    })
}

/// `DeleteGroup`: refused while it has members or policies.
pub async fn delete_group(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = group_name(params)?;
    let expected = caller.group_target(state, meta, "DeleteGroup", name, &[])?;
    let change = UserChange::DeleteGroup {
        name: name.to_owned(),
    };
    iam_api::change_user_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `AddUserToGroup` / `RemoveUserFromGroup`: authorized on the group, as IAM.
async fn membership(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
    add: bool,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let group = group_name(params)?;
    let user = user_name(params, "UserName")?;
    let action = if add {
        "AddUserToGroup"
    } else {
        "RemoveUserFromGroup"
    };
    let expected = caller.group_target(state, meta, action, group, &[])?;
    if caller.user(state, user).is_none() {
        return Err(no_such_user(user).into());
    }
    let (user, group) = (user.to_owned(), group.to_owned());
    let change = if add {
        UserChange::AddUserToGroup { user, group }
    } else {
        UserChange::RemoveUserFromGroup { user, group }
    };
    iam_api::change_user_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `AddUserToGroup`: at most 10 groups per user.
pub async fn add_user_to_group(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    membership(state, params, meta, true).await
}

/// `RemoveUserFromGroup`.
pub async fn remove_user_from_group(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    membership(state, params, meta, false).await
}

/// `ListGroupsForUser` (paged).
pub async fn list_groups_for_user(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<ListGroupsResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = user_name(params, "UserName")?;
    let paging = paging(params)?;
    let user = caller.existing_user(state, meta, "ListGroupsForUser", name)?;
    let found = user
        .groups
        .iter()
        .filter_map(|g| caller.group(state, g))
        .map(|g| (g.arn.clone(), GroupXml::of(g)))
        .collect();
    let (found, marker) = page(found, &paging);
    Ok(ListGroupsResult {
        groups: found.into(),
        is_truncated: marker.is_some(),
        marker,
    })
}

/// `PutGroupPolicy`.
pub async fn put_group_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = group_name(params)?;
    let policy = policy_name(params)?;
    let document = required(params, "PolicyDocument")?;
    let expected = caller.group_target(state, meta, "PutGroupPolicy", name, &[])?;
    api::check_policy("policyDocument", document, PolicyType::Identity)?;
    let change = UserChange::PutGroupPolicy {
        group: name.to_owned(),
        policy: policy.to_owned(),
        document: document.to_owned(),
    };
    iam_api::change_user_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `GetGroupPolicy`.
pub async fn get_group_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<GetGroupPolicyResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = group_name(params)?;
    let policy = policy_name(params)?;
    let group = caller.existing_group(state, meta, "GetGroupPolicy", name)?;
    let document = inline_document(&group.about.inline_documents, policy, "group")?;
    Ok(GetGroupPolicyResult {
        group_name: group.name.clone(),
        policy_name: policy.to_owned(),
        policy_document: url_encoded(document),
    })
}

/// `ListGroupPolicies` (paged).
pub async fn list_group_policies(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<PolicyNamesResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = group_name(params)?;
    paging(params)?;
    let group = caller.existing_group(state, meta, "ListGroupPolicies", name)?;
    policy_names(&group.about.inline_documents, params)
}

/// `DeleteGroupPolicy`.
pub async fn delete_group_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = group_name(params)?;
    let policy = policy_name(params)?;
    let expected = caller.group_target(state, meta, "DeleteGroupPolicy", name, &[])?;
    let change = UserChange::DeleteGroupPolicy {
        group: name.to_owned(),
        policy: policy.to_owned(),
    };
    iam_api::change_user_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `AttachGroupPolicy`: with `iam:PolicyARN`; at most 10 per group.
pub async fn attach_group_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = group_name(params)?;
    let arn = policy_arn_param(params, "PolicyArn")?;
    let expected = caller.group_target(
        state,
        meta,
        "AttachGroupPolicy",
        name,
        &[("iam:PolicyARN", arn)],
    )?;
    let change = UserChange::AttachGroupPolicy {
        group: name.to_owned(),
        policy_arn: arn.to_owned(),
    };
    iam_api::change_user_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `DetachGroupPolicy`.
pub async fn detach_group_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = group_name(params)?;
    let arn = policy_arn_param(params, "PolicyArn")?;
    let expected = caller.group_target(
        state,
        meta,
        "DetachGroupPolicy",
        name,
        &[("iam:PolicyARN", arn)],
    )?;
    let change = UserChange::DetachGroupPolicy {
        group: name.to_owned(),
        policy_arn: arn.to_owned(),
    };
    iam_api::change_user_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `ListAttachedGroupPolicies` (`PathPrefix`, paged).
pub async fn list_attached_group_policies(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<AttachedPoliciesResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = group_name(params)?;
    let prefix = params.get("PathPrefix").unwrap_or("/");
    api::check_path_prefix(prefix)?;
    paging(params)?;
    let group = caller.existing_group(state, meta, "ListAttachedGroupPolicies", name)?;
    attached_policies(state, &group.about.attached_policies, params)
}

fn alias_param(params: &Params) -> Result<&str, ApiError> {
    let alias = required(params, "AccountAlias")?;
    users::check_alias(alias)?;
    Ok(alias)
}

/// `CreateAccountAlias`: one per account, unique across the broker's accounts.
pub async fn create_account_alias(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let alias = alias_param(params)?;
    caller.allow(state, meta, "CreateAccountAlias", "*")?;
    let change = UserChange::CreateAlias {
        alias: alias.to_owned(),
    };
    iam_api::change_user(state, &caller.account, &change).await?;
    Ok(Nothing {})
}

/// `DeleteAccountAlias`.
pub async fn delete_account_alias(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let alias = alias_param(params)?;
    caller.allow(state, meta, "DeleteAccountAlias", "*")?;
    let change = UserChange::DeleteAlias {
        alias: alias.to_owned(),
    };
    iam_api::change_user(state, &caller.account, &change).await?;
    Ok(Nothing {})
}

/// `ListAccountAliases`: the caller's account's alias (the file's, else the API's).
pub async fn list_account_aliases(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<ListAccountAliasesResult, ApiError> {
    let caller = calling(state, meta).await?;
    paging(params)?;
    caller.allow(state, meta, "ListAccountAliases", "*")?;
    let aliases: Vec<String> = state
        .config
        .iam
        .accounts
        .get(&caller.account)
        .and_then(|a| a.served_alias())
        .map(str::to_owned)
        .into_iter()
        .collect();
    Ok(ListAccountAliasesResult {
        account_aliases: aliases.into(),
        is_truncated: false,
    })
}

/// `GetAccountSummary`: the caller's account's entities, file and API together, and IAM's
/// quotas as this broker enforces them.
pub async fn get_account_summary(
    state: &Broker,
    _params: &Params,
    meta: &RequestMeta,
) -> Result<GetAccountSummaryResult, ApiError> {
    let caller = calling(state, meta).await?;
    caller.allow(state, meta, "GetAccountSummary", "*")?;
    let iam = &state.config.iam;
    let mine = |account: &str| account == caller.account;
    let entry = |key: &'static str, value: usize| SummaryEntry { key, value };
    // Virtual MFA devices: the file's (all enabled) and the API's, enabled or not.
    let own_device = |serial: &str| {
        crate::iam::mfa::split_serial(serial).is_some_and(|(a, _)| a == caller.account)
    };
    let in_use = iam.mfa_devices().filter(|d| own_device(&d.serial)).count();
    let file_devices = iam
        .mfa_devices()
        .filter(|d| d.origin != crate::iam::Origin::Api && own_device(&d.serial))
        .count();
    let api_devices = state
        .iam_layer
        .accounts
        .get(&caller.account)
        .filter(|r| !r.document.is_unusable())
        .map_or(0, |r| r.document.mfa_devices.len());
    let entries = vec![
        entry("Users", iam.users().filter(|u| mine(&u.account)).count()),
        entry("UsersQuota", users::MAX_USERS_PER_ACCOUNT),
        entry(
            "Groups",
            iam.groups.values().filter(|g| mine(&g.account)).count(),
        ),
        entry("GroupsQuota", users::MAX_GROUPS_PER_ACCOUNT),
        entry("GroupsPerUserQuota", users::MAX_GROUPS_PER_USER),
        entry("Roles", iam.roles().filter(|r| mine(&r.account)).count()),
        entry("RolesQuota", api::MAX_ROLES_PER_ACCOUNT),
        entry(
            "Policies",
            iam.managed_policies
                .values()
                .filter(|p| mine(&p.account))
                .count(),
        ),
        entry("PoliciesQuota", api::MAX_POLICIES_PER_ACCOUNT),
        entry("PolicyVersionsInUseQuota", 10_000),
        entry("VersionsPerPolicyQuota", api::MAX_POLICY_VERSIONS),
        entry("PolicySizeQuota", api::MAX_MANAGED_POLICY),
        entry("AttachedPoliciesPerRoleQuota", api::MAX_ATTACHED_PER_ROLE),
        entry(
            "AttachedPoliciesPerUserQuota",
            users::MAX_ATTACHED_PER_PRINCIPAL,
        ),
        entry(
            "AttachedPoliciesPerGroupQuota",
            users::MAX_ATTACHED_PER_PRINCIPAL,
        ),
        entry("UserPolicySizeQuota", users::MAX_USER_INLINE_POLICIES),
        entry("GroupPolicySizeQuota", users::MAX_GROUP_INLINE_POLICIES),
        entry("RolePolicySizeQuota", api::MAX_ROLE_INLINE_POLICIES),
        entry(
            "AccessKeysPerUserQuota",
            crate::config::MAX_ACCESS_KEYS_PER_USER,
        ),
        entry("MFADevices", file_devices + api_devices),
        entry("MFADevicesInUse", in_use),
        entry("AccountMFAEnabled", 0),
    ];
    Ok(GetAccountSummaryResult {
        summary_map: SummaryMap { entry: entries },
    })
}
