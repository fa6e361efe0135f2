//! Why a web identity token was refused, as one variant per failure a caller must tell apart.
//!
//! Every variant has a [`OidcErrorKind`] (the STS error code it becomes) and a `Display` text
//! that is safe to send to the client: AWS's own wording where AWS has one, never the token,
//! key material or a signature. Values taken from the unverified token (issuer, algorithm name)
//! are cut short and stripped of control characters before they reach a message.

use std::sync::Arc;

use thiserror::Error;

use super::fetch::KeyFetchError;

/// AWS's text when it cannot obtain or use the provider's signing keys (double space verbatim).
pub const KEY_UNAVAILABLE_MESSAGE: &str = "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements";

/// Longest issuer echoed back in [`OidcError::UnknownIssuer`] (IAM's limit for a provider URL).
const MAX_ECHOED_ISSUER: usize = 255;
/// Longest algorithm name echoed back in [`OidcError::UnsupportedAlgorithm`].
const MAX_ECHOED_ALG: usize = 16;

/// The three outcomes STS distinguishes for a refused web identity token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OidcErrorKind {
    /// `InvalidIdentityToken` (400).
    Invalid,
    /// `ExpiredTokenException` (400).
    Expired,
    /// `IDPCommunicationError` (400): the provider's keys were needed and could not be fetched.
    IdpUnreachable,
}

/// A refused token, or a refused provider configuration ([`OidcError::Config`], only from
/// [`Registry::new`](super::Registry::new)).
#[derive(Debug, Error)]
pub enum OidcError {
    /// A provider configuration is unusable. Never returned by `verify`.
    #[error("OIDC provider {issuer}: {reason}")]
    Config { issuer: String, reason: String },

    /// The token is longer than [`MAX_TOKEN_BYTES`](super::MAX_TOKEN_BYTES).
    #[error("The web identity token is larger than {max} bytes")]
    TooLarge { max: usize },

    /// Not a compact JWS with JSON object header and payload.
    #[error("The web identity token is not a valid JWT: {0}")]
    Malformed(&'static str),

    /// A required claim is absent.
    #[error("The web identity token has no '{0}' claim")]
    MissingClaim(&'static str),

    /// A claim has the wrong type or an impossible value.
    #[error("The web identity token's '{claim}' claim {reason}")]
    InvalidClaim {
        claim: &'static str,
        reason: &'static str,
    },

    /// The (unverified) `iss` names no configured provider.
    #[error("No OpenIDConnect provider found in your account for {issuer}")]
    UnknownIssuer { issuer: String },

    /// The header's `alg` is not one STS accepts (RS256/384/512, ES256/384).
    #[error("Unsupported token signing algorithm '{alg}'")]
    UnsupportedAlgorithm { alg: String },

    /// No `kid` in the header and the provider publishes more than one signing key.
    #[error(
        "The web identity token has no key id (kid) and the identity provider has several signing keys"
    )]
    MissingKeyId,

    /// No key in the provider's current key set has the token's `kid`, even after a refetch
    /// (or a refetch was not due yet). AWS answers this, too, with its "Couldn't retrieve
    /// verification key" text as `InvalidIdentityToken`.
    #[error("{}", KEY_UNAVAILABLE_MESSAGE)]
    UnknownKeyId,

    /// The token's key does not allow the header's algorithm (wrong key type, curve or `alg`).
    #[error("The token signing algorithm does not match its verification key")]
    AlgorithmMismatch,

    /// The signature does not verify with the selected key.
    #[error("The web identity token signature is invalid")]
    BadSignature,

    /// `aud` holds none of the provider's client ids.
    #[error("Incorrect token audience")]
    IncorrectAudience,

    /// `exp` has passed (beyond the leeway). Times are Unix seconds, as AWS prints them.
    #[error(
        "Token expired: current date/time {now} must be before the expiration date/time {expires}"
    )]
    Expired { now: i64, expires: i64 },

    /// `nbf` is still ahead (beyond the leeway).
    #[error(
        "Token not yet valid: current date/time {now} must not be before the not-before date/time {not_before}"
    )]
    NotYetValid { now: i64, not_before: i64 },

    /// `iat` is in the future (beyond the leeway).
    #[error(
        "Token issued in the future: issue date/time {issued_at} is after the current date/time {now}"
    )]
    IssuedInFuture { now: i64, issued_at: i64 },

    /// The provider's keys were needed, and fetching them failed (or failed moments ago and is
    /// not retried yet). The source, for logs only, says why.
    #[error("{}", KEY_UNAVAILABLE_MESSAGE)]
    KeysUnavailable {
        issuer: String,
        #[source]
        source: Option<Arc<KeyFetchError>>,
    },
}

impl OidcError {
    /// The STS outcome for this error.
    pub fn kind(&self) -> OidcErrorKind {
        match self {
            OidcError::Expired { .. } => OidcErrorKind::Expired,
            OidcError::KeysUnavailable { .. } => OidcErrorKind::IdpUnreachable,
            OidcError::Config { .. }
            | OidcError::TooLarge { .. }
            | OidcError::Malformed(_)
            | OidcError::MissingClaim(_)
            | OidcError::InvalidClaim { .. }
            | OidcError::UnknownIssuer { .. }
            | OidcError::UnsupportedAlgorithm { .. }
            | OidcError::MissingKeyId
            | OidcError::UnknownKeyId
            | OidcError::AlgorithmMismatch
            | OidcError::BadSignature
            | OidcError::IncorrectAudience
            | OidcError::NotYetValid { .. }
            | OidcError::IssuedInFuture { .. } => OidcErrorKind::Invalid,
        }
    }

    pub(crate) fn unknown_issuer(issuer: &str) -> OidcError {
        OidcError::UnknownIssuer {
            issuer: echo(issuer, MAX_ECHOED_ISSUER),
        }
    }

    pub(crate) fn unsupported_algorithm(alg: &str) -> OidcError {
        OidcError::UnsupportedAlgorithm {
            alg: echo(alg, MAX_ECHOED_ALG),
        }
    }
}

/// A token-supplied string made fit for an error message: at most `max` characters, control
/// characters replaced.
fn echo(value: &str, max: usize) -> String {
    let mut out: String = value
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if value.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_the_three_sts_outcomes() {
        let cases = [
            (
                OidcError::Expired { now: 2, expires: 1 },
                OidcErrorKind::Expired,
            ),
            (
                OidcError::KeysUnavailable {
                    issuer: "https://idp".into(),
                    source: None,
                },
                OidcErrorKind::IdpUnreachable,
            ),
            (OidcError::UnknownKeyId, OidcErrorKind::Invalid),
            (OidcError::IncorrectAudience, OidcErrorKind::Invalid),
            (OidcError::BadSignature, OidcErrorKind::Invalid),
            (
                OidcError::NotYetValid {
                    now: 1,
                    not_before: 2,
                },
                OidcErrorKind::Invalid,
            ),
            (OidcError::Malformed("x"), OidcErrorKind::Invalid),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error:?}");
        }
    }

    #[test]
    fn messages_follow_aws_wording() {
        assert_eq!(
            OidcError::unknown_issuer("https://s3.example.com/x").to_string(),
            "No OpenIDConnect provider found in your account for https://s3.example.com/x"
        );
        assert_eq!(
            OidcError::IncorrectAudience.to_string(),
            "Incorrect token audience"
        );
        assert_eq!(
            OidcError::Expired {
                now: 1731098245,
                expires: 1731095240
            }
            .to_string(),
            "Token expired: current date/time 1731098245 must be before the expiration date/time 1731095240"
        );
        let unavailable = OidcError::KeysUnavailable {
            issuer: "https://idp".into(),
            source: None,
        };
        assert_eq!(
            unavailable.to_string(),
            "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"
        );
    }

    #[test]
    fn echoed_token_values_are_bounded_and_printable() {
        let long = "x".repeat(10_000);
        let msg = OidcError::unknown_issuer(&long).to_string();
        assert!(msg.len() < 400, "{}", msg.len());
        let msg = OidcError::unsupported_algorithm("none\r\nX-Injected: 1").to_string();
        assert!(!msg.contains('\n') && !msg.contains('\r'), "{msg}");
    }
}
