//! Throttling (`[rate_limits]`) against the real server: AWS's `Throttling` answer, which the
//! AWS SDK retries as throttling; per-address, per-role and per-subject buckets; forged proofs
//! naming a victim never drain its bucket; a throttled call fetches no keys and writes nothing;
//! the per-address limit on the authorize, admin, sign-in and policy-validation doors too, before
//! any signature is verified or body read;
//! replicas share buckets through Redis when configured; bad values are located by
//! `check-config`. Clocks are manual, so no bucket refills while a test runs.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::{BehaviorVersion, Region};
use aws_sdk_sts::error::ProvideErrorMetadata as _;
use sts_broker::clock::{Clock as _, ManualClock};
use sts_broker::config::Config;
use time::OffsetDateTime;

use crate::harness::broker::{
    ALICE_KEY_ID, ALICE_SECRET, APP_ROLE, DEPLOY_ROLE, GATEWAY_KEY_ID, GATEWAY_SECRET, OPS_KEY_ID,
    OPS_SECRET, TestBroker, standard_config,
};
use crate::harness::idp::{TestIdp, TestKey};
use crate::harness::redis::RedisServer;
use crate::harness::saml::{TestSamlIdp, b64};
use crate::harness::signer::Signer;

const MAIN: &str = "repo:octo-org/app:ref:refs/heads/main";
const DEV: &str = "repo:octo-org/app:ref:refs/heads/dev";

fn clock() -> Arc<ManualClock> {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    Arc::new(ManualClock::new(now))
}

/// The standard configuration with an audit log (`audit.log`), `[rate_limits]` as given, the
/// keys in `keys_dir` when given (replicas share one folder), and a manual clock.
async fn broker_with(
    idp: &TestIdp,
    store_url: &str,
    limits: &str,
    keys_dir: Option<&Path>,
    clock: Arc<ManualClock>,
) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let mut toml = standard_config(dir.path(), idp, store_url, 0);
    if let Some(keys) = keys_dir {
        toml = toml.replace(
            "dir = \"keys\"",
            &format!("dir = {:?}", keys.to_str().unwrap()),
        );
    }
    toml += &format!("\n[audit]\noutput = \"audit.log\"\n\n[rate_limits]\n{limits}\n");
    TestBroker::from_toml_with_clock(dir, &toml, clock).await
}

/// The in-memory store and a `per_source_ip` bucket of two tokens, refilled once a second.
async fn two_per_address(idp: &TestIdp, clock: &Arc<ManualClock>) -> TestBroker {
    let limits = "per_source_ip = { rate = 1, burst = 2 }";
    broker_with(idp, "memory://", limits, None, clock.clone()).await
}

/// `AssumeRoleWithWebIdentity` through an SDK client without retries: `Ok` or the error's
/// code and message.
async fn web_identity(
    broker: &TestBroker,
    role: &str,
    token: &str,
) -> Result<(), (String, String)> {
    broker
        .sts()
        .assume_role_with_web_identity()
        .role_arn(role)
        .role_session_name("throttled")
        .web_identity_token(token)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            let e = e.into_service_error();
            (
                e.code().unwrap_or_default().to_owned(),
                e.message().unwrap_or_default().to_owned(),
            )
        })
}

/// The code of the answer: `OK` or the error code.
async fn code(broker: &TestBroker, role: &str, token: &str) -> String {
    match web_identity(broker, role, token).await {
        Ok(()) => "OK".to_owned(),
        Err((code, _)) => code,
    }
}

/// A token naming `sub` whose signature is another token's: it verifies for no one.
fn forged(idp: &TestIdp, sub: &str) -> String {
    let claimed = idp.token("rsa-1", &idp.claims(sub));
    let other = idp.token("rsa-1", &idp.claims("someone-else"));
    let (input, _) = claimed.rsplit_once('.').unwrap();
    let (_, signature) = other.rsplit_once('.').unwrap();
    format!("{input}.{signature}")
}

fn throttled(broker: &TestBroker, limit: &str) -> u64 {
    broker
        .state
        .throttle
        .throttled_counts()
        .iter()
        .find(|(name, _)| *name == limit)
        .unwrap()
        .1
}

async fn audit_lines(broker: &TestBroker) -> Vec<serde_json::Value> {
    broker.state.audit.flush().await;
    std::fs::read_to_string(broker.dir.path().join("audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The broker's metrics as a scrape reads them: `sts_broker_throttled_total` for
/// `per_source_ip`, and `sts_broker_requests_total` for `action` answered `Throttling`.
fn throttled_metrics(broker: &TestBroker, action: &str) -> (f64, f64) {
    let text = sts_broker::metrics::Metrics::new(broker.live.clone())
        .render()
        .unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let value = |metric: &str, labels: &[(&str, &str)]| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map_or(0.0, |s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                ref other => panic!("{metric}: {other:?}"),
            })
    };
    (
        value("sts_broker_throttled_total", &[("limit", "per_source_ip")]),
        value(
            "sts_broker_requests_total",
            &[("action", action), ("outcome", "Throttling")],
        ),
    )
}

/// The JSON doors' `Throttling`: 400, the code and AWS's message, the request id of the header.
fn assert_json_throttling((status, id, body): &(u16, String, serde_json::Value)) {
    assert_eq!(*status, 400, "{body}");
    assert_eq!(body["error"]["code"], "Throttling", "{body}");
    assert_eq!(body["error"]["message"], "Rate exceeded", "{body}");
    assert_eq!(body["request_id"], id.as_str(), "{body}");
}

/// Whether access key `id` verified a signature (its last use, noted in memory at once).
async fn used(broker: &TestBroker, id: &str) -> bool {
    broker
        .state
        .key_use
        .newest(&broker.state.store, id)
        .await
        .unwrap()
        .is_some()
}

fn tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(&xml[start..end])
}

#[tokio::test]
async fn a_burst_over_per_source_ip_is_answered_throttling_as_aws_does() {
    let idp = TestIdp::start().await;
    let broker = broker_with(
        &idp,
        "memory://",
        "per_source_ip = { rate = 1, burst = 3 }",
        None,
        clock(),
    )
    .await;
    let post = || {
        broker
            .http()
            .post(format!("{}/", broker.endpoint))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("Action=GetCallerIdentity&Version=2011-06-15")
            .send()
    };
    // Three requests fit the burst, whatever their own answer (unsigned: refused).
    for _ in 0..3 {
        let r = post().await.unwrap();
        let body = r.text().await.unwrap();
        assert_eq!(
            tag(&body, "Code"),
            Some("MissingAuthenticationToken"),
            "{body}"
        );
    }
    let r = post().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let id = r.headers()["x-amzn-requestid"].to_str().unwrap().to_owned();
    let body = r.text().await.unwrap();
    assert_eq!(tag(&body, "Code"), Some("Throttling"), "{body}");
    assert_eq!(tag(&body, "Message"), Some("Rate exceeded"), "{body}");
    assert_eq!(tag(&body, "Type"), Some("Sender"), "{body}");
    assert_eq!(tag(&body, "RequestId"), Some(id.as_str()), "{body}");

    // The SDK reads the same: code and message.
    let token = idp.token("rsa-1", &idp.claims(MAIN));
    assert_eq!(
        web_identity(&broker, DEPLOY_ROLE, &token).await,
        Err(("Throttling".to_owned(), "Rate exceeded".to_owned()))
    );
    assert_eq!(throttled(&broker, "per_source_ip"), 2);
    assert_eq!(throttled(&broker, "per_role"), 0);

    // One audit line each, with its outcome.
    let lines = audit_lines(&broker).await;
    assert_eq!(lines.len(), 5, "{lines:?}");
    let refused: Vec<_> = lines
        .iter()
        .filter(|l| l["reason"] == "throttledPerSourceIp")
        .collect();
    assert_eq!(refused.len(), 2, "{lines:?}");
    assert!(refused.iter().all(|l| l["decision"] == "Error"));
    assert!(refused.iter().all(|l| l["source_ip"] == "127.0.0.1"));
    assert!(refused.iter().any(|l| l["request_id"] == id.as_str()));
}

#[tokio::test]
async fn per_role_throttles_one_role_and_not_another_and_forged_calls_drain_nothing() {
    let idp = TestIdp::start().await;
    let broker = broker_with(
        &idp,
        "memory://",
        "per_role = { rate = 1, burst = 2 }",
        None,
        clock(),
    )
    .await;
    // Forged tokens naming the role are refused as such, however many: no token taken.
    for _ in 0..10 {
        assert_eq!(
            code(&broker, DEPLOY_ROLE, &forged(&idp, MAIN)).await,
            "InvalidIdentityToken"
        );
    }
    let token = |sub| idp.token("rsa-1", &idp.claims(sub));
    assert_eq!(code(&broker, DEPLOY_ROLE, &token(MAIN)).await, "OK");
    assert_eq!(code(&broker, DEPLOY_ROLE, &token(DEV)).await, "OK");
    assert_eq!(code(&broker, DEPLOY_ROLE, &token(MAIN)).await, "Throttling");
    // Empty now: even a forged token is refused before its signature is looked at.
    assert_eq!(
        code(&broker, DEPLOY_ROLE, &forged(&idp, MAIN)).await,
        "Throttling"
    );

    // Another role, through AssumeRole: its own bucket.
    let alice = broker.sts_as(ALICE_KEY_ID, ALICE_SECRET, None);
    let assume = || async {
        alice
            .assume_role()
            .role_arn(APP_ROLE)
            .role_session_name("alice")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| e.into_service_error().code().unwrap_or_default().to_owned())
    };
    assume().await.unwrap();
    assume().await.unwrap();
    assert_eq!(assume().await.unwrap_err(), "Throttling");
    // A bad signature naming the role takes nothing from it either (nor does it get past).
    let forger = broker.sts_as(
        ALICE_KEY_ID,
        "not-alices-secret-at-all-0123456789abcd",
        None,
    );
    let err = forger
        .assume_role()
        .role_arn(APP_ROLE)
        .role_session_name("forger")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.into_service_error().code(), Some("Throttling"));
    assert_eq!(throttled(&broker, "per_role"), 4);
    let reasons: Vec<_> = audit_lines(&broker)
        .await
        .into_iter()
        .filter(|l| l["reason"] == "throttledPerRole")
        .map(|l| l["role"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        reasons,
        [DEPLOY_ROLE, DEPLOY_ROLE, APP_ROLE, APP_ROLE],
        "one audit line per throttled call, naming the role asked for"
    );
}

/// Valid tokens the role does not trust (anyone can get one from a public IdP) take nothing
/// from the role's bucket, not even many at once under one subject: that subject's own bucket
/// refuses them, and the role's trusted callers keep their whole rate.
#[tokio::test]
async fn valid_proofs_the_role_does_not_trust_drain_nothing_from_its_bucket() {
    let idp = TestIdp::start().await;
    let broker = broker_with(
        &idp,
        "memory://",
        "per_role = { rate = 1, burst = 2 }\nper_subject = { rate = 1, burst = 1 }",
        None,
        clock(),
    )
    .await;
    let token = |sub: &str| idp.token("rsa-1", &idp.claims(sub));
    // Many subjects the deploy role does not trust, one call each.
    for i in 0..5 {
        let sub = format!("repo:outsider/fork-{i}:ref:refs/heads/main");
        assert_eq!(
            code(&broker, DEPLOY_ROLE, &token(&sub)).await,
            "AccessDenied"
        );
    }
    // One untrusted subject, many calls at once: one reaches the trust policy, the others are
    // refused by that subject's own bucket.
    let outsider = token("repo:outsider/app:ref:refs/heads/main");
    let calls: Vec<_> = (0..8)
        .map(|_| code(&broker, DEPLOY_ROLE, &outsider))
        .collect();
    let mut codes = futures_util::future::join_all(calls).await;
    codes.sort();
    let mut want = vec!["AccessDenied".to_owned()];
    want.extend(std::iter::repeat_n("Throttling".to_owned(), 7));
    want.sort();
    assert_eq!(codes, want);
    assert_eq!(throttled(&broker, "per_role"), 0);
    assert_eq!(throttled(&broker, "per_subject"), 7);

    // The trusted callers still have the whole burst of the role.
    assert_eq!(code(&broker, DEPLOY_ROLE, &token(MAIN)).await, "OK");
    assert_eq!(code(&broker, DEPLOY_ROLE, &token(DEV)).await, "OK");
    let third = "repo:octo-org/app:ref:refs/heads/third";
    assert_eq!(
        code(&broker, DEPLOY_ROLE, &token(third)).await,
        "Throttling"
    );
    assert_eq!(throttled(&broker, "per_role"), 1);
}

#[tokio::test]
async fn per_subject_forged_tokens_never_drain_a_victims_bucket() {
    let idp = TestIdp::start().await;
    let broker = broker_with(
        &idp,
        "memory://",
        "per_subject = { rate = 1, burst = 2 }",
        None,
        clock(),
    )
    .await;
    // An attacker sends many tokens naming the victim's `sub`, with a signature that is not
    // the IdP's: each is refused as invalid, none is throttled, none takes a token.
    for _ in 0..20 {
        assert_eq!(
            code(&broker, DEPLOY_ROLE, &forged(&idp, MAIN)).await,
            "InvalidIdentityToken"
        );
    }
    assert_eq!(throttled(&broker, "per_subject"), 0);
    // The victim's own burst is whole.
    let token = |sub| idp.token("rsa-1", &idp.claims(sub));
    assert_eq!(code(&broker, DEPLOY_ROLE, &token(MAIN)).await, "OK");
    assert_eq!(code(&broker, DEPLOY_ROLE, &token(MAIN)).await, "OK");
    // A real burst by one subject is throttled; another subject passes.
    assert_eq!(code(&broker, DEPLOY_ROLE, &token(MAIN)).await, "Throttling");
    assert_eq!(code(&broker, DEPLOY_ROLE, &token(DEV)).await, "OK");
    assert_eq!(throttled(&broker, "per_subject"), 1);
    let line = audit_lines(&broker)
        .await
        .into_iter()
        .find(|l| l["reason"] == "throttledPerSubject")
        .unwrap();
    // Refused before verification: the unverified subject is not recorded as who asked.
    assert_eq!(line["subject"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_throttled_web_identity_call_fetches_no_keys_and_writes_nothing() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let broker = broker_with(
        &idp,
        &redis.url(),
        "per_subject = { rate = 1, burst = 1 }\nper_role = { rate = 1, burst = 2 }",
        None,
        clock(),
    )
    .await;
    let main = idp.token("rsa-1", &idp.claims(MAIN));
    assert_eq!(code(&broker, DEPLOY_ROLE, &main).await, "OK");
    // The IdP rotates: tokens now name a key the broker has not fetched. Verifying one would
    // fetch the key set again (unknown kid; no refetch delay in this configuration).
    idp.add_key("rsa-2", TestKey::rsa(), true);
    let rotated = |sub| idp.token("rsa-2", &idp.claims(sub));
    let fetches = idp.jwks_hits();
    let keys = redis.keys().await;

    // Per subject: MAIN's bucket is empty.
    assert_eq!(
        code(&broker, DEPLOY_ROLE, &rotated(MAIN)).await,
        "Throttling"
    );
    assert_eq!(idp.jwks_hits(), fetches, "a throttled call fetched keys");
    assert_eq!(
        redis.keys().await,
        keys,
        "a throttled call wrote to the store"
    );

    // Per role: another subject takes the role's last token (and fetches the new key)...
    assert_eq!(code(&broker, DEPLOY_ROLE, &rotated(DEV)).await, "OK");
    assert_eq!(idp.jwks_hits(), fetches + 1, "the control call fetched");
    // ...then a third subject, with a key the broker never saw, is refused for free.
    idp.add_key("rsa-3", TestKey::rsa(), true);
    let fetches = idp.jwks_hits();
    let keys = redis.keys().await;
    let third = idp.token("rsa-3", &idp.claims("repo:octo-org/app:ref:refs/heads/x"));
    assert_eq!(code(&broker, DEPLOY_ROLE, &third).await, "Throttling");
    assert_eq!(idp.jwks_hits(), fetches);
    assert_eq!(redis.keys().await, keys);
    assert_eq!(throttled(&broker, "per_role"), 1);
    assert_eq!(throttled(&broker, "per_subject"), 1);
}

#[tokio::test]
async fn replicas_share_buckets_through_redis_when_configured() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let clock = clock();
    // Slow refills (one token per 100 s): Redis expires bucket keys in real time, and these
    // must outlive the test however slow the machine.
    let limits = "per_role = { rate = 0.01, burst = 4 }\nper_source_ip = { rate = 0.01, burst = 6 }\nshared = true";
    let a = broker_with(&idp, &redis.url(), limits, Some(keys.path()), clock.clone()).await;
    let b = broker_with(&idp, &redis.url(), limits, Some(keys.path()), clock.clone()).await;
    let token = || idp.token("rsa-1", &idp.claims(MAIN));
    // Four in all, across both replicas.
    assert_eq!(code(&a, DEPLOY_ROLE, &token()).await, "OK");
    assert_eq!(code(&b, DEPLOY_ROLE, &token()).await, "OK");
    assert_eq!(code(&a, DEPLOY_ROLE, &token()).await, "OK");
    assert_eq!(code(&b, DEPLOY_ROLE, &token()).await, "OK");
    assert_eq!(code(&a, DEPLOY_ROLE, &token()).await, "Throttling");
    assert_eq!(code(&b, DEPLOY_ROLE, &token()).await, "Throttling");
    // Six requests from this address in all: the seventh is throttled on either replica.
    assert_eq!(code(&a, DEPLOY_ROLE, &token()).await, "Throttling");
    assert_eq!(throttled(&a, "per_source_ip"), 1);
    assert_eq!(throttled(&a, "per_role") + throttled(&b, "per_role"), 2);

    // One key per bucket, named by a digest (no role ARN in Redis), gone once full again.
    let buckets: Vec<String> = redis
        .keys()
        .await
        .into_iter()
        .filter(|k| k.starts_with("sts-broker:throttle:"))
        .collect();
    assert_eq!(buckets.len(), 2, "{buckets:?}");
    for key in &buckets {
        let (scope, id) = key["sts-broker:throttle:".len()..].split_once(':').unwrap();
        assert!(["per_role", "per_source_ip"].contains(&scope), "{key}");
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{key}"
        );
        // 100 s per token taken: 400 s for the role's, 600 s for the address's.
        let ttl = redis.ttl(key).await;
        assert!((300..=600).contains(&ttl), "{key}: {ttl}");
    }

    // Time passes on both replicas: one more token, taken once.
    clock.advance(time::Duration::seconds(100));
    assert_eq!(code(&b, DEPLOY_ROLE, &token()).await, "OK");
    assert_eq!(code(&a, DEPLOY_ROLE, &token()).await, "Throttling");
}

#[tokio::test]
async fn the_sdk_retries_throttling_with_backoff() {
    let idp = TestIdp::start().await;
    let broker = broker_with(
        &idp,
        "memory://",
        "per_role = { rate = 1, burst = 1 }",
        None,
        clock(),
    )
    .await;
    let token = idp.token("rsa-1", &idp.claims(MAIN));
    assert_eq!(code(&broker, DEPLOY_ROLE, &token).await, "OK");

    // A client as applications build one: the standard retry strategy, three attempts.
    let retrying = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&broker.endpoint)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(10)),
            )
            .build(),
    );
    let call = |role: &str, token: &str| {
        retrying
            .assume_role_with_web_identity()
            .role_arn(role)
            .role_session_name("retried")
            .web_identity_token(token)
            .send()
    };
    let err = call(DEPLOY_ROLE, &token).await.unwrap_err();
    let err = err.into_service_error();
    assert_eq!(err.code(), Some("Throttling"));
    assert_eq!(err.message(), Some("Rate exceeded"));
    // The SDK classified it as retryable: all three attempts reached the broker.
    assert_eq!(throttled(&broker, "per_role"), 3);
    assert!(aws_runtime::retries::classifiers::THROTTLING_ERRORS.contains(&"Throttling"));

    // A 400 the SDK does not retry is sent once: retries come from the code, not the status.
    let before = audit_lines(&broker).await.len();
    let err = call(APP_ROLE, &forged(&idp, MAIN)).await.unwrap_err();
    assert_eq!(
        err.into_service_error().code(),
        Some("InvalidIdentityToken")
    );
    assert_eq!(audit_lines(&broker).await.len(), before + 1);
}

#[tokio::test]
async fn saml_subjects_are_throttled_after_verification_only() {
    const PROVIDER: &str = "arn:aws:iam::111122223333:saml-provider/corp";
    const ROLE: &str = "arn:aws:iam::111122223333:role/saml";
    let saml = TestSamlIdp::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("trust.json"),
        format!(
            r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
  "Principal": {{"Federated": "{PROVIDER}"}}, "Action": "sts:AssumeRoleWithSAML"}}]}}"#
        ),
    )
    .unwrap();
    let toml = format!(
        r#"
[keys]
dir = "keys"
[[accounts]]
id = "111122223333"
[[saml_providers]]
account = "111122223333"
name = "corp"
metadata_file = "{}"
[[roles]]
account = "111122223333"
name = "saml"
trust_policy_file = "trust.json"
[rate_limits]
per_subject = {{ rate = 1, burst = 2 }}
"#,
        saml.metadata_path().display()
    );
    let clock = clock();
    let now = clock.now();
    let broker = TestBroker::from_toml_with_clock(dir, &toml, clock).await;
    let post = |assertion: String| {
        let sts = broker.sts();
        async move {
            match sts
                .assume_role_with_saml()
                .role_arn(ROLE)
                .principal_arn(PROVIDER)
                .saml_assertion(assertion)
                .send()
                .await
            {
                Ok(_) => "OK".to_owned(),
                Err(e) => e.into_service_error().code().unwrap_or_default().to_owned(),
            }
        }
    };
    let response = |name: &str, wrong_key: bool| {
        let mut r = saml.response(now, ROLE, PROVIDER);
        r.name_id = name.to_owned();
        r.wrong_key = wrong_key;
        b64(&saml.signed_xml(&r))
    };
    // Responses naming alice signed by a key the metadata does not list: refused, drain
    // nothing.
    for _ in 0..5 {
        assert_eq!(
            post(response("CORP\\alice", true)).await,
            "InvalidIdentityToken"
        );
    }
    assert_eq!(post(response("CORP\\alice", false)).await, "OK");
    assert_eq!(post(response("CORP\\alice", false)).await, "OK");
    assert_eq!(post(response("CORP\\alice", false)).await, "Throttling");
    assert_eq!(post(response("CORP\\bob", false)).await, "OK");
    assert_eq!(throttled(&broker, "per_subject"), 1);
}

#[test]
fn check_config_locates_bad_rate_limits() {
    let text = r#"[[accounts]]
id = "111122223333"

[rate_limits]
per_source_ip = { rate = 0, burst = 10 }
per_role = { rate = 5, burst = -1 }
per_subject = { rate = 1e9, burst = 2000000 }
"#;
    let err = Config::from_toml(text, "broker.toml", Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "broker.toml:5: rate_limits.per_source_ip.rate must be between 0.001 and 1000000"
        ),
        "{err}"
    );
    assert!(
        err.contains("broker.toml:6: rate_limits.per_role.burst must be 1 to 1000000 (got -1)"),
        "{err}"
    );
    assert!(
        err.contains("broker.toml:7: rate_limits.per_subject.rate"),
        "{err}"
    );
    assert!(
        err.contains("broker.toml:7: rate_limits.per_subject.burst"),
        "{err}"
    );

    for (bad, line, what) in [
        ("per_source_ip = { rate = -3, burst = 10 }", 5, "rate"),
        ("per_source_ip = { rate = nan, burst = 10 }", 5, "rate"),
        ("per_source_ip = { rate = 10, burst = 0 }", 5, "burst"),
        ("per_source_ip = { rate = 10 }", 5, "missing field `burst`"),
        ("per_source_ip = { rate = 10, burst = 1.5 }", 5, "i64"),
        (
            "per_source_ip = { rate = \"fast\", burst = 1 }",
            5,
            "string",
        ),
        (
            "per_ip = { rate = 10, burst = 10 }",
            5,
            "unknown field `per_ip`",
        ),
        ("shared = \"yes\"", 5, "bool"),
    ] {
        let text = format!("[[accounts]]\nid = \"111122223333\"\n\n[rate_limits]\n{bad}\n");
        let err = Config::from_toml(&text, "broker.toml", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("broker.toml:{line}:")),
            "{bad}: {err}"
        );
        assert!(err.contains(what), "{bad}: {err}");
    }

    // Absent: no limits. Present and right: these limits, per replica unless shared.
    let none = Config::from_toml("", "broker.toml", Path::new(".")).unwrap();
    assert_eq!(none.rate_limits, Default::default());
    let text = "[rate_limits]\nper_role = { rate = 0.5, burst = 3 }\nshared = true\n";
    let some = Config::from_toml(text, "broker.toml", Path::new(".")).unwrap();
    let role = some.rate_limits.per_role.unwrap();
    assert_eq!((role.interval_us(), role.burst()), (2_000_000, 3));
    assert!(some.rate_limits.shared);
    assert_eq!(some.rate_limits.per_source_ip, None);
}

/// `POST /authorize` takes a `per_source_ip` token before its body is read: a burst over the
/// limit is answered the authorize API's JSON `Throttling`, and the calling service's signature
/// (valid or not) and the forwarded one are never verified — neither key is noted as used, and
/// the audit line names no caller. Counted by the throttled counter and the requests counter.
#[tokio::test]
async fn a_burst_over_per_source_ip_on_authorize_is_throttled_before_any_verification() {
    let idp = TestIdp::start().await;
    let clock = clock();
    let broker = two_per_address(&idp, &clock).await;
    let alice = Signer::new(ALICE_KEY_ID, ALICE_SECRET, None);
    let gateway = Signer::new(GATEWAY_KEY_ID, GATEWAY_SECRET, None);
    let body = crate::authorize::ask(
        crate::authorize::forwarded(&alice, "GET", "/app-bucket/a.txt"),
        "s3:GetObject",
        "arn:aws:s3:::app-bucket/a.txt",
    );
    // The burst, whatever its answers (unsigned: refused).
    for _ in 0..2 {
        let (status, _, v) = broker.post_json("/authorize", None, &body).await;
        assert_eq!(
            (status, &v["error"]["code"]),
            (403, &serde_json::json!("MissingAuthenticationToken")),
            "{v}"
        );
    }
    // Over it: a valid call, and one whose signature does not match, both throttled.
    let valid = broker.post_json("/authorize", Some(&gateway), &body).await;
    assert_json_throttling(&valid);
    let forged = Signer::new(GATEWAY_KEY_ID, "not-the-gateway-secret", None);
    assert_json_throttling(&broker.post_json("/authorize", Some(&forged), &body).await);
    assert!(
        !used(&broker, GATEWAY_KEY_ID).await,
        "the caller was verified"
    );
    assert!(
        !used(&broker, ALICE_KEY_ID).await,
        "the forwarded request was verified"
    );
    assert_eq!(throttled(&broker, "per_source_ip"), 2);
    assert_eq!(throttled_metrics(&broker, "Authorize"), (2.0, 2.0));
    let lines = audit_lines(&broker).await;
    let refused: Vec<_> = lines
        .iter()
        .filter(|l| l["reason"] == "throttledPerSourceIp")
        .collect();
    assert_eq!(refused.len(), 2, "{lines:?}");
    assert!(refused.iter().any(|l| l["request_id"] == valid.1.as_str()));
    for line in refused {
        assert_eq!(line["action"], "broker:Authorize", "{line}");
        assert_eq!(line["source_ip"], "127.0.0.1", "{line}");
        assert_eq!(line["principal"], serde_json::Value::Null, "{line}");
        assert_eq!(line["access_key_id"], serde_json::Value::Null, "{line}");
    }

    // A second later the bucket has a token again: the same call is verified and decided.
    clock.advance(time::Duration::seconds(1));
    let (status, _, v) = broker.post_json("/authorize", Some(&gateway), &body).await;
    assert_eq!(
        (status, &v["allowed"]),
        (200, &serde_json::json!(true)),
        "{v}"
    );
    assert!(used(&broker, GATEWAY_KEY_ID).await);
}

/// `POST /admin/revoke` and `POST /admin/reload` take a `per_source_ip` token before their body
/// is read: over the limit, the operator's valid revocation is answered the admin API's JSON
/// `Throttling`, verifies no signature and stores nothing; a reload reads nothing. Once the
/// bucket refills, the same revocation is made.
#[tokio::test]
async fn a_burst_over_per_source_ip_on_the_admin_api_is_throttled_before_any_verification() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let clock = clock();
    let broker = broker_with(
        &idp,
        &redis.url(),
        "per_source_ip = { rate = 1, burst = 3 }",
        None,
        clock.clone(),
    )
    .await;
    // The burst: a session minted (the Query API takes from the same bucket), then unsigned
    // calls refused.
    let creds = crate::revocation::exchange(&broker, &crate::revocation::token(&idp, MAIN, None))
        .await
        .unwrap();
    let revocation = serde_json::json!({"kind": "Session", "access_key_id": creds.0});
    let (status, _, v) = broker.post_json("/admin/revoke", None, &revocation).await;
    assert_eq!(status, 403, "{v}");
    let (status, _, v) = broker
        .post_json("/admin/reload", None, &serde_json::json!({}))
        .await;
    assert_eq!(status, 403, "{v}");

    let ops = Signer::new(OPS_KEY_ID, OPS_SECRET, None);
    let keys = redis.keys().await;
    let revoke = broker
        .post_json("/admin/revoke", Some(&ops), &revocation)
        .await;
    assert_json_throttling(&revoke);
    let reload = broker
        .post_json("/admin/reload", Some(&ops), &serde_json::json!({}))
        .await;
    assert_json_throttling(&reload);
    assert!(
        !used(&broker, OPS_KEY_ID).await,
        "the operator was verified"
    );
    assert_eq!(
        redis.keys().await,
        keys,
        "a throttled call wrote to the store"
    );
    assert_eq!(throttled(&broker, "per_source_ip"), 2);
    assert_eq!(throttled_metrics(&broker, "AdminRevoke"), (2.0, 1.0));
    assert_eq!(throttled_metrics(&broker, "AdminReload"), (2.0, 1.0));
    let lines = audit_lines(&broker).await;
    for ((_, id, _), action) in [(&revoke, ""), (&reload, "broker:ReloadConfig")] {
        let line = lines
            .iter()
            .find(|l| l["request_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no audit line for {id}: {lines:?}"));
        assert_eq!(line["reason"], "throttledPerSourceIp", "{line}");
        assert_eq!(line["action"], action, "{line}");
        assert_eq!(line["principal"], serde_json::Value::Null, "{line}");
    }

    // Refilled: the same revocation is verified and made.
    clock.advance(time::Duration::seconds(1));
    let (status, _, v) = broker
        .post_json("/admin/revoke", Some(&ops), &revocation)
        .await;
    assert_eq!(status, 200, "{v}");
    assert!(used(&broker, OPS_KEY_ID).await);
    assert_ne!(redis.keys().await, keys);
}

/// `POST /signin` and `POST /policy/validation` take their `per_source_ip` token before a byte
/// of the body is read: over the limit, a request announcing its body with
/// `Expect: 100-continue` is answered `Throttling` without the broker ever asking for that body
/// (no `100 Continue`); once the bucket refills, the same request is asked for its body.
#[tokio::test]
async fn sign_in_and_policy_validation_are_throttled_before_their_body_is_read() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let idp = TestIdp::start().await;
    let clock = clock();
    let broker = two_per_address(&idp, &clock).await;
    // The burst, refused for what the bodies say.
    for path in ["/signin", "/policy/validation"] {
        let (status, _, v) = broker.post_json(path, None, &serde_json::json!({})).await;
        assert_ne!(v["error"]["code"], "Throttling", "{path}: {status} {v}");
    }
    // The head of the broker's first answer to a request whose body waits to be asked for.
    let first_answer = |path: &'static str| {
        let address = broker.endpoint.strip_prefix("http://").unwrap().to_owned();
        async move {
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: broker\r\nExpect: 100-continue\r\n\
                 Content-Type: application/json\r\nContent-Length: 64\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
                    .await
                    .expect("no answer without the body")
                    .unwrap();
                assert_ne!(n, 0, "closed: {}", String::from_utf8_lossy(&seen));
                seen.extend_from_slice(&buf[..n]);
            }
            String::from_utf8_lossy(&seen).into_owned()
        }
    };
    for (path, status) in [("/signin", "400"), ("/policy/validation", "429")] {
        let head = first_answer(path).await;
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status} ")),
            "{path}: {head}"
        );
    }
    assert_eq!(throttled(&broker, "per_source_ip"), 2);
    let lines = audit_lines(&broker).await;
    for action in ["signin:SignIn", "access-analyzer:ValidatePolicy"] {
        assert!(
            lines
                .iter()
                .any(|l| l["action"] == action && l["reason"] == "throttledPerSourceIp"),
            "{action}: {lines:?}"
        );
    }

    // Refilled: the broker asks for the body.
    clock.advance(time::Duration::seconds(1));
    let head = first_answer("/signin").await;
    assert!(head.starts_with("HTTP/1.1 100 "), "{head}");
}
