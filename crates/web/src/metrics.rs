//! Prometheus metrics: requests by route and status, their latency, requests
//! in flight, the database pool, and the job queue (jobs by queue and
//! state, the age of the oldest due job, attempts by outcome and their run
//! time). Served as text at `GET /metrics`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use conduit_application::health::HealthCheck;
use conduit_application::jobs::{JobObserver, QueueStats};
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Run-time buckets of job attempts, in seconds.
const JOB_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Latency buckets in seconds: fine below 10 ms, where the API should live.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0,
];

/// The process's metrics, shared by every worker.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
    pool: IntGaugeVec,
    rate_limited: IntCounterVec,
    jobs: IntGaugeVec,
    oldest_due: GaugeVec,
    attempts: IntCounterVec,
    job_seconds: HistogramVec,
}

impl Metrics {
    /// # Panics
    /// Never: the metric definitions are static and valid.
    #[expect(clippy::expect_used, reason = "static metric definitions cannot fail")]
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("conduit".to_owned()), None)
            .expect("a valid registry prefix");
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by route and status.",
            ),
            &["method", "route", "status"],
        )
        .expect("a valid counter");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from receiving a request to its response, by route and status.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route", "status"],
        )
        .expect("a valid histogram");
        let in_flight = IntGauge::new("http_requests_in_flight", "Requests being handled now.")
            .expect("a valid gauge");
        let pool = IntGaugeVec::new(
            Opts::new(
                "db_pool_connections",
                "Database pool connections, by state.",
            ),
            &["state"],
        )
        .expect("a valid gauge");
        let rate_limited = IntCounterVec::new(
            Opts::new("rate_limited_total", "Requests refused with 429, by limit."),
            &["limit"],
        )
        .expect("a valid counter");
        let jobs = IntGaugeVec::new(
            Opts::new(
                "jobs",
                "Pending and running jobs, by queue and state (sampled at each scrape).",
            ),
            &["queue", "state"],
        )
        .expect("a valid gauge");
        let oldest_due = GaugeVec::new(
            Opts::new(
                "job_oldest_due_seconds",
                "How long the oldest due, unclaimed job of each queue has waited.",
            ),
            &["queue"],
        )
        .expect("a valid gauge");
        let attempts = IntCounterVec::new(
            Opts::new(
                "job_attempts_total",
                "Job attempts run by this instance, by queue, kind and outcome \
                 (completed, retryable, discarded, released).",
            ),
            &["queue", "kind", "outcome"],
        )
        .expect("a valid counter");
        let job_seconds = HistogramVec::new(
            HistogramOpts::new(
                "job_run_seconds",
                "Run time of job attempts on this instance, by queue and kind.",
            )
            .buckets(JOB_BUCKETS.to_vec()),
            &["queue", "kind"],
        )
        .expect("a valid histogram");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(in_flight.clone()),
            Box::new(pool.clone()),
            Box::new(rate_limited.clone()),
            Box::new(jobs.clone()),
            Box::new(oldest_due.clone()),
            Box::new(attempts.clone()),
            Box::new(job_seconds.clone()),
        ] {
            registry.register(collector).expect("unique metric names");
        }
        Self {
            registry,
            requests,
            latency,
            in_flight,
            pool,
            rate_limited,
            jobs,
            oldest_due,
            attempts,
            job_seconds,
        }
    }

    /// Replaces the queue gauges with a sample taken at `now`.
    pub fn set_queue_stats(&self, stats: &[QueueStats], now: DateTime<Utc>) {
        self.jobs.reset();
        self.oldest_due.reset();
        for stat in stats {
            for (state, count) in [
                ("available", stat.available),
                ("scheduled", stat.scheduled),
                ("running", stat.running),
                ("retryable", stat.retryable),
            ] {
                self.jobs
                    .with_label_values(&[stat.queue.as_str(), state])
                    .set(i64::try_from(count).unwrap_or(i64::MAX));
            }
            let waited = stat.oldest_due.map_or(0.0, |due| {
                (now - due)
                    .to_std()
                    .map_or(0.0, |waited| waited.as_secs_f64())
            });
            self.oldest_due
                .with_label_values(&[stat.queue.as_str()])
                .set(waited);
        }
    }

    /// Marks a request as started; the guard marks it finished when dropped.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.inc();
        InFlight(Arc::clone(self))
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(seconds);
    }

    pub fn rate_limited(&self, limit: &str) {
        self.rate_limited.with_label_values(&[limit]).inc();
    }

    /// The text exposition format, with the pool sampled now.
    pub fn render(&self, health: &dyn HealthCheck) -> String {
        let usage = health.pool_usage();
        self.pool
            .with_label_values(&["max"])
            .set(i64::from(usage.size));
        self.pool
            .with_label_values(&["open"])
            .set(i64::from(usage.open));
        self.pool
            .with_label_values(&["idle"])
            .set(i64::from(usage.idle));
        self.pool
            .with_label_values(&["in_use"])
            .set(i64::from(usage.in_use()));
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(%error, "encoding metrics");
        }
        String::from_utf8_lossy(&buffer).into_owned()
    }
}

impl JobObserver for Metrics {
    fn attempt_finished(&self, queue: &str, kind: &str, outcome: &'static str, seconds: f64) {
        self.attempts
            .with_label_values(&[queue, kind, outcome])
            .inc();
        self.job_seconds
            .with_label_values(&[queue, kind])
            .observe(seconds);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Counts a request as in flight while alive.
pub struct InFlight(Arc<Metrics>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}
