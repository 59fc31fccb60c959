//! Tags: the list of tags in use, and the schema of one tag as articles
//! carry it.

use serde::Serialize;
use utoipa::ToSchema;

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

#[derive(Debug, Serialize, ToSchema)]
pub struct TagsResponse<'a> {
    /// Tags of at least one article, most used first.
    pub tags: &'a [String],
}
