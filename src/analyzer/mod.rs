//! IAM Access Analyzer's REST-JSON API on the main listener: `POST /policy/validation`,
//! `ValidatePolicy` (Access Analyzer API Reference; botocore's `accessanalyzer` model), so
//! boto3's `accessanalyzer` client and `aws accessanalyzer validate-policy` given this endpoint
//! check policies against this broker's policy engine ([`crate::policy::validate_policy`]).
//!
//! The caller signs with SigV4 for service `access-analyzer` (any region) and its own policies
//! must allow `access-analyzer:ValidatePolicy` on `*`. Input is bounded (body, document,
//! `maxResults`, `nextToken`), findings are paged by an opaque token bound to the request's
//! document, and every error is Access Analyzer's: `x-amzn-ErrorType` and a JSON body with
//! `message` (and the request id).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::audit;
use crate::broker::error::ErrorCode;
use crate::broker::{ApiError, Broker, RequestMeta, admin};
use crate::policy::{self, Finding, MAX_POLICY_BYTES, PolicyType};

/// Where `ValidatePolicy` is served.
pub const PATH: &str = "/policy/validation";
/// The service a signature must be scoped to.
pub const SERVICE: &str = "access-analyzer";
/// The action the caller's policies must allow, on `*`.
pub const ACTION: &str = "access-analyzer:ValidatePolicy";
/// Longest body read: the largest document, JSON-escaped, and the other members.
pub const MAX_BODY: usize = 512 * 1024;
/// Findings per page when the caller gives no `maxResults`, and the most it may ask for.
const DEFAULT_MAX_RESULTS: usize = 100;
const MAX_MAX_RESULTS: usize = 1000;
/// Longest `nextToken` accepted (ours are about 40 characters).
const MAX_TOKEN: usize = 256;

/// The request body (`ValidatePolicyRequest`'s body members).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Input {
    policy_document: String,
    policy_type: String,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    validate_policy_resource_type: Option<String>,
}

/// The answer (`ValidatePolicyResponse`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Output<'a> {
    findings: &'a [Finding],
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// The locales Access Analyzer accepts; findings are written in English whichever is asked.
const LOCALES: [&str; 10] = [
    "DE", "EN", "ES", "FR", "IT", "JA", "KO", "PT_BR", "ZH_CN", "ZH_TW",
];
/// `validatePolicyResourceType` values; the role trust policy is validated as one.
const RESOURCE_TYPES: [&str; 6] = [
    "AWS::S3::Bucket",
    "AWS::S3::AccessPoint",
    "AWS::S3::MultiRegionAccessPoint",
    "AWS::S3ObjectLambda::AccessPoint",
    "AWS::IAM::AssumeRolePolicyDocument",
    "AWS::DynamoDB::Table",
];

/// Answers one `ValidatePolicy` call whose body is `meta.raw.body` (the door took its
/// `per_source_ip` token before reading it): authenticated and authorized before the input is
/// read.
pub async fn validate_policy(state: &Broker, meta: &RequestMeta) -> Result<Response, ApiError> {
    audit::note(|n| {
        n.action = Some(ACTION.to_owned());
        n.resource = Some("*".to_owned());
    });
    admin::require_for(state, meta, SERVICE, ACTION, "*").await?;
    let json = meta
        .raw
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .is_some_and(|(_, v)| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !json {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "Content-Type must be application/json",
        ));
    }
    let page = Page::from_query(&meta.raw.query)?;
    let input: Input = serde_json::from_slice(&meta.raw.body).map_err(|e| {
        let why: String = e.to_string().chars().take(300).collect();
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!("The request body is not a ValidatePolicy request: {why}"),
        )
    })?;
    let policy_type = policy_type(&input)?;
    if input.policy_document.len() > MAX_POLICY_BYTES {
        return Err(ApiError::validation(format!(
            "policyDocument must be at most {MAX_POLICY_BYTES} bytes"
        )));
    }
    let fingerprint = fingerprint(&input);
    let start = match &page.token {
        Some(token) => token_offset(token, &fingerprint)?,
        None => 0,
    };
    let document = input.policy_document;
    // Tens of milliseconds of work on the largest documents: off the runtime's workers.
    let findings =
        tokio::task::spawn_blocking(move || policy::validate_policy(&document, policy_type))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "policy validation failed");
                ApiError::internal()
            })?;
    let end = start.saturating_add(page.max_results).min(findings.len());
    let next_token = (end < findings.len()).then(|| token(end, &fingerprint));
    let body = Output {
        findings: findings.get(start..end).unwrap_or_default(),
        next_token,
    };
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

/// The type the policy engine validates `input`'s document as.
fn policy_type(input: &Input) -> Result<PolicyType, ApiError> {
    if let Some(locale) = &input.locale
        && !LOCALES.contains(&locale.as_str())
    {
        return Err(ApiError::validation(format!(
            "locale must be one of {}",
            LOCALES.join(", ")
        )));
    }
    let t = match input.policy_type.as_str() {
        "IDENTITY_POLICY" => PolicyType::Identity,
        "RESOURCE_POLICY" => PolicyType::Resource,
        "SERVICE_CONTROL_POLICY" => PolicyType::Scp,
        "RESOURCE_CONTROL_POLICY" => PolicyType::Rcp,
        _ => {
            return Err(ApiError::validation(
                "policyType must be one of IDENTITY_POLICY, RESOURCE_POLICY, \
                 SERVICE_CONTROL_POLICY, RESOURCE_CONTROL_POLICY",
            ));
        }
    };
    match (&input.validate_policy_resource_type, t) {
        (None, t) => Ok(t),
        (Some(r), PolicyType::Resource) if r == "AWS::IAM::AssumeRolePolicyDocument" => {
            Ok(PolicyType::Trust)
        }
        (Some(r), PolicyType::Resource) if RESOURCE_TYPES.contains(&r.as_str()) => Ok(t),
        (Some(_), PolicyType::Resource) => Err(ApiError::validation(format!(
            "validatePolicyResourceType must be one of {}",
            RESOURCE_TYPES.join(", ")
        ))),
        (Some(_), _) => Err(ApiError::validation(
            "validatePolicyResourceType is for policyType RESOURCE_POLICY only",
        )),
    }
}

/// The query string's paging members.
#[derive(Debug, PartialEq, Eq)]
struct Page {
    max_results: usize,
    token: Option<String>,
}

impl Page {
    /// `maxResults` (1 to 1000) and `nextToken`, each at most once; SigV4's `X-Amz-*`
    /// members pass, anything else is refused.
    fn from_query(query: &str) -> Result<Page, ApiError> {
        let mut max_results = None;
        let mut token = None;
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let twice = || ApiError::validation(format!("{name} may be given once"));
            match name.as_ref() {
                "maxResults" => {
                    let n = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_MAX_RESULTS).contains(n))
                        .ok_or_else(|| {
                            ApiError::validation(format!(
                                "maxResults must be a number from 1 to {MAX_MAX_RESULTS}"
                            ))
                        })?;
                    if max_results.replace(n).is_some() {
                        return Err(twice());
                    }
                }
                "nextToken" => {
                    if value.is_empty() || value.len() > MAX_TOKEN {
                        return Err(ApiError::validation(format!(
                            "nextToken must be 1 to {MAX_TOKEN} characters"
                        )));
                    }
                    if token.replace(value.into_owned()).is_some() {
                        return Err(twice());
                    }
                }
                other if other.starts_with("X-Amz-") => {}
                other => {
                    return Err(ApiError::validation(format!(
                        "unknown query parameter {}",
                        crate::encoding::shorten(other)
                    )));
                }
            }
        }
        Ok(Page {
            max_results: max_results.unwrap_or(DEFAULT_MAX_RESULTS),
            token,
        })
    }
}

/// What a page token is bound to: the document, its type and resource type.
fn fingerprint(input: &Input) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [
        input.policy_type.as_str(),
        input.validate_policy_resource_type.as_deref().unwrap_or(""),
        input.policy_document.as_str(),
    ] {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part.as_bytes());
    }
    hex::encode(&context.finish().as_ref()[..12])
}

/// The token for the page starting at finding `offset` of the document with `fingerprint`.
fn token(offset: usize, fingerprint: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{offset}.{fingerprint}"))
}

/// Where the page `token` names starts; a token for another request is refused.
fn token_offset(token: &str, fingerprint: &str) -> Result<usize, ApiError> {
    let invalid = || ApiError::validation("nextToken is not a token this request returned");
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid)?;
    match text.split_once('.') {
        Some((offset, bound)) if bound == fingerprint => offset.parse().map_err(|_| invalid()),
        _ => Err(invalid()),
    }
}

/// How Access Analyzer's API names an error, with its status and, for `ValidationException`,
/// its `reason`. Every code is placed: none can leave this front door unnamed.
fn wire(code: ErrorCode) -> (&'static str, StatusCode, Option<&'static str>) {
    const VALIDATION: &str = "ValidationException";
    let status = code.status();
    match code {
        ErrorCode::ValidationError
        | ErrorCode::MissingParameter
        | ErrorCode::InvalidParameterValue
        | ErrorCode::InvalidParameterCombination
        | ErrorCode::MalformedPolicyDocument
        | ErrorCode::InvalidInput => (
            VALIDATION,
            StatusCode::BAD_REQUEST,
            Some("fieldValidationFailed"),
        ),
        ErrorCode::InvalidRequest | ErrorCode::IncompleteBody | ErrorCode::InvalidUri => {
            (VALIDATION, StatusCode::BAD_REQUEST, Some("cannotParse"))
        }
        ErrorCode::MissingAction | ErrorCode::InvalidAction | ErrorCode::NotFound => {
            (VALIDATION, status, Some("unknownOperation"))
        }
        ErrorCode::MethodNotAllowed => (VALIDATION, status, Some("notSupported")),
        ErrorCode::InvalidIdentityToken
        | ErrorCode::ExpiredTokenException
        | ErrorCode::IdpCommunicationError
        | ErrorCode::IdpRejectedClaim
        | ErrorCode::PackedPolicyTooLarge
        | ErrorCode::InvalidAuthorizationMessageException
        | ErrorCode::UnmodifiableEntity
        | ErrorCode::PasswordPolicyViolation
        | ErrorCode::InvalidUserType => (VALIDATION, StatusCode::BAD_REQUEST, Some("other")),
        ErrorCode::RequestEntityTooLarge => ("RequestEntityTooLargeException", status, None),
        ErrorCode::MissingAuthenticationToken => {
            ("MissingAuthenticationTokenException", status, None)
        }
        ErrorCode::IncompleteSignature => ("IncompleteSignatureException", status, None),
        ErrorCode::SignatureDoesNotMatch | ErrorCode::RequestExpired => {
            ("InvalidSignatureException", StatusCode::FORBIDDEN, None)
        }
        ErrorCode::XAmzContentSha256Mismatch => ("XAmzContentSHA256Mismatch", status, None),
        ErrorCode::InvalidClientTokenId => ("UnrecognizedClientException", status, None),
        ErrorCode::ExpiredToken => ("ExpiredTokenException", status, None),
        ErrorCode::AccessDenied
        | ErrorCode::InvalidAuthenticationCode
        | ErrorCode::InvalidCredentials
        | ErrorCode::MfaRequired
        | ErrorCode::PasswordResetRequired
        | ErrorCode::PasswordExpired => ("AccessDeniedException", StatusCode::FORBIDDEN, None),
        ErrorCode::NoSuchEntity | ErrorCode::ReportNotPresent | ErrorCode::ReportExpired => {
            ("ResourceNotFoundException", StatusCode::NOT_FOUND, None)
        }
        ErrorCode::EntityAlreadyExists
        | ErrorCode::LimitExceeded
        | ErrorCode::DeleteConflict
        | ErrorCode::ConcurrentModification => ("ConflictException", status, None),
        ErrorCode::Throttling => ("ThrottlingException", StatusCode::TOO_MANY_REQUESTS, None),
        ErrorCode::ServiceUnavailable => ("ServiceUnavailableException", status, None),
        ErrorCode::InternalFailure => ("InternalServerException", status, None),
        ErrorCode::RequestTimeout => ("RequestTimeoutException", status, None),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody<'a> {
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    request_id: &'a str,
}

/// An error answer as Access Analyzer gives it: `x-amzn-ErrorType`, the status, and
/// `{"message", "reason" (validation only), "requestId"}`, with `Retry-After` when the client
/// is asked to come back.
pub fn error_response(e: &ApiError, request_id: &str) -> Response {
    let (name, status, reason) = wire(e.code);
    // The shared 405 speaks of the Query API's methods.
    let message = match e.code {
        ErrorCode::MethodNotAllowed => "ValidatePolicy is served with POST",
        _ => &e.message,
    };
    let body = ErrorBody {
        message,
        reason,
        request_id,
    };
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert("x-amzn-errortype", HeaderValue::from_static(name));
    if let Some(seconds) = e.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(policy_type: &str, resource_type: Option<&str>) -> Input {
        Input {
            policy_document: "{}".to_owned(),
            policy_type: policy_type.to_owned(),
            locale: Some("EN".to_owned()),
            validate_policy_resource_type: resource_type.map(str::to_owned),
        }
    }

    #[test]
    fn policy_types_and_resource_types() {
        let ok = [
            ("IDENTITY_POLICY", None, PolicyType::Identity),
            ("RESOURCE_POLICY", None, PolicyType::Resource),
            ("SERVICE_CONTROL_POLICY", None, PolicyType::Scp),
            ("RESOURCE_CONTROL_POLICY", None, PolicyType::Rcp),
            (
                "RESOURCE_POLICY",
                Some("AWS::IAM::AssumeRolePolicyDocument"),
                PolicyType::Trust,
            ),
            (
                "RESOURCE_POLICY",
                Some("AWS::S3::Bucket"),
                PolicyType::Resource,
            ),
        ];
        for (t, r, want) in ok {
            assert_eq!(policy_type(&input(t, r)).unwrap(), want, "{t} {r:?}");
        }
        for (t, r) in [
            ("identity_policy", None),
            ("TRUST_POLICY", None),
            ("RESOURCE_POLICY", Some("AWS::KMS::Key")),
            ("IDENTITY_POLICY", Some("AWS::S3::Bucket")),
        ] {
            assert_eq!(
                policy_type(&input(t, r)).unwrap_err().code,
                ErrorCode::ValidationError,
                "{t} {r:?}"
            );
        }
        let mut klingon = input("IDENTITY_POLICY", None);
        klingon.locale = Some("TLH".to_owned());
        assert!(policy_type(&klingon).is_err());
    }

    #[test]
    fn paging_members_are_bounded() {
        assert_eq!(
            Page::from_query("").unwrap(),
            Page {
                max_results: 100,
                token: None
            }
        );
        assert_eq!(
            Page::from_query("maxResults=2&nextToken=abc&X-Amz-Date=1").unwrap(),
            Page {
                max_results: 2,
                token: Some("abc".to_owned())
            }
        );
        let long = format!("nextToken={}", "a".repeat(MAX_TOKEN + 1));
        for bad in [
            "maxResults=0",
            "maxResults=1001",
            "maxResults=x",
            "maxResults=1&maxResults=2",
            "nextToken=",
            long.as_str(),
            "nextToken=a&nextToken=b",
            "max_results=1",
        ] {
            assert_eq!(
                Page::from_query(bad).unwrap_err().code,
                ErrorCode::ValidationError,
                "{bad}"
            );
        }
    }

    #[test]
    fn tokens_are_bound_to_the_request() {
        let a = fingerprint(&input("IDENTITY_POLICY", None));
        let b = fingerprint(&input("RESOURCE_POLICY", None));
        assert_ne!(a, b);
        assert_eq!(token_offset(&token(7, &a), &a).unwrap(), 7);
        assert!(token_offset(&token(7, &a), &b).is_err());
        assert!(token_offset("not a token!", &a).is_err());
        assert!(token(123_456, &a).len() < MAX_TOKEN);
    }

    #[tokio::test]
    async fn errors_are_access_analyzers() {
        let cases = [
            (
                ApiError::validation("x"),
                "ValidationException",
                400,
                Some("fieldValidationFailed"),
            ),
            (
                ApiError::new(ErrorCode::InvalidRequest, "x"),
                "ValidationException",
                400,
                Some("cannotParse"),
            ),
            (
                ApiError::access_denied("x"),
                "AccessDeniedException",
                403,
                None,
            ),
            (ApiError::throttled(), "ThrottlingException", 429, None),
            (ApiError::internal(), "InternalServerException", 500, None),
            (
                ApiError::invalid_client_token_id(),
                "UnrecognizedClientException",
                403,
                None,
            ),
            (
                ApiError::new(ErrorCode::SignatureDoesNotMatch, "x"),
                "InvalidSignatureException",
                403,
                None,
            ),
            (
                ApiError::new(ErrorCode::MissingAuthenticationToken, "x"),
                "MissingAuthenticationTokenException",
                403,
                None,
            ),
        ];
        for (e, name, status, reason) in cases {
            let (got_name, got_status, got_reason) = wire(e.code);
            assert_eq!(
                (got_name, got_status.as_u16(), got_reason),
                (name, status, reason),
                "{}",
                e.code
            );
            let response = error_response(&e, "rid");
            assert_eq!(response.headers()["x-amzn-errortype"], name);
        }
        let response = error_response(&ApiError::method_not_allowed(), "rid");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"message": "ValidatePolicy is served with POST",
                "reason": "notSupported", "requestId": "rid"})
        );
    }
}
