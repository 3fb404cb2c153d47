//! Appends in batches (`Store::append_items`, and the node's `AppendBatcher` over it): each
//! append of a batch ends as `append_item` would have left it, many conversations share one
//! transaction, and one refused append leaves the others stored.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parley::domain::*;
use parley::store::{AppendBatcher, AppendRequest, DynStore, StoreError, StoreResult};
use serde_json::json;
use uuid::Uuid;

use crate::common::*;
use crate::fixtures::*;

fn append(account: AccountId, conversation: ConversationId, item: NewItem) -> AppendRequest {
    AppendRequest {
        account,
        conversation,
        item,
    }
}

fn stored(result: &StoreResult<Appended>, case: &str) -> Appended {
    match result {
        Ok(appended) => appended.clone(),
        Err(e) => panic!("{case}: expected the append stored, got {e:?}"),
    }
}

fn refused_not_found(result: &StoreResult<Appended>, case: &str) {
    match result {
        Err(StoreError::NotFound {
            entity: "conversation",
        }) => {}
        other => panic!("{case}: expected NotFound(conversation), got {other:?}"),
    }
}

async fn one_batch_appends_to_many_conversations_each_at_its_next_seq(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    // w.conversation already holds two items (a message and the assignment); the others none.
    let mut conversations = vec![w.conversation.clone()];
    for _ in 0..9 {
        conversations.push(conversation(&*store, a, w.chat.id, w.contact.id).await);
    }
    // Interleaved: conversation 0, 1, …, 9, 0, 1, … so no two neighbours share one.
    let mut appends = Vec::new();
    for round in 0..5 {
        for (n, conv) in conversations.iter().enumerate() {
            let item = if round == 4 && n == 0 {
                comment("see @agent", w.admin.id, vec![w.agent.id])
            } else if round % 2 == 0 {
                message(
                    Direction::In,
                    &format!("in {round}/{n}"),
                    Actor::Contact(w.contact.id),
                )
            } else {
                message(
                    Direction::Out,
                    &format!("out {round}/{n}"),
                    Actor::Agent(w.agent.id),
                )
            };
            appends.push(append(a, conv.id, item));
        }
    }
    let events_before = store.list_events(a, 0, 200).await.unwrap().len();

    let results = store.append_items(appends.clone()).await;

    assert_eq!(results.len(), appends.len(), "one result per append");
    let mut per_conversation: BTreeMap<ConversationId, Vec<TimelineItem>> = BTreeMap::new();
    for (i, (result, sent)) in results.iter().zip(&appends).enumerate() {
        let appended = stored(result, &format!("append {i}"));
        assert!(appended.created, "append {i}: a new client id stores");
        let item = appended.item;
        assert_eq!(item.conversation_id, sent.conversation, "append {i}");
        assert_eq!(item.client_id, sent.item.client_id, "append {i}");
        assert_eq!(item.author, sent.item.author, "append {i}");
        per_conversation
            .entry(item.conversation_id)
            .or_default()
            .push(item);
    }
    for conv in &conversations {
        let returned = &per_conversation[&conv.id];
        let seqs: Vec<i64> = returned.iter().map(|i| i.seq).collect();
        let expected: Vec<i64> = (conv.last_seq + 1..=conv.last_seq + 5).collect();
        assert_eq!(
            seqs, expected,
            "conversation {}: its next seqs, in the order given",
            conv.id
        );
        let listed = store
            .list_items(a, conv.id, conv.last_seq, 50)
            .await
            .unwrap();
        assert_eq!(
            &listed, returned,
            "list_items reads back exactly what was returned"
        );
        let after = store.get_conversation(a, conv.id).await.unwrap();
        assert_eq!(after.last_seq, conv.last_seq + 5, "last_seq moved");
        assert_eq!(after.updated_at, returned[4].created_at);
    }

    // The report facts, as append_item writes them, one per item.
    let events = store.list_events(a, 0, 200).await.unwrap();
    let new_events = &events[events_before..];
    assert_eq!(new_events.len(), appends.len(), "one report event per item");
    let by_item: HashMap<Uuid, &Event> = new_events
        .iter()
        .map(|e| {
            let id = e.data["item_id"].as_str().unwrap().parse().unwrap();
            (id, e)
        })
        .collect();
    for item in per_conversation.values().flatten() {
        let event = by_item[&item.id.0];
        let (kind, agent) = match (item.kind, item.direction) {
            (ItemKind::Comment, _) => ("comment.added", Some(w.admin.id)),
            (_, Some(Direction::Out)) => ("message.sent", Some(w.agent.id)),
            _ => ("message.received", None),
        };
        assert_eq!(event.kind, kind, "item {}", item.seq);
        assert_eq!(event.agent_id, agent, "item {}", item.seq);
        assert_eq!(event.conversation_id, Some(item.conversation_id));
        assert_eq!(event.inbox_id, Some(w.inbox.id));
        let mut data = json!({"seq": item.seq, "item_id": item.id});
        if item.kind == ItemKind::Comment {
            data["mentions"] = json!([w.agent.id]);
        }
        assert_eq!(event.data, data, "item {}", item.seq);
    }
}

async fn client_ids_repeat_within_and_across_batches_and_store_once(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let conv = conversation(&*store, a, w.email.id, w.contact.id).await;
    let reply = message(Direction::Out, "Refund sent", Actor::Agent(w.agent.id));
    let note = |text: &str| NewItem {
        client_id: None,
        ..comment(text, w.admin.id, vec![])
    };
    let other = message(Direction::Out, "Anything else?", Actor::Agent(w.agent.id));

    let first = store
        .append_items(vec![
            append(a, conv.id, reply.clone()),
            append(a, conv.id, note("same")),
            append(a, conv.id, reply.clone()),
            append(a, conv.id, note("same")),
        ])
        .await;
    let stored_reply = stored(&first[0], "first");
    assert!(stored_reply.created);
    assert_eq!(stored_reply.item.seq, 1);
    assert_eq!(
        stored_reply.item.delivery_status,
        Some(DeliveryStatus::Pending),
        "an email reply waits for the outbox"
    );
    let repeat = stored(&first[2], "repeat in the same batch");
    assert!(
        !repeat.created,
        "the repeat in the same batch is recognised"
    );
    assert_eq!(
        repeat.item, stored_reply.item,
        "and returns the stored item"
    );
    let (x, y) = (stored(&first[1], "note"), stored(&first[3], "note again"));
    assert!(
        x.created && y.created,
        "items without a client id are never deduplicated"
    );
    assert_eq!((x.item.seq, y.item.seq), (2, 3));

    // A later batch: the retry (with other content, as append_item answers it) and a new one.
    let altered = NewItem {
        client_id: reply.client_id,
        ..comment("something else", w.admin.id, vec![])
    };
    let second = store
        .append_items(vec![
            append(a, conv.id, altered),
            append(a, conv.id, other.clone()),
        ])
        .await;
    let retried = stored(&second[0], "retry in a later batch");
    assert!(!retried.created);
    assert_eq!(
        retried.item, stored_reply.item,
        "the stored item, unchanged"
    );
    let new = stored(&second[1], "new in the later batch");
    assert!(new.created);
    assert_eq!(new.item.seq, 4, "the retry took no seq");

    // And append_item agrees with what the batches stored.
    let single = store.append_item(a, conv.id, other).await.unwrap();
    assert!(!single.created);
    assert_eq!(single.item, new.item);

    let listed = store.list_items(a, conv.id, 0, 50).await.unwrap();
    assert_eq!(
        listed,
        vec![stored_reply.item.clone(), x.item, y.item, new.item.clone()]
    );
    let sent = store
        .list_events(a, 0, 200)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "message.sent")
        .count();
    assert_eq!(sent, 2, "one message.sent per stored reply");
    // Each stored email reply has its outbox row, as append_item writes it.
    let mut jobs = store
        .claim_outbox(Duration::from_secs(60), 10)
        .await
        .unwrap();
    jobs.sort_by_key(|j| j.seq);
    let queued: Vec<TimelineItemId> = jobs.iter().map(|j| j.item_id).collect();
    assert_eq!(queued, vec![stored_reply.item.id, new.item.id]);
}

async fn a_refused_append_leaves_the_rest_of_its_batch_stored(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = World::build(&*store, "acme").await;
    let other = World::build(&*store, "other").await;
    let a = acme.account.id;
    let conv = acme.conversation.clone();
    let closed = conversation(&*store, a, acme.chat.id, acme.contact.id).await;
    store
        .change_conversation(
            a,
            closed.id,
            ConversationChange::Status(ConversationStatus::Closed),
            Actor::System,
        )
        .await
        .unwrap();
    let closed = store.get_conversation(a, closed.id).await.unwrap();
    let contact = Actor::Contact(acme.contact.id);
    let before_other = other.snapshot(&*store).await;

    let results = store
        .append_items(vec![
            append(a, conv.id, message(Direction::In, "first", contact)),
            append(
                a,
                ConversationId::new(),
                message(Direction::In, "nowhere", contact),
            ),
            append(
                a,
                other.conversation.id,
                message(Direction::In, "sneaky", contact),
            ),
            append(a, closed.id, message(Direction::In, "to closed", contact)),
            append(a, conv.id, message(Direction::In, "last", contact)),
        ])
        .await;

    assert_eq!(results.len(), 5);
    let first = stored(&results[0], "first");
    refused_not_found(&results[1], "an unknown conversation");
    refused_not_found(&results[2], "another account's conversation");
    // The store refuses no write to a closed conversation (the sockets do, before storing);
    // a batch answers exactly as append_item does.
    let to_closed = stored(&results[3], "closed conversation");
    assert_eq!(to_closed.item.seq, closed.last_seq + 1);
    let last = stored(&results[4], "last");
    assert_eq!(
        (first.item.seq, last.item.seq),
        (conv.last_seq + 1, conv.last_seq + 2),
        "the refused appends took no seq"
    );
    assert_eq!(
        store
            .list_items(a, conv.id, conv.last_seq, 50)
            .await
            .unwrap(),
        vec![first.item, last.item]
    );
    assert_eq!(
        other.snapshot(&*store).await,
        before_other,
        "the other account is untouched"
    );
    assert!(store.append_items(vec![]).await.is_empty(), "empty batch");
}

/// A database trigger refusing one body stands for any failure a batch cannot foresee: the
/// refused item fails alone, with nothing of it stored, and the others are stored in order.
async fn an_append_failing_in_the_database_fails_alone(backend: Backend) {
    let (store, db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let (one, two) = (
        conversation(&*store, a, w.chat.id, w.contact.id).await,
        conversation(&*store, a, w.chat.id, w.contact.id).await,
    );
    refuse_body_in_database(&db, backend, "explode").await;
    let contact = Actor::Contact(w.contact.id);

    let results = store
        .append_items(vec![
            append(a, one.id, message(Direction::In, "a", contact)),
            append(a, two.id, message(Direction::In, "b", contact)),
            append(a, one.id, message(Direction::In, "explode", contact)),
            append(a, two.id, message(Direction::In, "c", contact)),
            append(a, one.id, message(Direction::In, "d", contact)),
        ])
        .await;

    assert!(
        results[2].is_err(),
        "the refused item fails: {:?}",
        results[2]
    );
    let bodies = |conv: ConversationId| {
        let store = store.clone();
        async move {
            store
                .list_items(a, conv, 0, 50)
                .await
                .unwrap()
                .into_iter()
                .map(|i| (i.seq, i.body.unwrap()))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(bodies(one.id).await, [(1, "a".into()), (2, "d".into())]);
    assert_eq!(bodies(two.id).await, [(1, "b".into()), (2, "c".into())]);
    for (i, seq) in [(0, 1), (1, 1), (3, 2), (4, 2)] {
        assert_eq!(stored(&results[i], "neighbour").item.seq, seq, "append {i}");
    }
    let received = store
        .list_events(a, 0, 200)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "message.received")
        .count();
    assert_eq!(received, 1 + 4, "World's message, and the four stored here");
}

async fn refuse_body_in_database(db: &TestDb, backend: Backend, body: &str) {
    match backend {
        Backend::Postgres => {
            let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            client
                .batch_execute(&format!(
                    "CREATE FUNCTION refuse_body() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN IF NEW.body = '{body}' THEN RAISE EXCEPTION 'refused by the test'; \
                     END IF; RETURN NEW; END $$; \
                     CREATE TRIGGER refuse_body BEFORE INSERT ON timeline_items \
                     FOR EACH ROW EXECUTE FUNCTION refuse_body();"
                ))
                .await
                .unwrap();
        }
        Backend::Sqlite => {
            let path = db.url.trim_start_matches("sqlite://").to_owned();
            let sql = format!(
                "CREATE TRIGGER refuse_body BEFORE INSERT ON timeline_items \
                 WHEN NEW.body = '{body}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
            );
            tokio::task::spawn_blocking(move || {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.execute_batch(&sql).unwrap();
            })
            .await
            .unwrap();
        }
    }
}

/// Many callers at once through the batcher, mixed with single appends: every append stored
/// once, seqs gap-free per conversation, and each caller's appends to a conversation in the
/// order it made them.
async fn concurrent_callers_through_the_batcher_lose_and_double_nothing(backend: Backend) {
    const CALLERS: usize = 16;
    const PER_CALLER: usize = 30;
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let mut conversations = Vec::new();
    for _ in 0..6 {
        conversations.push(conversation(&*store, a, w.chat.id, w.contact.id).await);
    }
    let conversations = Arc::new(conversations);
    // Three lanes: conversations spread over them, so lanes really run side by side.
    let batcher = AppendBatcher::spawn(store.clone(), 3);
    let start = Arc::new(tokio::sync::Barrier::new(CALLERS));

    let callers: Vec<_> = (0..CALLERS)
        .map(|caller| {
            let (store, batcher, start) = (store.clone(), batcher.clone(), start.clone());
            let (conversations, author) = (conversations.clone(), Actor::Agent(w.agent.id));
            tokio::spawn(async move {
                start.wait().await;
                let mut mine = Vec::new();
                for n in 0..PER_CALLER {
                    let conv = conversations[(caller + n) % conversations.len()].id;
                    let item = message(Direction::Out, &format!("{caller}/{n}"), author);
                    // Every fifth append is also retried at once, racing itself; every seventh
                    // goes through append_item alongside the batches.
                    let result = if n % 5 == 0 {
                        let (x, y) = tokio::join!(
                            batcher.append(a, conv, item.clone()),
                            batcher.append(a, conv, item.clone())
                        );
                        let (x, y) = (x.unwrap(), y.unwrap());
                        assert_eq!(x.item, y.item, "caller {caller}: the retry's item");
                        assert!(x.created != y.created, "caller {caller}: stored once");
                        x
                    } else if n % 7 == 0 {
                        single(&store, a, conv, item).await
                    } else {
                        batcher.append(a, conv, item).await.unwrap()
                    };
                    mine.push((conv, result.item));
                }
                mine
            })
        })
        .collect();
    let mut all: Vec<(usize, ConversationId, TimelineItem)> = Vec::new();
    for (caller, task) in callers.into_iter().enumerate() {
        for (conv, item) in task.await.unwrap() {
            all.push((caller, conv, item));
        }
    }

    assert_eq!(all.len(), CALLERS * PER_CALLER);
    for conv in conversations.iter() {
        let listed = store.list_items(a, conv.id, 0, 200).await.unwrap();
        let seqs: Vec<i64> = listed.iter().map(|i| i.seq).collect();
        assert_eq!(
            seqs,
            (1..=listed.len() as i64).collect::<Vec<_>>(),
            "gap-free"
        );
        let mut returned: Vec<&TimelineItem> = all
            .iter()
            .filter(|(_, c, _)| *c == conv.id)
            .map(|(_, _, i)| i)
            .collect();
        returned.sort_by_key(|i| i.seq);
        assert_eq!(
            listed.iter().collect::<Vec<_>>(),
            returned,
            "exactly the items the callers were answered with, each once"
        );
        assert_eq!(
            store.get_conversation(a, conv.id).await.unwrap().last_seq,
            listed.len() as i64
        );
    }
    for caller in 0..CALLERS {
        for conv in conversations.iter() {
            let seqs: Vec<i64> = all
                .iter()
                .filter(|(c, v, _)| *c == caller && *v == conv.id)
                .map(|(_, _, i)| i.seq)
                .collect();
            assert!(
                seqs.windows(2).all(|p| p[0] < p[1]),
                "caller {caller}: its appends in its order: {seqs:?}"
            );
        }
    }
    let mut after = 0;
    let mut sent = 0;
    loop {
        let page = store.list_events(a, after, 200).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.id;
        sent += page.iter().filter(|e| e.kind == "message.sent").count();
    }
    assert_eq!(sent, CALLERS * PER_CALLER, "one report event per message");
}

async fn single(
    store: &DynStore,
    account: AccountId,
    conversation: ConversationId,
    item: NewItem,
) -> Appended {
    store
        .append_item(account, conversation, item)
        .await
        .unwrap()
}

on_both_backends!(
    one_batch_appends_to_many_conversations_each_at_its_next_seq,
    client_ids_repeat_within_and_across_batches_and_store_once,
    a_refused_append_leaves_the_rest_of_its_batch_stored,
    an_append_failing_in_the_database_fails_alone,
    concurrent_callers_through_the_batcher_lose_and_double_nothing,
);
