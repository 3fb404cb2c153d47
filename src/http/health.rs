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
    let bus = state.bus.health();
    let store = match state.store.ping().await {
        Ok(()) => "ok".to_owned(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: store unreachable");
            e.to_string()
        }
    };
    let ready = store == "ok" && bus.ready;
    let body = Readiness { ready, store, bus };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}
