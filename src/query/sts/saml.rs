//! `AssumeRoleWithSAML`: an IdP's base64 SAML response in, temporary credentials out.
//!
//! The path: parameters (STS API model) → the provider named by `PrincipalArn` → the response
//! verified against its metadata ([`crate::saml`]) → the role, which must be in the provider's
//! account and named with the provider in the `Role` attribute → session name, duration cap,
//! tags and source identity from AWS's attributes → the trust policy for `Federated` = the
//! provider ARN with `saml:*` condition keys → the assertion id used once (replay guard, on
//! every replica) → mint, record, XML. Nothing is stored unless every check passed.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use base64::Engine;

use super::Action;
use crate::broker::ApiError;
use crate::broker::Broker;
use crate::broker::RequestMeta;
use crate::broker::role_session::{self, NewSession, RoleAsk};
use crate::broker::saml::{BUSY_RETRY_AFTER_SECONDS, Verify, verify_off_runtime};
use crate::config::SamlProvider;
use crate::iam::is_name_byte;
use crate::policy::{Context, Principal};
use crate::query::Params;
use crate::query::validate::Violations;
use crate::query::xml::{self, AssumeRoleWithSamlResult, AssumedRoleUserXml, CredentialsXml};
use crate::saml::{self, VerifiedAssertion};
use crate::session::Origin;

const ACTION: &str = "sts:AssumeRoleWithSAML";
const ATTRIBUTES: &str = "https://aws.amazon.com/SAML/Attributes/";
const ROLE: &str = "https://aws.amazon.com/SAML/Attributes/Role";
const SESSION_NAME: &str = "https://aws.amazon.com/SAML/Attributes/RoleSessionName";
const SESSION_DURATION: &str = "https://aws.amazon.com/SAML/Attributes/SessionDuration";
const PRINCIPAL_TAG: &str = "https://aws.amazon.com/SAML/Attributes/PrincipalTag:";
const TRANSITIVE: &str = "https://aws.amazon.com/SAML/Attributes/TransitiveTagKeys";
const SOURCE_IDENTITY: &str = "https://aws.amazon.com/SAML/Attributes/SourceIdentity";
const NAMEID_PREFIX: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:";
const UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
/// Longest a used assertion id is remembered (assertions valid longer are refused).
const MAX_REPLAY_WINDOW: i64 = 7 * 24 * 3600;

/// Well-known attribute OIDs and the `saml:` keys AWS names them by (IAM User Guide,
/// "Available keys for SAML-based federation").
const OID_KEYS: [(&str, &str); 14] = [
    ("urn:oid:2.5.4.3", "cn"),
    ("urn:oid:2.5.4.4", "sn"),
    ("urn:oid:2.5.4.42", "givenName"),
    ("urn:oid:0.9.2342.19200300.100.1.1", "uid"),
    ("urn:oid:0.9.2342.19200300.100.1.3", "mail"),
    ("urn:oid:2.5.4.45", "x500UniqueIdentifier"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.1", "eduPersonAffiliation"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.2", "eduPersonNickname"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.3", "eduPersonOrgDN"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.4", "eduPersonOrgUnitDN"),
    (
        "urn:oid:1.3.6.1.4.1.5923.1.1.1.5",
        "eduPersonPrimaryAffiliation",
    ),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.6", "eduPersonPrincipalName"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.7", "eduPersonEntitlement"),
    (
        "urn:oid:1.3.6.1.4.1.5923.1.1.1.9",
        "eduPersonScopedAffiliation",
    ),
];

/// Parameters after validation.
struct Input<'a> {
    role_arn: &'a str,
    principal_arn: &'a str,
    assertion: &'a str,
    duration: Option<u32>,
    policy: Option<&'a str>,
    policy_arns: Vec<&'a str>,
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
    let duration = v.duration_seconds(params);
    let policy = v.session_policy(params);
    let policy_arns = v.policy_arns(params)?;
    v.finish()?;
    Ok(Input {
        role_arn,
        principal_arn,
        assertion,
        duration,
        policy,
        policy_arns,
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
    let now = role_session::now(state);
    let verified = verify_off_runtime(&state.saml_slots, provider, input.assertion, now)
        .await
        .map_err(|e| match e {
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
        })?;

    let session_name = session_name(&verified)?;
    crate::audit::note(|n| {
        n.principal = Some(provider.arn.clone());
        n.subject = Some(crate::audit::bounded(&verified.name_id));
        n.session_name = Some(crate::audit::bounded(&session_name));
    });
    let duration = duration(&verified, input.duration)?;
    let source_identity = source_identity(&verified)?;
    let tags = session_tags(&verified)?;
    let subject_type = subject_type(&verified);
    let qualifier = name_qualifier(&verified.issuer, &provider.account, &provider.name);
    let mut context = role_session::request_context(state, meta, now);
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
            policy: input.policy,
            policy_arns: &input.policy_arns,
            tags: &tags.tags,
            transitive: &tags.transitive,
            requested_tags: &tags.tags,
            source_identity: source_identity.as_deref(),
        },
        |role| role_granted(&verified, &role.arn, &provider.arn),
    )?;
    let role = decided.role;
    let packed = decided.packed;

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
            session_policy: input.policy,
            policy_arns: &input.policy_arns,
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
    xml::success(Action::AssumeRoleWithSAML, &result, &meta.request_id)
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

/// Does the `Role` attribute hold `role,provider` (either order)?
fn role_granted(a: &VerifiedAssertion, role: &str, provider: &str) -> bool {
    a.attributes.get(ROLE).is_some_and(|values| {
        values.iter().any(|v| {
            let mut parts = v.split(',').map(str::trim);
            match (parts.next(), parts.next(), parts.next()) {
                (Some(x), Some(y), None) => {
                    (x == role && y == provider) || (x == provider && y == role)
                }
                _ => false,
            }
        })
    })
}

fn single<'a>(a: &'a VerifiedAssertion, name: &str) -> Result<Option<&'a str>, ApiError> {
    match a.attributes.get(name).map(Vec::as_slice) {
        None => Ok(None),
        Some([one]) => Ok(Some(one.as_str())),
        Some(_) => Err(ApiError::idp_rejected_claim(format!(
            "The attribute {name} must have exactly one value"
        ))),
    }
}

/// `RoleSessionName`: required, `[\w+=,.@-]{2,64}` (AWS's messages).
fn session_name(a: &VerifiedAssertion) -> Result<String, ApiError> {
    let name = single(a, SESSION_NAME)?.ok_or_else(|| {
        ApiError::invalid_identity_token("RoleSessionName is required in AuthnResponse")
    })?;
    if !(2..=64).contains(&name.len()) || !name.bytes().all(is_name_byte) {
        return Err(ApiError::invalid_identity_token(
            "RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}",
        ));
    }
    Ok(name.to_owned())
}

/// The session's length: `DurationSeconds` (default one hour), capped by `SessionDuration`.
fn duration(a: &VerifiedAssertion, requested: Option<u32>) -> Result<u32, ApiError> {
    let requested = requested.unwrap_or(3600);
    let Some(cap) = single(a, SESSION_DURATION)? else {
        return Ok(requested);
    };
    let cap = cap
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|c| (900..=43_200).contains(c))
        .ok_or_else(|| {
            ApiError::idp_rejected_claim("SessionDuration must be an integer from 900 to 43200")
        })?;
    Ok(requested.min(cap))
}

fn source_identity(a: &VerifiedAssertion) -> Result<Option<String>, ApiError> {
    let Some(si) = single(a, SOURCE_IDENTITY)? else {
        return Ok(None);
    };
    if !(2..=64).contains(&si.len())
        || !si.bytes().all(is_name_byte)
        || si.to_ascii_lowercase().starts_with("aws:")
    {
        return Err(ApiError::idp_rejected_claim(
            "SourceIdentity must match [\\w+=,.@-]{2,64} and not start with aws:",
        ));
    }
    Ok(Some(si.to_owned()))
}

#[derive(Debug, Default)]
struct SessionTags {
    tags: BTreeMap<String, String>,
    transitive: Vec<String>,
}

/// `PrincipalTag:KEY` attributes (one value each) and `TransitiveTagKeys`, with STS's tag rules.
fn session_tags(a: &VerifiedAssertion) -> Result<SessionTags, ApiError> {
    let bad = |why: &str| ApiError::idp_rejected_claim(format!("Invalid session tags: {why}"));
    let mut out = SessionTags::default();
    let mut lower = HashSet::new();
    for (name, values) in &a.attributes {
        let Some(key) = name.strip_prefix(PRINCIPAL_TAG) else {
            continue;
        };
        let [value] = values.as_slice() else {
            return Err(bad("each PrincipalTag needs exactly one value"));
        };
        if let Some(problem) = role_session::tag_problem(key, value) {
            return Err(bad(problem));
        }
        if !lower.insert(key.to_lowercase()) {
            return Err(bad("two tag keys differ only in case"));
        }
        out.tags.insert(key.to_owned(), value.clone());
    }
    if out.tags.len() > 50 {
        return Err(bad("at most 50 tags"));
    }
    for key in a.attributes.get(TRANSITIVE).into_iter().flatten() {
        if !lower.contains(&key.to_lowercase()) {
            return Err(bad("a transitive tag key is not one of the tags"));
        }
        out.transitive.push(key.clone());
    }
    Ok(out)
}

/// `SubjectType`: `persistent`/`transient` (and other SAML 2.0 formats) without their URN
/// prefix, any other format as its full URI.
fn subject_type(a: &VerifiedAssertion) -> String {
    let format = a.name_id_format.as_deref().unwrap_or(UNSPECIFIED);
    match format.strip_prefix(NAMEID_PREFIX) {
        Some(short @ ("persistent" | "transient")) => short.to_owned(),
        _ => format.to_owned(),
    }
}

/// `NameQualifier`: `BASE64(SHA1(issuer + account + "/" + provider name))`, as AWS documents.
pub fn name_qualifier(issuer: &str, account: &str, provider_name: &str) -> String {
    let digest = openssl::sha::sha1(format!("{issuer}{account}/{provider_name}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// The `saml:` condition keys: AWS's fixed ones and every other attribute by name (well-known
/// OIDs also by their short name), multi-valued as asserted.
fn saml_keys(
    context: &mut Context,
    provider: &SamlProvider,
    a: &VerifiedAssertion,
    subject_type: &str,
    qualifier: &str,
) -> Result<(), ApiError> {
    context.insert("saml:aud", a.recipient.as_str());
    context.insert("saml:iss", a.issuer.as_str());
    context.insert("saml:sub", a.name_id.as_str());
    context.insert("saml:sub_type", subject_type);
    context.insert("saml:namequalifier", qualifier);
    context.insert(
        "saml:doc",
        format!("{}/{}", provider.account, provider.name),
    );
    // Condition keys are case-insensitive: attributes whose keys collide are refused, so an
    // IdP-controlled `Mail` cannot stand in for `mail`, nor any attribute for a fixed key.
    let mut seen: HashSet<String> = ["aud", "iss", "sub", "sub_type", "namequalifier", "doc"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    for (name, values) in &a.attributes {
        if name.starts_with(ATTRIBUTES) {
            continue;
        }
        let short = OID_KEYS
            .iter()
            .find(|(oid, _)| oid == name)
            .map_or(name.as_str(), |(_, short)| short);
        if !seen.insert(short.to_ascii_lowercase()) {
            return Err(ApiError::invalid_identity_token(format!(
                "The assertion has attributes whose condition keys collide (saml:{})",
                crate::encoding::shorten(short)
            )));
        }
        let key = format!("saml:{short}");
        for v in values {
            context.push(&key, v.as_str());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_qualifier_as_aws_documents() {
        // BASE64(SHA1("https://example.com/saml" + "123456789012" + "/MySAMLIdP"))
        let expected = base64::engine::general_purpose::STANDARD.encode(openssl::sha::sha1(
            b"https://example.com/saml123456789012/MySAMLIdP",
        ));
        assert_eq!(
            name_qualifier("https://example.com/saml", "123456789012", "MySAMLIdP"),
            expected
        );
        assert_eq!(expected.len(), 28);
    }
}
