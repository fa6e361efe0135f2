//! The broker's own key material, kept as files in the `[keys] dir` folder (never committed):
//! `session-<KID>.key` (32 random bytes, hex, optionally a line `activates_at=<unix seconds>`)
//! authenticates session tokens; `dev-issuer-es256.p8` (PKCS#8 DER) is the dev issuer's P-256
//! key. Replicas share the folder and reload it ([`SessionKeys::watch`], [`SessionKeys::find`]);
//! a faulty file or unsafe folder stops the start, and on reload is skipped, logged and counted
//! (rotation and folder rules: docs/operations.md, "Key rotation").

mod dev_issuer;
mod file;
mod live;
mod rotation;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

pub use crate::session::keyring::{KeyRing, SESSION_KEY_BYTES, SessionKey, is_key_id};
pub use dev_issuer::DevIssuerKey;
pub use live::{KeyInfo, SessionKeys};
pub use rotation::{generate_session_key, retire_session_key, rotate_session_key};

/// Least time between two reloads caused by tokens naming unknown keys.
pub const MISS_RELOAD_INTERVAL: Duration = Duration::from_secs(1);
/// Grace period of `keys rotate` unless told otherwise.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(300);
/// Largest key file read (a key file is about 90 bytes).
pub const MAX_KEY_FILE_BYTES: u64 = 4096;

pub(crate) const SESSION_PREFIX: &str = "session-";
pub(crate) const SESSION_SUFFIX: &str = ".key";
pub(crate) const ACTIVATES_AT: &str = "activates_at=";
pub(crate) const DEV_ISSUER_FILE: &str = "dev-issuer-es256.p8";

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
