//! Writes sent together. Under load many requests store a record at the same moment; one
//! pipeline of `SET`s costs Redis and the broker one write and one read where separate commands
//! cost one each. One batch is in flight at a time and the writes that arrive meanwhile form
//! the next: a lone write leaves at once, a busy broker sends what arrived during one round
//! trip. Each write still succeeds or fails on its own reply, and its caller waits no longer
//! than the store's deadline, queueing included.
//!
//! Only where every key lives on one server (a single Redis, the master Sentinel names): a
//! cluster refuses pipelines whose keys are in different slots.

use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::redis::{Link, deadline};

/// Most writes in one pipeline (about 1 KiB each).
const MAX_BATCH: usize = 256;
/// Writes waiting for a batch before callers wait to queue theirs.
const QUEUE: usize = 4096;

/// One `SET key value EX seconds` and who waits for its reply.
struct Write {
    key: String,
    value: Vec<u8>,
    seconds: u64,
    done: oneshot::Sender<Result<(), StoreError>>,
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
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut pipe = redis::pipe();
        let mut replies = Vec::with_capacity(batch.len());
        for write in batch.drain(..) {
            pipe.cmd("SET")
                .arg(write.key)
                .arg(write.value)
                .arg("EX")
                .arg(write.seconds);
            replies.push(write.done);
        }
        let result = link.query::<Vec<redis::Value>>(&pipe).await;
        for (i, done) in replies.into_iter().enumerate() {
            let outcome = match &result {
                Ok(values) => match values.get(i) {
                    Some(redis::Value::Okay) => Ok(()),
                    Some(_) => Err(StoreError::Redis(redis::RedisError::from((
                        redis::ErrorKind::UnexpectedReturnType,
                        "SET did not answer OK",
                    )))),
                    None => Err(StoreError::Closed),
                },
                Err(e) => Err(e.shared()),
            };
            // A caller that gave up (its deadline passed) is not listening: nothing to do.
            let _ = done.send(outcome);
        }
    }
}
