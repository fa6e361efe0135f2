//! `AssumeRoleWithWebIdentity`: an OIDC token in, temporary credentials for a role out.
//!
//! The path: validate parameters (STS API model) → verify the token ([`crate::oidc`]) with the
//! provider of its issuer in the role's account (as in IAM, a role trusts only its own
//! account's providers; accounts register their own provider for an issuer) → the shared
//! role-session rules ([`role_session::decide`]) for `Federated` = that provider's ARN with the
//! token's claims as condition keys → the token not revoked → mint, record, XML. Nothing is
//! stored unless every step succeeded.

use std::collections::BTreeMap;

use serde_json::Value;
use time::OffsetDateTime;

use super::Action;
use crate::broker::ApiError;
use crate::broker::Broker;
use crate::broker::RequestMeta;
use crate::broker::role_session::{self, NewSession, RoleAsk};
use crate::broker::throttle::Scope;
use crate::config::OidcProvider;
use crate::oidc::VerifiedToken;
use crate::policy::{Context, Principal};
use crate::query::Params;
use crate::query::validate::{SessionParams, Violations};
use crate::query::xml::{
    self, AssumeRoleWithWebIdentityResult, AssumedRoleUserXml, CredentialsXml,
};
use crate::session::{Lineage, Origin, TokenDigest};

const ACTION: &str = "sts:AssumeRoleWithWebIdentity";
/// The token's `iat`, if it has one and is valid no longer than the provider allows
/// (`max_token_lifetime_seconds`): otherwise a subject revocation could expire while a token
/// issued before it still works. `InvalidIdentityToken` naming the rule.
fn token_lifetime_ok(provider: &OidcProvider, token: &VerifiedToken) -> Result<i64, ApiError> {
    let max = i64::try_from(provider.max_token_lifetime.as_secs()).unwrap_or(i64::MAX);
    let Some(iat) = token.claims.get("iat").and_then(Value::as_i64) else {
        return Err(ApiError::invalid_identity_token(format!(
            "The web identity token has no iat claim: this provider's tokens must say when they \
             were issued and be valid at most {max} seconds (max_token_lifetime_seconds)"
        )));
    };
    let lifetime = token.expires_at.unix_timestamp().saturating_sub(iat);
    if lifetime > max {
        return Err(ApiError::invalid_identity_token(format!(
            "The web identity token is valid for {lifetime} seconds (exp - iat), longer than \
             this provider's max_token_lifetime_seconds ({max})"
        )));
    }
    Ok(iat)
}

/// The claim AWS reads session tags from.
const TAGS_CLAIM: &str = "https://aws.amazon.com/tags";
/// The claim AWS reads the source identity from.
const SOURCE_IDENTITY_CLAIM: &str = "https://aws.amazon.com/source_identity";

/// Parameters after validation.
struct Input<'a> {
    role_arn: &'a str,
    session_name: &'a str,
    token: &'a str,
    session: SessionParams<'a>,
}

fn read_input(params: &Params) -> Result<Input<'_>, ApiError> {
    let role_arn = params.require("RoleArn")?;
    let session_name = params.require("RoleSessionName")?;
    let token = params.require("WebIdentityToken")?;
    let mut v = Violations::default();
    v.length("RoleArn", role_arn, 20, 2048, false);
    v.length("RoleSessionName", session_name, 2, 64, false);
    v.name_pattern("RoleSessionName", session_name);
    v.length("WebIdentityToken", token, 4, 20_000, true);
    if let Some(id) = params.get("ProviderId") {
        v.length("ProviderId", id, 4, 2048, false);
    }
    let session = v.session_params(params)?;
    v.finish()?;
    Ok(Input {
        role_arn,
        session_name,
        token,
        session,
    })
}

/// Handles one call: the token proves who asks; [`role_session::decide`] does the rest.
pub async fn assume_role_with_web_identity(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<String, ApiError> {
    let input = read_input(params)?;
    let account = role_account(input.role_arn);
    // Throttling (see `broker::throttle`): the role and the subject the token names are only
    // looked at before it is verified (no key fetch, no signature check when either bucket is
    // empty); the subject's token is taken once it verified and the role's once the role
    // accepted it, so forged or untrusted tokens drain no one else's bucket. A subject's
    // bucket is its provider's (by ARN, as for SAML): one account's callers never use up
    // another's.
    state.throttle.peek_role(input.role_arn).await?;
    if state.throttle.limit(Scope::Subject).is_some()
        && let Some((issuer, subject)) = state.oidc.claimed_subject(input.token, account)
        && let Some(provider) = state.config.oidc_provider(account, issuer)
    {
        state.throttle.peek_subject(&provider.arn, &subject).await?;
    }
    // The role's account's provider of the token's issuer, or none: then no key is fetched
    // and no signature checked.
    let token = state.oidc.verify(input.token, account).await.map_err(|e| {
        tracing::info!(request_id = %meta.request_id, error = %e, "web identity token refused");
        ApiError::from(e)
    })?;
    crate::audit::note(|n| n.subject = Some(crate::audit::bounded(&token.subject)));
    let provider = state
        .config
        .oidc_provider(&token.account, &token.issuer)
        .ok_or_else(|| {
            ApiError::invalid_identity_token(format!(
                "No OpenIDConnect provider found in your account for {}",
                token.issuer
            ))
        })?;
    state
        .throttle
        .take_subject(&provider.arn, &token.subject)
        .await?;
    crate::audit::note(|n| n.principal = Some(provider.arn.clone()));
    let issued_at = token_lifetime_ok(provider, &token)?;
    let tags = session_tags(&token)?;
    let now = role_session::now(&*state.clock);
    let context = trust_context(state, provider, &token, meta, now)?;
    let source_identity = token
        .claims
        .get(SOURCE_IDENTITY_CLAIM)
        .and_then(Value::as_str);
    let host_path = provider.host_path();
    let mut kept = BTreeMap::new();
    for claim in ["sub", "aud", "amr"] {
        let key = [host_path, ":", claim].concat();
        if let Some(values) = context.get(&key) {
            kept.insert(key, values.values().to_vec());
        }
    }
    kept.insert(
        "aws:FederatedProvider".to_owned(),
        vec![provider.arn.clone()],
    );
    // As in IAM, a role trusts only the identity providers of its own account.
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
            session_name: input.session_name,
            duration: input.session.duration.unwrap_or(3600),
            policy: input.session.policy,
            policy_arns: &input.session.policy_arns,
            tags: &tags.tags,
            transitive: &tags.transitive,
            requested_tags: &tags.tags,
            source_identity,
        },
        |_| true,
    )?;
    let role = decided.role;
    // Only a proof the role accepts takes from its bucket: a valid token the role does not
    // trust (anyone can get one from a public IdP) must not use up its callers' rate.
    state.throttle.take_role(input.role_arn).await?;

    // Refresh after revocation: the same token again after its session was revoked, or any
    // token issued (`iat`) before its subject was revoked, is refused.
    // A token is revoked at the provider it was presented to (the digest holds its ARN);
    // rules stored before digests did are still honoured, by the token's digest alone.
    let usable_until = (token.expires_at + provider.leeway).unix_timestamp();
    let digest = TokenDigest::of_jws_at(&provider.arn, input.token, usable_until);
    role_session::check_proof(
        state,
        meta,
        ACTION,
        &provider.arn,
        &token.subject,
        issued_at,
        &digest,
    )?;
    // The second digest costs a hash of the token: only when some proof rule is held at all.
    if state.revocations.has_proof_rules() {
        let unscoped = TokenDigest::of_jws(input.token, usable_until);
        role_session::check_proof(
            state,
            meta,
            ACTION,
            &provider.arn,
            &token.subject,
            issued_at,
            &unscoped,
        )?;
    }

    let issued = role_session::issue(
        state,
        meta,
        NewSession {
            principal: role_session::role_principal(role, input.session_name),
            account: &role.account,
            duration: input.session.duration.unwrap_or(3600),
            max_duration: role.max_session_duration,
            now,
            origin: Origin::AssumeRoleWithWebIdentity,
            provider: Some(provider.arn.clone()),
            subject: Some(token.subject.clone()),
            audience: Some(token.audience.clone()),
            source_identity: source_identity.map(str::to_owned),
            context: kept,
            session_policy: input.session.policy,
            policy_arns: &input.session.policy_arns,
            tags: tags.tags,
            transitive_tag_keys: tags.transitive,
            mfa_authenticated_at: None,
            chained: false,
            lineage: Lineage {
                web_identity_token: Some(digest),
                identity_issued_at: Some(issued_at),
                ..Lineage::default()
            },
        },
    )
    .await?;
    let assumed_role_id = issued.assumed_role_id();
    let result = AssumeRoleWithWebIdentityResult {
        credentials: CredentialsXml::of(&issued.credentials),
        subject_from_web_identity_token: &token.subject,
        assumed_role_user: AssumedRoleUserXml::of(&issued.record, &assumed_role_id),
        packed_policy_size: decided.packed,
        // AWS reports an OIDC provider by its ARN.
        provider: &provider.arn,
        audience: &token.audience,
        source_identity,
    };
    Ok(xml::success_written(
        Action::AssumeRoleWithWebIdentity,
        &result,
        &meta.request_id,
    ))
}

/// The account of the role asked for, where the token's provider is looked up; empty (no
/// account has providers there) when `role_arn` is not an ARN.
fn role_account(role_arn: &str) -> &str {
    crate::policy::Arn::parse(role_arn).map_or("", |arn| arn.account)
}

/// The condition keys the token contributes: every claim under the provider's prefix, the
/// provider, and the request's own keys.
fn trust_context(
    state: &Broker,
    provider: &OidcProvider,
    token: &VerifiedToken,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Result<Context, ApiError> {
    let prefix = provider.host_path();
    let mut context = role_session::request_context(&state.config.server.region, meta, now);
    // Condition keys are case-insensitive, so claims whose names differ only in case would
    // land on one key, and a made-up `SUB` could stand in for `sub`: refuse such tokens.
    let mut seen = std::collections::HashSet::with_capacity_and_hasher(
        token.claims.len(),
        foldhash::quality::RandomState::default(),
    );
    for claim in token.claims.keys() {
        if !seen.insert(Caseless(claim)) {
            return Err(ApiError::invalid_identity_token(format!(
                "The token has claims whose names differ only in case ({})",
                crate::encoding::shorten(claim)
            )));
        }
    }
    // `{prefix}:{claim}`, the claim's part rewritten for each claim.
    let mut key = String::with_capacity(prefix.len() + 32);
    key.push_str(prefix);
    key.push(':');
    let stem = key.len();
    for (claim, value) in &token.claims {
        if claim.contains(':') || claim == "aud" || claim == "sub" {
            continue;
        }
        key.truncate(stem);
        key.push_str(claim);
        let key = key.as_str();
        match value {
            Value::String(s) => context.insert(key, s.as_str()),
            Value::Number(n) => context.insert(key, n.to_string()),
            Value::Bool(b) => context.insert(key, b.to_string()),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::String(s) => context.push(key, s.as_str()),
                        Value::Number(n) => context.push(key, n.to_string()),
                        Value::Bool(b) => context.push(key, b.to_string()),
                        _ => {}
                    }
                }
            }
            Value::Null | Value::Object(_) => {}
        }
    }
    for (claim, value) in [("sub", &token.subject), ("aud", &token.audience)] {
        key.truncate(stem);
        key.push_str(claim);
        context.insert(&key, value.as_str());
    }
    context.insert("aws:FederatedProvider", provider.arn.as_str());
    Ok(context)
}

/// A claim name compared and hashed without regard to ASCII case, as condition keys are.
#[derive(Debug, Clone, Copy)]
struct Caseless<'a>(&'a str);

impl PartialEq for Caseless<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}

impl Eq for Caseless<'_> {}

impl std::hash::Hash for Caseless<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for b in self.0.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
        state.write_u8(0xff);
    }
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
fn session_tags(token: &VerifiedToken) -> Result<SessionTags, ApiError> {
    let Some(claim) = token.claims.get(TAGS_CLAIM) else {
        return Ok(SessionTags::default());
    };
    let bad = |why: &str| {
        ApiError::invalid_identity_token(format!("The token's session tags are invalid: {why}"))
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
            if let Some(problem) = role_session::tag_problem(key, value) {
                return Err(bad(problem));
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
