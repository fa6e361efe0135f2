//! Failed sign-ins counted per name (an account and a user name), shared by every replica: one
//! key per name, `sts-broker:signin-failures:<name>`, a hash of `n` (failures in the current
//! window), `since` (the window's start) and `until` (locked until, 0 when not), in unix seconds
//! of the broker's clock — so replicas with synchronized clocks agree, and a lock ends when the
//! broker's clock says so. Each failure is one script on that one key (check, count, lock and
//! expiry in one step; no other client runs in between), so concurrent failures on every replica
//! together lock the name after exactly the limit, on one Redis, a Cluster or behind Sentinel.
//! The key expires (Redis's own clock) a little after the window, so the store keeps nothing
//! longer than a lock or a count needs. The memory store does the same arithmetic under one lock.

use std::time::Duration;

use super::{Operation, Store, StoreError};

const PREFIX: &str = "sts-broker:signin-failures:";

/// How long a record outlives its window in the store (replicas' clocks a little apart).
const SLACK: Duration = Duration::from_secs(60);

/// `ARGV`: now, limit, window (seconds), TTL (seconds). Takes one attempt: returns the time the
/// name is locked until when it already was (no attempt taken), `-until` when this attempt is
/// the limit-th and locks it (the attempt itself is taken), 0 when taken without locking.
const FAILED_SCRIPT: &str = "local now = tonumber(ARGV[1]) \
    local limit = tonumber(ARGV[2]) \
    local window = tonumber(ARGV[3]) \
    local v = redis.call('HMGET', KEYS[1], 'n', 'since', 'until') \
    local n = tonumber(v[1]) or 0 \
    local since = tonumber(v[2]) or now \
    local untl = tonumber(v[3]) or 0 \
    if untl > now then return untl end \
    if now >= since + window then n = 0 since = now end \
    n = n + 1 \
    if n >= limit then untl = now + window n = 0 since = now else untl = 0 end \
    redis.call('HSET', KEYS[1], 'n', n, 'since', since, 'until', untl) \
    redis.call('EXPIRE', KEYS[1], ARGV[4]) \
    return -untl";

/// What [`Store::sign_in_attempt`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Taken: the password may be verified.
    Taken,
    /// Taken, and the name is now locked until then (the last attempt of the window).
    TakenAndLocks(i64),
    /// Not taken: the name is locked until then.
    Locked(i64),
}

fn key(name: &str) -> String {
    format!("{PREFIX}{name}")
}

impl Store {
    /// Takes one password attempt for `name` at `now` (unix seconds), before the password is
    /// verified, so concurrent guesses on every replica together get at most `limit` per
    /// `window`: the `limit`-th attempt within `window` is taken and locks the name for
    /// `window`; while it is locked no attempt is taken ([`Attempt::Locked`]).
    pub async fn sign_in_attempt(
        &self,
        name: &str,
        limit: u32,
        window: Duration,
        now: i64,
    ) -> Result<Attempt, StoreError> {
        let key = key(name);
        let seconds = i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
        let ttl = window + SLACK;
        let result = match self {
            Store::Memory(m) => Ok(m.sign_in_attempt(key, u64::from(limit), seconds, now, ttl)),
            Store::Redis(r) => {
                r.query::<i64>(
                    redis::cmd("EVAL")
                        .arg(FAILED_SCRIPT)
                        .arg(1)
                        .arg(&key)
                        .arg(now)
                        .arg(limit)
                        .arg(seconds)
                        .arg(ttl.as_secs()),
                )
                .await
            }
        };
        let until = self.errors().count(Operation::TakeAttempt, result)?;
        Ok(if until > now {
            Attempt::Locked(until)
        } else if until < 0 {
            Attempt::TakenAndLocks(-until)
        } else {
            Attempt::Taken
        })
    }

    /// When `name` is locked until, if it is locked at `now`.
    pub async fn sign_in_locked(&self, name: &str, now: i64) -> Result<Option<i64>, StoreError> {
        let key = key(name);
        let result = match self {
            Store::Memory(m) => Ok(m.sign_in_locked_until(&key)),
            Store::Redis(r) => r
                .query::<Option<i64>>(redis::cmd("HGET").arg(&key).arg("until"))
                .await
                .map(|u| u.unwrap_or(0)),
        };
        let until = self.errors().count(Operation::TakeAttempt, result)?;
        Ok((until > now).then_some(until))
    }

    /// Forgets `name`'s attempts (its password verified).
    pub async fn sign_in_succeeded(&self, name: &str) -> Result<(), StoreError> {
        let key = key(name);
        let result = match self {
            Store::Memory(m) => {
                m.remove(&key);
                Ok(())
            }
            Store::Redis(r) => r
                .query::<i64>(redis::cmd("DEL").arg(&key))
                .await
                .map(|_| ()),
        };
        self.errors().count(Operation::GiveBackAttempt, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_limit_th_attempt_locks_for_the_window_of_the_brokers_clock() {
        let store = Store::open("memory://").await.unwrap();
        let window = Duration::from_secs(900);
        let t = 1_700_000_000;
        let attempt = |at: i64| {
            let store = store.clone();
            async move {
                store
                    .sign_in_attempt("a:alice", 3, window, at)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(store.sign_in_locked("a:alice", t).await.unwrap(), None);
        assert_eq!(attempt(t).await, Attempt::Taken);
        assert_eq!(attempt(t + 1).await, Attempt::Taken);
        // The third is taken (its password is verified) and locks the name.
        assert_eq!(attempt(t + 2).await, Attempt::TakenAndLocks(t + 902));
        assert_eq!(
            store.sign_in_locked("a:alice", t + 3).await.unwrap(),
            Some(t + 902)
        );
        // Another name is its own.
        assert_eq!(store.sign_in_locked("a:bob", t + 3).await.unwrap(), None);
        // While locked, no attempt is taken and nothing changes.
        assert_eq!(attempt(t + 10).await, Attempt::Locked(t + 902));
        // The broker's clock past the lock: unlocked, counting from zero.
        assert_eq!(
            store.sign_in_locked("a:alice", t + 902).await.unwrap(),
            None
        );
        assert_eq!(attempt(t + 903).await, Attempt::Taken);
        // Attempts older than the window are forgotten.
        assert_eq!(attempt(t + 2000).await, Attempt::Taken);
        assert_eq!(attempt(t + 2001).await, Attempt::Taken);
        // A verified password clears the count.
        store.sign_in_succeeded("a:alice").await.unwrap();
        assert_eq!(attempt(t + 2002).await, Attempt::Taken);
        assert_eq!(attempt(t + 2003).await, Attempt::Taken);
        assert!(matches!(attempt(t + 2004).await, Attempt::TakenAndLocks(_)));
    }
}
