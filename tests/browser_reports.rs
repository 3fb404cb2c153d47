//! The reports page of the inbox app in headless Chromium: a history made through the API
//! (three chats today, two answered by the admin, one closed) shows as the day chart, the
//! channel and agent tables and CSV downloads; the range and filters change what it shows; a
//! bad time zone is refused in words. Figures are worked out from what the test did.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser_fixtures;
mod common;
mod ws_fixtures;

use browser_fixtures::{app_log_in, element, run_js, screenshot, wait_for, with_browser};
use common::*;
use fantoccini::Client;
use serde_json::{Value, json};
use ws_fixtures::*;

async fn reply(app: &TestApp, conversation: &str, body: &str) {
    let answer = app
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &app.admin_token,
            json!({"client_id": uuid(), "body": body}),
        )
        .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
}

async fn report_text(c: &Client, section: usize) -> Value {
    run_js(
        c,
        &format!(
            "const s = document.querySelectorAll('.report-section')[{section}];
             return s ? [...s.querySelectorAll('tbody tr')]
                 .map(r => [...r.children].map(td => td.textContent)) : null;"
        ),
    )
    .await
}

async fn set_field(c: &Client, name: &str, value: &str) {
    let script = format!(
        "const f = document.querySelector('.report-controls [name={name}]');
         f.value = {value:?}; return f.value;"
    );
    assert_eq!(run_js(c, &script).await, json!(value));
}

async fn show(c: &Client) {
    run_js(
        c,
        "document.querySelector('.report-body').dataset.shown = '';
         document.querySelector('.report-controls').requestSubmit(); return true;",
    )
    .await;
}

#[tokio::test]
async fn the_reports_page_shows_the_history_made_today() {
    let app = spawn_app(Backend::Sqlite).await;
    let (_, channel) = chat_inbox(&app, &[app.admin.id.to_string()]).await;
    let mut chats = Vec::new();
    for body in ["First question", "Second question", "Third question"] {
        chats.push(visitor_starts_chat(&app, &channel, body).await);
    }
    reply(&app, &chats[0].2, "Answer one").await;
    reply(&app, &chats[0].2, "Answer one, again").await;
    reply(&app, &chats[1].2, "Answer two").await;
    let closed = app
        .post(
            &format!("/api/v1/conversations/{}/status", chats[1].2),
            &app.admin_token,
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(closed.status, 200, "{:?}", closed.body);

    with_browser((1280, 900), |c| async move {
        app_log_in(&c, &app.url(""), ADMIN_EMAIL, ADMIN_PASSWORD).await;
        element(&c, ".views [data-view=reports]")
            .await
            .click()
            .await
            .unwrap();
        // The default range is the last 7 days, in the browser's time zone (UTC here).
        let heading = wait_for(
            &c,
            "the report",
            "const h = document.querySelector('.report-section h2');
             return h && h.textContent.startsWith('New conversations') && h.textContent",
        )
        .await;
        assert_eq!(heading, "New conversations: 3");
        let bars = run_js(
            &c,
            "return [...document.querySelectorAll('.day-chart .bar')].map(b => Number(b.dataset.count))",
        )
        .await;
        assert_eq!(
            bars,
            json!([0, 0, 0, 0, 0, 0, 3]),
            "one bar a day, today's holds all three"
        );
        assert_eq!(
            report_text(&c, 0).await,
            json!([["Website (chat)", "3"]])
        );
        let agents = report_text(&c, 3).await;
        let row = &agents[0];
        assert_eq!(row[0], "you", "{agents}");
        assert_eq!(row[1], "2", "two conversations replied to: {agents}");
        assert_eq!(row[2], "3", "three replies: {agents}");
        assert_eq!(
            run_js(&c, "return document.querySelectorAll('.report-section')[4].textContent.includes('No bot ran in this range.')").await,
            json!(true)
        );
        screenshot(&c, "app-reports.png").await;

        // The agents table as CSV, as the page links it.
        let csv = run_js(
            &c,
            "const a = [...document.querySelectorAll('.report-section')][3].querySelector('a');
             return fetch(a.href).then(r => r.text());",
        )
        .await;
        let csv = csv.as_str().unwrap();
        let mut lines = csv.lines();
        assert!(lines.next().unwrap().starts_with("agent_id,"), "{csv}");
        assert_eq!(lines.count(), 1, "one agent row: {csv}");

        // A range before today holds nothing.
        set_field(&c, "from", "2020-01-01").await;
        set_field(&c, "to", "2020-01-31").await;
        show(&c).await;
        wait_for(
            &c,
            "the empty range",
            "return document.querySelector('.report-section h2').textContent === 'New conversations: 0'
                && document.querySelector('.report-section').textContent
                    .includes('No new conversations in this range.')",
        )
        .await;

        // A time zone nobody has is refused, naming the field.
        set_field(&c, "tz", "Mars/Olympus").await;
        show(&c).await;
        let error = wait_for(
            &c,
            "the refusal",
            "return document.querySelector('.report-controls .error').textContent",
        )
        .await;
        assert!(
            error.as_str().unwrap().starts_with("Time zone:"),
            "{error}"
        );
    })
    .await;
}
