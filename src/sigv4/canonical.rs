//! The canonical request, rebuilt from the request as it arrived and exactly the headers the
//! client signed, per the SigV4 specification, or S3's rules for a scope naming `s3`
//! ([`PathRule`]). It refuses to trust `X-Amz-Content-Sha256` blindly: a hash must be the
//! body's unless the caller has not seen the body ([`Payload::Declared`]).

use std::borrow::Cow;

use ring::digest;

use super::{Parsed, Payload, SigV4Error, SignedRequest};

/// The declared payload hash of a request whose body is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The canonical request the client should have signed, for the request's own body.
pub fn canonical_request(req: &SignedRequest, parsed: &Parsed) -> Result<String, SigV4Error> {
    canonical_request_for(req, parsed, Payload::Body(req.body))
}

/// [`canonical_request`] with what the caller knows of the payload instead of `req.body`.
pub fn canonical_request_for(
    req: &SignedRequest,
    parsed: &Parsed,
    payload: Payload,
) -> Result<String, SigV4Error> {
    let mut out = String::with_capacity(256 + req.path.len() + req.query.len());
    out.push_str(req.method);
    out.push('\n');
    match PathRule::for_service(&parsed.credential.service) {
        PathRule::Generic => canonical_uri(&mut out, req.path),
        PathRule::S3 => s3_canonical_uri(&mut out, req.path),
    }
    out.push('\n');
    canonical_query(&mut out, req.query, parsed.presigned);
    out.push('\n');
    for name in &parsed.signed_headers {
        out.push_str(name);
        out.push(':');
        let mut first = true;
        for value in req.header_values(name) {
            if !first {
                out.push(',');
            }
            first = false;
            push_collapsed(&mut out, value);
        }
        out.push('\n');
    }
    out.push('\n');
    for (i, name) in parsed.signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
    out.push('\n');
    out.push_str(&payload_hash(req, parsed, payload)?);
    Ok(out)
}

/// A header value trimmed, with each run of whitespace inside it made one space (repeated
/// headers are joined by `,`).
fn push_collapsed(out: &mut String, value: &str) {
    let mut words = value.split_ascii_whitespace();
    if let Some(word) = words.next() {
        out.push_str(word);
    }
    for word in words {
        out.push(' ');
        out.push_str(word);
    }
}

/// How a path enters the canonical request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRule {
    /// Every service but S3: dot and empty segments removed, URI-encoded once more than it
    /// arrived (`%3D` on the wire is `%253D` here), as the SigV4 specification says.
    Generic,
    /// S3: the path as sent, decoded once and encoded once (`/` kept), no segment removed.
    S3,
}

impl PathRule {
    /// The rule for a credential scope's service: S3's for `s3`, the generic one otherwise.
    pub fn for_service(service: &str) -> PathRule {
        if service == "s3" {
            PathRule::S3
        } else {
            PathRule::Generic
        }
    }
}

/// S3's canonical URI: each byte of the decoded path encoded once, `/` kept, nothing resolved.
fn s3_canonical_uri(out: &mut String, path: &str) {
    if !path.starts_with('/') {
        out.push('/');
    }
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        encode_into(out, &percent_decode(segment));
    }
}

/// The path with `.`/`..` and empty segments resolved, encoded once more.
fn canonical_uri(out: &mut String, path: &str) {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in path.split('/') {
        trailing_slash = matches!(segment, "" | "." | "..");
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    out.push('/');
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        encode_into(out, segment.as_bytes());
    }
    if trailing_slash && !segments.is_empty() {
        out.push('/');
    }
}

/// The query's parameters decoded, re-encoded with the unreserved set and sorted by key then
/// value; a presigned request's `X-Amz-Signature` left out.
fn canonical_query(out: &mut String, query: &str, presigned: bool) {
    let mut pairs: Vec<(String, String)> = query_pairs(query)
        .filter_map(|(k, v)| {
            let key = percent_decode(k);
            if presigned && key == b"X-Amz-Signature" {
                return None;
            }
            let mut ek = String::with_capacity(k.len());
            encode_into(&mut ek, &key);
            let mut ev = String::with_capacity(v.len());
            encode_into(&mut ev, &percent_decode(v));
            Some((ek, ev))
        })
        .collect();
    pairs.sort_unstable();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}

/// The last line of the canonical request. A declared hash must be the body's, and
/// `UNSIGNED-PAYLOAD` is only accepted on a presigned request (an S3 presigned URL that
/// declares none signed `UNSIGNED-PAYLOAD`, as S3 presigns) — unless the caller has not seen
/// the body ([`Payload::Declared`]): then the declared value is what was signed, and whoever
/// holds the body must check it.
fn payload_hash<'r>(
    req: &'r SignedRequest,
    parsed: &Parsed,
    payload: Payload<'r>,
) -> Result<Cow<'r, str>, SigV4Error> {
    let mut declared = req.header_values("x-amz-content-sha256");
    let header = declared.next();
    if declared.next().is_some() {
        return Err(SigV4Error::Malformed(
            "The request has the 'x-amz-content-sha256' header more than once.".to_owned(),
        ));
    }
    let from_query = || {
        query_pairs(req.query)
            .find(|(k, _)| percent_decode(k) == b"X-Amz-Content-Sha256")
            .map(|(_, v)| v)
    };
    let declared = match header {
        Some(h) => Some(h.trim()),
        None if parsed.presigned => from_query(),
        None => None,
    };
    let body_hash = || -> Cow<'r, str> {
        match payload {
            Payload::Body(body) => Cow::Owned(hex(digest::digest(&digest::SHA256, body).as_ref())),
            Payload::Sha256(hash) => Cow::Owned(hash.to_ascii_lowercase()),
            Payload::Declared => Cow::Borrowed(EMPTY_SHA256),
        }
    };
    if let Payload::Sha256(hash) = payload
        && (hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(SigV4Error::ContentSha256Mismatch);
    }
    match (declared, payload) {
        // S3's presigned URLs sign no payload.
        (None, _)
            if parsed.presigned
                && PathRule::for_service(&parsed.credential.service) == PathRule::S3 =>
        {
            Ok(Cow::Borrowed(UNSIGNED_PAYLOAD))
        }
        (None, _) => Ok(body_hash()),
        (Some(UNSIGNED_PAYLOAD), Payload::Declared) => Ok(Cow::Borrowed(UNSIGNED_PAYLOAD)),
        (Some(UNSIGNED_PAYLOAD), _) if parsed.presigned => Ok(Cow::Borrowed(UNSIGNED_PAYLOAD)),
        (Some(h), Payload::Declared)
            if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Ok(Cow::Borrowed(h))
        }
        (Some(h), _) if h.len() == 64 && h.eq_ignore_ascii_case(&body_hash()) => {
            Ok(Cow::Borrowed(h))
        }
        (Some(_), _) => Err(SigV4Error::ContentSha256Mismatch),
    }
}

/// SHA-256 of the empty body.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// `key=value` pieces of a raw query, still encoded; empty pieces skipped, a piece without `=`
/// has an empty value.
pub(crate) fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// `%XX` decoded; a `%` not followed by two hex digits is kept as it is. `+` stays `+`.
pub(crate) fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|c| hex_value(*c)),
                bytes.get(i + 2).and_then(|c| hex_value(*c)),
            )
        {
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 encoding as SigV4 wants it: unreserved bytes kept, everything else `%XX` upper case.
fn encode_into(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0xf)]));
        }
    }
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX_LOWER[usize::from(b >> 4)]));
        out.push(char::from(HEX_LOWER[usize::from(b & 0xf)]));
    }
    out
}

/// Lower- or upper-case hex to bytes.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks_exact(2)
        .map(|p| Some(hex_value(p[0])? << 4 | hex_value(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(path: &str) -> String {
        let mut out = String::new();
        canonical_uri(&mut out, path);
        out
    }

    fn query(q: &str, presigned: bool) -> String {
        let mut out = String::new();
        canonical_query(&mut out, q, presigned);
        out
    }

    #[test]
    fn paths_are_normalized_and_encoded_again() {
        for (raw, canonical) in [
            ("", "/"),
            ("/", "/"),
            ("//example//", "/example/"),
            ("/./", "/"),
            ("/example/..", "/"),
            ("/a/b/../c/./d", "/a/c/d"),
            ("/a/.", "/a/"),
            ("/../a", "/a"),
            ("/example space/", "/example%20space/"),
            ("/f%3D", "/f%253D"),
            ("/$delete", "/%24delete"),
            ("/~a-b_c.d", "/~a-b_c.d"),
        ] {
            assert_eq!(uri(raw), canonical, "{raw}");
        }
    }

    #[test]
    fn s3_paths_are_encoded_once_and_not_resolved() {
        let s3 = |raw: &str| {
            let mut out = String::new();
            s3_canonical_uri(&mut out, raw);
            out
        };
        for (raw, canonical) in [
            ("", "/"),
            ("/", "/"),
            ("/b/a%20b+c=d", "/b/a%20b%2Bc%3Dd"),
            ("/b/a%20b%2Bc%3Dd", "/b/a%20b%2Bc%3Dd"),
            ("/b/%C3%A9", "/b/%C3%A9"),
            ("/b//k/../x/", "/b//k/../x/"),
            ("/~a-b_c.d", "/~a-b_c.d"),
        ] {
            assert_eq!(s3(raw), canonical, "{raw}");
        }
        assert_eq!(PathRule::for_service("s3"), PathRule::S3);
        assert_eq!(PathRule::for_service("s3-object-lambda"), PathRule::Generic);
        assert_eq!(PathRule::for_service("sts"), PathRule::Generic);
    }

    #[test]
    fn query_is_decoded_reencoded_and_sorted() {
        assert_eq!(query("b=2&a=2&a=1&c", false), "a=1&a=2&b=2&c=");
        assert_eq!(query("%7E=%41+&&x=%zz", false), "x=%25zz&~=A%2B");
        assert_eq!(query("X-Amz-Signature=abc&a=1", true), "a=1");
        assert_eq!(
            query("X-Amz-Signature=abc&a=1", false),
            "X-Amz-Signature=abc&a=1"
        );
        // Sorted by the encoded key: `%` (0x25) sorts before `A`.
        assert_eq!(query("A=1&%20=2", false), "%20=2&A=1");
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        let mut out = String::new();
        push_collapsed(&mut out, "  \"a   b\t c\"  ");
        assert_eq!(out, "\"a b c\"");
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(unhex("00ABff"), Some(vec![0, 0xab, 0xff]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }
}
