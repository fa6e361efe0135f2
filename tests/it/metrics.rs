//! Prometheus metrics and machine logs: the real binary with `[metrics]` and `[log] format =
//! "json"`, a scripted mix of calls through the real AWS SDK, the scrape read by an
//! exposition-format parser (`prometheus-parse`). The counters equal the calls made, per action
//! and outcome as the clients saw them; no label holds a value a request chose; each request is
//! one JSON log line. Store failures are counted per operation (a real Redis killed). Bad
//! `[metrics]` settings are refused by `check-config` with their line, and a metrics address
//! already taken stops the start.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_sts::error::ProvideErrorMetadata as _;
use prometheus_parse::{Sample, Scrape, Value};
use sts_broker::cli::broker::check_config;
use sts_broker::config::Config;
use sts_broker::metrics::Metrics;

use crate::harness::broker::{
    ACCOUNT, ALICE_KEY_ID, ALICE_SECRET, BOB_KEY_ID, BOB_SECRET, DEPLOY_ROLE, OPS_KEY_ID,
    OPS_SECRET, PROD_ROLE, TestBroker, VENDOR_EXTERNAL_ID, VENDOR_ROLE, standard_config,
    sts_client,
};
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;
use crate::harness::signer::Signer;
use crate::serve::{serve_with_metrics, stop, wait_ready};

const BIN: &str = env!("CARGO_BIN_EXE_sts-broker");
const ARWWI: &str = "AssumeRoleWithWebIdentity";
const VENDOR_ACCOUNT: &str = "444455556666";

/// Requests made, by (action, outcome) as the client saw them.
#[derive(Default)]
struct Tally(BTreeMap<(String, String), u64>);

impl Tally {
    fn add(&mut self, action: &str, outcome: &str) {
        *self
            .0
            .entry((action.to_owned(), outcome.to_owned()))
            .or_default() += 1;
    }

    /// The outcome of an SDK call: `success` or the error code the SDK read.
    fn sdk<T, E: aws_sdk_sts::error::ProvideErrorMetadata>(
        &mut self,
        action: &str,
        result: Result<T, E>,
    ) -> (Option<T>, String) {
        let (value, outcome) = match result {
            Ok(v) => (Some(v), "success".to_owned()),
            Err(e) => (None, e.code().expect("an AWS error code").to_owned()),
        };
        self.add(action, &outcome);
        (value, outcome)
    }

    fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

/// The samples of `metric` as (sorted label pairs) → value.
fn series(scrape: &Scrape, metric: &str) -> BTreeMap<Vec<(String, String)>, f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .map(|s| (labels(s), scalar(s)))
        .collect()
}

fn labels(s: &Sample) -> Vec<(String, String)> {
    let mut l: Vec<_> = s
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    l.sort();
    l
}

fn scalar(s: &Sample) -> f64 {
    match &s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{} is not a scalar: {other:?}", s.metric),
    }
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut l: Vec<_> = items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    l.sort();
    l
}

#[tokio::test]
async fn counters_equal_the_calls_made_and_labels_hold_no_request_values() {
    let idp = TestIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = standard_config(dir.path(), &idp, "memory://", 0)
        + "\n[log]\nformat = \"json\"\n\n[metrics]\nlisten = \"127.0.0.1:0\"\n"
        // Four sessions of the deploy role, then `Throttling` (refilled after 1,000 s).
        + "\n[rate_limits]\nper_role = { rate = 0.001, burst = 4 }\n";
    let config = dir.path().join("broker.toml");
    std::fs::write(&config, toml).unwrap();
    let server = serve_with_metrics(config.to_str().unwrap());
    let endpoint = server.endpoint.clone();
    let metrics = server.metrics.clone().unwrap();

    let mut made = Tally::default();
    for status in wait_ready(&endpoint).await {
        made.add(
            "readyz",
            if status == 200 {
                "success"
            } else {
                "ServiceUnavailable"
            },
        );
    }

    // Values a request chooses, none of which may become a label.
    let marker = uuid::Uuid::new_v4().simple().to_string();
    let subject = format!("repo:octo-org/app:ref:refs/heads/{marker}");
    let session = format!("sess-{marker}");
    let mut secrets: Vec<String> = Vec::new();
    let mut access_key_ids: Vec<String> = Vec::new();

    let sts = sts_client(&endpoint, None);
    let mut minted = Vec::new();
    for i in 0..3 {
        let token = idp.token("rsa-1", &idp.claims(&subject));
        let (out, outcome) = made.sdk(
            ARWWI,
            sts.assume_role_with_web_identity()
                .role_arn(DEPLOY_ROLE)
                .role_session_name(format!("{session}-{i}"))
                .web_identity_token(&token)
                .send()
                .await,
        );
        assert_eq!(outcome, "success");
        let creds = out.unwrap().credentials().unwrap().clone();
        secrets.extend([
            token,
            creds.secret_access_key().to_owned(),
            creds.session_token().to_owned(),
        ]);
        access_key_ids.push(creds.access_key_id().to_owned());
        minted.push(creds);
    }

    // Refused tokens: tampered signature, not a token at all; a trust policy that says no.
    let good = idp.token("rsa-1", &idp.claims(&subject));
    let at = good.rfind('.').unwrap() + 10;
    let swapped = if &good[at..=at] == "A" { "B" } else { "A" };
    let tampered = format!("{}{swapped}{}", &good[..at], &good[at + 1..]);
    for token in [tampered.as_str(), "not-a-token"] {
        let (_, outcome) = made.sdk(
            ARWWI,
            sts.assume_role_with_web_identity()
                .role_arn(DEPLOY_ROLE)
                .role_session_name(format!("{session}-bad"))
                .web_identity_token(token)
                .send()
                .await,
        );
        assert_eq!(outcome, "InvalidIdentityToken");
    }
    let (_, outcome) = made.sdk(
        ARWWI,
        sts.assume_role_with_web_identity()
            .role_arn(PROD_ROLE)
            .role_session_name(format!("{session}-prod"))
            .web_identity_token(&good)
            .send()
            .await,
    );
    assert_eq!(outcome, "AccessDenied");
    secrets.extend([good, tampered]);

    let as_creds = |c: &aws_sdk_sts::types::Credentials| {
        sts_client(
            &endpoint,
            Some(Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_owned()),
                None,
                "test",
            )),
        )
    };
    for creds in &minted[..2] {
        let (_, outcome) = made.sdk(
            "GetCallerIdentity",
            as_creds(creds).get_caller_identity().send().await,
        );
        assert_eq!(outcome, "success");
    }

    // Sessions of another account (a role there) and of an IAM user.
    let bob = sts_client(
        &endpoint,
        Some(Credentials::new(BOB_KEY_ID, BOB_SECRET, None, None, "test")),
    );
    let (out, outcome) = made.sdk(
        "AssumeRole",
        bob.assume_role()
            .role_arn(VENDOR_ROLE)
            .role_session_name(format!("{session}-vendor"))
            .external_id(VENDOR_EXTERNAL_ID)
            .send()
            .await,
    );
    assert_eq!(outcome, "success");
    access_key_ids.push(
        out.unwrap()
            .credentials()
            .unwrap()
            .access_key_id()
            .to_owned(),
    );
    let alice = sts_client(
        &endpoint,
        Some(Credentials::new(
            ALICE_KEY_ID,
            ALICE_SECRET,
            None,
            None,
            "test",
        )),
    );
    let (out, outcome) = made.sdk("GetSessionToken", alice.get_session_token().send().await);
    assert_eq!(outcome, "success");
    access_key_ids.push(
        out.unwrap()
            .credentials()
            .unwrap()
            .access_key_id()
            .to_owned(),
    );
    access_key_ids.extend([ALICE_KEY_ID.to_owned(), BOB_KEY_ID.to_owned()]);
    secrets.extend([ALICE_SECRET.to_owned(), BOB_SECRET.to_owned()]);

    // Actions nobody serves: counted under one fixed name, never their own.
    let http = reqwest::Client::new();
    for _ in 0..2 {
        let r = http
            .get(format!(
                "{endpoint}/?Action=Exfiltrate{marker}&Version=2011-06-15"
            ))
            .send()
            .await
            .unwrap();
        let body = r.text().await.unwrap();
        let code = body
            .split("<Code>")
            .nth(1)
            .and_then(|rest| rest.split("</Code>").next())
            .unwrap();
        assert_eq!(code, "InvalidAction");
        made.add("unknown", code);
    }

    // The deploy role's fourth session takes its last token; the fifth is throttled. (Before
    // the revocation below, which also ends every session of the same token.)
    for want in ["success", "Throttling"] {
        let token = idp.token("rsa-1", &idp.claims(&subject));
        let (_, outcome) = made.sdk(
            ARWWI,
            sts.assume_role_with_web_identity()
                .role_arn(DEPLOY_ROLE)
                .role_session_name(format!("{session}-last"))
                .web_identity_token(&token)
                .send()
                .await,
        );
        assert_eq!(outcome, want);
        secrets.push(token);
    }

    // An operator revokes the third session; its next call is refused.
    let url = format!("{endpoint}/admin/revoke");
    let body =
        serde_json::json!({"kind": "Session", "access_key_id": access_key_ids[2]}).to_string();
    let content_type = ("content-type", "application/json");
    let mut request = http
        .post(&url)
        .header(content_type.0, content_type.1)
        .body(body.clone());
    for (n, v) in Signer::new(OPS_KEY_ID, OPS_SECRET, None).sign(
        "sts",
        "POST",
        &url,
        &[content_type],
        body.as_bytes(),
    ) {
        request = request.header(n, v);
    }
    assert_eq!(request.send().await.unwrap().status(), 200);
    made.add("AdminRevoke", "success");
    let (_, outcome) = made.sdk(
        "GetCallerIdentity",
        as_creds(&minted[2]).get_caller_identity().send().await,
    );
    assert_ne!(outcome, "success");

    // The scrape.
    let answer = http.get(format!("{metrics}/metrics")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = answer.text().await.unwrap();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    assert_eq!(
        http.get(format!("{metrics}/other"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // Requests: exactly the calls made, per action and outcome.
    let requests: BTreeMap<(String, String), u64> = series(&scrape, "sts_broker_requests_total")
        .into_iter()
        .map(|(l, v)| {
            assert_eq!(l.len(), 2, "{l:?}");
            let get = |k: &str| l.iter().find(|(n, _)| n == k).unwrap().1.clone();
            ((get("action"), get("outcome")), v as u64)
        })
        .collect();
    assert_eq!(requests, made.0, "{text}");

    // The latency histogram counts the same requests, per action.
    let mut per_action: BTreeMap<String, u64> = BTreeMap::new();
    for ((action, _), n) in &made.0 {
        *per_action.entry(action.clone()).or_default() += n;
    }
    let histograms: Vec<&Sample> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "sts_broker_request_duration_seconds")
        .collect();
    assert_eq!(histograms.len(), per_action.len(), "{text}");
    let mut histogram_total = 0;
    for h in histograms {
        let action = h.labels.get("action").unwrap();
        let Value::Histogram(buckets) = &h.value else {
            panic!("{h:?}")
        };
        assert!(
            buckets.windows(2).all(|w| w[0].count <= w[1].count),
            "cumulative"
        );
        let inf = buckets.last().unwrap();
        assert!(inf.less_than.is_infinite());
        assert_eq!(inf.count as u64, per_action[action], "{action}");
        histogram_total += inf.count as u64;
    }
    assert_eq!(histogram_total, made.total());
    let counts = series(&scrape, "sts_broker_request_duration_seconds_count");
    assert_eq!(counts.values().sum::<f64>() as u64, made.total());

    // Sessions issued, per action and account of the role or user.
    let issued = series(&scrape, "sts_broker_sessions_issued_total");
    let want: BTreeMap<_, _> = [
        (pairs(&[("action", ARWWI), ("role_account", ACCOUNT)]), 4.0),
        (
            pairs(&[("action", "AssumeRole"), ("role_account", VENDOR_ACCOUNT)]),
            1.0,
        ),
        (
            pairs(&[("action", "GetSessionToken"), ("role_account", ACCOUNT)]),
            1.0,
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(issued, want);

    // One key set fetch from the provider, named as IAM names it.
    let fetches = series(&scrape, "sts_broker_jwks_fetches_total");
    assert_eq!(idp.jwks_hits(), 1);
    for result in ["success", "timeout", "http_error", "invalid"] {
        let n = fetches[&pairs(&[("provider", "127.0.0.1/idp"), ("result", result)])];
        assert_eq!(n, if result == "success" { 1.0 } else { 0.0 }, "{result}");
    }
    assert_eq!(fetches.len(), 4);

    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        series(&scrape, "sts_broker_build_info"),
        [(pairs(&[("version", version)]), 1.0)]
            .into_iter()
            .collect()
    );
    let revocations = series(&scrape, "sts_broker_revocations_total");
    assert_eq!(revocations[&pairs(&[("kind", "session")])], 1.0);
    assert_eq!(revocations.values().sum::<f64>(), 1.0);
    let store_errors = series(&scrape, "sts_broker_store_errors_total");
    assert!(store_errors.contains_key(&pairs(&[("operation", "put_session")])));
    assert!(store_errors.values().all(|n| *n == 0.0));
    let throttled = series(&scrape, "sts_broker_throttled_total");
    let want: BTreeMap<_, _> = [
        (pairs(&[("limit", "per_role")]), 1.0),
        (pairs(&[("limit", "per_source_ip")]), 0.0),
        (pairs(&[("limit", "per_subject")]), 0.0),
    ]
    .into_iter()
    .collect();
    assert_eq!(throttled, want);
    let reloads = series(&scrape, "sts_broker_config_reloads_total");
    assert_eq!(reloads.len(), 2);
    assert!(reloads.values().all(|n| *n == 0.0));

    // No label, and nothing else in the scrape, holds what a request chose.
    for s in &scrape.samples {
        for (k, v) in s.labels.iter() {
            for value in [k, v] {
                assert!(!value.contains(&marker), "{}: {k}={v}", s.metric);
                assert!(!value.contains("Exfiltrate"), "{}: {k}={v}", s.metric);
                for id in &access_key_ids {
                    assert!(!value.contains(id.as_str()), "{}: {k}={v}", s.metric);
                }
            }
        }
    }
    assert!(!text.contains(&marker));
    for id in &access_key_ids {
        assert!(!text.contains(id.as_str()));
    }

    // The log: one JSON object per line, one `sts_broker::request` line per request, no secret.
    let log = stop(server);
    let mut logged = Tally::default();
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v.is_object(), "{line}");
        if v["target"] == "sts_broker::request" {
            assert!(v["latency_ms"].is_f64(), "{line}");
            assert!(v["status"].is_u64(), "{line}");
            logged.add(
                v["action"].as_str().unwrap(),
                v["outcome"].as_str().unwrap(),
            );
        }
    }
    assert_eq!(logged.0, made.0);
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "a secret reached the log");
    }
    // A refusal's message (which names the action asked for) is logged at debug only.
    for line in log.lines().filter(|l| !l.contains(r#""level":"DEBUG""#)) {
        assert!(
            !line.contains("Exfiltrate"),
            "an unknown action reached the log: {line}"
        );
    }
}

/// The broker in-process on a real Redis that then dies: the session that cannot be stored is
/// `ServiceUnavailable`, `/readyz` turns 503, and the store's failures are counted per
/// operation on the metrics listener the library serves.
#[tokio::test]
async fn store_failures_are_counted_per_operation() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let broker = TestBroker::start(&idp, &redis.url()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = format!("http://{}/metrics", listener.local_addr().unwrap());
    let registry = Arc::new(Metrics::new(broker.live.clone()));
    tokio::spawn(sts_broker::metrics::serve(
        listener,
        registry,
        std::future::pending(),
    ));
    let scrape = || async {
        let text = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
        Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
    };
    let sub = "repo:octo-org/app:ref:refs/heads/main";
    let assume = || async {
        broker
            .sts()
            .assume_role_with_web_identity()
            .role_arn(DEPLOY_ROLE)
            .role_session_name("store-down")
            .web_identity_token(idp.token("rsa-1", &idp.claims(sub)))
            .send()
            .await
    };
    assume().await.unwrap();
    let before = scrape().await;
    let errors = series(&before, "sts_broker_store_errors_total");
    assert_eq!(errors.len(), sts_broker::store::Operation::ALL.len());
    assert!(errors.values().all(|n| *n == 0.0), "{errors:?}");

    drop(redis);
    let refused = assume().await.unwrap_err();
    assert_eq!(refused.code(), Some("ServiceUnavailable"));
    let ready = broker
        .http()
        .get(format!("{}/readyz", broker.endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);

    let after = scrape().await;
    let errors = series(&after, "sts_broker_store_errors_total");
    assert_eq!(errors[&pairs(&[("operation", "put_session")])], 1.0);
    assert_eq!(errors[&pairs(&[("operation", "ping")])], 1.0);
    let requests = series(&after, "sts_broker_requests_total");
    for (action, outcome, n) in [
        (ARWWI, "success", 1.0),
        (ARWWI, "ServiceUnavailable", 1.0),
        ("readyz", "ServiceUnavailable", 1.0),
    ] {
        assert_eq!(
            requests[&pairs(&[("action", action), ("outcome", outcome)])],
            n,
            "{action} {outcome}"
        );
    }
    let issued = series(&after, "sts_broker_sessions_issued_total");
    assert_eq!(
        issued.values().sum::<f64>(),
        1.0,
        "a session not stored is not issued"
    );
}

/// Writes `toml` as `broker.toml` in a fresh folder and runs `check-config` on it: its stderr.
fn check(toml: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broker.toml");
    std::fs::write(&path, toml).unwrap();
    let out = check_config(Config::load(&path));
    assert_eq!(out.status, 1, "{toml}");
    (path.display().to_string(), out.stderr)
}

#[test]
fn bad_metrics_and_log_settings_are_refused_with_their_line() {
    let (file, err) = check(
        "[[accounts]]\nid = \"111122223333\"\n\n[metrics]\n# where Prometheus scrapes\nlisten = \"localhost:9464\"\n",
    );
    assert!(
        err.contains(&format!(
            "{file}:6: [metrics] listen \"localhost:9464\" is not an address:port"
        )),
        "{err}"
    );
    let (file, err) =
        check("[server]\nlisten = \"127.0.0.1:4566\"\n[metrics]\nlisten = \"127.0.0.1:4566\"\n");
    assert!(
        err.contains(&format!(
            "{file}:4: [metrics] listen 127.0.0.1:4566 is also [server] listen"
        )),
        "{err}"
    );
    let (file, err) = check("[metrics]\nlisten = \"127.0.0.1:0\"\npath = \"/stats\"\n");
    assert!(
        err.contains(&format!("{file}:3: unknown field `path`")),
        "{err}"
    );
    let (file, err) = check("[log]\nformat = \"yaml\"\n");
    assert!(
        err.contains(&format!("{file}:2: unknown variant `yaml`")),
        "{err}"
    );
    let (_, err) = check("[metrics]\n");
    assert!(err.contains("missing field `listen`"), "{err}");

    let ok = Config::from_toml(
        "[log]\nformat = \"json\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
        "broker.toml",
        std::path::Path::new("."),
    )
    .unwrap();
    assert_eq!(ok.log_format, sts_broker::config::LogFormat::Json);
    assert_eq!(ok.metrics_listen, Some("127.0.0.1:0".parse().unwrap()));
    let default = Config::from_toml("", "broker.toml", std::path::Path::new(".")).unwrap();
    assert_eq!(default.log_format, sts_broker::config::LogFormat::Text);
    assert_eq!(default.metrics_listen, None);
}

/// A metrics address another process holds is a start error naming it: the broker exits
/// instead of serving without its metrics.
#[test]
fn a_metrics_address_in_use_stops_the_start() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = held.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broker.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[keys]\ndir = \"keys\"\n[metrics]\nlisten = \"{address}\"\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A hang guard only: the broker exits as soon as the bind fails.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the broker kept running without its metrics listener");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {address} ([metrics] listen)")),
        "{stderr}"
    );
    drop(held);
}
