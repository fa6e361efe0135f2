//! Turning an [`Evaluation`] into words: which statements decided, and for a denial which policy
//! type lacked an allow, or which statement failed on which condition with which request value.
//! Built on demand from the evaluation's trace, so deciding stays cheap.

use std::fmt;

use serde::Serialize;

use super::PolicyType;
use super::context::Request;
use super::decide::{Decision, Evaluation, Grant, Missing, PolicySet};
use super::document::Effect;
use super::evaluate::{StatementHit, StatementOutcome};

/// A statement located in its policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StatementRef {
    pub policy_type: &'static str,
    pub policy_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// 0-based position in the policy's `Statement` list.
    pub statement_index: usize,
    pub effect: &'static str,
}

/// A statement whose action matched but which did not apply, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NearMiss {
    #[serde(flatten)]
    pub statement: StatementRef,
    pub reason: String,
}

/// A decision in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Explanation {
    pub decision: &'static str,
    pub summary: String,
    pub matched_statements: Vec<StatementRef>,
    pub near_misses: Vec<NearMiss>,
}

impl Explanation {
    pub fn new(evaluation: &Evaluation, set: &PolicySet<'_>, request: &Request) -> Explanation {
        let locate = |hit: &StatementHit| statement_ref(hit, set);
        let matched: Vec<StatementRef> = evaluation
            .trace
            .iter()
            .filter(|h| h.outcome.applies())
            .map(locate)
            .collect();
        let near_misses = if evaluation.decision == Decision::Allowed {
            Vec::new()
        } else {
            evaluation
                .trace
                .iter()
                .filter(|h| !h.outcome.applies())
                .map(|h| NearMiss {
                    statement: locate(h),
                    reason: near_miss_reason(h, set, request),
                })
                .collect()
        };
        let what = format!("{} on {}", request.action(), request.resource.name());
        let first = |effect: Effect| {
            evaluation
                .matched(effect)
                .next()
                .map(|h| describe(&locate(h)))
                .unwrap_or_default()
        };
        let summary = match evaluation.decision {
            Decision::Allowed => match evaluation.grant {
                Some(Grant::Unconditional) => format!("{what} is always allowed"),
                Some(Grant::Identity) => format!("{what} is allowed by {}", first(Effect::Allow)),
                Some(Grant::ResourcePolicy) => {
                    format!(
                        "{what} is allowed by the resource's policy: {}",
                        first(Effect::Allow)
                    )
                }
                Some(Grant::IdentityAndResource) | None => format!(
                    "{what} is allowed across accounts by both the identity side and the resource's policy"
                ),
            },
            Decision::ExplicitDeny => {
                format!("{what} is explicitly denied by {}", first(Effect::Deny))
            }
            Decision::ImplicitDeny => format!(
                "{what} is implicitly denied: {}",
                missing_text(evaluation.missing, set, request)
            ),
        };
        Explanation {
            decision: evaluation.decision.as_str(),
            summary,
            matched_statements: matched,
            near_misses,
        }
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.summary)?;
        for m in &self.matched_statements {
            writeln!(f, "  applied: {}", describe(m))?;
        }
        for n in &self.near_misses {
            writeln!(
                f,
                "  did not apply: {}: {}",
                describe(&n.statement),
                n.reason
            )?;
        }
        Ok(())
    }
}

fn statement_ref(hit: &StatementHit, set: &PolicySet<'_>) -> StatementRef {
    let policy = set.policy(hit);
    let sid = policy
        .and_then(|p| p.policy.statements.get(hit.statement))
        .and_then(|s| s.sid.clone())
        .filter(|s| !s.is_empty());
    StatementRef {
        policy_type: hit.policy_type.name(),
        policy_id: policy.map(|p| p.name.to_string()).unwrap_or_default(),
        sid,
        statement_index: hit.statement,
        effect: hit.effect.as_str(),
    }
}

fn describe(s: &StatementRef) -> String {
    let sid = s
        .sid
        .as_ref()
        .map(|sid| format!(" (Sid \"{sid}\")"))
        .unwrap_or_default();
    format!(
        "{} policy {} statement {}{sid} [{}]",
        s.policy_type,
        s.policy_id,
        s.statement_index + 1,
        s.effect
    )
}

fn near_miss_reason(hit: &StatementHit, set: &PolicySet<'_>, request: &Request) -> String {
    let condition = |i: usize| {
        set.policy(hit)
            .and_then(|p| p.policy.statements.get(hit.statement))
            .and_then(|s| s.conditions.get(i))
    };
    match hit.outcome {
        StatementOutcome::Matched | StatementOutcome::MatchedIgnoring(_) => "applied".to_owned(),
        StatementOutcome::ResourceMismatch => {
            format!("its resources do not cover {}", request.resource.name())
        }
        StatementOutcome::PrincipalMismatch => {
            format!("its principals do not name {}", request.principal.name())
        }
        StatementOutcome::ConditionFailed(i) => match condition(i) {
            Some(c) => {
                let actual = match request.context.get_lower(c.key_lower()) {
                    None => "the request has no such key".to_owned(),
                    Some(v) => format!("the request has {:?}", v.values()),
                };
                format!(
                    "condition {} {} {:?} failed: {actual}",
                    c.operator, c.key, c.raw_values
                )
            }
            None => "a condition failed".to_owned(),
        },
        StatementOutcome::ConditionIgnored(i) => match condition(i) {
            Some(c) => format!(
                "condition {} {} {:?} is not known to hold, and in discovery mode a Deny applies \
                 only on conditions known to hold",
                c.operator, c.key, c.raw_values
            ),
            None => "a condition is not known to hold".to_owned(),
        },
    }
}

fn missing_text(missing: Option<Missing>, set: &PolicySet<'_>, request: &Request) -> String {
    let action = request.action();
    let resource_policy = match (set.resource_type, set.resource) {
        (_, None) => "no resource-based policy is present, and it must allow",
        (PolicyType::Trust, Some(_)) => "the role's trust policy does not allow",
        (_, Some(_)) => "the resource's policy does not allow",
    };
    match missing {
        Some(Missing::Identity) => format!("no identity-based policy allows {action}"),
        Some(Missing::ResourcePolicy) => format!(
            "{resource_policy} {} to perform {action}",
            request.principal.name()
        ),
        Some(Missing::IdentityAndResource) => format!(
            "across accounts both the identity side and the resource's policy must allow {action}; neither does"
        ),
        Some(Missing::PermissionsBoundary) => {
            format!("the permissions boundary does not allow {action}")
        }
        Some(Missing::Session) => format!("no session policy allows {action}"),
        Some(Missing::Scp(level)) => format!(
            "no service control policy at organization level {} allows {action}",
            level + 1
        ),
        Some(Missing::Endpoint) => format!("the VPC endpoint policy does not allow {action}"),
        Some(Missing::ServiceRule(rule)) => rule.to_owned(),
        None => "nothing allows it".to_owned(),
    }
}

/// A short reason for a denial that is safe to give the caller: which kind of policy denied and,
/// for statements that would otherwise have applied, which condition keys failed. It never
/// quotes policy values, statement ids, policy names or request values.
pub fn caller_safe_reason(evaluation: &Evaluation, set: &PolicySet<'_>) -> String {
    match evaluation.decision {
        Decision::Allowed => "allowed".to_owned(),
        Decision::ExplicitDeny => match evaluation.matched(Effect::Deny).next() {
            Some(h) => format!(
                "an explicit deny in {} policy applies",
                article(h.policy_type.name())
            ),
            None => "an explicit deny applies".to_owned(),
        },
        Decision::ImplicitDeny => {
            let mut keys: Vec<&str> = Vec::new();
            let mut principal_named = false;
            for hit in &evaluation.trace {
                if hit.effect != Effect::Allow {
                    continue;
                }
                if let StatementOutcome::ConditionFailed(i) = hit.outcome {
                    principal_named = true;
                    let key = set
                        .policy(hit)
                        .and_then(|p| p.policy.statements.get(hit.statement))
                        .and_then(|s| s.conditions.get(i))
                        .map(|c| c.key.as_str());
                    if let Some(key) = key
                        && !keys.contains(&key)
                    {
                        keys.push(key);
                    }
                } else if hit.outcome == StatementOutcome::ResourceMismatch {
                    principal_named = true;
                }
            }
            let policy = match (set.resource_type, evaluation.missing) {
                (PolicyType::Trust, Some(Missing::ResourcePolicy)) => "the role's trust policy",
                (_, Some(Missing::PermissionsBoundary)) => "the permissions boundary",
                (_, Some(Missing::Session)) => "the session policy",
                (_, Some(Missing::Identity)) => "the identity-based policies",
                _ => "the applicable policies",
            };
            if !keys.is_empty() {
                format!(
                    "{policy} has no statement whose conditions match; failed condition keys: {}",
                    keys.join(", ")
                )
            } else if principal_named {
                format!("{policy} has no statement that covers this request")
            } else if set.resource_type == PolicyType::Trust {
                format!("{policy} has no statement that trusts this principal for this action")
            } else {
                format!("{policy} has no statement that allows this action")
            }
        }
    }
}

fn article(kind: &str) -> String {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {kind}")
    } else {
        format!("a {kind}")
    }
}
