//! `Database` over an r2d2 pool: each unit of work takes a permit, hops once
//! onto a blocking thread, and there runs on one connection, inside one
//! transaction for writes.

use std::sync::Arc;
use std::time::Duration;

use conduit_application::error::{AppError, Cause};

use crate::error::InfrastructureError;
use conduit_application::ports::{
    ArticleRepository, CommentRepository, Database, FollowRepository, TagRepository, UnitOfWork,
    UserRepository,
};
use diesel::connection::{Connection, TransactionManager};
use diesel::r2d2::{Pool, PooledConnection};
use tokio::sync::Semaphore;

use super::errors::is_busy;
use super::pool::{BackendKind, ConnectionManager, DbSettings, PoolStatus};
use super::sqlite_writer::SqliteWriter;
use super::{DbConnection, ping, run_migrations};

/// How often a write that met a locked database is run again, and the pause
/// before each new try.
const BUSY_RETRY_DELAYS: [Duration; 3] = [
    Duration::from_millis(10),
    Duration::from_millis(50),
    Duration::from_millis(200),
];

/// The repositories of one unit of work, all on one connection.
pub struct DieselUow<'a> {
    pub(crate) conn: &'a mut DbConnection,
}

impl<'a> DieselUow<'a> {
    pub fn new(conn: &'a mut DbConnection) -> Self {
        Self { conn }
    }
}

impl UnitOfWork for DieselUow<'_> {
    fn users(&mut self) -> &mut dyn UserRepository {
        self
    }
    fn follows(&mut self) -> &mut dyn FollowRepository {
        self
    }
    fn articles(&mut self) -> &mut dyn ArticleRepository {
        self
    }
    fn tags(&mut self) -> &mut dyn TagRepository {
        self
    }
    fn comments(&mut self) -> &mut dyn CommentRepository {
        self
    }
}

/// The application's `Database`, backed by Diesel.
#[derive(Clone)]
pub struct DieselDatabase {
    pool: Pool<ConnectionManager>,
    backend: BackendKind,
    /// One permit per pooled connection, so that waiting for a connection
    /// happens on the async side instead of blocking a thread.
    permits: Arc<Semaphore>,
    /// SQLite has one writer at a time: writes go to one thread that commits
    /// them in groups (see `sqlite_writer`), shared by every clone.
    sqlite_writer: Option<Arc<SqliteWriter>>,
    connect_timeout: Duration,
}

impl DieselDatabase {
    /// Builds the pool. No connection is opened yet: call `migrate` or
    /// `check` to find out whether the database is reachable.
    ///
    /// # Errors
    /// When the pool settings are invalid.
    pub fn connect(settings: DbSettings) -> Result<Self, InfrastructureError> {
        let backend = settings.target.kind();
        let pool = Pool::builder()
            .max_size(settings.pool_size)
            .min_idle(Some(0))
            .connection_timeout(settings.connect_timeout)
            .test_on_check_out(false)
            .build_unchecked(ConnectionManager::new(settings.clone()));
        let pool_size = usize::try_from(settings.pool_size).map_err(|_| {
            InfrastructureError::Invalid("the pool size does not fit in memory".to_owned())
        })?;
        Ok(Self {
            pool,
            backend,
            permits: Arc::new(Semaphore::new(pool_size)),
            sqlite_writer: match backend {
                BackendKind::Sqlite => Some(Arc::new(
                    SqliteWriter::start(ConnectionManager::new(settings.clone()))
                        .map_err(InfrastructureError::io("starting the SQLite writer"))?,
                )),
                BackendKind::Postgres => None,
            },
            connect_timeout: settings.connect_timeout,
        })
    }

    pub fn backend(&self) -> BackendKind {
        self.backend
    }

    /// Applies pending migrations; returns the versions applied.
    ///
    /// # Errors
    /// When the database is unreachable or a migration fails.
    pub async fn migrate(&self) -> Result<Vec<String>, InfrastructureError> {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(InfrastructureError::database)?;
            run_migrations(&mut conn)
        })
        .await
        .map_err(InfrastructureError::database)?
    }

    /// Checks that the database answers within `timeout`.
    ///
    /// # Errors
    /// When it does not.
    pub async fn check(&self, timeout: Duration) -> Result<(), InfrastructureError> {
        let pool = self.pool.clone();
        let probe = tokio::task::spawn_blocking(move || -> Result<(), Cause> {
            let mut conn = pool.get_timeout(timeout)?;
            ping(&mut conn)?;
            Ok(())
        });
        match tokio::time::timeout(timeout, probe).await {
            Ok(Ok(answered)) => answered.map_err(InfrastructureError::Database),
            Ok(Err(join_error)) => Err(InfrastructureError::database(join_error)),
            Err(_) => Err(InfrastructureError::database(format!(
                "database did not answer within {timeout:?}"
            ))),
        }
    }

    pub fn pool_status(&self) -> PoolStatus {
        let state = self.pool.state();
        PoolStatus {
            size: self.pool.max_size(),
            connections: state.connections,
            idle: state.idle_connections,
        }
    }

    /// Runs `job` with a pooled connection on a blocking thread.
    async fn with_connection<T, F>(&self, job: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    {
        let permit =
            tokio::time::timeout(self.connect_timeout, self.permits.clone().acquire_owned())
                .await
                .map_err(|_| {
                    AppError::Unavailable(Cause::from("no database connection free in time"))
                })?
                .map_err(|error| AppError::Internal(error.into()))?;
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        let outcome = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let _permit = permit;
            let mut conn: PooledConnection<ConnectionManager> = pool
                .get()
                .map_err(|error| AppError::Unavailable(error.into()))?;
            job(&mut conn)
        })
        .await;
        match outcome {
            Ok(result) => result,
            Err(join_error) => Err(AppError::Internal(Cause::from(format!(
                "database task failed: {join_error}"
            )))),
        }
    }
}

/// Runs `work` in a transaction on `conn` (PostgreSQL: SQLite writes go
/// through `SqliteWriter`).
fn in_transaction<T>(
    conn: &mut DbConnection,
    work: &mut dyn FnMut(&mut dyn UnitOfWork) -> Result<T, AppError>,
) -> Result<T, AppError> {
    let begun = <DbConnection as Connection>::TransactionManager::begin_transaction(conn);
    begun.map_err(transaction_error)?;
    match work(&mut DieselUow::new(conn)) {
        Ok(value) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn)
                .map_err(transaction_error)?;
            Ok(value)
        }
        Err(error) => {
            // A failed rollback leaves the connection marked broken; the pool
            // then discards it.
            if let Err(rollback) =
                <DbConnection as Connection>::TransactionManager::rollback_transaction(conn)
            {
                tracing::warn!(error = %rollback, "rollback failed");
            }
            Err(error)
        }
    }
}

fn transaction_error(error: diesel::result::Error) -> AppError {
    if is_busy(&error) {
        AppError::Busy
    } else {
        AppError::Internal(Cause::from(format!("transaction: {error}")))
    }
}

impl Database for DieselDatabase {
    fn read<T, F>(&self, work: F) -> impl Future<Output = Result<T, AppError>> + Send
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn UnitOfWork) -> Result<T, AppError> + Send + 'static,
    {
        self.with_connection(move |conn| work(&mut DieselUow::new(conn)))
    }

    async fn write<T, F>(&self, mut work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn UnitOfWork) -> Result<T, AppError> + Send + 'static,
    {
        if let Some(writer) = &self.sqlite_writer {
            return writer.write(work).await;
        }
        let mut delays = BUSY_RETRY_DELAYS.iter();
        loop {
            let (result, returned) = self
                .with_connection(move |conn| {
                    let result = in_transaction(conn, &mut work);
                    Ok((result, work))
                })
                .await?;
            work = returned;
            match (result, delays.next()) {
                (Err(AppError::Busy), Some(delay)) => {
                    tracing::debug!(?delay, "database busy, retrying the transaction");
                    tokio::time::sleep(*delay).await;
                }
                (result, _) => return result,
            }
        }
    }
}

#[async_trait::async_trait]
impl conduit_application::health::HealthCheck for DieselDatabase {
    async fn database_ready(&self, timeout: Duration) -> Result<(), AppError> {
        self.check(timeout)
            .await
            .map_err(|error| AppError::Unavailable(error.into()))
    }

    fn pool_usage(&self) -> conduit_application::health::PoolUsage {
        let status = self.pool_status();
        conduit_application::health::PoolUsage {
            size: status.size,
            open: status.connections,
            idle: status.idle,
        }
    }
}
