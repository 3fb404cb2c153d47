//! What the real-time core asks of the store (docs/store.md "Real-time"): visitors, agents'
//! loads, atomic claims, the routing queue and read marks, each kept inside its account. The
//! key case: many claims racing never put an agent past capacity or a conversation twice.

use std::collections::HashMap;
use std::sync::Arc;

use parley::domain::*;
use parley::store::{DynStore, Store};
use serde_json::json;
use uuid::Uuid;

use crate::common::*;
use crate::fixtures::*;

fn token(label: &str) -> String {
    format!("{label:0>64}")
}

/// `assigned` event items of a conversation's timeline.
async fn assigned_items(
    store: &dyn Store,
    account: AccountId,
    conversation: ConversationId,
) -> Vec<TimelineItem> {
    store
        .list_items(account, conversation, 0, 200)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.data.as_ref().and_then(|d| d.get("type")) == Some(&json!("assigned")))
        .collect()
}

/// Every report event of the account, all pages.
async fn all_events(store: &dyn Store, account: AccountId) -> Vec<Event> {
    let mut out: Vec<Event> = vec![];
    loop {
        let after = out.last().map_or(0, |e| e.id);
        let page = store.list_events(account, after, 200).await.unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

async fn a_visitor_gets_an_anonymous_contact_and_is_found_by_token(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let before = now_micros();
    let visitor = store
        .create_visitor(a, w.chat.id, token("v1"))
        .await
        .unwrap();
    assert_eq!(visitor.account_id, a);
    assert_eq!(visitor.channel_id, w.chat.id);
    assert!(visitor.created_at >= before);

    let contact = store.get_contact(a, visitor.contact_id).await.unwrap();
    assert_eq!(
        (contact.email, contact.name, contact.phone, contact.owner_id),
        (None, None, None, None),
        "the visitor's contact is anonymous"
    );
    assert!(contact.properties.is_empty());

    assert_eq!(
        store.find_visitor(&token("v1")).await.unwrap(),
        Some(visitor.clone())
    );
    assert_eq!(store.find_visitor(&token("nobody")).await.unwrap(), None);

    let second = store
        .create_visitor(a, w.chat.id, token("v2"))
        .await
        .unwrap();
    assert_ne!(
        second.contact_id, visitor.contact_id,
        "each visitor has its own contact"
    );
    assert_conflict(
        store.create_visitor(a, w.chat.id, token("v1")).await,
        "token_hash",
        "a token already held by a visitor",
    );
}

async fn a_visitor_needs_a_chat_channel_of_the_account(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = World::build(&*store, "acme").await;
    let globex = World::build(&*store, "globex").await;
    let a = acme.account.id;
    let contacts = |store: DynStore| async move {
        store
            .search_contacts(a, ContactQuery::default(), all())
            .await
            .unwrap()
            .items
            .len()
    };
    let count = contacts(store.clone()).await;
    assert_invalid(
        store.create_visitor(a, acme.email.id, token("v1")).await,
        "channel_id",
        "an email channel",
    );
    assert_invalid(
        store.create_visitor(a, globex.chat.id, token("v2")).await,
        "channel_id",
        "another account's chat channel",
    );
    assert_invalid(
        store.create_visitor(a, ChannelId::new(), token("v3")).await,
        "channel_id",
        "a missing channel",
    );
    assert_eq!(
        contacts(store.clone()).await,
        count,
        "a refused visitor leaves no contact behind"
    );
    for t in ["v1", "v2", "v3"] {
        assert_eq!(store.find_visitor(&token(t)).await.unwrap(), None);
    }
    // The token proves the account: a visitor of another account is found by its token.
    let theirs = store
        .create_visitor(globex.account.id, globex.chat.id, token("g1"))
        .await
        .unwrap();
    assert_eq!(
        store.find_visitor(&token("g1")).await.unwrap(),
        Some(theirs)
    );
}

async fn the_visitor_conversation_is_the_newest_not_closed_on_its_channel(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let other = World::build(&*store, "globex").await;
    let a = w.account.id;
    let visitor = store
        .create_visitor(a, w.chat.id, token("v1"))
        .await
        .unwrap();
    assert_eq!(
        store
            .open_visitor_conversation(a, visitor.id)
            .await
            .unwrap(),
        None,
        "no conversation yet"
    );
    let older = conversation(&*store, a, w.chat.id, visitor.contact_id).await;
    let newer = conversation(&*store, a, w.chat.id, visitor.contact_id).await;
    // Same contact on another channel, and another contact on the same channel: not theirs.
    conversation(&*store, a, w.email.id, visitor.contact_id).await;
    conversation(&*store, a, w.chat.id, w.contact.id).await;
    assert_eq!(
        store
            .open_visitor_conversation(a, visitor.id)
            .await
            .unwrap(),
        Some(newer.clone())
    );
    let (pending, _) = store
        .change_conversation(
            a,
            newer.id,
            ConversationChange::Status(ConversationStatus::Pending),
            Actor::System,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .open_visitor_conversation(a, visitor.id)
            .await
            .unwrap(),
        Some(pending),
        "pending is not closed"
    );
    store
        .change_conversation(
            a,
            newer.id,
            ConversationChange::Status(ConversationStatus::Closed),
            Actor::System,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .open_visitor_conversation(a, visitor.id)
            .await
            .unwrap(),
        Some(older.clone()),
        "the newest closed one is skipped"
    );
    store
        .change_conversation(
            a,
            older.id,
            ConversationChange::Status(ConversationStatus::Closed),
            Actor::System,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .open_visitor_conversation(a, visitor.id)
            .await
            .unwrap(),
        None
    );
    assert_not_found(
        store
            .open_visitor_conversation(other.account.id, visitor.id)
            .await,
        "another account's visitor",
    );
    assert_not_found(
        store.open_visitor_conversation(a, VisitorId::new()).await,
        "a missing visitor",
    );
}

async fn merging_a_visitor_contact_keeps_the_visitor_on_the_kept_contact(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let visitor = store
        .create_visitor(a, w.chat.id, token("v1"))
        .await
        .unwrap();
    let conv = conversation(&*store, a, w.chat.id, visitor.contact_id).await;
    // The visitor tells us who they are: their anonymous contact merges into the known one.
    store
        .merge_contacts(a, w.contact.id, visitor.contact_id)
        .await
        .unwrap();
    let found = store.find_visitor(&token("v1")).await.unwrap().unwrap();
    assert_eq!(found.contact_id, w.contact.id);
    assert_eq!(found.id, visitor.id);
    let open = store
        .open_visitor_conversation(a, visitor.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(open.id, conv.id);
    assert_eq!(open.contact_id, w.contact.id);
}

async fn agent_loads_count_open_and_pending_and_when_last_assigned(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let other = World::build(&*store, "globex").await;
    let a = w.account.id;
    let bob = agent(&*store, a, "bob@acme.test").await;
    // `w.conversation` is already assigned to `w.agent`, open.
    let mut convs = vec![];
    for _ in 0..4 {
        convs.push(conversation(&*store, a, w.chat.id, w.contact.id).await);
    }
    let before = now_micros();
    for conv in &convs {
        store
            .change_conversation(
                a,
                conv.id,
                ConversationChange::Assign {
                    assignee_id: Some(bob.id),
                    team_id: None,
                },
                Actor::Agent(w.admin.id),
            )
            .await
            .unwrap();
    }
    let after = now_micros();
    for (conv, status) in [
        (convs[1].id, ConversationStatus::Pending),
        (convs[2].id, ConversationStatus::Closed),
    ] {
        store
            .change_conversation(a, conv, ConversationChange::Status(status), Actor::System)
            .await
            .unwrap();
    }
    let loads = store
        .agent_loads(
            a,
            vec![bob.id, w.admin.id, other.agent.id, AgentId::new(), bob.id],
        )
        .await
        .unwrap();
    let mut expected_ids = vec![bob.id, w.admin.id];
    expected_ids.sort();
    assert_eq!(
        loads.iter().map(|l| l.agent_id).collect::<Vec<_>>(),
        expected_ids,
        "by agent id, once each; other accounts' and missing agents left out"
    );
    let load = |id: AgentId| loads.iter().find(|l| l.agent_id == id).unwrap().clone();
    let bob_load = load(bob.id);
    assert_eq!(
        bob_load.open, 3,
        "open + pending + open; closed not counted"
    );
    let at = bob_load.last_assigned_at.expect("bob was assigned");
    assert!(before <= at && at <= after, "{before} <= {at} <= {after}");
    assert_eq!(
        load(w.admin.id),
        AgentLoad {
            agent_id: w.admin.id,
            open: 0,
            last_assigned_at: None
        }
    );
    let mine = store.agent_loads(a, vec![w.agent.id]).await.unwrap();
    assert_eq!(mine[0].open, 1);
    assert!(
        mine[0].last_assigned_at.is_some(),
        "the world's conversation was assigned to them"
    );

    // Unassigning or changing only the team does not make a new assignment.
    store
        .change_conversation(
            a,
            convs[0].id,
            ConversationChange::Assign {
                assignee_id: Some(bob.id),
                team_id: Some(w.team.id),
            },
            Actor::System,
        )
        .await
        .unwrap();
    store
        .change_conversation(
            a,
            convs[3].id,
            ConversationChange::Assign {
                assignee_id: None,
                team_id: None,
            },
            Actor::System,
        )
        .await
        .unwrap();
    let again = store.agent_loads(a, vec![bob.id]).await.unwrap();
    assert_eq!(again[0].open, 2);
    assert_eq!(again[0].last_assigned_at, Some(at));

    assert_eq!(
        store
            .agent_loads(other.account.id, vec![bob.id])
            .await
            .unwrap(),
        vec![],
        "another account sees nothing of bob"
    );
}

async fn a_claim_assigns_like_a_manual_assignment_and_keeps_the_team(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let bob = agent(&*store, a, "bob@acme.test").await;
    let conv = conversation(&*store, a, w.chat.id, w.contact.id).await;
    let (conv, _) = store
        .change_conversation(
            a,
            conv.id,
            ConversationChange::Assign {
                assignee_id: None,
                team_id: Some(w.team.id),
            },
            Actor::System,
        )
        .await
        .unwrap();
    let before = now_micros();
    let (claimed, item) = store
        .claim_conversation(a, conv.id, bob.id, Some(1), Actor::System)
        .await
        .unwrap()
        .expect("an open, unassigned conversation and a free agent");
    assert_eq!(claimed.assignee_id, Some(bob.id));
    assert_eq!(claimed.team_id, Some(w.team.id), "the team is kept");
    assert_eq!(claimed.last_seq, item.seq);
    assert_eq!(store.get_conversation(a, conv.id).await.unwrap(), claimed);
    assert_eq!(item.kind, ItemKind::Event);
    assert_eq!(item.author, Actor::System);
    assert_eq!(
        item.data,
        Some(json!({
            "type": "assigned",
            "assignee_id": bob.id,
            "team_id": w.team.id,
            "previous_assignee_id": null,
            "previous_team_id": w.team.id,
        }))
    );
    assert_eq!(
        store.list_items(a, conv.id, 0, 200).await.unwrap().last(),
        Some(&item)
    );
    let event = all_events(&*store, a).await.pop().unwrap();
    assert_eq!(event.kind, "conversation.assigned");
    assert_eq!(event.conversation_id, Some(conv.id));
    assert_eq!(event.inbox_id, Some(conv.inbox_id));
    assert_eq!(
        event.data,
        json!({
            "assignee_id": bob.id,
            "team_id": w.team.id,
            "previous_assignee_id": null,
            "previous_team_id": w.team.id,
        })
    );
    let load = &store.agent_loads(a, vec![bob.id]).await.unwrap()[0];
    assert_eq!(load.open, 1);
    assert!(load.last_assigned_at.unwrap() >= before);

    // An agent acting for themselves is the event's agent.
    let mine = conversation(&*store, a, w.chat.id, w.contact.id).await;
    store
        .claim_conversation(a, mine.id, w.admin.id, None, Actor::Agent(w.admin.id))
        .await
        .unwrap()
        .unwrap();
    let event = all_events(&*store, a).await.pop().unwrap();
    assert_eq!(event.agent_id, Some(w.admin.id));
}

async fn a_claim_is_refused_when_taken_closed_or_full(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let other = World::build(&*store, "globex").await;
    let a = w.account.id;
    let bob = agent(&*store, a, "bob@acme.test").await;
    let carol = agent(&*store, a, "carol@acme.test").await;
    let first = conversation(&*store, a, w.chat.id, w.contact.id).await;
    let second = conversation(&*store, a, w.chat.id, w.contact.id).await;
    let closed = conversation(&*store, a, w.chat.id, w.contact.id).await;
    store
        .change_conversation(
            a,
            closed.id,
            ConversationChange::Status(ConversationStatus::Closed),
            Actor::System,
        )
        .await
        .unwrap();

    assert!(
        store
            .claim_conversation(a, first.id, bob.id, Some(1), Actor::System)
            .await
            .unwrap()
            .is_some()
    );
    let unchanged = |id| {
        let store = store.clone();
        async move {
            (
                store.get_conversation(a, id).await.unwrap(),
                store.list_items(a, id, 0, 200).await.unwrap(),
            )
        }
    };
    let before = unchanged(first.id).await;
    assert!(
        store
            .claim_conversation(a, first.id, carol.id, None, Actor::System)
            .await
            .unwrap()
            .is_none(),
        "already assigned to bob"
    );
    assert_eq!(
        unchanged(first.id).await,
        before,
        "a refusal writes nothing"
    );
    assert!(
        store
            .claim_conversation(a, first.id, bob.id, None, Actor::System)
            .await
            .unwrap()
            .is_none(),
        "already assigned, even to the same agent"
    );
    let before = unchanged(second.id).await;
    assert!(
        store
            .claim_conversation(a, second.id, bob.id, Some(1), Actor::System)
            .await
            .unwrap()
            .is_none(),
        "bob is at capacity 1"
    );
    assert!(
        store
            .claim_conversation(a, second.id, bob.id, Some(0), Actor::System)
            .await
            .unwrap()
            .is_none(),
        "capacity 0 takes nothing"
    );
    assert_eq!(unchanged(second.id).await, before);
    let before = unchanged(closed.id).await;
    assert!(
        store
            .claim_conversation(a, closed.id, carol.id, None, Actor::System)
            .await
            .unwrap()
            .is_none(),
        "closed"
    );
    assert_eq!(unchanged(closed.id).await, before);
    assert_eq!(
        store.agent_loads(a, vec![carol.id]).await.unwrap()[0].last_assigned_at,
        None
    );
    // Pending counts against capacity; with no limit bob takes it anyway.
    store
        .change_conversation(
            a,
            first.id,
            ConversationChange::Status(ConversationStatus::Pending),
            Actor::System,
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_conversation(a, second.id, bob.id, Some(1), Actor::System)
            .await
            .unwrap()
            .is_none(),
        "pending still counts"
    );
    assert!(
        store
            .claim_conversation(a, second.id, bob.id, None, Actor::System)
            .await
            .unwrap()
            .is_some(),
        "no limit"
    );

    let third = conversation(&*store, a, w.chat.id, w.contact.id).await;
    assert_invalid(
        store
            .claim_conversation(a, third.id, AgentId::new(), None, Actor::System)
            .await,
        "agent_id",
        "a missing agent",
    );
    assert_invalid(
        store
            .claim_conversation(a, third.id, other.agent.id, None, Actor::System)
            .await,
        "agent_id",
        "another account's agent",
    );
    assert_not_found(
        store
            .claim_conversation(
                other.account.id,
                third.id,
                other.agent.id,
                None,
                Actor::System,
            )
            .await,
        "another account's conversation",
    );
    assert_eq!(
        store
            .get_conversation(a, third.id)
            .await
            .unwrap()
            .assignee_id,
        None
    );
}

async fn waiting_conversations_are_open_unassigned_oldest_first(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let other = World::build(&*store, "globex").await;
    let a = w.account.id;
    let sales = inbox(&*store, a, "Sales").await;
    let sales_chat = channel(&*store, a, sales.id, ChannelKind::Chat).await;
    let mut waiting = vec![];
    for _ in 0..4 {
        waiting.push(conversation(&*store, a, w.chat.id, w.contact.id).await);
    }
    // Not waiting: assigned, pending, closed, or in another inbox. A team alone still waits.
    let assigned = conversation(&*store, a, w.email.id, w.contact.id).await;
    store
        .claim_conversation(a, assigned.id, w.agent.id, None, Actor::System)
        .await
        .unwrap()
        .unwrap();
    for status in [ConversationStatus::Pending, ConversationStatus::Closed] {
        let conv = conversation(&*store, a, w.chat.id, w.contact.id).await;
        store
            .change_conversation(
                a,
                conv.id,
                ConversationChange::Status(status),
                Actor::System,
            )
            .await
            .unwrap();
    }
    conversation(&*store, a, sales_chat.id, w.contact.id).await;
    let (teamed, _) = store
        .change_conversation(
            a,
            waiting[2].id,
            ConversationChange::Assign {
                assignee_id: None,
                team_id: Some(w.team.id),
            },
            Actor::System,
        )
        .await
        .unwrap();
    waiting[2] = teamed;

    assert_eq!(
        store
            .waiting_conversations(a, w.inbox.id, 50)
            .await
            .unwrap(),
        waiting,
        "oldest first"
    );
    assert_eq!(
        store.waiting_conversations(a, w.inbox.id, 2).await.unwrap(),
        waiting[..2].to_vec()
    );
    assert_eq!(
        store.waiting_conversations(a, w.inbox.id, 0).await.unwrap(),
        waiting[..1].to_vec(),
        "a limit of 0 is 1"
    );
    assert_eq!(
        store
            .waiting_conversations(other.account.id, w.inbox.id, 50)
            .await
            .unwrap(),
        vec![],
        "another account's inbox shows nothing"
    );
}

async fn read_marks_only_go_up_and_stop_at_the_last_seq(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let other = World::build(&*store, "globex").await;
    let a = w.account.id;
    let conv = conversation(&*store, a, w.chat.id, w.contact.id).await;
    for i in 0..5 {
        store
            .append_item(
                a,
                conv.id,
                message(
                    Direction::In,
                    &format!("m{i}"),
                    Actor::Contact(w.contact.id),
                ),
            )
            .await
            .unwrap();
    }
    assert_eq!(store.read_marks(a, conv.id).await.unwrap(), vec![]);
    let agent = Actor::Agent(w.agent.id);
    let visitor = Actor::Contact(w.contact.id);
    assert_eq!(store.mark_read(a, conv.id, agent, 3).await.unwrap(), 3);
    assert_eq!(
        store.mark_read(a, conv.id, agent, 2).await.unwrap(),
        3,
        "a late, older receipt does not move the mark back"
    );
    assert_eq!(
        store.mark_read(a, conv.id, agent, 99).await.unwrap(),
        5,
        "clamped to last_seq"
    );
    assert_eq!(store.mark_read(a, conv.id, visitor, -4).await.unwrap(), 0);
    assert_eq!(store.mark_read(a, conv.id, visitor, 1).await.unwrap(), 1);
    assert_eq!(store.mark_read(a, conv.id, Actor::Bot, 2).await.unwrap(), 2);
    let marks: HashMap<String, i64> = store
        .read_marks(a, conv.id)
        .await
        .unwrap()
        .into_iter()
        .map(|(actor, seq)| (format!("{actor:?}"), seq))
        .collect();
    assert_eq!(
        marks,
        HashMap::from([
            (format!("{agent:?}"), 5),
            (format!("{visitor:?}"), 1),
            (format!("{:?}", Actor::Bot), 2),
        ])
    );
    // Marks are per conversation.
    assert_eq!(
        store.read_marks(a, w.conversation.id).await.unwrap(),
        vec![]
    );

    let b = other.account.id;
    assert_not_found(
        store.mark_read(b, conv.id, agent, 1).await,
        "marking another account's conversation",
    );
    assert_not_found(
        store.read_marks(b, conv.id).await,
        "reading another account's marks",
    );
    assert_not_found(
        store.mark_read(a, ConversationId::new(), agent, 1).await,
        "a missing conversation",
    );
    assert_eq!(store.read_marks(a, conv.id).await.unwrap().len(), 3);
}

async fn racing_claims_never_pass_capacity_or_assign_twice(backend: Backend) {
    const CONVERSATIONS: usize = 200;
    const AGENTS: usize = 5;
    const CAPACITY: u32 = 3;
    const TASKS: usize = 40;
    // Each task works through a window of conversations overlapping its neighbour's, so every
    // conversation is raced for by two tasks.
    const STRIDE: usize = CONVERSATIONS / TASKS;
    const WINDOW: usize = 2 * STRIDE;

    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let mut agents = vec![];
    for i in 0..AGENTS {
        agents.push(agent(&*store, a, &format!("router{i}@acme.test")).await.id);
    }
    let mut conversations = vec![];
    for _ in 0..CONVERSATIONS {
        conversations.push(conversation(&*store, a, w.chat.id, w.contact.id).await.id);
    }
    let conversations = Arc::new(conversations);
    let start = Arc::new(tokio::sync::Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = store.clone();
            let start = start.clone();
            let conversations = conversations.clone();
            let agents = agents.clone();
            tokio::spawn(async move {
                start.wait().await;
                let mut claimed = vec![];
                for k in 0..WINDOW {
                    let conversation = conversations[(t * STRIDE + k) % CONVERSATIONS];
                    let mut order = agents.clone();
                    order.sort_by_key(|_| Uuid::new_v4());
                    for agent in order {
                        let result = store
                            .claim_conversation(
                                a,
                                conversation,
                                agent,
                                Some(CAPACITY),
                                Actor::System,
                            )
                            .await
                            .unwrap_or_else(|e| panic!("task {t}: claim failed: {e:?}"));
                        if let Some((conv, _)) = result {
                            assert_eq!(conv.assignee_id, Some(agent));
                            claimed.push((conversation, agent));
                            break;
                        }
                    }
                }
                claimed
            })
        })
        .collect();
    let mut claims = vec![];
    for task in tasks {
        claims.extend(task.await.expect("task"));
    }

    assert_eq!(
        claims.len(),
        AGENTS * CAPACITY as usize,
        "exactly capacity × agents claims succeed"
    );
    let mut claimed_ids: Vec<ConversationId> = claims.iter().map(|(c, _)| *c).collect();
    claimed_ids.sort();
    claimed_ids.dedup();
    assert_eq!(
        claimed_ids.len(),
        claims.len(),
        "no conversation claimed twice"
    );

    let loads = store.agent_loads(a, agents.clone()).await.unwrap();
    assert_eq!(loads.len(), AGENTS);
    for load in &loads {
        assert_eq!(
            load.open, CAPACITY,
            "agent {} is exactly at capacity",
            load.agent_id
        );
        assert!(load.last_assigned_at.is_some());
    }

    let mut per_agent: HashMap<AgentId, u32> = HashMap::new();
    let mut assigned = 0;
    for &id in conversations.iter() {
        let conv = store.get_conversation(a, id).await.unwrap();
        let items = assigned_items(&*store, a, id).await;
        match conv.assignee_id {
            Some(agent) => {
                assigned += 1;
                *per_agent.entry(agent).or_default() += 1;
                assert!(claims.contains(&(id, agent)), "stored as claimed");
                assert_eq!(items.len(), 1, "one assigned item for {id}");
                assert_eq!(items[0].data.as_ref().unwrap()["assignee_id"], json!(agent));
            }
            None => assert_eq!(items.len(), 0, "no assigned item for unassigned {id}"),
        }
    }
    assert_eq!(assigned, AGENTS * CAPACITY as usize);
    assert_eq!(per_agent.len(), AGENTS);
    assert!(per_agent.values().all(|&n| n == CAPACITY), "{per_agent:?}");

    let ours: std::collections::HashSet<_> = conversations.iter().copied().collect();
    let reported = all_events(&*store, a)
        .await
        .into_iter()
        .filter(|e| {
            e.kind == "conversation.assigned"
                && e.conversation_id.is_some_and(|c| ours.contains(&c))
        })
        .count();
    assert_eq!(
        reported,
        AGENTS * CAPACITY as usize,
        "one report event per claim"
    );
    assert_eq!(
        store
            .waiting_conversations(a, w.inbox.id, 200)
            .await
            .unwrap()
            .len(),
        CONVERSATIONS - AGENTS * CAPACITY as usize,
        "the rest still wait"
    );
}

on_both_backends!(
    a_visitor_gets_an_anonymous_contact_and_is_found_by_token,
    a_visitor_needs_a_chat_channel_of_the_account,
    the_visitor_conversation_is_the_newest_not_closed_on_its_channel,
    merging_a_visitor_contact_keeps_the_visitor_on_the_kept_contact,
    agent_loads_count_open_and_pending_and_when_last_assigned,
    a_claim_assigns_like_a_manual_assignment_and_keeps_the_team,
    a_claim_is_refused_when_taken_closed_or_full,
    waiting_conversations_are_open_unassigned_oldest_first,
    read_marks_only_go_up_and_stop_at_the_last_seq,
    racing_claims_never_pass_capacity_or_assign_twice,
);
