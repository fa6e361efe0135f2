//! Keeping a replica's cache current: a subscriber on the store's event channel, a full reload
//! of every live entry after each (re)connection (so nothing published while disconnected is
//! missed: subscribe first, then reload) and every [`RESYNC_EVERY`], reconnection with backoff.
//! Each ping answered, message received or reload done confirms the cache for
//! [`super::STALE_AFTER`]. Once a day it also writes the configured roles and users to the
//! store's registry again, so a long-running replica keeps them known.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::{CHANNEL, Entry, NAMESPACE, RESYNC_EVERY, Shared, index::Index};
use crate::store::{Received, StoreError};

/// Quiet time on the subscription before it is pinged, unless
/// [`super::Revocations::set_keepalive`] says otherwise.
pub const KEEPALIVE: Duration = Duration::from_secs(1);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Time between two writes of the registry of configured roles and users.
const REGISTER_EVERY: Duration = Duration::from_secs(24 * 3600);

/// Reloads every live entry from the store into the cache, dropping what expired.
pub(super) async fn resync(shared: &Shared) -> Result<(), StoreError> {
    let values = shared.store.entries(NAMESPACE).await?;
    let entries: Vec<Entry> = values
        .iter()
        .filter_map(|v| match serde_json::from_slice(v) {
            Ok(e) => Some(e),
            Err(e) => {
                tracing::warn!(error = %e, "unreadable revocation entry skipped");
                None
            }
        })
        .collect();
    let now = shared.clock.now().unix_timestamp();
    shared.index.rcu(|old| {
        let mut index = Index::clone(old);
        index.prune(now);
        for e in &entries {
            index.apply(e);
        }
        index
    });
    shared.health.confirmed();
    Ok(())
}

/// The subscriber: runs until the [`Shared`] state is dropped.
pub(super) async fn run(weak: Weak<Shared>) {
    let mut backoff = FIRST_BACKOFF;
    let mut first = true;
    loop {
        let Some(shared) = weak.upgrade() else {
            return;
        };
        if !std::mem::take(&mut first) {
            shared.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        match shared.store.subscribe(CHANNEL).await {
            Ok(Some(mut subscription)) => match resync(&shared).await {
                Ok(()) => {
                    backoff = FIRST_BACKOFF;
                    drop(shared);
                    if listen(&weak, &mut subscription).await.is_none() {
                        return;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "revocation resync failed"),
            },
            // A store without events: nothing to listen to.
            Ok(None) => return,
            Err(e) => tracing::warn!(error = %e, "revocation subscription failed"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Applies messages until the subscription fails (`Some`) or the state is dropped (`None`).
async fn listen(weak: &Weak<Shared>, subscription: &mut crate::store::Subscription) -> Option<()> {
    let mut last_resync = Instant::now();
    let mut last_register = Instant::now();
    loop {
        let keepalive = {
            let shared = weak.upgrade()?;
            Duration::from_millis(shared.keepalive_ms.load(Ordering::Relaxed))
        };
        let received = subscription.next_or_ping(keepalive).await;
        let shared: Arc<Shared> = weak.upgrade()?;
        match received {
            Ok(Received::Message(bytes)) => match serde_json::from_slice::<Entry>(&bytes) {
                Ok(entry) => {
                    shared.index.rcu(|old| {
                        let mut index = Index::clone(old);
                        index.apply(&entry);
                        index
                    });
                    shared.health.confirmed();
                }
                Err(e) => tracing::warn!(error = %e, "unreadable revocation event skipped"),
            },
            Ok(Received::Alive) => {
                shared.keepalives.fetch_add(1, Ordering::Relaxed);
                shared.health.confirmed();
            }
            Err(e) => {
                tracing::warn!(error = %e, "revocation subscription lost; reconnecting");
                return Some(());
            }
        }
        if last_resync.elapsed() >= RESYNC_EVERY {
            if let Err(e) = resync(&shared).await {
                tracing::warn!(error = %e, "revocation resync failed; reconnecting");
                return Some(());
            }
            last_resync = Instant::now();
        }
        if last_register.elapsed() >= REGISTER_EVERY {
            if let Err(e) = super::register(&shared, None).await {
                tracing::warn!(error = %e, "principal registry not refreshed");
            }
            last_register = Instant::now();
        }
    }
}
