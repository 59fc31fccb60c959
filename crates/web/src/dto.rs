//! Request and response bodies exactly as the RealWorld contract names and
//! shapes them. Validation rules delegate to the domain's parsers, so the
//! 422 a client gets here and the rule the domain enforces are one rule.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use conduit_application::users::SignedIn;
use conduit_application::views::{
    Account, ArticleRecord, ArticleSummary, ArticleView, CommentView, Page, Profile as ProfileView,
};
use conduit_domain::{
    Bio, Body, CommentBody, Description, Email, ImageUrl, InvalidValue, Password, TagList, Title,
    Username,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

/// Validation rules for `validator`, each one a domain parser.
mod rules {
    use super::*;

    fn check<T>(parsed: Result<T, InvalidValue>) -> Result<(), ValidationError> {
        parsed.map(|_| ()).map_err(|error| {
            ValidationError::new("invalid").with_message(Cow::Owned(error.message.into_owned()))
        })
    }

    pub fn username(value: &str) -> Result<(), ValidationError> {
        check(Username::parse(value))
    }
    pub fn email(value: &str) -> Result<(), ValidationError> {
        check(Email::parse(value))
    }
    pub fn new_password(value: &str) -> Result<(), ValidationError> {
        check(Password::parse(value))
    }
    pub fn login_password(value: &str) -> Result<(), ValidationError> {
        check(Password::for_login(value))
    }
    pub fn bio(value: &str) -> Result<(), ValidationError> {
        check(Bio::parse_optional(value))
    }
    pub fn image(value: &str) -> Result<(), ValidationError> {
        check(ImageUrl::parse_optional(value))
    }
    pub fn title(value: &str) -> Result<(), ValidationError> {
        check(Title::parse(value))
    }
    pub fn description(value: &str) -> Result<(), ValidationError> {
        check(Description::parse(value))
    }
    pub fn body(value: &str) -> Result<(), ValidationError> {
        check(Body::parse(value))
    }
    pub fn tag_list(value: &[String]) -> Result<(), ValidationError> {
        check(TagList::parse(value.iter().cloned()))
    }
    pub fn comment(value: &str) -> Result<(), ValidationError> {
        check(CommentBody::parse(value))
    }
}

/// Timestamps as the contract shows them: ISO 8601, UTC, milliseconds.
fn timestamp<S: Serializer>(value: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&value.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

// ---------------------------------------------------------------- users

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct LoginUser {
    #[validate(custom(function = "rules::email"))]
    #[schema(example = "jake@jake.jake", format = Email, max_length = 254)]
    pub email: String,
    #[validate(custom(function = "rules::login_password"))]
    #[schema(format = Password, example = "jakejake", min_length = 1, max_length = 128)]
    pub password: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct LoginUserRequest {
    #[validate(nested)]
    pub user: LoginUser,
}

/// A new account. Usernames: 3 to 32 characters from `A-Z a-z 0-9 _ - .`,
/// starting with a letter or digit. Email and username are unique, ignoring case.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct NewUser {
    #[validate(custom(function = "rules::username"))]
    #[schema(
        example = "jake",
        min_length = 3,
        max_length = 32,
        pattern = "^[A-Za-z0-9][A-Za-z0-9_.-]*$"
    )]
    pub username: String,
    #[validate(custom(function = "rules::email"))]
    #[schema(example = "jake@jake.jake", format = Email, max_length = 254)]
    pub email: String,
    #[validate(custom(function = "rules::new_password"))]
    #[schema(format = Password, example = "jakejake", min_length = 8, max_length = 128)]
    pub password: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct NewUserRequest {
    #[validate(nested)]
    pub user: NewUser,
}

/// Fields to change; at least one. A blank or `null` bio or image clears it.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct UpdateUser {
    #[validate(custom(function = "rules::email"))]
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    #[validate(custom(function = "rules::new_password"))]
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub password: Option<String>,
    #[validate(custom(function = "rules::username"))]
    #[schema(
        min_length = 3,
        max_length = 32,
        pattern = "^[A-Za-z0-9][A-Za-z0-9_.-]*$"
    )]
    pub username: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[validate(custom(function = "rules::bio"))]
    #[schema(value_type = Option<String>, max_length = 1000)]
    pub bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[validate(custom(function = "rules::image"))]
    #[schema(value_type = Option<String>, format = "uri", pattern = "^https?://", max_length = 2048, example = "https://api.realworld.io/images/smiley-cyrus.jpg")]
    pub image: Option<Option<String>>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct UpdateUserRequest {
    #[validate(nested)]
    pub user: UpdateUser,
}

/// The signed-in user.
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub email: String,
    pub token: String,
    pub username: String,
    pub bio: Option<String>,
    pub image: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub user: User,
}

impl UserResponse {
    pub fn new(account: Account, token: String) -> Self {
        Self {
            user: User {
                email: account.email,
                token,
                username: account.username,
                bio: account.bio,
                image: account.image,
            },
        }
    }
}

impl From<SignedIn> for UserResponse {
    fn from(signed_in: SignedIn) -> Self {
        Self::new(signed_in.account, signed_in.token)
    }
}

// ---------------------------------------------------------------- profiles
//
// Response bodies borrow from the read models, so that a cached page is
// serialized straight from the cache, without copying it first.

/// A user as the caller sees them; `following` is false for anonymous callers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Profile<'a> {
    pub username: &'a str,
    pub bio: Option<&'a str>,
    pub image: Option<&'a str>,
    pub following: bool,
}

impl<'a> From<&'a ProfileView> for Profile<'a> {
    fn from(view: &'a ProfileView) -> Self {
        Self {
            username: &view.username,
            bio: view.bio.as_deref(),
            image: view.image.as_deref(),
            following: view.following,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileResponse<'a> {
    pub profile: Profile<'a>,
}

impl<'a> From<&'a ProfileView> for ProfileResponse<'a> {
    fn from(view: &'a ProfileView) -> Self {
        Self {
            profile: view.into(),
        }
    }
}

// ---------------------------------------------------------------- articles

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

/// One tag: trimmed, at most 40 characters.
pub struct Tag;

impl utoipa::PartialSchema for Tag {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(conduit_domain::limits::TAG_MAX))
            .pattern(Some("\\S"))
            .examples(["dragons"])
            .into()
    }
}

impl ToSchema for Tag {}

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

// ---------------------------------------------------------------- comments

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Comment<'a> {
    pub id: i64,
    #[serde(serialize_with = "timestamp")]
    #[schema(value_type = String, format = DateTime, example = "2016-02-18T03:22:56.637Z")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "timestamp")]
    #[schema(value_type = String, format = DateTime, example = "2016-02-18T03:22:56.637Z")]
    pub updated_at: DateTime<Utc>,
    pub body: &'a str,
    pub author: Profile<'a>,
}

impl<'a> From<&'a CommentView> for Comment<'a> {
    fn from(view: &'a CommentView) -> Self {
        Self {
            id: view.id.0,
            created_at: view.created_at,
            updated_at: view.updated_at,
            body: &view.body,
            author: (&view.author).into(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SingleCommentResponse<'a> {
    pub comment: Comment<'a>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MultipleCommentsResponse<'a> {
    pub comments: Vec<Comment<'a>>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct NewComment {
    #[validate(custom(function = "rules::comment"))]
    #[schema(
        example = "His name was my name too.",
        min_length = 1,
        max_length = 5000,
        pattern = "\\S"
    )]
    pub body: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct NewCommentRequest {
    #[validate(nested)]
    pub comment: NewComment,
}

// ---------------------------------------------------------------- tags

#[derive(Debug, Serialize, ToSchema)]
pub struct TagsResponse<'a> {
    /// Tags of at least one article, most used first.
    pub tags: &'a [String],
}
