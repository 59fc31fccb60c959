//! The account lifecycle beyond the RealWorld contract: email verification,
//! password reset and unsubscribing from notification emails.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::web::{Data, Query};
use actix_web::{HttpRequest, HttpResponse, web};
use conduit_application::accounts::AccountUseCases;
use conduit_application::{AppError, FieldErrors};
use validator::Validate;

use crate::WebState;
use crate::dto::{
    PasswordResetAccepted, PasswordResetConfirmRequest, PasswordResetRequest, UnsubscribeQuery,
    UnsubscribeResponse, UserResponse, VerifyEmailRequest,
};
use crate::error::{
    ApiError, BadRequest, InternalError, PayloadTooLarge, RequestTimeout, TooManyRequests,
    Unauthorized, Unavailable, Unprocessable, UnsupportedMediaType,
};
use crate::extract::{AuthUser, ValidJson, field_errors};
use crate::handlers::users::refused;

/// Verify the email address with the token from a verification email.
/// Answers the user, signed in. Not part of the RealWorld API.
#[utoipa::path(
    post,
    path = "/api/users/verify-email",
    operation_id = "VerifyEmail",
    tag = "Account lifecycle",
    request_body = VerifyEmailRequest,
    responses(
        (status = 200, description = "The address is verified; the user, signed in", body = UserResponse),
        BadRequest, RequestTimeout, PayloadTooLarge, UnsupportedMediaType,
        (status = 422, description = "A wrong, used or expired token", body = crate::error::GenericErrorModel,
            example = json!({"errors": {"token": ["is invalid or expired"]}})),
        InternalError, Unavailable
    )
)]
pub async fn verify_email(
    accounts: Data<dyn AccountUseCases>,
    body: ValidJson<VerifyEmailRequest>,
) -> Result<web::Json<UserResponse>, ApiError> {
    let signed_in = accounts.verify_email(body.into_inner().token).await?;
    Ok(web::Json(UserResponse::from(signed_in)))
}

/// Send a new verification email to the caller's address. Not part of the
/// RealWorld API.
#[utoipa::path(
    post,
    path = "/api/users/verify-email/resend",
    operation_id = "ResendVerificationEmail",
    tag = "Account lifecycle",
    security(("Token" = [])),
    responses(
        (status = 202, description = "A verification email is on its way"),
        Unauthorized,
        (status = 422, description = "The address is verified already", body = crate::error::GenericErrorModel,
            example = json!({"errors": {"email": ["is already verified"]}})),
        InternalError, Unavailable
    )
)]
pub async fn resend_verification(
    accounts: Data<dyn AccountUseCases>,
    caller: AuthUser,
) -> Result<HttpResponse, ApiError> {
    accounts.resend_verification(caller.id).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Ask for a password reset email. Always 202 with the same body, whether
/// or not an account has this address; limited like log-in. Not part of the
/// RealWorld API.
#[utoipa::path(
    post,
    path = "/api/users/password-reset",
    operation_id = "RequestPasswordReset",
    tag = "Account lifecycle",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "If an account has this address, a reset email is on its way", body = PasswordResetAccepted),
        BadRequest, RequestTimeout, PayloadTooLarge, UnsupportedMediaType, Unprocessable, TooManyRequests,
        InternalError, Unavailable
    )
)]
pub async fn request_password_reset(
    req: HttpRequest,
    state: Data<WebState>,
    accounts: Data<dyn AccountUseCases>,
    body: ValidJson<PasswordResetRequest>,
) -> Result<HttpResponse, ApiError> {
    let email = body.into_inner().user.email;
    state
        .limits
        .password_reset(state.limits.client_ip(&req), Some(&email))
        .map_err(|limited| refused(&state, limited))?;
    accounts.request_password_reset(email).await?;
    Ok(HttpResponse::Accepted().json(PasswordResetAccepted::ANSWER))
}

/// Set a new password with the token from a reset email. Every token issued
/// before answers 401 from then on; the answer carries a fresh one. Not
/// part of the RealWorld API.
#[utoipa::path(
    post,
    path = "/api/users/password-reset/confirm",
    operation_id = "ConfirmPasswordReset",
    tag = "Account lifecycle",
    request_body = PasswordResetConfirmRequest,
    responses(
        (status = 200, description = "The new password is set; the user, signed in", body = UserResponse),
        BadRequest, RequestTimeout, PayloadTooLarge, UnsupportedMediaType,
        (status = 422, description = "A wrong, used or expired token, or a password that breaks the rules", body = crate::error::GenericErrorModel,
            example = json!({"errors": {"token": ["is invalid or expired"]}})),
        TooManyRequests, InternalError, Unavailable
    )
)]
pub async fn confirm_password_reset(
    req: HttpRequest,
    state: Data<WebState>,
    accounts: Data<dyn AccountUseCases>,
    body: ValidJson<PasswordResetConfirmRequest>,
) -> Result<web::Json<UserResponse>, ApiError> {
    state
        .limits
        .password_reset(state.limits.client_ip(&req), None)
        .map_err(|limited| refused(&state, limited))?;
    let body = body.into_inner();
    let signed_in = accounts.reset_password(body.token, body.password).await?;
    Ok(web::Json(UserResponse::from(signed_in)))
}

/// Whether the client asked for a page rather than JSON (a browser that
/// followed the link or sent the page's form).
fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(ContentType::html())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title}</title></head>\
             <body style=\"font-family:Helvetica,Arial,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#373a3c\">\
             <h1 style=\"color:#5cb85c\">conduit</h1>{body}</body></html>"
        ))
}

fn checked(query: &UnsubscribeQuery) -> Result<(), ApiError> {
    query
        .validate()
        .map_err(|errors| ApiError::App(AppError::Validation(field_errors(&errors))))
}

/// The page behind an unsubscribe link: one button that unsubscribes.
/// Following the link changes nothing by itself, because mail scanners
/// open links before people do. Not part of the RealWorld API.
#[utoipa::path(
    get,
    path = "/api/users/unsubscribe",
    operation_id = "UnsubscribePage",
    tag = "Account lifecycle",
    params(UnsubscribeQuery),
    responses(
        (status = 200, description = "An HTML page whose button sends the POST", content_type = "text/html", body = String),
        Unprocessable
    )
)]
pub async fn unsubscribe_page(query: Query<UnsubscribeQuery>) -> Result<HttpResponse, ApiError> {
    checked(&query)?;
    // The token is URL-safe (checked above): it needs no escaping.
    let form = format!(
        "<p>Stop notification emails (new comments on your articles, new articles by \
         authors you follow)?</p>\
         <form method=\"post\" action=\"/api/users/unsubscribe?token={}\">\
         <button type=\"submit\" style=\"background:#5cb85c;color:#fff;border:0;border-radius:4px;\
         padding:.75rem 1.5rem;font-size:1rem;cursor:pointer\">Unsubscribe</button></form>\
         <p style=\"color:#818a91\">You can turn them back on in your settings.</p>",
        query.token
    );
    Ok(page(StatusCode::OK, "Unsubscribe", &form))
}

/// Turn notification emails off without signing in: RFC 8058 one-click
/// unsubscribe (mail clients send `List-Unsubscribe=One-Click` as a form),
/// or the button of the unsubscribe page. Not part of the RealWorld API.
#[utoipa::path(
    post,
    path = "/api/users/unsubscribe",
    operation_id = "Unsubscribe",
    tag = "Account lifecycle",
    params(UnsubscribeQuery),
    responses(
        (status = 200, description = "Notification emails are off (an HTML page when the client accepts one)", body = UnsubscribeResponse),
        (status = 422, description = "A wrong, used or expired token", body = crate::error::GenericErrorModel,
            example = json!({"errors": {"token": ["is invalid or expired"]}})),
        InternalError, Unavailable
    )
)]
pub async fn unsubscribe(
    req: HttpRequest,
    accounts: Data<dyn AccountUseCases>,
    query: Query<UnsubscribeQuery>,
) -> Result<HttpResponse, ApiError> {
    let html = wants_html(&req);
    let done = match checked(&query) {
        Ok(()) => accounts.unsubscribe(query.into_inner().token).await,
        Err(error) => return Err(error),
    };
    match done {
        Ok(()) if html => Ok(page(
            StatusCode::OK,
            "Unsubscribed",
            "<p>Done: you will get no more notification emails.</p>",
        )),
        Ok(()) => Ok(HttpResponse::Ok().json(UnsubscribeResponse {
            email_notifications: false,
        })),
        Err(AppError::Validation(errors))
            if html && errors == FieldErrors::single("token", "is invalid or expired") =>
        {
            Ok(page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Link expired",
                "<p>This link is invalid, used or expired. Notification emails can be turned \
                 off in your settings.</p>",
            ))
        }
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::test::TestRequest;
    use conduit_application::users::SignedIn;
    use conduit_application::{AppError, FieldErrors};
    use serde_json::json;

    use crate::test_support::{CALLER, Mocks, account, with_token};

    fn invalid_token() -> AppError {
        AppError::Validation(FieldErrors::single("token", "is invalid or expired"))
    }

    #[actix_web::test]
    async fn a_verified_address_answers_the_user_signed_in_with_its_new_fields() {
        let mut mocks = Mocks::anonymous();
        mocks
            .accounts
            .expect_verify_email()
            .withf(|token| token == "abc-DEF_123")
            .times(1)
            .returning(|_| {
                let mut jake = account();
                jake.email_verified = true;
                Ok(SignedIn {
                    account: jake,
                    token: "fresh".to_owned(),
                })
            });
        let reply = mocks
            .send(
                TestRequest::post()
                    .uri("/api/users/verify-email")
                    .set_json(json!({"token": "abc-DEF_123"})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["user"]["token"], "fresh");
        assert_eq!(reply.body["user"]["emailVerified"], true);
        assert_eq!(reply.body["user"]["emailNotifications"], true);
    }

    #[actix_web::test]
    async fn a_malformed_token_gets_the_invalid_token_422_without_reaching_the_use_case() {
        for token in [json!(""), json!("has spaces"), json!("x".repeat(129))] {
            let mut mocks = Mocks::anonymous();
            mocks.accounts.expect_verify_email().never();
            let reply = mocks
                .send(
                    TestRequest::post()
                        .uri("/api/users/verify-email")
                        .set_json(json!({ "token": token })),
                )
                .await;
            assert_eq!(
                reply.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}",
                reply.text
            );
            assert_eq!(
                reply.body,
                json!({"errors": {"token": ["is invalid or expired"]}})
            );
        }
    }

    #[actix_web::test]
    async fn a_reset_request_is_202_with_one_body_for_every_address() {
        let mut bodies = Vec::new();
        for email in ["jake@jake.jake", "nobody@example.com"] {
            let mut mocks = Mocks::anonymous();
            mocks
                .accounts
                .expect_request_password_reset()
                .withf(move |given| given == email)
                .times(1)
                .returning(|_| Ok(()));
            let reply = mocks
                .send(
                    TestRequest::post()
                        .uri("/api/users/password-reset")
                        .set_json(json!({"user": {"email": email}})),
                )
                .await;
            assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
            bodies.push(reply.text);
        }
        assert_eq!(bodies[0], bodies[1]);
    }

    #[actix_web::test]
    async fn a_reset_confirmation_checks_the_password_rules_first() {
        let mut mocks = Mocks::anonymous();
        mocks.accounts.expect_reset_password().never();
        let reply = mocks
            .send(
                TestRequest::post()
                    .uri("/api/users/password-reset/confirm")
                    .set_json(json!({"token": "abc", "password": "short"})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            reply.body["errors"]["password"].is_array(),
            "{}",
            reply.text
        );
    }

    #[actix_web::test]
    async fn resending_needs_a_token() {
        let mut mocks = Mocks::anonymous();
        mocks.accounts.expect_resend_verification().never();
        let reply = mocks
            .send(TestRequest::post().uri("/api/users/verify-email/resend"))
            .await;
        reply.assert_unauthorized("is missing");

        let mut mocks = Mocks::signed_in();
        mocks
            .accounts
            .expect_resend_verification()
            .withf(|user| *user == CALLER)
            .times(1)
            .returning(|_| Ok(()));
        let reply = mocks
            .send(with_token(
                TestRequest::post().uri("/api/users/verify-email/resend"),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    }

    #[actix_web::test]
    async fn the_unsubscribe_link_opens_a_page_that_changes_nothing_until_its_button_posts() {
        let mut mocks = Mocks::anonymous();
        mocks.accounts.expect_unsubscribe().never();
        let reply = mocks
            .send(TestRequest::get().uri("/api/users/unsubscribe?token=abc_123"))
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(
            reply
                .text
                .contains("<form method=\"post\" action=\"/api/users/unsubscribe?token=abc_123\">"),
            "{}",
            reply.text
        );
        let csp = reply
            .headers
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(csp.contains("form-action 'self'"), "{csp}");
        assert!(csp.contains("default-src 'none'"), "{csp}");
    }

    #[actix_web::test]
    async fn a_one_click_post_unsubscribes_as_json_or_as_a_page() {
        for (accept, html) in [("application/json", false), ("text/html,*/*", true)] {
            let mut mocks = Mocks::anonymous();
            mocks
                .accounts
                .expect_unsubscribe()
                .withf(|token| token == "abc_123")
                .times(1)
                .returning(|_| Ok(()));
            let reply = mocks
                .send(
                    TestRequest::post()
                        .uri("/api/users/unsubscribe?token=abc_123")
                        .insert_header(("accept", accept))
                        .insert_header(("content-type", "application/x-www-form-urlencoded"))
                        .set_payload("List-Unsubscribe=One-Click"),
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            if html {
                assert!(reply.text.contains("no more notification emails"));
            } else {
                assert_eq!(reply.body, json!({"emailNotifications": false}));
            }
        }
    }

    #[actix_web::test]
    async fn an_expired_unsubscribe_link_is_422_as_json_or_as_a_page() {
        for (accept, html) in [("application/json", false), ("text/html", true)] {
            let mut mocks = Mocks::anonymous();
            mocks
                .accounts
                .expect_unsubscribe()
                .returning(|_| Err(invalid_token()));
            let reply = mocks
                .send(
                    TestRequest::post()
                        .uri("/api/users/unsubscribe?token=old")
                        .insert_header(("accept", accept)),
                )
                .await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
            if html {
                assert!(
                    reply.text.contains("invalid, used or expired"),
                    "{}",
                    reply.text
                );
            } else {
                assert_eq!(
                    reply.body,
                    json!({"errors": {"token": ["is invalid or expired"]}})
                );
            }
        }
    }

    #[actix_web::test]
    async fn an_unsubscribe_link_without_a_token_is_422() {
        let mut mocks = Mocks::anonymous();
        mocks.accounts.expect_unsubscribe().never();
        let reply = mocks
            .send(TestRequest::post().uri("/api/users/unsubscribe"))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.text
        );
    }
}
