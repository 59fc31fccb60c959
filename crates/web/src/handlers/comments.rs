use actix_web::HttpResponse;
use actix_web::web::{self, Data, Path};
use conduit_application::AppError;
use conduit_application::comments::CommentUseCases;

use crate::dto::{MultipleCommentsResponse, NewCommentRequest, SingleCommentResponse};
use crate::error::{
    ApiError, BadRequest, Forbidden, InternalError, NotFound, PayloadTooLarge, Unauthorized,
    Unavailable, Unprocessable, UnsupportedMediaType,
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
        Unauthorized, NotFound, InternalError, Unavailable
    )
)]
pub async fn get_article_comments(
    comments: Data<dyn CommentUseCases>,
    caller: MaybeAuthUser,
    slug: Path<String>,
) -> Result<web::Json<MultipleCommentsResponse>, ApiError> {
    let comments = comments.list(caller.0, slug.into_inner()).await?;
    Ok(web::Json(MultipleCommentsResponse {
        comments: comments.into_iter().map(Into::into).collect(),
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
        BadRequest, Unauthorized, NotFound, PayloadTooLarge, UnsupportedMediaType, Unprocessable, InternalError, Unavailable
    )
)]
pub async fn create_article_comment(
    comments: Data<dyn CommentUseCases>,
    caller: AuthUser,
    slug: Path<String>,
    body: ValidJson<NewCommentRequest>,
) -> Result<web::Json<SingleCommentResponse>, ApiError> {
    let comment = comments
        .add(caller.id, slug.into_inner(), body.into_inner().comment.body)
        .await?;
    Ok(web::Json(SingleCommentResponse {
        comment: comment.into(),
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
