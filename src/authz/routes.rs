//! Routes of the `ext_authz` listener: a method and a path pattern mapped to an action and a
//! resource template, first match wins.
//!
//! Patterns are `/`-separated segments: a literal, `{name}` (exactly one non-empty segment) or,
//! last only, `{name+}` (one or more segments, with their slashes). Captured values are
//! percent-decoded and substituted into `{name}` in the action and resource. The query string
//! plays no part. Pure: no I/O.

/// A compiled route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Upper case, or `None` for any (`*`).
    method: Option<String>,
    segments: Vec<Segment>,
    action: String,
    resource: String,
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
        Ok(Route {
            method,
            segments,
            action: action.to_owned(),
            resource: resource.to_owned(),
        })
    }

    /// The action and resource for `method` on `path` (without the query), if this route
    /// matches.
    pub fn matches(&self, method: &str, path: &str) -> Option<Target> {
        if let Some(m) = &self.method
            && !m.eq_ignore_ascii_case(method)
        {
            return None;
        }
        let rest = path.strip_prefix('/')?;
        let mut parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
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
        })
    }
}

/// The first route that matches.
pub fn find(routes: &[Route], method: &str, path: &str) -> Option<Target> {
    routes.iter().find_map(|r| r.matches(method, path))
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

/// `template` with each `{name}` replaced by its captured value, in one pass: a value that
/// itself reads `{other}` stays text.
fn fill(template: &str, captured: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let name = &after[..close];
        match captured.iter().find(|(n, _)| *n == name) {
            Some((_, value)) => out.push_str(value),
            None => out.push_str(&rest[open..open + close + 2]),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Percent-decoded UTF-8 without control characters, or `None`.
fn decode(raw: &str) -> Option<String> {
    let bytes: Vec<u8> = percent_decode(raw);
    let text = String::from_utf8(bytes).ok()?;
    if text.chars().any(char::is_control) {
        return None;
    }
    Some(text)
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|c| hex(*c)),
                b.get(i + 2).and_then(|c| hex(*c)),
            )
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str) -> Route {
        Route::compile(method, path, "s3:GetObject", "arn:aws:s3:::{bucket}/{key}").unwrap()
    }

    #[test]
    fn segments_and_rest_capture() {
        let r = route("GET", "/objects/{bucket}/{key+}");
        let t = r.matches("GET", "/objects/b1/a/b%20c.txt").unwrap();
        assert_eq!(t.resource, "arn:aws:s3:::b1/a/b c.txt");
        assert_eq!(t.action, "s3:GetObject");
        assert_eq!(
            r.matches("get", "/objects/b1/k").unwrap().resource,
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
            assert_eq!(r.matches(method, path), None, "{method} {path}");
        }
    }

    #[test]
    fn exact_lengths_and_any_method() {
        let r = Route::compile("*", "/health/{x}", "svc:Check", "arn:aws:svc:::{x}").unwrap();
        assert!(r.matches("DELETE", "/health/a").is_some());
        assert!(r.matches("GET", "/health/a/b").is_none());
        let root = Route::compile("GET", "/", "svc:Root", "*").unwrap();
        assert!(root.matches("GET", "/").is_some());
        assert!(root.matches("GET", "/a").is_none());
        let routes = [root, r];
        assert_eq!(
            find(&routes, "GET", "/health/z").unwrap().action,
            "svc:Check"
        );
        assert_eq!(find(&routes, "GET", "/nothing"), None);
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
