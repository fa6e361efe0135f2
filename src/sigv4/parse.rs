//! Reads what a request claims about its signature: the `Authorization` header
//! (`AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` with `X-Amz-Date`) or the
//! presigned query (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
//! `X-Amz-SignedHeaders`, `X-Amz-Signature`, `X-Amz-Security-Token`).
//!
//! Needs no secret and checks nothing that needs one or a clock: that is `check.rs`.

use time::OffsetDateTime;
use time::macros::format_description;

use super::canonical::{percent_decode, query_pairs};
use super::{ALGORITHM, Credential, Parsed, SigV4Error, SignedRequest};

/// The longest `X-Amz-Expires` AWS accepts: seven days.
pub const MAX_EXPIRES: u32 = 604_800;

/// Reads the signature's claims from a request; see the module documentation.
pub fn parse(req: &SignedRequest) -> Result<Parsed, SigV4Error> {
    let mut auth_headers = req.header_values("authorization");
    let header = auth_headers.next();
    if auth_headers.next().is_some() {
        return Err(SigV4Error::AmbiguousAuthentication);
    }
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
        security_token: single_header(req, "x-amz-security-token")?.map(|t| t.trim().to_owned()),
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
        Some(token) => Some(token),
        None => single_header(req, "x-amz-security-token")?.map(|t| t.trim().to_owned()),
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
    Ok(Credential {
        access_key_id: (*akid).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
    })
}

fn parse_signed_headers(value: &str) -> Result<Vec<String>, SigV4Error> {
    let mut names: Vec<String> = Vec::new();
    for name in value.split(';') {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase() && b != b':');
        if !valid {
            return Err(SigV4Error::Malformed(format!(
                "SignedHeaders must be lower-case header names separated by ';', not '{}'.",
                shorten(value)
            )));
        }
        if names.iter().any(|n| n == name) {
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
        assert_eq!(p.security_token.as_deref(), Some("tok"));
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
        assert_eq!(p.security_token.as_deref(), Some("a+b"));
    }

    /// Headers, query, expected AWS code.
    type Case<'a> = (Vec<(String, String)>, &'a str, &'a str);

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
