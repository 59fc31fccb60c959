//! What operators do with the queue (`conduit jobs …`, and the metrics).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::maintenance::Retention;
use super::{Job, JobArgs, JobFilter, JobId, NewJob, QueueStats};
use crate::error::{AppError, FieldErrors};
use crate::ports::{Clock, Database};

/// What a prune deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub jobs: u64,
    pub events: u64,
}

/// Probe jobs to enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub count: usize,
    /// How long each sleeps.
    pub sleep: Duration,
    /// How many attempts of each fail on purpose.
    pub fail_attempts: u32,
    pub max_attempts: i32,
}

impl Default for Probe {
    fn default() -> Self {
        Self {
            count: 1,
            sleep: Duration::ZERO,
            fail_attempts: 0,
            max_attempts: super::DEFAULT_MAX_ATTEMPTS,
        }
    }
}

/// The job use cases, as operators see them.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait JobUseCases: Send + Sync {
    async fn list(&self, filter: JobFilter) -> Result<Vec<Job>, AppError>;
    async fn show(&self, id: i64) -> Result<Job, AppError>;
    /// Runs a job that is not running again, now, with one more attempt if
    /// it had used them all.
    async fn retry(&self, id: i64) -> Result<Job, AppError>;
    /// Stops a job that has not finished; a running one stops at its
    /// worker's next heartbeat.
    async fn cancel(&self, id: i64) -> Result<Job, AppError>;
    /// Deletes finished jobs and events past their retention, now.
    async fn prune(&self) -> Result<PruneReport, AppError>;
    async fn stats(&self) -> Result<Vec<QueueStats>, AppError>;
    /// Enqueues `count` probe jobs (see `JobArgs::Probe`), in one transaction.
    async fn probe(&self, probe: Probe) -> Result<Vec<JobId>, AppError>;
}

pub struct JobService<D> {
    db: Arc<D>,
    clock: Arc<dyn Clock>,
    retention: Retention,
}

impl<D: Database> JobService<D> {
    pub fn new(db: Arc<D>, clock: Arc<dyn Clock>, retention: Retention) -> Self {
        Self {
            db,
            clock,
            retention,
        }
    }
}

fn not_found() -> AppError {
    AppError::NotFound("job")
}

fn before(now: DateTime<Utc>, age: Duration) -> DateTime<Utc> {
    now - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX)
}

/// Deletes what is past its retention at `now`, in one transaction.
pub(super) async fn prune<D: Database>(
    db: &D,
    now: DateTime<Utc>,
    retention: Retention,
) -> Result<PruneReport, AppError> {
    let completed = before(now, retention.completed_jobs);
    let failed = before(now, retention.failed_jobs);
    let events = before(now, retention.events);
    Ok(db
        .write(move |uow| {
            Ok(PruneReport {
                jobs: uow.jobs().prune(completed, failed)?,
                events: uow.events().prune(events)?,
            })
        })
        .await?
        .value)
}

#[async_trait]
impl<D: Database> JobUseCases for JobService<D> {
    async fn list(&self, filter: JobFilter) -> Result<Vec<Job>, AppError> {
        self.db.read(move |uow| Ok(uow.jobs().list(&filter)?)).await
    }

    async fn show(&self, id: i64) -> Result<Job, AppError> {
        self.db
            .read(move |uow| uow.jobs().find(JobId(id))?.ok_or_else(not_found))
            .await
    }

    async fn retry(&self, id: i64) -> Result<Job, AppError> {
        let now = self.clock.now();
        let retried = self
            .db
            .write(move |uow| {
                let job = uow.jobs().find(JobId(id))?.ok_or_else(not_found)?;
                if job.state == super::JobState::Running {
                    return Err(AppError::Validation(FieldErrors::single(
                        "job",
                        "is running: cancel it first",
                    )));
                }
                uow.jobs().retry(job.id, now)?.ok_or_else(not_found)
            })
            .await?;
        Ok(retried.value)
    }

    async fn cancel(&self, id: i64) -> Result<Job, AppError> {
        let now = self.clock.now();
        let cancelled = self
            .db
            .write(move |uow| {
                let job = uow.jobs().find(JobId(id))?.ok_or_else(not_found)?;
                if job.state.is_final() {
                    return Err(AppError::Validation(FieldErrors::single(
                        "job",
                        format!("has already ended ({})", job.state),
                    )));
                }
                uow.jobs().cancel(job.id, now)?.ok_or_else(not_found)
            })
            .await?;
        Ok(cancelled.value)
    }

    async fn prune(&self) -> Result<PruneReport, AppError> {
        prune(&*self.db, self.clock.now(), self.retention).await
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, AppError> {
        let now = self.clock.now();
        self.db.read(move |uow| Ok(uow.jobs().stats(now)?)).await
    }

    async fn probe(&self, probe: Probe) -> Result<Vec<JobId>, AppError> {
        let now = self.clock.now();
        let args = JobArgs::Probe {
            sleep_ms: u64::try_from(probe.sleep.as_millis()).unwrap_or(u64::MAX),
            fail_attempts: probe.fail_attempts,
        };
        let count = probe.count;
        let job = NewJob::new(args, now)
            .timeout(probe.sleep + Duration::from_secs(30))
            .max_attempts(probe.max_attempts);
        let enqueued = self
            .db
            .write(move |uow| {
                let mut ids = Vec::with_capacity(count);
                for _ in 0..count {
                    ids.extend(uow.jobs().enqueue(&job)?);
                }
                Ok(ids)
            })
            .await?;
        Ok(enqueued.value)
    }
}
