//! The job queue's table. Claiming is the one statement whose SQL differs:
//! PostgreSQL skips rows other claimers hold (`FOR UPDATE SKIP LOCKED`), so
//! concurrent workers on any number of instances never claim a job twice;
//! SQLite needs nothing of the kind, since its claims go through the one
//! writer.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use conduit_application::error::{Cause, RepoError};
use conduit_application::jobs::{
    AttemptError, Job, JobArgs, JobFilter, JobId, JobOutcome, JobState, NewJob, QueueStats,
};
use conduit_application::ports::JobRepository;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text, Timestamp};

use crate::db::errors::OrRepoError;
use crate::db::rows::utc;
use crate::db::schema::{job_schedules, jobs};
use crate::db::{DbConnection, DieselUow, MultiBackend, per_backend};

/// The states a job can be claimed from (when its `run_at` has come).
const DUE_STATES: [&str; 3] = ["available", "scheduled", "retryable"];
/// The states in which a job is pending or running.
const LIVE_STATES: [&str; 4] = ["available", "scheduled", "running", "retryable"];

#[derive(Queryable, QueryableByName, Selectable)]
#[diesel(table_name = jobs)]
pub(crate) struct JobRow {
    id: i64,
    queue: String,
    kind: String,
    payload: String,
    state: String,
    priority: i64,
    attempt: i64,
    max_attempts: i64,
    run_at: NaiveDateTime,
    unique_key: Option<String>,
    timeout_ms: i64,
    errors: String,
    attempted_by: Option<String>,
    created_at: NaiveDateTime,
    attempted_at: Option<NaiveDateTime>,
    heartbeat_at: Option<NaiveDateTime>,
    finished_at: Option<NaiveDateTime>,
}

fn narrow<T: TryFrom<i64> + Default>(value: i64) -> T {
    T::try_from(value).unwrap_or_default()
}

impl TryFrom<JobRow> for Job {
    type Error = RepoError;

    fn try_from(row: JobRow) -> Result<Self, RepoError> {
        let state = JobState::parse(&row.state).ok_or_else(|| {
            RepoError::Other(Cause::from(format!(
                "job {} has the unknown state {:?}",
                row.id, row.state
            )))
        })?;
        // Arguments this build cannot read stay `None`: the runner fails the
        // attempt and a newer instance can take the job.
        let args = serde_json::from_str::<JobArgs>(&row.payload).ok();
        let errors = serde_json::from_str(&row.errors).unwrap_or_default();
        Ok(Self {
            id: JobId(row.id),
            queue: row.queue,
            kind: row.kind,
            args,
            payload: row.payload,
            state,
            priority: narrow(row.priority),
            attempt: narrow(row.attempt),
            max_attempts: narrow(row.max_attempts),
            run_at: utc(row.run_at),
            unique_key: row.unique_key,
            timeout: Duration::from_millis(u64::try_from(row.timeout_ms).unwrap_or(0)),
            errors,
            attempted_by: row.attempted_by,
            created_at: utc(row.created_at),
            attempted_at: row.attempted_at.map(utc),
            heartbeat_at: row.heartbeat_at.map(utc),
            finished_at: row.finished_at.map(utc),
        })
    }
}

fn to_jobs(rows: Vec<JobRow>) -> Result<Vec<Job>, RepoError> {
    rows.into_iter().map(Job::try_from).collect()
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String, RepoError> {
    serde_json::to_string(value).map_err(|error| RepoError::Other(Cause::from(error)))
}

/// The job's error history with `error` appended, as stored.
fn errors_with(job: &Job, error: &AttemptError) -> Result<String, RepoError> {
    let mut errors = job.errors.clone();
    errors.push(error.clone());
    encode(&errors)
}

/// The claimable rows of a queue, most urgent first, marked running.
const CLAIM_POSTGRES: &str = "UPDATE jobs SET state = 'running', attempt = attempt + 1, \
    attempted_by = $1, attempted_at = $2, heartbeat_at = $2 \
    WHERE id IN (SELECT id FROM jobs \
        WHERE queue = $3 AND state IN ('available', 'scheduled', 'retryable') AND run_at <= $2 \
        ORDER BY priority, run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
    RETURNING *";
const CLAIM_SQLITE: &str = "UPDATE jobs SET state = 'running', attempt = attempt + 1, \
    attempted_by = ?1, attempted_at = ?2, heartbeat_at = ?2 \
    WHERE id IN (SELECT id FROM jobs \
        WHERE queue = ?3 AND state IN ('available', 'scheduled', 'retryable') AND run_at <= ?2 \
        ORDER BY priority, run_at, id LIMIT ?4) \
    RETURNING *";

fn claim(
    conn: &mut DbConnection,
    queue: &str,
    limit: usize,
    worker: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<JobRow>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = match conn {
        DbConnection::Postgres(_) => CLAIM_POSTGRES,
        DbConnection::Sqlite(_) => CLAIM_SQLITE,
    };
    let mut rows: Vec<JobRow> = per_backend!(conn, |conn| diesel::sql_query(sql)
        .bind::<Text, _>(worker)
        .bind::<Timestamp, _>(now)
        .bind::<Text, _>(queue)
        .bind::<BigInt, _>(limit)
        .load(conn))?;
    // RETURNING gives no order.
    rows.sort_by_key(|row| (row.priority, row.run_at, row.id));
    Ok(rows)
}

type Condition = Box<dyn BoxableExpression<jobs::table, MultiBackend, SqlType = Bool>>;

/// The row of a job that `job` claimed and still holds: still running, at
/// the same attempt (and, for a rescue, with the heartbeat read as stalled).
fn held(job: &Job, stalled_at: Option<Option<NaiveDateTime>>) -> Condition {
    let claimed = jobs::id
        .eq(job.id.0)
        .and(jobs::state.eq("running"))
        .and(jobs::attempt.eq(i64::from(job.attempt)));
    match stalled_at {
        None => Box::new(claimed),
        Some(Some(at)) => Box::new(claimed.and(jobs::heartbeat_at.assume_not_null().eq(at))),
        Some(None) => Box::new(claimed.and(jobs::heartbeat_at.is_null())),
    }
}

impl DieselUow<'_> {
    fn store_outcome(
        &mut self,
        job: &Job,
        outcome: &JobOutcome,
        stalled_at: Option<Option<NaiveDateTime>>,
    ) -> Result<bool, RepoError> {
        let target = jobs::table.filter(held(job, stalled_at));
        let changed = match outcome {
            JobOutcome::Completed { at } => diesel::update(target)
                .set((
                    jobs::state.eq("completed"),
                    jobs::finished_at.eq(at.naive_utc()),
                ))
                .execute(self.conn),
            JobOutcome::Retry { error, run_at } => diesel::update(target)
                .set((
                    jobs::state.eq("retryable"),
                    jobs::run_at.eq(run_at.naive_utc()),
                    jobs::errors.eq(errors_with(job, error)?),
                ))
                .execute(self.conn),
            JobOutcome::Discard { error } => diesel::update(target)
                .set((
                    jobs::state.eq("discarded"),
                    jobs::finished_at.eq(error.at.naive_utc()),
                    jobs::errors.eq(errors_with(job, error)?),
                ))
                .execute(self.conn),
            JobOutcome::Released { error } => diesel::update(target)
                .set((
                    jobs::state.eq("available"),
                    jobs::run_at.eq(error.at.naive_utc()),
                    jobs::attempt.eq(jobs::attempt - 1),
                    jobs::errors.eq(errors_with(job, error)?),
                ))
                .execute(self.conn),
        }
        .or_repo_error()?;
        Ok(changed > 0)
    }

    fn find_job(&mut self, id: JobId) -> Result<Option<Job>, RepoError> {
        jobs::table
            .find(id.0)
            .select(JobRow::as_select())
            .first(self.conn)
            .optional()
            .or_repo_error()?
            .map(Job::try_from)
            .transpose()
    }
}

impl JobRepository for DieselUow<'_> {
    fn enqueue(&mut self, job: &NewJob) -> Result<Option<JobId>, RepoError> {
        let payload = encode(&job.args)?;
        let row = (
            jobs::queue.eq(&job.queue),
            jobs::kind.eq(job.args.kind()),
            jobs::payload.eq(payload),
            jobs::state.eq(job.initial_state().as_str()),
            jobs::priority.eq(i64::from(job.priority)),
            jobs::max_attempts.eq(i64::from(job.max_attempts)),
            jobs::run_at.eq(job.run_at.naive_utc()),
            jobs::unique_key.eq(job.unique_key.as_deref()),
            jobs::timeout_ms.eq(i64::try_from(job.timeout.as_millis()).unwrap_or(i64::MAX)),
            jobs::created_at.eq(job.now.naive_utc()),
        );
        // A unique key in use makes the insert do nothing (and return no id).
        let id: Option<i64> = per_backend!(self.conn, |conn| diesel::insert_into(jobs::table)
            .values(row.clone())
            .on_conflict_do_nothing()
            .returning(jobs::id)
            .get_result(conn)
            .optional())
        .or_repo_error()?;
        if id.is_some() {
            self.job_enqueued(&job.queue);
        }
        Ok(id.map(JobId))
    }

    fn claim(
        &mut self,
        queue: &str,
        limit: usize,
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Job>, RepoError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        to_jobs(claim(self.conn, queue, limit, worker, now.naive_utc()).or_repo_error()?)
    }

    fn next_due(&mut self, queue: &str) -> Result<Option<DateTime<Utc>>, RepoError> {
        jobs::table
            .filter(jobs::queue.eq(queue))
            .filter(jobs::state.eq_any(DUE_STATES))
            .select(diesel::dsl::min(jobs::run_at))
            .first::<Option<NaiveDateTime>>(self.conn)
            .or_repo_error()
            .map(|at| at.map(utc))
    }

    fn finish(&mut self, job: &Job, outcome: &JobOutcome) -> Result<bool, RepoError> {
        self.store_outcome(job, outcome, None)
    }

    fn heartbeat(
        &mut self,
        ids: &[JobId],
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<JobId>, RepoError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(
            jobs::table
                .filter(jobs::id.eq_any(ids.iter().map(|id| id.0)))
                .filter(jobs::state.eq("running"))
                .filter(jobs::attempted_by.eq(worker)),
        )
        .set(jobs::heartbeat_at.eq(now.naive_utc()))
        .returning(jobs::id)
        .get_results::<i64>(self.conn)
        .or_repo_error()
        .map(|alive| alive.into_iter().map(JobId).collect())
    }

    fn stalled(&mut self, before: DateTime<Utc>, limit: usize) -> Result<Vec<Job>, RepoError> {
        let rows = jobs::table
            .filter(jobs::state.eq("running"))
            .filter(jobs::heartbeat_at.lt(before.naive_utc()))
            .order(jobs::heartbeat_at.asc())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .select(JobRow::as_select())
            .load(self.conn)
            .or_repo_error()?;
        to_jobs(rows)
    }

    fn rescue(&mut self, job: &Job, outcome: &JobOutcome) -> Result<bool, RepoError> {
        let rescued = self.store_outcome(
            job,
            outcome,
            Some(job.heartbeat_at.map(|at| at.naive_utc())),
        )?;
        if rescued {
            // The queue's workers, wherever they are, learn when it is due.
            self.job_enqueued(&job.queue);
        }
        Ok(rescued)
    }

    fn find(&mut self, id: JobId) -> Result<Option<Job>, RepoError> {
        self.find_job(id)
    }

    fn list(&mut self, filter: &JobFilter) -> Result<Vec<Job>, RepoError> {
        let mut query = jobs::table.select(JobRow::as_select()).into_boxed();
        if let Some(state) = filter.state {
            query = query.filter(jobs::state.eq(state.as_str()));
        }
        if let Some(queue) = &filter.queue {
            query = query.filter(jobs::queue.eq(queue.clone()));
        }
        let rows = query
            .order(jobs::id.desc())
            .limit(i64::try_from(filter.limit).unwrap_or(i64::MAX))
            .load(self.conn)
            .or_repo_error()?;
        to_jobs(rows)
    }

    fn retry(&mut self, id: JobId, now: DateTime<Utc>) -> Result<Option<Job>, RepoError> {
        diesel::update(
            jobs::table
                .filter(jobs::id.eq(id.0))
                .filter(jobs::state.ne("running")),
        )
        .set((
            jobs::state.eq("available"),
            jobs::run_at.eq(now.naive_utc()),
            jobs::finished_at.eq(None::<NaiveDateTime>),
            // One more attempt when all were used.
            jobs::max_attempts.eq(diesel::dsl::sql::<BigInt>(
                "CASE WHEN max_attempts > attempt THEN max_attempts ELSE attempt + 1 END",
            )),
        ))
        .execute(self.conn)
        .or_repo_error()?;
        if let Some(job) = self.find_job(id)? {
            self.job_enqueued(&job.queue);
            return Ok(Some(job));
        }
        Ok(None)
    }

    fn cancel(&mut self, id: JobId, now: DateTime<Utc>) -> Result<Option<Job>, RepoError> {
        diesel::update(
            jobs::table
                .filter(jobs::id.eq(id.0))
                .filter(jobs::state.eq_any(LIVE_STATES)),
        )
        .set((
            jobs::state.eq("cancelled"),
            jobs::finished_at.eq(now.naive_utc()),
        ))
        .execute(self.conn)
        .or_repo_error()?;
        self.find_job(id)
    }

    fn prune(
        &mut self,
        completed_before: DateTime<Utc>,
        failed_before: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        let completed = diesel::delete(
            jobs::table
                .filter(jobs::state.eq("completed"))
                .filter(jobs::finished_at.lt(completed_before.naive_utc())),
        )
        .execute(self.conn)
        .or_repo_error()?;
        let failed = diesel::delete(
            jobs::table
                .filter(jobs::state.eq_any(["discarded", "cancelled"]))
                .filter(jobs::finished_at.lt(failed_before.naive_utc())),
        )
        .execute(self.conn)
        .or_repo_error()?;
        Ok(u64::try_from(completed + failed).unwrap_or(u64::MAX))
    }

    fn stats(&mut self, now: DateTime<Utc>) -> Result<Vec<QueueStats>, RepoError> {
        let counts: Vec<(String, String, i64)> = jobs::table
            .filter(jobs::state.eq_any(LIVE_STATES))
            .group_by((jobs::queue, jobs::state))
            .select((jobs::queue, jobs::state, diesel::dsl::count_star()))
            .load(self.conn)
            .or_repo_error()?;
        let oldest: Vec<(String, Option<NaiveDateTime>)> = jobs::table
            .filter(jobs::state.eq_any(DUE_STATES))
            .filter(jobs::run_at.le(now.naive_utc()))
            .group_by(jobs::queue)
            .select((jobs::queue, diesel::dsl::min(jobs::run_at)))
            .load(self.conn)
            .or_repo_error()?;
        let mut stats: Vec<QueueStats> = Vec::new();
        let mut entry = |queue: &str| -> usize {
            match stats.iter().position(|stat| stat.queue == queue) {
                Some(index) => index,
                None => {
                    stats.push(QueueStats {
                        queue: queue.to_owned(),
                        ..QueueStats::default()
                    });
                    stats.len() - 1
                }
            }
        };
        let mut positioned = Vec::new();
        for (queue, state, count) in counts {
            positioned.push((entry(&queue), state, u64::try_from(count).unwrap_or(0)));
        }
        let mut oldest_positioned = Vec::new();
        for (queue, at) in oldest {
            oldest_positioned.push((entry(&queue), at));
        }
        for (index, state, count) in positioned {
            let stat = &mut stats[index];
            match JobState::parse(&state) {
                Some(JobState::Available) => stat.available = count,
                Some(JobState::Scheduled) => stat.scheduled = count,
                Some(JobState::Running) => stat.running = count,
                Some(JobState::Retryable) => stat.retryable = count,
                _ => {}
            }
        }
        for (index, at) in oldest_positioned {
            stats[index].oldest_due = at.map(utc);
        }
        stats.sort_by(|a, b| a.queue.cmp(&b.queue));
        Ok(stats)
    }

    fn advance_schedule(
        &mut self,
        name: &str,
        due: DateTime<Utc>,
        next: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let moved = diesel::update(
            job_schedules::table
                .filter(job_schedules::name.eq(name))
                .filter(job_schedules::next_run_at.eq(due.naive_utc())),
        )
        .set(job_schedules::next_run_at.eq(next.naive_utc()))
        .execute(self.conn)
        .or_repo_error()?;
        if moved > 0 {
            return Ok(true);
        }
        let row = (
            job_schedules::name.eq(name),
            job_schedules::next_run_at.eq(next.naive_utc()),
        );
        let created = per_backend!(self.conn, |conn| diesel::insert_into(job_schedules::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(conn))
        .or_repo_error()?;
        Ok(created > 0)
    }

    fn schedule(&mut self, name: &str) -> Result<Option<DateTime<Utc>>, RepoError> {
        job_schedules::table
            .find(name)
            .select(job_schedules::next_run_at)
            .first::<NaiveDateTime>(self.conn)
            .optional()
            .or_repo_error()
            .map(|at| at.map(utc))
    }
}
