//! Operations endpoints: liveness, readiness and metrics.

use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::Data;
use conduit_application::health::HealthCheck;
use conduit_application::jobs::JobUseCases;
use serde::Serialize;
use utoipa::ToSchema;

use crate::WebState;
use crate::error::{ApiError, NotModified, Unavailable};

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
    responses((status = 200, description = "Alive", body = HealthStatus), NotModified)
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
    responses((status = 200, description = "Ready", body = HealthStatus), NotModified, Unavailable)
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
pub async fn metrics(
    health: Data<dyn HealthCheck>,
    jobs: Data<dyn JobUseCases>,
    state: Data<WebState>,
) -> HttpResponse {
    // The queue's gauges are sampled now; a database that does not answer
    // leaves them as last sampled rather than failing the scrape.
    match jobs.stats().await {
        Ok(stats) => state.metrics.set_queue_stats(&stats, chrono::Utc::now()),
        Err(error) => tracing::warn!(%error, "sampling the job queue for metrics failed"),
    }
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .body(state.metrics.render(health.get_ref()))
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::test::TestRequest;
    use conduit_application::AppError;
    use conduit_application::error::Cause;
    use conduit_application::health::PoolUsage;
    use conduit_application::jobs::QueueStats;

    use crate::test_support::Mocks;

    #[actix_web::test]
    async fn readiness_is_503_with_retry_after_when_the_database_does_not_answer() {
        let mut mocks = Mocks::anonymous();
        mocks.health.expect_database_ready().returning(|_| {
            Err(AppError::Unavailable(Cause::from(
                "connection refused to 10.0.0.5:5432",
            )))
        });
        let reply = mocks.send(TestRequest::get().uri("/health/ready")).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.header("retry-after"), Some("1"));
        assert!(!reply.text.contains("10.0.0.5"), "{}", reply.text);
        assert_eq!(
            reply.body,
            serde_json::json!({"errors": {"service": ["is temporarily unavailable, try again"]}})
        );
    }

    #[actix_web::test]
    async fn readiness_is_200_when_the_database_answers() {
        let mut mocks = Mocks::anonymous();
        mocks
            .health
            .expect_database_ready()
            .times(1)
            .returning(|_| Ok(()));
        let reply = mocks.send(TestRequest::get().uri("/health/ready")).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, serde_json::json!({"status": "ready"}));
    }

    #[actix_web::test]
    async fn metrics_report_the_pool() {
        let mut mocks = Mocks::anonymous();
        mocks.health.expect_pool_usage().returning(|| PoolUsage {
            size: 8,
            open: 5,
            idle: 2,
        });
        mocks.jobs.expect_stats().returning(|| Ok(Vec::new()));
        let reply = mocks.send(TestRequest::get().uri("/metrics")).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(
            reply
                .text
                .contains("conduit_db_pool_connections{state=\"in_use\"} 3"),
            "{}",
            reply.text
        );
        assert!(
            reply
                .text
                .contains("conduit_db_pool_connections{state=\"max\"} 8")
        );
    }

    #[actix_web::test]
    async fn metrics_sample_the_job_queue_at_each_scrape() {
        let mut mocks = Mocks::anonymous();
        mocks
            .health
            .expect_pool_usage()
            .returning(PoolUsage::default);
        mocks.jobs.expect_stats().times(1).returning(|| {
            Ok(vec![QueueStats {
                queue: "default".to_owned(),
                available: 3,
                scheduled: 1,
                running: 2,
                retryable: 0,
                oldest_due: Some(chrono::Utc::now() - chrono::Duration::seconds(90)),
            }])
        });
        let reply = mocks.send(TestRequest::get().uri("/metrics")).await;
        for line in [
            "conduit_jobs{queue=\"default\",state=\"available\"} 3",
            "conduit_jobs{queue=\"default\",state=\"scheduled\"} 1",
            "conduit_jobs{queue=\"default\",state=\"running\"} 2",
            "conduit_jobs{queue=\"default\",state=\"retryable\"} 0",
        ] {
            assert!(reply.text.contains(line), "{line} in {}", reply.text);
        }
        let waited: f64 = reply
            .text
            .lines()
            .find_map(|line| {
                line.strip_prefix("conduit_job_oldest_due_seconds{queue=\"default\"} ")
            })
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("{}", reply.text));
        assert!((89.0..120.0).contains(&waited), "{waited}");
    }

    #[actix_web::test]
    async fn metrics_on_their_own_listener_are_not_on_the_api_one() {
        let mocks = Mocks::anonymous();
        let reply = mocks
            .send_with(
                crate::HttpSettings {
                    separate_metrics: true,
                    ..crate::HttpSettings::default()
                },
                TestRequest::get().uri("/metrics"),
            )
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
    }
}
