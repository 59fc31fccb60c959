//! The durable job queue: background work stored in the database, enqueued
//! in the same transaction as the change that causes it
//! ([`UnitOfWork::jobs`](crate::ports::UnitOfWork::jobs)), run by
//! [`JobRunner`] at least once, retried with backoff, and visible to
//! operators through [`JobUseCases`].
//!
//! A job moves through these states:
//!
//! ```text
//!  enqueue ─► available ─┐            ┌─► completed
//!  (run_at>now) scheduled ├─► running ─┼─► retryable ─(run_at)─► running …
//!            retryable ──┘     │       └─► discarded (last attempt, or a permanent failure)
//!                              └─ worker died: rescued after its heartbeat stops ─► retryable
//!  any state but completed ─► cancelled (operator); discarded/cancelled ─► available (retry)
//! ```

mod handlers;
mod maintenance;
mod runner;
mod service;

use std::time::Duration;

use chrono::{DateTime, Utc};
use conduit_domain::{ArticleId, CommentId, UploadId, UserId};
use serde::{Deserialize, Serialize};

#[cfg(any(test, feature = "mocks"))]
pub use handlers::MockJobHandler;
pub use handlers::{JobFailure, JobHandler, JobHandlers, ProbeHandler, PruneHandler};
pub use maintenance::{Maintenance, MaintenanceSettings, PeriodicJob, Retention};
#[cfg(any(test, feature = "mocks"))]
pub use runner::MockJobObserver;
pub use runner::{
    JobObserver, JobRunner, NoObserver, QueueConfig, RetryPolicy, RunnerSettings, Wakeups,
};
#[cfg(any(test, feature = "mocks"))]
pub use service::MockJobUseCases;
pub use service::{JobService, JobUseCases, Probe, PruneReport};

/// Database identity of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub i64);

/// Where a job is in its life (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobState {
    /// Ready to run.
    Available,
    /// Waiting for its `run_at`.
    Scheduled,
    /// Claimed by a worker.
    Running,
    /// Failed; runs again at its `run_at`.
    Retryable,
    Completed,
    /// Failed for good: on its last attempt, or permanently.
    Discarded,
    /// Stopped by an operator.
    Cancelled,
}

impl JobState {
    pub const ALL: [Self; 7] = [
        Self::Available,
        Self::Scheduled,
        Self::Running,
        Self::Retryable,
        Self::Completed,
        Self::Discarded,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Scheduled => "scheduled",
            Self::Running => "running",
            Self::Retryable => "retryable",
            Self::Completed => "completed",
            Self::Discarded => "discarded",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == name)
    }

    /// Whether the job has ended (and may be pruned).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Discarded | Self::Cancelled)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a job does, with its arguments. Stored as JSON; the tag is the
/// job's kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobArgs {
    /// Checks the queue end to end (`conduit jobs probe`): sleeps, and fails
    /// its first `fail_attempts` attempts on purpose.
    Probe { sleep_ms: u64, fail_attempts: u32 },
    /// Deletes finished jobs and change events past their retention.
    Prune,
    /// Welcomes a new user, with a link that verifies their address.
    WelcomeEmail { user: UserId },
    /// Sends a new verification link (asked for again, or a new address).
    VerificationEmail { user: UserId },
    /// Sends a single-use link that sets a new password.
    PasswordResetEmail { user: UserId },
    /// Tells an article's author about a new comment.
    CommentEmail { comment: CommentId },
    /// Walks the followers of an article's author, one batch per job,
    /// enqueueing an [`JobArgs::ArticleEmail`] for each; `after` is where
    /// the previous batch ended.
    ArticleEmails {
        article: ArticleId,
        author: UserId,
        after: Option<UserId>,
    },
    /// Tells one follower about a new article.
    ArticleEmail {
        article: ArticleId,
        recipient: UserId,
    },
    /// Makes the thumbnail and medium size of an uploaded image.
    ImageVariants { upload: UploadId },
}

impl JobArgs {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Probe { .. } => "probe",
            Self::Prune => "prune",
            Self::WelcomeEmail { .. } => "welcome_email",
            Self::VerificationEmail { .. } => "verification_email",
            Self::PasswordResetEmail { .. } => "password_reset_email",
            Self::CommentEmail { .. } => "comment_email",
            Self::ArticleEmails { .. } => "article_emails",
            Self::ArticleEmail { .. } => "article_email",
            Self::ImageVariants { .. } => "image_variants",
        }
    }

    /// The kinds that send email.
    pub const EMAIL_KINDS: [&'static str; 6] = [
        "welcome_email",
        "verification_email",
        "password_reset_email",
        "comment_email",
        "article_emails",
        "article_email",
    ];

    /// The queue a job of this kind goes to unless told otherwise.
    pub fn default_queue(&self) -> &'static str {
        match self {
            Self::Probe { .. } => DEFAULT_QUEUE,
            Self::Prune => MAINTENANCE_QUEUE,
            Self::WelcomeEmail { .. }
            | Self::VerificationEmail { .. }
            | Self::PasswordResetEmail { .. }
            | Self::CommentEmail { .. }
            | Self::ArticleEmails { .. }
            | Self::ArticleEmail { .. } => MAIL_QUEUE,
            Self::ImageVariants { .. } => IMAGE_QUEUE,
        }
    }
}

/// The queue of most jobs.
pub const DEFAULT_QUEUE: &str = "default";
/// The queue of the jobs that send email, so that an SMTP outage holds up
/// nothing else.
pub const MAIL_QUEUE: &str = "mail";
/// The queue of image processing, kept apart so that its few, heavy jobs
/// are bounded on their own.
pub const IMAGE_QUEUE: &str = "images";
/// The queue of the jobs that keep the system tidy.
pub const MAINTENANCE_QUEUE: &str = "maintenance";
/// Attempts before a failing job is discarded, unless told otherwise.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 25;
/// How long one attempt may run, unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Priority of a job unless told otherwise; lower numbers run first.
pub const DEFAULT_PRIORITY: i16 = 5;

/// A job to enqueue. [`NewJob::new`] fills in the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub args: JobArgs,
    pub queue: String,
    /// Lower numbers run first.
    pub priority: i16,
    /// Not run before this instant; a job due later is `scheduled`.
    pub run_at: DateTime<Utc>,
    pub max_attempts: i32,
    /// While a job with this key is pending or running, another is not enqueued.
    pub unique_key: Option<String>,
    /// How long one attempt may run before it counts as failed.
    pub timeout: Duration,
    pub now: DateTime<Utc>,
}

impl NewJob {
    /// A job due now, in its kind's queue, with the default priority,
    /// attempts and timeout.
    pub fn new(args: JobArgs, now: DateTime<Utc>) -> Self {
        Self {
            queue: args.default_queue().to_owned(),
            args,
            priority: DEFAULT_PRIORITY,
            run_at: now,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            unique_key: None,
            timeout: DEFAULT_TIMEOUT,
            now,
        }
    }

    #[must_use]
    pub fn unique(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    #[must_use]
    pub fn max_attempts(mut self, attempts: i32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    #[must_use]
    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = at;
        self
    }

    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    #[must_use]
    pub fn priority(mut self, priority: i16) -> Self {
        self.priority = priority;
        self
    }

    /// The state the job starts in.
    pub fn initial_state(&self) -> JobState {
        if self.run_at > self.now {
            JobState::Scheduled
        } else {
            JobState::Available
        }
    }
}

/// One failed attempt, kept in the job's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptError {
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub error: String,
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub queue: String,
    pub kind: String,
    /// `None` when this build cannot read the arguments (a kind from a newer
    /// release, say): such a job fails and is retried, so a newer instance
    /// can run it.
    pub args: Option<JobArgs>,
    /// The arguments as stored, for operators.
    pub payload: String,
    pub state: JobState,
    pub priority: i16,
    /// Attempts started so far, this one included while running.
    pub attempt: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub unique_key: Option<String>,
    pub timeout: Duration,
    pub errors: Vec<AttemptError>,
    pub attempted_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub attempted_at: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// How one claimed attempt of a job ended, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Completed {
        at: DateTime<Utc>,
    },
    /// Failed; runs again at `run_at`.
    Retry {
        error: AttemptError,
        run_at: DateTime<Utc>,
    },
    /// Failed for good.
    Discard {
        error: AttemptError,
    },
    /// Not finished because the instance is stopping: available again at
    /// once, and the attempt does not count.
    Released {
        error: AttemptError,
    },
}

/// Which jobs `conduit jobs list` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub queue: Option<String>,
    pub limit: usize,
}

impl Default for JobFilter {
    fn default() -> Self {
        Self {
            state: None,
            queue: None,
            limit: 50,
        }
    }
}

/// A queue's pending and running jobs, by state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub queue: String,
    pub available: u64,
    pub scheduled: u64,
    pub running: u64,
    pub retryable: u64,
    /// The `run_at` of the oldest job that is due and not running.
    pub oldest_due: Option<DateTime<Utc>>,
}
