//! The checks `ValidatePolicy` runs on a valid policy besides [`lint`](crate::policy::lint)'s:
//! access granted to everyone without a condition, `Allow` with `NotPrincipal`, every IAM or
//! STS action allowed, `iam:PassRole` on any role, `*Like` operators given no wildcard, and
//! statements another statement already covers. Each result names its statement and where in
//! it, for [`findings`](super) to place in the text.
//!
//! Pure, and bounded: comparing statements for redundancy stops after a fixed amount of work.

use crate::policy::PolicyType;
use crate::policy::condition::{Condition, Family};
use crate::policy::document::{Clause, Effect, Policy, Statement};
use crate::policy::error::PathStep;
use crate::policy::glob::{Glob, covers, overlaps, tokenize};
use crate::policy::issue::Issue;
use crate::policy::principal::{PrincipalSet, PrincipalType};

/// Statement pairs and pattern characters compared for redundancy before it is given up: far
/// more than an IAM-sized policy (a few hundred statements at most) needs, and some 16 ms for
/// all of `validate_policy` on the largest document (`cargo bench --bench policy -- validate`).
const REDUNDANCY_BUDGET: usize = 1_000_000;

/// One result: the issue, what it means here, and where (statement index, steps inside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub issue: Issue,
    pub message: String,
    pub at: Vec<(usize, Vec<PathStep>)>,
}

fn key(k: &str) -> PathStep {
    PathStep::Key(k.to_owned())
}

fn found(issue: Issue, message: String, statement: usize, steps: Vec<PathStep>) -> Found {
    Found {
        issue,
        message,
        at: vec![(statement, steps)],
    }
}

/// Every result for `policy` used as `policy_type`, statement by statement, redundancy last.
pub(crate) fn run(policy: &Policy, policy_type: PolicyType) -> Vec<Found> {
    let mut out = Vec::new();
    for st in &policy.statements {
        if st.effect == Effect::Allow {
            if policy_type.has_principal() {
                principals(st, &mut out);
            }
            actions(st, &mut out);
        }
        like_without_wildcard(st, &mut out);
    }
    out.extend(redundant(policy));
    out
}

/// `"Principal": "*"` (or `{"AWS": "*"}`) with no condition, and `Allow` with `NotPrincipal`.
fn principals(st: &Statement, out: &mut Vec<Found>) {
    match &st.principal {
        Some(Clause::Is(set)) if set.everyone && st.conditions.is_empty() => {
            let mut steps = vec![key("Principal")];
            if set
                .entries
                .iter()
                .any(|(kind, v)| *kind == PrincipalType::Aws && v == "*")
            {
                steps.extend([key("AWS"), PathStep::Text("*".to_owned())]);
            }
            let message = "The statement allows everyone (\"*\") with no condition: every AWS \
                account, and anonymous callers where the service accepts them. Name the principals, \
                or add a condition such as aws:PrincipalOrgID, aws:SourceAccount or aws:SourceArn.";
            out.push(found(
                Issue::PublicPrincipalWithoutCondition,
                message.to_owned(),
                st.index,
                steps,
            ));
        }
        Some(Clause::Not(_)) => {
            let message = "Using Allow with NotPrincipal can be overly permissive: it allows every \
                principal not listed, anonymous ones included. We recommend that you use Principal \
                instead.";
            out.push(found(
                Issue::AllowWithNotPrincipal,
                message.to_owned(),
                st.index,
                vec![key("NotPrincipal")],
            ));
        }
        _ => {}
    }
}

/// Allowed actions: every IAM or STS action at once, and `iam:PassRole` on any role.
fn actions(st: &Statement, out: &mut Vec<Found>) {
    let Some(Clause::Is(patterns)) = &st.action else {
        return;
    };
    for p in patterns {
        if let Some(what) = whole_service(&p.raw) {
            let message = format!(
                "The action \"{}\" allows {what}: whoever holds it can change their own \
                 permissions or take on other roles. Allow only the actions needed.",
                p.raw
            );
            out.push(found(
                Issue::WildcardIamOrStsAction,
                message,
                st.index,
                vec![key("Action"), PathStep::Text(p.raw.clone())],
            ));
        }
    }
    let passes_role = patterns.iter().any(|p| p.matches("iam:passrole"));
    let scoped = st
        .conditions
        .iter()
        .any(|c| c.key_lower() == "iam:passedtoservice");
    if !passes_role || scoped {
        return;
    }
    let Some(Clause::Is(resources)) = &st.resource else {
        return;
    };
    if let Some(r) = resources.iter().find(|r| any_role(&r.raw)) {
        let message = "Using the iam:PassRole action with wildcards (*) in the resource can be \
            overly permissive because it allows iam:PassRole permissions on multiple resources. We \
            recommend that you specify resource ARNs or add the iam:PassedToService condition key to \
            your statement.";
        out.push(found(
            Issue::PassRoleWithStarInResource,
            message.to_owned(),
            st.index,
            vec![key("Resource"), PathStep::Text(r.raw.clone())],
        ));
    }
}

/// What an action pattern allows when it is every action of IAM or STS (its action part only
/// wildcards, its service matching `iam` or `sts`), or every action of every service.
fn whole_service(raw: &str) -> Option<&'static str> {
    let lower = raw.trim().to_ascii_lowercase();
    if lower.chars().all(|c| c == '*') {
        return Some("every action of every service, IAM's and STS's included");
    }
    let (service, action) = lower.split_once(':')?;
    if action.is_empty() || !action.chars().all(|c| c == '*') {
        return None;
    }
    let service = Glob::new(service);
    match (service.matches("iam"), service.matches("sts")) {
        (true, true) => Some("every IAM and STS action"),
        (true, false) => Some("every IAM action"),
        (false, true) => Some("every STS action"),
        (false, false) => None,
    }
}

/// Whether a resource pattern names more than one role: `*`, or an IAM ARN whose resource part
/// has a wildcard and can name a role.
fn any_role(raw: &str) -> bool {
    if raw == "*" {
        return true;
    }
    let fields: Vec<&str> = raw.splitn(6, ':').collect();
    let [_, _, service, _, _, resource] = fields.as_slice() else {
        return false;
    };
    Glob::new(&service.to_ascii_lowercase()).matches("iam")
        && resource.contains(['*', '?'])
        && overlaps(&tokenize(resource), &tokenize("role/*"))
}

/// A `StringLike`-family operator whose values hold no wildcard compares for equality.
fn like_without_wildcard(st: &Statement, out: &mut Vec<Found>) {
    for c in &st.conditions {
        if c.operator.base.family() != Family::StringLike || c.raw_values.is_empty() {
            continue;
        }
        // `${*}`, `${?}` and `${$}` stand for the characters themselves.
        let wild = |v: &String| {
            v.replace("${*}", "")
                .replace("${?}", "")
                .contains(['*', '?'])
        };
        if c.raw_values.iter().any(wild) {
            continue;
        }
        let equals = if c.operator.base.is_negated() {
            "StringNotEquals"
        } else {
            "StringEquals"
        };
        let message = format!(
            "{} compares {} with values that hold no wildcard (* or ?), so it matches exactly as \
             {equals} would; use {equals} to say so.",
            c.operator, c.key
        );
        out.push(found(
            Issue::LikeOperatorWithoutWildcard,
            message,
            st.index,
            vec![key("Condition"), key(&c.operator.to_string()), key(&c.key)],
        ));
    }
}

/// Statements whose every request another statement of the same effect already matches (the
/// later of two identical ones).
fn redundant(policy: &Policy) -> Vec<Found> {
    let mut budget = REDUNDANCY_BUDGET;
    let mut out = Vec::new();
    for inner in &policy.statements {
        for outer in &policy.statements {
            if budget == 0 {
                return out;
            }
            budget -= 1;
            if outer.index == inner.index || !statement_covers(outer, inner, &mut budget) {
                continue;
            }
            let identical = statement_covers(inner, outer, &mut budget);
            if identical && inner.index < outer.index {
                continue;
            }
            let message = format!(
                "The statements are redundant: {} already allows or denies everything {} does \
                 ({}). Remove the redundant statement.",
                outer.label(),
                inner.label(),
                if identical {
                    "they are the same"
                } else {
                    "its actions, resources and principals include these, under the same or fewer conditions"
                }
            );
            out.push(Found {
                issue: Issue::RedundantStatement,
                message,
                at: vec![(inner.index, Vec::new()), (outer.index, Vec::new())],
            });
            break;
        }
    }
    out
}

/// Whether every request `inner` matches, `outer` matches too, with the same effect.
fn statement_covers(outer: &Statement, inner: &Statement, budget: &mut usize) -> bool {
    outer.effect == inner.effect
        && principal_covers(outer.principal.as_ref(), inner.principal.as_ref())
        && outer
            .conditions
            .iter()
            .all(|c| inner.conditions.iter().any(|d| same_condition(c, d)))
        && clause_covers(
            outer.action.as_ref(),
            inner.action.as_ref(),
            |p| p.raw.to_ascii_lowercase(),
            budget,
        )
        && clause_covers(
            outer.resource.as_ref(),
            inner.resource.as_ref(),
            |p| p.raw.clone(),
            budget,
        )
}

fn principal_covers(
    outer: Option<&Clause<PrincipalSet>>,
    inner: Option<&Clause<PrincipalSet>>,
) -> bool {
    let within = |o: &PrincipalSet, i: &PrincipalSet| {
        (o.everyone || !i.everyone) && i.entries.iter().all(|e| o.entries.contains(e))
    };
    match (outer, inner) {
        (None, None) => true,
        (Some(Clause::Is(o)), Some(Clause::Is(i))) => o.everyone || within(o, i),
        (Some(Clause::Not(o)), Some(Clause::Not(i))) => within(i, o) && within(o, i),
        _ => false,
    }
}

fn same_condition(a: &Condition, b: &Condition) -> bool {
    let sorted = |c: &Condition| {
        let mut v = c.raw_values.clone();
        v.sort();
        v.dedup();
        v
    };
    a.operator == b.operator && a.key_lower() == b.key_lower() && sorted(a) == sorted(b)
}

/// Whether the `outer` element (`Action`, `Resource`...) matches all `inner` does, from the
/// patterns' text: `Is` lists by pattern containment, `Not` lists by the reverse.
fn clause_covers<P>(
    outer: Option<&Clause<Vec<P>>>,
    inner: Option<&Clause<Vec<P>>>,
    text: impl Fn(&P) -> String,
    budget: &mut usize,
) -> bool {
    let all_within = |small: &[P], large: &[P], budget: &mut usize| {
        small.iter().all(|s| {
            let s = text(s);
            large.iter().any(|l| pattern_covers(&text(l), &s, budget))
        })
    };
    match (outer, inner) {
        (None, None) => true,
        (Some(Clause::Is(o)), Some(Clause::Is(i))) => all_within(i, o, budget),
        (Some(Clause::Not(o)), Some(Clause::Not(i))) => all_within(o, i, budget),
        (Some(Clause::Is(o)), Some(Clause::Not(_))) => o.iter().any(|p| text(p) == "*"),
        _ => false,
    }
}

/// Whether every string `inner` matches, `outer` matches. A policy variable is compared as
/// text: only an identical pattern or `*` covers one.
fn pattern_covers(outer: &str, inner: &str, budget: &mut usize) -> bool {
    if outer == inner || outer == "*" {
        return true;
    }
    if outer.contains("${") || inner.contains("${") {
        return false;
    }
    let cost = outer.len().saturating_mul(inner.len()).max(1);
    if cost > *budget {
        *budget = 0;
        return false;
    }
    *budget -= cost;
    covers(&tokenize(outer), &tokenize(inner))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::parse;

    fn codes(statements: &str, t: PolicyType) -> Vec<(&'static str, Vec<usize>)> {
        let text = format!(r#"{{"Version":"2012-10-17","Statement":{statements}}}"#);
        run(&parse(&text, t).unwrap(), t)
            .into_iter()
            .map(|f| (f.issue.code(), f.at.iter().map(|(i, _)| *i).collect()))
            .collect()
    }

    #[test]
    fn everyone_without_a_condition() {
        let open =
            r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"*"}"#;
        assert_eq!(
            codes(open, PolicyType::Resource),
            [("PUBLIC_PRINCIPAL_WITHOUT_CONDITION", vec![0])]
        );
        let scoped = open.replace(
            r#""Resource":"*""#,
            r#""Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}"#,
        );
        assert!(codes(&scoped, PolicyType::Resource).is_empty());
        let deny = open.replace("Allow", "Deny");
        assert!(codes(&deny, PolicyType::Resource).is_empty());
        let named = open.replace(r#""*"},"#, r#""111122223333"},"#);
        assert!(codes(&named, PolicyType::Resource).is_empty());
    }

    #[test]
    fn allow_with_not_principal() {
        let p = r#"{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:*","Resource":"*"}"#;
        assert_eq!(
            codes(p, PolicyType::Resource),
            [("ALLOW_WITH_NOT_PRINCIPAL", vec![0])]
        );
        assert!(codes(&p.replace("Allow", "Deny"), PolicyType::Resource).is_empty());
    }

    #[test]
    fn whole_iam_or_sts() {
        for (raw, what) in [
            (
                "*",
                Some("every action of every service, IAM's and STS's included"),
            ),
            ("iam:*", Some("every IAM action")),
            ("STS:**", Some("every STS action")),
            ("*:*", Some("every IAM and STS action")),
            ("i?m:*", Some("every IAM action")),
            ("iam:Get*", None),
            ("s3:*", None),
            ("sts:AssumeRole", None),
        ] {
            assert_eq!(whole_service(raw), what, "{raw}");
        }
        let p =
            r#"{"Effect":"Allow","Action":["s3:GetObject","iam:*"],"Resource":"arn:aws:s3:::b/*"}"#;
        assert_eq!(
            codes(p, PolicyType::Identity),
            [("WILDCARD_IAM_OR_STS_ACTION", vec![0])]
        );
        assert!(codes(&p.replace("Allow", "Deny"), PolicyType::Identity).is_empty());
    }

    #[test]
    fn pass_role_on_any_role() {
        for (r, wide) in [
            ("*", true),
            ("arn:aws:iam::111122223333:role/*", true),
            ("arn:aws:iam::*:role/app-*", true),
            ("arn:aws:iam::111122223333:role/app", false),
            ("arn:aws:iam::111122223333:user/*", false),
            ("arn:aws:s3:::role/*", false),
        ] {
            assert_eq!(any_role(r), wide, "{r}");
        }
        let p = r#"{"Effect":"Allow","Action":"iam:PassRole","Resource":["arn:aws:iam::111122223333:role/app",null,"*"]}"#;
        let got = run(
            &parse(
                &format!(r#"{{"Version":"2012-10-17","Statement":{p}}}"#),
                PolicyType::Identity,
            )
            .unwrap(),
            PolicyType::Identity,
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].issue, Issue::PassRoleWithStarInResource);
        assert_eq!(
            got[0].at[0].1,
            [key("Resource"), PathStep::Text("*".into())]
        );
        let scoped = p.replace(
            r#""Resource""#,
            r#""Condition":{"StringEquals":{"iam:PassedToService":"ec2.amazonaws.com"}},"Resource""#,
        );
        assert!(codes(&scoped, PolicyType::Identity).is_empty());
    }

    #[test]
    fn like_operators_without_wildcards() {
        let p = r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{
            "ForAnyValue:StringLike":{"aws:TagKeys":["team","env"]},
            "StringNotLikeIfExists":{"aws:PrincipalTag/x":"a${*}b"},
            "StringLike":{"s3:prefix":["home/","home/*"]}}}"#;
        let got = run(
            &parse(
                &format!(r#"{{"Version":"2012-10-17","Statement":{p}}}"#),
                PolicyType::Identity,
            )
            .unwrap(),
            PolicyType::Identity,
        );
        let at: Vec<_> = got.iter().map(|f| f.at[0].1.clone()).collect();
        assert_eq!(
            at,
            [
                vec![
                    key("Condition"),
                    key("ForAnyValue:StringLike"),
                    key("aws:TagKeys")
                ],
                vec![
                    key("Condition"),
                    key("StringNotLikeIfExists"),
                    key("aws:PrincipalTag/x")
                ],
            ]
        );
        assert!(
            got[1].message.contains("use StringNotEquals"),
            "{}",
            got[1].message
        );
    }

    #[test]
    fn redundant_statements() {
        type Want = Vec<(&'static str, Vec<usize>)>;
        let cases: Vec<(&str, Want)> = vec![
            // Identical: the later one.
            (
                r#"[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
                    {"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]"#,
                vec![("REDUNDANT_STATEMENT", vec![1, 0])],
            ),
            // Contained: narrower actions and resources, more conditions.
            (
                r#"[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":"arn:aws:s3:::b/logs/*",
                     "Condition":{"Bool":{"aws:SecureTransport":"true"}}},
                    {"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}]"#,
                vec![("REDUNDANT_STATEMENT", vec![0, 1])],
            ),
            // A condition the wider statement has and the narrower lacks: both needed.
            (
                r#"[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/x"},
                    {"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]"#,
                vec![],
            ),
            // Other effect, or other principals: not redundant.
            (
                r#"[{"Effect":"Deny","Action":"s3:GetObject","Resource":"*"},
                    {"Effect":"Allow","Action":"s3:*","Resource":"*"}]"#,
                vec![],
            ),
            // NotAction: excluding more is narrower.
            (
                r#"[{"Effect":"Deny","NotAction":["iam:*","sts:*"],"Resource":"*"},
                    {"Effect":"Deny","NotAction":"iam:*","Resource":"*"}]"#,
                vec![("REDUNDANT_STATEMENT", vec![0, 1])],
            ),
            // Variables: only the same text.
            (
                r#"[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username}/*"},
                    {"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/$*"}]"#,
                vec![],
            ),
        ];
        for (statements, want) in cases {
            assert_eq!(
                codes(statements, PolicyType::Identity),
                want,
                "{statements}"
            );
        }
        let trust = r#"[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::444455556666:root"]},"Action":"sts:AssumeRole"},
            {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"sts:AssumeRole"}]"#;
        assert_eq!(
            codes(trust, PolicyType::Trust),
            [("REDUNDANT_STATEMENT", vec![1, 0])]
        );
    }

    #[test]
    fn redundancy_work_is_bounded() {
        // About 2,200 statements (4.8 million pairs) in nearly the largest document parsed:
        // the budget runs out first.
        let statements: Vec<String> = (0..2200)
            .map(|i| format!(r#"{{"Effect":"Allow","Action":"s3:Get{i}x","Resource":"*"}}"#))
            .collect();
        let text = format!(
            r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
            statements.join(",")
        );
        let policy = parse(&text, PolicyType::Identity).unwrap();
        assert!(redundant(&policy).is_empty());
    }
}
