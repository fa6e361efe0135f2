//! Throttling as AWS does it (`[rate_limits]`, see docs/operations.md#throttling): token
//! buckets per client address, per role and per identity-provider subject; a request over a
//! limit is answered `Throttling` (400, `Rate exceeded`), which every AWS SDK retries with
//! backoff. A throttled request costs no signature verification, no IdP fetch, no store write.
//!
//! - `per_source_ip`: a token is taken at every door of the main listener first thing, before
//!   the body is read or anything verified: the Query API, `POST /authorize`,
//!   `POST /admin/revoke`, `POST /admin/reload`, `POST /signin` and `POST /policy/validation`.
//!   Each door answers `Throttling` in its own format. Not taken by `/healthz`, `/readyz`, the
//!   dev issuer's documents, the `ext_authz` listener (its peers are proxies, one address for
//!   all their clients) or the metrics listener.
//! - `per_role` and `per_subject` (`sub` with its issuer; NameID with its SAML provider) are
//!   *peeked* before the proof is verified — an empty bucket refuses at no cost. A subject's
//!   token is *taken* once the proof verified, a role's only once the role accepted the caller
//!   (its trust policy passed). The role and subject a request names are the caller's word
//!   until then: were tokens taken on that word, anyone could drain a victim's bucket with
//!   forged tokens naming it and lock the victim out; and a valid proof the role does not
//!   trust (any GitHub user can get a GitHub Actions token) must not use up the rate of the
//!   callers it does trust. Such requests take from their own subject's bucket and
//!   `per_source_ip` only; the price is that concurrent requests that all saw the last token
//!   pay for verification before all but one are refused.
//!
//! Buckets live in this replica ([`KeyedBuckets`]: bounded memory whatever keys are sprayed)
//! or, with `shared = true`, in the store (one atomic script per check on one key, which
//! expires once its bucket is full again; keys hold a digest of the role or subject, not the
//! value). Time is the broker's [`Clock`]: replicas sharing buckets need synchronized clocks,
//! as they already do for token lifetimes.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::audit;
use crate::clock::Clock;
use crate::config::RateLimits;
use crate::rate::Limit;
use crate::rate::keyed::KeyedBuckets;
use crate::store::Store;

use super::ApiError;

/// Keys each limit remembers in a replica (about 2 MiB of buckets at most).
const MAX_KEYS_PER_LIMIT: usize = 1 << 17;

/// The three limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    SourceIp,
    Role,
    Subject,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::SourceIp, Scope::Role, Scope::Subject];

    /// The limit's name in `[rate_limits]` (and in metrics).
    pub fn name(self) -> &'static str {
        match self {
            Scope::SourceIp => "per_source_ip",
            Scope::Role => "per_role",
            Scope::Subject => "per_subject",
        }
    }

    /// The audit line's reason for a request this limit refused.
    fn refusal(self) -> &'static str {
        match self {
            Scope::SourceIp => "throttledPerSourceIp",
            Scope::Role => "throttledPerRole",
            Scope::Subject => "throttledPerSubject",
        }
    }

    fn index(self) -> usize {
        match self {
            Scope::SourceIp => 0,
            Scope::Role => 1,
            Scope::Subject => 2,
        }
    }
}

/// The configured limits and their buckets (see the module header).
#[derive(Debug)]
pub struct Throttle {
    limits: RateLimits,
    store: Store,
    clock: Arc<dyn Clock>,
    /// This replica's buckets, by [`Scope::index`] (unused with `shared`).
    local: [KeyedBuckets; 3],
    /// Requests refused, by [`Scope::index`]; shared with the throttle a reload makes.
    throttled: Arc<[AtomicU64; 3]>,
}

impl Throttle {
    pub fn new(limits: RateLimits, store: Store, clock: Arc<dyn Clock>) -> Throttle {
        Throttle {
            limits,
            store,
            clock,
            local: std::array::from_fn(|_| KeyedBuckets::new(MAX_KEYS_PER_LIMIT)),
            throttled: Default::default(),
        }
    }

    /// The throttle of a reloaded configuration: the same buckets if the limits are unchanged,
    /// new (full) buckets for the new limits otherwise; the refusal counts go on either way.
    pub fn reconfigured(self: &Arc<Self>, limits: RateLimits) -> Arc<Throttle> {
        if limits == self.limits {
            return Arc::clone(self);
        }
        Arc::new(Throttle {
            limits,
            store: self.store.clone(),
            clock: self.clock.clone(),
            local: std::array::from_fn(|_| KeyedBuckets::new(MAX_KEYS_PER_LIMIT)),
            throttled: Arc::clone(&self.throttled),
        })
    }

    /// The limit of `scope`, if configured.
    pub fn limit(&self, scope: Scope) -> Option<Limit> {
        match scope {
            Scope::SourceIp => self.limits.per_source_ip,
            Scope::Role => self.limits.per_role,
            Scope::Subject => self.limits.per_subject,
        }
    }

    /// Requests refused since start, by limit name: what `sts_broker_throttled_total{limit}`
    /// reports.
    pub fn throttled_counts(&self) -> [(&'static str, u64); 3] {
        Scope::ALL.map(|s| (s.name(), self.throttled[s.index()].load(Ordering::Relaxed)))
    }

    /// Takes a token for the client's address: IPv4 by address, IPv6 by /64 (what one client
    /// is routinely given). No address known (not served over TCP): nothing to count.
    pub async fn source_ip(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let Some(ip) = ip else {
            return Ok(());
        };
        let mut key = [0u8; 9];
        let len = match crate::rate::client(ip) {
            IpAddr::V4(v4) => {
                key[..4].copy_from_slice(&v4.octets());
                4
            }
            IpAddr::V6(v6) => {
                key[0] = 6;
                key[1..9].copy_from_slice(&v6.octets()[..8]);
                9
            }
        };
        self.check(Scope::SourceIp, &key[..len], true).await
    }

    /// Whether the role's bucket has a token, taking none: before its proof is verified.
    pub async fn peek_role(&self, role_arn: &str) -> Result<(), ApiError> {
        self.check(Scope::Role, role_arn.as_bytes(), false).await
    }

    /// Takes a token from the role's bucket: once the proof verified.
    pub async fn take_role(&self, role_arn: &str) -> Result<(), ApiError> {
        self.check(Scope::Role, role_arn.as_bytes(), true).await
    }

    /// Whether the subject's bucket has a token, taking none: `provider` and `subject` are
    /// what an unverified proof claims.
    pub async fn peek_subject(&self, provider: &str, subject: &str) -> Result<(), ApiError> {
        self.subject(provider, subject, false).await
    }

    /// Takes a token from the subject's bucket: once the proof verified.
    pub async fn take_subject(&self, provider: &str, subject: &str) -> Result<(), ApiError> {
        self.subject(provider, subject, true).await
    }

    /// The subject's bucket; its key is built only when `per_subject` is configured (every
    /// web identity and SAML exchange passes here).
    async fn subject(&self, provider: &str, subject: &str, take: bool) -> Result<(), ApiError> {
        if self.limit(Scope::Subject).is_none() {
            return Ok(());
        }
        self.check(Scope::Subject, &subject_key(provider, subject), take)
            .await
    }

    async fn check(&self, scope: Scope, key: &[u8], take: bool) -> Result<(), ApiError> {
        let Some(limit) = self.limit(scope) else {
            return Ok(());
        };
        let now_us = micros(self.clock.now());
        let allowed = if self.limits.shared {
            self.store
                .rate_check(scope.name(), &digest(key), &limit, now_us, take)
                .await
                .map_err(|e| {
                    tracing::warn!(limit = scope.name(), error = %e, "shared rate limit not checked");
                    ApiError::from(e)
                })?
        } else {
            self.local[scope.index()]
                .check(&limit, key, now_us, take)
                .is_allowed()
        };
        if allowed {
            return Ok(());
        }
        self.throttled[scope.index()].fetch_add(1, Ordering::Relaxed);
        audit::note(|n| n.refusal = Some(scope.refusal()));
        Err(ApiError::throttled())
    }
}

/// The provider and the subject, which holds no NUL (a JWT string claim or a NameID could,
/// but then the provider part still differs): one bucket per pair.
fn subject_key(provider: &str, subject: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(provider.len() + 1 + subject.len());
    key.extend_from_slice(provider.as_bytes());
    key.push(0);
    key.extend_from_slice(subject.as_bytes());
    key
}

/// A store key's id for `key`: 128 bits of its SHA-256, hex. Fixed length whatever the key,
/// and the store holds no subject or role name.
fn digest(key: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, key);
    hex::encode(&d.as_ref()[..16])
}

fn micros(t: time::OffsetDateTime) -> u64 {
    u64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::MemoryStore;

    fn throttle(limits: RateLimits) -> (Throttle, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(
            time::macros::datetime!(2026-05-01 12:00 UTC),
        ));
        let t = Throttle::new(limits, Store::Memory(MemoryStore::default()), clock.clone());
        (t, clock)
    }

    fn per_second(rate: f64, burst: u32) -> Option<Limit> {
        Limit::new(rate, burst)
    }

    #[test]
    fn every_refusal_is_one_the_audit_log_sheds_first() {
        for scope in [Scope::SourceIp, Scope::Role, Scope::Subject] {
            assert!(
                scope.refusal().starts_with(audit::THROTTLED_PREFIX),
                "{scope:?}"
            );
        }
    }

    #[tokio::test]
    async fn no_limits_refuse_nothing() {
        let (t, _) = throttle(RateLimits::default());
        for _ in 0..1000 {
            t.source_ip(Some("192.0.2.1".parse().unwrap()))
                .await
                .unwrap();
            t.take_role("arn:aws:iam::111122223333:role/r")
                .await
                .unwrap();
            t.take_subject("https://idp", "alice").await.unwrap();
        }
        assert!(t.throttled_counts().iter().all(|(_, n)| *n == 0));
    }

    #[tokio::test]
    async fn addresses_count_alone_and_ipv6_by_slash_64() {
        let (t, clock) = throttle(RateLimits {
            per_source_ip: per_second(1.0, 2),
            ..RateLimits::default()
        });
        let a = Some("192.0.2.1".parse().unwrap());
        t.source_ip(a).await.unwrap();
        t.source_ip(a).await.unwrap();
        assert_eq!(
            t.source_ip(a).await.unwrap_err().code.as_str(),
            "Throttling"
        );
        // The same address written as IPv4-mapped IPv6 is the same client.
        let mapped = Some("::ffff:192.0.2.1".parse().unwrap());
        assert!(t.source_ip(mapped).await.is_err());
        t.source_ip(Some("192.0.2.2".parse().unwrap()))
            .await
            .unwrap();
        // Two addresses of one /64 share a bucket; another /64 has its own.
        t.source_ip(Some("2001:db8::1".parse().unwrap()))
            .await
            .unwrap();
        t.source_ip(Some("2001:db8::2".parse().unwrap()))
            .await
            .unwrap();
        assert!(
            t.source_ip(Some("2001:db8::3".parse().unwrap()))
                .await
                .is_err()
        );
        t.source_ip(Some("2001:db8:0:1::1".parse().unwrap()))
            .await
            .unwrap();
        assert_eq!(t.throttled_counts()[0], ("per_source_ip", 3));
        clock.advance(time::Duration::seconds(1));
        t.source_ip(a).await.unwrap();
        t.source_ip(None).await.unwrap();
    }

    #[tokio::test]
    async fn peeking_never_drains_and_taking_does() {
        let (t, _) = throttle(RateLimits {
            per_role: per_second(1.0, 1),
            per_subject: per_second(1.0, 1),
            ..RateLimits::default()
        });
        for _ in 0..100 {
            t.peek_subject("https://idp", "victim").await.unwrap();
            t.peek_role("arn:aws:iam::111122223333:role/r")
                .await
                .unwrap();
        }
        t.take_subject("https://idp", "victim").await.unwrap();
        assert!(t.peek_subject("https://idp", "victim").await.is_err());
        // The same subject at another provider is another identity.
        t.peek_subject("https://other", "victim").await.unwrap();
        t.take_role("arn:aws:iam::111122223333:role/r")
            .await
            .unwrap();
        assert!(
            t.take_role("arn:aws:iam::111122223333:role/r")
                .await
                .is_err()
        );
        assert_eq!(
            t.throttled_counts(),
            [("per_source_ip", 0), ("per_role", 1), ("per_subject", 1)]
        );
    }

    #[tokio::test]
    async fn shared_buckets_live_in_the_store_under_a_digest() {
        let store = Store::Memory(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(
            time::macros::datetime!(2026-05-01 12:00 UTC),
        ));
        let limits = RateLimits {
            per_role: per_second(1.0, 3),
            shared: true,
            ..RateLimits::default()
        };
        // Two throttles on one store: one bucket.
        let a = Throttle::new(limits, store.clone(), clock.clone());
        let b = Throttle::new(limits, store.clone(), clock.clone());
        let role = "arn:aws:iam::111122223333:role/r";
        a.take_role(role).await.unwrap();
        b.take_role(role).await.unwrap();
        a.take_role(role).await.unwrap();
        assert!(b.take_role(role).await.is_err());
        assert!(a.peek_role(role).await.is_err());
        assert!(a.local[1].is_empty());
        let id = digest(role.as_bytes());
        assert_eq!(id.len(), 32);
        assert!(
            store
                .entry_ttl("throttle", &format!("per_role:{id}"))
                .await
                .unwrap()
                .is_some()
        );
    }
}
