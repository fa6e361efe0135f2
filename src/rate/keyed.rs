//! Buckets by key (a source address, a role ARN, a subject) in this process, in bounded memory.
//!
//! Keys are reduced to a 64-bit keyed hash (SipHash with this process's random keys), so an
//! entry is 16 bytes whatever the key's length and no one can aim two keys at one bucket. Each
//! shard keeps two generations: when the current one is full it becomes the previous one and
//! the previous one is dropped; a key used again moves to the current one. Memory is thus at
//! most `max_keys` entries however many keys are sprayed, at O(1) per check, and what is
//! dropped is only ever a bucket forgotten — a full bucket again — never one emptied.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use super::{Limit, Verdict, check};

/// Independent locks, so concurrent checks rarely wait for each other.
const SHARDS: usize = 16;

/// One shard: the key's hash → its TAT, in two generations.
#[derive(Debug, Default)]
struct Shard {
    current: HashMap<u64, u64>,
    previous: HashMap<u64, u64>,
}

impl Shard {
    fn tat(&self, key: u64) -> u64 {
        self.current
            .get(&key)
            .or_else(|| self.previous.get(&key))
            .copied()
            .unwrap_or(0)
    }

    /// Keeps `tat` for `key` in the current generation, starting a new one first when the
    /// current holds `generation` keys.
    fn keep(&mut self, key: u64, tat: u64, generation: usize) {
        if !self.current.contains_key(&key) && self.current.len() >= generation {
            self.previous = std::mem::take(&mut self.current);
        }
        self.previous.remove(&key);
        self.current.insert(key, tat);
    }
}

/// Token buckets by key, at most `max_keys` of them (see the module header).
#[derive(Debug)]
pub struct KeyedBuckets {
    shards: Box<[Mutex<Shard>]>,
    /// Keys per generation of one shard.
    generation: usize,
    hasher: RandomState,
}

impl KeyedBuckets {
    /// Room for about `max_keys` keys (at least one per generation of each shard).
    pub fn new(max_keys: usize) -> KeyedBuckets {
        KeyedBuckets {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            generation: (max_keys / SHARDS / 2).max(1),
            hasher: RandomState::new(),
        }
    }

    /// Whether `key`'s bucket has a token at `now_us`; with `take`, the token is taken.
    /// Without `take` nothing is stored: looking never grows the map.
    pub fn check(&self, limit: &Limit, key: &[u8], now_us: u64, take: bool) -> Verdict {
        let hash = self.hasher.hash_one(key);
        // The top bits pick the shard; the maps hash the whole value again.
        let index = usize::try_from(hash >> 60).unwrap_or(0) % self.shards.len();
        let mut shard = self.shards[index].lock().unwrap_or_else(|e| e.into_inner());
        let tat = shard.tat(hash);
        let verdict = check(limit, tat, now_us);
        if take {
            match verdict {
                Verdict::Allow { tat, .. } => shard.keep(hash, tat, self.generation),
                // Still being refused: keep its state current, so a busy key's empty bucket
                // is not forgotten with its generation.
                Verdict::Refuse { .. } if tat != 0 => shard.keep(hash, tat, self.generation),
                Verdict::Refuse { .. } => {}
            }
        }
        verdict
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(|e| e.into_inner());
                s.current.len() + s.previous.len()
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000;
    const T0: u64 = 1_780_000_000 * SECOND;

    #[test]
    fn keys_have_their_own_buckets() {
        let buckets = KeyedBuckets::new(1024);
        let limit = Limit::new(1.0, 2).unwrap();
        assert!(buckets.check(&limit, b"a", T0, true).is_allowed());
        assert!(buckets.check(&limit, b"a", T0, true).is_allowed());
        assert!(!buckets.check(&limit, b"a", T0, true).is_allowed());
        assert!(buckets.check(&limit, b"b", T0, true).is_allowed());
        assert!(buckets.check(&limit, b"a", T0 + SECOND, true).is_allowed());
    }

    #[test]
    fn looking_stores_nothing() {
        let buckets = KeyedBuckets::new(1024);
        let limit = Limit::new(1.0, 1).unwrap();
        for i in 0..100u32 {
            assert!(
                buckets
                    .check(&limit, &i.to_be_bytes(), T0, false)
                    .is_allowed()
            );
        }
        assert!(buckets.is_empty());
        assert!(buckets.check(&limit, b"x", T0, true).is_allowed());
        assert!(!buckets.check(&limit, b"x", T0, false).is_allowed());
        assert_eq!(buckets.len(), 1);
    }

    #[test]
    fn a_spray_of_keys_stays_within_the_bound() {
        let max = 4096;
        let buckets = KeyedBuckets::new(max);
        let limit = Limit::new(1.0, 5).unwrap();
        for i in 0..200_000u32 {
            buckets.check(&limit, &i.to_be_bytes(), T0, true);
            assert!(buckets.len() <= max, "{} keys after {i}", buckets.len());
        }
        assert!(buckets.len() > max / 2);
    }

    #[test]
    fn a_key_in_use_survives_a_spray() {
        let buckets = KeyedBuckets::new(4096);
        let limit = Limit::new(1.0, 3).unwrap();
        let mut refused = 0;
        for i in 0..100_000u32 {
            buckets.check(&limit, &i.to_be_bytes(), T0, true);
            // The victim keeps asking: its empty bucket is not forgotten.
            if !buckets.check(&limit, b"busy", T0, true).is_allowed() {
                refused += 1;
            }
        }
        assert_eq!(refused, 100_000 - 3);
    }
}
