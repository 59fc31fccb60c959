//! SQLite's writer: one thread with its own connection, and group commit.
//!
//! SQLite lets one transaction write at a time, so write units of work are
//! queued to a single thread. Whatever is queued when the thread is free
//! runs in one transaction, each unit inside its own savepoint: a unit that
//! fails (or panics) rolls back to its savepoint and leaves the others
//! alone, and every unit is acknowledged only once the shared transaction
//! has committed. One `BEGIN`/`COMMIT`, one set of file locks and one WAL
//! append then serve many requests.
//!
//! The queue is bounded: when it is full a write fails at once with
//! `Unavailable` (503 and `Retry-After`) instead of piling up, and a unit
//! whose requester has gone (the client disconnected) is dropped unrun.
//! Each unit's events are stored inside its savepoint, numbered from the
//! counter: one writer, so ids follow the commit order.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use conduit_application::error::{AppError, Cause};
use conduit_application::events::Committed;
use conduit_application::jobs::Wakeups;
use conduit_application::ports::{Clock, UnitOfWork};
use diesel::connection::{AnsiTransactionManager, Connection, TransactionManager};
use diesel::r2d2::ManageConnection;

use super::errors::is_busy;
use super::pool::ConnectionManager;
use super::unit_of_work::AfterCommit;
use super::{DbConnection, DieselUow};

/// Most units of work committed together.
const MAX_BATCH: usize = 64;
/// Pauses before running a batch again when another process holds the lock.
const BUSY_RETRY_DELAYS: [Duration; 3] = [
    Duration::from_millis(10),
    Duration::from_millis(50),
    Duration::from_millis(200),
];

type Run = Box<dyn FnMut(&mut dyn UnitOfWork) -> Result<(), AppError> + Send>;
type Outcome = Result<AfterCommit, AppError>;

struct Job {
    run: Run,
    done: tokio::sync::oneshot::Sender<Outcome>,
    span: tracing::Span,
}

/// The handle to the writer thread; dropping it stops the thread once it
/// has finished the units already queued, and waits for it.
pub(crate) struct SqliteWriter {
    jobs: Option<mpsc::SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
    wakeups: Arc<Wakeups>,
}

/// How the writer thread stores events.
struct Stamp {
    origin: Arc<str>,
    clock: Arc<dyn Clock>,
}

impl SqliteWriter {
    /// Starts the writer thread, which opens its connection through
    /// `manager` and queues at most `capacity` units of work.
    pub(crate) fn start(
        manager: ConnectionManager,
        capacity: usize,
        origin: Arc<str>,
        wakeups: Arc<Wakeups>,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::sync_channel::<Job>(capacity.max(1));
        let stamp = Stamp { origin, clock };
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || serve(&manager, &queue, &stamp))?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
            wakeups,
        })
    }

    /// Runs `work` in the next batch and waits, without blocking, for its
    /// batch to commit.
    pub(crate) async fn write<T, F>(&self, mut work: F) -> Result<Committed<T>, AppError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn UnitOfWork) -> Result<T, AppError> + Send + 'static,
    {
        let stopped = || AppError::Internal(Cause::from("the SQLite writer stopped"));
        let slot = Arc::new(Mutex::new(None));
        let filled = Arc::clone(&slot);
        let run: Run = Box::new(move |uow| {
            let value = work(uow)?;
            *filled.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
            Ok(())
        });
        let (done, committed) = tokio::sync::oneshot::channel();
        let job = Job {
            run,
            done,
            span: tracing::Span::current(),
        };
        match self.jobs.as_ref().map(|jobs| jobs.try_send(job)) {
            Some(Ok(())) => {}
            Some(Err(mpsc::TrySendError::Full(_))) => {
                return Err(AppError::Unavailable(Cause::from(
                    "the SQLite writer's queue is full",
                )));
            }
            Some(Err(mpsc::TrySendError::Disconnected(_))) | None => return Err(stopped()),
        }
        let after = committed.await.map_err(|_| stopped())??;
        after.wake(&self.wakeups);
        let value = slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or_else(|| AppError::Internal(Cause::from("a committed write left no result")))?;
        Ok(Committed {
            value,
            events: after.events,
        })
    }
}

impl Drop for SqliteWriter {
    fn drop(&mut self) {
        // Closing the queue ends the thread's loop after the queued units.
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the SQLite writer thread panicked");
        }
    }
}

/// The writer thread: takes whatever is queued, runs it as one batch, replies.
fn serve(manager: &ConnectionManager, queue: &mpsc::Receiver<Job>, stamp: &Stamp) {
    let mut connection: Option<DbConnection> = None;
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Nobody waits for these any more: not worth a write.
        batch.retain(|job| !job.done.is_closed());
        if batch.is_empty() {
            continue;
        }
        let conn = match connection.as_mut() {
            Some(conn) => conn,
            None => match manager.connect() {
                Ok(conn) => connection.insert(conn),
                Err(error) => {
                    tracing::error!(%error, "the SQLite writer cannot open its connection");
                    for job in batch {
                        let _ = job.done.send(Err(AppError::Unavailable(Cause::from(
                            "the database cannot be opened",
                        ))));
                    }
                    continue;
                }
            },
        };
        let outcomes = run_batch(conn, &mut batch, stamp);
        if <DbConnection as Connection>::TransactionManager::is_broken_transaction_manager(conn) {
            connection = None;
        }
        for (job, outcome) in batch.into_iter().zip(outcomes) {
            // The requester may have gone (client disconnected): nothing to do.
            let _ = job.done.send(outcome);
        }
    }
}

/// Runs the batch in one transaction, again after a pause when another
/// process holds the database lock.
fn run_batch(conn: &mut DbConnection, batch: &mut [Job], stamp: &Stamp) -> Vec<Outcome> {
    let mut delays = BUSY_RETRY_DELAYS.iter();
    loop {
        match try_batch(conn, batch, stamp) {
            Err(AppError::Busy) => {
                if let Some(delay) = delays.next() {
                    tracing::debug!(?delay, "database busy, retrying the batch");
                    std::thread::sleep(*delay);
                    continue;
                }
                return batch.iter().map(|_| Err(AppError::Busy)).collect();
            }
            Err(error) => {
                let message = error.to_string();
                tracing::error!(error = %message, "a write batch failed");
                return batch
                    .iter()
                    .map(|_| {
                        Err(AppError::Internal(Cause::from(format!(
                            "write batch: {message}"
                        ))))
                    })
                    .collect();
            }
            Ok(outcomes) => return outcomes,
        }
    }
}

fn diesel_error(error: diesel::result::Error) -> AppError {
    if is_busy(&error) {
        AppError::Busy
    } else {
        AppError::Internal(Cause::from(error))
    }
}

/// Runs a unit of work and stores its events; a panic becomes an internal error.
fn run_guarded(run: &mut Run, conn: &mut DbConnection, stamp: &Stamp) -> Outcome {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut uow = DieselUow::writing(conn, &stamp.origin);
        run(&mut uow)?;
        uow.finish(stamp.clock.now())
    }))
    .unwrap_or_else(|_| {
        tracing::error!("a write unit of work panicked");
        Err(AppError::Internal(Cause::from(
            "a write unit of work panicked",
        )))
    })
}

/// One attempt: `BEGIN IMMEDIATE`, each job in a savepoint, `COMMIT`. The
/// outer error is about the whole batch; the vector holds each job's own.
fn try_batch(
    conn: &mut DbConnection,
    batch: &mut [Job],
    stamp: &Stamp,
) -> Result<Vec<Outcome>, AppError> {
    type Manager = <DbConnection as Connection>::TransactionManager;
    let DbConnection::Sqlite(inner) = conn else {
        return Err(AppError::Internal(Cause::from(
            "the SQLite writer got another connection",
        )));
    };
    AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")
        .map_err(diesel_error)?;
    if let [job] = batch {
        // Alone, the unit of work needs no savepoint: the transaction is its own.
        let _entered = job.span.enter();
        let outcome = run_guarded(&mut job.run, conn, stamp);
        if outcome.is_err() {
            let _ = Manager::rollback_transaction(conn);
            return match outcome {
                Err(AppError::Busy) => Err(AppError::Busy),
                failed => Ok(vec![failed]),
            };
        }
        Manager::commit_transaction(conn).map_err(|error| {
            let _ = Manager::rollback_transaction(conn);
            diesel_error(error)
        })?;
        return Ok(vec![outcome]);
    }
    let mut outcomes = Vec::with_capacity(batch.len());
    for job in batch.iter_mut() {
        let _entered = job.span.enter();
        // Nested inside the transaction, this is a savepoint.
        if let Err(error) = Manager::begin_transaction(conn) {
            let _ = Manager::rollback_transaction(conn);
            return Err(diesel_error(error));
        }
        let outcome = run_guarded(&mut job.run, conn, stamp);
        if matches!(outcome, Err(AppError::Busy)) {
            // Contention on the database lock concerns the whole transaction:
            // the batch is run again.
            let _ = Manager::rollback_transaction(conn);
            let _ = Manager::rollback_transaction(conn);
            return Err(AppError::Busy);
        }
        let closed = if outcome.is_ok() {
            Manager::commit_transaction(conn)
        } else {
            Manager::rollback_transaction(conn)
        };
        if let Err(error) = closed {
            let _ = Manager::rollback_transaction(conn);
            return Err(diesel_error(error));
        }
        outcomes.push(outcome);
    }
    if let Err(error) = Manager::commit_transaction(conn) {
        let _ = Manager::rollback_transaction(conn);
        return Err(diesel_error(error));
    }
    Ok(outcomes)
}
