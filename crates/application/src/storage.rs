//! What every use-case service works on: the database, the read cache in
//! front of it, and the clock.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::cache::{CacheKey, Cacheable, NoCache, ReadCache, invalidate_for, read_through};
use crate::error::AppError;
use crate::ports::{Clock, Database, SystemClock, UnitOfWork};

pub struct Storage<D> {
    pub(crate) db: Arc<D>,
    pub(crate) cache: Arc<dyn ReadCache>,
    clock: Arc<dyn Clock>,
}

impl<D> Storage<D> {
    /// `db` without a cache (every read goes to the database), on the system clock.
    pub fn new(db: Arc<D>) -> Self {
        Self {
            db,
            cache: Arc::new(NoCache),
            clock: Arc::new(SystemClock),
        }
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

    /// Runs `work` in one transaction, then makes stale what the events it
    /// recorded changed. Only after the commit: a reader that raced with
    /// the write then stored what it read under the old generation, where
    /// nobody looks.
    ///
    /// # Errors
    /// Whatever `Database::write` returns; nothing is invalidated then.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn UnitOfWork) -> Result<T, AppError> + Send + 'static,
    {
        let committed = self.db.write(work).await?;
        invalidate_for(&*self.cache, &committed.events);
        Ok(committed.value)
    }
}

// Derived `Clone` would needlessly require `D: Clone`.
impl<D> Clone for Storage<D> {
    fn clone(&self) -> Self {
        Self {
            db: Arc::clone(&self.db),
            cache: Arc::clone(&self.cache),
            clock: Arc::clone(&self.clock),
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
}
