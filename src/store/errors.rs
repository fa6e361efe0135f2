//! Failures of the store counted per operation, for operators (the metrics front door reads
//! them). Only the store's own failures count (unreachable, too slow, an unreadable answer);
//! a session record refused as not authentic is counted apart ([`super::Store::refused_records`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::StoreError;

/// What the broker asked the store to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    PutSession,
    GetSession,
    UseOnce,
    TakeAttempt,
    GiveBackAttempt,
    PutEntry,
    Entries,
    EntryTtl,
    Publish,
    Subscribe,
    Ping,
    RateCheck,
    IamVersion,
    IamRead,
    IamWrite,
    KeyUseRead,
    KeyUseWrite,
}

impl Operation {
    pub const ALL: [Operation; 17] = [
        Operation::PutSession,
        Operation::GetSession,
        Operation::UseOnce,
        Operation::TakeAttempt,
        Operation::GiveBackAttempt,
        Operation::PutEntry,
        Operation::Entries,
        Operation::EntryTtl,
        Operation::Publish,
        Operation::Subscribe,
        Operation::Ping,
        Operation::RateCheck,
        Operation::IamVersion,
        Operation::IamRead,
        Operation::IamWrite,
        Operation::KeyUseRead,
        Operation::KeyUseWrite,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operation::PutSession => "put_session",
            Operation::GetSession => "get_session",
            Operation::UseOnce => "use_once",
            Operation::TakeAttempt => "take_attempt",
            Operation::GiveBackAttempt => "give_back_attempt",
            Operation::PutEntry => "put_entry",
            Operation::Entries => "entries",
            Operation::EntryTtl => "entry_ttl",
            Operation::Publish => "publish",
            Operation::Subscribe => "subscribe",
            Operation::Ping => "ping",
            Operation::RateCheck => "rate_check",
            Operation::IamVersion => "iam_version",
            Operation::IamRead => "iam_read",
            Operation::IamWrite => "iam_write",
            Operation::KeyUseRead => "key_use_read",
            Operation::KeyUseWrite => "key_use_write",
        }
    }

    fn index(self) -> usize {
        match self {
            Operation::PutSession => 0,
            Operation::GetSession => 1,
            Operation::UseOnce => 2,
            Operation::TakeAttempt => 3,
            Operation::GiveBackAttempt => 4,
            Operation::PutEntry => 5,
            Operation::Entries => 6,
            Operation::EntryTtl => 7,
            Operation::Publish => 8,
            Operation::Subscribe => 9,
            Operation::Ping => 10,
            Operation::RateCheck => 11,
            Operation::IamVersion => 12,
            Operation::IamRead => 13,
            Operation::IamWrite => 14,
            Operation::KeyUseRead => 15,
            Operation::KeyUseWrite => 16,
        }
    }
}

impl StoreError {
    /// Whether the store itself failed (as opposed to a record refused by the broker's checks).
    pub fn is_store_failure(&self) -> bool {
        match self {
            StoreError::BadUrl(_)
            | StoreError::Redis(_)
            | StoreError::Refused { .. }
            | StoreError::Corrupt(_)
            | StoreError::Timeout(_)
            | StoreError::Closed => true,
            StoreError::NotAuthentic(_) | StoreError::NoSessionKey(_) => false,
        }
    }
}

/// Failures per operation since the store was opened; shared by its clones.
#[derive(Debug, Default)]
pub struct Errors {
    by_operation: [AtomicU64; Operation::ALL.len()],
    /// The last ping failed.
    unreachable: AtomicBool,
}

impl Errors {
    /// Counts `result` under `operation` if the store failed; hands it back unchanged.
    pub(super) fn count<T>(
        &self,
        operation: Operation,
        result: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if let Err(e) = &result
            && e.is_store_failure()
            && let Some(c) = self.by_operation.get(operation.index())
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// Notes a ping's answer; whether it changed reachability (the first failure after an
    /// answer, or the first answer after failures), so that each change is logged once however
    /// often the store is pinged (`/readyz` is not throttled).
    pub(super) fn reachable(&self, answered: bool) -> bool {
        self.unreachable.swap(!answered, Ordering::Relaxed) == answered
    }

    pub(super) fn snapshot(&self) -> [(Operation, u64); Operation::ALL.len()] {
        Operation::ALL.map(|op| {
            let count = self
                .by_operation
                .get(op.index())
                .map_or(0, |c| c.load(Ordering::Relaxed));
            (op, count)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_change_of_reachability_is_reported_once() {
        let errors = Errors::default();
        let seen: Vec<bool> = [true, true, false, false, false, true, true, false]
            .into_iter()
            .map(|answered| errors.reachable(answered))
            .collect();
        assert_eq!(seen, [false, false, true, false, false, true, false, true]);
    }

    #[test]
    fn only_the_stores_own_failures_count() {
        let errors = Errors::default();
        let timeout = Err::<(), _>(StoreError::Timeout(Duration::from_secs(2)));
        assert!(errors.count(Operation::Ping, timeout).is_err());
        assert!(errors.count(Operation::Ping, Ok(())).is_ok());
        let refused = Err::<(), _>(StoreError::NoSessionKey("k".into()));
        assert!(errors.count(Operation::PutSession, refused).is_err());
        let closed = Err::<(), _>(StoreError::Closed);
        assert!(errors.count(Operation::Subscribe, closed).is_err());
        let counted: Vec<_> = errors
            .snapshot()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(op, n)| (op.name(), n))
            .collect();
        assert_eq!(counted, [("subscribe", 1), ("ping", 1)]);
        // Every operation is listed once, in the order of its index.
        for (i, op) in Operation::ALL.iter().enumerate() {
            assert_eq!(op.index(), i);
        }
    }
}
