//! Session records as the store keeps them: the record's JSON authenticated as a whole with
//! HMAC-SHA256, under a key derived (its own label) from the broker session key that signed the
//! session's token, bound to the session's access key id and that key's id.
//!
//! `sr1:<key id>:<base64url tag>:<JSON>`. Whoever can write to the store cannot turn a session
//! into another role, give it MFA or change any other field, present or added later: every
//! byte of the JSON is covered. A record that does not verify is refused, never repaired.
//! Pure: no I/O, no clock.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

use super::SessionRecord;
use super::keyring::{KeyRing, SessionKey, is_key_id};

const FORMAT: &str = "sr1";
const LABEL: &[u8] = b"sts-broker/session-record/v1";
const TAG_LEN: usize = 32;

/// Why a stored record was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("the stored session record is not in the authenticated format")]
    Malformed,
    #[error("the stored session record names a session key that is not loaded")]
    UnknownKey,
    #[error("the stored session record does not verify")]
    NotAuthentic,
}

/// The record as stored, authenticated under `key` (the key that signed its token).
pub fn seal(record: &SessionRecord, key: &SessionKey) -> Result<Vec<u8>, serde_json::Error> {
    let json = serde_json::to_vec(record)?;
    // The message `message` spells out, fed in parts rather than copied into one buffer.
    let mut mac = hmac::Context::with_key(&key.record);
    for part in [
        record.access_key_id.as_bytes(),
        &[0],
        key.id.as_bytes(),
        &[0],
        &json,
    ] {
        mac.update(part);
    }
    let tag = mac.sign();
    let mut out = Vec::with_capacity(FORMAT.len() + key.id.len() + 48 + json.len());
    out.extend_from_slice(FORMAT.as_bytes());
    out.push(b':');
    out.extend_from_slice(key.id.as_bytes());
    out.push(b':');
    out.extend_from_slice(URL_SAFE_NO_PAD.encode(tag.as_ref()).as_bytes());
    out.push(b':');
    out.extend_from_slice(&json);
    Ok(out)
}

/// The session key id a stored record names (unverified: for choosing the key only).
pub fn key_id(stored: &[u8]) -> Option<&str> {
    split(stored).map(|(id, _, _)| id)
}

/// The record stored for `access_key_id`, if it verifies (in constant time) under the key it
/// names, and says it is that session's, signed by that key.
pub fn open(
    stored: &[u8],
    access_key_id: &str,
    keys: &KeyRing,
) -> Result<SessionRecord, RecordError> {
    let (id, tag, json) = split(stored).ok_or(RecordError::Malformed)?;
    let key = keys.get(id).ok_or(RecordError::UnknownKey)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| RecordError::Malformed)?;
    if tag.len() != TAG_LEN {
        return Err(RecordError::Malformed);
    }
    hmac::verify(&key.record, &message(access_key_id, id, json), &tag)
        .map_err(|_| RecordError::NotAuthentic)?;
    let mut record: SessionRecord =
        serde_json::from_slice(json).map_err(|_| RecordError::Malformed)?;
    // The JSON leaves both ids out (the tag covers them); a record that names them anyway
    // (written before they were left out, or planted) must name these.
    let named = |field: &str, want: &str| field.is_empty() || field == want;
    if !named(&record.access_key_id, access_key_id) || !named(&record.key_id, id) {
        return Err(RecordError::NotAuthentic);
    }
    access_key_id.clone_into(&mut record.access_key_id);
    id.clone_into(&mut record.key_id);
    Ok(record)
}

/// `(key id, tag text, JSON)` of a stored record.
fn split(stored: &[u8]) -> Option<(&str, &str, &[u8])> {
    let rest = stored.strip_prefix(FORMAT.as_bytes())?.strip_prefix(b":")?;
    let id_end = rest.iter().position(|&b| b == b':')?;
    let (id, rest) = rest.split_at(id_end);
    let rest = rest.get(1..)?;
    let tag_end = rest.iter().position(|&b| b == b':')?;
    let (tag, json) = rest.split_at(tag_end);
    let id = std::str::from_utf8(id).ok()?;
    if !is_key_id(id) {
        return None;
    }
    Some((id, std::str::from_utf8(tag).ok()?, json.get(1..)?))
}

/// The key records are authenticated with, derived from a session key's material with its own
/// label (so it is never the token key).
pub(super) fn record_key(material: &hmac::Key) -> hmac::Key {
    let derived = hmac::sign(material, LABEL);
    hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
}

/// What the tag covers: the access key id, the key id and the JSON (ids hold no NUL byte).
fn message(access_key_id: &str, key_id: &str, json: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(access_key_id.len() + key_id.len() + 2 + json.len());
    m.extend_from_slice(access_key_id.as_bytes());
    m.push(0);
    m.extend_from_slice(key_id.as_bytes());
    m.push(0);
    m.extend_from_slice(json);
    m
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::session::{Lineage, Origin, SessionPrincipal};

    fn record() -> SessionRecord {
        SessionRecord {
            access_key_id: "ASIAAAAAAAAAAAAAAAAA".into(),
            key_id: "a".into(),
            origin: Origin::AssumeRole,
            account: "111122223333".into(),
            principal: SessionPrincipal::Role {
                role_arn: "arn:aws:iam::111122223333:role/app".into(),
                role_id: "AROAEXAMPLE".into(),
                session_name: "s".into(),
                assumed_role_arn: "arn:aws:sts::111122223333:assumed-role/app/s".into(),
            },
            issued_at: 1_800_000_000,
            expires_at: 1_800_003_600,
            provider: None,
            subject: None,
            audience: None,
            source_identity: None,
            context: BTreeMap::new(),
            session_policy: None,
            policy_arns: Vec::new(),
            tags: BTreeMap::new(),
            transitive_tag_keys: Vec::new(),
            mfa_authenticated_at: None,
            chained: false,
            lineage: Lineage::default(),
        }
    }

    #[test]
    fn a_sealed_record_opens_and_any_change_is_refused() {
        let keys = KeyRing::from_material(&[("a", [1; 32]), ("b", [2; 32])]);
        let key = keys.get("a").unwrap();
        let r = record();
        let sealed = seal(&r, key).unwrap();
        assert_eq!(key_id(&sealed), Some("a"));
        assert_eq!(open(&sealed, &r.access_key_id, &keys).unwrap(), r);
        // Another session's id: the tag binds the access key id.
        assert_eq!(
            open(&sealed, "ASIABBBBBBBBBBBBBBBB", &keys),
            Err(RecordError::NotAuthentic)
        );
        // Every single byte flipped is refused.
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(open(&bad, &r.access_key_id, &keys).is_err(), "byte {i}");
        }
        // Unknown to the JSON today, covered all the same: an added field.
        let text = String::from_utf8(sealed.clone()).unwrap();
        let added = text.replacen(":{\"", ":{\"x\":1,\"", 1);
        assert_ne!(added, text);
        assert!(open(added.as_bytes(), &r.access_key_id, &keys).is_err());
        // The same JSON under the other key, named honestly: not authentic.
        let renamed = text.replacen("sr1:a:", "sr1:b:", 1);
        assert_eq!(
            open(renamed.as_bytes(), &r.access_key_id, &keys),
            Err(RecordError::NotAuthentic)
        );
        // A record under a key this replica does not have.
        let gone = KeyRing::from_material(&[("b", [2; 32])]);
        assert_eq!(
            open(&sealed, &r.access_key_id, &gone),
            Err(RecordError::UnknownKey)
        );
        // A plain JSON record (no authentication) is refused.
        let plain = serde_json::to_vec(&r).unwrap();
        assert_eq!(
            open(&plain, &r.access_key_id, &keys),
            Err(RecordError::Malformed)
        );
    }

    /// The JSON names neither id, and leaves empty fields out; a record written in full (as
    /// before) still opens, and one naming another session or key is refused even when its
    /// tag is right.
    #[test]
    fn records_are_compact_and_full_ones_still_open() {
        let keys = KeyRing::from_material(&[("a", [1; 32])]);
        let key = keys.get("a").unwrap();
        let r = record();
        let sealed = String::from_utf8(seal(&r, key).unwrap()).unwrap();
        for absent in ["access_key_id", "key_id", "null", "[]", "{}", "false"] {
            assert!(!sealed.contains(absent), "{absent} in {sealed}");
        }
        let full_json = |aki: &str, kid: &str| {
            let mut v = serde_json::to_value(&r).unwrap();
            let o = v.as_object_mut().unwrap();
            o.insert("access_key_id".into(), aki.into());
            o.insert("key_id".into(), kid.into());
            o.insert("session_policy".into(), serde_json::Value::Null);
            o.insert("chained".into(), false.into());
            serde_json::to_vec(&v).unwrap()
        };
        let sealed_full = |json: Vec<u8>| {
            let tag = hmac::sign(&key.record, &message(&r.access_key_id, "a", &json));
            let mut out =
                format!("{FORMAT}:a:{}:", URL_SAFE_NO_PAD.encode(tag.as_ref())).into_bytes();
            out.extend_from_slice(&json);
            out
        };
        let old = sealed_full(full_json(&r.access_key_id, "a"));
        assert_eq!(open(&old, &r.access_key_id, &keys).unwrap(), r);
        for (aki, kid) in [
            ("ASIABBBBBBBBBBBBBBBB", "a"),
            (r.access_key_id.as_str(), "b"),
        ] {
            let planted = sealed_full(full_json(aki, kid));
            assert_eq!(
                open(&planted, &r.access_key_id, &keys),
                Err(RecordError::NotAuthentic),
                "{aki} {kid}"
            );
        }
    }
}
