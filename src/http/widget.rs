//! Public routes for the website widget: a browser becomes a visitor of a chat channel and gets
//! the visitor token it keeps (and sends on `/ws/visitor`).
//!
//! Unauthenticated by nature, so every call is rate limited per client IP, and the page's
//! `Origin` must be one of the channel's allowed origins when the channel lists any.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiJson;
use super::state::AppState;
use crate::auth;
use crate::domain::{AccountId, Channel, ChannelId, ChannelKind, Visitor};
use crate::store::StoreError;

/// Prefix of visitor tokens, so a leaked token says what it is.
pub const VISITOR_TOKEN_PREFIX: &str = "plv_";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVisitorRequest {
    /// From the channel's embed snippet.
    pub account_id: AccountId,
    pub channel_id: ChannelId,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewVisitorResponse {
    /// Keep it in the browser; Parley stores only its digest.
    pub token: String,
    pub visitor: Visitor,
}

/// Makes the browser a visitor of a chat channel (an anonymous contact until they give an email).
#[utoipa::path(tag = "widget", security(()), request_body = NewVisitorRequest, responses(
    (status = 201, body = NewVisitorResponse),
    (status = 400, body = ErrorBody, description = "Malformed JSON"),
    (status = 403, body = ErrorBody, description = "The page's origin is not allowed for this channel"),
    (status = 404, body = ErrorBody, description = "No such chat channel"),
    (status = 422, body = ErrorBody),
    (status = 429, body = ErrorBody, description = "Too many visitors from this address"),
))]
#[post("/visitors")]
async fn create_visitor(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<NewVisitorRequest>,
) -> ApiResult<HttpResponse> {
    if let Some(ip) = req.peer_addr().map(|a| a.ip())
        && state.visitor_limits.check_key(&ip).is_err()
    {
        return Err(ApiError::too_many_requests(
            "too many new visitors from this address; try again in a minute",
        ));
    }
    let NewVisitorRequest {
        account_id,
        channel_id,
    } = body.into_inner()?;
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    widget_channel(&state, account_id, channel_id, origin).await?;
    let (token, digest) =
        auth::new_token(VISITOR_TOKEN_PREFIX).map_err(|e| ApiError::internal(&e))?;
    let visitor = state
        .store
        .create_visitor(account_id, channel_id, digest)
        .await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(NewVisitorResponse { token, visitor }))
}

/// The chat channel a widget talks to, when the page's `origin` is allowed on it: 404 for no
/// such chat channel, 403 `origin_not_allowed` for another page. Shared by `/ws/visitor`.
pub(crate) async fn widget_channel(
    state: &AppState,
    account_id: AccountId,
    channel_id: ChannelId,
    origin: Option<&str>,
) -> ApiResult<Channel> {
    let channel = state
        .store
        .get_channel(account_id, channel_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound { .. } => ApiError::not_found("chat channel"),
            other => other.into(),
        })?;
    if channel.kind != ChannelKind::Chat {
        return Err(ApiError::not_found("chat channel"));
    }
    if !origin_allowed(&channel.settings, origin) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            format!(
                "this page's origin ({}) is not an allowed origin of the channel",
                origin.unwrap_or("none")
            ),
        ));
    }
    Ok(channel)
}

/// A channel with no allowed origins accepts any page; otherwise the browser's `Origin` must be
/// listed. Requests without `Origin` (not from a browser page) are accepted: origins protect
/// browsers, and a script can send any header it likes.
pub fn origin_allowed(
    settings: &serde_json::Map<String, serde_json::Value>,
    origin: Option<&str>,
) -> bool {
    let allowed: Vec<&str> = settings
        .get("allowed_origins")
        .and_then(|v| v.as_array())
        .map(|list| list.iter().filter_map(|o| o.as_str()).collect())
        .unwrap_or_default();
    match origin {
        _ if allowed.is_empty() => true,
        None => true,
        Some(origin) => allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)),
    }
}

/// The public widget routes, mounted at `/api/v1/widget` with CORS open to any page: each
/// handler checks the page's origin against the channel itself.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_visitor);
}

/// CORS for the public widget routes: any origin may ask (the channel's allowed origins are
/// enforced by the handlers, with a clear 403), JSON bodies, no cookies.
pub fn cors() -> actix_cors::Cors {
    actix_cors::Cors::default()
        .allow_any_origin()
        .allowed_methods(["GET", "POST"])
        .allowed_header(header::CONTENT_TYPE)
        .max_age(3600)
}
