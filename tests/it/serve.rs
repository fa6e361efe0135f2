//! The real binary: `serve` on the dev configuration, a `dev-token`, a credential through the
//! SDK, nothing secret in the logs, and a graceful exit on SIGTERM.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sts-broker");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn serve_dev_config_mints_with_a_dev_token_and_exits_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let dev = include_str!("../../config/dev.toml")
        .replace(
            "listen = \"127.0.0.1:4566\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        )
        .replace("dir = \"../keys\"", "dir = \"keys\"");
    let config = dir.path().join("dev.toml");
    std::fs::write(&config, dev).unwrap();
    let config = config.to_str().unwrap();

    let mut server = Command::new(BIN)
        .args(["serve", "--config", config])
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
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

    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.wait().unwrap();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
    let mut log = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
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
