//! The read cache: moka, bounded in bytes and age, with one generation
//! counter per scope (see `conduit_application::cache` for the rule).
//!
//! A write made here is visible here at once (its events invalidate as it
//! commits). Several instances on one PostgreSQL database stay in step
//! through the change events: the listener (`db::listener`) hands each
//! other instance's events to `CacheSync`, within milliseconds of their
//! commit, and while the listener is cut off the cache serves nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use conduit_application::cache::{CacheKey, CacheScope, CachedValue, ReadCache};

/// Settings of the read cache.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    /// Most bytes of cached read models (as estimated by `weight`).
    pub max_bytes: u64,
    /// Longest time an entry is kept, even if nothing invalidates it.
    pub time_to_live: Duration,
}

pub struct MokaReadCache {
    entries: moka::sync::Cache<CacheKey, (u64, CachedValue)>,
    generations: [AtomicU64; 3],
    /// False while other instances' writes could go unnoticed (the link to
    /// them is down): every read then goes to the database.
    trusted: AtomicBool,
}

/// Roughly the bytes an entry holds: its strings plus a fixed cost per
/// struct, so that the cache's size bound is a memory bound.
fn weight(key: &CacheKey, value: &CachedValue) -> u32 {
    use conduit_application::views::{ArticleSummary, Profile};

    const FIXED: usize = 128;
    fn text(value: &str) -> usize {
        value.len() + 24
    }
    fn optional(value: Option<&String>) -> usize {
        value.map_or(0, |value| text(value))
    }
    fn profile(profile: &Profile) -> usize {
        FIXED
            + text(&profile.username)
            + optional(profile.bio.as_ref())
            + optional(profile.image.as_ref())
    }
    fn summary(article: &ArticleSummary) -> usize {
        FIXED
            + text(&article.slug)
            + text(&article.title)
            + text(&article.description)
            + article.tags.iter().map(|tag| text(tag)).sum::<usize>()
            + text(&article.author.username)
            + optional(article.author.bio.as_ref())
            + optional(article.author.image.as_ref())
    }
    let key_bytes = match key {
        CacheKey::Articles { filter, .. } => [&filter.tag, &filter.author, &filter.favorited_by]
            .into_iter()
            .flatten()
            .map(|name| text(name))
            .sum(),
        CacheKey::Article { slug, .. } | CacheKey::Comments { slug, .. } => text(slug),
        CacheKey::Profile { username, .. } => text(username),
        CacheKey::Feed { .. } | CacheKey::Tags | CacheKey::TokenVersion(_) => 0,
    };
    let value_bytes = match value {
        CachedValue::Articles(page) => page
            .items
            .iter()
            .map(|view| summary(&view.article) + profile(&view.author))
            .sum(),
        CachedValue::Article(view) => {
            summary(&view.article.summary) + text(&view.article.body) + profile(&view.author)
        }
        CachedValue::Comments(comments) => comments
            .iter()
            .map(|comment| FIXED + text(&comment.body) + profile(&comment.author))
            .sum(),
        CachedValue::Profile(found) => profile(found),
        CachedValue::Tags(tags) => tags.iter().map(|tag| text(tag)).sum(),
        CachedValue::TokenVersion(_) => 0,
    };
    u32::try_from(FIXED + key_bytes + value_bytes).unwrap_or(u32::MAX)
}

impl MokaReadCache {
    pub fn new(settings: CacheSettings) -> Arc<Self> {
        Arc::new(Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(settings.max_bytes)
                .weigher(|key: &CacheKey, (_, value): &(u64, CachedValue)| weight(key, value))
                .time_to_live(settings.time_to_live)
                .build(),
            generations: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            trusted: AtomicBool::new(true),
        })
    }
}

impl ReadCache for MokaReadCache {
    fn generation(&self, scope: CacheScope) -> u64 {
        self.generations[scope.index()].load(Ordering::Acquire)
    }

    fn get(&self, key: &CacheKey) -> Option<CachedValue> {
        if !self.trusted.load(Ordering::Acquire) {
            return None;
        }
        let (generation, value) = self.entries.get(key)?;
        (generation == self.generation(key.scope())).then_some(value)
    }

    fn put(&self, key: CacheKey, generation: u64, value: CachedValue) {
        // A value read before the latest write is not worth keeping.
        if self.trusted.load(Ordering::Acquire) && generation == self.generation(key.scope()) {
            self.entries.insert(key, (generation, value));
        }
    }

    fn invalidate(&self, scope: CacheScope) {
        self.generations[scope.index()].fetch_add(1, Ordering::AcqRel);
    }

    /// Resuming first makes every entry stale, since writes may have been
    /// missed in between.
    fn set_trusted(&self, trusted: bool) {
        if trusted {
            for scope in CacheScope::ALL {
                self.invalidate(scope);
            }
        }
        self.trusted.store(trusted, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> Arc<MokaReadCache> {
        MokaReadCache::new(CacheSettings {
            max_bytes: 1024 * 1024,
            time_to_live: Duration::from_secs(60),
        })
    }

    fn tags(names: &[&str]) -> CachedValue {
        CachedValue::Tags(Arc::new(
            names.iter().map(|name| (*name).to_owned()).collect(),
        ))
    }

    fn cached_tags(cache: &MokaReadCache) -> Option<Vec<String>> {
        match cache.get(&CacheKey::Tags)? {
            CachedValue::Tags(tags) => Some((*tags).clone()),
            _ => None,
        }
    }

    #[test]
    fn a_value_is_served_until_its_scope_is_invalidated() {
        let cache = cache();
        let generation = cache.generation(CacheScope::Content);
        cache.put(CacheKey::Tags, generation, tags(&["rust"]));
        assert_eq!(cached_tags(&cache), Some(vec!["rust".to_owned()]));
        cache.invalidate(CacheScope::Comments);
        assert!(
            cached_tags(&cache).is_some(),
            "another scope's write changes nothing"
        );
        cache.invalidate(CacheScope::Content);
        assert_eq!(cached_tags(&cache), None);
    }

    #[test]
    fn a_value_read_before_a_write_is_not_stored() {
        let cache = cache();
        let before = cache.generation(CacheScope::Content);
        cache.invalidate(CacheScope::Content);
        cache.put(CacheKey::Tags, before, tags(&["stale"]));
        assert_eq!(cached_tags(&cache), None);
    }

    #[test]
    fn an_untrusted_cache_serves_nothing_and_resumes_empty() {
        let cache = cache();
        cache.put(
            CacheKey::Tags,
            cache.generation(CacheScope::Content),
            tags(&["rust"]),
        );
        cache.set_trusted(false);
        assert_eq!(cached_tags(&cache), None);
        cache.put(
            CacheKey::Tags,
            cache.generation(CacheScope::Content),
            tags(&["ignored"]),
        );
        cache.set_trusted(true);
        assert_eq!(
            cached_tags(&cache),
            None,
            "writes may have been missed meanwhile"
        );
    }

    #[test]
    fn the_size_bound_is_in_bytes() {
        let cache = MokaReadCache::new(CacheSettings {
            max_bytes: 10_000,
            time_to_live: Duration::from_secs(60),
        });
        let generation = cache.generation(CacheScope::Content);
        for i in 0..100 {
            let key = CacheKey::Profile {
                viewer: None,
                username: format!("user{i}"),
            };
            let value = CachedValue::Profile(Arc::new(conduit_application::views::Profile {
                username: format!("user{i}"),
                bio: Some("x".repeat(500)),
                image: None,
                following: false,
            }));
            cache.put(key, generation, value);
        }
        cache.entries.run_pending_tasks();
        assert!(
            cache.entries.weighted_size() <= 10_000,
            "{}",
            cache.entries.weighted_size()
        );
        assert!(cache.entries.entry_count() < 100);
    }
}
