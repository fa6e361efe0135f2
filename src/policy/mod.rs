//! The IAM policy engine: parse and validate AWS IAM JSON policies, compile them once, and decide
//! requests across policy types with AWS's evaluation logic, explaining every decision.
//!
//! `validate_policy` is Access Analyzer's `ValidatePolicy`: findings with their places in the
//! text. Pure: no I/O, no clock, no async. Everything the engine knows about a request arrives in a
//! [`Request`]. Follows the IAM JSON policy reference and "Policy evaluation logic" of the IAM
//! User Guide.

mod arn;
pub mod condition;
mod context;
mod decide;
mod discovery;
mod document;
mod error;
mod evaluate;
mod explain;
mod findings;
mod glob;
mod issue;
mod json;
mod lint;
mod parse;
mod principal;
mod service_rules;
pub mod simulate;
mod spanned;
pub mod trust;
mod validate;
mod variables;

pub use arn::{Arn, ArnPattern, is_account_id};
pub use context::{Context, ContextValue, Request, Resource};
pub use decide::{Decision, Evaluation, NamedPolicy, PolicySet, decide};
pub use discovery::{Discovery, DiscoveryError, KeyKnowledge};
pub use document::{ActionPattern, Clause, Effect, Policy, ResourcePattern, Statement, Version};
pub use error::{MALFORMED_POLICY_DOCUMENT, PathStep, PolicyError, Warning, aws_message};
pub use evaluate::{StatementHit, StatementOutcome};
pub use explain::{Explanation, NearMiss, StatementRef, caller_safe_reason};
pub use findings::{Finding, Location, PathElement, Span, validate_policy};
pub use issue::{FindingType, Issue};
pub use lint::lint;
pub use parse::{MAX_POLICY_BYTES, parse};
pub use principal::{AwsKind, AwsPrincipal, Principal, PrincipalSet, PrincipalType};
pub use spanned::Position;

/// Which role a policy plays. Decides both the validation rules and how it takes part in a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyType {
    /// Attached to a user, group or role (inline or managed).
    Identity,
    /// Attached to a resource (bucket policy, key policy...); names principals.
    Resource,
    /// A role's trust policy: the resource-based policy of the role for `sts:AssumeRole*`.
    Trust,
    /// A permissions boundary on a user or role.
    PermissionsBoundary,
    /// Passed when a session is created (`Policy`, `PolicyArns`).
    Session,
    /// An organization's service control policy.
    Scp,
    /// An organization's resource control policy.
    Rcp,
    /// A VPC endpoint policy.
    Endpoint,
}

impl PolicyType {
    /// Whether statements of this type name principals (and match nothing without one).
    pub fn has_principal(self) -> bool {
        matches!(
            self,
            PolicyType::Resource | PolicyType::Trust | PolicyType::Rcp | PolicyType::Endpoint
        )
    }

    /// The name used in explanations and the simulate output.
    pub const fn name(self) -> &'static str {
        match self {
            PolicyType::Identity => "identity",
            PolicyType::Resource => "resource",
            PolicyType::Trust => "trust",
            PolicyType::PermissionsBoundary => "permissions boundary",
            PolicyType::Session => "session",
            PolicyType::Scp => "service control",
            PolicyType::Rcp => "resource control",
            PolicyType::Endpoint => "endpoint",
        }
    }
}
