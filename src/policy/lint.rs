//! Warnings: valid policies that probably do not mean what their author wanted. None of these
//! make a policy invalid; `sts-broker policy lint` prints them and `check-config` reports them.

use super::PolicyType;
use super::condition::{BaseOp, Family};
use super::document::{Clause, Effect, Policy, Statement};
use super::error::{PathStep, Warning};
use super::issue::Issue;
use super::principal::PrincipalType;

/// OIDC issuers shared by many tenants: a trust policy on them must pin `sub`, or any
/// repository, project or pipeline on the platform can assume the role.
const SHARED_ISSUERS: [&str; 4] = [
    "token.actions.githubusercontent.com",
    "gitlab.com",
    "app.terraform.io",
    "oidc.circleci.com",
];

/// GitHub's issuer, whose repository claims may pin a role instead of `sub`.
const GITHUB: &str = "token.actions.githubusercontent.com";

/// Findings for `policy` used as `policy_type`.
pub fn lint(policy: &Policy, policy_type: PolicyType) -> Vec<Warning> {
    let mut out = Vec::new();
    for statement in &policy.statements {
        let mut warn = |code: &'static str, issue: Issue, message: String, at: Vec<PathStep>| {
            out.push(Warning {
                code,
                issue,
                message,
                statement: Some(statement.index),
                sid: statement.sid.clone(),
                at,
            })
        };
        for c in &statement.conditions {
            let equals = matches!(
                c.operator.base.family(),
                Family::String | Family::StringIgnoreCase
            );
            if let Some((i, v)) = c
                .raw_values
                .iter()
                .enumerate()
                .find(|(_, v)| equals && v.contains(['*', '?']))
            {
                let at = vec![
                    PathStep::Key("Condition".to_owned()),
                    PathStep::Key(c.operator.to_string()),
                    PathStep::Key(c.key.clone()),
                    PathStep::Index(i),
                ];
                warn(
                    "wildcard-in-string-equals",
                    Issue::WildcardWithoutLikeOperator,
                    format!(
                        "{} compares \"{v}\" literally for {}; the wildcard never matches. Did you mean {}?",
                        c.operator,
                        c.key,
                        if c.operator.base.is_negated() {
                            "StringNotLike"
                        } else {
                            "StringLike"
                        }
                    ),
                    at,
                );
            }
        }
        if statement.effect == Effect::Allow {
            if let Some(Clause::Not(_)) = &statement.action {
                warn(
                    "allow-with-not-action",
                    Issue::AllowWithNotAction,
                    "Allow with NotAction grants every action not listed, including ones added to AWS later"
                        .to_owned(),
                    vec![PathStep::Key("NotAction".to_owned())],
                );
            }
            if let Some(Clause::Not(_)) = &statement.resource {
                warn(
                    "allow-with-not-resource",
                    Issue::AllowWithNotResource,
                    "Allow with NotResource grants access to every resource not listed".to_owned(),
                    vec![PathStep::Key("NotResource".to_owned())],
                );
            }
        }
        if matches!(policy_type, PolicyType::Resource | PolicyType::Trust)
            && statement.principal.is_none()
        {
            warn(
                "no-principal",
                Issue::MissingPrincipal,
                "the statement has no Principal, so it applies to no one".to_owned(),
                Vec::new(),
            );
        }
        let trust_like = matches!(policy_type, PolicyType::Resource | PolicyType::Trust);
        if trust_like && statement.effect == Effect::Allow && allows_web_identity(statement) {
            for (issuer, provider) in shared_issuers_trusted(statement) {
                if !pins_subject(statement, issuer) {
                    let (issue, claims) = if issuer == GITHUB {
                        let claims = format!(
                            "{issuer}:sub, {issuer}:repository or {issuer}:repository_owner"
                        );
                        (Issue::MissingGithubRepoConditionKey, claims)
                    } else {
                        let claims = format!("{issuer}:sub");
                        (Issue::MissingSubConditionKeyForSharedIssuer, claims)
                    };
                    warn(
                        "shared-issuer-without-sub",
                        issue,
                        format!(
                            "the role trusts {issuer} with no condition on {claims}, so any \
                             repository or project on that platform can assume it"
                        ),
                        vec![
                            PathStep::Key("Principal".to_owned()),
                            PathStep::Key("Federated".to_owned()),
                            PathStep::Text(provider.to_owned()),
                        ],
                    );
                }
            }
        }
    }
    out
}

/// The shared issuers the statement trusts, each with the `Federated` entry naming it.
fn shared_issuers_trusted(statement: &Statement) -> Vec<(&'static str, &str)> {
    let Some(Clause::Is(set)) = &statement.principal else {
        return Vec::new();
    };
    SHARED_ISSUERS
        .into_iter()
        .filter_map(|issuer| {
            set.entries
                .iter()
                .find(|(kind, value)| {
                    *kind == PrincipalType::Federated
                        && (value == issuer || value.ends_with(&format!(":oidc-provider/{issuer}")))
                })
                .map(|(_, value)| (issuer, value.as_str()))
        })
        .collect()
}

/// Whether the statement's actions include `sts:AssumeRoleWithWebIdentity`.
fn allows_web_identity(statement: &Statement) -> bool {
    const ACTION: &str = "sts:assumerolewithwebidentity";
    match &statement.action {
        Some(Clause::Is(patterns)) => patterns.iter().any(|p| p.matches(ACTION)),
        Some(Clause::Not(patterns)) => !patterns.iter().any(|p| p.matches(ACTION)),
        None => false,
    }
}

/// A positive condition on `ISSUER:sub` (for GitHub also on its `repository` or
/// `repository_owner` claim) whose values are not just `*`.
fn pins_subject(statement: &Statement, issuer: &str) -> bool {
    let mut keys = vec![format!("{issuer}:sub")];
    if issuer == GITHUB {
        keys.push(format!("{issuer}:repository"));
        keys.push(format!("{issuer}:repository_owner"));
    }
    statement.conditions.iter().any(|c| {
        keys.iter().any(|k| c.key_lower() == k)
            && !c.operator.base.is_negated()
            && c.operator.base != BaseOp::Null
            && !c.operator.if_exists
            && c.raw_values.iter().all(|v| !v.trim_matches('*').is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::parse;

    fn codes(text: &str, t: PolicyType) -> Vec<&'static str> {
        lint(&parse(text, t).unwrap(), t)
            .into_iter()
            .map(|w| w.code)
            .collect()
    }

    #[test]
    fn wildcard_under_string_equals() {
        let p = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*",
            "Condition":{"StringEquals":{"aws:PrincipalTag/team":"blue*"}}}}"#;
        assert_eq!(
            codes(p, PolicyType::Identity),
            ["wildcard-in-string-equals"]
        );
        let ok = p.replace("StringEquals", "StringLike");
        assert!(codes(&ok, PolicyType::Identity).is_empty());
    }

    #[test]
    fn github_trust_without_sub() {
        let p = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRoleWithWebIdentity",
            "Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},
            "Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}}}}"#;
        assert_eq!(codes(p, PolicyType::Trust), ["shared-issuer-without-sub"]);
        let star = p.replace(
            r#""StringEquals":{"#,
            r#""StringLike":{"token.actions.githubusercontent.com:sub":"*"},"StringEquals":{"#,
        );
        assert_eq!(
            codes(&star, PolicyType::Trust),
            ["shared-issuer-without-sub"]
        );
        let pinned = p.replace(
            r#""StringEquals":{"#,
            r#""StringLike":{"token.actions.githubusercontent.com:sub":"repo:org/app:*"},"StringEquals":{"#,
        );
        assert!(codes(&pinned, PolicyType::Trust).is_empty());
    }

    #[test]
    fn allow_with_not_action_or_not_resource() {
        let p = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","NotAction":"iam:*","Resource":"*"},
            {"Effect":"Allow","Action":"s3:*","NotResource":"arn:aws:s3:::secret/*"},
            {"Effect":"Deny","NotAction":"s3:*","Resource":"*"}]}"#;
        assert_eq!(
            codes(p, PolicyType::Identity),
            ["allow-with-not-action", "allow-with-not-resource"]
        );
    }

    #[test]
    fn resource_statement_without_principal() {
        let p = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#;
        assert_eq!(codes(p, PolicyType::Resource), ["no-principal"]);
        assert!(codes(p, PolicyType::Identity).is_empty());
    }
}
