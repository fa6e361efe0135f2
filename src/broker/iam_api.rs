//! IAM's management API in the running broker (docs/operations.md, "Managing roles through
//! IAM's API"): the entities created through it live in the store, one document per account ([`crate::iam::api`]); every replica serves
//! the layer it last read, merged over the file's entities into one `Iam`, and swaps in a new
//! [`Broker`] through the reload path when the store's version counter moves
//! ([`super::reload::Live::sync_iam`], polled every [`POLL`] by a task [`super::reload::Live`]
//! starts). A change is a compare-and-set on the account's document, retried a few times
//! ([`change`]); the replica that made it serves it before answering. A role deleted here has
//! its sessions revoked by this replica as of the deletion, once it is stored.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::{ApiError, Broker};
use crate::config::Config;
use crate::iam::api::{
    self, AccountDocument, FileRoles, IamApiError, Layer, PolicyChange, Revisioned, RoleChange,
    StoredPolicy, StoredRole,
};
use crate::store::{Store, StoreError};

/// How often a replica looks at the store's version counter (one `GET`).
pub const POLL: Duration = Duration::from_millis(250);
/// Compare-and-set attempts before `ConcurrentModification`.
const ATTEMPTS: usize = 5;
/// How long a change waits for this replica to serve it before answering anyway (it is stored
/// and every replica applies it at its next poll).
const APPLY_WAIT: Duration = Duration::from_secs(2);

/// Shared by every [`Broker`] of one process: wakes the task that applies stored changes, and
/// says which version the serving broker has applied.
#[derive(Debug)]
pub struct IamSync {
    wake: Notify,
    applied: watch::Sender<u64>,
    /// Whether a task applies changes ([`super::reload::Live`] starts one); a broker served
    /// without it sees changes at its next configuration reload.
    running: AtomicBool,
}

impl Default for IamSync {
    fn default() -> Self {
        IamSync::new(0)
    }
}

impl IamSync {
    pub fn new(version: u64) -> IamSync {
        IamSync {
            wake: Notify::new(),
            applied: watch::Sender::new(version),
            running: AtomicBool::new(false),
        }
    }

    /// Marks that a task applies changes from now on.
    pub(super) fn started(&self) {
        self.running.store(true, Ordering::Relaxed);
    }

    /// Wakes the task now rather than at its next poll.
    pub(super) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Waits for the next wake or `poll`, whichever comes first.
    pub(super) async fn woken_or(&self, poll: Duration) {
        tokio::select! {
            () = self.wake.notified() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }

    /// Records that the serving broker has applied `version`.
    pub(super) fn applied(&self, version: u64) {
        self.applied.send_if_modified(|v| {
            let newer = version > *v;
            if newer {
                *v = version;
            }
            newer
        });
    }

    /// Wakes the task and waits (at most [`APPLY_WAIT`]) until the serving broker has applied
    /// `version`; returns at once when no task runs.
    pub async fn serve_at_least(&self, version: u64) {
        if !self.running.load(Ordering::Relaxed) {
            return;
        }
        self.wake();
        let mut applied = self.applied.subscribe();
        let waited = tokio::time::timeout(APPLY_WAIT, applied.wait_for(|v| *v >= version)).await;
        if waited.is_err() {
            tracing::warn!(
                version,
                "an IAM change is stored but not yet served here; it is applied at the next poll"
            );
        }
    }
}

/// The accounts whose documents a replica reads: the configured ones.
pub fn accounts(config: &Config) -> Vec<String> {
    config.iam.accounts.keys().cloned().collect()
}

/// Reads the whole layer for `accounts` in one step. A document that does not decode is read
/// as unreadable: none of its entities are served (the last layer read does not stay in force)
/// and no write replaces it ([`AccountDocument::decode`]).
pub async fn read_layer(store: &Store, accounts: &[String]) -> Result<Layer, StoreError> {
    let (version, stored) = store.iam_documents(accounts).await?;
    let mut layer = Layer {
        version,
        ..Layer::default()
    };
    for (account, doc) in accounts.iter().zip(stored) {
        let document = match &doc.bytes {
            Some(bytes) => AccountDocument::decode(bytes),
            None => AccountDocument::default(),
        };
        layer.accounts.insert(
            account.clone(),
            Revisioned {
                revision: doc.revision,
                document,
            },
        );
    }
    Ok(layer)
}

/// `base`'s file entities with `layer` merged over them (see [`api::merged`]); what was left
/// out is logged.
pub fn merge(base: &Config, layer: &Layer, previous: Option<(&Config, &Layer)>) -> Config {
    let (iam, skipped) = api::merged(&base.iam, layer, previous.map(|(c, l)| (&c.iam, l)));
    for s in skipped {
        match s {
            api::Skipped::UnknownAccount(account) => tracing::warn!(
                account,
                "IAM entities stored for an account the configuration does not list are not served"
            ),
            api::Skipped::Shadowed(arn) => tracing::warn!(
                entity = %arn,
                "an entity created through the IAM API is not served: the configuration file defines one of that name"
            ),
            api::Skipped::UnparsablePolicy { policy, problem } => tracing::error!(
                policy = %policy,
                problem,
                "a managed policy created through the IAM API is not served: its default version does not parse"
            ),
            api::Skipped::MissingPolicy { role, policy } => tracing::error!(
                role = %role,
                policy = %policy,
                "a role created through the IAM API is not served: a managed policy it attaches or is bounded by is not defined"
            ),
            api::Skipped::NewerFormat { account, format } => tracing::error!(
                account,
                format,
                understood = api::FORMAT,
                "the IAM entities stored for an account are not served: a newer version of \
                 sts-broker wrote them in a format this one does not know"
            ),
            api::Skipped::Unreadable(account) => tracing::error!(
                account,
                "the IAM entities stored for an account are not served: their document in the \
                 store does not decode (repair or remove it; the API changes nothing there \
                 until then)"
            ),
            api::Skipped::Principal { entity, problem } => tracing::error!(
                entity = %entity,
                problem,
                "a user or group created through the IAM API is not served"
            ),
            api::Skipped::MfaDevice { serial, problem } => tracing::warn!(
                serial = %serial,
                problem,
                "a virtual MFA device enabled through the IAM API is not served: it accepts no code"
            ),
            api::Skipped::AccessKey {
                access_key_id,
                user,
            } => tracing::error!(
                access_key_id,
                user = %user,
                "an access key created through the IAM API is not served: another stored or \
                 configured key has the same id"
            ),
            api::Skipped::Unparsable { role, problem } => tracing::error!(
                role = %role,
                problem,
                "a role created through the IAM API is not served: its stored policy does not parse"
            ),
        }
    }
    let mut config = base.clone();
    config.iam = iam;
    merge_providers(&mut config, layer, previous);
    config
}

/// Creates a role: [`change_expecting`] for the one change that needs no role to exist. Any
/// other change is refused here (fail closed): it must name the role it was authorized on.
pub async fn change(
    state: &Broker,
    account: &str,
    change: &RoleChange,
) -> Result<Option<StoredRole>, ApiError> {
    if !matches!(change, RoleChange::Create(_)) {
        tracing::error!("a role change came without the role it was authorized on; refused");
        return Err(ApiError::internal());
    }
    compare_and_set(
        state,
        account,
        |doc, file| api::apply(doc, change, file),
        |_| None,
    )
    .await
}

/// Applies `change` to `account`'s document: read, [`api::apply_expecting`] (the stored role
/// must still be the `expected` one the call was authorized on), compare-and-set (see
/// [`compare_and_set`]). Once stored, this replica serves it before this returns. Returns the
/// role as it is after the change. A role deleted here has its sessions revoked once the
/// deletion is stored.
pub async fn change_expecting(
    state: &Broker,
    account: &str,
    change: &RoleChange,
    expected: &api::Expected,
) -> Result<Option<StoredRole>, ApiError> {
    let revokes = |current: &AccountDocument| match change {
        RoleChange::Delete { name } => current
            .roles
            .get(&name.to_ascii_lowercase())
            .map(|gone| Ends::Role(crate::iam::role_arn(account, &gone.path, &gone.name))),
        _ => None,
    };
    compare_and_set(
        state,
        account,
        |doc, file| api::apply_expecting(doc, change, expected, file),
        revokes,
    )
    .await
}

/// [`change`] for a customer-managed policy ([`api::apply_policy`]): the policy as it is after
/// the change. What it changes reaches sessions through the roles that use it, at the same
/// swap.
pub async fn change_policy(
    state: &Broker,
    account: &str,
    change: &PolicyChange,
) -> Result<Option<StoredPolicy>, ApiError> {
    compare_and_set(
        state,
        account,
        |doc, file| api::apply_policy(doc, change, file),
        |_| None,
    )
    .await
}

/// The identity providers of `layer` merged into `config` (see
/// [`crate::config::api_providers::merge`]); what was left out is logged.
fn merge_providers(config: &mut Config, layer: &Layer, previous: Option<(&Config, &Layer)>) {
    use crate::config::api_providers::{self, SkippedProvider};
    for s in api_providers::merge(config, layer, previous) {
        match s {
            SkippedProvider::Shadowed(arn) => tracing::warn!(
                entity = %arn,
                "an identity provider created through the IAM API is not served: the configuration file defines one of that issuer or name in its account"
            ),
            SkippedProvider::NoClientIds(arn) => tracing::warn!(
                entity = %arn,
                "an OpenID Connect provider created through the IAM API is not served: it lists no client id"
            ),
            SkippedProvider::BadUrl(arn) => tracing::warn!(
                entity = %arn,
                "an OpenID Connect provider created through the IAM API is not served: its URL is not allowed (http:// or a non-public host; [server] allow_http_api_providers)"
            ),
            SkippedProvider::Unparsable { provider, problem } => tracing::error!(
                entity = %provider,
                problem,
                "a SAML provider created through the IAM API is not served: its metadata does not parse"
            ),
        }
    }
}

/// [`change`] for an identity provider ([`crate::iam::providers::apply`]). What it changes
/// reaches `AssumeRoleWithWebIdentity` and `AssumeRoleWithSAML` at the same swap.
pub async fn change_provider(
    state: &Broker,
    account: &str,
    change: &crate::iam::providers::ProviderChange,
) -> Result<(), ApiError> {
    let file = crate::config::api_providers::file_providers(&state.config, account);
    compare_and_set(
        state,
        account,
        |doc, _| crate::iam::providers::apply(doc, change, &file),
        |_| None,
    )
    .await
}

/// Creates a user or group, or sets or removes the account's alias: [`change_user_expecting`]
/// for the changes that need no entity to exist. Any other change is refused here (fail
/// closed): it must name the entity it was authorized on.
pub async fn change_user(
    state: &Broker,
    account: &str,
    change: &crate::iam::users::UserChange,
) -> Result<(), ApiError> {
    use crate::iam::users::{self, UserChange};
    let creates = matches!(
        change,
        UserChange::CreateUser(_)
            | UserChange::CreateGroup(_)
            | UserChange::CreateAlias { .. }
            | UserChange::DeleteAlias { .. }
    );
    if !creates {
        tracing::error!(
            "a user or group change came without the entity it was authorized on; refused"
        );
        return Err(ApiError::internal());
    }
    let file = file_users(state, account);
    compare_and_set(
        state,
        account,
        |doc, roles| users::apply(doc, change, roles, &file),
        |_| None,
    )
    .await
}

/// Applies a change to a user or group that must still be the `expected` one the call was
/// authorized on ([`crate::iam::users::apply_expecting`]), as [`change_expecting`] does for
/// roles. What it changes reaches decisions (and `SimulatePrincipalPolicy`) at the same swap.
/// Once stored, a deleted user's sessions, and the sessions made with a key deactivated or
/// deleted, are revoked here as of the change ([`revoke_ended`]).
pub async fn change_user_expecting(
    state: &Broker,
    account: &str,
    change: &crate::iam::users::UserChange,
    expected: &api::Expected,
) -> Result<(), ApiError> {
    use crate::iam::access_keys::AccessKeyStatus;
    use crate::iam::users::UserChange;
    let file = file_users(state, account);
    let revokes = |current: &AccountDocument| {
        let stored_key = |user: &str, id: &str| {
            current
                .users
                .get(&user.to_ascii_lowercase())
                .and_then(|u| u.access_keys.iter().find(|k| k.id == id))
        };
        match change {
            UserChange::DeleteUser { name } => current
                .users
                .get(&name.to_ascii_lowercase())
                .map(|gone| Ends::User(crate::iam::user_arn(account, &gone.path, &gone.name))),
            // The generations used so far: one made active again later makes new sessions.
            // Written again when the key is inactive already (the same rule, stored once), so
            // that repeating the call ends them if the first revocation failed.
            UserChange::UpdateAccessKey {
                user,
                id,
                status: AccessKeyStatus::Inactive,
            } => stored_key(user, id).map(|k| Ends::AccessKey {
                id: k.id.clone(),
                generation_up_to: i64::from(k.generation),
            }),
            UserChange::DeleteAccessKey { user, id } => {
                stored_key(user, id).map(|k| Ends::AccessKey {
                    id: k.id.clone(),
                    generation_up_to: i64::MAX,
                })
            }
            _ => None,
        }
    };
    compare_and_set(
        state,
        account,
        |doc, roles| crate::iam::users::apply_expecting(doc, change, expected, roles, &file),
        revokes,
    )
    .await
}

/// Applies a change to `account`'s virtual MFA devices ([`crate::iam::mfa::apply`]): enabling
/// names the user and the sealed seed it was decided on, and is refused if either changed. What
/// it changes reaches `AssumeRole` and `GetSessionToken` at the same swap: a device deactivated
/// or deleted accepts no code from then on.
pub async fn change_mfa(
    state: &Broker,
    account: &str,
    change: &crate::iam::mfa::MfaChange,
) -> Result<(), ApiError> {
    let file = crate::iam::mfa::FileMfa::of(&state.config.iam, account, &state.config.source);
    compare_and_set(
        state,
        account,
        |doc, _| crate::iam::mfa::apply(doc, change, &file),
        |_| None,
    )
    .await
}

/// Applies a change to `account`'s password policy or login profiles
/// ([`crate::iam::passwords::apply`]): one that sets a password names the hash it was checked
/// against, and is refused if the stored one changed since. What it changes is on every
/// replica at its next swap.
pub async fn change_passwords(
    state: &Broker,
    account: &str,
    change: &crate::iam::passwords::PasswordChange,
) -> Result<(), ApiError> {
    let file =
        crate::iam::passwords::FileLogins::of(&state.config.iam, account, &state.config.source);
    compare_and_set(
        state,
        account,
        |doc, _| crate::iam::passwords::apply(doc, change, &file),
        |_| None,
    )
    .await
}

/// The file's users, groups and alias of `account`, and every other account's alias, as this
/// replica serves them.
fn file_users(state: &Broker, account: &str) -> crate::iam::users::FileUsers {
    crate::iam::users::FileUsers::of(&state.config.iam, account, &state.config.source)
}

/// What a stored change ends: the sessions revoked once it is stored ([`revoke_ended`]).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ends {
    /// A deleted role's, by ARN.
    Role(String),
    /// A deleted user's, by ARN.
    User(String),
    /// Those made with a long-term access key at a generation up to this one (deactivated:
    /// its current one; deleted: all).
    AccessKey { id: String, generation_up_to: i64 },
}

/// Applies `reseal`, which changes only the document's sealed secrets and says how many, to
/// `account`'s document ([`super::sealing::reseal_rotated`]): compare-and-set, nothing written
/// when it changes none.
pub async fn change_sealed(
    state: &Broker,
    account: &str,
    reseal: impl Fn(&mut AccountDocument) -> usize,
) -> Result<usize, ApiError> {
    write_document(
        state,
        account,
        |doc, _| {
            let mut next = doc.clone();
            let moved = reseal(&mut next);
            Ok((next, moved))
        },
        |_| None,
        false,
    )
    .await
}

/// Read, `apply`, compare-and-set (nothing is written when `apply` changes nothing); a write
/// that lost a race is tried again from a fresh read,
/// [`ATTEMPTS`] times in all, then refused with `ConcurrentModification`. `revokes` names
/// what the change ends (read from the document it changes): revoked as of now once the
/// change is stored ([`revoke_ended`]).
async fn compare_and_set<T>(
    state: &Broker,
    account: &str,
    apply: impl Fn(&AccountDocument, &FileRoles) -> Result<(AccountDocument, T), IamApiError>,
    revokes: impl Fn(&AccountDocument) -> Option<Ends>,
) -> Result<T, ApiError> {
    write_document(state, account, apply, revokes, true).await
}

/// [`compare_and_set`]; `serve` says whether to wait until this replica serves what was read
/// or written (a caller's change must be served before it is answered; the background
/// re-sealing must not wait on the task that swaps changes in).
async fn write_document<T>(
    state: &Broker,
    account: &str,
    apply: impl Fn(&AccountDocument, &FileRoles) -> Result<(AccountDocument, T), IamApiError>,
    revokes: impl Fn(&AccountDocument) -> Option<Ends>,
    serve: bool,
) -> Result<T, ApiError> {
    let file = FileRoles::of(&state.config.iam, account);
    for _ in 0..ATTEMPTS {
        let layer = read_layer(&state.store, &[account.to_owned()]).await?;
        let read_at = layer.version;
        let current = layer.accounts.into_values().next().unwrap_or_default();
        if current.document.unreadable {
            return Err(ApiError::new(
                super::error::ErrorCode::ServiceUnavailable,
                "The IAM entities of this account are stored in a document the broker cannot \
                 read; nothing is changed until an operator repairs or removes it.",
            ));
        }
        if current.document.is_newer() {
            // Written back, it would lose what this build does not know.
            return Err(ApiError::new(
                super::error::ErrorCode::ServiceUnavailable,
                "The IAM entities of this account were stored by a newer version of the \
                 broker; this one does not change them.",
            ));
        }
        let (next, out) = apply(&current.document, &file)?;
        if next == current.document {
            // Nothing changes (attached already, the default already...): no write, no new
            // version for every replica to swap in. What it ends is ended again (revoking is
            // idempotent): a repeated call completes a revocation that failed before.
            if let Some(ends) = revokes(&current.document) {
                revoke_ended(state, &ends).await;
            }
            if serve {
                state.iam_sync.serve_at_least(read_at).await;
            }
            return Ok(out);
        }
        let next = next.with_needed_format();
        let bytes = serde_json::to_vec(&next).map_err(|e| {
            tracing::error!(error = %e, "an IAM document could not be encoded");
            ApiError::internal()
        })?;
        if let Some(version) = state
            .store
            .iam_replace(account, current.revision, bytes)
            .await?
        {
            if let Some(ends) = revokes(&current.document) {
                revoke_ended(state, &ends).await;
            }
            if serve {
                state.iam_sync.serve_at_least(version).await;
            }
            return Ok(out);
        }
    }
    Err(ApiError::concurrent_modification())
}

/// Ends the sessions a stored change ends, as of now: only once stored, so that a refused or
/// failed change ends none. Tried [`ATTEMPTS`] times; if every try fails, each replica's swap
/// revokes a deleted role's or user's when it stops serving it ([`super::reload`]), and their
/// own sessions are refused from then on by their unique id; a key's sessions are then left to
/// expire (logged as an error).
async fn revoke_ended(state: &Broker, ends: &Ends) {
    for attempt in 1..=ATTEMPTS {
        let now = state.clock.now();
        let revoked = match ends {
            Ends::Role(arn) => state.revocations.revoke_removed_role(arn, now).await,
            Ends::User(arn) => state.revocations.revoke_removed_user(arn, now).await,
            Ends::AccessKey {
                id,
                generation_up_to,
            } => {
                state
                    .revocations
                    .revoke_access_key(id, *generation_up_to, now)
                    .await
            }
        };
        match revoked {
            Ok(_) => return,
            Err(e) if attempt == ATTEMPTS => match ends {
                Ends::Role(arn) => tracing::error!(
                    role = %arn,
                    error = %e,
                    "a deleted role's sessions could not be revoked here; each replica revokes them as it stops serving the role"
                ),
                Ends::User(arn) => tracing::error!(
                    user = %arn,
                    error = %e,
                    "a deleted user's sessions could not be revoked here; each replica revokes them as it stops serving the user"
                ),
                Ends::AccessKey { id, .. } => tracing::error!(
                    access_key_id = %id,
                    error = %e,
                    "the sessions made with a deactivated or deleted access key could not be revoked; revoke its user's sessions (POST /admin/revoke) to end them"
                ),
            },
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::SystemClock;

    const CONFIG: &str = r#"
[store]
url = "memory://"
[keys]
dir = "keys"
[[accounts]]
id = "111122223333"
[[roles]]
account = "111122223333"
name = "file-role"
trust_policy = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
"#;
    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

    fn role(name: &str) -> StoredRole {
        StoredRole {
            name: name.to_owned(),
            path: "/".to_owned(),
            role_id: crate::iam::new_unique_id("AROA").unwrap(),
            description: None,
            max_session_duration: 3600,
            trust_policy: TRUST.to_owned(),
            inline_policies: Default::default(),
            tags: Vec::new(),
            created: 0,
            attached_policies: Vec::new(),
            permissions_boundary: None,
        }
    }

    async fn broker(dir: &std::path::Path) -> Broker {
        let config = Config::from_toml(CONFIG, "broker.toml", dir).unwrap();
        Broker::build(config, Arc::new(SystemClock)).await.unwrap()
    }

    /// Writers racing on one document: each either lands (after retrying from a fresh read)
    /// or is refused with `ConcurrentModification`; none is lost silently.
    #[tokio::test]
    async fn concurrent_writers_all_land_or_are_told() {
        let dir = tempfile::tempdir().unwrap();
        let state = Arc::new(broker(dir.path()).await);
        let writers: Vec<_> = (0..8)
            .map(|i| {
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    change(
                        &state,
                        "111122223333",
                        &RoleChange::Create(role(&format!("r{i}"))),
                    )
                    .await
                })
            })
            .collect();
        let mut landed = Vec::new();
        for (i, w) in writers.into_iter().enumerate() {
            match w.await.unwrap() {
                Ok(_) => landed.push(format!("r{i}")),
                Err(e) => assert_eq!(
                    e.code,
                    super::super::error::ErrorCode::ConcurrentModification
                ),
            }
        }
        let layer = read_layer(&state.store, &["111122223333".to_owned()])
            .await
            .unwrap();
        let mut stored: Vec<String> = layer.accounts["111122223333"]
            .document
            .roles
            .keys()
            .cloned()
            .collect();
        stored.sort();
        landed.sort();
        assert_eq!(stored, landed);
        assert!(!landed.is_empty());
    }

    /// A lost compare-and-set is retried from a fresh read: both changes are in the document.
    #[tokio::test]
    async fn a_write_that_lost_the_race_is_applied_again_on_the_new_document() {
        let dir = tempfile::tempdir().unwrap();
        let state = broker(dir.path()).await;
        let account = "111122223333".to_owned();
        // Another replica writes between this replica's read and its write.
        let stale = read_layer(&state.store, std::slice::from_ref(&account))
            .await
            .unwrap();
        change(&state, &account, &RoleChange::Create(role("first")))
            .await
            .unwrap();
        let (doc, _) = api::apply(
            &stale.accounts[&account].document,
            &RoleChange::Create(role("second")),
            &FileRoles::default(),
        )
        .unwrap();
        let lost = state
            .store
            .iam_replace(&account, 0, serde_json::to_vec(&doc).unwrap())
            .await
            .unwrap();
        assert_eq!(lost, None);
        change(&state, &account, &RoleChange::Create(role("second")))
            .await
            .unwrap();
        let layer = read_layer(&state.store, std::slice::from_ref(&account))
            .await
            .unwrap();
        let names: Vec<_> = layer.accounts[&account]
            .document
            .roles
            .keys()
            .cloned()
            .collect();
        assert_eq!(names, ["first", "second"]);
        assert_eq!(layer.accounts[&account].revision, 2);
    }

    /// A change decided on a stale snapshot of the role is refused; nothing is written.
    #[tokio::test]
    async fn a_change_expecting_another_role_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let state = broker(dir.path()).await;
        let created = change(&state, "111122223333", &RoleChange::Create(role("r")))
            .await
            .unwrap()
            .unwrap();
        let version = state.store.iam_version().await.unwrap();
        let tag = RoleChange::Tag {
            role: "r".into(),
            tags: vec![api::Tag {
                key: "k".into(),
                value: "v".into(),
            }],
        };
        let stale = api::Expected {
            id: crate::iam::new_unique_id("AROA").unwrap(),
            boundary: None,
        };
        let refused = change_expecting(&state, "111122223333", &tag, &stale)
            .await
            .unwrap_err();
        assert_eq!(
            refused.code,
            super::super::error::ErrorCode::ConcurrentModification
        );
        assert_eq!(state.store.iam_version().await.unwrap(), version);
        // Without the role it was authorized on, no change but a creation is accepted.
        let refused = change(&state, "111122223333", &tag).await.unwrap_err();
        assert_eq!(
            refused.code,
            super::super::error::ErrorCode::InternalFailure
        );
        assert_eq!(state.store.iam_version().await.unwrap(), version);
        let current = api::Expected {
            id: created.role_id,
            boundary: None,
        };
        change_expecting(&state, "111122223333", &tag, &current)
            .await
            .unwrap();
        assert_eq!(state.store.iam_version().await.unwrap(), version + 1);
    }

    /// A change that changes nothing is answered without a write: no new version for every
    /// replica to swap in.
    #[tokio::test]
    async fn changes_that_change_nothing_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let state = broker(dir.path()).await;
        let account = "111122223333";
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        let policy =
            StoredPolicy::new("p", "/", crate::iam::new_unique_id("ANPA").unwrap(), doc, 0);
        let arn = policy.arn(account);
        change_policy(&state, account, &PolicyChange::Create(policy))
            .await
            .unwrap();
        let role = change(&state, account, &RoleChange::Create(role("r")))
            .await
            .unwrap()
            .unwrap();
        let attach = RoleChange::Attach {
            role: "r".into(),
            policy_arn: arn.clone(),
        };
        let expected = api::Expected {
            id: role.role_id,
            boundary: Some(None),
        };
        change_expecting(&state, account, &attach, &expected)
            .await
            .unwrap();
        let version = state.store.iam_version().await.unwrap();
        let again = change_expecting(&state, account, &attach, &expected)
            .await
            .unwrap();
        assert_eq!(again.unwrap().attached_policies, std::slice::from_ref(&arn));
        let default = PolicyChange::SetDefault {
            arn,
            version: "v1".into(),
        };
        change_policy(&state, account, &default).await.unwrap();
        assert_eq!(state.store.iam_version().await.unwrap(), version);
    }

    /// A document a newer build wrote is neither served nor written over.
    #[tokio::test]
    async fn a_document_of_a_newer_format_is_neither_served_nor_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let state = broker(dir.path()).await;
        let account = "111122223333".to_owned();
        let mut doc = AccountDocument::default();
        doc.roles.insert("newer".into(), role("newer"));
        let mut json = serde_json::to_value(&doc).unwrap();
        json["format"] = (api::FORMAT + 1).into();
        json["users"] = serde_json::json!({"alice": {}});
        let bytes = serde_json::to_vec(&json).unwrap();
        state
            .store
            .iam_replace(&account, 0, bytes.clone())
            .await
            .unwrap()
            .unwrap();
        let version = state.store.iam_version().await.unwrap();
        let refused = change(&state, &account, &RoleChange::Create(role("other")))
            .await
            .unwrap_err();
        assert_eq!(
            refused.code,
            super::super::error::ErrorCode::ServiceUnavailable
        );
        assert_eq!(refused.status().as_u16(), 503);
        let (after, stored) = state
            .store
            .iam_documents(std::slice::from_ref(&account))
            .await
            .unwrap();
        assert_eq!((after, stored[0].bytes.as_ref()), (version, Some(&bytes)));
        let layer = read_layer(&state.store, std::slice::from_ref(&account))
            .await
            .unwrap();
        let served = merge(&state.config, &layer, None);
        assert!(served.iam.role_named(&account, "newer").is_none());
        assert!(served.iam.role_named(&account, "file-role").is_some());
    }

    #[tokio::test]
    async fn a_file_role_is_refused_and_nothing_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let state = broker(dir.path()).await;
        let refused = change(
            &state,
            "111122223333",
            &RoleChange::Create(role("File-Role")),
        )
        .await
        .unwrap_err();
        assert_eq!(refused.code.as_str(), "EntityAlreadyExists");
        assert!(
            refused.message.contains("broker.toml"),
            "{}",
            refused.message
        );
        assert_eq!(state.store.iam_version().await.unwrap(), 0);
    }
}
