//! `GetSessionToken`: an IAM user exchanges its long-term key (and optionally an MFA code) for
//! temporary credentials that act as the user, with `aws:MultiFactorAuthPresent` set when a
//! code was given. Role sessions cannot call it, as in AWS. An account's root user may, for an
//! hour at most.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::Action;
use crate::broker::ApiError;
use crate::broker::Broker;
use crate::broker::RequestMeta;
use crate::broker::caller::{Caller, authenticate_for, check_mfa, long_term_key};
use crate::broker::role_session::{self, NewSession};
use crate::query::Params;
use crate::query::validate::Violations;
use crate::query::validate::mfa_params;
use crate::query::xml::{self, CredentialsXml};
use crate::session::{Lineage, Origin, SessionPrincipal};

/// Longest GetSessionToken session (36 hours), and the default (12 hours).
pub const MAX_SECONDS: u32 = 129_600;
pub const DEFAULT_SECONDS: u32 = 43_200;
/// Longest, and default, session of an account's root user (1 hour).
pub const ROOT_MAX_SECONDS: u32 = crate::iam::root::MAX_SESSION_SECONDS;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetSessionTokenResult<'a> {
    credentials: CredentialsXml<'a>,
}

pub async fn get_session_token(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<String, ApiError> {
    let mut v = Violations::default();
    let duration = params
        .get("DurationSeconds")
        .and_then(|d| v.integer("DurationSeconds", d, 900, i64::from(MAX_SECONDS)))
        .and_then(|d| u32::try_from(d).ok());
    let mfa = mfa_params(params, &mut v);
    v.finish()?;
    let mfa = mfa?;
    let authenticated = authenticate_for(state, meta, "sts").await?;
    let user = match authenticated.caller() {
        Caller::User(user) => Arc::clone(user),
        Caller::Session(_) => {
            return Err(ApiError::access_denied(
                "Cannot call GetSessionToken with session credentials",
            ));
        }
    };
    // As AWS documents it: a root's session lasts at most an hour, and a longer one asked
    // for is that hour (not refused).
    let duration = if crate::iam::root::is_root_arn(&user.arn) {
        duration.map_or(ROOT_MAX_SECONDS, |d| d.min(ROOT_MAX_SECONDS))
    } else {
        duration.unwrap_or(DEFAULT_SECONDS)
    };
    let now = role_session::now(&*state.clock);
    let mfa_at = match mfa {
        Some((serial, code)) => Some(check_mfa(state, &user, serial, code, now).await?),
        None => None,
    };
    let issued = role_session::issue(
        state,
        meta,
        NewSession {
            principal: SessionPrincipal::User {
                user_arn: user.arn.clone(),
                user_id: user.user_id.clone(),
            },
            account: &user.account,
            duration,
            max_duration: MAX_SECONDS,
            now,
            origin: Origin::GetSessionToken,
            provider: None,
            subject: None,
            audience: None,
            source_identity: None,
            context: BTreeMap::new(),
            session_policy: None,
            policy_arns: &[],
            tags: BTreeMap::new(),
            transitive_tag_keys: Vec::new(),
            mfa_authenticated_at: mfa_at,
            chained: false,
            // Deactivating or deleting the key it was made with ends it.
            lineage: Lineage {
                long_term_key: long_term_key(state, &authenticated),
                ..Lineage::default()
            },
        },
    )
    .await?;
    let result = GetSessionTokenResult {
        credentials: CredentialsXml::of(&issued.credentials),
    };
    xml::success(Action::GetSessionToken, &result, &meta.request_id)
}
