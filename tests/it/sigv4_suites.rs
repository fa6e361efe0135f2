//! SigV4 verification against the public suites (aws-c-auth's `v4` and botocore's
//! `aws4_testsuite`), read from `$STS_BROKER_TESTDATA/sigv4`.
//!
//! Every signed request must verify at the suites' clock, its canonical request must be the
//! suite's, and the same request with one character changed in the method, the path, a query
//! value, each signed header value or the body must be refused.

use std::fs;
use std::path::Path;

use serde_json::Value;
use sts_broker::sigv4::{self, DEFAULT_MAX_SKEW, SigV4Error, SignedRequest};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::testdata;

/// A raw HTTP/1.1 request as the suites write it.
#[derive(Debug, Clone)]
struct Raw {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// A header continued on the next line (obsolete line folding, RFC 9112 §5.2).
    folded: bool,
}

impl Raw {
    fn parse(text: &str) -> Raw {
        let text = text.replace("\r\n", "\n");
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let line = lines.next().unwrap();
        let (method, rest) = line.split_once(' ').unwrap();
        let target = rest.rsplit_once(' ').map_or(rest, |(t, _version)| t);
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut folded = false;
        for line in lines {
            if line.starts_with([' ', '\t']) {
                folded = true;
                let last = headers.last_mut().unwrap();
                last.1.push(' ');
                last.1.push_str(line.trim());
                continue;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.to_owned(), value.to_owned()));
        }
        Raw {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers,
            body: body.as_bytes().to_vec(),
            folded,
        }
    }

    fn request(&self) -> SignedRequest<'_> {
        SignedRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

/// One character changed: the last digit moved on by one, else the last letter, else an `a`
/// appended.
fn tweak(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    if let Some(c) = chars.iter_mut().rev().find(|c| c.is_ascii_digit()) {
        *c = char::from(b'0' + (*c as u8 - b'0' + 1) % 10);
    } else if let Some(c) = chars.iter_mut().rev().find(|c| c.is_ascii_alphabetic()) {
        *c = if *c == 'z' || *c == 'Z' {
            char::from(*c as u8 - 25)
        } else {
            char::from(*c as u8 + 1)
        };
    } else {
        chars.push('a');
    }
    chars.into_iter().collect()
}

/// The same request with one signed part changed, each named.
fn tampered(raw: &Raw, signed_headers: &[String], presigned: bool) -> Vec<(String, Raw)> {
    let mut out = Vec::new();
    out.push((
        "method".to_owned(),
        Raw {
            method: tweak(&raw.method),
            ..raw.clone()
        },
    ));
    let mut path: Vec<char> = raw.path.chars().collect();
    if let Some(last) = path.last_mut() {
        *last = if *last == 'a' { 'b' } else { 'a' };
    }
    out.push((
        "path".to_owned(),
        Raw {
            path: path.into_iter().collect(),
            ..raw.clone()
        },
    ));
    // A query value: the first parameter that is not SigV4's own, else X-Amz-Expires.
    let pieces: Vec<&str> = raw.query.split('&').collect();
    let target = pieces
        .iter()
        .position(|p| !p.is_empty() && !p.starts_with("X-Amz-"))
        .or_else(|| {
            presigned.then(|| pieces.iter().position(|p| p.starts_with("X-Amz-Expires=")))?
        });
    if let Some(i) = target {
        let mut pieces: Vec<String> = pieces.iter().map(|p| (*p).to_owned()).collect();
        let (k, v) = pieces[i].split_once('=').unwrap_or((&pieces[i], ""));
        let (k, v) = (k.to_owned(), tweak(v));
        pieces[i] = format!("{k}={v}");
        let query = pieces.join("&");
        out.push((
            format!("query {k}"),
            Raw {
                query,
                ..raw.clone()
            },
        ));
    }
    for name in signed_headers {
        let mut headers = raw.headers.clone();
        if let Some(h) = headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            h.1 = tweak(&h.1);
            out.push((
                format!("header {name}"),
                Raw {
                    headers,
                    ..raw.clone()
                },
            ));
        }
    }
    let body = tweak(&String::from_utf8_lossy(&raw.body)).into_bytes();
    out.push((
        "body".to_owned(),
        Raw {
            body,
            ..raw.clone()
        },
    ));
    out
}

#[derive(Debug, Default)]
struct Tally {
    verified: usize,
    canonical_matched: usize,
    tampered_rejected: usize,
    refused_by_design: Vec<String>,
    skipped: Vec<String>,
    failures: Vec<String>,
}

impl Tally {
    fn report(&self, suite: &str) {
        println!(
            "sigv4 {suite}: {} verified, {} canonical requests equal the suite's, {} tampered requests rejected, {} refused by design, {} skipped",
            self.verified,
            self.canonical_matched,
            self.tampered_rejected,
            self.refused_by_design.len(),
            self.skipped.len()
        );
        for r in &self.refused_by_design {
            println!("  refused by design: {r}");
        }
        for s in &self.skipped {
            println!("  skipped: {s}");
        }
        assert!(
            self.failures.is_empty(),
            "{suite}:\n{}",
            self.failures.join("\n")
        );
    }
}

struct Case<'a> {
    name: String,
    signed: Raw,
    canonical: Option<String>,
    secret: &'a str,
    now: OffsetDateTime,
}

fn check(case: &Case, tally: &mut Tally) {
    let name = &case.name;
    let req = case.signed.request();
    let parsed = match sigv4::parse(&req) {
        Ok(p) => p,
        Err(e) => return tally.failures.push(format!("{name}: parse: {e}")),
    };
    if let Some(expected) = &case.canonical {
        match sigv4::canonical_request(&req, &parsed) {
            Ok(c) if &c == expected => tally.canonical_matched += 1,
            Ok(c) => tally
                .failures
                .push(format!("{name}: canonical request\n{c}\n!=\n{expected}")),
            Err(e) => tally
                .failures
                .push(format!("{name}: canonical request: {e}")),
        }
    }
    match sigv4::verify(&req, &parsed, case.secret, case.now, DEFAULT_MAX_SKEW) {
        Ok(()) => tally.verified += 1,
        Err(e) => return tally.failures.push(format!("{name}: {e}")),
    }
    for (part, raw) in tampered(&case.signed, &parsed.signed_headers, parsed.presigned) {
        let req = raw.request();
        let outcome = sigv4::parse(&req)
            .and_then(|p| sigv4::verify(&req, &p, case.secret, case.now, DEFAULT_MAX_SKEW));
        match outcome {
            Err(_) => tally.tampered_rejected += 1,
            Ok(()) => tally
                .failures
                .push(format!("{name}: changed {part} still verifies")),
        }
    }
}

/// A path with `.`/`..` or empty segments, which only S3's unnormalized signing keeps as is.
fn needs_normalizing(path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let n = segments.len();
    segments
        .iter()
        .enumerate()
        .any(|(i, s)| matches!(*s, "." | "..") || (s.is_empty() && i + 1 < n))
}

fn read(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

#[test]
fn aws_c_auth_v4_suite() {
    let Some(root) = testdata("sigv4/aws-c-auth-signing-test-suite/v4") else {
        return;
    };
    let mut tally = Tally::default();
    let mut dirs: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let case_name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let context: Value =
            serde_json::from_str(&read(&dir.join("context.json")).unwrap()).unwrap();
        let secret = context["credentials"]["secret_access_key"]
            .as_str()
            .unwrap();
        let now = OffsetDateTime::parse(context["timestamp"].as_str().unwrap(), &Rfc3339).unwrap();
        let normalize = context["normalize"].as_bool().unwrap_or(true);
        let omit_token = context["omit_session_token"].as_bool().unwrap_or(false);
        for form in ["header", "query"] {
            let name = format!("{case_name} ({form})");
            let Some(text) = read(&dir.join(format!("{form}-signed-request.txt"))) else {
                continue;
            };
            let signed = Raw::parse(&text);
            if signed.folded {
                tally.skipped.push(format!(
                    "{name}: obsolete multi-line header folding, which HTTP servers refuse or unfold before the application sees it"
                ));
                continue;
            }
            if !normalize && needs_normalizing(&signed.path) {
                tally.skipped.push(format!(
                    "{name}: signed with S3's unnormalized path; every other service, and this broker, normalizes it"
                ));
                continue;
            }
            if form == "query" && omit_token {
                // X-Amz-Security-Token was appended to the presigned query after signing; every
                // query parameter but X-Amz-Signature is signed, so the broker refuses it.
                let req = signed.request();
                let outcome = sigv4::parse(&req)
                    .and_then(|p| sigv4::verify(&req, &p, secret, now, DEFAULT_MAX_SKEW));
                match outcome {
                    Err(SigV4Error::SignatureDoesNotMatch) => tally.refused_by_design.push(
                        format!("{name}: X-Amz-Security-Token added to the query after signing"),
                    ),
                    other => tally
                        .failures
                        .push(format!("{name}: expected a refusal, got {other:?}")),
                }
                continue;
            }
            let canonical = read(&dir.join(format!("{form}-canonical-request.txt")));
            check(
                &Case {
                    name,
                    signed,
                    canonical,
                    secret,
                    now,
                },
                &mut tally,
            );
        }
    }
    tally.report("aws-c-auth v4");
    assert!(tally.verified >= 60, "{tally:?}");
}

#[test]
fn botocore_aws4_testsuite() {
    let (Some(root), Some(manifest)) = (
        testdata("sigv4/botocore-aws4_testsuite"),
        testdata("sigv4/botocore-aws4_testsuite.json"),
    ) else {
        return;
    };
    let manifest: Value = serde_json::from_str(&read(&manifest).unwrap()).unwrap();
    let secret = manifest["secret_access_key"].as_str().unwrap();
    let now = sigv4_date(manifest["amz_date"].as_str().unwrap());
    let mut sreqs = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "sreq") {
                sreqs.push(path);
            }
        }
    }
    sreqs.sort();
    let mut tally = Tally::default();
    for sreq in sreqs {
        let name = sreq
            .strip_prefix(&root)
            .unwrap()
            .with_extension("")
            .display()
            .to_string();
        let signed = Raw::parse(&read(&sreq).unwrap());
        if signed.folded {
            tally.skipped.push(format!(
                "{name}: obsolete multi-line header folding, which HTTP servers refuse or unfold before the application sees it"
            ));
            continue;
        }
        let mut signed = signed;
        // One .sreq carries another case's signature while its .authz has the right one: the
        // request as written must be refused, and with the .authz header it must verify.
        if let Some(authz) = read(&sreq.with_extension("authz")) {
            let header = signed
                .headers
                .iter_mut()
                .find(|(n, _)| n.eq_ignore_ascii_case("authorization"));
            if let Some(header) = header.filter(|h| h.1.trim() != authz.trim()) {
                let original = header.1.clone();
                header.1 = authz.trim().to_owned();
                let mut wrong = signed.clone();
                if let Some(h) = wrong
                    .headers
                    .iter_mut()
                    .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
                {
                    h.1 = original;
                }
                let req = wrong.request();
                let outcome = sigv4::parse(&req)
                    .and_then(|p| sigv4::verify(&req, &p, secret, now, DEFAULT_MAX_SKEW));
                if outcome == Err(SigV4Error::SignatureDoesNotMatch) {
                    tally.refused_by_design.push(format!(
                        "{name}: the .sreq carries another request's signature, not the .authz's (verified again with the .authz header)"
                    ));
                } else {
                    tally
                        .failures
                        .push(format!("{name}: wrong .sreq signature: {outcome:?}"));
                }
            }
        }
        let canonical = read(&sreq.with_extension("creq"));
        check(
            &Case {
                name,
                signed,
                canonical,
                secret,
                now,
            },
            &mut tally,
        );
    }
    tally.report("botocore aws4_testsuite");
    assert!(tally.verified >= 30, "{tally:?}");
}

fn sigv4_date(s: &str) -> OffsetDateTime {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(s, format)
        .unwrap()
        .assume_utc()
}

#[test]
fn tweak_changes_one_character() {
    assert_eq!(tweak("GET"), "GEU");
    assert_eq!(tweak("20150830T123600Z"), "20150830T123601Z");
    assert_eq!(tweak("zZ"), "zA");
    assert_eq!(tweak(""), "a");
}

/// A credential scope's region is recorded as the key's last use and shown in the credential
/// report (a CSV spreadsheets read): one that is not a region name, such as the formula
/// `=1+1`, is refused before anything is recorded. Signed by the SDK's own signer (the SDK's
/// client refuses such a region before sending).
#[tokio::test]
async fn a_scope_region_that_is_no_region_name_is_refused_and_not_recorded() {
    use crate::harness::broker::TestBroker;
    use crate::harness::signer::Signer;
    use crate::revocation::{ROOT_KEY, ROOT_SECRET, root_config};

    const DAVE_KEY: &str = "AKIADAVEREVOKEAAAAAA";
    const DAVE_SECRET: &str = "daveRevokeSecretAccessKey/EXAMPLE+01234";
    let dir = tempfile::tempdir().unwrap();
    let toml = root_config(dir.path(), Some("Active"), Some("Active"));
    let broker = TestBroker::from_toml(dir, &toml).await;
    // GetCallerIdentity signed by dave for `service` in `region`: status and body.
    let call = |service: &'static str, region: &'static str| {
        let url = format!("{}/", broker.endpoint);
        let body = "Action=GetCallerIdentity&Version=2011-06-15";
        let content_type = ("content-type", "application/x-www-form-urlencoded");
        let signer = Signer::new(DAVE_KEY, DAVE_SECRET, None).in_region(region);
        let mut request = broker
            .http()
            .post(&url)
            .header(content_type.0, content_type.1)
            .body(body);
        for (n, v) in signer.sign(service, "POST", &url, &[content_type], body.as_bytes()) {
            request = request.header(n, v);
        }
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let last_used = || async {
        let out = broker
            .iam_as(ROOT_KEY, ROOT_SECRET)
            .get_access_key_last_used()
            .access_key_id(DAVE_KEY)
            .send()
            .await
            .unwrap();
        out.access_key_last_used().unwrap().region().to_owned()
    };

    for (service, region, what) in [
        ("sts", "=1+1", "region"),
        ("sts", "US-EAST-1", "region"),
        ("sts", "-1", "region"),
        ("sts", "@SUM(1+1)", "region"),
        ("=1+1", "us-east-1", "service"),
    ] {
        let (status, body) = call(service, region).await;
        assert_eq!(status, 400, "{region}: {body}");
        assert!(body.contains("<Code>IncompleteSignature</Code>"), "{body}");
        assert!(
            body.contains(&format!("Credential should be scoped to a valid {what}.")),
            "{body}"
        );
        assert!(!body.contains("1+1"), "{body}");
    }
    assert_eq!(last_used().await, "N/A");
    let (status, body) = call("sts", "eu-west-3").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(last_used().await, "eu-west-3");
}
