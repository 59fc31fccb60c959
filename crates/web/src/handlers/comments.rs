use actix_web::HttpResponse;
use actix_web::web::{Data, Path};
use conduit_application::AppError;
use conduit_application::comments::CommentUseCases;

use crate::dto::{MultipleCommentsResponse, NewCommentRequest, SingleCommentResponse};
use crate::error::{
    ApiError, BadRequest, Forbidden, InternalError, NotFound, NotModified, PayloadTooLarge,
    RequestTimeout, Unauthorized, Unavailable, Unprocessable, UnsupportedMediaType,
};
use crate::extract::{AuthUser, MaybeAuthUser, ValidJson};

/// Comments of an article, oldest first. Authentication is optional.
#[utoipa::path(
    get,
    path = "/api/articles/{slug}/comments",
    operation_id = "GetArticleComments",
    tag = "Comments",
    params(("slug" = String, Path, description = "Slug of the article")),
    security((), ("Token" = [])),
    responses(
        (status = 200, description = "The comments", body = MultipleCommentsResponse),
        NotModified,
        Unauthorized, NotFound, InternalError, Unavailable
    )
)]
pub async fn get_article_comments(
    comments: Data<dyn CommentUseCases>,
    caller: MaybeAuthUser,
    slug: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let comments = comments.list(caller.0, slug.into_inner()).await?;
    Ok(HttpResponse::Ok().json(MultipleCommentsResponse {
        comments: comments.iter().map(Into::into).collect(),
    }))
}

/// Comment on an article.
#[utoipa::path(
    post,
    path = "/api/articles/{slug}/comments",
    operation_id = "CreateArticleComment",
    tag = "Comments",
    params(("slug" = String, Path, description = "Slug of the article")),
    security(("Token" = [])),
    request_body = NewCommentRequest,
    responses(
        (status = 200, description = "The new comment", body = SingleCommentResponse),
        BadRequest, Unauthorized, NotFound, RequestTimeout, PayloadTooLarge, UnsupportedMediaType, Unprocessable, InternalError, Unavailable
    )
)]
pub async fn create_article_comment(
    comments: Data<dyn CommentUseCases>,
    caller: AuthUser,
    slug: Path<String>,
    body: ValidJson<NewCommentRequest>,
) -> Result<HttpResponse, ApiError> {
    let comment = comments
        .add(caller.id, slug.into_inner(), body.into_inner().comment.body)
        .await?;
    Ok(HttpResponse::Ok().json(SingleCommentResponse {
        comment: (&comment).into(),
    }))
}

/// Delete a comment; only its author may.
#[utoipa::path(
    delete,
    path = "/api/articles/{slug}/comments/{id}",
    operation_id = "DeleteArticleComment",
    tag = "Comments",
    params(
        ("slug" = String, Path, description = "Slug of the article"),
        ("id" = i64, Path, description = "Id of the comment")
    ),
    security(("Token" = [])),
    responses(
        (status = 204, description = "Deleted"),
        Unauthorized, Forbidden, NotFound, InternalError, Unavailable
    )
)]
pub async fn delete_article_comment(
    comments: Data<dyn CommentUseCases>,
    caller: AuthUser,
    path: Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, id) = path.into_inner();
    // An id that is not a number names no comment.
    let id = id
        .parse::<i64>()
        .map_err(|_| ApiError::App(AppError::NotFound("comment")))?;
    comments.delete(caller.id, slug, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use actix_web::http::StatusCode;
    use actix_web::test::TestRequest;
    use conduit_application::AppError;
    use serde_json::json;

    use crate::test_support::{CALLER, CREATED_AT, Mocks, comment, internal_error, with_token};

    #[actix_web::test]
    async fn get_article_comments_lists_them_in_the_contract_shape() {
        let mut mocks = Mocks::anonymous();
        mocks
            .comments
            .expect_list()
            .withf(|viewer, slug| viewer.is_none() && slug == "dragons")
            .times(1)
            .returning(|_, _| Ok(Arc::new(vec![comment(1), comment(2)])));
        let reply = mocks
            .send(TestRequest::get().uri("/api/articles/dragons/comments"))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let expected = |id: i64| {
            json!({
                "id": id,
                "createdAt": CREATED_AT,
                "updatedAt": CREATED_AT,
                "body": "Thank you so much!",
                "author": {
                    "username": "celeb",
                    "bio": "I work at statefarm",
                    "image": "https://example.com/celeb.jpg",
                    "following": false
                }
            })
        };
        assert_eq!(reply.body, json!({"comments": [expected(1), expected(2)]}));
    }

    #[actix_web::test]
    async fn get_article_comments_with_a_token_is_seen_by_the_caller() {
        let mut mocks = Mocks::signed_in();
        mocks
            .comments
            .expect_list()
            .withf(|viewer, _| *viewer == Some(CALLER))
            .times(1)
            .returning(|_, _| Ok(Arc::new(Vec::new())));
        let reply = mocks
            .send(with_token(
                TestRequest::get().uri("/api/articles/dragons/comments"),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body, json!({"comments": []}));
    }

    #[actix_web::test]
    async fn get_article_comments_of_an_unknown_article_returns_404() {
        let mut mocks = Mocks::anonymous();
        mocks
            .comments
            .expect_list()
            .returning(|_, _| Err(AppError::NotFound("article")));
        let reply = mocks
            .send(TestRequest::get().uri("/api/articles/nothing-here/comments"))
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert_eq!(reply.body, json!({"errors": {"article": ["not found"]}}));
    }

    #[actix_web::test]
    async fn create_article_comment_returns_the_comment() {
        let mut mocks = Mocks::signed_in();
        mocks
            .comments
            .expect_add()
            .withf(|author, slug, body| {
                *author == CALLER && slug == "dragons" && body == "Thank you so much!"
            })
            .times(1)
            .returning(|_, _, _| Ok(comment(7)));
        let reply = mocks
            .send(with_token(
                TestRequest::post()
                    .uri("/api/articles/dragons/comments")
                    .set_json(json!({"comment": {"body": "Thank you so much!"}})),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["comment"]["id"], 7);
        assert_eq!(reply.body["comment"]["createdAt"], CREATED_AT);
        assert_eq!(reply.body["comment"]["body"], "Thank you so much!");
    }

    #[actix_web::test]
    async fn create_article_comment_with_a_blank_body_returns_422_without_calling_the_use_case() {
        let mut mocks = Mocks::signed_in();
        mocks.comments.expect_add().never();
        let reply = mocks
            .send(with_token(
                TestRequest::post()
                    .uri("/api/articles/dragons/comments")
                    .set_json(json!({"comment": {"body": "  "}})),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.body, json!({"errors": {"body": ["can't be blank"]}}));
    }

    #[actix_web::test]
    async fn create_article_comment_without_a_token_returns_401() {
        let mut mocks = Mocks::anonymous();
        mocks.comments.expect_add().never();
        let reply = mocks
            .send(
                TestRequest::post()
                    .uri("/api/articles/dragons/comments")
                    .set_json(json!({"comment": {"body": "Hi"}})),
            )
            .await;
        reply.assert_unauthorized("is missing");
    }

    #[actix_web::test]
    async fn create_article_comment_on_an_unknown_article_returns_404() {
        let mut mocks = Mocks::signed_in();
        mocks
            .comments
            .expect_add()
            .returning(|_, _, _| Err(AppError::NotFound("article")));
        let reply = mocks
            .send(with_token(
                TestRequest::post()
                    .uri("/api/articles/nothing-here/comments")
                    .set_json(json!({"comment": {"body": "Hi"}})),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        reply.assert_errors(&["article"]);
    }

    #[actix_web::test]
    async fn delete_article_comment_returns_204_without_a_body() {
        let mut mocks = Mocks::signed_in();
        mocks
            .comments
            .expect_delete()
            .withf(|user, slug, id| *user == CALLER && slug == "dragons" && *id == 7)
            .times(1)
            .returning(|_, _, _| Ok(()));
        let reply = mocks
            .send(with_token(
                TestRequest::delete().uri("/api/articles/dragons/comments/7"),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT);
        assert!(reply.text.is_empty());
    }

    #[actix_web::test]
    async fn delete_article_comment_of_someone_else_returns_403() {
        let mut mocks = Mocks::signed_in();
        mocks
            .comments
            .expect_delete()
            .returning(|_, _, _| Err(AppError::Forbidden("comment")));
        let reply = mocks
            .send(with_token(
                TestRequest::delete().uri("/api/articles/dragons/comments/7"),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(
            reply.body,
            json!({"errors": {"comment": ["can only be changed by its author"]}})
        );
    }

    #[actix_web::test]
    async fn delete_article_comment_with_a_non_numeric_id_returns_404() {
        let mut mocks = Mocks::signed_in();
        mocks.comments.expect_delete().never();
        let reply = mocks
            .send(with_token(
                TestRequest::delete().uri("/api/articles/dragons/comments/abc"),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert_eq!(reply.body, json!({"errors": {"comment": ["not found"]}}));
    }

    #[actix_web::test]
    async fn delete_article_comment_without_a_token_returns_401() {
        let mut mocks = Mocks::anonymous();
        mocks.comments.expect_delete().never();
        let reply = mocks
            .send(TestRequest::delete().uri("/api/articles/dragons/comments/7"))
            .await;
        reply.assert_unauthorized("is missing");
    }

    #[actix_web::test]
    async fn delete_article_comment_hides_an_internal_error_behind_the_request_id() {
        let mut mocks = Mocks::signed_in();
        mocks
            .comments
            .expect_delete()
            .returning(|_, _, _| Err(internal_error()));
        let reply = mocks
            .send(with_token(
                TestRequest::delete().uri("/api/articles/dragons/comments/7"),
            ))
            .await;
        reply.assert_opaque_internal_error();
    }
}
