//! The admin settings of the inbox app in a real browser (headless Chromium through the
//! chromedriver at `PARLEY_TEST_CHROMEDRIVER_URL`): an admin adds an agent, a team and a routed
//! inbox, and the API shows them stored; adds a website chat and copies its snippet; fixes a bot
//! flow whose fault the server names, shown at the faulty step; sees API errors in words; works
//! at a phone's width; an agent who is not an admin sees no settings. Screenshots of the main
//! settings screens go to `docs/screenshots/app-settings-*.png`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser_fixtures;
mod common;

use browser_fixtures::{app_log_in, element, run_js, screenshot, wait_for, with_browser};
use common::*;
use fantoccini::Client;
use fantoccini::key::Key;
use serde_json::{Value, json};

const DESKTOP: (u32, u32) = (1280, 800);
const PHONE: (u32, u32) = (390, 844);

async fn fill(c: &Client, css: &str, text: &str) {
    let field = element(c, css).await;
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    element(c, css).await.click().await.unwrap();
}

async fn choose(c: &Client, css: &str, value: &str) {
    element(c, css).await.select_by_value(value).await.unwrap();
}

/// Waits until `css` matches an element whose text contains `text`; answers that text.
async fn wait_for_text(c: &Client, css: &str, text: &str) -> String {
    let value = wait_for(
        c,
        &format!("{text:?} in {css}"),
        &format!(
            "const n = [...document.querySelectorAll({css:?})]
                .find(n => n.textContent.includes({text:?}));
             return n ? n.textContent : null;"
        ),
    )
    .await;
    value.as_str().unwrap().to_owned()
}

/// Opens Settings from the app's navigation, then one screen from the settings navigation.
async fn open_screen(c: &Client, screen: &str) {
    click(c, ".views [data-view=settings]").await;
    wait_for(
        c,
        "the settings view",
        "return !document.querySelector('#view-settings').hidden",
    )
    .await;
    click(c, &format!(".settings-nav a[data-screen={screen}]")).await;
    wait_for(
        c,
        &format!("the {screen} settings"),
        &format!(
            "return !!document.querySelector('.settings-page[data-ready][data-route={screen}]')"
        ),
    )
    .await;
    assert_drawn_whole(c).await;
}

/// Nothing a screen draws is a stringified list or object (`[object HTMLDivElement]`, `null`).
async fn assert_drawn_whole(c: &Client) {
    let text = run_js(
        c,
        "return document.querySelector('.settings-page').innerText",
    )
    .await;
    let text = text.as_str().unwrap();
    assert!(
        !text.contains("[object ") && !text.lines().any(|l| l.trim() == "null"),
        "{text}"
    );
}

/// Waits for the settings page of one record (`#/settings/{screen}/{id}`) and answers the id.
async fn wait_for_record(c: &Client, screen: &str) -> String {
    let id = wait_for(
        c,
        &format!("a {screen} record page"),
        &format!(
            "const page = document.querySelector('.settings-page[data-ready]');
             const m = page && page.dataset.route.match(/^{screen}\\/([0-9a-f-]+)$/);
             return m ? m[1] : null;"
        ),
    )
    .await;
    assert_drawn_whole(c).await;
    id.as_str().unwrap().to_owned()
}

async fn api_get(app: &TestApp, path: &str) -> Value {
    let answer = app.get(path, &app.admin_token).await;
    assert_eq!(answer.status, 200, "{path}: {:?}", answer.body);
    answer.body
}

#[tokio::test]
async fn an_admin_adds_an_agent_a_team_and_a_routed_inbox() {
    let app = spawn_app(Backend::Sqlite).await;
    with_browser(DESKTOP, |c| async move {
        app_log_in(&c, &app.url(""), ADMIN_EMAIL, ADMIN_PASSWORD).await;
        open_screen(&c, "agents").await;

        fill(&c, ".create-agent [name=email]", "dana@parley.test").await;
        fill(&c, ".create-agent [name=password]", "dana-password-123").await;
        fill(&c, ".create-agent [name=display_name]", "Dana <b>Doe</b>").await;
        fill(
            &c,
            ".create-agent [name=meeting_link]",
            "https://cal.example/dana",
        )
        .await;
        click(&c, ".create-agent button[type=submit]").await;
        let agent = wait_for_record(&c, "agents").await;
        // A display name with markup is shown as typed, never as HTML.
        let heading = wait_for_text(&c, ".settings-page h2", "Dana").await;
        assert_eq!(heading, "Dana <b>Doe</b>");
        let stored = api_get(&app, &format!("/api/v1/agents/{agent}")).await;
        assert_eq!(stored["email"], "dana@parley.test");
        assert_eq!(stored["role"], "agent");
        assert_eq!(stored["profile"]["meeting_link"], "https://cal.example/dana");

        // Role and profile change on the agent's page; deactivation and back.
        choose(&c, ".edit-agent [name=role]", "admin").await;
        fill(&c, ".edit-agent [name=avatar_url]", "https://cdn.example/dana.png").await;
        click(&c, ".edit-agent button[type=submit]").await;
        wait_for_text(&c, ".edit-agent .saved", "Saved.").await;
        let stored = api_get(&app, &format!("/api/v1/agents/{agent}")).await;
        assert_eq!(stored["role"], "admin");
        assert_eq!(stored["profile"]["avatar_url"], "https://cdn.example/dana.png");
        click(&c, ".settings-page button.danger").await;
        wait_for_text(&c, ".settings-page button.danger", "Reactivate").await;
        let stored = api_get(&app, &format!("/api/v1/agents/{agent}")).await;
        assert_eq!(stored["active"], false);
        click(&c, ".settings-page button.danger").await;
        wait_for_text(&c, ".settings-page button.danger", "Deactivate").await;
        let stored = api_get(&app, &format!("/api/v1/agents/{agent}")).await;
        assert_eq!(stored["active"], true);

        // The same email again: the server's refusal is shown in words, naming the field.
        open_screen(&c, "agents").await;
        wait_for_text(&c, "table.list", "dana@parley.test").await;
        fill(&c, ".create-agent [name=email]", "dana@parley.test").await;
        fill(&c, ".create-agent [name=password]", "another-password-1").await;
        fill(&c, ".create-agent [name=display_name]", "Dana again").await;
        click(&c, ".create-agent button[type=submit]").await;
        let error = wait_for_text(&c, ".create-agent .form-error", "Email").await;
        assert!(error.starts_with("Email: "), "{error}");
        let invalid = run_js(
            &c,
            "return document.querySelector('.create-agent [name=email]').getAttribute('aria-invalid')",
        )
        .await;
        assert_eq!(invalid, "true");
        screenshot(&c, "app-settings-agents.png").await;

        // A team with the new agent.
        open_screen(&c, "teams").await;
        wait_for_text(&c, ".settings-page .empty", "No teams yet").await;
        fill(&c, ".create-team [name=name]", "Billing").await;
        click(&c, &format!(".create-team input[name=member_ids][value='{agent}']")).await;
        click(&c, ".create-team button[type=submit]").await;
        let team = wait_for_record(&c, "teams").await;
        let stored = api_get(&app, &format!("/api/v1/teams/{team}")).await;
        assert_eq!(stored["name"], "Billing");
        assert_eq!(stored["member_ids"], json!([agent]));

        // An inbox with the agent as member, routed to the team by least busy, 3 each.
        open_screen(&c, "inboxes").await;
        fill(&c, ".create-inbox [name=name]", "Billing questions").await;
        click(&c, &format!(".create-inbox input[name=member_ids][value='{agent}']")).await;
        choose(&c, ".create-inbox [name=target_mode]", "team").await;
        choose(&c, ".create-inbox [name=target_team]", &team).await;
        choose(&c, ".create-inbox [name=strategy]", "least_busy").await;
        fill(&c, ".create-inbox [name=capacity]", "3").await;
        click(&c, ".create-inbox button[type=submit]").await;
        let inbox = wait_for_record(&c, "inboxes").await;
        let stored = api_get(&app, &format!("/api/v1/inboxes/{inbox}")).await;
        assert_eq!(stored["member_ids"], json!([agent]));
        assert_eq!(
            stored["routing"],
            json!({"target": {"mode": "team", "team_id": team}, "strategy": "least_busy",
                   "capacity": 3, "sticky_to_owner": true})
        );
        // The fallback address is shown as the API gives it.
        let shown = run_js(&c, "return document.querySelector('.fallback input').value").await;
        assert_eq!(shown, stored["fallback_address"]);
        assert!(shown.as_str().unwrap().contains('@'), "{shown}");

        // Email filters: a bad domain is refused at its field; a good one is stored.
        fill(&c, ".inbox-filters [name=blocked_domains]", "spam.example\nnot a domain").await;
        click(&c, ".inbox-filters button[type=submit]").await;
        let error = wait_for_text(&c, ".inbox-filters .form-error", "Blocked domains").await;
        assert!(error.starts_with("Blocked domains: "), "{error}");
        fill(&c, ".inbox-filters [name=blocked_domains]", "@Spam.Example").await;
        click(&c, ".inbox-filters button[type=submit]").await;
        wait_for_text(&c, ".inbox-filters .saved", "Saved.").await;
        let stored = api_get(&app, &format!("/api/v1/inboxes/{inbox}")).await;
        assert_eq!(
            stored["email_filters"]["blocked_domains"],
            json!(["spam.example"])
        );
        run_js(&c, "document.querySelector('#view-settings').scrollTop = 0").await;
        screenshot(&c, "app-settings-inbox.png").await;
    })
    .await;
}

/// A Parley with one inbox, made through the API.
async fn app_with_inbox() -> (TestApp, String) {
    let app = spawn_app(Backend::Sqlite).await;
    let inbox = app
        .post(
            "/api/v1/inboxes",
            &app.admin_token,
            json!({"name": "Support"}),
        )
        .await;
    assert_eq!(inbox.status, 201, "{:?}", inbox.body);
    let id = inbox.body["id"].as_str().unwrap().to_owned();
    (app, id)
}

/// A flow whose `hello` step leads to a step that does not exist.
const BROKEN_FLOW: &str = r#"{
  "version": 1,
  "start": "hello",
  "steps": {
    "hello": {"type": "message", "text": "Hi there!", "next": "ask_topic"},
    "ask": {"type": "question", "text": "What is it about?", "kind": "choice",
            "choices": [{"label": "Buying", "value": "sales"}, {"label": "A problem", "value": "support"}],
            "property": "topic", "next": "route"},
    "route": {"type": "branch", "on": "answer", "cases": [{"equals": "sales", "next": "to_inbox"}],
              "else_next": "bye"},
    "to_inbox": {"type": "handoff", "to": "inbox", "message": "Connecting you."},
    "bye": {"type": "end", "text": "Bye!"}
  }
}"#;

async fn set_flow_text(c: &Client, text: &str) {
    let script = format!(
        "const t = document.querySelector('.chatflow-flow [name=flow]');
         t.value = {text:?};
         t.dispatchEvent(new Event('input'));"
    );
    run_js(c, &script).await;
}

#[tokio::test]
async fn an_admin_adds_a_website_chat_and_fixes_a_bot_flow_at_the_faulty_step() {
    let (app, inbox) = app_with_inbox().await;
    with_browser(DESKTOP, |c| async move {
        app_log_in(&c, &app.url(""), ADMIN_EMAIL, ADMIN_PASSWORD).await;
        open_screen(&c, "channels").await;
        fill(&c, ".create-channel [name=name]", "Website").await;
        fill(
            &c,
            ".create-channel [name=allowed_origins]",
            "https://shop.example\nftp://nope",
        )
        .await;
        click(&c, ".create-channel button[type=submit]").await;
        let error = wait_for_text(&c, ".create-channel .form-error", "Allowed origins").await;
        assert!(error.contains("ftp://nope"), "{error}");
        fill(
            &c,
            ".create-channel [name=allowed_origins]",
            "https://shop.example",
        )
        .await;
        click(&c, ".create-channel button[type=submit]").await;
        let channel = wait_for_record(&c, "channels").await;
        let stored = api_get(&app, &format!("/api/v1/channels/{channel}")).await;
        assert_eq!(stored["inbox_id"], inbox);
        assert_eq!(stored["kind"], "chat");
        assert_eq!(
            stored["settings"]["allowed_origins"],
            json!(["https://shop.example"])
        );

        // The snippet is the API's, with a Copy button.
        let embed = api_get(&app, &format!("/api/v1/channels/{channel}/embed")).await;
        let snippet = wait_for(
            &c,
            "the embed snippet",
            "return document.querySelector('.snippet textarea')?.value",
        )
        .await;
        assert_eq!(snippet, embed["snippet"]);
        assert!(snippet.as_str().unwrap().contains(&channel));
        click(&c, ".snippet button.copy").await;
        wait_for(
            &c,
            "the copy button's answer",
            "return document.querySelector('.snippet .saved').textContent",
        )
        .await;
        wait_for_text(&c, ".chatflows .empty", "No chatflows yet").await;
        screenshot(&c, "app-settings-channel.png").await;

        // A bot chatflow starts with a working flow, previewed step by step.
        fill(&c, ".create-chatflow [name=name]", "Triage bot").await;
        choose(&c, ".create-chatflow [name=kind]", "bot").await;
        click(&c, ".create-chatflow button[type=submit]").await;
        let chatflow = wait_for_record(&c, "chatflows").await;
        wait_for_text(
            &c,
            ".flow-preview .step[data-step=to_inbox]",
            "Hands off to the inbox",
        )
        .await;

        // A broken flow: the server's error is shown at the step it names.
        set_flow_text(&c, BROKEN_FLOW).await;
        wait_for_text(&c, ".flow-preview .step[data-step=ask]", "“Buying”").await;
        click(&c, ".chatflow-flow button[type=submit]").await;
        let at_step = wait_for_text(
            &c,
            ".flow-preview .step.invalid[data-step=hello] .step-error",
            "ask_topic",
        )
        .await;
        assert!(at_step.starts_with("next: "), "{at_step}");
        let summary = wait_for_text(&c, ".chatflow-flow .form-error", "Step hello").await;
        assert!(summary.contains("ask_topic"), "{summary}");
        screenshot(&c, "app-settings-chatflow.png").await;
        let stored = api_get(&app, &format!("/api/v1/chatflows/{chatflow}")).await;
        assert_eq!(stored["flow"]["start"], "hello");
        assert_eq!(stored["flow_version"], 1, "the broken flow was not stored");

        // Fixed, it saves; the preview shows where each choice leads.
        set_flow_text(&c, &BROKEN_FLOW.replace("\"ask_topic\"", "\"ask\"")).await;
        wait_for(
            &c,
            "the preview without the error",
            "return !document.querySelector('.flow-preview .step.invalid')",
        )
        .await;
        click(&c, ".chatflow-flow button[type=submit]").await;
        wait_for_text(&c, ".chatflow-flow .saved", "Saved.").await;
        let stored = api_get(&app, &format!("/api/v1/chatflows/{chatflow}")).await;
        assert_eq!(stored["flow"]["steps"]["hello"]["next"], "ask");
        assert_eq!(stored["flow_version"], 2);
        let choices = run_js(
            &c,
            "return [...document.querySelectorAll('.step[data-step=ask] .choices li')]
                .map(n => n.textContent)",
        )
        .await;
        assert_eq!(
            choices,
            json!(["“Buying” (sales) → to_inbox", "“A problem” (support) → bye"])
        );

        // Targeting rules as form rows; one left empty is refused at its row.
        click(&c, ".chatflow-targeting .add-rule").await;
        choose(
            &c,
            ".chatflow-targeting .rule [name=rule_kind]",
            "url_starts_with",
        )
        .await;
        click(&c, ".chatflow-targeting button[type=submit]").await;
        let error = wait_for_text(&c, ".chatflow-targeting .form-error", "Rule 1").await;
        assert!(error.starts_with("Rule 1 value: "), "{error}");
        fill(
            &c,
            ".chatflow-targeting .rule [name=rule_value]",
            "https://shop.example/pricing",
        )
        .await;
        click(&c, ".chatflow-targeting button[type=submit]").await;
        wait_for_text(&c, ".chatflow-targeting .saved", "Saved.").await;

        // Live-chat settings: office hours and branding.
        click(&c, ".chatflow-live [name=always_open]").await;
        fill(&c, ".chatflow-live [name=time_zone]", "Europe/Paris").await;
        fill(
            &c,
            ".chatflow-live [name=hours_monday]",
            "09:00-12:30, 13:30-17:00",
        )
        .await;
        fill(&c, ".chatflow-live [name=away_message]", "Back on Monday.").await;
        fill(
            &c,
            ".chatflow-live [name=welcome_message]",
            "Questions? Ask us.",
        )
        .await;
        click(&c, ".chatflow-live button[type=submit]").await;
        wait_for_text(&c, ".chatflow-live .saved", "Saved.").await;
        let stored = api_get(&app, &format!("/api/v1/chatflows/{chatflow}")).await;
        assert_eq!(
            stored["targeting"],
            json!([{"kind": "url_starts_with", "value": "https://shop.example/pricing"}])
        );
        assert_eq!(stored["availability"]["time_zone"], "Europe/Paris");
        assert_eq!(
            stored["availability"]["hours"]["monday"],
            json!(["09:00-12:30", "13:30-17:00"])
        );
        assert_eq!(stored["branding"]["welcome_message"], "Questions? Ask us.");
    })
    .await;
}

#[tokio::test]
async fn settings_are_usable_at_a_phone_width() {
    let (app, _inbox) = app_with_inbox().await;
    with_browser(PHONE, |c| async move {
        app_log_in(&c, &app.url(""), ADMIN_EMAIL, ADMIN_PASSWORD).await;
        // Headless Chromium will not make its window narrower than 500px; the app then gets
        // the phone's 390px (both are under the narrow-screen breakpoint).
        run_js(
            &c,
            "if (window.innerWidth > 390) document.querySelector('#main').style.width = '390px';",
        )
        .await;
        open_screen(&c, "teams").await;
        // Keyboard only: the name field, then Enter submits the form.
        fill(
            &c,
            ".create-team [name=name]",
            &format!("Night shift{}", Key::Enter),
        )
        .await;
        let team = wait_for_record(&c, "teams").await;
        let stored = api_get(&app, &format!("/api/v1/teams/{team}")).await;
        assert_eq!(stored["name"], "Night shift");
        for screen in ["agents", "inboxes", "channels"] {
            open_screen(&c, screen).await;
            let overflow = run_js(
                &c,
                "return document.querySelector('#view-settings').scrollWidth
                    - document.querySelector('#view-settings').clientWidth",
            )
            .await;
            assert_eq!(overflow, 0, "{screen} scrolls sideways at 390px");
        }
        let submit_visible = run_js(
            &c,
            "const r = document.querySelector('.create-channel button[type=submit]')
                .getBoundingClientRect();
             return r.width > 0 && r.right <= window.innerWidth;",
        )
        .await;
        assert_eq!(submit_visible, true);
        open_screen(&c, "inboxes").await;
        let png = element(&c, "#main").await.screenshot().await.unwrap();
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/screenshots/app-settings-narrow.png"
        );
        std::fs::write(path, png).unwrap();
    })
    .await;
}

#[tokio::test]
async fn an_agent_who_is_not_an_admin_sees_no_settings() {
    let app = spawn_app(Backend::Sqlite).await;
    let created = app
        .post(
            "/api/v1/agents",
            &app.admin_token,
            json!({"email": "sam@parley.test", "password": "sam-password-123",
                   "role": "agent", "display_name": "Sam"}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    with_browser(DESKTOP, |c| async move {
        app_log_in(&c, &app.url(""), "sam@parley.test", "sam-password-123").await;
        let hidden = run_js(
            &c,
            "return document.querySelector('.views [data-view=settings]').hidden",
        )
        .await;
        assert_eq!(hidden, true);
        // Going there by address shows the inbox instead.
        c.goto(&app.url("/app/#/settings/agents")).await.unwrap();
        wait_for(
            &c,
            "the inbox view",
            "return !document.querySelector('#main').hidden
                && !document.querySelector('#view-inbox').hidden",
        )
        .await;
        let settings_hidden =
            run_js(&c, "return document.querySelector('#view-settings').hidden").await;
        assert_eq!(settings_hidden, true);
    })
    .await;
}
