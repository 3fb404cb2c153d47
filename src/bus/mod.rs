//! The bus: live updates between the actors of a node and between nodes.
//!
//! Owns topics (`conv.{id}`, `inbox.{id}`, `agent.{id}`, `presence.{account}`), publishing and
//! subscribing. In-process (tokio broadcast) by default; Redis pub/sub across nodes. A node
//! subscribes to a Redis channel only while it has local listeners.
//!
//! Must not: be relied on for delivery. The store is the source of truth; a lost bus message
//! costs latency (clients resume from the store by `seq`), never data.

mod in_process;
mod redis;

use async_trait::async_trait;
use bytes::Bytes;

use crate::domain::{AccountId, AgentId, ConversationId, InboxId};

pub use in_process::InProcessBus;
pub use redis::{RedisBus, RedisBusError};

/// Topic names, in one place so publishers and subscribers cannot disagree.
pub mod topics {
    use super::*;

    pub fn conversation(id: ConversationId) -> String {
        format!("conv.{id}")
    }
    pub fn inbox(id: InboxId) -> String {
        format!("inbox.{id}")
    }
    pub fn agent(id: AgentId) -> String {
        format!("agent.{id}")
    }
    pub fn presence(account: AccountId) -> String {
        format!("presence.{account}")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The bus cannot reach its server; the message was not published.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
}

/// What `/readyz` reports about the bus.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct BusHealth {
    pub ready: bool,
    /// `in_process`, or `redis`.
    pub kind: &'static str,
    /// `ok`, or why not.
    pub detail: String,
}

/// One received message.
#[derive(Debug, Clone)]
pub struct BusMessage {
    pub topic: String,
    pub payload: Bytes,
}

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes to every subscriber of `topic` on every node (including this one).
    async fn publish(&self, topic: &str, payload: Bytes) -> Result<(), BusError>;
    /// Starts listening to `topic`. The returned subscription unsubscribes when dropped; the
    /// node stops listening to the topic when its last local subscription is dropped.
    fn subscribe(&self, topic: &str) -> Subscription;
    /// Resolves once messages published to `topic` from now on reach this node's subscriptions
    /// (call it after [`Bus::subscribe`], before reading the store, so that nothing committed
    /// in between is missed). Across nodes the subscription is confirmed asynchronously; in
    /// process it is immediate. `Unavailable` when it cannot be confirmed (bus down, or no
    /// local subscription): the caller carries on, and its clients resume from the store.
    async fn subscribed(&self, topic: &str) -> Result<(), BusError> {
        let _ = topic;
        Ok(())
    }
    fn health(&self) -> BusHealth;
}

/// A live subscription. Messages arrive in publish order per publisher; a subscriber that
/// falls behind by more than the buffer gets [`Received::Lagged`] and must resume from the store.
pub struct Subscription {
    // Field order matters: the receiver drops before the guard that checks for listeners.
    pub(crate) rx: tokio::sync::broadcast::Receiver<BusMessage>,
    /// Dropped with the subscription; lets the bus know when a topic has no local listener.
    pub(crate) _guard: Box<dyn Send + Sync>,
}

#[derive(Debug)]
pub enum Received {
    Message(BusMessage),
    /// Messages were missed; the count is how many.
    Lagged(u64),
    /// The bus shut down.
    Closed,
}

impl Subscription {
    pub async fn recv(&mut self) -> Received {
        use tokio::sync::broadcast::error::RecvError;
        match self.rx.recv().await {
            Ok(m) => Received::Message(m),
            Err(RecvError::Lagged(n)) => Received::Lagged(n),
            Err(RecvError::Closed) => Received::Closed,
        }
    }
}
