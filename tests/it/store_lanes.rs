//! Session-record writes from the broker's serving threads, against a real Redis: each thread
//! writes over a connection of its own (at most 64 per store), threads that do not serve and a
//! thread that cannot connect write over the store's shared connection, and the threads'
//! connections end with the store.

use std::time::Duration;

use sts_broker::store::Store;
use sts_broker::workers::Workers;

use crate::harness::broker::TestBroker;
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;
use crate::harness::redis_topology::{RedisCluster, query};

const TTL: Duration = Duration::from_secs(60);

/// The connections `redis` has once the count holds still for a moment: a connection a
/// helper closed a moment ago may still be listed.
async fn settled_clients(redis: &RedisServer) -> usize {
    let mut last = redis.clients().await;
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = redis.clients().await;
        if now == last {
            return now;
        }
        last = now;
    }
}

/// Waits until `redis` has `n` connections (besides the one asking): a serving thread's own
/// connection is made by a task of its own, after its first write.
async fn until_clients(redis: &RedisServer, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let open = redis.clients().await;
        if open == n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{open} connections, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes the entries `0..n` of `namespace`, each from the next of `threads`, and waits for all.
async fn write_on(threads: &Workers, store: &Store, namespace: &'static str, n: usize) {
    let spread = threads.spread();
    let written: Vec<_> = (0..n)
        .map(|i| {
            let store = store.clone();
            spread.next_runtime().unwrap().spawn(async move {
                store
                    .put_entry(namespace, &format!("{i}"), b"x".to_vec(), TTL)
                    .await
            })
        })
        .collect();
    for write in written {
        write.await.unwrap().unwrap();
    }
}

/// Records written on serving threads go over a connection of that thread's own, one per
/// thread however many writes it makes; a runtime of many threads writes over the store's
/// shared connection; and the threads' connections close when the store goes, while the
/// threads live on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_serving_thread_writes_over_a_connection_of_its_own_until_the_store_goes() {
    let redis = RedisServer::start().await;
    let unused = settled_clients(&redis).await;
    let store = Store::open(&redis.url()).await.unwrap();
    let opened = settled_clients(&redis).await;
    assert!(opened > unused);
    let threads = Workers::start(2).unwrap();
    write_on(&threads, &store, "lanes", 20).await;
    until_clients(&redis, opened + 2).await;
    write_on(&threads, &store, "lanes", 20).await;
    assert_eq!(settled_clients(&redis).await, opened + 2);
    assert_eq!(store.entries("lanes").await.unwrap().len(), 20);
    // Here (many threads): the shared connection.
    store
        .put_entry("lanes", "shared", b"x".to_vec(), TTL)
        .await
        .unwrap();
    assert_eq!(settled_clients(&redis).await, opened + 2);
    assert_eq!(store.entries("lanes").await.unwrap().len(), 21);

    drop(store);
    // The store's connections close with it.
    until_clients(&redis, unused).await;
    threads.stop(Duration::ZERO);
}

/// However many threads serve, a store opens at most 64 connections of their own: the writes of
/// any thread past that go over the shared connection, and succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_past_sixty_four_share_the_store_s_connection() {
    let redis = RedisServer::start().await;
    let store = Store::open(&redis.url()).await.unwrap();
    let opened = settled_clients(&redis).await;
    let threads = Workers::start(70).unwrap();
    write_on(&threads, &store, "many", 70).await;
    until_clients(&redis, opened + 64).await;
    // Again: the threads past the cap remember it.
    write_on(&threads, &store, "again", 70).await;
    assert_eq!(settled_clients(&redis).await, opened + 64);
    assert_eq!(store.entries("many").await.unwrap().len(), 70);
    assert_eq!(store.entries("again").await.unwrap().len(), 70);
    threads.stop(Duration::ZERO);
}

/// A serving thread that cannot open a connection of its own (Redis's `maxclients` reached)
/// writes over the store's shared one: every write succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serving_thread_refused_a_connection_writes_over_the_shared_one() {
    let redis = RedisServer::start().await;
    let store = Store::open(&redis.url()).await.unwrap();
    // The connections open now, besides the one that sets the limit: none more once it closes.
    let open = settled_clients(&redis).await;
    redis.config_set("maxclients", &open.to_string()).await;
    let threads = Workers::start(1).unwrap();
    write_on(&threads, &store, "refused", 5).await;
    assert_eq!(store.entries("refused").await.unwrap().len(), 5);
    threads.stop(Duration::ZERO);
}

/// A serving thread whose connection is cut, and refused a new one, writes over the store's
/// shared connection from then on: past the write that found it cut (which fails, as it may
/// have landed), every write succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serving_thread_whose_connection_is_cut_writes_over_the_shared_one() {
    let redis = RedisServer::start().await;
    let store = Store::open(&redis.url()).await.unwrap();
    let opened = settled_clients(&redis).await;
    let threads = Workers::start(1).unwrap();
    write_on(&threads, &store, "cut", 1).await;
    until_clients(&redis, opened + 1).await;
    redis.cut_newest_client_and_refuse_more().await;
    let thread = threads.spread().next_runtime().unwrap().clone();
    let mut outcomes = Vec::new();
    for i in 0..6 {
        let store = store.clone();
        let written = thread
            .spawn(async move { store.put_entry("cut", &format!("{i}"), vec![], TTL).await })
            .await
            .unwrap();
        outcomes.push(written.is_ok());
    }
    assert_eq!(outcomes[1..], [true; 5], "{outcomes:?}");
    threads.stop(Duration::ZERO);
}

/// Threads that are not serving threads (one entering a runtime with `block_on`, a runtime of
/// one thread made by anyone) write over the shared connection and open none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_that_do_not_serve_open_no_connection() {
    let redis = RedisServer::start().await;
    let store = Store::open(&redis.url()).await.unwrap();
    let opened = settled_clients(&redis).await;
    let runtime = tokio::runtime::Handle::current();
    let entered: Vec<_> = (0..3)
        .map(|i| {
            let (store, runtime) = (store.clone(), runtime.clone());
            std::thread::spawn(move || {
                runtime.block_on(store.put_entry("other", &format!("entered{i}"), vec![], TTL))
            })
        })
        .collect();
    let own_runtime = {
        let store = store.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(store.put_entry("other", "own", vec![], TTL))
        })
    };
    for thread in entered.into_iter().chain([own_runtime]) {
        thread.join().unwrap().unwrap();
    }
    assert_eq!(store.entries("other").await.unwrap().len(), 4);
    assert_eq!(settled_clients(&redis).await, opened);
}

/// Connections open to every node of `cluster`, besides the ones asking, once the count holds
/// still.
async fn cluster_clients(cluster: &RedisCluster) -> usize {
    let count = || async {
        let mut open = 0;
        for node in &cluster.nodes {
            let list: String = query(
                node.port,
                &cluster.password,
                ::redis::cmd("CLIENT").arg("LIST"),
            )
            .await;
            open += list.lines().count() - 1;
        }
        open
    };
    let mut last = count().await;
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = count().await;
        if now == last {
            return now;
        }
        last = now;
    }
}

/// On a cluster, each serving thread writes over connections of its own, to every master at
/// least (made at its first write), at most one to each node, and the records written land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_each_serving_thread_connects_to_every_master() {
    let cluster = RedisCluster::start().await;
    let idp = TestIdp::start().await;
    let broker = TestBroker::start(&idp, &cluster.store()).await;
    let store = broker.state.store.clone();
    // Through the shared connection first, which opens what it opens on its first writes.
    for i in 0..30 {
        store
            .put_entry("cluster", &format!("{i}"), vec![], TTL)
            .await
            .unwrap();
    }
    let opened = cluster_clients(&cluster).await;
    let threads = Workers::start(2).unwrap();
    write_on(&threads, &store, "cluster", 30).await;
    let (masters, nodes) = (3, cluster.nodes.len());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cluster_clients(&cluster).await < opened + 2 * masters {
        assert!(
            std::time::Instant::now() < deadline,
            "{} connections, {opened} before",
            cluster_clients(&cluster).await
        );
    }
    write_on(&threads, &store, "cluster", 30).await;
    // However many writes: a connection per node and thread at most, the shared ones too.
    let most = opened + 2 * nodes + nodes;
    assert!(cluster_clients(&cluster).await <= most);
    assert_eq!(store.entries("cluster").await.unwrap().len(), 30);
    threads.stop(Duration::ZERO);
}
