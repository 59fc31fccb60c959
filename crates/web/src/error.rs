//! The one place where errors become HTTP responses, all in the RealWorld
//! shape `{"errors": {"field": ["message"]}}`.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use conduit_application::{AppError, AuthFailure, FieldErrors};
use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};

/// Every error body: messages per field (or per topic such as `token`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"errors": {"email": ["has already been taken"]}}))]
pub struct GenericErrorModel {
    pub errors: BTreeMap<String, Vec<String>>,
}

impl GenericErrorModel {
    pub fn single(field: &str, message: impl Into<String>) -> Self {
        Self {
            errors: BTreeMap::from([(field.to_owned(), vec![message.into()])]),
        }
    }

    pub fn from_fields(fields: &FieldErrors) -> Self {
        Self {
            errors: fields
                .iter()
                .map(|(field, messages)| (field.clone(), messages.clone()))
                .collect(),
        }
    }
}

/// An error on its way to the client.
#[derive(Debug)]
pub enum ApiError {
    App(AppError),
    /// The body is not JSON at all (400).
    MalformedBody(String),
    /// The body is not `application/json` (415).
    UnsupportedMediaType,
    /// The body exceeds the configured limit (413).
    PayloadTooLarge {
        limit: usize,
    },
    /// The body did not arrive in time (408).
    BodyTimeout,
    /// Too many attempts; the next one may pass after `retry_after` (429).
    TooManyRequests {
        retry_after: std::time::Duration,
    },
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        Self::App(error)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::App(error) => write!(f, "{error}"),
            Self::MalformedBody(reason) => write!(f, "malformed body: {reason}"),
            Self::UnsupportedMediaType => f.write_str("unsupported media type"),
            Self::PayloadTooLarge { limit } => write!(f, "payload larger than {limit} bytes"),
            Self::BodyTimeout => f.write_str("request body timed out"),
            Self::TooManyRequests { retry_after } => {
                write!(f, "too many requests, retry after {retry_after:?}")
            }
        }
    }
}

impl ApiError {
    pub fn validation(errors: FieldErrors) -> Self {
        Self::App(AppError::Validation(errors))
    }

    fn body(&self) -> GenericErrorModel {
        match self {
            Self::App(error) => match error {
                AppError::Validation(fields) => GenericErrorModel::from_fields(fields),
                AppError::Conflict(field) => {
                    GenericErrorModel::single(field, "has already been taken")
                }
                AppError::Unauthorized(failure) => {
                    GenericErrorModel::single("token", failure.message())
                }
                AppError::InvalidCredentials => {
                    GenericErrorModel::single("email or password", "is invalid")
                }
                AppError::Forbidden(resource) => {
                    GenericErrorModel::single(resource, "can only be changed by its author")
                }
                AppError::NotFound(resource) => GenericErrorModel::single(resource, "not found"),
                AppError::Busy => GenericErrorModel::single("database", "is busy, try again"),
                AppError::Unavailable(_) => {
                    GenericErrorModel::single("service", "is temporarily unavailable, try again")
                }
                // The cause is logged by the request middleware, which also
                // adds the request id to the body.
                AppError::Internal(_) => GenericErrorModel::single("server", "internal error"),
            },
            Self::MalformedBody(reason) => GenericErrorModel::single("body", reason.clone()),
            Self::UnsupportedMediaType => GenericErrorModel::single(
                "body",
                "must be sent with Content-Type: application/json",
            ),
            Self::PayloadTooLarge { limit } => GenericErrorModel::single(
                "body",
                format!("is too large (maximum is {limit} bytes)"),
            ),
            Self::BodyTimeout => GenericErrorModel::single("body", "did not arrive in time"),
            Self::TooManyRequests { .. } => GenericErrorModel::single(
                "request",
                format!(
                    "too many attempts, retry in {} seconds",
                    retry_seconds(self)
                ),
            ),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::App(error) => match error {
                AppError::Validation(_) | AppError::Conflict(_) => StatusCode::UNPROCESSABLE_ENTITY,
                AppError::Unauthorized(_) | AppError::InvalidCredentials => {
                    StatusCode::UNAUTHORIZED
                }
                AppError::Forbidden(_) => StatusCode::FORBIDDEN,
                AppError::NotFound(_) => StatusCode::NOT_FOUND,
                AppError::Busy | AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Self::MalformedBody(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        match self {
            Self::App(AppError::Unauthorized(_) | AppError::InvalidCredentials) => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Token")));
            }
            Self::App(AppError::Busy | AppError::Unavailable(_)) => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            Self::TooManyRequests { .. } => {
                response.insert_header((header::RETRY_AFTER, retry_seconds(self)));
            }
            _ => {}
        }
        if let Self::App(AppError::Internal(cause) | AppError::Unavailable(cause)) = self {
            // Logged once here with its whole chain; the client sees none of it.
            let top: &(dyn std::error::Error + 'static) = &**cause;
            let chain: Vec<String> = std::iter::successors(Some(top), |error| error.source())
                .map(ToString::to_string)
                .collect();
            tracing::error!(error = chain.join(": "), "request failed");
        }
        if let Self::App(AppError::Unauthorized(failure)) = self {
            tracing::debug!(?failure, "authentication failed");
        }
        response.json(self.body())
    }
}

/// Whole seconds to wait before retrying, rounded up, at least 1.
fn retry_seconds(error: &ApiError) -> u64 {
    match error {
        ApiError::TooManyRequests { retry_after } => {
            let whole = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            whole.max(1)
        }
        _ => 1,
    }
}

/// A missing-token failure, for extractors.
pub fn unauthorized(failure: AuthFailure) -> ApiError {
    ApiError::App(AppError::Unauthorized(failure))
}

/// The `If-None-Match` request header names the current `ETag`: the
/// representation did not change, so no body is sent.
#[derive(IntoResponses)]
#[response(
    status = 304,
    headers(("ETag" = String, description = "The representation's tag"))
)]
pub struct NotModified;

/// The body is not valid JSON.
#[derive(IntoResponses)]
#[response(status = 400, example = json!({"errors": {"body": ["is not valid JSON"]}}))]
pub struct BadRequest(
    #[expect(dead_code, reason = "documents the response body only")] GenericErrorModel,
);

/// Missing, malformed, invalid or expired token, or a token of a deleted user.
#[derive(IntoResponses)]
#[response(
    status = 401,
    headers(("WWW-Authenticate" = String, description = "Always `Token`")),
    example = json!({"errors": {"token": ["is missing"]}})
)]
pub struct Unauthorized(
    #[expect(dead_code, reason = "documents the response body only")] GenericErrorModel,
);

/// The caller is not the author of the resource.
#[derive(IntoResponses)]
#[response(status = 403, example = json!({"errors": {"article": ["can only be changed by its author"]}}))]
pub struct Forbidden(
    #[expect(dead_code, reason = "documents the response body only")] GenericErrorModel,
);

/// The resource does not exist.
#[derive(IntoResponses)]
#[response(status = 404, example = json!({"errors": {"article": ["not found"]}}))]
pub struct NotFound(
    #[expect(dead_code, reason = "documents the response body only")] GenericErrorModel,
);

/// The body exceeds the size limit.
#[derive(IntoResponses)]
#[response(status = 413, example = json!({"errors": {"body": ["is too large (maximum is 1048576 bytes)"]}}))]
pub struct PayloadTooLarge(
    #[expect(dead_code, reason = "documents the response body only")] GenericErrorModel,
);

/// The body was not sent as `application/json`.
#[derive(IntoResponses)]
#[response(status = 415, example = json!({"errors": {"body": ["must be sent with Content-Type: application/json"]}}))]
pub struct UnsupportedMediaType(
    #[expect(dead_code, reason = "documents the response body only")] GenericErrorModel,
);

/// The body did not arrive within the request timeout.
#[derive(IntoResponses)]
#[response(status = 408, example = json!({"errors": {"body": ["did not arrive in time"]}}))]
pub struct RequestTimeout(
    #[expect(dead_code, reason = "documents the response body only")] GenericErrorModel,
);

/// Too many attempts from this address or for this account.
#[derive(IntoResponses)]
#[response(
    status = 429,
    headers(("Retry-After" = String, description = "Seconds until the next attempt may pass")),
    example = json!({"errors": {"request": ["too many attempts, retry in 6 seconds"]}})
)]
pub struct TooManyRequests(
    #[expect(dead_code, reason = "documents the response body only")] GenericErrorModel,
);

/// A field is missing, of the wrong type, or breaks a rule; or a unique value is taken.
#[derive(IntoResponses)]
#[response(status = 422, example = json!({"errors": {"email": ["has already been taken"]}}))]
pub struct Unprocessable(
    #[expect(dead_code, reason = "documents the response body only")] GenericErrorModel,
);

/// An unexpected failure; the body carries the request id to quote.
#[derive(IntoResponses)]
#[response(status = 500, example = json!({"errors": {"server": ["internal error (request id 1b4e28ba-2fa1-4d3b-9c5a-6b1f2e1d0c9a)"]}}))]
pub struct InternalError(
    #[expect(dead_code, reason = "documents the response body only")] GenericErrorModel,
);

/// The database is busy or unreachable; retry after the given delay.
#[derive(IntoResponses)]
#[response(
    status = 503,
    headers(("Retry-After" = String, description = "Seconds to wait")),
    example = json!({"errors": {"database": ["is busy, try again"]}})
)]
pub struct Unavailable(
    #[expect(dead_code, reason = "documents the response body only")] GenericErrorModel,
);
