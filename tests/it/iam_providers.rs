//! IAM's identity provider actions through the real `aws-sdk-iam` client: an OpenID Connect
//! provider created on one replica lets `AssumeRoleWithWebIdentity` in on another within a
//! second (its keys fetched from the loopback IdP), and its deletion shuts it out everywhere;
//! the same for a SAML provider with really signed responses; the calls Terraform's provider
//! makes for `aws_iam_openid_connect_provider`; every bad input with nothing stored.

use aws_sdk_iam::types::Tag;
use aws_sdk_sts::error::ProvideErrorMetadata as _;
use sts_broker::revocation::Revocation;
use time::OffsetDateTime;

use crate::harness::broker::{ACCOUNT, BOB_KEY_ID, BOB_SECRET, PROVIDER_ARN, TestBroker};
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;
use crate::harness::saml::{AWS_SAML, TestSamlIdp};
use crate::harness::signer::Signer;
use crate::iam_policies::{raw, stored};
use crate::iam_roles::{
    ADMIN_KEY_ID, ADMIN_SECRET, FOREIGN_KEY_ID, FOREIGN_SECRET, PROPAGATION, assume,
    caller_identity, ci_trust, config, refused, within,
};

const GITHUB: &str = "https://token.actions.githubusercontent.com";
const GITHUB_ARN: &str =
    "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com";
const SAML_ARN: &str = "arn:aws:iam::111122223333:saml-provider/partner";
const THUMB: &str = "6938fd4d98bab03faadb97b34396831e3780aea1";

/// The administrators' configuration without the file's OIDC provider (the test IdP's issuer
/// is created through the API instead), with `http://` allowed for API providers.
fn providers_config(dir: &std::path::Path, idp: &TestIdp, store: &str) -> String {
    let toml = config(dir, idp, store);
    let start = toml.find("[[oidc_providers]]").unwrap();
    let end = start + toml[start..].find("\n\n").unwrap();
    let toml = format!("{}{}", &toml[..start], &toml[end..]);
    toml.replacen(
        "[server]\n",
        "[server]\nallow_http_api_providers = true\n",
        1,
    )
}

async fn replica(idp: &TestIdp, store: &str, keys: &std::path::Path) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let toml = providers_config(dir.path(), idp, store).replace(
        "dir = \"keys\"",
        &format!("dir = {:?}", keys.to_str().unwrap()),
    );
    TestBroker::from_toml(dir, &toml).await
}

async fn unchanged(broker: &TestBroker) -> (u64, serde_json::Value) {
    (
        broker.state.store.iam_version().await.unwrap(),
        stored(broker).await,
    )
}

#[tokio::test]
async fn an_oidc_provider_made_on_one_replica_admits_tokens_on_another_until_deleted() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let a = replica(&idp, &redis.url(), keys.path()).await;
    let b = replica(&idp, &redis.url(), keys.path()).await;
    let iam_a = a.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let file_role = format!("arn:aws:iam::{ACCOUNT}:role/ci/deploy");
    // No provider for the issuer yet: its tokens are refused.
    assert_eq!(
        assume(&b, &idp, &file_role).await.unwrap_err(),
        "InvalidIdentityToken"
    );

    let created = iam_a
        .create_open_id_connect_provider()
        .url(&idp.issuer)
        .client_id_list("sts.amazonaws.com")
        .send()
        .await
        .unwrap();
    assert_eq!(created.open_id_connect_provider_arn(), Some(PROVIDER_ARN));
    // A role made through the API trusting it, and the file's role naming it: both admit the
    // IdP's tokens, on the replica that made it at once and on the other within a second.
    iam_a
        .create_role()
        .role_name("api-ci")
        .assume_role_policy_document(ci_trust(&a))
        .send()
        .await
        .unwrap();
    let api_role = format!("arn:aws:iam::{ACCOUNT}:role/api-ci");
    assume(&a, &idp, &file_role).await.unwrap();
    let took = within(PROPAGATION, || async {
        assume(&b, &idp, &file_role).await.is_ok()
    })
    .await;
    eprintln!("provider created on A, token admitted on B after {took:?}");
    within(PROPAGATION, || async {
        assume(&b, &idp, &api_role).await.is_ok()
    })
    .await;
    // Keys were fetched as for a file provider, and kept across the swaps that followed.
    let fetched = idp.jwks_hits();
    assert!(fetched >= 1);
    iam_a
        .tag_open_id_connect_provider()
        .open_id_connect_provider_arn(PROVIDER_ARN)
        .tags(Tag::builder().key("team").value("ci").build().unwrap())
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async {
        b.live.current().iam_layer.version == a.live.current().iam_layer.version
    })
    .await;
    assume(&b, &idp, &file_role).await.unwrap();
    assert_eq!(idp.jwks_hits(), fetched, "key caches are kept across swaps");

    iam_a
        .delete_open_id_connect_provider()
        .open_id_connect_provider_arn(PROVIDER_ARN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        assume(&a, &idp, &file_role).await.unwrap_err(),
        "InvalidIdentityToken"
    );
    let took = within(PROPAGATION, || async {
        assume(&b, &idp, &api_role).await.err().as_deref() == Some("InvalidIdentityToken")
    })
    .await;
    eprintln!("provider deleted on A, token refused on B after {took:?}");
}

/// `AssumeRoleWithSAML` into `role` through the API's `partner` provider: the error code.
async fn assume_saml(broker: &TestBroker, saml: &TestSamlIdp, role: &str) -> Result<(), String> {
    let response = saml.response(OffsetDateTime::now_utc(), role, SAML_ARN);
    broker
        .sts()
        .assume_role_with_saml()
        .role_arn(role)
        .principal_arn(SAML_ARN)
        .saml_assertion(saml.encode(&response))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.into_service_error().code().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn a_saml_provider_made_on_one_replica_admits_signed_responses_on_another_until_deleted() {
    let idp = TestIdp::start().await;
    let saml = TestSamlIdp::new();
    let redis = RedisServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let a = replica(&idp, &redis.url(), keys.path()).await;
    let b = replica(&idp, &redis.url(), keys.path()).await;
    let iam_a = a.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{SAML_ARN}"}},"Action":"sts:AssumeRoleWithSAML","Condition":{{"StringEquals":{{"SAML:aud":"{AWS_SAML}"}}}}}}]}}"#
    );
    iam_a
        .create_role()
        .role_name("partner-sso")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();
    let role = format!("arn:aws:iam::{ACCOUNT}:role/partner-sso");
    within(PROPAGATION, || async {
        assume_saml(&b, &saml, &role).await.err().as_deref() == Some("InvalidIdentityToken")
    })
    .await;

    let created = iam_a
        .create_saml_provider()
        .name("partner")
        .saml_metadata_document(saml.metadata())
        .tags(Tag::builder().key("team").value("sso").build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(created.saml_provider_arn(), Some(SAML_ARN));
    assert_eq!(created.tags().len(), 1);
    assume_saml(&a, &saml, &role).await.unwrap();
    let took = within(PROPAGATION, || async {
        assume_saml(&b, &saml, &role).await.is_ok()
    })
    .await;
    eprintln!("SAML provider created on A, response admitted on B after {took:?}");

    let got = iam_a
        .get_saml_provider()
        .saml_provider_arn(SAML_ARN)
        .send()
        .await
        .unwrap();
    assert_eq!(got.saml_metadata_document(), Some(saml.metadata().as_str()));
    assert!(got.create_date().is_some());
    assert_eq!(got.tags().len(), 1);
    let listed = iam_a.list_saml_providers().send().await.unwrap();
    let arns: Vec<_> = listed
        .saml_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .collect();
    assert_eq!(arns, [SAML_ARN]);

    // Metadata whose certificate is another key's: responses signed by the IdP are refused.
    let rogue = saml
        .metadata()
        .replace(&saml.certificate("idp"), &saml.certificate("rogue"));
    iam_a
        .update_saml_provider()
        .saml_provider_arn(SAML_ARN)
        .saml_metadata_document(rogue)
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async {
        assume_saml(&b, &saml, &role).await.is_err()
    })
    .await;
    iam_a
        .update_saml_provider()
        .saml_provider_arn(SAML_ARN)
        .saml_metadata_document(saml.metadata())
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async {
        assume_saml(&b, &saml, &role).await.is_ok()
    })
    .await;

    iam_a
        .delete_saml_provider()
        .saml_provider_arn(SAML_ARN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        assume_saml(&a, &saml, &role).await.unwrap_err(),
        "InvalidIdentityToken"
    );
    let took = within(PROPAGATION, || async {
        assume_saml(&b, &saml, &role).await.err().as_deref() == Some("InvalidIdentityToken")
    })
    .await;
    eprintln!("SAML provider deleted on A, response refused on B after {took:?}");
}

#[tokio::test]
async fn terraforms_calls_for_an_openid_connect_provider() {
    let idp = TestIdp::start().await;
    let broker = crate::iam_roles::broker(&idp, "memory://", None).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    // IAM's rule by default: `https://` only.
    let plain = refused(
        iam.create_open_id_connect_provider()
            .url("http://idp.example.com")
            .client_id_list("a")
            .send()
            .await,
    );
    assert_eq!((plain.0.as_str(), plain.1), ("InvalidInput", 400));
    assert!(plain.2.contains("must start with https://"), "{}", plain.2);
    // Create.
    let created = iam
        .create_open_id_connect_provider()
        .url(GITHUB)
        .client_id_list("sts.amazonaws.com")
        .thumbprint_list(THUMB)
        .tags(Tag::builder().key("Name").value("github").build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(created.open_id_connect_provider_arn(), Some(GITHUB_ARN));
    assert_eq!(created.tags().len(), 1);
    // Read back.
    let get = || async {
        iam.get_open_id_connect_provider()
            .open_id_connect_provider_arn(GITHUB_ARN)
            .send()
            .await
            .unwrap()
    };
    let got = get().await;
    assert_eq!(got.url(), Some("token.actions.githubusercontent.com"));
    assert_eq!(got.client_id_list(), ["sts.amazonaws.com"]);
    assert_eq!(got.thumbprint_list(), [THUMB.to_ascii_uppercase()]);
    assert!(got.create_date().is_some());
    assert_eq!(got.tags()[0].key(), "Name");
    assert_eq!(got.tags()[0].value(), "github");
    // Update: thumbprints, client ids, tags.
    let other = "1".repeat(40);
    iam.update_open_id_connect_provider_thumbprint()
        .open_id_connect_provider_arn(GITHUB_ARN)
        .thumbprint_list(THUMB)
        .thumbprint_list(&other)
        .send()
        .await
        .unwrap();
    iam.add_client_id_to_open_id_connect_provider()
        .open_id_connect_provider_arn(GITHUB_ARN)
        .client_id("second")
        .send()
        .await
        .unwrap();
    iam.remove_client_id_from_open_id_connect_provider()
        .open_id_connect_provider_arn(GITHUB_ARN)
        .client_id("sts.amazonaws.com")
        .send()
        .await
        .unwrap();
    iam.tag_open_id_connect_provider()
        .open_id_connect_provider_arn(GITHUB_ARN)
        .tags(Tag::builder().key("env").value("prod").build().unwrap())
        .send()
        .await
        .unwrap();
    iam.untag_open_id_connect_provider()
        .open_id_connect_provider_arn(GITHUB_ARN)
        .tag_keys("Name")
        .send()
        .await
        .unwrap();
    let got = get().await;
    assert_eq!(got.client_id_list(), ["second"]);
    assert_eq!(got.thumbprint_list(), [THUMB.to_ascii_uppercase(), other]);
    let tags: Vec<_> = got.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("env", "prod")]);
    let listed = iam
        .list_open_id_connect_provider_tags()
        .open_id_connect_provider_arn(GITHUB_ARN)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.tags().len(), 1);
    assert!(!listed.is_truncated());
    // The file's provider is listed with it.
    let listed = iam.list_open_id_connect_providers().send().await.unwrap();
    let arns: Vec<_> = listed
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .collect();
    assert_eq!(arns, [PROVIDER_ARN, GITHUB_ARN]);
    let file = iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(PROVIDER_ARN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        file.client_id_list(),
        ["sts.amazonaws.com", "second-client"]
    );
    // Destroy.
    iam.delete_open_id_connect_provider()
        .open_id_connect_provider_arn(GITHUB_ARN)
        .send()
        .await
        .unwrap();
    let gone = refused(
        iam.get_open_id_connect_provider()
            .open_id_connect_provider_arn(GITHUB_ARN)
            .send()
            .await,
    );
    assert_eq!((gone.0.as_str(), gone.1), ("NoSuchEntity", 404));
    assert!(
        gone.2
            .starts_with("OpenIDConnect Provider not found for arn arn:aws:iam::111122223333:oidc-provider/token."),
        "{}",
        gone.2
    );
}

#[tokio::test]
async fn every_bad_provider_input_gets_iams_error_and_stores_nothing() {
    let idp = TestIdp::start().await;
    let saml = TestSamlIdp::new();
    // `http://` allowed, so that the file's loopback issuer is refused for what it is.
    let dir = tempfile::tempdir().unwrap();
    let toml = config(dir.path(), &idp, "memory://").replacen(
        "[server]\n",
        "[server]\nallow_http_api_providers = true\n",
        1,
    );
    let broker = TestBroker::from_toml(dir, &toml).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    iam.create_open_id_connect_provider()
        .url(GITHUB)
        .client_id_list("sts.amazonaws.com")
        .send()
        .await
        .unwrap();
    iam.create_saml_provider()
        .name("partner")
        .saml_metadata_document(saml.metadata())
        .send()
        .await
        .unwrap();
    let before = unchanged(&broker).await;
    let admin = Signer::new(ADMIN_KEY_ID, ADMIN_SECRET, None);
    let v = "Version=2010-05-08";
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let github = enc(GITHUB_ARN);
    let file_oidc = enc(PROVIDER_ARN);
    let partner = enc(SAML_ARN);
    let foreign_oidc =
        enc("arn:aws:iam::444455556666:oidc-provider/token.actions.githubusercontent.com");
    let metadata = enc(&saml.metadata());
    let cases: Vec<(String, &str, u16, &str)> = vec![
        // CreateOpenIDConnectProvider.
        (
            format!("Action=CreateOpenIDConnectProvider&{v}"),
            "ValidationError",
            400,
            "'url'",
        ),
        (
            format!(
                "Action=CreateOpenIDConnectProvider&{v}&Url=https%3A%2F%2Fidp.example.com%3Fq%3D1"
            ),
            "InvalidInput",
            400,
            "query",
        ),
        (
            format!(
                "Action=CreateOpenIDConnectProvider&{v}&Url=https%3A%2F%2F{}.example.com",
                "a".repeat(250)
            ),
            "ValidationError",
            400,
            "length less than or equal to 255",
        ),
        (
            format!(
                "Action=CreateOpenIDConnectProvider&{v}&Url=https%3A%2F%2Fidp.example.com&ThumbprintList.member.1=abc"
            ),
            "ValidationError",
            400,
            "thumbprintList",
        ),
        (
            format!(
                "Action=CreateOpenIDConnectProvider&{v}&Url=https%3A%2F%2Fidp.example.com&ThumbprintList.member.1={}",
                "z".repeat(40)
            ),
            "InvalidInput",
            400,
            "40 hexadecimal",
        ),
        (
            format!(
                "Action=CreateOpenIDConnectProvider&{v}&Url=https%3A%2F%2Fidp.example.com{}",
                (1..=6)
                    .map(|i| format!("&ThumbprintList.member.{i}={THUMB}"))
                    .collect::<String>()
            ),
            "ValidationError",
            400,
            "less than or equal to 5",
        ),
        (
            format!(
                "Action=CreateOpenIDConnectProvider&{v}&Url=https%3A%2F%2Fidp.example.com{}",
                (1..=101)
                    .map(|i| format!("&ClientIDList.member.{i}=c{i}"))
                    .collect::<String>()
            ),
            "ValidationError",
            400,
            "less than or equal to 100",
        ),
        (
            format!(
                "Action=CreateOpenIDConnectProvider&{v}&Url=https%3A%2F%2Fidp.example.com&ClientIDList.member.1={}",
                "c".repeat(256)
            ),
            "ValidationError",
            400,
            "clientID",
        ),
        (
            format!(
                "Action=CreateOpenIDConnectProvider&{v}&Url={}&ClientIDList.member.1=a",
                enc(GITHUB)
            ),
            "EntityAlreadyExists",
            409,
            "already exists",
        ),
        (
            format!(
                "Action=CreateOpenIDConnectProvider&{v}&Url={}&ClientIDList.member.1=a",
                enc(&idp.issuer)
            ),
            "EntityAlreadyExists",
            409,
            "broker.toml",
        ),
        // The other OIDC actions.
        (
            format!("Action=GetOpenIDConnectProvider&{v}"),
            "ValidationError",
            400,
            "openIDConnectProviderArn",
        ),
        (
            format!(
                "Action=GetOpenIDConnectProvider&{v}&OpenIDConnectProviderArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fx"
            ),
            "InvalidInput",
            400,
            "is not valid",
        ),
        (
            format!("Action=GetOpenIDConnectProvider&{v}&OpenIDConnectProviderArn={foreign_oidc}"),
            "AccessDenied",
            403,
            "is not authorized",
        ),
        (
            format!(
                "Action=GetOpenIDConnectProvider&{v}&OpenIDConnectProviderArn={}",
                enc("arn:aws:iam::111122223333:oidc-provider/none.example.com")
            ),
            "NoSuchEntity",
            404,
            "not found",
        ),
        (
            format!(
                "Action=AddClientIDToOpenIDConnectProvider&{v}&OpenIDConnectProviderArn={github}"
            ),
            "ValidationError",
            400,
            "clientID",
        ),
        (
            format!(
                "Action=AddClientIDToOpenIDConnectProvider&{v}&OpenIDConnectProviderArn={file_oidc}&ClientID=x"
            ),
            "UnmodifiableEntity",
            400,
            "broker.toml",
        ),
        (
            format!(
                "Action=AddClientIDToOpenIDConnectProvider&{v}&OpenIDConnectProviderArn={foreign_oidc}&ClientID=x"
            ),
            "AccessDenied",
            403,
            "is not authorized",
        ),
        (
            format!(
                "Action=RemoveClientIDFromOpenIDConnectProvider&{v}&OpenIDConnectProviderArn={file_oidc}&ClientID=second-client"
            ),
            "UnmodifiableEntity",
            400,
            "broker.toml",
        ),
        (
            format!(
                "Action=UpdateOpenIDConnectProviderThumbprint&{v}&OpenIDConnectProviderArn={github}"
            ),
            "ValidationError",
            400,
            "thumbprintList",
        ),
        (
            format!(
                "Action=UpdateOpenIDConnectProviderThumbprint&{v}&OpenIDConnectProviderArn={github}&ThumbprintList.member.1=12"
            ),
            "ValidationError",
            400,
            "thumbprintList",
        ),
        (
            format!("Action=DeleteOpenIDConnectProvider&{v}&OpenIDConnectProviderArn={file_oidc}"),
            "UnmodifiableEntity",
            400,
            "broker.toml",
        ),
        (
            format!(
                "Action=DeleteOpenIDConnectProvider&{v}&OpenIDConnectProviderArn={}",
                enc("arn:aws:iam::111122223333:oidc-provider/none.example.com")
            ),
            "NoSuchEntity",
            404,
            "not found",
        ),
        (
            format!("Action=TagOpenIDConnectProvider&{v}&OpenIDConnectProviderArn={github}"),
            "ValidationError",
            400,
            "tags",
        ),
        (
            format!(
                "Action=TagOpenIDConnectProvider&{v}&OpenIDConnectProviderArn={github}&Tags.member.1.Key=aws%3Ax&Tags.member.1.Value=v"
            ),
            "InvalidInput",
            400,
            "aws:",
        ),
        (
            format!("Action=UntagOpenIDConnectProvider&{v}&OpenIDConnectProviderArn={github}"),
            "ValidationError",
            400,
            "tagKeys",
        ),
        (
            format!(
                "Action=ListOpenIDConnectProviderTags&{v}&OpenIDConnectProviderArn={github}&MaxItems=0"
            ),
            "ValidationError",
            400,
            "maxItems",
        ),
        // SAML.
        (
            format!("Action=CreateSAMLProvider&{v}&SAMLMetadataDocument={metadata}"),
            "ValidationError",
            400,
            "'name'",
        ),
        (
            format!("Action=CreateSAMLProvider&{v}&Name=other"),
            "ValidationError",
            400,
            "sAMLMetadataDocument",
        ),
        (
            format!(
                "Action=CreateSAMLProvider&{v}&Name=bad%2Fname&SAMLMetadataDocument={metadata}"
            ),
            "ValidationError",
            400,
            "pattern",
        ),
        (
            format!("Action=CreateSAMLProvider&{v}&Name=other&SAMLMetadataDocument=%3Cx%2F%3E"),
            "ValidationError",
            400,
            "greater than or equal to 1000",
        ),
        (
            format!(
                "Action=CreateSAMLProvider&{v}&Name=other&SAMLMetadataDocument={}",
                enc(&format!("<x>{}</x>", " ".repeat(1200)))
            ),
            "InvalidInput",
            400,
            "metadata",
        ),
        (
            format!("Action=CreateSAMLProvider&{v}&Name=Partner&SAMLMetadataDocument={metadata}"),
            "EntityAlreadyExists",
            409,
            "already exists",
        ),
        (
            format!(
                "Action=GetSAMLProvider&{v}&SAMLProviderArn={}",
                enc("arn:aws:iam::111122223333:saml-provider/none")
            ),
            "NoSuchEntity",
            404,
            "not found",
        ),
        (
            format!(
                "Action=GetSAMLProvider&{v}&SAMLProviderArn={}",
                enc("arn:aws:iam::444455556666:saml-provider/partner")
            ),
            "AccessDenied",
            403,
            "is not authorized",
        ),
        (
            format!(
                "Action=UpdateSAMLProvider&{v}&SAMLProviderArn={partner}&SAMLMetadataDocument={}",
                enc(&format!("<x>{}</x>", " ".repeat(1200)))
            ),
            "InvalidInput",
            400,
            "metadata",
        ),
        (
            format!("Action=UpdateSAMLProvider&{v}&SAMLProviderArn={partner}"),
            "ValidationError",
            400,
            "sAMLMetadataDocument",
        ),
        (
            format!(
                "Action=DeleteSAMLProvider&{v}&SAMLProviderArn={}",
                enc("arn:aws:iam::111122223333:saml-provider/none")
            ),
            "NoSuchEntity",
            404,
            "not found",
        ),
        (
            format!("Action=DeleteSAMLProvider&{v}&SAMLProviderArn=short"),
            "ValidationError",
            400,
            "greater than or equal to 20",
        ),
        (
            format!("Action=TagSAMLProvider&{v}&SAMLProviderArn={partner}"),
            "ValidationError",
            400,
            "tags",
        ),
        (
            format!("Action=UntagSAMLProvider&{v}&SAMLProviderArn={partner}"),
            "ValidationError",
            400,
            "tagKeys",
        ),
        (
            format!(
                "Action=ListSAMLProviderTags&{v}&SAMLProviderArn={}",
                enc("arn:aws:iam::111122223333:saml-provider/none")
            ),
            "NoSuchEntity",
            404,
            "not found",
        ),
    ];
    for (body, code, status, needle) in &cases {
        let (got_code, got_status, text) = raw(&broker, &admin, body).await;
        assert_eq!(
            (got_code.as_str(), got_status),
            (*code, *status),
            "{body}: {text}"
        );
        assert!(text.contains(needle), "{body}: {text}");
    }
    // A caller without iam: permissions, and the other account's administrator (no access to
    // this account's providers, none of them listed to it).
    let bob = broker.iam_as(BOB_KEY_ID, BOB_SECRET);
    let denied = refused(
        bob.create_open_id_connect_provider()
            .url("https://new.example.com")
            .client_id_list("a")
            .send()
            .await,
    );
    assert_eq!((denied.0.as_str(), denied.1), ("AccessDenied", 403));
    let denied = refused(
        bob.delete_saml_provider()
            .saml_provider_arn(SAML_ARN)
            .send()
            .await,
    );
    assert_eq!((denied.0.as_str(), denied.1), ("AccessDenied", 403));
    let foreign = broker.iam_as(FOREIGN_KEY_ID, FOREIGN_SECRET);
    let other = refused(
        foreign
            .delete_open_id_connect_provider()
            .open_id_connect_provider_arn(GITHUB_ARN)
            .send()
            .await,
    );
    assert_eq!((other.0.as_str(), other.1), ("AccessDenied", 403));
    let other = refused(
        foreign
            .update_saml_provider()
            .saml_provider_arn(SAML_ARN)
            .saml_metadata_document(saml.metadata())
            .send()
            .await,
    );
    assert_eq!((other.0.as_str(), other.1), ("AccessDenied", 403));
    let listed = foreign
        .list_open_id_connect_providers()
        .send()
        .await
        .unwrap();
    assert!(listed.open_id_connect_provider_list().is_empty());
    let listed = foreign.list_saml_providers().send().await.unwrap();
    assert!(listed.saml_provider_list().is_empty());
    assert_eq!(unchanged(&broker).await, before);
}

const THEIR_ACCOUNT: &str = "444455556666";

/// A role of `account` trusting that account's provider of the test IdP, with no condition:
/// the audience is checked by the provider's client ids alone.
fn trusting_its_provider(account: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"arn:aws:iam::{account}:oidc-provider/127.0.0.1/idp"}},"Action":"sts:AssumeRoleWithWebIdentity"}}]}}"#
    )
}

/// `AssumeRoleWithWebIdentity` into `role` with a token of `sub` for audience `aud`: the
/// credentials and the provider STS names, or the error code and message.
async fn exchange(
    broker: &TestBroker,
    idp: &TestIdp,
    role: &str,
    sub: &str,
    aud: &str,
) -> Result<(aws_sdk_sts::types::Credentials, String), (String, String)> {
    let mut claims = idp.claims(sub);
    claims["aud"] = serde_json::json!(aud);
    broker
        .sts()
        .assume_role_with_web_identity()
        .role_arn(role)
        .role_session_name("per-account")
        .web_identity_token(idp.token("rsa-1", &claims))
        .send()
        .await
        .map(|o| {
            (
                o.credentials().unwrap().clone(),
                o.provider().unwrap_or_default().to_owned(),
            )
        })
        .map_err(|e| {
            let e = e.into_service_error();
            (
                e.code().unwrap_or_default().to_owned(),
                e.message().unwrap_or_default().to_owned(),
            )
        })
}

/// As in IAM, every account registers its own provider for an issuer, with its own client
/// ids: a role trusts its own account's provider only, whichever account registered the issuer
/// first; one account adding or deleting its provider changes nothing for the other; the IdP
/// sees one stream of key fetches for both; a subject revoked at one account's provider keeps
/// its sessions and tokens at the other's.
#[tokio::test]
async fn accounts_register_their_own_provider_for_one_issuer() {
    let idp = TestIdp::start().await;
    let keys = tempfile::tempdir().unwrap();
    let broker = replica(&idp, "memory://", keys.path()).await;
    let ours = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let theirs = broker.iam_as(FOREIGN_KEY_ID, FOREIGN_SECRET);
    let their_provider = format!("arn:aws:iam::{THEIR_ACCOUNT}:oidc-provider/127.0.0.1/idp");
    let our_role = format!("arn:aws:iam::{ACCOUNT}:role/ci-ours");
    let their_role = format!("arn:aws:iam::{THEIR_ACCOUNT}:role/ci-theirs");
    let sub = "repo:octo-org/app:ref:refs/heads/main";
    for (iam, name, account) in [
        (&ours, "ci-ours", ACCOUNT),
        (&theirs, "ci-theirs", THEIR_ACCOUNT),
    ] {
        iam.create_role()
            .role_name(name)
            .assume_role_policy_document(trusting_its_provider(account))
            .send()
            .await
            .unwrap();
    }
    let no_provider = |r: Result<_, (String, String)>| {
        let (code, message) = r.err().unwrap();
        assert_eq!(code, "InvalidIdentityToken", "{message}");
        assert!(
            message.starts_with(
                "No OpenIDConnect provider found in your account for http://127.0.0.1:"
            ),
            "{message}"
        );
    };
    let wrong_audience = |r: Result<_, (String, String)>| {
        let (code, message) = r.err().unwrap();
        assert_eq!(code, "InvalidIdentityToken", "{message}");
        assert!(message.contains("audience"), "{message}");
    };

    // Our account registers the issuer first; theirs has no provider for it yet.
    let created = ours
        .create_open_id_connect_provider()
        .url(&idp.issuer)
        .client_id_list("our-client")
        .send()
        .await
        .unwrap();
    assert_eq!(created.open_id_connect_provider_arn(), Some(PROVIDER_ARN));
    let (_, provider) = exchange(&broker, &idp, &our_role, sub, "our-client")
        .await
        .unwrap();
    assert_eq!(provider, PROVIDER_ARN);
    no_provider(exchange(&broker, &idp, &their_role, sub, "our-client").await);
    let fetched = (idp.discovery_hits(), idp.jwks_hits());
    assert_eq!(fetched, (1, 1));

    // Theirs registers the same issuer with its own client id (not refused as taken).
    let created = theirs
        .create_open_id_connect_provider()
        .url(&idp.issuer)
        .client_id_list("their-client")
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.open_id_connect_provider_arn(),
        Some(their_provider.as_str())
    );
    let (our_session, provider) = exchange(&broker, &idp, &our_role, sub, "our-client")
        .await
        .unwrap();
    assert_eq!(provider, PROVIDER_ARN);
    let (their_session, provider) = exchange(&broker, &idp, &their_role, sub, "their-client")
        .await
        .unwrap();
    assert_eq!(provider, their_provider);
    // Each provider's client ids decide its tokens' audience, both ways.
    wrong_audience(exchange(&broker, &idp, &their_role, sub, "our-client").await);
    wrong_audience(exchange(&broker, &idp, &our_role, sub, "their-client").await);
    // Each account lists its own provider only.
    for (iam, arn) in [(&ours, PROVIDER_ARN), (&theirs, their_provider.as_str())] {
        let listed = iam.list_open_id_connect_providers().send().await.unwrap();
        let arns: Vec<_> = listed
            .open_id_connect_provider_list()
            .iter()
            .filter_map(|p| p.arn())
            .collect();
        assert_eq!(arns, [arn]);
    }
    // One stream of key fetches for both accounts' providers, kept across the swaps.
    assert_eq!((idp.discovery_hits(), idp.jwks_hits()), fetched);

    // One token for both accounts' audiences, exchanged in both: the session it made in their
    // account revoked (which also refuses the token again there), ours and the token at our
    // provider keep working.
    let mut claims = idp.claims("repo:octo-org/shared:ref:refs/heads/main");
    claims["aud"] = serde_json::json!(["our-client", "their-client"]);
    let shared = idp.token("rsa-1", &claims);
    let with_shared = |role: String| {
        let sts = broker.sts();
        let token = shared.clone();
        async move {
            sts.assume_role_with_web_identity()
                .role_arn(role)
                .role_session_name("shared")
                .web_identity_token(token)
                .send()
                .await
                .map(|o| o.credentials().unwrap().clone())
                .map_err(|e| e.into_service_error().code().unwrap_or_default().to_owned())
        }
    };
    let ours_shared = with_shared(our_role.clone()).await.unwrap();
    let theirs_shared = with_shared(their_role.clone()).await.unwrap();
    broker
        .state
        .revocations
        .revoke(
            Revocation::Session {
                access_key_id: theirs_shared.access_key_id().to_owned(),
            },
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    assert!(caller_identity(&broker, &theirs_shared).await.is_err());
    assert_eq!(
        with_shared(their_role.clone()).await.unwrap_err(),
        "AccessDenied"
    );
    assert!(caller_identity(&broker, &ours_shared).await.is_ok());
    with_shared(our_role.clone()).await.unwrap();

    // A subject revoked at their provider: their session and tokens end, ours do not.
    broker
        .state
        .revocations
        .revoke(
            Revocation::Subject {
                provider: their_provider.clone(),
                subject: sub.to_owned(),
            },
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    assert!(caller_identity(&broker, &our_session).await.is_ok());
    assert!(caller_identity(&broker, &their_session).await.is_err());
    let (code, _) = exchange(&broker, &idp, &their_role, sub, "their-client")
        .await
        .err()
        .unwrap();
    assert_eq!(code, "AccessDenied");
    exchange(&broker, &idp, &our_role, sub, "our-client")
        .await
        .unwrap();

    // Their provider deleted: ours keeps working, their role has no provider again.
    theirs
        .delete_open_id_connect_provider()
        .open_id_connect_provider_arn(&their_provider)
        .send()
        .await
        .unwrap();
    exchange(&broker, &idp, &our_role, sub, "our-client")
        .await
        .unwrap();
    no_provider(exchange(&broker, &idp, &their_role, sub, "their-client").await);
    assert_eq!((idp.discovery_hits(), idp.jwks_hits()), fetched);
}

/// The client that fetches the keys of providers made through the API (without
/// `allow_http_api_providers`) connects only to public addresses, checked on the addresses a
/// name resolves to when connecting: `localhost`, resolved by the system, leads nowhere, and a
/// real listener there counts no connection. The operator's client does reach it.
#[tokio::test]
async fn the_public_only_client_never_connects_to_a_name_resolving_to_loopback() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await;
        }
    });
    let operator = reqwest::Client::builder().no_proxy().build().unwrap();
    let clients = sts_broker::oidc::FetchClients::new(operator.clone()).unwrap();
    let err = clients
        .public_only()
        .get(format!(
            "http://localhost:{port}/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 0);
    operator
        .get(format!("http://localhost:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

/// Without `allow_http_api_providers`, a provider URL naming the broker's own network is
/// refused when created (names are checked again at every connection), and nothing is
/// stored.
#[tokio::test]
async fn provider_urls_inside_the_brokers_network_are_refused() {
    let idp = TestIdp::start().await;
    let broker = crate::iam_roles::broker(&idp, "memory://", None).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let before = unchanged(&broker).await;
    for url in [
        "https://127.0.0.1:8443/idp",
        "https://localhost/idp",
        "https://localhost./idp",
        "https://metadata.localhost",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/idp",
        "https://[::ffff:10.0.0.1]/idp",
        "https://100.100.100.200",
        "https://[fd00::2]",
    ] {
        let (code, status, message) = refused(
            iam.create_open_id_connect_provider()
                .url(url)
                .client_id_list("sts.amazonaws.com")
                .send()
                .await,
        );
        assert_eq!(
            (code.as_str(), status),
            ("InvalidInput", 400),
            "{url}: {message}"
        );
        assert!(message.contains("non-public address"), "{url}: {message}");
    }
    assert_eq!(unchanged(&broker).await, before);
}
