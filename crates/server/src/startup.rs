//! The composition root: the only place that knows every layer. It builds
//! the infrastructure adapters, hands them to the use cases, and serves the
//! HTTP layer.

use std::net::TcpListener;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use conduit_application::accounts::AccountService;
use conduit_application::articles::ArticleService;
use conduit_application::cache::{CacheSync, NoCache, ReadCache};
use conduit_application::comments::CommentService;
use conduit_application::events::EventSubscriber;
use conduit_application::health::HealthCheck;
use conduit_application::jobs::{
    JobArgs, JobHandlers, JobObserver, JobRunner, JobService, JobUseCases, Maintenance,
    MaintenanceSettings, PeriodicJob, Retention, RetryPolicy, RunnerSettings,
};
use conduit_application::mail::{MailLinks, Mailer};
use conduit_application::notifications::EmailJobs;
use conduit_application::ports::{Clock, PasswordHasher, SystemClock, TokenService};
use conduit_application::profiles::ProfileService;
use conduit_application::reactions::StandardReactions;
use conduit_application::storage::Storage;
use conduit_application::supervisor::Supervisor;
use conduit_application::tags::TagService;
use conduit_application::uploads::{
    FileStore, ImageProcessor, UploadLimits, UploadService, VariantJobs,
};
use conduit_application::users::UserService;
use conduit_infrastructure::cache::{CacheSettings, MokaReadCache};
use conduit_infrastructure::db::{DbSettings, DieselDatabase, default_instance_name};
use conduit_infrastructure::files::ObjectFileStore;
use conduit_infrastructure::hashing::Argon2Hasher;
use conduit_infrastructure::images::{ImageCodec, ImageLimits};
use conduit_infrastructure::mail::{AskamaTemplates, MailSettings, MailTransport};
use conduit_infrastructure::tokens::{JwtTokenService, RandomTokens, load_or_create_secret};
use conduit_web::rate_limit::RateLimitSettings;
use conduit_web::{HttpSettings, Services, WebState};

use crate::config::{Secret, Settings, cores};

/// The database settings from the configuration.
pub fn db_settings(settings: &Settings) -> DbSettings {
    let mut db = DbSettings::new(settings.database_url.as_str());
    db.pool_size = settings.db_pool_size;
    db.connect_timeout = settings.db_connect_timeout;
    db.statement_timeout = settings.db_statement_timeout;
    db.busy_timeout = settings.sqlite_busy_timeout;
    db.writer_queue = settings.sqlite_write_queue;
    db.instance = settings
        .instance
        .clone()
        .unwrap_or_else(default_instance_name);
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
    tracing::info!(database = %target, applied = ?applied, instance = db.origin(), "database ready");
    Ok(Arc::new(db))
}

fn token_service(settings: &Settings) -> anyhow::Result<JwtTokenService> {
    let secret = match &settings.jwt_secret {
        Some(secret) => secret.expose().as_bytes().to_vec(),
        None => load_or_create_secret(&settings.data_dir).with_context(|| {
            format!(
                "preparing the JWT secret in {}",
                settings.data_dir.display()
            )
        })?,
    };
    JwtTokenService::new(&secret, settings.jwt_ttl).context("CONDUIT_JWT_SECRET / CONDUIT_JWT_TTL")
}

/// How long finished jobs and change events are kept.
pub fn retention(settings: &Settings) -> Retention {
    Retention {
        completed_jobs: settings.job_retention,
        failed_jobs: settings.job_failed_retention,
        events: settings.event_retention,
    }
}

/// The operators' view of the job queue (also what `conduit jobs` uses).
pub fn job_service(settings: &Settings, db: &Arc<DieselDatabase>) -> Arc<dyn JobUseCases> {
    Arc::new(JobService::new(
        Arc::clone(db),
        Arc::new(SystemClock),
        retention(settings),
    ))
}

/// The read cache the configuration asks for.
fn read_cache(settings: &Settings) -> Arc<dyn ReadCache> {
    if settings.cache_mb == 0 {
        Arc::new(NoCache)
    } else {
        MokaReadCache::new(CacheSettings {
            max_bytes: settings.cache_mb.saturating_mul(1024 * 1024),
            time_to_live: settings.cache_ttl,
        })
    }
}

/// Every use case, wired to the infrastructure, on `cache`.
///
/// # Errors
/// When the token secret or the hasher cannot be prepared.
pub fn services(
    settings: &Settings,
    db: &Arc<DieselDatabase>,
    cache: Arc<dyn ReadCache>,
    clock: Arc<dyn Clock>,
    adapters: &Adapters,
) -> anyhow::Result<Services> {
    // Half the cores by default: a log-in flood then leaves the other half
    // to every other request.
    let hash_concurrency = match settings.hash_concurrency {
        0 => (cores() / 2).max(1),
        n => n,
    };
    let hasher: Arc<dyn PasswordHasher> =
        Arc::new(Argon2Hasher::new(hash_concurrency, settings.hash_queue)?);
    let tokens: Arc<dyn TokenService> = Arc::new(token_service(settings)?);
    let storage = Storage::new(Arc::clone(db))
        .with_cache(cache)
        .with_clock(clock)
        .with_reactions(Arc::new(StandardReactions));
    Ok(Services {
        users: Arc::new(UserService::new(
            storage.clone(),
            Arc::clone(&hasher),
            Arc::clone(&tokens),
        )),
        accounts: Arc::new(AccountService::new(
            storage.clone(),
            hasher,
            tokens,
            Arc::new(RandomTokens),
        )),
        uploads: Arc::new(UploadService::new(
            storage.clone(),
            Arc::clone(&adapters.files),
            Arc::clone(&adapters.images),
            UploadLimits {
                quota_bytes: settings.upload_quota_bytes,
            },
        )),
        profiles: Arc::new(ProfileService::new(storage.clone())),
        articles: Arc::new(ArticleService::new(storage.clone())),
        comments: Arc::new(CommentService::new(storage.clone())),
        tags: Arc::new(TagService::new(storage)),
        health: Arc::clone(db) as Arc<dyn HealthCheck>,
        jobs: job_service(settings, db),
    })
}

/// The adapters that use cases and background jobs share: where uploads
/// are kept, what decodes them, and what sends email.
pub struct Adapters {
    pub files: Arc<dyn FileStore>,
    pub images: Arc<dyn ImageProcessor>,
    pub mailer: Arc<dyn Mailer>,
}

impl Adapters {
    /// Files under `<data dir>/files`, images decoded half the cores at a
    /// time, mail as configured. Must run inside the runtime (the SMTP pool).
    ///
    /// # Errors
    /// When the directory or the mail settings cannot be used.
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let dir = settings.data_dir.join("files");
        let files = ObjectFileStore::local(&dir)
            .with_context(|| format!("preparing {} for uploads", dir.display()))?;
        Ok(Self {
            files: Arc::new(files),
            images: Arc::new(ImageCodec::new(ImageLimits {
                max_pixels: settings.upload_max_pixels,
                concurrency: (cores() / 2).max(1),
            })),
            mailer: mailer(&mail_settings(settings)?)?,
        })
    }
}

/// The mail settings from the configuration.
///
/// # Errors
/// When `CONDUIT_SMTP_URL` or `CONDUIT_MAIL_FROM` cannot be used.
pub fn mail_settings(settings: &Settings) -> anyhow::Result<MailSettings> {
    MailSettings::new(
        settings.smtp_url.as_ref().map(Secret::expose),
        &settings.mail_from,
        settings.data_dir.join("mail"),
    )
    .context("CONDUIT_SMTP_URL / CONDUIT_MAIL_FROM")
}

/// The mailer the configuration asks for; must run inside the runtime.
fn mailer(settings: &MailSettings) -> anyhow::Result<Arc<dyn Mailer>> {
    let mailer = settings.mailer().context("preparing the mailer")?;
    match &settings.transport {
        MailTransport::Smtp(smtp) => {
            tracing::info!(server = %smtp.redacted(), from = %settings.from, "sending email by SMTP");
        }
        MailTransport::Files(dir) => {
            tracing::info!(dir = %dir.display(), "no CONDUIT_SMTP_URL: writing emails as .eml files");
        }
    }
    Ok(mailer)
}

/// Starts the background work under `supervisor`: the listener that brings
/// other instances' events and enqueues (PostgreSQL), the job workers and
/// the queue's maintenance.
fn start_background(
    settings: &Settings,
    db: &Arc<DieselDatabase>,
    cache: &Arc<dyn ReadCache>,
    clock: &Arc<dyn Clock>,
    adapters: &Adapters,
    observer: Arc<dyn JobObserver>,
    supervisor: &Supervisor,
) {
    let subscribers: Vec<Arc<dyn EventSubscriber>> =
        vec![Arc::new(CacheSync::new(Arc::clone(cache), db.origin()))];
    if let Some(listener) = db.event_listener(subscribers) {
        // Until the listener has caught up, other instances' writes could go unseen.
        cache.set_trusted(false);
        supervisor.spawn_blocking("events:listener", move |shutdown| listener.run(&shutdown));
    }
    if !settings.jobs {
        return;
    }
    let retry = RetryPolicy {
        base: settings.job_backoff_base,
        ..RetryPolicy::default()
    };
    let email: Arc<dyn conduit_application::jobs::JobHandler> = Arc::new(EmailJobs::new(
        Arc::clone(db),
        Arc::clone(&adapters.mailer),
        Arc::new(AskamaTemplates),
        Arc::new(RandomTokens),
        Arc::clone(clock),
        MailLinks::new(&settings.public_url()),
    ));
    let variants = Arc::new(VariantJobs::new(
        Arc::clone(db),
        Arc::clone(&adapters.files),
        Arc::clone(&adapters.images),
    ));
    let handlers = JobArgs::EMAIL_KINDS
        .into_iter()
        .fold(
            JobHandlers::standard(Arc::clone(db), Arc::clone(clock), retention(settings)),
            |handlers, kind| handlers.with(kind, Arc::clone(&email)),
        )
        .with("image_variants", variants);
    JobRunner::new(
        Arc::clone(db),
        Arc::clone(clock),
        handlers,
        RunnerSettings {
            worker: db.origin().to_owned(),
            queues: settings.job_queues.0.clone(),
            poll_interval: settings.job_poll_interval,
            heartbeat_interval: settings.job_heartbeat,
            retry,
        },
        db.wakeups(),
        observer,
    )
    .start(supervisor);
    Maintenance::new(
        Arc::clone(db),
        Arc::clone(clock),
        MaintenanceSettings {
            interval: settings.job_maintenance_interval,
            rescue_after: settings.job_rescue_after,
            retry,
            periodic: vec![PeriodicJob {
                name: "prune".to_owned(),
                every: settings.job_prune_interval,
                args: JobArgs::Prune,
            }],
        },
    )
    .start(supervisor);
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
        separate_metrics: settings.metrics_bind.is_some(),
        public_url: settings.public_url(),
        upload_max_bytes: settings.upload_max_bytes,
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

/// A bound, not yet running, server, and its background work.
pub struct Application {
    port: u16,
    metrics_port: Option<u16>,
    server: actix_web::dev::Server,
    operations: Option<actix_web::dev::Server>,
    supervisor: Arc<Supervisor>,
    grace: Duration,
    jobs: Arc<dyn JobUseCases>,
}

/// Of the shutdown grace, what is left for the background tasks to give back
/// unfinished work (release running jobs) before they are aborted.
fn release_margin(grace: Duration) -> Duration {
    (grace / 4).min(Duration::from_secs(2))
}

impl Application {
    /// Opens the database, wires the services, starts the background work
    /// and binds the listeners (port 0 picks a free port).
    ///
    /// # Errors
    /// When any of those steps fails.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let db = open_database(settings).await?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let cache = read_cache(settings);
        let adapters = Adapters::new(settings)?;
        let services = services(
            settings,
            &db,
            Arc::clone(&cache),
            Arc::clone(&clock),
            &adapters,
        )?;
        let jobs = Arc::clone(&services.jobs);
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
        let (operations, metrics_port) = match settings.metrics_bind {
            Some(address) => {
                let listener = TcpListener::bind(address)
                    .with_context(|| format!("binding {address} (CONDUIT_METRICS_BIND)"))?;
                let metrics_port = listener.local_addr()?.port();
                let services = services.clone();
                let state = Arc::clone(&state);
                let server = actix_web::HttpServer::new(move || {
                    conduit_web::operations_app(services.clone(), Arc::clone(&state))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)?
                .run();
                tracing::info!(%address, port = metrics_port, "serving /metrics");
                (Some(server), Some(metrics_port))
            }
            None => (None, None),
        };
        let supervisor = Arc::new(Supervisor::new());
        let observer: Arc<dyn JobObserver> = Arc::clone(&state.metrics) as Arc<dyn JobObserver>;
        start_background(
            settings,
            &db,
            &cache,
            &clock,
            &adapters,
            observer,
            &supervisor,
        );
        let server = actix_web::HttpServer::new(move || {
            conduit_web::app(services.clone(), Arc::clone(&state))
        })
        .workers(workers)
        // A slow or idle client holds no worker: it must send its headers in
        // time, and idle keep-alive connections are closed.
        .client_request_timeout(settings.request_timeout)
        .client_disconnect_timeout(Duration::from_secs(1))
        .keep_alive(settings.keep_alive)
        // Stopping is ours (`run_until_stopped`): in-flight requests get the
        // grace to finish, while the background work stops beside them.
        .disable_signals()
        .shutdown_timeout(settings.shutdown_grace.as_secs());
        let scheme = if tls.is_some() { "https" } else { "http" };
        let server = match tls {
            Some(config) => server.listen_rustls_0_23(listener, config)?,
            None => server.listen(listener)?,
        }
        .run();
        tracing::info!(address = %settings.bind, port, workers, scheme, tasks = ?supervisor.task_names(), "listening");
        Ok(Self {
            port,
            metrics_port,
            server,
            operations,
            supervisor,
            grace: settings.shutdown_grace,
            jobs,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the operators' listener, when `CONDUIT_METRICS_BIND` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// A handle to stop the server from elsewhere.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// The job queue, as operators see it.
    pub fn jobs(&self) -> Arc<dyn JobUseCases> {
        Arc::clone(&self.jobs)
    }

    /// Serves until the process is told to stop (SIGTERM, SIGINT) or the
    /// server is stopped through its handle. Then, within the shutdown
    /// grace: in-flight requests finish, and the background tasks stop
    /// (running jobs finish, or are released for a retry when the grace
    /// runs out).
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self {
            server,
            operations,
            supervisor,
            grace,
            ..
        } = self;
        let handle = server.handle();
        let operations_handle = operations.as_ref().map(actix_web::dev::Server::handle);
        if let Some(operations) = operations {
            tokio::spawn(operations);
        }
        // The server runs only while its future is polled, stopping included.
        let mut running = tokio::spawn(server);
        let joined = |ended: Result<std::io::Result<()>, tokio::task::JoinError>| {
            ended.unwrap_or_else(|error| Err(std::io::Error::other(error)))
        };
        let stopped_from_elsewhere = tokio::select! {
            ended = &mut running => Some(joined(ended)),
            () = termination() => None,
        };
        let result = match stopped_from_elsewhere {
            Some(result) => result,
            None => {
                tracing::info!(grace = ?grace, "stopping: finishing requests and background work");
                let ((), report) = tokio::join!(
                    handle.stop(true),
                    supervisor.stop(grace, release_margin(grace))
                );
                if !report.aborted.is_empty() {
                    tracing::warn!(aborted = ?report.aborted, "background tasks outlived the grace");
                }
                joined(running.await)
            }
        };
        // Stopped through the handle: the background work stops now.
        supervisor.stop(grace, release_margin(grace)).await;
        if let Some(operations) = operations_handle {
            operations.stop(true).await;
        }
        result
    }
}

/// Resolves at SIGTERM or SIGINT.
async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut terminate), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            _ => {
                tracing::error!(
                    "cannot listen for SIGTERM/SIGINT; stop the process by other means"
                );
                std::future::pending::<()>().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
