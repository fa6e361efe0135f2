//! `AssumeRoleWithSAML`: an IdP's base64 SAML response in, temporary credentials out.
//!
//! The path: parameters (STS API model) → the provider named by `PrincipalArn` → the response
//! verified against its metadata ([`crate::saml`], bounded: [`crate::broker::saml`]) → session
//! name, duration cap, tags and source identity from AWS's attributes ([`super::saml_attributes`])
//! → the shared role-session rules ([`role_session::decide`]: the role must be in the provider's
//! account and granted with the provider in the `Role` attribute) for `Federated` = the provider
//! ARN with `saml:*` condition keys → the assertion not revoked, its id used once (replay guard,
//! on every replica) → mint, record, XML. Nothing is stored unless every check passed.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Action;
pub use super::saml_attributes::name_qualifier;
use super::saml_attributes::{
    duration, role_granted, saml_keys, session_name, session_tags, source_identity, subject_type,
};
use crate::broker::ApiError;
use crate::broker::Broker;
use crate::broker::RequestMeta;
use crate::broker::role_session::{self, NewSession, RoleAsk};
use crate::broker::saml::{
    BUSY_RETRY_AFTER_SECONDS, Verify, claim_off_runtime, verify_claimed, verify_off_runtime,
};
use crate::broker::throttle::Scope;
use crate::config::SamlProvider;
use crate::policy::Principal;
use crate::query::Params;
use crate::query::validate::{SessionParams, Violations};
use crate::query::xml::{self, AssumeRoleWithSamlResult, AssumedRoleUserXml, CredentialsXml};
use crate::saml::{self, VerifiedAssertion};
use crate::session::Origin;

const ACTION: &str = "sts:AssumeRoleWithSAML";
/// Longest a used assertion id is remembered (assertions valid longer are refused).
const MAX_REPLAY_WINDOW: i64 = 7 * 24 * 3600;

/// Parameters after validation.
struct Input<'a> {
    role_arn: &'a str,
    principal_arn: &'a str,
    assertion: &'a str,
    session: SessionParams<'a>,
}

fn read_input(params: &Params) -> Result<Input<'_>, ApiError> {
    let role_arn = params.require("RoleArn")?;
    let principal_arn = params.require("PrincipalArn")?;
    let assertion = params.require("SAMLAssertion")?;
    let mut v = Violations::default();
    v.length("RoleArn", role_arn, 20, 2048, false);
    v.length("PrincipalArn", principal_arn, 20, 2048, false);
    v.length(
        "SAMLAssertion",
        assertion,
        4,
        saml::MAX_ASSERTION_CHARS,
        true,
    );
    let session = v.session_params(params)?;
    v.finish()?;
    Ok(Input {
        role_arn,
        principal_arn,
        assertion,
        session,
    })
}

/// Handles one call.
pub async fn assume_role_with_saml(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<String, ApiError> {
    let input = read_input(params)?;
    let Some(provider) = state.config.saml_provider(input.principal_arn) else {
        return Err(ApiError::invalid_identity_token(
            "Specified provider doesn't exist.",
        ));
    };
    let now = role_session::now(&*state.clock);
    // Throttling (see `broker::throttle`): the role and the NameID the response names are only
    // looked at before its signatures are checked; the NameID's token is taken once it
    // verified, the role's once the role accepted it.
    state.throttle.peek_role(input.role_arn).await?;
    let verified = verify(state, meta, provider, input.assertion, now).await?;

    let session_name = session_name(&verified)?;
    crate::audit::note(|n| {
        n.principal = Some(provider.arn.clone());
        n.subject = Some(crate::audit::bounded(&verified.name_id));
        n.session_name = Some(crate::audit::bounded(&session_name));
    });
    state
        .throttle
        .take_subject(&provider.arn, &verified.name_id)
        .await?;
    let duration = duration(&verified, input.session.duration)?;
    let source_identity = source_identity(&verified)?;
    let tags = session_tags(&verified)?;
    let subject_type = subject_type(&verified);
    let qualifier = name_qualifier(&verified.issuer, &provider.account, &provider.name);
    let mut context = role_session::request_context(&state.config.server.region, meta, now);
    saml_keys(&mut context, provider, &verified, &subject_type, &qualifier)?;
    context.insert("aws:FederatedProvider", provider.arn.as_str());
    // A role trusts only the providers of its own account, and the IdP must have granted this
    // role with this provider; otherwise it is refused like a role that does not trust it.
    let decided = role_session::decide(
        state,
        meta,
        RoleAsk {
            action: ACTION,
            role_arn: input.role_arn,
            provider_account: Some(&provider.account),
            principal: Principal::Federated {
                provider: provider.arn.clone(),
            },
            caller: None,
            context,
            session_name: &session_name,
            duration,
            policy: input.session.policy,
            policy_arns: &input.session.policy_arns,
            tags: &tags.tags,
            transitive: &tags.transitive,
            requested_tags: &tags.tags,
            source_identity: source_identity.as_deref(),
        },
        |role| role_granted(&verified, &role.arn, &provider.arn),
    )?;
    let role = decided.role;
    let packed = decided.packed;
    state.throttle.take_role(input.role_arn).await?;

    // Every check passed: the assertion is now used, on every replica, until it expires.
    let leeway = i64::try_from(provider.leeway.as_secs()).unwrap_or(0);
    let remaining = verified.not_on_or_after + leeway - now.unix_timestamp();
    if remaining > MAX_REPLAY_WINDOW {
        return Err(ApiError::invalid_identity_token(
            "The SAML assertion is valid for longer than 7 days",
        ));
    }
    let ttl = Duration::from_secs(u64::try_from(remaining.max(1)).unwrap_or(1));
    let proof = revocation_check(state, meta, provider, &verified)?;
    let first = state
        .store
        .use_once(&replay_key(&provider.arn, &verified.id), ttl)
        .await
        .map_err(|e| {
            tracing::error!(request_id = %meta.request_id, error = %e, "store refused the replay record");
            ApiError::service_unavailable()
        })?;
    if !first {
        tracing::warn!(request_id = %meta.request_id, provider = %provider.arn, "SAML assertion replayed");
        return Err(ApiError::invalid_identity_token(
            "The SAML assertion has already been used",
        ));
    }

    let mut kept = BTreeMap::new();
    kept.insert("saml:sub".to_owned(), vec![verified.name_id.clone()]);
    kept.insert("saml:sub_type".to_owned(), vec![subject_type.clone()]);
    kept.insert("saml:namequalifier".to_owned(), vec![qualifier.clone()]);
    kept.insert(
        "aws:FederatedProvider".to_owned(),
        vec![provider.arn.clone()],
    );
    let issued = role_session::issue(
        state,
        meta,
        NewSession {
            principal: role_session::role_principal(role, &session_name),
            account: &role.account,
            duration,
            max_duration: role.max_session_duration,
            now,
            origin: Origin::AssumeRoleWithSAML,
            provider: Some(provider.arn.clone()),
            subject: Some(verified.name_id.clone()),
            audience: Some(verified.recipient.clone()),
            source_identity: source_identity.clone(),
            context: kept,
            session_policy: input.session.policy,
            policy_arns: &input.session.policy_arns,
            tags: tags.tags,
            transitive_tag_keys: tags.transitive,
            mfa_authenticated_at: None,
            chained: false,
            lineage: crate::session::Lineage {
                saml_assertion: Some(proof),
                identity_issued_at: Some(verified.issue_instant),
                ..crate::session::Lineage::default()
            },
        },
    )
    .await?;
    let assumed_role_id = issued.assumed_role_id();
    let result = AssumeRoleWithSamlResult {
        credentials: CredentialsXml::of(&issued.credentials),
        assumed_role_user: AssumedRoleUserXml::of(&issued.record, &assumed_role_id),
        packed_policy_size: packed,
        subject: &verified.name_id,
        subject_type: &subject_type,
        issuer: &verified.issuer,
        audience: &verified.recipient,
        name_qualifier: &qualifier,
        source_identity: source_identity.as_deref(),
    };
    Ok(xml::success_written(
        Action::AssumeRoleWithSAML,
        &result,
        &meta.request_id,
    ))
}

/// The response verified off the runtime. With a `per_subject` limit, the NameID it claims is
/// read first (in the same verification slot) and its bucket looked at before any signature
/// is checked.
async fn verify(
    state: &Broker,
    meta: &RequestMeta,
    provider: &SamlProvider,
    assertion: &str,
    now: time::OffsetDateTime,
) -> Result<VerifiedAssertion, ApiError> {
    let refused = |e: Verify| match e {
        Verify::Busy => {
            tracing::warn!(request_id = %meta.request_id, provider = %provider.arn, "every SAML verification slot is busy");
            ApiError::busy(BUSY_RETRY_AFTER_SECONDS)
        }
        Verify::Refused(e) => {
            tracing::info!(request_id = %meta.request_id, provider = %provider.arn, error = %e, "SAML response refused");
            ApiError::from(e)
        }
        Verify::Aborted(e) => {
            tracing::error!(request_id = %meta.request_id, provider = %provider.arn, panicked = e.is_panic(), "SAML verification did not finish");
            ApiError::internal()
        }
    };
    if state.throttle.limit(Scope::Subject).is_none() {
        return verify_off_runtime(&state.saml_slots, provider, assertion, now)
            .await
            .map_err(refused);
    }
    let claimed = claim_off_runtime(&state.saml_slots, assertion)
        .await
        .map_err(refused)?;
    if let Some(name_id) = &claimed.name_id {
        state.throttle.peek_subject(&provider.arn, name_id).await?;
    }
    verify_claimed(claimed, provider, now)
        .await
        .map_err(refused)
}

/// Subject revocation for SAML: an assertion issued (`IssueInstant`) at or before a revocation
/// of its NameID at this provider, or one whose session was revoked, is refused. An assertion
/// may be valid at most [`MAX_REPLAY_WINDOW`] after its `IssueInstant`, so a subject rule
/// outlives every assertion issued before it. Returns the assertion's digest for the session's
/// lineage.
fn revocation_check(
    state: &Broker,
    meta: &RequestMeta,
    provider: &SamlProvider,
    verified: &VerifiedAssertion,
) -> Result<crate::session::TokenDigest, ApiError> {
    if verified
        .not_on_or_after
        .saturating_sub(verified.issue_instant)
        > MAX_REPLAY_WINDOW
    {
        return Err(ApiError::invalid_identity_token(
            "The SAML assertion is valid for longer than 7 days after its IssueInstant",
        ));
    }
    let leeway = i64::try_from(provider.leeway.as_secs()).unwrap_or(0);
    let proof = crate::session::TokenDigest::of(
        &format!("{}\n{}", provider.arn, verified.id),
        verified.not_on_or_after.saturating_add(leeway),
    );
    role_session::check_proof(
        state,
        meta,
        ACTION,
        &provider.arn,
        &verified.name_id,
        verified.issue_instant,
        &proof,
    )?;
    Ok(proof)
}

/// The store key of a used assertion: provider and a digest of the id (ids are unbounded).
fn replay_key(provider: &str, id: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, id.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("saml:{provider}:{hex}")
}
