//! What runs a job: one handler per kind.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::maintenance::Retention;
use super::{Job, JobArgs};
use crate::ports::{Clock, Database};

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobFailure {
    /// Worth another attempt (a dependency was down, a timeout): retried
    /// with backoff until the attempts run out.
    Retry(String),
    /// Will fail the same way every time: discarded at once.
    Discard(String),
}

impl JobFailure {
    pub fn message(&self) -> &str {
        match self {
            Self::Retry(message) | Self::Discard(message) => message,
        }
    }
}

/// Runs the jobs of one kind.
///
/// A job runs at least once: an attempt whose worker died is run again, so
/// a handler must be idempotent (doing it twice has the effect of once).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait JobHandler: Send + Sync {
    /// Runs one attempt.
    ///
    /// # Errors
    /// Why the attempt failed, and whether it is worth another.
    async fn run(&self, job: &Job) -> Result<(), JobFailure>;
}

/// The handler of each kind a runner knows.
#[derive(Clone, Default)]
pub struct JobHandlers(HashMap<String, Arc<dyn JobHandler>>);

impl JobHandlers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs jobs of `kind` with `handler` (replacing any earlier one).
    #[must_use]
    pub fn with(mut self, kind: &str, handler: Arc<dyn JobHandler>) -> Self {
        self.0.insert(kind.to_owned(), handler);
        self
    }

    pub fn get(&self, kind: &str) -> Option<&Arc<dyn JobHandler>> {
        self.0.get(kind)
    }

    /// The handlers every instance runs: the probe and the pruner.
    pub fn standard<D: Database>(db: Arc<D>, clock: Arc<dyn Clock>, retention: Retention) -> Self {
        Self::new()
            .with("probe", Arc::new(ProbeHandler))
            .with("prune", Arc::new(PruneHandler::new(db, clock, retention)))
    }
}

/// `probe`: sleeps for `sleep_ms`, failing its first `fail_attempts`
/// attempts on purpose, so operators (and tests) can watch the queue's
/// retries, rescues and throughput end to end.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProbeHandler;

#[async_trait]
impl JobHandler for ProbeHandler {
    async fn run(&self, job: &Job) -> Result<(), JobFailure> {
        let Some(JobArgs::Probe {
            sleep_ms,
            fail_attempts,
        }) = job.args
        else {
            return Err(JobFailure::Discard("not a probe job".to_owned()));
        };
        if sleep_ms > 0 {
            tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
        }
        let planned_failure = i64::from(job.attempt) <= i64::from(fail_attempts);
        if planned_failure {
            return Err(JobFailure::Retry(format!(
                "planned failure {} of {fail_attempts}",
                job.attempt
            )));
        }
        Ok(())
    }
}

/// `prune`: deletes finished jobs and change events past their retention.
pub struct PruneHandler<D> {
    db: Arc<D>,
    clock: Arc<dyn Clock>,
    retention: Retention,
}

impl<D: Database> PruneHandler<D> {
    pub fn new(db: Arc<D>, clock: Arc<dyn Clock>, retention: Retention) -> Self {
        Self {
            db,
            clock,
            retention,
        }
    }
}

#[async_trait]
impl<D: Database> JobHandler for PruneHandler<D> {
    async fn run(&self, _job: &Job) -> Result<(), JobFailure> {
        let report = super::service::prune(&*self.db, self.clock.now(), self.retention)
            .await
            .map_err(|error| JobFailure::Retry(error.to_string()))?;
        tracing::info!(
            jobs = report.jobs,
            events = report.events,
            tokens = report.tokens,
            "pruned finished jobs, old events and expired account tokens"
        );
        Ok(())
    }
}
