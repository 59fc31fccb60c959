//! The Diesel repositories against a real, freshly migrated database (SQLite
//! by default, PostgreSQL with `CONDUIT_TEST_BACKEND=postgres`), driven
//! through the application's ports: `Database::read`/`write` and the
//! repositories of a `UnitOfWork`.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failed step must fail the test loudly"
)]

use std::collections::HashSet;

use conduit_application::error::AppError;
use conduit_application::ports::{
    ArticleChanges, ArticleFilter, Database, NewAccountToken, NewArticle, NewComment, PasswordHash,
    TokenDigest, TokenPurpose, UnitOfWork, UserChanges,
};
use conduit_application::uploads::NewUpload;
use conduit_application::views::{Account, CommentRef};
use conduit_domain::{
    ArticleId, Email, FileKey, ImageFormat, Paging, Slug, UploadId, UserId, Username, Variant,
};
use conduit_infrastructure::db::DieselDatabase;
use conduit_infrastructure::db::schema::{article_tags, comments, favorites, tags};
use conduit_infrastructure::testing::{TestDatabase, at, new_article, new_user, tag_list};
use diesel::prelude::*;

/// A migrated database; the pool comes first so that it closes before the
/// database is dropped.
async fn database() -> (DieselDatabase, TestDatabase) {
    let test_db = TestDatabase::new();
    let db = test_db.migrated().await;
    (db, test_db)
}

async fn write<T, F>(db: &DieselDatabase, work: F) -> T
where
    T: Send + 'static,
    F: FnMut(&mut dyn UnitOfWork) -> Result<T, AppError> + Send + 'static,
{
    db.write(work).await.unwrap().value
}

async fn read<T, F>(db: &DieselDatabase, work: F) -> T
where
    T: Send + 'static,
    F: FnOnce(&mut dyn UnitOfWork) -> Result<T, AppError> + Send + 'static,
{
    db.read(work).await.unwrap()
}

async fn insert_user(db: &DieselDatabase, name: &str) -> Account {
    let user = new_user(name);
    write(db, move |uow| Ok(uow.users().insert(&user)?)).await
}

async fn insert_article(db: &DieselDatabase, article: NewArticle, tags: &[&str]) -> ArticleId {
    let tags = tag_list(tags);
    write(db, move |uow| {
        let id = uow.articles().insert(&article)?;
        uow.tags().replace_for_article(id, &tags)?;
        Ok(id)
    })
    .await
}

fn username(name: &str) -> Username {
    Username::parse(name).unwrap()
}

fn email(address: &str) -> Email {
    Email::parse(address).unwrap()
}

fn slug(value: &str) -> Slug {
    Slug::from_path(value)
}

fn paging(limit: i64, offset: i64) -> Paging {
    Paging::new(Some(limit), Some(offset)).unwrap()
}

fn filter(tag: Option<&str>, author: Option<&str>, favorited_by: Option<&str>) -> ArticleFilter {
    ArticleFilter {
        tag: tag.map(str::to_owned),
        author: author.map(str::to_owned),
        favorited_by: favorited_by.map(str::to_owned),
    }
}

/// The slugs of one list page, and the total it reports.
async fn list(db: &DieselDatabase, filter: ArticleFilter, paging: Paging) -> (Vec<String>, u64) {
    let page = read(db, move |uow| Ok(uow.articles().list(&filter, paging)?)).await;
    let slugs = page.items.into_iter().map(|article| article.slug).collect();
    (slugs, page.total)
}

async fn feed(db: &DieselDatabase, reader: UserId, paging: Paging) -> (Vec<String>, u64) {
    let page = read(db, move |uow| Ok(uow.articles().feed(reader, paging)?)).await;
    let slugs = page.items.into_iter().map(|article| article.slug).collect();
    (slugs, page.total)
}

async fn favorites_count(db: &DieselDatabase, article: &str) -> i64 {
    let slug = slug(article);
    read(db, move |uow| Ok(uow.articles().find_by_slug(&slug)?))
        .await
        .unwrap()
        .summary
        .favorites_count
}

/// Every tag row with its counter, by name: what `in_use` does not show.
fn tag_counts(test_db: &TestDatabase) -> Vec<(String, i64)> {
    tags::table
        .select((tags::name, tags::articles_count))
        .order(tags::name)
        .load(&mut test_db.raw_connection())
        .unwrap()
}

/// How many comments, favorites and tag links the tables hold for `article`.
fn rows_of(test_db: &TestDatabase, article: ArticleId) -> [i64; 3] {
    let mut conn = test_db.raw_connection();
    [
        comments::table
            .filter(comments::article_id.eq(article.0))
            .count()
            .get_result(&mut conn)
            .unwrap(),
        favorites::table
            .filter(favorites::article_id.eq(article.0))
            .count()
            .get_result(&mut conn)
            .unwrap(),
        article_tags::table
            .filter(article_tags::article_id.eq(article.0))
            .count()
            .get_result(&mut conn)
            .unwrap(),
    ]
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| (*value).to_owned()).collect()
}

// ---------------------------------------------------------------- users

#[tokio::test]
async fn an_inserted_user_is_found_by_id_and_by_username_in_any_case() {
    let (db, _test_db) = database().await;

    let alice = insert_user(&db, "Alice").await;

    assert_eq!(alice.username, "Alice");
    assert_eq!(alice.email, "Alice@example.com");
    assert_eq!((alice.bio.as_deref(), alice.image.as_deref()), (None, None));
    let id = alice.id;
    let found = read(&db, move |uow| {
        Ok((
            uow.users().find_by_id(id)?,
            uow.users().find_by_username(&username("aLICE"))?,
            uow.users().find_by_username(&username("bob"))?,
            uow.users().find_by_id(UserId(id.0 + 1000))?,
            uow.users().token_version(id)?,
            uow.users().token_version(UserId(id.0 + 1000))?,
        ))
    })
    .await;
    assert_eq!(found.0.as_ref(), Some(&alice));
    assert_eq!(found.1.as_ref(), Some(&alice));
    assert_eq!(found.2, None);
    assert_eq!(found.3, None);
    assert_eq!(found.4, Some(0), "a new user's tokens are of version 0");
    assert_eq!(found.5, None);
}

#[tokio::test]
async fn revoking_tokens_increments_the_users_version_and_no_one_elses() {
    let (db, _test_db) = database().await;
    let alice = insert_user(&db, "Alice").await.id;
    let bob = insert_user(&db, "Bob").await.id;
    let first = write(&db, move |uow| Ok(uow.users().revoke_tokens(alice)?)).await;
    let second = write(&db, move |uow| Ok(uow.users().revoke_tokens(alice)?)).await;
    assert_eq!((first, second), (1, 2));
    let versions = read(&db, move |uow| {
        Ok((
            uow.users().token_version(alice)?,
            uow.users().token_version(bob)?,
            uow.users()
                .find_by_id(alice)?
                .map(|account| account.token_version),
        ))
    })
    .await;
    assert_eq!(versions, (Some(2), Some(0), Some(2)));
}

fn one_time(user: UserId, purpose: TokenPurpose, digest: &str, expires: i64) -> NewAccountToken {
    NewAccountToken {
        user,
        purpose,
        digest: TokenDigest(digest.to_owned()),
        now: at(0),
        expires_at: at(expires),
    }
}

#[tokio::test]
async fn a_one_time_token_is_used_once_for_its_purpose_before_it_expires() {
    let (db, _test_db) = database().await;
    let alice = insert_user(&db, "alice").await.id;
    write(&db, move |uow| {
        let tokens = uow.account_tokens();
        tokens.insert(&one_time(alice, TokenPurpose::VerifyEmail, "verify", 600))?;
        tokens.insert(&one_time(alice, TokenPurpose::ResetPassword, "reset", 600))?;
        Ok(())
    })
    .await;
    let digest = |value: &str| TokenDigest(value.to_owned());
    let outcomes = write(&db, move |uow| {
        let tokens = uow.account_tokens();
        Ok((
            // Another purpose does not match.
            tokens.consume(&digest("verify"), TokenPurpose::ResetPassword, at(10))?,
            // Expired at 600.
            tokens.is_usable(&digest("reset"), TokenPurpose::ResetPassword, at(600))?,
            tokens.is_usable(&digest("reset"), TokenPurpose::ResetPassword, at(10))?,
            tokens.consume(&digest("verify"), TokenPurpose::VerifyEmail, at(10))?,
            tokens.consume(&digest("verify"), TokenPurpose::VerifyEmail, at(11))?,
            tokens.consume(&digest("unknown"), TokenPurpose::VerifyEmail, at(11))?,
            tokens.consume(&digest("reset"), TokenPurpose::ResetPassword, at(600))?,
        ))
    })
    .await;
    assert_eq!(
        outcomes,
        (None, false, true, Some(alice), None, None, None),
        "wrong purpose, expired, usable, first use, second use, unknown, expired"
    );
}

#[tokio::test]
async fn revoking_one_time_tokens_spares_other_purposes_and_users_and_pruning_takes_the_expired() {
    let (db, _test_db) = database().await;
    let alice = insert_user(&db, "alice").await.id;
    let bob = insert_user(&db, "bob").await.id;
    write(&db, move |uow| {
        let tokens = uow.account_tokens();
        tokens.insert(&one_time(alice, TokenPurpose::VerifyEmail, "a1", 600))?;
        tokens.insert(&one_time(alice, TokenPurpose::VerifyEmail, "a2", 600))?;
        tokens.insert(&one_time(alice, TokenPurpose::Unsubscribe, "a3", 600))?;
        tokens.insert(&one_time(bob, TokenPurpose::VerifyEmail, "b1", 60))?;
        Ok(())
    })
    .await;
    let revoked = write(&db, move |uow| {
        Ok(uow
            .account_tokens()
            .revoke(alice, TokenPurpose::VerifyEmail, at(5))?)
    })
    .await;
    assert_eq!(revoked, 2);
    let digest = |value: &str| TokenDigest(value.to_owned());
    let left = read(&db, move |uow| {
        let tokens = uow.account_tokens();
        Ok((
            tokens.is_usable(&digest("a1"), TokenPurpose::VerifyEmail, at(6))?,
            tokens.is_usable(&digest("a3"), TokenPurpose::Unsubscribe, at(6))?,
            tokens.is_usable(&digest("b1"), TokenPurpose::VerifyEmail, at(6))?,
        ))
    })
    .await;
    assert_eq!(left, (false, true, true));
    let pruned = write(&db, move |uow| Ok(uow.account_tokens().prune(at(100))?)).await;
    assert_eq!(pruned, 1, "only bob's token expired before 100");
}

#[tokio::test]
async fn followers_are_walked_in_id_order_one_page_at_a_time() {
    let (db, _test_db) = database().await;
    let author = insert_user(&db, "author").await.id;
    let mut followers = Vec::new();
    for name in ["fan1", "fan2", "fan3", "fan4", "fan5"] {
        followers.push(insert_user(&db, name).await.id);
    }
    let stranger = insert_user(&db, "stranger").await.id;
    let all = followers.clone();
    write(&db, move |uow| {
        for follower in &all {
            uow.follows().follow(*follower, author, at(0))?;
        }
        uow.follows().follow(author, stranger, at(0))?;
        Ok(())
    })
    .await;
    let mut walked = Vec::new();
    let mut after = None;
    loop {
        let page = read(&db, move |uow| {
            Ok(uow.follows().followers(author, after, 2)?)
        })
        .await;
        walked.extend(page.iter().copied());
        if page.len() < 2 {
            break;
        }
        after = page.last().copied();
    }
    assert_eq!(walked, followers);
}

fn new_upload(owner: UserId, digit: char, size: u64) -> NewUpload {
    NewUpload {
        owner,
        key: FileKey::new(&digit.to_string().repeat(64), ImageFormat::Png).unwrap(),
        size,
        width: 640,
        height: 480,
        now: at(0),
    }
}

#[tokio::test]
async fn uploads_are_one_row_per_owner_and_file_and_count_against_their_owner() {
    let (db, _test_db) = database().await;
    let alice = insert_user(&db, "alice").await.id;
    let bob = insert_user(&db, "bob").await.id;
    let (first, again, bobs, other) = write(&db, move |uow| {
        let uploads = uow.uploads();
        Ok((
            uploads.insert(&new_upload(alice, 'a', 100))?,
            uploads.insert(&new_upload(alice, 'a', 100))?,
            uploads.insert(&new_upload(bob, 'a', 100))?,
            uploads.insert(&new_upload(alice, 'b', 250))?,
        ))
    })
    .await;
    assert!(first.1 && !again.1 && bobs.1 && other.1, "created flags");
    assert_eq!(
        first.0, again.0,
        "the same owner and file is the same upload"
    );
    assert_ne!(first.0.id, bobs.0.id);
    let thumb = FileKey::new(&"c".repeat(64), ImageFormat::Png).unwrap();
    let id = first.0.id;
    let (found, alices, bobs_bytes, nobody) = write(&db, move |uow| {
        uow.uploads().set_variant(id, Variant::Thumb, &thumb)?;
        Ok((
            uow.uploads().find(id)?,
            uow.uploads().bytes_of(alice)?,
            uow.uploads().bytes_of(bob)?,
            uow.uploads().find(UploadId(9999))?,
        ))
    })
    .await;
    let found = found.unwrap();
    assert_eq!(
        found.thumb.as_ref().map(FileKey::as_str),
        Some("c".repeat(64) + ".png").as_deref()
    );
    assert_eq!(found.medium, None);
    assert_eq!((found.width, found.height, found.size), (640, 480, 100));
    assert_eq!((alices, bobs_bytes), (350, 100));
    assert_eq!(nobody, None);
}

#[tokio::test]
async fn credentials_are_found_by_email_in_any_case_with_the_stored_hash() {
    let (db, _test_db) = database().await;
    let alice = insert_user(&db, "alice").await;

    let (found, missing) = read(&db, |uow| {
        Ok((
            uow.users().find_credentials(&email("ALICE@Example.COM"))?,
            uow.users().find_credentials(&email("bob@example.com"))?,
        ))
    })
    .await;

    let (account, hash) = found.unwrap();
    assert_eq!(account, alice);
    assert_eq!(hash.as_str(), "hash-of-alice");
    assert!(missing.is_none());
}

#[tokio::test]
async fn email_and_username_taken_ignore_case_and_the_excepted_user() {
    let (db, _test_db) = database().await;
    let alice = insert_user(&db, "alice").await.id;
    let bob = insert_user(&db, "bob").await.id;

    let answers = read(&db, move |uow| {
        let users = uow.users();
        let address = email("ALICE@EXAMPLE.com");
        let name = username("ALICE");
        Ok([
            users.email_taken(&address, None)?,
            users.email_taken(&address, Some(bob))?,
            users.email_taken(&address, Some(alice))?,
            users.email_taken(&email("carol@example.com"), None)?,
            users.username_taken(&name, None)?,
            users.username_taken(&name, Some(bob))?,
            users.username_taken(&name, Some(alice))?,
            users.username_taken(&username("carol"), None)?,
        ])
    })
    .await;

    assert_eq!(
        answers,
        [true, true, false, false, true, true, false, false],
        "[email: none, except bob, except alice, unknown; username: the same]"
    );
}

#[tokio::test]
async fn updating_a_user_changes_the_given_fields_and_can_clear_bio_and_image() {
    let (db, _test_db) = database().await;
    let alice = insert_user(&db, "alice").await.id;
    let bob = insert_user(&db, "bob").await;

    let changed = write(&db, move |uow| {
        Ok(uow.users().update(
            alice,
            &UserChanges {
                username: Some(username("Alicia")),
                email: Some(email("Alicia@Example.com")),
                password_hash: Some(PasswordHash::new("new-hash".to_owned())),
                bio: Some(Some("I write".to_owned())),
                image: Some(Some("https://example.com/a.png".to_owned())),
                email_verified: Some(true),
                email_notifications: Some(false),
                now: Some(at(60)),
            },
        )?)
    })
    .await;
    assert_eq!(
        changed,
        Account {
            id: alice,
            username: "Alicia".to_owned(),
            email: "Alicia@Example.com".to_owned(),
            bio: Some("I write".to_owned()),
            image: Some("https://example.com/a.png".to_owned()),
            token_version: 0,
            email_verified: true,
            email_notifications: false,
        }
    );
    let (by_new_name, by_old_name, credentials) = read(&db, |uow| {
        Ok((
            uow.users().find_by_username(&username("alicia"))?,
            uow.users().find_by_username(&username("alice"))?,
            uow.users().find_credentials(&email("alicia@example.com"))?,
        ))
    })
    .await;
    assert_eq!(by_new_name.as_ref(), Some(&changed));
    assert_eq!(by_old_name, None, "the old name no longer finds the user");
    assert_eq!(credentials.unwrap().1.as_str(), "new-hash");

    let cleared = write(&db, move |uow| {
        Ok(uow.users().update(
            alice,
            &UserChanges {
                bio: Some(None),
                image: Some(None),
                now: Some(at(120)),
                ..UserChanges::default()
            },
        )?)
    })
    .await;
    assert_eq!(
        cleared,
        Account {
            bio: None,
            image: None,
            ..changed
        }
    );
    let bob_id = bob.id;
    let bob_after = read(&db, move |uow| Ok(uow.users().find_by_id(bob_id)?)).await;
    assert_eq!(bob_after, Some(bob), "other users are untouched");
}

#[tokio::test]
async fn an_update_without_changes_leaves_the_user_as_it_is() {
    let (db, _test_db) = database().await;
    let alice = insert_user(&db, "alice").await;
    let id = alice.id;

    let unchanged = db
        .write(move |uow| Ok(uow.users().update(id, &UserChanges::default())?))
        .await;

    assert_eq!(unchanged.unwrap().value, alice);
}

#[tokio::test]
async fn inserting_an_email_taken_in_another_case_is_a_conflict_on_email() {
    let (db, _test_db) = database().await;
    insert_user(&db, "alice").await;
    let mut duplicate = new_user("someone");
    duplicate.email = email("ALICE@example.com");

    let result = db
        .write(move |uow| Ok(uow.users().insert(&duplicate)?))
        .await;

    assert!(
        matches!(result, Err(AppError::Conflict("email"))),
        "{result:?}"
    );
}

#[tokio::test]
async fn inserting_a_username_taken_in_another_case_is_a_conflict_on_username() {
    let (db, _test_db) = database().await;
    insert_user(&db, "alice").await;
    let mut duplicate = new_user("someone");
    duplicate.username = username("ALICE");

    let result = db
        .write(move |uow| Ok(uow.users().insert(&duplicate)?))
        .await;

    assert!(
        matches!(result, Err(AppError::Conflict("username"))),
        "{result:?}"
    );
}

#[tokio::test]
async fn updating_a_user_to_a_taken_email_or_username_is_a_conflict() {
    let (db, _test_db) = database().await;
    insert_user(&db, "alice").await;
    let bob = insert_user(&db, "bob").await.id;

    let email_result = db
        .write(move |uow| {
            Ok(uow.users().update(
                bob,
                &UserChanges {
                    email: Some(email("Alice@Example.com")),
                    now: Some(at(1)),
                    ..UserChanges::default()
                },
            )?)
        })
        .await;
    let username_result = db
        .write(move |uow| {
            Ok(uow.users().update(
                bob,
                &UserChanges {
                    username: Some(username("ALICE")),
                    now: Some(at(1)),
                    ..UserChanges::default()
                },
            )?)
        })
        .await;

    assert!(
        matches!(email_result, Err(AppError::Conflict("email"))),
        "{email_result:?}"
    );
    assert!(
        matches!(username_result, Err(AppError::Conflict("username"))),
        "{username_result:?}"
    );
}

// ---------------------------------------------------------------- follows

#[tokio::test]
async fn following_twice_is_following_once_and_unfollowing_is_idempotent() {
    let (db, _test_db) = database().await;
    let alice = insert_user(&db, "alice").await.id;
    let bob = insert_user(&db, "bob").await.id;
    let follows = |follower, followee| {
        let db = &db;
        async move {
            read(db, move |uow| {
                Ok(uow
                    .follows()
                    .following_among(follower, &[followee])?
                    .contains(&followee))
            })
            .await
        }
    };

    let changed = write(&db, move |uow| {
        Ok((
            uow.follows().follow(alice, bob, at(1))?,
            uow.follows().follow(alice, bob, at(2))?,
        ))
    })
    .await;
    assert_eq!(
        changed,
        (true, false),
        "only the first follow changes anything"
    );
    assert!(follows(alice, bob).await, "alice follows bob");
    assert!(!follows(bob, alice).await, "not the reverse");

    let changed = write(&db, move |uow| {
        Ok((
            uow.follows().unfollow(alice, bob)?,
            uow.follows().unfollow(alice, bob)?,
        ))
    })
    .await;
    assert_eq!(
        changed,
        (true, false),
        "only the first unfollow changes anything"
    );
    assert!(!follows(alice, bob).await);
}

#[tokio::test]
async fn following_among_returns_the_candidates_the_follower_follows() {
    let (db, _test_db) = database().await;
    let alice = insert_user(&db, "alice").await.id;
    let bob = insert_user(&db, "bob").await.id;
    let carol = insert_user(&db, "carol").await.id;
    let dave = insert_user(&db, "dave").await.id;
    write(&db, move |uow| {
        uow.follows().follow(alice, bob, at(1))?;
        uow.follows().follow(alice, carol, at(1))?;
        uow.follows().follow(dave, alice, at(1))?;
        Ok(())
    })
    .await;

    let (among, of_dave, none) = read(&db, move |uow| {
        Ok((
            uow.follows().following_among(alice, &[bob, dave, alice])?,
            uow.follows().following_among(dave, &[alice, bob, carol])?,
            uow.follows().following_among(alice, &[])?,
        ))
    })
    .await;

    assert_eq!(among, HashSet::from([bob]));
    assert_eq!(of_dave, HashSet::from([alice]));
    assert!(none.is_empty());
}

// ---------------------------------------------------------------- articles

#[tokio::test]
async fn an_inserted_article_is_found_by_slug_with_its_author_and_tags_in_alphabetical_order() {
    let (db, _test_db) = database().await;
    let alice = insert_user(&db, "alice").await;
    let id = insert_article(
        &db,
        NewArticle {
            now: at(30),
            ..new_article("how-to-train", alice.id)
        },
        &["zeta", "alpha", "mid"],
    )
    .await;

    let (record, article_ref, exists, missing, missing_exists) = read(&db, |uow| {
        Ok((
            uow.articles().find_by_slug(&slug("how-to-train"))?,
            uow.articles().find_ref(&slug("how-to-train"))?,
            uow.articles().slug_exists(&slug("how-to-train"))?,
            uow.articles().find_by_slug(&slug("nothing-here"))?,
            uow.articles().slug_exists(&slug("nothing-here"))?,
        ))
    })
    .await;

    let record = record.unwrap();
    let summary = &record.summary;
    assert_eq!(summary.id, id);
    assert_eq!(summary.slug, "how-to-train");
    assert_eq!(summary.title, "Title of how-to-train");
    assert_eq!(summary.description, "Description of how-to-train");
    assert_eq!(record.body, "Body of how-to-train");
    assert_eq!(summary.tags, strings(&["alpha", "mid", "zeta"]));
    assert_eq!((summary.created_at, summary.updated_at), (at(30), at(30)));
    assert_eq!(summary.favorites_count, 0);
    assert_eq!(summary.author, alice.into());
    let article_ref = article_ref.unwrap();
    assert_eq!(
        (
            article_ref.id,
            article_ref.author_id,
            article_ref.slug.as_str()
        ),
        (id, summary.author.id, "how-to-train")
    );
    assert!(exists);
    assert!(missing.is_none());
    assert!(!missing_exists);
}

#[tokio::test]
async fn inserting_an_article_with_a_taken_slug_is_a_conflict_on_slug() {
    let (db, _test_db) = database().await;
    let alice = insert_user(&db, "alice").await.id;
    insert_article(&db, new_article("taken", alice), &[]).await;

    let result = db
        .write(move |uow| Ok(uow.articles().insert(&new_article("taken", alice))?))
        .await;

    assert!(
        matches!(result, Err(AppError::Conflict("slug"))),
        "{result:?}"
    );
}

#[tokio::test]
async fn updating_an_article_changes_the_given_fields_and_updated_at_only() {
    let (db, _test_db) = database().await;
    let alice = insert_user(&db, "alice").await.id;
    let id = insert_article(&db, new_article("old-title", alice), &["rust"]).await;
    insert_article(&db, new_article("other", alice), &[]).await;

    write(&db, move |uow| {
        uow.articles().update(
            id,
            &ArticleChanges {
                slug: Some(slug("new-title")),
                title: Some("New title".to_owned()),
                ..ArticleChanges::default()
            },
            at(90),
        )?;
        Ok(())
    })
    .await;
    let taken = db
        .write(move |uow| {
            uow.articles().update(
                id,
                &ArticleChanges {
                    slug: Some(slug("other")),
                    ..ArticleChanges::default()
                },
                at(95),
            )?;
            Ok(())
        })
        .await;

    assert!(
        matches!(taken, Err(AppError::Conflict("slug"))),
        "{taken:?}"
    );
    let (old, new) = read(&db, |uow| {
        Ok((
            uow.articles().find_by_slug(&slug("old-title"))?,
            uow.articles().find_by_slug(&slug("new-title"))?,
        ))
    })
    .await;
    assert!(old.is_none(), "the old slug no longer finds the article");
    let new = new.unwrap();
    assert_eq!(new.summary.id, id);
    assert_eq!(new.summary.title, "New title");
    assert_eq!(new.summary.description, "Description of old-title");
    assert_eq!(new.body, "Body of old-title");
    assert_eq!(new.summary.tags, strings(&["rust"]));
    assert_eq!(
        (new.summary.created_at, new.summary.updated_at),
        (at(0), at(90))
    );
}

#[tokio::test]
async fn deleting_an_article_removes_its_comments_favorites_and_tag_links_and_uncounts_its_tags() {
    let (db, test_db) = database().await;
    let alice = insert_user(&db, "alice").await.id;
    let bob = insert_user(&db, "bob").await.id;
    let doomed = insert_article(&db, new_article("doomed", alice), &["only-here", "shared"]).await;
    let kept = insert_article(&db, new_article("kept", alice), &["shared"]).await;
    write(&db, move |uow| {
        for article in [doomed, kept] {
            uow.articles().favorite(bob, article, at(1))?;
            uow.comments().insert(&NewComment {
                article_id: article,
                author_id: bob,
                body: "Nice".to_owned(),
                now: at(2),
            })?;
        }
        uow.articles().favorite(alice, doomed, at(1))?;
        Ok(())
    })
    .await;

    write(&db, move |uow| Ok(uow.articles().delete(doomed)?)).await;

    let (gone, still, in_use, favorited) = read(&db, move |uow| {
        Ok((
            uow.articles().find_by_slug(&slug("doomed"))?,
            uow.articles().find_by_slug(&slug("kept"))?,
            uow.tags().in_use()?,
            uow.articles().favorited_among(bob, &[doomed, kept])?,
        ))
    })
    .await;
    assert!(gone.is_none());
    assert_eq!(still.unwrap().summary.favorites_count, 1);
    assert_eq!(in_use, strings(&["shared"]));
    assert_eq!(favorited, HashSet::from([kept]));
    assert_eq!(
        rows_of(&test_db, doomed),
        [0, 0, 0],
        "comments, favorites, tag links"
    );
    assert_eq!(
        rows_of(&test_db, kept),
        [1, 1, 1],
        "the other article keeps its own"
    );
    assert_eq!(
        tag_counts(&test_db),
        [("only-here".to_owned(), 0), ("shared".to_owned(), 1)]
    );
}

/// Five articles, newest last: a1 (alice; rust), a2 (bob; rust, web),
/// a3 (alice; web), a4 (carol; no tags), a5 (bob; rust). Carol favorites a1,
/// a2 and a5; alice favorites a2. Dave follows alice and carol.
async fn catalog() -> (DieselDatabase, TestDatabase, [UserId; 4]) {
    let (db, test_db) = database().await;
    let users = write(&db, |uow| {
        let alice = uow.users().insert(&new_user("alice"))?.id;
        let bob = uow.users().insert(&new_user("bob"))?.id;
        let carol = uow.users().insert(&new_user("carol"))?.id;
        let dave = uow.users().insert(&new_user("dave"))?.id;
        let articles: [(&str, UserId, &[&str]); 5] = [
            ("a1", alice, &["rust"]),
            ("a2", bob, &["rust", "web"]),
            ("a3", alice, &["web"]),
            ("a4", carol, &[]),
            ("a5", bob, &["rust"]),
        ];
        let mut article_ids = Vec::new();
        for ((slug, author, tags), second) in articles.into_iter().zip(1..) {
            let id = uow.articles().insert(&NewArticle {
                now: at(second),
                ..new_article(slug, author)
            })?;
            uow.tags().replace_for_article(id, &tag_list(tags))?;
            article_ids.push(id);
        }
        for (user, article) in [(carol, 0), (carol, 1), (carol, 4), (alice, 1)] {
            uow.articles()
                .favorite(user, article_ids[article], at(10))?;
        }
        uow.follows().follow(dave, alice, at(10))?;
        uow.follows().follow(dave, carol, at(10))?;
        Ok([alice, bob, carol, dave])
    })
    .await;
    (db, test_db, users)
}

#[tokio::test]
async fn a_list_without_filters_shows_every_article_newest_first_with_tags_authors_and_counts() {
    let (db, _test_db, [alice, bob, carol, _]) = catalog().await;

    let page = read(&db, |uow| {
        Ok(uow
            .articles()
            .list(&ArticleFilter::default(), Paging::default())?)
    })
    .await;

    assert_eq!(page.total, 5);
    let shown: Vec<_> = page
        .items
        .iter()
        .map(|article| {
            (
                article.slug.as_str(),
                article.author.id,
                article.tags.clone(),
                article.favorites_count,
                article.created_at,
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("a5", bob, strings(&["rust"]), 1, at(5)),
            ("a4", carol, strings(&[]), 0, at(4)),
            ("a3", alice, strings(&["web"]), 0, at(3)),
            ("a2", bob, strings(&["rust", "web"]), 2, at(2)),
            ("a1", alice, strings(&["rust"]), 1, at(1)),
        ]
    );
    assert_eq!(page.items[0].author.username, "bob");
}

#[tokio::test]
async fn a_list_filters_by_tag_by_author_and_by_favoriter_ignoring_the_case_of_names() {
    let (db, _test_db, _) = catalog().await;
    let all = paging(20, 0);

    assert_eq!(
        list(&db, filter(Some("rust"), None, None), all).await,
        (strings(&["a5", "a2", "a1"]), 3)
    );
    assert_eq!(
        list(&db, filter(Some("web"), None, None), all).await,
        (strings(&["a3", "a2"]), 2)
    );
    assert_eq!(
        list(&db, filter(None, Some("ALICE"), None), all).await,
        (strings(&["a3", "a1"]), 2)
    );
    assert_eq!(
        list(&db, filter(None, None, Some("Carol")), all).await,
        (strings(&["a5", "a2", "a1"]), 3)
    );
}

#[tokio::test]
async fn list_filters_combine_with_and() {
    let (db, _test_db, _) = catalog().await;
    let all = paging(20, 0);

    assert_eq!(
        list(&db, filter(Some("rust"), Some("bob"), None), all).await,
        (strings(&["a5", "a2"]), 2)
    );
    assert_eq!(
        list(&db, filter(Some("rust"), None, Some("alice")), all).await,
        (strings(&["a2"]), 1)
    );
    assert_eq!(
        list(&db, filter(None, Some("alice"), Some("carol")), all).await,
        (strings(&["a1"]), 1)
    );
    assert_eq!(
        list(&db, filter(Some("web"), Some("bob"), Some("carol")), all).await,
        (strings(&["a2"]), 1)
    );
    assert_eq!(
        list(&db, filter(Some("web"), Some("carol"), Some("carol")), all).await,
        (strings(&[]), 0)
    );
}

#[tokio::test]
async fn a_list_naming_an_unknown_tag_author_or_favoriter_is_empty() {
    let (db, _test_db, _) = catalog().await;
    let all = paging(20, 0);

    for unknown in [
        filter(Some("cobol"), None, None),
        filter(None, Some("mallory"), None),
        filter(None, None, Some("mallory")),
        filter(Some("rust"), Some("mallory"), None),
    ] {
        assert_eq!(
            list(&db, unknown.clone(), all).await,
            (strings(&[]), 0),
            "{unknown:?}"
        );
    }
}

#[tokio::test]
async fn a_list_pages_with_limit_and_offset_and_counts_every_match() {
    let (db, _test_db, _) = catalog().await;
    let everything = ArticleFilter::default();

    assert_eq!(
        list(&db, everything.clone(), paging(2, 0)).await,
        (strings(&["a5", "a4"]), 5)
    );
    assert_eq!(
        list(&db, everything.clone(), paging(2, 1)).await,
        (strings(&["a4", "a3"]), 5)
    );
    assert_eq!(
        list(&db, everything.clone(), paging(2, 4)).await,
        (strings(&["a1"]), 5)
    );
    assert_eq!(
        list(&db, everything, paging(2, 5)).await,
        (strings(&[]), 5),
        "past the end: no items, but still the total"
    );
    assert_eq!(
        list(&db, filter(Some("rust"), None, None), paging(1, 1)).await,
        (strings(&["a2"]), 3)
    );
}

#[tokio::test]
async fn the_feed_shows_only_articles_by_followed_authors_newest_first() {
    let (db, _test_db, [alice, _, _, dave]) = catalog().await;

    assert_eq!(
        feed(&db, dave, paging(20, 0)).await,
        (strings(&["a4", "a3", "a1"]), 3)
    );
    assert_eq!(feed(&db, dave, paging(1, 1)).await, (strings(&["a3"]), 3));
    assert_eq!(
        feed(&db, alice, paging(20, 0)).await,
        (strings(&[]), 0),
        "alice follows nobody"
    );
}

#[tokio::test]
async fn favoriting_twice_counts_once_and_unfavoriting_twice_uncounts_once() {
    let (db, test_db) = database().await;
    let alice = insert_user(&db, "alice").await.id;
    let bob = insert_user(&db, "bob").await.id;
    let article = insert_article(&db, new_article("liked", alice), &[]).await;
    let stored_favorites = |test_db: &TestDatabase| -> i64 {
        favorites::table
            .filter(favorites::article_id.eq(article.0))
            .count()
            .get_result(&mut test_db.raw_connection())
            .unwrap()
    };

    write(&db, move |uow| {
        uow.articles().favorite(bob, article, at(1))?;
        uow.articles().favorite(bob, article, at(2))?;
        Ok(())
    })
    .await;
    assert_eq!(favorites_count(&db, "liked").await, 1);
    write(&db, move |uow| {
        Ok(uow.articles().favorite(alice, article, at(3))?)
    })
    .await;
    assert_eq!(favorites_count(&db, "liked").await, 2);
    assert_eq!(stored_favorites(&test_db), 2);

    write(&db, move |uow| {
        uow.articles().unfavorite(bob, article)?;
        uow.articles().unfavorite(bob, article)?;
        Ok(())
    })
    .await;
    assert_eq!(favorites_count(&db, "liked").await, 1);
    assert_eq!(stored_favorites(&test_db), 1);
    let (of_bob, of_alice) = read(&db, move |uow| {
        Ok((
            uow.articles().favorited_among(bob, &[article])?,
            uow.articles().favorited_among(alice, &[article])?,
        ))
    })
    .await;
    assert!(of_bob.is_empty());
    assert_eq!(of_alice, HashSet::from([article]));
}

#[tokio::test]
async fn favorited_among_returns_the_candidates_the_user_favorited() {
    let (db, _test_db, [alice, bob, carol, _]) = catalog().await;
    let ids = read(&db, |uow| {
        let page = uow
            .articles()
            .list(&ArticleFilter::default(), Paging::default())?;
        Ok(page
            .items
            .into_iter()
            .map(|article| article.id)
            .collect::<Vec<_>>())
    })
    .await;
    // Newest first: ids[0] is a5, ids[4] is a1.
    let (a5, a4, a2, a1) = (ids[0], ids[1], ids[3], ids[4]);

    let (of_carol, of_alice, of_bob, none) = read(&db, move |uow| {
        Ok((
            uow.articles().favorited_among(carol, &[a1, a4, a5])?,
            uow.articles().favorited_among(alice, &[a1, a2, a5])?,
            uow.articles().favorited_among(bob, &[a1, a2, a4, a5])?,
            uow.articles().favorited_among(carol, &[])?,
        ))
    })
    .await;

    assert_eq!(of_carol, HashSet::from([a1, a5]));
    assert_eq!(of_alice, HashSet::from([a2]));
    assert!(of_bob.is_empty());
    assert!(none.is_empty());
}

// ---------------------------------------------------------------- tags

#[tokio::test]
async fn replacing_the_tags_of_an_article_adds_and_removes_links_and_keeps_counts() {
    let (db, test_db) = database().await;
    let alice = insert_user(&db, "alice").await.id;
    let article = insert_article(&db, new_article("tagged", alice), &["a", "b"]).await;
    let tags_of = |db: &DieselDatabase| {
        let db = db.clone();
        async move {
            read(&db, |uow| {
                Ok(uow.articles().find_by_slug(&slug("tagged"))?)
            })
            .await
            .unwrap()
            .summary
            .tags
        }
    };
    assert_eq!(tags_of(&db).await, strings(&["a", "b"]));

    let replace = |names: &'static [&'static str]| {
        let db = db.clone();
        async move {
            let tags = tag_list(names);
            write(&db, move |uow| {
                Ok(uow.tags().replace_for_article(article, &tags)?)
            })
            .await;
        }
    };
    replace(&["b", "c"]).await;
    assert_eq!(tags_of(&db).await, strings(&["b", "c"]));
    assert_eq!(
        tag_counts(&test_db),
        [
            ("a".to_owned(), 0),
            ("b".to_owned(), 1),
            ("c".to_owned(), 1)
        ]
    );

    replace(&["b", "c"]).await;
    assert_eq!(
        tag_counts(&test_db),
        [
            ("a".to_owned(), 0),
            ("b".to_owned(), 1),
            ("c".to_owned(), 1)
        ],
        "the same tags again change nothing"
    );

    replace(&["a"]).await;
    assert_eq!(tags_of(&db).await, strings(&["a"]));
    assert_eq!(
        tag_counts(&test_db),
        [
            ("a".to_owned(), 1),
            ("b".to_owned(), 0),
            ("c".to_owned(), 0)
        ],
        "a tag can come back after it was removed"
    );

    replace(&[]).await;
    assert_eq!(tags_of(&db).await, strings(&[]));
    assert_eq!(
        read(&db, |uow| Ok(uow.tags().in_use()?)).await,
        strings(&[])
    );
}

#[tokio::test]
async fn tags_in_use_are_ordered_by_use_count_then_name_and_unused_tags_are_left_out() {
    let (db, _test_db) = database().await;
    let alice = insert_user(&db, "alice").await.id;
    insert_article(&db, new_article("one", alice), &["x", "y", "z"]).await;
    insert_article(&db, new_article("two", alice), &["y", "z"]).await;
    let three = insert_article(&db, new_article("three", alice), &["w", "z"]).await;

    let in_use = read(&db, |uow| Ok(uow.tags().in_use()?)).await;
    assert_eq!(in_use, strings(&["z", "y", "w", "x"]));

    write(&db, move |uow| {
        Ok(uow.tags().replace_for_article(three, &tag_list(&[]))?)
    })
    .await;
    let in_use = read(&db, |uow| Ok(uow.tags().in_use()?)).await;
    assert_eq!(in_use, strings(&["y", "z", "x"]), "w is no longer used");
}

// ---------------------------------------------------------------- comments

#[tokio::test]
async fn comments_are_listed_oldest_first_with_their_authors() {
    let (db, _test_db) = database().await;
    let alice = insert_user(&db, "alice").await;
    let bob = insert_user(&db, "bob").await;
    let (alice_id, bob_id) = (alice.id, bob.id);
    let article = insert_article(&db, new_article("discussed", alice_id), &[]).await;
    let other = insert_article(&db, new_article("other", alice_id), &[]).await;

    let inserted = write(&db, move |uow| {
        let comment = |article_id, author_id, body: &str, second| NewComment {
            article_id,
            author_id,
            body: body.to_owned(),
            now: at(second),
        };
        Ok([
            uow.comments()
                .insert(&comment(article, bob_id, "First", 10))?,
            uow.comments()
                .insert(&comment(other, bob_id, "Elsewhere", 15))?,
            uow.comments()
                .insert(&comment(article, alice_id, "Second", 20))?,
        ])
    })
    .await;

    assert_eq!(inserted[0].body, "First");
    assert_eq!(inserted[0].author, bob.clone().into());
    assert_eq!(
        (inserted[0].created_at, inserted[0].updated_at),
        (at(10), at(10))
    );
    let listed = read(&db, move |uow| {
        Ok(uow.comments().list_for_article(article)?)
    })
    .await;
    assert_eq!(listed, [inserted[0].clone(), inserted[2].clone()]);
    assert_eq!(listed[1].author, alice.into());
}

#[tokio::test]
async fn a_comment_ref_names_its_article_and_author_and_a_deleted_comment_is_gone() {
    let (db, _test_db) = database().await;
    let alice = insert_user(&db, "alice").await.id;
    let bob = insert_user(&db, "bob").await.id;
    let article = insert_article(&db, new_article("discussed", alice), &[]).await;
    let (kept, doomed) = write(&db, move |uow| {
        let comment = |body: &str| NewComment {
            article_id: article,
            author_id: bob,
            body: body.to_owned(),
            now: at(1),
        };
        Ok((
            uow.comments().insert(&comment("kept"))?.id,
            uow.comments().insert(&comment("doomed"))?.id,
        ))
    })
    .await;

    let found = read(&db, move |uow| Ok(uow.comments().find_ref(doomed)?)).await;
    assert_eq!(
        found,
        Some(CommentRef {
            id: doomed,
            article_id: article,
            author_id: bob,
        })
    );

    write(&db, move |uow| Ok(uow.comments().delete(doomed)?)).await;

    let (gone, listed) = read(&db, move |uow| {
        Ok((
            uow.comments().find_ref(doomed)?,
            uow.comments().list_for_article(article)?,
        ))
    })
    .await;
    assert_eq!(gone, None);
    assert_eq!(
        listed.iter().map(|comment| comment.id).collect::<Vec<_>>(),
        [kept]
    );
}

#[tokio::test]
async fn list_totals_from_counters_stay_right_after_deletes() {
    let (db, _test_db, [_, _, _, dave]) = catalog().await;
    let a3 = read(&db, |uow| {
        Ok(uow.articles().find_ref(&slug("a3"))?.unwrap().id)
    })
    .await;
    write(&db, move |uow| Ok(uow.articles().delete(a3)?)).await;
    // Deleting an article that is already gone changes no counter.
    write(&db, move |uow| Ok(uow.articles().delete(a3)?)).await;

    assert_eq!(
        list(&db, filter(None, None, None), paging(20, 0)).await,
        (strings(&["a5", "a4", "a2", "a1"]), 4)
    );
    assert_eq!(
        list(&db, filter(None, Some("alice"), None), paging(20, 0)).await,
        (strings(&["a1"]), 1)
    );
    assert_eq!(
        list(&db, filter(Some("web"), None, None), paging(20, 0)).await,
        (strings(&["a2"]), 1)
    );
    assert_eq!(
        feed(&db, dave, paging(20, 0)).await,
        (strings(&["a4", "a1"]), 2)
    );
}
