//! The HTTP admin API on the main listener: `POST /admin/revoke`, revocation over HTTP, so
//! operators revoke with the same signatures and policy language as every other call instead of
//! needing the store's credentials (the `revoke` command).
//!
//! The body is one [`Revocation`] as JSON (`{"kind": "Session", "access_key_id": "ASIA..."}`,
//! `Subject` with `provider` and `subject`, `Role` with `role_arn`, `RoleIssuedBefore` with
//! `role_arn` and `before` in unix seconds), at most [`MAX_BODY`] bytes, unknown fields refused.
//! The caller signs with SigV4 (service `sts`) and its policies must allow, per kind
//! ([`target`]): `broker:RevokeSession` on `arn:aws:sts:::session/<access key id>` (no account:
//! who owns the session is only known after a store lookup, which an unauthorized caller must
//! not be able to probe), `broker:RevokeSubject` on the provider ARN, `broker:RevokeRole` on the
//! role ARN (both `Role` and `RoleIssuedBefore`).
//!
//! Answers are JSON: `200` with `{"revoked": [entries]}` (each `rule`, `revoked_at`,
//! `expires_at` as stored), or `{"error": {"code", "message"}}` in the authorize API's shape:
//! `NoSuchEntity` (404) for a session no live record has (nothing is stored), `ValidationError`
//! (400) for a bad body, `AccessDenied` (403), the signature errors, `ServiceUnavailable` (503)
//! when the store cannot be written. Never a secret: entries hold ids, ARNs and hashes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::admin;
use crate::app::AppState;
use crate::audit;
use crate::revocation::{Entry, Revocation, RevocationError, RevokeOutcome};
use crate::sts::caller::authenticate_for;
use crate::sts::{RequestMeta, StsError};

/// Where revocations are accepted.
pub const REVOKE_PATH: &str = "/admin/revoke";
/// Every path of the admin API starts with this.
pub const PREFIX: &str = "/admin/";
/// The actions, by kind.
pub const REVOKE_SESSION: &str = "broker:RevokeSession";
pub const REVOKE_SUBJECT: &str = "broker:RevokeSubject";
pub const REVOKE_ROLE: &str = "broker:RevokeRole";
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
        }
    }
}

#[derive(Debug, Serialize)]
struct Revoked<'a> {
    revoked: &'a [Entry],
}

/// The action a revocation needs and the resource it is asked on.
pub fn target(r: &Revocation) -> (&'static str, String) {
    match r {
        Revocation::Session { access_key_id } => (
            REVOKE_SESSION,
            format!("arn:aws:sts:::session/{access_key_id}"),
        ),
        Revocation::Subject { provider, .. } => (REVOKE_SUBJECT, provider.clone()),
        Revocation::Role { role_arn } | Revocation::RoleIssuedBefore { role_arn, .. } => {
            (REVOKE_ROLE, role_arn.clone())
        }
    }
}

/// Parses a body into a [`Revocation`].
pub fn parse(body: &[u8]) -> Result<Revocation, StsError> {
    serde_json::from_slice::<RevokeInput>(body)
        .map(Revocation::from)
        .map_err(|e| StsError::validation(format!("Invalid request body: {e}")))
}

/// Handles `POST /admin/revoke` whose body is `meta.raw.body`. What was asked goes to the
/// request's audit notes.
pub async fn revoke(state: &AppState, meta: &RequestMeta) -> Result<Response, StsError> {
    let authenticated = authenticate_for(state, meta, "sts").await?;
    let permissions = authenticated.permissions(state)?;
    let revocation = parse(&meta.raw.body)?;
    let (action, resource) = target(&revocation);
    audit::note(|n| {
        n.action = Some(action.to_owned());
        n.resource = Some(audit::bounded(&resource));
        match &revocation {
            Revocation::Subject { subject, .. } => n.subject = Some(audit::bounded(subject)),
            Revocation::Role { role_arn } | Revocation::RoleIssuedBefore { role_arn, .. } => {
                n.role = Some(audit::bounded(role_arn));
            }
            Revocation::Session { .. } => {}
        }
    });
    admin::allowed(state, meta, &permissions, action, &resource)?;
    let outcome = state
        .revocations
        .revoke(revocation, state.clock.now())
        .await
        .map_err(|e| match e {
            RevocationError::Invalid(m) => StsError::validation(m),
            RevocationError::Store(e) => {
                tracing::warn!(request_id = %meta.request_id, error = %e, "revocation not stored");
                StsError::service_unavailable()
            }
            RevocationError::Encoding(e) => {
                tracing::warn!(request_id = %meta.request_id, error = %e, "revocation not encoded");
                StsError::internal()
            }
        })?;
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
        RevokeOutcome::SessionNotFound => Err(StsError::no_such_entity(
            "No live session has this access key id: nothing was revoked",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                (e.code, e.status),
                ("ValidationError", StatusCode::BAD_REQUEST)
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
                "arn:aws:sts:::session/ASIAXYZ",
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
        ];
        for (r, action, resource) in cases {
            assert_eq!(target(&r), (action, resource.to_owned()));
        }
    }
}
