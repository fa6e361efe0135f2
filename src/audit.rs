//! The audit log: one JSON line per STS or IAM Query API call, authorization decision and admin
//! action, to stdout, stderr or a file (`[audit] output`), or nowhere (`off`, the default);
//! fields: docs/operations.md, "Audit log". It never holds a secret (an [`AuditEvent`] has no field for
//! one), and writing never blocks a request: a bounded channel to one writer task, overflow
//! dropped and counted ([`AuditLog::dropped`], [`AuditLog::failed`]). Handlers add what they
//! learn with [`note`]; the router writes one event per request ([`collect`]).

use std::cell::RefCell;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tokio::io::{AsyncWrite, AsyncWriteExt as _};
use tokio::sync::{mpsc, oneshot};

/// Events waiting for the writer before new ones are dropped.
pub const CHANNEL_CAPACITY: usize = 8192;
/// The `reason` of a request a rate limit refused (`throttledPerSourceIp`, ...). Such events
/// are queued only while more than half the queue is free: a flood of refused requests, which
/// anyone can send, never crowds out the events of requests that were served.
pub const THROTTLED_PREFIX: &str = "throttled";
/// Lines the writer takes from the queue and writes at once.
const WRITE_BATCH: usize = 256;
/// Longest text kept in a field taken from a request (role ARN, session name...).
pub const MAX_FIELD_CHARS: usize = 256;

pub use crate::config::AuditOutput as Output;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The outcome of an audited call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Decision {
    Allow,
    /// Refused by an authentication or authorization decision.
    Deny,
    /// Refused for anything else (bad input, a dependency down).
    #[default]
    Error,
}

/// One audit line. Every field is an identifier, a name or a code; none is a secret: there is
/// no field for a secret access key, session token, web identity token, assertion or
/// signature, and access key ids are public ids.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditEvent {
    /// RFC 3339, UTC.
    pub time: String,
    pub request_id: String,
    pub source_ip: Option<String>,
    /// The authenticated caller's ARN (a web identity's provider ARN), when known.
    pub principal: Option<String>,
    /// `service:Action`, e.g. `sts:AssumeRole`, `iam:SimulatePrincipalPolicy`.
    pub action: String,
    /// The role asked for, in role assumptions.
    pub role: Option<String>,
    pub session_name: Option<String>,
    /// The federated subject (a web identity token's `sub`).
    pub subject: Option<String>,
    pub decision: Decision,
    /// For refusals: the policy decision (`explicitDeny`, `implicitDeny`) when a policy
    /// decided, else the AWS error code.
    pub reason: Option<String>,
    /// The access key id of the session minted, or else of the credentials the caller used.
    pub access_key_id: Option<String>,
    /// The resource asked about: in authorize decisions, the resource the service asked for;
    /// in revocations, what was revoked (session, provider or role ARN).
    pub resource: Option<String>,
    /// In authorize decisions, the service that asked (`POST /authorize`'s signer; none for the
    /// `ext_authz` listener, trusted by network position); `principal` is then the client.
    pub caller: Option<String>,
}

/// What a request's handlers learned, gathered by [`note`].
#[derive(Debug, Clone, Default)]
pub struct Notes {
    pub source_ip: Option<IpAddr>,
    pub action: Option<String>,
    pub principal: Option<String>,
    pub role: Option<String>,
    pub session_name: Option<String>,
    pub subject: Option<String>,
    /// `explicitDeny` / `implicitDeny` when a policy refused.
    pub policy_decision: Option<&'static str>,
    /// A refusal's cause when it says more than the AWS code and no policy decided (e.g.
    /// `mfaDeviceLocked`, `sessionRecordNotAuthentic`); the audit `reason`.
    pub refusal: Option<&'static str>,
    pub access_key_id: Option<String>,
    pub resource: Option<String>,
}

tokio::task_local! {
    static NOTES: RefCell<Notes>;
}

/// Adds to the current request's notes; does nothing outside a request. Within a Query API
/// request, the modules that learn who called, which session was minted or which policy
/// decided add what they know here. The notes live in a tokio task-local scoped to that one
/// request (not a global): threading a mutable record through every action and helper would
/// touch every signature for what is only a side channel, and code running outside a request
/// (benchmarks, the CLI) simply records nothing.
pub fn note(f: impl FnOnce(&mut Notes)) {
    let _ = NOTES.try_with(|cell| {
        if let Ok(mut notes) = cell.try_borrow_mut() {
            f(&mut notes);
        }
    });
}

/// Runs `request` with fresh notes; returns its output and what was noted.
pub async fn collect<F: Future>(request: F) -> (F::Output, Notes) {
    NOTES
        .scope(RefCell::new(Notes::default()), async {
            let out = request.await;
            let notes = NOTES
                .try_with(|cell| cell.try_borrow_mut().map(|mut n| std::mem::take(&mut *n)))
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            (out, notes)
        })
        .await
}

/// At most [`MAX_FIELD_CHARS`] characters of a request-supplied value.
pub fn bounded(text: &str) -> String {
    text.chars().take(MAX_FIELD_CHARS).collect()
}

enum Message {
    Line(String),
    Flush(oneshot::Sender<()>),
}

/// The audit log's sending side, in [`crate::broker::Broker`].
pub struct AuditLog {
    tx: Option<mpsc::Sender<Message>>,
    dropped: AtomicU64,
    failed: Arc<AtomicU64>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("enabled", &self.tx.is_some())
            .field("dropped", &self.dropped())
            .field("failed", &self.failed())
            .finish()
    }
}

impl Default for AuditLog {
    fn default() -> Self {
        AuditLog::off()
    }
}

impl AuditLog {
    /// A log that records nothing.
    pub fn off() -> AuditLog {
        AuditLog {
            tx: None,
            dropped: AtomicU64::new(0),
            failed: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Opens `output` and starts the writer task (call within a tokio runtime). A file that
    /// cannot be opened for appending is an error here, at start, not a silent loss later. A
    /// named pipe is opened by the writer task instead, without blocking, tried again until a
    /// reader comes: the broker starts, and lines wait in the queue, then are dropped and counted.
    pub fn start(output: &Output) -> Result<AuditLog, AuditError> {
        let sink: Sink = match output {
            Output::Off => return Ok(AuditLog::off()),
            Output::Stdout => Sink::Ready(Box::new(tokio::io::stdout())),
            Output::Stderr => Sink::Ready(Box::new(tokio::io::stderr())),
            Output::File(path) if is_fifo(path) => Sink::Pipe(path.clone()),
            Output::File(path) => {
                let file = file_options()
                    .open(path)
                    .map_err(|source| AuditError::Open {
                        path: path.clone(),
                        source,
                    })?;
                Sink::Ready(Box::new(tokio::fs::File::from_std(file)))
            }
        };
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let failed = Arc::new(AtomicU64::new(0));
        tokio::spawn(write_lines(rx, sink, Arc::clone(&failed)));
        Ok(AuditLog {
            tx: Some(tx),
            dropped: AtomicU64::new(0),
            failed,
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// [`collect`] when the log is on; otherwise runs `request` alone, so handlers' notes cost
    /// nothing (no scope to write them into).
    pub async fn collect<F: Future>(&self, request: F) -> (F::Output, Notes) {
        if self.is_enabled() {
            collect(request).await
        } else {
            (request.await, Notes::default())
        }
    }

    /// Queues one event; never waits. A full queue drops the event and counts it; so does a
    /// queue at most half free for a rate limit's refusal ([`THROTTLED_PREFIX`]).
    pub fn record(&self, event: &AuditEvent) {
        let Some(tx) = &self.tx else {
            return;
        };
        let throttled = event
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with(THROTTLED_PREFIX));
        if throttled && tx.capacity() <= CHANNEL_CAPACITY / 2 {
            self.count_dropped();
            return;
        }
        let mut line = match serde_json::to_string(event) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "audit event not serializable");
                return;
            }
        };
        line.push('\n');
        if tx.try_send(Message::Line(line)).is_err() {
            self.count_dropped();
        }
    }

    fn count_dropped(&self) {
        let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if n == 1 || n.is_multiple_of(1000) {
            tracing::warn!(
                dropped = n,
                "audit log queue full (half full, for rate-limit refusals): events dropped"
            );
        }
    }

    /// Waits until every event queued before this call has been written (or has failed).
    pub async fn flush(&self) {
        if let Some(tx) = &self.tx {
            let (done, wait) = oneshot::channel();
            if tx.send(Message::Flush(done)).await.is_ok() {
                let _ = wait.await;
            }
        }
    }

    /// Events dropped because the queue was full (each with a warning in the service log).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Lines the writer could not write (each with a warning in the service log).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

/// Where the writer writes: opened already, or a named pipe it opens itself.
enum Sink {
    Ready(Box<dyn AsyncWrite + Send + Unpin>),
    Pipe(PathBuf),
}

fn file_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
}

fn is_fifo(path: &std::path::Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// How often the writer tries again to open a named pipe that has no reader yet.
const PIPE_RETRY: std::time::Duration = std::time::Duration::from_millis(200);

/// Opens a named pipe for writing without blocking a thread: opening fails (`ENXIO`) while no
/// reader has it open, and is tried again. Writes are non-blocking too, so neither a missing nor
/// a slow reader holds a thread that shutdown would wait for.
#[cfg(unix)]
async fn open_pipe(path: &std::path::Path) -> Box<dyn AsyncWrite + Send + Unpin> {
    let mut logged = false;
    loop {
        match tokio::net::unix::pipe::OpenOptions::new().open_sender(path) {
            Ok(sender) => return Box::new(sender),
            Err(e) if is_fifo(path) => {
                if !logged {
                    tracing::warn!(error = %e, path = %path.display(), "audit pipe has no reader yet; lines wait in the queue");
                    logged = true;
                }
                tokio::time::sleep(PIPE_RETRY).await;
            }
            Err(e) => {
                tracing::error!(error = %e, path = %path.display(), "audit pipe cannot be opened; audit lines are lost");
                return Box::new(tokio::io::sink());
            }
        }
    }
}

#[cfg(not(unix))]
async fn open_pipe(_: &std::path::Path) -> Box<dyn AsyncWrite + Send + Unpin> {
    Box::new(tokio::io::sink())
}

async fn write_lines(mut rx: mpsc::Receiver<Message>, sink: Sink, failed: Arc<AtomicU64>) {
    let mut sink = match sink {
        Sink::Ready(sink) => sink,
        Sink::Pipe(path) => open_pipe(&path).await,
    };
    // The lines ready in the queue go out in one write and one flush: a write per line (a
    // file's is a blocking-pool round trip) would fall behind a burst of requests.
    let mut messages = Vec::with_capacity(WRITE_BATCH);
    let mut batch = String::new();
    while rx.recv_many(&mut messages, WRITE_BATCH).await > 0 {
        let mut lines = 0;
        for message in messages.drain(..) {
            match message {
                Message::Line(line) => {
                    batch.push_str(&line);
                    lines += 1;
                }
                Message::Flush(done) => {
                    write_batch(&mut sink, &mut batch, lines, &failed).await;
                    lines = 0;
                    let _ = done.send(());
                }
            }
        }
        write_batch(&mut sink, &mut batch, lines, &failed).await;
    }
}

/// Writes and flushes `batch` (`lines` lines, none when empty), then empties it; a failure
/// counts every line of it.
async fn write_batch(
    sink: &mut Box<dyn AsyncWrite + Send + Unpin>,
    batch: &mut String,
    lines: u64,
    failed: &AtomicU64,
) {
    if batch.is_empty() {
        return;
    }
    let written = match sink.write_all(batch.as_bytes()).await {
        Ok(()) => sink.flush().await,
        Err(e) => Err(e),
    };
    batch.clear();
    if let Err(e) = written {
        let before = failed.fetch_add(lines, Ordering::Relaxed);
        let n = before + lines;
        if before == 0 || before / 1000 != n / 1000 {
            tracing::warn!(error = %e, failed = n, "audit log write failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notes_are_per_request_and_ignored_outside_one() {
        note(|n| n.principal = Some("nobody".into()));
        let ((), notes) = collect(async {
            note(|n| n.principal = Some("arn:aws:iam::111122223333:user/alice".into()));
            tokio::task::yield_now().await;
            note(|n| n.policy_decision = Some("implicitDeny"));
        })
        .await;
        assert_eq!(
            notes.principal.as_deref(),
            Some("arn:aws:iam::111122223333:user/alice")
        );
        assert_eq!(notes.policy_decision, Some("implicitDeny"));
        let ((), empty) = collect(async {}).await;
        assert!(empty.principal.is_none());
    }

    #[tokio::test]
    async fn lines_are_json_with_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::start(&Output::File(path.clone())).unwrap();
        let event = AuditEvent {
            time: "2026-11-23T12:00:00Z".into(),
            request_id: "r1".into(),
            action: "sts:GetCallerIdentity".into(),
            decision: Decision::Allow,
            ..AuditEvent::default()
        };
        log.record(&event);
        log.record(&event);
        log.flush().await;
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["decision"], "Allow");
        assert_eq!(lines[0]["principal"], serde_json::Value::Null);
        for key in [
            "time",
            "request_id",
            "source_ip",
            "principal",
            "action",
            "role",
            "session_name",
            "subject",
            "decision",
            "reason",
            "access_key_id",
            "resource",
            "caller",
        ] {
            assert!(lines[0].get(key).is_some(), "{key}");
        }
    }

    /// With the writer stalled (a named pipe no one reads), rate-limit refusals fill at most
    /// half the queue; the other half still takes the events of served requests. Once a reader
    /// comes, every queued line is written, in order.
    #[tokio::test]
    async fn refused_floods_leave_half_the_queue_to_other_events() {
        let dir = tempfile::tempdir().unwrap();
        let pipe = dir.path().join("audit.pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&pipe)
            .status()
            .unwrap();
        assert!(made.success());
        let log = AuditLog::start(&Output::File(pipe.clone())).unwrap();
        let event = |id: usize, reason: Option<&str>| AuditEvent {
            request_id: id.to_string(),
            reason: reason.map(str::to_owned),
            ..AuditEvent::default()
        };
        for i in 0..CHANNEL_CAPACITY {
            log.record(&event(i, Some("throttledPerSourceIp")));
        }
        assert_eq!(log.dropped(), (CHANNEL_CAPACITY / 2) as u64);
        for i in 0..CHANNEL_CAPACITY / 2 {
            log.record(&event(CHANNEL_CAPACITY + i, Some("AccessDenied")));
        }
        assert_eq!(log.dropped(), (CHANNEL_CAPACITY / 2) as u64);
        // Full now: anything more is dropped.
        log.record(&event(0, None));
        assert_eq!(log.dropped(), (CHANNEL_CAPACITY / 2 + 1) as u64);

        let reader = tokio::task::spawn_blocking(move || std::fs::read_to_string(pipe).unwrap());
        log.flush().await;
        drop(log);
        let text = reader.await.unwrap();
        let reasons: Vec<String> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["reason"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(reasons.len(), CHANNEL_CAPACITY);
        assert!(
            reasons[..CHANNEL_CAPACITY / 2]
                .iter()
                .all(|r| r == "throttledPerSourceIp")
        );
        assert!(
            reasons[CHANNEL_CAPACITY / 2..]
                .iter()
                .all(|r| r == "AccessDenied")
        );
    }

    #[test]
    fn an_unopenable_file_is_a_start_error() {
        let e = AuditLog::start(&Output::File("/nonexistent-dir/audit.log".into())).unwrap_err();
        assert!(e.to_string().contains("/nonexistent-dir/audit.log"));
    }

    #[test]
    fn off_records_nothing() {
        let log = AuditLog::off();
        log.record(&AuditEvent::default());
        assert!(!log.is_enabled());
        assert_eq!(log.dropped(), 0);
    }
}
