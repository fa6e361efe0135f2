//! The checks that turn a parsed file into a [`Config`]: every problem reported with its file
//! and line, nothing half-checked accepted.

use std::path::Path;
use std::time::Duration;

use super::file::{ConfigFile, PasswordPolicyEntry};
use super::*;
use crate::iam::passwords::PolicyInput;

/// `[server]`'s `request_timeout_seconds` and `header_read_timeout_seconds`.
const SERVER_TIMEOUT_SECONDS: std::ops::RangeInclusive<u64> = 1..=3600;
/// `[server] max_connections` (and `max_connections_per_ip`, which may also be 0: no limit).
const MAX_CONNECTIONS: std::ops::RangeInclusive<u64> = 1..=1_000_000;

pub(super) fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

pub(super) struct Checker<'a> {
    pub(super) text: &'a str,
    pub(super) name: &'a str,
    pub(super) base: &'a Path,
    pub(super) env: &'a dyn Fn(&str) -> Option<String>,
    pub(super) issues: Vec<Issue>,
}

impl Checker<'_> {
    pub(super) fn issue(&mut self, line: Option<usize>, message: String) {
        self.issues.push(Issue {
            file: self.name.to_owned(),
            line,
            message,
        });
    }

    pub(super) fn finish_err(&mut self) -> ConfigError {
        ConfigError {
            issues: std::mem::take(&mut self.issues),
        }
    }

    /// Line of the `index`-th `[[table]]` header.
    pub(super) fn entry_line(&self, table: &str, index: usize) -> Option<usize> {
        let header = format!("[[{table}]]");
        self.text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim_start().starts_with(&header))
            .nth(index)
            .map(|(n, _)| n + 1)
    }

    pub(super) fn path(&self, relative: &str) -> PathBuf {
        self.base.join(relative)
    }

    /// Reads and compiles a policy file, reporting problems against the policy file itself;
    /// with the document as written.
    pub(super) fn policy_file_with_text(
        &mut self,
        relative: &str,
        kind: PolicyType,
        name: &str,
    ) -> Option<(NamedPolicy, String)> {
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
        let policy = self.policy_text(&text, kind, name, &shown, None)?;
        Some((policy, text))
    }

    pub(super) fn policy_text(
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

    /// An account's `password_policy`: every value out of IAM's range is reported at the
    /// line that sets the policy (else the entry's).
    fn check_password_policy(
        &mut self,
        iam: &mut Iam,
        account: &str,
        p: &PasswordPolicyEntry,
        entry: Option<usize>,
    ) {
        let input = PolicyInput {
            minimum_length: p.minimum_length,
            require_symbols: p.require_symbols,
            require_numbers: p.require_numbers,
            require_uppercase: p.require_uppercase,
            require_lowercase: p.require_lowercase,
            allow_users_to_change: p.allow_users_to_change,
            max_age_days: p.max_age_days,
            reuse_prevention: p.reuse_prevention,
            hard_expiry: p.hard_expiry,
        };
        match input.checked() {
            Ok(policy) => {
                iam.password_policies.insert(account.to_owned(), policy);
            }
            Err(problems) => {
                let line = entry.and_then(|start| {
                    self.text
                        .lines()
                        .enumerate()
                        .skip(start)
                        .take_while(|(_, l)| !l.trim_start().starts_with('['))
                        .find(|(_, l)| l.trim_start().starts_with("password_policy"))
                        .map(|(n, _)| n + 1)
                });
                for (param, problem) in problems {
                    let key = match param {
                        "minimumPasswordLength" => "minimum_length",
                        "maxPasswordAge" => "max_age_days",
                        _ => "reuse_prevention",
                    };
                    let bound = problem
                        .split_once("Member must ")
                        .map_or(problem.as_str(), |(_, b)| b);
                    self.issue(
                        line.or(entry),
                        format!(
                            "password_policy of account {account}: {key} must {bound} (IAM's limits)"
                        ),
                    );
                }
            }
        }
    }

    pub(super) fn check(&mut self, raw: ConfigFile) -> Config {
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
                    api_alias: None,
                },
            );
            if let Some(p) = &a.password_policy {
                self.check_password_policy(&mut iam, &a.id, p, line);
            }
        }

        let oidc_providers = self.check_providers(&raw, &iam);
        let saml_providers = self.check_saml_providers(&raw, &iam);

        for (i, p) in raw.policies.iter().enumerate() {
            let line = self.entry_line("policies", i);
            self.known_account(&iam, &p.account, line);
            if !iam::is_valid_name(&p.name, 128) {
                self.issue(line, format!("policy name {:?} is not valid", p.name));
            }
            if !iam::is_valid_path(&p.path) {
                self.issue(
                    line,
                    format!("policy path {:?} must start and end with /", p.path),
                );
            }
            if let Some(d) = &p.description
                && iam::api::check_description(d).is_err()
            {
                self.issue(
                    line,
                    "description must be at most 1000 characters, tab, newline or printable \
                     Latin-1"
                        .to_owned(),
                );
            }
            let arn = iam::policy_arn_at(&p.account, &p.path, &p.name);
            if iam.policies.contains_key(&arn) {
                self.issue(line, format!("policy {arn} is defined twice"));
            }
            let read = match (&p.file, &p.document) {
                (Some(file), None) => self.policy_file_with_text(file, PolicyType::Identity, &arn),
                (None, Some(text)) => {
                    let file = self.name.to_owned();
                    self.policy_text(text, PolicyType::Identity, &arn, &file, line)
                        .map(|policy| (policy, text.clone()))
                }
                _ => {
                    self.issue(
                        line,
                        format!("policy {arn} needs exactly one of file and document"),
                    );
                    None
                }
            };
            if let Some((policy, document)) = read {
                let read = time::OffsetDateTime::now_utc();
                let about = iam::ManagedPolicy {
                    account: p.account.clone(),
                    name: p.name.clone(),
                    path: p.path.clone(),
                    arn: arn.clone(),
                    policy_id: iam::stable_id("ANPA", &format!("{}/{}", p.account, p.name)),
                    origin: Origin::File(self.name.to_owned()),
                    description: p.description.clone(),
                    created: read,
                    updated: read,
                    default_version: "v1".to_owned(),
                    versions: vec![iam::PolicyVersion {
                        id: "v1".to_owned(),
                        document,
                        created: read,
                    }],
                    tags: Vec::new(),
                };
                iam.managed_policies
                    .insert(arn.clone(), std::sync::Arc::new(about));
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
        self.server_limits(&raw.server);
        let store = self.store(&raw.store);

        let metrics_listen = raw
            .metrics
            .as_ref()
            .and_then(|m| self.metrics(m, &raw.server.listen));
        let hygiene = self.hygiene(&raw);
        Config {
            source: self.name.to_owned(),
            server: raw.server,
            store,
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
            log_format: raw.log.format,
            metrics_listen,
            rate_limits: self.rate_limits(raw.rate_limits.as_ref()),
            signin: self.signin(raw.signin.as_ref()),
            hygiene,
        }
    }

    /// `[server]`'s deadlines and connection caps: none may be zero (a zero deadline would
    /// refuse every request, a zero cap every connection) but `max_connections_per_ip`, where 0
    /// means no limit.
    fn server_limits(&mut self, server: &file::ServerSection) {
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let bounded = [
            (
                "request_timeout_seconds",
                server.request_timeout_seconds,
                SERVER_TIMEOUT_SECONDS,
            ),
            (
                "header_read_timeout_seconds",
                server.header_read_timeout_seconds,
                SERVER_TIMEOUT_SECONDS,
            ),
            (
                "max_connections",
                count(server.max_connections),
                MAX_CONNECTIONS,
            ),
            (
                "max_connections_per_ip",
                count(server.max_connections_per_ip),
                0..=*MAX_CONNECTIONS.end(),
            ),
        ];
        for (key, value, range) in bounded {
            if range.contains(&value) {
                continue;
            }
            let lowest = match range.start() {
                0 => "0 (no limit)".to_owned(),
                n => n.to_string(),
            };
            let line = self.key_line("[server]", key);
            self.issue(
                line,
                format!(
                    "[server] {key} must be {lowest} to {} (got {value})",
                    range.end()
                ),
            );
        }
    }

    /// The `[metrics]` listener's address: an `address:port`, not the main listener's.
    pub(super) fn metrics(
        &mut self,
        raw: &file::MetricsSection,
        server_listen: &str,
    ) -> Option<std::net::SocketAddr> {
        let line = self.key_line("[metrics]", "listen");
        let Ok(address) = raw.listen.parse::<std::net::SocketAddr>() else {
            self.issue(
                line,
                format!("[metrics] listen {:?} is not an address:port", raw.listen),
            );
            return None;
        };
        if address.port() != 0 && server_listen.parse() == Ok(address) {
            self.issue(
                line,
                format!("[metrics] listen {address} is also [server] listen"),
            );
            return None;
        }
        Some(address)
    }

    /// Line of `key = ...` in the table whose header is `header` (else the header's line).
    pub(super) fn key_line(&self, header: &str, key: &str) -> Option<usize> {
        let mut lines = self.text.lines().enumerate();
        let (start, _) = lines.find(|(_, l)| l.trim_start().starts_with(header))?;
        let found = lines
            .take_while(|(_, l)| !l.trim_start().starts_with('['))
            .find(|(_, l)| {
                l.trim_start()
                    .strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            });
        Some(found.map_or(start, |(n, _)| n) + 1)
    }

    pub(super) fn ext_authz(&mut self, raw: &file::ExtAuthzSection) -> Option<ExtAuthz> {
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

    pub(super) fn known_account(&mut self, iam: &Iam, account: &str, line: Option<usize>) {
        if !iam.accounts.contains_key(account) {
            self.issue(
                line,
                format!("account {account:?} is not listed in [[accounts]]"),
            );
        }
    }

    pub(super) fn check_providers(&mut self, raw: &ConfigFile, iam: &Iam) -> Vec<OidcProvider> {
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
            // One provider per issuer in an account; other accounts register their own.
            let host_path = issuer_host_path(&p.issuer);
            if out
                .iter()
                .any(|o| o.account == p.account && issuer_host_path(&o.issuer) == host_path)
            {
                self.issue(
                    line,
                    format!(
                        "issuer {:?} is configured twice in account {} (ports are not part of a provider's name)",
                        p.issuer, p.account
                    ),
                );
            }
            out.push(OidcProvider {
                account: p.account.clone(),
                issuer: p.issuer.clone(),
                accepted_issuers: p.accepted_issuers.clone(),
                arn: iam::providers::oidc_arn(&p.account, &host_path),
                client_ids: p.client_ids.clone(),
                jwks_uri: p.jwks_uri.clone(),
                allow_http: p.allow_http,
                leeway: Duration::from_secs(p.leeway_seconds),
                refetch_interval: Duration::from_secs(p.jwks_refetch_seconds),
                max_key_age: Duration::from_secs(p.jwks_max_age_seconds),
                max_token_lifetime: Duration::from_secs(p.max_token_lifetime_seconds),
                fetch_timeout: Duration::from_secs(p.jwks_fetch_timeout_seconds),
                public_only: p.public_only,
                origin: Origin::File(self.name.to_owned()),
                created: time::OffsetDateTime::now_utc(),
            });
        }
        out
    }

    pub(super) fn check_role(
        &mut self,
        r: &file::RoleEntry,
        iam: &Iam,
        line: Option<usize>,
    ) -> Option<Role> {
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
        if let Some(d) = &r.description
            && iam::api::check_description(d).is_err()
        {
            self.issue(
                line,
                "description must be at most 1000 characters, tab, newline or printable \
                 Latin-1"
                    .to_owned(),
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
            (Some(file), None) => self.policy_file_with_text(file, PolicyType::Trust, &trust_name),
            (None, Some(text)) => {
                let file = self.name.to_owned();
                self.policy_text(text, PolicyType::Trust, &trust_name, &file, line)
                    .map(|p| (p, text.clone()))
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
        let mut inline_documents = Vec::new();
        for f in &r.policy_files {
            let name = format!("{arn} (inline {f})");
            if let Some((p, text)) = self.policy_file_with_text(f, PolicyType::Identity, &name) {
                identity.push(p);
                let shown = Path::new(f)
                    .file_name()
                    .map_or_else(|| f.clone(), |n| n.to_string_lossy().into_owned());
                inline_documents.push((shown, text));
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
        let (trust, trust_document) = trust?;
        Some(Role {
            account: r.account.clone(),
            name: r.name.clone(),
            path: r.path.clone(),
            role_id: iam::stable_id("AROA", &format!("{}/{}", r.account, r.name)),
            arn,
            trust_policy: trust,
            identity_policies: identity,
            permissions_boundary: boundary,
            max_session_duration: r.max_session_duration,
            tags: r.tags.clone(),
            about: RoleAbout {
                origin: Origin::File(self.name.to_owned()),
                description: r.description.clone(),
                created: time::OffsetDateTime::now_utc(),
                trust_document,
                inline_documents,
                attached_policies: r.managed_policies.clone(),
                permissions_boundary: r.permissions_boundary.clone(),
            },
        })
    }
}
