//! Access Analyzer's `ValidatePolicy` (`POST /policy/validation`) as its clients call it:
//! boto3's `accessanalyzer` client (paginator included) and `aws accessanalyzer
//! validate-policy`, signed by a configured user allowed `access-analyzer:ValidatePolicy`.
//! Unsigned, unknown, wrongly scoped and unauthorized callers, malformed, oversized and
//! out-of-bounds input are refused with Access Analyzer's errors; every answer carries the
//! request id, is one audit line and is counted.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::broker::{
    ACCOUNT, ALICE_ARN, ALICE_KEY_ID, ALICE_SECRET, TestBroker, standard_config,
};
use crate::harness::idp::TestIdp;
use crate::harness::signer::Signer;

const VALIDATOR: &str = "arn:aws:iam::111122223333:user/validator";
const VALIDATOR_KEY_ID: &str = "AKIAVALIDATORKEY2345";
const VALIDATOR_SECRET: &str = "validatorSecretAccessKey/EXAMPLE+01234567";

/// A GitHub Actions trust policy that any repository's workflow satisfies.
const GITHUB_TRUST: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},
      "Action": "sts:AssumeRoleWithWebIdentity",
      "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}
    }
  ]
}"#;

/// An identity policy with three findings (every IAM action, every STS action, a `StringLike`
/// without a wildcard).
const THREE_FINDINGS: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["iam:*", "sts:*"], "Resource": "arn:aws:s3:::b"},
  {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {"StringLike": {"s3:prefix": "home"}}}]}"#;

/// The standard configuration, with an audit log and a user whose policy allows
/// `access-analyzer:ValidatePolicy` (alice's does not).
async fn broker(idp: &TestIdp) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let mut toml = standard_config(dir.path(), idp, "memory://", 0);
    std::fs::write(
        dir.path().join("validator.json"),
        r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "access-analyzer:ValidatePolicy", "Resource": "*"}]}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("validator.secret"), VALIDATOR_SECRET).unwrap();
    toml += &format!(
        "\n[[users]]\naccount = \"{ACCOUNT}\"\nname = \"validator\"\npolicy_files = [\"validator.json\"]\n\
         access_keys = [{{ id = \"{VALIDATOR_KEY_ID}\", secret_file = \"validator.secret\" }}]\n\
         \n[audit]\noutput = \"audit.log\"\n"
    );
    TestBroker::from_toml(dir, &toml).await
}

/// Calls `ValidatePolicy` once per item of `calls` with boto3 (one attempt, no retries):
/// `{"key", "secret", "args", "unsigned"?, "paginate"? (page size)}`. Each result is
/// `{"findings", "nextToken", "requestId"}`, `{"pages", "requestIds"}` or `{"error", "status",
/// "requestId"}`.
const BOTO3: &str = r#"
import json, sys
import boto3, botocore
from botocore import UNSIGNED
from botocore.config import Config

endpoint = sys.argv[1]
out = []
for call in json.load(sys.stdin):
    config = dict(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30)
    if call.get("unsigned"):
        config["signature_version"] = UNSIGNED
    client = boto3.client("accessanalyzer", endpoint_url=endpoint, region_name="eu-west-3",
                          aws_access_key_id=call["key"], aws_secret_access_key=call["secret"],
                          config=Config(**config))
    try:
        if call.get("paginate"):
            pages = list(client.get_paginator("validate_policy").paginate(
                PaginationConfig={"PageSize": call["paginate"]}, **call["args"]))
            out.append({"pages": [p["findings"] for p in pages],
                        "requestIds": [p["ResponseMetadata"]["RequestId"] for p in pages]})
        else:
            r = client.validate_policy(**call["args"])
            out.append({"findings": r["findings"], "nextToken": r.get("nextToken"),
                        "requestId": r["ResponseMetadata"]["RequestId"]})
    except botocore.exceptions.ClientError as e:
        out.append({"error": e.response["Error"],
                    "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
                    "requestId": e.response["ResponseMetadata"].get("RequestId")})
print(json.dumps(out))
"#;

/// A command with none of the machine's AWS settings.
pub(crate) fn isolated(program: &str) -> Command {
    let mut command = Command::new(program);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") && key != "AWS_CA_BUNDLE" {
            command.env_remove(key);
        }
    }
    command
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs `command` with `stdin` off the runtime (the broker serves on it meanwhile), within a
/// bound that only stops a hang; its stdout.
pub(crate) async fn run(mut command: Command, stdin: String) -> String {
    let done = tokio::task::spawn_blocking(move || {
        let mut child = command
            .spawn()
            .expect("python3 with boto3 and the AWS CLI are needed: run scripts/install-deps");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    });
    let output = tokio::time::timeout(Duration::from_secs(120), done)
        .await
        .expect("the client hung")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    String::from_utf8(output.stdout).unwrap()
}

async fn boto3(broker: &TestBroker, calls: &Value) -> Vec<Value> {
    let mut python = isolated("python3");
    python.arg("-c").arg(BOTO3).arg(&broker.endpoint);
    let out = run(python, calls.to_string()).await;
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn call(key: &str, secret: &str, args: Value) -> Value {
    json!({"key": key, "secret": secret, "args": args})
}

fn validator(args: Value) -> Value {
    call(VALIDATOR_KEY_ID, VALIDATOR_SECRET, args)
}

#[tokio::test]
async fn boto3_validates_policies_and_pages_findings() {
    let idp = TestIdp::start().await;
    let broker = broker(&idp).await;
    let identity = |doc: &str| json!({"policyDocument": doc, "policyType": "IDENTITY_POLICY"});
    let mut paged = validator(identity(THREE_FINDINGS));
    paged["paginate"] = json!(1);
    let calls = json!([
        validator(
            json!({"policyDocument": GITHUB_TRUST, "policyType": "RESOURCE_POLICY",
            "validatePolicyResourceType": "AWS::IAM::AssumeRolePolicyDocument", "locale": "EN"})
        ),
        validator(identity(
            r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
            "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}}"#
        )),
        validator(identity("{\"Version\": \"2012-10-17\", \"Statement\": [}")),
        validator(identity(
            r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}}"#
        )),
        validator(identity(THREE_FINDINGS)),
        validator(
            json!({"policyDocument": THREE_FINDINGS, "policyType": "IDENTITY_POLICY", "maxResults": 1})
        ),
        paged,
    ]);
    let results = boto3(&broker, &calls).await;
    for r in &results {
        assert!(
            r["requestId"].as_str().is_some_and(|id| id.len() == 36)
                || r["requestIds"].as_array().is_some_and(|ids| ids.len() == 3),
            "{r}"
        );
    }

    // The trust policy: a security warning at the provider that any repository satisfies.
    assert_eq!(
        results[0]["findings"],
        json!([{
            "findingDetails": "The role trusts token.actions.githubusercontent.com with no condition on token.actions.githubusercontent.com:sub, token.actions.githubusercontent.com:repository or token.actions.githubusercontent.com:repository_owner, so any repository or project on that platform can assume it.",
            "findingType": "SECURITY_WARNING",
            "issueCode": "MISSING_GITHUB_REPO_CONDITION_KEY",
            "learnMoreLink": "https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html#access-analyzer-reference-policy-checks-security-warning-missing-github-repo-condition-key",
            "locations": [{
                "path": [{"value": "Statement"}, {"index": 0}, {"value": "Principal"}, {"value": "Federated"}],
                "span": {
                    "start": {"line": 6, "column": 33, "offset": 110},
                    "end": {"line": 6, "column": 110, "offset": 187}
                }
            }]
        }])
    );
    // An identity policy naming a principal: IAM refuses it.
    assert_eq!(
        results[1]["findings"][0]["issueCode"],
        "UNSUPPORTED_PRINCIPAL"
    );
    assert_eq!(results[1]["findings"][0]["findingType"], "ERROR");
    // Not JSON.
    assert_eq!(results[2]["findings"][0]["issueCode"], "JSON_SYNTAX_ERROR");
    assert_eq!(
        results[2]["findings"][0]["locations"][0]["span"]["start"],
        json!({"line": 1, "column": 40, "offset": 40})
    );
    // Nothing to say.
    assert_eq!(results[3]["findings"], json!([]));
    assert_eq!(results[3]["nextToken"], Value::Null);

    // Pages: all three at once, one with a token, and the paginator's three pages.
    let all = results[4]["findings"].as_array().unwrap();
    let codes: Vec<&str> = all
        .iter()
        .map(|f| f["issueCode"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "WILDCARD_IAM_OR_STS_ACTION",
            "WILDCARD_IAM_OR_STS_ACTION",
            "LIKE_OPERATOR_WITHOUT_WILDCARD"
        ]
    );
    assert_eq!(results[4]["nextToken"], Value::Null);
    assert_eq!(results[5]["findings"], json!([all[0]]));
    assert!(results[5]["nextToken"].is_string());
    let pages = results[6]["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 3);
    let joined: Vec<Value> = pages
        .iter()
        .flat_map(|p| p.as_array().unwrap().clone())
        .collect();
    assert_eq!(&joined, all);

    // A token is for the request that returned it.
    let token = results[5]["nextToken"].as_str().unwrap();
    let again = boto3(
        &broker,
        &json!([
            validator(
                json!({"policyDocument": THREE_FINDINGS, "policyType": "IDENTITY_POLICY",
                "maxResults": 1, "nextToken": token})
            ),
            validator(
                json!({"policyDocument": GITHUB_TRUST, "policyType": "RESOURCE_POLICY",
                "nextToken": token})
            ),
        ]),
    )
    .await;
    assert_eq!(again[0]["findings"], json!([all[1]]));
    assert_eq!(again[1]["error"]["Code"], "ValidationException");
    assert_eq!(again[1]["status"], 400);

    // Counted under its own action.
    let counts = broker.state.stats.requests();
    let ok = counts
        .iter()
        .find(|c| c.action == "ValidatePolicy" && c.outcome.is_none())
        .unwrap();
    assert_eq!(ok.count, 10);
}

#[tokio::test]
async fn refused_callers_and_inputs_get_access_analyzers_errors() {
    let idp = TestIdp::start().await;
    let broker = broker(&idp).await;
    let args = json!({"policyDocument": THREE_FINDINGS, "policyType": "IDENTITY_POLICY"});
    let calls = json!([
        // Unsigned.
        {"key": "x", "secret": "y", "args": args, "unsigned": true},
        // A key the broker does not know.
        call("AKIANOSUCHKEYEXAMPLE", VALIDATOR_SECRET, args.clone()),
        // A wrong secret.
        call(VALIDATOR_KEY_ID, "not-the-secret", args.clone()),
        // A user whose policies do not allow ValidatePolicy.
        call(ALICE_KEY_ID, ALICE_SECRET, args.clone()),
        // Out of bounds.
        validator(json!({"policyDocument": "{}", "policyType": "TRUST_POLICY"})),
        validator(json!({"policyDocument": "{}", "policyType": "IDENTITY_POLICY", "locale": "XX"})),
        validator(json!({"policyDocument": "{}", "policyType": "IDENTITY_POLICY",
            "validatePolicyResourceType": "AWS::S3::Bucket"})),
        validator(json!({"policyDocument": "{}", "policyType": "IDENTITY_POLICY", "maxResults": 0})),
        validator(json!({"policyDocument": "{}", "policyType": "IDENTITY_POLICY", "nextToken": "bm90IG91cnM"})),
    ]);
    let results = boto3(&broker, &calls).await;
    let got: Vec<(&str, u64)> = results
        .iter()
        .map(|r| {
            (
                r["error"]["Code"].as_str().unwrap(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("MissingAuthenticationTokenException", 403),
            ("UnrecognizedClientException", 403),
            ("InvalidSignatureException", 403),
            ("AccessDeniedException", 403),
            ("ValidationException", 400),
            ("ValidationException", 400),
            ("ValidationException", 400),
            ("ValidationException", 400),
            ("ValidationException", 400),
        ]
    );
    for r in &results {
        assert!(
            r["requestId"].as_str().is_some_and(|id| id.len() == 36),
            "{r}"
        );
    }
    assert!(
        results[3]["error"]["Message"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "User: {ALICE_ARN} is not authorized to perform: access-analyzer:ValidatePolicy on resource: *"
            )),
        "{}",
        results[3]["error"]["Message"]
    );

    // Raw requests: the body and the signature's scope.
    let http = broker.http();
    let url = format!("{}/policy/validation", broker.endpoint);
    let signer = Signer::new(VALIDATOR_KEY_ID, VALIDATOR_SECRET, None);
    let send = |service: &'static str, content_type: &'static str, body: String| {
        let signed = signer.sign(
            service,
            "POST",
            &url,
            &[("content-type", content_type)],
            body.as_bytes(),
        );
        let mut request = http
            .post(&url)
            .header("content-type", content_type)
            .body(body);
        for (n, v) in signed {
            request = request.header(n, v);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let error_type = response.headers()["x-amzn-errortype"]
                .to_str()
                .unwrap()
                .to_owned();
            let id = response.headers()["x-amzn-requestid"]
                .to_str()
                .unwrap()
                .to_owned();
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["requestId"], id.as_str());
            (status, error_type, body)
        }
    };
    let ok_body = args.to_string();
    let (status, error_type, body) = send("sts", "application/json", ok_body.clone()).await;
    assert_eq!(
        (status, error_type.as_str()),
        (403, "InvalidSignatureException")
    );
    assert_eq!(
        body["message"],
        "Credential should be scoped to correct service: 'access-analyzer'. "
    );
    let (status, error_type, body) = send("access-analyzer", "text/plain", ok_body).await;
    assert_eq!((status, error_type.as_str()), (400, "ValidationException"));
    assert_eq!(body["reason"], "cannotParse");
    for malformed in [
        "not json".to_owned(),
        json!({"policyType": "IDENTITY_POLICY"}).to_string(),
        json!({"policyDocument": "{}", "policyType": "IDENTITY_POLICY", "maxResults": 1})
            .to_string(),
        json!({"policyDocument": 7, "policyType": "IDENTITY_POLICY"}).to_string(),
    ] {
        let (status, error_type, body) =
            send("access-analyzer", "application/json", malformed.clone()).await;
        assert_eq!(
            (status, error_type.as_str()),
            (400, "ValidationException"),
            "{malformed}"
        );
        assert_eq!(body["reason"], "cannotParse", "{malformed}");
    }
    // A document over the largest the engine reads, in a body the broker reads.
    let long = format!(
        r#"{{"Version": "2012-10-17", "Id": "{}"}}"#,
        "x".repeat(140 * 1024)
    );
    let body = json!({"policyDocument": long, "policyType": "IDENTITY_POLICY"}).to_string();
    let (status, error_type, body) = send("access-analyzer", "application/json", body).await;
    assert_eq!((status, error_type.as_str()), (400, "ValidationException"));
    assert_eq!(body["reason"], "fieldValidationFailed");
    assert_eq!(
        body["message"],
        "policyDocument must be at most 131072 bytes"
    );
    // A body over the limit is refused before it is read.
    let huge = json!({"policyDocument": "x".repeat(600 * 1024), "policyType": "IDENTITY_POLICY"})
        .to_string();
    let (status, error_type, _) = send("access-analyzer", "application/json", huge).await;
    assert_eq!(
        (status, error_type.as_str()),
        (413, "RequestEntityTooLargeException")
    );

    // Another method.
    let response = http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "ValidationException"
    );
    assert!(response.headers().contains_key("x-amzn-requestid"));

    // One audit line per call that reached the front door, allowed or not.
    broker.state.audit.flush().await;
    let text = std::fs::read_to_string(broker.dir.path().join("audit.log")).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["action"] == "access-analyzer:ValidatePolicy")
        .collect();
    let decisions: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["decision"].as_str().unwrap(),
                l["reason"].as_str().unwrap_or("-"),
                l["principal"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        decisions[..5],
        [
            ("Deny", "MissingAuthenticationToken", "-"),
            ("Deny", "InvalidClientTokenId", "-"),
            ("Deny", "SignatureDoesNotMatch", "-"),
            ("Deny", "implicitDeny", ALICE_ARN),
            ("Error", "ValidationError", VALIDATOR),
        ]
    );
    // Nine boto3 calls, the scope, the content type, four malformed bodies and the long
    // document (the body too large was refused by its length, before any front door).
    assert_eq!(lines.len(), 9 + 1 + 1 + 4 + 1, "{text}");
    assert!(!text.contains(VALIDATOR_SECRET) && !text.contains(ALICE_SECRET));
}

/// `aws accessanalyzer validate-policy`, as an operator would run it against the broker.
#[tokio::test]
async fn the_aws_cli_validates_a_trust_policy() {
    let idp = TestIdp::start().await;
    let broker = broker(&idp).await;
    let aws = if Command::new("aws").arg("--version").output().is_ok() {
        isolated("aws")
    } else {
        let mut python = isolated("python3");
        python.args(["-m", "awscli"]);
        python
    };
    let mut aws = aws;
    aws.args([
        "accessanalyzer",
        "validate-policy",
        "--endpoint-url",
        &broker.endpoint,
        "--region",
        "ap-southeast-2",
        "--policy-type",
        "RESOURCE_POLICY",
        "--validate-policy-resource-type",
        "AWS::IAM::AssumeRolePolicyDocument",
        "--policy-document",
        GITHUB_TRUST,
        "--output",
        "json",
    ])
    .env("AWS_ACCESS_KEY_ID", VALIDATOR_KEY_ID)
    .env("AWS_SECRET_ACCESS_KEY", VALIDATOR_SECRET);
    let out: Value = serde_json::from_str(&run(aws, String::new()).await).unwrap();
    let findings = out["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{out}");
    assert_eq!(
        findings[0]["issueCode"],
        "MISSING_GITHUB_REPO_CONDITION_KEY"
    );
    assert_eq!(findings[0]["locations"][0]["span"]["start"]["line"], 6);
}
