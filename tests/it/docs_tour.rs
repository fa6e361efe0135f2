//! The README's five-minute tour, run as written: its shell blocks, in order, in one bash, with
//! the AWS CLI and curl, against the real binary serving the dev configuration on a loopback
//! port the kernel picks. The only changes to the blocks: `cargo run -q --` is the built binary
//! and `http://127.0.0.1:4566` the test broker's address. Each block's outcome is checked against
//! what the prose after it promises, and `# ...` lines in a block (the output it shows) must
//! appear in that order in what the block printed.

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sts-broker");
const README: &str = include_str!("../../README.md");
const DEV_CONFIG: &str = include_str!("../../config/dev.toml");
const TOUR_HEADING: &str = "## Five minutes with the AWS CLI";
const IAM_HEADING: &str = "## Managing it like IAM";
const DOC_ENDPOINT: &str = "http://127.0.0.1:4566";

/// One ```sh block of the tour and the prose that follows it, up to the next block.
struct Block {
    code: String,
    prose_after: String,
}

/// The tour section's shell blocks, in order.
fn tour_blocks(readme: &str) -> Vec<Block> {
    section_blocks(readme, TOUR_HEADING)
}

/// The shell blocks of the section under `heading`, in order.
fn section_blocks(readme: &str, heading: &str) -> Vec<Block> {
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README.md has no {heading:?} section"));
    let section = &readme[start + heading.len()..];
    let section = section.find("\n## ").map_or(section, |end| &section[..end]);
    let mut blocks: Vec<Block> = Vec::new();
    let mut code: Option<String> = None;
    for line in section.lines() {
        match (&mut code, line) {
            (None, "```sh") => code = Some(String::new()),
            (Some(_), "```") => {
                blocks.push(Block {
                    code: code.take().unwrap_or_default(),
                    prose_after: String::new(),
                });
            }
            (Some(c), l) => {
                c.push_str(l);
                c.push('\n');
            }
            (None, l) => {
                if let Some(b) = blocks.last_mut() {
                    b.prose_after.push_str(l);
                    b.prose_after.push('\n');
                }
            }
        }
    }
    assert!(code.is_none(), "unterminated ```sh block in the tour");
    blocks
}

/// `s` quoted for bash.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The real binary serving `config`, killed (and reaped) when dropped, so a failing test leaves
/// no broker behind.
struct Broker {
    child: Child,
    endpoint: String,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `sts-broker serve --config CONFIG` in `dir`. The configuration listens on
/// `127.0.0.1:0`: the broker binds, and its "listening" log line says where, so no port is
/// chosen (and released) before the broker holds it.
fn start_broker(dir: &Path, config: &Path) -> Broker {
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg("--config")
        .arg(config)
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (address, found) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains("sts-broker listening")
                && let Some(a) = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("address="))
            {
                let _ = address.send(a.to_owned());
            }
        }
    });
    let mut broker = Broker {
        child,
        endpoint: String::new(),
    };
    // A hang guard only: the broker reports its address as soon as it listens.
    match found.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => broker.endpoint = format!("http://{addr}"),
        Err(_) => panic!(
            "the broker did not report the address it listens on (exit: {:?})",
            broker.child.try_wait()
        ),
    }
    broker
}

/// Waits until `GET /readyz` answers 200, within a bounded time.
async fn wait_ready(endpoint: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{endpoint}/readyz")).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < deadline, "the broker did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What one block did.
struct Outcome {
    status: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs the blocks in one bash, in `dir`, each block's output captured on its own; variables
/// set by a block (`TOKEN`) are seen by the next, as in a terminal.
fn run_blocks(dir: &Path, blocks: &[String]) -> Vec<Outcome> {
    let out = dir.join("out");
    std::fs::create_dir(&out).unwrap();
    // `aws` is the AWS CLI on the PATH, else the awscli Python package (pip may have put its
    // script where the PATH does not reach).
    let mut script = String::from(
        "set -u\n\
         if ! command -v aws >/dev/null 2>&1; then\n\
           if python3 -c 'import awscli' >/dev/null 2>&1; then aws() { python3 -m awscli \"$@\"; }\n\
           else echo 'the tour needs the AWS CLI: run scripts/install-deps' >&2; exit 97; fi\n\
         fi\n",
    );
    for (i, code) in blocks.iter().enumerate() {
        script.push_str(&format!(
            "{{\n{code}}} >out/{i}.stdout 2>out/{i}.stderr </dev/null\necho $? >out/{i}.status\n"
        ));
    }
    let mut bash = Command::new("bash");
    bash.arg("-c")
        .arg(&script)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The tour as a newcomer runs it: no AWS profile, credentials, region or endpoint of the
    // machine's user, whose files are replaced by ones that do not exist.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") && key != "AWS_CA_BUNDLE" {
            bash.env_remove(key);
        }
    }
    bash.env("AWS_CONFIG_FILE", dir.join("no-aws-config")).env(
        "AWS_SHARED_CREDENTIALS_FILE",
        dir.join("no-aws-credentials"),
    );
    let child = bash.spawn().unwrap();
    let mut guard = KillOnDrop(child);
    // A hang guard only: every command of the tour answers in seconds.
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the tour did not finish");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut e) = guard.0.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert!(
        status.success(),
        "the tour's shell failed: {status:?}\n{stderr}"
    );
    let read = |name: String| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    (0..blocks.len())
        .map(|i| Outcome {
            status: read(format!("{i}.status")).trim().parse().unwrap_or(-1),
            stdout: read(format!("{i}.stdout")),
            stderr: read(format!("{i}.stderr")),
        })
        .collect()
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The output a block shows in its `# ` lines: fragments between `...` elisions, which must
/// appear in `printed` in this order (whitespace runs compared as one space).
fn assert_shown_output(code: &str, printed: &str) {
    let shown: Vec<&str> = code
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("# "))
        .collect();
    if shown.is_empty() {
        return;
    }
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let shown = squash(&shown.join(" "));
    let printed = squash(printed);
    let mut rest = printed.as_str();
    for fragment in shown.split("...").map(str::trim).filter(|f| !f.is_empty()) {
        match rest.find(fragment) {
            Some(at) => rest = &rest[at + fragment.len()..],
            None => panic!(
                "the tour shows {fragment:?}, which the command did not print (in order):\n{printed}"
            ),
        }
    }
}

/// The blocks of the README section under `heading`, run as written in one bash against the
/// real binary serving the dev configuration (see the module's comment), with their outcomes.
/// The broker and its folder live as long as the returned guard.
async fn run_section(heading: &str) -> (Vec<Block>, Vec<Outcome>, (Broker, tempfile::TempDir)) {
    let blocks = section_blocks(README, heading);
    assert!(!blocks.is_empty(), "the section has no ```sh blocks");

    // The dev configuration, as `serve` embeds it, but on a port the kernel picks; its keys
    // folder (`../keys` from `config/`) is the one `dev-token` uses without `--config` in the
    // same working directory.
    let dir = tempfile::tempdir().unwrap();
    let listen = "listen = \"127.0.0.1:4566\"";
    assert!(
        DEV_CONFIG.contains(listen),
        "config/dev.toml no longer listens on 4566"
    );
    std::fs::create_dir(dir.path().join("config")).unwrap();
    let config = dir.path().join("config/dev.toml");
    std::fs::write(
        &config,
        DEV_CONFIG.replace(listen, "listen = \"127.0.0.1:0\""),
    )
    .unwrap();
    // The tour's relative paths (`file://config/examples/...`) resolve as in a checkout.
    std::os::unix::fs::symlink(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples"),
        dir.path().join("config/examples"),
    )
    .unwrap();

    let broker = start_broker(dir.path(), &config);
    wait_ready(&broker.endpoint).await;

    let scripts: Vec<String> = blocks
        .iter()
        .map(|b| {
            let code = b
                .code
                .replace("cargo run -q --", &shell_quote(BIN))
                .replace(DOC_ENDPOINT, &broker.endpoint);
            assert!(
                !code.contains("cargo run") && !code.contains(":4566"),
                "a tour command runs cargo or calls port 4566 in a way this test does not \
                 substitute:\n{}",
                b.code
            );
            code
        })
        .collect();
    let dir_path = dir.path().to_owned();
    let outcomes = tokio::task::spawn_blocking(move || run_blocks(&dir_path, &scripts))
        .await
        .unwrap();
    (blocks, outcomes, (broker, dir))
}

#[tokio::test]
async fn readme_tour_runs_as_written() {
    let (blocks, outcomes, (broker, dir)) = run_section(TOUR_HEADING).await;
    // The broker made the keys in the working directory, where `dev-token` found the dev
    // issuer's.
    assert!(dir.path().join("keys").is_dir());

    const ROLE_SESSION_ARN: &str = "arn:aws:sts::000000000000:assumed-role/dev-role/alice";
    let (mut minted, mut posted, mut refused, mut simulated) = (0, 0, 0, 0);
    for (block, outcome) in blocks.iter().zip(&outcomes) {
        let code = &block.code;
        let printed = format!("{}{}", outcome.stdout, outcome.stderr);
        assert_shown_output(code, &printed);
        if code.contains("--sub dev:alice")
            && code.contains("aws sts assume-role-with-web-identity")
        {
            // "prints Credentials (ASIA... key, secret, session token, expiration), the
            // assumed-role ARN ..., and the token's subject"
            minted += 1;
            assert!(block.prose_after.contains(ROLE_SESSION_ARN));
            assert_eq!(outcome.status, 0, "{outcome}");
            let answer: serde_json::Value = serde_json::from_str(&outcome.stdout)
                .unwrap_or_else(|e| panic!("not the CLI's JSON ({e}): {outcome}"));
            let creds = &answer["Credentials"];
            let key = creds["AccessKeyId"].as_str().unwrap();
            assert!(key.starts_with("ASIA") && key.len() == 20, "{key}");
            assert_eq!(creds["SecretAccessKey"].as_str().unwrap().len(), 40);
            assert!(!creds["SessionToken"].as_str().unwrap().is_empty());
            assert!(creds["Expiration"].is_string());
            assert_eq!(answer["AssumedRoleUser"]["Arn"], ROLE_SESSION_ARN);
            assert_eq!(answer["SubjectFromWebIdentityToken"], "dev:alice");
        } else if code.contains("curl") && code.contains("Action=AssumeRoleWithWebIdentity") {
            // "the same call is a plain form post"
            posted += 1;
            assert_eq!(outcome.status, 0, "{outcome}");
            assert!(
                outcome
                    .stdout
                    .contains(&format!("<Arn>{ROLE_SESSION_ARN}</Arn>"))
                    && outcome.stdout.contains("<AccessKeyId>ASIA")
                    && outcome.stdout.contains("<SecretAccessKey>"),
                "{outcome}"
            );
        } else if code.contains("--sub someone-else") {
            // "refused with a reason that names the failing condition key but not the
            // policy's values"
            refused += 1;
            assert_ne!(outcome.status, 0, "{outcome}");
            assert!(outcome.stderr.contains("(AccessDenied)"), "{outcome}");
            assert!(
                outcome
                    .stderr
                    .contains("failed condition keys: 127.0.0.1/dev-issuer:sub"),
                "{outcome}"
            );
            assert!(
                !outcome.stderr.contains("dev:*"),
                "a policy value leaked: {outcome}"
            );
            assert!(!outcome.stdout.contains("ASIA"), "{outcome}");
        } else if code.contains("policy simulate") {
            // "prints IAM's SimulateCustomPolicy response ...: "EvalDecision": "implicitDeny",
            // with an Explanation whose near miss names the statement (GitHubActionsDeploy)
            // and the condition that failed with the request's value"
            simulated += 1;
            assert!(
                block
                    .prose_after
                    .contains("\"EvalDecision\": \"implicitDeny\"")
            );
            assert!(block.prose_after.contains("`GitHubActionsDeploy`"));
            assert_eq!(outcome.status, 0, "{outcome}");
            let answer: serde_json::Value = serde_json::from_str(&outcome.stdout)
                .unwrap_or_else(|e| panic!("not a simulation response ({e}): {outcome}"));
            let result = &answer["EvaluationResults"][0];
            assert_eq!(result["EvalDecision"], "implicitDeny", "{outcome}");
            let near_miss = &result["Explanation"]["NearMisses"][0];
            assert_eq!(near_miss["Sid"], "GitHubActionsDeploy", "{outcome}");
            let reason = near_miss["Reason"].as_str().unwrap();
            assert!(
                reason.contains("token.actions.githubusercontent.com:sub")
                    && reason.contains("repo:other-org/app"),
                "{reason}"
            );
        } else {
            // A block this test does not know yet: it must at least run.
            assert_eq!(outcome.status, 0, "tour block\n{code}\n{outcome}");
        }
    }
    assert_eq!(
        (minted, posted, refused, simulated),
        (1, 1, 1, 1),
        "the tour's mint, form post, refusal and simulation, once each"
    );
    drop(broker);
}

#[tokio::test]
async fn readme_iam_walkthrough_runs_as_written() {
    let (blocks, outcomes, guard) = run_section(IAM_HEADING).await;
    let (mut created, mut assumed, mut keyed) = (0, 0, 0);
    for (block, outcome) in blocks.iter().zip(&outcomes) {
        let code = &block.code;
        // Every step succeeds, and prints what the README shows.
        assert_eq!(outcome.status, 0, "walkthrough block\n{code}\n{outcome}");
        assert_shown_output(code, &format!("{}{}", outcome.stdout, outcome.stderr));
        if code.contains("aws iam create-role") {
            created += 1;
            // create-role's JSON: the new role, with a fresh AROA id.
            assert!(outcome.stdout.contains("\"RoleId\": \"AROA"), "{outcome}");
        }
        if code.contains("aws iam create-access-key") {
            // The key signs its user's own call: the last line is the user, not the admin.
            keyed += 1;
            assert_eq!(
                outcome.stdout.lines().last(),
                Some("arn:aws:iam::000000000000:user/ci-bot"),
                "{outcome}"
            );
        }
        if code.contains("--sub ci:build-42") {
            assumed += 1;
            assert_eq!(
                outcome.stdout.trim(),
                "arn:aws:sts::000000000000:assumed-role/ci/build-42"
            );
        }
    }
    assert_eq!((created, assumed, keyed), (1, 1, 1));
    drop(guard);
}

#[test]
fn tour_blocks_are_the_sh_blocks_of_the_tour_section_only() {
    let readme = "# x\n```sh\nbefore\n```\n## Five minutes with the AWS CLI\ntext\n```sh\none\ntwo\n```\nsays\n```json\n{}\n```\n```sh\nthree\n```\nend\n## Next\n```sh\nafter\n```\n";
    let blocks = tour_blocks(readme);
    let codes: Vec<&str> = blocks.iter().map(|b| b.code.as_str()).collect();
    assert_eq!(codes, ["one\ntwo\n", "three\n"]);
    assert!(blocks[0].prose_after.contains("says"));
    assert!(blocks[1].prose_after.contains("end"));
}

#[test]
fn shown_output_is_matched_in_order_across_elisions() {
    assert_shown_output(
        "cmd\n# An error (X) ... says:\n# more here ...\n",
        "An error (X) when calling: says: more   here and then some",
    );
    let out_of_order = std::panic::catch_unwind(|| {
        assert_shown_output("cmd\n# b ... a\n", "a then b");
    });
    assert!(out_of_order.is_err());
}
