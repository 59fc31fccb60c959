//! Read models: what the use cases return, already joined, so that the HTTP
//! layer only reshapes them. Records are the public, caller-independent part
//! (what repositories load); views add what depends on the caller.

use chrono::{DateTime, Utc};
use conduit_domain::{ArticleId, CommentId, UserId};

/// A user's own account, as shown to that user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub bio: Option<String>,
    pub image: Option<String>,
    /// Tokens issued with an older version are refused (see
    /// `UserUseCases::authenticate`).
    pub token_version: i64,
    /// Whether the user followed a link sent to `email`.
    pub email_verified: bool,
    /// Whether the user gets notification emails (new comments on their
    /// articles, new articles by authors they follow).
    pub email_notifications: bool,
}

/// The public part of a user, as shown next to their articles and comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub id: UserId,
    pub username: String,
    pub bio: Option<String>,
    pub image: Option<String>,
}

impl Author {
    pub fn viewed(self, following: bool) -> Profile {
        Profile {
            username: self.username,
            bio: self.bio,
            image: self.image,
            following,
        }
    }
}

impl From<Account> for Author {
    fn from(account: Account) -> Self {
        Self {
            id: account.id,
            username: account.username,
            bio: account.bio,
            image: account.image,
        }
    }
}

/// A user as seen by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub username: String,
    pub bio: Option<String>,
    pub image: Option<String>,
    pub following: bool,
}

/// An article without its body, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleSummary {
    pub id: ArticleId,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub favorites_count: i64,
    pub author: Author,
}

/// An article with its body, as shown on its own page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleRecord {
    pub summary: ArticleSummary,
    pub body: String,
}

/// One page of a list, with the total number of matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// An article (summary or record) as seen by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleView<A> {
    pub article: A,
    pub favorited: bool,
    pub author: Profile,
}

/// The public part of a comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentRecord {
    pub id: CommentId,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub author: Author,
}

impl CommentRecord {
    pub fn viewed(self, following: bool) -> CommentView {
        CommentView {
            id: self.id,
            body: self.body,
            created_at: self.created_at,
            updated_at: self.updated_at,
            author: self.author.viewed(following),
        }
    }
}

/// A comment as seen by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentView {
    pub id: CommentId,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub author: Profile,
}

/// The identity and ownership of an article, for permission checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleRef {
    pub id: ArticleId,
    pub author_id: UserId,
    pub slug: String,
}

/// The identity and ownership of a comment, for permission checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentRef {
    pub id: CommentId,
    pub article_id: ArticleId,
    pub author_id: UserId,
}
