//! Public routes of `form` channels: a page reads a form's fields to render it, and submits it.
//! Each accepted submission becomes a contact (reused by email), a conversation with the
//! submission as the contact's message, and a ticket, in one store transaction.
//!
//! Unauthenticated by nature: every call is rate limited per client IP, bodies and fields are
//! size-limited, the page's `Origin` must be one of the form's allowed origins when it lists any,
//! and a hidden honeypot field filled in gets the same answer as a real submission while
//! nothing is stored (a bot learns nothing from the answer). Mounted at `/api/v1/forms` with
//! the widget's open CORS: the handlers enforce origins themselves, with a clear 403.

use std::net::IpAddr;
use std::num::NonZeroU32;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use futures_util::StreamExt;
use governor::{DefaultKeyedRateLimiter, Quota};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::state::AppState;
use super::widget::origin_allowed;
use crate::actors::assignments::{announce, publish_item};
use crate::channels::forms::{Checked, HONEYPOT_FIELD, SubmissionError, check_submission};
use crate::channels::{ChannelSettings, FormSettings};
use crate::config::FormsSettings;
use crate::domain::{Channel, ChannelId, ChannelKind};

/// Per-client-IP limiters of the public form routes.
pub struct FormLimits {
    submissions: DefaultKeyedRateLimiter<IpAddr>,
    reads: DefaultKeyedRateLimiter<IpAddr>,
}

impl FormLimits {
    pub fn new(settings: &FormsSettings) -> Self {
        let per_minute = |n: u32| {
            DefaultKeyedRateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN),
            ))
        };
        Self {
            submissions: per_minute(settings.submissions_per_ip_per_minute),
            reads: per_minute(settings.reads_per_ip_per_minute),
        }
    }
}

/// What a page needs to render a form.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicForm {
    pub channel_id: ChannelId,
    /// The form's name (the channel's).
    pub name: String,
    /// In order: `name`, `label`, `kind` (text, email, phone, number, textarea, select),
    /// `required`, and `options` for a select.
    #[schema(value_type = Vec<Object>)]
    pub fields: Value,
    /// What to show after a submission, if the form has its own words.
    pub thank_you: Option<String>,
    /// The hidden field people never fill; send it empty (or leave it out).
    pub honeypot: &'static str,
}

/// The answer to a submission, the same whether it was stored or caught by the honeypot.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmissionReceived {
    /// Always `received`.
    pub status: &'static str,
    pub thank_you: Option<String>,
}

/// A form's fields, for rendering it on a page.
#[utoipa::path(tag = "forms", security(()), params(("id" = ChannelId, Path)), responses(
    (status = 200, body = PublicForm),
    (status = 400, body = ErrorBody, description = "Malformed id"),
    (status = 403, body = ErrorBody, description = "The page's origin is not allowed for this form (`origin_not_allowed`)"),
    (status = 404, body = ErrorBody, description = "No such form"),
    (status = 429, body = ErrorBody, description = "Too many requests from this address"),
))]
#[get("/{id}")]
async fn get_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<ChannelId>,
) -> ApiResult<web::Json<PublicForm>> {
    limit(&state.form_limits.reads, &req, "form requests")?;
    let (channel, form) = form_channel(&state, &req, id.into_inner()).await?;
    let fields = serde_json::to_value(&form.fields).map_err(|e| ApiError::internal(&e))?;
    Ok(web::Json(PublicForm {
        channel_id: channel.id,
        name: channel.name.as_str().to_owned(),
        fields,
        thank_you: form.thank_you.map(|t| t.as_str().to_owned()),
        honeypot: HONEYPOT_FIELD,
    }))
}

/// Submits a form: a JSON object or an `application/x-www-form-urlencoded` body of field name
/// to value. Stores the contact (reused by email), a conversation with the submission as its
/// first message, and a ticket, all or nothing.
#[utoipa::path(tag = "forms", security(()), params(("id" = ChannelId, Path)),
    request_body(content = Object, description = "Field name to value (text; numbers may be JSON numbers). Also accepted as application/x-www-form-urlencoded.", content_type = "application/json"),
    responses(
    (status = 201, body = SubmissionReceived, description = "Received (also answered when the honeypot was filled, storing nothing)"),
    (status = 400, body = ErrorBody, description = "The body is not a JSON object or a urlencoded form"),
    (status = 403, body = ErrorBody, description = "The page's origin is not allowed for this form (`origin_not_allowed`)"),
    (status = 404, body = ErrorBody, description = "No such form"),
    (status = 413, body = ErrorBody, description = "The body is larger than `forms.max_body_bytes`"),
    (status = 415, body = ErrorBody, description = "Neither JSON nor urlencoded"),
    (status = 422, body = ErrorBody, description = "A field is missing, unknown, too long or not of its kind; `field` names it"),
    (status = 429, body = ErrorBody, description = "Too many submissions from this address"),
))]
#[post("/{id}/submissions")]
async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<ChannelId>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    limit(&state.form_limits.submissions, &req, "form submissions")?;
    let (channel, form) = form_channel(&state, &req, id.into_inner()).await?;
    let body = read_limited(payload, state.settings.forms.max_body_bytes).await?;
    let input = parse_body(&req, &body)?;
    let checked = check_submission(
        channel.id,
        &channel.name,
        &form,
        input,
        state.settings.forms.max_field_chars,
    )
    .map_err(|e| match e {
        SubmissionError::Field { field, message } => ApiError::invalid_field(field, message),
        SubmissionError::TooLarge(message) => too_large(message),
    })?;
    let received = SubmissionReceived {
        status: "received",
        thank_you: form.thank_you.map(|t| t.as_str().to_owned()),
    };
    let submission = match checked {
        Checked::Accepted(submission) => *submission,
        Checked::Honeypot => {
            tracing::info!(channel = %channel.id, "form submission caught by the honeypot");
            return Ok(HttpResponse::build(StatusCode::CREATED).json(received));
        }
    };
    let stored = state
        .store
        .store_form_submission(channel.account_id, submission)
        .await?;
    announce(state.bus.as_ref(), &stored.conversation).await;
    publish_item(state.bus.as_ref(), &stored.item).await;
    // Routing may wait on the router; the person need not.
    let assignments = state.assignments.clone();
    let (account, conversation) = (channel.account_id, stored.conversation.id);
    actix_web::rt::spawn(async move { assignments.route(account, conversation).await });
    Ok(HttpResponse::build(StatusCode::CREATED).json(received))
}

fn limit(
    limiter: &DefaultKeyedRateLimiter<IpAddr>,
    req: &HttpRequest,
    what: &str,
) -> ApiResult<()> {
    match req.peer_addr().map(|a| a.ip()) {
        Some(ip) if limiter.check_key(&ip).is_err() => Err(ApiError::too_many_requests(format!(
            "too many {what} from this address; try again in a minute"
        ))),
        _ => Ok(()),
    }
}

/// The form channel `id` with its settings, when the page's origin may use it.
async fn form_channel(
    state: &AppState,
    req: &HttpRequest,
    id: ChannelId,
) -> ApiResult<(Channel, FormSettings)> {
    let channel = state
        .store
        .find_form_channel(id)
        .await?
        .ok_or_else(|| ApiError::not_found("form"))?;
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    if !origin_allowed(&channel.settings, origin) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            format!(
                "this page's origin ({}) is not an allowed origin of the form",
                origin.unwrap_or("none")
            ),
        ));
    }
    let form = match ChannelSettings::parse_new(ChannelKind::Form, &channel.settings) {
        Ok(ChannelSettings::Form(form)) => form,
        Ok(_) | Err(_) => {
            return Err(ApiError::internal(&format!(
                "stored settings of form {} do not parse",
                channel.id
            )));
        }
    };
    Ok((channel, form))
}

fn too_large(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
}

/// The body, refused with 413 as soon as it grows past `max` bytes.
async fn read_limited(mut payload: web::Payload, max: usize) -> ApiResult<web::Bytes> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request("bad_body", format!("reading the body: {e}")))?;
        if body.len() + chunk.len() > max {
            return Err(too_large(format!(
                "a form submission may be at most {max} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Field name to value, from a JSON object or a urlencoded form (a repeated name: last wins).
fn parse_body(req: &HttpRequest, body: &[u8]) -> ApiResult<Map<String, Value>> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match content_type.as_str() {
        "application/json" => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(ApiError::bad_request(
                "malformed_json",
                "send a JSON object of field name to value",
            )),
            Err(e) => Err(ApiError::bad_request(
                "malformed_json",
                format!("the body is not valid JSON: {e}"),
            )),
        },
        "application/x-www-form-urlencoded" => {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|e| {
                ApiError::bad_request(
                    "bad_form",
                    format!("the body is not a urlencoded form: {e}"),
                )
            })?;
            Ok(pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect())
        }
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json or application/x-www-form-urlencoded",
        )),
    }
}

/// The public form routes, mounted at `/api/v1/forms`.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_form).service(submit);
}
