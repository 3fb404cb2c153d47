//! Channels of every kind with their settings objects, and chatflows with their flow versions.

use parley::domain::*;
use serde_json::json;

use crate::common::*;
use crate::fixtures::*;

async fn creates_a_channel_of_each_kind_with_its_settings(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let sales = inbox(&*store, acme.id, "Sales").await;
    let support = inbox(&*store, acme.id, "Support").await;
    let mut created = vec![];
    for (i, kind) in ChannelKind::ALL.iter().copied().enumerate() {
        let inbox = if i % 2 == 0 { sales.id } else { support.id };
        let new = new_channel(inbox, kind);
        let channel = store.create_channel(acme.id, new.clone()).await.unwrap();
        assert_eq!(channel.account_id, acme.id, "{kind}");
        assert_eq!(channel.inbox_id, inbox, "{kind}");
        assert_eq!(channel.kind, kind, "{kind}");
        assert_eq!(channel.name, new.name, "{kind}");
        assert_eq!(
            channel.settings, new.settings,
            "{kind}: settings kept as given"
        );
        assert_eq!(
            store.get_channel(acme.id, channel.id).await.unwrap(),
            channel,
            "{kind}: read back"
        );
        created.push(channel);
    }
    assert_eq!(
        store.list_channels(acme.id, None).await.unwrap(),
        created,
        "every channel, by id"
    );
    let in_sales: Vec<_> = created
        .iter()
        .filter(|c| c.inbox_id == sales.id)
        .cloned()
        .collect();
    assert_eq!(in_sales.len(), 2);
    assert_eq!(
        store.list_channels(acme.id, Some(sales.id)).await.unwrap(),
        in_sales
    );
    assert_not_found(
        store.get_channel(acme.id, ChannelId::new()).await,
        "unknown channel",
    );
}

async fn updates_channel_name_settings_and_inbox(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let sales = inbox(&*store, acme.id, "Sales").await;
    let support = inbox(&*store, acme.id, "Support").await;
    let channel = channel(&*store, acme.id, sales.id, ChannelKind::Email).await;
    let settings = object(json!({"address": "help@example.com", "nested": {"a": [1, 2, null]}}));
    let mut expected = channel.clone();
    let steps: Vec<PatchStep<ChannelPatch, Channel>> = vec![
        (
            "name",
            ChannelPatch {
                name: Some(name("Help desk")),
                ..ChannelPatch::default()
            },
            Box::new(|c| c.name = name("Help desk")),
        ),
        (
            "settings (replaced whole)",
            ChannelPatch {
                settings: Some(settings.clone()),
                ..ChannelPatch::default()
            },
            Box::new(move |c| c.settings = settings.clone()),
        ),
        (
            "inbox_id",
            ChannelPatch {
                inbox_id: Some(support.id),
                ..ChannelPatch::default()
            },
            Box::new(move |c| c.inbox_id = support.id),
        ),
        ("nothing", ChannelPatch::default(), Box::new(|_| {})),
    ];
    for (case, patch, apply) in steps {
        apply(&mut expected);
        let updated = store
            .update_channel(acme.id, channel.id, patch)
            .await
            .unwrap();
        assert_eq!(updated, expected, "update_channel: {case}");
        assert_eq!(
            store.get_channel(acme.id, channel.id).await.unwrap(),
            expected,
            "get_channel after {case}"
        );
    }
    assert!(
        store
            .list_channels(acme.id, Some(sales.id))
            .await
            .unwrap()
            .is_empty()
    );
    assert_not_found(
        store
            .update_channel(acme.id, ChannelId::new(), ChannelPatch::default())
            .await,
        "update of an unknown channel",
    );
}

async fn deletes_a_channel_with_its_chatflows_but_not_with_conversations(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    assert_invalid(
        store.delete_channel(a, w.chat.id).await,
        "id",
        "channel with a conversation",
    );
    assert_eq!(store.get_channel(a, w.chat.id).await.unwrap(), w.chat);
    assert_eq!(
        store.get_chatflow(a, w.chatflow.id).await.unwrap(),
        w.chatflow,
        "chatflows stay while the channel is refused"
    );

    let spare = channel(&*store, a, w.inbox.id, ChannelKind::Messenger).await;
    let flow = store
        .create_chatflow(a, new_chatflow(spare.id, "Page", 1))
        .await
        .unwrap();
    store.delete_channel(a, spare.id).await.unwrap();
    assert_not_found(store.get_channel(a, spare.id).await, "deleted channel");
    assert_not_found(
        store.get_chatflow(a, flow.id).await,
        "chatflow of a deleted channel",
    );
    assert_eq!(
        store.list_channels(a, None).await.unwrap(),
        vec![w.chat.clone(), w.email.clone()]
    );
    assert_not_found(store.delete_channel(a, spare.id).await, "deleting twice");
}

async fn creates_chatflows_at_version_one_listed_by_priority(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let sales = inbox(&*store, acme.id, "Sales").await;
    let chat = channel(&*store, acme.id, sales.id, ChannelKind::Chat).await;
    let other = channel(&*store, acme.id, sales.id, ChannelKind::Messenger).await;
    let bot = NewChatflow {
        kind: ChatflowKind::Bot,
        enabled: false,
        flow: Some(json!({"steps": [{"type": "message", "text": "Hi"}]})),
        ..new_chatflow(chat.id, "Greeter", 5)
    };
    let greeter = store.create_chatflow(acme.id, bot.clone()).await.unwrap();
    assert_eq!(greeter.account_id, acme.id);
    assert_eq!(greeter.channel_id, chat.id);
    assert_eq!(greeter.name, bot.name);
    assert_eq!(greeter.kind, ChatflowKind::Bot);
    assert_eq!(greeter.priority, 5);
    assert!(!greeter.enabled);
    assert_eq!(greeter.targeting, bot.targeting);
    assert_eq!(greeter.availability, bot.availability);
    assert_eq!(greeter.branding, bot.branding);
    assert_eq!(greeter.flow, bot.flow);
    assert_eq!(greeter.flow_version, 1, "a new chatflow");
    assert_eq!(
        store.get_chatflow(acme.id, greeter.id).await.unwrap(),
        greeter
    );

    let live = store
        .create_chatflow(acme.id, new_chatflow(chat.id, "Live", 1))
        .await
        .unwrap();
    assert_eq!(live.flow, None);
    assert_eq!(live.flow_version, 1, "a new chatflow without a flow");
    let late_same_priority = store
        .create_chatflow(acme.id, new_chatflow(chat.id, "Also 5", 5))
        .await
        .unwrap();
    let negative = store
        .create_chatflow(acme.id, new_chatflow(chat.id, "First", -3))
        .await
        .unwrap();
    store
        .create_chatflow(acme.id, new_chatflow(other.id, "Other channel", 0))
        .await
        .unwrap();
    assert_eq!(
        store.list_chatflows(acme.id, chat.id).await.unwrap(),
        vec![negative, live, greeter, late_same_priority],
        "by priority, then id; only this channel's"
    );
    assert_not_found(
        store.get_chatflow(acme.id, ChatflowId::new()).await,
        "unknown chatflow",
    );
    assert_not_found(
        store.list_chatflows(acme.id, ChannelId::new()).await,
        "chatflows of an unknown channel",
    );
}

async fn updates_every_chatflow_field_and_bumps_version_on_flow(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let sales = inbox(&*store, acme.id, "Sales").await;
    let chat = channel(&*store, acme.id, sales.id, ChannelKind::Chat).await;
    let flow = store
        .create_chatflow(acme.id, new_chatflow(chat.id, "Website", 1))
        .await
        .unwrap();
    let v1 = json!({"steps": [{"type": "message", "text": "Hi"}]});
    let v2 = json!({"steps": [{"type": "end"}]});
    let mut expected = flow.clone();
    let steps: Vec<PatchStep<ChatflowPatch, Chatflow>> = vec![
        (
            "name",
            ChatflowPatch {
                name: Some(name("Pricing page")),
                ..ChatflowPatch::default()
            },
            Box::new(|f| f.name = name("Pricing page")),
        ),
        (
            "priority",
            ChatflowPatch {
                priority: Some(7),
                ..ChatflowPatch::default()
            },
            Box::new(|f| f.priority = 7),
        ),
        (
            "enabled",
            ChatflowPatch {
                enabled: Some(false),
                ..ChatflowPatch::default()
            },
            Box::new(|f| f.enabled = false),
        ),
        (
            "targeting",
            ChatflowPatch {
                targeting: Some(json!({"rules": []})),
                ..ChatflowPatch::default()
            },
            Box::new(|f| f.targeting = json!({"rules": []})),
        ),
        (
            "availability",
            ChatflowPatch {
                availability: Some(json!({"always": true})),
                ..ChatflowPatch::default()
            },
            Box::new(|f| f.availability = json!({"always": true})),
        ),
        (
            "branding",
            ChatflowPatch {
                branding: Some(json!({"color": "#000000", "logo": null})),
                ..ChatflowPatch::default()
            },
            Box::new(|f| f.branding = json!({"color": "#000000", "logo": null})),
        ),
        (
            "flow set: version 2",
            ChatflowPatch {
                flow: Some(Some(v1.clone())),
                ..ChatflowPatch::default()
            },
            Box::new(move |f| {
                f.flow = Some(v1.clone());
                f.flow_version = 2;
            }),
        ),
        (
            "no flow in patch: version stays",
            ChatflowPatch {
                priority: Some(8),
                ..ChatflowPatch::default()
            },
            Box::new(|f| f.priority = 8),
        ),
        (
            "flow changed: version 3",
            ChatflowPatch {
                flow: Some(Some(v2.clone())),
                ..ChatflowPatch::default()
            },
            Box::new(move |f| {
                f.flow = Some(v2.clone());
                f.flow_version = 3;
            }),
        ),
        (
            "flow cleared: version 4",
            ChatflowPatch {
                flow: Some(None),
                ..ChatflowPatch::default()
            },
            Box::new(|f| {
                f.flow = None;
                f.flow_version = 4;
            }),
        ),
        ("nothing", ChatflowPatch::default(), Box::new(|_| {})),
    ];
    for (case, patch, apply) in steps {
        apply(&mut expected);
        let updated = store
            .update_chatflow(acme.id, flow.id, patch)
            .await
            .unwrap();
        assert_eq!(updated, expected, "update_chatflow: {case}");
        assert_eq!(
            store.get_chatflow(acme.id, flow.id).await.unwrap(),
            expected,
            "get_chatflow after {case}"
        );
    }
    assert_not_found(
        store
            .update_chatflow(acme.id, ChatflowId::new(), ChatflowPatch::default())
            .await,
        "update of an unknown chatflow",
    );
}

async fn deletes_a_chatflow(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let sales = inbox(&*store, acme.id, "Sales").await;
    let chat = channel(&*store, acme.id, sales.id, ChannelKind::Chat).await;
    let gone = store
        .create_chatflow(acme.id, new_chatflow(chat.id, "Gone", 1))
        .await
        .unwrap();
    let kept = store
        .create_chatflow(acme.id, new_chatflow(chat.id, "Kept", 2))
        .await
        .unwrap();
    store.delete_chatflow(acme.id, gone.id).await.unwrap();
    assert_not_found(
        store.get_chatflow(acme.id, gone.id).await,
        "deleted chatflow",
    );
    assert_eq!(
        store.list_chatflows(acme.id, chat.id).await.unwrap(),
        vec![kept]
    );
    assert_not_found(
        store.delete_chatflow(acme.id, gone.id).await,
        "deleting twice",
    );
}

on_both_backends!(
    creates_a_channel_of_each_kind_with_its_settings,
    updates_channel_name_settings_and_inbox,
    deletes_a_channel_with_its_chatflows_but_not_with_conversations,
    creates_chatflows_at_version_one_listed_by_priority,
    updates_every_chatflow_field_and_bumps_version_on_flow,
    deletes_a_chatflow,
);
