use proptest::prelude::*;

use super::*;

/// The text each location's span covers.
fn covered<'t>(text: &'t str, f: &Finding) -> Vec<&'t str> {
    f.locations
        .iter()
        .map(|l| {
            let byte = |offset: usize| {
                text.char_indices()
                    .nth(offset)
                    .map_or(text.len(), |(b, _)| b)
            };
            &text[byte(l.span.start.offset)..byte(l.span.end.offset)]
        })
        .collect()
}

fn value(k: &str) -> PathElement {
    PathElement::Value(k.to_owned())
}

/// The one finding with `code`.
fn only<'f>(findings: &'f [Finding], code: &str) -> &'f Finding {
    let hits: Vec<&Finding> = findings.iter().filter(|f| f.issue_code == code).collect();
    assert_eq!(hits.len(), 1, "{code} in {findings:#?}");
    hits[0]
}

fn codes(findings: &[Finding]) -> Vec<(&'static str, FindingType)> {
    findings
        .iter()
        .map(|f| (f.issue_code, f.finding_type))
        .collect()
}

#[test]
fn json_syntax_errors_point_at_the_character() {
    let text = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": {\"Effect\": \"Allow\" \"Action\": \"s3:*\"}\n}";
    let findings = validate_policy(text, PolicyType::Identity);
    assert_eq!(
        codes(&findings),
        [("JSON_SYNTAX_ERROR", FindingType::Error)]
    );
    let f = &findings[0];
    let at = Position {
        line: 3,
        column: 34,
        offset: 63,
    };
    assert_eq!(f.locations[0].span.start, at);
    assert_eq!(covered(text, f), ["\""]);
    assert_eq!(text.find("\"Action\""), Some(63));
    assert_eq!(
        f.finding_details,
        "Fix the JSON syntax error at index 63 line 3 column 34: expected `,` or `}`."
    );
    assert!(f.locations[0].path.is_empty());

    // A duplicate key is a syntax error too, at the duplicate.
    let text = "{\"Version\": \"2012-10-17\",\n\"Version\": \"2012-10-17\", \"Statement\": []}";
    let f = &validate_policy(text, PolicyType::Identity)[0];
    assert_eq!(f.issue_code, "JSON_SYNTAX_ERROR");
    assert_eq!(f.locations[0].span.start.line, 2);
    assert!(
        f.finding_details.contains("duplicate key \"Version\""),
        "{}",
        f.finding_details
    );
    // Truncated text: at its end.
    let f = &validate_policy("{\"Version\": \"201", PolicyType::Identity)[0];
    assert_eq!(f.locations[0].span.start.offset, 16);
    assert_eq!(f.locations[0].span.end.offset, 16);
}

#[test]
fn iams_refusals_are_errors_at_the_node_named() {
    let text = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
    {"Effect": "Allow", "Resource": "*",
     "Condition": {"StringEqual": {"aws:username": "bob"}}}
  ]
}"#;
    let f = &validate_policy(text, PolicyType::Identity)[0];
    assert_eq!(
        (f.issue_code, f.finding_type),
        ("INVALID_CONDITION_OPERATOR", FindingType::Error)
    );
    assert_eq!(
        f.locations[0].path,
        [
            value("Statement"),
            PathElement::Index(1),
            value("Condition"),
            PathElement::Key("StringEqual".to_owned())
        ]
    );
    assert_eq!(covered(text, f), ["\"StringEqual\""]);
    assert_eq!(
        f.locations[0].span,
        Span {
            start: Position {
                line: 6,
                column: 19,
                offset: 174
            },
            end: Position {
                line: 6,
                column: 32,
                offset: 187
            },
        }
    );
    assert_eq!(
        f.finding_details,
        "Syntax errors in policy. Unknown condition operator \"StringEqual\"."
    );

    let missing_action = text.replace("StringEqual\"", "StringEquals\"");
    let f = &validate_policy(&missing_action, PolicyType::Identity)[0];
    assert_eq!(f.issue_code, "MISSING_ACTION");
    assert_eq!(
        f.locations[0].path,
        [value("Statement"), PathElement::Index(1)]
    );
    assert!(covered(&missing_action, f)[0].starts_with("{\"Effect\": \"Allow\", \"Resource\""));

    let extra = r#"{"Version": "2012-10-17", "Extra": 1, "Statement": []}"#;
    let f = &validate_policy(extra, PolicyType::Resource)[0];
    assert_eq!(f.issue_code, "INVALID_POLICY_ELEMENT");
    assert_eq!(f.locations[0].path, [PathElement::Key("Extra".to_owned())]);
    assert_eq!(covered(extra, f), ["\"Extra\""]);
}

#[test]
fn each_policy_type_has_its_rules() {
    let statement =
        r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}"#;
    let doc = format!(r#"{{"Version": "2012-10-17", "Statement": {statement}}}"#);
    let f = &validate_policy(&doc, PolicyType::Identity)[0];
    assert_eq!(f.issue_code, "UNSUPPORTED_PRINCIPAL");
    assert_eq!(covered(&doc, f), ["\"*\""]);
    assert_eq!(
        validate_policy(&doc, PolicyType::Scp)[0].issue_code,
        "SCP_SYNTAX_ERROR_PRINCIPAL"
    );
    // A resource policy may have one; everyone without a condition is a security warning.
    assert_eq!(
        codes(&validate_policy(&doc, PolicyType::Resource)),
        [(
            "PUBLIC_PRINCIPAL_WITHOUT_CONDITION",
            FindingType::SecurityWarning
        )]
    );

    // No Version: refused in an identity policy, a warning elsewhere.
    let unversioned = r#"{"Statement": {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}}"#;
    let f = &validate_policy(unversioned, PolicyType::Identity)[0];
    assert_eq!(
        (f.issue_code, f.finding_type),
        ("MISSING_VERSION", FindingType::Error)
    );
    assert_eq!(covered(unversioned, f), [unversioned]);
    let f = &validate_policy(unversioned, PolicyType::Scp)[0];
    assert_eq!(
        (f.issue_code, f.finding_type),
        ("MISSING_VERSION", FindingType::Warning)
    );
}

#[test]
fn lint_warnings_are_placed() {
    let text = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
   "Condition": {"stringEquals": {"aws:PrincipalTag/team": ["red", "blue*"]}}},
  {"Effect": "Allow", "NotAction": "s3:DeleteBucket", "Resource": "arn:aws:s3:::b"}]}"#;
    let findings = validate_policy(text, PolicyType::Identity);
    assert_eq!(
        codes(&findings),
        [
            ("WILDCARD_WITHOUT_LIKE_OPERATOR", FindingType::Warning),
            ("ALLOW_WITH_NOT_ACTION", FindingType::Warning)
        ]
    );
    let wildcard = &findings[0];
    assert_eq!(
        wildcard.locations[0].path,
        [
            value("Statement"),
            PathElement::Index(0),
            value("Condition"),
            value("stringEquals"),
            value("aws:PrincipalTag/team"),
            PathElement::Index(1)
        ]
    );
    assert_eq!(covered(text, wildcard), ["\"blue*\""]);
    assert_eq!(
        wildcard.locations[0].span.start,
        Position {
            line: 3,
            column: 67,
            offset: 173
        }
    );
    assert!(
        wildcard
            .finding_details
            .starts_with("StringEquals compares \"blue*\" literally")
    );
    assert_eq!(covered(text, &findings[1]), ["\"s3:DeleteBucket\""]);

    let text = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "s3:*", "NotResource": ["arn:aws:s3:::b/private/*"]},
  {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]}"#;
    let findings = validate_policy(text, PolicyType::Resource);
    assert_eq!(
        codes(&findings),
        [
            ("ALLOW_WITH_NOT_RESOURCE", FindingType::Warning),
            ("MISSING_PRINCIPAL", FindingType::Error)
        ]
    );
    assert_eq!(
        covered(text, &findings[0]),
        ["[\"arn:aws:s3:::b/private/*\"]"]
    );
    assert_eq!(
        findings[1].locations[0].path,
        [value("Statement"), PathElement::Index(1)]
    );
    assert_eq!(findings[1].locations[0].span.start.line, 3);
}

/// Trust policies (a resource policy allowing `sts:AssumeRoleWithWebIdentity`) on shared
/// issuers must pin the subject.
#[test]
fn shared_issuers_need_a_subject() {
    let text = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}
  }]
}"#;
    for t in [PolicyType::Resource, PolicyType::Trust] {
        let findings = validate_policy(text, t);
        let f = only(&findings, "MISSING_GITHUB_REPO_CONDITION_KEY");
        assert_eq!(f.finding_type, FindingType::SecurityWarning);
        assert_eq!(
            f.locations[0].path,
            [
                value("Statement"),
                PathElement::Index(0),
                value("Principal"),
                value("Federated")
            ]
        );
        assert_eq!(
            f.locations[0].span.start,
            Position {
                line: 5,
                column: 31,
                offset: 101
            }
        );
        assert!(covered(text, f)[0].ends_with("githubusercontent.com\""));
    }
    for pin in [
        r#""StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/app:*"}, "StringEquals": {"#,
        r#""StringEquals": {"token.actions.githubusercontent.com:repository_owner": "acme", "#,
    ] {
        let pinned = text.replace(r#""StringEquals": {"#, pin);
        let findings = validate_policy(&pinned, PolicyType::Resource);
        assert!(findings.is_empty(), "{pinned}: {findings:#?}");
    }
    // Among several providers, at the shared one.
    let several = text
        .replace(
            r#"{"Federated": "arn"#,
            r#"{"Federated": ["arn:aws:iam::111122223333:saml-provider/corp", "arn"#,
        )
        .replace(
            r#"githubusercontent.com"},"#,
            r#"githubusercontent.com"]},"#,
        );
    let findings = validate_policy(&several, PolicyType::Trust);
    let f = only(&findings, "MISSING_GITHUB_REPO_CONDITION_KEY");
    assert_eq!(f.locations[0].path.last(), Some(&PathElement::Index(1)));
    assert!(covered(&several, f)[0].starts_with("\"arn:aws:iam::111122223333:oidc-provider/"));
    let gitlab = text.replace("token.actions.githubusercontent.com", "gitlab.com");
    let f = &validate_policy(&gitlab, PolicyType::Resource)[0];
    assert_eq!(f.issue_code, "MISSING_SUB_CONDITION_KEY_FOR_SHARED_ISSUER");
    assert!(
        f.finding_details.contains("gitlab.com:sub"),
        "{}",
        f.finding_details
    );
    // Another action than AssumeRoleWithWebIdentity: no web identity reaches it.
    let other = text.replace("sts:AssumeRoleWithWebIdentity", "sts:TagSession");
    assert!(validate_policy(&other, PolicyType::Resource).is_empty());
}

#[test]
fn security_warnings_and_suggestions_are_placed() {
    let text = r#"{"Version": "2012-10-17", "Statement": [
 {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::111122223333:root", "*"]}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
 {"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
 {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/admin"}, "Action": ["s3:ListBucket", "sts:*"], "Resource": "*",
  "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalTag/team": ["red", "blue"]}}}
]}"#;
    let findings = validate_policy(text, PolicyType::Resource);
    assert_eq!(
        codes(&findings),
        [
            (
                "PUBLIC_PRINCIPAL_WITHOUT_CONDITION",
                FindingType::SecurityWarning
            ),
            ("ALLOW_WITH_NOT_PRINCIPAL", FindingType::SecurityWarning),
            ("WILDCARD_IAM_OR_STS_ACTION", FindingType::SecurityWarning),
            ("LIKE_OPERATOR_WITHOUT_WILDCARD", FindingType::Suggestion),
        ]
    );
    let public = &findings[0];
    assert_eq!(covered(text, public), ["\"*\""]);
    assert_eq!(
        public.locations[0].path,
        [
            value("Statement"),
            PathElement::Index(0),
            value("Principal"),
            value("AWS"),
            PathElement::Index(1)
        ]
    );
    assert_eq!(
        public.locations[0].span.start,
        Position {
            line: 2,
            column: 77,
            offset: 118
        }
    );
    assert!(
        covered(text, &findings[1])[0].starts_with("{\"AWS\": \"arn:aws:iam::111122223333:root\"}")
    );
    assert_eq!(covered(text, &findings[2]), ["\"sts:*\""]);
    assert_eq!(covered(text, &findings[3]), ["[\"red\", \"blue\"]"]);
    assert_eq!(
        findings[3].locations[0].path,
        [
            value("Statement"),
            PathElement::Index(2),
            value("Condition"),
            value("ForAnyValue:StringLike"),
            value("aws:PrincipalTag/team"),
        ]
    );
}

#[test]
fn redundant_statements_name_both() {
    let text = r#"{"Version": "2012-10-17", "Statement": [
  {"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"},
  {"Sid": "Logs", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/logs/*"}
]}"#;
    let findings = validate_policy(text, PolicyType::Identity);
    let f = only(&findings, "REDUNDANT_STATEMENT");
    assert_eq!(f.finding_type, FindingType::Suggestion);
    let paths: Vec<_> = f.locations.iter().map(|l| l.path.clone()).collect();
    assert_eq!(
        paths,
        [
            vec![value("Statement"), PathElement::Index(1)],
            vec![value("Statement"), PathElement::Index(0)]
        ]
    );
    assert_eq!(f.locations[0].span.start.line, 3);
    assert_eq!(f.locations[1].span.start.line, 2);
    assert!(
        f.finding_details
            .contains("statement 1 (Sid \"All\") already allows or denies everything statement 2 (Sid \"Logs\") does"),
        "{}",
        f.finding_details
    );
}

#[test]
fn findings_have_access_analyzers_json_shape() {
    let text = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotPrincipal":"*","Action":"s3:*","Resource":"*"}}"#;
    let findings = validate_policy(text, PolicyType::Resource);
    assert_eq!(
        serde_json::to_value(&findings).unwrap(),
        serde_json::json!([{
            "findingDetails": "Using Allow with NotPrincipal can be overly permissive: it allows every principal not listed, anonymous ones included. We recommend that you use Principal instead.",
            "findingType": "SECURITY_WARNING",
            "issueCode": "ALLOW_WITH_NOT_PRINCIPAL",
            "learnMoreLink": "https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html#access-analyzer-reference-policy-checks-security-warning-allow-with-not-principal",
            "locations": [{
                "path": [{"value": "Statement"}, {"value": "NotPrincipal"}],
                "span": {
                    "start": {"line": 1, "column": 69, "offset": 69},
                    "end": {"line": 1, "column": 72, "offset": 72}
                }
            }]
        }])
    );
    let substring = PathElement::Substring {
        start: 2,
        length: 3,
    };
    assert_eq!(
        serde_json::to_value(substring).unwrap(),
        serde_json::json!({"substring": {"start": 2, "length": 3}})
    );
}

#[test]
fn a_valid_tidy_policy_has_no_findings() {
    let text = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::b/${aws:username}/*"},
  {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}"#;
    assert_eq!(validate_policy(text, PolicyType::Identity), []);
}

#[test]
fn oversized_documents_are_one_error() {
    let text = format!(r#"{{"Id":"{}"}}"#, "x".repeat(MAX_POLICY_BYTES));
    assert_eq!(
        codes(&validate_policy(&text, PolicyType::Identity)),
        [(
            "POLICY_SIZE_EXCEEDS_VALIDATE_POLICY_MAXIMUM",
            FindingType::Error
        )]
    );
}

proptest! {
    /// Whatever the text, findings come back and every span lies inside it, in order.
    #[test]
    fn spans_stay_inside_any_text(
        text in prop_oneof![
            "\\PC{0,80}",
            "[{}\\[\\]\",:a-zA-Z0-9* \n]{0,120}",
        ],
        kind in 0usize..4,
    ) {
        let t = [PolicyType::Identity, PolicyType::Resource, PolicyType::Scp, PolicyType::Trust][kind];
        let chars = text.chars().count();
        for f in validate_policy(&text, t) {
            for l in &f.locations {
                prop_assert!(l.span.start.offset <= l.span.end.offset);
                prop_assert!(l.span.end.offset <= chars);
                prop_assert!(l.span.start.line >= 1);
            }
        }
    }

    /// A valid policy cut short or with one character changed still gets findings placed
    /// inside it.
    #[test]
    fn damaged_policies_are_placed(cut in 0usize..200, flip in 0usize..200, c in "[{}\\[\\]\",:*]") {
        let base = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["s3:Get*", "iam:*"], "Resource": "*", "Condition": {"StringLike": {"aws:PrincipalTag/a": "b"}}}]}"#;
        let mut text: String = base.chars().take(cut.max(1)).collect();
        if flip < text.len() && text.is_char_boundary(flip) && text.is_char_boundary(flip + 1) {
            text.replace_range(flip..flip + 1, &c);
        }
        let chars = text.chars().count();
        for f in validate_policy(&text, PolicyType::Resource) {
            for l in &f.locations {
                prop_assert!(l.span.start.offset <= l.span.end.offset && l.span.end.offset <= chars);
            }
        }
    }
}
