//! Settings for email, Messenger and form channels in a real browser (headless Chromium through
//! the chromedriver at `PARLEY_TEST_CHROMEDRIVER_URL`): an admin creates a form with the fields
//! editor (a server refusal lands on the faulty field row) and copies its snippet; connects an
//! email address whose passwords are write-only (saving without retyping keeps them); connects a
//! Messenger page and sees the webhook URL to paste into Facebook.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser_fixtures;
mod common;

use browser_fixtures::{app_log_in, element, run_js, screenshot, wait_for, with_browser};
use common::*;
use fantoccini::Client;
use serde_json::json;

async fn fill(c: &Client, css: &str, text: &str) {
    let field = element(c, css).await;
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    element(c, css).await.click().await.unwrap();
}

/// Opens Settings › Channels and waits for the list.
async fn open_channels(c: &Client) {
    click(c, ".views [data-view=settings]").await;
    click(c, ".settings-nav a[data-screen=channels]").await;
    wait_for(
        c,
        "the channels list",
        "return !!document.querySelector('.settings-page[data-ready][data-route=channels]')",
    )
    .await;
}

/// Waits for a channel's detail page; answers its id.
async fn wait_for_detail(c: &Client) -> String {
    let route = wait_for(
        c,
        "a channel's page",
        "const p = document.querySelector('.settings-page[data-ready]');
         return p && p.dataset.route.startsWith('channels/') ? p.dataset.route : null",
    )
    .await;
    route
        .as_str()
        .unwrap()
        .trim_start_matches("channels/")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_up_form_email_and_messenger_channels() {
    let app = spawn_app(Backend::Sqlite).await;
    let admin = app.admin_token.clone();
    let inbox = app
        .post("/api/v1/inboxes", &admin, json!({"name": "Sales"}))
        .await;
    assert_eq!(inbox.status, 201);
    let app_url = app.url("");
    let base = app.address.clone();
    let out = std::sync::Arc::new(std::sync::Mutex::new(None));
    let found = std::sync::Arc::clone(&out);
    with_browser((1280, 900), |c| async move {
        app_log_in(&c, &app_url, ADMIN_EMAIL, ADMIN_PASSWORD).await;

        // A form: the starter fields plus a choice without options, which the server refuses
        // naming that row's options.
        open_channels(&c).await;
        click(&c, "details.create-kind:nth-of-type(3) > summary").await;
        let form = ".create-form";
        fill(&c, &format!("{form} [name=name]"), "Contact us").await;
        click(&c, &format!("{form} .add-field")).await;
        let row = format!("{form} .form-field-row:nth-child(5)");
        fill(&c, &format!("{row} [data-part=name]"), "plan").await;
        fill(&c, &format!("{row} [data-part=label]"), "Plan").await;
        element(&c, &format!("{row} [data-part=kind]"))
            .await
            .select_by_value("select")
            .await
            .unwrap();
        click(&c, &format!("{form} button[type=submit]")).await;
        let error = wait_for(
            &c,
            "the options error",
            &format!("return document.querySelector('{row} [data-field$=options] .field-error')?.textContent"),
        )
        .await;
        assert_eq!(error, json!("give 1 to 100 options"));
        fill(&c, &format!("{row} [data-part=options]"), "Basic\nPro").await;
        fill(&c, &format!("{form} [name=allowed_origins]"), "https://shop.example").await;
        click(&c, &format!("{form} button[type=submit]")).await;
        let form_id = wait_for_detail(&c).await;
        let snippet = wait_for(
            &c,
            "the form snippet",
            "return document.querySelector('.snippet textarea')?.value",
        )
        .await;
        assert!(
            snippet.as_str().unwrap().contains(&format!("data-parley-form=\"{form_id}\"")),
            "{snippet}"
        );
        screenshot(&c, "app-settings-form-channel.png").await;

        // An email channel: passwords typed once.
        open_channels(&c).await;
        click(&c, "details.create-kind:nth-of-type(1) > summary").await;
        let email = ".create-email";
        for (name, value) in [
            ("name", "Support mail"),
            ("imap_host", "imap.example.com"),
            ("imap_username", "support@example.com"),
            ("imap_password", "imap-secret-1"),
            ("smtp_host", "smtp.example.com"),
            ("smtp_username", "support@example.com"),
            ("smtp_password", "smtp-secret-1"),
            ("sender_name", "Acme Support"),
            ("sender_address", "support@example.com"),
        ] {
            fill(&c, &format!("{email} [name={name}]"), value).await;
        }
        click(&c, &format!("{email} button[type=submit]")).await;
        let email_id = wait_for_detail(&c).await;
        let hint = wait_for(
            &c,
            "the stored-password hint",
            "return document.querySelector('.edit-email [data-secret=imap_password] .hint')?.textContent",
        )
        .await;
        assert!(hint.as_str().unwrap().starts_with("Set — leave empty"), "{hint}");
        assert_eq!(
            run_js(&c, "return document.querySelector('.edit-email [name=imap_password]').value").await,
            json!(""),
            "a stored password is never shown"
        );
        // Saving with the passwords left empty keeps them; a new SMTP port is saved.
        fill(&c, ".edit-email [name=smtp_port]", "465").await;
        click(&c, ".edit-email button[type=submit]").await;
        wait_for(
            &c,
            "saved",
            "return document.querySelector('.edit-email .saved')?.textContent === 'Saved.'",
        )
        .await;
        screenshot(&c, "app-settings-email-channel.png").await;

        // A Messenger page: the webhook URL to paste into Facebook.
        open_channels(&c).await;
        click(&c, "details.create-kind:nth-of-type(2) > summary").await;
        let messenger = ".create-messenger";
        for (name, value) in [
            ("name", "Facebook page"),
            ("page_id", "1234567890"),
            ("page_access_token", "EAAB-token"),
            ("app_secret", "app-secret"),
            ("verify_token", "verify-me"),
        ] {
            fill(&c, &format!("{messenger} [name={name}]"), value).await;
        }
        click(&c, &format!("{messenger} button[type=submit]")).await;
        let messenger_id = wait_for_detail(&c).await;
        let webhook = wait_for(
            &c,
            "the webhook URL",
            "return document.querySelector('.webhook-url input')?.value",
        )
        .await;
        assert_eq!(
            webhook,
            json!(format!("{base}/webhooks/messenger"))
        );
        *found.lock().unwrap() = Some((form_id, email_id, messenger_id));
    })
    .await;
    let (form_id, email_id, messenger_id) = out.lock().unwrap().take().unwrap();

    let form = app
        .get(&format!("/api/v1/channels/{form_id}"), &admin)
        .await;
    assert_eq!(
        form.body["settings"]["fields"][4]["options"],
        json!(["Basic", "Pro"])
    );
    assert_eq!(
        form.body["settings"]["allowed_origins"],
        json!(["https://shop.example"])
    );
    let stored = app
        .store
        .get_channel(app.admin.account_id, email_id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(stored.settings["smtp_port"], json!(465));
    assert_eq!(
        stored.settings["imap_password"],
        json!("imap-secret-1"),
        "kept"
    );
    assert_eq!(
        stored.settings["smtp_password"],
        json!("smtp-secret-1"),
        "kept"
    );
    let messenger = app
        .store
        .get_channel(app.admin.account_id, messenger_id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(messenger.settings["app_secret"], json!("app-secret"));
}
