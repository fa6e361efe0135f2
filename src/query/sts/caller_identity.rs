//! `GetCallerIdentity`: who signed this request. Needs no permission (AWS answers it even under
//! an explicit deny), so it is also the identity proof that Vault's AWS auth and Kubernetes'
//! aws-iam-authenticator send as a presigned URL.

use serde::Serialize;

use super::Action;
use crate::broker::ApiError;
use crate::broker::Broker;
use crate::broker::RequestMeta;
use crate::broker::caller::{Caller, authenticate};
use crate::query::xml;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetCallerIdentityResult<'a> {
    user_id: &'a str,
    account: &'a str,
    arn: &'a str,
}

pub async fn get_caller_identity(state: &Broker, meta: &RequestMeta) -> Result<String, ApiError> {
    let caller = authenticate(state, meta).await?;
    let session_user_id;
    let result = match &caller {
        Caller::Session(record) => {
            session_user_id = record.principal.user_id();
            GetCallerIdentityResult {
                user_id: &session_user_id,
                account: &record.account,
                arn: record.principal.arn(),
            }
        }
        Caller::User(user) => GetCallerIdentityResult {
            user_id: &user.user_id,
            account: &user.account,
            arn: &user.arn,
        },
    };
    xml::success(Action::GetCallerIdentity, &result, &meta.request_id)
}
