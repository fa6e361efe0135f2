//! AWS Signature Version 4 verification (`AWS4-HMAC-SHA256`), header and presigned forms.
//!
//! Pure: no I/O, no clock, no async. The caller describes the request as it arrived
//! ([`SignedRequest`]), [`parse`] reads who claims to have signed it (no secret needed, so the
//! caller can look the key up), and [`verify`] rebuilds the canonical request from exactly the
//! headers the client signed and checks the signature, the date and the scope against a `now` the
//! caller passes. Paths follow the SigV4 specification (normalized and encoded once more than they
//! arrived), or S3's rule when the scope names `s3` (encoded once, not normalized). It does not know which keys exist, which
//! regions or services the broker answers for, or how errors are rendered.

mod canonical;
mod check;
mod error;
mod parse;

use crate::secret::SessionToken;
pub use canonical::{PathRule, UNSIGNED_PAYLOAD, canonical_request, canonical_request_for};
pub use check::{
    DEFAULT_MAX_SKEW, SigningKey, string_to_sign, verify, verify_payload, verify_with_key,
};
pub use error::SigV4Error;
pub use parse::{
    MAX_AUTHORIZATION_LEN, MAX_HEADER_NAME_LEN, MAX_QUERY_PARAMS, MAX_SIGNED_HEADERS, parse,
};

/// The only algorithm SigV4 verification accepts.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// A request as it arrived, before any decoding.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// The method, e.g. `POST`.
    pub method: &'a str,
    /// The path as on the wire, without the query.
    pub path: &'a str,
    /// The query as on the wire, without the `?`.
    pub query: &'a str,
    /// Headers in arrival order; names in any case; a name may repeat.
    pub headers: &'a [(String, String)],
    /// The body.
    pub body: &'a [u8],
}

impl SignedRequest<'_> {
    /// Every value of the header `name` (compared case-insensitively), in arrival order.
    pub(crate) fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Whether the request carries its signature in the query (a presigned URL): the query names
/// `X-Amz-Algorithm`, as [`parse`] decides.
pub fn is_presigned(query: &str) -> bool {
    canonical::query_pairs(query).any(|(k, _)| canonical::percent_decode(k) == b"X-Amz-Algorithm")
}

/// What the verifier knows of a request's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// The body as received; a declared `x-amz-content-sha256` must be its hash.
    Body(&'a [u8]),
    /// The body's SHA-256 in hex, computed by whoever received the body (a service forwarding
    /// the request); a declared hash must equal it.
    Sha256(&'a str),
    /// The body was not seen: the declared `x-amz-content-sha256` (a hash or
    /// `UNSIGNED-PAYLOAD`) is taken as signed, and whoever holds the body must check it; without
    /// a declaration the body is taken to be empty.
    Declared,
}

/// The credential scope a signature claims: `AKID/DATE/REGION/SERVICE/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The access key id the client signed with.
    pub access_key_id: String,
    /// `YYYYMMDD`.
    pub date: String,
    /// The region, e.g. `us-east-1`.
    pub region: String,
    /// The service, e.g. `sts`.
    pub service: String,
}

impl Credential {
    /// `DATE/REGION/SERVICE/aws4_request`, as in the string to sign.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// What a request says about its signature; nothing here is verified yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The claimed credential scope.
    pub credential: Credential,
    /// The signed header names, lower case, in the client's order.
    pub signed_headers: Vec<String>,
    /// The signature, 64 lower-case hex digits.
    pub signature: String,
    /// `X-Amz-Date`.
    pub amz_date: time::OffsetDateTime,
    /// `X-Amz-Security-Token`, from the header or the query.
    pub security_token: Option<SessionToken>,
    /// Whether the signature came in the query (presigned URL).
    pub presigned: bool,
    /// `X-Amz-Expires` of a presigned request, in seconds.
    pub expires: Option<u32>,
}
