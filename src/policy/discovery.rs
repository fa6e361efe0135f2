//! Discovery: an evaluation option, not IAM behaviour. It answers "could this request be allowed,
//! and on which conditions?" when the request's condition keys are not all known: an `Allow`
//! applies with its unmet conditions ignored, and a `Deny` applies only when every condition is
//! known to hold. The caller names the keys it does know (literally or by `/regex/`) and how much:
//! whether their presence, and their value, are authoritative. Such keys are evaluated as IAM
//! would. Follows the "Discovery" simulation mode of the iam-simulate engine.
//!
//! Never used unless a [`Request`](super::Request) carries a [`Discovery`]: the default
//! evaluation path does not look at this module.

use regex::{Regex, RegexBuilder};

use super::condition::{BaseOp, Condition};
use super::context::Context;
use super::document::{Effect, Statement};
use super::evaluate::StatementOutcome;

/// Why a discovery configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("invalid key pattern {pattern}: {reason}")]
    Pattern { pattern: String, reason: String },
}

/// How much of a condition key the caller vouches for. A value cannot be known without knowing
/// whether the key is present, so the three states are ordered and merge by taking the greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyKnowledge {
    /// Neither the key's presence nor its value: conditions on it have an unknown result.
    Unknown,
    /// Whether the key is present is authoritative; a present key's value is not.
    Presence,
    /// Presence and value are authoritative: conditions on it are evaluated strictly.
    PresenceAndValue,
}

impl KeyKnowledge {
    /// From the two flags iam-simulate uses; `None` for a value known without its presence.
    pub fn from_flags(presence_known: bool, value_known: bool) -> Option<KeyKnowledge> {
        match (presence_known, value_known) {
            (true, true) => Some(KeyKnowledge::PresenceAndValue),
            (true, false) => Some(KeyKnowledge::Presence),
            (false, false) => Some(KeyKnowledge::Unknown),
            (false, true) => None,
        }
    }
}

#[derive(Debug, Clone)]
enum KeyPattern {
    /// Compared ASCII-case-insensitively, as context keys are.
    Literal(Box<str>),
    /// Case-insensitive and unanchored: it matches a key containing a match.
    Regex(Regex),
}

impl KeyPattern {
    fn matches(&self, key: &str) -> bool {
        match self {
            KeyPattern::Literal(k) => k.eq_ignore_ascii_case(key),
            KeyPattern::Regex(r) => r.is_match(key),
        }
    }
}

/// The discovery option: which condition keys the caller knows, and how much.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    keys: Vec<(KeyPattern, KeyKnowledge)>,
}

impl Discovery {
    /// Discovery with no key known: every condition is treated as unconfigured.
    pub fn new() -> Discovery {
        Discovery::default()
    }

    /// Declares what is known about `name`: a context key, or a regular expression between
    /// slashes (`/^aws:ResourceTag\//`) matched against condition keys. Patterns are compiled
    /// here, once.
    pub fn know(
        mut self,
        name: &str,
        knowledge: KeyKnowledge,
    ) -> Result<Discovery, DiscoveryError> {
        let pattern = match name
            .strip_prefix('/')
            .and_then(|rest| rest.strip_suffix('/'))
        {
            Some(regex) => RegexBuilder::new(regex)
                .case_insensitive(true)
                .build()
                .map(KeyPattern::Regex)
                .map_err(|e| DiscoveryError::Pattern {
                    pattern: name.to_owned(),
                    reason: e.to_string(),
                })?,
            None => KeyPattern::Literal(name.into()),
        };
        self.keys.push((pattern, knowledge));
        Ok(self)
    }

    /// What is known about `key`, merged over every declaration naming it; `None` when no
    /// declaration does (the key is not configured).
    pub fn knowledge(&self, key: &str) -> Option<KeyKnowledge> {
        self.keys
            .iter()
            .filter(|(pattern, _)| pattern.matches(key))
            .map(|(_, knowledge)| *knowledge)
            .max()
    }

    /// How a statement's conditions relate to the request in discovery mode. Each condition is
    /// ignored or not (see [`Discovery::ignores`]); the statement applies when no condition that
    /// counts fails, and, for a `Deny`, when none was ignored.
    pub(crate) fn outcome(&self, statement: &Statement, ctx: &Context) -> StatementOutcome {
        let mut ignored = None;
        for (i, condition) in statement.conditions.iter().enumerate() {
            let holds = condition.evaluate(ctx);
            if self.ignores(condition, statement.effect, holds, ctx) {
                ignored.get_or_insert(i);
            } else if !holds {
                return StatementOutcome::ConditionFailed(i);
            }
        }
        match (statement.effect, ignored) {
            (_, None) => StatementOutcome::Matched,
            (Effect::Allow, Some(i)) => StatementOutcome::MatchedIgnoring(i),
            (Effect::Deny, Some(i)) => StatementOutcome::ConditionIgnored(i),
        }
    }

    /// Whether a condition (with its strict result `holds`) is ignored:
    ///
    /// - its result is unknown: an `Allow` ignores it when it fails, a `Deny` always;
    /// - its key is configured (and the result known): never, it is evaluated strictly;
    /// - otherwise: an `Allow` ignores it when it fails, a `Deny` when it holds.
    fn ignores(&self, condition: &Condition, effect: Effect, holds: bool, ctx: &Context) -> bool {
        let knowledge = self.knowledge(&condition.key);
        if !self.result_known(condition, knowledge, ctx) {
            return effect == Effect::Deny || !holds;
        }
        if knowledge.is_some() {
            return false;
        }
        match effect {
            Effect::Allow => !holds,
            Effect::Deny => holds,
        }
    }

    /// Whether the condition's result follows from known facts: keys not configured are known
    /// from the request; a configured key is known as far as its [`KeyKnowledge`] says. `Null`
    /// needs only presence; other operators also need a present key's value and the values of
    /// the keys their policy variables name.
    fn result_known(
        &self,
        condition: &Condition,
        knowledge: Option<KeyKnowledge>,
        ctx: &Context,
    ) -> bool {
        let present = condition.present(ctx).is_some();
        if condition.operator.base == BaseOp::Null {
            return knowledge.is_none_or(|k| k >= KeyKnowledge::Presence);
        }
        match knowledge {
            Some(KeyKnowledge::Unknown) => return false,
            Some(KeyKnowledge::Presence) if present => return false,
            _ => {}
        }
        !condition.any_variable(|key| {
            let needed = if ctx.contains(key) {
                KeyKnowledge::PresenceAndValue
            } else {
                KeyKnowledge::Presence
            };
            self.knowledge(key).is_some_and(|k| k < needed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{PolicyType, parse};

    fn statement(effect: &str, conditions: &str) -> Statement {
        let text = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"{effect}","Action":"s3:GetObject",
               "Resource":"*","Condition":{conditions}}}]}}"#
        );
        let mut policy = parse(&text, PolicyType::Identity).unwrap();
        policy.statements.remove(0)
    }

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        let mut c = Context::new();
        for (k, v) in pairs {
            c.insert(k, *v);
        }
        c
    }

    /// Effect, conditions, what is known about `aws:SourceVpc`, request context, outcome.
    type Case<'a> = (
        &'a str,
        &'a str,
        Option<KeyKnowledge>,
        &'a [(&'a str, &'a str)],
        StatementOutcome,
    );

    use KeyKnowledge::{Presence, PresenceAndValue, Unknown};
    use StatementOutcome::{ConditionFailed, ConditionIgnored, Matched, MatchedIgnoring};

    #[test]
    fn outcomes() {
        let vpc = r#"{"StringEquals":{"aws:SourceVpc":"vpc-1"}}"#;
        let null_vpc = r#"{"Null":{"aws:SourceVpc":"false"}}"#;
        let prefix = r#"{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}"#;
        let two = r#"{"StringEquals":{"aws:SourceVpc":"vpc-1","aws:SourceAccount":"1"}}"#;
        let none: &[(&str, &str)] = &[];
        let in_vpc: &[(&str, &str)] = &[("aws:SourceVpc", "vpc-1")];
        let other_vpc: &[(&str, &str)] = &[("aws:SourceVpc", "vpc-2")];
        let bob: &[(&str, &str)] = &[("aws:username", "bob"), ("s3:prefix", "home/bob/x")];
        let (all, presence, unknown) = (Some(PresenceAndValue), Some(Presence), Some(Unknown));
        let cases: &[Case] = &[
            // Keys nobody vouches for: an Allow ignores what fails, a Deny what holds.
            ("Allow", vpc, None, none, MatchedIgnoring(0)),
            ("Allow", vpc, None, in_vpc, Matched),
            ("Deny", vpc, None, in_vpc, ConditionIgnored(0)),
            ("Deny", vpc, None, other_vpc, ConditionFailed(0)),
            // Fully known keys are evaluated as IAM would.
            ("Allow", vpc, all, none, ConditionFailed(0)),
            ("Allow", vpc, all, in_vpc, Matched),
            ("Deny", vpc, all, in_vpc, Matched),
            ("Deny", vpc, all, other_vpc, ConditionFailed(0)),
            // Known absence is enough to decide a value operator.
            ("Allow", vpc, presence, none, ConditionFailed(0)),
            // An unknown value: an Allow ignores it when it fails, a Deny cannot rely on it.
            ("Allow", vpc, presence, other_vpc, MatchedIgnoring(0)),
            ("Allow", vpc, presence, in_vpc, Matched),
            ("Deny", vpc, presence, in_vpc, ConditionIgnored(0)),
            ("Allow", vpc, unknown, none, MatchedIgnoring(0)),
            ("Deny", vpc, unknown, none, ConditionIgnored(0)),
            // Null needs presence only.
            ("Deny", null_vpc, presence, in_vpc, Matched),
            ("Allow", null_vpc, presence, none, ConditionFailed(0)),
            ("Deny", null_vpc, unknown, in_vpc, ConditionIgnored(0)),
            // The first failing condition that counts decides; the first ignored one is named.
            ("Allow", two, all, other_vpc, ConditionFailed(0)),
            ("Allow", two, all, in_vpc, MatchedIgnoring(1)),
        ];
        for (i, (effect, conditions, knowledge, request, want)) in cases.iter().enumerate() {
            let mut d = Discovery::new();
            if let Some(k) = knowledge {
                d = d.know("aws:SourceVpc", *k).unwrap();
            }
            let got = d.outcome(&statement(effect, conditions), &ctx(request));
            assert_eq!(got, *want, "case {i}: {effect} {conditions} {knowledge:?}");
        }
        // A policy variable naming a key whose value is not known makes the result unknown.
        let d = Discovery::new()
            .know("s3:prefix", PresenceAndValue)
            .unwrap();
        assert_eq!(d.outcome(&statement("Deny", prefix), &ctx(bob)), Matched);
        let d = d.know("aws:username", Presence).unwrap();
        assert_eq!(
            d.outcome(&statement("Deny", prefix), &ctx(bob)),
            ConditionIgnored(0)
        );
    }

    #[test]
    fn keys_match_by_name_or_pattern_ignoring_case() {
        let d = Discovery::new()
            .know("aws:SourceVpc", Presence)
            .unwrap()
            .know("/aws:ResourceTag/.*/", PresenceAndValue)
            .unwrap()
            .know("/sourcevpc/", Unknown)
            .unwrap();
        assert_eq!(d.knowledge("AWS:SOURCEVPC"), Some(Presence));
        assert_eq!(d.knowledge("aws:resourcetag/Team"), Some(PresenceAndValue));
        assert_eq!(
            d.knowledge("s3:ExistingObjectTag/x"),
            None,
            "only matching keys are configured"
        );
        assert_eq!(d.knowledge("ec2:SourceVpcArn"), Some(Unknown));
        assert!(matches!(
            Discovery::new().know("/(/", Unknown),
            Err(DiscoveryError::Pattern { .. })
        ));
        assert_eq!(KeyKnowledge::from_flags(false, true), None);
        assert_eq!(KeyKnowledge::from_flags(true, false), Some(Presence));
    }
}
