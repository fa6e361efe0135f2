//! `AssumeRoleWithWebIdentity`: an OIDC token in, temporary credentials for a role out.
//!
//! The path: validate parameters (STS API model) → verify the token ([`crate::oidc`]) → find
//! the role → decide its trust policy for `Federated` = the provider ARN with the token's claims
//! as condition keys ([`crate::policy`]) → mint credentials → record the session → XML. Nothing
//! is stored unless every step succeeded.

use std::collections::BTreeMap;
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
    let inline_policy = inline_session_policy(&input)?;

    let token = state.oidc.verify(input.token).await.map_err(|e| {
        tracing::info!(request_id = %meta.request_id, error = %e, "web identity token refused");
        match e.kind() {
            OidcErrorKind::Invalid => StsError::invalid_identity_token(e.to_string()),
            OidcErrorKind::Expired => StsError::expired_identity_token(e.to_string()),
            OidcErrorKind::IdpUnreachable => StsError::idp_communication(e.to_string()),
        }
    })?;
    let denied = || StsError::access_denied(format!("Not authorized to perform {ACTION}"));
    let Some(role) = state.config.iam.role(input.role_arn) else {
        tracing::info!(request_id = %meta.request_id, role = input.role_arn, "no such role");
        return Err(denied());
    };
    // As in IAM, a role trusts only the identity providers of its own account.
    let provider = state
        .config
        .oidc_provider(&token.issuer)
        .filter(|p| p.account == role.account)
        .ok_or_else(|| {
            StsError::invalid_identity_token(format!(
                "No OpenIDConnect provider found in your account for {}",
                token.issuer
            ))
        })?;
    let session_policies = session_policies(state, role, inline_policy, &input.policy_arns)?;
    let tags = session_tags(&token)?;
    let packed = packed_policy_percent(input.policy, &input.policy_arns, &tags.tags)?;

    let now = state
        .clock
        .now()
        .replace_nanosecond(0)
        .unwrap_or(state.clock.now());
    let trust = trust_request(state, provider, &token, &tags, role, &input, meta, now)?;
    let source_identity = token
        .claims
        .get(SOURCE_IDENTITY_CLAIM)
        .and_then(Value::as_str);
    let mut actions = vec![ACTION];
    if !tags.tags.is_empty() {
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
    let mut context = BTreeMap::new();
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
            .skip(usize::from(input.policy.is_some()))
            .map(|p| p.name.to_string())
            .collect(),
        tags: tags.tags,
        transitive_tag_keys: tags.transitive,
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

/// The `Policy` parameter, compiled as a session policy.
fn inline_session_policy(input: &Input<'_>) -> Result<Option<NamedPolicy>, StsError> {
    input
        .policy
        .map(|text| {
            policy::parse(text, PolicyType::Session)
                .map(|p| NamedPolicy::new("inline session policy", p))
                .map_err(|e| StsError::malformed_policy(e.to_string()))
        })
        .transpose()
}

/// The inline session policy and the managed ones named by `PolicyArns`, which must be
/// customer-managed policies of the role's account.
fn session_policies(
    state: &AppState,
    role: &Role,
    inline: Option<NamedPolicy>,
    arns: &[&str],
) -> Result<Vec<NamedPolicy>, StsError> {
    let mut out: Vec<NamedPolicy> = inline.into_iter().collect();
    for arn in arns {
        let in_account = policy::Arn::parse(arn).is_some_and(|a| a.account == role.account);
        match state.config.iam.policies.get(*arn) {
            Some(p) if in_account => out.push(p.clone()),
            _ => {
                return Err(StsError::validation(format!(
                    "Policy {} does not exist or is not attachable.",
                    super::query::shorten(arn)
                )));
            }
        }
    }
    Ok(out)
}

/// `PackedPolicySize`: the share of the packed budget the session policies use, in percent;
/// `PackedPolicyTooLarge` beyond 100.
fn packed_policy_percent(
    policy: Option<&str>,
    arns: &[&str],
    tags: &BTreeMap<String, String>,
) -> Result<Option<u32>, StsError> {
    if policy.is_none() && arns.is_empty() && tags.is_empty() {
        return Ok(None);
    }
    let inline = match policy {
        Some(text) => serde_json::from_str::<Value>(text)
            .map(|v| v.to_string().len())
            .unwrap_or(text.len()),
        None => 0,
    };
    let packed = inline
        + arns.iter().map(|a| a.len()).sum::<usize>()
        + tags.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
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

#[allow(clippy::too_many_arguments)]
fn trust_request(
    state: &AppState,
    provider: &OidcProvider,
    token: &VerifiedToken,
    tags: &SessionTags,
    role: &Role,
    input: &Input<'_>,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Result<TrustRequest, StsError> {
    let prefix = issuer_host_path(&provider.issuer);
    let mut context = Context::new();
    // Condition keys are case-insensitive, so claims whose names differ only in case would
    // land on one key, and a made-up `SUB` could stand in for `sub`: refuse such tokens.
    let mut seen = std::collections::HashSet::with_capacity(token.claims.len());
    for claim in token.claims.keys() {
        if !seen.insert(claim.to_ascii_lowercase()) {
            return Err(StsError::invalid_identity_token(format!(
                "The token has claims whose names differ only in case ({})",
                super::query::shorten(claim)
            )));
        }
    }
    for (claim, value) in &token.claims {
        if claim.contains(':') || claim == "aud" || claim == "sub" {
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
    context.insert(&format!("{prefix}:sub"), token.subject.as_str());
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
    for (k, v) in &tags.tags {
        context.insert(&format!("aws:RequestTag/{k}"), v.as_str());
        context.push("aws:TagKeys", k.as_str());
    }
    for k in &tags.transitive {
        context.push("sts:TransitiveTagKeys", k.as_str());
    }
    Ok(TrustRequest {
        principal: Principal::Federated {
            provider: provider.arn.clone(),
        },
        resource: Resource::new(role.arn.clone()).with_account(role.account.clone()),
        context,
    })
}

/// Session tags the identity provider asserted.
#[derive(Debug, Default)]
struct SessionTags {
    tags: BTreeMap<String, String>,
    transitive: Vec<String>,
}

/// Session tags from the `https://aws.amazon.com/tags` claim (`principal_tags`: key → [value],
/// `transitive_tag_keys`), checked as STS checks session tags: at most 50, keys 1-128 and values
/// up to 256 characters of `[\p{L}\p{Z}\p{N}_.:/=+\-@]`, no `aws:` prefix, no two keys that
/// differ only in case, transitive keys among the tags.
fn session_tags(token: &VerifiedToken) -> Result<SessionTags, StsError> {
    let Some(claim) = token.claims.get(TAGS_CLAIM) else {
        return Ok(SessionTags::default());
    };
    let bad = |why: &str| {
        StsError::invalid_identity_token(format!("The token's session tags are invalid: {why}"))
    };
    let tag_text = |s: &str, min: usize, max: usize| {
        let n = s.chars().count();
        (min..=max).contains(&n)
            && s.chars()
                .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
    };
    let mut out = SessionTags::default();
    let mut lower = std::collections::HashSet::new();
    if let Some(principal_tags) = claim.get("principal_tags") {
        let Value::Object(map) = principal_tags else {
            return Err(bad("principal_tags must be an object"));
        };
        if map.len() > 50 {
            return Err(bad("at most 50 tags"));
        }
        for (key, value) in map {
            let value = match value {
                Value::Array(items) if items.len() == 1 => items[0].as_str(),
                Value::String(s) => Some(s.as_str()),
                _ => None,
            }
            .ok_or_else(|| bad("each tag needs exactly one string value"))?;
            if !tag_text(key, 1, 128) || key.to_ascii_lowercase().starts_with("aws:") {
                return Err(bad(
                    "a tag key is empty, too long, uses a reserved prefix or a character not allowed",
                ));
            }
            if !tag_text(value, 0, 256) {
                return Err(bad(
                    "a tag value is too long or uses a character not allowed",
                ));
            }
            if !lower.insert(key.to_lowercase()) {
                return Err(bad("two tag keys differ only in case"));
            }
            out.tags.insert(key.clone(), value.to_owned());
        }
    }
    if let Some(keys) = claim.get("transitive_tag_keys") {
        let Value::Array(keys) = keys else {
            return Err(bad("transitive_tag_keys must be a list"));
        };
        for key in keys {
            let key = key
                .as_str()
                .filter(|k| lower.contains(&k.to_lowercase()))
                .ok_or_else(|| bad("a transitive tag key is not one of the tags"))?;
            out.transitive.push(key.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_size_is_a_share_of_the_budget() {
        let none = BTreeMap::new();
        assert_eq!(packed_policy_percent(None, &[], &none).unwrap(), None);
        let policy = r#"{ "Version": "2012-10-17",  "Statement": [] }"#;
        let minified = r#"{"Version":"2012-10-17","Statement":[]}"#.len();
        assert_eq!(
            packed_policy_percent(Some(policy), &[], &none).unwrap(),
            Some(u32::try_from((minified * 100).div_ceil(PACKED_POLICY_BUDGET)).unwrap())
        );
        let arn = "arn:aws:iam::111122223333:policy/a-rather-long-managed-policy-name-for-tests";
        let e = packed_policy_percent(Some(&"x".repeat(2000)), &[arn; 10], &none).unwrap_err();
        assert_eq!(e.code, "PackedPolicyTooLarge");
    }
}
