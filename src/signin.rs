//! `POST /signin` on the main listener: an IAM user's password (and, when the user has an MFA
//! device, a code of it) exchanged for temporary credentials that act as the user, as
//! `GetSessionToken`'s do (docs/operations.md, "Signing in with a password"). `sts-broker
//! login` is its client.
//!
//! The body is JSON, bounded: `{"account": ID_OR_ALIAS, "user": NAME, "password": ...,
//! "mfa_code"?, "mfa_serial"?, "new_password"?, "duration_seconds"?}`. Answers, in this order:
//! - `InvalidCredentials` (401), the same message, whether the account, the user or the
//!   password is wrong, the user has no login profile, or the name is locked after too many
//!   wrong passwords ([`crate::broker::lockout`]): an unknown name costs one Argon2id
//!   verification of a dummy hash, as a wrong password does, and counts toward a lock as one.
//!   A locked name is refused before any verification (no Argon2 cost).
//! - Only once the password verified: `MfaRequired` (401) when the user has an MFA device and
//!   no code was given; `PasswordResetRequired` / `PasswordExpired` (403) when the password
//!   must be changed and no `new_password` was given (the MFA code, if any, is not spent yet);
//!   then the code is checked ([`check_mfa`]: single use, attempts bounded per device); then a
//!   `new_password` is held to the policy (reuse included) and stored; a hard-expired password
//!   cannot be changed here, as in IAM's console: an administrator must reset it.
//! - Then the session: principal the user, `Origin::SignIn`, `aws:MultiFactorAuthPresent`
//!   true and the MFA time recorded when a code verified. Without MFA it may not call IAM
//!   (the rule GetSessionToken sessions follow). The failure count is cleared, the sign-in
//!   noted as the password's last use ([`crate::broker::key_use`]: the user's id, service
//!   `signin`), and a hash of lower costs than today's is stored again at them, off the request.
//!
//! Passwords are [`Secret`]s from the body on, never logged, echoed or stored; a body that does
//! not parse is refused without quoting it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::broker::caller::{check_mfa, check_root_mfa};
use crate::broker::error::ErrorCode;
use crate::broker::role_session::{self, NewSession};
use crate::broker::{ApiError, Broker, RequestMeta, iam_api, lockout, passwords as hashing};
use crate::iam::passwords::{
    self, PasswordChange, PasswordHash, PasswordState, StoredLoginProfile,
};
use crate::iam::root::{ROOT_NAME, Root};
use crate::iam::{MfaDevice, User};
use crate::secret::Secret;
use crate::session::{Lineage, Origin, SessionPrincipal};

/// Where the endpoint is served.
pub const PATH: &str = "/signin";
/// The audit line's action.
pub const ACTION: &str = "signin:SignIn";
/// Longest body read: two passwords of 128 characters, each escaped, and the other members.
pub const MAX_BODY: usize = 8 * 1024;
/// Longest session, and the default: `GetSessionToken`'s.
pub const MAX_SECONDS: u32 = 129_600;
pub const DEFAULT_SECONDS: u32 = 43_200;
const MIN_SECONDS: u32 = 900;
/// The service a sign-in's last use is noted with.
pub const LAST_USED_SERVICE: &str = "signin";

/// What an unknown account, user or login profile is verified against, so that its answer
/// costs what a wrong password's does: the hash of a random password nobody kept, at
/// [`passwords::CURRENT_PARAMS`] (a unit test holds it there).
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$alO2tFu6Y6Byt+GwpiETew$F1LTFqqggnROf9N+nrPw8PUaGlG30IIRUFvLaezl95U";

/// The request body. Passwords are taken into [`Secret`]s as soon as it is read; `Debug`
/// shows none of them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    account: String,
    #[serde(default)]
    user: Option<String>,
    /// Sign in as the account's root user (`[[accounts]] root`) rather than an IAM user.
    #[serde(default)]
    root: bool,
    password: String,
    #[serde(default)]
    mfa_code: Option<String>,
    #[serde(default)]
    mfa_serial: Option<String>,
    #[serde(default)]
    new_password: Option<String>,
    #[serde(default)]
    duration_seconds: Option<u32>,
}

/// A request checked for shape.
struct Ask {
    /// Lowercase: an id or an alias.
    account: String,
    /// An IAM user's name; none for the account's root user.
    user: Option<String>,
    password: Secret,
    mfa: Option<(Option<String>, String)>,
    new_password: Option<Secret>,
    duration: u32,
}

/// The answer.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Output<'a> {
    credentials: CredentialsJson<'a>,
    user: UserJson<'a>,
    mfa_authenticated: bool,
    password_changed: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CredentialsJson<'a> {
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
    expiration: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UserJson<'a> {
    arn: &'a str,
    user_id: &'a str,
    account: &'a str,
}

/// The one refusal for every wrong name or password.
pub fn invalid_credentials() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidCredentials,
        "The account, user name or password is not correct, or the user cannot sign in now.",
    )
}

fn content_is_json(meta: &RequestMeta) -> bool {
    meta.raw
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .is_some_and(|(_, v)| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        })
}

/// The body read and checked for shape; no message quotes a value given.
fn ask(meta: &RequestMeta) -> Result<Ask, ApiError> {
    if !content_is_json(meta) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "Content-Type must be application/json",
        ));
    }
    if meta.raw.body.len() > MAX_BODY {
        return Err(ApiError::body_too_large(MAX_BODY));
    }
    let input: Input = serde_json::from_slice(&meta.raw.body).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!(
                "The request body is not a sign-in request (line {}, column {}): it takes \
                 account, user, password, and optionally mfa_code, mfa_serial, new_password \
                 and duration_seconds.",
                e.line(),
                e.column()
            ),
        )
    })?;
    let account = input.account.to_ascii_lowercase();
    let account_ok = (1..=63).contains(&account.len())
        && account
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !account_ok {
        return Err(ApiError::validation(
            "account must be an account id (12 digits) or an account alias",
        ));
    }
    let user = match (input.user, input.root) {
        (Some(_), true) | (None, false) => {
            return Err(ApiError::validation(
                "give user (an IAM user's name) or root = true (the account's root user)",
            ));
        }
        (None, true) => None,
        (Some(user), false) if crate::iam::is_valid_name(&user, 64) => Some(user),
        (Some(_), false) => {
            return Err(ApiError::validation(
                "user must be an IAM user name: 1 to 64 characters of letters, digits and \
                 +=,.@_-",
            ));
        }
    };
    passwords::check_password_param("password", &input.password)?;
    let password = Secret::new(input.password);
    let new_password = match input.new_password {
        Some(p) => {
            passwords::check_password_param("newPassword", &p)?;
            Some(Secret::new(p))
        }
        None => None,
    };
    let mfa = match input.mfa_code {
        Some(code) => {
            if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ApiError::validation("mfa_code must be 6 digits"));
            }
            if let Some(serial) = &input.mfa_serial
                && (serial.len() > 256 || !serial.starts_with("arn:"))
            {
                return Err(ApiError::validation(
                    "mfa_serial must be an MFA device's ARN (at most 256 characters)",
                ));
            }
            Some((input.mfa_serial, code))
        }
        None if input.mfa_serial.is_some() => {
            return Err(ApiError::validation("mfa_serial is given with mfa_code"));
        }
        None => None,
    };
    let duration = input.duration_seconds.unwrap_or(DEFAULT_SECONDS);
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&duration) {
        return Err(ApiError::validation(format!(
            "duration_seconds must be {MIN_SECONDS} to {MAX_SECONDS}"
        )));
    }
    Ok(Ask {
        account,
        user,
        password,
        mfa,
        new_password,
        duration,
    })
}

/// The account an id or alias names: an account's own id first, so no alias can stand for
/// another account's id.
fn account_id(state: &Broker, given: &str) -> Option<String> {
    let accounts = &state.config.iam.accounts;
    if accounts.contains_key(given) {
        return Some(given.to_owned());
    }
    accounts
        .values()
        .find(|a| a.served_alias() == Some(given))
        .map(|a| a.id.clone())
}

/// The stored login profile of `user`, if it has one this replica serves.
fn profile_of(state: &Broker, user: &User) -> Option<StoredLoginProfile> {
    state
        .iam_layer
        .accounts
        .get(&user.account)
        .map(|r| &r.document)
        .filter(|d| !d.is_unusable())
        .and_then(|d| passwords::profile_of(d, &user.name, &user.user_id))
        .cloned()
}

/// The user's MFA devices (the file's and the API's, enabled), by serial.
fn devices_of<'a>(state: &'a Broker, user: &User) -> Vec<&'a MfaDevice> {
    let mut devices: Vec<&MfaDevice> = state
        .config
        .iam
        .mfa_devices()
        .filter(|d| d.user_arn == user.arn)
        .collect();
    devices.sort_by(|a, b| a.serial.cmp(&b.serial));
    devices
}

/// Who the request names, when they exist and may sign in with a password.
struct Found {
    user: Arc<User>,
    /// The password's hash (for the root, its `password_file`'s).
    profile: StoredLoginProfile,
    /// The account's root user (its MFA seed, if any), or none for an IAM user.
    root: Option<Arc<Root>>,
}

/// A login profile standing for a password hash that is not an IAM user's profile (the
/// dummy's, the root's): never stored, never expiring.
fn bare_profile(hash: PasswordHash) -> StoredLoginProfile {
    StoredLoginProfile {
        hash,
        user: String::new(),
        user_id: String::new(),
        previous: Vec::new(),
        created: 0,
        password_last_changed: 0,
        reset_required: false,
    }
}

/// The IAM user `name` of `account` with its login profile, or the account's root user with
/// its password, when the request names one that may sign in with a password.
fn find(state: &Broker, account: &str, name: Option<&str>) -> Option<Found> {
    match name {
        Some(name) => {
            let user = state.config.iam.user_named(account, name)?;
            crate::audit::note(|n| n.principal = Some(user.arn.clone()));
            let profile = profile_of(state, user)?;
            Some(Found {
                user: Arc::clone(user),
                profile,
                root: None,
            })
        }
        None => {
            let root = state.config.iam.root(account)?;
            crate::audit::note(|n| n.principal = Some(root.user.arn.clone()));
            let hash = root.sign_in().password_hash?.expose().to_owned();
            Some(Found {
                user: Arc::clone(&root.user),
                profile: bare_profile(PasswordHash::from_stored(hash)),
                root: Some(Arc::clone(root)),
            })
        }
    }
}

/// Answers one sign-in whose body is `meta.raw.body` (the door took its `per_source_ip` token
/// before reading it).
pub async fn sign_in(state: &Arc<Broker>, meta: &RequestMeta) -> Result<Response, ApiError> {
    crate::audit::note(|n| n.action = Some(ACTION.to_owned()));
    let ask = ask(meta)?;
    let account = account_id(state, &ask.account);
    let found = account
        .as_deref()
        .and_then(|a| find(state, a, ask.user.as_deref()));
    // Counted under the account's id when it exists (its id and alias are one name), else as
    // given, so an unknown name locks after as many tries as a real one.
    let name = lockout::name(
        account.as_deref().unwrap_or(&ask.account),
        ask.user.as_deref().unwrap_or(ROOT_NAME),
    );
    if !lockout::take_attempt(state, &name).await? {
        crate::audit::note(|n| n.refusal = Some("signInLocked"));
        return Err(invalid_credentials());
    }
    let Some(Found {
        user,
        profile,
        root,
    }) = found
    else {
        // The cost of a wrong password, whatever was wrong.
        let dummy = bare_profile(PasswordHash::from_stored(DUMMY_HASH.to_owned()));
        let _ = hashing::verify(state, &dummy, ask.password, false).await?;
        crate::audit::note(|n| n.refusal = Some("unknownUserOrNoLoginProfile"));
        return Err(invalid_credentials());
    };
    // The root's hash is the configuration file's: never stored again from here.
    let (verified, stronger) =
        hashing::verify(state, &profile, ask.password.clone(), root.is_none()).await?;
    if !verified {
        crate::audit::note(|n| n.refusal = Some("wrongPassword"));
        return Err(invalid_credentials());
    }
    lockout::succeeded(state, &name).await;
    // The password is right: from here on, answers may say what is missing.
    if let Some(root) = &root {
        return root_session(state, meta, &ask, &user, root).await;
    }
    let devices = devices_of(state, &user);
    let device = match (&ask.mfa, devices.as_slice()) {
        (_, []) => None,
        (None, _) => {
            return Err(ApiError::new(
                ErrorCode::MfaRequired,
                "This user has an MFA device: give a code of it (mfa_code).",
            ));
        }
        (Some((None, _)), [one]) => Some(*one),
        (Some((None, _)), many) => {
            let serials: Vec<&str> = many.iter().map(|d| d.serial.as_str()).collect();
            return Err(ApiError::new(
                ErrorCode::MfaRequired,
                format!(
                    "This user has {} MFA devices: name the one the code is from (mfa_serial), \
                     one of {}.",
                    many.len(),
                    serials.join(", ")
                ),
            ));
        }
        (Some((Some(serial), _)), many) => Some(
            *many
                .iter()
                .find(|d| &d.serial == serial)
                .ok_or_else(crate::broker::caller::mfa_failed)?,
        ),
    };
    let policy = passwords::served_policy(
        &state.config.iam,
        &user.account,
        state
            .iam_layer
            .accounts
            .get(&user.account)
            .map(|r| &r.document)
            .filter(|d| !d.is_unusable()),
    );
    let now = role_session::now(&*state.clock);
    let must_change = passwords::password_state(&profile, policy.as_ref(), now);
    match (must_change, &ask.new_password) {
        (PasswordState::Expired { hard: true }, _) => {
            return Err(ApiError::new(
                ErrorCode::PasswordExpired,
                "The password has expired and the account's password policy sets HardExpiry: \
                 an administrator must set a new one (UpdateLoginProfile).",
            ));
        }
        (PasswordState::Expired { hard: false }, None) => {
            return Err(ApiError::new(
                ErrorCode::PasswordExpired,
                "The password has expired: sign in again with a new password (new_password).",
            ));
        }
        (PasswordState::ResetRequired, None) => {
            return Err(ApiError::new(
                ErrorCode::PasswordResetRequired,
                "An administrator requires a new password: sign in again with one \
                 (new_password).",
            ));
        }
        (PasswordState::Valid, Some(_)) if !policy.is_some_and(|p| p.allow_users_to_change) => {
            return Err(ApiError::access_denied(
                "The account's password policy does not allow users to change their own \
                 password (AllowUsersToChangePassword); sign in without new_password.",
            ));
        }
        _ => {}
    }
    // The policy's rules before the code, so a refused new password does not spend it.
    if let Some(new) = &ask.new_password {
        passwords::follows_rules(policy.as_ref(), new.expose())?;
    }
    let mfa_at = match (device, &ask.mfa) {
        (Some(device), Some((_, code))) => {
            Some(check_mfa(state, &user, &device.serial, code, now).await?)
        }
        _ => None,
    };
    let changed = match ask.new_password {
        Some(new) => {
            let password = hashing::replacing(state, &profile, policy.as_ref(), new).await?;
            let change = PasswordChange::Update {
                user: user.name.clone(),
                user_id: user.user_id.clone(),
                password: Some(password),
                reset_required: Some(false),
                at: now.unix_timestamp(),
            };
            iam_api::change_passwords(state, &user.account, &change).await?;
            true
        }
        None => false,
    };
    let issued = session(state, meta, &user, ask.duration, now, mfa_at).await?;
    signed_in(state, &user, now).await;
    if let Some(hash) = stronger.filter(|_| !changed) {
        rehash_later(state, &user, profile.hash, hash);
    }
    Ok(answer(&issued, &user, mfa_at.is_some(), changed))
}

/// The session of `user`: principal the user, `Origin::SignIn`, MFA as verified.
async fn session(
    state: &Broker,
    meta: &RequestMeta,
    user: &User,
    duration: u32,
    now: time::OffsetDateTime,
    mfa_at: Option<i64>,
) -> Result<role_session::Issued, ApiError> {
    role_session::issue(
        state,
        meta,
        NewSession {
            principal: SessionPrincipal::User {
                user_arn: user.arn.clone(),
                user_id: user.user_id.clone(),
            },
            account: &user.account,
            duration,
            max_duration: MAX_SECONDS,
            now,
            origin: Origin::SignIn,
            provider: None,
            subject: None,
            audience: None,
            source_identity: None,
            context: BTreeMap::new(),
            session_policy: None,
            policy_arns: &[],
            tags: BTreeMap::new(),
            transitive_tag_keys: Vec::new(),
            mfa_authenticated_at: mfa_at,
            chained: false,
            lineage: Lineage::default(),
        },
    )
    .await
}

/// After the session: the password's last use noted (by the user's unique id; the root's is
/// its account id). The attempt count was cleared when the password verified.
async fn signed_in(state: &Broker, user: &User, now: time::OffsetDateTime) {
    state.key_use.record(
        &user.user_id,
        now.unix_timestamp(),
        LAST_USED_SERVICE,
        &state.config.server.region,
    );
}

/// The answer's body.
fn answer(issued: &role_session::Issued, user: &User, mfa: bool, changed: bool) -> Response {
    let c = &issued.credentials;
    let body = Output {
        credentials: CredentialsJson {
            access_key_id: &c.access_key_id,
            secret_access_key: c.secret_access_key.expose(),
            session_token: c.session_token.expose(),
            expiration: crate::encoding::timestamp(c.expiration),
        },
        user: UserJson {
            arn: &user.arn,
            user_id: &user.user_id,
            account: &user.account,
        },
        mfa_authenticated: mfa,
        password_changed: changed,
    };
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// The account's root user, its password verified: its MFA code when it has a device, then
/// its session. Its password is the configuration file's: it never expires here and is never
/// changed here.
async fn root_session(
    state: &Broker,
    meta: &RequestMeta,
    ask: &Ask,
    user: &User,
    root: &Root,
) -> Result<Response, ApiError> {
    let seed = root.sign_in().mfa_seed;
    if seed.is_some() && ask.mfa.is_none() {
        return Err(ApiError::new(
            ErrorCode::MfaRequired,
            "The root user has an MFA device: give a code of it (mfa_code).",
        ));
    }
    if ask.new_password.is_some() {
        return Err(ApiError::access_denied(
            "The root user's password is set in the configuration file ([[accounts]] root \
             password_file): change it there.",
        ));
    }
    let now = role_session::now(&*state.clock);
    let mfa_at = match (seed, &ask.mfa) {
        (Some(seed), Some((_, code))) => {
            Some(check_root_mfa(state, &user.account, seed, code, now).await?)
        }
        _ => None,
    };
    // At most an hour, as the root's GetSessionToken sessions (AWS's limit for the root).
    let duration = ask.duration.min(crate::iam::root::MAX_SESSION_SECONDS);
    let issued = session(state, meta, user, duration, now, mfa_at).await?;
    signed_in(state, user, now).await;
    Ok(answer(&issued, user, mfa_at.is_some(), false))
}

/// Stores `hash` (the verified password made again at today's costs) in place of `replaces`,
/// off the request: best effort, refused if the password changed meanwhile.
fn rehash_later(state: &Arc<Broker>, user: &User, replaces: PasswordHash, hash: PasswordHash) {
    let state = Arc::clone(state);
    let account = user.account.clone();
    let change = PasswordChange::Rehash {
        user: user.name.clone(),
        user_id: user.user_id.clone(),
        hash,
        replaces,
    };
    tokio::spawn(async move {
        if let Err(e) = iam_api::change_passwords(&state, &account, &change).await {
            tracing::info!(
                code = e.code.as_str(),
                "a password hash was not made stronger"
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_costs_what_new_hashes_do() {
        let h = PasswordHash::from_stored(DUMMY_HASH.to_owned());
        assert_eq!(h.params(), Some(passwords::CURRENT_PARAMS));
    }
}
