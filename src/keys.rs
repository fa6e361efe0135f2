//! The broker's own key material, kept as files in the `[keys] dir` folder (never committed):
//!
//! - `session-<KID>.key`: 32 random bytes, hex, optionally followed by a line
//!   `activates_at=<unix seconds>`; authenticates session tokens and derives each session's
//!   secret access key. Every key verifies at once; of the keys whose activation time has
//!   passed, the one activated last signs (ties: the greatest id; files without the line
//!   count as activated at 0). `keys rotate` writes a key that signs only after a grace
//!   period, so every replica can verify its tokens before the first one is issued; `keys
//!   retire` removes a key, ending exactly the sessions it signed.
//! - `dev-issuer-es256.p8`: the dev issuer's ECDSA P-256 key (PKCS#8 DER), only used when the
//!   configuration enables the dev issuer.
//!
//! Replicas share the folder: [`SessionKeys::watch`] reloads it when its files change (names,
//! sizes, modification times, polled every second), and a token naming an unknown key triggers
//! a reload at most once a second ([`SessionKeys::find`]: single-flight, on tokio's blocking
//! pool; a request never reads the folder on a runtime worker). Missing keys are generated on
//! first start. Files are written with mode 0600, whole: a temporary file, synced, linked into
//! place (no replacing), and the folder synced.
//!
//! Faults: a folder writable by group or others (also through a symlink), a key file that is
//! not a regular file, unreadable, larger than [`MAX_KEY_FILE_BYTES`] or not a key (a
//! half-written one) stops the start with an error naming it; on reload the same file is
//! skipped with an error log and counted ([`SessionKeys::reload_failures`]), the keys already
//! loaded (that key's old material included) staying in use, and an unsafe folder is not read.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// Length of a session key.
pub const SESSION_KEY_BYTES: usize = 32;
/// Least time between two reloads caused by tokens naming unknown keys.
pub const MISS_RELOAD_INTERVAL: Duration = Duration::from_secs(1);
/// Grace period of `keys rotate` unless told otherwise.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(300);
/// Largest key file read (a key file is about 90 bytes).
pub const MAX_KEY_FILE_BYTES: u64 = 4096;

const SESSION_PREFIX: &str = "session-";
const SESSION_SUFFIX: &str = ".key";
const ACTIVATES_AT: &str = "activates_at=";
const DEV_ISSUER_FILE: &str = "dev-issuer-es256.p8";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key folder {dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("key file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("key file {0}: not a regular file of at most {MAX_KEY_FILE_BYTES} bytes")]
    NotAKeyFile(PathBuf),
    #[error(
        "key folder {0} (or what its symlink points to) is writable by group or others: anyone able to write there could add a session key; make it owner-only (chmod 700)"
    )]
    UnsafeFolder(PathBuf),
    #[error(
        "key file {0} can be read or written by group or others: whoever reads it can forge sessions; make it owner-only (chmod 600)"
    )]
    UnsafeKeyFile(PathBuf),
    #[error("key folder {0} is not a directory")]
    NotAFolder(PathBuf),
    #[error(
        "key file {0}: not {SESSION_KEY_BYTES} bytes of hex (and an optional activates_at= line)"
    )]
    BadSessionKey(PathBuf),
    #[error("key file {0}: not an ECDSA P-256 PKCS#8 key")]
    BadDevKey(PathBuf),
    #[error("no session key in {0}")]
    NoSessionKey(PathBuf),
    #[error("the system random generator failed")]
    Random,
    #[error("no session key {0:?} in the folder")]
    UnknownKey(String),
    #[error("{0} is the only session key; add one (keys rotate) before retiring it")]
    OnlyKey(String),
    #[error(
        "{0} signs new sessions now; retiring it leaves none until the next key activates (use --force to do it anyway)"
    )]
    CurrentSigner(String),
}

/// One session key.
pub struct SessionKey {
    pub id: String,
    pub(crate) hmac: ring::hmac::Key,
    /// Unix seconds from which it signs (0: always). It verifies from the start.
    pub activates_at: i64,
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKey")
            .field("id", &self.id)
            .field("activates_at", &self.activates_at)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// What `keys list` shows of a key: never its material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: String,
    pub activates_at: i64,
    /// Whether it signs new sessions at the time asked about.
    pub signs: bool,
}

/// Keys sorted by activation time, then id: the signer is the last active one.
type KeySet = Vec<Arc<SessionKey>>;

/// A folder's state, cheap to compare: names, sizes and modification times of its key files.
/// Per key file: id, size, modification time and permission bits (a `chmod` is a change).
type Fingerprint = Vec<(String, u64, Option<SystemTime>, u32)>;

struct Shared {
    set: ArcSwap<KeySet>,
    /// The folder reloaded from; `None` for keys given as material.
    dir: Option<PathBuf>,
    fingerprint: Mutex<Fingerprint>,
    /// When a token naming an unknown key last caused a reload; held while it runs, so
    /// concurrent misses wait for that one reload instead of starting their own.
    last_miss_reload: tokio::sync::Mutex<Option<Instant>>,
    /// Reloads that skipped a file or the whole folder because of a fault.
    reload_failures: AtomicU64,
}

/// Every session key, reloadable; cheap to clone (all clones see reloads).
#[derive(Clone)]
pub struct SessionKeys {
    shared: Arc<Shared>,
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeys")
            .field("keys", &**self.shared.set.load())
            .field("dir", &self.shared.dir)
            .finish()
    }
}

impl SessionKeys {
    fn new(set: KeySet, dir: Option<PathBuf>, fingerprint: Fingerprint) -> SessionKeys {
        SessionKeys {
            shared: Arc::new(Shared {
                set: ArcSwap::from_pointee(set),
                dir,
                fingerprint: Mutex::new(fingerprint),
                last_miss_reload: tokio::sync::Mutex::new(None),
                reload_failures: AtomicU64::new(0),
            }),
        }
    }

    /// Keys from raw material, for tests and benchmarks: `(id, 32 bytes)`, all active.
    pub fn from_material(keys: &[(&str, [u8; SESSION_KEY_BYTES])]) -> SessionKeys {
        let mut set: KeySet = keys
            .iter()
            .map(|(id, bytes)| {
                Arc::new(SessionKey {
                    id: (*id).to_owned(),
                    hmac: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes),
                    activates_at: 0,
                })
            })
            .collect();
        sort(&mut set);
        SessionKeys::new(set, None, Vec::new())
    }

    /// Loads every session key in `dir`, generating one first if there is none.
    pub fn load_or_generate(dir: &Path) -> Result<SessionKeys, KeyError> {
        check_folder(dir)?;
        if list_session_keys(dir)?.is_empty() {
            generate_session_key(dir)?;
        }
        SessionKeys::load(dir)
    }

    /// Loads every session key in `dir`; any fault (unsafe folder, bad or unreadable file) is
    /// an error naming it.
    pub fn load(dir: &Path) -> Result<SessionKeys, KeyError> {
        check_folder(dir)?;
        let fingerprint = fingerprint(dir)?;
        let (set, mut faults) = read_set(dir);
        if !faults.is_empty() {
            return Err(faults.swap_remove(0));
        }
        if set.is_empty() {
            return Err(KeyError::NoSessionKey(dir.to_path_buf()));
        }
        Ok(SessionKeys::new(set, Some(dir.to_path_buf()), fingerprint))
    }

    /// The key new sessions are signed with at `now`: the newest whose activation has passed.
    pub fn signing(&self, now: OffsetDateTime) -> Option<Arc<SessionKey>> {
        signer(&self.shared.set.load(), now.unix_timestamp()).cloned()
    }

    /// The loaded key with this id. Never reads the folder: see [`SessionKeys::find`].
    pub fn get(&self, id: &str) -> Option<Arc<SessionKey>> {
        self.shared.set.load().iter().find(|k| k.id == id).cloned()
    }

    /// The key with this id, reloading the folder first when it is not loaded (a key another
    /// replica just added): at most once per [`MISS_RELOAD_INTERVAL`], one reload at a time
    /// (concurrent misses wait for it), run on tokio's blocking pool.
    pub async fn find(&self, id: &str) -> Option<Arc<SessionKey>> {
        if let Some(key) = self.get(id) {
            return Some(key);
        }
        if self.shared.dir.is_none() || !is_key_id(id) {
            return None;
        }
        let mut last = self.shared.last_miss_reload.lock().await;
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < MISS_RELOAD_INTERVAL) {
            // A reload just ran (perhaps the one this call waited for).
            return self.get(id);
        }
        *last = Some(now);
        let keys = self.clone();
        match tokio::task::spawn_blocking(move || keys.reload()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "reloading session keys failed; keeping the loaded ones")
            }
            Err(e) => tracing::error!(error = %e, "reloading session keys did not finish"),
        }
        drop(last);
        self.get(id)
    }

    /// Reloads that skipped a faulty file or an unsafe folder since these keys were loaded.
    pub fn reload_failures(&self) -> u64 {
        self.shared.reload_failures.load(Ordering::Relaxed)
    }

    pub fn ids(&self) -> impl Iterator<Item = String> + use<> {
        self.shared
            .set
            .load()
            .iter()
            .map(|k| k.id.clone())
            .collect::<Vec<_>>()
            .into_iter()
    }

    /// Every key with its activation and whether it signs at `now`.
    pub fn info(&self, now: OffsetDateTime) -> Vec<KeyInfo> {
        let set = self.shared.set.load();
        let signing = signer(&set, now.unix_timestamp()).map(|k| k.id.clone());
        set.iter()
            .map(|k| KeyInfo {
                id: k.id.clone(),
                activates_at: k.activates_at,
                signs: signing.as_deref() == Some(k.id.as_str()),
            })
            .collect()
    }

    /// Reads the folder again if its files changed; whether the keys changed. Blocking file
    /// I/O: call it off the async runtime's workers. A faulty file is skipped (an error log,
    /// counted) and the key of that id already loaded, if any, stays; an unsafe or unreadable
    /// folder, or one left without any key, is an error and the loaded keys stay.
    pub fn reload(&self) -> Result<bool, KeyError> {
        let Some(dir) = &self.shared.dir else {
            return Ok(false);
        };
        let failed = |e: KeyError| {
            self.shared.reload_failures.fetch_add(1, Ordering::Relaxed);
            e
        };
        check_folder(dir).map_err(failed)?;
        let now = fingerprint(dir).map_err(failed)?;
        let mut seen = self
            .shared
            .fingerprint
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if *seen == now {
            return Ok(false);
        }
        let (mut set, faults) = read_set(dir);
        if !faults.is_empty() {
            self.shared.reload_failures.fetch_add(1, Ordering::Relaxed);
            let old = self.shared.set.load();
            for fault in &faults {
                tracing::error!(error = %fault, "session key file skipped; fix or remove it");
                // A key loaded before whose file turned bad keeps its old material.
                if let Some(id) = fault_key_id(fault)
                    && !set.iter().any(|k| k.id == id)
                    && let Some(kept) = old.iter().find(|k| k.id == id)
                {
                    set.push(Arc::clone(kept));
                }
            }
            sort(&mut set);
        }
        if set.is_empty() {
            return Err(failed(KeyError::NoSessionKey(dir.clone())));
        }
        let ids: Vec<&str> = set.iter().map(|k| k.id.as_str()).collect();
        tracing::info!(keys = ?ids, "session keys reloaded");
        self.shared.set.store(Arc::new(set));
        *seen = now;
        Ok(true)
    }

    /// Polls the folder every `every` and reloads it when it changes, until every clone of
    /// these keys is dropped. Needs a tokio runtime; does nothing for keys given as material.
    pub fn watch(&self, every: Duration) {
        if self.shared.dir.is_none() {
            return;
        }
        let weak: Weak<Shared> = Arc::downgrade(&self.shared);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(shared) = weak.upgrade() else {
                    return;
                };
                let keys = SessionKeys { shared };
                // File I/O belongs on the blocking pool, not on a runtime worker.
                match tokio::task::spawn_blocking(move || keys.reload()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "reloading session keys failed; keeping the loaded ones")
                    }
                    Err(e) => tracing::error!(error = %e, "reloading session keys did not finish"),
                }
            }
        });
    }
}

fn sort(set: &mut KeySet) {
    set.sort_by(|a, b| (a.activates_at, &a.id).cmp(&(b.activates_at, &b.id)));
}

fn signer(set: &KeySet, now: i64) -> Option<&Arc<SessionKey>> {
    set.iter().rev().find(|k| k.activates_at <= now)
}

fn io(dir: &Path, source: std::io::Error) -> KeyError {
    KeyError::Io {
        dir: dir.to_path_buf(),
        source,
    }
}

/// Every good key file of `dir` (sorted), and the faults of the others.
fn read_set(dir: &Path) -> (KeySet, Vec<KeyError>) {
    let mut set = Vec::new();
    let mut faults = Vec::new();
    let files = match list_session_keys(dir) {
        Ok(files) => files,
        Err(e) => return (set, vec![e]),
    };
    for (id, path) in files {
        match read_key_file(&path) {
            Ok((bytes, activates_at)) => set.push(Arc::new(SessionKey {
                id,
                hmac: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes),
                activates_at,
            })),
            Err(e) => faults.push(e),
        }
    }
    sort(&mut set);
    (set, faults)
}

/// One key file: a regular file (symlinks followed) of bounded size holding a key.
fn read_key_file(path: &Path) -> Result<(Zeroizing<Vec<u8>>, i64), KeyError> {
    let unreadable = |source| KeyError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let meta = fs::metadata(path).map_err(unreadable)?;
    if !meta.is_file() || meta.len() > MAX_KEY_FILE_BYTES {
        return Err(KeyError::NotAKeyFile(path.to_path_buf()));
    }
    let text = Zeroizing::new(fs::read_to_string(path).map_err(unreadable)?);
    let key = parse_key_file(&text).ok_or_else(|| KeyError::BadSessionKey(path.to_path_buf()))?;
    if mode(&meta) & 0o077 != 0 {
        return Err(KeyError::UnsafeKeyFile(path.to_path_buf()));
    }
    Ok(key)
}

/// The key id a file fault is about, from the file's name.
fn fault_key_id(fault: &KeyError) -> Option<&str> {
    let path = match fault {
        KeyError::Unreadable { path, .. }
        | KeyError::NotAKeyFile(path)
        | KeyError::UnsafeKeyFile(path)
        | KeyError::BadSessionKey(path) => path,
        _ => return None,
    };
    path.file_name()?
        .to_str()?
        .strip_prefix(SESSION_PREFIX)?
        .strip_suffix(SESSION_SUFFIX)
}

/// The folder (followed through symlinks) must be a directory that neither group nor others
/// can write to: whoever can add a file there can add a session key.
fn check_folder(dir: &Path) -> Result<(), KeyError> {
    let meta = match fs::metadata(dir) {
        Ok(m) => m,
        // Not there yet: generated with mode 0700 on first start.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(dir, e)),
    };
    if !meta.is_dir() {
        return Err(KeyError::NotAFolder(dir.to_path_buf()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o022 != 0 {
            return Err(KeyError::UnsafeFolder(dir.to_path_buf()));
        }
    }
    Ok(())
}

/// The key bytes and activation time of a key file's text.
fn parse_key_file(text: &str) -> Option<(Zeroizing<Vec<u8>>, i64)> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let bytes = Zeroizing::new(decode_hex(lines.next()?)?);
    if bytes.len() != SESSION_KEY_BYTES {
        return None;
    }
    let mut activates_at = 0;
    for line in lines {
        activates_at = line.strip_prefix(ACTIVATES_AT)?.parse().ok()?;
    }
    Some((bytes, activates_at))
}

fn fingerprint(dir: &Path) -> Result<Fingerprint, KeyError> {
    let mut out = Vec::new();
    for (id, path) in list_session_keys(dir)? {
        // An unreadable entry still counts (as such): its fault is reported by the read.
        match fs::metadata(&path) {
            Ok(meta) => out.push((id, meta.len(), meta.modified().ok(), mode(&meta))),
            Err(_) => out.push((id, u64::MAX, None, 0)),
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(unix)]
fn mode(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    meta.permissions().mode()
}

#[cfg(not(unix))]
fn mode(_: &fs::Metadata) -> u32 {
    0
}

fn list_session_keys(dir: &Path) -> Result<Vec<(String, PathBuf)>, KeyError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(id) = name
            .strip_prefix(SESSION_PREFIX)
            .and_then(|n| n.strip_suffix(SESSION_SUFFIX))
            && is_key_id(id)
        {
            out.push((id.to_owned(), entry.path()));
        }
    }
    Ok(out)
}

/// Key ids are short and safe to put in file names and tokens: `[A-Za-z0-9-]{1,32}`.
pub fn is_key_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Writes a new session key to `dir` that signs at once; returns its id. The first key of an
/// empty folder signs from the start of time (activation 0): it has no key to take over from,
/// so a clock slightly behind the file's creation still finds it.
pub fn generate_session_key(dir: &Path) -> Result<String, KeyError> {
    let now = OffsetDateTime::now_utc();
    let activates_at = if list_session_keys(dir)?.is_empty() {
        0
    } else {
        now.unix_timestamp()
    };
    write_session_key(dir, now, activates_at)
}

/// `keys rotate`: writes a new session key that verifies at once and signs from `now + grace`;
/// its id and activation time (unix seconds).
pub fn rotate_session_key(
    dir: &Path,
    now: OffsetDateTime,
    grace: Duration,
) -> Result<(String, i64), KeyError> {
    let activates_at = now
        .unix_timestamp()
        .saturating_add(i64::try_from(grace.as_secs()).unwrap_or(i64::MAX));
    let id = write_session_key(dir, now, activates_at)?;
    Ok((id, activates_at))
}

/// `keys retire`: removes the key `id`, so the sessions it signed stop working. Refuses to
/// remove the only key, or the key signing at `now` unless `force`.
pub fn retire_session_key(
    dir: &Path,
    id: &str,
    now: OffsetDateTime,
    force: bool,
) -> Result<(), KeyError> {
    let keys = SessionKeys::load(dir)?;
    let info = keys.info(now);
    let Some(key) = info.iter().find(|k| k.id == id) else {
        return Err(KeyError::UnknownKey(id.to_owned()));
    };
    if info.len() == 1 {
        return Err(KeyError::OnlyKey(id.to_owned()));
    }
    if key.signs && !force {
        return Err(KeyError::CurrentSigner(id.to_owned()));
    }
    let path = dir.join(format!("{SESSION_PREFIX}{id}{SESSION_SUFFIX}"));
    fs::remove_file(path).map_err(|e| io(dir, e))
}

fn write_session_key(
    dir: &Path,
    now: OffsetDateTime,
    activates_at: i64,
) -> Result<String, KeyError> {
    let rng = SystemRandom::new();
    let mut bytes = Zeroizing::new([0u8; SESSION_KEY_BYTES]);
    rng.fill(bytes.as_mut()).map_err(|_| KeyError::Random)?;
    let mut suffix = [0u8; 3];
    rng.fill(&mut suffix).map_err(|_| KeyError::Random)?;
    let id = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}-{}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        encode_hex(&suffix)
    );
    let mut text = Zeroizing::new(encode_hex(bytes.as_ref()));
    text.push('\n');
    text.push_str(ACTIVATES_AT);
    text.push_str(&activates_at.to_string());
    text.push('\n');
    write_secret(
        dir,
        &format!("{SESSION_PREFIX}{id}{SESSION_SUFFIX}"),
        text.as_bytes(),
    )?;
    Ok(id)
}

/// Creates `dir` if needed (owner-only) and writes `name` in it, readable by the owner only,
/// refusing to replace an existing file. The file appears whole: it is written under a
/// temporary name (which no reader lists) and linked into place.
fn write_secret(dir: &Path, name: &str, contents: &[u8]) -> Result<PathBuf, KeyError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| io(dir, e))?;
    let path = dir.join(name);
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let written = options.open(&temporary).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()?;
        // A hard link fails when the name exists, so nothing is replaced.
        fs::hard_link(&temporary, &path)
    });
    let removed = fs::remove_file(&temporary);
    written.map_err(|e| io(dir, e))?;
    removed.map_err(|e| io(dir, e))?;
    // The new name itself survives a crash only once the folder is synced.
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, e))?;
    Ok(path)
}

/// The dev issuer's signing key.
pub struct DevIssuerKey {
    pkcs8: Zeroizing<Vec<u8>>,
    /// Uncompressed public point `04 || x || y`.
    public: Vec<u8>,
    pub key_id: String,
}

impl fmt::Debug for DevIssuerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevIssuerKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl DevIssuerKey {
    /// Loads the dev issuer key from `dir`, generating it when missing.
    pub fn load_or_generate(dir: &Path) -> Result<DevIssuerKey, KeyError> {
        let path = dir.join(DEV_ISSUER_FILE);
        if !path.exists() {
            let rng = SystemRandom::new();
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| KeyError::Random)?;
            write_secret(dir, DEV_ISSUER_FILE, doc.as_ref())?;
        }
        let pkcs8 = Zeroizing::new(fs::read(&path).map_err(|e| io(dir, e))?);
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|_| KeyError::BadDevKey(path.clone()))?;
        let public = pair.public_key().as_ref().to_vec();
        let digest = ring::digest::digest(&ring::digest::SHA256, &public);
        let key_id = format!("dev-{}", &encode_hex(digest.as_ref())[..16]);
        Ok(DevIssuerKey {
            pkcs8,
            public,
            key_id,
        })
    }

    /// PKCS#8 DER of the private key, for signing dev tokens.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key as a JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (x, y) = self.public[1..].split_at(32);
        serde_json::json!({
            "keys": [{
                "kty": "EC",
                "crv": "P-256",
                "use": "sig",
                "alg": "ES256",
                "kid": self.key_id,
                "x": b64.encode(x),
                "y": b64.encode(y),
            }]
        })
    }
}

pub(crate) fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let (new, activates_at) =
            rotate_session_key(dir.path(), now, Duration::from_secs(60)).unwrap();
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

    #[test]
    fn hex_round_trip() {
        assert_eq!(
            decode_hex(&encode_hex(&[0, 1, 254, 255])).unwrap(),
            vec![0, 1, 254, 255]
        );
        assert!(decode_hex("0g").is_none());
        assert!(decode_hex("abc").is_none());
    }
}
