//! A conversation's timeline: reading it from a `seq`, replying, and adding internal comments.
//!
//! Writes carry a client id. A retry with the same id returns the stored item (200 instead of
//! 201) and stores nothing, so a client that lost the answer can safely send again. A client id
//! reused for a different text or kind is refused (409) rather than silently answered with the
//! earlier item, which would make the caller believe their new text was stored.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, Authenticated};
use super::params::{parse_param, require_eligible, visible_conversation};
use super::state::AppState;
use crate::domain::{
    AccountId, Actor, AgentId, Appended, Body, Conversation, ConversationId, Direction, ItemKind,
    NewItem, NewItemContent, TimelineItem,
};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// Items after this `seq` (default 0: from the start).
    #[param(value_type = Option<i64>)]
    after_seq: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelinePage {
    /// Oldest first.
    pub items: Vec<TimelineItem>,
    /// Pass as `after_seq` for the next page; absent when this page was not full.
    pub next_after_seq: Option<i64>,
}

/// A conversation's items after `after_seq`, oldest first.
#[utoipa::path(tag = "timeline", params(("id" = ConversationId, Path), TimelineQuery), responses(
    (status = 200, body = TimelinePage),
    (status = 400, body = ErrorBody, description = "The id or a query parameter is malformed"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not a member of its inbox"),
    (status = 404, body = ErrorBody),
))]
#[get("/conversations/{id}/timeline")]
async fn list_items(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<ConversationId>,
    query: web::Query<TimelineQuery>,
) -> ApiResult<web::Json<TimelinePage>> {
    let after_seq = parse_param("after_seq", query.after_seq.as_deref(), |s| {
        s.parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("'{s}' is not a whole number of 0 or more"))
    })?
    .unwrap_or(0);
    let limit = parse_param("limit", query.limit.as_deref(), |s| {
        s.parse::<u32>()
            .map_err(|_| format!("'{s}' is not a whole number from 1 to 200"))
    })?
    .unwrap_or(50)
    .clamp(1, crate::store::MAX_PAGE_SIZE);
    let conversation = visible_conversation(&state, &who, id.into_inner()).await?;
    let items = state
        .store
        .list_items(who.account(), conversation.id, after_seq, limit)
        .await?;
    let full = u32::try_from(items.len()).is_ok_and(|n| n >= limit);
    let next_after_seq = items.last().filter(|_| full).map(|item| item.seq);
    Ok(web::Json(TimelinePage {
        items,
        next_after_seq,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessageRequest {
    /// Chosen by the client (a UUID); a retry with the same one stores nothing new.
    client_id: Uuid,
    /// At most 20,000 characters.
    body: Body,
}

/// Sends a reply to the contact as the caller.
#[utoipa::path(tag = "timeline", params(("id" = ConversationId, Path)),
    request_body = NewMessageRequest, responses(
    (status = 201, body = TimelineItem, description = "Stored"),
    (status = 200, body = TimelineItem, description = "Already stored under this client id"),
    (status = 400, body = ErrorBody, description = "The body is not JSON or the id is malformed"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not a member of its inbox"),
    (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "The client id was used for a different item"),
    (status = 413, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "A field is invalid; `field` names it"),
))]
#[post("/conversations/{id}/messages")]
async fn post_message(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<ConversationId>,
    body: ApiJson<NewMessageRequest>,
) -> ApiResult<HttpResponse> {
    let conversation = visible_conversation(&state, &who, id.into_inner()).await?;
    let NewMessageRequest { client_id, body } = body.into_inner()?;
    let content = NewItemContent::Message {
        direction: Direction::Out,
        body,
    };
    append(&state, &who, conversation.id, client_id, content).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCommentRequest {
    /// Chosen by the client (a UUID); a retry with the same one stores nothing new.
    client_id: Uuid,
    /// At most 20,000 characters.
    body: Body,
    /// Agents to notify; each must be able to see this conversation.
    #[serde(default)]
    mentions: Vec<AgentId>,
}

/// Adds an internal comment (never shown to the contact), optionally @mentioning agents.
#[utoipa::path(tag = "timeline", params(("id" = ConversationId, Path)),
    request_body = NewCommentRequest, responses(
    (status = 201, body = TimelineItem, description = "Stored"),
    (status = 200, body = TimelineItem, description = "Already stored under this client id"),
    (status = 400, body = ErrorBody, description = "The body is not JSON or the id is malformed"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not a member of its inbox"),
    (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "The client id was used for a different item"),
    (status = 413, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "A field is invalid, e.g. `mentions[0]` cannot see the inbox"),
))]
#[post("/conversations/{id}/comments")]
async fn post_comment(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<ConversationId>,
    body: ApiJson<NewCommentRequest>,
) -> ApiResult<HttpResponse> {
    let conversation = visible_conversation(&state, &who, id.into_inner()).await?;
    let NewCommentRequest {
        client_id,
        body,
        mentions,
    } = body.into_inner()?;
    let content = comment_content(&state, &who, &conversation, body, mentions).await?;
    append(&state, &who, conversation.id, client_id, content).await
}

/// A comment's content once every mentioned agent is checked (each must be able to see the
/// conversation; refusals name `mentions[i]`); repeated mentions count once.
pub(crate) async fn comment_content(
    state: &AppState,
    who: &Authenticated,
    conversation: &Conversation,
    body: Body,
    mentions: Vec<AgentId>,
) -> ApiResult<NewItemContent> {
    if !mentions.is_empty() {
        let inbox = state
            .store
            .get_inbox(who.account(), conversation.inbox_id)
            .await?;
        for (i, agent) in mentions.iter().enumerate() {
            require_eligible(state, who, &inbox, *agent, &format!("mentions[{i}]")).await?;
        }
    }
    let mut unique = Vec::with_capacity(mentions.len());
    for agent in mentions {
        if !unique.contains(&agent) {
            unique.push(agent);
        }
    }
    Ok(NewItemContent::Comment {
        body,
        mentions: unique,
    })
}

/// Stores an item by the caller; 201 when new, 200 when the caller already stored the same
/// content under this client id.
async fn append(
    state: &AppState,
    who: &Authenticated,
    conversation: ConversationId,
    client_id: Uuid,
    content: NewItemContent,
) -> ApiResult<HttpResponse> {
    let Appended { item, created } =
        append_and_publish(state, who, conversation, client_id, content).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(item))
}

/// Stores an item by the caller and, when it is new, publishes it on the conversation's topic
/// (after the commit, so a listener never sees an item the store does not have). A retry with
/// the same client id and content returns the stored item and publishes nothing; the same
/// client id with other content is a conflict. Shared by the REST API and the agent socket.
pub(crate) async fn append_and_publish(
    state: &AppState,
    who: &Authenticated,
    conversation: ConversationId,
    client_id: Uuid,
    content: NewItemContent,
) -> ApiResult<Appended> {
    let author = Actor::Agent(who.agent_id());
    append_and_publish_as(
        state,
        who.account(),
        author,
        conversation,
        client_id,
        content,
    )
    .await
}

/// [`append_and_publish`] for any author (the visitor socket writes as the contact). The caller
/// has checked that `author` may write to the conversation.
pub(crate) async fn append_and_publish_as(
    state: &AppState,
    account: AccountId,
    author: Actor,
    conversation: ConversationId,
    client_id: Uuid,
    content: NewItemContent,
) -> ApiResult<Appended> {
    let (kind, text) = match &content {
        NewItemContent::Message { body, .. } => (ItemKind::Message, body.as_str().to_owned()),
        NewItemContent::Comment { body, .. } => (ItemKind::Comment, body.as_str().to_owned()),
        NewItemContent::Event { .. } => (ItemKind::Event, String::new()),
    };
    if let NewItemContent::Message {
        direction: Direction::Out,
        ..
    } = &content
    {
        refuse_outside_reply_window(state, account, conversation).await?;
    }
    // Through the node's batcher: this append commits together with whatever other sockets
    // and requests of the node are storing at the same moment (one sync of the WAL for all).
    let appended = state
        .appends
        .append(
            account,
            conversation,
            NewItem {
                client_id: Some(client_id),
                author,
                content,
            },
        )
        .await?;
    let item = &appended.item;
    if appended.created {
        publish_item(state, item).await;
        crate::actors::notifications::notify_mentions(state.bus.as_ref(), item).await;
        return Ok(appended);
    }
    let same =
        item.kind == kind && item.author == author && item.body.as_deref() == Some(text.as_str());
    if !same {
        return Err(ApiError::conflict(
            "client_id",
            "this client_id was already used for a different item; send a new one",
        ));
    }
    Ok(appended)
}

/// Messenger lets a page answer only within 24 hours of the user's last message: a reply after
/// that is refused before it is stored, so the agent knows it never went out.
async fn refuse_outside_reply_window(
    state: &AppState,
    account: AccountId,
    conversation: ConversationId,
) -> ApiResult<()> {
    let (kind, last_in) = state.store.reply_window(account, conversation).await?;
    if kind == crate::domain::ChannelKind::Messenger
        && !crate::channels::messenger::within_reply_window(last_in)
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "messenger_window_closed",
            "Messenger lets a page reply only within 24 hours of the contact's last message; \
             this reply was not sent. It can go out once the contact writes again.",
        )
        .with_field("body"));
    }
    Ok(())
}

/// Publishes a stored item on its conversation's topic (logged, not returned, on failure).
pub(crate) async fn publish_item(state: &AppState, item: &TimelineItem) {
    crate::actors::assignments::publish_item(state.bus.as_ref(), item).await;
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_items)
        .service(post_message)
        .service(post_comment);
}
