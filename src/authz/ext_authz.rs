//! The `ext_authz` listener: proxies (Envoy's `ext_authz` HTTP service, nginx `auth_request`)
//! ask it about each request before passing it upstream, and get the fixed identity headers of
//! [`IDENTITY_HEADERS`] or an error (modes, answers and the header contract: docs/resource-servers.md, "nginx /
//! Envoy"). The body is never read, and a client's own `X-Sts-*` headers are refused. Error
//! bodies are `{"error": {"code", "message"}}`, caller-safe; each answer is one audit line
//! ([`crate::authz::audit`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::audit::Asked;
use super::{Answer, Forwarded, Question, audit, authorize};
use crate::broker::Broker;
use crate::broker::error::ErrorCode;
use crate::broker::reload::Live;
use crate::broker::request::REQUEST_ID_HEADER;
use crate::config::{ExtAuthz, ProxyMode};
use crate::policy::{Context, Resource};
use crate::routes::path;
use crate::routes::{self, Target};
use crate::sigv4::{Payload, SignedRequest};

/// The header carrying the shared secret, when one is configured.
pub const SECRET_HEADER: &str = "x-sts-authz-secret";
/// Headers that describe the original request (nginx `auth_request`).
pub const ORIGINAL_METHOD: &str = "x-original-method";
pub const ORIGINAL_URI: &str = "x-original-uri";
/// Prefix of every identity header in answers.
pub const IDENTITY_PREFIX: &str = "x-sts-";
/// Every identity header of an answer, always all of them: proxies overwrite this fixed set, so
/// no client value of these names can reach the upstream. Tags are one form-encoded header.
pub const IDENTITY_HEADERS: [&str; 8] = [
    "x-sts-principal-arn",
    "x-sts-principal-type",
    "x-sts-account",
    "x-sts-user-id",
    "x-sts-session-name",
    "x-sts-role-arn",
    "x-sts-source-identity",
    "x-sts-tags",
];
/// Longest value of an identity header.
const MAX_HEADER_VALUE: usize = 1024;

/// The listener's router (answers every method and path); body limit and deadline are those of
/// the configuration at start, routes and proxies those of the configuration of each request.
pub fn router(live: Arc<Live>) -> Router {
    let state = live.current();
    let timeout = Duration::from_secs(state.config.server.request_timeout_seconds);
    let max_body = state.config.server.max_body_bytes;
    Router::new()
        .fallback(check)
        .with_state(live)
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
}

/// Serves the `ext_authz` listener until `shutdown` resolves (peer addresses known, for
/// `trusted_proxies`), its connections bounded by `[server]` as at start and served on the
/// runtimes `spread` names ([`crate::workers`]): proxies ask once per request they pass.
pub async fn serve(
    listener: tokio::net::TcpListener,
    live: Arc<Live>,
    spread: crate::workers::Spread,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = crate::listener::Limits::of(&live.current().config.server);
    crate::listener::serve(listener, router(live), limits, spread, shutdown).await
}

/// An error answer: the status and `{"error": {"code", "message"}}`.
/// A refusal: the proxy's status (401 for a request that is not authenticated), the AWS code and
/// message, and the request id.
fn error(status: StatusCode, code: ErrorCode, message: &str, request_id: &str) -> Response {
    let mut response = (
        status,
        axum::Json(serde_json::json!({
            "error": {"code": code.as_str(), "message": message},
            "request_id": request_id,
        })),
    )
        .into_response();
    // The outcome, for the request counters (see `check`).
    response.extensions_mut().insert(code);
    response
}

/// The original method and URI (with its query), as the mode says to read them.
fn original(config: &ExtAuthz, req: &Request) -> Option<(String, String)> {
    let headers = req.headers();
    match config.mode {
        ProxyMode::Nginx => Some((
            header_text(headers, ORIGINAL_METHOD)?.to_ascii_uppercase(),
            header_text(headers, ORIGINAL_URI)?.to_owned(),
        )),
        ProxyMode::Envoy => {
            let full = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let uri = match full.strip_prefix(config.path_prefix.as_str()) {
                Some(rest) if rest.starts_with('/') => rest.to_owned(),
                Some(rest) if rest.is_empty() || rest.starts_with('?') => format!("/{rest}"),
                _ => full.to_owned(),
            };
            Some((req.method().as_str().to_ascii_uppercase(), uri))
        }
    }
}

/// The client's address and whether it used TLS, from a trusted proxy only (the peer as the
/// listener gives it: an IPv4 proxy on a dual-stack socket as IPv4, see [`crate::listener`]).
fn client_of(config: &ExtAuthz, req: &Request) -> (Option<IpAddr>, Option<bool>) {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let trusted = peer.is_some_and(|ip| config.trusted_proxies.iter().any(|n| n.contains(&ip)));
    if !trusted {
        return (None, None);
    }
    let headers = req.headers();
    let (ip_header, proto) = match config.mode {
        ProxyMode::Nginx => ("x-real-ip", header_text(headers, "x-forwarded-proto")),
        ProxyMode::Envoy => ("x-envoy-external-address", None),
    };
    (
        header_text(headers, ip_header).and_then(|v| v.trim().parse::<IpAddr>().ok()),
        proto.map(|p| p.trim().eq_ignore_ascii_case("https")),
    )
}

/// Answers one check; every answer carries its request id in `x-amzn-RequestId`.
/// The action name ext_authz answers are counted under (`sts_broker_requests_total`).
pub const ACTION: &str = "ExtAuthz";

async fn check(State(live): State<Arc<Live>>, req: Request) -> Response {
    let started = std::time::Instant::now();
    let state = live.current();
    let request_id = crate::random::request_id();
    let mut response = decide(&state, req, &request_id).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let outcome = response.extensions().get::<ErrorCode>().copied();
    state.stats.request(ACTION, outcome, started.elapsed());
    response
}

async fn decide(state: &Arc<Broker>, req: Request, request_id: &str) -> Response {
    let Some(config) = &state.config.ext_authz else {
        return error(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "ext_authz is not configured",
            request_id,
        );
    };
    let headers = req.headers();
    if let Some(secret) = &config.secret {
        let sent = headers
            .get(SECRET_HEADER)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        if !bool::from(sent.ct_eq(secret.expose().as_bytes())) {
            tracing::warn!(request_id, "ext_authz call without the shared secret");
            return error(
                StatusCode::FORBIDDEN,
                ErrorCode::AccessDenied,
                "Forbidden",
                request_id,
            );
        }
    }
    let (client_ip, secure) = client_of(config, &req);
    let early = |resource: &str, reason: &str| {
        let asked = Asked {
            request_id,
            source_ip: client_ip,
            caller: None,
            action: "",
            resource,
            at: state.clock.now(),
        };
        audit::refused_early(&state.audit, &asked, reason);
    };
    let Some((method, uri)) = original(config, &req) else {
        early("", "MissingOriginalRequest");
        return error(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            "X-Original-Method and X-Original-URI must describe the original request",
            request_id,
        );
    };
    let (raw_path, query) = uri.split_once('?').unwrap_or((&uri, ""));
    // The identity headers are the broker's: a client sending one is refused, so none of its
    // values can reach the upstream, whatever the proxy removes or not.
    if headers
        .keys()
        .any(|n| is_client_identity_header(n.as_str()))
    {
        early(raw_path, "ClientIdentityHeader");
        return error(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            "X-Sts-* headers are set by the broker only; the request carries one",
            request_id,
        );
    }
    let path = match path::check(raw_path) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(request_id, error = %e, "ext_authz: path refused");
            early("", "InvalidURI");
            return error(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidUri,
                &e.to_string(),
                request_id,
            );
        }
    };
    let path_text = path.as_str();
    // The client's headers, without what the proxy added for us.
    let forwarded_headers: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| {
            let n = n.as_str();
            n != SECRET_HEADER
                && !(config.mode == ProxyMode::Nginx && (n == ORIGINAL_METHOD || n == ORIGINAL_URI))
        })
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let declared = headers.contains_key("x-amz-content-sha256");
    if !declared && !matches!(method.as_str(), "GET" | "HEAD" | "DELETE" | "OPTIONS") {
        early(path_text, "IncompleteSignature");
        return error(
            StatusCode::UNAUTHORIZED,
            ErrorCode::IncompleteSignature,
            "requests that may carry a body must sign x-amz-content-sha256",
            request_id,
        );
    }
    let Some(Target {
        action,
        resource,
        service,
        allow_presigned,
    }) = routes::find(&config.routes, &method, &path)
    else {
        tracing::info!(request_id, method, path = path_text, "ext_authz: no route");
        early(path_text, "NoRoute");
        return error(
            StatusCode::FORBIDDEN,
            ErrorCode::AccessDenied,
            "no route maps this request to an action",
            request_id,
        );
    };
    let mut context = Context::new();
    if let Some(ip) = client_ip {
        context.insert("aws:SourceIp", ip.to_string());
    }
    if let Some(secure) = secure {
        context.insert("aws:SecureTransport", secure.to_string());
    }
    let forwarded = Forwarded {
        request: SignedRequest {
            method: &method,
            path: path_text,
            query,
            headers: &forwarded_headers,
            body: b"",
        },
        payload: Payload::Declared,
        service: &service,
        allow_presigned,
    };
    // Kept for the audit line only when there is one: the question takes them.
    let audited = state
        .audit
        .is_enabled()
        .then(|| (action.clone(), resource.clone()));
    let question = Question {
        action,
        resource: Resource::new(resource),
        context,
        resource_policy: None,
    };
    let decided = authorize(state, &forwarded, question, request_id).await;
    if let Some((action, resource)) = &audited {
        let asked = Asked {
            request_id,
            source_ip: client_ip,
            caller: None,
            action,
            resource,
            at: state.clock.now(),
        };
        match &decided {
            Ok(answer) => audit::decided(&state.audit, &asked, &forwarded, answer),
            Err(e) => audit::refused(&state.audit, &asked, &forwarded, e),
        }
    }
    match decided {
        Err(e) => {
            tracing::info!(
                request_id,
                code = e.code.as_str(),
                "ext_authz: not authenticated"
            );
            // The service's own failures stay server errors, so proxies do not cache a denial.
            let status = if e.status().is_server_error() {
                e.status()
            } else {
                StatusCode::UNAUTHORIZED
            };
            error(status, e.code, &e.message, request_id)
        }
        Ok(answer) if answer.allowed() => {
            tracing::debug!(request_id, caller = %answer.permissions.arn(), "ext_authz: allowed");
            allowed(&answer)
        }
        Ok(answer) => {
            tracing::info!(
                request_id,
                caller = %answer.permissions.arn(),
                action = answer.request.action(),
                decision = answer.decision(),
                "ext_authz: denied"
            );
            error(
                StatusCode::FORBIDDEN,
                ErrorCode::AccessDenied,
                &format!(
                    "User: {} is not authorized to perform: {} on resource: {}: {}",
                    answer.permissions.arn(),
                    answer.request.action(),
                    answer.request.resource.name(),
                    answer.reason()
                ),
                request_id,
            )
        }
    }
}

/// A header name a client must not send: `x-sts-*` but the shared secret, with `_` read as `-`
/// (some upstreams, CGI and WSGI among them, make both the same name).
pub fn is_client_identity_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase().replace('_', "-");
    lower.starts_with(IDENTITY_PREFIX) && name != SECRET_HEADER
}

fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `200` with every identity header of [`IDENTITY_HEADERS`], empty where it does not apply.
fn allowed(answer: &Answer) -> Response {
    let p = answer.principal();
    let tags = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(p.tags.iter())
        .finish();
    let values: [&str; 7] = [
        &p.arn,
        p.kind,
        &p.account,
        &p.user_id,
        p.session_name.as_deref().unwrap_or_default(),
        p.role_arn.as_deref().unwrap_or_default(),
        p.source_identity.as_deref().unwrap_or_default(),
    ];
    let mut out = HeaderMap::new();
    for (name, value) in IDENTITY_HEADERS.iter().zip(values) {
        let value =
            HeaderValue::from_str(&header_safe(value)).unwrap_or(HeaderValue::from_static(""));
        out.insert(HeaderName::from_static(name), value);
    }
    // Form encoding is already printable ASCII; never cut (a cut tag would be another tag).
    let tags = HeaderValue::from_str(&tags).unwrap_or(HeaderValue::from_static(""));
    out.insert(HeaderName::from_static("x-sts-tags"), tags);
    (StatusCode::OK, out, "").into_response()
}

/// A value safe in an HTTP header: printable ASCII kept (`%` escaped), everything else
/// percent-encoded as UTF-8, at most [`MAX_HEADER_VALUE`] bytes.
pub fn header_safe(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
        if out.len() >= MAX_HEADER_VALUE {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_identity_headers_in_any_spelling() {
        for name in [
            "x-sts-tag-role",
            "X-Sts-Role-Arn",
            "x_sts_principal_arn",
            "x-sts_tags",
            "x-sts-authz_secret",
        ] {
            assert!(is_client_identity_header(name), "{name}");
        }
        for name in ["x-sts-authz-secret", "x-stsx", "x-amz-date", "sts-x"] {
            assert!(!is_client_identity_header(name), "{name}");
        }
    }

    #[test]
    fn header_values_are_made_safe() {
        assert_eq!(
            header_safe("arn:aws:sts::1:assumed-role/a/b"),
            "arn:aws:sts::1:assumed-role/a/b"
        );
        assert_eq!(header_safe("a\r\nb"), "a%0D%0Ab");
        assert_eq!(header_safe("é 100%"), "%C3%A9 100%25");
        assert!(header_safe(&"x".repeat(5000)).len() <= MAX_HEADER_VALUE);
        assert!(HeaderValue::from_str(&header_safe("\u{0}\u{7f}ü")).is_ok());
    }
}
