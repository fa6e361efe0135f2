//! Authorization of the broker's own administrative calls (the authorize API, IAM's `Simulate*`,
//! `sts:DecodeAuthorizationMessage`, `broker:RevokeSession`...): the caller signs with SigV4 as
//! any principal the broker knows, and its own policies (identity ∩ boundary ∩ session, as for
//! any AWS action) must allow the action, so operators grant these calls in the same policy
//! language as everything else.
//!
//! Which service the signature must be scoped to follows the action's prefix: `iam:` actions
//! are signed for `iam`, every other (`sts:`, `broker:`) for `sts`, the service the broker's
//! endpoint answers as. Resources are `*` unless an action documents one.

use std::sync::Arc;

use super::{ApiError, RequestMeta, denial, role_session};
use crate::broker::Broker;
use crate::broker::caller::{Caller, authenticate_for};
use crate::broker::permissions::Permissions;
use crate::policy::{ContextValue, Resource};

/// The service a signature for `action` must be scoped to: `iam` for `iam:` actions, `sts`
/// otherwise.
pub fn service_for(action: &str) -> &'static str {
    match action.split_once(':') {
        Some((prefix, _)) if prefix.eq_ignore_ascii_case("iam") => "iam",
        _ => "sts",
    }
}

/// Authenticates the request (SigV4, scoped to [`service_for`] the action) and requires the
/// caller's policies to allow `action` on `resource`; returns who called and its permissions.
/// A denial is `AccessDenied` (403) in AWS's wording with a caller-safe reason and the encoded
/// evaluation trace (see [`denial`](super::denial)); the explanation also goes to the log.
pub async fn require(
    state: &Broker,
    meta: &RequestMeta,
    action: &str,
    resource: &str,
) -> Result<(Caller, Arc<Permissions>), ApiError> {
    require_for(state, meta, service_for(action), action, resource).await
}

/// [`require`] with the signature's service given.
pub async fn require_for(
    state: &Broker,
    meta: &RequestMeta,
    service: &str,
    action: &str,
    resource: &str,
) -> Result<(Caller, Arc<Permissions>), ApiError> {
    let authenticated = authenticate_for(state, meta, service).await?;
    let permissions = authenticated.permissions(&state.config.iam)?;
    allowed(state, meta, &permissions, action, resource)?;
    Ok((authenticated.caller().clone(), permissions))
}

/// Whether `permissions` allow `action` on `resource` for this request (its transport keys
/// such as `aws:SourceIp` included); `AccessDenied` if not.
pub fn allowed(
    state: &Broker,
    meta: &RequestMeta,
    permissions: &Permissions,
    action: &str,
    resource: &str,
) -> Result<(), ApiError> {
    allowed_with(
        state,
        meta,
        permissions,
        action,
        resource,
        resource,
        Vec::new(),
    )
}

/// [`allowed`] with the action's own condition keys (`extra`, e.g. `aws:RequestTag/KEY`) in
/// the context; a denial names `shown` as the resource (the ARN as the caller wrote it, so
/// that it learns nothing about an entity it may not see).
pub fn allowed_with(
    state: &Broker,
    meta: &RequestMeta,
    permissions: &Permissions,
    action: &str,
    resource: &str,
    shown: &str,
    extra: Vec<(String, ContextValue)>,
) -> Result<(), ApiError> {
    let now = state.clock.now();
    let mut context = role_session::request_context(&state.config.server.region, meta, now);
    for (key, value) in extra {
        context.insert_value(&key, value);
    }
    let request = permissions.request(action, Resource::new(resource), context, now);
    let evaluation = permissions.decide(&request, None);
    if evaluation.decision.is_allowed() {
        return Ok(());
    }
    tracing::info!(
        request_id = %meta.request_id,
        caller = %permissions.arn(),
        action,
        decision = evaluation.decision.as_str(),
        explanation = %permissions.explain(&evaluation, &request, None),
        "admin call denied"
    );
    crate::audit::note(|n| n.policy_decision = Some(evaluation.decision.as_str()));
    let trace = denial::trace(&evaluation, &permissions.policy_set(None), &request);
    Err(denial::access_denied(
        &state.keys,
        now,
        format!(
            "User: {} is not authorized to perform: {action} on resource: {shown}: {}",
            permissions.arn(),
            permissions.reason(&evaluation, None)
        ),
        &trace,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_service_follows_the_action() {
        assert_eq!(service_for("iam:SimulatePrincipalPolicy"), "iam");
        assert_eq!(service_for("IAM:GetUser"), "iam");
        assert_eq!(service_for("sts:DecodeAuthorizationMessage"), "sts");
        assert_eq!(service_for("broker:RevokeSession"), "sts");
        assert_eq!(service_for("nonsense"), "sts");
    }
}
