//! What a front door knows of a request: its id, the transport's facts, and the request as
//! received for signature verification.

use std::net::IpAddr;

/// The response header carrying the request id, as AWS names it.
pub const REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// What the transport knows about a request, for context keys and logs.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub source_ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub secure_transport: bool,
    /// The request as received, for signature verification.
    pub raw: RawRequest,
}

/// The parts of an HTTP request a SigV4 signature covers, as they arrived.
#[derive(Clone, Default)]
pub struct RawRequest {
    pub method: String,
    /// The path as on the wire, without the query.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names and values in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: bytes::Bytes,
}

impl RawRequest {
    /// The request as SigV4 verification reads it.
    pub fn signed(&self) -> crate::sigv4::SignedRequest<'_> {
        crate::sigv4::SignedRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

impl std::fmt::Debug for RawRequest {
    // Headers and body can hold signatures, tokens and secrets: show their size only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &self.headers.len())
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}
