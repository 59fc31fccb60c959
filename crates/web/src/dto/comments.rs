//! Comments on an article: one, a list, and the body that adds one.

use chrono::{DateTime, Utc};
use conduit_application::views::CommentView;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::profiles::Profile;
use super::shared::{rules, timestamp};

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
