//! IAM's access key actions (docs/operations.md, "Access keys through IAM's API"):
//! `CreateAccessKey`, `ListAccessKeys`, `UpdateAccessKey`, `DeleteAccessKey` and
//! `GetAccessKeyLastUsed`. `UserName` is optional where IAM has it so: absent, the calling IAM
//! user (a role session gets IAM's `ValidationError`). Authorized as the user actions are
//! ([`super::users`]): `iam:<Action>` on the user's ARN in the caller's own account, its tags as
//! resource tags; changes go through [`iam_api::change_user_expecting`]. The file's users'
//! keys are listed but not changed. Inputs are checked in this order: signature, parameter
//! shapes, authorization, then the change.
//!
//! A new key's secret is made from the system's CSPRNG, sealed under the current signing
//! session key before it is stored, and shown once, in `CreateAccessKey`'s answer; it is held
//! in a zeroizing type and never logged.

use serde::{Serialize, Serializer};

use super::Members;
use super::roles::{Calling, Nothing, calling, date, page, paging, required};
use crate::broker::{ApiError, Broker, RequestMeta, iam_api};
use crate::iam::access_keys::{
    self, AccessKeyStatus, StoredAccessKey, check_access_key_id, check_status,
};
use crate::iam::api::{self, IamApiError};
use crate::iam::users::{UserChange, no_such_user};
use crate::iam::{User, access_key_context};
use crate::query::Params;
use crate::secret::SecretAccessKey;

/// Tries at a new key id before giving up (an id already served is drawn again; with 80
/// random bits, a second draw is never expected).
const ID_DRAWS: usize = 4;

/// `AccessKey` as `CreateAccessKey` writes it: the only answer that holds the secret.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKeyXml {
    pub user_name: String,
    pub access_key_id: String,
    pub status: &'static str,
    #[serde(serialize_with = "exposed")]
    pub secret_access_key: SecretAccessKey,
    pub create_date: String,
}

/// The secret into the answer, and nowhere else.
fn exposed<S: Serializer>(secret: &SecretAccessKey, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose())
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateAccessKeyResult {
    pub access_key: AccessKeyXml,
}

/// `AccessKeyMetadata` as IAM writes it: never the secret.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKeyMetadataXml {
    pub user_name: String,
    pub access_key_id: String,
    pub status: &'static str,
    pub create_date: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAccessKeysResult {
    pub access_key_metadata: Members<AccessKeyMetadataXml>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// `AccessKeyLastUsed` as IAM writes it: `N/A` and no date for a key never used.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LastUsedXml {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_date: Option<String>,
    pub service_name: String,
    pub region: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetAccessKeyLastUsedResult {
    pub user_name: String,
    pub access_key_last_used: LastUsedXml,
}

/// The user a key action is about: `UserName` (1–128 of `[\w+=,.@-]`, IAM's
/// `existingUserNameType`), else the IAM user calling.
fn named_user(state: &Broker, caller: &Calling, params: &Params) -> Result<String, ApiError> {
    if let Some(name) = params.get("UserName") {
        api::check_name("userName", name, 128)?;
        return Ok(name.to_owned());
    }
    let arn = caller.user.as_deref().ok_or_else(|| {
        ApiError::from(IamApiError::Validation(
            "Must specify userName when calling with non-User credentials".to_owned(),
        ))
    })?;
    state
        .config
        .iam
        .user(arn)
        .map(|u| u.name.clone())
        .ok_or_else(|| {
            IamApiError::NoSuchEntity("The user calling cannot be found.".to_owned()).into()
        })
}

fn access_key_id(params: &Params) -> Result<&str, ApiError> {
    let id = required(params, "AccessKeyId")?;
    check_access_key_id(id)?;
    Ok(id)
}

fn status(active: bool) -> &'static str {
    if active {
        AccessKeyStatus::Active.as_str()
    } else {
        AccessKeyStatus::Inactive.as_str()
    }
}

/// `CreateAccessKey`: a new key for the user (at most two), its secret shown this once.
pub async fn create_access_key(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<CreateAccessKeyResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = named_user(state, &caller, params)?;
    let expected = caller.user_target(state, meta, "CreateAccessKey", &name, false, Vec::new())?;
    let shown_name = caller
        .user(state, &name)
        .map_or_else(|| name.clone(), |u| u.name.clone());
    let id = (0..ID_DRAWS)
        .filter_map(|_| access_keys::new_access_key_id())
        .find(|id| !state.config.iam.has_access_key(id))
        .ok_or_else(ApiError::internal)?;
    let secret = access_keys::new_secret().ok_or_else(ApiError::internal)?;
    let now = state.clock.now();
    let sealed = crate::broker::sealing::seal(
        state,
        secret.expose().as_bytes(),
        &access_key_context(&caller.account, &id),
    )?;
    let created = now.unix_timestamp();
    let key = StoredAccessKey {
        id: id.clone(),
        sealed,
        status: AccessKeyStatus::Active,
        created,
        generation: 0,
    };
    let change = UserChange::CreateAccessKey {
        user: name,
        key: key.clone(),
    };
    iam_api::change_user_expecting(state, &caller.account, &change, &expected).await?;
    tracing::info!(
        access_key_id = %id,
        user = %shown_name,
        account = %caller.account,
        "access key created"
    );
    Ok(CreateAccessKeyResult {
        access_key: AccessKeyXml {
            user_name: shown_name,
            access_key_id: id,
            status: AccessKeyStatus::Active.as_str(),
            secret_access_key: secret,
            create_date: date(now),
        },
    })
}

/// `ListAccessKeys` (paged): the user's keys, the file's users' too, never a secret.
pub async fn list_access_keys(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<ListAccessKeysResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = named_user(state, &caller, params)?;
    let paging = paging(params)?;
    caller.allow_user(state, meta, "ListAccessKeys", &name, Vec::new())?;
    let user = caller
        .user(state, &name)
        .ok_or_else(|| no_such_user(&name))?;
    let keys = user
        .access_keys
        .iter()
        .map(|k| (k.id.clone(), metadata(user, k)))
        .collect();
    let (keys, marker) = page(keys, &paging);
    Ok(ListAccessKeysResult {
        access_key_metadata: keys.into(),
        is_truncated: marker.is_some(),
        marker,
    })
}

fn metadata(user: &User, key: &crate::iam::AccessKey) -> AccessKeyMetadataXml {
    AccessKeyMetadataXml {
        user_name: user.name.clone(),
        access_key_id: key.id.clone(),
        status: status(key.active),
        // A file key without its creation time: when this replica read its file.
        create_date: date(key.created.unwrap_or(user.about.created)),
    }
}

/// `UpdateAccessKey`: `Active` or `Inactive`. Deactivated, the key is refused at once on every
/// replica once it swaps the change in, and the sessions made with it end.
pub async fn update_access_key(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = named_user(state, &caller, params)?;
    let id = access_key_id(params)?;
    let status = check_status(required(params, "Status")?)?;
    let expected = caller.user_target(state, meta, "UpdateAccessKey", &name, false, Vec::new())?;
    let change = UserChange::UpdateAccessKey {
        user: name,
        id: id.to_owned(),
        status,
    };
    iam_api::change_user_expecting(state, &caller.account, &change, &expected).await?;
    tracing::info!(access_key_id = %id, status = status.as_str(), "access key status set");
    Ok(Nothing {})
}

/// `DeleteAccessKey`: the key is refused at once on every replica once it swaps the change
/// in, the sessions made with it end, and its last use is forgotten.
pub async fn delete_access_key(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = named_user(state, &caller, params)?;
    let id = access_key_id(params)?;
    let expected = caller.user_target(state, meta, "DeleteAccessKey", &name, false, Vec::new())?;
    let change = UserChange::DeleteAccessKey {
        user: name,
        id: id.to_owned(),
    };
    iam_api::change_user_expecting(state, &caller.account, &change, &expected).await?;
    tracing::info!(access_key_id = %id, "access key deleted");
    if let Err(e) = state.store.forget_key_use(id).await {
        tracing::warn!(access_key_id = %id, error = %e, "a deleted access key's last use stays in the store");
    }
    Ok(Nothing {})
}

/// `GetAccessKeyLastUsed`: the key's user and its last use (the store's, or this replica's
/// when newer). A key that is not of the caller's account, or not served at all, is refused
/// alike, naming neither its user nor its account.
pub async fn get_access_key_last_used(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<GetAccessKeyLastUsedResult, ApiError> {
    let caller = calling(state, meta).await?;
    let id = access_key_id(params)?;
    let owner = state
        .config
        .iam
        .user_by_access_key(id)
        .filter(|(u, _)| u.account == caller.account);
    let Some((user, _)) = owner else {
        return Err(ApiError::access_denied(format!(
            "User: {} is not authorized to perform: iam:GetAccessKeyLastUsed on resource: \
             access key {}",
            caller.arn(),
            crate::encoding::shorten(id)
        )));
    };
    caller.allow_user(state, meta, "GetAccessKeyLastUsed", &user.name, Vec::new())?;
    let last = state.key_use.newest(&state.store, id).await?;
    let used = match last {
        Some(u) => LastUsedXml {
            last_used_date: time::OffsetDateTime::from_unix_timestamp(u.at)
                .ok()
                .map(date),
            service_name: u.service,
            region: u.region,
        },
        None => LastUsedXml {
            last_used_date: None,
            service_name: "N/A".to_owned(),
            region: "N/A".to_owned(),
        },
    };
    Ok(GetAccessKeyLastUsedResult {
        user_name: user.name.clone(),
        access_key_last_used: used,
    })
}
