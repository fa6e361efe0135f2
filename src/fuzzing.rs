//! Entry points for the fuzz targets in `fuzz/` and their replay under `cargo test`
//! (`tests/it/fuzz_regressions.rs`): one function per target, taking the fuzzer's bytes.
//!
//! Each runs one untrusted-input parser the way the service runs it, then checks invariants
//! that must hold for every input. `Ok` means the input was handled (accepted or refused);
//! `Err` names a broken invariant, which the fuzz target turns into a crash. A panic inside is a
//! bug as well. Not part of the broker's API: nothing here is used by the service.
//!
//! Why one long file: one short entry point per fuzz target, each with the invariant it checks,
//! read side by side.

use std::path::Path;

use time::OffsetDateTime;

use crate::config::Config;
use crate::encoding::shorten;
use crate::oidc::{keys, token, verify};
use crate::policy::{
    self, Context, NamedPolicy, PolicySet, PolicyType, Principal, Request, Resource,
};
use crate::query::params::{MAX_PARAMS, Params, lower_first};
use crate::routes::path::{self, CheckedPath};
use crate::routes::{self, Route};
use crate::saml;
use crate::sigv4::{self, Payload, SignedRequest};

/// The outcome of one input; `Err` is a broken invariant.
pub type Outcome = Result<(), String>;

/// Longest input any target looks at; longer ones are cut (the parsers bound themselves well
/// below this, and the fuzzer need not spend time on megabytes).
const MAX_INPUT: usize = 256 * 1024;

fn cut(data: &[u8]) -> &[u8] {
    &data[..data.len().min(MAX_INPUT)]
}

/// `sts_query`: the Query API decoder on a body, and on the input split into a query string
/// and a body that are merged, as `sts::dispatch` does.
pub fn sts_query(data: &[u8]) -> Outcome {
    let data = cut(data);
    let whole = Params::parse(data);
    if let Ok(params) = &whole {
        if params.len() > MAX_PARAMS {
            return Err(format!("{} parameters decoded", params.len()));
        }
        for name in ["Tags", "PolicyArns", "TransitiveTagKeys", "ActionNames"] {
            let _ = params.list(name, None, 50);
            let _ = params.list(name, Some("Key"), 50);
        }
        for name in ["Action", "Version", "Policy", "RoleArn"] {
            if let Some(value) = params.get(name) {
                let _ = shorten(value);
                let _ = lower_first(value);
            }
        }
    }
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (query, body) = data.split_at(split);
    if let (Ok(mut q), Ok(b)) = (Params::parse(query), Params::parse(body)) {
        let both = q.len() + b.len();
        match q.merge(b) {
            Ok(()) if q.len() != both || both > MAX_PARAMS => {
                return Err(format!("merge kept {} of {both} parameters", q.len()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The access key id of the AWS SigV4 test suites (public example values).
pub const SIGV4_ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
/// The secret of the AWS SigV4 test suites (a public example value, not a credential).
pub const SIGV4_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// `sigv4`: a request in the AWS test suites' text form (request line, `Name:value` header
/// lines, a blank line, the body) through `parse`, `canonical_request`, `string_to_sign` and
/// `verify` with the suites' secret at the suites' time (2015-08-30T12:36:00Z). A request that
/// verifies must stop verifying when its signature changes.
pub fn sigv4(data: &[u8]) -> Outcome {
    with_request(data, |req| {
        let Ok(parsed) = sigv4::parse(req) else {
            return Ok(());
        };
        let canonical = sigv4::canonical_request(req, &parsed);
        if canonical != sigv4::canonical_request(req, &parsed) {
            return Err("canonical request is not deterministic".to_owned());
        }
        if let Ok(canonical) = &canonical {
            let _ = sigv4::string_to_sign(&parsed, canonical);
        }
        let _ = sigv4::canonical_request_for(req, &parsed, Payload::Declared);
        if verifies(req, &parsed, SIGV4_SECRET) {
            if parsed.credential.access_key_id.is_empty() {
                return Err("verified with an empty access key id".to_owned());
            }
            let mut tampered = parsed.clone();
            tampered.signature = flip_hex_digit(&parsed.signature);
            if verifies(req, &tampered, SIGV4_SECRET) {
                return Err("a changed signature verified".to_owned());
            }
            if verifies(req, &parsed, "another secret") {
                return Err("verified under another secret".to_owned());
            }
        }
        Ok(())
    })
}

/// Whether the request in `data` (the `sigv4` target's form) verifies with the suites' secret.
pub fn sigv4_verifies(data: &[u8]) -> bool {
    with_request(data, |req| match sigv4::parse(req) {
        Ok(parsed) if verifies(req, &parsed, SIGV4_SECRET) => Ok(()),
        _ => Err(String::new()),
    })
    .is_ok()
}

fn verifies(req: &SignedRequest, parsed: &sigv4::Parsed, secret: &str) -> bool {
    // The suites' time, 2015-08-30T12:36:00Z.
    OffsetDateTime::from_unix_timestamp(1_440_938_160)
        .is_ok_and(|now| sigv4::verify(req, parsed, secret, now, sigv4::DEFAULT_MAX_SKEW).is_ok())
}

/// Reads the suites' request text into a [`SignedRequest`] for `run`.
fn with_request(data: &[u8], run: impl FnOnce(&SignedRequest) -> Outcome) -> Outcome {
    let text = String::from_utf8_lossy(cut(data));
    let (head, body) = match text.find("\n\n") {
        Some(i) => (&text[..i], &text.as_bytes()[i + 2..]),
        None => (&text[..], &[][..]),
    };
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let (method, target) = request_line.split_once(' ').unwrap_or((request_line, ""));
    let target = match target.rsplit_once(' ') {
        Some((target, version)) if version.starts_with("HTTP/") => target,
        _ => target,
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        match (line.split_once(':'), headers.last_mut()) {
            (_, Some(last)) if line.starts_with([' ', '\t']) => {
                last.1.push('\n');
                last.1.push_str(line);
            }
            (Some((name, value)), _) => headers.push((name.to_owned(), value.to_owned())),
            (None, _) => {}
        }
    }
    run(&SignedRequest {
        method,
        path,
        query,
        headers: &headers,
        body,
    })
}

fn flip_hex_digit(signature: &str) -> String {
    let mut out: Vec<char> = signature.chars().collect();
    if let Some(c) = out.first_mut() {
        *c = if *c == '0' { '1' } else { '0' };
    }
    out.into_iter().collect()
}

const POLICY_TYPES: [PolicyType; 8] = [
    PolicyType::Identity,
    PolicyType::Resource,
    PolicyType::Trust,
    PolicyType::PermissionsBoundary,
    PolicyType::Session,
    PolicyType::Scp,
    PolicyType::Rcp,
    PolicyType::Endpoint,
];

/// `policy`: the first byte picks the policy type, the rest is the document. Any document gets
/// `ValidatePolicy` findings placed inside it, exactly one `ERROR` when it does not parse. A
/// document that parses must lint, parse again from its minified JSON to the same compiled
/// policy, and decide a fixed set of requests identically in both forms.
pub fn policy(data: &[u8]) -> Outcome {
    let Some((first, rest)) = cut(data).split_first() else {
        return Ok(());
    };
    let policy_type = POLICY_TYPES[usize::from(*first) % POLICY_TYPES.len()];
    let Ok(text) = std::str::from_utf8(rest) else {
        return Ok(());
    };
    let findings = policy::validate_policy(text, policy_type);
    let chars = text.chars().count();
    let outside = findings
        .iter()
        .flat_map(|f| &f.locations)
        .any(|l| l.span.start.offset > l.span.end.offset || l.span.end.offset > chars);
    if outside {
        return Err("a finding's span lies outside the document".to_owned());
    }
    let Ok(parsed) = policy::parse(text, policy_type) else {
        let errors = findings
            .iter()
            .filter(|f| f.finding_type == policy::FindingType::Error)
            .count();
        if errors != 1 {
            return Err(format!("a refused document has {errors} ERROR findings"));
        }
        return Ok(());
    };
    let _ = policy::lint(&parsed, policy_type);
    let minified = minify(text)?;
    let again = policy::parse(&minified, policy_type)
        .map_err(|e| format!("the minified form does not parse: {e}"))?;
    if again != parsed {
        return Err("the minified form compiles to another policy".to_owned());
    }
    let first = decisions(&parsed, policy_type);
    if first != decisions(&again, policy_type) {
        return Err("the minified form decides differently".to_owned());
    }
    Ok(())
}

/// `text` as compact JSON, keys in document order: the form a stored session policy takes.
pub fn minify(text: &str) -> Result<String, String> {
    serde_json::from_str::<serde_json::Value>(text)
        .and_then(|v| serde_json::to_string(&v))
        .map_err(|e| format!("a parsed policy is not JSON: {e}"))
}

/// The decisions of `policy`, in the place its type takes in a decision (next to an identity
/// policy allowing everything where it only limits), on a few fixed requests.
pub fn decisions(policy: &policy::Policy, policy_type: PolicyType) -> Vec<String> {
    let allow_all = policy::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        PolicyType::Identity,
    )
    .map(|p| vec![NamedPolicy::new("allow-all", p)])
    .unwrap_or_default();
    let subject = vec![NamedPolicy::new("subject", policy.clone())];
    let levels = vec![subject.clone()];
    let mut set = PolicySet {
        identity: &allow_all,
        ..PolicySet::default()
    };
    match policy_type {
        PolicyType::Identity => set.identity = &subject,
        PolicyType::Resource | PolicyType::Trust => {
            set.resource = subject.first();
            set.resource_type = policy_type;
        }
        PolicyType::PermissionsBoundary => set.boundary = &subject,
        PolicyType::Session => set.session = &subject,
        PolicyType::Scp => set.scps = &levels,
        PolicyType::Rcp => set.rcps = &levels,
        PolicyType::Endpoint => set.endpoint = &subject,
    }
    fixed_requests()
        .iter()
        .map(|r| format!("{:?}", policy::decide(r, &set).decision))
        .collect()
}

fn fixed_requests() -> Vec<Request> {
    let mut ctx = Context::new();
    ctx.insert("aws:username", "alice");
    ctx.insert("aws:SourceIp", "10.1.2.3");
    ctx.insert("aws:SecureTransport", "true");
    ctx.insert("aws:PrincipalTag/team", "data");
    ctx.insert("aws:CurrentTime", "2024-01-01T00:00:00Z");
    let questions = [
        (
            "arn:aws:iam::111122223333:user/alice",
            "s3:GetObject",
            "arn:aws:s3:::data/alice/report.csv",
        ),
        (
            "arn:aws:sts::111122223333:assumed-role/reader/alice",
            "sts:AssumeRole",
            "arn:aws:iam::111122223333:role/deploy",
        ),
        (
            "arn:aws:iam::444455556666:root",
            "ec2:DescribeInstances",
            "*",
        ),
    ];
    questions
        .iter()
        .filter_map(|(principal, action, resource)| {
            let principal = Principal::parse(principal)?;
            let resource = Resource::new(*resource).with_account("111122223333");
            Some(Request::new(principal, action, resource, ctx.clone()))
        })
        .collect()
}

/// A web identity token checker with one fixed key set, mirroring `oidc::Registry::verify`
/// without its key cache: parse, key lookup, signature, claims.
#[derive(Debug)]
pub struct Jwt {
    keys: keys::KeySet,
    issuer: String,
    client_ids: Vec<String>,
}

impl Jwt {
    /// The issuer the `jwt` target's tokens name.
    pub const ISSUER: &'static str = "https://issuer.fuzz.example";
    /// The audience the `jwt` target accepts.
    pub const CLIENT_ID: &'static str = "fuzz-client";
    /// The `jwt` target's "now" (2023-11-14T22:13:20Z).
    pub const NOW: i64 = 1_700_000_000;

    /// A checker trusting the keys of `jwks` (a JWK set document).
    pub fn new(jwks: &[u8]) -> Result<Jwt, String> {
        Ok(Jwt {
            keys: keys::KeySet::from_json(jwks).map_err(|e| e.to_string())?,
            issuer: Jwt::ISSUER.to_owned(),
            client_ids: vec![Jwt::CLIENT_ID.to_owned()],
        })
    }

    /// `jwt`: checks `data` as a token. A token that verifies must have a non-empty subject
    /// and stop verifying when a signature character changes.
    pub fn check(&self, data: &[u8]) -> Outcome {
        let Ok(text) = std::str::from_utf8(cut(data)) else {
            return Ok(());
        };
        let token = text.trim();
        match self.verify(token) {
            Some(subject) if subject.is_empty() => Err("verified an empty subject".to_owned()),
            Some(_) => {
                let (input, signature) = token.rsplit_once('.').unwrap_or_default();
                let mut sig: Vec<char> = signature.chars().collect();
                let middle = sig.len() / 2;
                if let Some(c) = sig.get_mut(middle) {
                    *c = if *c == 'A' { 'B' } else { 'A' };
                }
                let tampered = format!("{input}.{}", sig.into_iter().collect::<String>());
                match self.verify(&tampered) {
                    Some(_) => Err("a changed signature verified".to_owned()),
                    None => Ok(()),
                }
            }
            None => Ok(()),
        }
    }

    /// The subject of `token` if it verifies.
    pub fn verify(&self, token: &str) -> Option<String> {
        let jws = token::parse(token).ok()?;
        let alg = jws.algorithm().ok()?;
        if jws.issuer().ok()? != self.issuer {
            return None;
        }
        let keys::Lookup::Found(index) = self.keys.find(jws.kid(), alg) else {
            return None;
        };
        self.keys
            .get(index)?
            .verify(alg, jws.signing_input(), jws.signature())
            .ok()?;
        let expect = verify::Expectations {
            issuer: &self.issuer,
            client_ids: &self.client_ids,
            accepted_issuers: &[],
            leeway: std::time::Duration::from_secs(60),
        };
        let now = OffsetDateTime::from_unix_timestamp(Jwt::NOW).ok()?;
        let checked = verify::check_claims(jws.claims(), &expect, now).ok()?;
        Some(checked.subject)
    }
}

/// `saml`: a response document (XML text, not base64) through the bounded DOM reader and the
/// signature shape rules that run before any cryptography; the text is also tried as base64.
pub fn saml(data: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(cut(data)) else {
        return Ok(());
    };
    if let Ok(xml) = saml::decode(text) {
        let _ = saml::dom::parse(&xml);
    }
    for allow_sha1 in [false, true] {
        if let Ok(shape) = saml::signature::check_response_shape(text, allow_sha1) {
            if shape.response_id.is_empty() || shape.assertion_id.is_empty() {
                return Err("a response passed the shape rules without ids".to_owned());
            }
            if !shape.raw.is(saml::NS_PROTOCOL, "Response") {
                return Err("a non-Response passed the shape rules".to_owned());
            }
        }
    }
    Ok(())
}

/// `routes`: the first line is the request (`METHOD PATH`), each further line a route
/// (`METHOD PATTERN ACTION RESOURCE`). Whatever matches must match again the same way and
/// yield a resource that keeps the literal text around its template's variables.
pub fn routes(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(cut(data));
    let mut lines = text.lines();
    let request = lines.next().unwrap_or_default();
    let (method, raw_path) = request.split_once(' ').unwrap_or((request, "/"));
    let mut compiled: Vec<(Route, [&str; 3])> = Vec::new();
    for line in lines.take(16) {
        let mut words = line.split(' ');
        let (Some(m), Some(p), Some(a), Some(r)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            continue;
        };
        if let Ok(route) = Route::compile(m, p, a, r) {
            compiled.push((route, [p, a, r]));
        }
    }
    let Ok(path) = path::check(raw_path) else {
        return Ok(());
    };
    path_rule_holds(&path)?;
    let all: Vec<Route> = compiled.iter().map(|(r, _)| r.clone()).collect();
    let found = routes::find(&all, method, &path);
    if found != routes::find(&all, method, &path) {
        return Err("route matching is not deterministic".to_owned());
    }
    let Some(target) = found else {
        return Ok(());
    };
    let Some((route, [pattern, action, resource])) = compiled
        .iter()
        .find(|(r, _)| r.matches(method, &path).is_some())
    else {
        return Err("find matched but no route matches".to_owned());
    };
    resource_within_template(&target.resource, resource)?;
    captures_stay_text(
        route,
        [pattern, action, resource],
        method,
        raw_path,
        &target,
    )
}

/// What the path rule promises of a path it accepts: no dot or empty segment, no backslash or
/// control byte, and each segment decoded once holds no separator and no `%` (nothing is left
/// to decode a second time).
fn path_rule_holds(path: &CheckedPath<'_>) -> Outcome {
    let raw = path.as_str();
    if !raw.starts_with('/')
        || raw.contains("//")
        || raw.bytes().any(|b| b == b'\\' || b.is_ascii_control())
    {
        return Err(format!("accepted {raw:?}"));
    }
    for segment in path.segments() {
        // Not every accepted segment is UTF-8 text once decoded; those have nothing to check.
        let Some(decoded) = path::decode(segment) else {
            continue;
        };
        if decoded.is_empty()
            || decoded == "."
            || decoded == ".."
            || decoded.contains(['/', '\\', '%'])
        {
            return Err(format!("accepted {raw:?} with segment {decoded:?}"));
        }
    }
    Ok(())
}

/// A captured value is text, never template: the same path with its braces (`{`, `%7B`...)
/// made brackets must give the same action and resource with braces made brackets. Checked
/// only where the route's own text has no brace outside its variables.
fn captures_stay_text(
    route: &Route,
    [pattern, action, resource]: [&str; 3],
    method: &str,
    path: &str,
    target: &routes::Target,
) -> Outcome {
    let outside_variables = |template: &str| -> String {
        let mut parts = template.split('{');
        let first = parts.next().unwrap_or_default();
        parts.fold(first.to_owned(), |text, p| {
            text + p.split_once('}').map_or(p, |(_, t)| t)
        })
    };
    let route_text = [pattern, action, resource].map(outside_variables).concat();
    if route_text.contains(['{', '}']) || route_text.to_ascii_lowercase().contains("%7") {
        return Ok(());
    }
    let swapped = ["%7B", "%7b"]
        .iter()
        .fold(path.to_owned(), |p, from| p.replace(from, "%5B"));
    let swapped = ["%7D", "%7d"]
        .iter()
        .fold(swapped, |p, from| p.replace(from, "%5D"))
        .replace('{', "[")
        .replace('}', "]");
    let brackets = |text: &str| text.replace('{', "[").replace('}', "]");
    let Ok(checked) = path::check(&swapped) else {
        return Err(format!("{swapped:?} is refused where {path:?} is not"));
    };
    let Some(other) = route.matches(method, &checked) else {
        return Err(format!("{swapped:?} does not match where {path:?} does"));
    };
    if other.resource != brackets(&target.resource) || other.action != brackets(&target.action) {
        return Err(format!(
            "a captured value was read as a template: {:?} for {path:?}, {:?} for {swapped:?}",
            target.resource, other.resource
        ));
    }
    Ok(())
}

/// `resource` keeps the template's text before its first and after its last variable.
pub fn resource_within_template(resource: &str, template: &str) -> Outcome {
    let prefix = template.split('{').next().unwrap_or_default();
    let suffix = template.rsplit('}').next().unwrap_or_default();
    if !template.contains('{') {
        return match resource == template {
            true => Ok(()),
            false => Err(format!("{resource:?} is not the literal {template:?}")),
        };
    }
    if resource.starts_with(prefix) && resource.ends_with(suffix) {
        Ok(())
    } else {
        Err(format!("{resource:?} is outside the template {template:?}"))
    }
}

/// `config`: configuration text through the TOML reader and every check, with no environment
/// variables and relative paths resolved under a directory that does not exist.
pub fn config(data: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(cut(data)) else {
        return Ok(());
    };
    let base = Path::new("/nonexistent/sts-broker-fuzz");
    match Config::from_toml_with_env(text, "fuzz.toml", base, &|_| None) {
        Ok(_) => Ok(()),
        Err(e) if e.issues.is_empty() => Err("a refused configuration names no problem".to_owned()),
        Err(e) => {
            let lines = text.lines().count() + 1;
            match e.issues.iter().find(|i| i.line.is_some_and(|l| l > lines)) {
                Some(i) => Err(format!("problem located past the end: {i}")),
                None => Ok(()),
            }
        }
    }
}
