//! Warnings: valid policies that probably do not mean what their author wanted. None of these
//! make a policy invalid; `sts-broker policy lint` prints them and `check-config` reports them.

use super::PolicyType;
use super::condition::Family;
use super::document::{Clause, Effect, Policy};
use super::error::{PathStep, Warning};
use super::issue::Issue;
use super::trust::{self, PublicIdps};

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
        if trust_like && statement.effect == Effect::Allow && trust::allows_web_identity(statement)
        {
            // The public providers, and what pins a subject, are trust.rs's: `sts-broker
            // analyze external` reports the same trusts.
            for (entry, path, rules) in trust::public_providers(statement, &PublicIdps::default()) {
                if !trust::pins_subject(statement, path, rules) {
                    let issue = if rules.is_github() {
                        Issue::MissingGithubRepoConditionKey
                    } else {
                        Issue::MissingSubConditionKeyForSharedIssuer
                    };
                    warn(
                        "shared-issuer-without-sub",
                        issue,
                        format!(
                            "the role trusts {path} with no condition on {}, so any \
                             repository or project on that platform can assume it",
                            rules.named_keys(path)
                        ),
                        vec![
                            PathStep::Key("Principal".to_owned()),
                            PathStep::Key("Federated".to_owned()),
                            PathStep::Text(entry.to_owned()),
                        ],
                    );
                }
            }
        }
    }
    out
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
