//! Domain layer: Conduit's entities, value objects and the rules that hold
//! whatever the transport or the storage. Nothing here does I/O.
//!
//! Value objects are parsed, not validated: once a `Username` exists it is a
//! valid username, so the layers above never check it again.

pub mod article;
pub mod comment;
pub mod error;
pub mod limits;
pub mod paging;
pub mod upload;
pub mod user;

pub use article::{ArticleId, Body, Description, Slug, TagList, TagName, Title};
pub use comment::{CommentBody, CommentId};
pub use error::InvalidValue;
pub use paging::Paging;
pub use upload::{FileKey, ImageFormat, UploadId, Variant};
pub use user::{Bio, Email, ImageUrl, Password, UserId, Username};
