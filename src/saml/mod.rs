//! SAML 2.0 federation (`AssumeRoleWithSAML`): IdP metadata, and the verification of a base64
//! `samlp:Response` posted by a browser or CLI helper, as AWS applies SAML 2.0 core and profiles
//! (Web Browser SSO, bearer). Pure: no HTTP, async runtime or store; time is a parameter. Layers,
//! each refusing on its own: [`dom`] → [`signature`] → [`assertion`]. Encrypted assertions and
//! SP-initiated `InResponseTo` matching are not supported.

pub mod assertion;
pub mod dom;
pub mod error;
pub mod metadata;
pub mod signature;

use base64::Engine;
use time::OffsetDateTime;

pub use assertion::{Expect, VerifiedAssertion, check_assertion};
pub use error::{SamlError, SamlErrorKind};
pub use metadata::{IdpMetadata, parse_metadata};
pub use signature::{Signed, verify_signatures};

pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const NS_XMLENC: &str = "http://www.w3.org/2001/04/xmlenc#";

/// Longest `SAMLAssertion` (base64 characters), as the STS API model says.
pub const MAX_ASSERTION_CHARS: usize = 100_000;

/// How one provider's responses are checked.
#[derive(Debug, Clone)]
pub struct Trust<'a> {
    pub metadata: &'a IdpMetadata,
    pub audience: &'a str,
    pub recipient: &'a str,
    pub leeway_seconds: i64,
    pub allow_sha1: bool,
}

/// Decodes the posted base64 (line breaks tolerated) into the response's XML text.
pub fn decode(encoded: &str) -> Result<String, SamlError> {
    if encoded.len() > MAX_ASSERTION_CHARS {
        return Err(SamlError::TooComplex("the SAML response is too large"));
    }
    let compact: String = encoded
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n' | ' ' | '\t'))
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| SamlError::NotBase64)?;
    String::from_utf8(bytes).map_err(|_| SamlError::NotUtf8)
}

/// Decodes, verifies and checks a posted response.
pub fn verify(
    encoded: &str,
    trust: &Trust<'_>,
    now: OffsetDateTime,
) -> Result<VerifiedAssertion, SamlError> {
    let xml = decode(encoded)?;
    let signed = verify_signatures(&xml, &trust.metadata.certificates, trust.allow_sha1)?;
    check_assertion(
        &signed,
        &Expect {
            issuer: &trust.metadata.entity_id,
            audience: trust.audience,
            recipient: trust.recipient,
            leeway: trust.leeway_seconds,
            now,
        },
    )
}
