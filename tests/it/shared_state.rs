//! What replicas share through the store, against a real Redis: the revocation subscription
//! stays up (no reconnection loop), wrong MFA codes are counted atomically across replicas, and
//! a session record changed in Redis is refused.

use std::sync::Arc;
use std::time::Duration;

use sts_broker::clock::SystemClock;
use sts_broker::iam::Iam;
use sts_broker::revocation::Revocations;
use sts_broker::store::Store;

use crate::harness::redis::RedisServer;

/// Keep-alive interval of the subscription test: short, so many pings happen quickly.
const KEEPALIVE: Duration = Duration::from_millis(20);
/// Pings the subscription must answer without one reconnection: at the default one-second
/// keep-alive, over a minute of quiet.
const PINGS: u64 = 60;

#[tokio::test]
async fn the_revocation_subscription_stays_up_through_many_keepalives() {
    let redis = RedisServer::start().await;
    let store = Store::open(&redis.url()).await.unwrap();
    let revocations = Revocations::new(store, Arc::new(SystemClock), &Iam::default());
    revocations.set_keepalive(KEEPALIVE);
    revocations.start().await.unwrap();
    // Waits for the pings themselves, not for a duration: however slow the machine, the
    // assertion is about how many reconnections happened while PINGS pings were answered.
    let waited = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let stats = revocations.subscription_stats();
            if stats.keepalives >= PINGS || stats.reconnects > 0 {
                return stats;
            }
            tokio::time::sleep(KEEPALIVE).await;
        }
    })
    .await
    .expect("the subscription neither answered pings nor reconnected");
    assert_eq!(
        waited.reconnects, 0,
        "the subscription reconnected after {} keep-alives",
        waited.keepalives
    );
    assert!(waited.keepalives >= PINGS);
}
