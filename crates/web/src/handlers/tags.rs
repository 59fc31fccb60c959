use actix_web::HttpResponse;
use actix_web::web::Data;
use conduit_application::tags::TagUseCases;

use crate::dto::TagsResponse;
use crate::error::{ApiError, InternalError, NotModified, Unavailable};

/// Tags in use, most used first.
#[utoipa::path(
    get,
    path = "/api/tags",
    operation_id = "GetTags",
    tag = "Tags",
    responses(
        (status = 200, description = "The tags", body = TagsResponse),
        NotModified,
        InternalError, Unavailable
    )
)]
pub async fn get_tags(tags: Data<dyn TagUseCases>) -> Result<HttpResponse, ApiError> {
    let tags = tags.list().await?;
    Ok(HttpResponse::Ok().json(TagsResponse { tags: &tags }))
}
