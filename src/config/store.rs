//! `[store]` checked into [`StoreSettings`]: one Redis (`url`, `redis://` or `rediss://`), a
//! Redis Cluster (`cluster_urls`) or a master found through Sentinel (`sentinel_urls` and
//! `sentinel_master`), with an optional private CA and ACL user, and for Sentinels their own
//! user and password. Passwords are read from an environment variable or a file at load time;
//! a URL carrying one is refused.

use std::fmt;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use zeroize::Zeroizing;

use super::StoreUrl;
use super::check::Checker;
use super::file::StoreSection;
use crate::secret::Secret;

/// The checked `[store]` section.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreSettings {
    pub topology: Topology,
    /// PEM of the private CA the servers' certificates must chain to (`ca_file`); else the
    /// system's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// The ACL user; `None`: the default user.
    pub username: Option<String>,
    pub password: Option<Secret>,
}

/// Where the store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topology {
    /// The embedded store of one process.
    Memory,
    /// One Redis server.
    Single(StoreUrl),
    /// The seed nodes of a Redis Cluster.
    Cluster(Vec<StoreUrl>),
    /// The master named `master` by these Sentinels, asked as `auth` (`sentinel_username`,
    /// `sentinel_password_env` or `sentinel_password_file`; none: without credentials).
    Sentinel {
        urls: Vec<StoreUrl>,
        master: String,
        auth: Credentials,
    },
}

/// An ACL user and its password, each optional: `None` is the default user, or no password.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<Secret>,
}

/// The keys naming one user and its password in `[store]`.
struct CredentialKeys {
    username: &'static str,
    password_env: &'static str,
    password_file: &'static str,
}

/// The Redis servers' user and password.
const SERVER_KEYS: CredentialKeys = CredentialKeys {
    username: "username",
    password_env: "password_env",
    password_file: "password_file",
};

/// The Sentinels' own user and password.
const SENTINEL_KEYS: CredentialKeys = CredentialKeys {
    username: "sentinel_username",
    password_env: "sentinel_password_env",
    password_file: "sentinel_password_file",
};

impl StoreSettings {
    /// The embedded `memory://` store.
    pub fn memory() -> StoreSettings {
        StoreSettings {
            topology: Topology::Memory,
            ca_pem: None,
            username: None,
            password: None,
        }
    }

    pub fn is_memory(&self) -> bool {
        self.topology == Topology::Memory
    }
}

impl fmt::Display for StoreSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |urls: &[StoreUrl]| {
            urls.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match &self.topology {
            Topology::Memory => f.write_str("memory://")?,
            Topology::Single(url) => write!(f, "{url}")?,
            Topology::Cluster(urls) => write!(f, "Redis Cluster (seeds {})", list(urls))?,
            Topology::Sentinel { urls, master, auth } => {
                write!(f, "Sentinel master {master:?} (sentinels {}", list(urls))?;
                if let Some(user) = &auth.username {
                    write!(f, " as user {user:?}")?;
                }
                f.write_str(")")?;
            }
        }
        if let Some(user) = &self.username {
            write!(f, " as user {user:?}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreSettings")
            .field("topology", &self.topology)
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<pem>"))
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

impl Checker<'_> {
    pub(super) fn store(&mut self, raw: &StoreSection) -> StoreSettings {
        let chosen = [
            raw.url.is_some(),
            raw.cluster_urls.is_some(),
            raw.sentinel_urls.is_some(),
        ];
        if chosen.iter().filter(|c| **c).count() > 1 {
            let at = self
                .store_line("cluster_urls")
                .or(self.store_line("sentinel_urls"));
            self.issue(
                at,
                "[store] takes exactly one of url, cluster_urls and sentinel_urls".to_owned(),
            );
            return StoreSettings::memory();
        }
        if raw.sentinel_urls.is_none() {
            let sentinel_only = [
                ("sentinel_master", raw.sentinel_master.is_some()),
                (SENTINEL_KEYS.username, raw.sentinel_username.is_some()),
                (
                    SENTINEL_KEYS.password_env,
                    raw.sentinel_password_env.is_some(),
                ),
                (
                    SENTINEL_KEYS.password_file,
                    raw.sentinel_password_file.is_some(),
                ),
            ];
            for (key, _) in sentinel_only.into_iter().filter(|(_, set)| *set) {
                let at = self.store_line(key);
                self.issue(
                    at,
                    format!("[store] {key} needs sentinel_urls: it is only for Sentinels"),
                );
            }
        }
        let topology = if let Some(urls) = &raw.cluster_urls {
            let at = self.store_line("cluster_urls");
            Topology::Cluster(self.store_urls("cluster_urls", urls, at, true))
        } else if let Some(urls) = &raw.sentinel_urls {
            let at = self.store_line("sentinel_urls");
            let urls = self.store_urls("sentinel_urls", urls, at, false);
            let master = match raw.sentinel_master.as_deref() {
                Some(m) if !m.trim().is_empty() => m.to_owned(),
                _ => {
                    let at = match raw.sentinel_master {
                        Some(_) => self.store_line("sentinel_master"),
                        None => at,
                    };
                    self.issue(
                        at,
                        "[store] sentinel_urls needs sentinel_master, the name the Sentinels \
                         know the master by"
                            .to_owned(),
                    );
                    String::new()
                }
            };
            let auth = self.credentials(
                &SENTINEL_KEYS,
                raw.sentinel_username.as_deref(),
                raw.sentinel_password_env.as_deref(),
                raw.sentinel_password_file.as_deref(),
            );
            Topology::Sentinel { urls, master, auth }
        } else {
            match raw.url.as_deref() {
                None | Some("memory://") => Topology::Memory,
                Some(url) => {
                    let at = self.store_line("url");
                    match self.store_url("url", url, at, false) {
                        Some(url) => Topology::Single(url),
                        None => Topology::Memory,
                    }
                }
            }
        };
        let tls = match &topology {
            Topology::Memory => false,
            Topology::Single(url) => is_tls(url),
            Topology::Cluster(urls) | Topology::Sentinel { urls, .. } => urls.iter().any(is_tls),
        };
        if let Topology::Cluster(urls) | Topology::Sentinel { urls, .. } = &topology
            && urls.iter().any(is_tls)
            && !urls.iter().all(is_tls)
        {
            let key = match topology {
                Topology::Cluster(_) => "cluster_urls",
                _ => "sentinel_urls",
            };
            let at = self.store_line(key);
            self.issue(
                at,
                format!("[store] {key} mixes redis:// and rediss://: use one scheme"),
            );
        }
        let ca_pem = raw.ca_file.as_deref().and_then(|file| {
            let at = self.store_line("ca_file");
            if !tls {
                self.issue(
                    at,
                    "[store] ca_file is only for TLS (rediss://) connections".to_owned(),
                );
                return None;
            }
            self.ca_file(file, at)
        });
        let memory = topology == Topology::Memory;
        let Credentials { username, password } = self.credentials(
            &SERVER_KEYS,
            raw.username.as_deref(),
            raw.password_env.as_deref(),
            raw.password_file.as_deref(),
        );
        if memory
            && (raw.username.is_some() || raw.password_env.is_some() || raw.password_file.is_some())
        {
            let at = self
                .store_line("username")
                .or(self.store_line("password_env"))
                .or(self.store_line("password_file"));
            self.issue(
                at,
                "[store] username and password are for Redis, not memory://".to_owned(),
            );
        }
        StoreSettings {
            topology,
            ca_pem,
            username,
            password,
        }
    }

    /// The user and password `keys` name: a user name without spaces or control characters,
    /// the password read by [`Checker::store_password`].
    fn credentials(
        &mut self,
        keys: &CredentialKeys,
        username: Option<&str>,
        password_env: Option<&str>,
        password_file: Option<&str>,
    ) -> Credentials {
        if let Some(user) = username
            && (user.is_empty() || user.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            let at = self.store_line(keys.username);
            self.issue(
                at,
                format!(
                    "[store] {} {user:?} is empty or holds spaces or control characters",
                    keys.username
                ),
            );
        }
        Credentials {
            username: username.map(str::to_owned),
            password: self.store_password(keys, password_env, password_file),
        }
    }

    fn store_line(&self, key: &str) -> Option<usize> {
        self.key_line("[store]", key)
    }

    fn store_urls(
        &mut self,
        key: &str,
        urls: &[String],
        at: Option<usize>,
        cluster: bool,
    ) -> Vec<StoreUrl> {
        if urls.is_empty() {
            self.issue(at, format!("[store] {key} lists no server"));
        }
        urls.iter()
            .filter_map(|u| self.store_url(key, u, at, cluster))
            .collect()
    }

    /// A `redis://` or `rediss://` URL without credentials or `#insecure`; on a cluster, of
    /// database 0 (the only one a cluster has).
    fn store_url(
        &mut self,
        key: &str,
        url: &str,
        at: Option<usize>,
        cluster: bool,
    ) -> Option<StoreUrl> {
        let shown = StoreUrl(url.to_owned()).to_string();
        let Some(rest) = url
            .strip_prefix("redis://")
            .or_else(|| url.strip_prefix("rediss://"))
        else {
            let what = if key == "url" {
                "memory://, redis://host:port/db or rediss://host:port/db"
            } else {
                "redis://host:port or rediss://host:port"
            };
            self.issue(at, format!("[store] {key} {shown:?} must be {what}"));
            return None;
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            let keys = if key == "sentinel_urls" {
                &SENTINEL_KEYS
            } else {
                &SERVER_KEYS
            };
            self.issue(
                at,
                format!(
                    "[store] {key} {shown:?} carries credentials: name the user with {} and the \
                     password with {} or {}",
                    keys.username, keys.password_env, keys.password_file
                ),
            );
            return None;
        }
        if url.contains('#') {
            self.issue(
                at,
                format!(
                    "[store] {key} {shown:?} has a #fragment (such as #insecure): certificates \
                     are always checked; use ca_file for a private CA"
                ),
            );
            return None;
        }
        match redis::IntoConnectionInfo::into_connection_info(url) {
            Err(e) => {
                self.issue(
                    at,
                    format!("[store] {key} {shown:?} is not a Redis URL: {e}"),
                );
                None
            }
            Ok(info) if cluster && info.redis_settings().db() != 0 => {
                self.issue(
                    at,
                    format!("[store] {key} {shown:?}: a Redis Cluster has only database 0"),
                );
                None
            }
            Ok(_) => Some(StoreUrl(url.to_owned())),
        }
    }

    /// The certificates of `ca_file`: at least one, all readable PEM.
    fn ca_file(&mut self, file: &str, at: Option<usize>) -> Option<Vec<u8>> {
        let path = self.path(file);
        let pem = match std::fs::read(&path) {
            Ok(pem) => pem,
            Err(e) => {
                self.issue(
                    at,
                    format!("[store] cannot read ca_file {}: {e}", path.display()),
                );
                return None;
            }
        };
        match CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>() {
            Ok(certs) if !certs.is_empty() => Some(pem),
            Ok(_) => {
                self.issue(
                    at,
                    format!(
                        "[store] ca_file {} holds no PEM certificate",
                        path.display()
                    ),
                );
                None
            }
            Err(e) => {
                self.issue(
                    at,
                    format!(
                        "[store] ca_file {} is not PEM certificates: {e}",
                        path.display()
                    ),
                );
                None
            }
        }
    }

    /// The password named by `keys.password_env` or `keys.password_file` (at most one),
    /// trimmed.
    fn store_password(
        &mut self,
        keys: &CredentialKeys,
        password_env: Option<&str>,
        password_file: Option<&str>,
    ) -> Option<Secret> {
        let CredentialKeys {
            password_env: env_key,
            password_file: file_key,
            ..
        } = *keys;
        let (source, value, at) = match (password_env, password_file) {
            (None, None) => return None,
            (Some(_), Some(_)) => {
                let at = self.store_line(file_key);
                self.issue(
                    at,
                    format!("[store] takes one of {env_key} and {file_key}, not both"),
                );
                return None;
            }
            (Some(var), None) => {
                let at = self.store_line(env_key);
                match (self.env)(var).map(Zeroizing::new) {
                    Some(v) => (format!("environment variable {var}"), v, at),
                    None => {
                        self.issue(
                            at,
                            format!("[store] {env_key}: environment variable {var} is not set"),
                        );
                        return None;
                    }
                }
            }
            (None, Some(file)) => {
                let at = self.store_line(file_key);
                let path = self.path(file);
                match std::fs::read_to_string(&path) {
                    Ok(v) => (path.display().to_string(), Zeroizing::new(v), at),
                    Err(e) => {
                        self.issue(
                            at,
                            format!("[store] cannot read {file_key} {}: {e}", path.display()),
                        );
                        return None;
                    }
                }
            }
        };
        let trimmed = value.trim();
        if trimmed.is_empty() || trimmed.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
            self.issue(
                at,
                format!(
                    "[store] the password in {source} is empty or holds spaces, control or \
                     non-ASCII characters"
                ),
            );
            return None;
        }
        Some(Secret::new(trimmed.to_owned()))
    }
}

fn is_tls(url: &StoreUrl) -> bool {
    url.as_str().starts_with("rediss://")
}
