//! Virtual MFA devices created through IAM's management API (docs/operations.md, "Virtual MFA
//! devices through IAM's API"): stored in the account's [`AccountDocument`] with their seed
//! sealed under a session key ([`crate::session::sealed`]; never in clear), the checks on their
//! inputs, the changes as pure functions ([`apply`]), and the enabled ones served next to the
//! file's ([`merge_into`]) as [`MfaDevice`]s, so that `AssumeRole` and `GetSessionToken` check
//! their codes exactly as a file device's. No I/O: codes are checked by the broker.
//!
//! A device is enabled for at most one user of its account, an API user or a file user: the
//! association lives with the device, the file user itself is not changed. The file's devices
//! are the read-only base layer: a name the file gives a device cannot be created here, and a
//! file device cannot be enabled, deactivated, resynchronized or deleted here.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::api::{AccountDocument, IamApiError, Skipped, Tag, bounded, constraint};
use super::users::no_such_user;
use super::{HeldSecret, Iam, MfaDevice, Origin, mfa_context};
use crate::encoding::shorten;

/// MFA devices in use per user (IAM's quota since November 2022: "MFA devices in use per
/// user: 8", IAM and AWS STS quotas). File and API devices together.
pub const MAX_DEVICES_PER_USER: usize = 8;
/// Virtual MFA devices, assigned or not, per account: IAM's quota equals the account's user
/// quota. File and API devices together.
pub const MAX_DEVICES_PER_ACCOUNT: usize = super::users::MAX_USERS_PER_ACCOUNT;
/// `VirtualMFADeviceName`'s length in IAM's model.
pub const MAX_NAME: usize = 226;
/// A `SerialNumber` parameter's length in IAM's model (and STS's): a longer serial could never
/// be sent.
pub const MAX_SERIAL: usize = 256;

/// A virtual MFA device created through the API, as stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMfaDevice {
    pub name: String,
    pub path: String,
    /// The base32 seed sealed for the device's serial ([`mfa_context`]): `sb1:<key id>:…`.
    pub seed: String,
    /// The user it is enabled for; none until `EnableMFADevice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<Enabled>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    /// Unix seconds.
    pub created: i64,
}

/// Who a device is enabled for, since when, and how far its clock is from the broker's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enabled {
    /// The user's name in the device's account (an API user or a file user).
    pub user: String,
    /// The user's id when it was enabled: a user of that name deleted and created again, or a
    /// file user replaced by another, is another user and the device is not served for it.
    pub user_id: String,
    /// Unix seconds.
    pub at: i64,
    /// Steps the device's clock is ahead of the broker's (behind when negative), at most
    /// [`crate::totp::RESYNC_WINDOW_STEPS`] either way.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub drift_steps: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// The sealed seed is not printed, only the key it is sealed under.
impl fmt::Debug for StoredMfaDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredMfaDevice")
            .field("name", &self.name)
            .field("path", &self.path)
            .field(
                "seed",
                &format_args!(
                    "<sealed under {}>",
                    crate::session::sealed::key_id(&self.seed).unwrap_or("?")
                ),
            )
            .field("enabled", &self.enabled)
            .field("tags", &self.tags)
            .field("created", &self.created)
            .finish()
    }
}

impl StoredMfaDevice {
    /// `arn:aws:iam::ACCOUNT:mfa/PATH/NAME`: its serial number.
    pub fn serial(&self, account: &str) -> String {
        serial(account, &self.path, &self.name)
    }

    /// The seed as the broker opens it.
    pub fn secret(&self, account: &str) -> HeldSecret {
        HeldSecret::Sealed {
            sealed: self.seed.clone(),
            context: mfa_context(&self.serial(account)),
        }
    }
}

/// `arn:aws:iam::ACCOUNT:mfa/PATH/NAME`.
pub fn serial(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:mfa{path}{name}")
}

/// The account and the name a virtual MFA device's serial names, if it has that shape.
pub fn split_serial(serial: &str) -> Option<(&str, &str)> {
    let rest = serial.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let path_and_name = resource.strip_prefix("mfa/")?;
    let name = path_and_name.rsplit('/').next()?;
    (!name.is_empty()).then_some((account, name))
}

/// The stored device `serial` names in `doc` (exactly that serial) and its key.
pub fn find<'a>(
    doc: &'a AccountDocument,
    account: &str,
    serial: &str,
) -> Option<(String, &'a StoredMfaDevice)> {
    let (_, name) = split_serial(serial)?;
    let key = name.to_ascii_lowercase();
    let device = doc.mfa_devices.get(&key)?;
    (device.serial(account) == serial).then_some((key, device))
}

/// Whether a stored device is enabled for the user of id `user_id` (`DeleteUser` is refused
/// while one is, as in IAM).
pub fn enabled_for(doc: &AccountDocument, user_id: &str) -> bool {
    doc.mfa_devices
        .values()
        .any(|d| d.enabled.as_ref().is_some_and(|e| e.user_id == user_id))
}

/// IAM's `NoSuchEntity` for a device.
pub fn no_such_device(serial: &str) -> IamApiError {
    IamApiError::NoSuchEntity(format!(
        "VirtualMFADevice with serial number {} doesn't exist.",
        shorten(serial)
    ))
}

/// IAM's `NoSuchEntity` for a device a user does not have enabled.
pub fn not_enabled(serial: &str, user: &str) -> IamApiError {
    IamApiError::NoSuchEntity(format!(
        "MFA Device with serial number {} is not enabled for user {}.",
        shorten(serial),
        shorten(user)
    ))
}

/// `VirtualMFADeviceName`: 1–226 of `[\w+=,.@-]`.
pub fn check_name(value: &str) -> Result<(), IamApiError> {
    super::api::check_name("virtualMFADeviceName", value, MAX_NAME)
}

/// A `SerialNumber` parameter: 9–256 of `[\w+=/:,.@-]`, as IAM's model has it.
pub fn check_serial(value: &str) -> Result<(), IamApiError> {
    let n = value.chars().count();
    if n < 9 {
        return Err(constraint(
            "serialNumber",
            value,
            "have length greater than or equal to 9",
        ));
    }
    if n > MAX_SERIAL {
        return Err(constraint(
            "serialNumber",
            value,
            &format!("have length less than or equal to {MAX_SERIAL}"),
        ));
    }
    let allowed = |b: u8| super::is_name_byte(b) || matches!(b, b'/' | b':');
    if !value.bytes().all(allowed) {
        return Err(constraint(
            "serialNumber",
            value,
            r"satisfy regular expression pattern: [\w+=/:,.@-]+",
        ));
    }
    Ok(())
}

/// `AuthenticationCode1` / `AuthenticationCode2`: six digits.
pub fn check_code(param: &str, value: &str) -> Result<(), IamApiError> {
    if value.chars().count() != 6 {
        let bound = if value.chars().count() < 6 {
            "have length greater than or equal to 6"
        } else {
            "have length less than or equal to 6"
        };
        return Err(IamApiError::Validation(format!(
            "1 validation error detected: Value at '{param}' failed to satisfy constraint: \
             Member must {bound}"
        )));
    }
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IamApiError::Validation(format!(
            "1 validation error detected: Value at '{param}' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [\\d]+"
        )));
    }
    Ok(())
}

/// The file's MFA devices and users of one account, as [`apply`] needs them.
#[derive(Debug, Clone, Default)]
pub struct FileMfa {
    pub account: String,
    /// The configuration file that defines them.
    pub source: String,
    /// The file's devices: serial by name in lowercase.
    pub devices: HashMap<String, String>,
    /// The file's users: id by name in lowercase.
    pub users: HashMap<String, String>,
    /// How many of the file's devices each file user has, by name in lowercase.
    pub devices_per_user: HashMap<String, usize>,
}

impl FileMfa {
    /// The file's devices and users of `account` in `iam` (a merged view: the API's are told
    /// apart by their origin).
    pub fn of(iam: &Iam, account: &str, source: &str) -> FileMfa {
        let mut out = FileMfa {
            account: account.to_owned(),
            source: source.to_owned(),
            ..FileMfa::default()
        };
        let mut names_by_arn = HashMap::new();
        for u in iam.users().filter(|u| u.account == account) {
            if let Origin::File(s) = &u.about.origin {
                out.source.clone_from(s);
                let key = u.name.to_ascii_lowercase();
                out.users.insert(key.clone(), u.user_id.clone());
                names_by_arn.insert(u.arn.clone(), key);
            }
        }
        for d in iam.mfa_devices() {
            let Origin::File(s) = &d.origin else { continue };
            let Some((device_account, name)) = split_serial(&d.serial) else {
                continue;
            };
            if device_account != account {
                continue;
            }
            out.source.clone_from(s);
            out.devices
                .insert(name.to_ascii_lowercase(), d.serial.clone());
            if let Some(user) = names_by_arn.get(&d.user_arn) {
                *out.devices_per_user.entry(user.clone()).or_default() += 1;
            }
        }
        out
    }

    fn defines_serial(&self, serial: &str) -> bool {
        self.devices.values().any(|s| s == serial)
    }
}

/// A change to an account's virtual MFA devices. Those that need the device's seed (`Enable`,
/// `Resync`) name the sealed seed the codes were checked against: a device deleted and created
/// again since is another device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MfaChange {
    Create(StoredMfaDevice),
    Enable {
        serial: String,
        user: String,
        user_id: String,
        seed: String,
        at: i64,
        drift_steps: i64,
    },
    Resync {
        serial: String,
        user: String,
        user_id: String,
        seed: String,
        drift_steps: i64,
    },
    Deactivate {
        serial: String,
        user: String,
        user_id: String,
    },
    /// Refused while it is enabled.
    Delete {
        serial: String,
    },
}

fn changed_under() -> IamApiError {
    IamApiError::ConcurrentModification(
        "The MFA device or its user changed while this request was handled. Submit your \
         request again."
            .to_owned(),
    )
}

/// Applies `change` to `doc`. Refused changes leave nothing behind (the caller keeps `doc`).
pub fn apply(
    doc: &AccountDocument,
    change: &MfaChange,
    file: &FileMfa,
) -> Result<(AccountDocument, ()), IamApiError> {
    let mut next = doc.clone();
    let serial = match change {
        MfaChange::Create(device) => {
            let key = device.name.to_ascii_lowercase();
            if file.devices.contains_key(&key) {
                return Err(IamApiError::AlreadyExists(format!(
                    "MFADevice entity at the same path and name already exists: {} is defined \
                     in the configuration file {}.",
                    device.name, file.source
                )));
            }
            if next.mfa_devices.contains_key(&key) {
                return Err(IamApiError::AlreadyExists(
                    "MFADevice entity at the same path and name already exists.".to_owned(),
                ));
            }
            if next.mfa_devices.len() + file.devices.len() >= MAX_DEVICES_PER_ACCOUNT {
                return Err(IamApiError::LimitExceeded(format!(
                    "Cannot exceed quota for VirtualMFADevicesPerAccount: \
                     {MAX_DEVICES_PER_ACCOUNT}"
                )));
            }
            next.mfa_devices.insert(key, device.clone());
            return Ok((bounded(next)?, ()));
        }
        MfaChange::Enable { serial, .. }
        | MfaChange::Resync { serial, .. }
        | MfaChange::Deactivate { serial, .. }
        | MfaChange::Delete { serial } => serial,
    };
    if file.defines_serial(serial) {
        return Err(IamApiError::Unmodifiable(format!(
            "Cannot modify MFA device {serial}: it is defined in the configuration file {}; \
             change it there.",
            file.source
        )));
    }
    let (key, _) = find(&next, &file.account, serial).ok_or_else(|| no_such_device(serial))?;
    match change {
        MfaChange::Create(_) => {}
        MfaChange::Enable {
            user,
            user_id,
            seed,
            at,
            drift_steps,
            ..
        } => {
            let user_key = user.to_ascii_lowercase();
            let current_id = file
                .users
                .get(&user_key)
                .or_else(|| next.users.get(&user_key).map(|u| &u.user_id))
                .ok_or_else(|| no_such_user(user))?;
            if current_id != user_id {
                return Err(changed_under());
            }
            let in_use = next
                .mfa_devices
                .values()
                .filter(|d| d.enabled.as_ref().is_some_and(|e| &e.user_id == user_id))
                .count()
                + file.devices_per_user.get(&user_key).copied().unwrap_or(0);
            let device = next
                .mfa_devices
                .get_mut(&key)
                .ok_or_else(|| no_such_device(serial))?;
            if &device.seed != seed {
                return Err(changed_under());
            }
            if device.enabled.is_some() {
                return Err(IamApiError::AlreadyExists(
                    "MFA Device is already in use.".to_owned(),
                ));
            }
            if in_use >= MAX_DEVICES_PER_USER {
                return Err(IamApiError::LimitExceeded(format!(
                    "Cannot exceed quota for MFADevicesPerUser: {MAX_DEVICES_PER_USER}"
                )));
            }
            device.enabled = Some(Enabled {
                user: user.clone(),
                user_id: user_id.clone(),
                at: *at,
                drift_steps: *drift_steps,
            });
        }
        MfaChange::Resync {
            user,
            user_id,
            seed,
            drift_steps,
            ..
        } => {
            let device = enabled_device(&mut next, &key, serial, user, user_id)?;
            if &device.seed != seed {
                return Err(changed_under());
            }
            if let Some(e) = device.enabled.as_mut() {
                e.drift_steps = *drift_steps;
            }
        }
        MfaChange::Deactivate { user, user_id, .. } => {
            enabled_device(&mut next, &key, serial, user, user_id)?.enabled = None;
        }
        MfaChange::Delete { .. } => {
            let device = next
                .mfa_devices
                .get(&key)
                .ok_or_else(|| no_such_device(serial))?;
            // Enabled for a user that still exists: deactivate it first, as IAM says. A device
            // whose user is gone (a file user removed from the file) may go: it is served for
            // no one, and must not wait for a user of that name to come back.
            if let Some(e) = &device.enabled {
                let user_key = e.user.to_ascii_lowercase();
                let current_id = file
                    .users
                    .get(&user_key)
                    .or_else(|| next.users.get(&user_key).map(|u| &u.user_id));
                if current_id == Some(&e.user_id) {
                    return Err(IamApiError::DeleteConflict(
                        "MFA Device is still in use: deactivate it first.".to_owned(),
                    ));
                }
            }
            next.mfa_devices.remove(&key);
            return Ok((next, ()));
        }
    }
    Ok((bounded(next)?, ()))
}

/// The stored device `key`, which must be enabled for user `user` of id `user_id`.
fn enabled_device<'a>(
    doc: &'a mut AccountDocument,
    key: &str,
    serial: &str,
    user: &str,
    user_id: &str,
) -> Result<&'a mut StoredMfaDevice, IamApiError> {
    doc.mfa_devices
        .get_mut(key)
        .filter(|d| {
            d.enabled
                .as_ref()
                .is_some_and(|e| e.user.eq_ignore_ascii_case(user) && e.user_id == user_id)
        })
        .ok_or_else(|| not_enabled(serial, user))
}

/// Drops the API devices `iam` holds (a merged view's), so that only the file's remain.
pub fn file_only(iam: &mut Iam) {
    iam.retain_mfa_devices(|d| d.origin != Origin::Api);
}

/// Serves one account's enabled devices (its users already merged): each for its user, when
/// that user is still the one it was enabled for. A device of a name the file gives one of its
/// devices is shadowed; one whose user is gone or another user now accepts no code.
pub fn merge_into(iam: &mut Iam, account: &str, doc: &AccountDocument, skipped: &mut Vec<Skipped>) {
    let file_names: HashSet<String> = iam
        .mfa_devices()
        .filter_map(|d| split_serial(&d.serial))
        .filter(|(a, _)| *a == account)
        .map(|(_, n)| n.to_ascii_lowercase())
        .collect();
    for (key, stored) in &doc.mfa_devices {
        let Some(enabled) = &stored.enabled else {
            continue;
        };
        let serial = stored.serial(account);
        if file_names.contains(key) || iam.mfa_device(&serial).is_some() {
            skipped.push(Skipped::Shadowed(serial));
            continue;
        }
        let bound = i64::try_from(crate::totp::RESYNC_WINDOW_STEPS).unwrap_or(0);
        if enabled.drift_steps.abs() > bound {
            skipped.push(Skipped::MfaDevice {
                serial,
                problem: format!(
                    "its stored drift of {} steps is out of range",
                    enabled.drift_steps
                ),
            });
            continue;
        }
        let user = iam
            .user_named(account, &enabled.user)
            .filter(|u| u.user_id == enabled.user_id)
            .map(|u| u.arn.clone());
        let Some(user_arn) = user else {
            skipped.push(Skipped::MfaDevice {
                serial,
                problem: format!(
                    "the user {} it is enabled for is not served, or is another user now",
                    enabled.user
                ),
            });
            continue;
        };
        iam.add_mfa_device(MfaDevice {
            secret: stored.secret(account),
            serial,
            user_arn,
            drift_steps: enabled.drift_steps,
            origin: Origin::Api,
            enabled: OffsetDateTime::from_unix_timestamp(enabled.at)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::users::{StoredUser, UserChange};

    const ACCOUNT: &str = "111122223333";
    const FILE_SERIAL: &str = "arn:aws:iam::111122223333:mfa/alice";

    fn file() -> FileMfa {
        FileMfa {
            account: ACCOUNT.to_owned(),
            source: "/etc/sts-broker/broker.toml".to_owned(),
            devices: [("alice".to_owned(), FILE_SERIAL.to_owned())].into(),
            users: [("alice".to_owned(), "AIDAFILEALICE".to_owned())].into(),
            devices_per_user: [("alice".to_owned(), 1)].into(),
        }
    }

    fn device(name: &str) -> StoredMfaDevice {
        StoredMfaDevice {
            name: name.to_owned(),
            path: "/".to_owned(),
            seed: format!("sb1:k1:sealed-{name}"),
            enabled: None,
            tags: Vec::new(),
            created: 1,
        }
    }

    fn applied(doc: &AccountDocument, change: MfaChange) -> AccountDocument {
        apply(doc, &change, &file()).unwrap().0
    }

    fn refused(doc: &AccountDocument, change: MfaChange) -> IamApiError {
        let before = doc.clone();
        let e = apply(doc, &change, &file()).unwrap_err();
        assert_eq!(*doc, before);
        e
    }

    fn serial_of(name: &str) -> String {
        serial(ACCOUNT, "/", name)
    }

    fn enable(name: &str, user: &str, user_id: &str) -> MfaChange {
        MfaChange::Enable {
            serial: serial_of(name),
            user: user.to_owned(),
            user_id: user_id.to_owned(),
            seed: format!("sb1:k1:sealed-{name}"),
            at: 2,
            drift_steps: 0,
        }
    }

    /// A document with API user `bob` (its id returned).
    fn with_bob() -> (AccountDocument, String) {
        let bob = StoredUser::new("bob", "/", "AIDABOB".to_owned(), 1);
        let mut doc = AccountDocument::default();
        doc.users.insert("bob".into(), bob);
        (doc, "AIDABOB".to_owned())
    }

    #[test]
    fn a_device_whose_file_user_is_gone_may_be_deleted() {
        let doc = applied(
            &AccountDocument::default(),
            MfaChange::Create(device("tab")),
        );
        let doc = applied(&doc, enable("tab", "alice", "AIDAFILEALICE"));
        let delete = || MfaChange::Delete {
            serial: serial_of("tab"),
        };
        // Alice is in the file: deactivate first.
        assert!(matches!(
            refused(&doc, delete()),
            IamApiError::DeleteConflict(_)
        ));
        // Alice removed from the file: the device serves no one and may go, so that a user of
        // her name added later does not get it.
        let mut gone = file();
        gone.users.clear();
        let (next, ()) = apply(&doc, &delete(), &gone).unwrap();
        assert!(next.mfa_devices.is_empty());
        // Another alice (another id) in the file: the device is not hers either.
        gone.users
            .insert("alice".to_owned(), "AIDAANOTHERALICE".to_owned());
        assert!(apply(&doc, &delete(), &gone).is_ok());
    }

    #[test]
    fn create_enable_deactivate_delete() {
        let (doc, bob) = with_bob();
        let doc = applied(&doc, MfaChange::Create(device("Phone")));
        assert!(matches!(
            refused(&doc, MfaChange::Create(device("phone"))),
            IamApiError::AlreadyExists(_)
        ));
        assert!(matches!(
            refused(&doc, MfaChange::Create(device("ALICE"))),
            IamApiError::AlreadyExists(m) if m.contains("broker.toml")
        ));
        // Enabled for the API user; again is refused; for a file user of another id, too.
        let doc = applied(&doc, enable("Phone", "BOB", &bob));
        assert_eq!(
            doc.mfa_devices["phone"].enabled.as_ref().unwrap().user,
            "BOB"
        );
        assert!(enabled_for(&doc, &bob));
        assert!(matches!(
            refused(&doc, enable("Phone", "bob", &bob)),
            IamApiError::AlreadyExists(_)
        ));
        // Deleting it, or its user, is refused while it is enabled.
        assert!(matches!(
            refused(
                &doc,
                MfaChange::Delete {
                    serial: serial_of("Phone")
                }
            ),
            IamApiError::DeleteConflict(_)
        ));
        let users = crate::iam::users::FileUsers::default();
        let roles = crate::iam::api::FileRoles::default();
        let delete_bob = UserChange::DeleteUser { name: "bob".into() };
        assert!(matches!(
            crate::iam::users::apply(&doc, &delete_bob, &roles, &users),
            Err(IamApiError::DeleteConflict(m)) if m.contains("MFA")
        ));
        // Deactivated by another user's name: not found; by its own: done.
        let deactivate = |user: &str| MfaChange::Deactivate {
            serial: serial_of("Phone"),
            user: user.to_owned(),
            user_id: bob.clone(),
        };
        assert!(matches!(
            refused(&doc, deactivate("alice")),
            IamApiError::NoSuchEntity(_)
        ));
        let doc = applied(&doc, deactivate("bob"));
        assert!(!enabled_for(&doc, &bob));
        assert!(crate::iam::users::apply(&doc, &delete_bob, &roles, &users).is_ok());
        assert!(matches!(
            refused(&doc, deactivate("bob")),
            IamApiError::NoSuchEntity(_)
        ));
        let doc = applied(
            &doc,
            MfaChange::Delete {
                serial: serial_of("Phone"),
            },
        );
        assert!(doc.mfa_devices.is_empty());
        assert!(matches!(
            refused(
                &doc,
                MfaChange::Delete {
                    serial: serial_of("Phone")
                }
            ),
            IamApiError::NoSuchEntity(_)
        ));
    }

    #[test]
    fn a_file_user_may_have_an_api_device_and_file_devices_are_read_only() {
        let doc = applied(
            &AccountDocument::default(),
            MfaChange::Create(device("spare")),
        );
        let doc = applied(&doc, enable("spare", "alice", "AIDAFILEALICE"));
        assert!(enabled_for(&doc, "AIDAFILEALICE"));
        for change in [
            MfaChange::Delete {
                serial: FILE_SERIAL.to_owned(),
            },
            MfaChange::Deactivate {
                serial: FILE_SERIAL.to_owned(),
                user: "alice".into(),
                user_id: "AIDAFILEALICE".into(),
            },
            enable("alice", "alice", "AIDAFILEALICE"),
        ] {
            assert!(
                matches!(refused(&doc, change.clone()), IamApiError::Unmodifiable(m) if m.contains("broker.toml")),
                "{change:?}"
            );
        }
    }

    #[test]
    fn enabling_needs_the_same_user_and_device_and_at_most_eight_per_user() {
        let (doc, bob) = with_bob();
        let mut doc = applied(&doc, MfaChange::Create(device("d0")));
        // Unknown user, another user of that name, another device of that name.
        assert!(matches!(
            refused(&doc, enable("d0", "nobody", "AIDAX")),
            IamApiError::NoSuchEntity(_)
        ));
        assert!(matches!(
            refused(&doc, enable("d0", "bob", "AIDAOLDBOB")),
            IamApiError::ConcurrentModification(_)
        ));
        let mut other_seed = enable("d0", "bob", &bob);
        if let MfaChange::Enable { seed, .. } = &mut other_seed {
            *seed = "sb1:k1:another".into();
        }
        assert!(matches!(
            refused(&doc, other_seed),
            IamApiError::ConcurrentModification(_)
        ));
        assert!(matches!(
            refused(&doc, enable("absent", "bob", &bob)),
            IamApiError::NoSuchEntity(_)
        ));
        // Bob: eight; alice: seven more besides her file device.
        for i in 0..8 {
            let name = format!("b{i}");
            doc = applied(&doc, MfaChange::Create(device(&name)));
            doc = applied(&doc, enable(&name, "bob", &bob));
        }
        assert!(matches!(
            refused(&doc, enable("d0", "bob", &bob)),
            IamApiError::LimitExceeded(m) if m.contains("MFADevicesPerUser: 8")
        ));
        for i in 0..7 {
            let name = format!("a{i}");
            doc = applied(&doc, MfaChange::Create(device(&name)));
            doc = applied(&doc, enable(&name, "alice", "AIDAFILEALICE"));
        }
        assert!(matches!(
            refused(&doc, enable("d0", "alice", "AIDAFILEALICE")),
            IamApiError::LimitExceeded(_)
        ));
    }

    #[test]
    fn resync_records_the_drift_of_the_device_enabled_for_that_user() {
        let (doc, bob) = with_bob();
        let doc = applied(&doc, MfaChange::Create(device("d")));
        let resync = |user: &str, drift: i64| MfaChange::Resync {
            serial: serial_of("d"),
            user: user.to_owned(),
            user_id: bob.clone(),
            seed: "sb1:k1:sealed-d".to_owned(),
            drift_steps: drift,
        };
        assert!(matches!(
            refused(&doc, resync("bob", 3)),
            IamApiError::NoSuchEntity(_)
        ));
        let doc = applied(&doc, enable("d", "bob", &bob));
        let doc = applied(&doc, resync("bob", -4));
        assert_eq!(
            doc.mfa_devices["d"].enabled.as_ref().unwrap().drift_steps,
            -4
        );
    }

    #[test]
    fn serials_and_inputs() {
        assert_eq!(
            serial(ACCOUNT, "/team/", "phone"),
            "arn:aws:iam::111122223333:mfa/team/phone"
        );
        assert_eq!(
            split_serial("arn:aws:iam::111122223333:mfa/team/phone"),
            Some((ACCOUNT, "phone"))
        );
        assert_eq!(split_serial("arn:aws:iam::111122223333:user/phone"), None);
        assert_eq!(split_serial("arn:aws:iam::111122223333:mfa/"), None);
        assert!(check_serial(FILE_SERIAL).is_ok());
        for bad in ["short", "arn:aws:iam::1:mfa/a b", &"a".repeat(257)] {
            assert!(
                matches!(check_serial(bad), Err(IamApiError::Validation(_))),
                "{bad}"
            );
        }
        assert!(check_code("authenticationCode1", "012345").is_ok());
        for bad in ["12345", "1234567", "12345a"] {
            assert!(check_code("authenticationCode1", bad).is_err(), "{bad}");
        }
        assert!(check_name(&"n".repeat(226)).is_ok());
        assert!(check_name(&"n".repeat(227)).is_err());
        // The sealed seed is not printed.
        let printed = format!("{:?}", device("x"));
        assert!(
            !printed.contains("sealed-x") && printed.contains("k1"),
            "{printed}"
        );
    }

    #[test]
    fn enabled_devices_are_served_for_their_user_only() {
        use crate::iam::{Account, User};
        let mut iam = Iam::default();
        iam.accounts.insert(
            ACCOUNT.to_owned(),
            Account {
                id: ACCOUNT.to_owned(),
                alias: None,
                api_alias: None,
            },
        );
        let (mut doc, bob) = with_bob();
        let stored_bob = doc.users["bob"].clone();
        let user: User = stored_bob
            .to_user(ACCOUNT, &HashMap::new(), &|_| None)
            .unwrap();
        iam.add_user(user);
        doc = applied(&doc, MfaChange::Create(device("on")));
        doc = applied(&doc, MfaChange::Create(device("off")));
        doc = applied(&doc, enable("on", "bob", &bob));
        let mut stale = device("stale");
        stale.enabled = Some(Enabled {
            user: "bob".into(),
            user_id: "AIDAOLDBOB".into(),
            at: 1,
            drift_steps: 0,
        });
        doc.mfa_devices.insert("stale".into(), stale);
        let mut skipped = Vec::new();
        merge_into(&mut iam, ACCOUNT, &doc, &mut skipped);
        let served = iam.mfa_device(&serial_of("on")).unwrap();
        assert_eq!(served.user_arn, "arn:aws:iam::111122223333:user/bob");
        assert_eq!(served.origin, Origin::Api);
        assert!(matches!(
            &served.secret,
            HeldSecret::Sealed { context, .. } if context == &mfa_context(&serial_of("on"))
        ));
        assert!(iam.mfa_device(&serial_of("off")).is_none());
        assert!(iam.mfa_device(&serial_of("stale")).is_none());
        assert!(matches!(&skipped[..], [Skipped::MfaDevice { .. }]));
        // Merged again: the API's are dropped first, not doubled.
        file_only(&mut iam);
        assert_eq!(iam.mfa_devices().count(), 0);
        // A drift is served as recorded (codes are checked at the device's time); one out of
        // range is not served at all.
        let drifted = |steps: i64| {
            let mut d = doc.clone();
            if let Some(e) = d.mfa_devices.get_mut("on").and_then(|x| x.enabled.as_mut()) {
                e.drift_steps = steps;
            }
            d
        };
        let mut skipped = Vec::new();
        merge_into(&mut iam, ACCOUNT, &drifted(-3), &mut skipped);
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let served = iam.mfa_device(&serial_of("on")).unwrap();
        assert_eq!(served.device_time(now), now - time::Duration::seconds(90));
        file_only(&mut iam);
        let mut skipped = Vec::new();
        merge_into(&mut iam, ACCOUNT, &drifted(11), &mut skipped);
        assert!(iam.mfa_device(&serial_of("on")).is_none());
        assert!(
            skipped.iter().any(
                |s| matches!(s, Skipped::MfaDevice { problem, .. } if problem.contains("drift"))
            )
        );
    }
}
