//! Command implementations behind the `sts-broker` binary. Each takes its inputs as values and
//! returns what to print and the exit status, so tests can drive them without a process.

pub mod analyze;
pub mod broker;
pub mod export;
pub mod login;
pub mod policy;
pub mod report;
pub mod revoke;

/// What a command wants printed, and how the process should exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub status: i32,
}

impl Output {
    /// A failure: `message` on standard error, status 1.
    pub fn failed(message: &str) -> Output {
        Output {
            stdout: String::new(),
            stderr: format!("error: {message}\n"),
            status: 1,
        }
    }
}

/// The shared store `config` names, for a command that reaches the running brokers through it;
/// the embedded `memory://` store is refused (only its own process sees it), saying `why` it
/// would be useless here.
pub async fn shared_store(
    config: &crate::config::Config,
    why: &str,
) -> Result<crate::store::Store, Output> {
    if config.store.is_memory() {
        return Err(Output::failed(&format!(
            "{} uses the embedded memory:// store, which only its own process sees: {why} \
             (use a redis:// store)",
            config.source
        )));
    }
    crate::store::Store::connect(&config.store)
        .await
        .map_err(|e| Output::failed(&format!("store: {e}")))
}
