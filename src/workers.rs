//! The threads that serve connections. Each runs a single-threaded tokio runtime, and the
//! accept loop ([`crate::listener`]) hands each new connection to the next of them in turn
//! (the accept loop's own runtime among them), which serves it until it closes: a request's
//! parsing, proof, policy decision and answer run on one thread, never moved between cores
//! by work stealing. The store's connections and the background tasks live on the main
//! thread's runtime; a request reaches them through channels, as it would on any runtime.
//!
//! Why not tokio's work-stealing runtime: under load, tasks woken on one thread and run on
//! another, with the data they touch, cost about a fifth of the service's CPU. Measured with
//! `BASELINE_BIN=… PAIRS=3 scripts/load` against that runtime: 1.19× the requests per second
//! at 0.82× the CPU per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// Threads that serve requests: `TOKIO_WORKER_THREADS` if set (tokio's own variable), else
/// the cores this process may use.
pub fn count() -> usize {
    std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1)
}

/// The threads besides the main one, each running its own runtime until [`Workers::stop`].
#[derive(Debug)]
pub struct Workers {
    threads: Vec<Worker>,
}

#[derive(Debug)]
struct Worker {
    handle: Handle,
    stop: oneshot::Sender<Duration>,
    thread: std::thread::JoinHandle<()>,
}

impl Workers {
    /// Starts `extra` threads (none: every connection is served by the caller's runtime).
    pub fn start(extra: usize) -> std::io::Result<Workers> {
        let mut threads = Vec::with_capacity(extra);
        for n in 0..extra {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let handle = runtime.handle().clone();
            let (stop, stopped) = oneshot::channel::<Duration>();
            let thread = std::thread::Builder::new()
                .name(format!("sts-worker-{}", n + 1))
                .spawn(move || {
                    // A current-thread runtime runs its tasks only inside `block_on`.
                    let wait = runtime.block_on(stopped).unwrap_or(Duration::ZERO);
                    runtime.shutdown_timeout(wait);
                })?;
            threads.push(Worker {
                handle,
                stop,
                thread,
            });
        }
        Ok(Workers { threads })
    }

    /// Where the accept loop sends connections: its own runtime and each of these threads, in
    /// turn.
    pub fn spread(&self) -> Spread {
        let mut targets = vec![None];
        targets.extend(self.threads.iter().map(|w| Some(w.handle.clone())));
        Spread {
            targets: targets.into(),
            next: Arc::default(),
        }
    }

    /// Ends the threads' runtimes, letting tasks still running there (none once the listener
    /// has shut down) up to `wait` to finish.
    pub fn stop(self, wait: Duration) {
        for worker in self.threads {
            let _ = worker.stop.send(wait);
            if worker.thread.join().is_err() {
                tracing::error!("a worker thread panicked");
            }
        }
    }
}

/// Runtimes connections are spread over, in turn (`None`: the accept loop's own). The default
/// is the accept loop's runtime alone.
#[derive(Debug, Clone)]
pub struct Spread {
    targets: Arc<[Option<Handle>]>,
    next: Arc<AtomicUsize>,
}

impl Default for Spread {
    fn default() -> Spread {
        Spread {
            targets: Arc::new([None]),
            next: Arc::default(),
        }
    }
}

impl Spread {
    /// The runtime the next connection goes to (`None`: the caller's).
    pub fn next(&self) -> Option<&Handle> {
        let n = self.next.fetch_add(1, Ordering::Relaxed) % self.targets.len();
        self.targets[n].as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_go_to_each_runtime_in_turn_and_the_threads_stop() {
        let workers = Workers::start(2).unwrap();
        let spread = workers.spread();
        let threads: Vec<_> = (0..6)
            .map(|_| {
                spread.next().map(|handle| {
                    let (tx, rx) = std::sync::mpsc::channel();
                    handle.spawn(async move { tx.send(std::thread::current().id()).unwrap() });
                    rx.recv().unwrap()
                })
            })
            .collect();
        assert_eq!(threads[0], None, "the accept loop's runtime has its turn");
        assert_eq!(threads[3], None);
        let (a, b) = (threads[1].unwrap(), threads[2].unwrap());
        assert_ne!(a, b);
        assert_ne!(a, std::thread::current().id());
        assert_eq!((threads[4], threads[5]), (Some(a), Some(b)));
        workers.stop(Duration::from_secs(1));
        assert!(Spread::default().next().is_none());
    }
}
