//! Encoded authorization failure messages, as AWS attaches to EC2's denials: a denial the
//! broker answers because of a policy decision carries "Encoded authorization failure message:
//! `<blob>`", and only a caller of the denied request's account allowed
//! `sts:DecodeAuthorizationMessage` can turn the blob back into the evaluation trace (the
//! `DecodeAuthorizationMessage` action). The trace names policies and values, so it is never
//! sent in the clear ([`encode`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::keys::{SessionKey, SessionKeys};
use crate::policy::{Decision, Evaluation, Explanation, PolicySet, PolicyType, Request};

/// Longest `EncodedMessage` accepted (the STS API model's bound).
pub const MAX_ENCODED_LEN: usize = 10_240;
/// Plain traces are cut to this many bytes so that the encoded form stays under
/// [`MAX_ENCODED_LEN`].
const MAX_TRACE_BYTES: usize = 7_000;
/// Most items kept per list in a trace.
const MAX_ITEMS: usize = 50;
/// Format 2: the header names the denied request's account (format 1 did not; refused).
const FORMAT: u8 = 2;
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

/// A decoded message: the trace JSON text and the account whose principals may read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The denied request's account; empty when it had none (then nobody may read it).
    pub account: String,
    pub text: String,
}

/// The account of the denied request a trace describes: its principal's, else its resource's.
fn trace_account(trace: &Value) -> String {
    let account_of = |arn: Option<&str>| {
        let arn = arn?;
        let account = arn.split(':').nth(4)?;
        (arn.starts_with("arn:")
            && !account.is_empty()
            && account.bytes().all(|b| b.is_ascii_digit()))
        .then(|| account.to_owned())
    };
    let context = &trace["context"];
    account_of(context["principal"]["arn"].as_str())
        .or_else(|| account_of(context["resource"].as_str()))
        .unwrap_or_default()
}

/// AES-256-GCM under a key derived (HMAC-SHA256, own label) from a broker session key.
fn cipher(key: &SessionKey) -> Result<LessSafeKey, MessageError> {
    let derived = hmac::sign(&key.hmac, KEY_LABEL);
    UnboundKey::new(&AES_256_GCM, derived.as_ref())
        .map(LessSafeKey::new)
        .map_err(|_| MessageError::Seal)
}

/// `FORMAT | key id length | key id | account length | account`: the header, authenticated as
/// associated data. The account is the denied request's principal's (else its resource's): only
/// principals of that account may decode, so one account's administrators cannot read the
/// policies and values behind another account's denials.
fn header(key_id: &str, account: &str) -> Result<Vec<u8>, MessageError> {
    let len = u8::try_from(key_id.len()).map_err(|_| MessageError::NoKey)?;
    let account_len = u8::try_from(account.len()).map_err(|_| MessageError::Seal)?;
    let mut out = Vec::with_capacity(3 + key_id.len() + account.len());
    out.push(FORMAT);
    out.push(len);
    out.extend_from_slice(key_id.as_bytes());
    out.push(account_len);
    out.extend_from_slice(account.as_bytes());
    Ok(out)
}

/// Encrypts `trace` under the newest session key, for the principals of its account: AES-256-GCM
/// with a random 96-bit nonce, the key id prefixing the blob and authenticated with it, base64url
/// without padding. A message decodes while that key is loaded.
pub fn encode(
    keys: &SessionKeys,
    now: time::OffsetDateTime,
    trace: &Value,
) -> Result<String, MessageError> {
    let key = keys.signing(now).ok_or(MessageError::NoKey)?;
    let mut nonce = [0u8; NONCE_LEN];
    crate::random::fill(&mut nonce).map_err(|_| MessageError::Random)?;
    let head = header(&key.id, &trace_account(trace))?;
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

/// The trace JSON text inside an encoded message and the account it is for, if this broker
/// encoded it unaltered.
pub fn decode(keys: &SessionKeys, encoded: &str) -> Result<Decoded, MessageError> {
    if encoded.len() > MAX_ENCODED_LEN {
        return Err(MessageError::Invalid);
    }
    let blob = URL_SAFE_NO_PAD
        .decode(encoded.trim())
        .map_err(|_| MessageError::Invalid)?;
    let (&format, rest) = blob.split_first().ok_or(MessageError::Invalid)?;
    let (&len, rest) = rest.split_first().ok_or(MessageError::Invalid)?;
    if format != FORMAT || rest.len() < usize::from(len) {
        return Err(MessageError::Invalid);
    }
    let (key_id, rest) = rest.split_at(usize::from(len));
    let (&account_len, rest) = rest.split_first().ok_or(MessageError::Invalid)?;
    if rest.len() < usize::from(account_len) + NONCE_LEN {
        return Err(MessageError::Invalid);
    }
    let (account, rest) = rest.split_at(usize::from(account_len));
    let key_id = std::str::from_utf8(key_id).map_err(|_| MessageError::Invalid)?;
    let account = std::str::from_utf8(account).map_err(|_| MessageError::Invalid)?;
    let key = keys.get(key_id).ok_or(MessageError::Invalid)?;
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| MessageError::Invalid)?;
    let head = header(key_id, account)?;
    let mut sealed = sealed.to_vec();
    let plain = cipher(&key)?
        .open_in_place(nonce, Aad::from(&head), &mut sealed)
        .map_err(|_| MessageError::Invalid)?;
    let text = String::from_utf8(plain.to_vec()).map_err(|_| MessageError::Invalid)?;
    Ok(Decoded {
        account: account.to_owned(),
        text,
    })
}

/// Policy types written by the resource's owner, not by the caller's account.
const OWNER_SIDE: [&str; 3] = [
    PolicyType::Resource.name(),
    PolicyType::Trust.name(),
    PolicyType::Rcp.name(),
];

/// The evaluation trace of a decision, in the shape of AWS's decoded message: principal,
/// action, resource, decision, matched statements with policy names and Sids, statements that
/// did not apply with the failing condition and request value, every context key.
///
/// A message is read by the denied principal's account. When the resource is not known to be
/// in that account, statements of the owner's policies (trust, resource, resource control) keep
/// only their type and effect, and the summary only the decision: their ids, Sids, positions
/// and failing conditions (an `sts:ExternalId`, source ranges) are the owner's to read.
pub fn trace(evaluation: &Evaluation, set: &PolicySet<'_>, request: &Request) -> Value {
    let explanation = Explanation::new(evaluation, set, request);
    let same_account = matches!(
        (request.principal.account(), request.resource.account()),
        (Some(p), Some(r)) if p == r
    );
    let hidden =
        |s: &crate::policy::StatementRef| !same_account && OWNER_SIDE.contains(&s.policy_type);
    let statement = |s: &crate::policy::StatementRef| {
        if hidden(s) {
            return json!({
                "effect": s.effect.to_ascii_uppercase(),
                "policyType": s.policy_type,
            });
        }
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
            if !hidden(&n.statement) {
                v["reason"] = Value::String(n.reason.clone());
            }
            v
        })
        .collect();
    let summary = match same_account {
        true => explanation.summary.clone(),
        false => format!(
            "{} on {} is {}",
            request.action(),
            request.resource.name(),
            match evaluation.decision {
                Decision::Allowed => "allowed",
                Decision::ExplicitDeny => "explicitly denied",
                Decision::ImplicitDeny => "implicitly denied",
            }
        ),
    };
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
        "summary": summary,
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
pub fn access_denied(
    keys: &SessionKeys,
    now: time::OffsetDateTime,
    message: String,
    trace: &Value,
) -> ApiError {
    match encode(keys, now, trace) {
        Ok(blob) => ApiError::access_denied(format!("{message}{SEPARATOR}{blob}")),
        Err(e) => {
            tracing::warn!(error = %e, "authorization message not encoded");
            ApiError::access_denied(message)
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
        assert_eq!(serde_json::from_str::<Value>(&plain.text).unwrap(), trace);
        assert_eq!(plain.account, "", "no principal or resource named");
        let raw = URL_SAFE_NO_PAD.decode(&blob).unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("AssumeRole"));
        // Fresh nonce every time.
        assert_ne!(
            blob,
            encode(&keys(), time::OffsetDateTime::now_utc(), &trace).unwrap()
        );
    }

    #[test]
    fn a_message_is_for_the_account_of_the_denied_principal_else_its_resource() {
        let denied = |principal: &str, resource: &str| json!({"context": {"principal": {"arn": principal}, "resource": resource}});
        let cases = [
            (
                denied("arn:aws:iam::111122223333:user/ops", "*"),
                "111122223333",
            ),
            (
                denied(
                    "arn:aws:sts::444455556666:assumed-role/r/s",
                    "arn:aws:iam::111122223333:role/x",
                ),
                "444455556666",
            ),
            (
                denied("", "arn:aws:iam::111122223333:role/missing"),
                "111122223333",
            ),
            (denied("", "arn:aws:s3:::bucket"), ""),
        ];
        for (trace, account) in cases {
            let blob = encode(&keys(), time::OffsetDateTime::now_utc(), &trace).unwrap();
            assert_eq!(decode(&keys(), &blob).unwrap().account, account, "{trace}");
        }
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
