//! Comments on articles.

use crate::error::{InvalidValue, check_length};
use crate::limits::COMMENT_MAX;

/// Database identity of a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommentId(pub i64);

/// The text of a comment, stored exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentBody(String);

impl CommentBody {
    /// # Errors
    /// When the comment is blank or longer than the maximum.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        if value.trim().is_empty() {
            return Err(InvalidValue::blank());
        }
        check_length(&value, 1, COMMENT_MAX)?;
        Ok(Self(value))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_with_a_nul_character_is_refused_everywhere() {
        use crate::{Bio, Body, Description, Slug, TagList, Title};
        assert!(CommentBody::parse("a\0b").is_err());
        assert!(Body::parse("a\0b").is_err());
        assert!(Title::parse("a\0b").is_err());
        assert!(Description::parse("a\0b").is_err());
        assert!(Bio::parse_optional("a\0b").is_err());
        assert!(TagList::parse(["a\0b".to_owned()]).is_err());
        assert!(Slug::from_request("a\0b").is_none());
        assert!(Slug::from_request("fine").is_some());
    }

    #[test]
    fn comment_may_not_be_blank_or_too_long() {
        assert!(CommentBody::parse("  ").is_err());
        assert!(CommentBody::parse("x".repeat(5_001)).is_err());
        assert_eq!(
            CommentBody::parse("Thank you!").unwrap().into_inner(),
            "Thank you!"
        );
    }
}
