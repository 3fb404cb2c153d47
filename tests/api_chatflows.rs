//! Chatflows through the HTTP API on both store backends: targeting, availability and branding
//! are parsed before they are stored, stored in their normalized form, and a bad one is answered
//! 422 with `field` naming the exact path, writing nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};

/// An app with an inbox and a chat channel; answers the app and the channel's chatflows path.
async fn chat_channel(backend: Backend) -> (TestApp, String) {
    let app = spawn_app(backend).await;
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
                   "settings": {"allowed_origins": ["https://shop.test"]}}),
        )
        .await;
    assert_eq!(channel.status, 201, "{:?}", channel.body);
    let path = format!(
        "/api/v1/channels/{}/chatflows",
        channel.body["id"].as_str().unwrap()
    );
    (app, path)
}

fn valid() -> Value {
    json!({
        "name": "Pricing pages",
        "kind": "live_chat",
        "priority": 5,
        "targeting": [
            {"kind": "url_starts_with", "value": "https://shop.test/pricing"},
            {"kind": "query_param_equals", "name": "utm_source", "value": "ads"},
            {"kind": "visitor_is", "value": "returning"},
        ],
        "availability": {
            "time_zone": "europe/paris",
            "hours": {"monday": ["09:00-17:00"], "friday": ["22:00-02:00"]},
            "typically_replies_in": "an_hour",
            "away_message": "Back at nine.",
        },
        "branding": {
            "color": "#2563EB", "welcome_message": "Questions about plans?",
            "display_name": "Sales team", "avatar_url": "https://cdn.shop.test/sales.png",
            "meeting_link": "https://cal.shop.test/sales",
        },
    })
}

async fn creates_with_defaults_and_stores_the_normalized_shapes(backend: Backend) {
    let (app, path) = chat_channel(backend).await;
    let admin = &app.admin_token;

    let bare = app
        .post(
            &path,
            admin,
            json!({"name": "Everywhere", "kind": "live_chat"}),
        )
        .await;
    assert_eq!(bare.status, 201, "{:?}", bare.body);
    assert_eq!(bare.body["targeting"], json!([]));
    assert_eq!(bare.body["enabled"], true);
    assert_eq!(bare.body["priority"], 0);
    assert_eq!(bare.body["availability"]["hours"], Value::Null);
    assert_eq!(bare.body["availability"]["time_zone"], "UTC");
    assert_eq!(bare.body["branding"]["color"], "#2563eb");

    let full = app.post(&path, admin, valid()).await;
    assert_eq!(full.status, 201, "{:?}", full.body);
    assert_eq!(full.body["targeting"], valid()["targeting"]);
    assert_eq!(full.body["availability"]["time_zone"], "Europe/Paris");
    assert_eq!(
        full.body["availability"]["hours"]["friday"],
        json!(["22:00-02:00"])
    );
    assert_eq!(full.body["branding"]["color"], "#2563eb");
    assert_eq!(full.body["branding"]["display_name"], "Sales team");

    let id = full.body["id"].as_str().unwrap();
    let patched = app
        .patch(
            &format!("/api/v1/chatflows/{id}"),
            admin,
            json!({"targeting": [{"kind": "url_wildcard", "value": "https://shop.test/*/plans"}],
                   "priority": -1}),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(
        patched.body["targeting"],
        json!([{"kind": "url_wildcard", "value": "https://shop.test/*/plans"}])
    );
    // Left out of the patch, so kept.
    assert_eq!(patched.body["branding"], full.body["branding"]);

    let listed = app.get(&path, admin).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert_eq!(listed.body, json!([patched.body, bare.body]), "by priority");
    let one = app.get(&format!("/api/v1/chatflows/{id}"), admin).await;
    assert_eq!(one.body, patched.body);

    let deleted = app.delete(&format!("/api/v1/chatflows/{id}"), admin).await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    let gone = app.get(&format!("/api/v1/chatflows/{id}"), admin).await;
    assert_eq!(gone.status, 404, "{:?}", gone.body);
}

async fn bad_shapes_are_422_naming_the_exact_field(backend: Backend) {
    let (app, path) = chat_channel(backend).await;
    let admin = &app.admin_token;
    let created = app.post(&path, admin, valid()).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let item = format!("/api/v1/chatflows/{}", created.body["id"].as_str().unwrap());

    let ok = json!({"kind": "url_is", "value": "https://shop.test/"});
    // (the part of the body, the field the answer must name)
    let cases: Vec<(Value, &str)> = vec![
        (json!({"targeting": {"kind": "url_is"}}), "targeting"),
        (
            json!({"targeting": [ok, ok, {"kind": "url_is", "value": "  "}]}),
            "targeting[2].value",
        ),
        (
            json!({"targeting": [ok, {"kind": "url_regex", "value": "x"}]}),
            "targeting[1].kind",
        ),
        (
            json!({"targeting": [{"kind": "query_param_equals", "value": "ads"}]}),
            "targeting[0].name",
        ),
        (
            json!({"targeting": [{"kind": "visitor_is", "value": "sometimes"}]}),
            "targeting[0].value",
        ),
        (
            json!({"targeting": [{"kind": "url_is", "value": "x", "regex": true}]}),
            "targeting[0].regex",
        ),
        (
            json!({"availability": {"time_zone": "Mars/Olympus"}}),
            "availability.time_zone",
        ),
        (
            json!({"availability": {"hours": {"monday": ["9 to 5"]}}}),
            "availability.hours.monday[0]",
        ),
        (
            json!({"availability": {"hours": {"friday": ["09:00-12:00", "13:00-13:00"]}}}),
            "availability.hours.friday[1]",
        ),
        (
            json!({"availability": {"hours": {"someday": []}}}),
            "availability.hours.someday",
        ),
        (
            json!({"availability": {"typically_replies_in": "a_week"}}),
            "availability.typically_replies_in",
        ),
        (
            json!({"availability": {"away_message": ""}}),
            "availability.away_message",
        ),
        (json!({"branding": {"color": "blue"}}), "branding.color"),
        (
            json!({"branding": {"welcome_message": "x".repeat(501)}}),
            "branding.welcome_message",
        ),
        (
            json!({"branding": {"display_name": ""}}),
            "branding.display_name",
        ),
        (
            json!({"branding": {"avatar_url": "http://cdn.shop.test/a.png"}}),
            "branding.avatar_url",
        ),
        (
            json!({"branding": {"meeting_link": "javascript:alert(1)"}}),
            "branding.meeting_link",
        ),
        (json!({"branding": "red"}), "branding"),
    ];
    for (part, field) in cases {
        let mut body = json!({"name": "Bad", "kind": "live_chat"});
        for (k, v) in part.as_object().unwrap() {
            body[k] = v.clone();
        }
        let refused = app.post(&path, admin, body).await;
        assert_eq!(refused.status, 422, "create {part}: {:?}", refused.body);
        assert_eq!(refused.code(), "invalid_field", "{part}");
        assert_eq!(
            refused.body["field"], field,
            "create {part}: {:?}",
            refused.body
        );

        let refused = app.patch(&item, admin, part.clone()).await;
        assert_eq!(refused.status, 422, "patch {part}: {:?}", refused.body);
        assert_eq!(
            refused.body["field"], field,
            "patch {part}: {:?}",
            refused.body
        );
    }
    // Nothing was written: the one valid chatflow is there, unchanged.
    let listed = app.get(&path, admin).await;
    assert_eq!(listed.body, json!([created.body]));
}

async fn only_admins_write_chatflows(backend: Backend) {
    let (app, path) = chat_channel(backend).await;
    let made = app
        .post(
            "/api/v1/agents",
            &app.admin_token,
            json!({"email": "agent@parley.test", "password": "agent-password-1",
                   "role": "agent", "display_name": "Agatha Agent"}),
        )
        .await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let (agent, _) = app.login("agent@parley.test", "agent-password-1").await;
    let refused = app.post(&path, &agent, valid()).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    let listed = app.get(&path, &app.admin_token).await;
    assert_eq!(listed.body, json!([]));
}

async fn a_form_channel_has_no_chatflows(backend: Backend) {
    let (app, chat_path) = chat_channel(backend).await;
    let admin = &app.admin_token;
    let chat = app.get(&chat_path, admin).await;
    assert_eq!(chat.status, 200, "{:?}", chat.body);
    let inboxes = app.get("/api/v1/inboxes", admin).await;
    let form = app
        .post(
            "/api/v1/channels",
            admin,
            json!({"inbox_id": inboxes.body[0]["id"], "kind": "form", "name": "Contact us",
                   "settings": {"fields": [
                       {"name": "email", "label": "Email", "kind": "email", "required": true}]}}),
        )
        .await;
    assert_eq!(form.status, 201, "{:?}", form.body);
    let path = format!(
        "/api/v1/channels/{}/chatflows",
        form.body["id"].as_str().unwrap()
    );
    let refused = app.post(&path, admin, valid()).await;
    assert_eq!(refused.status, 422, "{:?}", refused.body);
    assert_eq!(refused.code(), "wrong_channel_kind");
    assert_eq!(app.get(&path, admin).await.body, json!([]));
}

on_both_backends!(
    creates_with_defaults_and_stores_the_normalized_shapes,
    bad_shapes_are_422_naming_the_exact_field,
    only_admins_write_chatflows,
    a_form_channel_has_no_chatflows,
);
