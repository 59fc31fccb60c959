//! Comments on articles.

use std::sync::Arc;

use async_trait::async_trait;
use conduit_domain::{CommentBody, CommentId, Slug, UserId};

use crate::articles::find_article_ref;
use crate::error::{AppError, FieldErrors};
use crate::ports::{Database, NewComment, UnitOfWork};
use crate::users::now;
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
    ) -> Result<Vec<CommentView>, AppError>;
    /// Only the comment's author may delete it.
    async fn delete(&self, user: UserId, slug: String, id: i64) -> Result<(), AppError>;
}

pub struct CommentService<D> {
    db: Arc<D>,
}

impl<D: Database> CommentService<D> {
    pub fn new(db: Arc<D>) -> Self {
        Self { db }
    }
}

/// Adds `author.following` for `viewer` with one query for all comments.
fn personalize(
    uow: &mut dyn UnitOfWork,
    viewer: Option<UserId>,
    comments: Vec<CommentRecord>,
) -> Result<Vec<CommentView>, AppError> {
    let following = match viewer {
        Some(viewer) if !comments.is_empty() => {
            let mut authors: Vec<_> = comments.iter().map(|c| c.author.id).collect();
            authors.sort_unstable();
            authors.dedup();
            authors.retain(|author| *author != viewer);
            if authors.is_empty() {
                Default::default()
            } else {
                uow.follows().following_among(viewer, &authors)?
            }
        }
        _ => Default::default(),
    };
    Ok(comments
        .into_iter()
        .map(|comment| {
            let following = following.contains(&comment.author.id);
            CommentView {
                id: comment.id,
                body: comment.body,
                created_at: comment.created_at,
                updated_at: comment.updated_at,
                author: comment.author.viewed(following),
            }
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
        let slug = Slug::from_path(slug);
        let now = now();
        let body = body.into_inner();
        let record = self
            .db
            .write(move |uow| {
                let article = find_article_ref(uow, &slug)?;
                Ok(uow.comments().insert(&NewComment {
                    article_id: article.id,
                    author_id: author,
                    body: body.clone(),
                    now,
                })?)
            })
            .await?;
        let author = record.author.clone().viewed(false);
        Ok(CommentView {
            id: record.id,
            body: record.body,
            created_at: record.created_at,
            updated_at: record.updated_at,
            author,
        })
    }

    async fn list(
        &self,
        viewer: Option<UserId>,
        slug: String,
    ) -> Result<Vec<CommentView>, AppError> {
        let slug = Slug::from_path(slug);
        self.db
            .read(move |uow| {
                let article = find_article_ref(uow, &slug)?;
                let comments = uow.comments().list_for_article(article.id)?;
                personalize(uow, viewer, comments)
            })
            .await
    }

    #[tracing::instrument(skip(self))]
    async fn delete(&self, user: UserId, slug: String, id: i64) -> Result<(), AppError> {
        let slug = Slug::from_path(slug);
        let id = CommentId(id);
        self.db
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
                Ok(uow.comments().delete(comment.id)?)
            })
            .await
    }
}
