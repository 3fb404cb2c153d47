//! Email out: an agent's reply on an email conversation reaches a real SMTP server (aiosmtpd,
//! `scripts/services.d/smtp.sh`) once, from the channel's sender with its signature and the
//! thread's headers; refusals are retried with backoff or end `failed` with the reason; and a
//! node killed in the middle of a send sends the reply exactly once after it restarts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod ws_fixtures;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use parley::outbox::reply_token::{conversation_of, reply_token};
use serde_json::{Value, json};
use uuid::Uuid;
use ws_fixtures::Socket;

/// Matches `reply_token_secret` in config/test.toml.
const TEST_SECRET: &[u8] = b"test-reply-token-secret";

fn smtp_port() -> u16 {
    std::env::var("PARLEY_TEST_SMTP_PORT")
        .expect("PARLEY_TEST_SMTP_PORT is not set: run with scripts/test.sh (scripts/services.d/smtp.sh)")
        .parse()
        .unwrap()
}

fn smtp_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("PARLEY_TEST_SMTP_DIR")
            .expect("PARLEY_TEST_SMTP_DIR is not set: run with scripts/test.sh"),
    )
}

/// A recipient of this test run only; its local part chooses the sink's behaviour.
fn recipient(behaviour: &str) -> String {
    format!("{behaviour}{}@customer.test", Uuid::new_v4().simple())
}

/// A received mail: headers (unfolded, in order) and the body with `\n` line ends.
struct Mail {
    headers: Vec<(String, String)>,
    body: String,
}

impl Mail {
    fn parse(raw: &str) -> Self {
        let raw = raw.replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = headers.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        Self {
            headers,
            body: body.to_owned(),
        }
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}

/// Every mail the sink stored for `to`.
fn mails_for(to: &str) -> Vec<Mail> {
    let dir = smtp_dir().join(to.to_ascii_lowercase());
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut names: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| Mail::parse(&std::fs::read_to_string(p).unwrap()))
        .collect()
}

/// Waits until `want` mails reached `to`, then a little longer so a duplicate would show.
async fn delivered(to: &str, want: usize) -> Vec<Mail> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while mails_for(to).len() < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    mails_for(to)
}

fn email_settings(port: u16) -> Value {
    json!({
        "imap_host": "127.0.0.1", "imap_port": 993, "imap_tls": "tls",
        "imap_username": "support", "imap_password": "imap-pw",
        "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_tls": "none",
        "smtp_username": "support", "smtp_password": "smtp-pw",
        "sender_name": "Acme Support", "sender_address": "support@acme.test",
        "signature": "Kind regards,\nAcme Support",
    })
}

/// An email conversation with a contact at `to`, through the API of the node at `address`.
struct Thread {
    conversation: String,
}

async fn api(
    client: &reqwest::Client,
    method: &str,
    url: String,
    token: &str,
    body: Value,
) -> Value {
    let request = match method {
        "POST" => client.post(url).json(&body),
        _ => client.get(url),
    };
    let answer = request.bearer_auth(token).send().await.unwrap();
    let status = answer.status();
    let body: Value = answer.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

async fn open_thread(address: &str, token: &str, to: &str) -> Thread {
    let client = reqwest::Client::new();
    let inbox = api(
        &client,
        "POST",
        format!("{address}/api/v1/inboxes"),
        token,
        json!({"name": "Support"}),
    )
    .await;
    let channel = api(
        &client,
        "POST",
        format!("{address}/api/v1/channels"),
        token,
        json!({"inbox_id": inbox["id"], "kind": "email", "name": "Support mail",
               "settings": email_settings(smtp_port())}),
    )
    .await;
    let contact = api(
        &client,
        "POST",
        format!("{address}/api/v1/contacts"),
        token,
        json!({"email": to, "name": "Dana Customer"}),
    )
    .await;
    let conversation = api(
        &client,
        "POST",
        format!("{address}/api/v1/conversations"),
        token,
        json!({"channel_id": channel["id"], "contact_id": contact["id"], "subject": "Broken widget"}),
    )
    .await;
    Thread {
        conversation: conversation["id"].as_str().unwrap().to_owned(),
    }
}

async fn reply(address: &str, token: &str, thread: &Thread, body: &str) -> Value {
    api(
        &reqwest::Client::new(),
        "POST",
        format!(
            "{address}/api/v1/conversations/{}/messages",
            thread.conversation
        ),
        token,
        json!({"client_id": Uuid::new_v4(), "body": body}),
    )
    .await
}

/// The message at `seq` once its delivery status is no longer `pending`.
async fn settled(address: &str, token: &str, thread: &Thread, seq: i64) -> Value {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        let page = api(
            &client,
            "GET",
            format!(
                "{address}/api/v1/conversations/{}/timeline",
                thread.conversation
            ),
            token,
            Value::Null,
        )
        .await;
        let item = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["seq"] == seq)
            .cloned()
            .unwrap();
        if item["delivery_status"] != "pending" || Instant::now() > deadline {
            return item;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The contact's mail that opened the thread, as the email-in connector stores it: a message
/// item plus its `email_messages` row (written here with SQL; the connector is another part).
async fn inbound_mail(app: &TestApp, thread: &Thread, message_id: &str) {
    let conversation: parley::domain::ConversationId =
        serde_json::from_value(json!(thread.conversation)).unwrap();
    let stored = app
        .store
        .get_conversation(app.admin.account_id, conversation)
        .await
        .unwrap();
    let item = app
        .store
        .append_item(
            app.admin.account_id,
            conversation,
            parley::domain::NewItem {
                client_id: None,
                author: parley::domain::Actor::Contact(stored.contact_id),
                content: parley::domain::NewItemContent::Message {
                    direction: parley::domain::Direction::In,
                    body: parley::domain::Body::parse("The widget is broken.").unwrap(),
                },
            },
        )
        .await
        .unwrap()
        .item;
    let (item_id, account, conv) = (item.id.0, app.admin.account_id.0, conversation.0);
    if let Some(path) = app.db.url.strip_prefix("sqlite://") {
        let c = rusqlite::Connection::open(path).unwrap();
        c.busy_timeout(Duration::from_secs(5)).unwrap();
        c.execute(
            "INSERT INTO email_messages (item_id, account_id, conversation_id, direction,
                message_id, refs, subject, from_address, created_at)
             VALUES (?1, ?2, ?3, 'in', ?4, '[\"root@customer.test\"]', 'Broken widget',
                'dana@customer.test', 1)",
            rusqlite::params![
                item_id.to_string(),
                account.to_string(),
                conv.to_string(),
                message_id
            ],
        )
        .unwrap();
    } else {
        let (client, conn) = tokio_postgres::connect(&app.db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(&format!(
                "INSERT INTO email_messages (item_id, account_id, conversation_id, direction, \
                 message_id, refs, subject, from_address, created_at) VALUES ('{item_id}', \
                 '{account}', '{conv}', 'in', '{message_id}', '[\"root@customer.test\"]', \
                 'Broken widget', 'dana@customer.test', now() - interval '1 minute')"
            ))
            .await
            .unwrap();
    }
}

async fn a_reply_arrives_once_from_the_sender_signed_and_threaded(backend: Backend) {
    let app = spawn_app(backend).await;
    let to = recipient("dana-");
    let thread = open_thread(&app.address, &app.admin_token, &to).await;
    inbound_mail(&app, &thread, "m1@customer.test").await;
    let mut socket = Socket::agent(&app, &app.admin_token).await;
    socket.subscribe(&thread.conversation, 0).await;

    let sent = reply(&app.address, &app.admin_token, &thread, "We are on it.").await;
    assert_eq!(sent["delivery_status"], "pending", "{sent}");
    let seq = sent["seq"].as_i64().unwrap();

    let mails = delivered(&to, 1).await;
    assert_eq!(mails.len(), 1, "delivered exactly once");
    let mail = &mails[0];
    assert_eq!(mail.header("from"), "\"Acme Support\" <support@acme.test>");
    assert!(mail.header("to").contains(&to), "{}", mail.header("to"));
    assert_eq!(mail.header("subject"), "Re: Broken widget");
    assert_eq!(mail.header("in-reply-to"), "<m1@customer.test>");
    assert_eq!(
        mail.header("references"),
        "<root@customer.test> <m1@customer.test>"
    );
    let first_id = mail.header("message-id").to_owned();
    assert!(first_id.ends_with("@acme.test>"), "{first_id}");
    assert!(mail.body.starts_with("We are on it.\n"), "{}", mail.body);
    assert!(
        mail.body.contains("\n-- \nKind regards,\nAcme Support"),
        "{}",
        mail.body
    );
    // The Reply-To carries the conversation's token, which only the server's secret makes.
    let reply_to = mail.header("reply-to");
    let token = reply_to
        .split("support+")
        .nth(1)
        .and_then(|rest| rest.split('@').next())
        .unwrap_or_else(|| panic!("no token in {reply_to}"));
    let conversation = serde_json::from_value(json!(thread.conversation)).unwrap();
    assert_eq!(conversation_of(token, TEST_SECRET), Some(conversation));
    assert_eq!(token, reply_token(conversation, TEST_SECRET));

    let item = settled(&app.address, &app.admin_token, &thread, seq).await;
    assert_eq!(item["delivery_status"], "sent", "{item}");
    assert_eq!(item["delivery_error"], Value::Null);
    // The agent's open socket hears of it without reloading.
    loop {
        let frame = socket.next().await;
        if frame["type"] == "delivery" {
            assert_eq!(frame["conversation_id"], thread.conversation.as_str());
            assert_eq!(frame["seq"], seq);
            assert_eq!(frame["status"], "sent");
            break;
        }
    }

    // A second reply threads under the contact's mail and refers to the first reply too.
    reply(&app.address, &app.admin_token, &thread, "Fixed now.").await;
    let mails = delivered(&to, 2).await;
    assert_eq!(mails.len(), 2);
    let second = &mails[1];
    assert_eq!(second.header("in-reply-to"), "<m1@customer.test>");
    assert_eq!(
        second.header("references"),
        format!("<root@customer.test> <m1@customer.test> {first_id}")
    );
    assert_ne!(second.header("message-id"), first_id);
}

async fn a_refused_attempt_is_retried_with_backoff_until_it_is_sent(backend: Backend) {
    let app = spawn_app(backend).await;
    // The sink answers 451 to the first two attempts.
    let to = recipient("tempfail2-");
    let thread = open_thread(&app.address, &app.admin_token, &to).await;
    let started = Instant::now();
    let sent = reply(&app.address, &app.admin_token, &thread, "Third time lucky.").await;
    let seq = sent["seq"].as_i64().unwrap();
    let item = settled(&app.address, &app.admin_token, &thread, seq).await;
    assert_eq!(item["delivery_status"], "sent", "{item}");
    // backoff_base_ms = 200 in config/test.toml: 200 ms, then 400 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(delivered(&to, 1).await.len(), 1);
}

async fn a_permanent_refusal_ends_failed_with_the_reason(backend: Backend) {
    let app = spawn_app(backend).await;
    let to = recipient("reject-");
    let thread = open_thread(&app.address, &app.admin_token, &to).await;
    let sent = reply(
        &app.address,
        &app.admin_token,
        &thread,
        "Nobody reads this.",
    )
    .await;
    let item = settled(
        &app.address,
        &app.admin_token,
        &thread,
        sent["seq"].as_i64().unwrap(),
    )
    .await;
    assert_eq!(item["delivery_status"], "failed", "{item}");
    let error = item["delivery_error"].as_str().unwrap();
    assert!(
        error.contains("550") && error.contains("mailbox unavailable"),
        "{error}"
    );
    assert!(mails_for(&to).is_empty());
}

async fn an_smtp_server_down_at_first_is_retried_to_success(backend: Backend) {
    // Nothing listens on the channel's port at first; the sink starts there a moment later.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    // Enough attempts (200 ms doubling: about 25 s) for a slow machine to start the sink.
    let app = spawn_app_with(backend, &[("PARLEY__OUTBOX__MAX_ATTEMPTS", "8")]).await;
    let to = recipient("late-");
    let client = reqwest::Client::new();
    let address = &app.address;
    let token = &app.admin_token;
    let inbox = api(
        &client,
        "POST",
        format!("{address}/api/v1/inboxes"),
        token,
        json!({"name": "Late"}),
    )
    .await;
    let channel = api(&client, "POST", format!("{address}/api/v1/channels"), token,
        json!({"inbox_id": inbox["id"], "kind": "email", "name": "Late mail", "settings": email_settings(port)})).await;
    let contact = api(
        &client,
        "POST",
        format!("{address}/api/v1/contacts"),
        token,
        json!({"email": to}),
    )
    .await;
    let conversation = api(
        &client,
        "POST",
        format!("{address}/api/v1/conversations"),
        token,
        json!({"channel_id": channel["id"], "contact_id": contact["id"], "subject": "Hello"}),
    )
    .await;
    let thread = Thread {
        conversation: conversation["id"].as_str().unwrap().to_owned(),
    };
    let sent = reply(address, token, &thread, "Are you there?").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut sink = start_sink(port, dir.path());
    let item = settled(address, token, &thread, sent["seq"].as_i64().unwrap()).await;
    assert_eq!(item["delivery_status"], "sent", "{item}");
    let files = std::fs::read_dir(dir.path().join(to.to_ascii_lowercase()))
        .unwrap()
        .count();
    assert_eq!(files, 1);
    let _ = sink.kill();
    let _ = sink.wait();
}

/// A private sink on `port` (the same script the test services run).
fn start_sink(port: u16, dir: &std::path::Path) -> Child {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mail/smtp_sink.py");
    let child = Command::new("/usr/bin/python3")
        .args([script, &port.to_string(), dir.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the SMTP sink (python3-aiosmtpd)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the sink did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// One `parley` process over `db_url`, killed (SIGKILL) on drop.
struct Node {
    child: Child,
    address: String,
}

impl Node {
    fn start(db_url: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_parley"))
            .env(
                "PARLEY_CONFIG_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
            )
            .env("PARLEY_ENV", "test")
            .env("PARLEY__STORE__URL", db_url)
            .env("PARLEY__ADMIN__EMAIL", ADMIN_EMAIL)
            .env("PARLEY__ADMIN__PASSWORD", ADMIN_PASSWORD)
            // The send (2 s in the sink) fits in the send timeout (3/4 of the lease).
            .env("PARLEY__OUTBOX__LEASE_SECS", "4")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port: u16 = loop {
            let line = lines
                .next()
                .expect("parley exited before listening")
                .unwrap();
            if let Some(rest) = line.strip_prefix("Parley: listening on http://localhost:") {
                break rest.trim().parse().unwrap();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn a_node_killed_mid_send_sends_the_reply_exactly_once_after_restart(backend: Backend) {
    parley::startup::install_crypto_provider();
    let db = TestDb::new(backend).await;
    let mut node = Node::start(&db.url);
    let (token, _) = login_at(&node.address, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // The sink takes 2 s to accept each mail; a client gone before that has handed nothing over.
    let to = recipient("slow2-");
    let thread = open_thread(&node.address, &token, &to).await;
    let sent = reply(
        &node.address,
        &token,
        &thread,
        "Sent once, whatever happens.",
    )
    .await;
    let seq = sent["seq"].as_i64().unwrap();
    // Polling every 100 ms, the node is inside the slow DATA exchange by now.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    node.kill();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        mails_for(&to).is_empty(),
        "the killed send must not have completed"
    );

    let node = Node::start(&db.url);
    let (token, _) = login_at(&node.address, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let item = settled(&node.address, &token, &thread, seq).await;
    assert_eq!(item["delivery_status"], "sent", "{item}");
    // Longer than another lease and poll round: a second send would have landed by now.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(mails_for(&to).len(), 1, "exactly one delivery");
}

on_both_backends!(
    a_reply_arrives_once_from_the_sender_signed_and_threaded,
    a_refused_attempt_is_retried_with_backoff_until_it_is_sent,
    a_permanent_refusal_ends_failed_with_the_reason,
    an_smtp_server_down_at_first_is_retried_to_success,
    a_node_killed_mid_send_sends_the_reply_exactly_once_after_restart,
);
