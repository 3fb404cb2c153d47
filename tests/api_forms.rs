//! Forms to tickets through the public endpoints: a submission becomes contact + conversation +
//! ticket (seen through the REST API), the same email reuses the contact, and every refusal
//! (a field, the honeypot, the size, the origin, the rate) stores nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_fixtures;
mod common;

use api_fixtures::*;
use common::*;
use parley::domain::{Channel, ChannelKind};
use serde_json::{Value, json};

fn fields() -> Value {
    json!([
        {"name": "email", "label": "Email", "kind": "email", "required": true},
        {"name": "name", "label": "Your name", "kind": "text"},
        {"name": "phone", "label": "Phone", "kind": "phone"},
        {"name": "subject", "label": "Subject", "kind": "text"},
        {"name": "seats", "label": "Seats", "kind": "number"},
        {"name": "plan", "label": "Plan", "kind": "select", "options": ["Basic", "Pro"]},
        {"name": "message", "label": "Message", "kind": "textarea", "required": true},
    ])
}

/// A form channel made through the API (so its settings pass the same checks an admin's do).
async fn add_form(app: &TestApp, extra: Value) -> (Channel, parley::domain::Inbox) {
    let account = app.admin.account_id;
    let inbox = add_inbox(app, account, "Sales", vec![app.admin.clone()]).await;
    let mut settings = json!({"fields": fields()});
    for (k, v) in extra.as_object().unwrap() {
        settings[k] = v.clone();
    }
    let answer = app
        .post(
            "/api/v1/channels",
            &app.admin_token,
            json!({"inbox_id": inbox.id, "kind": "form", "name": "Contact us", "settings": settings}),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    (serde_json::from_value(answer.body).unwrap(), inbox)
}

/// Posts a JSON submission, from a page at `origin` when given.
async fn submit(app: &TestApp, form: &Channel, body: Value, origin: Option<&str>) -> Answer {
    let mut request = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/forms/{}/submissions", form.id)))
        .json(&body);
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    into_answer(request.send().await.unwrap()).await
}

async fn into_answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// What the account holds: contacts, conversations and tickets, as the REST API lists them.
async fn counts(app: &TestApp) -> (usize, usize, usize) {
    let mut out = [0; 3];
    for (i, path) in [
        "/api/v1/contacts",
        "/api/v1/conversations",
        "/api/v1/tickets",
    ]
    .iter()
    .enumerate()
    {
        let answer = app
            .get(&format!("{path}?limit=200"), &app.admin_token)
            .await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        out[i] = answer.body["items"].as_array().unwrap().len();
    }
    (out[0], out[1], out[2])
}

fn valid() -> Value {
    json!({
        "email": "Ann@Example.com", "name": "Ann Lee", "phone": "+1 555 0100",
        "subject": "Quote for 3 seats", "seats": "3", "plan": "Pro",
        "message": "Hello,\nplease send a quote.",
    })
}

async fn a_submission_creates_contact_conversation_and_ticket(backend: Backend) {
    let app = spawn_app(backend).await;
    let (form, inbox) = add_form(&app, json!({"thank_you": "Thanks, we will write back."})).await;
    let read = app
        .call("GET", &format!("/api/v1/forms/{}", form.id), None, None)
        .await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["name"], "Contact us");
    assert_eq!(read.body["fields"].as_array().unwrap().len(), 7);
    assert_eq!(read.body["fields"][5]["options"], json!(["Basic", "Pro"]));
    assert_eq!(read.body["honeypot"], "_website");

    let answer = submit(&app, &form, valid(), Some("https://shop.example")).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.body["thank_you"], "Thanks, we will write back.");

    let contacts = app
        .get("/api/v1/contacts?email=ann@example.com", &app.admin_token)
        .await;
    let contact = &contacts.body["items"][0];
    assert_eq!(contact["name"], "Ann Lee");
    assert_eq!(contact["phone"], "+1 555 0100");
    assert_eq!(contact["properties"], json!({"seats": 3, "plan": "Pro"}));

    let tickets = app
        .get(
            &format!("/api/v1/tickets?inbox_id={}", inbox.id),
            &app.admin_token,
        )
        .await;
    let tickets = tickets.body["items"].as_array().unwrap().clone();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["title"], "Quote for 3 seats");
    assert_eq!(tickets[0]["contact_id"], contact["id"]);
    let conversation_id = tickets[0]["conversation_id"].as_str().unwrap();
    let conversation = app
        .get(
            &format!("/api/v1/conversations/{conversation_id}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(conversation.body["channel_id"], json!(form.id));
    assert_eq!(conversation.body["contact_id"], contact["id"]);
    let timeline = app
        .get(
            &format!("/api/v1/conversations/{conversation_id}/timeline"),
            &app.admin_token,
        )
        .await;
    let first = &timeline.body["items"][0];
    assert_eq!(first["direction"], "in");
    assert_eq!(
        first["body"],
        "Email: ann@example.com\nYour name: Ann Lee\nPhone: +1 555 0100\n\
         Subject: Quote for 3 seats\nSeats: 3\nPlan: Pro\nMessage:\nHello,\nplease send a quote."
    );

    // The same person again, as a plain HTML form would post it: the contact is reused.
    let again = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/forms/{}/submissions", form.id)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("email", "ann@example.com"),
                ("message", "One more thing"),
                ("_website", ""),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 201);
    assert_eq!(
        counts(&app).await,
        (1, 2, 2),
        "one contact, two conversations and tickets"
    );
    let tickets = app.get("/api/v1/tickets", &app.admin_token).await;
    let titles: Vec<&str> = tickets.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.contains(&"Contact us"),
        "no subject: the form's name; {titles:?}"
    );
}

async fn each_invalid_field_is_named_and_nothing_is_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let (form, _) = add_form(&app, json!({})).await;
    let cases: Vec<(&str, Value)> = vec![
        ("email", json!({"message": "Hi"})),
        ("message", json!({"email": "a@b.co", "message": "   "})),
        ("email", json!({"email": "not an address", "message": "Hi"})),
        (
            "phone",
            json!({"email": "a@b.co", "phone": "call me", "message": "Hi"}),
        ),
        (
            "seats",
            json!({"email": "a@b.co", "seats": "a few", "message": "Hi"}),
        ),
        (
            "plan",
            json!({"email": "a@b.co", "plan": "Gold", "message": "Hi"}),
        ),
        (
            "name",
            json!({"email": "a@b.co", "name": {"first": "A"}, "message": "Hi"}),
        ),
        (
            "colour",
            json!({"email": "a@b.co", "colour": "red", "message": "Hi"}),
        ),
        (
            "message",
            json!({"email": "a@b.co", "message": "x".repeat(5001)}),
        ),
    ];
    for (field, body) in cases {
        let answer = submit(&app, &form, body, None).await;
        assert_error(
            &format!("field {field}"),
            &answer,
            422,
            "invalid_field",
            Some(field),
        );
    }
    assert_eq!(counts(&app).await, (0, 0, 0));
}

async fn a_filled_honeypot_looks_received_but_stores_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (form, _) = add_form(&app, json!({})).await;
    let mut body = valid();
    body["_website"] = json!("http://cheap-pills.example");
    let answer = submit(&app, &form, body, None).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.body["status"], "received");
    assert_eq!(counts(&app).await, (0, 0, 0));
}

async fn an_oversize_body_is_refused(backend: Backend) {
    let app = spawn_app_with(backend, &[("PARLEY__FORMS__MAX_BODY_BYTES", "2048")]).await;
    let (form, _) = add_form(&app, json!({})).await;
    let mut body = valid();
    body["message"] = json!("y".repeat(3000));
    let answer = submit(&app, &form, body, None).await;
    assert_error("oversize", &answer, 413, "payload_too_large", None);
    let unsupported = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/forms/{}/submissions", form.id)))
        .header("content-type", "text/plain")
        .body("email=a@b.co")
        .send()
        .await
        .unwrap();
    assert_eq!(unsupported.status().as_u16(), 415);
    assert_eq!(counts(&app).await, (0, 0, 0));
}

async fn only_allowed_origins_may_use_the_form(backend: Backend) {
    let app = spawn_app(backend).await;
    let (form, _) = add_form(&app, json!({"allowed_origins": ["https://shop.example"]})).await;
    let answer = submit(&app, &form, valid(), Some("https://evil.example")).await;
    assert_error("other origin", &answer, 403, "origin_not_allowed", None);
    let read = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/forms/{}", form.id)))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status().as_u16(), 403);
    assert_eq!(counts(&app).await, (0, 0, 0));
    let answer = submit(&app, &form, valid(), Some("https://shop.example")).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(counts(&app).await, (1, 1, 1));

    // A chat channel is no form, and an unknown id is none either.
    let chat = add_channel(
        &app,
        app.admin.account_id,
        &add_inbox(&app, app.admin.account_id, "Chat", vec![]).await,
        ChannelKind::Chat,
    )
    .await;
    assert_error(
        "chat",
        &submit(&app, &chat, valid(), None).await,
        404,
        "not_found",
        None,
    );
}

async fn submissions_are_rate_limited_per_address(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[("PARLEY__FORMS__SUBMISSIONS_PER_IP_PER_MINUTE", "2")],
    )
    .await;
    let (form, _) = add_form(&app, json!({})).await;
    for _ in 0..2 {
        assert_eq!(submit(&app, &form, valid(), None).await.status, 201);
    }
    let third = submit(&app, &form, valid(), None).await;
    assert_error("third", &third, 429, "too_many_requests", None);
    assert_eq!(counts(&app).await, (1, 2, 2));
}

async fn a_submission_refused_by_the_store_leaves_nothing(backend: Backend) {
    // The ticket's owner is checked by the ticket insert, the last write of the transaction.
    // An owner who stopped being an agent of the account cannot be set through the API, so the
    // stored settings are changed underneath, as an old or hand-edited row would be.
    let app = spawn_app(backend).await;
    let (form, _) = add_form(&app, json!({"ticket_owner_id": app.admin.id})).await;
    let mut settings = form.settings.clone();
    settings.insert("ticket_owner_id".into(), json!(uuid::Uuid::new_v4()));
    app.store
        .update_channel(
            app.admin.account_id,
            form.id,
            parley::domain::ChannelPatch {
                settings: Some(settings),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let answer = submit(&app, &form, valid(), None).await;
    assert_eq!(answer.status, 422, "{}", answer.body);
    assert_eq!(
        counts(&app).await,
        (0, 0, 0),
        "no contact, conversation or ticket"
    );
}

async fn the_embed_snippet_of_a_form_points_at_the_form_script(backend: Backend) {
    let app = spawn_app(backend).await;
    let (form, _) = add_form(&app, json!({})).await;
    let answer = app
        .get(
            &format!("/api/v1/channels/{}/embed", form.id),
            &app.admin_token,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let snippet = answer.body["snippet"].as_str().unwrap();
    assert!(
        snippet.contains(&format!(r#"<div data-parley-form="{}"></div>"#, form.id)),
        "{snippet}"
    );
    assert!(snippet.contains("/widget/form.js"), "{snippet}");
    let script = reqwest::get(answer.body["loader_url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(script.status().as_u16(), 200, "the form script is served");
}

async fn a_messenger_channel_shows_its_webhook_url(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[("PARLEY__HTTP__PUBLIC_URL", "https://chat.example.com/")],
    )
    .await;
    let inbox = add_inbox(&app, app.admin.account_id, "Social", vec![]).await;
    let created = app
        .post(
            "/api/v1/channels",
            &app.admin_token,
            json!({"inbox_id": inbox.id, "kind": "messenger", "name": "Page", "settings": {
                "page_id": "1234567890", "page_access_token": "EAAB-token",
                "app_secret": "app-secret", "verify_token": "verify-me"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    let answer = app
        .get(&format!("/api/v1/channels/{id}/webhook"), &app.admin_token)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body["webhook_url"],
        "https://chat.example.com/webhooks/messenger".to_owned()
    );
    let (form, _) = add_form(&app, json!({})).await;
    let not_messenger = app
        .get(
            &format!("/api/v1/channels/{}/webhook", form.id),
            &app.admin_token,
        )
        .await;
    assert_eq!(not_messenger.status, 404);
}

on_both_backends!(
    a_messenger_channel_shows_its_webhook_url,
    a_submission_creates_contact_conversation_and_ticket,
    each_invalid_field_is_named_and_nothing_is_stored,
    a_filled_honeypot_looks_received_but_stores_nothing,
    an_oversize_body_is_refused,
    only_allowed_origins_may_use_the_form,
    submissions_are_rate_limited_per_address,
    a_submission_refused_by_the_store_leaves_nothing,
    the_embed_snippet_of_a_form_points_at_the_form_script,
);
