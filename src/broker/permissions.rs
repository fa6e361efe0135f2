//! What an authenticated caller may do: its effective permissions (identity policies ∩
//! permissions boundary ∩ session policies), the principal the policy engine sees, and the
//! context keys the broker vouches for (`aws:PrincipalArn`, `aws:userid`, `aws:TokenIssueTime`,
//! principal tags, source identity, MFA state).
//!
//! One place for every action that decides something for a signed caller: `AssumeRole`'s
//! identity side across accounts, the admin actions' own authorization ([`crate::broker::admin`]) and
//! the authorize API for resource servers ([`crate::authz`]). It builds, it does not
//! authenticate ([`super::caller`]) and it does not render answers.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use super::error::ApiError;
use super::role_session;
use crate::iam::{Iam, User};
use crate::policy::{
    AwsKind, AwsPrincipal, Context, Evaluation, Explanation, NamedPolicy, PolicySet, PolicyType,
    Principal, Request, Resource, caller_safe_reason, decide,
};
use crate::session::{SessionPrincipal, SessionRecord};

use super::caller::Caller;

/// A caller's effective permissions and what it carries into sessions it creates.
#[derive(Debug, Clone)]
pub struct Permissions {
    pub principal: Principal,
    pub identity: Vec<NamedPolicy>,
    pub boundary: Vec<NamedPolicy>,
    pub session: Vec<NamedPolicy>,
    /// `aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:PrincipalType`, `aws:userid`,
    /// `aws:username`, `aws:TokenIssueTime` and the session's own context keys.
    pub context: Context,
    /// Tags of the caller (principal tags), session tags overriding the role's own.
    pub principal_tags: BTreeMap<String, String>,
    /// Transitive session tags, carried into a chained session.
    pub inherited_tags: BTreeMap<String, String>,
    pub inherited_transitive: Vec<String>,
    pub source_identity: Option<String>,
    /// When the caller last proved an MFA code (unix seconds).
    pub mfa_at: Option<i64>,
    /// The caller is a session: a role it assumes is capped like a chained one, and it always
    /// says whether MFA was used.
    pub chained: bool,
    /// The keys [`Self::add_principal_keys`] adds that do not change between requests, built
    /// from the fields above on first use (they are not changed once a request was made) and
    /// shared by every request's context.
    caller_keys: OnceLock<Arc<Context>>,
}

impl Permissions {
    /// The permissions of an authenticated caller (a user without a fresh MFA code).
    pub fn of(iam: &Iam, caller: &Caller) -> Result<Permissions, ApiError> {
        match caller {
            Caller::Session(record) => Permissions::for_session(iam, record),
            Caller::User(user) => Ok(Permissions::for_user(user, None)),
        }
    }

    /// An IAM user signing with a long-term key; `mfa_at` when it proved a code in this call.
    /// An account's root user ([`crate::iam::root`]) is one too: principal type `Account`, no
    /// `aws:username`, as in AWS.
    pub fn for_user(user: &User, mfa_at: Option<i64>) -> Permissions {
        let root = crate::iam::root::is_root_arn(&user.arn);
        let mut context = Context::new();
        context.insert("aws:PrincipalArn", user.arn.as_str());
        context.insert("aws:PrincipalAccount", user.account.as_str());
        context.insert("aws:PrincipalType", if root { "Account" } else { "User" });
        context.insert("aws:userid", user.user_id.as_str());
        if !root {
            context.insert("aws:username", user.name.as_str());
        }
        Permissions {
            principal: Principal::Aws(AwsPrincipal {
                arn: user.arn.clone(),
                account: user.account.clone(),
                kind: if root { AwsKind::Root } else { AwsKind::User },
                role_arn: None,
            }),
            identity: user.identity_policies.clone(),
            boundary: user.permissions_boundary.iter().cloned().collect(),
            session: Vec::new(),
            context,
            principal_tags: user.tags.clone(),
            inherited_tags: BTreeMap::new(),
            inherited_transitive: Vec::new(),
            source_identity: None,
            mfa_at,
            chained: false,
            caller_keys: OnceLock::new(),
        }
    }

    /// A session the broker minted: a role session, or an IAM user's (GetSessionToken).
    pub fn for_session(iam: &Iam, record: &SessionRecord) -> Result<Permissions, ApiError> {
        let (role_arn, role_id, session_name, assumed_role_arn) = match &record.principal {
            SessionPrincipal::Role {
                role_arn,
                role_id,
                session_name,
                assumed_role_arn,
            } => (role_arn, role_id, session_name, assumed_role_arn),
            SessionPrincipal::User { user_arn, .. } => {
                // GetSessionToken credentials act as the user, with the MFA state they were
                // issued with; a role assumed with them is capped like a chained one.
                let user = iam
                    .user(user_arn)
                    .ok_or_else(ApiError::invalid_client_token_id)?;
                let mut permissions = Permissions::for_user(user, record.mfa_authenticated_at);
                permissions
                    .context
                    .insert("aws:TokenIssueTime", issue_time(record));
                permissions.chained = true;
                return Ok(permissions);
            }
        };
        let Some(role) = iam.role(role_arn) else {
            // The session's role is no longer configured: its credentials mean nothing.
            return Err(ApiError::invalid_client_token_id());
        };
        let principal =
            Principal::assumed_role(assumed_role_arn, role_arn).ok_or_else(ApiError::internal)?;
        let mut context = Context::new();
        for (key, values) in &record.context {
            for v in values {
                context.push(key, v.as_str());
            }
        }
        context.insert("aws:PrincipalArn", role_arn.as_str());
        context.insert("aws:PrincipalAccount", record.account.as_str());
        context.insert("aws:PrincipalType", "AssumedRole");
        context.insert("aws:userid", format!("{role_id}:{session_name}"));
        context.insert("aws:TokenIssueTime", issue_time(record));
        // Session tags take precedence over the role's, keys compared without case.
        let mut principal_tags = role.tags.clone();
        principal_tags.retain(|k, _| !record.tags.keys().any(|t| t.eq_ignore_ascii_case(k)));
        principal_tags.extend(record.tags.clone());
        let inherited_tags: BTreeMap<String, String> = record
            .tags
            .iter()
            .filter(|(k, _)| {
                record
                    .transitive_tag_keys
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(k))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Permissions {
            principal,
            identity: role.identity_policies.clone(),
            boundary: role.permissions_boundary.iter().cloned().collect(),
            session: role_session::recorded_session_policies(iam, record)?,
            context,
            principal_tags,
            inherited_tags,
            inherited_transitive: record.transitive_tag_keys.clone(),
            source_identity: record.source_identity.clone(),
            mfa_at: record.mfa_authenticated_at,
            chained: true,
            caller_keys: OnceLock::new(),
        })
    }

    /// The caller's ARN (the assumed-role ARN for role sessions).
    pub fn arn(&self) -> &str {
        match &self.principal {
            Principal::Aws(p) => &p.arn,
            Principal::Federated { .. } | Principal::Service(_) | Principal::Anonymous => "",
        }
    }

    /// Adds the keys the broker vouches for about the caller to `context`: [`Self::context`],
    /// `aws:PrincipalTag/*`, `aws:SourceIdentity` (only what the caller's session carries),
    /// and `aws:MultiFactorAuthPresent`/`Age` (long-term keys without an MFA code leave them
    /// out, as in AWS, so `Null` conditions see them missing).
    pub fn add_principal_keys(&self, context: &mut Context, now: time::OffsetDateTime) {
        context.share(self.caller_keys());
        if let Some(at) = self.mfa_at {
            context.insert(
                "aws:MultiFactorAuthAge",
                (now.unix_timestamp() - at).max(0).to_string(),
            );
        }
    }

    /// The keys of [`Self::add_principal_keys`] but `aws:MultiFactorAuthAge`, built once.
    fn caller_keys(&self) -> &Arc<Context> {
        self.caller_keys.get_or_init(|| {
            let mut keys = Context::new();
            for (key, value) in self.context.iter() {
                keys.insert_value(key, value.clone());
            }
            for (k, v) in &self.principal_tags {
                keys.insert(&format!("aws:PrincipalTag/{k}"), v.as_str());
            }
            if let Some(si) = &self.source_identity {
                keys.insert("aws:SourceIdentity", si.as_str());
            }
            if self.mfa_at.is_some() || self.chained {
                keys.insert(
                    "aws:MultiFactorAuthPresent",
                    self.mfa_at.is_some().to_string(),
                );
            }
            Arc::new(keys)
        })
    }

    /// The policies that decide a request of this caller, with an optional resource-based
    /// policy (of type [`PolicyType::Resource`]) the resource's owner supplies.
    pub fn policy_set<'a>(&'a self, resource_policy: Option<&'a NamedPolicy>) -> PolicySet<'a> {
        PolicySet {
            identity: &self.identity,
            resource: resource_policy,
            resource_type: PolicyType::Resource,
            boundary: &self.boundary,
            session: &self.session,
            ..PolicySet::default()
        }
    }

    /// The request `action` on `resource` by this caller: `context` (request keys such as
    /// `aws:SourceIp`, service keys) with the caller's keys added over it.
    pub fn request(
        &self,
        action: &str,
        resource: Resource,
        mut context: Context,
        now: time::OffsetDateTime,
    ) -> Request {
        self.add_principal_keys(&mut context, now);
        Request::new(self.principal.clone(), action, resource, context)
    }

    /// Decides `request` with IAM's logic: explicit deny wins; within the caller's account the
    /// identity side or a resource policy naming the caller grants, across accounts both must;
    /// the boundary and session policies limit.
    pub fn decide(&self, request: &Request, resource_policy: Option<&NamedPolicy>) -> Evaluation {
        decide(request, &self.policy_set(resource_policy))
    }

    /// A reason for a denial that is safe to give the caller.
    pub fn reason(&self, evaluation: &Evaluation, resource_policy: Option<&NamedPolicy>) -> String {
        caller_safe_reason(evaluation, &self.policy_set(resource_policy))
    }

    /// The full explanation: statements, policy names, near misses (for operators only).
    pub fn explain(
        &self,
        evaluation: &Evaluation,
        request: &Request,
        resource_policy: Option<&NamedPolicy>,
    ) -> Explanation {
        Explanation::new(evaluation, &self.policy_set(resource_policy), request)
    }
}

/// `aws:TokenIssueTime`: when the calling session was issued, as an ISO 8601 date.
fn issue_time(record: &SessionRecord) -> String {
    time::OffsetDateTime::from_unix_timestamp(record.issued_at)
        .map(crate::encoding::timestamp)
        .unwrap_or_default()
}
