//! Hot reload on the real binary: the configuration file and the policy files it names are
//! changed on disk, then `SIGHUP` (sent with kill(1)) or a signed `POST /admin/reload` makes the
//! running broker read them again. Each test waits for the reload by polling
//! `sts_broker_config_reloads_total{result}` on the metrics listener, and calls the broker with
//! the real `aws-sdk-sts` client and a loopback OIDC provider that counts its JWKS requests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_sts::config::Credentials;
use aws_sdk_sts::error::ProvideErrorMetadata as _;
use serde_json::Value;

use crate::harness::broker::{
    ALICE_SECRET, BOB_SECRET, DEPLOY_ROLE, GATEWAY_KEY_ID, GATEWAY_SECRET, OPS_KEY_ID, OPS_SECRET,
    standard_config, sts_client,
};
use crate::harness::idp::TestIdp;
use crate::harness::signer::Signer;
use crate::serve::{Server, serve_with_metrics, stop, wait_ready};

const SUB: &str = "repo:octo-org/app:ref:refs/heads/main";
const OTHER_SUB: &str = "repo:octo-org/other:ref:refs/heads/main";
/// A role only some versions of the configuration have.
const LATE_ROLE: &str = "arn:aws:iam::111122223333:role/late";
const LATE: &str = r#"
[[roles]]
account = "111122223333"
name = "late"
trust_policy_file = "ci-trust.json"
"#;
const METRICS: &str = "\n[metrics]\nlisten = \"127.0.0.1:0\"\n";

/// A broker serving `broker.toml` in `dir`: the standard configuration, `extra` and a metrics
/// listener.
struct Running {
    server: Server,
    dir: tempfile::TempDir,
    base: String,
    sts: aws_sdk_sts::Client,
}

impl Running {
    async fn start(idp: &TestIdp, extra: &str) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let base = standard_config(dir.path(), idp, "memory://", 0);
        let running_text = format!("{base}{extra}{METRICS}");
        std::fs::write(dir.path().join("broker.toml"), running_text).unwrap();
        let server = serve_with_metrics(dir.path().join("broker.toml").to_str().unwrap());
        wait_ready(&server.endpoint).await;
        let sts = sts_client(&server.endpoint, None);
        Running {
            server,
            dir,
            base,
            sts,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes the configuration file: the standard configuration, `extra`, metrics.
    fn configure(&self, extra: &str) -> String {
        let text = format!("{}{extra}{METRICS}", self.base);
        std::fs::write(self.path("broker.toml"), &text).unwrap();
        text
    }

    fn sighup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.server.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Reloads so far: (applied, refused).
    async fn reloads(&self) -> (u64, u64) {
        let metrics = self.server.metrics.as_deref().unwrap();
        let text = reqwest::get(format!("{metrics}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let count = |result: &str| {
            let name = format!("sts_broker_config_reloads_total{{result=\"{result}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&name))
                .map_or(0, |v| v.trim().parse().unwrap())
        };
        (count("success"), count("failure"))
    }

    /// Polls the reload counters until they are `want`.
    async fn wait_reloads(&self, want: (u64, u64)) {
        // A hang guard only: a reload takes milliseconds.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let seen = self.reloads().await;
            if seen == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "reloads {seen:?}, waiting for {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `AssumeRoleWithWebIdentity` for `sub` through the SDK: the credentials, or the code.
    async fn assume(&self, idp: &TestIdp, role: &str, sub: &str) -> Result<Credentials, String> {
        let token = idp.token("rsa-1", &idp.claims(sub));
        let out = self
            .sts
            .assume_role_with_web_identity()
            .role_arn(role)
            .role_session_name("reload-test")
            .web_identity_token(token)
            .send()
            .await
            .map_err(|e| e.into_service_error().code().unwrap_or_default().to_owned())?;
        let c = out.credentials().unwrap();
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "test",
        ))
    }

    /// Who `creds` are, or the code of the refusal.
    async fn caller(&self, creds: &Credentials) -> Result<String, String> {
        sts_client(&self.server.endpoint, Some(creds.clone()))
            .get_caller_identity()
            .send()
            .await
            .map(|out| out.arn().unwrap_or_default().to_owned())
            .map_err(|e| e.into_service_error().code().unwrap_or_default().to_owned())
    }

    /// `POST /admin/reload`, signed by `signer` (unsigned when `None`): status and JSON.
    async fn admin_reload(&self, signer: Option<&Signer>) -> (u16, Value) {
        let url = format!("{}/admin/reload", self.server.endpoint);
        let mut request = reqwest::Client::new().post(&url);
        if let Some(s) = signer {
            for (n, v) in s.sign("sts", "POST", &url, &[], b"") {
                request = request.header(n, v);
            }
        }
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }
}

fn trust_for(idp: &TestIdp, sub_pattern: &str) -> String {
    let prefix = idp.key_prefix();
    format!(
        r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
  "Principal": {{"Federated": "arn:aws:iam::111122223333:oidc-provider/127.0.0.1/idp"}},
  "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
  "Condition": {{"StringEquals": {{"{prefix}:aud": "sts.amazonaws.com"}},
                "StringLike": {{"{prefix}:sub": "{sub_pattern}"}}}}}}]}}"#
    )
}

/// The line of `file` holding `needle` (1-based).
fn line_of(file: &Path, needle: &str) -> usize {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .position(|l| l.contains(needle))
        .unwrap()
        + 1
}

#[tokio::test]
async fn a_role_added_by_sighup_can_be_assumed_and_the_rest_keeps_working() {
    let idp = TestIdp::start().await;
    let broker = Running::start(&idp, "").await;
    assert_eq!(
        broker.assume(&idp, LATE_ROLE, SUB).await.unwrap_err(),
        "AccessDenied"
    );
    let deploy = broker.assume(&idp, DEPLOY_ROLE, SUB).await.unwrap();
    let jwks_fetched = idp.jwks_hits();
    assert!(jwks_fetched >= 1);

    broker.configure(LATE);
    broker.sighup();
    broker.wait_reloads((1, 0)).await;

    let late = broker.assume(&idp, LATE_ROLE, SUB).await.unwrap();
    assert_eq!(
        broker.caller(&late).await.unwrap(),
        "arn:aws:sts::111122223333:assumed-role/late/reload-test"
    );
    // A session of a role that is still configured keeps working, and new ones are issued.
    assert_eq!(
        broker.caller(&deploy).await.unwrap(),
        "arn:aws:sts::111122223333:assumed-role/deploy/reload-test"
    );
    broker.assume(&idp, DEPLOY_ROLE, SUB).await.unwrap();
    // The provider is unchanged: its keys were kept, not fetched again.
    assert_eq!(idp.jwks_hits(), jwks_fetched);
    let log = stop(broker.server);
    assert!(log.contains("configuration reloaded"), "{log}");
    assert!(log.contains("key_caches_kept=1"), "{log}");
}

#[tokio::test]
async fn a_trust_policy_changed_by_sighup_takes_effect() {
    let idp = TestIdp::start().await;
    let broker = Running::start(&idp, "").await;
    broker.assume(&idp, DEPLOY_ROLE, SUB).await.unwrap();
    assert_eq!(
        broker
            .assume(&idp, DEPLOY_ROLE, OTHER_SUB)
            .await
            .unwrap_err(),
        "AccessDenied"
    );

    // Only the policy file changes; the configuration file is the same.
    std::fs::write(
        broker.path("ci-trust.json"),
        trust_for(&idp, "repo:octo-org/other:*"),
    )
    .unwrap();
    broker.sighup();
    broker.wait_reloads((1, 0)).await;

    assert_eq!(
        broker.assume(&idp, DEPLOY_ROLE, SUB).await.unwrap_err(),
        "AccessDenied"
    );
    broker.assume(&idp, DEPLOY_ROLE, OTHER_SUB).await.unwrap();
    stop(broker.server);
}

#[tokio::test]
async fn a_broken_configuration_leaves_the_running_one_serving_and_names_file_and_line() {
    let idp = TestIdp::start().await;
    let broker = Running::start(&idp, "").await;
    broker.assume(&idp, DEPLOY_ROLE, SUB).await.unwrap();

    // A syntax error in the configuration file, after a role that must not appear.
    broker.configure(&format!("{LATE}\nthis is not toml\n"));
    let toml_line = line_of(&broker.path("broker.toml"), "this is not toml");
    broker.sighup();
    broker.wait_reloads((0, 1)).await;
    broker.assume(&idp, DEPLOY_ROLE, SUB).await.unwrap();
    assert_eq!(
        broker.assume(&idp, LATE_ROLE, SUB).await.unwrap_err(),
        "AccessDenied"
    );

    // A policy file the new configuration names has a semantic error; the trust policy that
    // changed alongside it must not be applied either.
    std::fs::write(
        broker.path("late.json"),
        "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{\n    \"Effect\": \"Maybe\",\n    \"Action\": \"s3:GetObject\",\n    \"Resource\": \"*\"\n  }]\n}\n",
    )
    .unwrap();
    let policy_line = line_of(&broker.path("late.json"), "Maybe");
    std::fs::write(
        broker.path("ci-trust.json"),
        trust_for(&idp, "repo:octo-org/other:*"),
    )
    .unwrap();
    broker.configure(&format!("{LATE}policy_files = [\"late.json\"]\n"));
    broker.sighup();
    broker.wait_reloads((0, 2)).await;
    broker.assume(&idp, DEPLOY_ROLE, SUB).await.unwrap();
    assert_eq!(
        broker.assume(&idp, LATE_ROLE, SUB).await.unwrap_err(),
        "AccessDenied"
    );

    // A valid file that changes a setting only a restart applies.
    std::fs::write(broker.path("late.json"), "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:GetObject\", \"Resource\": \"*\"}]}").unwrap();
    let moved =
        format!("{}{LATE}{METRICS}", broker.base).replace("dir = \"keys\"", "dir = \"other-keys\"");
    std::fs::write(broker.path("broker.toml"), moved).unwrap();
    broker.sighup();
    broker.wait_reloads((0, 3)).await;
    assert_eq!(
        broker
            .assume(&idp, DEPLOY_ROLE, OTHER_SUB)
            .await
            .unwrap_err(),
        "AccessDenied"
    );
    broker.assume(&idp, DEPLOY_ROLE, SUB).await.unwrap();

    let config = broker.path("broker.toml");
    let policy = broker.path("late.json");
    let log = stop(broker.server);
    for expected in [
        format!("{}:{toml_line}: ", config.display()),
        format!("{}:{policy_line}: ", policy.display()),
        "[keys] dir changed; only a restart applies it".to_owned(),
    ] {
        assert!(
            log.lines().any(
                |l| l.contains("configuration not reloaded, the running one is kept")
                    && l.contains(&expected)
            ),
            "no refusal naming {expected:?} in:\n{log}"
        );
    }
    assert!(!log.contains("configuration reloaded"), "{log}");
    for secret in [ALICE_SECRET, BOB_SECRET, OPS_SECRET, GATEWAY_SECRET] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
}

#[tokio::test]
async fn throttling_limits_and_admin_permissions_follow_a_reload() {
    let idp = TestIdp::start().await;
    let broker = Running::start(&idp, "").await;
    let gateway = Signer::new(GATEWAY_KEY_ID, GATEWAY_SECRET, None);
    let (status, body) = broker.admin_reload(Some(&gateway)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("AccessDenied")),
        "{body}"
    );

    // The gateway is allowed reloads, and each role one session per ~17 minutes.
    std::fs::write(
        broker.path("gateway.json"),
        r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["broker:Authorize", "broker:ReloadConfig"], "Resource": "*"}]}"#,
    )
    .unwrap();
    broker.configure("\n[rate_limits]\nper_role = { rate = 0.001, burst = 1 }\n");
    broker.sighup();
    broker.wait_reloads((1, 0)).await;
    broker.assume(&idp, DEPLOY_ROLE, SUB).await.unwrap();
    assert_eq!(
        broker.assume(&idp, DEPLOY_ROLE, SUB).await.unwrap_err(),
        "Throttling"
    );

    // Without the limit again, over HTTP, by the gateway the new policy allows.
    broker.configure("");
    let (status, body) = broker.admin_reload(Some(&gateway)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(broker.reloads().await, (2, 0));
    broker.assume(&idp, DEPLOY_ROLE, SUB).await.unwrap();
    broker.assume(&idp, DEPLOY_ROLE, SUB).await.unwrap();
    stop(broker.server);
}

#[tokio::test]
async fn admin_reload_is_signed_and_authorized_before_any_file_is_read() {
    let idp = TestIdp::start().await;
    let broker = Running::start(&idp, "").await;
    // Broken on disk: a reload that read it would be counted as refused.
    broker.configure("this is not toml\n");

    let (status, body) = broker.admin_reload(None).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["error"]["code"], "MissingAuthenticationToken",
        "{body}"
    );
    let forged = Signer::new(
        OPS_KEY_ID,
        "notTheSecretAccessKeyOfOps/0123456789abcd",
        None,
    );
    let (status, body) = broker.admin_reload(Some(&forged)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("SignatureDoesNotMatch")),
        "{body}"
    );
    let gateway = Signer::new(GATEWAY_KEY_ID, GATEWAY_SECRET, None);
    let (status, body) = broker.admin_reload(Some(&gateway)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("AccessDenied")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("broker:ReloadConfig"),
        "{body}"
    );
    assert_eq!(broker.reloads().await, (0, 0));

    let ops = Signer::new(OPS_KEY_ID, OPS_SECRET, None);
    let (status, body) = broker.admin_reload(Some(&ops)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("ValidationError")),
        "{body}"
    );
    let line = line_of(&broker.path("broker.toml"), "this is not toml");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("broker.toml:{line}: ")),
        "{body}"
    );
    assert_eq!(broker.reloads().await, (0, 1));

    broker.configure(LATE);
    let (status, body) = broker.admin_reload(Some(&ops)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reloaded"], true, "{body}");
    assert_eq!(broker.reloads().await, (1, 1));
    broker.assume(&idp, LATE_ROLE, SUB).await.unwrap();
    stop(broker.server);
}

#[tokio::test]
async fn a_role_removed_by_reload_ends_its_sessions_and_adding_it_back_does_not_revive_them() {
    let idp = TestIdp::start().await;
    let broker = Running::start(&idp, LATE).await;
    let late = broker.assume(&idp, LATE_ROLE, SUB).await.unwrap();
    let deploy = broker.assume(&idp, DEPLOY_ROLE, SUB).await.unwrap();
    broker.caller(&late).await.unwrap();

    broker.configure("");
    broker.sighup();
    broker.wait_reloads((1, 0)).await;
    assert_eq!(
        broker.caller(&late).await.unwrap_err(),
        "InvalidClientTokenId"
    );
    broker.caller(&deploy).await.unwrap();
    // The removal revokes what was issued up to its second (the precision of issue times):
    // a session issued in that second is refused too, so the new one must come after it.
    let removed_by = time::OffsetDateTime::now_utc().unix_timestamp();
    while time::OffsetDateTime::now_utc().unix_timestamp() <= removed_by {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Back in the configuration: the old session stays refused, a new one works.
    broker.configure(LATE);
    broker.sighup();
    broker.wait_reloads((2, 0)).await;
    assert_eq!(
        broker.caller(&late).await.unwrap_err(),
        "InvalidClientTokenId"
    );
    let again = broker.assume(&idp, LATE_ROLE, SUB).await.unwrap();
    broker.caller(&again).await.unwrap();
    broker.caller(&deploy).await.unwrap();
    stop(broker.server);
}

/// A root access key a reload adds is reported as one configured at start is: one `WARN` line
/// `ROOT ACCESS KEY CONFIGURED` naming the key, never its secret.
#[tokio::test]
async fn a_root_access_key_added_by_a_reload_is_warned_about() {
    const ROOT_KEY: &str = "AKIARELOADROOTAAAAAA";
    const ROOT_SECRET: &str = "reloadRootSecretAccessKey/EXAMPLE+012345";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.secret"), ROOT_SECRET).unwrap();
    let path = dir.path().join("broker.toml");
    let base = "[server]\nlisten = \"127.0.0.1:0\"\n\n[keys]\ndir = \"keys\"\n\n[[accounts]]\nid = \"111122223333\"\n";
    std::fs::write(&path, base).unwrap();
    let server = crate::serve::serve(path.to_str().unwrap());
    wait_ready(&server.endpoint).await;
    let root = sts_client(
        &server.endpoint,
        Some(Credentials::new(ROOT_KEY, ROOT_SECRET, None, None, "test")),
    );
    assert!(root.get_caller_identity().send().await.is_err());

    std::fs::write(
        &path,
        format!(
            "{base}root = {{ access_keys = [{{ id = \"{ROOT_KEY}\", secret_file = \"root.secret\" }}] }}\n"
        ),
    )
    .unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // The reload is applied once the key signs; a hang guard only.
    let deadline = Instant::now() + Duration::from_secs(30);
    while root.get_caller_identity().send().await.is_err() {
        assert!(Instant::now() < deadline, "the reload never applied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = stop(server);
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ROOT ACCESS KEY CONFIGURED"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(
        warnings[0].contains("WARN") && warnings[0].contains(ROOT_KEY),
        "{}",
        warnings[0]
    );
    assert!(!log.contains(ROOT_SECRET), "a secret reached the log");
}
