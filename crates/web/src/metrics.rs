//! Prometheus metrics: requests by route and status, their latency, requests
//! in flight, and the database pool. Served as text at `GET /metrics`.

use std::sync::Arc;

use conduit_application::health::HealthCheck;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

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
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(in_flight.clone()),
            Box::new(pool.clone()),
            Box::new(rate_limited.clone()),
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
