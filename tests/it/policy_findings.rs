//! `ValidatePolicy`'s findings ([`validate_policy`]) over a corpus: moto's invalid documents
//! each yield at least one `ERROR` and its valid ones none; every document of iam-simulate's
//! core engine cases yields an `ERROR` exactly when IAM refuses it for its type (the suite
//! gives identity policies a `Principal` now and then), and then the one IAM refuses it with,
//! or when it is a resource policy with a statement naming no principal (the suite uses such
//! statements to show they apply to no one; Access Analyzer reports `MISSING_PRINCIPAL`, and
//! services refuse them, S3 with "Missing required field Principal"); and risky documents
//! written here yield their security warnings at the lines and columns of
//! the nodes that grant the access.

use std::path::Path;

use serde_json::Value;
use sts_broker::policy::{Finding, FindingType, PolicyType, parse, validate_policy};

fn text(document: &Value) -> String {
    match document {
        Value::String(raw) => raw.clone(),
        other => serde_json::to_string_pretty(other).unwrap(),
    }
}

fn errors(findings: &[Finding]) -> Vec<&Finding> {
    findings
        .iter()
        .filter(|f| f.finding_type == FindingType::Error)
        .collect()
}

#[test]
fn moto_invalid_documents_are_errors_and_valid_ones_are_not() {
    let Some(path) = crate::support::testdata("policy/moto/iam_policy_document_validation.json")
    else {
        return;
    };
    let data: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let invalid = data["invalid_policy_document_test_cases"]
        .as_array()
        .unwrap();
    let valid = data["valid_policy_documents"].as_array().unwrap();
    assert!(invalid.len() > 50 && valid.len() > 40);
    let mut failures = Vec::new();
    for (i, case) in invalid.iter().enumerate() {
        let document = text(&case["document"]);
        let findings = validate_policy(&document, PolicyType::Identity);
        if errors(&findings).is_empty() {
            failures.push(format!(
                "invalid #{i} has no ERROR: {document}\n{findings:#?}"
            ));
        }
    }
    for (i, document) in valid.iter().enumerate() {
        let document = text(document);
        let findings = validate_policy(&document, PolicyType::Identity);
        let errors = errors(&findings);
        if !errors.is_empty() {
            failures.push(format!("valid #{i} has an ERROR: {document}\n{errors:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every policy of one iam-simulate case, with the type the case gives it.
fn case_policies(case: &Value, out: &mut Vec<(String, PolicyType)>) {
    let trust = case["request"]["action"]
        .as_str()
        .is_some_and(|a| a.to_ascii_lowercase().starts_with("sts:"));
    let lists = [
        ("identityPolicies", PolicyType::Identity),
        ("permissionBoundaries", PolicyType::PermissionsBoundary),
        ("endpointPolicies", PolicyType::Endpoint),
    ];
    for (key, t) in lists {
        for p in case[key].as_array().into_iter().flatten() {
            out.push((text(p), t));
        }
    }
    if let Some(p) = case.get("sessionPolicy") {
        out.push((text(p), PolicyType::Session));
    }
    if let Some(p) = case.get("resourcePolicy") {
        let t = if trust {
            PolicyType::Trust
        } else {
            PolicyType::Resource
        };
        out.push((text(p), t));
    }
    for (key, t) in [
        ("serviceControlPolicies", PolicyType::Scp),
        ("resourceControlPolicies", PolicyType::Rcp),
    ] {
        for level in case[key].as_array().into_iter().flatten() {
            for p in level["policies"].as_array().into_iter().flatten() {
                out.push((text(p), t));
            }
        }
    }
}

fn json_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

#[test]
fn iam_simulate_documents_are_errors_only_when_refused_or_applying_to_no_one() {
    let Some(root) = crate::support::testdata("policy/iam-simulate/coreEngineTests") else {
        return;
    };
    let mut files = Vec::new();
    json_files(&root, &mut files);
    let mut documents = Vec::new();
    for file in files {
        let cases: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for case in cases.as_array().into_iter().flatten() {
            case_policies(case, &mut documents);
        }
    }
    assert!(documents.len() > 400, "{} documents", documents.len());
    let (mut refused, mut no_principal, mut failures) = (0, 0, Vec::new());
    for (document, t) in &documents {
        let findings = validate_policy(document, *t);
        let errors = errors(&findings);
        match parse(document, *t) {
            Ok(_) if errors.is_empty() => {}
            Ok(policy)
                if *t == PolicyType::Resource
                    && errors.len()
                        == policy
                            .statements
                            .iter()
                            .filter(|s| s.principal.is_none())
                            .count()
                    && errors.iter().all(|e| e.issue_code == "MISSING_PRINCIPAL") =>
            {
                no_principal += 1;
            }
            Ok(_) => failures.push(format!(
                "{t:?} accepted by IAM, but: {errors:#?}\n{document}"
            )),
            Err(e) => {
                refused += 1;
                if errors.len() != 1 || errors[0].issue_code != e.issue.code() {
                    failures.push(format!("{t:?} refused ({e}), but: {errors:#?}\n{document}"));
                }
            }
        }
    }
    println!(
        "iam-simulate: {} documents, {refused} refused by IAM for their type, {no_principal} \
         resource policies with statements naming no principal",
        documents.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// An expected finding: its issue code, and the line and column of the node it points at.
type Expected = (&'static str, usize, usize);

/// Risky documents: a name, the type they are validated as, the text, the findings.
const RISKY: &[(&str, PolicyType, &str, &[Expected])] = &[
    (
        "a bucket open to everyone",
        PolicyType::Resource,
        r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": "*",
      "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::public/*"
    }
  ]
}"#,
        &[("PUBLIC_PRINCIPAL_WITHOUT_CONDITION", 6, 19)],
    ),
    (
        "a GitHub Actions role any repository can assume",
        PolicyType::Trust,
        r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {
        "Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"
      },
      "Action": "sts:AssumeRoleWithWebIdentity",
      "Condition": {
        "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}
      }
    }
  ]
}"#,
        &[("MISSING_GITHUB_REPO_CONDITION_KEY", 7, 21)],
    ),
    (
        "a GitLab role as a plain resource policy",
        PolicyType::Resource,
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
  "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/gitlab.com"},
  "Action": "sts:AssumeRoleWithWebIdentity"}}"#,
        &[("MISSING_SUB_CONDITION_KEY_FOR_SHARED_ISSUER", 2, 29)],
    ),
    (
        "everyone but one account",
        PolicyType::Resource,
        r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow",
   "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"},
   "Action": "sqs:SendMessage", "Resource": "*"}]}"#,
        &[("ALLOW_WITH_NOT_PRINCIPAL", 3, 19)],
    ),
    (
        "an administrator in disguise",
        PolicyType::Identity,
        r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow",
   "Action": ["s3:ListAllMyBuckets", "iam:*", "sts:*"],
   "Resource": "*"},
  {"Effect": "Allow", "Action": "iam:PassRole",
   "Resource": "arn:aws:iam::111122223333:role/*"}]}"#,
        &[
            ("WILDCARD_IAM_OR_STS_ACTION", 3, 37),
            ("WILDCARD_IAM_OR_STS_ACTION", 3, 46),
            // iam:* includes iam:PassRole, on every resource.
            ("PASS_ROLE_WITH_STAR_IN_RESOURCE", 4, 15),
            // The first statement allows iam:PassRole on every resource already.
            ("REDUNDANT_STATEMENT", 5, 2),
            ("PASS_ROLE_WITH_STAR_IN_RESOURCE", 6, 15),
        ],
    ),
    (
        "everything, everywhere",
        PolicyType::Identity,
        "{\"Version\": \"2012-10-17\",\n \"Statement\": {\"Effect\": \"Allow\", \"Action\": \"*\", \"Resource\": \"*\"}}",
        &[
            ("WILDCARD_IAM_OR_STS_ACTION", 2, 44),
            ("PASS_ROLE_WITH_STAR_IN_RESOURCE", 2, 61),
        ],
    ),
];

#[test]
fn risky_documents_yield_their_warnings_where_the_access_is_granted() {
    for (name, t, document, want) in RISKY {
        let findings = validate_policy(document, *t);
        let got: Vec<(&str, usize, usize)> = findings
            .iter()
            .map(|f| {
                let start = f.locations[0].span.start;
                (f.issue_code, start.line, start.column)
            })
            .collect();
        assert_eq!(&got, want, "{name}: {findings:#?}");
        for f in &findings {
            let want = match f.issue_code {
                "REDUNDANT_STATEMENT" => FindingType::Suggestion,
                _ => FindingType::SecurityWarning,
            };
            assert_eq!(f.finding_type, want, "{name}: {}", f.issue_code);
        }
    }
}
