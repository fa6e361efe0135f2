//! The store's answer to `/readyz`, shared for a moment by every caller: one ping at a time, and
//! none while the last answer is fresh. `/readyz` is not throttled (a health checker must never
//! be refused), so without this each probe, however many a client sends, would be a round trip
//! to Redis.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use super::StoreError;

/// How long one answer stands for every caller. Short against the 2 s in which `/readyz` must
/// follow the store back up.
pub(super) const FRESH: Duration = Duration::from_millis(250);

#[derive(Debug)]
pub(super) struct Probe {
    fresh: Duration,
    /// The last answer and when it came. Held across a ping, so callers arriving meanwhile wait
    /// for its answer rather than pinging too; a ping ends within the store's deadline.
    last: Mutex<Option<(Instant, Result<(), StoreError>)>>,
}

impl Default for Probe {
    fn default() -> Probe {
        Probe::new(FRESH)
    }
}

impl Probe {
    pub(super) fn new(fresh: Duration) -> Probe {
        Probe {
            fresh,
            last: Mutex::new(None),
        }
    }

    /// The last answer if it is fresh, else `ping`'s.
    pub(super) async fn ask(
        &self,
        ping: impl AsyncFnOnce() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut last = self.last.lock().await;
        if let Some((at, answer)) = &*last
            && at.elapsed() < self.fresh
        {
            return copy(answer);
        }
        let answer = ping().await;
        *last = Some((Instant::now(), copy(&answer)));
        answer
    }
}

fn copy(answer: &Result<(), StoreError>) -> Result<(), StoreError> {
    answer.as_ref().map(|&()| ()).map_err(StoreError::shared)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    async fn ask(probe: &Probe, pings: &AtomicUsize, fails: bool) -> Result<(), StoreError> {
        probe
            .ask(async || {
                pings.fetch_add(1, Ordering::SeqCst);
                // Long enough for every other caller to arrive while this ping is out.
                tokio::time::sleep(Duration::from_millis(20)).await;
                if fails {
                    Err(StoreError::Timeout(Duration::from_secs(2)))
                } else {
                    Ok(())
                }
            })
            .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_at_once_share_one_ping_and_its_failure() {
        let probe = Arc::new(Probe::new(Duration::from_secs(3600)));
        let pings = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..50)
            .map(|_| {
                let (probe, pings) = (probe.clone(), pings.clone());
                tokio::spawn(async move { ask(&probe, &pings, true).await })
            })
            .collect();
        for caller in callers {
            assert!(matches!(
                caller.await.unwrap(),
                Err(StoreError::Timeout(d)) if d == Duration::from_secs(2)
            ));
        }
        assert_eq!(pings.load(Ordering::SeqCst), 1);
        // Still fresh: a later caller gets the same failure without a ping.
        assert!(ask(&probe, &pings, false).await.is_err());
        assert_eq!(pings.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_stale_answer_is_asked_again() {
        let probe = Probe::new(Duration::ZERO);
        let pings = AtomicUsize::new(0);
        assert!(ask(&probe, &pings, true).await.is_err());
        assert!(ask(&probe, &pings, false).await.is_ok());
        assert!(ask(&probe, &pings, false).await.is_ok());
        assert_eq!(pings.load(Ordering::SeqCst), 3);
    }
}
