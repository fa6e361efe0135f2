//! IAM's identity provider actions (docs/operations.md, "Identity providers through IAM's
//! API"): the OpenID Connect provider actions (`CreateOpenIDConnectProvider`, `Get`, `List`,
//! client ids, thumbprints, `Delete`, tags) and the SAML provider actions
//! (`CreateSAMLProvider`, `Get`, `List`, `Update`, `Delete`, tags). Every call needs
//! `iam:<Action>` on the provider's ARN in the caller's own account (`*` for the `List`
//! actions); a provider of another account is not found. The file's providers are listed and
//! shown, and read-only; changes go through [`crate::broker::iam_api::change_provider`].
//! Inputs are checked in the order of [`super::roles`].

use serde::Serialize;

use super::Members;
use super::roles::{
    Nothing, TagXml, calling, date, page, paging, request_tags, required, tags, untag_keys,
};
use crate::broker::iam_api;
use crate::broker::{ApiError, Broker, RequestMeta};
use crate::config::issuer_host_path;
use crate::iam::Origin;
use crate::iam::api::{self, AccountDocument, IamApiError, Tag};
use crate::iam::providers::{
    self as domain, MAX_CLIENT_IDS, MAX_THUMBPRINTS, ProviderChange, StoredOidcProvider,
    StoredSamlProvider, oidc_arn, saml_arn,
};
use crate::policy::ContextValue;
use crate::query::Params;

#[derive(Debug, Serialize)]
pub struct CreateOidcResult {
    #[serde(rename = "OpenIDConnectProviderArn")]
    pub arn: String,
    #[serde(rename = "Tags", skip_serializing_if = "Option::is_none")]
    pub tags: Option<Members<TagXml>>,
}

#[derive(Debug, Serialize)]
pub struct GetOidcResult {
    #[serde(rename = "Url")]
    pub url: String,
    #[serde(rename = "ClientIDList")]
    pub client_ids: Members<String>,
    #[serde(rename = "ThumbprintList")]
    pub thumbprints: Members<String>,
    #[serde(rename = "CreateDate")]
    pub create_date: String,
    #[serde(rename = "Tags", skip_serializing_if = "Option::is_none")]
    pub tags: Option<Members<TagXml>>,
}

#[derive(Debug, Serialize)]
pub struct ArnXml {
    #[serde(rename = "Arn")]
    pub arn: String,
}

#[derive(Debug, Serialize)]
pub struct ListOidcResult {
    #[serde(rename = "OpenIDConnectProviderList")]
    pub providers: Members<ArnXml>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsResult {
    pub tags: Members<TagXml>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SamlArnResult {
    #[serde(rename = "SAMLProviderArn")]
    pub arn: String,
    #[serde(rename = "Tags", skip_serializing_if = "Option::is_none")]
    pub tags: Option<Members<TagXml>>,
}

#[derive(Debug, Serialize)]
pub struct GetSamlResult {
    #[serde(
        rename = "SAMLMetadataDocument",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata: Option<String>,
    #[serde(rename = "CreateDate")]
    pub create_date: String,
    #[serde(rename = "ValidUntil", skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    #[serde(rename = "Tags", skip_serializing_if = "Option::is_none")]
    pub tags: Option<Members<TagXml>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SamlListEntry {
    pub arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    pub create_date: String,
}

#[derive(Debug, Serialize)]
pub struct ListSamlResult {
    #[serde(rename = "SAMLProviderList")]
    pub providers: Members<SamlListEntry>,
}

fn tag_xml(tags: &[Tag]) -> Vec<TagXml> {
    tags.iter()
        .map(|t| TagXml {
            key: t.key.clone(),
            value: t.value.clone(),
        })
        .collect()
}

fn some_tags(tags: &[Tag]) -> Option<Members<TagXml>> {
    (!tags.is_empty()).then(|| tag_xml(tags).into())
}

fn listed_tags(tags: &[Tag], params: &Params) -> Result<ListTagsResult, ApiError> {
    let paging = paging(params)?;
    let items = tag_xml(tags)
        .into_iter()
        .map(|t| (t.key.clone(), t))
        .collect();
    let (tags, marker) = page(items, &paging);
    Ok(ListTagsResult {
        tags: tags.into(),
        is_truncated: marker.is_some(),
        marker,
    })
}

fn unix_date(unix: i64) -> String {
    date(
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    )
}

/// The caller's account's document as this broker serves it.
fn document<'a>(state: &'a Broker, account: &str) -> Option<&'a AccountDocument> {
    state.iam_layer.accounts.get(account).map(|r| &r.document)
}

/// A provider ARN parameter: 20–2048 characters, `arn:aws:iam::ACCOUNT:KIND/REST`. Returns
/// the ARN, its account and what follows `KIND/`.
fn provider_arn<'a>(
    params: &'a Params,
    param: &str,
    kind: &str,
) -> Result<(&'a str, &'a str, &'a str), ApiError> {
    let arn = required(params, param)?;
    let lower = crate::query::params::lower_first(param);
    let n = arn.chars().count();
    if n < 20 {
        return Err(api::constraint(&lower, arn, "have length greater than or equal to 20").into());
    }
    if n > 2048 {
        return Err(api::constraint(&lower, arn, "have length less than or equal to 2048").into());
    }
    let invalid = || {
        ApiError::from(IamApiError::InvalidInput(format!(
            "ARN {} is not valid.",
            crate::encoding::shorten(arn)
        )))
    };
    let rest = arn.strip_prefix("arn:aws:iam::").ok_or_else(invalid)?;
    let (account, resource) = rest.split_once(':').ok_or_else(invalid)?;
    let name = resource
        .strip_prefix(kind)
        .and_then(|r| r.strip_prefix('/'))
        .filter(|n| !n.is_empty())
        .ok_or_else(invalid)?;
    if !crate::policy::is_account_id(account) {
        return Err(invalid());
    }
    Ok((arn, account, name))
}

/// The OIDC provider ARN parameter, authorized for `action`, in the caller's account (another
/// account's provider is not found). Returns the ARN and its host and path.
fn oidc_target<'a>(
    state: &Broker,
    params: &'a Params,
    meta: &RequestMeta,
    caller: &super::roles::Calling,
    action: &str,
) -> Result<(&'a str, &'a str), ApiError> {
    let (arn, account, host_path) =
        provider_arn(params, "OpenIDConnectProviderArn", "oidc-provider")?;
    caller.allow_as(state, meta, action, arn, arn, tag_context(action, params)?)?;
    if account != caller.account {
        return Err(domain::no_such_oidc(arn).into());
    }
    Ok((arn, host_path))
}

/// The SAML provider ARN parameter, as [`oidc_target`]. Returns the ARN and the name.
fn saml_target<'a>(
    state: &Broker,
    params: &'a Params,
    meta: &RequestMeta,
    caller: &super::roles::Calling,
    action: &str,
) -> Result<(&'a str, &'a str), ApiError> {
    let (arn, account, name) = provider_arn(params, "SAMLProviderArn", "saml-provider")?;
    caller.allow_as(state, meta, action, arn, arn, tag_context(action, params)?)?;
    if account != caller.account {
        return Err(domain::no_such_saml(arn).into());
    }
    Ok((arn, name))
}

/// The request's tags as condition keys (`aws:RequestTag/KEY`, `aws:TagKeys`) for the tagging
/// actions, as for roles and policies; nothing for the others.
fn tag_context(action: &str, params: &Params) -> Result<Vec<(String, ContextValue)>, ApiError> {
    if action.starts_with("Untag") {
        return Ok(vec![super::roles::tag_keys(
            untag_keys(params)?.into_iter(),
        )]);
    }
    if action.starts_with("Tag") {
        return Ok(request_tags(&tags(params)?));
    }
    Ok(Vec::new())
}

/// `ThumbprintList`: at most five, each 40 hex digits (upper-cased).
fn thumbprints(params: &Params) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for t in params.list("ThumbprintList", None, MAX_THUMBPRINTS)? {
        out.push(domain::check_thumbprint(t)?);
    }
    Ok(out)
}

/// `CreateOpenIDConnectProvider`.
pub async fn create_oidc(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<CreateOidcResult, ApiError> {
    let caller = calling(state, meta).await?;
    let url = required(params, "Url")?;
    let url = domain::check_url(url, state.config.server.allow_http_api_providers)?;
    let mut client_ids: Vec<String> = Vec::new();
    for c in params.list("ClientIDList", None, MAX_CLIENT_IDS)? {
        domain::check_client_id(c)?;
        if !client_ids.iter().any(|o| o == c) {
            client_ids.push(c.to_owned());
        }
    }
    let thumbprints = thumbprints(params)?;
    let tags = tags(params)?;
    let host_path = issuer_host_path(url);
    let arn = oidc_arn(&caller.account, &host_path);
    caller.allow_create(
        state,
        meta,
        ("CreateOpenIDConnectProvider", "TagOpenIDConnectProvider"),
        &arn,
        &tags,
        None,
    )?;
    let provider = StoredOidcProvider {
        url: url.to_owned(),
        client_ids,
        thumbprints,
        tags: tags.clone(),
        created: state.clock.now().unix_timestamp(),
    };
    let change = ProviderChange::CreateOidc {
        host_path,
        provider,
    };
    iam_api::change_provider(state, &caller.account, &change).await?;
    Ok(CreateOidcResult {
        arn,
        tags: some_tags(&tags),
    })
}

/// `GetOpenIDConnectProvider`: the URL without its scheme, as IAM shows it.
pub async fn get_oidc(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<GetOidcResult, ApiError> {
    let caller = calling(state, meta).await?;
    let (arn, host_path) = oidc_target(state, params, meta, &caller, "GetOpenIDConnectProvider")?;
    let without_scheme = |url: &str| {
        url.strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .unwrap_or(url)
            .to_owned()
    };
    if let Some(p) = document(state, &caller.account).and_then(|d| d.oidc_providers.get(host_path))
    {
        return Ok(GetOidcResult {
            url: without_scheme(&p.url),
            client_ids: p.client_ids.clone().into(),
            thumbprints: p.thumbprints.clone().into(),
            create_date: unix_date(p.created),
            tags: some_tags(&p.tags),
        });
    }
    let p = state
        .config
        .oidc_providers
        .iter()
        .find(|p| p.arn == arn && matches!(p.origin, Origin::File(_)))
        .ok_or_else(|| ApiError::from(domain::no_such_oidc(arn)))?;
    Ok(GetOidcResult {
        url: without_scheme(&p.issuer),
        client_ids: p.client_ids.clone().into(),
        thumbprints: Vec::new().into(),
        create_date: date(p.created),
        tags: None,
    })
}

/// `ListOpenIDConnectProviders`: the file's and the API's of the caller's account.
pub async fn list_oidc(
    state: &Broker,
    _params: &Params,
    meta: &RequestMeta,
) -> Result<ListOidcResult, ApiError> {
    let caller = calling(state, meta).await?;
    caller.allow(state, meta, "ListOpenIDConnectProviders", "*")?;
    let mut arns: Vec<String> = state
        .config
        .oidc_providers
        .iter()
        .filter(|p| p.account == caller.account && matches!(p.origin, Origin::File(_)))
        .map(|p| p.arn.clone())
        .collect();
    if let Some(d) = document(state, &caller.account) {
        arns.extend(
            d.oidc_providers
                .keys()
                .map(|hp| oidc_arn(&caller.account, hp)),
        );
    }
    arns.sort();
    arns.dedup();
    Ok(ListOidcResult {
        providers: arns
            .into_iter()
            .map(|arn| ArnXml { arn })
            .collect::<Vec<_>>()
            .into(),
    })
}

async fn change_oidc(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
    action: &str,
    change: impl FnOnce(String, &Params) -> Result<ProviderChange, ApiError>,
    check_first: impl FnOnce(&Params) -> Result<(), ApiError>,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    // Parameter shapes first, then authorization, as every action here.
    provider_arn(params, "OpenIDConnectProviderArn", "oidc-provider")?;
    check_first(params)?;
    let (_, host_path) = oidc_target(state, params, meta, &caller, action)?;
    let change = change(host_path.to_owned(), params)?;
    iam_api::change_provider(state, &caller.account, &change).await?;
    Ok(Nothing {})
}

fn client_id(params: &Params) -> Result<&str, ApiError> {
    let c = required(params, "ClientID")?;
    domain::check_client_id(c)?;
    Ok(c)
}

/// `AddClientIDToOpenIDConnectProvider` (at most 100; adding one it has changes nothing).
pub async fn add_client_id(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    change_oidc(
        state,
        params,
        meta,
        "AddClientIDToOpenIDConnectProvider",
        |host_path, p| {
            Ok(ProviderChange::AddClientId {
                host_path,
                client_id: client_id(p)?.to_owned(),
            })
        },
        |p| client_id(p).map(|_| ()),
    )
    .await
}

/// `RemoveClientIDFromOpenIDConnectProvider` (removing one it lacks changes nothing).
pub async fn remove_client_id(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    change_oidc(
        state,
        params,
        meta,
        "RemoveClientIDFromOpenIDConnectProvider",
        |host_path, p| {
            Ok(ProviderChange::RemoveClientId {
                host_path,
                client_id: client_id(p)?.to_owned(),
            })
        },
        |p| client_id(p).map(|_| ()),
    )
    .await
}

fn required_thumbprints(params: &Params) -> Result<Vec<String>, ApiError> {
    let list = thumbprints(params)?;
    if list.is_empty() {
        return Err(api::missing("thumbprintList").into());
    }
    Ok(list)
}

/// `UpdateOpenIDConnectProviderThumbprint`: replaces the list.
pub async fn update_thumbprint(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    change_oidc(
        state,
        params,
        meta,
        "UpdateOpenIDConnectProviderThumbprint",
        |host_path, p| {
            Ok(ProviderChange::UpdateThumbprints {
                host_path,
                thumbprints: required_thumbprints(p)?,
            })
        },
        |p| required_thumbprints(p).map(|_| ()),
    )
    .await
}

/// `DeleteOpenIDConnectProvider`: the next token of its issuer is refused on every replica.
pub async fn delete_oidc(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    change_oidc(
        state,
        params,
        meta,
        "DeleteOpenIDConnectProvider",
        |host_path, _| Ok(ProviderChange::DeleteOidc { host_path }),
        |_| Ok(()),
    )
    .await
}

fn required_tags(params: &Params) -> Result<Vec<Tag>, ApiError> {
    let list = tags(params)?;
    if list.is_empty() {
        return Err(api::missing("tags").into());
    }
    Ok(list)
}

fn tag_keys(params: &Params) -> Result<Vec<String>, ApiError> {
    Ok(untag_keys(params)?.into_iter().map(str::to_owned).collect())
}

/// `TagOpenIDConnectProvider`.
pub async fn tag_oidc(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    change_oidc(
        state,
        params,
        meta,
        "TagOpenIDConnectProvider",
        |host_path, p| {
            Ok(ProviderChange::TagOidc {
                host_path,
                tags: required_tags(p)?,
            })
        },
        |p| required_tags(p).map(|_| ()),
    )
    .await
}

/// `UntagOpenIDConnectProvider`.
pub async fn untag_oidc(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    change_oidc(
        state,
        params,
        meta,
        "UntagOpenIDConnectProvider",
        |host_path, p| {
            Ok(ProviderChange::UntagOidc {
                host_path,
                keys: tag_keys(p)?,
            })
        },
        |p| tag_keys(p).map(|_| ()),
    )
    .await
}

/// `ListOpenIDConnectProviderTags` (paged; the file's providers have none).
pub async fn list_oidc_tags(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<ListTagsResult, ApiError> {
    let caller = calling(state, meta).await?;
    provider_arn(params, "OpenIDConnectProviderArn", "oidc-provider")?;
    paging(params)?;
    let (arn, host_path) = oidc_target(
        state,
        params,
        meta,
        &caller,
        "ListOpenIDConnectProviderTags",
    )?;
    if let Some(p) = document(state, &caller.account).and_then(|d| d.oidc_providers.get(host_path))
    {
        return listed_tags(&p.tags, params);
    }
    if state.config.oidc_providers.iter().any(|p| p.arn == arn) {
        return listed_tags(&[], params);
    }
    Err(domain::no_such_oidc(arn).into())
}

/// `document` checked as SAML metadata ([`domain::check_metadata`]) and its root's
/// `validUntil`, on a blocking thread: parsing up to the body limit must not hold up the
/// requests sharing this worker thread.
async fn checked_metadata(document: &str) -> Result<Option<String>, ApiError> {
    let document = document.to_owned();
    let checked = tokio::task::spawn_blocking(move || {
        domain::check_metadata(&document).map(|()| valid_until(&document))
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "parsing SAML metadata stopped");
        ApiError::internal()
    })?;
    Ok(checked?)
}

/// The `validUntil` of a metadata document's root, as IAM shows it.
fn valid_until(metadata: &str) -> Option<String> {
    let root = crate::saml::dom::parse(metadata).ok()?;
    let text = root.attr("validUntil")?;
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some(date(t))
}

/// `CreateSAMLProvider`.
pub async fn create_saml(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<SamlArnResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = required(params, "Name")?;
    domain::check_saml_name(name)?;
    // Its size is checked before the caller is authorized; its content after.
    let document = required(params, "SAMLMetadataDocument")?;
    let tags = tags(params)?;
    let arn = saml_arn(&caller.account, name);
    caller.allow_create(
        state,
        meta,
        ("CreateSAMLProvider", "TagSAMLProvider"),
        &arn,
        &tags,
        None,
    )?;
    let valid_until = checked_metadata(document).await?;
    let provider = StoredSamlProvider {
        name: name.to_owned(),
        metadata: document.to_owned(),
        valid_until,
        tags: tags.clone(),
        created: state.clock.now().unix_timestamp(),
    };
    iam_api::change_provider(
        state,
        &caller.account,
        &ProviderChange::CreateSaml(provider),
    )
    .await?;
    Ok(SamlArnResult {
        arn,
        tags: some_tags(&tags),
    })
}

/// `GetSAMLProvider`. The file's providers are shown without their document (the file names
/// where it is).
pub async fn get_saml(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<GetSamlResult, ApiError> {
    let caller = calling(state, meta).await?;
    let (arn, name) = saml_target(state, params, meta, &caller, "GetSAMLProvider")?;
    let stored = document(state, &caller.account)
        .and_then(|d| d.saml_providers.get(&name.to_ascii_lowercase()))
        .filter(|p| p.name == name);
    if let Some(p) = stored {
        return Ok(GetSamlResult {
            metadata: Some(p.metadata.clone()),
            create_date: unix_date(p.created),
            valid_until: p.valid_until.clone(),
            tags: some_tags(&p.tags),
        });
    }
    let p = state
        .config
        .saml_providers
        .iter()
        .find(|p| p.arn == arn && matches!(p.origin, Origin::File(_)))
        .ok_or_else(|| ApiError::from(domain::no_such_saml(arn)))?;
    Ok(GetSamlResult {
        metadata: None,
        create_date: date(p.created),
        valid_until: None,
        tags: None,
    })
}

/// `ListSAMLProviders`: the file's and the API's of the caller's account.
pub async fn list_saml(
    state: &Broker,
    _params: &Params,
    meta: &RequestMeta,
) -> Result<ListSamlResult, ApiError> {
    let caller = calling(state, meta).await?;
    caller.allow(state, meta, "ListSAMLProviders", "*")?;
    let mut out: Vec<SamlListEntry> = state
        .config
        .saml_providers
        .iter()
        .filter(|p| p.account == caller.account && matches!(p.origin, Origin::File(_)))
        .map(|p| SamlListEntry {
            arn: p.arn.clone(),
            valid_until: None,
            create_date: date(p.created),
        })
        .collect();
    if let Some(d) = document(state, &caller.account) {
        out.extend(d.saml_providers.values().map(|p| SamlListEntry {
            arn: saml_arn(&caller.account, &p.name),
            valid_until: p.valid_until.clone(),
            create_date: unix_date(p.created),
        }));
    }
    out.sort_by(|a, b| a.arn.cmp(&b.arn));
    Ok(ListSamlResult {
        providers: out.into(),
    })
}

/// `UpdateSAMLProvider`: a new metadata document, checked as at creation.
pub async fn update_saml(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<SamlArnResult, ApiError> {
    let caller = calling(state, meta).await?;
    provider_arn(params, "SAMLProviderArn", "saml-provider")?;
    let document = required(params, "SAMLMetadataDocument")?;
    let (arn, name) = saml_target(state, params, meta, &caller, "UpdateSAMLProvider")?;
    let valid_until = checked_metadata(document).await?;
    let change = ProviderChange::UpdateSaml {
        name: name.to_owned(),
        metadata: document.to_owned(),
        valid_until,
    };
    iam_api::change_provider(state, &caller.account, &change).await?;
    Ok(SamlArnResult {
        arn: arn.to_owned(),
        tags: None,
    })
}

async fn change_saml(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
    action: &str,
    change: impl FnOnce(String, &Params) -> Result<ProviderChange, ApiError>,
    check_first: impl FnOnce(&Params) -> Result<(), ApiError>,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    provider_arn(params, "SAMLProviderArn", "saml-provider")?;
    check_first(params)?;
    let (_, name) = saml_target(state, params, meta, &caller, action)?;
    let change = change(name.to_owned(), params)?;
    iam_api::change_provider(state, &caller.account, &change).await?;
    Ok(Nothing {})
}

/// `DeleteSAMLProvider`: the next assertion naming it is refused on every replica.
pub async fn delete_saml(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    change_saml(
        state,
        params,
        meta,
        "DeleteSAMLProvider",
        |name, _| Ok(ProviderChange::DeleteSaml { name }),
        |_| Ok(()),
    )
    .await
}

/// `TagSAMLProvider`.
pub async fn tag_saml(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    change_saml(
        state,
        params,
        meta,
        "TagSAMLProvider",
        |name, p| {
            Ok(ProviderChange::TagSaml {
                name,
                tags: required_tags(p)?,
            })
        },
        |p| required_tags(p).map(|_| ()),
    )
    .await
}

/// `UntagSAMLProvider`.
pub async fn untag_saml(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    change_saml(
        state,
        params,
        meta,
        "UntagSAMLProvider",
        |name, p| {
            Ok(ProviderChange::UntagSaml {
                name,
                keys: tag_keys(p)?,
            })
        },
        |p| tag_keys(p).map(|_| ()),
    )
    .await
}

/// `ListSAMLProviderTags` (paged; the file's providers have none).
pub async fn list_saml_tags(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<ListTagsResult, ApiError> {
    let caller = calling(state, meta).await?;
    provider_arn(params, "SAMLProviderArn", "saml-provider")?;
    paging(params)?;
    let (arn, name) = saml_target(state, params, meta, &caller, "ListSAMLProviderTags")?;
    let stored = document(state, &caller.account)
        .and_then(|d| d.saml_providers.get(&name.to_ascii_lowercase()))
        .filter(|p| p.name == name);
    if let Some(p) = stored {
        return listed_tags(&p.tags, params);
    }
    if state.config.saml_providers.iter().any(|p| p.arn == arn) {
        return listed_tags(&[], params);
    }
    Err(domain::no_such_saml(arn).into())
}
