//! The HTTP service: shared state, the router and its middleware, and `serve`.
//!
//! Routes: `/` (the STS Query API, GET and POST), `POST /authorize` (the authorize API),
//! `POST /admin/revoke` (the admin API, [`crate::admin_api`]), `/healthz` (process up), `/readyz` (store
//! reachable, keys loaded) and, only when the configuration enables it, the dev issuer's
//! discovery document and JWKS. Every error, including those produced by middleware (body too
//! large, timeout, panic), reaches the client as AWS's `ErrorResponse` XML with the request id
//! in both the body and the `x-amzn-RequestId` header. The request id is always ours: a value
//! sent by the client is ignored.

use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::to_bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::admin_api;
use crate::audit::{self, AuditEvent};
use crate::authz;
use crate::broker::request::REQUEST_ID_HEADER;
use crate::broker::{ApiError, Broker, RawRequest, RequestMeta};
use crate::query::{self, Params, xml};

/// The router with every middleware layer.
pub fn router(state: Arc<Broker>) -> Router {
    let max_body = state.config.server.max_body_bytes;
    let timeout = Duration::from_secs(state.config.server.request_timeout_seconds);
    let mut app = Router::new()
        .route("/", get(sts_query).post(sts_query))
        .route(authz::api::PATH, post(authorize_json))
        .route(admin_api::REVOKE_PATH, post(admin_revoke))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz));
    if let Some(dev) = &state.dev_issuer {
        let base = issuer_path(&dev.issuer);
        app = app
            .route(
                &format!("{base}/.well-known/openid-configuration"),
                get(dev_discovery),
            )
            .route(&format!("{base}/jwks.json"), get(dev_jwks));
    }
    common_layers(app.fallback(not_found).with_state(state), max_body, timeout)
}

/// The layers every route of the main listener runs under: body limit, deadline, a panic
/// turned into `InternalFailure`, the request id and AWS-shaped errors, tracing.
fn common_layers(app: Router, max_body: usize, timeout: Duration) -> Router {
    app.layer(RequestBodyLimitLayer::new(max_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(CatchPanicLayer::custom(on_panic))
        .layer(middleware::from_fn(move |req, next| {
            request_id_and_errors(req, next, max_body)
        }))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // The path only: query strings can carry tokens.
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
        }))
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<Broker>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// The request id of the current request, set by [`request_id_and_errors`].
#[derive(Debug, Clone)]
struct RequestId(String);

/// Gives every request a fresh id, returns it in `x-amzn-RequestId`, and turns the bare error
/// responses of lower layers (413, 408) into AWS XML.
async fn request_id_and_errors(mut req: Request, next: Next, max_body: usize) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    req.extensions_mut().insert(RequestId(id.clone()));
    let json_api =
        req.uri().path() == authz::api::PATH || req.uri().path().starts_with(admin_api::PREFIX);
    let mut response = next.run(req).await;
    let is_ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"text/xml") || v.as_bytes().starts_with(b"application/json")
        });
    if !is_ours {
        let replacement = match response.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Some(ApiError::body_too_large(max_body)),
            StatusCode::REQUEST_TIMEOUT => Some(ApiError::timeout()),
            StatusCode::METHOD_NOT_ALLOWED => Some(ApiError::method_not_allowed()),
            // A handler that panicked (see `on_panic`).
            StatusCode::INTERNAL_SERVER_ERROR => Some(ApiError::internal()),
            _ => None,
        };
        if let Some(e) = replacement {
            response = if json_api {
                authz::api::error_response(&e, &id)
            } else {
                error_response(&e, &id)
            };
        }
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    response
}

fn xml_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"))],
        body,
    )
        .into_response()
}

fn error_response(e: &ApiError, request_id: &str) -> Response {
    with_retry_after(xml_response(e.status(), xml::error(e, request_id)), e)
}

/// `Retry-After` on answers that ask the client to come back later.
fn with_retry_after(mut response: Response, e: &ApiError) -> Response {
    if let Some(seconds) = e.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// A bare 500: [`request_id_and_errors`], outside this layer, turns it into the front door's
/// `InternalFailure` answer with the request's id.
fn on_panic(_: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("request handler panicked");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// Why a body could not be read: longer than allowed, or not sent in full.
fn body_error(e: &axum::Error, max: usize) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return ApiError::body_too_large(max);
        }
        source = s.source();
    }
    ApiError::incomplete_body()
}

async fn not_found(req: Request) -> Response {
    let id = request_id(&req);
    error_response(&ApiError::not_found(), &id)
}

fn request_id(req: &Request) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

/// `GET /?Action=...` or `POST /` with a form body.
async fn sts_query(State(state): State<Arc<Broker>>, req: Request) -> Response {
    let id = request_id(&req);
    let mut namespace = xml::NAMESPACE;
    let (result, notes) = state
        .audit
        .collect(handle_query(&state, req, &id, &mut namespace))
        .await;
    record(&state, &id, &result, notes);
    match result {
        Ok(body) => xml_response(StatusCode::OK, body),
        Err(e) => {
            if e.status().is_server_error() {
                tracing::warn!(request_id = %id, code = e.code.as_str(), "request failed");
            } else {
                tracing::debug!(request_id = %id, code = e.code.as_str(), message = %e.message, "request refused");
            }
            with_retry_after(
                xml_response(e.status(), xml::error_in(namespace, &e, &id)),
                &e,
            )
        }
    }
}

/// One audit line for a Query API or admin API call, from its outcome and what its handlers
/// noted.
fn record<T>(state: &Arc<Broker>, id: &str, result: &Result<T, ApiError>, notes: audit::Notes) {
    if !state.audit.is_enabled() {
        return;
    }
    let (decision, reason) = match result {
        Ok(_) => (audit::Decision::Allow, None),
        Err(e) => {
            let (decision, reason) = e.audit_outcome(notes.policy_decision.or(notes.refusal));
            (decision, Some(reason))
        }
    };
    state.audit.record(&AuditEvent {
        time: crate::encoding::timestamp(state.clock.now()),
        request_id: id.to_owned(),
        source_ip: notes.source_ip.map(|ip| ip.to_string()),
        principal: notes.principal,
        action: notes.action.unwrap_or_default(),
        role: notes.role,
        session_name: notes.session_name,
        subject: notes.subject,
        decision,
        reason,
        access_key_id: notes.access_key_id,
        resource: notes.resource,
        caller: None,
    });
}

/// `POST /authorize`: the authorize API's JSON form (see [`authz::api`]). The handler writes
/// the audit line of each decision; a refused call gets one here.
async fn authorize_json(State(state): State<Arc<Broker>>, req: Request) -> Response {
    let id = request_id(&req);
    let max = state.config.server.max_body_bytes;
    let mut meta = request_meta(&req, &id);
    let body = match to_bytes(req.into_body(), max).await {
        Ok(b) => b,
        Err(e) => return authz::api::error_response(&body_error(&e, max), &id),
    };
    meta.raw.body = body;
    let (result, mut notes) = state.audit.collect(authz::api::handle(&state, &meta)).await;
    match result {
        Ok(response) => response,
        Err(e) => {
            tracing::debug!(request_id = %id, code = e.code.as_str(), message = %e.message, "authorize call refused");
            notes.source_ip = meta.source_ip;
            notes.action = Some(authz::api::ACTION.to_owned());
            let response = authz::api::error_response(&e, &id);
            record::<()>(&state, &id, &Err(e), notes);
            response
        }
    }
}

/// `POST /admin/revoke` (see [`admin_api`]): one audit line per call.
async fn admin_revoke(State(state): State<Arc<Broker>>, req: Request) -> Response {
    let id = request_id(&req);
    let max = admin_api::MAX_BODY.min(state.config.server.max_body_bytes);
    let mut meta = request_meta(&req, &id);
    let body = match to_bytes(req.into_body(), max).await {
        Ok(b) => b,
        Err(e) => return authz::api::error_response(&body_error(&e, max), &id),
    };
    meta.raw.body = body;
    let (result, mut notes) = state.audit.collect(admin_api::revoke(&state, &meta)).await;
    notes.source_ip = meta.source_ip;
    record(&state, &id, &result, notes);
    match result {
        Ok(response) => response,
        Err(e) => {
            tracing::debug!(request_id = %id, code = e.code.as_str(), message = %e.message, "admin call refused");
            authz::api::error_response(&e, &id)
        }
    }
}

/// What the transport knows of a request, its body not yet read.
fn request_meta(req: &Request, id: &str) -> RequestMeta {
    let raw = RawRequest {
        method: req.method().as_str().to_owned(),
        path: req.uri().path().to_owned(),
        query: req.uri().query().unwrap_or("").to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: bytes::Bytes::new(),
    };
    RequestMeta {
        request_id: id.to_owned(),
        source_ip: req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip()),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
        secure_transport: false,
        raw,
    }
}

async fn handle_query(
    state: &Arc<Broker>,
    req: Request,
    id: &str,
    namespace: &mut &'static str,
) -> Result<String, ApiError> {
    let mut meta = request_meta(&req, id);
    audit::note(|n| n.source_ip = meta.source_ip);
    // Before anything else, the body included (see `broker::throttle`).
    state.throttle.source_ip(meta.source_ip).await?;
    let mut params = Params::parse(req.uri().query().unwrap_or("").as_bytes())?;
    if req.method() == Method::POST {
        let form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|ct| {
                ct.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        if !form {
            return Err(ApiError::invalid_parameter(
                "Content-Type must be application/x-www-form-urlencoded",
            ));
        }
        let max = state.config.server.max_body_bytes;
        let body = to_bytes(req.into_body(), max)
            .await
            .map_err(|e| body_error(&e, max))?;
        params.merge(Params::parse(&body)?)?;
        meta.raw.body = body;
    }
    *namespace = query::namespace(&params);
    query::dispatch(state, &params, &meta).await
}

async fn readyz(State(state): State<Arc<Broker>>) -> Response {
    if state.keys.signing(state.clock.now()).is_none() {
        return (StatusCode::SERVICE_UNAVAILABLE, "no session key loaded\n").into_response();
    }
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "store not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "store not reachable\n").into_response()
        }
    }
}

/// The path part of an issuer URL, without a trailing slash (`""` for a bare host).
fn issuer_path(issuer: &str) -> String {
    let rest = issuer.split_once("://").map_or(issuer, |(_, r)| r);
    match rest.find('/') {
        Some(i) => rest[i..].trim_end_matches('/').to_owned(),
        None => String::new(),
    }
}

async fn dev_discovery(State(state): State<Arc<Broker>>) -> Response {
    let Some(dev) = &state.dev_issuer else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let issuer = dev.issuer.trim_end_matches('/');
    axum::Json(serde_json::json!({
        "issuer": dev.issuer,
        "jwks_uri": format!("{issuer}/jwks.json"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "claims_supported": ["sub", "aud", "exp", "iat", "iss", "nbf"],
    }))
    .into_response()
}

async fn dev_jwks(State(state): State<Arc<Broker>>) -> Response {
    match &state.dev_issuer {
        Some(dev) => axum::Json(dev.key.jwks()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    use tower::ServiceExt as _;

    /// A handler that panics is answered like any error: AWS's XML with the request's id in
    /// the body and the header (on the JSON APIs, JSON with the id).
    #[tokio::test]
    async fn a_panicking_handler_answers_internal_failure_with_the_request_id() {
        async fn boom() -> Response {
            panic!("handler bug")
        }
        let app = common_layers(
            Router::new()
                .route("/", get(boom))
                .route(authz::api::PATH, post(boom)),
            1024,
            Duration::from_secs(5),
        );
        for (method, path, json) in [("GET", "/", false), ("POST", authz::api::PATH, true)] {
            let req = Request::builder()
                .method(method)
                .uri(path)
                .body(axum::body::Body::empty())
                .unwrap();
            let response = app.clone().oneshot(req).await.unwrap();
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
            let id = response.headers()[REQUEST_ID_HEADER]
                .to_str()
                .unwrap()
                .to_owned();
            assert!(!id.is_empty());
            let body = to_bytes(response.into_body(), 4096).await.unwrap();
            let body = String::from_utf8(body.to_vec()).unwrap();
            if json {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(v["error"]["code"], "InternalFailure");
                assert_eq!(v["request_id"], id.as_str());
            } else {
                assert!(body.contains("<Code>InternalFailure</Code>"), "{body}");
                assert!(
                    body.contains(&format!("<RequestId>{id}</RequestId>")),
                    "{body}"
                );
            }
        }
    }

    #[test]
    fn issuer_paths() {
        assert_eq!(
            issuer_path("http://127.0.0.1:4566/dev-issuer"),
            "/dev-issuer"
        );
        assert_eq!(issuer_path("https://example.com/"), "");
        assert_eq!(issuer_path("https://example.com"), "");
        assert_eq!(issuer_path("https://example.com/a/b/"), "/a/b");
    }
}
