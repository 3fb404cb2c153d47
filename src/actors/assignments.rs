//! Assignments on a node: the node's routing, and the fan-out every assignment gets,
//! whether routing or a person made it: the `assigned` event item on `conv.{id}` and an
//! `assigned` frame on `agent.{id}` of the new assignee (and of the one it was taken from).
//! Also decides when a queue must drain: when an agent can take work (came online, became
//! available) and when an agent's load drops (a conversation closed or handed away).
//!
//! Must not: decide who gets a conversation (that is `routing`), or wait for a drain: drains
//! run in the background, so a request that frees capacity answers at once.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::actors::protocol::ServerFrame;
use crate::bus::{Bus, topics};
use crate::domain::{
    AccountId, AgentId, Conversation, ConversationId, ConversationStatus, InboxId, TimelineItem,
};
use crate::presence::Presence;
use crate::routing::actor::{Routed, Router, RoutingError};
use crate::store::DynStore;

/// Shared by every worker of a node (clones share the router).
#[derive(Clone)]
pub struct Assignments {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    bus: Arc<dyn Bus>,
    router: Router,
    /// Routing requests that may run at once on this node; the others wait their turn. Each
    /// runs in its caller's task. (Routing used to go through one actor's bounded mailbox; in
    /// a burst of 2,000 new conversations that mailbox sometimes stopped delivering for good,
    /// with every thread idle: docs/performance.md "Load tests".)
    permits: Semaphore,
}

/// Routing requests one node runs at once.
pub const ROUTING_CONCURRENCY: usize = 64;

impl Assignments {
    pub fn new(store: DynStore, bus: Arc<dyn Bus>, presence: Arc<dyn Presence>) -> Self {
        Self {
            inner: Arc::new(Inner {
                router: Router::new(store.clone(), presence),
                store,
                bus,
                permits: Semaphore::new(ROUTING_CONCURRENCY),
            }),
        }
    }

    /// Runs one routing request once a permit is free.
    async fn with_permit<T>(
        &self,
        work: impl Future<Output = Result<T, RoutingError>>,
    ) -> Option<Result<T, RoutingError>> {
        // The semaphore is never closed.
        let _permit = self.inner.permits.acquire().await.ok()?;
        Some(work.await)
    }

    /// Routes a new (or newly unassigned) conversation and announces the assignment, if any.
    /// A failure leaves it in its queue, to be assigned when the queue next drains.
    pub async fn route(&self, account: AccountId, conversation_id: ConversationId) {
        let router = &self.inner.router;
        match self
            .with_permit(router.route(account, conversation_id))
            .await
        {
            Some(Ok(routed)) => self.announce_routed(routed).await,
            Some(Err(e)) => {
                tracing::warn!(error = %e, conversation = %conversation_id, "routing failed")
            }
            None => {}
        }
    }

    /// Assigns the inbox's waiting conversations, oldest first, in the background.
    pub fn drain(&self, account: AccountId, inbox_id: InboxId) {
        let this = self.clone();
        actix::spawn(async move {
            let router = &this.inner.router;
            match this.with_permit(router.drain(account, inbox_id)).await {
                Some(Ok(routed)) => {
                    for r in routed {
                        this.announce_routed(r).await;
                    }
                }
                Some(Err(e)) => tracing::warn!(error = %e, inbox = %inbox_id, "queue drain failed"),
                None => {}
            }
        });
    }

    /// The agent can take work now (came online, or became available): drains the queues of
    /// every inbox they belong to that routes, in the background.
    pub fn agent_can_take_work(&self, account: AccountId, agent: AgentId) {
        let this = self.clone();
        actix::spawn(async move {
            let inboxes = match this.inner.store.list_inboxes(account, Some(agent)).await {
                Ok(inboxes) => inboxes,
                Err(e) => return tracing::warn!(error = %e, %agent, "could not list inboxes"),
            };
            // Every inbox, even one that does not route: conversations handed to a team wait
            // in its queue and route within the team.
            for inbox in inboxes {
                this.drain(account, inbox.id);
            }
        });
    }

    /// After a person changed a conversation (`before` → `after`, `item` the event recorded):
    /// publishes the event, announces a new assignee, drains the queue when the previous
    /// assignee's load dropped, and routes a conversation left open without an assignee.
    pub async fn changed(
        &self,
        before: &Conversation,
        after: &Conversation,
        item: Option<&TimelineItem>,
    ) {
        let Some(item) = item else {
            return;
        };
        publish_item(self.inner.bus.as_ref(), item).await;
        announce(self.inner.bus.as_ref(), after).await;
        if after.assignee_id != before.assignee_id {
            self.tell_assignees(after, before.assignee_id).await;
        }
        let was_load = before.assignee_id.is_some() && before.status != ConversationStatus::Closed;
        let is_load_of_same =
            after.assignee_id == before.assignee_id && after.status != ConversationStatus::Closed;
        if was_load && !is_load_of_same {
            self.drain(after.account_id, after.inbox_id);
        }
        let reopened_or_released = after.assignee_id.is_none()
            && after.status != ConversationStatus::Closed
            && (before.assignee_id.is_some() || before.status == ConversationStatus::Closed);
        if reopened_or_released {
            self.route(after.account_id, after.id).await;
        }
    }

    async fn announce_routed(&self, routed: Routed) {
        if let Routed::Assigned(assignment) = routed {
            publish_item(self.inner.bus.as_ref(), &assignment.item).await;
            announce(self.inner.bus.as_ref(), &assignment.conversation).await;
            self.tell_assignees(&assignment.conversation, None).await;
        }
    }

    /// The `assigned` frame on the new assignee's topic and, when it was taken from someone,
    /// on theirs too (their app sees it is no longer theirs).
    async fn tell_assignees(&self, conversation: &Conversation, previous: Option<AgentId>) {
        let frame = ServerFrame::Assigned {
            conversation: conversation.clone(),
        }
        .encode()
        .into_bytes();
        let agents = conversation.assignee_id.into_iter().chain(previous);
        for agent in agents {
            if let Err(e) = self
                .inner
                .bus
                .publish(&topics::agent(agent), frame.clone())
                .await
            {
                tracing::warn!(error = %e, conversation = %conversation.id, %agent,
                    "could not publish an assignment");
            }
        }
    }
}

/// Publishes a stored item on its conversation's topic. A failure is logged, not returned:
/// stored is what counts, and listeners catch up from the store when they resume.
pub(crate) async fn publish_item(bus: &dyn Bus, item: &TimelineItem) {
    let conversation = item.conversation_id;
    let frame = ServerFrame::Item { item: item.clone() }.encode();
    if let Err(e) = bus
        .publish(&topics::conversation(conversation), frame.into_bytes())
        .await
    {
        tracing::warn!(error = %e, %conversation, seq = item.seq, "could not publish an item");
    }
}

/// Tells the agents who see the conversation's inbox that it started or changed (the
/// `conversation` frame on `inbox.{id}`). A failure is logged: lists also reload on their own.
pub(crate) async fn announce(bus: &dyn Bus, conversation: &Conversation) {
    let frame = ServerFrame::Conversation {
        conversation: conversation.clone(),
    }
    .encode();
    if let Err(e) = bus
        .publish(&topics::inbox(conversation.inbox_id), frame.into_bytes())
        .await
    {
        tracing::warn!(error = %e, conversation = %conversation.id, "could not announce a conversation");
    }
}
