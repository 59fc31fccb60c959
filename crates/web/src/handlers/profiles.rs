use actix_web::web::{self, Data, Path};
use conduit_application::profiles::ProfileUseCases;

use crate::dto::ProfileResponse;
use crate::error::{ApiError, InternalError, NotFound, Unauthorized, Unavailable, Unprocessable};
use crate::extract::{AuthUser, MaybeAuthUser};

/// A user's profile. Authentication is optional.
#[utoipa::path(
    get,
    path = "/api/profiles/{username}",
    operation_id = "GetProfileByUsername",
    tag = "Profile",
    params(("username" = String, Path, description = "Username of the profile to get")),
    security((), ("Token" = [])),
    responses(
        (status = 200, description = "The profile", body = ProfileResponse),
        Unauthorized, NotFound, InternalError, Unavailable
    )
)]
pub async fn get_profile_by_username(
    profiles: Data<dyn ProfileUseCases>,
    caller: MaybeAuthUser,
    username: Path<String>,
) -> Result<web::Json<ProfileResponse>, ApiError> {
    let profile = profiles.get(caller.0, username.into_inner()).await?;
    Ok(web::Json(ProfileResponse {
        profile: profile.into(),
    }))
}

/// Follow a user. Idempotent; following yourself is rejected with 422.
#[utoipa::path(
    post,
    path = "/api/profiles/{username}/follow",
    operation_id = "FollowUserByUsername",
    tag = "Profile",
    params(("username" = String, Path, description = "Username of the profile to follow")),
    security(("Token" = [])),
    responses(
        (status = 200, description = "The followed profile", body = ProfileResponse),
        Unauthorized, NotFound, Unprocessable, InternalError, Unavailable
    )
)]
pub async fn follow_user_by_username(
    profiles: Data<dyn ProfileUseCases>,
    caller: AuthUser,
    username: Path<String>,
) -> Result<web::Json<ProfileResponse>, ApiError> {
    let profile = profiles.follow(caller.id, username.into_inner()).await?;
    Ok(web::Json(ProfileResponse {
        profile: profile.into(),
    }))
}

/// Unfollow a user. Idempotent.
#[utoipa::path(
    delete,
    path = "/api/profiles/{username}/follow",
    operation_id = "UnfollowUserByUsername",
    tag = "Profile",
    params(("username" = String, Path, description = "Username of the profile to unfollow")),
    security(("Token" = [])),
    responses(
        (status = 200, description = "The unfollowed profile", body = ProfileResponse),
        Unauthorized, NotFound, InternalError, Unavailable
    )
)]
pub async fn unfollow_user_by_username(
    profiles: Data<dyn ProfileUseCases>,
    caller: AuthUser,
    username: Path<String>,
) -> Result<web::Json<ProfileResponse>, ApiError> {
    let profile = profiles.unfollow(caller.id, username.into_inner()).await?;
    Ok(web::Json(ProfileResponse {
        profile: profile.into(),
    }))
}
