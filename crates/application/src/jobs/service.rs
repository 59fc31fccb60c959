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
    /// Expired one-time account tokens.
    pub tokens: u64,
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
                tokens: uow.account_tokens().prune(now)?,
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

#[cfg(test)]
mod tests {
    use mockall::predicate::eq;

    use super::*;
    use crate::jobs::JobState;
    use crate::testing::{FakeDb, FixedClock, running_job};

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + 30 * 86_400, 0).unwrap()
    }

    fn service(db: FakeDb) -> JobService<FakeDb> {
        JobService::new(
            Arc::new(db),
            Arc::new(FixedClock(now())),
            Retention::default(),
        )
    }

    #[tokio::test]
    async fn a_running_job_is_not_retried() {
        let db = FakeDb::new().writing(|repos| {
            repos
                .jobs
                .expect_find()
                .returning(|id| Ok(Some(running_job(id.0, 1, 25))));
            repos.jobs.expect_retry().never();
        });
        let error = service(db).retry(4).await.unwrap_err();
        assert!(matches!(error, AppError::Validation(_)), "{error:?}");
    }

    #[tokio::test]
    async fn a_finished_job_is_not_cancelled_and_an_unknown_one_is_not_found() {
        let db = FakeDb::new().writing(|repos| {
            repos.jobs.expect_find().with(eq(JobId(4))).returning(|id| {
                let mut job = running_job(id.0, 1, 25);
                job.state = JobState::Completed;
                Ok(Some(job))
            });
            repos
                .jobs
                .expect_find()
                .with(eq(JobId(5)))
                .returning(|_| Ok(None));
            repos.jobs.expect_cancel().never();
        });
        let service = service(db);
        assert!(matches!(
            service.cancel(4).await,
            Err(AppError::Validation(_))
        ));
        assert!(matches!(
            service.cancel(5).await,
            Err(AppError::NotFound("job"))
        ));
    }

    #[tokio::test]
    async fn prune_deletes_what_is_past_each_retention_in_one_transaction() {
        let day = chrono::Duration::days(1);
        let db = FakeDb::new().writing(move |repos| {
            repos
                .jobs
                .expect_prune()
                .with(eq(now() - day), eq(now() - day * 7))
                .times(1)
                .returning(|_, _| Ok(12));
            repos
                .events
                .expect_prune()
                .with(eq(now() - day * 7))
                .times(1)
                .returning(|_| Ok(30));
            repos
                .account_tokens
                .expect_prune()
                .with(eq(now()))
                .times(1)
                .returning(|_| Ok(4));
        });
        let report = service(db).prune().await.unwrap();
        assert_eq!(
            report,
            PruneReport {
                jobs: 12,
                events: 30,
                tokens: 4
            }
        );
    }

    #[tokio::test]
    async fn probes_are_enqueued_together_with_their_settings() {
        let db = FakeDb::new().writing(|repos| {
            let mut next = 0;
            repos
                .jobs
                .expect_enqueue()
                .withf(|job| {
                    job.args
                        == JobArgs::Probe {
                            sleep_ms: 250,
                            fail_attempts: 2,
                        }
                        && job.max_attempts == 3
                        && job.queue == "default"
                })
                .times(3)
                .returning(move |_| {
                    next += 1;
                    Ok(Some(JobId(next)))
                });
        });
        let ids = service(db)
            .probe(Probe {
                count: 3,
                sleep: Duration::from_millis(250),
                fail_attempts: 2,
                max_attempts: 3,
            })
            .await
            .unwrap();
        assert_eq!(ids, [JobId(1), JobId(2), JobId(3)]);
    }
}
