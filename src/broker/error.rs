//! The one error type every front door returns, and the only place that decides what a client
//! sees: AWS's error code ([`ErrorCode`], whose status, fault, retryability and audit class are
//! exhaustive matches), and a message safe to show. Every subsystem's error becomes an
//! [`ApiError`] here (the `From` impls below); details that are not safe stay in `tracing`.
//!
//! Why one long file: most of it is the exhaustive tables of [`ErrorCode`], kept together so
//! that a new code is placed in each at once.

use axum::http::StatusCode;

use crate::audit;
use crate::broker::reload::ReloadError;
use crate::iam::api::IamApiError;
use crate::oidc::{OidcError, OidcErrorKind};
use crate::policy::PolicyError;
use crate::revocation::{RevocationError, Revoked};
use crate::saml::{SamlError, SamlErrorKind};
use crate::session::credentials::CredentialError;
use crate::sigv4::SigV4Error;
use crate::store::StoreError;

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

/// Every error code the broker answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    // The request's shape.
    ValidationError,
    MissingParameter,
    MissingAction,
    InvalidAction,
    InvalidParameterValue,
    InvalidParameterCombination,
    RequestEntityTooLarge,
    IncompleteBody,
    NotFound,
    MethodNotAllowed,
    InvalidUri,
    InvalidRequest,
    // Signatures and credentials.
    MissingAuthenticationToken,
    IncompleteSignature,
    SignatureDoesNotMatch,
    RequestExpired,
    XAmzContentSha256Mismatch,
    InvalidClientTokenId,
    ExpiredToken,
    // Decisions.
    AccessDenied,
    // Federation.
    InvalidIdentityToken,
    ExpiredTokenException,
    IdpCommunicationError,
    IdpRejectedClaim,
    // Policies.
    MalformedPolicyDocument,
    PackedPolicyTooLarge,
    InvalidAuthorizationMessageException,
    // IAM's.
    InvalidInput,
    NoSuchEntity,
    EntityAlreadyExists,
    LimitExceeded,
    DeleteConflict,
    ConcurrentModification,
    UnmodifiableEntity,
    InvalidAuthenticationCode,
    PasswordPolicyViolation,
    InvalidUserType,
    // Signing in with a password (`POST /signin`).
    InvalidCredentials,
    MfaRequired,
    PasswordResetRequired,
    PasswordExpired,
    // IAM's credential report.
    ReportNotPresent,
    ReportExpired,
    // Too many requests (`[rate_limits]`).
    Throttling,
    // The service's own state.
    ServiceUnavailable,
    InternalFailure,
    RequestTimeout,
}

impl ErrorCode {
    /// The code as AWS spells it on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ValidationError => "ValidationError",
            ErrorCode::MissingParameter => "MissingParameter",
            ErrorCode::MissingAction => "MissingAction",
            ErrorCode::InvalidAction => "InvalidAction",
            ErrorCode::InvalidParameterValue => "InvalidParameterValue",
            ErrorCode::InvalidParameterCombination => "InvalidParameterCombination",
            ErrorCode::RequestEntityTooLarge => "RequestEntityTooLarge",
            ErrorCode::IncompleteBody => "IncompleteBody",
            ErrorCode::NotFound => "NotFound",
            ErrorCode::MethodNotAllowed => "MethodNotAllowed",
            ErrorCode::InvalidUri => "InvalidURI",
            ErrorCode::InvalidRequest => "InvalidRequest",
            ErrorCode::MissingAuthenticationToken => "MissingAuthenticationToken",
            ErrorCode::IncompleteSignature => "IncompleteSignature",
            ErrorCode::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            ErrorCode::RequestExpired => "RequestExpired",
            ErrorCode::XAmzContentSha256Mismatch => "XAmzContentSHA256Mismatch",
            ErrorCode::InvalidClientTokenId => "InvalidClientTokenId",
            ErrorCode::ExpiredToken => "ExpiredToken",
            ErrorCode::AccessDenied => "AccessDenied",
            ErrorCode::InvalidIdentityToken => "InvalidIdentityToken",
            ErrorCode::ExpiredTokenException => "ExpiredTokenException",
            ErrorCode::IdpCommunicationError => "IDPCommunicationError",
            ErrorCode::IdpRejectedClaim => "IDPRejectedClaim",
            ErrorCode::MalformedPolicyDocument => "MalformedPolicyDocument",
            ErrorCode::PackedPolicyTooLarge => "PackedPolicyTooLarge",
            ErrorCode::InvalidAuthorizationMessageException => {
                "InvalidAuthorizationMessageException"
            }
            ErrorCode::InvalidInput => "InvalidInput",
            ErrorCode::NoSuchEntity => "NoSuchEntity",
            ErrorCode::EntityAlreadyExists => "EntityAlreadyExists",
            ErrorCode::LimitExceeded => "LimitExceeded",
            ErrorCode::DeleteConflict => "DeleteConflict",
            ErrorCode::ConcurrentModification => "ConcurrentModification",
            ErrorCode::UnmodifiableEntity => "UnmodifiableEntity",
            ErrorCode::InvalidAuthenticationCode => "InvalidAuthenticationCode",
            ErrorCode::PasswordPolicyViolation => "PasswordPolicyViolation",
            ErrorCode::InvalidUserType => "InvalidUserType",
            ErrorCode::InvalidCredentials => "InvalidCredentials",
            ErrorCode::MfaRequired => "MfaRequired",
            ErrorCode::PasswordResetRequired => "PasswordResetRequired",
            ErrorCode::PasswordExpired => "PasswordExpired",
            ErrorCode::ReportNotPresent => "ReportNotPresent",
            ErrorCode::ReportExpired => "ReportExpired",
            ErrorCode::Throttling => "Throttling",
            ErrorCode::ServiceUnavailable => "ServiceUnavailable",
            ErrorCode::InternalFailure => "InternalFailure",
            ErrorCode::RequestTimeout => "RequestTimeout",
        }
    }

    /// The HTTP status AWS answers the code with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::ValidationError
            | ErrorCode::MissingParameter
            | ErrorCode::MissingAction
            | ErrorCode::InvalidAction
            | ErrorCode::InvalidParameterValue
            | ErrorCode::InvalidParameterCombination
            | ErrorCode::IncompleteBody
            | ErrorCode::InvalidUri
            | ErrorCode::InvalidRequest
            | ErrorCode::IncompleteSignature
            | ErrorCode::RequestExpired
            | ErrorCode::XAmzContentSha256Mismatch
            | ErrorCode::InvalidIdentityToken
            | ErrorCode::ExpiredTokenException
            | ErrorCode::IdpCommunicationError
            | ErrorCode::MalformedPolicyDocument
            | ErrorCode::PackedPolicyTooLarge
            | ErrorCode::InvalidAuthorizationMessageException
            | ErrorCode::InvalidInput
            | ErrorCode::UnmodifiableEntity
            | ErrorCode::PasswordPolicyViolation
            | ErrorCode::InvalidUserType
            | ErrorCode::Throttling => StatusCode::BAD_REQUEST,
            ErrorCode::EntityAlreadyExists
            | ErrorCode::LimitExceeded
            | ErrorCode::DeleteConflict
            | ErrorCode::ConcurrentModification => StatusCode::CONFLICT,
            ErrorCode::MissingAuthenticationToken
            | ErrorCode::SignatureDoesNotMatch
            | ErrorCode::InvalidClientTokenId
            | ErrorCode::ExpiredToken
            | ErrorCode::AccessDenied
            | ErrorCode::InvalidAuthenticationCode
            | ErrorCode::IdpRejectedClaim => StatusCode::FORBIDDEN,
            ErrorCode::InvalidCredentials | ErrorCode::MfaRequired => StatusCode::UNAUTHORIZED,
            ErrorCode::PasswordResetRequired | ErrorCode::PasswordExpired => StatusCode::FORBIDDEN,
            ErrorCode::NotFound | ErrorCode::NoSuchEntity => StatusCode::NOT_FOUND,
            ErrorCode::ReportNotPresent | ErrorCode::ReportExpired => StatusCode::GONE,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::RequestEntityTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::InternalFailure => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether the client or the service is at fault.
    pub fn fault(self) -> Fault {
        match self {
            ErrorCode::ServiceUnavailable
            | ErrorCode::InternalFailure
            | ErrorCode::RequestTimeout => Fault::Receiver,
            ErrorCode::ValidationError
            | ErrorCode::MissingParameter
            | ErrorCode::MissingAction
            | ErrorCode::InvalidAction
            | ErrorCode::InvalidParameterValue
            | ErrorCode::InvalidParameterCombination
            | ErrorCode::RequestEntityTooLarge
            | ErrorCode::IncompleteBody
            | ErrorCode::NotFound
            | ErrorCode::MethodNotAllowed
            | ErrorCode::InvalidUri
            | ErrorCode::InvalidRequest
            | ErrorCode::MissingAuthenticationToken
            | ErrorCode::IncompleteSignature
            | ErrorCode::SignatureDoesNotMatch
            | ErrorCode::RequestExpired
            | ErrorCode::XAmzContentSha256Mismatch
            | ErrorCode::InvalidClientTokenId
            | ErrorCode::ExpiredToken
            | ErrorCode::AccessDenied
            | ErrorCode::InvalidIdentityToken
            | ErrorCode::ExpiredTokenException
            | ErrorCode::IdpCommunicationError
            | ErrorCode::IdpRejectedClaim
            | ErrorCode::MalformedPolicyDocument
            | ErrorCode::PackedPolicyTooLarge
            | ErrorCode::InvalidAuthorizationMessageException
            | ErrorCode::InvalidInput
            | ErrorCode::NoSuchEntity
            | ErrorCode::EntityAlreadyExists
            | ErrorCode::LimitExceeded
            | ErrorCode::DeleteConflict
            | ErrorCode::ConcurrentModification
            | ErrorCode::UnmodifiableEntity
            | ErrorCode::InvalidAuthenticationCode
            | ErrorCode::PasswordPolicyViolation
            | ErrorCode::InvalidUserType
            | ErrorCode::InvalidCredentials
            | ErrorCode::MfaRequired
            | ErrorCode::PasswordResetRequired
            | ErrorCode::PasswordExpired
            | ErrorCode::ReportNotPresent
            | ErrorCode::ReportExpired
            | ErrorCode::Throttling => Fault::Sender,
        }
    }

    /// Whether AWS's SDKs retry the call: the service's own failures, an identity provider
    /// that could not be reached, and throttling (`Throttling` is in every SDK's list of
    /// throttling codes, retried with backoff).
    pub fn is_retryable(self) -> bool {
        match self {
            ErrorCode::ServiceUnavailable
            | ErrorCode::InternalFailure
            | ErrorCode::RequestTimeout
            | ErrorCode::IdpCommunicationError
            | ErrorCode::Throttling => true,
            ErrorCode::ValidationError
            | ErrorCode::MissingParameter
            | ErrorCode::MissingAction
            | ErrorCode::InvalidAction
            | ErrorCode::InvalidParameterValue
            | ErrorCode::InvalidParameterCombination
            | ErrorCode::RequestEntityTooLarge
            | ErrorCode::IncompleteBody
            | ErrorCode::NotFound
            | ErrorCode::MethodNotAllowed
            | ErrorCode::InvalidUri
            | ErrorCode::InvalidRequest
            | ErrorCode::MissingAuthenticationToken
            | ErrorCode::IncompleteSignature
            | ErrorCode::SignatureDoesNotMatch
            | ErrorCode::RequestExpired
            | ErrorCode::XAmzContentSha256Mismatch
            | ErrorCode::InvalidClientTokenId
            | ErrorCode::ExpiredToken
            | ErrorCode::AccessDenied
            | ErrorCode::InvalidIdentityToken
            | ErrorCode::ExpiredTokenException
            | ErrorCode::IdpRejectedClaim
            | ErrorCode::MalformedPolicyDocument
            | ErrorCode::PackedPolicyTooLarge
            | ErrorCode::InvalidAuthorizationMessageException
            | ErrorCode::InvalidInput
            | ErrorCode::NoSuchEntity
            | ErrorCode::EntityAlreadyExists
            | ErrorCode::LimitExceeded
            | ErrorCode::DeleteConflict
            | ErrorCode::ConcurrentModification
            | ErrorCode::UnmodifiableEntity
            | ErrorCode::InvalidAuthenticationCode
            | ErrorCode::PasswordPolicyViolation
            | ErrorCode::InvalidUserType
            | ErrorCode::InvalidCredentials
            | ErrorCode::MfaRequired
            | ErrorCode::PasswordResetRequired
            | ErrorCode::PasswordExpired
            | ErrorCode::ReportNotPresent
            | ErrorCode::ReportExpired => false,
        }
    }

    /// Whether a refusal with this code is an authentication or authorization decision
    /// (audited `Deny`) rather than bad input or a failure (`Error`).
    pub fn is_denial(self) -> bool {
        match self {
            ErrorCode::MissingAuthenticationToken
            | ErrorCode::SignatureDoesNotMatch
            | ErrorCode::InvalidClientTokenId
            | ErrorCode::ExpiredToken
            | ErrorCode::AccessDenied
            | ErrorCode::InvalidIdentityToken
            | ErrorCode::ExpiredTokenException
            | ErrorCode::IdpRejectedClaim
            | ErrorCode::InvalidAuthenticationCode
            | ErrorCode::InvalidCredentials
            | ErrorCode::MfaRequired
            | ErrorCode::PasswordResetRequired
            | ErrorCode::PasswordExpired => true,
            ErrorCode::ValidationError
            | ErrorCode::MissingParameter
            | ErrorCode::MissingAction
            | ErrorCode::InvalidAction
            | ErrorCode::InvalidParameterValue
            | ErrorCode::InvalidParameterCombination
            | ErrorCode::RequestEntityTooLarge
            | ErrorCode::IncompleteBody
            | ErrorCode::NotFound
            | ErrorCode::MethodNotAllowed
            | ErrorCode::InvalidUri
            | ErrorCode::InvalidRequest
            | ErrorCode::IncompleteSignature
            | ErrorCode::RequestExpired
            | ErrorCode::XAmzContentSha256Mismatch
            | ErrorCode::IdpCommunicationError
            | ErrorCode::MalformedPolicyDocument
            | ErrorCode::PackedPolicyTooLarge
            | ErrorCode::InvalidAuthorizationMessageException
            | ErrorCode::InvalidInput
            | ErrorCode::NoSuchEntity
            | ErrorCode::EntityAlreadyExists
            | ErrorCode::LimitExceeded
            | ErrorCode::DeleteConflict
            | ErrorCode::ConcurrentModification
            | ErrorCode::UnmodifiableEntity
            | ErrorCode::PasswordPolicyViolation
            | ErrorCode::InvalidUserType
            | ErrorCode::ReportNotPresent
            | ErrorCode::ReportExpired
            | ErrorCode::Throttling
            | ErrorCode::ServiceUnavailable
            | ErrorCode::InternalFailure
            | ErrorCode::RequestTimeout => false,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An AWS-shaped error: a code and a message safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds to send in `Retry-After`, for answers that ask the client to come back.
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn fault(&self) -> Fault {
        self.code.fault()
    }

    /// `ValidationError` (400): a parameter breaks its constraints.
    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::ValidationError, message)
    }

    /// `MissingParameter` (400).
    pub fn missing_parameter(name: &str) -> ApiError {
        ApiError::new(
            ErrorCode::MissingParameter,
            format!("The request must contain the parameter {name}"),
        )
    }

    /// `MissingAction` (400).
    pub fn missing_action() -> ApiError {
        ApiError::new(
            ErrorCode::MissingAction,
            "The request must contain the parameter Action",
        )
    }

    /// `InvalidAction` (400): unknown action, or a version this service does not speak.
    pub fn invalid_action(action: &str, version: &str) -> ApiError {
        ApiError::new(
            ErrorCode::InvalidAction,
            format!(
                "Could not find operation {} for version {}",
                crate::encoding::shorten(action),
                crate::encoding::shorten(version)
            ),
        )
    }

    /// `InvalidParameterValue` (400): malformed query string or parameter encoding.
    pub fn invalid_parameter(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidParameterValue, message)
    }

    /// `InvalidClientTokenId` (403): the access key or session token is not one we issued.
    pub fn invalid_client_token_id() -> ApiError {
        ApiError::new(
            ErrorCode::InvalidClientTokenId,
            "The security token included in the request is invalid.",
        )
    }

    /// `ExpiredToken` (403): the session the credentials belong to has ended.
    pub fn expired_token() -> ApiError {
        ApiError::new(
            ErrorCode::ExpiredToken,
            "The security token included in the request is expired",
        )
    }

    /// `AccessDenied` (403).
    pub fn access_denied(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::AccessDenied, message)
    }

    /// `InvalidIdentityToken` (400).
    pub fn invalid_identity_token(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidIdentityToken, message)
    }

    /// `IDPRejectedClaim` (403): the identity provider's claims (SAML attributes) are invalid.
    pub fn idp_rejected_claim(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::IdpRejectedClaim, message)
    }

    /// `MalformedPolicyDocument` (400).
    pub fn malformed_policy(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::MalformedPolicyDocument, message)
    }

    /// `PackedPolicyTooLarge` (400).
    pub fn packed_policy_too_large(percent: u32) -> ApiError {
        ApiError::new(
            ErrorCode::PackedPolicyTooLarge,
            format!(
                "Packed size of session policies and tags consumes {percent}% of allotted space."
            ),
        )
    }

    /// `RequestEntityTooLarge` (413).
    pub fn body_too_large(limit: usize) -> ApiError {
        ApiError::new(
            ErrorCode::RequestEntityTooLarge,
            format!("Request body must be at most {limit} bytes"),
        )
    }

    /// `IncompleteBody` (400): the body could not be read to its end (the client stopped
    /// sending, or sent a malformed chunk).
    pub fn incomplete_body() -> ApiError {
        ApiError::new(
            ErrorCode::IncompleteBody,
            "The request body could not be read in full.",
        )
    }

    /// `ServiceUnavailable` (503, retried by SDKs): a dependency such as the store is down.
    pub fn service_unavailable() -> ApiError {
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            "The service is unavailable. Please try again later.",
        )
    }

    /// `ServiceUnavailable` (503) with `Retry-After`: the work this request needs is at its
    /// concurrency limit; SDKs retry.
    pub fn busy(retry_after_seconds: u32) -> ApiError {
        ApiError {
            retry_after: Some(retry_after_seconds),
            ..ApiError::service_unavailable()
        }
    }

    /// `Throttling` (400, `Rate exceeded`), as AWS answers a caller over its request rate;
    /// SDKs recognise the code and retry with backoff.
    pub fn throttled() -> ApiError {
        ApiError::new(ErrorCode::Throttling, "Rate exceeded")
    }

    /// `InternalFailure` (500).
    pub fn internal() -> ApiError {
        ApiError::new(
            ErrorCode::InternalFailure,
            "The request processing has failed because of an unknown error.",
        )
    }

    /// `RequestTimeout` (408)-shaped answer when a request exceeds its deadline.
    pub fn timeout() -> ApiError {
        ApiError::new(
            ErrorCode::RequestTimeout,
            "The request did not complete in time.",
        )
    }

    /// `NotFound` (404) for paths the service does not have.
    pub fn not_found() -> ApiError {
        ApiError::new(
            ErrorCode::NotFound,
            "The requested path does not exist. STS actions are served at /",
        )
    }

    /// `MethodNotAllowed` (405).
    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            ErrorCode::MethodNotAllowed,
            "STS actions are served with GET or POST",
        )
    }

    /// `InvalidAuthorizationMessageException` (400): an encoded authorization message that is
    /// not one this broker made, or was altered.
    pub fn invalid_authorization_message() -> ApiError {
        ApiError::new(
            ErrorCode::InvalidAuthorizationMessageException,
            "The encoded authorization message is invalid.",
        )
    }

    /// IAM's `InvalidInput` (400).
    pub fn invalid_input(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidInput, message)
    }

    /// IAM's `NoSuchEntity` (404).
    pub fn no_such_entity(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NoSuchEntity, message)
    }

    /// IAM's `InvalidAuthenticationCode` (403): the codes given to enable or resynchronize an
    /// MFA device are not two consecutive codes of it.
    pub fn invalid_authentication_code() -> ApiError {
        ApiError::new(
            ErrorCode::InvalidAuthenticationCode,
            "Authentication code for device is not valid.",
        )
    }

    /// IAM's `ReportNotPresent` (410): no credential report was generated for the account.
    pub fn report_not_present() -> ApiError {
        ApiError::new(
            ErrorCode::ReportNotPresent,
            "The request was rejected because the credential report does not exist. To \
             generate a credential report, use GenerateCredentialReport.",
        )
    }

    /// IAM's `ReportExpired` (410): the account's credential report is older than 4 hours.
    pub fn report_expired() -> ApiError {
        ApiError::new(
            ErrorCode::ReportExpired,
            "The request was rejected because the most recent credential report has expired. \
             To generate a new credential report, use GenerateCredentialReport.",
        )
    }

    /// IAM's `ConcurrentModification` (409): the entity changed under the call too often.
    pub fn concurrent_modification() -> ApiError {
        ApiError::new(
            ErrorCode::ConcurrentModification,
            "The request was rejected because multiple requests to change this object were \
             submitted simultaneously. Wait a few minutes and submit your request again.",
        )
    }

    /// The audit decision and reason of a call that answered with this error, given the policy
    /// decision (or refusal cause) noted: the reason is that when one was noted, else the code.
    pub fn audit_outcome(&self, noted: Option<&'static str>) -> (audit::Decision, String) {
        let decision = if self.code.is_denial() {
            audit::Decision::Deny
        } else {
            audit::Decision::Error
        };
        (decision, noted.unwrap_or(self.code.as_str()).to_owned())
    }
}

/// A signature that does not verify: SigV4's own code and message.
impl From<SigV4Error> for ApiError {
    fn from(e: SigV4Error) -> ApiError {
        let code = match &e {
            SigV4Error::MissingAuthentication => ErrorCode::MissingAuthenticationToken,
            SigV4Error::AmbiguousAuthentication => ErrorCode::InvalidParameterCombination,
            SigV4Error::UnsupportedAlgorithm(_)
            | SigV4Error::Incomplete(_)
            | SigV4Error::Malformed(_)
            | SigV4Error::HostNotSigned => ErrorCode::IncompleteSignature,
            SigV4Error::ScopeDateMismatch { .. } | SigV4Error::SignatureDoesNotMatch => {
                ErrorCode::SignatureDoesNotMatch
            }
            SigV4Error::RequestExpired { .. } | SigV4Error::NotYetValid { .. } => {
                ErrorCode::RequestExpired
            }
            SigV4Error::PresignedExpired => ErrorCode::AccessDenied,
            SigV4Error::InvalidExpires(_) => ErrorCode::InvalidParameterValue,
            SigV4Error::ContentSha256Mismatch => ErrorCode::XAmzContentSha256Mismatch,
        };
        ApiError::new(code, e.to_string())
    }
}

/// A web identity token refused: its message says why (it names no secret).
impl From<OidcError> for ApiError {
    fn from(e: OidcError) -> ApiError {
        let code = match e.kind() {
            OidcErrorKind::Invalid => ErrorCode::InvalidIdentityToken,
            OidcErrorKind::Expired => ErrorCode::ExpiredTokenException,
            OidcErrorKind::IdpUnreachable => ErrorCode::IdpCommunicationError,
        };
        ApiError::new(code, e.to_string())
    }
}

/// A SAML response refused: its message says why.
impl From<SamlError> for ApiError {
    fn from(e: SamlError) -> ApiError {
        let code = match e.kind() {
            SamlErrorKind::Invalid => ErrorCode::InvalidIdentityToken,
            SamlErrorKind::Expired => ErrorCode::ExpiredTokenException,
        };
        ApiError::new(code, e.to_string())
    }
}

/// Session credentials: a token that is not ours is the client's; no signing key loaded (all
/// activate later, or the folder lost them) is a state the operator fixes, as `/readyz` says,
/// and the client may retry; no randomness is ours.
impl From<CredentialError> for ApiError {
    fn from(e: CredentialError) -> ApiError {
        match e {
            CredentialError::Malformed
            | CredentialError::UnknownKey
            | CredentialError::BadSignature => ApiError::invalid_client_token_id(),
            CredentialError::NoKey => ApiError::service_unavailable(),
            CredentialError::Random => ApiError::internal(),
        }
    }
}

/// The store: a record that does not verify is not a credential of ours; anything else is the
/// store being unavailable. The cause stays in the log.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotAuthentic(_) => ApiError::invalid_client_token_id(),
            StoreError::BadUrl(_)
            | StoreError::Redis(_)
            | StoreError::Refused { .. }
            | StoreError::Corrupt(_)
            | StoreError::Timeout(_)
            | StoreError::Closed
            | StoreError::NoSessionKey(_) => ApiError::service_unavailable(),
        }
    }
}

/// A revocation that could not be made: bad input is the client's, the rest the service's.
impl From<RevocationError> for ApiError {
    fn from(e: RevocationError) -> ApiError {
        match e {
            RevocationError::Invalid(message) => ApiError::validation(message),
            RevocationError::Store(_) => ApiError::service_unavailable(),
            RevocationError::Encoding(_) => ApiError::internal(),
        }
    }
}

/// Credentials of a revoked session, subject, role, user or proof are refused as not ours
/// (`InvalidClientTokenId`); a revocation state this replica cannot confirm fails closed as
/// unavailable. (Identity proofs presented to `AssumeRoleWith*` are refused with their own
/// `AccessDenied` wording.)
impl From<Revoked> for ApiError {
    fn from(r: Revoked) -> ApiError {
        match r {
            Revoked::Session
            | Revoked::Subject
            | Revoked::Role
            | Revoked::User
            | Revoked::AccessKey
            | Revoked::Proof => ApiError::invalid_client_token_id(),
            Revoked::Unconfirmed => ApiError::service_unavailable(),
        }
    }
}

/// A refused configuration reload: the configuration's problems (files, lines, setting names;
/// no values) are the operator's to see; a failure to put a valid one in place is the
/// service's, its cause in the log. The running configuration is kept in every case.
impl From<ReloadError> for ApiError {
    fn from(e: ReloadError) -> ApiError {
        let kept = "the running configuration is kept";
        match e {
            ReloadError::NoSource => ApiError::validation(format!(
                "This broker was started without a configuration file to read again; {kept}"
            )),
            ReloadError::Invalid(problems) => ApiError::validation(format!(
                "The configuration has {} problem(s); {kept}: {}",
                problems.issues.len(),
                problems
                    .issues
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            ReloadError::NeedsRestart(settings) => ApiError::validation(format!(
                "Only a restart changes {}; {kept}",
                settings.join(", ")
            )),
            ReloadError::Apply(_) => ApiError::service_unavailable(),
        }
    }
}

/// IAM's management API refusing an input or a change: each becomes IAM's code of that name.
impl From<IamApiError> for ApiError {
    fn from(e: IamApiError) -> ApiError {
        let code = match &e {
            IamApiError::Validation(_) => ErrorCode::ValidationError,
            IamApiError::InvalidInput(_) => ErrorCode::InvalidInput,
            IamApiError::NoSuchEntity(_) => ErrorCode::NoSuchEntity,
            IamApiError::AlreadyExists(_) => ErrorCode::EntityAlreadyExists,
            IamApiError::LimitExceeded(_) => ErrorCode::LimitExceeded,
            IamApiError::DeleteConflict(_) => ErrorCode::DeleteConflict,
            IamApiError::Unmodifiable(_) => ErrorCode::UnmodifiableEntity,
            IamApiError::MalformedPolicy(_) => ErrorCode::MalformedPolicyDocument,
            IamApiError::ConcurrentModification(_) => ErrorCode::ConcurrentModification,
            IamApiError::PasswordPolicyViolation(_) => ErrorCode::PasswordPolicyViolation,
            IamApiError::InvalidUserType(_) => ErrorCode::InvalidUserType,
        };
        ApiError::new(code, e.to_string())
    }
}

/// A policy document that does not parse or validate.
impl From<PolicyError> for ApiError {
    fn from(e: PolicyError) -> ApiError {
        ApiError::malformed_policy(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_faults_are_server_errors_and_only_they() {
        let all = [
            ErrorCode::ValidationError,
            ErrorCode::AccessDenied,
            ErrorCode::ServiceUnavailable,
            ErrorCode::InternalFailure,
            ErrorCode::RequestTimeout,
            ErrorCode::IdpCommunicationError,
            ErrorCode::InvalidUri,
        ];
        for code in all {
            assert_eq!(
                code.fault() == Fault::Receiver,
                code.status().is_server_error() || code == ErrorCode::RequestTimeout,
                "{code}"
            );
        }
        assert!(ErrorCode::IdpCommunicationError.is_retryable());
        assert!(!ErrorCode::AccessDenied.is_retryable());
    }

    /// AWS's answer to a caller over its rate: 400, `Throttling`, `Rate exceeded`, the
    /// sender's fault, retried, and not an authorization decision in the audit.
    #[test]
    fn throttling_is_awss() {
        let e = ApiError::throttled();
        assert_eq!(e.code.as_str(), "Throttling");
        assert_eq!(e.message, "Rate exceeded");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(e.fault(), Fault::Sender);
        assert!(e.code.is_retryable());
        assert_eq!(e.audit_outcome(None).0, audit::Decision::Error);
        assert_eq!(e.retry_after, None);
    }

    #[test]
    fn denials_are_audited_as_such() {
        let (d, reason) = ApiError::access_denied("x").audit_outcome(Some("explicitDeny"));
        assert_eq!(
            (d, reason.as_str()),
            (audit::Decision::Deny, "explicitDeny")
        );
        let (d, reason) = ApiError::invalid_identity_token("x").audit_outcome(None);
        assert_eq!(
            (d, reason.as_str()),
            (audit::Decision::Deny, "InvalidIdentityToken")
        );
        let (d, _) = ApiError::validation("x").audit_outcome(None);
        assert_eq!(d, audit::Decision::Error);
    }

    #[test]
    fn signature_failures_keep_the_code_sigv4_defines() {
        let s = String::new;
        for e in [
            SigV4Error::MissingAuthentication,
            SigV4Error::AmbiguousAuthentication,
            SigV4Error::UnsupportedAlgorithm(s()),
            SigV4Error::Incomplete(s()),
            SigV4Error::Malformed(s()),
            SigV4Error::HostNotSigned,
            SigV4Error::PresignedExpired,
            SigV4Error::InvalidExpires(s()),
            SigV4Error::ContentSha256Mismatch,
            SigV4Error::SignatureDoesNotMatch,
        ] {
            let code = e.aws_code();
            assert_eq!(ApiError::from(e).code.as_str(), code);
        }
    }

    #[test]
    fn iams_conflicts_are_409s_of_the_sender() {
        for code in [
            ErrorCode::EntityAlreadyExists,
            ErrorCode::LimitExceeded,
            ErrorCode::DeleteConflict,
            ErrorCode::ConcurrentModification,
        ] {
            assert_eq!(code.status(), StatusCode::CONFLICT, "{code}");
            assert_eq!(code.fault(), Fault::Sender);
            assert!(!code.is_denial());
        }
        let e = ApiError::from(IamApiError::Unmodifiable("in broker.toml".into()));
        assert_eq!(
            (e.code.as_str(), e.status(), e.message.as_str()),
            (
                "UnmodifiableEntity",
                StatusCode::BAD_REQUEST,
                "in broker.toml"
            )
        );
        assert_eq!(
            ApiError::from(IamApiError::MalformedPolicy("m".into())).code,
            ErrorCode::MalformedPolicyDocument
        );
    }

    #[test]
    fn store_failures_never_become_credentials_or_500s() {
        let e = ApiError::from(StoreError::BadUrl("x".into()));
        assert_eq!(e.code, ErrorCode::ServiceUnavailable);
        assert_eq!(
            ApiError::from(CredentialError::NoKey).code,
            ErrorCode::ServiceUnavailable
        );
    }
}
