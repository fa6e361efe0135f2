//! Connections an unauthenticated client opens are bounded on every listener: one that never
//! completes a request's headers, or keeps a connection idle, is closed after
//! `[server] header_read_timeout_seconds`; at most `[server] max_connections` are open at once,
//! the next waiting unaccepted until one closes; shutdown stops accepting, lets a request in
//! progress finish, and ends. Raw TCP sockets against the broker served by the library.

use std::sync::Arc;
use std::time::Duration;

use sts_broker::app;
use sts_broker::metrics::Metrics;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::harness::broker::TestBroker;

/// A hang guard only: every wait below ends on an event well before it.
const HANG_GUARD: Duration = Duration::from_secs(30);

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: broker\r\n\r\n";

fn config(server: &str) -> String {
    format!(
        r#"[server]
{server}
[store]
url = "memory://"
[keys]
dir = "keys"
[[accounts]]
id = "111122223333"
[ext_authz]
listen = "127.0.0.1:0"
mode = "nginx"
trusted_proxies = ["127.0.0.1/32"]
"#
    )
}

async fn broker(server: &str) -> TestBroker {
    TestBroker::from_toml(tempfile::tempdir().unwrap(), &config(server)).await
}

fn address(endpoint: &str) -> &str {
    endpoint.strip_prefix("http://").unwrap()
}

/// Reads until the broker closes the connection (end of stream or reset); returns what was
/// read. Panics if it is still open after the hang guard.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let closed = tokio::time::timeout(HANG_GUARD, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the broker kept the connection open: {}",
        String::from_utf8_lossy(&seen)
    );
    seen
}

/// Sends `GET /healthz` and reads its whole answer, leaving the connection open.
async fn healthz(stream: &mut TcpStream) {
    stream.write_all(HEALTHZ).await.unwrap();
    healthz_answer(stream).await;
}

/// Reads a whole `GET /healthz` answer (`ok\n`, with a length): a 200.
async fn healthz_answer(stream: &mut TcpStream) {
    let answer = read_until(stream, b"\r\n\r\nok\n").await;
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
}

/// Reads until what was read ends with `end`, the connection still open.
async fn read_until(stream: &mut TcpStream, end: &[u8]) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.ends_with(end) {
        let n = tokio::time::timeout(HANG_GUARD, stream.read(&mut buf))
            .await
            .expect("no answer")
            .unwrap();
        assert!(n > 0, "closed before answering: {seen:?}");
        seen.extend_from_slice(&buf[..n]);
    }
    seen
}

/// A connection that sends nothing, half a request line, half an HTTP/2 preface, or a whole
/// preface and then nothing, is closed by the broker after the header read timeout, on each of
/// its listeners; the broker serves the next client.
#[tokio::test]
async fn a_connection_without_a_whole_request_is_closed_after_the_header_read_timeout() {
    let broker = broker("header_read_timeout_seconds = 1").await;
    let ext_authz = broker.serve_ext_authz().await.to_string();
    let metrics_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = metrics_listener.local_addr().unwrap().to_string();
    tokio::spawn(sts_broker::metrics::serve(
        metrics_listener,
        Arc::new(Metrics::new(broker.live.clone())),
        std::future::pending(),
    ));
    // An HTTP/2 connection preface and an empty SETTINGS frame.
    let mut h2 = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    h2.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    let sends: [&[u8]; 4] = [b"", b"GET /healthz HT", b"PRI * HTTP/2.0\r\n", &h2];
    for listener in [address(&broker.endpoint), &ext_authz, &metrics] {
        for sent in sends {
            let mut stream = TcpStream::connect(listener).await.unwrap();
            stream.write_all(sent).await.unwrap();
            let answer = read_until_closed(&mut stream).await;
            // Nothing for HTTP/1; for HTTP/2 the broker's SETTINGS at most.
            assert!(
                !answer.starts_with(b"HTTP/"),
                "{listener} {sent:?}: {answer:?}"
            );
        }
    }
    let mut next = TcpStream::connect(address(&broker.endpoint)).await.unwrap();
    healthz(&mut next).await;
}

/// A kept-alive connection that asks nothing more after an answer is closed after the header
/// read timeout too.
#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_header_read_timeout() {
    let broker = broker("header_read_timeout_seconds = 1").await;
    let mut stream = TcpStream::connect(address(&broker.endpoint)).await.unwrap();
    healthz(&mut stream).await;
    healthz(&mut stream).await;
    assert_eq!(read_until_closed(&mut stream).await, b"");
}

/// With `max_connections = 2` and two connections held open, a third is not served until one
/// of them closes, and then it is.
///
/// Why the waits cannot flake: while both connections are held, a broker that keeps the cap
/// has two connections open and accepts no third, so the third request cannot be answered
/// however long the test waits. The short wait for its non-answer can therefore only miss a
/// broken cap (on a broker too slow to answer within it), never fail a working one. Once one
/// connection closes, the answer is awaited as an event (the hang guard only bounds it).
#[tokio::test]
async fn connections_over_max_connections_wait_until_one_closes() {
    // A long header timeout: the broker itself closes nothing during the test.
    let broker = broker("max_connections = 2\nheader_read_timeout_seconds = 600").await;
    let endpoint = address(&broker.endpoint);
    // Both answered once: each is accepted and holds one of the two places, idle.
    let mut first = TcpStream::connect(endpoint).await.unwrap();
    healthz(&mut first).await;
    let mut second = TcpStream::connect(endpoint).await.unwrap();
    healthz(&mut second).await;

    // The kernel completes the third connection (it waits in the listen backlog); its request
    // is sent and waits with it.
    let mut third = TcpStream::connect(endpoint).await.unwrap();
    third.write_all(HEALTHZ).await.unwrap();
    let mut buf = [0u8; 1024];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "answered while two connections were open: {early:?}"
    );

    drop(first);
    // Served once a place is free (the hang guard bounds the wait).
    healthz_answer(&mut third).await;
    // The one still held is served as before.
    healthz(&mut second).await;
}

/// With `max_connections_per_ip = 2`, an address holding two connections has a third closed at
/// once (and counted by nothing), another address is served meanwhile, and once one of the two
/// closes the address gets a place again.
#[tokio::test]
async fn an_address_holds_at_most_max_connections_per_ip() {
    let broker = broker("max_connections_per_ip = 2\nheader_read_timeout_seconds = 600").await;
    let endpoint: std::net::SocketAddr = address(&broker.endpoint).parse().unwrap();
    let from = |ip: [u8; 4]| async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(std::net::SocketAddr::from((ip, 0))).unwrap();
        socket.connect(endpoint).await.unwrap()
    };
    let mut first = from([127, 0, 0, 1]).await;
    healthz(&mut first).await;
    let mut second = from([127, 0, 0, 1]).await;
    healthz(&mut second).await;

    // The third from the same address: closed without an answer, its request unread.
    let mut third = from([127, 0, 0, 1]).await;
    let _ = third.write_all(HEALTHZ).await;
    let answer = read_until_closed(&mut third).await;
    assert!(answer.is_empty(), "{answer:?}");
    // Another address is served.
    let mut other = from([127, 0, 0, 2]).await;
    healthz(&mut other).await;

    // One of the two closes (seen by the broker once its connection task ends): a new one from
    // the address is served again.
    drop(first);
    let served = tokio::time::timeout(HANG_GUARD, async {
        loop {
            let mut next = from([127, 0, 0, 1]).await;
            let _ = next.write_all(HEALTHZ).await;
            let mut buf = [0u8; 1024];
            if let Ok(n) = next.read(&mut buf).await
                && buf[..n].starts_with(b"HTTP/1.1 200")
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(served.is_ok(), "the address got no place back");
    healthz(&mut second).await;
}

/// Shutdown: the listener stops accepting, a request in progress (its body still arriving)
/// is answered, a connection that never completes its headers is closed by its timeout, and
/// `serve` returns. The connections are served on a worker thread's runtime, as the binary
/// serves them, not the test's.
#[tokio::test]
async fn shutdown_stops_accepting_finishes_requests_in_progress_and_returns() {
    let broker = broker("header_read_timeout_seconds = 1").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let workers = sts_broker::workers::Workers::start(1).unwrap();
    let serving = tokio::spawn(app::serve(
        listener,
        broker.live.clone(),
        workers.spread(),
        async {
            let _ = stopped.await;
        },
    ));

    let mut slow_headers = TcpStream::connect(address).await.unwrap();
    slow_headers.write_all(b"GET /heal").await.unwrap();
    // A request whose body waits for the broker's `100 Continue`: that answer comes once the
    // handler reads the body, so the request is then in progress.
    let mut in_progress = TcpStream::connect(address).await.unwrap();
    let body = b"Action=GetCallerIdentity&Version=2011-06-15";
    in_progress
        .write_all(
            format!(
                "POST / HTTP/1.1\r\nHost: broker\r\nExpect: 100-continue\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let continued = read_until(&mut in_progress, b"\r\n\r\n").await;
    assert!(continued.starts_with(b"HTTP/1.1 100"), "{continued:?}");

    stop.send(()).unwrap();
    // Refused once the listener is closed (retried: closing follows the signal).
    let refused = tokio::time::timeout(HANG_GUARD, async {
        while TcpStream::connect(address).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(refused.is_ok(), "still accepting after shutdown");

    in_progress.write_all(body).await.unwrap();
    let answer = read_until_closed(&mut in_progress).await;
    let answer = String::from_utf8_lossy(&answer);
    // Unsigned: refused, but answered in full and the connection then closed.
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("MissingAuthenticationToken"), "{answer}");
    assert_eq!(read_until_closed(&mut slow_headers).await, b"");
    tokio::time::timeout(HANG_GUARD, serving)
        .await
        .expect("serve did not return after shutdown")
        .unwrap()
        .unwrap();
    tokio::task::spawn_blocking(move || workers.stop(Duration::from_secs(1)))
        .await
        .unwrap();
}

/// On a dual-stack listener (`[::]`), an IPv4 client is seen by handlers as its IPv4 address,
/// not as `::ffff:a.b.c.d`: what `aws:SourceIp` conditions, `trusted_proxies` and
/// `per_source_ip` compare against IPv4 networks.
#[tokio::test]
async fn an_ipv4_client_of_a_dual_stack_listener_is_seen_as_ipv4() {
    use axum::extract::ConnectInfo;
    use std::net::SocketAddr;
    let socket = socket2::Socket::new(
        socket2::Domain::IPV6,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .unwrap();
    socket.set_only_v6(false).unwrap();
    socket
        .bind(&"[::]:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.listen(16).unwrap();
    socket.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(socket.into()).unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = axum::Router::new().route(
        "/peer",
        axum::routing::get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
            peer.ip().to_string()
        }),
    );
    let limits = sts_broker::listener::Limits {
        header_read_timeout: Duration::from_secs(10),
        max_connections: 4,
        max_connections_per_ip: 0,
    };
    tokio::spawn(sts_broker::listener::serve(
        listener,
        router,
        limits,
        Default::default(),
        std::future::pending(),
    ));
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream
        .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = String::from_utf8(read_until_closed(&mut stream).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n127.0.0.1"), "{answer}");
}
