//! The STS Query API (version 2011-06-15): reading the action and its parameters, dispatching to
//! one module per action, and shaping results and errors as AWS's XML.

pub mod assume_role;
pub mod auth_cache;
pub mod caller;
pub mod caller_identity;
pub mod error;
pub mod params;
pub mod permissions;
pub mod query;
pub mod role_session;
pub mod saml;
pub mod session_token;
pub mod web_identity;
pub mod xml;
// Added later; kept last so parallel additions merge.
pub mod authorization_message;
pub mod decode_message;

use std::net::IpAddr;

pub use error::StsError;
pub use query::Params;

use crate::app::AppState;

/// The only API version STS has.
pub const VERSION: &str = "2011-06-15";

/// The actions this broker serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    AssumeRole,
    AssumeRoleWithWebIdentity,
    GetCallerIdentity,
    GetSessionToken,
    AssumeRoleWithSAML,
    DecodeAuthorizationMessage,
}

impl Action {
    /// The action a request names, if we serve it.
    pub fn from_name(name: &str) -> Option<Action> {
        match name {
            "AssumeRole" => Some(Action::AssumeRole),
            "AssumeRoleWithWebIdentity" => Some(Action::AssumeRoleWithWebIdentity),
            "GetCallerIdentity" => Some(Action::GetCallerIdentity),
            "GetSessionToken" => Some(Action::GetSessionToken),
            "AssumeRoleWithSAML" => Some(Action::AssumeRoleWithSAML),
            "DecodeAuthorizationMessage" => Some(Action::DecodeAuthorizationMessage),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Action::AssumeRole => "AssumeRole",
            Action::AssumeRoleWithWebIdentity => "AssumeRoleWithWebIdentity",
            Action::GetCallerIdentity => "GetCallerIdentity",
            Action::GetSessionToken => "GetSessionToken",
            Action::AssumeRoleWithSAML => "AssumeRoleWithSAML",
            Action::DecodeAuthorizationMessage => "DecodeAuthorizationMessage",
        }
    }

    pub fn response_tag(self) -> &'static str {
        match self {
            Action::AssumeRole => "AssumeRoleResponse",
            Action::AssumeRoleWithWebIdentity => "AssumeRoleWithWebIdentityResponse",
            Action::GetCallerIdentity => "GetCallerIdentityResponse",
            Action::GetSessionToken => "GetSessionTokenResponse",
            Action::AssumeRoleWithSAML => "AssumeRoleWithSAMLResponse",
            Action::DecodeAuthorizationMessage => "DecodeAuthorizationMessageResponse",
        }
    }

    pub fn result_tag(self) -> &'static str {
        match self {
            Action::AssumeRole => "AssumeRoleResult",
            Action::AssumeRoleWithWebIdentity => "AssumeRoleWithWebIdentityResult",
            Action::GetCallerIdentity => "GetCallerIdentityResult",
            Action::GetSessionToken => "GetSessionTokenResult",
            Action::AssumeRoleWithSAML => "AssumeRoleWithSAMLResult",
            Action::DecodeAuthorizationMessage => "DecodeAuthorizationMessageResult",
        }
    }
}

/// What the transport knows about a request, for context keys and logs.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub source_ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub secure_transport: bool,
    /// The request as received, for signature verification.
    pub raw: RawRequest,
}

/// The parts of an HTTP request a SigV4 signature covers, as they arrived.
#[derive(Clone, Default)]
pub struct RawRequest {
    pub method: String,
    /// The path as on the wire, without the query.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names and values in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: bytes::Bytes,
}

impl RawRequest {
    /// The request as SigV4 verification reads it.
    pub fn signed(&self) -> crate::sigv4::SignedRequest<'_> {
        crate::sigv4::SignedRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

impl std::fmt::Debug for RawRequest {
    // Headers and body can hold signatures, tokens and secrets: show their size only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &self.headers.len())
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// The XML namespace of the answer to a request: IAM's for IAM's API version, else STS's.
pub fn namespace(params: &Params) -> &'static str {
    match params.get("Version") {
        Some(crate::iam_api::VERSION) => crate::iam_api::NAMESPACE,
        _ => xml::NAMESPACE,
    }
}

/// Runs one Query API request (STS's, or IAM's on the same endpoint); returns the XML body of
/// the answer.
pub async fn dispatch(
    state: &AppState,
    params: &Params,
    meta: &RequestMeta,
) -> Result<String, StsError> {
    let action = params.get("Action").ok_or_else(StsError::missing_action)?;
    let version = params
        .get("Version")
        .ok_or_else(|| StsError::missing_parameter("Version"))?;
    crate::audit::note(|n| {
        let service = if version == crate::iam_api::VERSION {
            "iam"
        } else {
            "sts"
        };
        n.action = Some(format!("{service}:{}", crate::audit::bounded(action)));
        n.role = params.get("RoleArn").map(crate::audit::bounded);
        n.session_name = params.get("RoleSessionName").map(crate::audit::bounded);
    });
    if version == crate::iam_api::VERSION {
        return crate::iam_api::dispatch(state, params, meta, action).await;
    }
    match Action::from_name(action) {
        Some(Action::AssumeRole) if version == VERSION => {
            assume_role::assume_role(state, params, meta).await
        }
        Some(Action::AssumeRoleWithWebIdentity) if version == VERSION => {
            web_identity::assume_role_with_web_identity(state, params, meta).await
        }
        Some(Action::GetSessionToken) if version == VERSION => {
            session_token::get_session_token(state, params, meta).await
        }
        Some(Action::AssumeRoleWithSAML) if version == VERSION => {
            saml::assume_role_with_saml(state, params, meta).await
        }
        Some(Action::GetCallerIdentity) if version == VERSION => {
            caller_identity::get_caller_identity(state, meta).await
        }
        Some(Action::DecodeAuthorizationMessage) if version == VERSION => {
            decode_message::decode_authorization_message(state, params, meta).await
        }
        _ => Err(StsError::invalid_action(action, version)),
    }
}
