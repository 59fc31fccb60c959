//! The one place where Diesel's errors are interpreted.

use conduit_application::error::{Cause, RepoError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// The unique constraints that protect a field clients choose: PostgreSQL's
/// constraint name, SQLite's `table.column` (SQLite reports the column, not
/// the constraint), and the field to report.
const UNIQUE_FIELDS: [(&str, &str, &str); 3] = [
    ("users_email_key_unique", "users.email_key", "email"),
    (
        "users_username_key_unique",
        "users.username_key",
        "username",
    ),
    ("articles_slug_unique", "articles.slug", "slug"),
];

/// Which field a unique constraint protects, matched exactly by name
/// (PostgreSQL) or by the column SQLite names in "UNIQUE constraint failed:
/// table.column".
fn conflicting_field(info: &dyn diesel::result::DatabaseErrorInformation) -> Option<&'static str> {
    match info.constraint_name() {
        Some(name) => UNIQUE_FIELDS
            .iter()
            .find(|(constraint, _, _)| *constraint == name)
            .map(|(_, _, field)| *field),
        None => {
            let columns = info.message().strip_prefix("UNIQUE constraint failed: ")?;
            // A composite key lists several columns; ours are single ones.
            UNIQUE_FIELDS
                .iter()
                .find(|(_, column, _)| *column == columns)
                .map(|(_, _, field)| *field)
        }
    }
}

/// Whether an error means "another transaction got in the way; run the
/// unit of work again": SQLite's lock, PostgreSQL's serialization failure
/// (40001), deadlock (40P01) and lock timeout (55P03). Diesel reports
/// PostgreSQL's code only for the first, so the others are known by their
/// message.
pub fn is_busy(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        DieselError::DatabaseError(_, info) => {
            let message = info.message();
            message.contains("database is locked")
                || message.contains("database table is locked")
                || message.starts_with("deadlock detected")
                || message.starts_with("canceling statement due to lock timeout")
                || message.starts_with("could not obtain lock on")
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

#[cfg(test)]
mod tests {
    use super::*;

    struct Info {
        message: &'static str,
        constraint: Option<&'static str>,
    }

    impl diesel::result::DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.message
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            self.constraint
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn unique(message: &'static str, constraint: Option<&'static str>) -> RepoError {
        repo_error(DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new(Info {
                message,
                constraint,
            }),
        ))
    }

    #[test]
    fn unique_violations_name_their_field_by_exact_constraint_or_column() {
        let field = |error| match error {
            RepoError::Conflict { field } => Some(field),
            _ => None,
        };
        assert_eq!(
            field(unique("duplicate key", Some("users_email_key_unique"))),
            Some("email")
        );
        assert_eq!(
            field(unique("duplicate key", Some("articles_slug_unique"))),
            Some("slug")
        );
        assert_eq!(
            field(unique("UNIQUE constraint failed: users.username_key", None)),
            Some("username")
        );
        // Names that merely contain a field's name are other constraints.
        assert_eq!(
            field(unique("duplicate key", Some("jobs_email_slug_idx"))),
            None
        );
        assert_eq!(
            field(unique(
                "UNIQUE constraint failed: job_schedules.slug_email",
                None
            )),
            None
        );
        assert_eq!(
            field(unique("UNIQUE constraint failed: events.id", None)),
            None
        );
    }

    #[test]
    fn deadlocks_and_lock_timeouts_are_worth_a_retry() {
        for message in [
            "deadlock detected",
            "canceling statement due to lock timeout",
            "could not obtain lock on row in relation \"jobs\"",
            "database is locked",
        ] {
            let error = DieselError::DatabaseError(
                DatabaseErrorKind::Unknown,
                Box::new(Info {
                    message,
                    constraint: None,
                }),
            );
            assert!(is_busy(&error), "{message}");
        }
        let other = DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new(Info {
                message: "canceling statement due to statement timeout",
                constraint: None,
            }),
        );
        assert!(!is_busy(&other), "a slow statement is not contention");
    }
}
