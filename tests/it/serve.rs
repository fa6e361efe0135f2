//! The real binary: `serve` on the dev configuration, a `dev-token`, a credential through the
//! SDK, nothing secret in the logs, and a graceful exit on SIGTERM.

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sts-broker");

/// The real binary serving a configuration that listens on `127.0.0.1:0`: the kernel picks
/// the port as the broker binds, and the test reads it from the broker's own "listening" log
/// line, so no port is chosen (and released) before the broker holds it.
pub(crate) struct Server {
    pub child: Child,
    pub endpoint: String,
    /// The metrics listener's `http://address`, when the test waited for it.
    pub metrics: Option<String>,
    /// Everything the broker wrote to stderr, once it has exited.
    pub log: Option<std::thread::JoinHandle<String>>,
}

impl Drop for Server {
    /// A test that fails before [`stop`] must not leave its broker running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

const MAIN_LISTENING: &str = "sts-broker listening";
const METRICS_LISTENING: &str = "metrics listening";

pub(crate) fn serve(config: &str) -> Server {
    serve_listening(config, false, &[], None)
}

/// As [`serve`], also waiting for the metrics listener's address.
pub(crate) fn serve_with_metrics(config: &str) -> Server {
    serve_listening(config, true, &[], None)
}

/// As [`serve`], with these environment variables set for the broker.
pub(crate) fn serve_with_env(config: &str, env: &[(&str, &str)]) -> Server {
    serve_listening(config, false, env, None)
}

/// A "listening" line's message and address, in either log format.
fn listening(line: &str) -> Option<(&'static str, String)> {
    let (message, address) = if line.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        (
            v["message"].as_str()?.to_owned(),
            v["address"].as_str()?.to_owned(),
        )
    } else {
        let address = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("address="))?;
        (line.to_owned(), address.to_owned())
    };
    [MAIN_LISTENING, METRICS_LISTENING]
        .into_iter()
        .find(|m| message.contains(m))
        .map(|m| (m, address))
}

/// `hold`: once the broker has said where it listens, its stderr is not read again until
/// something is sent on (or the sender of) `hold`.
fn serve_listening(
    config: &str,
    metrics: bool,
    env: &[(&str, &str)],
    hold: Option<std::sync::mpsc::Receiver<()>>,
) -> Server {
    let mut child = Command::new(BIN)
        .args(["serve", "--config", config])
        .envs(env.iter().copied())
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (address, found) = std::sync::mpsc::channel();
    let log = std::thread::spawn(move || {
        let mut all = String::new();
        let mut listening_lines = 0;
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(listening) = listening(&line) {
                let _ = address.send(listening);
                listening_lines += 1;
                if listening_lines == 1 + usize::from(metrics)
                    && let Some(hold) = &hold
                {
                    let _ = hold.recv();
                }
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let (mut endpoint, mut metrics_endpoint) = (None, None);
    while endpoint.is_none() || (metrics && metrics_endpoint.is_none()) {
        // A hang guard only: the broker reports its addresses as soon as it listens.
        let (message, addr) = found
            .recv_timeout(Duration::from_secs(60))
            .expect("the broker did not report the addresses it listens on");
        let slot = if message == MAIN_LISTENING {
            &mut endpoint
        } else {
            &mut metrics_endpoint
        };
        *slot = Some(format!("http://{addr}"));
    }
    Server {
        child,
        endpoint: endpoint.unwrap(),
        metrics: metrics_endpoint,
        log: Some(log),
    }
}

/// Polls `/readyz` until it answers 200; returns the answers seen by status.
pub(crate) async fn wait_ready(endpoint: &str) -> Vec<u16> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        if let Ok(r) = http.get(format!("{endpoint}/readyz")).send().await {
            seen.push(r.status().as_u16());
            if r.status().is_success() {
                return seen;
            }
        }
        assert!(Instant::now() < deadline, "broker did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The dev configuration written into `dir` with `extra` appended: listening on a port the
/// kernel picks, its keys in `dir/keys`.
fn dev_config(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let dev = include_str!("../../config/dev.toml")
        .replace("listen = \"127.0.0.1:4566\"", "listen = \"127.0.0.1:0\"")
        .replace("dir = \"../keys\"", "dir = \"keys\"")
        + extra;
    let config = dir.join("dev.toml");
    std::fs::write(&config, dev).unwrap();
    config
}

/// Sends SIGTERM, checks the broker exits 0, and returns its log (plain text: stderr is a
/// pipe, not a terminal, so no colour sequence).
pub(crate) fn stop(mut server: Server) -> String {
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
    let log = server.log.take().unwrap().join().unwrap();
    assert!(
        !log.contains('\u{1b}'),
        "colour sequences in a piped log: {log}"
    );
    log
}

#[tokio::test]
async fn serve_dev_config_mints_with_a_dev_token_and_exits_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dev_config(dir.path(), "");
    let config = config.to_str().unwrap();

    let server = serve(config);
    let endpoint = server.endpoint.clone();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = http.get(format!("{endpoint}/readyz")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(Instant::now() < deadline, "broker did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Keys were generated on first start, readable by the owner only.
    let keys: Vec<_> = std::fs::read_dir(dir.path().join("keys"))
        .unwrap()
        .collect();
    assert_eq!(keys.len(), 2, "session key and dev issuer key");

    let out = Command::new(BIN)
        .args([
            "dev-token",
            "--config",
            config,
            "--sub",
            "dev:alice",
            "--claim",
            "team=blue",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    let sts = crate::harness::broker::sts_client(&endpoint, None);
    let ok = sts
        .assume_role_with_web_identity()
        .role_arn("arn:aws:iam::000000000000:role/dev-role")
        .role_session_name("alice")
        .web_identity_token(&token)
        .send()
        .await
        .unwrap();
    let creds = ok.credentials().unwrap();
    assert_eq!(
        ok.assumed_role_user().unwrap().arn(),
        "arn:aws:sts::000000000000:assumed-role/dev-role/alice"
    );
    // The discovery document and JWKS are served for other verifiers.
    let jwks: serde_json::Value = http
        .get(format!("{endpoint}/dev-issuer/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["alg"], "ES256");

    let wrong = Command::new(BIN)
        .args(["dev-token", "--config", config, "--sub", "intruder"])
        .output()
        .unwrap();
    let wrong = String::from_utf8(wrong.stdout).unwrap().trim().to_owned();
    let denied = sts
        .assume_role_with_web_identity()
        .role_arn("arn:aws:iam::000000000000:role/dev-role")
        .role_session_name("intruder")
        .web_identity_token(&wrong)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&denied),
        Some("AccessDenied")
    );

    let log = stop(server);
    assert!(log.contains("DEV ISSUER ENABLED"), "{log}");
    assert!(log.contains("session issued"), "{log}");
    for secret in [
        token.as_str(),
        wrong.as_str(),
        creds.secret_access_key(),
        creds.session_token(),
    ] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
}

#[test]
fn dev_token_needs_a_config_that_enables_the_dev_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "[[accounts]]\nid = \"111122223333\"\n").unwrap();
    let out = Command::new(BIN)
        .args([
            "dev-token",
            "--config",
            config.to_str().unwrap(),
            "--sub",
            "x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not enable [dev_issuer]"));
    assert!(out.stdout.is_empty());
}

#[test]
fn keys_generate_adds_a_newer_key() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let out = Command::new(BIN)
            .args(["keys", "generate", "--dir", dir.path().to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let first = run();
    let second = run();
    assert_ne!(first, second);
    let keys = sts_broker::keys::SessionKeys::load(dir.path()).unwrap();
    assert_eq!(keys.ids().count(), 2);
}

/// The real binary at debug level, fed a SAML response that succeeds and ones that fail: the
/// posted base64, signature values and the NameIDs of refused responses never reach its log;
/// an accepted NameID appears only as the audit `subject` of the issued session (as CloudTrail
/// records it).
#[tokio::test]
async fn saml_responses_never_reach_the_log() {
    saml_responses_never_reach_a_log_in("text").await;
}

/// The same with `[log] format = "json"`: every line is one JSON object, and each request is
/// one `sts_broker::request` line with its id, action, outcome, status and latency.
#[tokio::test]
async fn saml_responses_never_reach_the_json_log() {
    let log = saml_responses_never_reach_a_log_in("json").await;
    // libxmlsec (C) reports a failed signature check on the process's stderr itself, outside
    // the broker's logger: those lines are its own (`func=xmlSec...`) and hold no document.
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.starts_with("func=xmlSec"))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not one JSON object ({e}): {l}"));
            assert!(v.is_object(), "not one JSON object: {l}");
            v
        })
        .collect();
    let requests: Vec<_> = lines
        .iter()
        .filter(|l| l["target"] == "sts_broker::request")
        .collect();
    let saml: Vec<_> = requests
        .iter()
        .filter(|l| l["action"] == "AssumeRoleWithSAML")
        .collect();
    assert_eq!(saml.len(), 5, "one line per SAML request: {requests:?}");
    let outcomes: Vec<&str> = saml
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "success").count(), 1);
    assert!(
        outcomes
            .iter()
            .all(|o| ["success", "InvalidIdentityToken", "AccessDenied"].contains(o)),
        "{outcomes:?}"
    );
    for line in &requests {
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "request answered");
        assert_eq!(line["request_id"].as_str().unwrap().len(), 36, "{line:?}");
        assert!(line["status"].as_u64().is_some(), "{line:?}");
        assert!(line["latency_ms"].as_f64().unwrap() >= 0.0, "{line:?}");
    }
    let ids: std::collections::HashSet<_> = requests.iter().map(|l| &l["request_id"]).collect();
    assert_eq!(ids.len(), requests.len(), "one line per request");
}

/// Runs the SAML secrecy checks on a broker logging in `format`; returns its log.
async fn saml_responses_never_reach_a_log_in(format: &str) -> String {
    use crate::harness::saml::{Sign, TestSamlIdp, b64};
    const PROVIDER: &str = "arn:aws:iam::111122223333:saml-provider/corp";
    const ROLE: &str = "arn:aws:iam::111122223333:role/saml";
    let idp = TestSamlIdp::new();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("saml.toml");
    std::fs::write(
        &config,
        format!(
            r#"[server]
listen = "127.0.0.1:0"
[log]
format = "{format}"
[store]
url = "memory://"
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
trust_policy = '{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Principal": {{"Federated": "{PROVIDER}"}}, "Action": "sts:AssumeRoleWithSAML"}}]}}'
"#,
            idp.metadata_path().display()
        ),
    )
    .unwrap();
    let server = serve(config.to_str().unwrap());
    let endpoint = server.endpoint.clone();
    wait_ready(&endpoint).await;
    let sts = crate::harness::broker::sts_client(&endpoint, None);
    let now = time::OffsetDateTime::now_utc();
    let unique = |what: &str| format!("CORP\\{what}-{}", uuid::Uuid::new_v4().simple());

    let mut good = idp.response(now, ROLE, PROVIDER);
    good.name_id = unique("accepted");
    let good_xml = idp.signed_xml(&good);
    // Refused: tampered after signing, signed by another key, unsigned, for another role.
    let mut refused = Vec::new();
    let mut tampered = idp.response(now, ROLE, PROVIDER);
    tampered.name_id = unique("tampered");
    let xml = idp.signed_xml(&tampered);
    refused.push((
        xml.replace("alice@corp.example", "root@corp.example"),
        tampered.name_id.clone(),
    ));
    for change in [
        (|r: &mut crate::harness::saml::SamlResponse| r.wrong_key = true) as fn(&mut _),
        |r| r.sign = Sign::None,
        |r| r.attributes[0].1 = vec![format!("arn:aws:iam::111122223333:role/other,{PROVIDER}")],
    ] {
        let mut r = idp.response(now, ROLE, PROVIDER);
        r.name_id = unique("refused");
        change(&mut r);
        refused.push((idp.signed_xml(&r), r.name_id.clone()));
    }

    let ok = sts
        .assume_role_with_saml()
        .role_arn(ROLE)
        .principal_arn(PROVIDER)
        .saml_assertion(b64(&good_xml))
        .send()
        .await
        .unwrap();
    let creds = ok.credentials().unwrap();
    for (xml, _) in &refused {
        let err = sts
            .assume_role_with_saml()
            .role_arn(ROLE)
            .principal_arn(PROVIDER)
            .saml_assertion(b64(xml))
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(matches!(
            aws_sdk_sts::error::ProvideErrorMetadata::code(&err),
            Some("InvalidIdentityToken" | "AccessDenied")
        ));
    }

    let log = stop(server);
    assert!(log.contains("session issued"), "{log}");
    assert!(log.contains("SAML response refused"), "{log}");
    let escaped = |s: &str| s.replace('\\', "\\\\");
    let signature_values = |xml: &str| -> Vec<String> {
        xml.split("<ds:SignatureValue>")
            .skip(1)
            .map(|s| s.split("</ds:SignatureValue>").next().unwrap().to_owned())
            .flat_map(|v| {
                let compact: String = v.split_whitespace().collect();
                let first = v.split_whitespace().next().unwrap_or_default().to_owned();
                [compact, first]
            })
            .collect()
    };
    for (xml, name_id) in refused
        .iter()
        .map(|(x, n)| (x, n))
        .chain([(&good_xml, &good.name_id)])
    {
        let encoded = b64(xml);
        assert!(!log.contains(&encoded), "a posted response reached the log");
        assert!(
            !log.contains(&encoded[..64]),
            "a posted response reached the log"
        );
        for sig in signature_values(xml) {
            assert!(!log.contains(&sig), "a signature value reached the log");
        }
        if name_id != &good.name_id {
            assert!(
                !log.contains(name_id.as_str()) && !log.contains(&escaped(name_id)),
                "a refused NameID reached the log"
            );
        }
    }
    for line in log
        .lines()
        .filter(|l| l.contains(&escaped(&good.name_id)) || l.contains(&good.name_id))
    {
        assert!(line.contains("session issued"), "{line}");
    }
    for secret in [creds.secret_access_key(), creds.session_token()] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
    log
}

/// Whoever reads the broker's stderr may stop reading (a stalled log collector, a full pipe):
/// requests are still answered, each in good time; the lines waiting stay small whatever a
/// request sends (a method as long as a request's head); the service log lines that found no
/// room are dropped and counted in `sts_broker_log_lines_dropped_total`; stopped while stderr
/// is still unread, with audit lines of its own waiting to be written there, the broker exits 0
/// within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_reader_that_stops_reading_holds_up_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let config = dev_config(
        dir.path(),
        "\n[metrics]\nlisten = \"127.0.0.1:0\"\n[audit]\noutput = \"stderr\"\n",
    );
    let (resume, hold) = std::sync::mpsc::channel();
    // `RUST_LOG=debug`: several lines per request, far more than a pipe holds.
    let server = serve_listening(config.to_str().unwrap(), true, &[], Some(hold));
    let http = reqwest::Client::new();
    let started = Instant::now();
    // Requests whose method is 300 KB (hyper reads heads up to about 400 KB): were it logged
    // whole, the lines waiting would hold hundreds of MB.
    let long = reqwest::Method::from_bytes("X".repeat(300_000).as_bytes()).unwrap();
    for _ in 0..400 {
        let answer = http
            .request(long.clone(), format!("{}/healthz", server.endpoint))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("answered with stderr unread");
        assert!(answer.status().is_client_error(), "{}", answer.status());
    }
    let rss = std::fs::read_to_string(format!("/proc/{}/status", server.child.id()))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches(" kB").parse::<u64>().ok())
        .unwrap();
    assert!(rss < 200 * 1024, "{rss} kB resident with stderr unread");
    // More requests than the log's queue holds lines (16,384), each logging at least one.
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (http, endpoint) = (http.clone(), server.endpoint.clone());
            tokio::spawn(async move {
                for _ in 0..5000 {
                    let asked = Instant::now();
                    let status = http
                        .get(format!("{endpoint}/healthz"))
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await
                        .expect("answered with stderr unread")
                        .status();
                    assert_eq!(status, 200);
                    assert!(
                        asked.elapsed() < Duration::from_secs(2),
                        "a request took {:?} with stderr unread",
                        asked.elapsed()
                    );
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap();
    }
    let scrape = http
        .get(format!("{}/metrics", server.metrics.as_ref().unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dropped: u64 = scrape
        .lines()
        .find_map(|l| l.strip_prefix("sts_broker_log_lines_dropped_total "))
        .expect("the dropped lines are counted")
        .trim()
        .parse()
        .unwrap();
    assert!(dropped > 0, "no line dropped in {:?}", started.elapsed());
    // Refused calls, each with an audit line for stderr: the audit log's writer is now stuck
    // on the full pipe too.
    for _ in 0..20 {
        let answer = http
            .post(&server.endpoint)
            .form(&[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")])
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("answered with stderr unread");
        assert!(answer.status().is_client_error(), "{}", answer.status());
    }
    // Stopped with its stderr still unread: it waits a moment for its last lines, then exits 0.
    let mut server = server;
    let stopping = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = loop {
        if let Some(exit) = server.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(30),
            "the broker did not exit with its stderr unread"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "exit took {:?}",
        stopping.elapsed()
    );
    drop(resume);
    let log = server.log.take().unwrap().join().unwrap();
    assert!(log.contains("request answered"), "{log}");
}

/// Connections are spread over the serving threads (`TOKIO_WORKER_THREADS`, see
/// `src/workers.rs`): with two, each serves requests, as the CPU time the kernel counts for it
/// shows (`/proc/PID/task/TID/schedstat`), and every request is answered.
#[tokio::test]
async fn connections_are_served_on_every_worker_thread() {
    let dir = tempfile::tempdir().unwrap();
    let config = dev_config(dir.path(), "");
    let server = serve_with_env(config.to_str().unwrap(), &[("TOKIO_WORKER_THREADS", "2")]);
    wait_ready(&server.endpoint).await;
    let pid = server.child.id();
    let before = worker_run_times(pid);
    let names: Vec<&String> = before.keys().collect();
    assert_eq!(names, ["sts-worker-1", "sts-worker-2"]);
    // One connection per client: six of them, three for each thread.
    let callers: Vec<_> = (0..6)
        .map(|_| {
            let endpoint = server.endpoint.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                for _ in 0..300 {
                    let answer = http.get(format!("{endpoint}/healthz")).send().await;
                    assert_eq!(answer.unwrap().status(), 200);
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap();
    }
    assert_every_worker_ran(&before, &worker_run_times(pid), "1,800 HTTP/1.1 requests");
    // One HTTP/2 connection with many requests at once: they run on every thread too.
    let before = worker_run_times(pid);
    let http2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    for _ in 0..30 {
        let answers = (0..30).map(|_| http2.get(format!("{}/healthz", server.endpoint)).send());
        for answer in futures_util::future::join_all(answers).await {
            let answer = answer.unwrap();
            assert_eq!(answer.version(), reqwest::Version::HTTP_2);
            assert_eq!(answer.status(), 200);
        }
    }
    assert_every_worker_ran(&before, &worker_run_times(pid), "900 HTTP/2 requests");
    stop(server);
}

fn assert_every_worker_ran(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
    served: &str,
) {
    for (name, ran) in after {
        // Idle, a worker's runtime sleeps: it runs no more than a few microseconds.
        let grew = Duration::from_nanos(ran - before[name]);
        assert!(
            grew >= Duration::from_millis(1),
            "{name} ran {grew:?} while {served} were served"
        );
    }
}

/// The CPU time (ns) each `sts-worker-N` thread of `pid` has run, by thread name.
fn worker_run_times(pid: u32) -> std::collections::BTreeMap<String, u64> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| {
            let path = task.unwrap().path();
            let name = std::fs::read_to_string(path.join("comm")).ok()?;
            let name = name.trim();
            name.starts_with("sts-worker-").then(|| {
                let stat = std::fs::read_to_string(path.join("schedstat")).unwrap();
                let ran = stat.split_whitespace().next().unwrap().parse().unwrap();
                (name.to_owned(), ran)
            })
        })
        .collect()
}

/// A `TOKIO_WORKER_THREADS` that is not a usable number of threads stops the start, saying so,
/// rather than being ignored.
#[test]
fn an_unusable_thread_count_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dev_config(dir.path(), "");
    for value in ["0", "lots"] {
        let out = Command::new(BIN)
            .args(["serve", "--config", config.to_str().unwrap()])
            .env("TOKIO_WORKER_THREADS", value)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("TOKIO_WORKER_THREADS must be a number of threads from 1 to 1024"),
            "{said}"
        );
    }
}
