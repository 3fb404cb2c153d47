//! The timeline: messages, comments and events in `seq` order, read after a seq, and which
//! messages start with a delivery status.

use parley::domain::*;
use parley::store::MAX_PAGE_SIZE;
use serde_json::json;
use uuid::Uuid;

use crate::common::*;
use crate::fixtures::*;

async fn appends_messages_comments_and_events_in_seq_order(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let a = acme.id;
    let ann = agent(&*store, a, "ann@acme.test").await;
    let bob = agent(&*store, a, "bob@acme.test").await;
    let sales = inbox(&*store, a, "Sales").await;
    let chat = channel(&*store, a, sales.id, ChannelKind::Chat).await;
    let pat = contact(&*store, a, None, Some("Pat")).await;
    let conv = conversation(&*store, a, chat.id, pat.id).await;

    let inbound = message(
        Direction::In,
        "Hi, my order is late",
        Actor::Contact(pat.id),
    );
    let outbound = message(Direction::Out, "Let me check.", Actor::Agent(ann.id));
    let mentions = sorted(&[ann.id, bob.id]);
    let note = comment("@bob can you look?", ann.id, mentions.clone());
    let step = event_item(json!({"type": "bot_step", "step": "greeting"}));
    let mut stored = vec![];
    for new in [
        inbound.clone(),
        outbound.clone(),
        note.clone(),
        step.clone(),
    ] {
        let appended = store.append_item(a, conv.id, new.clone()).await.unwrap();
        assert!(appended.created, "a new item");
        let item = appended.item;
        assert_eq!(item.conversation_id, conv.id);
        assert_eq!(item.client_id, new.client_id);
        assert_eq!(item.author, new.author);
        assert_eq!(item.delivery_error, None);
        stored.push(item);
    }
    let seqs: Vec<i64> = stored.iter().map(|i| i.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4], "seq 1, 2, 3, 4 in append order");
    let [m_in, m_out, c, e] = <[TimelineItem; 4]>::try_from(stored.clone()).unwrap();
    assert_eq!(
        (m_in.kind, m_in.direction, m_in.body.as_deref()),
        (
            ItemKind::Message,
            Some(Direction::In),
            Some("Hi, my order is late")
        )
    );
    assert_eq!(
        (m_out.kind, m_out.direction, m_out.body.as_deref()),
        (
            ItemKind::Message,
            Some(Direction::Out),
            Some("Let me check.")
        )
    );
    assert_eq!(
        m_out.delivery_status, None,
        "outbound on chat has no delivery status"
    );
    assert_eq!(
        (c.kind, c.body.as_deref()),
        (ItemKind::Comment, Some("@bob can you look?"))
    );
    assert_eq!(c.mentions, mentions);
    assert_eq!(c.direction, None);
    assert_eq!(e.kind, ItemKind::Event);
    assert_eq!(
        e.data,
        Some(json!({"type": "bot_step", "step": "greeting"}))
    );
    assert_eq!(
        (e.body.clone(), e.direction, e.client_id),
        (None, None, None)
    );
    for item in [&m_in, &m_out, &e] {
        assert!(item.mentions.is_empty(), "seq {}: no mentions", item.seq);
    }
    for item in [&m_in, &m_out, &c] {
        assert_eq!(item.data, None, "seq {}: no event data", item.seq);
    }

    let cases: Vec<(&str, i64, u32, Vec<TimelineItem>)> = vec![
        ("all", 0, 50, stored.clone()),
        ("after 2", 2, 50, stored[2..].to_vec()),
        ("after 1, limit 2", 1, 2, stored[1..3].to_vec()),
        ("limit 1", 0, 1, stored[..1].to_vec()),
        ("after the last", 4, 50, vec![]),
        ("after beyond the last", 99, 50, vec![]),
    ];
    for (case, after, limit, expected) in cases {
        assert_eq!(
            store.list_items(a, conv.id, after, limit).await.unwrap(),
            expected,
            "list_items {case}"
        );
    }
    let after = store.get_conversation(a, conv.id).await.unwrap();
    assert_eq!(after.last_seq, 4);
    assert!(after.updated_at >= conv.updated_at);
    assert_not_found(
        store
            .append_item(
                a,
                ConversationId::new(),
                message(Direction::In, "x", Actor::Bot),
            )
            .await,
        "append to an unknown conversation",
    );
    // Not an empty timeline: the conversation the client names does not exist.
    assert_not_found(
        store.list_items(a, ConversationId::new(), 0, 50).await,
        "items of an unknown conversation",
    );
}

async fn append_moves_the_conversation_forward(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let before = store.get_conversation(a, w.conversation.id).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let item = store
        .append_item(
            a,
            w.conversation.id,
            message(Direction::Out, "On its way", Actor::Agent(w.agent.id)),
        )
        .await
        .unwrap()
        .item;
    let after = store.get_conversation(a, w.conversation.id).await.unwrap();
    assert_eq!(item.seq, before.last_seq + 1);
    assert_eq!(after.last_seq, item.seq, "last_seq is the new item's seq");
    assert!(after.updated_at > before.updated_at, "updated_at moves");
    assert_eq!(
        Conversation {
            last_seq: before.last_seq,
            updated_at: before.updated_at,
            ..after
        },
        before,
        "nothing else changes"
    );
}

async fn outbound_messages_start_pending_except_on_chat(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let a = acme.id;
    let ann = agent(&*store, a, "ann@acme.test").await;
    let sales = inbox(&*store, a, "Sales").await;
    let pat = contact(&*store, a, None, Some("Pat")).await;
    for kind in ChannelKind::ALL.iter().copied() {
        let ch = channel(&*store, a, sales.id, kind).await;
        let conv = conversation(&*store, a, ch.id, pat.id).await;
        let expected_out = match kind {
            ChannelKind::Chat => None,
            ChannelKind::Email | ChannelKind::Messenger | ChannelKind::Form => {
                Some(DeliveryStatus::Pending)
            }
        };
        let cases = [
            (
                "outbound message",
                message(Direction::Out, "Reply", Actor::Agent(ann.id)),
                expected_out,
            ),
            (
                "outbound message by a bot",
                message(Direction::Out, "Bot reply", Actor::Bot),
                expected_out,
            ),
            (
                "inbound message",
                message(Direction::In, "Question", Actor::Contact(pat.id)),
                None,
            ),
            ("comment", comment("Internal", ann.id, vec![]), None),
            ("event", event_item(json!({"type": "note"})), None),
        ];
        for (case, new, expected) in cases {
            let item = store.append_item(a, conv.id, new).await.unwrap().item;
            assert_eq!(item.delivery_status, expected, "{kind}: {case}");
            assert_eq!(item.delivery_error, None, "{kind}: {case}");
            let read = store.list_items(a, conv.id, item.seq - 1, 1).await.unwrap();
            assert_eq!(read, vec![item], "{kind}: {case}: read back");
        }
    }
}

async fn list_items_clamps_the_limit(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let start = store
        .get_conversation(a, w.conversation.id)
        .await
        .unwrap()
        .last_seq;
    for i in 0..(MAX_PAGE_SIZE as i64 + 5 - start) {
        store
            .append_item(a, w.conversation.id, event_item(json!({"n": i})))
            .await
            .unwrap();
    }
    let items = store
        .list_items(a, w.conversation.id, 0, 10_000)
        .await
        .unwrap();
    assert_eq!(items.len(), MAX_PAGE_SIZE as usize, "at most MAX_PAGE_SIZE");
    let seqs: Vec<i64> = items.iter().map(|i| i.seq).collect();
    assert_eq!(seqs, (1..=MAX_PAGE_SIZE as i64).collect::<Vec<_>>());
    let rest = store
        .list_items(a, w.conversation.id, 200, 10_000)
        .await
        .unwrap();
    assert_eq!(rest.len(), 5);
}

async fn same_client_id_in_two_conversations_is_two_items(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let other = conversation(&*store, a, w.email.id, w.contact.id).await;
    let client_id = Uuid::new_v4();
    let new = NewItem {
        client_id: Some(client_id),
        ..message(Direction::Out, "Same key", Actor::Agent(w.agent.id))
    };
    let first = store
        .append_item(a, w.conversation.id, new.clone())
        .await
        .unwrap();
    let second = store.append_item(a, other.id, new).await.unwrap();
    assert!(
        first.created && second.created,
        "a client id is per conversation"
    );
    assert_ne!(first.item.id, second.item.id);
    assert_eq!(second.item.conversation_id, other.id);
    assert_eq!(second.item.seq, 1);
}

on_both_backends!(
    appends_messages_comments_and_events_in_seq_order,
    append_moves_the_conversation_forward,
    outbound_messages_start_pending_except_on_chat,
    list_items_clamps_the_limit,
    same_client_id_in_two_conversations_is_two_items,
);
