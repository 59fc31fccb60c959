use actix_web::HttpResponse;
use actix_web::web::{self, Data, Path, Query};
use conduit_application::FieldErrors;
use conduit_application::articles::{ArticleUpdate, ArticleUseCases, NewArticleInput};
use conduit_application::ports::ArticleFilter;
use conduit_domain::Paging;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::dto::{
    MultipleArticlesResponse, NewArticleRequest, SingleArticleResponse, UpdateArticleRequest,
};
use crate::error::{
    ApiError, BadRequest, Forbidden, InternalError, NotFound, PayloadTooLarge, Unauthorized,
    Unavailable, Unprocessable, UnsupportedMediaType,
};
use crate::extract::{AuthUser, MaybeAuthUser, ValidJson};

/// Paging of a list. Values arrive as text so that a bad one gets a 422
/// naming the parameter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many articles to return (1 to 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<String>,
    /// How many articles to skip (0 to 1000000000).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 1000000000, default = 0)]
    pub offset: Option<String>,
}

impl PageQuery {
    fn paging(&self) -> Result<Paging, ApiError> {
        let mut errors = FieldErrors::new();
        let limit = parse_integer(&mut errors, "limit", self.limit.as_deref());
        let offset = parse_integer(&mut errors, "offset", self.offset.as_deref());
        errors.into_result()?;
        Paging::new(limit, offset).map_err(|(field, error)| {
            ApiError::validation(FieldErrors::single(field, error.message))
        })
    }
}

fn parse_integer(errors: &mut FieldErrors, field: &str, value: Option<&str>) -> Option<i64> {
    let value = value?;
    match value.trim().parse::<i64>() {
        Ok(number) => Some(number),
        Err(_) => {
            errors.add(field, "must be an integer");
            None
        }
    }
}

/// Filters of the article list; they combine.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterQuery {
    /// Only articles with this tag.
    pub tag: Option<String>,
    /// Only articles by this user (username, any case).
    pub author: Option<String>,
    /// Only articles favorited by this user (username, any case).
    pub favorited: Option<String>,
}

/// Recent articles, newest first; filters combine.
#[utoipa::path(
    get,
    path = "/api/articles",
    operation_id = "GetArticles",
    tag = "Articles",
    params(FilterQuery, PageQuery),
    security((), ("Token" = [])),
    responses(
        (status = 200, description = "A page of articles (without bodies) and the total count", body = MultipleArticlesResponse),
        Unauthorized, Unprocessable, InternalError, Unavailable
    )
)]
pub async fn get_articles(
    articles: Data<dyn ArticleUseCases>,
    caller: MaybeAuthUser,
    filter: Query<FilterQuery>,
    page: Query<PageQuery>,
) -> Result<web::Json<MultipleArticlesResponse>, ApiError> {
    let paging = page.paging()?;
    let filter = filter.into_inner();
    let filter = ArticleFilter {
        tag: filter.tag,
        author: filter.author,
        favorited_by: filter.favorited,
    };
    let page = articles.list(caller.0, filter, paging).await?;
    Ok(web::Json(page.into()))
}

/// Articles by the users the caller follows, newest first.
#[utoipa::path(
    get,
    path = "/api/articles/feed",
    operation_id = "GetArticlesFeed",
    tag = "Articles",
    params(PageQuery),
    security(("Token" = [])),
    responses(
        (status = 200, description = "A page of the feed and its total count", body = MultipleArticlesResponse),
        Unauthorized, Unprocessable, InternalError, Unavailable
    )
)]
pub async fn get_articles_feed(
    articles: Data<dyn ArticleUseCases>,
    caller: AuthUser,
    page: Query<PageQuery>,
) -> Result<web::Json<MultipleArticlesResponse>, ApiError> {
    let paging = page.paging()?;
    let page = articles.feed(caller.id, paging).await?;
    Ok(web::Json(page.into()))
}

/// One article. Authentication is optional.
#[utoipa::path(
    get,
    path = "/api/articles/{slug}",
    operation_id = "GetArticle",
    tag = "Articles",
    params(("slug" = String, Path, description = "Slug of the article")),
    security((), ("Token" = [])),
    responses(
        (status = 200, description = "The article", body = SingleArticleResponse),
        Unauthorized, NotFound, InternalError, Unavailable
    )
)]
pub async fn get_article(
    articles: Data<dyn ArticleUseCases>,
    caller: MaybeAuthUser,
    slug: Path<String>,
) -> Result<web::Json<SingleArticleResponse>, ApiError> {
    let article = articles.get(caller.0, slug.into_inner()).await?;
    Ok(web::Json(article.into()))
}

/// Create an article. Its slug comes from the title, with a suffix when taken.
#[utoipa::path(
    post,
    path = "/api/articles",
    operation_id = "CreateArticle",
    tag = "Articles",
    security(("Token" = [])),
    request_body = NewArticleRequest,
    responses(
        (status = 201, description = "The new article", body = SingleArticleResponse),
        BadRequest, Unauthorized, PayloadTooLarge, UnsupportedMediaType, Unprocessable, InternalError, Unavailable
    )
)]
pub async fn create_article(
    articles: Data<dyn ArticleUseCases>,
    caller: AuthUser,
    body: ValidJson<NewArticleRequest>,
) -> Result<HttpResponse, ApiError> {
    let article = body.into_inner().article;
    let created = articles
        .create(
            caller.id,
            NewArticleInput {
                title: article.title,
                description: article.description,
                body: article.body,
                tag_list: article.tag_list.unwrap_or_default(),
            },
        )
        .await?;
    Ok(HttpResponse::Created().json(SingleArticleResponse::from(created)))
}

/// Update an article; only its author may. A new title moves the slug.
#[utoipa::path(
    put,
    path = "/api/articles/{slug}",
    operation_id = "UpdateArticle",
    tag = "Articles",
    params(("slug" = String, Path, description = "Slug of the article")),
    security(("Token" = [])),
    request_body = UpdateArticleRequest,
    responses(
        (status = 200, description = "The updated article", body = SingleArticleResponse),
        BadRequest, Unauthorized, Forbidden, NotFound, PayloadTooLarge, UnsupportedMediaType, Unprocessable, InternalError, Unavailable
    )
)]
pub async fn update_article(
    articles: Data<dyn ArticleUseCases>,
    caller: AuthUser,
    slug: Path<String>,
    body: ValidJson<UpdateArticleRequest>,
) -> Result<web::Json<SingleArticleResponse>, ApiError> {
    let article = body.into_inner().article;
    let updated = articles
        .update(
            caller.id,
            slug.into_inner(),
            ArticleUpdate {
                title: article.title,
                description: article.description,
                body: article.body,
                tag_list: article.tag_list,
            },
        )
        .await?;
    Ok(web::Json(updated.into()))
}

/// Delete an article with its comments and favorites; only its author may.
#[utoipa::path(
    delete,
    path = "/api/articles/{slug}",
    operation_id = "DeleteArticle",
    tag = "Articles",
    params(("slug" = String, Path, description = "Slug of the article")),
    security(("Token" = [])),
    responses(
        (status = 204, description = "Deleted"),
        Unauthorized, Forbidden, NotFound, InternalError, Unavailable
    )
)]
pub async fn delete_article(
    articles: Data<dyn ArticleUseCases>,
    caller: AuthUser,
    slug: Path<String>,
) -> Result<HttpResponse, ApiError> {
    articles.delete(caller.id, slug.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Favorite an article. Idempotent.
#[utoipa::path(
    post,
    path = "/api/articles/{slug}/favorite",
    operation_id = "CreateArticleFavorite",
    tag = "Favorites",
    params(("slug" = String, Path, description = "Slug of the article")),
    security(("Token" = [])),
    responses(
        (status = 200, description = "The article, favorited", body = SingleArticleResponse),
        Unauthorized, NotFound, InternalError, Unavailable
    )
)]
pub async fn create_article_favorite(
    articles: Data<dyn ArticleUseCases>,
    caller: AuthUser,
    slug: Path<String>,
) -> Result<web::Json<SingleArticleResponse>, ApiError> {
    let article = articles.favorite(caller.id, slug.into_inner()).await?;
    Ok(web::Json(article.into()))
}

/// Unfavorite an article. Idempotent.
#[utoipa::path(
    delete,
    path = "/api/articles/{slug}/favorite",
    operation_id = "DeleteArticleFavorite",
    tag = "Favorites",
    params(("slug" = String, Path, description = "Slug of the article")),
    security(("Token" = [])),
    responses(
        (status = 200, description = "The article, not favorited", body = SingleArticleResponse),
        Unauthorized, NotFound, InternalError, Unavailable
    )
)]
pub async fn delete_article_favorite(
    articles: Data<dyn ArticleUseCases>,
    caller: AuthUser,
    slug: Path<String>,
) -> Result<web::Json<SingleArticleResponse>, ApiError> {
    let article = articles.unfavorite(caller.id, slug.into_inner()).await?;
    Ok(web::Json(article.into()))
}
