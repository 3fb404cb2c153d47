//! Tickets: tracked requests made from a conversation, with a pipeline stage, a priority and an
//! owner. A ticket belongs to its conversation's inbox, and the same membership rules apply: a
//! non-admin sees and changes only tickets of inboxes they are a member of.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, patch, post, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, Authenticated};
use super::params::{
    bool_param, filter_inbox, id_param, nullable, page_params, parse_param, present, referenced,
    require_eligible,
};
use super::state::AppState;
use crate::domain::{
    AgentId, ConversationId, Name, NewTicket, Ticket, TicketFilter, TicketId, TicketPatch,
    TicketPriority, TicketStage,
};
use crate::store::Page;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicketRequest {
    /// The ticket's inbox and contact come from this conversation.
    conversation_id: ConversationId,
    /// Defaults to the conversation's subject.
    title: Option<Name>,
    /// Defaults to `medium`.
    priority: Option<TicketPriority>,
    /// Must be an active agent who can see the inbox.
    owner_id: Option<AgentId>,
}

/// Creates a ticket from a conversation.
#[utoipa::path(tag = "tickets", request_body = NewTicketRequest, responses(
    (status = 201, body = Ticket),
    (status = 400, body = ErrorBody, description = "The body is not JSON"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not a member of the conversation's inbox"),
    (status = 413, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "A field is invalid or refers to nothing in this account"),
))]
#[post("/tickets")]
async fn create_ticket(
    state: web::Data<AppState>,
    who: Authenticated,
    body: ApiJson<NewTicketRequest>,
) -> ApiResult<HttpResponse> {
    let NewTicketRequest {
        conversation_id,
        title,
        priority,
        owner_id,
    } = body.into_inner()?;
    let conversation = referenced(
        state
            .store
            .get_conversation(who.account(), conversation_id)
            .await,
        "conversation_id",
    )?;
    who.require_inbox(&state, conversation.inbox_id).await?;
    if let Some(owner) = owner_id {
        let inbox = state
            .store
            .get_inbox(who.account(), conversation.inbox_id)
            .await?;
        require_eligible(&state, &who, &inbox, owner, "owner_id").await?;
    }
    let ticket = state
        .store
        .create_ticket(
            who.account(),
            NewTicket {
                conversation_id,
                title,
                priority: priority.unwrap_or(TicketPriority::Medium),
                owner_id,
            },
        )
        .await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(ticket))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketList {
    /// Only this inbox (you must be a member of it).
    #[param(value_type = Option<String>, format = Uuid)]
    inbox_id: Option<String>,
    #[param(value_type = Option<TicketStage>)]
    stage: Option<String>,
    #[param(value_type = Option<TicketPriority>)]
    priority: Option<String>,
    #[param(value_type = Option<String>, format = Uuid)]
    owner_id: Option<String>,
    #[param(value_type = Option<String>, format = Uuid)]
    contact_id: Option<String>,
    #[param(value_type = Option<String>, format = Uuid)]
    conversation_id: Option<String>,
    /// `true`: only tickets without an owner.
    #[param(value_type = Option<bool>)]
    unowned: Option<String>,
    /// The `next` of the previous page.
    #[param(value_type = Option<String>, format = Uuid)]
    after: Option<String>,
    /// Rows per page, 1 to 200 (default 50).
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
}

/// Tickets in the caller's inboxes, newest first, keyset paged; every given filter must match.
#[utoipa::path(tag = "tickets", params(TicketList), responses(
    (status = 200, body = Page<Ticket>),
    (status = 400, body = ErrorBody, description = "A query parameter is malformed"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Filtered by an inbox you are not a member of"),
    (status = 404, body = ErrorBody, description = "Filtered by an unknown inbox"),
))]
#[get("/tickets")]
async fn list_tickets(
    state: web::Data<AppState>,
    who: Authenticated,
    query: web::Query<TicketList>,
) -> ApiResult<web::Json<Page<Ticket>>> {
    let q = query.into_inner();
    let inbox_id = id_param("inbox_id", q.inbox_id.as_deref())?;
    let mut filter = TicketFilter {
        visible_inboxes: None,
        inbox_id,
        stage: parse_param("stage", q.stage.as_deref(), TicketStage::parse)?,
        priority: parse_param("priority", q.priority.as_deref(), TicketPriority::parse)?,
        owner_id: id_param("owner_id", q.owner_id.as_deref())?,
        contact_id: id_param("contact_id", q.contact_id.as_deref())?,
        conversation_id: id_param("conversation_id", q.conversation_id.as_deref())?,
        unowned: bool_param("unowned", q.unowned.as_deref())?.unwrap_or(false),
    };
    let page = page_params(q.after.as_deref(), q.limit.as_deref())?;
    filter_inbox(&state, &who, inbox_id).await?;
    filter.visible_inboxes = who.visible_inboxes(&state).await?;
    Ok(web::Json(
        state
            .store
            .list_tickets(who.account(), filter, page)
            .await?,
    ))
}

/// A ticket the caller may see: another account's is 404, another inbox's 403.
async fn visible_ticket(state: &AppState, who: &Authenticated, id: TicketId) -> ApiResult<Ticket> {
    let ticket = state.store.get_ticket(who.account(), id).await?;
    who.require_inbox(state, ticket.inbox_id).await?;
    Ok(ticket)
}

/// One ticket.
#[utoipa::path(tag = "tickets", params(("id" = TicketId, Path)), responses(
    (status = 200, body = Ticket),
    (status = 400, body = ErrorBody, description = "The id is malformed"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not a member of its inbox"),
    (status = 404, body = ErrorBody),
))]
#[get("/tickets/{id}")]
async fn get_ticket(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<TicketId>,
) -> ApiResult<web::Json<Ticket>> {
    Ok(web::Json(
        visible_ticket(&state, &who, id.into_inner()).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketPatchRequest {
    #[serde(default, deserialize_with = "present")]
    title: Option<Name>,
    #[serde(default, deserialize_with = "present")]
    stage: Option<TicketStage>,
    #[serde(default, deserialize_with = "present")]
    priority: Option<TicketPriority>,
    /// `null` clears it; otherwise an active agent who can see the inbox.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Uuid)]
    owner_id: Option<Option<AgentId>>,
}

/// Changes a ticket. Absent fields stay as they are.
#[utoipa::path(tag = "tickets", params(("id" = TicketId, Path)), request_body = TicketPatchRequest, responses(
    (status = 200, body = Ticket),
    (status = 400, body = ErrorBody, description = "The body is not JSON or the id is malformed"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not a member of its inbox"),
    (status = 404, body = ErrorBody),
    (status = 413, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "A field is invalid; `field` names it"),
))]
#[patch("/tickets/{id}")]
async fn update_ticket(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<TicketId>,
    body: ApiJson<TicketPatchRequest>,
) -> ApiResult<web::Json<Ticket>> {
    let ticket = visible_ticket(&state, &who, id.into_inner()).await?;
    let TicketPatchRequest {
        title,
        stage,
        priority,
        owner_id,
    } = body.into_inner()?;
    if let Some(Some(owner)) = owner_id {
        let inbox = state
            .store
            .get_inbox(who.account(), ticket.inbox_id)
            .await?;
        require_eligible(&state, &who, &inbox, owner, "owner_id").await?;
    }
    let ticket = state
        .store
        .update_ticket(
            who.account(),
            ticket.id,
            TicketPatch {
                title,
                stage,
                priority,
                owner_id,
            },
        )
        .await?;
    Ok(web::Json(ticket))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_ticket)
        .service(list_tickets)
        .service(get_ticket)
        .service(update_ticket);
}
