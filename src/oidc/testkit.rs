//! Test helpers: generated signing keys, a token signer, and a loopback identity provider that
//! serves discovery and JWKS and can be rotated, slowed, held or taken down.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    KeyPair as _, RsaKeyPair,
};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use serde_json::{Map, Value, json};

use super::{FetchClients, ProviderConfig};

/// The account [`config`]'s providers belong to.
pub(crate) const ACCOUNT: &str = "111122223333";

/// The tests' "now" (2023-11-14T22:13:20Z).
pub(crate) const NOW: i64 = 1_700_000_000;

pub(crate) fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text.as_bytes())
}

fn b64_bytes(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The decoded payload of a compact JWS, unverified.
pub(crate) fn payload_of(token: &str) -> Map<String, Value> {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The public conformance data (`../shared/testdata` unless `STS_BROKER_TESTDATA` says
/// otherwise), or `None` when absent unless required (see [`locate`]; the same rule as the
/// integration tests' `support::testdata`).
pub(crate) fn testdata(sub: &str) -> Option<PathBuf> {
    let root = std::env::var_os("STS_BROKER_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata"));
    let required =
        std::env::var("STS_BROKER_REQUIRE_TESTDATA").is_ok_and(|v| !v.is_empty() && v != "0");
    match locate(&root, sub, required) {
        Ok(found) => found,
        Err(missing) => panic!("{missing}"),
    }
}

/// Skips so far in this test process.
static SKIPPED: AtomicUsize = AtomicUsize::new(0);

/// `root/sub` when it exists. Missing: an error when `required` (CI sets
/// `STS_BROKER_REQUIRE_TESTDATA=1`, so a broken layout cannot pass unnoticed), else `None`
/// after a line on the real stderr (not captured by the test harness, so a passing run shows
/// how many conformance suites it skipped).
pub(crate) fn locate(
    root: &std::path::Path,
    sub: &str,
    required: bool,
) -> Result<Option<PathBuf>, String> {
    let path = root.join(sub);
    if path.exists() {
        return Ok(Some(path));
    }
    if required {
        return Err(format!(
            "conformance data {} not found and STS_BROKER_REQUIRE_TESTDATA is set",
            path.display()
        ));
    }
    let n = SKIPPED.fetch_add(1, Ordering::Relaxed) + 1;
    let line = format!(
        "SKIPPED conformance suite #{n}: {} not found (set STS_BROKER_TESTDATA)\n",
        path.display()
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
    Ok(None)
}

/// A provider config with the defaults the broker uses; no keys configured.
pub(crate) fn config(issuer: &str) -> ProviderConfig {
    ProviderConfig {
        account: ACCOUNT.to_owned(),
        issuer: issuer.to_owned(),
        accepted_issuers: Vec::new(),
        client_ids: vec!["sts.amazonaws.com".to_owned()],
        jwks_uri: None,
        allow_http: false,
        leeway: Duration::ZERO,
        refetch_interval: Duration::from_secs(10),
        max_key_age: Duration::from_secs(3600),
        fetch_timeout: None,
        static_keys: None,
        public_only: false,
    }
}

/// Clients that never go through a proxy (the loopback IdP must be reached directly).
pub(crate) fn http_client() -> FetchClients {
    FetchClients::new(reqwest::Client::builder().no_proxy().build().unwrap()).unwrap()
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair, Algorithm),
}

/// A signing key with a fixed `kid`, generated once per test run.
pub(crate) struct TestKey {
    kid: &'static str,
    pair: Pair,
}

macro_rules! test_key {
    ($name:ident, $make:expr) => {
        pub(crate) fn $name() -> &'static TestKey {
            static KEY: OnceLock<TestKey> = OnceLock::new();
            KEY.get_or_init(|| $make)
        }
    };
}

impl TestKey {
    test_key!(rsa_a, TestKey::rsa("rsa-a"));
    test_key!(rsa_b, TestKey::rsa("rsa-b"));
    test_key!(rsa_c, TestKey::rsa("rsa-c"));
    test_key!(es256, TestKey::ec("es256", Algorithm::ES256));
    test_key!(es384, TestKey::ec("es384", Algorithm::ES384));

    fn rsa(kid: &'static str) -> TestKey {
        let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        TestKey {
            kid,
            pair: Pair::Rsa(pair),
        }
    }

    fn ec(kid: &'static str, alg: Algorithm) -> TestKey {
        let signing = match alg {
            Algorithm::ES256 => &ECDSA_P256_SHA256_FIXED_SIGNING,
            _ => &ECDSA_P384_SHA384_FIXED_SIGNING,
        };
        TestKey {
            kid,
            pair: Pair::Ec(EcdsaKeyPair::generate(signing).unwrap(), alg),
        }
    }

    pub(crate) fn kid(&self) -> &'static str {
        self.kid
    }

    /// The algorithm `sign` uses.
    pub(crate) fn alg(&self) -> Algorithm {
        match &self.pair {
            Pair::Rsa(_) => Algorithm::RS256,
            Pair::Ec(_, alg) => *alg,
        }
    }

    pub(crate) fn alg_name(&self) -> &'static str {
        match self.alg() {
            Algorithm::RS256 => "RS256",
            Algorithm::ES256 => "ES256",
            _ => "ES384",
        }
    }

    /// The public JWK, with `kid` and `use: sig`, without `alg`.
    pub(crate) fn jwk(&self) -> Value {
        match &self.pair {
            Pair::Rsa(pair) => {
                let public = signature::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                json!({"kty": "RSA", "use": "sig", "kid": self.kid, "n": b64_bytes(&public.n), "e": b64_bytes(&public.e)})
            }
            Pair::Ec(pair, alg) => {
                let point = pair.public_key().as_ref();
                let (x, y) = point[1..].split_at((point.len() - 1) / 2);
                let crv = if *alg == Algorithm::ES256 {
                    "P-256"
                } else {
                    "P-384"
                };
                json!({"kty": "EC", "use": "sig", "kid": self.kid, "crv": crv, "x": b64_bytes(x), "y": b64_bytes(y)})
            }
        }
    }

    /// A token over `claims` with header `{"alg", "kid", "typ": "JWT"}`.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": self.alg_name(), "kid": self.kid, "typ": "JWT"});
        sign_raw(self, &header.to_string(), &claims.to_string())
    }
}

/// A token with exactly these header and payload texts, signed by `key` with the header's `alg`
/// (RS256/384/512 for RSA keys; EC keys sign with their curve's algorithm).
pub(crate) fn sign_raw(key: &TestKey, header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let alg: Value = serde_json::from_str::<Value>(header).unwrap()["alg"].clone();
    let rng = SystemRandom::new();
    let signature = match &key.pair {
        Pair::Rsa(pair) => {
            let padding: &'static dyn signature::RsaEncoding = match alg.as_str() {
                Some("RS384") => &signature::RSA_PKCS1_SHA384,
                Some("RS512") => &signature::RSA_PKCS1_SHA512,
                _ => &signature::RSA_PKCS1_SHA256,
            };
            let mut sig = vec![0; pair.public_modulus_len()];
            pair.sign(padding, &rng, input.as_bytes(), &mut sig)
                .unwrap();
            sig
        }
        Pair::Ec(pair, _) => pair.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec(),
    };
    format!("{input}.{}", b64_bytes(&signature))
}

/// The classic key-confusion forgery: HS256 keyed with the RSA key's public modulus.
pub(crate) fn hs256_with_public_key(key: &TestKey, claims: &Value) -> String {
    let header = json!({"alg": "HS256", "kid": key.kid()}).to_string();
    let input = format!("{}.{}", b64(&header), b64(&claims.to_string()));
    let n = key.jwk()["n"].as_str().unwrap().to_owned();
    let mac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, n.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&mac_key, input.as_bytes());
    format!("{input}.{}", b64_bytes(tag.as_ref()))
}

pub(crate) fn jwks(keys: &[&TestKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
}

pub(crate) fn jwk_set(keys: &[&TestKey]) -> JwkSet {
    serde_json::from_value(jwks(keys)).unwrap()
}

struct IdpState {
    issuer: String,
    discovery: Mutex<Option<Value>>,
    jwks: Mutex<Value>,
    down: AtomicBool,
    discovery_hits: AtomicUsize,
    jwks_hits: AtomicUsize,
    /// JWKS requests wait for a read lock: a test holding the write lock holds them.
    gate: Arc<tokio::sync::RwLock<()>>,
    /// Signalled when a JWKS request arrives.
    jwks_reached: tokio::sync::Notify,
}

/// A loopback OIDC provider on `127.0.0.1:0`: `/.well-known/openid-configuration` (shaped like
/// GitHub Actions', without `authorization_endpoint`) and `/jwks`. Stops when dropped.
pub(crate) struct Idp {
    pub issuer: String,
    state: Arc<IdpState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Idp {
    pub(crate) async fn start(keys: &[&TestKey]) -> Idp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(IdpState {
            issuer: issuer.clone(),
            discovery: Mutex::new(None),
            jwks: Mutex::new(jwks(keys)),
            down: AtomicBool::new(false),
            discovery_hits: AtomicUsize::new(0),
            jwks_hits: AtomicUsize::new(0),
            gate: Arc::new(tokio::sync::RwLock::new(())),
            jwks_reached: tokio::sync::Notify::new(),
        });
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks_handler))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Idp {
            issuer,
            state,
            task,
        }
    }

    pub(crate) fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    /// A provider config for this IdP (discovery, `http` allowed).
    pub(crate) fn config(&self) -> ProviderConfig {
        let mut c = config(&self.issuer);
        c.allow_http = true;
        c
    }

    pub(crate) fn discovery_hits(&self) -> usize {
        self.state.discovery_hits.load(Ordering::SeqCst)
    }

    pub(crate) fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    pub(crate) fn set_keys(&self, keys: &[&TestKey]) {
        self.set_jwks(jwks(keys));
    }

    pub(crate) fn set_jwks(&self, doc: Value) {
        *self.state.jwks.lock().unwrap() = doc;
    }

    pub(crate) fn set_discovery(&self, doc: Value) {
        *self.state.discovery.lock().unwrap() = Some(doc);
    }

    /// Answer every request with 503 while `down`.
    pub(crate) fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    /// Holds JWKS responses until the guard is dropped.
    pub(crate) async fn hold_jwks(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        self.state.gate.clone().write_owned().await
    }

    /// Waits until a JWKS request has arrived (one arrival is remembered if nobody waited).
    pub(crate) async fn jwks_requested(&self) {
        self.state.jwks_reached.notified().await;
    }
}

async fn discovery(State(state): State<Arc<IdpState>>) -> impl IntoResponse {
    state.discovery_hits.fetch_add(1, Ordering::SeqCst);
    if state.down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, json_type(), String::new());
    }
    let doc = state.discovery.lock().unwrap().clone().unwrap_or_else(|| {
        json!({
            "issuer": state.issuer,
            "jwks_uri": format!("{}/jwks", state.issuer),
            "subject_types_supported": ["public", "pairwise"],
            "response_types_supported": ["id_token"],
            "claims_supported": ["sub", "aud", "exp", "iat", "iss", "repository"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid"]
        })
    });
    (StatusCode::OK, json_type(), doc.to_string())
}

async fn jwks_handler(State(state): State<Arc<IdpState>>) -> impl IntoResponse {
    state.jwks_hits.fetch_add(1, Ordering::SeqCst);
    state.jwks_reached.notify_one();
    let _pass = state.gate.read().await;
    if state.down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, json_type(), String::new());
    }
    let doc = state.jwks.lock().unwrap().to_string();
    (StatusCode::OK, json_type(), doc)
}

fn json_type() -> [(header::HeaderName, &'static str); 1] {
    [(header::CONTENT_TYPE, "application/json")]
}
