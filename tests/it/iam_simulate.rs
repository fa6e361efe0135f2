//! IAM's `SimulateCustomPolicy` and `SimulatePrincipalPolicy` over HTTP, called through the
//! real `aws-sdk-iam` client pointed at the broker; trust policies included.

use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum, EvaluationResult, PolicySourceType};

use crate::harness::broker::{
    ADMIN_ROLE, ALICE_ARN, APP_ROLE, GATEWAY_KEY_ID, GATEWAY_SECRET, OPS_KEY_ID, OPS_SECRET,
    TestBroker,
};
use crate::harness::idp::TestIdp;
use crate::harness::signer::Signer;

const ALLOW_S3: &str =
    r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#;
const DENY_TMP: &str = r#"{"Version":"2012-10-17","Statement":{"Sid":"NoTmp","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::tmp/*"}}"#;
const ONLY_GET: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#;
const FROM_OFFICE: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}}"#;
const BOB_ARN: &str = "arn:aws:iam::111122223333:user/bob";

fn decisions(results: &[EvaluationResult]) -> Vec<(&str, &str, &str)> {
    results
        .iter()
        .map(|r| {
            (
                r.eval_action_name(),
                r.eval_resource_name().unwrap_or_default(),
                r.eval_decision().as_str(),
            )
        })
        .collect()
}

/// The AWS error code, HTTP status and message of a refused call.
fn refused<O, E: ProvideErrorMetadata>(
    r: Result<O, SdkError<E, HttpResponse>>,
) -> (String, u16, String) {
    let Err(e) = r else {
        panic!("must be refused");
    };
    let status = e.raw_response().map_or(0, |r| r.status().as_u16());
    (
        e.code().unwrap_or_default().to_owned(),
        status,
        e.message().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn simulate_custom_policy_through_the_iam_sdk() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let iam = broker.iam_as(OPS_KEY_ID, OPS_SECRET);

    // Allowed, explicitly denied (with the statement that did it), implicitly denied.
    let out = iam
        .simulate_custom_policy()
        .policy_input_list(ALLOW_S3)
        .policy_input_list(DENY_TMP)
        .permissions_boundary_policy_input_list(ONLY_GET)
        .action_names("s3:GetObject")
        .action_names("s3:PutObject")
        .resource_arns("arn:aws:s3:::data/x")
        .resource_arns("arn:aws:s3:::tmp/x")
        .send()
        .await
        .unwrap();
    assert!(!out.is_truncated());
    let results = out.evaluation_results();
    assert_eq!(
        decisions(results),
        [
            ("s3:GetObject", "arn:aws:s3:::data/x", "allowed"),
            ("s3:GetObject", "arn:aws:s3:::tmp/x", "explicitDeny"),
            ("s3:PutObject", "arn:aws:s3:::data/x", "implicitDeny"),
            ("s3:PutObject", "arn:aws:s3:::tmp/x", "explicitDeny"),
        ]
    );
    let denied = results[1].matched_statements();
    assert!(
        denied
            .iter()
            .any(|s| s.source_policy_id() == Some("PolicyInputList.2")),
        "{denied:?}"
    );
    assert_eq!(
        denied[0].source_policy_type(),
        Some(&PolicySourceType::None)
    );
    // The boundary's own answer is reported.
    let boundary = |r: &EvaluationResult| {
        r.permissions_boundary_decision_detail()
            .map(|d| d.allowed_by_permissions_boundary())
    };
    assert_eq!(boundary(&results[0]), Some(true));
    assert_eq!(boundary(&results[2]), Some(false));

    // A condition: missing context is reported, given context decides.
    let ask = |ip: Option<&str>| {
        let mut call = iam
            .simulate_custom_policy()
            .policy_input_list(FROM_OFFICE)
            .action_names("s3:GetObject");
        if let Some(ip) = ip {
            call = call.context_entries(
                ContextEntry::builder()
                    .context_key_name("aws:SourceIp")
                    .context_key_values(ip)
                    .context_key_type(ContextKeyTypeEnum::Ip)
                    .build(),
            );
        }
        call.send()
    };
    let missing = ask(None).await.unwrap();
    let r = &missing.evaluation_results()[0];
    assert_eq!(r.eval_decision().as_str(), "implicitDeny");
    assert_eq!(r.missing_context_values(), ["aws:SourceIp"]);
    let office = ask(Some("203.0.113.9")).await.unwrap();
    assert_eq!(
        office.evaluation_results()[0].eval_decision().as_str(),
        "allowed"
    );
    assert!(
        office.evaluation_results()[0]
            .missing_context_values()
            .is_empty()
    );
    let home = ask(Some("198.51.100.1")).await.unwrap();
    assert_eq!(
        home.evaluation_results()[0].eval_decision().as_str(),
        "implicitDeny"
    );

    // Pagination: MaxItems and the Marker handed out.
    let page = |marker: Option<String>| {
        iam.simulate_custom_policy()
            .policy_input_list(ALLOW_S3)
            .action_names("s3:GetObject")
            .action_names("s3:PutObject")
            .action_names("s3:ListBucket")
            .max_items(2)
            .set_marker(marker)
            .send()
    };
    let first = page(None).await.unwrap();
    assert!(first.is_truncated());
    assert_eq!(first.evaluation_results().len(), 2);
    let second = page(first.marker().map(str::to_owned)).await.unwrap();
    assert!(!second.is_truncated());
    assert_eq!(
        decisions(second.evaluation_results()),
        [("s3:ListBucket", "*", "allowed")]
    );

    // Trust policies included: the app role trusts alice, not bob.
    let assume = |caller: &str| {
        iam.simulate_custom_policy()
            .policy_input_list(ALLOW_S3)
            .caller_arn(caller)
            .action_names("sts:AssumeRole")
            .resource_arns(APP_ROLE)
            .send()
    };
    let alice = assume(ALICE_ARN).await.unwrap();
    assert_eq!(
        alice.evaluation_results()[0].eval_decision().as_str(),
        "allowed"
    );
    let matched = alice.evaluation_results()[0].matched_statements();
    assert!(
        matched
            .iter()
            .any(|s| s.source_policy_type() == Some(&PolicySourceType::Resource)),
        "{matched:?}"
    );
    let bob = assume(BOB_ARN).await.unwrap();
    assert_eq!(
        bob.evaluation_results()[0].eval_decision().as_str(),
        "implicitDeny"
    );
}

#[tokio::test]
async fn simulate_principal_policy_for_configured_principals() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let iam = broker.iam_as(OPS_KEY_ID, OPS_SECRET);
    let simulate = |source: &str, actions: &[&str], resources: &[&str]| {
        iam.simulate_principal_policy()
            .policy_source_arn(source)
            .set_action_names(Some(actions.iter().map(|a| (*a).to_owned()).collect()))
            .set_resource_arns(
                (!resources.is_empty())
                    .then(|| resources.iter().map(|r| (*r).to_owned()).collect()),
            )
    };

    // A user in a group: the group's policy allows s3:*.
    let out = simulate(ALICE_ARN, &["s3:PutObject"], &[])
        .send()
        .await
        .unwrap();
    let r = &out.evaluation_results()[0];
    assert_eq!(r.eval_decision().as_str(), "allowed");
    assert!(
        r.matched_statements()
            .iter()
            .any(|s| s.source_policy_type() == Some(&PolicySourceType::Group)),
        "{:?}",
        r.matched_statements()
    );

    // A role: its own allow, its explicit deny, and its boundary.
    let out = simulate(
        APP_ROLE,
        &["s3:GetObject", "s3:DeleteObject", "s3:CreateBucket"],
        &["arn:aws:s3:::app-bucket"],
    )
    .send()
    .await
    .unwrap();
    let results = out.evaluation_results();
    assert_eq!(
        decisions(results),
        [
            ("s3:GetObject", "arn:aws:s3:::app-bucket", "allowed"),
            ("s3:DeleteObject", "arn:aws:s3:::app-bucket", "explicitDeny"),
            ("s3:CreateBucket", "arn:aws:s3:::app-bucket", "implicitDeny"),
        ]
    );
    assert_eq!(
        results[2]
            .permissions_boundary_decision_detail()
            .map(|d| d.allowed_by_permissions_boundary()),
        Some(false)
    );
    assert!(
        results[1]
            .matched_statements()
            .iter()
            .any(|s| s.source_policy_type() == Some(&PolicySourceType::Role)),
        "{:?}",
        results[1].matched_statements()
    );

    // Trust policies included: alice may assume `app`; `admin` only with MFA, which the
    // context can supply; bob may assume neither.
    let out = simulate(ALICE_ARN, &["sts:AssumeRole"], &[APP_ROLE, ADMIN_ROLE])
        .send()
        .await
        .unwrap();
    assert_eq!(
        decisions(out.evaluation_results()),
        [
            ("sts:AssumeRole", APP_ROLE, "allowed"),
            ("sts:AssumeRole", ADMIN_ROLE, "implicitDeny"),
        ]
    );
    let with_mfa = simulate(ALICE_ARN, &["sts:AssumeRole"], &[ADMIN_ROLE])
        .context_entries(
            ContextEntry::builder()
                .context_key_name("aws:MultiFactorAuthPresent")
                .context_key_values("true")
                .context_key_type(ContextKeyTypeEnum::Boolean)
                .build(),
        )
        .context_entries(
            ContextEntry::builder()
                .context_key_name("aws:MultiFactorAuthAge")
                .context_key_values("60")
                .context_key_type(ContextKeyTypeEnum::Numeric)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        with_mfa.evaluation_results()[0].eval_decision().as_str(),
        "allowed"
    );
    let out = simulate(BOB_ARN, &["sts:AssumeRole"], &[APP_ROLE])
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.evaluation_results()[0].eval_decision().as_str(),
        "implicitDeny"
    );
}

#[tokio::test]
async fn simulation_errors_are_iams() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let iam = broker.iam_as(OPS_KEY_ID, OPS_SECRET);

    // An unknown principal.
    let (code, status, message) = refused(
        iam.simulate_principal_policy()
            .policy_source_arn("arn:aws:iam::111122223333:user/nobody")
            .action_names("s3:GetObject")
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("NoSuchEntity", 404), "{message}");
    assert_eq!(message, "The user with name nobody cannot be found.");

    // A malformed policy.
    let (code, status, message) = refused(
        iam.simulate_custom_policy()
            .policy_input_list(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow""#)
            .action_names("s3:GetObject")
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("InvalidInput", 400), "{message}");
    assert!(message.starts_with("PolicyInputList.1: "), "{message}");

    // A marker never handed out.
    let (code, status, _) = refused(
        iam.simulate_custom_policy()
            .policy_input_list(ALLOW_S3)
            .action_names("s3:GetObject")
            .marker("not-a-marker")
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("InvalidInput", 400));

    // A caller whose policies do not allow simulation.
    let gateway = broker.iam_as(GATEWAY_KEY_ID, GATEWAY_SECRET);
    let (code, status, message) = refused(
        gateway
            .simulate_custom_policy()
            .policy_input_list(ALLOW_S3)
            .action_names("s3:GetObject")
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("AccessDenied", 403), "{message}");
    assert!(
        message.contains("is not authorized to perform: iam:SimulateCustomPolicy on resource: *"),
        "{message}"
    );
    let (code, status, message) = refused(
        gateway
            .simulate_principal_policy()
            .policy_source_arn(ALICE_ARN)
            .action_names("s3:GetObject")
            .send()
            .await,
    );
    assert_eq!((code.as_str(), status), ("AccessDenied", 403), "{message}");
    assert!(
        message.contains(&format!(
            "iam:SimulatePrincipalPolicy on resource: {ALICE_ARN}"
        )),
        "{message}"
    );

    // Unsigned, signed for sts instead of iam, and an IAM action we do not serve.
    let body = format!(
        "Action=SimulateCustomPolicy&Version=2010-05-08&ActionNames.member.1=s3%3AGetObject&PolicyInputList.member.1={}",
        form_urlencoded::byte_serialize(ALLOW_S3.as_bytes()).collect::<String>()
    );
    let post = |headers: Vec<(String, String)>, body: String| {
        let mut req = broker
            .http()
            .post(format!("{}/", broker.endpoint))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send()
    };
    let r = post(Vec::new(), body.clone()).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("<Code>MissingAuthenticationToken</Code>"),
        "{text}"
    );
    assert!(
        text.contains("xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\""),
        "{text}"
    );
    let ops = Signer::new(OPS_KEY_ID, OPS_SECRET, None);
    let url = format!("{}/", broker.endpoint);
    let ct = ("content-type", "application/x-www-form-urlencoded");
    let r = post(
        ops.sign("sts", "POST", &url, &[ct], body.as_bytes()),
        body.clone(),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<Code>SignatureDoesNotMatch</Code>")
    );
    let other = "Action=CreateInstanceProfile&Version=2010-05-08&InstanceProfileName=x".to_owned();
    let r = post(
        ops.sign("iam", "POST", &url, &[ct], other.as_bytes()),
        other,
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<Code>InvalidAction</Code>")
    );
}

/// `SimulateCustomPolicy` without `CallerArn` simulates a caller of the resource's account, so
/// an identity policy allowing another account's table is judged as IAM's simulator judges it.
#[tokio::test]
async fn simulate_custom_policy_without_a_caller_uses_the_resource_owners_account() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let iam = broker.iam_as(OPS_KEY_ID, OPS_SECRET);
    let key = "arn:aws:dynamodb:us-east-1:444455556666:table/orders";
    let out = iam
        .simulate_custom_policy()
        .policy_input_list(format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"{key}"}}}}"#
        ))
        .action_names("dynamodb:GetItem")
        .resource_arns(key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        decisions(out.evaluation_results()),
        [("dynamodb:GetItem", key, "allowed")]
    );
}

/// Actions, and resources, of [`heavy_simulation`].
const SIDE: usize = 40;

/// A policy of many conditional statements, simulated for many actions on many resources: a
/// request that keeps the CPU busy for a long while.
fn heavy_simulation(
    iam: &aws_sdk_iam::Client,
) -> aws_sdk_iam::operation::simulate_custom_policy::builders::SimulateCustomPolicyFluentBuilder {
    let statements: Vec<String> = (0..200)
        .map(|n| {
            format!(
                r#"{{"Effect":"Allow","Action":["s3:Get*","s3:List*"],"Resource":"arn:aws:s3:::bucket-{n}/*","Condition":{{"StringLike":{{"aws:PrincipalTag/team":"t-{n}*"}},"IpAddress":{{"aws:SourceIp":"10.{n}.0.0/16"}}}}}}"#
            )
        })
        .collect();
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    );
    // One result in the answer: the time is the broker's.
    let mut call = iam
        .simulate_custom_policy()
        .policy_input_list(policy)
        .max_items(1);
    for n in 0..SIDE {
        call = call
            .action_names(format!("s3:GetObject{n}"))
            .resource_arns(format!("arn:aws:s3:::bucket-{n}/key"));
    }
    call
}

/// A simulation runs off the thread serving its connection: on a broker with one serving
/// thread, other requests are answered while a long one runs (holding its slot).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_simulation_does_not_hold_up_its_thread() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start_on_threads(&idp, 1).await;
    let slots = broker.state.simulation_slots.clone();
    let free = slots.available();
    let iam = broker.iam_as(OPS_KEY_ID, OPS_SECRET);
    let started = std::time::Instant::now();
    let simulation = tokio::spawn(heavy_simulation(&iam).send());
    while slots.available() == free {
        assert!(
            !simulation.is_finished(),
            "the simulation ended without a slot"
        );
        tokio::task::yield_now().await;
    }
    // Each on a new connection, which the one serving thread serves too.
    for _ in 0..5 {
        let fresh = reqwest::Client::new();
        let answer = fresh
            .get(format!("{}/healthz", broker.endpoint))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    assert!(
        !simulation.is_finished(),
        "the simulation ended before the other requests"
    );
    let out = simulation.await.unwrap().unwrap();
    eprintln!("simulation took {:?}", started.elapsed());
    assert_eq!(out.evaluation_results().len(), 1);
    assert!(out.is_truncated());
}

/// Simulations run a bounded number at once: with every slot taken, a call waits a little and
/// is answered `ServiceUnavailable` (503, with `Retry-After`), which AWS SDKs retry; once a
/// slot is free, it runs.
#[tokio::test]
async fn with_every_simulation_slot_taken_a_simulation_is_answered_service_unavailable() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let slots = broker.state.simulation_slots.clone();
    let taken: Vec<_> = std::iter::from_fn(|| slots.try_take()).collect();
    assert!(!taken.is_empty());
    let iam = broker.iam_as(OPS_KEY_ID, OPS_SECRET);
    let call = || {
        iam.simulate_custom_policy()
            .policy_input_list(ALLOW_S3)
            .action_names("s3:GetObject")
            .send()
    };
    let busy = call().await.unwrap_err();
    let raw = busy.raw_response().unwrap();
    assert_eq!(raw.status().as_u16(), 503);
    assert_eq!(raw.headers().get("retry-after"), Some("1"));
    assert_eq!(busy.code(), Some("ServiceUnavailable"));
    drop(taken);
    let served = call().await.unwrap();
    assert_eq!(
        decisions(served.evaluation_results()),
        [("s3:GetObject", "*", "allowed")]
    );
}

/// A simulation heavier than the broker runs in one call (actions × resources × bytes of
/// policy over 2^30) is refused with `InvalidInput` before it takes a slot: a few such calls
/// cannot hold every slot for long.
#[tokio::test]
async fn a_simulation_past_the_work_budget_is_invalid_input() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let slots = broker.state.simulation_slots.clone();
    let free = slots.available();
    let iam = broker.iam_as(OPS_KEY_ID, OPS_SECRET);
    // 120 × 120 evaluations over 80 KB of policy.
    let statements: Vec<String> = (0..400)
        .map(|n| {
            format!(
                r#"{{"Sid":"S{n}","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket-{n:0>120}/*"}}"#
            )
        })
        .collect();
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    );
    assert!(policy.len() > 75_000, "{}", policy.len());
    let mut call = iam.simulate_custom_policy().policy_input_list(policy);
    for n in 0..120 {
        call = call
            .action_names(format!("s3:GetObject{n}"))
            .resource_arns(format!("arn:aws:s3:::bucket-{n}/key"));
    }
    let (code, status, message) = refused(call.send().await);
    assert_eq!((code.as_str(), status), ("InvalidInput", 400));
    assert!(message.contains("too large"), "{message}");
    assert_eq!(slots.available(), free);
}
