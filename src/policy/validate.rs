//! Kind-specific validation (placeholder until the IAM rules land).

use super::PolicyType;
use super::document::Policy;
use super::error::PolicyError;
use super::json::Json;

pub(crate) fn check(_json: &Json, _policy: &Policy, _policy_type: PolicyType) -> Result<(), PolicyError> {
    Ok(())
}
