//! The key folder on disk: reading key files, checking the folder, and writing a secret file
//! whole (temporary file, synced, linked into place, folder synced).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use zeroize::Zeroizing;

use super::{
    ACTIVATES_AT, KeyError, MAX_KEY_FILE_BYTES, SESSION_KEY_BYTES, SESSION_PREFIX, SESSION_SUFFIX,
    SessionKey, is_key_id,
};

/// A folder's state, cheap to compare: names, sizes and modification times of its key files.
/// Per key file: id, size, modification time and permission bits (a `chmod` is a change).
pub(super) type Fingerprint = Vec<(String, u64, Option<SystemTime>, u32)>;

pub(super) fn io(dir: &Path, source: std::io::Error) -> KeyError {
    KeyError::Io {
        dir: dir.to_path_buf(),
        source,
    }
}

/// Every good key file of `dir` (sorted), and the faults of the others.
pub(super) fn read_set(dir: &Path) -> (Vec<Arc<SessionKey>>, Vec<KeyError>) {
    let mut set = Vec::new();
    let mut faults = Vec::new();
    let files = match list_session_keys(dir) {
        Ok(files) => files,
        Err(e) => return (set, vec![e]),
    };
    for (id, path) in files {
        match read_key_file(&path) {
            Ok((bytes, activates_at)) => {
                set.push(Arc::new(SessionKey::new(id, &bytes, activates_at)))
            }
            Err(e) => faults.push(e),
        }
    }
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
pub(super) fn fault_key_id(fault: &KeyError) -> Option<&str> {
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
pub(super) fn check_folder(dir: &Path) -> Result<(), KeyError> {
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
    let bytes = Zeroizing::new(hex::decode(lines.next()?).ok()?);
    if bytes.len() != SESSION_KEY_BYTES {
        return None;
    }
    let mut activates_at = 0;
    for line in lines {
        activates_at = line.strip_prefix(ACTIVATES_AT)?.parse().ok()?;
    }
    Some((bytes, activates_at))
}

pub(super) fn fingerprint(dir: &Path) -> Result<Fingerprint, KeyError> {
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
pub(super) fn mode(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    meta.permissions().mode()
}

#[cfg(not(unix))]
pub(super) fn mode(_: &fs::Metadata) -> u32 {
    0
}

pub(super) fn list_session_keys(dir: &Path) -> Result<Vec<(String, PathBuf)>, KeyError> {
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
/// Creates `dir` if needed (owner-only) and writes `name` in it, readable by the owner only,
/// refusing to replace an existing file. The file appears whole: it is written under a
/// temporary name (which no reader lists) and linked into place.
pub(super) fn write_secret(dir: &Path, name: &str, contents: &[u8]) -> Result<PathBuf, KeyError> {
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
