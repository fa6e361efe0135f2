//! The broker under test: configuration and policy files written to a temporary folder, the real
//! router served on `127.0.0.1:0`, and an `aws-sdk-sts` client pointed at it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
use sts_broker::app;
use sts_broker::broker::Broker;
use sts_broker::broker::reload::Live;
use sts_broker::clock::{Clock, SystemClock};
use sts_broker::config::Config;
use sts_broker::workers::Workers;
use tokio::sync::oneshot;

use super::idp::TestIdp;

pub const ACCOUNT: &str = "111122223333";
pub const PROVIDER_ARN: &str = "arn:aws:iam::111122223333:oidc-provider/127.0.0.1/idp";
pub const DEPLOY_ROLE: &str = "arn:aws:iam::111122223333:role/ci/deploy";
pub const PROD_ROLE: &str = "arn:aws:iam::111122223333:role/prod-deploy";
pub const READONLY_POLICY: &str = "arn:aws:iam::111122223333:policy/readonly";
/// A role the `deploy` role's sessions may assume (same account, trust names the role).
pub const HUB_ROLE: &str = "arn:aws:iam::111122223333:role/hub";
/// A role in another account trusting this account with an external id.
pub const VENDOR_ROLE: &str = "arn:aws:iam::444455556666:role/vendor";
pub const VENDOR_EXTERNAL_ID: &str = "ext-123";
/// A role alice may assume only with MFA.
pub const ADMIN_ROLE: &str = "arn:aws:iam::111122223333:role/admin";
/// A role of another account whose trust names this account's provider.
pub const FOREIGN_ROLE: &str = "arn:aws:iam::444455556666:role/foreign";
/// An IAM user in group `developers`, with an active and an inactive access key and an MFA device.
pub const ALICE_ARN: &str = "arn:aws:iam::111122223333:user/alice";
pub const ALICE_KEY_ID: &str = "AKIAALICEXAMPLE23456";
pub const ALICE_SECRET: &str = "aliceSecretAccessKey/EXAMPLE+0123456789ab";
pub const ALICE_INACTIVE_KEY_ID: &str = "AKIAALICEOLDKEY23456";
pub const ALICE_INACTIVE_SECRET: &str = "aliceRetiredAccessKey/EXAMPLE+0123456789";
pub const ALICE_MFA_SERIAL: &str = "arn:aws:iam::111122223333:mfa/alice";
/// An IAM user in group `integrators`, whose policies allow assuming the vendor role.
pub const BOB_KEY_ID: &str = "AKIABOBEXAMPLE234567";
pub const BOB_SECRET: &str = "bobSecretAccessKey/EXAMPLE+0123456789abcd";
/// Base32, as an authenticator app is given it.
pub const ALICE_MFA_SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
/// An operator: its policy allows `broker:*`, `iam:Simulate*` and
/// `sts:DecodeAuthorizationMessage`, and explicitly denies `broker:PurgeEverything`.
pub const OPS_ARN: &str = "arn:aws:iam::111122223333:user/ops";
pub const OPS_KEY_ID: &str = "AKIAOPSEXAMPLE234567";
pub const OPS_SECRET: &str = "opsSecretAccessKey/EXAMPLE+0123456789abcd";
/// A resource server (an API gateway): allowed `broker:Authorize` only.
pub const GATEWAY_ARN: &str = "arn:aws:iam::111122223333:user/gateway";
pub const GATEWAY_KEY_ID: &str = "AKIAGATEWAYEXAMPLE23";
pub const GATEWAY_SECRET: &str = "gatewaySecretAccessKey/EXAMPLE+0123456789";
/// A role alice may assume (no MFA): `s3:*` on `app-bucket` except `s3:DeleteObject` (an
/// explicit deny), under a boundary that allows only `s3:Get*`, `s3:Put*`, `s3:List*`.
pub const APP_ROLE: &str = "arn:aws:iam::111122223333:role/app";

pub struct TestBroker {
    pub endpoint: String,
    /// The broker as started (what a reload shares with the next one: store, keys, audit...).
    pub state: Arc<Broker>,
    /// What the front doors serve; reloads are refused (no file to read again).
    pub live: Arc<Live>,
    pub dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
    _threads: ServingThreads,
}

/// Threads a test broker serves its connections on, as the binary does (each a runtime of its
/// own, with its own store connection); stopped with the broker.
struct ServingThreads(Option<Workers>);

/// Serving threads of each test broker: two, as on the machines the suite runs on.
const SERVING_THREADS: usize = 2;

impl Drop for ServingThreads {
    fn drop(&mut self) {
        if let Some(workers) = self.0.take() {
            workers.stop(Duration::ZERO);
        }
    }
}

/// The body of a `[store]` table for `store`, written for a broker in `dir`: `store` is either
/// a URL (`memory://`, or a test Redis's URL, whose password is moved to a `password_file` in
/// `dir`, since the broker refuses a URL carrying one) or already the table's lines (one with
/// ` = ` in it, e.g. a cluster's `cluster_urls = [...]`).
pub fn store_toml(dir: &Path, store: &str) -> String {
    if store.contains(" = ") {
        return store.to_owned();
    }
    let Some((scheme, rest)) = store.split_once("://") else {
        return format!("url = {store:?}");
    };
    let Some((userinfo, address)) = rest.split_once('@') else {
        return format!("url = {store:?}");
    };
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let mut lines = format!("url = \"{scheme}://{address}\"\n");
    if !user.is_empty() {
        lines.push_str(&format!("username = {user:?}\n"));
    }
    if !password.is_empty() {
        std::fs::write(dir.join("redis.password"), password).unwrap();
        lines.push_str("password_file = \"redis.password\"\n");
    }
    lines
}

/// Writes the standard test configuration for `idp` into `dir`; returns its TOML.
pub fn standard_config(dir: &Path, idp: &TestIdp, store_url: &str, refetch_seconds: u64) -> String {
    let prefix = idp.key_prefix();
    let store = store_toml(dir, store_url);
    std::fs::write(
        dir.join("ci-trust.json"),
        format!(
            r#"{{
  "Version": "2012-10-17",
  "Statement": [{{
    "Sid": "GitHubRepo",
    "Effect": "Allow",
    "Principal": {{"Federated": "{PROVIDER_ARN}"}},
    "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
    "Condition": {{
      "StringEquals": {{"{prefix}:aud": "sts.amazonaws.com"}},
      "StringLike": {{"{prefix}:sub": "repo:octo-org/app:*"}}
    }}
  }}]
}}"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("prod-trust.json"),
        format!(
            r#"{{
  "Version": "2012-10-17",
  "Statement": [{{
    "Effect": "Allow",
    "Principal": {{"Federated": "{PROVIDER_ARN}"}},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {{
      "StringEquals": {{
        "{prefix}:aud": "sts.amazonaws.com",
        "{prefix}:environment": "production",
        "{prefix}:job_workflow_ref": "octo-org/workflows/.github/workflows/deploy.yml@refs/heads/main"
      }},
      "StringLike": {{"{prefix}:sub": "repo:octo-org/*"}}
    }}
  }}]
}}"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("hub-trust.json"),
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Principal": {"AWS": "arn:aws:iam::111122223333:role/ci/deploy"},
  "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("hub.json"),
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "sts:*", "Resource": "arn:aws:iam::444455556666:role/vendor"}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("admin-trust.json"),
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"},
  "Action": "sts:AssumeRole",
  "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"},
                "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("vendor-trust.json"),
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
  "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
  "Condition": {"StringEquals": {"sts:ExternalId": "ext-123"}}}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("deploy.json"),
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}"#,
    )
    .unwrap();
    std::fs::write(dir.join("alice.secret"), format!("{ALICE_SECRET}\n")).unwrap();
    std::fs::write(dir.join("alice-old.secret"), ALICE_INACTIVE_SECRET).unwrap();
    std::fs::write(dir.join("alice.mfa"), format!("{ALICE_MFA_SEED}\n")).unwrap();
    std::fs::write(dir.join("bob.secret"), BOB_SECRET).unwrap();
    std::fs::write(dir.join("ops.secret"), OPS_SECRET).unwrap();
    std::fs::write(dir.join("gateway.secret"), GATEWAY_SECRET).unwrap();
    std::fs::write(
        dir.join("ops.json"),
        r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["broker:*", "iam:Simulate*", "sts:DecodeAuthorizationMessage"], "Resource": "*"},
  {"Effect": "Deny", "Action": "broker:PurgeEverything", "Resource": "*"}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("gateway.json"),
        r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "broker:Authorize", "Resource": "*"}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("app-trust.json"),
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"},
  "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("app.json"),
        r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "s3:*", "Resource": ["arn:aws:s3:::app-bucket", "arn:aws:s3:::app-bucket/*"]},
  {"Sid": "NoDeletes", "Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("app-boundary.json"),
        r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["s3:Get*", "s3:Put*", "s3:List*", "s3:DeleteObject"], "Resource": "*"}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("readonly.json"),
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*"}]}"#,
    )
    .unwrap();
    format!(
        r#"
[server]
listen = "127.0.0.1:0"

[store]
{store}

[keys]
dir = "keys"

[[accounts]]
id = "{ACCOUNT}"

[[accounts]]
id = "444455556666"

[[oidc_providers]]
account = "{ACCOUNT}"
issuer = "{issuer}"
client_ids = ["sts.amazonaws.com", "second-client"]
allow_http = true
leeway_seconds = 30
jwks_refetch_seconds = {refetch_seconds}

[[policies]]
account = "{ACCOUNT}"
name = "readonly"
file = "readonly.json"

[[roles]]
account = "{ACCOUNT}"
name = "deploy"
path = "/ci/"
max_session_duration = 7200
trust_policy_file = "ci-trust.json"
policy_files = ["deploy.json"]

[[roles]]
account = "{ACCOUNT}"
name = "prod-deploy"
trust_policy_file = "prod-trust.json"
managed_policies = ["{READONLY_POLICY}"]

[[roles]]
account = "444455556666"
name = "foreign"
trust_policy_file = "ci-trust.json"

[[roles]]
account = "{ACCOUNT}"
name = "hub"
trust_policy_file = "hub-trust.json"
policy_files = ["hub.json"]
max_session_duration = 43200

[[roles]]
account = "444455556666"
name = "vendor"
trust_policy_file = "vendor-trust.json"

[[roles]]
account = "{ACCOUNT}"
name = "admin"
trust_policy_file = "admin-trust.json"

[[groups]]
account = "{ACCOUNT}"
name = "developers"
policy_files = ["deploy.json"]

[[users]]
account = "{ACCOUNT}"
name = "alice"
groups = ["developers"]
managed_policies = ["{READONLY_POLICY}"]
access_keys = [
  {{ id = "{ALICE_KEY_ID}", secret_file = "alice.secret", created = "2025-01-15T09:30:00Z" }},
  {{ id = "{ALICE_INACTIVE_KEY_ID}", secret_file = "alice-old.secret", status = "Inactive" }},
]

[[groups]]
account = "{ACCOUNT}"
name = "integrators"
policy_files = ["hub.json"]

[[users]]
account = "{ACCOUNT}"
name = "bob"
groups = ["integrators"]
access_keys = [{{ id = "{BOB_KEY_ID}", secret_file = "bob.secret" }}]

[[policies]]
account = "{ACCOUNT}"
name = "app-boundary"
file = "app-boundary.json"

[[roles]]
account = "{ACCOUNT}"
name = "app"
trust_policy_file = "app-trust.json"
policy_files = ["app.json"]
permissions_boundary = "arn:aws:iam::{ACCOUNT}:policy/app-boundary"
tags = {{ team = "payments" }}

[[users]]
account = "{ACCOUNT}"
name = "ops"
policy_files = ["ops.json"]
access_keys = [{{ id = "{OPS_KEY_ID}", secret_file = "ops.secret" }}]

[[users]]
account = "{ACCOUNT}"
name = "gateway"
policy_files = ["gateway.json"]
access_keys = [{{ id = "{GATEWAY_KEY_ID}", secret_file = "gateway.secret" }}]

[[mfa_devices]]
account = "{ACCOUNT}"
user = "alice"
serial = "{ALICE_MFA_SERIAL}"
secret_file = "alice.mfa"
"#,
        issuer = idp.issuer
    )
}

/// An STS client as an application would build one for `endpoint`, no retries, signing with
/// `credentials` when given.
pub fn sts_client(endpoint: &str, credentials: Option<Credentials>) -> aws_sdk_sts::Client {
    let mut conf = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled());
    if let Some(c) = credentials {
        conf = conf.credentials_provider(c);
    }
    aws_sdk_sts::Client::from_conf(conf.build())
}

impl TestBroker {
    /// The broker on the standard configuration for `idp`.
    pub async fn start(idp: &TestIdp, store_url: &str) -> TestBroker {
        TestBroker::start_with(idp, store_url, 0).await
    }

    /// As [`TestBroker::start`], with a minimum time between unknown-kid key fetches.
    pub async fn start_with(idp: &TestIdp, store_url: &str, refetch_seconds: u64) -> TestBroker {
        let dir = tempfile::tempdir().unwrap();
        let toml = standard_config(dir.path(), idp, store_url, refetch_seconds);
        TestBroker::from_toml(dir, &toml).await
    }

    /// The broker on any configuration text, with `dir` as its folder.
    pub async fn from_toml(dir: tempfile::TempDir, toml: &str) -> TestBroker {
        TestBroker::from_toml_with_clock(dir, toml, Arc::new(SystemClock)).await
    }

    /// The broker on the standard configuration for `idp`, in memory, serving its connections
    /// on `threads` threads.
    pub async fn start_on_threads(idp: &TestIdp, threads: usize) -> TestBroker {
        let dir = tempfile::tempdir().unwrap();
        let toml = standard_config(dir.path(), idp, "memory://", 0);
        let config = Config::from_toml(&toml, "broker.toml", dir.path()).unwrap();
        let broker = Broker::build(config, Arc::new(SystemClock)).await.unwrap();
        TestBroker::serving_on(dir, Live::new(broker, None), threads).await
    }

    /// The standard configuration with a clock the test moves.
    pub async fn start_with_clock(idp: &TestIdp, clock: Arc<dyn Clock>) -> TestBroker {
        let dir = tempfile::tempdir().unwrap();
        let toml = standard_config(dir.path(), idp, "memory://", 0);
        TestBroker::from_toml_with_clock(dir, &toml, clock).await
    }

    /// One replica of several: the standard configuration on `store_url`, with the keys in
    /// `keys_dir` (shared by the test's replicas) and `clock`. The configuration is also
    /// written to `broker.toml` in the broker's folder, for commands run against it.
    pub async fn replica(
        idp: &TestIdp,
        store_url: &str,
        keys_dir: &Path,
        clock: Arc<dyn Clock>,
    ) -> TestBroker {
        let dir = tempfile::tempdir().unwrap();
        let toml = standard_config(dir.path(), idp, store_url, 0).replace(
            "dir = \"keys\"",
            &format!("dir = {:?}", keys_dir.to_str().unwrap()),
        );
        std::fs::write(dir.path().join("broker.toml"), &toml).unwrap();
        TestBroker::from_toml_with_clock(dir, &toml, clock).await
    }

    pub async fn from_toml_with_clock(
        dir: tempfile::TempDir,
        toml: &str,
        clock: Arc<dyn Clock>,
    ) -> TestBroker {
        let config = Config::from_toml(toml, "broker.toml", dir.path()).unwrap();
        let live = Live::new(Broker::build(config, clock).await.unwrap(), None);
        TestBroker::serving(dir, live).await
    }

    /// The broker on `toml`, written to `broker.toml` in `dir`, which `live.reload` reads
    /// again (rewrite the file first).
    pub async fn reloadable(dir: tempfile::TempDir, toml: &str) -> TestBroker {
        TestBroker::reloadable_with_clock(dir, toml, Arc::new(SystemClock)).await
    }

    /// [`TestBroker::reloadable`] with a clock the test moves.
    pub async fn reloadable_with_clock(
        dir: tempfile::TempDir,
        toml: &str,
        clock: Arc<dyn Clock>,
    ) -> TestBroker {
        let path = dir.path().join("broker.toml");
        std::fs::write(&path, toml).unwrap();
        let config = Config::load(&path).unwrap();
        let broker = Broker::build(config, clock).await.unwrap();
        let live = Live::new(broker, Some(Box::new(move || Config::load(&path))));
        TestBroker::serving(dir, live).await
    }

    async fn serving(dir: tempfile::TempDir, live: Arc<Live>) -> TestBroker {
        TestBroker::serving_on(dir, live, SERVING_THREADS).await
    }

    async fn serving_on(dir: tempfile::TempDir, live: Arc<Live>, threads: usize) -> TestBroker {
        let state = live.current();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = live.clone();
        let threads = Workers::start(threads).unwrap();
        let spread = threads.spread();
        tokio::spawn(async move {
            app::serve(listener, serving, spread, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        TestBroker {
            endpoint: format!("http://{addr}"),
            state,
            live,
            dir,
            _stop: stop,
            _threads: ServingThreads(Some(threads)),
        }
    }

    /// A replica that keeps serving the IAM API layer it read at start: its `Live` is made
    /// off the runtime, so no task applies changes stored later. What any replica serves
    /// between two polls, held for as long as the test needs.
    pub async fn frozen_from_toml(dir: tempfile::TempDir, toml: &str) -> TestBroker {
        let config = Config::from_toml(toml, "broker.toml", dir.path()).unwrap();
        let broker = Broker::build(config, Arc::new(SystemClock)).await.unwrap();
        let live = std::thread::spawn(move || Live::new(broker, None))
            .join()
            .unwrap();
        TestBroker::serving(dir, live).await
    }

    /// An STS client as an application would build one, pointed at the broker, no retries.
    pub fn sts(&self) -> aws_sdk_sts::Client {
        sts_client(&self.endpoint, None)
    }

    /// An STS client signing with these credentials (a session token for minted ones).
    pub fn sts_as(&self, key_id: &str, secret: &str, token: Option<&str>) -> aws_sdk_sts::Client {
        sts_client(
            &self.endpoint,
            Some(Credentials::new(
                key_id,
                secret,
                token.map(str::to_owned),
                None,
                "test",
            )),
        )
    }

    /// Serves the `ext_authz` listener (the configuration must have `[ext_authz]`) on a free
    /// loopback port; returns its address.
    pub async fn serve_ext_authz(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let live = self.live.clone();
        tokio::spawn(async move {
            sts_broker::authz::ext_authz::serve(
                listener,
                live,
                Default::default(),
                std::future::pending(),
            )
            .await
            .unwrap();
        });
        addr
    }

    /// A raw HTTP client for requests no SDK would send.
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }

    /// A JSON `POST` to `path`, signed for `sts` by `signer` (unsigned when `None`): status,
    /// request id header and body.
    pub async fn post_json(
        &self,
        path: &str,
        signer: Option<&super::signer::Signer>,
        body: &serde_json::Value,
    ) -> (u16, String, serde_json::Value) {
        self.post_text(path, signer, &body.to_string()).await
    }

    /// [`TestBroker::post_json`] of `body` as it is (JSON or not); the answer must be JSON.
    pub async fn post_text(
        &self,
        path: &str,
        signer: Option<&super::signer::Signer>,
        body: &str,
    ) -> (u16, String, serde_json::Value) {
        let url = format!("{}{path}", self.endpoint);
        let body = body.to_owned();
        let content_type = ("content-type", "application/json");
        let mut request = self
            .http()
            .post(&url)
            .header(content_type.0, content_type.1)
            .body(body.clone());
        if let Some(s) = signer {
            for (n, v) in s.sign("sts", "POST", &url, &[content_type], body.as_bytes()) {
                request = request.header(n, v);
            }
        }
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        let id = r.headers()["x-amzn-requestid"].to_str().unwrap().to_owned();
        let text = r.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        (status, id, value)
    }
}

/// An IAM client as an application would build one for `endpoint` (the broker serves IAM's
/// Query API on the same endpoint as STS), no retries, signing with `credentials`.
pub fn iam_client(endpoint: &str, credentials: Credentials) -> aws_sdk_iam::Client {
    let conf = aws_sdk_iam::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled())
        .credentials_provider(credentials)
        .build();
    aws_sdk_iam::Client::from_conf(conf)
}

impl TestBroker {
    /// An IAM client signing with a long-term key.
    pub fn iam_as(&self, key_id: &str, secret: &str) -> aws_sdk_iam::Client {
        iam_client(
            &self.endpoint,
            Credentials::new(key_id, secret, None, None, "test"),
        )
    }
}
