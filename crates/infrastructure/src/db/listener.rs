//! PostgreSQL: one connection per instance that `LISTEN`s, so that what one
//! instance commits reaches every other within milliseconds.
//!
//! - `conduit_events` (sent inside each transaction that stored events, so
//!   delivered at its commit): run a sequencing round, which numbers the
//!   new events and announces the highest id.
//! - `conduit_event_ids`: read the events after the last one seen, in id
//!   order, and hand them to the subscribers (the cache, …).
//! - `conduit_jobs`: wake this instance's workers of the named queue.
//!
//! A notification can be missed (the connection drops, the process was
//! down), an event never is: the listener reads by id from the table, so it
//! catches up from where it was, once a second anyway, and at once after a
//! reconnect. While it is cut off, subscribers are told so and stop
//! trusting what they derived from events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use conduit_application::events::{EventId, EventSubscriber};
use conduit_application::jobs::Wakeups;
use conduit_application::ports::EventRepository;
use conduit_application::supervisor::Shutdown;
use diesel::connection::SimpleConnection;
use diesel::r2d2::ManageConnection;

use super::pool::ConnectionManager;
use super::repos::events::{EVENT_IDS_CHANNEL, EVENTS_CHANNEL, JOBS_CHANNEL, sequence_events};
use super::{DbConnection, DieselUow};

/// How often the connection is polled for notifications.
const POLL_INTERVAL: Duration = Duration::from_millis(2);
/// How often the listener sequences and catches up without being told to.
const FALLBACK_INTERVAL: Duration = Duration::from_secs(1);
/// Pause before reconnecting after a failure.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// Most events read and delivered at once.
const READ_BATCH: usize = 1_000;

/// Listens for the other instances' commits (PostgreSQL only).
pub struct EventListener {
    manager: ConnectionManager,
    subscribers: Vec<Arc<dyn EventSubscriber>>,
    wakeups: Arc<Wakeups>,
    cursor: std::sync::Mutex<Option<EventId>>,
}

/// Why the link was lost.
type Lost = diesel::result::Error;

impl EventListener {
    pub(crate) fn new(
        manager: ConnectionManager,
        subscribers: Vec<Arc<dyn EventSubscriber>>,
        wakeups: Arc<Wakeups>,
    ) -> Self {
        Self {
            manager,
            subscribers,
            wakeups,
            cursor: std::sync::Mutex::new(None),
        }
    }

    fn interrupted(&self) {
        for subscriber in &self.subscribers {
            subscriber.interrupted();
        }
    }

    /// Runs until `shutdown` says stop: connects, catches up, listens;
    /// reconnects after a failure. Meant for a blocking task of the supervisor.
    pub fn run(&self, shutdown: &Shutdown) {
        while !shutdown.is_stopping() {
            match self.session(shutdown) {
                Ok(()) => return,
                Err(error) => {
                    self.interrupted();
                    tracing::warn!(%error, "the event listener lost its database link; reconnecting");
                    shutdown.pause_blocking(RECONNECT_DELAY);
                }
            }
        }
    }

    /// One connection's life.
    fn session(&self, shutdown: &Shutdown) -> Result<(), Lost> {
        let mut conn = self.manager.connect().map_err(|error| {
            Lost::DatabaseError(
                diesel::result::DatabaseErrorKind::ClosedConnection,
                Box::new(error.to_string()),
            )
        })?;
        conn.batch_execute(&format!(
            "LISTEN {EVENTS_CHANNEL}; LISTEN {EVENT_IDS_CHANNEL}; LISTEN {JOBS_CHANNEL};"
        ))?;
        // What was committed while we were not listening.
        self.sequence(&mut conn)?;
        self.catch_up(&mut conn)?;
        for subscriber in &self.subscribers {
            subscriber.caught_up();
        }
        // Workers may have missed enqueues too.
        self.wakeups.wake_all();
        tracing::info!("event listener connected");
        let mut last_fallback = Instant::now();
        while !shutdown.is_stopping() {
            let heard = self.drain(&mut conn)?;
            let fallback = last_fallback.elapsed() >= FALLBACK_INTERVAL;
            if heard.unsequenced || fallback {
                self.sequence(&mut conn)?;
            }
            if heard.numbered || heard.unsequenced || fallback {
                self.catch_up(&mut conn)?;
            }
            if fallback {
                last_fallback = Instant::now();
            }
            if !heard.anything() {
                std::thread::sleep(POLL_INTERVAL);
            }
        }
        Ok(())
    }

    /// Takes the notifications that arrived; wakes the queues they name.
    fn drain(&self, conn: &mut DbConnection) -> Result<Heard, Lost> {
        let DbConnection::Postgres(pg) = conn else {
            return Ok(Heard::default());
        };
        let mut heard = Heard::default();
        for notification in pg.notifications_iter() {
            let notification = notification?;
            match notification.channel.as_str() {
                EVENTS_CHANNEL => heard.unsequenced = true,
                EVENT_IDS_CHANNEL => heard.numbered = true,
                JOBS_CHANNEL => {
                    heard.jobs = true;
                    self.wakeups.wake(&notification.payload);
                }
                _ => {}
            }
        }
        Ok(heard)
    }

    fn sequence(&self, conn: &mut DbConnection) -> Result<(), Lost> {
        if let DbConnection::Postgres(pg) = conn {
            sequence_events(pg)?;
        }
        Ok(())
    }

    /// Reads every event after the cursor and delivers it.
    fn catch_up(&self, conn: &mut DbConnection) -> Result<(), Lost> {
        let mut uow = DieselUow::new(conn);
        let mut cursor = self
            .cursor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut position = match *cursor {
            Some(position) => position,
            // The first connection starts from now: there is nothing cached
            // yet that older events could make stale.
            None => uow.latest().map_err(repo_lost)?,
        };
        loop {
            let events = uow.after(position, READ_BATCH).map_err(repo_lost)?;
            let Some(last) = events.last() else {
                break;
            };
            position = last.id;
            for subscriber in &self.subscribers {
                subscriber.deliver(&events);
            }
            if events.len() < READ_BATCH {
                break;
            }
        }
        *cursor = Some(position);
        Ok(())
    }
}

fn repo_lost(error: conduit_application::error::RepoError) -> Lost {
    Lost::DatabaseError(
        diesel::result::DatabaseErrorKind::Unknown,
        Box::new(error.to_string()),
    )
}

#[derive(Debug, Default)]
struct Heard {
    unsequenced: bool,
    numbered: bool,
    jobs: bool,
}

impl Heard {
    fn anything(&self) -> bool {
        self.unsequenced || self.numbered || self.jobs
    }
}
