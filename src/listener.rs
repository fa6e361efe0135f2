//! The accept loop every listener runs (the main one, `ext_authz`'s, the metrics'), in place of
//! `axum::serve`, which bounds nothing about a connection. Here:
//! - at most `max_connections` connections are open at once; while that many are, the loop
//!   accepts nothing, so further connections wait in the kernel's listen backlog (and, once it
//!   is full, their SYNs go unanswered) rather than being accepted and dropped;
//! - a connection on which no request is in progress for `header_read_timeout` is closed: a new
//!   one whose first request's headers are not complete by then (nothing sent, a request line
//!   sent a byte at a time, an HTTP/2 preface never finished), a kept-alive one waiting for its
//!   next request, one still writing an answer its client does not read. HTTP/1 and HTTP/2
//!   alike; hyper's own HTTP/1 header timeout is set to the same value. A request in progress
//!   is bounded by the router's deadline (`[server] request_timeout_seconds`), not here;
//! - with `max_connections_per_ip`, an address holding that many connections has any further
//!   one closed as soon as it is accepted (one host cannot take every place);
//! - an HTTP/2 connection carries at most [`HTTP2_STREAMS`] requests at once, so that
//!   `max_connections` bounds the requests in progress too;
//! - accepted sockets get `TCP_NODELAY`, handlers see the peer as `ConnectInfo<SocketAddr>`,
//!   an IPv4 client of a dual-stack listener (`::ffff:a.b.c.d`) as its IPv4 address, so that
//!   `aws:SourceIp` conditions, trusted proxies and per-address limits naming it apply;
//! - `shutdown` stops the accepting (the listener is closed), lets requests in progress
//!   finish, closes idle connections, and returns once every connection has ended;
//! - an accept error that is the peer's (a connection reset before it was accepted) is
//!   skipped; any other (no file descriptor left: `EMFILE`, `ENFILE`) is logged and retried
//!   after a second, never ends the loop.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::config::file::ServerSection;
use crate::workers::Spread;

/// How long the loop waits before accepting again after an accept error that is not the
/// peer's (file descriptors exhausted).
const ACCEPT_RETRY: Duration = Duration::from_secs(1);
/// Least time between two "connection limit reached" log lines.
const FULL_LOG_INTERVAL: Duration = Duration::from_secs(60);
/// Requests in progress at once on one HTTP/2 connection (hyper's default is 200).
pub const HTTP2_STREAMS: u32 = 32;

/// What one listener allows its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest a connection may go with no request in progress.
    pub header_read_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// Connections one address may hold at once (0: no limit but `max_connections`).
    pub max_connections_per_ip: usize,
}

impl Limits {
    /// The limits `[server]` sets (every listener of the broker has the same).
    pub fn of(server: &ServerSection) -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(server.header_read_timeout_seconds),
            max_connections: server.max_connections,
            max_connections_per_ip: server.max_connections_per_ip,
        }
    }
}

/// What a listener serves (requests with `B` bodies: hyper's own, for a listener): an axum
/// `Router`, or one wrapped in layers.
pub trait App<B = Incoming>:
    tower::Service<
        axum::http::Request<B>,
        Response = axum::response::Response,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<B, S> App<B> for S where
    S: tower::Service<
            axum::http::Request<B>,
            Response = axum::response::Response,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then lets the
/// requests in progress finish and returns once every connection has ended. Each connection
/// is served on the runtime `spread` gives it ([`crate::workers`]).
pub async fn serve(
    listener: TcpListener,
    app: impl App,
    limits: Limits,
    spread: Spread,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = Builder::new(spread.clone());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // No HTTP/2 keep-alive pings: an idle connection is closed by the idle deadline below, a
    // busy one ends with its request's deadline, so a dead peer is found without them.
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(HTTP2_STREAMS);
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut last_full_log: Option<Instant> = None;
    let addresses = PerAddress::new(limits.max_connections_per_ip);
    let mut last_address_log: Option<Instant> = None;
    loop {
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if log_due(&mut last_full_log) {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        address = ?listener.local_addr().ok(),
                        "connection limit reached: new connections wait until one closes"
                    );
                }
                tokio::select! {
                    permit = slots.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break, // never closed
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_peer_error(&e) => continue,
            Err(e) => {
                tracing::error!(error = %e, "cannot accept a connection; retrying in a second");
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_RETRY) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        let Some(held) = addresses.enter(peer.ip().to_canonical()) else {
            // Over its address's share: closed now, its place free for others.
            if log_due(&mut last_address_log) {
                tracing::warn!(
                    max_connections_per_ip = limits.max_connections_per_ip,
                    "an address holds max_connections_per_ip connections: further ones are closed"
                );
            }
            continue;
        };
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let app = app.clone();
        let slot = (permit, held);
        let serve = async move |stream| {
            let _slot = slot;
            serve_connection(&builder, stream, peer, app, limits, watcher).await;
        };
        match spread.next_runtime() {
            None => drop(tokio::spawn(serve(stream))),
            // Registered with this runtime's reactor: moved to the other's.
            Some(runtime) => match stream.into_std() {
                Ok(stream) => drop(runtime.spawn(async move {
                    match TcpStream::from_std(stream) {
                        Ok(stream) => serve(stream).await,
                        Err(e) => tracing::debug!(error = %e, "cannot serve a connection"),
                    }
                })),
                Err(e) => tracing::debug!(error = %e, "cannot hand a connection over"),
            },
        }
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Serves one connection until it ends, the shutdown has let it finish, or it has gone
/// `limits.header_read_timeout` with no request in progress.
async fn serve_connection(
    builder: &Builder<Spread>,
    stream: TcpStream,
    peer: SocketAddr,
    app: impl App,
    limits: Limits,
    watcher: hyper_util::server::graceful::Watcher,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
    let activity = Arc::new(Activity::new());
    let service = Tracked {
        app,
        peer: canonical(peer),
        activity: activity.clone(),
    };
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(watcher.watch(connection));
    let limit = limits.header_read_timeout;
    let mut check_at = Instant::now() + limit;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!(error = %e, "connection ended");
                }
                return;
            }
            () = tokio::time::sleep_until(check_at) => match activity.idle_deadline(limit) {
                Some(at) => check_at = at,
                None => {
                    tracing::debug!(%peer, "connection closed: no request within the header read timeout");
                    return;
                }
            },
        }
    }
}

/// `peer` with an IPv4-mapped IPv6 address (a dual-stack listener's IPv4 client) as IPv4.
fn canonical(peer: SocketAddr) -> SocketAddr {
    SocketAddr::new(peer.ip().to_canonical(), peer.port())
}

/// The app as one connection's service: each request gets the peer's address and counts as
/// in progress from the moment hyper has its headers (`call` runs in the connection's own task,
/// so the idle check never sees a request between its arrival and its start) until its answer
/// is ready.
#[derive(Clone)]
struct Tracked<A> {
    app: A,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

impl<A: App> hyper::service::Service<axum::http::Request<Incoming>> for Tracked<A> {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, mut req: axum::http::Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let in_progress = InProgress::start(&self.activity);
        let answer = tower::ServiceExt::oneshot(self.app.clone(), req);
        Box::pin(async move {
            let response = answer.await;
            drop(in_progress);
            response
        })
    }
}

/// Whether a limit's log line is due (none in the last [`FULL_LOG_INTERVAL`]); if so, notes it
/// as said now.
fn log_due(last: &mut Option<Instant>) -> bool {
    let due = last.is_none_or(|at| at.elapsed() >= FULL_LOG_INTERVAL);
    if due {
        *last = Some(Instant::now());
    }
    due
}

/// Connections open per address, when they are limited.
#[derive(Debug, Clone)]
struct PerAddress {
    limit: usize,
    open: Arc<std::sync::Mutex<HashMap<IpAddr, usize>>>,
}

impl PerAddress {
    fn new(limit: usize) -> PerAddress {
        PerAddress {
            limit,
            open: Arc::default(),
        }
    }

    /// A place for one more connection from `ip`'s client (an IPv6 address's /64, as
    /// throttling counts it: [`crate::rate::client`]), or `None` if it holds `limit` already.
    fn enter(&self, ip: IpAddr) -> Option<AddressPlace> {
        if self.limit == 0 {
            return Some(AddressPlace(None));
        }
        let ip = crate::rate::client(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(AddressPlace(Some((self.clone(), ip))))
    }
}

/// One connection's place in its address's count, given back when it ends.
#[derive(Debug)]
struct AddressPlace(Option<(PerAddress, IpAddr)>);

impl Drop for AddressPlace {
    fn drop(&mut self) {
        let Some((addresses, ip)) = self.0.take() else {
            return;
        };
        let mut open = addresses.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&ip);
            }
        }
    }
}

/// Whether an accept error is the peer's (skip it) rather than the process's (wait first).
fn is_peer_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Requests in progress on one connection, and when the last one ended: read by the
/// connection's idle deadline when its timer fires, so a request costs two atomic updates and
/// wakes nothing.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    in_progress: AtomicUsize,
    /// Milliseconds from `opened` to the end of the last request (0: none yet).
    last_end_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            in_progress: AtomicUsize::new(0),
            last_end_ms: AtomicU64::new(0),
        }
    }

    /// When the connection is next due to be closed for having no request in progress for
    /// `limit`, or `None` if it is now.
    fn idle_deadline(&self, limit: Duration) -> Option<Instant> {
        let now = Instant::now();
        if self.in_progress.load(Ordering::Acquire) > 0 {
            // A request ending later is idle from then on: its deadline is after this one.
            return Some(now + limit);
        }
        let idle_since =
            self.opened + Duration::from_millis(self.last_end_ms.load(Ordering::Acquire));
        let due = idle_since + limit;
        (due > now).then_some(due)
    }
}

/// One request in progress on a connection, from its complete headers until its answer is
/// ready (or it is dropped).
#[derive(Debug)]
struct InProgress(Arc<Activity>);

impl InProgress {
    fn start(activity: &Arc<Activity>) -> InProgress {
        activity.in_progress.fetch_add(1, Ordering::AcqRel);
        InProgress(activity.clone())
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        let ms = u64::try_from(self.0.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_end_ms.fetch_max(ms, Ordering::AcqRel);
        self.0.in_progress.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_its_share_and_gets_places_back() {
        let addresses = PerAddress::new(2);
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let first = addresses.enter(a).unwrap();
        let second = addresses.enter(a).unwrap();
        assert!(addresses.enter(a).is_none());
        let other = addresses.enter(b).unwrap();
        drop(first);
        let again = addresses.enter(a).unwrap();
        drop((second, again, other));
        assert!(
            addresses.open.lock().unwrap().is_empty(),
            "no count left behind"
        );
        // An IPv6 host counts by its /64, whatever addresses in it it uses.
        let in_one_64: Vec<_> = ["2001:db8:0:1::1", "2001:db8:0:1:a:b:c:d"]
            .iter()
            .map(|s| addresses.enter(s.parse().unwrap()).unwrap())
            .collect();
        assert!(
            addresses
                .enter("2001:db8:0:1::ffff".parse().unwrap())
                .is_none()
        );
        assert!(
            addresses
                .enter("2001:db8:0:2::1".parse().unwrap())
                .is_some()
        );
        drop(in_one_64);
        // 0: no limit, nothing counted.
        let unlimited = PerAddress::new(0);
        let places: Vec<_> = (0..100).map(|_| unlimited.enter(a).unwrap()).collect();
        assert_eq!(places.len(), 100);
        assert!(unlimited.open.lock().unwrap().is_empty());
    }

    #[test]
    fn an_ipv4_client_of_a_dual_stack_listener_is_seen_as_ipv4() {
        let mapped: SocketAddr = "[::ffff:198.51.100.7]:4000".parse().unwrap();
        assert_eq!(canonical(mapped), "198.51.100.7:4000".parse().unwrap());
        let v6: SocketAddr = "[2001:db8::1]:4000".parse().unwrap();
        assert_eq!(canonical(v6), v6);
    }

    #[tokio::test]
    async fn a_connection_is_due_once_idle_for_the_limit() {
        let limit = Duration::from_secs(10);
        let activity = Arc::new(Activity::new());
        let first = activity.idle_deadline(limit).unwrap();
        assert!(first <= activity.opened + limit + Duration::from_millis(1));
        let request = InProgress::start(&activity);
        // Busy: checked again a whole limit later.
        assert!(activity.idle_deadline(limit).unwrap() >= first);
        drop(request);
        let after = activity.idle_deadline(limit).unwrap();
        assert!(
            after >= first,
            "idle counts from the end of the last request"
        );
        // Nothing in progress, and idle long enough: due.
        assert_eq!(activity.idle_deadline(Duration::ZERO), None);
    }
}
