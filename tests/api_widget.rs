//! The public widget endpoint: a browser becomes a visitor of a chat channel, within the
//! channel's allowed origins and the per-IP limit; bad requests write nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_fixtures;
mod common;

use api_fixtures::*;
use common::*;
use parley::domain::ChannelKind;
use serde_json::json;

async fn post_visitor(app: &TestApp, body: serde_json::Value, origin: Option<&str>) -> Answer {
    let mut request = reqwest::Client::new()
        .post(app.url("/api/v1/widget/visitors"))
        .json(&body);
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    Answer {
        status,
        body: response.json().await.unwrap_or_default(),
    }
}

async fn a_visitor_gets_a_token_and_an_anonymous_contact(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app.admin.account_id;
    let inbox = add_inbox(&app, account, "Support", vec![]).await;
    let chat = add_channel(&app, account, &inbox, ChannelKind::Chat).await;
    let answer = post_visitor(
        &app,
        json!({"account_id": account, "channel_id": chat.id}),
        Some("https://shop.example"),
    )
    .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let token = answer.body["token"].as_str().unwrap();
    assert!(token.starts_with("plv_"));
    let found = app
        .store
        .find_visitor(&parley::auth::token_digest(token))
        .await
        .unwrap()
        .expect("stored by digest");
    assert_eq!(found.channel_id, chat.id);
    let contact = app
        .store
        .get_contact(account, found.contact_id)
        .await
        .unwrap();
    assert_eq!(
        (contact.email, contact.name),
        (None, None),
        "anonymous until they give an email"
    );
}

async fn refusals_name_the_problem_and_write_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app.admin.account_id;
    let inbox = add_inbox(&app, account, "Support", vec![]).await;
    let chat = add_channel(&app, account, &inbox, ChannelKind::Chat).await;
    let email = add_channel(&app, account, &inbox, ChannelKind::Email).await;
    let patched = app
        .patch(
            &format!("/api/v1/channels/{}", chat.id),
            &app.admin_token,
            json!({"settings": {"allowed_origins": ["https://shop.example"]}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let contacts_before = app
        .store
        .search_contacts(account, Default::default(), Default::default())
        .await
        .unwrap()
        .items
        .len();

    let cases = [
        (
            "origin not allowed",
            json!({"account_id": account, "channel_id": chat.id}),
            Some("https://evil.example"),
            403,
            "origin_not_allowed",
        ),
        (
            "not a chat channel",
            json!({"account_id": account, "channel_id": email.id}),
            None,
            404,
            "not_found",
        ),
        (
            "unknown channel",
            json!({"account_id": account, "channel_id": uuid::Uuid::now_v7()}),
            None,
            404,
            "not_found",
        ),
        (
            "another account",
            json!({"account_id": uuid::Uuid::now_v7(), "channel_id": chat.id}),
            None,
            404,
            "not_found",
        ),
        (
            "missing field",
            json!({"account_id": account}),
            None,
            422,
            "invalid_field",
        ),
        (
            "wrong type",
            json!({"account_id": account, "channel_id": 7}),
            None,
            422,
            "invalid_field",
        ),
    ];
    for (case, body, origin, status, code) in cases {
        let answer = post_visitor(&app, body, origin).await;
        assert_eq!(
            (answer.status, answer.code()),
            (status, code),
            "{case}: {:?}",
            answer.body
        );
    }
    let allowed = post_visitor(
        &app,
        json!({"account_id": account, "channel_id": chat.id}),
        Some("https://shop.example"),
    )
    .await;
    assert_eq!(allowed.status, 201, "listed origin: {:?}", allowed.body);
    let contacts_after = app
        .store
        .search_contacts(account, Default::default(), Default::default())
        .await
        .unwrap()
        .items
        .len();
    assert_eq!(
        contacts_after,
        contacts_before + 1,
        "only the allowed request made a contact"
    );
}

async fn new_visitors_are_limited_per_ip(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[("PARLEY__AUTH__VISITORS_PER_IP_PER_MINUTE", "2")],
    )
    .await;
    let account = app.admin.account_id;
    let inbox = add_inbox(&app, account, "Support", vec![]).await;
    let chat = add_channel(&app, account, &inbox, ChannelKind::Chat).await;
    let body = json!({"account_id": account, "channel_id": chat.id});
    for attempt in 1..=2 {
        assert_eq!(
            post_visitor(&app, body.clone(), None).await.status,
            201,
            "attempt {attempt}"
        );
    }
    let limited = post_visitor(&app, body, None).await;
    assert_eq!((limited.status, limited.code()), (429, "too_many_requests"));
}

on_both_backends!(
    a_visitor_gets_a_token_and_an_anonymous_contact,
    refusals_name_the_problem_and_write_nothing,
    new_visitors_are_limited_per_ip,
);
