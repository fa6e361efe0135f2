//! IAM wildcards: `*` matches any run of characters (including none), `?` exactly one.
//!
//! Patterns are compiled once into tokens; matching never allocates. Case folding is the
//! caller's business: action patterns and action names are both lower-cased before they get here.

/// One piece of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Lit(Box<str>),
    /// `*`
    Star,
    /// `?`
    One,
}

/// A compiled wildcard pattern, specialised for the shapes policies use most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Glob {
    /// `*`
    Any,
    /// No wildcard at all.
    Exact(Box<str>),
    /// `prefix*`, e.g. `s3:get*`.
    Prefix(Box<str>),
    /// Anything else.
    Tokens(Box<[Token]>),
}

impl Glob {
    /// Compiles `pattern`, treating `*` and `?` as wildcards.
    pub fn new(pattern: &str) -> Glob {
        Glob::from_tokens(tokenize(pattern))
    }

    /// Builds a glob from tokens (used when policy variables supplied literal pieces).
    pub fn from_tokens(tokens: Vec<Token>) -> Glob {
        let tokens = normalize(tokens);
        match tokens.as_slice() {
            [] => Glob::Exact("".into()),
            [Token::Star] => Glob::Any,
            [Token::Lit(l)] => Glob::Exact(l.clone()),
            [Token::Lit(l), Token::Star] => Glob::Prefix(l.clone()),
            _ => Glob::Tokens(tokens.into_boxed_slice()),
        }
    }

    pub fn matches(&self, input: &str) -> bool {
        match self {
            Glob::Any => true,
            Glob::Exact(e) => **e == *input,
            Glob::Prefix(p) => input.starts_with(&**p),
            Glob::Tokens(t) => match_tokens(t, input, false),
        }
    }

    /// Like [`Glob::matches`], folding ASCII case (ARN partition, service, region, account).
    pub fn matches_ignore_ascii_case(&self, input: &str) -> bool {
        match self {
            Glob::Any => true,
            Glob::Exact(e) => e.eq_ignore_ascii_case(input),
            Glob::Prefix(p) => input
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p)),
            Glob::Tokens(t) => match_tokens(t, input, true),
        }
    }
}

/// A pattern as single characters, for relations between two patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sym {
    Char(char),
    Star,
    One,
}

fn symbols(tokens: &[Token]) -> Vec<Sym> {
    let mut out = Vec::new();
    for t in tokens {
        match t {
            Token::Lit(l) => out.extend(l.chars().map(Sym::Char)),
            Token::Star => out.push(Sym::Star),
            Token::One => out.push(Sym::One),
        }
    }
    out
}

/// Whether some string matches both patterns (a request naming many resources at once, such as
/// `bucket/*`, overlaps an `Allow` on `*/logs/*`).
pub fn overlaps(a: &[Token], b: &[Token]) -> bool {
    relate(a, b, true)
}

/// Whether every string matching `inner` also matches `outer`: `outer`'s `*` may absorb
/// anything (including `inner`'s wildcards), its `?` exactly one non-`*` symbol.
pub fn covers(outer: &[Token], inner: &[Token]) -> bool {
    relate(outer, inner, false)
}

/// A search over positions in both patterns. With `symmetric`, wildcards on either side absorb
/// symbols of the other (overlap); without, only `a`'s do (containment).
fn relate(a: &[Token], b: &[Token], symmetric: bool) -> bool {
    let (a, b) = (symbols(a), symbols(b));
    let width = b.len() + 1;
    let mut seen = vec![false; (a.len() + 1) * width];
    let mut stack = vec![(0usize, 0usize)];
    while let Some((i, j)) = stack.pop() {
        let Some(slot) = seen.get_mut(i * width + j) else {
            continue;
        };
        if std::mem::replace(slot, true) {
            continue;
        }
        match (a.get(i), b.get(j)) {
            (None, None) => return true,
            (Some(Sym::Star), y) => {
                stack.push((i + 1, j));
                if y.is_some() {
                    stack.push((i, j + 1));
                }
            }
            (x, Some(Sym::Star)) if symmetric => {
                stack.push((i, j + 1));
                if x.is_some() {
                    stack.push((i + 1, j));
                }
            }
            (Some(Sym::One), Some(Sym::Char(_) | Sym::One)) => stack.push((i + 1, j + 1)),
            (Some(Sym::Char(_)), Some(Sym::One)) if symmetric => stack.push((i + 1, j + 1)),
            (Some(Sym::Char(x)), Some(Sym::Char(y))) if x == y => stack.push((i + 1, j + 1)),
            _ => {}
        }
    }
    false
}

/// Splits a pattern into literal runs and wildcards.
pub fn tokenize(pattern: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut lit = String::new();
    for c in pattern.chars() {
        match c {
            '*' | '?' => {
                if !lit.is_empty() {
                    out.push(Token::Lit(std::mem::take(&mut lit).into()));
                }
                out.push(if c == '*' { Token::Star } else { Token::One });
            }
            _ => lit.push(c),
        }
    }
    if !lit.is_empty() {
        out.push(Token::Lit(lit.into()));
    }
    out
}

/// Merges adjacent literals and collapses runs of `*`.
fn normalize(tokens: Vec<Token>) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    for t in tokens {
        match (out.last_mut(), t) {
            (Some(Token::Star), Token::Star) => {}
            (Some(Token::Lit(prev)), Token::Lit(l)) => {
                let mut s = String::with_capacity(prev.len() + l.len());
                s.push_str(prev);
                s.push_str(&l);
                *prev = s.into();
            }
            (_, Token::Lit(l)) if l.is_empty() => {}
            (_, t) => out.push(t),
        }
    }
    out
}

/// Iterative wildcard matching with single-star backtracking: linear in practice, no allocation.
fn match_tokens(tokens: &[Token], input: &str, fold_case: bool) -> bool {
    let mut ti = 0;
    let mut si = 0;
    // Where to resume after the most recent `*`: (token index after it, input index it covers to).
    let mut resume: Option<(usize, usize)> = None;
    loop {
        if let Some(token) = tokens.get(ti) {
            let rest = input.get(si..).unwrap_or("");
            match token {
                Token::Star => {
                    resume = Some((ti + 1, si));
                    ti += 1;
                    continue;
                }
                Token::One => {
                    if let Some(c) = rest.chars().next() {
                        ti += 1;
                        si += c.len_utf8();
                        continue;
                    }
                }
                Token::Lit(l) => {
                    let hit = if fold_case {
                        rest.get(..l.len())
                            .is_some_and(|h| h.eq_ignore_ascii_case(l))
                    } else {
                        rest.starts_with(&**l)
                    };
                    if hit {
                        ti += 1;
                        si += l.len();
                        continue;
                    }
                }
            }
        } else if si == input.len() {
            return true;
        }
        // Mismatch: let the last star swallow one more character, or fail.
        match resume {
            Some((next_ti, star_si)) => {
                let Some(c) = input.get(star_si..).and_then(|r| r.chars().next()) else {
                    return false;
                };
                let star_si = star_si + c.len_utf8();
                resume = Some((next_ti, star_si));
                ti = next_ti;
                si = star_si;
            }
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything", true),
            ("s3:get*", "s3:getobject", true),
            ("s3:get*", "s3:putobject", false),
            ("s3:get*", "s3:get", true),
            ("s3:?etobject", "s3:getobject", true),
            ("s3:?etobject", "s3:etobject", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "acb", false),
            ("*object", "s3:getobject", true),
            ("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaa", false),
            ("*é?", "xéü", true),
            ("???", "é€x", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("a**b", "ab", true),
            ("", "", true),
            ("", "x", false),
        ];
        for (p, s, want) in cases {
            assert_eq!(Glob::new(p).matches(s), *want, "{p} vs {s}");
        }
    }

    #[test]
    fn specialises_common_shapes() {
        assert_eq!(Glob::new("*"), Glob::Any);
        assert_eq!(Glob::new("**"), Glob::Any);
        assert_eq!(Glob::new("s3:get*"), Glob::Prefix("s3:get".into()));
        assert_eq!(
            Glob::new("sts:assumerole"),
            Glob::Exact("sts:assumerole".into())
        );
        assert!(matches!(Glob::new("a?"), Glob::Tokens(_)));
    }

    #[test]
    fn case_folding() {
        assert!(Glob::new("aws").matches_ignore_ascii_case("AWS"));
        assert!(Glob::new("us-*").matches_ignore_ascii_case("US-east-1"));
        assert!(Glob::new("u?-*1").matches_ignore_ascii_case("US-EAST-1"));
        assert!(!Glob::new("aws").matches_ignore_ascii_case("aws-cn"));
    }

    #[test]
    fn pattern_relations() {
        let t = |s: &str| tokenize(s);
        assert!(overlaps(
            &t("arn:aws:s3:::*/AWSLogs/*"),
            &t("arn:aws:s3:::example-bucket/*")
        ));
        assert!(overlaps(
            &t("arn:aws:s3:::*/*.iso"),
            &t("arn:aws:s3:::example-bucket/*")
        ));
        assert!(!overlaps(
            &t("arn:aws:s3:::other/*"),
            &t("arn:aws:s3:::example-bucket/*")
        ));
        assert!(covers(
            &t("arn:aws:s3:::my-bucket/*"),
            &t("arn:aws:s3:::my-bucket/private/*")
        ));
        assert!(!covers(
            &t("arn:aws:s3:::my-bucket/private/*"),
            &t("arn:aws:s3:::my-bucket/*")
        ));
        assert!(covers(&t("a?c"), &t("abc")));
        assert!(!covers(&t("a?c"), &t("a*c")));
    }

    proptest::proptest! {
        #[test]
        fn literal_pattern_matches_only_itself(s in "[a-z:/]{0,12}", t in "[a-z:/]{0,12}") {
            proptest::prop_assert_eq!(Glob::new(&s).matches(&t), s == t);
        }

        #[test]
        fn star_affixes_match(s in "[a-z]{0,8}", pre in "[a-z]{0,4}", post in "[a-z]{0,4}") {
            let text = format!("{pre}{s}{post}");
            let pattern = format!("*{s}*");
            proptest::prop_assert!(Glob::new(&pattern).matches(&text));
        }
    }
}
