//! Inboxes: named shared inboxes with members, routing, notification defaults and email filters.
//! Admins see and manage every inbox; an agent sees only the inboxes they are a member of.
//!
//! Answers carry the inbox's fallback address on Parley's own inbound mail listener.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, Authenticated};
use super::state::AppState;
use super::teams::{MembersRequest, members_field};
use crate::channels::Host;
use crate::domain::{
    AccountId, AgentId, EmailFilters, Inbox, InboxId, InboxPatch, Name, NewInbox,
    NotificationPrefs, RoutingSettings, RoutingTarget,
};
use crate::store::StoreError;

/// An inbox as answered: the record and its fallback address.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxView {
    #[serde(flatten)]
    pub inbox: Inbox,
    /// Mail sent here lands in the inbox, even without an email channel.
    pub fallback_address: String,
}

impl InboxView {
    fn new(state: &AppState, inbox: Inbox) -> Self {
        let fallback_address = format!(
            "{}@{}",
            inbox.fallback_local_part, state.settings.mail.inbound_domain
        );
        Self {
            inbox,
            fallback_address,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInboxRequest {
    pub name: Name,
    /// Default: unassigned, round robin, no capacity limit, sticky to the contact's owner.
    #[serde(default)]
    pub routing: RoutingSettings,
    /// Default: every notification on.
    #[serde(default)]
    pub notification_defaults: NotificationPrefs,
    /// Default: nothing blocked, auto-replies let through.
    #[serde(default)]
    pub email_filters: EmailFilters,
    /// Agents of the account; duplicates are collapsed.
    #[serde(default)]
    pub member_ids: Vec<AgentId>,
}

/// A change to an inbox; absent fields stay as they are, given ones are replaced whole.
/// Members change through `PUT /inboxes/{id}/members`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchInboxRequest {
    pub name: Option<Name>,
    pub routing: Option<RoutingSettings>,
    pub notification_defaults: Option<NotificationPrefs>,
    pub email_filters: Option<EmailFilters>,
}

/// Admins: every inbox of the account. Agents: the inboxes they are a member of.
#[utoipa::path(tag = "inboxes", responses(
    (status = 200, body = Vec<InboxView>),
    (status = 401, body = ErrorBody),
))]
#[get("/inboxes")]
async fn list_inboxes(
    state: web::Data<AppState>,
    who: Authenticated,
) -> ApiResult<web::Json<Vec<InboxView>>> {
    let member = (!who.is_admin()).then(|| who.agent_id());
    let inboxes = state.store.list_inboxes(who.account(), member).await?;
    Ok(web::Json(
        inboxes
            .into_iter()
            .map(|inbox| InboxView::new(&state, inbox))
            .collect(),
    ))
}

/// Creates an inbox (admins).
#[utoipa::path(tag = "inboxes", request_body = NewInboxRequest, responses(
    (status = 201, body = InboxView),
    (status = 400, body = ErrorBody, description = "Malformed JSON"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not an admin"),
    (status = 413, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "A field is invalid; `field` names it"),
))]
#[post("/inboxes")]
async fn create_inbox(
    state: web::Data<AppState>,
    who: Authenticated,
    body: ApiJson<NewInboxRequest>,
) -> ApiResult<HttpResponse> {
    who.require_admin()?;
    let NewInboxRequest {
        name,
        routing,
        notification_defaults,
        email_filters,
        member_ids,
    } = body.into_inner()?;
    check_routing(&state, who.account(), &routing).await?;
    let email_filters = normalize_filters(email_filters)?;
    let inbox = state
        .store
        .create_inbox(
            who.account(),
            NewInbox {
                name,
                routing,
                notification_defaults,
                email_filters,
                member_ids,
            },
        )
        .await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(InboxView::new(&state, inbox)))
}

/// One inbox (admins, or members of it).
#[utoipa::path(tag = "inboxes", params(("id" = InboxId, Path)), responses(
    (status = 200, body = InboxView),
    (status = 400, body = ErrorBody, description = "Malformed id"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not a member of this inbox"),
    (status = 404, body = ErrorBody),
))]
#[get("/inboxes/{id}")]
async fn get_inbox(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<InboxId>,
) -> ApiResult<web::Json<InboxView>> {
    let inbox = state
        .store
        .get_inbox(who.account(), id.into_inner())
        .await?;
    if !who.is_admin() && !inbox.member_ids.contains(&who.agent_id()) {
        return Err(ApiError::forbidden("you are not a member of this inbox"));
    }
    Ok(web::Json(InboxView::new(&state, inbox)))
}

/// Changes an inbox's name, routing, notification defaults or email filters (admins).
#[utoipa::path(tag = "inboxes", params(("id" = InboxId, Path)), request_body = PatchInboxRequest,
    responses(
        (status = 200, body = InboxView),
        (status = 400, body = ErrorBody, description = "Malformed JSON or id"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Not an admin"),
        (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A field is invalid; `field` names it"),
    )
)]
#[patch("/inboxes/{id}")]
async fn update_inbox(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<InboxId>,
    body: ApiJson<PatchInboxRequest>,
) -> ApiResult<web::Json<InboxView>> {
    who.require_admin()?;
    let PatchInboxRequest {
        name,
        routing,
        notification_defaults,
        email_filters,
    } = body.into_inner()?;
    if let Some(routing) = &routing {
        check_routing(&state, who.account(), routing).await?;
    }
    let email_filters = email_filters.map(normalize_filters).transpose()?;
    let inbox = state
        .store
        .update_inbox(
            who.account(),
            id.into_inner(),
            InboxPatch {
                name,
                routing,
                notification_defaults,
                email_filters,
            },
        )
        .await?;
    Ok(web::Json(InboxView::new(&state, inbox)))
}

/// Sets an inbox's members (admins); the list replaces the current one.
#[utoipa::path(tag = "inboxes", params(("id" = InboxId, Path)), request_body = MembersRequest,
    responses(
        (status = 200, body = InboxView),
        (status = 400, body = ErrorBody, description = "Malformed JSON or id"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Not an admin"),
        (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "An id is not an agent of the account"),
    )
)]
#[put("/inboxes/{id}/members")]
async fn set_inbox_members(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<InboxId>,
    body: ApiJson<MembersRequest>,
) -> ApiResult<web::Json<InboxView>> {
    who.require_admin()?;
    let inbox = state
        .store
        .set_inbox_members(who.account(), id.into_inner(), body.into_inner()?.agent_ids)
        .await
        .map_err(|e| members_field(e.into()))?;
    Ok(web::Json(InboxView::new(&state, inbox)))
}

/// Deletes an inbox (admins). Refused while it still has channels or conversations.
#[utoipa::path(tag = "inboxes", params(("id" = InboxId, Path)), responses(
    (status = 204, description = "Deleted"),
    (status = 400, body = ErrorBody, description = "Malformed id"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not an admin"),
    (status = 404, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "The inbox still has channels or conversations"),
))]
#[delete("/inboxes/{id}")]
async fn delete_inbox(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<InboxId>,
) -> ApiResult<HttpResponse> {
    who.require_admin()?;
    state
        .store
        .delete_inbox(who.account(), id.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Routing must target what exists in the account, or the router would wait on nobody.
async fn check_routing(
    state: &AppState,
    account: AccountId,
    routing: &RoutingSettings,
) -> ApiResult<()> {
    if routing.capacity == Some(0) {
        return Err(ApiError::invalid_field(
            "routing.capacity",
            "capacity must be at least 1, or null for no limit",
        ));
    }
    match &routing.target {
        RoutingTarget::Unassigned => Ok(()),
        RoutingTarget::Team { team_id } => match state.store.get_team(account, *team_id).await {
            Ok(_) => Ok(()),
            Err(StoreError::NotFound { .. }) => Err(ApiError::invalid_field(
                "routing.target.team_id",
                "no such team in this account",
            )),
            Err(e) => Err(e.into()),
        },
        RoutingTarget::Agents { agent_ids } => {
            if agent_ids.is_empty() {
                return Err(ApiError::invalid_field(
                    "routing.target.agent_ids",
                    "list at least one agent, or route to mode 'unassigned'",
                ));
            }
            let agents = state.store.list_agents(account).await?;
            match agent_ids
                .iter()
                .position(|id| !agents.iter().any(|a| a.id == *id))
            {
                Some(i) => Err(ApiError::invalid_field(
                    format!("routing.target.agent_ids[{i}]"),
                    "not an agent of this account",
                )),
                None => Ok(()),
            }
        }
    }
}

/// Lower-cases blocked domains (a leading `@` is dropped), checks them, and drops duplicates.
fn normalize_filters(filters: EmailFilters) -> ApiResult<EmailFilters> {
    let mut domains: Vec<String> = Vec::with_capacity(filters.blocked_domains.len());
    for (i, raw) in filters.blocked_domains.iter().enumerate() {
        let trimmed = raw.trim();
        let domain = Host::parse(trimmed.strip_prefix('@').unwrap_or(trimmed)).map_err(|e| {
            ApiError::invalid_field(format!("email_filters.blocked_domains[{i}]"), e.message)
        })?;
        let domain = domain.as_str().to_owned();
        if !domains.contains(&domain) {
            domains.push(domain);
        }
    }
    let mut senders = Vec::with_capacity(filters.blocked_senders.len());
    for sender in filters.blocked_senders {
        if !senders.contains(&sender) {
            senders.push(sender);
        }
    }
    Ok(EmailFilters {
        blocked_senders: senders,
        blocked_domains: domains,
        filter_auto_replies: filters.filter_auto_replies,
    })
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_inboxes)
        .service(create_inbox)
        .service(get_inbox)
        .service(update_inbox)
        .service(set_inbox_members)
        .service(delete_inbox);
}
