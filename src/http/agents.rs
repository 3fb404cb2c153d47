//! Agents: the people of an account. Every agent may list and read them (to assign, mention and
//! route); admins create, change and deactivate them; an agent changes their own profile,
//! preferences, status and password (with the current one).
//!
//! Agents are never deleted: `DELETE` deactivates, so history and reports keep their author.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, Authenticated};
use super::state::AppState;
use crate::auth;
use crate::domain::{
    AccountId, Agent, AgentId, AgentPatch, AgentProfile, AgentRole, AgentStatus, EmailAddress,
    Name, NewAgent, NotificationPrefs, Password, WebUrl,
};
use crate::presence::AgentPresence;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgentRequest {
    /// Unique across every account: login is by email alone.
    pub email: EmailAddress,
    /// At least 10 characters.
    pub password: String,
    pub role: AgentRole,
    pub display_name: Name,
    #[serde(default)]
    pub avatar_url: Option<WebUrl>,
    #[serde(default)]
    pub meeting_link: Option<WebUrl>,
}

/// A change to an agent; absent fields stay as they are, `null` clears an optional one.
///
/// Admins may change every field of others. An agent may change their own `display_name`,
/// `avatar_url`, `meeting_link`, `notification_prefs`, `status`, and `password` together with
/// `current_password`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchAgentRequest {
    pub email: Option<EmailAddress>,
    pub role: Option<AgentRole>,
    pub display_name: Option<Name>,
    #[serde(default, deserialize_with = "super::params::nullable")]
    #[schema(value_type = Option<String>)]
    pub avatar_url: Option<Option<WebUrl>>,
    #[serde(default, deserialize_with = "super::params::nullable")]
    #[schema(value_type = Option<String>)]
    pub meeting_link: Option<Option<WebUrl>>,
    pub notification_prefs: Option<NotificationPrefs>,
    pub status: Option<AgentStatus>,
    /// `false` deactivates (the agent can no longer sign in); `true` reactivates.
    pub active: Option<bool>,
    pub password: Option<String>,
    /// Required when changing one's own password.
    pub current_password: Option<String>,
}

/// Every agent of the account, deactivated ones included.
#[utoipa::path(tag = "agents", responses(
    (status = 200, body = Vec<Agent>),
    (status = 401, body = ErrorBody),
))]
#[get("/agents")]
async fn list_agents(
    state: web::Data<AppState>,
    who: Authenticated,
) -> ApiResult<web::Json<Vec<Agent>>> {
    Ok(web::Json(state.store.list_agents(who.account()).await?))
}

/// The agents of the account with a live socket (within a few seconds' grace), and their
/// status; changes follow as `presence` frames on the agent socket.
#[utoipa::path(tag = "agents", responses(
    (status = 200, body = Vec<AgentPresence>),
    (status = 401, body = ErrorBody),
    (status = 503, body = ErrorBody, description = "The presence tracker cannot be reached"),
))]
#[get("/presence")]
async fn list_presence(
    state: web::Data<AppState>,
    who: Authenticated,
) -> ApiResult<web::Json<Vec<AgentPresence>>> {
    let online = state.presence.online(who.account()).await;
    Ok(web::Json(online.map_err(|e| ApiError::unavailable(&e))?))
}

/// Creates an agent (admins).
#[utoipa::path(tag = "agents", request_body = NewAgentRequest, responses(
    (status = 201, body = Agent),
    (status = 400, body = ErrorBody, description = "Malformed JSON"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not an admin"),
    (status = 409, body = ErrorBody, description = "The email is taken"),
    (status = 413, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "A field is invalid; `field` names it"),
))]
#[post("/agents")]
async fn create_agent(
    state: web::Data<AppState>,
    who: Authenticated,
    body: ApiJson<NewAgentRequest>,
) -> ApiResult<HttpResponse> {
    who.require_admin()?;
    let NewAgentRequest {
        email,
        password,
        role,
        display_name,
        avatar_url,
        meeting_link,
    } = body.into_inner()?;
    let password = Password::parse(&password).map_err(ApiError::from_invalid("password"))?;
    let password_hash = hash(password).await?;
    let agent = state
        .store
        .create_agent(
            who.account(),
            NewAgent {
                email,
                role,
                profile: AgentProfile {
                    display_name,
                    avatar_url,
                    meeting_link,
                },
                password_hash,
            },
        )
        .await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(agent))
}

/// One agent of the account.
#[utoipa::path(tag = "agents", params(("id" = AgentId, Path)), responses(
    (status = 200, body = Agent),
    (status = 400, body = ErrorBody, description = "Malformed id"),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
#[get("/agents/{id}")]
async fn get_agent(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<AgentId>,
) -> ApiResult<web::Json<Agent>> {
    Ok(web::Json(
        state
            .store
            .get_agent(who.account(), id.into_inner())
            .await?,
    ))
}

/// Changes an agent: admins any field of others; an agent their own profile, preferences,
/// status and password.
#[utoipa::path(tag = "agents", params(("id" = AgentId, Path)), request_body = PatchAgentRequest,
    responses(
        (status = 200, body = Agent),
        (status = 400, body = ErrorBody, description = "Malformed JSON or id"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Not allowed to change this agent or field"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The email is taken"),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A field is invalid; `field` names it"),
    )
)]
#[patch("/agents/{id}")]
async fn update_agent(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<AgentId>,
    body: ApiJson<PatchAgentRequest>,
) -> ApiResult<web::Json<Agent>> {
    let id = id.into_inner();
    let target = state.store.get_agent(who.account(), id).await?;
    let itself = id == who.agent_id();
    let request = body.into_inner()?;

    if !who.is_admin() {
        if !itself {
            return Err(ApiError::forbidden("only admins may change other agents"));
        }
        let admin_only = [
            ("email", request.email.is_some()),
            ("role", request.role.is_some()),
            ("active", request.active.is_some()),
        ];
        if let Some((field, _)) = admin_only.into_iter().find(|(_, given)| *given) {
            return Err(
                ApiError::forbidden(format!("only admins may change {field}")).with_field(field),
            );
        }
    }
    // An admin who demoted or deactivated themself could leave the account without one.
    if itself && request.role.is_some_and(|role| role != target.role) {
        return Err(ApiError::invalid_field(
            "role",
            "you cannot change your own role; ask another admin",
        ));
    }
    if itself && request.active == Some(false) {
        return Err(ApiError::invalid_field(
            "active",
            "you cannot deactivate yourself; ask another admin",
        ));
    }

    let password_hash = match (request.password, request.current_password) {
        (Some(password), current) => {
            let password =
                Password::parse(&password).map_err(ApiError::from_invalid("password"))?;
            // Someone holding a stolen session must not be able to lock the owner out.
            if itself {
                let current = current.ok_or_else(|| {
                    ApiError::invalid_field(
                        "current_password",
                        "give your current password to set a new one",
                    )
                })?;
                check_current_password(&state, &target, current).await?;
            }
            Some(hash(password).await?)
        }
        (None, Some(_)) => {
            return Err(ApiError::invalid_field(
                "current_password",
                "current_password goes only with a new password",
            ));
        }
        (None, None) => None,
    };

    let patch = AgentPatch {
        email: request.email,
        role: request.role,
        display_name: request.display_name,
        avatar_url: request.avatar_url,
        meeting_link: request.meeting_link,
        notification_prefs: request.notification_prefs,
        status: request.status,
        active: request.active,
        password_hash,
    };
    let ends_sessions = patch.password_hash.is_some() || patch.active == Some(false);
    let status = patch.status;
    let agent = state.store.update_agent(who.account(), id, patch).await?;
    if let Some(status) = status {
        status_changed(&state, who.account(), id, status).await;
    }
    if ends_sessions {
        // A new password or a deactivation signs the agent out everywhere else; whoever made
        // the change on their own behalf stays signed in here.
        let keep = if itself {
            who.session_digest.as_deref()
        } else {
            None
        };
        state
            .store
            .delete_agent_sessions(who.account(), id, keep)
            .await?;
    }
    Ok(web::Json(agent))
}

/// Sets the caller's own status (the agent socket's `set_status`).
pub(crate) async fn set_own_status(
    state: &AppState,
    who: &Authenticated,
    status: AgentStatus,
) -> ApiResult<Agent> {
    let patch = AgentPatch {
        status: Some(status),
        ..AgentPatch::default()
    };
    let agent = state
        .store
        .update_agent(who.account(), who.agent_id(), patch)
        .await?;
    status_changed(state, who.account(), agent.id, status).await;
    Ok(agent)
}

/// A stored status change reaches presence (teammates see it on every node) and, when the
/// agent became available, routing: their inboxes' queues drain.
async fn status_changed(state: &AppState, account: AccountId, agent: AgentId, status: AgentStatus) {
    if let Err(e) = state.presence.set_status(account, agent, status).await {
        // Stored; the agent's sockets carry it to presence on their next heartbeat.
        tracing::warn!(error = %e, %agent, "presence did not take a status change");
    }
    if status == AgentStatus::Available {
        state.assignments.agent_can_take_work(account, agent);
    }
}

/// Deactivates an agent (admins): they can no longer sign in, and their sessions and API tokens
/// stop working; their history stays.
#[utoipa::path(tag = "agents", params(("id" = AgentId, Path)), responses(
    (status = 204, description = "Deactivated"),
    (status = 400, body = ErrorBody, description = "Malformed id"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not an admin"),
    (status = 404, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "An admin cannot deactivate themself"),
))]
#[delete("/agents/{id}")]
async fn deactivate_agent(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<AgentId>,
) -> ApiResult<HttpResponse> {
    who.require_admin()?;
    let id = id.into_inner();
    if id == who.agent_id() {
        return Err(ApiError::invalid_field(
            "id",
            "you cannot deactivate yourself; ask another admin",
        ));
    }
    let patch = AgentPatch {
        active: Some(false),
        ..AgentPatch::default()
    };
    state.store.update_agent(who.account(), id, patch).await?;
    state
        .store
        .delete_agent_sessions(who.account(), id, None)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Hashes on a blocking thread: argon2 is slow by design and would stall the worker.
async fn hash(password: Password) -> ApiResult<String> {
    web::block(move || auth::hash_password(&password))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))
}

/// Checks an agent's current password, spending a login attempt of their email so that a
/// stolen session cannot guess it faster than a login form could.
async fn check_current_password(state: &AppState, agent: &Agent, current: String) -> ApiResult<()> {
    if current.chars().count() > crate::domain::MAX_PASSWORD_CHARS {
        return Err(ApiError::invalid_field(
            "current_password",
            "the current password is wrong",
        ));
    }
    if state
        .login_limits
        .per_email
        .check_key(&agent.email.as_str().to_owned())
        .is_err()
    {
        return Err(ApiError::too_many_requests(
            "too many password attempts; wait a minute and try again",
        ));
    }
    let hash = state
        .store
        .find_login(&agent.email)
        .await?
        .map(|record| record.password_hash)
        .ok_or_else(|| ApiError::not_found("agent"))?;
    let matches = web::block(move || auth::verify_password(&current, &hash))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    if matches {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "current_password",
            "the current password is wrong",
        ))
    }
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_agents)
        .service(list_presence)
        .service(create_agent)
        .service(get_agent)
        .service(update_agent)
        .service(deactivate_agent);
}
