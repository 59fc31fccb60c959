//! Operations endpoints: liveness, readiness and metrics.

use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::Data;
use conduit_application::health::HealthCheck;
use serde::Serialize;
use utoipa::ToSchema;

use crate::WebState;
use crate::error::{ApiError, Unavailable};

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthStatus {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The process is up and answering.
#[utoipa::path(
    get,
    path = "/health/live",
    operation_id = "Live",
    tag = "Operations",
    responses((status = 200, description = "Alive", body = HealthStatus))
)]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus { status: "ok" })
}

/// The instance can serve: its database answers in time.
#[utoipa::path(
    get,
    path = "/health/ready",
    operation_id = "Ready",
    tag = "Operations",
    responses((status = 200, description = "Ready", body = HealthStatus), Unavailable)
)]
pub async fn ready(
    health: Data<dyn HealthCheck>,
    state: Data<WebState>,
) -> Result<HttpResponse, ApiError> {
    health
        .database_ready(state.settings.readiness_timeout)
        .await?;
    Ok(HttpResponse::Ok().json(HealthStatus { status: "ready" }))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "Metrics",
    tag = "Operations",
    responses((status = 200, description = "Metrics", body = String, content_type = "text/plain"))
)]
pub async fn metrics(health: Data<dyn HealthCheck>, state: Data<WebState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .body(state.metrics.render(health.get_ref()))
}
