//! IAM's management API documents: one per account (`sts-broker:{iam}:account:<id>`, a hash
//! of its revision `rev` and its bytes `doc`) and one version counter for all of them
//! (`sts-broker:{iam}:version`). The `{iam}` hash tag puts every key in one cluster slot, so
//! one script may read them all at once and a write may check a document's revision, replace
//! it and count the version in one atomic step. What the bytes mean is the caller's business
//! ([`crate::iam::api::AccountDocument`]).

use std::collections::HashMap;

use super::{Operation, Store, StoreError};

/// The version counter: every write adds one, so a replica polls one `GET`.
pub const VERSION_KEY: &str = "sts-broker:{iam}:version";
const ACCOUNT_PREFIX: &str = "sts-broker:{iam}:account:";

/// One account's document as stored: its revision (0: none stored) and bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredDocument {
    pub revision: u64,
    pub bytes: Option<Vec<u8>>,
}

/// The embedded store's documents.
#[derive(Debug, Default)]
pub struct MemoryDocuments {
    version: u64,
    by_account: HashMap<String, (u64, Vec<u8>)>,
}

fn account_key(account: &str) -> String {
    format!("{ACCOUNT_PREFIX}{account}")
}

/// Reads the version and every named account's revision and document in one step.
const READ_SCRIPT: &str = "local out = {redis.call('GET', KEYS[1]) or '0'} \
    for i = 2, #KEYS do \
      local v = redis.call('HMGET', KEYS[i], 'rev', 'doc') \
      out[#out + 1] = v[1] or '0' \
      out[#out + 1] = v[2] or '' \
    end \
    return out";

/// Replaces the document if its revision is the expected one, then counts the version: the
/// new version, or -1 (nothing written) when another write came first.
const WRITE_SCRIPT: &str = "local rev = tonumber(redis.call('HGET', KEYS[1], 'rev') or '0') \
    if rev ~= tonumber(ARGV[1]) then return -1 end \
    redis.call('HSET', KEYS[1], 'rev', rev + 1, 'doc', ARGV[2]) \
    return redis.call('INCR', KEYS[2])";

impl Store {
    /// The version counter of IAM's documents (0 before the first write).
    pub async fn iam_version(&self) -> Result<u64, StoreError> {
        let result = match self {
            Store::Memory(m) => Ok(m.documents_lock().version),
            Store::Redis(r) => r
                .query::<Option<u64>>(redis::cmd("GET").arg(VERSION_KEY))
                .await
                .map(Option::unwrap_or_default),
        };
        self.errors().count(Operation::IamVersion, result)
    }

    /// The version counter and each account's document, read in one step (one script on
    /// Redis), so the documents are those of that version.
    pub async fn iam_documents(
        &self,
        accounts: &[String],
    ) -> Result<(u64, Vec<StoredDocument>), StoreError> {
        let result = match self {
            Store::Memory(m) => {
                let docs = m.documents_lock();
                let read = accounts
                    .iter()
                    .map(|a| match docs.by_account.get(a) {
                        Some((revision, bytes)) => StoredDocument {
                            revision: *revision,
                            bytes: Some(bytes.clone()),
                        },
                        None => StoredDocument::default(),
                    })
                    .collect();
                Ok((docs.version, read))
            }
            Store::Redis(r) => {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(READ_SCRIPT)
                    .arg(accounts.len() + 1)
                    .arg(VERSION_KEY);
                for a in accounts {
                    cmd.arg(account_key(a));
                }
                r.query::<Vec<Vec<u8>>>(&cmd)
                    .await
                    .and_then(|values| parse_read(&values, accounts.len()))
            }
        };
        self.errors().count(Operation::IamRead, result)
    }

    /// Writes `bytes` as `account`'s document if its revision is still `expected` (compare and
    /// set), counting the version in the same step: the new version, or `None` when another
    /// write came first (nothing written).
    pub async fn iam_replace(
        &self,
        account: &str,
        expected: u64,
        bytes: Vec<u8>,
    ) -> Result<Option<u64>, StoreError> {
        let result = match self {
            Store::Memory(m) => {
                let mut docs = m.documents_lock();
                let revision = docs.by_account.get(account).map_or(0, |(r, _)| *r);
                if revision == expected {
                    docs.by_account
                        .insert(account.to_owned(), (revision + 1, bytes));
                    docs.version += 1;
                    Ok(Some(docs.version))
                } else {
                    Ok(None)
                }
            }
            Store::Redis(r) => r
                .query::<i64>(
                    redis::cmd("EVAL")
                        .arg(WRITE_SCRIPT)
                        .arg(2)
                        .arg(account_key(account))
                        .arg(VERSION_KEY)
                        .arg(expected)
                        .arg(bytes),
                )
                .await
                .map(|v| u64::try_from(v).ok()),
        };
        self.errors().count(Operation::IamWrite, result)
    }
}

fn number(bytes: &[u8]) -> Result<u64, StoreError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            StoreError::Corrupt(serde::de::Error::custom(
                "an IAM document's revision or version is not a number",
            ))
        })
}

fn parse_read(
    values: &[Vec<u8>],
    accounts: usize,
) -> Result<(u64, Vec<StoredDocument>), StoreError> {
    let corrupt = || {
        StoreError::Corrupt(serde::de::Error::custom(
            "the IAM documents' read answered an unexpected shape",
        ))
    };
    let (version, rest) = values.split_first().ok_or_else(corrupt)?;
    if rest.len() != accounts * 2 {
        return Err(corrupt());
    }
    let docs = rest
        .chunks(2)
        .map(|pair| match pair {
            [rev, doc] => Ok(StoredDocument {
                revision: number(rev)?,
                bytes: (!doc.is_empty()).then(|| doc.clone()),
            }),
            _ => Err(corrupt()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((number(version)?, docs))
}

impl super::MemoryStore {
    fn documents_lock(&self) -> std::sync::MutexGuard<'_, MemoryDocuments> {
        self.documents.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_second_of_two_writers_from_one_revision_writes_nothing() {
        let store = Store::Memory(super::super::MemoryStore::default());
        let accounts = ["111122223333".to_owned(), "444455556666".to_owned()];
        let (version, docs) = store.iam_documents(&accounts).await.unwrap();
        assert_eq!((version, docs[0].revision), (0, 0));
        let first = store
            .iam_replace(&accounts[0], 0, b"first".to_vec())
            .await
            .unwrap();
        let second = store
            .iam_replace(&accounts[0], 0, b"second".to_vec())
            .await
            .unwrap();
        assert_eq!((first, second), (Some(1), None));
        let (version, docs) = store.iam_documents(&accounts).await.unwrap();
        assert_eq!(version, 1);
        assert_eq!(
            docs,
            [
                StoredDocument {
                    revision: 1,
                    bytes: Some(b"first".to_vec())
                },
                StoredDocument::default()
            ]
        );
        assert_eq!(store.iam_version().await.unwrap(), 1);
    }

    #[test]
    fn a_read_of_another_shape_is_refused() {
        assert!(parse_read(&[b"3".to_vec(), b"1".to_vec()], 1).is_err());
        assert!(parse_read(&[b"x".to_vec()], 0).is_err());
        let (v, docs) = parse_read(&[b"3".to_vec(), b"2".to_vec(), b"{}".to_vec()], 1).unwrap();
        assert_eq!((v, docs[0].revision), (3, 2));
    }
}
