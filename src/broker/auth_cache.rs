//! Callers already authenticated, by access key id, so a busy session is read from the store and
//! its session policies compiled once per replica rather than on every request.
//!
//! An entry holds the caller (the session record, or the configured user) and, built on first
//! use, its [`Permissions`]. It is only ever filled after the key or session was checked and a
//! signature verified with it, and it is consulted only after the session token was checked
//! again (authentic, naming this key, unexpired). Session entries end with their session;
//! [`AuthCache::invalidate`] and [`AuthCache::clear`] drop entries at once (revocation, key
//! rotation). Bounded: when full, expired entries go first, then everything.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use super::caller::Caller;
use super::error::ApiError;
use super::permissions::Permissions;
use crate::iam::Iam;

/// Entries kept before the cache drops expired ones, then starts over.
pub const AUTH_CACHE_MAX: usize = 100_000;

/// An authenticated caller, with its permissions built once.
#[derive(Debug, Clone)]
pub struct Authenticated(Arc<Entry>);

#[derive(Debug)]
struct Entry {
    /// The (public) access key id the caller signed with.
    access_key_id: String,
    caller: Caller,
    /// Unix seconds; `None` for long-term keys.
    expires_at: Option<i64>,
    permissions: OnceLock<Arc<Permissions>>,
}

impl Authenticated {
    pub fn new(access_key_id: &str, caller: Caller) -> Authenticated {
        let expires_at = match &caller {
            Caller::Session(record) => Some(record.expires_at),
            Caller::User(_) => None,
        };
        Authenticated(Arc::new(Entry {
            access_key_id: access_key_id.to_owned(),
            caller,
            expires_at,
            permissions: OnceLock::new(),
        }))
    }

    pub fn caller(&self) -> &Caller {
        &self.0.caller
    }

    /// The access key id the caller signed with (public; for logs and the audit log).
    pub fn access_key_id(&self) -> &str {
        &self.0.access_key_id
    }

    /// The caller's permissions, built on first use and kept with the entry.
    pub fn permissions(&self, iam: &Iam) -> Result<Arc<Permissions>, ApiError> {
        if let Some(p) = self.0.permissions.get() {
            return Ok(Arc::clone(p));
        }
        let built = Arc::new(Permissions::of(iam, &self.0.caller)?);
        // Two threads may build at once; both results are equal, the first one is kept.
        Ok(Arc::clone(self.0.permissions.get_or_init(|| built)))
    }

    fn live_at(&self, now: i64) -> bool {
        self.0.expires_at.is_none_or(|at| now < at)
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct AuthCache {
    entries: RwLock<HashMap<String, Authenticated>>,
    max: usize,
}

impl Default for AuthCache {
    fn default() -> Self {
        AuthCache::with_capacity(AUTH_CACHE_MAX)
    }
}

impl AuthCache {
    /// A cache holding at most `max` entries.
    pub fn with_capacity(max: usize) -> AuthCache {
        AuthCache {
            entries: RwLock::new(HashMap::new()),
            max: max.max(1),
        }
    }

    /// The entry for `access_key_id`, if cached and its session has not ended at `now` (unix
    /// seconds).
    pub fn get(&self, access_key_id: &str, now: i64) -> Option<Authenticated> {
        let found = self.read().get(access_key_id).cloned()?;
        if found.live_at(now) {
            Some(found)
        } else {
            self.invalidate(access_key_id);
            None
        }
    }

    /// Remembers an authenticated caller under `access_key_id`.
    pub fn insert(&self, access_key_id: &str, entry: Authenticated, now: i64) {
        let mut entries = self.write();
        if entries.len() >= self.max && !entries.contains_key(access_key_id) {
            entries.retain(|_, e| e.live_at(now));
            if entries.len() >= self.max {
                entries.clear();
            }
        }
        entries.insert(access_key_id.to_owned(), entry);
    }

    /// Forgets one access key (a revoked session); the next request reads the store again.
    pub fn invalidate(&self, access_key_id: &str) {
        self.write().remove(access_key_id);
    }

    /// Forgets everything (key rotation, configuration change).
    pub fn clear(&self) {
        self.write().clear();
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Authenticated>> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Authenticated>> {
        self.entries.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::session::{Origin, SessionPrincipal, SessionRecord};

    fn session(id: &str, expires_at: i64) -> Authenticated {
        Authenticated::new(
            id,
            Caller::Session(Box::new(SessionRecord {
                access_key_id: id.to_owned(),
                key_id: "k1".to_owned(),
                origin: Origin::AssumeRole,
                account: "111122223333".to_owned(),
                principal: SessionPrincipal::User {
                    user_arn: "arn:aws:iam::111122223333:user/u".to_owned(),
                    user_id: "AIDAEXAMPLE".to_owned(),
                },
                issued_at: 0,
                expires_at,
                provider: None,
                subject: None,
                audience: None,
                source_identity: None,
                context: BTreeMap::new(),
                session_policy: None,
                policy_arns: Vec::new(),
                tags: BTreeMap::new(),
                transitive_tag_keys: Vec::new(),
                mfa_authenticated_at: None,
                chained: false,
                lineage: Default::default(),
            })),
        )
    }

    #[test]
    fn entries_end_with_their_session_and_can_be_dropped() {
        let cache = AuthCache::with_capacity(10);
        cache.insert("ASIA1", session("ASIA1", 100), 0);
        cache.insert("ASIA2", session("ASIA2", 100), 0);
        assert!(cache.get("ASIA1", 99).is_some());
        assert!(cache.get("ASIA1", 100).is_none());
        // The expired entry is gone, not only hidden.
        assert_eq!(cache.len(), 1);
        cache.invalidate("ASIA2");
        assert!(cache.get("ASIA2", 0).is_none());
        cache.insert("ASIA3", session("ASIA3", 100), 0);
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn bounded_expired_first_then_everything() {
        let cache = AuthCache::with_capacity(2);
        cache.insert("A", session("A", 10), 0);
        cache.insert("B", session("B", 100), 0);
        // Full at time 20: A has ended and makes room, B stays.
        cache.insert("C", session("C", 100), 20);
        assert_eq!(cache.len(), 2);
        assert!(cache.get("B", 20).is_some());
        // Full with live entries: starts over.
        cache.insert("D", session("D", 100), 20);
        assert_eq!(cache.len(), 1);
        assert!(cache.get("D", 20).is_some());
    }
}
