//! Deciding a request across policy types, as IAM's "Policy evaluation logic" describes: an
//! explicit `Deny` in any applicable policy wins; otherwise something must grant (within one
//! account a resource-based policy, role trust policies included, that names the caller, or an
//! identity-based policy; across accounts both sides), and every limit present must also allow
//! (each SCP level, the permissions boundary, the session policies, the VPC endpoint policy).
//! The answer is one of three, never a bare bool, and carries the statements that decided it.

use std::sync::Arc;

use super::PolicyType;
use super::context::Request;
use super::document::{Effect, Policy};
use super::evaluate::{Location, StatementHit, Verdict, scan};
use super::principal::{AwsKind, Principal, PrincipalMatch};
use super::service_rules;

/// The answer to an authorization question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// A `Deny` statement applied.
    ExplicitDeny,
    /// Nothing allowed the request (or a limit did not).
    ImplicitDeny,
}

impl Decision {
    /// The name IAM's simulator uses: `allowed`, `explicitDeny`, `implicitDeny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::ExplicitDeny => "explicitDeny",
            Decision::ImplicitDeny => "implicitDeny",
        }
    }

    pub fn is_allowed(self) -> bool {
        self == Decision::Allowed
    }
}

/// A policy with the name explanations call it by (an ARN, a file name, `inline:NAME`...).
#[derive(Debug, Clone)]
pub struct NamedPolicy {
    pub name: Arc<str>,
    pub policy: Arc<Policy>,
}

impl NamedPolicy {
    pub fn new(name: impl Into<Arc<str>>, policy: Policy) -> NamedPolicy {
        NamedPolicy {
            name: name.into(),
            policy: Arc::new(policy),
        }
    }
}

/// Every policy that applies to one request, by type. Empty lists mean "not present": no
/// boundary, no session policy, not under SCPs, no endpoint policy.
#[derive(Debug, Clone, Copy)]
pub struct PolicySet<'a> {
    pub identity: &'a [NamedPolicy],
    /// The resource's own policy: a bucket or key policy, or the role's trust policy.
    pub resource: Option<&'a NamedPolicy>,
    /// [`PolicyType::Resource`] or [`PolicyType::Trust`].
    pub resource_type: PolicyType,
    pub boundary: &'a [NamedPolicy],
    pub session: &'a [NamedPolicy],
    /// One list per organization level (root, OUs, account); every level must allow.
    pub scps: &'a [Vec<NamedPolicy>],
    /// One list per level. `RCPFullAWSAccess` is always attached, so RCPs can only deny.
    pub rcps: &'a [Vec<NamedPolicy>],
    pub endpoint: &'a [NamedPolicy],
}

impl Default for PolicySet<'_> {
    fn default() -> Self {
        PolicySet {
            identity: &[],
            resource: None,
            resource_type: PolicyType::Resource,
            boundary: &[],
            session: &[],
            scps: &[],
            rcps: &[],
            endpoint: &[],
        }
    }
}

impl<'a> PolicySet<'a> {
    /// The policy a trace entry points at.
    pub fn policy(&self, hit: &StatementHit) -> Option<&'a NamedPolicy> {
        match hit.policy_type {
            PolicyType::Identity => self.identity.get(hit.policy),
            PolicyType::Resource | PolicyType::Trust => self.resource,
            PolicyType::PermissionsBoundary => self.boundary.get(hit.policy),
            PolicyType::Session => self.session.get(hit.policy),
            PolicyType::Scp => self.scps.get(hit.level)?.get(hit.policy),
            PolicyType::Rcp => self.rcps.get(hit.level)?.get(hit.policy),
            PolicyType::Endpoint => self.endpoint.get(hit.policy),
        }
    }
}

/// What granted an allowed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// An identity-based policy (within the caller's account).
    Identity,
    /// The resource-based (or trust) policy named the caller.
    ResourcePolicy,
    /// Cross-account: the identity side and the resource side both allowed.
    IdentityAndResource,
    /// `sts:GetCallerIdentity` needs no permission and cannot be denied.
    Unconditional,
}

/// Why a request was implicitly denied: the first layer that did not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// No identity-based policy allows (within the account, and no resource policy grants).
    Identity,
    /// The resource-based or trust policy does not allow the caller (it must, for this
    /// resource or across accounts).
    ResourcePolicy,
    /// Cross-account: neither side allows.
    IdentityAndResource,
    PermissionsBoundary,
    Session,
    /// The SCP level (0 = closest to the root) without an allow.
    Scp(usize),
    Endpoint,
    /// A fixed rule of the service (e.g. AWS managed policies cannot be changed).
    ServiceRule(&'static str),
}

/// The decision and everything needed to explain it.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub decision: Decision,
    pub grant: Option<Grant>,
    pub missing: Option<Missing>,
    /// Statements whose action matched: applied ones and near misses, in evaluation order.
    pub trace: Vec<StatementHit>,
}

impl Evaluation {
    /// Statements that applied (with the given effect).
    pub fn matched(&self, effect: Effect) -> impl Iterator<Item = &StatementHit> {
        self.trace
            .iter()
            .filter(move |h| h.outcome.applies() && h.effect == effect)
    }
}

/// Decides `request` against `set`.
pub fn decide(request: &Request, set: &PolicySet<'_>) -> Evaluation {
    let mut trace = Vec::new();
    if request.action_lower() == "sts:getcalleridentity" {
        return Evaluation {
            decision: Decision::Allowed,
            grant: Some(Grant::Unconditional),
            missing: None,
            trace,
        };
    }
    let has_boundary = !set.boundary.is_empty();
    let mut group = |policies: &[NamedPolicy], policy_type: PolicyType, level: usize| {
        policies
            .iter()
            .enumerate()
            .fold(Verdict::default(), |acc, (i, p)| {
                let at = Location {
                    policy_type,
                    level,
                    policy: i,
                };
                acc.merge(scan(&p.policy, at, request, has_boundary, &mut trace))
            })
    };
    let identity = group(set.identity, PolicyType::Identity, 0);
    let boundary = group(set.boundary, PolicyType::PermissionsBoundary, 0);
    let session = group(set.session, PolicyType::Session, 0);
    let endpoint = group(set.endpoint, PolicyType::Endpoint, 0);
    // SCPs govern principals of member accounts; anonymous callers and services have none.
    let under_scps = matches!(
        request.principal,
        Principal::Aws(_) | Principal::Federated { .. }
    );
    let scps: Vec<Verdict> = if under_scps {
        set.scps
            .iter()
            .enumerate()
            .map(|(level, ps)| group(ps, PolicyType::Scp, level))
            .collect()
    } else {
        Vec::new()
    };
    let rcp_deny = set
        .rcps
        .iter()
        .enumerate()
        .any(|(level, ps)| group(ps, PolicyType::Rcp, level).deny);
    let resource = set
        .resource
        .map(|p| group(std::slice::from_ref(p), set.resource_type, 0));

    let explicit = identity.deny
        || boundary.deny
        || session.deny
        || endpoint.deny
        || rcp_deny
        || scps.iter().any(|v| v.deny)
        || resource.is_some_and(|v| v.deny);
    let mut evaluation = Evaluation {
        decision: Decision::ExplicitDeny,
        grant: None,
        missing: None,
        trace,
    };
    if explicit {
        return evaluation;
    }

    let facts = Facts::new(request, &evaluation.trace, resource.is_some());
    let outcome = grant(&facts, identity.allow).and_then(|g| {
        let session_bypass = facts.same_account && facts.rp_names_session;
        if !set.session.is_empty() && !session.allow && !session_bypass {
            return Err(Missing::Session);
        }
        let boundary_bypass = facts.same_account && facts.rp_direct;
        if has_boundary && !boundary.allow && !boundary_bypass {
            return Err(Missing::PermissionsBoundary);
        }
        if let Some(level) = scps.iter().position(|v| !v.allow) {
            return Err(Missing::Scp(level));
        }
        if !set.endpoint.is_empty() && !endpoint.allow {
            return Err(Missing::Endpoint);
        }
        if let Some(rule) = service_rules::forbidden(request) {
            return Err(Missing::ServiceRule(rule));
        }
        Ok(g)
    });
    match outcome {
        Ok(g) => {
            evaluation.decision = Decision::Allowed;
            evaluation.grant = Some(g);
        }
        Err(missing) => {
            evaluation.decision = Decision::ImplicitDeny;
            evaluation.missing = Some(missing);
        }
    }
    evaluation
}

/// What the resource policy's matching `Allow` statements say about the caller.
struct Facts {
    same_account: bool,
    /// Anonymous callers, services and identity providers have no identity policies.
    resource_policy_only: bool,
    /// The resource policy names the caller (not merely its account).
    rp_grants: bool,
    /// The resource policy allows the caller's account (delegation to identity policies).
    rp_account: bool,
    /// A grant naming the caller itself, or everyone: reaches past a permissions boundary.
    rp_direct: bool,
    /// A grant naming the role session's own ARN: not limited by session policies.
    rp_names_session: bool,
    /// Whether identity policies may grant alone within the account.
    identity_trusted: bool,
}

impl Facts {
    fn new(request: &Request, trace: &[StatementHit], has_rp: bool) -> Facts {
        let caller = &request.principal;
        let same_account = match (caller.account(), request.resource.account()) {
            (Some(p), Some(r)) => p == r,
            // A resource without a known owner (`*`, S3 ARNs) belongs to the caller's account.
            (Some(_), None) => true,
            (None, _) => false,
        };
        let allows = || {
            trace.iter().filter(|h| {
                matches!(h.policy_type, PolicyType::Resource | PolicyType::Trust)
                    && h.effect == Effect::Allow
                    && h.outcome.applies()
            })
        };
        let strongest = allows().filter_map(|h| h.principal).min();
        let rp_grants = strongest.is_some_and(|m| m != PrincipalMatch::Account);
        let rp_account = allows().any(|h| h.principal == Some(PrincipalMatch::Account));
        let direct_kind = matches!(
            caller,
            Principal::Aws(p) if matches!(p.kind, AwsKind::User | AwsKind::AssumedRole | AwsKind::FederatedUser)
        );
        let rp_direct = allows().any(|h| match h.principal {
            Some(PrincipalMatch::Wildcard) => true,
            Some(PrincipalMatch::Exact) => direct_kind,
            _ => false,
        });
        let is_session = matches!(caller, Principal::Aws(p) if p.kind == AwsKind::AssumedRole);
        let rp_names_session =
            is_session && allows().any(|h| h.principal == Some(PrincipalMatch::Exact));
        let identity_trusted =
            !service_rules::resource_policy_required(request, has_rp) || rp_account;
        Facts {
            same_account,
            resource_policy_only: matches!(
                caller,
                Principal::Anonymous | Principal::Service(_) | Principal::Federated { .. }
            ),
            rp_grants,
            rp_account,
            rp_direct,
            rp_names_session,
            identity_trusted,
        }
    }
}

/// Step 2: does anything grant?
fn grant(f: &Facts, identity_allows: bool) -> Result<Grant, Missing> {
    if f.resource_policy_only {
        return if f.rp_grants {
            Ok(Grant::ResourcePolicy)
        } else {
            Err(Missing::ResourcePolicy)
        };
    }
    if f.same_account {
        if f.rp_grants {
            return Ok(Grant::ResourcePolicy);
        }
        return match (identity_allows, f.identity_trusted) {
            (true, true) => Ok(Grant::Identity),
            (true, false) => Err(Missing::ResourcePolicy),
            (false, _) => Err(Missing::Identity),
        };
    }
    match (identity_allows, f.rp_grants || f.rp_account) {
        (true, true) => Ok(Grant::IdentityAndResource),
        (true, false) => Err(Missing::ResourcePolicy),
        (false, true) => Err(Missing::Identity),
        (false, false) => Err(Missing::IdentityAndResource),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Context, Resource, parse};

    const ACCT: &str = "111122223333";

    fn p(t: PolicyType, statements: &str) -> NamedPolicy {
        let text = format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#);
        NamedPolicy::new(format!("{t:?}"), parse(&text, t).unwrap())
    }

    fn req(principal: &str, action: &str, resource: &str) -> Request {
        Request::new(
            Principal::parse(principal).unwrap(),
            action,
            Resource::new(resource).with_account(ACCT),
            Context::new(),
        )
    }

    const ALLOW_S3: &str = r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"}"#;
    const DENY_PUT: &str =
        r#"{"Sid":"NoPut","Effect":"Deny","Action":"s3:PutObject","Resource":"*"}"#;
    const USER: &str = "arn:aws:iam::111122223333:user/alice";
    const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/app/s1";

    #[test]
    fn empty_policy_set_denies_implicitly() {
        let e = decide(
            &req(USER, "s3:GetObject", "arn:aws:s3:::b/k"),
            &PolicySet::default(),
        );
        assert_eq!(e.decision, Decision::ImplicitDeny);
        assert_eq!(e.missing, Some(Missing::Identity));
    }

    #[test]
    fn explicit_deny_in_any_policy_type_wins() {
        let allow = [p(PolicyType::Identity, ALLOW_S3)];
        let deny = [p(PolicyType::Identity, DENY_PUT)];
        let deny_scp = vec![vec![p(PolicyType::Scp, &format!("{ALLOW_S3},{DENY_PUT}"))]];
        let r = req(USER, "s3:PutObject", "arn:aws:s3:::b/k");
        let sets = [
            PolicySet {
                identity: &allow,
                boundary: &deny,
                ..PolicySet::default()
            },
            PolicySet {
                identity: &allow,
                session: &deny,
                ..PolicySet::default()
            },
            PolicySet {
                identity: &allow,
                scps: &deny_scp,
                ..PolicySet::default()
            },
            PolicySet {
                identity: &allow,
                rcps: &deny_scp,
                ..PolicySet::default()
            },
            PolicySet {
                identity: &allow,
                endpoint: &deny,
                ..PolicySet::default()
            },
        ];
        for set in &sets {
            let e = decide(&r, set);
            assert_eq!(e.decision, Decision::ExplicitDeny);
            assert!(e.matched(Effect::Deny).next().is_some());
        }
    }

    #[test]
    fn limits_intersect() {
        let identity = [p(PolicyType::Identity, ALLOW_S3)];
        let get_only = r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#;
        let boundary = [p(PolicyType::PermissionsBoundary, get_only)];
        let session = [p(PolicyType::Session, get_only)];
        let scps = vec![
            vec![p(PolicyType::Scp, ALLOW_S3)],
            vec![p(PolicyType::Scp, get_only)],
        ];
        let get = req(SESSION, "s3:GetObject", "arn:aws:s3:::b/k");
        let put = req(SESSION, "s3:PutObject", "arn:aws:s3:::b/k");
        let cases = [
            (
                PolicySet {
                    identity: &identity,
                    boundary: &boundary,
                    ..PolicySet::default()
                },
                Missing::PermissionsBoundary,
            ),
            (
                PolicySet {
                    identity: &identity,
                    session: &session,
                    ..PolicySet::default()
                },
                Missing::Session,
            ),
            (
                PolicySet {
                    identity: &identity,
                    scps: &scps,
                    ..PolicySet::default()
                },
                Missing::Scp(1),
            ),
        ];
        for (set, missing) in &cases {
            assert_eq!(decide(&get, set).decision, Decision::Allowed);
            let e = decide(&put, set);
            assert_eq!(e.decision, Decision::ImplicitDeny);
            assert_eq!(e.missing, Some(*missing));
        }
    }

    #[test]
    fn trust_policy_grants_federated_callers_alone() {
        let provider = "arn:aws:iam::111122223333:oidc-provider/issuer.example";
        let trust = p(
            PolicyType::Trust,
            &format!(
                r#"{{"Effect":"Allow","Principal":{{"Federated":"{provider}"}},"Action":"sts:AssumeRoleWithWebIdentity"}}"#
            ),
        );
        let set = PolicySet {
            resource: Some(&trust),
            resource_type: PolicyType::Trust,
            ..PolicySet::default()
        };
        let r = req(
            provider,
            "sts:AssumeRoleWithWebIdentity",
            "arn:aws:iam::111122223333:role/r",
        );
        let e = decide(&r, &set);
        assert_eq!(e.decision, Decision::Allowed);
        assert_eq!(e.grant, Some(Grant::ResourcePolicy));
        let other = req(
            "arn:aws:iam::111122223333:oidc-provider/other",
            "sts:AssumeRoleWithWebIdentity",
            "arn:aws:iam::111122223333:role/r",
        );
        let e = decide(&other, &set);
        assert_eq!(e.missing, Some(Missing::ResourcePolicy));
    }

    #[test]
    fn cross_account_needs_both_sides() {
        let trust_acct = p(
            PolicyType::Trust,
            r#"{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"sts:AssumeRole"}"#,
        );
        let identity = [p(
            PolicyType::Identity,
            r#"{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::111122223333:role/r"}"#,
        )];
        let caller = "arn:aws:iam::444455556666:user/bob";
        let r = req(caller, "sts:AssumeRole", "arn:aws:iam::111122223333:role/r");
        let both = PolicySet {
            identity: &identity,
            resource: Some(&trust_acct),
            resource_type: PolicyType::Trust,
            ..PolicySet::default()
        };
        assert_eq!(decide(&r, &both).grant, Some(Grant::IdentityAndResource));
        let no_identity = PolicySet {
            identity: &[],
            ..both
        };
        assert_eq!(decide(&r, &no_identity).missing, Some(Missing::Identity));
        let no_trust = PolicySet {
            resource: None,
            ..both
        };
        assert_eq!(decide(&r, &no_trust).missing, Some(Missing::ResourcePolicy));
    }

    #[test]
    fn get_caller_identity_cannot_be_denied() {
        let deny = [p(
            PolicyType::Identity,
            r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#,
        )];
        let e = decide(
            &req(USER, "sts:GetCallerIdentity", "*"),
            &PolicySet {
                identity: &deny,
                ..PolicySet::default()
            },
        );
        assert_eq!(e.decision, Decision::Allowed);
    }

    proptest::proptest! {
        /// Whatever else the set holds, one applicable Deny makes the answer an explicit deny.
        #[test]
        fn explicit_deny_always_wins(
            slot in 0usize..5,
            allows in proptest::collection::vec(0usize..5, 0..5),
        ) {
            let allow_p = |t| p(t, ALLOW_S3);
            let deny_p = |t| p(t, &format!("{ALLOW_S3},{DENY_PUT}"));
            let types = [PolicyType::Identity, PolicyType::PermissionsBoundary, PolicyType::Session, PolicyType::Scp, PolicyType::Endpoint];
            let pick = |i: usize| if i == slot { vec![deny_p(types[i])] } else if allows.contains(&i) { vec![allow_p(types[i])] } else { Vec::new() };
            let (identity, boundary, session, endpoint) = (pick(0), pick(1), pick(2), pick(4));
            let scps = if slot == 3 || allows.contains(&3) { vec![pick(3)] } else { Vec::new() };
            let set = PolicySet { identity: &identity, boundary: &boundary, session: &session, scps: &scps, endpoint: &endpoint, ..PolicySet::default() };
            let e = decide(&req(USER, "s3:PutObject", "arn:aws:s3:::b/k"), &set);
            proptest::prop_assert_eq!(e.decision, Decision::ExplicitDeny);
        }

        /// With no policy that allows, nothing is ever allowed.
        #[test]
        fn nothing_allows_without_an_allow(action in "[a-z0-9]{1,8}:[A-Za-z]{1,12}") {
            let deny_only = [p(PolicyType::Identity, DENY_PUT)];
            let set = PolicySet { identity: &deny_only, ..PolicySet::default() };
            let e = decide(&req(USER, &action, "arn:aws:s3:::b/k"), &set);
            proptest::prop_assert_ne!(e.decision, Decision::Allowed);
        }
    }
}
