//! Read models kept between requests, and the rule that keeps them right.
//!
//! Every cached value is stored with the *generation* of its scope that was
//! current before the database was read. A write bumps the generation of each
//! scope it affects right after it commits, so every value read before that
//! commit is ignored from then on. A reader that raced with the write stores
//! its value under the old generation, where no later reader looks. Values
//! that depend on the caller (`favorited`, `following`) are keyed by the
//! caller, never shared.

use std::sync::Arc;

use conduit_domain::{Paging, UserId};

use crate::events::{DomainEvent, EventSubscriber, StoredEvent};
use crate::ports::ArticleFilter;
use crate::views::{ArticleRecord, ArticleSummary, ArticleView, CommentView, Page, Profile};

/// Groups of read models that writes invalidate together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheScope {
    /// Articles, tags, favorites, follows and the profiles shown with them.
    Content,
    /// Comments (and the profiles shown with them).
    Comments,
    /// Which users exist (checked on every authenticated request).
    Users,
}

impl CacheScope {
    pub const ALL: [Self; 3] = [Self::Content, Self::Comments, Self::Users];

    /// The scope's position in [`Self::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The scopes whose read models `event` makes stale. Exhaustive on
    /// purpose: a new kind of event must say what it invalidates.
    pub fn stale_after(event: &DomainEvent) -> &'static [Self] {
        match event {
            // Token versions are cached for existing users only, absence
            // never: a new user changes nothing.
            DomainEvent::UserRegistered { .. } => &[],
            // Names, bios and images are shown with articles, comments and
            // profiles; a new password revokes the user's tokens.
            DomainEvent::UserUpdated {
                profile, password, ..
            } => match (*profile, *password) {
                (true, true) => &[Self::Content, Self::Comments, Self::Users],
                (true, false) => &[Self::Content, Self::Comments],
                (false, true) => &[Self::Users],
                (false, false) => &[],
            },
            DomainEvent::TokensRevoked { .. } => &[Self::Users],
            // Nothing cached shows a user's verification or their requests.
            DomainEvent::VerificationRequested { .. }
            | DomainEvent::PasswordResetRequested { .. }
            | DomainEvent::EmailVerified { .. }
            | DomainEvent::UploadStored { .. } => &[],
            // `following` appears on profiles, article authors and comment authors.
            DomainEvent::Followed { .. } | DomainEvent::Unfollowed { .. } => {
                &[Self::Content, Self::Comments]
            }
            DomainEvent::ArticlePublished { .. }
            | DomainEvent::ArticleFavorited { .. }
            | DomainEvent::ArticleUnfavorited { .. } => &[Self::Content],
            // Comment lists are found by the article's slug, which may move or go.
            DomainEvent::ArticleUpdated { previous_slug, .. } => {
                if previous_slug.is_some() {
                    &[Self::Content, Self::Comments]
                } else {
                    &[Self::Content]
                }
            }
            DomainEvent::ArticleDeleted { .. } => &[Self::Content, Self::Comments],
            DomainEvent::CommentPosted { .. } | DomainEvent::CommentDeleted { .. } => {
                &[Self::Comments]
            }
        }
    }
}

/// Makes stale what `events` changed, each scope once.
pub fn invalidate_for(cache: &dyn ReadCache, events: &[DomainEvent]) {
    let mut stale = [false; CacheScope::ALL.len()];
    for event in events {
        for scope in CacheScope::stale_after(event) {
            stale[scope.index()] = true;
        }
    }
    for (scope, stale) in CacheScope::ALL.into_iter().zip(stale) {
        if stale {
            cache.invalidate(scope);
        }
    }
}

/// What is cached, and for whom.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CacheKey {
    Articles {
        viewer: Option<UserId>,
        filter: ArticleFilter,
        paging: Paging,
    },
    Feed {
        reader: UserId,
        paging: Paging,
    },
    Article {
        viewer: Option<UserId>,
        slug: String,
    },
    Comments {
        viewer: Option<UserId>,
        slug: String,
    },
    Profile {
        viewer: Option<UserId>,
        username: String,
    },
    Tags,
    /// The version a user's tokens must carry.
    TokenVersion(UserId),
}

impl CacheKey {
    /// The scope whose writes make this entry stale.
    pub fn scope(&self) -> CacheScope {
        match self {
            Self::Comments { .. } => CacheScope::Comments,
            Self::TokenVersion(_) => CacheScope::Users,
            _ => CacheScope::Content,
        }
    }
}

/// A cached read model.
#[derive(Debug, Clone)]
pub enum CachedValue {
    Articles(Arc<Page<ArticleView<ArticleSummary>>>),
    Article(Arc<ArticleView<ArticleRecord>>),
    Comments(Arc<Vec<CommentView>>),
    Profile(Arc<Profile>),
    Tags(Arc<Vec<String>>),
    TokenVersion(i64),
}

/// An in-process cache of read models (implemented in infrastructure).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait ReadCache: Send + Sync {
    /// The current generation of `scope`. Read it *before* reading the
    /// database for a value to `put`.
    fn generation(&self, scope: CacheScope) -> u64;
    /// The value stored for `key`, if it was stored at the current generation.
    fn get(&self, key: &CacheKey) -> Option<CachedValue>;
    /// Stores `value`, computed from data read at `generation`.
    fn put(&self, key: CacheKey, generation: u64, value: CachedValue);
    /// Makes every value of `scope` stale. Called after a write that
    /// affects it has committed, here or on another instance.
    fn invalidate(&self, scope: CacheScope);
    /// Stops (`false`) or resumes serving cached values. While other
    /// instances' writes could go unseen, nothing cached may be served; on
    /// resuming, everything cached before is stale.
    fn set_trusted(&self, trusted: bool);
}

/// No cache at all: every read goes to the database.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCache;

impl ReadCache for NoCache {
    fn generation(&self, _: CacheScope) -> u64 {
        0
    }
    fn get(&self, _: &CacheKey) -> Option<CachedValue> {
        None
    }
    fn put(&self, _: CacheKey, _: u64, _: CachedValue) {}
    fn invalidate(&self, _: CacheScope) {}
    fn set_trusted(&self, _: bool) {}
}

/// Keeps this instance's cache in step with the writes of the others: their
/// events make stale what they changed (this instance's own writes did so
/// as they committed), and while the feed of events is interrupted the
/// cache serves nothing.
pub struct CacheSync {
    cache: std::sync::Arc<dyn ReadCache>,
    origin: String,
}

impl CacheSync {
    /// `origin` is this instance's name, as its events record it.
    pub fn new(cache: std::sync::Arc<dyn ReadCache>, origin: impl Into<String>) -> Self {
        Self {
            cache,
            origin: origin.into(),
        }
    }
}

impl EventSubscriber for CacheSync {
    fn deliver(&self, events: &[StoredEvent]) {
        let remote: Vec<DomainEvent> = events
            .iter()
            .filter(|stored| stored.origin != self.origin)
            .map(|stored| stored.event.clone())
            .collect();
        invalidate_for(&*self.cache, &remote);
    }

    fn interrupted(&self) {
        self.cache.set_trusted(false);
    }

    fn caught_up(&self) {
        self.cache.set_trusted(true);
    }
}

/// A read model that has a `CachedValue` variant.
pub trait Cacheable: Sized {
    fn wrap(value: Arc<Self>) -> CachedValue;
    fn unwrap(value: CachedValue) -> Option<Arc<Self>>;
}

macro_rules! cacheable {
    ($($variant:ident($model:ty)),* $(,)?) => {
        $(
            impl Cacheable for $model {
                fn wrap(value: Arc<Self>) -> CachedValue {
                    CachedValue::$variant(value)
                }
                fn unwrap(value: CachedValue) -> Option<Arc<Self>> {
                    match value {
                        CachedValue::$variant(value) => Some(value),
                        _ => None,
                    }
                }
            }
        )*
    };
}

cacheable!(
    Articles(Page<ArticleView<ArticleSummary>>),
    Article(ArticleView<ArticleRecord>),
    Comments(Vec<CommentView>),
    Profile(Profile),
    Tags(Vec<String>),
);

/// Reads `key` through the cache: a hit is returned as is; on a miss, `load`
/// runs and its result is stored under the generation read before it.
///
/// # Errors
/// Whatever `load` returns; errors are not cached.
pub async fn read_through<T, F, Fut>(
    cache: &dyn ReadCache,
    key: CacheKey,
    load: F,
) -> Result<Arc<T>, crate::AppError>
where
    T: Cacheable,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, crate::AppError>>,
{
    if let Some(value) = cache.get(&key).and_then(T::unwrap) {
        return Ok(value);
    }
    let generation = cache.generation(key.scope());
    let value = Arc::new(load().await?);
    cache.put(key, generation, T::wrap(Arc::clone(&value)));
    Ok(value)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use conduit_domain::{ArticleId, UserId};
    use mockall::predicate::eq;

    use super::*;
    use crate::events::EventId;

    fn stored(origin: &str, event: DomainEvent) -> StoredEvent {
        StoredEvent {
            id: EventId(1),
            event,
            origin: origin.to_owned(),
            recorded_at: Utc::now(),
        }
    }

    #[test]
    fn other_instances_events_invalidate_and_this_ones_do_not_again() {
        let mut cache = MockReadCache::new();
        cache
            .expect_invalidate()
            .with(eq(CacheScope::Content))
            .times(1)
            .return_const(());
        let sync = CacheSync::new(std::sync::Arc::new(cache), "here");
        let favorited = DomainEvent::ArticleFavorited {
            article: ArticleId(1),
            user: UserId(2),
        };
        sync.deliver(&[
            stored("here", favorited.clone()),
            stored("there", favorited),
        ]);
    }

    #[test]
    fn an_interrupted_feed_suspends_the_cache_until_it_has_caught_up() {
        let mut cache = MockReadCache::new();
        let mut sequence = mockall::Sequence::new();
        cache
            .expect_set_trusted()
            .with(eq(false))
            .times(1)
            .in_sequence(&mut sequence)
            .return_const(());
        cache
            .expect_set_trusted()
            .with(eq(true))
            .times(1)
            .in_sequence(&mut sequence)
            .return_const(());
        let sync = CacheSync::new(std::sync::Arc::new(cache), "here");
        sync.interrupted();
        sync.caught_up();
    }

    #[test]
    fn following_makes_comment_lists_stale_too() {
        // The comment lists show `author.following`.
        let scopes = CacheScope::stale_after(&DomainEvent::Followed {
            follower: UserId(1),
            followee: UserId(2),
        });
        assert!(scopes.contains(&CacheScope::Comments), "{scopes:?}");
        assert!(scopes.contains(&CacheScope::Content), "{scopes:?}");
    }
}
