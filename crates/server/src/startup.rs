//! The composition root: the only place that knows every layer. It builds
//! the infrastructure adapters, hands them to the use cases, and serves the
//! HTTP layer.

use std::net::TcpListener;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use conduit_application::articles::ArticleService;
use conduit_application::cache::{NoCache, ReadCache};
use conduit_application::comments::CommentService;
use conduit_application::health::HealthCheck;
use conduit_application::ports::{PasswordHasher, TokenService};
use conduit_application::profiles::ProfileService;
use conduit_application::storage::Storage;
use conduit_application::tags::TagService;
use conduit_application::users::UserService;
use conduit_infrastructure::cache::{CacheSettings, MokaReadCache, sync_over_postgres};
use conduit_infrastructure::db::{DbSettings, DbTarget, DieselDatabase};
use conduit_infrastructure::hashing::Argon2Hasher;
use conduit_infrastructure::tokens::{JwtTokenService, load_or_create_secret};
use conduit_web::rate_limit::RateLimitSettings;
use conduit_web::{HttpSettings, Services, WebState};

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
    // Half the cores by default: a log-in flood then leaves the other half
    // to every other request.
    let hash_concurrency = match settings.hash_concurrency {
        0 => (cores() / 2).max(1),
        n => n,
    };
    let hasher: Arc<dyn PasswordHasher> = Arc::new(Argon2Hasher::new(hash_concurrency)?);
    let tokens: Arc<dyn TokenService> = Arc::new(token_service(settings)?);
    let cache: Arc<dyn ReadCache> = if settings.cache_mb == 0 {
        Arc::new(NoCache)
    } else {
        let cache = MokaReadCache::new(CacheSettings {
            max_bytes: settings.cache_mb.saturating_mul(1024 * 1024),
            time_to_live: settings.cache_ttl,
        });
        // Instances sharing a PostgreSQL database tell each other about writes.
        if let DbTarget::Postgres(url) = &db_settings(settings).target {
            sync_over_postgres(&cache, url)?;
        }
        cache
    };
    let storage = Storage::new(Arc::clone(db)).with_cache(cache);
    Ok(Services {
        users: Arc::new(UserService::new(storage.clone(), hasher, tokens)),
        profiles: Arc::new(ProfileService::new(storage.clone())),
        articles: Arc::new(ArticleService::new(storage.clone())),
        comments: Arc::new(CommentService::new(storage.clone())),
        tags: Arc::new(TagService::new(storage)),
        health: Arc::clone(db) as Arc<dyn HealthCheck>,
    })
}

/// The HTTP layer's settings from the configuration.
pub fn http_settings(settings: &Settings) -> HttpSettings {
    HttpSettings {
        json_limit: settings.json_limit,
        body_timeout: settings.request_timeout,
        cors_origins: settings
            .cors_origins
            .iter()
            .map(|origin| origin.trim().to_owned())
            .filter(|origin| !origin.is_empty())
            .collect(),
        rate_limits: RateLimitSettings {
            login_per_ip: NonZeroU32::new(settings.rate_login_per_ip),
            login_per_account: NonZeroU32::new(settings.rate_login_per_account),
            register_per_ip: NonZeroU32::new(settings.rate_register_per_ip),
            trust_forwarded_for: settings.trust_forwarded_for,
        },
        readiness_timeout: settings.readiness_timeout,
        tls: settings.tls_cert.is_some(),
    }
}

/// The rustls configuration for the certificate and key files.
///
/// # Errors
/// When a file cannot be read or holds no usable certificate or key.
pub fn tls_config(cert: &Path, key: &Path) -> anyhow::Result<rustls::ServerConfig> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key {}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .context("the certificate and the key do not match")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
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
        let state = WebState::new(http_settings(settings));
        let tls = match (&settings.tls_cert, &settings.tls_key) {
            (Some(cert), Some(key)) => Some(tls_config(cert, key)?),
            _ => None,
        };
        let listener = TcpListener::bind(settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let workers = match settings.workers {
            0 => cores(),
            n => n,
        };
        let server = actix_web::HttpServer::new(move || {
            conduit_web::app(services.clone(), Arc::clone(&state))
        })
        .workers(workers)
        // A slow or idle client holds no worker: it must send its headers in
        // time, and idle keep-alive connections are closed.
        .client_request_timeout(settings.request_timeout)
        .client_disconnect_timeout(Duration::from_secs(1))
        .keep_alive(settings.keep_alive)
        // On SIGTERM/SIGINT: stop accepting, let in-flight requests finish
        // within the grace period, then stop the workers (which drops the
        // services and with them the connection pool).
        .shutdown_timeout(settings.shutdown_grace.as_secs());
        let scheme = if tls.is_some() { "https" } else { "http" };
        let server = match tls {
            Some(config) => server.listen_rustls_0_23(listener, config)?,
            None => server.listen(listener)?,
        }
        .run();
        tracing::info!(address = %settings.bind, port, workers, scheme, "listening");
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
