//! Routing and presence as agents see them on their sockets: a waiting conversation goes to the
//! agent who comes online or becomes available, closing one frees capacity for the oldest
//! waiting, reassignment (socket or REST) reaches the old and new assignee and every watcher,
//! mentions and contact messages notify, and agents see whether the visitor is there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_fixtures;
mod common;
mod ws_fixtures;

use api_fixtures::*;
use common::*;
use futures_util::StreamExt;
use parley::domain::{
    AccountId, Agent, AgentRole, Channel, ChannelKind, Name, NewInbox, RoutingSettings,
    RoutingTarget,
};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use ws_fixtures::*;

/// One inbox with a chat channel; members Ana and Bob, routing to Ana only.
struct Desk {
    app: TestApp,
    ana: Agent,
    ana_token: String,
    bob: Agent,
    bob_token: String,
    /// An agent of the account who is not a member of the inbox.
    outsider: Agent,
    channel: Channel,
    account: AccountId,
}

impl Desk {
    async fn new(backend: Backend, capacity: Option<u32>) -> Self {
        let app = spawn_app(backend).await;
        let account = app.admin.account_id;
        let ana = add_agent(&app, account, "ana@a.test", AgentRole::Agent).await;
        let bob = add_agent(&app, account, "bob@a.test", AgentRole::Agent).await;
        let outsider = add_agent(&app, account, "out@a.test", AgentRole::Agent).await;
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
                        capacity,
                        ..Default::default()
                    },
                    notification_defaults: Default::default(),
                    email_filters: Default::default(),
                    member_ids: vec![ana.id, bob.id],
                },
            )
            .await
            .unwrap();
        let channel = add_channel(&app, account, &inbox, ChannelKind::Chat).await;
        let (ana_token, bob_token) = (token_for(&app, &ana).await, token_for(&app, &bob).await);
        Self {
            app,
            ana,
            ana_token,
            bob,
            bob_token,
            outsider,
            channel,
            account,
        }
    }

    /// The conversation as the REST API shows it.
    async fn conversation(&self, id: &str) -> Value {
        let got = self
            .app
            .get(
                &format!("/api/v1/conversations/{id}"),
                &self.app.admin_token,
            )
            .await;
        assert_eq!(got.status, 200, "{}", got.body);
        got.body
    }

    async fn agent_status(&self, agent: &Agent) -> Value {
        let got = self
            .app
            .get(
                &format!("/api/v1/agents/{}", agent.id),
                &self.app.admin_token,
            )
            .await;
        assert_eq!(got.status, 200, "{}", got.body);
        got.body["status"].clone()
    }

    /// A new visitor whose first message starts a conversation; returns its id.
    async fn visitor_starts(&self, body: &str) -> (Visit, Socket, String) {
        let visit = Visit::new(&self.app, self.account, self.channel.id).await;
        let (mut socket, _) = visit.connect(&self.app).await;
        let (conversation, _) = send_acked(&mut socket, &uuid(), body).await;
        (visit, socket, conversation)
    }
}

/// Reads frames until one matches `wanted`, looking first at the presence and notice frames
/// the socket set aside (a match there is taken out). Returns the match and the other frames
/// read meanwhile (presence, notices and announcements among them are set aside as `Socket`
/// does).
async fn wait_for(
    socket: &mut Socket,
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> (Value, Vec<Value>) {
    for aside in [&mut socket.presence, &mut socket.notices] {
        if let Some(i) = aside.iter().position(&wanted) {
            return (aside.remove(i), Vec::new());
        }
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut others = Vec::new();
    loop {
        let message = tokio::time::timeout_at(deadline, socket.ws.next()).await;
        let Ok(message) = message else {
            panic!(
                "no {what} in time; read {others:?}; set aside {:?} {:?}",
                socket.presence, socket.notices
            );
        };
        match message
            .expect("the socket is open")
            .expect("a readable frame")
        {
            Message::Text(text) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if wanted(&frame) {
                    return (frame, others);
                }
                match frame["type"].as_str() {
                    Some("presence") => socket.presence.push(frame),
                    Some("notification" | "visitor") => socket.notices.push(frame),
                    Some("conversation") => socket.announced.push(frame),
                    _ => others.push(frame),
                }
            }
            Message::Close(close) => panic!("closed while waiting for {what}: {close:?}"),
            _ => {}
        }
    }
}

/// Like [`wait_for`], but first takes a match out of `seen` (frames an earlier wait read past),
/// and adds what it reads past to `seen`.
async fn take_or_wait(
    socket: &mut Socket,
    seen: &mut Vec<Value>,
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    if let Some(i) = seen.iter().position(&wanted) {
        return seen.remove(i);
    }
    let (frame, others) = wait_for(socket, what, wanted).await;
    seen.extend(others);
    frame
}

fn assigned(conversation: &str, assignee: &Agent) -> impl Fn(&Value) -> bool {
    let (conversation, assignee) = (json!(conversation), json!(assignee.id));
    move |f| {
        f["type"] == "assigned"
            && f["conversation"]["id"] == conversation
            && f["conversation"]["assignee_id"] == assignee
    }
}

fn presence(agent: &Agent, status: &str) -> impl Fn(&Value) -> bool {
    let agent = json!(agent.id);
    let status = status.to_owned();
    move |f| {
        f["type"] == "presence"
            && f["agent_id"] == agent
            && f["status"] == status.as_str()
            && f["online"] == true
    }
}

/// The `assigned` event item of `conversation` naming `assignee`, as subscribers get it.
fn assigned_item(conversation: &str, assignee: &Agent) -> impl Fn(&Value) -> bool {
    let (conversation, assignee) = (json!(conversation), json!(assignee.id));
    move |f| {
        f["type"] == "item"
            && f["item"]["conversation_id"] == conversation
            && f["item"]["kind"] == "event"
            && f["item"]["data"]["type"] == "assigned"
            && f["item"]["data"]["assignee_id"] == assignee
    }
}

fn notification(reason: &str, conversation: &str) -> impl Fn(&Value) -> bool {
    let (reason, conversation) = (reason.to_owned(), json!(conversation));
    move |f| {
        f["type"] == "notification"
            && f["reason"] == reason.as_str()
            && f["conversation_id"] == conversation
    }
}

fn visitor_frame(conversation: &str, online: bool) -> impl Fn(&Value) -> bool {
    let conversation = json!(conversation);
    move |f| f["type"] == "visitor" && f["conversation_id"] == conversation && f["online"] == online
}

/// Waits until `socket`'s agent is online as presence (which routing reads) records them.
async fn online(socket: &mut Socket, agent: &Agent) {
    wait_for(socket, "own presence", presence(agent, "available")).await;
}

async fn an_agent_coming_online_takes_the_waiting_conversation(backend: Backend) {
    let d = Desk::new(backend, None).await;
    // Bob is online, but the inbox routes to Ana only.
    let mut bob = Socket::agent(&d.app, &d.bob_token).await;
    online(&mut bob, &d.bob).await;
    let (_visit, _visitor, conversation) = d.visitor_starts("anyone there?").await;
    bob.quiet().await;
    assert_eq!(
        d.conversation(&conversation).await["assignee_id"],
        Value::Null,
        "nobody who may take it is online: it waits"
    );

    let mut ana = Socket::agent(&d.app, &d.ana_token).await;
    let (frame, others) = wait_for(&mut ana, "assigned", assigned(&conversation, &d.ana)).await;
    assert!(others.is_empty(), "{others:?}");
    assert_eq!(frame["conversation"]["status"], "open", "{frame}");
    assert_eq!(
        d.conversation(&conversation).await["assignee_id"],
        json!(d.ana.id)
    );
    bob.quiet().await;
}

async fn closing_a_conversation_frees_capacity_for_the_oldest_waiting(backend: Backend) {
    let d = Desk::new(backend, Some(1)).await;
    let mut ana = Socket::agent(&d.app, &d.ana_token).await;
    online(&mut ana, &d.ana).await;
    let (_v1, _s1, first) = d.visitor_starts("first").await;
    let (_, others) = wait_for(&mut ana, "first assigned", assigned(&first, &d.ana)).await;
    assert!(others.is_empty(), "{others:?}");

    let (_v2, _s2, second) = d.visitor_starts("second").await;
    let (_v3, _s3, third) = d.visitor_starts("third").await;
    ana.quiet().await;
    for waiting in [&second, &third] {
        assert_eq!(
            d.conversation(waiting).await["assignee_id"],
            Value::Null,
            "Ana is at capacity: {waiting} waits"
        );
    }

    let closed = d
        .app
        .post(
            &format!("/api/v1/conversations/{first}/status"),
            &d.app.admin_token,
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    let (_, others) = wait_for(&mut ana, "second assigned", assigned(&second, &d.ana)).await;
    assert!(others.is_empty(), "only the oldest waiting: {others:?}");
    ana.quiet().await;
    assert_eq!(
        d.conversation(&second).await["assignee_id"],
        json!(d.ana.id)
    );
    assert_eq!(
        d.conversation(&third).await["assignee_id"],
        Value::Null,
        "capacity 1: the newer one still waits"
    );
}

async fn reassigning_reaches_both_assignees_and_the_watchers(backend: Backend) {
    let d = Desk::new(backend, None).await;
    let mut watcher = Socket::agent(&d.app, &d.app.admin_token).await;
    let mut ana = Socket::agent(&d.app, &d.ana_token).await;
    online(&mut ana, &d.ana).await;
    let mut bob = Socket::agent(&d.app, &d.bob_token).await;
    online(&mut bob, &d.bob).await;
    let (_visit, _visitor, conversation) = d.visitor_starts("help").await;
    wait_for(&mut ana, "routed to Ana", assigned(&conversation, &d.ana)).await;
    let last_seq = d.conversation(&conversation).await["last_seq"]
        .as_i64()
        .unwrap();
    watcher.subscribe(&conversation, last_seq).await;

    ana.send(json!({
        "type": "assign",
        "conversation_id": conversation,
        "assignee_id": d.bob.id,
        "team_id": null,
    }))
    .await;
    let mut seen = Vec::new();
    let updated = take_or_wait(&mut ana, &mut seen, "updated", |f| f["type"] == "updated").await;
    assert_eq!(updated["conversation"]["id"], conversation, "{updated}");
    assert_eq!(updated["conversation"]["assignee_id"], json!(d.bob.id));
    let event = &updated["event"];
    assert_eq!(event["kind"], "event", "{updated}");
    assert_eq!(event["data"]["type"], "assigned", "{updated}");
    assert_eq!(event["data"]["assignee_id"], json!(d.bob.id), "{updated}");
    take_or_wait(
        &mut ana,
        &mut seen,
        "taken from Ana",
        assigned(&conversation, &d.bob),
    )
    .await;
    assert!(seen.is_empty(), "{seen:?}");
    let (_, others) = wait_for(&mut bob, "given to Bob", assigned(&conversation, &d.bob)).await;
    assert!(others.is_empty(), "{others:?}");
    let (item, others) = wait_for(
        &mut watcher,
        "the event item",
        assigned_item(&conversation, &d.bob),
    )
    .await;
    assert!(others.is_empty(), "{others:?}");
    assert_eq!(item["item"]["seq"], event["seq"], "{item}");
    assert_eq!(
        d.conversation(&conversation).await["assignee_id"],
        json!(d.bob.id)
    );

    // Bad input changes nothing and troubles nobody else.
    ana.send(json!({
        "type": "assign",
        "conversation_id": conversation,
        "assignee_id": d.ana.id,
    }))
    .await;
    let missing = ana.error("invalid_field").await;
    assert_eq!(missing["field"], "team_id", "{missing}");
    ana.send(json!({
        "type": "assign",
        "conversation_id": conversation,
        "assignee_id": d.outsider.id,
        "team_id": null,
    }))
    .await;
    let outsider = ana.error("invalid_field").await;
    assert_eq!(outsider["field"], "assignee_id", "{outsider}");
    assert_eq!(outsider["conversation_id"], conversation, "{outsider}");
    ana.quiet().await;
    bob.quiet().await;
    watcher.quiet().await;
    let now = d.conversation(&conversation).await;
    assert_eq!(now["assignee_id"], json!(d.bob.id), "{now}");
    assert_eq!(now["last_seq"], event["seq"], "nothing appended: {now}");

    // A REST assignment reaches the same sockets.
    let back = d
        .app
        .post(
            &format!("/api/v1/conversations/{conversation}/assign"),
            &d.app.admin_token,
            json!({"assignee_id": d.ana.id, "team_id": null}),
        )
        .await;
    assert_eq!(back.status, 200, "{}", back.body);
    let (item, _) = wait_for(
        &mut watcher,
        "the REST event item",
        assigned_item(&conversation, &d.ana),
    )
    .await;
    assert_eq!(item["item"]["seq"], back.body["event"]["seq"], "{item}");
    wait_for(&mut ana, "given back", assigned(&conversation, &d.ana)).await;
    wait_for(&mut bob, "taken from Bob", assigned(&conversation, &d.ana)).await;
}

async fn an_away_agent_gets_nothing_until_available_again(backend: Backend) {
    let d = Desk::new(backend, None).await;
    assert_eq!(
        d.agent_status(&d.ana).await,
        "available",
        "new agents are available"
    );
    let mut bob = Socket::agent(&d.app, &d.bob_token).await;
    let mut ana = Socket::agent(&d.app, &d.ana_token).await;
    wait_for(&mut bob, "Ana online", presence(&d.ana, "available")).await;

    ana.send(json!({"type": "set_status", "status": "away"}))
        .await;
    wait_for(&mut bob, "Ana away", presence(&d.ana, "away")).await;
    assert_eq!(d.agent_status(&d.ana).await, "away", "stored");
    let (_v1, _s1, first) = d.visitor_starts("hello?").await;
    ana.quiet().await;
    assert_eq!(
        d.conversation(&first).await["assignee_id"],
        Value::Null,
        "Ana is away: it waits"
    );

    ana.send(json!({"type": "set_status", "status": "available"}))
        .await;
    let (_, others) = wait_for(&mut ana, "assigned when back", assigned(&first, &d.ana)).await;
    assert!(others.is_empty(), "{others:?}");
    wait_for(&mut bob, "Ana available", presence(&d.ana, "available")).await;

    ana.send(json!({"type": "set_status", "status": "busy"}))
        .await;
    let error = ana.error("invalid_field").await;
    assert_eq!(error["field"], "status", "{error}");
    assert_eq!(d.agent_status(&d.ana).await, "available", "unchanged");

    // The REST API's status change has the same effects.
    let path = format!("/api/v1/agents/{}", d.ana.id);
    let away = d
        .app
        .patch(&path, &d.app.admin_token, json!({"status": "away"}))
        .await;
    assert_eq!(away.status, 200, "{}", away.body);
    wait_for(&mut bob, "Ana away by REST", presence(&d.ana, "away")).await;
    let (_v2, _s2, second) = d.visitor_starts("anyone?").await;
    ana.quiet().await;
    assert_eq!(d.conversation(&second).await["assignee_id"], Value::Null);
    let back = d
        .app
        .patch(&path, &d.app.admin_token, json!({"status": "available"}))
        .await;
    assert_eq!(back.status, 200, "{}", back.body);
    wait_for(&mut ana, "assigned after REST", assigned(&second, &d.ana)).await;
}

async fn mentions_and_contact_messages_notify_the_agent(backend: Backend) {
    let d = Desk::new(backend, None).await;
    let mut ana = Socket::agent(&d.app, &d.ana_token).await;
    online(&mut ana, &d.ana).await;
    let mut bob = Socket::agent(&d.app, &d.bob_token).await;
    let (_visit, mut visitor, conversation) = d.visitor_starts("my order").await;
    wait_for(&mut ana, "routed to Ana", assigned(&conversation, &d.ana)).await;

    // Ana mentions herself and Bob: only Bob is notified.
    let client_id = uuid();
    ana.send(json!({
        "type": "comment",
        "conversation_id": conversation,
        "client_id": client_id,
        "body": "Bob, can you look?",
        "mentions": [d.ana.id, d.bob.id],
    }))
    .await;
    let (ack, _) = wait_for(&mut ana, "ack", |f| f["type"] == "ack").await;
    let (told, _) = wait_for(&mut bob, "mention", notification("mention", &conversation)).await;
    assert_eq!(told["item"]["seq"], ack["seq"], "{told}");
    assert_eq!(told["item"]["body"], "Bob, can you look?", "{told}");
    assert_eq!(told["item"]["kind"], "comment", "{told}");
    ana.quiet().await;
    assert!(ana.notices.is_empty(), "the author: {:?}", ana.notices);

    // A REST comment mentions too.
    let posted = d
        .app
        .post(
            &format!("/api/v1/conversations/{conversation}/comments"),
            &d.bob_token,
            json!({"client_id": uuid(), "body": "on it, Ana", "mentions": [d.ana.id]}),
        )
        .await;
    assert_eq!(posted.status, 201, "{}", posted.body);
    let (told, _) = wait_for(
        &mut ana,
        "REST mention",
        notification("mention", &conversation),
    )
    .await;
    assert_eq!(told["item"]["seq"], posted.body["seq"], "{told}");

    // The contact writes in Ana's conversation: Ana is told, Bob is not.
    let (_, seq) = send_acked(&mut visitor, &uuid(), "any news?").await;
    let (told, _) = wait_for(&mut ana, "message", notification("message", &conversation)).await;
    assert_eq!(told["item"]["seq"], seq, "{told}");
    assert_eq!(told["item"]["body"], "any news?", "{told}");
    assert_eq!(told["item"]["direction"], "in", "{told}");
    ana.quiet().await;
    bob.quiet().await;
    assert!(ana.notices.is_empty(), "one each: {:?}", ana.notices);
    assert!(bob.notices.is_empty(), "not Bob's: {:?}", bob.notices);
}

async fn agents_see_whether_the_visitor_is_there(backend: Backend) {
    let d = Desk::new(backend, None).await;
    let visit = Visit::new(&d.app, d.account, d.channel.id).await;
    let (mut visitor, _) = visit.connect(&d.app).await;
    let (conversation, _) = send_acked(&mut visitor, &uuid(), "hi").await;

    let mut ana = Socket::agent(&d.app, &d.ana_token).await;
    ana.send(json!({"type": "subscribe", "conversation_id": conversation, "after_seq": 0}))
        .await;
    let (subscribed, _) = wait_for(&mut ana, "subscribed", |f| f["type"] == "subscribed").await;
    assert_eq!(subscribed["visitor_online"], true, "{subscribed}");

    visitor.quiet().await;
    visitor.ws.close(None).await.unwrap();
    wait_for(
        &mut ana,
        "visitor left",
        visitor_frame(&conversation, false),
    )
    .await;
    assert!(visitor.notices.is_empty(), "{:?}", visitor.notices);
    let mut bob = Socket::agent(&d.app, &d.bob_token).await;
    bob.send(json!({"type": "subscribe", "conversation_id": conversation, "after_seq": 0}))
        .await;
    let (subscribed, _) = wait_for(&mut bob, "subscribed", |f| f["type"] == "subscribed").await;
    assert_eq!(subscribed["visitor_online"], false, "{subscribed}");

    let (mut visitor, hello) = visit.connect(&d.app).await;
    assert_eq!(hello["conversation"]["id"], conversation);
    let last_seq = hello["conversation"]["last_seq"].as_i64().unwrap();
    visitor
        .send(json!({"type": "subscribe", "after_seq": last_seq}))
        .await;
    assert_eq!(visitor.next().await["type"], "subscribed");
    wait_for(&mut ana, "visitor back", visitor_frame(&conversation, true)).await;
    wait_for(&mut bob, "visitor back", visitor_frame(&conversation, true)).await;
    visitor.quiet().await;
    assert!(
        visitor.notices.is_empty(),
        "visitors get no visitor frames: {:?}",
        visitor.notices
    );
    ana.quiet().await;
    assert!(
        !ana.notices.iter().any(|f| f["type"] == "visitor"),
        "announced once: {:?}",
        ana.notices
    );
}

on_both_backends!(
    an_agent_coming_online_takes_the_waiting_conversation,
    closing_a_conversation_frees_capacity_for_the_oldest_waiting,
    reassigning_reaches_both_assignees_and_the_watchers,
    an_away_agent_gets_nothing_until_available_again,
    mentions_and_contact_messages_notify_the_agent,
    agents_see_whether_the_visitor_is_there,
);
