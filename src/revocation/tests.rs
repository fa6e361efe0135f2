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
            identity_issued_at: Some(issued_at),
            ..Lineage::default()
        },
    }
}

/// The session key the test records name (`k`).
fn keys() -> SessionKeys {
    SessionKeys::from_material(&[("k", [7; 32])])
}

const USER: &str = "arn:aws:iam::111122223333:user/alice";
/// What the provider's tokens may be presented for after a cut: a day plus a minute.
const PROOF_LIFETIME: i64 = 86_400 + 60;

fn principals() -> Principals {
    let mut p = Principals::default();
    p.roles.insert(ROLE.into(), LONGEST_ROLE_SESSION);
    p.users.insert(USER.into());
    p.providers.insert(PROVIDER.into(), PROOF_LIFETIME);
    p
}

fn revocations(store: &Store) -> Revocations {
    let r = Revocations::new(
        store.clone(),
        Arc::new(ManualClock::new(at(NOW))),
        principals(),
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
        .put_session(&parent, &keys().snapshot(), Duration::from_secs(7100))
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
    // One revocation (of two rules), counted by its kind.
    assert_eq!(r.revoked_by_kind()[0], ("session", 1));
    assert_eq!(r.revoked_by_kind().iter().map(|(_, n)| n).sum::<u64>(), 1);
    // The session's rule lives until the session ends (here longer than the descendant cover).
    assert_eq!(entries[0].expires_at, parent.expires_at);
    assert_eq!(
        entries[1].expires_at,
        NOW + i64::from(LONGEST_ROLE_SESSION),
        "the longest session issued for the token before the rule arrived"
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
    assert_eq!(
        r.check(&other),
        Err(Revoked::Proof),
        "issued for the same token: a sibling"
    );
    let mut unrelated = record("ASIADDDDDDDDDDDDDDDD", NOW - 50, 3600);
    unrelated.lineage.web_identity_token = Some(TokenDigest::of("another-token", NOW + 600));
    assert_eq!(r.check(&unrelated), Ok(()));
    let digest = crate::session::sha256_hex("the-token");
    assert_eq!(
        r.check_proof(PROVIDER, "alice", NOW + 10, &digest),
        Err(Revoked::Proof)
    );
    let fresh = crate::session::sha256_hex("a-new-token");
    assert_eq!(r.check_proof(PROVIDER, "alice", NOW - 10, &fresh), Ok(()));
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
    assert!(
        r.revoked_by_kind().iter().all(|(_, n)| *n == 0),
        "nothing counted"
    );
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
    // The role's longest session, from the cut-off.
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
    // As long as a token issued before the cut can be presented (longer than any session).
    assert_eq!(entries[0].expires_at, NOW + PROOF_LIFETIME);
    assert_eq!(r.check(&record(AKID, NOW, 3600)), Err(Revoked::Subject));
    assert_eq!(r.check(&record(AKID, NOW + 1, 3600)), Ok(()));
    // Issued after the cut for a token issued before it (the exchange raced the rule).
    let mut raced = record(AKID, NOW + 5, 3600);
    raced.lineage.identity_issued_at = Some(NOW - 1);
    assert_eq!(r.check(&raced), Err(Revoked::Subject));
    // And a session chained from it.
    let mut child = record("ASIABBBBBBBBBBBBBBBB", NOW + 6, 3600);
    child.provider = None;
    child.subject = None;
    child.lineage = Lineage::chained_from(&raced).unwrap();
    assert_eq!(r.check(&child), Err(Revoked::Subject));
}

fn user_session(akid: &str, issued_at: i64) -> SessionRecord {
    let mut r = record(akid, issued_at, 129_600);
    r.origin = Origin::GetSessionToken;
    r.principal = SessionPrincipal::User {
        user_arn: USER.into(),
        user_id: "AIDAEXAMPLE".into(),
    };
    r.provider = None;
    r.subject = None;
    r.lineage = Lineage::default();
    r
}

#[tokio::test]
async fn a_user_revocation_covers_its_sessions_what_its_keys_created_and_their_chains() {
    let store = Store::open("memory://").await.unwrap();
    let r = revocations(&store);
    let gst = user_session(AKID, NOW - 100);
    let mut assumed = record("ASIABBBBBBBBBBBBBBBB", NOW - 90, 3600);
    assumed.provider = None;
    assumed.subject = None;
    assumed.lineage = Lineage {
        user_arn: Some(USER.into()),
        ..Lineage::default()
    };
    let mut chained = record("ASIACCCCCCCCCCCCCCCC", NOW - 80, 3600);
    chained.provider = None;
    chained.subject = None;
    chained.lineage = Lineage::chained_from(&gst).unwrap();
    let mut bystander = user_session("ASIADDDDDDDDDDDDDDDD", NOW - 100);
    bystander.principal = SessionPrincipal::User {
        user_arn: "arn:aws:iam::111122223333:user/bob".into(),
        user_id: "AIDABOB".into(),
    };
    let RevokeOutcome::Revoked(entries) = r
        .revoke(
            Revocation::User {
                user_arn: USER.into(),
            },
            at(NOW),
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        entries[0].expires_at,
        NOW + i64::from(LONGEST_USER_SESSION),
        "a 36 hour GetSessionToken session"
    );
    for s in [&gst, &assumed, &chained] {
        assert_eq!(r.check(s), Err(Revoked::User), "{}", s.access_key_id);
    }
    assert_eq!(r.check(&bystander), Ok(()));
    assert_eq!(
        r.check(&user_session(AKID, NOW + 1)),
        Ok(()),
        "issued later"
    );
}

#[tokio::test]
async fn a_key_revocation_covers_what_the_key_created_up_to_its_generation_and_their_chains() {
    use crate::session::LongTermKey;
    const KEY: &str = "AKIAKEYKEYKEYKEYKEY2";
    let store = Store::open("memory://").await.unwrap();
    let r = revocations(&store);
    let with_key = |akid: &str, generation: u32| {
        let mut s = user_session(akid, NOW - 100);
        s.lineage.long_term_key = Some(LongTermKey {
            id: KEY.into(),
            generation,
        });
        s
    };
    let gst = with_key(AKID, 0);
    let mut chained = record("ASIACCCCCCCCCCCCCCCC", NOW - 80, 3600);
    chained.lineage = Lineage::chained_from(&gst).unwrap();
    let reactivated = with_key("ASIABBBBBBBBBBBBBBBB", 1);
    let other_key = user_session("ASIADDDDDDDDDDDDDDDD", NOW - 100);
    let entries = r.revoke_access_key(KEY, 0, at(NOW)).await.unwrap();
    assert_eq!(
        entries[0].expires_at,
        NOW + i64::from(LONGEST_USER_SESSION) + 60,
        "a 36 hour GetSessionToken session, and a minute for a replica a little behind"
    );
    assert_eq!(store.entries(NAMESPACE).await.unwrap().len(), 1);
    for s in [&gst, &chained] {
        assert_eq!(r.check(s), Err(Revoked::AccessKey), "{}", s.access_key_id);
    }
    // A session of the key's next activation, or of the user's other key, stays.
    assert_eq!(r.check(&reactivated), Ok(()));
    assert_eq!(r.check(&other_key), Ok(()));
    // Another replica reads the rule back from the store.
    let again = revocations(&store);
    again.start().await.unwrap();
    assert_eq!(again.check(&chained), Err(Revoked::AccessKey));
}

#[tokio::test]
async fn targets_the_configuration_does_not_name_are_refused_and_store_nothing() {
    let store = Store::open("memory://").await.unwrap();
    let r = revocations(&store);
    for case in [
        Revocation::Role {
            role_arn: "arn:aws:iam::111122223333:role/nobody".into(),
        },
        Revocation::RoleIssuedBefore {
            role_arn: "arn:aws:iam::111122223333:role/nobody".into(),
            before: NOW,
        },
        Revocation::User {
            user_arn: "arn:aws:iam::111122223333:user/nobody".into(),
        },
        Revocation::Subject {
            provider: "arn:aws:iam::111122223333:oidc-provider/elsewhere".into(),
            subject: "alice".into(),
        },
    ] {
        let outcome = r.revoke(case.clone(), at(NOW)).await.unwrap();
        assert!(
            matches!(outcome, RevokeOutcome::UnknownPrincipal(_)),
            "{case:?}: {outcome:?}"
        );
    }
    assert!(store.entries(NAMESPACE).await.unwrap().is_empty());
    assert!(r.is_empty());
}

#[tokio::test]
async fn a_role_removed_from_the_configuration_stays_revoked_when_added_back() {
    let store = Store::open("memory://").await.unwrap();
    let clock = Arc::new(ManualClock::new(at(NOW)));
    let start = |p: Principals| Revocations::new(store.clone(), clock.clone(), p);
    let first = start(principals());
    assert!(first.reconcile(at(NOW)).await.unwrap().is_empty());
    let old = record(AKID, NOW, 3600);
    assert_eq!(first.check(&old), Ok(()));

    // Restarted without the role (and without the user): both are revoked, durably.
    let without = start(Principals {
        roles: HashMap::new(),
        users: HashSet::new(),
        ..principals()
    });
    let revoked = without.reconcile(at(NOW + 10)).await.unwrap();
    assert_eq!(revoked.len(), 2, "{revoked:?}");
    assert_eq!(store.entries(NAMESPACE).await.unwrap().len(), 2);

    // Restarted with the identical role again: old sessions stay refused, new ones work.
    let again = start(principals());
    again.start().await.unwrap();
    assert!(again.reconcile(at(NOW + 20)).await.unwrap().is_empty());
    assert_eq!(again.check(&old), Err(Revoked::Role));
    assert_eq!(again.check(&record(AKID, NOW + 20, 3600)), Ok(()));
    assert_eq!(
        again.check(&user_session(AKID, NOW + 5)),
        Err(Revoked::User)
    );
}

#[tokio::test]
async fn a_role_removed_by_a_reload_is_revoked_as_by_a_restart() {
    let store = Store::open("memory://").await.unwrap();
    let clock = Arc::new(ManualClock::new(at(NOW)));
    let r = Revocations::new(store.clone(), clock.clone(), principals());
    r.start().await.unwrap();
    assert!(r.reconcile(at(NOW)).await.unwrap().is_empty());
    let old = record(AKID, NOW, 3600);
    assert_eq!(r.check(&old), Ok(()));

    // Reloaded without the role: its sessions end here at once, and the rule is stored.
    let without = Principals {
        roles: HashMap::new(),
        ..principals()
    };
    let revoked = r.reconfigure(without, at(NOW + 10)).await.unwrap();
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(r.check(&old), Err(Revoked::Role));
    // A request that began on the old configuration finds the role gone before it stores.
    assert!(!r.configures(&old.principal));
    let unknown = Revocation::Role {
        role_arn: ROLE.to_owned(),
    };
    assert!(matches!(
        r.revoke(unknown, at(NOW + 10)).await.unwrap(),
        RevokeOutcome::UnknownPrincipal(_)
    ));

    // Reloaded with it again: the old session stays refused, a new one works.
    assert!(
        r.reconfigure(principals(), at(NOW + 20))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(r.check(&old), Err(Revoked::Role));
    assert!(r.configures(&old.principal));
    assert_eq!(r.check(&record(AKID, NOW + 20, 3600)), Ok(()));
}

/// Replicas reload at different times (a ConfigMap reaches pods minutes apart): one reloading
/// a file that never had a role another replica's newer file added leaves that role's
/// sessions alone. Only what its own running configuration had and the new one lacks is
/// revoked.
#[tokio::test]
async fn a_replica_reloading_an_older_file_ends_no_role_a_newer_file_added() {
    const ADDED: &str = "arn:aws:iam::111122223333:role/added";
    let store = Store::open("memory://").await.unwrap();
    let newer = Revocations::new(
        store.clone(),
        Arc::new(ManualClock::new(at(NOW))),
        principals(),
    );
    newer.start().await.unwrap();
    let mut v2 = principals();
    v2.roles.insert(ADDED.into(), LONGEST_ROLE_SESSION);
    assert!(newer.reconfigure(v2, at(NOW + 1)).await.unwrap().is_empty());

    // The other replica, still on v1, is told to reload and reads v1 again.
    let older = revocations(&store);
    older.start().await.unwrap();
    assert!(
        older
            .reconfigure(principals(), at(NOW + 2))
            .await
            .unwrap()
            .is_empty()
    );

    // A replica started now on the same store sees no rule against the added role.
    let fresh = revocations(&store);
    fresh.start().await.unwrap();
    let mut session = record(AKID, NOW + 1, 3600);
    session.principal = SessionPrincipal::Role {
        role_arn: ADDED.into(),
        role_id: "AROAADDED".into(),
        session_name: "s".into(),
        assumed_role_arn: "arn:aws:sts::111122223333:assumed-role/added/s".into(),
    };
    assert_eq!(fresh.check(&session), Ok(()));
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
        Revocation::User {
            user_arn: "alice".into(),
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

#[test]
fn an_accounts_root_user_is_a_user_revocations_name() {
    let text = "[[accounts]]\nid = \"111122223333\"\nroot = { access_keys = [{ id = \"AKIAROOTROOTROOTROOT\", secret_env = \"ROOT_SECRET\" }] }\n\n[[accounts]]\nid = \"444455556666\"\n";
    let env = |var: &str| (var == "ROOT_SECRET").then(|| "rootSecret/EXAMPLE".to_owned());
    let config =
        Config::from_toml_with_env(text, "c.toml", std::path::Path::new("."), &env).unwrap();
    let p = Principals::of(&config);
    assert!(p.users.contains("arn:aws:iam::111122223333:root"));
    assert!(!p.users.contains("arn:aws:iam::444455556666:root"));
}
