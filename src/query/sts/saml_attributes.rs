//! AWS's SAML attributes and what they mean for a session (IAM User Guide, "Configuring SAML
//! assertions for the authentication response"): the `Role` attribute granting a role with a
//! provider, `RoleSessionName`, `SessionDuration`, `PrincipalTag:*`, `TransitiveTagKeys`,
//! `SourceIdentity`, and the `saml:*` condition keys of the trust policy.

use std::collections::{BTreeMap, HashSet};

use base64::Engine;

use crate::broker::ApiError;
use crate::broker::role_session;
use crate::config::SamlProvider;
use crate::iam::is_name_byte;
use crate::policy::Context;
use crate::saml::VerifiedAssertion;

const ATTRIBUTES: &str = "https://aws.amazon.com/SAML/Attributes/";
const ROLE: &str = "https://aws.amazon.com/SAML/Attributes/Role";
const SESSION_NAME: &str = "https://aws.amazon.com/SAML/Attributes/RoleSessionName";
const SESSION_DURATION: &str = "https://aws.amazon.com/SAML/Attributes/SessionDuration";
const PRINCIPAL_TAG: &str = "https://aws.amazon.com/SAML/Attributes/PrincipalTag:";
const TRANSITIVE: &str = "https://aws.amazon.com/SAML/Attributes/TransitiveTagKeys";
const SOURCE_IDENTITY: &str = "https://aws.amazon.com/SAML/Attributes/SourceIdentity";
const NAMEID_PREFIX: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:";
const UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

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

/// Does the `Role` attribute hold `role,provider` (either order)?
pub(super) fn role_granted(a: &VerifiedAssertion, role: &str, provider: &str) -> bool {
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

pub(super) fn single<'a>(
    a: &'a VerifiedAssertion,
    name: &str,
) -> Result<Option<&'a str>, ApiError> {
    match a.attributes.get(name).map(Vec::as_slice) {
        None => Ok(None),
        Some([one]) => Ok(Some(one.as_str())),
        Some(_) => Err(ApiError::idp_rejected_claim(format!(
            "The attribute {name} must have exactly one value"
        ))),
    }
}

/// `RoleSessionName`: required, `[\w+=,.@-]{2,64}` (AWS's messages).
pub(super) fn session_name(a: &VerifiedAssertion) -> Result<String, ApiError> {
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
pub(super) fn duration(a: &VerifiedAssertion, requested: Option<u32>) -> Result<u32, ApiError> {
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

pub(super) fn source_identity(a: &VerifiedAssertion) -> Result<Option<String>, ApiError> {
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
pub(super) struct SessionTags {
    pub(super) tags: BTreeMap<String, String>,
    pub(super) transitive: Vec<String>,
}

/// `PrincipalTag:KEY` attributes (one value each) and `TransitiveTagKeys`, with STS's tag rules.
pub(super) fn session_tags(a: &VerifiedAssertion) -> Result<SessionTags, ApiError> {
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
pub(super) fn subject_type(a: &VerifiedAssertion) -> String {
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
pub(super) fn saml_keys(
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
