//! Issuing a role session, the one way `AssumeRole`, `AssumeRoleWithWebIdentity` and
//! `AssumeRoleWithSAML` share: once an action has proven who asks ([`RoleAsk`]), [`decide`]
//! resolves the role (an unknown one is denied exactly like a trust denial), reads the session
//! policies and their packed size, adds the request's own condition keys, decides the trust
//! policy with a caller-safe denial, and [`issue`] mints, records and stores. Each action only
//! proves its identity and contributes its condition keys.
//!
//! Why one long file: the order of the shared rules is the point; splitting them apart would
//! hide it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;

use super::RequestMeta;
use super::denial;
use super::error::ApiError;
use super::permissions::Permissions;
use crate::broker::Broker;
use crate::clock::Clock;
use crate::iam::{Iam, Role};
use crate::policy::{
    self, Context, Explanation, NamedPolicy, PolicySet, PolicyType, Principal, Request, Resource,
    caller_safe_reason,
};
use crate::revocation::Revoked;
use crate::session::credentials::Credentials;
use crate::session::{Lineage, Origin, SessionPrincipal, SessionRecord, TokenDigest, credentials};

/// Budget of the packed form of session policies and tags, in bytes.
pub const PACKED_POLICY_BUDGET: usize = 2048;

/// Now, to the second (session times are whole seconds).
pub fn now(clock: &dyn Clock) -> OffsetDateTime {
    let now = clock.now();
    now.replace_nanosecond(0).unwrap_or(now)
}

/// The `Policy` parameter, compiled as a session policy.
fn inline_session_policy(text: Option<&str>) -> Result<Option<NamedPolicy>, ApiError> {
    text.map(|text| {
        policy::parse(text, PolicyType::Session)
            .map(|p| NamedPolicy::new("inline session policy", p))
            .map_err(|e| ApiError::malformed_policy(e.to_string()))
    })
    .transpose()
}

/// The inline session policy and the managed ones named by `PolicyArns`, which must be
/// customer-managed policies of `account` (the role's).
fn session_policies(
    iam: &Iam,
    account: &str,
    inline: Option<NamedPolicy>,
    arns: &[&str],
) -> Result<Vec<NamedPolicy>, ApiError> {
    let mut out: Vec<NamedPolicy> = inline.into_iter().collect();
    for arn in arns {
        let in_account = policy::Arn::parse(arn).is_some_and(|a| a.account == account);
        match iam.policies.get(*arn) {
            Some(p) if in_account => out.push(p.clone()),
            _ => {
                return Err(ApiError::validation(format!(
                    "Policy {} does not exist or is not attachable.",
                    crate::encoding::shorten(arn)
                )));
            }
        }
    }
    Ok(out)
}

/// The policies a stored session was created with, compiled again from the record.
pub fn recorded_session_policies(
    iam: &Iam,
    record: &SessionRecord,
) -> Result<Vec<NamedPolicy>, ApiError> {
    let inline = inline_session_policy(record.session_policy.as_deref())?;
    let arns: Vec<&str> = record.policy_arns.iter().map(String::as_str).collect();
    session_policies(iam, &record.account, inline, &arns)
}

/// A session policy as it is stored: the same JSON without insignificant whitespace (keys in
/// document order). Called on text that already parsed as a policy.
pub fn minified(text: &str) -> String {
    serde_json::from_str::<Value>(text).map_or_else(|_| text.to_owned(), |v| v.to_string())
}

/// `PackedPolicySize`: the share of the packed budget that session policies and tags use, in
/// percent; `PackedPolicyTooLarge` beyond 100.
fn packed_policy_percent(
    policy: Option<&str>,
    arns: &[&str],
    tags: &BTreeMap<String, String>,
) -> Result<Option<u32>, ApiError> {
    if policy.is_none() && arns.is_empty() && tags.is_empty() {
        return Ok(None);
    }
    let inline = policy.map_or(0, |text| minified(text).len());
    let packed = inline
        + arns.iter().map(|a| a.len()).sum::<usize>()
        + tags.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    let percent = u32::try_from((packed * 100).div_ceil(PACKED_POLICY_BUDGET)).unwrap_or(u32::MAX);
    if percent > 100 {
        return Err(ApiError::packed_policy_too_large(percent));
    }
    Ok(Some(percent))
}

/// Tag keys and values as STS allows them: `[\p{L}\p{Z}\p{N}_.:/=+\-@]`, keys 1-128 and
/// values up to 256 characters, keys not starting with `aws:`. Returns what is wrong.
pub fn tag_problem(key: &str, value: &str) -> Option<&'static str> {
    let allowed = |s: &str, min: usize, max: usize| {
        let n = s.chars().count();
        (min..=max).contains(&n)
            && s.chars().all(|c| {
                c.is_alphanumeric()
                    || (c.is_whitespace() && !c.is_control())
                    || "_.:/=+-@".contains(c)
            })
    };
    if !allowed(key, 1, 128) {
        Some("a tag key is empty, longer than 128 characters or uses a character not allowed")
    } else if key.to_ascii_lowercase().starts_with("aws:") {
        Some("tag keys cannot start with aws:")
    } else if !allowed(value, 0, 256) {
        Some("a tag value is longer than 256 characters or uses a character not allowed")
    } else {
        None
    }
}

/// The actions a new role session needs from the trust policy: the assume action itself, then
/// `sts:TagSession` when the session will carry tags and `sts:SetSourceIdentity` when it will
/// carry a source identity (IAM User Guide, session tags and source identity).
fn trust_actions(
    assume: &'static str,
    tagged: bool,
    sets_source_identity: bool,
) -> Vec<&'static str> {
    let mut actions = vec![assume];
    if tagged {
        actions.push("sts:TagSession");
    }
    if sets_source_identity {
        actions.push("sts:SetSourceIdentity");
    }
    actions
}

/// The common context keys of a request: time, transport and the caller's network identity.
pub fn request_context(region: &str, meta: &RequestMeta, now: OffsetDateTime) -> Context {
    // Room for these and the keys an action adds (a token's claims, tags) without a rehash.
    let mut context = Context::with_capacity(32);
    context.insert("aws:CurrentTime", crate::encoding::timestamp(now));
    context.insert("aws:EpochTime", now.unix_timestamp().to_string());
    context.insert("aws:SecureTransport", meta.secure_transport.to_string());
    context.insert("aws:RequestedRegion", region);
    if let Some(ip) = meta.source_ip {
        context.insert("aws:SourceIp", ip.to_string());
    }
    if let Some(ua) = &meta.user_agent {
        context.insert("aws:UserAgent", ua.as_str());
    }
    context
}

/// The trust question for one role: who asks, with what context, under which policies besides
/// the role's trust policy (the caller's identity side, for signed callers).
#[derive(Debug)]
struct TrustCheck<'a> {
    pub role: &'a Role,
    pub principal: Principal,
    pub context: Context,
    pub identity: &'a [NamedPolicy],
    pub boundary: &'a [NamedPolicy],
    pub session: &'a [NamedPolicy],
}

impl TrustCheck<'_> {
    /// Decides each action (e.g. `sts:AssumeRole`, then `sts:TagSession`); the first denial is
    /// `AccessDenied` with a caller-safe reason and the full trace encrypted under `keys`
    /// ([`super::denial`]); the explanation also goes to the log.
    pub fn require(
        self,
        actions: &[&str],
        meta: &RequestMeta,
        state: &Broker,
    ) -> Result<(), ApiError> {
        let set = PolicySet {
            identity: self.identity,
            resource: Some(&self.role.trust_policy),
            resource_type: PolicyType::Trust,
            boundary: self.boundary,
            session: self.session,
            ..PolicySet::default()
        };
        let resource = Resource::new(self.role.arn.clone()).with_account(self.role.account.clone());
        let mut context = Some(self.context);
        for (i, action) in actions.iter().enumerate() {
            // The last action takes the context; earlier ones borrow a copy.
            let ctx = if i + 1 == actions.len() {
                context.take().unwrap_or_default()
            } else {
                context.clone().unwrap_or_default()
            };
            let request = Request::new(self.principal.clone(), action, resource.clone(), ctx);
            let evaluation = policy::decide(&request, &set);
            if !evaluation.decision.is_allowed() {
                tracing::info!(
                    request_id = %meta.request_id,
                    role = %self.role.arn,
                    caller = %self.principal.name(),
                    decision = evaluation.decision.as_str(),
                    explanation = %Explanation::new(&evaluation, &set, &request),
                    "role session denied"
                );
                let reason = caller_safe_reason(&evaluation, &set);
                crate::audit::note(|n| n.policy_decision = Some(evaluation.decision.as_str()));
                let trace = denial::trace(&evaluation, &set, &request);
                let message = denial_message(&self.principal, action, &self.role.arn, &reason);
                return Err(denial::access_denied(
                    &state.keys,
                    state.clock.now(),
                    message,
                    &trace,
                ));
            }
        }
        Ok(())
    }
}

/// What a trust denial says: AWS's wording names a signed caller and the role; a federated
/// caller is told only the action.
fn denial_message(principal: &Principal, action: &str, role_arn: &str, reason: &str) -> String {
    match principal {
        Principal::Aws(p) => format!(
            "User: {} is not authorized to perform: {action} on resource: {role_arn}: {reason}",
            p.arn
        ),
        Principal::Federated { .. } | Principal::Service(_) | Principal::Anonymous => {
            format!("Not authorized to perform {action}: {reason}")
        }
    }
}

/// Why a role session is refused when the role does not exist, is in another account than the
/// provider, or the identity provider did not grant it: the words of a trust policy that does
/// not trust the principal, so that no caller can tell these cases from a refusing role.
const NOT_TRUSTED: &str =
    "the role's trust policy has no statement that trusts this principal for this action";

/// A role session asked for, once the action has proven who asks.
#[derive(Debug)]
pub struct RoleAsk<'a> {
    /// `sts:AssumeRole`, `sts:AssumeRoleWithWebIdentity` or `sts:AssumeRoleWithSAML`.
    pub action: &'static str,
    pub role_arn: &'a str,
    /// A federated provider's account: its roles must be in it, as in IAM.
    pub provider_account: Option<&'a str>,
    pub principal: Principal,
    /// A signed caller's identity side (identity policies, boundary, session policies).
    pub caller: Option<&'a Permissions>,
    /// The request's keys ([`request_context`]) and those the proof contributes (claims,
    /// attributes, the caller's keys); [`decide`] adds the session's own (name, tags, source
    /// identity).
    pub context: Context,
    pub session_name: &'a str,
    /// The session's lifetime in seconds, checked against the role's maximum.
    pub duration: u32,
    /// `Policy`, not parsed yet (bounded by the parameter rules).
    pub policy: Option<&'a str>,
    pub policy_arns: &'a [&'a str],
    /// The tags the session will carry, and which of them are transitive.
    pub tags: &'a BTreeMap<String, String>,
    pub transitive: &'a [String],
    /// The tags the request itself sets (what counts in the packed size).
    pub requested_tags: &'a BTreeMap<String, String>,
    pub source_identity: Option<&'a str>,
}

/// What [`decide`] allowed: the role, and the packed size of the session policies and tags
/// (`PackedPolicySize`, when any were given).
#[derive(Debug)]
pub struct Decided<'a> {
    pub role: &'a Role,
    pub packed: Option<u32>,
}

/// The shared rules of every role-assuming action, in order: the session policy parses and the
/// packed size fits (whatever the role); the role exists in the provider's account and
/// `granted` (the proof names it) — else the same denial as an untrusting role, with an
/// encoded message; the trust policy allows the action and, for tagged sessions or a source
/// identity, `sts:TagSession` and `sts:SetSourceIdentity`; the managed session policies are the
/// role account's.
pub fn decide<'b>(
    state: &'b Broker,
    meta: &RequestMeta,
    ask: RoleAsk<'_>,
    granted: impl FnOnce(&Role) -> bool,
) -> Result<Decided<'b>, ApiError> {
    let inline = inline_session_policy(ask.policy)?;
    let packed = packed_policy_percent(ask.policy, ask.policy_arns, ask.requested_tags)?;
    let mut context = ask.context;
    context.insert("sts:RoleSessionName", ask.session_name);
    if let Some(si) = ask.source_identity {
        context.insert("sts:SourceIdentity", si);
    }
    for (k, v) in ask.tags {
        context.insert(&format!("aws:RequestTag/{k}"), v.as_str());
        context.push("aws:TagKeys", k.as_str());
    }
    for k in ask.transitive {
        context.push("sts:TransitiveTagKeys", k.as_str());
    }
    let role = state
        .config
        .iam
        .role(ask.role_arn)
        .filter(|r| ask.provider_account.is_none_or(|a| a == r.account))
        .filter(|r| granted(r));
    let Some(role) = role else {
        tracing::info!(request_id = %meta.request_id, role = ask.role_arn, "no such role for this principal");
        crate::audit::note(|n| n.refusal = Some("noSuchRole"));
        let resource = crate::encoding::shorten(ask.role_arn);
        let caller = match &ask.principal {
            Principal::Aws(p) => p.arn.as_str(),
            Principal::Federated { provider } => provider.as_str(),
            Principal::Service(_) | Principal::Anonymous => "",
        };
        return Err(denial::access_denied(
            &state.keys,
            state.clock.now(),
            denial_message(&ask.principal, ask.action, resource, NOT_TRUSTED),
            &denial::trace_without_policy(caller, ask.action, resource, "the role does not exist"),
        ));
    };
    let actions = trust_actions(
        ask.action,
        !ask.tags.is_empty(),
        ask.source_identity.is_some(),
    );
    let (identity, boundary, session): (&[NamedPolicy], &[NamedPolicy], &[NamedPolicy]) =
        match ask.caller {
            Some(p) => (&p.identity, &p.boundary, &p.session),
            None => (&[], &[], &[]),
        };
    TrustCheck {
        role,
        principal: ask.principal,
        context,
        identity,
        boundary,
        session,
    }
    .require(&actions, meta, state)?;
    // After the trust decision: the role's maximum and which managed policies exist are the
    // role account's business.
    if ask.duration > role.max_session_duration {
        return Err(duration_exceeds_role_maximum());
    }
    session_policies(&state.config.iam, &role.account, inline, ask.policy_arns)?;
    Ok(Decided { role, packed })
}

/// Refuses an identity proof (a web identity token, a SAML assertion) that was revoked, or
/// whose subject was revoked after it was issued; `ServiceUnavailable` when this replica
/// cannot confirm its revocations.
pub fn check_proof(
    state: &Broker,
    meta: &RequestMeta,
    action: &str,
    provider: &str,
    subject: &str,
    issued_at: i64,
    digest: &TokenDigest,
) -> Result<(), ApiError> {
    state
        .revocations
        .check_proof(provider, subject, issued_at, &digest.sha256)
        .map_err(|r| {
            tracing::info!(request_id = %meta.request_id, reason = %r, "identity proof refused");
            match r {
                Revoked::Session
                | Revoked::Subject
                | Revoked::Role
                | Revoked::User
                | Revoked::AccessKey
                | Revoked::Proof => ApiError::access_denied(format!(
                    "Not authorized to perform {action}: the identity proof or its subject has been revoked"
                )),
                Revoked::Unconfirmed => ApiError::service_unavailable(),
            }
        })
}

fn duration_exceeds_role_maximum() -> ApiError {
    ApiError::validation(
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
    )
}

/// Whose session: `role` as `session_name`.
pub fn role_principal(role: &Role, session_name: &str) -> SessionPrincipal {
    SessionPrincipal::Role {
        role_arn: role.arn.clone(),
        role_id: role.role_id.clone(),
        session_name: session_name.to_owned(),
        assumed_role_arn: format!(
            "arn:aws:sts::{}:assumed-role/{}/{}",
            role.account, role.name, session_name
        ),
    }
}

/// A session to issue.
#[derive(Debug)]
pub struct NewSession<'a> {
    pub principal: SessionPrincipal,
    pub account: &'a str,
    pub duration: u32,
    /// The longest this principal's sessions may last (a role's `max_session_duration`).
    pub max_duration: u32,
    pub now: OffsetDateTime,
    pub origin: Origin,
    pub provider: Option<String>,
    pub subject: Option<String>,
    pub audience: Option<String>,
    pub source_identity: Option<String>,
    pub context: BTreeMap<String, Vec<String>>,
    pub session_policy: Option<&'a str>,
    pub policy_arns: &'a [&'a str],
    pub tags: BTreeMap<String, String>,
    pub transitive_tag_keys: Vec<String>,
    pub mfa_authenticated_at: Option<i64>,
    pub chained: bool,
    /// What revocation needs to know of the session's origin (token digest, ancestors).
    pub lineage: Lineage,
}

/// An issued session: the credentials to hand out and what was recorded.
#[derive(Debug)]
pub struct Issued {
    pub credentials: Credentials,
    pub record: SessionRecord,
}

impl Issued {
    /// `AssumedRoleId`: the role id and the session name.
    pub fn assumed_role_id(&self) -> String {
        self.record.principal.user_id()
    }
}

/// Checks the duration against the role, mints credentials and records the session with a TTL
/// equal to its lifetime. The last step of every action: nothing is stored before it.
pub async fn issue(
    state: &Broker,
    meta: &RequestMeta,
    new: NewSession<'_>,
) -> Result<Issued, ApiError> {
    if new.duration > new.max_duration {
        return Err(duration_exceeds_role_maximum());
    }
    let lifetime = Duration::from_secs(u64::from(new.duration));
    let expires = new.now + lifetime;
    let creds = credentials::mint(&state.keys.ring(), new.now, expires).map_err(|e| {
        tracing::error!(request_id = %meta.request_id, error = %e, "minting failed");
        // No signing key (`ServiceUnavailable`) or no randomness (`InternalFailure`).
        ApiError::from(e)
    })?;
    let record = SessionRecord {
        access_key_id: creds.access_key_id.clone(),
        key_id: creds.key_id.clone(),
        origin: new.origin,
        account: new.account.to_owned(),
        principal: new.principal,
        issued_at: new.now.unix_timestamp(),
        expires_at: expires.unix_timestamp(),
        provider: new.provider,
        subject: new.subject,
        audience: new.audience,
        source_identity: new.source_identity,
        context: new.context,
        session_policy: new.session_policy.map(minified),
        policy_arns: new.policy_arns.iter().map(|a| (*a).to_owned()).collect(),
        tags: new.tags,
        transitive_tag_keys: new.transitive_tag_keys,
        mfa_authenticated_at: new.mfa_authenticated_at,
        chained: new.chained,
        lineage: new.lineage,
    };
    // A reload removed the role or user while this request ran on the configuration before
    // it: nothing is stored, and the caller retries against the configuration in force.
    if !state.revocations.configures(&record.principal) {
        tracing::info!(request_id = %meta.request_id, "principal removed by a reload during the request");
        return Err(ApiError::service_unavailable());
    }
    state
        .store
        .put_session(&record, &state.keys.snapshot(), lifetime)
        .await
        .map_err(|e| {
            tracing::error!(request_id = %meta.request_id, error = %e, "store refused the session");
            ApiError::service_unavailable()
        })?;
    state.stats.session_issued(record.origin, &record.account);
    // The role's last use, for GetRole's RoleLastUsed: noted here by its unique id (a role made
    // again has another), written once a second with the access keys' uses.
    if let SessionPrincipal::Role { role_id, .. } = &record.principal {
        state.key_use.record(
            role_id,
            record.issued_at,
            "sts",
            &state.config.server.region,
        );
    }
    crate::audit::note(|n| {
        n.access_key_id = Some(record.access_key_id.clone());
        n.subject.clone_from(&record.subject);
    });
    tracing::info!(
        request_id = %meta.request_id,
        access_key_id = %record.access_key_id,
        origin = ?record.origin,
        principal = %record.principal.arn(),
        subject = record.subject.as_deref().unwrap_or(""),
        expires = %crate::encoding::timestamp(expires),
        "session issued"
    );
    Ok(Issued {
        credentials: creds,
        record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_size_is_a_share_of_the_budget() {
        let none = BTreeMap::new();
        assert_eq!(packed_policy_percent(None, &[], &none).unwrap(), None);
        let policy = r#"{ "Version": "2012-10-17",  "Statement": [] }"#;
        let minified = r#"{"Version":"2012-10-17","Statement":[]}"#.len();
        assert_eq!(
            packed_policy_percent(Some(policy), &[], &none).unwrap(),
            Some(u32::try_from((minified * 100).div_ceil(PACKED_POLICY_BUDGET)).unwrap())
        );
        let arn = "arn:aws:iam::111122223333:policy/a-rather-long-managed-policy-name-for-tests";
        let e = packed_policy_percent(Some(&"x".repeat(2000)), &[arn; 10], &none).unwrap_err();
        assert_eq!(
            e.code,
            crate::broker::error::ErrorCode::PackedPolicyTooLarge
        );
        let tags: BTreeMap<String, String> =
            [("k".repeat(128), "v".repeat(256))].into_iter().collect();
        assert!(packed_policy_percent(None, &[], &tags).unwrap().unwrap() > 0);
    }

    #[test]
    fn tag_rules() {
        assert_eq!(tag_problem("team", "payments"), None);
        assert_eq!(tag_problem("cost center", ""), None);
        assert!(tag_problem("", "x").is_some());
        assert!(tag_problem("aws:x", "y").is_some());
        assert!(tag_problem("AWS:x", "y").is_some());
        assert!(tag_problem("a*b", "y").is_some());
        assert!(tag_problem("k", &"v".repeat(257)).is_some());
        assert!(tag_problem("k", "line\nbreak").is_some());
    }
}
