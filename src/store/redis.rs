//! The shared store: Redis through a multiplexed, self-reconnecting connection. Every command
//! has a deadline, so a stalled Redis turns into an error rather than a hung request.
//! Subscriptions get a dedicated connection each (pub/sub cannot share the multiplexed one).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use futures_util::StreamExt as _;
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, PubSubSink, PubSubStream};

use super::StoreError;
use crate::rate::Limit;

const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Keys read per `SCAN` step.
const SCAN_COUNT: usize = 1000;
/// Largest published message handed on; larger ones are dropped.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct RedisStore {
    client: redis::Client,
    connection: ConnectionManager,
    /// Session records refused as not authentic.
    pub(super) refused_records: Arc<AtomicU64>,
    /// Failures per operation.
    pub(super) errors: Arc<super::errors::Errors>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

impl RedisStore {
    pub async fn open(url: &str) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1);
        let connection = deadline(client.get_connection_manager_with_config(config)).await??;
        Ok(RedisStore {
            client,
            connection,
            refused_records: Arc::new(AtomicU64::new(0)),
            errors: Arc::default(),
        })
    }

    pub(super) async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut c = self.connection.clone();
        let seconds = ttl.as_secs().max(1);
        deadline(c.set_ex::<_, _, ()>(key, value, seconds)).await??;
        Ok(())
    }

    /// One script, so no other client runs between the check and the count: below `limit`,
    /// `INCR` (with `EXPIRE` when it starts a window) and the new count; else `0`.
    pub(super) async fn increment_below(
        &self,
        key: &str,
        limit: u64,
        ttl: Duration,
    ) -> Result<Option<u64>, StoreError> {
        const SCRIPT: &str = "local n = tonumber(redis.call('GET', KEYS[1]) or '0') \
            if n >= tonumber(ARGV[1]) then return 0 end \
            n = redis.call('INCR', KEYS[1]) \
            if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end \
            return n";
        let mut c = self.connection.clone();
        let count: u64 = deadline(
            redis::cmd("EVAL")
                .arg(SCRIPT)
                .arg(1)
                .arg(key)
                .arg(limit)
                .arg(ttl.as_secs().max(1))
                .query_async(&mut c),
        )
        .await??;
        Ok((count > 0).then_some(count))
    }

    /// A token-bucket check in one script on one key, the arithmetic of [`crate::rate::check`]
    /// on the stored TAT (microseconds, exact in Lua's doubles within the limits `rate`
    /// accepts): `1` when a token is there (taken, with `ARGV[4]` = 1, and the key kept until
    /// the bucket is full again), `0` when not (nothing written).
    pub(super) async fn rate_check(
        &self,
        key: &str,
        limit: &Limit,
        now_us: u64,
        take: bool,
    ) -> Result<bool, StoreError> {
        const SCRIPT: &str = "local now = tonumber(ARGV[1]) \
            local interval = tonumber(ARGV[2]) \
            local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0 \
            if tat < now then tat = now end \
            local ahead = tat + interval - now \
            if ahead > interval * tonumber(ARGV[3]) then return 0 end \
            if ARGV[4] == '1' then \
              redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), \
                'PX', math.ceil(ahead / 1000)) \
            end \
            return 1";
        let mut c = self.connection.clone();
        let allowed: i64 = deadline(
            redis::cmd("EVAL")
                .arg(SCRIPT)
                .arg(1)
                .arg(key)
                .arg(now_us)
                .arg(limit.interval_us())
                .arg(limit.burst())
                .arg(u8::from(take))
                .query_async(&mut c),
        )
        .await??;
        Ok(allowed == 1)
    }

    /// `DECR key` when it exists and is positive, in one script (a key that expired in between
    /// is not re-created without a TTL).
    pub(super) async fn decrement_live(&self, key: &str) -> Result<(), StoreError> {
        const SCRIPT: &str = "local n = tonumber(redis.call('GET', KEYS[1]) or '0') \
            if n > 0 then redis.call('DECR', KEYS[1]) end \
            return 0";
        let mut c = self.connection.clone();
        deadline(
            redis::cmd("EVAL")
                .arg(SCRIPT)
                .arg(1)
                .arg(key)
                .query_async::<i64>(&mut c),
        )
        .await??;
        Ok(())
    }

    /// `SET key 1 NX EX ttl`: whether the key was new.
    pub(super) async fn insert_new(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut c = self.connection.clone();
        let set: Option<String> = deadline(
            redis::cmd("SET")
                .arg(key)
                .arg(1)
                .arg("NX")
                .arg("EX")
                .arg(ttl.as_secs().max(1))
                .query_async(&mut c),
        )
        .await??;
        Ok(set.is_some())
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.connection.clone();
        Ok(deadline(c.get::<_, Option<Vec<u8>>>(key)).await??)
    }

    /// Values of every key starting with `prefix`, by `SCAN` then `MGET` per batch. Keys that
    /// expire in between are skipped.
    pub(super) async fn scan_prefix(&self, prefix: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut c = self.connection.clone();
        let pattern = format!("{}*", glob_escape(prefix));
        let mut cursor: u64 = 0;
        let mut out = Vec::new();
        loop {
            let (next, keys): (u64, Vec<String>) = deadline(
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(SCAN_COUNT)
                    .query_async(&mut c),
            )
            .await??;
            if !keys.is_empty() {
                let values: Vec<Option<Vec<u8>>> =
                    deadline(redis::cmd("MGET").arg(&keys).query_async(&mut c)).await??;
                out.extend(values.into_iter().flatten());
            }
            if next == 0 {
                return Ok(out);
            }
            cursor = next;
        }
    }

    /// Seconds `key` has left: `None` when absent, `u64::MAX` when it never expires.
    pub(super) async fn ttl(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let mut c = self.connection.clone();
        let ttl: i64 = deadline(c.ttl(key)).await??;
        Ok(match ttl {
            -1 => Some(u64::MAX),
            t => u64::try_from(t).ok(),
        })
    }

    pub(super) async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), StoreError> {
        let mut c = self.connection.clone();
        deadline(c.publish::<_, _, ()>(channel, payload)).await??;
        Ok(())
    }

    /// A new connection subscribed to `channel`.
    pub(super) async fn subscribe(&self, channel: &str) -> Result<Subscription, StoreError> {
        let pubsub = deadline(self.client.get_async_pubsub()).await??;
        let (mut sink, stream) = pubsub.split();
        deadline(sink.subscribe(channel)).await??;
        Ok(Subscription { sink, stream })
    }

    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.connection.clone();
        deadline(redis::cmd("PING").query_async::<String>(&mut c)).await??;
        Ok(())
    }
}

/// What a subscription saw.
#[derive(Debug)]
pub enum Received {
    /// A published message (at most 64 KiB; larger ones are dropped).
    Message(Vec<u8>),
    /// Nothing arrived, and the connection answered a ping.
    Alive,
}

/// A dedicated pub/sub connection. It ends on the first error: make a new one.
pub struct Subscription {
    sink: PubSubSink,
    stream: PubSubStream,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

impl Subscription {
    /// The next message, or, when none arrives within `quiet`, a ping proving the connection
    /// still works. An error means the connection is gone.
    pub async fn next_or_ping(&mut self, quiet: Duration) -> Result<Received, StoreError> {
        loop {
            tokio::select! {
                message = self.stream.next() => {
                    let Some(message) = message else {
                        return Err(StoreError::Closed);
                    };
                    let payload = message.get_payload_bytes();
                    if payload.len() <= MAX_MESSAGE_BYTES {
                        return Ok(Received::Message(payload.to_vec()));
                    }
                    tracing::warn!(bytes = payload.len(), "oversized event dropped");
                }
                () = tokio::time::sleep(quiet) => {
                    // On a subscribed RESP2 connection Redis answers a ping with the array
                    // `["pong", ""]`, not the `PONG` status of an ordinary connection: any
                    // reply that is not an error proves the connection works.
                    deadline(self.sink.ping::<redis::Value>()).await??;
                    return Ok(Received::Alive);
                }
            }
        }
    }
}

/// `text` with Redis glob characters escaped, for a `MATCH` pattern.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

async fn deadline<T>(f: impl Future<Output = T>) -> Result<T, StoreError> {
    tokio::time::timeout(COMMAND_TIMEOUT, f)
        .await
        .map_err(|_| StoreError::Timeout(COMMAND_TIMEOUT))
}

#[cfg(test)]
mod tests {
    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(super::glob_escape("a:b:"), "a:b:");
        assert_eq!(super::glob_escape("a*?[]\\"), "a\\*\\?\\[\\]\\\\");
    }
}
