//! Profiles: a user as another user sees them.

use conduit_application::views::Profile as ProfileView;
use serde::Serialize;
use utoipa::ToSchema;

/// A user as the caller sees them; `following` is false for anonymous callers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Profile<'a> {
    pub username: &'a str,
    pub bio: Option<&'a str>,
    pub image: Option<&'a str>,
    pub following: bool,
}

impl<'a> From<&'a ProfileView> for Profile<'a> {
    fn from(view: &'a ProfileView) -> Self {
        Self {
            username: &view.username,
            bio: view.bio.as_deref(),
            image: view.image.as_deref(),
            following: view.following,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileResponse<'a> {
    pub profile: Profile<'a>,
}

impl<'a> From<&'a ProfileView> for ProfileResponse<'a> {
    fn from(view: &'a ProfileView) -> Self {
        Self {
            profile: view.into(),
        }
    }
}
