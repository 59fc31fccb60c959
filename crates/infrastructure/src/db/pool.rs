//! Connection settings, the r2d2 connection manager and per-connection setup.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use diesel::r2d2::{self, R2D2Connection};

use super::DbConnection;

/// Which database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTarget {
    /// A file path (created with its directory when missing).
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL.
    Postgres(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

impl DbTarget {
    /// Reads `sqlite://path`, `sqlite:path`, a bare path, or a PostgreSQL URL.
    ///
    /// The variant is chosen here from the scheme rather than by trying each
    /// backend in turn, because SQLite would accept any string as a path.
    pub fn parse(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Self::Postgres(url.to_owned());
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        Self::Sqlite(PathBuf::from(path))
    }

    pub fn kind(&self) -> BackendKind {
        match self {
            Self::Sqlite(_) => BackendKind::Sqlite,
            Self::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// The URL without credentials, for logs.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
            Self::Postgres(url) => match (url.find("://"), url.rfind('@')) {
                (Some(scheme_end), Some(at)) if at > scheme_end => {
                    format!("{}://***{}", &url[..scheme_end], &url[at..])
                }
                _ => url.clone(),
            },
        }
    }
}

/// How to reach the database and how many connections to keep.
#[derive(Debug, Clone)]
pub struct DbSettings {
    pub target: DbTarget,
    /// Connections in the pool; also the number of units of work that run at once.
    pub pool_size: u32,
    /// How long a request waits for a connection before failing with 503.
    pub connect_timeout: Duration,
    /// PostgreSQL only: statements running longer are cancelled.
    pub statement_timeout: Duration,
    /// SQLite only: how long a writer waits for the file lock.
    pub busy_timeout: Duration,
    /// SQLite only: most write units of work queued for the writer; beyond
    /// it, writes fail at once with 503.
    pub writer_queue: usize,
    /// This instance's name, recorded with its events and the jobs it runs.
    pub instance: String,
    /// When set, every connection the pool opens adds one to this counter per
    /// SQL statement it starts (after its own setup statements). Tests use it
    /// to prove that a use case costs a fixed number of queries. `None`, the
    /// default, installs no instrumentation at all.
    pub query_counter: Option<Arc<AtomicUsize>>,
}

impl DbSettings {
    pub fn new(url: &str) -> Self {
        Self {
            target: DbTarget::parse(url),
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            busy_timeout: Duration::from_secs(5),
            writer_queue: 1024,
            instance: default_instance_name(),
            query_counter: None,
        }
    }
}

/// `host:pid`, unique among the instances sharing a database.
pub fn default_instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "conduit".to_owned());
    format!("{host}:{}", std::process::id())
}

/// Opens connections of the configured backend and prepares each one.
#[derive(Debug)]
pub(crate) struct ConnectionManager {
    settings: DbSettings,
}

impl ConnectionManager {
    pub(crate) fn new(settings: DbSettings) -> Self {
        Self { settings }
    }

    /// Opens and prepares a connection, then installs the statement counter
    /// if one is configured (so the setup statements are not counted).
    fn open(&self) -> Result<DbConnection, r2d2::Error> {
        let mut conn = self.open_prepared()?;
        if let Some(counter) = &self.settings.query_counter {
            conn.set_instrumentation(statement_counter(Arc::clone(counter)));
        } else if tracing::enabled!(target: SQL_LOG_TARGET, tracing::Level::DEBUG) {
            conn.set_instrumentation(statement_log());
        }
        Ok(conn)
    }

    /// Opens a connection and applies the per-connection settings.
    fn open_prepared(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.settings.target {
            DbTarget::Sqlite(path) => {
                let path = path.to_string_lossy();
                let mut conn = diesel::SqliteConnection::establish(&path)
                    .map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers run beside the writer; NORMAL sync in WAL
                // mode loses no committed transaction when the process dies
                // (only an OS crash or power cut can), at a fraction of FULL's
                // fsync cost.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {};
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;",
                    self.settings.busy_timeout.as_millis()
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
            DbTarget::Postgres(url) => {
                let mut conn =
                    diesel::PgConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(&format!(
                    "SET statement_timeout = {}; SET TIME ZONE 'UTC';",
                    self.settings.statement_timeout.as_millis()
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Postgres(conn))
            }
        }
    }
}

/// The log target of every SQL statement, at debug level: set
/// `CONDUIT_LOG=conduit::sql=debug,info` to see them (connections opened
/// while it is on log; it costs nothing otherwise).
pub const SQL_LOG_TARGET: &str = "conduit::sql";

/// Instrumentation that logs each statement with its binds.
fn statement_log() -> impl Instrumentation {
    move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            tracing::debug!(target: SQL_LOG_TARGET, "{query}");
        }
    }
}

/// Instrumentation that counts the statements a connection starts.
fn statement_counter(counter: Arc<AtomicUsize>) -> impl Instrumentation {
    move |event: InstrumentationEvent<'_>| {
        if matches!(event, InstrumentationEvent::StartQuery { .. }) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        if let DbTarget::Sqlite(path) = &self.settings.target
            && let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|error| {
                r2d2::Error::ConnectionError(diesel::ConnectionError::BadConnection(format!(
                    "creating {}: {error}",
                    dir.display()
                )))
            })?;
        }
        self.open()
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        // A connection left inside a transaction (by a panic, say) must not
        // serve another request.
        std::thread::panicking() || conn.is_broken()
    }
}

/// A snapshot of the pool, for metrics and readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    pub size: u32,
    pub connections: u32,
    pub idle: u32,
}
