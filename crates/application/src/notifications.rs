//! The jobs that send email (enqueued by `reactions`): each loads what it
//! needs when it runs, so an email says what is true when it is sent, and
//! skips, without failing, a recipient who is gone or opted out.
//!
//! One-time tokens are made when the email is sent and only their digests
//! are stored, so no usable token sits in the job table. A retried attempt
//! sends a new token under the same `Message-ID`; every token sent stays
//! valid until used or expired, so whichever copy arrives works.

use std::sync::Arc;

use async_trait::async_trait;
use conduit_domain::{ArticleId, CommentId, UserId};

use crate::error::AppError;
use crate::jobs::{Job, JobArgs, JobFailure, JobHandler, NewJob};
use crate::mail::{EmailContent, EmailTemplates, MailError, MailLinks, Mailer, OutgoingEmail};
use crate::ports::{Clock, Database, NewAccountToken, OneTimeTokens, TokenPurpose, UnitOfWork};
use crate::reactions::EMAIL_MAX_ATTEMPTS;
use crate::views::Account;

/// Followers handled by one `article_emails` job.
pub const FAN_OUT_BATCH: usize = 100;

/// How much of a comment an email quotes.
const COMMENT_EXCERPT_CHARS: usize = 500;

/// Runs every email job kind (`JobArgs::EMAIL_KINDS`).
pub struct EmailJobs<D> {
    db: Arc<D>,
    mailer: Arc<dyn Mailer>,
    templates: Arc<dyn EmailTemplates>,
    tokens: Arc<dyn OneTimeTokens>,
    clock: Arc<dyn Clock>,
    links: MailLinks,
}

/// An email ready to render: the recipient and what to tell them.
struct Draft {
    to: String,
    content: EmailContent,
}

fn retry(error: &AppError) -> JobFailure {
    JobFailure::Retry(error.to_string())
}

impl<D: Database> EmailJobs<D> {
    pub fn new(
        db: Arc<D>,
        mailer: Arc<dyn Mailer>,
        templates: Arc<dyn EmailTemplates>,
        tokens: Arc<dyn OneTimeTokens>,
        clock: Arc<dyn Clock>,
        links: MailLinks,
    ) -> Self {
        Self {
            db,
            mailer,
            templates,
            tokens,
            clock,
            links,
        }
    }

    /// Makes a token of `purpose` for `user` and stores its digest, in the
    /// transaction of `work`, which picks the recipient (or `None` to send
    /// nothing) from what it reads in that same transaction.
    async fn with_token<F>(
        &self,
        user: UserId,
        purpose: TokenPurpose,
        work: F,
    ) -> Result<Option<Draft>, JobFailure>
    where
        F: Fn(&mut dyn UnitOfWork, &str) -> Result<Option<Draft>, AppError> + Send + 'static,
    {
        let token = self.tokens.generate();
        let now = self.clock.now();
        let committed = self
            .db
            .write(move |uow| {
                let Some(draft) = work(uow, &token.secret)? else {
                    return Ok(None);
                };
                uow.account_tokens().insert(&NewAccountToken {
                    user,
                    purpose,
                    digest: token.digest.clone(),
                    now,
                    expires_at: now + purpose.lifetime(),
                })?;
                Ok(Some(draft))
            })
            .await
            .map_err(|error| retry(&error))?;
        Ok(committed.value)
    }

    async fn verification(&self, user: UserId, welcome: bool) -> Result<Option<Draft>, JobFailure> {
        let links = self.links.clone();
        self.with_token(user, TokenPurpose::VerifyEmail, move |uow, secret| {
            let Some(account) = uow.users().find_by_id(user)? else {
                return Ok(None);
            };
            // Verified since the job was enqueued: a welcome still goes out,
            // a reminder does not.
            if account.email_verified && !welcome {
                return Ok(None);
            }
            let verify_url = links.verify_email(secret);
            let content = if welcome {
                EmailContent::Welcome {
                    username: account.username,
                    verify_url,
                }
            } else {
                EmailContent::VerifyEmail {
                    username: account.username,
                    verify_url,
                }
            };
            Ok(Some(Draft {
                to: account.email,
                content,
            }))
        })
        .await
    }

    async fn password_reset(&self, user: UserId) -> Result<Option<Draft>, JobFailure> {
        let links = self.links.clone();
        self.with_token(user, TokenPurpose::ResetPassword, move |uow, secret| {
            let Some(account) = uow.users().find_by_id(user)? else {
                return Ok(None);
            };
            Ok(Some(Draft {
                to: account.email,
                content: EmailContent::PasswordReset {
                    username: account.username,
                    reset_url: links.reset_password(secret),
                    valid_minutes: TokenPurpose::ResetPassword.lifetime().num_minutes(),
                },
            }))
        })
        .await
    }

    async fn comment(&self, comment: CommentId) -> Result<Option<Draft>, JobFailure> {
        // Who to tell, read first: most comments need no token at all.
        let found = self
            .db
            .read(move |uow| {
                let Some(reference) = uow.comments().find_ref(comment)? else {
                    return Ok(None);
                };
                let Some(record) = uow.comments().find(comment)? else {
                    return Ok(None);
                };
                let Some(article) = uow.articles().find_by_id(reference.article_id)? else {
                    return Ok(None);
                };
                let author = article.summary.author.id;
                if author == reference.author_id {
                    return Ok(None);
                }
                Ok(Some((author, record, article)))
            })
            .await
            .map_err(|error| retry(&error))?;
        let Some((recipient, record, article)) = found else {
            return Ok(None);
        };
        let links = self.links.clone();
        self.with_token(recipient, TokenPurpose::Unsubscribe, move |uow, secret| {
            let Some(account) = subscribed(uow, recipient)? else {
                return Ok(None);
            };
            Ok(Some(Draft {
                to: account.email,
                content: EmailContent::NewComment {
                    username: account.username,
                    commenter: record.author.username.clone(),
                    article_title: article.summary.title.clone(),
                    article_url: links.article(&article.summary.slug),
                    comment: excerpt(&record.body, COMMENT_EXCERPT_CHARS),
                    unsubscribe_url: links.unsubscribe(secret),
                },
            }))
        })
        .await
    }

    /// One batch of the fan-out: an email job per follower, and the job of
    /// the next batch, in one transaction (a rerun enqueues no duplicate
    /// while the first ones are pending: their unique keys).
    async fn fan_out(
        &self,
        article: ArticleId,
        author: UserId,
        after: Option<UserId>,
    ) -> Result<(), JobFailure> {
        let now = self.clock.now();
        let committed = self
            .db
            .write(move |uow| {
                let followers = uow.follows().followers(author, after, FAN_OUT_BATCH)?;
                for recipient in &followers {
                    let job = NewJob::new(
                        JobArgs::ArticleEmail {
                            article,
                            recipient: *recipient,
                        },
                        now,
                    )
                    .max_attempts(EMAIL_MAX_ATTEMPTS)
                    .unique(format!("article_email:{}:{}", article.0, recipient.0));
                    uow.jobs().enqueue(&job)?;
                }
                if followers.len() == FAN_OUT_BATCH {
                    let next = NewJob::new(
                        JobArgs::ArticleEmails {
                            article,
                            author,
                            after: followers.last().copied(),
                        },
                        now,
                    )
                    .max_attempts(EMAIL_MAX_ATTEMPTS);
                    uow.jobs().enqueue(&next)?;
                }
                Ok(followers.len())
            })
            .await
            .map_err(|error| retry(&error))?;
        tracing::info!(
            article_id = article.0,
            recipients = committed.value,
            "article notifications enqueued"
        );
        Ok(())
    }

    async fn article(
        &self,
        article: ArticleId,
        recipient: UserId,
    ) -> Result<Option<Draft>, JobFailure> {
        let found = self
            .db
            .read(move |uow| Ok(uow.articles().find_by_id(article)?))
            .await
            .map_err(|error| retry(&error))?;
        let Some(article) = found else {
            return Ok(None);
        };
        let links = self.links.clone();
        self.with_token(recipient, TokenPurpose::Unsubscribe, move |uow, secret| {
            let Some(account) = subscribed(uow, recipient)? else {
                return Ok(None);
            };
            let summary = &article.summary;
            Ok(Some(Draft {
                to: account.email,
                content: EmailContent::NewArticle {
                    username: account.username,
                    author: summary.author.username.clone(),
                    article_title: summary.title.clone(),
                    description: summary.description.clone(),
                    article_url: links.article(&summary.slug),
                    unsubscribe_url: links.unsubscribe(secret),
                },
            }))
        })
        .await
    }

    /// Renders and sends `draft` under the job's stable `Message-ID`.
    async fn send(&self, job: &Job, draft: Draft) -> Result<(), JobFailure> {
        let rendered = self
            .templates
            .render(&draft.content)
            .map_err(|error| JobFailure::Discard(format!("rendering the email: {error}")))?;
        let email = OutgoingEmail {
            message_id: format!("job-{}@{}", job.id.0, self.links.host()),
            to: draft.to,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            unsubscribe: draft.content.unsubscribe_url().map(str::to_owned),
        };
        self.mailer
            .send(&email)
            .await
            .map_err(|error| match error {
                MailError::Transient(_) => JobFailure::Retry(error.to_string()),
                MailError::Permanent(_) => JobFailure::Discard(error.to_string()),
            })?;
        tracing::info!(job_id = job.id.0, kind = %job.kind, "email sent");
        Ok(())
    }
}

/// The account of `user` when it still wants notification emails.
fn subscribed(uow: &mut dyn UnitOfWork, user: UserId) -> Result<Option<Account>, AppError> {
    Ok(uow
        .users()
        .find_by_id(user)?
        .filter(|account| account.email_notifications))
}

/// The first `limit` characters of `text`, with an ellipsis when cut.
fn excerpt(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[async_trait]
impl<D: Database> JobHandler for EmailJobs<D> {
    async fn run(&self, job: &Job) -> Result<(), JobFailure> {
        let Some(args) = &job.args else {
            return Err(JobFailure::Discard("unreadable arguments".to_owned()));
        };
        let draft = match *args {
            JobArgs::WelcomeEmail { user } => self.verification(user, true).await?,
            JobArgs::VerificationEmail { user } => self.verification(user, false).await?,
            JobArgs::PasswordResetEmail { user } => self.password_reset(user).await?,
            JobArgs::CommentEmail { comment } => self.comment(comment).await?,
            JobArgs::ArticleEmails {
                article,
                author,
                after,
            } => return self.fan_out(article, author, after).await,
            JobArgs::ArticleEmail { article, recipient } => {
                self.article(article, recipient).await?
            }
            JobArgs::Probe { .. } | JobArgs::Prune | JobArgs::ImageVariants { .. } => {
                return Err(JobFailure::Discard(format!(
                    "{} is not an email job",
                    job.kind
                )));
            }
        };
        match draft {
            Some(draft) => self.send(job, draft).await,
            None => {
                tracing::info!(job_id = job.id.0, kind = %job.kind, "nothing to send");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chrono::{DateTime, Utc};
    use conduit_domain::{ArticleId, CommentId, UserId};

    use super::*;
    use crate::jobs::JobId;
    use crate::mail::{MockEmailTemplates, MockMailer, RenderedEmail};
    use crate::ports::{MockOneTimeTokens, OneTimeToken, TokenDigest};
    use crate::testing::{FakeDb, account, author};
    use crate::views::{ArticleRecord, ArticleSummary, CommentRecord, CommentRef};

    const JAKE: UserId = UserId(7);
    const ANNA: UserId = UserId(8);

    struct FixedClock;
    impl Clock for FixedClock {
        fn now(&self) -> DateTime<Utc> {
            DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
        }
    }

    fn job(args: JobArgs) -> Job {
        crate::testing::job_running(args, FixedClock.now())
    }

    fn tokens() -> MockOneTimeTokens {
        let mut tokens = MockOneTimeTokens::new();
        tokens.expect_generate().returning(|| OneTimeToken {
            secret: "s3cret".to_owned(),
            digest: TokenDigest("digest".to_owned()),
        });
        tokens
    }

    /// Templates that show the content they were given, so tests can read it.
    fn templates() -> MockEmailTemplates {
        let mut templates = MockEmailTemplates::new();
        templates.expect_render().returning(|content| {
            Ok(RenderedEmail {
                subject: "subject".to_owned(),
                text: format!("{content:?}"),
                html: "<p>html</p>".to_owned(),
            })
        });
        templates
    }

    /// A mailer that keeps what it was asked to send and answers `answer`.
    fn mailer(
        sent: Arc<Mutex<Vec<OutgoingEmail>>>,
        answer: fn() -> Result<(), MailError>,
    ) -> MockMailer {
        let mut mailer = MockMailer::new();
        mailer.expect_send().returning(move |email| {
            sent.lock().expect("lock").push(email.clone());
            answer()
        });
        mailer
    }

    fn handler(db: FakeDb, mailer: MockMailer) -> EmailJobs<FakeDb> {
        EmailJobs::new(
            Arc::new(db),
            Arc::new(mailer),
            Arc::new(templates()),
            Arc::new(tokens()),
            Arc::new(FixedClock),
            MailLinks::new("https://conduit.example"),
        )
    }

    fn stores_one_token(purpose: TokenPurpose) -> impl FnOnce(&mut crate::testing::FakeRepos) {
        move |repos| {
            repos
                .account_tokens
                .expect_insert()
                .withf(move |token| {
                    token.purpose == purpose
                        && token.digest == TokenDigest("digest".to_owned())
                        && token.expires_at == FixedClock.now() + purpose.lifetime()
                })
                .times(1)
                .returning(|_| Ok(()));
        }
    }

    #[tokio::test]
    async fn a_welcome_email_carries_a_stored_verification_token_and_a_stable_message_id() {
        let db = FakeDb::new().writing(|repos| {
            repos
                .users
                .expect_find_by_id()
                .returning(|_| Ok(Some(account(7, "jake"))));
            stores_one_token(TokenPurpose::VerifyEmail)(repos);
        });
        let sent = Arc::new(Mutex::new(Vec::new()));
        let handler = handler(db, mailer(Arc::clone(&sent), || Ok(())));
        handler
            .run(&job(JobArgs::WelcomeEmail { user: JAKE }))
            .await
            .expect("sent");
        let sent = sent.lock().expect("lock");
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to, "jake@example.com");
        assert_eq!(sent[0].message_id, "job-42@conduit.example");
        assert!(
            sent[0]
                .text
                .contains("https://conduit.example/verify-email?token=s3cret"),
            "{}",
            sent[0].text
        );
        assert_eq!(sent[0].unsubscribe, None);
    }

    #[tokio::test]
    async fn an_smtp_outage_is_retried_and_a_refusal_is_discarded() {
        for (answer, retried) in [
            (
                (|| Err(MailError::Transient("connection refused".into())))
                    as fn() -> Result<(), MailError>,
                true,
            ),
            (
                || Err(MailError::Permanent("550 no such user".into())),
                false,
            ),
        ] {
            let db = FakeDb::new().writing(|repos| {
                repos
                    .users
                    .expect_find_by_id()
                    .returning(|_| Ok(Some(account(7, "jake"))));
                repos.account_tokens.expect_insert().returning(|_| Ok(()));
            });
            let sent = Arc::new(Mutex::new(Vec::new()));
            let failure = handler(db, mailer(sent, answer))
                .run(&job(JobArgs::PasswordResetEmail { user: JAKE }))
                .await
                .expect_err("not delivered");
            assert_eq!(
                matches!(failure, JobFailure::Retry(_)),
                retried,
                "{failure:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_reminder_to_a_verified_or_vanished_user_sends_nothing() {
        for found in [
            Some({
                let mut jake = account(7, "jake");
                jake.email_verified = true;
                jake
            }),
            None,
        ] {
            let db = FakeDb::new().writing(move |repos| {
                repos
                    .users
                    .expect_find_by_id()
                    .returning(move |_| Ok(found.clone()));
                repos.account_tokens.expect_insert().never();
            });
            let mut mailer = MockMailer::new();
            mailer.expect_send().never();
            handler(db, mailer)
                .run(&job(JobArgs::VerificationEmail { user: JAKE }))
                .await
                .expect("nothing to do is a success");
        }
    }

    fn article(author_id: UserId) -> ArticleRecord {
        let now = FixedClock.now();
        ArticleRecord {
            summary: ArticleSummary {
                id: ArticleId(3),
                slug: "dragons".to_owned(),
                title: "Dragons".to_owned(),
                description: "About dragons".to_owned(),
                tags: Vec::new(),
                created_at: now,
                updated_at: now,
                favorites_count: 0,
                author: author(author_id),
            },
            body: "body".to_owned(),
        }
    }

    fn comment_reads(commenter: UserId) -> impl FnOnce(&mut crate::testing::FakeRepos) {
        move |repos| {
            repos.comments.expect_find_ref().returning(move |id| {
                Ok(Some(CommentRef {
                    id,
                    article_id: ArticleId(3),
                    author_id: commenter,
                }))
            });
            repos.comments.expect_find().returning(move |id| {
                let now = FixedClock.now();
                Ok(Some(CommentRecord {
                    id,
                    body: "Nice dragons!".to_owned(),
                    created_at: now,
                    updated_at: now,
                    author: author(commenter),
                }))
            });
            repos
                .articles
                .expect_find_by_id()
                .returning(|_| Ok(Some(article(JAKE))));
        }
    }

    #[tokio::test]
    async fn a_comment_email_goes_to_the_articles_author_with_a_one_click_unsubscribe() {
        let db = FakeDb::new().reading(comment_reads(ANNA)).writing(|repos| {
            repos
                .users
                .expect_find_by_id()
                .with(mockall::predicate::eq(JAKE))
                .returning(|_| Ok(Some(account(7, "jake"))));
            stores_one_token(TokenPurpose::Unsubscribe)(repos);
        });
        let sent = Arc::new(Mutex::new(Vec::new()));
        handler(db, mailer(Arc::clone(&sent), || Ok(())))
            .run(&job(JobArgs::CommentEmail {
                comment: CommentId(5),
            }))
            .await
            .expect("sent");
        let sent = sent.lock().expect("lock");
        assert_eq!(sent[0].to, "jake@example.com");
        assert_eq!(
            sent[0].unsubscribe.as_deref(),
            Some("https://conduit.example/api/users/unsubscribe?token=s3cret")
        );
        assert!(sent[0].text.contains("Nice dragons!"), "{}", sent[0].text);
        assert!(sent[0].text.contains("user8"), "{}", sent[0].text);
    }

    #[tokio::test]
    async fn an_authors_own_comment_or_an_opted_out_author_gets_no_email() {
        // Jake comments on his own article.
        let db = FakeDb::new().reading(comment_reads(JAKE));
        let mut mailer = MockMailer::new();
        mailer.expect_send().never();
        handler(db, mailer)
            .run(&job(JobArgs::CommentEmail {
                comment: CommentId(5),
            }))
            .await
            .expect("nothing to send");

        // Anna comments; Jake turned notifications off.
        let db = FakeDb::new().reading(comment_reads(ANNA)).writing(|repos| {
            repos.users.expect_find_by_id().returning(|_| {
                let mut jake = account(7, "jake");
                jake.email_notifications = false;
                Ok(Some(jake))
            });
            repos.account_tokens.expect_insert().never();
        });
        let mut mailer = MockMailer::new();
        mailer.expect_send().never();
        handler(db, mailer)
            .run(&job(JobArgs::CommentEmail {
                comment: CommentId(5),
            }))
            .await
            .expect("nothing to send");
    }

    #[tokio::test]
    async fn a_full_batch_of_followers_enqueues_their_emails_and_the_next_batch() {
        let db = FakeDb::new().writing(|repos| {
            repos
                .follows
                .expect_followers()
                .withf(|author, after, limit| {
                    *author == JAKE && after.is_none() && *limit == FAN_OUT_BATCH
                })
                .returning(|_, _, limit| Ok((100..).take(limit).map(UserId).collect()));
            repos
                .jobs
                .expect_enqueue()
                .withf(|job| matches!(job.args, JobArgs::ArticleEmail { .. }))
                .times(FAN_OUT_BATCH)
                .returning(|_| Ok(Some(JobId(1))));
            repos
                .jobs
                .expect_enqueue()
                .withf(|job| {
                    job.args
                        == JobArgs::ArticleEmails {
                            article: ArticleId(3),
                            author: JAKE,
                            after: Some(UserId(199)),
                        }
                })
                .times(1)
                .returning(|_| Ok(Some(JobId(2))));
        });
        let mut mailer = MockMailer::new();
        mailer.expect_send().never();
        handler(db, mailer)
            .run(&job(JobArgs::ArticleEmails {
                article: ArticleId(3),
                author: JAKE,
                after: None,
            }))
            .await
            .expect("fanned out");
    }

    #[tokio::test]
    async fn a_short_batch_ends_the_fan_out() {
        let db = FakeDb::new().writing(|repos| {
            repos
                .follows
                .expect_followers()
                .returning(|_, _, _| Ok(vec![ANNA]));
            repos
                .jobs
                .expect_enqueue()
                .withf(|job| {
                    job.args
                        == JobArgs::ArticleEmail {
                            article: ArticleId(3),
                            recipient: ANNA,
                        }
                        && job.unique_key.as_deref() == Some("article_email:3:8")
                })
                .times(1)
                .returning(|_| Ok(Some(JobId(1))));
        });
        let mut mailer = MockMailer::new();
        mailer.expect_send().never();
        handler(db, mailer)
            .run(&job(JobArgs::ArticleEmails {
                article: ArticleId(3),
                author: JAKE,
                after: Some(UserId(1)),
            }))
            .await
            .expect("fanned out");
    }

    #[test]
    fn excerpts_cut_on_characters_not_bytes() {
        assert_eq!(excerpt("héllo wörld", 5), "héllo…");
        assert_eq!(excerpt("short", 5), "short");
    }
}
