use conduit_application::error::RepoError;
use conduit_application::ports::{CommentRepository, NewComment};
use conduit_application::views::{CommentRecord, CommentRef};
use conduit_domain::{ArticleId, CommentId, UserId};
use diesel::prelude::*;

use crate::db::DieselUow;
use crate::db::errors::OrRepoError;
use crate::db::rows::{AuthorRow, CommentRow, NewCommentRow};
use crate::db::schema::{comments, users};

impl CommentRepository for DieselUow<'_> {
    fn insert(&mut self, comment: &NewComment) -> Result<CommentRecord, RepoError> {
        let now = comment.now.naive_utc();
        let id = diesel::insert_into(comments::table)
            .values(NewCommentRow {
                article_id: comment.article_id.0,
                author_id: comment.author_id.0,
                body: &comment.body,
                created_at: now,
                updated_at: now,
            })
            .returning(comments::id)
            .get_result::<i64>(self.conn)
            .or_repo_error()?;
        let author = users::table
            .find(comment.author_id.0)
            .select(AuthorRow::as_select())
            .first(self.conn)
            .or_repo_error()?;
        Ok(CommentRow {
            id,
            body: comment.body.clone(),
            created_at: now,
            updated_at: now,
        }
        .with_author(author))
    }

    fn find_ref(&mut self, id: CommentId) -> Result<Option<CommentRef>, RepoError> {
        comments::table
            .find(id.0)
            .select((comments::id, comments::article_id, comments::author_id))
            .first::<(i64, i64, i64)>(self.conn)
            .optional()
            .or_repo_error()
            .map(|found| {
                found.map(|(id, article_id, author_id)| CommentRef {
                    id: CommentId(id),
                    article_id: ArticleId(article_id),
                    author_id: UserId(author_id),
                })
            })
    }

    fn find(&mut self, id: CommentId) -> Result<Option<CommentRecord>, RepoError> {
        comments::table
            .inner_join(users::table)
            .filter(comments::id.eq(id.0))
            .select((CommentRow::as_select(), AuthorRow::as_select()))
            .first::<(CommentRow, AuthorRow)>(self.conn)
            .optional()
            .or_repo_error()
            .map(|row| row.map(|(comment, author)| comment.with_author(author)))
    }

    fn delete(&mut self, id: CommentId) -> Result<(), RepoError> {
        diesel::delete(comments::table.find(id.0))
            .execute(self.conn)
            .or_repo_error()?;
        Ok(())
    }

    fn list_for_article(&mut self, article: ArticleId) -> Result<Vec<CommentRecord>, RepoError> {
        comments::table
            .inner_join(users::table)
            .filter(comments::article_id.eq(article.0))
            .order(comments::id.asc())
            .select((CommentRow::as_select(), AuthorRow::as_select()))
            .load::<(CommentRow, AuthorRow)>(self.conn)
            .or_repo_error()
            .map(|rows| {
                rows.into_iter()
                    .map(|(comment, author)| comment.with_author(author))
                    .collect()
            })
    }
}
