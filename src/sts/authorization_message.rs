//! Encoded authorization failure messages, as AWS attaches to EC2's denials: a denial the
//! broker answers because of a policy decision carries "Encoded authorization failure message:
//! <blob>", and only a caller allowed `sts:DecodeAuthorizationMessage` can turn the blob back
//! into the full evaluation trace ([`super::decode_message`]).
//!
//! The trace (principal, action, resource, decision, matched statements with policy names and
//! Sids, statements that did not apply with the failing condition and request value, every
//! context key) is JSON shaped like AWS's decoded message. It names policies and values, so it
//! is never sent in the clear: the blob is AES-256-GCM with a random 96-bit nonce, under a key
//! derived (HMAC-SHA256, own label) from a broker session key whose id prefixes the blob and is
//! authenticated with it; a message decodes while that key is loaded. base64url, no padding.

use crate::app::AppState;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Value, json};

use super::error::StsError;
use crate::keys::{SessionKey, SessionKeys};
use crate::policy::{Decision, Evaluation, Explanation, PolicySet, Request};

/// Longest `EncodedMessage` accepted (the STS API model's bound).
pub const MAX_ENCODED_LEN: usize = 10_240;
/// Plain traces are cut to this many bytes so that the encoded form stays under
/// [`MAX_ENCODED_LEN`].
const MAX_TRACE_BYTES: usize = 7_000;
/// Most items kept per list in a trace.
const MAX_ITEMS: usize = 50;
const FORMAT: u8 = 1;
const KEY_LABEL: &[u8] = b"sts-broker/authorization-message/v1";
/// What joins the caller-safe message and the blob.
pub const SEPARATOR: &str = ". Encoded authorization failure message: ";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("no session key is loaded")]
    NoKey,
    #[error("the system random generator failed")]
    Random,
    #[error("the trace could not be encrypted")]
    Seal,
    /// Malformed, altered, encoded by another broker, or under a key no longer loaded.
    #[error("the message is not one this broker encoded under a loaded key")]
    Invalid,
}

fn cipher(key: &SessionKey) -> Result<LessSafeKey, MessageError> {
    let derived = hmac::sign(&key.hmac, KEY_LABEL);
    UnboundKey::new(&AES_256_GCM, derived.as_ref())
        .map(LessSafeKey::new)
        .map_err(|_| MessageError::Seal)
}

/// `FORMAT | key id length | key id`: the header, authenticated as associated data.
fn header(key_id: &str) -> Result<Vec<u8>, MessageError> {
    let len = u8::try_from(key_id.len()).map_err(|_| MessageError::NoKey)?;
    let mut out = Vec::with_capacity(2 + key_id.len());
    out.push(FORMAT);
    out.push(len);
    out.extend_from_slice(key_id.as_bytes());
    Ok(out)
}

/// Encrypts `trace` under the newest session key.
pub fn encode(
    keys: &SessionKeys,
    now: time::OffsetDateTime,
    trace: &Value,
) -> Result<String, MessageError> {
    let key = keys.signing(now).ok_or(MessageError::NoKey)?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| MessageError::Random)?;
    let head = header(&key.id)?;
    let mut sealed = trace.to_string().into_bytes();
    cipher(&key)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&head),
            &mut sealed,
        )
        .map_err(|_| MessageError::Seal)?;
    let mut blob = head;
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&sealed);
    Ok(URL_SAFE_NO_PAD.encode(blob))
}

/// The trace JSON text inside an encoded message, if this broker encoded it unaltered.
pub fn decode(keys: &SessionKeys, encoded: &str) -> Result<String, MessageError> {
    if encoded.len() > MAX_ENCODED_LEN {
        return Err(MessageError::Invalid);
    }
    let blob = URL_SAFE_NO_PAD
        .decode(encoded.trim())
        .map_err(|_| MessageError::Invalid)?;
    let (&format, rest) = blob.split_first().ok_or(MessageError::Invalid)?;
    let (&len, rest) = rest.split_first().ok_or(MessageError::Invalid)?;
    if format != FORMAT || rest.len() < usize::from(len) + NONCE_LEN {
        return Err(MessageError::Invalid);
    }
    let (key_id, rest) = rest.split_at(usize::from(len));
    let key_id = std::str::from_utf8(key_id).map_err(|_| MessageError::Invalid)?;
    let key = keys.get(key_id).ok_or(MessageError::Invalid)?;
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| MessageError::Invalid)?;
    let head = header(key_id)?;
    let mut sealed = sealed.to_vec();
    let plain = cipher(&key)?
        .open_in_place(nonce, Aad::from(&head), &mut sealed)
        .map_err(|_| MessageError::Invalid)?;
    String::from_utf8(plain.to_vec()).map_err(|_| MessageError::Invalid)
}

/// The evaluation trace of a decision, in the shape of AWS's decoded message.
pub fn trace(evaluation: &Evaluation, set: &PolicySet<'_>, request: &Request) -> Value {
    let explanation = Explanation::new(evaluation, set, request);
    let statement = |s: &crate::policy::StatementRef| {
        json!({
            "statementId": s.sid.clone().unwrap_or_default(),
            "effect": s.effect.to_ascii_uppercase(),
            "policyId": s.policy_id,
            "policyType": s.policy_type,
            "statementIndex": s.statement_index,
        })
    };
    let matched: Vec<Value> = explanation
        .matched_statements
        .iter()
        .take(MAX_ITEMS)
        .map(statement)
        .collect();
    let failures: Vec<Value> = explanation
        .near_misses
        .iter()
        .take(MAX_ITEMS)
        .map(|n| {
            let mut v = statement(&n.statement);
            v["reason"] = Value::String(n.reason.clone());
            v
        })
        .collect();
    let mut conditions: Vec<(&str, Vec<Value>)> = request
        .context
        .iter()
        .map(|(key, value)| {
            let values = value
                .values()
                .iter()
                .take(MAX_ITEMS)
                .map(|v| json!({ "value": v }))
                .collect();
            (key, values)
        })
        .collect();
    conditions.sort_by(|a, b| a.0.cmp(b.0));
    let conditions: Vec<Value> = conditions
        .into_iter()
        .take(MAX_ITEMS)
        .map(|(key, values)| json!({ "key": key, "values": { "items": values } }))
        .collect();
    let principal_id = request
        .context
        .get("aws:userid")
        .and_then(|v| v.single())
        .unwrap_or_default();
    let mut out = json!({
        "allowed": evaluation.decision == Decision::Allowed,
        "explicitDeny": evaluation.decision == Decision::ExplicitDeny,
        "summary": explanation.summary,
        "matchedStatements": { "items": matched },
        "failures": { "items": failures },
        "context": {
            "principal": { "id": principal_id, "arn": request.principal.name() },
            "action": request.action(),
            "resource": request.resource.name(),
            "conditions": { "items": conditions },
        },
    });
    if out.to_string().len() > MAX_TRACE_BYTES {
        out["context"]["conditions"]["items"] = Value::Array(Vec::new());
        out["truncated"] = Value::Bool(true);
    }
    out
}

/// A trace for a denial no policy made (the role does not exist), so that it reads like one.
pub fn trace_without_policy(principal: &str, action: &str, resource: &str, why: &str) -> Value {
    json!({
        "allowed": false,
        "explicitDeny": false,
        "summary": format!("{action} on {resource} is implicitly denied: {why}"),
        "matchedStatements": { "items": [] },
        "failures": { "items": [] },
        "context": {
            "principal": { "id": "", "arn": principal },
            "action": action,
            "resource": resource,
            "conditions": { "items": [] },
        },
    })
}

/// `AccessDenied` with `message`, followed by the encoded trace. If it cannot be encoded (no
/// key, no randomness) the denial goes out without it and the log says why.
pub fn access_denied(state: &AppState, message: String, trace: &Value) -> StsError {
    match encode(&state.keys, state.clock.now(), trace) {
        Ok(blob) => StsError::access_denied(format!("{message}{SEPARATOR}{blob}")),
        Err(e) => {
            tracing::warn!(error = %e, "authorization message not encoded");
            StsError::access_denied(message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SessionKeys {
        SessionKeys::from_material(&[("k1", [7; 32]), ("k2", [9; 32])])
    }

    #[test]
    fn round_trips_and_hides_the_trace() {
        let trace = json!({"allowed": false, "context": {"action": "sts:AssumeRole"}});
        let blob = encode(&keys(), time::OffsetDateTime::now_utc(), &trace).unwrap();
        assert!(!blob.contains('='));
        let plain = decode(&keys(), &blob).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&plain).unwrap(), trace);
        let raw = URL_SAFE_NO_PAD.decode(&blob).unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("AssumeRole"));
        // Fresh nonce every time.
        assert_ne!(
            blob,
            encode(&keys(), time::OffsetDateTime::now_utc(), &trace).unwrap()
        );
    }

    #[test]
    fn older_keys_decode_until_removed() {
        let old = SessionKeys::from_material(&[("k1", [7; 32])]);
        let blob = encode(&old, time::OffsetDateTime::now_utc(), &json!({"a": 1})).unwrap();
        assert!(decode(&keys(), &blob).is_ok());
        let rotated = SessionKeys::from_material(&[("k2", [9; 32])]);
        assert_eq!(decode(&rotated, &blob), Err(MessageError::Invalid));
    }

    #[test]
    fn any_change_is_refused() {
        let blob = encode(
            &keys(),
            time::OffsetDateTime::now_utc(),
            &json!({"allowed": false}),
        )
        .unwrap();
        let raw = URL_SAFE_NO_PAD.decode(&blob).unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                decode(&keys(), &URL_SAFE_NO_PAD.encode(&bad)),
                Err(MessageError::Invalid),
                "byte {i}"
            );
        }
        for bad in ["", "!!!", &blob[..blob.len() - 1], &"A".repeat(20_000)] {
            assert_eq!(decode(&keys(), bad), Err(MessageError::Invalid));
        }
        // Another broker's key (same id, other material).
        let foreign = SessionKeys::from_material(&[("k2", [1; 32])]);
        assert_eq!(decode(&foreign, &blob), Err(MessageError::Invalid));
    }
}
