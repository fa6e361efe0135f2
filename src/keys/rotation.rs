//! Adding and removing session keys: `keys generate`, `keys rotate`, `keys retire`.

use std::fs;
use std::path::Path;
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::file::{io, list_session_keys, write_secret};
use super::{
    ACTIVATES_AT, KeyError, SESSION_KEY_BYTES, SESSION_PREFIX, SESSION_SUFFIX, SessionKeys,
};

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
        hex::encode(suffix)
    );
    let mut text = Zeroizing::new(hex::encode(bytes.as_ref()));
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
