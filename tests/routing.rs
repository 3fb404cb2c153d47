//! Routing against a real store: who gets a conversation (turns, load, sticky owner, team),
//! when it waits in the queue and how the queue drains, and that routers racing on several
//! "nodes" over one database never assign past capacity or twice.
//!
//! Presence is a fixed list the test sets: the router only reads `online`, and presence has its
//! own tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use parley::domain::*;
use parley::presence::{AgentPresence, Presence, PresenceError};
use parley::routing::actor::{Routed, Router};
use parley::store::DynStore;
use serde_json::{Map, json};
use uuid::Uuid;

use common::*;

/// Presence as the test sets it.
#[derive(Default)]
struct SetPresence(Mutex<Vec<AgentPresence>>);

impl SetPresence {
    fn set(&self, agents: &[(AgentId, AgentStatus)]) {
        *self.0.lock().unwrap() = agents
            .iter()
            .map(|(agent_id, status)| AgentPresence {
                agent_id: *agent_id,
                status: *status,
                online: true,
            })
            .collect();
    }
}

#[async_trait]
impl Presence for SetPresence {
    async fn heartbeat(
        &self,
        _: AccountId,
        _: AgentId,
        _: Uuid,
        _: AgentStatus,
    ) -> Result<(), PresenceError> {
        Ok(())
    }
    async fn disconnected(&self, _: AccountId, _: AgentId, _: Uuid) -> Result<(), PresenceError> {
        Ok(())
    }
    async fn set_status(
        &self,
        _: AccountId,
        _: AgentId,
        _: AgentStatus,
    ) -> Result<(), PresenceError> {
        Ok(())
    }
    async fn online(&self, _: AccountId) -> Result<Vec<AgentPresence>, PresenceError> {
        Ok(self.0.lock().unwrap().clone())
    }
    async fn visitor_heartbeat(&self, _: ConversationId, _: Uuid) -> Result<bool, PresenceError> {
        Ok(false)
    }
    async fn visitor_disconnected(
        &self,
        _: ConversationId,
        _: Uuid,
    ) -> Result<bool, PresenceError> {
        Ok(false)
    }
    async fn visitor_online(&self, _: ConversationId) -> Result<bool, PresenceError> {
        Ok(false)
    }
}

const AVAILABLE: AgentStatus = AgentStatus::Available;

/// An account with agents alice, bob, carol (created in that order, so their ids sort that
/// way), an inbox they all belong to, a team of bob alone, and a chat channel.
struct Desk {
    store: DynStore,
    presence: Arc<SetPresence>,
    router: Router,
    account: AccountId,
    alice: AgentId,
    bob: AgentId,
    carol: AgentId,
    team: TeamId,
    inbox: InboxId,
    channel: ChannelId,
    _db: TestDb,
}

impl Desk {
    async fn new(
        backend: Backend,
        routing: impl FnOnce(&[AgentId], TeamId) -> RoutingSettings,
    ) -> Self {
        let (store, db) = fresh_store(backend).await;
        let account = store
            .create_account(Name::parse("Acme").unwrap())
            .await
            .unwrap()
            .id;
        let mut agents = Vec::new();
        for who in ["alice", "bob", "carol"] {
            let agent = store
                .create_agent(
                    account,
                    NewAgent {
                        email: EmailAddress::parse(&format!("{who}@acme.test")).unwrap(),
                        role: AgentRole::Agent,
                        profile: AgentProfile {
                            display_name: Name::parse(who).unwrap(),
                            avatar_url: None,
                            meeting_link: None,
                        },
                        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt$h-{who}"),
                    },
                )
                .await
                .unwrap();
            agents.push(agent.id);
        }
        let team = store
            .create_team(account, Name::parse("Support").unwrap(), vec![agents[1]])
            .await
            .unwrap()
            .id;
        let inbox = store
            .create_inbox(
                account,
                NewInbox {
                    name: Name::parse("Help").unwrap(),
                    routing: routing(&agents, team),
                    notification_defaults: NotificationPrefs::default(),
                    email_filters: EmailFilters::default(),
                    member_ids: agents.clone(),
                },
            )
            .await
            .unwrap()
            .id;
        let channel = store
            .create_channel(
                account,
                NewChannel {
                    inbox_id: inbox,
                    kind: ChannelKind::Chat,
                    name: Name::parse("Chat").unwrap(),
                    settings: Map::new(),
                },
            )
            .await
            .unwrap()
            .id;
        let presence = Arc::new(SetPresence::default());
        let router = Router::new(store.clone(), presence.clone());
        Self {
            store,
            presence,
            router,
            account,
            alice: agents[0],
            bob: agents[1],
            carol: agents[2],
            team,
            inbox,
            channel,
            _db: db,
        }
    }

    async fn contact(&self, owner: Option<AgentId>) -> ContactId {
        self.store
            .create_contact(
                self.account,
                NewContact {
                    email: None,
                    name: None,
                    phone: None,
                    properties: Map::new(),
                    owner_id: owner,
                },
            )
            .await
            .unwrap()
            .id
    }

    async fn conversation_of(&self, contact: ContactId) -> ConversationId {
        self.store
            .create_conversation(
                self.account,
                NewConversation {
                    channel_id: self.channel,
                    contact_id: contact,
                    subject: None,
                },
                Actor::System,
            )
            .await
            .unwrap()
            .id
    }

    async fn conversation(&self) -> ConversationId {
        let contact = self.contact(None).await;
        self.conversation_of(contact).await
    }

    /// Routes a conversation and returns who got it (`None` when it was not assigned).
    async fn route(&self, conversation: ConversationId) -> Option<AgentId> {
        assignee(self.router.route(self.account, conversation).await.unwrap())
    }

    async fn assignee_of(&self, conversation: ConversationId) -> Option<AgentId> {
        self.store
            .get_conversation(self.account, conversation)
            .await
            .unwrap()
            .assignee_id
    }

    async fn open_of(&self, agent: AgentId) -> u32 {
        self.store
            .agent_loads(self.account, vec![agent])
            .await
            .unwrap()[0]
            .open
    }
}

fn assignee(routed: Routed) -> Option<AgentId> {
    match routed {
        Routed::Assigned(a) => a.conversation.assignee_id,
        _ => None,
    }
}

fn agents_target(
    agents: &[AgentId],
    strategy: RoutingStrategy,
    capacity: Option<u32>,
) -> RoutingSettings {
    RoutingSettings {
        target: RoutingTarget::Agents {
            agent_ids: agents.to_vec(),
        },
        strategy,
        capacity,
        sticky_to_owner: true,
    }
}

async fn round_robin_takes_turns_among_available_online_agents(backend: Backend) {
    let desk = Desk::new(backend, |a, _| {
        agents_target(a, RoutingStrategy::RoundRobin, None)
    })
    .await;
    // carol is online but away; nobody else is online.
    desk.presence.set(&[
        (desk.alice, AVAILABLE),
        (desk.bob, AVAILABLE),
        (desk.carol, AgentStatus::Away),
    ]);
    let mut got = Vec::new();
    for _ in 0..4 {
        let conversation = desk.conversation().await;
        got.push(desk.route(conversation).await);
        assert_eq!(
            desk.assignee_of(conversation).await,
            *got.last().unwrap(),
            "stored"
        );
    }
    let (a, b) = (Some(desk.alice), Some(desk.bob));
    assert_eq!(
        got,
        vec![a, b, a, b],
        "alice, bob, alice, bob; carol is away"
    );
}

async fn an_assignment_is_an_event_on_the_timeline(backend: Backend) {
    let desk = Desk::new(backend, |a, _| {
        agents_target(a, RoutingStrategy::RoundRobin, None)
    })
    .await;
    desk.presence.set(&[(desk.alice, AVAILABLE)]);
    let conversation = desk.conversation().await;
    let Routed::Assigned(assignment) = desk.router.route(desk.account, conversation).await.unwrap()
    else {
        panic!("alice is available and online");
    };
    let items = desk
        .store
        .list_items(desk.account, conversation, 0, 100)
        .await
        .unwrap();
    assert_eq!(items.last(), Some(&assignment.item));
    assert_eq!(assignment.item.author, Actor::System);
    assert_eq!(
        assignment.item.data.as_ref().unwrap()["assignee_id"],
        json!(desk.alice)
    );
}

async fn least_busy_goes_to_the_agent_with_fewest_open_conversations(backend: Backend) {
    let desk = Desk::new(backend, |a, _| {
        agents_target(a, RoutingStrategy::LeastBusy, None)
    })
    .await;
    // alice holds two conversations, bob one.
    desk.presence.set(&[(desk.alice, AVAILABLE)]);
    for _ in 0..2 {
        let c = desk.conversation().await;
        assert_eq!(desk.route(c).await, Some(desk.alice));
    }
    desk.presence.set(&[(desk.bob, AVAILABLE)]);
    let c = desk.conversation().await;
    assert_eq!(desk.route(c).await, Some(desk.bob));

    desk.presence
        .set(&[(desk.alice, AVAILABLE), (desk.bob, AVAILABLE)]);
    let c = desk.conversation().await;
    assert_eq!(
        desk.route(c).await,
        Some(desk.bob),
        "bob has 1 open, alice 2"
    );
    let c = desk.conversation().await;
    assert_eq!(
        desk.route(c).await,
        Some(desk.alice),
        "2 each: alice was assigned less recently"
    );
}

async fn a_returning_contact_goes_to_their_owner_while_the_owner_is_online(backend: Backend) {
    let desk = Desk::new(backend, |a, _| {
        agents_target(a, RoutingStrategy::RoundRobin, None)
    })
    .await;
    let owned = desk.contact(Some(desk.bob)).await;
    desk.presence
        .set(&[(desk.alice, AVAILABLE), (desk.bob, AVAILABLE)]);
    let first = desk.conversation_of(owned).await;
    assert_eq!(
        desk.route(first).await,
        Some(desk.bob),
        "owner first, not alice by id"
    );
    let second = desk.conversation_of(owned).await;
    assert_eq!(
        desk.route(second).await,
        Some(desk.bob),
        "again, though it is alice's turn"
    );

    desk.presence.set(&[(desk.alice, AVAILABLE)]);
    let third = desk.conversation_of(owned).await;
    assert_eq!(desk.route(third).await, Some(desk.alice), "owner offline");
}

async fn a_team_target_routes_only_to_team_members(backend: Backend) {
    let desk = Desk::new(backend, |_, team| RoutingSettings {
        target: RoutingTarget::Team { team_id: team },
        ..RoutingSettings::default()
    })
    .await;
    desk.presence
        .set(&[(desk.alice, AVAILABLE), (desk.bob, AVAILABLE)]);
    for _ in 0..2 {
        let c = desk.conversation().await;
        assert_eq!(
            desk.route(c).await,
            Some(desk.bob),
            "alice is not in the team"
        );
    }
    desk.presence.set(&[(desk.alice, AVAILABLE)]);
    let c = desk.conversation().await;
    assert_eq!(
        desk.router.route(desk.account, c).await.unwrap(),
        Routed::Queued
    );
    assert_eq!(desk.assignee_of(c).await, None);
}

async fn a_conversation_handed_to_a_team_is_routed_within_that_team(backend: Backend) {
    // The inbox routes to alice; someone hands the conversation to bob's team.
    let desk = Desk::new(backend, |a, _| {
        agents_target(&a[..1], RoutingStrategy::RoundRobin, None)
    })
    .await;
    desk.presence
        .set(&[(desk.alice, AVAILABLE), (desk.bob, AVAILABLE)]);
    let c = desk.conversation().await;
    desk.store
        .change_conversation(
            desk.account,
            c,
            ConversationChange::Assign {
                assignee_id: None,
                team_id: Some(desk.team),
            },
            Actor::Agent(desk.alice),
        )
        .await
        .unwrap();
    assert_eq!(desk.route(c).await, Some(desk.bob));
}

async fn an_unassigned_inbox_leaves_conversations_for_agents_to_pick(backend: Backend) {
    let desk = Desk::new(backend, |_, _| RoutingSettings::default()).await;
    desk.presence.set(&[(desk.alice, AVAILABLE)]);
    let c = desk.conversation().await;
    assert_eq!(
        desk.router.route(desk.account, c).await.unwrap(),
        Routed::NotRouted
    );
    assert_eq!(desk.assignee_of(c).await, None);
}

async fn an_email_channel_routes_its_mail_to_the_members_it_names(backend: Backend) {
    // The inbox leaves conversations for agents to pick; its email channel names carol.
    let desk = Desk::new(backend, |_, _| RoutingSettings::default()).await;
    desk.presence.set(&[
        (desk.alice, AVAILABLE),
        (desk.bob, AVAILABLE),
        (desk.carol, AVAILABLE),
    ]);
    let mut settings = Map::new();
    settings.insert("route_to".to_owned(), json!([desk.carol]));
    let email = desk
        .store
        .create_channel(
            desk.account,
            NewChannel {
                inbox_id: desk.inbox,
                kind: ChannelKind::Email,
                name: Name::parse("Support mail").unwrap(),
                settings,
            },
        )
        .await
        .unwrap();
    for _ in 0..2 {
        let contact = desk.contact(None).await;
        let c = desk
            .store
            .create_conversation(
                desk.account,
                NewConversation {
                    channel_id: email.id,
                    contact_id: contact,
                    subject: Some("Refund".to_owned()),
                },
                Actor::System,
            )
            .await
            .unwrap()
            .id;
        assert_eq!(desk.route(c).await, Some(desk.carol), "mail goes to carol");
    }
    // The chat channel of the same inbox still follows the inbox (nobody is assigned).
    let chat = desk.conversation().await;
    assert_eq!(
        desk.router.route(desk.account, chat).await.unwrap(),
        Routed::NotRouted
    );
}

async fn an_assigned_or_closed_conversation_is_left_alone(backend: Backend) {
    let desk = Desk::new(backend, |a, _| {
        agents_target(a, RoutingStrategy::RoundRobin, None)
    })
    .await;
    desk.presence
        .set(&[(desk.alice, AVAILABLE), (desk.bob, AVAILABLE)]);
    let taken = desk.conversation().await;
    assert_eq!(desk.route(taken).await, Some(desk.alice));
    assert_eq!(
        desk.router.route(desk.account, taken).await.unwrap(),
        Routed::Skipped
    );
    assert_eq!(
        desk.assignee_of(taken).await,
        Some(desk.alice),
        "not moved to bob"
    );

    let closed = desk.conversation().await;
    desk.store
        .change_conversation(
            desk.account,
            closed,
            ConversationChange::Status(ConversationStatus::Closed),
            Actor::System,
        )
        .await
        .unwrap();
    assert_eq!(
        desk.router.route(desk.account, closed).await.unwrap(),
        Routed::Skipped
    );
    assert_eq!(desk.assignee_of(closed).await, None);
}

async fn the_queue_drains_oldest_first_when_capacity_frees_or_an_agent_comes_online(
    backend: Backend,
) {
    let desk = Desk::new(backend, |a, _| {
        agents_target(a, RoutingStrategy::RoundRobin, Some(1))
    })
    .await;
    desk.presence.set(&[(desk.alice, AVAILABLE)]);
    let first = desk.conversation().await;
    assert_eq!(desk.route(first).await, Some(desk.alice));
    let second = desk.conversation().await;
    let third = desk.conversation().await;
    for c in [second, third] {
        assert_eq!(
            desk.router.route(desk.account, c).await.unwrap(),
            Routed::Queued,
            "alice is at capacity"
        );
    }

    desk.presence
        .set(&[(desk.alice, AVAILABLE), (desk.bob, AVAILABLE)]);
    let drained = desk.router.drain(desk.account, desk.inbox).await.unwrap();
    let got: Vec<_> = drained.into_iter().map(assignee).collect();
    assert_eq!(
        got,
        vec![Some(desk.bob), None],
        "bob takes the oldest; the third waits"
    );
    assert_eq!(desk.assignee_of(second).await, Some(desk.bob));
    assert_eq!(desk.assignee_of(third).await, None);

    desk.store
        .change_conversation(
            desk.account,
            first,
            ConversationChange::Status(ConversationStatus::Closed),
            Actor::Agent(desk.alice),
        )
        .await
        .unwrap();
    desk.router.drain(desk.account, desk.inbox).await.unwrap();
    assert_eq!(
        desk.assignee_of(third).await,
        Some(desk.alice),
        "alice has room again"
    );
}

async fn routers_racing_on_three_nodes_never_pass_capacity_or_assign_twice(backend: Backend) {
    const CAPACITY: u32 = 4;
    let desk = Desk::new(backend, |a, _| {
        agents_target(a, RoutingStrategy::LeastBusy, Some(CAPACITY))
    })
    .await;
    desk.presence.set(&[
        (desk.alice, AVAILABLE),
        (desk.bob, AVAILABLE),
        (desk.carol, AVAILABLE),
    ]);
    let nodes: Vec<Router> = (0..3)
        .map(|_| Router::new(desk.store.clone(), desk.presence.clone()))
        .collect();
    let mut conversations = Vec::new();
    for _ in 0..30 {
        conversations.push(desk.conversation().await);
    }
    // Every conversation is routed by all three nodes at once.
    let mut tasks = Vec::new();
    for c in &conversations {
        for node in &nodes {
            let (node, account, c) = (node.clone(), desk.account, *c);
            tasks.push(tokio::spawn(async move { node.route(account, c).await }));
        }
    }
    let mut assigned = 0;
    for task in tasks {
        if let Routed::Assigned(_) = task.await.unwrap().unwrap() {
            assigned += 1;
        }
    }

    assert_eq!(
        assigned,
        3 * CAPACITY,
        "each conversation claimed once; everyone filled"
    );
    for agent in [desk.alice, desk.bob, desk.carol] {
        assert_eq!(
            desk.open_of(agent).await,
            CAPACITY,
            "no agent past capacity"
        );
    }
    let mut per_agent: HashMap<AgentId, u32> = HashMap::new();
    for c in &conversations {
        let items = desk
            .store
            .list_items(desk.account, *c, 0, 100)
            .await
            .unwrap();
        let assigned_items = items
            .iter()
            .filter(|i| i.data.as_ref().and_then(|d| d.get("type")) == Some(&json!("assigned")))
            .count();
        assert!(
            assigned_items <= 1,
            "conversation {c} assigned {assigned_items} times"
        );
        if let Some(agent) = desk.assignee_of(*c).await {
            *per_agent.entry(agent).or_default() += 1;
        }
    }
    assert_eq!(per_agent.values().sum::<u32>(), 3 * CAPACITY);
}

on_both_backends!(
    round_robin_takes_turns_among_available_online_agents,
    an_assignment_is_an_event_on_the_timeline,
    least_busy_goes_to_the_agent_with_fewest_open_conversations,
    a_returning_contact_goes_to_their_owner_while_the_owner_is_online,
    a_team_target_routes_only_to_team_members,
    a_conversation_handed_to_a_team_is_routed_within_that_team,
    an_unassigned_inbox_leaves_conversations_for_agents_to_pick,
    an_email_channel_routes_its_mail_to_the_members_it_names,
    an_assigned_or_closed_conversation_is_left_alone,
    the_queue_drains_oldest_first_when_capacity_frees_or_an_agent_comes_online,
    routers_racing_on_three_nodes_never_pass_capacity_or_assign_twice,
);

/// One router routes and drains, several requests at once.
async fn the_router_routes_and_drains_concurrently(backend: Backend) {
    let desk = Desk::new(backend, |a, _| {
        agents_target(a, RoutingStrategy::RoundRobin, Some(1))
    })
    .await;
    let router = Router::new(desk.store.clone(), desk.presence.clone());
    desk.presence.set(&[(desk.alice, AVAILABLE)]);
    let first = desk.conversation().await;
    let second = desk.conversation().await;
    let (a, b) = tokio::join!(
        router.route(desk.account, first),
        router.route(desk.account, second)
    );
    let mut outcomes = vec![a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|r| matches!(r, Routed::Queued));
    assert_eq!(assignee(outcomes.remove(0)), Some(desk.alice));
    assert_eq!(outcomes.remove(0), Routed::Queued, "alice's capacity is 1");

    desk.presence
        .set(&[(desk.alice, AVAILABLE), (desk.bob, AVAILABLE)]);
    let drained = router.drain(desk.account, desk.inbox).await.unwrap();
    assert_eq!(
        drained.into_iter().map(assignee).collect::<Vec<_>>(),
        vec![Some(desk.bob)]
    );
}

#[actix::test]
async fn the_router_routes_and_drains_concurrently_on_sqlite() {
    the_router_routes_and_drains_concurrently(Backend::Sqlite).await;
}

#[actix::test]
async fn the_router_routes_and_drains_concurrently_on_postgres() {
    the_router_routes_and_drains_concurrently(Backend::Postgres).await;
}
