//! The contact sidebar and the tickets view of the inbox app in a real browser (headless
//! Chromium through the chromedriver at `PARLEY_TEST_CHROMEDRIVER_URL`): the sidebar shows the
//! contact's details, owner, tickets and previous conversations, each of which opens; an agent
//! edits the details, turns an anonymous visitor into a contact record (or merges them into the
//! contact whose email they give), creates a ticket from the conversation, finds it in the
//! tickets view and moves it along. What the app shows is checked against the REST API.
//! Screenshots: `docs/screenshots/app-contact.png`, `docs/screenshots/app-tickets.png`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser_fixtures;
mod common;
mod ws_fixtures;

use browser_fixtures::{app_log_in, element, run_js, screenshot, wait_for};
use common::*;
use fantoccini::Client;
use serde_json::{Value, json};
use ws_fixtures::*;

/// A Parley with one inbox and its chat channel.
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

    async fn get(&self, path: &str) -> Value {
        let answer = self
            .app
            .get(&format!("/api/v1{path}"), &self.app.admin_token)
            .await;
        assert_eq!(answer.status, 200, "GET {path}: {:?}", answer.body);
        answer.body
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let answer = self
            .app
            .post(&format!("/api/v1{path}"), &self.app.admin_token, body)
            .await;
        assert!(
            answer.status == 200 || answer.status == 201,
            "POST {path}: {} {:?}",
            answer.status,
            answer.body
        );
        answer.body
    }

    /// A known contact with a few details.
    async fn contact(&self, body: Value) -> String {
        self.post("/contacts", body).await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A conversation an agent opened with `contact`.
    async fn conversation(&self, contact: &str, subject: &str) -> String {
        let body = json!({"channel_id": self.channel, "contact_id": contact, "subject": subject});
        self.post("/conversations", body).await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// An anonymous visitor's chat; answers the conversation id (the visit keeps its socket).
    async fn visitor_starts(&self, body: &str) -> (Socket, String) {
        let (_, socket, conversation) = visitor_starts_chat(&self.app, &self.channel, body).await;
        (socket, conversation)
    }

    async fn contact_of(&self, conversation: &str) -> String {
        self.get(&format!("/conversations/{conversation}")).await["contact_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

async fn js(c: &Client, body: &str) -> Value {
    run_js(c, body).await
}

/// Opens the conversation through its place in the list, as an agent would.
async fn open_conversation(c: &Client, conversation: &str) {
    let button = format!(".conversations button[data-id='{conversation}']");
    wait_for(
        c,
        "the conversation in the list",
        &format!("return !!document.querySelector({button:?})"),
    )
    .await;
    click(c, &button).await;
}

/// Waits until the sidebar has loaded the contact named `name`, with its lists.
async fn wait_for_sidebar(c: &Client, name: &str) {
    wait_for(
        c,
        &format!("the sidebar of {name:?}"),
        &format!(
            "const pane = document.querySelector('.contact-pane');
             return pane.querySelector('.contact-name')?.textContent === {name:?}
                 && !!pane.querySelector('.contact-conversations');"
        ),
    )
    .await;
}

/// The `data-id`s of the sidebar's previous conversations, in order.
async fn previous_conversations(c: &Client) -> Value {
    js(
        c,
        "return [...document.querySelectorAll('.contact-pane .contact-conversation')]
            .map(n => n.dataset.id);",
    )
    .await
}

async fn type_into(c: &Client, css: &str, text: &str) {
    let field = element(c, css).await;
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Clicks what `css` finds; lists are re-rendered when they reload, so an element replaced
/// between finding and clicking it is found again.
async fn click(c: &Client, css: &str) {
    for _ in 0..5 {
        match element(c, css).await.click().await {
            Ok(()) => return,
            Err(fantoccini::error::CmdError::Standard(e))
                if e.error == fantoccini::error::ErrorStatus::StaleElementReference =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("clicking {css}: {e}"),
        }
    }
    panic!("{css} kept being replaced before it could be clicked");
}

async fn global_error(c: &Client) -> Value {
    js(c, "return document.querySelector('.global').textContent").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sidebar_shows_the_contact_and_each_previous_conversation_opens() {
    let w = World::new().await;
    let ana = w
        .contact(
            json!({"name": "Ana Lima", "email": "ana@shop.test", "phone": "+351 912 345 678",
                        "properties": {"plan": "pro", "seats": 12}}),
        )
        .await;
    let first = w.conversation(&ana, "Invoice for March").await;
    w.post(
        &format!("/conversations/{first}/status"),
        json!({"status": "closed"}),
    )
    .await;
    let ticket = w
        .post(
            "/tickets",
            json!({"conversation_id": first, "title": "Resend the March invoice"}),
        )
        .await;
    let second = w.conversation(&ana, "Upgrading to more seats").await;
    let current = w.conversation(&ana, "Where is my <b>order</b>?").await;

    browser_fixtures::with_browser((1280, 800), |c| async move {
        app_log_in(&c, &w.app.url(""), ADMIN_EMAIL, ADMIN_PASSWORD).await;
        open_conversation(&c, &current).await;
        wait_for_sidebar(&c, "Ana Lima").await;

        let details = js(
            &c,
            "return [...document.querySelectorAll('.contact-props dt, .contact-props dd')]
                .map(n => n.textContent);",
        )
        .await;
        assert_eq!(
            details,
            json!(["Email", "ana@shop.test", "Phone", "+351 912 345 678", "plan", "pro", "seats", "12"])
        );
        assert_eq!(
            previous_conversations(&c).await,
            json!([second, first]),
            "the contact's other conversations, newest first, closed ones too, not this one"
        );
        let tickets = js(
            &c,
            "return [...document.querySelectorAll('.contact-pane .contact-ticket')]
                .map(n => n.textContent);",
        )
        .await;
        assert_eq!(tickets, json!(["Resend the March invoiceNew · Medium"]));
        assert_eq!(
            js(&c, "return document.querySelectorAll('.contact-pane b').length").await,
            0,
            "no user content as HTML"
        );
        screenshot(&c, "app-contact.png").await;

        // A previous conversation opens in the thread, and its sidebar lists the others.
        click(&c, &format!(".contact-conversation[data-id='{first}']")).await;
        wait_for(
            &c,
            "the first conversation open",
            "return document.querySelector('.thread-head .title').textContent === 'Invoice for March'",
        )
        .await;
        assert_eq!(
            js(&c, "return location.hash").await,
            json!(format!("#/inbox/{first}"))
        );
        wait_for(
            &c,
            "the sidebar of the first conversation",
            &format!(
                "const ids = [...document.querySelectorAll('.contact-conversation')].map(n => n.dataset.id);
                 return ids.join() === {:?};",
                format!("{current},{second}")
            ),
        )
        .await;
        let marked = js(
            &c,
            "return document.querySelector('.contact-ticket .contact-item-meta').textContent",
        )
        .await;
        assert_eq!(marked, "New · Medium · from this conversation");

        // ...and so does the next one, from that sidebar.
        click(&c, &format!(".contact-conversation[data-id='{second}']")).await;
        wait_for(
            &c,
            "the second conversation open",
            "return document.querySelector('.thread-head .title').textContent === 'Upgrading to more seats'",
        )
        .await;

        // The contact's ticket opens in the tickets view.
        let ticket_id = ticket["id"].as_str().unwrap();
        wait_for_sidebar(&c, "Ana Lima").await;
        click(&c, &format!(".contact-ticket[data-id='{ticket_id}']")).await;
        wait_for(
            &c,
            "the ticket open in the tickets view",
            "return !document.querySelector('#view-tickets').hidden
                && document.querySelector('.ticket-title')?.textContent === 'Resend the March invoice'",
        )
        .await;
        assert_eq!(global_error(&c).await, "", "no error shown");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_details_and_the_owner_are_stored() {
    let w = World::new().await;
    let teammate = w
        .post(
            "/agents",
            json!({"email": "bea@shop.test", "password": "a long enough password", "role": "agent",
                   "display_name": "Bea Santos"}),
        )
        .await;
    let teammate = teammate["id"].as_str().unwrap().to_owned();
    let ana = w
        .contact(
            json!({"name": "Ana Lima", "properties": {"plan": "pro", "seats": 12, "vip": true}}),
        )
        .await;
    let conversation = w.conversation(&ana, "Plans").await;

    browser_fixtures::with_browser((1280, 800), |c| async move {
        app_log_in(&c, &w.app.url(""), ADMIN_EMAIL, ADMIN_PASSWORD).await;
        open_conversation(&c, &conversation).await;
        wait_for_sidebar(&c, "Ana Lima").await;

        click(&c, ".contact-edit").await;
        type_into(&c, ".contact-form [name=phone]", "+44 20 7946 0000").await;
        type_into(&c, ".contact-form [data-key=plan]", "enterprise").await;
        type_into(&c, ".contact-form [data-key=seats]", "40").await;
        type_into(&c, ".contact-form [data-key=vip]", "").await;
        type_into(&c, ".contact-form [name=new-key]", "region").await;
        type_into(&c, ".contact-form [name=new-value]", "EMEA").await;
        click(&c, ".contact-form [type=submit]").await;
        wait_for(
            &c,
            "the saved details",
            "return document.querySelector('.contact-notice')?.textContent === 'Details saved.'",
        )
        .await;
        let stored = w.get(&format!("/contacts/{ana}")).await;
        assert_eq!(stored["phone"], "+44 20 7946 0000");
        assert_eq!(
            stored["properties"],
            json!({"plan": "enterprise", "seats": 40, "region": "EMEA"}),
            "a number stays a number; an emptied property is removed"
        );
        assert_eq!(
            js(&c, "return document.activeElement.className").await,
            "contact-edit",
            "focus returns to the Edit button"
        );

        // A refused change is said in words, and nothing is stored.
        click(&c, ".contact-edit").await;
        type_into(&c, ".contact-form [name=email]", "not an address").await;
        // The browser's own check of type=email would stop the form; the server's words are
        // what this is about.
        js(&c, "document.querySelector('.contact-form [name=email]').type = 'text'; return 1").await;
        click(&c, ".contact-form [type=submit]").await;
        let refusal = wait_for(
            &c,
            "the refusal in words",
            "return document.querySelector('.contact-form-error')?.textContent",
        )
        .await;
        assert!(
            refusal.as_str().unwrap().starts_with("Not saved: "),
            "{refusal}"
        );
        click(&c, ".contact-buttons [type=button]").await;
        assert_eq!(w.get(&format!("/contacts/{ana}")).await["email"], Value::Null);

        // The owner.
        click(
            &c,
            &format!(".contact-owner select option[value='{teammate}']"),
        )
        .await;
        wait_for(
            &c,
            "the owner saved",
            "return document.querySelector('.contact-owner-status').textContent === 'Owner is now Bea Santos.'",
        )
        .await;
        assert_eq!(
            w.get(&format!("/contacts/{ana}")).await["owner_id"],
            json!(teammate)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_visitor_gets_a_contact_record_and_a_known_email_merges() {
    let w = World::new().await;
    let (_first_socket, first) = w.visitor_starts("Hi, I need help with my order").await;
    let first_contact = w.contact_of(&first).await;

    browser_fixtures::with_browser((1280, 800), |c| async move {
        app_log_in(&c, &w.app.url(""), ADMIN_EMAIL, ADMIN_PASSWORD).await;
        open_conversation(&c, &first).await;
        wait_for_sidebar(&c, "Anonymous visitor").await;
        click(&c, ".contact-create").await;
        type_into(&c, ".contact-form [name=name]", "Rosa Diaz").await;
        type_into(&c, ".contact-form [name=email]", "rosa@example.test").await;
        click(&c, ".contact-form [type=submit]").await;
        wait_for_sidebar(&c, "Rosa Diaz").await;
        assert_eq!(
            js(&c, "return document.querySelector('.contact-notice').textContent").await,
            "Contact record created."
        );
        let stored = w.get(&format!("/contacts/{first_contact}")).await;
        assert_eq!(stored["name"], "Rosa Diaz");
        assert_eq!(stored["email"], "rosa@example.test");
        assert_eq!(stored["email_unverified"], false, "an agent typed it");

        // Another anonymous visit by the same person: their email offers a merge.
        let (_second_socket, second) = w.visitor_starts("Me again, from my phone").await;
        let second_contact = w.contact_of(&second).await;
        open_conversation(&c, &second).await;
        wait_for_sidebar(&c, "Anonymous visitor").await;
        click(&c, ".contact-create").await;
        type_into(&c, ".contact-form [name=email]", "rosa@example.test").await;
        type_into(&c, ".contact-form [name=phone]", "+1 555 0100").await;
        click(&c, ".contact-form [type=submit]").await;
        let offer = wait_for(
            &c,
            "the merge offer",
            "const b = document.querySelector('.contact-merge:not([hidden]) .contact-merge-confirm');
             return b && document.activeElement === b && b.textContent;",
        )
        .await;
        assert_eq!(offer, "Merge into Rosa Diaz");
        assert_eq!(
            w.get(&format!("/contacts/{second_contact}")).await["email"],
            Value::Null,
            "nothing is changed before the agent decides"
        );
        click(&c, ".contact-merge-confirm").await;
        wait_for_sidebar(&c, "Rosa Diaz").await;
        assert_eq!(
            previous_conversations(&c).await,
            json!([first]),
            "the first visit is now a previous conversation"
        );
        assert_eq!(w.contact_of(&second).await, first_contact);
        let kept = w.get(&format!("/contacts/{first_contact}")).await;
        assert_eq!(kept["name"], "Rosa Diaz", "the kept record's details stay");
        assert_eq!(kept["phone"], "+1 555 0100", "the typed phone fills a gap");
        let gone = w
            .app
            .get(
                &format!("/api/v1/contacts/{second_contact}"),
                &w.app.admin_token,
            )
            .await;
        assert_eq!(gone.status, 404, "the merged record is deleted");
        assert_eq!(global_error(&c).await, "", "no error shown");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_created_from_the_conversation_is_found_and_moved_in_the_tickets_view() {
    let w = World::new().await;
    let (_socket, conversation) = w.visitor_starts("My parcel never arrived").await;

    browser_fixtures::with_browser((1280, 800), |c| async move {
        app_log_in(&c, &w.app.url(""), ADMIN_EMAIL, ADMIN_PASSWORD).await;
        open_conversation(&c, &conversation).await;
        wait_for_sidebar(&c, "Anonymous visitor").await;
        assert_eq!(
            js(&c, "return document.querySelector('.contact-tickets .empty').textContent").await,
            "No tickets yet."
        );
        click(&c, ".contact-new-ticket").await;
        type_into(&c, ".contact-ticket-form [name=title]", "Lost parcel 1042").await;
        click(&c, ".contact-ticket-form [name=priority] option[value=high]").await;
        click(&c, ".contact-ticket-form [type=submit]").await;
        wait_for(
            &c,
            "the new ticket in the sidebar",
            "return document.activeElement?.classList.contains('contact-ticket')
                && document.activeElement.textContent",
        )
        .await;
        let stored = w
            .get(&format!("/tickets?conversation_id={conversation}"))
            .await;
        let ticket = &stored["items"][0];
        assert_eq!(ticket["title"], "Lost parcel 1042");
        assert_eq!(ticket["priority"], "high");
        let ticket_id = ticket["id"].as_str().unwrap().to_owned();
        let row = format!(".ticket-row[data-id='{ticket_id}']");

        // Found in the tickets view, through its filters.
        click(&c, ".views [data-view=tickets]").await;
        wait_for(
            &c,
            "the ticket in the list",
            &format!("return !!document.querySelector({row:?})"),
        )
        .await;
        click(&c, "[name=ticket-owner] option[value=me]").await;
        wait_for(
            &c,
            "the empty state of tickets owned by me",
            "return !document.querySelector('.ticket-list-empty').hidden",
        )
        .await;
        click(&c, "[name=ticket-owner] option[value=nobody]").await;
        click(&c, "[name=ticket-priority] option[value=high]").await;
        wait_for(
            &c,
            "the unowned high-priority ticket",
            &format!("return !!document.querySelector({row:?})"),
        )
        .await;

        click(&c, &row).await;
        wait_for(
            &c,
            "the ticket open",
            "return document.querySelector('.ticket-title')?.textContent === 'Lost parcel 1042'",
        )
        .await;
        assert_eq!(
            js(&c, "return location.hash").await,
            json!(format!("#/tickets/{ticket_id}"))
        );
        click(
            &c,
            ".ticket-detail [name=ticket-stage-value] option[value=waiting_on_us]",
        )
        .await;
        wait_for(
            &c,
            "the stage saved",
            "return document.querySelector('.ticket-status').textContent === 'Stage changed to Waiting on us.'",
        )
        .await;
        assert_eq!(
            w.get(&format!("/tickets/{ticket_id}")).await["stage"],
            "waiting_on_us"
        );
        wait_for(
            &c,
            "the list row following the change",
            &format!(
                "return document.querySelector({row:?})?.querySelector('.ticket-row-meta').textContent
                    === 'Waiting on us · High · no owner'"
            ),
        )
        .await;
        click(
            &c,
            &format!(
                ".ticket-detail [name=ticket-owner-value] option[value='{}']",
                w.app.admin.id
            ),
        )
        .await;
        wait_for(
            &c,
            "the owner saved",
            "return document.querySelector('.ticket-status').textContent === 'Now owned by you.'",
        )
        .await;
        assert_eq!(
            w.get(&format!("/tickets/{ticket_id}")).await["owner_id"],
            json!(w.app.admin.id)
        );
        click(&c, "[name=ticket-owner] option[value='']").await;
        click(&c, "[name=ticket-priority] option[value='']").await;
        wait_for(
            &c,
            "the list unfiltered",
            &format!("return !!document.querySelector({row:?})"),
        )
        .await;
        screenshot(&c, "app-tickets.png").await;

        // A ticket that does not exist is said in words.
        js(
            &c,
            &format!("location.hash = '#/tickets/{}'; return 1", uuid()),
        )
        .await;
        let refusal = wait_for(
            &c,
            "the unknown ticket refused in words",
            "return document.querySelector('.ticket-detail .error')?.textContent",
        )
        .await;
        assert!(
            refusal
                .as_str()
                .unwrap()
                .starts_with("That ticket could not be opened: "),
            "{refusal}"
        );
        click(&c, &row).await;
        wait_for(
            &c,
            "the ticket open again",
            "return document.querySelector('.ticket-title')?.textContent === 'Lost parcel 1042'",
        )
        .await;

        // Back to the source conversation, whose sidebar shows the ticket's new stage.
        click(&c, ".ticket-conversation").await;
        wait_for(
            &c,
            "the source conversation with the ticket's stage",
            &format!(
                "return !document.querySelector('#view-inbox').hidden
                    && location.hash === '#/inbox/{conversation}'
                    && document.querySelector('.contact-ticket .contact-item-meta')?.textContent
                        === 'Waiting on us · High · from this conversation'"
            ),
        )
        .await;
        assert_eq!(global_error(&c).await, "", "no error shown");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_narrow_screen_the_sidebar_stacks_below_the_thread() {
    let w = World::new().await;
    let ana = w
        .contact(json!({"name": "Ana Lima", "email": "a.very.long.address.for.a.narrow.screen@shop.test"}))
        .await;
    let conversation = w.conversation(&ana, "Narrow").await;

    browser_fixtures::with_browser((390, 800), |c| async move {
        app_log_in(&c, &w.app.url(""), ADMIN_EMAIL, ADMIN_PASSWORD).await;
        open_conversation(&c, &conversation).await;
        wait_for_sidebar(&c, "Ana Lima").await;
        let layout = js(
            &c,
            "const pane = document.querySelector('.contact-pane').getBoundingClientRect();
             const thread = document.querySelector('.thread').getBoundingClientRect();
             const inner = document.querySelector('.contact-pane');
             return {narrow: innerWidth <= 700, below: pane.top >= thread.bottom - 1,
                     fits: pane.right <= innerWidth + 1,
                     overflow: inner.scrollWidth - inner.clientWidth,
                     thread_keeps_room: document.querySelector('.items').clientHeight >= 80};",
        )
        .await;
        assert_eq!(
            layout,
            json!({"narrow": true, "below": true, "fits": true, "overflow": 0,
                   "thread_keeps_room": true})
        );

        click(&c, ".views [data-view=tickets]").await;
        wait_for(
            &c,
            "the tickets view",
            "return !document.querySelector('#view-tickets').hidden
                && !document.querySelector('.ticket-list-empty').hidden",
        )
        .await;
        let fits = js(
            &c,
            "return document.querySelector('#view-tickets').scrollWidth <= innerWidth",
        )
        .await;
        assert_eq!(fits, true, "the tickets view fits 390 px");
    })
    .await;
}
