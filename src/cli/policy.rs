//! `sts-broker policy simulate` and `sts-broker policy lint`.

use super::Output;
use crate::policy::simulate::{SimulateInput, simulate};
use crate::policy::{PolicyType, lint, parse};

/// Runs `policy simulate` on the text of a `SimulateCustomPolicy` request.
pub fn run_simulate(input_json: &str) -> Output {
    let input: SimulateInput = match serde_json::from_str(input_json) {
        Ok(i) => i,
        Err(e) => {
            return failure(format!(
                "InvalidInput: the input is not a SimulateCustomPolicy request: {e}"
            ));
        }
    };
    match simulate(&input) {
        Ok(out) => match serde_json::to_string_pretty(&out) {
            Ok(text) => Output {
                stdout: text + "\n",
                stderr: String::new(),
                status: 0,
            },
            Err(e) => failure(format!("InternalFailure: {e}")),
        },
        Err(e) => failure(format!("{}: {e}", e.code())),
    }
}

/// Runs `policy lint` over named documents: `(name, text)` pairs. Exit status 1 on any error.
pub fn run_lint(files: &[(String, String)], forced: Option<PolicyType>) -> Output {
    let mut stdout = String::new();
    let mut status = 0;
    for (name, text) in files {
        let policy_type = forced.unwrap_or_else(|| guess_type(text));
        match parse(text, policy_type) {
            Err(e) => {
                status = 1;
                stdout.push_str(&format!("{name}: error: {}: {e}\n", e.code()));
            }
            Ok(policy) => {
                let warnings = lint(&policy, policy_type);
                for w in &warnings {
                    stdout.push_str(&format!("{name}: warning: {w}\n"));
                }
                if warnings.is_empty() {
                    stdout.push_str(&format!("{name}: ok ({} policy)\n", policy_type.name()));
                }
            }
        }
    }
    Output {
        stdout,
        stderr: String::new(),
        status,
    }
}

/// Trust policies name principals and `sts:AssumeRole*`; other documents with principals are
/// resource policies; the rest are identity policies.
fn guess_type(text: &str) -> PolicyType {
    let has_principal = text.contains("\"Principal\"") || text.contains("\"NotPrincipal\"");
    let assumes = text.to_ascii_lowercase().contains("sts:assumerole");
    match (has_principal, assumes) {
        (true, true) => PolicyType::Trust,
        (true, false) => PolicyType::Resource,
        _ => PolicyType::Identity,
    }
}

fn failure(message: String) -> Output {
    Output {
        stdout: String::new(),
        stderr: message + "\n",
        status: 1,
    }
}
