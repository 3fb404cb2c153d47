//! Conversations: create, read, every list filter, status and assignment changes with the event
//! item each writes, and no item when a change changes nothing.

use parley::domain::*;
use serde_json::{Value, json};

use crate::common::*;
use crate::fixtures::*;

async fn creates_a_conversation_in_its_channels_inbox(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let sales = inbox(&*store, acme.id, "Sales").await;
    let chat = channel(&*store, acme.id, sales.id, ChannelKind::Chat).await;
    let pat = contact(&*store, acme.id, Some("pat@example.com"), None).await;
    let conv = store
        .create_conversation(
            acme.id,
            NewConversation {
                channel_id: chat.id,
                contact_id: pat.id,
                subject: Some("Where is my order?".into()),
            },
            Actor::Contact(pat.id),
        )
        .await
        .unwrap();
    assert_eq!(conv.account_id, acme.id);
    assert_eq!(conv.inbox_id, sales.id, "the channel's inbox");
    assert_eq!(conv.channel_id, chat.id);
    assert_eq!(conv.contact_id, pat.id);
    assert_eq!(
        conv.status,
        ConversationStatus::Open,
        "a new conversation is open"
    );
    assert_eq!((conv.assignee_id, conv.team_id), (None, None));
    assert_eq!(conv.subject.as_deref(), Some("Where is my order?"));
    assert_eq!(conv.last_seq, 0, "no timeline item yet");
    assert!(
        store
            .list_items(acme.id, conv.id, 0, 50)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.get_conversation(acme.id, conv.id).await.unwrap(),
        conv
    );
    assert_not_found(
        store.get_conversation(acme.id, ConversationId::new()).await,
        "unknown conversation",
    );
}

async fn lists_conversations_with_every_filter(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let a = acme.id;
    let ann = agent(&*store, a, "ann@acme.test").await.id;
    let bob = agent(&*store, a, "bob@acme.test").await.id;
    let team = store.create_team(a, name("T"), vec![ann]).await.unwrap().id;
    let sales = inbox(&*store, a, "Sales").await.id;
    let support = inbox(&*store, a, "Support").await.id;
    let chat = channel(&*store, a, sales, ChannelKind::Chat).await.id;
    let mail = channel(&*store, a, support, ChannelKind::Email).await.id;
    let k1 = contact(&*store, a, None, Some("K1")).await.id;
    let k2 = contact(&*store, a, None, Some("K2")).await.id;

    use ConversationStatus::*;
    let specs = [
        (chat, k1, Open, None, None),
        (chat, k2, Pending, Some(ann), Some(team)),
        (mail, k1, Closed, Some(bob), None),
        (mail, k2, Open, None, Some(team)),
        (chat, k1, Open, Some(ann), None),
    ];
    let mut c = vec![];
    for (channel, contact, status, assignee_id, team_id) in specs {
        let conv = conversation(&*store, a, channel, contact).await;
        if status != Open {
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
        if assignee_id.is_some() || team_id.is_some() {
            store
                .change_conversation(
                    a,
                    conv.id,
                    ConversationChange::Assign {
                        assignee_id,
                        team_id,
                    },
                    Actor::System,
                )
                .await
                .unwrap();
        }
        c.push(store.get_conversation(a, conv.id).await.unwrap());
    }

    let f = ConversationFilter::default;
    let cases: Vec<(&str, ConversationFilter, Vec<usize>)> = vec![
        ("no filter", f(), vec![4, 3, 2, 1, 0]),
        (
            "visible_inboxes [sales]",
            ConversationFilter {
                visible_inboxes: Some(vec![sales]),
                ..f()
            },
            vec![4, 1, 0],
        ),
        (
            "visible_inboxes [sales, support]",
            ConversationFilter {
                visible_inboxes: Some(vec![sales, support]),
                ..f()
            },
            vec![4, 3, 2, 1, 0],
        ),
        (
            "visible_inboxes [] (member of none)",
            ConversationFilter {
                visible_inboxes: Some(vec![]),
                ..f()
            },
            vec![],
        ),
        (
            "inbox_id support",
            ConversationFilter {
                inbox_id: Some(support),
                ..f()
            },
            vec![3, 2],
        ),
        (
            "status open",
            ConversationFilter {
                status: Some(Open),
                ..f()
            },
            vec![4, 3, 0],
        ),
        (
            "status pending",
            ConversationFilter {
                status: Some(Pending),
                ..f()
            },
            vec![1],
        ),
        (
            "status closed",
            ConversationFilter {
                status: Some(Closed),
                ..f()
            },
            vec![2],
        ),
        (
            "assignee ann",
            ConversationFilter {
                assignee_id: Some(ann),
                ..f()
            },
            vec![4, 1],
        ),
        (
            "team",
            ConversationFilter {
                team_id: Some(team),
                ..f()
            },
            vec![3, 1],
        ),
        (
            "channel mail",
            ConversationFilter {
                channel_id: Some(mail),
                ..f()
            },
            vec![3, 2],
        ),
        (
            "contact k1",
            ConversationFilter {
                contact_id: Some(k1),
                ..f()
            },
            vec![4, 2, 0],
        ),
        (
            "unassigned",
            ConversationFilter {
                unassigned: true,
                ..f()
            },
            vec![3, 0],
        ),
        (
            "unassigned and team",
            ConversationFilter {
                unassigned: true,
                team_id: Some(team),
                ..f()
            },
            vec![3],
        ),
        (
            "open and assignee ann",
            ConversationFilter {
                status: Some(Open),
                assignee_id: Some(ann),
                ..f()
            },
            vec![4],
        ),
        (
            "visible [support] and inbox sales",
            ConversationFilter {
                visible_inboxes: Some(vec![support]),
                inbox_id: Some(sales),
                ..f()
            },
            vec![],
        ),
        (
            "every filter at once",
            ConversationFilter {
                visible_inboxes: Some(vec![sales]),
                inbox_id: Some(sales),
                status: Some(Pending),
                assignee_id: Some(ann),
                team_id: Some(team),
                channel_id: Some(chat),
                contact_id: Some(k2),
                unassigned: false,
            },
            vec![1],
        ),
    ];
    for (case, filter, expected) in cases {
        let page = store.list_conversations(a, filter, all()).await.unwrap();
        let expected: Vec<Conversation> = expected.iter().map(|&i| c[i].clone()).collect();
        assert_eq!(
            page.items, expected,
            "list_conversations: {case} (newest first)"
        );
        assert_eq!(page.next, None, "{case}: one page");
    }
}

fn event_data(item: &TimelineItem) -> Value {
    assert_eq!(item.kind, ItemKind::Event, "an event item");
    item.data.clone().expect("event data")
}

async fn status_change_appends_one_event_item(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let before = store.get_conversation(a, w.conversation.id).await.unwrap();
    let steps = [
        (
            "open to pending",
            ConversationStatus::Pending,
            Some(("open", "pending")),
        ),
        ("pending to pending", ConversationStatus::Pending, None),
        (
            "pending to closed",
            ConversationStatus::Closed,
            Some(("pending", "closed")),
        ),
        ("closed to closed", ConversationStatus::Closed, None),
        (
            "closed to open",
            ConversationStatus::Open,
            Some(("closed", "open")),
        ),
    ];
    let mut last_seq = before.last_seq;
    let mut previous = before.clone();
    for (case, status, change) in steps {
        let (conv, item) = store
            .change_conversation(
                a,
                w.conversation.id,
                ConversationChange::Status(status),
                Actor::Agent(w.admin.id),
            )
            .await
            .unwrap();
        assert_eq!(conv.status, status, "{case}");
        match (change, item) {
            (Some((from, to)), Some(item)) => {
                last_seq += 1;
                assert_eq!(item.seq, last_seq, "{case}: next seq");
                assert_eq!(item.conversation_id, w.conversation.id);
                assert_eq!(item.author, Actor::Agent(w.admin.id), "{case}: the actor");
                assert_eq!(
                    event_data(&item),
                    json!({"type": "status_changed", "from": from, "to": to}),
                    "{case}"
                );
                assert_eq!(
                    (item.direction, item.body.clone(), item.delivery_status),
                    (None, None, None),
                    "{case}: an event has no message fields"
                );
            }
            (None, None) => assert_eq!(conv, previous, "{case}: nothing written, updated_at kept"),
            (want, got) => panic!("{case}: expected an item: {}, got {got:?}", want.is_some()),
        }
        assert_eq!(conv.last_seq, last_seq, "{case}: last_seq");
        assert_eq!(
            store.get_conversation(a, w.conversation.id).await.unwrap(),
            conv,
            "{case}: read back"
        );
        previous = conv;
    }
    let items = store
        .list_items(a, w.conversation.id, before.last_seq, 50)
        .await
        .unwrap();
    assert_eq!(items.len(), 3, "three changes, three items");
}

async fn assignment_appends_one_event_item_with_previous_values(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let a = acme.id;
    let ann = agent(&*store, a, "ann@acme.test").await.id;
    let bob = agent(&*store, a, "bob@acme.test").await.id;
    let team = store.create_team(a, name("T"), vec![ann]).await.unwrap().id;
    let other_team = store.create_team(a, name("U"), vec![]).await.unwrap().id;
    let sales = inbox(&*store, a, "Sales").await;
    let chat = channel(&*store, a, sales.id, ChannelKind::Chat).await;
    let pat = contact(&*store, a, None, Some("Pat")).await;
    let conv = conversation(&*store, a, chat.id, pat.id).await;

    let s = |id: AgentId| json!(id.to_string());
    let t = |id: TeamId| json!(id.to_string());
    // (case, assignee, team, the event data expected, or None for no item)
    type AssignStep = (&'static str, Option<AgentId>, Option<TeamId>, Option<Value>);
    let steps: Vec<AssignStep> = vec![
        (
            "agent and team",
            Some(ann),
            Some(team),
            Some(
                json!({"type": "assigned", "assignee_id": s(ann), "team_id": t(team),
                "previous_assignee_id": null, "previous_team_id": null}),
            ),
        ),
        ("same again", Some(ann), Some(team), None),
        (
            "another agent, same team",
            Some(bob),
            Some(team),
            Some(
                json!({"type": "assigned", "assignee_id": s(bob), "team_id": t(team),
                "previous_assignee_id": s(ann), "previous_team_id": t(team)}),
            ),
        ),
        (
            "team only",
            None,
            Some(other_team),
            Some(
                json!({"type": "assigned", "assignee_id": null, "team_id": t(other_team),
                "previous_assignee_id": s(bob), "previous_team_id": t(team)}),
            ),
        ),
        ("team only again", None, Some(other_team), None),
        (
            "cleared",
            None,
            None,
            Some(
                json!({"type": "assigned", "assignee_id": null, "team_id": null,
                "previous_assignee_id": null, "previous_team_id": t(other_team)}),
            ),
        ),
        ("cleared again", None, None, None),
    ];
    let mut last_seq = 0;
    let mut previous = store.get_conversation(a, conv.id).await.unwrap();
    for (case, assignee_id, team_id, expected) in steps {
        let (conv, item) = store
            .change_conversation(
                a,
                conv.id,
                ConversationChange::Assign {
                    assignee_id,
                    team_id,
                },
                Actor::System,
            )
            .await
            .unwrap();
        assert_eq!(
            (conv.assignee_id, conv.team_id),
            (assignee_id, team_id),
            "{case}"
        );
        match (expected, item) {
            (Some(data), Some(item)) => {
                last_seq += 1;
                assert_eq!(item.seq, last_seq, "{case}");
                assert_eq!(item.author, Actor::System, "{case}: the actor");
                assert_eq!(event_data(&item), data, "{case}");
            }
            (None, None) => assert_eq!(conv, previous, "{case}: nothing written, updated_at kept"),
            (want, got) => panic!("{case}: expected {want:?}, got {got:?}"),
        }
        assert_eq!(
            conv.last_seq, last_seq,
            "{case}: nothing written when nothing changes"
        );
        assert_eq!(
            conv.status,
            ConversationStatus::Open,
            "{case}: status untouched"
        );
        assert_eq!(
            store.get_conversation(a, conv.id).await.unwrap(),
            conv,
            "{case}"
        );
        previous = conv;
    }
    let items = store.list_items(a, conv.id, 0, 50).await.unwrap();
    let seqs: Vec<i64> = items.iter().map(|i| i.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4], "four changes, four items, in order");
}

async fn change_of_an_unknown_conversation_is_not_found(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    assert_not_found(
        store
            .change_conversation(
                acme.id,
                ConversationId::new(),
                ConversationChange::Status(ConversationStatus::Closed),
                Actor::System,
            )
            .await,
        "status of an unknown conversation",
    );
}

on_both_backends!(
    creates_a_conversation_in_its_channels_inbox,
    lists_conversations_with_every_filter,
    status_change_appends_one_event_item,
    assignment_appends_one_event_item_with_previous_values,
    change_of_an_unknown_conversation_is_not_found,
);
