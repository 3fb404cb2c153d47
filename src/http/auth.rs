//! Login, logout, the current agent, and API tokens.
//!
//! Login answers with a session token (for API clients, as `Authorization: Bearer`) and sets it
//! as an HttpOnly cookie for the browser; the CSRF token in the answer must accompany every
//! cookie-authenticated write. Attempts are rate limited per client IP and per email.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, Authenticated, SESSION_COOKIE};
use super::state::AppState;
use crate::auth;
use crate::domain::{Agent, ApiToken, ApiTokenId, EmailAddress, Name, Session};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Session token: send as `Authorization: Bearer TOKEN`, or rely on the cookie.
    pub token: String,
    /// Send in `X-CSRF-Token` on cookie-authenticated writes.
    pub csrf_token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub agent: Agent,
}

/// Logs an agent in.
#[utoipa::path(tag = "auth", security(()), request_body = LoginRequest, responses(
    (status = 200, body = LoginResponse),
    (status = 401, body = ErrorBody, description = "Wrong email or password"),
    (status = 429, body = ErrorBody, description = "Too many attempts"),
))]
#[post("/auth/login")]
async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let LoginRequest { email, password } = body.into_inner()?;
    let email = EmailAddress::parse(&email).map_err(ApiError::from_invalid("email"))?;
    if password.is_empty() {
        return Err(ApiError::invalid_field(
            "password",
            "password must not be empty",
        ));
    }
    if password.chars().count() > crate::domain::MAX_PASSWORD_CHARS {
        return Err(ApiError::invalid_field("password", "password is too long"));
    }

    let ip = req.peer_addr().map(|a| a.ip());
    let limits = &state.login_limits;
    let ip_limited = ip.is_some_and(|ip| limits.per_ip.check_key(&ip).is_err());
    if ip_limited
        || limits
            .per_email
            .check_key(&email.as_str().to_owned())
            .is_err()
    {
        return Err(ApiError::too_many_requests(
            "too many login attempts; wait a minute and try again",
        ));
    }

    let record = state.store.find_login(&email).await?;
    let hash = record.as_ref().map_or_else(
        || auth::decoy_hash().to_owned(),
        |r| r.password_hash.clone(),
    );
    let matches = web::block(move || auth::verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let agent = match record {
        Some(r) if matches && r.agent.active => r.agent,
        _ => return Err(ApiError::unauthenticated("wrong email or password")),
    };

    let (token, token_hash) =
        auth::new_token(auth::SESSION_TOKEN_PREFIX).map_err(|e| ApiError::internal(&e))?;
    let csrf_token = auth::random_hex().map_err(|e| ApiError::internal(&e))?;
    let ttl = Duration::hours(i64::from(state.settings.auth.session_ttl_hours));
    let expires_at = OffsetDateTime::now_utc() + ttl;
    state
        .store
        .create_session(Session {
            token_hash,
            account_id: agent.account_id,
            agent_id: agent.id,
            csrf_token: csrf_token.clone(),
            expires_at,
        })
        .await?;

    let cookie = Cookie::build(SESSION_COOKIE, token.clone())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.http.cookie_secure)
        .max_age(actix_web::cookie::time::Duration::seconds(
            ttl.whole_seconds(),
        ))
        .finish();
    Ok(HttpResponse::Ok().cookie(cookie).json(LoginResponse {
        token,
        csrf_token,
        expires_at,
        agent,
    }))
}

/// Ends the caller's session (cookie or bearer session token).
#[utoipa::path(tag = "auth", responses(
    (status = 204, description = "Logged out"),
    (status = 401, body = ErrorBody),
))]
#[post("/auth/logout")]
async fn logout(state: web::Data<AppState>, who: Authenticated) -> ApiResult<HttpResponse> {
    if let Some(digest) = &who.session_digest {
        state.store.delete_session(digest).await?;
    }
    let mut expired = Cookie::build(SESSION_COOKIE, "")
        .path("/")
        .http_only(true)
        .finish();
    expired.make_removal();
    Ok(HttpResponse::NoContent().cookie(expired).finish())
}

/// The agent making the request.
#[utoipa::path(tag = "auth", responses((status = 200, body = Agent), (status = 401, body = ErrorBody)))]
#[get("/auth/me")]
async fn me(who: Authenticated) -> web::Json<Agent> {
    web::Json(who.agent)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiTokenRequest {
    /// What the token is for, e.g. "CRM sync".
    pub name: Name,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewApiTokenResponse {
    /// Shown once; Parley keeps only its digest.
    pub token: String,
    pub api_token: ApiToken,
}

/// Creates an API token acting as the caller.
#[utoipa::path(tag = "auth", request_body = NewApiTokenRequest, responses(
    (status = 201, body = NewApiTokenResponse),
    (status = 401, body = ErrorBody),
    (status = 422, body = ErrorBody),
))]
#[post("/auth/api-tokens")]
async fn create_api_token(
    state: web::Data<AppState>,
    who: Authenticated,
    body: ApiJson<NewApiTokenRequest>,
) -> ApiResult<HttpResponse> {
    let (token, digest) =
        auth::new_token(auth::API_TOKEN_PREFIX).map_err(|e| ApiError::internal(&e))?;
    let api_token = state
        .store
        .create_api_token(
            who.account(),
            who.agent_id(),
            body.into_inner()?.name,
            digest,
        )
        .await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(NewApiTokenResponse { token, api_token }))
}

/// The caller's API tokens (never the tokens themselves).
#[utoipa::path(tag = "auth", responses((status = 200, body = Vec<ApiToken>), (status = 401, body = ErrorBody)))]
#[get("/auth/api-tokens")]
async fn list_api_tokens(
    state: web::Data<AppState>,
    who: Authenticated,
) -> ApiResult<web::Json<Vec<ApiToken>>> {
    Ok(web::Json(
        state
            .store
            .list_api_tokens(who.account(), who.agent_id())
            .await?,
    ))
}

/// Revokes one of the caller's API tokens (admins may revoke any in their account).
#[utoipa::path(tag = "auth", params(("id" = ApiTokenId, Path)), responses(
    (status = 204, description = "Revoked"),
    (status = 404, body = ErrorBody),
))]
#[delete("/auth/api-tokens/{id}")]
async fn delete_api_token(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<ApiTokenId>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    if !who.is_admin() {
        let own = state
            .store
            .list_api_tokens(who.account(), who.agent_id())
            .await?;
        if !own.iter().any(|t| t.id == id) {
            return Err(ApiError::not_found("API token"));
        }
    }
    state.store.delete_api_token(who.account(), id).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(login)
        .service(logout)
        .service(me)
        .service(create_api_token)
        .service(list_api_tokens)
        .service(delete_api_token);
}
