//! The store's answer to `/readyz`, shared for a moment by every caller: one ping at a time, and
//! none while the last answer is fresh. `/readyz` is not throttled (a health checker must never
//! be refused), so without this each probe, however many a client sends, would be a round trip
//! to Redis. A fresh answer is read without waiting on anything; callers that come while a
//! ping is out wait for its answer together (woken at once, not one after another), and should
//! the caller pinging go away first (its client hung up), one of them pings instead.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::StoreError;

/// How long one answer stands for every caller. Short against the 2 s in which `/readyz` must
/// follow the store back up.
pub(super) const FRESH: Duration = Duration::from_millis(250);

type Answer = Result<(), StoreError>;

#[derive(Debug)]
pub(super) struct Probe {
    fresh: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The last answer and when it came.
    last: Option<(Instant, Answer)>,
    /// The ping out, if one is: its answer is sent here.
    flight: Option<watch::Receiver<Option<Answer>>>,
}

/// What a caller does: take a fresh answer, wait for the ping out, or ping.
enum Turn {
    Answered(Answer),
    Wait(watch::Receiver<Option<Answer>>),
    Ping(watch::Sender<Option<Answer>>),
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
            state: Mutex::new(State::default()),
        }
    }

    /// The last answer if it is fresh, else that of the ping out, else `ping`'s.
    pub(super) async fn ask(&self, ping: impl AsyncFnOnce() -> Answer) -> Answer {
        loop {
            match self.turn() {
                Turn::Answered(answer) => return answer,
                Turn::Wait(mut flight) => {
                    if let Ok(answer) = flight.wait_for(Option::is_some).await
                        && let Some(answer) = &*answer
                    {
                        return copy(answer);
                    }
                    // The caller pinging went away without an answer: take a turn again.
                }
                Turn::Ping(to_waiters) => {
                    let mut flight = Flight {
                        probe: self,
                        landed: false,
                    };
                    let answer = ping().await;
                    {
                        let mut state = self.lock();
                        state.last = Some((Instant::now(), copy(&answer)));
                        state.flight = None;
                    }
                    flight.landed = true;
                    let _ = to_waiters.send(Some(copy(&answer)));
                    return answer;
                }
            }
        }
    }

    fn turn(&self) -> Turn {
        let mut state = self.lock();
        if let Some((at, answer)) = &state.last
            && at.elapsed() < self.fresh
        {
            return Turn::Answered(copy(answer));
        }
        if let Some(flight) = &state.flight {
            return Turn::Wait(flight.clone());
        }
        let (to_waiters, flight) = watch::channel(None);
        state.flight = Some(flight);
        Turn::Ping(to_waiters)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; and its state is whole after any step.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The ping out: should its caller go away before it lands, the next caller pings.
struct Flight<'a> {
    probe: &'a Probe,
    landed: bool,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        if !self.landed {
            self.probe.lock().flight = None;
        }
    }
}

fn copy(answer: &Answer) -> Answer {
    answer.as_ref().map(|&()| ()).map_err(StoreError::shared)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    async fn ask(probe: &Probe, pings: &AtomicUsize, fails: bool) -> Answer {
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

    /// The caller pinging goes away (its request cancelled) while others wait for its answer:
    /// one of them pings instead, and every one is answered. The clock is paused: a sleep ends
    /// only once every other task waits, so the waiters are queued behind the stuck ping
    /// before it is cancelled, however slow the machine.
    #[tokio::test(start_paused = true)]
    async fn waiters_outlive_a_pinger_that_goes_away() {
        let probe = Arc::new(Probe::new(Duration::from_secs(3600)));
        let pings = Arc::new(AtomicUsize::new(0));
        let (started, mut pinging) = tokio::sync::mpsc::channel(1);
        let stuck = {
            let (probe, pings) = (probe.clone(), pings.clone());
            tokio::spawn(async move {
                probe
                    .ask(async || {
                        pings.fetch_add(1, Ordering::SeqCst);
                        let _ = started.send(()).await;
                        std::future::pending::<Answer>().await
                    })
                    .await
            })
        };
        pinging.recv().await.unwrap();
        let waiters: Vec<_> = (0..20)
            .map(|_| {
                let (probe, pings) = (probe.clone(), pings.clone());
                tokio::spawn(async move { ask(&probe, &pings, false).await })
            })
            .collect();
        // They queue behind the stuck ping (this sleep ends once they all wait), then it is
        // cancelled.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(pings.load(Ordering::SeqCst), 1, "the waiters did not ping");
        stuck.abort();
        for waiter in waiters {
            assert!(waiter.await.unwrap().is_ok());
        }
        assert_eq!(pings.load(Ordering::SeqCst), 2);
    }
}
