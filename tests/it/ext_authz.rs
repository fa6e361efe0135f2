//! The `ext_authz` listener behind a real nginx (`auth_request`), configured with
//! `docker/nginx/nginx.conf` itself: requests signed by the AWS SDK's signer go through nginx to
//! a loopback upstream that echoes the identity headers it receives.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::authorize::app_session;
use crate::harness::broker::{
    ALICE_ARN, ALICE_KEY_ID, ALICE_SECRET, BOB_SECRET, TestBroker, standard_config,
};
use crate::harness::idp::TestIdp;
use crate::harness::signer::Signer;

pub const ROUTES: &str = r#"
[ext_authz]
listen = "127.0.0.1:0"
mode = "nginx"
trusted_proxies = ["127.0.0.1/32"]

[[ext_authz.routes]]
method = "GET"
path = "/objects/{bucket}/{key+}"
action = "s3:GetObject"
resource = "arn:aws:s3:::{bucket}/{key}"

[[ext_authz.routes]]
method = "PUT"
path = "/objects/{bucket}/{key+}"
action = "s3:PutObject"
resource = "arn:aws:s3:::{bucket}/{key}"

[[ext_authz.routes]]
method = "DELETE"
path = "/objects/{bucket}/{key+}"
action = "s3:DeleteObject"
resource = "arn:aws:s3:::{bucket}/{key}"
"#;

/// nginx on the repository's configuration, stopped on drop.
pub struct Nginx {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Nginx {
    pub async fn start(broker: SocketAddr, upstream: SocketAddr) -> Nginx {
        Nginx::start_with_secret(broker, upstream, "").await
    }

    /// nginx sending `secret` in `X-Sts-Authz-Secret` (none when empty).
    ///
    /// nginx cannot pick its own port, so one is taken from a listener bound and dropped first;
    /// another process may take it in between. nginx then fails to bind and exits, and is
    /// started again on another port. nginx is used once it wrote its pid file, which it does
    /// only after binding: the port is then nginx's own, never someone else's listener.
    pub async fn start_with_secret(
        broker: SocketAddr,
        upstream: SocketAddr,
        secret: &str,
    ) -> Nginx {
        let template = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/nginx/nginx.conf"),
        )
        .unwrap();
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_port();
            let conf = template
                .replace("__LISTEN__", &format!("127.0.0.1:{port}"))
                .replace("__BROKER__", &broker.to_string())
                .replace("__UPSTREAM__", &upstream.to_string())
                .replace("__AUTHZ_SECRET__", secret);
            assert!(!conf.contains("__"), "a placeholder is left");
            let conf_path = dir.path().join("nginx.conf");
            std::fs::write(&conf_path, conf).unwrap();
            let prefix = dir.path().display().to_string();
            let pid_file = dir.path().join("nginx.pid");
            let mut child = Command::new("nginx")
                .args([
                    "-p",
                    &prefix,
                    "-e",
                    &format!("{prefix}/error.log"),
                    "-c",
                    &conf_path.display().to_string(),
                    "-g",
                    // One process, so killing it at the end leaves no orphaned worker behind.
                    &format!("daemon off; master_process off; pid {prefix}/nginx.pid;"),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("nginx (scripts/install-deps installs nginx-light)");
            // A real process starting: polled, with a bound that only stops a hang.
            let deadline = Instant::now() + Duration::from_secs(60);
            let started = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    let log =
                        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
                    assert!(
                        log.contains("Address already in use"),
                        "nginx exited ({status}): {log}"
                    );
                    break false;
                }
                if pid_file.exists() {
                    break true;
                }
                assert!(Instant::now() < deadline, "nginx did not start");
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            if started {
                return Nginx {
                    child,
                    port,
                    _dir: dir,
                };
            }
        }
        panic!("nginx found no free port");
    }
}

/// Every request an [`echo_upstream`] received, as it echoed it.
pub type Seen = Arc<Mutex<Vec<Value>>>;

/// An upstream answering every request with its path, the headers and body it received, as
/// JSON.
async fn echo_upstream() -> SocketAddr {
    echo_upstream_seen().await.0
}

/// [`echo_upstream`], also keeping what it received.
pub async fn echo_upstream_seen() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let kept = Arc::clone(&seen);
    let echo = move |uri: axum::http::Uri, headers: HeaderMap, body: axum::body::Bytes| {
        let kept = Arc::clone(&kept);
        async move {
            let h: serde_json::Map<String, Value> = headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or("?"))))
                .collect();
            let v = json!({"uri": uri.to_string(), "headers": h, "body": String::from_utf8_lossy(&body)});
            kept.lock().unwrap().push(v.clone());
            axum::Json(v)
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().fallback(echo))
            .await
            .unwrap();
    });
    (addr, seen)
}

/// Sends `method` to nginx on `path`, signed by `signer` for `s3` (unsigned when `None`), with
/// `extra` headers (signed too) and `body`.
async fn send(
    nginx: &Nginx,
    signer: Option<&Signer>,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: &[u8],
    declare_payload: bool,
) -> (u16, String) {
    let url = format!("http://127.0.0.1:{}{path}", nginx.port);
    let mut request = reqwest::Client::new()
        .request(method.parse().unwrap(), &url)
        .body(body.to_vec());
    for (n, v) in extra {
        request = request.header(*n, *v);
    }
    if let Some(s) = signer {
        for (n, v) in s.sign_at(
            "s3",
            method,
            &url,
            extra,
            body,
            declare_payload,
            SystemTime::now(),
        ) {
            request = request.header(n, v);
        }
    }
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn nginx_auth_request_lets_through_only_what_policies_allow() {
    let idp = TestIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = standard_config(dir.path(), &idp, "memory://", 0) + ROUTES;
    let broker = TestBroker::from_toml(dir, &toml).await;
    let ext = broker.serve_ext_authz().await;
    let upstream = echo_upstream().await;
    let nginx = Nginx::start(ext, upstream).await;
    let session = app_session(&broker, "via-nginx", None).await;
    let alice = Signer::new(ALICE_KEY_ID, ALICE_SECRET, None);

    // Allowed: the upstream sees who it was, and no credentials.
    let (status, body) = send(
        &nginx,
        Some(&session),
        "GET",
        "/objects/app-bucket/docs/a.txt",
        &[],
        b"",
        false,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let echoed: Value = serde_json::from_str(&body).unwrap();
    let h = &echoed["headers"];
    assert_eq!(
        h["x-sts-principal-arn"],
        "arn:aws:sts::111122223333:assumed-role/app/via-nginx"
    );
    assert_eq!(h["x-sts-principal-type"], "AssumedRole");
    assert_eq!(h["x-sts-account"], "111122223333");
    assert_eq!(h["x-sts-session-name"], "via-nginx");
    assert_eq!(h["x-sts-role-arn"], "arn:aws:iam::111122223333:role/app");
    assert_eq!(h["x-sts-source-identity"], "alice");
    assert_eq!(h["x-sts-tags"], "project=checkout&team=payments");
    assert!(h["x-sts-user-id"].as_str().unwrap().starts_with("AROA"));
    assert!(h.get("authorization").is_none() && h.get("x-amz-security-token").is_none());

    let (status, body) = send(
        &nginx,
        Some(&alice),
        "GET",
        "/objects/app-bucket/k",
        &[],
        b"",
        false,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let echoed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echoed["headers"]["x-sts-principal-arn"], ALICE_ARN);
    // Not applicable to a user: sent empty by the broker, so removed by nginx.
    assert!(echoed["headers"].get("x-sts-session-name").is_none());

    // A body declared in x-amz-content-sha256 passes, and reaches the upstream.
    let (status, body) = send(
        &nginx,
        Some(&session),
        "PUT",
        "/objects/app-bucket/new.txt",
        &[],
        b"hello",
        true,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["body"],
        "hello"
    );
    // Undeclared: refused, the broker cannot see the body.
    let (status, _) = send(
        &nginx,
        Some(&session),
        "PUT",
        "/objects/app-bucket/new.txt",
        &[],
        b"hello",
        false,
    )
    .await;
    assert_eq!(status, 401);

    // Denied by policy (an explicit deny in the role's policy).
    let (status, _) = send(
        &nginx,
        Some(&session),
        "DELETE",
        "/objects/app-bucket/k",
        &[],
        b"",
        false,
    )
    .await;
    assert_eq!(status, 403);
    // Outside the role's bucket.
    let (status, _) = send(
        &nginx,
        Some(&session),
        "GET",
        "/objects/other-bucket/k",
        &[],
        b"",
        false,
    )
    .await;
    assert_eq!(status, 403);
    // Unsigned, or signed with the wrong secret.
    let (status, _) = send(
        &nginx,
        None,
        "GET",
        "/objects/app-bucket/k",
        &[],
        b"",
        false,
    )
    .await;
    assert_eq!(status, 401);
    let forger = Signer::new(ALICE_KEY_ID, BOB_SECRET, None);
    let (status, _) = send(
        &nginx,
        Some(&forger),
        "GET",
        "/objects/app-bucket/k",
        &[],
        b"",
        false,
    )
    .await;
    assert_eq!(status, 401);
    // No route for this request.
    let (status, _) = send(
        &nginx,
        Some(&alice),
        "GET",
        "/admin/settings",
        &[],
        b"",
        false,
    )
    .await;
    assert_eq!(status, 403);
}

/// Envoy's shape (the original method and path on the request itself, after a prefix), and
/// the shared secret.
#[tokio::test]
async fn envoy_shaped_checks_and_the_shared_secret() {
    let idp = TestIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("authz.secret"), "proxy-secret-123\n").unwrap();
    let toml = standard_config(dir.path(), &idp, "memory://", 0)
        + &ROUTES.replace(
            "listen = \"127.0.0.1:0\"",
            "listen = \"127.0.0.1:0\"\npath_prefix = \"/check\"\nsecret_file = \"authz.secret\"",
        )
        .replace("mode = \"nginx\"", "mode = \"envoy\"");
    let broker = TestBroker::from_toml(dir, &toml).await;
    let ext = broker.serve_ext_authz().await;
    let alice = Signer::new(ALICE_KEY_ID, ALICE_SECRET, None);
    let host = "objects.example.com";
    let signed = alice.sign_at(
        "s3",
        "GET",
        &format!("https://{host}/objects/app-bucket/k"),
        &[],
        b"",
        false,
        SystemTime::now(),
    );
    let ask = |secret: Option<&str>| {
        let mut r = reqwest::Client::new()
            .get(format!("http://{ext}/check/objects/app-bucket/k"))
            .header("host", host);
        for (n, v) in &signed {
            r = r.header(n, v);
        }
        if let Some(s) = secret {
            r = r.header("x-sts-authz-secret", s);
        }
        r.send()
    };
    let r = ask(Some("proxy-secret-123")).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-sts-principal-arn"], ALICE_ARN);
    // The fixed set of identity headers, every one present, empty where it does not apply.
    let sts: Vec<&str> = r
        .headers()
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with("x-sts-"))
        .collect();
    assert_eq!(sts.len(), 8, "{sts:?}");
    for name in sts_broker::authz::ext_authz::IDENTITY_HEADERS {
        assert!(r.headers().contains_key(name), "{name}");
    }
    assert_eq!(r.headers()["x-sts-session-name"], "");
    assert_eq!(r.headers()["x-sts-role-arn"], "");
    let r = ask(Some("wrong")).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = ask(None).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);

    // Counted for the metrics listener as the proxy saw them: one allowed, two refused.
    let mut counted: Vec<(Option<&str>, u64)> = broker
        .state
        .stats
        .requests()
        .into_iter()
        .filter(|c| c.action == sts_broker::authz::ext_authz::ACTION)
        .map(|c| (c.outcome.map(|o| o.as_str()), c.count))
        .collect();
    counted.sort();
    assert_eq!(counted, [(None, 1), (Some("AccessDenied"), 2)]);
}

/// Every answer of the ext_authz listener carries its request id, in the
/// `x-amzn-RequestId` header and, for a refusal, in the JSON body too.
#[tokio::test]
async fn ext_authz_answers_carry_their_request_id() {
    let idp = TestIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = standard_config(dir.path(), &idp, "memory://", 0) + ROUTES;
    let broker = TestBroker::from_toml(dir, &toml).await;
    let ext = broker.serve_ext_authz().await;
    // No X-Original-* headers: refused before anything else.
    let r = broker
        .http()
        .get(format!("http://{ext}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let id = r.headers()["x-amzn-requestid"].to_str().unwrap().to_owned();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "InvalidRequest");
    assert_eq!(v["request_id"], id.as_str());
    assert_eq!(id.len(), 36);
}
