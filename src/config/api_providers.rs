//! The identity providers created through IAM's API ([`crate::iam::providers`]) as the broker
//! serves them: merged into the configuration's provider lists next to the file's, with the
//! file's defaults for everything IAM's API does not set (leeway, key refresh, token lifetime,
//! fetch deadline; SAML audience and recipient `https://signin.aws.amazon.com/saml`). Each
//! account has its own providers, as in IAM: two accounts may register the same issuer, each
//! with its own client ids (the registry shares their key cache). A stored provider that
//! cannot be served (shadowed by its account's provider in the file, no client id, a URL the
//! checks refuse: `http://` or a non-public host without `[server] allow_http_api_providers`,
//! metadata that no longer parses) is left out and reported, never served half-checked.

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
    /// The file defines a provider of that issuer or name in the same account (added after
    /// the API created it).
    Shadowed(String),
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
            public_only: !allow_http,
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

/// The file's providers of `account`, as [`crate::iam::providers::apply`] needs them.
pub fn file_providers(config: &Config, account: &str) -> FileProviders {
    let mut out = FileProviders {
        account: account.to_owned(),
        source: config.source.clone(),
        ..FileProviders::default()
    };
    for p in &config.oidc_providers {
        if let Origin::File(source) = &p.origin
            && p.account == account
        {
            out.source.clone_from(source);
            out.oidc_in_account += 1;
            out.oidc.insert(issuer_host_path(&p.issuer));
            // The other spellings the file's provider answers to are taken too.
            out.oidc
                .extend(p.accepted_issuers.iter().map(|s| issuer_host_path(s)));
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
            // Any spelling the account's provider in the file answers to (its issuer and
            // `accepted_issuers`), compared exactly (the registry's rule) and by host and path:
            // a second provider for one of them in the account would make the registry, and
            // so every swap, fail. Other accounts' providers of the issuer are theirs.
            let taken = config.oidc_providers.iter().any(|p| {
                p.account == *account
                    && matches!(p.origin, Origin::File(_))
                    && std::iter::once(&p.issuer)
                        .chain(&p.accepted_issuers)
                        .any(|s| {
                            *s == provider.issuer
                                || issuer_host_path(s).eq_ignore_ascii_case(host_path)
                        })
            });
            if taken {
                skipped.push(SkippedProvider::Shadowed(provider.arn));
                continue;
            }
            if provider.client_ids.is_empty() {
                skipped.push(SkippedProvider::NoClientIds(provider.arn));
                continue;
            }
            // The check it passed when created, which the registry applies again.
            if crate::iam::providers::check_url(&stored.url, allow_http).is_err() {
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

    /// A stored provider of the file provider's account for any spelling that provider
    /// answers to (its issuer or an accepted spelling, exactly or by host and path in any case)
    /// is left out: served, it would make the registry, and so every swap and every start,
    /// fail. Another account's provider for the same spellings is that account's own.
    #[test]
    fn a_provider_for_a_spelling_the_file_serves_in_its_account_is_left_out_other_accounts_keep_theirs()
     {
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
            let skipped = merge(&mut merged, &layer("111122223333", &[url]), None);
            assert!(
                matches!(&skipped[..], [SkippedProvider::Shadowed(_)]),
                "{url}: {skipped:?}"
            );
            assert_eq!(merged.oidc_providers.len(), 1, "{url}");

            let mut merged = config.clone();
            let skipped = merge(&mut merged, &layer("444455556666", &[url]), None);
            assert!(skipped.is_empty(), "{url}: {skipped:?}");
            let theirs = &merged.oidc_providers[1];
            assert_eq!(
                (theirs.account.as_str(), theirs.issuer.as_str()),
                ("444455556666", url)
            );
        }
        // The file's own issuer, registered by the other account: both served, each its own.
        let mut merged = config.clone();
        let skipped = merge(
            &mut merged,
            &layer(
                "444455556666",
                &["https://idp.example.com", "https://other.example.com"],
            ),
            None,
        );
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(merged.oidc_providers.len(), 3);
        assert!(
            merged
                .oidc_provider("111122223333", "https://idp.example.com")
                .is_some()
        );
        assert!(
            merged
                .oidc_provider("444455556666", "https://idp.example.com")
                .is_some()
        );
        assert!(
            merged
                .oidc_provider("111122223333", "https://other.example.com")
                .is_none()
        );
        // The API cannot create one for the accepted spelling in the file's account; the
        // other account may.
        let file = file_providers(&config, "111122223333");
        assert!(
            file.oidc
                .contains(&issuer_host_path("https://IDP.example.com/tenant"))
        );
        assert!(file_providers(&config, "444455556666").oidc.is_empty());
    }

    /// A provider's condition-key prefix is read off its ARN: the same as the issuer's host and
    /// path, for a provider of the file and one of the API alike (ports and a trailing slash
    /// dropped).
    #[test]
    fn a_providers_host_path_is_its_issuers() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::from_toml(CONFIG, "broker.toml", dir.path()).unwrap();
        let mut merged = config.clone();
        merge(
            &mut merged,
            &layer("444455556666", &["https://idp.example.org:8443/t/x/"]),
            None,
        );
        let hosts: Vec<(&str, String)> = merged
            .oidc_providers
            .iter()
            .map(|p| (p.host_path(), issuer_host_path(&p.issuer)))
            .collect();
        assert_eq!(
            hosts,
            [
                ("idp.example.com", "idp.example.com".to_owned()),
                ("idp.example.org/t/x", "idp.example.org/t/x".to_owned()),
            ]
        );
    }

    /// A stored provider whose URL the checks refuse today (a non-public host, `http://`)
    /// is left out unless the development switch is on.
    #[test]
    fn a_stored_provider_naming_a_non_public_host_is_not_served_without_the_switch() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::from_toml(CONFIG, "broker.toml", dir.path()).unwrap();
        for url in [
            "https://169.254.169.254/latest",
            "https://localhost./x",
            "http://idp.example.org",
        ] {
            let mut merged = config.clone();
            let skipped = merge(&mut merged, &layer("444455556666", &[url]), None);
            assert!(
                matches!(&skipped[..], [SkippedProvider::BadUrl(_)]),
                "{url}: {skipped:?}"
            );
            let mut open = config.clone();
            open.server.allow_http_api_providers = true;
            let skipped = merge(&mut open, &layer("444455556666", &[url]), None);
            assert!(skipped.is_empty(), "{url}: {skipped:?}");
        }
    }
}
