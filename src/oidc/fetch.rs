//! Fetching a provider's keys: OIDC Discovery 1.0 §4 (`{issuer}/.well-known/openid-configuration`
//! → `jwks_uri`) and the JWKS document (RFC 7517 §5), through the [`FetchClients`] the caller
//! gave. Every response is bounded ([`MAX_RESPONSE_BYTES`]), must be `200` and must come from an
//! `https` URL unless the provider allows `http`. A source restricted to the public internet
//! (providers created through IAM's API) has every URL checked before it is requested (no
//! `localhost`, no address literal outside the public internet, see [`super::address`]) and
//! goes through a client that connects only to public addresses and follows no redirect.
//! Retry, caching and rate limits are the caller's ([`super::jwks`]).

#[cfg(test)]
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::ACCEPT;

use super::address::{self, internal_host};
use super::keys::{KeySet, KeySetError};
use super::verify::normalize_issuer;

/// Largest discovery or JWKS response read, in bytes.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Default bound on one whole fetch (discovery and JWKS together).
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a provider's keys could not be fetched. For logs: the client sees only
/// [`KEY_UNAVAILABLE_MESSAGE`](super::KEY_UNAVAILABLE_MESSAGE).
#[derive(Debug, thiserror::Error)]
pub enum KeyFetchError {
    #[error("fetching keys took longer than {0:?}")]
    Timeout(Duration),
    #[error("GET {url}: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("GET {url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    #[error("GET {url}: response larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge { url: String },
    #[error("GET {url}: {reason}")]
    Insecure { url: String, reason: &'static str },
    #[error("discovery document at {url}: {reason}")]
    Discovery { url: String, reason: String },
    #[error("JWKS at {url}: {source}")]
    KeySet {
        url: String,
        #[source]
        source: KeySetError,
    },
}

/// How a key fetch ended, as operators count it (a small fixed set, not the error text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchResult {
    Success,
    /// The whole fetch took longer than the provider's deadline.
    Timeout,
    /// No connection, or an answer other than `200`.
    HttpError,
    /// An answer that is not a usable discovery document or key set (too large, not `https`,
    /// not parseable).
    Invalid,
}

impl FetchResult {
    pub const ALL: [FetchResult; 4] = [
        FetchResult::Success,
        FetchResult::Timeout,
        FetchResult::HttpError,
        FetchResult::Invalid,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FetchResult::Success => "success",
            FetchResult::Timeout => "timeout",
            FetchResult::HttpError => "http_error",
            FetchResult::Invalid => "invalid",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            FetchResult::Success => 0,
            FetchResult::Timeout => 1,
            FetchResult::HttpError => 2,
            FetchResult::Invalid => 3,
        }
    }
}

impl KeyFetchError {
    /// The counted result of a fetch that failed this way.
    pub fn result(&self) -> FetchResult {
        match self {
            KeyFetchError::Timeout(_) => FetchResult::Timeout,
            KeyFetchError::Http { .. } | KeyFetchError::Status { .. } => FetchResult::HttpError,
            KeyFetchError::TooLarge { .. }
            | KeyFetchError::Insecure { .. }
            | KeyFetchError::Discovery { .. }
            | KeyFetchError::KeySet { .. } => FetchResult::Invalid,
        }
    }
}

/// Where a provider's keys come from.
#[derive(Debug, Clone)]
pub(crate) struct RemoteSource {
    /// The configured issuer.
    pub issuer: String,
    /// Configured JWKS URL; `None` means discovery.
    pub jwks_uri: Option<String>,
    pub allow_http: bool,
    /// Fetch only from the public internet (see [`FetchClients::public_only`]).
    pub public_only: bool,
}

impl RemoteSource {
    pub(crate) fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            normalize_issuer(&self.issuer)
        )
    }
}

/// The HTTP clients key fetches go through: the operator's for the providers the operator
/// configured, and one that reaches only the public internet for providers anyone allowed to
/// call IAM's API can create (which would otherwise make the broker fetch from its own
/// network: a cloud metadata service, an internal API).
#[derive(Debug, Clone)]
pub struct FetchClients {
    operator: reqwest::Client,
    public_only: reqwest::Client,
    /// The addresses `public_only` may reach: [`address::is_public`] but in tests.
    allowed: fn(IpAddr) -> bool,
}

/// Connection deadline of the public-only client (the operator's client sets its own).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl FetchClients {
    /// `operator` for the operator's providers, and the public-only client: names resolved by
    /// the system, then only public addresses kept (a name left with none is refused); no
    /// proxy (the proxy would connect, not this filter); no redirect followed.
    pub fn new(operator: reqwest::Client) -> Result<FetchClients, reqwest::Error> {
        FetchClients::with_lookup(operator, Lookup::System, address::is_public)
    }

    fn with_lookup(
        operator: reqwest::Client,
        lookup: Lookup,
        allowed: fn(IpAddr) -> bool,
    ) -> Result<FetchClients, reqwest::Error> {
        let public_only = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(PublicOnlyResolver { lookup, allowed }))
            .build()?;
        Ok(FetchClients {
            operator,
            public_only,
            allowed,
        })
    }

    /// The client that connects only to public addresses. Address literals never reach a
    /// resolver, so fetches check every URL first ([`check_reachable`]); this client alone
    /// keeps names from leading inside.
    pub fn public_only(&self) -> &reqwest::Client {
        &self.public_only
    }

    /// The client for `source`, and the addresses its URLs may name (`None`: any).
    fn reach(&self, source: &RemoteSource) -> Reach<'_> {
        Reach {
            http: if source.public_only {
                &self.public_only
            } else {
                &self.operator
            },
            allowed: source.public_only.then_some(self.allowed),
            allow_http: source.allow_http,
        }
    }
}

/// How one source's URLs are fetched.
#[derive(Clone, Copy)]
struct Reach<'a> {
    http: &'a reqwest::Client,
    allowed: Option<fn(IpAddr) -> bool>,
    allow_http: bool,
}

/// How names are resolved before the public-only filter.
#[derive(Debug, Clone)]
enum Lookup {
    /// The system's resolver (`getaddrinfo` on the blocking pool), as reqwest's default.
    System,
    /// Fixed answers by name; a name not listed does not resolve.
    #[cfg(test)]
    Fixed(Arc<HashMap<String, Vec<IpAddr>>>),
}

impl Lookup {
    async fn addresses(&self, name: &str) -> std::io::Result<Vec<SocketAddr>> {
        match self {
            Lookup::System => Ok(tokio::net::lookup_host((name, 0)).await?.collect()),
            #[cfg(test)]
            Lookup::Fixed(answers) => Ok(answers
                .get(name)
                .map(|ips| ips.iter().map(|ip| SocketAddr::new(*ip, 0)).collect())
                .unwrap_or_default()),
        }
    }
}

/// A resolver that keeps only the addresses `allowed` admits: the connection is made to one of
/// those, so a name that resolves elsewhere by the time it is used (DNS rebinding) still leads
/// nowhere else.
#[derive(Debug, Clone)]
struct PublicOnlyResolver {
    lookup: Lookup,
    allowed: fn(IpAddr) -> bool,
}

/// A name that resolved to no address a public-only fetch may reach.
#[derive(Debug, thiserror::Error)]
#[error("{name} resolves to no public address")]
struct NoPublicAddress {
    name: String,
}

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let found = this.lookup.addresses(&name).await?;
            let kept = public_addresses(found, this.allowed);
            if kept.is_empty() {
                return Err(Box::new(NoPublicAddress { name }) as Box<_>);
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The addresses of `found` that `allowed` admits.
fn public_addresses(found: Vec<SocketAddr>, allowed: fn(IpAddr) -> bool) -> Vec<SocketAddr> {
    found.into_iter().filter(|a| allowed(a.ip())).collect()
}

/// Fetches and prepares the provider's key set, within `timeout`.
pub(crate) async fn fetch_keys(
    clients: &FetchClients,
    source: &RemoteSource,
    timeout: Duration,
) -> Result<KeySet, KeyFetchError> {
    let reach = clients.reach(source);
    let work = async {
        let jwks_uri = match &source.jwks_uri {
            Some(uri) => uri.clone(),
            None => discover(reach, source).await?,
        };
        let body = get_bounded(reach, &jwks_uri).await?;
        KeySet::from_json(&body).map_err(|source| KeyFetchError::KeySet {
            url: jwks_uri,
            source,
        })
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| KeyFetchError::Timeout(timeout))?
}

/// Reads the discovery document and returns its `jwks_uri`. Its `issuer` must equal the
/// configured one (§4.3); only `issuer` and `jwks_uri` are read, and `jwks_uri` must pass the
/// checks the provider's own URLs pass. That is why this does not go through `openidconnect`'s
/// `CoreProviderMetadata`: it requires `authorization_endpoint`, which GitHub Actions'
/// document does not have (ramosbugs/openidconnect-rs#201), and it reads the JWKS itself
/// without a size bound.
async fn discover(reach: Reach<'_>, source: &RemoteSource) -> Result<String, KeyFetchError> {
    #[derive(serde::Deserialize)]
    struct Metadata {
        issuer: String,
        jwks_uri: String,
    }
    let url = source.discovery_url();
    let body = get_bounded(reach, &url).await?;
    let metadata: Metadata =
        serde_json::from_slice(&body).map_err(|e| KeyFetchError::Discovery {
            url: url.clone(),
            reason: format!("not a provider metadata document: {e}"),
        })?;
    // OIDC Discovery §4.3: exactly the issuer the document was fetched for.
    if metadata.issuer != source.issuer {
        return Err(KeyFetchError::Discovery {
            url,
            reason: format!(
                "issuer {:?} differs from the configured {:?}",
                metadata.issuer, source.issuer
            ),
        });
    }
    check_reachable(&metadata.jwks_uri, reach).map_err(|reason| KeyFetchError::Discovery {
        url,
        reason: format!("jwks_uri {:?}: {reason}", metadata.jwks_uri),
    })?;
    Ok(metadata.jwks_uri)
}

/// Whether `url` may be fetched for a source fetched as `reach` says: [`check_url`] (a query
/// allowed), and for a public-only source no `localhost` name and no address literal outside
/// the public internet.
fn check_reachable(url: &str, reach: Reach<'_>) -> Result<(), &'static str> {
    let parsed = check_url(url, reach.allow_http, true)?;
    if let Some(allowed) = reach.allowed
        && parsed.host_str().is_some_and(|h| internal_host(h, allowed))
    {
        return Err(NOT_PUBLIC);
    }
    Ok(())
}

/// Why a URL is refused for a public-only source.
const NOT_PUBLIC: &str = "names a loopback, private or other non-public address";

/// GET `url`, expecting `200` and at most [`MAX_RESPONSE_BYTES`].
async fn get_bounded(reach: Reach<'_>, url: &str) -> Result<Vec<u8>, KeyFetchError> {
    check_reachable(url, reach).map_err(|reason| KeyFetchError::Insecure {
        url: url.to_owned(),
        reason,
    })?;
    let http_error = |source| KeyFetchError::Http {
        url: url.to_owned(),
        source,
    };
    let mut response = reach
        .http
        .get(url)
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(http_error)?;
    // A redirect may have taken us elsewhere: the final URL must be as secure as the first (the
    // public-only client follows none: a redirect is a status other than `200`).
    if !reach.allow_http && response.url().scheme() != "https" {
        return Err(KeyFetchError::Insecure {
            url: url.to_owned(),
            reason: "redirected to a URL that is not https",
        });
    }
    if response.status() != reqwest::StatusCode::OK {
        return Err(KeyFetchError::Status {
            url: url.to_owned(),
            status: response.status().as_u16(),
        });
    }
    let too_large = || KeyFetchError::TooLarge {
        url: url.to_owned(),
    };
    if response
        .content_length()
        .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(http_error)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Checks a provider URL: `https` (or `http` when allowed) with a host, no credentials, no
/// fragment, and a query only where `allow_query`.
pub(crate) fn check_url(
    url: &str,
    allow_http: bool,
    allow_query: bool,
) -> Result<Url, &'static str> {
    let scheme_ok = url.starts_with("https://") || (allow_http && url.starts_with("http://"));
    if !scheme_ok {
        return Err(if allow_http {
            "must start with https:// or http://"
        } else {
            "must start with https://"
        });
    }
    let parsed = Url::parse(url).map_err(|_| "is not a valid URL")?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("has no host");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not contain credentials");
    }
    if parsed.fragment().is_some() {
        return Err("must not have a fragment");
    }
    if !allow_query && parsed.query().is_some() {
        return Err("must not have a query");
    }
    Ok(parsed)
}

/// [`check_url`] for a provider restricted to the public internet: `https`, and no `localhost`
/// name or address literal outside the public internet ([`address::is_public`]).
pub(crate) fn check_public_url(url: &str, allow_query: bool) -> Result<Url, &'static str> {
    let parsed = check_url(url, false, allow_query)?;
    if parsed
        .host_str()
        .is_some_and(|h| internal_host(h, address::is_public))
    {
        return Err(NOT_PUBLIC);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::oidc::testkit::{Idp, TestKey, http_client};

    #[test]
    fn urls_must_be_https_without_query_or_fragment() {
        assert!(check_url("https://token.actions.githubusercontent.com", false, false).is_ok());
        assert!(
            check_url(
                "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC",
                false,
                false
            )
            .is_ok()
        );
        assert!(check_url("https://idp.example/jwks?v=2", false, true).is_ok());
        assert!(check_url("http://127.0.0.1:8080", true, false).is_ok());
        for (url, allow_http) in [
            ("http://idp.example", false),
            ("HTTPS://idp.example", false),
            ("ftp://idp.example", true),
            ("idp.example", false),
            ("https://", false),
            ("https://idp.example?x=1", false),
            ("https://idp.example#frag", false),
            ("https://user:pw@idp.example", false),
            ("https://idp .example", false),
        ] {
            assert!(check_url(url, allow_http, false).is_err(), "{url}");
        }
    }

    fn source(idp: &Idp) -> RemoteSource {
        RemoteSource {
            issuer: idp.issuer.clone(),
            jwks_uri: None,
            allow_http: true,
            public_only: false,
        }
    }

    /// A TCP listener on `ip` that counts the connections it accepts and answers each with
    /// `response`.
    async fn counting_listener(ip: &str, response: String) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let response = response.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = stream.read(&mut buf).await;
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        (addr, accepted)
    }

    const EMPTY_JWKS: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"keys\":[]}";

    /// Clients whose public-only side admits 127.0.0.1 alone (the loopback IdP standing in
    /// for the internet) and resolves names from `names`.
    fn clients_admitting_127_0_0_1(names: &[(&str, &str)]) -> FetchClients {
        let answers = names
            .iter()
            .map(|(name, ip)| ((*name).to_owned(), vec![ip.parse().unwrap()]))
            .collect();
        FetchClients::with_lookup(
            reqwest::Client::builder().no_proxy().build().unwrap(),
            Lookup::Fixed(Arc::new(answers)),
            |ip| ip == IpAddr::from([127, 0, 0, 1]),
        )
        .unwrap()
    }

    fn public_only(issuer: &str) -> RemoteSource {
        RemoteSource {
            issuer: issuer.to_owned(),
            jwks_uri: None,
            // The loopback servers speak plain HTTP; the address rules are what is tested.
            allow_http: true,
            public_only: true,
        }
    }

    #[test]
    fn the_resolver_keeps_only_public_addresses() {
        let at = |ip: &str| SocketAddr::new(ip.parse().unwrap(), 443);
        let found = vec![
            at("127.0.0.1"),
            at("169.254.169.254"),
            at("140.82.112.3"),
            at("::ffff:10.0.0.1"),
            at("fd00::1"),
            at("2606:4700:4700::1111"),
        ];
        assert_eq!(
            public_addresses(found, address::is_public),
            [at("140.82.112.3"), at("2606:4700:4700::1111")]
        );
        let inside = vec![at("127.0.0.1"), at("::1"), at("100.64.1.1")];
        assert!(public_addresses(inside, address::is_public).is_empty());
    }

    #[tokio::test]
    async fn a_discovery_document_naming_a_non_public_jwks_uri_is_refused_without_a_request() {
        let idp = Idp::start(&[TestKey::rsa_a()]).await;
        let (inside, hits) = counting_listener("127.0.0.2", EMPTY_JWKS.to_owned()).await;
        let clients = clients_admitting_127_0_0_1(&[("keys.internal.example", "127.0.0.2")]);
        for jwks_uri in [
            format!("http://{inside}/jwks"),
            format!("http://localhost:{}/jwks", inside.port()),
            format!("http://keys.internal.example:{}/jwks", inside.port()),
        ] {
            idp.set_discovery(json!({"issuer": idp.issuer, "jwks_uri": jwks_uri}));
            let err = fetch_keys(&clients, &public_only(&idp.issuer), DEFAULT_FETCH_TIMEOUT)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    KeyFetchError::Discovery { .. } | KeyFetchError::Http { .. }
                ),
                "{jwks_uri}: {err}"
            );
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0, "no request reached it");
        assert_eq!(idp.discovery_hits(), 3);
        // The operator's providers are not restricted: the listener counts what reaches it.
        idp.set_discovery(
            json!({"issuer": idp.issuer, "jwks_uri": format!("http://{inside}/jwks")}),
        );
        let mut trusted = public_only(&idp.issuer);
        trusted.public_only = false;
        // (An empty key set is refused, once fetched.)
        let _ = fetch_keys(&clients, &trusted, DEFAULT_FETCH_TIMEOUT).await;
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_name_resolving_only_to_non_public_addresses_is_never_connected_to() {
        let (inside, hits) = counting_listener("127.0.0.2", EMPTY_JWKS.to_owned()).await;
        let clients = clients_admitting_127_0_0_1(&[("idp.internal.example", "127.0.0.2")]);
        let issuer = format!("http://idp.internal.example:{}", inside.port());
        let err = fetch_keys(&clients, &public_only(&issuer), DEFAULT_FETCH_TIMEOUT)
            .await
            .unwrap_err();
        assert!(matches!(err, KeyFetchError::Http { .. }), "{err}");
        let mut chain = Vec::new();
        let mut cause: Option<&dyn std::error::Error> = Some(&err);
        while let Some(e) = cause {
            chain.push(e.to_string());
            cause = e.source();
        }
        assert!(
            chain
                .iter()
                .any(|m| m == "idp.internal.example resolves to no public address"),
            "{chain:?}"
        );
        // A configured jwks_uri too, and an address literal (never resolved) is checked first.
        let mut configured = public_only(&issuer);
        configured.jwks_uri = Some(format!(
            "http://idp.internal.example:{}/jwks",
            inside.port()
        ));
        assert!(
            fetch_keys(&clients, &configured, DEFAULT_FETCH_TIMEOUT)
                .await
                .is_err()
        );
        let literal = public_only(&format!("http://{inside}"));
        let err = fetch_keys(&clients, &literal, DEFAULT_FETCH_TIMEOUT)
            .await
            .unwrap_err();
        assert!(matches!(err, KeyFetchError::Insecure { .. }), "{err}");
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_public_only_fetch_follows_no_redirect() {
        let (inside, hits) = counting_listener("127.0.0.2", EMPTY_JWKS.to_owned()).await;
        let redirect = format!(
            "HTTP/1.1 302 Found\r\nlocation: http://{inside}/jwks\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        let (outside, asked) = counting_listener("127.0.0.1", redirect).await;
        let clients = clients_admitting_127_0_0_1(&[]);
        let mut src = public_only(&format!("http://{outside}"));
        src.jwks_uri = Some(format!("http://{outside}/jwks"));
        let err = fetch_keys(&clients, &src, DEFAULT_FETCH_TIMEOUT)
            .await
            .unwrap_err();
        assert!(
            matches!(err, KeyFetchError::Status { status: 302, .. }),
            "{err}"
        );
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn public_provider_urls_refuse_localhost_and_non_public_literals() {
        assert!(check_public_url("https://token.actions.githubusercontent.com", false).is_ok());
        assert!(check_public_url("https://idp.example/jwks?v=1", true).is_ok());
        for url in [
            "http://idp.example",
            "https://localhost",
            "https://LOCALHOST./x",
            "https://a.localhost",
            "https://127.0.0.1",
            "https://0177.0.0.1",
            "https://[::1]:8443",
            "https://[::ffff:169.254.169.254]",
            "https://169.254.169.254/latest/meta-data",
            "https://100.100.100.200",
            "https://[fd00::2]",
        ] {
            assert!(check_public_url(url, true).is_err(), "{url}");
        }
    }

    #[tokio::test]
    async fn discovers_a_github_shaped_document_without_authorization_endpoint() {
        let idp = Idp::start(&[TestKey::rsa_a()]).await;
        let keys = fetch_keys(&http_client(), &source(&idp), DEFAULT_FETCH_TIMEOUT)
            .await
            .unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!((idp.discovery_hits(), idp.jwks_hits()), (1, 1));
    }

    #[tokio::test]
    async fn a_configured_jwks_uri_skips_discovery() {
        let idp = Idp::start(&[TestKey::rsa_a(), TestKey::es256()]).await;
        let mut src = source(&idp);
        src.jwks_uri = Some(idp.jwks_uri());
        let keys = fetch_keys(&http_client(), &src, DEFAULT_FETCH_TIMEOUT)
            .await
            .unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!((idp.discovery_hits(), idp.jwks_hits()), (0, 1));
    }

    #[tokio::test]
    async fn refuses_a_document_for_another_issuer() {
        let idp = Idp::start(&[TestKey::rsa_a()]).await;
        idp.set_discovery(json!({"issuer": "https://evil.example", "jwks_uri": idp.jwks_uri()}));
        let err = fetch_keys(&http_client(), &source(&idp), DEFAULT_FETCH_TIMEOUT)
            .await
            .unwrap_err();
        assert!(matches!(err, KeyFetchError::Discovery { .. }), "{err}");
        assert_eq!(idp.jwks_hits(), 0);
    }

    #[tokio::test]
    async fn refuses_an_http_jwks_uri_unless_allowed() {
        let idp = Idp::start(&[TestKey::rsa_a()]).await;
        let src = source(&idp);
        let plain = RemoteSource {
            allow_http: false,
            ..src.clone()
        };
        // The loopback server is plain http, so the very first GET is refused too.
        let err = fetch_keys(&http_client(), &plain, DEFAULT_FETCH_TIMEOUT)
            .await
            .unwrap_err();
        assert!(matches!(err, KeyFetchError::Insecure { .. }), "{err}");
    }

    #[tokio::test]
    async fn bounds_response_size_and_key_count() {
        let idp = Idp::start(&[TestKey::rsa_a()]).await;
        let big = json!({"keys": [], "padding": "x".repeat(MAX_RESPONSE_BYTES)});
        idp.set_jwks(big);
        let err = fetch_keys(&http_client(), &source(&idp), DEFAULT_FETCH_TIMEOUT)
            .await
            .unwrap_err();
        assert!(matches!(err, KeyFetchError::TooLarge { .. }), "{err}");

        let many: Vec<_> = (0..101).map(|_| TestKey::es256().jwk()).collect();
        idp.set_jwks(json!({ "keys": many }));
        let err = fetch_keys(&http_client(), &source(&idp), DEFAULT_FETCH_TIMEOUT)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                KeyFetchError::KeySet {
                    source: KeySetError::TooManyKeys { .. },
                    ..
                }
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn outages_and_timeouts_are_errors() {
        let idp = Idp::start(&[TestKey::rsa_a()]).await;
        idp.set_down(true);
        let err = fetch_keys(&http_client(), &source(&idp), DEFAULT_FETCH_TIMEOUT)
            .await
            .unwrap_err();
        assert!(
            matches!(err, KeyFetchError::Status { status: 503, .. }),
            "{err}"
        );

        idp.set_down(false);
        let _held = idp.hold_jwks().await;
        let err = fetch_keys(&http_client(), &source(&idp), Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(err, KeyFetchError::Timeout(_)), "{err}");
    }
}
