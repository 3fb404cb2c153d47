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
//! Order: one batch is written at a time, appends are taken in arrival order, and a batch stores
//! its appends in order, so two appends to one conversation keep the order in which they reached
//! the batcher (a caller that waits for each append before sending the next keeps its order).
//!
//! Must not: publish, or know who asked (the caller publishes after its own append is answered);
//! hold a batch back to make it bigger.

use tokio::sync::{mpsc, oneshot};

use super::{AppendRequest, DynStore, StoreError, StoreResult};
use crate::domain::{AccountId, Appended, ConversationId, NewItem};

/// Most appends in one transaction. A batch this size takes a few milliseconds to write; larger
/// ones would hold their conversations' locks longer and gain little (the commit is paid once
/// either way).
pub const MAX_BATCH: usize = 256;

/// Appends waiting for the batcher before callers wait to hand theirs over (backpressure rather
/// than unbounded memory when the store falls behind).
const QUEUE: usize = 4 * 1024;

/// A handle to the node's batcher task; cheap to clone. The task stops once every handle is
/// dropped, after writing what was already handed over.
#[derive(Clone)]
pub struct AppendBatcher {
    queue: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for AppendBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppendBatcher")
            .field("queued", &(QUEUE - self.queue.capacity()))
            .finish()
    }
}

/// An append handed to the batcher, with where its result goes.
struct Pending {
    append: AppendRequest,
    reply: oneshot::Sender<StoreResult<Appended>>,
}

impl AppendBatcher {
    /// Starts the batcher task on the current tokio runtime.
    pub fn spawn(store: DynStore) -> Self {
        Self::spawn_with(store, MAX_BATCH)
    }

    /// [`AppendBatcher::spawn`] with another cap on a batch (at least 1).
    pub fn spawn_with(store: DynStore, max_batch: usize) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, pending, max_batch.max(1)));
        Self { queue }
    }

    /// Stores `item` as [`append_item`](super::Store::append_item) would, in the next batch,
    /// and returns once that batch has committed (or failed).
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
        self.queue
            .send(Pending { append, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the append batcher has stopped".into())
}

/// Takes whatever has queued (at least one append, at most `max_batch`), writes it, answers
/// each caller, and goes round again. `recv_many` returns at once with what is there: the
/// gathering happens while the previous batch commits.
async fn run(store: DynStore, mut queue: mpsc::Receiver<Pending>, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut batch, max_batch).await > 0 {
        let (appends, replies): (Vec<AppendRequest>, Vec<_>) =
            batch.drain(..).map(|p| (p.append, p.reply)).unzip();
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
