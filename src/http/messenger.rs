//! The Messenger webhook: Facebook's setup check (`GET`) and its event deliveries (`POST`),
//! which become contacts, conversations and messages. Replies go back through the outbox.
//!
//! A POST is believed only with a right `X-Hub-Signature-256` (HMAC-SHA256 of the raw body
//! under the page's app secret); without one nothing is stored and the answer is 403.

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::state::AppState;
use crate::actors::assignments::{announce, publish_item};
use crate::actors::notifications::notify;
use crate::actors::protocol::NotificationReason;
use crate::channels::messenger::webhook::{Event, Payload, signature_valid};
use crate::channels::messenger::{MessengerInbound, MessengerStored};
use crate::channels::{ChannelSettings, MessengerSettings};
use crate::domain::{Body, Channel, ChatflowKind, Direction};

/// Facebook's subscription check.
#[derive(Debug, Deserialize, IntoParams)]
pub struct Verification {
    #[serde(rename = "hub.mode")]
    #[param(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    #[param(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    #[param(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// Webhook setup: echoes `hub.challenge` when `hub.verify_token` is a Messenger channel's.
#[utoipa::path(tag = "messenger", security(()), params(Verification), responses(
    (status = 200, body = String, description = "The challenge, as plain text"),
    (status = 403, body = ErrorBody, description = "Not a subscribe request, or an unknown verify token"),
))]
#[get("/messenger")]
async fn verify(
    state: web::Data<AppState>,
    query: web::Query<Verification>,
) -> ApiResult<HttpResponse> {
    let Verification {
        mode,
        verify_token,
        challenge,
    } = query.into_inner();
    let refused = || ApiError::forbidden("not a Messenger webhook verification Parley knows");
    if mode.as_deref() != Some("subscribe") {
        return Err(refused());
    }
    let (Some(token), Some(challenge)) = (verify_token, challenge) else {
        return Err(refused());
    };
    if token.is_empty() {
        return Err(refused());
    }
    state
        .store
        .find_messenger_channel_by_verify_token(&token)
        .await?
        .ok_or_else(refused)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain")
        .body(challenge))
}

/// Events from Facebook: messages, postbacks and echoes of the page's own messages. Each is
/// stored once (by its `mid`); entries of pages with no channel are ignored.
#[utoipa::path(tag = "messenger", security(()), request_body(content = Object,
    description = "Facebook's webhook payload (`object: page`, `entry[].messaging[]`)"),
    params(("X-Hub-Signature-256" = String, Header, description = "sha256=HMAC of the body")),
    responses(
    (status = 200, description = "Received"),
    (status = 400, body = ErrorBody, description = "The body is not a webhook payload"),
    (status = 403, body = ErrorBody, description = "Missing or wrong signature, or no connected page"),
))]
#[post("/messenger")]
async fn receive(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let signature = request
        .headers()
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bad_signature = || ApiError::forbidden("missing or wrong X-Hub-Signature-256");
    if signature.is_none() {
        return Err(bad_signature());
    }
    let payload: Payload = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("malformed_payload", format!("not a webhook payload: {e}"))
    })?;
    let pages: BTreeSet<&str> = payload.entry.iter().map(|e| e.id.as_str()).collect();
    let mut channels: Vec<(Channel, MessengerSettings)> = Vec::new();
    for page in pages {
        let Some(channel) = state.store.find_messenger_channel(page).await? else {
            continue;
        };
        match ChannelSettings::parse_new(channel.kind, &channel.settings) {
            Ok(ChannelSettings::Messenger(settings)) => channels.push((channel, settings)),
            _ => tracing::warn!(channel = %channel.id, "Messenger channel settings do not parse"),
        }
    }
    // Every page named must vouch for the body; a body no connected page signed is refused.
    if channels.is_empty()
        || !channels.iter().all(|(_, settings)| {
            signature_valid(settings.app_secret.as_str(), &body, signature.as_deref())
        })
    {
        return Err(bad_signature());
    }
    if payload.object != "page" {
        return Ok(HttpResponse::Ok().finish());
    }
    for entry in &payload.entry {
        let Some((channel, settings)) = channels
            .iter()
            .find(|(_, s)| s.page_id.as_str() == entry.id)
        else {
            continue;
        };
        for messaging in &entry.messaging {
            let Some(event) = messaging.event() else {
                continue;
            };
            // The page's own id is never a contact (an echo names the user as recipient).
            let own = settings.page_id.as_str();
            store_event(&state, channel, own, event).await?;
        }
    }
    Ok(HttpResponse::build(StatusCode::OK).body("EVENT_RECEIVED"))
}

async fn store_event(
    state: &AppState,
    channel: &Channel,
    page_id: &str,
    event: Event,
) -> ApiResult<()> {
    let (psid, mid, text, direction) = match event {
        Event::Message { psid, mid, text } | Event::Postback { psid, mid, text } => {
            (psid, mid, text, Direction::In)
        }
        Event::Echo { psid, mid, text } => (psid, mid, text, Direction::Out),
    };
    if psid == page_id {
        return Ok(());
    }
    // Over-long text is cut rather than refused: Facebook would only redeliver it forever.
    let text: String = text.chars().take(crate::domain::MAX_BODY_CHARS).collect();
    let Ok(body) = Body::parse(&text) else {
        return Ok(());
    };
    let stored = state
        .store
        .store_messenger_event(
            channel.account_id,
            MessengerInbound {
                channel_id: channel.id,
                mid,
                psid,
                body,
                direction,
                name: None,
            },
        )
        .await?;
    let Some(MessengerStored {
        conversation,
        conversation_created,
        item,
        ..
    }) = stored
    else {
        return Ok(());
    };
    if conversation_created {
        announce(state.bus.as_ref(), &conversation).await;
    }
    publish_item(state.bus.as_ref(), &item).await;
    if direction == Direction::Out {
        return Ok(());
    }
    let text = item.body.clone().unwrap_or_default();
    let bot_runs = if conversation_created {
        start_bot(state, channel, &conversation).await
    } else {
        crate::actors::bots::on_contact_message(state, &conversation, &text)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e.message, "Messenger bot step failed");
                false
            })
    };
    if bot_runs {
        return Ok(());
    }
    match (conversation_created, conversation.assignee_id) {
        (true, _) => {
            state
                .assignments
                .route(conversation.account_id, conversation.id)
                .await
        }
        (false, Some(agent)) => {
            notify(
                state.bus.as_ref(),
                agent,
                NotificationReason::Message,
                &item,
            )
            .await
        }
        (false, None) => {}
    }
    Ok(())
}

/// The channel's first enabled chatflow, when it is a bot, starts in a new conversation.
async fn start_bot(
    state: &AppState,
    channel: &Channel,
    conversation: &crate::domain::Conversation,
) -> bool {
    let chatflows = match state
        .store
        .list_chatflows(channel.account_id, channel.id)
        .await
    {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the Messenger channel's chatflows");
            return false;
        }
    };
    let Some(chatflow) = chatflows.into_iter().find(|c| c.enabled) else {
        return false;
    };
    if chatflow.kind != ChatflowKind::Bot {
        return false;
    }
    crate::actors::bots::start(state, conversation, &chatflow)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e.message, "Messenger bot did not start");
            false
        })
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(verify).service(receive);
}
