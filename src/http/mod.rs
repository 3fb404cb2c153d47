//! The HTTP API: JSON under `/api/v1`, health endpoints, and the OpenAPI document.
//!
//! Every route is registered through `utoipa_actix_web`, so a handler without an
//! `#[utoipa::path]` does not compile into the app and the document at `/api/openapi.json`
//! always lists every route. One file per route family, each with a `routes` function.
//! Handlers parse input into domain types, check who may act, and call the store; they hold no
//! SQL and no business rules beyond permission checks.

pub mod error;
pub mod extract;
pub mod state;

pub(crate) mod agents;
pub mod assets;
mod auth;
mod channels;
mod contacts;
pub(crate) mod conversations;
mod embed;
pub mod forms;
mod health;
mod inboxes;
mod mail;
mod messenger;
pub mod metrics;
pub(crate) mod params;
mod reports;
mod teams;
mod tickets;
pub(crate) mod timeline;
pub mod widget;
pub mod widget_identity;

use actix_web::web;
use utoipa::OpenApi;
use utoipa_actix_web::service_config::ServiceConfig;

pub use error::{ApiError, ApiResult, ErrorBody};
pub use state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Parley API", description = "Self-hosted, real-time customer conversations."),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("cookie" = []))
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(extract::SESSION_COOKIE))),
        );
    }
}

/// Registers every API route (documented) on the app.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.configure(health::routes);
    // Before `/api/v1`: a scope takes every path under its prefix.
    cfg.service(
        utoipa_actix_web::scope("/api/v1/widget")
            .wrap(widget::cors())
            .configure(widget::routes)
            .configure(widget_identity::routes),
    );
    // Facebook calls these; they authenticate by verify token and body signature.
    cfg.service(utoipa_actix_web::scope("/webhooks").configure(messenger::routes));
    cfg.service(
        utoipa_actix_web::scope("/api/v1/forms")
            .wrap(widget::cors())
            .configure(forms::routes),
    );
    cfg.service(
        utoipa_actix_web::scope("/api/v1")
            .configure(auth::routes)
            .configure(agents::routes)
            .configure(teams::routes)
            .configure(inboxes::routes)
            .configure(channels::routes)
            .configure(contacts::routes)
            .configure(conversations::routes)
            .configure(timeline::routes)
            .configure(tickets::routes)
            .configure(reports::routes)
            .configure(mail::routes)
            .configure(embed::routes),
    );
}

/// Extractor settings shared by every route: body size limit and error shapes.
pub fn extractor_config(cfg: &mut web::ServiceConfig, max_body_bytes: usize) {
    cfg.app_data(web::PayloadConfig::new(max_body_bytes))
        .app_data(
            web::JsonConfig::default()
                .limit(max_body_bytes)
                .error_handler(extract::json_error),
        )
        .app_data(web::PathConfig::default().error_handler(extract::path_error))
        .app_data(web::QueryConfig::default().error_handler(extract::query_error));
}

/// Answers unknown routes with the shared error shape.
pub async fn not_found() -> actix_web::HttpResponse {
    use actix_web::ResponseError;
    ApiError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "no_route",
        "no such route; see /api/openapi.json",
    )
    .error_response()
}
