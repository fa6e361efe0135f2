//! Verifying a SAML response without stalling the runtime: on tokio's blocking pool, at most one
//! verification per slot ([`super::slots`]).

use super::slots::{Slot, Slots};
use crate::config::SamlProvider;
use crate::saml::{self, SamlError, VerifiedAssertion};

/// Seconds a client is asked to wait when every verification slot is busy.
pub const BUSY_RETRY_AFTER_SECONDS: u32 = 1;

/// How many SAML verifications may run at once: one per core the process may use. A request
/// finding every slot taken is answered `ServiceUnavailable` at once.
pub fn slots() -> Slots {
    Slots::per_core(usize::MAX)
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
    slots: &Slots,
    provider: &SamlProvider,
    assertion: &str,
    now: time::OffsetDateTime,
) -> Result<VerifiedAssertion, Verify> {
    let trust = OwnedTrust::of(provider);
    let assertion = assertion.to_owned();
    let slot = slots.try_take().ok_or(Verify::Busy)?;
    joined(slot.run(move || saml::verify(&assertion, &trust.trust(), now))).await
}

/// A response decoded on the blocking pool, with the NameID it *claims* (nothing verified
/// yet: a key to look at the subject's rate limit, never an identity). It holds its
/// verification slot until [`verify_claimed`] is done with it, or it is dropped.
pub struct Claimed {
    slot: Slot,
    xml: String,
    pub name_id: Option<String>,
}

impl std::fmt::Debug for Claimed {
    // The response itself is not for logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimed")
            .field("xml_bytes", &self.xml.len())
            .finish_non_exhaustive()
    }
}

/// The first half of [`verify_off_runtime`], for a caller that looks at the subject's rate
/// limit before paying for signatures: decodes the response and reads the NameID it claims,
/// on the blocking pool, in a slot that stays taken for [`verify_claimed`].
pub async fn claim_off_runtime(slots: &Slots, assertion: &str) -> Result<Claimed, Verify> {
    let assertion = assertion.to_owned();
    let slot = slots.try_take().ok_or(Verify::Busy)?;
    match slot
        .run_keeping(move || {
            let xml = saml::decode(&assertion)?;
            let name_id = saml::claimed_name_id(&xml);
            Ok((xml, name_id))
        })
        .await
    {
        Ok((Ok((xml, name_id)), slot)) => Ok(Claimed { slot, xml, name_id }),
        Ok((Err(e), _)) => Err(Verify::Refused(e)),
        Err(e) => Err(Verify::Aborted(e)),
    }
}

/// The second half: verifies a response [`claim_off_runtime`] read, in the slot it holds.
pub async fn verify_claimed(
    claimed: Claimed,
    provider: &SamlProvider,
    now: time::OffsetDateTime,
) -> Result<VerifiedAssertion, Verify> {
    let trust = OwnedTrust::of(provider);
    let Claimed { slot, xml, .. } = claimed;
    joined(slot.run(move || saml::verify_decoded(&xml, &trust.trust(), now))).await
}

/// What verification needs of a provider, owned to move onto the blocking pool.
struct OwnedTrust {
    metadata: saml::IdpMetadata,
    audience: String,
    recipient: String,
    leeway_seconds: i64,
    allow_sha1: bool,
}

impl OwnedTrust {
    fn of(provider: &SamlProvider) -> OwnedTrust {
        OwnedTrust {
            metadata: provider.metadata.clone(),
            audience: provider.audience.clone(),
            recipient: provider.recipient.clone(),
            leeway_seconds: i64::try_from(provider.leeway.as_secs()).unwrap_or(0),
            allow_sha1: provider.allow_sha1,
        }
    }

    fn trust(&self) -> saml::Trust<'_> {
        saml::Trust {
            metadata: &self.metadata,
            audience: &self.audience,
            recipient: &self.recipient,
            leeway_seconds: self.leeway_seconds,
            allow_sha1: self.allow_sha1,
        }
    }
}

async fn joined<T>(
    task: impl Future<Output = Result<Result<T, SamlError>, tokio::task::JoinError>>,
) -> Result<T, Verify> {
    match task.await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(e)) => Err(Verify::Refused(e)),
        Err(e) => Err(Verify::Aborted(e)),
    }
}
