//! The embed snippet of a chat channel (the one `<script>` line that puts its widget on a
//! website) or of a form channel (a `<div>` the form renders into, and its script), for the
//! channel's inbox members. The public routes are in `widget` and `forms`.

use actix_web::{HttpRequest, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::Authenticated;
use super::state::AppState;
use crate::domain::{ChannelId, ChannelKind};
use crate::store::StoreError;

#[derive(Debug, Serialize, ToSchema)]
pub struct EmbedResponse {
    /// One line of HTML for the site's pages, before `</body>`.
    pub snippet: String,
    /// Where the loader is served.
    pub loader_url: String,
}

/// The one-line `<script>` tag that puts a chat channel's widget on a website, or for a form
/// channel the `<div>` and `<script>` that render the form. Uses
/// `http.public_url`, or the address this request reached Parley at.
#[utoipa::path(tag = "widget", params(("id" = ChannelId, Path)), responses(
    (status = 200, body = EmbedResponse),
    (status = 400, body = ErrorBody, description = "Malformed id"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not a member of the channel's inbox"),
    (status = 404, body = ErrorBody, description = "No such chat or form channel"),
))]
#[get("/channels/{id}/embed")]
async fn embed(
    state: web::Data<AppState>,
    who: Authenticated,
    req: HttpRequest,
    id: web::Path<ChannelId>,
) -> ApiResult<web::Json<EmbedResponse>> {
    let channel = match state
        .store
        .get_channel(who.account(), id.into_inner())
        .await
    {
        Ok(c) if matches!(c.kind, ChannelKind::Chat | ChannelKind::Form) => c,
        Ok(_) | Err(StoreError::NotFound { .. }) => {
            return Err(ApiError::not_found("chat or form channel"));
        }
        Err(e) => return Err(e.into()),
    };
    who.require_inbox(&state, channel.inbox_id).await?;
    let base = public_base(&state, &req);
    if channel.kind == ChannelKind::Form {
        // The form renders into the `<div>` that names it, wherever the site puts it.
        let loader_url = format!("{base}/widget/form.js");
        let snippet = format!(
            r#"<div data-parley-form="{id}"></div>
<script src="{loader_url}" data-parley-form="{id}" async></script>"#,
            id = channel.id
        );
        return Ok(web::Json(EmbedResponse {
            snippet,
            loader_url,
        }));
    }
    let loader_url = format!("{base}/widget/loader.js");
    let snippet = format!(
        r#"<script src="{loader_url}" data-account="{}" data-channel="{}" async></script>"#,
        channel.account_id, channel.id
    );
    Ok(web::Json(EmbedResponse {
        snippet,
        loader_url,
    }))
}

/// `http.public_url`, or the address this request reached Parley at.
fn public_base(state: &AppState, req: &HttpRequest) -> String {
    match state.settings.http.public_url.trim_end_matches('/') {
        "" => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
        configured => configured.to_owned(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookResponse {
    /// The callback URL to paste into the Facebook app's Messenger webhook settings.
    pub webhook_url: String,
}

/// The webhook URL of a Messenger channel, as Facebook must call it. Uses `http.public_url`,
/// or the address this request reached Parley at.
#[utoipa::path(tag = "channels", params(("id" = ChannelId, Path)), responses(
    (status = 200, body = WebhookResponse),
    (status = 400, body = ErrorBody, description = "Malformed id"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not a member of the channel's inbox"),
    (status = 404, body = ErrorBody, description = "No such Messenger channel"),
))]
#[get("/channels/{id}/webhook")]
async fn webhook(
    state: web::Data<AppState>,
    who: Authenticated,
    req: HttpRequest,
    id: web::Path<ChannelId>,
) -> ApiResult<web::Json<WebhookResponse>> {
    let channel = match state
        .store
        .get_channel(who.account(), id.into_inner())
        .await
    {
        Ok(c) if c.kind == ChannelKind::Messenger => c,
        Ok(_) | Err(StoreError::NotFound { .. }) => {
            return Err(ApiError::not_found("Messenger channel"));
        }
        Err(e) => return Err(e.into()),
    };
    who.require_inbox(&state, channel.inbox_id).await?;
    let base = public_base(&state, &req);
    // One callback URL serves every page: events name their page id (docs/channels-outbox.md).
    Ok(web::Json(WebhookResponse {
        webhook_url: format!("{base}/webhooks/messenger"),
    }))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(embed).service(webhook);
}
