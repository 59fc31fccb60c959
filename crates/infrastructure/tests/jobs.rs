//! The job queue's storage against a real database (SQLite by default,
//! PostgreSQL with `CONDUIT_TEST_BACKEND=postgres`), through the
//! application's `JobRepository` port.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failed step must fail the test loudly"
)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use conduit_application::error::AppError;
use conduit_application::jobs::{
    AttemptError, Job, JobArgs, JobFilter, JobId, JobOutcome, JobState, NewJob,
};
use conduit_application::ports::{Database, UnitOfWork};
use conduit_infrastructure::db::DieselDatabase;
use conduit_infrastructure::testing::{TestDatabase, at};

async fn database() -> (Arc<DieselDatabase>, TestDatabase) {
    let test_db = TestDatabase::new();
    let db = test_db.migrated().await;
    (Arc::new(db), test_db)
}

async fn write<T, F>(db: &DieselDatabase, work: F) -> T
where
    T: Send + 'static,
    F: FnMut(&mut dyn UnitOfWork) -> Result<T, AppError> + Send + 'static,
{
    db.write(work).await.unwrap().value
}

fn probe(now: DateTime<Utc>) -> NewJob {
    NewJob::new(
        JobArgs::Probe {
            sleep_ms: 0,
            fail_attempts: 0,
        },
        now,
    )
}

async fn enqueue(db: &DieselDatabase, job: NewJob) -> Option<JobId> {
    write(db, move |uow| Ok(uow.jobs().enqueue(&job)?)).await
}

async fn claim(db: &DieselDatabase, limit: usize, worker: &str, now: DateTime<Utc>) -> Vec<Job> {
    let worker = worker.to_owned();
    write(db, move |uow| {
        Ok(uow.jobs().claim("default", limit, &worker, now)?)
    })
    .await
}

async fn find(db: &DieselDatabase, id: JobId) -> Job {
    db.read(move |uow| Ok(uow.jobs().find(id)?))
        .await
        .unwrap()
        .unwrap()
}

async fn finish(db: &DieselDatabase, job: &Job, outcome: JobOutcome) -> bool {
    let job = job.clone();
    write(db, move |uow| Ok(uow.jobs().finish(&job, &outcome)?)).await
}

fn failure(job: &Job, at_second: i64, message: &str) -> AttemptError {
    AttemptError {
        attempt: job.attempt,
        at: at(at_second),
        error: message.to_owned(),
    }
}

#[tokio::test]
async fn claims_take_due_jobs_most_urgent_first_and_count_the_attempt() {
    let (db, _test_db) = database().await;
    let late = enqueue(&db, probe(at(0)).run_at(at(100))).await.unwrap();
    let low = enqueue(&db, probe(at(0)).priority(9)).await.unwrap();
    let old = enqueue(&db, probe(at(0)).run_at(at(-5))).await.unwrap();
    let urgent = enqueue(&db, probe(at(0)).priority(1)).await.unwrap();
    assert_eq!(find(&db, late).await.state, JobState::Scheduled);
    assert_eq!(find(&db, low).await.state, JobState::Available);

    let claimed = claim(&db, 10, "worker-a", at(1)).await;
    let ids: Vec<JobId> = claimed.iter().map(|job| job.id).collect();
    assert_eq!(
        ids,
        [urgent, old, low],
        "priority, then run_at; not the one due later"
    );
    let job = &claimed[0];
    assert_eq!(
        (job.state, job.attempt, job.attempted_by.as_deref()),
        (JobState::Running, 1, Some("worker-a"))
    );
    assert_eq!(
        (job.attempted_at, job.heartbeat_at),
        (Some(at(1)), Some(at(1)))
    );
    assert!(
        claim(&db, 10, "worker-b", at(2)).await.is_empty(),
        "nothing is claimed twice"
    );
    assert_eq!(
        claim(&db, 10, "worker-b", at(100)).await[0].id,
        late,
        "due at its run_at"
    );
}

#[tokio::test]
async fn concurrent_claims_never_share_a_job() {
    let (db, _test_db) = database().await;
    write(&db, |uow| {
        for _ in 0..200 {
            uow.jobs().enqueue(&probe(at(0)))?;
        }
        Ok(())
    })
    .await;
    let claimers: Vec<_> = (0..8)
        .map(|worker| {
            let db = Arc::clone(&db);
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = claim(&db, 7, &format!("worker-{worker}"), at(1)).await;
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|job| job.id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    let distinct: HashSet<JobId> = all.iter().copied().collect();
    assert_eq!((all.len(), distinct.len()), (200, 200));
}

#[tokio::test]
async fn a_unique_key_allows_one_pending_job_and_another_once_it_ended() {
    let (db, _test_db) = database().await;
    let first = enqueue(&db, probe(at(0)).unique("nightly")).await;
    assert!(first.is_some());
    assert_eq!(enqueue(&db, probe(at(0)).unique("nightly")).await, None);
    assert!(enqueue(&db, probe(at(0)).unique("other")).await.is_some());
    let job = claim(&db, 1, "w", at(1)).await.remove(0);
    assert_eq!(job.id, first.unwrap());
    assert_eq!(
        enqueue(&db, probe(at(0)).unique("nightly")).await,
        None,
        "nor while it runs"
    );
    assert!(finish(&db, &job, JobOutcome::Completed { at: at(2) }).await);
    assert!(enqueue(&db, probe(at(3)).unique("nightly")).await.is_some());
}

#[tokio::test]
async fn outcomes_are_stored_only_by_the_holder_of_the_attempt() {
    let (db, _test_db) = database().await;
    let id = enqueue(&db, probe(at(0))).await.unwrap();
    let first = claim(&db, 1, "w", at(1)).await.remove(0);
    let retry = JobOutcome::Retry {
        error: failure(&first, 2, "boom"),
        run_at: at(10),
    };
    assert!(finish(&db, &first, retry.clone()).await);
    assert!(!finish(&db, &first, retry).await, "the attempt is over");
    let stored = find(&db, id).await;
    assert_eq!((stored.state, stored.run_at), (JobState::Retryable, at(10)));
    assert_eq!(stored.errors, [failure(&first, 2, "boom")]);

    let second = claim(&db, 1, "w", at(10)).await.remove(0);
    assert_eq!(second.attempt, 2);
    assert!(
        !finish(&db, &first, JobOutcome::Completed { at: at(11) }).await,
        "a stale attempt cannot complete the job"
    );
    assert!(
        finish(
            &db,
            &second,
            JobOutcome::Discard {
                error: failure(&second, 12, "again")
            }
        )
        .await
    );
    let stored = find(&db, id).await;
    assert_eq!(
        (stored.state, stored.finished_at),
        (JobState::Discarded, Some(at(12)))
    );
    let history: Vec<&str> = stored
        .errors
        .iter()
        .map(|error| error.error.as_str())
        .collect();
    assert_eq!(history, ["boom", "again"]);
}

#[tokio::test]
async fn a_released_job_is_available_at_once_and_its_attempt_does_not_count() {
    let (db, _test_db) = database().await;
    let id = enqueue(&db, probe(at(0))).await.unwrap();
    let job = claim(&db, 1, "w", at(1)).await.remove(0);
    assert!(
        finish(
            &db,
            &job,
            JobOutcome::Released {
                error: failure(&job, 2, "stopping")
            }
        )
        .await
    );
    let stored = find(&db, id).await;
    assert_eq!(
        (stored.state, stored.attempt, stored.run_at),
        (JobState::Available, 0, at(2))
    );
    assert_eq!(claim(&db, 1, "w", at(2)).await[0].attempt, 1);
}

#[tokio::test]
async fn heartbeats_keep_a_workers_jobs_and_name_those_it_lost() {
    let (db, _test_db) = database().await;
    write(&db, |uow| {
        for _ in 0..3 {
            uow.jobs().enqueue(&probe(at(0)))?;
        }
        Ok(())
    })
    .await;
    let mine = claim(&db, 2, "mine", at(1)).await;
    let theirs = claim(&db, 1, "theirs", at(1)).await;
    let cancelled = mine[1].id;
    write(&db, move |uow| Ok(uow.jobs().cancel(cancelled, at(2))?)).await;
    let asked = vec![mine[0].id, mine[1].id, theirs[0].id];
    let alive = write(&db, move |uow| {
        Ok(uow.jobs().heartbeat(&asked, "mine", at(3))?)
    })
    .await;
    assert_eq!(
        alive,
        [mine[0].id],
        "not the cancelled one, not another worker's"
    );
    assert_eq!(find(&db, mine[0].id).await.heartbeat_at, Some(at(3)));
    assert_eq!(find(&db, theirs[0].id).await.heartbeat_at, Some(at(1)));
}

#[tokio::test]
async fn stalled_jobs_are_rescued_unless_their_worker_came_back() {
    let (db, _test_db) = database().await;
    write(&db, |uow| {
        for _ in 0..2 {
            uow.jobs().enqueue(&probe(at(0)))?;
        }
        Ok(())
    })
    .await;
    let claimed = claim(&db, 2, "gone", at(1)).await;
    let stalled = db
        .read(|uow| Ok(uow.jobs().stalled(at(30), 10)?))
        .await
        .unwrap();
    assert_eq!(stalled.len(), 2);
    assert!(
        db.read(|uow| Ok(uow.jobs().stalled(at(1), 10)?))
            .await
            .unwrap()
            .is_empty(),
        "a heartbeat at the limit is not stalled"
    );
    // One worker heartbeats between the read and the rescue.
    let back = claimed[1].id;
    write(&db, move |uow| {
        Ok(uow.jobs().heartbeat(&[back], "gone", at(31))?)
    })
    .await;
    let mut rescued = Vec::new();
    for job in stalled {
        let outcome = JobOutcome::Retry {
            error: failure(&job, 32, "rescued"),
            run_at: at(32),
        };
        let id = job.id;
        if write(&db, move |uow| Ok(uow.jobs().rescue(&job, &outcome)?)).await {
            rescued.push(id);
        }
    }
    assert_eq!(rescued, [claimed[0].id]);
    assert_eq!(find(&db, claimed[0].id).await.state, JobState::Retryable);
    assert_eq!(find(&db, claimed[1].id).await.state, JobState::Running);
}

#[tokio::test]
async fn operators_retry_cancel_list_and_prune() {
    let (db, _test_db) = database().await;
    let id = enqueue(&db, probe(at(0)).max_attempts(1)).await.unwrap();
    let job = claim(&db, 1, "w", at(1)).await.remove(0);
    finish(
        &db,
        &job,
        JobOutcome::Discard {
            error: failure(&job, 2, "boom"),
        },
    )
    .await;
    let retried = write(&db, move |uow| Ok(uow.jobs().retry(id, at(3))?))
        .await
        .unwrap();
    assert_eq!(
        (
            retried.state,
            retried.max_attempts,
            retried.run_at,
            retried.finished_at
        ),
        (JobState::Available, 2, at(3), None),
        "one more attempt than it had used"
    );
    let pending = enqueue(&db, probe(at(0)).run_at(at(50))).await.unwrap();
    let cancelled = write(&db, move |uow| Ok(uow.jobs().cancel(pending, at(4))?))
        .await
        .unwrap();
    assert_eq!(
        (cancelled.state, cancelled.finished_at),
        (JobState::Cancelled, Some(at(4)))
    );

    let done = enqueue(&db, probe(at(0)).run_at(at(100))).await.unwrap();
    let job = claim(&db, 5, "w", at(100)).await;
    assert_eq!(job.len(), 2, "the retried one and the one due at 100");
    for job in &job {
        finish(&db, job, JobOutcome::Completed { at: at(101) }).await;
    }
    let listed = db
        .read(|uow| {
            Ok(uow.jobs().list(&JobFilter {
                state: Some(JobState::Completed),
                ..JobFilter::default()
            })?)
        })
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|job| job.id).collect::<Vec<_>>(),
        [done, id],
        "newest first"
    );

    // Completed before 102 go; the cancelled one is kept until its own limit.
    let pruned = write(&db, |uow| Ok(uow.jobs().prune(at(102), at(0))?)).await;
    assert_eq!(pruned, 2);
    let pruned = write(&db, |uow| Ok(uow.jobs().prune(at(102), at(5))?)).await;
    assert_eq!(pruned, 1);
    assert!(
        db.read(|uow| Ok(uow.jobs().list(&JobFilter::default())?))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn stats_count_pending_and_running_jobs_per_queue() {
    let (db, _test_db) = database().await;
    enqueue(&db, probe(at(0)).run_at(at(-10))).await;
    enqueue(&db, probe(at(0))).await;
    enqueue(&db, probe(at(0)).run_at(at(60))).await;
    let mut other = probe(at(0));
    other.queue = "mail".to_owned();
    enqueue(&db, other).await;
    claim(&db, 1, "w", at(1)).await;
    let stats = db.read(|uow| Ok(uow.jobs().stats(at(1))?)).await.unwrap();
    let summary: Vec<_> = stats
        .iter()
        .map(|stat| {
            (
                stat.queue.as_str(),
                stat.available,
                stat.scheduled,
                stat.running,
                stat.oldest_due,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("default", 1, 1, 1, Some(at(0))),
            ("mail", 1, 0, 0, Some(at(0)))
        ]
    );
}

#[tokio::test]
async fn of_two_instances_moving_a_schedule_exactly_one_wins_each_run() {
    let (db, _test_db) = database().await;
    let first = write(&db, |uow| {
        Ok(uow.jobs().advance_schedule("prune", at(0), at(60))?)
    })
    .await;
    let second = write(&db, |uow| {
        Ok(uow.jobs().advance_schedule("prune", at(0), at(60))?)
    })
    .await;
    assert_eq!((first, second), (true, false), "the first call creates it");
    let due = db
        .read(|uow| Ok(uow.jobs().schedule("prune")?))
        .await
        .unwrap();
    assert_eq!(due, Some(at(60)));
    let racers: Vec<_> = (0..6)
        .map(|_| {
            let db = Arc::clone(&db);
            tokio::spawn(async move {
                write(&db, |uow| {
                    Ok(uow.jobs().advance_schedule("prune", at(60), at(120))?)
                })
                .await
            })
        })
        .collect();
    let mut winners = 0;
    for racer in racers {
        winners += usize::from(racer.await.unwrap());
    }
    assert_eq!(winners, 1);
    assert_eq!(
        db.read(|uow| Ok(uow.jobs().schedule("prune")?))
            .await
            .unwrap(),
        Some(at(120))
    );
}

#[tokio::test]
async fn a_job_kind_this_build_does_not_know_is_kept_with_its_payload() {
    let (db, test_db) = database().await;
    test_db.execute(
        "INSERT INTO jobs (queue, kind, payload, state, priority, max_attempts, run_at, timeout_ms, created_at) \
         VALUES ('default', 'from_the_future', '{\"kind\":\"from_the_future\",\"x\":1}', 'available', 5, 3, \
         '2026-01-01 00:00:00', 1000, '2026-01-01 00:00:00')",
    );
    let claimed = claim(&db, 1, "w", at(10)).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].kind, "from_the_future");
    assert_eq!(claimed[0].args, None);
    assert_eq!(claimed[0].timeout, Duration::from_secs(1));
}

#[tokio::test]
async fn the_next_due_job_of_a_queue_is_the_earliest_not_running() {
    let (db, _test_db) = database().await;
    let next = |db: Arc<DieselDatabase>| async move {
        db.read(|uow| Ok(uow.jobs().next_due("default")?))
            .await
            .unwrap()
    };
    assert_eq!(next(Arc::clone(&db)).await, None);
    enqueue(&db, probe(at(0)).run_at(at(50))).await;
    enqueue(&db, probe(at(0)).run_at(at(20))).await;
    assert_eq!(next(Arc::clone(&db)).await, Some(at(20)));
    claim(&db, 1, "w", at(30)).await;
    assert_eq!(
        next(Arc::clone(&db)).await,
        Some(at(50)),
        "not the one running"
    );
}
