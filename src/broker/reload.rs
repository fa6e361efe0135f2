//! Hot reload (docs/operations.md, "Reloading the configuration"): `SIGHUP` or
//! `POST /admin/reload` reads the configuration and every file it names again, checks all of it
//! as `check-config` does ([`Config::load`]), builds the next [`Broker`] from it and swaps it in
//! at once. A request holds the [`Broker`] it started with ([`Live::current`]) to its end.
//!
//! On any problem the running configuration stays and every problem is logged with its file
//! and line. Settings bound at start (listeners, store, keys folder, dev issuer, audit output,
//! log format, body and time limits) are not changed by a reload: one that changes them is
//! refused, naming each. One reload runs at a time; the next waits for it.
//!
//! The entities created through IAM's management API ([`super::iam_api`]) are merged over the
//! file's at every reload, and a change to them in the store swaps in a new broker through the
//! same path ([`Live::sync_iam`], run by a task [`Live::new`] starts).

use std::fmt;
use std::sync::{Arc, Weak};

use arc_swap::ArcSwap;

use super::auth_cache::AuthCache;
use super::caller::SigningKeyCache;
use super::iam_api::{self, IamSync};
use super::{Broker, StartError, oidc_providers};
use crate::config::{Config, ConfigError};
use crate::iam::api::Layer;
use crate::iam::{HeldSecret, Iam, Origin};
use crate::revocation::Principals;

/// Reads the configuration again: [`Config::load`] of the file `serve` was started with. Runs
/// on the blocking pool.
pub type Loader = Box<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>;

/// The broker serving now, and how to replace it. Front doors hold an `Arc<Live>` and take
/// [`Live::current`] once per request.
pub struct Live {
    current: ArcSwap<Broker>,
    load: Option<Arc<Loader>>,
    /// Held for a whole reload: no two at once.
    reloading: tokio::sync::Mutex<()>,
}

impl fmt::Debug for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Live")
            .field("source", &self.current.load().config.source)
            .field("reloadable", &self.load.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a reload was refused; the running configuration is kept in every case.
#[derive(Debug)]
pub enum ReloadError {
    /// The broker was started on a configuration it cannot read again.
    NoSource,
    /// Problems in the files, each with its file and line.
    Invalid(ConfigError),
    /// Settings only a restart applies, by name.
    NeedsRestart(Vec<&'static str>),
    /// The configuration is valid but could not be put in place (a provider, the store).
    Apply(String),
}

impl fmt::Display for ReloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadError::NoSource => f.write_str("no configuration file to read again"),
            ReloadError::Invalid(e) => write!(f, "{} problem(s): {e}", e.issues.len()),
            ReloadError::NeedsRestart(settings) => {
                write!(
                    f,
                    "changed settings need a restart: {}",
                    settings.join(", ")
                )
            }
            ReloadError::Apply(why) => write!(f, "cannot apply: {why}"),
        }
    }
}

/// What a reload put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    pub source: String,
    pub roles: usize,
    pub oidc_providers: usize,
    /// OIDC providers whose key cache (and fetched keys) was kept.
    pub key_caches_kept: usize,
    /// Revocation rules written for roles and users no longer configured.
    pub revoked: usize,
}

impl Live {
    /// Serves `broker`; `load` reads the configuration again on a reload (`None`: reloads are
    /// refused).
    ///
    /// Within a tokio runtime, also starts the task that applies changes made through IAM's
    /// API (on any replica) to the broker served ([`Live::sync_iam`]): woken by a change made
    /// here, else every [`iam_api::POLL`]; it ends with the last `Arc<Live>`.
    pub fn new(broker: Broker, load: Option<Loader>) -> Arc<Live> {
        let sync = Arc::clone(&broker.iam_sync);
        let live = Arc::new(Live {
            current: ArcSwap::from_pointee(broker),
            load: load.map(Arc::new),
            reloading: tokio::sync::Mutex::new(()),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            sync.started();
            runtime.spawn(apply_iam_changes(Arc::downgrade(&live), sync));
            runtime.spawn(reseal_rotated_secrets(Arc::downgrade(&live)));
        }
        live
    }

    /// Serves the API layer stored now if it is newer than the one served: reads it (one
    /// `GET` when nothing changed) and swaps in a broker with it merged, as a reload does
    /// (roles gone have their sessions ended, see [`Broker::rebuilt`]). Returns whether a new broker was swapped in; a
    /// failure keeps the one served.
    pub async fn sync_iam(&self) -> Result<bool, StartError> {
        let running = self.current();
        let version = running.store.iam_version().await?;
        if version == running.iam_layer.version {
            running.iam_sync.applied(version);
            return Ok(false);
        }
        let _one_at_a_time = self.reloading.lock().await;
        let running = self.current();
        let layer =
            iam_api::read_layer(&running.store, &iam_api::accounts(&running.config)).await?;
        if layer.version == running.iam_layer.version {
            running.iam_sync.applied(layer.version);
            return Ok(false);
        }
        let applied = layer.version;
        let (next, reloaded) = running.with_api_layer(layer).await?;
        self.current.store(Arc::new(next));
        running.iam_sync.applied(applied);
        tracing::info!(
            version = applied,
            roles = reloaded.roles,
            revoked = reloaded.revoked,
            "IAM API changes applied"
        );
        Ok(true)
    }

    /// The broker as of now: take it once per request and use it to the end.
    pub fn current(&self) -> Arc<Broker> {
        self.current.load_full()
    }

    /// Reloads the configuration (see the module header), counted in the broker's stats and
    /// logged. Runs on a task of its own: a caller that stops waiting does not cut it short.
    pub async fn reload(self: &Arc<Self>, trigger: &'static str) -> Result<Reloaded, ReloadError> {
        let live = Arc::clone(self);
        tokio::spawn(async move { live.reload_now(trigger).await })
            .await
            .unwrap_or_else(|e| Err(ReloadError::Apply(format!("the reload stopped: {e}"))))
    }

    /// Reloads on every `SIGHUP` from now until the process ends; signals that arrive during a
    /// reload are answered by one more reload after it.
    pub fn reload_on_sighup(self: &Arc<Self>) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = signal(SignalKind::hangup())?;
        let live = Arc::clone(self);
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                // The outcome is logged and counted by `reload`.
                let _ = live.reload("SIGHUP").await;
            }
        });
        Ok(())
    }

    async fn reload_now(&self, trigger: &'static str) -> Result<Reloaded, ReloadError> {
        let _one_at_a_time = self.reloading.lock().await;
        let result = self.apply().await;
        let running = self.current();
        running.stats.config_reload(result.is_ok());
        match &result {
            Ok(r) => tracing::info!(
                trigger,
                config = %r.source,
                roles = r.roles,
                oidc_providers = r.oidc_providers,
                key_caches_kept = r.key_caches_kept,
                revoked = r.revoked,
                "configuration reloaded"
            ),
            Err(ReloadError::Invalid(e)) => {
                for issue in &e.issues {
                    tracing::error!(
                        trigger,
                        "configuration not reloaded, the running one is kept: {issue}"
                    );
                }
            }
            Err(ReloadError::NeedsRestart(settings)) => {
                for setting in settings {
                    tracing::error!(
                        trigger,
                        config = %running.config.source,
                        "configuration not reloaded, the running one is kept: {setting} changed; \
                         only a restart applies it"
                    );
                }
            }
            Err(e @ (ReloadError::NoSource | ReloadError::Apply(_))) => tracing::error!(
                trigger,
                config = %running.config.source,
                "configuration not reloaded, the running one is kept: {e}"
            ),
        }
        result
    }

    async fn apply(&self) -> Result<Reloaded, ReloadError> {
        let load = self.load.clone().ok_or(ReloadError::NoSource)?;
        // Reading and checking every file is blocking work.
        let config = tokio::task::spawn_blocking(move || load())
            .await
            .map_err(|e| ReloadError::Apply(format!("reading the configuration stopped: {e}")))?
            .map_err(ReloadError::Invalid)?;
        let running = self.current();
        let changed = needs_restart(&running.config, &config);
        if !changed.is_empty() {
            return Err(ReloadError::NeedsRestart(changed));
        }
        let (next, reloaded) = running
            .reconfigured(config)
            .await
            .map_err(|e| ReloadError::Apply(e.to_string()))?;
        self.current.store(Arc::new(next));
        Ok(reloaded)
    }
}

/// The task [`Live::new`] starts beside [`apply_iam_changes`] (never holding it up): every
/// [`super::sealing::RESEAL_EVERY`], after `keys rotate` once the new key signs, the stored
/// secrets move to it; until the `Live` is gone.
async fn reseal_rotated_secrets(live: Weak<Live>) {
    loop {
        tokio::time::sleep(super::sealing::RESEAL_EVERY).await;
        let Some(live) = live.upgrade() else {
            return;
        };
        if let Err(e) = super::sealing::reseal_rotated(&live.current()).await {
            tracing::warn!(error = %e, "stored secrets could not be sealed again under the new session key; tried again later");
        }
    }
}

/// The task [`Live::new`] starts: applies stored IAM changes until the `Live` is gone. A store
/// that cannot be read keeps the layer served (the failure is counted by the store and logged
/// once until it reads again).
async fn apply_iam_changes(live: Weak<Live>, sync: Arc<IamSync>) {
    let mut failing = false;
    loop {
        sync.woken_or(iam_api::POLL).await;
        let Some(live) = live.upgrade() else {
            return;
        };
        match live.sync_iam().await {
            Ok(_) if failing => {
                failing = false;
                tracing::info!("IAM API changes are read again");
            }
            Ok(_) => {}
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "IAM API changes cannot be read; the entities served are kept");
            }
            Err(_) => {}
        }
    }
}

/// The settings bound at start that differ between `running` and `next`. Every setting read
/// only at start (a listener, a connection, an open file, the logger) belongs in this list:
/// one missing would be accepted by a reload and silently not applied.
pub fn needs_restart(running: &Config, next: &Config) -> Vec<&'static str> {
    let ext_listen = |c: &Config| c.ext_authz.as_ref().map(|e| e.listen.clone());
    [
        (
            "[server] listen",
            running.server.listen == next.server.listen,
        ),
        (
            "[server] max_body_bytes",
            running.server.max_body_bytes == next.server.max_body_bytes,
        ),
        (
            "[server] request_timeout_seconds",
            running.server.request_timeout_seconds == next.server.request_timeout_seconds,
        ),
        (
            "[server] header_read_timeout_seconds",
            running.server.header_read_timeout_seconds == next.server.header_read_timeout_seconds,
        ),
        (
            "[server] max_connections",
            running.server.max_connections == next.server.max_connections,
        ),
        (
            "[server] max_connections_per_ip",
            running.server.max_connections_per_ip == next.server.max_connections_per_ip,
        ),
        ("[store]", running.store == next.store),
        ("[keys] dir", running.keys_dir == next.keys_dir),
        ("[dev_issuer]", running.dev_issuer == next.dev_issuer),
        ("[audit] output", running.audit == next.audit),
        (
            "[ext_authz] listen",
            ext_listen(running) == ext_listen(next),
        ),
        ("[log] format", running.log_format == next.log_format),
        (
            "[metrics] listen",
            running.metrics_listen == next.metrics_listen,
        ),
    ]
    .into_iter()
    .filter(|(_, same)| !same)
    .map(|(name, _)| name)
    .collect()
}

/// [`iam_api::merge`] of `layer` over `base`, off the runtime: it parses every changed policy
/// document and SAML metadata document (IAM allows 10 MB of metadata), which must not hold up
/// the requests sharing a worker thread. `previous` is what the merge may reuse.
async fn merged_off_runtime(
    base: Config,
    layer: &Arc<Layer>,
    previous_config: &Config,
    previous_layer: &Arc<Layer>,
) -> Result<Config, StartError> {
    let layer = Arc::clone(layer);
    let previous = (previous_config.clone(), Arc::clone(previous_layer));
    tokio::task::spawn_blocking(move || {
        iam_api::merge(&base, &layer, Some((&previous.0, &previous.1)))
    })
    .await
    .map_err(|e| StartError::Merge(e.to_string()))
}

impl Broker {
    /// The broker for `config`, a reload of this one: the configuration and what derives from
    /// it are new (OIDC providers keep their key caches when their key source is unchanged;
    /// the throttle keeps its buckets when the limits are); store, keys, clock, audit log,
    /// revocations, SAML slots and counters are shared. Last, the revocation registry is
    /// reconciled with the new roles and users as at start: a failure there changes nothing.
    pub async fn reconfigured(&self, config: Config) -> Result<(Broker, Reloaded), StartError> {
        super::warn_root_access_keys(&config.iam);
        // The API layer served now, over the new file (its roles shared, not parsed again).
        let layer = Arc::clone(&self.iam_layer);
        let config = merged_off_runtime(config, &layer, &self.config, &layer).await?;
        self.rebuilt(config, layer).await
    }

    /// The broker for the same configuration file with `layer` of IAM's API merged in: what
    /// [`Live::sync_iam`] swaps in.
    pub async fn with_api_layer(&self, layer: Layer) -> Result<(Broker, Reloaded), StartError> {
        let layer = Arc::new(layer);
        let config =
            merged_off_runtime(self.config.clone(), &layer, &self.config, &self.iam_layer).await?;
        self.rebuilt(config, layer).await
    }

    /// The next broker for `config` (its IAM entities merged already) and the API `layer` in
    /// it: see [`Broker::reconfigured`]. Every role served now and not by the next broker (by
    /// ARN and id) has its sessions revoked, whatever made it go.
    async fn rebuilt(
        &self,
        config: Config,
        layer: Arc<Layer>,
    ) -> Result<(Broker, Reloaded), StartError> {
        let providers = oidc_providers(&config, self.dev_issuer.as_deref())?;
        let oidc = self.oidc.reconfigured(providers)?;
        let throttle = self.throttle.reconfigured(config.rate_limits);
        let key_caches_kept = config
            .oidc_providers
            .iter()
            .filter(|p| oidc.shares_keys_with(&self.oidc, &p.account, &p.issuer))
            .count();
        // A role served under an ARN that now serves another role (its id): the file's role
        // hid an API role of that ARN or stopped hiding it. Its sessions end as a removed
        // role's do, first, so that a failure changes nothing. An API role deleted and made
        // again is the exception: the deleting replica revoked it as of the deletion, and a
        // later cut here would end sessions of the new one (the earlier one's own sessions
        // are refused by its id).
        let now = self.clock.now();
        let mut revoked = Vec::new();
        for before in self.config.iam.roles() {
            let replaced = config.iam.role(&before.arn).is_some_and(|after| {
                after.role_id != before.role_id
                    && !(before.about.origin == Origin::Api && after.about.origin == Origin::Api)
            });
            if replaced {
                revoked.extend(
                    self.revocations
                        .revoke_removed_role(&before.arn, now)
                        .await?,
                );
            }
        }
        // The file's access keys (users' and roots') that were active and are not now
        // (removed, made inactive, moved to another user): the sessions made with them end, as
        // a key deactivated through IAM's API ends its own ([`super::iam_api`]).
        for gone in file_keys_gone(&self.config.iam, &config.iam) {
            revoked.extend(self.revocations.revoke_file_key(gone, now).await?);
        }
        // Roles no longer served at all, API roles too (deleted, hidden by a file role at
        // another path, their account gone, a policy that no longer parses): their sessions
        // end, so that one served again later does not bring them back.
        revoked.extend(
            self.revocations
                .reconfigure(Principals::held(&config, &layer), now)
                .await?,
        );
        let reloaded = Reloaded {
            source: config.source.clone(),
            roles: config.iam.roles().count(),
            oidc_providers: config.oidc_providers.len(),
            key_caches_kept,
            revoked: revoked.len(),
        };
        let next = Broker {
            config,
            oidc,
            store: self.store.clone(),
            keys: self.keys.clone(),
            dev_issuer: self.dev_issuer.clone(),
            clock: self.clock.clone(),
            signing_keys: SigningKeyCache::default(),
            auth_cache: AuthCache::default(),
            audit: self.audit.clone(),
            revocations: self.revocations.clone(),
            saml_slots: self.saml_slots.clone(),
            password_slots: self.password_slots.clone(),
            simulation_slots: self.simulation_slots.clone(),
            stats: self.stats.clone(),
            throttle,
            iam_layer: layer,
            iam_sync: self.iam_sync.clone(),
            key_use: self.key_use.clone(),
        };
        Ok((next, reloaded))
    }
}

/// The ids of the configuration file's access keys active in `before` that `after` does not
/// serve as an active key of the same user (by ARN and id). A key created through IAM's API is
/// not one: the change that deactivates or deletes it revokes its sessions.
fn file_keys_gone<'a>(before: &'a Iam, after: &Iam) -> Vec<&'a str> {
    let users = before.users().chain(before.roots().map(|r| &r.user));
    users
        .flat_map(|user| user.access_keys.iter().map(move |key| (user, key)))
        .filter(|(_, key)| key.active && matches!(key.secret, HeldSecret::File(_)))
        .filter(|(user, key)| {
            !after.user_by_access_key(&key.id).is_some_and(|(now, k)| {
                k.active && now.arn == user.arn && now.user_id == user.user_id
            })
        })
        .map(|(_, key)| key.id.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::clock::SystemClock;

    const BASE: &str = r#"
[store]
url = "memory://"
[keys]
dir = "keys"
[[accounts]]
id = "111122223333"
"#;
    const ROLE: &str = r#"
[[roles]]
account = "111122223333"
name = "app"
trust_policy = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
"#;

    /// The configuration text reloads read, and how many reads ran at once at most.
    #[derive(Default)]
    struct Source {
        text: Mutex<String>,
        reading: AtomicUsize,
        most_at_once: AtomicUsize,
    }

    fn load(source: &Arc<Source>, dir: &std::path::Path) -> Loader {
        let (source, dir) = (Arc::clone(source), dir.to_path_buf());
        Box::new(move || {
            let now = source.reading.fetch_add(1, Ordering::SeqCst) + 1;
            source.most_at_once.fetch_max(now, Ordering::SeqCst);
            // Long enough for overlapping reloads to overlap here, were they allowed to.
            std::thread::sleep(std::time::Duration::from_millis(20));
            let text = source.text.lock().unwrap().clone();
            source.reading.fetch_sub(1, Ordering::SeqCst);
            Config::from_toml(&text, "broker.toml", &dir)
        })
    }

    fn roles(broker: &Broker) -> usize {
        broker.config.iam.roles().count()
    }

    #[tokio::test]
    async fn a_request_keeps_its_configuration_and_a_refused_reload_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let source = Arc::new(Source::default());
        let config = Config::from_toml(BASE, "broker.toml", dir.path()).unwrap();
        let broker = Broker::build(config, Arc::new(SystemClock)).await.unwrap();
        let live = Live::new(broker, Some(load(&source, dir.path())));
        let in_flight = live.current();

        *source.text.lock().unwrap() = format!("{BASE}{ROLE}");
        let reloaded = live.reload("test").await.unwrap();
        assert_eq!(reloaded.roles, 1);
        assert_eq!((roles(&in_flight), roles(&live.current())), (0, 1));
        assert!(Arc::ptr_eq(&in_flight.stats, &live.current().stats));

        let applied = live.current();
        let broken = format!("{BASE}{ROLE}\nnot toml\n");
        let line = broken.lines().position(|l| l == "not toml").unwrap() + 1;
        *source.text.lock().unwrap() = broken;
        let Err(ReloadError::Invalid(e)) = live.reload("test").await else {
            panic!("a broken file was applied");
        };
        assert_eq!(e.issues[0].line, Some(line));
        *source.text.lock().unwrap() = format!("{}{ROLE}", BASE.replace("\"keys\"", "\"k2\""));
        let Err(ReloadError::NeedsRestart(changed)) = live.reload("test").await else {
            panic!("a new keys folder was applied");
        };
        assert_eq!(changed, ["[keys] dir"]);
        assert!(Arc::ptr_eq(&applied, &live.current()));
        assert_eq!(applied.stats.config_reloads(), (1, 2));
    }

    /// Roles made through IAM's API are served at once and survive a reload of the file.
    #[tokio::test]
    async fn a_reload_merges_the_roles_made_through_the_api() {
        use crate::iam::api::{RoleChange, StoredRole};
        let dir = tempfile::tempdir().unwrap();
        let source = Arc::new(Source::default());
        *source.text.lock().unwrap() = format!("{BASE}{ROLE}");
        let config = Config::from_toml(BASE, "broker.toml", dir.path()).unwrap();
        let broker = Broker::build(config, Arc::new(SystemClock)).await.unwrap();
        let live = Live::new(broker, Some(load(&source, dir.path())));
        let role = StoredRole {
            name: "made".into(),
            path: "/".into(),
            role_id: crate::iam::new_unique_id("AROA").unwrap(),
            description: None,
            max_session_duration: 3600,
            trust_policy: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#.into(),
            inline_policies: Default::default(),
            tags: Vec::new(),
            created: 0,
            attached_policies: Vec::new(),
            permissions_boundary: None,
        };
        iam_api::change(&live.current(), "111122223333", &RoleChange::Create(role))
            .await
            .unwrap();
        let made = "arn:aws:iam::111122223333:role/made";
        assert!(live.current().config.iam.role(made).is_some());
        let reloaded = live.reload("test").await.unwrap();
        assert_eq!(reloaded.roles, 2);
        let current = live.current();
        assert_eq!(
            current.config.iam.role(made).unwrap().about.origin,
            Origin::Api
        );
        assert!(matches!(
            current
                .config
                .iam
                .role("arn:aws:iam::111122223333:role/app")
                .unwrap()
                .about
                .origin,
            Origin::File(_)
        ));
    }

    #[tokio::test]
    async fn reloads_run_one_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let source = Arc::new(Source::default());
        *source.text.lock().unwrap() = BASE.to_owned();
        let config = Config::from_toml(BASE, "broker.toml", dir.path()).unwrap();
        let broker = Broker::build(config, Arc::new(SystemClock)).await.unwrap();
        let live = Live::new(broker, Some(load(&source, dir.path())));
        let all: Vec<_> = (0..4)
            .map(|_| {
                let live = Arc::clone(&live);
                tokio::spawn(async move { live.reload("test").await })
            })
            .collect();
        for reload in all {
            assert!(reload.await.unwrap().is_ok());
        }
        assert_eq!(source.most_at_once.load(Ordering::SeqCst), 1);
        assert_eq!(live.current().stats.config_reloads(), (4, 0));
    }

    #[tokio::test]
    async fn without_a_file_a_reload_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::from_toml(BASE, "broker.toml", dir.path()).unwrap();
        let broker = Broker::build(config, Arc::new(SystemClock)).await.unwrap();
        let live = Live::new(broker, None);
        assert!(matches!(
            live.reload("test").await,
            Err(ReloadError::NoSource)
        ));
        assert_eq!(live.current().stats.config_reloads(), (0, 1));
    }
}
