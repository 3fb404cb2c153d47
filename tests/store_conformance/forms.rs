//! Form submissions: contact (reused by email, gaps filled, nothing overwritten), conversation,
//! inbound message and ticket, all in one transaction; a refusal anywhere writes nothing.

use parley::domain::*;
use parley::store::Store;
use serde_json::json;

use crate::common::*;
use crate::fixtures::*;

fn form_settings() -> serde_json::Map<String, serde_json::Value> {
    object(json!({"fields": [
        {"name": "email", "label": "Email", "kind": "email", "required": true},
        {"name": "message", "label": "Message", "kind": "textarea"},
    ]}))
}

async fn form(store: &dyn Store, account: AccountId, inbox: InboxId) -> Channel {
    store
        .create_channel(
            account,
            NewChannel {
                inbox_id: inbox,
                kind: ChannelKind::Form,
                name: name("Contact us"),
                settings: form_settings(),
            },
        )
        .await
        .unwrap()
}

fn submission(channel: ChannelId, address: &str) -> NewFormSubmission {
    NewFormSubmission {
        channel_id: channel,
        email: Some(email(address)),
        name: Some(name("Sam Field")),
        phone: None,
        properties: object(json!({"plan": "basic", "seats": 4})),
        title: name("Broken invoice"),
        body: body("Email: x\nMessage: my invoice is wrong"),
        ticket_owner_id: None,
    }
}

async fn a_submission_stores_contact_conversation_message_and_ticket(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let form = form(&*store, a, w.inbox.id).await;

    let mut first = submission(form.id, "sam@example.com");
    first.ticket_owner_id = Some(w.agent.id);
    let stored = store.store_form_submission(a, first).await.unwrap();
    assert!(stored.contact_created);
    let contact = store.get_contact(a, stored.contact.id).await.unwrap();
    assert_eq!(contact.email, Some(email("sam@example.com")));
    assert_eq!(contact.name, Some(name("Sam Field")));
    assert_eq!(
        contact.properties,
        object(json!({"plan": "basic", "seats": 4}))
    );

    let conversation = store
        .get_conversation(a, stored.conversation.id)
        .await
        .unwrap();
    assert_eq!(conversation, stored.conversation, "returned as stored");
    assert_eq!(
        (
            conversation.channel_id,
            conversation.inbox_id,
            conversation.contact_id
        ),
        (form.id, w.inbox.id, contact.id)
    );
    assert_eq!(conversation.subject.as_deref(), Some("Broken invoice"));
    assert_eq!(conversation.status, ConversationStatus::Open);
    let items = store.list_items(a, conversation.id, 0, 10).await.unwrap();
    assert_eq!(items, vec![stored.item.clone()]);
    assert_eq!(items[0].direction, Some(Direction::In));
    assert_eq!(items[0].author, Actor::Contact(contact.id));
    assert_eq!(
        items[0].body.as_deref(),
        Some("Email: x\nMessage: my invoice is wrong")
    );

    let ticket = store.get_ticket(a, stored.ticket.id).await.unwrap();
    assert_eq!(ticket, stored.ticket);
    assert_eq!(ticket.title, "Broken invoice");
    assert_eq!(ticket.conversation_id, Some(conversation.id));
    assert_eq!(ticket.contact_id, Some(contact.id));
    assert_eq!(ticket.inbox_id, w.inbox.id);
    assert_eq!(ticket.owner_id, Some(w.agent.id));
    assert_eq!(ticket.stage, TicketStage::New);

    let kinds: Vec<String> = store
        .list_events(a, 0, 200)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.conversation_id == Some(conversation.id))
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, vec!["conversation.created", "message.received"]);
}

async fn a_known_email_reuses_the_contact_and_only_fills_its_gaps(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let form = form(&*store, a, w.inbox.id).await;
    // World's contact: pat@example.com, "Pat Doe", phone, {"plan": "pro"}.
    let mut again = submission(form.id, "PAT@example.com");
    again.phone = Some(phone("+44 20 7946 0000"));
    let stored = store.store_form_submission(a, again).await.unwrap();
    assert!(!stored.contact_created);
    assert_eq!(stored.contact.id, w.contact.id);
    let contact = store.get_contact(a, w.contact.id).await.unwrap();
    assert_eq!(contact.name, Some(name("Pat Doe")), "not overwritten");
    assert_eq!(contact.phone, w.contact.phone, "not overwritten");
    assert_eq!(
        contact.properties,
        object(json!({"plan": "pro", "seats": 4})),
        "missing property added, existing kept"
    );
    assert_eq!(stored.conversation.contact_id, w.contact.id);
    assert_ne!(
        stored.conversation.id, w.conversation.id,
        "a new conversation"
    );

    let none = NewFormSubmission {
        email: None,
        ..submission(form.id, "unused@example.com")
    };
    let anonymous = store.store_form_submission(a, none).await.unwrap();
    assert!(anonymous.contact_created, "no email: a new contact");
    assert_eq!(anonymous.contact.email, None);
}

async fn a_refused_submission_writes_nothing(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let other = World::build(&*store, "other").await;
    let a = w.account.id;
    let form = form(&*store, a, w.inbox.id).await;
    let foreign_form = form_in(&*store, &other).await;
    let before = w.snapshot(&*store).await;
    let form_channels_before = store.list_channels(a, None).await.unwrap();

    // The ticket is the last row written: an owner who is no agent of the account is refused
    // after the contact, conversation and message were inserted, and none of them may remain.
    for address in ["new@example.com", "pat@example.com"] {
        let mut refused = submission(form.id, address);
        refused.ticket_owner_id = Some(AgentId::new());
        assert_invalid(
            store.store_form_submission(a, refused).await,
            "owner_id",
            "unknown ticket owner",
        );
        let mut foreign_owner = submission(form.id, address);
        foreign_owner.ticket_owner_id = Some(other.agent.id);
        assert_invalid(
            store.store_form_submission(a, foreign_owner).await,
            "owner_id",
            "another account's agent",
        );
    }
    assert_invalid(
        store
            .store_form_submission(a, submission(w.chat.id, "new@example.com"))
            .await,
        "channel_id",
        "a chat channel",
    );
    assert_invalid(
        store
            .store_form_submission(a, submission(foreign_form.id, "new@example.com"))
            .await,
        "channel_id",
        "another account's form",
    );
    assert_eq!(w.snapshot(&*store).await, before, "nothing written");
    assert_eq!(
        store.list_channels(a, None).await.unwrap(),
        form_channels_before
    );
    let form_conversations = store
        .list_conversations(
            a,
            ConversationFilter {
                channel_id: Some(form.id),
                ..Default::default()
            },
            all(),
        )
        .await
        .unwrap();
    assert!(form_conversations.items.is_empty());
}

async fn form_in(store: &dyn Store, w: &World) -> Channel {
    form(store, w.account.id, w.inbox.id).await
}

async fn a_form_channel_is_found_by_id_alone(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let form = form(&*store, w.account.id, w.inbox.id).await;
    assert_eq!(store.find_form_channel(form.id).await.unwrap(), Some(form));
    assert_eq!(
        store.find_form_channel(w.chat.id).await.unwrap(),
        None,
        "not a form"
    );
    assert_eq!(
        store.find_form_channel(ChannelId::new()).await.unwrap(),
        None
    );
}

async fn simultaneous_submissions_with_one_new_email_share_one_contact(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let form = form(&*store, a, w.inbox.id).await;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let start = start.clone();
            let submission = submission(form.id, "rush@example.com");
            tokio::spawn(async move {
                start.wait().await;
                store.store_form_submission(a, submission).await
            })
        })
        .collect();
    let mut contacts = std::collections::BTreeSet::new();
    let mut created = 0;
    for task in tasks {
        let stored = task.await.unwrap().unwrap();
        contacts.insert(stored.contact.id.0);
        created += usize::from(stored.contact_created);
    }
    assert_eq!(contacts.len(), 1, "one contact for one address");
    assert_eq!(created, 1, "created once, reused seven times");
    let tickets = store
        .list_tickets(
            a,
            TicketFilter {
                inbox_id: Some(w.inbox.id),
                ..Default::default()
            },
            all(),
        )
        .await
        .unwrap();
    assert_eq!(
        tickets.items.len(),
        1 + 8,
        "World's ticket and one per submission"
    );
}

on_both_backends!(
    simultaneous_submissions_with_one_new_email_share_one_contact,
    a_submission_stores_contact_conversation_message_and_ticket,
    a_known_email_reuses_the_contact_and_only_fills_its_gaps,
    a_refused_submission_writes_nothing,
    a_form_channel_is_found_by_id_alone,
);
