//! `analyze external` and `analyze unused`: Access Analyzer's reviews of the roles, users and
//! access keys the brokers serve (the file's, and the IAM API's read from the store), one JSON
//! object per finding on standard output (written as found, never gathered whole), a summary on
//! standard error. What could not be reviewed (an account's API entities this build cannot
//! read, or cannot see at all) is a `not_analyzed` line and counts as a finding for
//! `--fail-on-findings`. The analyses are [`crate::iam::analysis`]'s; this reads their inputs
//! and prints what they found.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;

use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::Output;
use super::broker::rfc3339;
use crate::broker::iam_api;
use crate::config::Config;
use crate::iam::analysis::{self, RoleAccess, Unused};
use crate::iam::{Iam, Origin, api};
use crate::policy::is_account_id;
use crate::policy::trust::{PublicIdps, ZoneOfTrust};
use crate::store::Store;

/// The exit status when `--fail-on-findings` is given and something was found, or something
/// could not be analyzed (1 and 2 are errors).
pub const FINDINGS_STATUS: i32 = 3;
/// The longest window `analyze unused` looks back on, in days.
pub const MAX_DAYS: u32 = 3650;

/// What `analyze external` is asked.
#[derive(Debug, Clone, Default)]
pub struct ExternalRequest {
    /// Account ids, configured accounts' aliases and organization ids (`o-...`); empty: the
    /// configured accounts.
    pub zone_of_trust: Vec<String>,
    /// OIDC issuers to treat as public besides the built-in ones.
    pub public_idps: Vec<String>,
    pub fail_on_findings: bool,
}

/// An account whose IAM API entities could not be analyzed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnalyzed {
    pub account: String,
    pub reason: String,
}

/// The entities served: the file's, with the IAM API's from `store` merged over them; without
/// a shared store only the file's. The accounts whose API entities are left out are returned
/// (each is a `not_analyzed` line); what the API stored but no broker serves is noted.
async fn served(
    config: &Config,
    store: Option<&Store>,
    notes: &mut String,
) -> Result<(Iam, Vec<NotAnalyzed>), Output> {
    let Some(store) = store else {
        let _ = writeln!(
            notes,
            "note: {} uses the embedded memory:// store: only the configuration file's entities \
             are analyzed",
            config.source
        );
        let unseen = config
            .iam
            .accounts
            .keys()
            .map(|account| NotAnalyzed {
                account: account.clone(),
                reason: "the roles, users and keys created through the IAM API live in the \
                         embedded memory:// store of the broker process that serves them, which \
                         this command cannot see"
                    .to_owned(),
            })
            .collect();
        return Ok((config.iam.clone(), unseen));
    };
    let (iam, unseen, _) = served_with_layer(config, store, notes).await?;
    Ok((iam, unseen))
}

/// [`served`] from a shared store, with the API's layer it merged (its login profiles).
async fn served_with_layer(
    config: &Config,
    store: &Store,
    notes: &mut String,
) -> Result<(Iam, Vec<NotAnalyzed>, api::Layer), Output> {
    let layer = iam_api::read_layer(store, &iam_api::accounts(config))
        .await
        .map_err(|e| Output::failed(&format!("store: {e}")))?;
    let (iam, skipped) = api::merged(&config.iam, &layer, None);
    Ok((iam, not_analyzed(skipped, notes), layer))
}

/// The accounts of `skipped` whose API entities are served (or may be once repaired) but
/// cannot be read here; the rest of `skipped`, served by no broker, is noted.
fn not_analyzed(skipped: Vec<api::Skipped>, notes: &mut String) -> Vec<NotAnalyzed> {
    let mut out = Vec::new();
    for s in skipped {
        match s {
            api::Skipped::NewerFormat { account, format } => out.push(NotAnalyzed {
                account,
                reason: format!(
                    "its IAM API entities were written by a newer sts-broker (document format \
                     {format}; this one reads up to {}): brokers of that version serve them, \
                     this one cannot read them (run the analysis with the newer version)",
                    api::FORMAT
                ),
            }),
            api::Skipped::Unreadable(account) => out.push(NotAnalyzed {
                account,
                reason: "its IAM API document in the store does not decode: its entities are \
                         served by no broker until it is repaired or removed, and cannot be \
                         reviewed"
                    .to_owned(),
            }),
            other => {
                let _ = writeln!(notes, "note: not analyzed (served by no broker): {other:?}");
            }
        }
    }
    out
}

fn not_analyzed_line(n: &NotAnalyzed) -> String {
    json!({
        "finding": "not_analyzed",
        "account": n.account,
        "origin": "api",
        "reason": n.reason,
    })
    .to_string()
}

/// Writes one line per item, as each is made.
fn write_lines<T>(
    out: &mut dyn Write,
    items: &[T],
    line: impl Fn(&T) -> String,
) -> Result<(), Output> {
    for item in items {
        writeln!(out, "{}", line(item))
            .map_err(|e| Output::failed(&format!("writing the findings: {e}")))?;
    }
    out.flush()
        .map_err(|e| Output::failed(&format!("writing the findings: {e}")))
}

/// The exit status: [`FINDINGS_STATUS`] when asked to fail on findings and something was found
/// or could not be analyzed.
fn status(fail_on_findings: bool, found: usize, not_analyzed: usize) -> i32 {
    if fail_on_findings && found + not_analyzed > 0 {
        FINDINGS_STATUS
    } else {
        0
    }
}

/// The summary's note of the accounts not analyzed, if any.
fn not_analyzed_note(not_analyzed: &[NotAnalyzed]) -> String {
    if not_analyzed.is_empty() {
        return String::new();
    }
    let accounts: Vec<&str> = not_analyzed.iter().map(|n| n.account.as_str()).collect();
    format!(
        "; the IAM API entities of {} account{} not analyzed ({})",
        accounts.len(),
        if accounts.len() == 1 {
            " were"
        } else {
            "s were"
        },
        accounts.join(", ")
    )
}

/// The zone of trust `--zone-of-trust` names (or the configured accounts): each value an
/// account id, the alias of a configured account, or an organization id.
pub fn zone_of_trust(
    iam: &Iam,
    values: &[String],
    notes: &mut String,
) -> Result<ZoneOfTrust, String> {
    let mut zone = ZoneOfTrust::default();
    if values.is_empty() {
        zone.accounts = iam.accounts.keys().cloned().collect();
        return Ok(zone);
    }
    for value in values {
        let value = value.trim();
        if is_account_id(value) {
            if !iam.accounts.contains_key(value) {
                let _ = writeln!(
                    notes,
                    "note: zone of trust: {value} is not a configured account (trusted as given)"
                );
            }
            zone.accounts.insert(value.to_owned());
        } else if is_organization_id(value) {
            zone.organizations.insert(value.to_owned());
        } else if let Some(account) = iam
            .accounts
            .values()
            .find(|a| a.served_alias() == Some(value))
        {
            zone.accounts.insert(account.id.clone());
        } else {
            return Err(format!(
                "--zone-of-trust {value:?}: unknown account (give a 12-digit account id, the \
                 alias of a configured account, or an organization id o-...)"
            ));
        }
    }
    Ok(zone)
}

/// `o-` and 10 to 32 lower-case letters or digits (AWS Organizations' id pattern).
fn is_organization_id(value: &str) -> bool {
    value.strip_prefix("o-").is_some_and(|rest| {
        (10..=32).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// An issuer given with `--public-idp`: a host and optional path (an `https://` prefix is
/// dropped), no wildcard, no space.
fn check_issuer(value: &str) -> Result<String, String> {
    let bare = value.strip_prefix("https://").unwrap_or(value);
    let host = bare.split('/').next().unwrap_or_default();
    if host.is_empty()
        || !host.contains('.')
        || bare.len() > 512
        || bare.contains(|c: char| c.is_whitespace() || matches!(c, '*' | '?' | ':'))
    {
        return Err(format!(
            "--public-idp {value:?}: give an OIDC issuer as a host and optional path, such as \
             gitlab.example.com"
        ));
    }
    Ok(bare.to_owned())
}

fn origin(o: &Origin) -> &'static str {
    match o {
        Origin::File(_) => "file",
        Origin::Api => "api",
    }
}

fn external_line(f: &RoleAccess) -> String {
    json!({
        "role": f.role_arn,
        "account": f.account,
        "origin": origin(&f.origin),
        "finding": f.access.kind.code(),
        "principal": f.access.principal,
        "statement": {
            "index": f.access.statement,
            "sid": f.sid,
            "document": f.statement.as_ref(),
        },
        "reason": f.access.reason,
    })
    .to_string()
}

/// Every role whose trust lets in a principal outside the zone of trust, or any subject of a
/// public identity provider: one JSON object per finding, in the returned output's `stdout`.
pub async fn external(config: &Config, request: &ExternalRequest) -> Output {
    let mut stdout = Vec::new();
    let mut out = external_to(config, request, &mut stdout).await;
    out.stdout = String::from_utf8_lossy(&stdout).into_owned();
    out
}

/// [`external`], each line written to `stdout` as it is made.
pub async fn external_to(
    config: &Config,
    request: &ExternalRequest,
    stdout: &mut dyn Write,
) -> Output {
    let mut notes = String::new();
    let issuers = match request
        .public_idps
        .iter()
        .map(|i| check_issuer(i))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(i) => i,
        Err(e) => return Output::failed(&e),
    };
    let store = if config.store.is_memory() {
        None
    } else {
        match super::shared_store(config, "").await {
            Ok(s) => Some(s),
            Err(out) => return out,
        }
    };
    let (iam, unseen) = match served(config, store.as_ref(), &mut notes).await {
        Ok(served) => served,
        Err(out) => return out,
    };
    let zone = match zone_of_trust(&iam, &request.zone_of_trust, &mut notes) {
        Ok(z) => z,
        Err(e) => return Output::failed(&e),
    };
    let found = analysis::external(&iam, &zone, &public_idps(config, issuers));
    if let Err(out) = write_lines(stdout, &unseen, not_analyzed_line)
        .and_then(|()| write_lines(stdout, &found, external_line))
    {
        return out;
    }
    let roles: std::collections::BTreeSet<&str> =
        found.iter().map(|f| f.role_arn.as_str()).collect();
    let _ = writeln!(
        notes,
        "{} finding{} in {} of {} roles (zone of trust: {}){}",
        found.len(),
        if found.len() == 1 { "" } else { "s" },
        roles.len(),
        iam.roles().count(),
        zone.accounts
            .iter()
            .chain(&zone.organizations)
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
        not_analyzed_note(&unseen)
    );
    Output {
        stdout: String::new(),
        stderr: notes,
        status: status(request.fail_on_findings, found.len(), unseen.len()),
    }
}

/// The public identity providers: the built-in ones, the `--public-idp` issuers, and each
/// configured provider with the issuers it accepts tokens of (its own and `accepted_issuers`),
/// so that a provider accepting a public issuer's tokens is public whatever its own issuer.
fn public_idps(config: &Config, issuers: Vec<String>) -> PublicIdps {
    config
        .oidc_providers
        .iter()
        .fold(PublicIdps::with(issuers), |idps, p| {
            idps.with_provider(
                &p.arn,
                std::iter::once(p.issuer.clone()).chain(p.accepted_issuers.iter().cloned()),
            )
        })
}

fn unused_line(u: &Unused) -> String {
    let time = |t: Option<OffsetDateTime>| t.map(|t| rfc3339(t.unix_timestamp()));
    let mut line = json!({
        "finding": u.kind.code(),
        "arn": u.arn,
        "account": u.account,
        "origin": origin(&u.origin),
        "created": time(u.created),
        "last_used": time(u.last_used),
        "reason": u.reason,
    });
    if let (Some(id), Some(map)) = (&u.access_key_id, line.as_object_mut()) {
        map.insert("access_key_id".to_owned(), json!(id));
    }
    line.to_string()
}

/// Roles not assumed, active access keys and passwords not used in the `days` before `now`,
/// and users without MFA: one JSON object per finding. Needs the shared store the brokers
/// record last uses in.
pub async fn unused(
    config: &Config,
    days: u32,
    now: OffsetDateTime,
    fail_on_findings: bool,
) -> Output {
    if !(1..=MAX_DAYS).contains(&days) {
        return Output::failed(&format!("--days {days}: give 1 to {MAX_DAYS} days"));
    }
    let store = match super::shared_store(
        config,
        "the running brokers record last uses in their own process only",
    )
    .await
    {
        Ok(s) => s,
        Err(out) => return out,
    };
    let mut notes = String::new();
    let (iam, unseen, layer) = match served_with_layer(config, &store, &mut notes).await {
        Ok(served) => served,
        Err(out) => return out,
    };
    let profiles = analysis::login_profiles(&iam, &layer);
    let ids = analysis::last_use_ids(&iam, &profiles);
    let last_used: HashMap<String, i64> = match store.key_uses(&ids).await {
        Ok(uses) => ids
            .into_iter()
            .zip(uses)
            .filter_map(|(id, u)| Some((id, u?.at)))
            .collect(),
        Err(e) => return Output::failed(&format!("store: {e}")),
    };
    let window = Duration::days(i64::from(days));
    let found = analysis::unused(&iam, &profiles, &last_used, now, window);
    let mut stdout = Vec::new();
    if let Err(out) = write_lines(&mut stdout, &unseen, not_analyzed_line)
        .and_then(|()| write_lines(&mut stdout, &found, unused_line))
    {
        return out;
    }
    let _ = writeln!(
        notes,
        "{} finding{} over {} roles and {} users ({days}-day window){}",
        found.len(),
        if found.len() == 1 { "" } else { "s" },
        iam.roles().count(),
        iam.users().count(),
        not_analyzed_note(&unseen)
    );
    Output {
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: notes,
        status: status(fail_on_findings, found.len(), unseen.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_values() {
        let mut iam = Iam::default();
        iam.accounts.insert(
            "111122223333".into(),
            crate::iam::Account {
                id: "111122223333".into(),
                alias: Some("prod".into()),
                api_alias: None,
            },
        );
        let mut notes = String::new();
        let default = zone_of_trust(&iam, &[], &mut notes).unwrap();
        assert_eq!(default.accounts.len(), 1);
        let given = zone_of_trust(
            &iam,
            &["prod".into(), "999988887777".into(), "o-abcdefghij".into()],
            &mut notes,
        )
        .unwrap();
        assert_eq!(
            given.accounts.into_iter().collect::<Vec<_>>(),
            ["111122223333", "999988887777"]
        );
        assert_eq!(given.organizations.len(), 1);
        assert!(
            notes.contains("999988887777 is not a configured account"),
            "{notes}"
        );
        for bad in ["staging", "12345", "o-short", "O-ABCDEFGHIJ", ""] {
            let e = zone_of_trust(&iam, &[bad.into()], &mut notes).unwrap_err();
            assert!(e.contains("unknown account"), "{bad}: {e}");
        }
    }

    #[test]
    fn accounts_not_read_are_not_analyzed_and_fail_the_run() {
        let mut notes = String::new();
        let unseen = not_analyzed(
            vec![
                api::Skipped::NewerFormat {
                    account: "111122223333".into(),
                    format: 99,
                },
                api::Skipped::Unreadable("444455556666".into()),
                api::Skipped::Shadowed("arn:aws:iam::111122223333:role/x".into()),
            ],
            &mut notes,
        );
        assert_eq!(
            unseen
                .iter()
                .map(|n| n.account.as_str())
                .collect::<Vec<_>>(),
            ["111122223333", "444455556666"]
        );
        assert!(
            unseen[0]
                .reason
                .contains("brokers of that version serve them"),
            "{}",
            unseen[0].reason
        );
        assert!(notes.contains("Shadowed"), "{notes}");
        assert!(!notes.contains("NewerFormat"), "{notes}");
        let line: serde_json::Value = serde_json::from_str(&not_analyzed_line(&unseen[1])).unwrap();
        assert_eq!(line["finding"], "not_analyzed");
        assert_eq!(line["account"], "444455556666");
        assert_eq!(status(true, 0, 1), FINDINGS_STATUS);
        assert_eq!(status(true, 1, 0), FINDINGS_STATUS);
        assert_eq!(status(true, 0, 0), 0);
        assert_eq!(status(false, 2, 2), 0);
        assert!(not_analyzed_note(&unseen).contains("2 accounts were not analyzed"));
    }

    #[test]
    fn lines_are_written_as_they_are_made() {
        /// A writer that refuses after `room` bytes, as a closed pipe does.
        struct Short {
            written: Vec<u8>,
            room: usize,
        }
        impl Write for Short {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                if self.written.len() + buf.len() > self.room {
                    return Err(std::io::ErrorKind::BrokenPipe.into());
                }
                self.written.extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut out = Short {
            written: Vec::new(),
            room: 10,
        };
        let e = write_lines(&mut out, &["abc", "def", "ghi"], |s| (*s).to_owned()).unwrap_err();
        assert_eq!(out.written, b"abc\ndef\n");
        assert_eq!(e.status, 1);
        assert!(e.stderr.contains("writing the findings"), "{}", e.stderr);
    }

    #[test]
    fn providers_accepting_a_public_issuer_are_public() {
        let toml = r#"
[server]
listen = "127.0.0.1:0"

[store]
url = "memory://"

[keys]
dir = "keys"

[[accounts]]
id = "111122223333"

[[oidc_providers]]
account = "111122223333"
issuer = "https://ci.internal.example"
accepted_issuers = ["https://token.actions.githubusercontent.com"]
client_ids = ["sts.amazonaws.com"]
jwks_uri = "https://ci.internal.example/jwks"
"#;
        let dir = tempfile::tempdir().unwrap();
        let config = Config::from_toml(toml, "broker.toml", dir.path()).unwrap();
        let idps = public_idps(&config, Vec::new());
        let arn = "arn:aws:iam::111122223333:oidc-provider/ci.internal.example";
        let accepted = idps.accepted(arn, "ci.internal.example");
        assert_eq!(accepted.len(), 1);
        assert_eq!(accepted[0].0, "token.actions.githubusercontent.com");
        assert!(accepted[0].1.is_github());
    }

    #[test]
    fn public_idp_values() {
        assert_eq!(
            check_issuer("https://gitlab.example.com").unwrap(),
            "gitlab.example.com"
        );
        assert_eq!(
            check_issuer("idp.example.com/tenant").unwrap(),
            "idp.example.com/tenant"
        );
        for bad in ["", "*", "localhost", "a b.com", "http://x.com", "x.*.com"] {
            assert!(check_issuer(bad).is_err(), "{bad}");
        }
    }
}
