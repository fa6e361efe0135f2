//! `report credentials`: IAM's credential report of every configured account (or one), the
//! same CSV `GetCredentialReport` encodes, built by the same code
//! ([`crate::broker::credential_report::csv_for`]) over the file's entities merged with those
//! stored through IAM's API, with the access keys' last uses from the store. One CSV per
//! account, each with its header, separated by an empty line; nothing is stored.

use super::Output;
use crate::broker::credential_report;
use crate::broker::iam_api;
use crate::broker::key_use::KeyUse;
use crate::config::Config;

/// Prints the report of `account` (every configured account when `None`) as of `now`.
pub async fn credentials(
    config: &Config,
    account: Option<&str>,
    now: time::OffsetDateTime,
) -> Output {
    let accounts: Vec<String> = match account {
        Some(a) if config.iam.accounts.contains_key(a) => vec![a.to_owned()],
        Some(a) => {
            return Output::failed(&format!(
                "account {a:?} is not configured in {}",
                config.source
            ));
        }
        None => iam_api::accounts(config),
    };
    let store = match super::shared_store(config, "it holds no API users or key uses").await {
        Ok(s) => s,
        Err(out) => return out,
    };
    let layer = match iam_api::read_layer(&store, &iam_api::accounts(config)).await {
        Ok(l) => l,
        Err(e) => return Output::failed(&format!("store: {e}")),
    };
    let served = iam_api::merge(config, &layer, None);
    // No request of this process noted a use: the store's last uses are the newest.
    let no_uses_here = KeyUse::default();
    let mut stdout = String::new();
    for (i, account) in accounts.iter().enumerate() {
        let csv = match credential_report::csv_for(&served.iam, &no_uses_here, &store, account, now)
            .await
        {
            Ok(csv) => csv,
            Err(e) => return Output::failed(&format!("account {account}: {e}")),
        };
        if i > 0 {
            stdout.push('\n');
        }
        stdout.push_str(&csv);
    }
    Output {
        stdout,
        stderr: String::new(),
        status: 0,
    }
}
