//! Change events: what a committed write changed, as typed facts.
//!
//! A write use case records its events through the unit of work
//! ([`UnitOfWork::record`](crate::ports::UnitOfWork::record)); the adapter
//! stores them in the same transaction as the change, so an event exists if
//! and only if its change committed. Everything that reacts to writes (the
//! read cache here and on other instances, jobs, streams) derives what to do
//! from the events alone: no use case lists its side effects.

use chrono::{DateTime, Utc};
use conduit_domain::{ArticleId, CommentId, UploadId, UserId};
use serde::{Deserialize, Serialize};

/// Something that changed, recorded by the write that changed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DomainEvent {
    UserRegistered {
        user: UserId,
    },
    /// The user's account changed. `profile` says whether what others see
    /// (name, bio, image) changed; `email` and `password` whether those did
    /// (a change of settings alone sets none of them).
    UserUpdated {
        user: UserId,
        profile: bool,
        email: bool,
        password: bool,
    },
    /// Every token the user held until now was revoked (a log-out; a
    /// password change says so with `UserUpdated { password: true }`).
    TokensRevoked {
        user: UserId,
    },
    /// The user asked for a new email verification link.
    VerificationRequested {
        user: UserId,
    },
    /// Someone asked for a password reset link for the user's address.
    PasswordResetRequested {
        user: UserId,
    },
    /// The user followed a link proving the address is theirs.
    EmailVerified {
        user: UserId,
    },
    Followed {
        follower: UserId,
        followee: UserId,
    },
    Unfollowed {
        follower: UserId,
        followee: UserId,
    },
    ArticlePublished {
        article: ArticleId,
        author: UserId,
        slug: String,
    },
    /// `previous_slug` is set when the change moved the article to a new slug.
    ArticleUpdated {
        article: ArticleId,
        author: UserId,
        slug: String,
        previous_slug: Option<String>,
    },
    ArticleDeleted {
        article: ArticleId,
        author: UserId,
        slug: String,
    },
    ArticleFavorited {
        article: ArticleId,
        user: UserId,
    },
    ArticleUnfavorited {
        article: ArticleId,
        user: UserId,
    },
    CommentPosted {
        comment: CommentId,
        article: ArticleId,
        author: UserId,
    },
    CommentDeleted {
        comment: CommentId,
        article: ArticleId,
        author: UserId,
    },
    /// A user stored an image (its variants are still to be made).
    UploadStored {
        upload: UploadId,
        owner: UserId,
    },
}

impl DomainEvent {
    /// The event's name as stored and logged (`article_published`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UserRegistered { .. } => "user_registered",
            Self::UserUpdated { .. } => "user_updated",
            Self::TokensRevoked { .. } => "tokens_revoked",
            Self::VerificationRequested { .. } => "verification_requested",
            Self::PasswordResetRequested { .. } => "password_reset_requested",
            Self::EmailVerified { .. } => "email_verified",
            Self::Followed { .. } => "followed",
            Self::Unfollowed { .. } => "unfollowed",
            Self::ArticlePublished { .. } => "article_published",
            Self::ArticleUpdated { .. } => "article_updated",
            Self::ArticleDeleted { .. } => "article_deleted",
            Self::ArticleFavorited { .. } => "article_favorited",
            Self::ArticleUnfavorited { .. } => "article_unfavorited",
            Self::CommentPosted { .. } => "comment_posted",
            Self::CommentDeleted { .. } => "comment_deleted",
            Self::UploadStored { .. } => "upload_stored",
        }
    }
}

/// The position of a stored event in the one order every reader sees:
/// ids grow in the order the events' transactions became visible, so a
/// reader that has seen id `n` has seen every event up to `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EventId(pub i64);

/// An event as read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: EventId,
    pub event: DomainEvent,
    /// The instance whose write recorded it.
    pub origin: String,
    pub recorded_at: DateTime<Utc>,
}

/// What a committed write unit of work returns: its value, and the events it
/// recorded (in the order recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed<T> {
    pub value: T,
    pub events: Vec<DomainEvent>,
}

/// Reacts to the stored events of every instance, in id order, each once.
///
/// The feed that calls it (a listener on the database) may lose its link:
/// it then says so with `interrupted`, and, once it has read everything it
/// missed, with `caught_up`, so that a subscriber can stop trusting what it
/// derived from events meanwhile.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait EventSubscriber: Send + Sync {
    fn deliver(&self, events: &[StoredEvent]);
    fn interrupted(&self);
    fn caught_up(&self);
}
