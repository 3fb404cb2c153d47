//! Public routes for the website widget: a browser becomes a visitor of a chat channel and gets
//! the visitor token it keeps (and sends on `/ws/visitor`).
//!
//! Unauthenticated by nature, so every call is rate limited per client IP, and the page's
//! `Origin` must be one of the channel's allowed origins when the channel lists any.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiJson;
use super::params::{bool_param, id_param, invalid_query};
use super::state::AppState;
use crate::auth;
use crate::chatflows::{self, Availability, AvailabilityStatus, Branding, PageContext};
use crate::domain::{
    AccountId, Channel, ChannelId, ChannelKind, ChatflowId, ChatflowKind, Visitor,
};
use crate::store::StoreError;

/// Prefix of visitor tokens, so a leaked token says what it is.
pub const VISITOR_TOKEN_PREFIX: &str = "plv_";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVisitorRequest {
    /// From the channel's embed snippet.
    pub account_id: AccountId,
    pub channel_id: ChannelId,
    /// Who the host site says the visitor is, signed with the channel's identity secret
    /// (docs/api.md "Widget identity"). Required when the channel requires verification.
    #[serde(default)]
    pub identity: Option<super::widget_identity::IdentityClaim>,
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
    (status = 403, body = ErrorBody, description = "The page's origin is not allowed for this channel (`origin_not_allowed`), the identity's hash is wrong (`identity_invalid`), or the channel requires an identity and none came (`identity_required`)"),
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
        identity,
    } = body.into_inner()?;
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    let channel = widget_channel(&state, account_id, channel_id, origin).await?;
    let identity = super::widget_identity::verified_identity(&channel, identity)?;
    let (token, digest) =
        auth::new_token(VISITOR_TOKEN_PREFIX).map_err(|e| ApiError::internal(&e))?;
    let visitor = match identity {
        None => {
            state
                .store
                .create_visitor(account_id, channel_id, digest)
                .await?
        }
        // Another device of the same person: their visitors share the contact and its history.
        Some(identity) => {
            state
                .store
                .create_identified_visitor(account_id, channel_id, digest, identity)
                .await?
                .0
        }
    };
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChatflowQuery {
    /// From the embed snippet.
    account_id: Option<String>,
    channel_id: Option<String>,
    /// The page's full URL, as the browser has it (its query parameters count for targeting).
    url: Option<String>,
    /// `document.referrer`, when there is one.
    referrer: Option<String>,
    /// `true` when the browser already holds a visitor token of this channel.
    returning: Option<String>,
}

/// What the widget shows on a page: the chatflow targeting it, its branding and whether the
/// team is available now.
#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetChatflow {
    pub chatflow_id: ChatflowId,
    pub kind: ChatflowKind,
    #[schema(value_type = Object)]
    pub branding: Branding,
    pub availability: WidgetAvailability,
}

/// `open` (with how fast replies typically come) or `away` (with the away message; the widget
/// asks for an email).
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum WidgetAvailability {
    Open {
        /// A phrase such as "a few minutes".
        typically_replies_in: &'static str,
    },
    Away {
        message: String,
        /// When office hours begin again, if ever.
        #[serde(with = "time::serde::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        next_open: Option<time::OffsetDateTime>,
    },
}

/// Longest page URL or referrer accepted, in bytes (browsers' practical limit is lower).
const MAX_PAGE_URL_BYTES: usize = 8192;

/// The chatflow for a page: the first enabled chatflow of the channel whose targeting matches
/// (by priority), or 204 when none does: then the page shows no widget.
#[utoipa::path(tag = "widget", security(()), params(ChatflowQuery), responses(
    (status = 200, body = WidgetChatflow),
    (status = 204, description = "No chatflow targets this page: show no widget"),
    (status = 400, body = ErrorBody, description = "A query parameter is missing or malformed"),
    (status = 403, body = ErrorBody, description = "The page's origin is not allowed for this channel"),
    (status = 404, body = ErrorBody, description = "No such chat channel"),
    (status = 429, body = ErrorBody, description = "Too many requests from this address"),
))]
#[get("/chatflow")]
async fn chatflow_for_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ChatflowQuery>,
) -> ApiResult<HttpResponse> {
    if let Some(ip) = req.peer_addr().map(|a| a.ip())
        && state.widget_limits.check_key(&ip).is_err()
    {
        return Err(ApiError::too_many_requests(
            "too many widget requests from this address; try again in a minute",
        ));
    }
    let account: AccountId = required("account_id", query.account_id.as_deref())?;
    let channel: ChannelId = required("channel_id", query.channel_id.as_deref())?;
    let url = page_url("url", query.url.as_deref())?
        .ok_or_else(|| invalid_query("url", "required: the page's URL"))?;
    let referrer = page_url("referrer", query.referrer.as_deref())?;
    let returning = bool_param("returning", query.returning.as_deref())?.unwrap_or(false);
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    widget_channel(&state, account, channel, origin).await?;

    let page = PageContext {
        query: page_query(&url),
        url,
        referrer,
        returning,
    };
    let chatflows = state.store.list_chatflows(account, channel).await?;
    let Some(chatflow) = chatflows::select(&chatflows, &page) else {
        return Ok(HttpResponse::NoContent().finish());
    };
    // Stored shapes were checked when saved; a shape a later version no longer reads falls
    // back to the defaults rather than hiding the widget.
    let branding = Branding::parse(&chatflow.branding).unwrap_or_default();
    let availability = match Availability::parse(&chatflow.availability) {
        Ok(a) => a.status_at(time::OffsetDateTime::now_utc()),
        Err(e) => {
            tracing::warn!(chatflow = %chatflow.id, error = %e, "stored availability does not parse");
            Availability::default().status_at(time::OffsetDateTime::now_utc())
        }
    };
    let availability = match availability {
        AvailabilityStatus::Open {
            typically_replies_in,
        } => WidgetAvailability::Open {
            typically_replies_in: typically_replies_in.phrase(),
        },
        AvailabilityStatus::Away { message, next_open } => {
            WidgetAvailability::Away { message, next_open }
        }
    };
    Ok(HttpResponse::Ok().json(WidgetChatflow {
        chatflow_id: chatflow.id,
        kind: chatflow.kind,
        branding,
        availability,
    }))
}

fn required<T>(field: &str, raw: Option<&str>) -> ApiResult<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    id_param(field, raw)?.ok_or_else(|| invalid_query(field, "required (from the embed snippet)"))
}

/// An absolute http(s) URL of a page, or `None` when absent or empty.
fn page_url(field: &str, raw: Option<&str>) -> ApiResult<Option<String>> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if raw.len() > MAX_PAGE_URL_BYTES {
        return Err(invalid_query(
            field,
            format!("at most {MAX_PAGE_URL_BYTES} bytes"),
        ));
    }
    if !(raw.starts_with("https://") || raw.starts_with("http://")) {
        return Err(invalid_query(field, "must be an http or https URL"));
    }
    Ok(Some(raw.to_owned()))
}

/// The query parameters of a page URL, decoded, in order (a malformed pair is skipped: a page's
/// own query is not Parley's input to judge).
fn page_query(url: &str) -> Vec<(String, String)> {
    let without_fragment = url.split('#').next().unwrap_or_default();
    let Some((_, query)) = without_fragment.split_once('?') else {
        return Vec::new();
    };
    serde_urlencoded::from_str(query).unwrap_or_default()
}

/// The public widget routes, mounted at `/api/v1/widget` with CORS open to any page: each
/// handler checks the page's origin against the channel itself.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_visitor).service(chatflow_for_page);
}

/// CORS for the public widget routes: any origin may ask (the channel's allowed origins are
/// enforced by the handlers, with a clear 403), JSON bodies, no cookies.
pub fn cors() -> actix_cors::Cors {
    actix_cors::Cors::default()
        .allow_any_origin()
        .allowed_methods(["GET", "POST"])
        .allowed_header(header::CONTENT_TYPE)
        // The visitor token, on the routes a visitor calls (e.g. giving an email).
        .allowed_header(header::AUTHORIZATION)
        .max_age(3600)
}
