//! Amazon Resource Names: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
//!
//! Matching is segment aware: a wildcard in the region or account segment never crosses a colon,
//! while the resource part (which may itself contain `:` and `/`) is matched as one piece.

use super::glob::{Glob, Token};

/// A parsed ARN borrowed from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Splits `text` into its six parts; `None` when it is not `arn:` plus five colon-separated parts.
    pub fn parse(text: &'a str) -> Option<Arn<'a>> {
        let mut parts = text.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let arn = Arn {
            partition: parts.next()?,
            service: parts.next()?,
            region: parts.next()?,
            account: parts.next()?,
            resource: parts.next()?,
        };
        if arn.partition.is_empty() || arn.service.is_empty() {
            return None;
        }
        Some(arn)
    }

    pub fn segments(&self) -> [&'a str; 5] {
        [
            self.partition,
            self.service,
            self.region,
            self.account,
            self.resource,
        ]
    }
}

/// An ARN pattern compiled per segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArnPattern {
    /// `*`: every resource, ARN or not.
    Any,
    /// Five compiled segments (partition, service, region, account, resource).
    Segments(Box<[Glob; 5]>),
    /// Not an ARN (e.g. a bare name); compared as a plain wildcard pattern.
    Plain(Glob),
}

impl ArnPattern {
    /// Compiles a pattern whose `*` and `?` are wildcards.
    pub fn new(pattern: &str) -> ArnPattern {
        if !pattern.is_empty() && pattern.bytes().all(|b| b == b'*') {
            return ArnPattern::Any;
        }
        match Arn::parse(pattern) {
            Some(arn) => ArnPattern::Segments(Box::new(arn.segments().map(Glob::new))),
            None => ArnPattern::Plain(Glob::new(pattern)),
        }
    }

    /// Compiles a pattern from tokens where policy variables already supplied literal pieces.
    pub fn from_tokens(tokens: Vec<Token>) -> ArnPattern {
        if !tokens.is_empty() && tokens.iter().all(|t| *t == Token::Star) {
            return ArnPattern::Any;
        }
        // Split on ':' inside literal tokens only; wildcard tokens stay within their segment.
        let mut segments: Vec<Vec<Token>> = vec![Vec::new()];
        for token in tokens {
            match token {
                Token::Lit(lit) if segments.len() < 6 && lit.contains(':') => {
                    let mut pieces = lit.split(':').peekable();
                    while let Some(piece) = pieces.next() {
                        if let Some(seg) = segments.last_mut().filter(|_| !piece.is_empty()) {
                            seg.push(Token::Lit(piece.into()));
                        }
                        if pieces.peek().is_some() {
                            if segments.len() < 6 {
                                segments.push(Vec::new());
                            } else if let Some(seg) = segments.last_mut() {
                                seg.push(Token::Lit(":".into()));
                            }
                        }
                    }
                }
                other => {
                    if let Some(seg) = segments.last_mut() {
                        seg.push(other);
                    }
                }
            }
        }
        let is_arn = segments.len() == 6
            && segments
                .first()
                .is_some_and(|s| *s == [Token::Lit("arn".into())]);
        if !is_arn {
            return ArnPattern::Plain(Glob::from_tokens(segments.join(&Token::Lit(":".into()))));
        }
        let mut globs = segments.into_iter().skip(1).map(Glob::from_tokens);
        let mut next = || globs.next().unwrap_or(Glob::Exact("".into()));
        ArnPattern::Segments(Box::new([next(), next(), next(), next(), next()]))
    }

    /// Whether `resource` (the request's resource, already split when it is an ARN) matches.
    pub fn matches(&self, resource: &str, arn: Option<&Arn<'_>>) -> bool {
        match (self, arn) {
            (ArnPattern::Any, _) => true,
            // Partition, service, region and account compare without case; the resource with it.
            (ArnPattern::Segments(globs), Some(arn)) => {
                let [partition, service, region, account, resource] = &**globs;
                partition.matches_ignore_ascii_case(arn.partition)
                    && service.matches_ignore_ascii_case(arn.service)
                    && region.matches_ignore_ascii_case(arn.region)
                    && account.matches_ignore_ascii_case(arn.account)
                    && resource.matches(arn.resource)
            }
            (ArnPattern::Segments(_), None) => false,
            (ArnPattern::Plain(glob), _) => glob.matches(resource),
        }
    }
}

/// Whether `account` is a 12-digit AWS account id.
pub fn is_account_id(account: &str) -> bool {
    account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, resource: &str) -> bool {
        ArnPattern::new(pattern).matches(resource, Arn::parse(resource).as_ref())
    }

    #[test]
    fn parses_six_parts_keeping_colons_in_resource() {
        let arn = Arn::parse("arn:aws:logs:us-east-1:123456789012:log-group:g:*").unwrap();
        assert_eq!(arn.service, "logs");
        assert_eq!(arn.resource, "log-group:g:*");
        assert!(Arn::parse("arn:aws:s3").is_none());
        assert!(Arn::parse("not-an-arn").is_none());
        assert!(Arn::parse("arn::s3:::bucket").is_none());
    }

    #[test]
    fn segment_aware_matching() {
        assert!(m("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b:c"));
        assert!(!m("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucketx"));
        assert!(m(
            "arn:aws:ec2:*:*:instance/*",
            "arn:aws:ec2:us-east-1:123456789012:instance/i-1"
        ));
        // A wildcard in the region segment does not swallow the account segment.
        assert!(!m(
            "arn:aws:ec2:us-*1:instance/*",
            "arn:aws:ec2:us-east-1:123456789012:instance/i-1"
        ));
        assert!(m(
            "arn:aws:iam::*:role/Admin",
            "arn:aws:iam::123456789012:role/Admin"
        ));
        assert!(!m(
            "arn:aws:iam::*:role/Admin",
            "arn:aws:iam::123456789012:role/admin"
        ));
        assert!(m(
            "arn:AWS:IAM::*:role/Admin",
            "arn:aws:iam::123456789012:role/Admin"
        ));
        assert!(m("*", "anything at all"));
        assert!(!m("arn:aws:s3:::b", "b"));
    }

    #[test]
    fn from_tokens_keeps_variable_literals_inside_segments() {
        let tokens = vec![
            Token::Lit("arn:aws:s3:::home/".into()),
            Token::Lit("a:b".into()),
            Token::Lit("/".into()),
            Token::Star,
        ];
        let p = ArnPattern::from_tokens(tokens);
        assert!(p.matches("", Arn::parse("arn:aws:s3:::home/a:b/x").as_ref()));
    }

    #[test]
    fn account_ids() {
        assert!(is_account_id("123456789012"));
        assert!(!is_account_id("12345678901"));
        assert!(!is_account_id("12345678901a"));
    }
}
