//! The read cache: moka, bounded in entries and age, with one generation
//! counter per scope (see `conduit_application::cache` for the rule).
//!
//! Several instances on one PostgreSQL database keep their caches in step
//! through `LISTEN`/`NOTIFY` ([`sync_over_postgres`]): each local write is
//! announced after it commits, and the others make the same scope stale.
//! Another instance's write becomes visible here within tens of
//! milliseconds (the polling interval plus the network); a write made here
//! is visible here at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use conduit_application::cache::{CacheKey, CacheScope, CachedValue, ReadCache};

use crate::error::InfrastructureError;

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
    /// Tells other instances about a local write.
    publisher: OnceLock<Box<dyn Fn(CacheScope) + Send + Sync>>,
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
        CacheKey::Feed { .. } | CacheKey::Tags | CacheKey::UserExists(_) => 0,
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
        CachedValue::UserExists => 0,
    };
    u32::try_from(FIXED + key_bytes + value_bytes).unwrap_or(u32::MAX)
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
                .max_capacity(settings.max_bytes)
                .weigher(|key: &CacheKey, (_, value): &(u64, CachedValue)| weight(key, value))
                .time_to_live(settings.time_to_live)
                .build(),
            generations: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            trusted: AtomicBool::new(true),
            publisher: OnceLock::new(),
        })
    }

    /// Makes `scope` stale here only: another instance wrote.
    pub fn invalidate_local(&self, scope: CacheScope) {
        self.generations[index(scope)].fetch_add(1, Ordering::AcqRel);
    }

    /// Stops or resumes serving from the cache. Resuming first makes every
    /// entry stale, since writes may have been missed in between.
    pub fn set_trusted(&self, trusted: bool) {
        if trusted {
            for scope in CacheScope::ALL {
                self.invalidate_local(scope);
            }
        }
        self.trusted.store(trusted, Ordering::Release);
    }

    /// Sets how local writes are told to other instances (once).
    pub fn set_publisher(&self, publisher: Box<dyn Fn(CacheScope) + Send + Sync>) {
        if self.publisher.set(publisher).is_err() {
            tracing::warn!("the cache publisher was already set");
        }
    }
}

impl ReadCache for MokaReadCache {
    fn generation(&self, scope: CacheScope) -> u64 {
        self.generations[index(scope)].load(Ordering::Acquire)
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
        self.invalidate_local(scope);
        if let Some(publish) = self.publisher.get() {
            publish(scope);
        }
    }
}

/// The channel instances announce their writes on.
const CHANNEL: &str = "conduit_cache";
/// How often the listener looks for announcements.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// How often the listener checks that its connection is alive.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// Pause before reconnecting after a failure.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

fn scope_name(scope: CacheScope) -> &'static str {
    match scope {
        CacheScope::Content => "content",
        CacheScope::Comments => "comments",
        CacheScope::Users => "users",
    }
}

fn scope_named(name: &str) -> Option<CacheScope> {
    CacheScope::ALL
        .into_iter()
        .find(|scope| scope_name(*scope) == name)
}

/// Keeps `cache` in step with the other instances on the PostgreSQL
/// database at `url`: two threads, each with its own connection, one
/// announcing local writes and one applying everyone else's. While the
/// listener is not connected, the cache is not trusted (reads go to the
/// database).
///
/// # Errors
/// When a thread cannot be started.
pub fn sync_over_postgres(
    cache: &Arc<MokaReadCache>,
    url: &str,
) -> Result<(), InfrastructureError> {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;

    let instance = uuid::Uuid::new_v4().simple().to_string();
    cache.set_trusted(false);

    let (announcements, pending) = std::sync::mpsc::channel::<CacheScope>();
    let announcements = std::sync::Mutex::new(announcements);
    cache.set_publisher(Box::new(move |scope| {
        let sender = announcements
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The notifier thread only stops with the process.
        let _ = sender.send(scope);
    }));

    let notifier_url = url.to_owned();
    let notifier_instance = instance.clone();
    std::thread::Builder::new()
        .name("cache-notify".to_owned())
        .spawn(move || {
            let mut connection: Option<PgConnection> = None;
            for scope in pending {
                let payload = format!("{notifier_instance}:{}", scope_name(scope));
                loop {
                    let conn = match connection.as_mut() {
                        Some(conn) => conn,
                        None => match PgConnection::establish(&notifier_url) {
                            Ok(conn) => connection.insert(conn),
                            Err(error) => {
                                tracing::warn!(%error, "cache notifier cannot connect");
                                std::thread::sleep(RECONNECT_DELAY);
                                continue;
                            }
                        },
                    };
                    let sent = diesel::sql_query("SELECT pg_notify($1, $2)")
                        .bind::<diesel::sql_types::Text, _>(CHANNEL)
                        .bind::<diesel::sql_types::Text, _>(&payload)
                        .execute(conn);
                    match sent {
                        Ok(_) => break,
                        Err(error) => {
                            tracing::warn!(%error, "cache notifier lost its connection");
                            connection = None;
                        }
                    }
                }
            }
        })
        .map_err(InfrastructureError::io("starting the cache notifier"))?;

    let listener_url = url.to_owned();
    let cache = Arc::clone(cache);
    std::thread::Builder::new()
        .name("cache-listen".to_owned())
        .spawn(move || {
            loop {
                let mut conn = match PgConnection::establish(&listener_url)
                    .map_err(|error| error.to_string())
                    .and_then(|mut conn| {
                        conn.batch_execute(&format!("LISTEN {CHANNEL}"))
                            .map(|()| conn)
                            .map_err(|error| error.to_string())
                    }) {
                    Ok(conn) => conn,
                    Err(error) => {
                        tracing::warn!(%error, "cache listener cannot connect; the cache is off");
                        std::thread::sleep(RECONNECT_DELAY);
                        continue;
                    }
                };
                cache.set_trusted(true);
                tracing::info!("cache listener connected");
                let mut last_check = std::time::Instant::now();
                'listening: loop {
                    std::thread::sleep(POLL_INTERVAL);
                    for notification in conn.notifications_iter() {
                        match notification {
                            Ok(notification) => {
                                let Some((sender, scope)) = notification.payload.split_once(':')
                                else {
                                    continue;
                                };
                                if sender != instance
                                    && let Some(scope) = scope_named(scope)
                                {
                                    cache.invalidate_local(scope);
                                }
                            }
                            Err(error) => {
                                tracing::warn!(%error, "cache listener lost its connection");
                                break 'listening;
                            }
                        }
                    }
                    if last_check.elapsed() >= KEEPALIVE_INTERVAL {
                        if let Err(error) = conn.batch_execute("SELECT 1") {
                            tracing::warn!(%error, "cache listener lost its connection");
                            break 'listening;
                        }
                        last_check = std::time::Instant::now();
                    }
                }
                cache.set_trusted(false);
                std::thread::sleep(RECONNECT_DELAY);
            }
        })
        .map_err(InfrastructureError::io("starting the cache listener"))?;
    Ok(())
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
    fn local_writes_are_announced_and_remote_ones_are_not() {
        let cache = cache();
        let announced = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Arc::clone(&announced);
        cache.set_publisher(Box::new(move |scope| sink.lock().unwrap().push(scope)));
        cache.invalidate(CacheScope::Comments);
        cache.invalidate_local(CacheScope::Content);
        assert_eq!(*announced.lock().unwrap(), [CacheScope::Comments]);
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
