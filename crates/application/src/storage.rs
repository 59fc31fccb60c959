//! What every use-case service works on: the database, the read cache in
//! front of it, and the clock.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::cache::{CacheKey, Cacheable, NoCache, ReadCache, invalidate_for, read_through};
use crate::error::AppError;
use crate::events::DomainEvent;
use crate::jobs::NewJob;
use crate::ports::{
    AccountTokenRepository, ArticleRepository, Clock, CommentRepository, Database, EventRepository,
    FollowRepository, JobRepository, SystemClock, TagRepository, UnitOfWork, UploadRepository,
    UserRepository,
};
use crate::reactions::{NoReactions, Reactions};

pub struct Storage<D> {
    pub(crate) db: Arc<D>,
    pub(crate) cache: Arc<dyn ReadCache>,
    clock: Arc<dyn Clock>,
    reactions: Arc<dyn Reactions>,
}

impl<D> Storage<D> {
    /// `db` without a cache (every read goes to the database), on the system clock.
    pub fn new(db: Arc<D>) -> Self {
        Self {
            db,
            cache: Arc::new(NoCache),
            clock: Arc::new(SystemClock),
            reactions: Arc::new(NoReactions),
        }
    }

    /// Enqueues the jobs `reactions` derives from each recorded event, in
    /// the event's transaction.
    #[must_use]
    pub fn with_reactions(mut self, reactions: Arc<dyn Reactions>) -> Self {
        self.reactions = reactions;
        self
    }

    /// Serves reads from `cache`; committed writes invalidate it.
    #[must_use]
    pub fn with_cache(mut self, cache: Arc<dyn ReadCache>) -> Self {
        self.cache = cache;
        self
    }

    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

impl<D: Database> Storage<D> {
    /// Reads `key` through the cache; on a miss, `work` loads it.
    ///
    /// # Errors
    /// Whatever `work` returns; errors are not cached.
    pub(crate) async fn read_cached<T, F>(&self, key: CacheKey, work: F) -> Result<Arc<T>, AppError>
    where
        T: Cacheable + Send + 'static,
        F: FnOnce(&mut dyn UnitOfWork) -> Result<T, AppError> + Send + 'static,
    {
        read_through(&*self.cache, key, || self.db.read(work)).await
    }

    /// Runs `work` in one transaction, with the jobs its events cause
    /// enqueued in the same transaction, then makes stale what the events
    /// changed. Only after the commit: a reader that raced with the write
    /// then stored what it read under the old generation, where nobody looks.
    ///
    /// # Errors
    /// Whatever `Database::write` returns; nothing is invalidated then.
    pub(crate) async fn write<T, F>(&self, mut work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn UnitOfWork) -> Result<T, AppError> + Send + 'static,
    {
        let reactions = Arc::clone(&self.reactions);
        let now = self.now();
        let committed = self
            .db
            .write(move |uow| {
                let mut reacting = Reacting {
                    uow,
                    reactions: &*reactions,
                    now,
                    jobs: Vec::new(),
                };
                let value = work(&mut reacting)?;
                let jobs = reacting.jobs;
                for job in &jobs {
                    uow.jobs().enqueue(job)?;
                }
                Ok(value)
            })
            .await?;
        invalidate_for(&*self.cache, &committed.events);
        Ok(committed.value)
    }
}

/// A write unit of work that collects the jobs its events cause.
struct Reacting<'a, 'u> {
    uow: &'a mut (dyn UnitOfWork + 'u),
    reactions: &'a dyn Reactions,
    now: DateTime<Utc>,
    jobs: Vec<NewJob>,
}

impl UnitOfWork for Reacting<'_, '_> {
    fn users(&mut self) -> &mut dyn UserRepository {
        self.uow.users()
    }
    fn follows(&mut self) -> &mut dyn FollowRepository {
        self.uow.follows()
    }
    fn articles(&mut self) -> &mut dyn ArticleRepository {
        self.uow.articles()
    }
    fn tags(&mut self) -> &mut dyn TagRepository {
        self.uow.tags()
    }
    fn comments(&mut self) -> &mut dyn CommentRepository {
        self.uow.comments()
    }
    fn jobs(&mut self) -> &mut dyn JobRepository {
        self.uow.jobs()
    }
    fn events(&mut self) -> &mut dyn EventRepository {
        self.uow.events()
    }
    fn account_tokens(&mut self) -> &mut dyn AccountTokenRepository {
        self.uow.account_tokens()
    }
    fn uploads(&mut self) -> &mut dyn UploadRepository {
        self.uow.uploads()
    }
    fn record(&mut self, event: DomainEvent) {
        self.jobs.extend(self.reactions.jobs_for(&event, self.now));
        self.uow.record(event);
    }
}

// Derived `Clone` would needlessly require `D: Clone`.
impl<D> Clone for Storage<D> {
    fn clone(&self) -> Self {
        Self {
            db: Arc::clone(&self.db),
            cache: Arc::clone(&self.cache),
            clock: Arc::clone(&self.clock),
            reactions: Arc::clone(&self.reactions),
        }
    }
}

impl<D> From<Arc<D>> for Storage<D> {
    fn from(db: Arc<D>) -> Self {
        Self::new(db)
    }
}

#[cfg(test)]
mod tests {
    use conduit_domain::{ArticleId, CommentId, UserId};
    use mockall::predicate::eq;

    use super::*;
    use crate::cache::{CacheScope, MockReadCache};
    use crate::events::DomainEvent;
    use crate::testing::FakeDb;

    fn storage(cache: MockReadCache) -> Storage<FakeDb> {
        Storage::new(Arc::new(FakeDb::new())).with_cache(Arc::new(cache))
    }

    #[tokio::test]
    async fn a_committed_write_invalidates_what_its_events_changed_once_each() {
        let mut cache = MockReadCache::new();
        for scope in [CacheScope::Content, CacheScope::Comments] {
            cache
                .expect_invalidate()
                .with(eq(scope))
                .times(1)
                .return_const(());
        }
        let written = storage(cache)
            .write(|uow| {
                uow.record(DomainEvent::Followed {
                    follower: UserId(1),
                    followee: UserId(2),
                });
                uow.record(DomainEvent::CommentPosted {
                    comment: CommentId(3),
                    article: ArticleId(4),
                    author: UserId(1),
                });
                Ok(7)
            })
            .await;
        assert_eq!(written.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_write_that_records_nothing_invalidates_nothing() {
        let mut cache = MockReadCache::new();
        cache.expect_invalidate().never();
        assert_eq!(storage(cache).write(|_| Ok(1)).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_failed_write_invalidates_nothing() {
        let mut cache = MockReadCache::new();
        cache.expect_invalidate().never();
        let written: Result<(), _> = storage(cache)
            .write(|uow| {
                uow.record(DomainEvent::ArticleFavorited {
                    article: ArticleId(1),
                    user: UserId(2),
                });
                Err(AppError::NotFound("article"))
            })
            .await;
        assert!(matches!(written, Err(AppError::NotFound("article"))));
    }

    #[tokio::test]
    async fn the_jobs_an_event_causes_are_enqueued_in_its_own_write() {
        use crate::jobs::{JobArgs, JobId};
        use crate::reactions::StandardReactions;

        let db = Arc::new(FakeDb::new().writing(|repos| {
            repos
                .jobs
                .expect_enqueue()
                .withf(|job| job.args == JobArgs::WelcomeEmail { user: UserId(9) })
                .times(1)
                .returning(|_| Ok(Some(JobId(1))));
        }));
        let storage = Storage::new(Arc::clone(&db)).with_reactions(Arc::new(StandardReactions));
        storage
            .write(|uow| {
                uow.record(DomainEvent::UserRegistered { user: UserId(9) });
                Ok(())
            })
            .await
            .expect("committed");
        assert_eq!(db.writes(), 1);
        assert_eq!(
            db.events(),
            [DomainEvent::UserRegistered { user: UserId(9) }]
        );
    }

    #[tokio::test]
    async fn a_failed_write_enqueues_nothing() {
        use crate::reactions::StandardReactions;

        let db = Arc::new(FakeDb::new().writing(|repos| {
            repos.jobs.expect_enqueue().never();
        }));
        let storage = Storage::new(Arc::clone(&db)).with_reactions(Arc::new(StandardReactions));
        let written: Result<(), _> = storage
            .write(|uow| {
                uow.record(DomainEvent::UserRegistered { user: UserId(9) });
                Err(AppError::Conflict("email"))
            })
            .await;
        assert!(written.is_err());
        assert!(db.events().is_empty());
    }
}
