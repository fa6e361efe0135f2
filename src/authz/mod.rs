//! The authorize API for resource servers: a service forwards a request its client signed with
//! SigV4, with the action and resource it maps to; [`authorize`] verifies the signature and
//! decides with the signer's effective permissions. Two front doors share it: [`api`]
//! (`POST /authorize`) and [`ext_authz`] (proxies, routed by [`crate::routes`]). Both take a
//! path only if it passes the path rule ([`crate::routes::path::check`]), scope the signature
//! to the expected service with its canonicalization, and take presigned URLs only if allowed.

pub mod api;
pub mod audit;
pub mod ext_authz;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::broker::ApiError;
use crate::broker::Broker;
use crate::broker::auth_cache::Authenticated;
use crate::broker::caller::{Caller, authenticate_request};
use crate::broker::permissions::Permissions;
use crate::policy::{Context, Decision, Evaluation, Explanation, NamedPolicy, Request, Resource};
use crate::session::SessionPrincipal;
use crate::sigv4::{Payload, SignedRequest};

/// Context keys only the broker sets: what it knows about the caller and the time. A service
/// cannot supply them.
const RESERVED_KEY_PREFIXES: &[&str] = &[
    "aws:principal",
    "aws:userid",
    "aws:username",
    "aws:tokenissuetime",
    "aws:sourceidentity",
    "aws:multifactorauth",
    "aws:currenttime",
    "aws:epochtime",
];

/// Whether a service may supply the context key `key`.
pub fn is_reserved_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    RESERVED_KEY_PREFIXES.iter().any(|p| lower.starts_with(p))
}

/// The request the resource server received, as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Forwarded<'a> {
    pub request: SignedRequest<'a>,
    pub payload: Payload<'a>,
    /// The service the signature must be scoped to.
    pub service: &'a str,
    /// Whether the signature may come in the query (a presigned URL).
    pub allow_presigned: bool,
}

/// The answer to a presigned URL where only signed headers are accepted.
pub fn presigned_refused() -> ApiError {
    ApiError::access_denied("Presigned URLs are not accepted for this request.")
}

/// What the resource server asks: `action` on `resource`, with its own context keys and,
/// optionally, the resource's policy.
#[derive(Debug, Clone)]
pub struct Question {
    pub action: String,
    pub resource: Resource,
    pub context: Context,
    pub resource_policy: Option<NamedPolicy>,
}

/// A decision about an authenticated caller.
#[derive(Debug)]
pub struct Answer {
    pub authenticated: Authenticated,
    pub permissions: Arc<Permissions>,
    pub request: Request,
    pub evaluation: Evaluation,
    pub resource_policy: Option<NamedPolicy>,
}

/// Verifies the forwarded request's signature against the broker's sessions and users and
/// decides the question for its signer, with its effective permissions (identity ∩ boundary ∩
/// session policies, plus a resource policy the service may supply). The path is authorized
/// exactly as it was signed (and must be served so); S3's canonicalization applies for `s3`.
/// An `Err` is about the forwarded request's authentication (its AWS code and status).
pub async fn authorize(
    state: &Broker,
    forwarded: &Forwarded<'_>,
    question: Question,
    request_id: &str,
) -> Result<Answer, ApiError> {
    if !forwarded.allow_presigned && crate::sigv4::is_presigned(forwarded.request.query) {
        return Err(presigned_refused());
    }
    let authenticated = authenticate_request(
        state,
        &forwarded.request,
        forwarded.payload,
        Some(forwarded.service),
        request_id,
    )
    .await?;
    let permissions = authenticated.permissions(&state.config.iam)?;
    let now = state.clock.now();
    let mut context = question.context;
    context.insert("aws:CurrentTime", crate::encoding::timestamp(now));
    context.insert("aws:EpochTime", now.unix_timestamp().to_string());
    let request = permissions.request(&question.action, question.resource, context, now);
    let evaluation = permissions.decide(&request, question.resource_policy.as_ref());
    Ok(Answer {
        authenticated,
        permissions,
        request,
        evaluation,
        resource_policy: question.resource_policy,
    })
}

impl Answer {
    pub fn allowed(&self) -> bool {
        self.evaluation.decision.is_allowed()
    }

    /// `Allow`, `ImplicitDeny` or `ExplicitDeny`.
    pub fn decision(&self) -> &'static str {
        decision_name(self.evaluation.decision)
    }

    /// A reason safe to give the caller.
    pub fn reason(&self) -> String {
        self.permissions
            .reason(&self.evaluation, self.resource_policy.as_ref())
    }

    /// The full trace, for operators.
    pub fn explanation(&self) -> Explanation {
        self.permissions.explain(
            &self.evaluation,
            &self.request,
            self.resource_policy.as_ref(),
        )
    }

    /// Who signed the forwarded request.
    pub fn principal(&self) -> PrincipalInfo {
        PrincipalInfo::new(self.authenticated.caller(), &self.permissions)
    }
}

/// The decision's name in answers.
pub fn decision_name(decision: Decision) -> &'static str {
    match decision {
        Decision::Allowed => "Allow",
        Decision::ImplicitDeny => "ImplicitDeny",
        Decision::ExplicitDeny => "ExplicitDeny",
    }
}

/// The principal, as answers describe it. Holds no secret or token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrincipalInfo {
    pub arn: String,
    /// `User` or `AssumedRole`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub account: String,
    /// `aws:userid`: the user id, or `ROLEID:SESSION`.
    pub user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
    /// Principal tags (session tags over the role's).
    pub tags: BTreeMap<String, String>,
    /// When the session ends (ISO 8601); absent for long-term keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

impl PrincipalInfo {
    pub fn new(caller: &Caller, permissions: &Permissions) -> PrincipalInfo {
        match caller {
            Caller::User(user) => PrincipalInfo {
                arn: user.arn.clone(),
                kind: "User",
                account: user.account.clone(),
                user_id: user.user_id.clone(),
                session_name: None,
                role_arn: None,
                source_identity: None,
                tags: permissions.principal_tags.clone(),
                expires_at: None,
            },
            Caller::Session(record) => {
                let (kind, session_name, role_arn) = match &record.principal {
                    SessionPrincipal::Role {
                        role_arn,
                        session_name,
                        ..
                    } => (
                        "AssumedRole",
                        Some(session_name.clone()),
                        Some(role_arn.clone()),
                    ),
                    SessionPrincipal::User { .. } => ("User", None, None),
                };
                PrincipalInfo {
                    arn: record.principal.arn().to_owned(),
                    kind,
                    account: record.account.clone(),
                    user_id: record.principal.user_id(),
                    session_name,
                    role_arn,
                    source_identity: record.source_identity.clone(),
                    tags: permissions.principal_tags.clone(),
                    expires_at: time::OffsetDateTime::from_unix_timestamp(record.expires_at)
                        .ok()
                        .map(crate::encoding::timestamp),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_derived_keys_are_reserved() {
        for key in [
            "aws:PrincipalArn",
            "AWS:PrincipalTag/team",
            "aws:userid",
            "aws:SourceIdentity",
            "aws:MultiFactorAuthAge",
            "aws:CurrentTime",
        ] {
            assert!(is_reserved_key(key), "{key}");
        }
        for key in [
            "aws:SourceIp",
            "aws:SecureTransport",
            "s3:prefix",
            "aws:ResourceTag/x",
        ] {
            assert!(!is_reserved_key(key), "{key}");
        }
    }
}
