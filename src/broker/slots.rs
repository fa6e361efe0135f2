//! Work too heavy for a serving thread (xmlsec's SAML checks, Argon2id, IAM policy simulations)
//! runs on tokio's blocking pool, at most as many at once as its [`Slots`] allow. A slot is
//! held until its work ends, even when the request that started it has timed out or gone
//! away, so callers cannot pile up CPU work behind the runtime's back nor exhaust the blocking
//! pool; a request finding every slot taken is answered `ServiceUnavailable`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinError;

use super::ApiError;

/// How long [`Slots::run_within_wait`] waits for a free slot before it answers 503.
pub const SLOT_WAIT: Duration = Duration::from_secs(2);
/// Seconds a client is asked to wait when every slot stays taken.
const BUSY_RETRY_AFTER_SECONDS: u32 = 1;

/// A bounded number of places for one kind of heavy work.
#[derive(Debug, Clone)]
pub struct Slots(Arc<Semaphore>);

/// One taken place, given back when dropped.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Slots {
    /// `n` slots (at least one).
    pub fn new(n: usize) -> Slots {
        Slots(Arc::new(Semaphore::new(n.max(1))))
    }

    /// One slot per core the process may use, at most `most`.
    pub fn per_core(most: usize) -> Slots {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Slots::new(cores.min(most))
    }

    /// A slot if one is free now.
    pub fn try_take(&self) -> Option<Slot> {
        let permit = Arc::clone(&self.0).try_acquire_owned().ok()?;
        Some(Slot { _permit: permit })
    }

    /// A slot once one is free, if that is within `wait`.
    pub async fn take_within(&self, wait: Duration) -> Option<Slot> {
        match tokio::time::timeout(wait, Arc::clone(&self.0).acquire_owned()).await {
            Ok(Ok(permit)) => Some(Slot { _permit: permit }),
            Ok(Err(_)) | Err(_) => None,
        }
    }

    /// Slots free now.
    pub fn available(&self) -> usize {
        self.0.available_permits()
    }

    /// Runs `work` in a slot, waiting at most [`SLOT_WAIT`] for one: `ServiceUnavailable` with
    /// `Retry-After` when every slot stays taken, `InternalFailure` (logged, naming `what`)
    /// when the work did not finish.
    pub async fn run_within_wait<T: Send + 'static>(
        &self,
        what: &'static str,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let slot = self
            .take_within(SLOT_WAIT)
            .await
            .ok_or_else(|| ApiError::busy(BUSY_RETRY_AFTER_SECONDS))?;
        slot.run(work).await.map_err(|e| {
            tracing::error!(error = %e, "{what} did not finish");
            ApiError::internal()
        })
    }
}

impl Slot {
    /// Runs `work` on the blocking pool, holding this slot until it ends, whether or not
    /// anyone still waits for it. The work starts now, not when the answer is first awaited.
    pub fn run<T: Send + 'static>(
        self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = Result<T, JoinError>> {
        let running = self.run_keeping(work);
        async move { Ok(running.await?.0) }
    }

    /// [`Slot::run`], the slot handed back with the outcome, for more work in it later.
    pub fn run_keeping<T: Send + 'static>(
        self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = Result<(T, Slot), JoinError>> {
        tokio::task::spawn_blocking(move || (work(), self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slot_is_held_until_its_work_ends_even_when_nobody_waits() {
        let slots = Slots::new(1);
        let (release, released) = std::sync::mpsc::channel::<()>();
        let slot = slots.try_take().unwrap();
        let waiting = tokio::spawn(slot.run(move || released.recv().unwrap()));
        // The caller goes away; the work goes on and keeps its slot.
        waiting.abort();
        let _ = waiting.await;
        assert_eq!(slots.available(), 0);
        assert!(slots.try_take().is_none());
        assert!(slots.take_within(Duration::from_millis(20)).await.is_none());
        release.send(()).unwrap();
        let again = slots.take_within(Duration::from_secs(10)).await;
        assert!(again.is_some());
        assert_eq!(slots.available(), 0);
        drop(again);
        assert_eq!(slots.available(), 1);
    }

    #[test]
    fn there_is_always_a_slot() {
        assert_eq!(Slots::new(0).available(), 1);
        assert_eq!(Slots::per_core(0).available(), 1);
        assert!(Slots::per_core(usize::MAX).available() >= 1);
    }
}
