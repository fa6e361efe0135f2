//! The HTTP admin API on the main listener: `POST /admin/revoke`, revocation over HTTP, so
//! operators revoke with the same signatures and policy language as every other call instead of
//! needing the store's credentials (the `revoke` command). Bodies, actions and answers: docs/revocation.md,
//! "Over HTTP". An unauthorized caller must not learn whether a session exists
//! (`session_denied`); answers never hold a secret (entries hold ids, ARNs and hashes).
//! `POST /admin/reload` reloads the configuration ([`crate::broker::reload`]) for a caller
//! allowed `broker:ReloadConfig`, checked before any file is read.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::audit;
use crate::broker::Broker;
use crate::broker::admin;
use crate::broker::caller::authenticate_for;
use crate::broker::reload::{Live, Reloaded};
use crate::broker::{ApiError, RequestMeta};
use crate::revocation::{Entry, Revocation, RevocationError, RevokeOutcome};

/// Where revocations are accepted.
pub const REVOKE_PATH: &str = "/admin/revoke";
/// Every path of the admin API starts with this.
pub const PREFIX: &str = "/admin/";
/// The actions, by kind.
pub const REVOKE_SESSION: &str = "broker:RevokeSession";
pub const REVOKE_SUBJECT: &str = "broker:RevokeSubject";
pub const REVOKE_ROLE: &str = "broker:RevokeRole";
pub const REVOKE_USER: &str = "broker:RevokeUser";
/// Where configuration reloads are asked for.
pub const RELOAD_PATH: &str = "/admin/reload";
/// The action a reload needs (on resource `*`).
pub const RELOAD_CONFIG: &str = "broker:ReloadConfig";
/// Longest accepted body: a revocation is a few ARNs long.
pub const MAX_BODY: usize = 16 * 1024;

/// The body: a [`Revocation`], with unknown fields refused (the stored type accepts them).
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
enum RevokeInput {
    Session { access_key_id: String },
    Subject { provider: String, subject: String },
    Role { role_arn: String },
    RoleIssuedBefore { role_arn: String, before: i64 },
    User { user_arn: String },
}

impl From<RevokeInput> for Revocation {
    fn from(input: RevokeInput) -> Revocation {
        match input {
            RevokeInput::Session { access_key_id } => Revocation::Session { access_key_id },
            RevokeInput::Subject { provider, subject } => Revocation::Subject { provider, subject },
            RevokeInput::Role { role_arn } => Revocation::Role { role_arn },
            RevokeInput::RoleIssuedBefore { role_arn, before } => {
                Revocation::RoleIssuedBefore { role_arn, before }
            }
            RevokeInput::User { user_arn } => Revocation::User { user_arn },
        }
    }
}

/// The answer to an applied reload.
#[derive(Debug, Serialize)]
struct ReloadAnswer<'a> {
    reloaded: bool,
    config: &'a str,
    roles: usize,
    oidc_providers: usize,
    key_caches_kept: usize,
    revoked: usize,
}

#[derive(Debug, Serialize)]
struct Revoked<'a> {
    revoked: &'a [Entry],
}

/// The resource a session revocation is asked on: the session in its account.
pub fn session_arn(account: &str, access_key_id: &str) -> String {
    format!("arn:aws:sts::{account}:session/{access_key_id}")
}

/// The action a revocation needs and the resource it is asked on; for a session, in `account`
/// (the session's, once known).
pub fn target(r: &Revocation, account: &str) -> (&'static str, String) {
    match r {
        Revocation::Session { access_key_id } => {
            (REVOKE_SESSION, session_arn(account, access_key_id))
        }
        Revocation::Subject { provider, .. } => (REVOKE_SUBJECT, provider.clone()),
        Revocation::Role { role_arn } | Revocation::RoleIssuedBefore { role_arn, .. } => {
            (REVOKE_ROLE, role_arn.clone())
        }
        Revocation::User { user_arn } => (REVOKE_USER, user_arn.clone()),
    }
}

/// The one answer for a session the caller may not revoke (another account's), or that does
/// not exist: the same `AccessDenied`, without an encoded trace that would name the account.
/// Only a caller allowed on the session id in every account the broker serves is told
/// `NoSuchEntity` for a missing one.
fn session_denied(caller: &str, access_key_id: &str) -> ApiError {
    ApiError::access_denied(format!(
        "User: {caller} is not authorized to perform: {REVOKE_SESSION} on session \
         {access_key_id}: no live session it may revoke has this access key id"
    ))
}

/// What the caller sees of a failed revocation; the cause goes to the log.
fn revocation_error(meta: &RequestMeta) -> impl Fn(RevocationError) -> ApiError + '_ {
    move |e| {
        if !matches!(e, RevocationError::Invalid(_)) {
            tracing::warn!(request_id = %meta.request_id, error = %e, "revocation not made");
        }
        ApiError::from(e)
    }
}

/// Parses a body into a [`Revocation`].
pub fn parse(body: &[u8]) -> Result<Revocation, ApiError> {
    serde_json::from_slice::<RevokeInput>(body)
        .map(Revocation::from)
        .map_err(|e| ApiError::validation(format!("Invalid request body: {e}")))
}

/// Handles `POST /admin/revoke` whose body is `meta.raw.body`. What was asked goes to the
/// request's audit notes.
pub async fn revoke(state: &Broker, meta: &RequestMeta) -> Result<Response, ApiError> {
    let authenticated = authenticate_for(state, meta, "sts").await?;
    let permissions = authenticated.permissions(&state.config.iam)?;
    let revocation = parse(&meta.raw.body)?;
    crate::revocation::validate(&revocation, state.clock.now().unix_timestamp())
        .map_err(revocation_error(meta))?;
    // A session's account: read before deciding, answered alike whether missing or denied.
    let session_account = match &revocation {
        Revocation::Session { access_key_id } => Some(
            state
                .store
                .get_session(access_key_id, &state.keys.snapshot())
                .await
                .map_err(|e| {
                    tracing::warn!(request_id = %meta.request_id, error = %e, "session lookup failed");
                    ApiError::service_unavailable()
                })?
                .map(|record| record.account),
        ),
        _ => None,
    };
    let (action, resource) = target(
        &revocation,
        session_account
            .as_ref()
            .and_then(Option::as_deref)
            .unwrap_or("*"),
    );
    audit::note(|n| {
        n.action = Some(action.to_owned());
        n.resource = Some(audit::bounded(&resource));
        match &revocation {
            Revocation::Subject { subject, .. } => n.subject = Some(audit::bounded(subject)),
            Revocation::Role { role_arn } | Revocation::RoleIssuedBefore { role_arn, .. } => {
                n.role = Some(audit::bounded(role_arn));
            }
            Revocation::Session { .. } | Revocation::User { .. } => {}
        }
    });
    if let (Revocation::Session { access_key_id }, Some(found)) = (&revocation, &session_account) {
        let may = |account: &str| {
            let arn = session_arn(account, access_key_id);
            admin::allowed(state, meta, &permissions, action, &arn).is_ok()
        };
        match found {
            Some(account) if may(account) => {}
            // Missing, and the caller may revoke this id in every account the broker serves
            // (the only accounts a session can be in): it may know.
            None if state.config.iam.accounts.keys().all(|a| may(a)) => {
                return Err(ApiError::no_such_entity(
                    "No live session has this access key id: nothing was revoked",
                ));
            }
            Some(_) | None => return Err(session_denied(permissions.arn(), access_key_id)),
        }
    } else {
        admin::allowed(state, meta, &permissions, action, &resource)?;
    }
    let outcome = state
        .revocations
        .revoke(revocation, state.clock.now())
        .await
        .map_err(revocation_error(meta))?;
    match outcome {
        RevokeOutcome::Revoked(entries) => {
            tracing::warn!(
                request_id = %meta.request_id,
                caller = %permissions.arn(),
                action,
                resource = %audit::bounded(&resource),
                entries = entries.len(),
                "revoked over the admin API"
            );
            Ok((StatusCode::OK, axum::Json(Revoked { revoked: &entries })).into_response())
        }
        RevokeOutcome::SessionNotFound => Err(ApiError::no_such_entity(
            "No live session has this access key id: nothing was revoked",
        )),
        RevokeOutcome::UnknownPrincipal(why) => Err(ApiError::no_such_entity(format!(
            "The target names nothing configured ({why}): nothing was revoked"
        ))),
    }
}

/// Handles `POST /admin/reload` (its body is ignored): `state` (the running configuration)
/// authenticates the caller and its policies must allow [`RELOAD_CONFIG`] on `*`; only then is
/// anything read. The answer waits for the reload (and for one already running).
pub async fn reload(
    live: &Arc<Live>,
    state: &Broker,
    meta: &RequestMeta,
) -> Result<Response, ApiError> {
    audit::note(|n| {
        n.action = Some(RELOAD_CONFIG.to_owned());
        n.resource = Some("*".to_owned());
    });
    let (caller, _) = admin::require(state, meta, RELOAD_CONFIG, "*").await?;
    tracing::info!(request_id = %meta.request_id, caller = %caller.arn(), "configuration reload asked over the admin API");
    let Reloaded {
        source,
        roles,
        oidc_providers,
        key_caches_kept,
        revoked,
    } = live.reload("POST /admin/reload").await?;
    let answer = ReloadAnswer {
        reloaded: true,
        config: &source,
        roles,
        oidc_providers,
        key_caches_kept,
        revoked,
    };
    Ok((StatusCode::OK, axum::Json(answer)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::error::ErrorCode;

    #[test]
    fn bodies_are_revocations_with_nothing_else() {
        assert_eq!(
            parse(br#"{"kind":"Session","access_key_id":"ASIAAAAAAAAAAAAAAAAA"}"#).unwrap(),
            Revocation::Session {
                access_key_id: "ASIAAAAAAAAAAAAAAAAA".into()
            }
        );
        assert_eq!(
            parse(br#"{"kind":"RoleIssuedBefore","role_arn":"arn:aws:iam::1:role/r","before":5}"#)
                .unwrap(),
            Revocation::RoleIssuedBefore {
                role_arn: "arn:aws:iam::1:role/r".into(),
                before: 5
            }
        );
        for bad in [
            &br#"{"kind":"Session","access_key_id":"ASIA","extra":1}"#[..],
            br#"{"kind":"session","access_key_id":"ASIA"}"#,
            br#"{"kind":"Everything"}"#,
            br#"{"access_key_id":"ASIA"}"#,
            br#"{"kind":"Role"}"#,
            b"not json",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(
                (e.code, e.status()),
                (ErrorCode::ValidationError, StatusCode::BAD_REQUEST)
            );
        }
    }

    #[test]
    fn every_kind_has_its_action_and_resource() {
        let role = "arn:aws:iam::111122223333:role/app".to_owned();
        let cases = [
            (
                Revocation::Session {
                    access_key_id: "ASIAXYZ".into(),
                },
                REVOKE_SESSION,
                "arn:aws:sts::444455556666:session/ASIAXYZ",
            ),
            (
                Revocation::Subject {
                    provider: "arn:aws:iam::1:oidc-provider/idp".into(),
                    subject: "s".into(),
                },
                REVOKE_SUBJECT,
                "arn:aws:iam::1:oidc-provider/idp",
            ),
            (
                Revocation::Role {
                    role_arn: role.clone(),
                },
                REVOKE_ROLE,
                role.as_str(),
            ),
            (
                Revocation::RoleIssuedBefore {
                    role_arn: role.clone(),
                    before: 1,
                },
                REVOKE_ROLE,
                role.as_str(),
            ),
            (
                Revocation::User {
                    user_arn: "arn:aws:iam::1:user/u".into(),
                },
                REVOKE_USER,
                "arn:aws:iam::1:user/u",
            ),
        ];
        for (r, action, resource) in cases {
            assert_eq!(target(&r, "444455556666"), (action, resource.to_owned()));
        }
    }
}
