//! The `sts-broker policy` commands, run as the real binary.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn broker(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sts-broker"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `text` written to `name` in `dir` (the test's own folder, removed when it ends).
fn temp_file(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const PROVIDER: &str =
    "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com";

fn trust_case(sub: &str) -> Value {
    let trust = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/examples/github-trust.json"
    ))
    .unwrap();
    json!({
        "ResourcePolicy": trust,
        "CallerArn": PROVIDER,
        "ActionNames": ["sts:AssumeRoleWithWebIdentity"],
        "ResourceArns": ["arn:aws:iam::111122223333:role/deploy"],
        "ContextEntries": [
            {"ContextKeyName": "token.actions.githubusercontent.com:aud", "ContextKeyValues": ["sts.amazonaws.com"], "ContextKeyType": "string"},
            {"ContextKeyName": "token.actions.githubusercontent.com:sub", "ContextKeyValues": [sub], "ContextKeyType": "string"}
        ]
    })
}

#[test]
fn simulate_evaluates_trust_policies_for_federated_callers() {
    let case = trust_case("repo:acme/app:ref:refs/heads/main").to_string();
    let out = broker(
        &["policy", "simulate", "--cli-input-json", "-"],
        Some(&case),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let r = &v["EvaluationResults"][0];
    assert_eq!(r["EvalDecision"], "allowed");
    assert_eq!(
        r["MatchedStatements"][0]["SourcePolicyId"],
        "ResourcePolicy"
    );
    assert_eq!(
        r["Explanation"]["MatchedStatements"][0]["Sid"],
        "GitHubActionsDeploy"
    );
    assert_eq!(v["IsTruncated"], false);
}

#[test]
fn simulate_explains_which_condition_denied() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_file(
        &dir,
        "deny.json",
        &trust_case("repo:evil/app:ref:refs/heads/main").to_string(),
    );
    let arg = format!("file://{}", path.display());
    let out = broker(&["policy", "simulate", "--cli-input-json", &arg], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let r = &v["EvaluationResults"][0];
    assert_eq!(r["EvalDecision"], "implicitDeny");
    assert!(
        r["Explanation"]["Summary"]
            .as_str()
            .unwrap()
            .contains("trust policy does not allow")
    );
    let reason = r["Explanation"]["NearMisses"][0]["Reason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("StringLike"), "{reason}");
    assert!(
        reason.contains("token.actions.githubusercontent.com:sub"),
        "{reason}"
    );
    assert!(reason.contains("repo:evil/app"), "{reason}");
}

#[test]
fn simulate_identity_boundary_and_session_policies() {
    let allow_s3 =
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#;
    let only_get = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#;
    let deny_tmp = r#"{"Version":"2012-10-17","Statement":{"Sid":"NoTmp","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::tmp/*"}}"#;
    let case = json!({
        "PolicyInputList": [allow_s3, deny_tmp],
        "PermissionsBoundaryPolicyInputList": [allow_s3],
        "SessionPolicyInputList": [only_get],
        "CallerArn": "arn:aws:sts::111122223333:assumed-role/app/s1",
        "ResourceOwner": "111122223333",
        "ActionNames": ["s3:GetObject", "s3:PutObject"],
        "ResourceArns": ["arn:aws:s3:::data/x", "arn:aws:s3:::tmp/x"]
    });
    let out = broker(
        &["policy", "simulate", "--cli-input-json", "-"],
        Some(&case.to_string()),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let decisions: Vec<(&str, &str, &str)> = v["EvaluationResults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["EvalActionName"].as_str().unwrap(),
                r["EvalResourceName"].as_str().unwrap(),
                r["EvalDecision"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("s3:GetObject", "arn:aws:s3:::data/x", "allowed"),
            ("s3:GetObject", "arn:aws:s3:::tmp/x", "explicitDeny"),
            ("s3:PutObject", "arn:aws:s3:::data/x", "implicitDeny"),
            ("s3:PutObject", "arn:aws:s3:::tmp/x", "explicitDeny"),
        ]
    );
    let put = &v["EvaluationResults"][2]["Explanation"]["Summary"];
    assert!(
        put.as_str().unwrap().contains("no session policy allows"),
        "{put}"
    );
}

#[test]
fn simulate_reports_missing_context_values() {
    let p = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}}"#;
    let case = json!({"PolicyInputList": [p], "ActionNames": ["s3:GetObject"], "ResourceArns": ["arn:aws:s3:::b/alice/x"]});
    let out = broker(
        &["policy", "simulate", "--cli-input-json", "-"],
        Some(&case.to_string()),
    );
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["EvaluationResults"][0]["EvalDecision"], "implicitDeny");
    assert_eq!(
        v["EvaluationResults"][0]["MissingContextValues"],
        json!(["aws:SecureTransport"])
    );
}

#[test]
fn simulate_rejects_bad_input_with_aws_codes() {
    let bad_policy = json!({"PolicyInputList": ["{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"*\",\"Condition\":{\"StringEquals\":{\"k\":\"a\"},\"StringEquals\":{\"k\":\"b\"}}}}"], "ActionNames": ["s3:GetObject"]});
    let cases = [
        ("not json", "InvalidInput"),
        ("{}", "InvalidInput"),
        (r#"{"ActionNames": []}"#, "InvalidInput"),
        (
            r#"{"ActionNames": ["s3:GetObject"], "CallerArn": "nobody"}"#,
            "InvalidInput",
        ),
        (&bad_policy.to_string(), "MalformedPolicyDocument"),
    ];
    for (input, code) in cases {
        let out = broker(
            &["policy", "simulate", "--cli-input-json", "-"],
            Some(input),
        );
        assert_eq!(out.status.code(), Some(1), "{input}");
        assert!(stdout(&out).is_empty(), "{input}");
        assert!(stderr(&out).starts_with(code), "{input}: {}", stderr(&out));
    }
    let dup = broker(
        &["policy", "simulate", "--cli-input-json", "-"],
        Some(&bad_policy.to_string()),
    );
    assert!(stderr(&dup).contains("duplicate key"), "{}", stderr(&dup));
    assert!(
        stderr(&dup).contains("PolicyInputList.1"),
        "{}",
        stderr(&dup)
    );
}

#[test]
fn simulate_reports_an_unreadable_file() {
    let out = broker(
        &[
            "policy",
            "simulate",
            "--cli-input-json",
            "file:///nonexistent/case.json",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/case.json"));
}

#[test]
fn lint_prints_errors_and_warnings_with_their_statement() {
    let dir = tempfile::tempdir().unwrap();
    let good = temp_file(
        &dir,
        "good.json",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
    );
    let warn = temp_file(
        &dir,
        "warn.json",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
            {"Sid":"Wild","Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"dev*"}}}]}"#,
    );
    let bad = temp_file(
        &dir,
        "bad.json",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","NotAction":"s3:PutObject","Resource":"*"}}"#,
    );
    let path = |p: &std::path::Path| p.display().to_string();

    let out = broker(&["policy", "lint", &path(&good), &path(&warn)], None);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("good.json: ok (identity policy)"), "{text}");
    assert!(
        text.contains("warn.json: warning: statement 2 (Sid \"Wild\")"),
        "{text}"
    );
    assert!(text.contains("wildcard-in-string-equals"), "{text}");

    let out = broker(&["policy", "lint", &path(&good), &path(&bad)], None);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("bad.json: error: MalformedPolicyDocument"),
        "{text}"
    );
    assert!(text.contains("both Action and NotAction"), "{text}");
}

/// Without `CallerArn` the caller is a user of the resource's account (as IAM's simulator
/// does for a caller in the account owning the resources), and the output says so: an
/// identity policy that allows the action on another account's table is not turned into a
/// cross-account denial by an invented caller account.
#[test]
fn simulate_without_a_caller_uses_the_resource_owners_account() {
    let allow_table = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"arn:aws:dynamodb:us-east-1:444455556666:table/orders"}}"#;
    let case = json!({
        "PolicyInputList": [allow_table],
        "ActionNames": ["dynamodb:GetItem"],
        "ResourceArns": ["arn:aws:dynamodb:us-east-1:444455556666:table/orders"],
    });
    let check = |text: &str| {
        let out: Value = serde_json::from_str(text).unwrap();
        let r = &out["EvaluationResults"][0];
        assert_eq!(r["EvalDecision"], "allowed", "{r}");
        assert_eq!(
            r["SimulatedCaller"], "arn:aws:iam::444455556666:user/SimulatedCaller",
            "{r}"
        );
    };
    // The command function and the real binary.
    let direct = sts_broker::cli::policy::run_simulate(&case.to_string());
    assert_eq!(direct.status, 0, "{}", direct.stderr);
    check(&direct.stdout);
    let o = broker(
        &["policy", "simulate", "--cli-input-json", "-"],
        Some(&case.to_string()),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    check(&stdout(&o));

    // `ResourceOwner` names the account of resources whose ARN has none (S3).
    let allow_bucket = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/*"}}"#;
    let owned = json!({
        "PolicyInputList": [allow_bucket],
        "ActionNames": ["s3:GetObject"],
        "ResourceArns": ["arn:aws:s3:::data/x"],
        "ResourceOwner": "arn:aws:iam::777788889999:root",
    });
    let out = sts_broker::cli::policy::run_simulate(&owned.to_string());
    let out: Value = serde_json::from_str(&out.stdout).unwrap();
    let r = &out["EvaluationResults"][0];
    assert_eq!(r["EvalDecision"], "allowed", "{r}");
    assert_eq!(
        r["SimulatedCaller"],
        "arn:aws:iam::777788889999:user/SimulatedCaller"
    );

    // A caller that is named is simulated as given and not reported.
    let named = json!({
        "PolicyInputList": [allow_table],
        "ActionNames": ["dynamodb:GetItem"],
        "ResourceArns": ["arn:aws:dynamodb:us-east-1:444455556666:table/orders"],
        "CallerArn": "arn:aws:iam::111122223333:user/alice",
    });
    let out = sts_broker::cli::policy::run_simulate(&named.to_string());
    let out: Value = serde_json::from_str(&out.stdout).unwrap();
    let r = &out["EvaluationResults"][0];
    assert_eq!(r["EvalDecision"], "implicitDeny", "{r}");
    assert!(r.get("SimulatedCaller").is_none(), "{r}");
}
