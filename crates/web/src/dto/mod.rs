//! Request and response bodies exactly as the RealWorld contract names and
//! shapes them, one module per spec area. Validation rules delegate to the
//! domain's parsers, so the 422 a client gets here and the rule the domain
//! enforces are one rule.
//!
//! Response bodies borrow from the read models, so that a cached page is
//! serialized straight from the cache, without copying it first.
//!
//! Every body is re-exported here, so handlers and the OpenAPI document name
//! them as `crate::dto::X` whatever area they belong to.

mod articles;
mod comments;
mod profiles;
mod shared;
mod tags;
mod uploads;
mod users;

pub use articles::{
    Article, ArticleListItem, MultipleArticlesResponse, NewArticle, NewArticleRequest,
    SingleArticleResponse, UpdateArticle, UpdateArticleRequest,
};
pub use comments::{
    Comment, MultipleCommentsResponse, NewComment, NewCommentRequest, SingleCommentResponse,
};
pub use profiles::{Profile, ProfileResponse};
pub use tags::{Tag, TagsResponse};
pub use uploads::{Upload, UploadForm, UploadResponse, Variants};
pub use users::{
    LoginUser, LoginUserRequest, NewUser, NewUserRequest, PasswordResetAccepted,
    PasswordResetConfirmRequest, PasswordResetRequest, PasswordResetUser, UnsubscribeQuery,
    UnsubscribeResponse, UpdateUser, UpdateUserRequest, User, UserResponse, VerifyEmailRequest,
};
