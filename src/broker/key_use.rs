//! When each long-term access key was last used (IAM's `GetAccessKeyLastUsed`), each role
//! (`RoleLastUsed` in `GetRole`, by the role's unique `AROA…` id, noted when a session of it is
//! issued) and each user's password (`PasswordLastUsed` in `GetUser` and `ListUsers`, by the
//! user's unique `AIDA…` id with service `signin`, noted at each successful `POST /signin`;
//! read it with [`KeyUse::newest`]`(store, user_id)`). The ids of keys, roles and users never
//! collide, so one record serves all three. Recorded
//! without a store write per request: every request verified with a key notes the date and the
//! service and region its signature was scoped to here, in memory ([`KeyUse::record`]), and a
//! task writes what was noted to the store at most once every [`FLUSH_EVERY`], as one write for
//! all keys ([`crate::store::Store::record_key_uses`], newer wins). A replica that stops loses
//! at most that last second of uses. Reads take the newest of the store's and this replica's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::store::{LastUse, Store, StoreError};

/// How often a replica writes the uses it noted (when it noted any).
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Keys noted between two writes at most; more are dropped until the next write (only keys
/// that verified a signature are noted, so this is only reached with that many keys in use).
const MAX_PENDING: usize = 100_000;
/// Longest service or region name kept.
const MAX_NAME: usize = 64;

/// The uses noted by this replica and not yet written; shared by every broker of the process.
#[derive(Debug, Default)]
pub struct KeyUse {
    pending: Mutex<HashMap<String, LastUse>>,
    /// Taken from `pending` by a write still under way (still read by [`KeyUse::newest`]).
    writing: Mutex<HashMap<String, LastUse>>,
    /// Writes made so far.
    writes: AtomicU64,
}

impl KeyUse {
    /// Notes that access key `id` verified a request at `at` (unix seconds) for `service` in
    /// `region`. No I/O; one lock, and no allocation when the key was already noted in the same
    /// second for the same scope.
    pub fn record(&self, id: &str, at: i64, service: &str, region: &str) {
        let bounded = |s: &str| s.chars().take(MAX_NAME).collect::<String>();
        let mut pending = lock(&self.pending);
        let full = pending.len() >= MAX_PENDING;
        match pending.get_mut(id) {
            Some(u) if u.at > at || (u.at == at && u.service == service && u.region == region) => {}
            Some(u) => {
                *u = LastUse {
                    at,
                    service: bounded(service),
                    region: bounded(region),
                };
            }
            None if full => {}
            None => {
                pending.insert(
                    id.to_owned(),
                    LastUse {
                        at,
                        service: bounded(service),
                        region: bounded(region),
                    },
                );
            }
        }
    }

    /// The last use of key `id`: the store's, or this replica's when newer.
    pub async fn newest(&self, store: &Store, id: &str) -> Result<Option<LastUse>, StoreError> {
        let stored = store.key_use(id).await?;
        let here = [&self.pending, &self.writing]
            .into_iter()
            .filter_map(|m| lock(m).get(id).cloned())
            .max_by_key(|u| u.at);
        Ok(match here {
            Some(u) => Some(u.newest(stored)),
            None => stored,
        })
    }

    /// The last uses of `ids`, in their order: the store's (one read), or this replica's when
    /// newer.
    pub async fn newest_of<S: AsRef<str>>(
        &self,
        store: &Store,
        ids: &[S],
    ) -> Result<Vec<Option<LastUse>>, StoreError> {
        let stored = store.key_uses(ids).await?;
        let pending = lock(&self.pending);
        let writing = lock(&self.writing);
        Ok(ids
            .iter()
            .zip(stored)
            .map(|(id, stored)| {
                let here = [pending.get(id.as_ref()), writing.get(id.as_ref())]
                    .into_iter()
                    .flatten()
                    .max_by_key(|u| u.at)
                    .cloned();
                match here {
                    Some(u) => Some(u.newest(stored)),
                    None => stored,
                }
            })
            .collect())
    }

    /// Writes what was noted since the last write, in one store write (none when nothing was
    /// noted). On failure what was taken is noted again, for the next write.
    pub async fn flush(&self, store: &Store) -> Result<(), StoreError> {
        let taken: Vec<(String, LastUse)> = {
            let mut pending = lock(&self.pending);
            if pending.is_empty() {
                return Ok(());
            }
            let taken = std::mem::take(&mut *pending);
            let mut writing = lock(&self.writing);
            writing.clone_from(&taken);
            taken.into_iter().collect()
        };
        let written = store.record_key_uses(&taken).await;
        let back = std::mem::take(&mut *lock(&self.writing));
        match written {
            Ok(()) => {
                self.writes.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                let mut pending = lock(&self.pending);
                for (id, u) in back {
                    let newest = u.newest(pending.get(&id).cloned());
                    pending.insert(id, newest);
                }
                Err(e)
            }
        }
    }

    /// Store writes made so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

fn lock(
    m: &Mutex<HashMap<String, LastUse>>,
) -> std::sync::MutexGuard<'_, HashMap<String, LastUse>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the task that writes `key_use` to `store` every [`FLUSH_EVERY`]; it ends once
/// `key_use` is dropped. A failing store is logged once until a write succeeds again.
pub fn start(key_use: &Arc<KeyUse>, store: Store) {
    let weak: Weak<KeyUse> = Arc::downgrade(key_use);
    tokio::spawn(async move {
        let mut failing = false;
        loop {
            tokio::time::sleep(FLUSH_EVERY).await;
            let Some(key_use) = weak.upgrade() else {
                return;
            };
            match key_use.flush(&store).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("access keys' last uses are written again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "access keys' last uses cannot be written; kept for the next try");
                }
                Err(_) => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many uses, one write: the store sees nothing until the flush, then the newest use of
    /// each key in a single write.
    #[tokio::test]
    async fn uses_are_written_once_per_flush_and_read_before_it() {
        let store = Store::open("memory://").await.unwrap();
        let uses = KeyUse::default();
        for i in 0..1000 {
            uses.record("AKIAAAAAAAAAAAAAAAA2", 100 + i / 100, "sts", "us-east-1");
            uses.record("AKIAAAAAAAAAAAAAAAA3", 50, "s3", "eu-west-1");
        }
        // An older use noted later does not move the date back.
        uses.record("AKIAAAAAAAAAAAAAAAA2", 10, "iam", "us-east-1");
        assert_eq!(store.key_use("AKIAAAAAAAAAAAAAAAA2").await.unwrap(), None);
        let here = uses
            .newest(&store, "AKIAAAAAAAAAAAAAAAA2")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((here.at, here.service.as_str()), (109, "sts"));
        uses.flush(&store).await.unwrap();
        uses.flush(&store).await.unwrap();
        assert_eq!(uses.writes(), 1, "nothing new, nothing written");
        let stored = store
            .key_use("AKIAAAAAAAAAAAAAAAA3")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (stored.at, stored.service.as_str(), stored.region.as_str()),
            (50, "s3", "eu-west-1")
        );
        assert_eq!(
            uses.newest(&store, "AKIAAAAAAAAAAAAAAAA2")
                .await
                .unwrap()
                .unwrap()
                .at,
            109
        );
    }

    /// Many ids at once: the store's uses, or this replica's when newer; `None` for ids never
    /// used.
    #[tokio::test]
    async fn many_last_uses_are_the_newest_of_store_and_replica() {
        let store = Store::open("memory://").await.unwrap();
        let uses = KeyUse::default();
        uses.record("AIDASTORED", 10, "signin", "us-east-1");
        uses.flush(&store).await.unwrap();
        uses.record("AIDASTORED", 5, "signin", "eu-west-1");
        uses.record("AKIAAAAAAAAAAAAAAAA2", 20, "sts", "us-east-1");
        let ids = ["AIDASTORED", "AKIAAAAAAAAAAAAAAAA2", "AIDANEVER"].map(str::to_owned);
        let got = uses.newest_of(&store, &ids).await.unwrap();
        let at: Vec<Option<i64>> = got.iter().map(|u| u.as_ref().map(|u| u.at)).collect();
        assert_eq!(
            at,
            [Some(10), Some(20), None],
            "the store's is newer; only this replica's; never"
        );
    }
}
