//! Revocation: ending sessions before they expire, on every replica within a second.
//!
//! An operator revokes a session (access key id), a subject (an identity provider's `sub` or
//! NameID), a role (every session issued up to now), or a role's sessions issued before a time
//! (AWS's only tool). [`Revocations::revoke`] turns that into rules, writes each to the store
//! with a TTL no longer than what it covers, applies them locally and publishes them; every
//! replica's subscriber ([`sync`]) applies them to its local cache ([`index`]) at once, and
//! reloads every live rule from the store when it (re)connects and every 30 seconds.
//! [`Revocations::check`] runs on every authenticated request: hash lookups, no I/O.
//!
//! What a rule covers includes the sessions chained from a covered session: they carry their
//! ancestors ([`crate::session::Lineage`]) and are checked as those were. Chained sessions last
//! at most an hour and none can be issued from a revoked session once the rule has arrived,
//! so every rule lives at least [`DESCENDANT_COVER`] after the revocation.
//!
//! Fail closed: with Redis, a cache that has not been confirmed by the store (a ping or a
//! message on the subscription, or a resync) for [`STALE_AFTER`] answers
//! [`Revoked::Unconfirmed`], which callers turn into `ServiceUnavailable`.

mod index;
mod sync;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use index::{Revoked, SessionFacts};

use crate::clock::Clock;
use crate::iam::Iam;
use crate::keys::SessionKeys;
use crate::session::SessionRecord;
use crate::store::{Store, StoreError};

/// Store namespace of revocation entries: keys `sts-broker:revoked:<id>`.
pub const NAMESPACE: &str = "revoked";
/// Pub/sub channel carrying revocations between replicas: `sts-broker:events`.
pub const CHANNEL: &str = "events";
/// How long the cache is trusted without hearing from the store.
pub const STALE_AFTER: Duration = Duration::from_secs(5);
/// Time between full reloads of every entry, a safety net under pub/sub.
pub const RESYNC_EVERY: Duration = Duration::from_secs(30);
/// Longest a role session may last (IAM's `MaxSessionDuration` bound), assumed for roles this
/// configuration does not know.
pub const LONGEST_ROLE_SESSION: u32 = 43_200;
/// Every rule lives at least this long after the revocation (seconds): a session chained from
/// a covered one before the rule arrived lasts at most an hour (`AssumeRole` chaining cap),
/// plus a minute for propagation and clocks.
pub const DESCENDANT_COVER: i64 = 3600 + 60;
/// Longest accepted subject and ARN in a revocation.
const MAX_SUBJECT_LEN: usize = 1024;
const MAX_ARN_LEN: usize = 2048;

/// What an operator revokes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Revocation {
    /// One session, by its access key id (`ASIA...`); with it, the web identity token it was
    /// issued for cannot be exchanged again.
    Session { access_key_id: String },
    /// Every session federated for this subject of this identity provider (ARN) issued up to
    /// now, and every token of the subject issued (`iat`) up to now.
    Subject { provider: String, subject: String },
    /// Every session of the role issued up to now.
    Role { role_arn: String },
    /// Every session of the role issued before `before` (unix seconds, not in the future).
    RoleIssuedBefore { role_arn: String, before: i64 },
}

/// One stored rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Rule {
    Session {
        access_key_id: String,
    },
    Subject {
        provider: String,
        subject: String,
        issued_up_to: i64,
    },
    Role {
        role_arn: String,
        issued_up_to: i64,
    },
    WebIdentityToken {
        /// Lowercase hex SHA-256 of the token.
        sha256: String,
    },
}

/// A rule as stored and published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub rule: Rule,
    /// Unix seconds.
    pub revoked_at: i64,
    /// Unix seconds: when every session the rule covers has ended; the store's TTL.
    pub expires_at: i64,
}

impl Entry {
    /// The entry's name in the store: the same rule always gets the same name, so revoking
    /// twice stores one entry.
    pub fn id(&self) -> String {
        let rule = serde_json::to_string(&self.rule).unwrap_or_default();
        let digest = crate::session::sha256_hex(&rule);
        digest.chars().take(32).collect()
    }
}

/// What `revoke` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// These entries were stored, applied here and published.
    Revoked(Vec<Entry>),
    /// No live session has this access key id: nothing stored.
    SessionNotFound,
}

#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("entry encoding: {0}")]
    Encoding(#[from] serde_json::Error),
}

/// Whether the cache may be trusted: until a deadline, in milliseconds since `base`.
#[derive(Debug)]
struct Health {
    base: Instant,
    trusted_until_ms: AtomicU64,
}

impl Health {
    fn trusted_forever() -> Health {
        Health {
            base: Instant::now(),
            trusted_until_ms: AtomicU64::new(u64::MAX),
        }
    }

    fn untrusted() -> Health {
        Health {
            base: Instant::now(),
            trusted_until_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The store just confirmed the cache: trust it for [`STALE_AFTER`].
    fn confirmed(&self) {
        let until = self
            .now_ms()
            .saturating_add(u64::try_from(STALE_AFTER.as_millis()).unwrap_or(u64::MAX));
        self.trusted_until_ms.fetch_max(until, Ordering::Relaxed);
    }

    fn check(&self) -> Result<(), Revoked> {
        let until = self.trusted_until_ms.load(Ordering::Relaxed);
        if until == u64::MAX || self.now_ms() < until {
            Ok(())
        } else {
            Err(Revoked::Unconfirmed)
        }
    }
}

#[derive(Debug)]
struct Shared {
    index: ArcSwap<index::Index>,
    store: Store,
    clock: Arc<dyn Clock>,
    /// Role ARN → its `max_session_duration`.
    role_max: HashMap<String, u32>,
    /// The longest session any configured role grants.
    longest: u32,
    health: Health,
    /// Quiet time on the subscription before it is pinged, in milliseconds.
    keepalive_ms: AtomicU64,
    /// Subscriptions made again after the first one (each reloads every entry).
    reconnects: AtomicU64,
    /// Keep-alive pings the subscription answered.
    keepalives: AtomicU64,
    /// The session keys stored session records are verified with (revoking a session reads
    /// its record); none set: such a revocation fails.
    session_keys: std::sync::OnceLock<SessionKeys>,
}

/// What the subscriber has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionStats {
    /// Subscriptions made again after the first (a lost connection, a failed reload).
    pub reconnects: u64,
    /// Keep-alive pings answered on the subscription.
    pub keepalives: u64,
}

/// The revocations this replica knows; cheap to clone.
#[derive(Debug, Clone)]
pub struct Revocations {
    shared: Arc<Shared>,
}

impl Revocations {
    /// Revocations kept in `store`, with the session limits of the roles in `iam`. Nothing is
    /// loaded yet: see [`Revocations::start`].
    pub fn new(store: Store, clock: Arc<dyn Clock>, iam: &Iam) -> Revocations {
        let role_max: HashMap<String, u32> = iam
            .roles()
            .map(|r| (r.arn.clone(), r.max_session_duration))
            .collect();
        let longest = role_max
            .values()
            .copied()
            .max()
            .unwrap_or(LONGEST_ROLE_SESSION);
        let health = match store {
            Store::Memory(_) => Health::trusted_forever(),
            Store::Redis(_) => Health::untrusted(),
        };
        Revocations {
            shared: Arc::new(Shared {
                index: ArcSwap::from_pointee(index::Index::default()),
                store,
                clock,
                role_max,
                longest,
                health,
                keepalive_ms: AtomicU64::new(
                    u64::try_from(sync::KEEPALIVE.as_millis()).unwrap_or(u64::MAX),
                ),
                reconnects: AtomicU64::new(0),
                keepalives: AtomicU64::new(0),
                session_keys: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Pings the subscription after `every` without a message instead of
    /// the default second (tests use a short one to see many pings quickly).
    pub fn set_keepalive(&self, every: Duration) {
        let ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1);
        self.shared.keepalive_ms.store(ms, Ordering::Relaxed);
    }

    /// The keys a session's stored record is verified with when that session is revoked (the
    /// first call counts).
    pub fn set_session_keys(&self, keys: SessionKeys) {
        let _ = self.shared.session_keys.set(keys);
    }

    /// Reconnections and answered keep-alives of the subscriber so far.
    pub fn subscription_stats(&self) -> SubscriptionStats {
        SubscriptionStats {
            reconnects: self.shared.reconnects.load(Ordering::Relaxed),
            keepalives: self.shared.keepalives.load(Ordering::Relaxed),
        }
    }

    /// Loads every live entry from the store and, with Redis, starts the subscriber that keeps
    /// the cache current (it stops when every clone is dropped). Needs a tokio runtime.
    pub async fn start(&self) -> Result<(), StoreError> {
        sync::resync(&self.shared).await?;
        if matches!(self.shared.store, Store::Redis(_)) {
            self.shared.health.confirmed();
            tokio::spawn(sync::run(Arc::downgrade(&self.shared)));
        }
        Ok(())
    }

    /// Revokes `r` as of `now`: stores each rule with its TTL, applies it here, publishes it.
    pub async fn revoke(
        &self,
        r: Revocation,
        now: OffsetDateTime,
    ) -> Result<RevokeOutcome, RevocationError> {
        validate(&r, now.unix_timestamp())?;
        let now = now.unix_timestamp();
        let entries = match self.rules(r, now).await? {
            Some(entries) => entries,
            None => return Ok(RevokeOutcome::SessionNotFound),
        };
        let live: Vec<Entry> = entries.into_iter().filter(|e| e.expires_at > now).collect();
        let mut encoded = Vec::with_capacity(live.len());
        for e in &live {
            let bytes = serde_json::to_vec(e)?;
            let ttl = Duration::from_secs(u64::try_from(e.expires_at - now).unwrap_or(1));
            self.shared
                .store
                .put_entry(NAMESPACE, &e.id(), bytes.clone(), ttl)
                .await?;
            encoded.push(bytes);
        }
        self.apply(&live);
        for bytes in &encoded {
            self.shared.store.publish(CHANNEL, bytes).await?;
        }
        for e in &live {
            tracing::warn!(rule = ?e.rule, expires_at = e.expires_at, "revoked");
        }
        Ok(RevokeOutcome::Revoked(live))
    }

    /// The rules for `r` (`None`: no such session).
    async fn rules(&self, r: Revocation, now: i64) -> Result<Option<Vec<Entry>>, StoreError> {
        let at_least = now.saturating_add(DESCENDANT_COVER);
        let entry = |rule: Rule, covered_until: i64| Entry {
            rule,
            revoked_at: now,
            expires_at: covered_until.max(at_least),
        };
        Ok(Some(match r {
            Revocation::Session { access_key_id } => {
                let keys = self
                    .shared
                    .session_keys
                    .get()
                    .cloned()
                    .unwrap_or_else(|| SessionKeys::from_material(&[]));
                let Some(record) = self.shared.store.get_session(&access_key_id, &keys).await?
                else {
                    return Ok(None);
                };
                let mut out = vec![entry(Rule::Session { access_key_id }, record.expires_at)];
                if let Some(token) = record.lineage.web_identity_token {
                    // The token itself cannot chain: it lives exactly as long as it is usable.
                    out.push(Entry {
                        rule: Rule::WebIdentityToken {
                            sha256: token.sha256,
                        },
                        revoked_at: now,
                        expires_at: token.usable_until,
                    });
                }
                out
            }
            Revocation::Subject { provider, subject } => {
                // Any role may have granted the subject a session: cover the longest one.
                let covered = now.saturating_add(i64::from(self.shared.longest));
                vec![entry(
                    Rule::Subject {
                        provider,
                        subject,
                        issued_up_to: now,
                    },
                    covered,
                )]
            }
            Revocation::Role { role_arn } => {
                let covered = now.saturating_add(i64::from(self.role_max(&role_arn)));
                vec![entry(
                    Rule::Role {
                        role_arn,
                        issued_up_to: now,
                    },
                    covered,
                )]
            }
            Revocation::RoleIssuedBefore { role_arn, before } => {
                let covered = before.saturating_add(i64::from(self.role_max(&role_arn)));
                vec![entry(
                    Rule::Role {
                        role_arn,
                        issued_up_to: before.saturating_sub(1),
                    },
                    covered,
                )]
            }
        }))
    }

    fn role_max(&self, role_arn: &str) -> u32 {
        self.shared
            .role_max
            .get(role_arn)
            .copied()
            .unwrap_or(LONGEST_ROLE_SESSION)
    }

    fn apply(&self, entries: &[Entry]) {
        if entries.is_empty() {
            return;
        }
        self.shared.index.rcu(|old| {
            let mut index = index::Index::clone(old);
            for e in entries {
                index.apply(e);
            }
            index
        });
    }

    /// Whether a session may still be used: neither it nor a session it was chained from is
    /// revoked, and the cache is confirmed. Lookups only; runs on every authenticated request.
    pub fn check(&self, record: &SessionRecord) -> Result<(), Revoked> {
        self.shared.health.check()?;
        let index = self.shared.index.load();
        if index.is_empty() {
            return Ok(());
        }
        index.check(&SessionFacts {
            access_key_id: &record.access_key_id,
            role_arn: record.principal.role_arn(),
            provider: record.provider.as_deref(),
            subject: record.subject.as_deref(),
            issued_at: record.issued_at,
        })?;
        for a in &record.lineage.ancestors {
            index.check(&SessionFacts {
                access_key_id: &a.access_key_id,
                role_arn: a.role_arn.as_deref(),
                provider: a.provider.as_deref(),
                subject: a.subject.as_deref(),
                issued_at: a.issued_at,
            })?;
        }
        Ok(())
    }

    /// Whether a web identity token may be exchanged for a session (again): see
    /// [`Revocation::Session`] and [`Revocation::Subject`].
    pub fn check_web_identity(
        &self,
        provider: &str,
        subject: &str,
        issued_at: Option<i64>,
        token_sha256: &str,
    ) -> Result<(), Revoked> {
        self.shared.health.check()?;
        self.shared
            .index
            .load()
            .check_token(provider, subject, issued_at, token_sha256)
    }

    /// Rules held in this replica's cache.
    pub fn len(&self) -> usize {
        self.shared.index.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.shared.index.load().is_empty()
    }
}

fn validate(r: &Revocation, now: i64) -> Result<(), RevocationError> {
    let bad = |m: &str| Err(RevocationError::Invalid(m.to_owned()));
    let arn_ok = |arn: &str| arn.starts_with("arn:") && arn.len() <= MAX_ARN_LEN;
    match r {
        Revocation::Session { access_key_id } => {
            let shaped = access_key_id.len() == 20
                && access_key_id.starts_with("ASIA")
                && access_key_id[4..]
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b));
            if !shaped {
                return bad("a session is named by its access key id: ASIA and 16 of A-Z2-7");
            }
        }
        Revocation::Subject { provider, subject } => {
            if !arn_ok(provider) {
                return bad("the provider must be an identity provider ARN");
            }
            if subject.is_empty() || subject.len() > MAX_SUBJECT_LEN {
                return bad("the subject must be 1 to 1024 bytes");
            }
        }
        Revocation::Role { role_arn } => {
            if !arn_ok(role_arn) {
                return bad("the role must be a role ARN");
            }
        }
        Revocation::RoleIssuedBefore { role_arn, before } => {
            if !arn_ok(role_arn) {
                return bad("the role must be a role ARN");
            }
            if *before > now {
                return bad("the cut-off time must not be in the future");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
