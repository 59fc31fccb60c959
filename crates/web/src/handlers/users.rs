use actix_web::web::Data;
use actix_web::{HttpResponse, web};
use conduit_application::users::{AccountUpdate, Login, Registration, UserUseCases};

use crate::dto::{LoginUserRequest, NewUserRequest, UpdateUserRequest, UserResponse};
use crate::error::{
    ApiError, BadRequest, InternalError, PayloadTooLarge, Unauthorized, Unavailable, Unprocessable,
    UnsupportedMediaType,
};
use crate::extract::{AuthUser, ValidJson};

/// Register a new user.
#[utoipa::path(
    post,
    path = "/api/users",
    operation_id = "CreateUser",
    tag = "User and Authentication",
    request_body = NewUserRequest,
    responses(
        (status = 201, description = "The new user, signed in", body = UserResponse),
        BadRequest, PayloadTooLarge, UnsupportedMediaType, Unprocessable, InternalError, Unavailable
    )
)]
pub async fn create_user(
    users: Data<dyn UserUseCases>,
    body: ValidJson<NewUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let user = body.into_inner().user;
    let signed_in = users
        .register(Registration {
            username: user.username,
            email: user.email,
            password: user.password,
        })
        .await?;
    Ok(HttpResponse::Created().json(UserResponse::from(signed_in)))
}

/// Log in. A wrong password and an unknown email get the same 401.
#[utoipa::path(
    post,
    path = "/api/users/login",
    operation_id = "Login",
    tag = "User and Authentication",
    request_body = LoginUserRequest,
    responses(
        (status = 200, description = "The user, signed in", body = UserResponse),
        BadRequest, Unauthorized, PayloadTooLarge, UnsupportedMediaType, Unprocessable, InternalError, Unavailable
    )
)]
pub async fn login(
    users: Data<dyn UserUseCases>,
    body: ValidJson<LoginUserRequest>,
) -> Result<web::Json<UserResponse>, ApiError> {
    let user = body.into_inner().user;
    let signed_in = users
        .login(Login {
            email: user.email,
            password: user.password,
        })
        .await?;
    Ok(web::Json(signed_in.into()))
}

/// The current user, with the token that was presented.
#[utoipa::path(
    get,
    path = "/api/user",
    operation_id = "GetCurrentUser",
    tag = "User and Authentication",
    security(("Token" = [])),
    responses(
        (status = 200, description = "The current user", body = UserResponse),
        Unauthorized, InternalError, Unavailable
    )
)]
pub async fn get_current_user(
    users: Data<dyn UserUseCases>,
    caller: AuthUser,
) -> Result<web::Json<UserResponse>, ApiError> {
    let account = users.current(caller.id).await?;
    Ok(web::Json(UserResponse::new(account, caller.token)))
}

/// Update the current user.
#[utoipa::path(
    put,
    path = "/api/user",
    operation_id = "UpdateCurrentUser",
    tag = "User and Authentication",
    security(("Token" = [])),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The updated user", body = UserResponse),
        BadRequest, Unauthorized, PayloadTooLarge, UnsupportedMediaType, Unprocessable, InternalError, Unavailable
    )
)]
pub async fn update_current_user(
    users: Data<dyn UserUseCases>,
    caller: AuthUser,
    body: ValidJson<UpdateUserRequest>,
) -> Result<web::Json<UserResponse>, ApiError> {
    let user = body.into_inner().user;
    let account = users
        .update(
            caller.id,
            AccountUpdate {
                username: user.username,
                email: user.email,
                password: user.password,
                bio: user.bio,
                image: user.image,
            },
        )
        .await?;
    Ok(web::Json(UserResponse::new(account, caller.token)))
}
