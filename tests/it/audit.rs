//! The audit log: one JSON line per Query API call, authorize decision and admin call with who,
//! what, on which role or resource and the outcome, never a secret; writing never holds up
//! requests.

use aws_sdk_sts::error::ProvideErrorMetadata as _;
use serde_json::{Value, json};

use crate::authorize::app_session;
use crate::harness::broker::{
    ACCOUNT, ADMIN_ROLE, ALICE_ARN, ALICE_KEY_ID, ALICE_SECRET, DEPLOY_ROLE, GATEWAY_ARN,
    GATEWAY_KEY_ID, GATEWAY_SECRET, OPS_ARN, OPS_KEY_ID, OPS_SECRET, PROVIDER_ARN, TestBroker,
    standard_config,
};
use crate::harness::idp::TestIdp;
use crate::harness::signer::Signer;

/// The broker on the standard configuration with `[audit] output = output`.
async fn with_audit(idp: &TestIdp, output: &str) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let toml = standard_config(dir.path(), idp, "memory://", 0)
        + &format!("\n[audit]\noutput = \"{output}\"\n");
    TestBroker::from_toml(dir, &toml).await
}

#[tokio::test]
async fn every_call_is_one_line_without_secrets() {
    let idp = TestIdp::start().await;
    let broker = with_audit(&idp, "audit.log").await;
    let token = idp.token(
        "rsa-1",
        &idp.claims("repo:octo-org/app:ref:refs/heads/main"),
    );

    let minted = broker
        .sts()
        .assume_role_with_web_identity()
        .role_arn(DEPLOY_ROLE)
        .role_session_name("gha-7")
        .web_identity_token(&token)
        .send()
        .await
        .unwrap();
    let creds = minted.credentials().unwrap();
    let alice = broker.sts_as(ALICE_KEY_ID, ALICE_SECRET, None);
    let denied = alice
        .assume_role()
        .role_arn(ADMIN_ROLE)
        .role_session_name("no-mfa")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(denied.code(), Some("AccessDenied"));
    let session = broker.sts_as(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token()),
    );
    session.get_caller_identity().send().await.unwrap();

    broker.state.audit.flush().await;
    let text = std::fs::read_to_string(broker.dir.path().join("audit.log")).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");

    let web = &lines[0];
    assert_eq!(web["action"], "sts:AssumeRoleWithWebIdentity");
    assert_eq!(web["decision"], "Allow");
    assert_eq!(web["principal"], PROVIDER_ARN);
    assert_eq!(web["role"], DEPLOY_ROLE);
    assert_eq!(web["session_name"], "gha-7");
    assert_eq!(web["subject"], "repo:octo-org/app:ref:refs/heads/main");
    assert_eq!(web["access_key_id"], creds.access_key_id());
    assert_eq!(web["reason"], Value::Null);
    assert_eq!(web["source_ip"], "127.0.0.1");
    assert!(web["request_id"].as_str().is_some_and(|id| id.len() == 36));
    assert!(web["time"].as_str().unwrap().ends_with('Z'));

    let refused = &lines[1];
    assert_eq!(refused["action"], "sts:AssumeRole");
    assert_eq!(refused["decision"], "Deny");
    assert_eq!(refused["reason"], "implicitDeny");
    assert_eq!(refused["principal"], ALICE_ARN);
    assert_eq!(refused["role"], ADMIN_ROLE);
    assert_eq!(refused["session_name"], "no-mfa");
    assert_eq!(refused["access_key_id"], ALICE_KEY_ID);

    let who = &lines[2];
    assert_eq!(who["action"], "sts:GetCallerIdentity");
    assert_eq!(who["decision"], "Allow");
    assert_eq!(
        who["principal"],
        "arn:aws:sts::111122223333:assumed-role/deploy/gha-7"
    );
    assert_eq!(who["access_key_id"], creds.access_key_id());

    for secret in [
        creds.secret_access_key(),
        creds.session_token(),
        token.as_str(),
        ALICE_SECRET,
        "Signature=",
        "AWS4-HMAC-SHA256",
    ] {
        assert!(
            !text.contains(secret),
            "the audit log holds {secret:.12}..."
        );
    }
    // No signature (64 hex digits) either.
    let hex_run = text
        .split(|c: char| !c.is_ascii_hexdigit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(hex_run < 64, "{text}");
}

#[tokio::test]
async fn a_failing_audit_target_does_not_hold_up_requests() {
    let idp = TestIdp::start().await;
    // Every write to /dev/full fails (ENOSPC).
    let broker = with_audit(&idp, "/dev/full").await;
    let alice = broker.sts_as(ALICE_KEY_ID, ALICE_SECRET, None);
    for _ in 0..3 {
        alice.get_caller_identity().send().await.unwrap();
    }
    broker.state.audit.flush().await;
    assert_eq!(broker.state.audit.failed(), 3);
    assert_eq!(broker.state.audit.dropped(), 0);
}

#[tokio::test]
async fn an_audit_file_that_cannot_be_opened_stops_the_start() {
    let idp = TestIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = standard_config(dir.path(), &idp, "memory://", 0)
        + "\n[audit]\noutput = \"no-such-folder/audit.log\"\n";
    let config = sts_broker::config::Config::from_toml(&toml, "broker.toml", dir.path()).unwrap();
    let e = sts_broker::broker::Broker::build(
        config,
        std::sync::Arc::new(sts_broker::clock::SystemClock),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("no-such-folder/audit.log"), "{e}");
}

/// The broker on the standard configuration with `[audit]` to a file and an `ext_authz` route.
async fn with_audit_and_ext_authz(idp: &TestIdp) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let toml = standard_config(dir.path(), idp, "memory://", 0)
        + r#"
[audit]
output = "audit.log"

[ext_authz]
listen = "127.0.0.1:0"
mode = "nginx"
trusted_proxies = ["127.0.0.1/32"]

[[ext_authz.routes]]
method = "DELETE"
path = "/objects/{bucket}/{key+}"
action = "s3:DeleteObject"
resource = "arn:aws:s3:::{bucket}/{key}"
"#;
    TestBroker::from_toml(dir, &toml).await
}

/// A JSON POST to the broker's `path`, signed by `signer` for `sts`: status and JSON.
async fn post_signed(
    broker: &TestBroker,
    path: &str,
    signer: &Signer,
    body: &Value,
) -> (u16, Value) {
    let url = format!("{}{path}", broker.endpoint);
    let body = body.to_string();
    let mut request = broker.http().post(&url).body(body.clone());
    for (n, v) in signer.sign("sts", "POST", &url, &[], body.as_bytes()) {
        request = request.header(n, v);
    }
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn authorize_decisions_and_revocations_are_one_line_each_without_secrets() {
    let idp = TestIdp::start().await;
    let broker = with_audit_and_ext_authz(&idp).await;
    let ext_authz = broker.serve_ext_authz().await;
    let client = app_session(&broker, "audited", None).await;
    let session_arn = "arn:aws:sts::111122223333:assumed-role/app/audited";
    let gateway = Signer::new(GATEWAY_KEY_ID, GATEWAY_SECRET, None);
    let ops = Signer::new(OPS_KEY_ID, OPS_SECRET, None);

    // The authorize API: allowed, then a tampered signature.
    let host = "objects.example.com";
    let url = format!("https://{host}/app-bucket/a.txt");
    let mut headers = vec![("host".to_owned(), host.to_owned())];
    headers.extend(client.sign("s3", "GET", &url, &[], b""));
    let ask = |headers: &Vec<(String, String)>| {
        json!({
            "request": {"method": "GET", "path": "/app-bucket/a.txt", "headers": headers},
            "action": "s3:GetObject",
            "resource": "arn:aws:s3:::app-bucket/a.txt",
            "context": {"aws:SourceIp": "203.0.113.9"},
        })
    };
    let (status, v) = post_signed(&broker, "/authorize", &gateway, &ask(&headers)).await;
    assert_eq!((status, v["allowed"].as_bool()), (200, Some(true)), "{v}");
    let tampered: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| {
            let v = if n == "authorization" {
                v.replace("Signature=", "Signature=0")
                    .chars()
                    .take(v.len())
                    .collect()
            } else {
                v.clone()
            };
            (n.clone(), v)
        })
        .collect();
    let (status, v) = post_signed(&broker, "/authorize", &gateway, &ask(&tampered)).await;
    assert_eq!(
        (status, v["authenticated"].as_bool()),
        (200, Some(false)),
        "{v}"
    );

    // The ext_authz listener: a delete the role's policy denies explicitly.
    let url = format!("http://{ext_authz}/objects/app-bucket/a.txt");
    let mut request = broker
        .http()
        .delete(&url)
        .header("x-original-method", "DELETE")
        .header("x-original-uri", "/objects/app-bucket/a.txt")
        .header("x-real-ip", "198.51.100.4");
    for (n, v) in client.sign("s3", "DELETE", &url, &[], b"") {
        request = request.header(n, v);
    }
    assert_eq!(request.send().await.unwrap().status().as_u16(), 403);

    // Revocations: refused for the gateway, done for the operator.
    let revoke = json!({"kind": "Session", "access_key_id": client.access_key_id});
    let (status, _) = post_signed(&broker, "/admin/revoke", &gateway, &revoke).await;
    assert_eq!(status, 403);
    let (status, v) = post_signed(&broker, "/admin/revoke", &ops, &revoke).await;
    assert_eq!(status, 200, "{v}");

    broker.state.audit.flush().await;
    let text = std::fs::read_to_string(broker.dir.path().join("audit.log")).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // AssumeRole, two authorize decisions, one ext_authz decision, two revocation calls.
    assert_eq!(lines.len(), 6, "{text}");
    let session_resource = format!("arn:aws:sts::{ACCOUNT}:session/{}", client.access_key_id);

    let allowed = &lines[1];
    assert_eq!(allowed["action"], "s3:GetObject");
    assert_eq!(allowed["resource"], "arn:aws:s3:::app-bucket/a.txt");
    assert_eq!(allowed["decision"], "Allow");
    assert_eq!(allowed["reason"], Value::Null);
    assert_eq!(allowed["principal"], session_arn);
    assert_eq!(allowed["access_key_id"], client.access_key_id.as_str());
    assert_eq!(allowed["caller"], GATEWAY_ARN);
    assert_eq!(allowed["source_ip"], "203.0.113.9");

    let forged = &lines[2];
    assert_eq!(forged["action"], "s3:GetObject");
    assert_eq!(forged["decision"], "Deny");
    assert_eq!(forged["reason"], "SignatureDoesNotMatch");
    assert_eq!(forged["principal"], Value::Null);
    assert_eq!(forged["caller"], GATEWAY_ARN);

    let proxied = &lines[3];
    assert_eq!(proxied["action"], "s3:DeleteObject");
    assert_eq!(proxied["resource"], "arn:aws:s3:::app-bucket/a.txt");
    assert_eq!(proxied["decision"], "Deny");
    assert_eq!(proxied["reason"], "explicitDeny");
    assert_eq!(proxied["principal"], session_arn);
    assert_eq!(proxied["caller"], Value::Null);
    assert_eq!(proxied["source_ip"], "198.51.100.4");

    let refused = &lines[4];
    assert_eq!(refused["action"], "broker:RevokeSession");
    assert_eq!(refused["resource"], session_resource.as_str());
    assert_eq!(refused["decision"], "Deny");
    assert_eq!(refused["reason"], "implicitDeny");
    assert_eq!(refused["principal"], GATEWAY_ARN);
    assert_eq!(refused["access_key_id"], GATEWAY_KEY_ID);

    let revoked = &lines[5];
    assert_eq!(revoked["action"], "broker:RevokeSession");
    assert_eq!(revoked["resource"], session_resource.as_str());
    assert_eq!(revoked["decision"], "Allow");
    assert_eq!(revoked["principal"], OPS_ARN);
    assert_eq!(revoked["access_key_id"], OPS_KEY_ID);
    assert_eq!(revoked["source_ip"], "127.0.0.1");

    for secret in [
        client.secret.as_str(),
        client.token.as_deref().unwrap(),
        GATEWAY_SECRET,
        OPS_SECRET,
        "Signature=",
        "AWS4-HMAC-SHA256",
    ] {
        assert!(
            !text.contains(secret),
            "the audit log holds {secret:.12}..."
        );
    }
    let hex_run = text
        .split(|c: char| !c.is_ascii_hexdigit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(hex_run < 64, "{text}");
}

/// Latencies of `n` signed calls, one after the other; every one must succeed.
async fn latencies(broker: &TestBroker, n: usize) -> Vec<std::time::Duration> {
    let alice = broker.sts_as(ALICE_KEY_ID, ALICE_SECRET, None);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let started = std::time::Instant::now();
        alice.get_caller_identity().send().await.unwrap();
        out.push(started.elapsed());
    }
    out.sort();
    out
}

fn percentile(sorted: &[std::time::Duration], p: usize) -> std::time::Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// A named pipe nobody reads as the audit target: the broker starts (opening a pipe waits for
/// a reader, so the writer task does it), every request is answered while the lines pile up
/// in the queue, and none of them waits for the pipe. The latencies with and without are
/// printed for comparison (`--nocapture`); only correctness is asserted, timing never.
#[tokio::test]
async fn an_audit_pipe_nobody_reads_holds_up_no_request() {
    const CALLS: usize = 400;
    let idp = TestIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("audit.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let toml =
        standard_config(dir.path(), &idp, "memory://", 0) + "\n[audit]\noutput = \"audit.fifo\"\n";
    // A hang guard only: starting takes well under a second.
    let slow = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        TestBroker::from_toml(dir, &toml),
    )
    .await
    .expect("the broker starts although nobody reads its audit pipe");
    let baseline = with_audit(&idp, "audit.log").await;

    // Warm both up (connections, caches), then measure them turn by turn.
    latencies(&slow, 20).await;
    latencies(&baseline, 20).await;
    let with_pipe = latencies(&slow, CALLS).await;
    let with_file = latencies(&baseline, CALLS).await;
    eprintln!(
        "audit to a pipe nobody reads: p50 {:?} p99 {:?}; to a file: p50 {:?} p99 {:?} ({CALLS} calls each)",
        percentile(&with_pipe, 50),
        percentile(&with_pipe, 99),
        percentile(&with_file, 50),
        percentile(&with_file, 99),
    );
    assert_eq!(
        slow.state.audit.dropped(),
        0,
        "the queue holds {CALLS} lines"
    );
    assert_eq!(slow.state.audit.failed(), 0);

    // No reader ever comes, and the test's runtime still shuts down: the writer holds no
    // thread on the pipe (opening it is retried without blocking), so nothing waits for it.
}
