//! Report events: written by the store with each change (the table in docs/store.md), listed
//! after an id, appended directly, and refused by the schema itself on update or delete.

use parley::domain::*;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::common::*;
use crate::fixtures::*;

/// What a test can know of an event before the store writes it.
#[derive(Debug, PartialEq)]
struct Expected {
    kind: String,
    inbox_id: Option<InboxId>,
    conversation_id: Option<ConversationId>,
    agent_id: Option<AgentId>,
    data: Value,
}

fn seen(e: &Event) -> Expected {
    Expected {
        kind: e.kind.clone(),
        inbox_id: e.inbox_id,
        conversation_id: e.conversation_id,
        agent_id: e.agent_id,
        data: e.data.clone(),
    }
}

fn id<T: std::fmt::Display>(id: T) -> Value {
    json!(id.to_string())
}

async fn store_writes_a_report_event_for_each_change(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let a = acme.id;
    let ann = agent(&*store, a, "ann@acme.test").await.id;
    let bob = agent(&*store, a, "bob@acme.test").await.id;
    let team = store.create_team(a, name("T"), vec![ann]).await.unwrap().id;
    let sales = inbox(&*store, a, "Sales").await.id;
    let mail = channel(&*store, a, sales, ChannelKind::Email).await.id;
    let pat = contact(&*store, a, Some("pat@example.com"), None).await.id;
    let started = OffsetDateTime::now_utc() - Duration::seconds(5);

    let conv = store
        .create_conversation(a, new_conversation(mail, pat), Actor::Agent(ann))
        .await
        .unwrap()
        .id;
    let by_visitor = store
        .create_conversation(a, new_conversation(mail, pat), Actor::Contact(pat))
        .await
        .unwrap()
        .id;
    let status = |s| ConversationChange::Status(s);
    store
        .change_conversation(
            a,
            conv,
            status(ConversationStatus::Pending),
            Actor::Agent(ann),
        )
        .await
        .unwrap();
    // Changes that change nothing write no event either.
    store
        .change_conversation(
            a,
            conv,
            status(ConversationStatus::Pending),
            Actor::Agent(ann),
        )
        .await
        .unwrap();
    let assign = ConversationChange::Assign {
        assignee_id: Some(bob),
        team_id: Some(team),
    };
    store
        .change_conversation(a, conv, assign.clone(), Actor::System)
        .await
        .unwrap();
    store
        .change_conversation(a, conv, assign, Actor::System)
        .await
        .unwrap();
    let inbound = message(Direction::In, "Hello", Actor::Contact(pat));
    let received = store
        .append_item(a, conv, inbound.clone())
        .await
        .unwrap()
        .item;
    // A retry of the same message is the same message: no second event.
    store.append_item(a, conv, inbound).await.unwrap();
    let sent = store
        .append_item(a, conv, message(Direction::Out, "Hi!", Actor::Agent(bob)))
        .await
        .unwrap()
        .item;
    let noted = store
        .append_item(a, conv, comment("@ann look", bob, vec![ann]))
        .await
        .unwrap()
        .item;
    // Event items appended directly are not report events.
    store
        .append_item(a, conv, event_item(json!({"type": "bot_step"})))
        .await
        .unwrap();

    let events = store.list_events(a, 0, 200).await.unwrap();
    let c = Some(conv);
    let expected = vec![
        Expected {
            kind: "conversation.created".into(),
            inbox_id: Some(sales),
            conversation_id: c,
            agent_id: Some(ann),
            data: json!({"channel_id": id(mail), "channel_kind": "email", "contact_id": id(pat)}),
        },
        Expected {
            kind: "conversation.created".into(),
            inbox_id: Some(sales),
            conversation_id: Some(by_visitor),
            agent_id: None,
            data: json!({"channel_id": id(mail), "channel_kind": "email", "contact_id": id(pat)}),
        },
        Expected {
            kind: "conversation.status_changed".into(),
            inbox_id: Some(sales),
            conversation_id: c,
            agent_id: Some(ann),
            data: json!({"from": "open", "to": "pending"}),
        },
        Expected {
            kind: "conversation.assigned".into(),
            inbox_id: Some(sales),
            conversation_id: c,
            agent_id: None,
            data: json!({"assignee_id": id(bob), "team_id": id(team),
                "previous_assignee_id": null, "previous_team_id": null}),
        },
        Expected {
            kind: "message.received".into(),
            inbox_id: Some(sales),
            conversation_id: c,
            agent_id: None,
            data: json!({"seq": received.seq, "item_id": id(received.id)}),
        },
        Expected {
            kind: "message.sent".into(),
            inbox_id: Some(sales),
            conversation_id: c,
            agent_id: Some(bob),
            data: json!({"seq": sent.seq, "item_id": id(sent.id)}),
        },
        Expected {
            kind: "comment.added".into(),
            inbox_id: Some(sales),
            conversation_id: c,
            agent_id: Some(bob),
            data: json!({"seq": noted.seq, "item_id": id(noted.id), "mentions": [id(ann)]}),
        },
    ];
    let got: Vec<Expected> = events.iter().map(seen).collect();
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "event {i} ({})", e.kind);
    }
    assert_eq!(got.len(), expected.len(), "number of events: {got:#?}");
    for e in &events {
        assert_eq!(e.account_id, a);
        assert!(
            e.occurred_at >= started && e.occurred_at <= OffsetDateTime::now_utc(),
            "{}: occurred_at is the time of the change",
            e.kind
        );
    }
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
}

async fn lists_events_after_an_id(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let globex = account(&*store, "Globex").await;
    let mut appended = vec![];
    for i in 0..5 {
        let occurred_at = now_micros() - Duration::minutes(i);
        // Interleaved with another account's events, so ids of one account have gaps.
        let new = |kind: &str| NewEvent {
            kind: kind.into(),
            inbox_id: None,
            conversation_id: None,
            agent_id: None,
            data: json!({"n": i, "nested": {"list": [1, "two", null]}}),
            occurred_at,
        };
        store
            .append_event(globex.id, new("bot.step_entered"))
            .await
            .unwrap();
        let event = store
            .append_event(acme.id, new("bot.started"))
            .await
            .unwrap();
        assert_eq!(event.account_id, acme.id);
        assert_eq!(event.kind, "bot.started");
        assert_eq!(event.data, new("x").data);
        assert_eq!(event.occurred_at, occurred_at, "occurred_at as given");
        appended.push(event);
    }
    let ids: Vec<i64> = appended.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    let cases: Vec<(&str, i64, u32, &[Event])> = vec![
        ("all", 0, 200, &appended),
        ("after the second", ids[1], 200, &appended[2..]),
        ("after a gap id", ids[1] + 1, 200, &appended[2..]),
        ("limit 2", 0, 2, &appended[..2]),
        ("after the last", ids[4], 200, &[]),
    ];
    for (case, after, limit, expected) in cases {
        assert_eq!(
            store.list_events(acme.id, after, limit).await.unwrap(),
            expected,
            "list_events {case}"
        );
    }
}

async fn append_event_keeps_its_references(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let new = NewEvent {
        kind: "bot.handed_off".into(),
        inbox_id: Some(w.inbox.id),
        conversation_id: Some(w.conversation.id),
        agent_id: Some(w.agent.id),
        data: json!({"step": "s3", "flow_version": 2}),
        occurred_at: now_micros(),
    };
    let event = store.append_event(a, new.clone()).await.unwrap();
    assert_eq!(
        (event.inbox_id, event.conversation_id, event.agent_id),
        (new.inbox_id, new.conversation_id, new.agent_id)
    );
    let listed = store.list_events(a, 0, 200).await.unwrap();
    assert_eq!(listed.last(), Some(&event), "the newest event");
}

async fn schema_refuses_to_update_or_delete_events(backend: Backend) {
    let (store, db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let before = store.list_events(w.account.id, 0, 200).await.unwrap();
    assert!(!before.is_empty(), "the fixture wrote events");
    for sql in [
        "UPDATE events SET id = id",
        "UPDATE events SET kind = 'tampered'",
        "DELETE FROM events",
    ] {
        let result = raw_execute(backend, &db.url, sql).await;
        assert!(
            result.is_err(),
            "{sql}: refused by the schema, got {result:?}"
        );
    }
    assert_eq!(
        store.list_events(w.account.id, 0, 200).await.unwrap(),
        before
    );
}

async fn event_listing_is_per_account(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let a = World::build(&*store, "a").await;
    let b = World::build(&*store, "b").await;
    for (w, other) in [(&a, &b), (&b, &a)] {
        let events = store.list_events(w.account.id, 0, 200).await.unwrap();
        assert!(!events.is_empty());
        for e in events {
            assert_eq!(e.account_id, w.account.id);
            assert_ne!(e.conversation_id, Some(other.conversation.id));
            assert_ne!(e.inbox_id, Some(other.inbox.id));
        }
    }
}

async fn timestamps_read_back_truncated_to_microseconds(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let precise = now_micros().replace_nanosecond(123_456_789).unwrap();
    let truncated = precise.replace_nanosecond(123_456_000).unwrap();
    store
        .append_event(
            a,
            NewEvent {
                kind: "bot.started".into(),
                inbox_id: None,
                conversation_id: None,
                agent_id: None,
                data: json!({}),
                occurred_at: precise,
            },
        )
        .await
        .unwrap();
    let listed = store.list_events(a, 0, 200).await.unwrap();
    assert_eq!(
        listed.last().unwrap().occurred_at,
        truncated,
        "event occurred_at"
    );

    let later = precise + Duration::hours(1);
    store
        .create_session(Session {
            token_hash: format!("{:0>64}", "precise"),
            account_id: a,
            agent_id: w.admin.id,
            csrf_token: "c".into(),
            expires_at: later,
        })
        .await
        .unwrap();
    let (session, _) = store
        .find_session(&format!("{:0>64}", "precise"), precise)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        session.expires_at,
        later.replace_nanosecond(123_456_000).unwrap(),
        "session expires_at"
    );
}

on_both_backends!(
    timestamps_read_back_truncated_to_microseconds,
    store_writes_a_report_event_for_each_change,
    lists_events_after_an_id,
    append_event_keeps_its_references,
    schema_refuses_to_update_or_delete_events,
    event_listing_is_per_account,
);
