//! `AssumeRoleWithWebIdentity`: an OIDC token in, temporary credentials for a role out.
//!
//! The path: validate parameters (STS API model) → verify the token ([`crate::oidc`]) → find
//! the role → decide its trust policy for `Federated` = the provider ARN with the token's claims
//! as condition keys ([`crate::policy`]) → mint credentials → record the session → XML. Nothing
//! is stored unless every step succeeded.

use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;

use super::error::StsError;
use super::params::Violations;
use super::query::Params;
use super::xml::{self, AssumeRoleWithWebIdentityResult, AssumedRoleUserXml, CredentialsXml};
use super::{Action, RequestMeta};
use crate::app::AppState;
use crate::config::{OidcProvider, issuer_host_path};
use crate::iam::Role;
use crate::oidc::{OidcErrorKind, VerifiedToken};
use crate::policy::{
    self, Context, NamedPolicy, PolicySet, PolicyType, Principal, Request, Resource,
    caller_safe_reason, decide,
};
use crate::session::{Origin, SessionRecord, credentials};

const ACTION: &str = "sts:AssumeRoleWithWebIdentity";
/// Budget of the packed form of session policies and tags, in bytes.
pub const PACKED_POLICY_BUDGET: usize = 2048;
/// The claim AWS reads session tags from.
const TAGS_CLAIM: &str = "https://aws.amazon.com/tags";
/// The claim AWS reads the source identity from.
const SOURCE_IDENTITY_CLAIM: &str = "https://aws.amazon.com/source_identity";

/// Parameters after validation.
struct Input<'a> {
    role_arn: &'a str,
    session_name: &'a str,
    token: &'a str,
    duration: Option<u32>,
    policy: Option<&'a str>,
    policy_arns: Vec<&'a str>,
}

fn read_input(params: &Params) -> Result<Input<'_>, StsError> {
    let role_arn = params.require("RoleArn")?;
    let session_name = params.require("RoleSessionName")?;
    let token = params.require("WebIdentityToken")?;
    let mut v = Violations::default();
    v.length("RoleArn", role_arn, 20, 2048, false);
    v.length("RoleSessionName", session_name, 2, 64, false);
    v.name_pattern("RoleSessionName", session_name);
    v.length("WebIdentityToken", token, 4, 20_000, true);
    let duration = params
        .get("DurationSeconds")
        .and_then(|d| v.integer("DurationSeconds", d, 900, 43_200))
        .and_then(|d| u32::try_from(d).ok());
    let policy = params.get("Policy");
    if let Some(p) = policy {
        v.length("Policy", p, 1, 2048, true);
        v.policy_chars("Policy", p);
    }
    if let Some(id) = params.get("ProviderId") {
        v.length("ProviderId", id, 4, 2048, false);
    }
    let policy_arns = params.list("PolicyArns", Some("arn"), 10)?;
    for arn in &policy_arns {
        v.length("PolicyArns.member.arn", arn, 20, 2048, false);
    }
    v.finish()?;
    Ok(Input {
        role_arn,
        session_name,
        token,
        duration,
        policy,
        policy_arns,
    })
}

/// Handles one call.
pub async fn assume_role_with_web_identity(
    state: &AppState,
    params: &Params,
    meta: &RequestMeta,
) -> Result<String, StsError> {
    let input = read_input(params)?;
    let session_policies = session_policies(state, &input)?;
    let packed = packed_policy_percent(input.policy, &input.policy_arns)?;

    let token = state.oidc.verify(input.token).await.map_err(|e| {
        tracing::info!(request_id = %meta.request_id, error = %e, "web identity token refused");
        match e.kind() {
            OidcErrorKind::Invalid => StsError::invalid_identity_token(e.to_string()),
            OidcErrorKind::Expired => StsError::expired_identity_token(e.to_string()),
            OidcErrorKind::IdpUnreachable => StsError::idp_communication(e.to_string()),
        }
    })?;
    let provider = state.config.oidc_provider(&token.issuer).ok_or_else(|| {
        StsError::invalid_identity_token(format!(
            "No OpenIDConnect provider found in your account for {}",
            token.issuer
        ))
    })?;

    let denied = || StsError::access_denied(format!("Not authorized to perform {ACTION}"));
    let Some(role) = state.config.iam.role(input.role_arn) else {
        tracing::info!(request_id = %meta.request_id, role = input.role_arn, "no such role");
        return Err(denied());
    };

    let now = state
        .clock
        .now()
        .replace_nanosecond(0)
        .unwrap_or(state.clock.now());
    let trust = trust_request(state, provider, &token, role, &input, meta, now);
    let tags = session_tags(&token);
    let source_identity = token
        .claims
        .get(SOURCE_IDENTITY_CLAIM)
        .and_then(Value::as_str);
    let mut actions = vec![ACTION];
    if !tags.is_empty() {
        actions.push("sts:TagSession");
    }
    if source_identity.is_some() {
        actions.push("sts:SetSourceIdentity");
    }
    let trust_policy = std::slice::from_ref(&role.trust_policy);
    let set = PolicySet {
        resource: trust_policy.first(),
        resource_type: PolicyType::Trust,
        ..PolicySet::default()
    };
    for action in actions {
        let request = Request::new(
            trust.principal.clone(),
            action,
            trust.resource.clone(),
            trust.context.clone(),
        );
        let evaluation = decide(&request, &set);
        if !evaluation.decision.is_allowed() {
            let reason = caller_safe_reason(&evaluation, &set);
            tracing::info!(
                request_id = %meta.request_id,
                role = %role.arn,
                provider = %provider.arn,
                subject = %token.subject,
                decision = evaluation.decision.as_str(),
                explanation = %policy::Explanation::new(&evaluation, &set, &request),
                "trust policy denied web identity"
            );
            return Err(StsError::access_denied(format!(
                "Not authorized to perform {action}: {reason}"
            )));
        }
    }

    let duration = input.duration.unwrap_or(3600);
    if duration > role.max_session_duration {
        return Err(StsError::validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    let expires = now + Duration::from_secs(u64::from(duration));
    let creds = credentials::mint(&state.keys, now, expires).map_err(|e| {
        tracing::error!(request_id = %meta.request_id, error = %e, "minting failed");
        StsError::internal()
    })?;

    let host_path = issuer_host_path(&provider.issuer);
    let mut context = std::collections::BTreeMap::new();
    for claim in ["sub", "aud", "amr"] {
        let key = format!("{host_path}:{claim}");
        if let Some(values) = trust.context.get(&key) {
            context.insert(key, values.values().to_vec());
        }
    }
    context.insert(
        "aws:FederatedProvider".to_owned(),
        vec![provider.arn.clone()],
    );
    let assumed_role_arn = format!(
        "arn:aws:sts::{}:assumed-role/{}/{}",
        role.account, role.name, input.session_name
    );
    let assumed_role_id = format!("{}:{}", role.role_id, input.session_name);
    let record = SessionRecord {
        access_key_id: creds.access_key_id.clone(),
        key_id: creds.key_id.clone(),
        origin: Origin::AssumeRoleWithWebIdentity,
        account: role.account.clone(),
        role_arn: role.arn.clone(),
        role_id: role.role_id.clone(),
        session_name: input.session_name.to_owned(),
        assumed_role_arn: assumed_role_arn.clone(),
        issued_at: now.unix_timestamp(),
        expires_at: expires.unix_timestamp(),
        provider: Some(provider.arn.clone()),
        subject: Some(token.subject.clone()),
        audience: Some(token.audience.clone()),
        source_identity: source_identity.map(str::to_owned),
        context,
        session_policy: input.policy.map(str::to_owned),
        policy_arns: session_policies
            .iter()
            .map(|p| p.name.to_string())
            .filter(|n| !n.starts_with("inline"))
            .collect(),
        tags,
    };
    state
        .store
        .put_session(&record, Duration::from_secs(u64::from(duration)))
        .await
        .map_err(|e| {
            tracing::error!(request_id = %meta.request_id, error = %e, "store refused the session");
            StsError::service_unavailable()
        })?;
    tracing::info!(
        request_id = %meta.request_id,
        access_key_id = %creds.access_key_id,
        role = %role.arn,
        session = input.session_name,
        provider = %provider.arn,
        subject = %token.subject,
        expires = %xml::timestamp(expires),
        "web identity session issued"
    );

    let result = AssumeRoleWithWebIdentityResult {
        credentials: CredentialsXml {
            access_key_id: &creds.access_key_id,
            secret_access_key: creds.secret_access_key.expose(),
            session_token: creds.session_token.expose(),
            expiration: xml::timestamp(creds.expiration),
        },
        subject_from_web_identity_token: &token.subject,
        assumed_role_user: AssumedRoleUserXml {
            assumed_role_id: &assumed_role_id,
            arn: &assumed_role_arn,
        },
        packed_policy_size: packed,
        // AWS reports an OIDC provider by its ARN.
        provider: &provider.arn,
        audience: &token.audience,
        source_identity,
    };
    xml::success(Action::AssumeRoleWithWebIdentity, &result, &meta.request_id).map_err(|e| {
        tracing::error!(request_id = %meta.request_id, error = %e, "response serialization failed");
        StsError::internal()
    })
}

/// The inline session policy and the managed ones named by `PolicyArns`, compiled.
fn session_policies(state: &AppState, input: &Input<'_>) -> Result<Vec<NamedPolicy>, StsError> {
    let mut out = Vec::new();
    if let Some(text) = input.policy {
        let p = policy::parse(text, PolicyType::Session)
            .map_err(|e| StsError::malformed_policy(e.to_string()))?;
        out.push(NamedPolicy::new("inline session policy", p));
    }
    for arn in &input.policy_arns {
        match state.config.iam.policies.get(*arn) {
            Some(p) => out.push(p.clone()),
            None => {
                return Err(StsError::validation(format!(
                    "Policy {arn} does not exist or is not attachable."
                )));
            }
        }
    }
    Ok(out)
}

/// `PackedPolicySize`: the share of the packed budget the session policies use, in percent;
/// `PackedPolicyTooLarge` beyond 100.
fn packed_policy_percent(policy: Option<&str>, arns: &[&str]) -> Result<Option<u32>, StsError> {
    if policy.is_none() && arns.is_empty() {
        return Ok(None);
    }
    let inline = match policy {
        Some(text) => serde_json::from_str::<Value>(text)
            .map(|v| v.to_string().len())
            .unwrap_or(text.len()),
        None => 0,
    };
    let packed = inline + arns.iter().map(|a| a.len()).sum::<usize>();
    let percent = u32::try_from((packed * 100).div_ceil(PACKED_POLICY_BUDGET)).unwrap_or(u32::MAX);
    if percent > 100 {
        return Err(StsError::packed_policy_too_large(percent));
    }
    Ok(Some(percent))
}

/// The trust decision's inputs.
struct TrustRequest {
    principal: Principal,
    resource: Resource,
    context: Context,
}

fn trust_request(
    state: &AppState,
    provider: &OidcProvider,
    token: &VerifiedToken,
    role: &Role,
    input: &Input<'_>,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> TrustRequest {
    let prefix = issuer_host_path(&provider.issuer);
    let mut context = Context::new();
    for (claim, value) in &token.claims {
        if claim.contains(':') || claim == "aud" {
            continue;
        }
        let key = format!("{prefix}:{claim}");
        match value {
            Value::String(s) => context.insert(&key, s.as_str()),
            Value::Number(n) => context.insert(&key, n.to_string()),
            Value::Bool(b) => context.insert(&key, b.to_string()),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::String(s) => context.push(&key, s.as_str()),
                        Value::Number(n) => context.push(&key, n.to_string()),
                        Value::Bool(b) => context.push(&key, b.to_string()),
                        _ => {}
                    }
                }
            }
            Value::Null | Value::Object(_) => {}
        }
    }
    context.insert(&format!("{prefix}:aud"), token.audience.as_str());
    context.insert("aws:FederatedProvider", provider.arn.as_str());
    context.insert("sts:RoleSessionName", input.session_name);
    context.insert("aws:CurrentTime", xml::timestamp(now));
    context.insert("aws:EpochTime", now.unix_timestamp().to_string());
    context.insert("aws:SecureTransport", meta.secure_transport.to_string());
    context.insert("aws:RequestedRegion", state.config.server.region.as_str());
    if let Some(ip) = meta.source_ip {
        context.insert("aws:SourceIp", ip.to_string());
    }
    if let Some(ua) = &meta.user_agent {
        context.insert("aws:UserAgent", ua.as_str());
    }
    if let Some(si) = token
        .claims
        .get(SOURCE_IDENTITY_CLAIM)
        .and_then(Value::as_str)
    {
        context.insert("sts:SourceIdentity", si);
    }
    for (k, v) in session_tags(token) {
        context.insert(&format!("aws:RequestTag/{k}"), v);
        context.push("aws:TagKeys", k);
    }
    TrustRequest {
        principal: Principal::Federated {
            provider: provider.arn.clone(),
        },
        resource: Resource::new(role.arn.clone()).with_account(role.account.clone()),
        context,
    }
}

/// Session tags from the `https://aws.amazon.com/tags` claim's `principal_tags`.
fn session_tags(token: &VerifiedToken) -> std::collections::BTreeMap<String, String> {
    let mut tags = std::collections::BTreeMap::new();
    let Some(Value::Object(principal_tags)) = token
        .claims
        .get(TAGS_CLAIM)
        .and_then(|t| t.get("principal_tags"))
    else {
        return tags;
    };
    for (key, value) in principal_tags {
        let value = match value {
            Value::Array(items) => items.first().and_then(Value::as_str),
            Value::String(s) => Some(s.as_str()),
            _ => None,
        };
        if let Some(v) = value {
            tags.insert(key.clone(), v.to_owned());
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_size_is_a_share_of_the_budget() {
        assert_eq!(packed_policy_percent(None, &[]).unwrap(), None);
        let policy = r#"{ "Version": "2012-10-17",  "Statement": [] }"#;
        let minified = r#"{"Version":"2012-10-17","Statement":[]}"#.len();
        assert_eq!(
            packed_policy_percent(Some(policy), &[]).unwrap(),
            Some(u32::try_from((minified * 100).div_ceil(PACKED_POLICY_BUDGET)).unwrap())
        );
        let arn = "arn:aws:iam::111122223333:policy/a-rather-long-managed-policy-name-for-tests";
        let e = packed_policy_percent(Some(&"x".repeat(2000)), &[arn; 10]).unwrap_err();
        assert_eq!(e.code, "PackedPolicyTooLarge");
    }
}
