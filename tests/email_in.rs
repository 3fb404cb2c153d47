//! Email in against real servers: Parley's own inbound SMTP listener driven by Python's
//! `smtplib`, and Dovecot (scripts/services.d/dovecot.sh) filled by IMAP APPEND.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Backend, TestApp, spawn_app_with, test_settings};
use parley::startup::Application;
use serde_json::{Value, json};

const SECRET: &str = "reply-token-secret";
const DOMAIN: &str = "mail.parley.test";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn imap_port() -> u16 {
    std::env::var("PARLEY_TEST_IMAP_PORT")
        .expect("PARLEY_TEST_IMAP_PORT is not set: start Dovecot with scripts/services.sh")
        .parse()
        .unwrap()
}

fn imap_password() -> String {
    std::env::var("PARLEY_TEST_IMAP_PASSWORD").unwrap_or_else(|_| "parley-imap-password".into())
}

/// A mailbox of this test's own on Dovecot (any user name logs in with the test password).
/// The SMTP sink delivers mail for `imap-USER@…` into USER's mailbox, so real mail reaches it.
fn imap_user() -> String {
    format!("imap-{}", uuid::Uuid::new_v4().simple())
}

struct Mail {
    app: TestApp,
    smtp_port: u16,
    inbox: String,
    fallback: String,
    imap_user: String,
}

/// A node with the SMTP listener on, an inbox with `filters`, and an email channel whose IMAP
/// mailbox is a fresh Dovecot user.
async fn mail_app(backend: Backend, filters: Value) -> Mail {
    let smtp_port = free_port();
    let port = smtp_port.to_string();
    let app = spawn_app_with(
        backend,
        &[
            ("PARLEY__MAIL__SMTP_PORT", &port),
            ("PARLEY__MAIL__INBOUND_DOMAIN", DOMAIN),
            ("PARLEY__OUTBOX__REPLY_TOKEN_SECRET", SECRET),
            ("PARLEY__MAIL__IMAP_POLL_SECS", "1"),
        ],
    )
    .await;
    let inbox = app
        .post(
            "/api/v1/inboxes",
            &app.admin_token,
            json!({"name": "Support", "email_filters": filters}),
        )
        .await;
    assert_eq!(inbox.status, 201, "{:?}", inbox.body);
    let fallback = inbox.body["fallback_address"].as_str().unwrap().to_owned();
    let inbox = inbox.body["id"].as_str().unwrap().to_owned();
    let imap_user = imap_user();
    let channel = app
        .post(
            "/api/v1/channels",
            &app.admin_token,
            json!({"inbox_id": inbox, "kind": "email", "name": "Support mail",
                   "settings": channel_settings(&imap_user)}),
        )
        .await;
    assert_eq!(channel.status, 201, "{:?}", channel.body);
    Mail {
        app,
        smtp_port,
        inbox,
        fallback,
        imap_user,
    }
}

fn channel_settings(imap_user: &str) -> Value {
    json!({
        "imap_host": "127.0.0.1", "imap_port": imap_port(), "imap_tls": "none",
        "imap_username": imap_user, "imap_password": imap_password(),
        "smtp_host": "127.0.0.1", "smtp_port": 2525, "smtp_tls": "none",
        "smtp_username": "support", "smtp_password": "x",
        "sender_name": "Acme Support", "sender_address": "support@acme.test",
    })
}

/// Sends `raw` through the listener with Python's smtplib; `Ok` or the refusal in words.
fn smtp_send(port: u16, from: &str, to: &str, raw: &str) -> Result<(), String> {
    let script = r#"
import smtplib, sys
port, sender, rcpt = int(sys.argv[1]), sys.argv[2], sys.argv[3]
raw = sys.stdin.buffer.read()
try:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.sendmail(sender, [rcpt], raw)
    print("OK")
except smtplib.SMTPRecipientsRefused as e:
    code, msg = list(e.recipients.values())[0]
    print(f"REFUSED {code} {msg.decode()}")
except smtplib.SMTPException as e:
    print(f"ERROR {e}")
"#;
    use std::io::Write;
    let mut child = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script, &port.to_string(), from, to])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(raw.replace('\n', "\r\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if text == "OK" { Ok(()) } else { Err(text) }
}

fn message(from: &str, to: &str, subject: &str, id: &str, extra: &str, body: &str) -> String {
    format!(
        "From: {from}\nTo: {to}\nSubject: {subject}\nMessage-ID: <{id}>\n\
         Date: Mon, 3 Mar 2025 10:00:00 +0000\nMIME-Version: 1.0\n{extra}\
         Content-Type: text/plain; charset=utf-8\n\n{body}\n"
    )
}

async fn conversations(app: &TestApp, inbox: &str) -> Vec<Value> {
    let answer = app
        .get(
            &format!("/api/v1/conversations?inbox_id={inbox}&limit=200"),
            &app.admin_token,
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body["items"].as_array().unwrap().clone()
}

async fn messages(app: &TestApp, conversation: &str) -> Vec<String> {
    let answer = app
        .get(
            &format!("/api/v1/conversations/{conversation}/timeline"),
            &app.admin_token,
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "message")
        .map(|i| i["body"].as_str().unwrap().to_owned())
        .collect()
}

async fn held(app: &TestApp, inbox: &str) -> Vec<Value> {
    let answer = app
        .get(
            &format!("/api/v1/inboxes/{inbox}/held-mail"),
            &app.admin_token,
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body["items"].as_array().unwrap().clone()
}

/// Waits until `count` conversations exist in the inbox (IMAP import is asynchronous).
async fn wait_conversations(app: &TestApp, inbox: &str, count: usize) -> Vec<Value> {
    for _ in 0..150 {
        let found = conversations(app, inbox).await;
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{count} conversations never arrived in inbox {inbox}");
}

// ----- SMTP listener -----

async fn smtp_listener_takes_fallback_mail_and_refuses_strangers(backend: Backend) {
    let m = mail_app(backend, no_filters()).await;
    let raw = message(
        "\"Jane Doe\" <Jane@Customer.test>",
        &m.fallback,
        "Order 42 is late",
        "first@customer.test",
        "",
        "Where is my order?\n..and a line starting with a dot",
    );
    smtp_send(m.smtp_port, "jane@customer.test", &m.fallback, &raw).unwrap();
    let found = conversations(&m.app, &m.inbox).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["subject"], "Order 42 is late");
    let body = messages(&m.app, found[0]["id"].as_str().unwrap()).await;
    assert_eq!(
        body,
        ["Where is my order?\n..and a line starting with a dot"]
    );
    let contact = m
        .app
        .get(
            &format!(
                "/api/v1/contacts/{}",
                found[0]["contact_id"].as_str().unwrap()
            ),
            &m.app.admin_token,
        )
        .await;
    assert_eq!(contact.body["email"], "jane@customer.test");
    assert_eq!(contact.body["name"], "Jane Doe");

    let unknown = format!("nobody@{DOMAIN}");
    let refused = smtp_send(m.smtp_port, "jane@customer.test", &unknown, &raw).unwrap_err();
    assert!(refused.starts_with("REFUSED 550"), "{refused}");
    let relay = smtp_send(m.smtp_port, "jane@customer.test", "x@elsewhere.test", &raw).unwrap_err();
    assert!(relay.starts_with("REFUSED 550"), "{relay}");
    // The same mail sent again is stored once.
    smtp_send(m.smtp_port, "jane@customer.test", &m.fallback, &raw).unwrap();
    let found = conversations(&m.app, &m.inbox).await;
    assert_eq!(
        messages(&m.app, found[0]["id"].as_str().unwrap())
            .await
            .len(),
        1
    );
}

// ----- threading -----

async fn replies_of_three_clients_thread_and_a_stranger_does_not(backend: Backend) {
    let m = mail_app(backend, no_filters()).await;
    let to = &m.fallback;
    let send = |raw: String| smtp_send(m.smtp_port, "x@customer.test", to, &raw).unwrap();
    send(message(
        "Jane <jane@customer.test>",
        to,
        "Refund for order 42",
        "orig@customer.test",
        "",
        "Please refund order 42.",
    ));
    let first = conversations(&m.app, &m.inbox).await;
    assert_eq!(first.len(), 1);
    let thread = first[0]["id"].as_str().unwrap().to_owned();

    // Gmail: In-Reply-To and References, quoted history below an attribution line.
    send(message(
        "Jane <jane@customer.test>",
        to,
        "Re: Refund for order 42",
        "gmail-reply@customer.test",
        "In-Reply-To: <orig@customer.test>\nReferences: <orig@customer.test>\n",
        "Any news?\n\nOn Mon, 3 Mar 2025 at 10:00, Jane <jane@customer.test> wrote:\n> Please refund order 42.",
    ));
    // Apple Mail: References only, from another address of the thread (a colleague in Cc).
    send(message(
        "Bob <bob@customer.test>",
        to,
        "Re: Refund for order 42",
        "apple-reply@customer.test",
        "References: <orig@customer.test> <gmail-reply@customer.test>\n",
        "Adding Bob here.\n\n> On 3 Mar 2025, at 10:00, Jane wrote:\n> Any news?",
    ));
    // Outlook: no In-Reply-To or References, "AW:" prefix, same sender; quoted with a rule.
    send(message(
        "Jane <jane@customer.test>",
        to,
        "AW: RE: Refund for order 42",
        "outlook-reply@customer.test",
        "",
        "Still waiting.\n\n________________________________\nFrom: Acme Support <support@acme.test>\nSent: Monday\nSubject: Refund\n\nWe are on it.",
    ));
    // A reply token in the address threads even with a new subject and no headers.
    let token = parley::outbox::reply_token::reply_token(
        parley::domain::ConversationId(thread.parse().unwrap()),
        SECRET.as_bytes(),
    );
    let (local, domain) = to.split_once('@').unwrap();
    let tokened = format!("{local}+{token}@{domain}");
    smtp_send(
        m.smtp_port,
        "jane@customer.test",
        &tokened,
        &message(
            "Jane <jane@customer.test>",
            &tokened,
            "something else",
            "token-reply@customer.test",
            "",
            "Replying from my phone.",
        ),
    )
    .unwrap();
    let after = conversations(&m.app, &m.inbox).await;
    assert_eq!(after.len(), 1, "every reply joined: {after:?}");
    assert_eq!(
        messages(&m.app, &thread).await,
        [
            "Please refund order 42.",
            "Any news?",
            "Adding Bob here.",
            "Still waiting.",
            "Replying from my phone."
        ]
    );

    // A stranger with the same subject (and a reply prefix) gets a conversation of their own.
    send(message(
        "Mallory <mallory@other.test>",
        to,
        "Re: Refund for order 42",
        "stranger@other.test",
        "",
        "Me too.",
    ));
    let after = conversations(&m.app, &m.inbox).await;
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(messages(&m.app, &thread).await.len(), 5);
}

// ----- filters and held mail -----

async fn filtered_and_malformed_mail_is_held_and_reviewable(backend: Backend) {
    let filters = json!({"blocked_senders": ["spam@bad.test"], "blocked_domains": ["junk.test"],
                         "filter_auto_replies": true});
    let m = mail_app(backend, filters).await;
    let to = &m.fallback;
    let send = |raw: &str| smtp_send(m.smtp_port, "x@y.test", to, raw).unwrap();
    send("Subject: no sender at all\nMessage-ID: <broken@x.test>\n\nhello");
    send(&message(
        "Jane <jane@customer.test>",
        to,
        "Out of office",
        "ooo@customer.test",
        "Auto-Submitted: auto-replied\n",
        "I am away.",
    ));
    send(&message(
        "spam@bad.test",
        to,
        "Buy",
        "spam1@bad.test",
        "",
        "Buy now",
    ));
    send(&message(
        "a@mx.junk.test",
        to,
        "Buy",
        "spam2@junk.test",
        "",
        "Buy now",
    ));
    send(&message(
        "MAILER-DAEMON@mx.customer.test",
        to,
        "Undelivered",
        "dsn@customer.test",
        "",
        "Delivery failed",
    ));
    // The next good mail still imports.
    send(&message(
        "jane@customer.test",
        to,
        "Real question",
        "real@customer.test",
        "",
        "Hi",
    ));
    let found = conversations(&m.app, &m.inbox).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["subject"], "Real question");

    let list = held(&m.app, &m.inbox).await;
    let reasons: Vec<&str> = list.iter().map(|h| h["reason"].as_str().unwrap()).collect();
    assert_eq!(
        reasons,
        ["bounce", "blocked", "blocked", "auto_reply", "failed"],
        "newest first"
    );
    assert!(
        list[4]["detail"].as_str().unwrap().contains("From"),
        "{:?}",
        list[4]
    );
    assert!(
        list[2]["detail"]
            .as_str()
            .unwrap()
            .contains("spam@bad.test")
    );

    // Paging: one per page, following `next`.
    let page = m
        .app
        .get(
            &format!("/api/v1/inboxes/{}/held-mail?limit=2", m.inbox),
            &m.app.admin_token,
        )
        .await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 2);
    let next = page.body["next"].as_str().unwrap();
    let page2 = m
        .app
        .get(
            &format!("/api/v1/inboxes/{}/held-mail?limit=2&after={next}", m.inbox),
            &m.app.admin_token,
        )
        .await;
    assert_eq!(page2.body["items"][0]["reason"], "blocked");

    let id = list[3]["id"].as_str().unwrap();
    let one = m
        .app
        .get(&format!("/api/v1/held-mail/{id}"), &m.app.admin_token)
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["subject"], "Out of office");
    let raw = reqwest::Client::new()
        .get(m.app.url(&format!("/api/v1/held-mail/{id}/raw")))
        .bearer_auth(&m.app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    assert!(
        raw.text()
            .await
            .unwrap()
            .contains("Auto-Submitted: auto-replied")
    );

    // Admins only; unknown ids are 404; no credentials 401.
    let agent = m
        .app
        .post(
            "/api/v1/agents",
            &m.app.admin_token,
            json!({
        "email": "agent@parley.test", "password": "agent-password-123", "role": "agent",
        "display_name": "Agent"}),
        )
        .await;
    assert_eq!(agent.status, 201, "{:?}", agent.body);
    let (agent_token, _) = m.app.login("agent@parley.test", "agent-password-123").await;
    for path in [
        format!("/api/v1/inboxes/{}/held-mail", m.inbox),
        format!("/api/v1/held-mail/{id}"),
        format!("/api/v1/held-mail/{id}/raw"),
    ] {
        assert_eq!(m.app.get(&path, &agent_token).await.status, 403, "{path}");
        assert_eq!(
            m.app.call("GET", &path, None, None).await.status,
            401,
            "{path}"
        );
    }
    let missing = uuid::Uuid::now_v7();
    assert_eq!(
        m.app
            .get(&format!("/api/v1/held-mail/{missing}"), &m.app.admin_token)
            .await
            .status,
        404
    );
    assert_eq!(
        m.app
            .get(
                &format!("/api/v1/inboxes/{missing}/held-mail"),
                &m.app.admin_token
            )
            .await
            .status,
        404
    );
}

// ----- IMAP -----

async fn imap_append(user: &str, raw: &str) {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", imap_port()))
        .await
        .unwrap();
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.unwrap();
    let mut session = client
        .login(user, imap_password())
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    session
        .append("INBOX", None, None, raw.replace('\n', "\r\n"))
        .await
        .unwrap();
    session.logout().await.unwrap();
}

async fn mail_sent_over_smtp_reaches_the_mailbox_and_is_imported_over_imap(backend: Backend) {
    let m = mail_app(backend, no_filters()).await;
    std::env::var("PARLEY_TEST_IMAP_MAILDIR").expect(
        "PARLEY_TEST_IMAP_MAILDIR is not set: start the mail servers with scripts/services.sh",
    );
    let smtp: u16 = std::env::var("PARLEY_TEST_SMTP_PORT")
        .expect("PARLEY_TEST_SMTP_PORT is not set: start the SMTP server with scripts/services.sh")
        .parse()
        .unwrap();
    // The team address is the channel's mailbox on Dovecot; the mail goes through a real SMTP
    // server that delivers it there, and the connector reads it over IMAP.
    let to = format!("{}@acme.test", m.imap_user);
    smtp_send(
        smtp,
        "jane@customer.test",
        &to,
        &message(
            "Jane Roe <jane@customer.test>",
            &to,
            "Sent for real",
            "real-1@customer.test",
            "",
            "Hello over SMTP and IMAP",
        ),
    )
    .unwrap();
    let conversations = wait_conversations(&m.app, &m.inbox, 1).await;
    let id = conversations[0]["id"].as_str().unwrap();
    assert_eq!(
        messages(&m.app, id).await,
        ["Hello over SMTP and IMAP".to_owned()]
    );
}

async fn imap_mail_is_imported_once_across_a_restart_and_two_nodes(backend: Backend) {
    let mut m = mail_app(backend, no_filters()).await;
    let to = "support@acme.test";
    imap_append(
        &m.imap_user,
        &message(
            "jane@customer.test",
            to,
            "First",
            "i1@customer.test",
            "",
            "one",
        ),
    )
    .await;
    wait_conversations(&m.app, &m.inbox, 1).await;

    m.app.stop().await;
    // Mail arriving while no node runs, then two nodes over the same database at once.
    imap_append(
        &m.imap_user,
        &message(
            "bob@customer.test",
            to,
            "Second",
            "i2@customer.test",
            "",
            "two",
        ),
    )
    .await;
    imap_append(
        &m.imap_user,
        &message(
            "amy@customer.test",
            to,
            "Broken",
            "i3@customer.test",
            "",
            "",
        )
        .replace("From: amy@customer.test\n", ""),
    )
    .await;
    imap_append(
        &m.imap_user,
        &message(
            "carl@customer.test",
            to,
            "Third",
            "i4@customer.test",
            "",
            "three",
        ),
    )
    .await;
    m.app.start_again().await;
    let settings = test_settings(&m.app.db.url, &[("PARLEY__MAIL__IMAP_POLL_SECS", "1")]);
    let second = Application::build(settings).await.unwrap();
    let second_handle = second.handle();
    tokio::spawn(second.run_until_stopped());

    let found = wait_conversations(&m.app, &m.inbox, 3).await;
    imap_append(
        &m.imap_user,
        &message(
            "dan@customer.test",
            to,
            "Fourth",
            "i5@customer.test",
            "",
            "four",
        ),
    )
    .await;
    let found = {
        let _ = found;
        wait_conversations(&m.app, &m.inbox, 4).await
    };
    // Give both nodes time to (wrongly) import again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let found_later = conversations(&m.app, &m.inbox).await;
    assert_eq!(found_later.len(), found.len());
    let mut subjects: Vec<&str> = found_later
        .iter()
        .map(|c| c["subject"].as_str().unwrap())
        .collect();
    subjects.sort_unstable();
    assert_eq!(subjects, ["First", "Fourth", "Second", "Third"]);
    for c in &found_later {
        assert_eq!(
            messages(&m.app, c["id"].as_str().unwrap()).await.len(),
            1,
            "{c:?}"
        );
    }
    let held = held(&m.app, &m.inbox).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["reason"], "failed");
    second_handle.stop(true).await;
}

on_both_backends!(
    mail_sent_over_smtp_reaches_the_mailbox_and_is_imported_over_imap,
    smtp_listener_takes_fallback_mail_and_refuses_strangers,
    replies_of_three_clients_thread_and_a_stranger_does_not,
    filtered_and_malformed_mail_is_held_and_reviewable,
    imap_mail_is_imported_once_across_a_restart_and_two_nodes,
);

fn no_filters() -> Value {
    json!({"blocked_senders": [], "blocked_domains": [], "filter_auto_replies": false})
}
