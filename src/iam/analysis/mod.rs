//! Access Analyzer's two reviews over the IAM entities served (the file's and the API's,
//! merged): external access ([`external`]: roles whose trust policy lets in principals outside
//! a zone of trust or any subject of a public identity provider, by
//! [`crate::policy::trust::external_access`]) and unused access ([`unused`]: roles not assumed,
//! access keys and passwords not used, and users without MFA, from the last uses the brokers
//! recorded).
//!
//! Pure: the entities, the users' login profiles ([`login_profiles`]), the last uses (unix
//! seconds by role, access key or user id) and `now` are arguments; reading them is the
//! caller's.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::api::Layer;
use super::passwords::profile_of;
use super::{Iam, Origin};
use crate::policy::trust::{ExternalAccess, PublicIdps, ZoneOfTrust, external_access};

/// One external-access finding of a role.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleAccess {
    pub role_arn: String,
    pub account: String,
    pub origin: Origin,
    pub access: ExternalAccess,
    /// The granting statement's `Sid`, when it has one.
    pub sid: Option<String>,
    /// The granting statement as written in the trust policy (`Null` if it cannot be read
    /// back), shared by the findings of one statement.
    pub statement: Arc<serde_json::Value>,
}

/// Every external-access finding of every role `iam` serves, ordered by role ARN. A role's
/// trust document is read back once, whatever the number of its findings.
pub fn external(iam: &Iam, zone: &ZoneOfTrust, idps: &PublicIdps) -> Vec<RoleAccess> {
    let mut roles: Vec<_> = iam.roles().collect();
    roles.sort_by(|a, b| a.arn.cmp(&b.arn));
    let mut out = Vec::new();
    for role in roles {
        let policy = &role.trust_policy.policy;
        let found = external_access(policy, &role.arn, zone, idps);
        if found.is_empty() {
            continue;
        }
        let statements = statements_json(&role.about.trust_document);
        for access in found {
            let sid = policy
                .statements
                .iter()
                .find(|s| s.index == access.statement)
                .and_then(|s| s.sid.clone());
            out.push(RoleAccess {
                role_arn: role.arn.clone(),
                account: role.account.clone(),
                origin: role.about.origin.clone(),
                statement: statements
                    .get(access.statement)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(serde_json::Value::Null)),
                sid,
                access,
            });
        }
    }
    out
}

/// The statements of a policy document as written (`Statement` may be one object), in order;
/// none when it cannot be read back.
pub fn statements_json(document: &str) -> Vec<Arc<serde_json::Value>> {
    let Ok(serde_json::Value::Object(mut doc)) = serde_json::from_str(document) else {
        return Vec::new();
    };
    let statements = doc
        .iter_mut()
        .find(|(k, _)| k.as_str() == "Statement")
        .map(|(_, v)| v.take());
    match statements {
        Some(serde_json::Value::Array(all)) => all.into_iter().map(Arc::new).collect(),
        Some(one @ serde_json::Value::Object(_)) => vec![Arc::new(one)],
        _ => Vec::new(),
    }
}

/// What an unused-access finding is about. Each kind is one review of the entities (one pass
/// in [`unused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnusedKind {
    /// A role no session was issued for within the window.
    RoleNotAssumed,
    /// An active access key that verified no request within the window.
    AccessKeyNotUsed,
    /// A user's password (login profile) used to sign in to no session within the window.
    PasswordNotUsed,
    /// A user with no enabled MFA device (from the file or the API).
    UserWithoutMfa,
}

impl UnusedKind {
    pub fn code(self) -> &'static str {
        match self {
            UnusedKind::RoleNotAssumed => "role_not_assumed",
            UnusedKind::AccessKeyNotUsed => "access_key_not_used",
            UnusedKind::PasswordNotUsed => "password_not_used",
            UnusedKind::UserWithoutMfa => "user_without_mfa",
        }
    }
}

/// One unused-access finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unused {
    pub kind: UnusedKind,
    /// The role's or user's ARN.
    pub arn: String,
    pub account: String,
    pub origin: Origin,
    /// The access key, for [`UnusedKind::AccessKeyNotUsed`].
    pub access_key_id: Option<String>,
    /// When it was created, where that is known (the API's entities, file keys that state it,
    /// login profiles).
    pub created: Option<OffsetDateTime>,
    /// The last use recorded, if any.
    pub last_used: Option<OffsetDateTime>,
    pub reason: String,
}

/// The users of `iam` with a login profile in `layer` (the file's users and the API's; a
/// profile of an earlier user of the same name is not theirs): when it was created, by user
/// id. A document that does not decode serves no profile.
pub fn login_profiles(iam: &Iam, layer: &Layer) -> HashMap<String, OffsetDateTime> {
    let mut out = HashMap::new();
    for user in iam.users() {
        let Some(doc) = layer
            .accounts
            .get(&user.account)
            .map(|r| &r.document)
            .filter(|d| !d.is_unusable())
        else {
            continue;
        };
        if let Some(p) = profile_of(doc, &user.name, &user.user_id) {
            let created = OffsetDateTime::from_unix_timestamp(p.created)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            out.insert(user.user_id.clone(), created);
        }
    }
    out
}

/// The ids whose last use [`unused`] reads: every role's unique id, every active access key's
/// id, and the id of every user with a login profile in `profiles` (sign-ins are recorded by
/// the user's id).
pub fn last_use_ids(iam: &Iam, profiles: &HashMap<String, OffsetDateTime>) -> Vec<String> {
    let roles = iam.roles().map(|r| r.role_id.clone());
    let keys = iam.users().flat_map(|u| {
        u.access_keys
            .iter()
            .filter(|k| k.active)
            .map(|k| k.id.clone())
    });
    let users = iam
        .users()
        .filter(|u| profiles.contains_key(&u.user_id))
        .map(|u| u.user_id.clone());
    roles.chain(keys).chain(users).collect()
}

/// Whether something created at `created` and last used at `last_used` is unused in the
/// `window` before `now`, and why. Something created inside the window is not unused yet;
/// something whose creation is not known and never used is (it was not used since records
/// began).
fn idle(
    created: Option<OffsetDateTime>,
    last_used: Option<OffsetDateTime>,
    now: OffsetDateTime,
    window: Duration,
    verb: &str,
) -> Option<String> {
    let since = now - window;
    let days = window.whole_days();
    match (last_used, created) {
        (Some(used), _) if used >= since => None,
        (Some(used), _) => Some(format!(
            "last {verb} {} days ago, before the {days}-day window",
            (now - used).whole_days()
        )),
        (None, Some(c)) if c >= since => None,
        (None, Some(c)) => Some(format!(
            "never {verb}, and created {} days ago, before the {days}-day window",
            (now - c).whole_days()
        )),
        (None, None) => Some(format!(
            "never {verb} since the brokers began recording last uses (its creation time is \
             not known: it is defined in the configuration file)"
        )),
    }
}

/// Every unused-access finding for `iam` as of `now`, with `window` the period looked back on,
/// `profiles` the users' login profiles ([`login_profiles`]) and `last_used` the recorded last
/// uses (unix seconds) by role, access key or user id. Ordered by kind, then ARN, then key id.
pub fn unused(
    iam: &Iam,
    profiles: &HashMap<String, OffsetDateTime>,
    last_used: &HashMap<String, i64>,
    now: OffsetDateTime,
    window: Duration,
) -> Vec<Unused> {
    let used = |id: &str| {
        last_used
            .get(id)
            .and_then(|at| OffsetDateTime::from_unix_timestamp(*at).ok())
    };
    let with_mfa: HashSet<&str> = iam.mfa_devices().map(|d| d.user_arn.as_str()).collect();
    let mut out = Vec::new();
    for role in iam.roles() {
        // A file role's `created` is when this process read the file, not its creation.
        let created = (role.about.origin == Origin::Api).then_some(role.about.created);
        let last = used(&role.role_id);
        if let Some(reason) = idle(created, last, now, window, "assumed") {
            out.push(Unused {
                kind: UnusedKind::RoleNotAssumed,
                arn: role.arn.clone(),
                account: role.account.clone(),
                origin: role.about.origin.clone(),
                access_key_id: None,
                created,
                last_used: last,
                reason,
            });
        }
    }
    for user in iam.users() {
        for key in user.access_keys.iter().filter(|k| k.active) {
            let last = used(&key.id);
            if let Some(reason) = idle(key.created, last, now, window, "used") {
                out.push(Unused {
                    kind: UnusedKind::AccessKeyNotUsed,
                    arn: user.arn.clone(),
                    account: user.account.clone(),
                    origin: user.about.origin.clone(),
                    access_key_id: Some(key.id.clone()),
                    created: key.created,
                    last_used: last,
                    reason: format!("active access key {}", reason),
                });
            }
        }
        let profile = profiles.get(&user.user_id).copied();
        if let Some(created) = profile {
            let last = used(&user.user_id);
            if let Some(reason) = idle(Some(created), last, now, window, "used to sign in") {
                out.push(Unused {
                    kind: UnusedKind::PasswordNotUsed,
                    arn: user.arn.clone(),
                    account: user.account.clone(),
                    origin: user.about.origin.clone(),
                    access_key_id: None,
                    created: Some(created),
                    last_used: last,
                    reason: format!("password (login profile) {reason}"),
                });
            }
        }
        if !with_mfa.contains(user.arn.as_str()) {
            let reason = if profile.is_some() {
                "no MFA device is enabled for the user (in the file or through the API), who \
                 can sign in with a password"
            } else {
                "no MFA device is enabled for the user (in the file or through the API)"
            };
            out.push(Unused {
                kind: UnusedKind::UserWithoutMfa,
                arn: user.arn.clone(),
                account: user.account.clone(),
                origin: user.about.origin.clone(),
                access_key_id: None,
                created: (user.about.origin == Origin::Api).then_some(user.about.created),
                last_used: None,
                reason: reason.to_owned(),
            });
        }
    }
    out.sort_by(|a, b| (a.kind, &a.arn, &a.access_key_id).cmp(&(b.kind, &b.arn, &b.access_key_id)));
    out
}

#[cfg(test)]
mod tests;
