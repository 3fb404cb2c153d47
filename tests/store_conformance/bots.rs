//! Bot runs: a bot's turn (its messages, its state, its report facts) is stored in one
//! transaction, the state survives reopening the store, and another account sees nothing.

use parley::domain::*;
use serde_json::json;

use crate::common::*;
use crate::fixtures::*;

fn said(text: &str) -> NewItemContent {
    NewItemContent::Message {
        direction: Direction::Out,
        body: body(text),
    }
}

async fn a_bot_turn_stores_messages_state_and_facts_together(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let a = acme.id;
    let sales = inbox(&*store, a, "Sales").await;
    let chat = channel(&*store, a, sales.id, ChannelKind::Chat).await;
    let flow = store
        .create_chatflow(a, new_chatflow(chat.id, "Qualify", 0))
        .await
        .unwrap();
    let pat = contact(&*store, a, None, Some("Pat")).await;
    let conv = conversation(&*store, a, chat.id, pat.id).await;
    assert_eq!(store.get_bot_run(a, conv.id).await.unwrap(), None);
    let events_before = store.list_events(a, 0, 1000).await.unwrap().len();

    let first = BotTurn {
        conversation_id: conv.id,
        chatflow_id: flow.id,
        state: json!({"current_step": "ask_email", "attempts": 0}),
        finished: false,
        items: vec![
            said("Hi! I'm the Acme bot."),
            said("What's your email?"),
            NewItemContent::Event {
                data: json!({"type": "bot.quick_replies", "replies": []}),
            },
        ],
        facts: vec![
            BotFact {
                kind: "bot.step".into(),
                data: json!({"step": "greet", "kind": "completed"}),
            },
            BotFact {
                kind: "bot.step".into(),
                data: json!({"step": "ask_email", "kind": "entered"}),
            },
        ],
    };
    let items = store.save_bot_turn(a, first).await.unwrap();
    let seqs: Vec<i64> = items.iter().map(|i| i.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3], "in order, after what was there");
    assert!(
        items
            .iter()
            .all(|i| i.author == Actor::Bot && i.client_id.is_none())
    );
    assert_eq!(items[1].body.as_deref(), Some("What's your email?"));
    assert_eq!(
        items[0].delivery_status, None,
        "chat messages go out live, not through the outbox"
    );
    let run = store.get_bot_run(a, conv.id).await.unwrap().expect("saved");
    assert_eq!(
        (run.conversation_id, run.chatflow_id, run.finished),
        (conv.id, flow.id, false)
    );
    assert_eq!(run.state["current_step"], "ask_email");
    let conv_now = store.get_conversation(a, conv.id).await.unwrap();
    assert_eq!(conv_now.last_seq, 3);

    let events = store.list_events(a, 0, 1000).await.unwrap();
    let new: Vec<_> = events[events_before..]
        .iter()
        .map(|e| (e.kind.as_str(), e.conversation_id, e.agent_id))
        .collect();
    assert_eq!(
        new,
        vec![
            ("message.sent", Some(conv.id), None),
            ("message.sent", Some(conv.id), None),
            ("bot.step", Some(conv.id), None),
            ("bot.step", Some(conv.id), None),
        ],
        "the bot's messages count as sent by nobody; its facts follow"
    );
    assert_eq!(events.last().unwrap().data["step"], "ask_email");

    // The next turn replaces the state; a turn may say nothing.
    let done = BotTurn {
        conversation_id: conv.id,
        chatflow_id: flow.id,
        state: json!({"current_step": "end", "finished": true}),
        finished: true,
        items: vec![],
        facts: vec![BotFact {
            kind: "bot.finished".into(),
            data: json!({"outcome": "completed"}),
        }],
    };
    assert!(store.save_bot_turn(a, done).await.unwrap().is_empty());
    let run = store.get_bot_run(a, conv.id).await.unwrap().unwrap();
    assert!(run.finished);
    assert_eq!(run.state["current_step"], "end");
}

async fn a_bot_turn_in_another_accounts_conversation_writes_nothing(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let other = account(&*store, "Other").await;
    let sales = inbox(&*store, acme.id, "Sales").await;
    let chat = channel(&*store, acme.id, sales.id, ChannelKind::Chat).await;
    let flow = store
        .create_chatflow(acme.id, new_chatflow(chat.id, "Qualify", 0))
        .await
        .unwrap();
    let pat = contact(&*store, acme.id, None, Some("Pat")).await;
    let conv = conversation(&*store, acme.id, chat.id, pat.id).await;
    let turn = BotTurn {
        conversation_id: conv.id,
        chatflow_id: flow.id,
        state: json!({}),
        finished: false,
        items: vec![said("hello")],
        facts: vec![],
    };
    let refused = store.save_bot_turn(other.id, turn).await;
    assert!(
        matches!(refused, Err(parley::store::StoreError::NotFound { .. })),
        "{refused:?}"
    );
    assert_eq!(
        store
            .get_conversation(acme.id, conv.id)
            .await
            .unwrap()
            .last_seq,
        0,
        "nothing half-written"
    );
    assert_eq!(store.get_bot_run(other.id, conv.id).await.unwrap(), None);
    assert_eq!(store.get_bot_run(acme.id, conv.id).await.unwrap(), None);
}

on_both_backends!(
    a_bot_turn_stores_messages_state_and_facts_together,
    a_bot_turn_in_another_accounts_conversation_writes_nothing,
);
