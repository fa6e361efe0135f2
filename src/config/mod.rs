//! Configuration: the TOML file (see [`file`]) turned into a checked [`Config`]. Every problem is
//! collected, not just the first, each with the file and line it comes from, so `check-config`
//! can list them all. Paths in the file are relative to the file's own folder. Secrets (users'
//! access keys, MFA seeds) are read from the environment or files at load time ([`users`]).

pub mod file;
mod locate;
mod saml;
mod users;

pub use saml::SamlProvider;
pub use users::{MAX_ACCESS_KEYS_PER_USER, MAX_GROUPS_PER_USER, MAX_MFA_DEVICES_PER_USER};

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::iam::{self, Account, Iam, Role};
use crate::policy::{self, NamedPolicy, PolicyType, is_account_id};
use crate::routes::Route;
use crate::secret::Secret;
use file::ConfigFile;

/// The configuration `serve` uses when given none: memory store, dev issuer, demo roles.
pub const EMBEDDED_DEV_CONFIG: &str = include_str!("../../config/dev.toml");

/// Longest token-time leeway accepted, in seconds.
pub const MAX_LEEWAY_SECONDS: u64 = 600;
/// Longest `max_token_lifetime_seconds` a provider may allow (30 days): a subject revocation
/// lives at least that long.
pub const MAX_TOKEN_LIFETIME_SECONDS: u64 = 30 * 24 * 3600;

/// A checked configuration.
#[derive(Debug)]
pub struct Config {
    /// Where it came from, for messages.
    pub source: String,
    pub server: file::ServerSection,
    pub store_url: StoreUrl,
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
}

/// The checked `[ext_authz]` section.
#[derive(Debug)]
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

/// The store URL. It may carry a Redis password, so `Debug` and `Display` hide the userinfo.
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

    /// The configured provider whose issuer is `issuer`.
    /// The SAML provider with this ARN.
    pub fn saml_provider(&self, arn: &str) -> Option<&SamlProvider> {
        self.saml_providers.iter().find(|p| p.arn == arn)
    }

    pub fn oidc_provider(&self, issuer: &str) -> Option<&OidcProvider> {
        self.oidc_providers.iter().find(|p| p.issuer == issuer)
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

fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

struct Checker<'a> {
    text: &'a str,
    name: &'a str,
    base: &'a Path,
    env: &'a dyn Fn(&str) -> Option<String>,
    issues: Vec<Issue>,
}

impl Checker<'_> {
    fn issue(&mut self, line: Option<usize>, message: String) {
        self.issues.push(Issue {
            file: self.name.to_owned(),
            line,
            message,
        });
    }

    fn finish_err(&mut self) -> ConfigError {
        ConfigError {
            issues: std::mem::take(&mut self.issues),
        }
    }

    /// Line of the `index`-th `[[table]]` header.
    fn entry_line(&self, table: &str, index: usize) -> Option<usize> {
        let header = format!("[[{table}]]");
        self.text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim_start().starts_with(&header))
            .nth(index)
            .map(|(n, _)| n + 1)
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.base.join(relative)
    }

    /// Reads and compiles a policy file, reporting problems against the policy file itself.
    fn policy_file(&mut self, relative: &str, kind: PolicyType, name: &str) -> Option<NamedPolicy> {
        let path = self.path(relative);
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                self.issues.push(Issue {
                    file: shown,
                    line: None,
                    message: format!("cannot read policy file: {e}"),
                });
                return None;
            }
        };
        self.policy_text(&text, kind, name, &shown, None)
    }

    fn policy_text(
        &mut self,
        text: &str,
        kind: PolicyType,
        name: &str,
        file: &str,
        fallback_line: Option<usize>,
    ) -> Option<NamedPolicy> {
        match policy::parse(text, kind) {
            Ok(p) => Some(NamedPolicy::new(name.to_owned(), p)),
            Err(e) => {
                // JSON errors name their line; semantic errors carry a JSON path to locate.
                let line = if fallback_line.is_some() {
                    fallback_line
                } else {
                    locate::line_in_message(&e.detail).or_else(|| locate::line_of(text, &e.path))
                };
                self.issues.push(Issue {
                    file: file.to_owned(),
                    line,
                    message: format!("{} ({} policy): {e}", e.code(), kind.name()),
                });
                None
            }
        }
    }

    fn check(&mut self, raw: ConfigFile) -> Config {
        let mut iam = Iam::default();
        for (i, a) in raw.accounts.iter().enumerate() {
            let line = self.entry_line("accounts", i);
            if !is_account_id(&a.id) {
                self.issue(line, format!("account id {:?} is not 12 digits", a.id));
            } else if iam.accounts.contains_key(&a.id) {
                self.issue(line, format!("account {} is listed twice", a.id));
            }
            iam.accounts.insert(
                a.id.clone(),
                Account {
                    id: a.id.clone(),
                    alias: a.alias.clone(),
                },
            );
        }

        let oidc_providers = self.check_providers(&raw, &iam);
        let saml_providers = self.check_saml_providers(&raw, &iam);

        for (i, p) in raw.policies.iter().enumerate() {
            let line = self.entry_line("policies", i);
            self.known_account(&iam, &p.account, line);
            if !iam::is_valid_name(&p.name, 128) {
                self.issue(line, format!("policy name {:?} is not valid", p.name));
            }
            let arn = iam::policy_arn(&p.account, &p.name);
            if iam.policies.contains_key(&arn) {
                self.issue(line, format!("policy {arn} is defined twice"));
            }
            if let Some(policy) = self.policy_file(&p.file, PolicyType::Identity, &arn) {
                iam.policies.insert(arn, policy);
            }
        }

        for (i, r) in raw.roles.iter().enumerate() {
            let line = self.entry_line("roles", i);
            if let Some(role) = self.check_role(r, &iam, line) {
                if iam.role(&role.arn).is_some() {
                    self.issue(line, format!("role {} is defined twice", role.arn));
                }
                iam.add_role(role);
            }
        }
        self.check_principals(&raw, &mut iam);

        let dev_issuer = if raw.dev_issuer.enabled {
            match &raw.dev_issuer.issuer {
                Some(issuer) if oidc_providers.iter().any(|p| &p.issuer == issuer) => {
                    Some(issuer.clone())
                }
                Some(issuer) => {
                    self.issue(
                        None,
                        format!(
                            "[dev_issuer] issuer {issuer:?} must also be listed in [[oidc_providers]]"
                        ),
                    );
                    None
                }
                None => {
                    self.issue(None, "[dev_issuer] enabled needs an issuer".to_owned());
                    None
                }
            }
        } else {
            None
        };

        if raw.server.listen.parse::<std::net::SocketAddr>().is_err() {
            self.issue(
                None,
                format!(
                    "[server] listen {:?} is not an address:port",
                    raw.server.listen
                ),
            );
        }
        if !(1024..=16 * 1024 * 1024).contains(&raw.server.max_body_bytes) {
            self.issue(
                None,
                "[server] max_body_bytes must be between 1 KiB and 16 MiB".to_owned(),
            );
        }
        let store_url = StoreUrl(raw.store.url.clone());
        let shown = store_url.to_string();
        let store_url_text = store_url.as_str();
        if store_url_text != "memory://"
            && !store_url_text.starts_with("redis://")
            && !store_url_text.starts_with("rediss://")
        {
            self.issue(
                None,
                format!("[store] url {shown:?} must be memory:// or redis://host:port/db"),
            );
        }

        Config {
            source: self.name.to_owned(),
            server: raw.server,
            store_url,
            keys_dir: self.path(&raw.keys.dir),
            dev_issuer,
            oidc_providers,
            iam,
            saml_providers,
            audit: match raw.audit.output.as_str() {
                "off" | "" => AuditOutput::Off,
                "stdout" => AuditOutput::Stdout,
                "stderr" => AuditOutput::Stderr,
                path => AuditOutput::File(self.path(path)),
            },
            ext_authz: raw.ext_authz.as_ref().and_then(|e| self.ext_authz(e)),
        }
    }

    fn ext_authz(&mut self, raw: &file::ExtAuthzSection) -> Option<ExtAuthz> {
        let line = self
            .text
            .lines()
            .position(|l| l.trim_start().starts_with("[ext_authz]"))
            .map(|n| n + 1);
        let before = self.issues.len();
        if raw.listen.parse::<std::net::SocketAddr>().is_err() {
            self.issue(
                line,
                format!("ext_authz.listen {:?} is not an address:port", raw.listen),
            );
        }
        if !raw.path_prefix.is_empty()
            && (!raw.path_prefix.starts_with('/') || raw.path_prefix.ends_with('/'))
        {
            self.issue(
                line,
                "ext_authz.path_prefix must start with / and not end with /".to_owned(),
            );
        }
        let secret = match (&raw.secret_env, &raw.secret_file) {
            (None, None) => None,
            (env, file) => self.secret("ext_authz secret", env.as_deref(), file.as_deref(), line),
        };
        let mode = match raw.mode.as_deref() {
            Some("envoy") => Some(ProxyMode::Envoy),
            Some("nginx") => Some(ProxyMode::Nginx),
            other => {
                self.issue(
                    line,
                    format!(
                        "ext_authz.mode must be \"envoy\" or \"nginx\" (got {:?})",
                        other.unwrap_or("nothing")
                    ),
                );
                None
            }
        };
        let loopback = raw
            .listen
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|a| a.ip().is_loopback());
        if mode == Some(ProxyMode::Nginx)
            && !loopback
            && (raw.secret_env.is_none() && raw.secret_file.is_none())
        {
            self.issue(
                line,
                format!(
                    "ext_authz.mode = \"nginx\" trusts X-Original-URI and X-Original-Method: listen on \
                     loopback or set secret_file / secret_env (listen is {:?})",
                    raw.listen
                ),
            );
        }
        let mut trusted_proxies = Vec::new();
        for cidr in &raw.trusted_proxies {
            let parsed = cidr
                .parse::<ipnet::IpNet>()
                .or_else(|_| cidr.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
            match parsed {
                Ok(net) => trusted_proxies.push(net),
                Err(_) => self.issue(
                    line,
                    format!("ext_authz.trusted_proxies: {cidr:?} is not an address or CIDR"),
                ),
            }
        }
        let mut routes = Vec::new();
        for (i, r) in raw.routes.iter().enumerate() {
            let compiled = Route::compile(&r.method, &r.path, &r.action, &r.resource)
                .and_then(|route| match &r.service {
                    Some(s) => route.with_service(s),
                    None => Ok(route),
                })
                .map(|route| route.with_presigned(r.allow_presigned));
            match compiled {
                Ok(route) => routes.push(route),
                Err(message) => {
                    let line = self.entry_line("ext_authz.routes", i);
                    self.issue(line, format!("ext_authz route: {message}"));
                }
            }
        }
        let mode = mode?;
        (self.issues.len() == before).then(|| ExtAuthz {
            listen: raw.listen.clone(),
            mode,
            trusted_proxies,
            path_prefix: raw.path_prefix.clone(),
            secret,
            routes,
        })
    }

    fn known_account(&mut self, iam: &Iam, account: &str, line: Option<usize>) {
        if !iam.accounts.contains_key(account) {
            self.issue(
                line,
                format!("account {account:?} is not listed in [[accounts]]"),
            );
        }
    }

    fn check_providers(&mut self, raw: &ConfigFile, iam: &Iam) -> Vec<OidcProvider> {
        let mut out: Vec<OidcProvider> = Vec::new();
        for (i, p) in raw.oidc_providers.iter().enumerate() {
            let line = self.entry_line("oidc_providers", i);
            self.known_account(iam, &p.account, line);
            let https = p.issuer.starts_with("https://");
            let http = p.issuer.starts_with("http://");
            if !(https || (http && p.allow_http)) {
                self.issue(
                    line,
                    format!(
                        "issuer {:?} must start with https:// (http:// only with allow_http = true)",
                        p.issuer
                    ),
                );
            }
            if p.issuer.contains(['?', '#']) || issuer_host_path(&p.issuer).is_empty() {
                self.issue(
                    line,
                    format!(
                        "issuer {:?} must be a URL without query or fragment",
                        p.issuer
                    ),
                );
            }
            if let Some(uri) = &p.jwks_uri
                && !(uri.starts_with("https://") || (p.allow_http && uri.starts_with("http://")))
            {
                self.issue(
                    line,
                    format!("jwks_uri {uri:?} must start with https:// (http:// only with allow_http = true)"),
                );
            }
            if p.client_ids.is_empty() || p.client_ids.len() > 100 {
                self.issue(line, "client_ids must list 1 to 100 audiences".to_owned());
            }
            if p.client_ids.iter().any(|c| c.is_empty() || c.len() > 255) {
                self.issue(
                    line,
                    "each client id must be 1 to 255 characters".to_owned(),
                );
            }
            if !(60..=MAX_TOKEN_LIFETIME_SECONDS).contains(&p.max_token_lifetime_seconds) {
                self.issue(
                    line,
                    format!(
                        "max_token_lifetime_seconds must be 60 to {MAX_TOKEN_LIFETIME_SECONDS}"
                    ),
                );
            }
            if p.leeway_seconds > MAX_LEEWAY_SECONDS {
                self.issue(
                    line,
                    format!("leeway_seconds must be at most {MAX_LEEWAY_SECONDS}"),
                );
            }
            for spelling in &p.accepted_issuers {
                let scheme_ok = spelling.starts_with("https://")
                    || (p.allow_http && spelling.starts_with("http://"));
                if !scheme_ok || spelling.contains(['?', '#']) || *spelling == p.issuer {
                    self.issue(
                        line,
                        format!(
                            "accepted issuer {spelling:?} must be another https:// spelling of the issuer, without query or fragment"
                        ),
                    );
                }
            }
            if !(1..=30).contains(&p.jwks_fetch_timeout_seconds) {
                self.issue(
                    line,
                    "jwks_fetch_timeout_seconds must be 1 to 30".to_owned(),
                );
            }
            let host_path = issuer_host_path(&p.issuer);
            if out.iter().any(|o| issuer_host_path(&o.issuer) == host_path) {
                self.issue(
                    line,
                    format!(
                        "issuer {:?} is configured twice (ports are not part of a provider's name)",
                        p.issuer
                    ),
                );
            }
            out.push(OidcProvider {
                account: p.account.clone(),
                issuer: p.issuer.clone(),
                accepted_issuers: p.accepted_issuers.clone(),
                arn: format!("arn:aws:iam::{}:oidc-provider/{host_path}", p.account),
                client_ids: p.client_ids.clone(),
                jwks_uri: p.jwks_uri.clone(),
                allow_http: p.allow_http,
                leeway: Duration::from_secs(p.leeway_seconds),
                refetch_interval: Duration::from_secs(p.jwks_refetch_seconds),
                max_key_age: Duration::from_secs(p.jwks_max_age_seconds),
                max_token_lifetime: Duration::from_secs(p.max_token_lifetime_seconds),
                fetch_timeout: Duration::from_secs(p.jwks_fetch_timeout_seconds),
            });
        }
        out
    }

    fn check_role(&mut self, r: &file::RoleEntry, iam: &Iam, line: Option<usize>) -> Option<Role> {
        let before = self.issues.len();
        self.known_account(iam, &r.account, line);
        if !iam::is_valid_name(&r.name, 64) {
            self.issue(line, format!("role name {:?} is not valid", r.name));
        }
        if !iam::is_valid_path(&r.path) {
            self.issue(
                line,
                format!("role path {:?} must start and end with /", r.path),
            );
        }
        if !(3600..=43200).contains(&r.max_session_duration) {
            self.issue(
                line,
                "max_session_duration must be between 3600 and 43200 seconds".to_owned(),
            );
        }
        if r.tags.len() > 50 {
            self.issue(line, "a role has at most 50 tags".to_owned());
        }
        let arn = iam::role_arn(&r.account, &r.path, &r.name);
        let trust_name = format!("{arn} (trust policy)");
        let trust = match (&r.trust_policy_file, &r.trust_policy) {
            (Some(file), None) => self.policy_file(file, PolicyType::Trust, &trust_name),
            (None, Some(text)) => {
                let file = self.name.to_owned();
                self.policy_text(text, PolicyType::Trust, &trust_name, &file, line)
            }
            _ => {
                self.issue(
                    line,
                    format!("role {arn} needs exactly one of trust_policy_file and trust_policy"),
                );
                None
            }
        };
        let mut identity = Vec::new();
        for f in &r.policy_files {
            let name = format!("{arn} (inline {f})");
            if let Some(p) = self.policy_file(f, PolicyType::Identity, &name) {
                identity.push(p);
            }
        }
        for m in &r.managed_policies {
            match iam.policies.get(m) {
                Some(p) => identity.push(p.clone()),
                None => self.issue(
                    line,
                    format!("managed policy {m} is not defined in [[policies]]"),
                ),
            }
        }
        let boundary = r
            .permissions_boundary
            .as_ref()
            .and_then(|b| match iam.policies.get(b) {
                Some(p) => Some(p.clone()),
                None => {
                    self.issue(
                        line,
                        format!("permissions boundary {b} is not defined in [[policies]]"),
                    );
                    None
                }
            });
        if self.issues.len() > before {
            return None;
        }
        Some(Role {
            account: r.account.clone(),
            name: r.name.clone(),
            path: r.path.clone(),
            role_id: iam::stable_id("AROA", &format!("{}/{}", r.account, r.name)),
            arn,
            trust_policy: trust?,
            identity_policies: identity,
            permissions_boundary: boundary,
            max_session_duration: r.max_session_duration,
            tags: r.tags.clone(),
        })
    }
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
