//! The inbox app in a real browser: headless Chromium, driven through the chromedriver at
//! `PARLEY_TEST_CHROMEDRIVER_URL` (started by `scripts/services.sh`; missing, the tests fail),
//! on Parley's own origin at `/app/`. An agent logs in (after a wrong password), sees a chat a
//! visitor starts, answers it from the app while the visitor's socket receives the answer, and
//! keeps the conversation, without a lost or doubled item, across a server restart. One browser
//! at a time. Screenshots of the login and thread go to `docs/screenshots/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser_fixtures;
mod common;
mod ws_fixtures;

use std::time::Duration;

use browser_fixtures::{app_log_in, element, run_js, screenshot, wait_for};
use common::*;
use fantoccini::Client;
use fantoccini::key::Key;
use serde_json::{Value, json};
use ws_fixtures::*;

/// A Parley with one inbox and its chat channel, where visitors start conversations.
struct World {
    app: TestApp,
    channel: String,
}

impl World {
    async fn new() -> Self {
        let app = spawn_app(Backend::Sqlite).await;
        let (_, channel) = chat_inbox(&app, &[]).await;
        Self { app, channel }
    }

    /// A visitor's socket, subscribed to the conversation their first message starts.
    async fn visitor_starts(&self, body: &str) -> (Visit, Socket, String) {
        visitor_starts_chat(&self.app, &self.channel, body).await
    }

    /// Message bodies of a conversation's timeline, in order.
    async fn timeline(&self, conversation: &str) -> Vec<String> {
        let timeline = self
            .app
            .get(
                &format!("/api/v1/conversations/{conversation}/timeline"),
                &self.app.admin_token,
            )
            .await;
        assert_eq!(timeline.status, 200, "{:?}", timeline.body);
        timeline.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["kind"] == "message")
            .map(|i| i["body"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// Reads the visitor's frames until an agent's message arrives; answers its body.
async fn agent_message(socket: &mut Socket) -> String {
    loop {
        let frame = socket.next().await;
        if frame["type"] == "item"
            && frame["item"]["kind"] == "message"
            && frame["item"]["direction"] == "out"
        {
            return frame["item"]["body"].as_str().unwrap().to_owned();
        }
    }
}

/// The app's windows are 1280×800, the size the issue asks the app to be usable at.
async fn with_browser<F, Fut>(test: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()>,
{
    browser_fixtures::with_browser((1280, 800), test).await;
}

async fn js(c: &Client, body: &str) -> Value {
    run_js(c, body).await
}

async fn log_in(c: &Client, password: &str) {
    let field = element(c, "#login [name=password]").await;
    field.clear().await.unwrap();
    field.send_keys(password).await.unwrap();
    element(c, "#login button").await.click().await.unwrap();
}

/// Opens the app and logs in as the admin; waits for the (empty or not) list.
async fn open_app(c: &Client, app: &TestApp) {
    app_log_in(c, &app.url(""), ADMIN_EMAIL, ADMIN_PASSWORD).await;
}

/// Waits for the conversation in the list and opens it with a click.
async fn open_conversation(c: &Client, conversation: &str) {
    let button = format!(".conversations button[data-id='{conversation}']");
    wait_for(
        c,
        "the conversation in the list",
        &format!("return !!document.querySelector({button:?})"),
    )
    .await;
    element(c, &button).await.click().await.unwrap();
}

/// Waits until the thread shows a confirmed message of `direction` with exactly `text`.
async fn wait_for_message(c: &Client, direction: &str, text: &str) {
    wait_for(
        c,
        &format!("the {direction} message {text:?}"),
        &format!(
            "return [...document.querySelectorAll('.items .message.{direction}:not(.pending)')]
                .some(n => n.querySelector('.body')?.textContent === {text:?});"
        ),
    )
    .await;
}

/// The thread as shown: `(seq, class, text)` of every item, in page order.
async fn thread(c: &Client) -> Vec<(String, String, String)> {
    let value = js(
        c,
        "return [...document.querySelectorAll('.items li')]
            .map(n => [n.dataset.seq ?? '', n.className,
                (n.querySelector('.body') ?? n).textContent]);",
    )
    .await;
    serde_json::from_value(value).unwrap()
}

/// Each item once, in `seq` order, none pending.
fn assert_once_in_order(shown: &[(String, String, String)]) {
    let seqs: Vec<i64> = shown
        .iter()
        .map(|(seq, class, _)| {
            assert!(!class.contains("pending"), "still pending: {shown:?}");
            seq.parse().unwrap()
        })
        .collect();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(seqs, sorted, "once each, in order: {shown:?}");
}

async fn type_reply(c: &Client, keys: &str) {
    element(c, ".compose textarea")
        .await
        .send_keys(keys)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_logs_in_after_a_wrong_password() {
    let w = World::new().await;
    with_browser(|c| async move {
        c.goto(&w.app.url("/app")).await.unwrap();
        wait_for(
            &c,
            "the login form",
            "return !document.querySelector('#login').hidden",
        )
        .await;
        element(&c, "#login [name=email]")
            .await
            .send_keys(ADMIN_EMAIL)
            .await
            .unwrap();
        log_in(&c, "not-the-password").await;
        let error = wait_for(
            &c,
            "the refusal in words",
            "return document.querySelector('#login .error').textContent",
        )
        .await;
        assert!(
            error.as_str().unwrap().len() > 10,
            "a sentence, not a code: {error}"
        );
        assert_eq!(
            js(&c, "return document.querySelector('#main').hidden").await,
            true,
            "still outside"
        );
        screenshot(&c, "app-login.png").await;

        log_in(&c, ADMIN_PASSWORD).await;
        wait_for(
            &c,
            "the inbox",
            "return !document.querySelector('#main').hidden",
        )
        .await;
        assert_eq!(
            js(&c, "return document.querySelector('.me').textContent").await,
            json!(w.app.admin.profile.display_name),
        );
        wait_for(
            &c,
            "the empty list said in words",
            "return !document.querySelector('.list-empty').hidden",
        )
        .await;

        // A reload keeps the session; logging out ends it.
        c.refresh().await.unwrap();
        wait_for(
            &c,
            "the inbox again",
            "return !document.querySelector('#main').hidden",
        )
        .await;
        element(&c, ".logout").await.click().await.unwrap();
        wait_for(
            &c,
            "the login form",
            "return !document.querySelector('#login').hidden",
        )
        .await;
        let me = js(&c, "return fetch('/api/v1/auth/me').then(r => r.status);").await;
        assert_eq!(me, 401, "the session is over");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_answers_a_visitor_live_from_the_app() {
    let w = World::new().await;
    with_browser(|c| async move {
        open_app(&c, &w.app).await;
        let (_visit, mut visitor, conversation) =
            w.visitor_starts("Hello, is the pro plan monthly?").await;

        open_conversation(&c, &conversation).await;
        wait_for_message(&c, "in", "Hello, is the pro plan monthly?").await;

        // Shift+Enter breaks the line; Enter sends.
        type_reply(&c, "Yes, billed monthly.").await;
        type_reply(&c, &format!("{}{}{}", Key::Shift, Key::Enter, Key::Null)).await;
        type_reply(&c, "Anything else?").await;
        type_reply(&c, &Key::Enter.to_string()).await;
        let reply = "Yes, billed monthly.\nAnything else?";
        assert_eq!(agent_message(&mut visitor).await, reply);
        wait_for_message(&c, "out", reply).await;
        assert_eq!(
            js(
                &c,
                "return document.querySelector('.compose textarea').value"
            )
            .await,
            "",
            "the box is emptied for the next reply"
        );

        // The visitor's next message shows live.
        send_acked(&mut visitor, &uuid(), "Great, <b>thanks</b>").await;
        wait_for_message(&c, "in", "Great, <b>thanks</b>").await;
        assert_eq!(
            js(&c, "return document.querySelectorAll('.items b').length").await,
            0,
            "user content is text, never HTML"
        );

        // Status and assignment from the thread's buttons.
        element(&c, "[data-status=pending]")
            .await
            .click()
            .await
            .unwrap();
        wait_for(
            &c,
            "the pending status",
            "return document.querySelector('.status-label').textContent === 'Status: pending'",
        )
        .await;
        element(&c, ".assign-me").await.click().await.unwrap();
        wait_for(
            &c,
            "the assignment to me",
            "return document.querySelector('.assignee-label').textContent === 'assigned to you'",
        )
        .await;
        let stored = w
            .app
            .get(
                &format!("/api/v1/conversations/{conversation}"),
                &w.app.admin_token,
            )
            .await;
        assert_eq!(stored.body["status"], "pending", "{:?}", stored.body);
        assert_eq!(stored.body["assignee_id"], json!(w.app.admin.id));
        let events = wait_for(
            &c,
            "the status and assignment event lines",
            "const e = [...document.querySelectorAll('.items .event')].map(n => n.textContent);
             return e.length >= 2 && e;",
        )
        .await;
        assert_eq!(
            events,
            json!(["Status changed from open to pending", "Assigned to you"])
        );

        // The list follows live: pending leaves the "Open" list, and shows under "All".
        let listed = format!(".conversations button[data-id='{conversation}']");
        wait_for(
            &c,
            "the pending conversation gone from the open list",
            &format!("return !document.querySelector({listed:?})"),
        )
        .await;
        element(&c, "[name=status] option[value='']")
            .await
            .click()
            .await
            .unwrap();
        let meta = wait_for(
            &c,
            "the conversation under All",
            &format!(
                "return document.querySelector({listed:?})?.querySelector('.meta').textContent"
            ),
        )
        .await;
        assert_eq!(meta, "pending · assigned to you");
        element(&c, ".compose textarea")
            .await
            .click()
            .await
            .unwrap();
        screenshot(&c, "app-thread.png").await;

        assert_once_in_order(&thread(&c).await);
        assert_eq!(
            js(&c, "return document.querySelector('.global').textContent").await,
            "",
            "no error shown"
        );

        // A reply to a closed conversation is refused, and the agent is told in words.
        element(&c, "[data-status=closed]")
            .await
            .click()
            .await
            .unwrap();
        wait_for(
            &c,
            "the closed status",
            "return document.querySelector('.status-label').textContent === 'Status: closed'",
        )
        .await;
        type_reply(&c, &format!("Too late{}", Key::Enter)).await;
        let error = wait_for(
            &c,
            "the refusal in words",
            "return document.querySelector('.global').textContent",
        )
        .await;
        assert!(error.as_str().unwrap().contains(' '), "a sentence: {error}");
        wait_for(
            &c,
            "the refused reply marked as not sent",
            "return document.querySelector('.items .failed .body')?.textContent === 'Too late'",
        )
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_resumes_after_a_server_restart_without_loss_or_duplicates() {
    let mut w = World::new().await;
    let w = &mut w;
    with_browser(|c| async move {
        open_app(&c, &w.app).await;
        let (visit, _visitor, conversation) = w.visitor_starts("Before the restart").await;
        open_conversation(&c, &conversation).await;
        wait_for_message(&c, "in", "Before the restart").await;

        w.app.stop().await;
        wait_for(
            &c,
            "the reconnecting banner",
            "return !document.querySelector('#banner').hidden",
        )
        .await;
        type_reply(&c, &format!("Written while offline{}", Key::Enter)).await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(
            js(
                &c,
                "return document.querySelectorAll('.items .pending').length"
            )
            .await,
            1,
            "the reply waits, shown as pending"
        );
        w.app.start_again().await;

        wait_for(
            &c,
            "the banner gone",
            "return document.querySelector('#banner').hidden",
        )
        .await;
        wait_for_message(&c, "out", "Written while offline").await;

        let (mut visitor, _) = visit.connect(&w.app).await;
        send_acked(&mut visitor, &uuid(), "After the restart").await;
        wait_for_message(&c, "in", "After the restart").await;
        tokio::time::sleep(Duration::from_millis(500)).await;

        assert_eq!(
            w.timeline(&conversation).await,
            [
                "Before the restart",
                "Written while offline",
                "After the restart"
            ],
            "stored once each"
        );
        assert_eq!(
            js(&c, "return document.querySelector('.global').textContent").await,
            "",
            "back online, no error left over"
        );
        let shown = thread(&c).await;
        assert_once_in_order(&shown);
        let messages: Vec<&str> = shown
            .iter()
            .filter(|(_, class, _)| class.contains("message"))
            .map(|(_, _, text)| text.as_str())
            .collect();
        assert_eq!(
            messages,
            [
                "Before the restart",
                "Written while offline",
                "After the restart"
            ],
            "shown once each"
        );
    })
    .await;
}
