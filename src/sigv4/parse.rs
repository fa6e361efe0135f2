//! Reads what a request claims about its signature ([`parse`]). Needs no secret and checks
//! nothing that needs one or a clock: that is `check.rs`. Runs before anything is known about
//! the caller, so its work is linear in its input with small constants: its inputs are bounded
//! (the `MAX_*` constants) and duplicates are found with a hash set.

use crate::secret::SessionToken;
use std::collections::HashSet;

use time::OffsetDateTime;
use time::macros::format_description;

use super::canonical::{percent_decode, query_pairs};
use super::{ALGORITHM, Credential, Parsed, SigV4Error, SignedRequest};

/// The longest `X-Amz-Expires` AWS accepts: seven days.
pub const MAX_EXPIRES: u32 = 604_800;

/// Longest `Authorization` header read, in bytes (an SDK's is a few hundred).
pub const MAX_AUTHORIZATION_LEN: usize = 8 * 1024;
/// Most header names one signature may cover.
pub const MAX_SIGNED_HEADERS: usize = 128;
/// Longest signed header name, in bytes.
pub const MAX_HEADER_NAME_LEN: usize = 256;
/// Most query parameters a signed request may carry.
pub const MAX_QUERY_PARAMS: usize = 1024;
/// Longest region in a credential scope (AWS's are at most 20 characters, e.g.
/// `ap-southeast-5`, `us-gov-west-1`).
pub const MAX_REGION_LEN: usize = 32;
/// Longest service in a credential scope (signing names such as `execute-api`,
/// `route53-recovery-control-config`).
pub const MAX_SERVICE_LEN: usize = 64;

/// Reads the signature's claims from a request: the `Authorization` header
/// (`AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` with `X-Amz-Date`) or the
/// presigned query (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
/// `X-Amz-SignedHeaders`, `X-Amz-Signature`, `X-Amz-Security-Token`).
pub fn parse(req: &SignedRequest) -> Result<Parsed, SigV4Error> {
    let mut auth_headers = req.header_values("authorization");
    let header = auth_headers.next();
    if auth_headers.next().is_some() {
        return Err(SigV4Error::AmbiguousAuthentication);
    }
    if header.is_some_and(|h| h.len() > MAX_AUTHORIZATION_LEN) {
        return Err(SigV4Error::Malformed(format!(
            "The Authorization header is longer than {MAX_AUTHORIZATION_LEN} bytes."
        )));
    }
    check_query(req.query)?;
    let presigned = query_pairs(req.query).any(|(k, _)| percent_decode(k) == b"X-Amz-Algorithm");
    match (header, presigned) {
        (Some(_), true) => Err(SigV4Error::AmbiguousAuthentication),
        (None, false) => Err(SigV4Error::MissingAuthentication),
        (Some(header), false) => parse_header(req, header),
        (None, true) => parse_query(req),
    }
}

fn parse_header(req: &SignedRequest, header: &str) -> Result<Parsed, SigV4Error> {
    let header = header.trim();
    let (algorithm, rest) = header
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((header, ""));
    check_algorithm(algorithm)?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in rest.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let (key, value) = component.split_once('=').ok_or_else(|| {
            SigV4Error::Malformed(format!(
                "Authorization header requires 'key=value' components, not '{}'.",
                shorten(component)
            ))
        })?;
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            other => {
                return Err(SigV4Error::Malformed(format!(
                    "Authorization header has an unexpected component '{}'.",
                    shorten(other)
                )));
            }
        };
        if slot.replace(value).is_some() {
            return Err(SigV4Error::Malformed(format!(
                "Authorization header has '{key}' more than once."
            )));
        }
    }
    let mut missing = Vec::new();
    for (name, value) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if value.is_none() {
            missing.push(format!("Authorization header requires '{name}' parameter."));
        }
    }
    let amz_date = single_header(req, "x-amz-date")?;
    if amz_date.is_none() {
        missing.push(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                .to_owned(),
        );
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some(amz_date)) =
        (credential, signed_headers, signature, amz_date)
    else {
        return Err(SigV4Error::Incomplete(missing.join(" ")));
    };
    Ok(Parsed {
        credential: parse_credential(credential)?,
        signed_headers: parse_signed_headers(signed_headers)?,
        signature: parse_signature(signature)?,
        amz_date: parse_amz_date(amz_date.trim())?,
        security_token: single_header(req, "x-amz-security-token")?
            .map(|t| SessionToken::new(t.trim().to_owned())),
        presigned: false,
        expires: None,
    })
}

fn parse_query(req: &SignedRequest) -> Result<Parsed, SigV4Error> {
    const NAMES: [&str; 7] = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
    ];
    let mut values: [Option<String>; 7] = Default::default();
    for (key, value) in query_pairs(req.query) {
        let key = percent_decode(key);
        if let Some(i) = NAMES.iter().position(|n| n.as_bytes() == key.as_slice()) {
            let value = String::from_utf8(percent_decode(value))
                .map_err(|_| SigV4Error::Malformed(format!("{} is not valid UTF-8.", NAMES[i])))?;
            if values[i].replace(value).is_some() {
                return Err(SigV4Error::Malformed(format!(
                    "The query has '{}' more than once.",
                    NAMES[i]
                )));
            }
        }
    }
    let [
        algorithm,
        credential,
        date,
        expires,
        signed_headers,
        signature,
        token,
    ] = values;
    let (
        Some(algorithm),
        Some(credential),
        Some(date),
        Some(expires),
        Some(signed_headers),
        Some(signature),
    ) = (
        algorithm,
        credential,
        date,
        expires,
        signed_headers,
        signature,
    )
    else {
        return Err(SigV4Error::Incomplete(
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', \
             'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', and 'X-Amz-Expires'. \
             Re-examine the query-string parameters."
                .to_owned(),
        ));
    };
    check_algorithm(&algorithm)?;
    let security_token = match token {
        Some(token) => Some(SessionToken::new(token)),
        None => single_header(req, "x-amz-security-token")?
            .map(|t| SessionToken::new(t.trim().to_owned())),
    };
    Ok(Parsed {
        credential: parse_credential(&credential)?,
        signed_headers: parse_signed_headers(&signed_headers)?,
        signature: parse_signature(&signature)?,
        amz_date: parse_amz_date(&date)?,
        security_token,
        presigned: true,
        expires: Some(parse_expires(&expires)?),
    })
}

/// The query's shape: at most [`MAX_QUERY_PARAMS`] parameters and no unencoded `+`. SigV4
/// reads `+` as itself while form decoding reads it as a space, so a signature over `a+b`
/// would vouch for two values; SDKs always send `%2B` (and `%20` for a space).
fn check_query(query: &str) -> Result<(), SigV4Error> {
    if query
        .split('&')
        .filter(|p| !p.is_empty())
        .nth(MAX_QUERY_PARAMS)
        .is_some()
    {
        return Err(SigV4Error::Malformed(format!(
            "A signed request may carry at most {MAX_QUERY_PARAMS} query parameters."
        )));
    }
    if query.contains('+') {
        return Err(SigV4Error::Malformed(
            "The query of a signed request must not contain an unencoded '+': \
             send '%2B' for a plus sign and '%20' for a space."
                .to_owned(),
        ));
    }
    Ok(())
}

fn check_algorithm(algorithm: &str) -> Result<(), SigV4Error> {
    if algorithm == ALGORITHM {
        Ok(())
    } else {
        Err(SigV4Error::UnsupportedAlgorithm(
            shorten(algorithm).to_owned(),
        ))
    }
}

/// The one value of a header that must not repeat.
fn single_header<'r>(req: &'r SignedRequest, name: &'r str) -> Result<Option<&'r str>, SigV4Error> {
    let mut values = req.header_values(name);
    let first = values.next();
    if values.next().is_some() {
        return Err(SigV4Error::Malformed(format!(
            "The request has the '{name}' header more than once."
        )));
    }
    Ok(first)
}

fn parse_credential(value: &str) -> Result<Credential, SigV4Error> {
    let malformed = || {
        SigV4Error::Malformed(
            "Credential is malformed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
                .to_owned(),
        )
    };
    let parts: Vec<&str> = value.split('/').collect();
    let [akid, date, region, service, terminator] = parts.as_slice() else {
        return Err(malformed());
    };
    if [akid, date, region, service].iter().any(|p| p.is_empty()) {
        return Err(malformed());
    }
    if *terminator != "aws4_request" {
        return Err(SigV4Error::Malformed(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
            shorten(terminator)
        )));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SigV4Error::Malformed(format!(
            "Credential should be scoped to a valid date ('YYYYMMDD'), not '{}'.",
            shorten(date)
        )));
    }
    // Both are recorded (an access key's last use) and shown (the credential report, a CSV
    // read by spreadsheets), so only names shaped as AWS's are read; neither is echoed.
    if !is_scope_name(region, MAX_REGION_LEN) {
        return Err(SigV4Error::Malformed(
            "Credential should be scoped to a valid region.".to_owned(),
        ));
    }
    if !is_scope_name(service, MAX_SERVICE_LEN) {
        return Err(SigV4Error::Malformed(
            "Credential should be scoped to a valid service.".to_owned(),
        ));
    }
    Ok(Credential {
        access_key_id: (*akid).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
    })
}

/// Whether `name` is a region or service name as AWS writes them: 1 to `max` lowercase
/// letters, digits and hyphens, not starting with a hyphen.
fn is_scope_name(name: &str, max: usize) -> bool {
    (1..=max).contains(&name.len())
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn parse_signed_headers(value: &str) -> Result<Vec<String>, SigV4Error> {
    let mut names: Vec<String> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for name in value.split(';') {
        if names.len() == MAX_SIGNED_HEADERS {
            return Err(SigV4Error::Malformed(format!(
                "SignedHeaders may name at most {MAX_SIGNED_HEADERS} headers."
            )));
        }
        let valid = !name.is_empty()
            && name.len() <= MAX_HEADER_NAME_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase() && b != b':');
        if !valid {
            return Err(SigV4Error::Malformed(format!(
                "SignedHeaders must be lower-case header names separated by ';', not '{}'.",
                shorten(value)
            )));
        }
        if !seen.insert(name) {
            return Err(SigV4Error::Malformed(format!(
                "SignedHeaders names '{}' more than once.",
                shorten(name)
            )));
        }
        names.push(name.to_owned());
    }
    Ok(names)
}

fn parse_signature(value: &str) -> Result<String, SigV4Error> {
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(SigV4Error::Malformed(
            "Signature must be 64 hexadecimal digits.".to_owned(),
        ))
    }
}

/// `X-Amz-Date`: ISO 8601 basic format in UTC, `YYYYMMDD'T'HHMMSS'Z'`.
pub(crate) fn parse_amz_date(value: &str) -> Result<OffsetDateTime, SigV4Error> {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(value, format)
        .map(time::PrimitiveDateTime::assume_utc)
        .map_err(|_| {
            SigV4Error::Malformed(format!(
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", not '{}'.",
                shorten(value)
            ))
        })
}

/// `X-Amz-Expires`: whole seconds, 1 to 604800.
pub(crate) fn parse_expires(value: &str) -> Result<u32, SigV4Error> {
    let seconds: u64 = value
        .parse()
        .map_err(|_| SigV4Error::InvalidExpires("X-Amz-Expires should be a number".to_owned()))?;
    check_expires(seconds)
}

pub(crate) fn check_expires(seconds: u64) -> Result<u32, SigV4Error> {
    match u32::try_from(seconds) {
        Ok(0) => Err(SigV4Error::InvalidExpires(
            "X-Amz-Expires must be at least 1 second".to_owned(),
        )),
        Ok(s) if s <= MAX_EXPIRES => Ok(s),
        _ => Err(SigV4Error::InvalidExpires(format!(
            "X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES}"
        ))),
    }
}

/// Client input echoed in a message, cut to a bounded length.
fn shorten(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const SIG: &str = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

    fn auth(rest: &str) -> String {
        format!("AWS4-HMAC-SHA256 {rest}")
    }

    fn parse_with(headers: &[(String, String)], query: &str) -> Result<Parsed, SigV4Error> {
        parse(&SignedRequest {
            method: "GET",
            path: "/",
            query,
            headers,
            body: b"",
        })
    }

    #[test]
    fn reads_the_header_form() {
        let h = headers(&[
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
            ("X-Amz-Security-Token", " tok "),
            (
                "authorization",
                &auth(&format!(
                    "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request,  SignedHeaders=host;x-amz-date, Signature={SIG}"
                )),
            ),
        ]);
        let p = parse_with(&h, "").unwrap();
        assert_eq!(p.credential.access_key_id, "AKIDEXAMPLE");
        assert_eq!(
            p.credential.scope(),
            "20150830/us-east-1/service/aws4_request"
        );
        assert_eq!(p.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(p.signature, SIG);
        assert_eq!(
            p.security_token.as_ref().map(SessionToken::expose),
            Some("tok")
        );
        assert!(
            !format!("{p:?}").contains("\"tok\""),
            "the token is never printed"
        );
        assert!(!p.presigned);
        assert_eq!(p.expires, None);
        assert_eq!(p.amz_date, time::macros::datetime!(2015-08-30 12:36:00 UTC));
    }

    #[test]
    fn reads_the_query_form() {
        let q = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Fsts%2Faws4_request\
             &X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature={SIG}\
             &X-Amz-Security-Token=a%2Bb"
        );
        let p = parse_with(&headers(&[("host", "h")]), &q).unwrap();
        assert!(p.presigned);
        assert_eq!(p.expires, Some(60));
        assert_eq!(p.credential.service, "sts");
        assert_eq!(
            p.security_token.as_ref().map(SessionToken::expose),
            Some("a+b")
        );
    }

    /// Headers, query, expected AWS code.
    type Case<'a> = (Vec<(String, String)>, &'a str, &'a str);

    #[test]
    fn scopes_name_a_region_and_a_service_as_aws_writes_them() {
        let with = |region: &str, service: &str| {
            let cred = format!("Credential=AKID/20150830/{region}/{service}/aws4_request");
            parse_with(
                &headers(&[
                    ("X-Amz-Date", "20150830T123600Z"),
                    (
                        "Authorization",
                        &auth(&format!("{cred}, SignedHeaders=host, Signature={SIG}")),
                    ),
                ]),
                "",
            )
        };
        for (region, service) in [
            ("us-east-1", "sts"),
            ("us-gov-west-1", "execute-api"),
            ("x", "s3"),
            (&"a".repeat(MAX_REGION_LEN), &"b".repeat(MAX_SERVICE_LEN)),
        ] {
            assert!(with(region, service).is_ok(), "{region} {service}");
        }
        for (region, service, what) in [
            ("=1+1", "sts", "region"),
            ("=HYPERLINK(\"x\")", "sts", "region"),
            ("US-EAST-1", "sts", "region"),
            ("-us-east-1", "sts", "region"),
            ("us east 1", "sts", "region"),
            ("us-east-1\t", "sts", "region"),
            (&"a".repeat(MAX_REGION_LEN + 1), "sts", "region"),
            ("us-east-1", "@sts", "service"),
            ("us-east-1", "-sts", "service"),
            ("us-east-1", "STS", "service"),
            ("us-east-1", &"b".repeat(MAX_SERVICE_LEN + 1), "service"),
        ] {
            let err = with(region, service).unwrap_err();
            assert_eq!(
                err,
                SigV4Error::Malformed(format!("Credential should be scoped to a valid {what}.")),
                "{region} {service}"
            );
        }
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let date = ("X-Amz-Date", "20150830T123600Z");
        let good_cred = "Credential=AKID/20150830/us-east-1/sts/aws4_request";
        let cases: Vec<Case> = vec![
            (headers(&[date]), "", "MissingAuthenticationToken"),
            (
                headers(&[date, ("Authorization", "AWS4-HMAC-SHA1 Credential=x")]),
                "",
                "IncompleteSignature",
            ),
            (
                headers(&[
                    date,
                    (
                        "Authorization",
                        &auth(&format!("{good_cred}, Signature={SIG}")),
                    ),
                ]),
                "",
                "IncompleteSignature",
            ),
            (
                headers(&[(
                    "Authorization",
                    &auth(&format!("{good_cred}, SignedHeaders=host, Signature={SIG}")),
                )]),
                "",
                "IncompleteSignature",
            ),
            (
                headers(&[
                    date,
                    (
                        "Authorization",
                        &auth(&format!(
                            "Credential=AKID/20150830/us-east-1/sts, SignedHeaders=host, Signature={SIG}"
                        )),
                    ),
                ]),
                "",
                "IncompleteSignature",
            ),
            (
                headers(&[
                    date,
                    (
                        "Authorization",
                        &auth(&format!(
                            "{good_cred}, SignedHeaders=host;Host, Signature={SIG}"
                        )),
                    ),
                ]),
                "",
                "IncompleteSignature",
            ),
            (
                headers(&[
                    date,
                    (
                        "Authorization",
                        &auth(&format!("{good_cred}, SignedHeaders=host, Signature=abc")),
                    ),
                ]),
                "",
                "IncompleteSignature",
            ),
            (
                headers(&[
                    ("X-Amz-Date", "2015-08-30T12:36:00Z"),
                    (
                        "Authorization",
                        &auth(&format!("{good_cred}, SignedHeaders=host, Signature={SIG}")),
                    ),
                ]),
                "",
                "IncompleteSignature",
            ),
            (
                headers(&[
                    date,
                    (
                        "Authorization",
                        &auth(&format!("{good_cred}, SignedHeaders=host, Signature={SIG}")),
                    ),
                ]),
                "X-Amz-Algorithm=AWS4-HMAC-SHA256",
                "InvalidParameterCombination",
            ),
            (
                headers(&[]),
                "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20150830T123600Z",
                "IncompleteSignature",
            ),
        ];
        for (h, q, code) in cases {
            let err = parse_with(&h, q).unwrap_err();
            assert_eq!(err.aws_code(), code, "{h:?} {q}: {err}");
        }
    }

    /// An `Authorization` header listing `n` distinct signed header names.
    fn many_signed_headers(n: usize) -> String {
        let names: Vec<String> = (0..n).map(|i| format!("h{i}")).collect();
        auth(&format!(
            "Credential=AKID/20150830/us-east-1/sts/aws4_request, SignedHeaders={}, Signature={SIG}",
            names.join(";")
        ))
    }

    #[test]
    fn signed_header_lists_are_bounded() {
        let date = ("X-Amz-Date", "20150830T123600Z");
        let at_limit = many_signed_headers(MAX_SIGNED_HEADERS);
        let p = parse_with(&headers(&[date, ("Authorization", &at_limit)]), "").unwrap();
        assert_eq!(p.signed_headers.len(), MAX_SIGNED_HEADERS);
        let over = many_signed_headers(MAX_SIGNED_HEADERS + 1);
        let e = parse_with(&headers(&[date, ("Authorization", &over)]), "").unwrap_err();
        assert_eq!(e.aws_code(), "IncompleteSignature", "{e}");
        let long_name = auth(&format!(
            "Credential=AKID/20150830/us-east-1/sts/aws4_request, SignedHeaders=host;{}, Signature={SIG}",
            "x".repeat(MAX_HEADER_NAME_LEN + 1)
        ));
        let e = parse_with(&headers(&[date, ("Authorization", &long_name)]), "").unwrap_err();
        assert_eq!(e.aws_code(), "IncompleteSignature", "{e}");
        // The last of many names repeating the first is still found.
        let mut names: Vec<String> = (0..MAX_SIGNED_HEADERS - 1)
            .map(|i| format!("h{i}"))
            .collect();
        names.push("h0".to_owned());
        let dup = auth(&format!(
            "Credential=AKID/20150830/us-east-1/sts/aws4_request, SignedHeaders={}, Signature={SIG}",
            names.join(";")
        ));
        let e = parse_with(&headers(&[date, ("Authorization", &dup)]), "").unwrap_err();
        assert!(e.to_string().contains("more than once"), "{e}");
    }

    #[test]
    fn hostile_authorization_headers_are_refused_unread() {
        let date = ("X-Amz-Date", "20150830T123600Z");
        // What a client can fit in the HTTP server's header limit: ~400 KB of distinct names.
        let hostile = many_signed_headers(60_000);
        assert!(hostile.len() > 300_000);
        let e = parse_with(&headers(&[date, ("Authorization", &hostile)]), "").unwrap_err();
        assert_eq!(e.aws_code(), "IncompleteSignature");
        assert!(e.to_string().contains("longer than"), "{e}");
        // Just under the length bound, the name count bound refuses it.
        let under = many_signed_headers(1_200);
        assert!(under.len() <= MAX_AUTHORIZATION_LEN);
        let e = parse_with(&headers(&[date, ("Authorization", &under)]), "").unwrap_err();
        assert!(e.to_string().contains("at most"), "{e}");
    }

    #[test]
    fn signed_queries_are_bounded_and_plus_free() {
        let q = |extra: &str| {
            format!(
                "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Fsts%2Faws4_request\
                 &X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature={SIG}{extra}"
            )
        };
        let h = headers(&[("host", "h")]);
        assert!(parse_with(&h, &q("&Name=a%2Bb%20c")).is_ok());
        let e = parse_with(&h, &q("&Name=a+b")).unwrap_err();
        assert_eq!(e.aws_code(), "IncompleteSignature");
        assert!(e.to_string().contains("'+'"), "{e}");
        let many: String = (0..MAX_QUERY_PARAMS).map(|i| format!("&p{i}=1")).collect();
        let e = parse_with(&h, &q(&many)).unwrap_err();
        assert!(e.to_string().contains("query parameters"), "{e}");
        // The header form too.
        let header_signed = headers(&[
            ("X-Amz-Date", "20150830T123600Z"),
            (
                "Authorization",
                &auth(&format!(
                    "Credential=AKID/20150830/us-east-1/sts/aws4_request, SignedHeaders=host, Signature={SIG}"
                )),
            ),
        ]);
        assert!(parse_with(&header_signed, "Name=a+b").is_err());
        assert!(parse_with(&header_signed, "Name=a%2Bb").is_ok());
    }

    #[test]
    fn expires_must_be_one_second_to_a_week() {
        assert_eq!(parse_expires("1"), Ok(1));
        assert_eq!(parse_expires("604800"), Ok(604_800));
        for bad in ["0", "604801", "-1", "x", "99999999999"] {
            assert_eq!(
                parse_expires(bad).unwrap_err().aws_code(),
                "InvalidParameterValue",
                "{bad}"
            );
        }
    }
}
