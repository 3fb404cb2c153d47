//! The visitor socket (`/ws/visitor`): a website visitor starts a conversation that agents see
//! and answer live, never sees internal comments, resumes without loss or duplicates, and can
//! reach nothing but their own conversation, from an allowed page only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_fixtures;
mod common;
mod ws_fixtures;

use api_fixtures::*;
use common::*;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite;
use ws_fixtures::*;

/// The visitor's conversations, as an agent lists them.
async fn conversations_of(w: &World, visit: &Visit) -> Vec<Value> {
    let listed = w
        .app
        .get(
            &format!(
                "/api/v1/conversations?contact_id={}",
                visit.visitor["contact_id"].as_str().unwrap()
            ),
            &w.member_token,
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    listed.body["items"].as_array().unwrap().clone()
}

async fn post(w: &World, conversation: &str, what: &str, body: &str) -> i64 {
    let posted = w
        .app
        .post(
            &format!("/api/v1/conversations/{conversation}/{what}"),
            &w.member_token,
            json!({"client_id": uuid(), "body": body}),
        )
        .await;
    assert_eq!(posted.status, 201, "{}", posted.body);
    posted.body["seq"].as_i64().unwrap()
}

async fn a_visitor_message_starts_a_conversation_agents_see_and_answer(backend: Backend) {
    let w = World::new(backend).await;
    let visit = Visit::new(&w.app, w.account, w.channel.id).await;
    let (mut visitor, hello) = visit.connect(&w.app).await;
    assert_eq!(hello["conversation"], Value::Null, "no conversation yet");
    visitor.send(json!({"type": "subscribe"})).await;
    visitor.error("not_found").await;

    let client_id = uuid();
    let (conversation, seq) = send_acked(&mut visitor, &client_id, "Hi, my order is late").await;
    assert_eq!(
        seq, 1,
        "a new conversation starts its timeline with the visitor's message"
    );
    let listed = conversations_of(&w, &visit).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], conversation);
    assert_eq!(
        listed[0]["inbox_id"],
        json!(w.inbox.id),
        "in the channel's inbox"
    );
    assert_eq!(listed[0]["last_seq"], seq, "the message is the newest item");
    let (resent_conversation, resent_seq) =
        send_acked(&mut visitor, &client_id, "Hi, my order is late").await;
    assert_eq!(
        (resent_conversation.as_str(), resent_seq),
        (conversation.as_str(), seq)
    );
    assert_eq!(
        conversations_of(&w, &visit).await.len(),
        1,
        "a resend starts nothing"
    );

    let mut agent = Socket::agent(&w.app, &w.member_token).await;
    assert_eq!(agent.subscribe(&conversation, 0).await, seq);
    let items = agent.items(usize::try_from(seq).unwrap()).await;
    assert_eq!(
        items.last().unwrap(),
        &(seq, "Hi, my order is late".to_owned())
    );

    visitor
        .send(json!({"type": "subscribe", "after_seq": seq}))
        .await;
    let subscribed = visitor.next().await;
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
    assert_eq!(subscribed["conversation_id"], conversation);

    // A reply by socket and one by REST reach the visitor live; the comment between does not.
    agent
        .send(send_frame(&conversation, &uuid(), "Let me check"))
        .await;
    let reply = visitor.next().await;
    assert_eq!(reply["type"], "item", "{reply}");
    assert_eq!(reply["item"]["body"], "Let me check");
    assert_eq!(reply["item"]["direction"], "out");
    assert_eq!(reply["item"]["seq"], seq + 1);
    let comment = post(&w, &conversation, "comments", "VIP customer, be quick").await;
    let answer = post(&w, &conversation, "messages", "It ships today").await;
    assert_eq!(answer, comment + 1);
    let reply = visitor.next().await;
    assert_eq!(
        (
            reply["item"]["seq"].as_i64(),
            reply["item"]["body"].as_str()
        ),
        (Some(answer), Some("It ships today")),
        "the comment was skipped: {reply}"
    );
    visitor.quiet().await;
    let (_, next) = send_acked(&mut visitor, &uuid(), "Great, thanks").await;
    // The agent's own ack and items come first; then the visitor's message, live.
    let live = loop {
        let frame = agent.next().await;
        if frame["type"] == "item" && frame["item"]["seq"] == next {
            break frame;
        }
    };
    assert_eq!(live["item"]["body"], "Great, thanks");
    assert_eq!(live["item"]["direction"], "in");
    assert_eq!(live["item"]["author"]["type"], "contact");
    assert_eq!(
        visitor.items(1).await,
        vec![(next, "Great, thanks".to_owned())]
    );

    // Typing goes both ways, never back to its typist.
    visitor
        .send(json!({"type": "typing", "state": "start"}))
        .await;
    let mut typing = agent.next().await;
    while typing["type"] != "typing" {
        typing = agent.next().await;
    }
    assert_eq!(typing["contact_id"], visit.visitor["contact_id"]);
    assert_eq!(typing["state"], "start");
    agent
        .send(json!({"type": "typing", "conversation_id": conversation, "state": "start"}))
        .await;
    let typing = visitor.next().await;
    assert_eq!(typing["type"], "typing", "{typing}");
    assert_eq!(typing["agent_id"], json!(w.member.id));
    visitor.quiet().await;
}

async fn a_reconnecting_visitor_resumes_without_loss_or_duplicates(backend: Backend) {
    let w = World::new(backend).await;
    let visit = Visit::new(&w.app, w.account, w.channel.id).await;
    let (mut visitor, _) = visit.connect(&w.app).await;
    let (conversation, seen) = send_acked(&mut visitor, &uuid(), "hello?").await;
    drop(visitor);

    let mut missed = Vec::new();
    for i in 1..=3 {
        let body = format!("answer {i}");
        missed.push((post(&w, &conversation, "messages", &body).await, body));
        post(&w, &conversation, "comments", "internal").await;
    }
    let (mut visitor, hello) = visit.connect(&w.app).await;
    assert_eq!(hello["conversation"]["id"], conversation);
    let last_seq = hello["conversation"]["last_seq"].as_i64().unwrap();
    assert_eq!(last_seq, seen + 6);
    visitor
        .send(json!({"type": "subscribe", "conversation_id": conversation, "after_seq": seen}))
        .await;
    assert_eq!(visitor.next().await["last_seq"], last_seq);
    assert_eq!(
        visitor.items(3).await,
        missed,
        "the replies, not the comments"
    );
    visitor.quiet().await;

    let live = post(&w, &conversation, "messages", "anything else?").await;
    assert_eq!(
        visitor.items(1).await,
        vec![(live, "anything else?".to_owned())]
    );
    let (again, seq) = send_acked(&mut visitor, &uuid(), "no, thanks").await;
    assert_eq!(
        (again.as_str(), seq),
        (conversation.as_str(), live + 1),
        "same conversation"
    );
    assert_eq!(
        visitor.items(1).await,
        vec![(live + 1, "no, thanks".to_owned())]
    );
    visitor.quiet().await;
}

async fn visitors_reach_only_their_own_conversation(backend: Backend) {
    let w = World::new(backend).await;
    let visit = Visit::new(&w.app, w.account, w.channel.id).await;

    let mut forged = Socket::try_open(&w.app, &visit.path, &[]).await.unwrap();
    forged
        .send(json!({"type": "send", "client_id": uuid(), "body": "hi"}))
        .await;
    forged.error("unauthenticated").await;
    forged
        .send(json!({"type": "auth", "token": "plv_forged0000000000000000000000"}))
        .await;
    forged.error("unauthenticated").await;
    assert_eq!(forged.closed().await, "unauthenticated");

    // A real token, but of another channel than the socket was opened for.
    let other = Visit::new(&w.app, w.other.account, w.other.channel.id).await;
    let mut misplaced = Socket::try_open(&w.app, &visit.path, &[]).await.unwrap();
    misplaced
        .send(json!({"type": "auth", "token": other.token}))
        .await;
    misplaced.error("unauthenticated").await;

    let (mut visitor, _) = visit.connect(&w.app).await;
    let (own, _) = send_acked(&mut visitor, &uuid(), "mine").await;
    let before = w.items(w.account, &w.conversation).await;
    for stranger in [
        w.conversation.id,
        w.conversation2.id,
        w.other.conversation.id,
    ] {
        let stranger = stranger.to_string();
        visitor
            .send(json!({"type": "subscribe", "conversation_id": stranger}))
            .await;
        assert_eq!(
            visitor.error("forbidden").await["conversation_id"],
            stranger
        );
        visitor
            .send(json!({"type": "typing", "conversation_id": stranger, "state": "start"}))
            .await;
        visitor.error("forbidden").await;
    }
    visitor
        .send(json!({"type": "subscribe", "conversation_id": own}))
        .await;
    assert_eq!(visitor.next().await["type"], "subscribed");
    assert_eq!(
        w.items(w.account, &w.conversation).await,
        before,
        "nothing written"
    );
}

async fn the_page_origin_must_be_allowed_by_the_channel(backend: Backend) {
    let w = World::new(backend).await;
    let visit = Visit::new(&w.app, w.account, w.channel.id).await;
    let patched = w
        .app
        .patch(
            &format!("/api/v1/channels/{}", w.channel.id),
            &w.admin,
            json!({"settings": {"allowed_origins": ["https://shop.test"]}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);

    let refused = Socket::try_open(&w.app, &visit.path, &[("origin", "https://evil.test")]).await;
    match refused {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        Err(e) => panic!("expected a 403, got {e}"),
        Ok(_) => panic!("a disallowed origin was upgraded"),
    }
    let mut allowed = Socket::try_open(&w.app, &visit.path, &[("origin", "https://shop.test")])
        .await
        .unwrap();
    allowed
        .send(json!({"type": "auth", "token": visit.token}))
        .await;
    assert_eq!(allowed.next().await["type"], "hello");

    let unknown = format!(
        "/ws/visitor?account_id={}&channel_id={}",
        w.account,
        uuid::Uuid::new_v4()
    );
    match Socket::try_open(&w.app, &unknown, &[]).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 404),
        other => panic!("expected a 404, got {:?}", other.err()),
    }
    let unnamed = format!("/ws/visitor?account_id={}", w.account);
    match Socket::try_open(&w.app, &unnamed, &[]).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 400),
        other => panic!("expected a 400, got {:?}", other.err()),
    }
}

/// Routing across the cluster's shared presence: the agent is online (in Redis, as another
/// node would record them), so the visitor's new conversation is claimed for them and their
/// `agent.{id}` topic hears `assigned`.
async fn a_new_conversation_is_routed_and_the_assignee_told(backend: Backend) {
    use parley::bus::{Bus, Received, RedisBus, topics};
    use parley::domain::{
        AgentRole, AgentStatus, ChannelKind, Name, NewInbox, RoutingSettings, RoutingTarget,
    };
    use parley::presence::{Presence, RedisPresence};

    let redis = std::env::var("PARLEY_TEST_REDIS_URL").expect("PARLEY_TEST_REDIS_URL");
    let app = spawn_app_with(backend, &[("PARLEY__BUS__REDIS_URL", &redis)]).await;
    let account = app.admin.account_id;
    let ana = add_agent(&app, account, "ana@a.test", AgentRole::Agent).await;
    let inbox = app
        .store
        .create_inbox(
            account,
            NewInbox {
                name: Name::parse("Chat").unwrap(),
                routing: RoutingSettings {
                    target: RoutingTarget::Agents {
                        agent_ids: vec![ana.id],
                    },
                    ..Default::default()
                },
                notification_defaults: Default::default(),
                email_filters: Default::default(),
                member_ids: vec![ana.id],
            },
        )
        .await
        .unwrap();
    let channel = add_channel(&app, account, &inbox, ChannelKind::Chat).await;
    let bus = RedisBus::connect(&redis).unwrap();
    let presence = RedisPresence::new(
        &redis,
        std::sync::Arc::new(parley::bus::InProcessBus::new()),
        std::time::Duration::from_secs(30),
    )
    .unwrap();
    presence
        .heartbeat(
            account,
            ana.id,
            uuid::Uuid::new_v4(),
            AgentStatus::Available,
        )
        .await
        .unwrap();
    let topic = topics::agent(ana.id);
    let mut told = bus.subscribe(&topic);
    bus.subscribed(&topic).await.unwrap();

    let visit = Visit::new(&app, account, channel.id).await;
    let (mut visitor, _) = visit.connect(&app).await;
    let (conversation, _) = send_acked(&mut visitor, &uuid(), "anyone there?").await;
    let message = tokio::time::timeout(PATIENCE, told.recv()).await.unwrap();
    let Received::Message(message) = message else {
        panic!("{message:?}")
    };
    let frame: Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(frame["type"], "assigned", "{frame}");
    assert_eq!(frame["conversation"]["id"], conversation);
    assert_eq!(frame["conversation"]["assignee_id"], json!(ana.id));
    let stored = app
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(stored.body["assignee_id"], json!(ana.id));

    // The visitor sees the assignment on the timeline.
    visitor
        .send(json!({"type": "subscribe", "after_seq": 0}))
        .await;
    assert_eq!(visitor.next().await["type"], "subscribed");
    let mut kinds = Vec::new();
    loop {
        let frame = visitor.next().await;
        kinds.push(frame["item"]["kind"].as_str().unwrap().to_owned());
        if frame["item"]["data"]["type"] == "assigned" {
            break;
        }
    }
    assert!(kinds.contains(&"message".to_owned()), "{kinds:?}");
}

/// A visitor's messages are limited per visitor, over all their sockets; a refused message is
/// not stored and says which `client_id` to send again later.
async fn a_visitor_sending_too_fast_is_refused_across_sockets(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[
            ("PARLEY__AUTH__VISITOR_MESSAGES_PER_SECOND", "1"),
            ("PARLEY__AUTH__VISITOR_MESSAGE_BURST", "2"),
        ],
    )
    .await;
    let account = app.admin.account_id;
    let inbox = add_inbox(&app, account, "Chat", vec![]).await;
    let channel = add_channel(&app, account, &inbox, parley::domain::ChannelKind::Chat).await;
    let visit = Visit::new(&app, account, channel.id).await;
    let (mut first, _) = visit.connect(&app).await;
    let (mut second, _) = visit.connect(&app).await;
    let (conversation, _) = send_acked(&mut first, &uuid(), "one").await;
    send_acked(&mut second, &uuid(), "two").await;

    let refused_id = uuid();
    first.send(visitor_send(&refused_id, "three")).await;
    let refused = first.error("rate_limited").await;
    assert_eq!(refused["client_id"], refused_id, "{refused}");
    second.send(visitor_send(&uuid(), "four")).await;
    second.error("rate_limited").await;
    let timeline = app
        .get(
            &format!("/api/v1/conversations/{conversation}/timeline"),
            &app.admin_token,
        )
        .await;
    let bodies: Vec<&str> = timeline.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["body"].as_str())
        .collect();
    assert_eq!(bodies, ["one", "two"], "refused messages are not stored");

    // The rate refills: after a second, the refused message goes through.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    send_acked(&mut first, &refused_id, "three").await;
}

on_both_backends!(
    a_visitor_sending_too_fast_is_refused_across_sockets,
    a_new_conversation_is_routed_and_the_assignee_told,
    a_visitor_message_starts_a_conversation_agents_see_and_answer,
    a_reconnecting_visitor_resumes_without_loss_or_duplicates,
    visitors_reach_only_their_own_conversation,
    the_page_origin_must_be_allowed_by_the_channel,
);
