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
    verify_decoded(&decode(encoded)?, trust, now)
}

/// Verifies and checks a response already decoded ([`decode`]).
pub fn verify_decoded(
    xml: &str,
    trust: &Trust<'_>,
    now: OffsetDateTime,
) -> Result<VerifiedAssertion, SamlError> {
    let signed = verify_signatures(xml, &trust.metadata.certificates, trust.allow_sha1)?;
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

/// The NameID a decoded response *claims*, checking nothing: no signature, no shape rule.
/// Good only as a key to look at a rate limit before paying for verification, never as an
/// identity. `None` unless the root is a Response whose one direct `Assertion` has a `Subject`
/// with one uninterrupted `NameID` (where [`check_assertion`] reads it).
pub fn claimed_name_id(xml: &str) -> Option<String> {
    let root = dom::parse(xml).ok()?;
    if !root.is(NS_PROTOCOL, "Response") {
        return None;
    }
    let mut assertions = root.children_named(NS_ASSERTION, "Assertion");
    let (Some(assertion), None) = (assertions.next(), assertions.next()) else {
        return None;
    };
    let subject = assertion.only_child(NS_ASSERTION, "Subject").ok()??;
    let name_id = subject.only_child(NS_ASSERTION, "NameID").ok()??;
    name_id.text().ok()
}

#[cfg(test)]
mod tests {
    use super::claimed_name_id;

    fn response(assertions: &str) -> String {
        format!(
            "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
             xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"r\" Version=\"2.0\">\
             {assertions}</samlp:Response>"
        )
    }

    const ALICE: &str = "<saml:Assertion ID=\"a\"><saml:Subject><saml:NameID>alice@example.com\
        </saml:NameID></saml:Subject></saml:Assertion>";

    #[test]
    fn the_claimed_name_id_is_read_where_verification_reads_it() {
        assert_eq!(
            claimed_name_id(&response(ALICE)).as_deref(),
            Some("alice@example.com")
        );
        // Two assertions, none, markup inside the NameID, not a Response: nothing claimed.
        assert_eq!(claimed_name_id(&response(&ALICE.repeat(2))), None);
        assert_eq!(claimed_name_id(&response("")), None);
        let split = ALICE.replace("alice@", "alice<!-- x -->@");
        assert_eq!(claimed_name_id(&response(&split)), None);
        assert_eq!(claimed_name_id(ALICE), None);
        assert_eq!(claimed_name_id("not xml <"), None);
    }
}
