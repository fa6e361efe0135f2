//! Parameter constraints as the STS API model states them (lengths, patterns, ranges), checked
//! on the server because SDKs check only presence. Violations are collected and reported the
//! way AWS does: "N validation errors detected: Value '...' at 'name' failed to satisfy
//! constraint: ...". Values of sensitive parameters are never echoed.

use super::params::{Params, lower_first};
use crate::broker::ApiError;
use crate::iam::is_name_byte;

/// Longest inline session `Policy`, in characters, for every role-session action: STS's limit
/// on the plaintext of session policies (the AssumeRole model no longer states it; the
/// documentation does).
pub const SESSION_POLICY_MAX_CHARS: usize = 2048;

/// Collects constraint violations.
#[derive(Debug, Default)]
pub struct Violations(Vec<String>);

/// The session parameters every role-assuming action shares, checked for shape.
#[derive(Debug)]
pub struct SessionParams<'a> {
    pub duration: Option<u32>,
    /// `Policy`, not parsed yet.
    pub policy: Option<&'a str>,
    pub policy_arns: Vec<&'a str>,
}

impl Violations {
    fn push(&mut self, name: &str, value: Option<&str>, constraint: &str) {
        let at = lower_first(name);
        self.0.push(match value {
            Some(v) => format!("Value '{v}' at '{at}' failed to satisfy constraint: {constraint}"),
            None => format!("Value at '{at}' failed to satisfy constraint: {constraint}"),
        });
    }

    /// Length in characters within `min..=max`; `sensitive` values are not echoed.
    pub fn length(&mut self, name: &str, value: &str, min: usize, max: usize, sensitive: bool) {
        let n = value.chars().count();
        let shown = (!sensitive).then_some(value);
        if n < min {
            self.push(
                name,
                shown,
                &format!("Member must have length greater than or equal to {min}"),
            );
        } else if n > max {
            self.push(
                name,
                shown.map(|v| truncate(v, 64)),
                &format!("Member must have length less than or equal to {max}"),
            );
        }
    }

    /// `[\w+=,.@-]*`: role session names, source identities.
    pub fn name_pattern(&mut self, name: &str, value: &str) {
        if !value.bytes().all(is_name_byte) {
            self.push(
                name,
                Some(truncate(value, 64)),
                "Member must satisfy regular expression pattern: [\\w+=,.@-]*",
            );
        }
    }

    /// Any other pattern: `allowed` says which characters are; `shown` is the pattern as the STS
    /// model writes it.
    pub fn pattern(
        &mut self,
        name: &str,
        value: &str,
        shown: &str,
        allowed: impl Fn(char) -> bool,
    ) {
        if !value.chars().all(allowed) {
            self.push(
                name,
                Some(truncate(value, 64)),
                &format!("Member must satisfy regular expression pattern: {shown}"),
            );
        }
    }

    /// `[\u0009\u000A\u000D\u0020-\u00FF]+`: policy documents.
    pub fn policy_chars(&mut self, name: &str, value: &str) {
        if !value
            .chars()
            .all(|c| matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{ff}'))
        {
            self.push(
                name,
                None,
                "Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
            );
        }
    }

    /// An integer in `min..=max`.
    pub fn integer(&mut self, name: &str, value: &str, min: i64, max: i64) -> Option<i64> {
        let Ok(n) = value.parse::<i64>() else {
            self.push(name, Some(truncate(value, 32)), "Member must be an integer");
            return None;
        };
        if n < min {
            self.push(
                name,
                Some(value),
                &format!("Member must have value greater than or equal to {min}"),
            );
            None
        } else if n > max {
            self.push(
                name,
                Some(value),
                &format!("Member must have value less than or equal to {max}"),
            );
            None
        } else {
            Some(n)
        }
    }

    /// What every role-assuming action reads alike: `DurationSeconds`, `Policy`, `PolicyArns`.
    pub fn session_params<'a>(
        &mut self,
        params: &'a Params,
    ) -> Result<SessionParams<'a>, ApiError> {
        Ok(SessionParams {
            duration: self.duration_seconds(params),
            policy: self.session_policy(params),
            policy_arns: self.policy_arns(params)?,
        })
    }

    /// `DurationSeconds` of a role session (900..43200), when given.
    pub fn duration_seconds(&mut self, params: &Params) -> Option<u32> {
        params
            .get("DurationSeconds")
            .and_then(|d| self.integer("DurationSeconds", d, 900, 43_200))
            .and_then(|d| u32::try_from(d).ok())
    }

    /// The inline session `Policy` (at most [`SESSION_POLICY_MAX_CHARS`] characters, policy
    /// characters only), when given. Only its length and characters: it is parsed later, once
    /// the caller is authenticated.
    pub fn session_policy<'a>(&mut self, params: &'a Params) -> Option<&'a str> {
        let policy = params.get("Policy");
        if let Some(p) = policy {
            self.length("Policy", p, 1, SESSION_POLICY_MAX_CHARS, true);
            self.policy_chars("Policy", p);
        }
        policy
    }

    /// The managed session policies `PolicyArns.member.N.arn` (at most 10, ARN-sized).
    pub fn policy_arns<'a>(&mut self, params: &'a Params) -> Result<Vec<&'a str>, ApiError> {
        let arns = params.list("PolicyArns", Some("arn"), 10)?;
        for arn in &arns {
            self.length("PolicyArns.member.arn", arn, 20, 2048, false);
        }
        Ok(arns)
    }

    pub fn finish(self) -> Result<(), ApiError> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(ApiError::validation(format!(
                "1 validation error detected: {}",
                self.0[0]
            ))),
            n => Err(ApiError::validation(format!(
                "{n} validation errors detected: {}",
                self.0.join("; ")
            ))),
        }
    }
}

fn truncate(value: &str, max_chars: usize) -> &str {
    match value.char_indices().nth(max_chars) {
        Some((i, _)) => &value[..i],
        None => value,
    }
}

/// `SerialNumber` and `TokenCode`, checked for shape (violations go to `v`); both or neither.
pub fn mfa_params<'a>(
    params: &'a Params,
    v: &mut Violations,
) -> Result<Option<(&'a str, &'a str)>, ApiError> {
    let serial = params.get("SerialNumber");
    let code = params.get("TokenCode");
    if let Some(s) = serial {
        v.length("SerialNumber", s, 9, 256, false);
        v.pattern("SerialNumber", s, "[\\w+=/:,.@-]*", |c| {
            c.is_ascii_alphanumeric() || "_+=/:,.@-".contains(c)
        });
    }
    if let Some(c) = code {
        v.length("TokenCode", c, 6, 6, true);
        v.pattern("TokenCode", c, "[\\d]*", |c| c.is_ascii_digit());
    }
    match (serial, code) {
        (Some(s), Some(c)) => Ok(Some((s, c))),
        (None, None) => Ok(None),
        _ => Err(ApiError::access_denied(
            "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_aws() {
        let mut v = Violations::default();
        v.name_pattern("RoleSessionName", "a:b");
        assert_eq!(
            v.finish().unwrap_err().message,
            "1 validation error detected: Value 'a:b' at 'roleSessionName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        );
    }

    #[test]
    fn several_violations_are_counted_and_sensitive_values_hidden() {
        let mut v = Violations::default();
        v.length("WebIdentityToken", "abc", 4, 20000, true);
        v.integer("DurationSeconds", "60", 900, 43200);
        let e = v.finish().unwrap_err();
        assert!(
            e.message.starts_with("2 validation errors detected: "),
            "{}",
            e.message
        );
        assert!(e.message.contains("Value at 'webIdentityToken'"));
        assert!(!e.message.contains("abc"));
        assert!(e.message.contains("greater than or equal to 900"));
    }

    #[test]
    fn integers_and_ranges() {
        let mut v = Violations::default();
        assert_eq!(v.integer("DurationSeconds", "3600", 900, 43200), Some(3600));
        assert!(v.finish().is_ok());
        let mut v = Violations::default();
        assert_eq!(v.integer("DurationSeconds", "1e3", 900, 43200), None);
        assert_eq!(v.integer("DurationSeconds", "43201", 900, 43200), None);
        assert!(v.finish().is_err());
    }

    #[test]
    fn policy_characters() {
        let mut v = Violations::default();
        v.policy_chars("Policy", "{\"a\":\t\"é\"}\n");
        assert!(v.finish().is_ok());
        let mut v = Violations::default();
        v.policy_chars("Policy", "{\"a\": \"\u{2603}\"}");
        assert!(v.finish().is_err());
    }
}
