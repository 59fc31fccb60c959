//! The one owner of every background task (job workers, the maintenance
//! loop, the database listener): tasks are started through it, restarted by
//! it when they fail, and stopped by it within the shutdown grace.
//!
//! Stopping has two steps. First every task is told to stop
//! ([`Shutdown::stopping`]): it stops taking new work and finishes what it
//! holds. When the grace is nearly over, the deadline fires
//! ([`Shutdown::deadline`]): tasks give back what they could not finish
//! (a job worker releases its jobs for a retry elsewhere), and whatever is
//! still running at the end of the grace is aborted.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

/// Pause before a task that failed is started again.
const RESTART_DELAY: Duration = Duration::from_secs(1);

/// What a task watches to know when to stop.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    stop: CancellationToken,
    deadline: CancellationToken,
}

impl Shutdown {
    /// Resolves once the process is stopping: take no new work.
    pub async fn stopping(&self) {
        self.stop.cancelled().await;
    }

    pub fn is_stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Resolves when the grace is nearly over: give back unfinished work now.
    pub async fn deadline(&self) {
        self.deadline.cancelled().await;
    }

    pub fn is_past_deadline(&self) -> bool {
        self.deadline.is_cancelled()
    }

    /// Sleeps for `duration`, or less if the process starts stopping.
    /// Answers whether the whole pause passed.
    pub async fn pause(&self, duration: Duration) -> bool {
        tokio::select! {
            () = self.stopping() => false,
            () = tokio::time::sleep(duration) => true,
        }
    }

    /// Blocking tasks: sleeps for `duration` or until stopping, whichever
    /// comes first.
    pub fn pause_blocking(&self, duration: Duration) {
        let step = Duration::from_millis(50).min(duration);
        let started = std::time::Instant::now();
        while !self.is_stopping() && started.elapsed() < duration {
            std::thread::sleep(step);
        }
    }
}

struct Task {
    name: String,
    handle: JoinHandle<()>,
}

/// How a stop went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopReport {
    /// Tasks that ended by themselves within the grace.
    pub finished: usize,
    /// Tasks still running at the end of the grace, by name (aborted; a
    /// blocking task may go on until it next looks at its `Shutdown`).
    pub aborted: Vec<String>,
}

/// Starts, restarts and stops the background tasks.
#[derive(Default)]
pub struct Supervisor {
    shutdown: Shutdown,
    tasks: Mutex<Vec<Task>>,
}

impl Supervisor {
    pub fn new() -> Self {
        Self::default()
    }

    /// What the tasks watch; also for work that is not a task of its own.
    pub fn shutdown_signal(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Runs `task` on the async runtime until the process stops. A task
    /// that returns or panics before then is logged and started again.
    pub fn spawn<F, Fut>(&self, name: impl Into<String>, task: F)
    where
        F: Fn(Shutdown) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let name = name.into();
        let shutdown = self.shutdown.clone();
        let task_name = name.clone();
        let handle = tokio::spawn(async move {
            loop {
                // Aborting the supervising task aborts the attempt with it.
                let attempt = AbortOnDropHandle::new(tokio::spawn(task(shutdown.clone())));
                let ended = attempt.await;
                if shutdown.is_stopping() {
                    break;
                }
                match ended {
                    Ok(()) => {
                        tracing::error!(task = %task_name, "background task ended early; restarting")
                    }
                    Err(error) => {
                        tracing::error!(task = %task_name, %error, "background task failed; restarting")
                    }
                }
                if !shutdown.pause(RESTART_DELAY).await {
                    break;
                }
            }
        });
        self.keep(name, handle);
    }

    /// Runs `task` on a thread of its own (for blocking I/O) until the
    /// process stops; it must return soon after `Shutdown::is_stopping`.
    /// A task that returns or panics before then is started again.
    pub fn spawn_blocking<F>(&self, name: impl Into<String>, task: F)
    where
        F: Fn(Shutdown) + Send + Sync + 'static,
    {
        let task = std::sync::Arc::new(task);
        self.spawn(name, move |shutdown| {
            let task = std::sync::Arc::clone(&task);
            async move {
                let ended = tokio::task::spawn_blocking(move || task(shutdown)).await;
                // A panic on the thread is the task's failure: `spawn` restarts it.
                if let Err(error) = ended
                    && error.is_panic()
                {
                    std::panic::resume_unwind(error.into_panic());
                }
            }
        });
    }

    fn keep(&self, name: String, handle: JoinHandle<()>) {
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Task { name, handle });
    }

    /// The names of the tasks started so far.
    pub fn task_names(&self) -> Vec<String> {
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|task| task.name.clone())
            .collect()
    }

    /// Stops every task within `grace`: tells them to stop, fires the
    /// deadline when `release_margin` of the grace is left, and aborts
    /// whatever is still running when the grace is over.
    pub async fn stop(&self, grace: Duration, release_margin: Duration) -> StopReport {
        self.shutdown.stop.cancel();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        let started = tokio::time::Instant::now();
        let grace_end = started + grace;
        let deadline_at = grace_end - release_margin.min(grace);
        let deadline = self.shutdown.deadline.clone();
        let fire_deadline = tokio::spawn(async move {
            tokio::time::sleep_until(deadline_at).await;
            deadline.cancel();
        });
        let mut report = StopReport::default();
        for mut task in tasks {
            match tokio::time::timeout_at(grace_end, &mut task.handle).await {
                Ok(_) => report.finished += 1,
                Err(_) => {
                    task.handle.abort();
                    tracing::warn!(task = %task.name, "background task still running at the end of the grace; aborted");
                    report.aborted.push(task.name);
                }
            }
        }
        fire_deadline.abort();
        // Whatever stopped early, the deadline has passed for everyone now.
        self.shutdown.deadline.cancel();
        report
    }
}

// No task outlives its supervisor: a dropped supervisor (its owner gone
// without a stop) tells every task to stop at once.
impl Drop for Supervisor {
    fn drop(&mut self) {
        self.shutdown.stop.cancel();
        self.shutdown.deadline.cancel();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_task_that_fails_is_started_again_until_the_stop() {
        tokio::time::pause();
        let supervisor = Supervisor::new();
        let starts = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&starts);
        supervisor.spawn("flaky", move |shutdown| {
            let attempt = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                assert!(attempt >= 2, "failing on purpose, attempt {attempt}");
                shutdown.stopping().await;
            }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 3);
        let report = supervisor
            .stop(Duration::from_secs(5), Duration::from_secs(1))
            .await;
        assert_eq!(
            report,
            StopReport {
                finished: 1,
                aborted: Vec::new()
            }
        );
        assert_eq!(
            starts.load(Ordering::SeqCst),
            3,
            "not restarted after the stop"
        );
    }

    #[tokio::test]
    async fn a_blocking_task_that_panics_is_started_again_and_stops_when_told() {
        let supervisor = Supervisor::new();
        let starts = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&starts);
        supervisor.spawn_blocking("listener", move |shutdown| {
            assert!(
                counted.fetch_add(1, Ordering::SeqCst) > 0,
                "failing on purpose"
            );
            while !shutdown.is_stopping() {
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let started = std::time::Instant::now();
        while starts.load(Ordering::SeqCst) < 2 {
            assert!(started.elapsed() < Duration::from_secs(5), "not restarted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let report = supervisor
            .stop(Duration::from_secs(5), Duration::from_secs(1))
            .await;
        assert_eq!(report.finished, 1);
        assert_eq!(starts.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_deadline_fires_before_the_grace_ends_and_stragglers_are_aborted() {
        tokio::time::pause();
        let supervisor = Supervisor::new();
        let released = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&released);
        // Finishes its work only when the deadline tells it to give it back.
        supervisor.spawn("worker", move |shutdown| {
            let counted = Arc::clone(&counted);
            async move {
                shutdown.deadline().await;
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        // Ignores every signal.
        supervisor.spawn("stuck", |_| std::future::pending());
        let started = tokio::time::Instant::now();
        let report = supervisor
            .stop(Duration::from_secs(10), Duration::from_secs(2))
            .await;
        assert_eq!(released.load(Ordering::SeqCst), 1);
        assert_eq!(report.finished, 1);
        assert_eq!(report.aborted, ["stuck"]);
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_secs(10) && elapsed < Duration::from_millis(10_050),
            "{elapsed:?}"
        );
    }
}
