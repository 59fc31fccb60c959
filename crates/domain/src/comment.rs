//! Comments on articles.

use serde::{Deserialize, Serialize};

use crate::error::{InvalidValue, check_length, check_visible};
use crate::limits::COMMENT_MAX;

/// Database identity of a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommentId(pub i64);

/// The text of a comment, stored exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentBody(String);

impl CommentBody {
    /// # Errors
    /// When the comment is blank or longer than the maximum.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        check_visible(&value)?;
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
    fn text_of_only_invisible_characters_is_blank() {
        use crate::{Body, Description, TagList, Title};
        for invisible in [
            "\u{200b}\u{200b}",
            "\u{feff}",
            "\u{200d}\u{2060}\u{200e}",
            " \u{3164} ",
            "\u{0301}\u{0301}",
            "\u{2800}",
            "\t\u{00a0}\u{202f}",
        ] {
            assert_eq!(
                Title::parse(invisible),
                Err(InvalidValue::blank()),
                "{invisible:?}"
            );
            assert!(Description::parse(invisible).is_err(), "{invisible:?}");
            assert!(Body::parse(invisible).is_err(), "{invisible:?}");
            assert!(CommentBody::parse(invisible).is_err(), "{invisible:?}");
            assert!(
                TagList::parse([invisible.to_owned()]).is_err(),
                "{invisible:?}"
            );
        }
        // Visible text with invisible characters inside it is kept as sent.
        assert_eq!(Title::parse("a\u{200b}b").unwrap().as_str(), "a\u{200b}b");
        assert!(Title::parse("é").is_ok());
        assert!(Title::parse("北京").is_ok());
        assert!(Title::parse("🚀").is_ok());
        assert!(CommentBody::parse("\u{0065}\u{0301}").is_ok());
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
