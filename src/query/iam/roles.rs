//! IAM's role actions (docs/operations.md, "Managing roles through IAM's API"):
//! `CreateRole`, `GetRole`, `ListRoles`, `UpdateRole`, `UpdateRoleDescription`,
//! `UpdateAssumeRolePolicy`, `DeleteRole`, the inline policy and tag actions, and
//! `ListInstanceProfilesForRole` (always empty). Every call is signed for `iam` and needs `iam:<Action>` on the role's ARN in the
//! caller's own account (`*` for `ListRoles`), decided by the caller's policies; a caller
//! names roles of its own account only. Reads see file and API roles alike; changes go through
//! [`crate::broker::iam_api::change_expecting`], which applies them only to the role they were
//! authorized on. Inputs are checked in this order: signature, parameter shapes,
//! authorization, policy documents, then the change.

use std::sync::Arc;

use serde::Serialize;

use super::Members;
use crate::broker::caller::{Caller, authenticate_for};
use crate::broker::iam_api;
use crate::broker::permissions::Permissions;
use crate::broker::{ApiError, Broker, RequestMeta, admin};
use crate::iam::api::{self, IamApiError, RoleChange, StoredRole, Tag};
use crate::iam::{Role, role_arn};
use crate::policy::{ContextValue, PolicyType};
use crate::query::Params;

/// `MaxItems`' range and default.
const MAX_ITEMS: usize = 1000;
const DEFAULT_ITEMS: usize = 100;

/// The caller, its permissions and its account.
pub(super) struct Calling {
    permissions: Arc<Permissions>,
    pub(super) account: String,
    /// The ARN of the IAM user calling (by its key or a session of its own), none for a role
    /// session: what `GetUser` without a name answers.
    pub(super) user: Option<String>,
}

pub(super) async fn calling(state: &Broker, meta: &RequestMeta) -> Result<Calling, ApiError> {
    let authenticated = authenticate_for(state, meta, "iam").await?;
    // As in AWS, a user's GetSessionToken session calls IAM only when it was made with MFA:
    // a leaked session must not mint itself long-term keys or enrol an MFA device. A session
    // signed in with a password alone is held to the same rule.
    if let Caller::Session(record) = authenticated.caller()
        && record.mfa_authenticated_at.is_none()
    {
        let made_by = match record.origin {
            crate::session::Origin::GetSessionToken => Some("GetSessionToken"),
            crate::session::Origin::SignIn => Some("a password sign-in"),
            crate::session::Origin::AssumeRole
            | crate::session::Origin::AssumeRoleWithWebIdentity
            | crate::session::Origin::AssumeRoleWithSAML => None,
        };
        if let Some(made_by) = made_by {
            return Err(ApiError::access_denied(format!(
                "Cannot call IAM with credentials from {made_by} made without MFA \
                 authentication."
            )));
        }
    }
    let permissions = authenticated.permissions(&state.config.iam)?;
    let (account, user) = match authenticated.caller() {
        Caller::Session(record) => (
            record.account.clone(),
            match &record.principal {
                crate::session::SessionPrincipal::User { user_arn, .. } => Some(user_arn.clone()),
                crate::session::SessionPrincipal::Role { .. } => None,
            },
        ),
        Caller::User(user) => (user.account.clone(), Some(user.arn.clone())),
    };
    Ok(Calling {
        permissions,
        account,
        user,
    })
}

impl Calling {
    /// `UserName` (1–64 of `[\w+=,.@-]`), or the calling user when it is absent (a role
    /// session must name one, as for `GetUser`).
    pub(super) fn named_or_self(
        &self,
        state: &Broker,
        params: &Params,
    ) -> Result<String, ApiError> {
        if params.get("UserName").is_some() {
            return super::users::user_name(params, "UserName").map(str::to_owned);
        }
        self.user
            .as_deref()
            .and_then(|arn| state.config.iam.user(arn))
            .map(|u| u.name.clone())
            .ok_or_else(|| {
                IamApiError::Validation(
                    "Must specify userName when calling with non-User credentials".to_owned(),
                )
                .into()
            })
    }

    /// The caller's ARN (what a denial names).
    pub(super) fn arn(&self) -> &str {
        self.permissions.arn()
    }

    /// `iam:<action>` on `resource`, or `AccessDenied`.
    pub(super) fn allow(
        &self,
        state: &Broker,
        meta: &RequestMeta,
        action: &str,
        resource: &str,
    ) -> Result<(), ApiError> {
        self.allow_as(state, meta, action, resource, resource, Vec::new())
    }

    /// `iam:<action>` on role `name` ([`Calling::role_resource`]) with the action's condition
    /// keys `extra`; a denial names the role as the request did, at path `/`, so that a caller
    /// refused learns neither whether it exists nor its path.
    fn allow_role(
        &self,
        state: &Broker,
        meta: &RequestMeta,
        action: &str,
        name: &str,
        extra: Vec<(String, ContextValue)>,
    ) -> Result<(), ApiError> {
        let resource = self.role_resource(state, name);
        let shown = role_arn(&self.account, "/", name);
        self.allow_as(state, meta, action, &resource, &shown, extra)
    }

    /// `iam:<action>` on `resource` (named `shown` in a denial) with `extra` and, when it is a
    /// role or a user, its tags as `aws:ResourceTag/KEY` and `iam:ResourceTag/KEY`.
    pub(super) fn allow_as(
        &self,
        state: &Broker,
        meta: &RequestMeta,
        action: &str,
        resource: &str,
        shown: &str,
        mut extra: Vec<(String, ContextValue)>,
    ) -> Result<(), ApiError> {
        let iam = &state.config.iam;
        let tags = iam
            .role(resource)
            .map(|r| &r.tags)
            .or_else(|| iam.user(resource).map(|u| &u.tags));
        if let Some(tags) = tags {
            for (key, value) in tags {
                for prefix in ["aws", "iam"] {
                    extra.push((
                        format!("{prefix}:ResourceTag/{key}"),
                        ContextValue::Single(value.clone()),
                    ));
                }
            }
        }
        admin::allowed_with(
            state,
            meta,
            &self.permissions,
            &format!("iam:{action}"),
            resource,
            shown,
            extra,
        )
    }

    /// Authorizes creating `arn` (`action`): the request's `tags` as condition keys, the
    /// `boundary` given as `iam:PermissionsBoundary`, and as IAM, with tags the right to tag it
    /// too (`tag_action`).
    pub(super) fn allow_create(
        &self,
        state: &Broker,
        meta: &RequestMeta,
        (action, tag_action): (&str, &str),
        arn: &str,
        tags: &[Tag],
        boundary: Option<&str>,
    ) -> Result<(), ApiError> {
        let request = if tags.is_empty() {
            Vec::new()
        } else {
            request_tags(tags)
        };
        let mut keys = request.clone();
        if let Some(b) = boundary {
            keys.push(single("iam:PermissionsBoundary", b));
        }
        self.allow_as(state, meta, action, arn, arn, keys)?;
        if tags.is_empty() {
            return Ok(());
        }
        self.allow_as(state, meta, tag_action, arn, arn, request)
    }

    /// The caller's role named `name` (any case), if any.
    fn role<'a>(&self, state: &'a Broker, name: &str) -> Option<&'a Arc<Role>> {
        state.config.iam.role_named(&self.account, name)
    }

    /// The ARN a call on role `name` is authorized on: the role's, or for a role that does not
    /// exist, the one it would have at path `/`.
    fn role_resource(&self, state: &Broker, name: &str) -> String {
        self.role(state, name)
            .map_or_else(|| role_arn(&self.account, "/", name), |r| r.arn.clone())
    }

    /// Authorizes `action` on role `name`, then finds it (`NoSuchEntity` when absent).
    fn existing<'a>(
        &self,
        state: &'a Broker,
        meta: &RequestMeta,
        action: &str,
        name: &str,
    ) -> Result<&'a Arc<Role>, ApiError> {
        self.allow_role(state, meta, action, name, Vec::new())?;
        self.role(state, name)
            .ok_or_else(|| api::no_such_role(name).into())
    }

    /// Authorizes `action` changing role `name` with the condition keys `extra`, and with the
    /// role's current boundary as `iam:PermissionsBoundary` when `boundary` is set (as IAM
    /// sets it); then finds the role in this replica's snapshot (`NoSuchEntity` when absent:
    /// one just created elsewhere is changed once this replica serves it). Returns what the
    /// change must still find stored: the role the decision was made on.
    fn target(
        &self,
        state: &Broker,
        meta: &RequestMeta,
        action: &str,
        name: &str,
        boundary: bool,
        mut extra: Vec<(String, ContextValue)>,
    ) -> Result<api::Expected, ApiError> {
        let role = self.role(state, name);
        let current = role.and_then(|r| r.about.permissions_boundary.as_deref());
        if boundary && let Some(b) = current {
            extra.push(single("iam:PermissionsBoundary", b));
        }
        self.allow_role(state, meta, action, name, extra)?;
        let role = role.ok_or_else(|| api::no_such_role(name))?;
        Ok(api::Expected {
            id: role.role_id.clone(),
            boundary: boundary.then(|| role.about.permissions_boundary.clone()),
        })
    }
}

pub(super) fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, ApiError> {
    params
        .get(name)
        .ok_or_else(|| api::missing(&crate::query::params::lower_first(name)).into())
}

fn role_name(params: &Params) -> Result<&str, ApiError> {
    let name = required(params, "RoleName")?;
    api::check_name("roleName", name, 64)?;
    Ok(name)
}

pub(super) fn policy_name(params: &Params) -> Result<&str, ApiError> {
    let name = required(params, "PolicyName")?;
    api::check_name("policyName", name, 128)?;
    Ok(name)
}

/// A policy document as IAM returns it: percent-encoded (every byte but `A-Za-z0-9-_.~`), so
/// that tools that unescape it (Terraform runs `url.QueryUnescape`) get it back exactly.
pub fn url_encoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `Tag` as IAM writes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagXml {
    pub key: String,
    pub value: String,
}

/// `Role` as IAM writes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleXml {
    pub path: String,
    pub role_name: String,
    pub role_id: String,
    pub arn: String,
    pub create_date: String,
    pub assume_role_policy_document: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub max_session_duration: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<BoundaryXml>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Members<TagXml>>,
    /// When a session of it was last issued, and in which region (`GetRole` only; empty when
    /// never, as IAM answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_last_used: Option<RoleLastUsedXml>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleLastUsedXml {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl RoleLastUsedXml {
    fn of(used: Option<crate::store::LastUse>) -> RoleLastUsedXml {
        used.map_or_else(RoleLastUsedXml::default, |u| RoleLastUsedXml {
            last_used_date: Some(date(
                time::OffsetDateTime::from_unix_timestamp(u.at)
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
            )),
            region: Some(u.region),
        })
    }
}

/// `PermissionsBoundary` as IAM writes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BoundaryXml {
    pub permissions_boundary_type: &'static str,
    pub permissions_boundary_arn: String,
}

impl BoundaryXml {
    pub(super) fn of(arn: Option<&String>) -> Option<BoundaryXml> {
        arn.map(|a| BoundaryXml {
            permissions_boundary_type: "PermissionsBoundaryPolicy",
            permissions_boundary_arn: a.clone(),
        })
    }
}

pub(super) fn date(t: time::OffsetDateTime) -> String {
    crate::encoding::timestamp(t.replace_nanosecond(0).unwrap_or(t))
}

impl RoleXml {
    /// The role as `GetRole` shows it (`ListRoles` leaves tags and last use out).
    fn of(role: &Role, full: bool) -> RoleXml {
        let tags: Vec<TagXml> = role
            .tags
            .iter()
            .map(|(k, v)| TagXml {
                key: k.clone(),
                value: v.clone(),
            })
            .collect();
        RoleXml {
            path: role.path.clone(),
            role_name: role.name.clone(),
            role_id: role.role_id.clone(),
            arn: role.arn.clone(),
            create_date: date(role.about.created),
            assume_role_policy_document: url_encoded(&role.about.trust_document),
            description: role.about.description.clone(),
            max_session_duration: role.max_session_duration,
            permissions_boundary: BoundaryXml::of(role.about.permissions_boundary.as_ref()),
            tags: (full && !tags.is_empty()).then(|| tags.into()),
            role_last_used: full.then(RoleLastUsedXml::default),
        }
    }

    /// A role as stored, as `CreateRole` and `UpdateRoleDescription` answer it.
    fn stored(account: &str, role: &StoredRole) -> RoleXml {
        let tags: Vec<TagXml> = role
            .tags
            .iter()
            .map(|t| TagXml {
                key: t.key.clone(),
                value: t.value.clone(),
            })
            .collect();
        RoleXml {
            path: role.path.clone(),
            role_name: role.name.clone(),
            role_id: role.role_id.clone(),
            arn: role_arn(account, &role.path, &role.name),
            create_date: date(
                time::OffsetDateTime::from_unix_timestamp(role.created)
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
            ),
            assume_role_policy_document: url_encoded(&role.trust_policy),
            description: role.description.clone(),
            max_session_duration: role.max_session_duration,
            permissions_boundary: BoundaryXml::of(role.permissions_boundary.as_ref()),
            tags: (!tags.is_empty()).then(|| tags.into()),
            role_last_used: Some(RoleLastUsedXml::default()),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleResult {
    pub role: RoleXml,
}

/// The result of actions that answer nothing but the request id.
#[derive(Debug, Serialize)]
pub struct Nothing {}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRolesResult {
    pub roles: Members<RoleXml>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRolePolicyResult {
    pub role_name: String,
    pub policy_name: String,
    pub policy_document: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRolePoliciesResult {
    pub policy_names: Members<String>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRoleTagsResult {
    pub tags: Members<TagXml>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListInstanceProfilesForRoleResult {
    pub instance_profiles: Members<()>,
    pub is_truncated: bool,
}

/// `Marker` and `MaxItems` as read.
pub(super) struct Paging {
    after: Option<String>,
    max: usize,
}

pub(super) fn paging(params: &Params) -> Result<Paging, ApiError> {
    let max = match params.get("MaxItems") {
        None => DEFAULT_ITEMS,
        Some(m) => match m.parse::<i64>() {
            Ok(n) if n < 1 => {
                return Err(api::constraint(
                    "maxItems",
                    m,
                    "have value greater than or equal to 1",
                )
                .into());
            }
            Ok(n) => usize::try_from(n)
                .ok()
                .filter(|n| *n <= MAX_ITEMS)
                .ok_or_else(|| {
                    api::constraint(
                        "maxItems",
                        m,
                        &format!("have value less than or equal to {MAX_ITEMS}"),
                    )
                })?,
            Err(_) => {
                return Err(
                    IamApiError::InvalidInput("MaxItems is not an integer".to_owned()).into(),
                );
            }
        },
    };
    // Markers are the hex of the sort key of the next item, as this endpoint hands them out.
    let after = match params.get("Marker") {
        None => None,
        Some(m) => Some(
            data_encoding::HEXLOWER
                .decode(m.as_bytes())
                .ok()
                .filter(|b| !b.is_empty())
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    ApiError::from(IamApiError::InvalidInput(
                        "Invalid Marker: it is not one this endpoint returned.".to_owned(),
                    ))
                })?,
        ),
    };
    Ok(Paging { after, max })
}

/// One page of `items` (sorted here by key) from the marker on; the next page's marker.
pub(super) fn page<T>(mut items: Vec<(String, T)>, paging: &Paging) -> (Vec<T>, Option<String>) {
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let start = paging
        .after
        .as_ref()
        .map_or(0, |m| items.partition_point(|(k, _)| k < m));
    let mut rest = items.into_iter().skip(start);
    let out: Vec<T> = rest.by_ref().take(paging.max).map(|(_, v)| v).collect();
    let next = rest
        .next()
        .map(|(k, _)| data_encoding::HEXLOWER.encode(k.as_bytes()));
    (out, next)
}

/// A single-valued condition key for an action's context.
pub(super) fn single(key: &str, value: &str) -> (String, ContextValue) {
    (key.to_owned(), ContextValue::Single(value.to_owned()))
}

/// `TagKeys.member.N` of an `Untag*` call: at least one, at most [`api::MAX_TAGS`], each a
/// valid key.
pub(super) fn untag_keys(params: &Params) -> Result<Vec<&str>, ApiError> {
    let keys = params.list("TagKeys", None, api::MAX_TAGS)?;
    if keys.is_empty() {
        return Err(api::missing("tagKeys").into());
    }
    for k in &keys {
        api::check_tag_key(k)?;
    }
    Ok(keys)
}

pub(super) fn tags(params: &Params) -> Result<Vec<Tag>, ApiError> {
    let keys = params.list("Tags", Some("Key"), api::MAX_TAGS)?;
    let mut out = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        let value = params
            .get(&format!("Tags.member.{}.Value", i + 1))
            .ok_or_else(|| ApiError::from(api::missing("tags.member.value")))?;
        out.push(Tag {
            key: (*key).to_owned(),
            value: value.to_owned(),
        });
    }
    api::check_tags(&out)?;
    Ok(out)
}

/// The condition keys of a request that sets `tags`: `aws:RequestTag/KEY` for each, and
/// `aws:TagKeys`.
pub(super) fn request_tags(tags: &[Tag]) -> Vec<(String, ContextValue)> {
    let mut out: Vec<(String, ContextValue)> = tags
        .iter()
        .map(|t| {
            (
                format!("aws:RequestTag/{}", t.key),
                ContextValue::Single(t.value.clone()),
            )
        })
        .collect();
    out.push(tag_keys(tags.iter().map(|t| t.key.as_str())));
    out
}

/// `aws:TagKeys`: the tag keys a request names.
pub(super) fn tag_keys<'a>(keys: impl Iterator<Item = &'a str>) -> (String, ContextValue) {
    (
        "aws:TagKeys".to_owned(),
        ContextValue::Multi(keys.map(str::to_owned).collect()),
    )
}

/// `CreateRole`.
pub async fn create_role(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<RoleResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = role_name(params)?;
    let path = params.get("Path").unwrap_or("/");
    api::check_path("path", path)?;
    let trust = required(params, "AssumeRolePolicyDocument")?;
    let description = params.get("Description");
    if let Some(d) = description {
        api::check_description(d)?;
    }
    let max_session_duration = match params.get("MaxSessionDuration") {
        Some(m) => api::check_max_session_duration(m)?,
        None => *api::SESSION_DURATION.start(),
    };
    let boundary = params.get("PermissionsBoundary");
    if let Some(b) = boundary {
        api::check_policy_arn("permissionsBoundary", b)?;
    }
    let tags = tags(params)?;
    let arn = role_arn(&caller.account, path, name);
    caller.allow_create(
        state,
        meta,
        ("CreateRole", "TagRole"),
        &arn,
        &tags,
        boundary,
    )?;
    api::check_policy("assumeRolePolicyDocument", trust, PolicyType::Trust)?;
    let role_id = crate::iam::new_unique_id("AROA").ok_or_else(ApiError::internal)?;
    let stored = StoredRole {
        name: name.to_owned(),
        path: path.to_owned(),
        role_id,
        description: description.filter(|d| !d.is_empty()).map(str::to_owned),
        max_session_duration,
        trust_policy: trust.to_owned(),
        inline_policies: Default::default(),
        tags,
        created: state.clock.now().unix_timestamp(),
        attached_policies: Vec::new(),
        permissions_boundary: boundary.map(str::to_owned),
    };
    let created = iam_api::change(state, &caller.account, &RoleChange::Create(stored))
        .await?
        .ok_or_else(ApiError::internal)?;
    Ok(RoleResult {
        role: RoleXml::stored(&caller.account, &created),
    })
}

/// `GetRole`.
pub async fn get_role(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<RoleResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = role_name(params)?;
    let role = caller.existing(state, meta, "GetRole", name)?;
    let mut xml = RoleXml::of(role, true);
    // Its last use is the store's: while the store cannot be read, GetRole still answers (the
    // role as served), with the last use left empty.
    let used = state
        .key_use
        .newest(&state.store, &role.role_id)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "a role's last use could not be read; shown empty");
            None
        });
    xml.role_last_used = Some(RoleLastUsedXml::of(used));
    Ok(RoleResult { role: xml })
}

/// `ListRoles` (`PathPrefix`, paged), the caller's account only.
pub async fn list_roles(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<ListRolesResult, ApiError> {
    let caller = calling(state, meta).await?;
    let prefix = params.get("PathPrefix").unwrap_or("/");
    api::check_path_prefix(prefix)?;
    let paging = paging(params)?;
    caller.allow(state, meta, "ListRoles", "*")?;
    let roles: Vec<(String, &Arc<Role>)> = state
        .config
        .iam
        .roles()
        .filter(|r| r.account == caller.account && r.path.starts_with(prefix))
        .map(|r| (r.arn.clone(), r))
        .collect();
    let (roles, marker) = page(roles, &paging);
    Ok(ListRolesResult {
        roles: roles
            .into_iter()
            .map(|r| RoleXml::of(r, false))
            .collect::<Vec<_>>()
            .into(),
        is_truncated: marker.is_some(),
        marker,
    })
}

/// `UpdateRole`: `Description` and `MaxSessionDuration`, each only when given.
pub async fn update_role(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = role_name(params)?;
    let description = params.get("Description");
    if let Some(d) = description {
        api::check_description(d)?;
    }
    let max_session_duration = params
        .get("MaxSessionDuration")
        .map(api::check_max_session_duration)
        .transpose()?;
    let expected = caller.target(state, meta, "UpdateRole", name, false, Vec::new())?;
    let change = RoleChange::Update {
        name: name.to_owned(),
        description: description.map(str::to_owned),
        max_session_duration,
    };
    iam_api::change_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `UpdateRoleDescription`.
pub async fn update_role_description(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<RoleResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = role_name(params)?;
    let description = required(params, "Description")?;
    api::check_description(description)?;
    let expected = caller.target(
        state,
        meta,
        "UpdateRoleDescription",
        name,
        false,
        Vec::new(),
    )?;
    let change = RoleChange::Update {
        name: name.to_owned(),
        description: Some(description.to_owned()),
        max_session_duration: None,
    };
    let role = iam_api::change_expecting(state, &caller.account, &change, &expected)
        .await?
        .ok_or_else(ApiError::internal)?;
    Ok(RoleResult {
        role: RoleXml::stored(&caller.account, &role),
    })
}

/// `UpdateAssumeRolePolicy`.
pub async fn update_assume_role_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = role_name(params)?;
    let document = required(params, "PolicyDocument")?;
    let expected = caller.target(
        state,
        meta,
        "UpdateAssumeRolePolicy",
        name,
        false,
        Vec::new(),
    )?;
    api::check_policy("policyDocument", document, PolicyType::Trust)?;
    let change = RoleChange::UpdateTrust {
        name: name.to_owned(),
        document: document.to_owned(),
    };
    iam_api::change_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `DeleteRole`: refused while inline or attached policies remain; its sessions end.
pub async fn delete_role(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = role_name(params)?;
    let expected = caller.target(state, meta, "DeleteRole", name, false, Vec::new())?;
    let change = RoleChange::Delete {
        name: name.to_owned(),
    };
    let role_id = state
        .config
        .iam
        .role_named(&caller.account, name)
        .map(|r| r.role_id.clone());
    iam_api::change_expecting(state, &caller.account, &change, &expected).await?;
    if let Some(id) = role_id
        && let Err(e) = state.store.forget_key_use(&id).await
    {
        tracing::warn!(role_id = %id, error = %e, "a deleted role's last use stays in the store");
    }
    Ok(Nothing {})
}

/// `PutRolePolicy`: adds or replaces an inline policy.
pub async fn put_role_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = role_name(params)?;
    let policy = policy_name(params)?;
    let document = required(params, "PolicyDocument")?;
    let expected = caller.target(state, meta, "PutRolePolicy", name, true, Vec::new())?;
    api::check_policy("policyDocument", document, PolicyType::Identity)?;
    let change = RoleChange::PutPolicy {
        role: name.to_owned(),
        policy: policy.to_owned(),
        document: document.to_owned(),
    };
    iam_api::change_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `GetRolePolicy`.
pub async fn get_role_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<GetRolePolicyResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = role_name(params)?;
    let policy = policy_name(params)?;
    let role = caller.existing(state, meta, "GetRolePolicy", name)?;
    let (_, document) = role
        .about
        .inline_documents
        .iter()
        .find(|(n, _)| n == policy)
        .ok_or_else(|| {
            ApiError::from(IamApiError::NoSuchEntity(format!(
                "The role policy with name {} cannot be found.",
                crate::encoding::shorten(policy)
            )))
        })?;
    Ok(GetRolePolicyResult {
        role_name: role.name.clone(),
        policy_name: policy.to_owned(),
        policy_document: url_encoded(document),
    })
}

/// `ListRolePolicies` (paged).
pub async fn list_role_policies(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<ListRolePoliciesResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = role_name(params)?;
    let paging = paging(params)?;
    let role = caller.existing(state, meta, "ListRolePolicies", name)?;
    let names = role
        .about
        .inline_documents
        .iter()
        .map(|(n, _)| (n.clone(), n.clone()))
        .collect();
    let (names, marker) = page(names, &paging);
    Ok(ListRolePoliciesResult {
        policy_names: names.into(),
        is_truncated: marker.is_some(),
        marker,
    })
}

/// `DeleteRolePolicy`.
pub async fn delete_role_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = role_name(params)?;
    let policy = policy_name(params)?;
    let expected = caller.target(state, meta, "DeleteRolePolicy", name, true, Vec::new())?;
    let change = RoleChange::DeletePolicy {
        role: name.to_owned(),
        policy: policy.to_owned(),
    };
    iam_api::change_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `TagRole`.
pub async fn tag_role(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = role_name(params)?;
    let tags = tags(params)?;
    if tags.is_empty() {
        return Err(api::missing("tags").into());
    }
    let expected = caller.target(state, meta, "TagRole", name, false, request_tags(&tags))?;
    let change = RoleChange::Tag {
        role: name.to_owned(),
        tags,
    };
    iam_api::change_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `UntagRole`.
pub async fn untag_role(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = role_name(params)?;
    let keys = untag_keys(params)?;
    let expected = caller.target(
        state,
        meta,
        "UntagRole",
        name,
        false,
        vec![tag_keys(keys.iter().copied())],
    )?;
    let change = RoleChange::Untag {
        role: name.to_owned(),
        keys: keys.into_iter().map(str::to_owned).collect(),
    };
    iam_api::change_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `ListRoleTags` (paged).
pub async fn list_role_tags(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<ListRoleTagsResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = role_name(params)?;
    let paging = paging(params)?;
    let role = caller.existing(state, meta, "ListRoleTags", name)?;
    let tags = role
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
    Ok(ListRoleTagsResult {
        tags: tags.into(),
        is_truncated: marker.is_some(),
        marker,
    })
}

/// `ListInstanceProfilesForRole`: the broker has no instance profiles.
pub async fn list_instance_profiles_for_role(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<ListInstanceProfilesForRoleResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = role_name(params)?;
    paging(params)?;
    caller.existing(state, meta, "ListInstanceProfilesForRole", name)?;
    Ok(ListInstanceProfilesForRoleResult {
        instance_profiles: Vec::new().into(),
        is_truncated: false,
    })
}

/// `AttachedPolicy` as IAM writes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttachedPolicyXml {
    pub policy_name: String,
    pub policy_arn: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAttachedRolePoliciesResult {
    pub attached_policies: Members<AttachedPolicyXml>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// The `PolicyArn` parameter: a policy ARN's shape (the policy may not exist).
pub(super) fn policy_arn_param<'a>(params: &'a Params, param: &str) -> Result<&'a str, ApiError> {
    let arn = required(params, param)?;
    api::check_policy_arn(&crate::query::params::lower_first(param), arn)?;
    Ok(arn)
}

/// `AttachRolePolicy`: authorized on the role, with `iam:PolicyARN`; at most 10 per role.
pub async fn attach_role_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = role_name(params)?;
    let policy_arn = policy_arn_param(params, "PolicyArn")?;
    let expected = caller.target(
        state,
        meta,
        "AttachRolePolicy",
        name,
        true,
        vec![single("iam:PolicyARN", policy_arn)],
    )?;
    let change = RoleChange::Attach {
        role: name.to_owned(),
        policy_arn: policy_arn.to_owned(),
    };
    iam_api::change_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `DetachRolePolicy`.
pub async fn detach_role_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = role_name(params)?;
    let policy_arn = policy_arn_param(params, "PolicyArn")?;
    let expected = caller.target(
        state,
        meta,
        "DetachRolePolicy",
        name,
        true,
        vec![single("iam:PolicyARN", policy_arn)],
    )?;
    let change = RoleChange::Detach {
        role: name.to_owned(),
        policy_arn: policy_arn.to_owned(),
    };
    iam_api::change_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `ListAttachedRolePolicies` (`PathPrefix` on the policies' paths, paged).
pub async fn list_attached_role_policies(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<ListAttachedRolePoliciesResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = role_name(params)?;
    let prefix = params.get("PathPrefix").unwrap_or("/");
    api::check_path_prefix(prefix)?;
    let paging = paging(params)?;
    let role = caller.existing(state, meta, "ListAttachedRolePolicies", name)?;
    let attached = role
        .about
        .attached_policies
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
    Ok(ListAttachedRolePoliciesResult {
        attached_policies: attached.into(),
        is_truncated: marker.is_some(),
        marker,
    })
}

/// `PutRolePermissionsBoundary`: authorized with `iam:PermissionsBoundary`.
pub async fn put_role_permissions_boundary(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = role_name(params)?;
    let boundary = policy_arn_param(params, "PermissionsBoundary")?;
    let expected = caller.target(
        state,
        meta,
        "PutRolePermissionsBoundary",
        name,
        false,
        vec![single("iam:PermissionsBoundary", boundary)],
    )?;
    let change = RoleChange::PutBoundary {
        role: name.to_owned(),
        policy_arn: boundary.to_owned(),
    };
    iam_api::change_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

/// `DeleteRolePermissionsBoundary`: authorized with the boundary removed as
/// `iam:PermissionsBoundary`.
pub async fn delete_role_permissions_boundary(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = role_name(params)?;
    let expected = caller.target(
        state,
        meta,
        "DeleteRolePermissionsBoundary",
        name,
        true,
        Vec::new(),
    )?;
    let change = RoleChange::DeleteBoundary {
        role: name.to_owned(),
    };
    iam_api::change_expecting(state, &caller.account, &change, &expected).await?;
    Ok(Nothing {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_encoded_so_query_unescape_gives_them_back() {
        let text = r#"{"a": "b+c/d é"}"#;
        let encoded = url_encoded(text);
        assert!(
            !encoded.contains('+') && !encoded.contains(' '),
            "{encoded}"
        );
        let decoded: String = form_urlencoded::parse(format!("x={encoded}").as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned();
        assert_eq!(decoded, text);
    }

    #[test]
    fn pages_walk_every_item_once() {
        let items: Vec<(String, usize)> = (0..7).map(|i| (format!("k{i}"), i)).collect();
        let mut paging = Paging {
            after: None,
            max: 3,
        };
        let mut seen = Vec::new();
        loop {
            let (got, next) = page(items.clone(), &paging);
            seen.extend(got);
            let Some(next) = next else { break };
            paging.after = Some(
                String::from_utf8(data_encoding::HEXLOWER.decode(next.as_bytes()).unwrap())
                    .unwrap(),
            );
        }
        assert_eq!(seen, (0..7).collect::<Vec<_>>());
    }
}
