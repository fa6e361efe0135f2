//! `[[saml_providers]]` checked into [`SamlProvider`]s: the IdP metadata is read and parsed at
//! load time (entity id, signing certificates), so `check-config` reports an unreadable file,
//! a document that is not metadata, metadata without a signing certificate, or a certificate
//! that does not parse, each with the entry's line.

use std::time::Duration;

use super::file::ConfigFile;
use super::{Checker, MAX_LEEWAY_SECONDS};
use crate::iam::Iam;
use crate::saml::{IdpMetadata, parse_metadata};

/// A configured SAML identity provider.
#[derive(Debug, Clone)]
pub struct SamlProvider {
    pub account: String,
    pub name: String,
    /// `arn:aws:iam::ACCOUNT:saml-provider/NAME`.
    pub arn: String,
    pub metadata: IdpMetadata,
    pub audience: String,
    pub recipient: String,
    pub leeway: Duration,
    pub allow_sha1: bool,
    /// The file, or IAM's API ([`super::api_providers`]).
    pub origin: crate::iam::Origin,
    /// When the file was read, or when it was created through the API.
    pub created: time::OffsetDateTime,
}

/// IAM's SAML provider names: `[\w._-]+`, at most 128 characters.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl Checker<'_> {
    pub(super) fn check_saml_providers(
        &mut self,
        raw: &ConfigFile,
        iam: &Iam,
    ) -> Vec<SamlProvider> {
        let mut out: Vec<SamlProvider> = Vec::new();
        for (i, p) in raw.saml_providers.iter().enumerate() {
            let line = self.entry_line("saml_providers", i);
            self.known_account(iam, &p.account, line);
            if !valid_name(&p.name) {
                self.issue(
                    line,
                    format!(
                        "SAML provider name {:?} must be 1-128 of [A-Za-z0-9_.-]",
                        p.name
                    ),
                );
            }
            let arn = crate::iam::providers::saml_arn(&p.account, &p.name);
            if out.iter().any(|o| o.arn == arn) {
                self.issue(line, format!("SAML provider {arn} is defined twice"));
            }
            if p.leeway_seconds > MAX_LEEWAY_SECONDS {
                self.issue(
                    line,
                    format!("leeway_seconds must be at most {MAX_LEEWAY_SECONDS}"),
                );
            }
            for (key, value) in [("audience", &p.audience), ("recipient", &p.recipient)] {
                if value.is_empty() || value.len() > 1024 {
                    self.issue(line, format!("{key} must be 1 to 1024 characters"));
                }
            }
            let path = self.path(&p.metadata_file);
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    self.issue(
                        line,
                        format!("cannot read metadata_file {}: {e}", path.display()),
                    );
                    continue;
                }
            };
            let metadata = match parse_metadata(&text) {
                Ok(m) => m,
                Err(e) => {
                    self.issue(line, format!("metadata_file {}: {e}", path.display()));
                    continue;
                }
            };
            out.push(SamlProvider {
                account: p.account.clone(),
                name: p.name.clone(),
                arn,
                metadata,
                audience: p.audience.clone(),
                recipient: p.recipient.clone(),
                leeway: Duration::from_secs(p.leeway_seconds),
                allow_sha1: p.allow_sha1,
                origin: crate::iam::Origin::File(self.name.to_owned()),
                created: time::OffsetDateTime::now_utc(),
            });
        }
        out
    }
}
