//! Identity providers created through IAM's management API (docs/operations.md, "Identity
//! providers through IAM's API"): OpenID Connect providers by URL and SAML providers by name,
//! stored in the account's [`AccountDocument`] next to its roles and policies; the checks on
//! every input (IAM's bounds; URLs through the same check the file's providers get, metadata
//! through [`crate::saml::parse_metadata`]); the changes as pure functions ([`apply`]). No I/O.
//!
//! An OIDC provider is keyed by what follows `oidc-provider/` in its ARN (host and path, no
//! scheme or port): the caller computes it as the file's providers' ARNs are computed. Each
//! account has its own providers, as in IAM: another account's provider of the same URL is
//! no obstacle. The file's providers are the read-only base layer: their URLs and names
//! cannot be created here in their account, and they cannot be changed or deleted here.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::api::{AccountDocument, IamApiError, Tag, add_tags, bounded, constraint, remove_tags};
use crate::encoding::shorten;

/// OIDC providers one account may hold, file and API together (IAM's default quota).
pub const MAX_OIDC_PROVIDERS: usize = 100;
/// SAML providers one account may hold, file and API together (IAM's default quota).
pub const MAX_SAML_PROVIDERS: usize = 100;
/// Client ids of one OIDC provider.
pub const MAX_CLIENT_IDS: usize = 100;
/// Thumbprints of one OIDC provider.
pub const MAX_THUMBPRINTS: usize = 5;
/// An OIDC provider's URL, characters.
pub const MAX_URL: usize = 255;
/// A client id, characters.
pub const MAX_CLIENT_ID: usize = 255;
/// `SAMLMetadataDocument`'s bounds, characters (IAM's model).
pub const METADATA_LENGTH: std::ops::RangeInclusive<usize> = 1000..=10_000_000;
/// A SAML provider's name, characters.
pub const MAX_SAML_NAME: usize = 128;

/// An OpenID Connect provider created through the API, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredOidcProvider {
    /// The URL as given (`https://host/path`): the issuer tokens must name exactly.
    pub url: String,
    #[serde(default)]
    pub client_ids: Vec<String>,
    /// Forty hex digits each, in upper case; kept and shown, not used to verify (keys come
    /// from the issuer over verified TLS, as IAM does for most providers today).
    #[serde(default)]
    pub thumbprints: Vec<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Unix seconds.
    pub created: i64,
}

/// A SAML provider created through the API, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSamlProvider {
    pub name: String,
    /// The IdP's metadata XML as given.
    pub metadata: String,
    /// The metadata root's `validUntil` as IAM shows it, read once when the metadata is given
    /// (listing providers parses nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Unix seconds.
    pub created: i64,
}

/// The file's providers, as [`apply`] needs them.
#[derive(Debug, Clone, Default)]
pub struct FileProviders {
    pub account: String,
    /// The configuration file that defines them.
    pub source: String,
    /// Host and path of every OIDC provider the file defines in the account, and of the other
    /// spellings they accept (other accounts register their own provider for an issuer).
    pub oidc: HashSet<String>,
    /// The account's SAML provider names, in lowercase.
    pub saml: HashSet<String>,
    /// How many OIDC providers the file defines in the account.
    pub oidc_in_account: usize,
}

/// A change to an account's identity providers. OIDC providers are named by the host and
/// path of their ARN, SAML providers by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderChange {
    CreateOidc {
        host_path: String,
        provider: StoredOidcProvider,
    },
    /// Adding a client id it has changes nothing.
    AddClientId {
        host_path: String,
        client_id: String,
    },
    /// Removing a client id it does not have changes nothing (as IAM).
    RemoveClientId {
        host_path: String,
        client_id: String,
    },
    UpdateThumbprints {
        host_path: String,
        thumbprints: Vec<String>,
    },
    DeleteOidc {
        host_path: String,
    },
    TagOidc {
        host_path: String,
        tags: Vec<Tag>,
    },
    UntagOidc {
        host_path: String,
        keys: Vec<String>,
    },
    CreateSaml(StoredSamlProvider),
    UpdateSaml {
        name: String,
        metadata: String,
        valid_until: Option<String>,
    },
    DeleteSaml {
        name: String,
    },
    TagSaml {
        name: String,
        tags: Vec<Tag>,
    },
    UntagSaml {
        name: String,
        keys: Vec<String>,
    },
}

/// The ARN of the OIDC provider `host_path` of `account`.
pub fn oidc_arn(account: &str, host_path: &str) -> String {
    format!("arn:aws:iam::{account}:oidc-provider/{host_path}")
}

/// The ARN of the SAML provider `name` of `account`.
pub fn saml_arn(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:saml-provider/{name}")
}

/// IAM's `NoSuchEntity` for an OIDC provider.
pub fn no_such_oidc(arn: &str) -> IamApiError {
    IamApiError::NoSuchEntity(format!(
        "OpenIDConnect Provider not found for arn {}",
        shorten(arn)
    ))
}

/// IAM's `NoSuchEntity` for a SAML provider.
pub fn no_such_saml(arn: &str) -> IamApiError {
    IamApiError::NoSuchEntity(format!("SAMLProvider not found for arn {}", shorten(arn)))
}

/// Applies `change` to `doc`'s providers: the next document. Refused changes leave nothing
/// behind (the caller keeps `doc`).
pub fn apply(
    doc: &AccountDocument,
    change: &ProviderChange,
    file: &FileProviders,
) -> Result<(AccountDocument, ()), IamApiError> {
    let mut next = doc.clone();
    let account = &file.account;
    match change {
        ProviderChange::CreateOidc {
            host_path,
            provider,
        } => {
            if file.oidc.contains(host_path) {
                return Err(IamApiError::AlreadyExists(format!(
                    "Provider with url {} already exists: it is defined in the configuration file {}.",
                    shorten(&provider.url),
                    file.source
                )));
            }
            if next.oidc_providers.contains_key(host_path) {
                return Err(IamApiError::AlreadyExists(format!(
                    "Provider with url {} already exists.",
                    shorten(&provider.url)
                )));
            }
            if next.oidc_providers.len() + file.oidc_in_account >= MAX_OIDC_PROVIDERS {
                return Err(IamApiError::LimitExceeded(format!(
                    "Cannot exceed quota for OpenIdConnectProvidersPerAccount: {MAX_OIDC_PROVIDERS}"
                )));
            }
            next.oidc_providers
                .insert(host_path.clone(), provider.clone());
        }
        ProviderChange::AddClientId { host_path, .. }
        | ProviderChange::RemoveClientId { host_path, .. }
        | ProviderChange::UpdateThumbprints { host_path, .. }
        | ProviderChange::DeleteOidc { host_path }
        | ProviderChange::TagOidc { host_path, .. }
        | ProviderChange::UntagOidc { host_path, .. } => {
            let arn = oidc_arn(account, host_path);
            if file.oidc.contains(host_path) && !next.oidc_providers.contains_key(host_path) {
                return Err(IamApiError::Unmodifiable(format!(
                    "Cannot modify OpenID Connect provider {arn}: it is defined in the \
                     configuration file {}; change it there.",
                    file.source
                )));
            }
            if let ProviderChange::DeleteOidc { .. } = change {
                next.oidc_providers
                    .remove(host_path)
                    .ok_or_else(|| no_such_oidc(&arn))?;
                return Ok((next, ()));
            }
            let p = next
                .oidc_providers
                .get_mut(host_path)
                .ok_or_else(|| no_such_oidc(&arn))?;
            match change {
                ProviderChange::AddClientId { client_id, .. }
                    if !p.client_ids.contains(client_id) =>
                {
                    if p.client_ids.len() >= MAX_CLIENT_IDS {
                        return Err(IamApiError::LimitExceeded(format!(
                            "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: \
                             {MAX_CLIENT_IDS}"
                        )));
                    }
                    p.client_ids.push(client_id.clone());
                }
                ProviderChange::RemoveClientId { client_id, .. } => {
                    p.client_ids.retain(|c| c != client_id);
                }
                ProviderChange::UpdateThumbprints { thumbprints, .. } => {
                    p.thumbprints.clone_from(thumbprints);
                }
                ProviderChange::TagOidc { tags, .. } => add_tags(&mut p.tags, tags)?,
                ProviderChange::UntagOidc { keys, .. } => {
                    remove_tags(&mut p.tags, keys);
                }
                _ => {}
            }
        }
        ProviderChange::CreateSaml(provider) => {
            let key = provider.name.to_ascii_lowercase();
            if file.saml.contains(&key) {
                return Err(IamApiError::AlreadyExists(format!(
                    "SAMLProvider {} already exists: it is defined in the configuration file {}.",
                    provider.name, file.source
                )));
            }
            if next.saml_providers.contains_key(&key) {
                return Err(IamApiError::AlreadyExists(format!(
                    "SAMLProvider {} already exists.",
                    provider.name
                )));
            }
            if next.saml_providers.len() + file.saml.len() >= MAX_SAML_PROVIDERS {
                return Err(IamApiError::LimitExceeded(format!(
                    "Cannot exceed quota for SamlProvidersPerAccount: {MAX_SAML_PROVIDERS}"
                )));
            }
            next.saml_providers.insert(key, provider.clone());
        }
        ProviderChange::UpdateSaml { name, .. }
        | ProviderChange::DeleteSaml { name }
        | ProviderChange::TagSaml { name, .. }
        | ProviderChange::UntagSaml { name, .. } => {
            let arn = saml_arn(account, name);
            let key = name.to_ascii_lowercase();
            if file.saml.contains(&key) {
                return Err(IamApiError::Unmodifiable(format!(
                    "Cannot modify SAML provider {arn}: it is defined in the configuration \
                     file {}; change it there.",
                    file.source
                )));
            }
            if let ProviderChange::DeleteSaml { .. } = change {
                next.saml_providers
                    .remove(&key)
                    .ok_or_else(|| no_such_saml(&arn))?;
                return Ok((next, ()));
            }
            let p = next
                .saml_providers
                .get_mut(&key)
                .filter(|p| p.name == *name)
                .ok_or_else(|| no_such_saml(&arn))?;
            match change {
                ProviderChange::UpdateSaml {
                    metadata,
                    valid_until,
                    ..
                } => {
                    p.metadata.clone_from(metadata);
                    p.valid_until.clone_from(valid_until);
                }
                ProviderChange::TagSaml { tags, .. } => add_tags(&mut p.tags, tags)?,
                ProviderChange::UntagSaml { keys, .. } => {
                    remove_tags(&mut p.tags, keys);
                }
                _ => {}
            }
        }
    }
    Ok((bounded(next)?, ()))
}

fn length(param: &str, value: &str, min: usize, max: usize) -> Result<(), IamApiError> {
    let n = value.chars().count();
    if n < min {
        return Err(constraint(
            param,
            value,
            &format!("have length greater than or equal to {min}"),
        ));
    }
    if n > max {
        return Err(constraint(
            param,
            value,
            &format!("have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// An OIDC provider's `Url`: 1–255 characters, then the check the file's issuers get
/// (`https://` with a host, no credentials, query or fragment). A tenant's provider makes the
/// broker fetch its URL, so unless `allow_http` (the development switch, which allows `http://`)
/// it must not name the broker's own network either: no `localhost` and no address literal
/// outside the public internet (names are checked when resolved, at every connection).
/// Returns it without a trailing `/`.
pub fn check_url(url: &str, allow_http: bool) -> Result<&str, IamApiError> {
    length("url", url, 1, MAX_URL)?;
    // What URL parsers drop or rewrite (tabs, line ends, spaces, controls, non-ASCII) would
    // make the stored text, its ARN and its condition keys differ from the URL fetched, and
    // could forge log lines: printable ASCII only, as issuers are.
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(IamApiError::InvalidInput(
            "Url is not valid: it must be printable ASCII, without spaces or control characters."
                .to_owned(),
        ));
    }
    let checked = if allow_http {
        crate::oidc::check_provider_url(url, true, false)
    } else {
        crate::oidc::check_public_provider_url(url, false)
    };
    checked
        .map_err(|reason| IamApiError::InvalidInput(format!("Url {} {reason}.", shorten(url))))?;
    Ok(url.trim_end_matches('/'))
}

/// A client id (an audience): 1–255 characters.
pub fn check_client_id(value: &str) -> Result<(), IamApiError> {
    length("clientID", value, 1, MAX_CLIENT_ID)
}

/// A thumbprint: exactly 40 hex digits (a SHA-1 digest). Returned in upper case.
pub fn check_thumbprint(value: &str) -> Result<String, IamApiError> {
    length("thumbprintList.member", value, 40, 40)?;
    if !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(IamApiError::InvalidInput(format!(
            "Thumbprint {} is not valid: it must be 40 hexadecimal digits.",
            shorten(value)
        )));
    }
    Ok(value.to_ascii_uppercase())
}

/// A SAML provider's name: `[\w._-]+`, 1–128 characters.
pub fn check_saml_name(value: &str) -> Result<(), IamApiError> {
    length("name", value, 1, MAX_SAML_NAME)?;
    let ok = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !ok {
        return Err(constraint(
            "name",
            value,
            r"satisfy regular expression pattern: [\w._-]+",
        ));
    }
    Ok(())
}

/// A `SAMLMetadataDocument`: 1000 to 10,000,000 characters, and metadata the file's SAML
/// providers would accept (an entity id and at least one signing certificate).
pub fn check_metadata(value: &str) -> Result<(), IamApiError> {
    length(
        "sAMLMetadataDocument",
        value,
        *METADATA_LENGTH.start(),
        *METADATA_LENGTH.end(),
    )?;
    crate::saml::parse_metadata(value)
        .map(|_| ())
        .map_err(|e| IamApiError::InvalidInput(format!("Could not parse metadata: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "111122223333";

    fn file() -> FileProviders {
        FileProviders {
            account: ACCOUNT.to_owned(),
            source: "/etc/sts-broker/broker.toml".to_owned(),
            oidc: ["token.actions.githubusercontent.com".to_owned()].into(),
            saml: ["corp-adfs".to_owned()].into(),
            oidc_in_account: 1,
        }
    }

    fn oidc(url: &str) -> StoredOidcProvider {
        StoredOidcProvider {
            url: url.to_owned(),
            client_ids: vec!["sts.amazonaws.com".to_owned()],
            thumbprints: Vec::new(),
            tags: Vec::new(),
            created: 1_700_000_000,
        }
    }

    fn create(host_path: &str) -> ProviderChange {
        ProviderChange::CreateOidc {
            host_path: host_path.to_owned(),
            provider: oidc(&format!("https://{host_path}")),
        }
    }

    fn applied(doc: &AccountDocument, change: ProviderChange) -> AccountDocument {
        apply(doc, &change, &file()).unwrap().0
    }

    #[test]
    fn an_oidc_provider_is_created_changed_and_deleted() {
        let doc = applied(&AccountDocument::default(), create("idp.example.com/a"));
        let again = apply(&doc, &create("idp.example.com/a"), &file());
        assert!(matches!(again, Err(IamApiError::AlreadyExists(_))));
        let hp = "idp.example.com/a".to_owned();
        let doc = applied(
            &doc,
            ProviderChange::AddClientId {
                host_path: hp.clone(),
                client_id: "second".into(),
            },
        );
        // Adding it twice, or removing one it does not have, changes nothing.
        let same = applied(
            &doc,
            ProviderChange::AddClientId {
                host_path: hp.clone(),
                client_id: "second".into(),
            },
        );
        assert_eq!(same, doc);
        let same = applied(
            &doc,
            ProviderChange::RemoveClientId {
                host_path: hp.clone(),
                client_id: "absent".into(),
            },
        );
        assert_eq!(same, doc);
        let doc = applied(
            &doc,
            ProviderChange::UpdateThumbprints {
                host_path: hp.clone(),
                thumbprints: vec!["A".repeat(40)],
            },
        );
        let stored = &doc.oidc_providers[&hp];
        assert_eq!(stored.client_ids, ["sts.amazonaws.com", "second"]);
        assert_eq!(stored.thumbprints, ["A".repeat(40)]);
        let doc = applied(
            &doc,
            ProviderChange::DeleteOidc {
                host_path: hp.clone(),
            },
        );
        assert!(doc.oidc_providers.is_empty());
        let gone = apply(&doc, &ProviderChange::DeleteOidc { host_path: hp }, &file());
        assert_eq!(
            gone,
            Err(no_such_oidc(
                "arn:aws:iam::111122223333:oidc-provider/idp.example.com/a"
            ))
        );
    }

    #[test]
    fn file_providers_are_read_only_and_their_urls_cannot_be_created() {
        let doc = AccountDocument::default();
        let refused = apply(
            &doc,
            &create("token.actions.githubusercontent.com"),
            &file(),
        );
        let Err(IamApiError::AlreadyExists(m)) = refused else {
            panic!("{refused:?}");
        };
        assert!(m.contains("broker.toml"), "{m}");
        let refused = apply(
            &doc,
            &ProviderChange::DeleteOidc {
                host_path: "token.actions.githubusercontent.com".into(),
            },
            &file(),
        );
        assert!(matches!(refused, Err(IamApiError::Unmodifiable(m)) if m.contains("broker.toml")));
        // Another account's provider of an issuer is no obstacle: each account has its own.
        let mut elsewhere = file();
        elsewhere.account = "444455556666".to_owned();
        elsewhere.oidc.clear();
        assert!(
            apply(
                &doc,
                &create("token.actions.githubusercontent.com"),
                &elsewhere
            )
            .is_ok()
        );
        let saml = StoredSamlProvider {
            name: "Corp-ADFS".into(),
            metadata: String::new(),
            valid_until: None,
            tags: Vec::new(),
            created: 0,
        };
        let refused = apply(&doc, &ProviderChange::CreateSaml(saml), &file());
        assert!(matches!(refused, Err(IamApiError::AlreadyExists(m)) if m.contains("broker.toml")));
        let refused = apply(
            &doc,
            &ProviderChange::DeleteSaml {
                name: "corp-adfs".into(),
            },
            &file(),
        );
        assert!(matches!(refused, Err(IamApiError::Unmodifiable(_))));
    }

    #[test]
    fn limits_refuse_and_leave_the_document_as_it_was() {
        let mut doc = AccountDocument::default();
        for i in 0..MAX_OIDC_PROVIDERS - 1 {
            doc = applied(&doc, create(&format!("idp{i}.example.com")));
        }
        let over = apply(&doc, &create("one-more.example.com"), &file());
        assert!(matches!(over, Err(IamApiError::LimitExceeded(_))));
        let hp = "idp0.example.com".to_owned();
        let mut full = doc.clone();
        full.oidc_providers.get_mut(&hp).unwrap().client_ids =
            (0..MAX_CLIENT_IDS).map(|i| format!("c{i}")).collect();
        let over = apply(
            &full,
            &ProviderChange::AddClientId {
                host_path: hp.clone(),
                client_id: "one-more".into(),
            },
            &file(),
        );
        assert!(matches!(over, Err(IamApiError::LimitExceeded(_))));
        let tags: Vec<Tag> = (0..=crate::iam::api::MAX_TAGS)
            .map(|i| Tag {
                key: format!("k{i}"),
                value: String::new(),
            })
            .collect();
        let over = apply(
            &doc,
            &ProviderChange::TagOidc {
                host_path: hp,
                tags,
            },
            &file(),
        );
        assert!(matches!(over, Err(IamApiError::LimitExceeded(_))));
    }

    #[test]
    fn saml_providers_are_created_updated_tagged_and_deleted() {
        let p = StoredSamlProvider {
            name: "Partner".into(),
            metadata: "<md/>".into(),
            valid_until: None,
            tags: Vec::new(),
            created: 1,
        };
        let doc = applied(
            &AccountDocument::default(),
            ProviderChange::CreateSaml(p.clone()),
        );
        let again = apply(&doc, &ProviderChange::CreateSaml(p), &file());
        assert!(matches!(again, Err(IamApiError::AlreadyExists(_))));
        let doc = applied(
            &doc,
            ProviderChange::UpdateSaml {
                name: "Partner".into(),
                metadata: "<md2/>".into(),
                valid_until: Some("2030-01-01T00:00:00Z".into()),
            },
        );
        let doc = applied(
            &doc,
            ProviderChange::TagSaml {
                name: "Partner".into(),
                tags: vec![Tag {
                    key: "team".into(),
                    value: "a".into(),
                }],
            },
        );
        assert_eq!(doc.saml_providers["partner"].metadata, "<md2/>");
        assert_eq!(
            doc.saml_providers["partner"].valid_until.as_deref(),
            Some("2030-01-01T00:00:00Z")
        );
        assert_eq!(doc.saml_providers["partner"].tags.len(), 1);
        // The ARN names it as created.
        let other_case = apply(
            &doc,
            &ProviderChange::UpdateSaml {
                name: "partner".into(),
                metadata: "x".into(),
                valid_until: None,
            },
            &file(),
        );
        assert!(matches!(other_case, Err(IamApiError::NoSuchEntity(_))));
        let doc = applied(
            &doc,
            ProviderChange::DeleteSaml {
                name: "Partner".into(),
            },
        );
        assert!(doc.saml_providers.is_empty());
    }

    #[test]
    fn urls_inside_the_brokers_network_are_refused_unless_the_development_switch_is_on() {
        for url in [
            "https://127.0.0.1:6379",
            "https://2130706433",
            "https://0x7f.1",
            "https://localhost/x",
            "https://10.1.2.3",
            "https://169.254.169.254/latest",
            "https://[::1]",
            "https://[::ffff:192.168.0.1]",
            "https://[fd00::1]",
            "https://100.64.0.1",
            "https://localhost./x",
            "https://api.localhost",
            "https://192.0.2.1",
            "https://[64:ff9b::a9fe:a9fe]",
        ] {
            assert!(
                matches!(check_url(url, false), Err(IamApiError::InvalidInput(_))),
                "{url}"
            );
        }
        assert!(check_url("https://token.actions.githubusercontent.com", false).is_ok());
        assert!(check_url("https://8.8.8.8", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080", true).is_ok());
    }

    #[test]
    fn inputs_are_bounded() {
        assert_eq!(
            check_url("https://idp.example.com/a/", false),
            Ok("https://idp.example.com/a")
        );
        for bad in [
            "http://idp.example.com",
            "https://",
            "https://u:p@idp.example.com",
            "https://idp.example.com?x=1",
            "https://idp.example.com#f",
            "idp.example.com",
            "https://idp.exa\tmple.com",
            "https://idp.example.com/\u{1b}[2J",
            " https://idp.example.com",
            "https://idp.example.com/a b",
            "https://idp.example.com\r\nx",
            "https://idp.exämple.com",
        ] {
            assert!(
                matches!(check_url(bad, false), Err(IamApiError::InvalidInput(_))),
                "{bad}"
            );
        }
        assert!(check_url("http://127.0.0.1:1/idp", true).is_ok());
        let long = format!("https://{}.example.com", "a".repeat(250));
        assert!(matches!(
            check_url(&long, false),
            Err(IamApiError::Validation(_))
        ));
        assert_eq!(check_thumbprint(&"ab".repeat(20)), Ok("AB".repeat(20)));
        assert!(matches!(
            check_thumbprint(&"a".repeat(39)),
            Err(IamApiError::Validation(_))
        ));
        assert!(matches!(
            check_thumbprint(&"g".repeat(40)),
            Err(IamApiError::InvalidInput(_))
        ));
        assert!(check_client_id("").is_err() && check_client_id(&"c".repeat(256)).is_err());
        assert!(check_saml_name("corp.adfs_1-x").is_ok());
        assert!(check_saml_name("corp/adfs").is_err() && check_saml_name("").is_err());
        assert!(matches!(
            check_metadata("<x/>"),
            Err(IamApiError::Validation(_))
        ));
        let padded = format!("<x>{}</x>", " ".repeat(1000));
        assert!(matches!(
            check_metadata(&padded),
            Err(IamApiError::InvalidInput(_))
        ));
    }
}
