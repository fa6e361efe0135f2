//! `SimulateCustomPolicy` and `SimulatePrincipalPolicy` over IAM's Query API, on the engine of
//! [`crate::policy::simulate`] (the same one `sts-broker policy simulate` runs). One difference
//! from IAM's simulator, on purpose: for `sts:AssumeRole*`, `sts:TagSession` and
//! `sts:SetSourceIdentity` on a configured role without a `ResourcePolicy`, the role's trust
//! policy is the resource-based policy (parameters, callers, answers: docs/policy-engine.md,
//! "Simulate over HTTP").

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::Members;
use crate::broker::Broker;
use crate::broker::admin;
use crate::broker::permissions::Permissions;
use crate::broker::{ApiError, RequestMeta};
use crate::encoding::shorten;
use crate::iam::Role;
use crate::policy::simulate::{
    self, ContextEntry, EvaluationResult, SimulateError, SimulateInput, Simulation,
};
use crate::policy::{Context, NamedPolicy, PolicyType, Principal, is_account_id};
use crate::query::Params;

/// Most members of any list parameter (the request's 256 parameters bound them all anyway).
const MAX_LIST: usize = 200;
/// `MaxItems`' range (IAM's model).
const MAX_ITEMS: usize = 1000;
/// IAM's `ContextKeyType` values.
const CONTEXT_KEY_TYPES: [&str; 12] = [
    "string",
    "stringList",
    "numeric",
    "numericList",
    "boolean",
    "booleanList",
    "ip",
    "ipList",
    "binary",
    "binaryList",
    "date",
    "dateList",
];

/// `SimulatePolicyResponse`, the result of both actions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SimulatePolicyResult {
    pub evaluation_results: Members<EvaluationResultXml>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EvaluationResultXml {
    pub eval_action_name: String,
    pub eval_resource_name: String,
    pub eval_decision: &'static str,
    pub matched_statements: Members<StatementXml>,
    pub missing_context_values: Members<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions_boundary_decision_detail: Option<BoundaryDetail>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StatementXml {
    pub source_policy_id: String,
    pub source_policy_type: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BoundaryDetail {
    pub allowed_by_permissions_boundary: bool,
}

/// What both actions read.
struct Common {
    policies: Vec<String>,
    boundaries: Vec<String>,
    actions: Vec<String>,
    resources: Vec<String>,
    resource_policy: Option<String>,
    resource_owner: Option<String>,
    caller_arn: Option<String>,
    context: Vec<ContextEntry>,
    max_items: Option<usize>,
    start: usize,
}

fn owned(list: Vec<&str>) -> Vec<String> {
    list.into_iter().map(str::to_owned).collect()
}

fn read_common(params: &Params) -> Result<Common, ApiError> {
    let actions = owned(params.list("ActionNames", None, MAX_LIST)?);
    if actions.is_empty() {
        return Err(ApiError::missing_parameter("ActionNames"));
    }
    for a in &actions {
        if a.is_empty() || a.len() > 128 {
            return Err(ApiError::invalid_input(format!(
                "Action name {} is not 1 to 128 characters",
                shorten(a)
            )));
        }
    }
    let resources = owned(params.list("ResourceArns", None, MAX_LIST)?);
    for r in &resources {
        if r.is_empty() || r.len() > 2048 {
            return Err(ApiError::invalid_input(format!(
                "Resource ARN {} is not 1 to 2048 characters",
                shorten(r)
            )));
        }
    }
    let names = params.list("ContextEntries", Some("ContextKeyName"), MAX_LIST)?;
    let mut context = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let prefix = format!("ContextEntries.member.{}", i + 1);
        if name.is_empty() || name.len() > 256 {
            return Err(ApiError::invalid_input(
                "ContextKeyName must be 1 to 256 characters",
            ));
        }
        let values = owned(params.list(&format!("{prefix}.ContextKeyValues"), None, MAX_LIST)?);
        let kind = params.get(&format!("{prefix}.ContextKeyType"));
        if let Some(k) = kind
            && !CONTEXT_KEY_TYPES.contains(&k)
        {
            return Err(ApiError::invalid_input(format!(
                "ContextKeyType {} is not one of {}",
                shorten(k),
                CONTEXT_KEY_TYPES.join(", ")
            )));
        }
        context.push(ContextEntry {
            context_key_name: (*name).to_owned(),
            context_key_values: values,
            context_key_type: kind.map(str::to_owned),
        });
    }
    let max_items = match params.get("MaxItems") {
        None => None,
        Some(m) => Some(
            m.parse::<usize>()
                .ok()
                .filter(|m| (1..=MAX_ITEMS).contains(m))
                .ok_or_else(|| {
                    ApiError::invalid_input(format!("MaxItems must be 1 to {MAX_ITEMS}"))
                })?,
        ),
    };
    // Markers are the index of the next result, as this endpoint hands them out.
    let start = match params.get("Marker") {
        None => 0,
        Some(m) => m
            .parse::<usize>()
            .map_err(|_| ApiError::invalid_input("Marker is not one this endpoint returned"))?,
    };
    if let Some(option) = params.get("ResourceHandlingOption")
        && option.is_empty()
    {
        return Err(ApiError::invalid_input(
            "ResourceHandlingOption must not be empty",
        ));
    }
    Ok(Common {
        policies: owned(params.list("PolicyInputList", None, MAX_LIST)?),
        boundaries: owned(params.list("PermissionsBoundaryPolicyInputList", None, MAX_LIST)?),
        actions,
        resources,
        resource_policy: params.get("ResourcePolicy").map(str::to_owned),
        resource_owner: params.get("ResourceOwner").map(str::to_owned),
        caller_arn: params.get("CallerArn").map(str::to_owned),
        context,
        max_items,
        start,
    })
}

fn input_error(e: SimulateError) -> ApiError {
    match e {
        SimulateError::Policy { input, source } => {
            ApiError::invalid_input(format!("{input}: {source}"))
        }
        SimulateError::Input(message) => ApiError::invalid_input(message),
    }
}

/// `SimulateCustomPolicy`; the caller needs `iam:SimulateCustomPolicy` on `*`.
pub async fn custom(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<SimulatePolicyResult, ApiError> {
    admin::require(state, meta, "iam:SimulateCustomPolicy", "*").await?;
    let c = read_common(params)?;
    if c.policies.is_empty() {
        return Err(ApiError::missing_parameter("PolicyInputList"));
    }
    within_budget(&c)?;
    let trust = trust_policies(state, &c);
    off_runtime(state, move || {
        let input = SimulateInput {
            policy_input_list: c.policies.clone(),
            permissions_boundary_policy_input_list: c.boundaries.clone(),
            action_names: c.actions.clone(),
            resource_arns: c.resources.clone(),
            resource_policy: c.resource_policy.clone(),
            resource_owner: c.resource_owner.clone(),
            caller_arn: c.caller_arn.clone(),
            context_entries: c.context.clone(),
            ..SimulateInput::default()
        };
        let caller = simulate::caller(&input).map_err(input_error)?;
        let identity = simulate::load(&c.policies, "PolicyInputList", PolicyType::Identity)
            .map_err(input_error)?;
        let context = simulate::context(&c.context).map_err(input_error)?;
        let caller_of_owner = c.caller_arn.is_none();
        run(
            &c,
            (caller, caller_of_owner),
            identity,
            context,
            None,
            &trust,
        )
    })
    .await
}

/// Most work one simulation may ask for: actions × resources × bytes of policy (about a second
/// of one core), so that a few calls cannot hold every simulation slot for long.
const MAX_WORK: u64 = 1 << 30;

/// The work `c` asks for ([`MAX_WORK`]), refused when it is too much. Checked before a slot is
/// taken.
fn within_budget(c: &Common) -> Result<(), ApiError> {
    let policy_bytes: usize = c
        .policies
        .iter()
        .chain(&c.boundaries)
        .map(String::len)
        .sum::<usize>()
        + c.resource_policy.as_ref().map_or(0, String::len);
    let work = [
        c.actions.len(),
        c.resources.len().max(1),
        policy_bytes.max(1),
    ]
    .into_iter()
    .map(|n| u64::try_from(n).unwrap_or(u64::MAX))
    .fold(1u64, u64::saturating_mul);
    if work > MAX_WORK {
        return Err(ApiError::invalid_input(format!(
            "The simulation is too large: {} actions on {} resources over {policy_bytes} bytes of policy; split it into smaller calls",
            c.actions.len(),
            c.resources.len().max(1),
        )));
    }
    Ok(())
}

/// Runs a simulation (parsing its policies included) on the blocking pool, in one of the
/// broker's simulation slots: a large one must not hold up the other requests of its thread.
async fn off_runtime(
    state: &Broker,
    work: impl FnOnce() -> Result<SimulatePolicyResult, ApiError> + Send + 'static,
) -> Result<SimulatePolicyResult, ApiError> {
    state
        .simulation_slots
        .run_within_wait("a policy simulation", work)
        .await?
}

/// The trust policies of the configured roles among `c`'s resources: they decide trust
/// actions on those roles when no `ResourcePolicy` is given.
fn trust_policies(state: &Broker, c: &Common) -> HashMap<String, NamedPolicy> {
    c.resources
        .iter()
        .filter_map(|arn| {
            let role: &Arc<Role> = state.config.iam.role(arn)?;
            Some((arn.clone(), role.trust_policy.clone()))
        })
        .collect()
}

/// `SimulatePrincipalPolicy`: a configured user (its own and its groups' policies, its
/// boundary, its tags as `aws:PrincipalTag/*`), role or group; the caller needs
/// `iam:SimulatePrincipalPolicy` on the `PolicySourceArn`.
pub async fn principal(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<SimulatePolicyResult, ApiError> {
    let source = params.require("PolicySourceArn")?;
    if !(20..=2048).contains(&source.len()) {
        return Err(ApiError::invalid_input(
            "PolicySourceArn must be 20 to 2048 characters",
        ));
    }
    admin::require(state, meta, "iam:SimulatePrincipalPolicy", source).await?;
    let c = read_common(params)?;
    let now = state.clock.now();
    let iam = &state.config.iam;
    let mut context = Context::new();
    let (caller, mut identity, boundary) = if let Some(user) = iam.user(source) {
        let permissions = Permissions::for_user(user, None);
        permissions.add_principal_keys(&mut context, now);
        (
            permissions.principal.clone(),
            user.identity_policies.clone(),
            user.permissions_boundary.clone(),
        )
    } else if let Some(role) = iam.role(source) {
        context.insert("aws:PrincipalArn", role.arn.as_str());
        context.insert("aws:PrincipalAccount", role.account.as_str());
        context.insert("aws:PrincipalType", "AssumedRole");
        for (k, v) in &role.tags {
            context.insert(&format!("aws:PrincipalTag/{k}"), v.as_str());
        }
        let caller = Principal::parse(&role.arn).ok_or_else(ApiError::internal)?;
        (
            caller,
            role.identity_policies.clone(),
            role.permissions_boundary.clone(),
        )
    } else if let Some(group) = iam.groups.get(source) {
        // A group is simulated as an anonymous member of it.
        let member = format!("arn:aws:iam::{}:user/SimulatedCaller", group.account);
        let caller = Principal::parse(&member).ok_or_else(ApiError::internal)?;
        (caller, group.policies.clone(), None)
    } else {
        return Err(ApiError::no_such_entity(no_such_entity(source)));
    };
    let caller = match &c.caller_arn {
        Some(arn) => Principal::parse(arn).ok_or_else(|| {
            ApiError::invalid_input(format!("CallerArn {} is not a principal ARN", shorten(arn)))
        })?,
        None => caller,
    };
    within_budget(&c)?;
    let trust = trust_policies(state, &c);
    off_runtime(state, move || {
        identity.extend(
            simulate::load(&c.policies, "PolicyInputList", PolicyType::Identity)
                .map_err(input_error)?,
        );
        // Entries given by the caller override what the broker derived for the principal.
        for (key, value) in simulate::context(&c.context).map_err(input_error)?.iter() {
            context.insert_value(key, value.clone());
        }
        run(&c, (caller, false), identity, context, boundary, &trust)
    })
    .await
}

/// IAM's wording for an unknown entity.
fn no_such_entity(arn: &str) -> String {
    let resource = arn.rsplit_once(':').map_or(arn, |(_, r)| r);
    match resource.split_once('/') {
        Some((kind @ ("user" | "role" | "group"), path_name)) => {
            let name = path_name.rsplit('/').next().unwrap_or(path_name);
            format!("The {kind} with name {} cannot be found.", shorten(name))
        }
        _ => format!(
            "PolicySourceArn {} is not a configured user, role or group.",
            shorten(arn)
        ),
    }
}

/// `caller`: the principal, and whether it stands for the resource owner's account (no
/// `CallerArn` in `SimulateCustomPolicy`).
fn run(
    c: &Common,
    (caller, caller_of_owner): (Principal, bool),
    identity: Vec<NamedPolicy>,
    context: Context,
    attached_boundary: Option<NamedPolicy>,
    trust_policies: &HashMap<String, NamedPolicy>,
) -> Result<SimulatePolicyResult, ApiError> {
    // A boundary given in the request replaces the one attached.
    let boundary = if c.boundaries.is_empty() {
        attached_boundary.into_iter().collect()
    } else {
        simulate::load(
            &c.boundaries,
            "PermissionsBoundaryPolicyInputList",
            PolicyType::PermissionsBoundary,
        )
        .map_err(input_error)?
    };
    let federated = matches!(caller, Principal::Federated { .. });
    let resource_type = if federated || c.actions.iter().any(|a| simulate::is_trust_action(a)) {
        PolicyType::Trust
    } else {
        PolicyType::Resource
    };
    let resource_policy = simulate::resource_policy(c.resource_policy.as_deref(), resource_type)
        .map_err(input_error)?;
    let owner = c
        .resource_owner
        .as_deref()
        .map(simulate::owner_account)
        .transpose()
        .map_err(input_error)?;
    if let Some(o) = &owner
        && !is_account_id(o)
    {
        return Err(ApiError::invalid_input("ResourceOwner is not an account"));
    }
    // The trust policy of the role a resource ARN names, when configured.
    let trust = |arn: &str| trust_policies.get(arn).cloned();
    let simulation = Simulation {
        caller,
        identity: &identity,
        boundary: &boundary,
        session: &[],
        resource_policy: resource_policy.as_ref(),
        resource_type,
        trust_policy: &trust,
        context,
        owner,
        caller_of_owner,
    };
    let results = simulation.run(&c.actions, &c.resources);
    let total = results.len();
    if c.start > total {
        return Err(ApiError::invalid_input(
            "Marker is not one this endpoint returned",
        ));
    }
    let end = c
        .max_items
        .map_or(total, |m| c.start.saturating_add(m).min(total));
    let page: Vec<EvaluationResultXml> = results
        .into_iter()
        .skip(c.start)
        .take(end - c.start)
        .map(result_xml)
        .collect();
    Ok(SimulatePolicyResult {
        evaluation_results: page.into(),
        is_truncated: end < total,
        marker: (end < total).then(|| end.to_string()),
    })
}

fn result_xml(r: EvaluationResult) -> EvaluationResultXml {
    EvaluationResultXml {
        matched_statements: r
            .explanation
            .matched_statements
            .iter()
            .map(|s| StatementXml {
                source_policy_id: s.policy_id.clone(),
                source_policy_type: source_policy_type(s.policy_type, &s.policy_id),
            })
            .collect::<Vec<_>>()
            .into(),
        eval_action_name: r.eval_action_name,
        eval_resource_name: r.eval_resource_name,
        eval_decision: r.eval_decision,
        missing_context_values: r.missing_context_values.into(),
        permissions_boundary_decision_detail: r.allowed_by_permissions_boundary.map(|allowed| {
            BoundaryDetail {
                allowed_by_permissions_boundary: allowed,
            }
        }),
    }
}

/// IAM's `PolicySourceType` for a statement's policy: `resource` for resource and trust
/// policies, `user-managed` for customer-managed ones, `user`/`group`/`role` for inline ones by
/// their owner, `none` for policies given in the request.
fn source_policy_type(policy_type: &str, policy_id: &str) -> &'static str {
    if policy_type == PolicyType::Resource.name() || policy_type == PolicyType::Trust.name() {
        "resource"
    } else if policy_id.starts_with("arn:") && policy_id.contains(":policy/") {
        "user-managed"
    } else if policy_id.starts_with("arn:") && policy_id.contains(":user/") {
        "user"
    } else if policy_id.starts_with("arn:") && policy_id.contains(":group/") {
        "group"
    } else if policy_id.starts_with("arn:") && policy_id.contains(":role/") {
        "role"
    } else {
        "none"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_types_follow_the_policy_names() {
        let cases = [
            ("trust", "arn:aws:iam::1:role/x (trust policy)", "resource"),
            ("resource", "ResourcePolicy", "resource"),
            ("identity", "arn:aws:iam::1:policy/readonly", "user-managed"),
            ("identity", "arn:aws:iam::1:user/a (inline a.json)", "user"),
            (
                "identity",
                "arn:aws:iam::1:group/g (inline g.json)",
                "group",
            ),
            ("identity", "arn:aws:iam::1:role/r (inline r.json)", "role"),
            ("identity", "PolicyInputList.1", "none"),
        ];
        for (kind, id, want) in cases {
            assert_eq!(source_policy_type(kind, id), want, "{id}");
        }
    }

    #[test]
    fn unknown_entities_are_worded_as_iam_does() {
        assert_eq!(
            no_such_entity("arn:aws:iam::111122223333:user/team/nobody"),
            "The user with name nobody cannot be found."
        );
        assert!(no_such_entity("arn:aws:s3:::bucket").contains("not a configured"));
    }
}
