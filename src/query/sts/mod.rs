//! STS's actions (API version 2011-06-15), one module each, served through the Query API.

pub mod assume_role;
pub mod caller_identity;
pub mod decode_message;
pub mod saml;
pub mod saml_attributes;
pub mod session_token;
pub mod web_identity;

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

#[cfg(test)]
mod tests;
