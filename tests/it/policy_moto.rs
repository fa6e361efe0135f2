//! Conformance with moto's IAM policy-document validation cases (messages observed from AWS):
//! every invalid document is refused with IAM's exact message, every valid one is accepted.

use serde_json::Value;
use sts_broker::policy::{PolicyType, parse};

/// The document as IAM would receive it: a JSON string is raw (possibly non-JSON) text.
fn text(document: &Value) -> String {
    match document {
        Value::String(raw) => raw.clone(),
        other => serde_json::to_string(other).unwrap(),
    }
}

#[test]
fn moto_policy_document_validation() {
    let Some(path) = crate::support::testdata("policy/moto/iam_policy_document_validation.json")
    else {
        return;
    };
    let data: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let invalid = data["invalid_policy_document_test_cases"]
        .as_array()
        .unwrap();
    let valid = data["valid_policy_documents"].as_array().unwrap();
    let mut failures = Vec::new();

    let mut rejected = 0;
    for (i, case) in invalid.iter().enumerate() {
        let document = text(&case["document"]);
        let expected = case["error_message"].as_str().unwrap();
        match parse(&document, PolicyType::Identity) {
            Err(err) if err.aws_message == expected => rejected += 1,
            Err(err) => failures.push(format!(
                "invalid #{i} {document}\n    expected: {expected}\n    got:      {err}"
            )),
            Ok(_) => failures.push(format!(
                "invalid #{i} {document}\n    expected: {expected}\n    got:      accepted"
            )),
        }
    }

    let mut accepted = 0;
    for (i, document) in valid.iter().enumerate() {
        let document = text(document);
        match parse(&document, PolicyType::Identity) {
            Ok(_) => accepted += 1,
            Err(err) => failures.push(format!(
                "valid #{i} {document}\n    expected: accepted\n    got:      {err}"
            )),
        }
    }

    println!(
        "moto validation: {rejected}/{} invalid rejected, {accepted}/{} valid accepted",
        invalid.len(),
        valid.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} moto cases disagree:\n{}",
        failures.len(),
        invalid.len() + valid.len(),
        failures.join("\n")
    );
}
