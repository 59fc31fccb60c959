//! The read cache: moka, bounded in entries and age, with one generation
//! counter per scope (see `conduit_application::cache` for the rule).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use conduit_application::cache::{CacheKey, CacheScope, CachedValue, ReadCache};

/// Settings of the read cache.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    /// Most entries kept; 0 disables the cache.
    pub capacity: u64,
    /// Longest time an entry is kept, even if nothing invalidates it.
    pub time_to_live: Duration,
}

pub struct MokaReadCache {
    entries: moka::sync::Cache<CacheKey, (u64, CachedValue)>,
    generations: [AtomicU64; 3],
}

fn index(scope: CacheScope) -> usize {
    match scope {
        CacheScope::Content => 0,
        CacheScope::Comments => 1,
        CacheScope::Users => 2,
    }
}

impl MokaReadCache {
    pub fn new(settings: CacheSettings) -> Arc<Self> {
        Arc::new(Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(settings.capacity)
                .time_to_live(settings.time_to_live)
                .build(),
            generations: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
        })
    }
}

impl ReadCache for MokaReadCache {
    fn generation(&self, scope: CacheScope) -> u64 {
        self.generations[index(scope)].load(Ordering::Acquire)
    }

    fn get(&self, key: &CacheKey) -> Option<CachedValue> {
        let (generation, value) = self.entries.get(key)?;
        (generation == self.generation(key.scope())).then_some(value)
    }

    fn put(&self, key: CacheKey, generation: u64, value: CachedValue) {
        // A value read before the latest write is not worth keeping.
        if generation == self.generation(key.scope()) {
            self.entries.insert(key, (generation, value));
        }
    }

    fn invalidate(&self, scope: CacheScope) {
        self.generations[index(scope)].fetch_add(1, Ordering::AcqRel);
    }
}
