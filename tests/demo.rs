//! The demo website: `/` links a live-chat page and a bot page, each embedding the widget with
//! the demo channel's snippet; the demo's records are created once; a node with the demo off
//! serves no page at `/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod ws_fixtures;

use common::*;
use serde_json::{Value, json};
use ws_fixtures::*;

async fn html(app: &TestApp, path: &str) -> (u16, String) {
    let response = reqwest::get(app.url(path)).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The chatflow the widget would show on a demo page.
async fn chatflow_on(app: &TestApp, site: &parley::demo::DemoSite, path: &str) -> Value {
    let query = serde_urlencoded::to_string([
        ("account_id", site.account.to_string()),
        ("channel_id", site.channel.to_string()),
        ("url", app.url(path)),
    ])
    .unwrap();
    let answer = app
        .call(
            "GET",
            &format!("/api/v1/widget/chatflow?{query}"),
            None,
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    answer.body
}

async fn the_demo_site_shows_live_chat_and_a_bot(backend: Backend) {
    let app = spawn_app_with(backend, &[("PARLEY__DEMO__ENABLED", "true")]).await;
    let site = parley::demo::ensure(&app.store, ADMIN_EMAIL)
        .await
        .unwrap()
        .expect("the demo exists");
    let channels = app.store.list_channels(site.account, None).await.unwrap();
    assert_eq!(
        channels.len(),
        1,
        "created once: ensuring again finds it, {channels:?}"
    );

    let (status, home) = html(&app, "/").await;
    assert_eq!(status, 200);
    for link in ["/demo/live", "/demo/bot", "/app/"] {
        assert!(
            home.contains(&format!("href=\"{link}\"")),
            "{link} in {home}"
        );
    }
    assert!(!home.contains("loader.js"), "the home page has no widget");
    let (status, app_page) = html(&app, "/app/").await;
    assert_eq!(status, 200, "the linked inbox app is there");
    assert!(app_page.contains("<html"), "{app_page}");
    for page in ["/demo/live", "/demo/bot"] {
        let (status, body) = html(&app, page).await;
        assert_eq!(status, 200, "{page}");
        let snippet = format!(
            r#"<script src="http://127.0.0.1:{}/widget/loader.js" data-account="{}" data-channel="{}" async></script>"#,
            app.port, site.account, site.channel
        );
        assert!(body.contains(&snippet), "{page} embeds the widget: {body}");
    }
    let live = chatflow_on(&app, &site, "/demo/live").await;
    assert_eq!(live["kind"], "live_chat", "{live}");
    let bot = chatflow_on(&app, &site, "/demo/bot").await;
    assert_eq!(bot["kind"], "bot", "{bot}");

    // The bot page's chatflow really runs a bot.
    let visit = Visit::new(&app, site.account, site.channel).await;
    let (mut visitor, _) = visit.connect(&app).await;
    visitor
        .send(json!({"type": "send", "client_id": uuid(), "body": "hello",
                     "chatflow_id": bot["chatflow_id"]}))
        .await;
    assert_eq!(visitor.next().await["type"], "ack");
    visitor
        .send(json!({"type": "subscribe", "after_seq": 0}))
        .await;
    let mut said = Vec::new();
    while said.len() < 2 {
        let frame = visitor.next().await;
        if frame["item"]["author"]["type"] == "bot" {
            said.push(frame["item"]["body"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        said,
        [
            "Hi! I'm Parley's demo bot.",
            "What's your email, so we can follow up?"
        ]
    );
}

async fn without_the_demo_there_is_no_page_at_the_root(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, _) = html(&app, "/").await;
    assert_eq!(status, 404);
    let (status, _) = html(&app, "/demo/live").await;
    assert_eq!(status, 404);
}

on_both_backends!(
    the_demo_site_shows_live_chat_and_a_bot,
    without_the_demo_there_is_no_page_at_the_root,
);
