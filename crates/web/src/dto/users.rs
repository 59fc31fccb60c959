//! Users and authentication: registration, log-in and the signed-in user's
//! account, as read and as changed.

use conduit_application::users::SignedIn;
use conduit_application::views::Account;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::shared::{present, rules};

/// A one-time token from an email link.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct VerifyEmailRequest {
    #[validate(custom(function = "rules::one_time_token"))]
    #[schema(
        example = "q3J9cV0m8Ahd5qZ1xYk2bW7rT4uE6sN0pL8oI1aC3dF",
        max_length = 128
    )]
    pub token: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct PasswordResetUser {
    #[validate(custom(function = "rules::email"))]
    #[schema(example = "jake@jake.jake", format = Email, max_length = 254)]
    pub email: String,
}

/// Asks for a password reset link.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct PasswordResetRequest {
    #[validate(nested)]
    pub user: PasswordResetUser,
}

/// The answer to every reset request, whether or not the address has an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordResetAccepted {
    #[schema(example = "If an account has this address, a reset link is on its way.")]
    pub message: &'static str,
}

impl PasswordResetAccepted {
    pub const ANSWER: Self = Self {
        message: "If an account has this address, a reset link is on its way.",
    };
}

/// Sets a new password with the token from a reset email.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct PasswordResetConfirmRequest {
    #[validate(custom(function = "rules::one_time_token"))]
    #[schema(max_length = 128)]
    pub token: String,
    #[validate(custom(function = "rules::new_password"))]
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub password: String,
}

/// The token of an unsubscribe link.
#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnsubscribeQuery {
    /// The token from the email's link.
    #[validate(custom(function = "rules::one_time_token"))]
    pub token: String,
}

/// What an unsubscribe link did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnsubscribeResponse {
    /// Always `false`: notification emails are off.
    pub email_notifications: bool,
}

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
    /// Whether to receive notification emails (new comments on your
    /// articles, new articles by authors you follow). Beyond the RealWorld
    /// contract.
    #[serde(rename = "emailNotifications")]
    pub email_notifications: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct UpdateUserRequest {
    #[validate(nested)]
    pub user: UpdateUser,
}

/// The signed-in user. `emailVerified` and `emailNotifications` go beyond
/// the RealWorld contract.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub email: String,
    pub token: String,
    pub username: String,
    pub bio: Option<String>,
    pub image: Option<String>,
    /// Whether the user followed a verification link sent to `email`.
    pub email_verified: bool,
    /// Whether the user gets notification emails.
    pub email_notifications: bool,
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
                email_verified: account.email_verified,
                email_notifications: account.email_notifications,
            },
        }
    }
}

impl From<SignedIn> for UserResponse {
    fn from(signed_in: SignedIn) -> Self {
        Self::new(signed_in.account, signed_in.token)
    }
}
