//! Warnings: valid policies that probably do not mean what their author wanted. None of these
//! make a policy invalid; `sts-broker policy lint` prints them and `check-config` reports them.

use super::PolicyType;
use super::condition::{BaseOp, Family};
use super::document::{Clause, Effect, Policy, Statement};
use super::error::Warning;
use super::principal::PrincipalType;

/// OIDC issuers shared by many tenants: a trust policy on them must pin `sub`, or any
/// repository, project or pipeline on the platform can assume the role.
const SHARED_ISSUERS: [&str; 4] = [
    "token.actions.githubusercontent.com",
    "gitlab.com",
    "app.terraform.io",
    "oidc.circleci.com",
];

/// Findings for `policy` used as `policy_type`.
pub fn lint(policy: &Policy, policy_type: PolicyType) -> Vec<Warning> {
    let mut out = Vec::new();
    for statement in &policy.statements {
        let mut warn = |code: &'static str, message: String| {
            out.push(Warning {
                code,
                message,
                statement: Some(statement.index),
                sid: statement.sid.clone(),
            })
        };
        for c in &statement.conditions {
            let equals = matches!(
                c.operator.base.family(),
                Family::String | Family::StringIgnoreCase
            );
            if let Some(v) = c
                .raw_values
                .iter()
                .find(|v| equals && v.contains(['*', '?']))
            {
                warn(
                    "wildcard-in-string-equals",
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
                );
            }
        }
        if statement.effect == Effect::Allow {
            if let Some(Clause::Not(_)) = &statement.action {
                warn(
                    "allow-with-not-action",
                    "Allow with NotAction grants every action not listed, including ones added to AWS later"
                        .to_owned(),
                );
            }
            if let Some(Clause::Not(_)) = &statement.resource {
                warn(
                    "allow-with-not-resource",
                    "Allow with NotResource grants access to every resource not listed".to_owned(),
                );
            }
        }
        if matches!(policy_type, PolicyType::Resource | PolicyType::Trust)
            && statement.principal.is_none()
        {
            warn(
                "no-principal",
                "the statement has no Principal, so it applies to no one".to_owned(),
            );
        }
        if policy_type == PolicyType::Trust && statement.effect == Effect::Allow {
            for issuer in shared_issuers_trusted(statement) {
                if !pins_subject(statement, issuer) {
                    warn(
                        "shared-issuer-without-sub",
                        format!(
                            "the role trusts {issuer} with no condition on {issuer}:sub, so any \
                             repository or project on that platform can assume it"
                        ),
                    );
                }
            }
        }
    }
    out
}

fn shared_issuers_trusted(statement: &Statement) -> Vec<&'static str> {
    let Some(Clause::Is(set)) = &statement.principal else {
        return Vec::new();
    };
    SHARED_ISSUERS
        .into_iter()
        .filter(|issuer| {
            set.entries.iter().any(|(kind, value)| {
                *kind == PrincipalType::Federated
                    && (value == issuer || value.ends_with(&format!(":oidc-provider/{issuer}")))
            })
        })
        .collect()
}

/// A positive condition on `ISSUER:sub` whose values are not just `*`.
fn pins_subject(statement: &Statement, issuer: &str) -> bool {
    let key = format!("{issuer}:sub");
    statement.conditions.iter().any(|c| {
        c.key_lower() == key
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
