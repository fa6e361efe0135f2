//! The session keys as one immutable snapshot: which key signs at a time, and lookup by id.
//! Pure: built from key material by [`crate::keys`], which reloads the folder and swaps
//! snapshots; token and record code works on a snapshot and so never reads a file.

use std::fmt;
use std::sync::Arc;

use time::OffsetDateTime;

/// Length of a session key.
pub const SESSION_KEY_BYTES: usize = 32;

/// One session key.
pub struct SessionKey {
    pub id: String,
    pub(crate) hmac: ring::hmac::Key,
    /// Seals stored secrets ([`super::sealed`]): an AES-256-GCM key derived from the material
    /// with its own label, so that it is never the token or record key.
    pub(crate) sealing: zeroize::Zeroizing<[u8; 32]>,
    /// Authenticates stored session records ([`super::record`]): derived from the material
    /// with its own label once, when the key is loaded.
    pub(crate) record: ring::hmac::Key,
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

impl SessionKey {
    /// A key from its material, verifying at once and signing from `activates_at`.
    pub fn new(id: String, material: &[u8], activates_at: i64) -> SessionKey {
        let hmac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, material);
        let mut sealing = zeroize::Zeroizing::new([0; 32]);
        sealing.copy_from_slice(ring::hmac::sign(&hmac, super::sealed::KEY_LABEL).as_ref());
        let record = super::record::record_key(&hmac);
        SessionKey {
            id,
            hmac,
            sealing,
            record,
            activates_at,
        }
    }
}

/// Keys sorted by activation time, then id: the signer is the last active one.
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: Vec<Arc<SessionKey>>,
}

impl KeyRing {
    pub fn new(mut keys: Vec<Arc<SessionKey>>) -> KeyRing {
        keys.sort_by(|a, b| (a.activates_at, &a.id).cmp(&(b.activates_at, &b.id)));
        KeyRing { keys }
    }

    /// Keys from raw material, for tests and benchmarks: `(id, 32 bytes)`, all active.
    pub fn from_material(keys: &[(&str, [u8; SESSION_KEY_BYTES])]) -> KeyRing {
        KeyRing::new(
            keys.iter()
                .map(|(id, bytes)| Arc::new(SessionKey::new((*id).to_owned(), bytes, 0)))
                .collect(),
        )
    }

    /// The key new sessions are signed with at `now`: the newest whose activation has passed
    /// (ties: the greatest id; files without `activates_at=` count as activated at 0).
    pub fn signing(&self, now: OffsetDateTime) -> Option<&Arc<SessionKey>> {
        let now = now.unix_timestamp();
        self.keys.iter().rev().find(|k| k.activates_at <= now)
    }

    /// The key with this id.
    pub fn get(&self, id: &str) -> Option<&Arc<SessionKey>> {
        self.keys.iter().find(|k| k.id == id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<SessionKey>> {
        self.keys.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Key ids are short and safe to put in file names and tokens: `[A-Za-z0-9-]{1,32}`.
pub fn is_key_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}
