//! The TOML configuration file as written: plain serde structs, every table and key named as in
//! the public interface. Unknown keys are errors, so a typo cannot silently drop a setting.
//! Meaning (paths, policies, ARNs) is given to these values in [`Config::from_toml`](super::Config::from_toml) and the checks (`check.rs`).

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub keys: KeysSection,
    #[serde(default)]
    pub dev_issuer: DevIssuerSection,
    #[serde(default)]
    pub accounts: Vec<AccountEntry>,
    #[serde(default)]
    pub oidc_providers: Vec<OidcProviderEntry>,
    #[serde(default)]
    pub roles: Vec<RoleEntry>,
    #[serde(default)]
    pub policies: Vec<PolicyEntry>,
    #[serde(default)]
    pub users: Vec<UserEntry>,
    #[serde(default)]
    pub groups: Vec<GroupEntry>,
    #[serde(default)]
    pub mfa_devices: Vec<MfaDeviceEntry>,
    #[serde(default)]
    pub saml_providers: Vec<SamlProviderEntry>,
    #[serde(default)]
    pub audit: AuditSection,
    pub ext_authz: Option<ExtAuthzSection>,
    #[serde(default)]
    pub log: LogSection,
    pub metrics: Option<MetricsSection>,
    /// Throttling; no limits when absent.
    pub rate_limits: Option<RateLimitsSection>,
    /// Signing in with a password: the lockout (defaults when absent).
    pub signin: Option<SignInSection>,
    /// What `check-config` warns about in the credentials configured.
    #[serde(default)]
    pub hygiene: HygieneSection,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Whole-request deadline, in seconds.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_seconds: u64,
    /// Longest a connection may go with no request in progress, in seconds: a new one until
    /// its first request's headers are complete, a kept-alive one until its next request's.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_seconds: u64,
    /// Connections open at once on each listener; more wait in the kernel's backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Connections one address may hold at once on each listener (0: no limit but
    /// `max_connections`); further ones are closed as soon as accepted. For a broker reached
    /// directly: behind a proxy every connection comes from the proxy's addresses.
    #[serde(default)]
    pub max_connections_per_ip: usize,
    /// The region named in responses and accepted in credential scopes.
    #[serde(default = "default_region")]
    pub region: String,
    /// Lets OpenID Connect providers created through IAM's API use an `http://` URL (tests
    /// and development only; IAM requires `https://`). Off by default.
    #[serde(default)]
    pub allow_http_api_providers: bool,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: default_listen(),
            max_body_bytes: default_max_body_bytes(),
            request_timeout_seconds: default_request_timeout(),
            header_read_timeout_seconds: default_header_read_timeout(),
            max_connections: default_max_connections(),
            max_connections_per_ip: 0,
            region: default_region(),
            allow_http_api_providers: false,
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:4566".to_owned()
}

/// Room for a 100,000-character `SAMLAssertion` even when every character is percent-encoded,
/// plus a session policy and the other parameters.
fn default_max_body_bytes() -> usize {
    512 * 1024
}

fn default_request_timeout() -> u64 {
    10
}

fn default_header_read_timeout() -> u64 {
    10
}

fn default_max_connections() -> usize {
    10_000
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

/// `[store]`: exactly one of `url`, `cluster_urls` and `sentinel_urls` (none: `memory://`).
/// No password is written here: `password_env` or `password_file` names the servers' password,
/// `sentinel_password_env` or `sentinel_password_file` the Sentinels'.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `memory://`, `redis://host:port/db` or `rediss://host:port/db`.
    pub url: Option<String>,
    /// PEM file of the CA that signed the Redis servers' certificates (`rediss://` only).
    pub ca_file: Option<String>,
    /// The ACL user (else the default user).
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<String>,
    /// Seed nodes of a Redis Cluster.
    pub cluster_urls: Option<Vec<String>>,
    /// Sentinels watching `sentinel_master`.
    pub sentinel_urls: Option<Vec<String>>,
    pub sentinel_master: Option<String>,
    /// The Sentinels' own ACL user and password (`sentinel_urls` only), named like `username`
    /// and `password_env` / `password_file`.
    pub sentinel_username: Option<String>,
    pub sentinel_password_env: Option<String>,
    pub sentinel_password_file: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysSection {
    #[serde(default = "default_keys_dir")]
    pub dir: String,
}

impl Default for KeysSection {
    fn default() -> Self {
        KeysSection {
            dir: default_keys_dir(),
        }
    }
}

fn default_keys_dir() -> String {
    "keys".to_owned()
}

/// A local OIDC issuer for newcomers and users' own CI tests. Off unless enabled.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevIssuerSection {
    #[serde(default)]
    pub enabled: bool,
    /// The `iss` of dev tokens; it must also be listed in `[[oidc_providers]]`.
    #[serde(default)]
    pub issuer: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountEntry {
    pub id: String,
    #[serde(default)]
    pub alias: Option<String>,
    /// The account's password policy (read-only through IAM's API).
    #[serde(default)]
    pub password_policy: Option<PasswordPolicyEntry>,
    /// The account's root user (none when absent).
    #[serde(default)]
    pub root: Option<RootEntry>,
}

/// `password_policy = { ... }` of an `[[accounts]]` entry: IAM's password policy, each value
/// optional with IAM's default (bounds checked in `check.rs`).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordPolicyEntry {
    /// 6 to 128; 6 when absent.
    pub minimum_length: Option<i64>,
    #[serde(default)]
    pub require_symbols: bool,
    #[serde(default)]
    pub require_numbers: bool,
    #[serde(default)]
    pub require_uppercase: bool,
    #[serde(default)]
    pub require_lowercase: bool,
    /// 1 to 1095 days; passwords never expire when absent.
    pub max_age_days: Option<i64>,
    /// 1 to 24 of the last passwords; none when absent.
    pub reuse_prevention: Option<i64>,
    #[serde(default)]
    pub hard_expiry: bool,
    #[serde(default)]
    pub allow_users_to_change: bool,
}

/// `root = { ... }` of an `[[accounts]]` entry: the root user's password (an Argon2id PHC hash
/// in a file), its MFA seed (base32, from an environment variable), and access keys only when
/// listed here. Secrets are never written in the configuration itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootEntry {
    /// A file holding the password's `$argon2id$...` hash (relative to the configuration).
    #[serde(default)]
    pub password_file: Option<String>,
    /// An environment variable holding the root's virtual MFA seed (base32).
    #[serde(default)]
    pub mfa_secret_env: Option<String>,
    /// Root access keys: reported loudly (check-config, the log, the credential report).
    #[serde(default)]
    pub access_keys: Vec<AccessKeyEntry>,
}

/// `[hygiene]`: the limits `check-config` warns past.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HygieneSection {
    /// An active access key created longer ago than this is reported (IAM's guidance: rotate).
    #[serde(default = "default_max_key_age_days")]
    pub max_key_age_days: u32,
    /// Two active keys of one user, the newer older than this, are reported (a rotation left
    /// unfinished).
    #[serde(default = "default_second_key_grace_days")]
    pub second_key_grace_days: u32,
}

impl Default for HygieneSection {
    fn default() -> Self {
        HygieneSection {
            max_key_age_days: default_max_key_age_days(),
            second_key_grace_days: default_second_key_grace_days(),
        }
    }
}

fn default_max_key_age_days() -> u32 {
    90
}

fn default_second_key_grace_days() -> u32 {
    14
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderEntry {
    pub account: String,
    pub issuer: String,
    /// Other exact spellings of `issuer` accepted in tokens' `iss` (e.g. with a trailing `/`).
    #[serde(default)]
    pub accepted_issuers: Vec<String>,
    pub client_ids: Vec<String>,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub allow_http: bool,
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// Least time between two key-set fetches caused by an unknown `kid`.
    #[serde(default = "default_refetch")]
    pub jwks_refetch_seconds: u64,
    /// Age after which cached keys are refreshed on next use.
    #[serde(default = "default_key_age")]
    pub jwks_max_age_seconds: u64,
    /// Longest a token may be valid (`exp - iat`); tokens valid longer, or without `iat`, are
    /// refused, so that a subject revocation can outlive every token issued before it.
    #[serde(default = "default_max_token_lifetime")]
    pub max_token_lifetime_seconds: u64,
    /// Bound on one key fetch (discovery and JWKS together), 1 to 30 seconds.
    #[serde(default = "default_fetch_timeout")]
    pub jwks_fetch_timeout_seconds: u64,
    /// Fetch keys only from public addresses, as for providers created through IAM's API (an
    /// exported one keeps it).
    #[serde(default)]
    pub public_only: bool,
}

pub(super) fn default_max_token_lifetime() -> u64 {
    86_400
}

pub(super) fn default_fetch_timeout() -> u64 {
    5
}

pub(super) fn default_leeway() -> u64 {
    60
}

pub(super) fn default_refetch() -> u64 {
    10
}

pub(super) fn default_key_age() -> u64 {
    3600
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleEntry {
    pub account: String,
    pub name: String,
    #[serde(default = "default_path")]
    pub path: String,
    #[serde(default)]
    pub trust_policy_file: Option<String>,
    #[serde(default)]
    pub trust_policy: Option<String>,
    /// Inline identity policies, one JSON file each.
    #[serde(default)]
    pub policy_files: Vec<String>,
    /// Customer-managed policy ARNs (`[[policies]]`).
    #[serde(default)]
    pub managed_policies: Vec<String>,
    /// A customer-managed policy ARN.
    #[serde(default)]
    pub permissions_boundary: Option<String>,
    #[serde(default = "default_max_session")]
    pub max_session_duration: u32,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// What `GetRole` shows as its description.
    #[serde(default)]
    pub description: Option<String>,
}

fn default_path() -> String {
    "/".to_owned()
}

fn default_max_session() -> u32 {
    3600
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyEntry {
    pub account: String,
    pub name: String,
    /// Part of its ARN (`arn:aws:iam::ACCOUNT:policy/PATH/NAME`).
    #[serde(default = "default_path")]
    pub path: String,
    /// The document's file; or `document`, the JSON itself (exactly one of the two).
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub document: Option<String>,
    /// What `GetPolicy` shows as its description.
    #[serde(default)]
    pub description: Option<String>,
}

/// An IAM user with long-term access keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    pub account: String,
    pub name: String,
    #[serde(default = "default_path")]
    pub path: String,
    /// Names of `[[groups]]` of the same account.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Inline identity policies, one JSON file each.
    #[serde(default)]
    pub policy_files: Vec<String>,
    /// Customer-managed policy ARNs (`[[policies]]`).
    #[serde(default)]
    pub managed_policies: Vec<String>,
    /// A customer-managed policy ARN.
    #[serde(default)]
    pub permissions_boundary: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub access_keys: Vec<AccessKeyEntry>,
}

/// A long-term access key. The secret is never written in the file: it comes from an
/// environment variable or a file, and a `secret` key is refused as unknown.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKeyEntry {
    pub id: String,
    #[serde(default)]
    pub secret_env: Option<String>,
    #[serde(default)]
    pub secret_file: Option<String>,
    #[serde(default)]
    pub status: KeyStatus,
    /// RFC 3339.
    #[serde(default)]
    pub created: Option<String>,
}

/// IAM's access key status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum KeyStatus {
    #[default]
    Active,
    Inactive,
}

/// A group of users sharing policies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupEntry {
    pub account: String,
    pub name: String,
    /// Part of its ARN (`arn:aws:iam::ACCOUNT:group/PATH/NAME`).
    #[serde(default = "default_path")]
    pub path: String,
    #[serde(default)]
    pub policy_files: Vec<String>,
    #[serde(default)]
    pub managed_policies: Vec<String>,
}

/// A virtual MFA device: a TOTP seed (base32) from an environment variable or a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaDeviceEntry {
    pub account: String,
    /// The user's name in `account`.
    pub user: String,
    /// `arn:aws:iam::ACCOUNT:mfa/NAME`.
    pub serial: String,
    #[serde(default)]
    pub secret_env: Option<String>,
    #[serde(default)]
    pub secret_file: Option<String>,
}

/// A SAML 2.0 identity provider (`AssumeRoleWithSAML`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlProviderEntry {
    pub account: String,
    /// The provider's name: ARN `arn:aws:iam::ACCOUNT:saml-provider/NAME`.
    pub name: String,
    /// The IdP's metadata XML (entity id and signing certificates).
    pub metadata_file: String,
    /// Required in the assertion's `AudienceRestriction`.
    #[serde(default = "default_saml_endpoint")]
    pub audience: String,
    /// Required as `Recipient` (and `Destination` when present).
    #[serde(default = "default_saml_endpoint")]
    pub recipient: String,
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// Accept RSA-SHA1 signatures and SHA-1 digests (old IdPs).
    #[serde(default)]
    pub allow_sha1: bool,
}

/// AWS's SAML endpoint: its audience and assertion consumer URL.
pub fn default_saml_endpoint() -> String {
    "https://signin.aws.amazon.com/saml".to_owned()
}

/// `[audit]`: where the audit log goes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    /// `"off"` (default), `"stdout"`, `"stderr"` or a file path (relative to the file).
    #[serde(default = "default_audit_output")]
    pub output: String,
}

impl Default for AuditSection {
    fn default() -> Self {
        AuditSection {
            output: default_audit_output(),
        }
    }
}

fn default_audit_output() -> String {
    "off".to_owned()
}

/// `[ext_authz]`: the listener proxies ask (Envoy `ext_authz` HTTP service, nginx
/// `auth_request`). Off unless present.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtAuthzSection {
    /// Trusted by network position: bind it to loopback or the proxies' network only.
    pub listen: String,
    /// `envoy` or `nginx`: where the original request is described (required).
    #[serde(default)]
    pub mode: Option<String>,
    /// Peers (CIDRs) whose word on the client's address and scheme is taken.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Prefix Envoy puts before the original path (its `path_prefix`), removed before matching.
    #[serde(default)]
    pub path_prefix: String,
    /// A shared secret the proxy must send in `X-Sts-Authz-Secret`, from a file or variable.
    #[serde(default)]
    pub secret_file: Option<String>,
    #[serde(default)]
    pub secret_env: Option<String>,
    #[serde(default)]
    pub routes: Vec<ExtAuthzRouteEntry>,
}

/// `[[ext_authz.routes]]`: method and path pattern to action and resource; first match wins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtAuthzRouteEntry {
    /// A method, or `*` for any.
    #[serde(default = "any_method")]
    pub method: String,
    /// `/literal/{one}/{rest+}`.
    pub path: String,
    pub action: String,
    /// `arn:...{one}...`.
    pub resource: String,
    /// The service signatures must be scoped to; the action's prefix when absent.
    #[serde(default)]
    pub service: Option<String>,
    /// Whether presigned URLs are accepted on this route.
    #[serde(default)]
    pub allow_presigned: bool,
}

fn any_method() -> String {
    "*".to_owned()
}

/// `[log]`: how the service's own log lines are written (to stderr).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    #[serde(default)]
    pub format: LogFormat,
}

/// `[log] format`: `"text"` (default) for people, `"json"` (one object per line) for machines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[metrics]`: the Prometheus listener (`GET /metrics`). Off unless present.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// `address:port`; bind it to loopback or the monitoring network only.
    pub listen: String,
}

/// `[rate_limits]`: token buckets answered with AWS's `Throttling` (see `broker/throttle.rs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsSection {
    /// Per client address (IPv6 by /64) on the Query API.
    #[serde(default)]
    pub per_source_ip: Option<toml::Spanned<LimitEntry>>,
    /// Per `RoleArn` of the role-assuming actions.
    #[serde(default)]
    pub per_role: Option<toml::Spanned<LimitEntry>>,
    /// Per identity-provider subject (`sub` with its issuer, NameID with its provider).
    #[serde(default)]
    pub per_subject: Option<toml::Spanned<LimitEntry>>,
    /// Buckets shared by every replica through the store, rather than one set per replica.
    #[serde(default)]
    pub shared: bool,
}

/// `[signin]`: failed sign-ins that lock a user, and for how long (see `config/signin.rs`).
/// Read as signed integers so that a negative value gets its own message.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInSection {
    pub max_failures: Option<i64>,
    pub lockout_seconds: Option<i64>,
}

/// `{ rate = 100, burst = 200 }`: tokens per second and bucket size. Read as written (a float
/// and a signed integer) so that a zero or negative value gets its own message.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitEntry {
    pub rate: f64,
    pub burst: i64,
}
