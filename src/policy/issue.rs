//! The issue codes of policy findings: IAM Access Analyzer's own codes (its "IAM policy
//! validation check reference") where it has one for the problem, and a few of ours, each
//! documented in docs/policy-engine.md. Every error [`parse`](super::parse) refuses with and
//! every warning [`lint`](super::lint) gives carries one, so `ValidatePolicy` reports them
//! without reading messages.

use serde::Serialize;

/// How much a finding matters, as Access Analyzer's `findingType` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FindingType {
    /// A part of the policy does not work (IAM refuses the document, or the part applies to
    /// no one).
    Error,
    /// The policy allows access that is probably broader than meant.
    SecurityWarning,
    /// The policy does not follow policy-writing practice, without widening access.
    Warning,
    /// A change in style that changes no access.
    Suggestion,
}

impl FindingType {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingType::Error => "ERROR",
            FindingType::SecurityWarning => "SECURITY_WARNING",
            FindingType::Warning => "WARNING",
            FindingType::Suggestion => "SUGGESTION",
        }
    }

    /// The section of Access Analyzer's check reference that lists checks of this type.
    fn section(self) -> &'static str {
        match self {
            FindingType::Error => "error",
            FindingType::SecurityWarning => "security-warning",
            FindingType::Warning => "general-warning",
            FindingType::Suggestion => "suggestion",
        }
    }
}

/// Every issue a finding can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Issue {
    // Errors: IAM refuses the document (or, for a resource policy, a statement applies to no one).
    JsonSyntaxError,
    PolicySizeExceedsMaximum,
    DataTypeMismatch,
    MissingStatement,
    InvalidVersion,
    MissingVersion,
    InvalidPolicyElement,
    MissingEffect,
    InvalidEffect,
    UnsupportedElementCombination,
    InvalidPrincipalKey,
    InvalidPrincipalFormat,
    InvalidConditionOperator,
    MissingPrincipal,
    UnsupportedPrincipal,
    ScpSyntaxErrorPrincipal,
    UniqueSidsRequired,
    MissingAction,
    MissingResource,
    InvalidAction,
    InvalidServiceInAction,
    InvalidArnPrefix,
    InvalidPartition,
    MissingArnField,
    ArnRegionNotAllowed,
    InvalidArnResource,
    TypeMismatchDate,
    // General warnings.
    WildcardWithoutLikeOperator,
    AllowWithNotAction,
    AllowWithNotResource,
    // Security warnings.
    AllowWithNotPrincipal,
    MissingGithubRepoConditionKey,
    MissingSubConditionKeyForSharedIssuer,
    PublicPrincipalWithoutCondition,
    WildcardIamOrStsAction,
    PassRoleWithStarInResource,
    // Suggestions.
    LikeOperatorWithoutWildcard,
    RedundantStatement,
}

/// Where Access Analyzer documents its checks; a check's anchor is its section and its code.
const CHECK_REFERENCE: &str =
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html";
const IAM_GUIDE: &str = "https://docs.aws.amazon.com/IAM/latest/UserGuide/";

impl Issue {
    /// The code on the wire (`issueCode`).
    pub fn code(self) -> &'static str {
        match self {
            Issue::JsonSyntaxError => "JSON_SYNTAX_ERROR",
            Issue::PolicySizeExceedsMaximum => "POLICY_SIZE_EXCEEDS_VALIDATE_POLICY_MAXIMUM",
            Issue::DataTypeMismatch => "DATA_TYPE_MISMATCH",
            Issue::MissingStatement => "MISSING_STATEMENT",
            Issue::InvalidVersion => "INVALID_VERSION",
            Issue::MissingVersion => "MISSING_VERSION",
            Issue::InvalidPolicyElement => "INVALID_POLICY_ELEMENT",
            Issue::MissingEffect => "MISSING_EFFECT",
            Issue::InvalidEffect => "INVALID_EFFECT",
            Issue::UnsupportedElementCombination => "UNSUPPORTED_ELEMENT_COMBINATION",
            Issue::InvalidPrincipalKey => "INVALID_PRINCIPAL_KEY",
            Issue::InvalidPrincipalFormat => "INVALID_PRINCIPAL_FORMAT",
            Issue::InvalidConditionOperator => "INVALID_CONDITION_OPERATOR",
            Issue::MissingPrincipal => "MISSING_PRINCIPAL",
            Issue::UnsupportedPrincipal => "UNSUPPORTED_PRINCIPAL",
            Issue::ScpSyntaxErrorPrincipal => "SCP_SYNTAX_ERROR_PRINCIPAL",
            Issue::UniqueSidsRequired => "UNIQUE_SIDS_REQUIRED",
            Issue::MissingAction => "MISSING_ACTION",
            Issue::MissingResource => "MISSING_RESOURCE",
            Issue::InvalidAction => "INVALID_ACTION",
            Issue::InvalidServiceInAction => "INVALID_SERVICE_IN_ACTION",
            Issue::InvalidArnPrefix => "INVALID_ARN_PREFIX",
            Issue::InvalidPartition => "INVALID_PARTITION",
            Issue::MissingArnField => "MISSING_ARN_FIELD",
            Issue::ArnRegionNotAllowed => "ARN_REGION_NOT_ALLOWED",
            Issue::InvalidArnResource => "INVALID_ARN_RESOURCE",
            Issue::TypeMismatchDate => "TYPE_MISMATCH_DATE",
            Issue::WildcardWithoutLikeOperator => "WILDCARD_WITHOUT_LIKE_OPERATOR",
            Issue::AllowWithNotAction => "ALLOW_WITH_NOT_ACTION",
            Issue::AllowWithNotResource => "ALLOW_WITH_NOT_RESOURCE",
            Issue::AllowWithNotPrincipal => "ALLOW_WITH_NOT_PRINCIPAL",
            Issue::MissingGithubRepoConditionKey => "MISSING_GITHUB_REPO_CONDITION_KEY",
            Issue::MissingSubConditionKeyForSharedIssuer => {
                "MISSING_SUB_CONDITION_KEY_FOR_SHARED_ISSUER"
            }
            Issue::PublicPrincipalWithoutCondition => "PUBLIC_PRINCIPAL_WITHOUT_CONDITION",
            Issue::WildcardIamOrStsAction => "WILDCARD_IAM_OR_STS_ACTION",
            Issue::PassRoleWithStarInResource => "PASS_ROLE_WITH_STAR_IN_RESOURCE",
            Issue::LikeOperatorWithoutWildcard => "LIKE_OPERATOR_WITHOUT_WILDCARD",
            Issue::RedundantStatement => "REDUNDANT_STATEMENT",
        }
    }

    /// The finding type of a finding with this issue. Every refusal by IAM is an `ERROR`
    /// whatever this says (a missing `Version` is refused in identity policies and only
    /// warned about elsewhere).
    pub fn finding_type(self) -> FindingType {
        self.reference().0
    }

    /// The type the issue is reported as, and whether Access Analyzer documents the code (in
    /// the section of that type, or, for `TYPE_MISMATCH_DATE`, among general warnings).
    fn reference(self) -> (FindingType, Reference) {
        use FindingType::{Error, SecurityWarning, Suggestion, Warning};
        use Reference::{AccessAnalyzer, Ours};
        match self {
            Issue::JsonSyntaxError
            | Issue::DataTypeMismatch
            | Issue::MissingStatement
            | Issue::InvalidVersion
            | Issue::InvalidPolicyElement
            | Issue::MissingEffect
            | Issue::InvalidEffect
            | Issue::UnsupportedElementCombination
            | Issue::InvalidPrincipalKey
            | Issue::InvalidPrincipalFormat
            | Issue::InvalidConditionOperator
            | Issue::MissingPrincipal
            | Issue::UnsupportedPrincipal
            | Issue::ScpSyntaxErrorPrincipal
            | Issue::UniqueSidsRequired
            | Issue::MissingAction
            | Issue::MissingResource
            | Issue::InvalidAction
            | Issue::InvalidServiceInAction
            | Issue::InvalidArnPrefix
            | Issue::InvalidPartition
            | Issue::MissingArnField
            | Issue::ArnRegionNotAllowed
            | Issue::InvalidArnResource => (Error, AccessAnalyzer(Error)),
            Issue::TypeMismatchDate => (Error, AccessAnalyzer(Warning)),
            Issue::PolicySizeExceedsMaximum => (Error, Ours("reference_iam-quotas.html")),
            Issue::MissingVersion | Issue::WildcardWithoutLikeOperator => {
                (Warning, AccessAnalyzer(Warning))
            }
            Issue::AllowWithNotAction => {
                (Warning, Ours("reference_policies_elements_notaction.html"))
            }
            Issue::AllowWithNotResource => (
                Warning,
                Ours("reference_policies_elements_notresource.html"),
            ),
            Issue::AllowWithNotPrincipal
            | Issue::MissingGithubRepoConditionKey
            | Issue::PassRoleWithStarInResource => {
                (SecurityWarning, AccessAnalyzer(SecurityWarning))
            }
            Issue::MissingSubConditionKeyForSharedIssuer => {
                (SecurityWarning, Ours("id_roles_create_for-idp_oidc.html"))
            }
            Issue::PublicPrincipalWithoutCondition => (
                SecurityWarning,
                Ours("reference_policies_elements_principal.html"),
            ),
            Issue::WildcardIamOrStsAction => (SecurityWarning, Ours("best-practices.html")),
            Issue::LikeOperatorWithoutWildcard => (
                Suggestion,
                Ours("reference_policies_elements_condition_operators.html"),
            ),
            Issue::RedundantStatement => (Suggestion, AccessAnalyzer(Suggestion)),
        }
    }

    /// `learnMoreLink`: the check's entry in Access Analyzer's reference, or for our own codes
    /// the IAM User Guide page on what they are about.
    pub fn learn_more_link(self) -> String {
        match self.reference().1 {
            Reference::AccessAnalyzer(section) => format!(
                "{CHECK_REFERENCE}#access-analyzer-reference-policy-checks-{}-{}",
                section.section(),
                self.code().to_ascii_lowercase().replace('_', "-")
            ),
            Reference::Ours(page) => format!("{IAM_GUIDE}{page}"),
        }
    }
}

/// Who documents an issue code.
#[derive(Debug, Clone, Copy)]
enum Reference {
    /// Access Analyzer, in the section of this type.
    AccessAnalyzer(FindingType),
    /// We do (docs/policy-engine.md); the link is this IAM User Guide page.
    Ours(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_name_access_analyzers_anchor_or_an_iam_guide_page() {
        assert_eq!(
            Issue::RedundantStatement.learn_more_link(),
            "https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html#access-analyzer-reference-policy-checks-suggestion-redundant-statement"
        );
        assert!(
            Issue::MissingVersion
                .learn_more_link()
                .ends_with("-general-warning-missing-version")
        );
        assert!(
            Issue::TypeMismatchDate
                .learn_more_link()
                .ends_with("-general-warning-type-mismatch-date")
        );
        assert!(
            Issue::AllowWithNotPrincipal
                .learn_more_link()
                .ends_with("-security-warning-allow-with-not-principal")
        );
        assert_eq!(
            Issue::PublicPrincipalWithoutCondition.learn_more_link(),
            "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html"
        );
        assert_eq!(Issue::TypeMismatchDate.finding_type(), FindingType::Error);
    }
}
