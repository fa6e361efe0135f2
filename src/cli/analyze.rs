//! `analyze external` and `analyze unused`: Access Analyzer's reviews of the roles, users and
//! access keys the brokers serve (the file's, and the IAM API's read from the store), one JSON
//! object per finding on standard output, a summary on standard error. The analyses are
//! [`crate::iam::analysis`]'s; this reads their inputs and prints what they found.

use std::collections::HashMap;
use std::fmt::Write as _;

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

/// The exit status when `--fail-on-findings` is given and something was found (1 and 2 are
/// errors).
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

/// The entities served: the file's, with the IAM API's from `store` merged over them (what the
/// API stored but no broker serves is noted in `notes`); without a shared store only the
/// file's, noted.
async fn served(config: &Config, store: Option<&Store>, notes: &mut String) -> Result<Iam, Output> {
    let Some(store) = store else {
        let _ = writeln!(
            notes,
            "note: {} uses the embedded memory:// store: only the configuration file's entities \
             are analyzed",
            config.source
        );
        return Ok(config.iam.clone());
    };
    Ok(served_with_layer(config, store, notes).await?.0)
}

/// [`served`] from a shared store, with the API's layer it merged (its login profiles).
async fn served_with_layer(
    config: &Config,
    store: &Store,
    notes: &mut String,
) -> Result<(Iam, api::Layer), Output> {
    let layer = iam_api::read_layer(store, &iam_api::accounts(config))
        .await
        .map_err(|e| Output::failed(&format!("store: {e}")))?;
    let (iam, skipped) = api::merged(&config.iam, &layer, None);
    for s in skipped {
        let _ = writeln!(notes, "note: not analyzed (not served): {s:?}");
    }
    Ok((iam, layer))
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
            "document": f.statement,
        },
        "reason": f.access.reason,
    })
    .to_string()
}

/// Every role whose trust lets in a principal outside the zone of trust, or any subject of a
/// public identity provider: one JSON object per finding.
pub async fn external(config: &Config, request: &ExternalRequest) -> Output {
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
    let iam = match served(config, store.as_ref(), &mut notes).await {
        Ok(iam) => iam,
        Err(out) => return out,
    };
    let zone = match zone_of_trust(&iam, &request.zone_of_trust, &mut notes) {
        Ok(z) => z,
        Err(e) => return Output::failed(&e),
    };
    let found = analysis::external(&iam, &zone, &PublicIdps::with(issuers));
    let mut stdout = String::new();
    for f in &found {
        stdout.push_str(&external_line(f));
        stdout.push('\n');
    }
    let roles: std::collections::BTreeSet<&str> =
        found.iter().map(|f| f.role_arn.as_str()).collect();
    let _ = writeln!(
        notes,
        "{} finding{} in {} of {} roles (zone of trust: {})",
        found.len(),
        if found.len() == 1 { "" } else { "s" },
        roles.len(),
        iam.roles().count(),
        zone.accounts
            .iter()
            .chain(&zone.organizations)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    Output {
        stdout,
        stderr: notes,
        status: if request.fail_on_findings && !found.is_empty() {
            FINDINGS_STATUS
        } else {
            0
        },
    }
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
    let (iam, layer) = match served_with_layer(config, &store, &mut notes).await {
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
    let mut stdout = String::new();
    for u in &found {
        stdout.push_str(&unused_line(u));
        stdout.push('\n');
    }
    let _ = writeln!(
        notes,
        "{} finding{} over {} roles and {} users ({days}-day window)",
        found.len(),
        if found.len() == 1 { "" } else { "s" },
        iam.roles().count(),
        iam.users().count(),
    );
    Output {
        stdout,
        stderr: notes,
        status: if fail_on_findings && !found.is_empty() {
            FINDINGS_STATUS
        } else {
            0
        },
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
