//! Each action's decision path in-process: a broker on the memory store with a manual clock,
//! requests built as the HTTP layer builds them (form parameters, the raw signed request), no
//! network. The SDK-level behaviour of the same paths is in `tests/it`.

use std::sync::Arc;
use std::time::{Duration as StdDuration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::broker::error::ErrorCode;
use crate::broker::{ApiError, Broker, RawRequest, RequestMeta};
use crate::clock::ManualClock;
use crate::config::Config;
use crate::keys::DevIssuerKey;
use crate::query::{Params, dispatch};

const T0: i64 = 1_800_000_000;
const ISSUER: &str = "http://127.0.0.1:4566/dev-issuer";
const PROVIDER: &str = "arn:aws:iam::111122223333:oidc-provider/127.0.0.1/dev-issuer";
const APP: &str = "arn:aws:iam::111122223333:role/app";
const CLOSED: &str = "arn:aws:iam::111122223333:role/closed";
const CAROL_KEY: &str = "AKIACAROLHANDLERTEST";
const CAROL_SECRET: &str = "carolHandlerSecret/EXAMPLE+0123456789abcd";

struct Fixture {
    broker: Broker,
    /// Entries the store held once the broker started (its registry of roles and users).
    baseline: usize,
    clock: Arc<ManualClock>,
    dev_key: DevIssuerKey,
    _dir: tempfile::TempDir,
}

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("carol.secret"), CAROL_SECRET).unwrap();
    let toml = format!(
        r#"
[store]
url = "memory://"
[keys]
dir = "keys"
[dev_issuer]
enabled = true
issuer = "{ISSUER}"
[[accounts]]
id = "111122223333"
[[oidc_providers]]
account = "111122223333"
issuer = "{ISSUER}"
client_ids = ["sts.amazonaws.com"]
allow_http = true
[[roles]]
account = "111122223333"
name = "app"
max_session_duration = 3600
trust_policy = '''
{{"Version": "2012-10-17", "Statement": [
  {{"Effect": "Allow", "Principal": {{"Federated": "{PROVIDER}"}},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {{"StringLike": {{"127.0.0.1/dev-issuer:sub": "dev:*"}}}}}},
  {{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::111122223333:user/carol"}},
    "Action": "sts:AssumeRole"}}]}}
'''
[[roles]]
account = "111122223333"
name = "closed"
trust_policy = '''
{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
  "Principal": {{"Service": "ec2.amazonaws.com"}}, "Action": "sts:AssumeRole"}}]}}
'''
[[users]]
account = "111122223333"
name = "carol"
access_keys = [{{ id = "{CAROL_KEY}", secret_file = "carol.secret" }}]
"#
    );
    let config = Config::from_toml(&toml, "handlers.toml", dir.path()).unwrap();
    let keys_dir = config.keys_dir.clone();
    let clock = Arc::new(ManualClock::new(at(T0)));
    let broker = Broker::build(config, clock.clone()).await.unwrap();
    let dev_key = DevIssuerKey::load_or_generate(&keys_dir).unwrap();
    let baseline = entries(&broker);
    Fixture {
        broker,
        baseline,
        clock,
        dev_key,
        _dir: dir,
    }
}

impl Fixture {
    /// A dev-issuer token for `sub`, issued now on the manual clock, valid ten minutes.
    fn token(&self, sub: &str) -> String {
        let now = self.clock_now();
        let claims = json!({"iss": ISSUER, "sub": sub, "aud": "sts.amazonaws.com",
            "iat": now, "nbf": now, "exp": now + 600});
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.dev_key.key_id.clone());
        let key = jsonwebtoken::EncodingKey::from_ec_der(self.dev_key.pkcs8_der());
        crate::oidc::install_crypto_provider();
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    fn clock_now(&self) -> i64 {
        crate::clock::Clock::now(&*self.clock).unix_timestamp()
    }

    /// One Query API call with `form` as its body, unsigned.
    async fn call(&self, form: &[(&str, &str)]) -> Result<String, ApiError> {
        let body = encode(form);
        self.run(&body, Vec::new()).await
    }

    /// One call signed by `key_id`/`secret` at `signed_at` (unix seconds).
    async fn signed(
        &self,
        form: &[(&str, &str)],
        key_id: &str,
        secret: &str,
        signed_at: i64,
    ) -> Result<String, ApiError> {
        let body = encode(form);
        let headers = [
            ("host", "sts.example"),
            ("content-type", "application/x-www-form-urlencoded"),
        ];
        let identity = Credentials::new(key_id, secret, None, None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("sts")
            .time(UNIX_EPOCH + StdDuration::from_secs(u64::try_from(signed_at).unwrap()))
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            "POST",
            "https://sts.example/",
            headers.iter().copied(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        all.extend(
            instructions
                .headers()
                .map(|(n, v)| (n.to_owned(), v.to_owned())),
        );
        self.run(&body, all).await
    }

    async fn run(&self, body: &str, headers: Vec<(String, String)>) -> Result<String, ApiError> {
        let meta = RequestMeta {
            request_id: "in-process".to_owned(),
            source_ip: None,
            user_agent: None,
            secure_transport: true,
            raw: RawRequest {
                method: "POST".to_owned(),
                path: "/".to_owned(),
                query: String::new(),
                headers,
                body: bytes::Bytes::from(body.to_owned()),
            },
        };
        let params = Params::parse(body.as_bytes())?;
        dispatch(&self.broker, &params, &meta).await
    }

    /// Entries stored since the broker started: sessions and nothing else here.
    fn sessions(&self) -> usize {
        entries(&self.broker) - self.baseline
    }
}

fn entries(broker: &Broker) -> usize {
    match &broker.store {
        crate::store::Store::Memory(m) => m.len(),
        crate::store::Store::Redis(_) => unreachable!("the fixture uses the memory store"),
    }
}

fn encode(form: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish()
}

fn web_identity<'a>(role: &'a str, token: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", role),
        ("RoleSessionName", "handler"),
        ("WebIdentityToken", token),
    ]
}

#[tokio::test]
async fn web_identity_mints_for_a_trusted_subject_and_only_then() {
    let f = fixture().await;
    let token = f.token("dev:alice");
    let xml = f.call(&web_identity(APP, &token)).await.unwrap();
    assert!(xml.contains("<AccessKeyId>ASIA"), "{xml}");
    assert!(xml.contains("assumed-role/app/handler"), "{xml}");
    assert_eq!(f.sessions(), 1);

    // A subject the trust policy does not match: denied, naming the failing key only.
    let other = f.token("prod:mallory");
    let e = f.call(&web_identity(APP, &other)).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::AccessDenied);
    assert!(e.message.contains("127.0.0.1/dev-issuer:sub"), "{e}");
    assert!(!e.message.contains("dev:*"), "{e}");
    // An unknown role: the answer of a role that does not trust the provider.
    let unknown = f
        .call(&web_identity("arn:aws:iam::111122223333:role/nope", &token))
        .await
        .unwrap_err();
    let closed = f.call(&web_identity(CLOSED, &token)).await.unwrap_err();
    assert_eq!(unknown.code, closed.code);
    let head = |e: &ApiError| e.message.split(". Encoded").next().unwrap().to_owned();
    assert_eq!(head(&unknown), head(&closed));
    assert_eq!(f.sessions(), 1, "refusals store nothing");
}

#[tokio::test]
async fn web_identity_tokens_expire_on_the_brokers_clock() {
    let f = fixture().await;
    let token = f.token("dev:alice");
    // Past `exp` and the provider's leeway.
    f.clock.advance(Duration::minutes(20));
    let e = f.call(&web_identity(APP, &token)).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ExpiredTokenException, "{e}");
    assert_eq!(f.sessions(), 0);
}

#[tokio::test]
async fn assume_role_checks_the_signature_its_time_and_the_trust_policy() {
    let f = fixture().await;
    let form = [
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", APP),
        ("RoleSessionName", "carol"),
    ];
    let xml = f.signed(&form, CAROL_KEY, CAROL_SECRET, T0).await.unwrap();
    assert!(xml.contains("assumed-role/app/carol"), "{xml}");
    assert_eq!(f.sessions(), 1);

    let e = f
        .signed(&form, CAROL_KEY, "not-the-secret", T0)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::SignatureDoesNotMatch);
    // Signed 20 minutes before the broker's clock: past the allowed skew.
    let e = f
        .signed(&form, CAROL_KEY, CAROL_SECRET, T0 - 1200)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::RequestExpired);
    // Longer than the role allows.
    let mut long = form.to_vec();
    long.push(("DurationSeconds", "7200"));
    let e = f
        .signed(&long, CAROL_KEY, CAROL_SECRET, T0)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::ValidationError);
    let mut closed = form.to_vec();
    closed[2] = ("RoleArn", CLOSED);
    let e = f
        .signed(&closed, CAROL_KEY, CAROL_SECRET, T0)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::AccessDenied);
    assert!(
        e.message
            .starts_with("User: arn:aws:iam::111122223333:user/carol"),
        "{e}"
    );
    assert_eq!(f.sessions(), 1, "refusals store nothing");
}

#[tokio::test]
async fn caller_identity_and_session_tokens_need_a_signature() {
    let f = fixture().await;
    let who = [("Action", "GetCallerIdentity"), ("Version", "2011-06-15")];
    let xml = f.signed(&who, CAROL_KEY, CAROL_SECRET, T0).await.unwrap();
    assert!(
        xml.contains("<Arn>arn:aws:iam::111122223333:user/carol</Arn>"),
        "{xml}"
    );
    let e = f.call(&who).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::MissingAuthenticationToken);

    let token = [("Action", "GetSessionToken"), ("Version", "2011-06-15")];
    let xml = f.signed(&token, CAROL_KEY, CAROL_SECRET, T0).await.unwrap();
    assert!(xml.contains("<SessionToken>"), "{xml}");
    assert_eq!(f.sessions(), 1);
    let e = f.call(&token).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::MissingAuthenticationToken);
}

#[tokio::test]
async fn unknown_actions_and_versions_are_invalid_actions() {
    let f = fixture().await;
    for form in [
        vec![("Action", "Nope"), ("Version", "2011-06-15")],
        vec![("Action", "AssumeRole"), ("Version", "2099-01-01")],
    ] {
        assert_eq!(
            f.call(&form).await.unwrap_err().code,
            ErrorCode::InvalidAction
        );
    }
    assert_eq!(
        f.call(&[("Version", "2011-06-15")]).await.unwrap_err().code,
        ErrorCode::MissingAction
    );
}
