//! The job queue's throughput and latency, on the real runner and database.
//!
//! ```text
//! cargo bench -p conduit-server --bench jobs                      # SQLite (temporary file)
//! cargo bench -p conduit-server --bench jobs -- --postgres URL    # a new database on URL, dropped after
//! ```
//!
//! Two measurements with trivial (`probe`, no sleep) jobs:
//! - throughput: 20,000 jobs enqueued in batches of 1,000 per transaction;
//!   jobs completed per second from the first enqueue to the last completion;
//! - latency: 1,000 jobs enqueued one per transaction, 200 per second; the
//!   time from each job's enqueue (`created_at`) to the start of its attempt
//!   (`attempted_at`), p50 and p99.
//!
//! With PostgreSQL the jobs are enqueued by a second instance (its own pool
//! and name), so the workers learn of them only through `LISTEN`/`NOTIFY`,
//! as across a cluster. With SQLite (one instance) they are enqueued in the
//! workers' own process, which wakes them directly.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark: failing loudly is the point"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use conduit_application::events::EventSubscriber;
use conduit_application::jobs::{
    JobArgs, JobFilter, JobHandlers, JobRunner, JobState, JobUseCases, NewJob, NoObserver,
    QueueConfig, Retention, RetryPolicy, RunnerSettings,
};
use conduit_application::ports::{Clock, Database, SystemClock};
use conduit_application::supervisor::Supervisor;
use conduit_infrastructure::db::{DbSettings, DieselDatabase};
use conduit_infrastructure::testing::TestDatabase;

const BATCHES: usize = 20;
const BATCH: usize = 1_000;
const TRICKLE: usize = 1_000;
const TRICKLE_EVERY: Duration = Duration::from_millis(5);

fn probe(now: chrono::DateTime<chrono::Utc>) -> NewJob {
    NewJob::new(
        JobArgs::Probe {
            sleep_ms: 0,
            fail_attempts: 0,
        },
        now,
    )
}

async fn open(test_db: &TestDatabase, instance: &str) -> Arc<DieselDatabase> {
    let settings = DbSettings {
        instance: instance.to_owned(),
        pool_size: 12,
        ..test_db.settings()
    };
    Arc::new(test_db.open(settings).await)
}

/// Waits until no job of the default queue is pending or running.
async fn drained(jobs: &dyn JobUseCases) {
    loop {
        let stats = jobs.stats().await.unwrap();
        let pending: u64 = stats
            .iter()
            .filter(|stat| stat.queue == "default")
            .map(|stat| stat.available + stat.scheduled + stat.running + stat.retryable)
            .sum();
        if pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a short list"
    )]
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let postgres = args
        .iter()
        .position(|arg| arg == "--postgres")
        .map(|index| args.get(index + 1).expect("--postgres URL").clone());
    let test_db = match &postgres {
        Some(url) => TestDatabase::postgres(url),
        None => TestDatabase::sqlite(),
    };
    let backend = if postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let concurrency: usize = std::env::var("BENCH_JOB_WORKERS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(50);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let workers = open(&test_db, "bench-workers").await;
    let enqueuer = if postgres.is_some() {
        open(&test_db, "bench-enqueuer").await
    } else {
        Arc::clone(&workers)
    };
    let jobs: Arc<dyn JobUseCases> = Arc::new(conduit_application::jobs::JobService::new(
        Arc::clone(&workers),
        Arc::clone(&clock),
        Retention::default(),
    ));

    let supervisor = Supervisor::new();
    if let Some(listener) = workers.event_listener(Vec::<Arc<dyn EventSubscriber>>::new()) {
        supervisor.spawn_blocking("events:listener", move |shutdown| listener.run(&shutdown));
        // Let it connect before the clock starts.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    JobRunner::new(
        Arc::clone(&workers),
        Arc::clone(&clock),
        JobHandlers::standard(
            Arc::clone(&workers),
            Arc::clone(&clock),
            Retention::default(),
        ),
        RunnerSettings {
            worker: "bench-workers".to_owned(),
            queues: vec![QueueConfig {
                name: "default".to_owned(),
                concurrency,
            }],
            poll_interval: Duration::from_secs(1),
            heartbeat_interval: Duration::from_secs(5),
            retry: RetryPolicy::default(),
        },
        workers.wakeups(),
        Arc::new(NoObserver),
    )
    .start(&supervisor);

    // Throughput.
    let started = Instant::now();
    for _ in 0..BATCHES {
        let job = probe(clock.now());
        enqueuer
            .write(move |uow| {
                for _ in 0..BATCH {
                    uow.jobs().enqueue(&job)?;
                }
                Ok(())
            })
            .await
            .unwrap();
    }
    drained(&*jobs).await;
    let elapsed = started.elapsed().as_secs_f64();
    #[expect(clippy::cast_precision_loss, reason = "a count")]
    let per_second = (BATCHES * BATCH) as f64 / elapsed;

    // Latency, one job per transaction.
    let mut tick = tokio::time::interval(TRICKLE_EVERY);
    for _ in 0..TRICKLE {
        tick.tick().await;
        let job = probe(clock.now());
        enqueuer
            .write(move |uow| Ok(uow.jobs().enqueue(&job)?))
            .await
            .unwrap();
    }
    drained(&*jobs).await;
    let trickled = jobs
        .list(JobFilter {
            state: Some(JobState::Completed),
            queue: Some("default".to_owned()),
            limit: TRICKLE,
        })
        .await
        .unwrap();
    let mut waits: Vec<f64> = trickled
        .iter()
        .filter_map(|job| {
            let started = job.attempted_at?;
            Some((started - job.created_at).num_microseconds()? as f64 / 1_000.0)
        })
        .collect();
    waits.sort_by(f64::total_cmp);
    supervisor
        .stop(Duration::from_secs(5), Duration::from_secs(1))
        .await;

    println!(
        "jobs ({backend}, {concurrency} workers): {per_second:.0} jobs/s completed ({} in {elapsed:.2} s); \
         enqueue-to-start over {} jobs at {} /s: p50 {:.2} ms, p99 {:.2} ms{}",
        BATCHES * BATCH,
        waits.len(),
        1_000 / TRICKLE_EVERY.as_millis(),
        percentile(&waits, 0.50),
        percentile(&waits, 0.99),
        if postgres.is_some() {
            " (enqueued by another instance: woken by LISTEN/NOTIFY)"
        } else {
            " (enqueued in-process)"
        },
    );
}
