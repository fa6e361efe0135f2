//! What the broker counts for its operators: requests by action and outcome with their latency,
//! sessions issued, configuration reloads. Plain atomics in
//! read-mostly maps: after the first time a label is seen, bumping takes a shared read lock
//! and an atomic add. The metrics front door reads snapshots at scrape time; nothing here knows
//! about Prometheus (docs/operations.md, "Metrics").
//!
//! Every label is bounded by the code or the configuration: actions are `&'static str`, outcomes
//! are [`ErrorCode`]s, accounts are the configured accounts of the sessions' roles and users.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use super::error::ErrorCode;
use crate::session::Origin;

/// Upper bounds of the request latency buckets, in microseconds (0.5 ms to 10 s).
pub const LATENCY_BUCKETS_MICROS: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

/// A request's outcome: `None` for success, else the AWS error code it was answered with.
pub type Outcome = Option<ErrorCode>;

/// The label of an outcome: `success` or the AWS error code.
pub fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        None => "success",
        Some(code) => code.as_str(),
    }
}

/// The actions that issue sessions, in the order of [`Stats`]' per-account counters.
pub const ISSUING_ACTIONS: [Origin; 5] = [
    Origin::AssumeRole,
    Origin::AssumeRoleWithWebIdentity,
    Origin::AssumeRoleWithSAML,
    Origin::GetSessionToken,
    Origin::SignIn,
];

/// The action name of a session's origin.
pub fn origin_name(origin: Origin) -> &'static str {
    match origin {
        Origin::AssumeRole => "AssumeRole",
        Origin::AssumeRoleWithWebIdentity => "AssumeRoleWithWebIdentity",
        Origin::AssumeRoleWithSAML => "AssumeRoleWithSAML",
        Origin::GetSessionToken => "GetSessionToken",
        Origin::SignIn => "SignIn",
    }
}

fn origin_index(origin: Origin) -> usize {
    match origin {
        Origin::AssumeRole => 0,
        Origin::AssumeRoleWithWebIdentity => 1,
        Origin::AssumeRoleWithSAML => 2,
        Origin::GetSessionToken => 3,
        Origin::SignIn => 4,
    }
}

/// Latencies of one action: a count per bucket, plus one past the last bound.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_MICROS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BUCKETS_MICROS
            .iter()
            .position(|bound| micros <= *bound)
            .unwrap_or(LATENCY_BUCKETS_MICROS.len());
        if let Some(b) = self.buckets.get(bucket) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn snapshot(&self) -> LatencySnapshot {
        let buckets: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        LatencySnapshot {
            // The count is the buckets' total, so the two always agree.
            count: buckets.iter().sum(),
            buckets,
            sum_micros: self.sum_micros.load(Ordering::Relaxed),
        }
    }
}

/// The latencies of one action at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencySnapshot {
    /// Requests per bucket of [`LATENCY_BUCKETS_MICROS`] (not cumulative), then those slower
    /// than the last bound.
    pub buckets: Vec<u64>,
    pub count: u64,
    pub sum_micros: u64,
}

/// Requests of one action with one outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestCount {
    pub action: &'static str,
    pub outcome: Outcome,
    pub count: u64,
}

/// Sessions issued by one action for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCount {
    pub action: Origin,
    pub account: String,
    pub count: u64,
}

/// The broker's counters; shared by every front door (see the module header).
#[derive(Debug, Default)]
pub struct Stats {
    requests: RwLock<HashMap<(&'static str, Outcome), AtomicU64>>,
    latency: RwLock<HashMap<&'static str, Histogram>>,
    /// Per configured account, one counter per [`ISSUING_ACTIONS`] entry.
    issued: RwLock<HashMap<String, [AtomicU64; ISSUING_ACTIONS.len()]>>,
    /// Applied, then refused.
    reloads: [AtomicU64; 2],
}

/// Runs `f` on the value of `key`, inserting a default one first if needed (the write lock is
/// taken only then).
fn with_entry<K, Q, V>(map: &RwLock<HashMap<K, V>>, key: &Q, f: impl Fn(&V))
where
    K: Eq + Hash + std::borrow::Borrow<Q>,
    Q: Eq + Hash + ToOwned<Owned = K> + ?Sized,
    V: Default,
{
    {
        let read = map.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = read.get(key) {
            f(v);
            return;
        }
    }
    let mut write = map.write().unwrap_or_else(PoisonError::into_inner);
    f(write.entry(key.to_owned()).or_default());
}

impl Stats {
    /// One request of `action` answered with `outcome` after `elapsed`.
    pub fn request(&self, action: &'static str, outcome: Outcome, elapsed: Duration) {
        with_entry(&self.requests, &(action, outcome), |c| {
            c.fetch_add(1, Ordering::Relaxed);
        });
        with_entry(&self.latency, &action, |h| h.observe(elapsed));
    }

    /// One session issued by `action` for a principal of `account` (a configured account).
    pub fn session_issued(&self, action: Origin, account: &str) {
        let i = origin_index(action);
        with_entry(&self.issued, account, |counts| {
            if let Some(c) = counts.get(i) {
                c.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    /// One configuration reload: applied, or refused (the running configuration kept).
    pub fn config_reload(&self, applied: bool) {
        let i = usize::from(!applied);
        if let Some(c) = self.reloads.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every request count so far.
    pub fn requests(&self) -> Vec<RequestCount> {
        let map = self.requests.read().unwrap_or_else(PoisonError::into_inner);
        map.iter()
            .map(|(&(action, outcome), c)| RequestCount {
                action,
                outcome,
                count: c.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// The latencies of every action seen so far.
    pub fn latencies(&self) -> Vec<(&'static str, LatencySnapshot)> {
        let map = self.latency.read().unwrap_or_else(PoisonError::into_inner);
        map.iter().map(|(&a, h)| (a, h.snapshot())).collect()
    }

    /// Sessions issued so far, per action and account (only those with at least one).
    pub fn sessions_issued(&self) -> Vec<IssuedCount> {
        let map = self.issued.read().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        for (account, counts) in map.iter() {
            for (action, c) in ISSUING_ACTIONS.iter().zip(counts) {
                let count = c.load(Ordering::Relaxed);
                if count > 0 {
                    out.push(IssuedCount {
                        action: *action,
                        account: account.clone(),
                        count,
                    });
                }
            }
        }
        out
    }

    /// Configuration reloads so far: (applied, refused).
    pub fn config_reloads(&self) -> (u64, u64) {
        (
            self.reloads[0].load(Ordering::Relaxed),
            self.reloads[1].load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_per_action_and_outcome() {
        let stats = Stats::default();
        let ms = Duration::from_millis;
        stats.request("AssumeRole", None, ms(1));
        stats.request("AssumeRole", None, ms(3));
        stats.request("AssumeRole", Some(ErrorCode::AccessDenied), ms(20_000));
        stats.request("GetCallerIdentity", None, Duration::from_micros(500));
        let mut counts = stats.requests();
        counts.sort_by_key(|c| (c.action, outcome_label(c.outcome)));
        let seen: Vec<_> = counts
            .iter()
            .map(|c| (c.action, outcome_label(c.outcome), c.count))
            .collect();
        assert_eq!(
            seen,
            [
                ("AssumeRole", "AccessDenied", 1),
                ("AssumeRole", "success", 2),
                ("GetCallerIdentity", "success", 1),
            ]
        );
        let latencies: HashMap<_, _> = stats.latencies().into_iter().collect();
        let role = &latencies["AssumeRole"];
        assert_eq!(role.count, 3);
        assert_eq!(role.sum_micros, 20_004_000);
        // 1 ms is in the 1 ms bucket (bounds are inclusive), 3 ms in 5 ms, 20 s past the last.
        assert_eq!(role.buckets[1], 1);
        assert_eq!(role.buckets[3], 1);
        assert_eq!(role.buckets[LATENCY_BUCKETS_MICROS.len()], 1);
        assert_eq!(latencies["GetCallerIdentity"].buckets[0], 1);
    }

    #[test]
    fn sessions_and_reloads_are_counted() {
        let stats = Stats::default();
        stats.session_issued(Origin::AssumeRoleWithWebIdentity, "111122223333");
        stats.session_issued(Origin::AssumeRoleWithWebIdentity, "111122223333");
        stats.session_issued(Origin::GetSessionToken, "444455556666");
        let mut issued = stats.sessions_issued();
        issued.sort_by(|a, b| a.account.cmp(&b.account));
        assert_eq!(
            issued,
            [
                IssuedCount {
                    action: Origin::AssumeRoleWithWebIdentity,
                    account: "111122223333".into(),
                    count: 2
                },
                IssuedCount {
                    action: Origin::GetSessionToken,
                    account: "444455556666".into(),
                    count: 1
                },
            ]
        );
        stats.config_reload(true);
        stats.config_reload(false);
        stats.config_reload(false);
        assert_eq!(stats.config_reloads(), (1, 2));
    }
}
