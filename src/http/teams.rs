//! Teams: named groups of agents that routing and assignment target. Every agent may read them;
//! admins create, change and delete them and set their members.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, Authenticated};
use super::state::AppState;
use crate::domain::{AgentId, Name, Team, TeamId};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeamRequest {
    pub name: Name,
    /// Agents of the account; duplicates are collapsed.
    #[serde(default)]
    pub member_ids: Vec<AgentId>,
}

/// A change to a team; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchTeamRequest {
    pub name: Option<Name>,
    /// Replaces the members.
    pub member_ids: Option<Vec<AgentId>>,
}

/// The complete new member list of a team or inbox.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembersRequest {
    pub agent_ids: Vec<AgentId>,
}

/// Every team of the account.
#[utoipa::path(tag = "teams", responses(
    (status = 200, body = Vec<Team>),
    (status = 401, body = ErrorBody),
))]
#[get("/teams")]
async fn list_teams(
    state: web::Data<AppState>,
    who: Authenticated,
) -> ApiResult<web::Json<Vec<Team>>> {
    Ok(web::Json(state.store.list_teams(who.account()).await?))
}

/// Creates a team (admins).
#[utoipa::path(tag = "teams", request_body = NewTeamRequest, responses(
    (status = 201, body = Team),
    (status = 400, body = ErrorBody, description = "Malformed JSON"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not an admin"),
    (status = 413, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "A field is invalid, e.g. a member who is not an agent of the account"),
))]
#[post("/teams")]
async fn create_team(
    state: web::Data<AppState>,
    who: Authenticated,
    body: ApiJson<NewTeamRequest>,
) -> ApiResult<HttpResponse> {
    who.require_admin()?;
    let NewTeamRequest { name, member_ids } = body.into_inner()?;
    let team = state
        .store
        .create_team(who.account(), name, member_ids)
        .await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(team))
}

/// One team.
#[utoipa::path(tag = "teams", params(("id" = TeamId, Path)), responses(
    (status = 200, body = Team),
    (status = 400, body = ErrorBody, description = "Malformed id"),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
#[get("/teams/{id}")]
async fn get_team(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<TeamId>,
) -> ApiResult<web::Json<Team>> {
    Ok(web::Json(
        state.store.get_team(who.account(), id.into_inner()).await?,
    ))
}

/// Renames a team or replaces its members (admins).
#[utoipa::path(tag = "teams", params(("id" = TeamId, Path)), request_body = PatchTeamRequest,
    responses(
        (status = 200, body = Team),
        (status = 400, body = ErrorBody, description = "Malformed JSON or id"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Not an admin"),
        (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A field is invalid; `field` names it"),
    )
)]
#[patch("/teams/{id}")]
async fn update_team(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<TeamId>,
    body: ApiJson<PatchTeamRequest>,
) -> ApiResult<web::Json<Team>> {
    who.require_admin()?;
    let PatchTeamRequest { name, member_ids } = body.into_inner()?;
    Ok(web::Json(
        state
            .store
            .update_team(who.account(), id.into_inner(), name, member_ids)
            .await?,
    ))
}

/// Sets a team's members (admins); the list replaces the current one.
#[utoipa::path(tag = "teams", params(("id" = TeamId, Path)), request_body = MembersRequest,
    responses(
        (status = 200, body = Team),
        (status = 400, body = ErrorBody, description = "Malformed JSON or id"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Not an admin"),
        (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "An id is not an agent of the account"),
    )
)]
#[put("/teams/{id}/members")]
async fn set_team_members(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<TeamId>,
    body: ApiJson<MembersRequest>,
) -> ApiResult<web::Json<Team>> {
    who.require_admin()?;
    let team = state
        .store
        .update_team(
            who.account(),
            id.into_inner(),
            None,
            Some(body.into_inner()?.agent_ids),
        )
        .await
        .map_err(|e| members_field(e.into()))?;
    Ok(web::Json(team))
}

/// Deletes a team (admins). Its conversations keep their assignee and lose the team.
#[utoipa::path(tag = "teams", params(("id" = TeamId, Path)), responses(
    (status = 204, description = "Deleted"),
    (status = 400, body = ErrorBody, description = "Malformed id"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not an admin"),
    (status = 404, body = ErrorBody),
))]
#[delete("/teams/{id}")]
async fn delete_team(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<TeamId>,
) -> ApiResult<HttpResponse> {
    who.require_admin()?;
    state
        .store
        .delete_team(who.account(), id.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The store names member lists `member_ids`; the members routes take them as `agent_ids`.
pub(super) fn members_field(mut e: ApiError) -> ApiError {
    if let Some(rest) = e
        .field
        .as_deref()
        .and_then(|f| f.strip_prefix("member_ids"))
    {
        e.field = Some(format!("agent_ids{rest}"));
    }
    e
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_teams)
        .service(create_team)
        .service(get_team)
        .service(update_team)
        .service(set_team_members)
        .service(delete_team);
}
