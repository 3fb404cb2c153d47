//! The SQLite backend's own safety net: what only SQLite can get wrong (the file, migrations,
//! triggers, serialization of concurrent writers) and the rules a store must never break.
//! The cross-backend behaviour is the conformance suite's job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::{Backend, TestDb, fresh_store};
use parley::domain::*;
use parley::store::{DynStore, PageRequest, SQLITE_MIGRATIONS, SqliteStore, Store, StoreError};
use serde_json::{Map, Value, json};
use uuid::Uuid;

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn body(s: &str) -> Body {
    Body::parse(s).unwrap()
}

fn path_of(db: &TestDb) -> PathBuf {
    PathBuf::from(db.url.strip_prefix("sqlite://").expect("a sqlite URL"))
}

async fn store() -> (DynStore, TestDb) {
    fresh_store(Backend::Sqlite).await
}

/// One account with an agent, an inbox, a channel of `kind`, a contact and a conversation.
struct World {
    account: AccountId,
    agent: Agent,
    inbox: Inbox,
    channel: Channel,
    contact: Contact,
    conversation: Conversation,
}

async fn world(store: &DynStore, tag: &str, kind: ChannelKind) -> World {
    let account = store.create_account(name(tag)).await.unwrap().id;
    let agent = store
        .create_agent(
            account,
            NewAgent {
                email: email(&format!("agent@{tag}.test")),
                role: AgentRole::Admin,
                profile: AgentProfile {
                    display_name: name("Ada"),
                    avatar_url: None,
                    meeting_link: None,
                },
                password_hash: "$argon2id$not-a-real-hash".into(),
            },
        )
        .await
        .unwrap();
    let inbox = store
        .create_inbox(
            account,
            NewInbox {
                name: name("Support"),
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
                name: name("Way in"),
                settings: Map::new(),
            },
        )
        .await
        .unwrap();
    let contact = store
        .create_contact(
            account,
            NewContact {
                email: Some(email(&format!("visitor@{tag}.test"))),
                ..NewContact::default()
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
                subject: Some("Help".into()),
            },
            Actor::Contact(contact.id),
        )
        .await
        .unwrap();
    World {
        account,
        agent,
        inbox,
        channel,
        contact,
        conversation,
    }
}

fn message(direction: Direction, author: Actor, client_id: Option<Uuid>) -> NewItem {
    NewItem {
        client_id,
        author,
        content: NewItemContent::Message {
            direction,
            body: body("hello"),
        },
    }
}

fn raw(db: &TestDb) -> rusqlite::Connection {
    rusqlite::Connection::open(path_of(db)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_applies_no_migration_twice_and_keeps_data() {
    let (store, db) = store().await;
    let account = store.create_account(name("Acme")).await.unwrap();
    drop(store);

    let reopened = SqliteStore::open(&path_of(&db)).await.unwrap();
    let again = SqliteStore::open(&path_of(&db)).await.unwrap();
    assert_eq!(reopened.get_account(account.id).await.unwrap(), account);
    assert_eq!(again.count_accounts().await.unwrap(), 1);

    let versions: Vec<i64> = raw(&db)
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let known: Vec<i64> = SQLITE_MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(versions, known);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_a_newer_parley_is_refused_by_version() {
    let (store, db) = store().await;
    drop(store);
    raw(&db)
        .execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)",
            [],
        )
        .unwrap();

    let error = SqliteStore::open(&path_of(&db)).await.unwrap_err();
    assert!(error.to_string().contains("9999"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_creates_missing_parent_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/parley.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.ping().await.unwrap();
    assert!(path.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_appends_get_seq_1_to_50() {
    let (store, _db) = store().await;
    let w = world(&store, "acme", ChannelKind::Chat).await;

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = store.clone();
            let (account, conversation, contact) = (w.account, w.conversation.id, w.contact.id);
            tokio::spawn(async move {
                store
                    .append_item(
                        account,
                        conversation,
                        message(Direction::In, Actor::Contact(contact), Some(Uuid::new_v4())),
                    )
                    .await
                    .unwrap()
                    .item
                    .seq
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=50).collect::<Vec<i64>>());

    let conversation = store
        .get_conversation(w.account, w.conversation.id)
        .await
        .unwrap();
    assert_eq!(conversation.last_seq, 50);
    let items = store
        .list_items(w.account, w.conversation.id, 0, 200)
        .await
        .unwrap();
    let listed: Vec<i64> = items.iter().map(|i| i.seq).collect();
    assert_eq!(listed, (1..=50).collect::<Vec<i64>>());
    let later = store
        .list_items(w.account, w.conversation.id, 45, 200)
        .await
        .unwrap();
    assert_eq!(later.first().map(|i| i.seq), Some(46));
    assert_eq!(later.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_client_id_stores_the_item_once() {
    let (store, _db) = store().await;
    let w = world(&store, "acme", ChannelKind::Chat).await;
    let client_id = Uuid::new_v4();
    let author = Actor::Agent(w.agent.id);

    let first = store
        .append_item(
            w.account,
            w.conversation.id,
            message(Direction::Out, author, Some(client_id)),
        )
        .await
        .unwrap();
    let retry = store
        .append_item(
            w.account,
            w.conversation.id,
            message(Direction::Out, author, Some(client_id)),
        )
        .await
        .unwrap();

    assert!(first.created);
    assert!(!retry.created);
    assert_eq!(retry.item, first.item);
    let items = store
        .list_items(w.account, w.conversation.id, 0, 50)
        .await
        .unwrap();
    assert_eq!(items, vec![first.item.clone()]);
    let sent: Vec<Event> = store
        .list_events(w.account, 0, 200)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "message.sent")
        .collect();
    assert_eq!(sent.len(), 1, "the retry wrote a second report event");
    assert_eq!(sent[0].agent_id, Some(w.agent.id));
    assert_eq!(
        sent[0].data,
        json!({"seq": first.item.seq, "item_id": first.item.id})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_messages_wait_for_the_outbox_only_off_chat() {
    let (store, _db) = store().await;
    for (kind, tag, expected) in [
        (ChannelKind::Chat, "chat", None),
        (ChannelKind::Email, "email", Some(DeliveryStatus::Pending)),
        (
            ChannelKind::Messenger,
            "messenger",
            Some(DeliveryStatus::Pending),
        ),
        (ChannelKind::Form, "form", Some(DeliveryStatus::Pending)),
    ] {
        let w = world(&store, tag, kind).await;
        let out = store
            .append_item(
                w.account,
                w.conversation.id,
                message(Direction::Out, Actor::Agent(w.agent.id), None),
            )
            .await
            .unwrap();
        let inbound = store
            .append_item(
                w.account,
                w.conversation.id,
                message(Direction::In, Actor::Contact(w.contact.id), None),
            )
            .await
            .unwrap();
        assert_eq!(out.item.delivery_status, expected, "outbound on {tag}");
        assert_eq!(inbound.item.delivery_status, None, "inbound on {tag}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_accounts_rows_are_not_found_and_cannot_be_referenced() {
    let (store, _db) = store().await;
    let a = world(&store, "a", ChannelKind::Chat).await;
    let b = world(&store, "b", ChannelKind::Chat).await;

    let not_found = |r: Result<(), StoreError>| matches!(r, Err(StoreError::NotFound { .. }));
    assert!(not_found(
        store.get_agent(b.account, a.agent.id).await.map(drop)
    ));
    assert!(not_found(
        store.get_inbox(b.account, a.inbox.id).await.map(drop)
    ));
    assert!(not_found(
        store
            .get_conversation(b.account, a.conversation.id)
            .await
            .map(drop)
    ));
    assert!(not_found(
        store
            .append_item(
                b.account,
                a.conversation.id,
                message(Direction::In, Actor::System, None)
            )
            .await
            .map(drop)
    ));
    assert!(not_found(store.delete_inbox(b.account, a.inbox.id).await));

    let agents = store.list_agents(b.account).await.unwrap();
    assert_eq!(agents, vec![b.agent.clone()]);
    let conversations = store
        .list_conversations(b.account, Default::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(conversations.items, vec![b.conversation.clone()]);
    let events = store.list_events(b.account, 0, 200).await.unwrap();
    assert!(events.iter().all(|e| e.account_id == b.account));
    assert!(!events.is_empty());

    let foreign_channel = store
        .create_conversation(
            b.account,
            NewConversation {
                channel_id: a.channel.id,
                contact_id: b.contact.id,
                subject: None,
            },
            Actor::System,
        )
        .await;
    assert!(
        matches!(
            foreign_channel,
            Err(StoreError::Invalid {
                field: "channel_id",
                ..
            })
        ),
        "{foreign_channel:?}"
    );
    let foreign_member = store
        .create_team(b.account, name("Team"), vec![a.agent.id])
        .await;
    assert!(
        matches!(
            foreign_member,
            Err(StoreError::Invalid {
                field: "member_ids",
                ..
            })
        ),
        "{foreign_member:?}"
    );
    let foreign_assignee = store
        .change_conversation(
            b.account,
            b.conversation.id,
            ConversationChange::Assign {
                assignee_id: Some(a.agent.id),
                team_id: None,
            },
            Actor::System,
        )
        .await;
    assert!(
        matches!(
            foreign_assignee,
            Err(StoreError::Invalid {
                field: "assignee_id",
                ..
            })
        ),
        "{foreign_assignee:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_emails_are_unique_across_accounts() {
    let (store, _db) = store().await;
    let a = world(&store, "a", ChannelKind::Chat).await;
    let other = store.create_account(name("Other")).await.unwrap();
    let result = store
        .create_agent(
            other.id,
            NewAgent {
                email: a.agent.email.clone(),
                role: AgentRole::Agent,
                profile: a.agent.profile.clone(),
                password_hash: "x".into(),
            },
        )
        .await;
    assert!(
        matches!(result, Err(StoreError::Conflict { field: "email", .. })),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_table_refuses_update_and_delete() {
    let (store, db) = store().await;
    let w = world(&store, "acme", ChannelKind::Chat).await;
    let before = store.list_events(w.account, 0, 200).await.unwrap();
    assert_eq!(before.len(), 1, "conversation.created");

    let conn = raw(&db);
    let update = conn.execute("UPDATE events SET kind = 'forged'", []);
    let delete = conn.execute("DELETE FROM events", []);
    assert!(update.is_err(), "UPDATE was allowed");
    assert!(delete.is_err(), "DELETE was allowed");
    assert!(
        update.unwrap_err().to_string().contains("append-only"),
        "refused by the trigger"
    );

    assert_eq!(store.list_events(w.account, 0, 200).await.unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_writes_its_timeline_item_and_report_event_together() {
    let (store, _db) = store().await;
    let w = world(&store, "acme", ChannelKind::Chat).await;
    let actor = Actor::Agent(w.agent.id);

    let (closed, item) = store
        .change_conversation(
            w.account,
            w.conversation.id,
            ConversationChange::Status(ConversationStatus::Closed),
            actor,
        )
        .await
        .unwrap();
    let item = item.expect("a status change appends an item");
    assert_eq!(closed.status, ConversationStatus::Closed);
    assert_eq!(closed.last_seq, item.seq);
    assert_eq!(item.author, actor);
    assert_eq!(
        item.data,
        Some(json!({"type": "status_changed", "from": "open", "to": "closed"}))
    );

    let (_, nothing) = store
        .change_conversation(
            w.account,
            w.conversation.id,
            ConversationChange::Status(ConversationStatus::Closed),
            actor,
        )
        .await
        .unwrap();
    assert_eq!(nothing, None);

    let (assigned, item) = store
        .change_conversation(
            w.account,
            w.conversation.id,
            ConversationChange::Assign {
                assignee_id: Some(w.agent.id),
                team_id: None,
            },
            actor,
        )
        .await
        .unwrap();
    assert_eq!(assigned.assignee_id, Some(w.agent.id));
    assert_eq!(
        item.unwrap().data,
        Some(json!({
            "type": "assigned",
            "assignee_id": w.agent.id,
            "team_id": null,
            "previous_assignee_id": null,
            "previous_team_id": null,
        }))
    );
    assert_eq!(
        store
            .get_conversation(w.account, w.conversation.id)
            .await
            .unwrap(),
        assigned
    );

    let events = store.list_events(w.account, 0, 200).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "conversation.created",
            "conversation.status_changed",
            "conversation.assigned"
        ]
    );
    assert_eq!(events[1].data, json!({"from": "open", "to": "closed"}));
    assert_eq!(events[2].agent_id, Some(w.agent.id));
    assert_eq!(events[2].inbox_id, Some(w.inbox.id));
    assert_eq!(events[2].conversation_id, Some(w.conversation.id));
    assert_eq!(
        events[0].data,
        json!({
            "channel_id": w.channel.id,
            "channel_kind": "chat",
            "contact_id": w.contact.id,
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merging_contacts_moves_conversations_and_fills_gaps() {
    let (store, _db) = store().await;
    let w = world(&store, "acme", ChannelKind::Email).await;
    let merged = w.contact.clone();
    let mut props = Map::new();
    props.insert("plan".into(), json!("pro"));
    let kept = store
        .create_contact(
            w.account,
            NewContact {
                name: Some(name("Grace")),
                properties: props,
                ..NewContact::default()
            },
        )
        .await
        .unwrap();
    let mut merged_props = Map::new();
    merged_props.insert("plan".into(), json!("free"));
    merged_props.insert("city".into(), json!("Oslo"));
    store
        .update_contact(
            w.account,
            merged.id,
            ContactPatch {
                properties: Some(merged_props),
                ..ContactPatch::default()
            },
        )
        .await
        .unwrap();
    let ticket = store
        .create_ticket(
            w.account,
            NewTicket {
                conversation_id: w.conversation.id,
                title: None,
                priority: TicketPriority::High,
                owner_id: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(ticket.contact_id, Some(merged.id));
    assert_eq!(ticket.title, "Help");

    let result = store
        .merge_contacts(w.account, kept.id, merged.id)
        .await
        .unwrap();

    assert_eq!(result.email, merged.email, "kept's empty email is filled");
    assert_eq!(result.name, Some(name("Grace")));
    assert_eq!(result.properties.get("plan"), Some(&json!("pro")));
    assert_eq!(result.properties.get("city"), Some(&json!("Oslo")));
    assert_eq!(store.get_contact(w.account, kept.id).await.unwrap(), result);
    assert!(matches!(
        store.get_contact(w.account, merged.id).await,
        Err(StoreError::NotFound { .. })
    ));
    let conversation = store
        .get_conversation(w.account, w.conversation.id)
        .await
        .unwrap();
    assert_eq!(conversation.contact_id, kept.id);
    let ticket = store.get_ticket(w.account, ticket.id).await.unwrap();
    assert_eq!(ticket.contact_id, Some(kept.id));

    let itself = store.merge_contacts(w.account, kept.id, kept.id).await;
    assert!(
        matches!(
            itself,
            Err(StoreError::Invalid {
                field: "merged_id",
                ..
            })
        ),
        "{itself:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_search_pages_newest_first_and_matches_literally() {
    let (store, _db) = store().await;
    let account = store.create_account(name("Acme")).await.unwrap().id;
    let mut ids = Vec::new();
    for contact_name in [
        "Élodie Durand",
        "100% Sure",
        "Bob",
        "ÉLODIE Martin",
        "1000 Sure",
    ] {
        let contact = store
            .create_contact(
                account,
                NewContact {
                    name: Some(name(contact_name)),
                    ..NewContact::default()
                },
            )
            .await
            .unwrap();
        ids.push(contact.id);
    }

    let found = |query: ContactQuery| {
        let store = store.clone();
        async move {
            store
                .search_contacts(account, query, PageRequest::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|c| c.name.unwrap().to_string())
                .collect::<BTreeSet<_>>()
        }
    };
    let elodie = found(ContactQuery {
        name: Some("élodie".into()),
        ..ContactQuery::default()
    })
    .await;
    assert_eq!(
        elodie,
        BTreeSet::from(["Élodie Durand".to_owned(), "ÉLODIE Martin".to_owned()])
    );
    let percent = found(ContactQuery {
        query: Some("0%".into()),
        ..ContactQuery::default()
    })
    .await;
    assert_eq!(percent, BTreeSet::from(["100% Sure".to_owned()]));

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .search_contacts(
                account,
                ContactQuery::default(),
                PageRequest { after, limit: 2 },
            )
            .await
            .unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|c| c.id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "every contact once, newest first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inboxes_and_channels_in_use_are_not_deleted() {
    let (store, _db) = store().await;
    let w = world(&store, "acme", ChannelKind::Chat).await;
    let flow = store
        .create_chatflow(
            w.account,
            NewChatflow {
                channel_id: w.channel.id,
                name: name("Welcome"),
                kind: ChatflowKind::LiveChat,
                priority: 0,
                enabled: true,
                targeting: json!({}),
                availability: json!({}),
                branding: json!({}),
                flow: None,
            },
        )
        .await
        .unwrap();
    let bumped = store
        .update_chatflow(
            w.account,
            flow.id,
            ChatflowPatch {
                flow: Some(Some(json!({"steps": []}))),
                ..ChatflowPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(bumped.flow_version, 2);

    let inbox = store.delete_inbox(w.account, w.inbox.id).await;
    assert!(
        matches!(inbox, Err(StoreError::Invalid { field: "id", .. })),
        "{inbox:?}"
    );
    let channel = store.delete_channel(w.account, w.channel.id).await;
    assert!(
        matches!(channel, Err(StoreError::Invalid { field: "id", .. })),
        "{channel:?}"
    );

    let idle = store
        .create_channel(
            w.account,
            NewChannel {
                inbox_id: w.inbox.id,
                kind: ChannelKind::Form,
                name: name("Idle"),
                settings: Map::new(),
            },
        )
        .await
        .unwrap();
    let idle_flow = store
        .create_chatflow(
            w.account,
            NewChatflow {
                channel_id: idle.id,
                ..flow_input(&flow)
            },
        )
        .await
        .unwrap();
    store.delete_channel(w.account, idle.id).await.unwrap();
    assert!(matches!(
        store.get_chatflow(w.account, idle_flow.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(w.inbox.fallback_local_part.starts_with("inbox-"));
    assert_eq!(w.inbox.fallback_local_part.len(), "inbox-".len() + 12);
}

fn flow_input(flow: &Chatflow) -> NewChatflow {
    NewChatflow {
        channel_id: flow.channel_id,
        name: flow.name.clone(),
        kind: flow.kind,
        priority: flow.priority,
        enabled: flow.enabled,
        targeting: flow.targeting.clone(),
        availability: flow.availability.clone(),
        branding: flow.branding.clone(),
        flow: flow.flow.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_team_unsets_it_on_conversations() {
    let (store, _db) = store().await;
    let w = world(&store, "acme", ChannelKind::Chat).await;
    let team = store
        .create_team(w.account, name("Tier 1"), vec![w.agent.id, w.agent.id])
        .await
        .unwrap();
    assert_eq!(team.member_ids, vec![w.agent.id], "duplicates collapse");
    store
        .change_conversation(
            w.account,
            w.conversation.id,
            ConversationChange::Assign {
                assignee_id: None,
                team_id: Some(team.id),
            },
            Actor::System,
        )
        .await
        .unwrap();

    store.delete_team(w.account, team.id).await.unwrap();

    let conversation = store
        .get_conversation(w.account, w.conversation.id)
        .await
        .unwrap();
    assert_eq!(conversation.team_id, None);
    assert!(store.list_teams(w.account).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_and_properties_merge() {
    let (store, _db) = store().await;
    let w = world(&store, "acme", ChannelKind::Chat).await;
    let now = time::OffsetDateTime::now_utc();
    store
        .create_session(Session {
            token_hash: "hash".into(),
            account_id: w.account,
            agent_id: w.agent.id,
            csrf_token: "csrf".into(),
            expires_at: now + time::Duration::minutes(5),
        })
        .await
        .unwrap();
    let (session, agent) = store.find_session("hash", now).await.unwrap().unwrap();
    assert_eq!(agent, w.agent);
    assert_eq!(session.csrf_token, "csrf");
    let later = now + time::Duration::minutes(6);
    assert!(store.find_session("hash", later).await.unwrap().is_none());

    let mut first = Map::new();
    first.insert("a".into(), json!(1));
    first.insert("b".into(), json!(2));
    let mut second = Map::new();
    second.insert("a".into(), Value::Null);
    second.insert("c".into(), json!(3));
    for properties in [first, second] {
        store
            .update_contact(
                w.account,
                w.contact.id,
                ContactPatch {
                    properties: Some(properties),
                    ..ContactPatch::default()
                },
            )
            .await
            .unwrap();
    }
    let contact = store.get_contact(w.account, w.contact.id).await.unwrap();
    assert_eq!(Value::Object(contact.properties), json!({"b": 2, "c": 3}));
}
