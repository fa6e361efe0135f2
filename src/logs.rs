//! The service log: `tracing` events on stderr, as text or JSON (`[log] format`), written by a
//! thread of its own. No request waits on stderr: should whoever reads it stop (a full pipe, a
//! stalled log collector), lines wait in a bounded queue and, once it is full, are dropped and
//! counted ([`dropped_lines`]; the metric `sts_broker_log_lines_dropped`) while requests go on
//! being answered. At exit the queued lines are written, waiting at most [`FLUSH_WAIT`] for a
//! reader; nothing is ever written anywhere but stderr (stdout may carry the audit log). The
//! audit log, the record of decisions, has its own writer ([`crate::audit`]).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// Lines waiting for the writer before further ones are dropped: a few MiB at most.
const QUEUE_LINES: usize = 16_384;
/// Longest the process waits at exit for its last lines to be written.
pub const FLUSH_WAIT: Duration = Duration::from_secs(1);
/// Bytes written to stderr in one go.
const BATCH_BYTES: usize = 64 * 1024;

/// Lines dropped since the process started.
static DROPPED: AtomicU64 = AtomicU64::new(0);

enum Message {
    Line(Vec<u8>),
    /// Everything queued before it is written: say so here.
    Flush(SyncSender<()>),
}

/// Where events are formatted to: the queue of the writer thread.
#[derive(Clone)]
struct Queue(SyncSender<Message>);

impl<'a> MakeWriter<'a> for Queue {
    type Writer = &'a Queue;

    fn make_writer(&'a self) -> &'a Queue {
        self
    }
}

impl Write for &Queue {
    /// One call per event (the formatter writes a whole line at once).
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.0.try_send(Message::Line(line.to_vec()))
        {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes the queued lines at exit ([`FLUSH_WAIT`] at most).
#[derive(Debug)]
#[must_use = "lines still queued when it is dropped are written then"]
pub struct Guard(SyncSender<Message>);

impl Drop for Guard {
    fn drop(&mut self) {
        let (done, written) = sync_channel(1);
        let deadline = Instant::now() + FLUSH_WAIT;
        let mut flush = Message::Flush(done);
        // The queue may be full (stderr not read): try until the deadline, then give up.
        loop {
            match self.0.try_send(flush) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    flush = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => return,
            }
        }
        let _ = written.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }
}

/// Sets up the process's service log, filtered by `RUST_LOG` (`info` by default).
pub fn init(format: LogFormat) -> std::io::Result<Guard> {
    let (queue, lines) = sync_channel(QUEUE_LINES);
    std::thread::Builder::new()
        .name("sts-broker-log".to_owned())
        .spawn(move || write_lines(&lines))?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours())
        .with_writer(Queue(queue.clone()));
    match format {
        LogFormat::Text => logs.init(),
        // One JSON object per line, the event's fields at the top level.
        LogFormat::Json => logs.json().flatten_event(true).with_span_list(false).init(),
    }
    Ok(Guard(queue))
}

/// Colours for a person at a terminal only: a pipe or a file (a log collector) gets plain text,
/// as does anyone who sets `NO_COLOR`.
fn colours() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The writer thread: the lines that are ready, written together (up to [`BATCH_BYTES`]).
fn write_lines(lines: &Receiver<Message>) {
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    let mut flushed = Vec::new();
    while let Ok(first) = lines.recv() {
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Line(line) => {
                    batch.extend_from_slice(&line);
                    if batch.len() >= BATCH_BYTES {
                        write_batch(&mut batch);
                    }
                }
                Message::Flush(done) => flushed.push(done),
            }
            next = lines.try_recv().ok();
        }
        write_batch(&mut batch);
        for done in flushed.drain(..) {
            let _ = done.try_send(());
        }
    }
}

/// Writes whole lines under stderr's lock, so that another writer's lines (the audit log's,
/// an error printed on the way out) are never cut into them; stderr is not held in between.
fn write_batch(batch: &mut Vec<u8>) {
    if batch.is_empty() {
        return;
    }
    // Lines that cannot be written (stderr closed) are lost like dropped ones.
    if std::io::stderr().lock().write_all(batch).is_err() {
        let lines = batch.iter().filter(|&&b| b == b'\n').count();
        DROPPED.fetch_add(lines as u64, Ordering::Relaxed);
    }
    batch.clear();
}

/// Service log lines dropped because their queue was full or stderr was closed.
pub fn dropped_lines() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}
