//! Appends racing each other: `seq` without gaps or duplicates, and one stored item per
//! client id however many retries arrive at once.

use std::sync::Arc;

use parley::domain::*;
use parley::store::DynStore;
use uuid::Uuid;

use crate::common::*;
use crate::fixtures::*;

/// Appends `items` to `conversation`, each from its own task, all started together.
async fn append_all(
    store: &DynStore,
    account: AccountId,
    conversation: ConversationId,
    items: Vec<NewItem>,
) -> Vec<Appended> {
    let start = Arc::new(tokio::sync::Barrier::new(items.len()));
    let tasks: Vec<_> = items
        .into_iter()
        .map(|item| {
            let store = store.clone();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                store.append_item(account, conversation, item).await
            })
        })
        .collect();
    let mut out = vec![];
    for (i, task) in tasks.into_iter().enumerate() {
        let result = task.await.expect("task");
        out.push(result.unwrap_or_else(|e| panic!("append {i}: {e:?}")));
    }
    out
}

async fn fifty_concurrent_appends_get_seq_1_to_50(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let a = acme.id;
    let sales = inbox(&*store, a, "Sales").await;
    let chat = channel(&*store, a, sales.id, ChannelKind::Chat).await;
    let pat = contact(&*store, a, None, Some("Pat")).await;
    let conv = conversation(&*store, a, chat.id, pat.id).await;

    let items = (0..50)
        .map(|i| {
            message(
                Direction::In,
                &format!("message {i}"),
                Actor::Contact(pat.id),
            )
        })
        .collect();
    let mut appended = append_all(&store, a, conv.id, items).await;
    assert!(
        appended.iter().all(|x| x.created),
        "50 distinct client ids, 50 items"
    );
    appended.sort_by_key(|x| x.item.seq);
    let seqs: Vec<i64> = appended.iter().map(|x| x.item.seq).collect();
    assert_eq!(
        seqs,
        (1..=50).collect::<Vec<_>>(),
        "returned seqs: no gap, no duplicate"
    );

    let listed = store.list_items(a, conv.id, 0, 200).await.unwrap();
    let returned: Vec<TimelineItem> = appended.into_iter().map(|x| x.item).collect();
    assert_eq!(
        listed, returned,
        "list_items shows exactly the returned items, by seq"
    );
    assert_eq!(
        store.get_conversation(a, conv.id).await.unwrap().last_seq,
        50
    );
}

async fn concurrent_appends_to_two_conversations_number_each_separately(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let first = conversation(&*store, a, w.chat.id, w.contact.id).await;
    let second = conversation(&*store, a, w.email.id, w.contact.id).await;
    let make = |n: usize| -> Vec<NewItem> {
        (0..n)
            .map(|i| {
                message(
                    Direction::Out,
                    &format!("reply {i}"),
                    Actor::Agent(w.agent.id),
                )
            })
            .collect()
    };
    let (x, y) = tokio::join!(
        append_all(&store, a, first.id, make(25)),
        append_all(&store, a, second.id, make(25)),
    );
    for (case, conv, appended) in [("first", first.id, x), ("second", second.id, y)] {
        let mut seqs: Vec<i64> = appended.iter().map(|x| x.item.seq).collect();
        seqs.sort();
        assert_eq!(seqs, (1..=25).collect::<Vec<_>>(), "{case}");
        assert!(
            appended.iter().all(|x| x.item.conversation_id == conv),
            "{case}"
        );
        let listed = store.list_items(a, conv, 0, 200).await.unwrap();
        assert_eq!(listed.len(), 25, "{case}");
    }
}

async fn appending_the_same_client_id_twice_stores_once(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let conv = conversation(&*store, a, w.email.id, w.contact.id).await;
    let new = message(
        Direction::Out,
        "Your refund is on its way",
        Actor::Agent(w.agent.id),
    );
    let first = store.append_item(a, conv.id, new.clone()).await.unwrap();
    let again = store.append_item(a, conv.id, new.clone()).await.unwrap();
    assert!(first.created, "first append stores");
    assert!(!again.created, "the retry is recognised");
    assert_eq!(again.item, first.item, "the retry returns the stored item");

    // A retry whose content differs still returns what was stored, unchanged.
    let altered = NewItem {
        client_id: new.client_id,
        ..comment("something else", w.admin.id, vec![])
    };
    let third = store.append_item(a, conv.id, altered).await.unwrap();
    assert!(!third.created);
    assert_eq!(third.item, first.item);

    assert_eq!(
        store.list_items(a, conv.id, 0, 50).await.unwrap(),
        vec![first.item]
    );
    assert_eq!(
        store.get_conversation(a, conv.id).await.unwrap().last_seq,
        1
    );

    // Items without a client id are never deduplicated.
    let note = |text: &str| NewItem {
        client_id: None,
        ..comment(text, w.admin.id, vec![])
    };
    let x = store.append_item(a, conv.id, note("same")).await.unwrap();
    let y = store.append_item(a, conv.id, note("same")).await.unwrap();
    assert!(x.created && y.created);
    assert_eq!((x.item.seq, y.item.seq), (2, 3));
}

async fn twenty_concurrent_appends_with_one_client_id_store_once(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let conv = conversation(&*store, a, w.email.id, w.contact.id).await;
    let client_id = Some(Uuid::new_v4());
    let items = (0..20)
        .map(|_| NewItem {
            client_id,
            ..message(Direction::Out, "Sent once", Actor::Agent(w.agent.id))
        })
        .collect();
    let appended = append_all(&store, a, conv.id, items).await;
    let created = appended.iter().filter(|x| x.created).count();
    assert_eq!(
        created, 1,
        "exactly one of 20 racing retries stores the item"
    );
    let stored = appended.iter().find(|x| x.created).unwrap().item.clone();
    assert_eq!(stored.seq, 1);
    for (i, x) in appended.iter().enumerate() {
        assert_eq!(x.item, stored, "append {i} returns the one stored item");
    }
    assert_eq!(
        store.list_items(a, conv.id, 0, 50).await.unwrap(),
        vec![stored]
    );
    assert_eq!(
        store.get_conversation(a, conv.id).await.unwrap().last_seq,
        1
    );
    let events = store.list_events(a, 0, 200).await.unwrap();
    let sent = events
        .iter()
        .filter(|e| e.kind == "message.sent" && e.conversation_id == Some(conv.id))
        .count();
    assert_eq!(sent, 1, "one message.sent report event");
}

on_both_backends!(
    fifty_concurrent_appends_get_seq_1_to_50,
    concurrent_appends_to_two_conversations_number_each_separately,
    appending_the_same_client_id_twice_stores_once,
    twenty_concurrent_appends_with_one_client_id_store_once,
);
