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
    ArticleId, CommentId, Email, FileKey, Paging, Password, Slug, TagList, UploadId, UserId,
    Username, Variant,
};

use crate::error::{AppError, AuthFailure, RepoError};
use crate::events::{Committed, DomainEvent, EventId, StoredEvent};
use crate::jobs::{Job, JobFilter, JobId, JobOutcome, NewJob, QueueStats};
use crate::uploads::{NewUpload, UploadRecord};
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
    /// and rolls back otherwise. The events `work` records are stored in the
    /// same transaction and returned with its value once it has committed;
    /// a unit of work that fails leaves no event behind. When the database
    /// reports contention (`AppError::Busy`), the adapter may roll back and
    /// run `work` again, which is why it is `FnMut`: events recorded by a
    /// rolled-back try are dropped with it.
    ///
    /// # Errors
    /// Whatever `work` returns, `Busy` when retries are exhausted, or
    /// `Unavailable` when no connection is free in time (or, for SQLite,
    /// when the writer's queue is full).
    fn write<T, F>(&self, work: F) -> impl Future<Output = Result<Committed<T>, AppError>> + Send
    where
        T: Send + 'static,
        F: FnMut(&mut dyn UnitOfWork) -> Result<T, AppError> + Send + 'static;
}

/// The repositories, all on the connection (and transaction) of one unit of
/// work, and the unit's change events.
pub trait UnitOfWork {
    fn users(&mut self) -> &mut dyn UserRepository;
    fn follows(&mut self) -> &mut dyn FollowRepository;
    fn articles(&mut self) -> &mut dyn ArticleRepository;
    fn tags(&mut self) -> &mut dyn TagRepository;
    fn comments(&mut self) -> &mut dyn CommentRepository;
    fn jobs(&mut self) -> &mut dyn JobRepository;
    fn events(&mut self) -> &mut dyn EventRepository;
    fn account_tokens(&mut self) -> &mut dyn AccountTokenRepository;
    fn uploads(&mut self) -> &mut dyn UploadRepository;
    /// Records what this unit of work changed. The event is stored with the
    /// transaction's commit, and only then.
    fn record(&mut self, event: DomainEvent);
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
    pub email_verified: Option<bool>,
    pub email_notifications: Option<bool>,
    pub now: Option<DateTime<Utc>>,
}

impl UserChanges {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        self.username.is_none()
            && self.email.is_none()
            && self.password_hash.is_none()
            && self.bio.is_none()
            && self.image.is_none()
            && self.email_verified.is_none()
            && self.email_notifications.is_none()
            && self.now.is_none()
    }
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
    /// The version a token of this user must carry; `None` when there is
    /// no such user.
    fn token_version(&mut self, id: UserId) -> Result<Option<i64>, RepoError>;
    /// Increments the user's token version, so that every token issued
    /// before is refused; answers the new version.
    fn revoke_tokens(&mut self, id: UserId) -> Result<i64, RepoError>;
}

/// Who follows whom. Following and unfollowing are idempotent: each answers
/// whether it changed anything.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait FollowRepository {
    fn follow(
        &mut self,
        follower: UserId,
        followee: UserId,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError>;
    fn unfollow(&mut self, follower: UserId, followee: UserId) -> Result<bool, RepoError>;
    /// Which of `candidates` `follower` follows, in one query.
    fn following_among(
        &mut self,
        follower: UserId,
        candidates: &[UserId],
    ) -> Result<HashSet<UserId>, RepoError>;
    /// Up to `limit` followers of `followee` with ids above `after`, in id
    /// order: one page of a walk through every follower.
    fn followers(
        &mut self,
        followee: UserId,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>, RepoError>;
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
    fn find_by_id(&mut self, id: ArticleId) -> Result<Option<ArticleRecord>, RepoError>;
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
    /// Adds a favorite and counts it, once; answers whether it was new.
    fn favorite(
        &mut self,
        user: UserId,
        article: ArticleId,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError>;
    /// Removes a favorite and uncounts it, once; answers whether there was one.
    fn unfavorite(&mut self, user: UserId, article: ArticleId) -> Result<bool, RepoError>;
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
    fn find(&mut self, id: CommentId) -> Result<Option<CommentRecord>, RepoError>;
    fn delete(&mut self, id: CommentId) -> Result<(), RepoError>;
    /// Comments of an article, oldest first.
    fn list_for_article(&mut self, article: ArticleId) -> Result<Vec<CommentRecord>, RepoError>;
}

/// What a one-time account token (sent by email) allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenPurpose {
    VerifyEmail,
    ResetPassword,
    Unsubscribe,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::Unsubscribe => "unsubscribe",
        }
    }

    /// How long a token of this purpose stays valid.
    pub fn lifetime(self) -> chrono::Duration {
        match self {
            Self::VerifyEmail => chrono::Duration::days(3),
            Self::ResetPassword => chrono::Duration::minutes(30),
            Self::Unsubscribe => chrono::Duration::days(90),
        }
    }
}

/// The stored form of a one-time token: a digest, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenDigest(pub String);

/// A fresh one-time token: the secret goes into an email, only the digest
/// is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeToken {
    pub secret: String,
    pub digest: TokenDigest,
}

impl std::fmt::Debug for OneTimeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneTimeToken")
            .field("secret", &"***")
            .field("digest", &self.digest)
            .finish()
    }
}

/// Makes one-time tokens: random, URL-safe, and digested for storage.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait OneTimeTokens: Send + Sync {
    fn generate(&self) -> OneTimeToken;
    /// The digest a token presented by a client is looked up by.
    fn digest(&self, secret: &str) -> TokenDigest;
}

/// A one-time token to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccountToken {
    pub user: UserId,
    pub purpose: TokenPurpose,
    pub digest: TokenDigest,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// One-time account tokens (email verification, password reset,
/// unsubscribe), stored as digests.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait AccountTokenRepository {
    fn insert(&mut self, token: &NewAccountToken) -> Result<(), RepoError>;
    /// Uses the token: answers its user when a token with this digest and
    /// purpose exists, is unused and has not expired at `now`, and marks it
    /// used, so that a second use (even a concurrent one) finds nothing.
    fn consume(
        &mut self,
        digest: &TokenDigest,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>, RepoError>;
    /// Whether `consume` would succeed now (without using the token).
    fn is_usable(
        &mut self,
        digest: &TokenDigest,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError>;
    /// Makes every unused token of the user for `purpose` unusable;
    /// answers how many there were.
    fn revoke(
        &mut self,
        user: UserId,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError>;
    /// Deletes tokens that expired before `before`; returns how many.
    fn prune(&mut self, before: DateTime<Utc>) -> Result<u64, RepoError>;
}

/// Uploaded images, one row per owner and file.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait UploadRepository {
    /// Stores the upload; answers it and whether it is new (the same owner
    /// uploading the same image again gets the row it has).
    fn insert(&mut self, upload: &NewUpload) -> Result<(UploadRecord, bool), RepoError>;
    fn find(&mut self, id: UploadId) -> Result<Option<UploadRecord>, RepoError>;
    /// Bytes of the originals `owner` has stored.
    fn bytes_of(&mut self, owner: UserId) -> Result<u64, RepoError>;
    fn set_variant(
        &mut self,
        id: UploadId,
        variant: Variant,
        key: &FileKey,
    ) -> Result<(), RepoError>;
    /// The key of `variant` of the file `key`, once any upload of it has one.
    fn variant_of(&mut self, key: &FileKey, variant: Variant)
    -> Result<Option<FileKey>, RepoError>;
}

/// The stored change events, read back in id order.
///
/// # Errors
/// Ids grow in the order the events became visible: `after(n)` MUST never
/// later return an event with an id at or below one it already returned.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait EventRepository {
    /// Up to `limit` events with ids above `after`, oldest first.
    fn after(&mut self, after: EventId, limit: usize) -> Result<Vec<StoredEvent>, RepoError>;
    /// The id of the newest event (0 when there is none).
    fn latest(&mut self) -> Result<EventId, RepoError>;
    /// Deletes events recorded before `before`; returns how many.
    fn prune(&mut self, before: DateTime<Utc>) -> Result<u64, RepoError>;
}

/// The job queue's storage.
///
/// # Errors
/// Every state change of a claimed job is conditional on the job still
/// being `running` at the claimed `attempt`, and answers `false` when it is
/// not (the job was cancelled, or rescued after its worker stopped
/// heartbeating): a worker never overwrites what happened meanwhile.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait JobRepository {
    /// Stores a job. With a unique key, answers `None` (and stores nothing)
    /// while another job with that key is available, scheduled, running or
    /// retryable.
    fn enqueue(&mut self, job: &NewJob) -> Result<Option<JobId>, RepoError>;
    /// Claims up to `limit` jobs of `queue` that are due at `now`, most
    /// urgent first (priority, then `run_at`, then id): each becomes
    /// `running` with its attempt counted, owned by `worker`. Concurrent
    /// claims never return the same job.
    fn claim(
        &mut self,
        queue: &str,
        limit: usize,
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Job>, RepoError>;
    /// When the next job of `queue` that is not running falls due (`None`
    /// when the queue has none), so that an idle worker sleeps until then.
    fn next_due(&mut self, queue: &str) -> Result<Option<DateTime<Utc>>, RepoError>;
    /// Records how a claimed attempt ended.
    fn finish(&mut self, job: &Job, outcome: &JobOutcome) -> Result<bool, RepoError>;
    /// Marks that `worker` still runs `jobs`; answers the ids that are still
    /// running under it (the others were cancelled or rescued meanwhile).
    fn heartbeat(
        &mut self,
        jobs: &[JobId],
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<JobId>, RepoError>;
    /// Running jobs whose last heartbeat is older than `before`.
    fn stalled(&mut self, before: DateTime<Utc>, limit: usize) -> Result<Vec<Job>, RepoError>;
    /// Records `outcome` for a stalled job as `finish` does, and only if its
    /// heartbeat has not moved since it was read as stalled (its worker
    /// may have come back).
    fn rescue(&mut self, job: &Job, outcome: &JobOutcome) -> Result<bool, RepoError>;
    fn find(&mut self, id: JobId) -> Result<Option<Job>, RepoError>;
    /// Newest first.
    fn list(&mut self, filter: &JobFilter) -> Result<Vec<Job>, RepoError>;
    /// Makes a job that is not running available again at `now`.
    fn retry(&mut self, id: JobId, now: DateTime<Utc>) -> Result<Option<Job>, RepoError>;
    /// Cancels a job that has not finished; a running one is told to stop
    /// at its next heartbeat.
    fn cancel(&mut self, id: JobId, now: DateTime<Utc>) -> Result<Option<Job>, RepoError>;
    /// Deletes completed jobs finished before `completed_before`, and
    /// discarded or cancelled ones finished before `failed_before`.
    fn prune(
        &mut self,
        completed_before: DateTime<Utc>,
        failed_before: DateTime<Utc>,
    ) -> Result<u64, RepoError>;
    /// Pending and running jobs per queue and state, and each queue's oldest due job.
    fn stats(&mut self, now: DateTime<Utc>) -> Result<Vec<QueueStats>, RepoError>;
    /// Moves the periodic job `name` from its run due at `due` to `next`;
    /// answers whether this call did it, so that of all instances exactly
    /// one enqueues each run. A name not yet known is created, next due at
    /// `next`, and the call that created it answers `true`.
    fn advance_schedule(
        &mut self,
        name: &str,
        due: DateTime<Utc>,
        next: DateTime<Utc>,
    ) -> Result<bool, RepoError>;
    /// When the periodic job `name` is next due, if it is known.
    fn schedule(&mut self, name: &str) -> Result<Option<DateTime<Utc>>, RepoError>;
}

/// The time, as the use cases see it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now, at the precision every supported database stores (microseconds).
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        use chrono::SubsecRound;
        Utc::now().trunc_subsecs(6)
    }
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
    /// A token of `user`, carrying the user's current token `version`.
    ///
    /// # Errors
    /// `Internal` when signing fails.
    fn issue(&self, user: UserId, version: i64) -> Result<String, AppError>;
    /// Checks the signature and the expiry; whether the version is still
    /// the user's is the caller's to check.
    ///
    /// # Errors
    /// Why the token is not acceptable.
    fn verify(&self, token: &str) -> Result<TokenClaims, AuthFailure>;
}

/// What a valid token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenClaims {
    pub user: UserId,
    /// The user's token version when it was issued.
    pub version: i64,
}
