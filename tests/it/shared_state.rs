//! What replicas share through the store, against a real Redis: the revocation subscription
//! stays up (no reconnection loop), wrong MFA codes are counted atomically across replicas, and
//! a session record changed in Redis is refused.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sts::error::ProvideErrorMetadata as _;
use sts_broker::clock::SystemClock;
use sts_broker::iam::Iam;
use sts_broker::revocation::Revocations;
use sts_broker::store::Store;
use sts_broker::totp::{Seed, code_at};

use crate::harness::broker::{
    ALICE_KEY_ID, ALICE_MFA_SEED, ALICE_MFA_SERIAL, ALICE_SECRET, TestBroker, standard_config,
};
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;

/// A replica on `store_url` writing its audit log to `audit.log` in its folder.
async fn audited_replica(idp: &TestIdp, store_url: &str) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let toml =
        standard_config(dir.path(), idp, store_url, 0) + "\n[audit]\noutput = \"audit.log\"\n";
    TestBroker::from_toml(dir, &toml).await
}

/// The audit lines of `broker` for `action`.
async fn audit_lines(broker: &TestBroker, action: &str) -> Vec<serde_json::Value> {
    broker.state.audit.flush().await;
    let text = std::fs::read_to_string(broker.dir.path().join("audit.log")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["action"] == action)
        .collect()
}

#[tokio::test]
async fn concurrent_wrong_mfa_codes_on_two_replicas_get_five_guesses_in_all() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let a = audited_replica(&idp, &redis.url()).await;
    let b = audited_replica(&idp, &redis.url()).await;
    let seed = Seed::from_base32(ALICE_MFA_SEED).unwrap();
    let now = time::OffsetDateTime::now_utc();
    // A code no step near now accepts, however long the test takes to send it.
    let near: Vec<String> = (-4..=4)
        .map(|k| code_at(&seed, now + time::Duration::seconds(30 * k)))
        .collect();
    let wrong = (0..1_000_000u32)
        .map(|n| format!("{n:06}"))
        .find(|c| !near.contains(c))
        .unwrap();

    let attempts = (0..20).map(|i| {
        let sts = if i % 2 == 0 { &a } else { &b }.sts_as(ALICE_KEY_ID, ALICE_SECRET, None);
        let wrong = wrong.clone();
        tokio::spawn(async move {
            sts.get_session_token()
                .serial_number(ALICE_MFA_SERIAL)
                .token_code(wrong)
                .send()
                .await
                .map_err(|e| e.into_service_error().code().map(str::to_owned))
        })
    });
    for attempt in futures_util::future::join_all(attempts.collect::<Vec<_>>()).await {
        assert_eq!(
            attempt.unwrap().unwrap_err().as_deref(),
            Some("AccessDenied")
        );
    }

    let mut lines = audit_lines(&a, "sts:GetSessionToken").await;
    lines.extend(audit_lines(&b, "sts:GetSessionToken").await);
    assert_eq!(lines.len(), 20);
    let locked = lines
        .iter()
        .filter(|l| l["reason"] == "mfaDeviceLocked")
        .count();
    assert_eq!(
        20 - locked,
        5,
        "exactly five codes were evaluated, the others answered as locked: {lines:?}"
    );
    assert_eq!(
        redis
            .get("sts-broker:failures:mfa:arn:aws:iam::111122223333:mfa/alice")
            .await
            .as_deref(),
        Some("5")
    );
    // The device stays locked for the right code too, on either replica.
    let right = code_at(&seed, time::OffsetDateTime::now_utc());
    let refused = b
        .sts_as(ALICE_KEY_ID, ALICE_SECRET, None)
        .get_session_token()
        .serial_number(ALICE_MFA_SERIAL)
        .token_code(right)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(refused.code(), Some("AccessDenied"));
}

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
