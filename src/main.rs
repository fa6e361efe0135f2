//! The `sts-broker` binary: parses the command line and hands over to the library.

// The binary is the one place that writes to the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use sts_broker::cli::{self, Output};
use sts_broker::policy::PolicyType;

#[derive(Debug, Parser)]
#[command(
    name = "sts-broker",
    version,
    about = "A self-hosted, AWS-STS-compatible identity token broker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with IAM policy documents.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Evaluate a SimulateCustomPolicy request and print the response with explanations.
    Simulate {
        /// `file://PATH` (as the AWS CLI takes it), a plain path, or `-` for stdin.
        #[arg(long = "cli-input-json", value_name = "file://CASE.json")]
        cli_input_json: String,
    },
    /// Validate policy documents and print errors and warnings; exits 1 on any error.
    Lint {
        /// How the documents are used (default: guessed from each document).
        #[arg(long = "type", value_enum)]
        policy_type: Option<TypeArg>,
        #[arg(required = true)]
        files: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TypeArg {
    Identity,
    Resource,
    Trust,
    Boundary,
    Session,
    Scp,
    Rcp,
    Endpoint,
}

impl From<TypeArg> for PolicyType {
    fn from(t: TypeArg) -> PolicyType {
        match t {
            TypeArg::Identity => PolicyType::Identity,
            TypeArg::Resource => PolicyType::Resource,
            TypeArg::Trust => PolicyType::Trust,
            TypeArg::Boundary => PolicyType::PermissionsBoundary,
            TypeArg::Session => PolicyType::Session,
            TypeArg::Scp => PolicyType::Scp,
            TypeArg::Rcp => PolicyType::Rcp,
            TypeArg::Endpoint => PolicyType::Endpoint,
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(out) => {
            print!("{}", out.stdout);
            eprint!("{}", out.stderr);
            ExitCode::from(u8::try_from(out.status).unwrap_or(1))
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<Output> {
    match cli.command {
        Command::Policy { command } => match command {
            PolicyCommand::Simulate { cli_input_json } => {
                let text = read_input(&cli_input_json)?;
                Ok(cli::policy::run_simulate(&text))
            }
            PolicyCommand::Lint { policy_type, files } => {
                let docs = files
                    .iter()
                    .map(|f| Ok((f.clone(), read_input(f)?)))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                Ok(cli::policy::run_lint(&docs, policy_type.map(Into::into)))
            }
        },
    }
}

/// Reads `-` (stdin), `file://PATH` or `PATH`, refusing anything larger than a policy could be.
fn read_input(spec: &str) -> anyhow::Result<String> {
    const LIMIT: u64 = 4 * 1024 * 1024;
    let mut text = String::new();
    if spec == "-" {
        std::io::stdin()
            .take(LIMIT)
            .read_to_string(&mut text)
            .context("reading stdin")?;
    } else {
        let path = spec.strip_prefix("file://").unwrap_or(spec);
        std::fs::File::open(path)
            .with_context(|| format!("opening {path}"))?
            .take(LIMIT)
            .read_to_string(&mut text)
            .with_context(|| format!("reading {path}"))?;
    }
    Ok(text)
}
