//! The one place where Diesel's errors are interpreted.

use conduit_application::error::{Cause, RepoError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Which field a unique constraint protects, from its name (PostgreSQL) or
/// from the message (SQLite names the column, not the constraint).
fn conflicting_field(info: &dyn diesel::result::DatabaseErrorInformation) -> Option<&'static str> {
    let text = info.constraint_name().unwrap_or_else(|| info.message());
    ["email", "username", "slug"]
        .into_iter()
        .find(|field| text.contains(field))
}

/// Whether an error means "another writer holds the lock; try again".
pub fn is_busy(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        DieselError::DatabaseError(_, info) => {
            let message = info.message();
            message.contains("database is locked") || message.contains("database table is locked")
        }
        _ => false,
    }
}

/// Translates a Diesel error into the repository contract.
pub(crate) fn repo_error(error: DieselError) -> RepoError {
    if is_busy(&error) {
        return RepoError::Busy;
    }
    match &error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            match conflicting_field(info.as_ref()) {
                Some(field) => RepoError::Conflict { field },
                None => RepoError::Other(Cause::from(format!("unique violation: {error}"))),
            }
        }
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
            RepoError::Unavailable(Cause::from(error))
        }
        _ => RepoError::Other(Cause::from(error)),
    }
}

/// `?`-friendly conversion of Diesel results inside repositories.
pub(crate) trait OrRepoError<T> {
    fn or_repo_error(self) -> Result<T, RepoError>;
}

impl<T> OrRepoError<T> for Result<T, DieselError> {
    fn or_repo_error(self) -> Result<T, RepoError> {
        self.map_err(repo_error)
    }
}
