//! IAM's credential report kept in the store: one entry per account
//! (`sts-broker:credential-report:<account>`), the CSV and when it was generated, readable by
//! every replica, so `GetCredentialReport` on one replica answers what `GenerateCredentialReport`
//! made on another. The rows come from [`crate::iam::report`]; the last uses of access keys and
//! passwords from [`KeyUse::newest_of`] (the store's, or this replica's when newer). The report
//! holds no secret.
//!
//! As IAM: a report is generated when none younger than [`FRESH`] exists (`STARTED`), else the
//! existing one stands (`COMPLETE`); one older than [`FRESH`] is `ReportExpired`, none at all
//! `ReportNotPresent`. Entries live [`KEPT`] in the store, then the account has none again.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::key_use::KeyUse;
use super::{ApiError, Broker};
use crate::iam::Iam;
use crate::iam::api::{AccountDocument, Layer};
use crate::iam::report::{self, LastUsed};
use crate::store::Store;

/// How long a report is current: IAM's four hours.
pub const FRESH: Duration = Duration::from_secs(4 * 3600);
/// How long a report is kept in the store (answered `ReportExpired` once past [`FRESH`]).
pub const KEPT: Duration = Duration::from_secs(24 * 3600);
/// The store namespace of reports, one entry per account.
const NAMESPACE: &str = "credential-report";

/// A report as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReport {
    /// Unix seconds.
    pub generated: i64,
    pub csv: String,
}

impl StoredReport {
    /// When it was generated.
    pub fn generated_at(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.generated).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    fn fresh_at(&self, now: OffsetDateTime) -> bool {
        let age = now.unix_timestamp().saturating_sub(self.generated);
        age < i64::try_from(FRESH.as_secs()).unwrap_or(i64::MAX)
    }
}

/// What `GenerateCredentialReport` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// A new report was generated (none younger than [`FRESH`] existed).
    Started,
    /// A report younger than [`FRESH`] exists; it stands.
    Complete,
}

/// The report of `account`: its CSV text (header, root row, users by name) from the entities
/// served, the account's stored document `doc` (login profiles, the API's password policy) and
/// the last uses of its access keys, users' passwords and root's password, read in one batch.
/// The one piece both the API and `sts-broker report credentials` use.
pub async fn csv_for(
    iam: &Iam,
    doc: Option<&AccountDocument>,
    key_use: &KeyUse,
    store: &Store,
    account: &str,
) -> Result<String, ApiError> {
    let ids = report::last_use_ids(iam, account);
    let mut last_used = HashMap::new();
    let uses = key_use.newest_of(store, &ids).await?;
    for (id, u) in ids.into_iter().zip(uses) {
        let Some(u) = u else {
            continue;
        };
        let Ok(at) = OffsetDateTime::from_unix_timestamp(u.at) else {
            continue;
        };
        last_used.insert(
            id,
            LastUsed {
                at,
                region: u.region,
                service: u.service,
            },
        );
    }
    let rows = report::account_rows(iam, account, doc, &last_used);
    report::csv_text(&rows).map_err(|e| {
        tracing::error!(account, error = %e, "the credential report could not be written");
        ApiError::internal()
    })
}

/// The stored document of `account` in `layer`, when it is served (one that does not decode
/// serves nothing, its login profiles included).
pub fn served_document<'a>(layer: &'a Layer, account: &str) -> Option<&'a AccountDocument> {
    layer
        .accounts
        .get(account)
        .map(|r| &r.document)
        .filter(|d| !d.is_unusable())
}

/// The stored report of `account`, fresh or not.
async fn stored(store: &Store, account: &str) -> Result<Option<StoredReport>, ApiError> {
    match store.get_entry(NAMESPACE, account).await? {
        Some(bytes) => match serde_json::from_slice(&bytes) {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                // Read as none: generating again replaces it.
                tracing::warn!(account, error = %e, "a stored credential report does not decode");
                Ok(None)
            }
        },
        None => Ok(None),
    }
}

/// `GenerateCredentialReport` for `account`: generates and stores a report unless one
/// younger than [`FRESH`] exists.
pub async fn generate(state: &Broker, account: &str) -> Result<Generation, ApiError> {
    let now = state.clock.now();
    if stored(&state.store, account)
        .await?
        .is_some_and(|r| r.fresh_at(now))
    {
        return Ok(Generation::Complete);
    }
    let csv = csv_for(
        &state.config.iam,
        served_document(&state.iam_layer, account),
        &state.key_use,
        &state.store,
        account,
    )
    .await?;
    let report = StoredReport {
        generated: now.unix_timestamp(),
        csv,
    };
    let bytes = serde_json::to_vec(&report).map_err(|_| ApiError::internal())?;
    state
        .store
        .put_entry(NAMESPACE, account, bytes, KEPT)
        .await?;
    tracing::info!(account, "credential report generated");
    Ok(Generation::Started)
}

/// `GetCredentialReport` for `account`: the stored report, `ReportNotPresent` when none was
/// generated, `ReportExpired` when it is older than [`FRESH`].
pub async fn get(state: &Broker, account: &str) -> Result<StoredReport, ApiError> {
    let report = stored(&state.store, account)
        .await?
        .ok_or_else(ApiError::report_not_present)?;
    if !report.fresh_at(state.clock.now()) {
        return Err(ApiError::report_expired());
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_fresh_for_four_hours() {
        let report = StoredReport {
            generated: 1_000_000,
            csv: String::new(),
        };
        let at = |s: i64| OffsetDateTime::from_unix_timestamp(s).unwrap();
        assert!(report.fresh_at(at(1_000_000)));
        assert!(report.fresh_at(at(1_000_000 + 4 * 3600 - 1)));
        assert!(!report.fresh_at(at(1_000_000 + 4 * 3600)));
        assert_eq!(report.generated_at(), at(1_000_000));
    }
}
