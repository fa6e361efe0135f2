//! Fetching a provider's keys: OIDC Discovery 1.0 §4 (`{issuer}/.well-known/openid-configuration`
//! → `jwks_uri`) and the JWKS document (RFC 7517 §5), through the `reqwest::Client` the caller
//! gave. Every response is bounded ([`MAX_RESPONSE_BYTES`]), must be `200` and must come from an
//! `https` URL unless the provider allows `http`. Retry, caching and rate limits are the
//! caller's ([`super::jwks`]).

use std::time::Duration;

use reqwest::Url;
use reqwest::header::ACCEPT;

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
}

impl RemoteSource {
    pub(crate) fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            normalize_issuer(&self.issuer)
        )
    }
}

/// Fetches and prepares the provider's key set, within `timeout`.
pub(crate) async fn fetch_keys(
    http: &reqwest::Client,
    source: &RemoteSource,
    timeout: Duration,
) -> Result<KeySet, KeyFetchError> {
    let work = async {
        let jwks_uri = match &source.jwks_uri {
            Some(uri) => uri.clone(),
            None => discover(http, source).await?,
        };
        let body = get_bounded(http, &jwks_uri, source.allow_http).await?;
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
/// configured one (§4.3); only `issuer` and `jwks_uri` are read. That is why this does not go
/// through `openidconnect`'s `CoreProviderMetadata`: it requires `authorization_endpoint`,
/// which GitHub Actions' document does not have (ramosbugs/openidconnect-rs#201), and it reads
/// the JWKS itself without a size bound.
async fn discover(http: &reqwest::Client, source: &RemoteSource) -> Result<String, KeyFetchError> {
    #[derive(serde::Deserialize)]
    struct Metadata {
        issuer: String,
        jwks_uri: String,
    }
    let url = source.discovery_url();
    let body = get_bounded(http, &url, source.allow_http).await?;
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
    check_url(&metadata.jwks_uri, source.allow_http, true).map_err(|reason| {
        KeyFetchError::Discovery {
            url,
            reason: format!("jwks_uri {:?}: {reason}", metadata.jwks_uri),
        }
    })?;
    Ok(metadata.jwks_uri)
}

/// GET `url`, expecting `200` and at most [`MAX_RESPONSE_BYTES`].
async fn get_bounded(
    http: &reqwest::Client,
    url: &str,
    allow_http: bool,
) -> Result<Vec<u8>, KeyFetchError> {
    let http_error = |source| KeyFetchError::Http {
        url: url.to_owned(),
        source,
    };
    let mut response = http
        .get(url)
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(http_error)?;
    // A redirect may have taken us elsewhere: the final URL must be as secure as the first.
    if !allow_http && response.url().scheme() != "https" {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

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
