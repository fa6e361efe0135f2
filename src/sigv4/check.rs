//! The checks that need a secret or a clock: the string to sign, the signing key (the
//! `AWS4` + secret → date → region → service → `aws4_request` HMAC-SHA256 chain), a constant-time
//! signature comparison, `X-Amz-Date` against `now` and the allowed skew, a presigned request's
//! `X-Amz-Expires`, the scope's date, and a signed `host`.
//!
//! It never returns or logs the secret, the signing key or the signature it computed.

use ring::{digest, hmac};
use time::macros::format_description;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::canonical::{canonical_request_for, hex, unhex};
use super::parse::check_expires;
use super::{ALGORITHM, Credential, Parsed, Payload, SigV4Error, SignedRequest};

/// How far `X-Amz-Date` may be from the broker's clock unless configured otherwise.
pub const DEFAULT_MAX_SKEW: Duration = Duration::minutes(15);

/// The string to sign for a canonical request.
pub fn string_to_sign(parsed: &Parsed, canonical_request: &str) -> String {
    let hash = digest::digest(&digest::SHA256, canonical_request.as_bytes());
    let credential = &parsed.credential;
    let mut out = String::with_capacity(160);
    for part in [
        ALGORITHM,
        "\n",
        &amz_date_text(parsed.amz_date),
        "\n",
        &credential.date,
        "/",
        &credential.region,
        "/",
        &credential.service,
        "/aws4_request\n",
        &hex(hash.as_ref()),
    ] {
        out.push_str(part);
    }
    out
}

/// The key a request's signature is checked with, derived from the secret and the credential
/// scope. It changes daily per access key, so callers may keep it for the scope's day instead
/// of deriving it on every request (AWS's SDKs cache it the same way).
pub struct SigningKey(hmac::Key);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// Derives the key for `credential`'s scope from `secret_access_key`.
    pub fn derive(secret_access_key: &str, credential: &Credential) -> SigningKey {
        SigningKey(signing_key(secret_access_key, credential))
    }
}

/// Checks a parsed request's signature with the secret of its access key, at `now`.
///
/// Checks, in order: `host` is signed, the scope's date is `X-Amz-Date`'s, the date is within
/// `max_skew` of `now` (a presigned request: not later than `now + max_skew`, and used before
/// `X-Amz-Date + X-Amz-Expires`), a declared payload hash is the body's, and the signature.
pub fn verify(
    req: &SignedRequest,
    parsed: &Parsed,
    secret_access_key: &str,
    now: OffsetDateTime,
    max_skew: Duration,
) -> Result<(), SigV4Error> {
    let key = SigningKey::derive(secret_access_key, &parsed.credential);
    verify_with_key(req, parsed, &key, now, max_skew)
}

/// [`verify`] with a signing key already derived for the request's credential scope.
pub fn verify_with_key(
    req: &SignedRequest,
    parsed: &Parsed,
    key: &SigningKey,
    now: OffsetDateTime,
    max_skew: Duration,
) -> Result<(), SigV4Error> {
    verify_payload(req, parsed, key, now, max_skew, Payload::Body(req.body))
}

/// [`verify_with_key`] with what the caller knows of the payload (see [`Payload`]) in place of
/// `req.body`.
pub fn verify_payload(
    req: &SignedRequest,
    parsed: &Parsed,
    key: &SigningKey,
    now: OffsetDateTime,
    max_skew: Duration,
    payload: Payload,
) -> Result<(), SigV4Error> {
    if !parsed.signed_headers.iter().any(|h| h == "host") {
        return Err(SigV4Error::HostNotSigned);
    }
    let amz_date = amz_date_text(parsed.amz_date);
    if amz_date.get(..8) != Some(parsed.credential.date.as_str()) {
        return Err(SigV4Error::ScopeDateMismatch {
            scope: parsed.credential.date.clone(),
            date: amz_date.get(..8).unwrap_or_default().to_owned(),
            amz_date,
        });
    }
    check_time(parsed, now, max_skew)?;
    let signature = unhex(&parsed.signature)
        .filter(|s| s.len() == digest::SHA256_OUTPUT_LEN)
        .ok_or_else(|| {
            SigV4Error::Malformed("Signature must be 64 hexadecimal digits.".to_owned())
        })?;
    let canonical = canonical_request_for(req, parsed, payload)?;
    let to_sign = string_to_sign(parsed, &canonical);
    hmac::verify(&key.0, to_sign.as_bytes(), &signature)
        .map_err(|_| SigV4Error::SignatureDoesNotMatch)
}

fn check_time(parsed: &Parsed, now: OffsetDateTime, max_skew: Duration) -> Result<(), SigV4Error> {
    let skew_minutes = max_skew.whole_minutes();
    let latest = now.saturating_add(max_skew);
    if parsed.amz_date > latest {
        return Err(SigV4Error::NotYetValid {
            amz_date: amz_date_text(parsed.amz_date),
            latest: amz_date_text(latest),
            now: amz_date_text(now),
            skew_minutes,
        });
    }
    if parsed.presigned {
        let expires = parsed.expires.ok_or_else(|| {
            SigV4Error::Incomplete("A presigned request requires 'X-Amz-Expires'.".to_owned())
        })?;
        let expires = check_expires(u64::from(expires))?;
        if now
            > parsed
                .amz_date
                .saturating_add(Duration::seconds(i64::from(expires)))
        {
            return Err(SigV4Error::PresignedExpired);
        }
    } else {
        let earliest = now.saturating_sub(max_skew);
        if parsed.amz_date < earliest {
            return Err(SigV4Error::RequestExpired {
                amz_date: amz_date_text(parsed.amz_date),
                earliest: amz_date_text(earliest),
                now: amz_date_text(now),
                skew_minutes,
            });
        }
    }
    Ok(())
}

/// The signing key for a credential scope.
fn signing_key(secret_access_key: &str, credential: &Credential) -> hmac::Key {
    let mut k_secret = Zeroizing::new(Vec::with_capacity(4 + secret_access_key.len()));
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret_access_key.as_bytes());
    let mut key = hmac::Key::new(hmac::HMAC_SHA256, &k_secret);
    for part in [
        credential.date.as_str(),
        credential.region.as_str(),
        credential.service.as_str(),
        "aws4_request",
    ] {
        let tag = hmac::sign(&key, part.as_bytes());
        key = hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref());
    }
    key
}

/// `YYYYMMDD'T'HHMMSS'Z'` in UTC.
fn amz_date_text(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let year = t.year();
    if !(0..=9999).contains(&year) {
        let format = format_description!("[year][month][day]T[hour][minute][second]Z");
        return t.format(format).unwrap_or_default();
    }
    let mut out = String::with_capacity(16);
    let digits = |out: &mut String, value: u32, width: u32| {
        for place in (0..width).rev() {
            let digit = value / 10u32.pow(place) % 10;
            out.push(char::from_digit(digit, 10).unwrap_or('0'));
        }
    };
    digits(&mut out, year.unsigned_abs(), 4);
    digits(&mut out, u32::from(u8::from(t.month())), 2);
    digits(&mut out, u32::from(t.day()), 2);
    out.push('T');
    digits(&mut out, u32::from(t.hour()), 2);
    digits(&mut out, u32::from(t.minute()), 2);
    digits(&mut out, u32::from(t.second()), 2);
    out.push('Z');
    out
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::sigv4::{canonical_request, parse};

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const NOW: OffsetDateTime = datetime!(2015-08-30 12:36:00 UTC);

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The suite's get-vanilla request, header form.
    fn vanilla() -> Vec<(String, String)> {
        headers(&[
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=host;x-amz-date, \
                 Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
        ])
    }

    fn request<'a>(headers: &'a [(String, String)], query: &'a str) -> SignedRequest<'a> {
        SignedRequest {
            method: "GET",
            path: "/",
            query,
            headers,
            body: b"",
        }
    }

    /// The suite's get-vanilla request, presigned for an hour.
    const PRESIGNED: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d";

    #[test]
    fn verifies_a_known_signature_and_nothing_else() {
        let h = vanilla();
        let req = request(&h, "");
        let parsed = parse(&req).unwrap();
        assert_eq!(verify(&req, &parsed, SECRET, NOW, DEFAULT_MAX_SKEW), Ok(()));
        let err = verify(&req, &parsed, "wrong", NOW, DEFAULT_MAX_SKEW).unwrap_err();
        assert_eq!(err.aws_code(), "SignatureDoesNotMatch");
        assert!(!err.to_string().contains(SECRET));
        let mut other = parsed.clone();
        other.signature = "0".repeat(64);
        assert_eq!(
            verify(&req, &other, SECRET, NOW, DEFAULT_MAX_SKEW),
            Err(SigV4Error::SignatureDoesNotMatch)
        );
    }

    #[test]
    fn date_must_be_within_the_skew() {
        let h = vanilla();
        let req = request(&h, "");
        let parsed = parse(&req).unwrap();
        let skew = Duration::minutes(5);
        assert_eq!(verify(&req, &parsed, SECRET, NOW + skew, skew), Ok(()));
        assert_eq!(verify(&req, &parsed, SECRET, NOW - skew, skew), Ok(()));
        let late = verify(&req, &parsed, SECRET, NOW + skew + Duration::SECOND, skew).unwrap_err();
        assert_eq!(late.aws_code(), "RequestExpired");
        assert_eq!(
            late.to_string(),
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T124101Z - 5 min.)"
        );
        let early = verify(&req, &parsed, SECRET, NOW - skew - Duration::SECOND, skew).unwrap_err();
        assert!(matches!(early, SigV4Error::NotYetValid { .. }), "{early}");
        assert_eq!(DEFAULT_MAX_SKEW, Duration::minutes(15));
        assert!(
            verify(
                &req,
                &parsed,
                SECRET,
                NOW + Duration::minutes(15),
                DEFAULT_MAX_SKEW
            )
            .is_ok()
        );
        assert!(
            verify(
                &req,
                &parsed,
                SECRET,
                NOW + Duration::minutes(16),
                DEFAULT_MAX_SKEW
            )
            .is_err()
        );
    }

    #[test]
    fn presigned_requests_live_for_their_expiry() {
        let h = headers(&[("Host", "example.amazonaws.com")]);
        let req = request(&h, PRESIGNED);
        let parsed = parse(&req).unwrap();
        assert!(parsed.presigned);
        let skew = DEFAULT_MAX_SKEW;
        assert_eq!(verify(&req, &parsed, SECRET, NOW, skew), Ok(()));
        // Long past the skew but within X-Amz-Expires.
        assert_eq!(
            verify(&req, &parsed, SECRET, NOW + Duration::seconds(3600), skew),
            Ok(())
        );
        let expired =
            verify(&req, &parsed, SECRET, NOW + Duration::seconds(3601), skew).unwrap_err();
        assert_eq!(expired, SigV4Error::PresignedExpired);
        assert_eq!(expired.aws_code(), "AccessDenied");
        assert_eq!(expired.to_string(), "Request has expired");
        let early = verify(&req, &parsed, SECRET, NOW - Duration::minutes(16), skew).unwrap_err();
        assert!(matches!(early, SigV4Error::NotYetValid { .. }));
        // A Parsed built by hand is held to the same bounds.
        for bad in [None, Some(0), Some(604_801)] {
            let p = Parsed {
                expires: bad,
                ..parsed.clone()
            };
            assert!(verify(&req, &p, SECRET, NOW, skew).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scope_date_must_be_the_request_date() {
        let h = vanilla();
        let req = request(&h, "");
        let mut parsed = parse(&req).unwrap();
        parsed.credential.date = "20150831".to_owned();
        let err = verify(&req, &parsed, SECRET, NOW, DEFAULT_MAX_SKEW).unwrap_err();
        assert_eq!(err.aws_code(), "SignatureDoesNotMatch");
        assert_eq!(
            err.to_string(),
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20150831' != '20150830', from '20150830T123600Z'."
        );
    }

    #[test]
    fn host_must_be_signed() {
        let mut h = vanilla();
        h[2].1 = h[2]
            .1
            .replace("SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date");
        let req = request(&h, "");
        let parsed = parse(&req).unwrap();
        let err = verify(&req, &parsed, SECRET, NOW, DEFAULT_MAX_SKEW).unwrap_err();
        assert_eq!(err, SigV4Error::HostNotSigned);
        assert_eq!(err.aws_code(), "IncompleteSignature");
    }

    #[test]
    fn a_declared_payload_hash_must_be_the_body_s() {
        let body: &[u8] = b"Action=GetCallerIdentity&Version=2011-06-15";
        let good = hex(digest::digest(&digest::SHA256, body).as_ref());
        let mut h = vanilla();
        h.push(("X-Amz-Content-Sha256".to_owned(), good.clone()));
        let req = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &h,
            body,
        };
        let parsed = parse(&req).unwrap();
        assert!(canonical_request(&req, &parsed).unwrap().ends_with(&good));
        let tampered = SignedRequest {
            body: b"Action=GetSessionToken&Version=2011-06-15",
            ..req
        };
        assert_eq!(
            canonical_request(&tampered, &parsed),
            Err(SigV4Error::ContentSha256Mismatch)
        );
        let mut hu = h.clone();
        hu.last_mut().unwrap().1 = "UNSIGNED-PAYLOAD".to_owned();
        let unsigned = SignedRequest {
            headers: &hu,
            ..req
        };
        assert_eq!(
            canonical_request(&unsigned, &parsed),
            Err(SigV4Error::ContentSha256Mismatch)
        );
        // A presigned request may leave its payload unsigned, if it says so.
        let q = format!("{PRESIGNED}&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD");
        let hh = headers(&[("Host", "example.amazonaws.com")]);
        let pre = SignedRequest {
            method: "GET",
            path: "/",
            query: &q,
            headers: &hh,
            body,
        };
        let parsed = parse(&pre).unwrap();
        assert!(
            canonical_request(&pre, &parsed)
                .unwrap()
                .ends_with("\nUNSIGNED-PAYLOAD")
        );
    }

    #[test]
    fn a_payload_known_by_hash_or_declared_only() {
        use crate::sigv4::canonical_request_for;
        let body: &[u8] = b"{\"k\":1}";
        let good = hex(digest::digest(&digest::SHA256, body).as_ref());
        let other = hex(digest::digest(&digest::SHA256, b"other").as_ref());
        let plain = vanilla();
        let req = request(&plain, "");
        let parsed = parse(&req).unwrap();
        // No declaration: the given hash is the last line.
        let c =
            canonical_request_for(&req, &parsed, Payload::Sha256(&good.to_uppercase())).unwrap();
        assert!(c.ends_with(&format!("\n{good}")));
        // A hash that is not one is refused.
        assert_eq!(
            canonical_request_for(&req, &parsed, Payload::Sha256("abc")),
            Err(SigV4Error::ContentSha256Mismatch)
        );
        // Not declared, not seen: the empty body.
        let c = canonical_request_for(&req, &parsed, Payload::Declared).unwrap();
        assert!(c.ends_with("\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
        let mut h = vanilla();
        h.push(("X-Amz-Content-Sha256".to_owned(), good.clone()));
        let req = request(&h, "");
        let parsed = parse(&req).unwrap();
        assert!(
            canonical_request_for(&req, &parsed, Payload::Sha256(&good))
                .unwrap()
                .ends_with(&good)
        );
        assert_eq!(
            canonical_request_for(&req, &parsed, Payload::Sha256(&other)),
            Err(SigV4Error::ContentSha256Mismatch)
        );
        // Declared and not seen: taken as signed.
        assert!(
            canonical_request_for(&req, &parsed, Payload::Declared)
                .unwrap()
                .ends_with(&good)
        );
        h.last_mut().unwrap().1 = "UNSIGNED-PAYLOAD".to_owned();
        let req = request(&h, "");
        assert!(
            canonical_request_for(&req, &parsed, Payload::Declared)
                .unwrap()
                .ends_with("\nUNSIGNED-PAYLOAD")
        );
        assert_eq!(
            canonical_request_for(&req, &parsed, Payload::Sha256(&good)),
            Err(SigV4Error::ContentSha256Mismatch)
        );
        h.last_mut().unwrap().1 = "not-a-hash".to_owned();
        let req = request(&h, "");
        assert_eq!(
            canonical_request_for(&req, &parsed, Payload::Declared),
            Err(SigV4Error::ContentSha256Mismatch)
        );
    }

    #[test]
    fn every_error_has_a_code() {
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
            assert!(!e.aws_code().is_empty());
        }
        assert_eq!(
            SigV4Error::SignatureDoesNotMatch.to_string(),
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
        );
    }
}
