use super::*;
use crate::policy::{PolicyType, parse};

const ROLE: &str = "arn:aws:iam::111122223333:role/app";
const GITHUB_PROVIDER: &str =
    "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com";

fn zone() -> ZoneOfTrust {
    ZoneOfTrust {
        accounts: ["111122223333".to_owned(), "444455556666".to_owned()].into(),
        organizations: ["o-abcdefghij".to_owned()].into(),
    }
}

/// The findings for a trust policy of these statements: (code, principal, statement).
fn found(statements: &str) -> Vec<(&'static str, String, usize)> {
    found_with(statements, &PublicIdps::default())
        .into_iter()
        .map(|f| (f.kind.code(), f.principal, f.statement))
        .collect()
}

fn found_with(statements: &str, idps: &PublicIdps) -> Vec<ExternalAccess> {
    let text = format!(r#"{{"Version":"2012-10-17","Statement":{statements}}}"#);
    let policy = parse(&text, PolicyType::Trust).unwrap_or_else(|e| panic!("{e}: {text}"));
    external_access(&policy, ROLE, &zone(), idps)
}

fn aws(principal: &str, extra: &str) -> String {
    format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"sts:AssumeRole"{extra}}}"#
    )
}

fn github(condition: &str) -> String {
    format!(
        r#"{{"Effect":"Allow","Principal":{{"Federated":"{GITHUB_PROVIDER}"}},
            "Action":"sts:AssumeRoleWithWebIdentity",
            "Condition":{{"StringEquals":{{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}}{condition}}}}}"#
    )
}

#[test]
fn each_aws_principal_form_outside_the_zone() {
    for principal in [
        "999988887777",
        "arn:aws:iam::999988887777:root",
        "arn:aws:iam::999988887777:role/partner",
        "arn:aws:iam::999988887777:user/bob",
        "arn:aws:sts::999988887777:assumed-role/partner/s",
    ] {
        assert_eq!(
            found(&aws(principal, "")),
            [("external_account", principal.to_owned(), 0)],
            "{principal}"
        );
    }
    for inside in [
        "111122223333",
        "arn:aws:iam::444455556666:root",
        "arn:aws:iam::111122223333:role/ci",
    ] {
        assert!(found(&aws(inside, "")).is_empty(), "{inside}");
    }
    assert_eq!(
        found(&aws("AROAUNKNOWNID", "")),
        [("unrecognized_principal", "AROAUNKNOWNID".to_owned(), 0)]
    );
    // Several entries: each outside one is its own finding.
    let both = r#"{"Effect":"Allow","Principal":{"AWS":["111122223333","999988887777","arn:aws:iam::777788889999:root"]},"Action":"sts:AssumeRole"}"#;
    assert_eq!(
        found(both).into_iter().map(|f| f.1).collect::<Vec<_>>(),
        ["999988887777", "arn:aws:iam::777788889999:root"]
    );
}

#[test]
fn everyone_and_not_principal() {
    for everyone in [
        r#"{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}"#,
        r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}"#,
        r#"{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRoleWithWebIdentity"}"#,
    ] {
        assert_eq!(found(everyone), [("any_principal", "*".to_owned(), 0)]);
    }
    let not = r#"{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}"#;
    let got = found_with(not, &PublicIdps::default());
    assert_eq!(got[0].kind, ExternalKind::NotPrincipalAllow);
    assert!(
        got[0]
            .reason
            .contains("except AWS arn:aws:iam::111122223333:root"),
        "{}",
        got[0].reason
    );
}

#[test]
fn only_assume_actions_count() {
    assert!(found(r#"{"Effect":"Allow","Principal":"*","Action":"sts:TagSession"}"#).is_empty());
    // An AWS principal cannot use a web identity.
    let web_only = r#"{"Effect":"Allow","Principal":{"AWS":"999988887777"},"Action":"sts:AssumeRoleWithWebIdentity"}"#;
    assert!(found(web_only).is_empty());
    let not_action =
        r#"{"Effect":"Allow","Principal":{"AWS":"999988887777"},"NotAction":"sts:TagSession"}"#;
    assert_eq!(found(not_action).len(), 1);
    let star = r#"{"Effect":"Allow","Principal":{"AWS":"999988887777"},"Action":"sts:*"}"#;
    assert_eq!(found(star).len(), 1);
    // Deny statements grant nothing.
    assert!(found(r#"{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole"}"#).is_empty());
}

#[test]
fn conditions_limiting_the_caller_to_the_zone() {
    for (condition, external) in [
        (
            r#""StringEquals":{"aws:PrincipalAccount":"111122223333"}"#,
            false,
        ),
        (
            r#""StringEquals":{"aws:PrincipalAccount":["111122223333","444455556666"]}"#,
            false,
        ),
        (
            r#""StringEquals":{"aws:PrincipalOrgID":"o-abcdefghij"}"#,
            false,
        ),
        (
            r#""StringEquals":{"aws:SourceAccount":"111122223333"}"#,
            false,
        ),
        (
            r#""ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/*"}"#,
            false,
        ),
        (
            r#""ForAnyValue:StringEquals":{"aws:PrincipalAccount":"111122223333"}"#,
            false,
        ),
        // One value outside, a wildcard, a key that may be missing, a set of none, negation.
        (
            r#""StringEquals":{"aws:PrincipalAccount":["111122223333","999988887777"]}"#,
            true,
        ),
        (r#""StringLike":{"aws:PrincipalAccount":"1111*"}"#, true),
        (
            r#""ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/x"}"#,
            true,
        ),
        (
            r#""StringEqualsIfExists":{"aws:PrincipalAccount":"111122223333"}"#,
            true,
        ),
        (
            r#""ForAllValues:StringEquals":{"aws:PrincipalAccount":"111122223333"}"#,
            true,
        ),
        (
            r#""StringNotEquals":{"aws:PrincipalAccount":"999988887777"}"#,
            true,
        ),
        (
            r#""StringEquals":{"aws:PrincipalOrgID":"o-otherorg00"}"#,
            true,
        ),
        // Not about the caller's account at all.
        (r#""StringEquals":{"sts:ExternalId":"secret"}"#, true),
    ] {
        let st = format!(
            r#"{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{{{condition}}}}}"#
        );
        assert_eq!(!found(&st).is_empty(), external, "{condition}");
    }
}

#[test]
fn reasons_name_conditions_not_taken_as_limits() {
    let got = found_with(
        &aws(
            "999988887777",
            r#","Condition":{"StringEquals":{"sts:ExternalId":"ext-1"}}"#,
        ),
        &PublicIdps::default(),
    );
    assert_eq!(got.len(), 1);
    assert!(
        got[0].reason.contains("StringEquals sts:ExternalId"),
        "{}",
        got[0].reason
    );
    let outside = found_with(
        r#"{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalAccount":"999988887777"}}}"#,
        &PublicIdps::default(),
    );
    assert!(
        outside[0]
            .reason
            .contains("its conditions allow aws:PrincipalAccount StringEquals 999988887777"),
        "{}",
        outside[0].reason
    );
    // A condition on a zone key that does not restrict is named as well.
    let if_exists = found_with(
        r#"{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEqualsIfExists":{"aws:PrincipalAccount":"111122223333"}}}"#,
        &PublicIdps::default(),
    );
    assert!(
        if_exists[0]
            .reason
            .contains("StringEqualsIfExists aws:PrincipalAccount"),
        "{}",
        if_exists[0].reason
    );
}

#[test]
fn an_unrecognized_principal_is_cancelled_only_by_naming_it() {
    let allow = aws("AROAUNKNOWNID", "");
    for (deny, cancelled) in [
        (
            r#"{"Effect":"Deny","Principal":{"AWS":"AROAUNKNOWNID"},"Action":"sts:AssumeRole"}"#,
            true,
        ),
        (
            r#"{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole"}"#,
            true,
        ),
        // It may be the listed role under another name.
        (
            r#"{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:role/x"},"Action":"sts:AssumeRole"}"#,
            false,
        ),
    ] {
        assert_eq!(
            found(&format!("[{allow},{deny}]")).is_empty(),
            cancelled,
            "{deny}"
        );
    }
}

#[test]
fn deny_statements_cancel_only_what_they_provably_cover() {
    let allow = aws("999988887777", "");
    for (deny, cancelled) in [
        (
            r#"{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole"}"#,
            true,
        ),
        (
            r#"{"Effect":"Deny","Principal":{"AWS":"999988887777"},"Action":"sts:*"}"#,
            true,
        ),
        (
            r#"{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"sts:AssumeRole"}"#,
            true,
        ),
        (
            r#"{"Effect":"Deny","NotPrincipal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}"#,
            true,
        ),
        (
            r#"{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringNotEquals":{"aws:PrincipalAccount":"111122223333"}}}"#,
            true,
        ),
        (
            r#"{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Resource":"arn:aws:iam::111122223333:role/*"}"#,
            true,
        ),
        // Not all actions, another account, conditions it cannot prove, another role.
        (
            r#"{"Effect":"Deny","Principal":"*","Action":"sts:TagSession"}"#,
            false,
        ),
        (
            r#"{"Effect":"Deny","Principal":{"AWS":"777788889999"},"Action":"sts:AssumeRole"}"#,
            false,
        ),
        (
            r#"{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#,
            false,
        ),
        (
            r#"{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringNotEquals":{"aws:PrincipalAccount":"999988887777"}}}"#,
            false,
        ),
        (
            r#"{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Resource":"arn:aws:iam::111122223333:role/other"}"#,
            false,
        ),
        (
            r#"{"Effect":"Deny","NotPrincipal":{"AWS":"999988887777"},"Action":"sts:AssumeRole"}"#,
            false,
        ),
        // A user of the account is denied; the account's other principals are not.
        (
            r#"{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::999988887777:user/x"},"Action":"sts:AssumeRole"}"#,
            false,
        ),
    ] {
        assert_eq!(
            found(&format!("[{allow},{deny}]")).is_empty(),
            cancelled,
            "{deny}"
        );
    }
    // Everyone is denied only by a Deny of everyone outside the zone.
    let open = r#"{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}"#;
    for (deny, cancelled) in [
        (
            r#"{"Effect":"Deny","Principal":{"AWS":"999988887777"},"Action":"sts:AssumeRole"}"#,
            false,
        ),
        (
            r#"{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::444455556666:role/x"]},"Action":"sts:AssumeRole"}"#,
            true,
        ),
        (
            r#"{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"sts:AssumeRole"}"#,
            false,
        ),
        (
            r#"{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-abcdefghij"}}}"#,
            true,
        ),
    ] {
        assert_eq!(
            found(&format!("[{open},{deny}]")).is_empty(),
            cancelled,
            "{deny}"
        );
    }
    // A conditioned Deny is named in the reason.
    let got = found_with(
        &format!(
            r#"[{allow},{{"Sid":"TlsOnly","Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}}]"#
        ),
        &PublicIdps::default(),
    );
    assert!(
        got[0].reason.contains("Sid \"TlsOnly\""),
        "{}",
        got[0].reason
    );
}

#[test]
fn github_trusts_must_pin_an_owner() {
    for (condition, pinned) in [
        ("", false),
        (
            r#","StringLike":{"token.actions.githubusercontent.com:sub":"*"}"#,
            false,
        ),
        (
            r#","StringLike":{"token.actions.githubusercontent.com:sub":"repo:*"}"#,
            false,
        ),
        // A prefix of an owner's name is not the owner (myorg-evil).
        (
            r#","StringLike":{"token.actions.githubusercontent.com:sub":"repo:myorg*"}"#,
            false,
        ),
        (
            r#","StringLike":{"token.actions.githubusercontent.com:sub":["repo:myorg/*","repo:*"]}"#,
            false,
        ),
        (
            r#","StringNotLike":{"token.actions.githubusercontent.com:sub":"repo:evil/*"}"#,
            false,
        ),
        (
            r#","StringLikeIfExists":{"token.actions.githubusercontent.com:sub":"repo:myorg/*"}"#,
            false,
        ),
        (
            r#","StringLike":{"token.actions.githubusercontent.com:repository_owner":"my*"}"#,
            false,
        ),
        (
            r#","StringLike":{"token.actions.githubusercontent.com:sub":"repo:${aws:username}/*"}"#,
            false,
        ),
        (
            r#","StringLike":{"token.actions.githubusercontent.com:sub":"repo:myorg/*"}"#,
            true,
        ),
        (
            r#","StringLike":{"token.actions.githubusercontent.com:sub":"repo:myorg/app:*"}"#,
            true,
        ),
        (
            r#","StringLike":{"TOKEN.actions.githubusercontent.com:SUB":"repo:myorg/*"}"#,
            true,
        ),
        (
            r#","StringLike":{"token.actions.githubusercontent.com:repository":"myorg/*"}"#,
            true,
        ),
        (
            r#","StringLike":{"token.actions.githubusercontent.com:sub":"repository_owner_id:42:*"}"#,
            true,
        ),
        (
            r#","StringLike":{"token.actions.githubusercontent.com:repository_owner":"myorg"}"#,
            true,
        ),
        (
            r#","ForAnyValue:StringEquals":{"token.actions.githubusercontent.com:repository_id":"123"}"#,
            true,
        ),
    ] {
        let trust = github(condition);
        let got = found(&trust);
        assert_eq!(got.is_empty(), pinned, "{condition}");
        if !pinned {
            assert_eq!(
                got,
                [("public_idp_any_subject", GITHUB_PROVIDER.to_owned(), 0)]
            );
        }
    }
    // StringEquals compares literally: `repo:myorg/myrepo:ref:refs/heads/main` pins.
    let tight = github(
        r#","StringEquals":{"token.actions.githubusercontent.com:sub":"repo:myorg/myrepo:ref:refs/heads/main"}"#,
    );
    let tight = tight.replacen(r#"},"StringEquals":{"token"#, r#","token"#, 1);
    assert!(found(&tight).is_empty(), "{tight}");
}

#[test]
fn each_public_idp_and_its_subject_rules() {
    let trust = |provider: &str, condition: &str| {
        format!(
            r#"{{"Effect":"Allow","Principal":{{"Federated":"{provider}"}},"Action":"sts:AssumeRoleWithWebIdentity"{condition}}}"#
        )
    };
    let arn = |path: &str| format!("arn:aws:iam::111122223333:oidc-provider/{path}");
    for (provider, path, pinning, open) in [
        (
            arn("gitlab.com"),
            "gitlab.com",
            "project_path:mygroup/*",
            "project_path:*",
        ),
        (
            arn("app.terraform.io"),
            "app.terraform.io",
            "organization:acme:*",
            "organization:*",
        ),
        (
            arn("oidc.circleci.com"),
            "oidc.circleci.com",
            "org/0123/*",
            "org/*",
        ),
        (
            arn("api.bitbucket.org/2.0/workspaces/w/pipelines-config/identity/oidc"),
            "api.bitbucket.org/2.0/workspaces/w/pipelines-config/identity/oidc",
            "{repo-uuid}:*",
            "{*",
        ),
        (
            "accounts.google.com".to_owned(),
            "accounts.google.com",
            "110169484474386276334",
            "1101*",
        ),
        (
            arn("token.actions.githubusercontent.com/my-enterprise"),
            "token.actions.githubusercontent.com/my-enterprise",
            "repo:myorg/*",
            "repo:*",
        ),
    ] {
        let unpinned = trust(&provider, "");
        assert_eq!(
            found(&unpinned),
            [("public_idp_any_subject", provider.clone(), 0)],
            "{provider}"
        );
        let open = trust(
            &provider,
            &format!(r#","Condition":{{"StringLike":{{"{path}:sub":"{open}"}}}}"#),
        );
        assert_eq!(found(&open).len(), 1, "{open}");
        let pinned = trust(
            &provider,
            &format!(r#","Condition":{{"StringLike":{{"{path}:sub":"{pinning}"}}}}"#),
        );
        assert!(found(&pinned).is_empty(), "{pinned}");
    }
    // A private issuer, a SAML provider, another account's provider: not public or not reachable.
    for provider in [
        arn("idp.example.com"),
        "arn:aws:iam::111122223333:saml-provider/corp".to_owned(),
        "arn:aws:iam::999988887777:oidc-provider/token.actions.githubusercontent.com".to_owned(),
        arn("gitlab.com.evil.example"),
    ] {
        assert!(found(&trust(&provider, "")).is_empty(), "{provider}");
    }
    // An issuer the operator names as public.
    let own = trust(&arn("gitlab.example.com"), "");
    assert!(found(&own).is_empty());
    let idps = PublicIdps::with(["https://gitlab.example.com/".to_owned()]);
    assert_eq!(found_with(&own, &idps).len(), 1);
    // A web identity provider does not use sts:AssumeRole.
    let assume_role =
        trust(&arn("gitlab.com"), "").replace("AssumeRoleWithWebIdentity", "AssumeRole");
    assert!(found(&assume_role).is_empty());
    // A Deny of the provider cancels it.
    let denied = format!(
        r#"[{},{{"Effect":"Deny","Principal":{{"Federated":"{}"}},"Action":"sts:AssumeRoleWithWebIdentity"}}]"#,
        trust(&arn("gitlab.com"), ""),
        arn("gitlab.com")
    );
    assert!(found(&denied).is_empty());
    // So does a condition no web identity has.
    let in_zone = trust(
        &arn("gitlab.com"),
        r#","Condition":{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}"#,
    );
    assert!(found(&in_zone).is_empty());
}

#[test]
fn pin_rules() {
    let rules = PUBLIC_IDPS[0].1;
    assert!(rules.is_github());
    assert!(!PUBLIC_IDPS[1].1.is_github());
    assert_eq!(
        rules.named_keys("p"),
        "p:sub, p:repository or p:repository_owner"
    );
    assert_eq!(PUBLIC_IDPS[4].1.named_keys("p"), "p:sub");
    assert_eq!(
        oidc_path("arn:aws:iam::1:oidc-provider/a.b/c"),
        Some("a.b/c")
    );
    assert_eq!(oidc_path("arn:aws:iam::1:saml-provider/x"), None);
    assert_eq!(
        oidc_path("accounts.google.com"),
        Some("accounts.google.com")
    );
    let idps = PublicIdps::default();
    assert!(idps.find("Token.Actions.GithubUserContent.com").is_some());
    assert!(
        idps.find("token.actions.githubusercontent.com.evil")
            .is_none()
    );
    assert!(idps.find("gitlab.co").is_none());
}

/// A policy of these statements whose principal sets say "everyone" only through an `AWS`
/// entry of `"*"`, not through their flag (the engine takes the entry as a wildcard anyway).
fn with_star_entries(statements: &str) -> Policy {
    let text = format!(r#"{{"Version":"2012-10-17","Statement":{statements}}}"#);
    let mut policy = parse(&text, PolicyType::Trust).unwrap();
    for st in &mut policy.statements {
        if let Some(Clause::Is(set) | Clause::Not(set)) = &mut st.principal {
            set.everyone = false;
        }
    }
    policy
}

#[test]
fn an_aws_star_entry_is_everyone_for_allow_and_for_not_principal() {
    let engine_wildcard = |policy: &Policy, i: usize| {
        let caller = crate::policy::principal::Principal::parse(GITHUB_PROVIDER).unwrap();
        policy.statements[i]
            .principal
            .as_ref()
            .unwrap()
            .inner()
            .classify(&caller)
            .is_some()
    };
    // Web identities of any provider are let in.
    let web = with_star_entries(
        r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRoleWithWebIdentity"}"#,
    );
    assert!(engine_wildcard(&web, 0));
    let got = external_access(&web, ROLE, &zone(), &PublicIdps::default());
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].kind, ExternalKind::AnyPrincipal);
    // A Deny with NotPrincipal of "*" excludes every caller, so it denies no one.
    let not_star = with_star_entries(&format!(
        r#"[{},{{"Effect":"Deny","NotPrincipal":{{"AWS":"*"}},"Action":"sts:AssumeRoleWithWebIdentity"}}]"#,
        github("")
    ));
    assert!(engine_wildcard(&not_star, 1));
    let got = external_access(&not_star, ROLE, &zone(), &PublicIdps::default());
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].kind, ExternalKind::PublicIdpAnySubject);
    // And parsed as written: the same through the flag.
    assert_eq!(
        found(&format!(
            r#"[{},{{"Effect":"Deny","NotPrincipal":{{"AWS":"*"}},"Action":"sts:AssumeRoleWithWebIdentity"}}]"#,
            github("")
        ))
        .len(),
        1
    );
}

#[test]
fn white_space_around_a_star_is_refused_before_any_analysis() {
    for principal in [r#"" *""#, "\"*\\t\"", r#"{"AWS":" *"}"#] {
        let text = format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{principal},"Action":"sts:AssumeRoleWithWebIdentity"}}}}"#
        );
        let e = parse(&text, PolicyType::Trust).unwrap_err();
        assert!(
            e.aws_message.starts_with("Invalid principal in policy"),
            "{principal}: {e}"
        );
    }
}

#[test]
fn only_the_accounts_the_engine_names_are_denied_as_a_whole() {
    let allow = aws("999988887777", "");
    for (deny, cancelled) in [
        ("999988887777", true),
        ("arn:aws:iam::999988887777:root", true),
        // Not how the engine names an account: they deny no one of it.
        ("arn:aws:sts::999988887777:root", false),
        ("arn:aws:iam::999988887777:x:root", false),
        ("arn:aws:iam::999988887777:user/root", false),
    ] {
        let policy = format!(
            r#"[{allow},{{"Effect":"Deny","Principal":{{"AWS":"{deny}"}},"Action":"sts:AssumeRole"}}]"#
        );
        assert_eq!(found(&policy).is_empty(), cancelled, "{deny}");
    }
}

#[test]
fn a_deny_whose_resource_holds_a_policy_variable_proves_nothing() {
    let allow = aws("999988887777", "");
    for (resource, cancelled) in [
        ("arn:aws:iam::111122223333:role/app", true),
        // The caller chooses the session name (the default applies only without one).
        (
            "arn:aws:iam::111122223333:role/${sts:RoleSessionName, 'app'}",
            false,
        ),
        (
            "arn:aws:iam::111122223333:role/${aws:PrincipalTag/team, 'app'}",
            false,
        ),
        ("arn:aws:iam::111122223333:role/${*}", false),
    ] {
        let policy = format!(
            r#"[{allow},{{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Resource":"{resource}"}}]"#
        );
        assert_eq!(found(&policy).is_empty(), cancelled, "{resource}");
    }
}

#[test]
fn zone_conditions_with_policy_variables_prove_nothing() {
    // A Deny: a role has no aws:username, so the negated comparison fails and denies nothing.
    let allow = aws("999988887777", "");
    for (value, cancelled) in [
        ("arn:aws:iam::111122223333:*", true),
        ("arn:aws:iam::111122223333:${aws:username}", false),
        ("arn:aws:iam::111122223333:user/${aws:username}", false),
    ] {
        let policy = format!(
            r#"[{allow},{{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":{{"StringNotLike":{{"aws:PrincipalArn":"{value}"}}}}}}]"#
        );
        assert_eq!(found(&policy).is_empty(), cancelled, "{value}");
    }
    // An Allow's own conditions: literal values only.
    for (condition, limited) in [
        (
            r#""ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/*"}"#,
            true,
        ),
        (
            r#""ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/${aws:username}"}"#,
            false,
        ),
        (
            r#""StringEquals":{"aws:PrincipalAccount":"${aws:PrincipalTag/account}"}"#,
            false,
        ),
    ] {
        let st = format!(
            r#"{{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{{{condition}}}}}"#
        );
        assert_eq!(found(&st).is_empty(), limited, "{condition}");
    }
}

#[test]
fn github_pins_need_an_owner_claim() {
    // (StringLike without a wildcard compares exactly.)
    for (condition, pinned) in [
        // The reusable workflow, not the repository calling it.
        (
            r#","StringLike":{"token.actions.githubusercontent.com:job_workflow_ref":"myorg/*"}"#,
            false,
        ),
        (
            r#","StringLike":{"token.actions.githubusercontent.com:job_workflow_ref":"myorg/wf/.github/workflows/deploy.yml@refs/heads/main"}"#,
            false,
        ),
        // Customized sub templates any tenant can reproduce.
        (
            r#","StringLike":{"token.actions.githubusercontent.com:sub":"environment:production"}"#,
            false,
        ),
        (
            r#","StringLike":{"token.actions.githubusercontent.com:sub":"workflow:deploy:*"}"#,
            false,
        ),
        (
            r#","StringLike":{"token.actions.githubusercontent.com:sub":"job_workflow_ref:myorg/*"}"#,
            false,
        ),
        (
            r#","StringLike":{"token.actions.githubusercontent.com:sub":["repo:myorg/*","environment:prod:*"]}"#,
            false,
        ),
        (
            r#","StringLike":{"token.actions.githubusercontent.com:sub":"re*:myorg/*"}"#,
            false,
        ),
        // Owner-bearing first claims.
        (
            r#","StringLike":{"token.actions.githubusercontent.com:sub":"repository_id:123"}"#,
            true,
        ),
        (
            r#","StringLike":{"token.actions.githubusercontent.com:sub":"repository_owner:myorg:*"}"#,
            true,
        ),
        (
            r#","StringLike":{"token.actions.githubusercontent.com:sub":"repository:myorg/*"}"#,
            true,
        ),
        // job_workflow_ref beside an owner claim: the owner claim pins.
        (
            r#","StringLike":{"token.actions.githubusercontent.com:job_workflow_ref":"myorg/*","token.actions.githubusercontent.com:repository_owner":"myorg"}"#,
            true,
        ),
    ] {
        assert_eq!(found(&github(condition)).is_empty(), pinned, "{condition}");
    }
}

#[test]
fn added_issuers_and_buildkite_need_two_segments() {
    let trust = |path: &str, sub: &str| {
        let condition = if sub.is_empty() {
            String::new()
        } else {
            format!(r#","Condition":{{"StringLike":{{"{path}:sub":"{sub}"}}}}"#)
        };
        format!(
            r#"{{"Effect":"Allow","Principal":{{"Federated":"arn:aws:iam::111122223333:oidc-provider/{path}"}},"Action":"sts:AssumeRoleWithWebIdentity"{condition}}}"#
        )
    };
    let idps = PublicIdps::with(["https://ci.example.com".to_owned()]);
    for (sub, pinned) in [
        ("", false),
        ("organization:*", false),
        ("project_path:*", false),
        ("repo:*", false),
        ("repo:myorg*", false),
        ("repo:myorg/*", true),
        ("organization:acme:*", true),
        ("project_path:group/app:ref_type:branch:ref:main", true),
    ] {
        assert_eq!(
            found_with(&trust("ci.example.com", sub), &idps).is_empty(),
            pinned,
            "{sub}"
        );
    }
    for (sub, pinned) in [
        ("", false),
        ("organization:*", false),
        ("pipeline:deploy:*", false),
        ("organization:acme:pipeline:*", true),
        (
            "organization:acme:pipeline:deploy:ref:refs/heads/main",
            true,
        ),
    ] {
        assert_eq!(
            found(&trust("agent.buildkite.com", sub)).is_empty(),
            pinned,
            "{sub}"
        );
    }
    let slug = r#"{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/agent.buildkite.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"agent.buildkite.com:organization_slug":"acme"}}}"#;
    assert!(found(slug).is_empty());
}

#[test]
fn a_provider_accepting_a_public_issuer_is_public() {
    let arn = "arn:aws:iam::111122223333:oidc-provider/ci.internal.example";
    let trust = |condition: &str| {
        format!(
            r#"{{"Effect":"Allow","Principal":{{"Federated":"{arn}"}},"Action":"sts:AssumeRoleWithWebIdentity"{condition}}}"#
        )
    };
    let private = PublicIdps::default().with_provider(
        arn,
        [
            "https://ci.internal.example".to_owned(),
            "https://other.internal.example/".to_owned(),
        ],
    );
    assert!(found_with(&trust(""), &private).is_empty());
    let idps = PublicIdps::default().with_provider(
        arn,
        [
            "https://ci.internal.example".to_owned(),
            "https://token.actions.githubusercontent.com:443/".to_owned(),
        ],
    );
    let got = found_with(&trust(""), &idps);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].kind, ExternalKind::PublicIdpAnySubject);
    assert!(
        got[0]
            .reason
            .contains("accepts the tokens of token.actions.githubusercontent.com"),
        "{}",
        got[0].reason
    );
    assert!(
        got[0].reason.contains("ci.internal.example:sub"),
        "{}",
        got[0].reason
    );
    // Pinned through the provider's own condition keys, by GitHub's rules.
    for (sub, pinned) in [
        ("repo:*", false),
        ("environment:prod", false),
        ("repo:myorg/*", true),
    ] {
        let st = trust(&format!(
            r#","Condition":{{"StringLike":{{"ci.internal.example:sub":"{sub}"}}}}"#
        ));
        assert_eq!(found_with(&st, &idps).is_empty(), pinned, "{sub}");
    }
    // Another provider's ARN is not this one.
    let other = trust("").replace("ci.internal.example", "ci2.internal.example");
    assert!(found_with(&other, &idps).is_empty());
}

#[test]
fn a_principal_listed_again_is_one_finding() {
    let many = format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":[{}]}},"Action":"sts:AssumeRole"}}"#,
        vec![r#""999988887777""#; 50].join(",")
    );
    assert_eq!(
        found(&many),
        [("external_account", "999988887777".to_owned(), 0)]
    );
    let providers = format!(
        r#"{{"Effect":"Allow","Principal":{{"Federated":["{GITHUB_PROVIDER}","{GITHUB_PROVIDER}"]}},"Action":"sts:AssumeRoleWithWebIdentity"}}"#
    );
    assert_eq!(found(&providers).len(), 1);
}
