//! Revocation across replicas: two brokers on one real Redis and one keys folder, the real SDK.
//! Credentials minted by one work on the other; a revocation made on one (library or the
//! `revoke` command) is refused on the other within a second; entries live no longer than what
//! they cover; refreshing a revoked web identity session is refused; a replica started later
//! loads what was revoked before it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sts::error::ProvideErrorMetadata as _;
use serde_json::json;
use sts_broker::clock::{Clock, ManualClock, SystemClock};
use sts_broker::revocation::{DESCENDANT_COVER, Revocation, RevokeOutcome};

use crate::harness::broker::{DEPLOY_ROLE, HUB_ROLE, PROVIDER_ARN, TestBroker};
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;

pub type Creds = (String, String, String);

const SUB: &str = "repo:octo-org/app:ref:refs/heads/main";
const OTHER_SUB: &str = "repo:octo-org/app:ref:refs/heads/dev";

/// A fresh token for `sub` (a `jti` makes each one distinct), issued at `iat` when given.
pub fn token(idp: &TestIdp, sub: &str, iat: Option<i64>) -> String {
    let mut claims = idp.claims(sub);
    claims["jti"] = json!(uuid::Uuid::new_v4().to_string());
    if let Some(iat) = iat {
        claims["iat"] = json!(iat);
        claims["nbf"] = json!(iat);
    }
    idp.token("rsa-1", &claims)
}

/// AssumeRoleWithWebIdentity for the deploy role; the credentials or `(code, status)`.
pub async fn exchange(broker: &TestBroker, token: &str) -> Result<Creds, (String, u16)> {
    let out = broker
        .sts()
        .assume_role_with_web_identity()
        .role_arn(DEPLOY_ROLE)
        .role_session_name("replica-test")
        .web_identity_token(token)
        .send()
        .await
        .map_err(|e| {
            let status = e.raw_response().map_or(0, |r| r.status().as_u16());
            (
                e.into_service_error().code().unwrap_or_default().to_owned(),
                status,
            )
        })?;
    let c = out.credentials().unwrap();
    Ok((
        c.access_key_id().to_owned(),
        c.secret_access_key().to_owned(),
        c.session_token().to_owned(),
    ))
}

/// A session of the hub role chained (AssumeRole) from `creds` on `broker`.
async fn chained(broker: &TestBroker, creds: &Creds) -> Creds {
    let out = broker
        .sts_as(&creds.0, &creds.1, Some(&creds.2))
        .assume_role()
        .role_arn(HUB_ROLE)
        .role_session_name("child")
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    (
        c.access_key_id().to_owned(),
        c.secret_access_key().to_owned(),
        c.session_token().to_owned(),
    )
}

/// GetCallerIdentity with `creds`: `Ok` or `(code, status)`.
pub async fn probe(broker: &TestBroker, creds: &Creds) -> Result<(), (String, u16)> {
    broker
        .sts_as(&creds.0, &creds.1, Some(&creds.2))
        .get_caller_identity()
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            let status = e.raw_response().map_or(0, |r| r.status().as_u16());
            (
                e.into_service_error().code().unwrap_or_default().to_owned(),
                status,
            )
        })
}

/// Revokes the session `creds` through `broker`'s revocations, as of now.
pub async fn revoke_session(broker: &TestBroker, creds: &Creds) -> RevokeOutcome {
    broker
        .state
        .revocations
        .revoke(
            Revocation::Session {
                access_key_id: creds.0.clone(),
            },
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap()
}

/// Polls until `broker` refuses `creds` as `InvalidClientTokenId` (403), printing the time it
/// took (about a millisecond: the event arrives by pub/sub). Only a bound well under the 30 s
/// periodic reload is asserted — the refusal came from the published event, not the reload —
/// so a loaded machine cannot fail it.
pub async fn refused_within_a_second(broker: &TestBroker, creds: &Creds, since: Instant) {
    let bound = Duration::from_secs(15);
    loop {
        match probe(broker, creds).await {
            Err((code, status)) => {
                assert_eq!((code.as_str(), status), ("InvalidClientTokenId", 403));
                let took = since.elapsed();
                eprintln!("revocation refused after {took:?}");
                return;
            }
            Ok(()) => {
                assert!(
                    since.elapsed() < bound,
                    "still accepted {bound:?} after the revocation"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Live revocation entries in Redis: (key, TTL seconds, JSON).
async fn entries(redis: &RedisServer) -> Vec<(String, i64, serde_json::Value)> {
    let mut out = Vec::new();
    for key in redis.keys().await {
        if key.starts_with("sts-broker:revoked:") {
            let value = serde_json::from_str(&redis.get(&key).await.unwrap()).unwrap();
            out.push((key.clone(), redis.ttl(&key).await, value));
        }
    }
    out
}

fn now_clock() -> Arc<ManualClock> {
    let now = time::OffsetDateTime::now_utc();
    Arc::new(ManualClock::new(now.replace_nanosecond(0).unwrap()))
}

#[tokio::test]
async fn a_session_revoked_on_one_replica_is_refused_on_the_other_within_a_second() {
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let keys = tempfile::tempdir().unwrap();
    let a = TestBroker::replica(&idp, &redis.url(), keys.path(), Arc::new(SystemClock)).await;
    let b = TestBroker::replica(&idp, &redis.url(), keys.path(), Arc::new(SystemClock)).await;

    let first_token = token(&idp, SUB, None);
    let doomed = exchange(&a, &first_token).await.unwrap();
    // The same token exchanged again, on the other replica: a twin of the doomed session.
    let twin = exchange(&b, &first_token).await.unwrap();
    let sibling = exchange(&a, &token(&idp, SUB, None)).await.unwrap();
    // A session chained from the doomed one, minted on the other replica.
    let child = chained(&b, &doomed).await;
    for creds in [&doomed, &twin, &sibling, &child] {
        probe(&a, creds).await.unwrap();
        probe(&b, creds).await.unwrap();
    }

    let since = Instant::now();
    let outcome = revoke_session(&a, &doomed).await;
    assert!(
        matches!(outcome, RevokeOutcome::Revoked(ref e) if e.len() == 2),
        "{outcome:?}"
    );
    refused_within_a_second(&b, &doomed, since).await;
    refused_within_a_second(&b, &child, since).await;
    // Every session issued for the same token ends with it, on both replicas.
    refused_within_a_second(&a, &twin, since).await;
    refused_within_a_second(&b, &twin, since).await;
    assert_eq!(
        probe(&a, &doomed).await,
        Err(("InvalidClientTokenId".to_owned(), 403))
    );
    probe(&b, &sibling).await.unwrap();

    // The session's rule and its token's rule, each no longer than what it covers: the
    // session (an hour) and what may be chained from it; the token's rule until the token
    // expires and every session issued for it before the rule arrived has ended (the longest
    // role session configured, 12 h).
    let stored = entries(&redis).await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    for (key, ttl, value) in &stored {
        assert!(*ttl > 0, "{key} expires");
        match value["rule"]["kind"].as_str().unwrap() {
            "Session" => assert!(*ttl <= 3600.max(DESCENDANT_COVER), "{ttl}"),
            "WebIdentityToken" => assert!(*ttl <= 43_200, "{ttl}"),
            other => panic!("unexpected rule {other}"),
        }
        let text = value.to_string();
        assert!(!text.contains(&first_token) && !text.contains(&doomed.2));
    }

    // Refreshing with the same token is refused on either replica; a new token works.
    for broker in [&a, &b] {
        assert_eq!(
            exchange(broker, &first_token).await,
            Err(("AccessDenied".to_owned(), 403))
        );
    }
    let renewed = exchange(&b, &token(&idp, SUB, None)).await.unwrap();
    probe(&a, &renewed).await.unwrap();

    // An AssumeRole by the revoked session is refused too.
    let e = a
        .sts_as(&doomed.0, &doomed.1, Some(&doomed.2))
        .assume_role()
        .role_arn(HUB_ROLE)
        .role_session_name("again")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e.code(), Some("InvalidClientTokenId"));

    // Revoking a session that does not exist stores nothing.
    let outcome = b
        .state
        .revocations
        .revoke(
            Revocation::Session {
                access_key_id: "ASIAAAAAAAAAAAAAAAAA".to_owned(),
            },
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, RevokeOutcome::SessionNotFound);
    assert_eq!(entries(&redis).await.len(), 2);
}

#[tokio::test]
async fn a_subject_revocation_refuses_its_older_sessions_and_tokens_only() {
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let keys = tempfile::tempdir().unwrap();
    let clock = now_clock();
    let a = TestBroker::replica(&idp, &redis.url(), keys.path(), clock.clone()).await;
    let b = TestBroker::replica(&idp, &redis.url(), keys.path(), clock.clone()).await;
    let t0 = clock.now().unix_timestamp();

    let old_token = token(&idp, SUB, Some(t0));
    let old = exchange(&a, &old_token).await.unwrap();
    let bystander = exchange(&a, &token(&idp, OTHER_SUB, Some(t0)))
        .await
        .unwrap();

    let since = Instant::now();
    b.state
        .revocations
        .revoke(
            Revocation::Subject {
                provider: PROVIDER_ARN.to_owned(),
                subject: SUB.to_owned(),
            },
            clock.now(),
        )
        .await
        .unwrap();
    refused_within_a_second(&a, &old, since).await;
    probe(&a, &bystander).await.unwrap();

    // Tokens issued up to the revocation cannot be exchanged, even new ones.
    assert_eq!(
        exchange(&a, &token(&idp, SUB, Some(t0))).await,
        Err(("AccessDenied".to_owned(), 403))
    );
    assert_eq!(
        exchange(&a, &old_token).await,
        Err(("AccessDenied".to_owned(), 403))
    );
    // A token issued after it works, and so does its session, on both replicas.
    clock.advance(time::Duration::seconds(2));
    let fresh = exchange(&a, &token(&idp, SUB, Some(t0 + 2))).await.unwrap();
    probe(&b, &fresh).await.unwrap();

    // The entry covers the longest session any configured role grants (12 h) and the longest
    // a token issued before it can be presented (max_token_lifetime_seconds, a day by
    // default, plus the provider's 30 s leeway), no more.
    let stored = entries(&redis).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].2["rule"]["kind"], "Subject");
    assert!((86_000..=86_430).contains(&stored[0].1), "{}", stored[0].1);
}

#[tokio::test]
async fn role_revocations_by_cut_off_reach_every_replica_and_later_ones() {
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let keys = tempfile::tempdir().unwrap();
    let clock = now_clock();
    let a = TestBroker::replica(&idp, &redis.url(), keys.path(), clock.clone()).await;
    let b = TestBroker::replica(&idp, &redis.url(), keys.path(), clock.clone()).await;
    let t0 = clock.now().unix_timestamp();

    let early = exchange(&a, &token(&idp, SUB, None)).await.unwrap();
    clock.advance(time::Duration::seconds(10));
    let late = exchange(&a, &token(&idp, SUB, None)).await.unwrap();

    // Sessions issued before t0 + 5: the early one only.
    let since = Instant::now();
    a.state
        .revocations
        .revoke(
            Revocation::RoleIssuedBefore {
                role_arn: DEPLOY_ROLE.to_owned(),
                before: t0 + 5,
            },
            clock.now(),
        )
        .await
        .unwrap();
    refused_within_a_second(&b, &early, since).await;
    probe(&b, &late).await.unwrap();
    let stored = entries(&redis).await;
    assert_eq!(stored.len(), 1);
    // A role's rule covers the longest session any role can grant (12 hours) from the cut-off,
    // whatever the role's maximum is now (two hours for deploy): a maximum lowered after a
    // session was issued does not shorten it.
    assert!(
        (43_200 - 60..=43_200 - 5).contains(&stored[0].1),
        "{}",
        stored[0].1
    );

    // The whole role: sessions issued up to now.
    let since = Instant::now();
    b.state
        .revocations
        .revoke(
            Revocation::Role {
                role_arn: DEPLOY_ROLE.to_owned(),
            },
            clock.now(),
        )
        .await
        .unwrap();
    refused_within_a_second(&a, &late, since).await;
    refused_within_a_second(&b, &late, since).await;

    // A session issued later works, until the command revokes it against the same store.
    clock.advance(time::Duration::seconds(2));
    let third = exchange(&a, &token(&idp, SUB, None)).await.unwrap();
    probe(&b, &third).await.unwrap();
    let config = a.dir.path().join("broker.toml");
    let revoke = |akid: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sts-broker"))
            .args(["revoke", "--config", config.to_str().unwrap()])
            .args(["session", akid])
            .output()
            .unwrap()
    };
    let since = Instant::now();
    let out = revoke(&third.0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains(&format!("revoked session {}", third.0)),
        "{stdout}"
    );
    assert!(!stdout.contains(&third.2) && !stdout.contains(&third.1));
    refused_within_a_second(&b, &third, since).await;
    let out = revoke("ASIAAAAAAAAAAAAAAAAA");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing stored"));
    // Targets the configuration does not name are refused; a configured user is revoked.
    let command = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sts-broker"))
            .args(["revoke", "--config", config.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap()
    };
    for args in [
        &["role", "arn:aws:iam::111122223333:role/nobody"][..],
        &["user", "arn:aws:iam::111122223333:user/nobody"],
        &[
            "subject",
            "--provider",
            "arn:aws:iam::111122223333:oidc-provider/nowhere",
            SUB,
        ],
    ] {
        let out = command(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("is configured") && stderr.contains("nothing stored"),
            "{stderr}"
        );
    }
    let out = command(&["user", crate::harness::broker::ALICE_ARN]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("revoked user arn:aws:iam::111122223333:user/alice"),
        "{out:?}"
    );

    // A replica started afterwards loads every entry from the store.
    let c = TestBroker::replica(&idp, &redis.url(), keys.path(), clock.clone()).await;
    for creds in [&early, &late, &third] {
        assert_eq!(
            probe(&c, creds).await,
            Err(("InvalidClientTokenId".to_owned(), 403))
        );
    }
    clock.advance(time::Duration::seconds(2));
    let after = exchange(&c, &token(&idp, SUB, None)).await.unwrap();
    probe(&a, &after).await.unwrap();
}

#[tokio::test]
async fn revocations_published_while_a_replica_was_disconnected_arrive_on_reconnect() {
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let keys = tempfile::tempdir().unwrap();
    let a = TestBroker::replica(&idp, &redis.url(), keys.path(), Arc::new(SystemClock)).await;
    let b = TestBroker::replica(&idp, &redis.url(), keys.path(), Arc::new(SystemClock)).await;
    let creds = exchange(&a, &token(&idp, SUB, None)).await.unwrap();
    probe(&b, &creds).await.unwrap();

    // Cut every subscriber off, and revoke before they are back.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(killed, 2, "one subscriber per replica");
    let since = Instant::now();
    revoke_session(&a, &creds).await;
    refused_within_a_second(&b, &creds, since).await;
}

#[test]
fn the_revoke_command_explains_what_it_cannot_do() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sts-broker"))
            .args(args)
            .output()
            .unwrap()
    };
    // The embedded dev configuration's store is this process's memory: refused.
    let out = run(&["revoke", "session", "ASIAAAAAAAAAAAAAAAAA"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("memory://"));
    let out = run(&["revoke", "role", DEPLOY_ROLE, "--before", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));
}

/// A subject revocation made before an exchange but arriving after it (propagating to the
/// replica that exchanged): the session's issue time is after the cut, its token's `iat` is not,
/// and the token's `iat` kept in the record decides, at every use and for chained sessions.
#[tokio::test]
async fn a_subject_revocation_that_arrives_after_an_exchange_still_ends_its_session() {
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let keys = tempfile::tempdir().unwrap();
    let clock = now_clock();
    let a = TestBroker::replica(&idp, &redis.url(), keys.path(), clock.clone()).await;
    let b = TestBroker::replica(&idp, &redis.url(), keys.path(), clock.clone()).await;
    // Past the activation of the session key the first replica just generated.
    clock.advance(time::Duration::seconds(2));
    let t0 = clock.now().unix_timestamp();

    let raced = exchange(&a, &token(&idp, SUB, Some(t0 - 10)))
        .await
        .unwrap();
    let child = chained(&a, &raced).await;
    let fresh = exchange(&a, &token(&idp, SUB, Some(t0))).await.unwrap();
    probe(&b, &raced).await.unwrap();

    // Revoked as of t0 - 5: after the token was issued, before its session was.
    let since = Instant::now();
    b.state
        .revocations
        .revoke(
            Revocation::Subject {
                provider: PROVIDER_ARN.to_owned(),
                subject: SUB.to_owned(),
            },
            time::OffsetDateTime::from_unix_timestamp(t0 - 5).unwrap(),
        )
        .await
        .unwrap();
    refused_within_a_second(&a, &raced, since).await;
    refused_within_a_second(&b, &raced, since).await;
    refused_within_a_second(&b, &child, since).await;
    // A token issued after the cut is untouched.
    probe(&a, &fresh).await.unwrap();
    probe(&b, &fresh).await.unwrap();
}

/// What a token exchange answers, with its message.
async fn exchange_message(broker: &TestBroker, token: &str) -> Result<(), (String, String)> {
    broker
        .sts()
        .assume_role_with_web_identity()
        .role_arn(DEPLOY_ROLE)
        .role_session_name("lifetime")
        .web_identity_token(token)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            let e = e.into_service_error();
            (
                e.code().unwrap_or_default().to_owned(),
                e.message().unwrap_or_default().to_owned(),
            )
        })
}

/// Tokens valid longer than the provider's `max_token_lifetime_seconds` (a day by default), or
/// without `iat`, are refused: a subject revocation lives that long, so no token issued before
/// it can outlive it. Nothing is stored for them.
#[tokio::test]
async fn long_lived_and_undated_tokens_are_refused_so_subject_rules_outlive_every_token() {
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let keys = tempfile::tempdir().unwrap();
    let a = TestBroker::replica(&idp, &redis.url(), keys.path(), Arc::new(SystemClock)).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let with = |iat: Option<i64>, exp: i64| {
        let mut claims = idp.claims(SUB);
        claims["jti"] = json!(uuid::Uuid::new_v4().to_string());
        claims["exp"] = json!(exp);
        match iat {
            Some(iat) => claims["iat"] = json!(iat),
            None => {
                claims.as_object_mut().unwrap().remove("iat");
            }
        }
        idp.token("rsa-1", &claims)
    };
    let (code, message) = exchange_message(&a, &with(Some(now), now + 86_401))
        .await
        .unwrap_err();
    assert_eq!(code, "InvalidIdentityToken");
    assert!(
        message.contains("max_token_lifetime_seconds (86400)"),
        "{message}"
    );
    let (code, message) = exchange_message(&a, &with(None, now + 600))
        .await
        .unwrap_err();
    assert_eq!(code, "InvalidIdentityToken");
    assert!(message.contains("no iat claim"), "{message}");
    assert!(redis.keys().await.is_empty(), "{:?}", redis.keys().await);
    // A day exactly is accepted.
    exchange_message(&a, &with(Some(now), now + 86_400))
        .await
        .unwrap();

    // A provider may allow less.
    let dir = tempfile::tempdir().unwrap();
    let toml = crate::harness::broker::standard_config(dir.path(), &idp, "memory://", 0).replace(
        "leeway_seconds = 30",
        "leeway_seconds = 30\nmax_token_lifetime_seconds = 900",
    );
    let strict = TestBroker::from_toml(dir, &toml).await;
    let (code, message) = exchange_message(&strict, &with(Some(now), now + 901))
        .await
        .unwrap_err();
    assert_eq!(code, "InvalidIdentityToken");
    assert!(message.contains("(900)"), "{message}");
    exchange_message(&strict, &with(Some(now), now + 900))
        .await
        .unwrap();
}

/// A role or user removed from the configuration has its sessions revoked durably: restarting
/// with the identical block again does not revive them (role and user ids are digests of their
/// names), while sessions issued after work. Real broker restarts on one Redis.
#[tokio::test]
async fn a_removed_role_or_user_added_back_does_not_revive_its_sessions() {
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let keys = tempfile::tempdir().unwrap();
    let clock = now_clock();
    let deploy_block = "[[roles]]\naccount = \"111122223333\"\nname = \"deploy\"\npath = \"/ci/\"\nmax_session_duration = 7200\ntrust_policy_file = \"ci-trust.json\"\npolicy_files = [\"deploy.json\"]\n";
    let alice_key = crate::harness::broker::ALICE_KEY_ID;
    let alice_secret = crate::harness::broker::ALICE_SECRET;
    let replica = |without: bool| {
        let idp = &idp;
        let url = redis.url();
        let keys = keys.path().to_owned();
        let clock = clock.clone();
        async move {
            let dir = tempfile::tempdir().unwrap();
            let mut toml = crate::harness::broker::standard_config(dir.path(), idp, &url, 0)
                .replace(
                    "dir = \"keys\"",
                    &format!("dir = {:?}", keys.to_str().unwrap()),
                );
            if without {
                assert!(toml.contains(deploy_block));
                toml = toml.replace(deploy_block, "");
                // alice, her MFA device and the roles naming her go with her.
                let start = toml
                    .find("[[users]]\naccount = \"111122223333\"\nname = \"alice\"")
                    .unwrap();
                let end = start + toml[start..].find("[[groups]]").unwrap();
                toml.replace_range(start..end, "");
                let mfa = toml.find("[[mfa_devices]]").unwrap();
                toml.truncate(mfa);
            }
            TestBroker::from_toml_with_clock(dir, &toml, clock).await
        }
    };
    let get_session_token = |broker: &TestBroker| {
        let client = broker.sts_as(alice_key, alice_secret, None);
        async move {
            let out = client.get_session_token().send().await.unwrap();
            let c = out.credentials().unwrap();
            (
                c.access_key_id().to_owned(),
                c.secret_access_key().to_owned(),
                c.session_token().to_owned(),
            )
        }
    };

    let first = replica(false).await;
    // Past the activation of the session key it just generated.
    clock.advance(time::Duration::seconds(2));
    let old = exchange(&first, &token(&idp, SUB, None)).await.unwrap();
    let old_user = get_session_token(&first).await;
    probe(&first, &old).await.unwrap();
    probe(&first, &old_user).await.unwrap();
    drop(first);

    clock.advance(time::Duration::seconds(5));
    let without = replica(true).await;
    assert_eq!(
        probe(&without, &old).await,
        Err(("InvalidClientTokenId".to_owned(), 403))
    );
    drop(without);

    clock.advance(time::Duration::seconds(5));
    let again = replica(false).await;
    for creds in [&old, &old_user] {
        assert_eq!(
            probe(&again, creds).await,
            Err(("InvalidClientTokenId".to_owned(), 403)),
            "{}",
            creds.0
        );
    }
    let new = exchange(&again, &token(&idp, SUB, None)).await.unwrap();
    probe(&again, &new).await.unwrap();
    let new_user = get_session_token(&again).await;
    probe(&again, &new_user).await.unwrap();

    // The rules are in the store: one for the role, one for the user.
    let stored = entries(&redis).await;
    let kinds: Vec<&str> = stored
        .iter()
        .map(|(_, _, v)| v["rule"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(stored.len(), 2, "{kinds:?}");
    assert!(
        kinds.contains(&"Role") && kinds.contains(&"User"),
        "{kinds:?}"
    );
}

/// The same ES256 token with its signature's `s` replaced by `n - s` (P-256's order), which
/// verifies as well: ECDSA signatures are malleable.
fn malleated(token: &str) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(signature).unwrap();
    assert_eq!(sig.len(), 64);
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(sig[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        sig[32 + i] = u8::try_from(d.rem_euclid(256)).unwrap();
    }
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// A revoked session's token stays revoked in every spelling of its signature: the proof is
/// the token's signed part, so the malleated twin of an ES256 token is refused too, while the
/// malleated twin of a token nobody revoked still verifies (the test would prove nothing
/// otherwise).
#[tokio::test]
async fn a_revoked_token_is_refused_whatever_its_signature_spelling() {
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, "memory://").await;
    let ec_token = |sub: &str| {
        let mut claims = idp.claims(sub);
        claims["jti"] = json!(uuid::Uuid::new_v4().to_string());
        idp.token("ec-1", &claims)
    };
    let control = ec_token(SUB);
    exchange(&broker, &malleated(&control)).await.unwrap();

    let doomed_token = ec_token(SUB);
    let doomed = exchange(&broker, &doomed_token).await.unwrap();
    revoke_session(&broker, &doomed).await;
    for spelling in [doomed_token.clone(), malleated(&doomed_token)] {
        let (code, status) = exchange(&broker, &spelling).await.unwrap_err();
        assert_eq!((code.as_str(), status), ("AccessDenied", 403));
    }
}

/// Revocations written by a build before the per-namespace index (which listed entries with
/// `SCAN`) still apply after an upgrade: a replica of this build lists them at start, so no
/// revoked session comes back.
#[tokio::test]
async fn revocations_written_before_the_index_still_apply_after_an_upgrade() {
    let redis = RedisServer::start().await;
    let idp = TestIdp::start().await;
    let keys = tempfile::tempdir().unwrap();
    let old = TestBroker::replica(&idp, &redis.url(), keys.path(), Arc::new(SystemClock)).await;
    let doomed = exchange(&old, &token(&idp, SUB, None)).await.unwrap();
    let kept = exchange(&old, &token(&idp, SUB, None)).await.unwrap();
    let outcome = revoke_session(&old, &doomed).await;
    assert!(matches!(outcome, RevokeOutcome::Revoked(_)), "{outcome:?}");
    drop(old);

    // As the older build left Redis: the entries without the index.
    let client = ::redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let indexes: Vec<String> = redis
        .all_keys()
        .await
        .into_iter()
        .filter(|k| k.starts_with("sts-broker:index:"))
        .collect();
    assert!(
        indexes.contains(&"sts-broker:index:revoked".to_owned()),
        "{indexes:?}"
    );
    ::redis::cmd("DEL")
        .arg(&indexes)
        .query_async::<i64>(&mut c)
        .await
        .unwrap();
    let unlisted = entries(&redis).await.len();
    assert_eq!(unlisted, 2, "the session's rule and its token's");

    let upgraded =
        TestBroker::replica(&idp, &redis.url(), keys.path(), Arc::new(SystemClock)).await;
    assert_eq!(
        probe(&upgraded, &doomed).await,
        Err(("InvalidClientTokenId".to_owned(), 403))
    );
    probe(&upgraded, &kept).await.unwrap();
    let listed: Vec<String> = ::redis::cmd("ZRANGE")
        .arg("sts-broker:index:revoked")
        .arg(0)
        .arg(-1)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(listed.len(), unlisted);
}

pub const ROOT_KEY: &str = "AKIAROOTREVOKEAAAAAA";
pub const ROOT_SECRET: &str = "rootRevokeSecretAccessKey/EXAMPLE+01234";
const DAVE_KEY: &str = "AKIADAVEREVOKEAAAAAA";
const DAVE_SECRET: &str = "daveRevokeSecretAccessKey/EXAMPLE+01234";
const ROOT_OPS_KEY: &str = "AKIAOPSREVOKEAAAAAAA";
const ROOT_OPS_SECRET: &str = "opsRevokeSecretAccessKey/EXAMPLE+012345";
const ROOT_ARN: &str = "arn:aws:iam::111122223333:root";

/// A configuration of account 111122223333 (and 444455556666, with no root) written to `dir`:
/// its root with one access key of status `root_key` (no root at all when `None`), dave with a
/// key of status `dave_key` (none when `None`), ops allowed `broker:*`, and a role in each
/// account trusting the first account's root (`ROOT_TRUSTING_ROLES`).
pub fn root_config(
    dir: &std::path::Path,
    root_key: Option<&str>,
    dave_key: Option<&str>,
) -> String {
    for (file, text) in [
        ("root.secret", ROOT_SECRET),
        ("dave.secret", DAVE_SECRET),
        ("ops.secret", ROOT_OPS_SECRET),
        (
            "ops.json",
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "broker:*", "Resource": "*"}]}"#,
        ),
    ] {
        std::fs::write(dir.join(file), text).unwrap();
    }
    let root = root_key.map_or_else(String::new, |status| {
        format!(
            "root = {{ access_keys = [{{ id = \"{ROOT_KEY}\", secret_file = \"root.secret\", status = \"{status}\" }}] }}\n"
        )
    });
    let dave = dave_key.map_or_else(String::new, |status| {
        format!("{{ id = \"{DAVE_KEY}\", secret_file = \"dave.secret\", status = \"{status}\" }}")
    });
    format!(
        r#"[server]
listen = "127.0.0.1:0"

[store]
url = "memory://"

[keys]
dir = "keys"

[[accounts]]
id = "111122223333"
{root}
[[accounts]]
id = "444455556666"

[[users]]
account = "111122223333"
name = "dave"
access_keys = [{dave}]

[[users]]
account = "111122223333"
name = "ops"
policy_files = ["ops.json"]
access_keys = [{{ id = "{ROOT_OPS_KEY}", secret_file = "ops.secret" }}]

[[roles]]
account = "111122223333"
name = "trusts-root"
trust_policy = '{trust}'

[[roles]]
account = "444455556666"
name = "trusts-root"
trust_policy = '{trust}'
"#,
        trust = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole"}]}"#,
    )
}

/// The roles of [`root_config`]: one in the root's account, one in another, both trusting the
/// root's account.
pub const ROOT_TRUSTING_ROLES: [&str; 2] = [
    "arn:aws:iam::111122223333:role/trusts-root",
    "arn:aws:iam::444455556666:role/trusts-root",
];

/// `GetSessionToken` with a long-term key, asking for `seconds` when given.
pub async fn user_session(
    broker: &TestBroker,
    key: &str,
    secret: &str,
    seconds: Option<i32>,
) -> (Creds, i64) {
    let out = broker
        .sts_as(key, secret, None)
        .get_session_token()
        .set_duration_seconds(seconds)
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    (
        (
            c.access_key_id().to_owned(),
            c.secret_access_key().to_owned(),
            c.session_token().to_owned(),
        ),
        c.expiration().secs(),
    )
}

/// Rewrites the reloadable `broker`'s file and reloads it.
async fn reload_with(broker: &TestBroker, root_key: Option<&str>, dave_key: Option<&str>) {
    let toml = root_config(broker.dir.path(), root_key, dave_key);
    std::fs::write(broker.dir.path().join("broker.toml"), toml).unwrap();
    broker.live.reload("test").await.unwrap();
}

/// A root key's `GetSessionToken` sessions last an hour at most; an operator revokes them as
/// a user's (`POST /admin/revoke` kind `User` on `arn:aws:iam::ACCOUNT:root`); a reload that
/// removes a file key or makes it inactive (the root's or a user's) ends the sessions made with
/// it, while the key listed again later makes sessions that work; and a root removed and added
/// back does not revive its sessions.
#[tokio::test]
async fn a_root_keys_sessions_are_revocable_and_end_with_the_key() {
    let clock = now_clock();
    let dir = tempfile::tempdir().unwrap();
    let toml = root_config(dir.path(), Some("Active"), Some("Active"));
    let broker = TestBroker::reloadable_with_clock(dir, &toml, clock.clone()).await;
    clock.advance(time::Duration::seconds(2));

    // An hour at most, whatever is asked (AWS's rule for root), and an hour by default.
    let now = clock.now().unix_timestamp();
    let (root, expires) = user_session(&broker, ROOT_KEY, ROOT_SECRET, Some(129_600)).await;
    assert_eq!(expires, now + 3600);
    let (_, expires) = user_session(&broker, ROOT_KEY, ROOT_SECRET, None).await;
    assert_eq!(expires, now + 3600);
    let (_, expires) = user_session(&broker, ROOT_KEY, ROOT_SECRET, Some(900)).await;
    assert_eq!(expires, now + 900);
    // A user's may last 36 hours.
    let (_, expires) = user_session(&broker, DAVE_KEY, DAVE_SECRET, Some(129_600)).await;
    assert_eq!(expires, now + 129_600);
    probe(&broker, &root).await.unwrap();

    // Revoked by an operator as a user is.
    let url = format!("{}/admin/revoke", broker.endpoint);
    let body = json!({"kind": "User", "user_arn": ROOT_ARN}).to_string();
    let content_type = ("content-type", "application/json");
    let mut request = broker
        .http()
        .post(&url)
        .header(content_type.0, content_type.1)
        .body(body.clone());
    let ops = crate::harness::signer::Signer::new(ROOT_OPS_KEY, ROOT_OPS_SECRET, None);
    for (n, v) in ops.sign("sts", "POST", &url, &[content_type], body.as_bytes()) {
        request = request.header(n, v);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    assert_eq!(status, 200, "{}", answer.text().await.unwrap());
    let refused = Err(("InvalidClientTokenId".to_owned(), 403));
    assert_eq!(probe(&broker, &root).await, refused);

    // The root's key made inactive and dave's removed from the file: their sessions end.
    clock.advance(time::Duration::seconds(2));
    let (root, _) = user_session(&broker, ROOT_KEY, ROOT_SECRET, None).await;
    let (dave, _) = user_session(&broker, DAVE_KEY, DAVE_SECRET, None).await;
    probe(&broker, &root).await.unwrap();
    probe(&broker, &dave).await.unwrap();
    reload_with(&broker, Some("Inactive"), None).await;
    assert_eq!(probe(&broker, &root).await, refused);
    assert_eq!(probe(&broker, &dave).await, refused);

    // Listed and active again: the old sessions stay refused, new ones work (a file key's generation
    // never moves; the cut is by issue time).
    reload_with(&broker, Some("Active"), Some("Active")).await;
    clock.advance(time::Duration::seconds(2));
    assert_eq!(probe(&broker, &root).await, refused);
    assert_eq!(probe(&broker, &dave).await, refused);
    let (root, _) = user_session(&broker, ROOT_KEY, ROOT_SECRET, None).await;
    let (dave, _) = user_session(&broker, DAVE_KEY, DAVE_SECRET, None).await;
    probe(&broker, &root).await.unwrap();
    probe(&broker, &dave).await.unwrap();

    // The whole root removed, then added back: its session is not revived.
    reload_with(&broker, None, Some("Active")).await;
    assert_eq!(probe(&broker, &root).await, refused);
    reload_with(&broker, Some("Active"), Some("Active")).await;
    assert_eq!(probe(&broker, &root).await, refused);
    probe(&broker, &dave).await.unwrap();
    clock.advance(time::Duration::seconds(2));
    let (root, _) = user_session(&broker, ROOT_KEY, ROOT_SECRET, None).await;
    probe(&broker, &root).await.unwrap();
}
