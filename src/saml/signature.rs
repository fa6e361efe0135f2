//! The signature layer: which parts of a response are signed, by whom, and the signed subset.
//! Before any cryptography the raw document must have the shape of an honest IdP response, the
//! shape every known signature-wrapping attack breaks ([`check_response_shape`]); then samael
//! (xmlsec) verifies every signature with the metadata's certificates, never a key the document
//! carries, and reduces the document to the signed content ([`verify_signatures`]). Everything
//! the broker reads later comes from that reduced document.

use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode,
};

use super::dom::{self, Element, Node};
use super::error::SamlError;
use super::{NS_ASSERTION, NS_DSIG, NS_PROTOCOL, NS_XMLENC};

const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// SHA-2 signature algorithms, always allowed.
const ALGORITHMS: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// Canonicalization and transform algorithms a SAML signature may use.
const C14N: [&str; 6] = [
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
    "http://www.w3.org/2006/12/xml-c14n11",
    "http://www.w3.org/2006/12/xml-c14n11#WithComments",
];
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// A response whose signatures verified.
#[derive(Debug)]
pub struct Signed {
    /// The Response as received: only for checks that can refuse (status, destination,
    /// issuer), never as a source of data.
    pub raw: Element,
    /// The signed Response (without unsigned parts) when a signature covers the Response.
    pub response: Option<Element>,
    /// The signed Assertion.
    pub assertion: Element,
}

/// Verifies the signatures of a response document against `certificates`.
pub fn verify_signatures(
    xml: &str,
    certificates: &[CertificateDer],
    allow_sha1: bool,
) -> Result<Signed, SamlError> {
    if certificates.is_empty() {
        // Never reached with checked configuration; refuse rather than skip verification.
        return Err(SamlError::BadSignature);
    }
    let Shape {
        raw,
        response_id,
        assertion_id,
    } = check_response_shape(xml, allow_sha1)?;

    let allowed = (!allow_sha1).then_some(&ALGORITHMS[..]);
    let reduced = Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        certificates,
        ReduceMode::ValidateAndMarkNoAncestors,
        allowed,
    )
    .map_err(|e| {
        tracing::debug!(error = %e, "SAML signature verification failed");
        SamlError::BadSignature
    })?;
    let reduced = dom::parse(&reduced).map_err(|_| SamlError::BadSignature)?;

    let (response, assertion) = if reduced.is(NS_PROTOCOL, "Response") {
        if reduced.attr("ID") != Some(response_id.as_str()) {
            return Err(SamlError::Unsigned);
        }
        let a = {
            let mut found = reduced.children_named(NS_ASSERTION, "Assertion");
            let (Some(a), None) = (found.next(), found.next()) else {
                return Err(SamlError::Unsigned);
            };
            a.clone()
        };
        (Some(reduced), a)
    } else if reduced.is(NS_ASSERTION, "Assertion") {
        (None, reduced)
    } else {
        return Err(SamlError::Unsigned);
    };
    if assertion.attr("ID") != Some(assertion_id.as_str()) {
        return Err(SamlError::Unsigned);
    }
    Ok(Signed {
        raw,
        response,
        assertion,
    })
}

/// A response that passed the shape rules, with the ids its signatures reference.
#[derive(Debug)]
pub struct Shape {
    /// The Response as received.
    pub raw: Element,
    pub response_id: String,
    pub assertion_id: String,
}

/// The shape rules alone, before any cryptography: the parsed document and its ids, or why it
/// cannot be an honest IdP response. One `samlp:Response` root, exactly one `saml:Assertion`
/// anywhere (its direct child), no encrypted assertion, and signatures only as direct children
/// of the Response or the Assertion, each with exactly one `Reference` to its own parent (`#ID`,
/// or `""` for the whole document), only enveloped-signature and canonicalization transforms
/// (no XPath, XPointer or XSLT), and allowed algorithms (SHA-2 RSA/ECDSA; RSA-SHA1 only when
/// the provider allows it).
pub fn check_response_shape(xml: &str, allow_sha1: bool) -> Result<Shape, SamlError> {
    let raw = dom::parse(xml)?;
    if !raw.is(NS_PROTOCOL, "Response") {
        return Err(SamlError::NotAResponse);
    }
    if has_comment(&raw) {
        // Honest IdPs write none; a comment splitting a signed value is the classic truncation
        // trick, and samael's matching of the signed content back to a document whose values
        // comments split backtracks exponentially over identical siblings.
        return Err(SamlError::Malformed(
            "comments and processing instructions are not allowed in a response".into(),
        ));
    }
    if raw.attr("Version") != Some("2.0") {
        return Err(SamlError::Malformed(
            "the Response version is not 2.0".into(),
        ));
    }
    if !raw
        .descendants_named(NS_ASSERTION, "EncryptedAssertion")
        .is_empty()
        || !raw.descendants_named(NS_XMLENC, "EncryptedData").is_empty()
    {
        return Err(SamlError::Encrypted);
    }
    let assertions = raw.descendants_named(NS_ASSERTION, "Assertion");
    if assertions.len() != 1 {
        return Err(SamlError::AssertionCount(assertions.len()));
    }
    let Some(assertion) = raw.children_named(NS_ASSERTION, "Assertion").next() else {
        return Err(SamlError::Malformed(
            "the assertion is not a direct child of the Response".into(),
        ));
    };
    let response_id = raw.attr("ID").unwrap_or_default().to_owned();
    let assertion_id = assertion.attr("ID").unwrap_or_default().to_owned();
    if response_id.is_empty() || assertion_id.is_empty() {
        return Err(SamlError::Malformed(
            "the Response and Assertion need an ID".into(),
        ));
    }

    let signatures = raw.descendants_named(NS_DSIG, "Signature");
    if signatures.is_empty() {
        return Err(SamlError::Unsigned);
    }
    let on_response: Vec<_> = raw.children_named(NS_DSIG, "Signature").collect();
    let on_assertion: Vec<_> = assertion.children_named(NS_DSIG, "Signature").collect();
    if on_response.len() + on_assertion.len() != signatures.len()
        || on_response.len() > 1
        || on_assertion.len() > 1
    {
        return Err(SamlError::SignatureShape(
            "signatures may only sign the Response or the Assertion they are part of",
        ));
    }
    for sig in &on_response {
        check_shape(sig, &response_id, true, allow_sha1)?;
    }
    for sig in &on_assertion {
        check_shape(sig, &assertion_id, false, allow_sha1)?;
    }
    Ok(Shape {
        raw,
        response_id,
        assertion_id,
    })
}

/// Does the element's subtree hold a comment or processing instruction?
fn has_comment(root: &Element) -> bool {
    let mut stack = vec![root];
    while let Some(e) = stack.pop() {
        for child in &e.children {
            match child {
                Node::Element(c) => stack.push(c),
                Node::Other => return true,
                Node::Text(_) => {}
            }
        }
    }
    false
}

/// The shape rules for one `ds:Signature` whose parent has id `parent_id`; `URI=""` (the whole
/// document) only where the parent is the document.
fn check_shape(
    sig: &Element,
    parent_id: &str,
    parent_is_root: bool,
    allow_sha1: bool,
) -> Result<(), SamlError> {
    let shape = SamlError::SignatureShape;
    let signed_info = sig
        .only_child(NS_DSIG, "SignedInfo")?
        .ok_or(shape("no SignedInfo"))?;
    if sig.children_named(NS_DSIG, "Object").next().is_some() {
        return Err(shape("ds:Object is not allowed"));
    }
    let c14n = signed_info
        .only_child(NS_DSIG, "CanonicalizationMethod")?
        .and_then(|m| m.attr("Algorithm"))
        .ok_or(shape("no CanonicalizationMethod"))?;
    if !C14N.contains(&c14n) {
        return Err(shape("canonicalization method not allowed"));
    }
    let method = signed_info
        .only_child(NS_DSIG, "SignatureMethod")?
        .and_then(|m| m.attr("Algorithm"))
        .ok_or(shape("no SignatureMethod"))?;
    let method_ok = ALGORITHMS.iter().any(|a| a.signature_uri() == method)
        || (allow_sha1 && method == RSA_SHA1);
    if !method_ok {
        return Err(SamlError::WeakAlgorithm(super::error::shorten(method, 80)));
    }
    let mut references = signed_info.children_named(NS_DSIG, "Reference");
    let (Some(reference), None) = (references.next(), references.next()) else {
        return Err(shape("a signature must have exactly one Reference"));
    };
    match reference.attr("URI") {
        Some("") if parent_is_root => {}
        Some(uri) if uri.strip_prefix('#') == Some(parent_id) => {}
        _ => {
            return Err(shape(
                "the signature does not reference the element it is part of",
            ));
        }
    }
    let digest = reference
        .only_child(NS_DSIG, "DigestMethod")?
        .and_then(|m| m.attr("Algorithm"))
        .ok_or(shape("no DigestMethod"))?;
    let digest_ok =
        ALGORITHMS.iter().any(|a| a.digest_uri() == digest) || (allow_sha1 && digest == SHA1);
    if !digest_ok {
        return Err(SamlError::WeakAlgorithm(super::error::shorten(digest, 80)));
    }
    if let Some(transforms) = reference.only_child(NS_DSIG, "Transforms")? {
        let list: Vec<_> = transforms.elements().collect();
        if list.len() > 2 {
            return Err(shape("too many transforms"));
        }
        for t in list {
            let ok = t.is(NS_DSIG, "Transform")
                && t.attr("Algorithm")
                    .is_some_and(|a| a == ENVELOPED || C14N.contains(&a))
                && t.elements().all(|e| e.name == "InclusiveNamespaces");
            if !ok {
                return Err(shape("transform not allowed"));
            }
        }
    }
    Ok(())
}
