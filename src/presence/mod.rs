//! Presence: which agents are online (at least one live socket) and what status they chose.
//!
//! Single node: memory. Cluster: Redis keys with a TTL refreshed by heartbeats, so a crashed
//! node's agents go offline within the TTL. Changes are published on `presence.{account}`.
//!
//! Must not: decide routing (the router reads presence), or touch sockets.

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::{AccountId, AgentId, AgentStatus};

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
}
