//! Conversations: listing, opening one by hand, reading one, and changing its status and
//! assignment. Every read and write is limited to inboxes the caller belongs to (admins see all).
//!
//! Status and assignment changes answer with the timeline event the store appended in the same
//! transaction (or `null` when the change changed nothing), so a client can show it at once.
//! Every change is published to the conversation's listeners and assignees, and a new
//! conversation, like one a change freed, is offered to routing.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, Authenticated};
use super::params::{
    bool_param, filter_inbox, id_param, nullable, page_params, parse_param, referenced,
    require_eligible, visible_conversation,
};
use super::state::AppState;
use crate::actors::assignments::announce;
use crate::domain::{
    Actor, AgentId, ChannelId, ContactId, Conversation, ConversationChange, ConversationFilter,
    ConversationId, ConversationStatus, InvalidValue, NewConversation, TeamId, TimelineItem,
};
use crate::store::Page;

/// Longest conversation subject, in characters: an email subject line's limit (RFC 5322).
const MAX_SUBJECT_CHARS: usize = 998;

/// A conversation's subject: one line of text.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(try_from = "String")]
#[schema(value_type = String)]
pub struct Subject(String);

impl TryFrom<String> for Subject {
    type Error = InvalidValue;

    fn try_from(raw: String) -> Result<Self, InvalidValue> {
        let value = raw.trim();
        if value.chars().count() > MAX_SUBJECT_CHARS {
            return Err(InvalidValue::new(format!(
                "subject must be at most {MAX_SUBJECT_CHARS} characters"
            )));
        }
        if value.chars().any(char::is_control) {
            return Err(InvalidValue::new(
                "subject must be one line without control characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConversationList {
    /// Only this inbox (you must be a member of it).
    #[param(value_type = Option<String>, format = Uuid)]
    inbox_id: Option<String>,
    /// `open`, `pending` or `closed`.
    #[param(value_type = Option<ConversationStatus>)]
    status: Option<String>,
    #[param(value_type = Option<String>, format = Uuid)]
    assignee_id: Option<String>,
    #[param(value_type = Option<String>, format = Uuid)]
    team_id: Option<String>,
    #[param(value_type = Option<String>, format = Uuid)]
    channel_id: Option<String>,
    #[param(value_type = Option<String>, format = Uuid)]
    contact_id: Option<String>,
    /// `true`: only conversations without an assignee.
    #[param(value_type = Option<bool>)]
    unassigned: Option<String>,
    /// The `next` of the previous page.
    #[param(value_type = Option<String>, format = Uuid)]
    after: Option<String>,
    /// Rows per page, 1 to 200 (default 50).
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
}

/// Conversations in the caller's inboxes, newest first, keyset paged; every given filter must
/// match.
#[utoipa::path(tag = "conversations", params(ConversationList), responses(
    (status = 200, body = Page<Conversation>),
    (status = 400, body = ErrorBody, description = "A query parameter is malformed"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Filtered by an inbox you are not a member of"),
    (status = 404, body = ErrorBody, description = "Filtered by an unknown inbox"),
))]
#[get("/conversations")]
async fn list_conversations(
    state: web::Data<AppState>,
    who: Authenticated,
    query: web::Query<ConversationList>,
) -> ApiResult<web::Json<Page<Conversation>>> {
    let q = query.into_inner();
    let inbox_id = id_param("inbox_id", q.inbox_id.as_deref())?;
    let mut filter = ConversationFilter {
        visible_inboxes: None,
        inbox_id,
        status: parse_param("status", q.status.as_deref(), ConversationStatus::parse)?,
        assignee_id: id_param("assignee_id", q.assignee_id.as_deref())?,
        team_id: id_param("team_id", q.team_id.as_deref())?,
        channel_id: id_param("channel_id", q.channel_id.as_deref())?,
        contact_id: id_param("contact_id", q.contact_id.as_deref())?,
        unassigned: bool_param("unassigned", q.unassigned.as_deref())?.unwrap_or(false),
    };
    let page = page_params(q.after.as_deref(), q.limit.as_deref())?;
    filter_inbox(&state, &who, inbox_id).await?;
    filter.visible_inboxes = who.visible_inboxes(&state).await?;
    Ok(web::Json(
        state
            .store
            .list_conversations(who.account(), filter, page)
            .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConversationRequest {
    /// The way in; the conversation lands in this channel's inbox.
    channel_id: ChannelId,
    contact_id: ContactId,
    subject: Option<Subject>,
}

/// Opens a conversation with a contact on a channel (e.g. an agent starting an email thread).
#[utoipa::path(tag = "conversations", request_body = NewConversationRequest, responses(
    (status = 201, body = Conversation),
    (status = 400, body = ErrorBody, description = "The body is not JSON"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not a member of the channel's inbox"),
    (status = 413, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "A field is invalid or refers to nothing in this account"),
))]
#[post("/conversations")]
async fn create_conversation(
    state: web::Data<AppState>,
    who: Authenticated,
    body: ApiJson<NewConversationRequest>,
) -> ApiResult<HttpResponse> {
    let NewConversationRequest {
        channel_id,
        contact_id,
        subject,
    } = body.into_inner()?;
    let channel = referenced(
        state.store.get_channel(who.account(), channel_id).await,
        "channel_id",
    )?;
    who.require_inbox(&state, channel.inbox_id).await?;
    referenced(
        state.store.get_contact(who.account(), contact_id).await,
        "contact_id",
    )?;
    let conversation = state
        .store
        .create_conversation(
            who.account(),
            NewConversation {
                channel_id,
                contact_id,
                subject: subject.map(|s| s.0).filter(|s| !s.is_empty()),
            },
            Actor::Agent(who.agent_id()),
        )
        .await?;
    // Like any new conversation, it waits in its inbox's queue unless routing places it now.
    state
        .assignments
        .route(who.account(), conversation.id)
        .await;
    let conversation = state
        .store
        .get_conversation(who.account(), conversation.id)
        .await?;
    announce(state.bus.as_ref(), &conversation).await;
    Ok(HttpResponse::build(StatusCode::CREATED).json(conversation))
}

/// One conversation.
#[utoipa::path(tag = "conversations", params(("id" = ConversationId, Path)), responses(
    (status = 200, body = Conversation),
    (status = 400, body = ErrorBody, description = "The id is malformed"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not a member of its inbox"),
    (status = 404, body = ErrorBody),
))]
#[get("/conversations/{id}")]
async fn get_conversation(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<ConversationId>,
) -> ApiResult<web::Json<Conversation>> {
    Ok(web::Json(
        visible_conversation(&state, &who, id.into_inner()).await?,
    ))
}

/// A conversation after a change, with the timeline event recording it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeResponse {
    pub conversation: Conversation,
    /// The event item appended, or `null` when the change changed nothing.
    pub event: Option<TimelineItem>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// `open` reopens a pending or closed conversation.
    status: ConversationStatus,
}

/// Sets a conversation's status (`open` reopens it).
#[utoipa::path(tag = "conversations", params(("id" = ConversationId, Path)),
    request_body = StatusRequest, responses(
    (status = 200, body = ChangeResponse),
    (status = 400, body = ErrorBody, description = "The body is not JSON or the id is malformed"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not a member of its inbox"),
    (status = 404, body = ErrorBody),
    (status = 413, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "Unknown status"),
))]
#[post("/conversations/{id}/status")]
async fn set_status(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<ConversationId>,
    body: ApiJson<StatusRequest>,
) -> ApiResult<web::Json<ChangeResponse>> {
    let conversation = visible_conversation(&state, &who, id.into_inner()).await?;
    let status = body.into_inner()?.status;
    Ok(web::Json(
        change(
            &state,
            &who,
            conversation,
            ConversationChange::Status(status),
        )
        .await?,
    ))
}

/// Applies a change the caller may make to a conversation they can see, then fans it out:
/// the event to the conversation's listeners, an assignment to the assignees, and routing
/// work when the change freed an agent's capacity or left the conversation without one.
/// Shared by the REST API and the agent socket.
pub(crate) async fn change(
    state: &AppState,
    who: &Authenticated,
    before: Conversation,
    change: ConversationChange,
) -> ApiResult<ChangeResponse> {
    let (conversation, event) = state
        .store
        .change_conversation(
            who.account(),
            before.id,
            change,
            Actor::Agent(who.agent_id()),
        )
        .await?;
    state
        .assignments
        .changed(&before, &conversation, event.as_ref())
        .await;
    let person_took_over = conversation.status == ConversationStatus::Closed
        || (conversation.assignee_id.is_some() && conversation.assignee_id != before.assignee_id);
    if person_took_over && event.is_some() {
        // A bot still waiting there stops; the change stands whatever happens to the bot.
        if let Err(e) = crate::actors::bots::person_took_over(state, &conversation).await {
            tracing::warn!(code = e.code, conversation = %conversation.id, "bot not stopped");
        }
    }
    Ok(ChangeResponse {
        conversation,
        event,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The agent, or `null` for nobody. Required: send `null` to unassign.
    #[serde(deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Uuid, required = true)]
    assignee_id: Option<Option<AgentId>>,
    /// The team, or `null` for none. Required: send `null` to clear.
    #[serde(deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Uuid, required = true)]
    team_id: Option<Option<TeamId>>,
}

/// Assigns a conversation to an agent and/or a team (both given; `null` clears that side).
/// The agent must be active and an admin or a member of the conversation's inbox.
#[utoipa::path(tag = "conversations", params(("id" = ConversationId, Path)),
    request_body = AssignRequest, responses(
    (status = 200, body = ChangeResponse),
    (status = 400, body = ErrorBody, description = "The body is not JSON or the id is malformed"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not a member of its inbox"),
    (status = 404, body = ErrorBody),
    (status = 413, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "The agent or team cannot take this conversation"),
))]
#[post("/conversations/{id}/assign")]
async fn assign(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<ConversationId>,
    body: ApiJson<AssignRequest>,
) -> ApiResult<web::Json<ChangeResponse>> {
    let conversation = visible_conversation(&state, &who, id.into_inner()).await?;
    let request = body.into_inner()?;
    let (assignee_id, team_id) = (request.assignee_id.flatten(), request.team_id.flatten());
    Ok(web::Json(
        assign_conversation(&state, &who, conversation, assignee_id, team_id).await?,
    ))
}

/// Assigns a conversation the caller can see, after checking the agent may take it (active,
/// and an admin or a member of its inbox) and the team exists. Shared with the agent socket.
pub(crate) async fn assign_conversation(
    state: &AppState,
    who: &Authenticated,
    conversation: Conversation,
    assignee_id: Option<AgentId>,
    team_id: Option<TeamId>,
) -> ApiResult<ChangeResponse> {
    if let Some(agent) = assignee_id {
        let inbox = state
            .store
            .get_inbox(who.account(), conversation.inbox_id)
            .await?;
        require_eligible(state, who, &inbox, agent, "assignee_id").await?;
    }
    if let Some(team) = team_id {
        referenced(state.store.get_team(who.account(), team).await, "team_id")?;
    }
    let wanted = ConversationChange::Assign {
        assignee_id,
        team_id,
    };
    change(state, who, conversation, wanted).await
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_conversations)
        .service(create_conversation)
        .service(get_conversation)
        .service(set_status)
        .service(assign);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_needs_both_sides_but_either_may_be_null() {
        let parsed =
            |s: &str| crate::http::extract::parse_json::<AssignRequest>(s.as_bytes()).map(|_| ());
        assert!(parsed(r#"{"assignee_id": null, "team_id": null}"#).is_ok());
        let missing = parsed(r#"{"assignee_id": null}"#).err();
        assert_eq!(
            missing.and_then(|e| e.field),
            Some("team_id".to_owned()),
            "a missing team_id is named"
        );
    }

    #[test]
    fn a_status_of_the_wrong_type_is_a_field_error_not_malformed_json() {
        let e = crate::http::extract::parse_json::<StatusRequest>(br#"{"status": 3}"#).err();
        let e = e.map(|e| (e.status.as_u16(), e.code, e.field));
        assert_eq!(e, Some((422, "invalid_field", Some("status".to_owned()))));
        let e = crate::http::extract::parse_json::<StatusRequest>(br#"{"status": 3"#).err();
        assert_eq!(e.map(|e| e.code), Some("malformed_json"));
    }
}
