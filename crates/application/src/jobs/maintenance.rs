//! What keeps the queue healthy, on every instance at once without any
//! coordination beyond the database: rescuing jobs whose worker stopped
//! heartbeating, and enqueuing periodic jobs, each run by exactly one
//! instance (the one whose compare-and-set moved the schedule).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::runner::RetryPolicy;
use super::{AttemptError, JobArgs, JobOutcome, NewJob};
use crate::error::AppError;
use crate::ports::{Clock, Database};
use crate::supervisor::{Shutdown, Supervisor};

/// How long finished jobs and change events are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub completed_jobs: Duration,
    /// Discarded and cancelled jobs, kept longer for a post-mortem.
    pub failed_jobs: Duration,
    pub events: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            completed_jobs: Duration::from_secs(24 * 3600),
            failed_jobs: Duration::from_secs(7 * 24 * 3600),
            events: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// A job enqueued every `every`, at multiples of `every` since the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodicJob {
    pub name: String,
    pub every: Duration,
    pub args: JobArgs,
}

#[derive(Debug, Clone)]
pub struct MaintenanceSettings {
    /// How often each instance looks for stalled jobs and due periodic jobs.
    pub interval: Duration,
    /// A running job whose heartbeat is older than this is rescued.
    pub rescue_after: Duration,
    pub retry: RetryPolicy,
    pub periodic: Vec<PeriodicJob>,
}

/// The maintenance loop.
pub struct Maintenance<D> {
    db: Arc<D>,
    clock: Arc<dyn Clock>,
    settings: MaintenanceSettings,
}

/// The first multiple of `every` (since the epoch) after `now`.
pub(crate) fn next_slot(now: DateTime<Utc>, every: Duration) -> DateTime<Utc> {
    let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX).max(1);
    let now_ms = now.timestamp_millis();
    let next = (now_ms.div_euclid(every_ms) + 1).saturating_mul(every_ms);
    DateTime::from_timestamp_millis(next).unwrap_or(now)
}

impl<D: Database> Maintenance<D> {
    pub fn new(db: Arc<D>, clock: Arc<dyn Clock>, settings: MaintenanceSettings) -> Arc<Self> {
        Arc::new(Self {
            db,
            clock,
            settings,
        })
    }

    pub fn start(self: &Arc<Self>, supervisor: &Supervisor) {
        let maintenance = Arc::clone(self);
        supervisor.spawn("jobs:maintenance", move |shutdown| {
            Arc::clone(&maintenance).serve(shutdown)
        });
    }

    async fn serve(self: Arc<Self>, shutdown: Shutdown) {
        while shutdown.pause(self.settings.interval).await {
            if let Err(error) = self.rescue_stalled().await {
                tracing::warn!(%error, "looking for stalled jobs failed");
            }
            if let Err(error) = self.enqueue_periodic().await {
                tracing::warn!(%error, "enqueuing periodic jobs failed");
            }
        }
    }

    /// Makes the jobs of workers that stopped heartbeating (killed, or cut
    /// off) available for another attempt, or discards them when that was
    /// their last. Answers how many were rescued.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn rescue_stalled(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let stale = chrono::Duration::from_std(self.settings.rescue_after)
            .unwrap_or_else(|_| chrono::Duration::minutes(1));
        let before = now - stale;
        let stalled = self
            .db
            .read(move |uow| Ok(uow.jobs().stalled(before, 100)?))
            .await?;
        let mut rescued = 0;
        for job in stalled {
            let error = AttemptError {
                attempt: job.attempt,
                at: now,
                error: format!(
                    "rescued: worker {} stopped heartbeating (last at {})",
                    job.attempted_by.as_deref().unwrap_or("?"),
                    job.heartbeat_at
                        .map_or_else(|| "never".to_owned(), |at| at.to_rfc3339()),
                ),
            };
            let outcome = if job.attempt < job.max_attempts {
                JobOutcome::Retry {
                    error,
                    run_at: self.settings.retry.next_run(job.attempt, now),
                }
            } else {
                JobOutcome::Discard { error }
            };
            let id = job.id;
            let done = self
                .db
                .write(move |uow| Ok(uow.jobs().rescue(&job, &outcome)?))
                .await?
                .value;
            if done {
                tracing::warn!(
                    job_id = id.0,
                    "rescued a job whose worker stopped heartbeating"
                );
                rescued += 1;
            }
        }
        Ok(rescued)
    }

    /// Enqueues each periodic job that is due, once across all instances.
    /// Answers how many were enqueued here.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn enqueue_periodic(&self) -> Result<usize, AppError> {
        let mut enqueued = 0;
        for periodic in &self.settings.periodic {
            let now = self.clock.now();
            let name = periodic.name.clone();
            let due = self
                .db
                .read(move |uow| Ok(uow.jobs().schedule(&name)?))
                .await?;
            if due.is_some_and(|due| due > now) {
                continue;
            }
            let name = periodic.name.clone();
            let next = next_slot(now, periodic.every);
            let job = NewJob::new(periodic.args.clone(), now).unique(format!("periodic:{name}"));
            let won = self
                .db
                .write(move |uow| {
                    let won = uow
                        .jobs()
                        .advance_schedule(&name, due.unwrap_or(now), next)?;
                    if won {
                        uow.jobs().enqueue(&job)?;
                    }
                    Ok(won)
                })
                .await?
                .value;
            if won {
                tracing::info!(periodic = %periodic.name, next = %next, "enqueued a periodic job");
                enqueued += 1;
            }
        }
        Ok(enqueued)
    }
}

#[cfg(test)]
mod tests {
    use mockall::predicate::{always, eq};

    use super::*;
    use crate::testing::{FakeDb, FixedClock, running_job};

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + 3_600, 0).unwrap()
    }

    fn maintenance(db: FakeDb) -> Arc<Maintenance<FakeDb>> {
        Maintenance::new(
            Arc::new(db),
            Arc::new(FixedClock(now())),
            MaintenanceSettings {
                interval: Duration::from_secs(1),
                rescue_after: Duration::from_secs(60),
                retry: RetryPolicy::default(),
                periodic: vec![PeriodicJob {
                    name: "prune".to_owned(),
                    every: Duration::from_secs(3_600),
                    args: JobArgs::Prune,
                }],
            },
        )
    }

    #[tokio::test]
    async fn stalled_jobs_go_back_for_another_attempt_or_are_discarded_on_their_last() {
        let db = FakeDb::new()
            .reading(|repos| {
                repos
                    .jobs
                    .expect_stalled()
                    .with(eq(now() - chrono::Duration::seconds(60)), eq(100))
                    .returning(|_, _| Ok(vec![running_job(1, 1, 3), running_job(2, 3, 3)]));
            })
            .writing(|repos| {
                repos
                    .jobs
                    .expect_rescue()
                    .withf(|job, outcome| {
                        job.id.0 == 1
                            && matches!(outcome, JobOutcome::Retry { error, .. }
                                if error.error.starts_with("rescued: worker here stopped heartbeating"))
                    })
                    .times(1)
                    .returning(|_, _| Ok(true));
                repos
                    .jobs
                    .expect_rescue()
                    .withf(|job, outcome| job.id.0 == 2 && matches!(outcome, JobOutcome::Discard { .. }))
                    .times(1)
                    // Its worker came back meanwhile: not rescued.
                    .returning(|_, _| Ok(false));
            });
        assert_eq!(maintenance(db).rescue_stalled().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_due_periodic_job_is_enqueued_by_the_instance_that_moved_its_schedule() {
        let db = FakeDb::new()
            .reading(|repos| {
                repos
                    .jobs
                    .expect_schedule()
                    .with(eq("prune"))
                    .returning(|_| Ok(Some(now() - chrono::Duration::seconds(5))));
            })
            .writing(|repos| {
                repos
                    .jobs
                    .expect_advance_schedule()
                    .with(
                        eq("prune"),
                        eq(now() - chrono::Duration::seconds(5)),
                        eq(now() + chrono::Duration::seconds(3_600)),
                    )
                    .times(1)
                    .returning(|_, _, _| Ok(true));
                repos
                    .jobs
                    .expect_enqueue()
                    .withf(|job| {
                        job.args == JobArgs::Prune
                            && job.queue == "maintenance"
                            && job.unique_key.as_deref() == Some("periodic:prune")
                    })
                    .times(1)
                    .returning(|_| Ok(Some(crate::jobs::JobId(9))));
            });
        assert_eq!(maintenance(db).enqueue_periodic().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn another_instance_that_moved_the_schedule_first_enqueues_instead() {
        let db = FakeDb::new()
            .reading(|repos| {
                repos.jobs.expect_schedule().returning(|_| Ok(Some(now())));
            })
            .writing(|repos| {
                repos
                    .jobs
                    .expect_advance_schedule()
                    .with(eq("prune"), always(), always())
                    .returning(|_, _, _| Ok(false));
                repos.jobs.expect_enqueue().never();
            });
        assert_eq!(maintenance(db).enqueue_periodic().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_periodic_job_not_yet_due_is_left_alone() {
        let db = FakeDb::new().reading(|repos| {
            repos
                .jobs
                .expect_schedule()
                .returning(|_| Ok(Some(now() + chrono::Duration::seconds(1))));
        });
        assert_eq!(maintenance(db).enqueue_periodic().await.unwrap(), 0);
    }

    #[test]
    fn slots_are_multiples_of_the_period() {
        let at = |ms| DateTime::from_timestamp_millis(ms).unwrap();
        let minute = Duration::from_secs(60);
        assert_eq!(next_slot(at(0), minute), at(60_000));
        assert_eq!(next_slot(at(59_999), minute), at(60_000));
        assert_eq!(next_slot(at(60_000), minute), at(120_000));
    }
}
