//! Outbound ports: what the use cases need from the outside world.
//!
//! Repositories are synchronous and exist only inside a unit of work: a use
//! case hands `Database::read` or `Database::write` a closure, the adapter runs
//! it on a blocking thread with one connection (and, for writes, inside one
//! transaction), so a use case decides its transaction boundary without
//! knowing about Diesel and nothing can `.await` while a transaction is open.

use std::collections::HashSet;
use std::future::Future;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use conduit_domain::{
    ArticleId, CommentId, Email, Paging, Password, Slug, TagList, UserId, Username,
};

use crate::error::{AppError, AuthFailure, RepoError};
use crate::views::{
    Account, ArticleRecord, ArticleRef, ArticleSummary, CommentRecord, CommentRef, Page,
};

/// Runs units of work against the database.
pub trait Database: Send + Sync + 'static {
    /// Runs `work` with a connection, outside any transaction.
    ///
    /// # Errors
    /// Whatever `work` returns, or `Unavailable` when no connection is free in time.
    fn read<T, F>(&self, work: F) -> impl Future<Output = Result<T, AppError>> + Send
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn UnitOfWork) -> Result<T, AppError> + Send + 'static;

    /// Runs `work` inside one transaction: it commits when `work` returns `Ok`
    /// and rolls back otherwise. When the database reports contention
    /// (`AppError::Busy`), the adapter may roll back and run `work` again,
    /// which is why it is `FnMut`.
    ///
    /// # Errors
    /// Whatever `work` returns, `Busy` when retries are exhausted, or
    /// `Unavailable` when no connection is free in time.
    fn write<T, F>(&self, work: F) -> impl Future<Output = Result<T, AppError>> + Send
    where
        T: Send + 'static,
        F: FnMut(&mut dyn UnitOfWork) -> Result<T, AppError> + Send + 'static;
}

/// The repositories, all on the connection (and transaction) of one unit of work.
pub trait UnitOfWork {
    fn users(&mut self) -> &mut dyn UserRepository;
    fn follows(&mut self) -> &mut dyn FollowRepository;
    fn articles(&mut self) -> &mut dyn ArticleRepository;
    fn tags(&mut self) -> &mut dyn TagRepository;
    fn comments(&mut self) -> &mut dyn CommentRepository;
}

/// A stored password hash, opaque to everything but the hasher that made it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn new(encoded: String) -> Self {
        Self(encoded)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

/// A user to insert.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub password_hash: PasswordHash,
    pub now: DateTime<Utc>,
}

/// Fields of a user to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub username: Option<Username>,
    pub email: Option<Email>,
    pub password_hash: Option<PasswordHash>,
    /// `Some(None)` clears the bio.
    pub bio: Option<Option<String>>,
    /// `Some(None)` clears the image.
    pub image: Option<Option<String>>,
    pub now: Option<DateTime<Utc>>,
}

/// Accounts.
///
/// # Errors
/// `insert` and `update` MUST return `RepoError::Conflict { field: "email" }`
/// or `{ field: "username" }` when a unique constraint rejects the row, never
/// `Other`. Look-ups by email or username ignore case.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait UserRepository {
    fn insert(&mut self, user: &NewUser) -> Result<Account, RepoError>;
    fn find_by_id(&mut self, id: UserId) -> Result<Option<Account>, RepoError>;
    fn find_by_username(&mut self, username: &Username) -> Result<Option<Account>, RepoError>;
    /// The account and its password hash, for log-in.
    fn find_credentials(
        &mut self,
        email: &Email,
    ) -> Result<Option<(Account, PasswordHash)>, RepoError>;
    fn email_taken(&mut self, email: &Email, except: Option<UserId>) -> Result<bool, RepoError>;
    fn username_taken(
        &mut self,
        username: &Username,
        except: Option<UserId>,
    ) -> Result<bool, RepoError>;
    fn update(&mut self, id: UserId, changes: &UserChanges) -> Result<Account, RepoError>;
    fn exists(&mut self, id: UserId) -> Result<bool, RepoError>;
}

/// Who follows whom. Following and unfollowing are idempotent.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait FollowRepository {
    fn follow(
        &mut self,
        follower: UserId,
        followee: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError>;
    fn unfollow(&mut self, follower: UserId, followee: UserId) -> Result<(), RepoError>;
    fn is_following(&mut self, follower: UserId, followee: UserId) -> Result<bool, RepoError>;
    /// Which of `candidates` `follower` follows, in one query.
    fn following_among(
        &mut self,
        follower: UserId,
        candidates: &[UserId],
    ) -> Result<HashSet<UserId>, RepoError>;
}

/// An article to insert.
#[derive(Debug, Clone)]
pub struct NewArticle {
    pub slug: Slug,
    pub title: String,
    pub description: String,
    pub body: String,
    pub author_id: UserId,
    pub now: DateTime<Utc>,
}

/// Fields of an article to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArticleChanges {
    pub slug: Option<Slug>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub body: Option<String>,
}

/// Which articles a list shows. Filters combine with AND; user names ignore case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ArticleFilter {
    pub tag: Option<String>,
    pub author: Option<String>,
    pub favorited_by: Option<String>,
}

/// Articles and favorites.
///
/// # Errors
/// `insert` and `update` MUST return `RepoError::Conflict { field: "slug" }`
/// when the slug is taken. Lists cost a constant number of queries whatever
/// the page size, and are ordered newest first.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait ArticleRepository {
    fn slug_exists(&mut self, slug: &Slug) -> Result<bool, RepoError>;
    fn insert(&mut self, article: &NewArticle) -> Result<ArticleId, RepoError>;
    fn find_ref(&mut self, slug: &Slug) -> Result<Option<ArticleRef>, RepoError>;
    fn find_by_slug(&mut self, slug: &Slug) -> Result<Option<ArticleRecord>, RepoError>;
    /// Changes the given fields and sets `updated_at`.
    fn update(
        &mut self,
        id: ArticleId,
        changes: &ArticleChanges,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError>;
    /// Deletes the article with its comments, favorites and tag links.
    fn delete(&mut self, id: ArticleId) -> Result<(), RepoError>;
    fn list(
        &mut self,
        filter: &ArticleFilter,
        paging: Paging,
    ) -> Result<Page<ArticleSummary>, RepoError>;
    /// Articles by authors `reader` follows.
    fn feed(&mut self, reader: UserId, paging: Paging) -> Result<Page<ArticleSummary>, RepoError>;
    /// Adds a favorite and counts it, once.
    fn favorite(
        &mut self,
        user: UserId,
        article: ArticleId,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError>;
    /// Removes a favorite and uncounts it, once.
    fn unfavorite(&mut self, user: UserId, article: ArticleId) -> Result<(), RepoError>;
    /// Which of `candidates` `user` has favorited, in one query.
    fn favorited_among(
        &mut self,
        user: UserId,
        candidates: &[ArticleId],
    ) -> Result<HashSet<ArticleId>, RepoError>;
}

/// Tags and their links to articles.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait TagRepository {
    /// Makes `tags` exactly the tags of `article`, creating new tags as needed.
    fn replace_for_article(&mut self, article: ArticleId, tags: &TagList) -> Result<(), RepoError>;
    /// Tags used by at least one article, most used first.
    fn in_use(&mut self) -> Result<Vec<String>, RepoError>;
}

/// A comment to insert.
#[derive(Debug, Clone)]
pub struct NewComment {
    pub article_id: ArticleId,
    pub author_id: UserId,
    pub body: String,
    pub now: DateTime<Utc>,
}

/// Comments on articles.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait CommentRepository {
    fn insert(&mut self, comment: &NewComment) -> Result<CommentRecord, RepoError>;
    fn find_ref(&mut self, id: CommentId) -> Result<Option<CommentRef>, RepoError>;
    fn delete(&mut self, id: CommentId) -> Result<(), RepoError>;
    /// Comments of an article, oldest first.
    fn list_for_article(&mut self, article: ArticleId) -> Result<Vec<CommentRecord>, RepoError>;
}

/// Password hashing. Implementations run the hash off the async workers.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash(&self, password: Password) -> Result<PasswordHash, AppError>;
    /// Checks `password` against `hash`. With no hash (unknown user) it still
    /// spends the time of a verification, so that timing does not reveal
    /// which emails are registered, and answers `false`.
    async fn verify(
        &self,
        password: Password,
        hash: Option<PasswordHash>,
    ) -> Result<bool, AppError>;
}

/// Access tokens.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait TokenService: Send + Sync {
    /// # Errors
    /// `Internal` when signing fails.
    fn issue(&self, user: UserId) -> Result<String, AppError>;
    /// # Errors
    /// Why the token is not acceptable.
    fn verify(&self, token: &str) -> Result<UserId, AuthFailure>;
}
