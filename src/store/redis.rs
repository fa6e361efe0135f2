//! The shared store: Redis through a multiplexed, self-reconnecting connection. Every command
//! has a deadline, so a stalled Redis turns into an error rather than a hung request.

use std::time::Duration;

use redis::AsyncCommands as _;
use redis::aio::ConnectionManager;

use super::StoreError;

const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
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
        Ok(RedisStore { connection })
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

    /// `INCR key`, with `EXPIRE key ttl` when it starts a window: the new count.
    pub(super) async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        let mut c = self.connection.clone();
        let count: u64 = deadline(c.incr(key, 1u64)).await??;
        if count == 1 {
            deadline(
                c.expire::<_, ()>(key, i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX)),
            )
            .await??;
        }
        Ok(count)
    }

    /// The counter at `key`, 0 when absent.
    pub(super) async fn counter(&self, key: &str) -> Result<u64, StoreError> {
        let mut c = self.connection.clone();
        Ok(deadline(c.get::<_, Option<u64>>(key)).await??.unwrap_or(0))
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

    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.connection.clone();
        deadline(redis::cmd("PING").query_async::<String>(&mut c)).await??;
        Ok(())
    }
}

async fn deadline<T>(f: impl Future<Output = T>) -> Result<T, StoreError> {
    tokio::time::timeout(COMMAND_TIMEOUT, f)
        .await
        .map_err(|_| StoreError::Timeout(COMMAND_TIMEOUT))
}
