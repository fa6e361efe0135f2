//! Verification of OIDC identity tokens for `AssumeRoleWithWebIdentity`, the way STS checks
//! them (OIDC Core 1.0 §3.1.3.7, RFC 7515, 7517, 7519): [`token`] splits it → [`Registry`] picks
//! the provider by `iss` and the account asked for → [`jwks`] finds the key (fetching through
//! [`fetch`]) → [`keys`] checks the signature, algorithm pinned to the key → [`verify`] checks
//! the claims on the [`Clock`]. Only `fetch` and `jwks` do I/O, through the clients given to
//! [`Registry::new`]; [`address`] says which hosts a provider restricted to the public
//! internet may reach. It decides nothing about roles and never logs or echoes a token, key
//! material or a signature.

pub(crate) mod address;
mod error;
mod fetch;
mod jwks;
pub(crate) mod keys;
pub(crate) mod token;
pub(crate) mod verify;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod testkit;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::clock::Clock;

pub use error::{KEY_UNAVAILABLE_MESSAGE, OidcError, OidcErrorKind};
/// The check a provider restricted to the public internet gets on top.
pub(crate) use fetch::check_public_url as check_public_provider_url;
/// The check every provider URL gets (the file's and those created through IAM's API).
pub(crate) use fetch::check_url as check_provider_url;
pub use fetch::{
    DEFAULT_FETCH_TIMEOUT, FetchClients, FetchResult, KeyFetchError, MAX_RESPONSE_BYTES,
};
pub use keys::{KeySetError, MAX_KEYS};
pub use token::MAX_TOKEN_BYTES;

use jwks::{FetchContext, KeyCache};
use verify::Expectations;

/// One trusted OIDC provider of one account, as configured. Accounts register their own
/// provider for an issuer (as in IAM), each with its own client ids; providers whose keys come
/// from the same place share one key cache.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The account it belongs to: a token is verified for an account, with that account's
    /// provider of its issuer.
    pub account: String,
    /// The issuer URL, e.g. `https://token.actions.githubusercontent.com`; tokens' `iss` must
    /// equal it exactly (OIDC Core §3.1.3.7), or one of `accepted_issuers`.
    pub issuer: String,
    /// Other exact spellings of the issuer accepted in `iss` (e.g. with a trailing `/`), listed
    /// explicitly by the operator; empty by default.
    pub accepted_issuers: Vec<String>,
    /// Accepted audiences (`aud` must contain one).
    pub client_ids: Vec<String>,
    /// Where the keys are; `None` means OIDC discovery at
    /// `{issuer}/.well-known/openid-configuration`.
    pub jwks_uri: Option<String>,
    /// Allow `http://` issuer and JWKS URLs (local development only).
    pub allow_http: bool,
    /// Fetch keys only from the public internet ([`FetchClients::public_only`]): for providers
    /// the operator did not write (created through IAM's API).
    pub public_only: bool,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// Least time between two fetches caused by unknown key ids (or failures).
    pub refetch_interval: Duration,
    /// Keys fetched longer ago than this are refreshed on next use; if that fails, they keep
    /// serving.
    pub max_key_age: Duration,
    /// Bound on one whole key fetch (discovery and JWKS together) for this provider; the
    /// registry's default ([`DEFAULT_FETCH_TIMEOUT`]) when `None`.
    pub fetch_timeout: Option<Duration>,
    /// Keys known locally (e.g. the broker's own development issuer): never fetched.
    pub static_keys: Option<jsonwebtoken::jwk::JwkSet>,
}

/// A verified token: who it is for, and every claim it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    /// The account whose provider verified it.
    pub account: String,
    /// The issuer as that provider configures it.
    pub issuer: String,
    /// [`Registry::provider_host_path`] of the issuer.
    pub provider: String,
    pub subject: String,
    /// The provider's client id that matched `aud`.
    pub audience: String,
    /// The whole verified payload.
    pub claims: Map<String, Value>,
    pub expires_at: OffsetDateTime,
    pub key_id: Option<String>,
    pub algorithm: jsonwebtoken::Algorithm,
}

/// Installs aws-lc as the JWT library's process-wide crypto provider. Idempotent: later calls,
/// or a call after the library picked its default on first use, change nothing.
pub fn install_crypto_provider() {
    let ours = &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
    if let Err(existing) = ours.install_default()
        && !std::ptr::eq(existing, ours)
    {
        tracing::warn!("another JWT crypto provider was installed first; keeping it");
    }
}

/// The configured providers and their key caches. `Send + Sync`; share it behind an `Arc`.
pub struct Registry {
    /// Indexes into `providers` by every accepted `iss`, exactly as spelled, then by account.
    by_issuer: HashMap<String, HashMap<String, usize>>,
    providers: Vec<Provider>,
    clients: FetchClients,
    clock: Arc<dyn Clock>,
    fetch_timeout: Duration,
}

struct Provider {
    account: String,
    issuer: String,
    accepted_issuers: Vec<String>,
    fetch_timeout: Option<Duration>,
    client_ids: Vec<String>,
    leeway: Duration,
    /// Shared with every provider of the same [`KeySource`], in this registry and in the one a
    /// reload builds.
    keys: Arc<KeyCache>,
    source: KeySource,
}

/// What a key cache holds keys from and how it refreshes them: providers of one source (the
/// same issuer registered by several accounts) share one cache, so one stream of fetches, and
/// a reload keeps the cache (and the keys it fetched) of a source still configured.
#[derive(Debug, Clone, PartialEq)]
struct KeySource {
    issuer: String,
    jwks_uri: Option<String>,
    allow_http: bool,
    /// A public-only source is another source: its fetches go through another client.
    public_only: bool,
    refetch_interval: Duration,
    max_key_age: Duration,
    static_keys: Option<jsonwebtoken::jwk::JwkSet>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut issuers: Vec<&str> = self.providers.iter().map(|p| p.issuer.as_str()).collect();
        issuers.sort_unstable();
        issuers.dedup();
        f.debug_struct("Registry")
            .field("issuers", &issuers)
            .field("providers", &self.providers.len())
            .field("fetch_timeout", &self.fetch_timeout)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// Checks every provider configuration and builds the registry. No network access: remote
    /// keys are fetched on first use.
    pub fn new(
        providers: Vec<ProviderConfig>,
        clients: FetchClients,
        clock: Arc<dyn Clock>,
    ) -> Result<Registry, OidcError> {
        Registry::build(providers, clients, clock, &[])
    }

    /// A registry for `providers` with this one's HTTP clients, clock and fetch bound: a
    /// provider whose key source (issuer, `jwks_uri`, `allow_http`, public-only, refetch
    /// interval, key age, static keys) is still configured keeps its key cache, with the keys
    /// already fetched and its fetch counts; the others start empty. This registry keeps
    /// working meanwhile.
    pub fn reconfigured(&self, providers: Vec<ProviderConfig>) -> Result<Registry, OidcError> {
        Ok(Registry::build(
            providers,
            self.clients.clone(),
            self.clock.clone(),
            &self.providers,
        )?
        .with_fetch_timeout(self.fetch_timeout))
    }

    /// Whether `account`'s provider of `issuer` shares its key cache with `other`'s provider
    /// of that issuer in that account.
    pub fn shares_keys_with(&self, other: &Registry, account: &str, issuer: &str) -> bool {
        match (
            self.provider(account, issuer),
            other.provider(account, issuer),
        ) {
            (Some(a), Some(b)) => Arc::ptr_eq(&a.keys, &b.keys),
            _ => false,
        }
    }

    /// `account`'s provider for a token whose `iss` is `spelling` (exactly as spelled).
    fn provider(&self, account: &str, spelling: &str) -> Option<&Provider> {
        self.by_issuer
            .get(spelling)
            .and_then(|accounts| accounts.get(account))
            .and_then(|&i| self.providers.get(i))
    }

    fn build(
        providers: Vec<ProviderConfig>,
        clients: FetchClients,
        clock: Arc<dyn Clock>,
        previous: &[Provider],
    ) -> Result<Registry, OidcError> {
        let mut by_issuer: HashMap<String, HashMap<String, usize>> =
            HashMap::with_capacity(providers.len());
        let mut built: Vec<Provider> = Vec::with_capacity(providers.len());
        for config in providers {
            let spellings: Vec<String> = std::iter::once(config.issuer.clone())
                .chain(config.accepted_issuers.iter().cloned())
                .collect();
            for spelling in spellings {
                let accounts = by_issuer.entry(spelling.clone()).or_default();
                if accounts
                    .insert(config.account.clone(), built.len())
                    .is_some()
                {
                    return Err(config_error(
                        &spelling,
                        &format!("is configured twice in account {}", config.account),
                    ));
                }
            }
            // This registry's providers first: one cache per source, however many accounts.
            let provider = Provider::from_config(config, &built, previous)?;
            built.push(provider);
        }
        Ok(Registry {
            by_issuer,
            providers: built,
            clients,
            clock,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
        })
    }

    /// Bounds each key fetch (discovery and JWKS together); [`DEFAULT_FETCH_TIMEOUT`] unless set.
    pub fn with_fetch_timeout(mut self, timeout: Duration) -> Registry {
        self.fetch_timeout = timeout;
        self
    }

    /// Verifies `token` with `account`'s provider of its issuer and returns its claims, or why
    /// it is refused. Without such a provider it is refused before any key is fetched or any
    /// signature checked, whether or not another account has one.
    pub async fn verify(&self, token: &str, account: &str) -> Result<VerifiedToken, OidcError> {
        let jws = token::parse(token)?;
        let algorithm = jws.algorithm()?;
        let issuer = jws.issuer()?;
        // Exact match only: `https://idp.example/` is not `https://idp.example`.
        let provider = self
            .provider(account, issuer)
            .ok_or_else(|| OidcError::unknown_issuer(issuer))?;

        let ctx = FetchContext {
            clients: &self.clients,
            clock: self.clock.as_ref(),
            timeout: provider.fetch_timeout.unwrap_or(self.fetch_timeout),
        };
        let key = provider.keys.resolve(jws.kid(), algorithm, ctx).await?;
        key.verify(algorithm, jws.signing_input(), jws.signature())?;

        let expect = Expectations {
            issuer: &provider.issuer,
            accepted_issuers: &provider.accepted_issuers,
            client_ids: &provider.client_ids,
            leeway: provider.leeway,
        };
        let checked = verify::check_claims(jws.claims(), &expect, self.clock.now())?;
        let (claims, key_id) = jws.into_parts();
        Ok(VerifiedToken {
            account: provider.account.clone(),
            issuer: provider.issuer.clone(),
            provider: Registry::provider_host_path(&provider.issuer).to_owned(),
            subject: checked.subject,
            audience: checked.audience,
            claims,
            expires_at: checked.expires_at,
            key_id,
            algorithm,
        })
    }

    /// Each key cache's fetches so far, by result: its issuer and the counts (providers whose
    /// keys are local never fetch). A cache shared by several accounts' providers is listed
    /// once; two caches of one issuer (different key sources) are listed apart.
    pub fn key_fetches(&self) -> Vec<(&str, [(FetchResult, u64); FetchResult::ALL.len()])> {
        let mut seen: Vec<&Arc<KeyCache>> = Vec::new();
        let mut out = Vec::new();
        for p in &self.providers {
            if seen.iter().any(|k| Arc::ptr_eq(k, &p.keys)) {
                continue;
            }
            seen.push(&p.keys);
            out.push((p.source.issuer.as_str(), p.keys.fetches()));
        }
        out
    }

    /// The issuer (as `account`'s provider configures it) and `sub` a token *claims*,
    /// verifying nothing: good only as a key to look at a rate limit before paying for
    /// verification, never as an identity. `None` when the token does not parse, names no
    /// issuer `account` has a provider for, or has no string `sub` (verification will refuse
    /// it).
    pub fn claimed_subject(&self, token: &str, account: &str) -> Option<(&str, String)> {
        let jws = token::parse(token).ok()?;
        let provider = self.provider(account, jws.issuer().ok()?)?;
        let Some(Value::String(sub)) = jws.claims().get("sub") else {
            return None;
        };
        Some((provider.issuer.as_str(), sub.clone()))
    }

    /// The issuer without its scheme and trailing `/`: what follows `oidc-provider/` in an IAM
    /// ARN and prefixes the provider's condition keys (`{host_path}:sub`).
    pub fn provider_host_path(issuer: &str) -> &str {
        let rest = issuer
            .strip_prefix("https://")
            .or_else(|| issuer.strip_prefix("http://"))
            .unwrap_or(issuer);
        rest.trim_end_matches('/')
    }
}

impl Provider {
    /// The provider `config` describes; its key cache is the one of a provider in `built`
    /// (this registry's, already built) or else in `previous` (the registry this one replaces)
    /// with the same [`KeySource`], if any.
    fn from_config(
        config: ProviderConfig,
        built: &[Provider],
        previous: &[Provider],
    ) -> Result<Provider, OidcError> {
        let ProviderConfig {
            account,
            issuer,
            accepted_issuers,
            client_ids,
            jwks_uri,
            allow_http,
            public_only,
            leeway,
            refetch_interval,
            max_key_age,
            fetch_timeout,
            static_keys,
        } = config;
        let check = |url: &str, allow_query: bool| {
            if public_only {
                fetch::check_public_url(url, allow_query)
            } else {
                fetch::check_url(url, allow_http, allow_query)
            }
        };
        check(&issuer, false)
            .map_err(|reason| config_error(&issuer, &format!("issuer {reason}")))?;
        for spelling in &accepted_issuers {
            check(spelling, false).map_err(|reason| {
                config_error(&issuer, &format!("accepted issuer {spelling:?} {reason}"))
            })?;
        }
        if client_ids.is_empty() {
            return Err(config_error(&issuer, "has no client ids"));
        }
        if client_ids.iter().any(String::is_empty) {
            return Err(config_error(&issuer, "has an empty client id"));
        }
        if let Some(uri) = &jwks_uri {
            check(uri, true)
                .map_err(|reason| config_error(&issuer, &format!("jwks_uri {reason}")))?;
        }
        let source = KeySource {
            issuer: issuer.clone(),
            jwks_uri: jwks_uri.clone(),
            allow_http,
            public_only,
            refetch_interval,
            max_key_age,
            static_keys: static_keys.clone(),
        };
        if static_keys.is_some() && jwks_uri.is_some() {
            return Err(config_error(&issuer, "has both static keys and a jwks_uri"));
        }
        let kept = built
            .iter()
            .chain(previous)
            .find(|p| p.source == source)
            .map(|p| Arc::clone(&p.keys));
        let keys = match (kept, static_keys) {
            (Some(kept), _) => kept,
            (None, Some(set)) => {
                let keys = keys::KeySet::from_jwk_set(&set)
                    .map_err(|e| config_error(&issuer, &format!("static keys: {e}")))?;
                Arc::new(KeyCache::fixed(issuer.clone(), keys))
            }
            (None, None) => Arc::new(KeyCache::remote(
                fetch::RemoteSource {
                    issuer: issuer.clone(),
                    jwks_uri,
                    allow_http,
                    public_only,
                },
                refetch_interval,
                max_key_age,
            )),
        };
        Ok(Provider {
            account,
            issuer,
            accepted_issuers,
            fetch_timeout,
            client_ids,
            leeway,
            keys,
            source,
        })
    }
}

fn config_error(issuer: &str, reason: &str) -> OidcError {
    OidcError::Config {
        issuer: issuer.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::clock::ManualClock;
    use crate::oidc::testkit::{
        ACCOUNT, NOW, TestKey, b64, config, hs256_with_public_key, http_client, jwk_set, sign_raw,
    };

    const ISS: &str = "https://dev.broker.example";

    fn registry(providers: Vec<ProviderConfig>) -> Result<Registry, OidcError> {
        install_crypto_provider();
        let clock = Arc::new(ManualClock::new(
            OffsetDateTime::from_unix_timestamp(NOW).unwrap(),
        ));
        Registry::new(providers, http_client(), clock)
    }

    fn local(keys: &[&TestKey]) -> Registry {
        let mut c = config(ISS);
        c.static_keys = Some(jwk_set(keys));
        registry(vec![c]).unwrap()
    }

    fn claims() -> Value {
        json!({"iss": ISS, "aud": "sts.amazonaws.com", "sub": "dev:alice", "exp": NOW + 300, "iat": NOW, "custom": {"a": [1]}})
    }

    #[test]
    fn the_registry_is_send_and_sync_and_its_future_is_send() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>(_: &T) {}
        send_sync::<Registry>();
        let r = local(&[TestKey::rsa_a()]);
        let future = r.verify("x", ACCOUNT);
        send(&future);
    }

    #[test]
    fn provider_host_path_strips_scheme_and_trailing_slash() {
        assert_eq!(
            Registry::provider_host_path("https://token.actions.githubusercontent.com"),
            "token.actions.githubusercontent.com"
        );
        assert_eq!(
            Registry::provider_host_path("https://oidc.eks.us-east-1.amazonaws.com/id/ABC/"),
            "oidc.eks.us-east-1.amazonaws.com/id/ABC"
        );
        assert_eq!(
            Registry::provider_host_path("http://127.0.0.1:9000"),
            "127.0.0.1:9000"
        );
    }

    #[test]
    fn refuses_bad_configurations() {
        let with = |f: fn(&mut ProviderConfig)| {
            let mut c = config(ISS);
            f(&mut c);
            registry(vec![c])
        };
        let bad: Vec<(&str, Result<Registry, OidcError>)> = vec![
            (
                "http issuer",
                with(|c| c.issuer = "http://idp.example".into()),
            ),
            (
                "issuer with query",
                with(|c| c.issuer = "https://idp.example?a=b".into()),
            ),
            (
                "issuer with fragment",
                with(|c| c.issuer = "https://idp.example#a".into()),
            ),
            ("not a URL", with(|c| c.issuer = "idp.example".into())),
            ("no client ids", with(|c| c.client_ids.clear())),
            (
                "empty client id",
                with(|c| c.client_ids = vec![String::new()]),
            ),
            (
                "http jwks_uri",
                with(|c| c.jwks_uri = Some("http://idp.example/jwks".into())),
            ),
            (
                "jwks_uri with fragment",
                with(|c| c.jwks_uri = Some("https://idp.example/jwks#x".into())),
            ),
            (
                "static keys and jwks_uri",
                with(|c| {
                    c.jwks_uri = Some("https://idp.example/jwks".into());
                    c.static_keys = Some(jwk_set(&[TestKey::rsa_a()]));
                }),
            ),
            (
                "static keys without a usable key",
                with(|c| {
                    c.static_keys = Some(
                        serde_json::from_value(json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}))
                            .unwrap(),
                    )
                }),
            ),
            ("duplicate issuer", registry(vec![config(ISS), config(ISS)])),
            (
                "an accepted spelling of another provider",
                registry(vec![config(&format!("{ISS}/")), {
                    let mut c = config(ISS);
                    c.accepted_issuers = vec![format!("{ISS}/")];
                    c
                }]),
            ),
            (
                "accepted issuer not a URL",
                with(|c| c.accepted_issuers = vec!["idp.example".into()]),
            ),
        ];
        for (name, result) in bad {
            assert!(
                matches!(result, Err(OidcError::Config { .. })),
                "{name}: {result:?}"
            );
        }
        let mut http_ok = config("http://127.0.0.1:8080");
        http_ok.allow_http = true;
        assert!(registry(vec![http_ok, config(ISS)]).is_ok());
    }

    #[tokio::test]
    async fn verifies_a_token_signed_by_a_local_key() {
        let key = TestKey::rsa_a();
        let r = local(&[key, TestKey::es256()]);
        let token = key.sign(&claims());
        let v = r.verify(&token, ACCOUNT).await.unwrap();
        assert_eq!(v.issuer, ISS);
        assert_eq!(v.provider, "dev.broker.example");
        assert_eq!(v.subject, "dev:alice");
        assert_eq!(v.audience, "sts.amazonaws.com");
        assert_eq!(v.claims["custom"], json!({"a": [1]}));
        assert_eq!(v.expires_at.unix_timestamp(), NOW + 300);
        assert_eq!(v.key_id.as_deref(), Some("rsa-a"));
        assert_eq!(v.algorithm, jsonwebtoken::Algorithm::RS256);

        let ec = TestKey::es256().sign(&claims());
        assert_eq!(
            r.verify(&ec, ACCOUNT).await.unwrap().algorithm,
            jsonwebtoken::Algorithm::ES256
        );
    }

    #[tokio::test]
    async fn the_issuer_picks_the_provider() {
        let r = local(&[TestKey::rsa_a()]);
        let mut c = claims();
        c["iss"] = json!("https://s3-us-west-2.amazonaws.com/oidc-test");
        let err = r
            .verify(&TestKey::rsa_a().sign(&c), ACCOUNT)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "No OpenIDConnect provider found in your account for https://s3-us-west-2.amazonaws.com/oidc-test"
        );
        assert_eq!(err.kind(), OidcErrorKind::Invalid);

        // OIDC Core: exactly the configured issuer, not a spelling differing by a slash...
        c["iss"] = json!(format!("{ISS}/"));
        let err = r
            .verify(&TestKey::rsa_a().sign(&c), ACCOUNT)
            .await
            .unwrap_err();
        assert!(matches!(err, OidcError::UnknownIssuer { .. }), "{err:?}");
        // ...unless the operator lists that spelling.
        let mut listed = config(ISS);
        listed.static_keys = Some(jwk_set(&[TestKey::rsa_a()]));
        listed.accepted_issuers = vec![format!("{ISS}/")];
        let r = registry(vec![listed]).unwrap();
        let v = r.verify(&TestKey::rsa_a().sign(&c), ACCOUNT).await.unwrap();
        assert_eq!(v.issuer, ISS);
        c["iss"] = json!(ISS);
        assert!(r.verify(&TestKey::rsa_a().sign(&c), ACCOUNT).await.is_ok());
    }

    /// The subject a token claims is read without verifying it (a forged signature, an
    /// issuer's other spelling) and only from tokens of configured issuers.
    #[test]
    fn claimed_subjects_are_read_unverified_for_configured_issuers_only() {
        let mut listed = config(ISS);
        listed.static_keys = Some(jwk_set(&[TestKey::rsa_a()]));
        listed.accepted_issuers = vec![format!("{ISS}/")];
        let r = registry(vec![listed]).unwrap();
        let token = TestKey::rsa_a().sign(&claims());
        let (h, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let mut c = claims();
        c["sub"] = json!("victim");
        c["iss"] = json!(format!("{ISS}/"));
        let forged = format!("{h}.{}.{signature}", b64(&c.to_string()));
        assert_eq!(
            r.claimed_subject(&forged, ACCOUNT),
            Some((ISS, "victim".to_owned()))
        );
        c["iss"] = json!("https://elsewhere.example");
        assert_eq!(r.claimed_subject(&TestKey::rsa_a().sign(&c), ACCOUNT), None);
        c["iss"] = json!(ISS);
        c["sub"] = json!(42);
        assert_eq!(r.claimed_subject(&TestKey::rsa_a().sign(&c), ACCOUNT), None);
        assert_eq!(r.claimed_subject("not.a.token", ACCOUNT), None);
    }

    #[tokio::test]
    async fn refusals_and_their_kinds() {
        let key = TestKey::rsa_a();
        let r = local(&[key, TestKey::rsa_b()]);
        let header = |h: Value| h.to_string();
        let mut expired = claims();
        expired["exp"] = json!(NOW - 1);
        let mut wrong_aud = claims();
        wrong_aud["aud"] = json!(["someone-else"]);
        let forged = {
            let t = key.sign(&claims());
            let (h, rest) = t.split_once('.').unwrap();
            let (_, s) = rest.split_once('.').unwrap();
            let mut c = claims();
            c["sub"] = json!("dev:admin");
            format!("{h}.{}.{s}", b64(&c.to_string()))
        };
        type Expect = fn(&OidcError) -> bool;
        let cases: Vec<(&str, String, OidcErrorKind, Expect)> = vec![
            ("expired", key.sign(&expired), OidcErrorKind::Expired, |e| {
                matches!(e, OidcError::Expired { .. })
            }),
            (
                "audience",
                key.sign(&wrong_aud),
                OidcErrorKind::Invalid,
                |e| matches!(e, OidcError::IncorrectAudience),
            ),
            ("forged payload", forged, OidcErrorKind::Invalid, |e| {
                matches!(e, OidcError::BadSignature)
            }),
            (
                "no kid with two keys",
                sign_raw(key, &header(json!({"alg": "RS256"})), &claims().to_string()),
                OidcErrorKind::Invalid,
                |e| matches!(e, OidcError::MissingKeyId),
            ),
            (
                "unknown kid",
                sign_raw(
                    key,
                    &header(json!({"alg": "RS256", "kid": "gone"})),
                    &claims().to_string(),
                ),
                OidcErrorKind::Invalid,
                |e| matches!(e, OidcError::UnknownKeyId),
            ),
            (
                "alg none",
                format!(
                    "{}.{}.",
                    b64(r#"{"alg":"none","kid":"rsa-a"}"#),
                    b64(&claims().to_string())
                ),
                OidcErrorKind::Invalid,
                |e| matches!(e, OidcError::Malformed(_)),
            ),
            (
                "alg none with a signature",
                format!(
                    "{}.{}.AAAA",
                    b64(r#"{"alg":"none","kid":"rsa-a"}"#),
                    b64(&claims().to_string())
                ),
                OidcErrorKind::Invalid,
                |e| matches!(e, OidcError::UnsupportedAlgorithm { .. }),
            ),
            (
                "HS256 keyed with the RSA public key",
                hs256_with_public_key(key, &claims()),
                OidcErrorKind::Invalid,
                |e| matches!(e, OidcError::UnsupportedAlgorithm { .. }),
            ),
            (
                "ES256 header on an RSA key",
                sign_raw(
                    TestKey::es256(),
                    &header(json!({"alg": "ES256", "kid": "rsa-a"})),
                    &claims().to_string(),
                ),
                OidcErrorKind::Invalid,
                |e| matches!(e, OidcError::AlgorithmMismatch),
            ),
            (
                "garbage",
                "not-a-jwt".to_owned(),
                OidcErrorKind::Invalid,
                |e| matches!(e, OidcError::Malformed(_)),
            ),
        ];
        for (name, token, kind, expected) in cases {
            let err = r.verify(&token, ACCOUNT).await.unwrap_err();
            assert!(expected(&err), "{name}: {err:?}");
            assert_eq!(err.kind(), kind, "{name}");
            let message = err.to_string();
            assert!(
                !message.contains(&token) && !message.contains("eyJ"),
                "{name}: {message}"
            );
        }
    }

    #[tokio::test]
    async fn a_lone_key_serves_tokens_without_kid() {
        let key = TestKey::es384();
        let r = local(&[key]);
        let token = sign_raw(key, r#"{"alg":"ES384"}"#, &claims().to_string());
        let v = r.verify(&token, ACCOUNT).await.unwrap();
        assert_eq!(v.key_id, None);
    }

    #[tokio::test]
    async fn leeway_and_the_injected_clock_decide_expiry() {
        install_crypto_provider();
        let clock = Arc::new(ManualClock::new(
            OffsetDateTime::from_unix_timestamp(NOW).unwrap(),
        ));
        let mut c = config(ISS);
        c.static_keys = Some(jwk_set(&[TestKey::rsa_a()]));
        c.leeway = Duration::from_secs(30);
        let r = Registry::new(vec![c], http_client(), clock.clone()).unwrap();
        let token = TestKey::rsa_a().sign(&claims());
        clock.advance(time::Duration::seconds(300 + 29));
        assert!(r.verify(&token, ACCOUNT).await.is_ok());
        clock.advance(time::Duration::seconds(1));
        let err = r.verify(&token, ACCOUNT).await.unwrap_err();
        assert_eq!(err.kind(), OidcErrorKind::Expired);
        assert_eq!(
            err.to_string(),
            format!(
                "Token expired: current date/time {} must be before the expiration date/time {}",
                NOW + 330,
                NOW + 300
            )
        );
    }

    #[test]
    fn a_reload_keeps_the_key_cache_of_a_provider_whose_key_source_is_unchanged() {
        let (a, b) = ("https://a.example", "https://b.example");
        let first = registry(vec![config(a), config(b), config("https://gone.example")]).unwrap();
        // A new audience does not change where keys come from; a new jwks_uri does.
        let mut a_again = config(a);
        a_again.client_ids.push("another-client".to_owned());
        let mut b_moved = config(b);
        b_moved.jwks_uri = Some("https://b.example/other/jwks.json".to_owned());
        let second = first
            .reconfigured(vec![a_again, b_moved, config("https://new.example")])
            .unwrap();
        assert!(second.shares_keys_with(&first, ACCOUNT, a));
        assert!(!second.shares_keys_with(&first, ACCOUNT, b));
        assert!(!second.shares_keys_with(&first, ACCOUNT, "https://new.example"));
        assert!(!second.shares_keys_with(&first, ACCOUNT, "https://gone.example"));
        // The new registry checks its providers like a first one.
        let mut broken = config(a);
        broken.client_ids.clear();
        assert!(first.reconfigured(vec![broken]).is_err());
    }

    const OTHER: &str = "444455556666";

    /// `ISS` with static keys, in `account`, accepting `client`.
    fn in_account(account: &str, client: &str) -> ProviderConfig {
        let mut c = config(ISS);
        c.account = account.to_owned();
        c.client_ids = vec![client.to_owned()];
        c.static_keys = Some(jwk_set(&[TestKey::rsa_a()]));
        c
    }

    fn for_audience(aud: &str) -> String {
        let mut c = claims();
        c["aud"] = json!(aud);
        TestKey::rsa_a().sign(&c)
    }

    /// As in IAM, each account registers its own provider for an issuer, with its own client
    /// ids: a token is checked against the provider of the account asked for, and an account
    /// without one refuses it whatever the others have.
    #[tokio::test]
    async fn each_account_has_its_own_provider_of_an_issuer() {
        let r = registry(vec![
            in_account(ACCOUNT, "ours"),
            in_account(OTHER, "theirs"),
        ])
        .unwrap();
        let ours = for_audience("ours");
        let theirs = for_audience("theirs");
        let v = r.verify(&ours, ACCOUNT).await.unwrap();
        assert_eq!((v.account.as_str(), v.audience.as_str()), (ACCOUNT, "ours"));
        let v = r.verify(&theirs, OTHER).await.unwrap();
        assert_eq!((v.account.as_str(), v.audience.as_str()), (OTHER, "theirs"));
        for (token, account) in [(&ours, OTHER), (&theirs, ACCOUNT)] {
            let err = r.verify(token, account).await.unwrap_err();
            assert!(matches!(err, OidcError::IncorrectAudience), "{err:?}");
        }
        let err = r.verify(&ours, "999988887777").await.unwrap_err();
        assert!(matches!(err, OidcError::UnknownIssuer { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("No OpenIDConnect provider found in your account for {ISS}")
        );
        assert_eq!(
            r.claimed_subject(&ours, OTHER),
            Some((ISS, "dev:alice".to_owned()))
        );
        assert_eq!(r.claimed_subject(&ours, "999988887777"), None);
        // One key source, one cache, listed once.
        assert!(Arc::ptr_eq(
            &r.provider(ACCOUNT, ISS).unwrap().keys,
            &r.provider(OTHER, ISS).unwrap().keys
        ));
        assert_eq!(r.key_fetches().len(), 1);
    }

    /// Providers of one issuer share a cache only when their keys come from the same place and
    /// are refreshed the same way; a reload keeps a shared cache however its accounts change.
    #[test]
    fn accounts_share_a_key_cache_per_key_source_and_keep_it_across_reloads() {
        let remote = |account: &str| {
            let mut c = config(ISS);
            c.account = account.to_owned();
            c
        };
        let first = registry(vec![remote(ACCOUNT)]).unwrap();
        // Another account registers the issuer: it shares the cache the first one had.
        let second = first
            .reconfigured(vec![remote(ACCOUNT), remote(OTHER)])
            .unwrap();
        assert!(second.shares_keys_with(&first, ACCOUNT, ISS));
        let same = |r: &Registry| {
            Arc::ptr_eq(
                &r.provider(ACCOUNT, ISS).unwrap().keys,
                &r.provider(OTHER, ISS).unwrap().keys,
            )
        };
        assert!(same(&second));
        // The first account's provider goes: the other keeps the same cache.
        let third = second.reconfigured(vec![remote(OTHER)]).unwrap();
        assert!(third.shares_keys_with(&second, OTHER, ISS));
        // Another refresh interval, or fetching from the public internet only, is another
        // source: its own cache.
        let mut slower = remote(OTHER);
        slower.refetch_interval = Duration::from_secs(60);
        let r = registry(vec![remote(ACCOUNT), slower]).unwrap();
        assert!(!same(&r));
        let mut public = remote(OTHER);
        public.public_only = true;
        let r = registry(vec![remote(ACCOUNT), public]).unwrap();
        assert!(!same(&r));
        assert_eq!(r.key_fetches().len(), 2);
        // One provider per spelling in an account, not across accounts.
        let mut spelled = remote(OTHER);
        spelled.accepted_issuers = vec![format!("{ISS}/")];
        assert!(registry(vec![remote(ACCOUNT), spelled.clone()]).is_ok());
        let mut twice = remote(OTHER);
        twice.issuer = format!("{ISS}/");
        assert!(matches!(
            registry(vec![spelled, twice]),
            Err(OidcError::Config { .. })
        ));
    }

    /// A provider restricted to the public internet cannot name a host inside the broker's
    /// network, as its issuer or as its `jwks_uri`.
    #[test]
    fn a_public_only_provider_naming_an_internal_host_is_refused() {
        for (issuer, jwks_uri) in [
            ("https://127.0.0.1/idp", None),
            ("https://localhost", None),
            (
                "https://idp.example.com",
                Some("https://169.254.169.254/keys"),
            ),
        ] {
            let mut c = config(issuer);
            c.public_only = true;
            c.jwks_uri = jwks_uri.map(str::to_owned);
            assert!(
                matches!(registry(vec![c]), Err(OidcError::Config { .. })),
                "{issuer}"
            );
        }
        let mut c = config("https://idp.example.com");
        c.public_only = true;
        assert!(registry(vec![c]).is_ok());
    }

    #[test]
    fn install_crypto_provider_is_idempotent() {
        install_crypto_provider();
        install_crypto_provider();
    }
}
