//! Revocation: ending sessions, and those chained from them, before they expire, on every
//! replica within a second (what each target covers and for how long: docs/revocation.md).
//! [`Revocations::revoke`] stores, applies and publishes rules, [`sync`] applies them on every
//! replica, and [`Revocations::check`] looks them up on each request, failing closed.
//!
//! Why one long file: the rules, their store encoding and the cache checks are one state
//! machine whose invariants (fail closed, TTLs no shorter than what a rule covers) are easier to
//! keep in view together; the subscriber and the index are apart.

mod index;
mod sync;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use index::{Revoked, SessionFacts};

use crate::clock::Clock;
use crate::config::Config;
use crate::iam::Iam;
use crate::keys::SessionKeys;
use crate::session::{SessionPrincipal, SessionRecord};
use crate::store::{Store, StoreError};

/// Store namespace of revocation entries: keys `sts-broker:revoked:<id>`.
pub const NAMESPACE: &str = "revoked";
/// Pub/sub channel carrying revocations between replicas: `sts-broker:events`.
pub const CHANNEL: &str = "events";
/// How long the cache is trusted without hearing from the store (a ping, a message on the
/// subscription or a resync); past it, with Redis, [`Revocations::check`] answers
/// [`Revoked::Unconfirmed`], which callers turn into `ServiceUnavailable`.
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
/// Longest a `GetSessionToken` session lasts (36 hours): what a user revocation covers at least.
pub const LONGEST_USER_SESSION: u32 = 129_600;
/// Longest a SAML assertion may be presented after its `IssueInstant` (`AssumeRoleWithSAML`
/// refuses assertions valid longer).
pub const SAML_PROOF_LIFETIME: i64 = 7 * 24 * 3600;
/// Store namespace of the registry of configured roles and users: `sts-broker:principals:<id>`.
pub const REGISTRY: &str = "principals";
/// How long a registry entry outlives the last replica start (or daily refresh) that saw it.
pub const REGISTRY_TTL: Duration = Duration::from_secs(400 * 24 * 3600);
/// Longest accepted subject and ARN in a revocation.
const MAX_SUBJECT_LEN: usize = 1024;
const MAX_ARN_LEN: usize = 2048;

/// What an operator revokes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Revocation {
    /// One session, by its access key id (`ASIA...`); with it, every session issued for the
    /// same web identity token or SAML assertion, and the token cannot be exchanged again.
    Session { access_key_id: String },
    /// Every session federated for this subject of this identity provider (ARN) whose token or
    /// assertion was issued (`iat`, `IssueInstant`) up to now, and every such token.
    Subject { provider: String, subject: String },
    /// Every session of the role issued up to now.
    Role { role_arn: String },
    /// Every session of the role issued before `before` (unix seconds, not in the future).
    RoleIssuedBefore { role_arn: String, before: i64 },
    /// Every session of the IAM user issued up to now (`GetSessionToken`, and role sessions
    /// its long-term keys or sessions created), with the sessions chained from them.
    User { user_arn: String },
}

/// The kinds of [`Revocation`], as counted by [`Revocations::revoked_by_kind`].
pub const KINDS: [&str; 5] = ["session", "subject", "role", "role_issued_before", "user"];

impl Revocation {
    /// Its index in [`KINDS`].
    fn kind_index(&self) -> usize {
        match self {
            Revocation::Session { .. } => 0,
            Revocation::Subject { .. } => 1,
            Revocation::Role { .. } => 2,
            Revocation::RoleIssuedBefore { .. } => 3,
            Revocation::User { .. } => 4,
        }
    }
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
    User {
        user_arn: String,
        issued_up_to: i64,
    },
    /// Every session created with the long-term access key of this id at a generation up to
    /// this one (and those chained from them): the key was deactivated (a later activation
    /// is a later generation) or deleted. With `issued_up_to`, instead every session created
    /// with it up to that time, whatever the generation: for a key of the configuration file,
    /// whose generation never moves (`generation_up_to` is then `i64::MAX`, so that a build
    /// that does not read `issued_up_to` ends them all rather than none).
    AccessKey {
        access_key_id: String,
        generation_up_to: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        issued_up_to: Option<i64>,
    },
    /// The token cannot be exchanged again, and sessions issued for it are refused.
    WebIdentityToken {
        /// Lowercase hex SHA-256 of the token.
        sha256: String,
    },
    /// Sessions issued for the assertion are refused.
    SamlAssertion {
        /// Lowercase hex SHA-256 of the provider ARN and the assertion id.
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
    /// The configuration names no such role, user or identity provider: nothing stored.
    UnknownPrincipal(String),
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

/// What the configuration names, as revocation needs it: targets that exist and how long what
/// they cover can last.
#[derive(Debug, Clone, Default)]
pub struct Principals {
    /// Role ARN → its `max_session_duration`.
    pub roles: HashMap<String, u32>,
    pub users: HashSet<String>,
    /// Identity provider ARN → seconds a proof issued before a cut can still be presented
    /// after it (OIDC: `max_token_lifetime_seconds` + leeway; SAML: 7 days + leeway).
    pub providers: HashMap<String, i64>,
    /// Accounts whose IAM API entities this replica cannot read now (their stored document is
    /// damaged or of a newer format): their roles and users are not served, but neither are
    /// they removed, so that their sessions come back with the document rather than end.
    pub held_accounts: HashSet<String>,
}

impl Principals {
    /// Whether `arn` (a role's or user's) is of an account held as unreadable: not to be
    /// revoked as removed.
    fn holds(&self, arn: &str) -> bool {
        !self.held_accounts.is_empty()
            && arn
                .split(':')
                .nth(4)
                .is_some_and(|account| self.held_accounts.contains(account))
    }

    /// The roles, users and identity providers of `config`.
    pub fn of(config: &Config) -> Principals {
        let mut out = Principals::of_iam(&config.iam);
        for p in &config.oidc_providers {
            let leeway = i64::try_from(p.leeway.as_secs()).unwrap_or(i64::MAX);
            let lifetime = i64::try_from(p.max_token_lifetime.as_secs()).unwrap_or(i64::MAX);
            out.providers
                .insert(p.arn.clone(), lifetime.saturating_add(leeway));
        }
        for p in &config.saml_providers {
            let leeway = i64::try_from(p.leeway.as_secs()).unwrap_or(i64::MAX);
            out.providers
                .insert(p.arn.clone(), SAML_PROOF_LIFETIME.saturating_add(leeway));
        }
        out
    }

    /// [`Principals::of`] `config`, holding the accounts whose document in `layer` (the IAM
    /// API's, merged into `config`) this replica cannot use.
    pub fn held(config: &Config, layer: &crate::iam::api::Layer) -> Principals {
        let mut out = Principals::of(config);
        out.held_accounts = layer
            .accounts
            .iter()
            .filter(|(_, stored)| stored.document.is_unusable())
            .map(|(account, _)| account.clone())
            .collect();
        out
    }

    /// The roles and users of `iam` (the accounts' root users among them), no identity provider.
    pub fn of_iam(iam: &Iam) -> Principals {
        Principals {
            roles: iam
                .roles()
                .map(|r| (r.arn.clone(), r.max_session_duration))
                .collect(),
            // Accounts' root users too: their keys make GetSessionToken sessions as users', and
            // they sign in with a password (`POST /signin`).
            users: iam
                .users()
                .chain(iam.roots().map(|r| &r.user))
                .map(|u| u.arn.clone())
                .collect(),
            providers: HashMap::new(),
            held_accounts: HashSet::new(),
        }
    }
}

/// A configured role or user, as the store's registry remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Registered {
    kind: RegisteredKind,
    arn: String,
    /// Seconds its sessions (and those chained from them) can last.
    covers: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum RegisteredKind {
    Role,
    User,
}

impl Registered {
    fn id(&self) -> String {
        let digest = crate::session::sha256_hex(&format!("{:?}:{}", self.kind, self.arn));
        digest.chars().take(32).collect()
    }
}

#[derive(Debug)]
struct Shared {
    index: ArcSwap<index::Index>,
    store: Store,
    clock: Arc<dyn Clock>,
    /// Replaced whole by a configuration reload ([`Revocations::reconfigure`]).
    principals: ArcSwap<Principals>,
    /// The longest session any configured role grants.
    longest: u32,
    health: Health,
    /// Quiet time on the subscription before it is pinged, in milliseconds.
    keepalive_ms: AtomicU64,
    /// Subscriptions made again after the first one (each reloads every entry).
    reconnects: AtomicU64,
    /// Keep-alive pings the subscription answered.
    keepalives: AtomicU64,
    /// Revocations made through this replica, per [`KINDS`] entry.
    revoked: [AtomicU64; KINDS.len()],
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
    /// Revocations kept in `store`, for the configured `principals` (targets and session
    /// limits). Nothing is loaded yet: see [`Revocations::start`].
    pub fn new(store: Store, clock: Arc<dyn Clock>, principals: Principals) -> Revocations {
        // Rules cover the longest session any role can grant, not the configured maximum: a
        // maximum lowered after a session was issued must not shorten the rule that ends it.
        let longest = LONGEST_ROLE_SESSION;
        let health = match store {
            Store::Memory(_) => Health::trusted_forever(),
            Store::Redis(_) => Health::untrusted(),
        };
        Revocations {
            shared: Arc::new(Shared {
                index: ArcSwap::from_pointee(index::Index::default()),
                store,
                clock,
                principals: ArcSwap::from_pointee(principals),
                longest,
                health,
                keepalive_ms: AtomicU64::new(
                    u64::try_from(sync::KEEPALIVE.as_millis()).unwrap_or(u64::MAX),
                ),
                reconnects: AtomicU64::new(0),
                keepalives: AtomicU64::new(0),
                revoked: Default::default(),
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

    /// Revocations made through this replica so far (stored and published), per kind.
    pub fn revoked_by_kind(&self) -> [(&'static str, u64); KINDS.len()] {
        let mut out = KINDS.map(|k| (k, 0));
        for ((_, count), c) in out.iter_mut().zip(&self.shared.revoked) {
            *count = c.load(Ordering::Relaxed);
        }
        out
    }

    /// Loads every live entry from the store and, with Redis, starts the subscriber that keeps
    /// the cache current (it stops when every clone is dropped). Needs a tokio runtime.
    pub async fn start(&self) -> Result<(), StoreError> {
        // Entries an older build wrote without the index must not be lost on an upgrade.
        for namespace in [NAMESPACE, REGISTRY] {
            let added = self.shared.store.index_unlisted(namespace).await?;
            if added > 0 {
                tracing::warn!(namespace, added, "entries of an older build listed");
            }
        }
        sync::resync(&self.shared).await?;
        if matches!(self.shared.store, Store::Redis(_)) {
            self.shared.health.confirmed();
            tokio::spawn(sync::run(Arc::downgrade(&self.shared)));
        }
        Ok(())
    }

    /// Revokes `r` as of `now`: stores each rule with a TTL no shorter than what it covers (at
    /// least [`DESCENDANT_COVER`]; a subject rule also as long as a proof issued before it can be
    /// presented), applies it here, publishes it. A target the configuration does not name is
    /// refused.
    pub async fn revoke(
        &self,
        r: Revocation,
        now: OffsetDateTime,
    ) -> Result<RevokeOutcome, RevocationError> {
        validate(&r, now.unix_timestamp())?;
        if let Some(unknown) = self.unknown_target(&r) {
            return Ok(RevokeOutcome::UnknownPrincipal(unknown));
        }
        let now = now.unix_timestamp();
        let kind = r.kind_index();
        let entries = match self.rules(r, now).await? {
            Some(entries) => entries,
            None => return Ok(RevokeOutcome::SessionNotFound),
        };
        let stored = self.store_and_publish(entries, now).await?;
        if let Some(c) = self.shared.revoked.get(kind) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        Ok(RevokeOutcome::Revoked(stored))
    }

    /// Why `r` names nothing the configuration knows, if it does not.
    fn unknown_target(&self, r: &Revocation) -> Option<String> {
        let p = self.shared.principals.load();
        match r {
            Revocation::Session { .. } => None,
            Revocation::Subject { provider, .. } => (!p.providers.contains_key(provider))
                .then(|| format!("no identity provider {provider} is configured")),
            Revocation::Role { role_arn } | Revocation::RoleIssuedBefore { role_arn, .. } => {
                (!p.roles.contains_key(role_arn))
                    .then(|| format!("no role {role_arn} is configured"))
            }
            Revocation::User { user_arn } => {
                (!p.users.contains(user_arn)).then(|| format!("no user {user_arn} is configured"))
            }
        }
    }

    /// Stores each live entry with its TTL, applies them here, publishes them.
    async fn store_and_publish(
        &self,
        entries: Vec<Entry>,
        now: i64,
    ) -> Result<Vec<Entry>, RevocationError> {
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
        Ok(live)
    }

    /// Keeps the store's registry of configured roles and users current, and revokes durably
    /// every session of a role or user the registry knows but this configuration does not (it
    /// was removed): as of `now`, for as long as its sessions and those chained from them can
    /// last. Roles and users are named by digests of account and name, so without this a role
    /// removed and added back would bring its old sessions back; adding the role or user back
    /// later does not revive those sessions, since the rule outlives them; sessions issued
    /// after it work. Runs at start, before serving, and at each configuration reload
    /// ([`Revocations::reconfigure`]).
    ///
    /// Roles and users created through an API in the future must instead get a new unique id
    /// on every creation ([`crate::iam::new_unique_id`]), so that sessions of an earlier
    /// incarnation never match the new one.
    pub async fn reconcile(&self, now: OffsetDateTime) -> Result<Vec<Entry>, RevocationError> {
        let now = now.unix_timestamp();
        let p = self.shared.principals.load();
        let mut gone = Vec::new();
        for bytes in self.shared.store.entries(REGISTRY).await? {
            let Ok(known) = serde_json::from_slice::<Registered>(&bytes) else {
                tracing::warn!("unreadable principal registry entry skipped");
                continue;
            };
            let configured = match known.kind {
                RegisteredKind::Role => p.roles.contains_key(&known.arn),
                RegisteredKind::User => p.users.contains(&known.arn),
            };
            if !configured && !p.holds(&known.arn) {
                gone.push(removal(&known, now, now));
            }
        }
        let revoked = self.store_and_publish(gone, now).await?;
        self.register().await?;
        Ok(revoked)
    }

    /// Takes the roles, users and providers of a reloaded configuration. The roles and users
    /// the running configuration named and this one does not are revoked durably, as a
    /// restart would ([`Revocations::reconcile`]), for sessions issued up to now; a request
    /// still on the running configuration finds its role gone before it stores a session
    /// ([`Revocations::configures`]). Unlike a restart, the registry's other entries are left
    /// alone: a replica reloading a file older than another replica's must not end the
    /// sessions of roles only the newer file has. If that fails, the previous principals are
    /// put back and the error returned (the reload is refused).
    pub async fn reconfigure(
        &self,
        principals: Principals,
        now: OffsetDateTime,
    ) -> Result<Vec<Entry>, RevocationError> {
        let now = now.unix_timestamp();
        let previous = self.shared.principals.swap(Arc::new(principals));
        let next = self.shared.principals.load_full();
        let roles = previous
            .roles
            .iter()
            .filter(|(arn, _)| !next.roles.contains_key(*arn) && !next.holds(arn))
            .map(|(arn, max)| role_registered(arn, *max));
        let users = previous
            .users
            .iter()
            .filter(|arn| !next.users.contains(*arn) && !next.holds(arn))
            .map(|arn| user_registered(arn, self.shared.longest));
        let gone = roles.chain(users).map(|r| removal(&r, now, now)).collect();
        // Only the new ones: a change through IAM's API swaps the configuration, and writing
        // every role and user each time would cost every replica O(all principals) writes.
        let reconciled = async {
            register(&self.shared, Some(&previous)).await?;
            self.store_and_publish(gone, now).await
        }
        .await;
        if reconciled.is_err() {
            self.shared.principals.store(previous);
        }
        reconciled
    }

    /// Ends every session created with the long-term access key `access_key_id` at a
    /// generation up to `generation_up_to`, and those chained from them: for a key deactivated
    /// or deleted through IAM's API, by the replica that changes it once the change is stored.
    /// Kept as long as the longest session a user's key can create.
    pub async fn revoke_access_key(
        &self,
        access_key_id: &str,
        generation_up_to: i64,
        now: OffsetDateTime,
    ) -> Result<Vec<Entry>, RevocationError> {
        let now = now.unix_timestamp();
        let rule = Rule::AccessKey {
            access_key_id: access_key_id.to_owned(),
            generation_up_to,
            issued_up_to: None,
        };
        self.store_and_publish(vec![self.key_entry(rule, now)], now)
            .await
    }

    /// Ends every session created up to `now` with the configuration file's access key
    /// `access_key_id` (a user's or a root's), and those chained from them: for a key a reload
    /// removed or made inactive. A file key's generation never moves, so the cut is by issue
    /// time: the key listed (or made active) again later makes sessions that work.
    pub async fn revoke_file_key(
        &self,
        access_key_id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<Entry>, RevocationError> {
        let now = now.unix_timestamp();
        let rule = Rule::AccessKey {
            access_key_id: access_key_id.to_owned(),
            generation_up_to: i64::MAX,
            issued_up_to: Some(now),
        };
        self.store_and_publish(vec![self.key_entry(rule, now)], now)
            .await
    }

    /// A rule on a long-term key, kept as long as the longest session a user's key can create.
    fn key_entry(&self, rule: Rule, now: i64) -> Entry {
        let longest = LONGEST_USER_SESSION.max(self.shared.longest);
        Entry {
            rule,
            revoked_at: now,
            // A minute beyond the longest session: a replica a little behind (its swap, its
            // clock) may still issue one with the key as the rule is stored.
            expires_at: now
                .saturating_add(i64::from(longest))
                .saturating_add(60)
                .max(now.saturating_add(DESCENDANT_COVER)),
        }
    }

    /// Ends every session of the user `user_arn` issued up to `now` (and those chained from
    /// them), whether or not the configuration in force names it: for a user deleted through
    /// IAM's API, by the replica that deletes it once the deletion is stored.
    pub async fn revoke_removed_user(
        &self,
        user_arn: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<Entry>, RevocationError> {
        let now = now.unix_timestamp();
        let known = user_registered(user_arn, self.shared.longest);
        self.store_and_publish(vec![removal(&known, now, now)], now)
            .await
    }

    /// Ends every session of `role_arn` issued up to `now` (and those chained from them),
    /// whether or not the configuration in force names it: for a role deleted through IAM's
    /// API, revoked by the replica that deletes it once the deletion is stored.
    pub async fn revoke_removed_role(
        &self,
        role_arn: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<Entry>, RevocationError> {
        let now = now.unix_timestamp();
        let known = role_registered(role_arn, LONGEST_ROLE_SESSION);
        self.store_and_publish(vec![removal(&known, now, now)], now)
            .await
    }

    /// Whether the configuration in force names the role or user of `principal`. A session is
    /// stored only if so: a request that began before a reload removed its role finds out here,
    /// and the removal's rule (issued up to the reload's second, which is no earlier than the
    /// session's issue time) covers a session stored just before.
    pub fn configures(&self, principal: &SessionPrincipal) -> bool {
        let p = self.shared.principals.load();
        match principal {
            SessionPrincipal::Role { role_arn, .. } => p.roles.contains_key(role_arn),
            SessionPrincipal::User { user_arn, .. } => p.users.contains(user_arn),
        }
    }

    /// Writes every configured role and user to the registry (see [`Revocations::reconcile`]).
    pub async fn register(&self) -> Result<(), RevocationError> {
        register(&self.shared, None).await
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
                let Some(record) = self
                    .shared
                    .store
                    .get_session(&access_key_id, &keys.snapshot())
                    .await?
                else {
                    return Ok(None);
                };
                let mut out = vec![entry(Rule::Session { access_key_id }, record.expires_at)];
                // The proof it was issued for: it cannot be exchanged again, and every other
                // session issued for it (with any role, before this rule arrived) ends too.
                let siblings_end = now.saturating_add(i64::from(self.shared.longest));
                let lineage = record.lineage;
                if let Some(token) = lineage.web_identity_token {
                    out.push(entry(
                        Rule::WebIdentityToken {
                            sha256: token.sha256,
                        },
                        token.usable_until.max(siblings_end),
                    ));
                }
                if let Some(assertion) = lineage.saml_assertion {
                    out.push(entry(
                        Rule::SamlAssertion {
                            sha256: assertion.sha256,
                        },
                        assertion.usable_until.max(siblings_end),
                    ));
                }
                out
            }
            Revocation::Subject { provider, subject } => {
                // Any role may have granted the subject a session, and a proof issued before
                // now may be presented until it expires: cover both.
                let proofs = self
                    .shared
                    .principals
                    .load()
                    .providers
                    .get(&provider)
                    .copied()
                    .unwrap_or(SAML_PROOF_LIFETIME);
                let covered = now.saturating_add(i64::from(self.shared.longest).max(proofs));
                vec![entry(
                    Rule::Subject {
                        provider,
                        subject,
                        issued_up_to: now,
                    },
                    covered,
                )]
            }
            Revocation::User { user_arn } => {
                // Its GetSessionToken sessions, and role sessions it created.
                let longest = LONGEST_USER_SESSION.max(self.shared.longest);
                let covered = now.saturating_add(i64::from(longest));
                vec![entry(
                    Rule::User {
                        user_arn,
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

    /// What a rule on a role covers: the longest session any role can grant, whatever the
    /// role's configured maximum is now (it may have been higher when a session was issued).
    fn role_max(&self, _role_arn: &str) -> u32 {
        LONGEST_ROLE_SESSION
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
    /// revoked (chained sessions carry their ancestors, [`crate::session::Lineage`]), and the
    /// cache is confirmed. Hash lookups only, no I/O; runs on every authenticated request.
    pub fn check(&self, record: &SessionRecord) -> Result<(), Revoked> {
        self.shared.health.check()?;
        let index = self.shared.index.load();
        if index.is_empty() {
            return Ok(());
        }
        index.check(&SessionFacts {
            access_key_id: &record.access_key_id,
            role_arn: record.principal.role_arn(),
            user_arn: record.user_arn(),
            provider: record.provider.as_deref(),
            subject: record.subject.as_deref(),
            issued_at: record.issued_at,
            proof_sha256: record.lineage.proof_sha256(),
            proof_issued_at: record.lineage.identity_issued_at,
            long_term_key: record
                .lineage
                .long_term_key
                .as_ref()
                .map(|k| (k.id.as_str(), i64::from(k.generation))),
        })?;
        for a in &record.lineage.ancestors {
            index.check(&SessionFacts {
                access_key_id: &a.access_key_id,
                role_arn: a.role_arn.as_deref(),
                user_arn: a.user_arn.as_deref(),
                provider: a.provider.as_deref(),
                subject: a.subject.as_deref(),
                issued_at: a.issued_at,
                proof_sha256: a.proof_sha256.as_deref(),
                proof_issued_at: a.identity_issued_at,
                long_term_key: a
                    .long_term_key
                    .as_ref()
                    .map(|k| (k.id.as_str(), i64::from(k.generation))),
            })?;
        }
        Ok(())
    }

    /// Whether an identity proof — a web identity token or a SAML assertion, by digest — may
    /// be exchanged for a session (again): not revoked with a session issued for it, and not
    /// issued (`iat`, `IssueInstant`) at or before a revocation of its subject.
    pub fn check_proof(
        &self,
        provider: &str,
        subject: &str,
        issued_at: i64,
        proof_sha256: &str,
    ) -> Result<(), Revoked> {
        self.shared.health.check()?;
        self.shared
            .index
            .load()
            .check_proof(provider, subject, issued_at, proof_sha256)
    }

    /// Whether this replica's cache holds a rule for an identity proof by digest (none is the
    /// common case: a check by another digest can be skipped).
    pub fn has_proof_rules(&self) -> bool {
        self.shared.index.load().has_proof_rules()
    }

    /// Rules held in this replica's cache.
    pub fn len(&self) -> usize {
        self.shared.index.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.shared.index.load().is_empty()
    }
}

/// Writes every configured role and user to the registry with [`REGISTRY_TTL`].
fn role_registered(arn: &str, max_session_duration: u32) -> Registered {
    Registered {
        kind: RegisteredKind::Role,
        arn: arn.to_owned(),
        covers: LONGEST_ROLE_SESSION.max(max_session_duration),
    }
}

fn user_registered(arn: &str, longest: u32) -> Registered {
    Registered {
        kind: RegisteredKind::User,
        arn: arn.to_owned(),
        covers: LONGEST_USER_SESSION.max(longest),
    }
}

/// The rule ending every session of a removed role or user issued up to `issued_up_to`, kept
/// for as long as those sessions and the ones chained from them can last.
fn removal(known: &Registered, now: i64, issued_up_to: i64) -> Entry {
    let covered = issued_up_to
        .saturating_add(i64::from(known.covers))
        .max(issued_up_to.saturating_add(DESCENDANT_COVER));
    let rule = match known.kind {
        RegisteredKind::Role => Rule::Role {
            role_arn: known.arn.clone(),
            issued_up_to,
        },
        RegisteredKind::User => Rule::User {
            user_arn: known.arn.clone(),
            issued_up_to,
        },
    };
    tracing::warn!(principal = %known.arn, "removed from the configuration: its sessions are revoked");
    Entry {
        rule,
        revoked_at: now,
        expires_at: covered,
    }
}

/// Writes the configured roles and users to the registry, those `known` does not name only when
/// given (entries outlive a replica by [`REGISTRY_TTL`] and are refreshed daily by [`sync`]).
async fn register(shared: &Shared, known: Option<&Principals>) -> Result<(), RevocationError> {
    let p = shared.principals.load_full();
    let roles = p
        .roles
        .iter()
        .filter(|(arn, _)| known.is_none_or(|k| !k.roles.contains_key(*arn)))
        .map(|(arn, max)| role_registered(arn, *max));
    let users = p
        .users
        .iter()
        .filter(|arn| known.is_none_or(|k| !k.users.contains(*arn)))
        .map(|arn| user_registered(arn, shared.longest));
    for r in roles.chain(users) {
        let bytes = serde_json::to_vec(&r)?;
        shared
            .store
            .put_entry(REGISTRY, &r.id(), bytes, REGISTRY_TTL)
            .await?;
    }
    Ok(())
}

/// Checks the shape of `r` (ids, ARNs, lengths, a cut-off not in the future) as of `now`.
pub fn validate(r: &Revocation, now: i64) -> Result<(), RevocationError> {
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
        Revocation::User { user_arn } => {
            if !arn_ok(user_arn) {
                return bad("the user must be a user ARN");
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
