//! The store failing under load: a stream of AssumeRoleWithWebIdentity calls over HTTP while
//! the broker's Redis is killed (SIGKILL) and started again, then frozen (SIGSTOP) and thawed.
//! Every answer is a credential or `ServiceUnavailable` (503) — never a 500, never a hang past
//! the store's deadline — every credential handed out is in the store afterwards (Redis
//! acknowledges only what is on disk), and `/readyz` follows the store down and back up within
//! 2 s of its return, with no restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::harness::broker::{DEPLOY_ROLE, TestBroker};
use crate::harness::durable_redis::DurableRedis;
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;

/// The store's per-command deadline (`store/redis.rs`); a request makes one store call here.
const STORE_DEADLINE: Duration = Duration::from_secs(2);
/// What a request may take beyond that deadline on a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(3);
const WORKERS: usize = 4;

#[derive(Debug)]
struct Answer {
    status: u16,
    /// The access key id of a credential, or the error code.
    value: String,
    /// The secret and session token of a credential.
    secret: Option<(String, String)>,
    elapsed: Duration,
}

fn between<'a>(body: &'a str, open: &str, close: &str) -> Option<&'a str> {
    body.split(open).nth(1)?.split(close).next()
}

/// Calls the broker until `stop`, recording every answer.
async fn load(
    endpoint: String,
    idp: Arc<TestIdp>,
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answer>>>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let token = idp.token(
            "rsa-1",
            &idp.claims("repo:octo-org/app:ref:refs/heads/main"),
        );
        let started = Instant::now();
        let response = http
            .post(&endpoint)
            .form(&[
                ("Action", "AssumeRoleWithWebIdentity"),
                ("Version", "2011-06-15"),
                ("RoleArn", DEPLOY_ROLE),
                ("RoleSessionName", &format!("fault-{n}")),
                ("WebIdentityToken", &token),
            ])
            .send()
            .await
            .expect("the broker answers every request");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        let elapsed = started.elapsed();
        let value = match status {
            200 => between(&body, "<AccessKeyId>", "</AccessKeyId>"),
            _ => between(&body, "<Code>", "</Code>"),
        }
        .unwrap_or_else(|| panic!("{status}: {body}"))
        .to_owned();
        let secret = (status == 200).then(|| {
            (
                between(&body, "<SecretAccessKey>", "</SecretAccessKey>")
                    .unwrap()
                    .to_owned(),
                between(&body, "<SessionToken>", "</SessionToken>")
                    .unwrap()
                    .to_owned(),
            )
        });
        if status != 200 {
            assert!(
                between(&body, "<RequestId>", "</RequestId>").is_some_and(|id| !id.is_empty()),
                "{body}"
            );
        }
        answers.lock().await.push(Answer {
            status,
            value,
            secret,
            elapsed,
        });
    }
}

/// Polls until `what` holds; the bound only stops a hang.
async fn until(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn readyz(http: &reqwest::Client, endpoint: &str) -> u16 {
    http.get(format!("{endpoint}/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dying_store_gives_only_credentials_it_holds_or_service_unavailable() {
    let idp = Arc::new(TestIdp::start().await);
    let mut redis = DurableRedis::start().await;
    let broker = TestBroker::start(&idp, &redis.url()).await;
    let http = reqwest::Client::new();
    assert_eq!(readyz(&http, &broker.endpoint).await, 200);

    let stop = Arc::new(AtomicBool::new(false));
    let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            tokio::spawn(load(
                broker.endpoint.clone(),
                idp.clone(),
                stop.clone(),
                answers.clone(),
            ))
        })
        .collect();
    let count = |status: u16| {
        let answers = answers.clone();
        async move {
            answers
                .lock()
                .await
                .iter()
                .filter(|a| a.status == status)
                .count()
        }
    };
    let more = async |status: u16, than: usize| {
        until(&format!("more than {than} answers {status}"), async || {
            count(status).await > than
        })
        .await;
    };

    // Killed: refused at once, and /readyz says so.
    more(200, 20).await;
    redis.kill();
    until("/readyz 503 with the store killed", async || {
        readyz(&http, &broker.endpoint).await == 503
    })
    .await;
    more(503, 20).await;

    // Back: ready within 2 s of the store answering again.
    redis.restart().await;
    let back = Instant::now();
    until("/readyz 200 with the store back", async || {
        readyz(&http, &broker.endpoint).await == 200
    })
    .await;
    let recovered = back.elapsed();
    assert!(
        recovered < Duration::from_secs(2),
        "ready {recovered:?} after the store returned"
    );
    let served = count(200).await;
    more(200, served + 20).await;

    // Frozen: refused within the store's deadline, not held.
    redis.freeze();
    let refused = count(503).await;
    more(503, refused + 2 * WORKERS).await;
    until("/readyz 503 with the store frozen", async || {
        readyz(&http, &broker.endpoint).await == 503
    })
    .await;
    redis.thaw();
    let served = count(200).await;
    more(200, served + 20).await;

    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }

    let answers = answers.lock().await;
    let stored: std::collections::HashSet<String> = redis.keys().await.into_iter().collect();
    for a in answers.iter() {
        match a.status {
            200 => assert!(
                stored.contains(&format!("sts-broker:session:{}", a.value)),
                "credential {} handed out but not in the store",
                a.value
            ),
            503 => assert_eq!(a.value, "ServiceUnavailable"),
            other => panic!("answered {other} {}", a.value),
        }
        assert!(
            a.elapsed < STORE_DEADLINE + SLACK,
            "a request took {:?}",
            a.elapsed
        );
    }

    let slowest = answers.iter().map(|a| a.elapsed).max().unwrap();
    eprintln!(
        "store faults: {} answers ({} credentials), ready {recovered:?} after the store \
         returned, slowest answer {slowest:?}",
        answers.len(),
        answers.iter().filter(|a| a.status == 200).count()
    );

    // Credentials minted before the kill and after the freeze both work.
    let first = answers.iter().find(|a| a.status == 200).unwrap();
    let last = answers.iter().rev().find(|a| a.status == 200).unwrap();
    for a in [first, last] {
        let (secret, token) = a.secret.as_ref().unwrap();
        let me = broker
            .sts_as(&a.value, secret, Some(token))
            .get_caller_identity()
            .send()
            .await
            .unwrap();
        assert!(me.arn().unwrap().contains("assumed-role/deploy/fault-"));
    }
}

/// `/readyz` is not throttled, so its pings are shared: however many probes arrive, Redis is
/// pinged at most once per quarter second (`store::probe`), and every probe still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_probes_at_once_share_their_pings() {
    const PROBES: usize = 200;
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let broker = TestBroker::start(&idp, &redis.url()).await;
    let http = reqwest::Client::new();
    let before = redis.command_calls("ping").await;
    let started = Instant::now();
    let probes: Vec<_> = (0..PROBES)
        .map(|_| {
            let (http, endpoint) = (http.clone(), broker.endpoint.clone());
            tokio::spawn(async move { readyz(&http, &endpoint).await })
        })
        .collect();
    for probe in probes {
        assert_eq!(probe.await.unwrap(), 200);
    }
    let quarters = started.elapsed().as_millis() / 250;
    let pings = redis.command_calls("ping").await - before;
    assert!(
        pings >= 1 && u128::from(pings) <= quarters + 2,
        "{PROBES} probes in {:?} pinged Redis {pings} times",
        started.elapsed()
    );
}
