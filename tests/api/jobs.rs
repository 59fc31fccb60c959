//! The job queue as a running server works it: retries with backoff until
//! success, discards with the error history, and several instances on one
//! PostgreSQL database sharing the work without running a job twice.

use std::time::{Duration, Instant};

use conduit_application::jobs::{Job, JobFilter, JobId, JobState, Probe};
use conduit_tests::TestApp;

/// Quick polls and retries, so that the tests see them within seconds.
async fn app() -> TestApp {
    TestApp::spawn_with(fast_jobs).await
}

fn fast_jobs(settings: &mut conduit_server::config::Settings) {
    settings.job_backoff_base = Duration::from_millis(10);
    settings.job_poll_interval = Duration::from_millis(100);
    settings.job_maintenance_interval = Duration::from_millis(200);
}

async fn wait_for(app: &TestApp, id: JobId, state: JobState) -> Job {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let job = app.jobs().show(id.0).await.unwrap();
        if job.state == state {
            return job;
        }
        assert!(Instant::now() < deadline, "never {state}: {job:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_job_that_fails_twice_then_succeeds_ends_completed_on_its_third_attempt() {
    let app = app().await;
    let ids = app
        .jobs()
        .probe(Probe {
            fail_attempts: 2,
            ..Probe::default()
        })
        .await
        .unwrap();
    let job = wait_for(&app, ids[0], JobState::Completed).await;
    assert_eq!(job.attempt, 3);
    let errors: Vec<(i32, &str)> = job
        .errors
        .iter()
        .map(|error| (error.attempt, error.error.as_str()))
        .collect();
    assert_eq!(
        errors,
        [(1, "planned failure 1 of 2"), (2, "planned failure 2 of 2")]
    );
    assert!(job.finished_at.is_some());
}

#[tokio::test]
async fn a_job_that_keeps_failing_is_discarded_after_its_last_attempt() {
    let app = app().await;
    let ids = app
        .jobs()
        .probe(Probe {
            fail_attempts: 100,
            max_attempts: 3,
            ..Probe::default()
        })
        .await
        .unwrap();
    let job = wait_for(&app, ids[0], JobState::Discarded).await;
    assert_eq!((job.attempt, job.errors.len()), (3, 3));
    let discarded = app
        .jobs()
        .list(JobFilter {
            state: Some(JobState::Discarded),
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(discarded.iter().map(|job| job.id).collect::<Vec<_>>(), ids);
}

#[tokio::test]
async fn the_metrics_count_attempts_by_outcome_and_the_queue_by_state() {
    let app = app().await;
    let ids = app
        .jobs()
        .probe(Probe {
            fail_attempts: 1,
            ..Probe::default()
        })
        .await
        .unwrap();
    let sleeper = app
        .jobs()
        .probe(Probe {
            sleep: Duration::from_secs(5),
            ..Probe::default()
        })
        .await
        .unwrap();
    wait_for(&app, ids[0], JobState::Completed).await;
    wait_for(&app, sleeper[0], JobState::Running).await;
    let metrics = app.get("/metrics", None).await.text;
    for line in [
        "conduit_jobs{queue=\"default\",state=\"running\"} 1",
        "conduit_jobs{queue=\"default\",state=\"available\"} 0",
        "conduit_job_attempts_total{kind=\"probe\",outcome=\"completed\",queue=\"default\"} 1",
        "conduit_job_attempts_total{kind=\"probe\",outcome=\"retryable\",queue=\"default\"} 1",
        "conduit_job_run_seconds_count{kind=\"probe\",queue=\"default\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

/// Sums the samples of `name` whose labels contain `labels`.
fn metric_sum(metrics: &str, name: &str, labels: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| line.starts_with(name) && line.contains(labels))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn two_instances_on_one_postgres_database_run_a_thousand_jobs_once_each() {
    if conduit_infrastructure::testing::backend()
        != conduit_infrastructure::db::BackendKind::Postgres
    {
        eprintln!(
            "skipped: several instances share only a PostgreSQL database (CONDUIT_TEST_BACKEND=postgres)"
        );
        return;
    }
    let first = TestApp::spawn_with(fast_jobs).await;
    let second = first.spawn_beside(fast_jobs).await;
    let ids = first
        .jobs()
        .probe(Probe {
            count: 1_000,
            ..Probe::default()
        })
        .await
        .unwrap();
    assert_eq!(ids.len(), 1_000);

    let deadline = Instant::now() + Duration::from_secs(60);
    let completed = loop {
        let completed = first
            .jobs()
            .list(JobFilter {
                state: Some(JobState::Completed),
                queue: Some("default".to_owned()),
                limit: 2_000,
            })
            .await
            .unwrap();
        if completed.len() == 1_000 {
            break completed;
        }
        assert!(
            Instant::now() < deadline,
            "{} of 1000 completed",
            completed.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        completed.iter().all(|job| job.attempt == 1),
        "a job ran twice: {:?}",
        completed.iter().find(|job| job.attempt != 1)
    );
    let mut workers: Vec<&str> = completed
        .iter()
        .filter_map(|job| job.attempted_by.as_deref())
        .collect();
    workers.sort_unstable();
    workers.dedup();
    assert_eq!(workers.len(), 2, "both instances took work: {workers:?}");

    // Each instance counts the attempts it ran: together, exactly 1000.
    let label = "kind=\"probe\",outcome=\"completed\"";
    let mut runs = 0.0;
    for app in [&first, &second] {
        let metrics = app.get("/metrics", None).await.text;
        let here = metric_sum(&metrics, "conduit_job_attempts_total", label);
        assert!(here > 0.0, "each instance ran some");
        runs += here;
    }
    assert!(
        (runs - 1_000.0).abs() < f64::EPSILON,
        "{runs} runs for 1000 jobs"
    );
}

#[tokio::test]
async fn a_periodic_job_is_enqueued_once_per_period_however_many_instances_run() {
    if conduit_infrastructure::testing::backend()
        != conduit_infrastructure::db::BackendKind::Postgres
    {
        eprintln!(
            "skipped: several instances share only a PostgreSQL database (CONDUIT_TEST_BACKEND=postgres)"
        );
        return;
    }
    let every_second = |settings: &mut conduit_server::config::Settings| {
        fast_jobs(settings);
        settings.job_prune_interval = Duration::from_secs(1);
    };
    let first = TestApp::spawn_with(every_second).await;
    let _second = first.spawn_beside(every_second).await;
    let _third = first.spawn_beside(every_second).await;
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let prunes = first
        .jobs()
        .list(JobFilter {
            queue: Some("maintenance".to_owned()),
            limit: 100,
            ..JobFilter::default()
        })
        .await
        .unwrap();
    // One per second over 5.5 s: 5 to 7 (the first comes at once, and the
    // window's edges may add one); three instances each enqueuing would make 15 or more.
    assert!(
        (5..=7).contains(&prunes.len()),
        "{} prune jobs: {:?}",
        prunes.len(),
        prunes.iter().map(|job| job.created_at).collect::<Vec<_>>()
    );
}
