//! The demo website served at `/` when `demo.enabled` is set (the default for `cargo run`): a
//! home page, a page whose chatflow is live chat and one whose chatflow is a bot, each with the
//! widget embedded exactly as a customer's site would embed it, so a newcomer can try both
//! within a minute.
//!
//! On start the demo's inbox, chat channel and two chatflows are found in the first admin's
//! account, or created there once: an inbox routing to that admin, a chat channel, a live-chat
//! chatflow targeting `/demo/live` and a bot chatflow targeting `/demo/bot`.
//!
//! Must not: run when disabled, or touch anything but the records it created.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::channels::ChannelSettings;
use crate::domain::{
    AccountId, AgentId, ChannelId, ChannelKind, ChatflowKind, EmailAddress, Name, NewChannel,
    NewChatflow, NewInbox, RoutingSettings, RoutingTarget,
};
use crate::store::DynStore;

/// The demo channel's name, by which a restarted node finds it again.
pub const CHANNEL_NAME: &str = "Parley demo website";
const INBOX_NAME: &str = "Demo website";

/// The demo's chat channel, as the pages embed it.
#[derive(Debug, Clone, Copy)]
pub struct DemoSite {
    pub account: AccountId,
    pub channel: ChannelId,
}

/// Finds the demo channel in the account of the admin `admin_email`, or creates the demo there.
/// `None` when that admin does not exist (their email was changed): the demo is then off.
pub async fn ensure(store: &DynStore, admin_email: &str) -> anyhow::Result<Option<DemoSite>> {
    let Ok(email) = EmailAddress::parse(admin_email) else {
        return Ok(None);
    };
    let Some(login) = store.find_login(&email).await? else {
        return Ok(None);
    };
    let account = login.agent.account_id;
    let channels = store.list_channels(account, None).await?;
    if let Some(channel) = channels
        .iter()
        .find(|c| c.kind == ChannelKind::Chat && c.name.as_str() == CHANNEL_NAME)
    {
        return Ok(Some(DemoSite {
            account,
            channel: channel.id,
        }));
    }
    let channel = create(store, account, login.agent.id).await?;
    Ok(Some(DemoSite { account, channel }))
}

async fn create(store: &DynStore, account: AccountId, admin: AgentId) -> anyhow::Result<ChannelId> {
    let inbox = store
        .create_inbox(
            account,
            NewInbox {
                name: Name::parse(INBOX_NAME)?,
                routing: RoutingSettings {
                    target: RoutingTarget::Agents {
                        agent_ids: vec![admin],
                    },
                    ..RoutingSettings::default()
                },
                notification_defaults: Default::default(),
                email_filters: Default::default(),
                member_ids: vec![admin],
            },
        )
        .await?;
    let settings = ChannelSettings::parse_new(ChannelKind::Chat, &serde_json::Map::new())
        .map_err(|e| anyhow::anyhow!("demo channel settings: {e:?}"))?;
    let channel = store
        .create_channel(
            account,
            NewChannel {
                inbox_id: inbox.id,
                kind: ChannelKind::Chat,
                name: Name::parse(CHANNEL_NAME)?,
                settings: settings.to_stored(),
            },
        )
        .await?;
    let pages = [
        (
            "Demo live chat",
            ChatflowKind::LiveChat,
            "/demo/live",
            "#2563eb",
            "Parley demo",
            "Hi! Ask us anything: an agent answers in the inbox app.",
            None,
        ),
        (
            "Demo bot",
            ChatflowKind::Bot,
            "/demo/bot",
            "#0f766e",
            "Parley bot",
            "Say hello to start.",
            Some(bot_flow()),
        ),
    ];
    for (name, kind, path, color, display_name, welcome, flow) in pages {
        store
            .create_chatflow(
                account,
                NewChatflow {
                    channel_id: channel.id,
                    name: Name::parse(name)?,
                    kind,
                    priority: 0,
                    enabled: true,
                    targeting: json!([{"kind": "url_contains", "value": path}]),
                    availability: json!({"time_zone": "UTC", "typically_replies_in": "a_few_minutes"}),
                    branding: json!({"color": color, "display_name": display_name,
                        "welcome_message": welcome}),
                    flow,
                },
            )
            .await?;
    }
    Ok(channel.id)
}

/// The demo bot: asks for an email (re-asking a bad one) and a topic, then hands off.
fn bot_flow() -> serde_json::Value {
    json!({
        "version": 1,
        "start": "hello",
        "steps": {
            "hello": {"type": "message", "text": "Hi! I'm Parley's demo bot.", "next": "ask_email"},
            "ask_email": {
                "type": "question", "text": "What's your email, so we can follow up?",
                "kind": "email", "property": "email_address",
                "retry_text": "That doesn't look like an email address. Could you check it?",
                "next": "ask_topic"
            },
            "ask_topic": {
                "type": "question", "text": "What can we help with?", "kind": "choice",
                "choices": [{"label": "Pricing", "value": "pricing"},
                            {"label": "A problem", "value": "support"}],
                "property": "topic", "next": "to_people"
            },
            "to_people": {
                "type": "handoff", "to": "inbox",
                "message": "Thanks! Handing you to a person now."
            }
        }
    })
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/demo/live", web::get().to(live))
        .route("/demo/bot", web::get().to(bot));
}

async fn home(site: web::Data<DemoSite>, req: HttpRequest) -> HttpResponse {
    page(
        &site,
        &req,
        "Parley",
        "<p class=\"note\">This is Parley's demo website. Open a page below: the chat widget in \
         the corner is embedded with the same one-line snippet a customer's site uses.</p>\
         <ul><li><a href=\"/demo/live\">Live chat</a>: write, then answer yourself from the \
         <a href=\"/app/\">inbox app</a> (log in as the admin).</li>\
         <li><a href=\"/demo/bot\">Bot</a>: a bot asks for your email and topic, then hands \
         you to a person.</li></ul>",
        false,
    )
}

async fn live(site: web::Data<DemoSite>, req: HttpRequest) -> HttpResponse {
    page(
        &site,
        &req,
        "Live chat",
        "<p>Open the chat in the corner and write. The conversation lands in the admin's inbox; \
         replies appear here live.</p>",
        true,
    )
}

async fn bot(site: web::Data<DemoSite>, req: HttpRequest) -> HttpResponse {
    page(
        &site,
        &req,
        "Bot",
        "<p>Open the chat in the corner and say hello: the demo bot asks two questions (try a \
         wrong email first), then hands the conversation to a person.</p>",
        true,
    )
}

fn page(site: &DemoSite, req: &HttpRequest, title: &str, body: &str, widget: bool) -> HttpResponse {
    let snippet = if widget {
        let info = req.connection_info();
        format!(
            r#"<script src="{}://{}/widget/loader.js" data-account="{}" data-channel="{}" async></script>"#,
            info.scheme(),
            info.host(),
            site.account,
            site.channel
        )
    } else {
        String::new()
    };
    let template = crate::http::assets::Assets::get("demo/page.html")
        .map(|f| String::from_utf8_lossy(&f.data).into_owned())
        .unwrap_or_default();
    let html = template
        .replace("{{TITLE}}", title)
        .replace("{{BODY}}", body)
        .replace("{{SNIPPET}}", &snippet);
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .body(html)
}
