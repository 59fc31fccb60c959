//! Request extractors: the JSON body (with RealWorld-shaped errors) and the
//! caller's identity.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::{Bytes, Data};
use actix_web::{FromRequest, HttpRequest};
use conduit_application::users::UserUseCases;
use conduit_application::{AuthFailure, FieldErrors};
use conduit_domain::UserId;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::WebState;
use crate::error::{ApiError, unauthorized};

/// A JSON body that was parsed and passed its `validator` rules.
///
/// Unlike `actix_web::web::Json`, every failure becomes a JSON error naming
/// the field: 415 without a JSON content type, 413 over the size limit, 400
/// for bytes that are not JSON, 422 for a missing field, a wrong type, a
/// `null` or a broken rule.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<T> ValidJson<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .is_some_and(|essence| {
            essence == "application/json"
                || (essence.starts_with("application/") && essence.ends_with("+json"))
        })
}

async fn read_body(mut payload: Payload, limit: usize) -> Result<Bytes, ApiError> {
    let mut body = actix_web::web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| match error {
            actix_web::error::PayloadError::Overflow => ApiError::PayloadTooLarge { limit },
            _ => ApiError::MalformedBody("could not be read".to_owned()),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The field a deserialization error is about: the last named segment of its path.
fn field_of(path: &serde_path_to_error::Path) -> Option<String> {
    path.iter().rev().find_map(|segment| match segment {
        serde_path_to_error::Segment::Map { key } => Some(key.clone()),
        _ => None,
    })
}

/// Turns a serde error into our own words: library messages never reach clients.
fn describe(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let inner = error.inner();
    if !inner.is_data() {
        return ApiError::MalformedBody(if inner.is_eof() {
            "is empty or incomplete JSON".to_owned()
        } else {
            "is not valid JSON".to_owned()
        });
    }
    let text = inner.to_string();
    if let Some(missing) = text
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        return ApiError::validation(FieldErrors::single(missing, "can't be blank"));
    }
    let field = field_of(error.path()).unwrap_or_else(|| "body".to_owned());
    let message = if text.starts_with("duplicate field") {
        "is given more than once".to_owned()
    } else if text.contains("invalid type: null") {
        "can't be null".to_owned()
    } else if let Some(expected) = text.split("expected ").nth(1) {
        let expected = expected.split(" at line").next().unwrap_or(expected);
        format!(
            "has the wrong type (expected {})",
            plain_expectation(expected)
        )
    } else {
        "is invalid".to_owned()
    };
    ApiError::validation(FieldErrors::single(field, message))
}

/// serde's expectation in JSON words ("a string", "an object", …).
fn plain_expectation(expected: &str) -> &'static str {
    if expected.contains("string") {
        "a string"
    } else if expected.contains("sequence") {
        "an array"
    } else if expected.contains("struct") || expected.contains("map") {
        "an object"
    } else if expected.contains("integer") || expected.contains("i64") || expected.contains("u64") {
        "an integer"
    } else if expected.contains("bool") {
        "a boolean"
    } else {
        "another type"
    }
}

/// The JSON name of a Rust field (`tag_list` → `tagList`): `validator`
/// reports Rust names, the contract uses camelCase.
fn camel_case(field: &str) -> String {
    let mut name = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            name.extend(c.to_uppercase());
            upper = false;
        } else {
            name.push(c);
        }
    }
    name
}

/// Flattens nested `validator` errors to leaf field names.
pub(crate) fn field_errors(errors: &ValidationErrors) -> FieldErrors {
    fn collect(errors: &ValidationErrors, into: &mut FieldErrors) {
        for (field, kind) in errors.errors() {
            match kind {
                ValidationErrorsKind::Field(list) => {
                    for error in list {
                        let message = error
                            .message
                            .clone()
                            .map_or_else(|| "is invalid".to_owned(), |m| m.into_owned());
                        into.add(camel_case(field), message);
                    }
                }
                ValidationErrorsKind::Struct(nested) => collect(nested, into),
                ValidationErrorsKind::List(items) => {
                    for nested in items.values() {
                        collect(nested, into);
                    }
                }
            }
        }
    }
    let mut fields = FieldErrors::new();
    collect(errors, &mut fields);
    fields
}

/// Parses and validates a JSON body.
///
/// # Errors
/// See [`ValidJson`].
pub fn parse_json<T: DeserializeOwned + Validate>(bytes: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(deserializer).map_err(describe)?;
    value
        .validate()
        .map_err(|errors| ApiError::validation(field_errors(&errors)))?;
    Ok(value)
}

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (limit, timeout) = req.app_data::<Data<WebState>>().map_or_else(
            || {
                let defaults = crate::HttpSettings::default();
                (defaults.json_limit, defaults.body_timeout)
            },
            |state| (state.settings.json_limit, state.settings.body_timeout),
        );
        let json = is_json(req);
        let payload = payload.take();
        Box::pin(async move {
            if !json {
                return Err(ApiError::UnsupportedMediaType);
            }
            // A client trickling its body may not hold the request forever.
            let bytes = tokio::time::timeout(timeout, read_body(payload, limit))
                .await
                .map_err(|_| ApiError::BodyTimeout)??;
            parse_json(&bytes).map(ValidJson)
        })
    }
}

/// The token of an `Authorization: Token <jwt>` (or `Bearer <jwt>`) header.
fn bearer_token(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| unauthorized(AuthFailure::MalformedHeader))?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or_else(|| unauthorized(AuthFailure::MalformedHeader))?;
    let token = token.trim();
    if !(scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer"))
        || token.is_empty()
    {
        return Err(unauthorized(AuthFailure::MalformedHeader));
    }
    Ok(Some(token.to_owned()))
}

async fn authenticate(req: HttpRequest, token: String) -> Result<UserId, ApiError> {
    let users = req
        .app_data::<Data<dyn UserUseCases>>()
        .cloned()
        .ok_or_else(|| ApiError::App(not_registered("UserUseCases")))?;
    Ok(users.authenticate(&token).await?)
}

fn not_registered(what: &str) -> conduit_application::AppError {
    conduit_application::AppError::Internal(format!("{what} is not registered").into())
}

/// The authenticated caller; requests without a valid token get 401.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: UserId,
    /// The token as presented, echoed back in user responses.
    pub token: String,
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let token =
                bearer_token(&req)?.ok_or_else(|| unauthorized(AuthFailure::MissingToken))?;
            let id = authenticate(req, token.clone()).await?;
            Ok(Self { id, token })
        })
    }
}

/// The caller if a token was sent. No header means anonymous; a header with
/// a bad token still gets 401, so a client learns that its token expired.
#[derive(Debug, Clone)]
pub struct MaybeAuthUser(pub Option<UserId>);

impl FromRequest for MaybeAuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match bearer_token(&req)? {
                Some(token) => Ok(Self(Some(authenticate(req, token).await?))),
                None => Ok(Self(None)),
            }
        })
    }
}
