//! Bot chatflows in live conversations: a conversation started on a bot chatflow is answered by
//! the bot (its messages arrive as items), a bad answer is re-asked, a good one is saved to the
//! contact, and the hand-off gives the conversation to people through routing. The bot's place
//! is stored, so a restarted server carries on where it waited.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_fixtures;
mod common;
mod ws_fixtures;

use api_fixtures::*;
use common::*;
use parley::domain::{AgentRole, ChannelKind};
use serde_json::{Value, json};
use ws_fixtures::*;

fn flow(team: &str) -> Value {
    json!({
        "version": 1,
        "start": "hello",
        "steps": {
            "hello": {"type": "message", "text": "Hi! I'm the Acme bot.", "next": "ask_email"},
            "ask_email": {
                "type": "question", "text": "What's your email?", "kind": "email",
                "property": "work_email", "retry_text": "That is not an email address.",
                "next": "ask_topic"
            },
            "ask_topic": {
                "type": "question", "text": "What about?", "kind": "choice",
                "choices": [{"label": "Buying", "value": "sales"}, {"label": "Help", "value": "support"}],
                "property": "topic", "next": "route"
            },
            "route": {
                "type": "branch", "on": "answer",
                "cases": [{"equals": "sales", "next": "to_sales"}], "else_next": "to_inbox"
            },
            "to_sales": {"type": "handoff", "to": {"team_id": team}, "message": "Connecting you to sales, {{work_email}}."},
            "to_inbox": {"type": "handoff", "to": "inbox"}
        }
    })
}

/// Reads items until one by the bot with `body` arrives; returns every item read.
async fn until_bot_says(socket: &mut Socket, body: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let frame = socket.next().await;
        if frame["type"] != "item" {
            continue;
        }
        let item = frame["item"].clone();
        seen.push(item.clone());
        if item["author"]["type"] == "bot" && item["body"] == body {
            return seen;
        }
    }
}

async fn a_bot_qualifies_the_visitor_then_hands_off_to_a_team(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token.clone();
    let account = app.admin.account_id;
    let ana = add_agent(&app, account, "ana@a.test", AgentRole::Agent).await;
    let inbox = add_inbox(&app, account, "Chat", vec![ana.clone()]).await;
    let chat = add_channel(&app, account, &inbox, ChannelKind::Chat).await;
    let team = app
        .post(
            "/api/v1/teams",
            &admin,
            json!({"name": "Sales", "member_ids": [ana.id]}),
        )
        .await;
    assert_eq!(team.status, 201, "{}", team.body);
    let team_id = team.body["id"].as_str().unwrap().to_owned();
    let created = app
        .post(
            &format!("/api/v1/channels/{}/chatflows", chat.id),
            &admin,
            json!({"name": "Qualify", "kind": "bot", "flow": flow(&team_id)}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let chatflow = created.body["id"].clone();

    let visit = Visit::new(&app, account, chat.id).await;
    let (mut visitor, _) = visit.connect(&app).await;
    visitor
        .send(
            json!({"type": "send", "client_id": uuid(), "body": "hello?",
                     "chatflow_id": chatflow}),
        )
        .await;
    let ack = visitor.next().await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let conversation = ack["conversation_id"].as_str().unwrap().to_owned();
    visitor
        .send(json!({"type": "subscribe", "after_seq": 0}))
        .await;
    let first = until_bot_says(&mut visitor, "What's your email?").await;
    let bodies: Vec<&str> = first.iter().filter_map(|i| i["body"].as_str()).collect();
    assert_eq!(
        bodies,
        ["hello?", "Hi! I'm the Acme bot.", "What's your email?"],
        "the bot greets and asks, after the visitor's first message"
    );

    send_acked(&mut visitor, &uuid(), "not an email").await;
    until_bot_says(&mut visitor, "That is not an email address.").await;
    send_acked(&mut visitor, &uuid(), "Pat@Example.com").await;
    until_bot_says(&mut visitor, "What about?").await;
    let replies = visitor.next().await;
    assert_eq!(
        (
            replies["item"]["kind"].as_str(),
            replies["item"]["data"]["type"].as_str()
        ),
        (Some("event"), Some("bot.quick_replies")),
        "the choices follow the question as quick replies: {replies}"
    );
    assert_eq!(replies["item"]["data"]["replies"][0]["label"], "Buying");

    // Nobody is assigned while the bot talks.
    let path = format!("/api/v1/conversations/{conversation}");
    assert_eq!(
        app.get(&path, &admin).await.body["assignee_id"],
        Value::Null
    );

    send_acked(&mut visitor, &uuid(), "buying").await;
    until_bot_says(&mut visitor, "Connecting you to sales, pat@example.com.").await;
    let handed = app.get(&path, &admin).await.body;
    assert_eq!(handed["team_id"], json!(team_id), "{handed}");

    let contact = app
        .get(
            &format!(
                "/api/v1/contacts/{}",
                visit.visitor["contact_id"].as_str().unwrap()
            ),
            &admin,
        )
        .await
        .body;
    assert_eq!(contact["properties"]["work_email"], "pat@example.com");
    assert_eq!(contact["properties"]["topic"], "sales");

    let assigned = visitor.next().await;
    assert_eq!(
        (
            assigned["item"]["data"]["type"].as_str(),
            assigned["item"]["data"]["team_id"].as_str()
        ),
        (Some("assigned"), Some(team_id.as_str())),
        "the hand-off is an assignment event: {assigned}"
    );

    // The bot is done: the next message is for people, and the bot stays quiet.
    let (_, seq) = send_acked(&mut visitor, &uuid(), "thanks").await;
    let echoed = visitor.next().await;
    assert_eq!(echoed["item"]["seq"], seq, "{echoed}");
    visitor.quiet().await;

    let events = app.store.list_events(account, 0, 1000).await.unwrap();
    let steps: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.kind == "bot.step")
        .map(|e| {
            (
                e.data["step"].as_str().unwrap().to_owned(),
                e.data["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        steps.contains(&("ask_email".into(), "entered".into()))
            && steps.contains(&("ask_email".into(), "completed".into()))
            && steps.contains(&("to_sales".into(), "handed_off".into())),
        "each step entered, completed and handed off is a report fact: {steps:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.kind == "bot.finished" && e.data["outcome"] == "handed_off")
    );
}

async fn a_live_chat_chatflow_routes_as_before_and_a_bad_chatflow_id_starts_nothing(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token.clone();
    let account = app.admin.account_id;
    let inbox = add_inbox(&app, account, "Chat", vec![]).await;
    let chat = add_channel(&app, account, &inbox, ChannelKind::Chat).await;
    let other = add_channel(&app, account, &inbox, ChannelKind::Chat).await;
    let elsewhere = app
        .post(
            &format!("/api/v1/channels/{}/chatflows", other.id),
            &admin,
            json!({"name": "Other site", "kind": "live_chat"}),
        )
        .await;
    assert_eq!(elsewhere.status, 201, "{}", elsewhere.body);

    let visit = Visit::new(&app, account, chat.id).await;
    let (mut visitor, _) = visit.connect(&app).await;
    let client_id = uuid();
    visitor
        .send(json!({"type": "send", "client_id": client_id, "body": "hi",
                     "chatflow_id": elsewhere.body["id"]}))
        .await;
    let refused = visitor.error("invalid_field").await;
    assert_eq!(refused["field"], "chatflow_id", "{refused}");
    let listed = app
        .get(
            &format!(
                "/api/v1/conversations?contact_id={}",
                visit.visitor["contact_id"].as_str().unwrap()
            ),
            &admin,
        )
        .await;
    assert_eq!(
        listed.body["items"],
        json!([]),
        "nothing started on a refused chatflow"
    );
}

async fn saving_a_bot_chatflow_checks_its_flow(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token.clone();
    let account = app.admin.account_id;
    let inbox = add_inbox(&app, account, "Chat", vec![]).await;
    let chat = add_channel(&app, account, &inbox, ChannelKind::Chat).await;
    let path = format!("/api/v1/channels/{}/chatflows", chat.id);
    let missing_team = uuid::Uuid::now_v7().to_string();
    for (body, field) in [
        (json!({"name": "No flow", "kind": "bot"}), "flow"),
        (
            json!({"name": "Live", "kind": "live_chat", "flow": flow(&missing_team)}),
            "flow",
        ),
        (
            json!({"name": "Ghost team", "kind": "bot", "flow": flow(&missing_team)}),
            "flow.steps.to_sales.to",
        ),
        (
            json!({"name": "Bad step", "kind": "bot", "flow": {"version": 1, "start": "a",
                "steps": {"a": {"type": "teleport"}}}}),
            "flow.steps.a.type",
        ),
    ] {
        let answer = app.post(&path, &admin, body.clone()).await;
        assert_eq!(answer.status, 422, "{body}: {}", answer.body);
        assert_eq!(answer.body["field"], field, "{body}: {}", answer.body);
    }
    assert_eq!(
        app.get(&path, &admin).await.body,
        json!([]),
        "nothing saved"
    );
}

/// A webhook receiver on loopback: answers `answer` to every POST and keeps what it got
/// (body, signature header).
async fn receiver(
    answer: Value,
) -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(Vec<u8>, String)>>>,
) {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = got.clone();
    let server = HttpServer::new(move || {
        let (kept, answer) = (kept.clone(), answer.clone());
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let (kept, answer) = (kept.clone(), answer.clone());
            async move {
                let signature = req
                    .headers()
                    .get("x-parley-signature-256")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                kept.lock().unwrap().push((body.to_vec(), signature));
                HttpResponse::Ok().json(answer)
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    (format!("http://127.0.0.1:{port}/lead"), got)
}

fn webhook_flow(url: &str) -> Value {
    json!({
        "version": 1,
        "start": "ask_email",
        "steps": {
            "ask_email": {"type": "question", "text": "Your email?", "kind": "email",
                          "property": "work_email", "next": "lookup"},
            "lookup": {"type": "webhook", "url": url,
                       "set_properties": {"company": "company.name"},
                       "next": "welcome", "on_error_next": "sorry"},
            "welcome": {"type": "end", "text": "Welcome, {{company}}!"},
            "sorry": {"type": "end", "text": "We could not look you up."}
        }
    })
}

/// A bot conversation on `flow` in a fresh chat channel, past its first question: the visitor's
/// socket, the channel (as admins read it), the visitor and the conversation id.
async fn bot_on(app: &TestApp, flow: Value) -> (Socket, Value, Visit, String) {
    let admin = app.admin_token.clone();
    let account = app.admin.account_id;
    let inbox = add_inbox(app, account, "Chat", vec![]).await;
    // Through the API, which gives a chat channel its identity secret.
    let channel = app
        .post(
            "/api/v1/channels",
            &admin,
            json!({"inbox_id": inbox.id, "kind": "chat", "name": "Site", "settings": {}}),
        )
        .await;
    assert_eq!(channel.status, 201, "{}", channel.body);
    let channel = channel.body;
    let chat = channel["id"].as_str().unwrap().to_owned();
    let created = app
        .post(
            &format!("/api/v1/channels/{chat}/chatflows"),
            &admin,
            json!({"name": "Lookup", "kind": "bot", "flow": flow}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let visit = Visit::new(app, account, &chat).await;
    let (mut visitor, _) = visit.connect(app).await;
    visitor
        .send(json!({"type": "send", "client_id": uuid(), "body": "hi",
                     "chatflow_id": created.body["id"]}))
        .await;
    let ack = visitor.next().await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let conversation = ack["conversation_id"].as_str().unwrap().to_owned();
    visitor
        .send(json!({"type": "subscribe", "after_seq": 0}))
        .await;
    until_bot_says(&mut visitor, "Your email?").await;
    (visitor, channel, visit, conversation)
}

async fn a_bot_webhook_is_signed_and_its_answer_sets_properties(backend: Backend) {
    let app = spawn_app(backend).await;
    let (url, got) = receiver(json!({"company": {"name": "Acme Corp"}})).await;
    let (mut visitor, channel, _, _) = bot_on(&app, webhook_flow(&url)).await;
    send_acked(&mut visitor, &uuid(), "pat@acme.test").await;
    until_bot_says(&mut visitor, "Welcome, Acme Corp!").await;

    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one POST");
    let (body, signature) = &got[0];
    let secret = channel["settings"]["identity_secret"].as_str().unwrap();
    assert_eq!(
        signature,
        &format!("sha256={}", parley::actors::bots::sign(secret, body)),
        "signed with the channel's secret over the exact body"
    );
    let sent: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(sent["answers"]["ask_email"], "pat@acme.test", "{sent}");
    assert!(sent["conversation_id"].is_string(), "{sent}");
}

async fn a_webhook_that_is_down_takes_the_error_branch(backend: Backend) {
    let app = spawn_app(backend).await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/lead",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    let (mut visitor, ..) = bot_on(&app, webhook_flow(&url)).await;
    send_acked(&mut visitor, &uuid(), "pat@acme.test").await;
    until_bot_says(&mut visitor, "We could not look you up.").await;
}

/// The bot's place is in the store: a server restarted while the bot waits carries on from
/// there, and the ticket step opens a ticket on the conversation.
async fn a_restarted_server_resumes_the_waiting_bot(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let flow = json!({
        "version": 1,
        "start": "ask_email",
        "steps": {
            "ask_email": {"type": "question", "text": "Your email?", "kind": "email",
                          "property": "work_email", "next": "ticket"},
            "ticket": {"type": "create_ticket", "title": "Call back {{work_email}}", "next": "bye"},
            "bye": {"type": "end", "text": "We will call you back."}
        }
    });
    let (mut visitor, _, visit, conversation) = bot_on(&app, flow).await;

    app.stop().await;
    visitor.closed().await;
    app.start_again().await;

    let run = app
        .store
        .get_bot_run(app.admin.account_id, conversation.parse().unwrap())
        .await
        .unwrap()
        .expect("the bot's place was stored");
    assert!(!run.finished);
    let (mut again, hello) = visit.connect(&app).await;
    assert_eq!(hello["conversation"]["id"], conversation.as_str());
    send_acked(&mut again, &uuid(), "pat@acme.test").await;
    again
        .send(json!({"type": "subscribe", "after_seq": 0}))
        .await;
    until_bot_says(&mut again, "We will call you back.").await;
    let tickets = app.get("/api/v1/tickets", &app.admin_token).await;
    assert_eq!(tickets.status, 200, "{}", tickets.body);
    let titles: Vec<&str> = tickets.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["title"].as_str())
        .collect();
    assert_eq!(titles, ["Call back pat@acme.test"]);
}

/// A webhook answer over the size limit (256 KiB) is a failure: the error branch, no properties.
async fn an_oversized_webhook_answer_takes_the_error_branch(backend: Backend) {
    let app = spawn_app(backend).await;
    let big = "x".repeat(300 * 1024);
    let (url, got) = receiver(json!({"company": {"name": big}})).await;
    let (mut visitor, ..) = bot_on(&app, webhook_flow(&url)).await;
    send_acked(&mut visitor, &uuid(), "pat@acme.test").await;
    until_bot_says(&mut visitor, "We could not look you up.").await;
    assert_eq!(got.lock().unwrap().len(), 1, "it was asked, once");
}

on_both_backends!(
    an_oversized_webhook_answer_takes_the_error_branch,
    a_restarted_server_resumes_the_waiting_bot,
    a_bot_webhook_is_signed_and_its_answer_sets_properties,
    a_webhook_that_is_down_takes_the_error_branch,
    a_bot_qualifies_the_visitor_then_hands_off_to_a_team,
    a_live_chat_chatflow_routes_as_before_and_a_bad_chatflow_id_starts_nothing,
    saving_a_bot_chatflow_checks_its_flow,
);
