//! The resource-server front door under attack: the path rule, the identity-header contract,
//! who may describe the request, the expected service and presigned URLs, and S3 clients.
//! Through a real nginx (`docker/nginx/nginx.conf`), the `ext_authz` listener itself and
//! `POST /authorize`, with requests signed by the AWS SDK's signer (`aws-sigv4`), S3's settings
//! where S3 clients are meant.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::authorize::app_session;
use crate::ext_authz::{Nginx, Seen, echo_upstream_seen};
use crate::harness::broker::{
    ALICE_ARN, ALICE_KEY_ID, ALICE_SECRET, GATEWAY_KEY_ID, GATEWAY_SECRET, TestBroker,
    standard_config,
};
use crate::harness::idp::TestIdp;
use crate::harness::signer::Signer;

/// Routes of the tests: objects (header signatures only), shared objects (presigned URLs too)
/// and an API of another service.
fn ext_authz(mode: &str, extra: &str) -> String {
    format!(
        r#"
[audit]
output = "audit.log"

[ext_authz]
listen = "127.0.0.1:0"
mode = "{mode}"
trusted_proxies = ["127.0.0.1/32"]
{extra}

[[ext_authz.routes]]
method = "GET"
path = "/objects/{{bucket}}/{{key+}}"
action = "s3:GetObject"
resource = "arn:aws:s3:::{{bucket}}/{{key}}"

[[ext_authz.routes]]
method = "GET"
path = "/shared/{{bucket}}/{{key+}}"
action = "s3:GetObject"
resource = "arn:aws:s3:::{{bucket}}/{{key}}"
allow_presigned = true

[[ext_authz.routes]]
method = "GET"
path = "/api/{{id}}"
action = "execute-api:Invoke"
resource = "arn:aws:execute-api:us-east-1:111122223333:api/{{id}}"
"#
    )
}

async fn broker_with(idp: &TestIdp, mode: &str, extra: &str) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let toml = standard_config(dir.path(), idp, "memory://", 0) + &ext_authz(mode, extra);
    TestBroker::from_toml(dir, &toml).await
}

/// Header or query `(name, value)` pairs.
type Pairs = Vec<(String, String)>;

/// S3's signing rules, as the S3 SDKs sign: the path encoded once and not normalized, the
/// payload hash in `x-amz-content-sha256`; presigned when `expires` is given. Returns the
/// headers to add and the query parameters to append.
fn s3_sign(signer: &Signer, method: &str, url: &str, expires: Option<Duration>) -> (Pairs, Pairs) {
    let identity = Credentials::new(
        &signer.access_key_id,
        &signer.secret,
        signer.token.clone(),
        None,
        "test",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    match expires {
        Some(e) => {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(e);
        }
        None => settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256,
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let body = if expires.is_some() {
        SignableBody::UnsignedPayload
    } else {
        SignableBody::Bytes(b"")
    };
    let signable = SignableRequest::new(method, url, std::iter::empty(), body).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let headers = instructions
        .headers()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    let query = instructions
        .params()
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.to_string()))
        .collect();
    (headers, query)
}

/// Percent-encodes everything but SigV4's unreserved bytes (and `/` when `keep_slash`), as
/// the S3 SDKs encode object keys.
fn encode(s: &str, keep_slash: bool) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn with_query(target: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return target.to_owned();
    }
    let q: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k, false), encode(v, false)))
        .collect();
    format!("{target}?{}", q.join("&"))
}

/// One HTTP/1.1 request written byte for byte (no client normalizes its path), from the
/// loopback address `from`: the status and the body.
async fn raw(
    from: IpAddr,
    to: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(String, String)],
) -> (u16, String) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    let mut stream = socket.connect(to).await.unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nconnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("host: {to}\r\n"));
    }
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const OTHER_LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// Signed headers (the default, generic signer, for `s3`) of `method` on `target` at `to`,
/// with `host` set to `to`.
fn signed(signer: &Signer, to: SocketAddr, method: &str, target: &str) -> Vec<(String, String)> {
    let mut h = vec![("host".to_owned(), to.to_string())];
    h.extend(signer.sign("s3", method, &format!("http://{to}{target}"), &[], b""));
    h
}

fn nginx_headers(method: &str, target: &str) -> Vec<(String, String)> {
    vec![
        ("x-original-method".to_owned(), method.to_owned()),
        ("x-original-uri".to_owned(), target.to_owned()),
    ]
}

fn seen_count(seen: &Seen) -> usize {
    seen.lock().unwrap().len()
}

#[tokio::test]
async fn paths_that_could_name_another_resource_are_refused_not_served() {
    let idp = TestIdp::start().await;
    let broker = broker_with(&idp, "nginx", "").await;
    let ext = broker.serve_ext_authz().await;
    let (upstream, seen) = echo_upstream_seen().await;
    let nginx = Nginx::start(ext, upstream).await;
    let to = SocketAddr::from((LOCAL, nginx.port));
    let session = app_session(&broker, "paths", None).await;

    // The role may read app-bucket only; each of these would be served from other-bucket by
    // an upstream that resolves dot segments or decodes separators.
    for target in [
        "/objects/app-bucket/../other-bucket/secret",
        "/objects/app-bucket/%2e%2e/other-bucket/secret",
        "/objects/app-bucket/%2E%2E%2Fother-bucket%2Fsecret",
        "/objects/app-bucket/..%2fother-bucket/secret",
        "/objects/app-bucket/.%2E/other-bucket/secret",
        "/objects/app-bucket/..%5Cother-bucket%5Csecret",
        "/objects/app-bucket/%252e%252e/other-bucket/secret",
        "/objects/app-bucket/./secret",
        "/objects/app-bucket//secret",
        // Path parameters some servers strip before resolving dot segments.
        "/objects/app-bucket/..;/other-bucket/secret",
        // A second spelling of a route's literal segment.
        "/%6Fbjects/other-bucket/secret",
        // A raw plus, a space to some object stores.
        "/objects/app-bucket/secret+doc",
    ] {
        let headers = signed(&session, to, "GET", target);
        let (status, body) = raw(LOCAL, to, "GET", target, &headers).await;
        assert_eq!(status, 400, "{target}: {body}");
        // The listener's own answer: 400 InvalidURI, as JSON.
        let mut direct = headers.clone();
        direct.extend(nginx_headers("GET", target));
        let (status, body) = raw(LOCAL, ext, "GET", "/", &direct).await;
        assert_eq!(status, 400, "{target}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], "InvalidURI", "{target}");
    }
    assert_eq!(seen_count(&seen), 0, "{:?}", seen.lock().unwrap());

    // A plain path is authorized and served as it was signed (by an S3 client: S3's rules).
    let target = "/objects/app-bucket/docs/a%20b.txt";
    let (mut headers, _) = s3_sign(&session, "GET", &format!("http://{to}{target}"), None);
    headers.push(("host".to_owned(), to.to_string()));
    let (status, body) = raw(LOCAL, to, "GET", target, &headers).await;
    assert_eq!(status, 200, "{body}");
    let served = seen.lock().unwrap()[0]["uri"].clone();
    assert_eq!(served, target);

    // Each refusal is one audit line.
    broker.state.audit.flush().await;
    let text = std::fs::read_to_string(broker.dir.path().join("audit.log")).unwrap();
    let refused = text
        .lines()
        .filter(|l| l.contains("\"InvalidURI\""))
        .count();
    assert_eq!(refused, 24, "two per path: {text}");
}

#[tokio::test]
async fn authorize_api_refuses_the_same_paths() {
    let idp = TestIdp::start().await;
    let broker = broker_with(&idp, "envoy", "").await;
    let alice = Signer::new(ALICE_KEY_ID, ALICE_SECRET, None);
    let gateway = Signer::new(GATEWAY_KEY_ID, GATEWAY_SECRET, None);
    let host: SocketAddr = "127.0.0.1:9".parse().unwrap();
    for (path, ok) in [
        ("/app-bucket/../other-bucket/k", false),
        ("/app-bucket/%2E%2E/other-bucket/k", false),
        ("/app-bucket/a%2Fb", false),
        ("/app-bucket//k", false),
        ("/app-bucket/k\\x", false),
        ("/app-bucket/k", true),
    ] {
        // Signed as the client sent it (a backslash is no URI: signed for the plain path).
        let signed_path = if path.contains('\\') {
            "/app-bucket/k"
        } else {
            path
        };
        let headers = signed(&alice, host, "GET", signed_path);
        let body = json!({
            "request": {"method": "GET", "path": path, "headers": headers},
            "action": "s3:GetObject",
            "resource": "arn:aws:s3:::app-bucket/k",
        });
        let (status, v) = authorize_call(&broker, &gateway, &body).await;
        if ok {
            assert_eq!((status, &v["decision"]), (200, &json!("Allow")), "{v}");
        } else {
            assert_eq!(status, 400, "{path}: {v}");
            assert_eq!(v["error"]["code"], "InvalidURI", "{path}");
        }
    }
    // Each refused call is one audit line, as the calling service's broker:Authorize with bad
    // input (`Error`).
    broker.state.audit.flush().await;
    let text = std::fs::read_to_string(broker.dir.path().join("audit.log")).unwrap();
    let refused: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["reason"] == "InvalidURI")
        .collect();
    assert_eq!(refused.len(), 5, "{text}");
    assert!(
        refused
            .iter()
            .all(|l| l["action"] == "broker:Authorize" && l["decision"] == "Error"),
        "{text}"
    );
}

/// `POST /authorize` signed by `service_signer`: status and JSON.
async fn authorize_call(
    broker: &TestBroker,
    service_signer: &Signer,
    body: &Value,
) -> (u16, Value) {
    let (status, _, value) = broker
        .post_json("/authorize", Some(service_signer), body)
        .await;
    (status, value)
}

#[tokio::test]
async fn client_sent_identity_headers_never_reach_the_upstream() {
    let idp = TestIdp::start().await;
    let broker = broker_with(&idp, "nginx", "").await;
    let ext = broker.serve_ext_authz().await;
    let (upstream, seen) = echo_upstream_seen().await;
    let nginx = Nginx::start(ext, upstream).await;
    let to = SocketAddr::from((LOCAL, nginx.port));
    let alice = Signer::new(ALICE_KEY_ID, ALICE_SECRET, None);
    let target = "/objects/app-bucket/k";

    for (name, value) in [
        ("X-Sts-Tag-Role", "admin"),
        ("x-sts-tag-team", "platform"),
        ("X-Sts-Role-Arn", "arn:aws:iam::111122223333:role/admin"),
        ("X-Sts-Session-Name", "admin"),
        ("X-Sts-Principal-Arn", "arn:aws:iam::111122223333:user/ops"),
        ("X-STS-TAGS", "role=admin"),
        ("x-sts-anything-else", "x"),
    ] {
        let mut headers = signed(&alice, to, "GET", target);
        headers.push((name.to_owned(), value.to_owned()));
        let (status, body) = raw(LOCAL, to, "GET", target, &headers).await;
        assert_eq!(status, 400, "{name}: {body}");
    }
    assert_eq!(seen_count(&seen), 0);
    // The secret's name is the proxy's: whatever a client puts there stops at nginx.
    let mut headers = signed(&alice, to, "GET", target);
    headers.push(("X-Sts-Authz-Secret".to_owned(), "guess".to_owned()));
    let (status, body) = raw(LOCAL, to, "GET", target, &headers).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = raw(LOCAL, to, "GET", target, &signed(&alice, to, "GET", target)).await;
    assert_eq!(status, 200, "{body}");

    // What reached the upstream: only the broker's values, of the fixed names.
    let fixed = sts_broker::authz::ext_authz::IDENTITY_HEADERS;
    for request in seen.lock().unwrap().iter() {
        let headers = request["headers"].as_object().unwrap();
        for (name, value) in headers.iter().filter(|(n, _)| n.starts_with("x-sts-")) {
            assert!(
                fixed.contains(&name.as_str()),
                "{name} reached the upstream"
            );
            let expected = match name.as_str() {
                "x-sts-principal-arn" => ALICE_ARN,
                "x-sts-principal-type" => "User",
                "x-sts-account" => "111122223333",
                "x-sts-user-id" => value.as_str().unwrap(),
                "x-sts-tags" => value.as_str().unwrap(),
                other => panic!("{other} should be empty for a user, so absent"),
            };
            assert_eq!(value, expected, "{name}");
        }
    }
    assert_eq!(seen_count(&seen), 2);
}

#[tokio::test]
async fn request_description_headers_count_only_from_trusted_proxies() {
    let idp = TestIdp::start().await;
    let broker = broker_with(&idp, "nginx", "").await;
    let ext = broker.serve_ext_authz().await;
    let (upstream, seen) = echo_upstream_seen().await;
    let nginx = Nginx::start(ext, upstream).await;
    let to = SocketAddr::from((LOCAL, nginx.port));
    // Reads only from the office network.
    let office = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
      "Action": "s3:GetObject", "Resource": "arn:aws:s3:::app-bucket/*",
      "Condition": {"IpAddress": {"aws:SourceIp": "198.51.100.0/24"}}}]}"#;
    let session = app_session(&broker, "office", Some(office)).await;
    let target = "/objects/app-bucket/k";
    let forged = ("x-real-ip".to_owned(), "198.51.100.7".to_owned());

    // Through nginx the client's X-Real-IP is replaced by its address: not the office.
    let mut headers = signed(&session, to, "GET", target);
    headers.push(forged.clone());
    let (status, _) = raw(LOCAL, to, "GET", target, &headers).await;
    assert_eq!(status, 403);
    assert_eq!(seen_count(&seen), 0);

    // Straight to the listener from a peer not in trusted_proxies: its X-Real-IP is ignored.
    let mut headers = signed(&session, ext, "GET", target);
    headers.extend(nginx_headers("GET", target));
    headers.push(forged.clone());
    let (status, body) = raw(OTHER_LOCAL, ext, "GET", target, &headers).await;
    assert_eq!(status, 403, "{body}");
    // From the trusted proxy's address it is the client's address.
    let (status, body) = raw(LOCAL, ext, "GET", target, &headers).await;
    assert_eq!(status, 200, "{body}");

    // nginx mode needs X-Original-*: without them, nothing is decided.
    let headers = signed(&session, ext, "GET", target);
    let (status, _) = raw(LOCAL, ext, "GET", target, &headers).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn envoy_mode_checks_the_request_itself() {
    let idp = TestIdp::start().await;
    let broker = broker_with(&idp, "envoy", "").await;
    let ext = broker.serve_ext_authz().await;
    let alice = Signer::new(ALICE_KEY_ID, ALICE_SECRET, None);
    let office = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
      "Action": "s3:GetObject", "Resource": "arn:aws:s3:::app-bucket/*",
      "Condition": {"IpAddress": {"aws:SourceIp": "198.51.100.0/24"}}}]}"#;
    let session = app_session(&broker, "envoy", Some(office)).await;

    // Signed for an allowed path, sent to another one with X-Original-* naming the first:
    // the path checked is the request's own, whose signature does not match.
    let allowed = "/objects/app-bucket/k";
    let mut headers = signed(&alice, ext, "GET", allowed);
    headers.extend(nginx_headers("GET", allowed));
    let (status, body) = raw(LOCAL, ext, "GET", "/objects/other-bucket/k", &headers).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("SignatureDoesNotMatch"), "{body}");
    let (status, body) = raw(LOCAL, ext, "GET", allowed, &headers).await;
    assert_eq!(status, 200, "{body}");

    // X-Real-IP and X-Forwarded-For are not Envoy's word; X-Envoy-External-Address from a
    // trusted proxy is.
    let mut headers = signed(&session, ext, "GET", allowed);
    headers.push(("x-real-ip".to_owned(), "198.51.100.7".to_owned()));
    headers.push(("x-forwarded-for".to_owned(), "198.51.100.7".to_owned()));
    let (status, body) = raw(LOCAL, ext, "GET", allowed, &headers).await;
    assert_eq!(status, 403, "{body}");
    headers.push((
        "x-envoy-external-address".to_owned(),
        "198.51.100.7".to_owned(),
    ));
    let (status, body) = raw(LOCAL, ext, "GET", allowed, &headers).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = raw(OTHER_LOCAL, ext, "GET", allowed, &headers).await;
    assert_eq!(status, 403, "{body}");
}

#[test]
fn nginx_mode_needs_a_secret_or_loopback() {
    use sts_broker::cli::broker::check_config;
    use sts_broker::config::Config;
    let dir = tempfile::tempdir().unwrap();
    let write = |section: &str| {
        let toml = format!(
            "[[accounts]]\nid = \"111122223333\"\n\n[ext_authz]\n{section}\n\n[[ext_authz.routes]]\npath = \"/{{b}}\"\naction = \"s3:GetObject\"\nresource = \"arn:aws:s3:::{{b}}\"\n"
        );
        std::fs::write(dir.path().join("broker.toml"), toml).unwrap();
        check_config(Config::load(&dir.path().join("broker.toml")))
    };
    let file = dir.path().join("broker.toml").display().to_string();
    let out = write("listen = \"0.0.0.0:4567\"\nmode = \"nginx\"");
    assert_eq!(out.status, 1);
    assert!(
        out.stderr
            .contains(&format!("{file}:4: ext_authz.mode = \"nginx\"")),
        "{}",
        out.stderr
    );
    let out = write("listen = \"127.0.0.1:4567\"");
    assert!(
        out.stderr
            .contains(&format!("{file}:4: ext_authz.mode must be")),
        "{}",
        out.stderr
    );
    let out = write("listen = \"127.0.0.1:4567\"\nmode = \"nginx\"\ntrusted_proxies = [\"nope\"]");
    assert!(out.stderr.contains("trusted_proxies"), "{}", out.stderr);
    std::fs::write(
        dir.path().join("authz.secret"),
        "s3cret-value-for-proxies\n",
    )
    .unwrap();
    for ok in [
        "listen = \"127.0.0.1:4567\"\nmode = \"nginx\"\ntrusted_proxies = [\"127.0.0.1/32\", \"::1\"]",
        "listen = \"0.0.0.0:4567\"\nmode = \"nginx\"\nsecret_file = \"authz.secret\"",
        "listen = \"0.0.0.0:4567\"\nmode = \"envoy\"",
    ] {
        let out = write(ok);
        assert_eq!(out.status, 0, "{ok}: {}", out.stderr);
    }
}

#[tokio::test]
async fn signatures_for_another_service_or_presigned_are_refused() {
    let idp = TestIdp::start().await;
    let broker = broker_with(&idp, "envoy", "").await;
    let ext = broker.serve_ext_authz().await;
    let alice = Signer::new(ALICE_KEY_ID, ALICE_SECRET, None);
    let target = "/objects/app-bucket/k";
    let signed_for = |service: &str, target: &str| {
        let mut h = vec![("host".to_owned(), ext.to_string())];
        h.extend(alice.sign(service, "GET", &format!("http://{ext}{target}"), &[], b""));
        h
    };
    // Another service's scope, on an s3 route and on an execute-api route.
    for (service, target) in [
        ("sts", target),
        ("execute-api", target),
        ("s3", "/api/orders"),
    ] {
        let (status, body) = raw(LOCAL, ext, "GET", target, &signed_for(service, target)).await;
        assert_eq!(status, 401, "{service} {target}: {body}");
        assert!(body.contains("scoped to correct service"), "{body}");
    }
    let (status, body) = raw(
        LOCAL,
        ext,
        "GET",
        "/api/orders",
        &signed_for("execute-api", "/api/orders"),
    )
    .await;
    assert_eq!(status, 403, "{body}"); // authenticated; alice may not invoke APIs

    // A presigned URL: refused where the route does not allow it, accepted where it does.
    let host = vec![("host".to_owned(), ext.to_string())];
    for (path, expected) in [
        ("/objects/app-bucket/k", 401),
        ("/shared/app-bucket/k", 200),
    ] {
        let (_, query) = s3_sign(
            &alice,
            "GET",
            &format!("http://{ext}{path}"),
            Some(Duration::from_secs(300)),
        );
        let (status, body) = raw(LOCAL, ext, "GET", &with_query(path, &query), &host).await;
        assert_eq!(status, expected, "{path}: {body}");
    }
    // A presigned GetCallerIdentity, handed over as an identity proof: another service.
    let sts_url =
        format!("http://{ext}/shared/app-bucket/k?Action=GetCallerIdentity&Version=2011-06-15");
    let mut settings_query = presign_generic(&alice, "sts", &sts_url);
    settings_query.insert(0, ("Action".to_owned(), "GetCallerIdentity".to_owned()));
    settings_query.insert(1, ("Version".to_owned(), "2011-06-15".to_owned()));
    let (status, body) = raw(
        LOCAL,
        ext,
        "GET",
        &with_query("/shared/app-bucket/k", &settings_query),
        &host,
    )
    .await;
    assert_eq!(status, 401, "{body}");

    // The authorize API: the expected service is the action's unless given, presigned URLs
    // only when allowed.
    let gateway = Signer::new(GATEWAY_KEY_ID, GATEWAY_SECRET, None);
    let ask = |headers: Vec<(String, String)>, query: String| {
        json!({
            "request": {"method": "GET", "path": "/objects/app-bucket/k", "query": query, "headers": headers},
            "action": "s3:GetObject",
            "resource": "arn:aws:s3:::app-bucket/k",
        })
    };
    let (_, v) = authorize_call(
        &broker,
        &gateway,
        &ask(signed_for("sts", target), String::new()),
    )
    .await;
    assert_eq!(v["authenticated"], false, "{v}");
    assert_eq!(v["error"]["code"], "SignatureDoesNotMatch");
    let (_, v) = authorize_call(
        &broker,
        &gateway,
        &ask(signed_for("s3", target), String::new()),
    )
    .await;
    assert_eq!(v["decision"], "Allow", "{v}");
    let (_, query) = s3_sign(
        &alice,
        "GET",
        &format!("http://{ext}{target}"),
        Some(Duration::from_secs(300)),
    );
    let query = with_query("", &query).trim_start_matches('?').to_owned();
    let mut presigned = ask(host.clone(), query);
    let (_, v) = authorize_call(&broker, &gateway, &presigned).await;
    assert_eq!(v["authenticated"], false, "{v}");
    assert_eq!(v["error"]["code"], "AccessDenied");
    presigned["allow_presigned"] = json!(true);
    let (_, v) = authorize_call(&broker, &gateway, &presigned).await;
    assert_eq!(v["decision"], "Allow", "{v}");
}

/// Query parameters presigning `url` for `service` with the generic rules.
fn presign_generic(signer: &Signer, service: &str, url: &str) -> Vec<(String, String)> {
    let identity = Credentials::new(
        &signer.access_key_id,
        &signer.secret,
        signer.token.clone(),
        None,
        "test",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(300));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let signable =
        SignableRequest::new("GET", url, std::iter::empty(), SignableBody::Bytes(b"")).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions
        .params()
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn s3_clients_signatures_verify_on_keys_that_need_encoding() {
    let idp = TestIdp::start().await;
    let broker = broker_with(&idp, "nginx", "").await;
    let ext = broker.serve_ext_authz().await;
    let (upstream, seen) = echo_upstream_seen().await;
    let nginx = Nginx::start(ext, upstream).await;
    let to = SocketAddr::from((LOCAL, nginx.port));
    let session = app_session(&broker, "s3-client", None).await;
    let gateway = Signer::new(GATEWAY_KEY_ID, GATEWAY_SECRET, None);

    for key in [
        "my file.txt",
        "été/ünïcode-日本.txt",
        "a+b=c.txt",
        "x!*'()&$@,;:~y.txt",
    ] {
        let path = format!("/objects/app-bucket/{}", encode(key, true));
        // Header signature through nginx: allowed, served at the path that was signed.
        let url = format!("http://{to}{path}");
        let (mut headers, _) = s3_sign(&session, "GET", &url, None);
        headers.push(("host".to_owned(), to.to_string()));
        let before = seen_count(&seen);
        let (status, body) = raw(LOCAL, to, "GET", &path, &headers).await;
        assert_eq!(status, 200, "{key}: {body}");
        assert_eq!(seen.lock().unwrap()[before]["uri"], json!(path));
        // Presigned, on the route that allows it.
        let shared = format!("/shared/app-bucket/{}", encode(key, true));
        let (_, query) = s3_sign(
            &session,
            "GET",
            &format!("http://{to}{shared}"),
            Some(Duration::from_secs(300)),
        );
        let host = vec![("host".to_owned(), to.to_string())];
        let (status, body) = raw(LOCAL, to, "GET", &with_query(&shared, &query), &host).await;
        assert_eq!(status, 200, "{key} presigned: {body}");
        // The authorize API, on the resource the key names.
        let body = json!({
            "request": {"method": "GET", "path": path, "headers": headers},
            "action": "s3:GetObject",
            "resource": format!("arn:aws:s3:::app-bucket/{key}"),
        });
        let (status, v) = authorize_call(&broker, &gateway, &body).await;
        assert_eq!(
            (status, &v["decision"]),
            (200, &json!("Allow")),
            "{key}: {v}"
        );
    }
    // The resource is the key decoded once: another bucket's key stays denied.
    let path = "/objects/other-bucket/a%2Bb.txt";
    let (mut headers, _) = s3_sign(&session, "GET", &format!("http://{to}{path}"), None);
    headers.push(("host".to_owned(), to.to_string()));
    let (status, _) = raw(LOCAL, to, "GET", path, &headers).await;
    assert_eq!(status, 403);
}
