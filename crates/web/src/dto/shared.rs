//! What the areas' bodies share: the validation rules (each one a domain
//! parser), the contract's timestamp format, and telling an absent field
//! from an explicit `null`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// Validation rules for `validator`, each one a domain parser.
pub(super) mod rules {
    use std::borrow::Cow;

    use conduit_domain::{
        Bio, Body, CommentBody, Description, Email, ImageUrl, InvalidValue, Password, TagList,
        Title, Username,
    };
    use validator::ValidationError;

    fn check<T>(parsed: Result<T, InvalidValue>) -> Result<(), ValidationError> {
        parsed.map(|_| ()).map_err(|error| {
            ValidationError::new("invalid").with_message(Cow::Owned(error.message.into_owned()))
        })
    }

    pub(in crate::dto) fn username(value: &str) -> Result<(), ValidationError> {
        check(Username::parse(value))
    }
    pub(in crate::dto) fn email(value: &str) -> Result<(), ValidationError> {
        check(Email::parse(value))
    }
    pub(in crate::dto) fn new_password(value: &str) -> Result<(), ValidationError> {
        check(Password::parse(value))
    }
    pub(in crate::dto) fn login_password(value: &str) -> Result<(), ValidationError> {
        check(Password::for_login(value))
    }
    pub(in crate::dto) fn bio(value: &str) -> Result<(), ValidationError> {
        check(Bio::parse_optional(value))
    }
    pub(in crate::dto) fn image(value: &str) -> Result<(), ValidationError> {
        check(ImageUrl::parse_optional(value))
    }
    pub(in crate::dto) fn title(value: &str) -> Result<(), ValidationError> {
        check(Title::parse(value))
    }
    pub(in crate::dto) fn description(value: &str) -> Result<(), ValidationError> {
        check(Description::parse(value))
    }
    pub(in crate::dto) fn body(value: &str) -> Result<(), ValidationError> {
        check(Body::parse(value))
    }
    pub(in crate::dto) fn tag_list(value: &[String]) -> Result<(), ValidationError> {
        check(TagList::parse(value.iter().cloned()))
    }
    pub(in crate::dto) fn comment(value: &str) -> Result<(), ValidationError> {
        check(CommentBody::parse(value))
    }
    /// A one-time token from an email link: any malformed value gets the
    /// same message as a wrong one.
    pub(in crate::dto) fn one_time_token(value: &str) -> Result<(), ValidationError> {
        let plausible = (1..=ONE_TIME_TOKEN_MAX).contains(&value.len())
            && value
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
        if plausible {
            Ok(())
        } else {
            Err(ValidationError::new("invalid")
                .with_message(Cow::Borrowed("is invalid or expired")))
        }
    }

    /// Tokens are 43 characters; anything much longer is not one.
    pub(in crate::dto) const ONE_TIME_TOKEN_MAX: usize = 128;
}

/// Timestamps as the contract shows them: ISO 8601, UTC, milliseconds.
pub(super) fn timestamp<S: Serializer>(
    value: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&value.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
pub(super) fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
