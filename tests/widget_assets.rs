//! The widget's files and embed snippet: the loader and widget are served by Parley with the
//! right types to any page, small enough to embed (measured gzipped, as browsers fetch them),
//! and each chat channel hands out the one-line snippet that loads them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_fixtures;
mod common;

use api_fixtures::*;
use common::*;
use parley::domain::{AgentRole, ChannelKind};

/// The loader, the widget module and its stylesheet: everything a page downloads.
const WIDGET_FILES: [&str; 3] = [
    "/widget/loader.js",
    "/widget/widget.js",
    "/widget/widget.css",
];
/// The issue's budget for loader and widget together, gzipped.
const WIDGET_BUDGET_BYTES: usize = 20 * 1024;

async fn fetch(app: &TestApp, path: &str, gzip: bool) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(app.url(path))
        .header("Origin", "https://shop.example");
    if gzip {
        request = request.header("Accept-Encoding", "gzip");
    }
    request.send().await.unwrap()
}

async fn the_widget_is_served_to_any_page_with_its_type(backend: Backend) {
    let app = spawn_app(backend).await;
    for (path, kind) in WIDGET_FILES.iter().zip([
        "text/javascript; charset=utf-8",
        "text/javascript; charset=utf-8",
        "text/css; charset=utf-8",
    ]) {
        let response = fetch(&app, path, false).await;
        assert_eq!(response.status(), 200, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(header("content-type").as_deref(), Some(kind), "{path}");
        assert_eq!(
            header("access-control-allow-origin").as_deref(),
            Some("*"),
            "{path}: other sites' pages import it"
        );
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
        let on_disk = std::fs::read(format!("web{path}")).unwrap();
        assert_eq!(
            response.bytes().await.unwrap().as_ref(),
            on_disk,
            "{path} as shipped"
        );
    }
    for missing in [
        "/widget/nothing.js",
        "/widget/README.md",
        "/widget/..%2FCargo.toml",
    ] {
        let response = fetch(&app, missing, false).await;
        assert_eq!(response.status(), 404, "{missing}");
    }
}

async fn loader_and_widget_fit_in_twenty_kilobytes_gzipped(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut total = 0;
    for path in WIDGET_FILES {
        let response = fetch(&app, path, true).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response
                .headers()
                .get("content-encoding")
                .map(|v| v.to_str().unwrap()),
            Some("gzip"),
            "{path} is compressed for browsers that ask"
        );
        total += response.bytes().await.unwrap().len();
    }
    assert!(
        total <= WIDGET_BUDGET_BYTES,
        "loader, widget and stylesheet are {total} bytes gzipped; the budget is {WIDGET_BUDGET_BYTES}"
    );
}

async fn a_chat_channel_gives_its_embed_snippet_to_its_inbox_members(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app.admin.account_id;
    let member = add_agent(&app, account, "mia@a.test", AgentRole::Agent).await;
    let outsider = add_agent(&app, account, "oli@a.test", AgentRole::Agent).await;
    let inbox = add_inbox(&app, account, "Support", vec![member.clone()]).await;
    let chat = add_channel(&app, account, &inbox, ChannelKind::Chat).await;
    // Forms have their own snippet (tests/api_forms.rs); an email channel has none.
    let email = add_channel(&app, account, &inbox, ChannelKind::Email).await;
    let member_token = token_for(&app, &member).await;

    let answer = app
        .get(
            &format!("/api/v1/channels/{}/embed", chat.id),
            &member_token,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let loader = format!("http://127.0.0.1:{}/widget/loader.js", app.port);
    assert_eq!(answer.body["loader_url"], loader.as_str());
    assert_eq!(
        answer.body["snippet"],
        format!(
            r#"<script src="{loader}" data-account="{account}" data-channel="{}" async></script>"#,
            chat.id
        )
    );

    let outsider_token = token_for(&app, &outsider).await;
    let refused = app
        .get(
            &format!("/api/v1/channels/{}/embed", chat.id),
            &outsider_token,
        )
        .await;
    assert_error("outsider", &refused, 403, "forbidden", None);
    let not_chat = app
        .get(
            &format!("/api/v1/channels/{}/embed", email.id),
            &member_token,
        )
        .await;
    assert_error("email channel", &not_chat, 404, "not_found", None);
    refuses_anonymous_read(&app, &format!("/api/v1/channels/{}/embed", chat.id)).await;
}

async fn the_snippet_uses_the_configured_public_url(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[("PARLEY__HTTP__PUBLIC_URL", "https://chat.example.com/")],
    )
    .await;
    let account = app.admin.account_id;
    let inbox = add_inbox(&app, account, "Support", vec![]).await;
    let chat = add_channel(&app, account, &inbox, ChannelKind::Chat).await;
    let answer = app
        .get(
            &format!("/api/v1/channels/{}/embed", chat.id),
            &app.admin_token,
        )
        .await;
    assert_eq!(
        answer.body["loader_url"], "https://chat.example.com/widget/loader.js",
        "{}",
        answer.body
    );
}

/// A browser asks before a cross-origin JSON POST; the widget endpoints answer for any page
/// (the channel's allowed origins are checked by the endpoint itself).
async fn widget_endpoints_answer_cors_preflights(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/widget/visitors"))
        .header("Origin", "https://shop.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let allowed = response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(allowed.as_deref(), Some("https://shop.example"));
    // The agent API does not invite other sites.
    let api = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/agents"))
        .header("Origin", "https://shop.example")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap();
    assert!(
        api.headers().get("access-control-allow-origin").is_none(),
        "no CORS on the agent API"
    );
}

on_both_backends!(
    the_widget_is_served_to_any_page_with_its_type,
    loader_and_widget_fit_in_twenty_kilobytes_gzipped,
    a_chat_channel_gives_its_embed_snippet_to_its_inbox_members,
    the_snippet_uses_the_configured_public_url,
    widget_endpoints_answer_cors_preflights,
);
