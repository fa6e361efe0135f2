//! A misbehaving identity provider — discovery or JWKS endpoint that hangs, trickles one byte a
//! second, sends 10 MB, redirects, or answers HTML with `200` — costs each request at most the
//! provider's fetch deadline (`jwks_fetch_timeout_seconds`, 1 s here): a broker without keys
//! answers `IDPCommunicationError`, one with keys keeps serving them, and the provider never
//! sees more than one fetch at a time. Outcomes are asserted, never durations.

use std::sync::Arc;

use aws_sdk_sts::error::ProvideErrorMetadata as _;
use serde_json::Value;
use sts_broker::clock::{Clock, ManualClock};

use crate::harness::broker::{DEPLOY_ROLE, TestBroker, standard_config};
use crate::harness::idp::{Endpoint, Fault, TestIdp, TestKey};

const FAULTS: [Fault; 5] = [
    Fault::Hang,
    Fault::Trickle,
    Fault::Huge,
    Fault::Redirect,
    Fault::NotJson,
];

async fn broker(idp: &TestIdp, clock: Arc<dyn Clock>) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let toml = standard_config(dir.path(), idp, "memory://", 0);
    let toml = toml.replacen(
        "jwks_refetch_seconds = 0",
        "jwks_refetch_seconds = 0\njwks_fetch_timeout_seconds = 1",
        1,
    );
    assert!(toml.contains("jwks_fetch_timeout_seconds = 1"));
    TestBroker::from_toml_with_clock(dir, &toml, clock).await
}

/// Claims valid at the broker's time.
fn claims(idp: &TestIdp, clock: &dyn Clock) -> Value {
    let now = clock.now().unix_timestamp();
    let mut claims = idp.claims("repo:octo-org/app:ref:refs/heads/main");
    claims["iat"] = now.into();
    claims["nbf"] = now.into();
    claims["exp"] = (now + 600).into();
    claims
}

async fn assume(broker: &TestBroker, token: String) -> Result<(), String> {
    broker
        .sts()
        .assume_role_with_web_identity()
        .role_arn(DEPLOY_ROLE)
        .role_session_name("ci-run")
        .web_identity_token(token)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            e.into_service_error()
                .code()
                .unwrap_or("no code")
                .to_owned()
        })
}

#[tokio::test]
async fn a_faulty_idp_without_cached_keys_is_a_communication_error_one_fetch_at_a_time() {
    for endpoint in [Endpoint::Discovery, Endpoint::Jwks] {
        for fault in FAULTS {
            let idp = TestIdp::start().await;
            idp.set_fault(endpoint, fault);
            let clock: Arc<dyn Clock> = Arc::new(sts_broker::clock::SystemClock);
            let broker = broker(&idp, clock.clone()).await;
            let token = idp.token("rsa-1", &claims(&idp, clock.as_ref()));
            let calls: Vec<_> = (0..3)
                .map(|_| {
                    let (broker, token) = (&broker, token.clone());
                    async move { assume(broker, token).await }
                })
                .collect();
            for outcome in futures_util::future::join_all(calls).await {
                assert_eq!(
                    outcome,
                    Err("IDPCommunicationError".to_owned()),
                    "{endpoint:?} {fault:?}"
                );
            }
            assert!(
                idp.max_in_flight() <= 1,
                "{endpoint:?} {fault:?}: {} fetches at once",
                idp.max_in_flight()
            );
            // Healed, the provider is used again.
            idp.set_fault(endpoint, Fault::None);
            assert_eq!(
                assume(&broker, token).await,
                Ok(()),
                "{endpoint:?} {fault:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_faulty_idp_with_cached_keys_keeps_them_serving() {
    for endpoint in [Endpoint::Discovery, Endpoint::Jwks] {
        for fault in FAULTS {
            let idp = TestIdp::start().await;
            // Ahead of the session key the broker generates at start, so it signs from the
            // first request on.
            let clock = Arc::new(ManualClock::new(
                time::OffsetDateTime::now_utc() + time::Duration::seconds(5),
            ));
            let broker = broker(&idp, clock.clone()).await;
            assert_eq!(
                assume(&broker, idp.token("rsa-1", &claims(&idp, clock.as_ref()))).await,
                Ok(())
            );
            idp.set_fault(endpoint, fault);
            // The keys are past their age: the refresh fails within its deadline and the
            // cached keys still serve.
            clock.advance(time::Duration::hours(2));
            let token = idp.token("rsa-1", &claims(&idp, clock.as_ref()));
            let calls: Vec<_> = (0..3)
                .map(|_| {
                    let (broker, token) = (&broker, token.clone());
                    async move { assume(broker, token).await }
                })
                .collect();
            for outcome in futures_util::future::join_all(calls).await {
                assert_eq!(outcome, Ok(()), "{endpoint:?} {fault:?}");
            }
            // A key the cache does not have cannot be fetched: a retryable error.
            idp.add_key("rsa-2", TestKey::rsa(), true);
            let fresh = idp.token("rsa-2", &claims(&idp, clock.as_ref()));
            assert_eq!(
                assume(&broker, fresh.clone()).await,
                Err("IDPCommunicationError".to_owned()),
                "{endpoint:?} {fault:?}"
            );
            assert!(
                idp.max_in_flight() <= 1,
                "{endpoint:?} {fault:?}: {} fetches at once",
                idp.max_in_flight()
            );
            idp.set_fault(endpoint, Fault::None);
            assert_eq!(
                assume(&broker, fresh).await,
                Ok(()),
                "{endpoint:?} {fault:?}"
            );
        }
    }
}

/// A provider that hangs longer than the request's deadline: the caller gets `RequestTimeout`
/// (408), and the request is logged and counted under the action it was, not as `unknown`.
#[tokio::test]
async fn a_request_past_its_deadline_is_counted_under_its_action() {
    let idp = TestIdp::start().await;
    idp.set_fault(Endpoint::Jwks, Fault::Hang);
    let dir = tempfile::tempdir().unwrap();
    let toml = standard_config(dir.path(), &idp, "memory://", 0)
        .replacen(
            "jwks_refetch_seconds = 0",
            "jwks_refetch_seconds = 0\njwks_fetch_timeout_seconds = 30",
            1,
        )
        .replacen("[server]\n", "[server]\nrequest_timeout_seconds = 1\n", 1);
    assert!(toml.contains("request_timeout_seconds = 1"));
    let broker = TestBroker::from_toml(dir, &toml).await;
    let clock = sts_broker::clock::SystemClock;
    let token = idp.token("rsa-1", &claims(&idp, &clock));
    let response = broker
        .http()
        .post(&broker.endpoint)
        .form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", DEPLOY_ROLE),
            ("RoleSessionName", "ci-run"),
            ("WebIdentityToken", token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 408);
    let body = response.text().await.unwrap();
    assert!(body.contains("<Code>RequestTimeout</Code>"), "{body}");
    let counts = broker.state.stats.requests();
    let timed_out: Vec<_> = counts
        .iter()
        .filter(|c| c.outcome.is_some_and(|o| o.as_str() == "RequestTimeout"))
        .map(|c| (c.action, c.count))
        .collect();
    assert_eq!(timed_out, [("AssumeRoleWithWebIdentity", 1)], "{counts:?}");
}
