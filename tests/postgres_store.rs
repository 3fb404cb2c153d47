//! The PostgreSQL backend's own safety net: migrations, concurrency of the timeline, tenant
//! isolation enforced by the schema, the append-only event table, and contact merges. The
//! cross-backend behaviour is in `store_conformance.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::{Backend, TestDb, fresh_store};
use parley::domain::*;
use parley::store::{self, DynStore, POSTGRES_MIGRATIONS, PostgresStore, Store, StoreError};
use serde_json::json;
use tokio::sync::Barrier;
use uuid::Uuid;

/// One account with an agent, an inbox, a channel of `kind`, a contact and a conversation.
struct World {
    account: AccountId,
    agent: Agent,
    channel: Channel,
    contact: Contact,
    conversation: Conversation,
}

async fn world(store: &DynStore, kind: ChannelKind) -> World {
    let account = store
        .create_account(Name::parse("Acme").unwrap())
        .await
        .unwrap()
        .id;
    let email = format!("agent-{}@acme.test", Uuid::new_v4().simple());
    let agent = store
        .create_agent(
            account,
            NewAgent {
                email: EmailAddress::parse(&email).unwrap(),
                role: AgentRole::Admin,
                profile: AgentProfile {
                    display_name: Name::parse("Ada").unwrap(),
                    avatar_url: None,
                    meeting_link: None,
                },
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            },
        )
        .await
        .unwrap();
    let inbox = store
        .create_inbox(
            account,
            NewInbox {
                name: Name::parse("Support").unwrap(),
                routing: RoutingSettings::default(),
                notification_defaults: NotificationPrefs::default(),
                email_filters: EmailFilters::default(),
                member_ids: vec![agent.id],
            },
        )
        .await
        .unwrap();
    let channel = store
        .create_channel(
            account,
            NewChannel {
                inbox_id: inbox.id,
                kind,
                name: Name::parse("Website").unwrap(),
                settings: Default::default(),
            },
        )
        .await
        .unwrap();
    let contact = store
        .create_contact(
            account,
            NewContact {
                name: Some(Name::parse("Visitor").unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let conversation = store
        .create_conversation(
            account,
            NewConversation {
                channel_id: channel.id,
                contact_id: contact.id,
                subject: None,
            },
            Actor::Contact(contact.id),
        )
        .await
        .unwrap();
    World {
        account,
        agent,
        channel,
        contact,
        conversation,
    }
}

fn message(client_id: Option<Uuid>, author: Actor, direction: Direction, text: &str) -> NewItem {
    NewItem {
        client_id,
        author,
        content: NewItemContent::Message {
            direction,
            body: Body::parse(text).unwrap(),
        },
    }
}

/// Opens every pooled connection and returns a barrier for `tasks` writers, so concurrent
/// writers really overlap instead of queueing behind connection set-up.
async fn starting_line(store: &DynStore, tasks: usize) -> Arc<Barrier> {
    let pings: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.ping().await })
        })
        .collect();
    for ping in pings {
        ping.await.unwrap().unwrap();
    }
    Arc::new(Barrier::new(tasks))
}

async fn raw_client(db: &TestDb) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

async fn applied_versions(db: &TestDb) -> Vec<i64> {
    raw_client(db)
        .await
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

fn known_versions() -> Vec<i64> {
    POSTGRES_MIGRATIONS.iter().map(|m| m.version).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_again_keeps_data_and_applies_nothing_twice() {
    let (store, db) = fresh_store(Backend::Postgres).await;
    let account = store
        .create_account(Name::parse("Kept").unwrap())
        .await
        .unwrap();

    let again = store::connect(&db.url, 2).await.expect("second connect");

    assert_eq!(again.get_account(account.id).await.unwrap(), account);
    assert_eq!(again.count_accounts().await.unwrap(), 1);
    assert_eq!(applied_versions(&db).await, known_versions());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_both_connect_and_migrate_once() {
    let db = TestDb::new(Backend::Postgres).await;

    let (a, b, c) = tokio::join!(
        PostgresStore::connect(&db.url, 2),
        PostgresStore::connect(&db.url, 2),
        PostgresStore::connect(&db.url, 2),
    );

    for (node, result) in [("a", a), ("b", b), ("c", c)] {
        let store = result.unwrap_or_else(|e| panic!("node {node} failed to connect: {e}"));
        store.ping().await.unwrap();
    }
    assert_eq!(applied_versions(&db).await, known_versions());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_database_migrated_by_a_newer_parley() {
    let (_store, db) = fresh_store(Backend::Postgres).await;
    raw_client(&db)
        .await
        .execute(
            "INSERT INTO schema_migrations (version, name) VALUES (9999, 'from_the_future')",
            &[],
        )
        .await
        .unwrap();

    let refused = PostgresStore::connect(&db.url, 1).await;

    match refused {
        Err(StoreError::Invalid { message, .. }) => {
            assert!(message.contains("9999_from_the_future"), "{message}");
        }
        Err(other) => panic!("expected Invalid naming the migration, got {other}"),
        Ok(_) => panic!("a database with an unknown migration was accepted"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_unavailable() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let result = PostgresStore::connect("postgres://parley@127.0.0.1:1/parley", 1).await;

    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "expected Unavailable, got {:?}",
        result.err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_appends_get_seq_1_to_50() {
    let (store, _db) = fresh_store(Backend::Postgres).await;
    let w = world(&store, ChannelKind::Chat).await;
    let start = starting_line(&store, 50).await;

    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (store, start) = (store.clone(), start.clone());
            let (account, conversation, contact) = (w.account, w.conversation.id, w.contact.id);
            tokio::spawn(async move {
                start.wait().await;
                let item = message(
                    Some(Uuid::new_v4()),
                    Actor::Contact(contact),
                    Direction::In,
                    &format!("message {i}"),
                );
                store.append_item(account, conversation, item).await
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        let appended = task.await.unwrap().expect("append");
        assert!(appended.created);
        seqs.push(appended.item.seq);
    }

    seqs.sort_unstable();
    assert_eq!(seqs, (1..=50).collect::<Vec<i64>>());
    let conversation = store
        .get_conversation(w.account, w.conversation.id)
        .await
        .unwrap();
    assert_eq!(conversation.last_seq, 50);
    let stored: Vec<i64> = store
        .list_items(w.account, w.conversation.id, 0, 200)
        .await
        .unwrap()
        .iter()
        .map(|item| item.seq)
        .collect();
    assert_eq!(stored, (1..=50).collect::<Vec<i64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_retries_of_one_client_id_store_one_item() {
    let (store, _db) = fresh_store(Backend::Postgres).await;
    let w = world(&store, ChannelKind::Email).await;

    // Several rounds, because one round of a racy implementation can pass by luck.
    const ROUNDS: i64 = 3;
    let mut stored = Vec::new();
    for round in 1..=ROUNDS {
        let client_id = Uuid::new_v4();
        let start = starting_line(&store, 20).await;
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (store, start) = (store.clone(), start.clone());
                let (account, conversation, agent) = (w.account, w.conversation.id, w.agent.id);
                tokio::spawn(async move {
                    start.wait().await;
                    let item = message(Some(client_id), Actor::Agent(agent), Direction::Out, "Hi!");
                    store.append_item(account, conversation, item).await
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap().expect("append"));
        }

        let created = results.iter().filter(|a| a.created).count();
        assert_eq!(
            created, 1,
            "round {round}: exactly one append stores the item"
        );
        let first = results.iter().find(|a| a.created).unwrap().item.clone();
        for appended in &results {
            assert_eq!(
                appended.item, first,
                "round {round}: every retry returns the stored item"
            );
        }
        assert_eq!(first.seq, round);
        assert_eq!(first.client_id, Some(client_id));
        assert_eq!(first.delivery_status, Some(DeliveryStatus::Pending));
        stored.push(first);
    }

    let items = store
        .list_items(w.account, w.conversation.id, 0, 50)
        .await
        .unwrap();
    assert_eq!(items, stored, "one item per client id, nothing else");
    let sent: Vec<Event> = store
        .list_events(w.account, 0, 200)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "message.sent")
        .collect();
    assert_eq!(
        sent.len(),
        stored.len(),
        "one report event per stored message"
    );
    assert_eq!(sent[0].agent_id, Some(w.agent.id));
    assert_eq!(sent[0].data, json!({"seq": 1, "item_id": stored[0].id}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_accounts_rows_are_not_found_and_cannot_be_referenced() {
    let (store, _db) = fresh_store(Backend::Postgres).await;
    let a = world(&store, ChannelKind::Chat).await;
    let b = world(&store, ChannelKind::Chat).await;

    let not_found = |r: Result<_, StoreError>, what: &str| match r {
        Err(StoreError::NotFound { .. }) => {}
        Err(other) => panic!("{what}: expected NotFound, got {other}"),
        Ok(_) => panic!("{what}: another account's row was visible"),
    };
    not_found(
        store.get_contact(b.account, a.contact.id).await.map(drop),
        "get_contact",
    );
    not_found(
        store
            .get_conversation(b.account, a.conversation.id)
            .await
            .map(drop),
        "get_conversation",
    );
    not_found(
        store
            .append_item(
                b.account,
                a.conversation.id,
                message(None, Actor::System, Direction::In, "sneaky"),
            )
            .await
            .map(drop),
        "append_item",
    );
    not_found(
        store
            .update_contact(b.account, a.contact.id, ContactPatch::default())
            .await
            .map(drop),
        "update_contact",
    );

    let invalid = |r: Result<_, StoreError>, field: &str| match r {
        Err(StoreError::Invalid { field: f, .. }) => assert_eq!(f, field),
        Err(other) => panic!("{field}: expected Invalid, got {other}"),
        Ok(_) => panic!("{field}: a reference into another account was stored"),
    };
    invalid(
        store
            .create_team(b.account, Name::parse("Mixed").unwrap(), vec![a.agent.id])
            .await
            .map(drop),
        "member_ids",
    );
    invalid(
        store
            .create_conversation(
                b.account,
                NewConversation {
                    channel_id: a.channel.id,
                    contact_id: b.contact.id,
                    subject: None,
                },
                Actor::System,
            )
            .await
            .map(drop),
        "channel_id",
    );
    invalid(
        store
            .create_conversation(
                b.account,
                NewConversation {
                    channel_id: b.channel.id,
                    contact_id: a.contact.id,
                    subject: None,
                },
                Actor::System,
            )
            .await
            .map(drop),
        "contact_id",
    );
    invalid(
        store
            .change_conversation(
                b.account,
                b.conversation.id,
                ConversationChange::Assign {
                    assignee_id: Some(a.agent.id),
                    team_id: None,
                },
                Actor::Agent(b.agent.id),
            )
            .await
            .map(drop),
        "assignee_id",
    );

    let listed = store
        .list_conversations(b.account, ConversationFilter::default(), Default::default())
        .await
        .unwrap();
    assert_eq!(
        listed.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![b.conversation.id]
    );
    assert_eq!(
        store.get_contact(a.account, a.contact.id).await.unwrap(),
        a.contact,
        "a's contact is untouched and reads back equal, timestamps included"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_email_taken_in_another_account_is_a_conflict() {
    let (store, _db) = fresh_store(Backend::Postgres).await;
    let a = world(&store, ChannelKind::Chat).await;
    let b = world(&store, ChannelKind::Chat).await;

    let result = store
        .update_agent(
            b.account,
            b.agent.id,
            AgentPatch {
                email: Some(a.agent.email.clone()),
                ..Default::default()
            },
        )
        .await;

    match result {
        Err(StoreError::Conflict { field, .. }) => assert_eq!(field, "email"),
        other => panic!("expected Conflict on email, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_refuse_update_delete_and_truncate_in_the_schema() {
    let (store, db) = fresh_store(Backend::Postgres).await;
    let w = world(&store, ChannelKind::Chat).await;
    let before = store.list_events(w.account, 0, 200).await.unwrap();
    assert!(
        !before.is_empty(),
        "creating a conversation writes an event"
    );
    let client = raw_client(&db).await;

    for statement in [
        "UPDATE events SET kind = 'rewritten'",
        "DELETE FROM events",
        "TRUNCATE events",
    ] {
        let error = client
            .batch_execute(statement)
            .await
            .expect_err(&format!("`{statement}` was allowed"));
        let message = error.as_db_error().map(|e| e.message().to_owned());
        assert!(
            message.as_deref().unwrap_or("").contains("append-only"),
            "`{statement}` failed for another reason: {error:?}"
        );
    }

    assert_eq!(store.list_events(w.account, 0, 200).await.unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_moves_conversations_and_tickets_and_deletes_the_merged_contact() {
    let (store, _db) = fresh_store(Backend::Postgres).await;
    let w = world(&store, ChannelKind::Chat).await;
    let merged = store
        .create_contact(
            w.account,
            NewContact {
                email: Some(EmailAddress::parse("visitor@example.com").unwrap()),
                properties: serde_json::from_value(json!({"plan": "pro", "city": "Oslo"})).unwrap(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let kept = store
        .update_contact(
            w.account,
            w.contact.id,
            ContactPatch {
                properties: Some(serde_json::from_value(json!({"plan": "free"})).unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let conversation = store
        .create_conversation(
            w.account,
            NewConversation {
                channel_id: w.channel.id,
                contact_id: merged.id,
                subject: Some("Refund".into()),
            },
            Actor::Contact(merged.id),
        )
        .await
        .unwrap();
    let ticket = store
        .create_ticket(
            w.account,
            NewTicket {
                conversation_id: conversation.id,
                title: None,
                priority: TicketPriority::High,
                owner_id: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(ticket.contact_id, Some(merged.id));
    assert_eq!(ticket.title, "Refund");

    let result = store
        .merge_contacts(w.account, kept.id, merged.id)
        .await
        .unwrap();

    assert_eq!(result.id, kept.id);
    assert_eq!(result.email, merged.email, "kept's empty email is filled");
    assert_eq!(result.name, kept.name, "kept's own name stays");
    assert_eq!(
        serde_json::Value::Object(result.properties.clone()),
        json!({"plan": "free", "city": "Oslo"}),
        "kept's properties win; missing ones are added"
    );
    let moved = store
        .get_conversation(w.account, conversation.id)
        .await
        .unwrap();
    assert_eq!(moved.contact_id, kept.id);
    let moved = store.get_ticket(w.account, ticket.id).await.unwrap();
    assert_eq!(moved.contact_id, Some(kept.id));
    assert!(matches!(
        store.get_contact(w.account, merged.id).await,
        Err(StoreError::NotFound { .. })
    ));
    let with_kept: HashSet<ConversationId> = store
        .list_conversations(
            w.account,
            ConversationFilter {
                contact_id: Some(kept.id),
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap()
        .items
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(
        with_kept,
        HashSet::from([w.conversation.id, conversation.id])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merging_a_contact_with_itself_is_invalid() {
    let (store, _db) = fresh_store(Backend::Postgres).await;
    let w = world(&store, ChannelKind::Chat).await;

    let result = store
        .merge_contacts(w.account, w.contact.id, w.contact.id)
        .await;

    match result {
        Err(StoreError::Invalid { field, .. }) => assert_eq!(field, "merged_id"),
        other => panic!("expected Invalid merged_id, got {other:?}"),
    }
    store.get_contact(w.account, w.contact.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_search_matches_like_wildcards_literally() {
    let (store, _db) = fresh_store(Backend::Postgres).await;
    let w = world(&store, ChannelKind::Chat).await;
    let mut ids = std::collections::HashMap::new();
    for name in [
        "50% Off Ltd",
        "500 Off Ltd",
        "a_b Corp",
        "axb Corp",
        "back\\slash",
    ] {
        let contact = store
            .create_contact(
                w.account,
                NewContact {
                    name: Some(Name::parse(name).unwrap()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        ids.insert(contact.id, name);
    }

    for (query, expected) in [
        ("50%", vec!["50% Off Ltd"]),
        ("A_B", vec!["a_b Corp"]),
        ("k\\s", vec!["back\\slash"]),
        ("OFF", vec!["500 Off Ltd", "50% Off Ltd"]),
    ] {
        let page = store
            .search_contacts(
                w.account,
                ContactQuery {
                    query: Some(query.into()),
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .unwrap();
        let found: Vec<&str> = page.items.iter().map(|c| ids[&c.id]).collect();
        assert_eq!(found, expected, "query {query:?} (newest first)");
    }
}
