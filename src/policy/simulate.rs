//! `SimulateCustomPolicy`, as IAM's Query API defines its input and output JSON, plus one
//! extension (`SessionPolicyInputList`) and an `Explanation` per result. Unlike IAM's simulator,
//! trust policies are evaluated: a `CallerArn` that is an OIDC or SAML provider ARN makes the
//! caller a `Federated` principal and the `ResourcePolicy` the role's trust policy.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::context::{Context, ContextValue, Request, Resource};
use super::decide::{NamedPolicy, PolicySet, decide};
use super::document::Clause;
use super::error::PolicyError;
use super::explain::{Explanation, StatementRef};
use super::principal::Principal;
use super::{PolicyType, arn, parse};

/// The request body of `SimulateCustomPolicy` (AWS CLI `--cli-input-json` shape).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SimulateInput {
    #[serde(default)]
    pub policy_input_list: Vec<String>,
    #[serde(default)]
    pub permissions_boundary_policy_input_list: Vec<String>,
    /// Extension: session policies passed when the caller's session was created.
    #[serde(default)]
    pub session_policy_input_list: Vec<String>,
    pub action_names: Vec<String>,
    #[serde(default)]
    pub resource_arns: Vec<String>,
    pub resource_policy: Option<String>,
    pub resource_owner: Option<String>,
    pub caller_arn: Option<String>,
    #[serde(default)]
    pub context_entries: Vec<ContextEntry>,
    /// Accepted for compatibility; every scenario is the default one.
    pub resource_handling_option: Option<String>,
    pub max_items: Option<u32>,
    pub marker: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContextEntry {
    pub context_key_name: String,
    #[serde(default)]
    pub context_key_values: Vec<String>,
    pub context_key_type: Option<String>,
}

/// The response of `SimulateCustomPolicy`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SimulateOutput {
    pub evaluation_results: Vec<EvaluationResult>,
    pub is_truncated: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EvaluationResult {
    pub eval_action_name: String,
    pub eval_resource_name: String,
    pub eval_decision: &'static str,
    pub matched_statements: Vec<MatchedStatement>,
    pub missing_context_values: Vec<String>,
    /// Whether the permissions boundary alone allows the request; absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_by_permissions_boundary: Option<bool>,
    /// The caller simulated when the input names none (`CallerArn` absent): an IAM user of the
    /// account that owns the resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simulated_caller: Option<String>,
    pub explanation: Explanation,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MatchedStatement {
    pub source_policy_id: String,
    pub source_policy_type: &'static str,
}

/// Why a simulation could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimulateError {
    #[error("{input}: {source}")]
    Policy { input: String, source: PolicyError },
    #[error("invalid input: {0}")]
    Input(String),
}

impl SimulateError {
    /// The AWS error code for this failure.
    pub fn code(&self) -> &'static str {
        match self {
            SimulateError::Policy { .. } => super::MALFORMED_POLICY_DOCUMENT,
            SimulateError::Input(_) => "InvalidInput",
        }
    }
}

/// Runs a simulation.
pub fn simulate(input: &SimulateInput) -> Result<SimulateOutput, SimulateError> {
    if input.action_names.is_empty() {
        return Err(SimulateError::Input(
            "ActionNames must name at least one action".into(),
        ));
    }
    let caller = caller(input)?;
    let federated = matches!(caller, Principal::Federated { .. });
    let trust = federated || input.action_names.iter().any(|a| is_trust_action(a));
    let resource_type = if trust {
        PolicyType::Trust
    } else {
        PolicyType::Resource
    };
    let identity = load(
        &input.policy_input_list,
        "PolicyInputList",
        PolicyType::Identity,
    )?;
    let boundary = load(
        &input.permissions_boundary_policy_input_list,
        "PermissionsBoundaryPolicyInputList",
        PolicyType::PermissionsBoundary,
    )?;
    let session = load(
        &input.session_policy_input_list,
        "SessionPolicyInputList",
        PolicyType::Session,
    )?;
    let resource_policy = resource_policy(input.resource_policy.as_deref(), resource_type)?;
    let owner = input
        .resource_owner
        .as_deref()
        .map(owner_account)
        .transpose()?;
    let simulation = Simulation {
        caller,
        identity: &identity,
        boundary: &boundary,
        session: &session,
        resource_policy: resource_policy.as_ref(),
        resource_type,
        trust_policy: &|_| None,
        context: context(&input.context_entries)?,
        owner,
        caller_of_owner: input.caller_arn.is_none(),
    };
    Ok(SimulateOutput {
        evaluation_results: simulation.run(&input.action_names, &input.resource_arns),
        is_truncated: false,
    })
}

/// Whether `action` is decided by a role's trust policy when the resource is a role:
/// `sts:AssumeRole*`, `sts:TagSession`, `sts:SetSourceIdentity`.
pub fn is_trust_action(action: &str) -> bool {
    let a = action.to_ascii_lowercase();
    a.starts_with("sts:assumerole") || a == "sts:tagsession" || a == "sts:setsourceidentity"
}

/// Compiles a list of policy texts named `NAME.1`, `NAME.2`... as IAM's simulator names them.
pub fn load(list: &[String], name: &str, t: PolicyType) -> Result<Vec<NamedPolicy>, SimulateError> {
    list.iter()
        .enumerate()
        .map(|(i, text)| {
            let id = format!("{name}.{}", i + 1);
            parse(text, t)
                .map(|p| NamedPolicy::new(id.clone(), p))
                .map_err(|source| SimulateError::Policy { input: id, source })
        })
        .collect()
}

/// The `ResourcePolicy` input, compiled as `resource_type`.
pub fn resource_policy(
    text: Option<&str>,
    resource_type: PolicyType,
) -> Result<Option<NamedPolicy>, SimulateError> {
    text.map(|text| {
        parse(text, resource_type)
            .map(|p| NamedPolicy::new("ResourcePolicy", p))
            .map_err(|source| SimulateError::Policy {
                input: "ResourcePolicy".into(),
                source,
            })
    })
    .transpose()
}

/// A simulation's inputs once compiled: one caller and its policies, asked about every action
/// on every resource.
pub struct Simulation<'a> {
    pub caller: Principal,
    pub identity: &'a [NamedPolicy],
    pub boundary: &'a [NamedPolicy],
    pub session: &'a [NamedPolicy],
    /// The `ResourcePolicy` input, of type `resource_type`.
    pub resource_policy: Option<&'a NamedPolicy>,
    pub resource_type: PolicyType,
    /// The trust policy of the role a resource ARN names, if known: it decides trust actions
    /// ([`is_trust_action`]) on that role when no `resource_policy` is given.
    pub trust_policy: &'a dyn Fn(&str) -> Option<NamedPolicy>,
    pub context: Context,
    /// `ResourceOwner`'s account.
    pub owner: Option<String>,
    /// No `CallerArn` was given: each request is simulated as an IAM user of the account that
    /// owns its resource (`owner`, else the resource ARN's account, else `caller`'s), as IAM's
    /// simulator does for a caller in the resources' account.
    pub caller_of_owner: bool,
}

impl std::fmt::Debug for Simulation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("caller", &self.caller)
            .field("identity", &self.identity.len())
            .field("boundary", &self.boundary.len())
            .finish_non_exhaustive()
    }
}

impl Simulation<'_> {
    /// One result per action and resource (`*` when `resources` is empty), in that order.
    pub fn run(&self, actions: &[String], resources: &[String]) -> Vec<EvaluationResult> {
        let star = ["*".to_owned()];
        let resources = if resources.is_empty() {
            &star[..]
        } else {
            resources
        };
        let mut results = Vec::with_capacity(actions.len() * resources.len());
        for action in actions {
            for resource_name in resources {
                results.push(self.one(action, resource_name));
            }
        }
        results
    }

    fn one(&self, action: &str, resource_name: &str) -> EvaluationResult {
        let trust = match self.resource_policy {
            None if is_trust_action(action) => (self.trust_policy)(resource_name),
            _ => None,
        };
        let (resource_policy, resource_type) = match (self.resource_policy, &trust) {
            (Some(p), _) => (Some(p), self.resource_type),
            (None, Some(t)) => (Some(t), PolicyType::Trust),
            (None, None) => (None, self.resource_type),
        };
        let set = PolicySet {
            identity: self.identity,
            resource: resource_policy,
            resource_type,
            boundary: self.boundary,
            session: self.session,
            ..PolicySet::default()
        };
        let mut resource = Resource::new(resource_name);
        if let Some(owner) = &self.owner {
            resource = resource.with_account(owner.clone());
        }
        let (caller, simulated_caller) = match resource.account() {
            Some(account) if self.caller_of_owner => {
                let arn = simulated_caller_arn(account);
                match Principal::parse(&arn) {
                    Some(p) => (p, Some(arn)),
                    None => (self.caller.clone(), None),
                }
            }
            _ => (self.caller.clone(), None),
        };
        let simulated_caller = simulated_caller
            .or_else(|| self.caller_of_owner.then(|| self.caller.name().to_owned()));
        let request = Request::new(caller, action, resource, self.context.clone());
        let evaluation = decide(&request, &set);
        let explanation = Explanation::new(&evaluation, &set, &request);
        // The boundary alone, as IAM reports it (`AllowedByPermissionsBoundary`).
        let allowed_by_permissions_boundary = (!self.boundary.is_empty()).then(|| {
            let alone = PolicySet {
                identity: self.boundary,
                ..PolicySet::default()
            };
            decide(&request, &alone).decision.is_allowed()
        });
        EvaluationResult {
            eval_action_name: action.to_owned(),
            eval_resource_name: resource_name.to_owned(),
            eval_decision: evaluation.decision.as_str(),
            matched_statements: explanation
                .matched_statements
                .iter()
                .map(matched_statement)
                .collect(),
            missing_context_values: missing_context_values(&set, &request),
            allowed_by_permissions_boundary,
            simulated_caller,
            explanation,
        }
    }
}

fn matched_statement(s: &StatementRef) -> MatchedStatement {
    MatchedStatement {
        source_policy_id: s.policy_id.clone(),
        source_policy_type: s.policy_type,
    }
}

/// The simulated caller: `CallerArn`, else a user of the resource owner's account:
/// `ResourceOwner`, else the account of the first resource ARN naming one. Only when neither
/// names an account (S3 ARNs, `*`: resources the engine counts as the caller's own) is a
/// placeholder account used. [`Simulation::caller_of_owner`] refines this per resource.
pub fn caller(input: &SimulateInput) -> Result<Principal, SimulateError> {
    match &input.caller_arn {
        Some(arn) => Principal::parse(arn).ok_or_else(|| {
            SimulateError::Input(format!("CallerArn \"{arn}\" is not a principal ARN"))
        }),
        None => {
            let account = match &input.resource_owner {
                Some(owner) => owner_account(owner)?,
                None => input
                    .resource_arns
                    .iter()
                    .find_map(|r| Resource::new(r.as_str()).account().map(str::to_owned))
                    .unwrap_or_else(|| PLACEHOLDER_ACCOUNT.to_owned()),
            };
            Principal::parse(&simulated_caller_arn(&account))
                .ok_or_else(|| SimulateError::Input("ResourceOwner is not an account".into()))
        }
    }
}

/// The account of a simulated caller when nothing names one.
pub const PLACEHOLDER_ACCOUNT: &str = "123456789012";

/// The anonymous IAM user simulated in `account`.
pub fn simulated_caller_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:user/SimulatedCaller")
}

/// `ResourceOwner` is an account id or an account (root) ARN.
/// `ResourceOwner` as an account id.
pub fn owner_account(owner: &str) -> Result<String, SimulateError> {
    if arn::is_account_id(owner) {
        return Ok(owner.to_owned());
    }
    arn::Arn::parse(owner)
        .map(|a| a.account.to_owned())
        .filter(|a| arn::is_account_id(a))
        .ok_or_else(|| SimulateError::Input(format!("ResourceOwner \"{owner}\" is not an account")))
}

/// The `ContextEntries` input as request context keys.
pub fn context(entries: &[ContextEntry]) -> Result<Context, SimulateError> {
    let mut ctx = Context::new();
    for e in entries {
        let list = e
            .context_key_type
            .as_deref()
            .is_some_and(|t| t.to_ascii_lowercase().ends_with("list"));
        let value = match (list, e.context_key_values.as_slice()) {
            (false, [one]) => ContextValue::Single(one.clone()),
            (false, []) => {
                return Err(SimulateError::Input(format!(
                    "context key {} has no value",
                    e.context_key_name
                )));
            }
            (_, values) => ContextValue::Multi(values.to_vec()),
        };
        ctx.insert_value(&e.context_key_name, value);
    }
    Ok(ctx)
}

/// Condition keys (and variables) read by statements whose action matches but absent from the
/// request: results may change once they are supplied.
fn missing_context_values(set: &PolicySet<'_>, request: &Request) -> Vec<String> {
    let mut missing = BTreeSet::new();
    let all = set
        .identity
        .iter()
        .chain(set.boundary)
        .chain(set.session)
        .chain(set.resource);
    for named in all {
        for statement in &named.policy.statements {
            let acts = match &statement.action {
                Some(Clause::Is(p)) => p.iter().any(|p| p.matches(request.action_lower())),
                Some(Clause::Not(p)) => !p.iter().any(|p| p.matches(request.action_lower())),
                None => false,
            };
            if !acts {
                continue;
            }
            for condition in &statement.conditions {
                for key in condition.referenced_keys() {
                    if !request.context.contains(&key) {
                        missing.insert(key);
                    }
                }
            }
        }
    }
    missing.into_iter().collect()
}
