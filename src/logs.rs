//! The service log: `tracing` events on stderr, as text or JSON (`[log] format`), written by a
//! thread of its own. No request waits on stderr: should whoever reads it stop (a full pipe, a
//! stalled log collector), lines wait in a bounded queue and, once it is full, are dropped and
//! counted ([`dropped_lines`]; the metric `sts_broker_log_lines_dropped`) while requests go on
//! being answered. The audit log, the record of decisions, has its own writer
//! ([`crate::audit`]).

use std::sync::OnceLock;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};

use crate::config::LogFormat;

/// Lines waiting for the writer before further ones are dropped: a few MiB at most.
const QUEUE_LINES: usize = 16_384;

/// The writer's count of dropped lines, once the log is set up.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Sets up the process's service log, filtered by `RUST_LOG` (`info` by default). Lines are
/// written until the guard is dropped, which writes those still queued (waiting at most a
/// second for a reader that does not read).
pub fn init(format: LogFormat) -> WorkerGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(QUEUE_LINES)
        .lossy(true)
        .thread_name("sts-broker-log")
        .finish(std::io::stderr());
    let _ = DROPPED.set(writer.error_counter());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => logs.init(),
        // One JSON object per line, the event's fields at the top level.
        LogFormat::Json => logs.json().flatten_event(true).with_span_list(false).init(),
    }
    guard
}

/// Service log lines dropped because their queue was full (0 before [`init`]).
pub fn dropped_lines() -> u64 {
    DROPPED
        .get()
        .map_or(0, |c| u64::try_from(c.dropped_lines()).unwrap_or(u64::MAX))
}
