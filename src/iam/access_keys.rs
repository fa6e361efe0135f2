//! Access keys created through IAM's management API (docs/operations.md, "Access keys through
//! IAM's API"): kept on their user in the account's document ([`super::users::StoredUser`]),
//! the secret sealed under a session key ([`crate::session::sealed`], never in clear); the
//! checks on every input (IAM's bounds and messages); the changes as pure functions on a stored
//! user; and the keys served, merged as `AccessKey`s whose secret opens where a request is
//! verified ([`super::HeldSecret::Sealed`]).
//!
//! Ids are `AKIA` + 16 random base32 characters, secrets 40 characters of AWS's alphabet, both
//! from the system's CSPRNG. An id is unique broker-wide: one stored twice (in any accounts) or
//! also configured in the file is served for none of the stored keys ([`duplicates`]).
//!
//! A key's `generation` counts its reactivations: sessions created with a key carry its id and
//! generation, and deactivating or deleting it revokes the sessions of its generations so far,
//! so that a key made active again creates sessions that work.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::api::{AccountDocument, IamApiError, Layer, constraint};
use super::users::StoredUser;
use super::{AccessKey, HeldSecret, access_key_context};
use crate::encoding::shorten;
use crate::secret::SecretAccessKey;

/// Access keys one user may hold (IAM's quota).
pub const MAX_ACCESS_KEYS_PER_USER: usize = 2;
/// Characters of a secret access key, as AWS makes them.
pub const SECRET_LENGTH: usize = 40;
/// AWS's secret access key alphabet: 64 characters, so six random bits pick one uniformly.
const SECRET_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// An access key's status, as IAM writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessKeyStatus {
    Active,
    Inactive,
}

impl AccessKeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessKeyStatus::Active => "Active",
            AccessKeyStatus::Inactive => "Inactive",
        }
    }
}

/// An access key created through the API, as stored: never its secret in clear (and its
/// sealed text is not printed either).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAccessKey {
    /// `AKIA` + 16 random base32 characters.
    pub id: String,
    /// The secret sealed under a session key for [`access_key_context`] (`sb1:<key id>:…`).
    pub sealed: String,
    pub status: AccessKeyStatus,
    /// Unix seconds.
    pub created: i64,
    /// Times it was made active again after being deactivated.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u32,
}

impl std::fmt::Debug for StoredAccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredAccessKey")
            .field("id", &self.id)
            .field("sealed", &"<redacted>")
            .field("status", &self.status)
            .field("created", &self.created)
            .field("generation", &self.generation)
            .finish()
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A new access key id: `AKIA` + 16 base32 characters from the system's CSPRNG (80 bits).
pub fn new_access_key_id() -> Option<String> {
    let mut bytes = [0u8; 10];
    crate::random::fill(&mut bytes).ok()?;
    let mut id = String::with_capacity(20);
    id.push_str("AKIA");
    id.push_str(crate::encoding::base32(&bytes).get(..16)?);
    Some(id)
}

/// A new secret access key: [`SECRET_LENGTH`] characters of AWS's alphabet from the system's
/// CSPRNG, held in a zeroizing type from the start.
pub fn new_secret() -> Option<SecretAccessKey> {
    let mut bytes = zeroize::Zeroizing::new([0u8; SECRET_LENGTH]);
    crate::random::fill(&mut *bytes).ok()?;
    let mut secret = zeroize::Zeroizing::new(String::with_capacity(SECRET_LENGTH));
    for b in bytes.iter() {
        secret.push(char::from(SECRET_ALPHABET[usize::from(b & 0x3f)]));
    }
    Some(SecretAccessKey::new(std::mem::take(&mut *secret)))
}

/// IAM's `NoSuchEntity` message for an access key.
pub fn no_such_key(id: &str) -> IamApiError {
    IamApiError::NoSuchEntity(format!(
        "The Access Key with id {} cannot be found.",
        shorten(id)
    ))
}

/// An `AccessKeyId` parameter as IAM's model bounds it: 16–128 of `[\w]`. One of that shape
/// that names no key is not found, not invalid.
pub fn check_access_key_id(value: &str) -> Result<(), IamApiError> {
    let n = value.chars().count();
    if n < 16 {
        return Err(constraint(
            "accessKeyId",
            value,
            "have length greater than or equal to 16",
        ));
    }
    if n > 128 {
        return Err(constraint(
            "accessKeyId",
            value,
            "have length less than or equal to 128",
        ));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(constraint(
            "accessKeyId",
            value,
            r"satisfy regular expression pattern: [\w]+",
        ));
    }
    Ok(())
}

/// A `Status` parameter: `Active` or `Inactive`.
pub fn check_status(value: &str) -> Result<AccessKeyStatus, IamApiError> {
    match value {
        "Active" => Ok(AccessKeyStatus::Active),
        "Inactive" => Ok(AccessKeyStatus::Inactive),
        _ => Err(constraint(
            "status",
            value,
            "satisfy enum value set: [Active, Inactive]",
        )),
    }
}

/// Adds `key` to `user`: at most [`MAX_ACCESS_KEYS_PER_USER`], an id not already in the
/// account's document.
pub(super) fn create(
    doc: &AccountDocument,
    user: &mut StoredUser,
    key: &StoredAccessKey,
) -> Result<(), IamApiError> {
    if user.access_keys.len() >= MAX_ACCESS_KEYS_PER_USER {
        return Err(IamApiError::LimitExceeded(format!(
            "Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER}"
        )));
    }
    if doc
        .users
        .values()
        .flat_map(|u| &u.access_keys)
        .any(|k| k.id == key.id)
    {
        return Err(IamApiError::AlreadyExists(format!(
            "Access key {} already exists.",
            key.id
        )));
    }
    user.access_keys.push(key.clone());
    Ok(())
}

/// Sets the status of `user`'s key `id`; made active again, its generation moves on.
pub(super) fn update(
    user: &mut StoredUser,
    id: &str,
    status: AccessKeyStatus,
) -> Result<(), IamApiError> {
    let key = user
        .access_keys
        .iter_mut()
        .find(|k| k.id == id)
        .ok_or_else(|| no_such_key(id))?;
    if key.status == AccessKeyStatus::Inactive && status == AccessKeyStatus::Active {
        key.generation = key.generation.saturating_add(1);
    }
    key.status = status;
    Ok(())
}

/// Removes `user`'s key `id`.
pub(super) fn delete(user: &mut StoredUser, id: &str) -> Result<(), IamApiError> {
    let before = user.access_keys.len();
    user.access_keys.retain(|k| k.id != id);
    if user.access_keys.len() == before {
        return Err(no_such_key(id));
    }
    Ok(())
}

/// The keys of `user` (of `account`) as a request is verified with them.
pub(super) fn served(account: &str, user: &StoredUser) -> Vec<AccessKey> {
    user.access_keys
        .iter()
        .map(|k| AccessKey {
            id: k.id.clone(),
            secret: HeldSecret::Sealed {
                sealed: k.sealed.clone(),
                context: access_key_context(account, &k.id),
            },
            active: k.status == AccessKeyStatus::Active,
            created: OffsetDateTime::from_unix_timestamp(k.created).ok(),
            generation: k.generation,
        })
        .collect()
}

/// The stored key ids `layer` holds more than once (documents it cannot use aside): none of
/// those stored keys is served, so a key planted under another user's id cannot take its place.
pub fn duplicates(layer: &Layer) -> HashSet<String> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for revisioned in layer.accounts.values() {
        if revisioned.document.is_unusable() {
            continue;
        }
        for key in revisioned
            .document
            .users
            .values()
            .flat_map(|u| &u.access_keys)
        {
            *seen.entry(&key.id).or_default() += 1;
        }
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(id, _)| id.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::is_access_key_id;

    fn key(id: &str) -> StoredAccessKey {
        StoredAccessKey {
            id: id.to_owned(),
            sealed: "sb1:k1:AAAA".to_owned(),
            status: AccessKeyStatus::Active,
            created: 1_700_000_000,
            generation: 0,
        }
    }

    #[test]
    fn ids_and_secrets_are_new_every_time_and_shaped_as_aws_makes_them() {
        let a = new_access_key_id().unwrap();
        assert!(is_access_key_id(&a), "{a}");
        assert_ne!(a, new_access_key_id().unwrap());
        let s = new_secret().unwrap();
        assert_eq!(s.expose().len(), SECRET_LENGTH);
        assert!(s.expose().bytes().all(|b| SECRET_ALPHABET.contains(&b)));
        assert_ne!(s, new_secret().unwrap());
        assert_eq!(format!("{s:?}"), "SecretAccessKey(<redacted>)");
    }

    #[test]
    fn inputs_are_bounded_as_iam_bounds_them() {
        assert!(check_access_key_id("AKIAIOSFODNN7EXAMPLE").is_ok());
        for bad in ["AKIA", "AKIAIOSFODNN7EXAMPLE-", &"A".repeat(129)] {
            assert!(
                matches!(check_access_key_id(bad), Err(IamApiError::Validation(_))),
                "{bad}"
            );
        }
        assert_eq!(check_status("Inactive"), Ok(AccessKeyStatus::Inactive));
        for bad in ["active", "Expired", ""] {
            assert!(
                matches!(check_status(bad), Err(IamApiError::Validation(m)) if m.contains("[Active, Inactive]"))
            );
        }
    }

    #[test]
    fn two_keys_per_user_and_a_reactivated_key_moves_on_a_generation() {
        let doc = AccountDocument::default();
        let mut user = StoredUser::new("u", "/", "AIDAAAAAAAAAAAAAAAAAA".into(), 1);
        create(&doc, &mut user, &key("AKIAAAAAAAAAAAAAAAA2")).unwrap();
        create(&doc, &mut user, &key("AKIAAAAAAAAAAAAAAAA3")).unwrap();
        assert!(matches!(
            create(&doc, &mut user, &key("AKIAAAAAAAAAAAAAAAA4")),
            Err(IamApiError::LimitExceeded(m)) if m == "Cannot exceed quota for AccessKeysPerUser: 2"
        ));
        update(&mut user, "AKIAAAAAAAAAAAAAAAA2", AccessKeyStatus::Active).unwrap();
        assert_eq!(user.access_keys[0].generation, 0);
        update(&mut user, "AKIAAAAAAAAAAAAAAAA2", AccessKeyStatus::Inactive).unwrap();
        update(&mut user, "AKIAAAAAAAAAAAAAAAA2", AccessKeyStatus::Inactive).unwrap();
        assert_eq!(user.access_keys[0].generation, 0);
        update(&mut user, "AKIAAAAAAAAAAAAAAAA2", AccessKeyStatus::Active).unwrap();
        assert_eq!(user.access_keys[0].generation, 1);
        assert!(matches!(
            update(&mut user, "AKIAAAAAAAAAAAAAAAA9", AccessKeyStatus::Active),
            Err(IamApiError::NoSuchEntity(m)) if m == "The Access Key with id AKIAAAAAAAAAAAAAAAA9 cannot be found."
        ));
        delete(&mut user, "AKIAAAAAAAAAAAAAAAA2").unwrap();
        assert!(matches!(
            delete(&mut user, "AKIAAAAAAAAAAAAAAAA2"),
            Err(IamApiError::NoSuchEntity(_))
        ));
        let served = served("111122223333", &user);
        assert_eq!(served.len(), 1);
        assert!(served[0].active);
        assert_eq!(
            served[0].secret.key_id(),
            Some("k1"),
            "sealed, naming its session key"
        );
    }

    #[test]
    fn the_secret_is_stored_sealed_and_a_stored_key_reads_back() {
        let k = key("AKIAAAAAAAAAAAAAAAA2");
        let json = serde_json::to_string(&k).unwrap();
        assert!(!json.contains("generation"), "{json}");
        assert_eq!(serde_json::from_str::<StoredAccessKey>(&json).unwrap(), k);
    }
}
