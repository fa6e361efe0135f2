//! The threads that serve connections. Each runs a single-threaded tokio runtime, and the
//! accept loop ([`crate::listener`]) hands each new connection to the next of them in turn,
//! which serves it until it closes: a request's parsing, proof, policy decision and answer run
//! on one thread, not moved between cores by work stealing. An HTTP/2 connection's requests,
//! which hyper runs as tasks of their own, are handed out in turn as well. The main thread's
//! runtime serves no connection: it accepts them and runs the store's shared connection and
//! the background tasks, so a slow request never holds up a new connection or the store. On
//! one Redis server or a cluster, each serving thread writes session records over connections
//! of its own
//! ([`crate::store`]'s batches), so a request's session write does not leave its thread
//! either ([`is_serving_thread`]).
//!
//! Against tokio's work-stealing runtime (`BASELINE_BIN=… PAIRS=3 scripts/load`, medians of 3
//! alternated pairs): 1.005× the requests per second at 0.96× the CPU per request with every
//! write crossing to the main thread's connection and back; the connection per thread then
//! gave 1.14× and 0.88× on top of that.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// Threads that serve requests: `TOKIO_WORKER_THREADS` if set (tokio's own variable), else
/// the cores this process may use. A value that is not a number from 1 to 1024 is refused
/// (`check-config` cannot see the environment, so the broker says so when it starts).
pub fn count() -> Result<usize, String> {
    threads(std::env::var("TOKIO_WORKER_THREADS").ok().as_deref())
}

/// [`count`] with the variable's value, if set.
fn threads(set: Option<&str>) -> Result<usize, String> {
    match set {
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
            _ => Err(format!(
                "TOKIO_WORKER_THREADS must be a number of threads from 1 to {MAX_THREADS}, not {:?}",
                crate::encoding::shorten(v)
            )),
        },
        None => Ok(std::thread::available_parallelism().map_or(1, usize::from)),
    }
}

/// Most serving threads `TOKIO_WORKER_THREADS` may ask for.
const MAX_THREADS: usize = 1024;

/// The serving threads, each running its own runtime until [`Workers::stop`].
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
    /// Starts `count` threads (none: every connection is served by the accept loop's runtime).
    pub fn start(count: usize) -> std::io::Result<Workers> {
        let mut threads = Vec::with_capacity(count);
        for n in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let handle = runtime.handle().clone();
            let (stop, stopped) = oneshot::channel::<Duration>();
            let thread = std::thread::Builder::new()
                .name(format!("sts-worker-{}", n + 1))
                .spawn(move || {
                    SERVING.set(true);
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

    /// Where connections go: to each of these threads in turn.
    pub fn spread(&self) -> Spread {
        Spread {
            targets: self.threads.iter().map(|w| w.handle.clone()).collect(),
            next: Arc::default(),
        }
    }

    /// Ends the threads' runtimes, all at once: their tasks, few once the listeners have shut
    /// down, are dropped, and each waits at most `wait` for its blocking tasks (a writer stuck
    /// on an output nobody reads). A thread still running after that (a task that never
    /// yields) is left behind rather than waited for.
    pub fn stop(self, wait: Duration) {
        let threads: Vec<_> = self
            .threads
            .into_iter()
            .map(|worker| {
                let _ = worker.stop.send(wait);
                worker.thread
            })
            .collect();
        let deadline = std::time::Instant::now() + wait + STOP_MARGIN;
        for thread in threads {
            while !thread.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if !thread.is_finished() {
                tracing::warn!("a worker thread did not stop: left behind");
            } else if thread.join().is_err() {
                tracing::error!("a worker thread panicked");
            }
        }
    }
}

thread_local! {
    /// Whether this thread is one of [`Workers`]' threads.
    static SERVING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the calling thread is a serving thread: it runs its own single-threaded runtime,
/// and nothing else, until it is stopped. What such a thread keeps for itself (the store's
/// per-thread connection) is driven by that runtime.
pub fn is_serving_thread() -> bool {
    SERVING.get()
}

/// Time a worker thread is given, beyond its runtime's wait, to end.
const STOP_MARGIN: Duration = Duration::from_millis(100);

/// Runtimes work is spread over, in turn. The default has none: everything stays on the
/// caller's runtime.
#[derive(Debug, Clone, Default)]
pub struct Spread {
    targets: Arc<[Handle]>,
    next: Arc<AtomicUsize>,
}

impl Spread {
    /// The runtime the next connection goes to (`None`: the caller's).
    pub fn next_runtime(&self) -> Option<&Handle> {
        if self.targets.is_empty() {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed) % self.targets.len();
        Some(&self.targets[n])
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
        match self.next_runtime() {
            Some(runtime) => drop(runtime.spawn(task)),
            None => drop(tokio::spawn(task)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_goes_to_each_thread_in_turn_and_the_threads_stop() {
        let workers = Workers::start(2).unwrap();
        let spread = workers.spread();
        let ran_on = |handle: &Handle| {
            let (tx, rx) = std::sync::mpsc::channel();
            handle.spawn(async move { tx.send(std::thread::current().id()).unwrap() });
            rx.recv().unwrap()
        };
        let threads: Vec<_> = (0..4)
            .map(|_| ran_on(spread.next_runtime().unwrap()))
            .collect();
        let (a, b) = (threads[0], threads[1]);
        assert_ne!(a, b);
        assert_ne!(a, std::thread::current().id());
        assert_eq!((threads[2], threads[3]), (a, b));
        // HTTP/2 requests: on each thread in turn as well.
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..2 {
            let tx = tx.clone();
            hyper::rt::Executor::execute(&spread, async move {
                tx.send(std::thread::current().id()).unwrap();
            });
        }
        let ran: std::collections::HashSet<_> = [rx.recv().unwrap(), rx.recv().unwrap()].into();
        assert_eq!(ran, [a, b].into());
        workers.stop(Duration::from_secs(1));
        assert!(Spread::default().next_runtime().is_none());
    }

    #[test]
    fn a_thread_that_never_yields_does_not_hold_up_the_stop() {
        let workers = Workers::start(1).unwrap();
        let spread = workers.spread();
        let (started, running) = std::sync::mpsc::channel();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spinning = stop.clone();
        spread.next_runtime().unwrap().spawn(async move {
            started.send(()).unwrap();
            while !spinning.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        running.recv().unwrap();
        let asked = std::time::Instant::now();
        workers.stop(Duration::from_millis(100));
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "{:?}",
            asked.elapsed()
        );
        stop.store(true, Ordering::Relaxed);
    }

    #[test]
    fn an_unusable_thread_count_is_refused() {
        assert_eq!(threads(Some("3")), Ok(3));
        assert_eq!(threads(Some(" 2\n")), Ok(2));
        for bad in ["0", "many", "1025", "-1", ""] {
            let refused = threads(Some(bad)).unwrap_err();
            assert!(refused.contains("TOKIO_WORKER_THREADS"), "{refused}");
        }
        assert!(threads(None).unwrap() >= 1);
    }
}
