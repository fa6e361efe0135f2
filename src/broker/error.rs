//! The one error type every STS action returns, and the only place that decides what a client
//! sees: AWS's error code, its HTTP status, whether the sender or the service is at fault, and
//! a message safe to show. Details that are not safe stay in `tracing`.

use axum::http::StatusCode;

use crate::audit;

/// Who is at fault, as AWS's `ErrorResponse/Error/Type` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Sender,
    Receiver,
}

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Sender => "Sender",
            Fault::Receiver => "Receiver",
        }
    }
}

/// An AWS-shaped error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct StsError {
    pub code: &'static str,
    pub status: StatusCode,
    pub fault: Fault,
    pub message: String,
    /// Seconds to send in `Retry-After`, for answers that ask the client to come back.
    pub retry_after: Option<u32>,
}

impl StsError {
    fn sender(code: &'static str, status: StatusCode, message: impl Into<String>) -> StsError {
        StsError {
            code,
            status,
            fault: Fault::Sender,
            message: message.into(),
            retry_after: None,
        }
    }

    /// `ValidationError` (400): a parameter breaks its constraints.
    pub fn validation(message: impl Into<String>) -> StsError {
        StsError::sender("ValidationError", StatusCode::BAD_REQUEST, message)
    }

    /// `MissingParameter` (400).
    pub fn missing_parameter(name: &str) -> StsError {
        StsError::sender(
            "MissingParameter",
            StatusCode::BAD_REQUEST,
            format!("The request must contain the parameter {name}"),
        )
    }

    /// `MissingAction` (400).
    pub fn missing_action() -> StsError {
        StsError::sender(
            "MissingAction",
            StatusCode::BAD_REQUEST,
            "The request must contain the parameter Action",
        )
    }

    /// `InvalidAction` (400): unknown action, or a version this service does not speak.
    pub fn invalid_action(action: &str, version: &str) -> StsError {
        StsError::sender(
            "InvalidAction",
            StatusCode::BAD_REQUEST,
            format!(
                "Could not find operation {} for version {}",
                crate::encoding::shorten(action),
                crate::encoding::shorten(version)
            ),
        )
    }

    /// `InvalidParameterValue` (400): malformed query string or parameter encoding.
    pub fn invalid_parameter(message: impl Into<String>) -> StsError {
        StsError::sender("InvalidParameterValue", StatusCode::BAD_REQUEST, message)
    }

    /// An error whose code and status another module decided (e.g. SigV4's).
    pub fn from_aws(code: &'static str, status: u16, message: impl Into<String>) -> StsError {
        StsError::sender(
            code,
            StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN),
            message,
        )
    }

    /// `InvalidClientTokenId` (403): the access key or session token is not one we issued.
    pub fn invalid_client_token_id() -> StsError {
        StsError::sender(
            "InvalidClientTokenId",
            StatusCode::FORBIDDEN,
            "The security token included in the request is invalid.",
        )
    }

    /// `ExpiredToken` (403): the session the credentials belong to has ended.
    pub fn expired_token() -> StsError {
        StsError::sender(
            "ExpiredToken",
            StatusCode::FORBIDDEN,
            "The security token included in the request is expired",
        )
    }

    /// `AccessDenied` (403).
    pub fn access_denied(message: impl Into<String>) -> StsError {
        StsError::sender("AccessDenied", StatusCode::FORBIDDEN, message)
    }

    /// `InvalidIdentityToken` (400).
    pub fn invalid_identity_token(message: impl Into<String>) -> StsError {
        StsError::sender("InvalidIdentityToken", StatusCode::BAD_REQUEST, message)
    }

    /// `ExpiredTokenException` (400): the web identity token has expired.
    pub fn expired_identity_token(message: impl Into<String>) -> StsError {
        StsError::sender("ExpiredTokenException", StatusCode::BAD_REQUEST, message)
    }

    /// `IDPCommunicationError` (400, retried by SDKs): the identity provider could not be reached.
    pub fn idp_communication(message: impl Into<String>) -> StsError {
        StsError::sender("IDPCommunicationError", StatusCode::BAD_REQUEST, message)
    }

    /// `IDPRejectedClaim` (403): the identity provider's claims (SAML attributes) are invalid.
    pub fn idp_rejected_claim(message: impl Into<String>) -> StsError {
        StsError::sender("IDPRejectedClaim", StatusCode::FORBIDDEN, message)
    }

    /// `MalformedPolicyDocument` (400).
    pub fn malformed_policy(message: impl Into<String>) -> StsError {
        StsError::sender("MalformedPolicyDocument", StatusCode::BAD_REQUEST, message)
    }

    /// `PackedPolicyTooLarge` (400).
    pub fn packed_policy_too_large(percent: u32) -> StsError {
        StsError::sender(
            "PackedPolicyTooLarge",
            StatusCode::BAD_REQUEST,
            format!(
                "Packed size of session policies and tags consumes {percent}% of allotted space."
            ),
        )
    }

    /// `RequestEntityTooLarge` (413).
    pub fn body_too_large(limit: usize) -> StsError {
        StsError::sender(
            "RequestEntityTooLarge",
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body must be at most {limit} bytes"),
        )
    }

    /// `ServiceUnavailable` (503, retried by SDKs): a dependency such as the store is down.
    pub fn service_unavailable() -> StsError {
        StsError {
            code: "ServiceUnavailable",
            status: StatusCode::SERVICE_UNAVAILABLE,
            fault: Fault::Receiver,
            message: "The service is unavailable. Please try again later.".to_owned(),
            retry_after: None,
        }
    }

    /// `ServiceUnavailable` (503) with `Retry-After`: the work this request needs is at its
    /// concurrency limit; SDKs retry.
    pub fn busy(retry_after_seconds: u32) -> StsError {
        StsError {
            retry_after: Some(retry_after_seconds),
            ..StsError::service_unavailable()
        }
    }

    /// `InternalFailure` (500).
    pub fn internal() -> StsError {
        StsError {
            code: "InternalFailure",
            status: StatusCode::INTERNAL_SERVER_ERROR,
            fault: Fault::Receiver,
            message: "The request processing has failed because of an unknown error.".to_owned(),
            retry_after: None,
        }
    }

    /// `RequestTimeout` (408)-shaped answer when a request exceeds its deadline.
    pub fn timeout() -> StsError {
        StsError {
            code: "RequestTimeout",
            status: StatusCode::REQUEST_TIMEOUT,
            fault: Fault::Receiver,
            message: "The request did not complete in time.".to_owned(),
            retry_after: None,
        }
    }

    /// `NotFound` (404) for paths the service does not have.
    pub fn not_found() -> StsError {
        StsError::sender(
            "NotFound",
            StatusCode::NOT_FOUND,
            "The requested path does not exist. STS actions are served at /",
        )
    }

    /// `MethodNotAllowed` (405).
    pub fn method_not_allowed() -> StsError {
        StsError::sender(
            "MethodNotAllowed",
            StatusCode::METHOD_NOT_ALLOWED,
            "STS actions are served with GET or POST",
        )
    }

    /// `InvalidAuthorizationMessageException` (400): an encoded authorization message that is
    /// not one this broker made, or was altered.
    pub fn invalid_authorization_message() -> StsError {
        StsError::sender(
            "InvalidAuthorizationMessageException",
            StatusCode::BAD_REQUEST,
            "The encoded authorization message is invalid.",
        )
    }

    /// IAM's `InvalidInput` (400).
    pub fn invalid_input(message: impl Into<String>) -> StsError {
        StsError::sender("InvalidInput", StatusCode::BAD_REQUEST, message)
    }

    /// IAM's `NoSuchEntity` (404).
    pub fn no_such_entity(message: impl Into<String>) -> StsError {
        StsError::sender("NoSuchEntity", StatusCode::NOT_FOUND, message)
    }
}

/// The decision and reason of a call that answered `error` (`None`: it succeeded), given the
/// policy decision noted: a refusal with `403` or of an identity token is `Deny`, any other
/// error `Error`; the reason is the policy decision when one refused, else the AWS code.
pub fn audit_outcome(
    error: Option<&StsError>,
    policy_decision: Option<&'static str>,
) -> (audit::Decision, Option<String>) {
    let Some(e) = error else {
        return (audit::Decision::Allow, None);
    };
    let denied = e.status == StatusCode::FORBIDDEN
        || matches!(e.code, "InvalidIdentityToken" | "ExpiredTokenException");
    let decision = if denied {
        audit::Decision::Deny
    } else {
        audit::Decision::Error
    };
    (decision, Some(policy_decision.unwrap_or(e.code).to_owned()))
}
