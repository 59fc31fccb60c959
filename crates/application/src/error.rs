//! The error every use case returns, and the error every repository returns.

use std::collections::BTreeMap;

use conduit_domain::InvalidValue;

/// What went wrong underneath a failure the client is only told the kind of;
/// kept for the logs.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Messages per field, in the RealWorld shape `{"field": ["message"]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_default().push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Vec<String>)> {
        self.0.iter()
    }

    /// Runs a parser and records its error under `field`, so that a use case
    /// can report every invalid field at once.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, InvalidValue>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(error) => {
                self.add(field, error.message);
                None
            }
        }
    }

    /// `Ok(())` when no error was recorded.
    ///
    /// # Errors
    /// `AppError::Validation` with every recorded message.
    pub fn into_result(self) -> Result<(), AppError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(self))
        }
    }
}

/// Why a request could not be authenticated. Logged, and told to the client
/// only in general terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    MissingToken,
    MalformedHeader,
    InvalidToken,
    ExpiredToken,
    UnknownUser,
    /// Issued before the user changed their password or logged out.
    RevokedToken,
}

impl AuthFailure {
    pub fn message(self) -> &'static str {
        match self {
            Self::MissingToken => "is missing",
            Self::MalformedHeader => "must be sent as 'Token <jwt>' or 'Bearer <jwt>'",
            Self::InvalidToken => "is invalid",
            Self::ExpiredToken => "has expired",
            Self::UnknownUser => "belongs to no user",
            Self::RevokedToken => "has been revoked",
        }
    }
}

/// Everything a use case can fail with. The HTTP layer maps each variant to
/// one status code in exactly one place.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Input that breaks a rule (422).
    #[error("validation failed: {0:?}")]
    Validation(FieldErrors),
    /// A unique value (email, username, slug) is already in use (422).
    #[error("{0} has already been taken")]
    Conflict(&'static str),
    /// No valid credentials were presented (401).
    #[error("unauthorized: {0:?}")]
    Unauthorized(AuthFailure),
    /// Log-in with an unknown email or a wrong password: one answer for both (401).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// The caller may not act on the named resource (403).
    #[error("forbidden to change this {0}")]
    Forbidden(&'static str),
    /// The named resource does not exist (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The database stayed busy after retries (503).
    #[error("database busy")]
    Busy,
    /// A dependency is unreachable (503).
    #[error("service unavailable")]
    Unavailable(#[source] Cause),
    /// A bug or an unexpected failure (500). The cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(#[source] Cause),
}

impl AppError {
    pub fn validation(field: &str, error: InvalidValue) -> Self {
        Self::Validation(FieldErrors::single(field, error.message))
    }
}

/// What a repository can fail with, whatever the database behind it.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// A unique constraint on the named field was violated.
    #[error("{field} is already taken")]
    Conflict { field: &'static str },
    /// The database is locked by another writer (SQLite) or a serialization
    /// conflict occurred; the unit of work may be retried.
    #[error("database busy")]
    Busy,
    /// No connection could be obtained in time.
    #[error("database unavailable")]
    Unavailable(#[source] Cause),
    #[error("database error: {0}")]
    Other(#[source] Cause),
}

impl From<RepoError> for AppError {
    fn from(error: RepoError) -> Self {
        match error {
            RepoError::Conflict { field } => Self::Conflict(field),
            RepoError::Busy => Self::Busy,
            RepoError::Unavailable(cause) => Self::Unavailable(cause),
            RepoError::Other(cause) => Self::Internal(cause),
        }
    }
}
