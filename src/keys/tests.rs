use super::*;
use std::fs;
use std::time::Duration;
use time::OffsetDateTime;

#[test]
fn generates_once_then_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let keys = SessionKeys::load_or_generate(dir.as_path()).unwrap();
    let first = keys.signing(OffsetDateTime::now_utc()).unwrap().id.clone();
    let again = SessionKeys::load_or_generate(dir.as_path()).unwrap();
    assert_eq!(again.ids().collect::<Vec<_>>(), vec![first.clone()]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.as_path().join(format!("session-{first}.key"));
        let mode = fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = fs::metadata(dir.as_path()).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o077, 0, "the folder is not open to others");
    }
}

#[test]
fn the_first_key_of_an_empty_folder_signs_from_the_start_of_time() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = SessionKeys::load_or_generate(tmp.path()).unwrap();
    let first = keys.signing(OffsetDateTime::UNIX_EPOCH).unwrap().id.clone();
    // A second generated key is not a first key: it signs from its creation.
    let second = generate_session_key(tmp.path()).unwrap();
    assert!(keys.reload().unwrap());
    assert_eq!(keys.signing(OffsetDateTime::UNIX_EPOCH).unwrap().id, first);
    assert!(keys.get(&second).unwrap().activates_at > 0);
}

#[test]
fn newest_key_signs() {
    let keys = SessionKeys::from_material(&[("b", [2; 32]), ("a", [1; 32])]);
    assert_eq!(keys.signing(OffsetDateTime::UNIX_EPOCH).unwrap().id, "b");
    assert!(keys.get("a").is_some());
    assert!(keys.get("c").is_none());
}

#[test]
fn refuses_bad_key_files() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("session-x.key"), "abcd").unwrap();
    assert!(matches!(
        SessionKeys::load(dir.path()),
        Err(KeyError::BadSessionKey(_))
    ));
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        SessionKeys::load(empty.path()),
        Err(KeyError::NoSessionKey(_))
    ));
}

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap()
}

#[test]
fn a_rotated_key_verifies_at_once_and_signs_after_its_grace() {
    let dir = tempfile::tempdir().unwrap();
    let old = generate_session_key(dir.path()).unwrap();
    let keys = SessionKeys::load(dir.path()).unwrap();
    let now = OffsetDateTime::now_utc();
    let (new, activates_at) =
        rotate_session_key(dir.path(), now, Duration::from_secs(300)).unwrap();
    assert_eq!(activates_at, now.unix_timestamp() + 300);
    // The watcher's work, done by hand: the folder changed, so it is read again.
    assert!(keys.reload().unwrap());
    assert!(
        !keys.reload().unwrap(),
        "an unchanged folder is not read again"
    );
    assert!(keys.get(&new).is_some());
    assert_eq!(keys.signing(now).unwrap().id, old);
    assert_eq!(keys.signing(at(activates_at - 1)).unwrap().id, old);
    assert_eq!(keys.signing(at(activates_at)).unwrap().id, new);
    let info = keys.info(at(activates_at));
    assert_eq!(info.len(), 2);
    assert!(
        info.iter()
            .any(|k| k.id == new && k.signs && k.activates_at == activates_at)
    );
    assert!(
        info.iter()
            .any(|k| k.id == old && !k.signs && k.activates_at <= now.unix_timestamp())
    );
}

#[test]
fn retiring_refuses_the_only_key_and_the_signer_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let now = OffsetDateTime::now_utc();
    let old = generate_session_key(dir.path()).unwrap();
    assert!(matches!(
        retire_session_key(dir.path(), &old, now, true),
        Err(KeyError::OnlyKey(_))
    ));
    let (new, activates_at) = rotate_session_key(dir.path(), now, Duration::from_secs(60)).unwrap();
    assert!(matches!(
        retire_session_key(dir.path(), "nope", now, false),
        Err(KeyError::UnknownKey(_))
    ));
    assert!(matches!(
        retire_session_key(dir.path(), &old, now, false),
        Err(KeyError::CurrentSigner(_))
    ));
    retire_session_key(dir.path(), &old, at(activates_at), false).unwrap();
    let keys = SessionKeys::load(dir.path()).unwrap();
    assert_eq!(keys.ids().collect::<Vec<_>>(), vec![new]);
}

#[tokio::test(flavor = "current_thread")]
async fn unknown_ids_reload_the_folder_off_the_runtime_at_most_once_a_second() {
    let dir = tempfile::tempdir().unwrap();
    generate_session_key(dir.path()).unwrap();
    let keys = SessionKeys::load(dir.path()).unwrap();
    assert!(keys.find("20990101000000-abcdef").await.is_none());
    let (added, _) =
        rotate_session_key(dir.path(), OffsetDateTime::now_utc(), Duration::ZERO).unwrap();
    // `get` never reads the folder.
    assert!(keys.get(&added).is_none());
    // Within the second after the last miss, the folder is not read again.
    assert!(keys.find(&added).await.is_none());
    *keys.shared.last_miss_reload.lock().await = None;
    assert!(keys.find(&added).await.is_some());
}

/// A FIFO nobody writes to blocks whoever reads it: were it read, on the runtime's only
/// worker or anywhere, this test would not end; it is refused as no key file instead.
#[tokio::test(flavor = "current_thread")]
async fn a_key_file_that_would_block_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let id = generate_session_key(dir.path()).unwrap();
    let keys = SessionKeys::load(dir.path()).unwrap();
    let fifo = dir.path().join("session-fifo.key");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let (added, _) =
        rotate_session_key(dir.path(), OffsetDateTime::now_utc(), Duration::ZERO).unwrap();
    let found = tokio::time::timeout(Duration::from_secs(60), keys.find(&added))
        .await
        .expect("the reload finished");
    assert!(found.is_some(), "the good new key is loaded");
    assert!(keys.get(&id).is_some());
    assert!(keys.get("fifo").is_none());
    assert_eq!(keys.reload_failures(), 1);
    // At start the same folder is refused, naming the file.
    let e = SessionKeys::load(dir.path()).unwrap_err();
    assert!(matches!(e, KeyError::NotAKeyFile(_)), "{e}");
    assert!(e.to_string().contains("session-fifo.key"), "{e}");
}

#[test]
fn faulty_files_are_refused_at_start_and_skipped_on_reload() {
    let dir = tempfile::tempdir().unwrap();
    let id = generate_session_key(dir.path()).unwrap();
    let keys = SessionKeys::load(dir.path()).unwrap();
    // A rotation interrupted half-way: half of the hex written.
    let half = dir.path().join("session-half.key");
    fs::write(&half, "ab".repeat(16)).unwrap();
    assert!(matches!(
        SessionKeys::load(dir.path()),
        Err(KeyError::BadSessionKey(p)) if p == half
    ));
    assert!(keys.reload().unwrap());
    assert!(keys.get(&id).is_some() && keys.get("half").is_none());
    assert_eq!(keys.reload_failures(), 1);
    // Unchanged folder: not read again, not counted again.
    assert!(!keys.reload().unwrap());
    assert_eq!(keys.reload_failures(), 1);
    fs::remove_file(&half).unwrap();

    // A file this process cannot read (unless it runs as root, who reads anything).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let own = dir.path().join(format!("session-{id}.key"));
        fs::set_permissions(&own, fs::Permissions::from_mode(0o000)).unwrap();
        if fs::read(&own).is_err() {
            assert!(matches!(
                SessionKeys::load(dir.path()),
                Err(KeyError::Unreadable { .. })
            ));
            // On reload the key already loaded stays.
            keys.reload().unwrap();
            assert!(keys.get(&id).is_some());
        }
        fs::set_permissions(&own, fs::Permissions::from_mode(0o600)).unwrap();
    }
}

#[cfg(unix)]
#[test]
fn a_folder_others_can_write_to_is_refused_even_behind_a_symlink() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    let keys_dir = tmp.path().join("keys");
    generate_session_key(&real).unwrap();
    std::os::unix::fs::symlink(&real, &keys_dir).unwrap();
    let keys = SessionKeys::load(&keys_dir).unwrap();
    // The folder replaced by a symlink to a world-writable place (like /tmp).
    let open = tmp.path().join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o1777)).unwrap();
    fs::write(
        open.join("session-planted.key"),
        format!("{}\n", "cd".repeat(32)),
    )
    .unwrap();
    fs::remove_file(&keys_dir).unwrap();
    std::os::unix::fs::symlink(&open, &keys_dir).unwrap();
    assert!(matches!(
        SessionKeys::load(&keys_dir),
        Err(KeyError::UnsafeFolder(_))
    ));
    assert!(matches!(
        SessionKeys::load_or_generate(&keys_dir),
        Err(KeyError::UnsafeFolder(_))
    ));
    assert!(matches!(keys.reload(), Err(KeyError::UnsafeFolder(_))));
    assert!(
        keys.get("planted").is_none(),
        "a planted key is never loaded"
    );
    assert_eq!(keys.reload_failures(), 1);
    // Group-writable is refused too.
    fs::set_permissions(&open, fs::Permissions::from_mode(0o770)).unwrap();
    assert!(SessionKeys::load(&keys_dir).is_err());
}

#[test]
fn a_bad_file_keeps_the_loaded_keys() {
    let dir = tempfile::tempdir().unwrap();
    let id = generate_session_key(dir.path()).unwrap();
    let keys = SessionKeys::load(dir.path()).unwrap();
    fs::write(dir.path().join("session-zz.key"), "not hex").unwrap();
    keys.reload().unwrap();
    assert!(keys.get(&id).is_some() && keys.get("zz").is_none());
    fs::write(
        dir.path().join("session-zz.key"),
        format!("{}\nactivates_at=x\n", "ab".repeat(32)),
    )
    .unwrap();
    keys.reload().unwrap();
    assert!(keys.get("zz").is_none());
    assert_eq!(keys.reload_failures(), 2);
    let zz = dir.path().join("session-zz.key");
    fs::write(&zz, format!("{}\nactivates_at=5\n", "ab".repeat(32))).unwrap();
    // A good key others can read is not loaded either.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&zz, fs::Permissions::from_mode(0o644)).unwrap();
        keys.reload().unwrap();
        assert!(keys.get("zz").is_none());
        assert!(matches!(
            SessionKeys::load(dir.path()),
            Err(KeyError::UnsafeKeyFile(p)) if p == zz
        ));
        fs::set_permissions(&zz, fs::Permissions::from_mode(0o600)).unwrap();
    }
    assert!(keys.reload().unwrap());
    assert_eq!(keys.get("zz").unwrap().activates_at, 5);
    assert!(
        fs::read_dir(dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp")),
        "no temporary file is left behind"
    );
}

#[test]
fn debug_never_prints_material() {
    let keys = SessionKeys::from_material(&[("a", [7; 32])]);
    let text = format!("{keys:?}");
    assert!(text.contains("redacted"));
    assert!(!text.contains("07070707"));
}

#[test]
fn dev_issuer_key_round_trips_and_publishes_a_jwk() {
    let dir = tempfile::tempdir().unwrap();
    let a = DevIssuerKey::load_or_generate(dir.path()).unwrap();
    let b = DevIssuerKey::load_or_generate(dir.path()).unwrap();
    assert_eq!(a.key_id, b.key_id);
    let jwks = a.jwks();
    assert_eq!(jwks["keys"][0]["kid"], a.key_id.as_str());
    assert_eq!(jwks["keys"][0]["crv"], "P-256");
    assert!(!format!("{a:?}").contains("pkcs8"));
}
