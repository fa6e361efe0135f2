//! Passwords as IAM keeps them (docs/operations.md, "Passwords through IAM's API"): the
//! account's password policy (IAM's fields, limits and defaults), users' login profiles stored
//! in the account's [`AccountDocument`] with their password as an Argon2id hash only (a PHC
//! string that records its parameters, so they can be raised later), the checks on every
//! password (IAM's `PasswordPolicyViolation`, naming each rule broken), and the changes as pure
//! functions ([`apply`]). No I/O, no clock, no randomness: the broker hashes off the runtime
//! with a salt it draws, and passes `now`.
//!
//! The file's policy (`[[accounts]] password_policy`) is the read-only base layer: when it sets
//! one, the API serves it and refuses to change it; else the API's policy is served. A login
//! profile belongs to a user of its account (an API user or a file user) by the user's id: one
//! of a user deleted and made again, or a file user replaced by another, is not served.

use std::collections::HashMap;
use std::fmt;
use std::ops::RangeInclusive;

use argon2::password_hash::phc::PasswordHash as Phc;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::api::{AccountDocument, IamApiError, bounded};
use super::users::no_such_user;
use super::{Iam, Origin};
use crate::encoding::shorten;
use crate::secret::Secret;

/// `MinimumPasswordLength`'s range, and its value when a policy leaves it unset.
pub const MINIMUM_LENGTH: RangeInclusive<i64> = 6..=128;
pub const DEFAULT_MINIMUM_LENGTH: u32 = 6;
/// `MaxPasswordAge`'s range, days.
pub const MAX_AGE_DAYS: RangeInclusive<i64> = 1..=1095;
/// `PasswordReusePrevention`'s range: how many of the last passwords may not be set again.
pub const REUSE_PREVENTION: RangeInclusive<i64> = 1..=24;
/// A password parameter's length in IAM's model, characters.
pub const MAX_PASSWORD_CHARS: usize = 128;
/// The symbols IAM's `RequireSymbols` counts.
pub const SYMBOLS: &str = "!@#$%^&*()_+-=[]{}|'";
/// Without a policy, IAM's default one: at least 8 characters, of at least three of the four
/// kinds (uppercase, lowercase, numbers, symbols).
pub const DEFAULT_POLICY_MINIMUM_LENGTH: usize = 8;

/// An account's password policy, as IAM's `UpdateAccountPasswordPolicy` sets it and
/// `GetAccountPasswordPolicy` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordPolicy {
    pub minimum_length: u32,
    #[serde(default)]
    pub require_symbols: bool,
    #[serde(default)]
    pub require_numbers: bool,
    #[serde(default)]
    pub require_uppercase: bool,
    #[serde(default)]
    pub require_lowercase: bool,
    #[serde(default)]
    pub allow_users_to_change: bool,
    /// Days a password is valid; none: passwords never expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_days: Option<u32>,
    /// How many of the last passwords (the current one included) may not be set again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse_prevention: Option<u32>,
    /// An expired password cannot be changed by its user: an administrator must reset it.
    #[serde(default)]
    pub hard_expiry: bool,
}

/// A policy as given, before its bounds are checked: `UpdateAccountPasswordPolicy`'s
/// parameters or the file's `password_policy` (absent values take IAM's defaults).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyInput {
    pub minimum_length: Option<i64>,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub allow_users_to_change: bool,
    pub max_age_days: Option<i64>,
    pub reuse_prevention: Option<i64>,
    pub hard_expiry: bool,
}

impl PolicyInput {
    /// The policy, or every value out of IAM's range: (the parameter as IAM's model names it,
    /// the bound it breaks).
    pub fn checked(&self) -> Result<PasswordPolicy, Vec<(&'static str, String)>> {
        let mut problems = Vec::new();
        let mut bound = |param: &'static str, value: Option<i64>, range: RangeInclusive<i64>| {
            let value = value?;
            if value < *range.start() {
                problems.push((
                    param,
                    format!(
                        "Value '{value}' at '{param}' failed to satisfy constraint: Member must \
                         have value greater than or equal to {}",
                        range.start()
                    ),
                ));
                return None;
            }
            if value > *range.end() {
                problems.push((
                    param,
                    format!(
                        "Value '{value}' at '{param}' failed to satisfy constraint: Member must \
                         have value less than or equal to {}",
                        range.end()
                    ),
                ));
                return None;
            }
            u32::try_from(value).ok()
        };
        let minimum_length = bound("minimumPasswordLength", self.minimum_length, MINIMUM_LENGTH);
        let max_age_days = bound("maxPasswordAge", self.max_age_days, MAX_AGE_DAYS);
        let reuse_prevention = bound(
            "passwordReusePrevention",
            self.reuse_prevention,
            REUSE_PREVENTION,
        );
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(PasswordPolicy {
            minimum_length: minimum_length.unwrap_or(DEFAULT_MINIMUM_LENGTH),
            require_symbols: self.require_symbols,
            require_numbers: self.require_numbers,
            require_uppercase: self.require_uppercase,
            require_lowercase: self.require_lowercase,
            allow_users_to_change: self.allow_users_to_change,
            max_age_days,
            reuse_prevention,
            hard_expiry: self.hard_expiry,
        })
    }

    /// [`Self::checked`] with IAM's `ValidationError` naming every value out of range.
    pub fn to_policy(&self) -> Result<PasswordPolicy, IamApiError> {
        self.checked().map_err(|problems| {
            let n = problems.len();
            let plural = if n == 1 { "error" } else { "errors" };
            let listed: Vec<String> = problems.into_iter().map(|(_, m)| m).collect();
            IamApiError::Validation(format!(
                "{n} validation {plural} detected: {}",
                listed.join("; ")
            ))
        })
    }
}

/// The policy served for an account: the file's when it sets one, else the API's.
pub fn served_policy(
    iam: &Iam,
    account: &str,
    doc: Option<&AccountDocument>,
) -> Option<PasswordPolicy> {
    iam.password_policies
        .get(account)
        .copied()
        .or_else(|| doc.and_then(|d| d.password_policy))
}

/// A rule of the policy a password breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    MinimumLength(usize),
    Symbol,
    Number,
    Uppercase,
    Lowercase,
    /// Without a policy: IAM's default asks for three of the four kinds of character.
    ThreeKinds,
    /// One of the last `n` passwords.
    Reused(u32),
}

impl Rule {
    /// How IAM's `PasswordPolicyViolation` names it.
    pub fn message(self) -> String {
        match self {
            Rule::MinimumLength(n) => format!("Password should have a minimum length of {n}"),
            Rule::Symbol => format!("Password should have at least one symbol ({SYMBOLS})"),
            Rule::Number => "Password should have at least one number".to_owned(),
            Rule::Uppercase => "Password should have at least one uppercase letter".to_owned(),
            Rule::Lowercase => "Password should have at least one lowercase letter".to_owned(),
            Rule::ThreeKinds => "Password should have at least three of: uppercase letters, \
                                 lowercase letters, numbers and symbols (the default policy)"
                .to_owned(),
            Rule::Reused(n) => {
                format!("Password has been used before (the last {n} passwords cannot be reused)")
            }
        }
    }
}

/// The rules of `policy` (IAM's default one when none is set) that `password` breaks, but
/// reuse, which needs the stored hashes ([`reused`]).
pub fn rules_broken(policy: Option<&PasswordPolicy>, password: &str) -> Vec<Rule> {
    let chars = password.chars().count();
    let has_upper = password.chars().any(|c| c.is_ascii_uppercase());
    let has_lower = password.chars().any(|c| c.is_ascii_lowercase());
    let has_number = password.chars().any(|c| c.is_ascii_digit());
    let has_symbol = password.chars().any(|c| SYMBOLS.contains(c));
    let mut broken = Vec::new();
    match policy {
        Some(p) => {
            let minimum = usize::try_from(p.minimum_length).unwrap_or(usize::MAX);
            if chars < minimum {
                broken.push(Rule::MinimumLength(minimum));
            }
            if p.require_symbols && !has_symbol {
                broken.push(Rule::Symbol);
            }
            if p.require_numbers && !has_number {
                broken.push(Rule::Number);
            }
            if p.require_uppercase && !has_upper {
                broken.push(Rule::Uppercase);
            }
            if p.require_lowercase && !has_lower {
                broken.push(Rule::Lowercase);
            }
        }
        None => {
            if chars < DEFAULT_POLICY_MINIMUM_LENGTH {
                broken.push(Rule::MinimumLength(DEFAULT_POLICY_MINIMUM_LENGTH));
            }
            let kinds = [has_upper, has_lower, has_number, has_symbol]
                .iter()
                .filter(|k| **k)
                .count();
            if kinds < 3 {
                broken.push(Rule::ThreeKinds);
            }
        }
    }
    broken
}

/// IAM's `PasswordPolicyViolation`, naming each rule broken.
pub fn violation(rules: &[Rule]) -> IamApiError {
    let named: Vec<String> = rules.iter().map(|r| r.message()).collect();
    IamApiError::PasswordPolicyViolation(format!(
        "Password does not conform to the account password policy: {}.",
        named.join("; ")
    ))
}

/// `password` against `policy`'s rules (IAM's default policy without one): `PasswordPolicyViolation`
/// naming each rule broken.
pub fn follows_rules(policy: Option<&PasswordPolicy>, password: &str) -> Result<(), IamApiError> {
    let broken = rules_broken(policy, password);
    if broken.is_empty() {
        Ok(())
    } else {
        Err(violation(&broken))
    }
}

/// A password parameter (`Password`, `OldPassword`, `NewPassword`): 1–128 characters of
/// `[\u0009\u000A\u000D\u0020-\u00FF]`, as IAM's model has it. The message never shows it.
pub fn check_password_param(param: &str, value: &str) -> Result<(), IamApiError> {
    let n = value.chars().count();
    let refused = |constraint: &str| {
        IamApiError::Validation(format!(
            "1 validation error detected: Value at '{param}' failed to satisfy constraint: \
             Member must {constraint}"
        ))
    };
    if n < 1 {
        return Err(refused("have length greater than or equal to 1"));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(refused(&format!(
            "have length less than or equal to {MAX_PASSWORD_CHARS}"
        )));
    }
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}');
    if !value.chars().all(allowed) {
        return Err(refused(
            r"satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u00FF]+",
        ));
    }
    Ok(())
}

/// A password's Argon2id hash as a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`): what
/// is stored, never the password. `Debug` shows only its parameters.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.params() {
            Some(p) => write!(
                f,
                "PasswordHash(argon2id m={} t={} p={})",
                p.memory_kib, p.iterations, p.parallelism
            ),
            None => f.write_str("PasswordHash(<not argon2id>)"),
        }
    }
}

impl PasswordHash {
    /// A stored PHC string (what the store holds).
    pub fn from_stored(text: String) -> PasswordHash {
        PasswordHash(text)
    }

    /// The PHC string, for the store.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its Argon2id parameters, when it is an Argon2id hash of version 0x13.
    pub fn params(&self) -> Option<HashParams> {
        hash_params(&self.0)
    }
}

/// The Argon2id parameters of the PHC string `text`, when it is an Argon2id hash of version
/// 0x13 (`v=19`, the only one [`verify_hash`] verifies) with parameters Argon2 accepts.
pub fn hash_params(text: &str) -> Option<HashParams> {
    let phc = Phc::new(text).ok()?;
    if phc.algorithm.as_str() != "argon2id" || phc.version != Some(0x13) {
        return None;
    }
    let params = Params::try_from(&phc).ok()?;
    Some(HashParams {
        memory_kib: params.m_cost(),
        iterations: params.t_cost(),
        parallelism: params.p_cost(),
    })
}

/// Argon2id's costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl HashParams {
    /// Whether every cost is at least `other`'s.
    pub fn at_least(self, other: HashParams) -> bool {
        self.memory_kib >= other.memory_kib
            && self.iterations >= other.iterations
            && self.parallelism >= other.parallelism
    }
}

/// The costs new hashes get: OWASP's first recommendation for Argon2id (19 MiB, 2 passes, 1
/// lane; the argon2 crate's defaults). Raise them here: hashes of lower costs are made again
/// at their next successful verification ([`rehash_if_weaker`]).
pub const CURRENT_PARAMS: HashParams = HashParams {
    memory_kib: 19 * 1024,
    iterations: 2,
    parallelism: 1,
};

/// The most a stored hash may ask for to be verified at all (a damaged or planted hash must
/// not make one verification cost what a thousand do): 256 MiB, 16 passes, 4 lanes.
pub const MAX_VERIFY_PARAMS: HashParams = HashParams {
    memory_kib: 256 * 1024,
    iterations: 16,
    parallelism: 4,
};

/// Bytes of salt per hash (the PHC string format's recommended length).
pub const SALT_BYTES: usize = 16;

/// Why no hash could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the password could not be hashed: {0}")]
pub struct HashError(String);

/// The Argon2id hash of `password` with `salt` at `params`.
pub fn hash_password(
    password: &Secret,
    salt: &[u8; SALT_BYTES],
    params: HashParams,
) -> Result<PasswordHash, HashError> {
    let params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        None,
    )
    .map_err(|e| HashError(e.to_string()))?;
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let phc = hasher
        .hash_password_with_salt(password.expose().as_bytes(), salt)
        .map_err(|e| HashError(e.to_string()))?;
    Ok(PasswordHash(phc.to_string()))
}

/// Whether `candidate` is the password of `hash`: Argon2id at the hash's own parameters, the
/// outputs compared in constant time (argon2's verifier). A hash that is not Argon2id, or asks
/// for more than [`MAX_VERIFY_PARAMS`], verifies nothing.
pub fn verify_hash(hash: &PasswordHash, candidate: &Secret) -> bool {
    let Some(params) = hash.params() else {
        return false;
    };
    if !MAX_VERIFY_PARAMS.at_least(params) {
        return false;
    }
    let Ok(phc) = Phc::new(&hash.0) else {
        return false;
    };
    Argon2::default()
        .verify_password(candidate.expose().as_bytes(), &phc)
        .is_ok()
}

/// The hash made again at `current` when `candidate` verifies against `hash` and `hash`'s
/// costs are lower than `current`'s; none otherwise (nothing to store).
pub fn rehash_if_weaker(
    hash: &PasswordHash,
    candidate: &Secret,
    salt: &[u8; SALT_BYTES],
    current: HashParams,
) -> Option<PasswordHash> {
    let params = hash.params()?;
    if params.at_least(current) || !verify_hash(hash, candidate) {
        return None;
    }
    hash_password(candidate, salt, current).ok()
}

/// A user's login profile, as stored: the hash of the password, and of the ones before it as
/// many as the policy's reuse prevention keeps.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLoginProfile {
    /// The user's name in the profile's account (an API user or a file user).
    pub user: String,
    /// The user's id when the profile was made: another user of that name does not have it.
    pub user_id: String,
    pub hash: PasswordHash,
    /// The hashes of the passwords before it, newest first (at most the policy's reuse
    /// prevention less one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous: Vec<PasswordHash>,
    /// Unix seconds: `CreateDate`.
    pub created: i64,
    /// Unix seconds: when the password was last set (what expiry counts from).
    pub password_last_changed: i64,
    /// The user must set a new password at the next sign-in.
    #[serde(default)]
    pub reset_required: bool,
}

/// No hash is printed, only how many are kept.
impl fmt::Debug for StoredLoginProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredLoginProfile")
            .field("user", &self.user)
            .field("user_id", &self.user_id)
            .field("previous_kept", &self.previous.len())
            .field("created", &self.created)
            .field("password_last_changed", &self.password_last_changed)
            .field("reset_required", &self.reset_required)
            .finish_non_exhaustive()
    }
}

/// Whether `candidate` is the profile's password (constant time, through argon2's verifier).
pub fn verify_password(profile: &StoredLoginProfile, candidate: &Secret) -> bool {
    verify_hash(&profile.hash, candidate)
}

/// Whether `candidate` is one of the last `n` passwords of `profile` (the current one
/// included). Every kept hash is tried, so the time taken does not say which matched.
pub fn reused(profile: &StoredLoginProfile, candidate: &Secret, n: u32) -> bool {
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    let mut found = false;
    for hash in std::iter::once(&profile.hash)
        .chain(&profile.previous)
        .take(n)
    {
        found |= verify_hash(hash, candidate);
    }
    found
}

/// What a password's state lets its user do at sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordState {
    Valid,
    /// Older than the policy's `max_age_days`; with `hard_expiry` the user cannot set a new
    /// one: an administrator must (`UpdateLoginProfile`).
    Expired {
        hard: bool,
    },
    /// An administrator asked for a new one (`PasswordResetRequired`): the user must set it
    /// before anything else.
    ResetRequired,
}

/// When the password must be changed next: last changed plus the policy's `max_age_days`;
/// none when passwords do not expire.
pub fn password_next_rotation(
    profile: &StoredLoginProfile,
    policy: Option<&PasswordPolicy>,
) -> Option<OffsetDateTime> {
    let days = policy?.max_age_days?;
    let changed = OffsetDateTime::from_unix_timestamp(profile.password_last_changed).ok()?;
    changed.checked_add(time::Duration::days(i64::from(days)))
}

/// The password's state at `now` under `policy`: expired once `now` reaches its next rotation,
/// else reset required when an administrator asked for it, else valid.
pub fn password_state(
    profile: &StoredLoginProfile,
    policy: Option<&PasswordPolicy>,
    now: OffsetDateTime,
) -> PasswordState {
    if let Some(due) = password_next_rotation(profile, policy)
        && now >= due
    {
        return PasswordState::Expired {
            hard: policy.is_some_and(|p| p.hard_expiry),
        };
    }
    if profile.reset_required {
        return PasswordState::ResetRequired;
    }
    PasswordState::Valid
}

/// The profile of the user of id `user_id` named `user` in `doc`, if it has one.
pub fn profile_of<'a>(
    doc: &'a AccountDocument,
    user: &str,
    user_id: &str,
) -> Option<&'a StoredLoginProfile> {
    doc.login_profiles
        .get(&user.to_ascii_lowercase())
        .filter(|p| p.user_id == user_id)
}

/// Whether the user of id `user_id` has a login profile (`DeleteUser` is refused while it
/// has, as in IAM).
pub fn has_profile(doc: &AccountDocument, user_id: &str) -> bool {
    doc.login_profiles.values().any(|p| p.user_id == user_id)
}

/// IAM's `NoSuchEntity` for a user without a login profile.
pub fn no_such_profile(user: &str) -> IamApiError {
    IamApiError::NoSuchEntity(format!(
        "Login Profile for User {} cannot be found.",
        shorten(user)
    ))
}

/// IAM's `NoSuchEntity` for an account without a password policy.
pub fn no_such_policy(account: &str) -> IamApiError {
    IamApiError::NoSuchEntity(format!(
        "The Password Policy with domain name {account} cannot be found."
    ))
}

/// The file's password policy and users of one account, as [`apply`] needs them.
#[derive(Debug, Clone, Default)]
pub struct FileLogins {
    pub account: String,
    /// The configuration file.
    pub source: String,
    /// Whether the file sets the account's password policy.
    pub sets_policy: bool,
    /// The file's users: id by name in lowercase.
    pub users: HashMap<String, String>,
}

impl FileLogins {
    /// What the file of `iam` (a merged view: API users are told apart by their origin) has
    /// for `account`.
    pub fn of(iam: &Iam, account: &str, source: &str) -> FileLogins {
        let mut out = FileLogins {
            account: account.to_owned(),
            source: source.to_owned(),
            sets_policy: iam.password_policies.contains_key(account),
            users: HashMap::new(),
        };
        for u in iam.users().filter(|u| u.account == account) {
            if let Origin::File(s) = &u.about.origin {
                out.source.clone_from(s);
                out.users
                    .insert(u.name.to_ascii_lowercase(), u.user_id.clone());
            }
        }
        out
    }
}

/// A password that was checked (against the policy and the kept hashes) and hashed, with the
/// hash it replaces as the check saw it: stored only if that is still the stored one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPassword {
    pub hash: PasswordHash,
    /// The profile's hash when the password was checked (none: no profile then).
    pub replaces: Option<PasswordHash>,
    /// Hashes to keep of the passwords before it (the policy's reuse prevention less one).
    pub keep_previous: usize,
}

/// A change to an account's password policy or login profiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordChange {
    /// `UpdateAccountPasswordPolicy`: replaces the whole policy.
    SetPolicy(PasswordPolicy),
    DeletePolicy,
    Create {
        user: String,
        user_id: String,
        password: NewPassword,
        reset_required: bool,
        at: i64,
    },
    /// `UpdateLoginProfile` (an administrator) and `ChangePassword` (the user: the reset
    /// requirement is cleared): what is given is set.
    Update {
        user: String,
        user_id: String,
        password: Option<NewPassword>,
        reset_required: Option<bool>,
        at: i64,
    },
    /// A verified password's hash made again at higher costs ([`rehash_if_weaker`]): stored
    /// only if `replaces` is still the stored hash.
    Rehash {
        user: String,
        user_id: String,
        hash: PasswordHash,
        replaces: PasswordHash,
    },
    Delete {
        user: String,
        user_id: String,
    },
}

fn changed_under() -> IamApiError {
    IamApiError::ConcurrentModification(
        "The login profile or its user changed while this request was handled. Submit your \
         request again."
            .to_owned(),
    )
}

/// Applies `change` to `doc`. Refused changes leave nothing behind (the caller keeps `doc`).
pub fn apply(
    doc: &AccountDocument,
    change: &PasswordChange,
    file: &FileLogins,
) -> Result<(AccountDocument, ()), IamApiError> {
    let mut next = doc.clone();
    let (user, user_id) = match change {
        PasswordChange::SetPolicy(policy) => {
            if file.sets_policy {
                return Err(policy_unmodifiable(file));
            }
            next.password_policy = Some(*policy);
            return Ok((next, ()));
        }
        PasswordChange::DeletePolicy => {
            if file.sets_policy {
                return Err(policy_unmodifiable(file));
            }
            if next.password_policy.take().is_none() {
                return Err(no_such_policy(&file.account));
            }
            return Ok((next, ()));
        }
        PasswordChange::Create { user, user_id, .. }
        | PasswordChange::Update { user, user_id, .. }
        | PasswordChange::Rehash { user, user_id, .. }
        | PasswordChange::Delete { user, user_id } => (user, user_id),
    };
    let key = user.to_ascii_lowercase();
    let current_id = file
        .users
        .get(&key)
        .or_else(|| next.users.get(&key).map(|u| &u.user_id))
        .ok_or_else(|| no_such_user(user))?;
    if current_id != user_id {
        return Err(changed_under());
    }
    let existing = next
        .login_profiles
        .get(&key)
        .filter(|p| &p.user_id == user_id);
    match change {
        PasswordChange::SetPolicy(_) | PasswordChange::DeletePolicy => {}
        PasswordChange::Create {
            password,
            reset_required,
            at,
            ..
        } => {
            if existing.is_some() {
                return Err(IamApiError::AlreadyExists(format!(
                    "Login Profile for user {user} already exists."
                )));
            }
            if password.replaces.is_some() {
                return Err(changed_under());
            }
            // A profile left by another user of that name (deleted from the file) is replaced.
            next.login_profiles.insert(
                key,
                StoredLoginProfile {
                    user: user.clone(),
                    user_id: user_id.clone(),
                    hash: password.hash.clone(),
                    previous: Vec::new(),
                    created: *at,
                    password_last_changed: *at,
                    reset_required: *reset_required,
                },
            );
        }
        PasswordChange::Update {
            password,
            reset_required,
            at,
            ..
        } => {
            let mut profile = existing.cloned().ok_or_else(|| no_such_profile(user))?;
            if let Some(new) = password {
                if new.replaces.as_ref() != Some(&profile.hash) {
                    return Err(changed_under());
                }
                let old = std::mem::replace(&mut profile.hash, new.hash.clone());
                profile.previous.insert(0, old);
                profile.previous.truncate(new.keep_previous);
                profile.password_last_changed = *at;
            }
            if let Some(r) = reset_required {
                profile.reset_required = *r;
            }
            next.login_profiles.insert(key, profile);
        }
        PasswordChange::Rehash { hash, replaces, .. } => {
            let profile = next
                .login_profiles
                .get_mut(&key)
                .filter(|p| &p.user_id == user_id)
                .ok_or_else(|| no_such_profile(user))?;
            if &profile.hash != replaces {
                return Err(changed_under());
            }
            profile.hash = hash.clone();
        }
        PasswordChange::Delete { .. } => {
            if existing.is_none() {
                return Err(no_such_profile(user));
            }
            next.login_profiles.remove(&key);
            return Ok((next, ()));
        }
    }
    Ok((bounded(next)?, ()))
}

fn policy_unmodifiable(file: &FileLogins) -> IamApiError {
    IamApiError::Unmodifiable(format!(
        "Cannot modify the password policy of account {}: it is set in the configuration file \
         {} (password_policy of its [[accounts]] entry); change it there.",
        file.account, file.source
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheap costs for tests that hash many times (the costs are recorded with each hash).
    const CHEAP: HashParams = HashParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    const SALT: [u8; SALT_BYTES] = *b"0123456789abcdef";

    fn secret(s: &str) -> Secret {
        Secret::new(s.to_owned())
    }

    fn profile(password: &str, changed: i64) -> StoredLoginProfile {
        StoredLoginProfile {
            user: "alice".to_owned(),
            user_id: "AIDAALICE".to_owned(),
            hash: hash_password(&secret(password), &SALT, CHEAP).unwrap(),
            previous: Vec::new(),
            created: changed,
            password_last_changed: changed,
            reset_required: false,
        }
    }

    fn strict() -> PasswordPolicy {
        PolicyInput {
            minimum_length: Some(14),
            require_symbols: true,
            require_numbers: true,
            require_uppercase: true,
            require_lowercase: true,
            allow_users_to_change: true,
            max_age_days: Some(90),
            reuse_prevention: Some(24),
            hard_expiry: false,
        }
        .checked()
        .unwrap()
    }

    #[test]
    fn hashes_are_argon2id_phc_strings_that_verify_only_their_password() {
        let h = hash_password(&secret("correct horse"), &SALT, CHEAP).unwrap();
        assert!(
            h.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
            "{}",
            h.as_str()
        );
        assert!(!h.as_str().contains("correct horse"));
        assert!(verify_hash(&h, &secret("correct horse")));
        assert!(!verify_hash(&h, &secret("correct horsf")));
        assert!(!verify_hash(&h, &secret("")));
        assert_eq!(format!("{h:?}"), "PasswordHash(argon2id m=64 t=1 p=1)");
        let p = profile("correct horse", 0);
        assert!(verify_password(&p, &secret("correct horse")));
        assert!(!format!("{p:?}").contains("argon2"), "{p:?}");
    }

    #[test]
    fn other_algorithms_and_excessive_costs_verify_nothing() {
        let h = hash_password(&secret("pw"), &SALT, CHEAP).unwrap();
        let as_argon2i = PasswordHash(h.as_str().replacen("argon2id", "argon2i", 1));
        assert!(!verify_hash(&as_argon2i, &secret("pw")));
        let huge = PasswordHash(h.as_str().replacen("m=64", "m=4194304", 1));
        assert!(!verify_hash(&huge, &secret("pw")));
        assert!(!verify_hash(
            &PasswordHash("plain".to_owned()),
            &secret("plain")
        ));
    }

    #[test]
    fn a_weaker_hash_is_made_again_at_the_current_costs_after_it_verified() {
        let stronger = HashParams {
            memory_kib: 128,
            iterations: 2,
            parallelism: 1,
        };
        let weak = hash_password(&secret("pw"), &SALT, CHEAP).unwrap();
        assert_eq!(
            rehash_if_weaker(&weak, &secret("wrong"), &SALT, stronger),
            None
        );
        let again = rehash_if_weaker(&weak, &secret("pw"), &SALT, stronger).unwrap();
        assert_eq!(again.params(), Some(stronger));
        assert!(verify_hash(&again, &secret("pw")));
        // At the current costs already: nothing to store.
        assert_eq!(
            rehash_if_weaker(&again, &secret("pw"), &SALT, stronger),
            None
        );
        assert_eq!(rehash_if_weaker(&again, &secret("pw"), &SALT, CHEAP), None);
    }

    #[test]
    fn the_current_costs_are_owasps() {
        let h = hash_password(&secret("pw"), &SALT, CURRENT_PARAMS).unwrap();
        assert!(h.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(MAX_VERIFY_PARAMS.at_least(CURRENT_PARAMS));
    }

    #[test]
    fn every_rule_broken_is_named() {
        let broken = rules_broken(Some(&strict()), "short");
        assert_eq!(
            broken,
            vec![
                Rule::MinimumLength(14),
                Rule::Symbol,
                Rule::Number,
                Rule::Uppercase
            ]
        );
        let message = violation(&broken).to_string();
        for r in &broken {
            assert!(message.contains(&r.message()), "{message}");
        }
        assert!(!message.contains("short"));
        assert!(rules_broken(Some(&strict()), "Abcdefgh1234!x").is_empty());
        // IAM's default policy without one: 8 characters, three kinds.
        assert_eq!(rules_broken(None, "abcdefgh"), vec![Rule::ThreeKinds]);
        assert_eq!(rules_broken(None, "Ab1"), vec![Rule::MinimumLength(8)]);
        assert!(rules_broken(None, "Abcdefg1").is_empty());
    }

    #[test]
    fn policy_values_out_of_range_are_each_refused() {
        let input = PolicyInput {
            minimum_length: Some(5),
            max_age_days: Some(1096),
            reuse_prevention: Some(0),
            ..PolicyInput::default()
        };
        let problems = input.checked().unwrap_err();
        assert_eq!(
            problems.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
            [
                "minimumPasswordLength",
                "maxPasswordAge",
                "passwordReusePrevention"
            ]
        );
        let e = input.to_policy().unwrap_err().to_string();
        assert!(
            e.starts_with("3 validation errors detected: Value '5' at 'minimumPasswordLength'"),
            "{e}"
        );
        let defaults = PolicyInput::default().checked().unwrap();
        assert_eq!(defaults.minimum_length, 6);
        assert_eq!(
            (defaults.max_age_days, defaults.reuse_prevention),
            (None, None)
        );
        for (min, age, reuse) in [(6, 1, 1), (128, 1095, 24)] {
            let ok = PolicyInput {
                minimum_length: Some(min),
                max_age_days: Some(age),
                reuse_prevention: Some(reuse),
                ..PolicyInput::default()
            };
            assert!(ok.checked().is_ok());
        }
    }

    #[test]
    fn password_parameters_are_bounded_and_never_echoed() {
        assert!(check_password_param("password", "a").is_ok());
        assert!(check_password_param("password", "tab\there ÿ").is_ok());
        let long = "x".repeat(129);
        let e = check_password_param("password", &long)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("less than or equal to 128") && !e.contains("xxx"),
            "{e}"
        );
        assert!(check_password_param("password", "").is_err());
        let e = check_password_param("password", "snowman☃")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("snowman"), "{e}");
        assert!(check_password_param("password", "nul\u{0}").is_err());
    }

    #[test]
    fn expiry_follows_the_policy_and_a_moved_clock() {
        let start = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let p = profile("pw", start.unix_timestamp());
        let mut policy = strict();
        let due = start + time::Duration::days(90);
        assert_eq!(password_next_rotation(&p, Some(&policy)), Some(due));
        assert_eq!(
            password_state(&p, Some(&policy), start),
            PasswordState::Valid
        );
        let just_before = due - time::Duration::seconds(1);
        assert_eq!(
            password_state(&p, Some(&policy), just_before),
            PasswordState::Valid
        );
        assert_eq!(
            password_state(&p, Some(&policy), due),
            PasswordState::Expired { hard: false }
        );
        policy.hard_expiry = true;
        assert_eq!(
            password_state(&p, Some(&policy), due + time::Duration::days(400)),
            PasswordState::Expired { hard: true }
        );
        // No maximum age, or no policy: never expires.
        policy.max_age_days = None;
        assert_eq!(password_next_rotation(&p, Some(&policy)), None);
        let far = start + time::Duration::days(5000);
        assert_eq!(password_state(&p, Some(&policy), far), PasswordState::Valid);
        assert_eq!(password_state(&p, None, far), PasswordState::Valid);
        let mut reset = p.clone();
        reset.reset_required = true;
        assert_eq!(
            password_state(&reset, None, far),
            PasswordState::ResetRequired
        );
    }

    fn doc_with_user() -> (AccountDocument, FileLogins) {
        let mut doc = AccountDocument::default();
        doc.users.insert(
            "alice".to_owned(),
            crate::iam::users::StoredUser::new("alice", "/", "AIDAALICE".to_owned(), 0),
        );
        let file = FileLogins {
            account: "111122223333".to_owned(),
            source: "broker.toml".to_owned(),
            ..FileLogins::default()
        };
        (doc, file)
    }

    fn set(
        doc: &AccountDocument,
        file: &FileLogins,
        password: &str,
        keep: usize,
        at: i64,
    ) -> AccountDocument {
        let replaces = doc.login_profiles.get("alice").map(|p| p.hash.clone());
        let new = NewPassword {
            hash: hash_password(&secret(password), &SALT, CHEAP).unwrap(),
            replaces: replaces.clone(),
            keep_previous: keep,
        };
        let change = match replaces {
            None => PasswordChange::Create {
                user: "alice".to_owned(),
                user_id: "AIDAALICE".to_owned(),
                password: new,
                reset_required: false,
                at,
            },
            Some(_) => PasswordChange::Update {
                user: "alice".to_owned(),
                user_id: "AIDAALICE".to_owned(),
                password: Some(new),
                reset_required: Some(false),
                at,
            },
        };
        apply(doc, &change, file).unwrap().0
    }

    #[test]
    fn reuse_prevention_refuses_the_last_n_passwords_only() {
        let (mut doc, file) = doc_with_user();
        for i in 1..=24 {
            doc = set(&doc, &file, &format!("password-{i}"), 23, i);
        }
        let p = doc.login_profiles.get("alice").unwrap();
        assert_eq!(p.previous.len(), 23);
        assert_eq!(p.password_last_changed, 24);
        // password-1 is the 24th-last: refused; the current one too.
        assert!(reused(p, &secret("password-1"), 24));
        assert!(reused(p, &secret("password-24"), 24));
        assert!(!reused(p, &secret("password-1"), 23));
        doc = set(&doc, &file, "password-25", 23, 25);
        let p = doc.login_profiles.get("alice").unwrap();
        // Now the 25th-last: allowed again.
        assert!(!reused(p, &secret("password-1"), 24));
        assert!(reused(p, &secret("password-2"), 24));
    }

    #[test]
    fn changes_check_the_user_and_the_hash_they_were_decided_on() {
        let (doc, file) = doc_with_user();
        let doc = set(&doc, &file, "first", 0, 1);
        // Created twice: refused.
        let again = PasswordChange::Create {
            user: "ALICE".to_owned(),
            user_id: "AIDAALICE".to_owned(),
            password: NewPassword {
                hash: hash_password(&secret("x"), &SALT, CHEAP).unwrap(),
                replaces: None,
                keep_previous: 0,
            },
            reset_required: false,
            at: 2,
        };
        assert!(matches!(
            apply(&doc, &again, &file),
            Err(IamApiError::AlreadyExists(_))
        ));
        // Another user of that name: refused.
        let stale = PasswordChange::Delete {
            user: "alice".to_owned(),
            user_id: "AIDAOTHER".to_owned(),
        };
        assert!(matches!(
            apply(&doc, &stale, &file),
            Err(IamApiError::ConcurrentModification(_))
        ));
        // A password decided on a hash no longer stored: refused.
        let lost = PasswordChange::Update {
            user: "alice".to_owned(),
            user_id: "AIDAALICE".to_owned(),
            password: Some(NewPassword {
                hash: hash_password(&secret("y"), &SALT, CHEAP).unwrap(),
                replaces: Some(hash_password(&secret("zzz"), &SALT, CHEAP).unwrap()),
                keep_previous: 0,
            }),
            reset_required: None,
            at: 3,
        };
        assert!(matches!(
            apply(&doc, &lost, &file),
            Err(IamApiError::ConcurrentModification(_))
        ));
        let delete = PasswordChange::Delete {
            user: "alice".to_owned(),
            user_id: "AIDAALICE".to_owned(),
        };
        let (gone, ()) = apply(&doc, &delete, &file).unwrap();
        assert!(gone.login_profiles.is_empty());
        assert!(matches!(
            apply(&gone, &delete, &file),
            Err(IamApiError::NoSuchEntity(_))
        ));
        let nobody = PasswordChange::Delete {
            user: "bob".to_owned(),
            user_id: "AIDABOB".to_owned(),
        };
        assert!(matches!(
            apply(&doc, &nobody, &file),
            Err(IamApiError::NoSuchEntity(_))
        ));
    }

    #[test]
    fn the_files_policy_cannot_be_changed_through_the_api() {
        let (doc, mut file) = doc_with_user();
        let set_policy = PasswordChange::SetPolicy(strict());
        let (with, ()) = apply(&doc, &set_policy, &file).unwrap();
        assert_eq!(with.password_policy, Some(strict()));
        let (without, ()) = apply(&with, &PasswordChange::DeletePolicy, &file).unwrap();
        assert_eq!(without.password_policy, None);
        assert!(matches!(
            apply(&without, &PasswordChange::DeletePolicy, &file),
            Err(IamApiError::NoSuchEntity(_))
        ));
        file.sets_policy = true;
        assert!(matches!(
            apply(&doc, &set_policy, &file),
            Err(IamApiError::Unmodifiable(_))
        ));
        assert!(matches!(
            apply(&with, &PasswordChange::DeletePolicy, &file),
            Err(IamApiError::Unmodifiable(_))
        ));
    }
}
