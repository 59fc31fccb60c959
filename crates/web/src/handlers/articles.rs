use actix_web::HttpResponse;
use actix_web::web::{Data, Path, Query};
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
    ApiError, BadRequest, Forbidden, InternalError, NotFound, NotModified, PayloadTooLarge,
    RequestTimeout, Unauthorized, Unavailable, Unprocessable, UnsupportedMediaType,
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
        NotModified,
        Unauthorized, Unprocessable, InternalError, Unavailable
    )
)]
pub async fn get_articles(
    articles: Data<dyn ArticleUseCases>,
    caller: MaybeAuthUser,
    filter: Query<FilterQuery>,
    page: Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let paging = page.paging()?;
    let filter = filter.into_inner();
    let filter = ArticleFilter {
        tag: filter.tag,
        author: filter.author,
        favorited_by: filter.favorited,
    };
    let page = articles.list(caller.0, filter, paging).await?;
    Ok(HttpResponse::Ok().json(MultipleArticlesResponse::from(&*page)))
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
        NotModified,
        Unauthorized, Unprocessable, InternalError, Unavailable
    )
)]
pub async fn get_articles_feed(
    articles: Data<dyn ArticleUseCases>,
    caller: AuthUser,
    page: Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let paging = page.paging()?;
    let page = articles.feed(caller.id, paging).await?;
    Ok(HttpResponse::Ok().json(MultipleArticlesResponse::from(&*page)))
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
        NotModified,
        Unauthorized, NotFound, InternalError, Unavailable
    )
)]
pub async fn get_article(
    articles: Data<dyn ArticleUseCases>,
    caller: MaybeAuthUser,
    slug: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let article = articles.get(caller.0, slug.into_inner()).await?;
    Ok(HttpResponse::Ok().json(SingleArticleResponse::from(&*article)))
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
        BadRequest, Unauthorized, RequestTimeout, PayloadTooLarge, UnsupportedMediaType, Unprocessable, InternalError, Unavailable
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
    Ok(HttpResponse::Created().json(SingleArticleResponse::from(&created)))
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
        BadRequest, Unauthorized, Forbidden, NotFound, RequestTimeout, PayloadTooLarge, UnsupportedMediaType, Unprocessable, InternalError, Unavailable
    )
)]
pub async fn update_article(
    articles: Data<dyn ArticleUseCases>,
    caller: AuthUser,
    slug: Path<String>,
    body: ValidJson<UpdateArticleRequest>,
) -> Result<HttpResponse, ApiError> {
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
    Ok(HttpResponse::Ok().json(SingleArticleResponse::from(&updated)))
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
) -> Result<HttpResponse, ApiError> {
    let article = articles.favorite(caller.id, slug.into_inner()).await?;
    Ok(HttpResponse::Ok().json(SingleArticleResponse::from(&article)))
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
) -> Result<HttpResponse, ApiError> {
    let article = articles.unfavorite(caller.id, slug.into_inner()).await?;
    Ok(HttpResponse::Ok().json(SingleArticleResponse::from(&article)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use actix_web::http::StatusCode;
    use actix_web::test::TestRequest;
    use conduit_application::views::{ArticleSummary, ArticleView, Page};
    use conduit_application::{AppError, AuthFailure};
    use conduit_domain::limits::TAGS_PER_ARTICLE_MAX;
    use serde_json::{Value, json};

    use super::*;
    use crate::test_support::{
        CALLER, CREATED_AT, Mocks, UPDATED_AT, article, article_json, internal_error, summary,
        with_token,
    };

    fn one_page() -> Page<ArticleView<ArticleSummary>> {
        Page {
            items: vec![summary("how-to-train-your-dragon")],
            total: 42,
        }
    }

    /// `article_json` without the body, as lists show it.
    fn list_item_json(slug: &str) -> Value {
        let mut item = article_json(slug, true);
        item.as_object_mut().map(|item| item.remove("body"));
        item
    }

    fn new_article() -> Value {
        json!({"article": {
            "title": "How to train your dragon",
            "description": "Ever wonder how?",
            "body": "You have to believe",
            "tagList": ["training", "dragons"]
        }})
    }

    // ------------------------------------------------------------ lists

    #[actix_web::test]
    async fn get_articles_lists_without_bodies_and_with_the_total() {
        let mut mocks = Mocks::anonymous();
        mocks
            .articles
            .expect_list()
            .withf(|viewer, filter, paging| {
                viewer.is_none()
                    && *filter == ArticleFilter::default()
                    && *paging == Paging::default()
            })
            .times(1)
            .returning(|_, _, _| Ok(Arc::new(one_page())));
        let reply = mocks.send(TestRequest::get().uri("/api/articles")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(
            reply.body,
            json!({
                "articles": [list_item_json("how-to-train-your-dragon")],
                "articlesCount": 42
            })
        );
        assert!(reply.body["articles"][0].get("body").is_none());
        assert_eq!(reply.body["articles"][0]["createdAt"], CREATED_AT);
        assert_eq!(reply.body["articles"][0]["updatedAt"], UPDATED_AT);
    }

    #[actix_web::test]
    async fn get_articles_passes_the_filters_the_paging_and_the_caller() {
        let mut mocks = Mocks::signed_in();
        mocks
            .articles
            .expect_list()
            .withf(|viewer, filter, paging| {
                *viewer == Some(CALLER)
                    && *filter
                        == ArticleFilter {
                            tag: Some("dragons".to_owned()),
                            author: Some("jake".to_owned()),
                            favorited_by: Some("jane".to_owned()),
                        }
                    && *paging == Paging::new(Some(5), Some(10)).unwrap()
            })
            .times(1)
            .returning(|_, _, _| {
                Ok(Arc::new(Page {
                    items: Vec::new(),
                    total: 0,
                }))
            });
        let reply = mocks
            .send(with_token(TestRequest::get().uri(
                "/api/articles?tag=dragons&author=jake&favorited=jane&limit=5&offset=10",
            )))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body, json!({"articles": [], "articlesCount": 0}));
    }

    #[actix_web::test]
    async fn get_articles_returns_422_naming_a_bad_paging_parameter() {
        let cases = [
            ("limit=0", "limit", "must be between 1 and 100"),
            ("limit=101", "limit", "must be between 1 and 100"),
            ("offset=-1", "offset", "must be between 0 and 1000000000"),
            ("limit=abc", "limit", "must be an integer"),
            ("offset=1.5", "offset", "must be an integer"),
        ];
        for (query, field, message) in cases {
            let mut mocks = Mocks::anonymous();
            mocks.articles.expect_list().never();
            let reply = mocks
                .send(TestRequest::get().uri(&format!("/api/articles?{query}")))
                .await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
            assert_eq!(reply.assert_errors(&[field]), message, "{query}");
        }
    }

    #[actix_web::test]
    async fn get_articles_names_every_bad_paging_parameter_at_once() {
        let mut mocks = Mocks::anonymous();
        mocks.articles.expect_list().never();
        let reply = mocks
            .send(TestRequest::get().uri("/api/articles?limit=abc&offset=xyz"))
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        reply.assert_errors(&["limit", "offset"]);
    }

    #[actix_web::test]
    async fn get_articles_hides_an_internal_error_behind_the_request_id() {
        let mut mocks = Mocks::anonymous();
        mocks
            .articles
            .expect_list()
            .returning(|_, _, _| Err(internal_error()));
        let reply = mocks.send(TestRequest::get().uri("/api/articles")).await;
        reply.assert_opaque_internal_error();
    }

    #[actix_web::test]
    async fn get_articles_feed_lists_for_the_caller() {
        let mut mocks = Mocks::signed_in();
        mocks
            .articles
            .expect_feed()
            .withf(|reader, paging| {
                *reader == CALLER && *paging == Paging::new(Some(1), None).unwrap()
            })
            .times(1)
            .returning(|_, _| Ok(Arc::new(one_page())));
        let reply = mocks
            .send(with_token(
                TestRequest::get().uri("/api/articles/feed?limit=1"),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["articlesCount"], 42);
        assert_eq!(
            reply.body["articles"],
            json!([list_item_json("how-to-train-your-dragon")])
        );
    }

    #[actix_web::test]
    async fn get_articles_feed_without_a_token_returns_401() {
        let mut mocks = Mocks::anonymous();
        mocks.articles.expect_feed().never();
        let reply = mocks
            .send(TestRequest::get().uri("/api/articles/feed"))
            .await;
        reply.assert_unauthorized("is missing");
    }

    #[actix_web::test]
    async fn get_articles_feed_returns_422_for_a_bad_limit() {
        let mut mocks = Mocks::signed_in();
        mocks.articles.expect_feed().never();
        let reply = mocks
            .send(with_token(
                TestRequest::get().uri("/api/articles/feed?limit=101"),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        reply.assert_errors(&["limit"]);
    }

    // ------------------------------------------------------------ one article

    #[actix_web::test]
    async fn get_article_returns_the_article_with_its_body() {
        let mut mocks = Mocks::anonymous();
        mocks
            .articles
            .expect_get()
            .withf(|viewer, slug| viewer.is_none() && slug == "dragons")
            .times(1)
            .returning(|_, slug| Ok(Arc::new(article(&slug, false))));
        let reply = mocks
            .send(TestRequest::get().uri("/api/articles/dragons"))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(
            reply.body,
            json!({"article": article_json("dragons", false)})
        );
    }

    #[actix_web::test]
    async fn get_article_of_an_unknown_slug_returns_404() {
        let mut mocks = Mocks::anonymous();
        mocks
            .articles
            .expect_get()
            .returning(|_, _| Err(AppError::NotFound("article")));
        let reply = mocks
            .send(TestRequest::get().uri("/api/articles/nothing-here"))
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert_eq!(reply.body, json!({"errors": {"article": ["not found"]}}));
    }

    #[actix_web::test]
    async fn create_article_returns_201_with_the_article() {
        let mut mocks = Mocks::signed_in();
        mocks
            .articles
            .expect_create()
            .withf(|author, input| {
                *author == CALLER
                    && input.title == "How to train your dragon"
                    && input.description == "Ever wonder how?"
                    && input.body == "You have to believe"
                    && input.tag_list == ["training", "dragons"]
            })
            .times(1)
            .returning(|_, _| Ok(article("how-to-train-your-dragon", false)));
        let reply = mocks
            .send(with_token(
                TestRequest::post()
                    .uri("/api/articles")
                    .set_json(new_article()),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        assert_eq!(
            reply.body,
            json!({"article": article_json("how-to-train-your-dragon", false)})
        );
    }

    #[actix_web::test]
    async fn create_article_without_tags_sends_an_empty_tag_list() {
        let mut mocks = Mocks::signed_in();
        mocks
            .articles
            .expect_create()
            .withf(|_, input| input.tag_list.is_empty())
            .times(1)
            .returning(|_, _| Ok(article("how-to-train-your-dragon", false)));
        let reply = mocks
            .send(with_token(
                TestRequest::post()
                    .uri("/api/articles")
                    .set_json(json!({"article": {"title": "T", "description": "D", "body": "B"}})),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    }

    #[actix_web::test]
    async fn create_article_returns_422_for_every_invalid_field_without_calling_the_use_case() {
        let mut mocks = Mocks::signed_in();
        mocks.articles.expect_create().never();
        let tags: Vec<_> = (0..=TAGS_PER_ARTICLE_MAX)
            .map(|i| format!("t{i}"))
            .collect();
        let reply = mocks
            .send(with_token(
                TestRequest::post()
                    .uri("/api/articles")
                    .set_json(json!({"article": {
                        "title": "   ",
                        "description": "Ever wonder how?",
                        "body": "",
                        "tagList": tags
                    }})),
            ))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.text
        );
        reply.assert_errors(&["body", "tagList", "title"]);
        assert_eq!(reply.body["errors"]["title"], json!(["can't be blank"]));
        assert_eq!(
            reply.body["errors"]["tagList"],
            json!(["can't have more than 10 tags"])
        );
    }

    #[actix_web::test]
    async fn create_article_without_a_token_returns_401() {
        let mut mocks = Mocks::anonymous();
        mocks.articles.expect_create().never();
        let reply = mocks
            .send(
                TestRequest::post()
                    .uri("/api/articles")
                    .set_json(new_article()),
            )
            .await;
        reply.assert_unauthorized("is missing");
    }

    #[actix_web::test]
    async fn create_article_with_an_expired_token_returns_401() {
        let mut mocks = Mocks::default();
        mocks
            .users
            .expect_authenticate()
            .returning(|_| Err(AppError::Unauthorized(AuthFailure::ExpiredToken)));
        mocks.articles.expect_create().never();
        let reply = mocks
            .send(with_token(
                TestRequest::post()
                    .uri("/api/articles")
                    .set_json(new_article()),
            ))
            .await;
        reply.assert_unauthorized("has expired");
    }

    #[actix_web::test]
    async fn update_article_passes_only_the_given_fields() {
        let mut mocks = Mocks::signed_in();
        mocks
            .articles
            .expect_update()
            .withf(|editor, slug, update| {
                *editor == CALLER
                    && slug == "dragons"
                    && update.title.as_deref() == Some("Did you train your dragon?")
                    && update.description.is_none()
                    && update.body.is_none()
                    && update.tag_list.is_none()
            })
            .times(1)
            .returning(|_, _, _| Ok(article("did-you-train-your-dragon", false)));
        let reply = mocks
            .send(with_token(
                TestRequest::put()
                    .uri("/api/articles/dragons")
                    .set_json(json!({"article": {"title": "Did you train your dragon?"}})),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["article"]["slug"], "did-you-train-your-dragon");
    }

    #[actix_web::test]
    async fn update_article_of_someone_else_returns_403() {
        let mut mocks = Mocks::signed_in();
        mocks
            .articles
            .expect_update()
            .returning(|_, _, _| Err(AppError::Forbidden("article")));
        let reply = mocks
            .send(with_token(
                TestRequest::put()
                    .uri("/api/articles/dragons")
                    .set_json(json!({"article": {"body": "Mine now"}})),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(
            reply.body,
            json!({"errors": {"article": ["can only be changed by its author"]}})
        );
    }

    #[actix_web::test]
    async fn update_article_of_an_unknown_slug_returns_404() {
        let mut mocks = Mocks::signed_in();
        mocks
            .articles
            .expect_update()
            .returning(|_, _, _| Err(AppError::NotFound("article")));
        let reply = mocks
            .send(with_token(
                TestRequest::put()
                    .uri("/api/articles/nothing-here")
                    .set_json(json!({"article": {"body": "New"}})),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        reply.assert_errors(&["article"]);
    }

    #[actix_web::test]
    async fn update_article_with_a_blank_title_returns_422_without_calling_the_use_case() {
        let mut mocks = Mocks::signed_in();
        mocks.articles.expect_update().never();
        let reply = mocks
            .send(with_token(
                TestRequest::put()
                    .uri("/api/articles/dragons")
                    .set_json(json!({"article": {"title": ""}})),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.assert_errors(&["title"]), "can't be blank");
    }

    #[actix_web::test]
    async fn delete_article_returns_204_without_a_body() {
        let mut mocks = Mocks::signed_in();
        mocks
            .articles
            .expect_delete()
            .withf(|editor, slug| *editor == CALLER && slug == "dragons")
            .times(1)
            .returning(|_, _| Ok(()));
        let reply = mocks
            .send(with_token(
                TestRequest::delete().uri("/api/articles/dragons"),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT);
        assert!(reply.text.is_empty());
    }

    #[actix_web::test]
    async fn delete_article_of_someone_else_returns_403() {
        let mut mocks = Mocks::signed_in();
        mocks
            .articles
            .expect_delete()
            .returning(|_, _| Err(AppError::Forbidden("article")));
        let reply = mocks
            .send(with_token(
                TestRequest::delete().uri("/api/articles/dragons"),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        reply.assert_errors(&["article"]);
    }

    #[actix_web::test]
    async fn delete_article_without_a_token_returns_401() {
        let mut mocks = Mocks::anonymous();
        mocks.articles.expect_delete().never();
        let reply = mocks
            .send(TestRequest::delete().uri("/api/articles/dragons"))
            .await;
        reply.assert_unauthorized("is missing");
    }

    // ------------------------------------------------------------ favorites

    #[actix_web::test]
    async fn favorite_returns_the_article_favorited() {
        let mut mocks = Mocks::signed_in();
        mocks
            .articles
            .expect_favorite()
            .withf(|user, slug| *user == CALLER && slug == "dragons")
            .times(1)
            .returning(|_, slug| Ok(article(&slug, true)));
        let reply = mocks
            .send(with_token(
                TestRequest::post().uri("/api/articles/dragons/favorite"),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(
            reply.body,
            json!({"article": article_json("dragons", true)})
        );
    }

    #[actix_web::test]
    async fn unfavorite_returns_the_article_not_favorited() {
        let mut mocks = Mocks::signed_in();
        mocks
            .articles
            .expect_unfavorite()
            .withf(|user, slug| *user == CALLER && slug == "dragons")
            .times(1)
            .returning(|_, slug| Ok(article(&slug, false)));
        let reply = mocks
            .send(with_token(
                TestRequest::delete().uri("/api/articles/dragons/favorite"),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["article"]["favorited"], false);
    }

    #[actix_web::test]
    async fn favorite_of_an_unknown_slug_returns_404() {
        let mut mocks = Mocks::signed_in();
        mocks
            .articles
            .expect_favorite()
            .returning(|_, _| Err(AppError::NotFound("article")));
        let reply = mocks
            .send(with_token(
                TestRequest::post().uri("/api/articles/nothing-here/favorite"),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        reply.assert_errors(&["article"]);
    }

    #[actix_web::test]
    async fn favorite_without_a_token_returns_401() {
        let mut mocks = Mocks::anonymous();
        mocks.articles.expect_favorite().never();
        let reply = mocks
            .send(TestRequest::post().uri("/api/articles/dragons/favorite"))
            .await;
        reply.assert_unauthorized("is missing");
    }
}
