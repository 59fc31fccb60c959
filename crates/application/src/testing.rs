//! Test doubles for the ports: `FakeDb` runs each unit of work inline on
//! mockall repository mocks, so use cases are tested without a database.
//!
//! Reads and writes see different mocks: a read unit of work only has the
//! expectations set with [`FakeDb::reading`], a write only those set with
//! [`FakeDb::writing`], so a write done inside a read (or the other way
//! round) fails the test. The events a write records are kept when it
//! commits, in order, and dropped when it fails, as the real database does.

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use conduit_domain::UserId;

use crate::error::AppError;
use crate::events::{Committed, DomainEvent};
use crate::ports::{
    AccountTokenRepository, ArticleRepository, CommentRepository, Database, EventRepository,
    FollowRepository, JobRepository, MockAccountTokenRepository, MockArticleRepository,
    MockCommentRepository, MockEventRepository, MockFollowRepository, MockJobRepository,
    MockTagRepository, MockUploadRepository, MockUserRepository, TagRepository, UnitOfWork,
    UploadRepository, UserRepository,
};
use crate::views::{Account, Author};

/// One mock per repository; set expectations on them before the use case runs.
#[derive(Default)]
pub struct FakeRepos {
    pub users: MockUserRepository,
    pub follows: MockFollowRepository,
    pub articles: MockArticleRepository,
    pub tags: MockTagRepository,
    pub comments: MockCommentRepository,
    pub jobs: MockJobRepository,
    pub events: MockEventRepository,
    pub account_tokens: MockAccountTokenRepository,
    pub uploads: MockUploadRepository,
    recorded: Vec<DomainEvent>,
    read_only: bool,
}

impl UnitOfWork for FakeRepos {
    fn users(&mut self) -> &mut dyn UserRepository {
        &mut self.users
    }
    fn follows(&mut self) -> &mut dyn FollowRepository {
        &mut self.follows
    }
    fn articles(&mut self) -> &mut dyn ArticleRepository {
        &mut self.articles
    }
    fn tags(&mut self) -> &mut dyn TagRepository {
        &mut self.tags
    }
    fn comments(&mut self) -> &mut dyn CommentRepository {
        &mut self.comments
    }
    fn jobs(&mut self) -> &mut dyn JobRepository {
        &mut self.jobs
    }
    fn events(&mut self) -> &mut dyn EventRepository {
        &mut self.events
    }
    fn account_tokens(&mut self) -> &mut dyn AccountTokenRepository {
        &mut self.account_tokens
    }
    fn uploads(&mut self) -> &mut dyn UploadRepository {
        &mut self.uploads
    }
    fn record(&mut self, event: DomainEvent) {
        assert!(!self.read_only, "a read unit of work recorded {event:?}");
        self.recorded.push(event);
    }
}

/// A `Database` whose units of work run inline on `FakeRepos`.
pub struct FakeDb {
    reads: Mutex<FakeRepos>,
    writes: Mutex<FakeRepos>,
    committed: Mutex<Vec<DomainEvent>>,
    write_count: Mutex<usize>,
}

impl Default for FakeDb {
    fn default() -> Self {
        Self::new()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeDb {
    /// A database on which every repository call fails the test.
    pub fn new() -> Self {
        Self {
            reads: Mutex::new(FakeRepos {
                read_only: true,
                ..FakeRepos::default()
            }),
            writes: Mutex::new(FakeRepos::default()),
            committed: Mutex::new(Vec::new()),
            write_count: Mutex::new(0),
        }
    }

    /// Sets the expectations of the mocks that read units of work see.
    #[must_use]
    pub fn reading(self, setup: impl FnOnce(&mut FakeRepos)) -> Self {
        setup(&mut lock(&self.reads));
        self
    }

    /// Sets the expectations of the mocks that write units of work see.
    #[must_use]
    pub fn writing(self, setup: impl FnOnce(&mut FakeRepos)) -> Self {
        setup(&mut lock(&self.writes));
        self
    }

    /// How many write units of work ran.
    pub fn writes(&self) -> usize {
        *lock(&self.write_count)
    }

    /// The events of the writes that committed, in order.
    pub fn events(&self) -> Vec<DomainEvent> {
        lock(&self.committed).clone()
    }
}

impl Database for FakeDb {
    fn read<T, F>(&self, work: F) -> impl Future<Output = Result<T, AppError>> + Send
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn UnitOfWork) -> Result<T, AppError> + Send + 'static,
    {
        std::future::ready(work(&mut *lock(&self.reads)))
    }

    fn write<T, F>(
        &self,
        mut work: F,
    ) -> impl Future<Output = Result<Committed<T>, AppError>> + Send
    where
        T: Send + 'static,
        F: FnMut(&mut dyn UnitOfWork) -> Result<T, AppError> + Send + 'static,
    {
        *lock(&self.write_count) += 1;
        let mut repos = lock(&self.writes);
        repos.recorded.clear();
        let result = work(&mut *repos);
        let events = std::mem::take(&mut repos.recorded);
        std::future::ready(result.map(|value| {
            lock(&self.committed).extend(events.iter().cloned());
            Committed { value, events }
        }))
    }
}

/// A stored account named `username`, with no bio or image and tokens of
/// version 0.
pub fn account(id: i64, username: &str) -> Account {
    Account {
        id: UserId(id),
        username: username.to_owned(),
        email: format!("{username}@example.com"),
        bio: None,
        image: None,
        token_version: 0,
        email_verified: false,
        email_notifications: true,
    }
}

/// The author `user<id>`, with no bio or image.
pub fn author(id: UserId) -> Author {
    Author {
        id,
        username: format!("user{}", id.0),
        bio: None,
        image: None,
    }
}

/// A claimed, running probe job `id` at `attempt` of `max_attempts`.
pub fn running_job(id: i64, attempt: i32, max_attempts: i32) -> crate::jobs::Job {
    let at = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default();
    let mut job = job_running(
        crate::jobs::JobArgs::Probe {
            sleep_ms: 0,
            fail_attempts: 0,
        },
        at,
    );
    job.id = crate::jobs::JobId(id);
    job.payload = r#"{"kind":"probe","sleep_ms":0,"fail_attempts":0}"#.to_owned();
    job.attempt = attempt;
    job.max_attempts = max_attempts;
    job.attempted_by = Some("here".to_owned());
    job.heartbeat_at = Some(at);
    job
}

/// A clock stopped at `at`.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub chrono::DateTime<chrono::Utc>);

impl crate::ports::Clock for FixedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0
    }
}

/// A job of `args` in its kind's queue, running its first attempt since
/// `now`, as a handler receives it.
pub fn job_running(
    args: crate::jobs::JobArgs,
    now: chrono::DateTime<chrono::Utc>,
) -> crate::jobs::Job {
    crate::jobs::Job {
        id: crate::jobs::JobId(42),
        queue: args.default_queue().to_owned(),
        kind: args.kind().to_owned(),
        payload: String::new(),
        args: Some(args),
        state: crate::jobs::JobState::Running,
        priority: crate::jobs::DEFAULT_PRIORITY,
        attempt: 1,
        max_attempts: crate::jobs::DEFAULT_MAX_ATTEMPTS,
        run_at: now,
        unique_key: None,
        timeout: crate::jobs::DEFAULT_TIMEOUT,
        errors: Vec::new(),
        attempted_by: None,
        created_at: now,
        attempted_at: Some(now),
        heartbeat_at: None,
        finished_at: None,
    }
}
