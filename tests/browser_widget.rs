//! The chat widget in a real browser: headless Chromium, driven through the chromedriver at
//! `PARLEY_TEST_CHROMEDRIVER_URL` (started by `scripts/services.sh`; missing, the tests fail),
//! embedded with its snippet in pages of another origin, served by the test itself. A visitor
//! chats with an agent (typing, read receipts, unread badge, history across reloads), sees the
//! widget only where a chatflow targets the page and the channel allows the origin, keeps a
//! working widget on a page whose styles and scripts are hostile, and loses or doubles nothing
//! across a server restart, a rate limit or a quick first message. One browser at a time.
//! Screenshots of the widget's states go to `docs/screenshots/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser_fixtures;
mod common;
mod ws_fixtures;

use std::time::Duration;

use browser_fixtures::{
    BROWSER_PATIENCE, Site, in_widget, poll_js, run_js, screenshot, widget_element,
};
use common::*;
use fantoccini::Client;
use serde_json::{Value, json};
use ws_fixtures::*;

/// The widget's test pages on the site.
trait ShopPages {
    /// Adds a page at `path` with `head` and the embed `snippet` before `</body>`; answers its URL.
    fn page(&self, path: &str, head: &str, snippet: &str) -> String;
}

impl ShopPages for Site {
    fn page(&self, path: &str, head: &str, snippet: &str) -> String {
        let html = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Shop</title>{RECORD_ERRORS}{head}</head>\
             <body><h1>Acme shop</h1><p>Plans and prices.</p><button>Buy</button>{snippet}</body></html>"
        );
        self.serve(path, html)
    }
}

/// Keeps the page's script errors, rejected promises and console warnings and errors (the
/// widget reports its failures there) in `window.__problems`.
const RECORD_ERRORS: &str = "<script>window.__problems = [];
  addEventListener('error', (e) => __problems.push(`error: ${e.message}`));
  addEventListener('unhandledrejection', (e) => __problems.push(`rejection: ${e.reason}`));
  for (const level of ['warn', 'error']) {
    const original = console[level];
    console[level] = (...args) => { __problems.push(`${level}: ${args.join(' ')}`); original(...args); };
  }</script>";

/// Asserts the page has seen no script error or console warning so far.
async fn no_problems(c: &Client) {
    assert_eq!(js(c, "return window.__problems").await, json!([]));
}

/// A Parley with a chat channel allowing the site's origin, and its embed snippet.
struct World {
    app: TestApp,
    site: Site,
    channel: String,
    snippet: String,
}

impl World {
    async fn new() -> Self {
        Self::with(&[]).await
    }

    /// With settings overrides (`PARLEY__…` pairs).
    async fn with(overrides: &[(&str, &str)]) -> Self {
        let app = spawn_app_with(Backend::Sqlite, overrides).await;
        let site = Site::start();
        let admin = app.admin_token.clone();
        let inbox = app
            .post("/api/v1/inboxes", &admin, json!({"name": "Support"}))
            .await;
        assert_eq!(inbox.status, 201, "{:?}", inbox.body);
        let channel = app
            .post(
                "/api/v1/channels",
                &admin,
                json!({"inbox_id": inbox.body["id"], "kind": "chat", "name": "Website",
                       "settings": {"allowed_origins": [site.origin]}}),
            )
            .await;
        assert_eq!(channel.status, 201, "{:?}", channel.body);
        let channel = channel.body["id"].as_str().unwrap().to_owned();
        let embed = app
            .get(&format!("/api/v1/channels/{channel}/embed"), &admin)
            .await;
        assert_eq!(embed.status, 200, "{:?}", embed.body);
        let snippet = embed.body["snippet"].as_str().unwrap().to_owned();
        assert!(snippet.contains(&app.address), "{snippet}");
        Self {
            app,
            site,
            channel,
            snippet,
        }
    }

    /// A live-chat chatflow on the pages under `path` of the site.
    async fn chatflow(&self, path: &str, extra: Value) {
        let mut body = json!({
            "name": format!("Pages under {path}"),
            "kind": "live_chat",
            "targeting": [{"kind": "url_starts_with", "value": format!("{}{path}", self.site.origin)}],
            "branding": {"display_name": "Acme support", "welcome_message": "Hi! Questions about a plan?",
                         "color": "#0f766e"},
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let created = self
            .app
            .post(
                &format!("/api/v1/channels/{}/chatflows", self.channel),
                &self.app.admin_token,
                body,
            )
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
    }

    /// The conversations, once there are `n`, newest first as the API lists them.
    async fn conversations(&self, n: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + BROWSER_PATIENCE;
        loop {
            let listed = self
                .app
                .get("/api/v1/conversations", &self.app.admin_token)
                .await;
            assert_eq!(listed.status, 200, "{:?}", listed.body);
            let items = listed.body["items"].as_array().unwrap().clone();
            if items.len() >= n || tokio::time::Instant::now() > deadline {
                assert_eq!(items.len(), n, "{items:?}");
                return items;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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

/// A phone-sized window, where the widget must fit.
async fn with_browser<F, Fut>(test: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()>,
{
    browser_fixtures::with_browser((480, 760), test).await;
}

/// JavaScript run in the page with `root` bound to the widget's shadow root.
async fn js(c: &Client, body: &str) -> Value {
    run_js(c, &in_widget(body)).await
}

/// Polls `body` (with `root` bound) until it returns something truthy; answers that.
async fn wait_for(c: &Client, what: &str, body: &str) -> Value {
    let context = in_widget("return root ? root.innerHTML.slice(0, 1500) : 'no shadow root'");
    poll_js(c, what, &in_widget(body), &context).await
}

/// Shown means laid out with a size, visible, and topmost at its centre (not covered): `why`
/// answers what is wrong, or "" when shown.
const SHOWN: &str = "const why = (sel) => { const n = root && root.querySelector(sel);
  if (!n) return 'absent'; const r = n.getBoundingClientRect();
  if (r.width < 8 || r.height < 8) return `size ${r.width}x${r.height}`;
  if (r.right < 0 || r.bottom < 0 || r.left > innerWidth || r.top > innerHeight)
    return `off screen at ${r.x},${r.y}`;
  const v = getComputedStyle(n).visibility; if (v !== 'visible') return `visibility ${v}`;
  const hit = root.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
  if (!(hit === n || n.contains(hit))) return `covered by ${hit && hit.outerHTML.slice(0, 80)}`;
  return ''; };";

async fn wait_shown(c: &Client, css: &str) {
    let deadline = tokio::time::Instant::now() + BROWSER_PATIENCE;
    loop {
        let why = js(c, &format!("{SHOWN} return why({css:?});")).await;
        if why == "" {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the browser never showed {css}: {why}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The widget's message bubbles, in order: `(class, text)`.
async fn bubbles(c: &Client) -> Vec<(String, String)> {
    let value = js(
        c,
        "return [...root.querySelectorAll('.log .bubble')].map(n => [n.className, n.textContent]);",
    )
    .await;
    serde_json::from_value(value).unwrap()
}

async fn wait_for_bubble(c: &Client, class: &str, text: &str) {
    wait_for(
        c,
        &format!("a confirmed {class} bubble {text:?}"),
        &format!(
            "return [...root.querySelectorAll('.log .bubble.{class}:not(.pending)')]
                .some(n => n.textContent === {text:?});"
        ),
    )
    .await;
}

async fn open_and_send(c: &Client, text: &str) {
    wait_shown(c, ".launcher").await;
    widget_element(c, ".launcher").await.click().await.unwrap();
    wait_shown(c, ".compose textarea").await;
    type_and_send(c, text).await;
}

async fn type_and_send(c: &Client, text: &str) {
    widget_element(c, ".compose textarea")
        .await
        .send_keys(text)
        .await
        .unwrap();
    widget_element(c, ".send").await.click().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_chats_with_an_agent_from_another_origin() {
    let w = World::new().await;
    w.chatflow("/shop", json!({})).await;
    let page = w.site.page("/shop/pricing", "", &w.snippet);
    with_browser(|c| async move {
        c.goto(&page).await.unwrap();
        wait_shown(&c, ".launcher").await;
        assert!(
            js(&c, "return root.querySelector('.panel').hidden").await == true,
            "the chat starts closed"
        );
        screenshot(&c, "widget-closed.png").await;

        open_and_send(&c, "Hello, is the pro plan monthly?").await;
        let conversations = w.conversations(1).await;
        let conversation = conversations[0]["id"].as_str().unwrap().to_owned();
        let mut agent = Socket::agent(&w.app, &w.app.admin_token).await;
        agent.subscribe(&conversation, 0).await;
        let seen = agent.items(1).await;
        assert_eq!(seen[0].1, "Hello, is the pro plan monthly?");
        wait_for_bubble(&c, "visitor", "Hello, is the pro plan monthly?").await;

        agent
            .send(json!({"type": "typing", "conversation_id": conversation, "state": "start"}))
            .await;
        wait_shown(&c, ".typing").await;
        agent
            .send(send_frame(&conversation, &uuid(), "Yes, billed monthly."))
            .await;
        wait_for_bubble(&c, "agent", "Yes, billed monthly.").await;
        wait_for(
            &c,
            "the typing indicator gone with the reply",
            "return root.querySelector('.typing').hidden;",
        )
        .await;
        agent
            .send(json!({"type": "read", "conversation_id": conversation, "seq": seen[0].0}))
            .await;
        wait_for(
            &c,
            "the agent's read receipt",
            "return root.querySelector('.bubble.visitor.seen')?.textContent;",
        )
        .await;

        // The visitor types: the agent is told.
        widget_element(&c, ".compose textarea")
            .await
            .send_keys("Gre")
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + BROWSER_PATIENCE;
        loop {
            let frame = agent.next().await;
            if frame["type"] == "typing" {
                assert_eq!(frame["state"], "start", "{frame}");
                assert!(frame["contact_id"].is_string(), "{frame}");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no typing frame");
        }
        widget_element(&c, ".compose textarea")
            .await
            .send_keys("at, thanks!")
            .await
            .unwrap();
        widget_element(&c, ".send").await.click().await.unwrap();
        wait_for_bubble(&c, "visitor", "Great, thanks!").await;

        assert_eq!(
            bubbles(&c).await,
            [
                ("bubble welcome agent", "Hi! Questions about a plan?"),
                ("bubble visitor seen", "Hello, is the pro plan monthly?"),
                ("bubble agent", "Yes, billed monthly."),
                ("bubble visitor", "Great, thanks!"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned())),
            "each message once, in order"
        );
        assert_eq!(
            w.timeline(&conversation).await,
            [
                "Hello, is the pro plan monthly?",
                "Yes, billed monthly.",
                "Great, thanks!"
            ]
        );
        screenshot(&c, "widget-chat.png").await;

        // A reload: the same visitor, the chat still open, the history shown once.
        c.refresh().await.unwrap();
        wait_for_bubble(&c, "visitor", "Great, thanks!").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(bubbles(&c).await.len(), 4, "{:?}", bubbles(&c).await);
        assert_eq!(w.conversations(1).await[0]["id"], conversation.as_str());

        // Escape closes the chat and gives the focus back to the launcher.
        widget_element(&c, ".compose textarea")
            .await
            .send_keys(&char::from(fantoccini::key::Key::Escape).to_string())
            .await
            .unwrap();
        wait_shown(&c, ".launcher").await;
        assert_eq!(
            js(
                &c,
                "return root.activeElement === root.querySelector('.launcher')"
            )
            .await,
            true
        );
        no_problems(&c).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_page_shows_its_chatflow_and_an_untargeted_page_none() {
    let w = World::new().await;
    w.chatflow("/shop", json!({"priority": 5})).await;
    let shop = format!("{}/shop", w.site.origin);
    w.chatflow(
        "/shop",
        json!({"priority": 1, "branding": {"display_name": "Welcome back"},
               "targeting": [{"kind": "url_starts_with", "value": shop},
                             {"kind": "visitor_is", "value": "returning"}]}),
    )
    .await;
    w.chatflow(
        "/closed",
        json!({"availability": {"hours": {}, "away_message": "We're away: leave a message."},
               "branding": {"display_name": "Night desk", "color": "#7c3aed"}}),
    )
    .await;
    let untargeted = w.site.page("/about", "", &w.snippet);
    let targeted = w.site.page("/shop", "", &w.snippet);
    let away = w.site.page("/closed", "", &w.snippet);
    with_browser(|c| async move {
        c.goto(&untargeted).await.unwrap();
        // The widget asked and was told no (204); nothing is drawn.
        wait_for(
            &c,
            "the chatflow lookup done",
            "return performance.getEntriesByType('resource')
                .some(e => e.name.includes('/api/v1/widget/chatflow') && e.responseEnd > 0);",
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            js(
                &c,
                "return root && root.querySelector('.launcher') !== null"
            )
            .await,
            false,
            "no launcher on a page no chatflow targets"
        );

        c.goto(&targeted).await.unwrap();
        wait_shown(&c, ".launcher").await;
        assert_eq!(
            js(&c, "return root.querySelector('.name').textContent").await,
            "Acme support",
            "the chatflow of /shop"
        );

        c.goto(&away).await.unwrap();
        wait_shown(&c, ".launcher").await;
        widget_element(&c, ".launcher").await.click().await.unwrap();
        wait_shown(&c, ".availability").await;
        assert_eq!(
            js(&c, "return root.querySelector('.name').textContent").await,
            "Night desk",
            "the chatflow of /closed"
        );
        assert_eq!(
            js(&c, "return root.querySelector('.availability').textContent").await,
            "We're away: leave a message."
        );
        screenshot(&c, "widget-away.png").await;

        // Having opened the chat, the browser holds a visitor token: it is a returning visitor.
        wait_for(
            &c,
            "a visitor token kept",
            "return Object.keys(localStorage).some(k => k.endsWith(':token'));",
        )
        .await;
        c.goto(&targeted).await.unwrap();
        wait_for(
            &c,
            "the returning visitor's chatflow",
            "return root && root.querySelector('.name')?.textContent === 'Welcome back';",
        )
        .await;
        no_problems(&c).await;
    })
    .await;
}

/// Styles a careless or hostile page might have, and scripts that break the globals the widget
/// needs once the page has loaded.
const HOSTILE: &str = r#"<style>
  * { font-size: 1px !important; visibility: hidden !important; color: transparent !important; }
  div { display: none !important; position: static !important; transform: scale(0.1) !important; }
  button { visibility: hidden !important; pointer-events: none !important; }
  body > *:not(h1) { opacity: 0 !important; }
  html, body { overflow: hidden !important; filter: blur(4px) !important; }
  body::after { content: ""; position: fixed; inset: 0; z-index: 1000; }
</style>
<script>
  addEventListener("load", () => {
    window.fetch = () => Promise.reject(new Error("the page broke fetch"));
    window.WebSocket = function () { throw new Error("the page broke WebSocket"); };
  });
</script>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_works_on_a_hostile_page() {
    let w = World::new().await;
    w.chatflow("/shop", json!({})).await;
    let page = w.site.page("/shop", HOSTILE, &w.snippet);
    with_browser(|c| async move {
        c.goto(&page).await.unwrap();
        wait_shown(&c, ".launcher").await;
        let launcher = widget_element(&c, ".launcher").await;
        assert!(
            launcher.is_displayed().await.unwrap(),
            "WebDriver sees it too"
        );
        assert_eq!(
            js(&c, "return String(window.fetch) + String(window.WebSocket)")
                .await
                .as_str()
                .map(|s| s.contains("the page broke fetch")
                    && s.contains("the page broke WebSocket")),
            Some(true),
            "the page's scripts have broken the globals by now"
        );
        open_and_send(&c, "Sent from a hostile page").await;
        wait_for_bubble(&c, "visitor", "Sent from a hostile page").await;
        let conversations = w.conversations(1).await;
        let conversation = conversations[0]["id"].as_str().unwrap();
        assert_eq!(w.timeline(conversation).await, ["Sent from a hostile page"]);
        let size = js(
            &c,
            "return getComputedStyle(root.querySelector('.bubble.visitor')).fontSize",
        )
        .await;
        assert_eq!(
            size, "15px",
            "the page's font size does not reach the widget"
        );
        no_problems(&c).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_reconnects_after_a_server_restart_without_loss_or_duplicates() {
    let mut w = World::new().await;
    w.chatflow("/shop", json!({})).await;
    let page = w.site.page("/shop", "", &w.snippet);
    let w = &mut w;
    with_browser(|c| async move {
        c.goto(&page).await.unwrap();
        open_and_send(&c, "Before the restart").await;
        wait_for_bubble(&c, "visitor", "Before the restart").await;
        let conversations = w.conversations(1).await;
        let conversation = conversations[0]["id"].as_str().unwrap().to_owned();

        w.app.stop().await;
        wait_shown(&c, ".status").await;
        assert_eq!(
            js(&c, "return root.querySelector('.status').textContent").await,
            "Reconnecting…"
        );
        type_and_send(&c, "While the server was down").await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            js(
                &c,
                "return root.querySelectorAll('.bubble.visitor.pending').length"
            )
            .await,
            1,
            "the message waits, shown as pending"
        );
        screenshot(&c, "widget-reconnecting.png").await;
        w.app.start_again().await;

        wait_for_bubble(&c, "visitor", "While the server was down").await;
        assert_eq!(
            js(&c, "return root.querySelector('.status').hidden").await,
            true,
            "back online, the status is gone"
        );
        // The agent's reply after the restart reaches the reconnected widget.
        let reply = w
            .app
            .post(
                &format!("/api/v1/conversations/{conversation}/messages"),
                &w.app.admin_token,
                json!({"client_id": uuid(), "body": "We are back."}),
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        wait_for_bubble(&c, "agent", "We are back.").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            w.timeline(&conversation).await,
            [
                "Before the restart",
                "While the server was down",
                "We are back."
            ],
            "delivered once"
        );
        let visitor_bubbles: Vec<String> = bubbles(&c)
            .await
            .into_iter()
            .filter(|(class, _)| class.contains("visitor"))
            .map(|(_, text)| text)
            .collect();
        assert_eq!(
            visitor_bubbles,
            ["Before the restart", "While the server was down"],
            "shown once each"
        );
        no_problems(&c).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_message_sent_at_once_makes_one_visitor_and_one_conversation() {
    let w = World::new().await;
    w.chatflow("/shop", json!({})).await;
    let page = w.site.page("/shop", "", &w.snippet);
    with_browser(|c| async move {
        c.goto(&page).await.unwrap();
        wait_shown(&c, ".launcher").await;
        // Opening starts connecting; the message follows before the visitor token is back.
        js(
            &c,
            "root.querySelector('.launcher').click();
             root.querySelector('textarea').value = 'Quick question';
             root.querySelector('form').requestSubmit();",
        )
        .await;
        wait_for_bubble(&c, "visitor", "Quick question").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let conversations = w.conversations(1).await;
        let conversation = conversations[0]["id"].as_str().unwrap();
        assert_eq!(w.timeline(conversation).await, ["Quick question"]);
        assert_eq!(
            js(
                &c,
                "return performance.getEntriesByType('resource')
                .filter(e => e.name.includes('/api/v1/widget/visitors')).length"
            )
            .await,
            1,
            "one visitor token asked for"
        );
        // The browser kept the token of the visitor who wrote: after a reload, the chat is theirs.
        c.refresh().await.unwrap();
        wait_for_bubble(&c, "visitor", "Quick question").await;
        no_problems(&c).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_a_closed_chat_shows_as_unread_until_opened() {
    let w = World::new().await;
    w.chatflow("/shop", json!({})).await;
    let page = w.site.page("/shop", "", &w.snippet);
    with_browser(|c| async move {
        c.goto(&page).await.unwrap();
        open_and_send(&c, "Do you ship abroad?").await;
        wait_for_bubble(&c, "visitor", "Do you ship abroad?").await;
        let conversations = w.conversations(1).await;
        let conversation = conversations[0]["id"].as_str().unwrap().to_owned();
        widget_element(&c, ".close").await.click().await.unwrap();
        wait_shown(&c, ".launcher").await;
        assert_eq!(
            js(&c, "return root.querySelector('.badge').hidden").await,
            true,
            "nothing unread yet"
        );

        let reply = w
            .app
            .post(
                &format!("/api/v1/conversations/{conversation}/messages"),
                &w.app.admin_token,
                json!({"client_id": uuid(), "body": "Yes, to most countries."}),
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        wait_shown(&c, ".badge").await;
        assert_eq!(
            js(&c, "return root.querySelector('.badge').textContent").await,
            "1"
        );
        screenshot(&c, "widget-unread.png").await;

        // Still unread on the next page load; read once the chat is opened, and then for good.
        c.refresh().await.unwrap();
        wait_shown(&c, ".badge").await;
        assert_eq!(
            js(&c, "return root.querySelector('.badge').textContent").await,
            "1"
        );
        widget_element(&c, ".launcher").await.click().await.unwrap();
        wait_for_bubble(&c, "agent", "Yes, to most countries.").await;
        widget_element(&c, ".close").await.click().await.unwrap();
        c.refresh().await.unwrap();
        wait_for(
            &c,
            "the history loaded behind the closed launcher",
            "return [...root.querySelectorAll('.bubble.agent')]
                .some(n => n.textContent === 'Yes, to most countries.');",
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            js(&c, "return root.querySelector('.badge').hidden").await,
            true,
            "a message read before is not unread again"
        );
        no_problems(&c).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_an_origin_the_channel_does_not_allow_gets_no_widget() {
    let w = World::new().await;
    w.chatflow("/", json!({"targeting": []})).await;
    let elsewhere = Site::start();
    let page = elsewhere.page("/shop", "", &w.snippet);
    with_browser(|c| async move {
        c.goto(&page).await.unwrap();
        wait_for(
            &c,
            "the widget's refusal reported",
            "return window.__problems.find(p => p.includes('Parley widget'));",
        )
        .await;
        assert_eq!(
            js(
                &c,
                "return root && root.querySelector('.launcher') !== null"
            )
            .await,
            false,
            "no launcher on another site"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_refused_by_the_rate_limit_go_again_by_themselves() {
    let w = World::with(&[
        ("PARLEY__AUTH__VISITOR_MESSAGES_PER_SECOND", "1"),
        ("PARLEY__AUTH__VISITOR_MESSAGE_BURST", "1"),
    ])
    .await;
    w.chatflow("/shop", json!({})).await;
    let page = w.site.page("/shop", "", &w.snippet);
    with_browser(|c| async move {
        c.goto(&page).await.unwrap();
        open_and_send(&c, "one").await;
        wait_for_bubble(&c, "visitor", "one").await;
        js(
            &c,
            "for (const text of ['two', 'three']) {
               root.querySelector('textarea').value = text;
               root.querySelector('form').requestSubmit();
             }",
        )
        .await;
        wait_for_bubble(&c, "visitor", "three").await;
        wait_for_bubble(&c, "visitor", "two").await;
        let conversations = w.conversations(1).await;
        let conversation = conversations[0]["id"].as_str().unwrap();
        assert_eq!(
            w.timeline(conversation).await,
            ["one", "two", "three"],
            "each once, in order"
        );
        no_problems(&c).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_refused_for_good_is_marked_and_never_sent_again() {
    let w = World::new().await;
    w.chatflow("/shop", json!({})).await;
    let page = w.site.page("/shop", "", &w.snippet);
    with_browser(|c| async move {
        c.goto(&page).await.unwrap();
        open_and_send(&c, "Hello").await;
        wait_for_bubble(&c, "visitor", "Hello").await;
        // Longer than a message may be (the text box's own limit does not hold for a script).
        js(
            &c,
            "root.querySelector('textarea').value = 'x'.repeat(20001);
             root.querySelector('form').requestSubmit();",
        )
        .await;
        wait_for(
            &c,
            "the refused message marked",
            "return root.querySelector('.bubble.visitor.failed') !== null;",
        )
        .await;
        wait_shown(&c, ".status").await;
        c.refresh().await.unwrap();
        wait_for_bubble(&c, "visitor", "Hello").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            js(&c, "return root.querySelectorAll('.bubble.visitor').length").await,
            1,
            "not resent after a reload"
        );
        let conversations = w.conversations(1).await;
        let conversation = conversations[0]["id"].as_str().unwrap();
        assert_eq!(w.timeline(conversation).await, ["Hello"]);
        no_problems(&c).await;
    })
    .await;
}

/// A bot that asks an email (re-asking a bad one) and a topic with quick replies, then hands
/// the conversation to people.
fn qualifying_bot() -> Value {
    json!({
        "version": 1,
        "start": "hello",
        "steps": {
            "hello": {"type": "message", "text": "Hi! I'm the Acme bot.", "next": "ask_email"},
            "ask_email": {"type": "question", "text": "What's your email?", "kind": "email",
                          "property": "work_email", "retry_text": "That is not an email address.",
                          "next": "ask_topic"},
            "ask_topic": {"type": "question", "text": "What about?", "kind": "choice",
                          "choices": [{"label": "Buying", "value": "sales"},
                                      {"label": "Help", "value": "support"}],
                          "property": "topic", "next": "to_people"},
            "to_people": {"type": "handoff", "to": "inbox",
                          "message": "Thanks! A person will take it from here."}
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_re_asks_a_bad_answer_then_hands_off() {
    let w = World::new().await;
    w.chatflow(
        "/bot",
        json!({"kind": "bot", "flow": qualifying_bot(),
               "branding": {"display_name": "Acme bot", "welcome_message": "Say hello to start."}}),
    )
    .await;
    let page = w.site.page("/bot", "", &w.snippet);
    with_browser(|c| async move {
        c.goto(&page).await.unwrap();
        open_and_send(&c, "hello").await;
        wait_for_bubble(&c, "agent", "What's your email?").await;
        type_and_send(&c, "not an email").await;
        wait_for_bubble(&c, "agent", "That is not an email address.").await;
        type_and_send(&c, "pat@example.com").await;
        wait_for_bubble(&c, "agent", "What about?").await;
        wait_shown(&c, ".replies .reply").await;
        screenshot(&c, "widget-bot.png").await;
        // The visitor answers with a quick reply.
        let buying = js(
            &c,
            "const b = [...root.querySelectorAll('.reply')].find(b => b.textContent === 'Buying');
             b.click(); return true;",
        )
        .await;
        assert_eq!(buying, true);
        wait_for_bubble(&c, "agent", "Thanks! A person will take it from here.").await;
        assert_eq!(
            js(&c, "return root.querySelectorAll('.replies').length").await,
            0,
            "the choices go once answered"
        );
        no_problems(&c).await;
    })
    .await;
    let conversation = w.conversations(1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        w.timeline(&conversation).await,
        [
            "hello",
            "Hi! I'm the Acme bot.",
            "What's your email?",
            "not an email",
            "That is not an email address.",
            "pat@example.com",
            "What about?",
            "Buying",
            "Thanks! A person will take it from here."
        ]
    );
    let events = w
        .app
        .store
        .list_events(w.app.admin.account_id, 0, 1000)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "bot.finished" && e.data["outcome"] == "handed_off"),
        "the hand-off is a report fact"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn away_the_widget_asks_for_an_email_and_the_contact_gets_it() {
    let w = World::new().await;
    w.chatflow(
        "/night",
        json!({"availability": {"hours": {}, "away_message": "We're away: leave your email."}}),
    )
    .await;
    let page = w.site.page("/night", "", &w.snippet);
    with_browser(|c| async move {
        c.goto(&page).await.unwrap();
        wait_shown(&c, ".launcher").await;
        widget_element(&c, ".launcher").await.click().await.unwrap();
        wait_shown(&c, "form.email input").await;
        widget_element(&c, "form.email input")
            .await
            .send_keys("night.owl@example.com")
            .await
            .unwrap();
        widget_element(&c, "form.email button")
            .await
            .click()
            .await
            .unwrap();
        wait_for(
            &c,
            "the thanks for the email",
            "return root.querySelector('p.email')?.textContent === \"Thanks! We'll email you.\";",
        )
        .await;
        no_problems(&c).await;
    })
    .await;
    let contacts = w
        .app
        .get(
            "/api/v1/contacts?email=night.owl@example.com",
            &w.app.admin_token,
        )
        .await;
    assert_eq!(contacts.status, 200, "{:?}", contacts.body);
    assert_eq!(
        contacts.body["items"].as_array().map(Vec::len),
        Some(1),
        "the visitor's contact has the email: {:?}",
        contacts.body
    );
}
