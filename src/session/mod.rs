//! Sessions: the credentials handed to a caller ([`credentials`]) and the record the broker
//! keeps of each one in the store, from which any replica can later verify requests signed with
//! them and decide what they may do.

pub mod credentials;
pub mod keyring;
pub mod record;
pub mod sealed;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a session was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    AssumeRoleWithWebIdentity,
    AssumeRole,
    GetSessionToken,
    AssumeRoleWithSAML,
    /// An IAM user's password (and MFA code) exchanged at `POST /signin`: acts as the user,
    /// as a `GetSessionToken` session does.
    SignIn,
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

    /// The role's ARN for a role session.
    pub fn role_arn(&self) -> Option<&str> {
        match self {
            SessionPrincipal::Role { role_arn, .. } => Some(role_arn),
            SessionPrincipal::User { .. } => None,
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
///
/// Stored compactly (see `record.rs`): the access key id and key id are not repeated in the
/// JSON (the store key and the record's prefix hold them, and its tag covers both), and
/// empty fields are left out; records written with them still read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    #[serde(default, skip_serializing)]
    pub access_key_id: String,
    /// The broker session key that signed the token.
    #[serde(default, skip_serializing)]
    pub key_id: String,
    pub origin: Origin,
    pub account: String,
    pub principal: SessionPrincipal,
    /// Unix seconds.
    pub issued_at: i64,
    pub expires_at: i64,
    /// The identity provider (ARN) and subject the session was federated from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
    /// Context keys that stay with the session (e.g. `<provider>:sub`, `:aud`, `:amr`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, Vec<String>>,
    /// The inline session policy, as passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_policy: Option<String>,
    /// Managed session policy ARNs, as passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_arns: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Tag keys that carry into chained sessions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitive_tag_keys: Vec<String>,
    /// When the caller last proved an MFA code (unix seconds), carried along a chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_authenticated_at: Option<i64>,
    /// Created by a role session assuming a role (role chaining: at most one hour).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub chained: bool,
    /// What revocation needs beyond the fields above: the web identity token's digest and the
    /// sessions this one was chained from. Absent in records written before it existed.
    #[serde(default, skip_serializing_if = "Lineage::is_empty")]
    pub lineage: Lineage,
}

/// Longest chain of sessions a session can descend from (the lineage a record carries is
/// bounded, so records stay small).
pub const MAX_CHAIN_DEPTH: usize = 32;

/// Where a session came from, as far as revocation cares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineage {
    /// The web identity token the session was issued for, by digest: never the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_identity_token: Option<TokenDigest>,
    /// The SAML assertion the session was issued for, by digest of its provider and id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saml_assertion: Option<TokenDigest>,
    /// When the identity proof was issued (unix seconds): the web identity token's `iat` or the
    /// SAML assertion's `IssueInstant`. A subject revocation covers the session when this is at
    /// or before its cut, whenever the session itself was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_issued_at: Option<i64>,
    /// The IAM user whose long-term access key created the session (`AssumeRole` signed with
    /// it), or the user a chain of sessions started from: a user revocation covers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_arn: Option<String>,
    /// The IAM user's long-term access key that created the session (`GetSessionToken`,
    /// `AssumeRole` signed with it), or that the chain of sessions started from: deactivating
    /// or deleting the key revokes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_term_key: Option<LongTermKey>,
    /// The sessions this one was chained from, the first one first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ancestors: Vec<Ancestor>,
}

/// A long-term access key (`AKIA...`) as a session remembers it: its id and the generation
/// (times it was made active again) it had when the session was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LongTermKey {
    pub id: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A web identity token, by its SHA-256 digest, and the last second it can be presented.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenDigest {
    /// Lowercase hex.
    pub sha256: String,
    /// Unix seconds: the token's `exp` plus the provider's leeway.
    pub usable_until: i64,
}

impl TokenDigest {
    /// The digest of a compact JWS's signed part (`header.payload`), usable until
    /// `usable_until`. The signature is left out: an ECDSA signature has two valid spellings,
    /// and a revoked token must stay revoked in both.
    pub fn of_jws(token: &str, usable_until: i64) -> TokenDigest {
        let signed = token.rsplit_once('.').map_or(token, |(signed, _)| signed);
        TokenDigest::of(signed, usable_until)
    }

    /// [`TokenDigest::of_jws`] as presented to `provider` (its ARN, which names its account):
    /// since accounts register providers of one issuer each, one token can be exchanged in
    /// several accounts, and revoking it in one must not refuse it in the others.
    pub fn of_jws_at(provider: &str, token: &str, usable_until: i64) -> TokenDigest {
        let signed = token.rsplit_once('.').map_or(token, |(signed, _)| signed);
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [provider, "\n", signed] {
            digest.update(part.as_bytes());
        }
        TokenDigest {
            sha256: hex::encode(digest.finish().as_ref()),
            usable_until,
        }
    }

    /// The digest of `token`, usable until `usable_until`.
    pub fn of(token: &str, usable_until: i64) -> TokenDigest {
        TokenDigest {
            sha256: sha256_hex(token),
            usable_until,
        }
    }
}

impl Lineage {
    /// Nothing to carry (a session of a signed caller, not chained).
    pub fn is_empty(&self) -> bool {
        *self == Lineage::default()
    }

    /// The digest of the identity proof (web identity token or SAML assertion) the session was
    /// issued for.
    pub fn proof_sha256(&self) -> Option<&str> {
        self.web_identity_token
            .as_ref()
            .or(self.saml_assertion.as_ref())
            .map(|d| d.sha256.as_str())
    }
}

/// Lowercase hex SHA-256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref())
}

/// What revocation checks of a session a record descends from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ancestor {
    pub access_key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub issued_at: i64,
    /// The IAM user the ancestor belonged to or was created by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_arn: Option<String>,
    /// The ancestor's identity proof: its digest and issue time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_issued_at: Option<i64>,
    /// The long-term access key the ancestor was created with, directly or through its chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_term_key: Option<LongTermKey>,
}

impl Lineage {
    /// The lineage of a session chained from `parent`; `None` when the chain would be longer
    /// than [`MAX_CHAIN_DEPTH`].
    pub fn chained_from(parent: &SessionRecord) -> Option<Lineage> {
        if parent.lineage.ancestors.len() >= MAX_CHAIN_DEPTH {
            return None;
        }
        let mut ancestors = parent.lineage.ancestors.clone();
        ancestors.push(Ancestor {
            access_key_id: parent.access_key_id.clone(),
            role_arn: parent.principal.role_arn().map(str::to_owned),
            provider: parent.provider.clone(),
            subject: parent.subject.clone(),
            issued_at: parent.issued_at,
            user_arn: parent.user_arn().map(str::to_owned),
            proof_sha256: parent.lineage.proof_sha256().map(str::to_owned),
            identity_issued_at: parent.lineage.identity_issued_at,
            long_term_key: parent.lineage.long_term_key.clone(),
        });
        Some(Lineage {
            web_identity_token: None,
            saml_assertion: None,
            identity_issued_at: None,
            user_arn: parent.user_arn().map(str::to_owned),
            long_term_key: parent.lineage.long_term_key.clone(),
            ancestors,
        })
    }
}

impl SessionRecord {
    /// The IAM user the session belongs to (`GetSessionToken`) or was created by, directly or
    /// through the sessions it was chained from.
    pub fn user_arn(&self) -> Option<&str> {
        match &self.principal {
            SessionPrincipal::User { user_arn, .. } => Some(user_arn),
            SessionPrincipal::Role { .. } => self.lineage.user_arn.as_deref(),
        }
    }

    /// Seconds the record should live in the store: exactly the session's lifetime from `now`.
    pub fn ttl_from(&self, now: i64) -> u64 {
        u64::try_from(self.expires_at - now).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tokens_digest_at_a_provider_covers_the_provider_and_the_signed_part_only() {
        let at = |provider: &str, token: &str| TokenDigest::of_jws_at(provider, token, 9).sha256;
        let a = "arn:aws:iam::111122223333:oidc-provider/idp";
        assert_eq!(at(a, "h.p.sig"), sha256_hex(&format!("{a}\nh.p")));
        assert_eq!(at(a, "h.p.sig"), at(a, "h.p.other-spelling"));
        assert_ne!(
            at(a, "h.p.sig"),
            at("arn:aws:iam::444455556666:oidc-provider/idp", "h.p.sig")
        );
        assert_ne!(at(a, "h.p.sig"), TokenDigest::of_jws("h.p.sig", 9).sha256);
    }
}
