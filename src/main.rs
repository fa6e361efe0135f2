//! The `sts-broker` binary: parses the command line and hands over to the library.

// The binary is the one place that writes to the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use sts_broker::app;
use sts_broker::broker::Broker;
use sts_broker::broker::reload::{Live, Loader};
use sts_broker::cli::{self, Output};
use sts_broker::clock::SystemClock;
use sts_broker::config::Config;
use sts_broker::policy::PolicyType;
use sts_broker::revocation::Revocation;
use sts_broker::secret::Secret;

// glibc's allocator spends a fifth of the service's CPU under load (contention between worker
// threads); mimalloc's per-thread heaps avoid it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Serve the STS API (on the embedded dev configuration when no --config is given).
    Serve {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Check a configuration and every policy it names; exits 1 listing each problem.
    CheckConfig {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Manage the broker's own keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print a token from the dev issuer (only where the configuration enables it).
    DevToken {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The token's subject.
        #[arg(long)]
        sub: String,
        /// The token's audience.
        #[arg(long, default_value = "sts.amazonaws.com")]
        aud: String,
        /// Extra claims, `key=value` (JSON values allowed); repeatable.
        #[arg(long = "claim", value_name = "KEY=VALUE")]
        claims: Vec<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
    /// Work with IAM policy documents.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Print the entities created through IAM's API as configuration entries, writing their
    /// policy documents and SAML metadata under --dir, so they can be moved into the file.
    Export {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// An empty or new folder for the documents (inside the configuration's folder, the
        /// entries name them relative to it).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Review roles, users and access keys as Access Analyzer does (the file's and the IAM
    /// API's): one JSON object per finding.
    Analyze {
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        what: AnalyzeCommand,
    },
    /// Sign an IAM user in with its password (and MFA code) at a broker and print temporary
    /// credentials: shell `export` lines, or `credential_process` JSON. Prompts without echo
    /// on a terminal; otherwise reads one line of standard input per prompt (the password,
    /// then the MFA code, then the new password twice when one is required).
    Login {
        /// The broker's URL, e.g. https://sts.example.com.
        #[arg(long, value_name = "URL")]
        endpoint: String,
        /// The account's id or alias.
        #[arg(long, value_name = "ALIAS_OR_ID")]
        account: String,
        /// The IAM user's name.
        #[arg(
            long,
            value_name = "NAME",
            required_unless_present = "root",
            conflicts_with = "root"
        )]
        user: Option<String>,
        /// Sign in as the account's root user (`[[accounts]] root`).
        #[arg(long)]
        root: bool,
        /// Print the JSON an AWS profile's `credential_process` expects.
        #[arg(long)]
        credential_process: bool,
        /// The session's lifetime (900 to 129600; default 43200).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(900..=129_600))]
        duration_seconds: Option<u32>,
        /// The MFA device the code is from, for a user with more than one.
        #[arg(long, value_name = "ARN")]
        mfa_serial: Option<String>,
        /// Read the password from the first line of this file rather than prompting (keep it
        /// readable by you alone).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Reports read from the configured (Redis) store.
    Report {
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        what: ReportCommand,
    },
    /// Revoke sessions on every replica sharing the configured (Redis) store.
    Revoke {
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        what: RevokeCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AnalyzeCommand {
    /// Roles whose trust policy lets in a principal outside the zone of trust, or any subject
    /// of a public identity provider (GitHub Actions, GitLab, Google...).
    External {
        /// Accounts (ids or configured aliases) and organizations (o-...) whose principals are
        /// not external; repeatable. Default: the configured accounts.
        #[arg(long = "zone-of-trust", value_name = "ACCOUNT", num_args = 1..)]
        zone_of_trust: Vec<String>,
        /// Another OIDC issuer (host and path) to treat as a public identity provider.
        #[arg(long = "public-idp", value_name = "ISSUER")]
        public_idps: Vec<String>,
        /// Exit with status 3 when anything is found.
        #[arg(long)]
        fail_on_findings: bool,
    },
    /// Roles not assumed and access keys not used within the window, and users without MFA,
    /// from the last uses the brokers recorded in the shared store.
    Unused {
        /// The window looked back on, in days.
        #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=i64::from(cli::analyze::MAX_DAYS)))]
        days: u32,
        /// Exit with status 3 when anything is found.
        #[arg(long)]
        fail_on_findings: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// IAM's credential report (CSV) of every configured account, or of --account.
    Credentials {
        /// One account's report only.
        #[arg(long, value_name = "ID")]
        account: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum RevokeCommand {
    /// One session, by access key id, and every session issued for the same web identity
    /// token or SAML assertion (the token cannot be exchanged again).
    Session {
        #[arg(value_name = "ASIA...")]
        access_key_id: String,
    },
    /// Every session and token of a federated subject issued up to now.
    Subject {
        /// The identity provider's ARN.
        #[arg(long, value_name = "ARN")]
        provider: String,
        subject: String,
    },
    /// Every session of a role issued up to now, or before --before.
    Role {
        #[arg(value_name = "ROLE_ARN")]
        role_arn: String,
        /// Only sessions issued before this RFC 3339 time.
        #[arg(long, value_name = "TIME")]
        before: Option<String>,
    },
    /// Every session of an IAM user issued up to now (GetSessionToken sessions, role sessions
    /// its keys created, and sessions chained from them).
    User {
        #[arg(value_name = "USER_ARN")]
        user_arn: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Add a session signing key to DIR that signs at once (all keys verify).
    Generate {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Add a key that verifies at once and signs after a grace period (replicas load it first).
    Rotate {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Seconds before the new key signs.
        #[arg(long, default_value_t = 300)]
        grace_seconds: u64,
    },
    /// Remove a key: the sessions it signed stop working, the others keep working.
    Retire {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        #[arg(long, value_name = "KID")]
        id: String,
        /// Retire the key that signs now (no key signs until the next one activates).
        #[arg(long)]
        force: bool,
    },
    /// List key ids, activation times and which key signs (never key material).
    List {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
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
            // Nothing to say, nothing written: a stderr nobody reads cannot hold up the exit.
            if !out.stdout.is_empty() {
                print!("{}", out.stdout);
            }
            if !out.stderr.is_empty() {
                eprint!("{}", out.stderr);
            }
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
        Command::Serve { config } => {
            let loaded = load_config(config.as_deref())?;
            // A reload (SIGHUP, `POST /admin/reload`) reads the same file again.
            let reload: Loader = match config {
                Some(path) => Box::new(move || Config::load(&path)),
                None => {
                    let root = std::env::current_dir()?;
                    Box::new(move || Config::embedded(&root))
                }
            };
            serve(loaded, reload)?;
            Ok(Output {
                stdout: String::new(),
                stderr: String::new(),
                status: 0,
            })
        }
        Command::CheckConfig { config } => Ok(cli::broker::check_config(match &config {
            Some(path) => Config::load(path),
            None => Config::embedded(&std::env::current_dir()?),
        })),
        Command::Keys { command } => Ok(match command {
            KeysCommand::Generate { dir } => cli::broker::keys_generate(&dir),
            KeysCommand::Rotate { dir, grace_seconds } => cli::broker::keys_rotate(
                &dir,
                time::OffsetDateTime::now_utc(),
                std::time::Duration::from_secs(grace_seconds),
            ),
            KeysCommand::Retire { dir, id, force } => {
                cli::broker::keys_retire(&dir, &id, time::OffsetDateTime::now_utc(), force)
            }
            KeysCommand::List { dir } => {
                cli::broker::keys_list(&dir, time::OffsetDateTime::now_utc())
            }
        }),
        Command::DevToken {
            config,
            sub,
            aud,
            claims,
            ttl,
        } => {
            let config = load_config(config.as_deref())?;
            Ok(cli::broker::dev_token(
                &config,
                &cli::broker::DevTokenRequest {
                    subject: sub,
                    audience: aud,
                    claims,
                    ttl_seconds: ttl,
                },
            ))
        }
        Command::Export { config, dir } => {
            let config = load_config(config.as_deref())?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Ok(runtime.block_on(cli::export::export(&config, &dir)))
        }
        Command::Analyze { config, what } => {
            let config = load_config(config.as_deref())?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Ok(runtime.block_on(async {
                match what {
                    AnalyzeCommand::External {
                        zone_of_trust,
                        public_idps,
                        fail_on_findings,
                    } => {
                        // Findings go out as they are made: a trust policy can hold thousands.
                        cli::analyze::external_to(
                            &config,
                            &cli::analyze::ExternalRequest {
                                zone_of_trust,
                                public_idps,
                                fail_on_findings,
                            },
                            &mut std::io::stdout().lock(),
                        )
                        .await
                    }
                    AnalyzeCommand::Unused {
                        days,
                        fail_on_findings,
                    } => {
                        cli::analyze::unused(
                            &config,
                            days,
                            time::OffsetDateTime::now_utc(),
                            fail_on_findings,
                        )
                        .await
                    }
                }
            }))
        }
        Command::Report { config, what } => {
            let config = load_config(config.as_deref())?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            match what {
                ReportCommand::Credentials { account } => {
                    Ok(runtime.block_on(cli::report::credentials(&config, account.as_deref())))
                }
            }
        }
        Command::Revoke { config, what } => {
            let config = load_config(config.as_deref())?;
            let what = match what {
                RevokeCommand::Session { access_key_id } => Revocation::Session { access_key_id },
                RevokeCommand::Subject { provider, subject } => {
                    Revocation::Subject { provider, subject }
                }
                RevokeCommand::Role { role_arn, before } => match before {
                    None => Revocation::Role { role_arn },
                    Some(text) => Revocation::RoleIssuedBefore {
                        role_arn,
                        before: cli::revoke::parse_before(&text).map_err(anyhow::Error::msg)?,
                    },
                },
                RevokeCommand::User { user_arn } => Revocation::User { user_arn },
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Ok(runtime.block_on(cli::revoke::revoke(
                &config,
                what,
                time::OffsetDateTime::now_utc(),
            )))
        }
        Command::Login {
            endpoint,
            account,
            user,
            root,
            credential_process,
            duration_seconds,
            mfa_serial,
            password_file,
        } => {
            let password = match password_file {
                Some(path) => Some(read_password_file(&path)?),
                None => None,
            };
            let request = cli::login::LoginRequest {
                endpoint,
                account,
                user,
                root,
                credential_process,
                duration_seconds,
                mfa_serial,
                password,
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Ok(runtime.block_on(cli::login::login(&request, &mut prompt)))
        }
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

fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    let config = match path {
        Some(p) => Config::load(p),
        None => Config::embedded(&std::env::current_dir()?),
    };
    config.map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))
}

fn serve(config: Config, reload: Loader) -> anyhow::Result<()> {
    // Dropped last, after the runtime: lines logged while shutting down are written too.
    let _logs = sts_broker::logs::init(config.log_format).context("cannot start the log writer")?;
    // The main thread's runtime accepts connections, holds the store's connections and runs
    // the background tasks; the workers' serve the connections (see `workers`).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let threads = sts_broker::workers::count().map_err(anyhow::Error::msg)?;
    let workers =
        sts_broker::workers::Workers::start(threads).context("cannot start the worker threads")?;
    let spread = workers.spread();
    let served = runtime.block_on(async move {
        let listen = config.server.listen.clone();
        if let Some(issuer) = &config.dev_issuer {
            tracing::warn!(
                issuer = %issuer,
                "DEV ISSUER ENABLED: `sts-broker dev-token` mints identity tokens this broker \
                 accepts. Never run this configuration outside development."
            );
        }
        let source = config.source.clone();
        let live = Live::new(
            Broker::build(config, Arc::new(SystemClock)).await?,
            Some(reload),
        );
        // Before the first "listening" line: from then on a SIGHUP reloads, never kills.
        live.reload_on_sighup()
            .context("cannot handle SIGHUP (configuration reloads)")?;
        let state = live.current();
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        tracing::info!(
            address = %listener.local_addr()?,
            config = %source,
            store = state.store.kind(),
            "sts-broker listening"
        );
        if let Some(ext) = &state.config.ext_authz {
            let ext_listener = tokio::net::TcpListener::bind(&ext.listen)
                .await
                .with_context(|| format!("cannot listen on {}", ext.listen))?;
            tracing::info!(
                address = %ext_listener.local_addr()?,
                routes = ext.routes.len(),
                "ext_authz listening (trusted by network position)"
            );
            let ext_live = live.clone();
            let ext_spread = spread.clone();
            tokio::spawn(async move {
                if let Err(e) = sts_broker::authz::ext_authz::serve(
                    ext_listener,
                    ext_live,
                    ext_spread,
                    app::shutdown_signal(),
                )
                .await
                {
                    tracing::error!(error = %e, "ext_authz listener failed");
                }
            });
        }
        if let Some(address) = state.config.metrics_listen {
            let metrics_listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address} ([metrics] listen)"))?;
            tracing::info!(
                address = %metrics_listener.local_addr()?,
                path = sts_broker::metrics::PATH,
                "metrics listening"
            );
            let metrics = Arc::new(sts_broker::metrics::Metrics::new(live.clone()));
            tokio::spawn(async move {
                if let Err(e) =
                    sts_broker::metrics::serve(metrics_listener, metrics, app::shutdown_signal())
                        .await
                {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            });
        }
        drop(state);
        let audit = live.current().audit.clone();
        app::serve(listener, live, spread, app::shutdown_signal()).await?;
        // The audit lines of the last requests, unless whoever reads them has stopped.
        if tokio::time::timeout(sts_broker::logs::FLUSH_WAIT, audit.flush())
            .await
            .is_err()
        {
            tracing::warn!("audit log not read: its last lines are lost");
        }
        Ok(())
    });
    // A writer stuck on an output nobody reads (the audit log's stdout or stderr) does not
    // hold up the exit.
    workers.stop(sts_broker::logs::FLUSH_WAIT);
    runtime.shutdown_timeout(sts_broker::logs::FLUSH_WAIT);
    served
}

/// Asks for a password or code: on a terminal without echo (the prompt on the terminal),
/// else one line of standard input (its line ending removed).
fn prompt(ask: cli::login::Ask<'_>) -> Result<Secret, String> {
    use std::io::{BufRead as _, IsTerminal as _};
    let (label, what) = match ask {
        cli::login::Ask::Password => ("Password: ", "the password"),
        cli::login::Ask::MfaCode => ("MFA code: ", "the MFA code"),
        cli::login::Ask::NewPassword { why } => {
            eprintln!("{why}");
            ("New password: ", "the new password")
        }
        cli::login::Ask::NewPasswordAgain => ("New password again: ", "the new password again"),
    };
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(label)
            .map(Secret::new)
            .map_err(|e| format!("cannot read {what} from the terminal: {e}"));
    }
    let mut line = String::new();
    let n = std::io::stdin()
        .lock()
        .take(1024)
        .read_line(&mut line)
        .map_err(|e| format!("cannot read {what} from standard input: {e}"))?;
    if n == 0 {
        return Err(format!("standard input ended before {what} was read"));
    }
    let trimmed = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(trimmed);
    Ok(Secret::new(line))
}

/// The first line of a password file.
fn read_password_file(path: &std::path::Path) -> anyhow::Result<Secret> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the password file {}", path.display()))?;
    let line = text.lines().next().unwrap_or_default().to_owned();
    Ok(Secret::new(line))
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
