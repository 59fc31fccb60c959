//! The change events' table: stored with the transaction that recorded them,
//! read back in id order.
//!
//! SQLite gives each event its id as it is stored: there is one writer, so
//! ids follow the commit order. PostgreSQL stores events without an id and
//! lets [`sequence_events`] number them once they are visible, in the order
//! they became visible; until then readers do not see them.

use chrono::{DateTime, NaiveDateTime, Utc};
use conduit_application::error::{Cause, RepoError};
use conduit_application::events::{DomainEvent, EventId, StoredEvent};
use conduit_application::ports::EventRepository;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable};

use crate::db::errors::OrRepoError;
use crate::db::rows::utc;
use crate::db::schema::{counters, events};
use crate::db::{DbConnection, DieselUow};

/// The counter holding the last event id given out.
const EVENT_IDS: &str = "event_ids";
/// Most events numbered by one sequencing round.
const SEQUENCE_BATCH: i64 = 5_000;

/// The channel a committed write's events are announced on (PostgreSQL).
pub const EVENTS_CHANNEL: &str = "conduit_events";
/// The channel on which newly numbered events are announced, with the
/// highest id as payload (PostgreSQL).
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

/// Stores the events of a unit of work inside its transaction and, with
/// PostgreSQL, announces them and the queues that got jobs (`NOTIFY` inside
/// the transaction is delivered at its commit, and not at all on a
/// rollback). One round trip on PostgreSQL, whatever the number of events.
pub(crate) fn store_and_announce(
    conn: &mut DbConnection,
    recorded: &[DomainEvent],
    queues: &[String],
    origin: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    match conn {
        DbConnection::Sqlite(sqlite) => store_numbered(sqlite, recorded, origin, now),
        DbConnection::Postgres(pg) => store_for_sequencing(pg, recorded, queues, origin, now),
    }
}

fn payload(event: &DomainEvent) -> QueryResult<String> {
    serde_json::to_string(event)
        .map_err(|error| diesel::result::Error::SerializationError(Box::new(error)))
}

/// SQLite: one writer, so each event's id is its row's `seq`, set by the
/// `events_numbered` trigger as it goes in: ids follow the commit order.
/// Run on the concrete connection, whose statement cache keeps the insert
/// prepared.
fn store_numbered(
    conn: &mut diesel::SqliteConnection,
    recorded: &[DomainEvent],
    origin: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let now = now.naive_utc();
    for event in recorded {
        let row = NewEventRow {
            kind: event.kind(),
            payload: payload(event)?,
            origin,
            recorded_at: now,
        };
        diesel::insert_into(events::table)
            .values(&row)
            .execute(conn)?;
    }
    Ok(())
}

/// PostgreSQL: the events go in without an id (the sequencer numbers them
/// once visible), in the same statement as the notifications.
fn store_for_sequencing(
    conn: &mut diesel::PgConnection,
    recorded: &[DomainEvent],
    queues: &[String],
    origin: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    use diesel::sql_types::{Text, Timestamp};
    use std::fmt::Write as _;

    if recorded.is_empty() && queues.is_empty() {
        return Ok(());
    }
    let mut sql = String::new();
    let mut next = 1;
    let mut notifies = Vec::new();
    if !recorded.is_empty() {
        sql.push_str(
            "WITH stored AS (INSERT INTO events (kind, payload, origin, recorded_at) VALUES ",
        );
        for index in 0..recorded.len() {
            if index > 0 {
                sql.push_str(", ");
            }
            let _ = write!(
                sql,
                "(${}, ${}, ${}, ${})",
                next,
                next + 1,
                next + 2,
                next + 3
            );
            next += 4;
        }
        sql.push_str(" RETURNING seq) ");
        notifies.push(format!("pg_notify('{EVENTS_CHANNEL}', '')"));
    }
    for _ in queues {
        notifies.push(format!("pg_notify('{JOBS_CHANNEL}', ${next})"));
        next += 1;
    }
    let _ = write!(sql, "SELECT {}", notifies.join(", "));
    if !recorded.is_empty() {
        sql.push_str(" FROM (SELECT 1 FROM stored LIMIT 1) AS once");
    }
    let now = now.naive_utc();
    let mut query = diesel::sql_query(sql).into_boxed();
    for event in recorded {
        query = query
            .bind::<Text, _>(event.kind())
            .bind::<Text, _>(payload(event)?)
            .bind::<Text, _>(origin.to_owned())
            .bind::<Timestamp, _>(now);
    }
    for queue in queues {
        query = query.bind::<Text, _>(queue.clone());
    }
    query.execute(conn)?;
    Ok(())
}

/// One sequencing round (PostgreSQL): numbers the visible events that have
/// no id yet, in `seq` order, after the last id given out. Rounds are
/// serialized by an advisory lock, so ids only ever grow in the order rows
/// became visible. Announces the highest id when it numbered any. Answers
/// the highest id given out so far.
///
/// # Errors
/// When the database fails.
pub fn sequence_events(conn: &mut diesel::PgConnection) -> QueryResult<i64> {
    use diesel::connection::Connection;

    #[derive(QueryableByName)]
    struct Last {
        #[diesel(sql_type = Nullable<BigInt>)]
        value: Option<i64>,
    }

    conn.transaction(|conn| {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('conduit_event_sequencer'))")
            .execute(conn)?;
        let numbered: Vec<Last> = diesel::sql_query(format!(
            "WITH pending AS ( \
                 SELECT seq, row_number() OVER (ORDER BY seq) AS n \
                 FROM events WHERE id IS NULL ORDER BY seq LIMIT {SEQUENCE_BATCH}), \
             base AS (SELECT value FROM counters WHERE name = '{EVENT_IDS}'), \
             assigned AS ( \
                 UPDATE events SET id = base.value + pending.n \
                 FROM pending, base WHERE events.seq = pending.seq RETURNING events.id) \
             UPDATE counters SET value = value + (SELECT count(*) FROM assigned) \
             WHERE name = '{EVENT_IDS}' AND (SELECT count(*) FROM assigned) > 0 \
             RETURNING value"
        ))
        .load(conn)?;
        if let Some(last) = numbered.first().and_then(|row| row.value) {
            diesel::sql_query(format!("SELECT pg_notify('{EVENT_IDS_CHANNEL}', $1)"))
                .bind::<diesel::sql_types::Text, _>(last.to_string())
                .execute(conn)?;
            return Ok(last);
        }
        counters::table
            .find(EVENT_IDS)
            .select(counters::value)
            .first(conn)
    })
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
