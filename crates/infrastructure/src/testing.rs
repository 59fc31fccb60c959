//! Throwaway databases for tests, on the backend the environment selects:
//!
//! - default: a SQLite file in a temporary directory;
//! - `CONDUIT_TEST_BACKEND=postgres`: a new database on the server named by
//!   `CONDUIT_TEST_POSTGRES_URL` (for example
//!   `postgres://postgres@127.0.0.1:5432/test`), dropped again afterwards.

#![expect(
    clippy::expect_used,
    reason = "test support: failing loudly is the point"
)]

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::db::BackendKind;

/// The backend tests run against.
///
/// # Panics
/// When `CONDUIT_TEST_BACKEND` names an unknown backend, or is `postgres`
/// without `CONDUIT_TEST_POSTGRES_URL`: a test run must never silently fall
/// back to another database.
pub fn backend() -> BackendKind {
    match std::env::var("CONDUIT_TEST_BACKEND").as_deref() {
        Err(_) | Ok("" | "sqlite") => BackendKind::Sqlite,
        Ok("postgres") => {
            assert!(
                std::env::var("CONDUIT_TEST_POSTGRES_URL").is_ok(),
                "CONDUIT_TEST_BACKEND=postgres needs CONDUIT_TEST_POSTGRES_URL"
            );
            BackendKind::Postgres
        }
        Ok(other) => panic!("unknown CONDUIT_TEST_BACKEND {other:?}"),
    }
}

/// A database that exists for the lifetime of this value.
pub struct TestDatabase {
    url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// # Panics
    /// When the database cannot be created: tests cannot run without one.
    pub fn new() -> Self {
        match backend() {
            BackendKind::Sqlite => {
                let dir = tempfile::tempdir().expect("creating a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("conduit.db").display());
                Self {
                    url,
                    _dir: Some(dir),
                    postgres: None,
                }
            }
            BackendKind::Postgres => {
                let admin = std::env::var("CONDUIT_TEST_POSTGRES_URL")
                    .expect("CONDUIT_TEST_POSTGRES_URL is set");
                let name = format!("conduit_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(&admin)
                    .unwrap_or_else(|error| panic!("connecting to {admin}: {error}"));
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .unwrap_or_else(|error| panic!("creating database {name}: {error}"));
                let base = admin
                    .rsplit_once('/')
                    .map_or(admin.as_str(), |(base, _)| base);
                Self {
                    url: format!("{base}/{name}"),
                    _dir: None,
                    postgres: Some((admin, name)),
                }
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Default for TestDatabase {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.postgres {
            if let Ok(mut conn) = PgConnection::establish(admin) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}
