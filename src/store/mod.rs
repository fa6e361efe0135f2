//! Where sessions live: an embedded in-memory map (`memory://`, one process only) or Redis (one
//! server, a Redis Cluster or a master found through Sentinel, shared by every replica). Each
//! record carries a TTL equal to its session's remaining lifetime, so the store never outlives
//! the credentials it describes.
//!
//! Besides sessions it keeps small named entries with a TTL under a namespace (e.g.
//! revocations), lists them back (through a per-namespace index on Redis), keeps shared token
//! buckets ([`Store::rate_check`]), and carries events between replicas: Redis pub/sub, or
//! nothing at all for the embedded store, whose one process needs no messages. IAM's
//! management API keeps one document per account, changed by compare-and-set
//! ([`documents`]), when each access key was last used ([`key_use`]), and failed sign-ins
//! ([`lockout`]).

mod batch;
mod documents;
mod errors;
mod key_use;
mod lockout;
pub use lockout::Attempt;
mod memory;
mod probe;
mod redis;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use documents::StoredDocument;
pub use errors::Operation;
pub use key_use::{KEY_LAST_USED, LastUse};
pub use memory::MemoryStore;
pub use redis::{Received, RedisStore, Subscription};

use crate::config::StoreSettings;
use crate::rate::Limit;
use crate::session::SessionRecord;
use crate::session::keyring::KeyRing;
use crate::session::record::{self, RecordError};

const SESSION_PREFIX: &str = "sts-broker:session:";
const USED_PREFIX: &str = "sts-broker:used:";
const FAILURES_PREFIX: &str = "sts-broker:failures:";
const NAMESPACE_PREFIX: &str = "sts-broker:";
const THROTTLE_PREFIX: &str = "sts-broker:throttle:";
/// A sorted set per namespace listing its entries, so they are listed without `SCAN` (which
/// sees one node of a cluster): `sts-broker:index:<namespace>`.
const INDEX_PREFIX: &str = "sts-broker:index:";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store URL {0:?} is not memory:// or redis://")]
    BadUrl(String),
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// Authentication refused at start: `by` whom, and the settings naming the credentials.
    #[error("{by} refused the broker's credentials ({keys}): {source}")]
    Refused {
        by: &'static str,
        keys: &'static str,
        source: ::redis::RedisError,
    },
    #[error("stored record is not readable: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("store did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the subscription's connection closed")]
    Closed,
    /// A session record that does not verify: written by someone without the broker's keys.
    #[error("session record refused: {0}")]
    NotAuthentic(RecordError),
    #[error("session key {0:?} that signed the session is not loaded")]
    NoSessionKey(String),
}

impl StoreError {
    /// The same failure, for each of the writes one batch carried ([`batch`]).
    fn shared(&self) -> StoreError {
        match self {
            StoreError::Redis(e) => StoreError::Redis(e.clone()),
            StoreError::Timeout(d) => StoreError::Timeout(*d),
            StoreError::BadUrl(u) => StoreError::BadUrl(u.clone()),
            StoreError::NoSessionKey(k) => StoreError::NoSessionKey(k.clone()),
            StoreError::NotAuthentic(e) => StoreError::NotAuthentic(*e),
            StoreError::Refused { by, keys, source } => StoreError::Refused {
                by,
                keys,
                source: source.clone(),
            },
            StoreError::Corrupt(_) | StoreError::Closed => StoreError::Closed,
        }
    }
}

/// The configured store.
#[derive(Debug, Clone)]
pub enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
}

impl Store {
    /// Opens the store a URL names (a Redis URL may carry its credentials here: for tools and
    /// tests; the broker opens its `[store]` with [`Store::connect`]). Redis connections are
    /// re-made on failure.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        if url == "memory://" {
            Ok(Store::Memory(MemoryStore::default()))
        } else if url.starts_with("redis://") || url.starts_with("rediss://") {
            Ok(Store::Redis(RedisStore::open(url).await?))
        } else {
            Err(StoreError::BadUrl(url.to_owned()))
        }
    }

    /// Opens the store `settings` describe: memory, one Redis, a Redis Cluster or the master
    /// Sentinel names.
    pub async fn connect(settings: &StoreSettings) -> Result<Store, StoreError> {
        if settings.is_memory() {
            Ok(Store::Memory(MemoryStore::default()))
        } else {
            // Boxed: the cluster and Sentinel clients' futures are deep.
            Ok(Store::Redis(Box::pin(RedisStore::connect(settings)).await?))
        }
    }

    /// Records a session for `ttl`, authenticated under the session key that signed its token
    /// ([`record::seal`]).
    pub async fn put_session(
        &self,
        record: &SessionRecord,
        keys: &KeyRing,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = keys
            .get(&record.key_id)
            .ok_or_else(|| StoreError::NoSessionKey(record.key_id.clone()))?;
        let value = record::seal(record, key)?;
        let key = session_key(&record.access_key_id);
        let result = match self {
            Store::Memory(m) => {
                m.put(key, value, ttl);
                Ok(())
            }
            Store::Redis(r) => r.put(&key, value, ttl).await,
        };
        self.errors().count(Operation::PutSession, result)
    }

    /// The live session with this access key id. A record that does not verify under the
    /// session key it names is refused ([`StoreError::NotAuthentic`]) and counted
    /// ([`Store::refused_records`]), never returned.
    pub async fn get_session(
        &self,
        access_key_id: &str,
        keys: &KeyRing,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let key = session_key(access_key_id);
        let bytes = match self {
            Store::Memory(m) => m.get(&key),
            Store::Redis(r) => self
                .errors()
                .count(Operation::GetSession, r.get(&key).await)?,
        };
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        match record::open(&bytes, access_key_id, keys) {
            Ok(record) => Ok(Some(record)),
            Err(e) => {
                self.refused().fetch_add(1, Ordering::Relaxed);
                Err(StoreError::NotAuthentic(e))
            }
        }
    }

    /// Session records refused because they did not verify, since this store was opened.
    pub fn refused_records(&self) -> u64 {
        self.refused().load(Ordering::Relaxed)
    }

    /// Failures of the store itself so far, per operation (every operation listed).
    pub fn errors_by_operation(&self) -> [(Operation, u64); Operation::ALL.len()] {
        self.errors().snapshot()
    }

    fn errors(&self) -> &errors::Errors {
        match self {
            Store::Memory(m) => &m.errors,
            Store::Redis(r) => &r.errors,
        }
    }

    fn refused(&self) -> &AtomicU64 {
        match self {
            Store::Memory(m) => &m.refused_records,
            Store::Redis(r) => &r.refused_records,
        }
    }

    /// Records that `what` (e.g. an MFA code or an assertion id) has been used, for `ttl`;
    /// `false` if it already was, on any replica sharing the store. The replay guard.
    pub async fn use_once(&self, what: &str, ttl: Duration) -> Result<bool, StoreError> {
        let key = format!("{USED_PREFIX}{what}");
        let result = match self {
            Store::Memory(m) => Ok(m.insert_new(key, ttl)),
            Store::Redis(r) => r.insert_new(&key, ttl).await,
        };
        self.errors().count(Operation::UseOnce, result)
    }

    /// Takes one of `limit` attempts at `what` (e.g. MFA codes for a device) in a window of
    /// `ttl` started by the first: check and count in one step on the store (a Lua script on
    /// Redis, one lock in memory), so concurrent callers on every replica together never get
    /// more than `limit`. `None` when none is left (the attempt is not counted).
    pub async fn take_attempt(
        &self,
        what: &str,
        limit: u64,
        ttl: Duration,
    ) -> Result<Option<u64>, StoreError> {
        let key = format!("{FAILURES_PREFIX}{what}");
        let result = match self {
            Store::Memory(m) => Ok(m.increment_below(key, limit, ttl)),
            Store::Redis(r) => r.increment_below(&key, limit, ttl).await,
        };
        self.errors().count(Operation::TakeAttempt, result)
    }

    /// Gives back an attempt that turned out good (a right code), in the same window; nothing
    /// when the window has ended.
    pub async fn give_back_attempt(&self, what: &str) -> Result<(), StoreError> {
        let key = format!("{FAILURES_PREFIX}{what}");
        let result = match self {
            Store::Memory(m) => {
                m.decrement_live(&key);
                Ok(())
            }
            Store::Redis(r) => r.decrement_live(&key).await,
        };
        self.errors().count(Operation::GiveBackAttempt, result)
    }

    /// One token-bucket check ([`crate::rate`]) of the bucket `id` of `scope`, shared by every
    /// replica: whether it has a token at `now_us`, and with `take` the token taken — in one
    /// step (one Lua script on one key on Redis, one lock in memory). The bucket's key
    /// (`sts-broker:throttle:<scope>:<id>`) lives only until the bucket is full again; a check
    /// that finds no token, or only looks, writes nothing.
    pub async fn rate_check(
        &self,
        scope: &str,
        id: &str,
        limit: &Limit,
        now_us: u64,
        take: bool,
    ) -> Result<bool, StoreError> {
        let key = format!("{THROTTLE_PREFIX}{scope}:{id}");
        match self {
            Store::Memory(m) => Ok(m.rate_check(key, limit, now_us, take)),
            Store::Redis(r) => self.errors().count(
                Operation::RateCheck,
                r.rate_check(&key, limit, now_us, take).await,
            ),
        }
    }

    /// Writes `value` as the entry `id` of `namespace` for `ttl`, replacing any entry of that
    /// name. Key: `sts-broker:<namespace>:<id>`.
    pub async fn put_entry(
        &self,
        namespace: &str,
        id: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = entry_key(namespace, id);
        let result = match self {
            Store::Memory(m) => {
                m.put(key, value, ttl);
                Ok(())
            }
            // Indexed first: an entry that exists is always listed.
            Store::Redis(r) => match r.index_add(&index_key(namespace), id, ttl).await {
                Ok(()) => r.put(&key, value, ttl).await,
                Err(e) => Err(e),
            },
        };
        self.errors().count(Operation::PutEntry, result)
    }

    /// Every live entry of `namespace`, in no particular order (Redis: the members of the
    /// namespace's index, then each entry; never `SCAN` or `KEYS`).
    pub async fn entries(&self, namespace: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let prefix = entry_key(namespace, "");
        let result = match self {
            Store::Memory(m) => Ok(m.with_prefix(&prefix)),
            Store::Redis(r) => r.indexed(&index_key(namespace), &prefix).await,
        };
        self.errors().count(Operation::Entries, result)
    }

    /// Lists the entries of `namespace` that builds before the per-namespace index wrote
    /// (see `RedisStore::index_unlisted`); how many. Nothing to do in memory.
    pub async fn index_unlisted(&self, namespace: &str) -> Result<usize, StoreError> {
        let result = match self {
            Store::Memory(_) => Ok(0),
            Store::Redis(r) => {
                r.index_unlisted(&index_key(namespace), &entry_key(namespace, ""))
                    .await
            }
        };
        self.errors().count(Operation::Entries, result)
    }

    /// The entry `id` of `namespace`, while it lives (counted with [`Operation::Entries`]).
    pub async fn get_entry(
        &self,
        namespace: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let key = entry_key(namespace, id);
        let result = match self {
            Store::Memory(m) => Ok(m.get(&key)),
            Store::Redis(r) => r.get(&key).await,
        };
        self.errors().count(Operation::Entries, result)
    }

    /// Seconds the entry `id` of `namespace` has left; `None` when absent.
    pub async fn entry_ttl(&self, namespace: &str, id: &str) -> Result<Option<u64>, StoreError> {
        let key = entry_key(namespace, id);
        let result = match self {
            Store::Memory(m) => Ok(m.ttl(&key).map(|d| d.as_secs())),
            Store::Redis(r) => r.ttl(&key).await,
        };
        self.errors().count(Operation::EntryTtl, result)
    }

    /// Sends `payload` to every replica subscribed to `channel`. The embedded store has no
    /// other replica: nothing to send.
    pub async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), StoreError> {
        let result = match self {
            Store::Memory(_) => Ok(()),
            Store::Redis(r) => {
                r.publish(&format!("{NAMESPACE_PREFIX}{channel}"), payload)
                    .await
            }
        };
        self.errors().count(Operation::Publish, result)
    }

    /// A dedicated connection receiving what is published on `channel`; `None` for the
    /// embedded store, which has nothing to receive.
    pub async fn subscribe(&self, channel: &str) -> Result<Option<Subscription>, StoreError> {
        let result = match self {
            Store::Memory(_) => Ok(None),
            Store::Redis(r) => r
                .subscribe(&format!("{NAMESPACE_PREFIX}{channel}"))
                .await
                .map(Some),
        };
        self.errors().count(Operation::Subscribe, result)
    }

    /// Whether the store answers. A change (no answer after answers, or an answer after none)
    /// is logged once, however often it is asked.
    ///
    /// Pings are shared: one at a time, the answer standing for every caller for
    /// [`probe::FRESH`], so however often `/readyz` is asked, the store is pinged at most a few
    /// times a second.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let Store::Redis(r) = self else {
            return Ok(());
        };
        r.probe
            .ask(async || {
                let result = r.ping().await;
                if r.errors.reachable(result.is_ok()) {
                    match &result {
                        Ok(()) => tracing::info!("store reachable again"),
                        Err(e) => tracing::warn!(error = %e, "store not reachable"),
                    }
                }
                r.errors.count(Operation::Ping, result)
            })
            .await
    }

    /// `memory` or `redis`.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Memory(_) => "memory",
            Store::Redis(_) => "redis",
        }
    }
}

fn entry_key(namespace: &str, id: &str) -> String {
    format!("{NAMESPACE_PREFIX}{namespace}:{id}")
}

fn index_key(namespace: &str) -> String {
    format!("{INDEX_PREFIX}{namespace}")
}

fn session_key(access_key_id: &str) -> String {
    let mut key = String::with_capacity(SESSION_PREFIX.len() + access_key_id.len());
    key.push_str(SESSION_PREFIX);
    key.push_str(access_key_id);
    key
}
