//! Query API parameters: `application/x-www-form-urlencoded` bodies and query strings, decoded
//! into a bounded map. A parameter given twice is refused rather than silently picking one.

use std::collections::HashMap;
use std::fmt::Write as _;

use foldhash::quality::RandomState;

use crate::broker::ApiError;
use crate::encoding::shorten;

/// Most parameters one request may carry (every STS action needs far fewer).
pub const MAX_PARAMS: usize = 256;

/// Decoded request parameters. `Debug` shows names only: values can be tokens and policies.
#[derive(Default)]
pub struct Params {
    map: HashMap<String, String, RandomState>,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.map.keys()).finish()
    }
}

impl Params {
    /// Decodes `a=1&b=2`; `+` is a space, as forms encode it. SigV4 reads `+` literally, so a
    /// signed query carrying an unencoded `+` is refused before it is used
    /// ([`crate::sigv4::parse`]): one signature cannot vouch for two values.
    pub fn parse(raw: &[u8]) -> Result<Params, ApiError> {
        let mut map = HashMap::with_capacity_and_hasher(
            memchr::memchr_iter(b'&', raw).count().min(MAX_PARAMS) + 1,
            RandomState::default(),
        );
        for (key, value) in pairs(raw) {
            if map.len() == MAX_PARAMS {
                return Err(ApiError::invalid_parameter(format!(
                    "A request may carry at most {MAX_PARAMS} parameters"
                )));
            }
            let key = decode(key);
            if map.contains_key(&key) {
                return Err(ApiError::invalid_parameter(format!(
                    "Parameter {} is given more than once",
                    shorten(&key)
                )));
            }
            map.insert(key, decode(value));
        }
        Ok(Params { map })
    }

    /// Adds the parameters of `other`, refusing names present in both (query and body).
    pub fn merge(&mut self, mut other: Params) -> Result<(), ApiError> {
        // Into the larger of the two (a POST's query string is usually empty).
        if other.map.len() > self.map.len() {
            std::mem::swap(self, &mut other);
        }
        for (key, value) in other.map {
            if self.map.contains_key(&key) {
                return Err(ApiError::invalid_parameter(format!(
                    "Parameter {} is given more than once",
                    shorten(&key)
                )));
            }
            self.map.insert(key, value);
        }
        if self.map.len() > MAX_PARAMS {
            return Err(ApiError::invalid_parameter(format!(
                "A request may carry at most {MAX_PARAMS} parameters"
            )));
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .ok_or_else(|| ApiError::missing_parameter(name))
    }

    /// A Query API list: `Name.member.1[.field]`, `Name.member.2[.field]`, ... in index order.
    /// Gaps end the list, as AWS reads it; indexes beyond `max` are refused.
    pub fn list(&self, name: &str, field: Option<&str>, max: usize) -> Result<Vec<&str>, ApiError> {
        // `{name}.member.{i}[.{field}]`, rewritten after the stem for each index.
        let mut key = String::with_capacity(name.len() + 16 + field.map_or(0, str::len));
        key.push_str(name);
        key.push_str(".member.");
        let stem = key.len();
        let mut out = Vec::new();
        for i in 1usize.. {
            key.truncate(stem);
            // Writing to a `String` does not fail.
            let _ = write!(key, "{i}");
            if let Some(f) = field {
                key.push('.');
                key.push_str(f);
            }
            match self.get(&key) {
                Some(v) if i <= max => out.push(v),
                Some(_) => {
                    return Err(ApiError::validation(format!(
                        "1 validation error detected: Value at '{}' failed to satisfy constraint: \
                         Member must have length less than or equal to {max}",
                        lower_first(name)
                    )));
                }
                None => break,
            }
        }
        Ok(out)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// The `name=value` pairs of a form, not decoded; empty pairs are skipped and a pair without
/// `=` has an empty value, as `form_urlencoded::parse` reads them.
fn pairs(raw: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut rest = Some(raw);
    std::iter::from_fn(move || {
        let all = rest?;
        let (pair, after) = match memchr::memchr(b'&', all) {
            Some(at) => (&all[..at], Some(&all[at + 1..])),
            None => (all, None),
        };
        rest = after;
        Some(pair)
    })
    .filter(|pair| !pair.is_empty())
    .map(|pair| match memchr::memchr(b'=', pair) {
        Some(at) => (&pair[..at], &pair[at + 1..]),
        None => (pair, &[][..]),
    })
}

/// One name or value of a form, decoded as `form_urlencoded` decodes it (`+` is a space, then
/// percent-decoding, then UTF-8 with invalid sequences replaced). Most values (tokens, ARNs
/// without `:`) need none of it and are copied as they are.
fn decode(component: &[u8]) -> String {
    if memchr::memchr2(b'%', b'+', component).is_none()
        && let Ok(text) = std::str::from_utf8(component)
    {
        return text.to_owned();
    }
    // Decoded in one pass into one buffer: never longer than the component.
    let mut out = Vec::with_capacity(component.len());
    let mut i = 0;
    while let Some(&b) = component.get(i) {
        i += 1;
        match b {
            b'+' => out.push(b' '),
            b'%' => match (
                component.get(i).copied().and_then(hex),
                component.get(i + 1).copied().and_then(hex),
            ) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                // Not an escape: kept as it is.
                _ => out.push(b'%'),
            },
            _ => out.push(b),
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The value of one hexadecimal digit.
fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// `RoleSessionName` → `roleSessionName`, the form AWS's validation messages use.
pub fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) => c.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::error::ErrorCode;

    #[test]
    fn decodes_forms() {
        let p = Params::parse(b"Action=AssumeRole&RoleSessionName=a+b%2Bc&Empty=").unwrap();
        assert_eq!(p.get("Action"), Some("AssumeRole"));
        assert_eq!(p.get("RoleSessionName"), Some("a b+c"));
        assert_eq!(p.get("Empty"), Some(""));
        assert_eq!(p.get("Missing"), None);
        assert_eq!(
            p.require("Missing").unwrap_err().code,
            ErrorCode::MissingParameter
        );
    }

    proptest::proptest! {
        /// The pairs and their decoding are exactly `form_urlencoded::parse`'s, for any bytes
        /// (the alphabet favours the characters that matter: separators, escapes, `+`, UTF-8).
        #[test]
        fn decoding_matches_form_urlencoded(raw in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::sample::select(b"&=%+aZ09.-_~2bBfF".to_vec()),
                proptest::num::u8::ANY,
            ],
            0..64,
        )) {
            let ours: Vec<(String, String)> =
                pairs(&raw).map(|(k, v)| (decode(k), decode(v))).collect();
            let theirs: Vec<(String, String)> = form_urlencoded::parse(&raw)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            proptest::prop_assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn duplicates_are_refused() {
        let e = Params::parse(b"A=1&A=2").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParameterValue);
        let mut p = Params::parse(b"A=1").unwrap();
        assert!(p.merge(Params::parse(b"A=1").unwrap()).is_err());
    }

    #[test]
    fn too_many_parameters_are_refused() {
        let body: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("p{i}=x")).collect();
        assert!(Params::parse(body.join("&").as_bytes()).is_err());
    }

    #[test]
    fn lists_read_in_order_until_a_gap() {
        let p = Params::parse(
            b"PolicyArns.member.2.arn=b&PolicyArns.member.1.arn=a&PolicyArns.member.4.arn=d",
        )
        .unwrap();
        assert_eq!(
            p.list("PolicyArns", Some("arn"), 10).unwrap(),
            vec!["a", "b"]
        );
        assert!(p.list("PolicyArns", Some("arn"), 1).is_err());
        assert!(p.list("Tags", Some("Key"), 50).unwrap().is_empty());
    }
}
