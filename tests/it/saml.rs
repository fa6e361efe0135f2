//! `AssumeRoleWithSAML` end to end: responses signed for real by a test IdP (`xmlsec1`, fresh
//! keys), posted through the real `aws-sdk-sts` client to the broker, with a clock the test
//! sets. One failing case per check.

use std::sync::Arc;

use aws_sdk_sts::error::ProvideErrorMetadata as _;
use aws_sdk_sts::operation::assume_role_with_saml::AssumeRoleWithSamlOutput;
use aws_sdk_sts::types::PolicyDescriptorType;
use sts_broker::clock::ManualClock;
use time::{Duration, OffsetDateTime};

use crate::harness::broker::TestBroker;
use crate::harness::redis::RedisServer;
use crate::harness::saml::{AWS_SAML, ISSUER, NS_ATTRS, SamlResponse, Sign, TestSamlIdp, b64};

const ACCOUNT: &str = "111122223333";
const PROVIDER: &str = "arn:aws:iam::111122223333:saml-provider/corp-adfs";
const ROLE: &str = "arn:aws:iam::111122223333:role/saml-dev";
const STRICT_ROLE: &str = "arn:aws:iam::111122223333:role/saml-strict";
const READONLY: &str = "arn:aws:iam::111122223333:policy/readonly";

struct Setup {
    idp: TestSamlIdp,
    broker: TestBroker,
    clock: Arc<ManualClock>,
    now: OffsetDateTime,
}

async fn setup(store_url: &str) -> Setup {
    let idp = TestSamlIdp::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dev-trust.json"),
        format!(
            r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
  "Principal": {{"Federated": "{PROVIDER}"}},
  "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession", "sts:SetSourceIdentity"],
  "Condition": {{"StringEquals": {{"SAML:aud": "{AWS_SAML}", "saml:iss": "{ISSUER}",
     "saml:doc": "{ACCOUNT}/corp-adfs"}}}}}}]}}"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("strict-trust.json"),
        format!(
            r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
  "Principal": {{"Federated": "{PROVIDER}"}},
  "Action": "sts:AssumeRoleWithSAML",
  "Condition": {{"StringEquals": {{"saml:sub_type": "persistent"}},
                 "ForAnyValue:StringEquals": {{"saml:department": "security"}}}}}}]}}"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("readonly.json"),
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}"#,
    )
    .unwrap();
    let store_section = crate::harness::broker::store_toml(dir.path(), store_url);
    let toml = format!(
        r#"
[store]
{store_section}
[keys]
dir = "keys"
[[accounts]]
id = "{ACCOUNT}"
[[saml_providers]]
account = "{ACCOUNT}"
name = "corp-adfs"
metadata_file = "{}"
leeway_seconds = 30
[[policies]]
account = "{ACCOUNT}"
name = "readonly"
file = "readonly.json"
[[roles]]
account = "{ACCOUNT}"
name = "saml-dev"
trust_policy_file = "dev-trust.json"
max_session_duration = 14400
[[roles]]
account = "{ACCOUNT}"
name = "saml-strict"
trust_policy_file = "strict-trust.json"
"#,
        idp.metadata_path().display()
    );
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let broker = TestBroker::from_toml_with_clock(dir, &toml, clock.clone()).await;
    Setup {
        idp,
        broker,
        clock,
        now,
    }
}

impl Setup {
    fn response(&self) -> SamlResponse {
        self.idp.response(self.now, ROLE, PROVIDER)
    }

    async fn post(
        &self,
        role: &str,
        assertion: String,
    ) -> Result<AssumeRoleWithSamlOutput, (String, String)> {
        self.broker
            .sts()
            .assume_role_with_saml()
            .role_arn(role)
            .principal_arn(PROVIDER)
            .saml_assertion(assertion)
            .send()
            .await
            .map_err(|e| {
                let e = e.into_service_error();
                (
                    e.code().unwrap_or_default().to_owned(),
                    e.message().unwrap_or_default().to_owned(),
                )
            })
    }

    async fn assume(&self, r: &SamlResponse) -> Result<AssumeRoleWithSamlOutput, (String, String)> {
        self.post(ROLE, self.idp.encode(r)).await
    }

    async fn refused(&self, r: &SamlResponse, code: &str) -> String {
        self.refused_xml(&self.idp.signed_xml(r), code).await
    }

    async fn refused_xml(&self, xml: &str, code: &str) -> String {
        match self.post(ROLE, b64(xml)).await {
            Ok(_) => panic!("accepted; expected {code}"),
            Err((c, m)) => {
                assert_eq!(c, code, "{m}");
                m
            }
        }
    }
}

#[tokio::test]
#[allow(deprecated)] // PackedPolicySize is what STS still answers
async fn a_signed_assertion_gets_credentials_with_aws_fields() {
    let s = setup("memory://").await;
    let out = s.assume(&s.response()).await.unwrap();
    let creds = out.credentials().unwrap();
    assert!(creds.access_key_id().starts_with("ASIA"));
    assert_eq!(creds.expiration().secs(), s.now.unix_timestamp() + 3600);
    assert_eq!(
        out.assumed_role_user().unwrap().arn(),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/saml-dev/alice@corp.example")
    );
    assert_eq!(out.subject(), Some("CORP\\alice"));
    assert_eq!(out.subject_type(), Some("persistent"));
    assert_eq!(out.issuer(), Some(ISSUER));
    assert_eq!(out.audience(), Some(AWS_SAML));
    assert_eq!(
        out.name_qualifier(),
        Some(sts_broker::query::sts::saml::name_qualifier(ISSUER, ACCOUNT, "corp-adfs").as_str())
    );
    assert_eq!(out.packed_policy_size(), None);
    // The credentials work.
    let who = s
        .broker
        .sts_as(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token()),
        )
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.arn(), out.assumed_role_user().map(|u| u.arn()));
}

#[tokio::test]
async fn response_signed_or_both_signed_also_work_and_roles_may_be_listed_either_way() {
    let s = setup("memory://").await;
    for sign in [Sign::Response, Sign::Both] {
        let mut r = s.response();
        r.sign = sign;
        r.attributes[0].1 = vec![
            "arn:aws:iam::111122223333:role/other,arn:aws:iam::111122223333:saml-provider/corp-adfs".into(),
            format!("{PROVIDER},{ROLE}"),
        ];
        s.assume(&r).await.unwrap();
    }
}

#[tokio::test]
async fn signature_problems_are_invalid_identity_token() {
    let s = setup("memory://").await;
    let mut r = s.response();
    r.sign = Sign::None;
    assert!(
        s.refused(&r, "InvalidIdentityToken")
            .await
            .contains("not signed")
    );
    let mut r = s.response();
    r.wrong_key = true;
    s.refused(&r, "InvalidIdentityToken").await;
    let mut r = s.response();
    r.sha1 = true;
    assert!(
        s.refused(&r, "InvalidIdentityToken")
            .await
            .contains("rsa-sha1")
    );
    // Tampering after signing.
    let xml = s.idp.signed_xml(&s.response());
    s.refused_xml(
        &xml.replace("alice@corp.example", "root@corp.example"),
        "InvalidIdentityToken",
    )
    .await;
}

#[tokio::test]
async fn wrapping_and_comment_tricks_are_refused() {
    let s = setup("memory://").await;
    let xml = s.idp.signed_xml(&s.response());
    // XSW: an unsigned assertion for another role before the signed one.
    let mut evil = s.response();
    evil.assertion_id = "_evil".into();
    evil.attributes[1].1 = vec!["mallory".into()];
    let evil_xml = s.idp.xml(&evil, false, false);
    let evil_assertion = &evil_xml
        [evil_xml.find("<saml:Assertion").unwrap()..evil_xml.find("</samlp:Response>").unwrap()];
    let xsw = xml.replacen(
        "<saml:Assertion",
        &format!("{evil_assertion}<saml:Assertion"),
        1,
    );
    s.refused_xml(&xsw, "InvalidIdentityToken").await;
    // XSW: the signed assertion hidden in an Extensions wrapper, the evil one in its place.
    let signed_assertion =
        &xml[xml.find("<saml:Assertion").unwrap()..xml.find("</samlp:Response>").unwrap()];
    let wrapped = xml.replace(
        signed_assertion,
        &format!("<samlp:Extensions>{signed_assertion}</samlp:Extensions>{evil_assertion}"),
    );
    s.refused_xml(&wrapped, "InvalidIdentityToken").await;
    // A comment splitting the session name (signed over exc-c14n without comments).
    let commented = xml.replace("alice@corp.example", "alice@corp<!---->.example");
    s.refused_xml(&commented, "InvalidIdentityToken").await;
    // Two assertions, both signed.
    let mut two = s.response();
    two.sign = Sign::None;
    let a = s.idp.signed_xml(&s.response());
    let b = s.idp.signed_xml(&s.response());
    let second = &b[b.find("<saml:Assertion").unwrap()..b.find("</samlp:Response>").unwrap()];
    let doubled = a.replacen(
        "</samlp:Response>",
        &format!("{second}</samlp:Response>"),
        1,
    );
    assert!(
        s.refused_xml(&doubled, "InvalidIdentityToken")
            .await
            .contains("exactly one assertion")
    );
}

/// A change to a response.
type Change = fn(&mut SamlResponse);

#[tokio::test]
async fn issuer_audience_recipient_destination_status_and_method_are_checked() {
    let s = setup("memory://").await;
    let cases: Vec<(Change, &str)> = vec![
        (
            |r| r.issuer = "https://evil.example.com".into(),
            "Issuer not present",
        ),
        (|r| r.audience = "urn:other".into(), "required audience"),
        (
            |r| r.recipient = "https://evil.example.com/acs".into(),
            "Recipient",
        ),
        (
            |r| r.destination = Some("https://evil.example.com/acs".into()),
            "Destination",
        ),
        (
            |r| r.status = "urn:oasis:names:tc:SAML:2.0:status:Responder".into(),
            "status",
        ),
        (
            |r| r.method = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key".into(),
            "bearer",
        ),
    ];
    for (change, text) in cases {
        for sign in [Sign::Assertion, Sign::Response] {
            let mut r = s.response();
            r.sign = sign;
            change(&mut r);
            let m = s.refused(&r, "InvalidIdentityToken").await;
            assert!(m.contains(text), "{m}");
        }
    }
    // No Destination at all is fine (it is optional).
    let mut r = s.response();
    r.destination = None;
    s.assume(&r).await.unwrap();
}

#[tokio::test]
async fn time_windows_with_leeway_boundaries() {
    let s = setup("memory://").await;
    // Leeway is 30 s: NotOnOrAfter 29 s ago is still fine, 30 s ago is expired.
    let mut r = s.response();
    r.not_on_or_after = s.now - Duration::seconds(29);
    s.assume(&r).await.unwrap();
    let mut r = s.response();
    r.not_on_or_after = s.now - Duration::seconds(30);
    assert!(
        s.refused(&r, "ExpiredTokenException")
            .await
            .contains("Token expired")
    );
    // NotBefore 30 s ahead is fine, 31 s ahead is not valid yet.
    let mut r = s.response();
    r.not_before = s.now + Duration::seconds(30);
    s.assume(&r).await.unwrap();
    let mut r = s.response();
    r.not_before = s.now + Duration::seconds(31);
    assert!(
        s.refused(&r, "InvalidIdentityToken")
            .await
            .contains("not valid yet")
    );
    // The broker's clock moves past a signed response's end.
    let encoded = s.idp.encode(&s.response());
    s.clock.advance(Duration::minutes(6));
    let (code, _) = s.post(ROLE, encoded).await.unwrap_err();
    assert_eq!(code, "ExpiredTokenException");
}

#[tokio::test]
async fn attributes_role_session_name_duration_and_trust() {
    let s = setup("memory://").await;
    // The requested pair is not granted.
    let mut r = s.response();
    r.attributes[0].1 = vec![format!("{STRICT_ROLE},{PROVIDER}")];
    assert_eq!(s.assume(&r).await.unwrap_err().0, "AccessDenied");
    // No RoleSessionName.
    let mut r = s.response();
    r.attributes.remove(1);
    assert!(
        s.refused(&r, "InvalidIdentityToken")
            .await
            .contains("RoleSessionName is required")
    );
    let mut r = s.response();
    r.attributes[1].1 = vec!["a b".into()];
    s.refused(&r, "InvalidIdentityToken").await;
    // SessionDuration caps DurationSeconds.
    let mut r = s.response();
    r.attributes
        .push((format!("{NS_ATTRS}SessionDuration"), vec!["1800".into()]));
    let out = s
        .broker
        .sts()
        .assume_role_with_saml()
        .role_arn(ROLE)
        .principal_arn(PROVIDER)
        .saml_assertion(s.idp.encode(&r))
        .duration_seconds(7200)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.credentials().unwrap().expiration().secs(),
        s.now.unix_timestamp() + 1800
    );
    let mut r = s.response();
    r.attributes
        .push((format!("{NS_ATTRS}SessionDuration"), vec!["60".into()]));
    assert_eq!(s.assume(&r).await.unwrap_err().0, "IDPRejectedClaim");
    // Trust: the strict role needs saml:department to contain "security".
    let mut r = s.response();
    r.attributes[0].1 = vec![format!("{STRICT_ROLE},{PROVIDER}")];
    let (code, _) = s.post(STRICT_ROLE, s.idp.encode(&r)).await.unwrap_err();
    assert_eq!(code, "AccessDenied");
    r.assertion_id = "_again".into();
    r.attributes[2].1.push("security".into());
    s.post(STRICT_ROLE, s.idp.encode(&r)).await.unwrap();
}

#[tokio::test]
#[allow(deprecated)] // PackedPolicySize is what STS still answers
async fn tags_transitive_keys_source_identity_and_session_policies() {
    let s = setup("memory://").await;
    let mut r = s.response();
    r.attributes.push((
        format!("{NS_ATTRS}PrincipalTag:team"),
        vec!["payments".into()],
    ));
    r.attributes.push((
        format!("{NS_ATTRS}PrincipalTag:cost-center"),
        vec!["42".into()],
    ));
    r.attributes
        .push((format!("{NS_ATTRS}TransitiveTagKeys"), vec!["team".into()]));
    r.attributes
        .push((format!("{NS_ATTRS}SourceIdentity"), vec!["alice".into()]));
    let out = s
        .broker
        .sts()
        .assume_role_with_saml()
        .role_arn(ROLE)
        .principal_arn(PROVIDER)
        .saml_assertion(s.idp.encode(&r))
        .policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#)
        .policy_arns(PolicyDescriptorType::builder().arn(READONLY).build())
        .send()
        .await
        .unwrap();
    assert_eq!(out.source_identity(), Some("alice"));
    assert!(out.packed_policy_size().unwrap() > 0);
    let key = out.credentials().unwrap().access_key_id();
    let record = s
        .broker
        .state
        .store
        .get_session(key, &s.broker.state.keys.snapshot())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.tags.get("team").map(String::as_str),
        Some("payments")
    );
    assert_eq!(record.transitive_tag_keys, vec!["team".to_owned()]);
    assert_eq!(record.provider.as_deref(), Some(PROVIDER));
    assert_eq!(record.subject.as_deref(), Some("CORP\\alice"));
    assert_eq!(
        record.context["saml:sub_type"],
        vec!["persistent".to_owned()]
    );

    // A transitive key that is not a tag, a bad source identity, a bad policy, an unknown ARN.
    let mut r = s.response();
    r.attributes
        .push((format!("{NS_ATTRS}TransitiveTagKeys"), vec!["nope".into()]));
    assert_eq!(s.assume(&r).await.unwrap_err().0, "IDPRejectedClaim");
    let mut r = s.response();
    r.attributes
        .push((format!("{NS_ATTRS}SourceIdentity"), vec!["a".into()]));
    assert_eq!(s.assume(&r).await.unwrap_err().0, "IDPRejectedClaim");
    let err = s
        .broker
        .sts()
        .assume_role_with_saml()
        .role_arn(ROLE)
        .principal_arn(PROVIDER)
        .saml_assertion(s.idp.encode(&s.response()))
        .policy("{not json")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("MalformedPolicyDocument"));
    let mut tagged = s.response();
    tagged.attributes.push((
        format!("{NS_ATTRS}PrincipalTag:note"),
        vec!["n".repeat(200)],
    ));
    let err = s
        .broker
        .sts()
        .assume_role_with_saml()
        .role_arn(ROLE)
        .principal_arn(PROVIDER)
        .saml_assertion(s.idp.encode(&tagged))
        .policy(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}"}}]}}"#,
            "b".repeat(1900)
        ))
        .policy_arns(PolicyDescriptorType::builder().arn(READONLY).build())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("PackedPolicyTooLarge"));
}

#[tokio::test]
async fn a_used_assertion_cannot_be_replayed_on_redis() {
    let redis = RedisServer::start().await;
    let s = setup(&redis.url()).await;
    let encoded = s.idp.encode(&s.response());
    s.post(ROLE, encoded.clone()).await.unwrap();
    let (code, message) = s.post(ROLE, encoded).await.unwrap_err();
    assert_eq!(code, "InvalidIdentityToken");
    assert!(message.contains("already been used"));
    // A refused request does not use the id up.
    let mut r = s.response();
    r.attributes[0].1 = vec![format!("{STRICT_ROLE},{PROVIDER}")];
    let encoded = s.idp.encode(&r);
    assert_eq!(
        s.post(ROLE, encoded.clone()).await.unwrap_err().0,
        "AccessDenied"
    );
    let mut ok = r.clone();
    ok.attributes[0].1 = vec![format!("{ROLE},{PROVIDER}")];
    s.assume(&ok).await.unwrap();
}

#[tokio::test]
async fn parameters_and_unknown_providers() {
    let s = setup("memory://").await;
    let err = s
        .broker
        .sts()
        .assume_role_with_saml()
        .role_arn(ROLE)
        .principal_arn("arn:aws:iam::111122223333:saml-provider/unknown")
        .saml_assertion(s.idp.encode(&s.response()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("InvalidIdentityToken"));
    let err = s
        .broker
        .sts()
        .assume_role_with_saml()
        .role_arn("arn:short")
        .principal_arn(PROVIDER)
        .saml_assertion("abc")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationError"));
    assert!(err.message().unwrap().starts_with("2 validation errors"));
}

/// Raw posts of hostile inputs: clean AWS errors, no panic, nothing stored in Redis, the server
/// alive.
#[tokio::test]
async fn hostile_inputs_get_clean_errors_and_store_nothing() {
    let redis = RedisServer::start().await;
    let s = setup(&redis.url()).await;
    let good = s.idp.encode(&s.response());
    let nested = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
    let mut other_role = s.response();
    other_role.attributes[0].1 = vec![format!("{STRICT_ROLE},{PROVIDER}")];
    let mut expired = s.response();
    expired.not_before = s.now - Duration::minutes(20);
    expired.not_on_or_after = s.now - Duration::minutes(10);
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&lol2;</samlp:Response>"#;
    let cases: Vec<(String, u16, &str)> = vec![
        (
            good[..good.len() / 2].to_owned(),
            400,
            "InvalidIdentityToken",
        ),
        ("A".repeat(100_001), 400, "ValidationError"),
        (b64(&"<a>".repeat(100_000)), 413, "RequestEntityTooLarge"),
        ("!!!not base64!!!".to_owned(), 400, "InvalidIdentityToken"),
        (b64("hello, not XML"), 400, "InvalidIdentityToken"),
        (b64(&nested), 400, "InvalidIdentityToken"),
        (b64(laughs), 400, "InvalidIdentityToken"),
        (b64("<?xml version=\"1.0\"?>"), 400, "InvalidIdentityToken"),
        (b64("\u{0}\u{1}binary"), 400, "InvalidIdentityToken"),
        // Refused late: after the signature, at the role, at the time window.
        (
            b64(&s
                .idp
                .signed_xml(&s.response())
                .replace("alice@corp.example", "root@corp.example")),
            400,
            "InvalidIdentityToken",
        ),
        (s.idp.encode(&other_role), 403, "AccessDenied"),
        (s.idp.encode(&expired), 400, "ExpiredTokenException"),
    ];
    for (assertion, status, code) in cases {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "AssumeRoleWithSAML")
            .append_pair("Version", "2011-06-15")
            .append_pair("RoleArn", ROLE)
            .append_pair("PrincipalArn", PROVIDER)
            .append_pair("SAMLAssertion", &assertion)
            .finish();
        let resp = s
            .broker
            .http()
            .post(&s.broker.endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status);
        let text = resp.text().await.unwrap();
        assert!(text.contains(&format!("<Code>{code}</Code>")), "{text}");
    }
    assert!(
        redis.keys().await.is_empty(),
        "a refused request stored something"
    );
    // Still serving, and the good response was never used up: its session and its id are the
    // only keys.
    s.post(ROLE, good).await.unwrap();
    assert_eq!(redis.keys().await.len(), 2, "{:?}", redis.keys().await);
}

/// ID tricks: an `xml:id` (which libxml2 registers as an ID by itself) or a second `ID`
/// attribute carrying the signed assertion's id elsewhere, so a `#id` reference could resolve
/// to a decoy.
#[tokio::test]
async fn duplicate_and_xml_id_decoys_are_refused() {
    let s = setup("memory://").await;
    let r = s.response();
    let xml = s.idp.signed_xml(&r);
    let id = &r.assertion_id;
    let decoys = [
        // xml:id on the Response's unsigned Issuer.
        xml.replacen("<saml:Issuer>", &format!(r#"<saml:Issuer xml:id="{id}">"#), 1),
        // xml:id on an element in an unsigned Extensions block, before the assertion.
        xml.replacen(
            "<samlp:Status>",
            &format!(r#"<samlp:Extensions><x:Decoy xmlns:x="urn:x" xml:id="{id}"/></samlp:Extensions><samlp:Status>"#),
            1,
        ),
        // A plain duplicate ID.
        xml.replacen(
            "<samlp:Status>",
            &format!(r#"<samlp:Extensions><x:Decoy xmlns:x="urn:x" ID="{id}"/></samlp:Extensions><samlp:Status>"#),
            1,
        ),
        // A namespaced ID attribute on the assertion, before its own.
        xml.replacen(
            "<saml:Assertion ",
            r#"<saml:Assertion xmlns:x="urn:x" x:ID="_other" "#,
            1,
        ),
    ];
    for decoy in decoys {
        s.refused_xml(&decoy, "InvalidIdentityToken").await;
    }
    // Still fine untouched.
    s.post(ROLE, b64(&xml)).await.unwrap();
}

/// Prefixes are only names: `saml2:` or a default namespace work, `saml:` bound to another
/// namespace does not.
#[tokio::test]
async fn namespace_prefixes_do_not_matter_but_namespaces_do() {
    let s = setup("memory://").await;
    let saml2 = |x: &str| {
        x.replace("saml:", "saml2:")
            .replace("xmlns:saml=", "xmlns:saml2=")
    };
    let default_ns = |x: &str| {
        x.replace(
            "<saml:Assertion ",
            r#"<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" "#,
        )
        .replace("</saml:Assertion>", "</Assertion>")
        .replace("<saml:", "<")
        .replace("</saml:", "</")
        .replacen("<Issuer>", "<saml:Issuer>", 1)
        .replacen("</Issuer>", "</saml:Issuer>", 1)
    };
    for change in [saml2 as fn(&str) -> String, default_ns] {
        let r = s.response();
        let xml = s
            .idp
            .xmlsec_sign(&change(&s.idp.xml(&r, false, true)), false);
        let out = s.post(ROLE, b64(&xml)).await.unwrap();
        assert_eq!(out.subject(), Some("CORP\\alice"));
    }
    let r = s.response();
    let other = s.idp.xml(&r, false, true).replace(
        r#"xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion""#,
        r#"xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion""#,
    );
    s.refused_xml(&s.idp.xmlsec_sign(&other, false), "InvalidIdentityToken")
        .await;
}

/// Comments and processing instructions inside a response are refused before any signature
/// work: an honest IdP writes none, and with identical signed siblings a comment that splits
/// one value made matching the signed content back to the document exponential.
#[tokio::test]
async fn comments_are_refused_before_signature_work() {
    let s = setup("memory://").await;
    let mut r = s.response();
    r.attributes[2].1 = vec!["eng".to_owned(); 24];
    let xml = s.idp.signed_xml(&r);
    let last = xml.rfind("<saml:AttributeValue>eng<").unwrap() + "<saml:AttributeValue>e".len();
    let split = format!("{}<!---->{}", &xml[..last], &xml[last..]);
    let started = std::time::Instant::now();
    let message = s.refused_xml(&split, "InvalidIdentityToken").await;
    assert!(message.contains("comment"), "{message}");
    // Exponential matching over 24 identical siblings would take hours; the bound only tells
    // that from a slow machine, it is no latency budget.
    assert!(started.elapsed() < std::time::Duration::from_secs(120));
    for other in [
        xml.replacen("<saml:Subject>", "<!-- hello --><saml:Subject>", 1),
        xml.replacen("<saml:Subject>", "<?pi x?><saml:Subject>", 1),
    ] {
        s.refused_xml(&other, "InvalidIdentityToken").await;
    }
    s.post(ROLE, b64(&xml)).await.unwrap();
}

/// Subject revocation covers SAML (NameID at the provider): an unused assertion issued
/// (`IssueInstant`) at or before the revocation is refused, like the sessions it minted; other
/// subjects and assertions issued later work. An assertion valid more than 7 days after its
/// `IssueInstant` is refused, so the revocation outlives every assertion issued before it.
#[tokio::test]
async fn subject_revocation_refuses_assertions_issued_before_it() {
    use sts_broker::clock::Clock as _;
    use sts_broker::revocation::{Revocation, RevokeOutcome};
    let redis = RedisServer::start().await;
    let s = setup(&redis.url()).await;
    let unused = s.response();
    let session = s.assume(&s.response()).await.unwrap();
    let session = session.credentials().unwrap();
    let mut bob = s.response();
    bob.name_id = "CORP\\bob".to_owned();

    s.clock.advance(Duration::seconds(10));
    let outcome = s
        .broker
        .state
        .revocations
        .revoke(
            Revocation::Subject {
                provider: PROVIDER.to_owned(),
                subject: "CORP\\alice".to_owned(),
            },
            s.clock.now(),
        )
        .await
        .unwrap();
    let RevokeOutcome::Revoked(entries) = outcome else {
        panic!("{outcome:?}")
    };
    // Lives as long as an assertion issued before it may be presented: 7 days and leeway.
    assert_eq!(
        entries[0].expires_at - entries[0].revoked_at,
        7 * 24 * 3600 + 30
    );

    let (code, message) = s.assume(&unused).await.unwrap_err();
    assert_eq!(code, "AccessDenied", "{message}");
    assert!(message.contains("revoked"), "{message}");
    let e = s
        .broker
        .sts_as(
            session.access_key_id(),
            session.secret_access_key(),
            Some(session.session_token()),
        )
        .get_caller_identity()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e.code(), Some("InvalidClientTokenId"));
    s.assume(&bob).await.unwrap();
    let mut later = s
        .idp
        .response(s.now + Duration::seconds(11), ROLE, PROVIDER);
    later.not_before = s.now;
    s.assume(&later).await.unwrap();

    // Issued 8 days ago, still inside its own window: refused.
    let mut ancient = s.idp.response(s.clock.now(), ROLE, PROVIDER);
    ancient.name_id = "CORP\\carol".to_owned();
    ancient.issue_instant = s.clock.now() - Duration::days(8);
    let message = s.refused(&ancient, "InvalidIdentityToken").await;
    assert!(message.contains("7 days"), "{message}");
}

#[tokio::test]
async fn verification_is_bounded_and_a_full_pool_answers_service_unavailable_at_once() {
    let s = setup("memory://").await;
    let slots = &s.broker.state.saml_slots;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(slots.available(), cores);
    // Every slot taken, as by verifications still running (or abandoned by timed-out requests).
    let held: Vec<_> = (0..cores).map(|_| slots.try_take().unwrap()).collect();
    assert!(slots.try_take().is_none());
    let assertion = s.idp.encode(&s.response());
    let response = s
        .broker
        .http()
        .post(&s.broker.endpoint)
        .form(&[
            ("Action", "AssumeRoleWithSAML"),
            ("Version", "2011-06-15"),
            ("RoleArn", ROLE),
            ("PrincipalArn", PROVIDER),
            ("SAMLAssertion", assertion.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let id = response.headers()["x-amzn-requestid"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = response.text().await.unwrap();
    assert!(body.contains("<Code>ServiceUnavailable</Code>"), "{body}");
    assert!(body.contains("<Type>Receiver</Type>"), "{body}");
    assert!(
        body.contains(&format!("<RequestId>{id}</RequestId>")),
        "{body}"
    );
    // Nothing was used up: with a slot free, the same response is accepted.
    drop(held);
    assert_eq!(slots.available(), cores);
    let out = s.post(ROLE, assertion).await.unwrap();
    assert!(out.credentials().is_some());
    assert_eq!(slots.available(), cores);
}
