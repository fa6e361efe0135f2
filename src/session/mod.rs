//! Sessions: the credentials handed to a caller ([`credentials`]) and the record the broker
//! keeps of each one in the store, from which any replica can later verify requests signed with
//! them and decide what they may do.

pub mod credentials;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a session was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    AssumeRoleWithWebIdentity,
    AssumeRole,
    GetSessionToken,
    AssumeRoleWithSAML,
}

/// Whose session it is: a role's (the AssumeRole* actions) or an IAM user's (GetSessionToken).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum SessionPrincipal {
    Role {
        role_arn: String,
        role_id: String,
        session_name: String,
        /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
        assumed_role_arn: String,
    },
    User {
        user_arn: String,
        user_id: String,
    },
}

impl SessionPrincipal {
    /// The ARN the session acts as: the assumed-role ARN, or the user's.
    pub fn arn(&self) -> &str {
        match self {
            SessionPrincipal::Role {
                assumed_role_arn, ..
            } => assumed_role_arn,
            SessionPrincipal::User { user_arn, .. } => user_arn,
        }
    }

    /// `aws:userid`: `ROLEID:SESSION` for roles, the user id for users.
    pub fn user_id(&self) -> String {
        match self {
            SessionPrincipal::Role {
                role_id,
                session_name,
                ..
            } => format!("{role_id}:{session_name}"),
            SessionPrincipal::User { user_id, .. } => user_id.clone(),
        }
    }
}

/// What the store holds about one session. Holds no secret: the secret access key is derived
/// from the broker's key when needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub access_key_id: String,
    /// The broker session key that signed the token.
    pub key_id: String,
    pub origin: Origin,
    pub account: String,
    pub principal: SessionPrincipal,
    /// Unix seconds.
    pub issued_at: i64,
    pub expires_at: i64,
    /// The identity provider (ARN) and subject the session was federated from.
    pub provider: Option<String>,
    pub subject: Option<String>,
    pub audience: Option<String>,
    pub source_identity: Option<String>,
    /// Context keys that stay with the session (e.g. `<provider>:sub`, `:aud`, `:amr`).
    pub context: BTreeMap<String, Vec<String>>,
    /// The inline session policy, as passed.
    pub session_policy: Option<String>,
    /// Managed session policy ARNs, as passed.
    pub policy_arns: Vec<String>,
    pub tags: BTreeMap<String, String>,
    /// Tag keys that carry into chained sessions.
    pub transitive_tag_keys: Vec<String>,
    /// When the caller last proved an MFA code (unix seconds), carried along a chain.
    #[serde(default)]
    pub mfa_authenticated_at: Option<i64>,
    /// Created by a role session assuming a role (role chaining: at most one hour).
    #[serde(default)]
    pub chained: bool,
}

impl SessionRecord {
    /// Seconds the record should live in the store: exactly the session's lifetime from `now`.
    pub fn ttl_from(&self, now: i64) -> u64 {
        u64::try_from(self.expires_at - now).unwrap_or(0)
    }
}
