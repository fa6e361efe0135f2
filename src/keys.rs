//! The broker's own key material, kept as files in the `[keys] dir` folder (never committed):
//!
//! - `session-<KID>.key`: 32 random bytes, hex; authenticates session tokens and derives each
//!   session's secret access key. The key with the greatest id signs; every key verifies.
//! - `dev-issuer-es256.p8`: the dev issuer's ECDSA P-256 key (PKCS#8 DER), only used when the
//!   configuration enables the dev issuer.
//!
//! Missing keys are generated on first start. Files are written with mode 0600.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use zeroize::Zeroizing;

/// Length of a session key.
pub const SESSION_KEY_BYTES: usize = 32;

const SESSION_PREFIX: &str = "session-";
const SESSION_SUFFIX: &str = ".key";
const DEV_ISSUER_FILE: &str = "dev-issuer-es256.p8";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key folder {dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("key file {0}: not {SESSION_KEY_BYTES} bytes of hex")]
    BadSessionKey(PathBuf),
    #[error("key file {0}: not an ECDSA P-256 PKCS#8 key")]
    BadDevKey(PathBuf),
    #[error("no session key in {0}")]
    NoSessionKey(PathBuf),
    #[error("the system random generator failed")]
    Random,
}

/// One session key.
pub struct SessionKey {
    pub id: String,
    pub(crate) hmac: ring::hmac::Key,
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKey")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Every session key, newest last.
#[derive(Debug, Clone)]
pub struct SessionKeys {
    keys: Arc<Vec<SessionKey>>,
}

impl SessionKeys {
    /// Keys from raw material, for tests and benchmarks: `(id, 32 bytes)`.
    pub fn from_material(keys: &[(&str, [u8; SESSION_KEY_BYTES])]) -> SessionKeys {
        let mut keys: Vec<SessionKey> = keys
            .iter()
            .map(|(id, bytes)| SessionKey {
                id: (*id).to_owned(),
                hmac: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes),
            })
            .collect();
        keys.sort_by(|a, b| a.id.cmp(&b.id));
        SessionKeys {
            keys: Arc::new(keys),
        }
    }

    /// Loads every session key in `dir`, generating one first if there is none.
    pub fn load_or_generate(dir: &Path) -> Result<SessionKeys, KeyError> {
        if list_session_keys(dir)?.is_empty() {
            generate_session_key(dir)?;
        }
        SessionKeys::load(dir)
    }

    /// Loads every session key in `dir`.
    pub fn load(dir: &Path) -> Result<SessionKeys, KeyError> {
        let mut keys = Vec::new();
        for (id, path) in list_session_keys(dir)? {
            let text = Zeroizing::new(fs::read_to_string(&path).map_err(|e| io(dir, e))?);
            let bytes = Zeroizing::new(
                decode_hex(text.trim()).ok_or_else(|| KeyError::BadSessionKey(path.clone()))?,
            );
            if bytes.len() != SESSION_KEY_BYTES {
                return Err(KeyError::BadSessionKey(path));
            }
            keys.push(SessionKey {
                id,
                hmac: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes),
            });
        }
        if keys.is_empty() {
            return Err(KeyError::NoSessionKey(dir.to_path_buf()));
        }
        keys.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(SessionKeys {
            keys: Arc::new(keys),
        })
    }

    /// The key new sessions are signed with.
    pub fn signing(&self) -> Option<&SessionKey> {
        self.keys.last()
    }

    pub fn get(&self, id: &str) -> Option<&SessionKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }
}

fn io(dir: &Path, source: std::io::Error) -> KeyError {
    KeyError::Io {
        dir: dir.to_path_buf(),
        source,
    }
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

/// Writes a new session key to `dir`; returns its id. Ids sort by creation time.
pub fn generate_session_key(dir: &Path) -> Result<String, KeyError> {
    let rng = SystemRandom::new();
    let mut bytes = Zeroizing::new([0u8; SESSION_KEY_BYTES]);
    rng.fill(bytes.as_mut()).map_err(|_| KeyError::Random)?;
    let mut suffix = [0u8; 3];
    rng.fill(&mut suffix).map_err(|_| KeyError::Random)?;
    let now = time::OffsetDateTime::now_utc();
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
    let hex = Zeroizing::new(encode_hex(bytes.as_ref()));
    write_secret(
        dir,
        &format!("{SESSION_PREFIX}{id}{SESSION_SUFFIX}"),
        hex.as_bytes(),
    )?;
    Ok(id)
}

/// Creates `dir` if needed (owner-only) and writes `name` in it, readable by the owner only,
/// refusing to replace an existing file.
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
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(|e| io(dir, e))?;
    file.write_all(contents).map_err(|e| io(dir, e))?;
    file.sync_all().map_err(|e| io(dir, e))?;
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
        let first = keys.signing().unwrap().id.clone();
        let again = SessionKeys::load_or_generate(dir.as_path()).unwrap();
        assert_eq!(again.ids().collect::<Vec<_>>(), vec![first.as_str()]);
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
    fn newest_key_signs() {
        let keys = SessionKeys::from_material(&[("b", [2; 32]), ("a", [1; 32])]);
        assert_eq!(keys.signing().unwrap().id, "b");
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
