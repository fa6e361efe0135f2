//! `check-config`, `keys generate|rotate|retire|list` and `dev-token`: the broker's offline
//! commands.

use std::path::Path;

use serde_json::{Map, Value};

use super::Output;
use crate::config::Config;
use crate::keys::{self, DevIssuerKey};

/// `check-config`: every problem with its file and line; exit status 1 if there is any.
/// Warnings (trust policy lints, the dev issuer, credential hygiene as of now) leave it 0.
pub fn check_config(config: Result<Config, crate::config::ConfigError>) -> Output {
    check_config_at(config, time::OffsetDateTime::now_utc())
}

/// [`check_config`] with credential hygiene judged as of `now`.
pub fn check_config_at(
    config: Result<Config, crate::config::ConfigError>,
    now: time::OffsetDateTime,
) -> Output {
    match config {
        Ok(c) => {
            let roles = c.iam.roles().count();
            let mut stdout = format!(
                "{}: ok: {} account(s), {} OIDC provider(s), {} SAML provider(s), {} role(s), {} managed policy(ies), {} user(s), {} group(s), {} MFA device(s), store {}\n",
                c.source,
                c.iam.accounts.len(),
                c.oidc_providers.len(),
                c.saml_providers.len(),
                roles,
                c.iam.policies.len(),
                c.iam.users().count(),
                c.iam.groups.len(),
                c.iam.mfa_devices().count(),
                c.store
            );
            let mut warnings = String::new();
            for role in c.iam.roles() {
                for w in
                    crate::policy::lint(&role.trust_policy.policy, crate::policy::PolicyType::Trust)
                {
                    warnings.push_str(&format!("{}: warning: {w}\n", role.trust_policy.name));
                }
            }
            if c.dev_issuer.is_some() {
                warnings.push_str(
                    "warning: the dev issuer is enabled: anyone who can read the keys folder can mint tokens\n",
                );
            }
            for w in crate::config::hygiene::warnings(&c, now) {
                match w.line {
                    Some(line) => {
                        warnings.push_str(&format!("{}:{line}: warning: {}\n", w.file, w.message))
                    }
                    None => warnings.push_str(&format!("{}: warning: {}\n", w.file, w.message)),
                }
            }
            stdout.push_str(&warnings);
            Output {
                stdout,
                stderr: String::new(),
                status: 0,
            }
        }
        Err(e) => Output {
            stdout: String::new(),
            stderr: format!("{e}\n"),
            status: 1,
        },
    }
}

/// `keys generate --dir DIR`: adds a session key; the newest key signs.
pub fn keys_generate(dir: &Path) -> Output {
    match keys::generate_session_key(dir) {
        Ok(id) => Output {
            stdout: format!("{id}\n"),
            stderr: format!("wrote session key {id} to {}\n", dir.display()),
            status: 0,
        },
        Err(e) => Output {
            stdout: String::new(),
            stderr: format!("error: {e}\n"),
            status: 1,
        },
    }
}

/// `keys rotate --dir DIR --grace-seconds N`: adds a key that verifies at once and signs from
/// `now + grace`, when every replica has had time to load it.
pub fn keys_rotate(dir: &Path, now: time::OffsetDateTime, grace: std::time::Duration) -> Output {
    match keys::rotate_session_key(dir, now, grace) {
        Ok((id, activates_at)) => Output {
            stdout: format!("{id}\n"),
            stderr: format!(
                "wrote session key {id} to {}: verifies now, signs from {}\n",
                dir.display(),
                rfc3339(activates_at)
            ),
            status: 0,
        },
        Err(e) => failed(&e),
    }
}

/// `keys retire --dir DIR --id KID [--force]`: removes a key; the sessions it signed end.
pub fn keys_retire(dir: &Path, id: &str, now: time::OffsetDateTime, force: bool) -> Output {
    match keys::retire_session_key(dir, id, now, force) {
        Ok(()) => Output {
            stdout: String::new(),
            stderr: format!(
                "retired session key {id} from {}: the sessions it signed no longer authenticate\n",
                dir.display()
            ),
            status: 0,
        },
        Err(e) => failed(&e),
    }
}

/// `keys list --dir DIR`: ids, activation times and which key signs; never key material.
pub fn keys_list(dir: &Path, now: time::OffsetDateTime) -> Output {
    match keys::SessionKeys::load(dir) {
        Ok(keys) => {
            let mut stdout = String::new();
            for k in keys.info(now) {
                let state = if k.signs {
                    "signing"
                } else if k.activates_at > now.unix_timestamp() {
                    "pending"
                } else {
                    "verifying"
                };
                stdout.push_str(&format!("{}\t{}\t{state}\n", k.id, rfc3339(k.activates_at)));
            }
            Output {
                stdout,
                stderr: String::new(),
                status: 0,
            }
        }
        Err(e) => failed(&e),
    }
}

fn failed(e: &keys::KeyError) -> Output {
    Output {
        stdout: String::new(),
        stderr: format!("error: {e}\n"),
        status: 1,
    }
}

/// Unix seconds as RFC 3339 (UTC); the number itself if out of range.
pub(crate) fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// What `dev-token` puts in a token.
#[derive(Debug, Clone)]
pub struct DevTokenRequest {
    pub subject: String,
    pub audience: String,
    /// `key=value`; a value that parses as JSON is used as JSON, otherwise as a string.
    pub claims: Vec<String>,
    pub ttl_seconds: u64,
}

/// `dev-token`: a token from the dev issuer of `config`.
pub fn dev_token(config: &Config, request: &DevTokenRequest) -> Output {
    let fail = |message: String| Output {
        stdout: String::new(),
        stderr: format!("error: {message}\n"),
        status: 1,
    };
    let Some(issuer) = &config.dev_issuer else {
        return fail(format!(
            "{} does not enable [dev_issuer]; dev tokens are only accepted where it does",
            config.source
        ));
    };
    let key = match DevIssuerKey::load_or_generate(&config.keys_dir) {
        Ok(k) => k,
        Err(e) => return fail(e.to_string()),
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = Map::new();
    for pair in &request.claims {
        let Some((k, v)) = pair.split_once('=') else {
            return fail(format!("--claim {pair:?} is not key=value"));
        };
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
        claims.insert(k.to_owned(), value);
    }
    claims.insert("iss".into(), Value::String(issuer.clone()));
    claims.insert("sub".into(), Value::String(request.subject.clone()));
    claims.insert("aud".into(), Value::String(request.audience.clone()));
    claims.insert("iat".into(), Value::from(now));
    claims.insert("nbf".into(), Value::from(now));
    claims.insert(
        "exp".into(),
        Value::from(now + i64::try_from(request.ttl_seconds).unwrap_or(3600)),
    );
    crate::oidc::install_crypto_provider();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(key.key_id.clone());
    let encoding = jsonwebtoken::EncodingKey::from_ec_der(key.pkcs8_der());
    match jsonwebtoken::encode(&header, &claims, &encoding) {
        Ok(token) => Output {
            stdout: format!("{token}\n"),
            stderr: String::new(),
            status: 0,
        },
        Err(e) => fail(format!("signing failed: {e}")),
    }
}
