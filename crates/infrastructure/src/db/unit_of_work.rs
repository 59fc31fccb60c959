//! `Database` over an r2d2 pool: each unit of work takes a permit, hops once
//! onto a blocking thread, and there runs on one connection, inside one
//! transaction for writes.

use std::sync::Arc;
use std::time::Duration;

use conduit_application::error::{AppError, Cause};
use conduit_application::events::{Committed, DomainEvent, EventSubscriber};
use conduit_application::jobs::Wakeups;
use conduit_application::ports::{
    AccountTokenRepository, ArticleRepository, Clock, CommentRepository, Database, EventRepository,
    FollowRepository, JobRepository, SystemClock, TagRepository, UnitOfWork, UploadRepository,
    UserRepository,
};
use diesel::connection::{Connection, TransactionManager};
use diesel::r2d2::{Pool, PooledConnection};
use tokio::sync::Semaphore;

use super::announcer::Announcer;
use super::errors::is_busy;
use super::listener::EventListener;
use super::pool::{BackendKind, ConnectionManager, DbSettings, PoolStatus};
use super::repos::events::{announce, store};
use super::sqlite_writer::SqliteWriter;
use super::{DbConnection, ping, run_migrations};
use crate::error::InfrastructureError;

/// How often a write that met a locked database is run again, and the pause
/// before each new try.
const BUSY_RETRY_DELAYS: [Duration; 3] = [
    Duration::from_millis(10),
    Duration::from_millis(50),
    Duration::from_millis(200),
];

/// The repositories of one unit of work, all on one connection, and what
/// the unit of work changed: its events and the queues it enqueued jobs in.
pub struct DieselUow<'a> {
    pub(crate) conn: &'a mut DbConnection,
    /// `None` for a read: a read records nothing.
    writes: Option<Writes<'a>>,
}

struct Writes<'a> {
    origin: &'a str,
    events: Vec<DomainEvent>,
    queues: Vec<String>,
}

/// What a write unit of work leaves to do once its transaction has committed.
#[derive(Debug, Default)]
pub(crate) struct AfterCommit {
    pub(crate) events: Vec<DomainEvent>,
    pub(crate) queues: Vec<String>,
}

impl AfterCommit {
    /// Wakes this instance's workers of the queues that got jobs.
    pub(crate) fn wake(&self, wakeups: &Wakeups) {
        for queue in &self.queues {
            wakeups.wake(queue);
        }
    }

    /// PostgreSQL: leaves the announcement to the listener, or, when none
    /// runs, makes it on `conn`. A failure here is only logged: the commit
    /// stands, and the other instances' fallback rounds find its events
    /// and jobs within seconds.
    fn announce(&self, conn: &mut DbConnection, announcer: &Announcer) {
        let events = !self.events.is_empty();
        if announcer.mark(events, &self.queues) {
            return;
        }
        if let DbConnection::Postgres(pg) = conn
            && let Err(error) = announce(pg, events, &self.queues)
        {
            tracing::warn!(%error, "could not announce a commit; other instances will find it by polling");
        }
    }
}

impl<'a> DieselUow<'a> {
    /// A unit of work that only reads.
    pub fn new(conn: &'a mut DbConnection) -> Self {
        Self { conn, writes: None }
    }

    /// A unit of work inside a write transaction, whose events are recorded
    /// as coming from `origin`.
    pub(crate) fn writing(conn: &'a mut DbConnection, origin: &'a str) -> Self {
        Self {
            conn,
            writes: Some(Writes {
                origin,
                events: Vec::new(),
                queues: Vec::new(),
            }),
        }
    }

    /// Notes that a job went to `queue`, to wake its workers after the commit.
    pub(crate) fn job_enqueued(&mut self, queue: &str) {
        if let Some(writes) = &mut self.writes
            && !writes.queues.iter().any(|known| known == queue)
        {
            writes.queues.push(queue.to_owned());
        }
    }

    /// Stores the recorded events, still inside the transaction; answers
    /// what to do after the commit.
    pub(crate) fn finish(
        self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<AfterCommit, AppError> {
        let Some(writes) = self.writes else {
            return Ok(AfterCommit::default());
        };
        store(self.conn, &writes.events, writes.origin, now).map_err(transaction_error)?;
        Ok(AfterCommit {
            events: writes.events,
            queues: writes.queues,
        })
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
    fn jobs(&mut self) -> &mut dyn JobRepository {
        self
    }
    fn events(&mut self) -> &mut dyn EventRepository {
        self
    }
    fn account_tokens(&mut self) -> &mut dyn AccountTokenRepository {
        self
    }
    fn uploads(&mut self) -> &mut dyn UploadRepository {
        self
    }
    fn record(&mut self, event: DomainEvent) {
        match &mut self.writes {
            Some(writes) => writes.events.push(event),
            None => tracing::error!(
                kind = event.kind(),
                "a read unit of work recorded an event; it is dropped"
            ),
        }
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
    /// This instance, as recorded with its events and jobs.
    origin: Arc<str>,
    settings: DbSettings,
    /// This instance's job workers, woken when a commit enqueued jobs.
    wakeups: Arc<Wakeups>,
    /// PostgreSQL: hands what commits leave to announce to the listener.
    announcer: Arc<Announcer>,
    clock: Arc<dyn Clock>,
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
        let origin: Arc<str> = Arc::from(settings.instance.as_str());
        let wakeups = Wakeups::new();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Ok(Self {
            pool,
            backend,
            permits: Arc::new(Semaphore::new(pool_size)),
            sqlite_writer: match backend {
                BackendKind::Sqlite => Some(Arc::new(
                    SqliteWriter::start(
                        ConnectionManager::new(settings.clone()),
                        settings.writer_queue,
                        Arc::clone(&origin),
                        Arc::clone(&wakeups),
                        Arc::clone(&clock),
                    )
                    .map_err(InfrastructureError::io("starting the SQLite writer"))?,
                )),
                BackendKind::Postgres => None,
            },
            connect_timeout: settings.connect_timeout,
            origin,
            wakeups,
            announcer: Arc::default(),
            clock,
            settings,
        })
    }

    /// With PostgreSQL, the listener that brings this instance the other
    /// instances' events and enqueues (run it under the supervisor); with
    /// SQLite there are no other instances, and no listener.
    pub fn event_listener(
        &self,
        subscribers: Vec<Arc<dyn EventSubscriber>>,
    ) -> Option<EventListener> {
        match self.backend {
            BackendKind::Postgres => Some(EventListener::new(
                ConnectionManager::new(self.settings.clone()),
                subscribers,
                self.wakeups(),
                Arc::clone(&self.announcer),
            )),
            BackendKind::Sqlite => None,
        }
    }

    /// This instance's name, as recorded with its events and jobs.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// What wakes this instance's job workers.
    pub fn wakeups(&self) -> Arc<Wakeups> {
        Arc::clone(&self.wakeups)
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

/// Runs `work` in a transaction on `conn`, with its events stored before
/// the commit (PostgreSQL: SQLite writes go through `SqliteWriter`).
fn in_transaction<T>(
    conn: &mut DbConnection,
    origin: &str,
    now: chrono::DateTime<chrono::Utc>,
    work: &mut dyn FnMut(&mut dyn UnitOfWork) -> Result<T, AppError>,
) -> Result<(T, AfterCommit), AppError> {
    let begun = <DbConnection as Connection>::TransactionManager::begin_transaction(conn);
    begun.map_err(transaction_error)?;
    let mut uow = DieselUow::writing(conn, origin);
    let done = work(&mut uow).and_then(|value| Ok((value, uow.finish(now)?)));
    match done {
        Ok(done) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn)
                .map_err(transaction_error)?;
            Ok(done)
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

pub(crate) fn transaction_error(error: diesel::result::Error) -> AppError {
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

    async fn write<T, F>(&self, mut work: F) -> Result<Committed<T>, AppError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn UnitOfWork) -> Result<T, AppError> + Send + 'static,
    {
        if let Some(writer) = &self.sqlite_writer {
            return writer.write(work).await;
        }
        let mut delays = BUSY_RETRY_DELAYS.iter();
        loop {
            let origin = Arc::clone(&self.origin);
            let announcer = Arc::clone(&self.announcer);
            let now = self.clock.now();
            let (result, returned) = self
                .with_connection(move |conn| {
                    let result = in_transaction(conn, &origin, now, &mut work);
                    if let Ok((_, after)) = &result {
                        after.announce(conn, &announcer);
                    }
                    Ok((result, work))
                })
                .await?;
            work = returned;
            match (result, delays.next()) {
                (Err(AppError::Busy), Some(delay)) => {
                    tracing::debug!(?delay, "database busy, retrying the transaction");
                    tokio::time::sleep(*delay).await;
                }
                (Ok((value, after)), _) => {
                    after.wake(&self.wakeups);
                    return Ok(Committed {
                        value,
                        events: after.events,
                    });
                }
                (Err(error), _) => return Err(error),
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
