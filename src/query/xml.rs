//! STS's XML, from typed structs through quick-xml's serde serializer: `<ActionResponse>` with
//! `<ActionResult>` and `<ResponseMetadata>` for success, `<ErrorResponse>` for errors, all in
//! the `https://sts.amazonaws.com/doc/2011-06-15/` namespace (the STS Query API reference).
//!
//! The three role-session answers, written on every credential minted, are written directly
//! ([`WriteXml`], [`success_written`]): the same bytes the serializer writes (a test compares
//! them), without its per-field name checks and buffers.

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

/// A result written element by element, byte for byte as its `Serialize` form would be.
pub trait WriteXml {
    fn write_xml(&self, out: &mut String);
}

/// [`success`] for a result that writes itself.
pub fn success_written<T: WriteXml>(action: Action, result: &T, request_id: &str) -> String {
    let (response_tag, result_tag) = (action.response_tag(), action.result_tag());
    let mut out = String::with_capacity(2048);
    out.push('<');
    out.push_str(response_tag);
    out.push_str(" xmlns=\"");
    out.push_str(NAMESPACE);
    out.push_str("\">");
    open(&mut out, result_tag);
    result.write_xml(&mut out);
    close(&mut out, result_tag);
    out.push_str("<ResponseMetadata>");
    element(&mut out, "RequestId", request_id);
    out.push_str("</ResponseMetadata>");
    close(&mut out, response_tag);
    out
}

fn open(out: &mut String, tag: &str) {
    out.push('<');
    out.push_str(tag);
    out.push('>');
}

fn close(out: &mut String, tag: &str) {
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

/// `<tag>text</tag>`, the text escaped as the serializer escapes it.
fn element(out: &mut String, tag: &str, text: &str) {
    open(out, tag);
    push_escaped(out, text);
    close(out, tag);
}

/// `text` with `<`, `>` and `&` escaped, as quick_xml's `partial_escape` (the serializer's)
/// writes it, searched for with `memchr`: the values written here are mostly long and free of
/// all three (session tokens), where a byte-by-byte scan showed in profiles.
fn push_escaped(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(at) = memchr::memchr3(b'<', b'>', b'&', rest.as_bytes()) {
        out.push_str(&rest[..at]);
        out.push_str(match rest.as_bytes()[at] {
            b'<' => "&lt;",
            b'>' => "&gt;",
            _ => "&amp;",
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

fn optional(out: &mut String, tag: &str, text: Option<&str>) {
    if let Some(text) = text {
        element(out, tag, text);
    }
}

fn packed_policy_size(out: &mut String, size: Option<u32>) {
    if let Some(size) = size {
        open(out, "PackedPolicySize");
        out.push_str(&size.to_string());
        close(out, "PackedPolicySize");
    }
}

impl WriteXml for CredentialsXml<'_> {
    fn write_xml(&self, out: &mut String) {
        open(out, "Credentials");
        element(out, "AccessKeyId", self.access_key_id);
        element(out, "SecretAccessKey", self.secret_access_key);
        element(out, "SessionToken", self.session_token);
        element(out, "Expiration", &self.expiration);
        close(out, "Credentials");
    }
}

impl WriteXml for AssumedRoleUserXml<'_> {
    fn write_xml(&self, out: &mut String) {
        open(out, "AssumedRoleUser");
        element(out, "AssumedRoleId", self.assumed_role_id);
        element(out, "Arn", self.arn);
        close(out, "AssumedRoleUser");
    }
}

impl WriteXml for AssumeRoleWithWebIdentityResult<'_> {
    fn write_xml(&self, out: &mut String) {
        self.credentials.write_xml(out);
        element(
            out,
            "SubjectFromWebIdentityToken",
            self.subject_from_web_identity_token,
        );
        self.assumed_role_user.write_xml(out);
        packed_policy_size(out, self.packed_policy_size);
        element(out, "Provider", self.provider);
        element(out, "Audience", self.audience);
        optional(out, "SourceIdentity", self.source_identity);
    }
}

impl WriteXml for AssumeRoleResult<'_> {
    fn write_xml(&self, out: &mut String) {
        self.credentials.write_xml(out);
        self.assumed_role_user.write_xml(out);
        packed_policy_size(out, self.packed_policy_size);
        optional(out, "SourceIdentity", self.source_identity);
    }
}

impl WriteXml for AssumeRoleWithSamlResult<'_> {
    fn write_xml(&self, out: &mut String) {
        self.credentials.write_xml(out);
        self.assumed_role_user.write_xml(out);
        packed_policy_size(out, self.packed_policy_size);
        element(out, "Subject", self.subject);
        element(out, "SubjectType", self.subject_type);
        element(out, "Issuer", self.issuer);
        element(out, "Audience", self.audience);
        element(out, "NameQualifier", self.name_qualifier);
        optional(out, "SourceIdentity", self.source_identity);
    }
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

    proptest::proptest! {
        #[test]
        fn escaping_writes_what_the_serializer_writes(text in "(<|>|&|\"|'|a|é|;|\\PC){0,40}") {
            let mut out = String::from("x");
            push_escaped(&mut out, &text);
            proptest::prop_assert_eq!(out, format!("x{}", quick_xml::escape::partial_escape(&text)));
        }
    }

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

    /// Every role-session answer written directly is byte for byte what the serializer writes,
    /// with and without the optional fields, and with text that needs escaping.
    #[test]
    fn written_answers_equal_their_serialized_form() {
        let awkward = "a<b>&c'd\"e]]>é";
        let credentials = || CredentialsXml {
            access_key_id: "ASIAEXAMPLE",
            secret_access_key: "se/cr+et",
            session_token: awkward,
            expiration: "2026-12-06T22:00:00Z".into(),
        };
        let user = || AssumedRoleUserXml {
            assumed_role_id: "AROAEXAMPLE:s&n",
            arn: "arn:aws:sts::111122223333:assumed-role/r/s",
        };
        fn same<T: WriteXml + Serialize>(action: Action, result: &T) {
            assert_eq!(
                success_written(action, result, "req-<1>"),
                success(action, result, "req-<1>").unwrap()
            );
        }
        for (size, source) in [(None, None), (Some(7), Some(awkward))] {
            same(
                Action::AssumeRoleWithWebIdentity,
                &AssumeRoleWithWebIdentityResult {
                    credentials: credentials(),
                    subject_from_web_identity_token: awkward,
                    assumed_role_user: user(),
                    packed_policy_size: size,
                    provider: "arn:aws:iam::111122223333:oidc-provider/x",
                    audience: awkward,
                    source_identity: source,
                },
            );
            same(
                Action::AssumeRole,
                &AssumeRoleResult {
                    credentials: credentials(),
                    assumed_role_user: user(),
                    packed_policy_size: size,
                    source_identity: source,
                },
            );
            same(
                Action::AssumeRoleWithSAML,
                &AssumeRoleWithSamlResult {
                    credentials: credentials(),
                    assumed_role_user: user(),
                    packed_policy_size: size,
                    subject: awkward,
                    subject_type: "persistent",
                    issuer: "https://idp/<x>",
                    audience: "https://signin.aws.amazon.com/saml",
                    name_qualifier: "q&",
                    source_identity: source,
                },
            );
        }
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
