//! The one error the domain raises: a value that breaks a rule.

use std::borrow::Cow;

/// A value that cannot become a domain value object.
///
/// The message follows the RealWorld convention of completing a sentence that
/// starts with the field name ("email is invalid", "title can't be blank").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidValue {
    pub message: Cow<'static, str>,
}

/// Rejects text with a NUL character.
pub(crate) fn check_storable(value: &str) -> Result<(), InvalidValue> {
    if value.contains('\0') {
        Err(InvalidValue::new("can't contain NUL characters"))
    } else {
        Ok(())
    }
}

impl InvalidValue {
    pub fn new(message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            message: message.into(),
        }
    }

    pub fn blank() -> Self {
        Self::new("can't be blank")
    }

    pub fn too_long(max: usize) -> Self {
        Self::new(format!("is too long (maximum is {max} characters)"))
    }

    pub fn too_short(min: usize) -> Self {
        Self::new(format!("is too short (minimum is {min} characters)"))
    }
}

/// Whether `value` has nothing a reader could see: only whitespace, control
/// and format characters (zero-width spaces and joiners, bidi marks, the
/// BOM), combining marks with no base, and the fillers that render as blank.
pub(crate) fn is_invisible(value: &str) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    value.chars().all(|c| {
        c.is_whitespace()
            // Hangul fillers and the blank Braille pattern are letters or
            // symbols by category, yet show nothing.
            || matches!(c, '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' | '\u{2800}')
            || matches!(
                c.general_category(),
                GeneralCategory::Control
                    | GeneralCategory::Format
                    | GeneralCategory::Surrogate
                    | GeneralCategory::PrivateUse
                    | GeneralCategory::Unassigned
                    | GeneralCategory::SpaceSeparator
                    | GeneralCategory::LineSeparator
                    | GeneralCategory::ParagraphSeparator
                    | GeneralCategory::NonspacingMark
                    | GeneralCategory::EnclosingMark
            )
    })
}

/// Rejects text a reader would see as blank (see [`is_invisible`]).
pub(crate) fn check_visible(value: &str) -> Result<(), InvalidValue> {
    if is_invisible(value) {
        Err(InvalidValue::blank())
    } else {
        Ok(())
    }
}

/// Checks a length in characters (not bytes) against inclusive bounds, and
/// that the text holds no NUL character, which no database stores alike
/// (PostgreSQL refuses it in text).
pub(crate) fn check_length(value: &str, min: usize, max: usize) -> Result<(), InvalidValue> {
    check_storable(value)?;
    let chars = value.chars().count();
    if chars == 0 && min > 0 {
        Err(InvalidValue::blank())
    } else if chars < min {
        Err(InvalidValue::too_short(min))
    } else if chars > max {
        Err(InvalidValue::too_long(max))
    } else {
        Ok(())
    }
}
