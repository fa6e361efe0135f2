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
