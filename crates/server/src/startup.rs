//! The composition root: the only place that knows every layer. It builds
//! the infrastructure adapters, hands them to the use cases, and serves the
//! HTTP layer.

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::Context;
use conduit_application::articles::ArticleService;
use conduit_application::comments::CommentService;
use conduit_application::ports::{PasswordHasher, TokenService};
use conduit_application::profiles::ProfileService;
use conduit_application::tags::TagService;
use conduit_application::users::UserService;
use conduit_infrastructure::db::{DbSettings, DieselDatabase};
use conduit_infrastructure::hashing::Argon2Hasher;
use conduit_infrastructure::tokens::{JwtTokenService, load_or_create_secret};
use conduit_web::{HttpSettings, Services};

use crate::config::{Settings, cores};

/// The database settings from the configuration.
pub fn db_settings(settings: &Settings) -> DbSettings {
    let mut db = DbSettings::new(&settings.database_url);
    db.pool_size = settings.db_pool_size;
    db.connect_timeout = settings.db_connect_timeout;
    db.statement_timeout = settings.db_statement_timeout;
    db.busy_timeout = settings.sqlite_busy_timeout;
    db
}

/// Opens the database and applies pending migrations.
///
/// # Errors
/// When the database is unreachable or a migration fails.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Arc<DieselDatabase>> {
    let db_settings = db_settings(settings);
    let target = db_settings.target.redacted();
    let db = DieselDatabase::connect(db_settings)?;
    let applied = db
        .migrate()
        .await
        .with_context(|| format!("migrating {target}"))?;
    tracing::info!(database = %target, applied = ?applied, "database ready");
    Ok(Arc::new(db))
}

fn token_service(settings: &Settings) -> anyhow::Result<JwtTokenService> {
    let secret = match &settings.jwt_secret {
        Some(secret) => secret.as_bytes().to_vec(),
        None => load_or_create_secret(&settings.data_dir).with_context(|| {
            format!(
                "preparing the JWT secret in {}",
                settings.data_dir.display()
            )
        })?,
    };
    JwtTokenService::new(&secret, settings.jwt_ttl).context("CONDUIT_JWT_SECRET / CONDUIT_JWT_TTL")
}

/// Every use case, wired to the infrastructure.
///
/// # Errors
/// When the token secret or the hasher cannot be prepared.
pub fn services(settings: &Settings, db: &Arc<DieselDatabase>) -> anyhow::Result<Services> {
    let hash_concurrency = match settings.hash_concurrency {
        0 => cores(),
        n => n,
    };
    let hasher: Arc<dyn PasswordHasher> = Arc::new(Argon2Hasher::new(hash_concurrency)?);
    let tokens: Arc<dyn TokenService> = Arc::new(token_service(settings)?);
    Ok(Services {
        users: Arc::new(UserService::new(Arc::clone(db), hasher, tokens)),
        profiles: Arc::new(ProfileService::new(Arc::clone(db))),
        articles: Arc::new(ArticleService::new(Arc::clone(db))),
        comments: Arc::new(CommentService::new(Arc::clone(db))),
        tags: Arc::new(TagService::new(Arc::clone(db))),
    })
}

/// A bound, not yet running, server.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
}

impl Application {
    /// Opens the database, wires the services and binds the listener (port 0
    /// picks a free port).
    ///
    /// # Errors
    /// When any of those steps fails.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let db = open_database(settings).await?;
        let services = services(settings, &db)?;
        let http = HttpSettings {
            json_limit: settings.json_limit,
            cors_origins: settings
                .cors_origins
                .iter()
                .map(|origin| origin.trim().to_owned())
                .filter(|origin| !origin.is_empty())
                .collect(),
        };
        let listener = TcpListener::bind(settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let workers = match settings.workers {
            0 => cores(),
            n => n,
        };
        let server =
            actix_web::HttpServer::new(move || conduit_web::app(services.clone(), http.clone()))
                .workers(workers)
                .listen(listener)?
                .run();
        tracing::info!(address = %settings.bind, port, workers, "listening");
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server from elsewhere.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the process is told to stop (SIGTERM, SIGINT).
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
