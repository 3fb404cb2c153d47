//! `/healthz` (the process answers) and `/readyz` (the store answers; later also the bus).

use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use super::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    pub ready: bool,
    /// `ok`, or why the store cannot be used.
    pub store: String,
    pub bus: crate::bus::BusHealth,
}

/// The process is up.
#[utoipa::path(tag = "operations", security(()), responses((status = 200, description = "Up")))]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// The node can serve: its store answers and its bus is connected.
#[utoipa::path(tag = "operations", security(()), responses(
    (status = 200, body = Readiness, description = "Ready"),
    (status = 503, body = Readiness, description = "A dependency is down"),
))]
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(Readiness {
            ready: true,
            store: "ok".into(),
        }),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: store unreachable");
            HttpResponse::ServiceUnavailable().json(Readiness {
                ready: false,
                store: e.to_string(),
            })
        }
    }
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}
