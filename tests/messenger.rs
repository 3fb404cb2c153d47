//! Messenger: webhook verification and signatures, messages, postbacks and echoes stored once
//! each, replies through a fake Graph API (a small HTTP server inside the test), and the
//! 24-hour reply window enforced before anything is stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod ws_fixtures;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use parley::channels::messenger::webhook::sign;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use uuid::Uuid;

const PAGE: &str = "1234567890";
const SECRET: &str = "app-secret-for-tests";
const PAGE_TOKEN: &str = "page-access-token";

/// What the fake Send API received: the request line's target and the JSON body.
type Calls = Arc<Mutex<Vec<(String, Value)>>>;

/// A fake Graph API: answers `POST /me/messages` with a message id, or, for the recipient
/// `blocked`, with Facebook's error for a user who cannot be reached.
async fn fake_graph_api() -> (String, Calls) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v21.0", listener.local_addr().unwrap());
    let calls: Calls = Arc::default();
    let seen = calls.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, length) = loop {
                    let n = stream.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                        break (end + 4, length);
                    }
                };
                while buffer.len() < head_end + length {
                    let n = stream.read(&mut chunk).await.unwrap();
                    buffer.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
                let target = head.split(' ').nth(1).unwrap_or("").to_owned();
                let body: Value =
                    serde_json::from_slice(&buffer[head_end..head_end + length]).unwrap();
                let recipient = body["recipient"]["id"].as_str().unwrap_or("").to_owned();
                seen.lock().unwrap().push((target, body));
                let (status, answer) = if recipient == "blocked" {
                    (
                        "400 Bad Request",
                        json!({"error": {"message": "(#551) This person isn't available right now.",
                                         "type": "OAuthException", "code": 551}}),
                    )
                } else {
                    (
                        "200 OK",
                        json!({"recipient_id": recipient, "message_id": format!("m_{}", Uuid::new_v4().simple())}),
                    )
                };
                let answer = answer.to_string();
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                stream.write_all(response.as_bytes()).await.unwrap();
                let _ = stream.shutdown().await;
            });
        }
    });
    (base, calls)
}

struct Page {
    app: TestApp,
    channel: Value,
    calls: Calls,
}

async fn connect_page(backend: Backend) -> Page {
    let (base, calls) = fake_graph_api().await;
    let app = spawn_app_with(backend, &[("PARLEY__MESSENGER__GRAPH_API_BASE_URL", &base)]).await;
    let inbox = app
        .post(
            "/api/v1/inboxes",
            &app.admin_token,
            json!({"name": "Facebook"}),
        )
        .await;
    assert_eq!(inbox.status, 201, "{}", inbox.body);
    let channel = app
        .post(
            "/api/v1/channels",
            &app.admin_token,
            json!({"inbox_id": inbox.body["id"], "kind": "messenger", "name": "Acme page",
                   "settings": {"page_id": PAGE, "page_access_token": PAGE_TOKEN,
                                "app_secret": SECRET, "verify_token": "verify-me"}}),
        )
        .await;
    assert_eq!(channel.status, 201, "{}", channel.body);
    Page {
        app,
        channel: channel.body,
        calls,
    }
}

fn messaging(event: Value) -> String {
    json!({"object": "page", "entry": [{"id": PAGE, "time": 1, "messaging": [event]}]}).to_string()
}

fn message(psid: &str, mid: &str, text: &str) -> String {
    messaging(
        json!({"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": 1,
                     "message": {"mid": mid, "text": text}}),
    )
}

/// POSTs a webhook body, signed with `secret` (`None`: no signature header).
async fn deliver(app: &TestApp, body: &str, secret: Option<&str>) -> u16 {
    let mut request = app
        .client
        .post(app.url("/webhooks/messenger"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(secret) = secret {
        request = request.header("X-Hub-Signature-256", sign(secret, body.as_bytes()));
    }
    request.send().await.unwrap().status().as_u16()
}

async fn conversations(app: &TestApp) -> Vec<Value> {
    let list = app.get("/api/v1/conversations", &app.admin_token).await;
    assert_eq!(list.status, 200, "{}", list.body);
    list.body["items"].as_array().unwrap().clone()
}

async fn timeline(app: &TestApp, conversation: &str) -> Vec<Value> {
    let page = app
        .get(
            &format!("/api/v1/conversations/{conversation}/timeline"),
            &app.admin_token,
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "message")
        .cloned()
        .collect()
}

async fn reply(app: &TestApp, conversation: &str, body: &str) -> Answer {
    app.post(
        &format!("/api/v1/conversations/{conversation}/messages"),
        &app.admin_token,
        json!({"client_id": Uuid::new_v4(), "body": body}),
    )
    .await
}

async fn settled(app: &TestApp, conversation: &str, seq: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let items = timeline(app, conversation).await;
        let item = items.into_iter().find(|i| i["seq"] == seq).unwrap();
        if item["delivery_status"] != "pending" || Instant::now() > deadline {
            return item;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn connecting_a_page_verifies_the_webhook_and_creates_its_live_chat_chatflow(
    backend: Backend,
) {
    let page = connect_page(backend).await;
    let app = &page.app;
    let chatflows = app
        .get(
            &format!(
                "/api/v1/channels/{}/chatflows",
                page.channel["id"].as_str().unwrap()
            ),
            &app.admin_token,
        )
        .await;
    let list = chatflows.body.as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", chatflows.body);
    assert_eq!(list[0]["kind"], "live_chat");
    assert_eq!(list[0]["enabled"], true);

    let check = |token: &str, mode: &str| {
        app.client.get(app.url(&format!(
            "/webhooks/messenger?hub.mode={mode}&hub.verify_token={token}&hub.challenge=1158201444"
        )))
    };
    let answer = check("verify-me", "subscribe").send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(answer.text().await.unwrap(), "1158201444");
    for (token, mode) in [
        ("wrong", "subscribe"),
        ("verify-me", "unsubscribe"),
        ("", "subscribe"),
    ] {
        let answer = check(token, mode).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 403, "{token} {mode}");
    }
}

async fn events_without_the_right_signature_are_refused_and_nothing_is_stored(backend: Backend) {
    let page = connect_page(backend).await;
    let app = &page.app;
    let body = message("psid-1", "mid.unsigned", "Hello?");
    assert_eq!(deliver(app, &body, None).await, 403);
    assert_eq!(deliver(app, &body, Some("not-the-secret")).await, 403);
    // A signature over other bytes (the body re-serialized) does not carry over.
    let signed_other = sign(SECRET, body.replace("Hello?", "Hello!").as_bytes());
    let answer = app
        .client
        .post(app.url("/webhooks/messenger"))
        .header("X-Hub-Signature-256", signed_other)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 403);
    assert!(conversations(app).await.is_empty());
    // The same body rightly signed is taken.
    assert_eq!(deliver(app, &body, Some(SECRET)).await, 200);
    assert_eq!(conversations(app).await.len(), 1);
}

async fn messages_are_stored_once_and_replies_go_out_through_the_send_api(backend: Backend) {
    let page = connect_page(backend).await;
    let app = &page.app;
    let first = message("psid-7", "mid.1", "Do you ship to Norway?");
    assert_eq!(deliver(app, &first, Some(SECRET)).await, 200);
    // Facebook redelivers when unsure: the same mid is stored once.
    assert_eq!(deliver(app, &first, Some(SECRET)).await, 200);
    assert_eq!(
        deliver(
            app,
            &message("psid-7", "mid.2", "And to Iceland?"),
            Some(SECRET)
        )
        .await,
        200
    );
    let postback = messaging(
        json!({"sender": {"id": "psid-7"}, "recipient": {"id": PAGE},
        "timestamp": 5, "postback": {"title": "Talk to a person", "payload": "HUMAN", "mid": "mid.pb"}}),
    );
    assert_eq!(deliver(app, &postback, Some(SECRET)).await, 200);

    let list = conversations(app).await;
    assert_eq!(list.len(), 1, "one conversation per contact and channel");
    let conversation = list[0]["id"].as_str().unwrap().to_owned();
    let contact = app
        .get(
            &format!(
                "/api/v1/contacts/{}",
                list[0]["contact_id"].as_str().unwrap()
            ),
            &app.admin_token,
        )
        .await;
    assert_eq!(contact.body["properties"]["messenger_psid"], "psid-7");
    let items = timeline(app, &conversation).await;
    let bodies: Vec<&str> = items.iter().map(|i| i["body"].as_str().unwrap()).collect();
    assert_eq!(
        bodies,
        [
            "Do you ship to Norway?",
            "And to Iceland?",
            "Talk to a person"
        ]
    );
    assert!(items.iter().all(|i| i["direction"] == "in"));

    let sent = reply(app, &conversation, "Yes, to both.").await;
    assert_eq!(sent.status, 201, "{}", sent.body);
    assert_eq!(sent.body["delivery_status"], "pending");
    let item = settled(app, &conversation, sent.body["seq"].as_i64().unwrap()).await;
    assert_eq!(item["delivery_status"], "sent", "{item}");
    {
        let calls = page.calls.lock().unwrap();
        assert_eq!(calls.len(), 1, "{calls:?}");
        let (target, body) = &calls[0];
        assert_eq!(
            target,
            &format!("/v21.0/me/messages?access_token={PAGE_TOKEN}")
        );
        assert_eq!(body["recipient"]["id"], "psid-7");
        assert_eq!(body["message"]["text"], "Yes, to both.");
        assert_eq!(body["messaging_type"], "RESPONSE");
    }

    // An echo (the page wrote from elsewhere) is stored as sent and never sent again.
    let echo = messaging(
        json!({"sender": {"id": PAGE}, "recipient": {"id": "psid-7"},
        "timestamp": 9, "message": {"mid": "mid.echo", "text": "Sent from the Page inbox", "is_echo": true}}),
    );
    assert_eq!(deliver(app, &echo, Some(SECRET)).await, 200);
    assert_eq!(deliver(app, &echo, Some(SECRET)).await, 200);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let items = timeline(app, &conversation).await;
    let echoed: Vec<&Value> = items
        .iter()
        .filter(|i| i["body"] == "Sent from the Page inbox")
        .collect();
    assert_eq!(echoed.len(), 1);
    assert_eq!(echoed[0]["direction"], "out");
    assert_eq!(echoed[0]["delivery_status"], "sent");
    assert_eq!(
        page.calls.lock().unwrap().len(),
        1,
        "the echo was not resent"
    );
}

async fn a_refused_send_ends_failed_with_facebooks_reason(backend: Backend) {
    let page = connect_page(backend).await;
    let app = &page.app;
    assert_eq!(
        deliver(app, &message("blocked", "mid.b1", "hi"), Some(SECRET)).await,
        200
    );
    let conversation = conversations(app).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = reply(app, &conversation, "Hello?").await;
    let item = settled(app, &conversation, sent.body["seq"].as_i64().unwrap()).await;
    assert_eq!(item["delivery_status"], "failed", "{item}");
    assert!(
        item["delivery_error"].as_str().unwrap().contains("(#551)"),
        "{item}"
    );
}

/// Moves every item of the conversation `hours` into the past (SQL: the store never does).
async fn age_timeline(app: &TestApp, conversation: &str, hours: i64) {
    if let Some(path) = app.db.url.strip_prefix("sqlite://") {
        let c = rusqlite::Connection::open(path).unwrap();
        c.busy_timeout(Duration::from_secs(5)).unwrap();
        c.execute(
            "UPDATE timeline_items SET created_at = created_at - ?2 WHERE conversation_id = ?1",
            rusqlite::params![conversation, hours * 3600 * 1_000_000],
        )
        .unwrap();
    } else {
        let (client, conn) = tokio_postgres::connect(&app.db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(&format!(
                "UPDATE timeline_items SET created_at = created_at - interval '{hours} hours' \
                 WHERE conversation_id = '{conversation}'"
            ))
            .await
            .unwrap();
    }
}

async fn a_reply_after_the_24_hour_window_is_refused_before_it_is_stored(backend: Backend) {
    let page = connect_page(backend).await;
    let app = &page.app;
    assert_eq!(
        deliver(
            app,
            &message("psid-9", "mid.old", "Anyone there?"),
            Some(SECRET)
        )
        .await,
        200
    );
    let conversation = conversations(app).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    age_timeline(app, &conversation, 25).await;
    let before = timeline(app, &conversation).await.len();
    let refused = reply(app, &conversation, "Sorry for the wait!").await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.code(), "messenger_window_closed");
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("24 hours")
    );
    assert_eq!(
        timeline(app, &conversation).await.len(),
        before,
        "nothing stored"
    );
    // On the socket the agent gets the same refusal, as an error frame.
    let mut socket = ws_fixtures::Socket::agent(app, &app.admin_token).await;
    let client_id = ws_fixtures::uuid();
    socket
        .send(ws_fixtures::send_frame(&conversation, &client_id, "Sorry!"))
        .await;
    let error = socket.error("messenger_window_closed").await;
    assert_eq!(error["client_id"], client_id.as_str());
    assert_eq!(
        timeline(app, &conversation).await.len(),
        before,
        "nothing stored"
    );
    assert!(page.calls.lock().unwrap().is_empty());

    // The contact writes again: the window is open and the reply goes out.
    assert_eq!(
        deliver(
            app,
            &message("psid-9", "mid.new", "Hello again"),
            Some(SECRET)
        )
        .await,
        200
    );
    let sent = reply(app, &conversation, "Here now.").await;
    assert_eq!(sent.status, 201, "{}", sent.body);
    let item = settled(app, &conversation, sent.body["seq"].as_i64().unwrap()).await;
    assert_eq!(item["delivery_status"], "sent", "{item}");
}

/// Texts the fake Send API received, in order, once there are `want` of them.
async fn sent_texts(calls: &Calls, want: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while calls.lock().unwrap().len() < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    calls
        .lock()
        .unwrap()
        .iter()
        .map(|(_, body)| body["message"]["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_bot_chatflow_answers_on_messenger_through_the_same_engine(backend: Backend) {
    let page = connect_page(backend).await;
    let app = &page.app;
    let flow = json!({
        "version": 1,
        "start": "hello",
        "steps": {
            "hello": {"type": "message", "text": "Hi! I'm the Acme bot.", "next": "ask_email"},
            "ask_email": {"type": "question", "text": "What's your email?", "kind": "email",
                          "property": "work_email", "retry_text": "That is not an email address.",
                          "next": "done"},
            "done": {"type": "end", "text": "Thanks! A person will follow up."}
        }
    });
    let bot = app
        .post(
            &format!(
                "/api/v1/channels/{}/chatflows",
                page.channel["id"].as_str().unwrap()
            ),
            &app.admin_token,
            json!({"name": "Qualify", "kind": "bot", "priority": -1, "flow": flow}),
        )
        .await;
    assert_eq!(bot.status, 201, "{}", bot.body);

    assert_eq!(
        deliver(app, &message("psid-b", "mid.b1", "Hello"), Some(SECRET)).await,
        200
    );
    assert_eq!(
        sent_texts(&page.calls, 2).await,
        ["Hi! I'm the Acme bot.", "What's your email?"]
    );
    assert_eq!(
        deliver(
            app,
            &message("psid-b", "mid.b2", "pat@acme.test"),
            Some(SECRET)
        )
        .await,
        200
    );
    assert_eq!(
        sent_texts(&page.calls, 3).await[2..],
        ["Thanks! A person will follow up."]
    );
    let conversation = conversations(app).await[0].clone();
    let contact = app
        .get(
            &format!(
                "/api/v1/contacts/{}",
                conversation["contact_id"].as_str().unwrap()
            ),
            &app.admin_token,
        )
        .await;
    assert_eq!(contact.body["properties"]["work_email"], "pat@acme.test");
    for recipient in page
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| &b["recipient"]["id"])
    {
        assert_eq!(recipient, "psid-b");
    }
}

on_both_backends!(
    a_bot_chatflow_answers_on_messenger_through_the_same_engine,
    connecting_a_page_verifies_the_webhook_and_creates_its_live_chat_chatflow,
    events_without_the_right_signature_are_refused_and_nothing_is_stored,
    messages_are_stored_once_and_replies_go_out_through_the_send_api,
    a_refused_send_ends_failed_with_facebooks_reason,
    a_reply_after_the_24_hour_window_is_refused_before_it_is_stored,
);
