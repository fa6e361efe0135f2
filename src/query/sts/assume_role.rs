//! `AssumeRole`: a signed caller (a role session the broker minted, or an IAM user) asks for a
//! session of a role, possibly in another account.
//!
//! The role's trust policy must allow the caller; across accounts the caller's own identity
//! side (identity policies, boundary, session policies) must allow `sts:AssumeRole` on the
//! role too — the policy engine's cross-account rule. `ExternalId` becomes `sts:ExternalId`;
//! session `Tags` need `sts:TagSession`, a source identity `sts:SetSourceIdentity`. A role
//! session assuming a role (role chaining) gets at most one hour, and carries its source
//! identity, transitive tags and MFA state into the new session.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::Action;
use crate::broker::ApiError;
use crate::broker::Broker;
use crate::broker::RequestMeta;
use crate::broker::auth_cache::Authenticated;
use crate::broker::caller::{Caller, authenticate_for, check_mfa, long_term_key, mfa_failed};
use crate::broker::permissions::Permissions;
use crate::broker::role_session::{self, NewSession, RoleAsk};
use crate::query::Params;
use crate::query::validate::mfa_params;
use crate::query::validate::{SessionParams, Violations};
use crate::query::xml::{self, AssumeRoleResult, AssumedRoleUserXml, CredentialsXml};
use crate::session::{Lineage, MAX_CHAIN_DEPTH, Origin};

const ACTION: &str = "sts:AssumeRole";
/// Longest session a role session can get by assuming another role.
pub const CHAINED_MAX_SECONDS: u32 = 3600;

/// Parameters after validation.
struct Input<'a> {
    role_arn: &'a str,
    session_name: &'a str,
    session: SessionParams<'a>,
    tags: Vec<(&'a str, &'a str)>,
    transitive: Vec<&'a str>,
    external_id: Option<&'a str>,
    source_identity: Option<&'a str>,
    mfa: Option<(&'a str, &'a str)>,
}

fn read_input(params: &Params) -> Result<Input<'_>, ApiError> {
    let role_arn = params.require("RoleArn")?;
    let session_name = params.require("RoleSessionName")?;
    let mut v = Violations::default();
    v.length("RoleArn", role_arn, 20, 2048, false);
    v.length("RoleSessionName", session_name, 2, 64, false);
    v.name_pattern("RoleSessionName", session_name);
    let session = v.session_params(params)?;
    let keys = params.list("Tags", Some("Key"), 50)?;
    let tags: Vec<(&str, &str)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            params
                .require(&format!("Tags.member.{}.Value", i + 1))
                .map(|value| (*k, value))
        })
        .collect::<Result<_, _>>()?;
    let transitive = params.list("TransitiveTagKeys", None, 50)?;
    let external_id = params.get("ExternalId");
    if let Some(id) = external_id {
        v.length("ExternalId", id, 2, 1224, false);
        v.pattern("ExternalId", id, "[\\w+=,.@:\\/-]*", |c| {
            c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c)
        });
    }
    let source_identity = params.get("SourceIdentity");
    if let Some(si) = source_identity {
        v.length("SourceIdentity", si, 2, 64, false);
        v.name_pattern("SourceIdentity", si);
    }
    let mfa = mfa_params(params, &mut v);
    v.finish()?;
    let mfa = mfa?;
    if source_identity.is_some_and(|si| si.to_ascii_lowercase().starts_with("aws:")) {
        return Err(ApiError::validation(
            "SourceIdentity cannot start with the reserved prefix aws:",
        ));
    }
    Ok(Input {
        role_arn,
        session_name,
        session,
        tags,
        transitive,
        external_id,
        source_identity,
        mfa,
    })
}

/// The caller's side of the decision, and what it carries into the new session: its
/// permissions, with the MFA state of this call for users who sent a code.
async fn caller_side(
    state: &Broker,
    authenticated: &Authenticated,
    mfa: Option<(&str, &str)>,
    now: time::OffsetDateTime,
) -> Result<Arc<Permissions>, ApiError> {
    match (authenticated.caller(), mfa) {
        // MFA devices belong to IAM users; a role session has none to prove.
        (Caller::Session(_), Some(_)) => Err(mfa_failed()),
        (Caller::User(user), Some((serial, code))) => {
            let mfa_at = check_mfa(state, user, serial, code, now).await?;
            Ok(Arc::new(Permissions::for_user(user, Some(mfa_at))))
        }
        (Caller::Session(_) | Caller::User(_), None) => {
            authenticated.permissions(&state.config.iam)
        }
    }
}

/// Handles one call.
pub async fn assume_role(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<String, ApiError> {
    let input = read_input(params)?;
    // Throttling (see `broker::throttle`): the role's bucket is looked at before the signature
    // is checked, and a token taken only once the role accepted the caller.
    state.throttle.peek_role(input.role_arn).await?;
    let authenticated = authenticate_for(state, meta, "sts").await?;
    let caller = authenticated.caller();
    // The new session descends from a calling session: revoking any session of the chain
    // revokes it too; one created with a user's long-term key is covered by revoking the user
    // or deactivating the key.
    let lineage = match caller {
        Caller::Session(record) => Lineage::chained_from(record).ok_or_else(|| {
            ApiError::access_denied(format!(
                "Role chains are limited to {MAX_CHAIN_DEPTH} sessions"
            ))
        })?,
        // As in AWS, the root user cannot assume a role.
        Caller::User(user) if crate::iam::root::is_root_arn(&user.arn) => {
            return Err(ApiError::access_denied(
                "Roles may not be assumed by root accounts.",
            ));
        }
        Caller::User(user) => Lineage {
            user_arn: Some(user.arn.clone()),
            long_term_key: long_term_key(state, &authenticated),
            ..Lineage::default()
        },
    };
    let now = role_session::now(&*state.clock);
    let side = caller_side(state, &authenticated, input.mfa, now).await?;

    // Tags: the request's, checked, on top of the transitive tags the caller carries, which
    // they may not override.
    let mut tags = side.inherited_tags.clone();
    let mut requested = BTreeMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    for (key, value) in &input.tags {
        if let Some(problem) = role_session::tag_problem(key, value) {
            return Err(ApiError::validation(format!("Tags: {problem}")));
        }
        if !seen.insert(key.to_lowercase()) {
            return Err(ApiError::validation(
                "Tags: two tag keys differ only in case",
            ));
        }
        if side
            .inherited_transitive
            .iter()
            .any(|t| t.eq_ignore_ascii_case(key))
        {
            return Err(ApiError::validation(format!(
                "Tags: {} is a transitive tag of the calling session and cannot be set again",
                crate::encoding::shorten(key)
            )));
        }
        tags.insert((*key).to_owned(), (*value).to_owned());
        requested.insert((*key).to_owned(), (*value).to_owned());
    }
    let mut transitive = side.inherited_transitive.clone();
    for key in &input.transitive {
        if !input.tags.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
            return Err(ApiError::validation(
                "TransitiveTagKeys: each key must be one of the session tags",
            ));
        }
        transitive.push((*key).to_owned());
    }
    let source_identity = match (&side.source_identity, input.source_identity) {
        (Some(carried), Some(asked)) if carried != asked => {
            return Err(ApiError::access_denied(
                "SourceIdentity is already set for this session chain and cannot be changed",
            ));
        }
        (Some(carried), _) => Some(carried.clone()),
        (None, asked) => asked.map(str::to_owned),
    };
    let duration = input.session.duration.unwrap_or(3600);
    if side.chained && duration > CHAINED_MAX_SECONDS {
        return Err(ApiError::validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        ));
    }

    let mut context = role_session::request_context(&state.config.server.region, meta, now);
    // The caller's keys: principal, tags, the source identity its session carries, MFA state.
    // `sts:SourceIdentity` (added by `decide`) is what the new session will carry;
    // `aws:SourceIdentity` only what the caller's session already carries, so a request cannot
    // satisfy conditions on it.
    side.add_principal_keys(&mut context, now);
    if let Some(id) = input.external_id {
        context.insert("sts:ExternalId", id);
    }
    let decided = role_session::decide(
        state,
        meta,
        RoleAsk {
            action: ACTION,
            role_arn: input.role_arn,
            provider_account: None,
            principal: side.principal.clone(),
            caller: Some(&side),
            context,
            session_name: input.session_name,
            duration,
            policy: input.session.policy,
            policy_arns: &input.session.policy_arns,
            tags: &tags,
            transitive: &transitive,
            requested_tags: &requested,
            source_identity: source_identity.as_deref(),
        },
        |_| true,
    )?;
    let role = decided.role;
    let packed = decided.packed;
    state.throttle.take_role(input.role_arn).await?;

    let issued = role_session::issue(
        state,
        meta,
        NewSession {
            principal: role_session::role_principal(role, input.session_name),
            account: &role.account,
            duration,
            max_duration: role.max_session_duration,
            now,
            origin: Origin::AssumeRole,
            provider: None,
            subject: None,
            audience: None,
            source_identity: source_identity.clone(),
            context: BTreeMap::new(),
            session_policy: input.session.policy,
            policy_arns: &input.session.policy_arns,
            tags,
            transitive_tag_keys: transitive,
            mfa_authenticated_at: side.mfa_at,
            chained: side.chained,
            lineage,
        },
    )
    .await?;
    let assumed_role_id = issued.assumed_role_id();
    let result = AssumeRoleResult {
        credentials: CredentialsXml::of(&issued.credentials),
        assumed_role_user: AssumedRoleUserXml::of(&issued.record, &assumed_role_id),
        packed_policy_size: packed,
        source_identity: source_identity.as_deref(),
    };
    Ok(xml::success_written(
        Action::AssumeRole,
        &result,
        &meta.request_id,
    ))
}
