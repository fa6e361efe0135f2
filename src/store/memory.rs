//! The embedded store: a map in this process, with expiry. Good for one replica and for trying
//! the broker out; sessions do not survive a restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entries beyond this count trigger a sweep of expired ones before inserting.
const SWEEP_AT: usize = 10_000;

/// A value and the instant it expires.
type Entry = (Vec<u8>, Instant);

#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

impl MemoryStore {
    pub(super) fn put(&self, key: String, value: Vec<u8>, ttl: Duration) {
        let now = Instant::now();
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= SWEEP_AT {
            map.retain(|_, (_, until)| *until > now);
        }
        map.insert(key, (value, now + ttl));
    }

    pub(super) fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(key) {
            Some((value, until)) if *until > Instant::now() => Some(value.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Live entries (for tests and metrics).
    pub fn len(&self) -> usize {
        let now = Instant::now();
        let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.values().filter(|(_, until)| *until > now).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
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
}
