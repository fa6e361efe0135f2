//! Command implementations behind the `sts-broker` binary. Each takes its inputs as values and
//! returns what to print and the exit status, so tests can drive them without a process.

pub mod broker;
pub mod export;
pub mod policy;
pub mod revoke;

/// What a command wants printed, and how the process should exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub status: i32,
}
