use std::collections::BTreeMap;

use super::*;
use crate::clock::ManualClock;
use crate::session::{Lineage, Origin, SessionPrincipal, TokenDigest};

const NOW: i64 = 1_800_000_000;
const ROLE: &str = "arn:aws:iam::111122223333:role/deploy";
const PROVIDER: &str = "arn:aws:iam::111122223333:oidc-provider/idp.example";

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap()
}

fn record(akid: &str, issued_at: i64, lifetime: i64) -> SessionRecord {
    SessionRecord {
        access_key_id: akid.to_owned(),
        key_id: "k".into(),
        origin: Origin::AssumeRoleWithWebIdentity,
        account: "111122223333".into(),
        principal: SessionPrincipal::Role {
            role_arn: ROLE.into(),
            role_id: "AROAEXAMPLE".into(),
            session_name: "s".into(),
            assumed_role_arn: "arn:aws:sts::111122223333:assumed-role/deploy/s".into(),
        },
        issued_at,
        expires_at: issued_at + lifetime,
        provider: Some(PROVIDER.into()),
        subject: Some("alice".into()),
        audience: None,
        source_identity: None,
        context: BTreeMap::new(),
        session_policy: None,
        policy_arns: Vec::new(),
        tags: BTreeMap::new(),
        transitive_tag_keys: Vec::new(),
        mfa_authenticated_at: None,
        chained: false,
        lineage: Lineage {
            web_identity_token: Some(TokenDigest::of("the-token", issued_at + 600)),
            ancestors: Vec::new(),
        },
    }
}

/// The session key the test records name (`k`).
fn keys() -> SessionKeys {
    SessionKeys::from_material(&[("k", [7; 32])])
}

fn revocations(store: &Store) -> Revocations {
    let r = Revocations::new(
        store.clone(),
        Arc::new(ManualClock::new(at(NOW))),
        &Iam::default(),
    );
    r.set_session_keys(keys());
    r
}

const AKID: &str = "ASIAAAAAAAAAAAAAAAAA";

#[tokio::test]
async fn a_session_revocation_covers_the_session_its_token_and_its_descendants() {
    let store = Store::open("memory://").await.unwrap();
    let r = revocations(&store);
    r.start().await.unwrap();
    let parent = record(AKID, NOW - 100, 7200);
    store
        .put_session(&parent, &keys(), Duration::from_secs(7100))
        .await
        .unwrap();
    let mut child = record("ASIABBBBBBBBBBBBBBBB", NOW - 50, 3600);
    child.lineage = Lineage::chained_from(&parent).unwrap();
    let mut other = record("ASIACCCCCCCCCCCCCCCC", NOW - 50, 3600);
    other.subject = Some("bob".into());
    assert_eq!(r.check(&parent), Ok(()));

    let outcome = r
        .revoke(
            Revocation::Session {
                access_key_id: AKID.into(),
            },
            at(NOW),
        )
        .await
        .unwrap();
    let RevokeOutcome::Revoked(entries) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(entries.len(), 2);
    // The session's rule lives until the session ends (here longer than the descendant cover).
    assert_eq!(entries[0].expires_at, parent.expires_at);
    assert_eq!(
        entries[1].expires_at,
        NOW - 100 + 600,
        "the token's own lifetime"
    );
    assert_eq!(store.entries(NAMESPACE).await.unwrap().len(), 2);
    let ttl = store
        .entry_ttl(NAMESPACE, &entries[0].id())
        .await
        .unwrap()
        .unwrap();
    assert!(ttl <= 7100, "{ttl}");

    assert_eq!(r.check(&parent), Err(Revoked::Session));
    assert_eq!(r.check(&child), Err(Revoked::Session), "chained from it");
    assert_eq!(r.check(&other), Ok(()));
    let digest = crate::session::sha256_hex("the-token");
    assert_eq!(
        r.check_web_identity(PROVIDER, "alice", Some(NOW + 10), &digest),
        Err(Revoked::WebIdentityToken)
    );
    let fresh = crate::session::sha256_hex("a-new-token");
    assert_eq!(
        r.check_web_identity(PROVIDER, "alice", Some(NOW - 10), &fresh),
        Ok(())
    );
}

#[tokio::test]
async fn an_unknown_session_stores_nothing() {
    let store = Store::open("memory://").await.unwrap();
    let r = revocations(&store);
    let outcome = r
        .revoke(
            Revocation::Session {
                access_key_id: AKID.into(),
            },
            at(NOW),
        )
        .await
        .unwrap();
    assert_eq!(outcome, RevokeOutcome::SessionNotFound);
    assert!(store.entries(NAMESPACE).await.unwrap().is_empty());
    assert!(r.is_empty());
}

#[tokio::test]
async fn role_rules_cover_the_longest_session_from_their_cut_off() {
    let store = Store::open("memory://").await.unwrap();
    let r = revocations(&store);
    let before = NOW - 1000;
    let RevokeOutcome::Revoked(entries) = r
        .revoke(
            Revocation::RoleIssuedBefore {
                role_arn: ROLE.into(),
                before,
            },
            at(NOW),
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    // Unknown here: the longest any role may grant, from the cut-off.
    assert_eq!(
        entries[0].expires_at,
        before + i64::from(LONGEST_ROLE_SESSION)
    );
    assert_eq!(r.check(&record(AKID, before - 1, 3600)), Err(Revoked::Role));
    assert_eq!(
        r.check(&record(AKID, before, 3600)),
        Ok(()),
        "issued at T is not before T"
    );

    let RevokeOutcome::Revoked(entries) = r
        .revoke(
            Revocation::Subject {
                provider: PROVIDER.into(),
                subject: "alice".into(),
            },
            at(NOW),
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(entries[0].expires_at, NOW + i64::from(LONGEST_ROLE_SESSION));
    assert_eq!(r.check(&record(AKID, NOW, 3600)), Err(Revoked::Subject));
    assert_eq!(r.check(&record(AKID, NOW + 1, 3600)), Ok(()));
}

#[tokio::test]
async fn bad_revocations_are_refused() {
    let store = Store::open("memory://").await.unwrap();
    let r = revocations(&store);
    let cases = [
        Revocation::Session {
            access_key_id: "AKIAAAAAAAAAAAAAAAAA".into(),
        },
        Revocation::Session {
            access_key_id: "ASIA1".into(),
        },
        Revocation::Subject {
            provider: "not-an-arn".into(),
            subject: "alice".into(),
        },
        Revocation::Subject {
            provider: PROVIDER.into(),
            subject: String::new(),
        },
        Revocation::Subject {
            provider: PROVIDER.into(),
            subject: "x".repeat(1025),
        },
        Revocation::Role {
            role_arn: "deploy".into(),
        },
        Revocation::RoleIssuedBefore {
            role_arn: ROLE.into(),
            before: NOW + 1,
        },
    ];
    for case in cases {
        let result = r.revoke(case.clone(), at(NOW)).await;
        assert!(
            matches!(result, Err(RevocationError::Invalid(_))),
            "{case:?}: {result:?}"
        );
    }
    assert!(store.entries(NAMESPACE).await.unwrap().is_empty());
}

#[test]
fn a_cache_not_confirmed_in_time_fails_closed() {
    let health = Health::untrusted();
    assert_eq!(health.check(), Err(Revoked::Unconfirmed));
    health.confirmed();
    assert_eq!(health.check(), Ok(()));
    health.trusted_until_ms.store(0, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(2));
    assert_eq!(health.check(), Err(Revoked::Unconfirmed));
    assert_eq!(Health::trusted_forever().check(), Ok(()));
}

#[test]
fn chains_are_bounded() {
    let mut r = record(AKID, NOW, 3600);
    for _ in 0..crate::session::MAX_CHAIN_DEPTH {
        r.lineage = Lineage::chained_from(&r).unwrap();
    }
    assert_eq!(r.lineage.ancestors.len(), crate::session::MAX_CHAIN_DEPTH);
    assert!(Lineage::chained_from(&r).is_none());
}
