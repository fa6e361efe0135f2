//! What can go wrong while reading or checking a SigV4 signature, and what the client sees.
//!
//! Every variant maps to one AWS error code and HTTP status through exhaustive matches. Messages
//! follow AWS's wording where it is known; none of them carries a secret, a derived key or the
//! signature the broker expected.

/// A SigV4 request that cannot be read or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// Neither an `Authorization` header nor an `X-Amz-Algorithm` query parameter.
    #[error("Request is missing Authentication Token")]
    MissingAuthentication,
    /// Both the header and the query form, or one of them twice.
    #[error(
        "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified"
    )]
    AmbiguousAuthentication,
    /// An algorithm other than `AWS4-HMAC-SHA256`.
    #[error("Unsupported AWS 'algorithm': '{0}'")]
    UnsupportedAlgorithm(String),
    /// A required component (`Credential`, `SignedHeaders`, `Signature`, the date) is absent.
    #[error("{0}")]
    Incomplete(String),
    /// A component is present but cannot be read.
    #[error("{0}")]
    Malformed(String),
    /// `host` is not among the signed headers.
    #[error("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")]
    HostNotSigned,
    /// The credential scope's date is not the date of `X-Amz-Date`.
    #[error(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope}' != '{date}', from '{amz_date}'."
    )]
    ScopeDateMismatch {
        /// The date in the credential scope.
        scope: String,
        /// The date part of `X-Amz-Date`.
        date: String,
        /// `X-Amz-Date` as sent.
        amz_date: String,
    },
    /// `X-Amz-Date` is earlier than now minus the allowed skew.
    #[error(
        "Signature expired: {amz_date} is now earlier than {earliest} ({now} - {skew_minutes} min.)"
    )]
    RequestExpired {
        /// `X-Amz-Date` as sent.
        amz_date: String,
        /// The earliest date accepted.
        earliest: String,
        /// The broker's clock.
        now: String,
        /// The allowed skew in minutes.
        skew_minutes: i64,
    },
    /// `X-Amz-Date` is later than now plus the allowed skew.
    #[error(
        "Signature not yet current: {amz_date} is still later than {latest} ({now} + {skew_minutes} min.)"
    )]
    NotYetValid {
        /// `X-Amz-Date` as sent.
        amz_date: String,
        /// The latest date accepted.
        latest: String,
        /// The broker's clock.
        now: String,
        /// The allowed skew in minutes.
        skew_minutes: i64,
    },
    /// A presigned request used after `X-Amz-Date + X-Amz-Expires`.
    #[error("Request has expired")]
    PresignedExpired,
    /// `X-Amz-Expires` outside 1..=604800 or not a number.
    #[error("{0}")]
    InvalidExpires(String),
    /// `X-Amz-Content-Sha256` names a hash the body does not have, or a payload mode the broker
    /// does not accept for this request.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentSha256Mismatch,
    /// The signature is well formed but is not the one the broker computed.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )]
    SignatureDoesNotMatch,
}

impl SigV4Error {
    /// The AWS error code SigV4 defines for this failure. The broker answers with the same
    /// code (its `ErrorCode`, matched on the variants; a test keeps the two agreeing).
    pub fn aws_code(&self) -> &'static str {
        match self {
            Self::MissingAuthentication => "MissingAuthenticationToken",
            Self::AmbiguousAuthentication => "InvalidParameterCombination",
            Self::UnsupportedAlgorithm(_)
            | Self::Incomplete(_)
            | Self::Malformed(_)
            | Self::HostNotSigned => "IncompleteSignature",
            Self::ScopeDateMismatch { .. } | Self::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Self::RequestExpired { .. } | Self::NotYetValid { .. } => "RequestExpired",
            Self::PresignedExpired => "AccessDenied",
            Self::InvalidExpires(_) => "InvalidParameterValue",
            Self::ContentSha256Mismatch => "XAmzContentSHA256Mismatch",
        }
    }
}
