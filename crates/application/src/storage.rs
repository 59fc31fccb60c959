//! What every use-case service works on: the database, and the read cache in
//! front of it that the service's writes invalidate.

use std::sync::Arc;

use crate::cache::{NoCache, ReadCache};

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
