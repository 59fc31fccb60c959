//! Rows as Diesel reads and writes them, and their conversion into the
//! application's read models. Diesel derives appear only here.

use chrono::{DateTime, NaiveDateTime, Utc};
use conduit_application::views::{Account, Author, CommentRecord};
use conduit_domain::{CommentId, UserId};
use diesel::prelude::*;

use super::schema::{articles, comments, users};

pub(crate) fn utc(naive: NaiveDateTime) -> DateTime<Utc> {
    naive.and_utc()
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
pub(crate) struct AccountRow {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub bio: Option<String>,
    pub image: Option<String>,
    pub token_version: i64,
    pub email_verified: bool,
    pub email_notifications: bool,
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Self {
        Self {
            id: UserId(row.id),
            username: row.username,
            email: row.email,
            bio: row.bio,
            image: row.image,
            token_version: row.token_version,
            email_verified: row.email_verified,
            email_notifications: row.email_notifications,
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
pub(crate) struct AuthorRow {
    pub id: i64,
    pub username: String,
    pub bio: Option<String>,
    pub image: Option<String>,
}

impl From<AuthorRow> for Author {
    fn from(row: AuthorRow) -> Self {
        Self {
            id: UserId(row.id),
            username: row.username,
            bio: row.bio,
            image: row.image,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub(crate) struct NewUserRow<'a> {
    pub username: &'a str,
    pub username_key: String,
    pub email: &'a str,
    pub email_key: String,
    pub password_hash: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = users)]
pub(crate) struct UserChangesRow<'a> {
    pub username: Option<&'a str>,
    pub username_key: Option<String>,
    pub email: Option<&'a str>,
    pub email_key: Option<String>,
    pub password_hash: Option<&'a str>,
    pub bio: Option<Option<&'a str>>,
    pub image: Option<Option<&'a str>>,
    pub email_verified: Option<bool>,
    pub email_notifications: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
}

/// An article without its body, as lists need it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = articles)]
pub(crate) struct ArticleSummaryRow {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub favorites_count: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = articles)]
pub(crate) struct NewArticleRow<'a> {
    pub slug: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub body: &'a str,
    pub author_id: i64,
    pub favorites_count: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(AsChangeset)]
#[diesel(table_name = articles)]
pub(crate) struct ArticleChangesRow<'a> {
    pub slug: Option<&'a str>,
    pub title: Option<&'a str>,
    pub description: Option<&'a str>,
    pub body: Option<&'a str>,
    pub updated_at: NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = comments)]
pub(crate) struct CommentRow {
    pub id: i64,
    pub body: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl CommentRow {
    pub(crate) fn with_author(self, author: AuthorRow) -> CommentRecord {
        CommentRecord {
            id: CommentId(self.id),
            body: self.body,
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
            author: author.into(),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = comments)]
pub(crate) struct NewCommentRow<'a> {
    pub article_id: i64,
    pub author_id: i64,
    pub body: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}
