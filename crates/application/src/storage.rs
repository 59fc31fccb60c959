//! What every use-case service works on: the database, and the read cache in
//! front of it that the service's writes invalidate.

use std::sync::Arc;

use crate::cache::{CacheKey, CacheScope, Cacheable, NoCache, ReadCache, read_through};
use crate::error::AppError;
use crate::ports::{Database, UnitOfWork};

pub struct Storage<D> {
    pub(crate) db: Arc<D>,
    pub(crate) cache: Arc<dyn ReadCache>,
}

impl<D> Storage<D> {
    /// `db` without a cache: every read goes to the database.
    pub fn new(db: Arc<D>) -> Self {
        Self {
            db,
            cache: Arc::new(NoCache),
        }
    }

    /// Serves reads from `cache`; writes invalidate it.
    #[must_use]
    pub fn with_cache(mut self, cache: Arc<dyn ReadCache>) -> Self {
        self.cache = cache;
        self
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

    /// Runs `work` in one transaction, then makes the read models of `stale`
    /// stale. Only after the commit: a reader that raced with the write then
    /// stored what it read under the old generation, where nobody looks.
    ///
    /// # Errors
    /// Whatever `Database::write` returns; nothing is invalidated then.
    pub(crate) async fn write<T, F>(&self, stale: &[CacheScope], work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn UnitOfWork) -> Result<T, AppError> + Send + 'static,
    {
        let written = self.db.write(work).await?;
        for scope in stale {
            self.cache.invalidate(*scope);
        }
        Ok(written)
    }
}

// Derived `Clone` would needlessly require `D: Clone`.
impl<D> Clone for Storage<D> {
    fn clone(&self) -> Self {
        Self {
            db: Arc::clone(&self.db),
            cache: Arc::clone(&self.cache),
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
    use mockall::predicate::eq;

    use super::*;
    use crate::cache::MockReadCache;
    use crate::testing::FakeDb;

    fn storage(cache: MockReadCache) -> Storage<FakeDb> {
        Storage::new(Arc::new(FakeDb::default())).with_cache(Arc::new(cache))
    }

    #[tokio::test]
    async fn a_committed_write_invalidates_each_scope_it_names() {
        let mut cache = MockReadCache::new();
        for scope in [CacheScope::Content, CacheScope::Comments] {
            cache
                .expect_invalidate()
                .with(eq(scope))
                .times(1)
                .return_const(());
        }
        let written = storage(cache)
            .write(&[CacheScope::Content, CacheScope::Comments], |_| Ok(7))
            .await;
        assert_eq!(written.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_failed_write_invalidates_nothing() {
        let mut cache = MockReadCache::new();
        cache.expect_invalidate().never();
        let written: Result<(), _> = storage(cache)
            .write(&[CacheScope::Content], |_| {
                Err(AppError::NotFound("article"))
            })
            .await;
        assert!(matches!(written, Err(AppError::NotFound("article"))));
    }
}
