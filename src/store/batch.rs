//! Writes sent together. Under load many requests store a record at the same moment; one
//! pipeline of `SET`s costs Redis and the broker one write and one read where separate commands
//! cost one each. One batch is in flight at a time and the writes that arrive meanwhile form
//! the next: a lone write leaves at once, a busy broker sends what arrived during one round
//! trip. Each write still succeeds or fails on its own reply, and its caller waits no longer
//! than the store's deadline, queueing included.
//!
//! On a cluster a pipeline may only hold keys one node serves: the batch is split by node,
//! after the cluster's own slot table (`CLUSTER SLOTS`, read again every second and after any
//! failure), and a write the node refuses (its slot moved meanwhile: `MOVED`) is sent again on
//! its own, which the cluster client routes and redirects as for any command.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use redis::cluster_routing::{Route, SingleNodeRoutingInfo, Slot, SlotAddr};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::redis::{Link, deadline};

/// Most writes in one pipeline (about 1 KiB each).
const MAX_BATCH: usize = 256;
/// Writes waiting for a batch before callers wait to queue theirs.
const QUEUE: usize = 4096;
/// How long a cluster's slot table is trusted before it is read again.
const SLOTS_FRESH: Duration = Duration::from_secs(1);
/// Slots of a Redis Cluster.
const SLOTS: u16 = 16384;

/// One `SET key value EX seconds` and who waits for its reply.
struct Write {
    key: String,
    value: Vec<u8>,
    seconds: u64,
    done: oneshot::Sender<Result<(), StoreError>>,
}

impl Write {
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
#[derive(Debug, Clone)]
pub(super) struct Writes {
    queue: mpsc::Sender<Write>,
}

impl Writes {
    /// Starts the task that sends batches through `link`.
    pub(super) fn start(link: Link) -> Writes {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(send_batches(link, waiting));
        Writes { queue }
    }

    /// Stores `value` at `key` for `seconds`, in the next batch.
    pub(super) async fn set(
        &self,
        key: String,
        value: Vec<u8>,
        seconds: u64,
    ) -> Result<(), StoreError> {
        deadline(async {
            let (done, reply) = oneshot::channel();
            let write = Write {
                key,
                value,
                seconds,
                done,
            };
            self.queue
                .send(write)
                .await
                .map_err(|_| StoreError::Closed)?;
            reply.await.unwrap_or(Err(StoreError::Closed))
        })
        .await?
    }
}

async fn send_batches(link: Link, mut waiting: mpsc::Receiver<Write>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut slots = SlotTable::default();
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let groups = match &link {
            Link::Cluster(_) => {
                slots.refresh(&link).await;
                slots.by_node(&batch)
            }
            Link::Single(_) | Link::Sentinel(_) => vec![(0..batch.len()).collect()],
        };
        let sent = join_all(groups.iter().map(|group| send(&link, &batch, group))).await;
        let mut outcomes: Vec<Option<Result<(), StoreError>>> =
            (0..batch.len()).map(|_| None).collect();
        for (group, replies) in groups.iter().zip(sent) {
            for (&i, reply) in group.iter().zip(replies) {
                outcomes[i] = Some(reply);
            }
        }
        // Refused by the node the table named (or a table not read): each again on its own.
        let again: Vec<usize> = match &link {
            Link::Cluster(_) => (0..batch.len())
                .filter(|&i| !matches!(outcomes[i], Some(Ok(()))))
                .collect(),
            Link::Single(_) | Link::Sentinel(_) => Vec::new(),
        };
        if !again.is_empty() {
            slots.forget();
            let retried = join_all(again.iter().map(|&i| {
                let (link, command) = (&link, batch[i].command());
                async move { link.query::<()>(&command).await }
            }))
            .await;
            for (&i, reply) in again.iter().zip(retried) {
                outcomes[i] = Some(reply);
            }
        }
        for (write, outcome) in batch.drain(..).zip(outcomes) {
            // A caller that gave up (its deadline passed) is not listening: nothing to do.
            let _ = write.done.send(outcome.unwrap_or(Err(StoreError::Closed)));
        }
    }
}

/// The writes `group` (indices into `batch`) in one pipeline, and each one's outcome.
async fn send(link: &Link, batch: &[Write], group: &[usize]) -> Vec<Result<(), StoreError>> {
    let mut pipe = redis::pipe();
    for &i in group {
        pipe.add_command(batch[i].command());
    }
    let result = match (link, group.first()) {
        (Link::Cluster(c), Some(&first)) => {
            // To the node serving the group's first key; the table put the others there too.
            let route = Route::with_slot(Slot::for_key(&batch[first].key), SlotAddr::Master);
            let mut c = c.clone();
            deadline(Box::pin(c.route_pipeline(
                pipe,
                0,
                group.len(),
                SingleNodeRoutingInfo::SpecificNode(route),
            )))
            .await
            .and_then(|r| r.map_err(StoreError::from))
        }
        _ => link.query::<Vec<redis::Value>>(&pipe).await,
    };
    (0..group.len())
        .map(|i| match &result {
            Ok(values) => match values.get(i) {
                Some(redis::Value::Okay) => Ok(()),
                Some(_) => Err(StoreError::Redis(redis::RedisError::from((
                    redis::ErrorKind::UnexpectedReturnType,
                    "SET did not answer OK",
                )))),
                None => Err(StoreError::Closed),
            },
            Err(e) => Err(e.shared()),
        })
        .collect()
}

/// Which master serves each slot of a cluster, as `CLUSTER SLOTS` last said: ranges of slots
/// and the address of their master.
#[derive(Debug, Default)]
struct SlotTable {
    ranges: Vec<(u16, u16, String)>,
    read_at: Option<Instant>,
}

impl SlotTable {
    /// Reads the table again when it is older than [`SLOTS_FRESH`] or was forgotten. A table
    /// that cannot be read is empty: every write then goes on its own.
    async fn refresh(&mut self, link: &Link) {
        if self.read_at.is_some_and(|at| at.elapsed() < SLOTS_FRESH) {
            return;
        }
        self.read_at = Some(Instant::now());
        let mut slots = redis::cmd("CLUSTER");
        slots.arg("SLOTS");
        self.ranges = match link.query::<redis::Value>(&slots).await {
            Ok(reply) => ranges(&reply),
            Err(_) => Vec::new(),
        };
    }

    fn forget(&mut self) {
        self.read_at = None;
    }

    /// The batch's writes grouped by the master serving their keys; writes whose slot the
    /// table does not cover each form a group of their own.
    fn by_node(&self, batch: &[Write]) -> Vec<Vec<usize>> {
        let mut groups: Vec<(Option<&str>, Vec<usize>)> = Vec::new();
        for (i, write) in batch.iter().enumerate() {
            let slot = key_slot(write.key.as_bytes());
            let node = self
                .ranges
                .iter()
                .find(|(start, end, _)| (*start..=*end).contains(&slot))
                .map(|(_, _, node)| node.as_str());
            match groups
                .iter_mut()
                .find(|(n, _)| node.is_some() && *n == node)
            {
                Some((_, group)) => group.push(i),
                None => groups.push((node, vec![i])),
            }
        }
        groups.into_iter().map(|(_, group)| group).collect()
    }
}

/// `(first slot, last slot, master address)` of each range in a `CLUSTER SLOTS` reply;
/// anything unexpected is left out.
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
            let host = match master.first()? {
                redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                redis::Value::SimpleString(s) => s.clone(),
                _ => return None,
            };
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
        let node = |port: i64| {
            Array(vec![
                BulkString(b"127.0.0.1".to_vec()),
                Int(port),
                BulkString(b"id".to_vec()),
            ])
        };
        let reply = Array(vec![
            Array(vec![Int(0), Int(5460), node(7000), node(7003)]),
            Array(vec![Int(5461), Int(16383), node(7001)]),
            Array(vec![Int(1), Int(99999), node(7002)]),
            Int(3),
        ]);
        assert_eq!(
            ranges(&reply),
            [
                (0, 5460, "127.0.0.1:7000".to_owned()),
                (5461, 16383, "127.0.0.1:7001".to_owned())
            ]
        );
    }
}
