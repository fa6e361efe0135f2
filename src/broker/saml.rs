//! Verifying a SAML response without stalling the runtime: on tokio's blocking pool, at most one
//! verification per slot.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::SamlProvider;
use crate::saml::{self, SamlError, VerifiedAssertion};

/// Seconds a client is asked to wait when every verification slot is busy.
pub const BUSY_RETRY_AFTER_SECONDS: u32 = 1;

/// How many SAML verifications may run at once: one per core by default. A verification holds
/// its slot until its blocking task ends, even when the request that started it has already
/// timed out or gone away, so hostile responses cannot pile up CPU work behind the runtime's
/// back; a request finding every slot taken is answered `ServiceUnavailable` at once.
#[derive(Debug, Clone)]
pub struct VerifySlots(Arc<Semaphore>);

impl VerifySlots {
    /// `n` slots (at least one).
    pub fn new(n: usize) -> VerifySlots {
        VerifySlots(Arc::new(Semaphore::new(n.max(1))))
    }

    /// A slot if one is free now; `None` when all are taken.
    pub fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.0).try_acquire_owned().ok()
    }

    /// Slots free now.
    pub fn available(&self) -> usize {
        self.0.available_permits()
    }
}

impl Default for VerifySlots {
    /// One slot per core the process may use.
    fn default() -> VerifySlots {
        VerifySlots::new(std::thread::available_parallelism().map_or(1, usize::from))
    }
}

/// Why verification gave no assertion.
#[derive(Debug)]
pub enum Verify {
    /// Every verification slot is taken.
    Busy,
    Refused(SamlError),
    /// The blocking task panicked or was cancelled.
    Aborted(tokio::task::JoinError),
}

/// Decodes and verifies the response on tokio's blocking pool: parsing, canonicalization and
/// xmlsec's signature checks are CPU work in C libraries that must not stall the runtime's
/// workers, whatever a hostile response costs within its bounds; at most as many at once as
/// `slots` allows.
pub async fn verify_off_runtime(
    slots: &VerifySlots,
    provider: &SamlProvider,
    assertion: &str,
    now: time::OffsetDateTime,
) -> Result<VerifiedAssertion, Verify> {
    let metadata = provider.metadata.clone();
    let audience = provider.audience.clone();
    let recipient = provider.recipient.clone();
    let leeway_seconds = i64::try_from(provider.leeway.as_secs()).unwrap_or(0);
    let allow_sha1 = provider.allow_sha1;
    let assertion = assertion.to_owned();
    let slot = slots.try_take().ok_or(Verify::Busy)?;
    let task = tokio::task::spawn_blocking(move || {
        // Held until the work is done, whether or not anyone still waits for it.
        let _slot = slot;
        saml::verify(
            &assertion,
            &saml::Trust {
                metadata: &metadata,
                audience: &audience,
                recipient: &recipient,
                leeway_seconds,
                allow_sha1,
            },
            now,
        )
    });
    match task.await {
        Ok(Ok(verified)) => Ok(verified),
        Ok(Err(e)) => Err(Verify::Refused(e)),
        Err(e) => Err(Verify::Aborted(e)),
    }
}
