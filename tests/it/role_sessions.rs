//! The rules every role-assuming action shares, run for `AssumeRole`,
//! `AssumeRoleWithWebIdentity` and `AssumeRoleWithSAML` alike through the SDK: an unknown role is
//! refused exactly like a role that does not trust the caller, the session policy and managed
//! policy rules, the role's maximum duration, the packed size, and nothing stored on refusal.

use aws_sdk_sts::config::http::HttpResponse;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::types::PolicyDescriptorType;
use time::OffsetDateTime;

use crate::harness::broker::TestBroker;
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;
use crate::harness::saml::TestSamlIdp;

const ACCOUNT: &str = "111122223333";
const OPEN: &str = "arn:aws:iam::111122223333:role/open";
const CLOSED: &str = "arn:aws:iam::111122223333:role/closed";
const UNKNOWN: &str = "arn:aws:iam::111122223333:role/unknown";
const SAML_PROVIDER: &str = "arn:aws:iam::111122223333:saml-provider/corp";
const READONLY: &str = "arn:aws:iam::111122223333:policy/readonly";
const THEIRS: &str = "arn:aws:iam::444455556666:policy/theirs";
const USER_KEY: &str = "AKIAROLESESSIONTEST2";
const USER_SECRET: &str = "roleSessionTestSecret/EXAMPLE+0123456789a";
const ENCODED: &str = ". Encoded authorization failure message: ";

#[derive(Debug, Clone, Copy)]
enum Kind {
    User,
    WebIdentity,
    Saml,
}

struct Setup {
    broker: TestBroker,
    idp: TestIdp,
    saml: TestSamlIdp,
    redis: RedisServer,
}

/// What one call asks besides the role.
#[derive(Default, Clone)]
struct Ask {
    duration: Option<i32>,
    policy: Option<String>,
    arns: Vec<&'static str>,
}

async fn setup() -> Setup {
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let saml = TestSamlIdp::new();
    let dir = tempfile::tempdir().unwrap();
    let provider = format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{}", idp.key_prefix());
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write(
        "open-trust.json",
        &format!(
            r#"{{"Version": "2012-10-17", "Statement": [
  {{"Effect": "Allow", "Principal": {{"Federated": "{provider}"}}, "Action": "sts:AssumeRoleWithWebIdentity"}},
  {{"Effect": "Allow", "Principal": {{"Federated": "{SAML_PROVIDER}"}}, "Action": "sts:AssumeRoleWithSAML"}},
  {{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{ACCOUNT}:user/carol"}}, "Action": "sts:AssumeRole"}}]}}"#
        ),
    );
    write(
        "closed-trust.json",
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}"#,
    );
    let allow_all = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}"#;
    write("all.json", allow_all);
    write("carol.secret", USER_SECRET);
    let store_section = crate::harness::broker::store_toml(dir.path(), &redis.url());
    let toml = format!(
        r#"
[store]
{store_section}
[keys]
dir = "keys"
[[accounts]]
id = "{ACCOUNT}"
[[accounts]]
id = "444455556666"
[[oidc_providers]]
account = "{ACCOUNT}"
issuer = "{issuer}"
client_ids = ["sts.amazonaws.com"]
allow_http = true
[[saml_providers]]
account = "{ACCOUNT}"
name = "corp"
metadata_file = "{metadata}"
[[policies]]
account = "{ACCOUNT}"
name = "readonly"
file = "all.json"
[[policies]]
account = "444455556666"
name = "theirs"
file = "all.json"
[[roles]]
account = "{ACCOUNT}"
name = "open"
trust_policy_file = "open-trust.json"
max_session_duration = 3600
[[roles]]
account = "{ACCOUNT}"
name = "closed"
trust_policy_file = "closed-trust.json"
[[users]]
account = "{ACCOUNT}"
name = "carol"
policy_files = ["all.json"]
access_keys = [{{ id = "{USER_KEY}", secret_file = "carol.secret" }}]
"#,
        issuer = idp.issuer,
        metadata = saml.metadata_path().display(),
    );
    let broker = TestBroker::from_toml(dir, &toml).await;
    Setup {
        broker,
        idp,
        saml,
        redis,
    }
}

impl Setup {
    /// One call of `kind` for `role`; `Err((code, message))` when refused.
    async fn call(&self, kind: Kind, role: &str, ask: &Ask) -> Result<(), (String, String)> {
        let arns: Vec<PolicyDescriptorType> = ask
            .arns
            .iter()
            .map(|a| PolicyDescriptorType::builder().arn(*a).build())
            .collect();
        let arns = (!arns.is_empty()).then_some(arns);
        match kind {
            Kind::User => outcome(
                self.broker
                    .sts_as(USER_KEY, USER_SECRET, None)
                    .assume_role()
                    .role_arn(role)
                    .role_session_name("shared-rules")
                    .set_duration_seconds(ask.duration)
                    .set_policy(ask.policy.clone())
                    .set_policy_arns(arns)
                    .send()
                    .await,
            ),
            Kind::WebIdentity => {
                let token = self.idp.token("rsa-1", &self.idp.claims("repo:org/app"));
                let out = self
                    .broker
                    .sts()
                    .assume_role_with_web_identity()
                    .role_arn(role)
                    .role_session_name("shared-rules")
                    .web_identity_token(token)
                    .set_duration_seconds(ask.duration)
                    .set_policy(ask.policy.clone())
                    .set_policy_arns(arns)
                    .send()
                    .await;
                outcome(out)
            }
            Kind::Saml => {
                // The identity provider grants the role asked for: whether it may be assumed
                // is the broker's decision.
                let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
                let response = self.saml.response(now, role, SAML_PROVIDER);
                let out = self
                    .broker
                    .sts()
                    .assume_role_with_saml()
                    .role_arn(role)
                    .principal_arn(SAML_PROVIDER)
                    .saml_assertion(self.saml.encode(&response))
                    .set_duration_seconds(ask.duration)
                    .set_policy(ask.policy.clone())
                    .set_policy_arns(arns)
                    .send()
                    .await;
                outcome(out)
            }
        }
    }
}

/// `Err((code, message))` of a refused SDK call.
fn outcome<T, E>(r: Result<T, SdkError<E, HttpResponse>>) -> Result<(), (String, String)>
where
    E: ProvideErrorMetadata,
{
    r.map(|_| ()).map_err(|e| {
        (
            e.code().unwrap_or_default().to_owned(),
            e.message().unwrap_or_default().to_owned(),
        )
    })
}

/// The message without the encoded part, with the role named as `ROLE`.
fn plain(message: &str, role: &str) -> String {
    let head = message.split(ENCODED).next().unwrap_or_default();
    head.replace(role, "ROLE")
}

#[tokio::test]
async fn every_role_assuming_action_follows_the_same_rules() {
    let s = setup().await;
    let long_policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}"}}]}}"#,
        "b".repeat(2000)
    );
    // Valid, and within the 2,048-character limit, but with a managed policy past the packed
    // budget.
    let packed_policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}"}}]}}"#,
        "b".repeat(1920)
    );
    assert!(packed_policy.len() <= 2048);
    let refusals: Vec<(&str, Ask, &str, &str)> = vec![
        (
            OPEN,
            Ask {
                duration: Some(7200),
                ..Ask::default()
            },
            "ValidationError",
            "MaxSessionDuration",
        ),
        (
            OPEN,
            Ask {
                policy: Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Maybe"}]}"#.into()),
                ..Ask::default()
            },
            "MalformedPolicyDocument",
            "",
        ),
        (
            OPEN,
            Ask {
                policy: Some(long_policy),
                ..Ask::default()
            },
            "ValidationError",
            "policy",
        ),
        (
            OPEN,
            Ask {
                arns: vec!["arn:aws:iam::111122223333:policy/nope"],
                ..Ask::default()
            },
            "ValidationError",
            "does not exist or is not attachable",
        ),
        (
            OPEN,
            Ask {
                arns: vec![THEIRS],
                ..Ask::default()
            },
            "ValidationError",
            "does not exist or is not attachable",
        ),
        (
            OPEN,
            Ask {
                policy: Some(packed_policy),
                arns: vec![READONLY],
                ..Ask::default()
            },
            "PackedPolicyTooLarge",
            "Packed size",
        ),
        (CLOSED, Ask::default(), "AccessDenied", ENCODED.trim()),
        (UNKNOWN, Ask::default(), "AccessDenied", ENCODED.trim()),
    ];
    for kind in [Kind::User, Kind::WebIdentity, Kind::Saml] {
        // The baseline: allowed, with a session policy and a managed one.
        let ok = Ask {
            duration: Some(900),
            policy: Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#.into()),
            arns: vec![READONLY],
        };
        s.call(kind, OPEN, &ok).await.unwrap();
        let stored = s.redis.keys().await;

        for (role, ask, code, needle) in &refusals {
            let (got, message) = s.call(kind, role, ask).await.unwrap_err();
            assert_eq!(&got, code, "{kind:?} {role}: {message}");
            assert!(message.contains(needle), "{kind:?} {role}: {message}");
        }
        assert_eq!(
            s.redis.keys().await,
            stored,
            "{kind:?}: a refused request stored something"
        );

        // An unknown role and a role that does not trust the caller: the same answer.
        let (_, closed) = s.call(kind, CLOSED, &Ask::default()).await.unwrap_err();
        let (_, unknown) = s.call(kind, UNKNOWN, &Ask::default()).await.unwrap_err();
        assert_eq!(plain(&closed, CLOSED), plain(&unknown, UNKNOWN), "{kind:?}");
        assert!(
            closed.contains(ENCODED) && unknown.contains(ENCODED),
            "{kind:?}"
        );
    }
}
