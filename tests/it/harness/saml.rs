//! A test SAML identity provider: fresh RSA keys and self-signed certificates made with
//! `openssl`, metadata written to a temporary folder, and responses built with the issuer,
//! audience, recipient, destination, times, NameID and attributes a test chooses, signed for
//! real with `xmlsec1` (the Response, the Assertion, both or neither; SHA-256 or SHA-1; with the
//! metadata's key or another one).

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const ISSUER: &str = "https://adfs.example.com/adfs/services/trust";
pub const AWS_SAML: &str = "https://signin.aws.amazon.com/saml";
pub const NS_ATTRS: &str = "https://aws.amazon.com/SAML/Attributes/";

/// What a signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    Response,
    Assertion,
    Both,
    None,
}

/// The IdP: a folder with its key pairs.
pub struct TestSamlIdp {
    pub dir: tempfile::TempDir,
}

/// One response to build.
#[derive(Debug, Clone)]
pub struct SamlResponse {
    pub issuer: String,
    pub audience: String,
    pub recipient: String,
    pub destination: Option<String>,
    pub issue_instant: OffsetDateTime,
    pub not_before: OffsetDateTime,
    pub not_on_or_after: OffsetDateTime,
    pub name_id: String,
    pub name_id_format: String,
    pub attributes: Vec<(String, Vec<String>)>,
    pub status: String,
    pub method: String,
    pub sign: Sign,
    pub sha1: bool,
    /// Sign with the key the metadata does not list.
    pub wrong_key: bool,
    pub assertion_id: String,
}

fn openssl_keypair(dir: &Path, name: &str) {
    let ok = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        ])
        .arg(format!("/CN={name}"))
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(dir.join(format!("{name}.pem")))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

impl TestSamlIdp {
    pub fn new() -> TestSamlIdp {
        let dir = tempfile::tempdir().unwrap();
        openssl_keypair(dir.path(), "idp");
        openssl_keypair(dir.path(), "rogue");
        let idp = TestSamlIdp { dir };
        std::fs::write(idp.metadata_path(), idp.metadata()).unwrap();
        idp
    }

    pub fn metadata_path(&self) -> PathBuf {
        self.dir.path().join("idp-metadata.xml")
    }

    /// The certificate's base64 body.
    pub fn certificate(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.pem")))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect()
    }

    pub fn metadata(&self) -> String {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{ISSUER}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://adfs.example.com/adfs/ls/"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"#,
            self.certificate("idp")
        )
    }

    /// A response AWS would accept at `now`, for `role` via `provider`.
    pub fn response(&self, now: OffsetDateTime, role: &str, provider: &str) -> SamlResponse {
        SamlResponse {
            issuer: ISSUER.to_owned(),
            audience: AWS_SAML.to_owned(),
            recipient: AWS_SAML.to_owned(),
            destination: Some(AWS_SAML.to_owned()),
            issue_instant: now,
            not_before: now - time::Duration::seconds(5),
            not_on_or_after: now + time::Duration::minutes(5),
            name_id: "CORP\\alice".to_owned(),
            name_id_format: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".to_owned(),
            attributes: vec![
                (
                    format!("{NS_ATTRS}Role"),
                    vec![format!("{role},{provider}")],
                ),
                (
                    format!("{NS_ATTRS}RoleSessionName"),
                    vec!["alice@corp.example".to_owned()],
                ),
                (
                    "department".to_owned(),
                    vec!["eng".to_owned(), "ops".to_owned()],
                ),
            ],
            status: "urn:oasis:names:tc:SAML:2.0:status:Success".to_owned(),
            method: "urn:oasis:names:tc:SAML:2.0:cm:bearer".to_owned(),
            sign: Sign::Assertion,
            sha1: false,
            wrong_key: false,
            assertion_id: format!("_a{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// The unsigned XML of `r`, with signature templates where `with_templates` says.
    pub fn xml(
        &self,
        r: &SamlResponse,
        response_template: bool,
        assertion_template: bool,
    ) -> String {
        let attrs: String = r
            .attributes
            .iter()
            .map(|(name, values)| {
                let vals: String = values
                    .iter()
                    .map(|v| format!("<saml:AttributeValue>{}</saml:AttributeValue>", escape(v)))
                    .collect();
                format!(
                    r#"<saml:Attribute Name="{}">{vals}</saml:Attribute>"#,
                    escape(name)
                )
            })
            .collect();
        let destination = r
            .destination
            .as_ref()
            .map(|d| format!(r#" Destination="{}""#, escape(d)))
            .unwrap_or_default();
        let response_id = format!("_r{}", uuid::Uuid::new_v4().simple());
        let rsig = if response_template {
            self.template(r, &response_id)
        } else {
            String::new()
        };
        let asig = if assertion_template {
            self.template(r, &r.assertion_id)
        } else {
            String::new()
        };
        format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{response_id}" Version="2.0" IssueInstant="{ii}"{destination}><saml:Issuer>{issuer}</saml:Issuer>{rsig}<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status><saml:Assertion ID="{aid}" Version="2.0" IssueInstant="{ii}"><saml:Issuer>{issuer}</saml:Issuer>{asig}<saml:Subject><saml:NameID Format="{fmt}">{nameid}</saml:NameID><saml:SubjectConfirmation Method="{method}"><saml:SubjectConfirmationData NotOnOrAfter="{nooa}" Recipient="{recipient}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{nb}" NotOnOrAfter="{nooa}"><saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AttributeStatement>{attrs}</saml:AttributeStatement><saml:AuthnStatement AuthnInstant="{ii}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement></saml:Assertion></samlp:Response>"#,
            ii = ts(r.issue_instant),
            issuer = escape(&r.issuer),
            status = escape(&r.status),
            aid = r.assertion_id,
            fmt = escape(&r.name_id_format),
            nameid = escape(&r.name_id),
            method = escape(&r.method),
            nooa = ts(r.not_on_or_after),
            nb = ts(r.not_before),
            recipient = escape(&r.recipient),
            audience = escape(&r.audience),
        )
    }

    fn template(&self, r: &SamlResponse, id: &str) -> String {
        let (sig, digest) = if r.sha1 {
            (
                "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
                "http://www.w3.org/2000/09/xmldsig#sha1",
            )
        } else {
            (
                "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                "http://www.w3.org/2001/04/xmlenc#sha256",
            )
        };
        format!(
            r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{sig}"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data></ds:X509Data></ds:KeyInfo></ds:Signature>"##
        )
    }

    /// Signs the first signature template of `xml` with `xmlsec1`.
    pub fn xmlsec_sign(&self, xml: &str, wrong_key: bool) -> String {
        let name = if wrong_key { "rogue" } else { "idp" };
        let input = self
            .dir
            .path()
            .join(format!("in-{}.xml", uuid::Uuid::new_v4().simple()));
        std::fs::write(&input, xml).unwrap();
        let key = self.dir.path().join(format!("{name}.key"));
        let cert = self.dir.path().join(format!("{name}.pem"));
        let out = Command::new("xmlsec1")
            .arg("--sign")
            .arg("--privkey-pem")
            .arg(format!("{},{}", key.display(), cert.display()))
            .args(["--id-attr:ID", "Response", "--id-attr:ID", "Assertion"])
            .arg(&input)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "xmlsec1: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The signed XML of `r`.
    pub fn signed_xml(&self, r: &SamlResponse) -> String {
        match r.sign {
            Sign::None => self.xml(r, false, false),
            Sign::Assertion => self.xmlsec_sign(&self.xml(r, false, true), r.wrong_key),
            Sign::Response => self.xmlsec_sign(&self.xml(r, true, false), r.wrong_key),
            Sign::Both => {
                // Inner first: sign the assertion, then add the Response's template (first in
                // document order, so xmlsec1 signs it next).
                let inner = self.xmlsec_sign(&self.xml(r, false, true), r.wrong_key);
                let response_id = inner
                    .split("ID=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                let template = self.template(r, response_id);
                let with =
                    inner.replacen("</saml:Issuer>", &format!("</saml:Issuer>{template}"), 1);
                self.xmlsec_sign(&with, r.wrong_key)
            }
        }
    }

    /// What a browser posts: the signed response in base64.
    pub fn encode(&self, r: &SamlResponse) -> String {
        b64(&self.signed_xml(r))
    }
}

pub fn b64(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml)
}
