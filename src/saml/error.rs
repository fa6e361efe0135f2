//! Why a SAML response or an IdP's metadata was refused: one variant per failure a caller or
//! an operator must tell apart. `Display` texts are safe to send to the client (AWS's wording
//! where AWS has one); they never contain the response, a signature or key material, and values
//! read from an unverified document are cut short first.

use thiserror::Error;

/// What STS answers for a refused response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamlErrorKind {
    /// `InvalidIdentityToken` (400).
    Invalid,
    /// `ExpiredTokenException` (400).
    Expired,
}

#[derive(Debug, Error)]
pub enum SamlError {
    /// The IdP metadata is unusable (configuration only).
    #[error("{0}")]
    Metadata(String),
    #[error("The SAML response is not valid base64")]
    NotBase64,
    #[error("The SAML response is not UTF-8 text")]
    NotUtf8,
    #[error("Invalid SAML response: {0}")]
    Malformed(String),
    #[error("Invalid SAML response: {0}")]
    TooComplex(&'static str),
    #[error("Invalid SAML response: the document is not a SAML 2.0 Response")]
    NotAResponse,
    #[error("Invalid SAML response: it must contain exactly one assertion, it contains {0}")]
    AssertionCount(usize),
    #[error("Encrypted assertions are not supported")]
    Encrypted,
    #[error("Invalid SAML response: status is not Success")]
    Status,
    #[error("Response signature invalid: the assertion is not signed")]
    Unsigned,
    #[error("Response signature invalid: {0}")]
    SignatureShape(&'static str),
    #[error("Response signature invalid: algorithm {0} is not allowed")]
    WeakAlgorithm(String),
    #[error("Response signature invalid")]
    BadSignature,
    #[error("Issuer not present in specified provider")]
    Issuer,
    #[error("Response does not contain the required audience.")]
    Audience,
    #[error("Invalid SAML response: the SubjectConfirmationData Recipient is not this service")]
    Recipient,
    #[error("Invalid SAML response: the Destination is not this service")]
    Destination,
    #[error(
        "Invalid SAML response: the assertion needs exactly one bearer SubjectConfirmation with SubjectConfirmationData (Recipient, NotOnOrAfter)"
    )]
    SubjectConfirmation,
    #[error("Invalid SAML response: the assertion has no Subject NameID")]
    NameId,
    #[error("Invalid SAML response: {0} is not a valid time")]
    Time(&'static str),
    #[error("Invalid SAML response: the assertion is not valid yet ({0})")]
    NotYetValid(&'static str),
    #[error(
        "Token expired: current date/time {now} must be before the expiration date/time {expires} ({what})"
    )]
    Expired {
        what: &'static str,
        now: i64,
        expires: i64,
    },
}

impl SamlError {
    pub fn kind(&self) -> SamlErrorKind {
        match self {
            SamlError::Expired { .. } => SamlErrorKind::Expired,
            SamlError::Metadata(_)
            | SamlError::NotBase64
            | SamlError::NotUtf8
            | SamlError::Malformed(_)
            | SamlError::TooComplex(_)
            | SamlError::NotAResponse
            | SamlError::AssertionCount(_)
            | SamlError::Encrypted
            | SamlError::Status
            | SamlError::Unsigned
            | SamlError::SignatureShape(_)
            | SamlError::WeakAlgorithm(_)
            | SamlError::BadSignature
            | SamlError::Issuer
            | SamlError::Audience
            | SamlError::Recipient
            | SamlError::Destination
            | SamlError::SubjectConfirmation
            | SamlError::NameId
            | SamlError::Time(_)
            | SamlError::NotYetValid(_) => SamlErrorKind::Invalid,
        }
    }
}

/// A value from an unverified document, fit for a message: at most `max` characters, no
/// control characters.
pub fn shorten(value: &str, max: usize) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect()
}
