//! Matching one policy's statements against a request, recording what matched and what nearly
//! did, so a decision can be explained without evaluating twice.

use super::PolicyType;
use super::context::Request;
use super::document::{Clause, Effect, Policy, Statement};
use super::glob::{self, Token};
use super::principal::PrincipalMatch;

/// How a statement related to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementOutcome {
    /// Action, resource, principal and every condition matched: the statement applies.
    Matched,
    /// The action matched but the resource did not.
    ResourceMismatch,
    /// The action matched but the statement does not name the caller.
    PrincipalMismatch,
    /// Everything else matched but this condition (index into `Statement::conditions`) did not.
    ConditionFailed(usize),
    /// Discovery mode: an `Allow` that applies with conditions ignored, this one the first.
    MatchedIgnoring(usize),
    /// Discovery mode: a `Deny` that does not apply because this condition (the first of those
    /// ignored) is not known to hold.
    ConditionIgnored(usize),
}

impl StatementOutcome {
    /// Whether the statement applies to the request.
    pub fn applies(self) -> bool {
        matches!(
            self,
            StatementOutcome::Matched | StatementOutcome::MatchedIgnoring(_)
        )
    }
}

/// A statement that matched or nearly matched, located by policy and statement index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementHit {
    pub policy_type: PolicyType,
    /// Index of the policy within its type's list (or the SCP/RCP level and policy).
    pub policy: usize,
    pub level: usize,
    pub statement: usize,
    pub effect: Effect,
    pub outcome: StatementOutcome,
    /// For resource-based policies: how the statement named the caller.
    pub principal: Option<PrincipalMatch>,
}

/// What one policy (or one group of policies) says about a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdict {
    pub allow: bool,
    pub deny: bool,
}

impl Verdict {
    pub fn merge(self, other: Verdict) -> Verdict {
        Verdict {
            allow: self.allow || other.allow,
            deny: self.deny || other.deny,
        }
    }
}

/// Where a policy sits, for the trace.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Location {
    pub policy_type: PolicyType,
    pub level: usize,
    pub policy: usize,
}

/// Evaluates every statement of `policy`, appending matches and near misses to `trace`.
pub(crate) fn scan(
    policy: &Policy,
    at: Location,
    request: &Request,
    has_boundary: bool,
    trace: &mut Vec<StatementHit>,
) -> Verdict {
    let mut verdict = Verdict::default();
    for statement in &policy.statements {
        let Some((outcome, principal)) =
            evaluate_statement(statement, at.policy_type, request, has_boundary)
        else {
            continue;
        };
        if outcome.applies() {
            match statement.effect {
                Effect::Deny => verdict.deny = true,
                Effect::Allow => verdict.allow = true,
            }
        }
        trace.push(StatementHit {
            policy_type: at.policy_type,
            policy: at.policy,
            level: at.level,
            statement: statement.index,
            effect: statement.effect,
            outcome,
            principal,
        });
    }
    verdict
}

/// `None` when the statement's action does not cover the request (not worth explaining).
pub(crate) fn evaluate_statement(
    statement: &Statement,
    policy_type: PolicyType,
    request: &Request,
    has_boundary: bool,
) -> Option<(StatementOutcome, Option<PrincipalMatch>)> {
    if !action_matches(statement, request) {
        return None;
    }
    let mut principal = None;
    // Endpoint policies and RCPs carry `"Principal": "*"` by convention; only resource-based
    // policies choose callers.
    if matches!(policy_type, PolicyType::Resource | PolicyType::Trust) {
        principal = principal_match(statement, request, has_boundary);
        if principal.is_none() {
            return Some((StatementOutcome::PrincipalMismatch, None));
        }
    }
    if !resource_matches(statement, request) {
        return Some((StatementOutcome::ResourceMismatch, principal));
    }
    if let Some(discovery) = request.discovery() {
        return Some((discovery.outcome(statement, &request.context), principal));
    }
    for (i, condition) in statement.conditions.iter().enumerate() {
        if !condition.evaluate(&request.context) {
            return Some((StatementOutcome::ConditionFailed(i), principal));
        }
    }
    Some((StatementOutcome::Matched, principal))
}

fn action_matches(statement: &Statement, request: &Request) -> bool {
    let action = request.action_lower();
    match &statement.action {
        Some(Clause::Is(patterns)) => patterns.iter().any(|p| p.matches(action)),
        Some(Clause::Not(patterns)) => !patterns.iter().any(|p| p.matches(action)),
        None => false,
    }
}

fn resource_matches(statement: &Statement, request: &Request) -> bool {
    let Some(clause) = &statement.resource else {
        // Trust policies (and some resource policies) omit Resource: the policy's own resource.
        return true;
    };
    let negated = clause.is_not();
    let deny = statement.effect == Effect::Deny;
    let any = clause
        .inner()
        .iter()
        .any(|p| entry_matches(p, request, deny, negated));
    any != negated
}

/// Whether one Resource/NotResource entry covers the request's resource. A request may name
/// many resources at once (`*`, or a pattern such as `bucket/*`, as simulations do): an `Allow`
/// then applies when it overlaps them, a `Deny` only when it covers them all.
fn entry_matches(
    pattern: &super::document::ResourcePattern,
    request: &Request,
    deny: bool,
    negated: bool,
) -> bool {
    if pattern.is_wildcard() {
        return true;
    }
    let resource = &request.resource;
    let name = resource.name();
    if !name.contains('*') {
        return pattern.matches(name, resource.arn().as_ref(), &request.context);
    }
    // The request's resource is itself a wildcard.
    if name.bytes().all(|b| b == b'*') {
        if request.wildcard_only_action() {
            return false;
        }
        // "Some resource": Allow statements apply, Deny statements only through "*".
        return deny == negated;
    }
    let Some(policy_tokens) = pattern.tokens(&request.context) else {
        return false;
    };
    let request_tokens: Vec<Token> = glob::tokenize(name);
    // Strict where it grants or denies everything in the request; lenient where it could apply.
    if deny != negated {
        glob::covers(&policy_tokens, &request_tokens)
    } else {
        glob::overlaps(&policy_tokens, &request_tokens)
    }
}

fn principal_match(
    statement: &Statement,
    request: &Request,
    has_boundary: bool,
) -> Option<PrincipalMatch> {
    let caller = &request.principal;
    match &statement.principal {
        Some(Clause::Is(set)) => set.classify(caller),
        Some(Clause::Not(set)) => {
            // IAM: a Deny with NotPrincipal always applies to callers with a permissions boundary.
            let forced = statement.effect == Effect::Deny && has_boundary;
            (forced || !set.excludes(caller)).then_some(PrincipalMatch::Exact)
        }
        // A resource-based statement without a Principal applies to no one.
        None => None,
    }
}
