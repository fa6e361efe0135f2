//! The one path rule of the authorize front doors: a request path is either refused or taken
//! exactly as it arrived, so the path that was signed, the path that is authorized and the path
//! the upstream serves are the same bytes ([`check`]; docs/resource-servers.md, "The path rule").
//!
//! Pure: no I/O. Fuzzed through [`check`] and [`super::resolve`].

use std::fmt;

/// A path that passed [`check`]: the raw text as it arrived, still encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedPath<'a>(&'a str);

impl<'a> CheckedPath<'a> {
    /// The path as it arrived (encoded).
    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// The raw segments, still encoded; none for `/`.
    pub fn segments(&self) -> impl Iterator<Item = &'a str> + 'a {
        let rest = self.0.get(1..).unwrap_or_default();
        rest.split('/').filter(|s| !s.is_empty())
    }
}

/// Why a path was refused; the message is safe to give the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    NotAbsolute,
    TooLong,
    EmptySegment,
    DotSegment,
    ForbiddenByte,
    BadEscape,
    EncodedSeparator,
    /// An escape of a letter, digit, `-`, `_` or `~`: a second spelling of the same path.
    NeedlessEscape,
    NotUtf8,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "the path must start with /",
            PathError::TooLong => "the path is too long",
            PathError::EmptySegment => "the path has an empty segment (// or a trailing /)",
            PathError::DotSegment => "the path has a . or .. segment",
            PathError::ForbiddenByte => {
                "the path has a backslash, a control or non-ASCII byte, ?, #, ; or an unencoded +"
            }
            PathError::BadEscape => "the path has a % not followed by two hex digits",
            PathError::EncodedSeparator => {
                "the path has an encoded /, \\, ., % or control byte (%2F, %5C, %2E, %25...)"
            }
            PathError::NeedlessEscape => {
                "the path encodes a letter, digit, -, _ or ~ (%41, %61...); send them unencoded"
            }
            PathError::NotUtf8 => "the path does not decode to UTF-8",
        })
    }
}

impl std::error::Error for PathError {}

/// Longest path accepted (bytes, as it arrived).
pub const MAX_PATH: usize = 4096;

/// Applies the path rule to `raw` (the path as on the wire, without the query).
///
/// A path is accepted only when it starts with `/` and has no `.` or `..` segment, no empty
/// segment (`//`, a trailing `/`), no backslash, no control or non-ASCII byte, no `?` or `#`, no
/// malformed `%` escape, and no percent-encoded `/`, `\`, `.`, `%` or control byte (in either
/// case); the other refusals are the [`PathError`] variants. Such a path is unchanged by SigV4's
/// normalization (generic or S3) and by any upstream that resolves dot segments or merges
/// slashes, so nothing can be authorized under one name and served under another. Segments are
/// percent-decoded exactly once, into UTF-8.
pub fn check(raw: &str) -> Result<CheckedPath<'_>, PathError> {
    if raw.len() > MAX_PATH {
        return Err(PathError::TooLong);
    }
    let Some(rest) = raw.strip_prefix('/') else {
        return Err(PathError::NotAbsolute);
    };
    if rest.is_empty() {
        return Ok(CheckedPath(raw));
    }
    for segment in rest.split('/') {
        check_segment(segment)?;
    }
    Ok(CheckedPath(raw))
}

fn check_segment(segment: &str) -> Result<(), PathError> {
    if segment.is_empty() {
        return Err(PathError::EmptySegment);
    }
    if segment == "." || segment == ".." {
        return Err(PathError::DotSegment);
    }
    let b = segment.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let (Some(h), Some(l)) = (
                    b.get(i + 1).and_then(|c| hex(*c)),
                    b.get(i + 2).and_then(|c| hex(*c)),
                ) else {
                    return Err(PathError::BadEscape);
                };
                let decoded = h << 4 | l;
                if matches!(decoded, b'/' | b'\\' | b'.' | b'%') || is_control(decoded) {
                    return Err(PathError::EncodedSeparator);
                }
                // One spelling per path: routes compare literal segments as sent, and SigV4
                // clients never encode these.
                if decoded.is_ascii_alphanumeric() || matches!(decoded, b'-' | b'_' | b'~') {
                    return Err(PathError::NeedlessEscape);
                }
                i += 3;
            }
            // `;` starts path parameters that some servers strip before resolving `..`; a raw
            // `+` is a space to some object stores. SigV4 clients send both encoded.
            c if matches!(c, b'\\' | b'?' | b'#' | b';' | b'+')
                || is_control(c)
                || !c.is_ascii() =>
            {
                return Err(PathError::ForbiddenByte);
            }
            _ => i += 1,
        }
    }
    // Decodes to UTF-8 (the bytes that follow are checked above).
    String::from_utf8(decode_bytes(segment)).map_err(|_| PathError::NotUtf8)?;
    Ok(())
}

fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn decode_bytes(raw: &str) -> Vec<u8> {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|c| hex(*c)),
                b.get(i + 2).and_then(|c| hex(*c)),
            )
        {
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// One raw segment (or `/`-joined segments) of a checked path, percent-decoded once. `None`
/// only for input [`check`] would refuse.
pub fn decode(raw: &str) -> Option<String> {
    let text = String::from_utf8(decode_bytes(raw)).ok()?;
    (!text.chars().any(char::is_control)).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_encoded_paths_pass_unchanged() {
        for p in [
            "/",
            "/a",
            "/objects/alice-bucket/docs/a.txt",
            "/k/with%20space/%C3%A9t%C3%A9",
            "/k/a%2Bb=c%3Bd,e",
            "/k/a=b,c!d*e'f(g)h&i$j@k:l~m",
            "/...a/..b/a..",
            "/%7B%40%5B",
        ] {
            assert_eq!(check(p).map(|c| c.as_str()), Ok(p), "{p}");
        }
        assert_eq!(
            check("/a/b%20c").unwrap().segments().collect::<Vec<_>>(),
            ["a", "b%20c"]
        );
        assert_eq!(check("/").unwrap().segments().count(), 0);
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        use PathError::*;
        for (p, e) in [
            ("", NotAbsolute),
            ("a/b", NotAbsolute),
            ("//a", EmptySegment),
            ("/a//b", EmptySegment),
            ("/a/", EmptySegment),
            ("/a/./b", DotSegment),
            ("/a/../b", DotSegment),
            ("/..", DotSegment),
            ("/a/%2e%2e/b", EncodedSeparator),
            ("/a/%2E./b", EncodedSeparator),
            ("/a%2fb", EncodedSeparator),
            ("/%61dmin/secret", NeedlessEscape),
            ("/a%7E", NeedlessEscape),
            ("/a%5f", NeedlessEscape),
            ("/a%2D", NeedlessEscape),
            ("/a%39", NeedlessEscape),
            ("/alice/..;/bob/secret", ForbiddenByte),
            ("/a;jsessionid=1", ForbiddenByte),
            ("/b/secret+doc", ForbiddenByte),
            ("/a%2Fb", EncodedSeparator),
            ("/a%5cb", EncodedSeparator),
            ("/a%5Cb", EncodedSeparator),
            ("/a%252e%252e", EncodedSeparator),
            ("/a%00", EncodedSeparator),
            ("/a%0a", EncodedSeparator),
            ("/a%7f", EncodedSeparator),
            ("/a\\..\\b", ForbiddenByte),
            ("/a\0", ForbiddenByte),
            ("/a\tb", ForbiddenByte),
            ("/a?b", ForbiddenByte),
            ("/a#b", ForbiddenByte),
            ("/é", ForbiddenByte),
            ("/a%", BadEscape),
            ("/a%4", BadEscape),
            ("/a%zz", BadEscape),
            ("/a%ff", NotUtf8),
            ("/a%C3", NotUtf8),
        ] {
            assert_eq!(check(p), Err(e), "{p:?}");
        }
        assert_eq!(check(&format!("/{}", "a".repeat(MAX_PATH))), Err(TooLong));
    }

    #[test]
    fn segments_decode_once() {
        assert_eq!(decode("b%20c").as_deref(), Some("b c"));
        assert_eq!(decode("%2541").as_deref(), Some("%41"));
        assert_eq!(decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(decode("%00"), None);
    }
}
