use actix_web::web::{self, Data};
use conduit_application::tags::TagUseCases;

use crate::dto::TagsResponse;
use crate::error::{ApiError, InternalError, Unavailable};

/// Tags in use, most used first.
#[utoipa::path(
    get,
    path = "/api/tags",
    operation_id = "GetTags",
    tag = "Tags",
    responses(
        (status = 200, description = "The tags", body = TagsResponse),
        InternalError, Unavailable
    )
)]
pub async fn get_tags(tags: Data<dyn TagUseCases>) -> Result<web::Json<TagsResponse>, ApiError> {
    let tags = tags.list().await?;
    Ok(web::Json(TagsResponse { tags }))
}
