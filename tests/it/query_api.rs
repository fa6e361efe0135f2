//! The STS Query API surface over raw HTTP: GET and POST forms, versions, unknown actions,
//! body limits, request ids, health and readiness.

use crate::harness::broker::{DEPLOY_ROLE, TestBroker};
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;

fn tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(&xml[start..end])
}

async fn post(broker: &TestBroker, body: String) -> (u16, String, String) {
    let r = broker
        .http()
        .post(format!("{}/", broker.endpoint))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let id = r
        .headers()
        .get("x-amzn-requestid")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, id, r.text().await.unwrap())
}

#[tokio::test]
async fn errors_are_aws_error_responses_with_matching_request_ids() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let cases = [
        ("Action=Nope&Version=2011-06-15", 400, "InvalidAction"),
        (
            "Action=AssumeRoleWithWebIdentity&Version=2020-01-01",
            400,
            "InvalidAction",
        ),
        ("Action=AssumeRoleWithWebIdentity", 400, "MissingParameter"),
        ("Version=2011-06-15", 400, "MissingAction"),
        (
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleSessionName=s&WebIdentityToken=abcd",
            400,
            "MissingParameter",
        ),
        (
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&Action=AssumeRole",
            400,
            "InvalidParameterValue",
        ),
    ];
    for (body, status, code) in cases {
        let (s, id, xml) = post(&broker, body.to_owned()).await;
        assert_eq!(s, status, "{body}: {xml}");
        assert_eq!(tag(&xml, "Code"), Some(code), "{body}: {xml}");
        assert_eq!(tag(&xml, "Type"), Some("Sender"));
        assert!(
            xml.starts_with("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">")
        );
        assert_eq!(tag(&xml, "RequestId"), Some(id.as_str()));
        assert_eq!(id.len(), 36);
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let body = format!(
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&Pad={}",
        "x".repeat(520 * 1024)
    );
    let (status, id, xml) = post(&broker, body.clone()).await;
    assert_eq!(status, 413);
    assert_eq!(tag(&xml, "Code"), Some("RequestEntityTooLarge"));
    assert_eq!(tag(&xml, "RequestId"), Some(id.as_str()));
    // The body was not read: the connection closes after the answer, which says so, so that a
    // client keeping connections alive sends its next request on a new one.
    let http = broker.http();
    for _ in 0..20 {
        let refused = http
            .post(format!("{}/", broker.endpoint))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 413);
        assert_eq!(refused.headers()["connection"], "close");
        let next = http
            .get(format!("{}/healthz", broker.endpoint))
            .send()
            .await
            .unwrap();
        assert_eq!(next.status(), 200);
    }
}

#[tokio::test]
async fn get_with_a_query_string_works_like_post() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let token = idp.token("ec-1", &idp.claims("repo:octo-org/app:ref:refs/heads/main"));
    let url = reqwest::Url::parse_with_params(
        &format!("{}/", broker.endpoint),
        &[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", DEPLOY_ROLE),
            ("RoleSessionName", "via-get"),
            ("WebIdentityToken", token.as_str()),
        ],
    )
    .unwrap();
    let r = broker.http().get(url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "text/xml");
    let id = r.headers()["x-amzn-requestid"].to_str().unwrap().to_owned();
    let xml = r.text().await.unwrap();
    assert!(xml.starts_with("<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleWithWebIdentityResult>"));
    assert_eq!(tag(&xml, "RequestId"), Some(id.as_str()));
    assert!(tag(&xml, "AccessKeyId").unwrap().starts_with("ASIA"));
}

#[tokio::test]
async fn client_chosen_request_ids_are_ignored_and_unknown_paths_are_404() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let r = broker
        .http()
        .get(format!("{}/nope", broker.endpoint))
        .header("x-amzn-requestid", "client-chosen-id")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let id = r.headers()["x-amzn-requestid"].to_str().unwrap().to_owned();
    assert_ne!(id, "client-chosen-id");
    let xml = r.text().await.unwrap();
    assert_eq!(tag(&xml, "Code"), Some("NotFound"));
}

#[tokio::test]
async fn health_and_readiness_follow_the_store() {
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, &redis.url()).await;
    let get = |path: &'static str| {
        let url = format!("{}{path}", broker.endpoint);
        let http = broker.http();
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get("/healthz").await, 200);
    assert_eq!(get("/readyz").await, 200);
    drop(redis);
    assert_eq!(get("/healthz").await, 200);
    // A probe's answer stands for 250 ms (`store::probe`): not ready within a second.
    let dropped = std::time::Instant::now();
    while get("/readyz").await != 503 {
        assert!(
            dropped.elapsed() < std::time::Duration::from_secs(1),
            "/readyz still ready {:?} after the store went away",
            dropped.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A body that ends before its `Content-Length` is not "too large": the answer is 400
/// `IncompleteBody`, with the request id.
#[tokio::test]
async fn a_body_cut_short_is_incomplete_not_too_large() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let addr = broker.endpoint.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nHost: broker\r\n\
              Content-Type: application/x-www-form-urlencoded\r\n\
              Content-Length: 1000\r\nConnection: close\r\n\r\nAction=GetCallerIdentity",
        )
        .await
        .unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(tag(&answer, "Code"), Some("IncompleteBody"), "{answer}");
    let id = answer
        .lines()
        .find_map(|l| l.strip_prefix("x-amzn-requestid: "))
        .unwrap();
    assert_eq!(tag(&answer, "RequestId"), Some(id));
}
