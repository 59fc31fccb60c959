use actix_web::HttpResponse;
use actix_web::web::{Data, Path};
use conduit_application::profiles::ProfileUseCases;

use crate::dto::ProfileResponse;
use crate::error::{
    ApiError, InternalError, NotFound, NotModified, Unauthorized, Unavailable, Unprocessable,
};
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
        NotModified,
        Unauthorized, NotFound, InternalError, Unavailable
    )
)]
pub async fn get_profile_by_username(
    profiles: Data<dyn ProfileUseCases>,
    caller: MaybeAuthUser,
    username: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let profile = profiles.get(caller.0, username.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ProfileResponse::from(&profile)))
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
) -> Result<HttpResponse, ApiError> {
    let profile = profiles.follow(caller.id, username.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ProfileResponse::from(&profile)))
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
) -> Result<HttpResponse, ApiError> {
    let profile = profiles.unfollow(caller.id, username.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ProfileResponse::from(&profile)))
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::test::TestRequest;
    use conduit_application::{AppError, FieldErrors};
    use serde_json::json;

    use crate::test_support::{CALLER, Mocks, internal_error, profile, with_token};

    #[actix_web::test]
    async fn get_profile_anonymously_does_not_authenticate() {
        let mut mocks = Mocks::anonymous();
        mocks
            .profiles
            .expect_get()
            .withf(|viewer, username| viewer.is_none() && username == "celeb")
            .times(1)
            .returning(|_, _| Ok(profile(false)));
        let reply = mocks
            .send(TestRequest::get().uri("/api/profiles/celeb"))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(
            reply.body,
            json!({"profile": {
                "username": "celeb",
                "bio": "I work at statefarm",
                "image": null,
                "following": false
            }})
        );
    }

    #[actix_web::test]
    async fn get_profile_with_a_token_is_seen_by_the_caller() {
        let mut mocks = Mocks::signed_in();
        mocks
            .profiles
            .expect_get()
            .withf(|viewer, _| *viewer == Some(CALLER))
            .times(1)
            .returning(|_, _| Ok(profile(true)));
        let reply = mocks
            .send(with_token(TestRequest::get().uri("/api/profiles/celeb")))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["profile"]["following"], true);
    }

    #[actix_web::test]
    async fn get_profile_with_a_rejected_token_returns_401_rather_than_anonymous() {
        let mut mocks = Mocks::default();
        mocks.users.expect_authenticate().returning(|_| {
            Err(AppError::Unauthorized(
                conduit_application::AuthFailure::InvalidToken,
            ))
        });
        mocks.profiles.expect_get().never();
        let reply = mocks
            .send(with_token(TestRequest::get().uri("/api/profiles/celeb")))
            .await;
        reply.assert_unauthorized("is invalid");
    }

    #[actix_web::test]
    async fn get_profile_of_an_unknown_user_returns_404() {
        let mut mocks = Mocks::anonymous();
        mocks
            .profiles
            .expect_get()
            .returning(|_, _| Err(AppError::NotFound("profile")));
        let reply = mocks
            .send(TestRequest::get().uri("/api/profiles/nobody"))
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert_eq!(reply.body, json!({"errors": {"profile": ["not found"]}}));
    }

    #[actix_web::test]
    async fn follow_returns_the_followed_profile() {
        let mut mocks = Mocks::signed_in();
        mocks
            .profiles
            .expect_follow()
            .withf(|follower, username| *follower == CALLER && username == "celeb")
            .times(1)
            .returning(|_, _| Ok(profile(true)));
        let reply = mocks
            .send(with_token(
                TestRequest::post().uri("/api/profiles/celeb/follow"),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["profile"]["following"], true);
    }

    #[actix_web::test]
    async fn follow_without_a_token_returns_401() {
        let mut mocks = Mocks::anonymous();
        mocks.profiles.expect_follow().never();
        let reply = mocks
            .send(TestRequest::post().uri("/api/profiles/celeb/follow"))
            .await;
        reply.assert_unauthorized("is missing");
    }

    #[actix_web::test]
    async fn following_yourself_returns_422() {
        let mut mocks = Mocks::signed_in();
        mocks.profiles.expect_follow().returning(|_, _| {
            Err(AppError::Validation(FieldErrors::single(
                "username",
                "can't be yourself: you cannot follow yourself",
            )))
        });
        let reply = mocks
            .send(with_token(
                TestRequest::post().uri("/api/profiles/jake/follow"),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        reply.assert_errors(&["username"]);
    }

    #[actix_web::test]
    async fn unfollow_returns_the_profile_not_followed() {
        let mut mocks = Mocks::signed_in();
        mocks
            .profiles
            .expect_unfollow()
            .withf(|follower, username| *follower == CALLER && username == "celeb")
            .times(1)
            .returning(|_, _| Ok(profile(false)));
        let reply = mocks
            .send(with_token(
                TestRequest::delete().uri("/api/profiles/celeb/follow"),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["profile"]["following"], false);
    }

    #[actix_web::test]
    async fn unfollow_hides_an_internal_error_behind_the_request_id() {
        let mut mocks = Mocks::signed_in();
        mocks
            .profiles
            .expect_unfollow()
            .returning(|_, _| Err(internal_error()));
        let reply = mocks
            .send(with_token(
                TestRequest::delete().uri("/api/profiles/celeb/follow"),
            ))
            .await;
        reply.assert_opaque_internal_error();
    }
}
