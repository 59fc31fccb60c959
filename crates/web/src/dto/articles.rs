//! Articles: one with its body, a page of them without, and the bodies that
//! create and change one.

use chrono::{DateTime, Utc};
use conduit_application::views::{ArticleRecord, ArticleSummary, ArticleView, Page};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::profiles::Profile;
use super::shared::{rules, timestamp};
use super::tags::Tag;

/// An article with its body.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Article<'a> {
    pub slug: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub body: &'a str,
    /// Alphabetical.
    pub tag_list: &'a [String],
    #[serde(serialize_with = "timestamp")]
    #[schema(value_type = String, format = DateTime, example = "2016-02-18T03:22:56.637Z")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "timestamp")]
    #[schema(value_type = String, format = DateTime, example = "2016-02-18T03:48:35.824Z")]
    pub updated_at: DateTime<Utc>,
    pub favorited: bool,
    pub favorites_count: i64,
    pub author: Profile<'a>,
}

/// An article in a list: everything but the body.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArticleListItem<'a> {
    pub slug: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    /// Alphabetical.
    pub tag_list: &'a [String],
    #[serde(serialize_with = "timestamp")]
    #[schema(value_type = String, format = DateTime, example = "2016-02-18T03:22:56.637Z")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "timestamp")]
    #[schema(value_type = String, format = DateTime, example = "2016-02-18T03:48:35.824Z")]
    pub updated_at: DateTime<Utc>,
    pub favorited: bool,
    pub favorites_count: i64,
    pub author: Profile<'a>,
}

impl<'a> From<&'a ArticleView<ArticleSummary>> for ArticleListItem<'a> {
    fn from(view: &'a ArticleView<ArticleSummary>) -> Self {
        let article = &view.article;
        Self {
            slug: &article.slug,
            title: &article.title,
            description: &article.description,
            tag_list: &article.tags,
            created_at: article.created_at,
            updated_at: article.updated_at,
            favorited: view.favorited,
            favorites_count: article.favorites_count,
            author: (&view.author).into(),
        }
    }
}

impl<'a> From<&'a ArticleView<ArticleRecord>> for Article<'a> {
    fn from(view: &'a ArticleView<ArticleRecord>) -> Self {
        let summary = &view.article.summary;
        Self {
            slug: &summary.slug,
            title: &summary.title,
            description: &summary.description,
            body: &view.article.body,
            tag_list: &summary.tags,
            created_at: summary.created_at,
            updated_at: summary.updated_at,
            favorited: view.favorited,
            favorites_count: summary.favorites_count,
            author: (&view.author).into(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SingleArticleResponse<'a> {
    pub article: Article<'a>,
}

impl<'a> From<&'a ArticleView<ArticleRecord>> for SingleArticleResponse<'a> {
    fn from(view: &'a ArticleView<ArticleRecord>) -> Self {
        Self {
            article: view.into(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MultipleArticlesResponse<'a> {
    pub articles: Vec<ArticleListItem<'a>>,
    /// Number of articles matching the filter, across all pages.
    pub articles_count: u64,
}

impl<'a> From<&'a Page<ArticleView<ArticleSummary>>> for MultipleArticlesResponse<'a> {
    fn from(page: &'a Page<ArticleView<ArticleSummary>>) -> Self {
        Self {
            articles: page.items.iter().map(Into::into).collect(),
            articles_count: page.total,
        }
    }
}

/// A new article. Tags are trimmed and de-duplicated; at most 10, each at
/// most 40 characters.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewArticle {
    #[validate(custom(function = "rules::title"))]
    #[schema(
        example = "How to train your dragon",
        min_length = 1,
        max_length = 200,
        pattern = "\\S"
    )]
    pub title: String,
    #[validate(custom(function = "rules::description"))]
    #[schema(
        example = "Ever wonder how?",
        min_length = 1,
        max_length = 500,
        pattern = "\\S"
    )]
    pub description: String,
    #[validate(custom(function = "rules::body"))]
    #[schema(
        example = "You have to believe",
        min_length = 1,
        max_length = 100000,
        pattern = "\\S"
    )]
    pub body: String,
    #[serde(default)]
    #[validate(custom(function = "rules::tag_list"))]
    #[schema(value_type = Option<Vec<Tag>>, max_items = 10, example = json!(["dragons", "training"]))]
    pub tag_list: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct NewArticleRequest {
    #[validate(nested)]
    pub article: NewArticle,
}

/// Fields to change; at least one. A new title gives a new slug.
/// `tagList`, beyond the contract, replaces the article's tags.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateArticle {
    #[validate(custom(function = "rules::title"))]
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub title: Option<String>,
    #[validate(custom(function = "rules::description"))]
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    pub description: Option<String>,
    #[validate(custom(function = "rules::body"))]
    #[schema(min_length = 1, max_length = 100000, pattern = "\\S")]
    pub body: Option<String>,
    #[validate(custom(function = "rules::tag_list"))]
    #[schema(value_type = Option<Vec<Tag>>, max_items = 10)]
    pub tag_list: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct UpdateArticleRequest {
    #[validate(nested)]
    pub article: UpdateArticle,
}
