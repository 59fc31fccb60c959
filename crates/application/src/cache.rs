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
    UserExists(UserId),
}

impl CacheKey {
    /// The scope whose writes make this entry stale.
    pub fn scope(&self) -> CacheScope {
        match self {
            Self::Comments { .. } => CacheScope::Comments,
            Self::UserExists(_) => CacheScope::Users,
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
    UserExists,
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
    /// Makes every value of `scope` stale. Called after the write commits.
    fn invalidate(&self, scope: CacheScope);
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
