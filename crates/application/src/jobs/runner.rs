//! The job workers: per queue, a loop that claims due jobs up to the queue's
//! concurrency and runs each under its timeout; per instance, a heartbeat
//! that keeps the claimed jobs its own.
//!
//! Workers wake when a job is enqueued ([`Wakeups`], fed by this instance's
//! commits and by the database's notifications from other instances); an
//! idle queue sleeps until its next job falls due (a retry, a scheduled
//! job), and polls anyway every `poll_interval`, so a lost notification
//! delays a job by one poll interval at most.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinSet};
use tracing::Instrument;

use super::handlers::{JobFailure, JobHandlers};
use super::{AttemptError, Job, JobId, JobOutcome};
use crate::error::AppError;
use crate::ports::{Clock, Database};
use crate::supervisor::{Shutdown, Supervisor};

/// A queue and how many of its jobs run at once on this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    pub name: String,
    pub concurrency: usize,
}

/// When a failed job runs again: after `base × attempt⁴`, at most `max`,
/// give or take 10% so that jobs failing together do not retry together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// The pause after failed attempt number `attempt` (1 for the first),
    /// with `jitter` drawn from `[-1, 1]`.
    pub fn delay(&self, attempt: i32, jitter: f64) -> Duration {
        let attempt = f64::from(attempt.max(1));
        let nominal = (self.base.as_secs_f64() * attempt.powi(4)).min(self.max.as_secs_f64());
        let jittered = nominal * (1.0 + 0.1 * jitter.clamp(-1.0, 1.0));
        Duration::from_secs_f64(jittered.max(0.0))
    }

    /// The instant a job that failed attempt `attempt` at `now` runs again.
    pub fn next_run(&self, attempt: i32, now: DateTime<Utc>) -> DateTime<Utc> {
        let jitter = rand_unit();
        let delay = chrono::Duration::from_std(self.delay(attempt, jitter))
            .unwrap_or_else(|_| chrono::Duration::days(1));
        now + delay
    }
}

/// A number drawn from `[-1, 1]`.
fn rand_unit() -> f64 {
    rand::random_range(-1.0..=1.0)
}

/// How this instance runs jobs.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// This instance's name, recorded on the jobs it claims.
    pub worker: String,
    pub queues: Vec<QueueConfig>,
    /// How often an idle queue looks for due jobs without being woken.
    pub poll_interval: Duration,
    /// How often the running jobs are marked alive.
    pub heartbeat_interval: Duration,
    pub retry: RetryPolicy,
}

/// Sees each finished attempt (for metrics).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait JobObserver: Send + Sync {
    /// `outcome` is `completed`, `retryable`, `discarded` or `released`.
    fn attempt_finished(&self, queue: &str, kind: &str, outcome: &'static str, seconds: f64);
}

/// Observes nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl JobObserver for NoObserver {
    fn attempt_finished(&self, _: &str, _: &str, _: &'static str, _: f64) {}
}

/// Wakes a queue's workers when a job is enqueued in it.
#[derive(Debug, Default)]
pub struct Wakeups {
    queues: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Wakeups {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn signal(&self, queue: &str) -> Arc<Notify> {
        let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(queues.entry(queue.to_owned()).or_default())
    }

    /// A job was enqueued in `queue`.
    pub fn wake(&self, queue: &str) {
        self.signal(queue).notify_one();
    }

    /// Jobs may have been enqueued anywhere (after a lost notification).
    pub fn wake_all(&self) {
        for signal in self
            .queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            signal.notify_one();
        }
    }
}

struct Running {
    job: Job,
    abort: Option<AbortHandle>,
}

/// Holds the "someone is storing outcomes" flag; lowers it when dropped.
struct Flushing<'a>(&'a AtomicBool);

impl Drop for Flushing<'_> {
    fn drop(&mut self) {
        self.0.store(false, AtomicOrdering::Release);
    }
}

/// An attempt's outcome waiting to be stored; `done` answers whether it
/// changed the job (`None`: it could not be stored).
struct Completion {
    job: Job,
    outcome: JobOutcome,
    done: tokio::sync::oneshot::Sender<Option<bool>>,
}

/// Runs the jobs of the configured queues on this instance.
pub struct JobRunner<D> {
    db: Arc<D>,
    clock: Arc<dyn Clock>,
    handlers: JobHandlers,
    settings: RunnerSettings,
    wakeups: Arc<Wakeups>,
    observer: Arc<dyn JobObserver>,
    running: Mutex<HashMap<JobId, Running>>,
    completions: Mutex<Vec<Completion>>,
    flushing: AtomicBool,
}

impl<D: Database> JobRunner<D> {
    pub fn new(
        db: Arc<D>,
        clock: Arc<dyn Clock>,
        handlers: JobHandlers,
        settings: RunnerSettings,
        wakeups: Arc<Wakeups>,
        observer: Arc<dyn JobObserver>,
    ) -> Arc<Self> {
        Arc::new(Self {
            db,
            clock,
            handlers,
            settings,
            wakeups,
            observer,
            running: Mutex::new(HashMap::new()),
            completions: Mutex::new(Vec::new()),
            flushing: AtomicBool::new(false),
        })
    }

    /// Starts one worker loop per queue and the heartbeat.
    pub fn start(self: &Arc<Self>, supervisor: &Supervisor) {
        for queue in &self.settings.queues {
            let runner = Arc::clone(self);
            let queue = queue.clone();
            supervisor.spawn(format!("jobs:{}", queue.name), move |shutdown| {
                Arc::clone(&runner).serve(queue.clone(), shutdown)
            });
        }
        let runner = Arc::clone(self);
        supervisor.spawn("jobs:heartbeat", move |shutdown| {
            Arc::clone(&runner).heartbeat(shutdown)
        });
    }

    /// How many jobs run on this instance now.
    pub fn running_count(&self) -> usize {
        self.lock_running().len()
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, Running>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How long an idle queue may sleep: until its next job falls due, at
    /// most the poll interval.
    async fn idle_pause(&self, queue: &str) -> Result<Duration, AppError> {
        let queue = queue.to_owned();
        let due = self
            .db
            .read(move |uow| Ok(uow.jobs().next_due(&queue)?))
            .await?;
        let poll = self.settings.poll_interval;
        Ok(due.map_or(poll, |due| {
            (due - self.clock.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                // A due job just claimed elsewhere is running by the next look.
                .max(Duration::from_millis(10))
                .min(poll)
        }))
    }

    async fn claim(&self, queue: &str, limit: usize) -> Result<Vec<Job>, AppError> {
        let queue = queue.to_owned();
        let worker = self.settings.worker.clone();
        let now = self.clock.now();
        Ok(self
            .db
            .write(move |uow| Ok(uow.jobs().claim(&queue, limit, &worker, now)?))
            .await?
            .value)
    }

    /// One queue's loop: claim while there is room, run, wait to be woken.
    async fn serve(self: Arc<Self>, queue: QueueConfig, shutdown: Shutdown) {
        let wake = self.wakeups.signal(&queue.name);
        let mut attempts = JoinSet::new();
        let mut failures: u32 = 0;
        loop {
            while attempts.try_join_next().is_some() {}
            if shutdown.is_stopping() {
                break;
            }
            let room = queue.concurrency.saturating_sub(attempts.len());
            let mut filled = false;
            let mut pause = self.settings.poll_interval;
            if room > 0 {
                let claimed = self.claim(&queue.name, room).await;
                let drained = matches!(&claimed, Ok(jobs) if jobs.len() < room);
                match claimed {
                    Ok(jobs) => {
                        failures = 0;
                        filled = jobs.len() == room;
                        for job in jobs {
                            self.launch(&mut attempts, job);
                        }
                    }
                    Err(error) => {
                        failures = failures.saturating_add(1);
                        tracing::warn!(queue = %queue.name, %error, "claiming jobs failed");
                    }
                }
                if drained {
                    match self.idle_pause(&queue.name).await {
                        Ok(until_due) => pause = until_due,
                        Err(error) => {
                            tracing::warn!(queue = %queue.name, %error, "reading the next due job failed")
                        }
                    }
                }
            }
            // After a failure, wait longer each time (up to 30 s) rather
            // than hammer a database that is down.
            if failures > 0 {
                pause = Duration::from_millis(100 * 2_u64.pow(failures.min(8)))
                    .min(Duration::from_secs(30));
            }
            tokio::select! {
                () = shutdown.stopping() => break,
                () = wake.notified(), if !filled => {}
                Some(_) = attempts.join_next(), if !attempts.is_empty() => {}
                () = tokio::time::sleep(pause), if !filled => {}
            }
        }
        self.drain(&queue.name, attempts, &shutdown).await;
    }

    /// Lets the running attempts finish; at the deadline, stops them and
    /// makes their jobs available again.
    async fn drain(&self, queue: &str, mut attempts: JoinSet<()>, shutdown: &Shutdown) {
        let all_done = async { while attempts.join_next().await.is_some() {} };
        tokio::select! {
            () = all_done => return,
            () = shutdown.deadline() => {}
        }
        attempts.abort_all();
        while attempts.join_next().await.is_some() {}
        let unfinished: Vec<Job> = {
            let mut running = self.lock_running();
            let ids: Vec<JobId> = running
                .iter()
                .filter(|(_, held)| held.job.queue == queue)
                .map(|(id, _)| *id)
                .collect();
            ids.iter()
                .filter_map(|id| running.remove(id).map(|held| held.job))
                .collect()
        };
        for job in unfinished {
            let error = AttemptError {
                attempt: job.attempt,
                at: self.clock.now(),
                error: "interrupted: the instance stopped before the attempt finished".to_owned(),
            };
            let span = tracing::info_span!("job", job_id = job.id.0, kind = %job.kind, queue = %job.queue, attempt = job.attempt);
            self.record(&job, JobOutcome::Released { error }, 0.0)
                .instrument(span)
                .await;
        }
    }

    fn launch(self: &Arc<Self>, attempts: &mut JoinSet<()>, job: Job) {
        let id = job.id;
        self.lock_running().insert(
            id,
            Running {
                job: job.clone(),
                abort: None,
            },
        );
        let runner = Arc::clone(self);
        let abort = attempts.spawn(async move { runner.run(job).await });
        if let Some(held) = self.lock_running().get_mut(&id) {
            held.abort = Some(abort);
        }
    }

    /// Runs one attempt and records how it ended.
    async fn run(self: Arc<Self>, job: Job) {
        let span = tracing::info_span!(
            "job",
            job_id = job.id.0,
            kind = %job.kind,
            queue = %job.queue,
            attempt = job.attempt,
        );
        async {
            let started = Instant::now();
            let result = self.attempt(&job).await;
            let seconds = started.elapsed().as_secs_f64();
            let now = self.clock.now();
            let outcome = match result {
                Ok(()) => JobOutcome::Completed { at: now },
                Err(failure) => {
                    let error = AttemptError {
                        attempt: job.attempt,
                        at: now,
                        error: failure.message().to_owned(),
                    };
                    match failure {
                        JobFailure::Retry(_) if job.attempt < job.max_attempts => {
                            JobOutcome::Retry {
                                error,
                                run_at: self.settings.retry.next_run(job.attempt, now),
                            }
                        }
                        _ => JobOutcome::Discard { error },
                    }
                }
            };
            self.record(&job, outcome, seconds).await;
            self.lock_running().remove(&job.id);
        }
        .instrument(span)
        .await;
    }

    async fn attempt(&self, job: &Job) -> Result<(), JobFailure> {
        let Some(handler) = self.handlers.get(&job.kind) else {
            return Err(JobFailure::Retry(format!(
                "no handler for jobs of kind {:?} on this instance",
                job.kind
            )));
        };
        if job.args.is_none() {
            return Err(JobFailure::Retry(
                "this instance cannot read the job's arguments".to_owned(),
            ));
        }
        let run = AssertUnwindSafe(handler.run(job)).catch_unwind();
        match tokio::time::timeout(job.timeout, run).await {
            Ok(Ok(result)) => result,
            Ok(Err(_panic)) => Err(JobFailure::Retry("the handler panicked".to_owned())),
            Err(_) => Err(JobFailure::Retry(format!(
                "timed out after {} ms",
                job.timeout.as_millis()
            ))),
        }
    }

    /// Stores an attempt's outcome (with whatever other outcomes are
    /// waiting, in one transaction) and logs it.
    async fn record(&self, job: &Job, outcome: JobOutcome, seconds: f64) {
        let label = outcome_label(&outcome);
        let (done, stored) = tokio::sync::oneshot::channel();
        self.lock_completions().push(Completion {
            job: job.clone(),
            outcome: outcome.clone(),
            done,
        });
        self.flush_completions().await;
        let Ok(Some(changed)) = stored.await else {
            tracing::error!(
                "giving up storing the job's outcome; it will be rescued and run again"
            );
            return;
        };
        self.observer
            .attempt_finished(&job.queue, &job.kind, label, seconds);
        let latency_ms = seconds * 1_000.0;
        match &outcome {
            JobOutcome::Completed { .. } => {
                tracing::info!(outcome = label, latency_ms, "job finished");
            }
            JobOutcome::Retry { error, run_at } => {
                tracing::warn!(outcome = label, latency_ms, error = %error.error, %run_at, "job failed; will retry");
            }
            JobOutcome::Discard { error } => {
                tracing::error!(outcome = label, latency_ms, error = %error.error, "job discarded");
            }
            JobOutcome::Released { .. } => {
                tracing::warn!(outcome = label, "job released for a retry at shutdown");
            }
        }
        if !changed {
            tracing::warn!("the job was cancelled or rescued meanwhile; its outcome is not stored");
        }
    }

    fn lock_completions(&self) -> std::sync::MutexGuard<'_, Vec<Completion>> {
        self.completions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores the waiting outcomes, unless another attempt is doing so (it
    /// then stores ours too). While one transaction commits, the outcomes
    /// of the attempts that end meanwhile gather for the next: one commit
    /// for many jobs when they finish fast.
    async fn flush_completions(&self) {
        loop {
            if self.flushing.swap(true, AtomicOrdering::AcqRel) {
                return;
            }
            // Lowered on every way out, an abort of this attempt included.
            let flag = Flushing(&self.flushing);
            loop {
                let batch = std::mem::take(&mut *self.lock_completions());
                if batch.is_empty() {
                    break;
                }
                self.store_batch(batch).await;
            }
            drop(flag);
            // One that arrived after the last look, while we still held the
            // flag, is ours to store.
            if self.lock_completions().is_empty() {
                return;
            }
        }
    }

    /// Stores a batch of outcomes in one transaction, trying again for a
    /// while when the database is unreachable (failing that, the jobs are
    /// rescued and run again: at least once, never lost).
    async fn store_batch(&self, batch: Vec<Completion>) {
        let items: Vec<(Job, JobOutcome)> = batch
            .iter()
            .map(|completion| (completion.job.clone(), completion.outcome.clone()))
            .collect();
        for pause in [0, 100, 500, 1_000, 2_000, 5_000] {
            if pause > 0 {
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            let items = items.clone();
            let stored = self
                .db
                .write(move |uow| {
                    items
                        .iter()
                        .map(|(job, outcome)| Ok(uow.jobs().finish(job, outcome)?))
                        .collect::<Result<Vec<bool>, AppError>>()
                })
                .await;
            match stored {
                Ok(committed) => {
                    for (completion, changed) in batch.into_iter().zip(committed.value) {
                        let _ = completion.done.send(Some(changed));
                    }
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, jobs = batch.len(), "storing job outcomes failed")
                }
            }
        }
        for completion in batch {
            let _ = completion.done.send(None);
        }
    }

    /// Marks this instance's running jobs alive, and stops those that are
    /// no longer its own (cancelled, or rescued after a stall).
    async fn heartbeat(self: Arc<Self>, shutdown: Shutdown) {
        loop {
            tokio::select! {
                () = shutdown.deadline() => return,
                () = tokio::time::sleep(self.settings.heartbeat_interval) => {}
            }
            let ids: Vec<JobId> = self.lock_running().keys().copied().collect();
            if ids.is_empty() {
                if shutdown.is_stopping() {
                    return;
                }
                continue;
            }
            let worker = self.settings.worker.clone();
            let now = self.clock.now();
            let asked = ids.clone();
            match self
                .db
                .write(move |uow| Ok(uow.jobs().heartbeat(&asked, &worker, now)?))
                .await
            {
                Ok(alive) => {
                    let mut running = self.lock_running();
                    for id in ids.iter().filter(|id| !alive.value.contains(id)) {
                        if let Some(held) = running.remove(id) {
                            tracing::warn!(job_id = id.0, kind = %held.job.kind, "job cancelled or taken over elsewhere; stopping it here");
                            if let Some(abort) = held.abort {
                                abort.abort();
                            }
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "job heartbeat failed"),
            }
        }
    }
}

fn outcome_label(outcome: &JobOutcome) -> &'static str {
    match outcome {
        JobOutcome::Completed { .. } => "completed",
        JobOutcome::Retry { .. } => "retryable",
        JobOutcome::Discard { .. } => "discarded",
        JobOutcome::Released { .. } => "released",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::jobs::{JobHandler, JobHandlers, MockJobHandler};
    use crate::testing::{FakeDb, FixedClock, running_job};

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_700, 0).unwrap()
    }

    /// Runs `job` (claimed once) with `handler` on a one-worker queue and
    /// answers the outcome the runner stored.
    async fn outcome_of(job: Job, handler: impl JobHandler + 'static, kind: &str) -> JobOutcome {
        let (stored, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
        let db = FakeDb::new().writing(move |repos| {
            let claimed = AtomicBool::new(false);
            repos
                .jobs
                .expect_claim()
                .returning(move |queue, limit, worker, _| {
                    assert_eq!((queue, limit, worker), ("default", 1, "here"));
                    Ok(if claimed.swap(true, Ordering::SeqCst) {
                        Vec::new()
                    } else {
                        vec![job.clone()]
                    })
                });
            repos.jobs.expect_finish().returning(move |_, outcome| {
                let _ = stored.send(outcome.clone());
                Ok(true)
            });
            repos
                .jobs
                .expect_heartbeat()
                .returning(|ids, _, _| Ok(ids.to_vec()));
        });
        let runner = JobRunner::new(
            Arc::new(db),
            Arc::new(FixedClock(now())),
            JobHandlers::new().with(kind, Arc::new(handler)),
            RunnerSettings {
                worker: "here".to_owned(),
                queues: vec![QueueConfig {
                    name: "default".to_owned(),
                    concurrency: 1,
                }],
                poll_interval: Duration::from_millis(20),
                heartbeat_interval: Duration::from_secs(5),
                retry: RetryPolicy::default(),
            },
            Wakeups::new(),
            Arc::new(NoObserver),
        );
        let supervisor = Supervisor::new();
        runner.start(&supervisor);
        let outcome = tokio::time::timeout(Duration::from_secs(10), outcomes.recv())
            .await
            .expect("an outcome within 10 s")
            .expect("an outcome");
        supervisor
            .stop(Duration::from_secs(1), Duration::from_millis(200))
            .await;
        outcome
    }

    fn handler(result: Result<(), JobFailure>) -> MockJobHandler {
        let mut handler = MockJobHandler::new();
        handler
            .expect_run()
            .times(1)
            .returning(move |_| result.clone());
        handler
    }

    #[tokio::test]
    async fn a_successful_attempt_completes_the_job() {
        let outcome = outcome_of(running_job(1, 1, 25), handler(Ok(())), "probe").await;
        assert_eq!(outcome, JobOutcome::Completed { at: now() });
    }

    #[tokio::test]
    async fn a_failed_attempt_is_retried_after_its_backoff_with_its_error_kept() {
        let failing = handler(Err(JobFailure::Retry("smtp down".to_owned())));
        let JobOutcome::Retry { error, run_at } =
            outcome_of(running_job(1, 2, 25), failing, "probe").await
        else {
            panic!("expected a retry");
        };
        assert_eq!(
            (error.attempt, error.error.as_str(), error.at),
            (2, "smtp down", now())
        );
        // 16 s after the second attempt, give or take 10%.
        let delay = (run_at - now()).num_milliseconds();
        assert!((14_400..=17_600).contains(&delay), "{delay} ms");
    }

    #[tokio::test]
    async fn the_last_attempt_or_a_permanent_failure_discards_the_job() {
        let failing = handler(Err(JobFailure::Retry("still down".to_owned())));
        let outcome = outcome_of(running_job(1, 3, 3), failing, "probe").await;
        assert!(
            matches!(outcome, JobOutcome::Discard { ref error } if error.error == "still down"),
            "{outcome:?}"
        );
        let refused = handler(Err(JobFailure::Discard("550 no such mailbox".to_owned())));
        let outcome = outcome_of(running_job(1, 1, 25), refused, "probe").await;
        assert!(matches!(outcome, JobOutcome::Discard { .. }), "{outcome:?}");
    }

    #[tokio::test]
    async fn a_job_of_a_kind_without_a_handler_here_is_retried_not_lost() {
        let mut unused = MockJobHandler::new();
        unused.expect_run().never();
        let outcome = outcome_of(running_job(1, 1, 25), unused, "other_kind").await;
        assert!(
            matches!(outcome, JobOutcome::Retry { ref error, .. } if error.error.contains("no handler")),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn an_attempt_past_its_timeout_fails_and_is_retried() {
        let mut job = running_job(1, 1, 25);
        job.timeout = Duration::from_millis(50);
        // A handler that never returns.
        struct Hangs;
        #[async_trait::async_trait]
        impl JobHandler for Hangs {
            async fn run(&self, _: &Job) -> Result<(), JobFailure> {
                std::future::pending().await
            }
        }
        let outcome = outcome_of(job, Hangs, "probe").await;
        assert!(
            matches!(outcome, JobOutcome::Retry { ref error, .. } if error.error == "timed out after 50 ms"),
            "{outcome:?}"
        );
    }

    #[test]
    fn backoff_grows_with_the_fourth_power_within_ten_percent() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, 0.0), Duration::from_secs(1));
        assert_eq!(policy.delay(2, 0.0), Duration::from_secs(16));
        assert_eq!(policy.delay(3, 0.0), Duration::from_secs(81));
        assert_eq!(policy.delay(3, 1.0), Duration::from_secs_f64(89.1));
        assert_eq!(policy.delay(3, -1.0), Duration::from_secs_f64(72.9));
        assert_eq!(policy.delay(100, 0.0), policy.max);
        for _ in 0..1_000 {
            let jitter = rand_unit();
            assert!((-1.0..=1.0).contains(&jitter), "{jitter}");
        }
    }
}
