//! Throwaway databases for tests, on the backend the environment selects:
//!
//! - default: a SQLite file in a temporary directory;
//! - `CONDUIT_TEST_BACKEND=postgres`: a new database on the server named by
//!   `CONDUIT_TEST_POSTGRES_URL` (for example
//!   `postgres://postgres@127.0.0.1:5432/test`), dropped again afterwards.
//!
//! Also the fixtures the infrastructure tests share: a migrated
//! `DieselDatabase`, a raw connection for looking at tables, and builders of
//! users and articles with whole-second timestamps.

#![expect(
    clippy::expect_used,
    reason = "test support: failing loudly is the point"
)]

use chrono::{DateTime, Utc};
use conduit_application::ports::{NewArticle, NewUser, PasswordHash};
use conduit_domain::{Email, Slug, TagList, UserId, Username};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::db::{BackendKind, DbConnection, DbSettings, DbTarget, DieselDatabase};

/// The backend tests run against.
///
/// # Panics
/// When `CONDUIT_TEST_BACKEND` names an unknown backend, or is `postgres`
/// without `CONDUIT_TEST_POSTGRES_URL`: a test run must never silently fall
/// back to another database.
pub fn backend() -> BackendKind {
    match std::env::var("CONDUIT_TEST_BACKEND").as_deref() {
        Err(_) | Ok("" | "sqlite") => BackendKind::Sqlite,
        Ok("postgres") => {
            assert!(
                std::env::var("CONDUIT_TEST_POSTGRES_URL").is_ok(),
                "CONDUIT_TEST_BACKEND=postgres needs CONDUIT_TEST_POSTGRES_URL"
            );
            BackendKind::Postgres
        }
        Ok(other) => panic!("unknown CONDUIT_TEST_BACKEND {other:?}"),
    }
}

/// A database that exists for the lifetime of this value.
pub struct TestDatabase {
    url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// A database on the backend the environment selects (see [`backend`]).
    ///
    /// # Panics
    /// When the database cannot be created: tests cannot run without one.
    pub fn new() -> Self {
        match backend() {
            BackendKind::Sqlite => Self::sqlite(),
            BackendKind::Postgres => Self::postgres(
                &std::env::var("CONDUIT_TEST_POSTGRES_URL")
                    .expect("CONDUIT_TEST_POSTGRES_URL is set"),
            ),
        }
    }

    /// A SQLite file in a new temporary directory, whatever the environment says.
    ///
    /// # Panics
    /// When the temporary directory cannot be created.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("conduit.db").display());
        Self {
            url,
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A new PostgreSQL database on the server `admin` connects to (for
    /// example `postgres://postgres@127.0.0.1:5432/test`), whatever the
    /// environment says. It is dropped with this value.
    ///
    /// # Panics
    /// When the server is unreachable or refuses to create the database.
    pub fn postgres(admin: &str) -> Self {
        let name = format!("conduit_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::establish(admin)
            .unwrap_or_else(|error| panic!("connecting to {admin}: {error}"));
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|error| panic!("creating database {name}: {error}"));
        let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
        Self {
            url: format!("{base}/{name}"),
            _dir: None,
            postgres: Some((admin.to_owned(), name)),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The default settings for this database, to adjust before [`Self::open`].
    pub fn settings(&self) -> DbSettings {
        DbSettings::new(&self.url)
    }

    /// A `DieselDatabase` on this database with `settings`, migrated.
    ///
    /// # Panics
    /// When the database is unreachable or a migration fails.
    pub async fn open(&self, settings: DbSettings) -> DieselDatabase {
        let db = DieselDatabase::connect(settings).expect("building the pool");
        db.migrate().await.expect("migrating the test database");
        db
    }

    /// A `DieselDatabase` on this database with the default settings, migrated.
    ///
    /// # Panics
    /// When the database is unreachable or a migration fails.
    pub async fn migrated(&self) -> DieselDatabase {
        self.open(self.settings()).await
    }

    /// A plain connection outside the pool, for assertions that look at the
    /// tables directly (rows the repositories do not expose).
    ///
    /// # Panics
    /// When the database is unreachable.
    /// Runs SQL directly, outside the application (to simulate what the API
    /// cannot do, such as deleting a user).
    ///
    /// # Panics
    /// When the statement fails.
    pub fn execute(&self, sql: &str) {
        self.raw_connection()
            .batch_execute(sql)
            .unwrap_or_else(|error| panic!("executing {sql}: {error}"));
    }

    pub fn raw_connection(&self) -> DbConnection {
        match DbTarget::parse(&self.url) {
            DbTarget::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())
                    .unwrap_or_else(|error| panic!("opening {}: {error}", path.display()));
                // The server's writer (a job that just ran, say) may hold the
                // lock for a moment: wait for it, as the server's own
                // connections do.
                conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;")
                    .expect("setting the SQLite connection's pragmas");
                DbConnection::Sqlite(conn)
            }
            DbTarget::Postgres(url) => DbConnection::Postgres(
                PgConnection::establish(&url)
                    .unwrap_or_else(|error| panic!("connecting to the test database: {error}")),
            ),
        }
    }
}

/// A fixed instant plus `seconds`: whole seconds survive both backends'
/// timestamp precision, so values read back compare equal.
pub fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600 + seconds, 0).expect("a representable instant")
}

/// A user named `name` with the email `{name}@example.com`, created at `at(0)`.
///
/// # Panics
/// When `name` is not a valid username.
pub fn new_user(name: &str) -> NewUser {
    NewUser {
        username: Username::parse(name).expect("a valid username"),
        email: Email::parse(format!("{name}@example.com")).expect("a valid email"),
        password_hash: PasswordHash::new(format!("hash-of-{name}")),
        now: at(0),
    }
}

/// An article with the slug `slug` by `author`, created at `at(0)`.
pub fn new_article(slug: &str, author: UserId) -> NewArticle {
    NewArticle {
        slug: Slug::from_path(slug),
        title: format!("Title of {slug}"),
        description: format!("Description of {slug}"),
        body: format!("Body of {slug}"),
        author_id: author,
        now: at(0),
    }
}

/// A tag list from names.
///
/// # Panics
/// When a name is not a valid tag.
pub fn tag_list(names: &[&str]) -> TagList {
    TagList::parse(names.iter().map(|name| (*name).to_owned())).expect("valid tags")
}

impl Default for TestDatabase {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.postgres
            && let Ok(mut conn) = PgConnection::establish(admin)
        {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// A valid 1 × 1 PNG whose header claims `width` × `height`, checksum
/// included: a decompression bomb's header, without its data.
///
/// # Panics
/// When the PNG encoder fails.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgba8(image::RgbaImage::new(1, 1))
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .expect("encoding a 1 × 1 PNG");
    // The signature (8 bytes), then IHDR: length (4), "IHDR" (4), width,
    // height, five more bytes, and the CRC of "IHDR" and its data.
    bytes[16..20].copy_from_slice(&width.to_be_bytes());
    bytes[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// CRC-32 (ISO-HDLC), as PNG chunks carry it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffff_u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
