//! `/metrics`: the node's figures in the Prometheus text format (every metric is described in
//! docs/metrics.md). Served on the main listener when `[metrics] enabled`; with a `token`, only
//! to `Authorization: Bearer <token>`.
//!
//! Not part of the OpenAPI document: it is for a Prometheus server, not an API client, and
//! answers text, not JSON (as the socket endpoints, it is registered without a route macro).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::{ExposeSecret, SecretString};

use super::{ApiError, AppState};
use crate::auth::secrets_equal;
use crate::meters;

/// What the route needs besides the app state.
pub struct MetricsEndpoint {
    pub handle: PrometheusHandle,
    /// Empty: anyone who reaches the listener may scrape.
    pub token: SecretString,
}

/// The content type of the Prometheus text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Samples what is read on scrape (pool, outbox backlog), then renders every series.
async fn scrape(
    req: HttpRequest,
    state: web::Data<AppState>,
    endpoint: web::Data<MetricsEndpoint>,
) -> Result<HttpResponse, ApiError> {
    let token = endpoint.token.expose_secret();
    if !token.is_empty() {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !secrets_equal(given, token) {
            return Err(ApiError::unauthenticated(
                "send the metrics token: Authorization: Bearer <[metrics] token>",
            ));
        }
    }
    let pending = match state.store.count_pending_outbox().await {
        Ok(pending) => Some(pending),
        Err(e) => {
            // The figure keeps its last value; the rest of the scrape is still worth serving.
            tracing::warn!(error = %e, "metrics: outbox backlog not read");
            None
        }
    };
    meters::sample(state.store.pool_status(), pending);
    Ok(HttpResponse::Ok()
        .content_type(TEXT_FORMAT)
        .body(endpoint.handle.render()))
}

/// Registers `GET /metrics` with its endpoint data.
pub fn routes(cfg: &mut web::ServiceConfig, endpoint: web::Data<MetricsEndpoint>) {
    cfg.app_data(endpoint)
        .route("/metrics", web::get().to(scrape));
}
