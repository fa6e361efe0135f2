//! The authorize API (`POST /authorize`): a resource server forwards a request its client signed
//! with the AWS SDK's signer, plus the action and resource it maps to; the broker verifies the
//! signature and decides with the caller's effective permissions.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use ring::digest;
use serde_json::{Value, json};
use sts_broker::clock::ManualClock;

use crate::harness::broker::{
    ACCOUNT, ALICE_ARN, ALICE_KEY_ID, ALICE_SECRET, APP_ROLE, BOB_KEY_ID, BOB_SECRET,
    GATEWAY_KEY_ID, GATEWAY_SECRET, OPS_KEY_ID, OPS_SECRET, TestBroker,
};
use crate::harness::idp::TestIdp;
use crate::harness::signer::Signer;

const HOST: &str = "objects.example.com";

pub(crate) fn gateway() -> Signer {
    Signer::new(GATEWAY_KEY_ID, GATEWAY_SECRET, None)
}

/// The request `client` sent to the resource server, signed for `s3` at `at`, as the server
/// forwards it: method, path, query, every header it received.
pub(crate) fn forwarded_at(
    client: &Signer,
    method: &str,
    path: &str,
    body: &[u8],
    at: SystemTime,
) -> Value {
    let url = format!("https://{HOST}{path}");
    let mut headers = vec![("host".to_owned(), HOST.to_owned())];
    headers.extend(client.sign_at("s3", method, &url, &[], body, false, at));
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    json!({"method": method, "path": path, "query": query, "headers": headers})
}

pub(crate) fn forwarded(client: &Signer, method: &str, path: &str) -> Value {
    forwarded_at(client, method, path, b"", SystemTime::now())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `POST /authorize` signed by `service` at `at` (unsigned when `None`); status and JSON.
pub(crate) async fn call_at(
    broker: &TestBroker,
    service: Option<&Signer>,
    body: &str,
    at: SystemTime,
) -> (u16, Value) {
    let url = format!("{}/authorize", broker.endpoint);
    let content_type = ("content-type", "application/json");
    let mut request = broker
        .http()
        .post(&url)
        .header(content_type.0, content_type.1)
        .body(body.to_owned());
    if let Some(s) = service {
        for (n, v) in s.sign_at(
            "sts",
            "POST",
            &url,
            &[content_type],
            body.as_bytes(),
            false,
            at,
        ) {
            request = request.header(n, v);
        }
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, value)
}

pub(crate) async fn call(
    broker: &TestBroker,
    service: Option<&Signer>,
    body: &Value,
) -> (u16, Value) {
    call_at(broker, service, &body.to_string(), SystemTime::now()).await
}

/// A session of the `app` role for alice, with a session tag, a source identity and, when
/// given, a session policy.
pub async fn app_session(broker: &TestBroker, name: &str, policy: Option<&str>) -> Signer {
    let out = broker
        .sts_as(ALICE_KEY_ID, ALICE_SECRET, None)
        .assume_role()
        .role_arn(APP_ROLE)
        .role_session_name(name)
        .source_identity("alice")
        .tags(
            aws_sdk_sts::types::Tag::builder()
                .key("project")
                .value("checkout")
                .build()
                .unwrap(),
        )
        .set_policy(policy.map(str::to_owned))
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    Signer::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token()),
    )
}

pub(crate) fn ask(request: Value, action: &str, resource: &str) -> Value {
    json!({"request": request, "action": action, "resource": resource})
}

#[tokio::test]
async fn decisions_for_users_and_role_sessions() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let gw = gateway();
    let alice = Signer::new(ALICE_KEY_ID, ALICE_SECRET, None);

    // A user, allowed by its group's policy.
    let (status, v) = call(
        &broker,
        Some(&gw),
        &ask(
            forwarded(&alice, "GET", "/app-bucket/k"),
            "s3:GetObject",
            "arn:aws:s3:::app-bucket/k",
        ),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["authenticated"], true);
    assert_eq!(v["decision"], "Allow");
    assert_eq!(v["allowed"], true);
    assert_eq!(v["principal"]["arn"], ALICE_ARN);
    assert_eq!(v["principal"]["type"], "User");
    assert_eq!(v["principal"]["account"], ACCOUNT);
    assert!(
        v["principal"]["user_id"]
            .as_str()
            .unwrap()
            .starts_with("AIDA")
    );
    assert!(v.get("explanation").is_none());

    // A role session: allowed by the role's policy, within boundary and session.
    let session = app_session(&broker, "web", None).await;
    let (status, v) = call(
        &broker,
        Some(&gw),
        &ask(
            forwarded(&session, "GET", "/app-bucket/k"),
            "s3:GetObject",
            "arn:aws:s3:::app-bucket/k",
        ),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["decision"], "Allow", "{v}");
    let p = &v["principal"];
    assert_eq!(p["arn"], "arn:aws:sts::111122223333:assumed-role/app/web");
    assert_eq!(p["type"], "AssumedRole");
    assert_eq!(p["role_arn"], APP_ROLE);
    assert_eq!(p["session_name"], "web");
    assert_eq!(p["source_identity"], "alice");
    assert_eq!(
        p["tags"],
        json!({"project": "checkout", "team": "payments"})
    );
    assert!(p["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(p["user_id"].as_str().unwrap().starts_with("AROA"));
    assert!(p.get("secret_access_key").is_none() && p.get("session_token").is_none());

    // Denied by the permissions boundary (the role's policy allows s3:*).
    let (_, v) = call(
        &broker,
        Some(&gw),
        &ask(
            forwarded(&session, "DELETE", "/app-bucket/k?uploadId=1"),
            "s3:AbortMultipartUpload",
            "arn:aws:s3:::app-bucket/k",
        ),
    )
    .await;
    assert_eq!(v["decision"], "ImplicitDeny", "{v}");
    assert_eq!(v["allowed"], false);
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("permissions boundary"),
        "{v}"
    );

    // Explicitly denied.
    let (_, v) = call(
        &broker,
        Some(&gw),
        &ask(
            forwarded(&session, "DELETE", "/app-bucket/k"),
            "s3:DeleteObject",
            "arn:aws:s3:::app-bucket/k",
        ),
    )
    .await;
    assert_eq!(v["decision"], "ExplicitDeny", "{v}");
    assert_eq!(
        v["reason"],
        "an explicit deny in an identity policy applies"
    );

    // Denied by the session policy.
    let narrow = app_session(
        &broker,
        "read-only",
        Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#),
    )
    .await;
    let (_, v) = call(
        &broker,
        Some(&gw),
        &ask(
            forwarded(&narrow, "PUT", "/app-bucket/k"),
            "s3:PutObject",
            "arn:aws:s3:::app-bucket/k",
        ),
    )
    .await;
    assert_eq!(v["decision"], "ImplicitDeny", "{v}");
    assert!(
        v["reason"].as_str().unwrap().contains("session policy"),
        "{v}"
    );

    // Condition keys from the service, and the principal's tags, reach the policies: a
    // resource policy conditioned on both grants to the session in the same account.
    let rp = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:sts::111122223333:assumed-role/app/web"},
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/*",
        "Condition": {"StringEquals": {"aws:PrincipalTag/project": "checkout", "s3:ExistingObjectTag/public": "yes"}}}]});
    let mut body = ask(
        forwarded(&session, "GET", "/shared/x"),
        "s3:GetObject",
        "arn:aws:s3:::shared/x",
    );
    let (_, v) = call(&broker, Some(&gw), &body).await;
    assert_eq!(v["decision"], "ImplicitDeny", "{v}");
    body["resource_policy"] = rp;
    body["context"] = json!({"s3:ExistingObjectTag/public": "yes"});
    body["request"] = forwarded(&session, "GET", "/shared/x");
    let (_, v) = call(&broker, Some(&gw), &body).await;
    assert_eq!(v["decision"], "Allow", "{v}");
    body["context"] = json!({"s3:ExistingObjectTag/public": ["no"]});
    let (_, v) = call(&broker, Some(&gw), &body).await;
    assert_eq!(v["decision"], "ImplicitDeny", "{v}");
}

#[tokio::test]
async fn resource_policies_grant_across_accounts_only_with_the_identity_side() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let gw = gateway();
    let alice = Signer::new(ALICE_KEY_ID, ALICE_SECRET, None);
    let bob = Signer::new(BOB_KEY_ID, BOB_SECRET, None);
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": ["arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:user/bob"]},
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::partner/*"}]});
    let question = |who: &Signer, with_policy: bool| {
        let mut q = ask(
            forwarded(who, "GET", "/partner/x"),
            "s3:GetObject",
            "arn:aws:s3:::partner/x",
        );
        q["resource_account"] = json!("444455556666");
        if with_policy {
            q["resource_policy"] = policy.clone();
        }
        q
    };
    // Alice's own policies allow s3:*; the other account's bucket must say so too.
    let (_, v) = call(&broker, Some(&gw), &question(&alice, false)).await;
    assert_eq!(v["decision"], "ImplicitDeny", "{v}");
    let (_, v) = call(&broker, Some(&gw), &question(&alice, true)).await;
    assert_eq!(v["decision"], "Allow", "{v}");
    // Bob is named by the bucket but his own policies do not allow s3.
    let (_, v) = call(&broker, Some(&gw), &question(&bob, true)).await;
    assert_eq!(v["decision"], "ImplicitDeny", "{v}");
}

#[tokio::test]
async fn explanations_only_for_services_allowed_to_see_them() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let alice = Signer::new(ALICE_KEY_ID, ALICE_SECRET, None);
    let body = |explain| {
        let mut q = ask(
            forwarded(&alice, "GET", "/app-bucket/k"),
            "s3:DeleteBucket",
            "arn:aws:s3:::app-bucket",
        );
        q["explain"] = json!(explain);
        q
    };
    let ops = Signer::new(OPS_KEY_ID, OPS_SECRET, None);
    let (status, v) = call(&broker, Some(&ops), &body(true)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["decision"], "Allow");
    let explanation = &v["explanation"];
    assert_eq!(explanation["Decision"], "allowed", "{v}");
    assert!(
        !explanation["MatchedStatements"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Not asked: none.
    let (_, v) = call(&broker, Some(&ops), &body(false)).await;
    assert!(v.get("explanation").is_none());
    // The gateway may authorize but not see explanations.
    let (_, v) = call(&broker, Some(&gateway()), &body(true)).await;
    assert_eq!(v["decision"], "Allow");
    assert!(v.get("explanation").is_none(), "{v}");
}

#[tokio::test]
async fn the_calling_service_must_be_signed_and_allowed() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let alice = Signer::new(ALICE_KEY_ID, ALICE_SECRET, None);
    let body = ask(
        forwarded(&alice, "GET", "/app-bucket/k"),
        "s3:GetObject",
        "arn:aws:s3:::app-bucket/k",
    );
    // Bob has no broker:Authorize.
    let bob = Signer::new(BOB_KEY_ID, BOB_SECRET, None);
    let (status, v) = call(&broker, Some(&bob), &body).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["code"], "AccessDenied");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("User: arn:aws:iam::111122223333:user/bob is not authorized to perform: broker:Authorize on resource: arn:aws:s3:::app-bucket/k"),
        "{v}"
    );
    // Unsigned.
    let (status, v) = call(&broker, None, &body).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("MissingAuthenticationToken"))
    );
    // Signed with a wrong secret.
    let forger = Signer::new(GATEWAY_KEY_ID, BOB_SECRET, None);
    let (status, v) = call(&broker, Some(&forger), &body).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("SignatureDoesNotMatch"))
    );
}

#[tokio::test]
async fn bad_bodies_get_clean_json_errors() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let gw = gateway();
    let alice = Signer::new(ALICE_KEY_ID, ALICE_SECRET, None);
    let now = SystemTime::now();
    let good = ask(
        forwarded(&alice, "GET", "/app-bucket/k"),
        "s3:GetObject",
        "arn:aws:s3:::app-bucket/k",
    );
    let mut unknown = good.clone();
    unknown["surprise"] = json!(1);
    let mut bad_action = good.clone();
    bad_action["action"] = json!("GetObject");
    let mut reserved = good.clone();
    reserved["context"] = json!({"aws:PrincipalArn": "arn:aws:iam::111122223333:user/ops"});
    let mut bad_policy = good.clone();
    bad_policy["resource_policy"] =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Maybe"}]});
    let mut both = good.clone();
    both["request"]["payload_hash"] = json!(hex(digest::digest(&digest::SHA256, b"").as_ref()));
    both["request"]["body"] = json!("");
    let mut bad_hash = good.clone();
    bad_hash["request"]["payload_hash"] = json!("abc");
    for (body, code, status) in [
        ("{not json".to_owned(), "ValidationError", 400),
        (unknown.to_string(), "ValidationError", 400),
        (bad_action.to_string(), "ValidationError", 400),
        (reserved.to_string(), "ValidationError", 400),
        (bad_policy.to_string(), "MalformedPolicyDocument", 400),
        (both.to_string(), "ValidationError", 400),
        (bad_hash.to_string(), "ValidationError", 400),
    ] {
        let (s, v) = call_at(&broker, Some(&gw), &body, now).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {v}"
        );
    }
    // Too large (past the 512 KiB default body limit), signed or not: 413 as JSON.
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(600 * 1024));
    let (s, v) = call_at(&broker, Some(&gw), &big, now).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (413, Some("RequestEntityTooLarge")),
        "{v}"
    );
    // GET is not served.
    let r = broker
        .http()
        .get(format!("{}/authorize", broker.endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "MethodNotAllowed");
}

#[tokio::test]
async fn forwarded_requests_that_do_not_verify_are_unauthenticated() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let gw = gateway();
    let alice = Signer::new(ALICE_KEY_ID, ALICE_SECRET, None);

    // Tampered: the path is not the one signed.
    let mut request = forwarded(&alice, "GET", "/app-bucket/k");
    request["path"] = json!("/app-bucket/other");
    let (status, v) = call(
        &broker,
        Some(&gw),
        &ask(request, "s3:GetObject", "arn:aws:s3:::app-bucket/other"),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["authenticated"], false);
    assert_eq!(v["allowed"], false);
    assert_eq!(v["error"]["code"], "SignatureDoesNotMatch");
    assert_eq!(v["status"], 403);
    assert!(v.get("principal").is_none());

    // Unsigned forwarded request.
    let unsigned = json!({"method": "GET", "path": "/", "headers": [["host", HOST]]});
    let (_, v) = call(
        &broker,
        Some(&gw),
        &ask(unsigned, "s3:ListAllMyBuckets", "*"),
    )
    .await;
    assert_eq!(v["error"]["code"], "MissingAuthenticationToken");

    // A body: given as bytes or as its hash, it must be the signed one.
    let payload = br#"{"order": 7}"#;
    let signed = forwarded_at(&alice, "POST", "/app-bucket/k", payload, SystemTime::now());
    let mut with_body = ask(signed.clone(), "s3:PutObject", "arn:aws:s3:::app-bucket/k");
    with_body["request"]["body"] = json!(base64::engine::general_purpose::STANDARD.encode(payload));
    let (_, v) = call(&broker, Some(&gw), &with_body).await;
    assert_eq!(v["decision"], "Allow", "{v}");
    let mut with_hash = ask(signed.clone(), "s3:PutObject", "arn:aws:s3:::app-bucket/k");
    with_hash["request"]["payload_hash"] =
        json!(hex(digest::digest(&digest::SHA256, payload).as_ref()));
    let (_, v) = call(&broker, Some(&gw), &with_hash).await;
    assert_eq!(v["decision"], "Allow", "{v}");
    with_hash["request"]["payload_hash"] =
        json!(hex(
            digest::digest(&digest::SHA256, b"{\"order\": 8}").as_ref()
        ));
    let (_, v) = call(&broker, Some(&gw), &with_hash).await;
    assert_eq!(v["error"]["code"], "SignatureDoesNotMatch", "{v}");

    // Scoped to another service than the one the resource server expects.
    let mut scoped = ask(
        forwarded(&alice, "GET", "/app-bucket/k"),
        "s3:GetObject",
        "arn:aws:s3:::app-bucket/k",
    );
    scoped["service"] = json!("execute-api");
    let (_, v) = call(&broker, Some(&gw), &scoped).await;
    assert_eq!(v["error"]["code"], "SignatureDoesNotMatch", "{v}");
}

#[tokio::test]
async fn an_expired_session_is_unauthenticated() {
    let idp = TestIdp::start().await;
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let broker = TestBroker::start_with_clock(&idp, clock.clone()).await;
    let session = app_session(&broker, "short", None).await;
    let gw = gateway();
    let body = |at| {
        ask(
            forwarded_at(&session, "GET", "/app-bucket/k", b"", at),
            "s3:GetObject",
            "arn:aws:s3:::app-bucket/k",
        )
    };
    let now = SystemTime::now();
    let (_, v) = call_at(&broker, Some(&gw), &body(now).to_string(), now).await;
    assert_eq!(v["decision"], "Allow", "{v}");
    // Two hours later (the session lasts one), everything signed at the broker's new time.
    clock.advance(time::Duration::hours(2));
    let later = now + Duration::from_secs(7200);
    let (status, v) = call_at(&broker, Some(&gw), &body(later).to_string(), later).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["authenticated"], false);
    assert_eq!(v["error"]["code"], "ExpiredToken");
}

/// JSON errors name their request id as the header does, also for answers produced outside the
/// handler (method not allowed, body too large).
#[tokio::test]
async fn json_errors_carry_the_request_id_of_the_header() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let url = format!("{}/authorize", broker.endpoint);
    let http = broker.http();
    for request in [
        http.post(&url).body("{not json"),
        http.post(&url)
            .body(format!("{{\"pad\": \"{}\"}}", "x".repeat(600 * 1024))),
        http.get(&url),
        http.post(format!("{}/admin/revoke", broker.endpoint))
            .body("{}"),
    ] {
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        let id = r.headers()["x-amzn-requestid"].to_str().unwrap().to_owned();
        let v: Value = r.json().await.unwrap();
        assert!(status >= 400, "{v}");
        assert!(v["error"]["code"].is_string(), "{v}");
        assert_eq!(v["request_id"], id.as_str(), "{v}");
    }
}
