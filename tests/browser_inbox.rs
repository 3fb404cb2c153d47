//! The inbox app with two agents at two computers (two headless Chromiums): an @mention in an
//! internal note notifies the mentioned agent; a reassignment moves a conversation from one
//! agent's list to the other's live; a new chat shows up without a reload; teammates' presence,
//! the visitor's online and typing indicators, drafts per conversation, and preferences.
//!
//! The app's list also reloads every 30 s; every wait here is shorter than that (the browser
//! patience is 20 s), so what appears came through the socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser_fixtures;
mod common;
mod ws_fixtures;

use browser_fixtures::{
    app_log_in, element, in_widget, run_js, screenshot, wait_for, widget_element, with_browsers,
};
use common::*;
use fantoccini::Client;
use fantoccini::key::Key;
use serde_json::{Value, json};
use ws_fixtures::*;

const BEN_EMAIL: &str = "ben@parley.test";
const BEN_PASSWORD: &str = "ben-password-123";

/// A Parley with one inbox whose members are the admin ("Admin") and Ben, and a chat channel.
struct World {
    app: TestApp,
    channel: String,
    ben: String,
    ben_token: String,
}

impl World {
    async fn new() -> Self {
        let app = spawn_app(Backend::Sqlite).await;
        let admin = app.admin_token.clone();
        let ben = app
            .post(
                "/api/v1/agents",
                &admin,
                json!({"email": BEN_EMAIL, "password": BEN_PASSWORD, "role": "agent",
                       "display_name": "Ben Okafor"}),
            )
            .await;
        assert_eq!(ben.status, 201, "{:?}", ben.body);
        let ben = ben.body["id"].as_str().unwrap().to_owned();
        let (_, channel) = chat_inbox(&app, &[app.admin.id.to_string(), ben.clone()]).await;
        let (ben_token, _) = app.login(BEN_EMAIL, BEN_PASSWORD).await;
        Self {
            app,
            channel,
            ben,
            ben_token,
        }
    }

    /// A visitor's chat: their socket, subscribed, and the conversation's id.
    async fn visitor_starts(&self, body: &str) -> (Visit, Socket, String) {
        visitor_starts_chat(&self.app, &self.channel, body).await
    }

    async fn assign(&self, conversation: &str, agent: &str) {
        let answer = self
            .app
            .post(
                &format!("/api/v1/conversations/{conversation}/assign"),
                &self.app.admin_token,
                json!({"assignee_id": agent, "team_id": null}),
            )
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }

    async fn timeline(&self, conversation: &str) -> Vec<Value> {
        let answer = self
            .app
            .get(
                &format!("/api/v1/conversations/{conversation}/timeline"),
                &self.app.admin_token,
            )
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        answer.body["items"].as_array().unwrap().clone()
    }
}

/// The app's windows are 1280×800, the size the issue asks the app to be usable at.
async fn with_two_agents<F, Fut>(test: F)
where
    F: FnOnce(Client, Client) -> Fut,
    Fut: Future<Output = ()>,
{
    with_browsers(2, (1280, 800), |mut c| {
        let ben = c.pop().unwrap();
        let admin = c.pop().unwrap();
        test(admin, ben)
    })
    .await;
}

fn selector_of(conversation: &str) -> String {
    format!(".conversations button[data-id='{conversation}']")
}

/// Waits until the list shows (or no longer shows) the conversation.
async fn wait_listed(c: &Client, conversation: &str, listed: bool, whose: &str) {
    let selector = selector_of(conversation);
    let what = format!(
        "the conversation {} {whose} list",
        if listed { "in" } else { "gone from" }
    );
    let script = format!("return !!document.querySelector({selector:?}) === {listed}");
    wait_for(c, &what, &script).await;
}

async fn choose(c: &Client, select: &str, value: &str) {
    let script = format!(
        "const s = document.querySelector({select:?});
         s.value = {value:?};
         s.dispatchEvent(new Event('change'));
         return s.value === {value:?};"
    );
    assert_eq!(
        run_js(c, &script).await,
        json!(true),
        "{select} has {value}"
    );
}

async fn open_conversation(c: &Client, conversation: &str) {
    wait_listed(c, conversation, true, "the").await;
    element(c, &selector_of(conversation))
        .await
        .click()
        .await
        .unwrap();
    wait_for(
        c,
        "the thread",
        "return !document.querySelector('.thread-body').hidden",
    )
    .await;
}

#[tokio::test]
async fn a_chat_started_from_the_widget_is_answered_in_the_app() {
    let app = spawn_app_with(Backend::Sqlite, &[("PARLEY__DEMO__ENABLED", "true")]).await;
    parley::demo::ensure(&app.store, ADMIN_EMAIL)
        .await
        .unwrap()
        .expect("the demo site");
    with_browsers(2, (1280, 800), |mut c| async move {
        let agent = c.pop().unwrap();
        let visitor = c.pop().unwrap();
        app_log_in(&agent, &app.url(""), ADMIN_EMAIL, ADMIN_PASSWORD).await;

        // A visitor on the demo website opens the widget and writes.
        visitor.goto(&app.url("/demo/live")).await.unwrap();
        wait_for(
            &visitor,
            "the widget's launcher",
            &in_widget("return !!root?.querySelector('.launcher')"),
        )
        .await;
        widget_element(&visitor, ".launcher")
            .await
            .click()
            .await
            .unwrap();
        let compose = widget_element(&visitor, ".compose textarea").await;
        compose.send_keys("Do you ship to Norway?").await.unwrap();
        widget_element(&visitor, ".send")
            .await
            .click()
            .await
            .unwrap();

        // It reaches the agent's list live; the agent opens and answers it.
        let conversation = wait_for(
            &agent,
            "the widget's chat in the list",
            "return document.querySelector('.conversations button')?.dataset.id",
        )
        .await;
        open_conversation(&agent, conversation.as_str().unwrap()).await;
        wait_for(
            &agent,
            "the visitor's message",
            "return [...document.querySelectorAll('.items .message.in .body')]
                .some(n => n.textContent === 'Do you ship to Norway?')",
        )
        .await;
        let reply = element(&agent, ".compose textarea").await;
        reply.send_keys("We do, in 3 to 5 days.").await.unwrap();
        reply.send_keys(&Key::Enter.to_string()).await.unwrap();
        wait_for(
            &visitor,
            "the agent's answer in the widget",
            &in_widget(
                "return [...root.querySelectorAll('.log .bubble')]
                    .some(n => n.textContent === 'We do, in 3 to 5 days.')",
            ),
        )
        .await;
        wait_for(
            &agent,
            "the reply confirmed as sent",
            "return [...document.querySelectorAll('.items .message.out:not(.pending) .byline')]
                .some(n => n.textContent.endsWith('sent'))",
        )
        .await;
        screenshot(&agent, "app-inbox.png").await;
    })
    .await;
}

#[tokio::test]
async fn a_mention_in_a_note_notifies_the_mentioned_agent() {
    let w = World::new().await;
    let (_visit, _visitor, conversation) = w.visitor_starts("My order is late").await;
    with_two_agents(|admin, ben| async move {
        app_log_in(&ben, &w.app.url(""), BEN_EMAIL, BEN_PASSWORD).await;
        app_log_in(&admin, &w.app.url(""), ADMIN_EMAIL, ADMIN_PASSWORD).await;
        open_conversation(&admin, &conversation).await;

        // Internal note, with Ben picked from the autocomplete by keyboard.
        element(&admin, ".compose [name=mode][value=note]")
            .await
            .click()
            .await
            .unwrap();
        let textarea = element(&admin, ".compose textarea").await;
        textarea.send_keys("@be").await.unwrap();
        let offered = wait_for(
            &admin,
            "the mention choices",
            "const l = document.querySelector('.mentions');
             return !l.hidden && [...l.querySelectorAll('[role=option]')].map(o => o.dataset.agentId)",
        )
        .await;
        assert_eq!(offered, json!([w.ben]), "only Ben matches “be”");
        textarea.send_keys(&Key::Enter.to_string()).await.unwrap();
        assert_eq!(
            run_js(&admin, "return document.querySelector('.compose textarea').value").await,
            json!("@Ben Okafor "),
            "Enter picks the choice and does not send"
        );
        textarea.send_keys("can you check the courier?").await.unwrap();
        screenshot(&admin, "app-mention.png").await;
        textarea.send_keys(&Key::Enter.to_string()).await.unwrap();

        // Shown once as an internal note, stored with the mention.
        wait_for(
            &admin,
            "the note in the thread",
            "return [...document.querySelectorAll('.items .comment:not(.pending) .body')]
                .some(n => n.textContent === '@Ben Okafor can you check the courier?')",
        )
        .await;
        let notes: Vec<Value> = w
            .timeline(&conversation)
            .await
            .into_iter()
            .filter(|i| i["kind"] == "comment")
            .collect();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(notes[0]["mentions"], json!([w.ben]));

        // Ben's app shows the notification; a click opens the conversation.
        let toast = wait_for(
            &ben,
            "the mention notification",
            "const t = document.querySelector('.toasts .toast.mention');
             return t && t.textContent",
        )
        .await;
        let toast = toast.as_str().unwrap();
        assert!(toast.contains("Admin") || toast.contains("mentioned you"), "{toast}");
        assert!(toast.contains("can you check the courier?"), "{toast}");
        screenshot(&ben, "app-notification.png").await;
        element(&ben, ".toasts .toast.mention")
            .await
            .click()
            .await
            .unwrap();
        wait_for(
            &ben,
            "the mentioned conversation open",
            "return !document.querySelector('.thread-body').hidden &&
                !!document.querySelector('.conversations button.current')",
        )
        .await;
        assert_eq!(
            run_js(
                &ben,
                "return document.querySelector('.conversations button.current').dataset.id"
            )
            .await,
            json!(conversation)
        );
    })
    .await;
}

#[tokio::test]
async fn a_reassignment_moves_the_conversation_between_two_agents_lists_live() {
    let w = World::new().await;
    with_two_agents(|admin, ben| async move {
        app_log_in(&admin, &w.app.url(""), ADMIN_EMAIL, ADMIN_PASSWORD).await;
        app_log_in(&ben, &w.app.url(""), BEN_EMAIL, BEN_PASSWORD).await;
        for c in [&admin, &ben] {
            choose(c, ".filters [name=assigned]", "me").await;
        }

        // A new chat is announced to the inbox's members: it appears under "Anyone" unasked.
        choose(&ben, ".filters [name=assigned]", "").await;
        let (_visit, _visitor, conversation) = w.visitor_starts("Where is my refund?").await;
        wait_listed(&ben, &conversation, true, "Ben's").await;
        choose(&ben, ".filters [name=assigned]", "me").await;
        wait_listed(&ben, &conversation, false, "Ben's").await;

        w.assign(&conversation, &w.app.admin.id.to_string()).await;
        wait_listed(&admin, &conversation, true, "the admin's").await;
        open_conversation(&admin, &conversation).await;

        // The admin hands it to Ben from the thread's menu.
        choose(&admin, ".assign-to", &format!("agent:{}", w.ben)).await;
        wait_listed(&admin, &conversation, false, "the admin's").await;
        wait_listed(&ben, &conversation, true, "Ben's").await;
        let toast = wait_for(
            &ben,
            "the assignment notification",
            "const t = document.querySelector('.toasts .toast.new_assignment');
             return t && t.textContent",
        )
        .await;
        assert!(
            toast.as_str().unwrap().contains("Assigned to you"),
            "{toast}"
        );
        wait_for(
            &admin,
            "the assignment in the thread",
            "return [...document.querySelectorAll('.items .event')]
                .some(n => n.textContent === 'Assigned to Ben Okafor')",
        )
        .await;
        let stored = w
            .app
            .get(
                &format!("/api/v1/conversations/{conversation}"),
                &w.ben_token,
            )
            .await;
        assert_eq!(stored.body["assignee_id"], json!(w.ben));

        // Ben hands it back to nobody through his own menu: it leaves his list too.
        open_conversation(&ben, &conversation).await;
        choose(&ben, ".assign-to", "").await;
        wait_listed(&ben, &conversation, false, "Ben's").await;
    })
    .await;
}

#[tokio::test]
async fn teammates_presence_and_the_visitors_typing_show_live() {
    let w = World::new().await;
    let (_visit, mut visitor, conversation) = w.visitor_starts("Hello?").await;
    with_two_agents(|admin, ben| async move {
        app_log_in(&admin, &w.app.url(""), ADMIN_EMAIL, ADMIN_PASSWORD).await;
        app_log_in(&ben, &w.app.url(""), BEN_EMAIL, BEN_PASSWORD).await;
        let ben_state = format!(
            "const t = document.querySelector('.teammate[data-agent-id=\"{}\"]');
             return t && t.className.replace('teammate ', '')",
            w.ben
        );
        let shown = wait_for(
            &admin,
            "Ben online",
            &format!("{ben_state} === 'available' && 'yes'"),
        )
        .await;
        assert_eq!(shown, json!("yes"));

        // Ben goes away with the toggle: the admin sees it, and the server knows.
        element(&ben, ".status-toggle").await.click().await.unwrap();
        wait_for(
            &ben,
            "Ben's toggle saying away",
            "return document.querySelector('.status-toggle').textContent === 'Away'",
        )
        .await;
        wait_for(&admin, "Ben away", &format!("{ben_state} === 'away'")).await;
        let stored = w
            .app
            .get(&format!("/api/v1/agents/{}", w.ben), &w.ben_token)
            .await;
        assert_eq!(stored.body["status"], "away");
        element(&admin, ".team-presence summary")
            .await
            .click()
            .await
            .unwrap();
        screenshot(&admin, "app-presence.png").await;

        // The visitor is online and typing; then leaves.
        open_conversation(&admin, &conversation).await;
        wait_for(
            &admin,
            "the visitor online",
            "return document.querySelector('.visitor-label').textContent === 'Visitor online'",
        )
        .await;
        visitor
            .send(json!({"type": "typing", "state": "start"}))
            .await;
        wait_for(
            &admin,
            "the visitor typing",
            "return document.querySelector('.typing').textContent === 'The visitor is typing…'",
        )
        .await;
        visitor
            .send(json!({"type": "typing", "state": "stop"}))
            .await;
        wait_for(
            &admin,
            "the typing indicator gone",
            "return document.querySelector('.typing').textContent === ''",
        )
        .await;
        drop(visitor);
        wait_for(
            &admin,
            "the visitor offline",
            "return document.querySelector('.visitor-label').textContent === 'Visitor offline'",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn drafts_stay_with_their_conversation_and_shift_enter_starts_a_line() {
    let w = World::new().await;
    let (_v1, _s1, first) = w.visitor_starts("First chat").await;
    let (_v2, _s2, second) = w.visitor_starts("Second chat").await;
    with_browsers(1, (1280, 800), |mut c| async move {
        let admin = c.pop().unwrap();
        app_log_in(&admin, &w.app.url(""), ADMIN_EMAIL, ADMIN_PASSWORD).await;
        open_conversation(&admin, &first).await;
        let textarea = element(&admin, ".compose textarea").await;
        textarea.send_keys("Line one").await.unwrap();
        admin
            .execute(
                "document.querySelector('.compose textarea').dispatchEvent(
                    new KeyboardEvent('keydown', {key: 'Enter', shiftKey: true, bubbles: true}))",
                vec![],
            )
            .await
            .unwrap();
        // Shift+Enter is left to the browser (a new line); nothing was sent.
        assert_eq!(
            run_js(
                &admin,
                "return document.querySelectorAll('.items .pending').length"
            )
            .await,
            json!(0)
        );
        open_conversation(&admin, &second).await;
        assert_eq!(
            run_js(
                &admin,
                "return document.querySelector('.compose textarea').value"
            )
            .await,
            json!(""),
            "the second conversation has its own (empty) draft"
        );
        open_conversation(&admin, &first).await;
        assert_eq!(
            run_js(
                &admin,
                "return document.querySelector('.compose textarea').value"
            )
            .await,
            json!("Line one"),
            "the first conversation's draft is back"
        );
        // After a reload too.
        admin.refresh().await.unwrap();
        wait_for(
            &admin,
            "the app",
            "return !document.querySelector('#main').hidden",
        )
        .await;
        open_conversation(&admin, &first).await;
        assert_eq!(
            run_js(
                &admin,
                "return document.querySelector('.compose textarea').value"
            )
            .await,
            json!("Line one")
        );
    })
    .await;
}

#[tokio::test]
async fn an_agent_edits_their_notification_preferences() {
    let w = World::new().await;
    with_browsers(1, (390, 844), |mut c| async move {
        let ben = c.pop().unwrap();
        app_log_in(&ben, &w.app.url(""), BEN_EMAIL, BEN_PASSWORD).await;
        element(&ben, ".top .me").await.click().await.unwrap();
        wait_for(
            &ben,
            "the preferences",
            "return !!document.querySelector('#view-preferences form')",
        )
        .await;
        element(&ben, "#view-preferences [name=mention]")
            .await
            .click()
            .await
            .unwrap();
        let name = element(&ben, "#view-preferences [name=display_name]").await;
        name.clear().await.unwrap();
        name.send_keys("Ben O.").await.unwrap();
        screenshot(&ben, "app-preferences.png").await;
        element(&ben, "#view-preferences [type=submit]")
            .await
            .click()
            .await
            .unwrap();
        wait_for(
            &ben,
            "saved",
            "return document.querySelector('#view-preferences .saved').textContent === 'Saved.'",
        )
        .await;
        let stored = w
            .app
            .get(&format!("/api/v1/agents/{}", w.ben), &w.ben_token)
            .await;
        assert_eq!(stored.body["notification_prefs"]["mention"], false);
        assert_eq!(stored.body["notification_prefs"]["new_assignment"], true);
        assert_eq!(stored.body["profile"]["display_name"], "Ben O.");

        // A bad value is refused in words, naming the field.
        let avatar = element(&ben, "#view-preferences [name=avatar_url]").await;
        avatar.send_keys("ftp://nope").await.unwrap();
        ben.execute(
            "document.querySelector('#view-preferences [name=avatar_url]').type = 'text'",
            vec![],
        )
        .await
        .unwrap();
        element(&ben, "#view-preferences [type=submit]")
            .await
            .click()
            .await
            .unwrap();
        let error = wait_for(
            &ben,
            "the refusal",
            "return document.querySelector('#view-preferences .error').textContent",
        )
        .await;
        assert!(error.as_str().unwrap().contains("avatar_url"), "{error}");
    })
    .await;
}

#[tokio::test]
async fn the_inbox_is_usable_on_a_narrow_screen() {
    let w = World::new().await;
    let (_visit, mut visitor, conversation) = w.visitor_starts("Hi from my phone").await;
    // Headless Chromium's narrowest window is 500 px wide.
    with_browsers(1, (500, 900), |mut c| async move {
        let admin = c.pop().unwrap();
        app_log_in(&admin, &w.app.url(""), ADMIN_EMAIL, ADMIN_PASSWORD).await;
        open_conversation(&admin, &conversation).await;
        let reply = element(&admin, ".compose textarea").await;
        reply.send_keys("Answered on a small screen").await.unwrap();
        element(&admin, ".compose .send")
            .await
            .click()
            .await
            .unwrap();
        let answer = loop {
            let frame = visitor.next().await;
            if frame["type"] == "item" && frame["item"]["direction"] == "out" {
                break frame["item"]["body"].clone();
            }
        };
        assert_eq!(answer, "Answered on a small screen");
        let overflow = run_js(
            &admin,
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
        )
        .await;
        assert_eq!(overflow, json!(0), "nothing sticks out sideways");
        screenshot(&admin, "app-narrow.png").await;
    })
    .await;
}

#[tokio::test]
async fn an_agent_answers_with_the_keyboard_alone_and_sees_where_focus_is() {
    let w = World::new().await;
    let (_visit, mut visitor, conversation) = w.visitor_starts("Keyboard only?").await;
    with_browsers(1, (1280, 800), |mut c| async move {
        let admin = c.pop().unwrap();
        app_log_in(&admin, &w.app.url(""), ADMIN_EMAIL, ADMIN_PASSWORD).await;
        wait_listed(&admin, &conversation, true, "the").await;
        // Tab until the conversation's row has the focus, each stop visibly outlined.
        let row = selector_of(&conversation);
        let mut reached = false;
        for _ in 0..40 {
            admin
                .active_element()
                .await
                .unwrap()
                .send_keys(&Key::Tab.to_string())
                .await
                .unwrap();
            let focus = run_js(
                &admin,
                "const a = document.activeElement;
                 return [a.matches(':focus-visible'), getComputedStyle(a).outlineStyle];",
            )
            .await;
            assert_eq!(focus[0], true, "keyboard focus is focus-visible");
            assert_ne!(focus[1], "none", "and drawn");
            let on_row = format!("return document.activeElement.matches({row:?})");
            if run_js(&admin, &on_row).await == json!(true) {
                reached = true;
                break;
            }
        }
        assert!(reached, "the conversation is reachable with Tab");
        admin
            .active_element()
            .await
            .unwrap()
            .send_keys(&Key::Enter.to_string())
            .await
            .unwrap();
        wait_for(
            &admin,
            "the reply box focused",
            "return document.activeElement === document.querySelector('.compose textarea')",
        )
        .await;
        let reply = admin.active_element().await.unwrap();
        reply.send_keys("Yes, all by keyboard").await.unwrap();
        reply.send_keys(&Key::Enter.to_string()).await.unwrap();
        let answer = loop {
            let frame = visitor.next().await;
            if frame["type"] == "item" && frame["item"]["direction"] == "out" {
                break frame["item"]["body"].clone();
            }
        };
        assert_eq!(answer, "Yes, all by keyboard");
    })
    .await;
}
