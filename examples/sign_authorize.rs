//! Prints a wrk script that posts one pre-signed `POST /authorize` call, for `scripts/load`
//! (`MODE=authorize`). Signatures are good for the broker's 15 minutes of skew, and SigV4 does
//! not prevent replays, so the same call can be sent again and again.
//!
//!   cargo run --example sign_authorize -- URL CLIENT_KEY CLIENT_SECRET SERVICE_KEY SERVICE_SECRET
//!
//! The forwarded request is an S3-style `GET` signed with the client's key; the call itself is
//! signed with the calling service's key (service `sts`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::time::SystemTime;

// The same signer the integration tests use: the AWS SDK's own (`aws-sigv4`).
#[path = "../tests/it/harness/signer.rs"]
#[allow(dead_code)]
mod signer;

use signer::Signer;

/// The headers SigV4 adds for a request signed by `key`/`secret` for `service`, now.
fn signed(
    key: &str,
    secret: &str,
    service: &str,
    method: &str,
    url: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Vec<(String, String)> {
    Signer::new(key, secret, None).sign_at(
        service,
        method,
        url,
        extra,
        body,
        false,
        SystemTime::now(),
    )
}

fn lua_string(s: &str) -> String {
    format!("{s:?}")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, client_key, client_secret, service_key, service_secret] = args.as_slice() else {
        eprintln!("usage: sign_authorize URL CLIENT_KEY CLIENT_SECRET SERVICE_KEY SERVICE_SECRET");
        std::process::exit(2);
    };
    let host = "objects.example.com";
    let path = "/app-bucket/home/payments/report.csv";
    let mut headers = vec![("host".to_owned(), host.to_owned())];
    headers.extend(signed(
        client_key,
        client_secret,
        "s3",
        "GET",
        &format!("https://{host}{path}"),
        &[],
        b"",
    ));
    let body = serde_json::json!({
        "request": {"method": "GET", "path": path, "headers": headers},
        "action": "s3:GetObject",
        "resource": format!("arn:aws:s3:::app-bucket/home/payments/report.csv"),
        "context": {"aws:SourceIp": "10.1.2.3", "aws:SecureTransport": "true"},
    })
    .to_string();
    let content_type = ("content-type", "application/json");
    let call = signed(
        service_key,
        service_secret,
        "sts",
        "POST",
        url,
        &[content_type],
        body.as_bytes(),
    );
    println!("wrk.method = \"POST\"");
    println!("wrk.headers[\"Content-Type\"] = \"application/json\"");
    for (n, v) in call {
        println!("wrk.headers[{}] = {}", lua_string(&n), lua_string(&v));
    }
    println!("wrk.body = {}", lua_string(&body));
}
