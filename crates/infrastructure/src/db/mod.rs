//! Persistence with Diesel on SQLite (the zero-setup default) or PostgreSQL,
//! chosen at start by the database URL.
//!
//! Both backends go through one `DbConnection` enum, so every repository is
//! written once. The few statements whose SQL must differ (upserts, batch
//! inserts) use [`per_backend!`], which repeats one query builder expression
//! for each concrete connection.

mod announcer;
mod errors;
mod listener;
mod pool;
mod repos;
mod rows;
pub mod schema;
mod sqlite_writer;
mod unit_of_work;

use diesel::prelude::*;

use crate::error::InfrastructureError;

pub use errors::is_busy;
pub use listener::EventListener;
pub use pool::{BackendKind, DbSettings, DbTarget, PoolStatus, default_instance_name};
pub use repos::events::{EVENT_IDS_CHANNEL, JOBS_CHANNEL, sequence_events};
pub use unit_of_work::{DieselDatabase, DieselUow};

/// A connection to whichever database the URL named.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Runs the same query builder expression on the concrete connection inside a
/// `DbConnection`, for the statements the `MultiConnection` enum cannot build
/// (upserts, multi-row inserts). The backend-specific SQL lives only in the
/// call sites of this macro.
macro_rules! per_backend {
    ($conn:expr, |$inner:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgres($inner) => $body,
            $crate::db::DbConnection::Sqlite($inner) => $body,
        }
    };
}
pub(crate) use per_backend;

/// Migrations embedded in the binary, one tree per backend.
const SQLITE_MIGRATIONS: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("../../migrations/postgres");

/// Applies every pending migration; returns the versions applied.
///
/// # Errors
/// When a migration fails; the failing migration is rolled back.
pub fn run_migrations(conn: &mut DbConnection) -> Result<Vec<String>, InfrastructureError> {
    use diesel_migrations::MigrationHarness;
    let applied = match conn {
        DbConnection::Postgres(conn) => conn.run_pending_migrations(POSTGRES_MIGRATIONS),
        DbConnection::Sqlite(conn) => conn.run_pending_migrations(SQLITE_MIGRATIONS),
    }
    .map_err(|error| InfrastructureError::database(format!("running migrations: {error}")))?;
    Ok(applied.iter().map(ToString::to_string).collect())
}

/// Checks the connection with the cheapest round trip.
///
/// # Errors
/// When the database does not answer.
pub fn ping(conn: &mut DbConnection) -> QueryResult<()> {
    diesel::sql_query("SELECT 1").execute(conn).map(|_| ())
}
