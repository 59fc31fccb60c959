use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse, web};
use conduit_application::users::{AccountUpdate, Login, Registration, UserUseCases};

use crate::WebState;
use crate::dto::{LoginUserRequest, NewUserRequest, UpdateUserRequest, UserResponse};
use crate::error::{
    ApiError, BadRequest, InternalError, NotModified, PayloadTooLarge, RequestTimeout,
    TooManyRequests, Unauthorized, Unavailable, Unprocessable, UnsupportedMediaType,
};
use crate::extract::{AuthUser, ValidJson};
use crate::rate_limit::Limited;

pub(crate) fn refused(state: &WebState, limited: Limited) -> ApiError {
    state.metrics.rate_limited(limited.limit);
    tracing::warn!(limit = limited.limit, "rate limited");
    ApiError::TooManyRequests {
        retry_after: limited.retry_after,
    }
}

/// Register a new user.
#[utoipa::path(
    post,
    path = "/api/users",
    operation_id = "CreateUser",
    tag = "User and Authentication",
    request_body = NewUserRequest,
    responses(
        (status = 201, description = "The new user, signed in", body = UserResponse),
        BadRequest, RequestTimeout, PayloadTooLarge, UnsupportedMediaType, Unprocessable, TooManyRequests,
        InternalError, Unavailable
    )
)]
pub async fn create_user(
    req: HttpRequest,
    state: Data<WebState>,
    users: Data<dyn UserUseCases>,
    body: ValidJson<NewUserRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .limits
        .register(state.limits.client_ip(&req))
        .map_err(|limited| refused(&state, limited))?;
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
        BadRequest, Unauthorized, RequestTimeout, PayloadTooLarge, UnsupportedMediaType, Unprocessable,
        TooManyRequests, InternalError, Unavailable
    )
)]
pub async fn login(
    req: HttpRequest,
    state: Data<WebState>,
    users: Data<dyn UserUseCases>,
    body: ValidJson<LoginUserRequest>,
) -> Result<web::Json<UserResponse>, ApiError> {
    let user = body.into_inner().user;
    state
        .limits
        .login(state.limits.client_ip(&req), &user.email)
        .map_err(|limited| refused(&state, limited))?;
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
        NotModified,
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

/// Update the current user. A new password revokes every token issued
/// before it, the one presented too: the response then carries a fresh token.
#[utoipa::path(
    put,
    path = "/api/user",
    operation_id = "UpdateCurrentUser",
    tag = "User and Authentication",
    security(("Token" = [])),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The updated user", body = UserResponse),
        BadRequest, Unauthorized, RequestTimeout, PayloadTooLarge, UnsupportedMediaType, Unprocessable,
        InternalError, Unavailable
    )
)]
pub async fn update_current_user(
    users: Data<dyn UserUseCases>,
    caller: AuthUser,
    body: ValidJson<UpdateUserRequest>,
) -> Result<web::Json<UserResponse>, ApiError> {
    let user = body.into_inner().user;
    let updated = users
        .update(
            caller.id,
            AccountUpdate {
                username: user.username,
                email: user.email,
                password: user.password,
                bio: user.bio,
                image: user.image,
                email_notifications: user.email_notifications,
            },
        )
        .await?;
    let token = updated.new_token.unwrap_or(caller.token);
    Ok(web::Json(UserResponse::new(updated.account, token)))
}

/// Log out everywhere: every token of the caller issued until now answers
/// 401 from then on (on every instance). Not part of the RealWorld API.
#[utoipa::path(
    post,
    path = "/api/users/logout",
    operation_id = "Logout",
    tag = "User and Authentication",
    security(("Token" = [])),
    responses(
        (status = 204, description = "The caller's tokens are revoked"),
        Unauthorized, InternalError, Unavailable
    )
)]
pub async fn logout(
    users: Data<dyn UserUseCases>,
    caller: AuthUser,
) -> Result<HttpResponse, ApiError> {
    users.logout(caller.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::test::TestRequest;
    use conduit_application::users::{AccountUpdated, SignedIn};
    use conduit_application::{AppError, AuthFailure, FieldErrors};
    use serde_json::json;

    use crate::test_support::{CALLER, Mocks, TOKEN, account, internal_error, with_token};

    fn registration(user: serde_json::Value) -> TestRequest {
        TestRequest::post()
            .uri("/api/users")
            .set_json(json!({ "user": user }))
    }

    fn jake() -> serde_json::Value {
        json!({"username": "jake", "email": "jake@jake.jake", "password": "jakejake"})
    }

    #[actix_web::test]
    async fn create_user_returns_201_with_the_contract_fields_and_the_account_flags() {
        let mut mocks = Mocks::anonymous();
        mocks
            .users
            .expect_register()
            .withf(|registration| {
                registration.username == "jake"
                    && registration.email == "jake@jake.jake"
                    && registration.password == "jakejake"
            })
            .times(1)
            .returning(|_| {
                Ok(SignedIn {
                    account: account(),
                    token: "jwt".to_owned(),
                })
            });
        let reply = mocks.send(registration(jake())).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        assert_eq!(
            reply.body,
            json!({"user": {
                "bio": null,
                "email": "jake@jake.jake",
                "image": null,
                "token": "jwt",
                "username": "jake",
                "emailVerified": false,
                "emailNotifications": true
            }})
        );
        assert!(reply.header("x-request-id").is_some());
    }

    #[actix_web::test]
    async fn create_user_returns_422_for_every_invalid_field_without_calling_the_use_case() {
        let mut mocks = Mocks::anonymous();
        mocks.users.expect_register().never();
        let reply = mocks
            .send(registration(json!({
                "username": "a b",
                "email": "not-an-email",
                "password": "short"
            })))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.text
        );
        reply.assert_errors(&["email", "password", "username"]);
        assert_eq!(reply.body["errors"]["email"], json!(["is invalid"]));
        assert_eq!(
            reply.body["errors"]["password"],
            json!(["is too short (minimum is 8 characters)"])
        );
    }

    #[actix_web::test]
    async fn create_user_returns_422_naming_a_missing_field() {
        let mut mocks = Mocks::anonymous();
        mocks.users.expect_register().never();
        let reply = mocks
            .send(registration(
                json!({"email": "jake@jake.jake", "password": "jakejake"}),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.assert_errors(&["username"]), "can't be blank");
    }

    #[actix_web::test]
    async fn create_user_returns_422_naming_a_field_of_the_wrong_type() {
        let mut mocks = Mocks::anonymous();
        mocks.users.expect_register().never();
        let reply = mocks
            .send(registration(
                json!({"username": 42, "email": "jake@jake.jake", "password": "jakejake"}),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        reply.assert_errors(&["username"]);
    }

    #[actix_web::test]
    async fn create_user_returns_400_for_a_body_that_is_not_json() {
        let mut mocks = Mocks::anonymous();
        mocks.users.expect_register().never();
        let reply = mocks
            .send(
                TestRequest::post()
                    .uri("/api/users")
                    .insert_header(("Content-Type", "application/json"))
                    .set_payload("{\"user\": "),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        reply.assert_errors(&["body"]);
    }

    #[actix_web::test]
    async fn create_user_returns_415_for_a_body_that_is_not_sent_as_json() {
        let mut mocks = Mocks::anonymous();
        mocks.users.expect_register().never();
        let reply = mocks
            .send(
                TestRequest::post()
                    .uri("/api/users")
                    .insert_header(("Content-Type", "text/plain"))
                    .set_payload(jake().to_string()),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        reply.assert_errors(&["body"]);
    }

    #[actix_web::test]
    async fn create_user_returns_422_when_the_email_is_taken() {
        let mut mocks = Mocks::anonymous();
        mocks
            .users
            .expect_register()
            .returning(|_| Err(AppError::Conflict("email")));
        let reply = mocks.send(registration(jake())).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            reply.body,
            json!({"errors": {"email": ["has already been taken"]}})
        );
    }

    #[actix_web::test]
    async fn create_user_hides_an_internal_error_behind_the_request_id() {
        let mut mocks = Mocks::anonymous();
        mocks
            .users
            .expect_register()
            .returning(|_| Err(internal_error()));
        let reply = mocks.send(registration(jake())).await;
        reply.assert_opaque_internal_error();
    }

    #[actix_web::test]
    async fn login_returns_the_user_with_a_token() {
        let mut mocks = Mocks::anonymous();
        mocks
            .users
            .expect_login()
            .withf(|login| login.email == "jake@jake.jake" && login.password == "jakejake")
            .times(1)
            .returning(|_| {
                Ok(SignedIn {
                    account: account(),
                    token: "jwt".to_owned(),
                })
            });
        let reply = mocks
            .send(
                TestRequest::post()
                    .uri("/api/users/login")
                    .set_json(json!({"user": {"email": "jake@jake.jake", "password": "jakejake"}})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["user"]["token"], "jwt");
        assert_eq!(reply.body["user"]["username"], "jake");
    }

    #[actix_web::test]
    async fn login_with_wrong_credentials_returns_401_asking_for_a_token() {
        let mut mocks = Mocks::anonymous();
        mocks
            .users
            .expect_login()
            .returning(|_| Err(AppError::InvalidCredentials));
        let reply = mocks
            .send(
                TestRequest::post()
                    .uri("/api/users/login")
                    .set_json(json!({"user": {"email": "jake@jake.jake", "password": "wrong"}})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.header("www-authenticate"), Some("Token"));
        assert_eq!(
            reply.body,
            json!({"errors": {"email or password": ["is invalid"]}})
        );
    }

    #[actix_web::test]
    async fn login_with_a_blank_password_returns_422_without_calling_the_use_case() {
        let mut mocks = Mocks::anonymous();
        mocks.users.expect_login().never();
        let reply = mocks
            .send(
                TestRequest::post()
                    .uri("/api/users/login")
                    .set_json(json!({"user": {"email": "jake@jake.jake", "password": ""}})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.assert_errors(&["password"]), "can't be blank");
    }

    #[actix_web::test]
    async fn get_current_user_echoes_the_presented_token() {
        let mut mocks = Mocks::signed_in();
        mocks
            .users
            .expect_current()
            .withf(|user| *user == CALLER)
            .times(1)
            .returning(|_| Ok(account()));
        let reply = mocks
            .send(with_token(TestRequest::get().uri("/api/user")))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(
            reply.body,
            json!({"user": {
                "bio": null,
                "email": "jake@jake.jake",
                "image": null,
                "token": TOKEN,
                "username": "jake",
                "emailVerified": false,
                "emailNotifications": true
            }})
        );
    }

    #[actix_web::test]
    async fn get_current_user_accepts_a_bearer_token() {
        let mut mocks = Mocks::signed_in();
        mocks.users.expect_current().returning(|_| Ok(account()));
        let reply = mocks
            .send(
                TestRequest::get()
                    .uri("/api/user")
                    .insert_header(("Authorization", format!("Bearer {TOKEN}"))),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }

    #[actix_web::test]
    async fn get_current_user_without_a_token_returns_401() {
        let mut mocks = Mocks::anonymous();
        mocks.users.expect_current().never();
        let reply = mocks.send(TestRequest::get().uri("/api/user")).await;
        reply.assert_unauthorized("is missing");
    }

    #[actix_web::test]
    async fn get_current_user_with_a_malformed_header_returns_401() {
        let mut mocks = Mocks::anonymous();
        mocks.users.expect_current().never();
        let reply = mocks
            .send(
                TestRequest::get()
                    .uri("/api/user")
                    .insert_header(("Authorization", "Basic amFrZTpqYWtl")),
            )
            .await;
        reply.assert_unauthorized(AuthFailure::MalformedHeader.message());
    }

    #[actix_web::test]
    async fn get_current_user_with_a_rejected_token_returns_401() {
        let mut mocks = Mocks::default();
        mocks
            .users
            .expect_authenticate()
            .times(1)
            .returning(|_| Err(AppError::Unauthorized(AuthFailure::ExpiredToken)));
        mocks.users.expect_current().never();
        let reply = mocks
            .send(with_token(TestRequest::get().uri("/api/user")))
            .await;
        reply.assert_unauthorized("has expired");
    }

    #[actix_web::test]
    async fn update_current_user_tells_a_null_bio_from_an_absent_one() {
        let mut mocks = Mocks::signed_in();
        mocks
            .users
            .expect_update()
            .withf(|user, update| {
                *user == CALLER
                    && update.bio == Some(None)
                    && update.image.is_none()
                    && update.email.as_deref() == Some("jake@new.example")
                    && update.username.is_none()
                    && update.password.is_none()
            })
            .times(1)
            .returning(|_, _| {
                let mut account = account();
                account.email = "jake@new.example".to_owned();
                Ok(AccountUpdated {
                    account,
                    new_token: None,
                })
            });
        let reply = mocks
            .send(with_token(TestRequest::put().uri("/api/user").set_json(
                json!({"user": {"email": "jake@new.example", "bio": null}}),
            )))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["user"]["email"], "jake@new.example");
        assert_eq!(reply.body["user"]["token"], TOKEN);
    }

    #[actix_web::test]
    async fn a_password_change_answers_with_the_fresh_token() {
        let mut mocks = Mocks::signed_in();
        mocks
            .users
            .expect_update()
            .withf(|_, update| update.password.as_deref() == Some("a new password"))
            .times(1)
            .returning(|_, _| {
                Ok(AccountUpdated {
                    account: account(),
                    new_token: Some("fresh-jwt".to_owned()),
                })
            });
        let reply = mocks
            .send(with_token(
                TestRequest::put()
                    .uri("/api/user")
                    .set_json(json!({"user": {"password": "a new password"}})),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["user"]["token"], "fresh-jwt");
    }

    #[actix_web::test]
    async fn logout_revokes_the_callers_tokens_and_answers_204() {
        let mut mocks = Mocks::signed_in();
        mocks
            .users
            .expect_logout()
            .withf(|user| *user == CALLER)
            .times(1)
            .returning(|_| Ok(()));
        let reply = mocks
            .send(with_token(TestRequest::post().uri("/api/users/logout")))
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
        assert!(reply.text.is_empty());
    }

    #[actix_web::test]
    async fn logout_without_a_token_returns_401() {
        let mut mocks = Mocks::anonymous();
        mocks.users.expect_logout().never();
        let reply = mocks
            .send(TestRequest::post().uri("/api/users/logout"))
            .await;
        reply.assert_unauthorized("is missing");
    }

    #[actix_web::test]
    async fn update_current_user_returns_422_for_an_invalid_image_without_calling_the_use_case() {
        let mut mocks = Mocks::signed_in();
        mocks.users.expect_update().never();
        let reply = mocks
            .send(with_token(TestRequest::put().uri("/api/user").set_json(
                json!({"user": {"image": "javascript:alert(1)", "username": "x"}}),
            )))
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        reply.assert_errors(&["image", "username"]);
    }

    #[actix_web::test]
    async fn update_current_user_passes_on_the_use_case_validation() {
        let mut mocks = Mocks::signed_in();
        mocks.users.expect_update().returning(|_, _| {
            Err(AppError::Validation(FieldErrors::single(
                "user",
                "must contain at least one field to change",
            )))
        });
        let reply = mocks
            .send(with_token(
                TestRequest::put()
                    .uri("/api/user")
                    .set_json(json!({"user": {}})),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            reply.body,
            json!({"errors": {"user": ["must contain at least one field to change"]}})
        );
    }

    #[actix_web::test]
    async fn update_current_user_without_a_token_returns_401() {
        let mut mocks = Mocks::anonymous();
        mocks.users.expect_update().never();
        let reply = mocks
            .send(
                TestRequest::put()
                    .uri("/api/user")
                    .set_json(json!({"user": {"bio": "hi"}})),
            )
            .await;
        reply.assert_unauthorized("is missing");
    }
}
