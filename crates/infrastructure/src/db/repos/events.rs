//! The change events' table: stored with the transaction that recorded them,
//! read back in id order.
//!
//! SQLite gives each event its id as it is stored: there is one writer, so
//! ids follow the commit order. PostgreSQL stores events without an id and
//! lets [`sequence_events`] number them once they are visible, in the order
//! they became visible; until then readers do not see them. The round runs
//! on the listener's thread when this instance's commits mark it (see
//! `announcer`), and on every instance once a second anyway.

use chrono::{DateTime, NaiveDateTime, Utc};
use conduit_application::error::{Cause, RepoError};
use conduit_application::events::{DomainEvent, EventId, StoredEvent};
use conduit_application::ports::EventRepository;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::db::errors::OrRepoError;
use crate::db::rows::utc;
use crate::db::schema::events;
use crate::db::{DbConnection, DieselUow};

/// Most events numbered by one sequencing round.
const SEQUENCE_BATCH: i64 = 5_000;

/// The channel on which newly numbered events are announced, with the
/// highest id as payload (PostgreSQL; named in the sequencer's migration too).
pub const EVENT_IDS_CHANNEL: &str = "conduit_event_ids";
/// The channel on which an enqueue is announced, with the queue as payload.
pub const JOBS_CHANNEL: &str = "conduit_jobs";

#[derive(Queryable, Selectable)]
#[diesel(table_name = events)]
struct EventRow {
    id: Option<i64>,
    payload: String,
    origin: String,
    recorded_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = events)]
struct NewEventRow<'a> {
    kind: &'a str,
    payload: String,
    origin: &'a str,
    recorded_at: NaiveDateTime,
}

fn stored(row: EventRow) -> Result<StoredEvent, RepoError> {
    let event = serde_json::from_str(&row.payload).map_err(|error| {
        RepoError::Other(Cause::from(format!(
            "event {:?} cannot be read: {error}",
            row.id
        )))
    })?;
    Ok(StoredEvent {
        id: EventId(row.id.unwrap_or_default()),
        event,
        origin: row.origin,
        recorded_at: utc(row.recorded_at),
    })
}

/// Stores the events of a unit of work inside its transaction. With
/// PostgreSQL nothing is announced here: `NOTIFY` would serialize commits
/// (see `announcer`); [`announce`] tells the other instances after the
/// commit, once per batch of commits.
pub(crate) fn store(
    conn: &mut DbConnection,
    recorded: &[DomainEvent],
    origin: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    match conn {
        DbConnection::Sqlite(sqlite) => store_each(sqlite, recorded, origin, now),
        DbConnection::Postgres(pg) => store_all(pg, recorded, origin, now),
    }
}

fn rows<'a>(
    recorded: &'a [DomainEvent],
    origin: &'a str,
    now: DateTime<Utc>,
) -> QueryResult<Vec<NewEventRow<'a>>> {
    let now = now.naive_utc();
    recorded
        .iter()
        .map(|event| {
            Ok(NewEventRow {
                kind: event.kind(),
                payload: serde_json::to_string(event)
                    .map_err(|error| diesel::result::Error::SerializationError(Box::new(error)))?,
                origin,
                recorded_at: now,
            })
        })
        .collect()
}

/// SQLite: one writer, so each event's id is its row's `seq`, set by the
/// `events_numbered` trigger as it goes in: ids follow the commit order.
/// One row per statement, on the concrete connection, whose statement cache
/// keeps the insert prepared.
fn store_each(
    conn: &mut diesel::SqliteConnection,
    recorded: &[DomainEvent],
    origin: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    for row in rows(recorded, origin, now)? {
        diesel::insert_into(events::table)
            .values(&row)
            .execute(conn)?;
    }
    Ok(())
}

/// PostgreSQL: every event in one statement, without an id (the sequencer
/// numbers them once they are visible).
fn store_all(
    conn: &mut diesel::PgConnection,
    recorded: &[DomainEvent],
    origin: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    if recorded.is_empty() {
        return Ok(());
    }
    diesel::insert_into(events::table)
        .values(&rows(recorded, origin, now)?)
        .execute(conn)?;
    Ok(())
}

/// Tells every instance what commits left (PostgreSQL): numbers the new
/// events (the round announces them) and wakes the workers of the queues
/// that got jobs, with one notification per queue in one statement.
///
/// # Errors
/// When the database fails.
pub(crate) fn announce(
    conn: &mut diesel::PgConnection,
    events: bool,
    queues: &[String],
) -> QueryResult<()> {
    if events {
        sequence_events(conn)?;
    }
    if queues.is_empty() {
        return Ok(());
    }
    let calls: Vec<String> = (1..=queues.len())
        .map(|index| format!("pg_notify('{JOBS_CHANNEL}', ${index})"))
        .collect();
    let mut query = diesel::sql_query(format!("SELECT {}", calls.join(", "))).into_boxed();
    for queue in queues {
        query = query.bind::<diesel::sql_types::Text, _>(queue.clone());
    }
    query.execute(conn)?;
    Ok(())
}

/// One sequencing round (PostgreSQL): numbers the visible events that have
/// no id yet, in the order they became visible, and announces the highest
/// id when it numbered any (the `conduit_sequence_events` function of the
/// migrations: one statement). Answers the highest id given out so far.
///
/// # Errors
/// When the database fails.
pub fn sequence_events(conn: &mut diesel::PgConnection) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Last {
        #[diesel(sql_type = BigInt)]
        value: i64,
    }

    diesel::sql_query("SELECT conduit_sequence_events($1) AS value")
        .bind::<BigInt, _>(SEQUENCE_BATCH)
        .get_result::<Last>(conn)
        .map(|last| last.value)
}

impl EventRepository for DieselUow<'_> {
    fn after(&mut self, after: EventId, limit: usize) -> Result<Vec<StoredEvent>, RepoError> {
        let rows = events::table
            .filter(events::id.gt(after.0))
            .order(events::id.asc())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .select(EventRow::as_select())
            .load(self.conn)
            .or_repo_error()?;
        rows.into_iter().map(stored).collect()
    }

    fn latest(&mut self) -> Result<EventId, RepoError> {
        events::table
            .select(diesel::dsl::max(events::id))
            .first::<Option<i64>>(self.conn)
            .or_repo_error()
            .map(|last| EventId(last.unwrap_or(0)))
    }

    fn prune(&mut self, before: DateTime<Utc>) -> Result<u64, RepoError> {
        // Events still waiting for an id stay whatever their age.
        diesel::delete(
            events::table
                .filter(events::recorded_at.lt(before.naive_utc()))
                .filter(events::id.is_not_null()),
        )
        .execute(self.conn)
        .or_repo_error()
        .map(|deleted| u64::try_from(deleted).unwrap_or(u64::MAX))
    }
}
