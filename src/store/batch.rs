//! Writes sent together. Under load many requests store a record at the same moment; one
//! pipeline of `SET`s costs Redis and the broker one write and one read where separate commands
//! cost one each. One batch is in flight at a time and the writes that arrive meanwhile form
//! the next: a lone write leaves at once, a busy broker sends what arrived during one round
//! trip. Each write still succeeds or fails on its own reply, and its caller waits no longer
//! than the store's deadline, queueing included. A write whose caller is no longer waiting (its
//! deadline passed while it queued) is not sent at all. One sent
//! just before its caller's deadline may still land after the caller was told "timeout", as
//! any command can.
//!
//! On a cluster a pipeline may only hold keys one node serves: writes are put in one lane per
//! master (by node id) after the cluster's own slot table (`CLUSTER SLOTS`, read every second
//! by a task of its own), each lane batching as above, so a master that stalls (failing over)
//! holds up only its own writes, and once its lane is full they fail at once. Lanes of masters
//! the table no longer lists end. A write the node refuses (its slot moved meanwhile: `MOVED`)
//! is sent again on its own, which the cluster client routes and redirects as for any command,
//! if its caller still waits; so is a write whose slot the table does not place, at most
//! [`ALONE`] at a time.
//!
//! On one server or a cluster, each of the broker's serving threads ([`crate::workers`])
//! writes through lanes of its own over connections of its own (on a cluster, its own slot
//! table and a lane per master), made at its first write and driven by that thread: a write
//! is queued, sent, answered and handed back without waking another thread (against one lane
//! on the main thread: 1.14x the requests per second at 0.88x the CPU per request on one
//! server). Behind Sentinel every thread shares one lane, so that a failover is looked up
//! once. At most [`MAX_OWN_LANES`] threads per store have one; the others write through
//! the shared lane, and so does a lane while its connection is being made, cannot be made
//! (Redis's `maxclients` reached) or, on one server, has failed, until one is made again
//! (tried every [`REDIAL`]). On a cluster, a thread's connection once made stays (the cluster
//! client reconnects to nodes by itself), and a write it fails to land goes again through the
//! shared lane. The lanes and their connections end with the store. Writes of one key made at the same moment
//! on two threads land in either order, as two replicas' would; a write answered before
//! another is made still lands first.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use futures_util::FutureExt as _;
use futures_util::future::join_all;
use redis::cluster_routing::{Route, SingleNodeRoutingInfo, Slot, SlotAddr};
use tokio::sync::{mpsc, oneshot, watch};

use super::StoreError;
use super::redis::{COMMAND_TIMEOUT, Dialer, Link, deadline};

/// Most writes in one pipeline (about 1 KiB each).
const MAX_BATCH: usize = 256;
/// Writes waiting for a batch before callers wait to queue theirs.
const QUEUE: usize = 4096;
/// How long a cluster's slot table is trusted before it is read again.
const SLOTS_FRESH: Duration = Duration::from_secs(1);
/// Most lanes (masters) a cluster's writes are spread over; writes for others go on their own.
const MAX_LANES: usize = 1000;
/// Slots of a Redis Cluster.
const SLOTS: u16 = 16384;
/// Writes sent on their own (slot not placed by the table) in flight at once.
const ALONE: usize = 256;
/// Most serving threads with a lane (and a connection) of their own, per store; the writes of
/// any other go through the shared one.
const MAX_OWN_LANES: usize = 64;
/// How long a serving thread's lane that could not connect sends through the shared one before
/// it tries again.
const REDIAL: Duration = Duration::from_secs(1);

/// One `SET key value EX seconds` and who waits for its reply.
struct Write {
    key: String,
    value: Vec<u8>,
    seconds: u64,
    /// When its caller stops waiting.
    due: Instant,
    done: oneshot::Sender<Result<(), StoreError>>,
}

impl Write {
    /// Whether its caller still waits for the reply: if not, sending it would only let a value
    /// its caller was told failed land later.
    fn awaited(&self) -> bool {
        !self.done.is_closed() && Instant::now() < self.due
    }

    fn command(&self) -> redis::Cmd {
        let mut cmd = redis::cmd("SET");
        cmd.arg(&self.key)
            .arg(&self.value)
            .arg("EX")
            .arg(self.seconds);
        cmd
    }
}

/// The queue of writes; the task that sends them ends once every handle is dropped.
#[derive(Clone)]
pub(super) struct Writes {
    queue: mpsc::Sender<Write>,
    /// The serving threads' own lanes, where the store allows them.
    own: Option<Arc<OwnLanes>>,
}

impl std::fmt::Debug for Writes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writes").finish_non_exhaustive()
    }
}

/// A lane per serving thread ([`crate::workers`]), with a connection of its own driven by that
/// thread: a write is queued, sent, answered and handed back without waking another thread.
/// The registry holds each lane's queue; the threads hold only weak handles, so the lanes and
/// their connections end with the store (or with their thread's runtime).
struct OwnLanes {
    dialer: Dialer,
    /// Where a lane that cannot connect hands its writes.
    shared: mpsc::Sender<Write>,
    registry: Mutex<Vec<mpsc::Sender<Write>>>,
}

/// A serving thread's lane of one store: `None` when the store had [`MAX_OWN_LANES`] already
/// (its writes go through the shared lane).
type ThreadLane = (Weak<OwnLanes>, Option<mpsc::WeakSender<Write>>);

thread_local! {
    /// This thread's lanes, by store (the weak handle keeps the store's allocation, so its
    /// address names it for as long as the entry lives).
    static OWN_LANES: RefCell<Vec<ThreadLane>> = const { RefCell::new(Vec::new()) };
}

impl Writes {
    /// Starts the task that sends batches through `link`; with a `dialer`, writes made on a
    /// serving thread go through a lane of that thread's own instead.
    pub(super) fn start(link: Link, dialer: Option<Dialer>) -> Writes {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(send_batches(link, waiting, None));
        let own = dialer.map(|dialer| {
            Arc::new(OwnLanes {
                dialer,
                shared: queue.clone(),
                registry: Mutex::default(),
            })
        });
        Writes { queue, own }
    }

    /// Where a write made here goes: on a serving thread, its own lane (started at its first
    /// write); anywhere else, or past [`MAX_OWN_LANES`], the shared queue.
    fn queue(&self) -> mpsc::Sender<Write> {
        let Some(own) = self
            .own
            .as_ref()
            .filter(|_| crate::workers::is_serving_thread())
        else {
            return self.queue.clone();
        };
        OWN_LANES.with_borrow_mut(|lanes| {
            if let Some((_, lane)) = lanes
                .iter()
                .find(|(store, _)| std::ptr::eq(store.as_ptr(), Arc::as_ptr(own)))
            {
                let Some(lane) = lane else {
                    return self.queue.clone();
                };
                if let Some(lane) = lane.upgrade().filter(|lane| !lane.is_closed()) {
                    return lane;
                }
            }
            // None yet, or its runtime ended: a new one. Entries of stores that are gone are
            // forgotten meanwhile.
            lanes.retain(|(store, _)| {
                store.strong_count() > 0 && !std::ptr::eq(store.as_ptr(), Arc::as_ptr(own))
            });
            let mut registry = own.registry.lock().unwrap_or_else(|e| e.into_inner());
            registry.retain(|lane| !lane.is_closed());
            if registry.len() >= MAX_OWN_LANES {
                lanes.push((Arc::downgrade(own), None));
                return self.queue.clone();
            }
            let (queue, waiting) = mpsc::channel(QUEUE);
            tokio::spawn(own_writes(
                OwnLink::new(own.dialer.clone(), own.shared.clone()),
                waiting,
            ));
            registry.push(queue.clone());
            lanes.push((Arc::downgrade(own), Some(queue.downgrade())));
            queue
        })
    }

    /// Stores `value` at `key` for `seconds`, in the next batch.
    pub(super) async fn set(
        &self,
        key: String,
        value: Vec<u8>,
        seconds: u64,
    ) -> Result<(), StoreError> {
        let due = Instant::now() + COMMAND_TIMEOUT;
        deadline(async {
            let (done, reply) = oneshot::channel();
            let write = Write {
                key,
                value,
                seconds,
                due,
                done,
            };
            self.queue()
                .send(write)
                .await
                .map_err(|_| StoreError::Closed)?;
            reply.await.unwrap_or(Err(StoreError::Closed))
        })
        .await?
    }
}

/// Sends the queued writes: on one server or behind Sentinel, one lane; on a cluster, a lane per
/// master, so that a node that stalls (failing over) holds up only the writes it would serve.
async fn send_batches(
    link: Link,
    mut waiting: mpsc::Receiver<Write>,
    fallback: Option<mpsc::Sender<Write>>,
) {
    if !matches!(link, Link::Cluster(_)) {
        return lane(Via::Link(link), waiting, false, None).await;
    }
    let (table, mut slots) = watch::channel(Arc::new(SlotTable::default()));
    tokio::spawn(read_slots(link.clone(), table));
    let alone_slots = Arc::new(Semaphore::new(ALONE));
    let mut lanes: HashMap<String, mpsc::Sender<Write>> = HashMap::new();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let changed = slots.has_changed().unwrap_or(false);
        let table = slots.borrow_and_update().clone();
        if changed {
            // Masters gone from the table (failed over, removed): their lanes send what they
            // hold and end.
            lanes.retain(|node, _| table.serves(node));
        }
        for write in batch.drain(..) {
            let node = table
                .node(&write.key)
                .filter(|n| lanes.contains_key(*n) || lanes.len() < MAX_LANES);
            let Some(node) = node else {
                // A slot the table does not place: on its own, routed by the cluster client,
                // a bounded number at a time (the queue waits meanwhile).
                let Ok(slot) = alone_slots.clone().acquire_owned().await else {
                    return;
                };
                let link = link.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    alone(&link, write).await;
                });
                continue;
            };
            if !lanes.contains_key(node) {
                let (queue, waiting) = mpsc::channel(QUEUE);
                tokio::spawn(lane(
                    Via::Link(link.clone()),
                    waiting,
                    true,
                    fallback.clone(),
                ));
                lanes.insert(node.to_owned(), queue);
            }
            let Some(queue) = lanes.get(node) else {
                continue;
            };
            // A lane whose node stalls fills up: the writes it would serve fail at once.
            match queue.try_send(write) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(write)) => {
                    let _ = write.done.send(Err(StoreError::Closed));
                }
                Err(mpsc::error::TrySendError::Closed(write)) => {
                    // Its task ended (it cannot, short of a panic): the next write starts another.
                    lanes.remove(node);
                    let _ = write.done.send(Err(StoreError::Closed));
                }
            }
        }
    }
}

/// What a lane sends through: a shared link, or a connection of its own.
enum Via {
    Link(Link),
    Own(OwnLink),
}

/// A serving thread's connection, made by a task of its own from the lane's first batch on;
/// until it is ready, and for [`REDIAL`] after a dial failed or the connection failed as a
/// whole, batches go to the shared lane.
struct OwnLink {
    dialer: Dialer,
    connection: Connection,
    shared: mpsc::Sender<Write>,
    dial_after: Instant,
    /// Whether the last dial failed (said once, not at every retry).
    failing: bool,
}

enum Connection {
    None,
    Dialing(tokio::task::JoinHandle<Result<Link, StoreError>>),
    Ready(Link),
}

impl OwnLink {
    fn new(dialer: Dialer, shared: mpsc::Sender<Write>) -> OwnLink {
        OwnLink {
            dialer,
            connection: Connection::None,
            shared,
            dial_after: Instant::now(),
            failing: false,
        }
    }

    /// The thread's connection when it is ready; else `None`, a dial started if none runs and
    /// [`REDIAL`] has passed since the last failure. Never waits: a dial that hangs holds up
    /// no write.
    fn link(&mut self) -> Option<&Link> {
        if let Connection::Dialing(dialing) = &mut self.connection
            && let Some(made) = dialing.now_or_never()
        {
            self.connection = match made.unwrap_or(Err(StoreError::Closed)) {
                Ok(link) => {
                    self.failing = false;
                    Connection::Ready(link)
                }
                Err(e) => {
                    if !self.failing {
                        tracing::warn!(error = %e, "a serving thread cannot open its store connection; its writes go through the shared one");
                    }
                    self.failing = true;
                    self.dial_after = Instant::now() + REDIAL;
                    Connection::None
                }
            };
        }
        if matches!(self.connection, Connection::None) && Instant::now() >= self.dial_after {
            let dialer = self.dialer.clone();
            self.connection = Connection::Dialing(tokio::spawn(async move { dialer.dial().await }));
        }
        match &self.connection {
            Connection::Ready(link) => Some(link),
            Connection::None | Connection::Dialing(_) => None,
        }
    }

    /// The connection failed as a whole (no reply at all, not one write's error): batches go
    /// through the shared lane until a new one is made, [`REDIAL`] from now.
    fn lost(&mut self) {
        tracing::warn!(
            "a serving thread's store connection failed; its writes go through the shared one until it is made again"
        );
        self.connection = Connection::None;
        self.dial_after = Instant::now() + REDIAL;
    }

    fn hand_over(&self, write: Write) {
        hand_over(&self.shared, write);
    }
}

/// `write` to the shared lane; failed at once if that is full.
fn hand_over(shared: &mpsc::Sender<Write>, write: Write) {
    if let Err(e) = shared.try_send(write) {
        let write = match e {
            mpsc::error::TrySendError::Full(w) | mpsc::error::TrySendError::Closed(w) => w,
        };
        let _ = write.done.send(Err(StoreError::Closed));
    }
}

/// A serving thread's writes: to one server, in its own lane; to a cluster, through its own
/// lanes per master once its connection is made (the cluster client follows failures and
/// failovers from then on), through the shared lane until then.
async fn own_writes(mut own: OwnLink, mut waiting: mpsc::Receiver<Write>) {
    if matches!(own.dialer, Dialer::Single(_)) {
        return lane(Via::Own(own), waiting, false, None).await;
    }
    loop {
        if let Some(link) = own.link() {
            return send_batches(link.clone(), waiting, Some(own.shared.clone())).await;
        }
        let Some(write) = waiting.recv().await else {
            return;
        };
        own.hand_over(write);
    }
}

/// Sends `waiting` in batches, one in flight at a time. On a cluster (`routed`), each batch
/// goes to the node serving its first key, and a write that failed (the node refused it, its
/// slot moved; or this connection could not reach the node) goes again if its caller still
/// waits: to the `fallback` lane (the shared one, for a serving thread's own lanes), else on
/// its own, routed and redirected by the cluster client.
async fn lane(
    mut via: Via,
    mut waiting: mpsc::Receiver<Write>,
    routed: bool,
    fallback: Option<mpsc::Sender<Write>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        batch.retain(Write::awaited);
        if batch.is_empty() {
            continue;
        }
        let link = match &mut via {
            Via::Link(link) => &*link,
            Via::Own(own) => match own.link() {
                Some(link) => link,
                None => {
                    for write in batch.drain(..) {
                        own.hand_over(write);
                    }
                    continue;
                }
            },
        };
        let (mut outcomes, exchanged) = send(link, &batch, routed).await;
        if routed && fallback.is_none() {
            let again: Vec<usize> = (0..batch.len())
                .filter(|&i| outcomes[i].is_err() && batch[i].awaited())
                .collect();
            let retried = join_all(again.iter().map(|&i| {
                let command = batch[i].command();
                async move { link.query::<()>(&command).await }
            }))
            .await;
            for (i, reply) in again.into_iter().zip(retried) {
                outcomes[i] = reply;
            }
        }
        if !exchanged && let Via::Own(own) = &mut via {
            own.lost();
        }
        for (write, outcome) in batch.drain(..).zip(outcomes) {
            match (&fallback, outcome) {
                (Some(shared), Err(_)) if write.awaited() => hand_over(shared, write),
                // A caller that gave up (its deadline passed) is not listening: nothing to do.
                (_, outcome) => {
                    let _ = write.done.send(outcome);
                }
            }
        }
    }
}

/// One write on its own, if its caller still waits.
async fn alone(link: &Link, write: Write) {
    if write.awaited() {
        let outcome = link.query::<()>(&write.command()).await;
        let _ = write.done.send(outcome);
    }
}

/// The batch in one pipeline: each write's outcome, and whether the pipeline was answered at
/// all (`false`: no reply came, the connection failed or the deadline passed).
async fn send(link: &Link, batch: &[Write], routed: bool) -> (Vec<Result<(), StoreError>>, bool) {
    let mut pipe = redis::pipe();
    // Each write's own reply, an error included, rather than one error for the whole batch.
    pipe.ignore_errors();
    for write in batch {
        pipe.add_command(write.command());
    }
    let result = match (link, batch.first()) {
        (Link::Cluster(c), Some(first)) if routed => {
            let route = Route::with_slot(Slot::for_key(&first.key), SlotAddr::Master);
            let mut c = c.clone();
            deadline(Box::pin(c.route_pipeline(
                pipe,
                0,
                batch.len(),
                SingleNodeRoutingInfo::SpecificNode(route),
            )))
            .await
            .and_then(|r| r.map_err(StoreError::from))
        }
        _ => link.query::<Vec<redis::Value>>(&pipe).await,
    };
    let outcomes = (0..batch.len())
        .map(|i| match &result {
            Ok(values) => match values.get(i) {
                Some(redis::Value::Okay) => Ok(()),
                Some(redis::Value::ServerError(e)) => Err(StoreError::Redis(e.clone().into())),
                Some(_) => Err(StoreError::Redis(redis::RedisError::from((
                    redis::ErrorKind::UnexpectedReturnType,
                    "SET did not answer OK",
                )))),
                None => Err(StoreError::Closed),
            },
            Err(e) => Err(e.shared()),
        })
        .collect();
    (outcomes, result.is_ok())
}

/// Reads the cluster's slot table every [`SLOTS_FRESH`] until the writes' task, which reads it,
/// has ended. A table that cannot be read leaves the last one in place (the cluster client
/// still routes and redirects each pipeline by its own), and says so once; at first, an empty
/// one sends every write on its own.
async fn read_slots(link: Link, table: watch::Sender<Arc<SlotTable>>) {
    let mut command = redis::cmd("CLUSTER");
    command.arg("SLOTS");
    let mut failing = false;
    loop {
        match link.query::<redis::Value>(&command).await {
            Ok(reply) => {
                let next = SlotTable {
                    ranges: ranges(&reply),
                };
                failing = false;
                table.send_if_modified(|current| {
                    let modified = current.ranges != next.ranges;
                    if modified {
                        *current = Arc::new(next);
                    }
                    modified
                });
            }
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cannot read the cluster's slot table; keeping the last one");
            }
            Err(_) => {}
        }
        tokio::select! {
            () = table.closed() => return,
            () = tokio::time::sleep(SLOTS_FRESH) => {}
        }
    }
}

/// Which master serves each slot of a cluster, as `CLUSTER SLOTS` last said: ranges of slots
/// and the address of their master.
#[derive(Debug, Default)]
struct SlotTable {
    ranges: Vec<(u16, u16, String)>,
}

impl SlotTable {
    /// Whether `node` serves a slot.
    fn serves(&self, node: &str) -> bool {
        self.ranges.iter().any(|(_, _, n)| n == node)
    }

    /// The master serving `key`, if the table places its slot.
    fn node(&self, key: &str) -> Option<&str> {
        let slot = key_slot(key.as_bytes());
        self.ranges
            .iter()
            .find(|(start, end, _)| (*start..=*end).contains(&slot))
            .map(|(_, _, node)| node.as_str())
    }
}

/// `(first slot, last slot, master)` of each range in a `CLUSTER SLOTS` reply, the master named
/// by its node id (or, without one, its address); anything unexpected is left out.
fn ranges(reply: &redis::Value) -> Vec<(u16, u16, String)> {
    let redis::Value::Array(entries) = reply else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let redis::Value::Array(fields) = entry else {
                return None;
            };
            let slot = |v: Option<&redis::Value>| match v {
                Some(redis::Value::Int(n)) => u16::try_from(*n).ok().filter(|s| *s < SLOTS),
                _ => None,
            };
            let (start, end) = (slot(fields.first())?, slot(fields.get(1))?);
            let Some(redis::Value::Array(master)) = fields.get(2) else {
                return None;
            };
            let text = |v: Option<&redis::Value>| match v {
                Some(redis::Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
                Some(redis::Value::SimpleString(s)) => Some(s.clone()),
                _ => None,
            };
            if let Some(id) = text(master.get(2)).filter(|id| !id.is_empty()) {
                return Some((start, end, id));
            }
            let host = text(master.first())?;
            let Some(redis::Value::Int(port)) = master.get(1) else {
                return None;
            };
            Some((start, end, format!("{host}:{port}")))
        })
        .collect()
}

/// The cluster slot of a key: CRC16 (XMODEM) of its hash tag (the part between the first `{`
/// and the next `}`, when not empty) or of the whole key, modulo 16384.
fn key_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16::State::<crc16::XMODEM>::calculate(tagged.unwrap_or(key)) % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_redis_s() {
        // Values from `CLUSTER KEYSLOT` on redis-server 7.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_ne!(key_slot(b"foo{}{bar}"), key_slot(b"bar"));
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
    }

    #[test]
    fn a_cluster_slots_reply_becomes_ranges() {
        use redis::Value::{Array, BulkString, Int};
        let node = |port: i64, id: &str| {
            Array(vec![
                BulkString(b"127.0.0.1".to_vec()),
                Int(port),
                BulkString(id.as_bytes().to_vec()),
            ])
        };
        let reply = Array(vec![
            Array(vec![Int(0), Int(5460), node(7000, "a1"), node(7003, "d4")]),
            Array(vec![Int(5461), Int(10000), node(7001, "b2")]),
            // No id (an older server): named by its address.
            Array(vec![
                Int(10001),
                Int(16383),
                Array(vec![BulkString(b"127.0.0.1".to_vec()), Int(7002)]),
            ]),
            Array(vec![Int(1), Int(99999), node(7002, "c3")]),
            Int(3),
        ]);
        let table = SlotTable {
            ranges: ranges(&reply),
        };
        assert_eq!(
            table.ranges,
            [
                (0, 5460, "a1".to_owned()),
                (5461, 10000, "b2".to_owned()),
                (10001, 16383, "127.0.0.1:7002".to_owned())
            ]
        );
        assert_eq!(table.node("foo"), Some("127.0.0.1:7002"));
        assert!(table.serves("b2") && !table.serves("d4"));
    }
}
