//! A loopback OIDC identity provider: discovery at `ISSUER/.well-known/openid-configuration`,
//! keys at `ISSUER/jwks.json`, tokens signed with real RSA-2048 and EC P-256 keys. Tests can
//! rotate keys, take it down, make either endpoint misbehave ([`Fault`]), and count how often
//! (and how many at once) its documents were fetched.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// A signing key of the IdP.
pub enum TestKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

impl TestKey {
    pub fn rsa() -> TestKey {
        TestKey::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
    }

    pub fn ec() -> TestKey {
        TestKey::Ec(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
    }

    pub fn alg(&self) -> &'static str {
        match self {
            TestKey::Rsa(_) => "RS256",
            TestKey::Ec(_) => "ES256",
        }
    }

    pub fn jwk(&self, kid: &str) -> Value {
        match self {
            TestKey::Rsa(pair) => {
                let public = pair.public_key();
                json!({
                    "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                    "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                    "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
                })
            }
            TestKey::Ec(pair) => {
                let point = pair.public_key().as_ref();
                json!({
                    "kty": "EC", "use": "sig", "alg": "ES256", "crv": "P-256", "kid": kid,
                    "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                    "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
                })
            }
        }
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            TestKey::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
                    .unwrap();
                sig
            }
            TestKey::Ec(pair) => pair
                .sign(&SystemRandom::new(), message)
                .unwrap()
                .as_ref()
                .to_vec(),
        }
    }
}

/// Signs `header.payload` as a compact JWS.
pub fn sign_jwt(key: &TestKey, header: &Value, claims: &Value) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// How an endpoint misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    #[default]
    None,
    /// Accepts the request and never answers.
    Hang,
    /// `200`, then one byte of the document a second.
    Trickle,
    /// `200` with 10 MB of JSON-looking padding, streamed without a length.
    Huge,
    /// `302` to a URL serving the real document.
    Redirect,
    /// `200` with an HTML page.
    NotJson,
}

/// Which endpoint a [`Fault`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Discovery,
    Jwks,
}

#[derive(Default)]
struct Shared {
    keys: Mutex<HashMap<String, Arc<TestKey>>>,
    published: Mutex<Vec<String>>,
    down: AtomicBool,
    jwks_hits: AtomicUsize,
    discovery_hits: AtomicUsize,
    issuer: Mutex<String>,
    discovery_fault: Mutex<Fault>,
    jwks_fault: Mutex<Fault>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// Counts a request in flight until dropped (also when the client goes away mid-answer).
struct InFlight(Arc<Shared>);

impl InFlight {
    fn new(shared: &Arc<Shared>) -> InFlight {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(shared.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

pub struct TestIdp {
    pub issuer: String,
    shared: Arc<Shared>,
    _stop: oneshot::Sender<()>,
}

impl TestIdp {
    /// Starts with one published RSA key (`rsa-1`) and one published EC key (`ec-1`).
    pub async fn start() -> TestIdp {
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new()
            .route("/idp/.well-known/openid-configuration", get(discovery))
            .route("/idp/jwks.json", get(jwks))
            .route("/idp/real/jwks.json", get(real_jwks))
            .route("/idp/real/openid-configuration", get(real_discovery))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let issuer = format!("http://127.0.0.1:{}/idp", addr.port());
        *shared.issuer.lock().unwrap() = issuer.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        let idp = TestIdp {
            issuer,
            shared,
            _stop: stop,
        };
        idp.add_key("rsa-1", TestKey::rsa(), true);
        idp.add_key("ec-1", TestKey::ec(), true);
        idp
    }

    /// The prefix of this provider's condition keys (`127.0.0.1/idp`).
    pub fn key_prefix(&self) -> &'static str {
        "127.0.0.1/idp"
    }

    pub fn add_key(&self, kid: &str, key: TestKey, publish: bool) {
        self.shared
            .keys
            .lock()
            .unwrap()
            .insert(kid.to_owned(), Arc::new(key));
        if publish {
            self.shared.published.lock().unwrap().push(kid.to_owned());
        }
    }

    /// Publishes exactly these keys.
    pub fn publish_only(&self, kids: &[&str]) {
        *self.shared.published.lock().unwrap() = kids.iter().map(|k| (*k).to_owned()).collect();
    }

    /// Makes `endpoint` misbehave as `fault` says (`Fault::None` to heal it).
    pub fn set_fault(&self, endpoint: Endpoint, fault: Fault) {
        let slot = match endpoint {
            Endpoint::Discovery => &self.shared.discovery_fault,
            Endpoint::Jwks => &self.shared.jwks_fault,
        };
        *slot.lock().unwrap() = fault;
    }

    /// The most discovery and JWKS requests the IdP was ever answering at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    pub fn jwks_hits(&self) -> usize {
        self.shared.jwks_hits.load(Ordering::SeqCst)
    }

    pub fn discovery_hits(&self) -> usize {
        self.shared.discovery_hits.load(Ordering::SeqCst)
    }

    /// Standard claims for `sub`, valid for ten minutes.
    pub fn claims(&self, sub: &str) -> Value {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        json!({
            "iss": self.issuer,
            "sub": sub,
            "aud": "sts.amazonaws.com",
            "iat": now,
            "nbf": now,
            "exp": now + 600,
        })
    }

    /// A token signed by `kid` with `claims`.
    pub fn token(&self, kid: &str, claims: &Value) -> String {
        let key = self.shared.keys.lock().unwrap().get(kid).cloned().unwrap();
        let header = json!({"alg": key.alg(), "kid": kid, "typ": "JWT"});
        sign_jwt(&key, &header, claims)
    }
}

/// The document as `fault` serves it, holding an [`InFlight`] until the answer is done.
async fn faulty(shared: &Arc<Shared>, fault: Fault, document: Value, real: &str) -> Response {
    use axum::body::{Body, Bytes};
    let guard = InFlight::new(shared);
    let json = |body: Body| {
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(body)
            .unwrap()
    };
    match fault {
        Fault::None => {
            drop(guard);
            axum::Json(document).into_response()
        }
        Fault::Hang => {
            let _guard = guard;
            std::future::pending::<()>().await;
            StatusCode::OK.into_response()
        }
        Fault::Trickle => {
            let bytes = document.to_string().into_bytes();
            let stream = futures_util::stream::unfold((0, guard), move |(i, guard)| {
                let byte = bytes.get(i).copied();
                async move {
                    if i > 0 {
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                    byte.map(|b| {
                        (
                            Ok::<_, std::io::Error>(Bytes::from(vec![b])),
                            (i + 1, guard),
                        )
                    })
                }
            });
            json(Body::from_stream(stream))
        }
        Fault::Huge => {
            let chunk = Bytes::from(vec![b' '; 64 * 1024]);
            let stream = futures_util::stream::unfold((0, guard), move |(i, guard)| {
                let chunk = chunk.clone();
                async move { (i < 160).then(|| (Ok::<_, std::io::Error>(chunk), (i + 1, guard))) }
            });
            json(Body::from_stream(stream))
        }
        Fault::Redirect => {
            drop(guard);
            Response::builder()
                .status(StatusCode::FOUND)
                .header("location", real)
                .body(Body::empty())
                .unwrap()
        }
        Fault::NotJson => {
            drop(guard);
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "text/html")
                .body(Body::from("<html><body>Sign in</body></html>"))
                .unwrap()
        }
    }
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    shared.discovery_hits.fetch_add(1, Ordering::SeqCst);
    if shared.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let fault = *shared.discovery_fault.lock().unwrap();
    let issuer = shared.issuer.lock().unwrap().clone();
    let real = format!("{issuer}/real/openid-configuration");
    faulty(&shared, fault, discovery_document(&shared), &real).await
}

async fn real_discovery(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(discovery_document(&shared)).into_response()
}

fn discovery_document(shared: &Shared) -> Value {
    let issuer = shared.issuer.lock().unwrap().clone();
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks.json"),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    })
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    shared.jwks_hits.fetch_add(1, Ordering::SeqCst);
    if shared.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let fault = *shared.jwks_fault.lock().unwrap();
    let real = format!("{}/real/jwks.json", shared.issuer.lock().unwrap());
    faulty(&shared, fault, jwks_document(&shared), &real).await
}

async fn real_jwks(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(jwks_document(&shared)).into_response()
}

fn jwks_document(shared: &Shared) -> Value {
    let keys = shared.keys.lock().unwrap();
    let published = shared.published.lock().unwrap();
    let jwks: Vec<Value> = published
        .iter()
        .filter_map(|kid| keys.get(kid).map(|k| k.jwk(kid)))
        .collect();
    json!({ "keys": jwks })
}
