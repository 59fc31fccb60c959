//! `Database::write` is all or nothing: a unit of work that fails part-way,
//! whether the closure gives up or the database rejects a statement, leaves
//! no trace; and a unit of work that meets `Busy` is run again.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failed step must fail the test loudly"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use conduit_application::error::{AppError, Cause};
use conduit_application::ports::{Database, UnitOfWork};
use conduit_domain::{Email, Slug, UserId, Username};
use conduit_infrastructure::db::DieselDatabase;
use conduit_infrastructure::db::schema::{article_tags, articles, favorites, tags, users};
use conduit_infrastructure::testing::{TestDatabase, at, new_article, new_user, tag_list};
use diesel::prelude::*;

async fn database() -> (DieselDatabase, TestDatabase) {
    let test_db = TestDatabase::new();
    let db = test_db.migrated().await;
    (db, test_db)
}

/// Rows per table, read outside the pool: `[users, articles, favorites,
/// article_tags]`, and every tag with its counter.
fn stored(test_db: &TestDatabase) -> ([i64; 4], Vec<(String, i64)>) {
    let mut conn = test_db.raw_connection();
    let counts = [
        users::table.count().get_result(&mut conn).unwrap(),
        articles::table.count().get_result(&mut conn).unwrap(),
        favorites::table.count().get_result(&mut conn).unwrap(),
        article_tags::table.count().get_result(&mut conn).unwrap(),
    ];
    let tags = tags::table
        .select((tags::name, tags::articles_count))
        .order(tags::name)
        .load(&mut conn)
        .unwrap();
    (counts, tags)
}

/// Inserts the article `news` by `author`, tags it `rust` and `fresh`,
/// favorites it, then fails with `Internal("boom")` when `fail` is set.
fn publish_news(
    author: UserId,
    fail: bool,
) -> impl FnMut(&mut dyn UnitOfWork) -> Result<(), AppError> + Send + 'static {
    move |uow| {
        let id = uow.articles().insert(&new_article("news", author))?;
        uow.tags()
            .replace_for_article(id, &tag_list(&["fresh", "rust"]))?;
        uow.articles().favorite(author, id, at(1))?;
        if fail {
            return Err(AppError::Internal(Cause::from("boom")));
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_write_that_fails_after_inserting_an_article_and_its_tags_stores_none_of_it() {
    let (db, test_db) = database().await;
    let alice = db
        .write(|uow| {
            let alice = uow.users().insert(&new_user("alice"))?.id;
            let old = uow.articles().insert(&new_article("old", alice))?;
            uow.tags().replace_for_article(old, &tag_list(&["rust"]))?;
            Ok(alice)
        })
        .await
        .unwrap()
        .value;
    let before = stored(&test_db);
    assert_eq!(before, ([1, 1, 0, 1], vec![("rust".to_owned(), 1)]));

    let result = db.write(publish_news(alice, true)).await;

    assert!(
        matches!(&result, Err(AppError::Internal(cause)) if cause.to_string() == "boom"),
        "{result:?}"
    );
    assert_eq!(
        stored(&test_db),
        before,
        "no article, favorite, tag link, tag or tag count of the failed write remains"
    );
    let (found, in_use) = db
        .read(|uow| {
            Ok((
                uow.articles().find_by_slug(&Slug::from_path("news"))?,
                uow.tags().in_use()?,
            ))
        })
        .await
        .unwrap();
    assert!(found.is_none());
    assert_eq!(in_use, ["rust"]);

    // The same write without the failure is stored, so the checks above
    // would have seen the rows had they been committed.
    db.write(publish_news(alice, false)).await.unwrap();
    assert_eq!(
        stored(&test_db),
        (
            [1, 2, 1, 3],
            vec![("fresh".to_owned(), 1), ("rust".to_owned(), 2)]
        )
    );
}

#[tokio::test]
async fn a_write_whose_later_insert_violates_a_unique_constraint_keeps_nothing_of_the_earlier_ones()
{
    let (db, test_db) = database().await;
    db.write(|uow| Ok(uow.users().insert(&new_user("alice"))?))
        .await
        .unwrap();
    let before = stored(&test_db);

    let result = db
        .write(|uow| {
            let bob = uow.users().insert(&new_user("bob"))?.id;
            let article = uow.articles().insert(&new_article("by-bob", bob))?;
            uow.tags()
                .replace_for_article(article, &tag_list(&["bobs"]))?;
            let mut impostor = new_user("impostor");
            impostor.email = Email::parse("ALICE@example.com").unwrap();
            uow.users().insert(&impostor)?;
            Ok(())
        })
        .await;

    assert!(
        matches!(result, Err(AppError::Conflict("email"))),
        "{result:?}"
    );
    assert_eq!(
        stored(&test_db),
        before,
        "bob, his article and tag are gone"
    );
    let bob = db
        .read(|uow| {
            Ok(uow
                .users()
                .find_by_username(&Username::parse("bob").unwrap())?)
        })
        .await
        .unwrap();
    assert!(bob.is_none());
}

#[tokio::test]
async fn a_write_that_meets_busy_is_run_again_and_only_the_successful_run_is_stored() {
    let (db, test_db) = database().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);

    let result = db
        .write(move |uow| {
            let run = counter.fetch_add(1, Ordering::SeqCst) + 1;
            uow.users().insert(&new_user(&format!("run{run}")))?;
            if run == 1 {
                return Err(AppError::Busy);
            }
            Ok(run)
        })
        .await;

    assert_eq!(result.unwrap().value, 2, "the result of the second run");
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let (first, second) = db
        .read(|uow| {
            Ok((
                uow.users()
                    .find_by_username(&Username::parse("run1").unwrap())?,
                uow.users()
                    .find_by_username(&Username::parse("run2").unwrap())?,
            ))
        })
        .await
        .unwrap();
    assert!(first.is_none(), "the busy run was rolled back");
    assert!(second.is_some());
    assert_eq!(stored(&test_db).0[0], 1);
}

#[tokio::test]
async fn a_write_that_stays_busy_gives_up_with_busy_after_three_retries() {
    let (db, _test_db) = database().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);

    let result = db
        .write(move |_uow| -> Result<(), AppError> {
            counter.fetch_add(1, Ordering::SeqCst);
            Err(AppError::Busy)
        })
        .await;

    assert!(matches!(result, Err(AppError::Busy)), "{result:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 4, "one run and three retries");
}

#[tokio::test]
async fn a_write_failing_with_another_error_is_not_run_again() {
    let (db, _test_db) = database().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);

    let result = db
        .write(move |_uow| -> Result<(), AppError> {
            counter.fetch_add(1, Ordering::SeqCst);
            Err(AppError::NotFound("article"))
        })
        .await;

    assert!(
        matches!(result, Err(AppError::NotFound("article"))),
        "{result:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn concurrent_writes_that_fail_or_panic_leave_the_others_whole() {
    let (db, test_db) = database().await;
    let db = Arc::new(db);
    let writes = (0..30).map(|i| {
        let db = Arc::clone(&db);
        tokio::spawn(async move {
            db.write(move |uow| {
                let user = uow.users().insert(&new_user(&format!("writer{i}")))?;
                match i % 3 {
                    0 => Ok(user.id),
                    1 => Err(AppError::Internal(Cause::from("fails after its insert"))),
                    _ => panic!("panics after its insert"),
                }
            })
            .await
        })
    });
    let mut succeeded = 0;
    for (i, write) in writes.enumerate() {
        let outcome = write.await.unwrap();
        assert_eq!(outcome.is_ok(), i % 3 == 0, "write {i}: {outcome:?}");
        succeeded += usize::from(outcome.is_ok());
    }
    assert_eq!(succeeded, 10);
    let (counts, _) = stored(&test_db);
    assert_eq!(
        counts[0], 10,
        "only the successful writes left users behind"
    );
    // The database still takes writes afterwards.
    let later = db
        .write(|uow| Ok(uow.users().insert(&new_user("later"))?.id))
        .await;
    assert!(later.is_ok(), "{later:?}");
}

#[tokio::test]
async fn two_writes_that_deadlock_both_succeed_the_loser_run_again() {
    use conduit_application::ports::UserChanges;

    let (db, _test_db) = database().await;
    let db = Arc::new(db);
    let ids = db
        .write(|uow| {
            Ok((
                uow.users().insert(&new_user("left"))?.id,
                uow.users().insert(&new_user("right"))?.id,
            ))
        })
        .await
        .unwrap()
        .value;
    // Each locks one row, pauses while the other locks the second, then
    // wants the other's row: PostgreSQL breaks the cycle with 40P01 in one
    // of them, which is run again. SQLite's one writer never interleaves
    // them, so there both simply pass.
    let runs = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = [(ids.0, ids.1), (ids.1, ids.0)]
        .into_iter()
        .map(|(first, second)| {
            let db = Arc::clone(&db);
            let runs = Arc::clone(&runs);
            tokio::spawn(async move {
                db.write(move |uow| {
                    let run = runs.fetch_add(1, Ordering::SeqCst);
                    let bio = UserChanges {
                        bio: Some(Some(format!("run {run}"))),
                        ..UserChanges::default()
                    };
                    uow.users().update(first, &bio)?;
                    if run < 2 {
                        std::thread::sleep(std::time::Duration::from_millis(300));
                    }
                    uow.users().update(second, &bio)?;
                    Ok(())
                })
                .await
            })
        })
        .collect();
    for writer in writers {
        let result = writer.await.unwrap();
        assert!(result.is_ok(), "{result:?}");
    }
    let expected = match conduit_infrastructure::testing::backend() {
        conduit_infrastructure::db::BackendKind::Postgres => 3,
        conduit_infrastructure::db::BackendKind::Sqlite => 2,
    };
    assert_eq!(runs.load(Ordering::SeqCst), expected);
}

#[tokio::test]
async fn a_full_sqlite_write_queue_refuses_at_once_and_skips_writes_nobody_waits_for() {
    use conduit_infrastructure::db::DbSettings;

    let test_db = TestDatabase::sqlite();
    let settings = DbSettings {
        writer_queue: 2,
        ..test_db.settings()
    };
    let db = Arc::new(test_db.open(settings).await);
    // Holds the writer for a while.
    let busy = {
        let db = Arc::clone(&db);
        tokio::spawn(async move {
            db.write(|_uow| {
                std::thread::sleep(std::time::Duration::from_millis(500));
                Ok(())
            })
            .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // A write whose requester gives up while it is queued.
    let abandoned = tokio::time::timeout(
        std::time::Duration::from_millis(50),
        db.write(|uow| Ok(uow.users().insert(&new_user("abandoned"))?)),
    )
    .await;
    assert!(abandoned.is_err(), "still queued when given up");
    let queued = {
        let db = Arc::clone(&db);
        tokio::spawn(async move {
            db.write(|uow| Ok(uow.users().insert(&new_user("queued"))?.id))
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    // Two places, both taken: refused at once.
    let refused = db
        .write(|uow| Ok(uow.users().insert(&new_user("refused"))?))
        .await;
    assert!(
        matches!(refused, Err(AppError::Unavailable(_))),
        "{refused:?}"
    );

    busy.await.unwrap().unwrap();
    queued.await.unwrap().unwrap();
    let names: Vec<String> = users::table
        .select(users::username)
        .order(users::username)
        .load(&mut test_db.raw_connection())
        .unwrap();
    assert_eq!(names, ["queued"], "the abandoned write was not run");
}
