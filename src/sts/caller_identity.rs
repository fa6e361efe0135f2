//! `GetCallerIdentity`: who signed this request. Needs no permission (AWS answers it even under
//! an explicit deny), so it is also the identity proof that Vault's AWS auth and Kubernetes'
//! aws-iam-authenticator send as a presigned URL.

use serde::Serialize;

use super::caller::{Caller, authenticate};
use super::error::StsError;
use super::{Action, RequestMeta, xml};
use crate::app::AppState;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetCallerIdentityResult<'a> {
    user_id: &'a str,
    account: &'a str,
    arn: &'a str,
}

pub async fn get_caller_identity(state: &AppState, meta: &RequestMeta) -> Result<String, StsError> {
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
