//! Comments on articles.

use std::sync::Arc;

use async_trait::async_trait;
use conduit_domain::{CommentBody, CommentId, UserId};

use crate::articles::{find_article_ref, request_slug};
use crate::cache::CacheKey;
use crate::error::{AppError, FieldErrors};
use crate::events::DomainEvent;
use crate::personalize::followed_authors;
use crate::ports::{Database, NewComment, UnitOfWork};
use crate::storage::Storage;
use crate::views::{CommentRecord, CommentView};

/// The comment use cases, as the HTTP layer sees them.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait CommentUseCases: Send + Sync {
    async fn add(
        &self,
        author: UserId,
        slug: String,
        body: String,
    ) -> Result<CommentView, AppError>;
    /// Comments of an article, oldest first.
    async fn list(
        &self,
        viewer: Option<UserId>,
        slug: String,
    ) -> Result<Arc<Vec<CommentView>>, AppError>;
    /// Only the comment's author may delete it.
    async fn delete(&self, user: UserId, slug: String, id: i64) -> Result<(), AppError>;
}

pub struct CommentService<D> {
    storage: Storage<D>,
}

impl<D: Database> CommentService<D> {
    pub fn new(storage: impl Into<Storage<D>>) -> Self {
        Self {
            storage: storage.into(),
        }
    }
}

/// Adds `author.following` for `viewer` with one query for all comments.
fn personalize(
    uow: &mut dyn UnitOfWork,
    viewer: Option<UserId>,
    comments: Vec<CommentRecord>,
) -> Result<Vec<CommentView>, AppError> {
    let following = followed_authors(uow, viewer, comments.iter().map(|c| c.author.id))?;
    Ok(comments
        .into_iter()
        .map(|comment| {
            let following = following.contains(&comment.author.id);
            comment.viewed(following)
        })
        .collect())
}

#[async_trait]
impl<D: Database> CommentUseCases for CommentService<D> {
    #[tracing::instrument(skip(self, body))]
    async fn add(
        &self,
        author: UserId,
        slug: String,
        body: String,
    ) -> Result<CommentView, AppError> {
        let body = CommentBody::parse(body)
            .map_err(|error| AppError::Validation(FieldErrors::single("body", error.message)))?;
        let slug = request_slug(slug)?;
        let now = self.storage.now();
        let body = body.into_inner();
        let record = self
            .storage
            .write(move |uow| {
                let article = find_article_ref(uow, &slug)?;
                let comment = uow.comments().insert(&NewComment {
                    article_id: article.id,
                    author_id: author,
                    body: body.clone(),
                    now,
                })?;
                uow.record(DomainEvent::CommentPosted {
                    comment: comment.id,
                    article: article.id,
                    author,
                });
                Ok(comment)
            })
            .await?;
        // Nobody follows themselves.
        Ok(record.viewed(false))
    }

    async fn list(
        &self,
        viewer: Option<UserId>,
        slug: String,
    ) -> Result<Arc<Vec<CommentView>>, AppError> {
        let key = CacheKey::Comments {
            viewer,
            slug: slug.clone(),
        };
        let slug = request_slug(slug)?;
        self.storage
            .read_cached(key, move |uow| {
                let article = find_article_ref(uow, &slug)?;
                let comments = uow.comments().list_for_article(article.id)?;
                personalize(uow, viewer, comments)
            })
            .await
    }

    #[tracing::instrument(skip(self))]
    async fn delete(&self, user: UserId, slug: String, id: i64) -> Result<(), AppError> {
        let slug = request_slug(slug)?;
        let id = CommentId(id);
        self.storage
            .write(move |uow| {
                let article = find_article_ref(uow, &slug)?;
                let comment = uow
                    .comments()
                    .find_ref(id)?
                    .filter(|comment| comment.article_id == article.id)
                    .ok_or(AppError::NotFound("comment"))?;
                if comment.author_id != user {
                    return Err(AppError::Forbidden("comment"));
                }
                uow.comments().delete(comment.id)?;
                uow.record(DomainEvent::CommentDeleted {
                    comment: comment.id,
                    article: article.id,
                    author: user,
                });
                Ok(())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use chrono::Utc;
    use conduit_domain::ArticleId;
    use conduit_domain::limits::COMMENT_MAX;
    use mockall::predicate::eq;

    use super::*;
    use crate::testing::{FakeDb, FakeRepos, author};
    use crate::views::{ArticleRef, CommentRef};

    const ARTICLE_AUTHOR: UserId = UserId(1);
    const COMMENTER: UserId = UserId(2);
    const READER: UserId = UserId(3);

    fn comment(id: i64, author_id: UserId) -> CommentRecord {
        let now = Utc::now();
        CommentRecord {
            id: CommentId(id),
            body: format!("comment {id}"),
            created_at: now,
            updated_at: now,
            author: author(author_id),
        }
    }

    fn service(db: FakeDb) -> (Arc<FakeDb>, CommentService<FakeDb>) {
        let db = Arc::new(db);
        (Arc::clone(&db), CommentService::new(db))
    }

    /// The article `dragons` (id 10) exists; every other slug does not.
    fn with_dragons(repos: &mut FakeRepos) {
        repos.articles.expect_find_ref().returning(|slug| {
            Ok((slug.as_str() == "dragons").then(|| ArticleRef {
                id: ArticleId(10),
                author_id: ARTICLE_AUTHOR,
                slug: "dragons".to_owned(),
            }))
        });
    }

    #[tokio::test]
    async fn add_stores_the_comment_on_the_article() {
        let db = FakeDb::new().writing(|repos| {
            with_dragons(repos);
            repos
                .comments
                .expect_insert()
                .withf(|new| {
                    new.article_id == ArticleId(10)
                        && new.author_id == COMMENTER
                        && new.body == "Thank you so much!"
                })
                .times(1)
                .returning(|new| {
                    let mut record = comment(5, new.author_id);
                    record.body.clone_from(&new.body);
                    Ok(record)
                });
        });
        let (db, service) = service(db);
        let view = service
            .add(
                COMMENTER,
                "dragons".to_owned(),
                "Thank you so much!".to_owned(),
            )
            .await
            .unwrap();
        assert_eq!(view.id, CommentId(5));
        assert_eq!(view.body, "Thank you so much!");
        assert_eq!(view.author.username, "user2");
        assert!(!view.author.following);
        assert_eq!(db.writes(), 1);
        assert_eq!(
            db.events(),
            [DomainEvent::CommentPosted {
                comment: CommentId(5),
                article: ArticleId(10),
                author: COMMENTER,
            }]
        );
    }

    #[tokio::test]
    async fn add_to_an_unknown_article_is_not_found() {
        let db = FakeDb::new().writing(|repos| {
            with_dragons(repos);
            repos.comments.expect_insert().never();
        });
        let (_, service) = service(db);
        let error = service
            .add(COMMENTER, "nothing-here".to_owned(), "Hello".to_owned())
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::NotFound("article")), "{error:?}");
    }

    #[tokio::test]
    async fn add_with_a_blank_or_long_body_is_rejected_without_touching_the_repos() {
        // No expectation is set: any repository call would panic.
        let (db, service) = service(FakeDb::default());
        for body in [
            String::new(),
            " \n\t ".to_owned(),
            "x".repeat(COMMENT_MAX + 1),
        ] {
            let error = service
                .add(COMMENTER, "dragons".to_owned(), body)
                .await
                .unwrap_err();
            let AppError::Validation(errors) = error else {
                panic!("expected a validation error, got {error:?}");
            };
            let fields: Vec<_> = errors.iter().map(|(field, _)| field.as_str()).collect();
            assert_eq!(fields, ["body"]);
        }
        assert_eq!(db.writes(), 0);
    }

    #[tokio::test]
    async fn delete_by_someone_else_is_forbidden() {
        let db = FakeDb::new().writing(|repos| {
            with_dragons(repos);
            repos.comments.expect_find_ref().returning(|id| {
                Ok(Some(CommentRef {
                    id,
                    article_id: ArticleId(10),
                    author_id: COMMENTER,
                }))
            });
            repos.comments.expect_delete().never();
        });
        let (_, service) = service(db);
        // Not even the article's author may delete someone else's comment.
        for user in [READER, ARTICLE_AUTHOR] {
            let error = service
                .delete(user, "dragons".to_owned(), 5)
                .await
                .unwrap_err();
            assert!(matches!(error, AppError::Forbidden("comment")), "{error:?}");
        }
    }

    #[tokio::test]
    async fn delete_of_a_comment_on_another_article_is_not_found() {
        let db = FakeDb::new().writing(|repos| {
            with_dragons(repos);
            repos
                .comments
                .expect_find_ref()
                .with(eq(CommentId(5)))
                .returning(|id| {
                    Ok(Some(CommentRef {
                        id,
                        article_id: ArticleId(99),
                        author_id: COMMENTER,
                    }))
                });
            repos.comments.expect_delete().never();
        });
        let (_, service) = service(db);
        let error = service
            .delete(COMMENTER, "dragons".to_owned(), 5)
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::NotFound("comment")), "{error:?}");
    }

    #[tokio::test]
    async fn delete_of_an_unknown_comment_is_not_found() {
        let db = FakeDb::new().writing(|repos| {
            with_dragons(repos);
            repos.comments.expect_find_ref().returning(|_| Ok(None));
            repos.comments.expect_delete().never();
        });
        let (_, service) = service(db);
        let error = service
            .delete(COMMENTER, "dragons".to_owned(), 5)
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::NotFound("comment")), "{error:?}");
    }

    #[tokio::test]
    async fn delete_on_an_unknown_article_is_not_found() {
        let db = FakeDb::new().writing(|repos| {
            with_dragons(repos);
            repos.comments.expect_find_ref().never();
            repos.comments.expect_delete().never();
        });
        let (_, service) = service(db);
        let error = service
            .delete(COMMENTER, "nothing-here".to_owned(), 5)
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::NotFound("article")), "{error:?}");
    }

    #[tokio::test]
    async fn delete_by_the_author_deletes_the_comment() {
        let db = FakeDb::new().writing(|repos| {
            with_dragons(repos);
            repos.comments.expect_find_ref().returning(|id| {
                Ok(Some(CommentRef {
                    id,
                    article_id: ArticleId(10),
                    author_id: COMMENTER,
                }))
            });
            repos
                .comments
                .expect_delete()
                .with(eq(CommentId(5)))
                .times(1)
                .returning(|_| Ok(()));
        });
        let (db, service) = service(db);
        service
            .delete(COMMENTER, "dragons".to_owned(), 5)
            .await
            .unwrap();
        assert_eq!(db.writes(), 1);
        assert_eq!(
            db.events(),
            [DomainEvent::CommentDeleted {
                comment: CommentId(5),
                article: ArticleId(10),
                author: COMMENTER,
            }]
        );
    }

    /// Comments by the article's author, the commenter and the reader.
    fn with_comments(repos: &mut FakeRepos) {
        with_dragons(repos);
        repos
            .comments
            .expect_list_for_article()
            .with(eq(ArticleId(10)))
            .times(1)
            .returning(|_| {
                Ok(vec![
                    comment(1, COMMENTER),
                    comment(2, ARTICLE_AUTHOR),
                    comment(3, READER),
                    comment(4, COMMENTER),
                ])
            });
    }

    #[tokio::test]
    async fn list_for_an_anonymous_viewer_follows_nobody() {
        let db = FakeDb::new().reading(|repos| {
            with_comments(repos);
            repos.follows.expect_following_among().never();
        });
        let (_, service) = service(db);
        let comments = service.list(None, "dragons".to_owned()).await.unwrap();
        assert_eq!(comments.len(), 4);
        assert!(comments.iter().all(|comment| !comment.author.following));
    }

    #[tokio::test]
    async fn list_for_a_viewer_personalizes_following_in_one_query() {
        let db = FakeDb::new().reading(|repos| {
            with_comments(repos);
            repos
                .follows
                .expect_following_among()
                .withf(|viewer, authors| {
                    *viewer == READER && authors == [ARTICLE_AUTHOR, COMMENTER]
                })
                .times(1)
                .returning(|_, _| Ok(HashSet::from([COMMENTER])));
        });
        let (_, service) = service(db);
        let comments = service
            .list(Some(READER), "dragons".to_owned())
            .await
            .unwrap();
        let following: Vec<_> = comments
            .iter()
            .map(|comment| (comment.id.0, comment.author.following))
            .collect();
        assert_eq!(following, [(1, true), (2, false), (3, false), (4, true)]);
    }

    #[tokio::test]
    async fn list_of_the_viewers_own_comments_asks_nothing_about_following() {
        let db = FakeDb::new().reading(|repos| {
            with_dragons(repos);
            repos
                .comments
                .expect_list_for_article()
                .returning(|_| Ok(vec![comment(1, READER)]));
            repos.follows.expect_following_among().never();
        });
        let (_, service) = service(db);
        let comments = service
            .list(Some(READER), "dragons".to_owned())
            .await
            .unwrap();
        assert!(!comments[0].author.following);
    }

    #[tokio::test]
    async fn list_of_an_unknown_article_is_not_found() {
        let db = FakeDb::new().reading(|repos| {
            with_dragons(repos);
            repos.comments.expect_list_for_article().never();
        });
        let (_, service) = service(db);
        let error = service
            .list(None, "nothing-here".to_owned())
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::NotFound("article")), "{error:?}");
    }
}
