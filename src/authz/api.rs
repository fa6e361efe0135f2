//! `POST /authorize` on the main listener: the JSON form of the authorize API (body, answers
//! and errors: docs/resource-servers.md, "Authorize API"). The calling service signs its call with SigV4 (service
//! `sts`) as a principal allowed [`ACTION`] on the resource it asks about; a failed client
//! signature is still a `200` answer, a refused call is an error status.

use std::collections::BTreeMap;
use std::net::IpAddr;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{Forwarded, PrincipalInfo, Question, authorize, is_reserved_key};
use crate::authz::audit::{self as audit, Asked};
use crate::broker::Broker;
use crate::broker::admin;
use crate::broker::caller::authenticate_for;
use crate::broker::error::ErrorCode;
use crate::broker::{ApiError, RequestMeta};
use crate::policy::{self, Context, Explanation, NamedPolicy, PolicyType, Resource, is_account_id};
use crate::routes::is_service_name;
use crate::routes::path;
use crate::sigv4::{Payload, SignedRequest, UNSIGNED_PAYLOAD};

/// Where the JSON API is served on the main listener.
pub const PATH: &str = "/authorize";
/// The action the calling service needs, on the resource it asks about.
pub const ACTION: &str = "broker:Authorize";
/// The action that also earns the full explanation.
pub const EXPLAIN_ACTION: &str = "broker:ExplainAuthorization";

const MAX_HEADERS: usize = 200;
const MAX_CONTEXT_KEYS: usize = 64;
const MAX_CONTEXT_VALUES: usize = 32;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeInput {
    pub request: ForwardedInput,
    pub action: String,
    pub resource: String,
    /// The resource's owning account, when its ARN does not say (S3).
    #[serde(default)]
    pub resource_account: Option<String>,
    #[serde(default)]
    pub context: BTreeMap<String, ContextInput>,
    #[serde(default)]
    pub resource_policy: Option<serde_json::Value>,
    /// The service the forwarded signature must be scoped to; the action's prefix when absent.
    #[serde(default)]
    pub service: Option<String>,
    /// Whether the forwarded request may be a presigned URL.
    #[serde(default)]
    pub allow_presigned: bool,
    #[serde(default)]
    pub explain: bool,
}

/// The request the service received. Its headers and body carry the client's signature and
/// session token: `Debug` shows their sizes only.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardedInput {
    pub method: String,
    /// The path as received (still encoded): it must pass the path rule ([`crate::routes::path`]).
    pub path: String,
    #[serde(default)]
    pub query: String,
    pub headers: Vec<(String, String)>,
    /// Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD` when the service did not hash it (the
    /// declared `x-amz-content-sha256` is then taken as signed).
    #[serde(default)]
    pub payload_hash: Option<String>,
    /// The body, base64.
    #[serde(default)]
    pub body: Option<String>,
}

impl std::fmt::Debug for ForwardedInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardedInput")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &self.headers.len())
            .field("body_bytes", &self.body.as_ref().map_or(0, String::len))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ContextInput {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

#[derive(Debug, Serialize)]
struct Unauthenticated<'a> {
    authenticated: bool,
    allowed: bool,
    error: ErrorBody<'a>,
    status: u16,
}

#[derive(Debug, Serialize)]
struct Decided {
    authenticated: bool,
    decision: &'static str,
    allowed: bool,
    principal: PrincipalInfo,
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<Explanation>,
}

/// A JSON error answer (the authorize and admin APIs'): the code, the message and the request
/// id, with `Retry-After` when the client is asked to come back.
pub fn error_response(e: &ApiError, request_id: &str) -> Response {
    let mut response = (
        e.status(),
        axum::Json(serde_json::json!({
            "error": ErrorBody { code: e.code.as_str(), message: &e.message },
            "request_id": request_id,
        })),
    )
        .into_response();
    if let Some(seconds) = e.retry_after {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(seconds),
        );
    }
    response
}

/// Handles one call whose body is `meta.raw.body`. Each answered question is one audit line
/// ([`crate::authz::audit`]); a refused call is audited by the router as `broker:Authorize`.
pub async fn handle(state: &Broker, meta: &RequestMeta) -> Result<Response, ApiError> {
    let authenticated = authenticate_for(state, meta, "sts").await?;
    let service_permissions = authenticated.permissions(&state.config.iam)?;
    let input: AuthorizeInput = serde_json::from_slice(&meta.raw.body)
        .map_err(|e| ApiError::validation(format!("Invalid request body: {e}")))?;
    admin::allowed(state, meta, &service_permissions, ACTION, &input.resource)?;
    let question = question(&input)?;
    let body = match &input.request.body {
        Some(b) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|_| ApiError::validation("request.body must be base64"))?,
        ),
        None => None,
    };
    let payload = match (&body, input.request.payload_hash.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "Give request.payload_hash or request.body, not both",
            ));
        }
        (Some(b), None) => Payload::Body(b),
        (None, Some(UNSIGNED_PAYLOAD) | None) => Payload::Declared,
        (None, Some(h)) => {
            if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ApiError::validation(
                    "request.payload_hash must be 64 hex digits or UNSIGNED-PAYLOAD",
                ));
            }
            Payload::Sha256(h)
        }
    };
    let r = &input.request;
    if r.headers.len() > MAX_HEADERS {
        return Err(ApiError::validation(format!(
            "request.headers: at most {MAX_HEADERS} headers"
        )));
    }
    if r.method.is_empty() {
        return Err(ApiError::validation("request.method must be set"));
    }
    if let Err(e) = path::check(&r.path) {
        return Err(ApiError::new(
            ErrorCode::InvalidUri,
            format!("request.path: {e}"),
        ));
    }
    let service = match &input.service {
        Some(s) if is_service_name(s) => s.clone(),
        Some(_) => {
            return Err(ApiError::validation(
                "service must be a service name (lower-case letters, digits, -)",
            ));
        }
        None => input
            .action
            .split_once(':')
            .map_or(String::new(), |(s, _)| s.to_ascii_lowercase()),
    };
    let forwarded = Forwarded {
        request: SignedRequest {
            method: &r.method,
            path: &r.path,
            query: &r.query,
            headers: &r.headers,
            body: b"",
        },
        payload,
        service: &service,
        allow_presigned: input.allow_presigned,
    };
    let asked = Asked {
        request_id: &meta.request_id,
        source_ip: client_ip(&input.context),
        caller: Some(authenticated.caller().arn()),
        action: &input.action,
        resource: &input.resource,
        at: state.clock.now(),
    };
    let answer = match authorize(state, &forwarded, question, &meta.request_id).await {
        Ok(a) => {
            audit::decided(&state.audit, &asked, &forwarded, &a);
            a
        }
        Err(e) => {
            audit::refused(&state.audit, &asked, &forwarded, &e);
            tracing::info!(request_id = %meta.request_id, code = e.code.as_str(), "forwarded request not authenticated");
            return Ok(axum::Json(Unauthenticated {
                authenticated: false,
                allowed: false,
                error: ErrorBody {
                    code: e.code.as_str(),
                    message: &e.message,
                },
                status: e.status().as_u16(),
            })
            .into_response());
        }
    };
    let explain = input.explain
        && admin::allowed(
            state,
            meta,
            &service_permissions,
            EXPLAIN_ACTION,
            &input.resource,
        )
        .is_ok();
    tracing::info!(
        request_id = %meta.request_id,
        caller = %answer.permissions.arn(),
        action = %input.action,
        decision = answer.decision(),
        "authorize"
    );
    Ok((
        StatusCode::OK,
        axum::Json(Decided {
            authenticated: true,
            decision: answer.decision(),
            allowed: answer.allowed(),
            principal: answer.principal(),
            reason: answer.reason(),
            explanation: explain.then(|| answer.explanation()),
        }),
    )
        .into_response())
}

/// The client's address, when the service gave it as `aws:SourceIp`.
fn client_ip(context: &BTreeMap<String, ContextInput>) -> Option<IpAddr> {
    context
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("aws:SourceIp"))
        .and_then(|(_, v)| match v {
            ContextInput::One(ip) => ip.parse().ok(),
            ContextInput::Many(_) => None,
        })
}

/// The question in the body, checked.
fn question(input: &AuthorizeInput) -> Result<Question, ApiError> {
    let action_ok = input.action.len() <= 128
        && input.action.split_once(':').is_some_and(|(s, a)| {
            !s.is_empty()
                && !a.is_empty()
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && a.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    if !action_ok {
        return Err(ApiError::validation(
            "action must be service:Action (letters and digits)",
        ));
    }
    if input.resource.is_empty() || input.resource.len() > 2048 {
        return Err(ApiError::validation(
            "resource must be 1 to 2048 characters",
        ));
    }
    let mut resource = Resource::new(input.resource.clone());
    if let Some(account) = &input.resource_account {
        if !is_account_id(account) {
            return Err(ApiError::validation("resource_account must be 12 digits"));
        }
        resource = resource.with_account(account.clone());
    }
    if input.context.len() > MAX_CONTEXT_KEYS {
        return Err(ApiError::validation(format!(
            "context: at most {MAX_CONTEXT_KEYS} keys"
        )));
    }
    let mut context = Context::new();
    for (key, value) in &input.context {
        if is_reserved_key(key) {
            return Err(ApiError::validation(format!(
                "context: {} is set by the broker, not by the caller",
                crate::encoding::shorten(key)
            )));
        }
        match value {
            ContextInput::One(v) => context.insert(key, v.as_str()),
            ContextInput::Many(vs) if vs.len() <= MAX_CONTEXT_VALUES => {
                for v in vs {
                    context.push(key, v.as_str());
                }
            }
            ContextInput::Many(_) => {
                return Err(ApiError::validation(format!(
                    "context: at most {MAX_CONTEXT_VALUES} values per key"
                )));
            }
        }
    }
    let resource_policy = match &input.resource_policy {
        Some(doc) => {
            let text = doc.to_string();
            let parsed = policy::parse(&text, PolicyType::Resource)
                .map_err(|e| ApiError::malformed_policy(e.to_string()))?;
            Some(NamedPolicy::new(
                "resource policy (from the request)",
                parsed,
            ))
        }
        None => None,
    };
    Ok(Question {
        action: input.action.clone(),
        resource,
        context,
        resource_policy,
    })
}
