//! One key source's cache (shared by every provider with that source, whatever its account): lazy first fetch, refresh of old keys, and single-flight,
//! rate-limited refetch when a token names a key the cache does not have, so a flood of tokens
//! with made-up `kid`s cannot turn into a flood of requests to the provider. The hot path never
//! awaits; keys configured locally are never fetched. Time comes from the [`Clock`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use jsonwebtoken::Algorithm;
use time::OffsetDateTime;

use super::error::OidcError;
use super::fetch::{FetchClients, FetchResult, KeyFetchError, RemoteSource, fetch_keys};
use super::keys::{KeySet, Lookup};
use crate::clock::Clock;

/// What a fetch needs besides the cache: shared by all providers of a registry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchContext<'a> {
    pub clients: &'a FetchClients,
    pub clock: &'a dyn Clock,
    pub timeout: Duration,
}

/// A key found for a token: the set it lives in (kept alive) and its index.
#[derive(Debug)]
pub(crate) struct KeyRef {
    set: Arc<KeySet>,
    index: usize,
}

impl KeyRef {
    pub(crate) fn verify(
        &self,
        alg: Algorithm,
        signing_input: &str,
        signature: &str,
    ) -> Result<(), OidcError> {
        self.set
            .get(self.index)
            .ok_or(OidcError::UnknownKeyId)?
            .verify(alg, signing_input, signature)
    }
}

#[derive(Debug)]
enum Source {
    Static,
    Remote(RemoteSource),
}

/// The outcome of the latest fetch.
#[derive(Debug, Clone)]
struct Attempt {
    at: OffsetDateTime,
    failure: Option<Arc<KeyFetchError>>,
}

/// An immutable view of the cache; replaced whole on every fetch.
#[derive(Debug, Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    /// When `keys` was fetched; `None` for local keys, which never age.
    fetched_at: Option<OffsetDateTime>,
    last_attempt: Option<Attempt>,
    /// Bumped by every fetch attempt, so a request that waited on the fetch lock can tell
    /// whether someone fetched meanwhile.
    generation: u64,
}

/// The key cache of one key source.
#[derive(Debug)]
pub(crate) struct KeyCache {
    issuer: String,
    source: Source,
    refetch_interval: time::Duration,
    max_key_age: time::Duration,
    state: RwLock<Arc<State>>,
    fetch_lock: tokio::sync::Mutex<()>,
    /// Fetches made so far, per [`FetchResult`] (its `index`).
    fetches: [AtomicU64; FetchResult::ALL.len()],
}

impl KeyCache {
    /// A cache over keys known locally; it never fetches.
    pub(crate) fn fixed(issuer: String, keys: KeySet) -> KeyCache {
        KeyCache {
            issuer,
            source: Source::Static,
            refetch_interval: time::Duration::ZERO,
            max_key_age: time::Duration::MAX,
            state: RwLock::new(Arc::new(State {
                keys: Some(Arc::new(keys)),
                ..State::default()
            })),
            fetch_lock: tokio::sync::Mutex::new(()),
            fetches: Default::default(),
        }
    }

    /// A cache that fetches from `source` on first use.
    pub(crate) fn remote(
        source: RemoteSource,
        refetch_interval: Duration,
        max_key_age: Duration,
    ) -> KeyCache {
        let span = |d: Duration| time::Duration::try_from(d).unwrap_or(time::Duration::MAX);
        KeyCache {
            issuer: source.issuer.clone(),
            source: Source::Remote(source),
            refetch_interval: span(refetch_interval),
            max_key_age: span(max_key_age),
            state: RwLock::new(Arc::new(State::default())),
            fetch_lock: tokio::sync::Mutex::new(()),
            fetches: Default::default(),
        }
    }

    /// Fetches made so far, by result.
    pub(crate) fn fetches(&self) -> [(FetchResult, u64); FetchResult::ALL.len()] {
        FetchResult::ALL.map(|r| {
            let count = self
                .fetches
                .get(r.index())
                .map_or(0, |c| c.load(Ordering::Relaxed));
            (r, count)
        })
    }

    fn count(&self, result: FetchResult) {
        if let Some(c) = self.fetches.get(result.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn snapshot(&self) -> Arc<State> {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn store(&self, state: Arc<State>) {
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = state;
    }

    /// The key to verify a token with `kid` and `alg`. The hot path (a cached key, not too old)
    /// takes a `std` read lock just long enough to clone an `Arc` and never awaits. Fetching
    /// happens under an async mutex so that concurrent requests for one provider share one
    /// fetch; at most one fetch starts per `refetch_interval`, whatever the traffic. When a fetch
    /// fails, keys already held keep serving; a token that needs a key the cache does not have
    /// gets [`OidcError::KeysUnavailable`].
    pub(crate) async fn resolve(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        ctx: FetchContext<'_>,
    ) -> Result<KeyRef, OidcError> {
        let state = self.snapshot();
        let remote = match &self.source {
            Source::Static => return self.found_or_error(&state, kid, alg),
            Source::Remote(remote) => remote,
        };

        if let Some(keys) = &state.keys {
            match keys.find(kid, alg) {
                Lookup::Found(index) => {
                    if !self.is_old(&state, ctx.clock.now()) {
                        return Ok(KeyRef {
                            set: keys.clone(),
                            index,
                        });
                    }
                    return self.refresh_old(remote, &state, kid, alg, index, ctx).await;
                }
                Lookup::Ambiguous => return Err(OidcError::MissingKeyId),
                Lookup::AlgorithmMismatch => return Err(OidcError::AlgorithmMismatch),
                Lookup::UnknownKid => {}
            }
        }

        // A key we do not have: wait for (or make) a fetch, then look again.
        let _fetching = self.fetch_lock.lock().await;
        let latest = self.fetch_locked(remote, state.generation, ctx).await;
        self.found_or_error(&latest, kid, alg)
    }

    /// The token's key is in a set older than `max_key_age`: refresh, unless someone already is
    /// (then the old set serves this request). If the refresh fails, the old set serves; if it
    /// succeeds, the new set decides.
    async fn refresh_old(
        &self,
        remote: &RemoteSource,
        old: &Arc<State>,
        kid: Option<&str>,
        alg: Algorithm,
        index: usize,
        ctx: FetchContext<'_>,
    ) -> Result<KeyRef, OidcError> {
        let serve_old = || match &old.keys {
            Some(keys) => Ok(KeyRef {
                set: keys.clone(),
                index,
            }),
            None => Err(OidcError::UnknownKeyId),
        };
        let Ok(_fetching) = self.fetch_lock.try_lock() else {
            return serve_old();
        };
        let latest = self.fetch_locked(remote, old.generation, ctx).await;
        let refreshed = latest.generation != old.generation
            && latest
                .last_attempt
                .as_ref()
                .is_some_and(|a| a.failure.is_none());
        if refreshed {
            self.found_or_error(&latest, kid, alg)
        } else {
            serve_old()
        }
    }

    /// Fetches unless a fetch happened since `seen_generation` or the last one started less
    /// than `refetch_interval` ago; returns the state to use. Call with `fetch_lock` held.
    async fn fetch_locked(
        &self,
        remote: &RemoteSource,
        seen_generation: u64,
        ctx: FetchContext<'_>,
    ) -> Arc<State> {
        let current = self.snapshot();
        if current.generation != seen_generation {
            return current;
        }
        let now = ctx.clock.now();
        if let Some(last) = &current.last_attempt
            && self.too_soon(last.at, now)
        {
            return current;
        }
        let result = fetch_keys(ctx.clients, remote, ctx.timeout).await;
        self.count(match &result {
            Ok(_) => FetchResult::Success,
            Err(e) => e.result(),
        });
        let next = match result {
            Ok(keys) => {
                tracing::info!(issuer = %self.issuer, keys = keys.len(), "fetched OIDC provider keys");
                State {
                    keys: Some(Arc::new(keys)),
                    fetched_at: Some(now),
                    last_attempt: Some(Attempt {
                        at: now,
                        failure: None,
                    }),
                    generation: current.generation + 1,
                }
            }
            Err(error) => {
                tracing::warn!(
                    issuer = %self.issuer,
                    error = %error,
                    cached = current.keys.is_some(),
                    "could not fetch OIDC provider keys"
                );
                State {
                    keys: current.keys.clone(),
                    fetched_at: current.fetched_at,
                    last_attempt: Some(Attempt {
                        at: now,
                        failure: Some(Arc::new(error)),
                    }),
                    generation: current.generation + 1,
                }
            }
        };
        let next = Arc::new(next);
        self.store(next.clone());
        next
    }

    fn is_old(&self, state: &State, now: OffsetDateTime) -> bool {
        state
            .fetched_at
            .is_some_and(|at| now - at >= self.max_key_age)
    }

    /// Whether a fetch started at `last` forbids another at `now`. A clock that went backwards
    /// does not block fetching.
    fn too_soon(&self, last: OffsetDateTime, now: OffsetDateTime) -> bool {
        let elapsed = now - last;
        elapsed >= time::Duration::ZERO && elapsed < self.refetch_interval
    }

    /// The token's key in `state`, or why there is none.
    fn found_or_error(
        &self,
        state: &State,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<KeyRef, OidcError> {
        let unavailable = || OidcError::KeysUnavailable {
            issuer: self.issuer.clone(),
            source: state.last_attempt.as_ref().and_then(|a| a.failure.clone()),
        };
        let Some(keys) = &state.keys else {
            return Err(unavailable());
        };
        match keys.find(kid, alg) {
            Lookup::Found(index) => Ok(KeyRef {
                set: keys.clone(),
                index,
            }),
            Lookup::Ambiguous => Err(OidcError::MissingKeyId),
            Lookup::AlgorithmMismatch => Err(OidcError::AlgorithmMismatch),
            // Not in the keys we hold: if the latest fetch failed, the provider may well have it.
            Lookup::UnknownKid => {
                match state.last_attempt.as_ref().and_then(|a| a.failure.as_ref()) {
                    Some(_) => Err(unavailable()),
                    None => Err(OidcError::UnknownKeyId),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::clock::ManualClock;
    use crate::oidc::testkit::{ACCOUNT, Idp, NOW, TestKey, http_client, jwk_set, sign_raw};
    use crate::oidc::{OidcErrorKind, ProviderConfig, Registry, install_crypto_provider};

    struct Fixture {
        idp: Idp,
        clock: Arc<ManualClock>,
        registry: Arc<Registry>,
    }

    async fn fixture(keys: &[&TestKey], tweak: impl FnOnce(&mut ProviderConfig)) -> Fixture {
        install_crypto_provider();
        let idp = Idp::start(keys).await;
        let clock = Arc::new(ManualClock::new(
            OffsetDateTime::from_unix_timestamp(NOW).unwrap(),
        ));
        let mut config = idp.config();
        tweak(&mut config);
        let registry = Registry::new(vec![config], http_client(), clock.clone()).unwrap();
        Fixture {
            idp,
            clock,
            registry: Arc::new(registry),
        }
    }

    impl Fixture {
        fn token(&self, key: &TestKey) -> String {
            key.sign(&self.claims())
        }

        fn token_with_kid(&self, key: &TestKey, kid: &str) -> String {
            let header = json!({"alg": key.alg_name(), "kid": kid}).to_string();
            sign_raw(key, &header, &self.claims().to_string())
        }

        fn claims(&self) -> Value {
            json!({"iss": self.idp.issuer, "aud": "sts.amazonaws.com", "sub": "s", "exp": NOW + 100_000})
        }

        async fn verify(&self, token: &str) -> Result<(), OidcError> {
            self.registry.verify(token, ACCOUNT).await.map(|_| ())
        }

        fn advance(&self, seconds: i64) {
            self.clock.advance(time::Duration::seconds(seconds));
        }

        fn hits(&self) -> (usize, usize) {
            (self.idp.discovery_hits(), self.idp.jwks_hits())
        }
    }

    #[tokio::test]
    async fn first_use_fetches_then_keys_are_cached() {
        let f = fixture(&[TestKey::rsa_a()], |_| {}).await;
        assert_eq!(f.hits(), (0, 0), "Registry::new must not fetch");
        f.verify(&f.token(TestKey::rsa_a())).await.unwrap();
        assert_eq!(f.hits(), (1, 1));
        for _ in 0..5 {
            f.verify(&f.token(TestKey::rsa_a())).await.unwrap();
        }
        f.advance(3599);
        f.verify(&f.token(TestKey::rsa_a())).await.unwrap();
        assert_eq!(f.hits(), (1, 1));
    }

    #[tokio::test]
    async fn rotation_is_picked_up_by_a_rate_limited_refetch() {
        let f = fixture(&[TestKey::rsa_a()], |_| {}).await;
        f.verify(&f.token(TestKey::rsa_a())).await.unwrap();
        f.idp.set_keys(&[TestKey::rsa_b()]);

        // Within refetch_interval of the last fetch an unknown kid is refused without a fetch.
        let err = f.verify(&f.token(TestKey::rsa_b())).await.unwrap_err();
        assert!(matches!(err, OidcError::UnknownKeyId), "{err:?}");
        assert_eq!(f.hits(), (1, 1));

        f.advance(10);
        f.verify(&f.token(TestKey::rsa_b())).await.unwrap();
        assert_eq!(f.hits(), (2, 2));

        // The old key is gone from the provider: refused, and refetched only once per interval.
        let err = f.verify(&f.token(TestKey::rsa_a())).await.unwrap_err();
        assert!(matches!(err, OidcError::UnknownKeyId), "{err:?}");
        assert_eq!(f.hits(), (2, 2));
        f.advance(10);
        let err = f.verify(&f.token(TestKey::rsa_a())).await.unwrap_err();
        assert!(matches!(err, OidcError::UnknownKeyId), "{err:?}");
        assert_eq!(err.kind(), OidcErrorKind::Invalid);
        assert_eq!(f.hits(), (3, 3));
    }

    #[tokio::test]
    async fn old_keys_are_refreshed_on_next_use_and_the_new_set_decides() {
        let f = fixture(&[TestKey::rsa_a(), TestKey::rsa_b()], |_| {}).await;
        f.verify(&f.token(TestKey::rsa_a())).await.unwrap();
        f.advance(3600);
        f.verify(&f.token(TestKey::rsa_a())).await.unwrap();
        assert_eq!(f.hits(), (2, 2));

        f.idp.set_keys(&[TestKey::rsa_b()]);
        f.advance(3600);
        let err = f.verify(&f.token(TestKey::rsa_a())).await.unwrap_err();
        assert!(matches!(err, OidcError::UnknownKeyId), "{err:?}");
        f.verify(&f.token(TestKey::rsa_b())).await.unwrap();
        assert_eq!(f.hits(), (3, 3));
    }

    #[tokio::test]
    async fn during_an_outage_cached_keys_serve_and_missing_keys_are_unreachable() {
        let f = fixture(&[TestKey::rsa_a()], |_| {}).await;
        f.verify(&f.token(TestKey::rsa_a())).await.unwrap();
        f.idp.set_down(true);

        // Old keys: the refresh fails, the cached key still serves.
        f.advance(3600);
        f.verify(&f.token(TestKey::rsa_a())).await.unwrap();
        assert_eq!(f.hits(), (2, 1));
        f.verify(&f.token(TestKey::rsa_a())).await.unwrap();
        assert_eq!(
            f.hits(),
            (2, 1),
            "a failed refresh is not retried within the interval"
        );

        // A key we do not have, while the provider is down: IdpUnreachable, fetch or not.
        let unknown = f.token(TestKey::rsa_c());
        let err = f.verify(&unknown).await.unwrap_err();
        assert_eq!(err.kind(), OidcErrorKind::IdpUnreachable, "{err:?}");
        assert_eq!(f.hits(), (2, 1));
        f.advance(10);
        let err = f.verify(&unknown).await.unwrap_err();
        assert_eq!(err.kind(), OidcErrorKind::IdpUnreachable, "{err:?}");
        assert_eq!(err.to_string(), crate::oidc::KEY_UNAVAILABLE_MESSAGE);
        assert_eq!(f.hits(), (3, 1));

        // Back up: the next allowed fetch repairs everything.
        f.idp.set_down(false);
        f.idp.set_keys(&[TestKey::rsa_a(), TestKey::rsa_c()]);
        f.advance(10);
        f.verify(&unknown).await.unwrap();
        assert_eq!(f.hits(), (4, 2));
        // Each fetch counted once by how it ended: the 503s are HTTP errors.
        let fetches = f.registry.key_fetches();
        assert_eq!(fetches.len(), 1);
        assert_eq!(fetches[0].0, f.idp.issuer);
        assert_eq!(
            fetches[0].1,
            [
                (FetchResult::Success, 2),
                (FetchResult::Timeout, 0),
                (FetchResult::HttpError, 2),
                (FetchResult::Invalid, 0),
            ]
        );
    }

    #[tokio::test]
    async fn a_provider_down_at_first_use_is_unreachable() {
        let f = fixture(&[TestKey::rsa_a()], |_| {}).await;
        f.idp.set_down(true);
        let token = f.token(TestKey::rsa_a());
        let err = f.verify(&token).await.unwrap_err();
        assert_eq!(err.kind(), OidcErrorKind::IdpUnreachable);
        assert!(
            matches!(
                &err,
                OidcError::KeysUnavailable {
                    source: Some(_),
                    ..
                }
            ),
            "{err:?}"
        );
        let err = f.verify(&token).await.unwrap_err();
        assert_eq!(err.kind(), OidcErrorKind::IdpUnreachable);
        assert_eq!(f.hits(), (1, 0), "no second fetch within the interval");

        f.idp.set_down(false);
        f.advance(10);
        f.verify(&token).await.unwrap();
    }

    #[tokio::test]
    async fn concurrent_requests_share_one_fetch() {
        // No rate limit: only single-flight keeps this to one fetch.
        let f = fixture(&[TestKey::rsa_a()], |c| c.refetch_interval = Duration::ZERO).await;
        let hold = f.idp.hold_jwks().await;
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let registry = f.registry.clone();
                let token = f.token(TestKey::rsa_a());
                tokio::spawn(async move { registry.verify(&token, ACCOUNT).await.map(|_| ()) })
            })
            .collect();
        f.idp.jwks_requested().await;
        drop(hold);
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(f.hits(), (1, 1));
    }

    #[tokio::test]
    async fn a_flood_of_unknown_kids_fetches_at_most_once_per_interval() {
        let f = fixture(&[TestKey::rsa_a()], |_| {}).await;
        f.verify(&f.token(TestKey::rsa_a())).await.unwrap();
        for i in 0..100 {
            let err = f
                .verify(&f.token_with_kid(TestKey::rsa_a(), &format!("bogus-{i}")))
                .await
                .unwrap_err();
            assert!(matches!(err, OidcError::UnknownKeyId), "{err:?}");
        }
        assert_eq!(f.hits(), (1, 1));

        // Concurrent flood after the interval: one fetch for all of them.
        f.advance(10);
        let hold = f.idp.hold_jwks().await;
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let registry = f.registry.clone();
                let token = f.token_with_kid(TestKey::rsa_a(), &format!("flood-{i}"));
                tokio::spawn(async move { registry.verify(&token, ACCOUNT).await })
            })
            .collect();
        f.idp.jwks_requested().await;
        drop(hold);
        for task in tasks {
            let err = task.await.unwrap().unwrap_err();
            assert!(matches!(err, OidcError::UnknownKeyId), "{err:?}");
        }
        assert_eq!(f.hits(), (2, 2));
        // The known key never stopped working.
        f.verify(&f.token(TestKey::rsa_a())).await.unwrap();
        assert_eq!(f.hits(), (2, 2));
    }

    #[tokio::test]
    async fn a_hung_provider_times_out() {
        install_crypto_provider();
        let idp = Idp::start(&[TestKey::rsa_a()]).await;
        let clock = Arc::new(ManualClock::new(
            OffsetDateTime::from_unix_timestamp(NOW).unwrap(),
        ));
        let registry = Registry::new(vec![idp.config()], http_client(), clock)
            .unwrap()
            .with_fetch_timeout(Duration::from_millis(200));
        let _hold = idp.hold_jwks().await;
        let claims =
            json!({"iss": idp.issuer, "aud": "sts.amazonaws.com", "sub": "s", "exp": NOW + 60});
        let err = registry
            .verify(&TestKey::rsa_a().sign(&claims), ACCOUNT)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), OidcErrorKind::IdpUnreachable, "{err:?}");
    }

    /// Two accounts registering one issuer: one stream of fetches at the IdP, whichever
    /// account's token asks first; a token for an account without a provider of its issuer
    /// costs no fetch.
    #[tokio::test]
    async fn accounts_registering_one_issuer_share_one_stream_of_fetches() {
        let f = fixture(&[TestKey::rsa_a()], |_| {}).await;
        let mut theirs = f.idp.config();
        theirs.account = "444455556666".to_owned();
        let registry =
            Registry::new(vec![f.idp.config(), theirs], http_client(), f.clock.clone()).unwrap();
        let token = f.token(TestKey::rsa_a());
        let err = registry.verify(&token, "999988887777").await.unwrap_err();
        assert!(matches!(err, OidcError::UnknownIssuer { .. }), "{err:?}");
        assert_eq!(f.hits(), (0, 0));
        registry.verify(&token, ACCOUNT).await.unwrap();
        registry.verify(&token, "444455556666").await.unwrap();
        assert_eq!(f.hits(), (1, 1));
        // A kid nobody has: one refetch for both accounts per interval.
        f.advance(10);
        for account in [ACCOUNT, "444455556666", ACCOUNT] {
            let err = registry
                .verify(&f.token_with_kid(TestKey::rsa_a(), "gone"), account)
                .await
                .unwrap_err();
            assert!(matches!(err, OidcError::UnknownKeyId), "{err:?}");
        }
        assert_eq!(f.hits(), (2, 2));
        let fetches = registry.key_fetches();
        assert_eq!(fetches.len(), 1);
        assert_eq!(fetches[0].1[0], (FetchResult::Success, 2));
    }

    #[tokio::test]
    async fn a_configured_jwks_uri_is_used_without_discovery() {
        let f = fixture(&[TestKey::es256()], |_| {}).await;
        let jwks_uri = f.idp.jwks_uri();
        let f = Fixture {
            registry: Arc::new(
                Registry::new(
                    vec![ProviderConfig {
                        jwks_uri: Some(jwks_uri),
                        ..f.idp.config()
                    }],
                    http_client(),
                    f.clock.clone(),
                )
                .unwrap(),
            ),
            ..f
        };
        f.verify(&f.token(TestKey::es256())).await.unwrap();
        assert_eq!(f.hits(), (0, 1));
    }

    #[tokio::test]
    async fn static_keys_are_never_fetched() {
        let f = fixture(&[TestKey::rsa_a()], |c| {
            c.static_keys = Some(jwk_set(&[TestKey::rsa_b()]))
        })
        .await;
        f.verify(&f.token(TestKey::rsa_b())).await.unwrap();
        let err = f.verify(&f.token(TestKey::rsa_a())).await.unwrap_err();
        assert!(matches!(err, OidcError::UnknownKeyId), "{err:?}");
        f.advance(100_000);
        let err = f.verify(&f.token(TestKey::rsa_a())).await.unwrap_err();
        assert!(
            matches!(err, OidcError::Expired { .. } | OidcError::UnknownKeyId),
            "{err:?}"
        );
        assert_eq!(f.hits(), (0, 0));
    }

    #[tokio::test]
    async fn a_clock_that_went_backwards_does_not_block_fetching() {
        let f = fixture(&[TestKey::rsa_a()], |_| {}).await;
        f.verify(&f.token(TestKey::rsa_a())).await.unwrap();
        f.idp.set_keys(&[TestKey::rsa_a(), TestKey::rsa_b()]);
        f.advance(-60);
        f.verify(&f.token(TestKey::rsa_b())).await.unwrap();
        assert_eq!(f.hits(), (2, 2));
    }
}
