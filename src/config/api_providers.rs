//! The identity providers created through IAM's API ([`crate::iam::providers`]) as the broker
//! serves them: merged into the configuration's provider lists next to the file's, with the
//! file's defaults for everything IAM's API does not set (leeway, key refresh, token lifetime,
//! fetch deadline; SAML audience and recipient `https://signin.aws.amazon.com/saml`). A stored
//! provider that cannot be served (shadowed by the file, no client id, an `http://` URL
//! without `[server] allow_http_api_providers`, metadata that no longer parses) is left out
//! and reported, never served half-checked.

use std::time::Duration;

use time::OffsetDateTime;

use super::{Config, OidcProvider, SamlProvider, file, issuer_host_path};
use crate::iam::Origin;
use crate::iam::api::Layer;
use crate::iam::providers::{
    FileProviders, StoredOidcProvider, StoredSamlProvider, oidc_arn, saml_arn,
};

/// What [`merge`] left out, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkippedProvider {
    /// The file defines a provider of that issuer or name (added after the API created it).
    Shadowed(String),
    /// Another account serves the same issuer already.
    Duplicate(String),
    /// It lists no client id: no token could name it as audience.
    NoClientIds(String),
    /// Its URL no longer passes the checks (`http://` while not allowed).
    BadUrl(String),
    /// Its metadata no longer parses.
    Unparsable { provider: String, problem: String },
}

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl OidcProvider {
    /// The provider `stored` describes in `account`, with the file's defaults.
    pub fn from_api(account: &str, stored: &StoredOidcProvider, allow_http: bool) -> OidcProvider {
        OidcProvider {
            account: account.to_owned(),
            issuer: stored.url.clone(),
            accepted_issuers: Vec::new(),
            arn: oidc_arn(account, &issuer_host_path(&stored.url)),
            client_ids: stored.client_ids.clone(),
            jwks_uri: None,
            allow_http: allow_http && stored.url.starts_with("http://"),
            leeway: Duration::from_secs(file::default_leeway()),
            refetch_interval: Duration::from_secs(file::default_refetch()),
            max_key_age: Duration::from_secs(file::default_key_age()),
            max_token_lifetime: Duration::from_secs(file::default_max_token_lifetime()),
            fetch_timeout: Duration::from_secs(file::default_fetch_timeout()),
            origin: Origin::Api,
            created: at(stored.created),
        }
    }
}

impl SamlProvider {
    /// The provider `stored` describes in `account`, its metadata parsed as the file's are.
    pub fn from_api(
        account: &str,
        stored: &StoredSamlProvider,
    ) -> Result<SamlProvider, crate::saml::SamlError> {
        Ok(SamlProvider {
            account: account.to_owned(),
            name: stored.name.clone(),
            arn: saml_arn(account, &stored.name),
            metadata: crate::saml::parse_metadata(&stored.metadata)?,
            audience: file::default_saml_endpoint(),
            recipient: file::default_saml_endpoint(),
            leeway: Duration::from_secs(file::default_leeway()),
            allow_sha1: false,
            origin: Origin::Api,
            created: at(stored.created),
        })
    }
}

/// The file's providers as [`crate::iam::providers::apply`] needs them for `account`.
pub fn file_providers(config: &Config, account: &str) -> FileProviders {
    let mut out = FileProviders {
        account: account.to_owned(),
        source: config.source.clone(),
        ..FileProviders::default()
    };
    for p in &config.oidc_providers {
        let host_path = issuer_host_path(&p.issuer);
        match &p.origin {
            Origin::File(source) => {
                out.source.clone_from(source);
                if p.account == account {
                    out.oidc_in_account += 1;
                }
                out.oidc.insert(host_path);
                // The other spellings the file's provider answers to are taken too.
                out.oidc
                    .extend(p.accepted_issuers.iter().map(|s| issuer_host_path(s)));
            }
            Origin::Api if p.account != account => {
                out.other_accounts_oidc.insert(host_path);
            }
            Origin::Api => {}
        }
    }
    for p in &config.saml_providers {
        if let Origin::File(source) = &p.origin
            && p.account == account
        {
            out.source.clone_from(source);
            out.saml.insert(p.name.to_ascii_lowercase());
        }
    }
    out
}

/// Replaces the API's providers in `config` with those of `layer` (the file's stay).
/// `previous` is the configuration and layer this one replaces: SAML providers stored
/// identically are taken from it rather than parsed again.
pub fn merge(
    config: &mut Config,
    layer: &Layer,
    previous: Option<(&Config, &Layer)>,
) -> Vec<SkippedProvider> {
    config.oidc_providers.retain(|p| p.origin != Origin::Api);
    config.saml_providers.retain(|p| p.origin != Origin::Api);
    let allow_http = config.server.allow_http_api_providers;
    let mut skipped = Vec::new();
    for (account, revisioned) in &layer.accounts {
        if !config.iam.accounts.contains_key(account) {
            continue;
        }
        let document = &revisioned.document;
        for (host_path, stored) in &document.oidc_providers {
            let provider = OidcProvider::from_api(account, stored, allow_http);
            // Any spelling a served provider answers to (its issuer and `accepted_issuers`),
            // compared exactly (the registry's rule) and by host and path: a second provider
            // for one of them would make the registry, and so every swap, fail.
            let taken = config.oidc_providers.iter().find(|p| {
                std::iter::once(&p.issuer)
                    .chain(&p.accepted_issuers)
                    .any(|s| {
                        *s == provider.issuer || issuer_host_path(s).eq_ignore_ascii_case(host_path)
                    })
            });
            if let Some(other) = taken {
                skipped.push(match other.origin {
                    Origin::File(_) => SkippedProvider::Shadowed(provider.arn),
                    Origin::Api => SkippedProvider::Duplicate(provider.arn),
                });
                continue;
            }
            if provider.client_ids.is_empty() {
                skipped.push(SkippedProvider::NoClientIds(provider.arn));
                continue;
            }
            if crate::iam::providers::check_url(&stored.url, provider.allow_http).is_err() {
                skipped.push(SkippedProvider::BadUrl(provider.arn));
                continue;
            }
            config.oidc_providers.push(provider);
        }
        for (key, stored) in &document.saml_providers {
            let arn = saml_arn(account, &stored.name);
            if config
                .saml_providers
                .iter()
                .any(|p| p.account == *account && p.name.eq_ignore_ascii_case(&stored.name))
            {
                skipped.push(SkippedProvider::Shadowed(arn));
                continue;
            }
            let reused = previous.and_then(|(config_before, layer_before)| {
                let before = layer_before
                    .accounts
                    .get(account)?
                    .document
                    .saml_providers
                    .get(key)?;
                (before == stored)
                    .then(|| config_before.saml_provider(&arn).cloned())
                    .flatten()
                    .filter(|p| p.origin == Origin::Api)
            });
            match reused.map_or_else(|| SamlProvider::from_api(account, stored), Ok) {
                Ok(p) => config.saml_providers.push(p),
                Err(e) => skipped.push(SkippedProvider::Unparsable {
                    provider: arn,
                    problem: e.to_string(),
                }),
            }
        }
    }
    skipped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::api::{AccountDocument, Revisioned};
    use crate::iam::providers::StoredOidcProvider;

    const CONFIG: &str = r#"
[store]
url = "memory://"
[keys]
dir = "keys"
[[accounts]]
id = "111122223333"
[[accounts]]
id = "444455556666"
[[oidc_providers]]
account = "111122223333"
issuer = "https://idp.example.com"
accepted_issuers = ["https://IDP.example.com/tenant"]
client_ids = ["sts.amazonaws.com"]
"#;

    fn layer(account: &str, urls: &[&str]) -> Layer {
        let mut document = AccountDocument::default();
        for url in urls {
            document.oidc_providers.insert(
                issuer_host_path(url),
                StoredOidcProvider {
                    url: (*url).to_owned(),
                    client_ids: vec!["sts.amazonaws.com".to_owned()],
                    thumbprints: Vec::new(),
                    tags: Vec::new(),
                    created: 0,
                },
            );
        }
        let mut layer = Layer::default();
        layer.accounts.insert(
            account.to_owned(),
            Revisioned {
                revision: 1,
                document,
            },
        );
        layer
    }

    /// A stored provider for any spelling the file's provider answers to (its issuer or an
    /// accepted spelling, exactly or by host and path in any case) is left out: served, it
    /// would make the registry, and so every swap and every start, fail.
    #[test]
    fn a_provider_for_a_spelling_the_file_serves_is_left_out_and_the_rest_still_builds() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::from_toml(CONFIG, "broker.toml", dir.path()).unwrap();
        let taken = [
            "https://IDP.example.com/tenant",
            "https://idp.example.com/tenant",
            "https://IDP.EXAMPLE.COM",
            "https://idp.example.com/",
        ];
        for url in taken {
            let mut merged = config.clone();
            let skipped = merge(&mut merged, &layer("444455556666", &[url]), None);
            assert!(
                matches!(&skipped[..], [SkippedProvider::Shadowed(_)]),
                "{url}: {skipped:?}"
            );
            assert_eq!(merged.oidc_providers.len(), 1, "{url}");
        }
        let mut merged = config.clone();
        let skipped = merge(
            &mut merged,
            &layer("444455556666", &["https://other.example.com"]),
            None,
        );
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(merged.oidc_providers.len(), 2);
        // And the API cannot create one for the accepted spelling either.
        let file = file_providers(&config, "444455556666");
        assert!(
            file.oidc
                .contains(&issuer_host_path("https://IDP.example.com/tenant"))
        );
    }
}
