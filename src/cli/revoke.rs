//! `revoke`: ends sessions before they expire, from outside the running brokers. Opens the
//! configured store, stores and publishes the revocation ([`crate::revocation`]), and says
//! what it did; never prints a secret. Only a shared (Redis) store reaches running replicas.

use std::sync::Arc;

use time::OffsetDateTime;

use super::Output;
use super::broker::rfc3339;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::keys::SessionKeys;
use crate::revocation::{Entry, Principals, Revocation, Revocations, RevokeOutcome, Rule};

/// `--before`: an RFC 3339 time, as unix seconds.
pub fn parse_before(text: &str) -> Result<i64, String> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|e| format!("--before {text:?} is not an RFC 3339 time: {e}"))
}

/// Revokes `what` as of `now` in the store `config` names.
pub async fn revoke(config: &Config, what: Revocation, now: OffsetDateTime) -> Output {
    let fail = |message: String| Output::failed(&message);
    let store = match super::shared_store(
        config,
        "a revocation made here would reach no running broker",
    )
    .await
    {
        Ok(s) => s,
        Err(out) => return out,
    };
    let revocations = Revocations::new(store, Arc::new(SystemClock), Principals::of(config));
    // Revoking a session reads its stored record, which verifies only under the keys.
    if let Revocation::Session { .. } = &what {
        match SessionKeys::load(&config.keys_dir) {
            Ok(keys) => revocations.set_session_keys(keys),
            Err(e) => return fail(format!("session keys: {e}")),
        }
    }
    match revocations.revoke(what.clone(), now).await {
        Ok(RevokeOutcome::Revoked(entries)) => Output {
            stdout: entries.iter().map(describe).collect(),
            stderr: format!(
                "stored {} revocation entr{} and published {} to every replica\n",
                entries.len(),
                if entries.len() == 1 { "y" } else { "ies" },
                if entries.len() == 1 { "it" } else { "them" }
            ),
            status: 0,
        },
        Ok(RevokeOutcome::SessionNotFound) => match what {
            Revocation::Session { access_key_id } => fail(format!(
                "no live session has access key id {access_key_id}: nothing stored"
            )),
            other => fail(format!("nothing to revoke for {other:?}")),
        },
        Ok(RevokeOutcome::UnknownPrincipal(why)) => {
            fail(format!("{why} in {}: nothing stored", config.source))
        }
        Err(e) => fail(e.to_string()),
    }
}

/// One line per entry: what it refuses and until when.
fn describe(e: &Entry) -> String {
    let what = match &e.rule {
        Rule::Session { access_key_id } => format!("session {access_key_id}"),
        Rule::Subject {
            provider,
            subject,
            issued_up_to,
        } => format!(
            "subject {subject:?} of {provider}: sessions and tokens issued up to {}",
            rfc3339(*issued_up_to)
        ),
        Rule::Role {
            role_arn,
            issued_up_to,
        } => format!(
            "role {role_arn}: sessions issued up to {}",
            rfc3339(*issued_up_to)
        ),
        Rule::User {
            user_arn,
            issued_up_to,
        } => format!(
            "user {user_arn}: sessions issued up to {}",
            rfc3339(*issued_up_to)
        ),
        Rule::AccessKey {
            access_key_id,
            generation_up_to,
            issued_up_to,
        } => format!(
            "access key {access_key_id}: sessions made with it{}",
            match issued_up_to {
                Some(t) => format!(" up to {}", rfc3339(*t)),
                None if *generation_up_to == i64::MAX => String::new(),
                None => format!(" while active, up to its activation {generation_up_to}"),
            }
        ),
        Rule::WebIdentityToken { sha256 } => format!(
            "the web identity token of that session and every session issued for it (sha256 {}...)",
            sha256.get(..12).unwrap_or(sha256)
        ),
        Rule::SamlAssertion { sha256 } => format!(
            "the SAML assertion of that session and every session issued for it (sha256 {}...)",
            sha256.get(..12).unwrap_or(sha256)
        ),
    };
    format!(
        "revoked {what}; entry {} kept until {}\n",
        e.id(),
        rfc3339(e.expires_at)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_is_rfc3339() {
        assert_eq!(parse_before("2026-01-02T03:04:05Z"), Ok(1_767_323_045));
        assert!(parse_before("yesterday").is_err());
    }
}
