//! The Query API front door: one parameter reader ([`params`], [`validate`]) and XML writer
//! ([`xml`]) for every action, dispatching by `Version` to STS's actions ([`sts`]) or IAM's
//! ([`iam`]) on the same endpoint.

pub mod iam;
pub mod params;
pub mod sts;
pub mod validate;
pub mod xml;

pub use params::Params;

use crate::broker::{ApiError, Broker, RequestMeta};

/// The XML namespace of the answer to a request: IAM's for IAM's API version, else STS's.
pub fn namespace(params: &Params) -> &'static str {
    match params.get("Version") {
        Some(iam::VERSION) => iam::NAMESPACE,
        _ => xml::NAMESPACE,
    }
}

/// The action a request names as a fixed name, for logs and metrics: one of the STS or IAM
/// actions served here (by the request's `Version`), or `None` for anything else, so that a
/// made-up `Action` never becomes a label.
pub fn action_name(params: &Params) -> Option<&'static str> {
    let action = params.get("Action")?;
    if params.get("Version") == Some(iam::VERSION) {
        iam::Action::from_name(action).map(iam::Action::name)
    } else {
        sts::Action::from_name(action).map(sts::Action::name)
    }
}

/// Runs one Query API request (STS's, or IAM's on the same endpoint); returns the XML body of
/// the answer.
pub async fn dispatch(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<String, ApiError> {
    let action = params.get("Action").ok_or_else(ApiError::missing_action)?;
    let version = params
        .get("Version")
        .ok_or_else(|| ApiError::missing_parameter("Version"))?;
    crate::audit::note(|n| {
        let service = if version == iam::VERSION {
            "iam"
        } else {
            "sts"
        };
        n.action = Some(format!("{service}:{}", crate::audit::bounded(action)));
        n.role = params.get("RoleArn").map(crate::audit::bounded);
        n.session_name = params.get("RoleSessionName").map(crate::audit::bounded);
    });
    if version == iam::VERSION {
        return iam::dispatch(state, params, meta, action).await;
    }
    match sts::Action::from_name(action) {
        Some(sts::Action::AssumeRole) if version == sts::VERSION => {
            sts::assume_role::assume_role(state, params, meta).await
        }
        Some(sts::Action::AssumeRoleWithWebIdentity) if version == sts::VERSION => {
            sts::web_identity::assume_role_with_web_identity(state, params, meta).await
        }
        Some(sts::Action::GetSessionToken) if version == sts::VERSION => {
            sts::session_token::get_session_token(state, params, meta).await
        }
        Some(sts::Action::AssumeRoleWithSAML) if version == sts::VERSION => {
            sts::saml::assume_role_with_saml(state, params, meta).await
        }
        Some(sts::Action::GetCallerIdentity) if version == sts::VERSION => {
            sts::caller_identity::get_caller_identity(state, meta).await
        }
        Some(sts::Action::DecodeAuthorizationMessage) if version == sts::VERSION => {
            sts::decode_message::decode_authorization_message(state, params, meta).await
        }
        _ => Err(ApiError::invalid_action(action, version)),
    }
}
