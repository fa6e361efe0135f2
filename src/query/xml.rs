//! STS's XML, from typed structs through quick-xml's serde serializer: `<ActionResponse>` with
//! `<ActionResult>` and `<ResponseMetadata>` for success, `<ErrorResponse>` for errors, all in
//! the `https://sts.amazonaws.com/doc/2011-06-15/` namespace (the STS Query API reference).

use serde::ser::SerializeStruct as _;
use serde::{Serialize, Serializer};

use super::sts::Action;
use crate::broker::ApiError;
use crate::session::SessionRecord;
use crate::session::credentials::Credentials;

pub const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// `<ActionResponse>`: the result wrapped with the request id.
struct Envelope<'a, T> {
    namespace: &'static str,
    result_tag: &'static str,
    result: &'a T,
    request_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ResponseMetadata<'a> {
    request_id: &'a str,
}

impl<T: Serialize> Serialize for Envelope<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Envelope", 3)?;
        st.serialize_field("@xmlns", self.namespace)?;
        st.serialize_field(self.result_tag, self.result)?;
        st.serialize_field(
            "ResponseMetadata",
            &ResponseMetadata {
                request_id: self.request_id,
            },
        )?;
        st.end()
    }
}

/// The body of a successful response. Serializing plain strings does not fail; if it ever
/// does, the client gets `InternalFailure` and the log says why.
pub fn success<T: Serialize>(
    action: Action,
    result: &T,
    request_id: &str,
) -> Result<String, ApiError> {
    success_in(
        NAMESPACE,
        action.response_tag(),
        action.result_tag(),
        result,
        request_id,
    )
}

/// [`success`] for any Query API sharing STS's envelope (IAM's, for one): `response_tag`
/// wrapping `result_tag`, in `namespace`.
pub fn success_in<T: Serialize>(
    namespace: &'static str,
    response_tag: &'static str,
    result_tag: &'static str,
    result: &T,
    request_id: &str,
) -> Result<String, ApiError> {
    let mut out = String::with_capacity(2048);
    quick_xml::se::Serializer::with_root(&mut out, Some(response_tag))
        .and_then(|ser| {
            Envelope {
                namespace,
                result_tag,
                result,
                request_id,
            }
            .serialize(ser)
        })
        .map_err(|e| {
            tracing::error!(request_id, error = %e, "response serialization failed");
            ApiError::internal()
        })?;
    Ok(out)
}

#[derive(Serialize)]
#[serde(rename = "ErrorResponse")]
struct ErrorResponse<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'a str,
    #[serde(rename = "Error")]
    error: ErrorBody<'a>,
    #[serde(rename = "RequestId")]
    request_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody<'a> {
    r#type: &'static str,
    code: &'static str,
    message: &'a str,
}

/// The body of an error response.
pub fn error(e: &ApiError, request_id: &str) -> String {
    error_in(NAMESPACE, e, request_id)
}

/// [`error`] in another Query API's namespace (IAM's errors share STS's shape).
pub fn error_in(namespace: &str, e: &ApiError, request_id: &str) -> String {
    let body = ErrorResponse {
        xmlns: namespace,
        error: ErrorBody {
            r#type: e.fault().as_str(),
            code: e.code.as_str(),
            message: &e.message,
        },
        request_id,
    };
    let mut out = String::with_capacity(512);
    match quick_xml::se::Serializer::new(&mut out).serialize_some(&body) {
        Ok(_) => out,
        // Serializing plain strings cannot fail; answer with the bare code if it ever does.
        Err(_) => String::from(
            "<ErrorResponse><Error><Code>InternalFailure</Code></Error></ErrorResponse>",
        ),
    }
}

/// `Credentials` as every STS action returns them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CredentialsXml<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: &'a str,
    pub expiration: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssumedRoleUserXml<'a> {
    pub assumed_role_id: &'a str,
    pub arn: &'a str,
}

impl<'a> CredentialsXml<'a> {
    /// Minted credentials as the answer carries them: the one place their secrets are read.
    pub fn of(c: &'a Credentials) -> CredentialsXml<'a> {
        CredentialsXml {
            access_key_id: &c.access_key_id,
            secret_access_key: c.secret_access_key.expose(),
            session_token: c.session_token.expose(),
            expiration: crate::encoding::timestamp(c.expiration),
        }
    }
}

impl<'a> AssumedRoleUserXml<'a> {
    /// The role session an answer describes; `assumed_role_id` is `ROLEID:session-name`.
    pub fn of(record: &'a SessionRecord, assumed_role_id: &'a str) -> AssumedRoleUserXml<'a> {
        AssumedRoleUserXml {
            assumed_role_id,
            arn: record.principal.arn(),
        }
    }
}

/// `AssumeRoleWithWebIdentityResult`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssumeRoleWithWebIdentityResult<'a> {
    pub credentials: CredentialsXml<'a>,
    pub subject_from_web_identity_token: &'a str,
    pub assumed_role_user: AssumedRoleUserXml<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packed_policy_size: Option<u32>,
    pub provider: &'a str,
    pub audience: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<&'a str>,
}

/// `AssumeRoleResult`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssumeRoleResult<'a> {
    pub credentials: CredentialsXml<'a>,
    pub assumed_role_user: AssumedRoleUserXml<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packed_policy_size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<&'a str>,
}

/// `AssumeRoleWithSAMLResult`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssumeRoleWithSamlResult<'a> {
    pub credentials: CredentialsXml<'a>,
    pub assumed_role_user: AssumedRoleUserXml<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packed_policy_size: Option<u32>,
    pub subject: &'a str,
    pub subject_type: &'a str,
    pub issuer: &'a str,
    pub audience: &'a str,
    pub name_qualifier: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_envelope_has_aws_shape() {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct R {
            arn: &'static str,
        }
        let xml = success(
            Action::AssumeRoleWithWebIdentity,
            &R { arn: "a<b" },
            "req-1",
        )
        .unwrap();
        assert_eq!(
            xml,
            "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <AssumeRoleWithWebIdentityResult><Arn>a&lt;b</Arn></AssumeRoleWithWebIdentityResult>\
             <ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>\
             </AssumeRoleWithWebIdentityResponse>"
        );
    }

    #[test]
    fn error_body_has_aws_shape() {
        let xml = error(&ApiError::access_denied("Not <authorized>"), "req-2");
        assert_eq!(
            xml,
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <Error><Type>Sender</Type><Code>AccessDenied</Code>\
             <Message>Not &lt;authorized&gt;</Message></Error>\
             <RequestId>req-2</RequestId></ErrorResponse>"
        );
    }
}
