//! The service log: `tracing` events on stderr, as text or JSON (`[log] format`), written by a
//! thread of its own. No request waits on stderr: should whoever reads it stop (a full pipe, a
//! stalled log collector), lines wait in a queue bounded in lines and in bytes (each line cut at
//! 16 KiB) and, once it is full, are dropped and counted ([`dropped_lines`]; the metric
//! `sts_broker_log_lines_dropped_total`) while requests go on being answered. A panic is
//! reported through the same queue. At exit the queued lines are written, waiting at most
//! [`FLUSH_WAIT`] for a reader; nothing is ever written anywhere but stderr (stdout may carry
//! the audit log). The audit log, the record of decisions, has its own writer
//! ([`crate::audit`]).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// Lines waiting for the writer before further ones are dropped.
const QUEUE_LINES: usize = 16_384;
/// Bytes waiting for the writer before further lines are dropped, whatever their number.
const QUEUE_BYTES: usize = 8 << 20;
/// Longest line written: a longer one is cut there (and ends with `...` and its line end).
const MAX_LINE: usize = 16 << 10;
/// Longest the process waits at exit for its last lines to be written.
pub const FLUSH_WAIT: Duration = Duration::from_secs(1);
/// Bytes written to stderr in one go.
const BATCH_BYTES: usize = 64 * 1024;

/// Lines dropped since the process started.
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Bytes of the lines queued and not yet written.
static QUEUED: AtomicUsize = AtomicUsize::new(0);

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
        let kept = capped(line);
        let size = kept.len();
        if QUEUED.fetch_add(size, Ordering::Relaxed) + size > QUEUE_BYTES {
            QUEUED.fetch_sub(size, Ordering::Relaxed);
            DROPPED.fetch_add(1, Ordering::Relaxed);
        } else if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.0.try_send(Message::Line(kept))
        {
            QUEUED.fetch_sub(size, Ordering::Relaxed);
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `line`, or its first [`MAX_LINE`] bytes marked as cut (`...`) and ended as it was.
fn capped(line: &[u8]) -> Vec<u8> {
    if line.len() <= MAX_LINE {
        return line.to_vec();
    }
    let mut kept = Vec::with_capacity(MAX_LINE + 4);
    kept.extend_from_slice(&line[..MAX_LINE]);
    kept.extend_from_slice(b"...");
    if line.ends_with(b"\n") {
        kept.push(b'\n');
    }
    kept
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
    // A panic's report goes through the queue too: written straight to a stderr nobody reads,
    // it would hold the panicking thread (a worker of the runtime) for good.
    std::panic::set_hook(Box::new(|panic| {
        tracing::error!(panic = %panic, thread = std::thread::current().name(), "panicked");
    }));
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
                    QUEUED.fetch_sub(line.len(), Ordering::Relaxed);
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
    let mut stderr = std::io::stderr().lock();
    let mut written = 0;
    while written < batch.len() {
        match stderr.write(&batch[written..]) {
            Ok(0) => break,
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    // Lines that cannot be written (stderr closed) are lost like dropped ones.
    let lost = batch[written..].iter().filter(|&&b| b == b'\n').count();
    DROPPED.fetch_add(lost as u64, Ordering::Relaxed);
    batch.clear();
}

/// Service log lines dropped because their queue was full or stderr was closed.
pub fn dropped_lines() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_past_the_longest_is_cut_and_still_ends_its_line() {
        assert_eq!(capped(b"short\n"), b"short\n");
        let long = [vec![b'x'; MAX_LINE * 3], b"\n".to_vec()].concat();
        let kept = capped(&long);
        assert_eq!(kept.len(), MAX_LINE + 4);
        assert!(kept.ends_with(b"x...\n"));
        assert!(!capped(&vec![b'x'; MAX_LINE + 1]).ends_with(b"\n"));
    }
}
