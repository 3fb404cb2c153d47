//! Presence for a single node, held in memory.
//!
//! An agent has an entry exactly while others see them online: from their first socket until the
//! grace period after their last socket closed has run out without a new socket or heartbeat.
//! One lock guards every entry and is held while a change is published, so the events of one
//! agent leave in the order the changes happened (presence changes are rare next to messages).
//! The lock is fair (tokio's): it is handed to the next waiter, so a caller must never wait for
//! it in a future that can stop being polled (a `ctx.spawn` of an actor that then blocks in
//! `ctx.wait`), or every other caller waits for good. Sockets call it from tasks of their own.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;
use uuid::Uuid;

use super::{AgentPresence, DEFAULT_GRACE, Presence, PresenceError, publish_change};
use crate::bus::Bus;
use crate::domain::{AccountId, AgentId, AgentStatus, ConversationId};

pub struct MemoryPresence {
    inner: Arc<Inner>,
}

struct Inner {
    bus: Arc<dyn Bus>,
    grace: Duration,
    accounts: Mutex<HashMap<AccountId, HashMap<AgentId, Entry>>>,
    /// Live visitor sockets per conversation; a conversation without any has no entry.
    visitors: std::sync::Mutex<HashMap<ConversationId, HashSet<Uuid>>>,
}

struct Entry {
    status: AgentStatus,
    sockets: HashSet<Uuid>,
    /// Bumped by every heartbeat, so a grace timer started before it knows it was cancelled.
    epoch: u64,
    /// The status last published as online; `None` until a publish succeeded, so a failed
    /// publish is retried by the next heartbeat instead of being lost for good.
    published: Option<AgentStatus>,
}

impl MemoryPresence {
    /// `grace`: how long an agent stays online after their last socket closed
    /// ([`DEFAULT_GRACE`] unless a test needs it short).
    pub fn new(bus: Arc<dyn Bus>, grace: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                bus,
                grace,
                accounts: Mutex::new(HashMap::new()),
                visitors: std::sync::Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn with_default_grace(bus: Arc<dyn Bus>) -> Self {
        Self::new(bus, DEFAULT_GRACE)
    }
}

impl Inner {
    /// Publishes the entry's visible state if it differs from what was last published.
    async fn publish_if_changed(&self, account: AccountId, agent: AgentId, entry: &mut Entry) {
        if entry.published == Some(entry.status) {
            return;
        }
        if publish_change(self.bus.as_ref(), account, agent, entry.status, true).await {
            entry.published = Some(entry.status);
        }
    }

    /// Runs when a grace period ends: the agent goes offline unless a socket came back meanwhile.
    async fn grace_ended(&self, account: AccountId, agent: AgentId, epoch: u64) {
        let mut accounts = self.accounts.lock().await;
        let Some(agents) = accounts.get_mut(&account) else {
            return;
        };
        let gone = agents
            .get(&agent)
            .is_some_and(|e| e.epoch == epoch && e.sockets.is_empty());
        if !gone {
            return;
        }
        let Some(entry) = agents.remove(&agent) else {
            return;
        };
        if agents.is_empty() {
            accounts.remove(&account);
        }
        // Nobody was told the agent came online, so nobody needs to hear they left.
        if entry.published.is_some() {
            publish_change(self.bus.as_ref(), account, agent, entry.status, false).await;
        }
    }
}

#[async_trait]
impl Presence for MemoryPresence {
    async fn heartbeat(
        &self,
        account: AccountId,
        agent: AgentId,
        socket: Uuid,
        status: AgentStatus,
    ) -> Result<(), PresenceError> {
        let mut accounts = self.inner.accounts.lock().await;
        let entry = accounts
            .entry(account)
            .or_default()
            .entry(agent)
            .or_insert_with(|| Entry {
                status,
                sockets: HashSet::new(),
                epoch: 0,
                published: None,
            });
        entry.sockets.insert(socket);
        entry.status = status;
        entry.epoch += 1;
        self.inner.publish_if_changed(account, agent, entry).await;
        Ok(())
    }

    async fn disconnected(
        &self,
        account: AccountId,
        agent: AgentId,
        socket: Uuid,
    ) -> Result<(), PresenceError> {
        let mut accounts = self.inner.accounts.lock().await;
        let Some(entry) = accounts.get_mut(&account).and_then(|a| a.get_mut(&agent)) else {
            return Ok(());
        };
        if !entry.sockets.remove(&socket) || !entry.sockets.is_empty() {
            return Ok(());
        }
        let epoch = entry.epoch;
        let inner: Weak<Inner> = Arc::downgrade(&self.inner);
        let grace = self.inner.grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            // A tracker dropped meanwhile has nobody left to tell.
            if let Some(inner) = inner.upgrade() {
                inner.grace_ended(account, agent, epoch).await;
            }
        });
        Ok(())
    }

    async fn set_status(
        &self,
        account: AccountId,
        agent: AgentId,
        status: AgentStatus,
    ) -> Result<(), PresenceError> {
        // An offline agent is invisible whatever their status; their next socket brings it.
        let mut accounts = self.inner.accounts.lock().await;
        if let Some(entry) = accounts.get_mut(&account).and_then(|a| a.get_mut(&agent)) {
            entry.status = status;
            self.inner.publish_if_changed(account, agent, entry).await;
        }
        Ok(())
    }

    async fn online(&self, account: AccountId) -> Result<Vec<AgentPresence>, PresenceError> {
        let accounts = self.inner.accounts.lock().await;
        let mut online: Vec<AgentPresence> = accounts
            .get(&account)
            .map(|agents| {
                agents
                    .iter()
                    .map(|(agent, entry)| AgentPresence {
                        agent_id: *agent,
                        status: entry.status,
                        online: true,
                    })
                    .collect()
            })
            .unwrap_or_default();
        online.sort_by_key(|p| p.agent_id);
        Ok(online)
    }

    async fn visitor_heartbeat(
        &self,
        conversation: ConversationId,
        socket: Uuid,
    ) -> Result<bool, PresenceError> {
        let mut visitors = self.inner.visitors.lock().map_err(poisoned)?;
        let sockets = visitors.entry(conversation).or_default();
        let was_offline = sockets.is_empty();
        sockets.insert(socket);
        Ok(was_offline)
    }

    async fn visitor_disconnected(
        &self,
        conversation: ConversationId,
        socket: Uuid,
    ) -> Result<bool, PresenceError> {
        let mut visitors = self.inner.visitors.lock().map_err(poisoned)?;
        let Some(sockets) = visitors.get_mut(&conversation) else {
            return Ok(false);
        };
        let left = sockets.remove(&socket) && sockets.is_empty();
        if sockets.is_empty() {
            visitors.remove(&conversation);
        }
        Ok(left)
    }

    async fn visitor_online(&self, conversation: ConversationId) -> Result<bool, PresenceError> {
        let visitors = self.inner.visitors.lock().map_err(poisoned)?;
        Ok(visitors.contains_key(&conversation))
    }
}

/// A panic while the visitors map was held; nothing in it can panic, but never panic here.
fn poisoned<T>(_: std::sync::PoisonError<T>) -> PresenceError {
    PresenceError::Unavailable("visitor presence lock poisoned".into())
}
