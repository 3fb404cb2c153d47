//! The router, one per node: gathers what [`decide`](super::decide) needs (inbox, team,
//! contact owner, presence, loads), then claims the conversation in the store down the
//! try-list. Nodes do not coordinate: the store's claim is atomic, so two routers racing for
//! one conversation or one agent's last free slot cannot both win.
//!
//! Must not: publish frames or notifications (the caller fans the returned assignment out in
//! the protocol's shape), or hold routing state between messages (the store is the truth).

use std::collections::HashSet;
use std::sync::Arc;

use super::{Candidate, Decision, decide};
use crate::domain::{
    AccountId, Actor as Author, AgentId, ChannelKind, Conversation, ConversationId,
    ConversationStatus, InboxId, RoutingSettings, RoutingTarget, TeamId, TimelineItem,
};
use crate::meters::{self, RoutingOutcome};
use crate::presence::{Presence, PresenceError};
use crate::store::{DynStore, StoreError};

/// Most waiting conversations one drain assigns, so one inbox's backlog cannot hold a
/// node's routing for long; the next agent event drains the rest.
pub const DRAIN_BATCH: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Presence(#[from] PresenceError),
}

/// What became of one conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Routed {
    /// Claimed for an agent (boxed: it is far larger than the other outcomes).
    Assigned(Box<Assignment>),
    /// Nobody can take it now; it stays in the inbox's queue.
    Queued,
    /// The inbox (and the conversation's team, if any) does not route.
    NotRouted,
    /// Already assigned or closed, possibly by someone else while routing.
    Skipped,
}

/// A conversation claimed by routing.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// As stored after the claim; `assignee_id` is the agent.
    pub conversation: Conversation,
    /// The `assigned` event now on the timeline, for fan-out.
    pub item: TimelineItem,
}

/// The routing work of a node: runs in the caller's task (`actors::Assignments` bounds how
/// many run at once).
#[derive(Clone)]
pub struct Router {
    store: DynStore,
    presence: Arc<dyn Presence>,
}

impl Router {
    pub fn new(store: DynStore, presence: Arc<dyn Presence>) -> Self {
        Self { store, presence }
    }

    /// The members an email channel routes its mail to (`route_to` in its settings), when it
    /// names any: they replace the inbox's target; strategy and capacity stay the inbox's.
    async fn email_route_to(
        &self,
        account: AccountId,
        conversation: &Conversation,
    ) -> Result<Option<Vec<AgentId>>, RoutingError> {
        let channel = match self
            .store
            .get_channel(account, conversation.channel_id)
            .await
        {
            Ok(channel) => channel,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if channel.kind != ChannelKind::Email {
            return Ok(None);
        }
        let agents: Vec<AgentId> = channel
            .settings
            .get("route_to")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        Ok((!agents.is_empty()).then_some(agents))
    }

    /// Routes one conversation, counting the outcome for `/metrics`.
    pub async fn route(
        &self,
        account: AccountId,
        conversation_id: ConversationId,
    ) -> Result<Routed, RoutingError> {
        let routed = self.route_uncounted(account, conversation_id).await;
        meters::routed(match &routed {
            Ok(Routed::Assigned(_)) => RoutingOutcome::Assigned,
            Ok(Routed::Queued) => RoutingOutcome::Queued,
            Ok(Routed::NotRouted) => RoutingOutcome::NotRouted,
            Ok(Routed::Skipped) => RoutingOutcome::Skipped,
            Err(_) => RoutingOutcome::Failed,
        });
        routed
    }

    async fn route_uncounted(
        &self,
        account: AccountId,
        conversation_id: ConversationId,
    ) -> Result<Routed, RoutingError> {
        let conversation = self
            .store
            .get_conversation(account, conversation_id)
            .await?;
        if !routable(&conversation) {
            return Ok(Routed::Skipped);
        }
        let inbox = self.store.get_inbox(account, conversation.inbox_id).await?;
        let mut settings = effective_settings(inbox.routing, &conversation);
        if conversation.team_id.is_none()
            && let Some(agent_ids) = self.email_route_to(account, &conversation).await?
        {
            settings.target = RoutingTarget::Agents { agent_ids };
        }

        let team_members = match &settings.target {
            RoutingTarget::Unassigned => return Ok(Routed::NotRouted),
            RoutingTarget::Agents { .. } => None,
            RoutingTarget::Team { team_id } => match self.store.get_team(account, *team_id).await {
                Ok(team) => Some(team.member_ids),
                // A deleted team leaves nobody to route to; `decide` queues.
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            },
        };
        let contact_owner = if settings.sticky_to_owner {
            match self
                .store
                .get_contact(account, conversation.contact_id)
                .await
            {
                Ok(contact) => contact.owner_id,
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            }
        } else {
            None
        };
        let candidates = self.candidates(account, &inbox.member_ids).await?;

        let order = match decide(
            &settings,
            &inbox.member_ids,
            team_members.as_deref(),
            contact_owner,
            &candidates,
        ) {
            Decision::Unassigned => return Ok(Routed::NotRouted),
            Decision::Queue => return Ok(Routed::Queued),
            Decision::Try(order) => order,
        };
        for agent in order {
            match self
                .store
                .claim_conversation(
                    account,
                    conversation_id,
                    agent,
                    settings.capacity,
                    Author::System,
                )
                .await
            {
                Ok(Some((conversation, item))) => {
                    return Ok(Routed::Assigned(Box::new(Assignment {
                        conversation,
                        item,
                    })));
                }
                // Refused: the agent filled up meanwhile, or the conversation was taken.
                Ok(None) => {}
                // The agent was deleted since presence saw them.
                Err(StoreError::Invalid {
                    field: "agent_id", ..
                }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // Every claim was refused: tell "taken by someone else" from "everyone filled up".
        let now = self
            .store
            .get_conversation(account, conversation_id)
            .await?;
        Ok(if routable(&now) {
            Routed::Queued
        } else {
            Routed::Skipped
        })
    }

    /// Routes the inbox's waiting conversations oldest first. Once one queues, the others with
    /// the same target (the inbox's, or the same team) are left waiting without asking again:
    /// nobody is eligible for that target now, and a sticky owner only reorders eligible
    /// agents, never makes one eligible.
    pub async fn drain(
        &self,
        account: AccountId,
        inbox: InboxId,
    ) -> Result<Vec<Routed>, RoutingError> {
        let waiting = self
            .store
            .waiting_conversations(account, inbox, DRAIN_BATCH)
            .await?;
        let mut blocked: HashSet<Option<TeamId>> = HashSet::new();
        let mut out = Vec::new();
        for conversation in waiting {
            if blocked.contains(&conversation.team_id) {
                continue;
            }
            let routed = self.route(account, conversation.id).await?;
            if matches!(routed, Routed::Queued | Routed::NotRouted) {
                blocked.insert(conversation.team_id);
            }
            out.push(routed);
        }
        Ok(out)
    }

    /// Online inbox members with their loads. Agents presence knows but the store does not
    /// (deleted, or of another account) are left out by `agent_loads`.
    async fn candidates(
        &self,
        account: AccountId,
        inbox_members: &[AgentId],
    ) -> Result<Vec<Candidate>, RoutingError> {
        let online: Vec<_> = self
            .presence
            .online(account)
            .await?
            .into_iter()
            .filter(|p| inbox_members.contains(&p.agent_id))
            .collect();
        if online.is_empty() {
            return Ok(Vec::new());
        }
        let loads = self
            .store
            .agent_loads(account, online.iter().map(|p| p.agent_id).collect())
            .await?;
        Ok(online
            .into_iter()
            .filter_map(|p| {
                let load = loads.iter().find(|l| l.agent_id == p.agent_id)?;
                Some(Candidate {
                    agent_id: p.agent_id,
                    status: p.status,
                    online: p.online,
                    open: load.open,
                    last_assigned_at: load.last_assigned_at,
                })
            })
            .collect())
    }
}

fn routable(conversation: &Conversation) -> bool {
    conversation.assignee_id.is_none() && conversation.status != ConversationStatus::Closed
}

/// A conversation someone handed to a team waits in that team's queue, whatever the inbox's
/// own target; strategy, capacity and stickiness stay the inbox's.
fn effective_settings(inbox: RoutingSettings, conversation: &Conversation) -> RoutingSettings {
    match conversation.team_id {
        Some(team_id) => RoutingSettings {
            target: RoutingTarget::Team { team_id },
            ..inbox
        },
        None => inbox,
    }
}
