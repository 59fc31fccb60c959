//! The jobs that change events cause, enqueued in the transaction that
//! records the events: a commit and its jobs are stored together or not at
//! all, so a process killed right after the commit loses no email.
//!
//! Use cases never enqueue these jobs themselves: [`Storage::write`]
//! (crate::storage::Storage) passes each recorded event through the
//! configured [`Reactions`].

use chrono::{DateTime, Utc};

use crate::events::DomainEvent;
use crate::jobs::{JobArgs, NewJob};

/// Emails are retried for about an hour and a half (attempt⁴ seconds
/// apart), then discarded: a password reset link that arrives a day late
/// helps no one.
pub const EMAIL_MAX_ATTEMPTS: i32 = 8;

/// Variants are retried a few times (a store outage), not for hours.
pub const IMAGE_MAX_ATTEMPTS: i32 = 5;

/// Which jobs an event causes.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Reactions: Send + Sync + 'static {
    fn jobs_for(&self, event: &DomainEvent, now: DateTime<Utc>) -> Vec<NewJob>;
}

/// Causes no jobs (the use cases' own tests, tools).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoReactions;

impl Reactions for NoReactions {
    fn jobs_for(&self, _event: &DomainEvent, _now: DateTime<Utc>) -> Vec<NewJob> {
        Vec::new()
    }
}

/// The jobs each event causes: emails, and image variants.
#[derive(Debug, Default, Clone, Copy)]
pub struct StandardReactions;

impl StandardReactions {
    fn email(args: JobArgs, unique_key: Option<String>, now: DateTime<Utc>) -> NewJob {
        let job = NewJob::new(args, now).max_attempts(EMAIL_MAX_ATTEMPTS);
        match unique_key {
            Some(key) => job.unique(key),
            None => job,
        }
    }
}

impl Reactions for StandardReactions {
    fn jobs_for(&self, event: &DomainEvent, now: DateTime<Utc>) -> Vec<NewJob> {
        // Unique keys keep a user who asks twice in a row from getting two
        // emails while the first is still on its way.
        let job = match event {
            DomainEvent::UserRegistered { user } => Self::email(
                JobArgs::WelcomeEmail { user: *user },
                Some(format!("welcome_email:{}", user.0)),
                now,
            ),
            DomainEvent::UserUpdated {
                user, email: true, ..
            }
            | DomainEvent::VerificationRequested { user } => Self::email(
                JobArgs::VerificationEmail { user: *user },
                Some(format!("verification_email:{}", user.0)),
                now,
            ),
            DomainEvent::PasswordResetRequested { user } => Self::email(
                JobArgs::PasswordResetEmail { user: *user },
                Some(format!("password_reset_email:{}", user.0)),
                now,
            ),
            DomainEvent::CommentPosted { comment, .. } => {
                Self::email(JobArgs::CommentEmail { comment: *comment }, None, now)
            }
            DomainEvent::ArticlePublished {
                article, author, ..
            } => Self::email(
                JobArgs::ArticleEmails {
                    article: *article,
                    author: *author,
                    after: None,
                },
                None,
                now,
            ),
            // Exhaustive on purpose: a new kind of event must say whether it
            // sends email.
            DomainEvent::UserUpdated { .. }
            | DomainEvent::TokensRevoked { .. }
            | DomainEvent::EmailVerified { .. }
            | DomainEvent::Followed { .. }
            | DomainEvent::Unfollowed { .. }
            | DomainEvent::ArticleUpdated { .. }
            | DomainEvent::ArticleDeleted { .. }
            | DomainEvent::ArticleFavorited { .. }
            | DomainEvent::ArticleUnfavorited { .. }
            | DomainEvent::CommentDeleted { .. } => return Vec::new(),
            DomainEvent::UploadStored { upload, .. } => {
                NewJob::new(JobArgs::ImageVariants { upload: *upload }, now)
                    .max_attempts(IMAGE_MAX_ATTEMPTS)
            }
        };
        vec![job]
    }
}

#[cfg(test)]
mod tests {
    use conduit_domain::{ArticleId, CommentId, UserId};

    use super::*;
    use crate::jobs::MAIL_QUEUE;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    fn jobs(event: DomainEvent) -> Vec<(JobArgs, Option<String>)> {
        StandardReactions
            .jobs_for(&event, now())
            .into_iter()
            .map(|job| {
                assert_eq!(job.queue, MAIL_QUEUE);
                assert_eq!(job.max_attempts, EMAIL_MAX_ATTEMPTS);
                assert_eq!(job.run_at, now());
                (job.args, job.unique_key)
            })
            .collect()
    }

    const JAKE: UserId = UserId(7);

    #[test]
    fn a_registration_sends_one_welcome_email() {
        assert_eq!(
            jobs(DomainEvent::UserRegistered { user: JAKE }),
            [(
                JobArgs::WelcomeEmail { user: JAKE },
                Some("welcome_email:7".to_owned())
            )]
        );
    }

    #[test]
    fn a_new_address_or_a_request_sends_a_verification_email_and_nothing_else_does() {
        let expected = [(
            JobArgs::VerificationEmail { user: JAKE },
            Some("verification_email:7".to_owned()),
        )];
        let changed_email = DomainEvent::UserUpdated {
            user: JAKE,
            profile: false,
            email: true,
            password: false,
        };
        assert_eq!(jobs(changed_email), expected);
        assert_eq!(
            jobs(DomainEvent::VerificationRequested { user: JAKE }),
            expected
        );
        let changed_profile = DomainEvent::UserUpdated {
            user: JAKE,
            profile: true,
            email: false,
            password: true,
        };
        assert!(jobs(changed_profile).is_empty());
        assert!(jobs(DomainEvent::EmailVerified { user: JAKE }).is_empty());
    }

    #[test]
    fn a_reset_request_sends_one_reset_email() {
        assert_eq!(
            jobs(DomainEvent::PasswordResetRequested { user: JAKE }),
            [(
                JobArgs::PasswordResetEmail { user: JAKE },
                Some("password_reset_email:7".to_owned())
            )]
        );
    }

    #[test]
    fn comments_and_articles_start_their_notifications() {
        assert_eq!(
            jobs(DomainEvent::CommentPosted {
                comment: CommentId(3),
                article: ArticleId(2),
                author: JAKE,
            }),
            [(
                JobArgs::CommentEmail {
                    comment: CommentId(3)
                },
                None
            )]
        );
        assert_eq!(
            jobs(DomainEvent::ArticlePublished {
                article: ArticleId(2),
                author: JAKE,
                slug: "two".to_owned(),
            }),
            [(
                JobArgs::ArticleEmails {
                    article: ArticleId(2),
                    author: JAKE,
                    after: None
                },
                None
            )]
        );
        assert!(
            jobs(DomainEvent::Followed {
                follower: JAKE,
                followee: UserId(8)
            })
            .is_empty()
        );
    }
}
