//! The broker core: the state every front door shares (configuration, keys, store, caches,
//! clock, audit log, revocations) and the services they share — authenticating a caller
//! ([`caller`]), effective permissions ([`permissions`]), admin authorization ([`admin`]),
//! denial messages ([`denial`]), issuing a role session ([`role_session`]), throttling
//! ([`throttle`]) — the one error type at the boundary ([`error`]) and the counters operators
//! read ([`stats`]). [`reload`] replaces it whole when the configuration is reloaded. No HTTP:
//! front doors hand it a [`RequestMeta`].

pub mod admin;
pub mod auth_cache;
pub mod caller;
pub mod credential_report;
pub mod denial;
pub mod error;
pub mod iam_api;
pub mod key_use;
pub mod lockout;
pub mod passwords;
pub mod permissions;
pub mod reload;
pub mod request;
pub mod role_session;
pub mod saml;
pub mod sealing;
pub mod slots;
pub mod stats;
pub mod throttle;

use std::sync::Arc;
use std::time::Duration;

pub use error::ApiError;
pub use request::{RawRequest, RequestMeta};

use crate::audit::{self, AuditLog};
use crate::clock::Clock;
use crate::config::Config;
use crate::iam::Origin;
use crate::keys::{DevIssuerKey, KeyError, SessionKeys};
use crate::oidc::{self, OidcError, ProviderConfig};
use crate::revocation::{Principals, Revocations};
use crate::store::{Store, StoreError};
use auth_cache::AuthCache;
use caller::SigningKeyCache;
use slots::Slots;
use throttle::Throttle;

/// How often the keys folder is checked for changes.
const KEYS_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("identity providers: {0}")]
    Oidc(#[from] OidcError),
    #[error("dev issuer JWKS: {0}")]
    DevJwks(#[from] serde_json::Error),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
    #[error("revoking sessions of removed roles and users: {0}")]
    Revocation(#[from] crate::revocation::RevocationError),
    #[error("merging the entities of IAM's API stopped: {0}")]
    Merge(String),
}

/// The dev issuer, when enabled.
#[derive(Debug)]
pub struct DevIssuer {
    pub issuer: String,
    pub key: DevIssuerKey,
}

/// The broker core: the state every front door shares, as of one configuration. Built at start;
/// a reload builds the next one from it ([`reload`]), with the configuration and what derives
/// from it (OIDC registry, caches of callers and signing keys, throttle limits) new and the
/// rest (store, keys, clock, audit log, revocations, slots of heavy work, counters) shared. A request
/// takes one at its start ([`reload::Live::current`]) and uses it to the end.
#[derive(Debug)]
pub struct Broker {
    pub config: Config,
    pub oidc: oidc::Registry,
    pub store: Store,
    pub keys: SessionKeys,
    pub dev_issuer: Option<Arc<DevIssuer>>,
    pub clock: Arc<dyn Clock>,
    /// SigV4 signing keys derived today (see [`SigningKeyCache`]); users' secrets come from
    /// the configuration, so each configuration starts its own.
    pub signing_keys: SigningKeyCache,
    /// Callers already authenticated, with their permissions (see [`AuthCache`]); built from
    /// the configuration, so each configuration starts its own.
    pub auth_cache: AuthCache,
    /// The audit log (see [`crate::audit`]); [`AuditLog::off`] records nothing.
    pub audit: Arc<AuditLog>,
    /// Revoked sessions, subjects and roles, kept current across replicas.
    pub revocations: Revocations,
    /// How many SAML verifications may run at once (see [`saml::slots`]).
    pub saml_slots: Slots,
    /// How many password hashes and verifications may run at once (see
    /// [`passwords::slots`]).
    pub password_slots: Slots,
    /// How many IAM policy simulations may run at once (see [`simulation_slots`]).
    pub simulation_slots: Slots,
    /// Requests, sessions and reloads counted for operators (see [`stats`]).
    pub stats: Arc<stats::Stats>,
    /// `[rate_limits]`: the token buckets and what they refused (see [`throttle`]).
    pub throttle: Arc<Throttle>,
    /// The entities created through IAM's management API, as merged into `config.iam` (see
    /// [`iam_api`]).
    pub iam_layer: Arc<crate::iam::api::Layer>,
    /// Shared by every broker of this process: applies stored IAM changes (see [`iam_api`]).
    pub iam_sync: Arc<iam_api::IamSync>,
    /// Shared by every broker of this process: access keys' last uses not yet written (see
    /// [`key_use`]).
    pub key_use: Arc<key_use::KeyUse>,
}

/// How many IAM policy simulations (`SimulateCustomPolicy`, `SimulatePrincipalPolicy`) may run
/// at once: one per core the process may use, at most 4. Parsing and evaluating large policies
/// for many actions and resources takes up to hundreds of milliseconds, which must not hold up
/// the other requests of a serving thread.
pub fn simulation_slots() -> Slots {
    Slots::per_core(4)
}

/// Logs a `WARN` line for every root access key `iam` holds (with its id, never its secret):
/// at start ([`Broker::build`]) and at every configuration reload
/// ([`Broker::reconfigured`]), so that a root key a reload adds is reported too.
pub fn warn_root_access_keys(iam: &crate::iam::Iam) {
    for root in iam.roots() {
        for key in &root.user.access_keys {
            tracing::warn!(
                account = %root.account,
                access_key_id = %key.id,
                active = key.active,
                "ROOT ACCESS KEY CONFIGURED: it signs as the account's root user, which no \
                 policy limits in its account. Delete it and use an IAM user or role."
            );
        }
    }
}

impl Broker {
    /// Opens the store, loads (or creates) keys and prepares the identity providers.
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> Result<Broker, StartError> {
        warn_root_access_keys(&config.iam);
        oidc::install_crypto_provider();
        let keys = SessionKeys::load_or_generate(&config.keys_dir)?;
        // Replicas share the folder: pick up rotated and retired keys without a restart.
        keys.watch(KEYS_POLL_INTERVAL);
        let store = Store::connect(&config.store).await?;
        // The entities created through IAM's API are served from the first request on, and
        // count as configured for the revocation registry below.
        let layer = iam_api::read_layer(&store, &iam_api::accounts(&config)).await?;
        let config = iam_api::merge(&config, &layer, None);
        // Every live revocation is loaded before the first request; with Redis a subscriber
        // keeps the cache current from then on. Roles and users gone from the configuration
        // since a replica last saw them have their sessions revoked before serving.
        let revocations = Revocations::new(
            store.clone(),
            clock.clone(),
            Principals::held(&config, &layer),
        );
        revocations.set_session_keys(keys.clone());
        revocations.start().await?;
        revocations.reconcile(clock.now()).await?;
        let dev_issuer = match &config.dev_issuer {
            Some(issuer) => Some(Arc::new(DevIssuer {
                issuer: issuer.clone(),
                key: DevIssuerKey::load_or_generate(&config.keys_dir)?,
            })),
            None => None,
        };
        let providers = oidc_providers(&config, dev_issuer.as_deref())?;
        // Each provider's fetch is bounded by its own deadline (`jwks_fetch_timeout_seconds`);
        // redirects are not followed. Providers created through IAM's API reach only public
        // addresses (unless `allow_http_api_providers`), through a client of their own.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let clients = oidc::FetchClients::new(http)?;
        let oidc = oidc::Registry::new(providers, clients, clock.clone())?;
        let audit = Arc::new(AuditLog::start(&config.audit)?);
        let throttle = Arc::new(Throttle::new(
            config.rate_limits,
            store.clone(),
            clock.clone(),
        ));
        let key_use = Arc::new(key_use::KeyUse::default());
        key_use::start(&key_use, store.clone());
        Ok(Broker {
            config,
            oidc,
            store,
            keys,
            dev_issuer,
            clock,
            signing_keys: SigningKeyCache::default(),
            auth_cache: AuthCache::default(),
            audit,
            revocations,
            saml_slots: saml::slots(),
            password_slots: passwords::slots(),
            simulation_slots: simulation_slots(),
            stats: Arc::default(),
            throttle,
            iam_sync: Arc::new(iam_api::IamSync::new(layer.version)),
            iam_layer: Arc::new(layer),
            key_use,
        })
    }
}

/// The OIDC providers of `config` as the registry takes them: the dev issuer's keys are
/// local; a provider created through IAM's API fetches only from public addresses unless
/// `[server] allow_http_api_providers` (the development switch) is on.
fn oidc_providers(
    config: &Config,
    dev_issuer: Option<&DevIssuer>,
) -> Result<Vec<ProviderConfig>, StartError> {
    let mut providers = Vec::new();
    for p in &config.oidc_providers {
        let static_keys = match dev_issuer {
            Some(dev) if dev.issuer == p.issuer => Some(serde_json::from_value(dev.key.jwks())?),
            _ => None,
        };
        providers.push(ProviderConfig {
            account: p.account.clone(),
            issuer: p.issuer.clone(),
            accepted_issuers: p.accepted_issuers.clone(),
            client_ids: p.client_ids.clone(),
            jwks_uri: p.jwks_uri.clone(),
            allow_http: p.allow_http,
            public_only: p.public_only
                || (p.origin == Origin::Api && !config.server.allow_http_api_providers),
            leeway: p.leeway,
            refetch_interval: p.refetch_interval,
            max_key_age: p.max_key_age,
            fetch_timeout: Some(p.fetch_timeout),
            static_keys,
        });
    }
    Ok(providers)
}
