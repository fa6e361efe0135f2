//! The embedded store: a map in this process, with expiry. Good for one replica and for trying
//! the broker out; sessions do not survive a restart.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::rate::{self, Limit, Verdict};

/// The first sweep of expired entries happens at this many entries.
const FIRST_SWEEP: usize = 10_000;

/// A value and the instant it expires.
type Entry = (Vec<u8>, Instant);

#[derive(Debug)]
struct Map {
    entries: HashMap<String, Entry>,
    /// Size at which the next insert sweeps expired entries: twice the live count after the
    /// last sweep, so sweeping costs amortized O(1) per insert.
    sweep_at: usize,
}

impl Map {
    /// Inserts, first sweeping expired entries when the map has doubled since the last sweep.
    fn insert(&mut self, key: String, value: Vec<u8>, until: Instant, now: Instant) {
        if self.entries.len() >= self.sweep_at {
            self.entries.retain(|_, (_, until)| *until > now);
            self.sweep_at = (self.entries.len() * 2).max(FIRST_SWEEP);
        }
        self.entries.insert(key, (value, until));
    }
}

impl Default for Map {
    fn default() -> Self {
        Map {
            entries: HashMap::new(),
            sweep_at: FIRST_SWEEP,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    map: Arc<Mutex<Map>>,
    /// Session records refused as not authentic.
    pub(super) refused_records: Arc<AtomicU64>,
    /// Failures per operation.
    pub(super) errors: Arc<super::errors::Errors>,
    /// IAM's per-account documents (see `super::documents`).
    pub(super) documents: Arc<Mutex<super::documents::MemoryDocuments>>,
    /// Access keys' last uses by id (see `super::key_use`).
    pub(super) key_uses: Arc<Mutex<HashMap<String, super::LastUse>>>,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Map> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn put(&self, key: String, value: Vec<u8>, ttl: Duration) {
        let now = Instant::now();
        self.lock().insert(key, value, now + ttl, now);
    }

    /// A token-bucket check of the bucket at `key` (its TAT, [`crate::rate`]); with `take` and
    /// a token there, the new TAT is kept until the bucket would be full again. One lock.
    pub(super) fn rate_check(&self, key: String, limit: &Limit, now_us: u64, take: bool) -> bool {
        let now = Instant::now();
        let mut map = self.lock();
        let tat = match map.entries.get(&key) {
            Some((bytes, until)) if *until > now => read_counter(bytes),
            _ => 0,
        };
        match rate::check(limit, tat, now_us) {
            Verdict::Allow { tat, keep_us } => {
                if take {
                    let until = now + Duration::from_micros(keep_us);
                    map.insert(key, tat.to_le_bytes().to_vec(), until, now);
                }
                true
            }
            Verdict::Refuse { .. } => false,
        }
    }

    /// Inserts `key` unless a live entry has it; whether it was inserted.
    pub(super) fn insert_new(&self, key: String, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut map = self.lock();
        match map.entries.get(&key) {
            Some((_, until)) if *until > now => false,
            _ => {
                map.entries.insert(key, (Vec::new(), now + ttl));
                true
            }
        }
    }

    /// Below `limit`, adds one to the counter at `key` (starting a `ttl` window when new) and
    /// returns the new count; at `limit`, `None` and nothing changes. One lock: atomic.
    pub(super) fn increment_below(&self, key: String, limit: u64, ttl: Duration) -> Option<u64> {
        let now = Instant::now();
        let mut map = self.lock();
        let (count, until) = match map.entries.get(&key) {
            Some((bytes, until)) if *until > now => (read_counter(bytes), *until),
            _ => (0, now + ttl),
        };
        if count >= limit {
            return None;
        }
        map.entries
            .insert(key, ((count + 1).to_le_bytes().to_vec(), until));
        Some(count + 1)
    }

    /// Takes one off the live, positive counter at `key`; nothing otherwise.
    pub(super) fn decrement_live(&self, key: &str) {
        let now = Instant::now();
        let mut map = self.lock();
        if let Some((bytes, until)) = map.entries.get_mut(key)
            && *until > now
        {
            let count = read_counter(bytes);
            if count > 0 {
                *bytes = (count - 1).to_le_bytes().to_vec();
            }
        }
    }

    /// One password attempt for `key` at `now` (unix seconds of the broker's clock): the
    /// arithmetic of `super::lockout`'s script under one lock, and its answer.
    pub(super) fn sign_in_attempt(
        &self,
        key: String,
        limit: u64,
        window: i64,
        now: i64,
        ttl: Duration,
    ) -> i64 {
        let at = Instant::now();
        let mut map = self.lock();
        let (mut n, mut since, mut until) = match map.entries.get(&key) {
            Some((bytes, expires)) if *expires > at => read_lockout(bytes),
            _ => (0, now, 0),
        };
        if until > now {
            return until;
        }
        if now >= since.saturating_add(window) {
            n = 0;
            since = now;
        }
        n += 1;
        if n >= limit {
            until = now.saturating_add(window);
            n = 0;
            since = now;
        } else {
            until = 0;
        }
        let mut value = Vec::with_capacity(24);
        value.extend_from_slice(&n.to_le_bytes());
        value.extend_from_slice(&since.to_le_bytes());
        value.extend_from_slice(&until.to_le_bytes());
        map.insert(key, value, at + ttl, at);
        -until
    }

    /// When the name of `key` is locked until (unix seconds), 0 when it is not recorded.
    pub(super) fn sign_in_locked_until(&self, key: &str) -> i64 {
        self.get(key).map_or(0, |b| read_lockout(&b).2)
    }

    /// Forgets `key`.
    pub(super) fn remove(&self, key: &str) {
        self.lock().entries.remove(key);
    }

    /// The counter at `key`, 0 when absent or expired.
    #[cfg(test)]
    fn counter(&self, key: &str) -> u64 {
        self.get(key).map_or(0, |b| read_counter(&b))
    }

    pub(super) fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut map = self.lock();
        let map = &mut map.entries;
        match map.get(key) {
            Some((value, until)) if *until > Instant::now() => Some(value.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Values of the live entries whose key starts with `prefix`.
    pub(super) fn with_prefix(&self, prefix: &str) -> Vec<Vec<u8>> {
        let now = Instant::now();
        self.lock()
            .entries
            .iter()
            .filter(|(k, (_, until))| k.starts_with(prefix) && *until > now)
            .map(|(_, (v, _))| v.clone())
            .collect()
    }

    /// Time the live entry at `key` has left.
    pub(super) fn ttl(&self, key: &str) -> Option<Duration> {
        let now = Instant::now();
        match self.lock().entries.get(key) {
            Some((_, until)) if *until > now => Some(*until - now),
            _ => None,
        }
    }

    /// Live entries (for tests and metrics).
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.lock()
            .entries
            .values()
            .filter(|(_, until)| *until > now)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A sign-in failure record: failures in the window, the window's start, locked until.
fn read_lockout(bytes: &[u8]) -> (u64, i64, i64) {
    let field = |i: usize| {
        bytes
            .get(i * 8..i * 8 + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
    };
    (
        field(0).map_or(0, u64::from_le_bytes),
        field(1).map_or(0, i64::from_le_bytes),
        field(2).map_or(0, i64::from_le_bytes),
    )
}

fn read_counter(bytes: &[u8]) -> u64 {
    bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire() {
        let store = MemoryStore::default();
        store.put("a".into(), b"1".to_vec(), Duration::from_secs(60));
        store.put("b".into(), b"2".to_vec(), Duration::ZERO);
        assert_eq!(store.get("a").as_deref(), Some(&b"1"[..]));
        assert_eq!(store.get("b"), None);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn insert_new_refuses_live_duplicates_only() {
        let store = MemoryStore::default();
        assert!(store.insert_new("k".into(), Duration::from_secs(60)));
        assert!(!store.insert_new("k".into(), Duration::from_secs(60)));
        assert!(store.insert_new("gone".into(), Duration::ZERO));
        assert!(store.insert_new("gone".into(), Duration::from_secs(60)));
    }

    #[test]
    fn counters_count_within_their_window_up_to_their_limit() {
        let store = MemoryStore::default();
        let minute = Duration::from_secs(60);
        assert_eq!(store.counter("c"), 0);
        assert_eq!(store.increment_below("c".into(), 2, minute), Some(1));
        assert_eq!(store.increment_below("c".into(), 2, minute), Some(2));
        assert_eq!(store.increment_below("c".into(), 2, minute), None);
        assert_eq!(store.counter("c"), 2);
        store.decrement_live("c");
        assert_eq!(store.counter("c"), 1);
        assert_eq!(store.increment_below("c".into(), 2, minute), Some(2));
        assert_eq!(
            store.increment_below("z".into(), 2, Duration::ZERO),
            Some(1)
        );
        assert_eq!(
            store.increment_below("z".into(), 2, Duration::ZERO),
            Some(1)
        );
        store.decrement_live("gone");
        assert_eq!(store.counter("gone"), 0);
    }

    #[test]
    fn rate_checks_take_only_when_asked_and_keep_the_bucket_while_it_refills() {
        let store = MemoryStore::default();
        let limit = Limit::new(1.0, 2).unwrap();
        let t0 = 1_780_000_000_000_000;
        assert!(store.rate_check("b".into(), &limit, t0, false));
        assert_eq!(store.len(), 0, "looking writes nothing");
        assert!(store.rate_check("b".into(), &limit, t0, true));
        assert!(store.rate_check("b".into(), &limit, t0, true));
        assert!(!store.rate_check("b".into(), &limit, t0, true));
        assert!(!store.rate_check("b".into(), &limit, t0, false));
        // Kept as long as the two tokens take to come back, no longer.
        let ttl = store.ttl("b").unwrap();
        assert!(
            ttl <= Duration::from_secs(2) && ttl > Duration::from_secs(1),
            "{ttl:?}"
        );
        assert!(store.rate_check("b".into(), &limit, t0 + 1_000_000, true));
    }

    #[test]
    fn prefixes_list_live_entries_only() {
        let store = MemoryStore::default();
        store.put("ns:a".into(), b"1".to_vec(), Duration::from_secs(60));
        store.put("ns:b".into(), b"2".to_vec(), Duration::ZERO);
        store.put("other:c".into(), b"3".to_vec(), Duration::from_secs(60));
        assert_eq!(store.with_prefix("ns:"), vec![b"1".to_vec()]);
        assert!(store.ttl("ns:a").unwrap() <= Duration::from_secs(60));
        assert_eq!(store.ttl("ns:b"), None);
    }

    #[test]
    fn sweeps_are_amortized_and_drop_only_expired_entries() {
        let store = MemoryStore::default();
        for i in 0..FIRST_SWEEP {
            store.put(format!("old{i}"), vec![], Duration::ZERO);
        }
        store.put("live".into(), b"x".to_vec(), Duration::from_secs(60));
        let map = store.lock();
        assert_eq!(map.entries.len(), 1);
        assert_eq!(map.sweep_at, FIRST_SWEEP);
    }
}
