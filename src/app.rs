//! The HTTP service: shared state, the router and its middleware, and `serve`.
//!
//! Routes: `/` (the STS Query API, GET and POST), `POST /authorize` (the authorize API),
//! `POST /admin/revoke` and `POST /admin/reload` (the admin API, [`crate::admin_api`]),
//! `POST /policy/validation` (Access Analyzer's `ValidatePolicy`, [`crate::analyzer`]),
//! `POST /signin` (a password exchanged for credentials, [`crate::signin`]),
//! `/healthz` (process up), `/readyz` (store reachable, keys loaded) and, only when the
//! configuration enables it, the dev issuer's discovery document and JWKS. Each request takes
//! the broker's configuration once, at its start ([`Live::current`]), and keeps it to its end.
//! Every error, including those produced by middleware (body too large, timeout, panic),
//! reaches the client as AWS's `ErrorResponse` XML with the request id in both the body and the
//! `x-amzn-RequestId` header. The request id is always ours: a value sent by the client is
//! ignored. Every answer is one log line (target `sts_broker::request`:
//! request id, action, outcome, status, latency) and is counted in the broker's [`Stats`].

use std::any::Any;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
use crate::analyzer;
use crate::audit::{self, AuditEvent};
use crate::authz;
use crate::broker::error::ErrorCode;
use crate::broker::reload::Live;
use crate::broker::request::REQUEST_ID_HEADER;
use crate::broker::stats::{self, Outcome, Stats};
use crate::broker::throttle::Scope;
use crate::broker::{ApiError, Broker, RawRequest, RequestMeta};
use crate::query::{self, Params, xml};
use crate::signin;

/// The action of a request that names none this broker serves (an unknown or missing Query API
/// `Action`, an unknown path, a request cut short before its action was read).
pub const UNKNOWN_ACTION: &str = "unknown";
/// The fixed action names of the other routes, for logs and metrics.
const AUTHORIZE_ACTION: &str = "Authorize";
const ADMIN_REVOKE_ACTION: &str = "AdminRevoke";
const ADMIN_RELOAD_ACTION: &str = "AdminReload";
const VALIDATE_POLICY_ACTION: &str = "ValidatePolicy";
const SIGN_IN_ACTION: &str = "SignIn";
const HEALTHZ_ACTION: &str = "healthz";
const READYZ_ACTION: &str = "readyz";
const DEV_ISSUER_ACTION: &str = "dev_issuer";

/// The router wrapped in every middleware layer. Body limit, deadline and the dev issuer's
/// routes are those of the configuration at start (a reload does not change them:
/// [`crate::broker::reload`]).
pub fn app(live: Arc<Live>) -> impl crate::listener::App {
    let state = live.current();
    let max_body = state.config.server.max_body_bytes;
    let timeout = Duration::from_secs(state.config.server.request_timeout_seconds);
    let stats = state.stats.clone();
    let mut app = Router::new()
        .route("/", get(sts_query).post(sts_query))
        .route(authz::api::PATH, post(authorize_json))
        .route(admin_api::REVOKE_PATH, post(admin_revoke))
        .route(admin_api::RELOAD_PATH, post(admin_reload))
        .route(analyzer::PATH, post(validate_policy))
        .route(signin::PATH, post(sign_in))
        .route(
            "/healthz",
            get(|| async { answered("ok\n".into_response(), HEALTHZ_ACTION, None) }),
        )
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
    let app = common_layers(
        app.fallback(not_found).with_state(live),
        max_body,
        timeout,
        stats,
    );
    tower::ServiceBuilder::new()
        .map_request(|req: axum::http::Request<hyper::body::Incoming>| {
            req.map(axum::body::Body::new)
        })
        .service(app)
}

/// The layers every request of the main listener runs under, outermost first: tracing, the
/// request's log line and counters, the request id and AWS-shaped errors, a panic turned into
/// `InternalFailure`, the deadline, the body limit. Around the router rather than inside it
/// (`Router::layer`), so that a request clones none of them: the router's own route is the one
/// service cloned per request.
fn common_layers(
    app: Router,
    max_body: usize,
    timeout: Duration,
    stats: Arc<Stats>,
) -> impl crate::listener::App<axum::body::Body> {
    tower::ServiceBuilder::new()
        .map_response(IntoResponse::into_response)
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // The path only (query strings can carry tokens), and at most 64 characters of
            // it and of the method: every request logs a line, and an unauthenticated one
            // must not make it long.
            tracing::info_span!(
                "http",
                method = %crate::encoding::shorten(req.method().as_str()),
                path = %crate::encoding::shorten(req.uri().path())
            )
        }))
        .layer(middleware::from_fn(move |req, next| {
            request_id_and_errors(req, next, max_body, stats.clone())
        }))
        .layer(CatchPanicLayer::custom(on_panic))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(RequestBodyLimitLayer::new(max_body))
        .service(app)
}

/// Serves until `shutdown` resolves, then finishes in-flight requests; connections bounded by
/// `[server]` as at start ([`crate::listener`]) and served on the runtimes `spread` names
/// ([`crate::workers`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    live: Arc<Live>,
    spread: crate::workers::Spread,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = crate::listener::Limits::of(&live.current().config.server);
    crate::listener::serve(listener, app(live), limits, spread, shutdown).await
}

/// The request id of the current request, set by [`request_id_and_errors`].
#[derive(Debug, Clone)]
struct RequestId(String);

/// The action a request is, noted by its handler as soon as it knows it: should the deadline
/// end the handler before it answers, the `RequestTimeout` is still logged and counted under
/// that action (read by [`request_id_and_errors`]).
#[derive(Debug, Clone, Default)]
struct ActionSlot(Arc<std::sync::OnceLock<&'static str>>);

impl ActionSlot {
    fn of(req: &Request) -> ActionSlot {
        req.extensions()
            .get::<ActionSlot>()
            .cloned()
            .unwrap_or_default()
    }

    fn note(&self, action: &'static str) {
        let _ = self.0.set(action);
    }
}

/// How a handler answered, for the request's log line and counters: a fixed action name and the
/// outcome. Set on the response by [`answered`]; read by [`request_id_and_errors`].
#[derive(Debug, Clone, Copy)]
struct Answered {
    action: &'static str,
    outcome: Outcome,
}

/// `response`, marked as the answer to `action` with `outcome`.
fn answered(mut response: Response, action: &'static str, outcome: Outcome) -> Response {
    response
        .extensions_mut()
        .insert(Answered { action, outcome });
    response
}

/// Gives every request a fresh id, returns it in `x-amzn-RequestId`, turns the bare error
/// responses of lower layers (413, 408) into AWS XML, and logs and counts the answer.
async fn request_id_and_errors(
    mut req: Request,
    next: Next,
    max_body: usize,
    stats: Arc<Stats>,
) -> Response {
    let started = Instant::now();
    let id = crate::random::request_id();
    req.extensions_mut().insert(RequestId(id.clone()));
    let slot = ActionSlot::default();
    req.extensions_mut().insert(slot.clone());
    let json_api = req.uri().path() == authz::api::PATH
        || req.uri().path() == signin::PATH
        || req.uri().path().starts_with(admin_api::PREFIX);
    let analyzer_api = req.uri().path() == analyzer::PATH;
    let mut response = next.run(req).await;
    let handled = response.extensions().get::<Answered>().copied();
    let mut replaced = None;
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
            replaced = Some(e.code);
            response = if analyzer_api {
                analyzer::error_response(&e, &id)
            } else if json_api {
                authz::api::error_response(&e, &id)
            } else {
                error_response(&e, &id)
            };
        }
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    // Refused before its body was read to the end (too large, too slow): the connection is
    // closed after this answer, and the client told so, lest it send its next request on a
    // connection about to close.
    if matches!(
        response.status(),
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
    ) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let action = handled.map_or_else(
        || slot.0.get().copied().unwrap_or(UNKNOWN_ACTION),
        |a| a.action,
    );
    let outcome = match (replaced, handled) {
        (Some(code), _) => Some(code),
        (None, Some(a)) => a.outcome,
        // Every route marks its answer; an unmarked one is counted by its status class.
        (None, None) if response.status().is_success() => None,
        (None, None) => Some(ErrorCode::InternalFailure),
    };
    let elapsed = started.elapsed();
    stats.request(action, outcome, elapsed);
    tracing::info!(
        target: "sts_broker::request",
        request_id = %id,
        action,
        outcome = stats::outcome_label(outcome),
        status = response.status().as_u16(),
        latency_ms = latency_ms(elapsed),
        "request answered"
    );
    response
}

/// Milliseconds to the microsecond.
fn latency_ms(elapsed: Duration) -> f64 {
    let micros = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
    f64::from(micros) / 1000.0
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
    let e = ApiError::not_found();
    answered(error_response(&e, &id), UNKNOWN_ACTION, Some(e.code))
}

fn request_id(req: &Request) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

/// The request id of a route that serves one action, noted as the request's action.
fn request_id_of(req: &Request, action: &'static str) -> String {
    ActionSlot::of(req).note(action);
    request_id(req)
}

/// `GET /?Action=...` or `POST /` with a form body.
async fn sts_query(State(live): State<Arc<Live>>, req: Request) -> Response {
    let state = live.current();
    let id = request_id(&req);
    let mut namespace = xml::NAMESPACE;
    let mut action = UNKNOWN_ACTION;
    // Boxed: held inline, the request's future (several KB, the audit scope doubling it)
    // would make this handler's future large, and axum copies it whole into its own box.
    let (result, notes) = state
        .audit
        .collect(Box::pin(handle_query(
            &state,
            req,
            &id,
            &mut namespace,
            &mut action,
        )))
        .await;
    record(&state, &id, &result, notes);
    let outcome = result.as_ref().err().map(|e| e.code);
    let response = match result {
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
    };
    answered(response, action, outcome)
}

/// One audit line for a Query API or admin API call, from its outcome and what its handlers
/// noted.
fn record<T>(state: &Broker, id: &str, result: &Result<T, ApiError>, notes: audit::Notes) {
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

/// `POST /authorize`: the authorize API's JSON form (see [`authz::api`]), throttled by source
/// address first. The handler writes the audit line of each decision; a refused call gets one
/// here.
async fn authorize_json(State(live): State<Arc<Live>>, req: Request) -> Response {
    let state = live.current();
    let id = request_id_of(&req, AUTHORIZE_ACTION);
    let max = state.config.server.max_body_bytes;
    let source_ip = peer_ip(&req);
    if let Err(throttled) = throttle_source_ip(
        &state,
        source_ip,
        &id,
        Some(authz::api::ACTION),
        AUTHORIZE_ACTION,
    )
    .await
    {
        return throttled;
    }
    let mut meta = request_meta(&req, &id);
    let body = match to_bytes(req.into_body(), max).await {
        Ok(b) => b,
        Err(e) => return json_error(&body_error(&e, max), &id, AUTHORIZE_ACTION),
    };
    meta.raw.body = body;
    let (result, mut notes) = state
        .audit
        .collect(Box::pin(authz::api::handle(&state, &meta)))
        .await;
    match result {
        Ok(response) => answered(response, AUTHORIZE_ACTION, None),
        Err(e) => {
            tracing::debug!(request_id = %id, code = e.code.as_str(), message = %e.message, "authorize call refused");
            notes.source_ip = meta.source_ip;
            notes.action = Some(authz::api::ACTION.to_owned());
            let response = json_error(&e, &id, AUTHORIZE_ACTION);
            record::<()>(&state, &id, &Err(e), notes);
            response
        }
    }
}

/// A JSON API's error answer, marked as `action`'s.
fn json_error(e: &ApiError, id: &str, action: &'static str) -> Response {
    answered(authz::api::error_response(e, id), action, Some(e.code))
}

/// `[rate_limits] per_source_ip` on a JSON door whose handler runs once its body is read
/// (`POST /authorize`, the admin API): a token taken before the body is read and before any
/// signature is verified (see `broker::throttle`). A refusal is audited, as `audit_action`
/// when the door knows its action before reading the body, and answered in the door's JSON.
async fn throttle_source_ip(
    state: &Broker,
    source_ip: Option<IpAddr>,
    id: &str,
    audit_action: Option<&str>,
    action: &'static str,
) -> Result<(), Response> {
    if state.throttle.limit(Scope::SourceIp).is_none() {
        return Ok(());
    }
    // Boxed: a shared bucket's store call would make the door's future large (see
    // `future_size`); only requests with the limit configured pay for the box.
    let (taken, mut notes) = state
        .audit
        .collect(Box::pin(state.throttle.source_ip(source_ip)))
        .await;
    let Err(e) = taken else {
        return Ok(());
    };
    notes.source_ip = source_ip;
    notes.action = audit_action.map(str::to_owned);
    let response = json_error(&e, id, action);
    record::<()>(state, id, &Err(e), notes);
    Err(response)
}

/// `POST /admin/revoke` (see [`admin_api`]): one audit line per call.
async fn admin_revoke(State(live): State<Arc<Live>>, req: Request) -> Response {
    let state = live.current();
    let id = request_id_of(&req, ADMIN_REVOKE_ACTION);
    let meta = match admin_meta(&state, req, &id, ADMIN_REVOKE_ACTION, None).await {
        Ok(meta) => meta,
        Err(refused) => return refused,
    };
    let collected = state.audit.collect(admin_api::revoke(&state, &meta)).await;
    admin_answer(&state, &id, &meta, collected, ADMIN_REVOKE_ACTION)
}

/// `POST /admin/reload` (see [`admin_api::reload`]): the caller is authenticated and authorized
/// on the running configuration before any file is read; one audit line per call.
async fn admin_reload(State(live): State<Arc<Live>>, req: Request) -> Response {
    let state = live.current();
    let id = request_id_of(&req, ADMIN_RELOAD_ACTION);
    let meta = match admin_meta(
        &state,
        req,
        &id,
        ADMIN_RELOAD_ACTION,
        Some(admin_api::RELOAD_CONFIG),
    )
    .await
    {
        Ok(meta) => meta,
        Err(refused) => return refused,
    };
    let collected = state
        .audit
        .collect(admin_api::reload(&live, &state, &meta))
        .await;
    admin_answer(&state, &id, &meta, collected, ADMIN_RELOAD_ACTION)
}

/// An admin call's request, its body read (at most the admin API's limit), or the answer
/// refusing it: throttled by source address (before the body is read; audited as
/// `audit_action`), or a body that is too long or cut short.
async fn admin_meta(
    state: &Broker,
    req: Request,
    id: &str,
    action: &'static str,
    audit_action: Option<&str>,
) -> Result<RequestMeta, Response> {
    let max = admin_api::MAX_BODY.min(state.config.server.max_body_bytes);
    throttle_source_ip(state, peer_ip(&req), id, audit_action, action).await?;
    let mut meta = request_meta(&req, id);
    meta.raw.body = to_bytes(req.into_body(), max)
        .await
        .map_err(|e| json_error(&body_error(&e, max), id, action))?;
    Ok(meta)
}

/// An admin call's audit line and answer.
fn admin_answer(
    state: &Broker,
    id: &str,
    meta: &RequestMeta,
    (result, mut notes): (Result<Response, ApiError>, audit::Notes),
    action: &'static str,
) -> Response {
    notes.source_ip = meta.source_ip;
    record(state, id, &result, notes);
    match result {
        Ok(response) => answered(response, action, None),
        Err(e) => {
            tracing::debug!(request_id = %id, code = e.code.as_str(), message = %e.message, "admin call refused");
            json_error(&e, id, action)
        }
    }
}

/// The request's meta with its body read (at most `max` bytes), or the refusal, with the
/// audit notes of `action` (a JSON door audits it too): `[rate_limits] per_source_ip`, taken
/// before a byte of the body is read (see `broker::throttle`), or a body that cannot be read.
async fn read_json_body(
    state: &Broker,
    req: Request,
    id: &str,
    max: usize,
    action: &str,
) -> (
    RequestMeta,
    Option<(Result<Response, ApiError>, audit::Notes)>,
) {
    if state.throttle.limit(Scope::SourceIp).is_some() {
        // Boxed as in `throttle_source_ip`.
        let (taken, mut notes) = state
            .audit
            .collect(Box::pin(state.throttle.source_ip(peer_ip(&req))))
            .await;
        if let Err(e) = taken {
            notes.action = Some(action.to_owned());
            // Who and when only: nothing of a refused request is copied.
            let refused = RequestMeta {
                request_id: id.to_owned(),
                source_ip: peer_ip(&req),
                user_agent: None,
                secure_transport: false,
                raw: RawRequest::default(),
            };
            return (refused, Some((Err(e), notes)));
        }
    }
    let mut meta = request_meta(&req, id);
    match to_bytes(req.into_body(), max).await {
        Ok(body) => {
            meta.raw.body = body;
            (meta, None)
        }
        Err(e) => {
            let notes = audit::Notes {
                action: Some(action.to_owned()),
                ..audit::Notes::default()
            };
            (meta, Some((Err(body_error(&e, max)), notes)))
        }
    }
}

/// `POST /policy/validation` (see [`analyzer`]): one audit line per call, a body that cannot
/// be read included.
async fn validate_policy(State(live): State<Arc<Live>>, req: Request) -> Response {
    let state = live.current();
    let id = request_id_of(&req, VALIDATE_POLICY_ACTION);
    let max = analyzer::MAX_BODY.min(state.config.server.max_body_bytes);
    let (meta, unread) = read_json_body(&state, req, &id, max, analyzer::ACTION).await;
    let (result, mut notes) = match unread {
        Some(refused) => refused,
        None => {
            state
                .audit
                .collect(Box::pin(analyzer::validate_policy(&state, &meta)))
                .await
        }
    };
    notes.source_ip = meta.source_ip;
    record(&state, &id, &result, notes);
    match result {
        Ok(response) => answered(response, VALIDATE_POLICY_ACTION, None),
        Err(e) => {
            tracing::debug!(request_id = %id, code = e.code.as_str(), message = %e.message, "ValidatePolicy refused");
            answered(
                analyzer::error_response(&e, &id),
                VALIDATE_POLICY_ACTION,
                Some(e.code),
            )
        }
    }
}

/// `POST /signin` (see [`signin`]): one audit line per call, a body that cannot be read
/// included; JSON errors with the request id.
async fn sign_in(State(live): State<Arc<Live>>, req: Request) -> Response {
    let state = live.current();
    let id = request_id_of(&req, SIGN_IN_ACTION);
    let max = signin::MAX_BODY.min(state.config.server.max_body_bytes);
    let (meta, unread) = read_json_body(&state, req, &id, max, signin::ACTION).await;
    let (result, mut notes) = match unread {
        Some(refused) => refused,
        None => {
            state
                .audit
                .collect(Box::pin(signin::sign_in(&state, &meta)))
                .await
        }
    };
    notes.source_ip = meta.source_ip;
    record(&state, &id, &result, notes);
    match result {
        Ok(response) => answered(response, SIGN_IN_ACTION, None),
        Err(e) => {
            tracing::debug!(request_id = %id, code = e.code.as_str(), "sign-in refused");
            json_error(&e, &id, SIGN_IN_ACTION)
        }
    }
}

/// The address the request came from (as the listener canonicalized it).
fn peer_ip(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// What the transport knows of a request, its body not yet read: a copy of its method, path,
/// query and headers, so taken only once the request passed `per_source_ip`.
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
        source_ip: peer_ip(req),
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
    action: &mut &'static str,
) -> Result<String, ApiError> {
    let source_ip = peer_ip(&req);
    audit::note(|n| n.source_ip = source_ip);
    // Before anything else, the body and the request's copy included (see `broker::throttle`).
    state.throttle.source_ip(source_ip).await?;
    let mut meta = request_meta(&req, id);
    let slot = ActionSlot::of(&req);
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
    *action = query::action_name(&params).unwrap_or(UNKNOWN_ACTION);
    slot.note(action);
    query::dispatch(state, &params, &meta).await
}

async fn readyz(State(live): State<Arc<Live>>) -> Response {
    let state = live.current();
    let unavailable = |text: &'static str| {
        answered(
            (StatusCode::SERVICE_UNAVAILABLE, text).into_response(),
            READYZ_ACTION,
            Some(ErrorCode::ServiceUnavailable),
        )
    };
    if state.keys.signing(state.clock.now()).is_none() {
        return unavailable("no session key loaded\n");
    }
    match state.store.ping().await {
        Ok(()) => answered(
            (StatusCode::OK, "ready\n").into_response(),
            READYZ_ACTION,
            None,
        ),
        // Logged by the store, once per change.
        Err(_) => unavailable("store not reachable\n"),
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

async fn dev_discovery(State(live): State<Arc<Live>>) -> Response {
    let state = live.current();
    let Some(dev) = &state.dev_issuer else {
        return dev_issuer_absent();
    };
    let issuer = dev.issuer.trim_end_matches('/');
    let body = axum::Json(serde_json::json!({
        "issuer": dev.issuer,
        "jwks_uri": format!("{issuer}/jwks.json"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "claims_supported": ["sub", "aud", "exp", "iat", "iss", "nbf"],
    }))
    .into_response();
    answered(body, DEV_ISSUER_ACTION, None)
}

async fn dev_jwks(State(live): State<Arc<Live>>) -> Response {
    let state = live.current();
    match &state.dev_issuer {
        Some(dev) => answered(
            axum::Json(dev.key.jwks()).into_response(),
            DEV_ISSUER_ACTION,
            None,
        ),
        None => dev_issuer_absent(),
    }
}

/// The dev issuer's routes exist only when it is enabled; this answers if they are reached
/// without it.
fn dev_issuer_absent() -> Response {
    answered(
        StatusCode::NOT_FOUND.into_response(),
        DEV_ISSUER_ACTION,
        Some(ErrorCode::NotFound),
    )
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
    /// the body and the header (on the JSON APIs, JSON with the id; on Access Analyzer's,
    /// its error type too).
    #[tokio::test]
    async fn a_panicking_handler_answers_internal_failure_with_the_request_id() {
        async fn boom() -> Response {
            panic!("handler bug")
        }
        let stats = Arc::new(Stats::default());
        let app = common_layers(
            Router::new()
                .route("/", get(boom))
                .route(authz::api::PATH, post(boom))
                .route(analyzer::PATH, post(boom)),
            1024,
            Duration::from_secs(5),
            stats.clone(),
        );
        for (method, path) in [
            ("GET", "/"),
            ("POST", authz::api::PATH),
            ("POST", analyzer::PATH),
        ] {
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
            let error_type = response.headers().get("x-amzn-errortype").cloned();
            let body = to_bytes(response.into_body(), 4096).await.unwrap();
            let body = String::from_utf8(body.to_vec()).unwrap();
            if path == analyzer::PATH {
                assert_eq!(error_type.unwrap(), "InternalServerException");
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(v["requestId"], id.as_str());
                assert!(v["message"].is_string(), "{v}");
            } else if path == authz::api::PATH {
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
        // Counted as what the client was told, under no action (none was read).
        let counts = stats.requests();
        assert_eq!(counts.len(), 1, "{counts:?}");
        assert_eq!(counts[0].action, UNKNOWN_ACTION);
        assert_eq!(counts[0].outcome, Some(ErrorCode::InternalFailure));
        assert_eq!(counts[0].count, 3);
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
/// The Query API handler's future stays small: axum moves it whole into a box on every request,
/// so a request future held inline (it was 16 KB) costs a large copy each time.
#[cfg(test)]
mod future_size {
    fn future_size<F, Fut>(_: &F) -> usize
    where
        F: Fn(axum::extract::State<std::sync::Arc<Live>>, super::Request) -> Fut,
    {
        size_of::<Fut>()
    }

    use super::Live;

    #[test]
    fn the_query_and_authorize_handlers_futures_are_small() {
        assert!(future_size(&super::sts_query) < 2048);
        assert!(future_size(&super::authorize_json) < 2048);
        assert!(future_size(&super::validate_policy) < 2048);
    }
}
