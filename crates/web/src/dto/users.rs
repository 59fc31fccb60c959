//! Users and authentication: registration, log-in and the signed-in user's
//! account, as read and as changed.

use conduit_application::users::SignedIn;
use conduit_application::views::Account;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::shared::{present, rules};

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct LoginUser {
    #[validate(custom(function = "rules::email"))]
    #[schema(example = "jake@jake.jake", format = Email, max_length = 254)]
    pub email: String,
    #[validate(custom(function = "rules::login_password"))]
    #[schema(format = Password, example = "jakejake", min_length = 1, max_length = 128)]
    pub password: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct LoginUserRequest {
    #[validate(nested)]
    pub user: LoginUser,
}

/// A new account. Usernames: 3 to 32 characters from `A-Z a-z 0-9 _ - .`,
/// starting with a letter or digit. Email and username are unique, ignoring case.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct NewUser {
    #[validate(custom(function = "rules::username"))]
    #[schema(
        example = "jake",
        min_length = 3,
        max_length = 32,
        pattern = "^[A-Za-z0-9][A-Za-z0-9_.-]*$"
    )]
    pub username: String,
    #[validate(custom(function = "rules::email"))]
    #[schema(example = "jake@jake.jake", format = Email, max_length = 254)]
    pub email: String,
    #[validate(custom(function = "rules::new_password"))]
    #[schema(format = Password, example = "jakejake", min_length = 8, max_length = 128)]
    pub password: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct NewUserRequest {
    #[validate(nested)]
    pub user: NewUser,
}

/// Fields to change; at least one. A blank or `null` bio or image clears it.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct UpdateUser {
    #[validate(custom(function = "rules::email"))]
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    #[validate(custom(function = "rules::new_password"))]
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub password: Option<String>,
    #[validate(custom(function = "rules::username"))]
    #[schema(
        min_length = 3,
        max_length = 32,
        pattern = "^[A-Za-z0-9][A-Za-z0-9_.-]*$"
    )]
    pub username: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[validate(custom(function = "rules::bio"))]
    #[schema(value_type = Option<String>, max_length = 1000)]
    pub bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[validate(custom(function = "rules::image"))]
    #[schema(value_type = Option<String>, format = "uri", pattern = "^https?://", max_length = 2048, example = "https://api.realworld.io/images/smiley-cyrus.jpg")]
    pub image: Option<Option<String>>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct UpdateUserRequest {
    #[validate(nested)]
    pub user: UpdateUser,
}

/// The signed-in user.
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub email: String,
    pub token: String,
    pub username: String,
    pub bio: Option<String>,
    pub image: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub user: User,
}

impl UserResponse {
    pub fn new(account: Account, token: String) -> Self {
        Self {
            user: User {
                email: account.email,
                token,
                username: account.username,
                bio: account.bio,
                image: account.image,
            },
        }
    }
}

impl From<SignedIn> for UserResponse {
    fn from(signed_in: SignedIn) -> Self {
        Self::new(signed_in.account, signed_in.token)
    }
}
