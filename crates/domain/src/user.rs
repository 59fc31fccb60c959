//! Accounts: the value objects a user is made of.

use std::fmt;

use serde::{Deserialize, Serialize};
use validator::{ValidateEmail, ValidateUrl};

use crate::error::{InvalidValue, check_length, is_invisible};
use crate::limits::{
    BIO_MAX, EMAIL_MAX, IMAGE_URL_MAX, PASSWORD_MAX, PASSWORD_MIN, USERNAME_MAX, USERNAME_MIN,
};

/// Database identity of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

/// A public handle, unique without regard to case.
///
/// Rules: 3 to 32 characters from `A-Z a-z 0-9 _ - .`, starting with a letter
/// or digit. ASCII only, so that case folding is the same in every database
/// and look-alike characters cannot impersonate another user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// # Errors
    /// When the value breaks one of the rules above.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        check_length(&value, USERNAME_MIN, USERNAME_MAX)?;
        let mut chars = value.chars();
        let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !(starts_well && rest_ok) {
            return Err(InvalidValue::new(
                "may only contain letters, digits, '_', '-' and '.', and must start with a letter or digit",
            ));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness and look-ups compare: lower case.
    pub fn canonical(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address as the user typed it (trimmed), unique without regard to case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// # Errors
    /// When the value is blank, too long or not an email address.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into().trim().to_owned();
        check_length(&value, 1, EMAIL_MAX)?;
        if !value.validate_email() {
            return Err(InvalidValue::new("is invalid"));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness and log-in compare: lower case.
    pub fn canonical(&self) -> String {
        self.0.to_lowercase()
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A plain-text password on its way to the hasher. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Parses a new password, enforcing the length policy.
    ///
    /// # Errors
    /// When the password is shorter than 8 or longer than 128 characters.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        check_length(&value, PASSWORD_MIN, PASSWORD_MAX)?;
        Ok(Self(value))
    }

    /// Wraps a password offered at log-in. The length policy is not applied
    /// (an old password may predate it), only the upper bound that keeps
    /// hashing cheap.
    ///
    /// # Errors
    /// When the value is empty or longer than the maximum.
    pub fn for_login(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        check_length(&value, 1, PASSWORD_MAX)?;
        Ok(Self(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A short text about the user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bio(String);

impl Bio {
    /// Blank input means "no bio" and gives `None`.
    ///
    /// # Errors
    /// When the text is longer than the maximum.
    pub fn parse_optional(value: impl Into<String>) -> Result<Option<Self>, InvalidValue> {
        let value = value.into();
        if is_invisible(&value) {
            return Ok(None);
        }
        check_length(&value, 1, BIO_MAX)?;
        Ok(Some(Self(value)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The address of the user's avatar: an absolute http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageUrl(String);

impl ImageUrl {
    /// Blank input means "no image" and gives `None`: browser clients send an
    /// empty string for an empty form field.
    ///
    /// # Errors
    /// When the value is too long or not an http(s) URL.
    pub fn parse_optional(value: impl Into<String>) -> Result<Option<Self>, InvalidValue> {
        let value = value.into().trim().to_owned();
        if value.is_empty() {
            return Ok(None);
        }
        check_length(&value, 1, IMAGE_URL_MAX)?;
        let scheme_ok = url::Url::parse(&value)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host());
        if !(scheme_ok && value.validate_url()) {
            return Err(InvalidValue::new("must be an http or https URL"));
        }
        Ok(Some(Self(value)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_accepts_letters_digits_and_separators() {
        for name in ["jake", "Jake_2", "a.b-c", "abc", &"x".repeat(32)] {
            assert!(Username::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn username_rejects_bad_length_and_characters() {
        for name in [
            "",
            "ab",
            &"x".repeat(33),
            "has space",
            "_leading",
            "..",
            "../etc",
            "jöhn",
            "semi;colon",
            "a'b",
        ] {
            assert!(Username::parse(name).is_err(), "{name}");
        }
    }

    #[test]
    fn username_canonical_form_is_lower_case() {
        assert_eq!(Username::parse("JaKe").unwrap().canonical(), "jake");
    }

    #[test]
    fn email_is_trimmed_and_checked() {
        assert_eq!(
            Email::parse("  jake@jake.jake ").unwrap().as_str(),
            "jake@jake.jake"
        );
        for bad in ["", "   ", "jake", "jake@", "@jake.jake", "a b@c.d"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        let too_long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(
            Email::parse(too_long).unwrap_err(),
            InvalidValue::too_long(254)
        );
    }

    #[test]
    fn email_canonical_form_folds_case() {
        assert_eq!(
            Email::parse("Jake@Jake.JAKE").unwrap().canonical(),
            "jake@jake.jake"
        );
    }

    #[test]
    fn password_enforces_length_policy() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse("x".repeat(129)).is_err());
        assert!(Password::for_login("short").is_ok());
        assert!(Password::for_login("").is_err());
    }

    #[test]
    fn password_is_never_printed() {
        let password = Password::parse("correct horse battery").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[test]
    fn blank_bio_and_image_mean_none() {
        assert_eq!(Bio::parse_optional("  ").unwrap(), None);
        assert_eq!(ImageUrl::parse_optional("").unwrap(), None);
    }

    #[test]
    fn bio_is_bounded() {
        assert!(Bio::parse_optional("x".repeat(1_000)).unwrap().is_some());
        assert!(Bio::parse_optional("x".repeat(1_001)).is_err());
    }

    #[test]
    fn image_must_be_an_http_url() {
        assert!(
            ImageUrl::parse_optional("https://i.stack.imgur.com/xHWG8.jpg")
                .unwrap()
                .is_some()
        );
        for bad in [
            "javascript:alert(1)",
            "ftp://example.com/a.png",
            "not a url",
            "/relative.png",
            "data:image/png;base64,AAAA",
        ] {
            assert!(ImageUrl::parse_optional(bad).is_err(), "{bad}");
        }
    }
}
