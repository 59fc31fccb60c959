//! PostgreSQL: one connection per instance that `LISTEN`s, so that what one
//! instance commits reaches every other within milliseconds, and that
//! announces what this instance's commits left (see `announcer`).
//!
//! - This instance's commits mark the announcer: the listener runs a
//!   sequencing round, which numbers the new events and announces the
//!   highest id on `conduit_event_ids`, and notifies `conduit_jobs` once per
//!   queue that got jobs; one round and one notification per batch of
//!   commits, however many.
//! - `conduit_event_ids`: read the events after the last one seen, in id
//!   order, and hand them to the subscribers (the cache, …).
//! - `conduit_jobs`: wake this instance's workers of the named queue.
//!
//! A notification can be missed (the connection drops, the process was
//! down), an event never is: the listener reads by id from the table, so it
//! catches up from where it was, and every instance runs a sequencing round
//! once a second, which numbers what an instance killed right after its
//! commit left behind. While it is cut off, subscribers are told so and stop
//! trusting what they derived from events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use conduit_application::events::{EventId, EventSubscriber};
use conduit_application::jobs::Wakeups;
use conduit_application::ports::EventRepository;
use conduit_application::supervisor::Shutdown;
use diesel::connection::SimpleConnection;
use diesel::r2d2::ManageConnection;

use super::announcer::Announcer;
use super::pool::ConnectionManager;
use super::repos::events::{EVENT_IDS_CHANNEL, JOBS_CHANNEL, announce, sequence_events};
use super::{DbConnection, DieselUow};

/// How often the connection is polled for notifications; this instance's
/// own commits wake the listener at once.
const POLL_INTERVAL: Duration = Duration::from_millis(2);
/// Least time between two sequencing rounds that this instance's commits
/// asked for: under a stream of writes, one round numbers the events of
/// many commits instead of costing a commit of its own for each (a round
/// that follows a quiet spell runs at once).
const ROUND_SPACING: Duration = Duration::from_millis(5);
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
    announcer: Arc<Announcer>,
    cursor: std::sync::Mutex<Option<EventId>>,
}

/// Why the link was lost.
type Lost = diesel::result::Error;

impl EventListener {
    pub(crate) fn new(
        manager: ConnectionManager,
        subscribers: Vec<Arc<dyn EventSubscriber>>,
        wakeups: Arc<Wakeups>,
        announcer: Arc<Announcer>,
    ) -> Self {
        Self {
            manager,
            subscribers,
            wakeups,
            announcer,
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
            let outcome = self.session(shutdown);
            // Until the next session, writes announce for themselves.
            self.announcer.set_listening(false);
            match outcome {
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
            "LISTEN {EVENT_IDS_CHANNEL}; LISTEN {JOBS_CHANNEL};"
        ))?;
        self.announcer.set_listening(true);
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
        let mut last_round = Instant::now();
        while !shutdown.is_stopping() {
            let mut marks = self.announcer.take(POLL_INTERVAL);
            if marks.events {
                let since = last_round.elapsed();
                if since < ROUND_SPACING {
                    std::thread::sleep(ROUND_SPACING - since);
                    marks.merge(self.announcer.take(Duration::ZERO));
                }
                last_round = Instant::now();
            }
            let fallback = last_fallback.elapsed() >= FALLBACK_INTERVAL;
            if let DbConnection::Postgres(pg) = &mut conn {
                announce(pg, marks.events || fallback, &marks.queues)?;
            }
            // Our own round's notification is among these.
            let heard = self.drain(&mut conn)?;
            if heard.numbered || fallback {
                self.catch_up(&mut conn)?;
            }
            if fallback {
                last_fallback = Instant::now();
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
                EVENT_IDS_CHANNEL => heard.numbered = true,
                JOBS_CHANNEL => self.wakeups.wake(&notification.payload),
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
    numbered: bool,
}
