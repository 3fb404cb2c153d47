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

fn widget_chatflow_url(app: &TestApp, query: &[(&str, String)]) -> String {
    let query = serde_urlencoded::to_string(query).unwrap();
    app.url(&format!("/api/v1/widget/chatflow?{query}"))
}

/// The chatflow a page would show: `(status, body)` of `GET /api/v1/widget/chatflow`.
async fn chatflow_for(
    app: &TestApp,
    account: impl std::fmt::Display,
    channel: impl std::fmt::Display,
    page: &str,
    returning: bool,
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .get(widget_chatflow_url(
            app,
            &[
                ("account_id", account.to_string()),
                ("channel_id", channel.to_string()),
                ("url", page.to_owned()),
                ("returning", returning.to_string()),
            ],
        ))
        .header("Origin", "https://shop.test")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

async fn a_page_gets_the_first_chatflow_targeting_it_or_no_widget(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token.clone();
    let account = app.admin.account_id;
    let inbox = add_inbox(&app, account, "Support", vec![]).await;
    let chat = add_channel(&app, account, &inbox, ChannelKind::Chat).await;
    let path = format!("/api/v1/channels/{}/chatflows", chat.id);
    let mut ids = std::collections::HashMap::new();
    for (name, priority, targeting, enabled) in [
        (
            "pricing",
            1,
            json!([{"kind": "url_starts_with", "value": "https://shop.test/pricing"}]),
            true,
        ),
        (
            "ads",
            0,
            json!([{"kind": "query_param_equals", "name": "utm_source", "value": "ads"}]),
            true,
        ),
        (
            "returning",
            2,
            json!([{"kind": "visitor_is", "value": "returning"}]),
            true,
        ),
        ("switched off", -5, json!([]), false),
    ] {
        let created = app
            .post(
                &path,
                &admin,
                json!({"name": name, "kind": "live_chat", "priority": priority,
                       "targeting": targeting, "enabled": enabled,
                       "branding": {"display_name": format!("{name} team")},
                       "availability": {"typically_replies_in": "a_few_minutes"}}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        ids.insert(name, created.body["id"].clone());
    }
    for (page, returning, expected) in [
        ("https://shop.test/pricing/team", false, Some("pricing")),
        (
            "https://shop.test/pricing?utm_source=ads",
            false,
            Some("ads"),
        ),
        (
            "https://shop.test/blog?utm_source=ads#top",
            true,
            Some("ads"),
        ),
        ("https://shop.test/blog", true, Some("returning")),
        ("https://shop.test/blog", false, None),
    ] {
        let (status, body) = chatflow_for(&app, account, chat.id, page, returning).await;
        match expected {
            Some(name) => {
                assert_eq!(status, 200, "{page}: {body}");
                assert_eq!(
                    body["chatflow_id"], ids[name],
                    "{page} returning={returning}"
                );
                assert_eq!(body["branding"]["display_name"], format!("{name} team"));
                assert_eq!(body["availability"]["status"], "open", "{body}");
                assert_eq!(
                    body["availability"]["typically_replies_in"],
                    "a few minutes"
                );
            }
            None => assert_eq!(status, 204, "{page}: no chatflow, no widget; got {body}"),
        }
    }
}

async fn the_chatflow_lookup_names_what_is_wrong(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app.admin.account_id;
    let inbox = add_inbox(&app, account, "Support", vec![]).await;
    let chat = add_channel(&app, account, &inbox, ChannelKind::Chat).await;
    let email = add_channel(&app, account, &inbox, ChannelKind::Email).await;
    let ask = |query: Vec<(&'static str, String)>, origin: &'static str| {
        let app = &app;
        async move {
            let response = reqwest::Client::new()
                .get(widget_chatflow_url(app, &query))
                .header("Origin", origin)
                .send()
                .await
                .unwrap();
            Answer {
                status: response.status().as_u16(),
                body: response.json().await.unwrap_or_default(),
            }
        }
    };
    let good = |page: &str| {
        vec![
            ("account_id", account.to_string()),
            ("channel_id", chat.id.to_string()),
            ("url", page.to_owned()),
        ]
    };
    let no_url = vec![
        ("account_id", account.to_string()),
        ("channel_id", chat.id.to_string()),
    ];
    assert_error(
        "no url",
        &ask(no_url, "https://shop.test").await,
        400,
        "invalid_query",
        Some("url"),
    );
    assert_error(
        "not a web page",
        &ask(good("javascript:alert(1)"), "https://shop.test").await,
        400,
        "invalid_query",
        Some("url"),
    );
    let mut bad_channel = good("https://shop.test/");
    bad_channel[1].1 = "nope".into();
    assert_error(
        "bad id",
        &ask(bad_channel, "https://shop.test").await,
        400,
        "invalid_query",
        Some("channel_id"),
    );
    let mut not_chat = good("https://shop.test/");
    not_chat[1].1 = email.id.to_string();
    assert_error(
        "email channel",
        &ask(not_chat, "https://shop.test").await,
        404,
        "not_found",
        None,
    );

    let patched = app
        .patch(
            &format!("/api/v1/channels/{}", chat.id),
            &app.admin_token,
            json!({"settings": {"allowed_origins": ["https://shop.test"]}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let refused = ask(good("https://evil.test/"), "https://evil.test").await;
    assert_error("other site", &refused, 403, "origin_not_allowed", None);
    let allowed = ask(good("https://shop.test/"), "https://shop.test").await;
    assert_eq!(allowed.status, 204, "no chatflow yet: {:?}", allowed.body);
}

/// The public chatflow lookup is limited per client IP, and a page URL has a length limit.
async fn the_chatflow_lookup_is_limited(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[("PARLEY__AUTH__WIDGET_REQUESTS_PER_IP_PER_MINUTE", "2")],
    )
    .await;
    let account = app.admin.account_id;
    let inbox = add_inbox(&app, account, "Support", vec![]).await;
    let chat = add_channel(&app, account, &inbox, ChannelKind::Chat).await;
    let too_long = format!("https://shop.test/{}", "a".repeat(8192));
    let (status, body) = chatflow_for(&app, account, chat.id, &too_long, false).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("url")),
        "{body}"
    );
    let (status, _) = chatflow_for(&app, account, chat.id, "https://shop.test/", false).await;
    assert_eq!(status, 204, "within the limit");
    let (status, body) = chatflow_for(&app, account, chat.id, "https://shop.test/", false).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("too_many_requests")),
        "{body}"
    );
}

on_both_backends!(
    the_chatflow_lookup_is_limited,
    a_page_gets_the_first_chatflow_targeting_it_or_no_widget,
    the_chatflow_lookup_names_what_is_wrong,
    a_visitor_gets_a_token_and_an_anonymous_contact,
    refusals_name_the_problem_and_write_nothing,
    new_visitors_are_limited_per_ip,
);
