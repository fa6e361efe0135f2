//! The threads that serve connections. Each runs a single-threaded tokio runtime, and the
//! accept loop ([`crate::listener`]) hands each new connection to the next of them in turn
//! (the accept loop's own runtime among them), which serves it until it closes: a request's
//! parsing, proof, policy decision and answer run on one thread, never moved between cores
//! by work stealing. An HTTP/2 connection's requests, which hyper runs as tasks of their own,
//! are handed out in turn as well. The store's connections and the background tasks live on
//! the main thread's runtime; a request reaches them through channels, as on any runtime.
//!
//! Why not tokio's work-stealing runtime: under load, tasks woken on one thread and run on
//! another, with the data they touch, cost a sixth of the service's CPU. Measured with
//! `BASELINE_BIN=… PAIRS=4 scripts/load` against that runtime: 1.14× the requests per second
//! at 0.85× the CPU per request (medians of 4 alternated pairs).

use std::future::Future;
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

    /// Where connections go: `home` (the runtime the accept loop runs on) and each of these
    /// threads, in turn.
    pub fn spread(&self, home: Handle) -> Spread {
        let mut targets = vec![home];
        targets.extend(self.threads.iter().map(|w| w.handle.clone()));
        Spread {
            targets: targets.into(),
            next: Arc::default(),
        }
    }

    /// Ends the threads' runtimes, all at once: each waits at most `wait` for its blocking
    /// tasks (a writer stuck on an output nobody reads); its other tasks, few once the
    /// listeners have shut down, are dropped.
    pub fn stop(self, wait: Duration) {
        let threads: Vec<_> = self
            .threads
            .into_iter()
            .map(|worker| {
                let _ = worker.stop.send(wait);
                worker.thread
            })
            .collect();
        for thread in threads {
            if thread.join().is_err() {
                tracing::error!("a worker thread panicked");
            }
        }
    }
}

/// Runtimes work is spread over, in turn, the first being the one the accept loop runs on.
/// The default has none: everything stays on the caller's runtime.
#[derive(Debug, Clone, Default)]
pub struct Spread {
    targets: Arc<[Handle]>,
    next: Arc<AtomicUsize>,
}

impl Spread {
    /// The runtime the next connection goes to: `None` for the accept loop's own.
    pub fn next_connection(&self) -> Option<&Handle> {
        let n = self.turn()?;
        (n > 0).then(|| &self.targets[n])
    }

    /// The next turn's index into `targets`, if there are any.
    fn turn(&self) -> Option<usize> {
        (!self.targets.is_empty())
            .then(|| self.next.fetch_add(1, Ordering::Relaxed) % self.targets.len())
    }
}

/// hyper runs each request of an HTTP/2 connection as a task of its own: spread in turn too,
/// so that one connection carrying many requests at once (a proxy's) uses every thread.
impl<F> hyper::rt::Executor<F> for Spread
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, task: F) {
        match self.turn() {
            Some(n) => drop(self.targets[n].spawn(task)),
            None => drop(tokio::spawn(task)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_goes_to_each_runtime_in_turn_and_the_threads_stop() {
        let home = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let workers = Workers::start(2).unwrap();
        let spread = workers.spread(home.handle().clone());
        let threads: Vec<_> = (0..6)
            .map(|_| {
                spread.next_connection().map(|handle| {
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
        // HTTP/2 requests: on every runtime, the home one included.
        let ran: Vec<std::thread::ThreadId> = home.block_on(async {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            for _ in 0..3 {
                let tx = tx.clone();
                hyper::rt::Executor::execute(&spread, async move {
                    tx.send(std::thread::current().id()).unwrap();
                });
            }
            drop(tx);
            let mut ran = Vec::new();
            while let Some(thread) = rx.recv().await {
                ran.push(thread);
            }
            ran
        });
        let ran: std::collections::HashSet<_> = ran.into_iter().collect();
        let all = [a, b, std::thread::current().id()];
        assert_eq!(ran, all.into_iter().collect());
        workers.stop(Duration::from_secs(1));
        assert!(Spread::default().next_connection().is_none());
    }
}
