//! Notifications: a frame on one agent's topic (`agent.{id}`) for something that needs their
//! attention: a comment that mentions them, or the contact writing in a conversation assigned
//! to them. Every socket of the agent, on any node, gets it; the app decides how to show it.
//!
//! Must not: store anything. A notification missed while offline is not replayed; the
//! timeline, and the conversation lists it feeds, hold the same facts.

use crate::actors::protocol::{NotificationReason, ServerFrame};
use crate::bus::{Bus, topics};
use crate::domain::{Actor, AgentId, TimelineItem};

/// Sends `item` to `agent` as a notification; a failure is logged, not returned.
pub(crate) async fn notify(
    bus: &dyn Bus,
    agent: AgentId,
    reason: NotificationReason,
    item: &TimelineItem,
) {
    let frame = ServerFrame::Notification {
        reason,
        conversation_id: item.conversation_id,
        item: item.clone(),
    }
    .encode();
    if let Err(e) = bus.publish(&topics::agent(agent), frame.into_bytes()).await {
        tracing::warn!(error = %e, %agent, seq = item.seq, "could not publish a notification");
    }
}

/// Notifies every agent a newly stored comment mentions, but not its author.
pub(crate) async fn notify_mentions(bus: &dyn Bus, item: &TimelineItem) {
    for agent in &item.mentions {
        if item.author != Actor::Agent(*agent) {
            notify(bus, *agent, NotificationReason::Mention, item).await;
        }
    }
}
