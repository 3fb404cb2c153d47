//! The embeddable form in a real browser (headless Chromium through the chromedriver at
//! `PARLEY_TEST_CHROMEDRIVER_URL`): a page of another origin carries the form snippet; the
//! person sees labelled fields and no honeypot, is told at the field what is missing (in the
//! browser) and what the server refused, and after sending sees the thank-you while the inbox
//! gets the contact, conversation and ticket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser_fixtures;
mod common;

use browser_fixtures::{Site, element, run_js, screenshot, wait_for, with_browser};
use common::*;
use serde_json::json;

/// The contact page of a website of another origin, with the form's `snippet`; its URL.
fn contact_page(site: &Site, path: &str, snippet: &str) -> String {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Contact</title></head>\
         <body><h1>Contact Acme</h1><p>Write to us.</p>{snippet}</body></html>"
    );
    site.serve(path, html)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_on_another_site_is_filled_in_and_becomes_a_ticket() {
    let app = spawn_app(Backend::Sqlite).await;
    let site = Site::start();
    let admin = app.admin_token.clone();
    let inbox = app
        .post("/api/v1/inboxes", &admin, json!({"name": "Sales"}))
        .await;
    let form = app
        .post(
            "/api/v1/channels",
            &admin,
            json!({"inbox_id": inbox.body["id"], "kind": "form", "name": "Contact us",
                   "settings": {"allowed_origins": [site.origin],
                                "thank_you": "Thanks <b>friend</b>, we will write soon.",
                                "fields": [
        {"name": "name", "label": "Your name", "kind": "text"},
        {"name": "email", "label": "Email", "kind": "email", "required": true},
        {"name": "phone", "label": "Phone", "kind": "phone"},
        {"name": "plan", "label": "Plan", "kind": "select", "options": ["Basic", "Pro"]},
        {"name": "message", "label": "Message", "kind": "textarea", "required": true}]}}),
        )
        .await;
    assert_eq!(form.status, 201, "{}", form.body);
    let form_id = form.body["id"].as_str().unwrap().to_owned();
    let embed = app
        .get(&format!("/api/v1/channels/{form_id}/embed"), &admin)
        .await;
    let url = contact_page(&site, "/contact", embed.body["snippet"].as_str().unwrap());

    with_browser((1024, 800), |c| async move {
        c.goto(&url).await.unwrap();
        wait_for(
            &c,
            "the form",
            "return document.querySelector('form.parley-form')",
        )
        .await;
        let labels = run_js(
            &c,
            "return [...document.querySelectorAll('.parley-form-field label')]
                .map(l => l.textContent + '→' + document.getElementById(l.htmlFor).name)",
        )
        .await;
        assert_eq!(
            labels,
            json!([
                "Your name→name",
                "Email *→email",
                "Phone→phone",
                "Plan→plan",
                "Message *→message"
            ])
        );
        let trap = run_js(
            &c,
            "const t = document.querySelector('input[name=_website]');
             const box = t.getBoundingClientRect();
             return {hidden: t.closest('[aria-hidden=true]') !== null, tab: t.tabIndex,
                     offscreen: box.right <= 0 || box.width <= 1};",
        )
        .await;
        assert_eq!(trap, json!({"hidden": true, "tab": -1, "offscreen": true}));

        // Sent empty: the browser names what is missing, and nothing is sent.
        element(&c, ".parley-form button[type=submit]")
            .await
            .click()
            .await
            .unwrap();
        wait_for(
            &c,
            "the required error",
            "return document.activeElement?.name === 'email'",
        )
        .await;
        let error_of = |name: &str| {
            format!(
                "return document.getElementById(document.querySelector('[name={name}]')
                    .getAttribute('aria-describedby')).textContent"
            )
        };
        assert_eq!(
            run_js(&c, &error_of("email")).await,
            json!("Email is required")
        );
        assert_eq!(
            run_js(&c, &error_of("message")).await,
            json!("Message is required")
        );

        // The server refuses the phone number; its words show under the phone field.
        element(&c, "[name=name]")
            .await
            .send_keys("Ann Lee")
            .await
            .unwrap();
        element(&c, "[name=email]")
            .await
            .send_keys("ann@example.com")
            .await
            .unwrap();
        element(&c, "[name=phone]")
            .await
            .send_keys("call me")
            .await
            .unwrap();
        element(&c, "[name=plan]")
            .await
            .select_by_value("Pro")
            .await
            .unwrap();
        element(&c, "[name=message]")
            .await
            .send_keys("Hello,\nhow much is Pro?")
            .await
            .unwrap();
        element(&c, ".parley-form button[type=submit]")
            .await
            .click()
            .await
            .unwrap();
        wait_for(&c, "the server's phone error", &error_of("phone")).await;
        assert_eq!(
            run_js(&c, &error_of("phone")).await,
            json!("Phone must be a phone number")
        );
        assert_eq!(
            run_js(
                &c,
                "return document.querySelector('[name=phone]').getAttribute('aria-invalid')"
            )
            .await,
            json!("true")
        );
        screenshot(&c, "form-embedded-error.png").await;

        let phone = element(&c, "[name=phone]").await;
        phone.clear().await.unwrap();
        phone.send_keys("+1 555 0100").await.unwrap();
        element(&c, ".parley-form button[type=submit]")
            .await
            .click()
            .await
            .unwrap();
        let thanks = wait_for(
            &c,
            "the thank-you",
            "return document.querySelector('.parley-form-thanks')?.textContent",
        )
        .await;
        assert_eq!(
            thanks,
            json!("Thanks <b>friend</b>, we will write soon."),
            "shown as text"
        );
        assert_eq!(
            run_js(
                &c,
                "return document.querySelectorAll('.parley-form-thanks b').length"
            )
            .await,
            json!(0)
        );
        screenshot(&c, "form-embedded-thanks.png").await;
    })
    .await;

    let tickets = app.get("/api/v1/tickets", &admin).await;
    let items = tickets.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", tickets.body);
    assert_eq!(items[0]["title"], "Contact us");
    let contacts = app
        .get("/api/v1/contacts?email=ann@example.com", &admin)
        .await;
    assert_eq!(contacts.body["items"][0]["name"], "Ann Lee");
    assert_eq!(contacts.body["items"][0]["properties"]["plan"], "Pro");
}
