//! The few places where a service's own rules change the general evaluation logic, each one
//! documented by AWS: resources whose own policy must consent ([`resource_policy_required`]:
//! STS trust policies, KMS key policies) and fixed prohibitions ([`forbidden`]: AWS managed IAM
//! policies, `/aws-reserved/` roles, KMS's `alias/aws/...`). STS's `GetCallerIdentity`, which
//! needs no permission, is handled in `decide`.

use super::arn::Arn;
use super::context::Request;

const MANAGED_POLICY_WRITES: [&str; 7] = [
    "iam:createpolicy",
    "iam:createpolicyversion",
    "iam:deletepolicy",
    "iam:deletepolicyversion",
    "iam:setdefaultpolicyversion",
    "iam:tagpolicy",
    "iam:untagpolicy",
];

const RESERVED_ROLE_WRITES: [&str; 16] = [
    "iam:attachrolepolicy",
    "iam:createrole",
    "iam:createservicelinkedrole",
    "iam:deleterole",
    "iam:deleterolepermissionsboundary",
    "iam:deleterolepolicy",
    "iam:deleteservicelinkedrole",
    "iam:detachrolepolicy",
    "iam:passrole",
    "iam:putrolepermissionsboundary",
    "iam:putrolepolicy",
    "iam:tagrole",
    "iam:untagrole",
    "iam:updateassumerolepolicy",
    "iam:updaterole",
    "iam:updateroledescription",
];

const ALIAS_WRITES: [&str; 3] = ["kms:createalias", "kms:deletealias", "kms:updatealias"];

/// Whether identity policies need the resource policy's consent even within the account.
/// STS: a role's trust policy must allow the caller; within the account, an identity policy
/// alone is enough only when the trust policy trusts the account ("Roles terms and concepts").
/// KMS: a key policy must allow access to its key; identity policies count only when the key
/// policy delegates to the account ("Key policies in AWS KMS").
pub(crate) fn resource_policy_required(request: &Request, has_resource_policy: bool) -> bool {
    let service = request.action_lower().split(':').next().unwrap_or("");
    match service {
        // Actions on roles consult the trust policy; others (GetFederationToken...) have none.
        "sts" => has_resource_policy,
        "kms" => request
            .resource
            .arn()
            .is_some_and(|a| a.resource.starts_with("key/")),
        _ => false,
    }
}

/// A fixed service rule that forbids the request whatever the policies say: AWS managed
/// policies and roles under `/aws-reserved/` cannot be changed by anyone, and AWS managed KMS
/// aliases (`alias/aws/...`) cannot be created, changed or deleted.
pub(crate) fn forbidden(request: &Request) -> Option<&'static str> {
    let action = request.action_lower();
    let arn = Arn::parse(request.resource.name())?;
    if arn.service.eq_ignore_ascii_case("iam") {
        if arn.account == "aws"
            && arn.resource.starts_with("policy/")
            && MANAGED_POLICY_WRITES.contains(&action)
        {
            return Some("AWS managed policies cannot be changed");
        }
        if arn
            .resource
            .to_ascii_lowercase()
            .starts_with("role/aws-reserved/")
            && RESERVED_ROLE_WRITES.contains(&action)
        {
            return Some("roles under /aws-reserved/ are managed by AWS and cannot be changed");
        }
    }
    if arn.service.eq_ignore_ascii_case("kms")
        && arn.resource.starts_with("alias/aws/")
        && ALIAS_WRITES.contains(&action)
    {
        return Some("AWS managed KMS aliases cannot be changed");
    }
    None
}
