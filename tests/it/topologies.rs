//! Two broker replicas on each real Redis topology the store supports — a TLS server with an
//! ACL user, a 3-master + 3-replica Redis Cluster, a master + replica (with an ACL user for the
//! broker) behind three Sentinels that require a password (`requirepass`, or ACL users) —
//! each scenario one function run on every topology: credentials minted on one replica work on
//! the other (48 minted at once too), a revocation made on one is refused on the other (and loaded by a replica started
//! later), a SAML assertion and an MFA code are used once across replicas, a role stored
//! through IAM's API on one is served by the other, an access key's last use on one is read on
//! the other. Then failovers under
//! a stream of AssumeRoleWithWebIdentity calls: only 200 and 503 `ServiceUnavailable`, and 200
//! again afterwards without a restart. And TLS that does not verify stops the broker, as do
//! Sentinels refusing the broker's credentials.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sts::error::ProvideErrorMetadata as _;
use sts_broker::clock::SystemClock;
use sts_broker::config::Config;
use sts_broker::revocation::RevokeOutcome;
use sts_broker::totp::{Seed, code_at};

use crate::harness::broker::{
    ACCOUNT, ALICE_KEY_ID, ALICE_MFA_SEED, ALICE_MFA_SERIAL, ALICE_SECRET, TestBroker,
    standard_config,
};
use crate::harness::idp::TestIdp;
use crate::harness::redis_topology::{RedisCluster, RedisSentinel, SentinelAuth, TlsRedis};
use crate::harness::saml::TestSamlIdp;
use crate::revocation::{exchange, probe, refused_within_a_second, token};

const SUB: &str = "repo:octo-org/app:ref:refs/heads/main";
const SAML_PROVIDER: &str = "arn:aws:iam::111122223333:saml-provider/corp";
const SAML_ROLE: &str = "arn:aws:iam::111122223333:role/saml-topology";

/// The standard configuration on `store` (the `[store]` lines of a topology) with the session
/// keys in `keys` and a SAML provider and role, in a folder of its own.
fn replica_config(
    dir: &Path,
    idp: &TestIdp,
    saml: &TestSamlIdp,
    store: &str,
    keys: &Path,
) -> String {
    std::fs::write(
        dir.join("saml-trust.json"),
        format!(
            r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
  "Principal": {{"Federated": "{SAML_PROVIDER}"}}, "Action": "sts:AssumeRoleWithSAML"}}]}}"#
        ),
    )
    .unwrap();
    standard_config(dir, idp, store, 0).replace(
        "dir = \"keys\"",
        &format!("dir = {:?}", keys.to_str().unwrap()),
    ) + &format!(
        r#"
[[saml_providers]]
account = "{ACCOUNT}"
name = "corp"
metadata_file = {:?}

[[roles]]
account = "{ACCOUNT}"
name = "saml-topology"
trust_policy_file = "saml-trust.json"
"#,
        saml.metadata_path().display().to_string()
    )
}

/// Brokers sharing one store and one keys folder.
struct Replicas {
    idp: TestIdp,
    saml: TestSamlIdp,
    store: String,
    keys: tempfile::TempDir,
    a: TestBroker,
    b: TestBroker,
}

impl Replicas {
    async fn start(store: String) -> Replicas {
        let idp = TestIdp::start().await;
        let saml = TestSamlIdp::new();
        let keys = tempfile::tempdir().unwrap();
        let a = replica(&idp, &saml, &store, keys.path()).await;
        let b = replica(&idp, &saml, &store, keys.path()).await;
        Replicas {
            idp,
            saml,
            store,
            keys,
            a,
            b,
        }
    }

    async fn another(&self) -> TestBroker {
        replica(&self.idp, &self.saml, &self.store, self.keys.path()).await
    }
}

async fn replica(idp: &TestIdp, saml: &TestSamlIdp, store: &str, keys: &Path) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let toml = replica_config(dir.path(), idp, saml, store, keys);
    TestBroker::from_toml_with_clock(dir, &toml, Arc::new(SystemClock)).await
}

/// Minted on A (AssumeRoleWithWebIdentity), the session works on B (GetCallerIdentity).
async fn minted_on_a_works_on_b(r: &Replicas) {
    let creds = exchange(&r.a, &token(&r.idp, SUB, None)).await.unwrap();
    probe(&r.b, &creds).await.unwrap();
    let back = exchange(&r.b, &token(&r.idp, SUB, None)).await.unwrap();
    probe(&r.a, &back).await.unwrap();
}

/// Revoked on B, a session minted on A is refused on A (by the published event), and a replica
/// started afterwards refuses it from the start (the revocation is listed from the store).
async fn revoked_on_b_is_refused_on_a(r: &Replicas) {
    let creds = exchange(&r.a, &token(&r.idp, SUB, None)).await.unwrap();
    probe(&r.a, &creds).await.unwrap();
    let since = Instant::now();
    let outcome = crate::revocation::revoke_session(&r.b, &creds).await;
    assert!(matches!(outcome, RevokeOutcome::Revoked(_)), "{outcome:?}");
    refused_within_a_second(&r.a, &creds, since).await;
    let later = r.another().await;
    let (code, status) = probe(&later, &creds).await.unwrap_err();
    assert_eq!((code.as_str(), status), ("InvalidClientTokenId", 403));
}

/// A SAML assertion used on A is refused on B.
async fn saml_replay_is_refused_across_replicas(r: &Replicas) {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let encoded = r
        .saml
        .encode(&r.saml.response(now, SAML_ROLE, SAML_PROVIDER));
    let assume = |broker: &TestBroker| {
        broker
            .sts()
            .assume_role_with_saml()
            .role_arn(SAML_ROLE)
            .principal_arn(SAML_PROVIDER)
            .saml_assertion(encoded.clone())
            .send()
    };
    assume(&r.a).await.unwrap();
    let e = assume(&r.b).await.unwrap_err().into_service_error();
    assert_eq!(e.code(), Some("InvalidIdentityToken"));
    assert!(
        e.message()
            .unwrap_or_default()
            .contains("already been used")
    );
}

/// An MFA code accepted on A is refused on B.
async fn mfa_code_is_used_once_across_replicas(r: &Replicas) {
    let seed = Seed::from_base32(ALICE_MFA_SEED).unwrap();
    let code = code_at(&seed, time::OffsetDateTime::now_utc());
    let send = |broker: &TestBroker| {
        broker
            .sts_as(ALICE_KEY_ID, ALICE_SECRET, None)
            .get_session_token()
            .serial_number(ALICE_MFA_SERIAL)
            .token_code(code.clone())
            .send()
    };
    send(&r.a).await.unwrap();
    let e = send(&r.b).await.unwrap_err().into_service_error();
    assert_eq!(e.code(), Some("AccessDenied"));
}

/// A role stored through IAM's API on A (a compare-and-set on the account's document and the
/// version counter, keys of one slot) is assumed on B within a second: the topology runs the
/// documents' scripts, and the ACL user may.
async fn an_iam_role_stored_on_a_is_assumed_on_b(r: &Replicas) {
    use sts_broker::broker::iam_api;
    use sts_broker::iam::api::{RoleChange, StoredRole};
    let trust = std::fs::read_to_string(r.a.dir.path().join("ci-trust.json")).unwrap();
    let role = StoredRole {
        name: "api-topology".to_owned(),
        path: "/".to_owned(),
        role_id: sts_broker::iam::new_unique_id("AROA").unwrap(),
        description: None,
        max_session_duration: 3600,
        trust_policy: trust,
        inline_policies: Default::default(),
        tags: Vec::new(),
        created: 0,
        attached_policies: Vec::new(),
        permissions_boundary: None,
    };
    iam_api::change(&r.a.state, ACCOUNT, &RoleChange::Create(role))
        .await
        .unwrap();
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/api-topology");
    let since = Instant::now();
    loop {
        let assumed =
            r.b.sts()
                .assume_role_with_web_identity()
                .role_arn(&arn)
                .role_session_name("topology")
                .web_identity_token(token(&r.idp, SUB, None))
                .send()
                .await;
        if assumed.is_ok() {
            break;
        }
        assert!(since.elapsed() < Duration::from_secs(1), "{assumed:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An access key used on B is last used as A reads it within B's next write (the topology
/// runs the last-use script on its one key), and forgetting it (`HDEL`) is allowed.
async fn a_key_used_on_b_is_last_used_on_a(r: &Replicas) {
    let since = time::OffsetDateTime::now_utc().unix_timestamp();
    r.b.sts_as(ALICE_KEY_ID, ALICE_SECRET, None)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(used) = r.a.state.store.key_use(ALICE_KEY_ID).await.unwrap()
            && used.at >= since
        {
            assert_eq!(
                (used.service.as_str(), used.region.as_str()),
                ("sts", "us-east-1")
            );
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(3), "not written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    r.a.state.store.forget_key_use(ALICE_KEY_ID).await.unwrap();
}

/// Sessions minted at the same moment (their records written to the store in batches, on a
/// cluster split by the node serving each key) all work on the other replica.
async fn sessions_minted_at_once_all_work_on_b(r: &Replicas) {
    let minted = futures_util::future::join_all(
        (0..48).map(|_| async { exchange(&r.a, &token(&r.idp, SUB, None)).await.unwrap() }),
    )
    .await;
    let ids: std::collections::BTreeSet<_> = minted.iter().map(|c| &c.0).collect();
    assert_eq!(ids.len(), minted.len());
    for creds in &minted {
        probe(&r.b, creds).await.unwrap();
    }
}

async fn every_scenario(store: String) {
    let r = Replicas::start(store).await;
    minted_on_a_works_on_b(&r).await;
    sessions_minted_at_once_all_work_on_b(&r).await;
    revoked_on_b_is_refused_on_a(&r).await;
    saml_replay_is_refused_across_replicas(&r).await;
    mfa_code_is_used_once_across_replicas(&r).await;
    an_iam_role_stored_on_a_is_assumed_on_b(&r).await;
    a_key_used_on_b_is_last_used_on_a(&r).await;
}

/// What a stream of AssumeRoleWithWebIdentity calls on both replicas got, while `disturb`
/// runs: every answer is 200 or 503 `ServiceUnavailable`; after it, 200 again (polled).
async fn calls_survive<F: Future<Output = ()>>(r: &Replicas, disturb: F) {
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for broker in [&r.a, &r.b, &r.a, &r.b] {
        let stop = stop.clone();
        let answered = answered.clone();
        let sts_endpoint = broker.endpoint.clone();
        let idp_tokens: Vec<String> = (0..400).map(|_| token(&r.idp, SUB, None)).collect();
        load.push(tokio::spawn(async move {
            let sts = crate::harness::broker::sts_client(&sts_endpoint, None);
            let mut seen = Vec::new();
            for t in idp_tokens {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let answer = sts
                    .assume_role_with_web_identity()
                    .role_arn(crate::harness::broker::DEPLOY_ROLE)
                    .role_session_name("failover")
                    .web_identity_token(t)
                    .send()
                    .await;
                answered.fetch_add(1, Ordering::Relaxed);
                seen.push(match answer {
                    Ok(_) => (200, String::new()),
                    Err(e) => {
                        let status = e.raw_response().map_or(0, |r| r.status().as_u16());
                        let code = e.into_service_error().code().unwrap_or_default().to_owned();
                        (status, code)
                    }
                });
            }
            seen
        }));
    }
    // The failover starts once the stream runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.load(Ordering::Relaxed) < 40 {
        assert!(Instant::now() < deadline, "the calls did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    disturb.await;
    // Served again without a restart, on both replicas: a new session, and requests made
    // with it (which also need the revocation subscription back), answered without a 503 for
    // longer than a revocation cache stays trusted unconfirmed — so the replicas are steady,
    // not living on trust from before.
    for broker in [&r.a, &r.b] {
        let deadline = Instant::now() + Duration::from_secs(90);
        let steady = sts_broker::revocation::STALE_AFTER + Duration::from_secs(1);
        let mut since: Option<Instant> = None;
        while since.is_none_or(|t| t.elapsed() < steady) {
            let served = match exchange(broker, &token(&r.idp, SUB, None)).await {
                Ok(creds) => probe(broker, &creds).await,
                Err(e) => Err(e),
            };
            match served {
                Ok(()) => {
                    since.get_or_insert_with(Instant::now);
                }
                Err((code, status)) => {
                    assert_eq!((code.as_str(), status), ("ServiceUnavailable", 503));
                    assert!(
                        Instant::now() < deadline,
                        "not served again after the failover"
                    );
                    since = None;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut counts = std::collections::BTreeMap::new();
    for task in load {
        for (status, code) in task.await.unwrap() {
            assert!(
                status == 200 || (status == 503 && code == "ServiceUnavailable"),
                "{status} {code}"
            );
            *counts.entry(status).or_insert(0) += 1;
        }
    }
    eprintln!("answers during the failover: {counts:?}");
    assert!(counts.get(&200).is_some_and(|n| *n > 0), "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_state_on_tls_with_an_acl_user() {
    let redis = TlsRedis::start(&["127.0.0.1"], "sts-broker").await;
    every_scenario(redis.store()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_state_on_a_redis_cluster() {
    let cluster = RedisCluster::start().await;
    every_scenario(cluster.store()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_state_through_sentinel() {
    let sentinel = RedisSentinel::start(SentinelAuth::RequirePass).await;
    every_scenario(sentinel.store()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_failover_under_load_answers_200_or_503_and_recovers() {
    let cluster = RedisCluster::start().await;
    let r = Replicas::start(cluster.store()).await;
    calls_survive(&r, async {
        let promoted = cluster.failover().await;
        eprintln!("replica {promoted} took over");
    })
    .await;
    // The revocation subscription and the listing work on the new layout too.
    revoked_on_b_is_refused_on_a(&r).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_under_load_answers_200_or_503_and_recovers() {
    let mut sentinel = RedisSentinel::start(SentinelAuth::Acl).await;
    let r = Replicas::start(sentinel.store()).await;
    calls_survive(&r, async {
        sentinel.kill_master_and_wait_failover().await;
    })
    .await;
    // The subscriber found the new master: a revocation still reaches the other replica.
    revoked_on_b_is_refused_on_a(&r).await;
}

/// A master that stalls (stopped: its connections open, nothing answered) holds up only the
/// session writes it serves: sessions minted at once while one of three masters is stopped are
/// each answered 200 or 503 `ServiceUnavailable` (the others' writes go on, in their own lanes),
/// and every credential issued works on the other replica once the node is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_cluster_master_holds_up_only_its_own_writes() {
    let cluster = RedisCluster::start().await;
    let r = Replicas::start(cluster.store()).await;
    // Warm: the slot table read, the lanes started.
    minted_on_a_works_on_b(&r).await;
    let stalled = cluster.node_with_role("master").await;
    cluster.signal(stalled, "-STOP");
    let answers = futures_util::future::join_all(
        (0..48).map(|_| async { exchange(&r.a, &token(&r.idp, SUB, None)).await }),
    )
    .await;
    cluster.signal(stalled, "-CONT");
    let mut issued = Vec::new();
    for answer in answers {
        match answer {
            Ok(creds) => issued.push(creds),
            Err((code, status)) => {
                assert_eq!((code.as_str(), status), ("ServiceUnavailable", 503));
            }
        }
    }
    // The two masters still answering serve about two keys in three: about 32 of 48 are
    // issued, and fewer than 12 has a chance near 1e-9. With every node's writes held up
    // behind a batch in flight to the stopped one, one or two were.
    eprintln!("{} of 48 issued while one master was stopped", issued.len());
    assert!(
        issued.len() >= 12,
        "{} of 48 sessions issued while one master of three was stopped",
        issued.len()
    );
    cluster.wait_ok().await;
    for creds in &issued {
        probe(&r.b, creds).await.unwrap();
    }
}

/// Subscribers on a cluster replica node get what is published on a master (`PUBLISH` crosses
/// the cluster); when that node dies they subscribe on another node, and a revocation published
/// afterwards still reaches them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_subscriber_moves_to_another_node_when_its_node_dies() {
    let mut cluster = RedisCluster::start().await;
    // Each replica's first subscription is on the first seed: a replica node here (which never
    // receives a client's PUBLISH itself), and killing it moves no slots.
    let first = cluster.node_with_role("slave").await;
    let r = Replicas::start(cluster.store_starting_with(first)).await;
    // Both subscribers (started in the background) are on that node.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let subscribers: String = crate::harness::redis_topology::query(
            first,
            &cluster.password,
            redis::cmd("CLIENT").arg("LIST").arg("TYPE").arg("pubsub"),
        )
        .await;
        if subscribers.lines().count() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "{subscribers}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    revoked_on_b_is_refused_on_a(&r).await;
    let reconnects = r.a.state.revocations.subscription_stats().reconnects;
    cluster.kill(first);
    let deadline = Instant::now() + Duration::from_secs(60);
    while r.a.state.revocations.subscription_stats().reconnects == reconnects {
        assert!(
            Instant::now() < deadline,
            "the subscriber did not reconnect"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    revoked_on_b_is_refused_on_a(&r).await;
}

/// The `[store]` of `redis` with `store`, as a broker folder's configuration: what starting a
/// broker on it answers.
async fn start_error(idp: &TestIdp, store: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let toml = standard_config(dir.path(), idp, store, 0);
    let config = Config::from_toml(&toml, "broker.toml", dir.path()).unwrap();
    match sts_broker::broker::Broker::build(config, Arc::new(SystemClock)).await {
        Ok(_) => panic!("started on {store}"),
        Err(e) => format!("{e:#}"),
    }
}

/// A server certificate from another CA, or for another name, stops the start with a clear
/// error; the right CA and name with the ACL password from a file or the environment work.
#[tokio::test]
async fn tls_that_does_not_verify_stops_the_start() {
    let redis = TlsRedis::start(&["127.0.0.1"], "sts-broker").await;
    let idp = TestIdp::start().await;
    let other = crate::harness::redis_topology::TestCa::new("another CA");
    let wrong_ca = start_error(&idp, &redis.store_with("127.0.0.1", &other.pem)).await;
    assert!(
        wrong_ca.contains("invalid peer certificate: UnknownIssuer"),
        "{wrong_ca}"
    );
    let wrong_name = start_error(&idp, &redis.store_with("localhost", &redis.ca.pem)).await;
    assert!(
        wrong_name
            .contains("invalid peer certificate: certificate not valid for name \"localhost\""),
        "{wrong_name}"
    );
    // No ca_file: the system's roots do not know the private CA either.
    let store = redis
        .store()
        .lines()
        .filter(|l| !l.starts_with("ca_file"))
        .collect::<Vec<_>>()
        .join("\n");
    let no_ca = start_error(&idp, &store).await;
    assert!(
        no_ca.contains("invalid peer certificate: UnknownIssuer"),
        "{no_ca}"
    );
    // A wrong password is refused too, and not shown.
    std::fs::write(redis.dir.path().join("wrong.password"), "not-the-password").unwrap();
    let store = redis.store().replace("redis.password", "wrong.password");
    let wrong_password = start_error(&idp, &store).await;
    assert!(
        wrong_password.contains("Password authentication failed"),
        "{wrong_password}"
    );
    assert!(
        !wrong_password.contains("not-the-password"),
        "{wrong_password}"
    );
    assert!(
        !wrong_password.contains(&redis.password),
        "{wrong_password}"
    );
}

/// The real binary serving on the TLS server with the ACL password from the environment
/// (`password_env`): ready, and what it logged never holds the password.
#[tokio::test]
async fn the_acl_password_can_come_from_the_environment() {
    let redis = TlsRedis::start(&["127.0.0.1"], "sts-broker").await;
    let idp = TestIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = redis
        .store()
        .lines()
        .map(|l| {
            if l.starts_with("password_file") {
                "password_env = \"STS_BROKER_TEST_REDIS_PASSWORD\"".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let toml = standard_config(dir.path(), &idp, &store, 0);
    let path = dir.path().join("broker.toml");
    std::fs::write(&path, toml).unwrap();
    let server = crate::serve::serve_with_env(
        path.to_str().unwrap(),
        &[("STS_BROKER_TEST_REDIS_PASSWORD", redis.password.as_str())],
    );
    crate::serve::wait_ready(&server.endpoint).await;
    let log = crate::serve::stop(server);
    assert!(!log.contains(&redis.password), "{log}");
}

/// Sentinels that require a password: a wrong one, none, or another user's stops the start
/// at once with the Sentinels' refusal, naming the settings to fix and never a password; a wrong
/// password for the master they name is told apart. The right ones start (the failover test).
#[tokio::test]
async fn a_wrong_or_missing_sentinel_password_stops_the_start() {
    let sentinel = RedisSentinel::start(SentinelAuth::Acl).await;
    let idp = TestIdp::start().await;
    std::fs::write(
        sentinel.dir.path().join("wrong.password"),
        "not-the-password",
    )
    .unwrap();
    let store = sentinel.store();
    let without_sentinel_credentials = store
        .lines()
        .filter(|l| !l.starts_with("sentinel_username") && !l.starts_with("sentinel_password"))
        .collect::<Vec<_>>()
        .join("\n");
    let sentinels_refused = "store: the Sentinels refused the broker's credentials \
                             (sentinel_username, sentinel_password_env or sentinel_password_file)";
    for (store, refusal, detail) in [
        (
            store.replace("sentinel.password", "wrong.password"),
            sentinels_refused,
            "Password authentication failed",
        ),
        (
            without_sentinel_credentials,
            sentinels_refused,
            "Authentication required",
        ),
        (
            store.replace(
                "sentinel_username = \"sts-broker\"",
                "sentinel_username = \"nobody\"",
            ),
            sentinels_refused,
            "Password authentication failed",
        ),
        (
            store.replace("redis.password", "wrong.password"),
            "store: the master the Sentinels name refused the broker's credentials \
             (username, password_env or password_file)",
            "Password authentication failed",
        ),
    ] {
        // Refused, not retried until someone notices: far within this bound.
        let error = tokio::time::timeout(Duration::from_secs(60), start_error(&idp, &store))
            .await
            .expect("the start hung");
        assert!(
            error.starts_with(refusal) && error.contains(detail),
            "{store}\n{error}"
        );
        for secret in [
            "not-the-password",
            &sentinel.sentinel_password,
            &sentinel.broker_password,
            &sentinel.password,
        ] {
            assert!(!error.contains(secret), "{error}");
        }
    }
}
