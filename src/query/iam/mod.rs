//! IAM's Query API (version 2010-05-08) on the broker's endpoint, for the actions that explain
//! and simulate decisions: `SimulateCustomPolicy` and `SimulatePrincipalPolicy`
//! ([`simulate`]). Requests reach it through [`crate::query::dispatch`] when `Version` is IAM's;
//! answers use IAM's XML namespace, with STS's envelope and error shape (both are AWS Query
//! APIs). Every action here is an admin action ([`crate::broker::admin`]): signed for `iam` by a caller
//! whose policies allow it.

pub mod simulate;

use serde::Serialize;

use crate::broker::Broker;
use crate::broker::{ApiError, RequestMeta};
use crate::query::{Params, xml};

/// IAM's API version.
pub const VERSION: &str = "2010-05-08";
/// IAM's XML namespace.
pub const NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// The IAM actions this broker serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SimulateCustomPolicy,
    SimulatePrincipalPolicy,
}

impl Action {
    pub fn from_name(name: &str) -> Option<Action> {
        match name {
            "SimulateCustomPolicy" => Some(Action::SimulateCustomPolicy),
            "SimulatePrincipalPolicy" => Some(Action::SimulatePrincipalPolicy),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Action::SimulateCustomPolicy => "SimulateCustomPolicy",
            Action::SimulatePrincipalPolicy => "SimulatePrincipalPolicy",
        }
    }

    pub fn response_tag(self) -> &'static str {
        match self {
            Action::SimulateCustomPolicy => "SimulateCustomPolicyResponse",
            Action::SimulatePrincipalPolicy => "SimulatePrincipalPolicyResponse",
        }
    }

    pub fn result_tag(self) -> &'static str {
        match self {
            Action::SimulateCustomPolicy => "SimulateCustomPolicyResult",
            Action::SimulatePrincipalPolicy => "SimulatePrincipalPolicyResult",
        }
    }
}

/// Runs one IAM Query API request (its `Version` is [`VERSION`]).
pub async fn dispatch(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
    action: &str,
) -> Result<String, ApiError> {
    match Action::from_name(action) {
        Some(a @ Action::SimulateCustomPolicy) => {
            success(a, &simulate::custom(state, params, meta).await?, meta)
        }
        Some(a @ Action::SimulatePrincipalPolicy) => {
            success(a, &simulate::principal(state, params, meta).await?, meta)
        }
        None => Err(ApiError::invalid_action(action, VERSION)),
    }
}

fn success<T: Serialize>(
    action: Action,
    result: &T,
    meta: &RequestMeta,
) -> Result<String, ApiError> {
    xml::success_in(
        NAMESPACE,
        action.response_tag(),
        action.result_tag(),
        result,
        &meta.request_id,
    )
}

/// A Query API list: `<member>` elements.
#[derive(Debug, Serialize)]
pub struct Members<T> {
    pub member: Vec<T>,
}

impl<T> From<Vec<T>> for Members<T> {
    fn from(member: Vec<T>) -> Self {
        Members { member }
    }
}
