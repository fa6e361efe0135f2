//! The live key set: a snapshot swapped on reload, reloaded when the folder changes or a token
//! names a key not loaded yet.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use time::OffsetDateTime;

use super::file::{
    Fingerprint, check_folder, fault_key_id, fingerprint, list_session_keys, read_set,
};
use super::rotation::generate_session_key;
use super::{KeyError, KeyRing, MISS_RELOAD_INTERVAL, SESSION_KEY_BYTES, SessionKey, is_key_id};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: String,
    pub activates_at: i64,
    /// Whether it signs new sessions at the time asked about.
    pub signs: bool,
}

pub(super) struct Shared {
    set: ArcSwap<KeyRing>,
    /// The folder reloaded from; `None` for keys given as material.
    dir: Option<PathBuf>,
    fingerprint: Mutex<Fingerprint>,
    /// When a token naming an unknown key last caused a reload; held while it runs, so
    /// concurrent misses wait for that one reload instead of starting their own.
    pub(super) last_miss_reload: tokio::sync::Mutex<Option<Instant>>,
    /// Reloads that skipped a file or the whole folder because of a fault.
    reload_failures: AtomicU64,
}

/// Every session key, reloadable; cheap to clone (all clones see reloads).
#[derive(Clone)]
pub struct SessionKeys {
    pub(super) shared: Arc<Shared>,
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
    fn new(set: KeyRing, dir: Option<PathBuf>, fingerprint: Fingerprint) -> SessionKeys {
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
        SessionKeys::new(KeyRing::from_material(keys), None, Vec::new())
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
        Ok(SessionKeys::new(
            KeyRing::new(set),
            Some(dir.to_path_buf()),
            fingerprint,
        ))
    }

    /// The key new sessions are signed with at `now`: the newest whose activation has passed.
    pub fn signing(&self, now: OffsetDateTime) -> Option<Arc<SessionKey>> {
        self.shared.set.load().signing(now).cloned()
    }

    /// The keys loaded now, as one snapshot that later reloads do not change.
    pub fn snapshot(&self) -> Arc<KeyRing> {
        self.shared.set.load_full()
    }

    /// The keys loaded now, for synchronous use: cheaper than [`SessionKeys::snapshot`] (no
    /// reference count taken), so not to be held across an `await`.
    pub fn ring(&self) -> arc_swap::Guard<Arc<KeyRing>> {
        self.shared.set.load()
    }

    /// The loaded key with this id. Never reads the folder: see [`SessionKeys::find`].
    pub fn get(&self, id: &str) -> Option<Arc<SessionKey>> {
        self.shared.set.load().get(id).cloned()
    }

    /// The key with this id, reloading the folder first when it is not loaded (a key another
    /// replica just added): at most once per [`MISS_RELOAD_INTERVAL`], one reload at a time
    /// (concurrent misses wait for it), run on tokio's blocking pool: a request never reads the
    /// folder on a runtime worker.
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
        let signing = set.signing(now).map(|k| k.id.clone());
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
                    && let Some(kept) = old.get(id)
                {
                    set.push(Arc::clone(kept));
                }
            }
        }
        if set.is_empty() {
            return Err(failed(KeyError::NoSessionKey(dir.clone())));
        }
        let ids: Vec<&str> = set.iter().map(|k| k.id.as_str()).collect();
        tracing::info!(keys = ?ids, "session keys reloaded");
        self.shared.set.store(Arc::new(KeyRing::new(set)));
        *seen = now;
        Ok(true)
    }

    /// Polls the folder every `every` and reloads it when it changes (names, sizes, modification
    /// times), until every clone of these keys is dropped. Needs a tokio runtime; does nothing
    /// for keys given as material.
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
