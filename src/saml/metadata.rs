//! IdP metadata (SAML 2.0 metadata, `md:EntityDescriptor`): the issuer's entity id and its
//! signing certificates. Metadata without a usable signing certificate is refused: a verifier
//! with no key must never end up "verifying" nothing (samael skips verification then).

use base64::Engine;
use samael::crypto::CertificateDer;

use super::dom;
use super::error::SamlError;
use super::{NS_DSIG, NS_METADATA};

/// Largest metadata document read (IAM accepts up to 10,000,000 characters).
pub const MAX_METADATA_BYTES: usize = 10_000_000;
/// Most signing certificates kept (rotation needs two or three).
pub const MAX_CERTIFICATES: usize = 10;

/// What the broker takes from an IdP's metadata.
#[derive(Clone)]
pub struct IdpMetadata {
    /// `entityID`: the `Issuer` of its responses.
    pub entity_id: String,
    /// DER certificates whose keys may sign responses.
    pub certificates: Vec<CertificateDer>,
}

impl std::fmt::Debug for IdpMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdpMetadata")
            .field("entity_id", &self.entity_id)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

/// Reads metadata XML: one `EntityDescriptor` with an `IDPSSODescriptor` whose `KeyDescriptor`s
/// with `use="signing"` (or no `use`) hold X.509 certificates of RSA (at least 1024 bits) or EC
/// keys.
pub fn parse_metadata(xml: &str) -> Result<IdpMetadata, SamlError> {
    let bad = |m: &str| SamlError::Metadata(m.to_owned());
    if xml.len() > MAX_METADATA_BYTES {
        return Err(bad("metadata is larger than 10,000,000 bytes"));
    }
    let root = dom::parse(xml.trim_start_matches('\u{feff}'))
        .map_err(|e| SamlError::Metadata(format!("not SAML metadata: {e}")))?;
    if !root.is(NS_METADATA, "EntityDescriptor") {
        return Err(bad(
            "not SAML metadata: the root element must be md:EntityDescriptor",
        ));
    }
    let entity_id = root
        .attr("entityID")
        .filter(|e| !e.trim().is_empty())
        .ok_or_else(|| bad("the EntityDescriptor has no entityID"))?
        .to_owned();
    let idps: Vec<_> = root
        .children_named(NS_METADATA, "IDPSSODescriptor")
        .collect();
    if idps.is_empty() {
        return Err(bad("the metadata has no IDPSSODescriptor"));
    }
    let mut certificates = Vec::new();
    for idp in idps {
        for kd in idp.children_named(NS_METADATA, "KeyDescriptor") {
            if !matches!(kd.attr("use"), None | Some("signing")) {
                continue;
            }
            for key_info in kd.children_named(NS_DSIG, "KeyInfo") {
                for data in key_info.children_named(NS_DSIG, "X509Data") {
                    for cert in data.children_named(NS_DSIG, "X509Certificate") {
                        let text = cert
                            .text()
                            .map_err(|_| bad("an X509Certificate holds markup or a comment"))?;
                        certificates.push(certificate(&text)?);
                    }
                }
            }
        }
    }
    if certificates.is_empty() {
        return Err(bad(
            "no signing certificate: the IDPSSODescriptor needs a KeyDescriptor use=\"signing\" with ds:X509Certificate",
        ));
    }
    if certificates.len() > MAX_CERTIFICATES {
        return Err(bad("more than 10 signing certificates"));
    }
    Ok(IdpMetadata {
        entity_id,
        certificates,
    })
}

/// One base64 certificate: decodes, parses as X.509, checks the key.
fn certificate(text: &str) -> Result<CertificateDer, SamlError> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| SamlError::Metadata("a signing certificate is not valid base64".into()))?;
    let x509 = openssl::x509::X509::from_der(&der).map_err(|_| {
        SamlError::Metadata("a signing certificate is not a parsable X.509 certificate".into())
    })?;
    let key = x509.public_key().map_err(|_| {
        SamlError::Metadata("a signing certificate's public key cannot be read".into())
    })?;
    match key.id() {
        openssl::pkey::Id::RSA if key.bits() >= 1024 => {}
        openssl::pkey::Id::RSA => {
            return Err(SamlError::Metadata(
                "a signing certificate's RSA key is shorter than 1024 bits".into(),
            ));
        }
        openssl::pkey::Id::EC => {}
        _ => {
            return Err(SamlError::Metadata(
                "a signing certificate's key is neither RSA nor EC".into(),
            ));
        }
    }
    Ok(CertificateDer::from(der))
}
