//! Routes of the `ext_authz` listener: a method and a path pattern mapped to an action and a
//! resource template, first match wins; the query string plays no part. Paths are matched only
//! once they passed the path rule ([`path::check`]). Pure: no I/O; [`resolve`] is the whole of
//! it, from the raw path to the action and resource.

pub mod path;

use self::path::{CheckedPath, PathError};

/// A compiled route. Its pattern is `/`-separated segments: a literal, `{name}` (exactly one
/// segment) or, last only, `{name+}` (one or more segments, with their slashes). Captured values
/// are percent-decoded exactly once and substituted, in one pass, into `{name}` in the action and
/// resource (a captured `{x}` stays text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Upper case, or `None` for any (`*`).
    method: Option<String>,
    segments: Vec<Segment>,
    action: String,
    resource: String,
    /// The service signatures must be scoped to, when not the action's prefix (the default:
    /// `s3` for `s3:GetObject`).
    service: Option<String>,
    /// Whether presigned URLs are accepted (not by default).
    allow_presigned: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    One(String),
    Rest(String),
}

/// What a route made of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub action: String,
    pub resource: String,
    /// The service the request's signature must be scoped to.
    pub service: String,
    /// Whether a presigned URL may stand for the request.
    pub allow_presigned: bool,
}

impl Route {
    /// Compiles a route; the message says what is wrong with it.
    pub fn compile(
        method: &str,
        path: &str,
        action: &str,
        resource: &str,
    ) -> Result<Route, String> {
        let method = match method {
            "*" => None,
            m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic()) => {
                Some(m.to_ascii_uppercase())
            }
            m => return Err(format!("method {m:?} is not a method name or *")),
        };
        let Some(rest) = path.strip_prefix('/') else {
            return Err(format!("path {path:?} must start with /"));
        };
        let mut segments = Vec::new();
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        for (i, part) in parts.iter().enumerate() {
            let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => match name.strip_suffix('+') {
                    Some(name) if i + 1 == parts.len() => Segment::Rest(var_name(name)?),
                    Some(_) => return Err(format!("{{{name}}} must be the last segment")),
                    None => Segment::One(var_name(name)?),
                },
                None if part.contains(['{', '}']) => {
                    return Err(format!("segment {part:?} mixes text and a variable"));
                }
                None => Segment::Literal((*part).to_owned()),
            };
            segments.push(segment);
        }
        let names: Vec<&str> = segments
            .iter()
            .filter_map(|s| match s {
                Segment::One(n) | Segment::Rest(n) => Some(n.as_str()),
                Segment::Literal(_) => None,
            })
            .collect();
        for template in [action, resource] {
            for used in template_vars(template)? {
                if !names.contains(&used) {
                    return Err(format!("{{{used}}} is not captured by the path {path:?}"));
                }
            }
        }
        if action.is_empty() || resource.is_empty() {
            return Err("action and resource must not be empty".to_owned());
        }
        // The service must not come from the request: a captured service would let the client
        // choose the scope its signature is checked against.
        match action.split_once(':') {
            Some((svc, _)) if is_service_name(svc) => {}
            _ => {
                return Err(format!(
                    "action {action:?} must start with a literal service prefix (service:...)"
                ));
            }
        }
        Ok(Route {
            method,
            segments,
            action: action.to_owned(),
            resource: resource.to_owned(),
            service: None,
            allow_presigned: false,
        })
    }

    /// The service signatures must be scoped to, instead of the action's prefix.
    pub fn with_service(mut self, service: &str) -> Result<Route, String> {
        if !is_service_name(service) {
            return Err(format!(
                "service {service:?} is not a service name (lower-case letters, digits, -)"
            ));
        }
        self.service = Some(service.to_owned());
        Ok(self)
    }

    /// Accepts presigned URLs (query-string signatures) for this route.
    pub fn with_presigned(mut self, allow: bool) -> Route {
        self.allow_presigned = allow;
        self
    }

    /// The service requests on this route must be signed for.
    pub fn service(&self) -> &str {
        match &self.service {
            Some(s) => s,
            None => self.action.split_once(':').map_or("", |(s, _)| s),
        }
    }

    /// The action and resource for `method` on `path`, if this route matches.
    pub fn matches(&self, method: &str, path: &CheckedPath<'_>) -> Option<Target> {
        if let Some(m) = &self.method
            && !m.eq_ignore_ascii_case(method)
        {
            return None;
        }
        let mut parts: Vec<&str> = path.segments().collect();
        let mut captured: Vec<(&str, String)> = Vec::new();
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Literal(l) => {
                    if parts.get(i) != Some(&l.as_str()) {
                        return None;
                    }
                }
                Segment::One(name) => {
                    let part = parts.get(i).filter(|p| !p.is_empty())?;
                    captured.push((name, decode(part)?));
                }
                Segment::Rest(name) => {
                    let tail = parts.get(i..).filter(|t| !t.is_empty())?.join("/");
                    if tail.is_empty() {
                        return None;
                    }
                    captured.push((name, decode(&tail)?));
                    parts.truncate(i + 1);
                    break;
                }
            }
        }
        let consumed = match self.segments.last() {
            Some(Segment::Rest(_)) => parts.len(),
            _ => self.segments.len(),
        };
        if parts.len() != consumed {
            return None;
        }
        Some(Target {
            action: fill(&self.action, &captured),
            resource: fill(&self.resource, &captured),
            service: self.service().to_owned(),
            allow_presigned: self.allow_presigned,
        })
    }
}

/// The first route that matches a checked path.
pub fn find(routes: &[Route], method: &str, path: &CheckedPath<'_>) -> Option<Target> {
    routes.iter().find_map(|r| r.matches(method, path))
}

/// The path rule, then route matching: `Err` when the raw path (as on the wire, without the
/// query) is refused, `Ok(None)` when no route matches.
pub fn resolve(
    routes: &[Route],
    method: &str,
    raw_path: &str,
) -> Result<Option<Target>, PathError> {
    let checked = path::check(raw_path)?;
    Ok(find(routes, method, &checked))
}

/// A service name as credential scopes carry it: lower-case letters, digits and `-`, not first
/// (what `sigv4` reads in a scope).
pub fn is_service_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn var_name(name: &str) -> Result<String, String> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "{{{name}}} is not a variable name (letters, digits, _)"
        ))
    }
}

fn template_vars(template: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed {{ in {template:?}"))?;
        out.push(&after[..close]);
        rest = &after[close + 1..];
    }
    Ok(out)
}

/// `template` with each `{name}` replaced by its captured value, in one pass: a value is never
/// read as a template.
fn fill(template: &str, captured: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match captured.iter().find(|(n, _)| *n == name) {
                    Some((_, value)) => out.push_str(value),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn decode(raw: &str) -> Option<String> {
    path::decode(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str) -> Route {
        Route::compile(method, path, "s3:GetObject", "arn:aws:s3:::{bucket}/{key}").unwrap()
    }

    fn at(r: &Route, method: &str, raw: &str) -> Option<Target> {
        resolve(std::slice::from_ref(r), method, raw).ok().flatten()
    }

    #[test]
    fn segments_and_rest_capture() {
        let r = route("GET", "/objects/{bucket}/{key+}");
        let t = at(&r, "GET", "/objects/b1/a/b%20c.txt").unwrap();
        assert_eq!(t.resource, "arn:aws:s3:::b1/a/b c.txt");
        assert_eq!(t.action, "s3:GetObject");
        assert_eq!(t.service, "s3");
        assert!(!t.allow_presigned);
        assert_eq!(
            at(&r, "get", "/objects/b1/k").unwrap().resource,
            "arn:aws:s3:::b1/k"
        );
        for (method, path) in [
            ("PUT", "/objects/b1/k"),
            ("GET", "/objects/b1"),
            ("GET", "/objects/b1/"),
            ("GET", "/objects//k"),
            ("GET", "/other/b1/k"),
            ("GET", "objects/b1/k"),
            ("GET", "/objects/b1/%00"),
        ] {
            assert_eq!(at(&r, method, path), None, "{method} {path}");
        }
    }

    #[test]
    fn paths_that_could_name_another_resource_are_refused() {
        let r = route("GET", "/objects/{bucket}/{key+}");
        for raw in [
            "/objects/alice-bucket/../bob-bucket/secret",
            "/objects/alice-bucket/%2e%2e/bob-bucket/secret",
            "/objects/alice-bucket/%2E%2E%2Fbob-bucket%2Fsecret",
            "/objects/alice-bucket/..%2fbob-bucket/secret",
            "/objects/alice-bucket/..%5Cbob-bucket/secret",
            "/objects/alice-bucket/.%2e/bob-bucket/secret",
            "/objects/alice-bucket/%252e%252e/bob-bucket/secret",
            "/objects/alice-bucket/./secret",
            "/objects/alice-bucket//secret",
            "/objects/alice-bucket\\..\\bob-bucket/secret",
        ] {
            assert!(
                resolve(std::slice::from_ref(&r), "GET", raw).is_err(),
                "{raw}"
            );
        }
    }

    #[test]
    fn captured_text_is_never_read_as_a_template() {
        let r = route("GET", "/objects/{bucket}/{key+}");
        let t = at(&r, "GET", "/objects/%7Bkey%7D/x").unwrap();
        assert_eq!(t.resource, "arn:aws:s3:::{key}/x");
    }

    #[test]
    fn service_and_presigned_per_route() {
        let r = route("GET", "/o/{bucket}/{key+}")
            .with_service("execute-api")
            .unwrap()
            .with_presigned(true);
        let t = at(&r, "GET", "/o/b/k").unwrap();
        assert_eq!(t.service, "execute-api");
        assert!(t.allow_presigned);
        let plain = Route::compile("GET", "/o", "s3:ListBuckets", "*").unwrap();
        assert!(plain.with_service("S3").is_err());
        assert!(Route::compile("GET", "/{svc}", "{svc}:Get", "*").is_err());
        assert!(Route::compile("GET", "/{a}", "s3:{a}", "*").is_ok());
    }

    proptest::proptest! {
        /// Whatever the path, a match names the bucket of its first segment and a key whose
        /// segments are neither empty nor dot segments, each decoded once.
        #[test]
        fn a_match_never_leaves_its_pattern(raw in "(/[a.%25fFeE5cC/\\\\]{0,6}){1,5}") {
            let r = route("GET", "/objects/{bucket}/{key+}");
            let path = format!("/objects{raw}");
            if let Ok(Some(t)) = resolve(std::slice::from_ref(&r), "GET", &path) {
                let segments: Vec<&str> = path.split('/').skip(2).collect();
                let bucket = decode(segments[0]).unwrap();
                let key: Vec<String> =
                    segments[1..].iter().map(|s| decode(s).unwrap()).collect();
                proptest::prop_assert!(!bucket.contains('/'));
                for k in &key {
                    proptest::prop_assert!(!k.is_empty() && k != "." && k != "..");
                    proptest::prop_assert!(!k.contains('/') && !k.contains('\\'));
                }
                proptest::prop_assert_eq!(
                    t.resource,
                    format!("arn:aws:s3:::{bucket}/{}", key.join("/"))
                );
            }
        }
    }

    #[test]
    fn exact_lengths_and_any_method() {
        let r = Route::compile("*", "/health/{x}", "svc:Check", "arn:aws:svc:::{x}").unwrap();
        assert!(at(&r, "DELETE", "/health/a").is_some());
        assert!(at(&r, "GET", "/health/a/b").is_none());
        let root = Route::compile("GET", "/", "svc:Root", "*").unwrap();
        assert!(at(&root, "GET", "/").is_some());
        assert!(at(&root, "GET", "/a").is_none());
        let routes = [root, r];
        assert_eq!(
            resolve(&routes, "GET", "/health/z")
                .unwrap()
                .unwrap()
                .action,
            "svc:Check"
        );
        assert_eq!(resolve(&routes, "GET", "/nothing"), Ok(None));
    }

    #[test]
    fn bad_routes_are_refused() {
        for (method, path, resource) in [
            ("GET", "objects/{b}", "*"),
            ("GET", "/{rest+}/x", "*"),
            ("GET", "/a{b}", "*"),
            ("G T", "/a", "*"),
            ("GET", "/{b}", "arn:{unknown}"),
            ("GET", "/{b-c}", "*"),
            ("GET", "/{b}", "arn:{b"),
            ("GET", "/{b}", ""),
        ] {
            assert!(
                Route::compile(method, path, "s3:GetObject", resource).is_err(),
                "{method} {path} {resource}"
            );
        }
    }
}
