//! `DecodeAuthorizationMessage`: an administrator turns the encoded message of a denial back
//! into the full evaluation trace ([`crate::broker::denial`]).
//!
//! The caller signs for `sts` and its own policies must allow `sts:DecodeAuthorizationMessage`
//! ([`crate::broker::admin`]), and it must be a principal of the account the denied request was made in
//! (the message names it, authenticated): another account's message is `AccessDenied`. A
//! message that is malformed, altered, from another broker or under a session key no longer
//! loaded is `InvalidAuthorizationMessageException` (400).

use serde::Serialize;

use super::Action;
use crate::broker::ApiError;
use crate::broker::Broker;
use crate::broker::RequestMeta;
use crate::broker::admin;
use crate::broker::denial::{self, MAX_ENCODED_LEN};
use crate::query::Params;
use crate::query::validate::Violations;
use crate::query::xml;

const ACTION: &str = "sts:DecodeAuthorizationMessage";

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct DecodeAuthorizationMessageResult {
    decoded_message: String,
}

/// Handles one call.
pub async fn decode_authorization_message(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<String, ApiError> {
    let encoded = params.require("EncodedMessage")?;
    let mut v = Violations::default();
    v.length("EncodedMessage", encoded, 1, MAX_ENCODED_LEN, true);
    v.finish()?;
    let (_, permissions) = admin::require(state, meta, ACTION, "*").await?;
    let decoded = denial::decode(&state.keys, encoded).map_err(|e| {
        tracing::info!(request_id = %meta.request_id, error = %e, "authorization message refused");
        ApiError::invalid_authorization_message()
    })?;
    let caller_account = permissions.principal.account().unwrap_or_default();
    if decoded.account.is_empty() || decoded.account != caller_account {
        tracing::info!(request_id = %meta.request_id, caller = %permissions.arn(), "authorization message of another account refused");
        return Err(ApiError::access_denied(format!(
            "User: {} is not authorized to perform: {ACTION}: the message is about a request of another account",
            permissions.arn()
        )));
    }
    let decoded_message = decoded.text;
    xml::success(
        Action::DecodeAuthorizationMessage,
        &DecodeAuthorizationMessageResult { decoded_message },
        &meta.request_id,
    )
}
