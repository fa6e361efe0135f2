//! A condition's policy values, compiled once for their operator's family, and the comparison of
//! one request value against one policy value.
//!
//! A comparison has three outcomes: match, no match, or "could not compare" (a value that is not
//! a number, an unresolvable variable...). Positive operators need a match; negated operators
//! need every comparison to be a clean non-match, so an uncomparable value never grants access
//! through a `Not` operator.

use base64::Engine as _;
use ipnet::IpNet;
use std::net::IpAddr;

use super::date;
use super::operator::{BaseOp, Family};
use crate::policy::arn::{Arn, ArnPattern};
use crate::policy::context::Context;
use crate::policy::glob::Glob;
use crate::policy::variables::Template;

/// A string value that may need variables resolved at evaluation time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Text<T> {
    Static(T),
    Dynamic(Template),
}

/// Compiled policy values of one condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    Strings(Vec<Text<String>>),
    /// Lower-cased for `StringEqualsIgnoreCase`.
    StringsIgnoreCase(Vec<Text<String>>),
    Globs(Vec<Text<Glob>>),
    Numbers(Vec<Option<f64>>),
    Dates(Vec<Option<i128>>),
    Bools(Vec<Text<Option<bool>>>),
    Binary(Vec<Option<Vec<u8>>>),
    Ips(Vec<Option<IpNet>>),
    Arns(Vec<Text<Option<ArnPattern>>>),
    /// `Null`: `true` means "the key is absent".
    Null(Vec<Option<bool>>),
}

impl Values {
    pub(crate) fn compile(base: BaseOp, raw: &[String], substitute: bool) -> Values {
        let substitute = substitute && base.takes_variables();
        let text = |r: &String| Template::new(r, substitute);
        match base.family() {
            Family::String => Values::Strings(
                raw.iter()
                    .map(|r| dynamic_or(text(r), |t| t.resolve(&Context::default())))
                    .map(|t| t.map_static(Option::unwrap_or_default))
                    .collect(),
            ),
            Family::StringIgnoreCase => Values::StringsIgnoreCase(
                raw.iter()
                    .map(|r| dynamic_or(text(r), |t| t.resolve(&Context::default())))
                    .map(|t| t.map_static(|s| s.unwrap_or_default().to_lowercase()))
                    .collect(),
            ),
            Family::StringLike => Values::Globs(
                raw.iter()
                    .map(|r| dynamic_or(text(r), |t| Glob::from_tokens(t.static_tokens())))
                    .collect(),
            ),
            Family::Numeric => Values::Numbers(raw.iter().map(|r| parse_number(r)).collect()),
            Family::Date => Values::Dates(raw.iter().map(|r| date::parse_millis(r)).collect()),
            Family::Bool => Values::Bools(
                raw.iter()
                    .map(|r| dynamic_or(text(r), |t| parse_bool(t.raw())))
                    .collect(),
            ),
            Family::Binary => Values::Binary(raw.iter().map(|r| decode_base64(r)).collect()),
            Family::Ip => Values::Ips(raw.iter().map(|r| parse_cidr(r)).collect()),
            Family::Arn => Values::Arns(
                raw.iter()
                    .map(|r| dynamic_or(text(r), |t| arn_pattern(t.static_tokens())))
                    .collect(),
            ),
            Family::Null => Values::Null(raw.iter().map(|r| parse_bool(r)).collect()),
        }
    }

    /// The request value in the form `compare` expects: lower-cased for `*IgnoreCase`, once per
    /// request value rather than once per policy value.
    pub(crate) fn prepare<'r>(&self, request: &'r str) -> std::borrow::Cow<'r, str> {
        match self {
            Values::StringsIgnoreCase(_) => std::borrow::Cow::Owned(request.to_lowercase()),
            _ => std::borrow::Cow::Borrowed(request),
        }
    }

    /// Compares one request value (after [`Values::prepare`]) with policy value `index`, in the
    /// operator's positive sense.
    pub(crate) fn compare(
        &self,
        base: BaseOp,
        index: usize,
        request: &str,
        ctx: &Context,
    ) -> Option<bool> {
        match self {
            Values::Strings(v) => match v.get(index)? {
                Text::Static(s) => Some(s == request),
                Text::Dynamic(t) => Some(t.resolve(ctx)? == request),
            },
            Values::StringsIgnoreCase(v) => {
                let policy = match v.get(index)? {
                    Text::Static(s) => std::borrow::Cow::Borrowed(s.as_str()),
                    Text::Dynamic(t) => std::borrow::Cow::Owned(t.resolve(ctx)?.to_lowercase()),
                };
                Some(policy == request)
            }
            Values::Globs(v) => match v.get(index)? {
                Text::Static(g) => Some(g.matches(request)),
                Text::Dynamic(t) => Some(Glob::from_tokens(t.tokens(ctx)?).matches(request)),
            },
            Values::Numbers(v) => {
                let policy = (*v.get(index)?)?;
                Some(base.ordering().holds(parse_number(request)?, policy))
            }
            Values::Dates(v) => {
                let policy = (*v.get(index)?)?;
                Some(base.ordering().holds(date::parse_millis(request)?, policy))
            }
            Values::Bools(v) => {
                let policy = match v.get(index)? {
                    Text::Static(b) => (*b)?,
                    Text::Dynamic(t) => parse_bool(&t.resolve(ctx)?)?,
                };
                Some(parse_bool(request)? == policy)
            }
            Values::Binary(v) => {
                let policy = v.get(index)?.as_ref()?;
                Some(decode_base64(request)?.as_slice() == policy.as_slice())
            }
            Values::Ips(v) => {
                let net = (*v.get(index)?)?;
                // An IPv4 client seen through a dual-stack socket (`::ffff:a.b.c.d`) is that
                // IPv4 address, as a policy naming it means.
                let ip = request.trim().parse::<IpAddr>().ok()?.to_canonical();
                Some(net.contains(&ip))
            }
            Values::Arns(v) => {
                let request_arn = Arn::parse(request).filter(valid_request_arn)?;
                let matches = |p: &ArnPattern| p.matches(request, Some(&request_arn));
                match v.get(index)? {
                    Text::Static(p) => Some(matches(p.as_ref()?)),
                    Text::Dynamic(t) => Some(matches(&arn_pattern(t.tokens(ctx)?)?)),
                }
            }
            // `Null` is decided on the key's presence, not on values.
            Values::Null(_) => None,
        }
    }

    /// Whether `f` holds for a context key that one of the policy values refers to through a
    /// variable (only values compiled as templates have any).
    pub(crate) fn any_variable(&self, mut f: impl FnMut(&str) -> bool) -> bool {
        fn any_key<T>(values: &[Text<T>], f: &mut impl FnMut(&str) -> bool) -> bool {
            values.iter().any(|v| match v {
                Text::Dynamic(t) => t.keys().any(&mut *f),
                Text::Static(_) => false,
            })
        }
        match self {
            Values::Strings(v) | Values::StringsIgnoreCase(v) => any_key(v, &mut f),
            Values::Globs(v) => any_key(v, &mut f),
            Values::Bools(v) => any_key(v, &mut f),
            Values::Arns(v) => any_key(v, &mut f),
            Values::Numbers(_)
            | Values::Dates(_)
            | Values::Binary(_)
            | Values::Ips(_)
            | Values::Null(_) => false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Values::Strings(v) | Values::StringsIgnoreCase(v) => v.len(),
            Values::Globs(v) => v.len(),
            Values::Numbers(v) => v.len(),
            Values::Dates(v) => v.len(),
            Values::Bools(v) => v.len(),
            Values::Binary(v) => v.len(),
            Values::Ips(v) => v.len(),
            Values::Arns(v) => v.len(),
            Values::Null(v) => v.len(),
        }
    }
}

impl<T> Text<T> {
    fn map_static<U>(self, f: impl FnOnce(T) -> U) -> Text<U> {
        match self {
            Text::Static(s) => Text::Static(f(s)),
            Text::Dynamic(t) => Text::Dynamic(t),
        }
    }
}

fn dynamic_or<T>(template: Template, compile: impl FnOnce(&Template) -> T) -> Text<T> {
    if template.is_dynamic() {
        Text::Dynamic(template)
    } else {
        Text::Static(compile(&template))
    }
}

/// ARN operator patterns need a full six-part ARN with partition and service.
fn arn_pattern(tokens: Vec<crate::policy::glob::Token>) -> Option<ArnPattern> {
    match ArnPattern::from_tokens(tokens) {
        p @ (ArnPattern::Segments(_) | ArnPattern::Any) => Some(p),
        ArnPattern::Plain(_) => None,
    }
}

fn valid_request_arn(arn: &Arn<'_>) -> bool {
    !arn.partition.is_empty() && !arn.service.is_empty()
}

pub(crate) fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim();
    let valid = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    valid
        .then(|| text.parse::<f64>().ok())
        .flatten()
        .filter(|n| n.is_finite())
}

pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

pub(crate) fn parse_cidr(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
        .map(|n| n.trunc())
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(base: BaseOp, policy: &str, request: &str) -> Option<bool> {
        let values = Values::compile(base, &[policy.to_owned()], true);
        values.compare(base, 0, &values.prepare(request), &Context::default())
    }

    #[test]
    fn numbers() {
        assert_eq!(cmp(BaseOp::NumericEquals, "10", "10.0"), Some(true));
        assert_eq!(cmp(BaseOp::NumericLessThan, "10", "9.5"), Some(true));
        assert_eq!(
            cmp(BaseOp::NumericGreaterThanEquals, "10", "10"),
            Some(true)
        );
        assert_eq!(cmp(BaseOp::NumericEquals, "a", "10"), None);
        assert_eq!(cmp(BaseOp::NumericEquals, "10", "NaN"), None);
        assert_eq!(cmp(BaseOp::NumericEquals, "10", "inf"), None);
    }

    #[test]
    fn ips_cover_v4_v6_and_bare_addresses() {
        assert_eq!(
            cmp(BaseOp::IpAddress, "192.168.0.0/16", "192.168.10.10"),
            Some(true)
        );
        assert_eq!(
            cmp(BaseOp::IpAddress, "192.168.0.0/16", "192.169.0.1"),
            Some(false)
        );
        assert_eq!(
            cmp(BaseOp::IpAddress, "10.10.72.13", "10.10.72.13"),
            Some(true)
        );
        assert_eq!(
            cmp(BaseOp::IpAddress, "2001:db8::/32", "2001:db8:85a3::1"),
            Some(true)
        );
        assert_eq!(
            cmp(BaseOp::IpAddress, "192.168.0.0/16", "2001:db8::1"),
            Some(false)
        );
        assert_eq!(
            cmp(BaseOp::IpAddress, "10.0.0.0/8", "::ffff:10.1.2.3"),
            Some(true)
        );
        assert_eq!(cmp(BaseOp::IpAddress, "123456789012", "10.0.0.1"), None);
        assert_eq!(cmp(BaseOp::IpAddress, "10.0.0.0/8", "not-an-ip"), None);
        // Host bits set in the policy CIDR are ignored, as IAM does.
        assert_eq!(
            cmp(BaseOp::IpAddress, "10.1.2.3/8", "10.200.0.1"),
            Some(true)
        );
    }

    #[test]
    fn bools_ignore_case_and_reject_other_text() {
        assert_eq!(cmp(BaseOp::Bool, "true", "TRUE"), Some(true));
        assert_eq!(cmp(BaseOp::Bool, "false", "true"), Some(false));
        assert_eq!(cmp(BaseOp::Bool, "true", "yes"), None);
    }

    #[test]
    fn binary_compares_decoded_bytes() {
        assert_eq!(cmp(BaseOp::BinaryEquals, "QUJD", "QUJD"), Some(true));
        assert_eq!(cmp(BaseOp::BinaryEquals, "QUJD", "QUJE"), Some(false));
        assert_eq!(cmp(BaseOp::BinaryEquals, "QUJD", "!!"), None);
    }

    #[test]
    fn arns_need_valid_arns_on_both_sides() {
        let r = "arn:aws:iam::123456789012:root";
        assert_eq!(
            cmp(BaseOp::ArnLike, "arn:aws:iam::123456789012:*", r),
            Some(true)
        );
        assert_eq!(cmp(BaseOp::ArnEquals, "arn:aws:iam::*:root", r), Some(true));
        assert_eq!(cmp(BaseOp::ArnLike, "arn:::bucket", r), None);
        assert_eq!(cmp(BaseOp::ArnLike, "arn:aws:iam::*:root", "arn:::x"), None);
    }

    #[test]
    fn ignore_case_folds_unicode() {
        assert_eq!(
            cmp(BaseOp::StringEqualsIgnoreCase, "ÄBC", "äbc"),
            Some(true)
        );
        assert_eq!(
            cmp(BaseOp::StringEqualsIgnoreCase, "test*", "test1"),
            Some(false)
        );
    }
}
