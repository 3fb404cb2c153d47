//! The append batcher: one task per node through which chat messages and comments are stored,
//! many to a transaction (group commit).
//!
//! Each append is a durable commit, and a commit waits for its WAL to reach the disk: stored one
//! per transaction, a node's messages per second are bounded by the disk's syncs per second.
//! The batcher takes appends from every socket session and REST handler of the node, and while
//! one batch commits, the appends arriving meanwhile queue up; the next batch takes all of them
//! (up to [`MAX_BATCH`]) in one [`append_items`](super::Store::append_items) transaction. There
//! is no timer: an idle node writes a lone message at once, and the busier the node, the bigger
//! the batches.
//!
//! Lanes: on PostgreSQL several batches are written at once, each on its own pooled connection
//! (the server flushes the WAL of commits arriving together once, so two lanes cost about one
//! flush). An append's lane is fixed by its conversation, and a lane writes one batch at a time
//! in arrival order, so two appends to one conversation keep the order in which they reached the
//! batcher, and no two lanes ever lock the same conversation. SQLite has one writer: one lane.
//!
//! Must not: publish, or know who asked (the caller publishes after its own append is answered);
//! hold a batch back to make it bigger.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use super::{AppendRequest, DynStore, StoreError, StoreResult, StoreUrl};
use crate::domain::{AccountId, Appended, ConversationId, NewItem};

/// Most appends in one transaction. A batch this size takes a few milliseconds to write; larger
/// ones would hold their conversations' locks longer and gain little (the commit is paid once
/// either way).
pub const MAX_BATCH: usize = 256;

/// Appends waiting for the batcher before callers wait to hand theirs over (backpressure rather
/// than unbounded memory when the store falls behind).
const QUEUE: usize = 4 * 1024;

/// Lanes on PostgreSQL, unless the pool is smaller. Measured (docs/performance.md): more lanes
/// than this give smaller batches and no more messages per second on two cores.
pub const POSTGRES_LANES: usize = 4;

/// How many lanes suit the store at `url` with a pool of `pool_size`: one for SQLite (one
/// writer), up to [`POSTGRES_LANES`] on PostgreSQL, leaving pooled connections for reads.
pub fn lanes_for(url: &str, pool_size: usize) -> usize {
    match StoreUrl::parse(url) {
        Ok(StoreUrl::Postgres(_)) => POSTGRES_LANES.min(pool_size / 2).max(1),
        _ => 1,
    }
}

/// A handle to the node's batcher tasks (one per lane); cheap to clone. The tasks stop once
/// every handle is dropped, after writing what was already handed over.
#[derive(Clone)]
pub struct AppendBatcher {
    lanes: Arc<[mpsc::Sender<Pending>]>,
    written: Arc<Written>,
}

/// What the batcher has written since it started (for benches and metrics).
#[derive(Debug, Default)]
struct Written {
    batches: AtomicU64,
    appends: AtomicU64,
}

impl std::fmt::Debug for AppendBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppendBatcher")
            .field("lanes", &self.lanes.len())
            .field("written", &self.written)
            .finish()
    }
}

/// An append handed to the batcher, with where its result goes.
struct Pending {
    append: AppendRequest,
    reply: oneshot::Sender<StoreResult<Appended>>,
}

impl AppendBatcher {
    /// Starts the batcher's `lanes` tasks (at least one) on the current tokio runtime.
    pub fn spawn(store: DynStore, lanes: usize) -> Self {
        Self::spawn_with(store, lanes, MAX_BATCH)
    }

    /// [`AppendBatcher::spawn`] with another cap on a batch (at least 1).
    pub fn spawn_with(store: DynStore, lanes: usize, max_batch: usize) -> Self {
        let written = Arc::new(Written::default());
        let lanes: Arc<[mpsc::Sender<Pending>]> = (0..lanes.max(1))
            .map(|_| {
                let (queue, pending) = mpsc::channel(QUEUE);
                tokio::spawn(run(
                    store.clone(),
                    pending,
                    max_batch.max(1),
                    written.clone(),
                ));
                queue
            })
            .collect();
        Self { lanes, written }
    }

    /// Stores `item` as [`append_item`](super::Store::append_item) would, in the next batch of
    /// its conversation's lane, and returns once that batch has committed (or failed).
    pub async fn append(
        &self,
        account: AccountId,
        conversation: ConversationId,
        item: NewItem,
    ) -> StoreResult<Appended> {
        let (reply, answer) = oneshot::channel();
        let append = AppendRequest {
            account,
            conversation,
            item,
        };
        // UUIDv7: the low 64 bits are random, so conversations spread evenly over the lanes.
        let lane = (conversation.0.as_u64_pair().1 % self.lanes.len() as u64) as usize;
        self.lanes[lane]
            .send(Pending { append, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Batches (transactions) and appends written so far.
    pub fn written(&self) -> (u64, u64) {
        (
            self.written.batches.load(Ordering::Relaxed),
            self.written.appends.load(Ordering::Relaxed),
        )
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the append batcher has stopped".into())
}

/// One lane: takes whatever has queued (at least one append, at most `max_batch`), writes it,
/// answers each caller, and goes round again. `recv_many` returns at once with what is there: the
/// gathering happens while the previous batch commits.
async fn run(
    store: DynStore,
    mut queue: mpsc::Receiver<Pending>,
    max_batch: usize,
    written: Arc<Written>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut batch, max_batch).await > 0 {
        let (appends, replies): (Vec<AppendRequest>, Vec<_>) =
            batch.drain(..).map(|p| (p.append, p.reply)).unzip();
        written.batches.fetch_add(1, Ordering::Relaxed);
        written
            .appends
            .fetch_add(appends.len() as u64, Ordering::Relaxed);
        let results = store.append_items(appends).await;
        if results.len() != replies.len() {
            tracing::error!(
                appends = replies.len(),
                results = results.len(),
                "append_items answered a batch with the wrong number of results"
            );
        }
        for (reply, result) in replies.into_iter().zip(results) {
            // A caller that went away (its request cancelled) still has its item stored.
            let _ = reply.send(result);
        }
    }
}
