//! Presence: which agents are online (at least one live socket) and what status they chose,
//! and which conversations' visitors have a socket open.
//!
//! Single node: memory. Cluster: Redis keys with a TTL refreshed by heartbeats, so a crashed
//! node's agents go offline within the TTL. Changes are published on `presence.{account}`.
//!
//! Must not: decide routing (the router reads presence), or touch sockets.

mod memory;
mod redis;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use uuid::Uuid;

use crate::bus::{Bus, topics};
use crate::domain::{AccountId, AgentId, AgentStatus, ConversationId};

pub use memory::MemoryPresence;
pub use redis::{DEFAULT_SWEEP_INTERVAL, DEFAULT_TTL, RedisPresence, RedisPresenceOptions};

/// How long an agent stays online after their last socket closed, so a page reload (socket
/// closed, new one opened a moment later) does not show them leaving and coming back.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// What is published on `presence.{account}` when an agent's status or online state changes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename = "presence")]
pub struct PresenceEvent {
    pub agent_id: AgentId,
    pub status: AgentStatus,
    pub online: bool,
}

/// An agent as others see them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AgentPresence {
    pub agent_id: AgentId,
    pub status: AgentStatus,
    /// At least one socket alive (within the grace period after the last one closed).
    pub online: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PresenceError {
    #[error("presence unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Presence: Send + Sync + 'static {
    /// A socket of the agent is alive; call on connect and on every heartbeat.
    async fn heartbeat(
        &self,
        account: AccountId,
        agent: AgentId,
        socket: Uuid,
        status: AgentStatus,
    ) -> Result<(), PresenceError>;
    /// A socket closed; the agent goes offline after the grace period when it was the last.
    async fn disconnected(
        &self,
        account: AccountId,
        agent: AgentId,
        socket: Uuid,
    ) -> Result<(), PresenceError>;
    /// The agent chose a status.
    async fn set_status(
        &self,
        account: AccountId,
        agent: AgentId,
        status: AgentStatus,
    ) -> Result<(), PresenceError>;
    /// Every agent of the account with a live socket, with their status.
    async fn online(&self, account: AccountId) -> Result<Vec<AgentPresence>, PresenceError>;

    /// A visitor socket on the conversation is alive; call on subscribe and on every heartbeat.
    /// True when this made the visitor online (no other socket of theirs was).
    async fn visitor_heartbeat(
        &self,
        conversation: ConversationId,
        socket: Uuid,
    ) -> Result<bool, PresenceError>;
    /// A visitor socket closed. True when it was the conversation's last: the visitor left.
    async fn visitor_disconnected(
        &self,
        conversation: ConversationId,
        socket: Uuid,
    ) -> Result<bool, PresenceError>;
    /// Whether the conversation's visitor has a live socket.
    async fn visitor_online(&self, conversation: ConversationId) -> Result<bool, PresenceError>;
}

/// Publishes one change; true when the bus took it. A failure is logged, not returned: the
/// change itself is recorded, and clients that missed the event read `online()` when they resume.
async fn publish_change(
    bus: &dyn Bus,
    account: AccountId,
    agent: AgentId,
    status: AgentStatus,
    online: bool,
) -> bool {
    let event = PresenceEvent {
        agent_id: agent,
        status,
        online,
    };
    let payload = match serde_json::to_vec(&event) {
        Ok(p) => Bytes::from(p),
        Err(e) => {
            tracing::error!(error = %e, "presence event not serializable");
            return false;
        }
    };
    match bus.publish(&topics::presence(account), payload).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, %account, %agent, "presence change not published");
            false
        }
    }
}
