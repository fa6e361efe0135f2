//! Broker key rotation across replicas sharing a keys folder and a Redis: `keys rotate` (the
//! real binary) adds a key both replicas load and verify at once; it signs only after the grace
//! period (moved with a `ManualClock`); `keys retire` ends exactly the sessions the retired key
//! signed, on both replicas.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sts_broker::clock::{Clock, ManualClock};
use sts_broker::session::credentials;

use crate::harness::broker::TestBroker;
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;
use crate::revocation::{Creds, exchange, probe, token};

const SUB: &str = "repo:octo-org/app:ref:refs/heads/main";

fn keys_command(args: &[&str], dir: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sts-broker"))
        .arg("keys")
        .args(args)
        .args(["--dir", dir.to_str().unwrap()])
        .output()
        .unwrap()
}

/// The broker key that signed these credentials.
fn signer(broker: &TestBroker, creds: &Creds) -> String {
    credentials::verify_token(&broker.state.keys.snapshot(), &creds.2)
        .unwrap()
        .key_id
}

/// Waits (polling) until `broker` has loaded exactly `has` / dropped `lacks`. The watcher polls
/// every second; the 60 s bound only stops a hang on a loaded machine, it measures nothing.
async fn wait_for_keys(broker: &TestBroker, has: Option<&str>, lacks: Option<&str>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ids: Vec<String> = broker.state.keys.ids().collect();
        let ok = has.is_none_or(|k| ids.iter().any(|i| i == k))
            && lacks.is_none_or(|k| ids.iter().all(|i| i != k));
        if ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "keys folder not reloaded: {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_rotated_key_is_honoured_by_both_replicas_and_retiring_the_old_one_ends_its_sessions() {
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let keys = tempfile::tempdir().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let clock = Arc::new(ManualClock::new(now.replace_nanosecond(0).unwrap()));
    let a = TestBroker::replica(&idp, &redis.url(), keys.path(), clock.clone()).await;
    let b = TestBroker::replica(&idp, &redis.url(), keys.path(), clock.clone()).await;
    let old_key: Vec<String> = a.state.keys.ids().collect();
    assert_eq!(
        old_key.len(),
        1,
        "the first replica generated one key, the second loaded it"
    );
    let old_key = old_key[0].clone();

    let before = exchange(&a, &token(&idp, SUB, None)).await.unwrap();
    assert_eq!(signer(&a, &before), old_key);
    probe(&b, &before).await.unwrap();

    // Rotate with a five-minute grace: both replicas load the key within about a second.
    let out = keys_command(&["rotate", "--grace-seconds", "300"], keys.path());
    assert!(out.status.success(), "{out:?}");
    let new_key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(String::from_utf8_lossy(&out.stderr).contains("signs from"));
    wait_for_keys(&a, Some(&new_key), None).await;
    wait_for_keys(&b, Some(&new_key), None).await;
    let listed = keys_command(&["list"], keys.path());
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(listed.contains(&format!("{old_key}\t")) && listed.contains("\tsigning"));
    assert!(listed.contains(&format!("{new_key}\t")) && listed.contains("\tpending"));

    // During the grace period the old key still signs.
    let during = exchange(&b, &token(&idp, SUB, None)).await.unwrap();
    assert_eq!(signer(&b, &during), old_key);

    // After it, the new key signs on both replicas, and each verifies the other's sessions.
    clock.set(clock.now() + time::Duration::seconds(301));
    let after_a = exchange(&a, &token(&idp, SUB, None)).await.unwrap();
    let after_b = exchange(&b, &token(&idp, SUB, None)).await.unwrap();
    assert_eq!(signer(&a, &after_a), new_key);
    assert_eq!(signer(&b, &after_b), new_key);
    probe(&b, &after_a).await.unwrap();
    probe(&a, &after_b).await.unwrap();
    probe(&b, &before).await.unwrap();

    // Retiring: the command's clock is real time, where the old key still signs, so it wants
    // --force; the only key can never go.
    let out = keys_command(&["retire", "--id", &old_key], keys.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    let out = keys_command(&["retire", "--id", "nope"], keys.path());
    assert_eq!(out.status.code(), Some(1));
    let out = keys_command(&["retire", "--id", &old_key, "--force"], keys.path());
    assert!(out.status.success(), "{out:?}");
    let out = keys_command(&["retire", "--id", &new_key, "--force"], keys.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only session key"));
    wait_for_keys(&a, None, Some(&old_key)).await;
    wait_for_keys(&b, None, Some(&old_key)).await;

    // Sessions the retired key signed are refused on both replicas; the others work.
    for broker in [&a, &b] {
        for creds in [&before, &during] {
            assert_eq!(
                probe(broker, creds).await,
                Err(("InvalidClientTokenId".to_owned(), 403))
            );
        }
        probe(broker, &after_a).await.unwrap();
        probe(broker, &after_b).await.unwrap();
    }
}

/// The first key of an empty folder signs from the start of time: a broker whose clock is
/// behind the moment the key file was written still mints.
#[tokio::test]
async fn a_clock_behind_the_first_key_still_mints() {
    let idp = TestIdp::start().await;
    let keys = tempfile::tempdir().unwrap();
    let behind = time::OffsetDateTime::now_utc() - time::Duration::minutes(10);
    let clock = Arc::new(ManualClock::new(behind.replace_nanosecond(0).unwrap()));
    let broker = TestBroker::replica(&idp, "memory://", keys.path(), clock.clone()).await;
    let minted = exchange(
        &broker,
        &token(&idp, SUB, Some(clock.now().unix_timestamp())),
    )
    .await
    .unwrap();
    assert_eq!(
        broker.state.keys.ids().collect::<Vec<_>>(),
        vec![signer(&broker, &minted)]
    );
}

/// With no key signing yet (the only one activates later), minting is `ServiceUnavailable`
/// (503), as `/readyz` says, never `InternalFailure`.
#[tokio::test]
async fn no_signing_key_is_service_unavailable() {
    let idp = TestIdp::start().await;
    let keys = tempfile::tempdir().unwrap();
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let later = now.unix_timestamp() + 3600;
    let later_key = keys.path().join("session-later.key");
    std::fs::write(
        &later_key,
        format!("{}\nactivates_at={later}\n", "ab".repeat(32)),
    )
    .unwrap();
    // Key files are owner-only, as `keys rotate` writes them.
    std::fs::set_permissions(
        &later_key,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
    )
    .unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let broker = TestBroker::replica(&idp, "memory://", keys.path(), clock.clone()).await;
    let refused = exchange(&broker, &token(&idp, SUB, Some(now.unix_timestamp()))).await;
    assert_eq!(refused.unwrap_err(), ("ServiceUnavailable".to_owned(), 503));
    let ready = reqwest::get(format!("{}/readyz", broker.endpoint))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
}

/// The stored document of account 111122223333, as Redis holds it.
async fn stored_document(redis: &RedisServer) -> String {
    let client = ::redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    ::redis::cmd("HGET")
        .arg("sts-broker:{iam}:account:111122223333")
        .arg("doc")
        .query_async::<Option<String>>(&mut c)
        .await
        .unwrap()
        .unwrap_or_default()
}

#[tokio::test]
async fn secrets_stored_through_iam_move_to_the_new_key_and_outlive_the_old_one() {
    use crate::iam_roles::{ADMIN_KEY_ID, ADMIN_SECRET, broker};
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let keys = tempfile::tempdir().unwrap();
    let a = broker(&idp, &redis.url(), Some(keys.path())).await;
    let b = broker(&idp, &redis.url(), Some(keys.path())).await;
    let old_key: Vec<String> = a.state.keys.ids().collect();
    let old_key = old_key[0].clone();
    let iam = a.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    iam.create_user()
        .user_name("rotating")
        .send()
        .await
        .unwrap();
    let created = iam
        .create_access_key()
        .user_name("rotating")
        .send()
        .await
        .unwrap();
    let key = created.access_key().unwrap();
    let (id, secret) = (key.access_key_id(), key.secret_access_key());
    assert!(
        stored_document(&redis)
            .await
            .contains(&format!("sb1:{old_key}:"))
    );
    let whoami = |broker: &TestBroker| {
        let sts = broker.sts_as(id, secret, None);
        async move {
            sts.get_caller_identity()
                .send()
                .await
                .map(|o| o.arn().unwrap().to_owned())
        }
    };
    crate::iam_roles::within(Duration::from_secs(5), || async {
        whoami(&b).await.is_ok()
    })
    .await;

    // A new key signing at once: within a few seconds a replica seals the secret again under
    // it (one write, whichever replica wins), and nothing is left under the old one.
    let out = keys_command(&["rotate", "--grace-seconds", "0"], keys.path());
    assert!(out.status.success(), "{out:?}");
    let new_key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    wait_for_keys(&a, Some(&new_key), None).await;
    wait_for_keys(&b, Some(&new_key), None).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let doc = stored_document(&redis).await;
        if doc.contains(&format!("sb1:{new_key}:")) {
            assert!(!doc.contains(&format!("sb1:{old_key}:")), "{doc}");
            assert!(!doc.contains(secret));
            break;
        }
        assert!(Instant::now() < deadline, "not sealed again: {doc}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The old key retired: the access key still signs, on both replicas.
    let out = keys_command(&["retire", "--id", &old_key, "--force"], keys.path());
    assert!(out.status.success(), "{out:?}");
    wait_for_keys(&a, None, Some(&old_key)).await;
    wait_for_keys(&b, None, Some(&old_key)).await;
    for broker in [&a, &b] {
        crate::iam_roles::within(Duration::from_secs(5), || async {
            whoami(broker).await.is_ok()
        })
        .await;
        assert_eq!(
            whoami(broker).await.unwrap(),
            "arn:aws:iam::111122223333:user/rotating"
        );
    }
}
