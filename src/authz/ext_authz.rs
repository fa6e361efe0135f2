//! The `ext_authz` listener: proxies ask it about each request before passing it upstream, in
//! the shapes Envoy's `ext_authz` filter (HTTP service) and nginx's `auth_request` use.
//!
//! It serves every path. The original request is this one (Envoy: its method, its path after
//! the configured `path_prefix`, its headers), unless `X-Original-Method` / `X-Original-URI`
//! say otherwise (nginx's `auth_request` sends a `GET` subrequest; the configuration sets
//! them). The signature is the client's SigV4 for any service; the body is never read, so the
//! payload is what `x-amz-content-sha256` declares (the upstream must check the body against
//! it) and a request that could carry a body (not `GET`, `HEAD`, `DELETE`, `OPTIONS`) must
//! declare it. `[[ext_authz.routes]]` map method and path to action and resource; no route is
//! a denial.
//!
//! Answers: `200` with identity headers (`x-sts-principal-arn`, `x-sts-account`,
//! `x-sts-user-id`, `x-sts-principal-type`, `x-sts-session-name`, `x-sts-role-arn`,
//! `x-sts-source-identity`, `x-sts-tags` form-encoded and `x-sts-tag-<key>` for plain keys),
//! `401` when the signature is missing or does not verify, `403` when denied. Bodies are short
//! plain text: the AWS code and a caller-safe message. Never a secret, token or signature.
//! Each answer is one audit line ([`crate::authz_audit`]).
//!
//! Trusted by network position: bind it to loopback or the proxies' network, optionally with a
//! shared secret in `X-Sts-Authz-Secret`. `X-Real-IP` and `X-Forwarded-Proto` from the proxy
//! become `aws:SourceIp` and `aws:SecureTransport`.

use std::net::IpAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::routes::{self, Target};
use super::{Answer, Forwarded, Question, authorize};
use crate::app::AppState;
use crate::authz_audit::{self, Asked};
use crate::policy::{Context, Resource};
use crate::sigv4::{Payload, SignedRequest};

/// The header carrying the shared secret, when one is configured.
pub const SECRET_HEADER: &str = "x-sts-authz-secret";
/// Headers that describe the original request (nginx `auth_request`).
pub const ORIGINAL_METHOD: &str = "x-original-method";
pub const ORIGINAL_URI: &str = "x-original-uri";
/// Prefix of every identity header in answers.
pub const IDENTITY_PREFIX: &str = "x-sts-";
/// Longest value of an identity header.
const MAX_HEADER_VALUE: usize = 1024;

/// The listener's router (answers every method and path).
pub fn router(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.config.server.request_timeout_seconds);
    let max_body = state.config.server.max_body_bytes;
    Router::new()
        .fallback(check)
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
}

/// Serves the `ext_authz` listener until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

fn plain(status: StatusCode, text: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
        text + "\n",
    )
        .into_response()
}

async fn check(State(state): State<AppState>, req: Request) -> Response {
    let Some(config) = &state.config.ext_authz else {
        return plain(
            StatusCode::NOT_FOUND,
            "ext_authz is not configured".to_owned(),
        );
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let headers = req.headers();
    if let Some(secret) = &config.secret {
        let sent = headers
            .get(SECRET_HEADER)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        if !bool::from(sent.ct_eq(secret.expose().as_bytes())) {
            tracing::warn!(request_id, "ext_authz call without the shared secret");
            return plain(StatusCode::FORBIDDEN, "Forbidden".to_owned());
        }
    }
    let method = header_text(headers, ORIGINAL_METHOD)
        .unwrap_or(req.method().as_str())
        .to_ascii_uppercase();
    let uri = match header_text(headers, ORIGINAL_URI) {
        Some(u) => u.to_owned(),
        None => {
            let full = req.uri().path_and_query().map_or("/", |p| p.as_str());
            match full.strip_prefix(config.path_prefix.as_str()) {
                Some(rest) if rest.starts_with('/') => rest.to_owned(),
                Some("") => "/".to_owned(),
                _ => full.to_owned(),
            }
        }
    };
    let (path, query) = uri.split_once('?').unwrap_or((&uri, ""));
    let client_ip = header_text(headers, "x-real-ip").and_then(|v| v.parse::<IpAddr>().ok());
    let early = |action: &str, reason: &str| {
        let asked = Asked {
            request_id: &request_id,
            source_ip: client_ip,
            caller: None,
            action,
            resource: path,
        };
        authz_audit::refused_early(&state, &asked, reason);
    };
    // The client's headers, without what the proxy added for us.
    let forwarded_headers: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| {
            let n = n.as_str();
            n != SECRET_HEADER && n != ORIGINAL_METHOD && n != ORIGINAL_URI
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
        early("", "IncompleteSignature");
        return plain(
            StatusCode::UNAUTHORIZED,
            "IncompleteSignature: requests that may carry a body must sign x-amz-content-sha256"
                .to_owned(),
        );
    }
    let Some(Target { action, resource }) = routes::find(&config.routes, &method, path) else {
        tracing::info!(request_id, method, path, "ext_authz: no route");
        early("", "NoRoute");
        return plain(
            StatusCode::FORBIDDEN,
            "AccessDenied: no route maps this request to an action".to_owned(),
        );
    };
    let mut context = Context::new();
    if let Some(ip) = client_ip {
        context.insert("aws:SourceIp", ip.to_string());
    }
    if let Some(proto) = header_text(headers, "x-forwarded-proto") {
        context.insert(
            "aws:SecureTransport",
            proto.eq_ignore_ascii_case("https").to_string(),
        );
    }
    let forwarded = Forwarded {
        request: SignedRequest {
            method: &method,
            path,
            query,
            headers: &forwarded_headers,
            body: b"",
        },
        payload: Payload::Declared,
        service: None,
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
    let decided = authorize(&state, &forwarded, question, &request_id).await;
    if let Some((action, resource)) = &audited {
        let asked = Asked {
            request_id: &request_id,
            source_ip: client_ip,
            caller: None,
            action,
            resource,
        };
        match &decided {
            Ok(answer) => authz_audit::decided(&state, &asked, &forwarded, answer),
            Err(e) => authz_audit::refused(&state, &asked, &forwarded, e),
        }
    }
    match decided {
        Err(e) => {
            tracing::info!(request_id, code = e.code, "ext_authz: not authenticated");
            // The service's own failures stay server errors, so proxies do not cache a denial.
            let status = if e.status.is_server_error() {
                e.status
            } else {
                StatusCode::UNAUTHORIZED
            };
            plain(status, format!("{}: {}", e.code, e.message))
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
            plain(
                StatusCode::FORBIDDEN,
                format!(
                    "AccessDenied: User: {} is not authorized to perform: {} on resource: {}: {}",
                    answer.permissions.arn(),
                    answer.request.action(),
                    answer.request.resource.name(),
                    answer.reason()
                ),
            )
        }
    }
}

fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `200` with the identity headers.
fn allowed(answer: &Answer) -> Response {
    let p = answer.principal();
    let mut out = HeaderMap::new();
    let mut put = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(format!("{IDENTITY_PREFIX}{name}")),
            HeaderValue::from_str(&header_safe(value)),
        ) {
            out.insert(n, v);
        }
    };
    put("principal-arn", &p.arn);
    put("principal-type", p.kind);
    put("account", &p.account);
    put("user-id", &p.user_id);
    if let Some(s) = &p.session_name {
        put("session-name", s);
    }
    if let Some(r) = &p.role_arn {
        put("role-arn", r);
    }
    if let Some(s) = &p.source_identity {
        put("source-identity", s);
    }
    if !p.tags.is_empty() {
        let tags = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(p.tags.iter())
            .finish();
        put("tags", &tags);
    }
    for (k, v) in &p.tags {
        if k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            put(&format!("tag-{}", k.to_ascii_lowercase()), v);
        }
    }
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
