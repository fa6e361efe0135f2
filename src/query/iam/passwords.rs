//! IAM's password actions (docs/operations.md, "Passwords through IAM's API"): the account's
//! password policy (`UpdateAccountPasswordPolicy`, `GetAccountPasswordPolicy`,
//! `DeleteAccountPasswordPolicy`), users' login profiles (`CreateLoginProfile`,
//! `GetLoginProfile`, `UpdateLoginProfile`, `DeleteLoginProfile`) and `ChangePassword`.
//!
//! Authorized as the other IAM actions: `iam:<Action>` on `*` for the policy actions, on the
//! user's ARN for the profile actions, and `ChangePassword` on the calling user's own ARN (an
//! IAM user's credentials only), which the policy must also allow
//! (`AllowUsersToChangePassword`). Inputs are checked in this order: signature, parameter
//! shapes, authorization, the policy's rules, then the costly checks (the old password, reuse)
//! off the runtime ([`crate::broker::passwords`]), then the change
//! ([`iam_api::change_passwords`]). A password is never logged, echoed or stored: only its
//! Argon2id hash is. Wrong old passwords given to `ChangePassword` count toward the user's
//! sign-in lockout ([`lockout`]).

use std::sync::Arc;

use serde::Serialize;

use super::roles::{Calling, Nothing, calling, date, required};
use crate::broker::{ApiError, Broker, RequestMeta, iam_api, lockout, passwords as hashing};
use crate::iam::User;
use crate::iam::api::{AccountDocument, IamApiError};
use crate::iam::passwords::{
    self, NewPassword, PasswordChange, PasswordPolicy, PasswordState, PolicyInput,
    StoredLoginProfile,
};
use crate::query::Params;
use crate::secret::Secret;

/// `PasswordPolicy` as `GetAccountPasswordPolicy` writes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PasswordPolicyXml {
    pub minimum_password_length: u32,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase_characters: bool,
    pub require_lowercase_characters: bool,
    pub allow_users_to_change_password: bool,
    pub expire_passwords: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_password_age: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_reuse_prevention: Option<u32>,
    pub hard_expiry: bool,
}

impl PasswordPolicyXml {
    fn of(p: &PasswordPolicy) -> PasswordPolicyXml {
        PasswordPolicyXml {
            minimum_password_length: p.minimum_length,
            require_symbols: p.require_symbols,
            require_numbers: p.require_numbers,
            require_uppercase_characters: p.require_uppercase,
            require_lowercase_characters: p.require_lowercase,
            allow_users_to_change_password: p.allow_users_to_change,
            expire_passwords: p.max_age_days.is_some(),
            max_password_age: p.max_age_days,
            password_reuse_prevention: p.reuse_prevention,
            hard_expiry: p.hard_expiry,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetAccountPasswordPolicyResult {
    pub password_policy: PasswordPolicyXml,
}

/// `LoginProfile` as IAM writes it (never the password).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoginProfileXml {
    pub user_name: String,
    pub create_date: String,
    pub password_reset_required: bool,
}

impl LoginProfileXml {
    fn of(user: &User, profile: &StoredLoginProfile) -> LoginProfileXml {
        LoginProfileXml {
            user_name: user.name.clone(),
            create_date: date(at(profile.created)),
            password_reset_required: profile.reset_required,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoginProfileResult {
    pub login_profile: LoginProfileXml,
}

fn at(unix: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// The caller's account's stored document, as this replica serves it.
fn document<'a>(state: &'a Broker, caller: &Calling) -> Option<&'a AccountDocument> {
    state
        .iam_layer
        .accounts
        .get(&caller.account)
        .map(|r| &r.document)
        .filter(|d| !d.is_unusable())
}

/// The policy served for the caller's account: the file's, else the API's.
fn served_policy(state: &Broker, caller: &Calling) -> Option<PasswordPolicy> {
    passwords::served_policy(&state.config.iam, &caller.account, document(state, caller))
}

/// A boolean parameter (`true`/`false`), false when absent (IAM's default for each).
fn flag(params: &Params, name: &str) -> Result<bool, ApiError> {
    match params.get(name) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(IamApiError::InvalidInput(format!(
            "{name} {} is not a boolean",
            crate::encoding::shorten(v)
        ))
        .into()),
    }
}

/// An integer parameter, if given.
fn integer(params: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(name)
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                IamApiError::InvalidInput(format!(
                    "{name} {} is not an integer",
                    crate::encoding::shorten(v)
                ))
                .into()
            })
        })
        .transpose()
}

/// A password parameter, checked ([`passwords::check_password_param`]) and held as a secret.
fn password(params: &Params, name: &str) -> Result<Secret, ApiError> {
    let param = crate::query::params::lower_first(name);
    let value = required(params, name)?;
    passwords::check_password_param(&param, value)?;
    Ok(Secret::new(value.to_owned()))
}

/// Authorizes `iam:<action>` on user `name`, then finds it.
fn allowed_user<'a>(
    state: &'a Broker,
    caller: &Calling,
    meta: &RequestMeta,
    action: &str,
    name: &str,
) -> Result<&'a Arc<User>, ApiError> {
    caller.allow_user(state, meta, action, name, Vec::new())?;
    caller
        .user(state, name)
        .ok_or_else(|| crate::iam::users::no_such_user(name).into())
}

/// `UpdateAccountPasswordPolicy`: replaces the whole policy (what is not given takes IAM's
/// default). Refused when the configuration file sets the account's policy.
pub async fn update_account_password_policy(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let input = PolicyInput {
        minimum_length: integer(params, "MinimumPasswordLength")?,
        require_symbols: flag(params, "RequireSymbols")?,
        require_numbers: flag(params, "RequireNumbers")?,
        require_uppercase: flag(params, "RequireUppercaseCharacters")?,
        require_lowercase: flag(params, "RequireLowercaseCharacters")?,
        allow_users_to_change: flag(params, "AllowUsersToChangePassword")?,
        max_age_days: integer(params, "MaxPasswordAge")?,
        reuse_prevention: integer(params, "PasswordReusePrevention")?,
        hard_expiry: flag(params, "HardExpiry")?,
    };
    let policy = input.to_policy()?;
    caller.allow(state, meta, "UpdateAccountPasswordPolicy", "*")?;
    iam_api::change_passwords(state, &caller.account, &PasswordChange::SetPolicy(policy)).await?;
    Ok(Nothing {})
}

/// `GetAccountPasswordPolicy`: the file's policy, else the API's; `NoSuchEntity` when neither
/// is set.
pub async fn get_account_password_policy(
    state: &Broker,
    _params: &Params,
    meta: &RequestMeta,
) -> Result<GetAccountPasswordPolicyResult, ApiError> {
    let caller = calling(state, meta).await?;
    caller.allow(state, meta, "GetAccountPasswordPolicy", "*")?;
    let policy =
        served_policy(state, &caller).ok_or_else(|| passwords::no_such_policy(&caller.account))?;
    Ok(GetAccountPasswordPolicyResult {
        password_policy: PasswordPolicyXml::of(&policy),
    })
}

/// `DeleteAccountPasswordPolicy`: refused for the file's policy.
pub async fn delete_account_password_policy(
    state: &Broker,
    _params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    caller.allow(state, meta, "DeleteAccountPasswordPolicy", "*")?;
    iam_api::change_passwords(state, &caller.account, &PasswordChange::DeletePolicy).await?;
    Ok(Nothing {})
}

/// `CreateLoginProfile` (`UserName` optional: the calling user): the password must follow the
/// policy; it is stored as its hash only.
pub async fn create_login_profile(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<LoginProfileResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = caller.named_or_self(state, params)?;
    let new = password(params, "Password")?;
    let reset_required = flag(params, "PasswordResetRequired")?;
    let user = allowed_user(state, &caller, meta, "CreateLoginProfile", &name)?;
    let policy = served_policy(state, &caller);
    passwords::follows_rules(policy.as_ref(), new.expose())?;
    if document(state, &caller)
        .and_then(|d| passwords::profile_of(d, &user.name, &user.user_id))
        .is_some()
    {
        return Err(IamApiError::AlreadyExists(format!(
            "Login Profile for user {} already exists.",
            user.name
        ))
        .into());
    }
    let now = state.clock.now().unix_timestamp();
    let change = PasswordChange::Create {
        user: user.name.clone(),
        user_id: user.user_id.clone(),
        password: NewPassword {
            hash: hashing::hash(state, new).await?,
            replaces: None,
            keep_previous: 0,
        },
        reset_required,
        at: now,
    };
    iam_api::change_passwords(state, &caller.account, &change).await?;
    Ok(LoginProfileResult {
        login_profile: LoginProfileXml {
            user_name: user.name.clone(),
            create_date: date(at(now)),
            password_reset_required: reset_required,
        },
    })
}

/// The stored profile of `user`, or `NoSuchEntity`.
fn profile<'a>(
    state: &'a Broker,
    caller: &Calling,
    user: &User,
) -> Result<&'a StoredLoginProfile, ApiError> {
    document(state, caller)
        .and_then(|d| passwords::profile_of(d, &user.name, &user.user_id))
        .ok_or_else(|| passwords::no_such_profile(&user.name).into())
}

/// `GetLoginProfile` (`UserName` optional: the calling user).
pub async fn get_login_profile(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<LoginProfileResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = caller.named_or_self(state, params)?;
    let user = allowed_user(state, &caller, meta, "GetLoginProfile", &name)?;
    let profile = profile(state, &caller, user)?;
    Ok(LoginProfileResult {
        login_profile: LoginProfileXml::of(user, profile),
    })
}

/// `UpdateLoginProfile` (`UserName` optional): a new password (held to the policy, reuse
/// included) and/or `PasswordResetRequired`.
pub async fn update_login_profile(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = caller.named_or_self(state, params)?;
    let new = match params.get("Password") {
        Some(_) => Some(password(params, "Password")?),
        None => None,
    };
    let reset_required = match params.get("PasswordResetRequired") {
        Some(_) => Some(flag(params, "PasswordResetRequired")?),
        None => None,
    };
    let user = allowed_user(state, &caller, meta, "UpdateLoginProfile", &name)?;
    let profile = profile(state, &caller, user)?.clone();
    let policy = served_policy(state, &caller);
    let password = match new {
        Some(new) => {
            passwords::follows_rules(policy.as_ref(), new.expose())?;
            Some(hashing::replacing(state, &profile, policy.as_ref(), new).await?)
        }
        None => None,
    };
    let change = PasswordChange::Update {
        user: user.name.clone(),
        user_id: user.user_id.clone(),
        password,
        reset_required,
        at: state.clock.now().unix_timestamp(),
    };
    iam_api::change_passwords(state, &caller.account, &change).await?;
    Ok(Nothing {})
}

/// `DeleteLoginProfile` (`UserName` optional).
pub async fn delete_login_profile(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = caller.named_or_self(state, params)?;
    let user = allowed_user(state, &caller, meta, "DeleteLoginProfile", &name)?;
    let change = PasswordChange::Delete {
        user: user.name.clone(),
        user_id: user.user_id.clone(),
    };
    iam_api::change_passwords(state, &caller.account, &change).await?;
    Ok(Nothing {})
}

/// `ChangePassword`: the calling IAM user's own password (`InvalidUserType` for any other
/// caller), when the policy allows users to change theirs and the password has not expired
/// under `HardExpiry`; the old password must verify (else `AccessDenied`) and the new one
/// follow the policy, reuse included. The reset requirement is cleared.
pub async fn change_password(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let old = password(params, "OldPassword")?;
    let new = password(params, "NewPassword")?;
    let arn = caller.user.clone().ok_or_else(|| {
        ApiError::from(IamApiError::InvalidUserType(
            "Only IAM users can change their own password: call with an IAM user's credentials."
                .to_owned(),
        ))
    })?;
    caller.allow(state, meta, "ChangePassword", &arn)?;
    let user = state.config.iam.user(&arn).ok_or_else(|| {
        ApiError::from(IamApiError::NoSuchEntity(
            "The user calling cannot be found.".to_owned(),
        ))
    })?;
    let policy = served_policy(state, &caller);
    if !policy.is_some_and(|p| p.allow_users_to_change) {
        return Err(ApiError::access_denied(
            "The account's password policy does not allow users to change their own password \
             (AllowUsersToChangePassword); an administrator can set it (UpdateLoginProfile).",
        ));
    }
    let profile = profile(state, &caller, user)?.clone();
    let now = state.clock.now();
    if let PasswordState::Expired { hard: true } =
        passwords::password_state(&profile, policy.as_ref(), now)
    {
        return Err(ApiError::access_denied(
            "The password has expired and the account's password policy sets HardExpiry: an \
             administrator must reset it (UpdateLoginProfile).",
        ));
    }
    passwords::follows_rules(policy.as_ref(), new.expose())?;
    // Wrong old passwords count toward the user's sign-in lockout, and a locked user's old
    // password is not verified at all (the caller holds the user's credentials: told why).
    let name = lockout::name(&user.account, &user.name);
    if !lockout::take_attempt(state, &name).await? {
        crate::audit::note(|n| n.refusal = Some("signInLocked"));
        return Err(ApiError::access_denied(
            "Too many wrong passwords were given for this user: its password cannot be \
             verified until the lockout ends ([signin] lockout_seconds).",
        ));
    }
    let (verified, _) = hashing::verify(state, &profile, old, false).await?;
    if !verified {
        return Err(ApiError::access_denied("The old password is incorrect."));
    }
    lockout::succeeded(state, &name).await;
    let password = hashing::replacing(state, &profile, policy.as_ref(), new).await?;
    let change = PasswordChange::Update {
        user: user.name.clone(),
        user_id: user.user_id.clone(),
        password: Some(password),
        reset_required: Some(false),
        at: now.unix_timestamp(),
    };
    iam_api::change_passwords(state, &caller.account, &change).await?;
    Ok(Nothing {})
}
