//! Policy variables: `${aws:username}`, `${aws:PrincipalTag/team, 'default'}` and the escapes
//! `${*}`, `${?}`, `${$}` (IAM User Guide, "IAM policy elements: Variables and tags").
//!
//! Only documents with `"Version": "2012-10-17"` substitute variables; in older documents the
//! text is literal. A variable naming a key that is absent (and has no default) or multi-valued
//! makes the whole value unresolvable, which matches nothing.

use super::context::Context;
use super::glob::{self, Token};

/// One piece of a value that may contain variables.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Policy text; `*` and `?` in it are wildcards where the operator allows them.
    Text(Box<str>),
    /// An escaped character or a substituted value: never a wildcard.
    Literal(Box<str>),
    Var {
        /// Lower-cased context key.
        key: Box<str>,
        default: Option<Box<str>>,
    },
}

/// A policy value compiled once: either plain text or text with variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    raw: Box<str>,
    parts: Box<[Part]>,
    dynamic: bool,
}

impl Template {
    /// Compiles `raw`; `substitute` is false for documents older than 2012-10-17.
    pub fn new(raw: &str, substitute: bool) -> Template {
        let parts = if substitute {
            parse(raw)
        } else {
            vec![Part::Text(raw.into())]
        };
        let dynamic = parts.iter().any(|p| matches!(p, Part::Var { .. }));
        Template {
            raw: raw.into(),
            parts: parts.into_boxed_slice(),
            dynamic,
        }
    }

    /// The value as written in the policy.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Whether the value refers to the request context.
    pub fn is_dynamic(&self) -> bool {
        self.dynamic
    }

    /// Context keys the value refers to (lower-cased).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var { key, .. } => Some(&**key),
            _ => None,
        })
    }

    /// The value with variables and escapes resolved, wildcards left as characters.
    pub fn resolve(&self, ctx: &Context) -> Option<String> {
        let mut out = String::with_capacity(self.raw.len());
        for part in self.parts.iter() {
            match part {
                Part::Text(t) | Part::Literal(t) => out.push_str(t),
                Part::Var { key, default } => out.push_str(lookup(ctx, key, default.as_deref())?),
            }
        }
        Some(out)
    }

    /// The value as wildcard tokens: policy text may hold wildcards, substituted values never do.
    pub fn tokens(&self, ctx: &Context) -> Option<Vec<Token>> {
        let mut out = Vec::with_capacity(self.parts.len());
        for part in self.parts.iter() {
            match part {
                Part::Text(t) => out.extend(glob::tokenize(t)),
                Part::Literal(t) => out.push(Token::Lit(t.clone())),
                Part::Var { key, default } => {
                    out.push(Token::Lit(lookup(ctx, key, default.as_deref())?.into()))
                }
            }
        }
        Some(out)
    }

    /// Tokens for a value without variables (escapes still literal).
    pub fn static_tokens(&self) -> Vec<Token> {
        self.tokens(&Context::default()).unwrap_or_default()
    }
}

fn lookup<'c>(ctx: &'c Context, key: &str, default: Option<&'c str>) -> Option<&'c str> {
    match ctx.get_lower(key) {
        Some(value) => value.single(),
        None => default,
    }
}

/// Splits raw text into literal text, escapes and variables. Malformed `${` sequences stay text.
fn parse(raw: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        let (before, after) = rest.split_at(start);
        text.push_str(before);
        let inner_and_rest = after.get(2..).unwrap_or("");
        let Some(end) = inner_and_rest.find('}') else {
            text.push_str(after);
            rest = "";
            break;
        };
        let inner = inner_and_rest.get(..end).unwrap_or("");
        let part = match inner {
            "*" | "?" | "$" => Some(Part::Literal(inner.into())),
            _ => parse_var(inner),
        };
        match part {
            Some(part) => {
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text).into()));
                }
                parts.push(part);
            }
            None => text.push_str(after.get(..end + 3).unwrap_or(after)),
        }
        rest = inner_and_rest.get(end + 1..).unwrap_or("");
    }
    text.push_str(rest);
    if !text.is_empty() {
        parts.push(Part::Text(text.into()));
    }
    parts
}

/// `key` or `key, 'default'`.
fn parse_var(inner: &str) -> Option<Part> {
    let (key, default) = match inner.split_once(',') {
        Some((key, default)) => {
            let default = default.trim();
            let default = default.strip_prefix('\'')?.strip_suffix('\'')?;
            (key.trim(), Some(default.into()))
        }
        None => (inner.trim(), None),
    };
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":/_-.@+=,".contains(c));
    valid.then(|| Part::Var {
        key: key.to_ascii_lowercase().into(),
        default,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::context::ContextValue;

    fn ctx() -> Context {
        let mut c = Context::default();
        c.insert("aws:username", "bob");
        c.insert("aws:PrincipalTag/team", "blue*");
        c.insert_value(
            "aws:TagKeys",
            ContextValue::Multi(vec!["a".into(), "b".into()]),
        );
        c
    }

    #[test]
    fn resolves_variables_case_insensitively() {
        let t = Template::new("home/${AWS:UserName}/*", true);
        assert!(t.is_dynamic());
        assert_eq!(t.resolve(&ctx()).as_deref(), Some("home/bob/*"));
        assert_eq!(t.keys().collect::<Vec<_>>(), ["aws:username"]);
    }

    #[test]
    fn old_version_is_literal() {
        let t = Template::new("home/${aws:username}", false);
        assert!(!t.is_dynamic());
        assert_eq!(t.resolve(&ctx()).as_deref(), Some("home/${aws:username}"));
    }

    #[test]
    fn missing_and_multivalued_keys_do_not_resolve() {
        assert_eq!(Template::new("${aws:userid}", true).resolve(&ctx()), None);
        assert_eq!(Template::new("${aws:TagKeys}", true).resolve(&ctx()), None);
    }

    #[test]
    fn defaults_apply_only_when_absent() {
        let t = Template::new("${aws:PrincipalTag/dept, 'company-wide'}", true);
        assert_eq!(t.resolve(&ctx()).as_deref(), Some("company-wide"));
        let t = Template::new("${aws:username, 'nobody'}", true);
        assert_eq!(t.resolve(&ctx()).as_deref(), Some("bob"));
    }

    #[test]
    fn escapes_and_substitutions_are_never_wildcards() {
        let t = Template::new("a${*}b${?}${$}/${aws:PrincipalTag/team}*", true);
        let tokens = t.tokens(&ctx()).unwrap();
        assert_eq!(
            tokens,
            vec![
                Token::Lit("a".into()),
                Token::Lit("*".into()),
                Token::Lit("b".into()),
                Token::Lit("?".into()),
                Token::Lit("$".into()),
                Token::Lit("/".into()),
                Token::Lit("blue*".into()),
                Token::Star,
            ]
        );
        assert_eq!(t.resolve(&ctx()).as_deref(), Some("a*b?$/blue**"));
    }

    #[test]
    fn malformed_sequences_stay_text() {
        let t = Template::new("a${unclosed", true);
        assert_eq!(t.resolve(&ctx()).as_deref(), Some("a${unclosed"));
        let t = Template::new("a${bad key!}b", true);
        assert_eq!(t.resolve(&ctx()).as_deref(), Some("a${bad key!}b"));
    }
}
