//! What replicas share through the store, against a real Redis: the revocation subscription
//! stays up (no reconnection loop), wrong MFA codes are counted atomically across replicas, and
//! a session record changed in Redis is refused.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sts::error::ProvideErrorMetadata as _;
use sts_broker::clock::SystemClock;
use sts_broker::revocation::{Principals, Revocations};
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
    let revocations = Revocations::new(store, Arc::new(SystemClock), Principals::default());
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

/// Sets the raw value of `key`, keeping its TTL.
async fn overwrite(redis: &RedisServer, key: &str, value: &[u8]) {
    let client = ::redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    ::redis::cmd("SET")
        .arg(key)
        .arg(value)
        .arg("KEEPTTL")
        .query_async::<()>(&mut c)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_session_record_changed_in_redis_is_refused() {
    use crate::revocation::{exchange, probe, token};

    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let broker = audited_replica(&idp, &redis.url()).await;
    let creds = exchange(
        &broker,
        &token(&idp, "repo:octo-org/app:ref:refs/heads/main", None),
    )
    .await
    .unwrap();
    let key = format!("sts-broker:session:{}", creds.0);
    let original = redis.get(&key).await.unwrap();
    assert!(original.starts_with("sr1:"), "{original:.40}");

    // Another role, an MFA claim, a field added later, the record without its tag: each
    // written by someone holding Redis but not the broker's keys.
    let json_start = original.match_indices(':').nth(2).unwrap().0 + 1;
    let json = &original[json_start..];
    let forged = [
        original.replace("role/ci/deploy", "role/prod-deploy"),
        original.replacen(":{\"", ":{\"mfa_authenticated_at\":1800000000,\"", 1),
        original.replacen(":{\"", ":{\"issued_token_iat\":1,\"", 1),
        json.to_owned(),
    ];
    for (i, value) in forged.iter().enumerate() {
        assert_ne!(value, &original, "forgery {i} changes the record");
        overwrite(&redis, &key, value.as_bytes()).await;
        assert_eq!(
            probe(&broker, &creds).await.unwrap_err(),
            ("InvalidClientTokenId".to_owned(), 403),
            "forgery {i}"
        );
    }
    assert_eq!(broker.state.store.refused_records(), 4);
    let refused = audit_lines(&broker, "sts:GetCallerIdentity").await;
    assert_eq!(refused.len(), 4);
    assert!(
        refused
            .iter()
            .all(|l| l["reason"] == "sessionRecordNotAuthentic" && l["decision"] == "Deny"),
        "{refused:?}"
    );

    // The record as the broker wrote it works again: the refusals were the changes.
    overwrite(&redis, &key, original.as_bytes()).await;
    probe(&broker, &creds).await.unwrap();
}

/// The Redis user of `docker/redis/users.acl` (the compose example's) is enough for everything
/// the broker does, and can do nothing else.
#[tokio::test]
async fn the_compose_redis_acl_user_is_enough_and_no_more() {
    use crate::revocation::{exchange, probe, token};

    let acl = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/redis/users.acl");
    let redis =
        RedisServer::start_with_acl(&acl, "sts-broker", "demo-redis-password-change-me").await;
    let idp = TestIdp::start().await;
    let broker = audited_replica(&idp, &redis.url()).await;
    let creds = exchange(
        &broker,
        &token(&idp, "repo:octo-org/app:ref:refs/heads/main", None),
    )
    .await
    .unwrap();
    probe(&broker, &creds).await.unwrap();
    // The MFA attempt script, the replay guard, revocation (entry, publish, subscription).
    let wrong = broker
        .sts_as(ALICE_KEY_ID, ALICE_SECRET, None)
        .get_session_token()
        .serial_number(ALICE_MFA_SERIAL)
        .token_code("000000")
        .send()
        .await;
    assert!(wrong.is_err());
    crate::revocation::revoke_session(&broker, &creds).await;
    assert_eq!(
        probe(&broker, &creds).await.unwrap_err(),
        ("InvalidClientTokenId".to_owned(), 403)
    );
    assert!(broker.state.revocations.subscription_stats().reconnects == 0);
    let ready = reqwest::get(format!("{}/readyz", broker.endpoint))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    // Nothing outside the broker's keys and commands; the default user is off.
    let client = ::redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    for cmd in [
        ::redis::cmd("SET").arg("other:key").arg("x").clone(),
        ::redis::cmd("FLUSHALL").clone(),
        ::redis::cmd("KEYS").arg("*").clone(),
        ::redis::cmd("CONFIG").arg("GET").arg("*").clone(),
    ] {
        let refused = cmd.query_async::<::redis::Value>(&mut c).await.unwrap_err();
        assert!(
            refused.to_string().to_lowercase().contains("noperm"),
            "{refused}"
        );
    }
    let anonymous = format!("redis://127.0.0.1:{}/0", redis.port);
    let client = ::redis::Client::open(anonymous).unwrap();
    let refused = match client.get_multiplexed_async_connection().await {
        Err(e) => e,
        Ok(mut c) => ::redis::cmd("GET")
            .arg("sts-broker:x")
            .query_async::<::redis::Value>(&mut c)
            .await
            .unwrap_err(),
    };
    assert!(
        refused.to_string().to_lowercase().contains("auth"),
        "{refused}"
    );
}

/// A replayed code counts as a failed attempt: the first use gives its attempt back, each
/// replay keeps one, so replaying a seen code is no free probe of the lockout.
#[tokio::test]
async fn a_replayed_mfa_code_counts_as_a_failed_attempt() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let a = audited_replica(&idp, &redis.url()).await;
    let seed = Seed::from_base32(ALICE_MFA_SEED).unwrap();
    let code = code_at(&seed, time::OffsetDateTime::now_utc());
    let send = |code: String| {
        let sts = a.sts_as(ALICE_KEY_ID, ALICE_SECRET, None);
        async move {
            sts.get_session_token()
                .serial_number(ALICE_MFA_SERIAL)
                .token_code(code)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| e.into_service_error().code().map(str::to_owned))
        }
    };
    send(code.clone()).await.unwrap();
    let failures = "sts-broker:failures:mfa:arn:aws:iam::111122223333:mfa/alice";
    assert_eq!(redis.get(failures).await.as_deref(), Some("0"));
    for replays in 1..=2 {
        assert_eq!(
            send(code.clone()).await.unwrap_err().as_deref(),
            Some("AccessDenied")
        );
        assert_eq!(
            redis.get(failures).await.as_deref(),
            Some(replays.to_string().as_str())
        );
    }
}
