//! When each long-term access key was last used (IAM's `GetAccessKeyLastUsed`): one hash,
//! `sts-broker:{iam}:key-last-used`, a field per access key id whose value is the newest use
//! ([`LastUse`] as JSON). Replicas write what they saw in batches ([`Store::record_key_uses`],
//! one write for many keys); a use older than the one stored never replaces it, so two replicas
//! never move a key's date backwards. The `{iam}` hash tag keeps it in the slot of IAM's
//! documents on a cluster.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Operation, Store, StoreError};

/// The hash of every key's last use.
pub const KEY_LAST_USED: &str = "sts-broker:{iam}:key-last-used";
/// Ids read by one `HMGET` of [`Store::key_uses`].
const READ_BATCH: usize = 1000;

/// One use of an access key: when (unix seconds), and the service and region its signature was
/// scoped to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastUse {
    /// First, so the script reads it without decoding the rest.
    pub at: i64,
    pub service: String,
    pub region: String,
}

impl LastUse {
    /// The newer of `self` and `other` (`self` on a tie).
    pub fn newest(self, other: Option<LastUse>) -> LastUse {
        match other {
            Some(o) if o.at > self.at => o,
            _ => self,
        }
    }
}

/// For each (field, date, value) triple of `ARGV`: sets the field unless the date it holds is
/// the same or later. Returns how many fields were set.
const RECORD_SCRIPT: &str = "local set = 0 \
    for i = 1, #ARGV, 3 do \
      local old = redis.call('HGET', KEYS[1], ARGV[i]) \
      local at = old and tonumber(string.match(old, '^{\"at\":(%-?%d+)')) \
      if not at or at < tonumber(ARGV[i + 1]) then \
        redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2]) \
        set = set + 1 \
      end \
    end \
    return set";

impl Store {
    /// Records `uses` (by access key id) in one write: each replaces what is stored only when
    /// it is newer (one Lua script on Redis, one lock in memory).
    pub async fn record_key_uses(&self, uses: &[(String, LastUse)]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        let result = match self {
            Store::Memory(m) => {
                let mut stored = m.key_uses_lock();
                for (id, use_) in uses {
                    let newest = use_.clone().newest(stored.get(id).cloned());
                    stored.insert(id.clone(), newest);
                }
                Ok(())
            }
            Store::Redis(r) => {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(RECORD_SCRIPT).arg(1).arg(KEY_LAST_USED);
                for (id, use_) in uses {
                    cmd.arg(id).arg(use_.at).arg(serde_json::to_vec(use_)?);
                }
                r.query::<i64>(&cmd).await.map(|_| ())
            }
        };
        self.errors().count(Operation::KeyUseWrite, result)
    }

    /// The last use stored for access key `id`.
    pub async fn key_use(&self, id: &str) -> Result<Option<LastUse>, StoreError> {
        let result = match self {
            Store::Memory(m) => Ok(m.key_uses_lock().get(id).cloned()),
            Store::Redis(r) => r
                .query::<Option<Vec<u8>>>(redis::cmd("HGET").arg(KEY_LAST_USED).arg(id))
                .await
                .and_then(|bytes| match bytes {
                    Some(b) => Ok(Some(serde_json::from_slice(&b)?)),
                    None => Ok(None),
                }),
        };
        self.errors().count(Operation::KeyUseRead, result)
    }

    /// The last uses stored for `ids`, in their order: one `HMGET` per [`READ_BATCH`] ids, not
    /// one read per id (the credential report and `analyze unused` read every id they show).
    /// A value that does not decode is an error, as in [`Store::key_use`].
    pub async fn key_uses<S: AsRef<str>>(
        &self,
        ids: &[S],
    ) -> Result<Vec<Option<LastUse>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let result = match self {
            Store::Memory(m) => {
                let stored = m.key_uses_lock();
                Ok(ids
                    .iter()
                    .map(|id| stored.get(id.as_ref()).cloned())
                    .collect())
            }
            Store::Redis(r) => {
                let mut out = Vec::with_capacity(ids.len());
                let mut failed = None;
                for chunk in ids.chunks(READ_BATCH) {
                    let mut cmd = redis::cmd("HMGET");
                    cmd.arg(KEY_LAST_USED);
                    for id in chunk {
                        cmd.arg(id.as_ref());
                    }
                    let read = r
                        .query::<Vec<Option<Vec<u8>>>>(&cmd)
                        .await
                        .and_then(|values| {
                            values
                                .into_iter()
                                .map(|v| match v {
                                    Some(b) => Ok(Some(serde_json::from_slice(&b)?)),
                                    None => Ok(None),
                                })
                                .collect::<Result<Vec<_>, StoreError>>()
                        });
                    match read {
                        Ok(values) => out.extend(values),
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                match failed {
                    Some(e) => Err(e),
                    None => Ok(out),
                }
            }
        };
        self.errors().count(Operation::KeyUseRead, result)
    }

    /// Forgets the last use of access key `id` (the key was deleted).
    pub async fn forget_key_use(&self, id: &str) -> Result<(), StoreError> {
        let result = match self {
            Store::Memory(m) => {
                m.key_uses_lock().remove(id);
                Ok(())
            }
            Store::Redis(r) => r
                .query::<i64>(redis::cmd("HDEL").arg(KEY_LAST_USED).arg(id))
                .await
                .map(|_| ()),
        };
        self.errors().count(Operation::KeyUseWrite, result)
    }
}

impl super::MemoryStore {
    fn key_uses_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LastUse>> {
        self.key_uses.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at: i64, region: &str) -> LastUse {
        LastUse {
            at,
            service: "sts".into(),
            region: region.into(),
        }
    }

    #[tokio::test]
    async fn the_newest_use_is_kept_whatever_order_replicas_write_in() {
        let store = Store::open("memory://").await.unwrap();
        let key = "AKIAAAAAAAAAAAAAAAA2".to_owned();
        assert_eq!(store.key_use(&key).await.unwrap(), None);
        store
            .record_key_uses(&[(key.clone(), at(200, "eu-west-1"))])
            .await
            .unwrap();
        // An older use seen by another replica, written later, changes nothing.
        store
            .record_key_uses(&[(key.clone(), at(100, "us-east-1"))])
            .await
            .unwrap();
        assert_eq!(
            store.key_use(&key).await.unwrap(),
            Some(at(200, "eu-west-1"))
        );
        store
            .record_key_uses(&[(key.clone(), at(300, "us-east-1"))])
            .await
            .unwrap();
        assert_eq!(store.key_use(&key).await.unwrap().unwrap().at, 300);
        store.forget_key_use(&key).await.unwrap();
        assert_eq!(store.key_use(&key).await.unwrap(), None);
    }

    #[tokio::test]
    async fn many_uses_are_read_at_once_in_the_order_asked() {
        let store = Store::open("memory://").await.unwrap();
        let ids: Vec<String> = ["AKIAAAAAAAAAAAAAAAA2", "AIDAUSER", "111122223333"]
            .map(str::to_owned)
            .into();
        store
            .record_key_uses(&[
                (ids[0].clone(), at(1, "eu-west-1")),
                (ids[2].clone(), at(3, "us-east-1")),
            ])
            .await
            .unwrap();
        assert_eq!(
            store.key_uses(&ids).await.unwrap(),
            vec![Some(at(1, "eu-west-1")), None, Some(at(3, "us-east-1"))]
        );
        assert_eq!(store.key_uses::<&str>(&[]).await.unwrap(), Vec::new());
    }

    #[test]
    fn the_date_leads_the_stored_value_for_the_script() {
        let json = serde_json::to_string(&at(-5, "x\"y")).unwrap();
        assert!(json.starts_with(r#"{"at":-5,"#), "{json}");
        assert_eq!(at(1, "a").newest(Some(at(2, "b"))), at(2, "b"));
        assert_eq!(at(2, "a").newest(Some(at(2, "b"))), at(2, "a"));
        assert_eq!(at(2, "a").newest(None), at(2, "a"));
    }
}
