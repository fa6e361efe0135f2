//! Configuration: the TOML file (see [`mod@file`]) turned into a checked [`Config`]. Every problem is
//! collected, not just the first, each with the file and line it comes from, so `check-config`
//! can list them all. Paths in the file are relative to the file's own folder. Secrets (users'
//! access keys, MFA seeds) are read from the environment or files at load time ([`users`]).

pub mod api_providers;
mod check;
pub mod file;
pub mod hygiene;
mod locate;
mod rate_limits;
mod root;
mod saml;
mod signin;
mod store;
mod users;

pub use file::LogFormat;
pub use rate_limits::RateLimits;
pub use saml::SamlProvider;
pub use signin::SignIn;
pub use store::{Credentials, StoreSettings, Topology};
pub use users::{MAX_ACCESS_KEYS_PER_USER, MAX_GROUPS_PER_USER, MAX_MFA_DEVICES_PER_USER};

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::iam::{self, Account, Iam, Origin, Role, RoleAbout};
use crate::policy::{self, NamedPolicy, PolicyType, is_account_id};
use crate::routes::Route;
use crate::secret::Secret;
use check::{Checker, line_at};
use file::ConfigFile;

/// The configuration `serve` uses when given none: memory store, dev issuer, demo roles.
pub const EMBEDDED_DEV_CONFIG: &str = include_str!("../../config/dev.toml");

/// Longest token-time leeway accepted, in seconds.
pub const MAX_LEEWAY_SECONDS: u64 = 600;
/// Longest `max_token_lifetime_seconds` a provider may allow (30 days): a subject revocation
/// lives at least that long.
pub const MAX_TOKEN_LIFETIME_SECONDS: u64 = 30 * 24 * 3600;

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from, for messages.
    pub source: String,
    pub server: file::ServerSection,
    /// Where the store is and how to reach it (`[store]`).
    pub store: StoreSettings,
    pub keys_dir: PathBuf,
    /// The dev issuer's `iss`, when enabled.
    pub dev_issuer: Option<String>,
    pub oidc_providers: Vec<OidcProvider>,
    pub iam: Iam,
    pub saml_providers: Vec<SamlProvider>,
    /// Where the audit log goes (`[audit] output`).
    pub audit: AuditOutput,
    /// The `ext_authz` listener, when configured.
    pub ext_authz: Option<ExtAuthz>,
    /// How log lines are written (`[log] format`).
    pub log_format: LogFormat,
    /// Where the Prometheus metrics listener listens (`[metrics] listen`), when configured.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Throttling (`[rate_limits]`); none configured: no limits.
    pub rate_limits: RateLimits,
    /// Signing in with a password (`[signin]`): the lockout.
    pub signin: SignIn,
    /// What `check-config` warns about (`[hygiene]`, see [`hygiene::warnings`]).
    pub hygiene: hygiene::Hygiene,
}

/// The checked `[ext_authz]` section.
#[derive(Debug, Clone)]
pub struct ExtAuthz {
    pub listen: String,
    /// Which proxy asks, and so where the original request is described.
    pub mode: ProxyMode,
    /// Peers whose word on the client's address and scheme is taken.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub path_prefix: String,
    /// The shared secret proxies must send, when configured.
    pub secret: Option<Secret>,
    pub routes: Vec<Route>,
}

/// The proxy in front of the `ext_authz` listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Envoy's `ext_authz` HTTP service: the request itself is the original one (after
    /// `path_prefix`); `X-Original-*`, `X-Forwarded-*` and `X-Real-IP` are ignored.
    Envoy,
    /// nginx `auth_request`: `X-Original-Method` / `X-Original-URI` describe the original
    /// request; only on a listener that requires the shared secret or listens on loopback.
    Nginx,
}

/// A store URL as written. A password in it is refused by the checks, but `Debug` and
/// `Display` hide any userinfo all the same (messages about a refused URL show it).
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl(String);

impl StoreUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0.split_once("://"), self.0.rfind('@')) {
            (Some((scheme, _)), Some(at)) => write!(f, "{scheme}://***{}", &self.0[at..]),
            _ => f.write_str(&self.0),
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

/// A configured OIDC identity provider.
#[derive(Debug, Clone)]
pub struct OidcProvider {
    pub account: String,
    pub issuer: String,
    /// Other exact spellings of the issuer accepted in `iss`.
    pub accepted_issuers: Vec<String>,
    /// `arn:aws:iam::ACCOUNT:oidc-provider/HOST/PATH`.
    pub arn: String,
    pub client_ids: Vec<String>,
    pub jwks_uri: Option<String>,
    pub allow_http: bool,
    pub leeway: Duration,
    pub refetch_interval: Duration,
    pub max_key_age: Duration,
    /// Longest accepted `exp - iat` of a token (`max_token_lifetime_seconds`).
    pub max_token_lifetime: Duration,
    /// Bound on one key fetch (discovery and JWKS together).
    pub fetch_timeout: Duration,
    /// Keys only from public addresses (the file's `public_only`); providers created through
    /// IAM's API always are, unless `[server] allow_http_api_providers`.
    pub public_only: bool,
    /// The file, or IAM's API ([`api_providers`]).
    pub origin: Origin,
    /// When the file was read, or when it was created through the API.
    pub created: time::OffsetDateTime,
}

impl OidcProvider {
    /// The issuer's host and path ([`issuer_host_path`]): the end of the provider's ARN, which
    /// is made from it, and the prefix of its condition keys (`HOST/PATH:sub`).
    pub fn host_path(&self) -> &str {
        self.arn
            .split_once(":oidc-provider/")
            .map_or("", |(_, host_path)| host_path)
    }
}

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Every problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub issues: Vec<Issue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            issues: vec![Issue {
                file: name.clone(),
                line: None,
                message: format!("cannot read: {e}"),
            }],
        })?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Config::from_toml(&text, &name, &base)
    }

    /// The embedded dev configuration, read as if it were `config/dev.toml` under `root`
    /// (normally the working directory): its keys go to `root/keys`.
    pub fn embedded(root: &Path) -> Result<Config, ConfigError> {
        Config::from_toml(
            EMBEDDED_DEV_CONFIG,
            "<embedded config/dev.toml>",
            &root.join("config"),
        )
    }

    /// Checks configuration text; `name` is used in messages, `base` resolves relative paths.
    /// `secret_env` names are looked up in the process environment.
    pub fn from_toml(text: &str, name: &str, base: &Path) -> Result<Config, ConfigError> {
        Config::from_toml_with_env(text, name, base, &|var| std::env::var(var).ok())
    }

    /// As [`Config::from_toml`], with `env` answering for environment variables.
    pub fn from_toml_with_env(
        text: &str,
        name: &str,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut checker = Checker {
            text,
            name,
            base,
            env,
            issues: Vec::new(),
        };
        let raw: ConfigFile = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                let line = e.span().map(|s| line_at(text, s.start));
                checker.issue(line, e.message().to_owned());
                return Err(checker.finish_err());
            }
        };
        let config = checker.check(raw);
        if checker.issues.is_empty() {
            Ok(config)
        } else {
            Err(checker.finish_err())
        }
    }

    /// The SAML provider with this ARN.
    pub fn saml_provider(&self, arn: &str) -> Option<&SamlProvider> {
        self.saml_providers.iter().find(|p| p.arn == arn)
    }

    /// `account`'s OIDC provider whose issuer (as configured) is `issuer`: accounts register
    /// their own provider for an issuer, as in IAM.
    pub fn oidc_provider(&self, account: &str, issuer: &str) -> Option<&OidcProvider> {
        self.oidc_providers
            .iter()
            .find(|p| p.account == account && p.issuer == issuer)
    }
}

/// The issuer without its scheme, port or trailing slash: what follows `oidc-provider/` in the
/// ARN and prefixes its condition keys (`token.actions.githubusercontent.com:sub`). IAM provider
/// URLs have no port, and a condition key may hold only one colon, so a port (seen only on
/// loopback and development issuers) is not part of the name.
pub fn issuer_host_path(issuer: &str) -> String {
    let rest = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .unwrap_or(issuer)
        .trim_end_matches('/');
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = match host.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    format!("{host}{path}")
}

/// Where audit lines go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AuditOutput {
    #[default]
    Off,
    Stdout,
    Stderr,
    /// Appended to; created with mode 0600 when missing.
    File(PathBuf),
}

#[cfg(test)]
mod tests {
    use super::StoreUrl;

    #[test]
    fn store_url_hides_passwords() {
        let url = StoreUrl("redis://:hunter2@cache:6379/0".to_owned());
        assert_eq!(url.to_string(), "redis://***@cache:6379/0");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(url.as_str(), "redis://:hunter2@cache:6379/0");
        assert_eq!(StoreUrl("memory://".to_owned()).to_string(), "memory://");
    }
}
