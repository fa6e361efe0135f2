//! IAM's credential report actions (docs/operations.md, "Credential hygiene"):
//! `GenerateCredentialReport` (`State` `STARTED` when it made a report, `COMPLETE` when one
//! younger than 4 hours stands) and `GetCredentialReport` (`Content`, the base64 of the CSV;
//! `ReportFormat` `text/csv`; `GeneratedTime`; `ReportNotPresent` or `ReportExpired`, 410,
//! otherwise). Authorized as IAM's account actions: `iam:<Action>` on `*`, in the caller's own
//! account, whose report it is. The report itself is [`crate::broker::credential_report`]'s.

use base64::Engine as _;
use serde::Serialize;

use super::roles::{calling, date};
use crate::broker::credential_report::{self, Generation};
use crate::broker::{ApiError, Broker, RequestMeta};
use crate::query::Params;

/// IAM's only report format.
const REPORT_FORMAT: &str = "text/csv";

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateCredentialReportResult {
    pub state: &'static str,
    pub description: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetCredentialReportResult {
    pub content: String,
    pub report_format: &'static str,
    pub generated_time: String,
}

/// `GenerateCredentialReport`: a new report of the caller's account unless a current one
/// exists.
pub async fn generate_credential_report(
    state: &Broker,
    _params: &Params,
    meta: &RequestMeta,
) -> Result<GenerateCredentialReportResult, ApiError> {
    let caller = calling(state, meta).await?;
    caller.allow(state, meta, "GenerateCredentialReport", "*")?;
    Ok(
        match credential_report::generate(state, &caller.account).await? {
            Generation::Started => GenerateCredentialReportResult {
                state: "STARTED",
                description: "No report exists. Starting a new report generation task",
            },
            Generation::Complete => GenerateCredentialReportResult {
                state: "COMPLETE",
                description: "A report generated less than 4 hours ago is available",
            },
        },
    )
}

/// `GetCredentialReport`: the caller's account's current report.
pub async fn get_credential_report(
    state: &Broker,
    _params: &Params,
    meta: &RequestMeta,
) -> Result<GetCredentialReportResult, ApiError> {
    let caller = calling(state, meta).await?;
    caller.allow(state, meta, "GetCredentialReport", "*")?;
    let report = credential_report::get(state, &caller.account).await?;
    Ok(GetCredentialReportResult {
        content: base64::engine::general_purpose::STANDARD.encode(report.csv.as_bytes()),
        report_format: REPORT_FORMAT,
        generated_time: date(report.generated_at()),
    })
}
