//! Held mail: mail kept out of an inbox (failed imports, blocked senders, auto-replies,
//! bounces), for admins to review. Admins only: held mail may be anything anyone sent.

use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiResult, ErrorBody};
use super::extract::Authenticated;
use super::params::page_params;
use super::state::AppState;
use crate::domain::{HeldMail, InboxId};
use crate::store::Page;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HeldMailList {
    /// The `next` of the previous page.
    #[param(value_type = Option<String>, format = Uuid)]
    after: Option<String>,
    /// Rows per page, 1 to 200 (default 50).
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
}

/// Mail held out of an inbox, newest first, keyset paged.
#[utoipa::path(tag = "held mail", params(("id" = InboxId, Path), HeldMailList), responses(
    (status = 200, body = Page<HeldMail>),
    (status = 400, body = ErrorBody, description = "A parameter is malformed"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not an admin"),
    (status = 404, body = ErrorBody, description = "No such inbox"),
))]
#[get("/inboxes/{id}/held-mail")]
async fn list_held_mail(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<InboxId>,
    query: web::Query<HeldMailList>,
) -> ApiResult<web::Json<Page<HeldMail>>> {
    who.require_admin()?;
    let q = query.into_inner();
    let page = page_params(q.after.as_deref(), q.limit.as_deref())?;
    Ok(web::Json(
        state
            .store
            .list_held_mail(who.account(), id.into_inner(), page)
            .await?,
    ))
}

/// One held mail's details (the raw message is at `/raw`).
#[utoipa::path(tag = "held mail", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = HeldMail),
    (status = 400, body = ErrorBody, description = "The id is malformed"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not an admin"),
    (status = 404, body = ErrorBody),
))]
#[get("/held-mail/{id}")]
async fn get_held_mail(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
) -> ApiResult<web::Json<HeldMail>> {
    who.require_admin()?;
    let (held, _) = state
        .store
        .get_held_mail(who.account(), id.into_inner())
        .await?;
    Ok(web::Json(held))
}

/// The held message as received (`message/rfc822`), to download.
#[utoipa::path(tag = "held mail", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, content_type = "message/rfc822", body = Vec<u8>),
    (status = 400, body = ErrorBody, description = "The id is malformed"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not an admin"),
    (status = 404, body = ErrorBody),
))]
#[get("/held-mail/{id}/raw")]
async fn get_held_mail_raw(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
) -> ApiResult<HttpResponse> {
    who.require_admin()?;
    let id = id.into_inner();
    let (_, raw) = state.store.get_held_mail(who.account(), id).await?;
    Ok(HttpResponse::Ok()
        .content_type("message/rfc822")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"held-{id}.eml\""),
        ))
        .body(raw))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_held_mail)
        .service(get_held_mail)
        .service(get_held_mail_raw);
}
