//! Change events against a real database: stored in the transaction that
//! recorded them and only if it commits, read back in one order that grows
//! with visibility (PostgreSQL numbers them after the commit; SQLite's one
//! writer as it commits).

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failed step must fail the test loudly"
)]

use std::sync::Arc;

use conduit_application::error::AppError;
use conduit_application::events::{DomainEvent, EventId, StoredEvent};
use conduit_application::ports::{Database, UnitOfWork};
use conduit_domain::{ArticleId, UserId};
use conduit_infrastructure::db::{DbConnection, DbSettings, DieselDatabase, sequence_events};
use conduit_infrastructure::testing::{TestDatabase, at};

async fn database() -> (Arc<DieselDatabase>, TestDatabase) {
    let test_db = TestDatabase::new();
    let settings = DbSettings {
        instance: "here".to_owned(),
        ..test_db.settings()
    };
    let db = test_db.open(settings).await;
    (Arc::new(db), test_db)
}

fn favorited(user: i64) -> DomainEvent {
    DomainEvent::ArticleFavorited {
        article: ArticleId(1),
        user: UserId(user),
    }
}

/// Numbers what was committed, as the listener does (PostgreSQL only).
fn sequence(test_db: &TestDatabase) {
    if let DbConnection::Postgres(mut conn) = test_db.raw_connection() {
        sequence_events(&mut conn).unwrap();
    }
}

async fn all_after(db: &DieselDatabase, after: i64) -> Vec<StoredEvent> {
    db.read(move |uow| Ok(uow.events().after(EventId(after), 1_000)?))
        .await
        .unwrap()
}

#[tokio::test]
async fn events_are_stored_with_their_commit_and_read_back_in_order() {
    let (db, test_db) = database().await;
    let committed = db
        .write(|uow| {
            uow.record(favorited(1));
            uow.record(favorited(2));
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(committed.events, [favorited(1), favorited(2)]);
    let failed: Result<_, AppError> = db
        .write(|uow: &mut dyn UnitOfWork| -> Result<(), AppError> {
            uow.record(favorited(3));
            Err(AppError::NotFound("article"))
        })
        .await;
    assert!(failed.is_err());
    db.write(|uow| {
        uow.record(favorited(4));
        Ok(())
    })
    .await
    .unwrap();
    sequence(&test_db);

    let stored = all_after(&db, 0).await;
    let events: Vec<&DomainEvent> = stored.iter().map(|stored| &stored.event).collect();
    assert_eq!(
        events,
        [&favorited(1), &favorited(2), &favorited(4)],
        "the failed write left none"
    );
    let ids: Vec<i64> = stored.iter().map(|stored| stored.id.0).collect();
    assert_eq!(ids, [1, 2, 3]);
    assert!(stored.iter().all(|stored| stored.origin == "here"));
    assert_eq!(
        db.read(|uow| Ok(uow.events().latest()?)).await.unwrap(),
        EventId(3)
    );
    assert_eq!(all_after(&db, 2).await.len(), 1);
}

#[tokio::test]
async fn concurrent_writers_events_get_ids_in_one_gapless_order() {
    let (db, test_db) = database().await;
    let writers: Vec<_> = (0..20)
        .map(|writer| {
            let db = Arc::clone(&db);
            tokio::spawn(async move {
                for round in 0..10 {
                    db.write(move |uow| {
                        uow.record(favorited(writer * 100 + round));
                        Ok(())
                    })
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    // Numbered while the writes go on, as a live listener would.
    let mut seen: Vec<StoredEvent> = Vec::new();
    let mut cursor = 0;
    let mut done = false;
    while !done {
        done = true;
        for writer in &writers {
            done &= writer.is_finished();
        }
        sequence(&test_db);
        let batch = all_after(&db, cursor).await;
        if let Some(last) = batch.last() {
            cursor = last.id.0;
        }
        seen.extend(batch);
    }
    sequence(&test_db);
    seen.extend(all_after(&db, cursor).await);
    let ids: Vec<i64> = seen.iter().map(|stored| stored.id.0).collect();
    assert_eq!(
        ids,
        (1..=200).collect::<Vec<_>>(),
        "every event once, in id order, no gap"
    );
}

#[tokio::test]
async fn pruning_drops_events_older_than_the_retention() {
    let (db, test_db) = database().await;
    db.write(|uow| {
        uow.record(favorited(1));
        Ok(())
    })
    .await
    .unwrap();
    sequence(&test_db);
    test_db.execute("UPDATE events SET recorded_at = '2026-01-01 00:00:00'");
    db.write(|uow| {
        uow.record(favorited(2));
        Ok(())
    })
    .await
    .unwrap();
    sequence(&test_db);
    let pruned = db
        .write(|uow| Ok(uow.events().prune(at(3_600))?))
        .await
        .unwrap()
        .value;
    assert_eq!(pruned, 1);
    let left: Vec<i64> = all_after(&db, 0)
        .await
        .iter()
        .map(|stored| stored.id.0)
        .collect();
    assert_eq!(left, [2]);
}
